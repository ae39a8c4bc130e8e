package seccomptest

import "syscall"

// Syscall386 makes syscall trap of the 32-bit x86 ABI through int 0x80,
// from this 64-bit process, so a test can check that a filter covers that
// ABI too. Arguments are truncated to 32 bits; pointers must therefore be
// below 4 GiB or garbage. It returns the result and the errno (0 on
// success). Kernels without IA32 emulation kill the process with SIGSEGV;
// test on a throwaway child.
func Syscall386(trap, a1, a2, a3 uintptr) (r uintptr, errno syscall.Errno) {
	r = int80(trap, a1, a2, a3)
	if e := -int32(r); e > 0 && e < 4096 {
		return r, syscall.Errno(e)
	}
	return r, 0
}

func int80(trap, a1, a2, a3 uintptr) uintptr
