package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hybridV2 is the v2 manager on a hybrid host's cgroup2 mount, or a skip
// saying why there is none this test may use.
func hybridV2(t *testing.T, mount string) *v2Manager {
	t.Helper()
	if Unified() {
		t.Skip("no hybrid cgroup layout (v1 controllers beside a controller-less cgroup2 mount) on this host; TestManagers/cgroupfs-v2 runs the whole v2 suite instead")
	}
	own, err := ownCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := own[""]; !ok || !exists(mount+"/cgroup.procs") {
		t.Skip("no cgroup2 hierarchy mounted at " + mount + " (kernel or host without hybrid cgroup v2)")
	}
	m := newV2In(mount, own[""])
	if errs := m.Check(Limits{}); len(errs) != 0 {
		t.Fatalf("Check of no limits: %v", errs)
	}
	if !writable(m.base) {
		if os.Geteuid() == 0 {
			t.Fatalf("%s is not writable as root", m.base)
		}
		if _, err := m.Create(Spec{App: "v2", Instance: "x", PID: os.Getpid()}); err == nil {
			t.Fatal("Create in a group this user may not write succeeded")
		}
		t.Skipf("%s is not writable by uid %d: cgroup v2 here is not delegated to this user", m.base, os.Geteuid())
	}
	return m
}

// TestV2OnHybrid drives the cgroupfs v2 manager on a hybrid host's
// controller-less cgroup2 mount (/sys/fs/cgroup/unified): no limits can be
// set there, but creating, placing, counting CPU, Kill (cgroup.kill) and
// Destroy are the v2 code paths. On a unified host the shared suite covers
// all of it (TestManagers/cgroupfs-v2).
func TestV2OnHybrid(t *testing.T) {
	const mount = "/sys/fs/cgroup/unified"
	m := hybridV2(t, mount)
	cmd := exec.Command("/bin/sh", "-c", "sleep 60 & while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	g, err := m.Create(Spec{App: "v2test", Instance: fmt.Sprint(os.Getpid()), PID: cmd.Process.Pid})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer g.Destroy()
	ref := g.Ref()
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	rel := strings.TrimPrefix(ref.Paths["unified"], mount)
	if !strings.Contains(string(b), "0::"+rel+"\n") {
		t.Fatalf("/proc/PID/cgroup does not show %s:\n%s", rel, b)
	}
	g2, err := Open(ref)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// The busy shell accumulates CPU time; cpu.stat exists in every v2 group.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := g2.Stats()
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if st.CPUUsageNS > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a busy shell's group counts no CPU time")
		}
	}
	if err := g2.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := cmd.Wait(); err == nil {
		t.Error("the shell survived Kill")
	}
	if err := g2.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if exists(ref.Paths["unified"]) {
		t.Errorf("%s left behind", ref.Paths["unified"])
	}
	if _, err := Open(ref); !errors.Is(err, ErrNotExist) {
		t.Errorf("Open after Destroy: %v, want ErrNotExist", err)
	}
}

func TestV2Ancestors(t *testing.T) {
	tests := []struct {
		base string
		want []string
	}{
		{"/cg", nil},
		{"/cg/system.slice", []string{"/cg"}},
		{"/cg/user.slice/user-1000.slice/user@1000.service/app.slice", []string{"/cg", "/cg/user.slice", "/cg/user.slice/user-1000.slice", "/cg/user.slice/user-1000.slice/user@1000.service"}},
	}
	for _, tc := range tests {
		m := &v2Manager{base: tc.base, mount: "/cg"}
		if got := m.ancestors(); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("ancestors of %s = %q, want %q", tc.base, got, tc.want)
		}
	}
}

// TestV2Enable checks what enable writes, on plain files standing in for
// cgroup.controllers and cgroup.subtree_control.
func TestV2Enable(t *testing.T) {
	tests := []struct {
		controllers, on string
		want            []string
		wrote           string // "" means the file is untouched
	}{
		{"cpu memory pids io", "memory pids", []string{"memory", "pids", "cpu"}, "+cpu"},
		{"cpu memory pids", "memory pids cpu", []string{"memory", "cpu"}, ""},
		{"memory pids", "", []string{"memory", "cpuset"}, "+memory"},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		os.WriteFile(dir+"/cgroup.controllers", []byte(tc.controllers+"\n"), 0o644)
		os.WriteFile(dir+"/cgroup.subtree_control", []byte(tc.on+"\n"), 0o444) // read-only: a write must not happen unless needed
		err := enable(dir, tc.want)
		b, _ := os.ReadFile(dir + "/cgroup.subtree_control")
		switch {
		case tc.wrote == "" && (err != nil || string(b) != tc.on+"\n"):
			t.Errorf("%q on %q: wrote %q, %v; want nothing written", tc.want, tc.on, b, err)
		case tc.wrote != "" && os.Geteuid() == 0 && string(b) != tc.wrote:
			t.Errorf("%q on %q: wrote %q, want %q", tc.want, tc.on, b, tc.wrote)
		case tc.wrote != "" && os.Geteuid() != 0 && err == nil:
			t.Errorf("%q on %q: no write attempted (want %q)", tc.want, tc.on, tc.wrote)
		}
	}
}

// TestWatchKey follows cgroup.events of a group on the hybrid cgroup2
// mount: "populated" goes to 1 when a process is placed, the watcher keeps
// that after the process exits, and it stops when the group is removed.
// (The systemd group watches memory.events' oom_kill the same way.)
func TestWatchKey(t *testing.T) {
	const mount = "/sys/fs/cgroup/unified"
	m := hybridV2(t, mount)
	cmd := exec.Command("/bin/sh", "-c", "read x")
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	dir := filepath.Join(m.base, "nook-watch-"+fmt.Sprint(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer removeDir(dir)
	var seen atomic.Uint64
	done := watchKey(dir, "cgroup.events", "populated", &seen)
	if done == nil {
		t.Fatal("watchKey could not watch cgroup.events")
	}
	if err := writeFile(dir, "cgroup.procs", fmt.Sprint(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); seen.Load() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher never saw populated 1")
		}
	}
	in.Close() // sh exits: populated goes back to 0, the watcher keeps 1
	cmd.Wait()
	if err := removeDir(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the watcher did not stop when the group was removed")
	}
}
