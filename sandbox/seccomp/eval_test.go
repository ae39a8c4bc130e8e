package seccomp_test

import (
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// decide evaluates policy s for a native syscall the way an OCI runtime
// reads it (runc's rules, see the package doc), on 64-bit argument values.
// It returns the distinct outcomes of the matching rules, such as "ALLOW" or
// "ERRNO(1)", or the default action's if none match. More than one outcome
// means the policy is ambiguous, which nook's policies must never be.
func decide(s *specs.LinuxSeccomp, name string, args ...uint64) []string {
	var a [6]uint64
	copy(a[:], args)
	var out []string
	for _, r := range s.Syscalls {
		if !slices.Contains(r.Names, name) || !matches(r.Args, a) {
			continue
		}
		if o := describe(r.Action, r.ErrnoRet); !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return []string{describe(s.DefaultAction, s.DefaultErrnoRet)}
	}
	slices.Sort(out)
	return out
}

func describe(a specs.LinuxSeccompAction, errnoRet *uint) string {
	switch a {
	case specs.ActAllow:
		return "ALLOW"
	case specs.ActErrno:
		e := uint(1)
		if errnoRet != nil {
			e = *errnoRet
		}
		return fmt.Sprintf("ERRNO(%d)", e)
	}
	return string(a)
}

func matches(args []specs.LinuxSeccompArg, a [6]uint64) bool {
	if len(args) == 0 {
		return true
	}
	seen := map[uint]bool{}
	repeated := false
	for _, c := range args {
		repeated = repeated || seen[c.Index]
		seen[c.Index] = true
	}
	for _, c := range args {
		if test(c, a[c.Index]) == repeated {
			return repeated // OR: one holds; AND: one fails
		}
	}
	return !repeated
}

func test(c specs.LinuxSeccompArg, v uint64) bool {
	switch c.Op {
	case specs.OpMaskedEqual:
		return v&c.Value == c.ValueTwo
	case specs.OpEqualTo:
		return v == c.Value
	case specs.OpNotEqual:
		return v != c.Value
	case specs.OpLessThan:
		return v < c.Value
	case specs.OpLessEqual:
		return v <= c.Value
	case specs.OpGreaterThan:
		return v > c.Value
	case specs.OpGreaterEqual:
		return v >= c.Value
	}
	panic("unknown operator " + c.Op)
}

// ruleNames returns the names s's rules with action a (and, for ERRNO,
// errno e) name, and whether each is named only by conditional rules.
func ruleNames(s *specs.LinuxSeccomp, a specs.LinuxSeccompAction, e uint) map[string]bool {
	conditional := map[string]bool{}
	for _, r := range s.Syscalls {
		if r.Action != a || a == specs.ActErrno && (r.ErrnoRet == nil && e != 1 || r.ErrnoRet != nil && *r.ErrnoRet != e) {
			continue
		}
		for _, n := range r.Names {
			c, seen := conditional[n]
			conditional[n] = (c || !seen) && len(r.Args) > 0
		}
	}
	return conditional
}
