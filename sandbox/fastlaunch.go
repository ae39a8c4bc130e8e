package sandbox

// #include <stdlib.h>
// #include "fastlaunch.h"
import "C"

import (
	"encoding/binary"
	"unsafe"
)

// A warm launch is a launch that nook run's constructor runs itself, from
// a warm record (warm.go), without starting the Go runtime: it confirms
// the record's program, writes the state record, passes signals on and
// exits with the app's status (fastlaunch.c). It may do so only when the
// program is the one this launch would compile, so a record a launch may
// take that way holds a fast section: the facts the plan was compiled
// from.
//
// The fast section is, each as a uint32 length and bytes: the process's
// own facts (nook_capture_self: all of its arguments and environment, its
// working directory, ids, the host name and the executable's stat), the
// host files' facts (witness.Log, taken before each was read), then the
// state directory, the app and its hostname, for the state record. The
// constructor takes the launch only when every byte of the first two
// parts is what it finds now. The launcher writes a fast section only for
// a launch whose plan comes from nothing else: no control group (whose
// manager and limits depend on the host's cgroups), the host image (an
// image store is a directory tree of its own), no seccomp profile read
// from a file, no warning to print (see WarmLaunch).

// WarmLaunch is what a launch records so that the next launch with the
// same arguments can be a warm one (see above).
type WarmLaunch struct {
	// Facts are the host files' facts the plan was compiled from
	// (witness.Log.Bytes), taken before each was read.
	Facts []byte
	// StateDir is where the state record goes (state.DefaultDir).
	StateDir string
}

// fastSection encodes the fast section of a launch of plan p with w; nil
// when the process's own facts are unknown (the constructor could not
// read all of its arguments), or w is nil.
func fastSection(p *Plan, w *WarmLaunch) []byte {
	if w == nil {
		return nil
	}
	var n C.size_t
	self := C.nook_self(&n)
	if self == nil {
		return nil
	}
	var b []byte
	data := func(d []byte) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(d)))
		b = append(b, d...)
	}
	data(unsafe.Slice((*byte)(unsafe.Pointer(self)), int(n)))
	data(w.Facts)
	data([]byte(w.StateDir))
	data([]byte(p.App))
	data([]byte(p.Spec.Hostname))
	return b
}

// cFact is what nook_put_fact encodes for op on path (for tests: it must
// be what witness.Append encodes).
func cFact(op byte, path string) []byte {
	var o C.struct_nook_out
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	C.nook_put_fact(&o, C.char(op), cpath)
	defer C.free(unsafe.Pointer(o.b))
	return C.GoBytes(unsafe.Pointer(o.b), C.int(o.n))
}
