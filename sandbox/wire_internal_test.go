package sandbox

import (
	"errors"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMessageRoundTrip(t *testing.T) {
	full := &message{
		App: "firefox@esr",
		Mounts: []specs.Mount{
			{Destination: "/", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a:/b", "upperdir=/u", "workdir=/w"}},
			{Destination: "/usr", Type: "bind", Source: "/usr", Options: []string{"rbind", "ro"}, UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}, GIDMappings: []specs.LinuxIDMapping{{ContainerID: 1, HostID: 4294967295, Size: 2}}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
		},
		Symlinks:      []Symlink{{Path: "/bin", Target: "usr/bin"}},
		Files:         []File{{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0\n")}, {Path: "/run/xauth", Mode: 0o600, Data: []byte{0, 1, 255}, Secret: true}},
		ReadonlyPaths: []string{"/proc/sys"},
		MaskedPaths:   []string{"/proc/kcore", "/proc/keys"},
		RootReadonly:  true,
		Hostname:      "firefox",
		Network:       NetworkNone,
		Args:          []string{"/usr/bin/firefox", "", "ünïcode"},
		Env:           []string{"PATH=/usr/bin", "HOME=/home/u"},
		Cwd:           "/home/u",
		Filter:        []byte{0x20, 0, 0, 0, 4, 0, 0, 0},
		CgroupNS:      true,
	}
	for _, tc := range []struct {
		name string
		msg  *message
	}{
		{"full", full},
		{"empty", &message{}},
		{"empty filter is not no filter", &message{App: "a", Filter: []byte{}, Args: []string{"x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeMessage(tc.msg.encode())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.msg)
			}
		})
	}
	b := full.encode()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"nothing", nil},
		{"other magic", append([]byte("nook-plan-0\n"), b[len(wireMagic):]...)},
		{"json", []byte(`{"app":"x"}`)},
		{"truncated", b[:len(b)-1]},
		{"truncated in a string", b[:len(wireMagic)+5]},
		{"trailing byte", append(append([]byte{}, b...), 0)},
		{"huge count", append([]byte(wireMagic), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := decodeMessage(tc.in); !errors.Is(err, errWire) {
				t.Errorf("decodeMessage = %+v, %v; want errWire", m, err)
			}
		})
	}
}

func TestReportLines(t *testing.T) {
	zero, three := 0, 3
	for _, r := range []report{
		{PID: 2},
		{Exit: &zero},
		{Exit: &three},
		{Error: "command \"x\" not found\nin the sandbox", Code: 127},
	} {
		got, err := parseReport(r.line())
		if err != nil {
			t.Fatalf("parseReport(%q): %v", r.line(), err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("parseReport(%q) = %+v, want %+v", r.line(), got, r)
		}
	}
	for _, bad := range []string{"", "pid", "pid x\n", "exit\n", "error 1\n", "error x \"m\"\n", "error 1 unquoted\n", "{\"pid\":2}\n"} {
		if r, err := parseReport([]byte(bad)); err == nil {
			t.Errorf("parseReport(%q) = %+v, want an error", bad, r)
		}
	}
}
