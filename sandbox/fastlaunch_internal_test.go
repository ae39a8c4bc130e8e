package sandbox

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// The variables a warm launch's facts leave out (fastlaunch.c,
// volatile_env) must be ones nook never reads: were nook's plan to depend
// on one, a launch after it changed could be warm with a stale plan. No
// code of nook's but that list names them (the Go runtime reads none).
func TestVolatileEnvUnread(t *testing.T) {
	src, err := os.ReadFile("fastlaunch.c")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`(?s)volatile_env\[\] = \{(.*?)\};`).FindSubmatch(src)
	if list == nil {
		t.Fatal("no volatile_env list in fastlaunch.c")
	}
	names := regexp.MustCompile(`"([A-Z_]+)="`).FindAllSubmatch(list[1], -1)
	if len(names) == 0 {
		t.Fatal("volatile_env names no variable")
	}
	root := filepath.Join("..")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		ext := filepath.Ext(path)
		if d.IsDir() || (ext != ".go" && ext != ".c" && ext != ".h") || strings.HasSuffix(path, "_test.go") ||
			filepath.Base(path) == "fastlaunch.c" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range names {
			if bytes.Contains(b, n[1]) {
				t.Errorf("%s names %s, which warm launches assume nook never reads", path, n[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
