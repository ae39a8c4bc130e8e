package sandbox

// #include <stdlib.h>
// #include "initstage.h"
import "C"

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A warm record is the last program "nook run" ran with the same
// arguments, with the identity and id maps it ran under. nook run's
// constructor (initstage.c, prestart) reads it before the Go runtime
// starts, writes the id maps and lets the prestarted init stage run the
// program's setup while Go starts, compiles the plan and compiles the
// same program again. The launcher then compares the two records byte
// for byte: only if they are equal does it confirm, and init waits for
// that before it starts the app and before it writes anywhere but the
// tmpfs mounts it made itself. A record that differs is discarded with
// the init stage that ran it, and the launcher starts a new one.
//
// The record holds what the program holds (the app's environment, the
// files staged in the sandbox, an Xauthority cookie among them), so it
// lives in the user's cache directory, which must be the user's alone
// (the constructor checks the directory and the file as the seccomp cache
// does), in a file only the user can read.

// warmMagic starts every warm record and names the format's version.
const warmMagic = "nook-warm-2\n"

// warmRecord encodes the body of the record of program prog run as spec s
// says, by a launcher running as root or not: root, uid and gid as
// uint32s, the uid map and the gid map (as writeIDMaps writes them) as
// program strings (program.go), and the program, to the end. The program
// comes last so that two records whose programs differ only in their app
// sections (encodeProgram) share everything before it.
func warmRecord(s *specs.Spec, root bool, prog []byte) []byte {
	b := make([]byte, 0, 12+len(prog)+128)
	r := uint32(0)
	if root {
		r = 1
	}
	b = binary.LittleEndian.AppendUint32(b, r)
	b = binary.LittleEndian.AppendUint32(b, s.Process.User.UID)
	b = binary.LittleEndian.AppendUint32(b, s.Process.User.GID)
	data := func(d []byte) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(d)))
		b = append(b, d...)
		b = append(b, 0)
	}
	data(idMapText(s.Linux.UIDMappings))
	data(idMapText(s.Linux.GIDMappings))
	return append(b, prog...)
}

// warmFile is the warm record file of body (warmRecord) with fast section
// fast (fastlaunch.go; empty when the launch may not be a warm one):
// warmMagic, the fast section as a uint32 length and bytes, the body.
func warmFile(fast, body []byte) []byte {
	b := make([]byte, 0, len(warmMagic)+4+len(fast)+len(body))
	b = append(b, warmMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fast)))
	b = append(b, fast...)
	return append(b, body...)
}

// WarmRecordName is the name of the warm record of a launch with nook's
// arguments args (os.Args[1:], "run" first), in the user's cache
// directory: "run-" and an FNV-1a hash of the arguments before "--", each
// with its NUL, as nook run's constructor computes it (initstage.c,
// set_warm_path). The app's own arguments are left out: they change from
// one launch to the next far more often than the profile.
func WarmRecordName(args []string) string {
	h := uint64(0xcbf29ce484222325)
	for _, a := range args {
		if a == "--" {
			break
		}
		for i := 0; i <= len(a); i++ {
			var c byte // the NUL after the argument
			if i < len(a) {
				c = a[i]
			}
			h = (h ^ uint64(c)) * 0x100000001b3
		}
	}
	return fmt.Sprintf("run-%016x", h)
}

// readWarm reads the warm record at path as the constructor does
// (nook_read_warm): nil if it is missing or not trusted.
func readWarm(path string) []byte {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var n C.size_t
	b := C.nook_read_warm(cpath, &n)
	if b == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(b))
	return C.GoBytes(unsafe.Pointer(b), C.int(n))
}

// warmPath is the file nook run's constructor looked for a warm record
// in, "" when there is none to write (not nook run, no cache directory).
func warmPath() string {
	p := C.nook_warm_path()
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// prestartedWarm is the body of the record the prestarted init stage
// runs and the record's fast section, nil if none.
func prestartedWarm(pre *C.struct_nook_prestart) (body, fast []byte) {
	if pre.warm == nil {
		return nil, nil
	}
	body = unsafe.Slice((*byte)(unsafe.Pointer(pre.warm)), int(pre.warm_len))
	if pre.fast != nil {
		fast = unsafe.Slice((*byte)(unsafe.Pointer(pre.fast)), int(pre.fast_len))
	}
	return body, fast
}

// storeWarm stores the warm record of the launch of plan p (run with
// opts) that init sp runs, for the next launch: when the stored record's
// body is another, or its fast section (fastlaunch.go) is. It runs after
// the go-ahead, beside the app's start: building the fast section costs
// a launch nothing there.
func storeWarm(sp *spawn, p *Plan, opts Options) {
	if sp.record == nil {
		return
	}
	var fast []byte
	if opts.Cgroup == nil {
		fast = fastSection(p, opts.Warm)
	}
	if sp.stale || !bytes.Equal(fast, sp.storedFast) {
		writeWarm(warmPath(), warmFile(fast, sp.record))
	}
}

// maxWarmRecords is how many warm records a cache directory keeps:
// writeWarm removes the least recently used beyond it.
const maxWarmRecords = 64

// writeWarm stores record rec at path for the next launch: in a new file
// (mode 0600) renamed into place, so that a reader never sees half of
// one. It creates the directory (0700) if it is missing, and then keeps
// the directory to maxWarmRecords records (pruneWarm). The record is an
// optimisation, so errors are dropped.
func writeWarm(path string, rec []byte) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".run-*")
	if os.IsNotExist(err) && os.MkdirAll(dir, 0o700) == nil {
		f, err = os.CreateTemp(dir, ".run-*")
	}
	if err != nil {
		return
	}
	_, err = f.Write(rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return
	}
	pruneWarm(dir, maxWarmRecords)
}

// pruneWarm removes the warm records (run-*) in dir beyond the keep most
// recently used. A record is used when the constructor reads it, which
// sets its access time (at most daily under relatime) without writing it;
// its use is the later of its access and modification times.
func pruneWarm(dir string, keep int) {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) <= keep {
		return
	}
	type record struct {
		name string
		used int64
	}
	var recs []record
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "run-") {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(dir, e.Name()), &st) != nil {
			continue
		}
		used := max(st.Atim.Nano(), st.Mtim.Nano())
		recs = append(recs, record{e.Name(), used})
	}
	if len(recs) <= keep {
		return
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].used > recs[j].used })
	for _, r := range recs[keep:] {
		os.Remove(filepath.Join(dir, r.name))
	}
}
