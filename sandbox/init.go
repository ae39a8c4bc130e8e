package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// initEnv names the environment variable that marks the init stage. Its
// value is "PLANFD,STATUSFD,GOFD": the environment carries only descriptor
// numbers.
const initEnv = "_NOOK_INIT"

// message is what the launcher sends the init stage on the plan
// descriptor (encoded by message.encode, see wire.go): the part of a plan
// init acts on, and the compiled seccomp filter instead of the policy.
type message struct {
	App           string
	Mounts        []specs.Mount
	Symlinks      []Symlink
	Files         []File
	ReadonlyPaths []string
	MaskedPaths   []string
	RootReadonly  bool
	Hostname      string
	Network       string
	Args          []string
	Env           []string
	Cwd           string
	Filter        []byte // seccomp BPF; nil means none
	// CgroupNS asks init to enter a new cgroup namespace once the
	// launcher has placed it in its cgroup (so the app's namespace is
	// rooted there), instead of at clone.
	CgroupNS bool
}

// newMessage extracts from p what init needs. The caller has checked that
// p.Spec has Process and Linux sections.
func newMessage(p *Plan, filter []byte) *message {
	s := &p.Spec
	return &message{
		App:           p.App,
		Mounts:        s.Mounts,
		Symlinks:      p.Symlinks,
		Files:         p.Files,
		ReadonlyPaths: s.Linux.ReadonlyPaths,
		MaskedPaths:   s.Linux.MaskedPaths,
		RootReadonly:  s.Root != nil && s.Root.Readonly,
		Hostname:      s.Hostname,
		Network:       p.Network.Mode,
		Args:          s.Process.Args,
		Env:           s.Process.Env,
		Cwd:           s.Process.Cwd,
		Filter:        filter,
		CgroupNS:      hasNamespace(s, specs.CgroupNamespace),
	}
}

// report is what the init stage sends back on the status descriptor, one
// line each (report.line):
// either the app's pid (inside the sandbox) and, when the app has ended,
// a second report with Exit; or an error and the exit code nook should use.
type report struct {
	PID   int
	Error string
	Code  int
	// Exit is sent on a second line once the app has ended, with the
	// code init will exit with. Init then waits until the launcher closes
	// the go descriptor, so that the sandbox's cgroup (which a systemd
	// scope removes with its last process) can still be read.
	Exit *int
}

func init() {
	// The init stage must lock its main goroutine to the main thread before
	// anything else runs: lockdown drops the bounding set and loads the
	// seccomp filter on this thread, and the app is forked from it.
	if os.Getenv(initEnv) != "" {
		runtime.LockOSThread()
	}
}

// IsInit reports whether this process is a sandbox's init stage.
func IsInit() bool { return os.Getenv(initEnv) != "" }

// Init runs the init stage: it sets up the sandbox described by the plan on
// its descriptor, locks itself down, starts the app, supervises it as PID 1
// and returns the exit code for the process. It is called by the hidden
// "nook init" command and by nothing else.
func Init() int {
	// If the launcher dies, so does the sandbox.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "nook init: setting parent death signal:", err)
		return 125
	}
	fds := os.Getenv(initEnv)
	planFD, statusFD, ok := strings.Cut(fds, ",")
	statusFD, goFD, ok2 := strings.Cut(statusFD, ",")
	if !ok || !ok2 {
		fmt.Fprintln(os.Stderr, "nook init: this is an internal command started by nook run")
		return 125
	}
	os.Unsetenv(initEnv)
	pf, err1 := strconv.Atoi(planFD)
	sf, err2 := strconv.Atoi(statusFD)
	gf, err3 := strconv.Atoi(goFD)
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintf(os.Stderr, "nook init: bad descriptors %q\n", fds)
		return 125
	}
	syscall.CloseOnExec(pf)
	syscall.CloseOnExec(sf)
	syscall.CloseOnExec(gf)
	status := os.NewFile(uintptr(sf), "status")

	planFile := os.NewFile(uintptr(pf), "plan")
	b, err := io.ReadAll(planFile)
	planFile.Close()
	if err != nil || len(b) == 0 {
		// The launcher died before sending the plan.
		return 125
	}
	msg, err := decodeMessage(b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nook init: reading plan:", err)
		return 125
	}
	fail := func(code int, err error) int {
		status.Write(report{Error: err.Error(), Code: code}.line())
		status.Close()
		return code
	}
	// Signals sent to init once it is set up wait in sigs until the app
	// exists. signal.Notify takes half a millisecond (the Go runtime
	// starts a thread to mask signals), so it runs beside setup.
	sigs := make(chan os.Signal, 8)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, forwarded...)
		close(notified)
	}()
	if err := setup(msg); err != nil {
		return fail(125, fmt.Errorf("setting up sandbox for %s: %w", msg.App, err))
	}
	if !proceed(gf) {
		return 125 // the launcher could not place init in its cgroup; it says why
	}
	if msg.CgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fail(125, fmt.Errorf("entering a cgroup namespace for %s: %w", msg.App, err))
		}
	}
	if err := lockdown(msg.Filter); err != nil {
		return fail(125, fmt.Errorf("locking down sandbox for %s: %w", msg.App, err))
	}
	<-notified // signals caught from now on reach the app
	pid, err := startApp(msg.Args, msg.Env, msg.Cwd)
	if err != nil {
		var se *startError
		if errors.As(err, &se) {
			return fail(se.code, err)
		}
		return fail(125, err)
	}
	status.Write(report{PID: pid}.line())
	code := supervise(pid, sigs)
	status.Write(report{Exit: &code}.line())
	status.Close()
	proceed(gf) // until the launcher has read the cgroup and closes it
	return code
}

// proceed waits for the launcher on descriptor fd: for one byte (the
// go-ahead, written once init is in its cgroup), or for the launcher to
// close it. It returns false when the launcher closed it.
func proceed(fd int) bool {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return n == 1
	}
}

// setup builds the sandbox's file system and identity. It runs in the new
// namespaces with the capabilities the launcher granted.
func setup(p *message) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	sources, err := openSources(p.Mounts)
	if err != nil {
		return err
	}
	defer closeAll(sources)
	overlay, err := openOverlay(p)
	if err != nil {
		return err
	}
	defer overlay.close()

	// The new root and a staging area for files live on a scratch tmpfs
	// over /tmp, which only this mount namespace sees.
	const scratch, root, staging = "/tmp", "/tmp/root", "/tmp/files"
	if err := unix.Mount("tmpfs", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=700"); err != nil {
		return fmt.Errorf("mounting scratch tmpfs: %w", err)
	}
	for _, d := range []string{root, staging} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if overlay != nil {
		if err := overlay.mount(root, scratch); err != nil {
			return err
		}
	} else if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
		return fmt.Errorf("mounting root tmpfs: %w", err)
	}
	r := &rootfs{dir: root, sources: sources}
	for i, m := range p.Mounts {
		if err := r.mount(i, m); err != nil {
			return err
		}
	}
	for _, s := range p.Symlinks {
		if err := r.symlink(s); err != nil {
			return err
		}
	}
	for i, f := range p.Files {
		if err := r.file(staging, i, f); err != nil {
			return err
		}
	}
	for _, path := range p.ReadonlyPaths {
		if err := r.readonly(path); err != nil {
			return err
		}
	}
	for _, path := range p.MaskedPaths {
		if err := r.mask(path); err != nil {
			return err
		}
	}
	if err := pivot(root); err != nil {
		return err
	}
	if p.RootReadonly {
		if err := remountBind("/", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
			return fmt.Errorf("making root read-only: %w", err)
		}
	}
	if p.Hostname != "" {
		if err := unix.Sethostname([]byte(p.Hostname)); err != nil {
			return fmt.Errorf("setting hostname: %w", err)
		}
	}
	if p.Network == NetworkNone {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	return nil
}

// pivot makes root the root of the mount namespace and detaches the old one.
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; the
	// lazy unmount then takes it away without needing a directory for it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching old root: %w", err)
	}
	return unix.Chdir("/")
}

// loopbackUp brings up lo in the sandbox's own network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	return nil
}

// startError is a failure to start the app, with the exit code it maps to.
type startError struct {
	code int
	err  error
}

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// lookPath finds file in the sandbox using path, the app's PATH.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", &startError{127, fmt.Errorf("command %q not found in the sandbox (PATH=%s); check the profile's command and image", file, path)}
}

// startApp forks the app from the calling (locked, locked-down) thread into
// a new session and returns its pid.
func startApp(args, env []string, cwd string) (int, error) {
	if len(args) == 0 {
		return 0, errors.New("plan has no command")
	}
	var path string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	file, err := lookPath(args[0], path)
	if err != nil {
		return 0, err
	}
	pid, err := syscall.ForkExec(file, args, &syscall.ProcAttr{
		Dir:   cwd,
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	switch {
	case err == nil:
		return pid, nil
	case errors.Is(err, unix.ENOENT):
		return 0, &startError{127, fmt.Errorf("command %s not found in the sandbox: %w", file, err)}
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EPERM), errors.Is(err, unix.EISDIR):
		return 0, &startError{126, fmt.Errorf("command %s cannot be executed in the sandbox: %w", file, err)}
	}
	return 0, &startError{126, fmt.Errorf("starting %s: %w", file, err)}
}

// forwarded are the signals init passes on to the app.
var forwarded = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// supervise forwards signals from sigs to the app, reaps every zombie in the sandbox,
// and returns the app's exit code when it ends: its status, or 128+N when
// it was killed by signal N. Returning ends the sandbox: the kernel kills
// what is left in the PID namespace when its init exits.
func supervise(app int, sigs chan os.Signal) int {
	go func() {
		for s := range sigs {
			unix.Kill(app, s.(syscall.Signal))
		}
	}()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 125
		}
		if pid == app {
			return exitCode(ws)
		}
	}
}

// exitCode maps a wait status to a shell-style exit code.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
