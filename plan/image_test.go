package plan

// Pure table tests for profiles with image = "REF": the overlay root, what
// of the host an image app does not see, env and working directory from the
// image config, and the errors of unresolved or malformed images.

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/sandbox"
)

const testRef = "example/app:1"

// imageHost is mergedHost with testRef resolved to three layers.
func imageHost() *Host {
	h := mergedHost()
	h.RootsDir = "/data/roots"
	h.Image = &Image{
		Ref:    testRef,
		Layers: []string{"/store/layers/sha256/aaa", "/store/layers/sha256/bbb", "/store/layers/sha256/ccc"},
	}
	return h
}

func TestCompileImageRoot(t *testing.T) {
	lower := "lowerdir=/store/layers/sha256/ccc:/store/layers/sha256/bbb:/store/layers/sha256/aaa"
	for _, tc := range []struct {
		name  string
		extra string
		opts  []string
	}{
		{"persistent by default", "", []string{lower, "upperdir=/data/roots/probe/upper", "workdir=/data/roots/probe/work", "userxattr", "nosuid", "nodev"}},
		{"persistent", "[filesystem]\nroot = \"persistent\"\n", []string{lower, "upperdir=/data/roots/probe/upper", "workdir=/data/roots/probe/work", "userxattr", "nosuid", "nodev"}},
		{"per version", "version = \"esr\"\n", []string{lower, "upperdir=/data/roots/probe@esr/upper", "workdir=/data/roots/probe@esr/work", "userxattr", "nosuid", "nodev"}},
		{"ephemeral", "[filesystem]\nroot = \"ephemeral\"\n", []string{lower, "userxattr", "nosuid", "nodev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := compile(t, parse(t, "image = \""+testRef+"\"\n"+tc.extra), imageHost())
			want := specs.Mount{Destination: "/", Type: "overlay", Source: "overlay", Options: tc.opts}
			if len(pl.Spec.Mounts) == 0 || !reflect.DeepEqual(pl.Spec.Mounts[0], want) {
				t.Fatalf("first mount = %s\nwant %s", dump(pl.Spec.Mounts[:1]), dump(want))
			}
			if i := mountIndex(pl, "/"); i != 0 {
				t.Errorf("a second mount on /, at %d", i)
			}
			if pl.Spec.Root == nil || pl.Spec.Root.Readonly {
				t.Errorf("Root = %+v; an image root is writable (into its upper dir)", pl.Spec.Root)
			}
		})
	}
}

// TestCompileImageHidesHost: an image app sees none of the host's system
// directories, /etc or /var; it gets the generated passwd and group, and
// the same kernel interfaces and scratch space as on the host image.
func TestCompileImageHidesHost(t *testing.T) {
	withOptional := imageHost()
	withOptional.Optional = map[string]bool{"/var/cache/fontconfig": true}
	for _, h := range []*Host{imageHost(), withOptional, func() *Host { h := imageHost(); h.Dirs = splitHost().Dirs; return h }()} {
		pl := compile(t, parse(t, "image = \""+testRef+"\"\n"), h)
		for _, m := range pl.Spec.Mounts {
			if m.Type == "bind" && !strings.HasPrefix(m.Source, "/dev/") && m.Source != h.AppHome("probe") {
				t.Errorf("host path bound into an image app: %+v", m)
			}
		}
		for _, d := range []string{"/usr", "/bin", "/lib", "/etc", "/var", "/opt"} {
			if mountIndex(pl, d) >= 0 {
				t.Errorf("%s is mounted on an image root", d)
			}
		}
		for _, l := range pl.Symlinks {
			if !strings.HasPrefix(l.Path, "/dev/") {
				t.Errorf("symlink %s on an image root; the image has its own", l.Path)
			}
		}
		for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/tmp", "/run", "/run/user/1000", "/home", "/home/alice"} {
			if mountIndex(pl, d) < 0 {
				t.Errorf("%s is missing from an image app's mounts", d)
			}
		}
		var files []string
		for _, f := range pl.Files {
			files = append(files, f.Path)
		}
		for _, f := range []string{"/etc/passwd", "/etc/group"} {
			if !slices.Contains(files, f) {
				t.Errorf("%s is not generated; files %v", f, files)
			}
		}
	}
}

func TestCompileImageNetwork(t *testing.T) {
	ro := []string{"bind", "ro", "nosuid", "nodev", "noexec"}
	for _, tc := range []struct {
		name      string
		extra     string
		optional  map[string]bool
		wantBinds []string
		wantHosts bool // a generated /etc/hosts
	}{
		{"none", "", map[string]bool{"/etc/resolv.conf": true, "/etc/hosts": true}, nil, true},
		{"host", "[network]\nmode = \"host\"\n", map[string]bool{"/etc/resolv.conf": true, "/etc/hosts": true}, []string{"/etc/resolv.conf", "/etc/hosts"}, false},
		{"host without resolv.conf", "[network]\nmode = \"host\"\n", map[string]bool{"/etc/hosts": true}, []string{"/etc/hosts"}, false},
		{"host without either", "[network]\nmode = \"host\"\n", map[string]bool{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := imageHost()
			h.Optional = tc.optional
			pl := compile(t, parse(t, "image = \""+testRef+"\"\n"+tc.extra), h)
			var binds []string
			for _, m := range pl.Spec.Mounts {
				if strings.HasPrefix(m.Destination, "/etc/") {
					binds = append(binds, m.Destination)
					if m.Source != m.Destination || !reflect.DeepEqual(m.Options, ro) {
						t.Errorf("mount %+v, want a read-only bind of the host's file", m)
					}
				}
			}
			if !slices.Equal(binds, tc.wantBinds) {
				t.Errorf("binds under /etc = %v, want %v", binds, tc.wantBinds)
			}
			var hosts *sandbox.File
			for i, f := range pl.Files {
				if f.Path == "/etc/hosts" {
					hosts = &pl.Files[i]
				}
			}
			if (hosts != nil) != tc.wantHosts {
				t.Fatalf("generated /etc/hosts = %v, want %v", hosts != nil, tc.wantHosts)
			}
			if hosts != nil && !strings.Contains(string(hosts.Data), "127.0.0.1\tlocalhost probe\n") {
				t.Errorf("/etc/hosts = %q, want localhost and the hostname", hosts.Data)
			}
		})
	}
}

func TestCompileImageConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		extra    string
		env      []string
		workdir  string
		wantEnv  map[string]string
		wantCwd  string
		otherEnv []string // keys that must be absent
	}{
		{
			name:    "no config",
			wantEnv: map[string]string{"PATH": DefaultPath, "HOME": "/home/alice"},
			wantCwd: "/home/alice",
		},
		{
			name:    "image PATH and variables",
			env:     []string{"PATH=/opt/app/bin:/usr/bin", "APP_MODE=fast", "LANG=de_DE.UTF-8"},
			wantEnv: map[string]string{"PATH": "/opt/app/bin:/usr/bin", "APP_MODE": "fast", "LANG": "C.UTF-8"},
			wantCwd: "/home/alice",
		},
		{
			name:    "profile env wins",
			extra:   "env = { APP_MODE = \"slow\", PATH = \"/bin\" }\n",
			env:     []string{"PATH=/opt/app/bin", "APP_MODE=fast"},
			wantEnv: map[string]string{"PATH": "/bin", "APP_MODE": "slow"},
			wantCwd: "/home/alice",
		},
		{
			name:    "identity is nook's",
			env:     []string{"HOME=/root", "USER=root", "LOGNAME=root", "XDG_RUNTIME_DIR=/x", "container=docker"},
			wantEnv: map[string]string{"HOME": "/home/alice", "USER": "alice", "LOGNAME": "alice", "XDG_RUNTIME_DIR": "/run/user/1000", "container": "nook"},
			wantCwd: "/home/alice",
		},
		{
			name:     "malformed entries are ignored",
			env:      []string{"NOEQUALS", "=empty", "OK=1"},
			wantEnv:  map[string]string{"OK": "1"},
			wantCwd:  "/home/alice",
			otherEnv: []string{"NOEQUALS", ""},
		},
		{name: "working dir", workdir: "/srv/app", wantCwd: "/srv/app"},
		{name: "relative working dir is ignored", workdir: "srv", wantCwd: "/home/alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := imageHost()
			h.Image.Env, h.Image.WorkingDir = tc.env, tc.workdir
			pl := compile(t, parse(t, "image = \""+testRef+"\"\n"+tc.extra), h)
			env := envOf(t, pl)
			for k, v := range tc.wantEnv {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			for _, k := range tc.otherEnv {
				if _, ok := env[k]; ok {
					t.Errorf("env has %q", k)
				}
			}
			if pl.Spec.Process.Cwd != tc.wantCwd {
				t.Errorf("Cwd = %q, want %q", pl.Spec.Process.Cwd, tc.wantCwd)
			}
		})
	}
}

func TestCompileImageErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		host  func(*Host)
		want  string
	}{
		{"not resolved", "", func(h *Host) { h.Image = nil }, `image "example/app:1" was not resolved`},
		{"another image resolved", "", func(h *Host) { h.Image.Ref = "other:1" }, `image "example/app:1" was not resolved`},
		{"no layers", "", func(h *Host) { h.Image.Layers = nil }, "has no layers"},
		{"relative layer", "", func(h *Host) { h.Image.Layers[1] = "layers/bbb" }, `layer directory "layers/bbb"`},
		{"colon in layer", "", func(h *Host) { h.Image.Layers[0] = "/a:b" }, `layer directory "/a:b"`},
		{"comma in layer", "", func(h *Host) { h.Image.Layers[0] = "/a,upperdir=/x" }, `layer directory "/a,upperdir=/x"`},
		{"no roots dir", "", func(h *Host) { h.RootsDir = "" }, "persistent app roots is unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := imageHost()
			tc.host(h)
			err := compileErr(t, parse(t, "image = \""+testRef+"\"\n"+tc.extra), h)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	// An ephemeral root needs no roots directory.
	h := imageHost()
	h.RootsDir = ""
	compile(t, parse(t, "image = \""+testRef+"\"\n[filesystem]\nroot = \"ephemeral\"\n"), h)
}

// TestCompileImageKeepsHostPlan: the host image's plan does not change
// when the host has an image resolved or a roots dir.
func TestCompileImageKeepsHostPlan(t *testing.T) {
	want := compile(t, parse(t, ""), mergedHost())
	got := compile(t, parse(t, ""), imageHost())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("host-image plan changed with an image on the host:\n%s\nwant\n%s", dump(got), dump(want))
	}
}

// TestPrepareAndResetRoot: PrepareRoot makes upper and work dirs (upper
// 0755: it is the app's /), CheckRootImage warns once when the image under
// a root changed, and ResetRoot removes a root whatever the app left in it.
func TestPrepareAndResetRoot(t *testing.T) {
	h := imageHost()
	h.RootsDir = filepath.Join(t.TempDir(), "roots")
	h.UID, h.GID = uint32(os.Getuid()), uint32(os.Getgid())
	dir, err := h.PrepareRoot("app@1")
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(h.RootsDir, "app@1") {
		t.Errorf("PrepareRoot = %s", dir)
	}
	for sub, mode := range map[string]os.FileMode{"upper": 0o755, "work": 0o700} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %o", sub, fi, err, mode)
		}
	}
	if _, err := h.PrepareRoot("app@1"); err != nil {
		t.Errorf("PrepareRoot again: %v", err)
	}

	h.Image.Digest = "sha256:1111111111111111111111111111"
	for i, tc := range []struct {
		digest, want string
	}{
		{"sha256:1111111111111111111111111111", ""},
		{"sha256:1111111111111111111111111111", ""},
		{"sha256:2222222222222222222222222222", "'nook reset app@1'"},
		{"sha256:2222222222222222222222222222", ""},
	} {
		h.Image.Digest = tc.digest
		got := h.CheckRootImage("app@1")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("call %d: CheckRootImage = %q, want %q", i, got, tc.want)
		}
	}

	// What an app leaves: a read-only directory with files, a whiteout-like
	// entry, a symlink out.
	ro := filepath.Join(dir, "upper", "ro")
	os.MkdirAll(filepath.Join(ro, "deep"), 0o755)
	os.WriteFile(filepath.Join(ro, "deep", "f"), []byte("x"), 0o400)
	os.Symlink("/etc/passwd", filepath.Join(dir, "upper", "link"))
	os.Chmod(filepath.Join(ro, "deep"), 0o500)
	os.Chmod(ro, 0o500)
	got, err := h.ResetRoot("app@1")
	if err != nil || got != dir {
		t.Fatalf("ResetRoot = %q, %v; want %s", got, err, dir)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("root still there: %v", err)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Errorf("ResetRoot followed a symlink out: %v", err)
	}
	if got, err := h.ResetRoot("app@1"); got != "" || err != nil {
		t.Errorf("ResetRoot of nothing = %q, %v", got, err)
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../roots"} {
		if _, err := h.ResetRoot(bad); err == nil {
			t.Errorf("ResetRoot(%q) accepted", bad)
		}
	}
}
