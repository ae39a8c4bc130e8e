package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// e2e is a scratch directory holding the probe and profiles for the nook
// binary under test.
type e2e struct {
	t    *testing.T
	nook string
	dir  string
	env  []string
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	dir := sandboxtest.ScratchDir(t)
	probe, err := os.ReadFile(sandboxtest.Probe(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "probe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe", "probe"), probe, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	return &e2e{t: t, nook: sandboxtest.Nook(t), dir: dir, env: env}
}

// profile writes a profile running the probe with args and returns its path.
func (e *e2e) profile(name, extra string, command ...string) string {
	e.t.Helper()
	q := make([]string, len(command))
	for i, c := range command {
		q[i] = strconv.Quote(c)
	}
	body := fmt.Sprintf("name = %q\ncommand = [%s]\n%s\n[filesystem]\nhome = \"ephemeral\"\n[[filesystem.mounts]]\nsource = %q\ntarget = \"/probe\"\n",
		name, strings.Join(q, ", "), extra, filepath.Join(e.dir, "probe"))
	path := filepath.Join(e.dir, name+".toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *e2e) command(args ...string) *exec.Cmd {
	if len(args) > 0 && args[0] == "run" {
		// Root's warm records live in /var/cache/nook, not in the
		// scratch directory: this launch's goes with the test.
		rec := e.warmRecord(args...)
		e.t.Cleanup(func() { os.Remove(rec) })
	}
	cmd := exec.Command(e.nook, args...)
	cmd.Env = e.env
	return cmd
}

// warmRecord is the warm record nook run with args leaves for the next
// launch (sandbox/warm.go).
func (e *e2e) warmRecord(args ...string) string {
	dir := filepath.Join(e.dir, "cache", "nook") // XDG_CACHE_HOME
	if os.Geteuid() == 0 {
		dir = "/var/cache/nook"
	}
	return filepath.Join(dir, sandbox.WarmRecordName(args))
}

// run runs nook and returns its exit code and stderr.
func (e *e2e) run(args ...string) (int, string) {
	e.t.Helper()
	cmd := e.command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

func TestRunExitCodes(t *testing.T) {
	e := newE2E(t)
	notExec := filepath.Join(e.dir, "probe", "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(e.dir, "bad.toml")
	os.WriteFile(bad, []byte("name = \"bad\"\ncommand = [\"/bin/true\"]\ncomand = 1\n"), 0o644)
	for _, tc := range []struct {
		name    string
		profile string
		want    int
		stderr  string
	}{
		{"status", e.profile("exit3", "", "/probe/probe", "exit", "3"), 3, ""},
		{"success", e.profile("true", "", "/bin/true"), 0, ""},
		{"killed by signal", e.profile("selfkill", "", "/bin/sh", "-c", "kill -9 $$"), 128 + 9, ""},
		{"not found", e.profile("missing", "", "/no/such/command"), 127, "not found"},
		{"not found on PATH", e.profile("missing2", "", "no-such-command"), 127, "not found"},
		{"not executable", e.profile("noexec", "", "/probe/not-executable"), 126, "cannot be executed"},
		{"bad profile", bad, 125, "bad.toml:3"},
		{"no such profile", "no-such-profile", 125, "no-such-profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := e.run("run", tc.profile)
			if code != tc.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.want, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.stderr)
			}
			if tc.want >= 125 && strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("error is not one line:\n%s", stderr)
			}
		})
	}
}

// startSleeper starts nook running the probe's sleep and waits until the
// app is up. It returns the command and the host pids of init and the app.
func (e *e2e) startSleeper() (*exec.Cmd, int, int) {
	t := e.t
	t.Helper()
	cmd := e.command("run", e.profile("sleeper", "", "/probe/probe", "sleep", "60"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("sleeper did not start: %q %v", line, err)
	}
	initPID := childOf(t, cmd.Process.Pid)
	return cmd, initPID, childOf(t, initPID)
}

// childOf returns the first child of pid, whichever thread created it.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	t.Fatalf("process %d has no child", pid)
	return 0
}

func gone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && bytes.HasPrefix(b[i+1:], []byte(" Z")) {
			return true // a zombie waiting for the test to reap it
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestRunForwardsSignals(t *testing.T) {
	e := newE2E(t)
	cmd, _, app := e.startSleeper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("after SIGTERM nook exited %d (%v), want %d", code, err, 128+int(syscall.SIGTERM))
	}
	if !gone(app, 2*time.Second) {
		t.Errorf("app %d still runs", app)
	}
}

// Invariant 7: when the launcher is SIGKILLed, the sandbox dies with it and
// nothing stays mounted or running.
func TestKilledLauncherLeavesNothing(t *testing.T) {
	e := newE2E(t)
	before := mountTable(t)
	cmd, initPID, app := e.startSleeper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", app))
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	if ns == self {
		t.Fatalf("app shares the test's mount namespace %s", ns)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !gone(initPID, 3*time.Second) || !gone(app, 3*time.Second) {
		t.Fatalf("sandbox survived its launcher: init %d app %d", initPID, app)
	}
	// No process is left in the sandbox's mount namespace. The kernel
	// tears a PID namespace down asynchronously, so a process may still be
	// exiting for a moment: wait for that, and name what stays.
	var left []string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left = inMountNamespace(ns)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range left {
		t.Errorf("process %s still lives in the sandbox's mount namespace %s", p, ns)
	}
	if after := mountTable(t); after != before {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Nothing left under the runtime or cache dirs but what is meant to stay.
	entries, _ := filepath.Glob(filepath.Join(e.dir, "data", "nook", "*"))
	for _, p := range entries {
		if filepath.Base(p) != "homes" {
			t.Errorf("leftover %s", p)
		}
	}
}

// inMountNamespace lists the processes whose mount namespace is ns, each
// as "PID (NAME, state S, parent PPID)".
func inMountNamespace(ns string) []string {
	var out []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if l, err := os.Readlink("/proc/" + p.Name() + "/ns/mnt"); err != nil || l != ns {
			continue
		}
		desc := p.Name()
		if b, err := os.ReadFile("/proc/" + p.Name() + "/status"); err == nil {
			f := map[string]string{}
			for _, line := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok {
					f[k] = strings.TrimSpace(v)
				}
			}
			desc += fmt.Sprintf(" (%s, state %s, parent %s)", f["Name"], f["State"], f["PPid"])
		}
		out = append(out, desc)
	}
	return out
}

func mountTable(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunWithClosedStdin: started with descriptor 0 closed (a launcher may
// do that), nook gives the app /dev/null, not one of its own pipes, so an
// app that reads its stdin gets end-of-file at once.
func TestRunWithClosedStdin(t *testing.T) {
	e := newE2E(t)
	p := e.profile("stdin", "", "/bin/sh", "-c", "readlink /proc/self/fd/0; cat; echo read-all")
	cmd := exec.Command("/bin/sh", "-c", `exec "$0" run "$1" <&-`, e.nook, p)
	cmd.Env = e.env
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("nook run with stdin closed: %v; stderr %q", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("nook run with stdin closed hangs (the app reads a pipe of nook's?); stdout %q", out.String())
	}
	if got := out.String(); got != "/dev/null\nread-all\n" {
		t.Errorf("app's stdin and output: %q, want /dev/null then read-all", got)
	}
}

// TestRunManyArguments: a command line of 150,000 arguments, which the
// kernel's limit on exec allows, reaches the app whole (init keeps long
// argument lists off its 1 MiB stack), and so does the next one, started
// from the warm record the first left.
func TestRunManyArguments(t *testing.T) {
	e := newE2E(t)
	p := e.profile("many", "", "/bin/sh", "-c", `echo $#`, "sh")
	args := []string{"run", p, "--"}
	for i := 0; i < 150000; i++ {
		args = append(args, "a")
	}
	for i := 0; i < 2; i++ {
		if code, out, stderr := e.outputs(args...); code != 0 || out != "150000\n" {
			t.Fatalf("launch %d: exit %d, stdout %q, stderr %q; want the app to count 150000 arguments", i, code, out, stderr)
		}
	}
}

// Invariant 7: when the app exits, what it left running in the sandbox
// goes too, after nook has returned (init ends the sandbox once nook's
// exit closes its go-ahead pipe).
func TestRunLeavesNoProcesses(t *testing.T) {
	e := newE2E(t)
	const mark = "4711.5"
	p := e.profile("leaver", "", "/bin/sh", "-c", "sleep "+mark+" & sleep 0.2; exit 0") // the sleep has run by the exit
	if code, stderr := e.run("run", p); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	left := func() []string {
		var pids []string
		procs, _ := os.ReadDir("/proc")
		for _, d := range procs {
			b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
			if err == nil && bytes.Equal(b, []byte("sleep\x00"+mark+"\x00")) {
				pids = append(pids, d.Name())
			}
		}
		return pids
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(left()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pids := left(); len(pids) > 0 {
		t.Errorf("the app's background sleep %v outlived nook run", pids)
	}
}

// nook run's constructor keeps the launcher and the prestarted init on
// different CPUs while both start (sandbox/spawn.c, steer); the app must
// not inherit that: it may run on every CPU nook may.
func TestRunAppKeepsCPUs(t *testing.T) {
	e := newE2E(t)
	want := cpusAllowed(t, "/proc/self/status")
	data := e.readInside(t, "/proc/self/status", "run", e.profile("cpus", "", "/probe/probe", "read", "/proc/self/status"))
	if have := cpusAllowedIn(t, data); have != want {
		t.Errorf("the app may run on CPUs %s, nook on %s", have, want)
	}
}

// readInside runs nook with args, whose app is the probe reading file, and
// returns what it read.
func (e *e2e) readInside(t *testing.T, file string, args ...string) string {
	t.Helper()
	cmd := e.command(args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nook: %v", err)
	}
	var got struct{ Data, Error string }
	if err := json.Unmarshal(out, &got); err != nil || got.Error != "" {
		t.Fatalf("probe read %s: %q %v", file, out, err)
	}
	return got.Data
}

func cpusAllowed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return cpusAllowedIn(t, string(b))
}

func cpusAllowedIn(t *testing.T, status string) string {
	t.Helper()
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list in %q", status)
	return ""
}
