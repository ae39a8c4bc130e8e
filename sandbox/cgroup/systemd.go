package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

const (
	systemdDest  = "org.freedesktop.systemd1"
	systemdPath  = dbus.ObjectPath("/org/freedesktop/systemd1")
	systemdIface = "org.freedesktop.systemd1.Manager"
	// jobTimeout bounds the wait for systemd to start a scope (slow VMs).
	jobTimeout = 30 * time.Second
)

// DelegateFix is the fix nook prints when the user's systemd manager does
// not delegate a controller (Debian delegates only memory and pids).
const DelegateFix = `as root, create /etc/systemd/system/user@.service.d/delegate.conf containing "[Service]\nDelegate=cpu cpuset io memory pids", run "systemctl daemon-reload" and log in again`

// systemdManager makes transient scopes on the system manager (root) or on
// the user's manager (rootless), over D-Bus.
type systemdManager struct {
	user bool
	root string // the manager's own cgroup directory
}

// busAddress is the D-Bus address of the system bus (user false) or of the
// bus the user's systemd manager is on: $XDG_RUNTIME_DIR/bus (the user bus
// of dbus-user-session), else $DBUS_SESSION_BUS_ADDRESS. The user bus goes
// first: a session bus of its own (a nested session, a test's) has no
// systemd on it.
func busAddress(user bool) (string, error) {
	if !user {
		if a := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" {
			return a, nil
		}
		return "unix:path=/run/dbus/system_bus_socket", nil
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && exists(filepath.Join(d, "bus")) {
		return "unix:path=" + filepath.Join(d, "bus"), nil
	}
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a, nil
	}
	return "", errors.New("no user bus: neither $XDG_RUNTIME_DIR/bus nor $DBUS_SESSION_BUS_ADDRESS is there")
}

func connect(user bool) (*dbus.Conn, error) {
	addr, err := busAddress(user)
	if err != nil {
		return nil, err
	}
	return dbus.Connect(addr)
}

// newSystemd connects to the manager nook should use (the user's when not
// root) and asks for its cgroup. It fails when none answers.
func newSystemd() (*systemdManager, error) {
	if !Unified() {
		return nil, errors.New("the systemd manager needs the cgroup v2 unified hierarchy, which is not mounted at /sys/fs/cgroup")
	}
	m := &systemdManager{user: os.Geteuid() != 0}
	conn, err := connect(m.user)
	if err != nil {
		return nil, fmt.Errorf("connecting to systemd: %w", err)
	}
	defer conn.Close()
	v, err := conn.Object(systemdDest, systemdPath).GetProperty(systemdIface + ".ControlGroup")
	if err != nil {
		return nil, fmt.Errorf("asking systemd for its cgroup: %w", err)
	}
	cg, _ := v.Value().(string)
	m.root = filepath.Join(mountRoot, cg)
	return m, nil
}

func (m *systemdManager) Name() string { return Systemd }

func (m *systemdManager) Check(l Limits) []*UnsupportedError {
	avail := controllersIn(m.root)
	var errs []*UnsupportedError
	for _, key := range l.Keys() {
		c := controllerOf[key]
		if slices.Contains(avail, c) {
			continue
		}
		if m.user {
			errs = append(errs, &UnsupportedError{key, fmt.Sprintf("your systemd user manager does not delegate the %s controller (it has: %s)", c, strings.Join(avail, " ")), DelegateFix})
		} else {
			errs = append(errs, &UnsupportedError{key, fmt.Sprintf("the %s controller is not enabled in the system manager's cgroup %s", c, m.root),
				fmt.Sprintf("enable the %s controller in the kernel (cgroup_enable=%s on the kernel command line)", c, c)})
		}
	}
	return errs
}

// UnitName is the systemd scope of a sandbox: app-nook-APP-INSTANCE.scope,
// bytes outside [a-zA-Z0-9_.-] in APP replaced by '_'.
func UnitName(app, instance string) string {
	return "app-nook-" + groupName(app, instance) + ".scope"
}

type property struct {
	Name  string
	Value dbus.Variant
}

// scopeProperties are the transient scope's properties for s.
func scopeProperties(s Spec) ([]property, error) {
	l := s.Limits
	p := []property{
		{"Description", dbus.MakeVariant("nook sandbox for " + s.App)},
		{"PIDs", dbus.MakeVariant([]uint32{uint32(s.PID)})},
		{"Delegate", dbus.MakeVariant(true)},
		{"CollectMode", dbus.MakeVariant("inactive-or-failed")},
		{"MemoryAccounting", dbus.MakeVariant(true)},
		{"TasksAccounting", dbus.MakeVariant(true)},
		{"CPUAccounting", dbus.MakeVariant(true)},
	}
	add := func(name string, v any) { p = append(p, property{name, dbus.MakeVariant(v)}) }
	if l.Memory > 0 {
		add("MemoryMax", uint64(l.Memory))
	}
	if l.MemorySwap > 0 {
		add("MemorySwapMax", uint64(l.MemorySwap-l.Memory))
	}
	if l.CPUQuota > 0 {
		add("CPUQuotaPerSecUSec", uint64(l.CPUQuota)*1000000/l.CPUPeriod)
		add("CPUQuotaPeriodUSec", l.CPUPeriod)
	}
	if l.CPUSet != "" {
		mask, err := cpuMask(l.CPUSet)
		if err != nil {
			return nil, err
		}
		add("AllowedCPUs", mask)
	}
	if l.CPUWeight > 0 {
		add("CPUWeight", l.CPUWeight)
	}
	if l.PIDs > 0 {
		add("TasksMax", uint64(l.PIDs))
	}
	if l.IOWeight > 0 {
		add("IOAccounting", true)
		add("IOWeight", l.IOWeight)
	}
	return p, nil
}

// cpuMask turns "0-1,3" into systemd's CPU bitmask (byte i bit j is CPU
// 8i+j).
func cpuMask(set string) ([]byte, error) {
	var mask []byte
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b > 8191 {
			return nil, fmt.Errorf("bad cpuset %q", set)
		}
		for c := a; c <= b; c++ {
			for len(mask) <= c/8 {
				mask = append(mask, 0)
			}
			mask[c/8] |= 1 << (c % 8)
		}
	}
	return mask, nil
}

func (m *systemdManager) Create(s Spec) (Group, error) {
	if errs := m.Check(s.Limits); len(errs) > 0 {
		return nil, errs[0]
	}
	if s.PID <= 0 {
		return nil, errors.New("creating scope: no pid to place")
	}
	props, err := scopeProperties(s)
	if err != nil {
		return nil, err
	}
	conn, err := connect(m.user)
	if err != nil {
		return nil, fmt.Errorf("connecting to systemd: %w", err)
	}
	defer conn.Close()
	unit := UnitName(s.App, s.Instance)
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(systemdIface), dbus.WithMatchMember("JobRemoved")); err != nil {
		return nil, fmt.Errorf("watching systemd jobs: %w", err)
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	obj := conn.Object(systemdDest, systemdPath)
	obj.Call(systemdIface+".Subscribe", 0) // older managers send signals only to subscribers
	var job dbus.ObjectPath
	err = obj.Call(systemdIface+".StartTransientUnit", 0, unit, "fail", props, []struct {
		Name  string
		Props []property
	}{}).Store(&job)
	if err != nil {
		return nil, fmt.Errorf("starting systemd scope %s: %w", unit, err)
	}
	g := &systemdGroup{v2Group: v2Group{}, unit: unit, user: m.user}
	if err := waitJob(sigs, job); err != nil {
		g.stop(conn)
		return nil, fmt.Errorf("starting systemd scope %s: %w", unit, err)
	}
	var unitPath dbus.ObjectPath
	if err := obj.Call(systemdIface+".GetUnit", 0, unit).Store(&unitPath); err != nil {
		g.stop(conn)
		return nil, fmt.Errorf("finding systemd scope %s: %w", unit, err)
	}
	v, err := conn.Object(systemdDest, unitPath).GetProperty("org.freedesktop.systemd1.Scope.ControlGroup")
	cg, _ := v.Value().(string)
	if err != nil || cg == "" {
		g.stop(conn)
		return nil, fmt.Errorf("finding the cgroup of systemd scope %s: %v", unit, err)
	}
	g.dir = filepath.Join(mountRoot, cg)
	g.watchOOM()
	return g, nil
}

// waitJob waits for systemd's JobRemoved signal for job and fails unless
// its result is "done".
func waitJob(sigs <-chan *dbus.Signal, job dbus.ObjectPath) error {
	timeout := time.After(jobTimeout)
	for {
		select {
		case sig := <-sigs:
			// JobRemoved(u id, o job, s unit, s result)
			if len(sig.Body) == 4 && sig.Body[1] == job {
				if r, _ := sig.Body[3].(string); r != "done" {
					return fmt.Errorf("systemd job ended with result %q", r)
				}
				return nil
			}
		case <-timeout:
			return fmt.Errorf("systemd did not finish job %s in %s", job, jobTimeout)
		}
	}
}

// systemdGroup is a scope: its cgroup is read and written as cgroup v2.
//
// systemd stops a scope, and removes its cgroup, as soon as its last
// process exits: Stats then returns ErrNotExist. So that the launcher can
// still tell an OOM kill, the group that Create made watches memory.events
// while the scope lives and OOMKills reports the last count it saw.
type systemdGroup struct {
	v2Group
	unit string
	user bool
	oom  atomic.Uint64 // oom_kill as last seen by watchOOM
}

// watchOOM keeps g.oom while the scope lives.
func (g *systemdGroup) watchOOM() { watchKey(g.dir, "memory.events", "oom_kill", &g.oom) }

// watchKey follows "key value" file dir/file with inotify (cgroup v2
// signals every change of memory.events, cgroup.events, ...) and keeps in
// max the largest value it has read, until dir is gone. The returned
// channel is closed when it stops; nil means it could not start.
func watchKey(dir, file, key string, max *atomic.Uint64) <-chan struct{} {
	path := filepath.Join(dir, file)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(fd)
		buf := make([]byte, 4096)
		for {
			if n, err := readKey(path, key); err == nil {
				if n > max.Load() {
					max.Store(n)
				}
			} else if !exists(dir) || errors.Is(err, unix.ENODEV) {
				return
			}
			// A removed cgroup file sends no event: look again twice a second.
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if n, err := unix.Poll(fds, 500); err != nil && !errors.Is(err, unix.EINTR) {
				return
			} else if n == 0 {
				continue
			}
			if _, err := unix.Read(fd, buf); err != nil && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) {
				return
			}
		}
	}()
	return done
}

func (g *systemdGroup) OOMKills() (uint64, error) {
	n, err := g.v2Group.OOMKills()
	if errors.Is(err, ErrNotExist) && g.oom.Load() > 0 {
		return g.oom.Load(), nil
	}
	return max(n, g.oom.Load()), err
}

func (g *systemdGroup) Stats() (Stats, error) {
	s, err := g.v2Group.Stats()
	s.OOMKills = max(s.OOMKills, g.oom.Load())
	return s, err
}

func openSystemd(r Ref) (Group, error) {
	g := &systemdGroup{v2Group: v2Group{dir: r.Paths["unified"]}, unit: r.Unit, user: r.User}
	if g.unit == "" || g.dir == "" {
		return nil, errors.New("systemd cgroup reference has no unit or path")
	}
	if !exists(g.dir) {
		return g, fmt.Errorf("%s: %w", g.unit, ErrNotExist)
	}
	return g, nil
}

func (g *systemdGroup) Ref() Ref {
	return Ref{Manager: Systemd, Paths: map[string]string{"unified": g.dir}, Unit: g.unit, User: g.user}
}

// stop asks systemd to stop the scope; a unit already gone is fine.
func (g *systemdGroup) stop(conn *dbus.Conn) error {
	var job dbus.ObjectPath
	err := conn.Object(systemdDest, systemdPath).Call(systemdIface+".StopUnit", 0, g.unit, "replace").Store(&job)
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.freedesktop.systemd1.NoSuchUnit" {
		return nil
	}
	return err
}

// Destroy kills the scope's processes and stops the scope; systemd
// removes its cgroup. A scope systemd already collected is destroyed.
func (g *systemdGroup) Destroy() error {
	kerr := g.Kill()
	if conn, err := connect(g.user); err == nil {
		g.stop(conn)
		conn.Close()
	}
	// systemd removes an empty scope's cgroup itself; do it if it did not.
	deadline := time.Now().Add(2 * time.Second)
	for exists(g.dir) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := removeDir(g.dir); err != nil {
		return err
	}
	return kerr
}
