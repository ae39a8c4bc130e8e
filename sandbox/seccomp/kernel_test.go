package seccomp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
	"github.com/nook-sandbox/nook/sandbox/seccomp/compiler"
	"github.com/nook-sandbox/nook/sandbox/seccomp/seccomptest"
)

// Kernel tests: real filters on real syscalls, in a child (see child_test.go).
// They work as root and as an unprivileged user.

// garbage are the arguments denied syscalls are called with: all ones,
// which every one of them rejects (bad pointer, fd, flags or length), so a
// filter that failed to deny one would still not change the machine.
var garbage = [6]uintptr{^uintptr(0), ^uintptr(0), ^uintptr(0), ^uintptr(0), ^uintptr(0), ^uintptr(0)}

// safetyErrno marks a syscall the filter under test let through: the safety
// net installed below it answers with this errno instead of running it.
const safetyErrno = syscall.ENOTRECOVERABLE

const (
	x32Bit  = 0x40000000 // __X32_SYSCALL_BIT
	noSuch  = 1000       // beyond every syscall table
	highCmd = 0xdeadbeef << 32
)

// compileFile compiles s to a file for a child's job.
func compileFile(t *testing.T, s *specs.LinuxSeccomp) string {
	t.Helper()
	prog, err := compiler.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, "filter.bpf", prog)
}

// safetyNet returns a filter that allows everything except names, which get
// safetyErrno on every architecture of the default policy. Installed before
// the filter under test, it stops a syscall that filter wrongly allows (the
// kernel applies the most restrictive result of all filters, and between two
// ERRNO results the newer filter's), so probes never reach the kernel, and
// it tells "allowed" apart from "the kernel refused".
func safetyNet(t *testing.T, names []string) string {
	t.Helper()
	e := uint(safetyErrno)
	return compileFile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: seccomp.Default(seccomp.Options{}).Architectures,
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActErrno, ErrnoRet: &e}},
	})
}

func nativeNr(t *testing.T, name string) uintptr {
	t.Helper()
	nr, ok := seccomptest.SyscallNumber(name)
	if !ok {
		t.Fatalf("no native syscall %s", name)
	}
	return nr
}

// archNr returns name's number on arch, x32 numbers with __X32_SYSCALL_BIT.
func archNr(t *testing.T, name string, arch libseccomp.ScmpArch) uintptr {
	t.Helper()
	nr, err := libseccomp.GetSyscallFromNameByArch(name, arch)
	if err != nil || int32(nr) < 0 {
		t.Fatalf("no %s syscall %s: %v", arch, name, err)
	}
	if arch == libseccomp.ArchX32 {
		nr |= x32Bit
	}
	return uintptr(nr)
}

func check(t *testing.T, run string, got map[string]outcome, name string, want syscall.Errno) {
	t.Helper()
	o, ok := got[name]
	switch {
	case !ok:
		t.Errorf("%s: probe %s did not run", run, name)
	case o.Errno != want:
		t.Errorf("%s: %s = %v (%d), want %v (%d)", run, name, o.Errno, o.Errno, want, want)
	}
}

// Invariant 3 on the kernel: every syscall Docker's default profile denies a
// process without capabilities fails under Default() — EPERM where the
// policy names it, ENOSYS where it does not.
func TestKernelDefaultDeniesWhatDockerDenies(t *testing.T) {
	denied, err := seccomptest.DockerDeniedNoCaps(seccomptest.Reference(t, "docker-default.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) < 50 {
		t.Fatalf("DockerDeniedNoCaps returned only %d syscalls: %v", len(denied), denied)
	}
	names := append(slices.Clone(denied), "ptrace", "process_vm_readv", "process_vm_writev")
	policy := seccomp.Default(seccomp.Options{})
	eperm := ruleNames(policy, specs.ActErrno, uint(unix.EPERM))

	var probes []probe
	want := map[string]syscall.Errno{}
	for _, n := range names {
		probes = append(probes, probe{Name: n, Kind: kindSyscall, Nr: nativeNr(t, n), Args: garbage})
		want[n] = syscall.ENOSYS
		if conditional, ok := eperm[n]; ok && !conditional {
			want[n] = syscall.EPERM
		}
	}
	for _, n := range []string{"keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
		"fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr", "mount", "unshare", "setns", "ptrace"} {
		if want[n] != syscall.EPERM {
			t.Errorf("%s: want EPERM from the policy, it gives %v", n, want[n])
		}
	}
	if want["clone3"] != syscall.ENOSYS {
		t.Error("clone3: want ENOSYS from the policy")
	}
	probes = append(probes, probe{Name: "syscall 1000", Kind: kindSyscall, Nr: noSuch})

	safety := safetyNet(t, names)
	control := runChild(t, job{Programs: []string{safety}, Probes: probes}, childOptions{})
	for _, n := range names {
		if control[n].Errno != safetyErrno {
			t.Fatalf("safety net alone: %s = %v, want %v; not running the probes against the policy", n, control[n].Errno, safetyErrno)
		}
	}

	got := runChild(t, job{Programs: []string{safety, compileFile(t, policy)}, Probes: probes}, childOptions{})
	for _, n := range names {
		check(t, "Default", got, n, want[n])
	}
	check(t, "Default", got, "syscall 1000", syscall.ENOSYS)
}

// x32 syscalls (numbers with __X32_SYSCALL_BIT, callable from any x86_64
// process) are filtered too, whether or not the kernel runs x32 code.
func TestKernelX32(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("x32 exists only on amd64, not %s", runtime.GOARCH)
	}
	probes := []probe{{Name: "x32 getpid", Kind: kindSyscall, Nr: archNr(t, "getpid", libseccomp.ArchX32)}}
	names := []string{"keyctl", "unshare", "io_uring_setup", "fsopen", "mount"}
	for _, n := range names {
		probes = append(probes, probe{Name: "x32 " + n, Kind: kindSyscall, Nr: archNr(t, n, libseccomp.ArchX32), Args: garbage})
	}
	probes = append(probes, probe{Name: "x32 1000", Kind: kindSyscall, Nr: x32Bit | noSuch})

	safety := safetyNet(t, names)
	got := runChild(t, job{Programs: []string{safety, compileFile(t, seccomp.Default(seccomp.Options{}))}, Probes: probes}, childOptions{})
	for _, n := range names {
		check(t, "Default", got, "x32 "+n, syscall.EPERM)
	}
	check(t, "Default", got, "x32 1000", syscall.ENOSYS)
	if o := got["x32 getpid"]; o.Errno == syscall.EPERM || o.Errno == safetyErrno {
		t.Errorf("x32 getpid = %v, want it allowed (ENOSYS if the kernel lacks x32)", o.Errno)
	}
}

// The 32-bit x86 ABI (int 0x80) is filtered too.
func TestKernelInt80(t *testing.T) {
	if !haveInt80 {
		t.Skipf("int 0x80 probes need amd64, not %s", runtime.GOARCH)
	}
	x86 := func(n string) uintptr { return archNr(t, n, libseccomp.ArchX86) }
	getpid := []probe{
		{Name: "getpid", Kind: kindSyscall, Nr: nativeNr(t, "getpid")},
		{Name: "int80 getpid", Kind: kindInt80, Nr: x86("getpid")},
	}
	if _, err := startChild(t, job{Probes: getpid}, childOptions{}); err != nil {
		// Without IA32 emulation (CONFIG_IA32_EMULATION, or
		// ia32_emulation=false) int 0x80 faults: the shell reports a
		// "segmentation fault", Go's runtime a SIGSEGV.
		if strings.Contains(err.Error(), "segmentation fault") || strings.Contains(err.Error(), "SIGSEGV") {
			t.Skip("kernel lacks IA32 emulation: int 0x80 faults with SIGSEGV")
		}
		t.Fatal(err)
	}
	probes := append(getpid,
		probe{Name: "int80 keyctl", Kind: kindInt80, Nr: x86("keyctl"), Args: garbage},
		probe{Name: "int80 unshare", Kind: kindInt80, Nr: x86("unshare"), Args: [6]uintptr{unix.CLONE_NEWUSER}},
		probe{Name: "int80 mount", Kind: kindInt80, Nr: x86("mount"), Args: garbage},
		probe{Name: "int80 clone3", Kind: kindInt80, Nr: x86("clone3"), Args: garbage},
		probe{Name: "int80 ioctl TIOCSTI", Kind: kindInt80, Nr: x86("ioctl"), Args: [6]uintptr{0, unix.TIOCSTI, 0}},
		probe{Name: "int80 ioctl TCGETS", Kind: kindInt80, Nr: x86("ioctl"), Args: [6]uintptr{0, unix.TCGETS, 0}},
		probe{Name: "int80 1000", Kind: kindInt80, Nr: noSuch},
	)
	safety := safetyNet(t, []string{"keyctl", "unshare", "mount", "clone3"})
	got := runChild(t, job{Programs: []string{safety, compileFile(t, seccomp.Default(seccomp.Options{}))}, Probes: probes}, childOptions{})
	if pid := got["getpid"].Value; got["int80 getpid"].Errno != 0 || got["int80 getpid"].Value != pid {
		t.Errorf("int80 getpid = %+v, want pid %d", got["int80 getpid"], pid)
	}
	check(t, "Default", got, "int80 keyctl", syscall.EPERM)
	check(t, "Default", got, "int80 unshare", syscall.EPERM)
	check(t, "Default", got, "int80 mount", syscall.EPERM)
	check(t, "Default", got, "int80 clone3", syscall.ENOSYS)
	check(t, "Default", got, "int80 ioctl TIOCSTI", syscall.EPERM)
	check(t, "Default", got, "int80 1000", syscall.ENOSYS)
	if e := got["int80 ioctl TCGETS"].Errno; e == syscall.EPERM || e == syscall.ENOSYS {
		t.Errorf("int80 ioctl TCGETS = %v, want the filter to let it through", e)
	}
}

// Invariant 5's filter half: TIOCSTI and TIOCLINUX fail on the app's own
// controlling terminal, also with high bits in the command; other ioctls work.
func TestKernelTIOCSTI(t *testing.T) {
	probes := []probe{
		{Name: "TIOCSTI", Kind: kindIoctl, Args: [6]uintptr{1: unix.TIOCSTI}},
		{Name: "TIOCSTI high bits", Kind: kindIoctl, Args: [6]uintptr{1: unix.TIOCSTI | highCmd}},
		{Name: "TIOCLINUX", Kind: kindIoctl, Args: [6]uintptr{1: unix.TIOCLINUX}},
		{Name: "TIOCLINUX high bits", Kind: kindIoctl, Args: [6]uintptr{1: unix.TIOCLINUX | highCmd}},
		{Name: "TCGETS", Kind: kindIoctl, Args: [6]uintptr{1: unix.TCGETS}},
		{Name: "TIOCGPGRP", Kind: kindIoctl, Args: [6]uintptr{1: unix.TIOCGPGRP}},
	}
	runOnPty := func(programs ...string) map[string]outcome {
		pty := openPty(t)
		return runChild(t, job{Programs: programs, Probes: probes}, childOptions{ctty: pty})
	}

	control := runOnPty()
	t.Logf("no filter: TIOCSTI %v, with high bits %v, TIOCLINUX %v",
		control["TIOCSTI"].Errno, control["TIOCSTI high bits"].Errno, control["TIOCLINUX"].Errno)
	check(t, "no filter", control, "TCGETS", 0)
	switch e := control["TIOCSTI"].Errno; e {
	case 0:
		// The control shows the kernel truncates the command: the high bits
		// would smuggle TIOCSTI past a 64-bit comparison.
		check(t, "no filter", control, "TIOCSTI high bits", 0)
	case syscall.EIO:
		t.Logf("kernel refuses TIOCSTI without CAP_SYS_ADMIN (dev.tty.legacy_tiocsti=0); EPERM below still comes from the filter")
	default:
		t.Errorf("no filter: TIOCSTI on the controlling terminal = %v, want success", e)
	}
	if e := control["TIOCLINUX"].Errno; e == syscall.EPERM {
		t.Errorf("no filter: TIOCLINUX = EPERM; the filtered run could not tell")
	}

	for _, nested := range []bool{false, true} {
		run := "Default"
		if nested {
			run = "Default nested"
		}
		got := runOnPty(compileFile(t, seccomp.Default(seccomp.Options{NestedSandbox: nested})))
		check(t, run, got, "TIOCSTI", syscall.EPERM)
		check(t, run, got, "TIOCSTI high bits", syscall.EPERM)
		check(t, run, got, "TIOCLINUX", syscall.EPERM)
		check(t, run, got, "TIOCLINUX high bits", syscall.EPERM)
		check(t, run, got, "TCGETS", 0)
		check(t, run, got, "TIOCGPGRP", 0)
	}
}

// openPty returns the slave side of a new pseudo-terminal.
func openPty(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err := os.OpenFile(filepath.Join("/dev/pts", strconv.FormatUint(uint64(n), 10)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return slave
}

// Namespace creation is EPERM by default and works with NestedSandbox.
func TestKernelNamespaces(t *testing.T) {
	probes := []probe{
		{Name: "fork", Kind: kindFork},
		{Name: "clone CLONE_NEWUSER", Kind: kindFork, Args: [6]uintptr{unix.CLONE_NEWUSER}},
		{Name: "clone CLONE_NEWUSER high bits", Kind: kindFork, Args: [6]uintptr{unix.CLONE_NEWUSER | 1<<40}},
		{Name: "clone CLONE_NEWUSER|CLONE_NEWNET", Kind: kindFork, Args: [6]uintptr{unix.CLONE_NEWUSER | unix.CLONE_NEWNET}},
		{Name: "unshare CLONE_NEWUSER", Kind: kindFork, Nr: unix.SYS_UNSHARE, Args: [6]uintptr{0, unix.CLONE_NEWUSER}},
		{Name: "setns", Kind: kindSyscall, Nr: unix.SYS_SETNS, Args: [6]uintptr{^uintptr(0), unix.CLONE_NEWUSER}},
		{Name: "clone3", Kind: kindSyscall, Nr: nativeNr(t, "clone3"), Args: [6]uintptr{^uintptr(0), 0}},
	}
	control := runChild(t, job{Probes: probes}, childOptions{})
	t.Logf("no filter: %s", summary(control))
	userns := control["clone CLONE_NEWUSER"].Errno == 0 && control["unshare CLONE_NEWUSER"].Errno == 0
	if !userns {
		t.Logf("kernel refuses user namespaces to this user (clone: %v, unshare: %v); not checking that NestedSandbox allows them",
			control["clone CLONE_NEWUSER"].Errno, control["unshare CLONE_NEWUSER"].Errno)
	} else {
		check(t, "no filter", control, "clone CLONE_NEWUSER high bits", 0)
	}
	check(t, "no filter", control, "setns", syscall.EBADF)

	got := runChild(t, job{Programs: []string{compileFile(t, seccomp.Default(seccomp.Options{}))}, Probes: probes}, childOptions{})
	check(t, "Default", got, "fork", 0)
	check(t, "Default", got, "clone CLONE_NEWUSER", syscall.EPERM)
	check(t, "Default", got, "clone CLONE_NEWUSER high bits", syscall.EPERM)
	check(t, "Default", got, "clone CLONE_NEWUSER|CLONE_NEWNET", syscall.EPERM)
	check(t, "Default", got, "unshare CLONE_NEWUSER", syscall.EPERM)
	check(t, "Default", got, "setns", syscall.EPERM)
	check(t, "Default", got, "clone3", syscall.ENOSYS)

	got = runChild(t, job{Programs: []string{compileFile(t, seccomp.Default(seccomp.Options{NestedSandbox: true}))}, Probes: probes}, childOptions{})
	check(t, "Default nested", got, "fork", 0)
	if userns {
		check(t, "Default nested", got, "clone CLONE_NEWUSER", 0)
		check(t, "Default nested", got, "clone CLONE_NEWUSER|CLONE_NEWNET", 0)
		check(t, "Default nested", got, "unshare CLONE_NEWUSER", 0)
	}
	check(t, "Default nested", got, "setns", syscall.EBADF)
	check(t, "Default nested", got, "clone3", syscall.ENOSYS)
}

// Ordinary work still succeeds under the filter.
func TestKernelOrdinaryWork(t *testing.T) {
	file := writeTemp(t, "data.txt", []byte("hello, sandbox\n"))
	probes := []probe{
		{Name: "read file", Kind: kindRead, Path: file},
		{Name: "exec /bin/true", Kind: kindExec, Path: "/bin/true"},
		{Name: "exec /bin/false", Kind: kindExec, Path: "/bin/false"},
		{Name: "getpid", Kind: kindSyscall, Nr: nativeNr(t, "getpid")},
		{Name: "socket AF_UNIX", Kind: kindSyscall, Nr: unix.SYS_SOCKET, Args: [6]uintptr{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}},
		{Name: "socket AF_ALG", Kind: kindSyscall, Nr: unix.SYS_SOCKET, Args: [6]uintptr{unix.AF_ALG, unix.SOCK_SEQPACKET | unix.SOCK_CLOEXEC}},
		{Name: "socket AF_ALG high bits", Kind: kindSyscall, Nr: unix.SYS_SOCKET, Args: [6]uintptr{unix.AF_ALG | 1<<32, unix.SOCK_SEQPACKET | unix.SOCK_CLOEXEC}},
		{Name: "personality query", Kind: kindSyscall, Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{0xffffffff}},
	}
	for _, nested := range []bool{false, true} {
		got := runChild(t, job{Programs: []string{compileFile(t, seccomp.Default(seccomp.Options{NestedSandbox: nested}))}, Probes: probes}, childOptions{})
		run := "Default"
		if nested {
			run = "Default nested"
		}
		check(t, run, got, "read file", 0)
		if n := got["read file"].Value; n != 15 {
			t.Errorf("%s: read %d bytes, want 15", run, n)
		}
		check(t, run, got, "exec /bin/true", 0)
		if got["exec /bin/true"].Value != 0 || got["exec /bin/false"].Value != 1 {
			t.Errorf("%s: /bin/true exited %d, /bin/false %d; want 0 and 1", run, got["exec /bin/true"].Value, got["exec /bin/false"].Value)
		}
		check(t, run, got, "getpid", 0)
		check(t, run, got, "socket AF_UNIX", 0)
		check(t, run, got, "socket AF_ALG", syscall.EPERM)
		check(t, run, got, "socket AF_ALG high bits", syscall.EPERM)
		check(t, run, got, "personality query", 0)
	}
}

// A profile in the older flat format compiles, installs and runs programs.
func TestKernelChromeLegacy(t *testing.T) {
	s, err := seccomp.Load(seccomptest.Reference(t, "chrome-legacy-format.json"))
	if err != nil {
		t.Fatal(err)
	}
	file := writeTemp(t, "data.txt", []byte("chrome\n"))
	probes := []probe{
		{Name: "exec /bin/true", Kind: kindExec, Path: "/bin/true"},
		{Name: "read file", Kind: kindRead, Path: file},
		{Name: "mount", Kind: kindSyscall, Nr: unix.SYS_MOUNT, Args: garbage},
	}
	safety := safetyNet(t, []string{"mount"})
	got := runChild(t, job{Programs: []string{safety, compileFile(t, s)}, Probes: probes}, childOptions{})
	check(t, "chrome", got, "exec /bin/true", 0)
	if v := got["exec /bin/true"].Value; v != 0 {
		t.Errorf("chrome: /bin/true exited %d", v)
	}
	check(t, "chrome", got, "read file", 0)
	check(t, "chrome", got, "mount", syscall.EPERM)
}

// summary lists outcomes as "name: errno" lines, sorted, for logs.
func summary(outcomes map[string]outcome) string {
	var lines []string
	for n, o := range outcomes {
		lines = append(lines, fmt.Sprintf("\n\t%s: %v", n, o.Errno))
	}
	slices.Sort(lines)
	return strings.Join(lines, "")
}
