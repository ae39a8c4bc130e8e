// Package compiler compiles seccomp policies into classic-BPF programs
// with libseccomp (cgo, libseccomp-dev). nook-image and the tests link it;
// nook does not: it runs nook-image to compile a policy its cache lacks (see
// [seccomp.CompileCached]).
package compiler

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
)

// Version is the version of the libseccomp linked in, "2.5.4".
func Version() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return strconv.FormatUint(uint64(major), 10) + "." + strconv.FormatUint(uint64(minor), 10) + "." + strconv.FormatUint(uint64(micro), 10)
}

// Libseccomp is the compiler for [seccomp.CompileCached] that runs
// libseccomp in this process.
func Libseccomp() seccomp.Compiler {
	return seccomp.Compiler{Libseccomp: Version(), Compile: Compile}
}

// Compile builds s with libseccomp and returns the raw classic-BPF program:
// an array of struct sock_filter in native byte order, ready for [seccomp.Install].
// The caller owns the program. A nil s is an error (nil means unconfined,
// which has no program).
//
// Syscall names libseccomp does not know are skipped, as are rules whose
// action equals the default action. A syscall issued through an
// architecture the policy does not list kills the process.
func Compile(s *specs.LinuxSeccomp) ([]byte, error) {
	if err := seccomp.Validate(s); err != nil {
		return nil, fmt.Errorf("compile seccomp policy: %w", err)
	}
	f, err := build(s)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp policy: %w", err)
	}
	defer f.Release()
	prog, err := export(f)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp policy: export BPF: %w", err)
	}
	return prog, nil
}

// build turns a validated policy into a libseccomp filter. The caller
// releases the filter.
func build(s *specs.LinuxSeccomp) (*libseccomp.ScmpFilter, error) {
	def := action(s.DefaultAction, s.DefaultErrnoRet)
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, err
	}
	if err := configure(f, s, def); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

func configure(f *libseccomp.ScmpFilter, s *specs.LinuxSeccomp, def libseccomp.ScmpAction) error {
	// Killing only the thread would leave a multithreaded app half alive.
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return fmt.Errorf("set bad-arch action: %w", err)
	}
	// A binary tree over syscall numbers instead of a linear list: the
	// kernel evaluates the filter for every syscall number when it is
	// installed (to build its cache), and on every uncached syscall after.
	// With ~1300 instructions the linear form costs 0.7 ms per launch.
	if err := f.SetOptimize(2); err != nil {
		return fmt.Errorf("set optimize level: %w", err)
	}
	for _, a := range s.Architectures {
		sa, err := arch(a)
		if err != nil {
			return err
		}
		if err := f.AddArch(sa); err != nil {
			return fmt.Errorf("add architecture %s: %w", a, err)
		}
	}
	for _, r := range s.Syscalls {
		act := action(r.Action, r.ErrnoRet)
		if act == def {
			continue // libseccomp refuses rules that repeat the default
		}
		groups := conditionGroups(r.Args)
		for _, name := range r.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue // unknown to libseccomp: the default action applies
			}
			for _, conds := range groups {
				if err := addRule(f, nr, act, conds); err != nil {
					return fmt.Errorf("syscall %s: %w", name, err)
				}
			}
		}
	}
	return nil
}

func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds []libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(nr, act)
	}
	return f.AddRuleConditional(nr, act, conds)
}

// conditionGroups returns the libseccomp rules, as condition lists, that one
// OCI rule with args becomes: one rule with all conditions (AND), or, when
// some argument index occurs twice, one rule per condition (OR) — runc's
// reading, because libseccomp cannot AND two checks of one argument. No
// args gives one unconditional rule. args must be valid.
func conditionGroups(args []specs.LinuxSeccompArg) [][]libseccomp.ScmpCondition {
	conds := make([]libseccomp.ScmpCondition, 0, len(args))
	seen := map[uint]bool{}
	repeated := false
	for _, a := range args {
		c, _ := condition(a)
		conds = append(conds, c)
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
	}
	if !repeated {
		return [][]libseccomp.ScmpCondition{conds}
	}
	groups := make([][]libseccomp.ScmpCondition, len(conds))
	for i, c := range conds {
		groups[i] = []libseccomp.ScmpCondition{c}
	}
	return groups
}

// export returns f's BPF program. libseccomp before 2.6 cannot export to
// memory, so the program goes through a memfd.
func export(f *libseccomp.ScmpFilter) ([]byte, error) {
	if prog, err := f.ExportBPFMem(); err == nil {
		return prog, nil
	}
	fd, err := unix.MemfdCreate("nook-seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	file := os.NewFile(uintptr(fd), "nook-seccomp-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(file)
}

// action maps a valid OCI action and its errnoRet (nil: EPERM) to
// libseccomp's.
func action(a specs.LinuxSeccompAction, errnoRet *uint) libseccomp.ScmpAction {
	ret := uint(unix.EPERM)
	if errnoRet != nil {
		ret = *errnoRet
	}
	switch a {
	case specs.ActAllow:
		return libseccomp.ActAllow
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(int16(ret))
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(int16(ret))
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess
	case specs.ActTrap:
		return libseccomp.ActTrap
	case specs.ActLog:
		return libseccomp.ActLog
	}
	return libseccomp.ActInvalid
}

// arch maps a valid OCI architecture (SCMP_ARCH_X86_64) to libseccomp's.
func arch(a specs.Arch) (libseccomp.ScmpArch, error) {
	return libseccomp.GetArchFromString(strings.TrimPrefix(string(a), "SCMP_ARCH_"))
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// condition maps a valid OCI argument test to libseccomp's. For
// SCMP_CMP_MASKED_EQ, Value is the mask and ValueTwo the value the masked
// argument must equal; other operators ignore ValueTwo.
func condition(a specs.LinuxSeccompArg) (libseccomp.ScmpCondition, error) {
	op := operators[a.Op]
	if op == libseccomp.CompareMaskedEqual {
		return libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
	}
	return libseccomp.MakeCondition(a.Index, op, a.Value)
}
