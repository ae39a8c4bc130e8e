package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
	"github.com/nook-sandbox/nook/sandbox/state"
)

// limited is a [resources] table the state tests run with: as root on
// this host it gives the sandbox a cgroup; rootless on cgroup v1 nook
// cannot apply it, and --ignore-unsupported-limits runs without one.
const limited = "[resources]\nmemory = \"256M\"\npids = 64\n"

// stateE2E is an e2e whose nook keeps its records in a private directory.
type stateE2E struct {
	*e2e
	runDir string
}

func newStateE2E(t *testing.T) *stateE2E {
	e := newE2E(t)
	run := filepath.Join(e.dir, "run")
	e.env = append(e.env, state.EnvDir+"="+run)
	return &stateE2E{e, run}
}

// sandboxRun is a running nook run.
type sandboxRun struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been reaped
}

// exitCode waits for the run to end and returns nook's exit status.
func (r *sandboxRun) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("nook run (pid %d) still runs", r.cmd.Process.Pid)
	}
	return r.cmd.ProcessState.ExitCode()
}

// start runs profile and waits until its app prints "ready".
func (e *stateE2E) start(profile string) *sandboxRun {
	t := e.t
	t.Helper()
	cmd := e.command("run", "--ignore-unsupported-limits", profile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sandbox did not start: %q %v\n%s", line, err, stderr.String())
	}
	r := &sandboxRun{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(r.done) }()
	// Without a cgroup, nook writes the record while the app starts
	// (sandbox.Options.Started): the app may print before it is there.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if e.hasRecord(cmd.Process.Pid) || time.Now().After(deadline) {
			break
		}
	}
	t.Cleanup(func() {
		select {
		case <-r.done:
			return
		default:
		}
		// Still running at the end of the test: kill it, and let nook gc
		// remove its record and cgroup before the state directory goes.
		cmd.Process.Kill()
		<-r.done
		gc := e.command("gc")
		if out, err := gc.CombinedOutput(); err != nil {
			t.Errorf("nook gc after the test: %v\n%s", err, out)
		}
	})
	return r
}

// sleeper writes a profile whose app sleeps after printing "ready".
func (e *stateE2E) sleeper(name, extra string) string {
	return e.profile(name, extra, "/probe/probe", "sleep", "60")
}

// records returns the live records in the test's state directory.
func (e *stateE2E) records() []*state.Record {
	e.t.Helper()
	s, err := state.Open(e.runDir)
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := s.Scan()
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Live
}

// hasRecord says whether there is a live record of launcher pid.
func (e *stateE2E) hasRecord(pid int) bool {
	e.t.Helper()
	for _, rec := range e.records() {
		if rec.Launcher.PID == pid {
			return true
		}
	}
	return false
}

// record returns the one live record of launcher pid.
func (e *stateE2E) record(r *sandboxRun) *state.Record {
	e.t.Helper()
	for _, rec := range e.records() {
		if rec.Launcher.PID == r.cmd.Process.Pid {
			return rec
		}
	}
	e.t.Fatalf("no record for nook run pid %d", r.cmd.Process.Pid)
	return nil
}

// dirNames lists the state directory.
func (e *stateE2E) dirNames() []string {
	ents, err := os.ReadDir(e.runDir)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return names
}

// output runs nook and returns its exit status, stdout and stderr.
func (e *stateE2E) output(args ...string) (int, string, string) {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// cgroupDirs returns the directories of rec's cgroup.
func cgroupDirs(rec *state.Record) []string {
	if rec.Cgroup == nil {
		return nil
	}
	var dirs []string
	for _, d := range rec.Cgroup.Paths {
		dirs = append(dirs, d)
	}
	return dirs
}

// wantCgroup says whether this host gives the test's sandboxes a cgroup:
// as root it must; rootless on cgroup v1 it cannot (no delegation).
func wantCgroup(t *testing.T, rec *state.Record) bool {
	t.Helper()
	if os.Geteuid() == 0 && rec.Cgroup == nil {
		t.Fatalf("sandbox with limits run as root has no cgroup in its record: %+v", rec)
	}
	if rec.Cgroup == nil {
		t.Logf("rootless sandbox runs without a cgroup on this host; the cgroup checks do not apply")
	}
	return rec.Cgroup != nil
}

func TestStateRecordLifecycle(t *testing.T) {
	e := newStateE2E(t)
	before := time.Now().Add(-time.Second)
	run := e.start(e.sleeper("rec-app", limited))
	rec := e.record(run)

	initPID := childOf(t, run.cmd.Process.Pid)
	launcher, _ := state.ProcOf(run.cmd.Process.Pid)
	init, _ := state.ProcOf(initPID)
	switch {
	case rec.App != "rec-app" || rec.Name != "rec-app" || rec.Version != "" || rec.Seq != 1:
		t.Errorf("identity: %+v", rec)
	case rec.Launcher != launcher || rec.Init != init:
		t.Errorf("processes %+v %+v, want launcher %+v init %+v", rec.Launcher, rec.Init, launcher, init)
	case rec.BootID != state.BootID():
		t.Errorf("boot id %q, want %q", rec.BootID, state.BootID())
	case rec.Started.Before(before) || rec.Started.After(time.Now()):
		t.Errorf("started %v, not during the test", rec.Started)
	case rec.Hostname != "rec-app":
		t.Errorf("hostname %q", rec.Hostname)
	}
	if app := state.AppPID(rec.Init); app != childOf(t, initPID) {
		t.Errorf("AppPID = %d, want init's child %d", app, childOf(t, initPID))
	}
	if wantCgroup(t, rec) {
		if rec.Limits.Memory != 256<<20 || rec.Limits.PIDs != 64 {
			t.Errorf("limits %+v, want memory 256 MiB and 64 pids", rec.Limits)
		}
		for _, d := range cgroupDirs(rec) {
			if _, err := os.Stat(d); err != nil {
				t.Errorf("recorded cgroup dir: %v", err)
			}
		}
	}
	// Only whole records under their final names, in a private directory.
	if names, want := e.dirNames(), []string{".lock", rec.ID + ".json"}; !slices.Equal(names, want) {
		t.Errorf("state directory holds %v, want %v", names, want)
	}
	if fi, err := os.Stat(e.runDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}

	run.cmd.Process.Signal(syscall.SIGTERM)
	if code := run.exitCode(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("nook exited %d, want %d", code, 128+int(syscall.SIGTERM))
	}
	if names := e.dirNames(); !slices.Equal(names, []string{".lock"}) {
		t.Errorf("after exit the state directory holds %v", names)
	}
	for _, d := range cgroupDirs(rec) {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left after exit: %v", d, err)
		}
	}
}

// Invariant 7: a SIGKILLed launcher's record and cgroup are collected by
// the next nook call, whatever it is, and by nook gc.
func TestStateCollectsKilledLauncher(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		out  string
	}{
		{"next call", []string{"profile", "list"}, ""},
		{"gc", []string{"gc"}, "removed stale sandbox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStateE2E(t)
			run := e.start(e.sleeper("victim", limited))
			rec := e.record(run)
			hasCgroup := wantCgroup(t, rec)
			run.cmd.Process.Kill()
			run.exitCode(t)
			if !gone(rec.Init.PID, 5*time.Second) {
				t.Fatalf("init %d survived its launcher", rec.Init.PID)
			}
			record := filepath.Join(e.runDir, rec.ID+".json")
			if _, err := os.Stat(record); err != nil {
				t.Fatalf("the killed launcher's record is not there to collect: %v", err)
			}
			// systemd collects an empty scope itself, so only a cgroupfs
			// group is sure to be left for nook to collect.
			if hasCgroup && rec.Cgroup.Manager != cgroup.Systemd {
				for _, d := range cgroupDirs(rec) {
					if _, err := os.Stat(d); err != nil {
						t.Fatalf("the killed launcher's cgroup %s is not there to collect: %v", d, err)
					}
				}
			}
			code, stdout, stderr := e.output(tc.args...)
			if code != 0 || !strings.Contains(stdout, tc.out) || (tc.out != "" && !strings.Contains(stdout, rec.ID)) {
				t.Errorf("nook %v: exit %d, stdout %q, stderr %q; want %q and the id", tc.args, code, stdout, stderr, tc.out)
			}
			if _, err := os.Stat(record); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("record survived nook %v: %v", tc.args, err)
			}
			for _, d := range cgroupDirs(rec) {
				if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cgroup %s survived nook %v: %v", d, tc.args, err)
				}
			}
		})
	}
}

func TestPs(t *testing.T) {
	e := newStateE2E(t)
	a1 := e.start(e.sleeper("ps-a", limited))
	a2 := e.start(e.sleeper("ps-a", limited))
	b := e.start(e.sleeper("ps-b", ""))
	ra1, ra2, rb := e.record(a1), e.record(a2), e.record(b)

	code, out, stderr := e.output("ps")
	if code != 0 || stderr != "" {
		t.Fatalf("nook ps: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME PID UPTIME MEMORY CPUS PIDS" {
		t.Fatalf("nook ps printed:\n%s", out)
	}
	for i, want := range []struct {
		rec  *state.Record
		ref  string
		mem  string
		pids string
	}{{ra1, "ps-a:1", "256 MiB", "64"}, {ra2, "ps-a:2", "256 MiB", "64"}, {rb, "ps-b:1", "-", "-"}} {
		if want.rec.Cgroup == nil {
			want.mem, want.pids = "-", "-" // rootless on cgroup v1: no limits applied
		}
		f := strings.Fields(lines[i+1])
		appPID := state.AppPID(want.rec.Init)
		got := strings.Join(slices.Delete(slices.Clone(f), 3, 4), " ") // uptime varies
		wantRow := strings.Join([]string{want.rec.ID, want.ref, strconv.Itoa(appPID), want.mem, "-", want.pids}, " ")
		if got != wantRow {
			t.Errorf("row %d: %q, want %q (uptime aside)", i+1, lines[i+1], wantRow)
		}
	}

	code, out, _ = e.output("ps", "--format", "json")
	var rows []struct {
		ID     string        `json:"id"`
		App    string        `json:"app"`
		Ref    string        `json:"ref"`
		Seq    int           `json:"seq"`
		AppPID int           `json:"appPid"`
		Uptime int64         `json:"uptimeSeconds"`
		Limits cgroup.Limits `json:"limits"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 {
		t.Fatalf("nook ps --format json: exit %d, %v:\n%s", code, err, out)
	}
	if len(rows) != 3 || rows[0].ID != ra1.ID || rows[1].Ref != "ps-a:2" || rows[2].App != "ps-b" || rows[1].Seq != 2 {
		t.Fatalf("json rows: %+v", rows)
	}
	if rows[0].AppPID != state.AppPID(ra1.Init) || rows[0].AppPID == 0 || rows[0].Limits != ra1.Limits || rows[0].Uptime < 0 {
		t.Errorf("json row %+v does not match record %+v", rows[0], ra1)
	}

	// No sandboxes: a header alone, and an empty JSON array.
	for _, r := range []*sandboxRun{a1, a2, b} {
		r.cmd.Process.Signal(syscall.SIGTERM)
		r.exitCode(t)
	}
	if _, out, _ := e.output("ps"); strings.Count(out, "\n") != 1 {
		t.Errorf("nook ps with nothing running printed:\n%s", out)
	}
	if _, out, _ := e.output("ps", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("nook ps --format json with nothing running printed %q", out)
	}
}

func TestStatsNoStream(t *testing.T) {
	e := newStateE2E(t)
	// The shell holds 24 MiB in a variable while it sleeps.
	run := e.start(e.profile("stats-app", limited, "/bin/sh", "-c",
		`x=$(head -c 25165824 /dev/zero | tr '\0' a); echo ready; sleep 60; echo ${#x}`))
	rec := e.record(run)

	code, out, stderr := e.output("stats", "--no-stream", "--format", "json")
	var rows []struct {
		ID    string `json:"id"`
		Ref   string `json:"ref"`
		Error string `json:"error"`
		*cgroup.Stats
		MemPercent float64 `json:"memPercent"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 1 {
		t.Fatalf("nook stats: exit %d, %v, stderr %q:\n%s", code, err, stderr, out)
	}
	row := rows[0]
	if row.ID != rec.ID || row.Ref != "stats-app:1" {
		t.Errorf("row names %s %s, want %s stats-app:1", row.ID, row.Ref, rec.ID)
	}
	if !wantCgroup(t, rec) {
		if row.Error == "" || row.Stats != nil {
			t.Errorf("a sandbox without a cgroup has stats %+v, error %q", row.Stats, row.Error)
		}
		return
	}
	if row.Stats == nil {
		t.Fatalf("no stats: %q", row.Error)
	}
	s := row.Stats
	if s.MemoryUsage < 24<<20 || s.MemoryLimit != 256<<20 || s.PIDs < 2 || s.PIDsLimit != 64 || s.CPUUsageNS == 0 {
		t.Errorf("stats %+v: want memory >= 24 MiB of 256 MiB, >= 2 pids of 64, some CPU time", s)
	}
	if want := float64(s.MemoryUsage) / float64(256<<20) * 100; row.MemPercent != want {
		t.Errorf("memPercent %v, want %v", row.MemPercent, want)
	}

	code, out, _ = e.output("stats", "--no-stream", "stats-app")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "/ 256 MiB") || !strings.HasPrefix(lines[1], rec.ID) {
		t.Errorf("nook stats --no-stream stats-app: exit %d:\n%s", code, out)
	}
}

func TestStop(t *testing.T) {
	e := newStateE2E(t)
	t.Run("SIGTERM honoured", func(t *testing.T) {
		run := e.start(e.sleeper("stop-term", ""))
		rec := e.record(run)
		code, out, stderr := e.output("stop", "stop-term")
		if code != 0 || strings.TrimSpace(out) != rec.ID || stderr != "" {
			t.Errorf("nook stop: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		// nook stop returns once the launcher has exited.
		if !state.Gone(rec) {
			t.Errorf("nook stop returned while the sandbox runs")
		}
		if code := run.exitCode(t); code != 128+int(syscall.SIGTERM) {
			t.Errorf("the app ended with %d, want %d (SIGTERM)", code, 128+int(syscall.SIGTERM))
		}
	})
	t.Run("SIGTERM ignored", func(t *testing.T) {
		run := e.start(e.profile("stop-deaf", "", "/bin/sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.1; done`))
		rec := e.record(run)
		code, out, stderr := e.output("stop", "--time", "1", rec.ID[:5])
		if code != 0 || strings.TrimSpace(out) != rec.ID || !strings.Contains(stderr, "killed") {
			t.Errorf("nook stop --time 1: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		if code := run.exitCode(t); code != 128+int(syscall.SIGKILL) {
			t.Errorf("the app ended with %d, want %d (SIGKILL)", code, 128+int(syscall.SIGKILL))
		}
	})
}

func TestKill(t *testing.T) {
	e := newStateE2E(t)
	for _, tc := range []struct {
		name string
		args []string
		want syscall.Signal
	}{
		{"default", nil, syscall.SIGKILL},
		{"forwarded by init", []string{"--signal", "USR1"}, syscall.SIGUSR1},
		{"straight to the app", []string{"-s", "14"}, syscall.SIGALRM},
		{"SIG prefix", []string{"--signal", "SIGHUP"}, syscall.SIGHUP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// sleep(1), unlike the Go probe, dies of every signal
			// sent here.
			app := "kill-" + strconv.Itoa(int(tc.want))
			run := e.start(e.profile(app, "", "/bin/sh", "-c", "echo ready; exec sleep 60"))
			rec := e.record(run)
			code, out, stderr := e.output(append(append([]string{"kill"}, tc.args...), app)...)
			if code != 0 || strings.TrimSpace(out) != rec.ID {
				t.Errorf("nook kill: exit %d, stdout %q, stderr %q", code, out, stderr)
			}
			if code := run.exitCode(t); code != 128+int(tc.want) {
				t.Errorf("the app ended with %d, want %d (%v)", code, 128+int(tc.want), tc.want)
			}
		})
	}
	if code, _, stderr := e.output("kill", "--signal", "NOPE", "x"); code != 125 || !strings.Contains(stderr, "unknown signal") {
		t.Errorf("bad signal: exit %d, stderr %q", code, stderr)
	}
}

func TestStateNames(t *testing.T) {
	e := newStateE2E(t)
	r1 := e.start(e.sleeper("twin", ""))
	r2 := e.start(e.sleeper("twin", ""))
	rec1, rec2 := e.record(r1), e.record(r2)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"stop", "twin"}, []string{"several running sandboxes match", rec1.ID, rec2.ID, "twin:1", "twin:2"}},
		{[]string{"kill", "twin"}, []string{"several running sandboxes match"}},
		{[]string{"stop", "nosuch"}, []string{`no running sandbox matches "nosuch"`, "nook ps"}},
		{[]string{"kill", "twin:3"}, []string{`"twin:3"`, "nook ps"}},
		{[]string{"stats", "--no-stream", "nosuch"}, []string{"nook ps"}},
	} {
		code, _, stderr := e.output(tc.args...)
		if code != 125 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("nook %v: exit %d, stderr %q; want 125 and one line", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("nook %v: stderr %q does not mention %q", tc.args, stderr, w)
			}
		}
	}
	// Both still run; APP:N names each.
	if code, out, stderr := e.output("stop", "twin:2", "twin:1"); code != 0 || out != rec2.ID+"\n"+rec1.ID+"\n" {
		t.Errorf("nook stop twin:2 twin:1: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// Records are written atomically, but the directory may still hold junk
// (a disk error, a user's editor): nook reports it and gc removes it.
func TestStateDirGarbage(t *testing.T) {
	e := newStateE2E(t)
	if code, _, stderr := e.output("gc"); code != 0 {
		t.Fatalf("nook gc on an empty directory: exit %d, %s", code, stderr)
	}
	run := e.start(e.sleeper("survivor", ""))
	rec := e.record(run)
	junk := map[string]string{
		"0123456789ab.json":  `{"schema":1,"id":"0123456789ab","app":"ha`,
		"garbage.json":       "\x7fELF",
		".tmp-999999999-1":   "{",
		"notes.txt":          "left alone",
		"ffffffffffff.json":  "",
		"aaaaaaaaaaaa.json~": "{}",
	}
	for name, body := range junk {
		if err := os.WriteFile(filepath.Join(e.runDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := e.output("ps", "--format", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 1 || rows[0]["id"] != rec.ID {
		t.Fatalf("nook ps with junk: exit %d, %v, stdout %q", code, err, out)
	}
	for _, name := range []string{"0123456789ab.json", "garbage.json", "ffffffffffff.json"} {
		if !strings.Contains(stderr, name) {
			t.Errorf("nook ps does not mention %s; stderr:\n%s", name, stderr)
		}
	}
	code, out, stderr = e.output("gc")
	if code != 0 || strings.Count(out, "removed invalid record") != 3 || strings.Count(out, "removed abandoned temporary file") != 1 {
		t.Errorf("nook gc: exit %d, stdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	want := []string{".lock", "aaaaaaaaaaaa.json~", "notes.txt", rec.ID + ".json"}
	slices.Sort(want)
	if names := e.dirNames(); !slices.Equal(names, want) {
		t.Errorf("after gc: %v, want %v", names, want)
	}
	if code, _, stderr := e.output("ps"); code != 0 || stderr != "" {
		t.Errorf("nook ps after gc: exit %d, stderr %q", code, stderr)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-5 * time.Second, "0s"},
		{59 * time.Second, "59s"},
		{61 * time.Second, "1m1s"},
		{3*time.Hour + 4*time.Minute + 5*time.Second, "3h4m"},
		{50 * time.Hour, "2d2h"},
	} {
		if got := formatDuration(tc.d); got != tc.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	for _, tc := range []struct {
		c    float64
		want string
	}{{0, "-"}, {0.5, "0.5"}, {1.5, "1.5"}, {2, "2"}} {
		if got := formatCPUs(tc.c); got != tc.want {
			t.Errorf("formatCPUs(%v) = %q, want %q", tc.c, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "-"}, {-1, "-"}, {7, "7"}} {
		if got := orDash(tc.n); got != tc.want {
			t.Errorf("orDash(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}

	rec := &state.Record{ID: "0123456789ab", App: "firefox@esr", Seq: 2,
		Limits: cgroup.Limits{Memory: 2 << 30, CPUQuota: 150000, CPUPeriod: 100000, PIDs: 512}}
	var b bytes.Buffer
	writePs(&b, []psRow{{rec, rec.Ref(), 4242, 3725}, {&state.Record{ID: "ba5eba11ba5e", App: "x", Seq: 1}, "x:1", 0, 5}})
	wantPs := `ID            NAME           PID   UPTIME  MEMORY  CPUS  PIDS
0123456789ab  firefox@esr:2  4242  1h2m    2 GiB   1.5   512
ba5eba11ba5e  x:1            -     5s      -       -     -
`
	if b.String() != wantPs {
		t.Errorf("ps table:\n%s\nwant:\n%s", b.String(), wantPs)
	}

	b.Reset()
	writeStats(&b, []statsRow{
		{ID: "0123456789ab", Ref: "firefox@esr:2", CPUPercent: 151.234, MemPercent: 25,
			Stats: &cgroup.Stats{MemoryUsage: 512 << 20, MemoryLimit: 2 << 30, PIDs: 37, IOReadBytes: 1536, IOWriteBytes: 0}},
		{ID: "ba5eba11ba5e", Ref: "x:1", Stats: &cgroup.Stats{MemoryUsage: 1 << 20, PIDs: 1}},
		{ID: "cccccccccccc", Ref: "y:1", Error: "sandbox has no cgroup"},
	})
	wantStats := `ID            NAME           CPU %    MEM USAGE / LIMIT  MEM %   PIDS  BLOCK I/O
0123456789ab  firefox@esr:2  151.23%  512 MiB / 2 GiB    25.00%  37    1.5 KiB / 0 B
ba5eba11ba5e  x:1            0.00%    1 MiB / -          -       1     0 B / 0 B
cccccccccccc  y:1            -        -                  -       -     -
`
	if b.String() != wantStats {
		t.Errorf("stats table:\n%s\nwant:\n%s", b.String(), wantStats)
	}
}

// readUntil reads r until out holds n copies of sep, or fails the test
// after a while.
func readUntil(t *testing.T, r io.Reader, sep string, n int) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		var b []byte
		buf := make([]byte, 4096)
		for strings.Count(string(b), sep) < n {
			m, err := r.Read(buf)
			b = append(b, buf[:m]...)
			if err != nil {
				break
			}
		}
		got <- string(b)
	}()
	select {
	case s := <-got:
		if strings.Count(s, sep) < n {
			t.Fatalf("output ended before %d× %q:\n%q", n, sep, s)
		}
		return s
	case <-time.After(15 * time.Second):
		t.Fatalf("no %d× %q in the output after 15s", n, sep)
	}
	return ""
}

func TestStatsStream(t *testing.T) {
	e := newStateE2E(t)
	rec := e.record(e.start(e.sleeper("stream-app", limited)))
	stats := func(t *testing.T, stdout *os.File, args ...string) (*exec.Cmd, io.Reader) {
		cmd := e.command(append([]string{"stats"}, args...)...)
		var r io.Reader
		if stdout != nil {
			cmd.Stdout = stdout
		} else {
			p, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			r = p
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, r
	}
	t.Run("json lines", func(t *testing.T) {
		_, out := stats(t, nil, "--format", "json")
		lines := strings.Split(readUntil(t, out, "\n", 2), "\n")
		for _, l := range lines[:2] {
			var rows []map[string]any
			if err := json.Unmarshal([]byte(l), &rows); err != nil || len(rows) != 1 || rows[0]["id"] != rec.ID {
				t.Errorf("line %q: %v; want a JSON array of the one sandbox", l, err)
			}
		}
	})
	t.Run("table on a pipe", func(t *testing.T) {
		_, out := stats(t, nil)
		s := readUntil(t, out, "\n\nID ", 1)
		if strings.Contains(s, "\x1b") || !strings.HasPrefix(s, "ID ") || !strings.Contains(s, rec.ID) {
			t.Errorf("two tables on a pipe, without escapes, expected:\n%q", s)
		}
	})
	t.Run("terminal", func(t *testing.T) {
		pty, tty := sandboxtest.PTY(t)
		stats(t, tty)
		s := readUntil(t, pty, "\x1b[H\x1b[2J", 2)
		frames := strings.Split(s, "\x1b[H\x1b[2J")
		if frames[0] != "" || !strings.HasPrefix(frames[1], "ID ") || !strings.Contains(frames[1], rec.ID) {
			t.Errorf("on a terminal each table should follow home+clear; got %q", s)
		}
	})
}
