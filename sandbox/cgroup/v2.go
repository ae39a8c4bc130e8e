package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// v2Manager writes cgroup v2 files directly. A group with processes cannot
// hand controllers to its children (the no-internal-process rule), so
// sandboxes' groups are made at BASE/nook/APP-INSTANCE, where BASE is the
// launcher's own cgroup when that is the root, and otherwise its nearest
// ancestor that holds no processes itself (the launcher's slice, say).
type v2Manager struct {
	base  string // absolute directory
	mount string // where the hierarchy is mounted
}

func newV2() (*v2Manager, error) {
	if !Unified() {
		return nil, errors.New("cgroup v2 unified hierarchy not mounted at /sys/fs/cgroup")
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	p, ok := own[""]
	if !ok {
		return nil, errors.New("this process has no cgroup v2 path in /proc/self/cgroup")
	}
	return newV2In(mountRoot, p), nil
}

// newV2In is the manager for the cgroup v2 hierarchy mounted at mount,
// for a launcher whose cgroup there is own.
func newV2In(mount, own string) *v2Manager {
	base := filepath.Join(mount, own)
	for base != mount {
		if pids, err := procs(base); err == nil && len(pids) == 0 {
			break
		}
		base = filepath.Dir(base)
	}
	return &v2Manager{base: base, mount: mount}
}

func (m *v2Manager) Name() string { return FSv2 }

// ancestors are the groups from the mount's root down to base's parent,
// in that order: the ones whose cgroup.subtree_control hands controllers
// down to base.
func (m *v2Manager) ancestors() []string {
	var dirs []string
	for d := filepath.Dir(m.base); len(d) >= len(m.mount) && m.base != m.mount; d = filepath.Dir(d) {
		dirs = append([]string{d}, dirs...)
		if d == m.mount {
			break
		}
	}
	return dirs
}

// available lists the controllers base has or Create can give it: those
// the root has, when every ancestor's cgroup.subtree_control is writable.
func (m *v2Manager) available() []string {
	avail := controllersIn(m.base)
	for _, c := range controllersIn(m.mount) {
		if !slices.Contains(avail, c) && m.canHandDown(c) {
			avail = append(avail, c)
		}
	}
	return avail
}

// canHandDown reports whether Create can make controller c reach base:
// every ancestor that does not yet hand it to its children lets this user
// write its cgroup.subtree_control (a delegated user@.service, say).
func (m *v2Manager) canHandDown(c string) bool {
	for _, d := range m.ancestors() {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.subtree_control"))
		if !slices.Contains(strings.Fields(string(b)), c) && unix.Access(filepath.Join(d, "cgroup.subtree_control"), unix.W_OK) != nil {
			return false
		}
	}
	return true
}

func (m *v2Manager) Check(l Limits) []*UnsupportedError {
	avail := m.available()
	var errs []*UnsupportedError
	for _, key := range l.Keys() {
		c := controllerOf[key]
		switch {
		case !slices.Contains(avail, c):
			errs = append(errs, &UnsupportedError{key, fmt.Sprintf("the cgroup v2 %s controller is not available in %s", c, m.base),
				fmt.Sprintf("enable it in the parent groups (echo +%s > cgroup.subtree_control) or use --cgroup-manager systemd", c)})
		case !writable(m.base):
			errs = append(errs, &UnsupportedError{key, fmt.Sprintf("%s is not writable by uid %d", m.base, os.Geteuid()),
				"use --cgroup-manager systemd from a systemd user session, or run nook as root"})
		case key == "memory_swap" && !exists(filepath.Join(m.base, "memory.swap.max")) && m.base != m.mount && slices.Contains(controllersIn(m.base), "memory"):
			errs = append(errs, &UnsupportedError{key, "swap accounting is off (no memory.swap.max)", "boot with swapaccount=1"})
		}
	}
	return errs
}

// controllersIn lists dir's cgroup.controllers.
func controllersIn(dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	return strings.Fields(string(b))
}

// enable turns on the controllers in want that dir offers and has not
// yet handed to its children. It writes nothing when there is nothing to
// turn on, so a read-only ancestor that already delegates is fine.
func enable(dir string, want []string) error {
	avail := controllersIn(dir)
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	on := strings.Fields(string(b))
	var ops []string
	for _, c := range want {
		if slices.Contains(avail, c) && !slices.Contains(on, c) {
			ops = append(ops, "+"+c)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	return writeFile(dir, "cgroup.subtree_control", strings.Join(ops, " "))
}

func (m *v2Manager) Create(s Spec) (Group, error) {
	if errs := m.Check(s.Limits); len(errs) > 0 {
		return nil, errs[0]
	}
	if s.PID <= 0 {
		return nil, errors.New("creating cgroup: no pid to place")
	}
	want := []string{"memory", "pids"}
	for _, c := range s.Limits.controllers() {
		if !slices.Contains(want, c) {
			want = append(want, c)
		}
	}
	parent := filepath.Join(m.base, parentName)
	// Hand the controllers down from the root, as far as base's children.
	for _, d := range append(m.ancestors(), m.base) {
		if err := enable(d, want); err != nil {
			return nil, fmt.Errorf("creating cgroup for %s: %w", s.App, err)
		}
	}
	dir := filepath.Join(parent, groupName(s.App, s.Instance))
	mkParent := func() error {
		if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		return enable(parent, want)
	}
	if err := mkdirUnder(mkParent, func() error { return os.Mkdir(dir, 0o755) }); err != nil {
		return nil, fmt.Errorf("creating cgroup for %s: %w", s.App, err)
	}
	g := &v2Group{dir: dir}
	if err := g.apply(s.Limits); err != nil {
		g.Destroy()
		return nil, fmt.Errorf("applying limits to %s: %w", s.App, err)
	}
	if err := writeFile(dir, "cgroup.procs", strconv.Itoa(s.PID)); err != nil {
		g.Destroy()
		return nil, fmt.Errorf("placing %s in its cgroup: %w", s.App, err)
	}
	return g, nil
}

// v2Group is a cgroup v2 directory; the systemd manager's groups are too.
type v2Group struct {
	dir string
}

func openV2(r Ref) (Group, error) {
	g := &v2Group{dir: r.Paths["unified"]}
	if g.dir == "" {
		return nil, errors.New("cgroup reference has no unified path")
	}
	if !exists(g.dir) {
		return g, fmt.Errorf("%s: %w", g.dir, ErrNotExist)
	}
	return g, nil
}

// apply writes l into the group's files.
func (g *v2Group) apply(l Limits) error {
	type kv struct{ file, value string }
	var w []kv
	if l.Memory > 0 {
		w = append(w, kv{"memory.max", strconv.FormatInt(l.Memory, 10)})
	}
	if l.MemorySwap > 0 {
		w = append(w, kv{"memory.swap.max", strconv.FormatInt(l.MemorySwap-l.Memory, 10)})
	}
	if l.CPUQuota > 0 {
		w = append(w, kv{"cpu.max", fmt.Sprintf("%d %d", l.CPUQuota, l.CPUPeriod)})
	}
	if l.CPUWeight > 0 {
		w = append(w, kv{"cpu.weight", strconv.FormatUint(l.CPUWeight, 10)})
	}
	if l.CPUSet != "" {
		w = append(w, kv{"cpuset.cpus", l.CPUSet})
	}
	if l.PIDs > 0 {
		w = append(w, kv{"pids.max", strconv.FormatInt(l.PIDs, 10)})
	}
	if l.IOWeight > 0 {
		if exists(filepath.Join(g.dir, "io.weight")) {
			w = append(w, kv{"io.weight", "default " + strconv.FormatUint(l.IOWeight, 10)})
		} else {
			w = append(w, kv{"io.bfq.weight", strconv.FormatUint(l.IOWeight, 10)})
		}
	}
	for _, e := range w {
		if err := writeFile(g.dir, e.file, e.value); err != nil {
			return err
		}
	}
	return nil
}

func (g *v2Group) Ref() Ref { return Ref{Manager: FSv2, Paths: map[string]string{"unified": g.dir}} }

// vanished turns the error of reading a file of a group that is gone
// (removed, or being removed: ENODEV) into one wrapping ErrNotExist.
func (g *v2Group) vanished(err error) error {
	if err != nil && (errors.Is(err, unix.ENODEV) || !exists(g.dir)) {
		return fmt.Errorf("%s: %w", g.dir, ErrNotExist)
	}
	return err
}

func (g *v2Group) Stats() (Stats, error) {
	s, err := g.stats()
	return s, g.vanished(err)
}

func (g *v2Group) stats() (Stats, error) {
	var s Stats
	usec, err := readKey(filepath.Join(g.dir, "cpu.stat"), "usage_usec")
	if err != nil {
		return s, err
	}
	s.CPUUsageNS = usec * 1000
	opt := func(dst *uint64, file string) {
		if err == nil && exists(filepath.Join(g.dir, file)) {
			*dst, err = readUint(filepath.Join(g.dir, file))
		}
	}
	opt(&s.MemoryUsage, "memory.current")
	opt(&s.MemoryLimit, "memory.max")
	opt(&s.PIDs, "pids.current")
	opt(&s.PIDsLimit, "pids.max")
	if err != nil {
		return s, err
	}
	if b, err := os.ReadFile(filepath.Join(g.dir, "io.stat")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				s.IOReadBytes += n
			case "wbytes":
				s.IOWriteBytes += n
			}
		}
	}
	s.OOMKills, err = g.OOMKills()
	return s, err
}

func (g *v2Group) OOMKills() (uint64, error) {
	n, err := readKey(filepath.Join(g.dir, "memory.events"), "oom_kill")
	if errors.Is(err, os.ErrNotExist) && exists(g.dir) {
		return 0, nil // no memory controller here
	}
	return n, g.vanished(err)
}

func (g *v2Group) Kill() error {
	if exists(filepath.Join(g.dir, "cgroup.kill")) {
		if err := writeFile(g.dir, "cgroup.kill", "1"); err != nil && exists(g.dir) && !errors.Is(err, unix.ENODEV) {
			return err
		}
	}
	return killProcs(g.dir)
}

func (g *v2Group) Destroy() error {
	kerr := g.Kill()
	if err := removeDir(g.dir); err != nil {
		return err
	}
	removeParent(g.dir)
	return kerr
}
