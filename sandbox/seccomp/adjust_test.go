package seccomp_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
	"github.com/nook-sandbox/nook/sandbox/seccomp/compiler"
)

func TestAdjust(t *testing.T) {
	type call struct {
		name string
		args []uint64
		want string
	}
	tests := []struct {
		name        string
		allow, deny []string
		calls       []call
	}{
		{"nothing", nil, nil, []call{
			{"read", nil, "ALLOW"}, {"ptrace", nil, "ERRNO(1)"}, {"ioctl", []uint64{0, unix.TIOCSTI}, "ERRNO(1)"},
		}},
		{"allow denied", []string{"ptrace", "process_vm_readv"}, nil, []call{
			{"ptrace", nil, "ALLOW"}, {"process_vm_readv", nil, "ALLOW"}, {"process_vm_writev", nil, "ERRNO(1)"},
		}},
		{"allow unknown to the policy", []string{"uselib"}, nil, []call{
			{"uselib", nil, "ALLOW"},
		}},
		{"allow conditional", []string{"ioctl", "clone"}, nil, []call{
			{"ioctl", []uint64{0, unix.TIOCSTI}, "ALLOW"},
			{"clone", []uint64{unix.CLONE_NEWUSER}, "ALLOW"},
		}},
		{"deny allowed", nil, []string{"read", "socket"}, []call{
			{"read", nil, "ERRNO(1)"}, {"socket", []uint64{unix.AF_INET}, "ERRNO(1)"}, {"write", nil, "ALLOW"},
		}},
		{"deny conditional", nil, []string{"ioctl"}, []call{
			{"ioctl", []uint64{0, unix.TCGETS}, "ERRNO(1)"}, {"ioctl", []uint64{0, unix.TIOCSTI}, "ERRNO(1)"},
		}},
		{"deny ENOSYS", nil, []string{"clone3"}, []call{
			{"clone3", nil, "ERRNO(1)"},
		}},
		{"deny wins", []string{"read", "ptrace", "read"}, []string{"read"}, []call{
			{"read", nil, "ERRNO(1)"}, {"ptrace", nil, "ALLOW"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seccomp.Default(seccomp.Options{})
			if err := seccomp.Adjust(s, tt.allow, tt.deny); err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.calls {
				if got := decide(s, c.name, c.args...); !reflect.DeepEqual(got, []string{c.want}) {
					t.Errorf("%s(%#x) = %v, want %s", c.name, c.args, got, c.want)
				}
			}
			for _, r := range s.Syscalls {
				if len(r.Names) == 0 {
					t.Errorf("rule %+v has no names", r)
				}
			}
			if _, err := compiler.Compile(s); err != nil {
				t.Errorf("Compile: %v", err)
			}
		})
	}
}

func TestAdjustErrors(t *testing.T) {
	tests := []struct {
		allow, deny []string
		want        string
	}{
		{[]string{"read", "fooo"}, nil, `unknown syscall "fooo" in security.allow_syscalls`},
		{nil, []string{"barr"}, `unknown syscall "barr" in security.deny_syscalls`},
		{[]string{""}, nil, `unknown syscall "" in security.allow_syscalls`},
	}
	for _, tt := range tests {
		s := seccomp.Default(seccomp.Options{})
		before, _ := json.Marshal(s)
		err := seccomp.Adjust(s, tt.allow, tt.deny)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Adjust(%q, %q) = %v, want %s", tt.allow, tt.deny, err, tt.want)
		}
		if after, _ := json.Marshal(s); string(after) != string(before) {
			t.Errorf("Adjust(%q, %q) changed the policy on error", tt.allow, tt.deny)
		}
	}
	if err := seccomp.Adjust(nil, []string{"read"}, nil); err == nil {
		t.Error("Adjust(nil) succeeded")
	}
}

// Adjust must not write through to memory the caller's policy shares.
func TestAdjustCopies(t *testing.T) {
	names := []string{"read", "write"}
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}}}
	if err := seccomp.Adjust(s, nil, []string{"read"}); err != nil {
		t.Fatal(err)
	}
	if names[0] != "read" || names[1] != "write" {
		t.Errorf("caller's names changed to %q", names)
	}
}
