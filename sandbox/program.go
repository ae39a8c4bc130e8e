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
// program is "nook-prog-1\n", the app's name, the operations up to opEnd,
// then the app to start. Numbers are little-endian uint32; strings are a
// uint32 length, the bytes and a NUL, so that C uses them in place.

// programMagic starts every program and names the format's version.
const programMagic = "nook-prog-1\n"

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

// program builds a program.
type program struct{ b []byte }

func (p *program) u32(v uint32) { p.b = binary.LittleEndian.AppendUint32(p.b, v) }

func (p *program) str(s string) {
	p.u32(uint32(len(s)))
	p.b = append(p.b, s...)
	p.b = append(p.b, 0)
}

func (p *program) op(code uint32, strs ...string) {
	p.u32(code)
	for _, s := range strs {
		p.str(s)
	}
}

// compileProgram lowers plan p, with seccomp program filter (nil: none),
// to the init stage's program. It is pure: it checks what it can without
// the sandbox (an image root's options, string lengths) and leaves the
// rest to init, which reports failures with the same wording.
func compileProgram(p *Plan, filter []byte) ([]byte, error) {
	s := &p.Spec
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, errors.New("plan has no command")
	}
	for _, str := range planStrings(p) {
		if strings.IndexByte(str, 0) >= 0 {
			return nil, fmt.Errorf("plan string %q holds a NUL byte", str)
		}
	}
	var ov *overlayOptions
	for i, m := range s.Mounts {
		if !isOverlayRoot(m) {
			continue
		}
		if i != 0 {
			return nil, errors.New("the overlay on / must be the plan's first mount")
		}
		var err error
		if ov, err = parseOverlay(m); err != nil {
			return nil, err
		}
	}

	pr := &program{b: []byte(programMagic)}
	pr.str(p.App)
	// Bind sources and overlay directories are opened first, while the
	// host's /tmp (where they may live) is still in view.
	for i, m := range s.Mounts {
		if !isOverlayRoot(m) && parseMountOptions(m.Options).bind() {
			pr.u32(opSource)
			pr.u32(uint32(i))
			pr.str(m.Source)
			pr.str(m.Destination)
		}
	}
	if ov != nil {
		for _, d := range ov.lower {
			pr.u32(opOverlayDir)
			pr.u32(overlayLower)
			pr.str(d)
		}
		if ov.upper != "" {
			pr.u32(opOverlayDir)
			pr.u32(overlayUpper)
			pr.str(ov.upper)
			pr.u32(opOverlayDir)
			pr.u32(overlayWork)
			pr.str(ov.work)
		}
	}
	pr.op(opScratch)
	if ov != nil {
		pr.u32(opOverlay)
		pr.u32(uint32(ov.flags.set))
		pr.str(ov.flags.data)
		dirs := ov.dirs(p)
		pr.u32(uint32(len(dirs)))
		for _, d := range dirs {
			pr.str(d)
		}
	} else {
		pr.op(opRootTmpfs)
	}
	for i, m := range s.Mounts {
		if isOverlayRoot(m) {
			continue
		}
		f := parseMountOptions(m.Options)
		if !f.bind() {
			pr.op(opMount, m.Destination, m.Type, m.Source)
			pr.u32(uint32(f.set))
			pr.str(f.data)
			continue
		}
		pr.u32(opBind)
		pr.u32(uint32(i))
		pr.str(m.Destination)
		pr.str(m.Source)
		rec := uint32(0)
		if f.set&unix.MS_REC != 0 {
			rec = 1
		}
		pr.u32(rec)
		pr.u32(uint32(f.set &^ (unix.MS_BIND | unix.MS_REC)))
	}
	for _, l := range p.Symlinks {
		pr.op(opSymlink, l.Path, l.Target)
	}
	// Files are written to a staging area, which then becomes read-only
	// in one mount call, and bound from there.
	for _, f := range p.Files {
		pr.op(opFile, f.Path)
		pr.u32(f.Mode)
		pr.str(string(f.Data))
	}
	if len(p.Files) > 0 {
		pr.op(opSealFiles)
	}
	for i, f := range p.Files {
		pr.u32(opBindFile)
		pr.u32(uint32(i))
		pr.str(f.Path)
	}
	if s.Linux != nil {
		for _, path := range s.Linux.ReadonlyPaths {
			pr.op(opReadonly, path)
		}
		for _, path := range s.Linux.MaskedPaths {
			pr.op(opMask, path)
		}
	}
	pr.op(opPivot)
	if s.Root != nil && s.Root.Readonly {
		pr.op(opRootReadonly)
	}
	if s.Hostname != "" {
		pr.op(opHostname, s.Hostname)
	}
	if p.Network.Mode == NetworkNone {
		pr.op(opLoopback)
	}
	pr.op(opEnd)

	// The app.
	if s.Linux != nil && hasNamespace(s, specs.CgroupNamespace) {
		pr.u32(1) // init enters a cgroup namespace once in its cgroup
	} else {
		pr.u32(0)
	}
	pr.u32(uint32(len(s.Process.Args)))
	for _, a := range s.Process.Args {
		pr.str(a)
	}
	pr.u32(uint32(len(s.Process.Env)))
	for _, e := range s.Process.Env {
		pr.str(e)
	}
	pr.str(s.Process.Cwd)
	if filter != nil {
		pr.u32(1)
	} else {
		pr.u32(0)
	}
	pr.str(string(filter))
	return pr.b, nil
}

// planStrings are the plan's strings init uses as C strings.
func planStrings(p *Plan) []string {
	s := &p.Spec
	l := []string{p.App, s.Hostname, s.Process.Cwd}
	l = append(l, s.Process.Args...)
	l = append(l, s.Process.Env...)
	for _, m := range s.Mounts {
		l = append(l, m.Destination, m.Type, m.Source)
		l = append(l, m.Options...)
	}
	for _, sl := range p.Symlinks {
		l = append(l, sl.Path, sl.Target)
	}
	for _, f := range p.Files {
		l = append(l, f.Path)
	}
	if s.Linux != nil {
		l = append(l, s.Linux.ReadonlyPaths...)
		l = append(l, s.Linux.MaskedPaths...)
	}
	return l
}
