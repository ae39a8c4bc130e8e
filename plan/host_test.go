package plan

// Tests of ProbeHost and PrepareHome on this machine. The identity tests
// need root (CI runs as root); the environment comes from a getenv func,
// never from the test's own environment, except for LC_* variables, which
// ProbeHost takes from the process environment when getenv agrees.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nook-sandbox/nook/devices"
	"github.com/nook-sandbox/nook/profiles"
)

// env returns a getenv func reading m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: ProbeHost's root branch picks the app's identity from SUDO_UID")
	}
}

func probe(t *testing.T, extra string, vars map[string]string) *Host {
	t.Helper()
	h, err := ProbeHost(parse(t, extra), env(vars))
	if err != nil {
		t.Fatalf("ProbeHost: %v", err)
	}
	return h
}

func TestProbeHostRootWithoutSudo(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		vars map[string]string
	}{
		{"no SUDO_UID", map[string]string{"HOME": "/root", "USER": "root"}},
		{"SUDO_UID=0", map[string]string{"HOME": "/root", "SUDO_UID": "0", "SUDO_GID": "0"}},
		{"empty SUDO_UID", map[string]string{"HOME": "/root", "SUDO_UID": "", "SUDO_GID": "1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := probe(t, "", tc.vars)
			want := struct {
				UID, GID                              uint32
				User, Group, Home, UserHome, HomesDir string
			}{65534, 65534, "nobody", "nogroup", "/home/nobody", "/root", "/var/lib/nook/homes/65534"}
			got := want
			got.UID, got.GID, got.User, got.Group, got.Home, got.UserHome, got.HomesDir = h.UID, h.GID, h.User, h.Group, h.Home, h.UserHome, h.HomesDir
			if got != want {
				t.Errorf("identity = %+v, want %+v", got, want)
			}
			if h.AppHome("probe@v2") != "/var/lib/nook/homes/65534/probe@v2" {
				t.Errorf("AppHome = %q", h.AppHome("probe@v2"))
			}
			if h.X11 != nil {
				t.Errorf("X11 = %+v without x11 = \"host\"", h.X11)
			}
			// The probed host compiles, and the app is not root.
			pl := compile(t, parse(t, ""), h)
			if u := pl.Spec.Process.User; u.UID != 65534 || u.GID != 65534 {
				t.Errorf("app runs as %d:%d", u.UID, u.GID)
			}
		})
	}
}

func TestProbeHostSudo(t *testing.T) {
	requireRoot(t)
	u, err := user.LookupId("1")
	if err != nil {
		t.Skipf("uid 1 has no passwd entry here: %v", err)
	}
	h := probe(t, "", map[string]string{"SUDO_UID": "1", "SUDO_GID": "1", "HOME": "/root", "USER": "root"})
	if h.UID != 1 || h.GID != 1 {
		t.Errorf("identity %d:%d, want 1:1", h.UID, h.GID)
	}
	if h.User != u.Username || h.User != "daemon" {
		t.Errorf("User = %q, want %q (daemon on Debian)", h.User, u.Username)
	}
	// daemon's passwd home, /usr/sbin, is a system directory: the app's
	// home inside is /home/daemon, and ~ in mount sources is still
	// daemon's own home, not root's $HOME.
	if h.Home != "/home/daemon" || h.UserHome != u.HomeDir {
		t.Errorf("Home %q UserHome %q, want /home/daemon and %q", h.Home, h.UserHome, u.HomeDir)
	}
	// Homes are kept per uid, so two sudo users never share one.
	if h.HomesDir != "/var/lib/nook/homes/1" {
		t.Errorf("HomesDir = %q", h.HomesDir)
	}
	pl := compile(t, parse(t, ""), h)
	if u := pl.Spec.Process.User; u.UID != 1 || u.GID != 1 {
		t.Errorf("app runs as %d:%d", u.UID, u.GID)
	}

	// SUDO_GID need not be the user's primary group.
	h = probe(t, "", map[string]string{"SUDO_UID": "1", "SUDO_GID": "2"})
	if h.UID != 1 || h.GID != 2 {
		t.Errorf("identity %d:%d, want 1:2", h.UID, h.GID)
	}
}

// TestProbeHostGroupName guards a fixed bug: ProbeHost sets Host.Group only for nobody,
// so the sandbox's /etc/group names the app's gid after the user: with
// SUDO_GID=2 (group bin) it says "daemon:x:2:", and a user whose primary
// group is users (100) sees gid 100 named after herself. Fixed in
// identity (both branches): if g, err := user.LookupGroupId(gid); err ==
// nil { h.Group = g.Name }, keeping Compile's fallback to the user name
// for a gid without a group entry.
func TestProbeHostGroupName(t *testing.T) {
	requireRoot(t)
	g, err := user.LookupGroupId("2")
	if _, uerr := user.LookupId("1"); err != nil || uerr != nil {
		t.Skip("uid 1 or gid 2 has no entry here")
	}
	h := probe(t, "", map[string]string{"SUDO_UID": "1", "SUDO_GID": "2"})
	if h.Group != g.Name {
		t.Errorf("BUG: SUDO_GID=2: Group = %q, want %q", h.Group, g.Name)
	}
	f, _ := fileAt(compile(t, parse(t, ""), h), "/etc/group")
	if want := g.Name + ":x:2:\n"; !strings.Contains(string(f.Data), want) {
		t.Errorf("BUG: /etc/group = %q, want a line %q", f.Data, want)
	}
}

// unusedUID returns a uid without a passwd entry.
func unusedUID(t *testing.T) string {
	t.Helper()
	for id := 4242420; id < 4242520; id++ {
		if _, err := user.LookupId(strconv.Itoa(id)); err != nil {
			return strconv.Itoa(id)
		}
	}
	t.Skip("no unused uid found")
	return ""
}

func TestProbeHostSudoErrors(t *testing.T) {
	requireRoot(t)
	unknown := unusedUID(t)
	for _, tc := range []struct {
		name     string
		vars     map[string]string
		contains []string
	}{
		{"unknown SUDO_UID", map[string]string{"SUDO_UID": unknown, "SUDO_GID": unknown}, []string{"SUDO_UID=" + unknown, "unset SUDO_UID"}},
		{"non-numeric SUDO_UID", map[string]string{"SUDO_UID": "alice", "SUDO_GID": "1"}, []string{"SUDO_UID"}},
		{"missing SUDO_GID", map[string]string{"SUDO_UID": "1"}, []string{"SUDO_GID"}},
		{"SUDO_GID=0", map[string]string{"SUDO_UID": "1", "SUDO_GID": "0"}, []string{"SUDO_GID"}},
		{"non-numeric SUDO_GID", map[string]string{"SUDO_UID": "1", "SUDO_GID": "daemon"}, []string{"SUDO_GID"}},
		{"negative SUDO_GID", map[string]string{"SUDO_UID": "1", "SUDO_GID": "-1"}, []string{"SUDO_GID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.vars["SUDO_UID"] == "1" {
				if _, err := user.LookupId("1"); err != nil {
					t.Skip("uid 1 has no passwd entry here")
				}
			}
			h, err := ProbeHost(parse(t, ""), env(tc.vars))
			if err == nil {
				t.Fatalf("ProbeHost succeeded: %+v", h)
			}
			if h != nil {
				t.Errorf("ProbeHost returned a host with error %v", err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestProbeHostEnv(t *testing.T) {
	t.Setenv("LC_NOOKTEST_SAME", "same")
	t.Setenv("LC_NOOKTEST_OTHER", "process")
	vars := map[string]string{
		"HOME": "/root",
		// passed
		"TERM": "xterm-256color", "COLORTERM": "truecolor", "LANG": "de_DE.UTF-8", "LANGUAGE": "de",
		"TZ": "Europe/Berlin", "NO_COLOR": "1",
		"LC_NOOKTEST_SAME": "same", "LC_NOOKTEST_OTHER": "getenv",
		// not passed
		"PATH": "/root/bin", "DISPLAY": ":0", "XAUTHORITY": "/root/.Xauthority", "SSH_AUTH_SOCK": "/tmp/ssh",
		"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/0/bus", "LD_PRELOAD": "/evil.so", "WAYLAND_DISPLAY": "wayland-0",
		"XDG_RUNTIME_DIR": "/run/user/0", "SUDO_USER": "alice", "LC_NOOKTEST_UNSET": "x",
	}
	h := probe(t, "", vars)
	want := map[string]string{
		"TERM": "xterm-256color", "COLORTERM": "truecolor", "LANG": "de_DE.UTF-8", "LANGUAGE": "de",
		"TZ": "Europe/Berlin", "NO_COLOR": "1", "LC_NOOKTEST_SAME": "same",
	}
	// Other LC_* variables of the test process are passed when getenv
	// agrees; ours does not know them, so none are.
	if !reflect.DeepEqual(h.Env, want) {
		t.Errorf("Env = %v\nwant  %v", h.Env, want)
	}
	// Empty values are not passed.
	h = probe(t, "", map[string]string{"TERM": "", "LANG": ""})
	if len(h.Env) != 0 {
		t.Errorf("Env = %v, want empty", h.Env)
	}
}

func TestProbeHostDirs(t *testing.T) {
	h := probe(t, "", map[string]string{"HOME": "/root", "USER": "root"})
	want := map[string]string{}
	for _, d := range hostDirs {
		st, err := os.Lstat(d)
		switch {
		case err != nil:
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(d)
			if err != nil {
				t.Fatal(err)
			}
			want[d] = target
		case st.IsDir():
			want[d] = ""
		}
	}
	if !reflect.DeepEqual(h.Dirs, want) {
		t.Errorf("Dirs = %v, want %v", h.Dirs, want)
	}
	if h.Dirs["/usr"] != "" {
		t.Errorf("/usr = %q, want a directory", h.Dirs["/usr"])
	}
	// On a merged-/usr host such as Debian 12, the top-level directories
	// are relative symlinks into /usr.
	if target, err := os.Readlink("/bin"); err == nil {
		t.Logf("merged /usr: /bin -> %s", target)
		for d, wantTarget := range map[string]string{"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib"} {
			if got, ok := h.Dirs[d]; !ok || got != wantTarget {
				t.Errorf("Dirs[%s] = %q (present %v), want %q", d, got, ok, wantTarget)
			}
		}
	} else {
		t.Logf("split /usr: /bin is not a symlink (%v)", err)
		if got, ok := h.Dirs["/bin"]; !ok || got != "" {
			t.Errorf("Dirs[/bin] = %q (present %v), want a directory", got, ok)
		}
	}
	for d := range h.Dirs {
		if !contains(hostDirs, d) {
			t.Errorf("Dirs has %s, which is not a host image directory", d)
		}
	}

	// Optional paths are those that exist.
	wantOpt := map[string]bool{}
	for _, o := range optionalBinds {
		if _, err := os.Stat(o); err == nil {
			wantOpt[o] = true
		}
	}
	if !reflect.DeepEqual(h.Optional, wantOpt) {
		t.Errorf("Optional = %v, want %v", h.Optional, wantOpt)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestProbeHostX11(t *testing.T) {
	x11 := "[display]\nx11 = \"host\"\n"
	t.Run("no DISPLAY", func(t *testing.T) {
		h, err := ProbeHost(parse(t, "version = \"v2\"\n"+x11), env(map[string]string{"HOME": "/root"}))
		if err == nil {
			t.Fatalf("ProbeHost succeeded: %+v", h.X11)
		}
		for _, s := range []string{"probe@v2", "DISPLAY"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %s", err, s)
			}
		}
	})
	t.Run("no socket", func(t *testing.T) {
		n := 4242
		if _, err := os.Stat(devices.X11SocketPath(n)); err == nil {
			t.Skipf("%s exists", devices.X11SocketPath(n))
		}
		_, err := ProbeHost(parse(t, x11), env(map[string]string{"HOME": "/root", "DISPLAY": fmt.Sprintf(":%d", n)}))
		if err == nil || !strings.Contains(err.Error(), devices.X11SocketPath(n)) {
			t.Errorf("error %v does not name the missing socket", err)
		}
	})
	t.Run("remote display", func(t *testing.T) {
		_, err := ProbeHost(parse(t, x11), env(map[string]string{"HOME": "/root", "DISPLAY": "example.org:0"}))
		if err == nil {
			t.Error("a network display is accepted")
		}
	})
	t.Run("not asked", func(t *testing.T) {
		h := probe(t, "", map[string]string{"HOME": "/root", "DISPLAY": "bogus"})
		if h.X11 != nil {
			t.Errorf("X11 probed without x11 = \"host\": %+v", h.X11)
		}
	})
}

func TestPrepareHome(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name     string
		uid, gid uint32
		id       string
	}{
		{"daemon", 1, 1, "probe"},
		{"other group", 1000, 100, "probe@v2"},
		{"nobody", 65534, 65534, "probe@esr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Host{UID: tc.uid, GID: tc.gid, HomesDir: filepath.Join(t.TempDir(), "nook", "homes")}
			check := func(dir string) {
				t.Helper()
				if want := filepath.Join(h.HomesDir, tc.id); dir != want {
					t.Errorf("PrepareHome = %q, want %q", dir, want)
				}
				st, err := os.Lstat(dir)
				if err != nil {
					t.Fatal(err)
				}
				if !st.IsDir() || st.Mode().Perm() != 0o700 {
					t.Errorf("%s: mode %v, want a directory 0700", dir, st.Mode())
				}
				sys := st.Sys().(*syscall.Stat_t)
				if sys.Uid != tc.uid || sys.Gid != tc.gid {
					t.Errorf("%s owned by %d:%d, want %d:%d", dir, sys.Uid, sys.Gid, tc.uid, tc.gid)
				}
				parent, err := os.Stat(h.HomesDir)
				if err != nil {
					t.Fatal(err)
				}
				if ps := parent.Sys().(*syscall.Stat_t); ps.Uid != 0 || parent.Mode().Perm()&0o022 != 0 {
					t.Errorf("HomesDir owned by %d, mode %v: the app could swap its home", ps.Uid, parent.Mode())
				}
			}
			dir, err := h.PrepareHome(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			check(dir)
			if err := os.WriteFile(filepath.Join(dir, "state"), []byte("kept"), 0o600); err != nil {
				t.Fatal(err)
			}
			// Idempotent: a second call keeps the home and its content.
			dir2, err := h.PrepareHome(tc.id)
			if err != nil {
				t.Fatalf("second PrepareHome: %v", err)
			}
			check(dir2)
			if data, err := os.ReadFile(filepath.Join(dir, "state")); err != nil || string(data) != "kept" {
				t.Errorf("the home's content is gone: %q, %v", data, err)
			}
			// A home left owned by someone else is handed back to the app.
			if err := os.Chown(dir, 0, 0); err != nil {
				t.Fatal(err)
			}
			dir3, err := h.PrepareHome(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			check(dir3)
			// The compiled plan binds this very directory.
			h.Home, h.User, h.Dirs = "/home/app", "app", mergedHost().Dirs
			name, version, _ := strings.Cut(tc.id, "@")
			src := fmt.Sprintf("name = %q\ncommand = [\"/usr/bin/probe\"]\n", name)
			if version != "" {
				src += fmt.Sprintf("version = %q\n", version)
			}
			p, err := profiles.Parse("test.toml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if src := mountAt(t, compile(t, p, h), "/home/app").Source; src != dir {
				t.Errorf("plan binds the home from %q, PrepareHome made %q", src, dir)
			}
		})
	}
}

func TestPrepareHomeErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// HomesDir cannot be created under a file.
	h := &Host{UID: 1, GID: 1, HomesDir: filepath.Join(blocker, "homes")}
	if _, err := h.PrepareHome("probe"); err == nil || !strings.Contains(err.Error(), h.HomesDir) {
		t.Errorf("error %v does not name %s", err, h.HomesDir)
	} else if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("error %v does not wrap ENOTDIR", err)
	}
}
