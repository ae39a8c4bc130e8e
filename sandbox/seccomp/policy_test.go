package seccomp_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
	"github.com/nook-sandbox/nook/sandbox/seccomp/seccomptest"
)

// nestedAllowed are the Docker-denied syscalls Options.NestedSandbox allows.
var nestedAllowed = []string{"chroot", "setns", "unshare"}

// Invariant 3: the default policy denies at least what Docker's default
// profile denies a process without capabilities — not just unconditionally:
// no rule, conditional or not, may allow such a syscall.
func TestDefaultDeniesWhatDockerDenies(t *testing.T) {
	denied, err := seccomptest.DockerDeniedNoCaps(seccomptest.Reference(t, "docker-default.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Guard against a broken oracle: these must be in Docker's denied set.
	for _, n := range []string{"mount", "unshare", "setns", "keyctl", "bpf", "kexec_load", "clone3", "io_uring_setup"} {
		if !slices.Contains(denied, n) {
			t.Fatalf("DockerDeniedNoCaps lacks %s: %v", n, denied)
		}
	}
	for _, nested := range []bool{false, true} {
		allowed := ruleNames(seccomp.Default(seccomp.Options{NestedSandbox: nested}), specs.ActAllow, 0)
		for _, n := range denied {
			if _, ok := allowed[n]; ok && !(nested && slices.Contains(nestedAllowed, n)) {
				t.Errorf("nested=%v: Docker denies %s without capabilities, Default allows it", nested, n)
			}
		}
	}
}

// The extra denials of invariant 3 and the errno of each kind of denial.
func TestDefaultDenials(t *testing.T) {
	for _, nested := range []bool{false, true} {
		s := seccomp.Default(seccomp.Options{NestedSandbox: nested})
		eperm := ruleNames(s, specs.ActErrno, uint(unix.EPERM))
		for _, n := range []string{
			"fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
			"keyctl", "add_key", "request_key",
			"io_uring_setup", "io_uring_enter", "io_uring_register",
			"mount", "umount2", "pivot_root", "ptrace", "bpf", "perf_event_open", "kexec_load",
		} {
			if c, ok := eperm[n]; !ok || c {
				t.Errorf("nested=%v: %s is not unconditionally EPERM", nested, n)
			}
			if got := decide(s, n); !reflect.DeepEqual(got, []string{"ERRNO(1)"}) {
				t.Errorf("nested=%v: %s decides %v", nested, n, got)
			}
		}
		if got := decide(s, "clone3"); !reflect.DeepEqual(got, []string{"ERRNO(38)"}) {
			t.Errorf("nested=%v: clone3 decides %v, want ENOSYS", nested, got)
		}
		if got := decide(s, "nfsservctl"); !reflect.DeepEqual(got, []string{"ERRNO(38)"}) {
			t.Errorf("nested=%v: a syscall the policy does not name decides %v, want ENOSYS", nested, got)
		}
		if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != uint(unix.ENOSYS) {
			t.Errorf("nested=%v: default %s %v, want ERRNO(ENOSYS)", nested, s.DefaultAction, s.DefaultErrnoRet)
		}
	}
}

func TestDefaultArchitectures(t *testing.T) {
	want := map[string][]specs.Arch{
		"amd64": {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		"arm64": {specs.ArchAARCH64, specs.ArchARM},
	}[runtime.GOARCH]
	if want == nil {
		t.Skipf("no expectation for GOARCH %s", runtime.GOARCH)
	}
	if got := seccomp.Default(seccomp.Options{}).Architectures; !reflect.DeepEqual(got, want) {
		t.Errorf("Architectures = %v, want %v", got, want)
	}
}

// Conditional rules, evaluated on 64-bit arguments as the filter sees them.
func TestDefaultArguments(t *testing.T) {
	const hi = 0xdeadbeef << 32
	const (
		allow  = "ALLOW"
		eperm  = "ERRNO(1)"
		enosys = "ERRNO(38)"
	)
	sigchld := uint64(unix.SIGCHLD)
	tests := []struct {
		nested bool
		name   string
		args   []uint64
		want   string
	}{
		{false, "ioctl", []uint64{0, unix.TIOCSTI}, eperm},
		{false, "ioctl", []uint64{0, unix.TIOCSTI | hi}, eperm},
		{false, "ioctl", []uint64{0, unix.TIOCLINUX}, eperm},
		{false, "ioctl", []uint64{0, unix.TIOCLINUX | 1<<32}, eperm},
		{true, "ioctl", []uint64{0, unix.TIOCSTI}, eperm},
		{false, "ioctl", []uint64{0, unix.TCGETS}, allow},
		{false, "ioctl", []uint64{0, unix.TIOCSTI + 1}, allow},
		{false, "ioctl", []uint64{0, unix.TIOCSTI ^ 1<<31}, allow},
		{false, "ioctl", []uint64{0, 0}, allow},
		{false, "ioctl", []uint64{0, 0xffffffff}, allow},
		{false, "ioctl", []uint64{0, hi}, allow},
		{false, "socket", []uint64{unix.AF_INET}, allow},
		{false, "socket", []uint64{unix.AF_UNIX}, allow},
		{false, "socket", []uint64{unix.AF_NETLINK}, allow},
		{false, "socket", []uint64{unix.AF_ALG}, eperm},
		{false, "socket", []uint64{unix.AF_ALG | hi}, eperm},
		{false, "socket", []uint64{unix.AF_VSOCK}, eperm},
		{false, "socket", []uint64{unix.AF_XDP}, allow},
		{false, "socket", []uint64{63}, allow},
		{false, "socket", []uint64{64}, enosys},
		{false, "personality", []uint64{0}, allow},
		{false, "personality", []uint64{0xffffffff}, allow},
		{false, "personality", []uint64{0x0040000} /* ADDR_NO_RANDOMIZE */, enosys},
		{false, "clone", []uint64{sigchld}, allow},
		{false, "clone", []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID}, allow},
		{false, "clone", []uint64{unix.CLONE_NEWUSER | sigchld}, eperm},
		{false, "clone", []uint64{unix.CLONE_NEWNS}, eperm},
		{false, "clone", []uint64{unix.CLONE_NEWNET | unix.CLONE_NEWPID | hi}, eperm},
		{false, "clone", []uint64{unix.CLONE_NEWCGROUP}, eperm},
		{true, "clone", []uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWPID | sigchld}, allow},
		{false, "unshare", []uint64{unix.CLONE_NEWUSER}, eperm},
		{false, "unshare", []uint64{unix.CLONE_FS}, eperm},
		{true, "unshare", []uint64{unix.CLONE_NEWUSER}, allow},
		{false, "setns", nil, eperm},
		{true, "setns", nil, allow},
		{false, "chroot", nil, eperm},
		{true, "chroot", nil, allow},
		{false, "read", nil, allow},
		{false, "execve", nil, allow},
		{false, "ptrace", nil, eperm},
		{false, "process_vm_readv", nil, eperm},
	}
	for _, tt := range tests {
		s := seccomp.Default(seccomp.Options{NestedSandbox: tt.nested})
		got := decide(s, tt.name, tt.args...)
		if !reflect.DeepEqual(got, []string{tt.want}) {
			t.Errorf("nested=%v %s(%#x) = %v, want %s", tt.nested, tt.name, tt.args, got, tt.want)
		}
	}
}

// No two rules with different actions overlap: every ioctl command and
// socket family decides exactly one way, high bits ignored.
func TestDefaultUnambiguous(t *testing.T) {
	s := seccomp.Default(seccomp.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 0xffffffff, 1 << 31, unix.TIOCSTI, unix.TIOCLINUX}
	for range 20000 {
		values = append(values, rng.Uint64(), rng.Uint64()&0xffff, rng.Uint64()&0xffffffff)
	}
	for v := range uint64(0x10000) {
		values = append(values, v)
	}
	for _, v := range values {
		want := "ALLOW"
		if low := v & 0xffffffff; low == unix.TIOCSTI || low == unix.TIOCLINUX {
			want = "ERRNO(1)"
		}
		if got := decide(s, "ioctl", 0, v); !reflect.DeepEqual(got, []string{want}) {
			t.Fatalf("ioctl(0, %#x) = %v, want %s", v, got, want)
		}
		want = "ALLOW"
		switch low := v & 0xffffffff; {
		case low == unix.AF_ALG || low == unix.AF_VSOCK:
			want = "ERRNO(1)"
		case low >= 64:
			want = "ERRNO(38)"
		}
		if got := decide(s, "socket", v); !reflect.DeepEqual(got, []string{want}) {
			t.Fatalf("socket(%#x) = %v, want %s", v, got, want)
		}
		if got := decide(s, "clone", v); len(got) != 1 {
			t.Fatalf("clone(%#x) is ambiguous: %v", v, got)
		}
	}
}

func TestDefaultIsPureAndFresh(t *testing.T) {
	a, b := seccomp.Default(seccomp.Options{}), seccomp.Default(seccomp.Options{})
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("Default is not deterministic")
	}
	a.Syscalls[0].Names[0] = "changed"
	*a.DefaultErrnoRet = 99
	if c := seccomp.Default(seccomp.Options{}); c.Syscalls[0].Names[0] == "changed" || *c.DefaultErrnoRet == 99 {
		t.Fatal("Default shares memory between calls")
	}
}
