package plan

// Pure table tests for Compile: every profile key's effect on the plan and
// every error, on hand-made hosts. Nothing here touches the machine except
// the seccomp JSON files written to t.TempDir().
//
// Tests whose comment says "guards a fixed bug" pin a defect these tests
// found in compile.go or host.go; each says what was wrong and the fix.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/devices"
	"github.com/nook-sandbox/nook/profiles"
	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/seccomp"
)

// baseProfile is the smallest valid profile; tests append keys to it. It
// holds only top-level keys, so what follows may add top-level keys before
// any table.
const baseProfile = "name = \"probe\"\ncommand = [\"/usr/bin/probe\", \"--flag\"]\n"

// parse parses baseProfile plus extra as test.toml.
func parse(t *testing.T, extra string) *profiles.Profile {
	t.Helper()
	p, err := profiles.Parse("test.toml", []byte(baseProfile+extra))
	if err != nil {
		t.Fatalf("parsing profile: %v\n%s%s", err, baseProfile, extra)
	}
	return p
}

// mergedHost is a host with a merged /usr, as Debian 12 has.
func mergedHost() *Host {
	return &Host{
		UID: 1000, GID: 1000,
		User:     "alice",
		Home:     "/home/alice",
		UserHome: "/home/alice",
		HomesDir: "/data/homes",
		Env:      map[string]string{"TERM": "xterm-256color", "LANG": "C.UTF-8"},
		Dirs:     map[string]string{"/usr": "", "/bin": "usr/bin", "/lib": "usr/lib", "/lib64": "usr/lib64", "/sbin": "usr/sbin"},
		Optional: map[string]bool{},
	}
}

// splitHost is a host whose /bin, /sbin and /lib are real directories.
func splitHost() *Host {
	h := mergedHost()
	h.Dirs = map[string]string{"/usr": "", "/bin": "", "/sbin": "", "/lib": "", "/lib64": "", "/opt": ""}
	return h
}

// testCookie is the X11 cookie of testDisplay.
var testCookie = devices.Cookie{
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
}

// testDisplay is display :3 with a cookie, as ProbeX11 would find it.
func testDisplay() *devices.X11Display {
	return &devices.X11Display{
		Number: 3,
		Socket: "/tmp/.X11-unix/X3",
		Cookie: append(devices.Cookie(nil), testCookie...),
	}
}

func x11Host() *Host {
	h := mergedHost()
	h.X11 = testDisplay()
	return h
}

func compile(t *testing.T, p *profiles.Profile, h *Host, args ...string) *sandbox.Plan {
	t.Helper()
	pl, err := Compile(p, h, args)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return pl
}

// compileErr compiles and returns the error, failing the test if there is
// none.
func compileErr(t *testing.T, p *profiles.Profile, h *Host) error {
	t.Helper()
	pl, err := Compile(p, h, nil)
	if err == nil {
		t.Fatalf("Compile succeeded, want an error; plan:\n%s", dump(pl))
	}
	if pl != nil {
		t.Errorf("Compile returned a plan along with error %v", err)
	}
	return err
}

func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

// envOf returns the plan's environment as a map, failing on a duplicate
// or malformed entry.
func envOf(t *testing.T, pl *sandbox.Plan) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, kv := range pl.Spec.Process.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			t.Errorf("malformed env entry %q", kv)
			continue
		}
		if _, dup := env[k]; dup {
			t.Errorf("env sets %s twice", k)
		}
		env[k] = v
	}
	return env
}

// mountIndex returns the index of the last mount at dst, or -1.
func mountIndex(pl *sandbox.Plan, dst string) int {
	idx := -1
	for i, m := range pl.Spec.Mounts {
		if m.Destination == dst {
			idx = i
		}
	}
	return idx
}

func mountAt(t *testing.T, pl *sandbox.Plan, dst string) specs.Mount {
	t.Helper()
	i := mountIndex(pl, dst)
	if i < 0 {
		t.Fatalf("no mount at %s; mounts:\n%s", dst, dump(pl.Spec.Mounts))
	}
	return pl.Spec.Mounts[i]
}

func destinations(pl *sandbox.Plan) []string {
	var out []string
	for _, m := range pl.Spec.Mounts {
		out = append(out, m.Destination)
	}
	return out
}

func fileAt(pl *sandbox.Plan, path string) (sandbox.File, bool) {
	for _, f := range pl.Files {
		if f.Path == path {
			return f, true
		}
	}
	return sandbox.File{}, false
}

func hasWarning(pl *sandbox.Plan, substr string) bool {
	return slices.ContainsFunc(pl.Warnings, func(w string) bool { return strings.Contains(w, substr) })
}

func isBind(m specs.Mount) bool { return m.Type == "bind" || slices.Contains(m.Options, "bind") }

// deviceNodes are the host device nodes every sandbox gets, and no other.
var deviceNodes = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

func TestCompileIdentity(t *testing.T) {
	for _, tc := range []struct {
		extra, app, hostname string
	}{
		{"", "probe", "probe"},
		{"version = \"v2\"\n", "probe@v2", "probe"},
		{"version = \"1.0_beta-3\"\n", "probe@1.0_beta-3", "probe"},
	} {
		t.Run(tc.app, func(t *testing.T) {
			pl := compile(t, parse(t, tc.extra), mergedHost())
			if pl.App != tc.app {
				t.Errorf("App = %q, want %q", pl.App, tc.app)
			}
			if pl.Spec.Hostname != tc.hostname {
				t.Errorf("Hostname = %q, want %q", pl.Spec.Hostname, tc.hostname)
			}
			if pl.Spec.Version != specs.Version {
				t.Errorf("spec Version = %q, want %q", pl.Spec.Version, specs.Version)
			}
			if want := (&specs.Root{Path: "", Readonly: true}); !reflect.DeepEqual(pl.Spec.Root, want) {
				t.Errorf("Root = %+v, want %+v (empty tmpfs root, read-only)", pl.Spec.Root, want)
			}
		})
	}
}

func TestCompileProcess(t *testing.T) {
	for _, tc := range []struct {
		name    string
		command string
		args    []string
		want    []string
	}{
		{"no args", `["/usr/bin/probe"]`, nil, []string{"/usr/bin/probe"}},
		{"empty args", `["/usr/bin/probe"]`, []string{}, []string{"/usr/bin/probe"}},
		{"profile args", `["/usr/bin/probe", "-a", "b c"]`, nil, []string{"/usr/bin/probe", "-a", "b c"}},
		{"appended args", `["/usr/bin/probe", "-a"]`, []string{"--", "x y", ""}, []string{"/usr/bin/probe", "-a", "--", "x y", ""}},
		{"program name", `["probe"]`, []string{"-v"}, []string{"probe", "-v"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := profiles.Parse("test.toml", []byte("name = \"probe\"\ncommand = "+tc.command+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			pl := compile(t, p, mergedHost(), tc.args...)
			proc := pl.Spec.Process
			if proc == nil {
				t.Fatal("Process is nil")
			}
			if !reflect.DeepEqual(proc.Args, tc.want) {
				t.Errorf("Args = %q, want %q", proc.Args, tc.want)
			}
			if proc.Cwd != "/home/alice" {
				t.Errorf("Cwd = %q, want the home /home/alice", proc.Cwd)
			}
			if want := (specs.User{UID: 1000, GID: 1000}); !reflect.DeepEqual(proc.User, want) {
				t.Errorf("User = %+v, want %+v", proc.User, want)
			}
			if !proc.NoNewPrivileges {
				t.Error("NoNewPrivileges is false")
			}
			if proc.Terminal {
				t.Error("Terminal is true")
			}
			c := proc.Capabilities
			if c == nil {
				t.Fatal("Capabilities is nil; want every set present and empty")
			}
			for name, set := range map[string][]string{
				"Bounding": c.Bounding, "Effective": c.Effective, "Inheritable": c.Inheritable,
				"Permitted": c.Permitted, "Ambient": c.Ambient,
			} {
				if set == nil || len(set) != 0 {
					t.Errorf("Capabilities.%s = %#v, want empty and non-nil", name, set)
				}
			}
		})
	}
}

func TestCompileProcessOtherIdentity(t *testing.T) {
	h := mergedHost()
	h.UID, h.GID, h.User, h.Home = 1234, 5678, "bob", "/home/bob"
	pl := compile(t, parse(t, ""), h)
	if want := (specs.User{UID: 1234, GID: 5678}); !reflect.DeepEqual(pl.Spec.Process.User, want) {
		t.Errorf("User = %+v, want %+v", pl.Spec.Process.User, want)
	}
	if pl.Spec.Process.Cwd != "/home/bob" {
		t.Errorf("Cwd = %q, want /home/bob", pl.Spec.Process.Cwd)
	}
	env := envOf(t, pl)
	for k, want := range map[string]string{"HOME": "/home/bob", "USER": "bob", "LOGNAME": "bob", "XDG_RUNTIME_DIR": "/run/user/1234"} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if mountIndex(pl, "/run/user/1234") < 0 {
		t.Errorf("no runtime dir mount at /run/user/1234: %q", destinations(pl))
	}
}

func TestCompileEnv(t *testing.T) {
	defaults := map[string]string{
		"PATH":            DefaultPath,
		"HOME":            "/home/alice",
		"USER":            "alice",
		"LOGNAME":         "alice",
		"SHELL":           "/bin/sh",
		"XDG_RUNTIME_DIR": "/run/user/1000",
		"container":       "nook",
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		extra   string
		hostEnv map[string]string
		x11     *devices.X11Display
		want    map[string]string
	}{
		{
			name: "defaults only",
			want: defaults,
		},
		{
			name:    "host env is passed",
			hostEnv: map[string]string{"TERM": "xterm", "LANG": "de_DE.UTF-8", "LC_TIME": "C"},
			want:    with(defaults, "TERM", "xterm", "LANG", "de_DE.UTF-8", "LC_TIME", "C"),
		},
		{
			name:    "host env beats defaults",
			hostEnv: map[string]string{"SHELL": "/bin/zsh", "PATH": "/host/bin"},
			want:    with(defaults, "SHELL", "/bin/zsh", "PATH", "/host/bin"),
		},
		{
			name:  "profile env beats defaults",
			extra: "env = { PATH = \"/opt/probe/bin:/usr/bin\", SHELL = \"/bin/bash\", MOZ_X = \"1\" }\n",
			want:  with(defaults, "PATH", "/opt/probe/bin:/usr/bin", "SHELL", "/bin/bash", "MOZ_X", "1"),
		},
		{
			name:    "profile env beats host env",
			extra:   "env = { TERM = \"dumb\" }\n",
			hostEnv: map[string]string{"TERM": "xterm", "LANG": "C"},
			want:    with(defaults, "TERM", "dumb", "LANG", "C"),
		},
		{
			name:    "device beats host env",
			extra:   "[display]\nx11 = \"host\"\n",
			hostEnv: map[string]string{"DISPLAY": ":99", "XAUTHORITY": "/home/alice/.Xauthority"},
			x11:     testDisplay(),
			want:    with(defaults, "DISPLAY", ":3", "XAUTHORITY", "/run/user/1000/Xauthority"),
		},
		{
			name:    "profile env beats device",
			extra:   "env = { DISPLAY = \":7\" }\n[display]\nx11 = \"host\"\n",
			hostEnv: map[string]string{"DISPLAY": ":99"},
			x11:     testDisplay(),
			want:    with(defaults, "DISPLAY", ":7", "XAUTHORITY", "/run/user/1000/Xauthority"),
		},
		{
			name:  "empty value is kept",
			extra: "env = { EMPTY = \"\" }\n",
			want:  with(defaults, "EMPTY", ""),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mergedHost()
			h.Env = tc.hostEnv
			h.X11 = tc.x11
			pl := compile(t, parse(t, tc.extra), h)
			if got := envOf(t, pl); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("env = %v\nwant  %v", got, tc.want)
			}
			if !slices.IsSorted(pl.Spec.Process.Env) {
				t.Errorf("env is not sorted: %q", pl.Spec.Process.Env)
			}
		})
	}
}

func TestCompileNamespaces(t *testing.T) {
	always := []specs.LinuxNamespaceType{
		specs.UserNamespace, specs.MountNamespace, specs.PIDNamespace,
		specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace,
	}
	for _, tc := range []struct {
		extra   string
		mode    string
		want    []specs.LinuxNamespaceType
		warning bool
	}{
		{"", sandbox.NetworkNone, append(slices.Clone(always), specs.NetworkNamespace), false},
		{"[network]\nmode = \"none\"\n", sandbox.NetworkNone, append(slices.Clone(always), specs.NetworkNamespace), false},
		{"[network]\nmode = \"host\"\n", sandbox.NetworkHost, always, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			pl := compile(t, parse(t, tc.extra), mergedHost())
			var got []specs.LinuxNamespaceType
			for _, ns := range pl.Spec.Linux.Namespaces {
				if ns.Path != "" {
					t.Errorf("namespace %s joins %s; every namespace must be new", ns.Type, ns.Path)
				}
				got = append(got, ns.Type)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("namespaces = %v, want %v", got, tc.want)
			}
			if pl.Network.Mode != tc.mode {
				t.Errorf("Network.Mode = %q, want %q", pl.Network.Mode, tc.mode)
			}
			if w := hasWarning(pl, "network"); w != tc.warning {
				t.Errorf("network warning = %v, want %v; warnings: %q", w, tc.warning, pl.Warnings)
			}
			if !tc.warning && len(pl.Warnings) != 0 {
				t.Errorf("warnings = %q, want none", pl.Warnings)
			}
		})
	}
}

func TestCompileIDMappings(t *testing.T) {
	for _, id := range []struct{ uid, gid uint32 }{{1000, 1000}, {1, 1}, {65534, 65534}, {1000, 100}, {4000000000, 12}} {
		t.Run(fmt.Sprintf("%d:%d", id.uid, id.gid), func(t *testing.T) {
			h := mergedHost()
			h.UID, h.GID = id.uid, id.gid
			l := compile(t, parse(t, ""), h).Spec.Linux
			if want := []specs.LinuxIDMapping{{ContainerID: id.uid, HostID: id.uid, Size: 1}}; !reflect.DeepEqual(l.UIDMappings, want) {
				t.Errorf("UIDMappings = %+v, want %+v", l.UIDMappings, want)
			}
			if want := []specs.LinuxIDMapping{{ContainerID: id.gid, HostID: id.gid, Size: 1}}; !reflect.DeepEqual(l.GIDMappings, want) {
				t.Errorf("GIDMappings = %+v, want %+v", l.GIDMappings, want)
			}
			for _, m := range append(slices.Clone(l.UIDMappings), l.GIDMappings...) {
				if m.HostID == 0 || m.ContainerID == 0 {
					t.Errorf("mapping %+v maps id 0", m)
				}
			}
		})
	}
}

func TestCompileRefusesRoot(t *testing.T) {
	for _, id := range []struct{ uid, gid uint32 }{{0, 0}, {0, 1000}, {1000, 0}} {
		t.Run(fmt.Sprintf("%d:%d", id.uid, id.gid), func(t *testing.T) {
			h := mergedHost()
			h.UID, h.GID = id.uid, id.gid
			err := compileErr(t, parse(t, ""), h)
			if !strings.Contains(err.Error(), "uid or gid 0") {
				t.Errorf("error %q does not say why", err)
			}
		})
	}
}

func TestCompileHostImage(t *testing.T) {
	devLinks := []sandbox.Symlink{
		{Path: "/dev/ptmx", Target: "pts/ptmx"},
		{Path: "/dev/fd", Target: "/proc/self/fd"},
		{Path: "/dev/stdin", Target: "/proc/self/fd/0"},
		{Path: "/dev/stdout", Target: "/proc/self/fd/1"},
		{Path: "/dev/stderr", Target: "/proc/self/fd/2"},
		{Path: "/var/run", Target: "../run"},
		{Path: "/var/tmp", Target: "../tmp"},
		{Path: "/var/lock", Target: "../run/lock"},
	}
	for _, tc := range []struct {
		name      string
		dirs      map[string]string
		wantBinds []string // before /etc, in order
		wantLinks []sandbox.Symlink
	}{
		{
			name:      "merged usr",
			dirs:      mergedHost().Dirs,
			wantBinds: []string{"/usr"},
			wantLinks: []sandbox.Symlink{
				{Path: "/bin", Target: "usr/bin"}, {Path: "/sbin", Target: "usr/sbin"},
				{Path: "/lib", Target: "usr/lib"}, {Path: "/lib64", Target: "usr/lib64"},
			},
		},
		{
			name:      "split usr",
			dirs:      splitHost().Dirs,
			wantBinds: []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt"},
		},
		{
			name: "every host dir",
			dirs: map[string]string{"/usr": "", "/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib",
				"/lib32": "usr/lib32", "/lib64": "usr/lib64", "/libx32": "usr/libx32", "/opt": ""},
			wantBinds: []string{"/usr", "/opt"},
			wantLinks: []sandbox.Symlink{
				{Path: "/bin", Target: "usr/bin"}, {Path: "/sbin", Target: "usr/sbin"},
				{Path: "/lib", Target: "usr/lib"}, {Path: "/lib32", Target: "usr/lib32"},
				{Path: "/lib64", Target: "usr/lib64"}, {Path: "/libx32", Target: "usr/libx32"},
			},
		},
		{
			name:      "absolute symlink",
			dirs:      map[string]string{"/usr": "", "/bin": "/usr/bin"},
			wantBinds: []string{"/usr"},
			wantLinks: []sandbox.Symlink{{Path: "/bin", Target: "/usr/bin"}},
		},
		{
			name: "no host dirs",
			dirs: nil,
		},
		{
			name: "unknown dirs are ignored",
			dirs: map[string]string{"/usr": "", "/root": "", "/home": "", "/srv": "", "/boot": "x"},
			// /root, /home, /srv and /boot are not host image dirs.
			wantBinds: []string{"/usr"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mergedHost()
			h.Dirs = tc.dirs
			pl := compile(t, parse(t, ""), h)
			var binds []specs.Mount
			for _, d := range tc.wantBinds {
				binds = append(binds, specs.Mount{Destination: d, Type: "bind", Source: d, Options: []string{"bind", "ro", "nosuid", "nodev"}})
			}
			binds = append(binds, specs.Mount{Destination: "/etc", Type: "bind", Source: "/etc", Options: []string{"bind", "ro", "nosuid", "nodev"}})
			if got := pl.Spec.Mounts[:min(len(binds), len(pl.Spec.Mounts))]; !reflect.DeepEqual(got, binds) {
				t.Errorf("first mounts =\n%s\nwant\n%s", dump(got), dump(binds))
			}
			wantLinks := append(slices.Clone(tc.wantLinks), devLinks...)
			if !reflect.DeepEqual(pl.Symlinks, wantLinks) {
				t.Errorf("Symlinks =\n%s\nwant\n%s", dump(pl.Symlinks), dump(wantLinks))
			}
			for _, l := range tc.wantLinks {
				if mountIndex(pl, l.Path) >= 0 {
					t.Errorf("%s is both a symlink and a mount", l.Path)
				}
			}
			for _, d := range []string{"/root", "/home", "/srv", "/boot"} {
				if i := mountIndex(pl, d); i >= 0 && pl.Spec.Mounts[i].Type == "bind" {
					t.Errorf("host %s is bound: %+v", d, pl.Spec.Mounts[i])
				}
			}
		})
	}
}

// TestCompileBaseMounts is the golden list of mounts of the smallest
// profile on a merged-/usr host without optional paths.
func TestCompileBaseMounts(t *testing.T) {
	ro := []string{"bind", "ro", "nosuid", "nodev"}
	dev := func(name string) specs.Mount {
		return specs.Mount{Destination: name, Type: "bind", Source: name, Options: []string{"bind"}}
	}
	tmp := func(dst, mode string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=" + mode, "nosuid", "nodev"}}
	}
	want := []specs.Mount{
		{Destination: "/usr", Type: "bind", Source: "/usr", Options: ro},
		{Destination: "/etc", Type: "bind", Source: "/etc", Options: ro},
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755", "nosuid", "noexec"}},
		dev("/dev/null"), dev("/dev/zero"), dev("/dev/full"), dev("/dev/random"), dev("/dev/urandom"), dev("/dev/tty"),
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		tmp("/dev/shm", "1777"),
		tmp("/tmp", "1777"),
		tmp("/run", "755"),
		tmp("/run/user/1000", "700"),
		tmp("/var", "755"),
		tmp("/home", "755"),
		{Destination: "/home/alice", Type: "bind", Source: "/data/homes/probe", Options: []string{"bind", "rw", "nosuid", "nodev"}},
	}
	pl := compile(t, parse(t, ""), mergedHost())
	if !reflect.DeepEqual(pl.Spec.Mounts, want) {
		t.Errorf("mounts =\n%s\nwant\n%s", dump(pl.Spec.Mounts), dump(want))
	}
}

func TestCompileDeviceNodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		h     *Host
	}{
		{"minimal", "", mergedHost()},
		{"x11 and mounts", "[display]\nx11 = \"host\"\n[[filesystem.mounts]]\nsource = \"/srv/data\"\ntarget = \"/mnt/data\"\n", x11Host()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := compile(t, parse(t, tc.extra), tc.h)
			var got []string
			for _, m := range pl.Spec.Mounts {
				if isBind(m) && strings.HasPrefix(m.Destination, "/dev/") {
					got = append(got, m.Destination)
					if m.Source != m.Destination {
						t.Errorf("device %s is bound from %s", m.Destination, m.Source)
					}
				}
				if strings.HasPrefix(m.Source, "/dev/") && m.Source != m.Destination {
					t.Errorf("host device %s reaches %s", m.Source, m.Destination)
				}
			}
			if !reflect.DeepEqual(got, deviceNodes) {
				t.Errorf("device binds = %q, want exactly %q", got, deviceNodes)
			}
			pts := mountAt(t, pl, "/dev/pts")
			if pts.Type != "devpts" {
				t.Errorf("/dev/pts type %q, want devpts", pts.Type)
			}
			for _, o := range []string{"newinstance", "ptmxmode=0666", "mode=0620", "nosuid", "noexec"} {
				if !slices.Contains(pts.Options, o) {
					t.Errorf("/dev/pts options %q lack %q (a new instance, never the host's ptys)", pts.Options, o)
				}
			}
		})
	}
}

func TestCompileOptionalBinds(t *testing.T) {
	all := map[string]bool{}
	for _, o := range optionalBinds {
		all[o] = true
	}
	for _, tc := range []struct {
		name     string
		optional map[string]bool
		want     []string
	}{
		{"none", nil, nil},
		{"none present", map[string]bool{"/var/cache/fontconfig": false}, nil},
		{"fontconfig", map[string]bool{"/var/cache/fontconfig": true}, []string{"/var/cache/fontconfig"}},
		{"all", all, optionalBinds},
		{"unknown paths are ignored", map[string]bool{"/root": true, "/var/lib": true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mergedHost()
			h.Optional = tc.optional
			pl := compile(t, parse(t, ""), h)
			var got []string
			for _, m := range pl.Spec.Mounts {
				if m.Source == m.Destination && isBind(m) && (slices.Contains(optionalBinds, m.Source) || m.Source == "/root" || m.Source == "/var/lib") {
					got = append(got, m.Source)
					if want := []string{"bind", "ro", "nosuid", "nodev", "noexec"}; !reflect.DeepEqual(m.Options, want) {
						t.Errorf("%s options = %q, want %q", m.Source, m.Options, want)
					}
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("optional binds = %q, want %q", got, tc.want)
			}
			// They come after the scratch tmpfs they land in and before the home.
			for _, o := range got {
				if i := mountIndex(pl, o); i < mountIndex(pl, "/var") || i > mountIndex(pl, "/home/alice") {
					t.Errorf("%s is mount %d, not between /var (%d) and the home (%d)", o, i, mountIndex(pl, "/var"), mountIndex(pl, "/home/alice"))
				}
			}
		})
	}
}

// TestCompileBindOptions checks every bind of a profile that uses every
// kind of mount: each has nosuid, and nodev unless it is a device node;
// each is read-only unless it is the home, a device node or a profile
// mount with mode "rw".
func TestCompileBindOptions(t *testing.T) {
	p := parse(t, `[display]
x11 = "host"
[[filesystem.mounts]]
source = "~/Downloads"
target = "~/Downloads"
mode = "rw"
[[filesystem.mounts]]
source = "/srv/music"
target = "/mnt/music"
`)
	for _, h := range []*Host{x11Host(), func() *Host { h := x11Host(); h.Dirs = splitHost().Dirs; return h }()} {
		h.Optional = map[string]bool{}
		for _, o := range optionalBinds {
			h.Optional[o] = true
		}
		pl := compile(t, p, h)
		rw := map[string]bool{"/home/alice": true, "/home/alice/Downloads": true}
		n := 0
		for _, m := range pl.Spec.Mounts {
			if !isBind(m) {
				continue
			}
			n++
			if m.Type != "bind" || m.Options[0] != "bind" {
				t.Errorf("bind %s: type %q options %q, want type bind and options starting with bind", m.Destination, m.Type, m.Options)
			}
			if slices.Contains(m.Options, "rbind") {
				t.Errorf("bind %s is recursive: %q", m.Destination, m.Options)
			}
			device := slices.Contains(deviceNodes, m.Destination)
			// Device nodes are bound as they are (nosuid and noexec mean
			// nothing on a node); everything else is nosuid.
			if !device && !slices.Contains(m.Options, "nosuid") {
				t.Errorf("bind %s lacks nosuid: %q", m.Destination, m.Options)
			}
			if !device && !slices.Contains(m.Options, "nodev") {
				t.Errorf("bind %s lacks nodev: %q", m.Destination, m.Options)
			}
			if device && slices.Contains(m.Options, "nodev") {
				t.Errorf("device bind %s has nodev: %q", m.Destination, m.Options)
			}
			switch {
			case device:
			case rw[m.Destination]:
				if !slices.Contains(m.Options, "rw") || slices.Contains(m.Options, "ro") {
					t.Errorf("bind %s should be rw: %q", m.Destination, m.Options)
				}
			default:
				if !slices.Contains(m.Options, "ro") || slices.Contains(m.Options, "rw") {
					t.Errorf("bind %s should be ro: %q", m.Destination, m.Options)
				}
			}
			if slices.Contains(m.Options, "suid") || slices.Contains(m.Options, "dev") || slices.Contains(m.Options, "exec") {
				t.Errorf("bind %s clears a safety flag: %q", m.Destination, m.Options)
			}
		}
		if n < 12 {
			t.Errorf("only %d binds checked", n)
		}
	}
}

func TestCompileHome(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		h     func() *Host
		want  specs.Mount
	}{
		{
			name: "persistent by default",
			h:    mergedHost,
			want: specs.Mount{Destination: "/home/alice", Type: "bind", Source: "/data/homes/probe", Options: []string{"bind", "rw", "nosuid", "nodev"}},
		},
		{
			name:  "persistent, versioned",
			extra: "version = \"esr\"\n[filesystem]\nhome = \"persistent\"\n",
			h:     mergedHost,
			want:  specs.Mount{Destination: "/home/alice", Type: "bind", Source: "/data/homes/probe@esr", Options: []string{"bind", "rw", "nosuid", "nodev"}},
		},
		{
			name:  "ephemeral",
			extra: "[filesystem]\nhome = \"ephemeral\"\n",
			h:     mergedHost,
			want:  specs.Mount{Destination: "/home/alice", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=700", "nosuid", "nodev"}},
		},
		{
			name: "home differs from the user's",
			h: func() *Host {
				h := mergedHost()
				h.Home, h.UserHome, h.HomesDir = "/home/nobody", "/root", "/var/lib/nook/homes"
				return h
			},
			want: specs.Mount{Destination: "/home/nobody", Type: "bind", Source: "/var/lib/nook/homes/probe", Options: []string{"bind", "rw", "nosuid", "nodev"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h()
			pl := compile(t, parse(t, tc.extra), h)
			if got := mountAt(t, pl, h.Home); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("home mount = %+v, want %+v", got, tc.want)
			}
			n := 0
			for _, m := range pl.Spec.Mounts {
				if m.Destination == h.Home {
					n++
				}
				if m.Source == h.UserHome || strings.HasPrefix(m.Source, h.UserHome+"/") {
					t.Errorf("the user's own home reaches the sandbox: %+v", m)
				}
			}
			if n != 1 {
				t.Errorf("%d mounts at the home, want 1", n)
			}
			if i, home := mountIndex(pl, "/home"), mountIndex(pl, h.Home); strings.HasPrefix(h.Home, "/home/") && i > home {
				t.Errorf("/home tmpfs (%d) comes after the home (%d)", i, home)
			}
		})
	}
}

func TestCompileProfileMounts(t *testing.T) {
	type bindSpec struct{ src, dst, mode string }
	for _, tc := range []struct {
		name  string
		extra string
		want  []bindSpec
	}{
		{
			name: "tilde source and target",
			extra: `[[filesystem.mounts]]
source = "~/Downloads"
target = "~/Downloads"
mode = "rw"
`,
			want: []bindSpec{{"/srv/users/alice/Downloads", "/home/alice/Downloads", "rw"}},
		},
		{
			name: "read-only by default",
			extra: `[[filesystem.mounts]]
source = "~/Music"
target = "~/Music"
`,
			want: []bindSpec{{"/srv/users/alice/Music", "/home/alice/Music", "ro"}},
		},
		{
			name: "explicit ro",
			extra: `[[filesystem.mounts]]
source = "~/Music"
target = "~/Music"
mode = "ro"
`,
			want: []bindSpec{{"/srv/users/alice/Music", "/home/alice/Music", "ro"}},
		},
		{
			name: "bare tilde",
			extra: `[[filesystem.mounts]]
source = "~"
target = "~/host-home"
[[filesystem.mounts]]
source = "/srv/skel"
target = "~"
`,
			want: []bindSpec{{"/srv/users/alice", "/home/alice/host-home", "ro"}, {"/srv/skel", "/home/alice", "ro"}},
		},
		{
			name: "absolute paths are kept",
			extra: `[[filesystem.mounts]]
source = "/media/usb"
target = "/mnt/usb"
mode = "rw"
[[filesystem.mounts]]
source = "/srv/~data"
target = "/opt/~x"
`,
			want: []bindSpec{{"/media/usb", "/mnt/usb", "rw"}, {"/srv/~data", "/opt/~x", "ro"}},
		},
		{
			name: "inline table form, in order",
			extra: `[filesystem]
mounts = [
  { source = "/a", target = "/mnt/a", mode = "rw" },
  { source = "/b", target = "/mnt/b" },
  { source = "~/c", target = "/mnt/c" },
]
`,
			want: []bindSpec{{"/a", "/mnt/a", "rw"}, {"/b", "/mnt/b", "ro"}, {"/srv/users/alice/c", "/mnt/c", "ro"}},
		},
		{
			name: "near misses of refused targets",
			extra: `[filesystem]
mounts = [
  { source = "/a", target = "/procfs" },
  { source = "/b", target = "/devices" },
  { source = "/c", target = "/system" },
  { source = "/d", target = "/mnt/proc" },
  { source = "/proc/cpuinfo", target = "~/proc" },
  { source = "/e", target = "/etc/probe" },
]
`,
			want: []bindSpec{{"/a", "/procfs", "ro"}, {"/b", "/devices", "ro"}, {"/c", "/system", "ro"}, {"/d", "/mnt/proc", "ro"},
				{"/proc/cpuinfo", "/home/alice/proc", "ro"}, {"/e", "/etc/probe", "ro"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mergedHost()
			h.UserHome = "/srv/users/alice" // unlike Home, to tell them apart
			pl := compile(t, parse(t, tc.extra), h)
			var want []specs.Mount
			for _, b := range tc.want {
				want = append(want, specs.Mount{Destination: b.dst, Type: "bind", Source: b.src, Options: []string{"bind", b.mode, "nosuid", "nodev"}})
			}
			// The profile's mounts come right after the persistent home
			// bind, and are the last ones without a device.
			start := slices.IndexFunc(pl.Spec.Mounts, func(m specs.Mount) bool { return m.Source == "/data/homes/probe" }) + 1
			if start == 0 {
				t.Fatalf("no home bind: %q", destinations(pl))
			}
			got := pl.Spec.Mounts[start:]
			if !reflect.DeepEqual(got, want) {
				t.Errorf("profile mounts =\n%s\nwant\n%s", dump(got), dump(want))
			}
		})
	}
}

func TestCompileMountTargetRefused(t *testing.T) {
	for _, target := range []string{"/proc", "/proc/sys", "/proc/1/root", "/dev", "/dev/shm", "/dev/pts", "/dev/sda", "/sys", "/sys/fs/cgroup", "/"} {
		t.Run(target, func(t *testing.T) {
			p := parse(t, fmt.Sprintf("[[filesystem.mounts]]\nsource = \"/srv/x\"\ntarget = %q\nmode = \"rw\"\n", target))
			err := compileErr(t, p, mergedHost())
			for _, s := range []string{"test.toml", "filesystem.mounts", fmt.Sprintf("%q", target)} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if errors.Is(err, ErrUnsupported) {
				t.Errorf("error %q wraps ErrUnsupported; it is a refusal", err)
			}
		})
	}
	// A later bad mount is refused even after good ones.
	p := parse(t, "[filesystem]\nmounts = [{ source = \"/a\", target = \"/mnt/a\" }, { source = \"/b\", target = \"/sys/kernel\" }]\n")
	if err := compileErr(t, p, mergedHost()); !strings.Contains(err.Error(), `"/sys/kernel"`) {
		t.Errorf("error %q does not name the second mount's target", err)
	}
}

// TestCompileMountOrder checks the order of the groups of mounts: the base
// file system, the home, the profile's mounts, then the devices.
func TestCompileMountOrder(t *testing.T) {
	p := parse(t, `[display]
x11 = "host"
[[filesystem.mounts]]
source = "~/Downloads"
target = "~/Downloads"
[[filesystem.mounts]]
source = "/srv/data"
target = "/mnt/data"
`)
	h := x11Host()
	h.Optional = map[string]bool{"/var/cache/fontconfig": true}
	pl := compile(t, p, h)
	want := []string{
		"/usr", "/etc", "/proc", "/dev", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
		"/dev/pts", "/dev/shm", "/tmp", "/run", "/run/user/1000", "/var", "/home", "/var/cache/fontconfig",
		"/home/alice",
		"/home/alice/Downloads", "/mnt/data",
		"/tmp/.X11-unix/X3",
	}
	if got := destinations(pl); !reflect.DeepEqual(got, want) {
		t.Errorf("mount order =\n%q\nwant\n%q", got, want)
	}
	// Every mount lands after the mount of its parent directory.
	for i, m := range pl.Spec.Mounts {
		for j := i + 1; j < len(pl.Spec.Mounts); j++ {
			if later := pl.Spec.Mounts[j].Destination; strings.HasPrefix(m.Destination, later+"/") {
				t.Errorf("%s (mount %d) is covered by %s (mount %d)", m.Destination, i, later, j)
			}
		}
	}
}

func TestCompileMaskedAndReadonlyPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		h     *Host
	}{
		{"minimal", "", mergedHost()},
		{"host network, unconfined", "[network]\nmode = \"host\"\n[security]\nseccomp = \"unconfined\"\n", splitHost()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := compile(t, parse(t, tc.extra), tc.h).Spec.Linux
			for _, p := range []string{
				"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
				"/etc/ssh", "/etc/ssl/private", "/etc/subuid", "/etc/subgid", "/etc/security/opasswd",
				"/etc/NetworkManager/system-connections", "/etc/wireguard", "/etc/krb5.keytab",
				"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
				"/proc/acpi", "/proc/scsi", "/proc/latency_stats", "/proc/interrupts",
			} {
				if !slices.Contains(l.MaskedPaths, p) {
					t.Errorf("MaskedPaths lacks %s", p)
				}
			}
			for _, p := range []string{"/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"} {
				if !slices.Contains(l.ReadonlyPaths, p) {
					t.Errorf("ReadonlyPaths lacks %s", p)
				}
			}
			for _, p := range append(slices.Clone(l.MaskedPaths), l.ReadonlyPaths...) {
				if !strings.HasPrefix(p, "/") || filepath.Clean(p) != p {
					t.Errorf("%q is not a clean absolute path", p)
				}
			}
		})
	}
}

func TestCompilePasswdAndGroup(t *testing.T) {
	for _, tc := range []struct {
		name          string
		h             func() *Host
		passwd, group string
	}{
		{
			name: "alice",
			h:    mergedHost,
			passwd: "root:x:0:0:root:/root:/usr/sbin/nologin\n" +
				"alice:x:1000:1000::/home/alice:/bin/sh\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
			group: "root:x:0:\nalice:x:1000:\nnogroup:x:65534:\n",
		},
		{
			name: "own group name",
			h: func() *Host {
				h := mergedHost()
				h.User, h.Group, h.UID, h.GID, h.Home = "bob", "staff", 1001, 50, "/home/bob"
				return h
			},
			passwd: "root:x:0:0:root:/root:/usr/sbin/nologin\n" +
				"bob:x:1001:50::/home/bob:/bin/sh\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
			group: "root:x:0:\nstaff:x:50:\nnogroup:x:65534:\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := compile(t, parse(t, ""), tc.h())
			for _, want := range []sandbox.File{
				{Path: "/etc/passwd", Mode: 0o644, Data: []byte(tc.passwd)},
				{Path: "/etc/group", Mode: 0o644, Data: []byte(tc.group)},
			} {
				got, ok := fileAt(pl, want.Path)
				if !ok {
					t.Errorf("no file %s", want.Path)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %+v (%q), want %+v (%q)", want.Path, got, got.Data, want, want.Data)
				}
			}
		})
	}
	// Without a device, passwd and group are the only files.
	pl := compile(t, parse(t, ""), mergedHost())
	var paths []string
	for _, f := range pl.Files {
		paths = append(paths, f.Path)
		if f.Secret {
			t.Errorf("%s is secret", f.Path)
		}
	}
	if want := []string{"/etc/passwd", "/etc/group"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("files = %q, want %q", paths, want)
	}
}

// TestCompilePasswdNobodyOnce guards a fixed bug: when nook runs as root without sudo, the
// app is nobody (65534), and /etc/passwd and /etc/group list nobody and
// nogroup twice, with different homes: getpwnam, getpwent and pwck see two
// users. Fixed in passwd/group: write the nobody/nogroup line only
// when h.UID (h.GID) is not 65534, or when the user's name is not nobody
// (nogroup).
func TestCompilePasswdNobodyOnce(t *testing.T) {
	h := mergedHost()
	h.UID, h.GID, h.User, h.Group, h.Home = 65534, 65534, "nobody", "nogroup", "/home/nobody"
	pl := compile(t, parse(t, ""), h)
	for _, path := range []string{"/etc/passwd", "/etc/group"} {
		f, _ := fileAt(pl, path)
		names, ids := map[string]int{}, map[string]int{}
		for _, line := range strings.Split(strings.TrimSuffix(string(f.Data), "\n"), "\n") {
			fields := strings.Split(line, ":")
			names[fields[0]]++
			ids[fields[2]]++
		}
		for n, c := range names {
			if c > 1 {
				t.Errorf("BUG: %s lists %q %d times:\n%s", path, n, c, f.Data)
			}
		}
		for id, c := range ids {
			if c > 1 {
				t.Errorf("BUG: %s lists id %s %d times", path, id, c)
			}
		}
	}
}

func TestCompileX11(t *testing.T) {
	x11 := "[display]\nx11 = \"host\"\n"
	sock := specs.Mount{Destination: "/tmp/.X11-unix/X3", Type: "bind", Source: "/tmp/.X11-unix/X3",
		Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}}
	for _, tc := range []struct {
		name       string
		extra      string
		display    *devices.X11Display
		wantMount  *specs.Mount
		wantEnv    map[string]string // "" means unset
		wantCookie bool
	}{
		{
			name:       "host with cookie",
			extra:      x11,
			display:    testDisplay(),
			wantMount:  &sock,
			wantEnv:    map[string]string{"DISPLAY": ":3", "XAUTHORITY": "/run/user/1000/Xauthority"},
			wantCookie: true,
		},
		{
			name:      "host without cookie",
			extra:     x11,
			display:   &devices.X11Display{Number: 3, Socket: "/tmp/.X11-unix/X3"},
			wantMount: &sock,
			wantEnv:   map[string]string{"DISPLAY": ":3", "XAUTHORITY": ""},
		},
		{
			name:    "screen and other socket path",
			extra:   x11,
			display: &devices.X11Display{Number: 12, Screen: 1, Socket: "/run/host/X12", Cookie: devices.Cookie{1, 2, 3}},
			wantMount: &specs.Mount{Destination: "/tmp/.X11-unix/X12", Type: "bind", Source: "/run/host/X12",
				Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
			wantEnv:    map[string]string{"DISPLAY": ":12.1", "XAUTHORITY": "/run/user/1000/Xauthority"},
			wantCookie: true,
		},
		{
			name:    "none with a probed display",
			extra:   "[display]\nx11 = \"none\"\n",
			display: testDisplay(),
			wantEnv: map[string]string{"DISPLAY": "", "XAUTHORITY": ""},
		},
		{
			name:    "default is none",
			display: testDisplay(),
			wantEnv: map[string]string{"DISPLAY": "", "XAUTHORITY": ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mergedHost()
			h.X11 = tc.display
			pl := compile(t, parse(t, tc.extra), h)
			last := pl.Spec.Mounts[len(pl.Spec.Mounts)-1]
			if tc.wantMount != nil {
				if !reflect.DeepEqual(last, *tc.wantMount) {
					t.Errorf("last mount = %+v, want the socket %+v", last, *tc.wantMount)
				}
			}
			for _, m := range pl.Spec.Mounts {
				if strings.Contains(m.Destination, ".X11-unix") && (tc.wantMount == nil || m.Destination != tc.wantMount.Destination) {
					t.Errorf("unexpected X11 mount %+v", m)
				}
				if m.Destination == devices.X11SocketDir {
					t.Errorf("the whole socket directory is bound: %+v", m)
				}
			}
			env := envOf(t, pl)
			for k, want := range tc.wantEnv {
				got, set := env[k]
				if want == "" && set {
					t.Errorf("%s = %q, want unset", k, got)
				}
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			f, ok := fileAt(pl, "/run/user/1000/Xauthority")
			if ok != tc.wantCookie {
				t.Fatalf("Xauthority file present = %v, want %v; files %+v", ok, tc.wantCookie, pl.Files)
			}
			if !ok {
				if len(pl.Files) != 2 {
					t.Errorf("files = %+v, want only passwd and group", pl.Files)
				}
				return
			}
			if !f.Secret || f.Mode != 0o600 {
				t.Errorf("Xauthority: Secret %v Mode %o, want secret 0600", f.Secret, f.Mode)
			}
			entries, err := devices.ParseXauthority(f.Data)
			if err != nil {
				t.Fatalf("Xauthority does not parse: %v", err)
			}
			want := []devices.XauthEntry{{Family: devices.FamilyWild, Number: fmt.Sprint(tc.display.Number),
				Name: devices.MITMagicCookie, Data: []byte(tc.display.Cookie)}}
			if !reflect.DeepEqual(entries, want) {
				t.Errorf("Xauthority entries = %+v, want %+v", entries, want)
			}
		})
	}
}

func TestCompileX11NotProbed(t *testing.T) {
	err := compileErr(t, parse(t, "[display]\nx11 = \"host\"\n"), mergedHost())
	if !strings.Contains(err.Error(), `x11 = "host"`) {
		t.Errorf("error %q does not name the key", err)
	}
	if errors.Is(err, ErrUnsupported) {
		t.Errorf("error %q wraps ErrUnsupported", err)
	}
}

func TestRedacted(t *testing.T) {
	pl := compile(t, parse(t, "[display]\nx11 = \"host\"\n"), x11Host())
	orig := dump(pl)
	r := pl.Redacted()
	f, ok := fileAt(r, "/run/user/1000/Xauthority")
	if !ok {
		t.Fatal("redacted plan lost the Xauthority file")
	}
	if bytes.Contains(f.Data, testCookie) || string(f.Data) != "<redacted>" {
		t.Errorf("redacted Xauthority data = %q", f.Data)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := fileAt(pl, "/run/user/1000/Xauthority")
	for _, leak := range [][]byte{testCookie, []byte(fmt.Sprintf("%q", secret.Data)), mustJSON(t, secret.Data)} {
		if bytes.Contains(out, leak) {
			t.Errorf("redacted plan's JSON holds the secret %q", leak)
		}
	}
	if passwd, _ := fileAt(r, "/etc/passwd"); !bytes.Contains(passwd.Data, []byte("alice:x:1000")) {
		t.Errorf("redacted passwd = %q; only secret files are redacted", passwd.Data)
	}
	if dump(pl) != orig {
		t.Error("Redacted modified the plan")
	}
	if !bytes.Contains(secret.Data, testCookie) {
		t.Error("the plan's own Xauthority lost the cookie")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// actions returns the actions of the rules that name syscall name, in
// order, with their errno and whether they have argument conditions.
func actions(s *specs.LinuxSeccomp, name string) []string {
	var out []string
	for _, r := range s.Syscalls {
		if !slices.Contains(r.Names, name) {
			continue
		}
		a := string(r.Action)
		if r.ErrnoRet != nil {
			a += fmt.Sprintf("(%d)", *r.ErrnoRet)
		}
		if len(r.Args) > 0 {
			a += "[args]"
		}
		out = append(out, a)
	}
	return out
}

func TestCompileSeccompDefault(t *testing.T) {
	enosys := uint(unix.ENOSYS)
	for _, tc := range []struct {
		name   string
		extra  string
		nested bool
	}{
		{"implicit", "", false},
		{"explicit", "[security]\nseccomp = \"default\"\n", false},
		{"nested sandbox", "[security]\nnested_sandbox = true\n", true},
		{"nested false", "[security]\nnested_sandbox = false\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := compile(t, parse(t, tc.extra), mergedHost())
			s := pl.Spec.Linux.Seccomp
			if s == nil {
				t.Fatal("no seccomp policy")
			}
			if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != enosys {
				t.Errorf("default action %s errno %v, want SCMP_ACT_ERRNO ENOSYS", s.DefaultAction, s.DefaultErrnoRet)
			}
			if want := seccomp.Default(seccomp.Options{NestedSandbox: tc.nested}); !reflect.DeepEqual(s, want) {
				t.Errorf("policy differs from seccomp.Default(NestedSandbox: %v)", tc.nested)
			}
			if len(pl.Warnings) != 0 {
				t.Errorf("warnings = %q", pl.Warnings)
			}
			eperm := fmt.Sprintf("%s(%d)", specs.ActErrno, unix.EPERM)
			for _, name := range []string{"unshare", "setns"} {
				want := []string{eperm}
				if tc.nested {
					want = []string{string(specs.ActAllow)}
				}
				if got := actions(s, name); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: rules %q, want %q", name, got, want)
				}
			}
			for _, name := range []string{"mount", "keyctl", "io_uring_setup", "ptrace", "open_tree"} {
				if got := actions(s, name); !reflect.DeepEqual(got, []string{eperm}) {
					t.Errorf("%s: rules %q, want only %q", name, got, eperm)
				}
			}
		})
	}
	plain := compile(t, parse(t, ""), mergedHost()).Spec.Linux.Seccomp
	nested := compile(t, parse(t, "[security]\nnested_sandbox = true\n"), mergedHost()).Spec.Linux.Seccomp
	if reflect.DeepEqual(plain, nested) {
		t.Error("nested_sandbox does not change the policy")
	}
}

func TestCompileSeccompAdjust(t *testing.T) {
	eperm := fmt.Sprintf("%s(%d)", specs.ActErrno, unix.EPERM)
	allow := string(specs.ActAllow)
	for _, tc := range []struct {
		name         string
		extra        string
		nested       bool
		allow, deny  []string
		wantActions  map[string][]string
		unchangedFor []string
	}{
		{
			name:        "allow ptrace",
			extra:       "[security]\nallow_syscalls = [\"ptrace\", \"process_vm_readv\"]\n",
			allow:       []string{"ptrace", "process_vm_readv"},
			wantActions: map[string][]string{"ptrace": {allow}, "process_vm_readv": {allow}},
		},
		{
			name:        "deny chmod",
			extra:       "[security]\ndeny_syscalls = [\"chmod\", \"fchmodat\"]\n",
			deny:        []string{"chmod", "fchmodat"},
			wantActions: map[string][]string{"chmod": {eperm}, "fchmodat": {eperm}},
		},
		{
			name:        "deny a conditional syscall",
			extra:       "[security]\ndeny_syscalls = [\"ioctl\"]\n",
			deny:        []string{"ioctl"},
			wantActions: map[string][]string{"ioctl": {eperm}},
		},
		{
			name:        "both, with nested sandbox",
			extra:       "[security]\nnested_sandbox = true\nallow_syscalls = [\"ptrace\"]\ndeny_syscalls = [\"unshare\"]\n",
			nested:      true,
			allow:       []string{"ptrace"},
			deny:        []string{"unshare"},
			wantActions: map[string][]string{"ptrace": {allow}, "unshare": {eperm}, "setns": {allow}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := compile(t, parse(t, tc.extra), mergedHost()).Spec.Linux.Seccomp
			want := seccomp.Default(seccomp.Options{NestedSandbox: tc.nested})
			if err := seccomp.Adjust(want, tc.allow, tc.deny); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("policy differs from Default adjusted by allow %q deny %q", tc.allow, tc.deny)
			}
			for name, w := range tc.wantActions {
				if got := actions(s, name); !reflect.DeepEqual(got, w) {
					t.Errorf("%s: rules %q, want %q", name, got, w)
				}
			}
		})
	}
}

func TestCompileSeccompUnknownSyscall(t *testing.T) {
	for _, tc := range []struct{ key, extra string }{
		{"security.allow_syscalls", "[security]\nallow_syscalls = [\"read\", \"frobnicate_xyz\"]\n"},
		{"security.deny_syscalls", "[security]\ndeny_syscalls = [\"frobnicate_xyz\"]\n"},
		{"security.allow_syscalls", "[security]\nseccomp = \"default\"\nnested_sandbox = true\nallow_syscalls = [\"frobnicate_xyz\"]\n"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			err := compileErr(t, parse(t, tc.extra), mergedHost())
			for _, s := range []string{"test.toml", `"frobnicate_xyz"`, tc.key} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

func TestCompileSeccompUnconfined(t *testing.T) {
	pl := compile(t, parse(t, "[security]\nseccomp = \"unconfined\"\n"), mergedHost())
	if pl.Spec.Linux.Seccomp != nil {
		t.Errorf("unconfined policy = %+v, want nil", pl.Spec.Linux.Seccomp)
	}
	if !hasWarning(pl, "unconfined") || len(pl.Warnings) != 1 {
		t.Errorf("warnings = %q, want one about unconfined", pl.Warnings)
	}
	// Unconfined changes nothing else.
	def := compile(t, parse(t, ""), mergedHost())
	def.Spec.Linux.Seccomp, def.Warnings = nil, pl.Warnings
	if !reflect.DeepEqual(pl, def) {
		t.Errorf("unconfined plan differs from the default one in more than seccomp")
	}
	// nested_sandbox alone does not matter without a policy.
	if pl := compile(t, parse(t, "[security]\nseccomp = \"unconfined\"\nnested_sandbox = true\n"), mergedHost()); pl.Spec.Linux.Seccomp != nil {
		t.Error("unconfined with nested_sandbox has a policy")
	}

	for _, extra := range []string{
		"[security]\nseccomp = \"unconfined\"\nallow_syscalls = [\"ptrace\"]\n",
		"[security]\nseccomp = \"unconfined\"\ndeny_syscalls = [\"chmod\"]\n",
		"[security]\nseccomp = \"unconfined\"\nallow_syscalls = [\"ptrace\"]\ndeny_syscalls = [\"chmod\"]\n",
	} {
		err := compileErr(t, parse(t, extra), mergedHost())
		for _, s := range []string{"test.toml", "allow_syscalls", "deny_syscalls"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
	}
}

func TestCompileSeccompJSON(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.json", `{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 38,
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
  "syscalls": [
    {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
  ]
}
`)
	broken := write("broken.json", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n")
	unknownKey := write("unknown.json", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"frobnicate\": true\n}\n")
	want := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: ptr(uint(38)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
			{Names: []string{"chmod"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(1))},
		},
	}

	t.Run("absolute path", func(t *testing.T) {
		pl := compile(t, parse(t, fmt.Sprintf("[security]\nseccomp = %q\n", good)), mergedHost())
		if !reflect.DeepEqual(pl.Spec.Linux.Seccomp, want) {
			t.Errorf("policy =\n%s\nwant\n%s", dump(pl.Spec.Linux.Seccomp), dump(want))
		}
		if len(pl.Warnings) != 0 {
			t.Errorf("warnings = %q", pl.Warnings)
		}
	})
	t.Run("relative to the profile", func(t *testing.T) {
		p, err := profiles.Parse(filepath.Join(dir, "probe.toml"), []byte(baseProfile+"[security]\nseccomp = \"good.json\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if pl := compile(t, p, mergedHost()); !reflect.DeepEqual(pl.Spec.Linux.Seccomp, want) {
			t.Errorf("policy =\n%s\nwant\n%s", dump(pl.Spec.Linux.Seccomp), dump(want))
		}
	})
	t.Run("adjusted", func(t *testing.T) {
		pl := compile(t, parse(t, fmt.Sprintf("[security]\nseccomp = %q\nallow_syscalls = [\"chmod\"]\ndeny_syscalls = [\"write\"]\n", good)), mergedHost())
		adj := &specs.LinuxSeccomp{
			DefaultAction:   specs.ActErrno,
			DefaultErrnoRet: ptr(uint(38)),
			Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read", "exit_group"}, Action: specs.ActAllow},
				{Names: []string{"chmod"}, Action: specs.ActAllow},
				{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(unix.EPERM))},
			},
		}
		if !reflect.DeepEqual(pl.Spec.Linux.Seccomp, adj) {
			t.Errorf("policy =\n%s\nwant\n%s", dump(pl.Spec.Linux.Seccomp), dump(adj))
		}
	})
	t.Run("nested_sandbox does not touch a JSON policy", func(t *testing.T) {
		pl := compile(t, parse(t, fmt.Sprintf("[security]\nseccomp = %q\nnested_sandbox = true\n", good)), mergedHost())
		if !reflect.DeepEqual(pl.Spec.Linux.Seccomp, want) {
			t.Errorf("policy =\n%s\nwant\n%s", dump(pl.Spec.Linux.Seccomp), dump(want))
		}
	})
	for _, tc := range []struct{ name, path, detail string }{
		{"broken", broken, "broken.json:"},
		{"unknown key", unknownKey, `"frobnicate"`},
		{"missing", filepath.Join(dir, "missing.json"), "missing.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := compileErr(t, parse(t, fmt.Sprintf("[security]\nseccomp = %q\n", tc.path)), mergedHost())
			for _, s := range []string{"test.toml", "security.seccomp", tc.path, tc.detail} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

// anyWeight in a wanted BlockIO.Weight stands for whatever io_weight maps
// to; TestCompileIOWeight checks the mapping.
const anyWeight = uint16(0xffff)

func TestCompileResources(t *testing.T) {
	const gib = int64(1) << 30
	for _, tc := range []struct {
		name  string
		extra string
		want  *specs.LinuxResources
	}{
		{name: "none", extra: "", want: nil},
		{name: "empty table", extra: "[resources]\n", want: nil},
		{
			name:  "memory",
			extra: "[resources]\nmemory = \"2G\"\n",
			want:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(2 * gib)}},
		},
		{
			name:  "memory in bytes",
			extra: "[resources]\nmemory = 536870912\n",
			want:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(512 << 20))}},
		},
		{
			name:  "memory and swap",
			extra: "[resources]\nmemory = \"2G\"\nmemory_swap = \"3G\"\n",
			want:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(2 * gib), Swap: ptr(3 * gib)}},
		},
		{
			name:  "no swap",
			extra: "[resources]\nmemory = \"1G\"\nmemory_swap = \"0\"\n",
			want:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(gib), Swap: ptr(gib)}},
		},
		{
			name:  "swap equal to memory",
			extra: "[resources]\nmemory = \"1G\"\nmemory_swap = \"1G\"\n",
			want:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(gib), Swap: ptr(gib)}},
		},
		{
			name:  "cpus",
			extra: "[resources]\ncpus = 1.5\n",
			want:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(150000)), Period: ptr(uint64(100000))}},
		},
		{
			name:  "integer cpus",
			extra: "[resources]\ncpus = 2\n",
			want:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(200000)), Period: ptr(uint64(100000))}},
		},
		{
			name:  "cpuset",
			extra: "[resources]\ncpuset = \"0-1,3\"\n",
			want:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1,3"}},
		},
		{
			name:  "cpu_weight",
			extra: "[resources]\ncpu_weight = 100\n",
			want:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(SharesFromWeight(100))}},
		},
		{
			name:  "all cpu keys",
			extra: "[resources]\ncpus = 0.5\ncpuset = \"2\"\ncpu_weight = 10000\n",
			want: &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "2", Quota: ptr(int64(50000)), Period: ptr(uint64(100000)),
				Shares: ptr(uint64(262144))}},
		},
		{
			name:  "pids",
			extra: "[resources]\npids = 512\n",
			want:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(512))}},
		},
		{
			name:  "io_weight",
			extra: "[resources]\nio_weight = 500\n",
			want:  &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(anyWeight)}},
		},
		{
			name:  "everything",
			extra: "[resources]\nmemory = \"512M\"\nmemory_swap = \"1G\"\ncpus = 1.5\ncpuset = \"0-1\"\ncpu_weight = 1\npids = 64\nio_weight = 100\n",
			want: &specs.LinuxResources{
				Memory:  &specs.LinuxMemory{Limit: ptr(int64(512 << 20)), Swap: ptr(gib)},
				CPU:     &specs.LinuxCPU{Cpus: "0-1", Quota: ptr(int64(150000)), Period: ptr(uint64(100000)), Shares: ptr(uint64(2))},
				Pids:    &specs.LinuxPids{Limit: ptr(int64(64))},
				BlockIO: &specs.LinuxBlockIO{Weight: ptr(anyWeight)},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := compile(t, parse(t, tc.extra), mergedHost())
			got := pl.Spec.Linux.Resources
			if w := tc.want; w != nil && w.BlockIO != nil && got != nil && got.BlockIO != nil && got.BlockIO.Weight != nil {
				// The value is TestCompileIOWeight's business.
				bio := *w.BlockIO
				bio.Weight = got.BlockIO.Weight
				want := *w
				want.BlockIO = &bio
				tc.want = &want
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Resources =\n%s\nwant\n%s", dump(got), dump(tc.want))
			}
			if hasWarning(pl, "not enforced") {
				t.Errorf("warns that limits are not enforced; nook enforces them: %q", pl.Warnings)
			}
			if got != nil && (got.Devices != nil || got.HugepageLimits != nil || got.Network != nil || got.Rdma != nil || got.Unified != nil) {
				t.Errorf("Resources sets keys no profile key asks for: %s", dump(got))
			}
		})
	}
}

// TestCompileCPUQuotaRounding guards a fixed bug: the CPU quota is cpus*100000 truncated to
// an integer, and a decimal such as 0.29 or 2.01 is not exact in float64,
// so cpus = 0.29 gives quota 28999 instead of 29000 (635 of the 10240
// values 0.01 .. 102.40 are one microsecond short). Fixed in
// resources: quota := int64(math.Round(r.CPUs * float64(period))).
func TestCompileCPUQuotaRounding(t *testing.T) {
	for _, tc := range []struct {
		cpus  string
		quota int64
	}{
		{"0.29", 29000}, {"0.57", 57000}, {"1.13", 113000}, {"2.01", 201000}, {"0.1", 10000}, {"1.5", 150000},
	} {
		pl := compile(t, parse(t, "[resources]\ncpus = "+tc.cpus+"\n"), mergedHost())
		if q := pl.Spec.Linux.Resources.CPU.Quota; q == nil || *q != tc.quota {
			t.Errorf("BUG: cpus = %s: quota %v, want %d", tc.cpus, dump(q), tc.quota)
		}
	}
}

// runcWeightFromShares is how runc (opencontainers/cgroups
// ConvertCPUSharesToCgroupV2Value, before 2025) and crun before 1.23 turn
// OCI cpu shares into a cgroup v2 cpu.weight.
func runcWeightFromShares(shares uint64) uint64 { return 1 + (shares-2)*9999/262142 }

func TestSharesFromWeight(t *testing.T) {
	for _, tc := range []struct{ weight, shares uint64 }{
		{1, 2},
		{10000, 262144},
	} {
		if got := SharesFromWeight(tc.weight); got != tc.shares {
			t.Errorf("SharesFromWeight(%d) = %d, want %d", tc.weight, got, tc.shares)
		}
	}
	prev := uint64(0)
	for w := uint64(1); w <= 10000; w++ {
		s := SharesFromWeight(w)
		if s < 2 || s > 262144 {
			t.Fatalf("SharesFromWeight(%d) = %d, outside cgroup v1's 2..262144", w, s)
		}
		if s <= prev {
			t.Fatalf("SharesFromWeight(%d) = %d, not above SharesFromWeight(%d) = %d", w, s, w-1, prev)
		}
		prev = s
	}
}

// TestSharesFromWeightInvertsRunc guards a fixed bug: SharesFromWeight says it is the
// inverse of runc's weight = 1 + (shares-2)*9999/262142, but it rounds
// down, so runc turns its result back into weight-1 for every weight from
// 2 to 9999: cpu_weight = 100 becomes 2597 shares and runc writes
// cpu.weight 99 (the default weight 100 needs 2598 shares). Fix:
// round up, return 2 + ((w-1)*262142+9998)/9999. (Note that runc with
// opencontainers/cgroups >= 0.0.2 and crun >= 1.23 now use a different,
// logarithmic mapping under which 1024 shares is weight 100; if nook means
// to match those, SharesFromWeight must invert that one instead.)
func TestSharesFromWeightInvertsRunc(t *testing.T) {
	bad := 0
	for w := uint64(1); w <= 10000; w++ {
		if got := runcWeightFromShares(SharesFromWeight(w)); got != w {
			if bad < 3 {
				t.Errorf("BUG: SharesFromWeight(%d) = %d, which runc maps to weight %d", w, SharesFromWeight(w), got)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("BUG: %d weights do not survive the round trip through runc's mapping", bad)
	}
	if got := SharesFromWeight(100); got != 2598 {
		t.Errorf("BUG: SharesFromWeight(100) = %d, want 2598", got)
	}
}

// TestCompileIOWeightOrder checks what holds before and after the fix of
// TestCompileIOWeight guards a fixed bug: a higher io_weight is a higher BlockIO.Weight.
func TestCompileIOWeightOrder(t *testing.T) {
	prev := uint16(0)
	for _, w := range []int{1, 10, 100, 1000, 5000, 10000} {
		r := compile(t, parse(t, fmt.Sprintf("[resources]\nio_weight = %d\n", w)), mergedHost()).Spec.Linux.Resources
		if r == nil || r.BlockIO == nil || r.BlockIO.Weight == nil {
			t.Fatalf("io_weight = %d: no BlockIO.Weight in %s", w, dump(r))
		}
		if *r.BlockIO.Weight <= prev {
			t.Errorf("io_weight = %d: BlockIO.Weight %d, not above the previous %d", w, *r.BlockIO.Weight, prev)
		}
		prev = *r.BlockIO.Weight
		if r.Memory != nil || r.CPU != nil || r.Pids != nil {
			t.Errorf("io_weight sets more: %s", dump(r))
		}
	}
}

// runcIOWeightFromBlkIO is runc's ConvertBlkIOToIOWeightValue: OCI's
// BlockIO.Weight is a cgroup v1 blkio weight, 10..1000, which runc maps
// linearly onto cgroup v2's io.weight, 1..10000.
func runcIOWeightFromBlkIO(w uint16) uint64 { return 1 + (uint64(w)-10)*9999/990 }

// TestCompileIOWeight guards a fixed bug: io_weight is a cgroup v2 weight (1..10000) but
// is copied unconverted into BlockIO.Weight, which OCI defines as a cgroup
// v1 blkio weight (10..1000). runc then maps it again: io_weight = 100
// becomes io.weight 910, io_weight = 5000 becomes 50399 (rejected by the
// kernel), and io_weight below 10 underflows. Fix, as for
// cpu_weight: a BlkIOWeightFromIOWeight(w) = 10 + ((w-1)*990+9999/2)/9999
// (rounded), so that 1 -> 10, 10000 -> 1000, and runc's mapping gives back
// w within the ten-fold coarser v1 resolution.
func TestCompileIOWeight(t *testing.T) {
	for _, w := range []int{1, 9, 10, 100, 500, 5000, 10000} {
		pl := compile(t, parse(t, fmt.Sprintf("[resources]\nio_weight = %d\n", w)), mergedHost())
		bw := *pl.Spec.Linux.Resources.BlockIO.Weight
		if bw < 10 || bw > 1000 {
			t.Errorf("BUG: io_weight = %d: BlockIO.Weight = %d, outside OCI's cgroup v1 range 10..1000", w, bw)
			continue
		}
		if got := int(runcIOWeightFromBlkIO(bw)); got < w-11 || got > w+11 {
			t.Errorf("BUG: io_weight = %d: BlockIO.Weight = %d, which runc turns into io.weight %d", w, bw, got)
		}
	}
}

// TestCompileTildeSourceNeedsUserHome guards a fixed bug: when nook runs as root without
// HOME (ProbeHost's root branch takes UserHome from $HOME only), UserHome
// is "" and source = "~/Downloads" expands to the relative path
// "Downloads", which the launcher opens relative to its working directory
// and binds into the sandbox. Fixed in Compile: refuse a source
// (and a target) whose expansion is not absolute, e.g. after expandHome:
// if !path.IsAbs(src) { return nil, fmt.Errorf("%s: filesystem.mounts
// source %q: the invoking user's home is unknown (set HOME)", ...) }; and
// in identity, fall back to the passwd home of the invoking user.
func TestCompileTildeSourceNeedsUserHome(t *testing.T) {
	for _, source := range []string{"~/Downloads", "~"} {
		h := mergedHost()
		h.UserHome = ""
		pl, err := Compile(parse(t, fmt.Sprintf("[[filesystem.mounts]]\nsource = %q\ntarget = \"/mnt/x\"\n", source)), h, nil)
		if err != nil {
			continue // the fix
		}
		m := mountAt(t, pl, "/mnt/x")
		if !filepath.IsAbs(m.Source) {
			t.Errorf("BUG: source %q with an unknown user home compiles to the relative bind source %q", source, m.Source)
		}
	}
}

func TestCompileUnsupported(t *testing.T) {
	for _, tc := range []struct {
		extra string
		key   string
	}{
		{"[display]\nx11 = \"nested\"\n", "display.x11"},
		{"[display]\nwayland = true\n", "display.wayland"},
		{"[audio]\npulse = true\n", "audio.pulse"},
		{"[audio]\nalsa = true\n", "audio.alsa"},
		{"[devices]\nwebcam = true\n", "devices.webcam"},
		{"[devices]\ngpu = true\n", "devices.gpu"},
		{"[devices]\nextra = [\"/dev/ttyUSB0\"]\n", "devices.extra"},
		{"[network]\nmode = \"bridge\"\n", "network.mode"},
		{"[network]\nmode = \"bridge\"\nports = [\"8080:80/tcp\"]\n", "network.mode"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			for _, h := range []*Host{mergedHost(), x11Host()} {
				err := compileErr(t, parse(t, tc.extra), h)
				if !errors.Is(err, ErrUnsupported) {
					t.Errorf("error %q does not wrap ErrUnsupported", err)
				}
				for _, s := range []string{"test.toml", tc.key} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %s", err, s)
					}
				}
			}
		})
	}
	// Granted-off values are fine.
	compile(t, parse(t, "image = \"host\"\n[display]\nwayland = false\n[audio]\npulse = false\nalsa = false\n[devices]\nwebcam = false\ngpu = false\nextra = []\n"), mergedHost())
}

// fullProfile uses every key Compile reads.
const fullProfile = `version = "v2"
description = "everything"
env = { MOZ_X = "1", PATH = "/opt/bin:/usr/bin" }
[display]
x11 = "host"
[resources]
memory = "2G"
memory_swap = "3G"
cpus = 1.5
cpuset = "0-1"
cpu_weight = 200
pids = 512
io_weight = 300
[network]
mode = "host"
[filesystem]
home = "persistent"
[[filesystem.mounts]]
source = "~/Downloads"
target = "~/Downloads"
mode = "rw"
[[filesystem.mounts]]
source = "/srv/music"
target = "/mnt/music"
[security]
allow_syscalls = ["ptrace"]
deny_syscalls = ["chmod"]
nested_sandbox = true
[desktop]
name = "Probe"
icon = "probe"
categories = ["Utility"]
`

func fullHost() *Host {
	h := x11Host()
	h.Optional = map[string]bool{"/var/cache/fontconfig": true, "/sys/devices/system/cpu": true}
	h.Env["LC_ALL"] = "C"
	return h
}

func TestCompilePure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		h     func() *Host
	}{
		{"minimal", "", mergedHost},
		{"full", fullProfile, fullHost},
		{"ephemeral unconfined", "[filesystem]\nhome = \"ephemeral\"\n[security]\nseccomp = \"unconfined\"\n", splitHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, h, args := parse(t, tc.extra), tc.h(), []string{"--new-window", "https://example.org"}
			// Identical copies, to compare the inputs with afterwards.
			p0, h0, args0 := parse(t, tc.extra), tc.h(), slices.Clone(args)
			if !reflect.DeepEqual(p, p0) || !reflect.DeepEqual(h, h0) {
				t.Fatal("the input builders are not deterministic")
			}
			pl1 := compile(t, p, h, args...)
			pl2 := compile(t, p, h, args...)
			if !reflect.DeepEqual(pl1, pl2) {
				t.Errorf("two compilations differ:\n%s\n%s", dump(pl1), dump(pl2))
			}
			if !reflect.DeepEqual(p, p0) {
				t.Errorf("Compile modified the profile:\n%s\nwas\n%s", dump(p), dump(p0))
			}
			if !reflect.DeepEqual(h, h0) {
				t.Errorf("Compile modified the host:\n%s\nwas\n%s", dump(h), dump(h0))
			}
			if !reflect.DeepEqual(args, args0) {
				t.Errorf("Compile modified args: %q, was %q", args, args0)
			}
			// Changing one plan changes neither the inputs nor the next plan.
			pl1.Spec.Process.Args[0] = "/changed"
			pl1.Spec.Process.Env[0] = "CHANGED=1"
			pl1.Spec.Mounts[0].Options[0] = "changed"
			pl1.Symlinks[0].Target = "changed"
			if pl1.Spec.Linux.Seccomp != nil {
				pl1.Spec.Linux.Seccomp.Syscalls[0].Names[0] = "changed"
			}
			if !reflect.DeepEqual(p, p0) || !reflect.DeepEqual(h, h0) || !reflect.DeepEqual(args, args0) {
				t.Error("changing a plan changed Compile's inputs")
			}
			if pl3 := compile(t, p, h, args...); !reflect.DeepEqual(pl3, pl2) {
				t.Error("changing a plan changed the next plan")
			}
		})
	}
}

// span is a piece of memory a value refers to.
type span struct {
	start, end uintptr
	what       string
}

// spans returns the memory v refers to through slices, maps and pointers,
// except strings, which are immutable, and zero-sized allocations.
func spans(v reflect.Value, what string, out *[]span) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if size := v.Type().Elem().Size(); size > 0 {
			*out = append(*out, span{v.Pointer(), v.Pointer() + size, what})
		}
		spans(v.Elem(), what, out)
	case reflect.Interface:
		if !v.IsNil() {
			spans(v.Elem(), what, out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			spans(v.Field(i), what+"."+v.Type().Field(i).Name, out)
		}
	case reflect.Slice:
		if v.Cap() == 0 || v.Type().Elem().Size() == 0 {
			return
		}
		*out = append(*out, span{v.Pointer(), v.Pointer() + uintptr(v.Cap())*v.Type().Elem().Size(), what})
		for i := 0; i < v.Len(); i++ {
			spans(v.Index(i), fmt.Sprintf("%s[%d]", what, i), out)
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			spans(v.Index(i), fmt.Sprintf("%s[%d]", what, i), out)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		*out = append(*out, span{v.Pointer(), v.Pointer() + 1, what})
		it := v.MapRange()
		for it.Next() {
			spans(it.Value(), fmt.Sprintf("%s[%v]", what, it.Key()), out)
		}
	}
}

// shared returns the places where a and b refer to the same memory.
func shared(a, b any) []string {
	var sa, sb []span
	spans(reflect.ValueOf(a), "a", &sa)
	spans(reflect.ValueOf(b), "b", &sb)
	var out []string
	for _, x := range sa {
		for _, y := range sb {
			if x.start < y.end && y.start < x.end {
				out = append(out, x.what+" and "+y.what)
			}
		}
	}
	return out
}

// TestCompileSharesNoMemory guards a fixed bug: a plan is data the caller owns, but
// Spec.Linux.MaskedPaths and ReadonlyPaths are the package variables
// MaskedPaths and ReadonlyPaths themselves: a caller that edits a plan in
// place (say, dropping masked paths the host lacks with slices.DeleteFunc,
// or a test adding one) silently changes every later plan, the security
// masks included. Fixed in Compile: MaskedPaths:
// slices.Clone(MaskedPaths), ReadonlyPaths: slices.Clone(ReadonlyPaths).
func TestCompileSharesNoMemory(t *testing.T) {
	p, h := parse(t, fullProfile), fullHost()
	args := []string{"a", "b"}
	pl1 := compile(t, p, h, args...)
	pl2 := compile(t, p, h, args...)
	for _, s := range shared(pl1, pl2) {
		t.Errorf("BUG: two plans share memory: %s", s)
	}
	for _, in := range []any{p, h, args, MaskedPaths, ReadonlyPaths} {
		for _, s := range shared(pl1, in) {
			t.Errorf("BUG: the plan shares memory with an input or package variable: %s", s)
		}
	}
}

// TestCompileFull checks the plan of the profile that uses every key, as a
// whole, against what the tests above check one key at a time.
func TestCompileFull(t *testing.T) {
	pl := compile(t, parse(t, fullProfile), fullHost(), "--x")
	if pl.App != "probe@v2" || pl.Spec.Hostname != "probe" {
		t.Errorf("App %q Hostname %q", pl.App, pl.Spec.Hostname)
	}
	if want := []string{"/usr/bin/probe", "--flag", "--x"}; !reflect.DeepEqual(pl.Spec.Process.Args, want) {
		t.Errorf("Args = %q, want %q", pl.Spec.Process.Args, want)
	}
	env := envOf(t, pl)
	for k, v := range map[string]string{"PATH": "/opt/bin:/usr/bin", "MOZ_X": "1", "DISPLAY": ":3", "LC_ALL": "C", "TERM": "xterm-256color"} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if want := []string{
		"/usr", "/etc", "/proc", "/dev", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
		"/dev/pts", "/dev/shm", "/tmp", "/run", "/run/user/1000", "/var", "/home",
		"/var/cache/fontconfig", "/sys/devices/system/cpu",
		"/home/alice", "/home/alice/Downloads", "/mnt/music", "/tmp/.X11-unix/X3",
	}; !reflect.DeepEqual(destinations(pl), want) {
		t.Errorf("mounts = %q\nwant     %q", destinations(pl), want)
	}
	if mountAt(t, pl, "/home/alice").Source != "/data/homes/probe@v2" {
		t.Errorf("home source %q", mountAt(t, pl, "/home/alice").Source)
	}
	if len(pl.Warnings) != 1 || !hasWarning(pl, "network") {
		t.Errorf("warnings = %q, want the network one", pl.Warnings)
	}
	for _, ns := range pl.Spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Error("host network mode has a network namespace")
		}
	}
	if got := actions(pl.Spec.Linux.Seccomp, "unshare"); !reflect.DeepEqual(got, []string{string(specs.ActAllow)}) {
		t.Errorf("unshare rules %q with nested_sandbox", got)
	}
	if got := actions(pl.Spec.Linux.Seccomp, "ptrace"); !reflect.DeepEqual(got, []string{string(specs.ActAllow)}) {
		t.Errorf("ptrace rules %q with allow_syscalls", got)
	}
	if r := pl.Spec.Linux.Resources; r == nil || r.Memory == nil || r.CPU == nil || r.Pids == nil || r.BlockIO == nil {
		t.Errorf("resources = %s", dump(r))
	}
	if _, ok := fileAt(pl, "/run/user/1000/Xauthority"); !ok {
		t.Error("no Xauthority")
	}
	// The plan survives a JSON round trip, as nook spec prints it and the
	// launcher sends it. (Not as a Go value: the spec's omitempty turns the
	// empty capability sets into nil ones, which OCI treats alike.)
	var back sandbox.Plan
	if err := json.Unmarshal(mustJSON(t, pl), &back); err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, pl), mustJSON(t, &back); !bytes.Equal(a, b) {
		t.Errorf("plan changes in a JSON round trip:\n%s\n%s", a, b)
	}
}
