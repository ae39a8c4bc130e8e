// Command probe reports what a process sees from inside a sandbox. Tests
// bind it into sandboxes and read its JSON output. It is static (no cgo) so
// it runs on any image.
//
//	probe status                 identity, capabilities, seccomp, session
//	probe syscalls NR...         errno of each raw syscall with zero args
//	probe tiocsti                TIOCSTI on stdin, plain and with high bits set
//	probe stat PATH...           whether each path exists, and its size
//	probe read PATH              content of a file
//	probe write PATH             tries to create PATH; prints the error
//	probe connect-abstract NAME  tries to connect to an abstract Unix socket
//	probe orphans N              forks N children that exit at once, unreaped
//	probe exit CODE              exits with CODE
//	probe sleep SECONDS          sleeps, then exits 0 (unless signalled)
//	probe hog MIB                allocates and touches MIB MiB, one at a time
//	probe spin THREADS SECONDS   busy-loops on THREADS threads; prints "ready"
//	                             first, then its CPU time, then sleeps 2 s
//	probe forkbomb N             forks up to N paused children; how many it got
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe COMMAND [ARGS]")
		os.Exit(2)
	}
	args := os.Args[2:]
	var out any
	switch os.Args[1] {
	case "status":
		out = status()
	case "syscalls":
		out = syscalls(args)
	case "tiocsti":
		out = tiocsti()
	case "stat":
		m := map[string]int64{}
		for _, p := range args {
			if st, err := os.Lstat(p); err == nil {
				m[p] = st.Size()
			} else {
				m[p] = -1
			}
		}
		out = m
	case "read":
		b, err := os.ReadFile(args[0])
		out = map[string]string{"data": string(b), "error": errString(err)}
	case "write":
		err := os.WriteFile(args[0], []byte("x"), 0o644)
		out = map[string]string{"error": errString(err)}
	case "connect-abstract":
		fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		err := unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + args[0]})
		out = map[string]string{"error": errString(err)}
	case "orphans":
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			// sh forks a child and exits; the grandchild is reparented to
			// init, which must reap it.
			exec.Command("/bin/sh", "-c", "/bin/true & exit 0").Run()
		}
		time.Sleep(300 * time.Millisecond)
		out = map[string]int{"zombies": zombies()}
	case "exit":
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	case "sleep":
		s, _ := strconv.ParseFloat(args[0], 64)
		fmt.Println("ready")
		time.Sleep(time.Duration(s * float64(time.Second)))
		return
	case "hog":
		out = hog(args)
	case "spin":
		spin(args)
		return
	case "forkbomb":
		out = forkbomb(args)
	default:
		fmt.Fprintln(os.Stderr, "probe: unknown command", os.Args[1])
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	if errno, ok := underlying(err); ok {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func underlying(err error) (syscall.Errno, bool) {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return e, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return 0, false
		}
		err = u.Unwrap()
	}
	return 0, false
}

// status reports the fields of /proc/self/status and /proc/1 that the
// security invariants are about.
func status() map[string]any {
	out := map[string]any{
		"uid": os.Getuid(), "gid": os.Getgid(), "euid": os.Geteuid(),
		"pid": os.Getpid(),
	}
	sid, _ := unix.Getsid(0)
	out["sid"] = sid
	out["self"] = procStatus("/proc/self/status")
	out["init"] = procStatus("/proc/1/status")
	var tasks []map[string]string
	ents, _ := os.ReadDir("/proc/1/task")
	for _, e := range ents {
		tasks = append(tasks, procStatus("/proc/1/task/"+e.Name()+"/status"))
	}
	out["init_tasks"] = tasks
	_, err := os.ReadFile("/proc/1/environ")
	out["init_environ_error"] = errString(err)
	b, _ := os.ReadFile("/proc/self/uid_map")
	out["uid_map"] = strings.TrimSpace(string(b))
	b, _ = os.ReadFile("/proc/self/gid_map")
	out["gid_map"] = strings.TrimSpace(string(b))
	host, _ := os.Hostname()
	out["hostname"] = host
	var pids []string
	ents, _ = os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, e.Name())
		}
	}
	out["pids"] = pids
	ents, _ = os.ReadDir("/sys/class/net")
	var ifs []string
	for _, e := range ents {
		ifs = append(ifs, e.Name())
	}
	out["interfaces"] = ifs
	ents, _ = os.ReadDir("/dev")
	var devs []string
	for _, e := range ents {
		devs = append(devs, e.Name())
	}
	out["dev"] = devs
	out["env"] = os.Environ()
	cwd, _ := os.Getwd()
	out["cwd"] = cwd
	return out
}

func procStatus(path string) map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		m["error"] = errString(err)
		return m
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch k {
		case "Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Groups":
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// syscalls makes each raw syscall with zero arguments and reports its errno
// name ("" when it succeeded).
func syscalls(nrs []string) map[string]string {
	out := map[string]string{}
	for _, s := range nrs {
		nr, _ := strconv.Atoi(s)
		_, _, e := unix.RawSyscall6(uintptr(nr), 0, 0, 0, 0, 0, 0)
		if e == 0 {
			out[s] = ""
		} else {
			out[s] = unix.ErrnoName(e)
		}
	}
	return out
}

// tiocsti tries to push a character into the terminal on stdin.
func tiocsti() map[string]string {
	c := byte('x')
	out := map[string]string{}
	for name, cmd := range map[string]uintptr{"plain": unix.TIOCSTI, "highbits": unix.TIOCSTI | 1<<32} {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, cmd, uintptr(unsafe.Pointer(&c)))
		out[name] = ""
		if e != 0 {
			out[name] = unix.ErrnoName(e)
		}
	}
	return out
}

func zombies() int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			n++
		}
	}
	return n
}
