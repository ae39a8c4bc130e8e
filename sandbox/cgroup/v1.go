package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// v1Controllers are the cgroup v1 hierarchies a sandbox joins: the ones
// that limit and the ones that count (cpuacct, blkio statistics).
var v1Controllers = []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio"}

// v1Mounts finds the cgroup v1 hierarchies in /proc/self/mountinfo: the
// directory of each controller that corresponds to the cgroup root.
func v1Mounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	dirs := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		root, point := pf[3], pf[4]
		for _, opt := range strings.Split(qf[2], ",") {
			for _, c := range v1Controllers {
				if opt != c {
					continue
				}
				// The launcher's cgroup, seen through this mount.
				rel := strings.TrimPrefix(own[c], root)
				if root == "/" {
					rel = own[c]
				}
				if _, seen := dirs[c]; !seen {
					dirs[c] = filepath.Join(point, rel)
				}
			}
		}
	}
	return dirs, sc.Err()
}

// v1Manager writes cgroup v1 files directly. It makes each sandbox's group
// at OWN/nook/APP-INSTANCE in every hierarchy, where OWN is the launcher's
// own cgroup there.
type v1Manager struct {
	own map[string]string // controller -> the launcher's cgroup directory
}

func newV1() (*v1Manager, error) {
	own, err := v1Mounts()
	if err != nil {
		return nil, fmt.Errorf("finding cgroup v1 hierarchies: %w", err)
	}
	if own["memory"] == "" && own["pids"] == "" && own["cpu"] == "" {
		return nil, errors.New("no cgroup v1 hierarchy (memory, cpu, pids) is mounted")
	}
	return &v1Manager{own: own}, nil
}

func (m *v1Manager) Name() string { return FSv1 }

func (m *v1Manager) Check(l Limits) []*UnsupportedError {
	var errs []*UnsupportedError
	for _, key := range l.Keys() {
		c := controllerOf[key]
		if c == "io" {
			c = "blkio"
		}
		dir := m.own[c]
		switch {
		case dir == "":
			errs = append(errs, &UnsupportedError{key, fmt.Sprintf("the cgroup v1 %s controller is not mounted", c),
				fmt.Sprintf("mount it (mount -t cgroup -o %s cgroup /sys/fs/cgroup/%s) or boot with cgroup v2", c, c)})
		case !writable(dir):
			errs = append(errs, &UnsupportedError{key, fmt.Sprintf("this host uses cgroup v1, which the kernel does not delegate to unprivileged users (%s is not writable by uid %d)", dir, os.Geteuid()),
				"boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2) and run from a systemd user session, or run nook as root"})
		case key == "memory_swap" && !exists(filepath.Join(dir, "memory.memsw.limit_in_bytes")):
			errs = append(errs, &UnsupportedError{key, "swap accounting is off (no memory.memsw.limit_in_bytes)", "boot with swapaccount=1"})
		case key == "io_weight" && !exists(filepath.Join(dir, "blkio.weight")) && !exists(filepath.Join(dir, "blkio.bfq.io_service_bytes")):
			errs = append(errs, &UnsupportedError{key, "the blkio controller has no weight (neither CFQ nor BFQ is available)", "load the BFQ scheduler (modprobe bfq) and select it for the disk (echo bfq > /sys/block/DEV/queue/scheduler)"})
		}
	}
	return errs
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (m *v1Manager) Create(s Spec) (Group, error) {
	if errs := m.Check(s.Limits); len(errs) > 0 {
		return nil, errs[0]
	}
	if s.PID <= 0 {
		return nil, errors.New("creating cgroup: no pid to place")
	}
	g := &v1Group{paths: map[string]string{}}
	name := groupName(s.App, s.Instance)
	for _, c := range v1Controllers {
		own := m.own[c]
		if own == "" {
			continue
		}
		base := filepath.Join(own, parentName)
		dir := filepath.Join(base, name)
		err := mkdirUnder(func() error { return mkdirGroup(c, base) }, func() error { return mkdirGroup(c, dir) })
		if isPerm(err) && !needs(s.Limits, c) {
			continue // a counting-only hierarchy we may not use
		}
		if err != nil {
			g.Destroy()
			return nil, fmt.Errorf("creating cgroup for %s: %w", s.App, err)
		}
		g.paths[c] = dir
	}
	if err := g.apply(s.Limits); err != nil {
		g.Destroy()
		return nil, fmt.Errorf("applying limits to %s: %w", s.App, err)
	}
	for _, dir := range g.paths {
		if err := writeFile(dir, "cgroup.procs", strconv.Itoa(s.PID)); err != nil {
			g.Destroy()
			return nil, fmt.Errorf("placing %s in its cgroup: %w", s.App, err)
		}
	}
	return g, nil
}

// needs reports whether a limit in l is applied through v1 controller c.
func needs(l Limits, c string) bool {
	for _, want := range l.controllers() {
		if want == c || (want == "io" && c == "blkio") {
			return true
		}
	}
	return false
}

// mkdirGroup makes a v1 group directory (an existing one is fine); a new
// cpuset group gets its parent's CPUs and memory nodes, as a cpuset group
// without them cannot hold a process.
func mkdirGroup(controller, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if controller != "cpuset" {
		return nil
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return err
		}
		if err := writeFile(dir, f, strings.TrimSpace(string(parent))); err != nil {
			return err
		}
	}
	return nil
}

type v1Group struct {
	paths map[string]string
}

func openV1(r Ref) (Group, error) {
	g := &v1Group{paths: r.Paths}
	for _, dir := range r.Paths {
		if !exists(dir) {
			return g, fmt.Errorf("%s: %w", dir, ErrNotExist)
		}
	}
	return g, nil
}

func (g *v1Group) apply(l Limits) error {
	var w []func() error
	set := func(c, file, value string) {
		w = append(w, func() error { return writeFile(g.paths[c], file, value) })
	}
	if l.Memory > 0 {
		set("memory", "memory.limit_in_bytes", strconv.FormatInt(l.Memory, 10))
	}
	if l.MemorySwap > 0 {
		set("memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(l.MemorySwap, 10))
	}
	if l.CPUQuota > 0 {
		set("cpu", "cpu.cfs_period_us", strconv.FormatUint(l.CPUPeriod, 10))
		set("cpu", "cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota, 10))
	}
	if l.CPUWeight > 0 {
		set("cpu", "cpu.shares", strconv.FormatUint(l.SharesV1(), 10))
	}
	if l.CPUSet != "" {
		set("cpuset", "cpuset.cpus", l.CPUSet)
	}
	if l.PIDs > 0 {
		set("pids", "pids.max", strconv.FormatInt(l.PIDs, 10))
	}
	if l.IOWeight > 0 {
		file, cfq := "blkio.bfq.weight", exists(filepath.Join(g.paths["blkio"], "blkio.weight"))
		if cfq {
			file = "blkio.weight"
		}
		set("blkio", file, strconv.FormatUint(l.BlkIOWeight(cfq), 10))
	}
	for _, f := range w {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (g *v1Group) Ref() Ref { return Ref{Manager: FSv1, Paths: g.paths} }

func (g *v1Group) Stats() (Stats, error) {
	var s Stats
	var err error
	read := func(dst *uint64, c, file string) {
		if g.paths[c] == "" || err != nil {
			return
		}
		*dst, err = readUint(filepath.Join(g.paths[c], file))
	}
	read(&s.CPUUsageNS, "cpuacct", "cpuacct.usage")
	read(&s.MemoryUsage, "memory", "memory.usage_in_bytes")
	read(&s.MemoryLimit, "memory", "memory.limit_in_bytes")
	read(&s.PIDs, "pids", "pids.current")
	read(&s.PIDsLimit, "pids", "pids.max")
	if err != nil {
		return s, err
	}
	if dir := g.paths["blkio"]; dir != "" {
		s.IOReadBytes, s.IOWriteBytes, err = blkioBytes(filepath.Join(dir, "blkio.throttle.io_service_bytes_recursive"))
		if err != nil {
			return s, err
		}
	}
	s.OOMKills, err = g.OOMKills()
	return s, err
}

// blkioBytes sums the "MAJ:MIN Read N" and "MAJ:MIN Write N" lines.
func blkioBytes(path string) (read, write uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write, nil
}

func (g *v1Group) OOMKills() (uint64, error) {
	dir := g.paths["memory"]
	if dir == "" {
		return 0, nil
	}
	return readKey(filepath.Join(dir, "memory.oom_control"), "oom_kill")
}

func (g *v1Group) Kill() error {
	// Every process is in every hierarchy the group has; pids is the one
	// that is always there when processes can be counted.
	for _, c := range []string{"pids", "memory", "cpu", "cpuacct", "cpuset", "blkio"} {
		if dir := g.paths[c]; dir != "" {
			return killProcs(dir)
		}
	}
	return nil
}

func (g *v1Group) Destroy() error {
	kerr := g.Kill()
	var errs []error
	for _, dir := range g.paths {
		if err := removeDir(dir); err != nil {
			errs = append(errs, err)
		}
		removeParent(dir)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return kerr
}
