package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nook-sandbox/nook/profiles"
)

// nook runs the CLI with args in an empty working directory and an empty
// profile directory, dir/nook/profiles, and returns its output.
func nook(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	root := newRootCommand(nil)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func writeProfile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProfileCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeProfile(t, dir, "good.toml", "name = \"good\"\ncommand = [\"app\"]\n")
	bad := writeProfile(t, dir, "bad.toml", "name = \"bad\"\ncommand = [\"app\"]\n[display]\nx11 = \"foo\"\n")

	stdout, stderr, err := nook(t, dir, "profile", "check", good, bad)
	if want := good + ": ok\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if want := bad + `:4: display.x11 = "foo": must be "none", "host" or "nested"` + "\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.Code != 1 || ee.Err != nil {
		t.Errorf("err = %v, want exit status 1 with nothing more to print", err)
	}

	if _, _, err := nook(t, dir, "profile", "check", good); err != nil {
		t.Errorf("check of a good file: %v", err)
	}
}

func TestProfileShow(t *testing.T) {
	stdout, _, err := nook(t, t.TempDir(), "profile", "show", "xclock@2")
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(stdout, "# source: builtin:xclock.toml\n")
	if !ok {
		t.Fatalf("no source comment:\n%s", stdout)
	}
	p, err := profiles.Parse("shown.toml", []byte(body))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, stdout)
	}
	if p.ID() != "xclock@2" || p.Image != profiles.ImageHost {
		t.Errorf("shown profile: ID %q, image %q", p.ID(), p.Image)
	}

	if _, _, err := nook(t, t.TempDir(), "profile", "show", "no-such-app"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("show no-such-app: err = %v, want ErrNotFound", err)
	}
}

func TestProfileList(t *testing.T) {
	dir := t.TempDir()
	writeProfile(t, filepath.Join(dir, "nook", "profiles"), "xclock.toml",
		"name = \"xclock\"\ndescription = \"My clock\"\ncommand = [\"xclock\"]\n")
	stdout, _, err := nook(t, dir, "profile", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("list:\n%s", stdout)
	}
	if f := strings.Fields(lines[1]); len(f) < 3 || f[0] != "xclock" || !strings.HasSuffix(f[1], "/xclock.toml") || f[2] != "My" {
		t.Errorf("first entry: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 3 || f[0] != "xclock" || f[1] != "builtin:xclock.toml" || f[2] != "(shadowed)" {
		t.Errorf("second entry: %q", lines[2])
	}
}
