package state

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stat is what nook reads from /proc/PID/stat.
type Stat struct {
	State     byte   // field 3: R, S, D, Z (zombie), X (dead), ...
	Session   int    // field 6
	StartTime uint64 // field 22, clock ticks after boot
}

// ParseStat reads the content of /proc/PID/stat. The command name (field
// 2) may hold spaces and parentheses, so fields are counted after its last
// ')'.
func ParseStat(b []byte) (Stat, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, errors.New("malformed /proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, errors.New("malformed /proc stat: too few fields")
	}
	st := Stat{State: f[0][0]}
	var err error
	if st.Session, err = strconv.Atoi(f[6-3]); err != nil {
		return Stat{}, fmt.Errorf("malformed /proc stat session: %w", err)
	}
	if st.StartTime, err = strconv.ParseUint(f[22-3], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	return st, nil
}

func readStat(pid int) (Stat, error) {
	b, err := readProc("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// readProc returns the content of a small file of /proc, as os.ReadFile
// does, with plain system calls: an os.File also stats the file and tries
// to add it to the poller, six more calls per file. nook run reads three
// (its own stat, its init's and the boot id) while the sandbox starts.
func readProc(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		switch {
		case err == unix.EINTR:
		case err != nil:
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return b, nil
		default:
			b = b[:len(b)+n]
		}
	}
}

// ProcStartTime returns the start time of pid, and false when there is no
// such process or it has ended (a zombie waiting for its parent).
func ProcStartTime(pid int) (uint64, bool) {
	st, err := readStat(pid)
	if err != nil || st.State == 'Z' || st.State == 'X' {
		return 0, false
	}
	return st.StartTime, true
}

// Self returns the calling process as a Proc.
func Self() (Proc, error) { return ProcOf(os.Getpid()) }

// ProcOf returns pid as a Proc.
func ProcOf(pid int) (Proc, error) {
	start, ok := ProcStartTime(pid)
	if !ok {
		return Proc{}, fmt.Errorf("reading /proc/%d/stat: no such process", pid)
	}
	return Proc{PID: pid, StartTime: start}, nil
}

// Alive reports whether p is still the process it was: same pid, same
// start time.
func (p Proc) Alive() bool {
	start, ok := ProcStartTime(p.PID)
	return ok && start == p.StartTime
}

// BootID returns the kernel's boot id, or "" when it cannot be read.
func BootID() string {
	b, err := readProc("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Stale decides whether r's launcher is gone: r comes from another boot,
// or the launcher's pid has no process, or one started at another time
// (the pid was reused). startTime looks a pid up (ProcStartTime).
func Stale(r *Record, bootID string, startTime func(pid int) (uint64, bool)) bool {
	if r.BootID != "" && bootID != "" && r.BootID != bootID {
		return true
	}
	start, ok := startTime(r.Launcher.PID)
	return !ok || start != r.Launcher.StartTime
}

// AppPID returns the host pid of the sandbox's app: the child of init that
// leads its own session (init starts the app with setsid), the oldest one
// if the app's descendants made sessions too. It returns 0 when the app
// has not started yet or has ended.
func AppPID(init Proc) int {
	if !init.Alive() {
		return 0
	}
	best, bestStart := 0, uint64(0)
	for _, pid := range children(init.PID) {
		st, err := readStat(pid)
		if err != nil || st.Session != pid || st.State == 'Z' || st.State == 'X' {
			continue
		}
		if best == 0 || st.StartTime < bestStart || st.StartTime == bestStart && pid < best {
			best, bestStart = pid, st.StartTime
		}
	}
	return best
}

// children lists the children of every thread of pid.
func children(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, _ := os.ReadDir(dir)
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(dir + "/" + t.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// ErrGone says the sandbox ended before it could be signalled.
var ErrGone = errors.New("sandbox is no longer running")

// forwardedByInit are the signals the sandbox's init passes on to the app
// (sandbox/init.go); sent to init, they reach the app whatever its pid.
var forwardedByInit = map[syscall.Signal]bool{
	unix.SIGINT: true, unix.SIGTERM: true, unix.SIGHUP: true, unix.SIGQUIT: true,
	unix.SIGUSR1: true, unix.SIGUSR2: true, unix.SIGWINCH: true,
}

// Signal sends sig to r's app: through init for the signals init
// forwards, directly to the app's host pid for the others. SIGKILL goes to
// the app when it is known; when the app has not started yet, other
// signals go to init (which, as the sandbox's PID 1, only takes SIGKILL
// and SIGSTOP from outside: SIGKILL ends the whole sandbox). It returns
// ErrGone when init is no longer r's init.
func Signal(r *Record, sig syscall.Signal) error {
	target := r.Init
	if !forwardedByInit[sig] {
		if app := AppPID(r.Init); app != 0 {
			if p, err := ProcOf(app); err == nil {
				target = p
			}
		}
	}
	return send(r, target, sig)
}

// KillAll sends SIGKILL to r's init: the kernel then kills every process
// in the sandbox's PID namespace.
func KillAll(r *Record) error { return send(r, r.Init, unix.SIGKILL) }

// send signals p through a pidfd opened and then checked against p's start
// time, so a reused pid is never signalled.
func send(r *Record, p Proc, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(p.PID, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return ErrGone
	case errors.Is(err, unix.ENOSYS):
		fd = -1 // before Linux 5.3: kill(2) after the start-time check
	case err != nil:
		return fmt.Errorf("opening pid %d of %s: %w", p.PID, r.Ref(), err)
	default:
		defer unix.Close(fd)
	}
	if !p.Alive() {
		return ErrGone
	}
	if fd >= 0 {
		err = unix.PidfdSendSignal(fd, sig, nil, 0)
	} else {
		err = unix.Kill(p.PID, sig)
	}
	if errors.Is(err, unix.ESRCH) {
		return ErrGone
	}
	if err != nil {
		return fmt.Errorf("sending %s to %s (pid %d): %w", unix.SignalName(sig), r.Ref(), p.PID, err)
	}
	return nil
}

// ParseSignal reads a signal as a name ("TERM", "SIGTERM", "term") or a
// number ("15").
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal number %d is out of range 1-64", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q; use a name like TERM or KILL, or a number", s)
}

// Gone reports whether r's sandbox has ended and its launcher has exited
// (and so removed the record).
func Gone(r *Record) bool { return !r.Init.Alive() && !r.Launcher.Alive() }

// Wait waits up to d for r to be Gone and reports whether it is.
func Wait(r *Record, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !Gone(r) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// killWait is how long Stop waits for a sandbox after SIGKILL.
const killWait = 10 * time.Second

// Stop sends SIGTERM to r's app (through init), waits up to grace for the
// sandbox to end, then kills everything in it with SIGKILL and waits until
// it is gone. It reports whether SIGKILL was needed. A sandbox that ended
// meanwhile is stopped, not an error.
func Stop(r *Record, grace time.Duration) (killed bool, err error) {
	if err := Signal(r, unix.SIGTERM); err != nil && !errors.Is(err, ErrGone) {
		return false, err
	}
	if Wait(r, grace) {
		return false, nil
	}
	if err := KillAll(r); err != nil && !errors.Is(err, ErrGone) {
		return true, err
	}
	if !Wait(r, killWait) {
		return true, fmt.Errorf("%s (launcher pid %d) is still running %v after SIGKILL", r.Ref(), r.Launcher.PID, killWait)
	}
	return true, nil
}
