package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The launcher and the init stage talk in a small binary format, not JSON:
// encoding/json builds its reflection codecs in every process that uses
// it, which cost each launch about 2 ms of CPU (perf, on a loaded 2-core
// machine). A message is wireMagic followed by its fields in the order of
// the message struct: strings and byte slices as a uvarint length and the
// bytes, lists as a uvarint count and the items, bools as one byte.

// wireMagic starts every message and names the format's version; init
// refuses a message without it.
const wireMagic = "nook-plan-1\n"

// errWire says a message is truncated or malformed.
var errWire = errors.New("malformed plan message")

// encode returns m in the wire format.
func (m *message) encode() []byte {
	b := []byte(wireMagic)
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	strs := func(l []string) {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			str(s)
		}
	}
	flag := func(v bool) {
		if v {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	ids := func(l []specs.LinuxIDMapping) {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, e := range l {
			b = binary.AppendUvarint(b, uint64(e.ContainerID))
			b = binary.AppendUvarint(b, uint64(e.HostID))
			b = binary.AppendUvarint(b, uint64(e.Size))
		}
	}
	str(m.App)
	b = binary.AppendUvarint(b, uint64(len(m.Mounts)))
	for _, mt := range m.Mounts {
		str(mt.Destination)
		str(mt.Type)
		str(mt.Source)
		strs(mt.Options)
		ids(mt.UIDMappings)
		ids(mt.GIDMappings)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Symlinks)))
	for _, s := range m.Symlinks {
		str(s.Path)
		str(s.Target)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Files)))
	for _, f := range m.Files {
		str(f.Path)
		b = binary.AppendUvarint(b, uint64(f.Mode))
		str(string(f.Data))
		flag(f.Secret)
	}
	strs(m.ReadonlyPaths)
	strs(m.MaskedPaths)
	flag(m.RootReadonly)
	str(m.Hostname)
	str(m.Network)
	strs(m.Args)
	strs(m.Env)
	str(m.Cwd)
	flag(m.Filter != nil)
	str(string(m.Filter))
	flag(m.CgroupNS)
	return b
}

// wireReader decodes the wire format; the first error sticks.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errWire
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length or count, which cannot exceed what is left.
func (r *wireReader) count() int {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.err = errWire
		return 0
	}
	return int(n)
}

func (r *wireReader) bytes() []byte {
	n := r.count()
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *wireReader) str() string { return string(r.bytes()) }

func (r *wireReader) strs() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	l := make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		l = append(l, r.str())
	}
	return l
}

func (r *wireReader) flag() bool {
	if r.err != nil || len(r.b) == 0 || r.b[0] > 1 {
		r.err = errWire
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *wireReader) u32() uint32 {
	v := r.uint()
	if v > 1<<32-1 {
		r.err = errWire
	}
	return uint32(v)
}

func (r *wireReader) ids() []specs.LinuxIDMapping {
	n := r.count()
	if n == 0 {
		return nil
	}
	l := make([]specs.LinuxIDMapping, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		l = append(l, specs.LinuxIDMapping{ContainerID: r.u32(), HostID: r.u32(), Size: r.u32()})
	}
	return l
}

// decodeMessage parses what encode made. It refuses trailing bytes.
func decodeMessage(b []byte) (*message, error) {
	rest, ok := bytes.CutPrefix(b, []byte(wireMagic))
	if !ok {
		return nil, fmt.Errorf("%w: it does not come from this build of nook", errWire)
	}
	r := &wireReader{b: rest}
	m := &message{App: r.str()}
	if n := r.count(); n > 0 {
		m.Mounts = make([]specs.Mount, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			m.Mounts = append(m.Mounts, specs.Mount{Destination: r.str(), Type: r.str(), Source: r.str(), Options: r.strs(), UIDMappings: r.ids(), GIDMappings: r.ids()})
		}
	}
	if n := r.count(); n > 0 {
		m.Symlinks = make([]Symlink, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			m.Symlinks = append(m.Symlinks, Symlink{Path: r.str(), Target: r.str()})
		}
	}
	if n := r.count(); n > 0 {
		m.Files = make([]File, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			m.Files = append(m.Files, File{Path: r.str(), Mode: r.u32(), Data: r.bytes(), Secret: r.flag()})
		}
	}
	m.ReadonlyPaths = r.strs()
	m.MaskedPaths = r.strs()
	m.RootReadonly = r.flag()
	m.Hostname = r.str()
	m.Network = r.str()
	m.Args = r.strs()
	m.Env = r.strs()
	m.Cwd = r.str()
	if hasFilter := r.flag(); hasFilter {
		m.Filter = r.bytes()
	} else {
		r.bytes()
	}
	m.CgroupNS = r.flag()
	if r.err == nil && len(r.b) != 0 {
		r.err = errWire
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// line returns r as one line of the status descriptor: "pid N", "exit N"
// or "error CODE QUOTED-MESSAGE".
func (r report) line() []byte {
	switch {
	case r.Error != "":
		return []byte("error " + strconv.Itoa(r.Code) + " " + strconv.Quote(r.Error) + "\n")
	case r.Exit != nil:
		return []byte("exit " + strconv.Itoa(*r.Exit) + "\n")
	}
	return []byte("pid " + strconv.Itoa(r.PID) + "\n")
}

// parseReport parses one line made by report.line, with or without its
// newline.
func parseReport(line []byte) (report, error) {
	kind, arg, _ := strings.Cut(strings.TrimSuffix(string(line), "\n"), " ")
	bad := fmt.Errorf("bad status line %q from the init stage", line)
	switch kind {
	case "pid", "exit":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return report{}, bad
		}
		if kind == "pid" {
			return report{PID: n}, nil
		}
		return report{Exit: &n}, nil
	case "error":
		code, msg, ok := strings.Cut(arg, " ")
		n, err := strconv.Atoi(code)
		if !ok || err != nil {
			return report{}, bad
		}
		if msg, err = strconv.Unquote(msg); err != nil {
			return report{}, bad
		}
		return report{Error: msg, Code: n}, nil
	}
	return report{}, bad
}
