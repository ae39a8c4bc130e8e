// Package prefault maps the part of the Go heap that "nook run" is about
// to use into its page tables at once, before nook's packages and main
// allocate from it. Where a page fault traps to a hypervisor it costs
// 15-30 us, against about 1 us per page mapped in a batch
// (madvise(MADV_POPULATE_WRITE)), and a launch faults in a few hundred
// heap pages before its go-ahead. A main package imports it for its
// init, which runs as early as its few dependencies allow (Go initializes
// packages in dependency order, then by import path). It does nothing for
// other commands, and on kernels before 5.14, which refuse the advice,
// the pages fault in as before.
package prefault

import (
	"os"
	"syscall"
	"unsafe"
)

// heapWindow is how much of the heap to map: what nook run allocates up to
// its go-ahead, with room to spare (a launch of a host-image profile
// touches about 700 KB).
const heapWindow = 1 << 20

const madvPopulateWrite = 23 // MADV_POPULATE_WRITE, Linux 5.14

// mark is a heap object whose address says where the heap is growing:
// the runtime allocates from the lowest free pages of its first arena,
// which it has already mapped read-write, so the pages after this one
// are the ones the next allocations take. It is kept in a global so that
// it escapes to the heap.
var mark *[64]byte

func init() {
	if len(os.Args) < 2 || os.Args[1] != "run" {
		return
	}
	mark = new([64]byte)
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(mark)) &^ (page - 1)
	// Only zero pages of the process's own read-write memory are
	// mapped; an error (the window reaches past what the runtime has
	// mapped, an old kernel) leaves the rest to fault in.
	syscall.Syscall(syscall.SYS_MADVISE, start, heapWindow, madvPopulateWrite)
}
