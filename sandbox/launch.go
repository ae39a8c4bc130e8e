package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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
}

// Instance describes a started sandbox to Options.Started.
type Instance struct {
	// InitPID is the host pid of the sandbox's init stage (its PID 1).
	InitPID int
}

// Run starts the sandbox described by p, waits for it, and returns the app's
// exit code (128+N when it was killed by signal N). A non-nil error is an
// *ExitError saying why the app did not start.
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
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"nook", "init"},
		Env:         []string{initEnv + "=3,4"},
		Stdin:       stdio.In,
		Stdout:      stdio.Out,
		Stderr:      stdio.Err,
		ExtraFiles:  []*os.File{planR, statusW},
		SysProcAttr: attr,
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	// The plan is written before init starts, so init finds it waiting.
	msg, err := json.Marshal(newMessage(p, opts.Filter))
	if err != nil {
		return 125, &ExitError{125, fmt.Errorf("encoding plan for %s: %w", p.App, err)}
	}
	sent := make(chan error, 1)
	go func() {
		_, err := planW.Write(msg)
		planW.Close()
		sent <- err
	}()

	err = cmd.Start()
	planR.Close()
	statusW.Close()
	if err != nil {
		<-sent
		return 125, &ExitError{125, fmt.Errorf("starting sandbox for %s: %w", p.App, explainStart(err))}
	}
	if opts.Started != nil {
		opts.Started(Instance{InitPID: cmd.Process.Pid})
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
	line, readErr := bufio.NewReader(statusR).ReadBytes('\n')
	if readErr == nil {
		readErr = json.Unmarshal(line, &rep)
	}
	cmd.Wait() // the status is read from ProcessState below
	code := 0
	if st := cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok {
			code = exitCode(unix.WaitStatus(ws))
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
