package profiles

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// schema lists the keys of each table. Tables are named by their path with
// array indexes left out; env is free-form and not listed.
var schema = map[string][]string{
	"": {"name", "version", "description", "command", "image", "env",
		"display", "audio", "devices", "resources", "network", "filesystem",
		"security", "desktop"},
	"display":           {"x11", "wayland"},
	"audio":             {"pulse", "alsa"},
	"devices":           {"webcam", "gpu", "extra"},
	"resources":         {"memory", "memory_swap", "cpus", "cpuset", "cpu_weight", "io_weight", "pids"},
	"network":           {"mode", "ports"},
	"filesystem":        {"home", "root", "mounts"},
	"filesystem.mounts": {"source", "target", "mode"},
	"security":          {"seccomp", "allow_syscalls", "deny_syscalls", "nested_sandbox"},
	"desktop":           {"name", "icon", "categories", "mime_types"},
}

// decoder turns the generic tree toml decodes into a Profile, collecting
// the problems it finds on the way.
type decoder struct {
	source string
	doc    string         // the TOML document, for line numbers
	lines  map[string]int // keyLines(doc), made by the first fail
	errs   []*Error
}

// table is a TOML table being decoded.
type table struct {
	m    map[string]any
	path string // where it is, as in "filesystem.mounts[1]"
	kind string // which of schema it is, as in "filesystem.mounts"
}

func (t table) key(k string) string { return joinKey(t.path, k) }

func (t table) has(k string) bool {
	_, ok := t.m[k]
	return ok
}

// fail records that the value at path is wrong; msg says why.
func (d *decoder) fail(path, msg string) {
	if d.lines == nil {
		d.lines = keyLines(d.doc)
	}
	line := 0
	for p := path; ; {
		if l, ok := d.lines[p]; ok {
			line = l
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	d.errs = append(d.errs, &Error{Source: d.source, Line: line, Key: path, Msg: msg})
}

// check records err, if any, as the fault of the value v at path.
func (d *decoder) check(path string, v any, err error) bool {
	if err != nil {
		d.fail(path, fmt.Sprintf("%s = %s: %v", path, formatValue(v), err))
		return false
	}
	return true
}

// require records a missing key k of t.
func (d *decoder) require(t table, k, example string) {
	if t.has(k) {
		return
	}
	where := ""
	if t.path != "" {
		where = t.path + ": "
	}
	d.fail(t.path, fmt.Sprintf("%smissing key %q, as in %s = %s", where, k, k, example))
}

// wrongType records that the value v at path is not of the type want.
func (d *decoder) wrongType(path string, v any, want string) {
	d.fail(path, fmt.Sprintf("%s: must be %s, not %s", path, want, typeName(v)))
}

// get returns the value of type T of key k of t, if it is there and of
// that type; want names the type in the error if it is not.
func get[T any](d *decoder, t table, k, want string) (T, bool) {
	v, ok := t.m[k]
	if !ok {
		var zero T
		return zero, false
	}
	x, ok := v.(T)
	if !ok {
		d.wrongType(t.key(k), v, want)
	}
	return x, ok
}

// str sets *dst to the string at key k of t, after checking it has no NUL
// character and passes each of checks.
func (d *decoder) str(t table, k string, dst *string, checks ...func(string) error) bool {
	s, ok := get[string](d, t, k, "a string")
	if !ok || !d.checkStr(t.key(k), s, checks...) {
		return false
	}
	*dst = s
	return true
}

// checkStr checks the string s at path.
func (d *decoder) checkStr(path, s string, checks ...func(string) error) bool {
	if !d.check(path, s, noNUL(s)) {
		return false
	}
	for _, c := range checks {
		if !d.check(path, s, c(s)) {
			return false
		}
	}
	return true
}

// boolean sets *dst to the boolean at key k of t.
func (d *decoder) boolean(t table, k string, dst *bool) {
	if b, ok := get[bool](d, t, k, "true or false"); ok {
		*dst = b
	}
}

// strs sets *dst to the array of strings at key k of t, each checked
// like str does, or to nil if it is empty.
func (d *decoder) strs(t table, k string, dst *[]string, checks ...func(string) error) bool {
	a, ok := get[[]any](d, t, k, "an array of strings")
	if !ok {
		return false
	}
	var out []string
	for i, v := range a {
		path := index(t.key(k), i)
		s, ok := v.(string)
		if !ok {
			d.wrongType(path, v, "a string")
			return false
		}
		if !d.checkStr(path, s, checks...) {
			return false
		}
		out = append(out, s)
	}
	*dst = out
	return true
}

// table returns the table at key k of t, checking its keys against the
// schema. A missing or mistyped table decodes as empty.
func (d *decoder) table(t table, k string) table {
	sub := table{path: t.key(k), kind: joinKey(t.kind, k)}
	if m, ok := get[map[string]any](d, t, k, "a table"); ok {
		sub.m = m
	}
	d.known(sub)
	return sub
}

// known records each key of t that the schema does not list.
func (d *decoder) known(t table) {
	allowed := schema[t.kind]
	for _, k := range sortedKeys(t.m) {
		if slices.Contains(allowed, k) {
			continue
		}
		msg := fmt.Sprintf("unknown key %q", t.key(k))
		if s := suggest(t, k); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else {
			msg += "; allowed here: " + strings.Join(allowed, ", ")
		}
		d.fail(t.key(k), msg)
	}
}

// suggest returns the path of the key k was probably meant to be: a key of
// t's table spelled alike, or a key of that name in another table.
func suggest(t table, k string) string {
	best, bestDist := "", 2
	if len(k) <= 4 {
		bestDist = 1
	}
	for _, c := range schema[t.kind] {
		if dist := distance(strings.ToLower(k), c); dist <= bestDist {
			best, bestDist = t.key(c), dist
		}
	}
	if best != "" {
		return best
	}
	for _, kind := range sortedKeys(schema) {
		if kind != t.kind && kind != "filesystem.mounts" && slices.Contains(schema[kind], k) {
			return joinKey(kind, k)
		}
	}
	return ""
}

// distance is the number of edits (insert, delete, replace or swap two
// adjacent bytes) that turn a into b: their optimal string alignment
// distance.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// profile decodes the whole document.
func (d *decoder) profile(doc map[string]any) *Profile {
	p := &Profile{
		Image:      ImageHost,
		Display:    Display{X11: X11None},
		Network:    Network{Mode: NetworkNone},
		Filesystem: Filesystem{Home: Persistent, Root: Persistent},
		Security:   Security{Seccomp: SeccompDefault},
		Resources:  Resources{MemorySwap: -1},
	}
	t := table{m: doc}
	d.known(t)

	d.require(t, "name", `"firefox"`)
	d.str(t, "name", &p.Name, checkName)
	d.str(t, "version", &p.Version, checkName)
	d.str(t, "description", &p.Description, checkText)
	d.require(t, "command", `["/usr/bin/firefox"]`)
	if d.strs(t, "command", &p.Command) {
		if len(p.Command) == 0 {
			d.check(t.key("command"), []any{}, errors.New(`must name a program, as in ["/usr/bin/xclock"]`))
		} else {
			d.check(index("command", 0), p.Command[0], checkProgram(p.Command[0]))
		}
	}
	d.str(t, "image", &p.Image, checkImage)
	d.env(t, &p.Env)

	dt := d.table(t, "display")
	d.str(dt, "x11", &p.Display.X11, oneOf(X11None, X11Host, X11Nested))
	d.boolean(dt, "wayland", &p.Display.Wayland)

	at := d.table(t, "audio")
	d.boolean(at, "pulse", &p.Audio.Pulse)
	d.boolean(at, "alsa", &p.Audio.ALSA)

	vt := d.table(t, "devices")
	d.boolean(vt, "webcam", &p.Devices.Webcam)
	d.boolean(vt, "gpu", &p.Devices.GPU)
	d.strs(vt, "extra", &p.Devices.Extra, checkDevice)

	d.resources(d.table(t, "resources"), &p.Resources)

	nt := d.table(t, "network")
	d.str(nt, "mode", &p.Network.Mode, oneOf(NetworkNone, NetworkHost, NetworkBridge))
	if d.strs(nt, "ports", &p.Network.Ports, checkPort) && len(p.Network.Ports) > 0 && p.Network.Mode != NetworkBridge {
		d.fail(nt.key("ports"), fmt.Sprintf(`network.ports: allowed only with network.mode = "bridge", not %q`, p.Network.Mode))
	}

	ft := d.table(t, "filesystem")
	d.str(ft, "home", &p.Filesystem.Home, oneOf(Persistent, Ephemeral))
	d.str(ft, "root", &p.Filesystem.Root, oneOf(Persistent, Ephemeral))
	p.Filesystem.Mounts = d.mounts(ft)

	d.security(d.table(t, "security"), &p.Security)

	kt := d.table(t, "desktop")
	d.str(kt, "name", &p.Desktop.Name, checkText)
	d.str(kt, "icon", &p.Desktop.Icon, checkText, checkIcon)
	d.strs(kt, "categories", &p.Desktop.Categories, checkCategory)
	d.strs(kt, "mime_types", &p.Desktop.MimeTypes, checkMimeType)
	return p
}

// env decodes the env table: any keys that are variable names, string
// values.
func (d *decoder) env(t table, dst *map[string]string) {
	m, ok := get[map[string]any](d, t, "env", "a table of strings")
	if !ok {
		return
	}
	et := table{m: m, path: "env"}
	for _, k := range sortedKeys(m) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			d.fail(et.key(k), fmt.Sprintf(`env: %s is not a variable name: it must not be empty nor hold "=" or NUL`, quote(k)))
			continue
		}
		var v string
		if !d.str(et, k, &v) {
			continue
		}
		if *dst == nil {
			*dst = map[string]string{}
		}
		(*dst)[k] = v
	}
}

// resources decodes the resources table.
func (d *decoder) resources(t table, r *Resources) {
	if n, ok := d.size(t, "memory"); ok {
		if d.check(t.key("memory"), t.m["memory"], positive(n)) {
			r.Memory = n
		}
	}
	if n, ok := d.size(t, "memory_swap"); ok {
		r.MemorySwap = n
		if n != 0 && r.Memory != 0 && n < r.Memory {
			d.check(t.key("memory_swap"), t.m["memory_swap"], fmt.Errorf(
				`must be at least resources.memory (%s), as it counts memory plus swap; "0" means no swap`,
				formatValue(t.m["memory"])))
		}
	}
	if n, ok := d.number(t, "cpus"); ok && d.check(t.key("cpus"), t.m["cpus"], checkCPUs(n)) {
		r.CPUs = n
	}
	d.str(t, "cpuset", &r.CPUSet, checkCPUSet)
	d.weight(t, "cpu_weight", &r.CPUWeight)
	d.weight(t, "io_weight", &r.IOWeight)
	if n, ok := get[int64](d, t, "pids", "an integer"); ok {
		if d.check(t.key("pids"), n, positive(n)) {
			r.PIDs = n
		}
	}
}

// size returns the size at key k of t: a string such as "512M", or an
// integer number of bytes.
func (d *decoder) size(t table, k string) (int64, bool) {
	switch v := t.m[k].(type) {
	case nil:
		return 0, false
	case string:
		n, err := parseSize(v)
		return n, d.check(t.key(k), v, err)
	case int64:
		return v, d.check(t.key(k), v, nonNegative(v))
	default:
		d.wrongType(t.key(k), v, `a size such as "512M"`)
		return 0, false
	}
}

// number returns the number, integer or float, at key k of t.
func (d *decoder) number(t table, k string) (float64, bool) {
	switch v := t.m[k].(type) {
	case nil:
		return 0, false
	case int64:
		return float64(v), true
	case float64:
		return v, true
	default:
		d.wrongType(t.key(k), v, "a number")
		return 0, false
	}
}

// weight sets *dst to the weight at key k of t, from 1 to 10000.
func (d *decoder) weight(t table, k string, dst *uint64) {
	n, ok := get[int64](d, t, k, "an integer")
	if !ok {
		return
	}
	if n < 1 || n > 10000 {
		d.check(t.key(k), n, errors.New("must be from 1 to 10000"))
		return
	}
	*dst = uint64(n)
}

// mounts decodes filesystem.mounts, an array of tables.
func (d *decoder) mounts(ft table) []Mount {
	var elems []any
	switch v := ft.m["mounts"].(type) {
	case nil:
		return nil
	case []map[string]any: // [[filesystem.mounts]]
		for _, m := range v {
			elems = append(elems, m)
		}
	case []any: // mounts = [{...}]
		elems = v
	default:
		d.wrongType(ft.key("mounts"), v, "an array of tables")
		return nil
	}
	var out []Mount
	for i, e := range elems {
		path := index(ft.key("mounts"), i)
		m, ok := e.(map[string]any)
		if !ok {
			d.wrongType(path, e, "a table")
			continue
		}
		t := table{m: m, path: path, kind: "filesystem.mounts"}
		d.known(t)
		d.require(t, "source", `"~/Downloads"`)
		d.require(t, "target", `"~/Downloads"`)
		var mnt Mount
		d.str(t, "source", &mnt.Source, checkMountPath)
		d.str(t, "target", &mnt.Target, checkMountPath)
		mode := "ro"
		d.str(t, "mode", &mode, oneOf("ro", "rw"))
		mnt.ReadWrite = mode == "rw"
		out = append(out, mnt)
	}
	return out
}

// security decodes the security table.
func (d *decoder) security(t table, s *Security) {
	if d.str(t, "seccomp", &s.Seccomp, checkSeccomp) {
		if abs, err := d.seccompPath(s.Seccomp); d.check(t.key("seccomp"), s.Seccomp, err) {
			s.Seccomp = abs
		}
	}
	d.strs(t, "allow_syscalls", &s.AllowSyscalls, checkSyscall)
	d.strs(t, "deny_syscalls", &s.DenySyscalls, checkSyscall)
	for i, name := range s.DenySyscalls {
		if slices.Contains(s.AllowSyscalls, name) {
			d.check(index(t.key("deny_syscalls"), i), name,
				errors.New("also in security.allow_syscalls; a syscall may be in one list only"))
		}
	}
	d.boolean(t, "nested_sandbox", &s.NestedSandbox)
}

// seccompPath makes a relative seccomp profile path absolute, relative to
// the profile's directory.
func (d *decoder) seccompPath(s string) (string, error) {
	if s == SeccompDefault || s == SeccompUnconfined || filepath.IsAbs(s) {
		return s, nil
	}
	if strings.HasPrefix(d.source, builtinPrefix) {
		return "", errors.New("must be an absolute path in a built-in profile")
	}
	abs, err := filepath.Abs(filepath.Join(filepath.Dir(d.source), s))
	if err != nil {
		return "", fmt.Errorf("cannot make the path absolute: %w", err)
	}
	return abs, nil
}

// typeName names the TOML type of a value toml decoded.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date"
	}
}

// formatValue writes a value toml decoded as TOML, for messages.
func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return formatFloat(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		if len(v) == 0 {
			return "[]"
		}
		return "[...]"
	default:
		return fmt.Sprint(v)
	}
}
