package profiles

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Format writes p as a TOML profile that Parse reads back into the same
// Profile (Source aside). Every key is written, with its default if p
// leaves it so, except version when empty and the resources that are not
// set, which have no TOML value for "no limit". Env keys are sorted.
//
// Write profiles with Format, not with a TOML encoder: the struct tags of
// Profile do not describe the schema (sizes, mount modes).
func Format(p *Profile) []byte {
	var b bytes.Buffer
	kv := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, v) }
	section := func(name string) { fmt.Fprintf(&b, "\n[%s]\n", name) }

	kv("name", quote(p.Name))
	if p.Version != "" {
		kv("version", quote(p.Version))
	}
	kv("description", quote(p.Description))
	kv("command", quoteList(p.Command))
	kv("image", quote(p.Image))

	if len(p.Env) == 0 {
		kv("env", "{}")
	} else {
		section("env")
		for _, k := range sortedKeys(p.Env) {
			kv(quoteKey(k), quote(p.Env[k]))
		}
	}

	section("display")
	kv("x11", quote(p.Display.X11))
	kv("wayland", strconv.FormatBool(p.Display.Wayland))

	section("audio")
	kv("pulse", strconv.FormatBool(p.Audio.Pulse))
	kv("alsa", strconv.FormatBool(p.Audio.ALSA))

	section("devices")
	kv("webcam", strconv.FormatBool(p.Devices.Webcam))
	kv("gpu", strconv.FormatBool(p.Devices.GPU))
	kv("extra", quoteList(p.Devices.Extra))

	r := p.Resources
	section("resources")
	if r.Memory != 0 {
		kv("memory", quote(formatSize(r.Memory)))
	}
	if r.MemorySwap >= 0 {
		kv("memory_swap", quote(formatSize(r.MemorySwap)))
	}
	if r.CPUs != 0 {
		kv("cpus", formatFloat(r.CPUs))
	}
	if r.CPUSet != "" {
		kv("cpuset", quote(r.CPUSet))
	}
	if r.CPUWeight != 0 {
		kv("cpu_weight", strconv.FormatUint(r.CPUWeight, 10))
	}
	if r.IOWeight != 0 {
		kv("io_weight", strconv.FormatUint(r.IOWeight, 10))
	}
	if r.PIDs != 0 {
		kv("pids", strconv.FormatInt(r.PIDs, 10))
	}

	section("network")
	kv("mode", quote(p.Network.Mode))
	kv("ports", quoteList(p.Network.Ports))

	section("filesystem")
	kv("home", quote(p.Filesystem.Home))
	kv("root", quote(p.Filesystem.Root))
	if len(p.Filesystem.Mounts) == 0 {
		kv("mounts", "[]")
	}
	for _, m := range p.Filesystem.Mounts {
		b.WriteString("\n[[filesystem.mounts]]\n")
		kv("source", quote(m.Source))
		kv("target", quote(m.Target))
		mode := "ro"
		if m.ReadWrite {
			mode = "rw"
		}
		kv("mode", quote(mode))
	}

	section("security")
	kv("seccomp", quote(p.Security.Seccomp))
	kv("allow_syscalls", quoteList(p.Security.AllowSyscalls))
	kv("deny_syscalls", quoteList(p.Security.DenySyscalls))
	kv("nested_sandbox", strconv.FormatBool(p.Security.NestedSandbox))

	section("desktop")
	kv("name", quote(p.Desktop.Name))
	kv("icon", quote(p.Desktop.Icon))
	kv("categories", quoteList(p.Desktop.Categories))
	kv("mime_types", quoteList(p.Desktop.MimeTypes))
	return b.Bytes()
}

// quoteList writes a TOML array of strings.
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// formatSize writes n bytes in the largest unit that divides it, as in
// "512M".
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatFloat writes f as a TOML number without an exponent.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// quoteKey writes k as a TOML key: bare if it can be, else quoted.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBare(k[i]) {
			return quote(k)
		}
	}
	return k
}

// quote writes s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				b.WriteString(`\u00`)
				b.WriteByte("0123456789ABCDEF"[r>>4])
				b.WriteByte("0123456789ABCDEF"[r&15])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
