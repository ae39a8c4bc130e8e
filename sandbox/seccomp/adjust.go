package seccomp

import (
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Adjust applies a profile's security.allow_syscalls and
// security.deny_syscalls to s, in place. Every syscall in allow becomes
// allowed with any arguments; then every syscall in deny fails with EPERM.
// Either replaces whatever rules named the syscall before (conditional ones
// included), and deny wins over allow.
//
// Every name must be known to libseccomp (the only impure part); the first
// unknown one is an error naming it and its list, and s is left unchanged.
// A nil s is an error: an unconfined plan has nothing to adjust.
func Adjust(s *specs.LinuxSeccomp, allow, deny []string) error {
	if s == nil {
		return errNilPolicy
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"security.allow_syscalls", allow}, {"security.deny_syscalls", deny}} {
		for _, n := range l.names {
			if !knownSyscall(n) {
				return fmt.Errorf("unknown syscall %q in %s", n, l.key)
			}
		}
	}
	deny = sortedSet(deny)
	allow = slices.DeleteFunc(sortedSet(allow), func(n string) bool { return slices.Contains(deny, n) })
	if len(allow)+len(deny) == 0 {
		return nil
	}

	var rules []specs.LinuxSyscall
	for _, r := range s.Syscalls {
		r.Names = slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool {
			return slices.Contains(allow, n) || slices.Contains(deny, n)
		})
		if len(r.Names) > 0 {
			rules = append(rules, r)
		}
	}
	if len(allow) > 0 {
		rules = append(rules, rule(specs.ActAllow, nil, allow...))
	}
	if len(deny) > 0 {
		rules = append(rules, rule(specs.ActErrno, errno(unix.EPERM), deny...))
	}
	s.Syscalls = rules
	return nil
}

// sortedSet returns the distinct names of names, sorted, in a new slice.
func sortedSet(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}
