package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockFilterSize is the size of one struct sock_filter instruction.
const sockFilterSize = 8

// Install loads prog, a raw classic-BPF program as [CompileCached] returns,
// as a seccomp filter of the calling thread only (SECCOMP_SET_MODE_FILTER
// without SECCOMP_FILTER_FLAG_TSYNC). It is pure Go: no cgo, no libseccomp.
//
// Preconditions: the caller has set no_new_privs
// (prctl(PR_SET_NO_NEW_PRIVS, 1)) or holds CAP_SYS_ADMIN, and runs on a
// thread locked with runtime.LockOSThread that it never unlocks, since Go
// would otherwise move other goroutines onto the filtered thread and this
// goroutine off it. The filter then applies to every later syscall of that
// thread, to the processes and threads it forks, and across execve; other
// threads of the process keep running unfiltered (execve from the filtered
// thread ends them). Filters stack and cannot be removed. The caller keeps
// ownership of prog.
//
// prog must be non-empty, a whole number of 8-byte instructions and at most
// BPF_MAXINSNS (4096) of them; the kernel rejects programs that do not
// verify.
func Install(prog []byte) error {
	if err := checkProgram(prog); err != nil {
		return fmt.Errorf("install seccomp filter: %w", err)
	}
	n := len(prog) / sockFilterSize
	insns := make([]unix.SockFilter, n)
	for i := range insns {
		b := prog[i*sockFilterSize:]
		insns[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:2]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:8]),
		}
	}
	fprog := unix.SockFprog{Len: uint16(n), Filter: &insns[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(insns)
	switch errno {
	case 0:
		return nil
	case unix.EACCES:
		return fmt.Errorf("install seccomp filter: %w (set no_new_privs first, or hold CAP_SYS_ADMIN)", errno)
	}
	return fmt.Errorf("install seccomp filter: %w", errno)
}

// checkProgram checks that prog is non-empty, a whole number of
// instructions and at most BPF_MAXINSNS of them.
func checkProgram(prog []byte) error {
	n := len(prog) / sockFilterSize
	switch {
	case len(prog) == 0:
		return errors.New("empty program")
	case len(prog)%sockFilterSize != 0:
		return fmt.Errorf("program length %d is not a multiple of %d", len(prog), sockFilterSize)
	case n > unix.BPF_MAXINSNS:
		return fmt.Errorf("program has %d instructions, more than BPF_MAXINSNS (%d)", n, unix.BPF_MAXINSNS)
	}
	return nil
}
