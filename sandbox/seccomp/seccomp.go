// Package seccomp holds nook's syscall policy and the machinery around it:
// the default policy ([Default]), a loader for Docker/OCI seccomp profiles
// ([Load]), profile adjustments ([Adjust]), a compiler from policy to a raw
// classic-BPF program ([Compile], [CompileCached]) and an installer for that
// program ([Install]).
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
// Compiling needs cgo and libseccomp; installing is pure Go so that the
// sandbox's init stage can do it on a locked thread right before exec.
package seccomp

import (
	"errors"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// knownSyscall reports whether libseccomp knows name on the native
// architecture or, as a pseudo-syscall, on one of the architectures a filter
// may add (for example socketcall or mmap2 on x86_64).
func knownSyscall(name string) bool {
	_, err := libseccomp.GetSyscallFromName(name)
	return err == nil
}

// errNilPolicy is returned when a nil policy is passed where one is required;
// nil means "unconfined" in a plan and has nothing to adjust or compile.
var errNilPolicy = errors.New("no seccomp policy (nil means unconfined)")

// validate checks what libseccomp would reject late or silently: actions,
// operators and argument indexes. It does not check syscall names.
func validate(s *specs.LinuxSeccomp) error {
	if s == nil {
		return errNilPolicy
	}
	if _, err := action(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	if len(s.Flags) > 0 {
		return fmt.Errorf("flags %v are not supported", s.Flags)
	}
	if s.ListenerPath != "" {
		return errors.New("listenerPath is not supported")
	}
	for _, a := range s.Architectures {
		if _, err := arch(a); err != nil {
			return err
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
	if _, err := action(r.Action, r.ErrnoRet); err != nil {
		return err
	}
	for _, a := range r.Args {
		if _, err := condition(a); err != nil {
			return err
		}
	}
	return nil
}
