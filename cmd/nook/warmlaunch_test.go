package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/state"
)

// A warm launch is run by nook run's constructor alone, before the Go
// runtime (sandbox/fastlaunch.go): the launcher is then one thread, where
// a Go launcher always has several. The tests below tell the two apart by
// that, while the app waits at its gate: a FIFO it reads from before its
// script goes on, which the test opens once it has looked.

// gated writes profile name (its extra TOML before [filesystem], its home
// home) whose app runs the shell script pre, waits at its gate, then runs
// post; it returns the profile's path and the gate's.
func (e *e2e) gated(name, extra, home, pre, post string) (profile, gate string) {
	e.t.Helper()
	gate = filepath.Join(e.dir, "probe", name+".gate")
	if err := unix.Mkfifo(gate, 0o666); err != nil && err != unix.EEXIST {
		e.t.Fatal(err)
	}
	chmod666(e.t, gate) // root's app runs as nobody
	script := "read x < /probe/" + name + ".gate; " + post
	if pre != "" {
		script = pre + "; " + script
	}
	body := fmt.Sprintf("name = %q\ncommand = [\"/bin/sh\", \"-c\", %q]\n%s\n[filesystem]\nhome = %q\n[[filesystem.mounts]]\nsource = %q\ntarget = \"/probe\"\n",
		name, script, extra, home, filepath.Join(e.dir, "probe"))
	profile = filepath.Join(e.dir, name+".toml")
	if err := os.WriteFile(profile, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return profile, gate
}

func chmod666(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
}

// gatedRun is a nook run whose app waited at its gate.
type gatedRun struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	// warm says the launcher was one thread while the app waited.
	warm bool
}

// launchGated starts cmd, whose app waits at gate, and once the app is
// there calls during (if not nil) and opens the gate.
func (e *e2e) launchGated(cmd *exec.Cmd, gate string, during func(l *gatedRun)) *gatedRun {
	t := e.t
	t.Helper()
	l := &gatedRun{cmd: cmd}
	cmd.Stdout, cmd.Stderr = &l.stdout, &l.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(gate, os.O_WRONLY, 0) // until the app opens it
		if err != nil {
			f = nil
		}
		opened <- f
	}()
	var f *os.File
	select {
	case f = <-opened:
	case <-time.After(20 * time.Second):
	}
	if f == nil {
		// Let the opener go: it waits for a reader.
		if r, err := os.OpenFile(gate, os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			defer r.Close()
		}
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the app never reached its gate; stdout %q, stderr %q", l.stdout.String(), l.stderr.String())
	}
	l.warm = threads(t, cmd.Process.Pid) == 1
	if during != nil {
		during(l)
	}
	f.WriteString("go\n")
	f.Close()
	return l
}

// wait waits for the launch to end and returns nook's exit status.
func (l *gatedRun) wait(t *testing.T) int {
	t.Helper()
	done := make(chan struct{})
	go func() { l.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		l.cmd.Process.Kill()
		<-done
		t.Fatalf("nook run still ran after 20 s; stderr %q", l.stderr.String())
	}
	return l.cmd.ProcessState.ExitCode()
}

// threads is the number of threads of process pid.
func threads(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatalf("no thread count in /proc/%d/status", pid)
	return 0
}

// A warm launch does what a regular one does: the app's streams, its exit
// status, its identity and the host's hidden secrets (invariants 1 and 4),
// the lockdown (invariants 2 and 3), the state record that nook ps
// lists (with the sequence number after the app's other instances) and
// its removal at the end.
func TestWarmLaunch(t *testing.T) {
	e := newStateE2E(t)
	p, gate := e.gated("warm", "", "ephemeral", "",
		`grep -E "^(Uid|Gid|NoNewPrivs|Seccomp|CapInh|CapPrm|CapEff|CapBnd|CapAmb):" /proc/self/status; `+
			`test -f /etc/shadow && echo shadow visible; echo to stderr >&2; exit 3`)
	store, err := state.Open(e.runDir)
	if err != nil {
		t.Fatal(err)
	}
	// Another instance of the app, alive (its launcher is this test): the
	// launches get sequence number 2.
	self, err := state.Self()
	if err != nil {
		t.Fatal(err)
	}
	other := &state.Record{App: "warm", Launcher: self, Init: self, Started: time.Now().UTC()}
	if err := store.Create(other); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		var rec *state.Record
		// As a desktop launches it: with a startup id of its own each
		// time, which nook neither reads nor passes on.
		cmd := e.command("run", p)
		cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], "DESKTOP_STARTUP_ID=launch-"+strconv.Itoa(i), "GIO_LAUNCHED_DESKTOP_FILE_PID="+strconv.Itoa(1000+i))
		l := e.launchGated(cmd, gate, func(l *gatedRun) {
			// The launcher writes the record while the app starts.
			for deadline := time.Now().Add(5 * time.Second); rec == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				live, bad, err := store.Live()
				if err != nil || len(bad) > 0 {
					t.Fatalf("reading the state records: %v %v", err, bad)
				}
				for _, r := range live {
					if r.ID != other.ID {
						rec = r
					}
				}
			}
			if rec == nil {
				t.Fatalf("launch %d: no state record while the app runs", i)
			}
			initPID := childOf(t, l.cmd.Process.Pid)
			if rec.App != "warm" || rec.Name != "warm" || rec.Seq != 2 || rec.Hostname != "warm" ||
				rec.Launcher.PID != l.cmd.Process.Pid || !rec.Launcher.Alive() || rec.Init.PID != initPID || !rec.Init.Alive() ||
				rec.BootID != state.BootID() || time.Since(rec.Started) > time.Minute || time.Since(rec.Started) < 0 {
				t.Errorf("launch %d: state record %+v; want app warm, seq 2, launcher %d, init %d, this boot, started now",
					i, *rec, l.cmd.Process.Pid, initPID)
			}
			// Byte for byte what the Go launcher writes.
			if b, err := os.ReadFile(filepath.Join(e.runDir, rec.ID+".json")); err == nil {
				want, _ := json.MarshalIndent(rec, "", "  ")
				if string(b) != string(want)+"\n" {
					t.Errorf("launch %d: the state record reads\n%s\nwhere state.Store writes\n%s", i, b, want)
				}
			}
			if code, out, stderr := e.outputs("ps"); code != 0 || !strings.Contains(out, "warm:2") {
				t.Errorf("launch %d: nook ps does not list warm:2 (exit %d):\n%s%s", i, code, out, stderr)
			}
		})
		if code := l.wait(t); code != 3 {
			t.Errorf("launch %d: exit %d, want the app's 3; stderr %q", i, code, l.stderr.String())
		}
		if want := i > 0; l.warm != want {
			t.Errorf("launch %d: warm %v, want %v (the first launch leaves the record the others take)", i, l.warm, want)
		}
		if got := l.stderr.String(); got != "to stderr\n" {
			t.Errorf("launch %d: stderr %q, want the app's alone", i, got)
		}
		// Invariants 1 and 4: the app's ids (the same inside and
		// outside) are not root's, and the host's secrets are masked
		// (/dev/null is bound over them: not a regular file).
		out := l.stdout.String()
		if !strings.Contains(out, "Uid:\t") || strings.Contains(out, "Uid:\t0\t") || strings.Contains(out, "Gid:\t0\t") {
			t.Errorf("launch %d: the app's ids are root's, or missing:\n%s", i, out)
		}
		if strings.Contains(out, "shadow visible") {
			t.Errorf("launch %d: the app sees /etc/shadow", i)
		}
		for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000",
			"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000"} {
			if !strings.Contains(l.stdout.String(), want+"\n") {
				t.Errorf("launch %d: the app's status lacks %q:\n%s", i, want, l.stdout.String())
			}
		}
		if rec != nil {
			if _, err := os.Stat(filepath.Join(e.runDir, rec.ID+".json")); !os.IsNotExist(err) {
				t.Errorf("launch %d: the state record is still there after the launch (%v)", i, err)
			}
		}
	}
}

// A warm launch passes signals on to the app, as a regular one does, also
// one that nook started with ignored (as a script's background job starts
// with SIGINT ignored): os/signal's Notify undoes the ignore.
func TestWarmLaunchForwardsSignals(t *testing.T) {
	e := newE2E(t)
	p, gate := e.gated("signals", "", "ephemeral", `trap "echo got TERM; exit 7" TERM; trap "echo got INT; exit 8" INT`,
		`while :; do sleep 0.05; done`)
	for _, tc := range []struct {
		name    string
		sig     syscall.Signal
		ignored bool
		code    int
		out     string
	}{
		{"TERM", syscall.SIGTERM, false, 7, "got TERM\n"},
		{"INT, ignored when nook started", syscall.SIGINT, true, 8, "got INT\n"},
	} {
		for i := 0; i < 2; i++ {
			cmd := e.command("run", p)
			if tc.ignored {
				cmd.Args = append([]string{"/bin/sh", "-c", `trap "" INT; exec "$0" "$@"`}, cmd.Args...)
				cmd.Args[3] = e.nook
				cmd.Path = "/bin/sh"
			}
			l := e.launchGated(cmd, gate, nil)
			time.Sleep(100 * time.Millisecond) // into the loop
			if err := l.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := l.wait(t); code != tc.code || l.stdout.String() != tc.out {
				t.Errorf("%s, launch %d (warm %v): exit %d and stdout %q; want the app's trap: %d, %q",
					tc.name, i, l.warm, code, l.stdout.String(), tc.code, tc.out)
			}
			if l.warm != (i == 1) {
				t.Errorf("%s, launch %d: warm %v, want %v", tc.name, i, l.warm, i == 1)
			}
		}
	}
}

// Invariant 7 for a warm launch: SIGKILLed, its sandbox dies with it, and
// its state record is collected by the next nook call.
func TestWarmLaunchKilled(t *testing.T) {
	e := newStateE2E(t)
	p, gate := e.gated("killed", "", "ephemeral", "", "exit 0")
	if l := e.launchGated(e.command("run", p), gate, nil); l.wait(t) != 0 {
		t.Fatalf("first launch failed: %s", l.stderr.String())
	}
	var initPID, app int
	l := e.launchGated(e.command("run", p), gate, func(l *gatedRun) {
		if !l.warm {
			t.Fatal("the second launch is not warm")
		}
		initPID = childOf(t, l.cmd.Process.Pid)
		app = childOf(t, initPID)
		l.cmd.Process.Kill()
	})
	l.wait(t)
	if !gone(initPID, 3*time.Second) || !gone(app, 3*time.Second) {
		t.Fatalf("sandbox survived its warm launcher: init %d app %d", initPID, app)
	}
	if code, out, stderr := e.outputs("ps"); code != 0 || strings.Contains(out, "killed:") {
		t.Errorf("nook ps after the launcher was killed: exit %d\n%s%s", code, out, stderr)
	}
	if recs, _ := filepath.Glob(filepath.Join(e.runDir, "*.json")); len(recs) != 0 {
		t.Errorf("the killed launch's state record was not collected: %v", recs)
	}
}

// A warm launch happens only while every input of the plan is as it was
// when the record was written. After any change, the launch is a regular
// one, which runs the new plan and writes a new record; the launch after
// it is warm again.
func TestWarmLaunchFacts(t *testing.T) {
	e := newE2E(t)
	work := filepath.Join(e.dir, "work")
	config := filepath.Join(e.dir, "config")
	for _, d := range []string{work, filepath.Join(config, "nook", "profiles")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.env = append(e.env, "XDG_CONFIG_HOME="+config)
	// A copy of nook that the test may rewrite.
	nook := filepath.Join(e.dir, "nook-copy")
	image := filepath.Join(e.dir, "nook-image")
	for from, to := range map[string]string{e.nook: nook, filepath.Join(filepath.Dir(e.nook), "nook-image"): image} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.nook = nook
	x := newFakeDisplay(t)

	setEnv := func(k, v string) {
		var env []string
		for _, kv := range e.env {
			if !strings.HasPrefix(kv, k+"=") {
				env = append(env, kv)
			}
		}
		e.env = append(env, k+"="+v)
	}
	setEnv("LANG", "C")
	for _, tc := range []struct {
		name string
		// extra and home go in the profile; script prints what the
		// change shows.
		extra, home, script string
		byName              bool // run it by name, found in XDG_CONFIG_HOME
		sameOutput          bool // the change does not show in the app's output
		change              func(profile string)
	}{
		{name: "profile", script: "echo before", change: func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("echo before"), []byte("echo after!"), 1), 0o644)
		}},
		{name: "shadowed", script: "echo before", byName: true, change: func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(filepath.Join(work, "shadowed.toml"), bytes.Replace(b, []byte("echo before"), []byte("echo shadow"), 1), 0o644)
		}},
		{name: "environment", script: `echo "$LANG"`, change: func(string) { setEnv("LANG", "C.UTF-8") }},
		{name: "binary", script: "echo same", sameOutput: true, change: func(string) {
			// The same bytes in a new file, as a package upgrade
			// installs one.
			b, _ := os.ReadFile(nook)
			os.WriteFile(nook+".new", b, 0o755)
			os.Rename(nook+".new", nook)
		}},
		{name: "cookie", extra: "[display]\nx11 = \"host\"\n", script: `od -An -tx1 "$XAUTHORITY" | tr -d " \n"; echo`,
			change: func(string) { x.writeCookie(t, 2) }},
		{name: "home", home: "persistent", script: "echo home", sameOutput: true, change: func(string) {
			homes, _ := filepath.Glob(filepath.Join(e.dir, "data", "nook", "homes", "home"))
			if os.Geteuid() == 0 {
				homes, _ = filepath.Glob("/var/lib/nook/homes/*/home")
			}
			for _, h := range homes {
				os.RemoveAll(h)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			home := tc.home
			if home == "" {
				home = "ephemeral"
			}
			if tc.extra != "" {
				saved := e.env
				e.env = append(append([]string(nil), e.env...), x.env...)
				defer func() { e.env = saved }()
				x.writeCookie(t, 1)
			}
			p, gate := e.gated(tc.name, tc.extra, home, "", tc.script)
			ref := p
			if tc.byName {
				b, _ := os.ReadFile(p)
				os.Remove(p)
				p = filepath.Join(config, "nook", "profiles", tc.name+".toml")
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				ref = tc.name
			}
			if tc.home == "persistent" {
				t.Cleanup(func() { tc.change("") })
			}
			start := func() *gatedRun {
				t.Helper()
				cmd := e.command("run", ref)
				cmd.Dir = work
				l := e.launchGated(cmd, gate, nil)
				if code := l.wait(t); code != 0 {
					t.Fatalf("exit %d: %s", code, l.stderr.String())
				}
				return l
			}
			before := start()
			warm := start()
			if !warm.warm || warm.stdout.String() != before.stdout.String() {
				t.Fatalf("the second launch: warm %v, stdout %q; want warm, and the first's %q", warm.warm, warm.stdout.String(), before.stdout.String())
			}
			tc.change(p)
			after := start()
			if after.warm {
				t.Errorf("the launch after the %s changed was warm (stdout %q)", tc.name, after.stdout.String())
			}
			if !tc.sameOutput && after.stdout.String() == before.stdout.String() {
				t.Errorf("the launch after the %s changed printed what the one before did: %q", tc.name, after.stdout.String())
			}
			again := start()
			if !again.warm || again.stdout.String() != after.stdout.String() {
				t.Errorf("the launch after that: warm %v, stdout %q; want warm, and %q", again.warm, again.stdout.String(), after.stdout.String())
			}
		})
	}
}

// fakeDisplay is an X display as nook probes it: a socket in
// /tmp/.X11-unix and an Xauthority file with a cookie for it. No server
// answers: the apps here read their cookie and never connect.
type fakeDisplay struct {
	num   int
	xauth string
	env   []string
}

func newFakeDisplay(t *testing.T) *fakeDisplay {
	t.Helper()
	if err := os.MkdirAll("/tmp/.X11-unix", 0o1777); err != nil {
		t.Fatal(err)
	}
	for n := 400 + os.Getpid()%100; n < 600; n++ {
		path := "/tmp/.X11-unix/X" + strconv.Itoa(n)
		if _, err := os.Lstat(path); err == nil {
			continue
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			continue
		}
		t.Cleanup(func() { l.Close() })
		chmod666(t, path)
		d := &fakeDisplay{num: n, xauth: filepath.Join(t.TempDir(), "Xauthority")}
		if err := os.Chmod(filepath.Dir(d.xauth), 0o755); err != nil {
			t.Fatal(err)
		}
		d.env = []string{"DISPLAY=:" + strconv.Itoa(n), "XAUTHORITY=" + d.xauth}
		return d
	}
	t.Fatal("no free X display number in 400-599")
	return nil
}

// writeCookie writes an Xauthority file whose cookie for the display is
// 16 bytes of b, replacing the file (as xauth does).
func (d *fakeDisplay) writeCookie(t *testing.T, b byte) {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var f []byte
	field := func(s []byte) {
		f = binary.BigEndian.AppendUint16(f, uint16(len(s)))
		f = append(f, s...)
	}
	f = binary.BigEndian.AppendUint16(f, 256) // FamilyLocal
	field([]byte(host))
	field([]byte(strconv.Itoa(d.num)))
	field([]byte("MIT-MAGIC-COOKIE-1"))
	field(bytes.Repeat([]byte{b}, 16))
	tmp := d.xauth + ".new"
	if err := os.WriteFile(tmp, f, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, d.xauth); err != nil {
		t.Fatal(err)
	}
}

// A launch with resource limits is never warm, even when the host can
// apply none of them (--ignore-unsupported-limits then warns and runs the
// app without a cgroup): whether it can is not a recorded fact, and the
// warning must be printed each time.
func TestWarmLaunchNeverWithLimits(t *testing.T) {
	e := newE2E(t)
	p, gate := e.gated("limited", "[resources]\npids = 100\n", "ephemeral", "", "echo ran")
	var first string
	for i := 0; i < 3; i++ {
		l := e.launchGated(e.command("run", "--ignore-unsupported-limits", p), gate, nil)
		if code := l.wait(t); code != 0 || l.stdout.String() != "ran\n" {
			t.Fatalf("launch %d: exit %d, stdout %q, stderr %s", i, code, l.stdout.String(), l.stderr.String())
		}
		if l.warm {
			t.Errorf("launch %d of a profile with limits was warm", i)
		}
		if i == 0 {
			first = l.stderr.String()
		} else if l.stderr.String() != first {
			t.Errorf("launch %d: stderr %q, want the first launch's %q", i, l.stderr.String(), first)
		}
	}
}

// A warm launch reports init's errors as a regular one does: the same
// line, the same exit status. Here the app cannot start (the command is
// missing, or not executable), which init finds after the go-ahead. The
// test tells the launches apart while nook writes its error: its standard
// error is a full pipe, so nook waits in write(2), and a warm launcher is
// then one thread.
func TestWarmLaunchErrors(t *testing.T) {
	e := newE2E(t)
	notExec := filepath.Join(e.dir, "probe", "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, command string
		code          int
	}{
		{"not found", "/no/such/command", 127},
		{"not executable", "/probe/not-executable", 126},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			p := e.profile(strings.ReplaceAll(tc.name, " ", "-"), "", tc.command)
			var first string
			for i := 0; i < 3; i++ {
				code, stderr, warm := e.runBlockedOnStderr(i > 0, "run", p)
				if code != tc.code || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "nook: ") {
					t.Errorf("launch %d: exit %d, stderr %q; want %d and one line", i, code, stderr, tc.code)
				}
				if i == 0 {
					first = stderr
				} else if stderr != first {
					t.Errorf("launch %d: stderr %q, want the first launch's %q", i, stderr, first)
				}
				if i > 0 && !warm {
					t.Errorf("launch %d was not warm", i)
				}
			}
		})
	}
}

// runBlockedOnStderr runs nook with args and a standard error that is a
// full pipe, and returns its exit status and what it wrote there. When
// look is set, it also says whether nook, once it waits to write its
// error, is one thread: a warm launch (see TestWarmLaunchErrors).
func (e *e2e) runBlockedOnStderr(look bool, args ...string) (code int, stderr string, warm bool) {
	t := e.t
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, size)); err != nil { // full: the next write waits
		t.Fatal(err)
	}
	cmd := e.command(args...)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if look {
		// Until its main thread waits in write(2) on descriptor 2.
		syscallFile := fmt.Sprintf("/proc/%d/syscall", cmd.Process.Pid)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			b, _ := os.ReadFile(syscallFile)
			if f := strings.Fields(string(b)); len(f) > 1 && f[0] == strconv.Itoa(unix.SYS_WRITE) && f[1] == "0x2" {
				warm = threads(t, cmd.Process.Pid) == 1
				break
			}
			if time.Now().After(deadline) {
				break // not waiting in the main thread: not warm
			}
		}
	}
	out := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		out <- b
	}()
	cmd.Wait()
	b := <-out
	return cmd.ProcessState.ExitCode(), string(b[size:]), warm
}

// When a warm launch's setup fails because the host changed in a way no
// fact shows (here a mount's source is gone), init is discarded and the
// Go launcher starts over: its error is the one reported, as without the
// warm record; once the source is back, the launches work (and are warm)
// again.
func TestWarmLaunchSetupFails(t *testing.T) {
	e := newE2E(t)
	data := filepath.Join(e.dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The mount goes after the profile's own.
	p, gate := e.gated("source", "", "ephemeral", "", "ls /data")
	b, _ := os.ReadFile(p)
	b = append(b, []byte("[[filesystem.mounts]]\nsource = "+quote(data)+"\ntarget = \"/data\"\n")...)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if l := e.launchGated(e.command("run", p), gate, nil); l.wait(t) != 0 || l.warm != (i == 1) {
			t.Fatalf("launch %d: exit %d, warm %v; stderr %s", i, l.cmd.ProcessState.ExitCode(), l.warm, l.stderr.String())
		}
	}
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	code, stderr := e.run("run", p)
	cmd := e.command("run", p)
	cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], "NOOK_WARM_LAUNCH=0")
	var regular bytes.Buffer
	cmd.Stderr = &regular
	cmd.Run()
	if code != 125 || !strings.Contains(stderr, data) || strings.Count(stderr, "\n") != 1 || stderr != regular.String() {
		t.Errorf("launch with the mount's source gone: exit %d, stderr %q; want 125 and the regular launch's one line %q", code, stderr, regular.String())
	}
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if l := e.launchGated(e.command("run", p), gate, nil); l.wait(t) != 0 {
			t.Fatalf("launch %d after the source came back: exit %d; stderr %s", i, l.cmd.ProcessState.ExitCode(), l.stderr.String())
		} else if i == 1 && !l.warm {
			t.Errorf("the second launch after the source came back was not warm")
		}
	}
}
