package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
)

// lockdown takes away everything the init stage was granted, in this order:
// non-dumpable (process-wide); the bounding set on this thread, which is the
// one the app is forked from; inheritable, permitted and effective
// capabilities (and so ambient ones, which the kernel keeps within permitted
// and inheritable) and no_new_privs on every thread of the process (psx,
// since a cgo binary cannot otherwise reach all threads); then the seccomp
// filter, last, on this thread. filter nil means no filter.
//
// Precondition: the caller is locked to its OS thread and forks the app
// from it afterwards.
func lockdown(filter []byte) error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making init non-dumpable: %w", err)
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("dropping capabilities: %w", e)
	}
	if _, _, e := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("setting no_new_privs: %w", e)
	}
	if filter == nil {
		return nil
	}
	if err := seccomp.Install(filter); err != nil {
		return fmt.Errorf("loading seccomp filter: %w", err)
	}
	return nil
}

// lastCap is the highest capability number the kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		// /proc is the sandbox's own by now; fall back to what x/sys knows.
		return unix.CAP_LAST_CAP, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("reading cap_last_cap: %w", err)
	}
	return n, nil
}
