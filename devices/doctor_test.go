package devices

import (
	"io/fs"
	"path"
	"testing"

	"github.com/nook-sandbox/nook/sandbox"
)

// displayHost is a host with the given environment, sockets (paths) and
// files for CheckDisplay.
func displayHost(env map[string]string, sockets []string, files map[string][]byte) *sandbox.Host {
	isSocket := map[string]bool{}
	for _, s := range sockets {
		isSocket[s] = true
	}
	return &sandbox.Host{
		Getenv: func(k string) string { return env[k] },
		Stat: func(name string) (fs.FileInfo, error) {
			if isSocket[name] {
				return fakeInfo{fs.ModeSocket | 0o777}, nil
			}
			return nil, fs.ErrNotExist
		},
		ReadFile: func(name string) ([]byte, error) {
			if name == "/proc/sys/kernel/hostname" {
				return []byte("vm\n"), nil
			}
			if b, ok := files[name]; ok {
				return b, nil
			}
			return nil, fs.ErrNotExist
		},
		ReadDir: func(dir string) ([]fs.DirEntry, error) {
			var entries []fs.DirEntry
			for _, s := range sockets {
				if path.Dir(s) == dir {
					entries = append(entries, namedEntry(path.Base(s)))
				}
			}
			return entries, nil
		},
	}
}

type namedEntry string

func (e namedEntry) Name() string               { return string(e) }
func (e namedEntry) IsDir() bool                { return false }
func (e namedEntry) Type() fs.FileMode          { return fs.ModeSocket }
func (e namedEntry) Info() (fs.FileInfo, error) { return fakeInfo{fs.ModeSocket}, nil }

func TestCheckDisplay(t *testing.T) {
	const x0, x1 = "/tmp/.X11-unix/X0", "/tmp/.X11-unix/X1"
	xauth := map[string][]byte{"/home/u/.Xauthority": mustMarshal(t, entry(FamilyLocal, "vm", "0", MITMagicCookie, "c"))}
	for _, tt := range []struct {
		name string
		host *sandbox.Host
		want sandbox.Finding
	}{
		{
			name: "cookie",
			host: displayHost(map[string]string{"DISPLAY": ":0", "HOME": "/home/u"}, []string{x0}, xauth),
			want: sandbox.Finding{Status: sandbox.StatusOK, Detail: "X11 :0 at /tmp/.X11-unix/X0, with a cookie"},
		}, {
			name: "no cookie",
			host: displayHost(map[string]string{"DISPLAY": ":0.1", "HOME": "/home/u"}, []string{x0}, nil),
			want: sandbox.Finding{Status: sandbox.StatusOK, Detail: "X11 :0.1 at /tmp/.X11-unix/X0, no cookie (the server must accept clients without one)"},
		}, {
			name: "and Wayland",
			host: displayHost(map[string]string{"DISPLAY": ":0", "HOME": "/home/u", "WAYLAND_DISPLAY": "wayland-0", "XDG_RUNTIME_DIR": "/run/user/1000"},
				[]string{x0, "/run/user/1000/wayland-0"}, xauth),
			want: sandbox.Finding{Status: sandbox.StatusOK,
				Detail: "X11 :0 at /tmp/.X11-unix/X0, with a cookie; Wayland socket /run/user/1000/wayland-0 (nook does not pass Wayland yet)"},
		}, {
			name: "no DISPLAY",
			host: displayHost(nil, nil, nil),
			want: sandbox.Finding{Status: sandbox.StatusWarn, Detail: `DISPLAY is not set: apps with x11 = "host" cannot start`},
		}, {
			name: "no DISPLAY, one server",
			host: displayHost(nil, []string{x1}, nil),
			want: sandbox.Finding{Status: sandbox.StatusWarn, Detail: `DISPLAY is not set: apps with x11 = "host" cannot start`, Fix: "export DISPLAY=:1"},
		}, {
			name: "no DISPLAY, two servers",
			host: displayHost(nil, []string{x0, x1}, nil),
			want: sandbox.Finding{Status: sandbox.StatusWarn, Detail: `DISPLAY is not set: apps with x11 = "host" cannot start`},
		}, {
			name: "no DISPLAY, Wayland only",
			host: displayHost(map[string]string{"WAYLAND_DISPLAY": "/run/w"}, []string{"/run/w"}, nil),
			want: sandbox.Finding{Status: sandbox.StatusWarn,
				Detail: `DISPLAY is not set: apps with x11 = "host" cannot start; Wayland socket /run/w (nook does not pass Wayland yet)`},
		}, {
			name: "stale DISPLAY",
			host: displayHost(map[string]string{"DISPLAY": ":1"}, []string{x0}, nil),
			want: sandbox.Finding{Status: sandbox.StatusFail,
				Detail: "DISPLAY=:1: no X server socket at /tmp/.X11-unix/X1: start the X server for :1, or check that DISPLAY is right",
				Fix:    "export DISPLAY=:0"},
		}, {
			name: "ssh -X",
			host: displayHost(map[string]string{"DISPLAY": "localhost:10.0"}, []string{x0}, nil),
			want: sandbox.Finding{Status: sandbox.StatusFail,
				Detail: `DISPLAY="localhost:10.0" is a network display: nook passes only a local X socket into the sandbox, ` +
					`so run nook in the desktop session whose DISPLAY is local, such as :0 (X forwarding with ssh -X is not supported)`},
		},
	} {
		tt.want.Name = "display"
		if got := CheckDisplay(tt.host); got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}
