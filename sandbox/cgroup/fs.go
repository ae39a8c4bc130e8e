package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// mountRoot is where cgroup hierarchies are mounted.
const mountRoot = "/sys/fs/cgroup"

// Unified reports whether /sys/fs/cgroup is a cgroup v2 file system (the
// host is "unified", not v1 or hybrid).
func Unified() bool {
	var st unix.Statfs_t
	return unix.Statfs(mountRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// ownCgroups parses /proc/self/cgroup: the launcher's cgroup per v1
// controller, and under "" its cgroup v2 path.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own, sc.Err()
}

// writeFile writes value to file dir/name, naming both in the error.
func writeFile(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, filepath.Join(dir, name), err)
	}
	return nil
}

// readUint reads a file holding one number; "max" and v1's "unlimited"
// sentinel read as 0.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if n >= 1<<62 { // v1 writes "no limit" as the largest page-aligned int64
		return 0, nil
	}
	return n, nil
}

// readKey reads "key value" lines (memory.events, cpu.stat,
// memory.oom_control) and returns the value of key.
func readKey(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}

// procs lists the pids in a group's cgroup.procs.
func procs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killProcs SIGKILLs the processes of dir until none is left, for up to
// five seconds. A missing dir is empty.
func killProcs(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := procs(dir)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) || (err == nil && len(pids) == 0) {
			return nil // ENODEV: the group is being removed (a systemd scope)
		}
		if err != nil {
			return err
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in %s survive SIGKILL", pids, dir)
		}
		time.Sleep(time.Millisecond)
	}
}

// removeDir removes a group directory, waiting briefly while the kernel
// finishes reaping its last processes (EBUSY). A missing dir is removed.
func removeDir(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		killProcs(dir)
		time.Sleep(5 * time.Millisecond)
	}
}

// parentName is the directory that holds nook's groups in a cgroupfs
// hierarchy. It is removed when its last group is: it sits in the
// launcher's own cgroup, which its owner may want to remove.
const parentName = "nook"

// mkdirUnder makes parent (with mkParent; an existing one is fine) and
// then leaf in it, trying again when another nook removed the emptied
// parent in between.
func mkdirUnder(mkParent func() error, leaf func() error) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = mkParent(); err != nil {
			return err
		}
		if err = leaf(); !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return err
}

// removeParent removes the parent directory of a removed group if it is
// nook's and empty; a parent still in use stays (EBUSY, ENOTEMPTY).
func removeParent(dir string) {
	if p := filepath.Dir(dir); filepath.Base(p) == parentName {
		unix.Rmdir(p)
	}
}

// writable reports whether the caller may create groups in dir.
func writable(dir string) bool { return unix.Access(dir, unix.W_OK) == nil }

func isPerm(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS)
}
