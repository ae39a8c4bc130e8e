package seccomp

import (
	"runtime"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options selects the variants of the default policy.
type Options struct {
	// NestedSandbox lets the app build a sandbox of its own, as Chromium,
	// Electron and Firefox do: clone with CLONE_NEW* flags, unshare and setns
	// become allowed, and so does chroot (their sandboxes chroot into an empty
	// directory inside the new user namespace). The namespaces created are
	// owned by the sandbox's user namespace, so their capabilities reach
	// nothing outside it. clone3 stays ENOSYS (its flags live in memory the
	// filter cannot read); libc falls back to clone.
	NestedSandbox bool
}

// Default returns nook's default policy. It is pure: the result depends only
// on opts and the architecture nook was built for, and the caller owns it.
//
// The policy is an allowlist. It denies at least everything Docker's default
// profile denies a process without capabilities, and also:
//
//   - ioctl TIOCSTI and TIOCLINUX (terminal input injection), comparing the
//     command as the 32-bit value the kernel uses;
//   - the new mount API (fsopen, fsconfig, fsmount, fspick, open_tree,
//     move_mount, mount_setattr), keyrings (keyctl, add_key, request_key) and
//     io_uring;
//   - namespace creation (clone with a CLONE_NEW* flag, unshare, setns), unless
//     opts.NestedSandbox;
//   - ptrace, process_vm_readv and process_vm_writev. Docker allows them on
//     kernels >= 4.8 (before, a tracer could rewrite a syscall after the
//     filter had passed it). nook denies them: desktop apps do not need them
//     (a crash reporter that ptraces its crashed child only loses the
//     minidump), and ptrace is kernel attack surface with a history of
//     sandbox escapes. This does not isolate an app's processes from each
//     other: they share a uid, so one can still write another's memory
//     through /proc/PID/mem. A profile that runs a debugger opts in with
//     allow_syscalls.
//
// Denied syscalls the policy names fail with EPERM; clone3 fails with ENOSYS
// so that libc falls back to clone, whose flags the filter can check; every
// other syscall — one the policy does not know, or one newer than the
// compiling libseccomp — fails with ENOSYS, the answer libc and runtimes
// treat as "not implemented here, fall back". Arguments a conditional rule
// does not allow (for example personality values) fall to that default too.
//
// On amd64 the policy covers x86_64, x86 and x32, on arm64 aarch64 and arm:
// a filter that covered only the native ABI would let int 0x80 or a 32-bit
// binary bypass it.
func Default(opts Options) *specs.LinuxSeccomp {
	allow := slices.Clone(allowed)
	deny := slices.Clone(denied)
	var rules []specs.LinuxSyscall
	if opts.NestedSandbox {
		allow = append(allow, namespaceSyscalls...)
		allow = append(allow, "clone")
	} else {
		deny = append(deny, namespaceSyscalls...)
		rules = append(rules, cloneRules()...)
	}

	rules = append(rules, rule(specs.ActAllow, nil, allow...))
	rules = append(rules, ioctlRules()...)
	rules = append(rules, socketRules()...)
	rules = append(rules, personalityRules()...)
	rules = append(rules, rule(specs.ActErrno, errno(unix.EPERM), deny...))
	rules = append(rules, rule(specs.ActErrno, errno(unix.ENOSYS), "clone3"))
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errno(unix.ENOSYS),
		Architectures:   slices.Clone(archFamilies[runtime.GOARCH]),
		Syscalls:        rules,
	}
}

// archFamilies are the ABIs a process of each GOARCH can use. A filter must
// cover all of them; see Default.
var archFamilies = map[string][]specs.Arch{
	"amd64": {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64": {specs.ArchAARCH64, specs.ArchARM},
	"386":   {specs.ArchX86},
	"arm":   {specs.ArchARM},
}

// cloneNewFlags are the CLONE_NEW* flags clone(2) accepts (CLONE_NEWTIME
// exists only for clone3 and unshare; in clone its bit is the exit signal).
const cloneNewFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// cloneRules allow clone without CLONE_NEW* flags and make it EPERM with any
// of them. The kernel reads clone's flags as a 64-bit value but ignores the
// high half, so the checks look at the low half only.
func cloneRules() []specs.LinuxSyscall {
	index := uint(0)
	if runtime.GOARCH == "s390x" {
		index = 1 // s390 swaps clone's first two arguments
	}
	rules := []specs.LinuxSyscall{
		condRule("clone", specs.ActAllow, nil, masked(index, cloneNewFlags, 0)),
	}
	for bit := uint64(1); bit <= 1<<31; bit <<= 1 {
		if bit&cloneNewFlags != 0 {
			rules = append(rules, condRule("clone", specs.ActErrno, errno(unix.EPERM), masked(index, bit, bit)))
		}
	}
	return rules
}

// ioctlRules allow every ioctl except TIOCSTI and TIOCLINUX, which get EPERM.
//
// libseccomp cannot express "allow, except": given an unconditional ALLOW
// and a conditional ERRNO for one syscall, libseccomp 2.5 silently drops the
// conditional rule (in either order), and overlapping conditional rules with
// different actions are resolved by an internal ordering nook should not
// rely on. So the allowed commands are spelled out as masked-equality tests
// that together match exactly the 32-bit values other than the two denied
// ones (see maskedCover), and no two rules overlap.
//
// The kernel's ioctl takes the command as an unsigned int and ignores the
// high half of the register, so every test masks the argument to 32 bits: a
// command with high bits set is judged by its low 32 bits, as the kernel
// will execute it.
func ioctlRules() []specs.LinuxSyscall {
	return exceptRules("ioctl", 1, 32, unix.TIOCSTI, unix.TIOCLINUX)
}

// socketRules allow socket(2) for address families 0..63 except AF_ALG and
// AF_VSOCK, which get EPERM; Docker denies the same two. Docker compares the
// family with 64-bit LT/EQ/GT, which AF_ALG with high bits set passes while
// the kernel, which takes an int, creates an AF_ALG socket; nook compares
// the low 32 bits, as ioctlRules do. Families from 64 up do not exist
// (AF_MAX is 46) and get the default ENOSYS.
func socketRules() []specs.LinuxSyscall {
	return exceptRules("socket", 0, 6, unix.AF_ALG, unix.AF_VSOCK)
}

// personalityRules allow the personality values Docker allows: PER_LINUX,
// PER_LINUX32, UNAME26, PER_LINUX32|UNAME26 and the query 0xffffffff.
func personalityRules() []specs.LinuxSyscall {
	var rules []specs.LinuxSyscall
	for _, v := range []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff} {
		rules = append(rules, condRule("personality", specs.ActAllow, nil,
			specs.LinuxSeccompArg{Index: 0, Value: v, Op: specs.OpEqualTo}))
	}
	return rules
}

// exceptRules allows syscall name when the low 32 bits of argument index are
// below 1<<width and none of deny, and makes it EPERM for each value in deny.
// Values from 1<<width up get the default action. Every deny value must be
// below 1<<width.
func exceptRules(name string, index uint, width int, deny ...uint32) []specs.LinuxSyscall {
	var rules []specs.LinuxSyscall
	for _, m := range maskedCover(width, deny) {
		rules = append(rules, condRule(name, specs.ActAllow, nil, masked(index, uint64(m.mask), uint64(m.value))))
	}
	for _, d := range deny {
		rules = append(rules, condRule(name, specs.ActErrno, errno(unix.EPERM), masked(index, 0xffffffff, uint64(d))))
	}
	return rules
}

// maskedEq is the test (x & mask) == value on a 32-bit value x.
type maskedEq struct{ mask, value uint32 }

// maskedCover returns masked-equality tests that, ORed, match exactly the
// 32-bit values below 1<<width that are not in deny. The tests are disjoint.
// It walks the binary trie of deny from the top bit down: at each bit, the
// half that holds no denied value is one test (its mask covers the bits
// decided so far), the half that does is split further. The result has at
// most width tests per denied value. Every deny value must be below
// 1<<width; with deny empty the single test matches every value below it.
func maskedCover(width int, deny []uint32) []maskedEq {
	var out []maskedEq
	var walk func(mask, value uint32, bit int, deny []uint32)
	walk = func(mask, value uint32, bit int, deny []uint32) {
		if len(deny) == 0 {
			out = append(out, maskedEq{mask, value})
			return
		}
		if bit < 0 {
			return // value is denied
		}
		b := uint32(1) << bit
		var zero, one []uint32
		for _, d := range deny {
			if d&b == 0 {
				zero = append(zero, d)
			} else {
				one = append(one, d)
			}
		}
		walk(mask|b, value, bit-1, zero)
		walk(mask|b, value|b, bit-1, one)
	}
	walk(^uint32(0)<<width, 0, width-1, deny)
	return out
}

// namespaceSyscalls are denied unless Options.NestedSandbox; clone is
// handled by cloneRules.
var namespaceSyscalls = []string{"chroot", "setns", "unshare"}

// denied are the syscalls that get EPERM: those Docker allows only with a
// capability a sandboxed app never holds, and nook's own additions. Obsolete
// and unknown syscalls are not listed; they get the default ENOSYS.
var denied = []string{
	// Mounts, including the new mount API.
	"mount", "umount", "umount2", "pivot_root",
	"fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "open_tree_attr",
	"move_mount", "mount_setattr",
	// Keyrings.
	"add_key", "keyctl", "request_key",
	// io_uring: its operations bypass the per-syscall filter.
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	// Tracing and looking into other processes (see Default on ptrace).
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
	"kcmp", "pidfd_getfd", "perf_event_open", "bpf", "userfaultfd",
	"fanotify_init", "open_by_handle_at", "lookup_dcookie",
	// The machine: kernel, modules, clocks, swap, accounting, names, ports.
	"reboot", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module",
	"settimeofday", "stime", "clock_settime", "clock_settime64",
	"swapon", "swapoff", "acct", "syslog", "quotactl", "quotactl_fd",
	"sethostname", "setdomainname", "vhangup", "iopl", "ioperm",
	"lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
	// NUMA placement (CAP_SYS_NICE in Docker).
	"get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "mbind",
	"migrate_pages", "move_pages",
}

// allowed are the syscalls allowed with any arguments: the unconditional
// allowlist of Docker's default profile (moby/profiles seccomp/default.json)
// minus ioctl, plus the arch-specific entries for the architectures nook
// supports. Names foreign to an architecture are ignored when compiling for
// it. ioctl, socket, personality and clone are allowed by conditional rules.
var allowed = []string{
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
	"capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
	"clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
	"clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close",
	"close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
	"execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
	"fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
	"fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
	"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
	"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
	"futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake",
	"futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
	"get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
	"get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
	"getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc",
	"kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
	"lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listmount",
	"listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek",
	"lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier",
	"memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat",
	"mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
	"mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv",
	"msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
	"nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
	"pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
	"preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
	"pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
	"recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
	"removexattr", "removexattrat", "rename", "renameat", "renameat2", "restart_syscall",
	"rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
	"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
	"sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
	"sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
	"sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
	"setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
	"setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
	"setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
	"set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat",
	"stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
	"sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
	"timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
	"timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
	"timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
	"truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
	"uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
	"wait4", "waitid", "waitpid", "write", "writev",
	// x86 (Docker: amd64, x32, x86).
	"arch_prctl", "modify_ldt",
	// arm (Docker: arm, arm64).
	"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
	"cacheflush", "set_tls",
}

// rule returns an unconditional rule for names; errnoRet is nil for actions
// that take none.
func rule(a specs.LinuxSeccompAction, errnoRet *uint, names ...string) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: names, Action: a, ErrnoRet: errnoRet}
}

// condRule returns a rule for one syscall that applies when all args hold.
func condRule(name string, a specs.LinuxSeccompAction, errnoRet *uint, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: []string{name}, Action: a, ErrnoRet: errnoRet, Args: args}
}

// masked returns the test (argument index & mask) == value.
func masked(index uint, mask, value uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Value: mask, ValueTwo: value, Op: specs.OpMaskedEqual}
}

// errno returns a fresh pointer to e, so that no two rules share one.
func errno(e unix.Errno) *uint {
	v := uint(e)
	return &v
}
