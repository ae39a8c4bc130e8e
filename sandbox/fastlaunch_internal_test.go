package sandbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/witness"
)

// A warm launch compares the facts witness.Log recorded in Go with what
// nook_put_fact finds in C: the two must encode the same call's result to
// the same bytes, or no launch would ever be warm (or, worse, a changed
// file could encode like an unchanged one).
func TestFactEncodingMatchesC(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("content"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("file", link); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "fifo")
	if err := mkfifo(sock); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op   byte
		path string
	}{
		{'s', file}, {'l', file}, {'s', link}, {'l', link}, {'s', dir}, {'l', dir}, {'s', sock},
		{'s', filepath.Join(dir, "missing")}, {'l', filepath.Join(dir, "missing")},
		{'s', filepath.Join(file, "not-a-dir")}, {'s', ""}, {'s', "/proc/self/exe"}, {'s', "relative-missing"},
	} {
		var w witness.Log
		if tc.op == 's' {
			w.Stat(tc.path)
		} else {
			w.Lstat(tc.path)
		}
		if got, want := w.Bytes(), cFact(tc.op, tc.path); !bytes.Equal(got, want) {
			t.Errorf("%c %q: Go encodes\n%x\nC encodes\n%x", tc.op, tc.path, got, want)
		}
	}
}

// A fact changes with what it vouches for: a file's content, its
// replacement by another file, its mode; a directory's mode or kind, but
// not its content (which has facts of its own, and an app's home changes
// with every launch).
func TestFactChanges(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	sub := filepath.Join(dir, "sub")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		change func()
		same   bool
	}{
		{"rewritten with the same size and mtime", file, func() {
			st, _ := os.Stat(file)
			write("two")
			os.Chtimes(file, st.ModTime(), st.ModTime())
		}, false},
		{"replaced", file, func() {
			tmp := file + ".new"
			os.WriteFile(tmp, []byte("two"), 0o644)
			os.Rename(tmp, file)
		}, false},
		{"chmod", file, func() { os.Chmod(file, 0o600) }, false},
		{"removed", file, func() { os.Remove(file) }, false},
		{"directory gains an entry", sub, func() { os.WriteFile(filepath.Join(sub, "x"), nil, 0o644) }, true},
		{"directory replaced by a symlink", sub, func() { os.RemoveAll(sub); os.Symlink(dir, sub) }, false},
		{"directory chmod", sub, func() { os.Chmod(sub, 0o700) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				write("one")
			}
			before := cFact('s', tc.path)
			time.Sleep(5 * time.Millisecond) // past the file system's clock granularity
			tc.change()
			if same := bytes.Equal(before, cFact('s', tc.path)); same != tc.same {
				t.Errorf("fact unchanged: %v, want %v", same, tc.same)
			}
		})
	}
}

func mkfifo(path string) error { return unix.Mkfifo(path, 0o600) }
