package state

import (
	"errors"
	"io/fs"
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
	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	// Field 22 is the start time, field 6 the session; the command name
	// may hold spaces and ')'.
	tail := " 100 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10"
	for _, tc := range []struct {
		name, in string
		want     Stat
		err      bool
	}{
		{"plain", "42 (sleep) S 1" + tail, Stat{State: 'S', Session: 7, StartTime: 123456}, false},
		{"spaces and parens in name", "42 (a) b) (c) Z 1" + tail, Stat{State: 'Z', Session: 7, StartTime: 123456}, false},
		{"no name", "42 sleep S 1" + tail, Stat{}, true},
		{"truncated", "42 (sleep) S 1 100 100 7", Stat{}, true},
		{"bad start", "42 (sleep) S 1 100 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 x 1000 10", Stat{}, true},
		{"empty", "", Stat{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("ParseStat = %+v, %v; want %+v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseStatSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.StartTime == 0 || st.State != 'R' {
		t.Errorf("own stat = %+v, want a start time and state R", st)
	}
	if sid, _ := unix.Getsid(0); st.Session != sid {
		t.Errorf("session %d, getsid says %d", st.Session, sid)
	}
}

func TestStale(t *testing.T) {
	procs := map[int]uint64{10: 500}
	lookup := func(pid int) (uint64, bool) { s, ok := procs[pid]; return s, ok }
	rec := func(pid int, start uint64, boot string) *Record {
		return &Record{Launcher: Proc{PID: pid, StartTime: start}, BootID: boot}
	}
	for _, tc := range []struct {
		name  string
		r     *Record
		boot  string
		stale bool
	}{
		{"launcher alive", rec(10, 500, "b1"), "b1", false},
		{"launcher gone", rec(11, 500, "b1"), "b1", true},
		{"pid reused", rec(10, 499, "b1"), "b1", true},
		{"other boot", rec(10, 500, "b0"), "b1", true},
		{"boot id unknown now", rec(10, 500, "b0"), "", false},
		{"boot id not recorded", rec(10, 500, ""), "b1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Stale(tc.r, tc.boot, lookup); got != tc.stale {
				t.Errorf("Stale = %v, want %v", got, tc.stale)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	mk := func(id, app string, seq int) *Record {
		name, version := SplitApp(app)
		return &Record{ID: id, App: app, Name: name, Version: version, Seq: seq}
	}
	live := []*Record{
		mk("aaaaaa111111", "firefox", 1),
		mk("aaaaaa222222", "firefox", 2),
		mk("bbbbbb111111", "xterm@work", 1),
		mk("cccccc111111", "abc", 1),
		mk("abc123456789", "calc", 1),
	}
	for _, tc := range []struct {
		query string
		want  string // id, or "" for an error
		err   error
	}{
		{"aaaaaa111111", "aaaaaa111111", nil},
		{"firefox:2", "aaaaaa222222", nil},
		{"firefox", "", ErrAmbiguous},
		{"xterm@work", "bbbbbb111111", nil},
		{"xterm", "bbbbbb111111", nil},
		{"xterm@play", "", ErrNotFound},
		{"xterm@work:1", "bbbbbb111111", nil},
		{"xterm@work:2", "", ErrNotFound},
		{"bbb", "bbbbbb111111", nil},
		{"bb", "", ErrNotFound}, // prefixes need 3 digits
		{"aaaaaa", "", ErrAmbiguous},
		{"aaaaaa2", "aaaaaa222222", nil},
		{"abc", "cccccc111111", nil}, // an app name wins over an id prefix
		{"abc1", "abc123456789", nil},
		{"nosuch", "", ErrNotFound},
		{"", "", ErrNotFound},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r, err := Match(live, tc.query)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Match(%q) = %v, %v; want %v", tc.query, r, err, tc.err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				return
			}
			if err != nil || r.ID != tc.want {
				t.Fatalf("Match(%q) = %v, %v; want %s", tc.query, r, err, tc.want)
			}
		})
	}
	_, err := Match(live, "firefox")
	for _, s := range []string{"aaaaaa111111 (firefox:1)", "aaaaaa222222 (firefox:2)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("ambiguity error %q does not list %s", err, s)
		}
	}
	if _, err := Match(live, "nosuch"); !strings.Contains(err.Error(), "nook ps") {
		t.Errorf("not-found error %q does not point to nook ps", err)
	}
}

type fakeInfo struct {
	fs.FileInfo
	uid uint32
}

func (f fakeInfo) IsDir() bool { return true }
func (f fakeInfo) Sys() any    { return &syscall.Stat_t{Uid: f.uid} }

func TestDefaultDir(t *testing.T) {
	runUser := map[string]uint32{"/run/user/1000": 1000, "/run/user/1001": 0}
	stat := func(p string) (fs.FileInfo, error) {
		if uid, ok := runUser[p]; ok {
			return fakeInfo{uid: uid}, nil
		}
		return nil, fs.ErrNotExist
	}
	for _, tc := range []struct {
		name string
		uid  int
		env  map[string]string
		want string
	}{
		{"root", 0, map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, "/run/nook"},
		{"override", 0, map[string]string{EnvDir: "/tmp/x"}, "/tmp/x"},
		{"xdg", 1000, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, "/run/user/1000/nook"},
		{"relative xdg ignored", 1000, map[string]string{"XDG_RUNTIME_DIR": "run"}, "/run/user/1000/nook"},
		{"login dir without env", 1000, nil, "/run/user/1000/nook"},
		{"login dir of another uid", 1001, nil, "/tmp/nook-1001"},
		{"no login dir", 1002, map[string]string{"XDG_RUNTIME_DIR": ""}, "/tmp/nook-1002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultDir(tc.uid, func(k string) string { return tc.env[k] }, stat)
			if got != tc.want {
				t.Errorf("DefaultDir = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
		err  bool
	}{
		{"TERM", syscall.SIGTERM, false},
		{"SIGKILL", syscall.SIGKILL, false},
		{"usr1", syscall.SIGUSR1, false},
		{"9", syscall.SIGKILL, false},
		{"64", syscall.Signal(64), false},
		{"0", 0, true},
		{"65", 0, true},
		{"NOPE", 0, true},
		{"", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSignal(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("ParseSignal(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestPercent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration, cpu uint64) Sample {
		return Sample{At: t0.Add(d), Stats: cgroup.Stats{CPUUsageNS: cpu}}
	}
	for _, tc := range []struct {
		name      string
		prev, cur Sample
		want      float64
	}{
		{"half a core", at(0, 0), at(time.Second, 5e8), 50},
		{"two cores", at(0, 1e9), at(time.Second, 3e9), 200},
		{"idle", at(0, 7), at(time.Second, 7), 0},
		{"same instant", at(0, 0), at(0, 5), 0},
		{"counter went back", at(0, 9e9), at(time.Second, 1e9), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CPUPercent(tc.prev, tc.cur); got != tc.want {
				t.Errorf("CPUPercent = %v, want %v", got, tc.want)
			}
		})
	}
	if got := MemPercent(cgroup.Stats{MemoryUsage: 256, MemoryLimit: 1024}); got != 25 {
		t.Errorf("MemPercent = %v, want 25", got)
	}
	if got := MemPercent(cgroup.Stats{MemoryUsage: 256}); got != 0 {
		t.Errorf("MemPercent without limit = %v, want 0", got)
	}
}

// newStore opens a store in a fresh directory.
func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "nook"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// deadProc returns a Proc that existed and has exited.
func deadProc(t *testing.T) Proc {
	t.Helper()
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := ProcOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return p
}

func TestOpenRefusesUnsafeDirs(t *testing.T) {
	base := t.TempDir()
	link := filepath.Join(base, "link")
	os.Symlink(base, link)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct{ dir, want string }{
		{link, "not a directory"},
		{open, "writable by others"},
		{file, "not a directory"},
		{"relative", "not an absolute path"},
	} {
		if _, err := Open(tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want an error saying %q", tc.dir, err, tc.want)
		}
	}
	s := newStore(t)
	fi, err := os.Stat(s.Dir())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("new state directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

func TestStoreLifecycle(t *testing.T) {
	s := newStore(t)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	var cleaned []string
	s.Cleanup = func(r *Record) error { cleaned = append(cleaned, r.ID); return nil }
	create := func(app string, launcher Proc) *Record {
		t.Helper()
		r := &Record{App: app, Launcher: launcher, Init: launcher, Started: time.Now()}
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a1 := create("firefox@esr", self)
	a2 := create("firefox@esr", self)
	b1 := create("xterm", self)
	if a1.Seq != 1 || a2.Seq != 2 || b1.Seq != 1 {
		t.Errorf("sequences %d %d %d, want 1 2 1", a1.Seq, a2.Seq, b1.Seq)
	}
	if a1.Name != "firefox" || a1.Version != "esr" || a1.Schema != Schema || a1.BootID == "" || !validID(a1.ID) {
		t.Errorf("record not filled in: %+v", a1)
	}
	// The smallest free number is reused.
	if err := s.Remove(a1.ID); err != nil {
		t.Fatal(err)
	}
	if a3 := create("firefox@esr", self); a3.Seq != 1 {
		t.Errorf("after removing seq 1, new seq %d, want 1", a3.Seq)
	}
	// A preset id is kept; a duplicate or malformed one is refused.
	if err := s.Create(&Record{ID: b1.ID, App: "y", Launcher: self, Init: self}); err == nil {
		t.Error("Create accepted an id in use")
	}
	if err := s.Create(&Record{ID: "XYZ", App: "y", Launcher: self, Init: self}); err == nil {
		t.Error("Create accepted a malformed id")
	}
	id, _ := NewID()
	if r := (&Record{ID: id, App: "y", Launcher: self, Init: self}); s.Create(r) != nil || r.ID != id {
		t.Errorf("preset id not kept: %s, want %s", r.ID, id)
	}

	// A record whose launcher died is stale: collected with Cleanup.
	dead := create("zombie", deadProc(t))
	os.Mkdir(s.RuntimeDir(dead.ID), 0o700)
	os.WriteFile(filepath.Join(s.RuntimeDir(dead.ID), "sock"), nil, 0o600)
	l, err := s.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Stale) != 1 || l.Stale[0].ID != dead.ID || len(l.Live) != 4 {
		t.Fatalf("scan: %d live, stale %v; want 4 live and %s stale", len(l.Live), l.Stale, dead.ID)
	}
	removed, err := s.Collect()
	if err != nil || len(removed) != 1 || len(cleaned) != 1 || cleaned[0] != dead.ID {
		t.Fatalf("Collect = %v, %v; cleaned %v", removed, err, cleaned)
	}
	for _, p := range []string{s.RuntimeDir(dead.ID), filepath.Join(s.Dir(), dead.ID+".json")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived collection: %v", p, err)
		}
	}
	// A failing Cleanup keeps the record for a later try.
	dead2 := create("zombie", deadProc(t))
	s.Cleanup = func(*Record) error { return errors.New("busy") }
	if _, err := s.Collect(); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("Collect with failing cleanup = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), dead2.ID+".json")); err != nil {
		t.Errorf("record removed although its cleanup failed: %v", err)
	}
}

func TestBadFilesAndTemps(t *testing.T) {
	s := newStore(t)
	self, _ := Self()
	good := &Record{App: "ok", Launcher: self, Init: self}
	if err := s.Create(good); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"0123456789ab.json":                          `{"schema":1,"id":"0123456789ab","app":"half`, // cut short
		"garbage.json":                               "\x00\x01 not json",
		"ba5eba11ba5e.json":                          `{"schema":1,"id":"000000000000","app":"x","seq":1,"launcher":{"pid":1},"init":{"pid":1}}`,
		"abcdefabcdef.json":                          `{"schema":99,"id":"abcdefabcdef"}`,
		".tmp-999999999-123":                         "{", // writer pid cannot exist
		".tmp-" + strconv.Itoa(os.Getpid()) + "-456": "{", // writer alive: not touched
		"README": "not a record; ignored",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	live, bad, err := s.Live()
	if err != nil || len(live) != 1 || live[0].ID != good.ID || len(bad) != 4 {
		t.Fatalf("Live = %v, bad %v, %v; want the good record and 4 bad files", live, bad, err)
	}
	res, err := s.Gc()
	if err != nil || len(res.Bad) != 4 || len(res.Temp) != 1 {
		t.Fatalf("Gc = %+v, %v; want 4 bad files and 1 temp removed", res, err)
	}
	var left []string
	ents, _ := os.ReadDir(s.Dir())
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{".lock", ".tmp-" + strconv.Itoa(os.Getpid()) + "-456", good.ID + ".json", "README"}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("left after gc: %v, want %v", left, want)
	}
}

// TestAtomicWrites rewrites records in a loop while readers list the
// directory: a reader sees whole records under their final names or
// nothing, never part of one.
func TestAtomicWrites(t *testing.T) {
	s := newStore(t)
	self, _ := Self()
	r := &Record{App: "writer", Launcher: self, Init: self, Hostname: strings.Repeat("h", 3000)}
	if err := s.Create(r); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			r.Seq = 1 + i%2
			if err := s.write(r); err != nil {
				done <- err
				return
			}
		}
	}()
	reads := 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); reads++ {
		l, err := s.Scan()
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Bad) > 0 || len(l.Live) != 1 {
			t.Fatalf("after %d reads a reader saw bad %v, live %d", reads, l.Bad, len(l.Live))
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d scans during rewrites, every one whole", reads)
}

// BenchmarkCollect is the cost every nook call pays: scanning a directory
// of live records and collecting none.
func BenchmarkCollect(b *testing.B) {
	for _, n := range []int{0, 1, 10, 100} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "nook"))
			if err != nil {
				b.Fatal(err)
			}
			self, _ := Self()
			for i := 0; i < n; i++ {
				if err := s.Create(&Record{App: "bench", Launcher: self, Init: self}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if removed, err := s.Collect(); err != nil || len(removed) != 0 {
					b.Fatal(removed, err)
				}
			}
		})
	}
}

// BenchmarkCreateRemove is what recording a sandbox adds to nook run:
// lock, scan, write, rename; and the removal at exit.
func BenchmarkCreateRemove(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "nook"))
	if err != nil {
		b.Fatal(err)
	}
	self, _ := Self()
	for i := 0; i < b.N; i++ {
		r := &Record{App: "bench", Launcher: self, Init: self}
		if err := s.Create(r); err != nil {
			b.Fatal(err)
		}
		if err := s.Remove(r.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNewID checks that ids are well formed and random: a getrandom that
// filled nothing would repeat "000000000000".
func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 64 {
		id, err := NewID()
		if err != nil || !validID(id) || seen[id] {
			t.Fatalf("NewID() = %q, %v; malformed or already seen among %d", id, err, len(seen))
		}
		seen[id] = true
	}
}
