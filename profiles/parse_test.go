package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const full = `
name = "firefox"
version = "esr"
description = "Web browser"
command = ["/usr/lib/firefox-esr/firefox-esr", "--new-instance"]
image = "debian:bookworm"
env = { MOZ_ENABLE_WAYLAND = "0", "ODD KEY" = "x" }

[display]
x11 = "nested"
wayland = true

[audio]
pulse = true
alsa = true

[devices]
webcam = true
gpu = true
extra = ["/dev/ttyUSB0"]

[resources]
memory = "2G"
memory_swap = "3G"
cpus = 1.5
cpuset = "0-1,3"
cpu_weight = 1024
io_weight = 200
pids = 512

[network]
mode = "bridge"
ports = ["8080:80/tcp", "5353:53/udp", "2222:22"]

[filesystem]
home = "ephemeral"
root = "ephemeral"

[[filesystem.mounts]]
source = "~/Downloads"
target = "~/Downloads"
mode = "rw"

[[filesystem.mounts]]
source = "/srv/data"
target = "/data"

[security]
seccomp = "/etc/nook/seccomp.json"
allow_syscalls = ["ptrace"]
deny_syscalls = ["personality", "io_uring_setup"]
nested_sandbox = true

[desktop]
name = "Firefox ESR"
icon = "firefox-esr"
categories = ["Network", "WebBrowser"]
mime_types = ["text/html", "x-scheme-handler/https"]
`

var fullProfile = &Profile{
	Name:        "firefox",
	Version:     "esr",
	Description: "Web browser",
	Command:     []string{"/usr/lib/firefox-esr/firefox-esr", "--new-instance"},
	Image:       "debian:bookworm",
	Env:         map[string]string{"MOZ_ENABLE_WAYLAND": "0", "ODD KEY": "x"},
	Display:     Display{X11: X11Nested, Wayland: true},
	Audio:       Audio{Pulse: true, ALSA: true},
	Devices:     Devices{Webcam: true, GPU: true, Extra: []string{"/dev/ttyUSB0"}},
	Resources: Resources{
		Memory:     2 << 30,
		MemorySwap: 3 << 30,
		CPUs:       1.5,
		CPUSet:     "0-1,3",
		CPUWeight:  1024,
		IOWeight:   200,
		PIDs:       512,
	},
	Network: Network{Mode: NetworkBridge, Ports: []string{"8080:80/tcp", "5353:53/udp", "2222:22"}},
	Filesystem: Filesystem{
		Home: Ephemeral,
		Root: Ephemeral,
		Mounts: []Mount{
			{Source: "~/Downloads", Target: "~/Downloads", ReadWrite: true},
			{Source: "/srv/data", Target: "/data"},
		},
	},
	Security: Security{
		Seccomp:       "/etc/nook/seccomp.json",
		AllowSyscalls: []string{"ptrace"},
		DenySyscalls:  []string{"personality", "io_uring_setup"},
		NestedSandbox: true,
	},
	Desktop: Desktop{
		Name:       "Firefox ESR",
		Icon:       "firefox-esr",
		Categories: []string{"Network", "WebBrowser"},
		MimeTypes:  []string{"text/html", "x-scheme-handler/https"},
	},
	Source: "/p/firefox@esr.toml",
}

func TestParseEveryKey(t *testing.T) {
	p, err := Parse("/p/firefox@esr.toml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, fullProfile) {
		t.Errorf("Parse:\n got %+v\nwant %+v", p, fullProfile)
	}
	if p.ID() != "firefox@esr" {
		t.Errorf("ID() = %q, want firefox@esr", p.ID())
	}
}

func TestParseDefaults(t *testing.T) {
	p, err := Parse("min.toml", []byte(`name = "min"`+"\n"+`command = ["app"]`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Profile{
		Name:       "min",
		Command:    []string{"app"},
		Image:      ImageHost,
		Display:    Display{X11: X11None},
		Network:    Network{Mode: NetworkNone},
		Filesystem: Filesystem{Home: Persistent, Root: Persistent},
		Security:   Security{Seccomp: SeccompDefault},
		Resources:  Resources{MemorySwap: -1},
		Source:     "min.toml",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", p, want)
	}
}

// TestParseValues covers values whose parsing is more than copying.
func TestParseValues(t *testing.T) {
	for _, tt := range []struct {
		toml  string
		check func(*Profile) any
		want  any
	}{
		{`[resources]` + "\n" + `cpus = 2`, func(p *Profile) any { return p.Resources.CPUs }, 2.0},
		{`[resources]` + "\n" + `memory = "512M"`, func(p *Profile) any { return p.Resources.Memory }, int64(512 << 20)},
		{`[resources]` + "\n" + `memory = "1.5G"`, func(p *Profile) any { return p.Resources.Memory }, int64(3 << 29)},
		{`[resources]` + "\n" + `memory = 4096`, func(p *Profile) any { return p.Resources.Memory }, int64(4096)},
		{`[resources]` + "\n" + `memory_swap = "0"`, func(p *Profile) any { return p.Resources.MemorySwap }, int64(0)},
		{`[resources]` + "\n" + `memory = "1G"` + "\n" + `memory_swap = "1G"`, func(p *Profile) any { return p.Resources.MemorySwap }, int64(1 << 30)},
		{`[resources]` + "\n" + `cpuset = "7"`, func(p *Profile) any { return p.Resources.CPUSet }, "7"},
		{`[[filesystem.mounts]]` + "\n" + `source = "~"` + "\n" + `target = "/host-home"`, func(p *Profile) any { return p.Filesystem.Mounts }, []Mount{{Source: "~", Target: "/host-home"}}},
		{`[filesystem]` + "\n" + `mounts = [{ source = "/a", target = "/b", mode = "rw" }]`, func(p *Profile) any { return p.Filesystem.Mounts }, []Mount{{Source: "/a", Target: "/b", ReadWrite: true}}},
		{`[security]` + "\n" + `seccomp = "unconfined"`, func(p *Profile) any { return p.Security.Seccomp }, SeccompUnconfined},
		{`[security]` + "\n" + `seccomp = "policy/strict.json"`, func(p *Profile) any { return p.Security.Seccomp }, "/etc/nook/profiles/policy/strict.json"},
		{`[network]` + "\n" + `mode = "host"` + "\n" + `ports = []`, func(p *Profile) any { return p.Network }, Network{Mode: NetworkHost}},
		{`env = {}`, func(p *Profile) any { return p.Env }, map[string]string(nil)},
	} {
		doc := "name = \"app\"\ncommand = [\"app\"]\n" + tt.toml
		p, err := Parse("/etc/nook/profiles/app.toml", []byte(doc))
		if err != nil {
			t.Errorf("%s: %v", tt.toml, err)
			continue
		}
		if got := tt.check(p); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.toml, got, tt.want)
		}
	}
}

func TestParseRelativeSeccomp(t *testing.T) {
	doc := "name = \"app\"\ncommand = [\"app\"]\n[security]\nseccomp = \"s.json\"\n"
	p, err := Parse("app.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs("s.json")
	if p.Security.Seccomp != want {
		t.Errorf("seccomp = %q, want %q", p.Security.Seccomp, want)
	}

	_, err = Parse("builtin:app.toml", []byte(doc))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "builtin:app.toml:4: security.seccomp") {
		t.Errorf("relative seccomp in a builtin: err = %v", err)
	}
}

// TestParseErrors checks that each bad input is refused with one line
// naming the file, the line and the key.
func TestParseErrors(t *testing.T) {
	const head = "name = \"app\"\ncommand = [\"app\"]\n" // lines 1-2
	for _, tt := range []struct {
		doc  string
		want string // the whole error is "f.toml:" + want
	}{
		// TOML itself
		{"name = \"app\"\nname = \"b\"\n", `2: not valid TOML: Key 'name' has already been defined`},
		{"name = \"app\ncommand = []", `1: not valid TOML: `},
		{head + "[display\n", `4: not valid TOML: expected '.' or ']'`},

		// unknown keys
		{head + "comand = [\"x\"]\n", `3: unknown key "comand"; did you mean "command"?`},
		{head + "x11 = \"host\"\n", `3: unknown key "x11"; did you mean "display.x11"?`},
		{head + "[display]\nx1 = \"host\"\n", `4: unknown key "display.x1"; did you mean "display.x11"?`},
		{head + "[display]\nzzz = 1\n", `4: unknown key "display.zzz"; allowed here: x11, wayland`},
		{head + "[displya]\nx11 = \"host\"\n", `3: unknown key "displya"; did you mean "display"?`},
		{head + "[[filesystem.mounts]]\nsource = \"/a\"\ntarget = \"/b\"\n[[filesystem.mounts]]\nsource = \"/a\"\ntarget = \"/b\"\nmdoe = \"rw\"\n", `9: unknown key "filesystem.mounts[1].mdoe"; did you mean "filesystem.mounts[1].mode"?`},
		{head + "[security]\nNested_Sandbox = true\n", `4: unknown key "security.Nested_Sandbox"; did you mean "security.nested_sandbox"?`},

		// missing keys
		{"command = [\"app\"]\n", `missing key "name", as in name = "firefox"`},
		{"name = \"app\"\n", `missing key "command", as in command = ["/usr/bin/firefox"]`},
		{head + "[[filesystem.mounts]]\ntarget = \"/b\"\n", `3: filesystem.mounts[0]: missing key "source", as in source = "~/Downloads"`},

		// wrong types
		{"name = 5\ncommand = [\"app\"]\n", `1: name: must be a string, not an integer`},
		{"name = \"app\"\ncommand = \"app\"\n", `2: command: must be an array of strings, not a string`},
		{"name = \"app\"\ncommand = [\n  \"app\",\n  2,\n]\n", `4: command[1]: must be a string, not an integer`},
		{head + "display = \"host\"\n", `3: display: must be a table, not a string`},
		{head + "[display]\nwayland = \"yes\"\n", `4: display.wayland: must be true or false, not a string`},
		{head + "[resources]\ncpus = \"2\"\n", `4: resources.cpus: must be a number, not a string`},
		{head + "[resources]\npids = 1.5\n", `4: resources.pids: must be an integer, not a float`},
		{head + "[resources]\nmemory = true\n", `4: resources.memory: must be a size such as "512M", not a boolean`},
		{head + "[filesystem]\nmounts = \"/a\"\n", `4: filesystem.mounts: must be an array of tables, not a string`},
		{head + "[filesystem]\nmounts = [\"/a\"]\n", `4: filesystem.mounts[0]: must be a table, not a string`},
		{head + "env = { A = 1 }\n", `3: env.A: must be a string, not an integer`},
		{head + "env = [\"A=1\"]\n", `3: env: must be a table of strings, not an array`},
		{head + "[desktop]\ncategories = \"Network\"\n", `4: desktop.categories: must be an array of strings, not a string`},

		// top-level values
		{"name = \"Firefox\"\ncommand = [\"app\"]\n", `1: name = "Firefox": must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`},
		{"name = \"../x\"\ncommand = [\"app\"]\n", `1: name = "../x": must be lowercase`},
		{"name = \"\"\ncommand = [\"app\"]\n", `1: name = "": must be lowercase`},
		{head + "version = \"ESR 1\"\n", `3: version = "ESR 1": must be lowercase`},
		{head + "description = \"a\\nb\"\n", `3: description = "a\nb": must not contain control characters`},
		{"name = \"app\"\ncommand = []\n", `2: command = []: must name a program`},
		{"name = \"app\"\ncommand = [\"bin/app\"]\n", `2: command[0] = "bin/app": must be an absolute path or a program name without "/"`},
		{"name = \"app\"\ncommand = [\"\"]\n", `2: command[0] = "": must not be empty`},
		{"name = \"app\"\ncommand = [\"/bin/app\", \"a\\u0000b\"]\n", `2: command[1] = "a\u0000b": must not contain a NUL character`},
		{head + "image = \"\"\n", `3: image = "": must not be empty; use "host" or an image reference`},
		{head + "[env]\n\"A=B\" = \"1\"\n", `4: env: "A=B" is not a variable name`},
		{head + "[env]\n\"\" = \"1\"\n", `4: env: "" is not a variable name`},

		// display, devices
		{head + "\n\n\n[display]\nx11 = \"foo\"\n", `7: display.x11 = "foo": must be "none", "host" or "nested"`},
		{head + "[devices]\nextra = [\"/dev/ok\", \"/tmp/x\"]\n", `4: devices.extra[1] = "/tmp/x": must be a clean absolute path under /dev`},
		{head + "[devices]\nextra = [\"/dev/../etc/passwd\"]\n", `4: devices.extra[0] = "/dev/../etc/passwd": must be a clean absolute path under /dev`},
		{head + "[devices]\nextra = [\"/dev\"]\n", `4: devices.extra[0] = "/dev": must be a clean absolute path under /dev`},

		// resources
		{head + "[resources]\nmemory = \"2X\"\n", `4: resources.memory = "2X": not a size; use a number with K, M, G or T, as in "512M"`},
		{head + "[resources]\nmemory = \"-1G\"\n", `4: resources.memory = "-1G": not a size`},
		{head + "[resources]\nmemory = \"0\"\n", `4: resources.memory = "0": must be more than 0`},
		{head + "[resources]\nmemory = -5\n", `4: resources.memory = -5: must not be negative`},
		{head + "[resources]\nmemory = \"99999999T\"\n", `4: resources.memory = "99999999T": too large`},
		{head + "[resources]\nmemory = \"2G\"\nmemory_swap = \"1G\"\n", `5: resources.memory_swap = "1G": must be at least resources.memory ("2G")`},
		{head + "[resources]\ncpus = 0\n", `4: resources.cpus = 0: must be more than 0 and at most 1024`},
		{head + "[resources]\ncpus = -1.5\n", `4: resources.cpus = -1.5: must be more than 0`},
		{head + "[resources]\ncpus = 2000\n", `4: resources.cpus = 2000: must be more than 0 and at most 1024`},
		{head + "[resources]\ncpus = nan\n", `4: resources.cpus = NaN: must be more than 0`},
		{head + "[resources]\ncpuset = \"3-1\"\n", `4: resources.cpuset = "3-1": must be CPU numbers and ascending ranges`},
		{head + "[resources]\ncpuset = \"0,,1\"\n", `4: resources.cpuset = "0,,1": must be CPU numbers`},
		{head + "[resources]\ncpuset = \"\"\n", `4: resources.cpuset = "": must be CPU numbers`},
		{head + "[resources]\ncpu_weight = 0\n", `4: resources.cpu_weight = 0: must be from 1 to 10000`},
		{head + "[resources]\nio_weight = 10001\n", `4: resources.io_weight = 10001: must be from 1 to 10000`},
		{head + "[resources]\npids = 0\n", `4: resources.pids = 0: must be more than 0`},

		// network
		{head + "[network]\nmode = \"nat\"\n", `4: network.mode = "nat": must be "none", "host" or "bridge"`},
		{head + "[network]\nmode = \"bridge\"\nports = [\"80\"]\n", `5: network.ports[0] = "80": must be "HOST:CONTAINER"`},
		{head + "[network]\nmode = \"bridge\"\nports = [\"0:80\"]\n", `5: network.ports[0] = "0:80": must be "HOST:CONTAINER"`},
		{head + "[network]\nmode = \"bridge\"\nports = [\"80:65536\"]\n", `5: network.ports[0] = "80:65536": must be "HOST:CONTAINER"`},
		{head + "[network]\nmode = \"bridge\"\nports = [\"80:80/sctp\"]\n", `5: network.ports[0] = "80:80/sctp": must be "HOST:CONTAINER"`},
		{head + "[network]\nports = [\"8080:80\"]\n", `4: network.ports: allowed only with network.mode = "bridge", not "none"`},

		// filesystem
		{head + "[filesystem]\nhome = \"tmp\"\n", `4: filesystem.home = "tmp": must be "persistent" or "ephemeral"`},
		{head + "[filesystem]\nroot = \"\"\n", `4: filesystem.root = "": must be "persistent" or "ephemeral"`},
		{head + "[[filesystem.mounts]]\nsource = \"Downloads\"\ntarget = \"/d\"\n", `4: filesystem.mounts[0].source = "Downloads": must be an absolute path or start with "~/"`},
		{head + "[[filesystem.mounts]]\nsource = \"~/../etc\"\ntarget = \"/d\"\n", `4: filesystem.mounts[0].source = "~/../etc": must not contain ".."`},
		{head + "[[filesystem.mounts]]\nsource = \"/a\"\ntarget = \"/d/\"\n", `5: filesystem.mounts[0].target = "/d/": must be a clean path, as in "/d"`},
		{head + "[[filesystem.mounts]]\nsource = \"~/\"\ntarget = \"/d\"\n", `4: filesystem.mounts[0].source = "~/": must be a clean path, as in "~"`},
		{head + "[[filesystem.mounts]]\nsource = \"~/a//b\"\ntarget = \"/d\"\n", `4: filesystem.mounts[0].source = "~/a//b": must be a clean path, as in "~/a/b"`},
		{head + "[[filesystem.mounts]]\nsource = \"~user/a\"\ntarget = \"/d\"\n", `4: filesystem.mounts[0].source = "~user/a": must be an absolute path or start with "~/"`},
		{head + "[[filesystem.mounts]]\nsource = \"/a\"\ntarget = \"/d\"\nmode = \"wr\"\n", `6: filesystem.mounts[0].mode = "wr": must be "ro" or "rw"`},

		// security
		{head + "[security]\nseccomp = \"strict\"\n", `4: security.seccomp = "strict": must be "default", "unconfined" or the path of a JSON seccomp profile`},
		{head + "[security]\nseccomp = \"~/s.json\"\n", `4: security.seccomp = "~/s.json": must not start with "~"`},
		{head + "[security]\nallow_syscalls = [\"ptrace\", \"Mount\"]\n", `4: security.allow_syscalls[1] = "Mount": must be a syscall name`},
		{head + "[security]\nallow_syscalls = [\"ptrace\"]\ndeny_syscalls = [\"mount\", \"ptrace\"]\n", `5: security.deny_syscalls[1] = "ptrace": also in security.allow_syscalls`},
		{head + "[security]\nnested_sandbox = \"yes\"\n", `4: security.nested_sandbox: must be true or false, not a string`},

		// desktop
		{head + "[desktop]\nname = \"A\\nExec=/bin/evil\"\n", `4: desktop.name = "A\nExec=/bin/evil": must not contain control characters`},
		{head + "[desktop]\nicon = \"icons/a.png\"\n", `4: desktop.icon = "icons/a.png": must be an icon name or an absolute path`},
		{head + "[desktop]\ncategories = [\"Net;Exec\"]\n", `4: desktop.categories[0] = "Net;Exec": must be a menu category`},
		{head + "[desktop]\nmime_types = [\"html\"]\n", `4: desktop.mime_types[0] = "html": must be a MIME type`},

		// the first error in the file wins
		{"name = \"App\"\ncommand = [\"app\"]\n[display]\nx11 = \"foo\"\n", `1: name = "App"`},
		{"[display]\nx11 = \"foo\"\n", `2: display.x11 = "foo"`},
	} {
		_, err := Parse("f.toml", []byte(tt.doc))
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.doc, tt.want)
			continue
		}
		want := "f.toml:" + tt.want
		if !strings.Contains(tt.want, ":") || strings.HasPrefix(tt.want, "missing") {
			want = "f.toml: " + tt.want
		}
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q):\n got %s\nwant %s...", tt.doc, err, want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error has more than one line: %q", tt.doc, err)
		}
		var pe *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &pe) {
			t.Errorf("Parse(%q): error %v is not an *Error wrapping ErrInvalid", tt.doc, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64 // -1: error
	}{
		{"0", 0},
		{"1", 1},
		{"1048576", 1 << 20},
		{"100B", 100},
		{"512K", 512 << 10},
		{"512k", 512 << 10},
		{"512KB", 512 << 10},
		{"512KiB", 512 << 10},
		{"512M", 512 << 20},
		{"512MiB", 512 << 20},
		{"2G", 2 << 30},
		{"2gb", 2 << 30},
		{"1.5G", 3 << 29},
		{"1.5GiB", 3 << 29},
		{"0.5K", 512},
		{"1.0001K", 1024}, // a fraction of a byte is dropped
		{"1T", 1 << 40},
		{"8191T", 8191 << 40},
		{"8388607T", 8388607 << 40},
		{"8388608T", -1}, // overflows int64
		{"", -1},
		{"G", -1},
		{".5G", -1},
		{"1.G", -1},
		{"1.2.3G", -1},
		{"-1", -1},
		{"+1", -1},
		{"1 G", -1},
		{"1X", -1},
		{"1P", -1},
		{"1e3", -1},
		{"0x10", -1},
	} {
		got, err := parseSize(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("parseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestKeyLines(t *testing.T) {
	doc := "\uFEFF# comment [not.a.table]\n" + // 1
		`name = "a # = [x]" # c` + "\n" + // 2
		`command = [` + "\n" + // 3
		`  "/bin/a", # one` + "\n" + // 4
		`  '''multi` + "\n" + // 5
		`line''', """x""""` + "\n" + // 6
		`]` + "\n" + // 7
		`env = { A = "1", "B.C" = 'x' }` + "\n" + // 8
		`[ display ]` + "\n" + // 9
		`x11 = "host"` + "\n" + // 10
		`[[filesystem.mounts]]` + "\n" + // 11
		`source = """a` + "\n" + // 12
		`\"""` + "\n" + // 13
		`b"""` + "\n" + // 14
		`[[filesystem.mounts]]` + "\n" + // 15
		`source = "/b"` + "\n" + // 16
		`resources.memory = 2024-01-02 10:00:00` + "\n" // 17
	want := map[string]int{
		"name":                                  2,
		"command":                               3,
		"command[0]":                            4,
		"command[1]":                            5,
		"command[2]":                            6,
		"env":                                   8,
		"env.A":                                 8,
		`env."B.C"`:                             8,
		"display":                               9,
		"display.x11":                           10,
		"filesystem":                            11,
		"filesystem.mounts":                     11,
		"filesystem.mounts[0]":                  11,
		"filesystem.mounts[0].source":           12,
		"filesystem.mounts[1]":                  15,
		"filesystem.mounts[1].source":           16,
		"filesystem.mounts[1].resources":        17,
		"filesystem.mounts[1].resources.memory": 17,
	}
	got := keyLines(doc)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keyLines:\n got %v\nwant %v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	minimal := "name = \"m\"\ncommand = [\"m\"]\n"
	odd := minimal + "description = \"quote\\\" back\\\\ é\"\n[env]\n\"x y\" = \"tab\\t del\\u007f\"\n[resources]\nmemory = 1000\nmemory_swap = \"0\"\ncpus = 0.25\n"
	for _, doc := range []string{full, minimal, odd} {
		p, err := Parse("/p/a.toml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		out := Format(p)
		q, err := Parse("/p/a.toml", out)
		if err != nil {
			t.Fatalf("Parse(Format(p)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("round trip:\n got %+v\nwant %+v\n%s", q, p, out)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1: "1", 1000: "1000", 1024: "1K", 1536: "1536",
		3 << 29: "1536M", 2 << 30: "2G", 1 << 40: "1T", 5 << 41: "10T",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, refuses with one line wrapping
// ErrInvalid, and that what it accepts survives Format.
func FuzzParse(f *testing.F) {
	f.Add(full)
	f.Add("name = \"a\"\ncommand = [\"a\"]\n[resources]\nmemory = \"1.5G\"\ncpus = 2\n")
	f.Add("name = \"a\"\ncommand = [\"a\"]\nenv = { \"A B\" = \"\\u0001\" }\n")
	f.Add("x = \"\\\n\"")
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := Parse("/p/f.toml", []byte(doc))
		if err != nil {
			if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Parse(%q): bad error %q", doc, err)
			}
			return
		}
		q, err := Parse("/p/f.toml", Format(p))
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Errorf("Parse(%q): round trip: %v\n%s", doc, err, Format(p))
		}
	})
}

// TestDocExamples parses each whole profile in docs/profile.md.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/profile.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(doc), "```toml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.HasPrefix(block, "name = ") {
			continue // a fragment
		}
		n++
		if _, err := Parse("profile.md", []byte(block)); err != nil {
			t.Errorf("%v\n%s", err, block)
		}
	}
	if n < 2 {
		t.Errorf("found %d examples in docs/profile.md, want at least 2", n)
	}
}
