// Package cgrouptest is the test suite every cgroup manager must pass. Run
// it against each manager the host has; a manager the host lacks is a skip
// that names the missing feature.
package cgrouptest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// Run runs the suite against m.
func Run(t *testing.T, m cgroup.Manager) {
	if errs := m.Check(cgroup.Limits{PIDs: 64}); len(errs) > 0 {
		// The manager cannot make groups at all here: the refusal must be
		// one clear sentinel error, and nothing else can be tested.
		testRefusal(t, m, cgroup.Limits{PIDs: 64}, errs)
		t.Skipf("%s cannot create cgroups here: %s", m.Name(), errs[0].Reason)
	}
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, m) })
	t.Run("Limits", func(t *testing.T) { testLimits(t, m) })
	t.Run("OOM", func(t *testing.T) { testOOM(t, m) })
	t.Run("Kill", func(t *testing.T) { testKill(t, m) })
	t.Run("DestroyAfterExit", func(t *testing.T) { testDestroyAfterExit(t, m) })
}

// gated is a process that waits on its stdin before exec'ing args: the
// caller places it in a group first.
type gated struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

func startGated(t *testing.T, args ...string) *gated {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `read x; exec "$@"`, "sh"}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return &gated{cmd, in}
}

func (g *gated) release() { g.in.Write([]byte("\n")) }

var seq int

func spec(p *gated, l cgroup.Limits) cgroup.Spec {
	seq++
	return cgroup.Spec{App: "cgrouptest@v1", Instance: fmt.Sprintf("%d-%d", os.Getpid(), seq), PID: p.cmd.Process.Pid, Limits: l}
}

func create(t *testing.T, m cgroup.Manager, s cgroup.Spec) cgroup.Group {
	t.Helper()
	g, err := m.Create(s)
	if err != nil {
		t.Fatalf("Create(%+v): %v", s.Limits, err)
	}
	t.Cleanup(func() { g.Destroy() })
	return g
}

// inGroup reports whether pid's /proc/PID/cgroup names every path of ref.
func inGroup(t *testing.T, pid int, ref cgroup.Ref) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range ref.Paths {
		suffix := dir[strings.LastIndex(dir, "/"):]
		if !strings.Contains(string(b), suffix+"\n") {
			t.Logf("/proc/%d/cgroup:\n%s", pid, b)
			return false
		}
	}
	return true
}

func gone(ref cgroup.Ref) error {
	for _, dir := range ref.Paths {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s still exists (%v)", dir, err)
		}
	}
	return nil
}

func testLifecycle(t *testing.T, m cgroup.Manager) {
	p := startGated(t, "sleep", "60")
	g := create(t, m, spec(p, cgroup.Limits{PIDs: 64, Memory: 256 << 20}))
	ref := g.Ref()
	if ref.Manager != m.Name() || len(ref.Paths) == 0 {
		t.Fatalf("Ref() = %+v, want manager %s and paths", ref, m.Name())
	}
	if !inGroup(t, p.cmd.Process.Pid, ref) {
		t.Fatalf("pid %d is not in its group %v", p.cmd.Process.Pid, ref.Paths)
	}
	// A reference survives JSON and reopens the same group.
	b, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	var back cgroup.Ref
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	g2, err := cgroup.Open(back)
	if err != nil {
		t.Fatalf("Open(%s): %v", b, err)
	}
	p.release()
	time.Sleep(50 * time.Millisecond)
	st, err := g2.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.PIDs < 1 || st.PIDsLimit != 64 || st.MemoryLimit != 256<<20 || st.MemoryUsage == 0 || st.CPUUsageNS == 0 {
		t.Errorf("Stats = %+v, want pids >= 1 of 64, memory > 0 of 256 MiB, cpu > 0", st)
	}
	if err := g2.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := gone(ref); err != nil {
		t.Error(err)
	}
	if err := p.cmd.Wait(); err == nil {
		t.Error("the process in the destroyed group exited 0; want it killed")
	}
	if err := g.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := cgroup.Open(ref); !errors.Is(err, cgroup.ErrNotExist) {
		t.Errorf("Open after Destroy = %v, want ErrNotExist", err)
	}
}

// limitCase is one limit and the file values that prove it, per manager.
type limitCase struct {
	key    string
	limits cgroup.Limits
	want   map[string][2]string // manager -> file (relative to the controller's dir), content
}

var limitCases = []limitCase{
	{"memory", cgroup.Limits{Memory: 64 << 20}, map[string][2]string{
		cgroup.FSv1: {"memory/memory.limit_in_bytes", "67108864"}, cgroup.FSv2: {"memory.max", "67108864"}}},
	{"memory_swap", cgroup.Limits{Memory: 64 << 20, MemorySwap: 96 << 20}, map[string][2]string{
		cgroup.FSv1: {"memory/memory.memsw.limit_in_bytes", "100663296"}, cgroup.FSv2: {"memory.swap.max", "33554432"}}},
	{"cpus", cgroup.Limits{CPUQuota: 50000, CPUPeriod: 100000}, map[string][2]string{
		cgroup.FSv1: {"cpu/cpu.cfs_quota_us", "50000"}, cgroup.FSv2: {"cpu.max", "50000 100000"}}},
	{"cpuset", cgroup.Limits{CPUSet: "0"}, map[string][2]string{
		cgroup.FSv1: {"cpuset/cpuset.cpus", "0"}, cgroup.FSv2: {"cpuset.cpus", "0"}}},
	{"cpu_weight", cgroup.Limits{CPUWeight: 50}, map[string][2]string{
		cgroup.FSv1: {"cpu/cpu.shares", "512"}, cgroup.FSv2: {"cpu.weight", "50"}}},
	{"pids", cgroup.Limits{PIDs: 33}, map[string][2]string{
		cgroup.FSv1: {"pids/pids.max", "33"}, cgroup.FSv2: {"pids.max", "33"}}},
	{"io_weight", cgroup.Limits{IOWeight: 500}, map[string][2]string{
		cgroup.FSv1: {"blkio/blkio.bfq.weight", "500"}, cgroup.FSv2: {"io.weight", "default 500"}}},
}

// readApplied reads the value of file (as in limitCases) in group ref.
func readApplied(ref cgroup.Ref, file string) (string, error) {
	var path string
	if ref.Manager == cgroup.FSv1 {
		c, f, _ := strings.Cut(file, "/")
		path = filepath.Join(ref.Paths[c], f)
		if c == "blkio" {
			if _, err := os.Stat(filepath.Join(ref.Paths[c], "blkio.weight")); err == nil {
				path = filepath.Join(ref.Paths[c], "blkio.weight")
			}
		}
	} else {
		path = filepath.Join(ref.Paths["unified"], file)
		if file == "io.weight" {
			if _, err := os.Stat(path); err != nil {
				path = filepath.Join(ref.Paths["unified"], "io.bfq.weight")
			}
		}
	}
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

func testLimits(t *testing.T, m cgroup.Manager) {
	for _, tc := range limitCases {
		t.Run(tc.key, func(t *testing.T) {
			if errs := m.Check(tc.limits); len(errs) > 0 {
				testRefusal(t, m, tc.limits, errs)
				t.Skipf("%s cannot apply %s here: %s", m.Name(), tc.key, errs[len(errs)-1].Reason)
			}
			p := startGated(t, "sleep", "60")
			g := create(t, m, spec(p, tc.limits))
			manager := m.Name()
			if manager == cgroup.Systemd {
				manager = cgroup.FSv2
			}
			want := tc.want[manager]
			got, err := readApplied(g.Ref(), want[0])
			if err != nil {
				t.Fatal(err)
			}
			// io.weight reads "default 500" on v2, bfq's file "default 500" too on newer kernels.
			if got != want[1] && !(tc.key == "io_weight" && strings.HasSuffix(got, strings.Fields(want[1])[len(strings.Fields(want[1]))-1])) {
				t.Errorf("%s = %q, want %q", want[0], got, want[1])
			}
		})
	}
}

// testRefusal checks that Create refuses limits Check refused, with the
// sentinel error and a one-line message naming the limit and a fix.
func testRefusal(t *testing.T, m cgroup.Manager, l cgroup.Limits, errs []*cgroup.UnsupportedError) {
	t.Helper()
	for _, e := range errs {
		if !errors.Is(e, cgroup.ErrUnsupported) || e.Limit == "" || e.Reason == "" || e.Fix == "" || strings.Contains(e.Error(), "\n") {
			t.Errorf("Check error %q is not a one-line ErrUnsupported with limit, reason and fix", e)
		}
	}
	p := startGated(t, "true")
	if g, err := m.Create(spec(p, l)); !errors.Is(err, cgroup.ErrUnsupported) {
		if g != nil {
			g.Destroy()
		}
		t.Errorf("Create with limits Check refused = %v, want ErrUnsupported", err)
	}
}

func testOOM(t *testing.T, m cgroup.Manager) {
	l := cgroup.Limits{Memory: 32 << 20, MemorySwap: 32 << 20}
	if len(m.Check(l)) > 0 {
		l.MemorySwap = 0 // no swap accounting: the hog may swap, but the host here has
	}
	if errs := m.Check(l); len(errs) > 0 {
		t.Skipf("%s cannot limit memory here: %s", m.Name(), errs[0].Reason)
	}
	p := startGated(t, sandboxtest.Probe(t), "hog", "512")
	g := create(t, m, spec(p, l))
	p.release()
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("hog in a 32 MiB group ended with %v, want SIGKILL", err)
	}
	n, err := g.OOMKills()
	if err != nil || n < 1 {
		t.Errorf("OOMKills = %d, %v; want >= 1", n, err)
	}
	if st, err := g.Stats(); err != nil || st.OOMKills != n {
		t.Errorf("Stats().OOMKills = %d, %v; want %d", st.OOMKills, err, n)
	}
}

func testKill(t *testing.T, m cgroup.Manager) {
	p := startGated(t, "/bin/sh", "-c", "sleep 60 & sleep 60 & sleep 60 & wait")
	g := create(t, m, spec(p, cgroup.Limits{PIDs: 64}))
	p.release()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := g.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.PIDs >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group has %d processes, want 4 (sh and 3 sleeps)", st.PIDs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := p.cmd.Wait(); err == nil {
		t.Error("sh survived Kill")
	}
	// Killed tasks count until their parents reap them; sh is reaped now,
	// its sleeps by the host's init.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := g.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.PIDs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Kill: %d processes, want 0", st.PIDs)
		}
	}
}

func testDestroyAfterExit(t *testing.T, m cgroup.Manager) {
	p := startGated(t, "true")
	g := create(t, m, spec(p, cgroup.Limits{PIDs: 64}))
	ref := g.Ref()
	p.release()
	if err := p.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// Another process destroys it, as nook gc does after a launcher died.
	g2, err := cgroup.Open(ref)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := g2.Destroy(); err != nil {
		t.Fatalf("Destroy of an empty group: %v", err)
	}
	if err := gone(ref); err != nil {
		t.Error(err)
	}
}
