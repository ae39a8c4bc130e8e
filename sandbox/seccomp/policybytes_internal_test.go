package seccomp

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestCacheKeyStable pins the key's input, so that entries cached by an
// earlier nook of the same cacheFormat stay valid, and checks that the
// libseccomp version is part of it.
func TestCacheKeyStable(t *testing.T) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\nlibseccomp 2.5.4\n", cacheFormat, runtime.GOARCH)
	h.Write(policyBytes(Default(Options{})))
	if got, want := cacheKey(Default(Options{}), "2.5.4"), [sha256.Size]byte(h.Sum(nil)); got != want {
		t.Errorf("cacheKey(Default(Options{}), 2.5.4) = %x, want %x", got, want)
	}
	if cacheKey(Default(Options{}), "2.5.5") == cacheKey(Default(Options{}), "2.5.4") {
		t.Error("the key ignores libseccomp's version")
	}
}

// TestPolicyBytesCoversSpec makes sure the cache key sees every field of a
// policy: policyBytes encodes the fields counted here by hand, so a new
// field in runtime-spec must be added to it (then update the counts).
func TestPolicyBytesCoversSpec(t *testing.T) {
	for typ, want := range map[reflect.Type]int{
		reflect.TypeOf(specs.LinuxSeccomp{}):    7,
		reflect.TypeOf(specs.LinuxSyscall{}):    4,
		reflect.TypeOf(specs.LinuxSeccompArg{}): 4,
	} {
		if n := typ.NumField(); n != want {
			t.Errorf("%v has %d fields, policyBytes encodes %d: add the new ones to it", typ, n, want)
		}
	}
}

func TestPolicyBytesDistinguishes(t *testing.T) {
	one, two := uint(1), uint(2)
	base := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno, DefaultErrnoRet: &one,
			Architectures: []specs.Arch{specs.ArchX86_64}, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG"},
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: 2, ValueTwo: 3, Op: specs.OpEqualTo}}}},
		}
	}
	changes := map[string]func(*specs.LinuxSeccomp){
		"default action":    func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActKill },
		"default errno":     func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = &two },
		"no default errno":  func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = nil },
		"arches":            func(s *specs.LinuxSeccomp) { s.Architectures = append(s.Architectures, specs.ArchX86) },
		"flags":             func(s *specs.LinuxSeccomp) { s.Flags = nil },
		"listener path":     func(s *specs.LinuxSeccomp) { s.ListenerPath = "/run/x" },
		"listener metadata": func(s *specs.LinuxSeccomp) { s.ListenerMetadata = "m" },
		"names split":       func(s *specs.LinuxSeccomp) { s.Syscalls[0].Names = []string{"readwrite"} },
		"action":            func(s *specs.LinuxSeccomp) { s.Syscalls[0].Action = specs.ActErrno },
		"errno":             func(s *specs.LinuxSeccomp) { s.Syscalls[0].ErrnoRet = &one },
		"arg index":         func(s *specs.LinuxSeccomp) { s.Syscalls[0].Args[0].Index = 0 },
		"arg value":         func(s *specs.LinuxSeccomp) { s.Syscalls[0].Args[0].Value = 0 },
		"arg value two":     func(s *specs.LinuxSeccomp) { s.Syscalls[0].Args[0].ValueTwo = 0 },
		"arg op":            func(s *specs.LinuxSeccomp) { s.Syscalls[0].Args[0].Op = specs.OpMaskedEqual },
		"no args":           func(s *specs.LinuxSeccomp) { s.Syscalls[0].Args = nil },
		"rule split": func(s *specs.LinuxSeccomp) {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"write"}})
		},
		"listener path moved":  func(s *specs.LinuxSeccomp) { s.ListenerMetadata, s.ListenerPath = "x", "" },
		"listener path moved2": func(s *specs.LinuxSeccomp) { s.ListenerPath, s.ListenerMetadata = "x", "" },
	}
	seen := map[string]string{string(policyBytes(base())): "base"}
	if !bytes.Equal(policyBytes(base()), policyBytes(base())) {
		t.Fatal("policyBytes is not deterministic")
	}
	for name, change := range changes {
		s := base()
		change(s)
		b := string(policyBytes(s))
		if other, ok := seen[b]; ok {
			t.Errorf("%s encodes like %s", name, other)
		}
		seen[b] = name
	}
}
