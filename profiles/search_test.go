package profiles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// profile is a valid profile named name, told apart by its description.
func profile(name, desc string) string {
	return "name = \"" + name + "\"\ndescription = \"" + desc + "\"\ncommand = [\"app\"]\n"
}

// writeFiles writes files (name -> content) into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, content := range files {
		m[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return m
}

func TestFind(t *testing.T) {
	work := writeFiles(t, map[string]string{
		"w.toml": profile("w", "work"),
	})
	user := writeFiles(t, map[string]string{
		"a.toml":     profile("a", "user a"),
		"b@2.toml":   profile("b", "user b@2"),
		"v@1.toml":   "version = \"1\"\n" + profile("v", "user v@1"),
		"w.toml":     profile("w", "user w"),
		"bad.toml":   "name = \"bad\"\ncommand = []\n",
		"other.toml": profile("a", "named a"),
		"ver@1.toml": "version = \"2\"\n" + profile("ver", "wrong version"),
	})
	system := writeFiles(t, map[string]string{
		"a.toml": profile("a", "system a"),
		"b.toml": profile("b", "system b"),
		"c.toml": profile("c", "system c"),
	})
	builtin := mapFS(map[string]string{
		"b@2.toml": profile("b", "builtin b@2"),
		"c.toml":   profile("c", "builtin c"),
		"d.toml":   "version = \"x\"\n" + profile("d", "builtin d"),
		"d@3.toml": profile("d", "builtin d@3"),
	})
	sp := SearchPath{WorkDir: work, Dirs: []string{user, filepath.Join(work, "missing"), system}, Builtin: builtin}

	for _, tt := range []struct {
		ref     string
		desc    string // of the profile found
		id      string // its ID
		source  string
		wantErr string // instead
	}{
		{ref: "w", desc: "work", id: "w", source: filepath.Join(work, "w.toml")},
		{ref: "a", desc: "user a", id: "a", source: filepath.Join(user, "a.toml")},
		{ref: "c", desc: "system c", id: "c", source: filepath.Join(system, "c.toml")},
		{ref: "d", desc: "builtin d", id: "d@x", source: "builtin:d.toml"},
		// NAME@VERSION.toml wins over NAME.toml in a place...
		{ref: "d@3", desc: "builtin d@3", id: "d@3", source: "builtin:d@3.toml"},
		{ref: "b@2", desc: "user b@2", id: "b@2", source: filepath.Join(user, "b@2.toml")},
		{ref: "v@1", desc: "user v@1", id: "v@1"},
		// ...but an earlier place wins over both, and NAME.toml takes the version.
		{ref: "a@9", desc: "user a", id: "a@9", source: filepath.Join(user, "a.toml")},
		{ref: "b", desc: "system b", id: "b"},
		{ref: "c@1.0", desc: "system c", id: "c@1.0"},
		{ref: "d@4", desc: "builtin d", id: "d@4"},
		// files
		{ref: filepath.Join(user, "other.toml"), desc: "named a", id: "a"},
		{ref: filepath.Join(user, "nothere.toml"), wantErr: "profile not found: open "},
		// refused
		{ref: "bad", wantErr: "bad.toml:2: command = []"},
		{ref: "other", wantErr: `other.toml:1: name = "a": does not match the file's name; rename the file to a.toml or set name = "other"`},
		{ref: "ver@1", wantErr: `ver@1.toml:1: version = "2": does not match the file's name; rename the file to ver@2.toml or set version = "1"`},
		{ref: "../a", wantErr: `invalid profile: "../a" is neither a profile name`},
		{ref: "A", wantErr: `invalid profile: "A" is neither`},
		{ref: "a@", wantErr: `invalid profile: "a@" is neither`},
		{ref: "a@b@c", wantErr: `invalid profile: "a@b@c" is neither`},
		{ref: "", wantErr: `invalid profile: "" is neither`},
		// not found
		{ref: "zz", wantErr: `profile not found: "zz": looked for zz.toml in ` + work + ", " + user + ", " + filepath.Join(work, "missing") + ", " + system + ", the built-in profiles"},
		{ref: "zz@1", wantErr: `profile not found: "zz@1": looked for zz@1.toml and zz.toml in `},
	} {
		p, err := sp.Find(tt.ref)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Find(%q) = %v, want error containing %q", tt.ref, err, tt.wantErr)
			}
			wantIs := ErrInvalid
			if strings.Contains(tt.wantErr, "not found") {
				wantIs = ErrNotFound
			}
			if !errors.Is(err, wantIs) {
				t.Errorf("Find(%q) = %v, want an error wrapping %v", tt.ref, err, wantIs)
			}
			continue
		}
		if err != nil {
			t.Errorf("Find(%q): %v", tt.ref, err)
			continue
		}
		if p.Description != tt.desc || p.ID() != tt.id || tt.source != "" && p.Source != tt.source {
			t.Errorf("Find(%q) = %q %q from %s; want %q %q from %s", tt.ref, p.ID(), p.Description, p.Source, tt.id, tt.desc, tt.source)
		}
	}
}

func TestFindNotExist(t *testing.T) {
	_, err := SearchPath{}.Find("/no/such/dir/x.toml")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Find(missing file) = %v, want ErrNotFound and fs.ErrNotExist", err)
	}
}

func TestList(t *testing.T) {
	user := writeFiles(t, map[string]string{
		"a.toml":        profile("a", "user a"),
		"bad.toml":      "name = \"bad\"\n",
		"Bad Name.toml": profile("x", "x"),
		"notes.txt":     "not a profile",
	})
	if err := os.Mkdir(filepath.Join(user, "dir.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	system := writeFiles(t, map[string]string{
		"a.toml":   profile("a", "system a"),
		"a@1.toml": profile("a", "system a@1"),
		"b.toml":   profile("b", "system b"),
	})
	builtin := mapFS(map[string]string{
		"b.toml":   profile("b", "builtin b"),
		"b@1.toml": profile("b", "builtin b@1"),
		"c.toml":   profile("c", "builtin c"),
	})
	work := writeFiles(t, map[string]string{"c.toml": profile("c", "work c"), "Cargo.toml": "[package]\n"})
	sp := SearchPath{WorkDir: work, Dirs: []string{user, filepath.Join(user, "missing"), system}, Builtin: builtin}

	entries, err := sp.List()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID, Desc, Source string
		Shadowed, Err    bool
	}
	var got []row
	for _, e := range entries {
		got = append(got, row{e.ID, e.Description, e.Source, e.Shadowed, e.Err != nil})
	}
	want := []row{
		{"Bad Name", "", filepath.Join(user, "Bad Name.toml"), false, true},
		{"a", "user a", filepath.Join(user, "a.toml"), false, false},
		{"bad", "", filepath.Join(user, "bad.toml"), false, true},
		{"a", "system a", filepath.Join(system, "a.toml"), true, false},
		{"a@1", "system a@1", filepath.Join(system, "a@1.toml"), true, false},
		{"b", "system b", filepath.Join(system, "b.toml"), false, false},
		{"b", "builtin b", "builtin:b.toml", true, false},
		{"b@1", "builtin b@1", "builtin:b@1.toml", true, false},
		{"c", "builtin c", "builtin:c.toml", false, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List:\n got %v\nwant %v", got, want)
	}
	for _, e := range entries {
		if e.Err != nil && !errors.Is(e.Err, ErrInvalid) {
			t.Errorf("entry %s: error %v does not wrap ErrInvalid", e.ID, e.Err)
		}
	}
}

func TestBuiltins(t *testing.T) {
	files, err := fs.Glob(Builtin(), "*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("builtin profiles: %v, want at least xclock, xeyes and xterm", files)
	}
	sp := SearchPath{Builtin: Builtin()}
	for _, f := range files {
		id := strings.TrimSuffix(f, ".toml")
		p, err := sp.Find(id)
		if err != nil {
			t.Errorf("builtin %s: %v", f, err)
			continue
		}
		if p.Source != "builtin:"+f || p.ID() != id {
			t.Errorf("builtin %s: Source %q, ID %q", f, p.Source, p.ID())
		}
		if p.Description == "" || p.Desktop.Name == "" {
			t.Errorf("builtin %s: no description or desktop name", f)
		}
		if p.Network.Mode != NetworkNone {
			t.Errorf("builtin %s: network.mode = %q, want none", f, p.Network.Mode)
		}
		q, err := Parse(p.Source, Format(p))
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Errorf("builtin %s: round trip: %v", f, err)
		}
	}
}

func TestDefaultSearchPath(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	for _, tt := range []struct{ xdg, want string }{
		{"", "/home/u/.config/nook/profiles"},
		{"relative", "/home/u/.config/nook/profiles"},
		{"/x", "/x/nook/profiles"},
	} {
		t.Setenv("XDG_CONFIG_HOME", tt.xdg)
		sp := DefaultSearchPath()
		if want := []string{tt.want, "/etc/nook/profiles"}; !reflect.DeepEqual(sp.Dirs, want) {
			t.Errorf("XDG_CONFIG_HOME=%q: Dirs = %q, want %q", tt.xdg, sp.Dirs, want)
		}
		if wd, _ := os.Getwd(); sp.WorkDir != wd || sp.Builtin == nil {
			t.Errorf("WorkDir = %q (want %q), Builtin = %v", sp.WorkDir, wd, sp.Builtin)
		}
	}
}
