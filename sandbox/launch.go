package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
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
	// Started, when not nil, is called once the init stage exists, on the
	// goroutine that called Run, which goes on when it returns. Init is
	// still there to look at: it waits for the launcher to let it go once
	// the app has ended (or, when the app could not start, stays a zombie
	// until Run reaps it). With a cgroup, Started is called before the
	// app starts (so that a record names the group before the app can fill
	// it), and a second time, with another init stage, when Run had to
	// start over (a prestarted init's warm record failed to set up: see
	// launch). Without one, it is called once, right after the go-ahead,
	// while the app starts on another CPU: it then costs the launch
	// nothing.
	Started func(Instance)
	// Cgroup, when not nil, puts the sandbox in a new control group with
	// limits before the app starts; Run destroys the group when the
	// sandbox ends. nil means no group (the launcher's own).
	Cgroup *Cgroup
	// Warm, when not nil, lets the next launch with the same arguments be
	// a warm launch (fastlaunch.go): the caller vouches that the plan
	// came from nothing but the process's own facts and Warm.Facts.
	// Ignored with a Cgroup.
	Warm *WarmLaunch
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

// lingering keeps the pipes of init stages left to end with the launcher
// open (Run, the prestarted init of nook run).
var lingering []*spawn

// Run starts the sandbox described by p, waits for it, and returns the app's
// exit code (128+N when it was killed by signal N). A non-nil error is an
// *ExitError saying why the app did not start, or wrapping an *OOMError
// (code 137) when the OOM killer ended it in its cgroup.
//
// Run locks the calling goroutine to its thread until the sandbox ends: the
// kernel kills the sandbox when that thread dies. SIGINT, SIGTERM, SIGHUP,
// SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH sent to nook are passed to the app.
func Run(p *Plan, opts Options) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	flags, err := cloneFlags(&p.Spec)
	if err != nil {
		return 125, &ExitError{125, err}
	}
	prog, appAt, err := compileProgram(p, opts.Filter, opts.Cgroup != nil)
	if err != nil {
		return 125, &ExitError{125, fmt.Errorf("setting up sandbox for %s: %w", p.App, err)}
	}
	stdio := [3]*os.File{opts.Stdio.In, opts.Stdio.Out, opts.Stdio.Err}
	for i, f := range stdio {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return 125, &ExitError{125, err}
			}
			defer null.Close()
			stdio[i] = null
		}
	}
	// Signals are caught beside the launch (signals.go). Until Notify
	// returns, they have Go's default effect (SIGINT, SIGTERM and SIGHUP
	// end nook, and the sandbox with it); init gets the go-ahead to start
	// the app only after that, so every signal sent once the app runs
	// reaches it.
	r := takeRelay()
	defer r.stop()

	sp, group, err := launch(p, opts, flags, prog, appAt, stdio)
	if err != nil {
		return 125, err
	}
	if group != nil {
		defer group.Destroy()
	}
	lingers := false // init is left to end with the launcher (below)
	defer func() {
		if !lingers {
			sp.status.Close()
			sp.goW.Close()
		}
	}()
	pid := sp.pid
	// wait reaps init. Every return below calls it, or leaves init to a
	// goroutine that does, or (nook run's prestarted init) to the kernel
	// when nook exits.
	wait := sp.reap
	<-r.notified
	r.forward()
	sp.goW.Write([]byte{0})
	if opts.Started != nil && group == nil {
		// Before goW closes below: until then init stays.
		opts.Started(Instance{InitPID: sp.pid})
	}
	// For the next launch; the app starts meanwhile.
	storeWarm(sp, p, opts)
	if group == nil && !sp.prestarted {
		// No cgroup to read after the app: init may exit as soon as the
		// app has.
		sp.goW.Close()
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-r.sigs:
				unix.Kill(pid, s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()

	var rep report
	status := bufio.NewReader(sp.status)
	line, readErr := status.ReadBytes('\n')
	if readErr == nil {
		rep, readErr = parseReport(line)
	}
	Unpin() // once the app has started, not beside its exec
	// Once the app has ended, init says so and waits: its cgroup is still
	// there to read the OOM kill count from (a systemd scope goes with
	// its last process). Closing goW lets init exit.
	var oomKills uint64
	if readErr == nil && rep.Error == "" {
		line, err := status.ReadBytes('\n')
		end, perr := parseReport(line)
		switch {
		case err != nil || perr != nil || end.Exit == nil:
		case group == nil && sp.prestarted:
			// The prestarted init of nook run, which exits right after
			// this: init waits for goW to close, which the launcher's exit
			// does. Init then ends the sandbox after nook is gone: the
			// kernel's teardown of the namespaces (half a millisecond
			// here, more with many mounts) is not nook's.
			lingers = true
			lingering = append(lingering, sp)
			return *end.Exit, nil
		case group == nil:
			// Without a cgroup to read or remove, nook is done once the
			// app is: init exits when goW closes, and the kernel tears the
			// namespaces down after Run has returned. Init is reaped
			// meanwhile.
			sp.goW.Close()
			go wait()
			return *end.Exit, nil
		default:
			oomKills, _ = group.OOMKills()
		}
	}
	sp.goW.Close()
	code := wait()
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

// launch starts the init stage, puts it in its cgroup and, when there is
// one, calls opts.Started. Init builds the sandbox meanwhile and then
// waits for the go-ahead, so it is still there for Started to look at.
// When a prestarted init ran a warm record whose setup failed (warm.go:
// the host changed since the record was written), launch does it all once
// more, with an init that runs prog from the start: Started is then
// called again, with the new init. Errors are *ExitErrors.
func launch(p *Plan, opts Options, flags uintptr, prog []byte, appAt int, stdio [3]*os.File) (*spawn, cgroup.Group, error) {
	for {
		sp, err := startInit(flags, &p.Spec, prog, appAt, stdio)
		if err != nil {
			return nil, nil, &ExitError{125, fmt.Errorf("starting sandbox for %s: %w", p.App, err)}
		}
		var group cgroup.Group
		if c := opts.Cgroup; c != nil {
			group, err = c.Manager.Create(cgroup.Spec{App: p.App, Instance: c.Instance, PID: sp.pid, Limits: c.Limits})
			if err != nil {
				sp.kill()
				return nil, nil, &ExitError{125, err}
			}
		}
		if opts.Started != nil && group != nil {
			opts.Started(Instance{InitPID: sp.pid, Cgroup: group})
		}
		if !sp.speculative || ready(sp) {
			return sp, group, nil
		}
		sp.discard()
		if group != nil {
			group.Destroy()
		}
	}
}

// cloneFlags turns the spec's namespaces into clone flags, and checks the
// identity the init stage takes in them.
func cloneFlags(s *specs.Spec) (uintptr, error) {
	if s.Linux == nil || s.Process == nil {
		return 0, errors.New("plan has no linux or process section")
	}
	var flags uintptr
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.CgroupNamespace && ns.Path == "" {
			continue // init enters it once in its cgroup
		}
		f, ok := namespaceFlags[ns.Type]
		if !ok {
			return 0, fmt.Errorf("plan asks for an unsupported namespace %q", ns.Type)
		}
		if ns.Path != "" {
			return 0, fmt.Errorf("plan asks to join namespace %s; nook only creates namespaces", ns.Path)
		}
		flags |= f
	}
	if flags&unix.CLONE_NEWUSER == 0 {
		return 0, errors.New("plan has no user namespace; nook always creates one")
	}
	uid, gid := s.Process.User.UID, s.Process.User.GID
	if !mapped(s.Linux.UIDMappings, uid) || !mapped(s.Linux.GIDMappings, gid) {
		return 0, fmt.Errorf("plan runs as %d:%d, which its id mappings do not map", uid, gid)
	}
	return flags, nil
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
