package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

// ExitError is a failure with the exit status nook should end with: 125 for
// nook's own errors, 126 when the command cannot be executed, 127 when it is
// not found (the docker run convention).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// initCaps are the capabilities the init stage holds, inside its own user
// namespace only, until lockdown drops them: mounts and pivot_root, the
// bounding set, the loopback device, mount points in its own tmpfs.
var initCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP, unix.CAP_NET_ADMIN,
	unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER,
}

var namespaceFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
}

// Stdio are the app's standard streams; nil means /dev/null.
type Stdio struct {
	In, Out, Err *os.File
}

// Options are how Run starts one sandbox: what the plan does not say.
type Options struct {
	// Filter is the compiled seccomp program; nil means none.
	Filter []byte
	// Stdio are the app's standard streams.
	Stdio Stdio
	// Started, when not nil, is called once the init stage exists, before
	// the app starts, on the goroutine that called Run. Run goes on when it
	// returns.
	Started func(Instance)
	// Cgroup, when not nil, puts the sandbox in a new control group with
	// limits before the app starts; Run destroys the group when the
	// sandbox ends. nil means no group (the launcher's own).
	Cgroup *Cgroup
}

// Cgroup says how Run makes the sandbox's control group.
type Cgroup struct {
	Manager cgroup.Manager
	// Instance tells apart sandboxes of one app ([a-zA-Z0-9_-]+).
	Instance string
	// Limits are applied in full: drop what Manager.Check refuses first.
	Limits cgroup.Limits
}

// Instance describes a started sandbox to Options.Started.
type Instance struct {
	// InitPID is the host pid of the sandbox's init stage (its PID 1).
	InitPID int
	// Cgroup is the sandbox's control group, nil when Options.Cgroup was.
	// Run destroys it when the sandbox ends.
	Cgroup cgroup.Group
}

// OOMError says the kernel's OOM killer ended the sandbox: Run returns it
// in an *ExitError with code 137.
type OOMError struct {
	App   string
	Limit int64 // the memory limit in bytes, 0 when none was set
}

func (e *OOMError) Error() string {
	if e.Limit > 0 {
		return fmt.Sprintf("%s was killed: out of memory (limit %s)", e.App, cgroup.FormatBytes(e.Limit))
	}
	return e.App + " was killed: out of memory"
}

// Run starts the sandbox described by p, waits for it, and returns the app's
// exit code (128+N when it was killed by signal N). A non-nil error is an
// *ExitError saying why the app did not start, or wrapping an *OOMError
// (code 137) when the OOM killer ended it in its cgroup.
//
// Run locks the calling goroutine to its thread until the sandbox ends: the
// kernel kills the sandbox when that thread dies. SIGINT, SIGTERM, SIGHUP,
// SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH sent to nook are passed to the app.
func Run(p *Plan, opts Options) (int, error) {
	stdio := opts.Stdio
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	attr, err := sysProcAttr(&p.Spec)
	if err != nil {
		return 125, &ExitError{125, err}
	}
	planR, planW, err := os.Pipe()
	if err != nil {
		return 125, &ExitError{125, err}
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		planR.Close()
		planW.Close()
		return 125, &ExitError{125, err}
	}
	defer statusR.Close()
	// Init waits for one byte on goR, written once it is in its cgroup.
	goR, goW, err := os.Pipe()
	if err != nil {
		planR.Close()
		planW.Close()
		statusW.Close()
		return 125, &ExitError{125, err}
	}
	defer goW.Close()
	// TZ is empty so that the init stage's Go runtime (BurntSushi/toml's
	// package initialisation asks for the local zone) does not read and
	// parse /etc/localtime: init never shows a time. GOMAXPROCS=1: init
	// mostly waits, and fewer runtime threads cost each launch 1.7 ms less
	// CPU (median of 400 interleaved launches on a loaded 2-core host).
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"nook", "init"},
		Env:         []string{initEnv + "=3,4,5", "TZ=", "GOMAXPROCS=1"},
		Stdin:       stdio.In,
		Stdout:      stdio.Out,
		Stderr:      stdio.Err,
		ExtraFiles:  []*os.File{planR, statusW, goR},
		SysProcAttr: attr,
	}
	// signal.Notify and signal.Stop cost half a millisecond each (the Go
	// runtime starts a thread that masks signals and waits for it once
	// per signal), so they run beside the launch: Notify while init
	// starts, Stop after Run. Until Notify returns, signals have Go's
	// default effect (SIGINT, SIGTERM and SIGHUP end nook, and the
	// sandbox with it).
	sigs := make(chan os.Signal, 8)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, forwarded...)
		close(notified)
	}()
	defer func() {
		go func() {
			<-notified
			signal.Stop(sigs)
		}()
	}()

	// The plan is written before init starts, so init finds it waiting.
	msg := newMessage(p, opts.Filter).encode()
	sent := make(chan error, 1)
	go func() {
		_, err := planW.Write(msg)
		planW.Close()
		sent <- err
	}()

	err = cmd.Start()
	planR.Close()
	statusW.Close()
	goR.Close()
	if err != nil {
		<-sent
		return 125, &ExitError{125, fmt.Errorf("starting sandbox for %s: %w", p.App, explainStart(err))}
	}
	var group cgroup.Group
	if c := opts.Cgroup; c == nil {
		// No cgroup to place init in or to read after the app: init may go
		// on now, and exit as soon as the app has, while Started runs.
		goW.Write([]byte{0})
		goW.Close()
	} else {
		group, err = c.Manager.Create(cgroup.Spec{App: p.App, Instance: c.Instance, PID: cmd.Process.Pid, Limits: c.Limits})
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			<-sent
			return 125, &ExitError{125, err}
		}
		defer group.Destroy()
	}
	if opts.Started != nil {
		opts.Started(Instance{InitPID: cmd.Process.Pid, Cgroup: group})
	}
	if opts.Cgroup != nil {
		goW.Write([]byte{0}) // init is in its cgroup: it may start the app
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()

	if err := <-sent; err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 125, &ExitError{125, fmt.Errorf("sending plan to sandbox for %s: %w", p.App, err)}
	}
	var rep report
	status := bufio.NewReader(statusR)
	line, readErr := status.ReadBytes('\n')
	if readErr == nil {
		rep, readErr = parseReport(line)
	}
	// Once the app has ended, init says so and waits: its cgroup is still
	// there to read the OOM kill count from (a systemd scope goes with
	// its last process). Closing goW lets init exit.
	var oomKills uint64
	if readErr == nil && rep.Error == "" {
		if line, err := status.ReadBytes('\n'); err == nil && group != nil {
			if end, err := parseReport(line); err == nil && end.Exit != nil {
				oomKills, _ = group.OOMKills()
			}
		}
	}
	goW.Close()
	cmd.Wait() // the status is read from ProcessState below
	code := 0
	if st := cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok {
			code = exitCode(unix.WaitStatus(ws))
		}
	}
	if group != nil && rep.Error == "" && code == 128+int(unix.SIGKILL) {
		// The OOM killer may have picked the app or init itself (then
		// init could not report, and the count is read now).
		if n, err := group.OOMKills(); err == nil {
			oomKills = max(oomKills, n)
		}
		if oomKills > 0 {
			return code, &ExitError{code, &OOMError{App: p.App, Limit: opts.Cgroup.Limits.Memory}}
		}
	}
	switch {
	case rep.Error != "":
		return rep.Code, &ExitError{rep.Code, errors.New(rep.Error)}
	case readErr != nil && code == 0:
		return 125, &ExitError{125, fmt.Errorf("sandbox for %s ended before starting the app, without saying why (exit status 0)", p.App)}
	case readErr != nil:
		// Init died before it could report (killed, say).
		return code, nil
	}
	return code, nil
}

// sysProcAttr turns the spec's namespaces and identity into the clone
// attributes of the init stage.
func sysProcAttr(s *specs.Spec) (*syscall.SysProcAttr, error) {
	if s.Linux == nil || s.Process == nil {
		return nil, errors.New("plan has no linux or process section")
	}
	var flags uintptr
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.CgroupNamespace && ns.Path == "" {
			continue // init enters it once in its cgroup (message.CgroupNS)
		}
		f, ok := namespaceFlags[ns.Type]
		if !ok {
			return nil, fmt.Errorf("plan asks for an unsupported namespace %q", ns.Type)
		}
		if ns.Path != "" {
			return nil, fmt.Errorf("plan asks to join namespace %s; nook only creates namespaces", ns.Path)
		}
		flags |= f
	}
	if flags&unix.CLONE_NEWUSER == 0 {
		return nil, errors.New("plan has no user namespace; nook always creates one")
	}
	uid, gid := s.Process.User.UID, s.Process.User.GID
	if !mapped(s.Linux.UIDMappings, uid) || !mapped(s.Linux.GIDMappings, gid) {
		return nil, fmt.Errorf("plan runs as %d:%d, which its id mappings do not map", uid, gid)
	}
	root := os.Geteuid() == 0
	return &syscall.SysProcAttr{
		Cloneflags:                 flags,
		UidMappings:                idMap(s.Linux.UIDMappings),
		GidMappings:                idMap(s.Linux.GIDMappings),
		GidMappingsEnableSetgroups: root,
		// As root, this switches away from host uid 0 before the init
		// stage executes; rootless, it is the caller's own identity.
		Credential:  &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}, NoSetGroups: !root},
		AmbientCaps: initCaps,
		Pdeathsig:   syscall.SIGKILL,
		Setpgid:     true,
	}, nil
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func mapped(m []specs.LinuxIDMapping, id uint32) bool {
	for _, e := range m {
		if id >= e.ContainerID && id-e.ContainerID < e.Size {
			return true
		}
	}
	return false
}

func idMap(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

// explainStart adds what to do to the errors clone(2) gives when user
// namespaces are not available.
func explainStart(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (unprivileged user namespaces look disabled; run 'nook doctor' for the fix)", err)
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("%w (user namespace limit reached; raise it with 'sysctl -w user.max_user_namespaces=15000')", err)
	}
	return err
}
