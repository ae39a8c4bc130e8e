package devices

import (
	"bytes"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/sandbox"
)

func TestParseDisplay(t *testing.T) {
	for _, tt := range []struct {
		in             string
		number, screen int
		err            string // substring; "" means no error
	}{
		{in: ":0", number: 0},
		{in: ":0.0", number: 0},
		{in: ":1", number: 1},
		{in: ":12.3", number: 12, screen: 3},
		{in: "unix:0", number: 0},
		{in: "unix:7.1", number: 7, screen: 1},
		{in: "localhost:10.0", err: "is a network display"},
		{in: "host:0", err: "is a network display"},
		{in: "127.0.0.1:0", err: "is a network display"},
		{in: "[::1]:0", err: "is a network display"},
		{in: "host::0", err: "is a network display"},
		{in: "::0", err: "is a network display"},
		{in: "", err: "is not an X display name"},
		{in: "0", err: "is not an X display name"},
		{in: ":", err: "is not an X display name"},
		{in: ":x", err: "is not an X display name"},
		{in: ":-1", err: "is not an X display name"},
		{in: ":+1", err: "is not an X display name"},
		{in: ":0.", err: "is not an X display name"},
		{in: ":0.0.0", err: "is not an X display name"},
		{in: ":99999999999999999999", err: "is not an X display name"},
		{in: "/tmp/launch-x/org.xquartz:0", err: "is not an X display name"},
		{in: "tcp/host:0", err: "is not an X display name"},
	} {
		number, screen, err := ParseDisplay(tt.in)
		if !errorMatches(err, tt.err) {
			t.Errorf("ParseDisplay(%q) error = %v, want %q", tt.in, err, tt.err)
			continue
		}
		if err == nil && (number != tt.number || screen != tt.screen) {
			t.Errorf("ParseDisplay(%q) = %d, %d, want %d, %d", tt.in, number, screen, tt.number, tt.screen)
		}
		if err != nil && !strings.Contains(err.Error(), "such as :0") {
			t.Errorf("ParseDisplay(%q) error %q does not say what to do", tt.in, err)
		}
	}
}

func errorMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

// entry is a one-line XauthEntry for tables. Empty data is nil, as
// ParseXauthority returns it.
func entry(family uint16, address, number, name, data string) XauthEntry {
	e := XauthEntry{Family: family, Address: address, Number: number, Name: name}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func mustMarshal(t *testing.T, entries ...XauthEntry) []byte {
	t.Helper()
	b, err := MarshalXauthority(entries)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestXauthorityFormat(t *testing.T) {
	// One entry as xauth writes it for "vm/unix:1 MIT-MAGIC-COOKIE-1 0102".
	golden := []byte{
		0x01, 0x00, // FamilyLocal
		0x00, 0x02, 'v', 'm',
		0x00, 0x01, '1',
		0x00, 0x12, 'M', 'I', 'T', '-', 'M', 'A', 'G', 'I', 'C', '-', 'C', 'O', 'O', 'K', 'I', 'E', '-', '1',
		0x00, 0x02, 0x01, 0x02,
	}
	e := entry(FamilyLocal, "vm", "1", MITMagicCookie, "\x01\x02")
	if got := mustMarshal(t, e); !bytes.Equal(got, golden) {
		t.Errorf("MarshalXauthority = % x\nwant % x", got, golden)
	}
	got, err := ParseXauthority(golden)
	if err != nil || !reflect.DeepEqual(got, []XauthEntry{e}) {
		t.Errorf("ParseXauthority(golden) = %+v, %v", got, err)
	}
}

func TestXauthorityRoundTrip(t *testing.T) {
	for _, entries := range [][]XauthEntry{
		nil,
		{entry(FamilyWild, "", "", MITMagicCookie, "cookie")},
		{
			entry(FamilyLocal, "vm", "0", MITMagicCookie, strings.Repeat("\xff", 16)),
			entry(0, "\x7f\x00\x00\x01", "10", "XDM-AUTHORIZATION-1", "x"),
			entry(FamilyWild, "", "", "", ""),
			entry(FamilyLocal, strings.Repeat("h", 0xffff), "1", MITMagicCookie, "c"),
		},
	} {
		got, err := ParseXauthority(mustMarshal(t, entries...))
		if err != nil || !reflect.DeepEqual(got, entries) {
			t.Errorf("round trip of %d entries: got %d entries, %v", len(entries), len(got), err)
		}
	}
	if _, err := MarshalXauthority([]XauthEntry{entry(FamilyLocal, strings.Repeat("h", 0x10000), "", "", "")}); err == nil {
		t.Error("MarshalXauthority took a 65536-byte address")
	}
}

func TestParseXauthorityDamaged(t *testing.T) {
	first := entry(FamilyLocal, "vm", "0", MITMagicCookie, "first")
	b := mustMarshal(t, first, entry(FamilyLocal, "vm", "1", MITMagicCookie, "second"))
	end := len(mustMarshal(t, first))
	// Every cut inside the second entry keeps the first.
	for cut := end + 1; cut < len(b); cut++ {
		got, err := ParseXauthority(b[:cut])
		if err == nil || !strings.Contains(err.Error(), "entry 2 is truncated") {
			t.Errorf("cut at %d: error = %v, want entry 2 truncated", cut, err)
		}
		if !reflect.DeepEqual(got, []XauthEntry{first}) {
			t.Errorf("cut at %d: entries = %+v, want the first", cut, got)
		}
	}
}

func TestFindCookie(t *testing.T) {
	const host = "vm"
	for _, tt := range []struct {
		name    string
		entries []XauthEntry
		number  int
		want    string // "" means none
	}{
		{"none", nil, 0, ""},
		{"local, this host", []XauthEntry{entry(FamilyLocal, host, "0", MITMagicCookie, "a")}, 0, "a"},
		{"other display", []XauthEntry{entry(FamilyLocal, host, "1", MITMagicCookie, "a")}, 0, ""},
		{"prefix is not a number", []XauthEntry{entry(FamilyLocal, host, "10", MITMagicCookie, "a")}, 1, ""},
		{"any display", []XauthEntry{entry(FamilyLocal, host, "", MITMagicCookie, "a")}, 5, "a"},
		{"wild", []XauthEntry{entry(FamilyWild, "whatever", "3", MITMagicCookie, "w")}, 3, "w"},
		{"other protocol", []XauthEntry{entry(FamilyLocal, host, "0", "XDM-AUTHORIZATION-1", "x")}, 0, ""},
		{"empty cookie", []XauthEntry{entry(FamilyLocal, host, "0", MITMagicCookie, "")}, 0, ""},
		{"tcp entries are not for the socket", []XauthEntry{entry(0, "\x7f\x00\x00\x01", "0", MITMagicCookie, "i")}, 0, ""},
		{"file order, like libXau", []XauthEntry{
			entry(FamilyWild, "", "0", MITMagicCookie, "first"),
			entry(FamilyLocal, host, "0", MITMagicCookie, "second"),
		}, 0, "first"},
		{"this host before another host's", []XauthEntry{
			entry(FamilyLocal, "oldname", "0", MITMagicCookie, "old"),
			entry(FamilyLocal, host, "0", MITMagicCookie, "this"),
		}, 0, "this"},
		{"another host's when nothing else matches", []XauthEntry{
			entry(FamilyLocal, "oldname", "1", MITMagicCookie, "wrong display"),
			entry(FamilyLocal, "oldname", "0", MITMagicCookie, "old"),
		}, 0, "old"},
	} {
		got := FindCookie(tt.entries, host, tt.number)
		if string(got) != tt.want || (got == nil) != (tt.want == "") {
			t.Errorf("%s: FindCookie = %q, want %q", tt.name, []byte(got), tt.want)
		}
	}
}

// fakeHost is a host for probeX11.
type fakeHost struct {
	env     map[string]string
	sockets map[string]bool   // path -> is a socket (false: a plain file)
	files   map[string][]byte // path -> content; nil content: unreadable
}

func (h fakeHost) probe() (*X11Display, error) {
	stat := func(name string) (fs.FileInfo, error) {
		isSocket, ok := h.sockets[name]
		if !ok {
			return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
		}
		mode := fs.FileMode(0o644)
		if isSocket {
			mode = fs.ModeSocket | 0o777
		}
		return fakeInfo{mode}, nil
	}
	readFile := func(name string) ([]byte, error) {
		data, ok := h.files[name]
		switch {
		case !ok:
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		case data == nil:
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return data, nil
	}
	hostname := func() (string, error) { return "vm", nil }
	return probeX11(func(k string) string { return h.env[k] }, stat, readFile, hostname)
}

type fakeInfo struct{ mode fs.FileMode }

func (i fakeInfo) Name() string       { return "X" }
func (i fakeInfo) Size() int64        { return 0 }
func (i fakeInfo) Mode() fs.FileMode  { return i.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return false }
func (i fakeInfo) Sys() any           { return nil }

func TestProbeX11(t *testing.T) {
	socket0 := map[string]bool{"/tmp/.X11-unix/X0": true}
	cookie0 := mustMarshal(t, entry(FamilyLocal, "vm", "0", MITMagicCookie, "c0"))
	cookie1 := mustMarshal(t, entry(FamilyLocal, "vm", "1", MITMagicCookie, "c1"))
	for _, tt := range []struct {
		name string
		host fakeHost
		want *X11Display
		err  string
	}{
		{
			name: "DISPLAY unset",
			host: fakeHost{sockets: socket0},
			err:  `the profile asks for x11 = "host" but DISPLAY is not set`,
		}, {
			name: "tcp display",
			host: fakeHost{env: map[string]string{"DISPLAY": "localhost:10.0"}, sockets: socket0},
			err:  "is a network display",
		}, {
			name: "no socket",
			host: fakeHost{env: map[string]string{"DISPLAY": ":1"}, sockets: socket0},
			err:  "no X server socket at /tmp/.X11-unix/X1: start the X server for :1, or check that DISPLAY is right",
		}, {
			name: "not a socket",
			host: fakeHost{env: map[string]string{"DISPLAY": ":1"}, sockets: map[string]bool{"/tmp/.X11-unix/X1": false}},
			err:  "/tmp/.X11-unix/X1 is not a socket",
		}, {
			name: "XAUTHORITY",
			host: fakeHost{
				env:     map[string]string{"DISPLAY": ":0.0", "XAUTHORITY": "/run/user/1000/xauth", "HOME": "/home/u"},
				sockets: socket0,
				files:   map[string][]byte{"/run/user/1000/xauth": cookie0, "/home/u/.Xauthority": cookie1},
			},
			want: &X11Display{Socket: "/tmp/.X11-unix/X0", Cookie: Cookie("c0")},
		}, {
			name: "HOME/.Xauthority",
			host: fakeHost{
				env:     map[string]string{"DISPLAY": "unix:0", "HOME": "/home/u"},
				sockets: socket0,
				files:   map[string][]byte{"/home/u/.Xauthority": cookie0},
			},
			want: &X11Display{Socket: "/tmp/.X11-unix/X0", Cookie: Cookie("c0")},
		}, {
			name: "no Xauthority",
			host: fakeHost{env: map[string]string{"DISPLAY": ":0", "HOME": "/home/u"}, sockets: socket0},
			want: &X11Display{Socket: "/tmp/.X11-unix/X0"},
		}, {
			name: "no HOME either",
			host: fakeHost{env: map[string]string{"DISPLAY": ":0"}, sockets: socket0},
			want: &X11Display{Socket: "/tmp/.X11-unix/X0"},
		}, {
			name: "no entry for the display",
			host: fakeHost{
				env:     map[string]string{"DISPLAY": ":0", "HOME": "/home/u"},
				sockets: socket0,
				files:   map[string][]byte{"/home/u/.Xauthority": cookie1},
			},
			want: &X11Display{Socket: "/tmp/.X11-unix/X0"},
		}, {
			name: "unreadable Xauthority",
			host: fakeHost{
				env:     map[string]string{"DISPLAY": ":0", "HOME": "/home/u"},
				sockets: socket0,
				files:   map[string][]byte{"/home/u/.Xauthority": nil},
			},
			err: "point XAUTHORITY at a readable file",
		}, {
			name: "damage after the entry",
			host: fakeHost{
				env:     map[string]string{"DISPLAY": ":0", "HOME": "/home/u"},
				sockets: socket0,
				files:   map[string][]byte{"/home/u/.Xauthority": append(cookie0, 1)},
			},
			want: &X11Display{Socket: "/tmp/.X11-unix/X0", Cookie: Cookie("c0")},
		}, {
			name: "damage before the entry",
			host: fakeHost{
				env:     map[string]string{"DISPLAY": ":0", "HOME": "/home/u"},
				sockets: socket0,
				files:   map[string][]byte{"/home/u/.Xauthority": cookie0[:5]},
			},
			err: "read the X cookie from /home/u/.Xauthority: entry 1 is truncated",
		},
	} {
		got, err := tt.host.probe()
		if !errorMatches(err, tt.err) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, got, tt.want)
		}
	}
}

func TestFragment(t *testing.T) {
	mount := func(n string) specs.Mount {
		return specs.Mount{
			Destination: "/tmp/.X11-unix/X" + n,
			Type:        "bind",
			Source:      "/tmp/.X11-unix/X" + n,
			Options:     []string{"bind", "ro", "nosuid", "nodev", "noexec"},
		}
	}
	wild := func(n, cookie string) []byte {
		return mustMarshal(t, entry(FamilyWild, "", n, MITMagicCookie, cookie))
	}
	for _, tt := range []struct {
		name string
		d    X11Display
		want Fragment
	}{
		{
			name: "no cookie",
			d:    X11Display{Number: 0, Socket: "/tmp/.X11-unix/X0"},
			want: Fragment{Mounts: []specs.Mount{mount("0")}, Env: map[string]string{"DISPLAY": ":0"}},
		}, {
			name: "cookie",
			d:    X11Display{Number: 12, Socket: "/tmp/.X11-unix/X12", Cookie: Cookie("secret")},
			want: Fragment{
				Mounts: []specs.Mount{mount("12")},
				Env:    map[string]string{"DISPLAY": ":12", "XAUTHORITY": "/run/nook/Xauthority"},
				Files:  []sandbox.File{{Path: "/run/nook/Xauthority", Mode: 0o600, Data: wild("12", "secret"), Secret: true}},
			},
		}, {
			name: "screen",
			d:    X11Display{Number: 1, Screen: 2, Socket: "/tmp/.X11-unix/X1"},
			want: Fragment{Mounts: []specs.Mount{mount("1")}, Env: map[string]string{"DISPLAY": ":1.2"}},
		},
	} {
		if got := tt.d.Fragment("/run/nook"); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Fragment =\n%#v\nwant\n%#v", tt.name, got, tt.want)
		}
	}
}

func TestCookieIsRedacted(t *testing.T) {
	d := &X11Display{Socket: "/tmp/.X11-unix/X0", Cookie: Cookie("hunter2")}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, d); strings.Contains(s, "hunter2") || strings.Contains(s, "104") {
			t.Errorf("Sprintf(%q) = %s: shows the cookie", format, s)
		}
	}
}
