package bootstrap_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/image/bootstrap"
	"github.com/nook-sandbox/nook/image/bootstrap/bootstraptest"
)

func TestSuite(t *testing.T) {
	scripts := t.TempDir()
	for _, s := range []string{"bookworm", "trixie"} {
		os.WriteFile(filepath.Join(scripts, s), nil, 0o644)
	}
	for _, tc := range []struct {
		ref, want, err string
	}{
		{"debian:bookworm", "bookworm", ""},
		{"debian:trixie", "trixie", ""},
		{"debian:sid", "", "does not know the suite \"sid\""},
		{"ubuntu:noble", "", "bootstrap makes debian:SUITE images"},
		{"debian", "", "bootstrap makes debian:SUITE images"},
		{"debian:", "", "bootstrap makes debian:SUITE images"},
		{"debian:../../etc", "", "is not a Debian suite name"},
		{"debian:Bookworm", "", "is not a Debian suite name"},
	} {
		got, err := bootstrap.Suite(tc.ref, scripts)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Suite(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Suite(%q) error %v, want one saying %q", tc.ref, err, tc.err)
		}
	}
}

func TestHostMirror(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"deb822", map[string]string{"sources.list.d/debian.sources": "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"}, "http://deb.debian.org/debian"},
		{"security first", map[string]string{"sources.list.d/debian.sources": "URIs: http://security.debian.org/debian-security\n\nURIs: https://mirror.example.org/debian/\n"}, "https://mirror.example.org/debian"},
		{"one-line", map[string]string{"sources.list": "# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.de.debian.org/debian bookworm main\n"}, "http://ftp.de.debian.org/debian"},
		{"sources.list before .d", map[string]string{"sources.list": "deb http://a.example/debian bookworm main\n", "sources.list.d/x.sources": "URIs: http://b.example/debian\n"}, "http://a.example/debian"},
		{"not debian", map[string]string{"sources.list": "deb http://archive.ubuntu.com/ubuntu noble main\ndeb file:/srv/debian bookworm main\n"}, ""},
		{"nothing", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "sources.list.d"), 0o755)
			for f, data := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := bootstrap.HostMirror(dir); got != tc.want {
				t.Errorf("HostMirror = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBootstrap makes (or, after the first time on this machine, reuses)
// a real Debian bookworm image and looks inside it. Rootless, Bootstrap
// must refuse with ErrNeedsRoot.
func TestBootstrap(t *testing.T) {
	st, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		_, err := bootstrap.Bootstrap(context.Background(), st, "debian:bookworm", "bookworm", bootstrap.Options{})
		if !errors.Is(err, bootstrap.ErrNeedsRoot) || !strings.Contains(err.Error(), "sudo nook image bootstrap") {
			t.Fatalf("rootless Bootstrap: %v, want ErrNeedsRoot saying to use sudo", err)
		}
	}
	ref := bootstraptest.Bookworm(t, st)
	img, err := st.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(img.Layers))
	}
	root := img.Layers[0].Dir
	if b, err := os.ReadFile(filepath.Join(root, "etc/debian_version")); err != nil || !strings.HasPrefix(string(b), "12.") {
		t.Errorf("etc/debian_version = %q, %v; want 12.x", b, err)
	}
	for _, f := range []string{"usr/bin/apt-get", "usr/bin/dpkg", "bin/sh", "etc/passwd"} {
		if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	for _, f := range []string{"etc/resolv.conf", "etc/hosts"} {
		if st, err := os.Stat(filepath.Join(root, f)); err != nil || st.Size() != 0 {
			t.Errorf("%s: %v; want an empty file (the host's copies do not belong in the image)", f, err)
		}
	}
	if des, _ := os.ReadDir(filepath.Join(root, "dev")); len(des) != 0 {
		t.Errorf("dev has %d entries, want none (the sandbox makes its own /dev)", len(des))
	}
	if debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb")); len(debs) != 0 {
		t.Errorf("%d downloaded packages left in the image", len(debs))
	}
}
