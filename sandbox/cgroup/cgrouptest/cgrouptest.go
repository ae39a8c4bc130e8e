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
	p.release() // sh execs sleep: CPU time and memory charged to the group
	var st cgroup.Stats
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, err = g2.Stats(); err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if st.MemoryUsage > 0 && st.CPUUsageNS > 0 || time.Now().After(deadline) {
			break
		}
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

// limitCases are one limit each, as the profile key names them.
var limitCases = []struct {
	key    string
	limits cgroup.Limits
}{
	{"memory", cgroup.Limits{Memory: 64 << 20}},
	{"memory_swap", cgroup.Limits{Memory: 64 << 20, MemorySwap: 96 << 20}},
	{"cpus", cgroup.Limits{CPUQuota: 50000, CPUPeriod: 100000}},
	{"cpuset", cgroup.Limits{CPUSet: "0"}},
	{"cpu_weight", cgroup.Limits{CPUWeight: 50}},
	{"pids", cgroup.Limits{PIDs: 33}},
	{"io_weight", cgroup.Limits{IOWeight: 500}},
}

// RefOf returns a reference to the cgroup pid is in, as cgroupfs sees it
// (cgroupfs-v1 paths by controller, or the cgroupfs-v2 directory; a
// systemd scope reads as the latter). Tests use it to find the group of a
// sandbox nook started.
func RefOf(pid int) (cgroup.Ref, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return cgroup.Ref{}, err
	}
	ref := cgroup.Ref{Manager: cgroup.FSv1, Paths: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if cgroup.Unified() && parts[0] == "0" {
			return cgroup.Ref{Manager: cgroup.FSv2, Paths: map[string]string{"unified": filepath.Join("/sys/fs/cgroup", parts[2])}}, nil
		}
		for _, c := range strings.Split(parts[1], ",") {
			switch c {
			case "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio":
				ref.Paths[c] = filepath.Join("/sys/fs/cgroup", c, parts[2])
			}
		}
	}
	return ref, nil
}

// Applied reads the cgroup file that holds limit key of l in the group ref
// names and returns its path, its content and the content l asks for.
func Applied(ref cgroup.Ref, key string, l cgroup.Limits) (path, got, want string, err error) {
	v2 := ref.Manager != cgroup.FSv1
	dir := func(c string) string {
		if v2 {
			return ref.Paths["unified"]
		}
		return ref.Paths[c]
	}
	var c, file string
	switch key {
	case "memory":
		c, file, want = "memory", "memory.limit_in_bytes", fmt.Sprint(l.Memory)
		if v2 {
			file = "memory.max"
		}
	case "memory_swap":
		c, file, want = "memory", "memory.memsw.limit_in_bytes", fmt.Sprint(l.MemorySwap)
		if v2 {
			file, want = "memory.swap.max", fmt.Sprint(l.MemorySwap-l.Memory)
		}
	case "cpus":
		c, file, want = "cpu", "cpu.cfs_quota_us", fmt.Sprint(l.CPUQuota)
		if v2 {
			file, want = "cpu.max", fmt.Sprintf("%d %d", l.CPUQuota, l.CPUPeriod)
		}
	case "cpuset":
		c, file, want = "cpuset", "cpuset.cpus", l.CPUSet
	case "cpu_weight":
		c, file, want = "cpu", "cpu.shares", fmt.Sprint(l.SharesV1())
		if v2 {
			file, want = "cpu.weight", fmt.Sprint(l.CPUWeight)
		}
	case "pids":
		c, file, want = "pids", "pids.max", fmt.Sprint(l.PIDs)
	case "io_weight":
		c = "blkio"
		switch {
		case v2 && exists(filepath.Join(dir(c), "io.weight")):
			file, want = "io.weight", fmt.Sprintf("default %d", l.IOWeight)
		case v2:
			file, want = "io.bfq.weight", fmt.Sprintf("default %d", l.IOWeight)
		case exists(filepath.Join(dir(c), "blkio.weight")):
			file, want = "blkio.weight", fmt.Sprint(l.BlkIOWeight(true))
		default:
			file, want = "blkio.bfq.weight", fmt.Sprint(l.BlkIOWeight(false))
		}
	default:
		return "", "", "", fmt.Errorf("unknown limit %q", key)
	}
	path = filepath.Join(dir(c), file)
	b, err := os.ReadFile(path)
	got = strings.TrimSpace(string(b))
	if key == "io_weight" && !strings.HasPrefix(got, "default") && strings.HasPrefix(want, "default ") {
		want = strings.TrimPrefix(want, "default ") // io.bfq.weight on older kernels
	}
	return path, got, want, err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
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
			ref := g.Ref()
			if ref.Manager == cgroup.Systemd {
				ref.Manager = cgroup.FSv2
			}
			path, got, want, err := Applied(ref, tc.key, tc.limits)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s = %q, want %q", path, got, want)
			}
			// The group /proc says the process is in is the one Ref names.
			seen, err := RefOf(p.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			if _, got2, _, _ := Applied(seen, tc.key, tc.limits); got2 != got {
				t.Errorf("RefOf(pid) reads %q for %s, the group reads %q", got2, tc.key, got)
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
	// A shell keeps the group alive after the hog is killed, as nook's
	// init does for an app: a systemd scope is removed with its last
	// process, and the count must be read before that.
	status := filepath.Join(t.TempDir(), "status")
	p := startGated(t, "/bin/sh", "-c", `"$0" hog 512; echo "$?" >"$1"; exec sleep 60`, sandboxtest.Probe(t), status)
	g := create(t, m, spec(p, l))
	p.release()
	var got string
	for deadline := time.Now().Add(30 * time.Second); got == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(status)
		got = strings.TrimSpace(string(b))
	}
	if got != "137" {
		t.Fatalf("hog in a 32 MiB group ended with status %q, want 137 (SIGKILL)", got)
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
		if m.Name() == cgroup.Systemd && errors.Is(err, cgroup.ErrNotExist) {
			break // systemd removed the emptied scope
		}
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
	// systemd may have removed the emptied scope already: Open says so,
	// and Destroy is still fine.
	g2, err := cgroup.Open(ref)
	if err != nil && !(m.Name() == cgroup.Systemd && errors.Is(err, cgroup.ErrNotExist)) {
		t.Fatalf("Open: %v", err)
	}
	if err := g2.Destroy(); err != nil {
		t.Fatalf("Destroy of an empty group: %v", err)
	}
	if err := gone(ref); err != nil {
		t.Error(err)
	}
}
