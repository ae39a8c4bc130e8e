package sandbox

// #include <stdlib.h>
// #include "initstage.h"
import "C"

import (
	"bytes"
	"encoding/binary"
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
	// prestarted says init was started by nook run's constructor, for
	// the launcher's one sandbox.
	prestarted bool
	// speculative says init runs a warm record's program (warm.go) that
	// matches the launch's, verdict is the byte that says so ('c', or
	// 'a' when only the app section differs): see ready.
	speculative bool
	verdict     []byte
	// record is the body of this launch's warm record (warmRecord), nil
	// when none is kept; stale says the stored record's body is not it (or
	// there is none), and storedFast is the stored record's fast section.
	// Run stores the record once the app runs (storeWarm).
	record     []byte
	stale      bool
	storedFast []byte
	// prog and mem are the launcher's memory for the init stage (its
	// program, when cloned with it in place, and its stack's mapping):
	// release frees them once init has been reaped.
	prog, mem unsafe.Pointer
}

// release frees the memory of an init stage that has been reaped.
func (sp *spawn) release() {
	sp.syncW.Close()
	C.nook_spawn_release(sp.mem)
	if sp.prog != nil {
		C.free(sp.prog)
	}
}

// Unpin gives the launcher back the CPUs nook run's constructor kept it
// from while the prestarted init stage started on them (initstage.h,
// nook_unpin). Run calls it once the app may start; call it before work
// that wants every CPU (running nook-image). It does nothing otherwise.
func Unpin() { C.nook_unpin() }

// atClone are the namespaces the init stage is cloned into (init must be
// PID 1); it unshares the others itself, beside the launcher's work.
const atClone = unix.CLONE_NEWUSER | unix.CLONE_NEWPID

// startInit starts the init stage in the namespaces of flags, writes its
// id maps, and lets it run prog. It takes the init stage a constructor
// prestarted for "nook run" when that has these namespaces and stdio is
// descriptors 0, 1 and 2; otherwise it clones the calling thread, and then
// the caller is locked to its OS thread and stays on it while the sandbox
// runs (the kernel kills the sandbox when that thread ends). On success the
// caller owns the returned pipes, must reap pid, and then calls release.
//
// When the prestarted init already runs a warm record that matches this
// launch's program prog (all of it, or all but the app section, which
// starts at appAt), startInit returns it with speculative set: the caller
// must then confirm it with ready, which says whether its setup worked,
// before it sends the go-ahead. sp.record, sp.stale and sp.storedFast
// say what to store for the next launch (see storeWarm).
func startInit(flags uintptr, s *specs.Spec, prog []byte, appAt int, stdio [3]*os.File) (*spawn, error) {
	root := os.Geteuid() == 0
	sp, warm, warmFast := takePrestart(flags, stdio)
	// This launch's record body: to compare, or to store. It is stored
	// also when the launcher clones init itself (the prestarted one did
	// not fit, or its record's setup failed: see launch), so that the
	// next launch finds it.
	var rec []byte
	if warm != nil || warmPath() != "" {
		rec = warmRecord(s, root, prog)
	}
	if sp != nil && warm != nil {
		// The program is the record's end: the app section starts at
		// the same distance from it.
		at := len(rec) - len(prog) + appAt
		switch {
		case bytes.Equal(rec, warm):
			sp.speculative, sp.verdict = true, []byte{'c'}
			sp.record, sp.storedFast = rec, warmFast
			return sp, nil
		case len(warm) >= at && bytes.Equal(rec[:at], warm[:at]):
			// Only the app's arguments, environment, working directory
			// or filter changed: init takes this launch's app section,
			// which follows the verdict, and keeps its setup.
			v := binary.LittleEndian.AppendUint32([]byte{'a'}, uint32(len(prog)-appAt))
			sp.speculative, sp.verdict = true, append(v, prog[appAt:]...)
			sp.record, sp.stale = rec, true
			return sp, nil
		}
		// Another program runs in it: it goes, and this launch's record
		// replaces the stale one.
		sp.discard()
		sp = nil
	}
	if sp != nil {
		// It has memory of its own: the identity and the program come
		// as its payload, once the id maps are written.
		sp.record, sp.stale = rec, true
		if err := writeIDMaps(sp.pid, s, root); err != nil {
			sp.kill()
			return nil, err
		}
		if _, err := sp.syncW.Write(payload(s, root, prog)); err != nil {
			sp.kill()
			return nil, err
		}
		return sp, nil
	}
	cprog := C.CBytes(prog)
	sp, err := cloneInit(flags, s, cprog, len(prog), stdio)
	if err != nil {
		C.free(cprog)
		return nil, err
	}
	sp.prog = cprog
	sp.record, sp.stale = rec, true
	if err := writeIDMaps(sp.pid, s, root); err != nil {
		sp.kill()
		return nil, err
	}
	if _, err := sp.syncW.Write([]byte{0}); err != nil {
		sp.kill()
		return nil, err
	}
	return sp, nil
}

// payload is what a prestarted init reads on its sync descriptor: a
// struct nook_payload (initstage.h) with the identity of spec s, then the
// program.
func payload(s *specs.Spec, root bool, prog []byte) []byte {
	var p C.struct_nook_payload
	b := make([]byte, 0, int(unsafe.Sizeof(p))+len(prog))
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u32(1) // set_ids
	if root {
		u32(1) // drop_groups
	} else {
		u32(0)
	}
	u32(s.Process.User.UID)
	u32(s.Process.User.GID)
	u32(0) // speculative
	u32(uint32(len(prog)))
	return append(b, prog...)
}

// setArgs fills in the identity of spec s and the program in a.
func setArgs(a *C.struct_nook_spawn_args, s *specs.Spec, prog unsafe.Pointer, n int) {
	a.set_ids = 1
	if os.Geteuid() == 0 {
		a.drop_groups = 1
	}
	a.uid = C.uint32_t(s.Process.User.UID)
	a.gid = C.uint32_t(s.Process.User.GID)
	a.prog = (*C.uchar)(prog)
	a.prog_len = C.size_t(n)
}

// ready confirms the warm record init sp runs, which startInit found
// equal to the launch's, and waits for init's first report: true if it
// is "ready", false if setting up failed (init has then exited). Until
// the confirmation, init is alive (it waits for it even to report an
// error), so Started can look at it.
func ready(sp *spawn) bool {
	if _, err := sp.goW.Write(sp.verdict); err != nil {
		return false
	}
	// Init writes nothing else until the go-ahead: the line is all there
	// is to read, in one read (it is shorter than PIPE_BUF).
	var b [64]byte
	n, err := sp.status.Read(b[:])
	return err == nil && string(b[:n]) == readyLine
}

// takePrestart returns the prestarted init stage if it fits flags and
// stdio, nil if there is none or it does not fit (then it is discarded),
// and the body and fast section of the warm record it runs (nil: none, it
// waits for its program).
func takePrestart(flags uintptr, stdio [3]*os.File) (sp *spawn, body, fast []byte) {
	var pre C.struct_nook_prestart
	if C.nook_take_prestart(&pre) == 0 {
		return nil, nil, nil
	}
	sp = &spawn{
		pid:        int(pre.pid),
		status:     os.NewFile(uintptr(pre.status_fd), "init status"),
		goW:        os.NewFile(uintptr(pre.go_fd), "init go-ahead"),
		syncW:      os.NewFile(uintptr(pre.sync_fd), "init sync"),
		mem:        pre.mem,
		prestarted: true,
	}
	fits := uintptr(pre.flags|pre.unshare_flags) == flags
	for i, f := range stdio {
		fits = fits && f.Fd() == uintptr(i)
	}
	if !fits {
		sp.discard()
		return nil, nil, nil
	}
	body, fast = prestartedWarm(&pre)
	return sp, body, fast
}

// cloneInit clones the calling thread as an init stage in the namespaces
// of flags, with a copy of the launcher's memory (see nook_spawn), to run
// prog as spec s says once it has its id maps and the sync byte.
func cloneInit(flags uintptr, s *specs.Spec, prog unsafe.Pointer, n int, stdio [3]*os.File) (*spawn, error) {
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
	args := C.struct_nook_spawn_args{
		flags:         C.ulong(flags & atClone),
		unshare_flags: C.ulong(flags &^ atClone),
		status_fd:     C.int(statusW.Fd()),
		go_fd:         C.int(goR.Fd()),
		sync_fd:       C.int(syncR.Fd()),
	}
	for i, f := range stdio {
		args.stdio[i] = C.int(f.Fd())
	}
	setArgs(&args, s, prog, n)
	var mem unsafe.Pointer
	pid := int(C.nook_spawn(&args, &mem))
	if pid < 0 {
		statusR.Close()
		goW.Close()
		syncW.Close()
		return nil, explainStart(syscall.Errno(-pid))
	}
	return &spawn{pid: pid, status: statusR, goW: goW, syncW: syncW, mem: mem}, nil
}

// discard ends an init stage that has not started the app; it is reaped
// beside the launch (its namespaces take a while to go).
func (sp *spawn) discard() {
	unix.Kill(sp.pid, unix.SIGKILL)
	sp.status.Close()
	sp.goW.Close()
	go sp.reap()
}

// kill ends an init stage that has not started the app, and reaps it.
func (sp *spawn) kill() {
	unix.Kill(sp.pid, unix.SIGKILL)
	sp.status.Close()
	sp.goW.Close()
	sp.reap()
}

// reap waits for init and frees its memory. It returns init's exit code,
// 125 when it cannot be waited for (its memory then stays allocated).
func (sp *spawn) reap() int {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(sp.pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 125
		}
		sp.release()
		return exitCode(ws)
	}
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
