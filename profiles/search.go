package profiles

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nook-sandbox/nook/witness"
)

//go:embed builtin/*.toml
var builtinFiles embed.FS

// Builtin returns the profiles embedded in nook, as NAME.toml files at the
// root of the file system.
func Builtin() fs.FS {
	sub, err := fs.Sub(builtinFiles, "builtin")
	if err != nil {
		panic(err) // "builtin" is a valid path
	}
	return sub
}

// SearchPath is where profiles are found by name: WorkDir first, then
// each of Dirs, then Builtin. A place left empty (or nil) is skipped.
type SearchPath struct {
	WorkDir string   // the directory nook was started in
	Dirs    []string // profile directories, first wins
	Builtin fs.FS    // NAME.toml files at its root, as from Builtin
	// Witness, when not nil, records what Find finds at each file path it
	// tries, before reading it (a warm launch checks those facts again).
	Witness *witness.Log
}

// DefaultSearchPath is the working directory, then
// $XDG_CONFIG_HOME/nook/profiles (~/.config/nook/profiles if that is unset
// or not absolute), then /etc/nook/profiles, then the built-in profiles.
func DefaultSearchPath() SearchPath {
	var sp SearchPath
	if wd, err := os.Getwd(); err == nil {
		sp.WorkDir = wd
	}
	config := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(config) {
		config = ""
		if home, err := os.UserHomeDir(); err == nil {
			config = filepath.Join(home, ".config")
		}
	}
	if config != "" {
		sp.Dirs = append(sp.Dirs, filepath.Join(config, "nook", "profiles"))
	}
	sp.Dirs = append(sp.Dirs, "/etc/nook/profiles")
	sp.Builtin = Builtin()
	return sp
}

// Find finds a profile in the default search path; see SearchPath.Find.
// A ref that is a file does not need the search path, which Find then
// does not make (it stats the working directory and sets up the built-in
// profiles: 0.03 ms of a launch).
func Find(ref string) (*Profile, error) { return FindWitnessed(ref, nil) }

// FindWitnessed is Find, recording in w (nil: nowhere) what it finds at
// each file path it tries, before it reads it.
func FindWitnessed(ref string, w *witness.Log) (*Profile, error) {
	if strings.HasSuffix(ref, ".toml") {
		w.Stat(ref)
		return Load(ref)
	}
	sp := DefaultSearchPath()
	sp.Witness = w
	return sp.Find(ref)
}

// List lists the profiles in the default search path; see SearchPath.List.
func List() ([]Entry, error) { return DefaultSearchPath().List() }

// ParseRef splits a profile reference, "NAME" or "NAME@VERSION", into
// name and version. Both follow the rules of the name key, so a reference
// never names a path.
func ParseRef(ref string) (name, version string, err error) {
	name, version, hasVersion := strings.Cut(ref, "@")
	if checkName(name) != nil || hasVersion && checkName(version) != nil {
		return "", "", fmt.Errorf(`%w: %q is neither a profile name, as in "firefox" or "firefox@esr", nor a .toml file`, ErrInvalid, ref)
	}
	return name, version, nil
}

// place is one place of a search path.
type place struct {
	dir    string // "" for the built-in profiles
	fsys   fs.FS
	source func(file string) string // the Source of a profile in it
	desc   string                   // for "not found" errors
}

func (sp SearchPath) places(withWorkDir bool) []place {
	var ps []place
	dir := func(d string) place {
		return place{d, os.DirFS(d), func(f string) string { return filepath.Join(d, f) }, d}
	}
	if withWorkDir && sp.WorkDir != "" {
		ps = append(ps, dir(sp.WorkDir))
	}
	for _, d := range sp.Dirs {
		if d != "" {
			ps = append(ps, dir(d))
		}
	}
	if sp.Builtin != nil {
		ps = append(ps, place{"", sp.Builtin, func(f string) string { return builtinPrefix + f }, "the built-in profiles"})
	}
	return ps
}

// Find returns the profile ref names.
//
// A ref ending in ".toml" is a file, loaded as is. Otherwise it is NAME or
// NAME@VERSION, looked for in each place of sp in turn: the first place
// that has a file for it wins. In a place, NAME@VERSION is NAME@VERSION.toml
// or else NAME.toml, whose Version is then set to VERSION: a version of
// the same app with its own state. NAME is NAME.toml alone.
//
// The profile's name key must be NAME, and a version key in
// NAME@VERSION.toml must be VERSION; a file that says otherwise is refused,
// not skipped. When no place has a file, the error wraps ErrNotFound and
// lists the places.
func (sp SearchPath) Find(ref string) (*Profile, error) {
	if strings.HasSuffix(ref, ".toml") {
		sp.Witness.Stat(ref)
		return Load(ref)
	}
	name, version, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	files := []string{name + ".toml"}
	if version != "" {
		files = []string{ref + ".toml", name + ".toml"}
	}
	var looked []string
	for _, pl := range sp.places(true) {
		looked = append(looked, pl.desc)
		for _, f := range files {
			if pl.dir != "" {
				sp.Witness.Stat(filepath.Join(pl.dir, f))
			}
			p, err := pl.load(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if f == name+".toml" && version != "" {
				p.Version = version
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %q: looked for %s in %s", ErrNotFound, ref,
		strings.Join(files, " and "), strings.Join(looked, ", "))
}

// load reads, parses and checks the profile file f of pl: its name key
// must match the file's name, and so must its version key, if the file's
// name has a version. A missing file is an error wrapping fs.ErrNotExist.
func (pl place) load(f string) (*Profile, error) {
	source := pl.source(f)
	r, err := pl.fsys.Open(f)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("load profile: %w", err)
	}
	defer r.Close()
	data, err := readProfile(source, r)
	if err != nil {
		return nil, err
	}
	p, err := Parse(source, data)
	if err != nil {
		return nil, err
	}
	name, version, _ := strings.Cut(strings.TrimSuffix(f, ".toml"), "@")
	switch {
	case p.Name != name:
		return nil, &Error{Source: source, Line: keyLines(string(data))["name"], Key: "name", Msg: fmt.Sprintf(
			"name = %s: does not match the file's name; rename the file to %s or set name = %s",
			quote(p.Name), p.Name+strings.TrimPrefix(f, name), quote(name))}
	case version != "" && p.Version != "" && p.Version != version:
		return nil, &Error{Source: source, Line: keyLines(string(data))["version"], Key: "version", Msg: fmt.Sprintf(
			"version = %s: does not match the file's name; rename the file to %s@%s.toml or set version = %s",
			quote(p.Version), name, p.Version, quote(version))}
	}
	if version != "" {
		p.Version = version
	}
	return p, nil
}

// Entry is a profile file in a search path, as listed by List.
type Entry struct {
	ID          string // the file's name without ".toml": what Find takes
	Description string // the profile's description
	Source      string // where the file is, as in Profile.Source
	// Shadowed says Find(ID) finds another file, in an earlier place.
	Shadowed bool
	// Err says why the profile does not load; nil if it does.
	Err error
}

// List returns the profiles in sp's Dirs and Builtin, in search order and
// by name in each place. Files in WorkDir are not listed: any .toml file
// may be there. Directories that do not exist are skipped.
func (sp SearchPath) List() ([]Entry, error) {
	var entries []Entry
	earlier := map[string]bool{} // IDs in earlier places
	for _, pl := range sp.places(false) {
		files, err := fs.ReadDir(pl.fsys, ".")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list profiles in %s: %w", pl.desc, err)
		}
		var here []string
		for _, f := range files {
			id, ok := strings.CutSuffix(f.Name(), ".toml")
			if !ok || f.IsDir() {
				continue
			}
			here = append(here, id)
			e := Entry{ID: id, Source: pl.source(f.Name())}
			name, _, _ := strings.Cut(id, "@")
			e.Shadowed = earlier[id] || earlier[name]
			if _, _, err := ParseRef(id); err != nil {
				e.Err = &Error{Source: e.Source, Msg: "file name is not NAME.toml or NAME@VERSION.toml, with NAME and VERSION made of [a-z0-9._-]"}
			} else if p, err := pl.load(f.Name()); err != nil {
				e.Err = err
			} else {
				e.Description = p.Description
			}
			entries = append(entries, e)
		}
		for _, id := range here {
			earlier[id] = true
		}
	}
	return entries, nil
}
