package sandbox

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"reflect"
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// initStageSource is embedded: the test binary runs where the source is
// not (scripts/test's unprivileged run, the VM tier).
//
//go:embed initstage.c
var initStageSource string

// The opcodes are defined twice, here and in initstage.c; this keeps the
// two lists in step.
func TestOpcodesMatchInitStage(t *testing.T) {
	src := []byte(initStageSource)
	body := regexp.MustCompile(`(?s)enum \{\s*OP_SOURCE = 1,(.*?)\};`).FindSubmatch(src)
	if body == nil {
		t.Fatal("no opcode enum starting with OP_SOURCE = 1 in initstage.c")
	}
	names := append([]string{"OP_SOURCE"}, regexp.MustCompile(`(?m)^\s*(OP_[A-Z_]+),`).FindAllString(string(body[1]), -1)...)
	for i := range names {
		names[i] = strings.TrimSuffix(strings.TrimSpace(names[i]), ",")
	}
	goNames := map[string]uint32{
		"OP_SOURCE": opSource, "OP_OVERLAY_DIR": opOverlayDir, "OP_SCRATCH": opScratch,
		"OP_ROOT_TMPFS": opRootTmpfs, "OP_OVERLAY": opOverlay, "OP_MOUNT": opMount, "OP_BIND": opBind,
		"OP_SYMLINK": opSymlink, "OP_FILE": opFile, "OP_SEAL_FILES": opSealFiles, "OP_BIND_FILE": opBindFile,
		"OP_READONLY": opReadonly, "OP_MASK": opMask, "OP_PIVOT": opPivot, "OP_ROOT_READONLY": opRootReadonly,
		"OP_HOSTNAME": opHostname, "OP_LOOPBACK": opLoopback, "OP_END": opEnd,
	}
	if len(names) != len(goNames) || int(opEnd) != len(names) {
		t.Fatalf("initstage.c has %d opcodes %v; program.go has %d (opEnd = %d)", len(names), names, len(goNames), opEnd)
	}
	for i, n := range names {
		v, ok := goNames[n]
		if !ok || v != uint32(i+1) {
			t.Errorf("initstage.c: %s = %d; program.go has %d (known: %v)", n, i+1, v, ok)
		}
	}
}

func TestLower(t *testing.T) {
	const ro = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	hostPlan := func() *Plan {
		return &Plan{
			App: "xclock",
			Spec: specs.Spec{
				Process:  &specs.Process{Args: []string{"xclock"}, Env: []string{"PATH=/usr/bin"}, Cwd: "/home/u"},
				Root:     &specs.Root{Readonly: true},
				Hostname: "xclock",
				Mounts: []specs.Mount{
					{Destination: "/usr", Type: "bind", Source: "/usr", Options: []string{"bind", "ro", "nosuid", "nodev"}},
					{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}},
					{Destination: "/dev/null", Type: "bind", Source: "/dev/null", Options: []string{"bind"}},
					{Destination: "/media", Type: "bind", Source: "/media", Options: []string{"rbind", "rw"}},
				},
				Linux: &specs.Linux{
					Namespaces:    []specs.LinuxNamespace{{Type: specs.CgroupNamespace}},
					ReadonlyPaths: []string{"/proc/sys"},
					MaskedPaths:   []string{"/proc/kcore"},
				},
			},
			Symlinks: []Symlink{{Path: "/bin", Target: "usr/bin"}},
			Files:    []File{{Path: "/etc/passwd", Mode: 0o644, Data: []byte("u:x:1000:1000::/home/u:/bin/sh\n")}, {Path: "/run/xauth", Mode: 0o600, Data: []byte{0, 1}}},
			Network:  Network{Mode: NetworkNone},
		}
	}
	wantHost := []instr{
		{opSource, []any{uint32(0), "/usr", "/usr"}},
		{opSource, []any{uint32(2), "/dev/null", "/dev/null"}},
		{opSource, []any{uint32(3), "/media", "/media"}},
		{opScratch, nil},
		{opRootTmpfs, nil},
		{opBind, []any{uint32(0), "/usr", "/usr", uint32(0), uint32(ro)}},
		{opMount, []any{"/proc", "proc", "proc", uint32(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC), ""}},
		{opBind, []any{uint32(2), "/dev/null", "/dev/null", uint32(0), uint32(0)}}, // no remount
		{opBind, []any{uint32(3), "/media", "/media", uint32(1), uint32(0)}},
		{opSymlink, []any{"/bin", "usr/bin"}},
		{opFile, []any{"/etc/passwd", uint32(0o644), []byte("u:x:1000:1000::/home/u:/bin/sh\n")}},
		{opFile, []any{"/run/xauth", uint32(0o600), []byte{0, 1}}},
		{opSealFiles, nil},
		{opBindFile, []any{uint32(0), "/etc/passwd"}},
		{opBindFile, []any{uint32(1), "/run/xauth"}},
		{opReadonly, []any{"/proc/sys"}},
		{opMask, []any{"/proc/kcore"}},
		{opPivot, nil},
		{opRootReadonly, nil},
		{opHostname, []any{"xclock"}},
		{opLoopback, nil},
		{opEnd, nil},
	}
	ops, app, err := lower(hostPlan(), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ops, wantHost) {
		t.Errorf("host plan:\n got %v\nwant %v", ops, wantHost)
	}
	if !app.cgroupNS || app.cwd != "/home/u" || len(app.filter) != 8 || app.args[0] != "xclock" {
		t.Errorf("app = %+v", app)
	}

	image := hostPlan()
	image.Spec.Mounts = append([]specs.Mount{{Destination: "/", Type: "overlay", Source: "overlay",
		Options: []string{"lowerdir=/s/top:/s/base", "upperdir=/r/upper", "workdir=/r/work", "nosuid", "userxattr"}}}, image.Spec.Mounts[1:]...)
	image.Network.Mode = NetworkHost
	image.Spec.Root.Readonly = false
	ops, _, err = lower(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantImage := []instr{
		{opSource, []any{uint32(2), "/dev/null", "/dev/null"}},
		{opSource, []any{uint32(3), "/media", "/media"}},
		{opOverlayDir, []any{overlayLower, "/s/top"}},
		{opOverlayDir, []any{overlayLower, "/s/base"}},
		{opOverlayDir, []any{overlayUpper, "/r/upper"}},
		{opOverlayDir, []any{overlayWork, "/r/work"}},
		{opScratch, nil},
		// The top-level directories that hold mount points or files.
		{opOverlay, []any{uint32(unix.MS_NOSUID), "userxattr", uint32(3), "dev", "etc", "run"}},
	}
	if !reflect.DeepEqual(ops[:len(wantImage)], wantImage) {
		t.Errorf("image plan:\n got %v\nwant %v", ops[:len(wantImage)], wantImage)
	}
	for _, o := range ops {
		if o.code == opRootTmpfs || o.code == opLoopback || o.code == opRootReadonly {
			t.Errorf("image plan on the host network has op %d", o.code)
		}
	}

	for _, tc := range []struct {
		name string
		edit func(*Plan)
		want string
	}{
		{"no command", func(p *Plan) { p.Spec.Process.Args = nil }, "no command"},
		{"overlay not first", func(p *Plan) {
			p.Spec.Mounts = append(p.Spec.Mounts, specs.Mount{Destination: "/", Type: "overlay", Options: []string{"lowerdir=/a"}})
		}, "first mount"},
		{"no lowerdir", func(p *Plan) {
			p.Spec.Mounts[0] = specs.Mount{Destination: "/", Type: "overlay", Options: []string{"upperdir=/u", "workdir=/w"}}
		}, "no lowerdir"},
		{"upper without work", func(p *Plan) {
			p.Spec.Mounts[0] = specs.Mount{Destination: "/", Type: "overlay", Options: []string{"lowerdir=/a", "upperdir=/u"}}
		}, "both upperdir and workdir"},
		{"too many mounts", func(p *Plan) {
			for len(p.Spec.Mounts) <= maxMounts {
				p.Spec.Mounts = append(p.Spec.Mounts, p.Spec.Mounts[1])
			}
		}, "at most 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := hostPlan()
			tc.edit(p)
			if _, _, err := lower(p, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("lower = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// The encoding initstage.c reads: magic, name, each op's code and
// arguments (uint32 little-endian; strings as length, bytes, NUL), then
// the app.
func TestEncodeProgram(t *testing.T) {
	got, appAt, err := encodeProgram("a", []instr{{opHostname, []any{"h"}}, {opFile, []any{"/f", []byte{0}}}, {opEnd, nil}},
		appStart{cgroupNS: true, placed: true, args: []string{"/x"}, env: nil, cwd: "/", filter: nil})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	u32 := func(v uint32) { binary.Write(&want, binary.LittleEndian, v) }
	str := func(s string) { u32(uint32(len(s))); want.WriteString(s); want.WriteByte(0) }
	want.WriteString(programMagic)
	str("a")
	u32(opHostname)
	str("h")
	u32(opFile)
	str("/f")
	str("\x00") // data may hold NULs
	u32(opEnd)
	u32(1) // cgroupNS
	u32(1) // placed
	wantAppAt := want.Len()
	u32(1)
	str("/x")
	u32(0)
	str("/")
	u32(0)
	str("")
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("encodeProgram:\n got %q\nwant %q", got, want.Bytes())
	}
	if appAt != wantAppAt {
		t.Errorf("app section at %d, want %d (after the placed flag)", appAt, wantAppAt)
	}
	// A NUL in a string C reads as a C string is refused.
	for _, bad := range [][]instr{{{opHostname, []any{"h\x00x"}}}, {{opMount, []any{"/a", "tmpfs", "tmpfs", uint32(0), "mode=7\x0055"}}}} {
		if _, _, err := encodeProgram("a", bad, appStart{args: []string{"/x"}}); err == nil || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("encodeProgram(%v) = %v, want an error about a NUL byte", bad, err)
		}
	}
	if _, _, err := encodeProgram("a", nil, appStart{args: []string{"/x\x00"}}); err == nil {
		t.Error("encodeProgram with a NUL in an argument succeeded")
	}
}

// Init's error lines quote with \xNN for control bytes and pass UTF-8
// through (initstage.c, fail); the launcher must read them back.
func TestReportLines(t *testing.T) {
	zero, three := 0, 3
	for _, tc := range []struct {
		line string
		want report
	}{
		{"pid 2\n", report{PID: 2}},
		{"exit 0\n", report{Exit: &zero}},
		{"exit 3", report{Exit: &three}},
		{`error 127 "command \"x\" not found\x0ain the sandbox"` + "\n", report{Error: "command \"x\" not found\nin the sandbox", Code: 127}},
		{`error 125 "setting up sandbox for café: mounting tmpfs on /tmp: no space left on device"`, report{Error: "setting up sandbox for café: mounting tmpfs on /tmp: no space left on device", Code: 125}},
		{`error 125 "path \\ with backslash"`, report{Error: `path \ with backslash`, Code: 125}},
	} {
		got, err := parseReport([]byte(tc.line))
		if err != nil {
			t.Errorf("parseReport(%q): %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseReport(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
	for _, bad := range []string{"", "pid", "pid x\n", "exit\n", "error 1\n", "error x \"m\"\n", "error 1 unquoted\n", "{\"pid\":2}\n"} {
		if r, err := parseReport([]byte(bad)); err == nil {
			t.Errorf("parseReport(%q) = %+v, want an error", bad, r)
		}
	}
}
