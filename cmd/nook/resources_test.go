package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/cgroup/cgrouptest"
)

// testManager is the --cgroup-manager the limit tests pass:
// $NOOK_TEST_CGROUP_MANAGER (the VM tier sets systemd or cgroupfs), else auto.
func testManager() string {
	if m := os.Getenv("NOOK_TEST_CGROUP_MANAGER"); m != "" {
		return m
	}
	return cgroup.Auto
}

// unsupported returns what nook will refuse of l on this host for this
// user with testManager: the same Check nook runs.
func unsupported(t *testing.T, l cgroup.Limits) []*cgroup.UnsupportedError {
	t.Helper()
	m, err := cgroup.New(testManager())
	if err != nil {
		t.Fatalf("cgroup manager %s: %v", testManager(), err)
	}
	return m.Check(l)
}

// needLimits skips when nook cannot apply l here, naming why (cgroup v1
// is not delegated to unprivileged users, say); TestRunLimits checks the
// refusal itself.
func needLimits(t *testing.T, l cgroup.Limits) {
	t.Helper()
	if errs := unsupported(t, l); len(errs) > 0 {
		t.Skipf("limit %s cannot be applied here: %s", errs[0].Limit, errs[0].Reason)
	}
}

// runArgs are "run --cgroup-manager M FLAGS... PROFILE".
func runArgs(profile string, flags ...string) []string {
	return append(append([]string{"run", "--cgroup-manager", testManager()}, flags...), profile)
}

// started is nook running in the background with its stdout lines.
type started struct {
	cmd  *exec.Cmd
	out  *bufio.Reader
	init int
}

func (e *e2e) start(args ...string) *started {
	t := e.t
	t.Helper()
	cmd := e.command(args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM reaches the app; nook then ends and removes the group.
		// SIGKILL would leave the group to the next nook call.
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	s := &started{cmd: cmd, out: bufio.NewReader(stdout)}
	if line := s.line(t); line != "ready" {
		t.Fatalf("app did not start: %q", line)
	}
	s.init = childOf(t, cmd.Process.Pid)
	return s
}

func (s *started) line(t *testing.T) string {
	t.Helper()
	line, err := s.out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the app's output: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// groupOf returns the cgroup of the sandbox whose init is pid, checking it
// is not the launcher's own.
func groupOf(t *testing.T, s *started) cgroup.Ref {
	t.Helper()
	ref, err := cgrouptest.RefOf(s.init)
	if err != nil {
		t.Fatal(err)
	}
	own, err := cgrouptest.RefOf(s.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for c, dir := range ref.Paths {
		if dir == own.Paths[c] {
			t.Fatalf("sandbox init is in the launcher's own cgroup %s", dir)
		}
	}
	return ref
}

func assertGone(t *testing.T, ref cgroup.Ref, when string) {
	t.Helper()
	for _, dir := range ref.Paths {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: cgroup %s leaked", when, dir)
		}
	}
}

var limitFlags = []struct {
	key    string
	flags  []string
	limits cgroup.Limits
}{
	{"memory", []string{"--memory", "64M"}, cgroup.Limits{Memory: 64 << 20}},
	{"memory_swap", []string{"--memory", "64M", "--memory-swap", "96M"}, cgroup.Limits{Memory: 64 << 20, MemorySwap: 96 << 20}},
	{"cpus", []string{"--cpus", "0.5"}, cgroup.Limits{CPUQuota: 50000, CPUPeriod: 100000}},
	{"cpuset", []string{"--cpuset", "0"}, cgroup.Limits{CPUSet: "0"}},
	{"cpu_weight", []string{"--cpu-weight", "50"}, cgroup.Limits{CPUWeight: 50}},
	{"pids", []string{"--pids", "33"}, cgroup.Limits{PIDs: 33}},
	{"io_weight", []string{"--io-weight", "500"}, cgroup.Limits{IOWeight: 500}},
}

// TestRunLimits runs a sandbox with each limit flag: where the host can
// apply it, the sandbox's own cgroup holds it and is gone after the app
// exits; where it cannot, nook refuses with one line naming the limit and
// the fix, and --ignore-unsupported-limits runs the app with a warning.
func TestRunLimits(t *testing.T) {
	e := newE2E(t)
	sleeper := e.profile("limits", "", "/probe/probe", "sleep", "30")
	quick := e.profile("limitsquick", "", "/probe/probe", "exit", "0")
	for _, tc := range limitFlags {
		t.Run(tc.key, func(t *testing.T) {
			e := *e
			e.t = t
			if errs := unsupported(t, tc.limits); len(errs) > 0 {
				code, stderr := e.run(runArgs(quick, tc.flags...)...)
				first := errs[0]
				if code != 125 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
					!strings.Contains(stderr, "cannot apply resources."+first.Limit) || !strings.Contains(stderr, first.Fix) {
					t.Errorf("refusal: exit %d, stderr %q; want 125 and one line naming resources.%s and the fix %q", code, stderr, first.Limit, first.Fix)
				}
				code, stderr = e.run(runArgs(quick, append(tc.flags, "--ignore-unsupported-limits")...)...)
				if code != 0 || !strings.Contains(stderr, "warning: running limitsquick without resources."+first.Limit) {
					t.Errorf("--ignore-unsupported-limits: exit %d, stderr %q; want 0 and a warning", code, stderr)
				}
				return
			}
			s := e.start(runArgs(sleeper, tc.flags...)...)
			ref := groupOf(t, s)
			path, got, want, err := cgrouptest.Applied(ref, tc.key, tc.limits)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s = %q, want %q", path, got, want)
			}
			s.cmd.Process.Signal(syscall.SIGTERM)
			s.cmd.Wait()
			assertGone(t, ref, "after the app exited")
		})
	}
}

// TestRunMemoryHog: an app that allocates past its memory limit is killed
// by the OOM killer; nook says so in one line and exits 137; the host
// (this test, a canary process) is unaffected.
func TestRunMemoryHog(t *testing.T) {
	e := newE2E(t)
	hog := e.profile("hog", "", "/probe/probe", "hog", "1024")
	canary := exec.Command("sleep", "60")
	if err := canary.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { canary.Process.Kill(); canary.Wait() }()
	for _, tc := range []struct {
		name   string
		flags  []string
		limits cgroup.Limits
	}{
		{"memory", []string{"--memory", "64M"}, cgroup.Limits{Memory: 64 << 20}},
		{"memory without swap", []string{"--memory", "64M", "--memory-swap", "0"}, cgroup.Limits{Memory: 64 << 20, MemorySwap: 64 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needLimits(t, tc.limits)
			e := *e
			e.t = t
			code, stderr := e.run(runArgs(hog, tc.flags...)...)
			if code != 137 || !strings.Contains(stderr, "hog was killed: out of memory (limit 64 MiB)") {
				t.Errorf("exit %d, stderr %q; want 137 and \"hog was killed: out of memory (limit 64 MiB)\"", code, stderr)
			}
			if err := canary.Process.Signal(syscall.Signal(0)); err != nil {
				t.Errorf("a host process died with the hog: %v", err)
			}
		})
	}
	// Without a limit the same hog gets its 1 GiB: the limit made the difference.
	code, stderr := e.run("run", hog)
	if code != 0 {
		t.Errorf("unlimited hog: exit %d, stderr %q", code, stderr)
	}
}

// cpuUsageNS reads the group's CPU time.
func cpuUsageNS(t *testing.T, ref cgroup.Ref) uint64 {
	t.Helper()
	var n uint64
	var err error
	if ref.Manager == cgroup.FSv1 {
		var b []byte
		b, err = os.ReadFile(filepath.Join(ref.Paths["cpuacct"], "cpuacct.usage"))
		if err == nil {
			n, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
	} else {
		var b []byte
		b, err = os.ReadFile(filepath.Join(ref.Paths["unified"], "cpu.stat"))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				n, err = strconv.ParseUint(v, 10, 64)
				n *= 1000
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hostIdle reads the host's idle CPU time (idle + iowait) and total CPU
// time from /proc/stat, in clock ticks summed over all CPUs.
func hostIdle(t *testing.T) (idle, total uint64) {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseUint(f, 10, 64)
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return idle, total
}

// TestRunCPUQuota: two busy threads at cpus = 0.5 get about half a core
// over four seconds, measured by the group's CPU accounting: never more
// than the quota allows, and at least 0.35 when the host had the room.
func TestRunCPUQuota(t *testing.T) {
	l := cgroup.Limits{CPUQuota: 50000, CPUPeriod: 100000}
	needLimits(t, l)
	e := newE2E(t)
	s := e.start(runArgs(e.profile("spin", "", "/probe/probe", "spin", "2", "4"), "--cpus", "0.5")...)
	ref := groupOf(t, s)
	u0, t0 := cpuUsageNS(t, ref), time.Now()
	i0, all0 := hostIdle(t)
	result := s.line(t)
	u1, t1 := cpuUsageNS(t, ref), time.Now()
	i1, all1 := hostIdle(t)
	cores := float64(u1-u0) / float64(t1.Sub(t0).Nanoseconds())
	// What the spinner could have had: the host's idle cores plus its own.
	ncpu := float64(runtime.NumCPU())
	room := float64(i1-i0)/float64(all1-all0)*ncpu + cores
	t.Logf("cpus = 0.5: the group used %.3f cores over %.2f s; the host had %.2f cores free for it (probe: %s)", cores, t1.Sub(t0).Seconds(), room, result)
	switch {
	case cores > 0.65:
		t.Errorf("the group used %.3f cores, more than its quota of 0.5 allows (0.65 with tolerance)", cores)
	case cores < 0.35 && room >= 0.6:
		t.Errorf("the group used %.3f cores though %.2f were free; want about 0.5 (at least 0.35)", cores, room)
	case cores < 0.35:
		t.Logf("the host was too busy (%.2f cores free) to show the quota's lower side; only the cap is checked", room)
	}
}

// TestRunPidsLimit: a fork loop stops at pids; with a high limit it does not.
func TestRunPidsLimit(t *testing.T) {
	needLimits(t, cgroup.Limits{PIDs: 40})
	e := newE2E(t)
	bomb := e.profile("forkbomb", "", "/probe/probe", "forkbomb", "200")
	for _, tc := range []struct {
		pids    string
		limited bool
	}{{"40", true}, {"1000", false}} {
		t.Run(tc.pids, func(t *testing.T) {
			cmd := e.command(runArgs(bomb, "--pids", tc.pids)...)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("nook: %v", err)
			}
			var got struct {
				Forked int
				Error  string
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("probe output %q: %v", out, err)
			}
			if tc.limited && (got.Forked >= 40 || got.Error != "EAGAIN") {
				t.Errorf("pids = 40: forked %d, stopped by %q; want fewer than 40, EAGAIN", got.Forked, got.Error)
			}
			if !tc.limited && (got.Forked != 200 || got.Error != "") {
				t.Errorf("pids = 1000: forked %d, stopped by %q; want all 200", got.Forked, got.Error)
			}
		})
	}
}

// TestRunCgroupInside: the app sees its cpuset in /proc/self/status, and a
// cgroup namespace rooted at its own group in /proc/self/cgroup, with
// limits (its own group) and without (the launcher's).
func TestRunCgroupInside(t *testing.T) {
	e := newE2E(t)
	read := func(t *testing.T, file string, flags ...string) string {
		return e.readInside(t, file, runArgs(e.profile("reader", "", "/probe/probe", "read", file), flags...)...)
	}
	t.Run("cpuset", func(t *testing.T) {
		needLimits(t, cgroup.Limits{CPUSet: "0"})
		if status := read(t, "/proc/self/status", "--cpuset", "0"); !strings.Contains(status, "Cpus_allowed_list:\t0\n") {
			t.Errorf("--cpuset 0: /proc/self/status inside has no \"Cpus_allowed_list:\\t0\":\n%s", status)
		}
	})
	for _, tc := range []struct {
		name  string
		flags []string
	}{{"own group", []string{"--pids", "100"}}, {"no limits", nil}} {
		t.Run("cgroupns "+tc.name, func(t *testing.T) {
			if tc.flags != nil {
				needLimits(t, cgroup.Limits{PIDs: 100})
			}
			cg := read(t, "/proc/self/cgroup", tc.flags...)
			for _, line := range strings.Split(strings.TrimSpace(cg), "\n") {
				if !strings.HasSuffix(line, ":/") {
					t.Errorf("/proc/self/cgroup inside has %q; want every group at the namespace root \"/\"\n%s", line, cg)
				}
			}
		})
	}
}

// TestKilledLauncherCgroupCollected: when the launcher is SIGKILLed its
// sandbox dies; the cgroup left behind is removed by the next nook call.
func TestKilledLauncherCgroupCollected(t *testing.T) {
	needLimits(t, cgroup.Limits{PIDs: 100})
	// Its own runtime directory: a nook call of another test would
	// collect the group too soon.
	e := newStateE2E(t)
	s := e.e2e.start(runArgs(e.profile("victim", "", "/probe/probe", "sleep", "60"), "--pids", "100")...)
	ref := groupOf(t, s)
	s.cmd.Process.Kill()
	s.cmd.Wait()
	if !gone(s.init, 3*time.Second) {
		t.Fatalf("init %d survived its launcher", s.init)
	}
	// cgroupfs groups stay until a nook call collects them; systemd
	// removes an emptied scope itself.
	if m, err := cgroup.New(testManager()); err == nil && m.Name() != cgroup.Systemd {
		for _, dir := range ref.Paths {
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("cgroup %s is gone before any nook call (%v); nothing should have removed it yet", dir, err)
			}
		}
	}
	if code, stderr := e.run("ps"); code != 0 {
		t.Fatalf("nook ps: exit %d: %s", code, stderr)
	}
	assertGone(t, ref, "after the launcher was SIGKILLed and nook ps ran")
}

// TestRunBadLimitFlags: flag values are checked by the profile's rules.
func TestRunBadLimitFlags(t *testing.T) {
	e := newE2E(t)
	p := e.profile("flags", "", "/probe/probe", "exit", "0")
	for _, tc := range []struct {
		flags []string
		msg   string
	}{
		{[]string{"--memory", "lots"}, `--memory: resources.memory = "lots": not a size`},
		{[]string{"--cpus", "0"}, "--cpus: resources.cpus = 0: must be more than 0"},
		{[]string{"--cpus", "x"}, `--cpus "x": must be a number of cores`},
		{[]string{"--cpuset", "3-1"}, "--cpuset: resources.cpuset"},
		{[]string{"--cpu-weight", "0"}, "--cpu-weight: resources.cpu_weight = 0: must be from 1 to 10000"},
		{[]string{"--pids", "-1"}, "--pids: resources.pids = -1: must be more than 0"},
		{[]string{"--memory", "1G", "--memory-swap", "512M"}, "--memory-swap"},
		{[]string{"--cgroup-manager", "docker", "--pids", "10"}, `unknown cgroup manager "docker"`},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			code, stderr := e.run(append(append([]string{"run"}, tc.flags...), p)...)
			if code != 125 || !strings.Contains(stderr, tc.msg) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want 125 and one line with %q", code, stderr, tc.msg)
			}
		})
	}
}
