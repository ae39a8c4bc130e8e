package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// A warm record runs in a sandbox before the launcher has compared it with
// the plan, so the constructor reads one only from a directory and a file
// that the user alone can write (nook_read_warm).
func TestWarmRecordTrust(t *testing.T) {
	rec := []byte(warmMagic + "a record")
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir, file string)
		trusted bool
	}{
		{"own file, own dir", func(t *testing.T, dir, file string) {}, true},
		{"group-writable file", func(t *testing.T, dir, file string) { chmod(t, file, 0o620) }, false},
		{"world-writable file", func(t *testing.T, dir, file string) { chmod(t, file, 0o602) }, false},
		{"group-writable dir", func(t *testing.T, dir, file string) { chmod(t, dir, 0o770) }, false},
		{"world-writable dir", func(t *testing.T, dir, file string) { chmod(t, dir, 0o703) }, false},
		{"symlink to an own file", func(t *testing.T, dir, file string) {
			real := filepath.Join(t.TempDir(), "real")
			if err := os.Rename(file, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, file); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a directory", func(t *testing.T, dir, file string) {
			os.Remove(file)
			if err := os.Mkdir(file, 0o700); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"missing", func(t *testing.T, dir, file string) { os.Remove(file) }, false},
	}
	if os.Geteuid() == 0 { // only root can give a file to someone else
		cases = append(cases,
			struct {
				name    string
				prepare func(t *testing.T, dir, file string)
				trusted bool
			}{"someone else's file", func(t *testing.T, dir, file string) { chown(t, file) }, false},
			struct {
				name    string
				prepare func(t *testing.T, dir, file string)
				trusted bool
			}{"someone else's dir", func(t *testing.T, dir, file string) { chown(t, dir) }, false})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "run-0123456789abcdef")
			if err := os.WriteFile(file, rec, 0o600); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, dir, file)
			got := readWarm(file)
			if tc.trusted && !bytes.Equal(got, rec) {
				t.Errorf("read %q, want the record", got)
			}
			if !tc.trusted && got != nil {
				t.Errorf("read %q from an untrusted record, want nothing", got)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string) {
	t.Helper()
	if err := os.Lchown(path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
}

// The record's name hashes the arguments before "--" (FNV-1a, each with
// its NUL): the same as the constructor's (checked end to end in cmd/nook,
// TestRunWarmRecord).
func TestWarmRecordName(t *testing.T) {
	if a := WarmRecordName([]string{"run", "xclock"}); !regexp.MustCompile(`^run-[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("name %q, want run- and 16 hex digits", a)
	}
	for _, tc := range []struct {
		x, y []string
		same bool
	}{
		{[]string{"run", "xclock"}, []string{"run", "xclock", "--", "-digital"}, true},
		{[]string{"run", "xclock", "--", "-a"}, []string{"run", "xclock", "--", "-b"}, true},
		{[]string{"run", "xclock"}, []string{"run", "xeyes"}, false},
		{[]string{"run", "--memory=1G", "xclock"}, []string{"run", "xclock"}, false},
		{[]string{"run", "ab"}, []string{"run", "a", "b"}, false}, // the NULs tell these apart
	} {
		if got := WarmRecordName(tc.x) == WarmRecordName(tc.y); got != tc.same {
			t.Errorf("%q and %q share a name: %v, want %v", tc.x, tc.y, got, tc.same)
		}
	}
}

// A cache directory keeps maxWarmRecords records: writing one more removes
// the least recently used (the later of access and modification), and
// nothing that is not a record.
func TestWarmRecordPrune(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	name := func(i int) string { return fmt.Sprintf("run-%016x", i) }
	for i := 0; i < maxWarmRecords; i++ {
		file := filepath.Join(dir, name(i))
		if err := os.WriteFile(file, []byte(warmMagic), 0o600); err != nil {
			t.Fatal(err)
		}
		// Record i was written at base+i seconds; record 0 was read
		// (its access time) after all the others were written.
		atime, mtime := base.Add(time.Duration(i)*time.Second), base.Add(time.Duration(i)*time.Second)
		if i == 0 {
			atime = base.Add(time.Duration(maxWarmRecords) * time.Second)
		}
		if err := os.Chtimes(file, atime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(dir, "seccomp-cache")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	writeWarm(filepath.Join(dir, "run-new"), []byte(warmMagic))
	writeWarm(filepath.Join(dir, "run-newer"), []byte(warmMagic))
	for _, tc := range []struct {
		file string
		kept bool
	}{
		{"run-new", true},
		{"run-newer", true},
		{name(0), true},  // read most recently of the old ones
		{name(1), false}, // the two least recently used
		{name(2), false},
		{name(3), true},
		{name(maxWarmRecords - 1), true},
		{"seccomp-cache", true},
	} {
		_, err := os.Stat(filepath.Join(dir, tc.file))
		if kept := err == nil; kept != tc.kept {
			t.Errorf("%s kept: %v, want %v", tc.file, kept, tc.kept)
		}
	}
	recs, _ := filepath.Glob(filepath.Join(dir, "run-*"))
	if len(recs) != maxWarmRecords {
		t.Errorf("%d records, want %d", len(recs), maxWarmRecords)
	}
}
