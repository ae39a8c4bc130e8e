package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// output runs nook and returns its exit code, stdout and stderr.
func (e *e2e) outputs(args ...string) (int, string, string) {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// nook run keeps the program of its last launch with the same arguments
// (a warm record) and runs its setup before Go has compiled the plan; the
// app starts only if the launcher's own program is the same
// (sandbox/warm.go).
func TestRunWarmRecord(t *testing.T) {
	e := newE2E(t)
	p := e.profile("warm", "", "/bin/sh", "-c", "echo one")
	rec := e.warmRecord("run", p)
	if code, out, stderr := e.outputs("run", p); code != 0 || out != "one\n" {
		t.Fatalf("first launch: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	first, err := os.ReadFile(rec)
	if err != nil {
		t.Fatalf("no warm record after the first launch (the constructor and WarmRecordName disagree?): %v", err)
	}
	st, err := os.Stat(rec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("warm record mode %v, want 0600: it holds the app's environment and files", st.Mode().Perm())
	}

	// The same launch again matches the record, which stays as it is.
	time.Sleep(10 * time.Millisecond) // a rewrite would change the mtime
	if code, out, stderr := e.outputs("run", p); code != 0 || out != "one\n" {
		t.Fatalf("second launch: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	if st2, err := os.Stat(rec); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("the matching record was rewritten (%v)", err)
	}

	// A record whose program differs from the plan's never starts its
	// app: the profile's runs, and the launch's record replaces it. The
	// app section differs (another command, the same length), or the
	// setup does (other mounts), which discards the init that ran it.
	// The forged records have no fast section, as a record whose facts
	// no longer hold would not be taken for a warm launch
	// (warmlaunch_test.go): the launcher compares them.
	for _, f := range []struct{ what, old, new string }{
		{"command", "echo one", "echo TWO"},
		{"mounts", "/probe", "/probf"},
	} {
		forged := bytes.ReplaceAll(withoutFast(t, first), []byte(f.old), []byte(f.new))
		if bytes.Equal(forged, first) {
			t.Fatalf("the record does not hold the %s", f.what)
		}
		writeRecord(t, rec, forged)
		if code, out, stderr := e.outputs("run", p); code != 0 || out != "one\n" {
			t.Fatalf("launch with a record of another %s: exit %d, stdout %q (want the profile's app), stderr %s", f.what, code, out, stderr)
		}
		if now, _ := os.ReadFile(rec); !bytes.Equal(now, first) {
			t.Errorf("the record of another %s was not replaced by the launch's own", f.what)
		}
	}
}

// A launch whose program differs from the record's only in the app
// section (here: the app's arguments, which the record's name leaves out)
// keeps the record's setup and starts its own app. When the section keeps
// the record's seccomp filter and working directory, the app's task that
// waits under that filter takes the new arguments itself (reuse_task): it
// is the first process after init, pid 2 in the sandbox; a task made
// again would be pid 3. A section with another filter gets a new task.
func TestRunWarmRecordNewArguments(t *testing.T) {
	e := newE2E(t)
	p := e.profile("args", "", "/bin/sh", "-c", `echo "$@" $$`, "sh")
	for i, arg := range []string{"first", "second", "third", "third"} {
		if code, out, stderr := e.outputs("run", p, "--", arg); code != 0 || out != arg+" 2\n" {
			t.Fatalf("launch %d with argument %q: exit %d, stdout %q (want the argument and pid 2), stderr %s", i, arg, code, out, stderr)
		}
		rec, err := os.ReadFile(e.warmRecord("run", p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(rec, []byte(arg+"\x00")) {
			t.Errorf("after launch %d the record does not hold its argument %q", i, arg)
		}
	}
	// Another filter, the same path and setup: the record's task cannot
	// take the section, and the filter the app runs under is the new one.
	nr := strconv.Itoa(unix.SYS_GETPPID)
	p = e.profile("args", "[security]\ndeny_syscalls = [\"getppid\"]\n", "/bin/sh", "-c", `echo "$@" $$; /probe/probe syscalls `+nr, "sh")
	code, out, stderr := e.outputs("run", p, "--", "fourth")
	if code != 0 || !strings.HasPrefix(out, "fourth 3\n") || !strings.Contains(out, `"`+nr+`":"EPERM"`) {
		t.Fatalf("launch with another filter: exit %d, stdout %q (want pid 3 and getppid denied), stderr %s", code, out, stderr)
	}
}

// A warm record whose command cannot start (the profile named a missing
// one, since fixed) does not fail the next launch with its error: the
// launcher's own app section runs.
func TestRunWarmRecordStaleCommand(t *testing.T) {
	e := newE2E(t)
	p := e.profile("fixed", "", "no-such-command")
	if code, _, stderr := e.outputs("run", p); code != 127 || !strings.Contains(stderr, `"no-such-command" not found`) {
		t.Fatalf("launch of a missing command: exit %d, stderr %s; want 127 and not found", code, stderr)
	}
	p = e.profile("fixed", "", "/bin/sh", "-c", "echo fixed")
	if code, out, stderr := e.outputs("run", p); code != 0 || out != "fixed\n" {
		t.Fatalf("launch after the command was fixed: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
}

// Until the launcher has confirmed a warm record, the init stage running
// it writes nothing outside the tmpfs mounts it made: here the stale
// record's program would create a mount point in a host directory bound
// read-write, which the new profile no longer asks for.
func TestRunWarmRecordWritesNothingUnconfirmed(t *testing.T) {
	e := newE2E(t)
	data := filepath.Join(e.dir, "data")
	if err := os.Mkdir(data, 0o777); err != nil { // the app's uid is not root's
		t.Fatal(err)
	}
	chmod777(t, data)
	mounts := func(extra bool) string {
		m := "[[filesystem.mounts]]\nsource = " + quote(data) + "\ntarget = \"/data\"\nmode = \"rw\"\n"
		if extra {
			m += "[[filesystem.mounts]]\nsource = " + quote(filepath.Join(e.dir, "probe")) + "\ntarget = \"/data/made-by-setup\"\n"
		}
		return m
	}
	// The profile's [[filesystem.mounts]] come after the ones profile()
	// writes, so both go in through extra, which ends up before
	// [filesystem]: put them in a profile of their own.
	write := func(extra bool, text string) string {
		body := "name = \"stale\"\ncommand = [\"/bin/sh\", \"-c\", \"echo " + text + "\"]\n[filesystem]\nhome = \"ephemeral\"\n" + mounts(extra)
		path := filepath.Join(e.dir, "stale.toml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p := write(true, "first")
	if code, out, stderr := e.outputs("run", p); code != 0 || out != "first\n" {
		t.Fatalf("first launch: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	made := filepath.Join(data, "made-by-setup")
	if _, err := os.Stat(made); err != nil {
		t.Fatalf("the first launch made no mount point in the host directory (the test needs it to): %v", err)
	}
	if err := os.Remove(made); err != nil {
		t.Fatal(err)
	}
	// Same arguments, new profile: the record is stale.
	write(false, "second")
	for i := 0; i < 3; i++ {
		if code, out, stderr := e.outputs("run", p); code != 0 || out != "second\n" {
			t.Fatalf("launch after the profile changed: exit %d, stdout %q, stderr %s", code, out, stderr)
		}
		if _, err := os.Stat(made); err == nil {
			t.Fatalf("the stale record's setup created %s on the host before the launcher confirmed it", made)
		}
		// Stale again for the next round.
		write(true, "first")
		if code, _, stderr := e.outputs("run", p); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		os.Remove(made)
		write(false, "second")
	}
}

// When the host changed under a matching record (the app's home was
// removed, which the launcher makes again), the record's setup fails and
// the launcher starts over: the launch succeeds.
func TestRunWarmRecordRetries(t *testing.T) {
	e := newE2E(t)
	body := "name = \"retry\"\ncommand = [\"/bin/sh\", \"-c\", \"echo hi > ~/mark; cat ~/mark\"]\n[filesystem]\nhome = \"persistent\"\n"
	p := filepath.Join(e.dir, "retry.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := e.outputs("run", p); code != 0 || out != "hi\n" {
		t.Fatalf("first launch: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	pattern := filepath.Join(e.dir, "data", "nook", "homes", "retry", "mark") // XDG_DATA_HOME
	if os.Geteuid() == 0 {
		pattern = "/var/lib/nook/homes/*/retry/mark" // per uid
	}
	marks, _ := filepath.Glob(pattern)
	if len(marks) != 1 {
		t.Fatalf("the app's home is not where the test looks: %s matches %q", pattern, marks)
	}
	home := filepath.Dir(marks[0])
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if code, out, stderr := e.outputs("run", p); code != 0 || out != "hi\n" || stderr != "" {
		t.Fatalf("launch after the home was removed: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
}

// withoutFast returns warm record rec with an empty fast section
// (sandbox/warm.go, warmFile).
func withoutFast(t *testing.T, rec []byte) []byte {
	t.Helper()
	const magic = "nook-warm-2\n"
	if !bytes.HasPrefix(rec, []byte(magic)) || len(rec) < len(magic)+4 {
		t.Fatalf("not a warm record: %q", rec[:min(len(rec), 16)])
	}
	n := int(binary.LittleEndian.Uint32(rec[len(magic):]))
	rest := rec[len(magic)+4:]
	if n > len(rest) {
		t.Fatalf("warm record's fast section is longer than the record")
	}
	return append(append([]byte(magic), 0, 0, 0, 0), rest[n:]...)
}

func writeRecord(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".test"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func quote(s string) string { return strconv.Quote(s) }

func chmod777(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
}

// Invariants 2 and 3 hold on every path a launch takes through warm
// records: without one, from a matching one, and from one that matches
// but for the app section (the app's task, made and filtered before the
// verdict, is made again from the launch's own section).
func TestRunWarmRecordLockdown(t *testing.T) {
	e := newE2E(t)
	p := e.profile("locked", "", "/probe/probe", "read")
	for i, file := range []string{"/proc/self/status", "/proc/self/status", "/proc/self/../self/status"} {
		status := e.readInside(t, file, "run", p, "--", file)
		for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000",
			"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000"} {
			if !strings.Contains(status, want+"\n") {
				t.Errorf("launch %d: the app's status lacks %q:\n%s", i, want, status)
			}
		}
	}
	if _, err := os.Stat(e.warmRecord("run", p)); err != nil {
		t.Errorf("no warm record: the launches did not take the paths this test is for: %v", err)
	}
}
