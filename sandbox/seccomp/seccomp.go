// Package seccomp holds nook's syscall policy and the machinery around it:
// the default policy ([Default]), a loader for Docker/OCI seccomp profiles
// ([Load]), profile adjustments ([Adjust]), a cache of compiled programs
// ([CompileCached]) and an installer for a program ([Install]).
//
// A policy is an OCI runtime-spec *specs.LinuxSeccomp, so a sandbox plan is a
// standard OCI spec that runc or crun can also execute. The rules nook relies
// on when it interprets a policy are those of runc:
//
//   - Syscall names libseccomp does not know are skipped (as Docker and runc
//     do); such syscalls get the default action.
//   - SCMP_ACT_ERRNO and SCMP_ACT_TRACE without errnoRet mean EPERM, for rules
//     and for the default action alike.
//   - The args of one rule are ANDed, except that several args on the same
//     index are ORed (libseccomp cannot AND two checks of one argument).
//   - Empty Architectures means the native architecture only.
//
// This package is pure Go, so that nook, which imports it, links no
// libseccomp (and can be built against musl, whose static binaries start
// faster). Compiling a policy into a BPF program takes libseccomp: package
// [github.com/nook-sandbox/nook/sandbox/seccomp/compiler] does it, linked
// into nook-image and the tests; nook runs nook-image to fill its cache.
// The names libseccomp knows are a table here ([knownSyscall]), checked
// against libseccomp by the tests.
package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// knownSyscall reports whether libseccomp knows name on the native
// architecture or, as a pseudo-syscall, on one of the architectures a filter
// may add (for example socketcall or mmap2 on x86_64).
func knownSyscall(name string) bool {
	_, ok := slices.BinarySearch(syscallNames, name)
	return ok
}

// errNilPolicy is returned when a nil policy is passed where one is required;
// nil means "unconfined" in a plan and has nothing to adjust or compile.
var errNilPolicy = errors.New("no seccomp policy (nil means unconfined)")

// maxErrno is the largest errno the kernel passes back from SECCOMP_RET_ERRNO.
const maxErrno = 4095

// Validate checks what libseccomp would reject late or silently: actions,
// errno values, architectures, operators and argument indexes. It does not
// check syscall names. A compiler may assume a policy that passed it.
func Validate(s *specs.LinuxSeccomp) error {
	if s == nil {
		return errNilPolicy
	}
	if err := checkAction(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	if len(s.Flags) > 0 {
		return fmt.Errorf("flags %v are not supported", s.Flags)
	}
	if s.ListenerPath != "" {
		return errors.New("listenerPath is not supported")
	}
	for _, a := range s.Architectures {
		if !knownArch(a) {
			return fmt.Errorf("unknown architecture %q", a)
		}
	}
	for i, r := range s.Syscalls {
		if err := validateRule(r); err != nil {
			return fmt.Errorf("syscalls[%d] %v: %w", i, r.Names, err)
		}
	}
	return nil
}

func validateRule(r specs.LinuxSyscall) error {
	if len(r.Names) == 0 {
		return errors.New("no syscall names")
	}
	if err := checkAction(r.Action, r.ErrnoRet); err != nil {
		return err
	}
	for _, a := range r.Args {
		if !slices.Contains(operators, a.Op) {
			return fmt.Errorf("unknown operator %q", a.Op)
		}
		if a.Index > 5 {
			return fmt.Errorf("argument index %d out of range 0..5", a.Index)
		}
	}
	return nil
}

// checkAction checks an OCI action and its errnoRet (nil: EPERM).
func checkAction(a specs.LinuxSeccompAction, errnoRet *uint) error {
	if errnoRet != nil {
		if a != specs.ActErrno && a != specs.ActTrace {
			return fmt.Errorf("errnoRet with action %s (only %s and %s take one)", a, specs.ActErrno, specs.ActTrace)
		}
		if *errnoRet > maxErrno {
			return fmt.Errorf("errnoRet %d out of range 0..%d", *errnoRet, maxErrno)
		}
	}
	switch a {
	case specs.ActAllow, specs.ActErrno, specs.ActTrace, specs.ActKill, specs.ActKillThread,
		specs.ActKillProcess, specs.ActTrap, specs.ActLog:
		return nil
	case specs.ActNotify:
		return fmt.Errorf("action %s is not supported", a)
	}
	return fmt.Errorf("unknown action %q", a)
}

// operators are the OCI argument tests libseccomp has.
var operators = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// archNames are the architecture names libseccomp-golang's
// GetArchFromString takes, in lower case; an OCI architecture is one of
// them, in any case, after "SCMP_ARCH_".
var archNames = []string{
	"x86", "amd64", "x86-64", "x86_64", "x64", "x32", "arm", "arm64", "aarch64",
	"mips", "mips64", "mips64n32", "mipsel", "mipsel64", "mipsel64n32",
	"ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc", "parisc64",
	"riscv64", "loong64", "loongarch64", "m68k", "sh", "sheb",
}

// knownArch reports whether a is an architecture libseccomp-golang knows
// (SCMP_ARCH_X86_64).
func knownArch(a specs.Arch) bool {
	name, ok := strings.CutPrefix(string(a), "SCMP_ARCH_")
	return ok && slices.Contains(archNames, strings.ToLower(name))
}
