package sandbox

// #include <stdlib.h>
// #include "initstage.h"
import "C"

import (
	"os"
	"strconv"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// spawn is one started init stage and the launcher's ends of its pipes.
type spawn struct {
	pid    int
	status *os.File // init's reports
	goW    *os.File // the go-ahead; closing it lets init exit at the end
	// syncW stays open until init is reaped: init takes its hang-up for
	// the launcher's death.
	syncW *os.File
	// prog and mem are memory the init stage uses (it shares the
	// launcher's): release frees them once init has been reaped.
	prog, mem unsafe.Pointer
}

// release frees the memory of an init stage that has been reaped.
func (sp *spawn) release() {
	sp.syncW.Close()
	C.nook_spawn_release(sp.mem)
	C.free(sp.prog)
}

// startInit clones the calling thread into the namespaces of flags as the
// init stage (initstage.c), writes its id maps, and lets it run prog. The
// caller is locked to its OS thread and stays on it while the sandbox runs:
// the kernel kills the sandbox when that thread ends. On success the
// caller owns the returned pipes, must reap pid, and then calls release.
func startInit(flags uintptr, s *specs.Spec, prog []byte, stdio [3]*os.File) (*spawn, error) {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statusW.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		return nil, err
	}
	defer goR.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		goW.Close()
		return nil, err
	}
	defer syncR.Close()
	fail := func(err error) (*spawn, error) {
		statusR.Close()
		goW.Close()
		syncW.Close()
		return nil, err
	}

	root := os.Geteuid() == 0
	uid, gid := s.Process.User.UID, s.Process.User.GID
	cprog := C.CBytes(prog)
	args := C.struct_nook_spawn_args{
		flags:     C.ulong(flags),
		status_fd: C.int(statusW.Fd()),
		go_fd:     C.int(goR.Fd()),
		sync_fd:   C.int(syncR.Fd()),
		set_ids:   1,
		uid:       C.uint32_t(uid),
		gid:       C.uint32_t(gid),
		prog:      (*C.uchar)(cprog),
		prog_len:  C.size_t(len(prog)),
	}
	if root {
		args.drop_groups = 1
	}
	for i, f := range stdio {
		args.stdio[i] = C.int(f.Fd())
	}
	var mem unsafe.Pointer
	pid := int(C.nook_spawn(&args, &mem))
	if pid < 0 {
		C.free(cprog)
		return fail(explainStart(syscall.Errno(-pid)))
	}
	sp := &spawn{pid: pid, status: statusR, goW: goW, syncW: syncW, prog: cprog, mem: mem}
	// From here on the child waits for the maps; on failure it is killed.
	kill := func(err error) (*spawn, error) {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		C.nook_spawn_release(mem)
		C.free(cprog)
		return fail(err)
	}
	if err := writeIDMaps(pid, s, root); err != nil {
		return kill(err)
	}
	if _, err := syncW.Write([]byte{0}); err != nil {
		return kill(err)
	}
	return sp, nil
}

// writeIDMaps writes the user namespace's maps of process pid. Rootless,
// setgroups must be denied before a gid map may be written.
func writeIDMaps(pid int, s *specs.Spec, root bool) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if !root {
		if err := os.WriteFile(dir+"setgroups", []byte("deny"), 0); err != nil {
			return err
		}
	}
	if err := os.WriteFile(dir+"gid_map", idMapText(s.Linux.GIDMappings), 0); err != nil {
		return err
	}
	return os.WriteFile(dir+"uid_map", idMapText(s.Linux.UIDMappings), 0)
}

func idMapText(m []specs.LinuxIDMapping) []byte {
	var b []byte
	for _, e := range m {
		b = strconv.AppendUint(b, uint64(e.ContainerID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(e.HostID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(e.Size), 10)
		b = append(b, '\n')
	}
	return b
}
