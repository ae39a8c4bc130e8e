package seccomp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
)

// Kernel tests run their syscalls in a child: the test binary re-executed
// with childEnv naming a job file. The child sets no_new_privs, locks its
// thread, installs the job's programs in order, runs the probes on that
// thread and prints one outcome per probe as JSON.

const childEnv = "NOOK_SECCOMP_TEST_JOB"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(childMain(path))
	}
	os.Exit(m.Run())
}

type job struct {
	Programs []string `json:"programs"` // BPF files to install, in order
	Probes   []probe  `json:"probes"`
}

// Probe kinds.
const (
	kindSyscall = "syscall" // syscall Nr(Args) on the filtered thread
	kindIoctl   = "ioctl"   // ioctl(0, Args[1], pointer to a byte 'x')
	kindFork    = "fork"    // clone(Args[0]|SIGCHLD) a single-threaded child that runs syscall Nr(Args[1:]) if Nr != 0 and exits with its errno
	kindInt80   = "int80"   // 32-bit x86 syscall Nr(Args[:3]) through int 0x80
	kindExec    = "exec"    // run Path with no arguments, Value is its exit status
	kindRead    = "read"    // read the file Path, Value is its length
)

type probe struct {
	Name string     `json:"name"`
	Kind string     `json:"kind"`
	Nr   uintptr    `json:"nr,omitempty"`
	Args [6]uintptr `json:"args"`
	Path string     `json:"path,omitempty"`
}

type outcome struct {
	Name  string        `json:"name"`
	Errno syscall.Errno `json:"errno"` // 0: success
	Value uint64        `json:"value"`
	Err   string        `json:"err,omitempty"` // a failure that is not an errno
}

func childMain(path string) int {
	runtime.LockOSThread() // never unlocked: the thread dies with the process
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "seccomp test child: "+format+"\n", args...)
		return 2
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail("%v", err)
	}
	var j job
	if err := json.Unmarshal(data, &j); err != nil {
		return fail("%v", err)
	}
	var progs [][]byte
	for _, p := range j.Programs {
		prog, err := os.ReadFile(p)
		if err != nil {
			return fail("%v", err)
		}
		progs = append(progs, prog)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fail("no_new_privs: %v", err)
	}
	for _, prog := range progs {
		if err := seccomp.Install(prog); err != nil {
			return fail("%v", err)
		}
	}
	out := make([]outcome, 0, len(j.Probes))
	for _, p := range j.Probes {
		o := run(p)
		o.Name = p.Name
		out = append(out, o)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return fail("%v", err)
	}
	return 0
}

func run(p probe) outcome {
	a := p.Args
	switch p.Kind {
	case kindSyscall:
		r, _, e := unix.Syscall6(p.Nr, a[0], a[1], a[2], a[3], a[4], a[5])
		return outcome{Errno: e, Value: uint64(r)}
	case kindIoctl:
		b := []byte{'x'}
		_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, a[1], uintptr(unsafe.Pointer(&b[0])))
		runtime.KeepAlive(b)
		return outcome{Errno: e}
	case kindFork:
		return forkProbe(a[0], p.Nr, a[1], a[2])
	case kindInt80:
		return int80Probe(p)
	case kindExec:
		err := exec.Command(p.Path).Run()
		var exit *exec.ExitError
		var errno syscall.Errno
		switch {
		case err == nil:
			return outcome{}
		case errors.As(err, &exit):
			return outcome{Value: uint64(exit.ExitCode())}
		case errors.As(err, &errno):
			return outcome{Errno: errno, Err: err.Error()}
		}
		return outcome{Err: err.Error()}
	case kindRead:
		data, err := os.ReadFile(p.Path)
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return outcome{Errno: errno}
		} else if err != nil {
			return outcome{Err: err.Error()}
		}
		return outcome{Value: uint64(len(data))}
	}
	return outcome{Err: "unknown probe kind " + p.Kind}
}

// forkProbe clones a child with flags (plus SIGCHLD and no CLONE_VM, so the
// child is a single-threaded copy, where unshare(CLONE_NEWUSER) can work).
// The child runs syscall nr(a1, a2) if nr is not 0 and exits with its errno.
// The outcome is clone's errno, else the child's.
//
//go:norace
func forkProbe(flags, nr, a1, a2 uintptr) outcome {
	pid, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, flags|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return outcome{Errno: e}
	}
	if pid == 0 {
		// In the child only raw syscalls: the Go runtime is not usable here.
		var code uintptr
		if nr != 0 {
			_, _, e := syscall.RawSyscall(nr, a1, a2, 0)
			code = uintptr(e)
		}
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, code, 0, 0)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != nil {
		return outcome{Err: "wait4: " + err.Error()}
	}
	if !ws.Exited() {
		return outcome{Err: fmt.Sprintf("child ended with status %#x", uint32(ws))}
	}
	return outcome{Errno: syscall.Errno(ws.ExitStatus())}
}

type childOptions struct {
	ctty *os.File // becomes the child's stdin and controlling terminal
}

// runChild runs j in a child in a new session (so it has no controlling
// terminal unless opts.ctty) and returns the outcomes by probe name.
func runChild(t *testing.T, j job, opts childOptions) map[string]outcome {
	t.Helper()
	out, err := startChild(t, j, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func startChild(t *testing.T, j job, opts childOptions) (map[string]outcome, error) {
	t.Helper()
	data, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "job.json", data)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if opts.ctty != nil {
		cmd.Stdin = opts.ctty
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("child: %v\nstderr: %s", err, stderr.Bytes())
	}
	var list []outcome
	if err := json.Unmarshal(stdout.Bytes(), &list); err != nil {
		return nil, fmt.Errorf("child output: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	res := map[string]outcome{}
	for _, o := range list {
		if o.Err != "" {
			t.Errorf("probe %s: %s", o.Name, o.Err)
		}
		res[o.Name] = o
	}
	return res, nil
}

// writeTemp writes data to a new file in the test's temporary directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*-"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
