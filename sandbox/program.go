package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The init stage (initstage.c) does not interpret the plan: the launcher
// lowers it to a program of file-system operations, in the order init runs
// them, and init executes it from its copy of the launcher's memory. The
// program is "nook-prog-2\n", the app's name, the operations up to opEnd,
// then the app to start. Numbers are little-endian uint32; strings are a
// uint32 length, the bytes and a NUL, so that C uses them in place.

// programMagic starts every program and names the format's version.
const programMagic = "nook-prog-2\n"

// Opcodes; initstage.c has the same list, with each one's arguments.
const (
	opSource     uint32 = iota + 1 // u32 idx, str path, str dest
	opOverlayDir                   // u32 role, str path
	opScratch
	opRootTmpfs
	opOverlay // u32 flags, str data, u32 n, n × str dir
	opMount   // str dest, str type, str source, u32 flags, str data
	opBind    // u32 idx, str dest, str source, u32 rec, u32 remount flags
	opSymlink // str path, str target
	opFile    // str path, u32 mode, str data: staged
	opSealFiles
	opBindFile // u32 n, str path
	opReadonly
	opMask
	opPivot
	opRootReadonly
	opHostname
	opLoopback
	opEnd
)

// Roles of opOverlayDir.
const (
	overlayLower uint32 = iota
	overlayUpper
	overlayWork
)

// instr is one operation of a program: its code and its arguments, each
// a uint32, a string (a C string to init) or a []byte (data), in the
// order initstage.c reads them.
type instr struct {
	code uint32
	args []any
}

// maxMounts bounds the plan's mounts (initstage.c, MAX_SOURCES).
const maxMounts = 1024

// appStart is what init needs to start the app, after the operations.
type appStart struct {
	cgroupNS bool // enter a new cgroup namespace once in the cgroup
	// placed says the launcher puts init in a cgroup once it is set up:
	// init then waits for the go-ahead before it makes the app's task,
	// which the cgroup must hold from its first instruction. Otherwise
	// init makes the task, locked down and filtered, and the task waits
	// for the go-ahead just before exec.
	placed bool
	args   []string
	env    []string
	cwd    string
	filter []byte // seccomp BPF; nil means none
}

// compileProgram lowers plan p, with seccomp program filter (nil: none),
// to the init stage's program, for a sandbox the launcher puts in a
// cgroup (placed) or not, and returns where its app section starts (see
// encodeProgram). It is pure.
func compileProgram(p *Plan, filter []byte, placed bool) ([]byte, int, error) {
	ops, app, err := lower(p, filter)
	if err != nil {
		return nil, 0, err
	}
	app.placed = placed
	return encodeProgram(p.App, ops, app)
}

// lower turns plan p into init's operations, in the order init runs
// them, and what it needs to start the app. It checks what it can
// without the sandbox (an image root's options, NUL bytes, the number of
// mounts) and leaves the rest to init, which reports failures in the
// words the rest of nook uses.
func lower(p *Plan, filter []byte) ([]instr, appStart, error) {
	s := &p.Spec
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, appStart{}, errors.New("plan has no command")
	}
	if len(s.Mounts) > maxMounts {
		return nil, appStart{}, fmt.Errorf("plan has %d mounts; nook takes at most %d", len(s.Mounts), maxMounts)
	}
	var ov *overlayOptions
	for i, m := range s.Mounts {
		if !isOverlayRoot(m) {
			continue
		}
		if i != 0 {
			return nil, appStart{}, errors.New("the overlay on / must be the plan's first mount")
		}
		var err error
		if ov, err = parseOverlay(m); err != nil {
			return nil, appStart{}, err
		}
	}

	var ops []instr
	add := func(code uint32, args ...any) { ops = append(ops, instr{code, args}) }
	// Bind sources and overlay directories are opened first, while the
	// host's /tmp (where they may live) is still in view.
	for i, m := range s.Mounts {
		if !isOverlayRoot(m) && parseMountOptions(m.Options).bind() {
			add(opSource, uint32(i), m.Source, m.Destination)
		}
	}
	if ov != nil {
		for _, d := range ov.lower {
			add(opOverlayDir, overlayLower, d)
		}
		if ov.upper != "" {
			add(opOverlayDir, overlayUpper, ov.upper)
			add(opOverlayDir, overlayWork, ov.work)
		}
	}
	add(opScratch)
	if ov != nil {
		dirs := ov.dirs(p)
		args := []any{uint32(ov.flags.set), ov.flags.data, uint32(len(dirs))}
		for _, d := range dirs {
			args = append(args, d)
		}
		add(opOverlay, args...)
	} else {
		add(opRootTmpfs)
	}
	for i, m := range s.Mounts {
		if isOverlayRoot(m) {
			continue
		}
		f := parseMountOptions(m.Options)
		if !f.bind() {
			add(opMount, m.Destination, m.Type, m.Source, uint32(f.set), f.data)
			continue
		}
		rec := uint32(0)
		if f.set&unix.MS_REC != 0 {
			rec = 1
		}
		add(opBind, uint32(i), m.Destination, m.Source, rec, uint32(f.set&^(unix.MS_BIND|unix.MS_REC)))
	}
	for _, l := range p.Symlinks {
		add(opSymlink, l.Path, l.Target)
	}
	// Files are written to a staging area, which then becomes read-only
	// in one mount call, and bound from there.
	for _, f := range p.Files {
		add(opFile, f.Path, f.Mode, f.Data)
	}
	if len(p.Files) > 0 {
		add(opSealFiles)
	}
	for i, f := range p.Files {
		add(opBindFile, uint32(i), f.Path)
	}
	if s.Linux != nil {
		for _, path := range s.Linux.ReadonlyPaths {
			add(opReadonly, path)
		}
		for _, path := range s.Linux.MaskedPaths {
			add(opMask, path)
		}
	}
	add(opPivot)
	if s.Root != nil && s.Root.Readonly {
		add(opRootReadonly)
	}
	if s.Hostname != "" {
		add(opHostname, s.Hostname)
	}
	if p.Network.Mode == NetworkNone {
		add(opLoopback)
	}
	add(opEnd)
	app := appStart{
		cgroupNS: s.Linux != nil && hasNamespace(s, specs.CgroupNamespace),
		args:     s.Process.Args,
		env:      s.Process.Env,
		cwd:      s.Process.Cwd,
		filter:   filter,
	}
	return ops, app, nil
}

// encodeProgram writes a program in the format initstage.c reads, and
// returns the offset of its app section: what follows the placed flag
// (the command, environment, working directory and filter), which a
// launcher may hand a speculating init in place of a warm record's
// (warm.go). It refuses a string with a NUL byte where C reads it as a C
// string (all but a file's content).
func encodeProgram(name string, ops []instr, app appStart) ([]byte, int, error) {
	var bad error
	b := []byte(programMagic)
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	data := func(s []byte) {
		u32(uint32(len(s)))
		b = append(b, s...)
		b = append(b, 0)
	}
	str := func(s string) {
		if bad == nil && strings.IndexByte(s, 0) >= 0 {
			bad = fmt.Errorf("plan string %q holds a NUL byte", s)
		}
		data([]byte(s))
	}
	flag := func(v bool) {
		if v {
			u32(1)
		} else {
			u32(0)
		}
	}
	str(name)
	for _, o := range ops {
		u32(o.code)
		for _, a := range o.args {
			switch a := a.(type) {
			case uint32:
				u32(a)
			case string:
				str(a)
			case []byte:
				data(a)
			default:
				panic(fmt.Sprintf("program argument of type %T", a))
			}
		}
	}
	flag(app.cgroupNS)
	flag(app.placed)
	appAt := len(b)
	u32(uint32(len(app.args)))
	for _, a := range app.args {
		str(a)
	}
	u32(uint32(len(app.env)))
	for _, e := range app.env {
		str(e)
	}
	str(app.cwd)
	flag(app.filter != nil)
	data(app.filter)
	if bad != nil {
		return nil, 0, bad
	}
	return b, appAt, nil
}
