// System calls for the init stage's child (initstage.c), without libc.
//
// The child is a copy of one thread of the launcher, made by clone(2)
// without exec: of a multi-threaded Go process, whose other threads it
// does not have (glibc's setresuid would wait for them forever, and a
// lock one of them held stays held), or of nook run before its Go runtime
// started. It made its system calls through libc before, sharing the
// launcher's memory: libc's errno was then the launcher thread's, which
// the Go runtime wrote at the same time (about once in fifty launches an
// openat2 failing with ENOENT read back as EINVAL). It no longer shares
// that memory, but keeps making its system calls itself, with an errno of
// its own: a plain global, which the app's task shares with init only
// until exec, while init waits in vfork. The calls go to the kernel with
// nothing in between, whatever the libc.
//
// Include this after the system headers and only from the child's code:
// it redefines errno and the names of the libc functions the child uses.

#ifndef NOOK_RAWSYS_H
#define NOOK_RAWSYS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>

static int nk_errno;

static inline long nk_raw(long n, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
#else
#error "initstage.c: raw system calls are written for x86_64 and aarch64 only"
#endif
}

// nk_ret turns a raw result into libc's convention, with nk_errno.
static inline long nk_ret(long r) {
	if ((unsigned long)r > -4096UL) {
		nk_errno = (int)-r;
		return -1;
	}
	return r;
}

#define NK6(n, a, b, c, d, e, f) nk_ret(nk_raw((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f)))
#define NK3(n, a, b, c) NK6(n, a, b, c, 0, 0, 0)

static long nk_syscall(long n, ...) {
	va_list ap;
	va_start(ap, n);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	return NK6(n, a, b, c, d, e, f);
}

static int nk_openat(int dir, const char *path, int flags, ...) {
	mode_t mode = 0;
	if (flags & O_CREAT) { // (the child never uses O_TMPFILE)
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return NK6(SYS_openat, dir, path, flags, mode, 0, 0);
}

static int nk_fcntl(int fd, int cmd, ...) {
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return NK3(SYS_fcntl, fd, cmd, arg);
}

static int nk_ioctl(int fd, unsigned long req, ...) {
	va_list ap;
	va_start(ap, req);
	long arg = va_arg(ap, long);
	va_end(ap);
	return NK3(SYS_ioctl, fd, req, arg);
}

static int nk_prctl(int op, ...) {
	va_list ap;
	va_start(ap, op);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long), d = va_arg(ap, long);
	va_end(ap);
	return NK6(SYS_prctl, op, a, b, c, d, 0);
}

static int nk_close(int fd) { return NK3(SYS_close, fd, 0, 0); }
static ssize_t nk_read(int fd, void *b, size_t n) { return NK3(SYS_read, fd, b, n); }
static ssize_t nk_write(int fd, const void *b, size_t n) { return NK3(SYS_write, fd, b, n); }
static int nk_mount(const char *src, const char *dst, const char *type, unsigned long flags, const void *data) {
	return NK6(SYS_mount, src, dst, type, flags, data, 0);
}
static int nk_umount2(const char *path, int flags) { return NK3(SYS_umount2, path, flags, 0); }
static int nk_mkdirat(int dir, const char *path, mode_t mode) { return NK3(SYS_mkdirat, dir, path, mode); }
static int nk_mkdir(const char *path, mode_t mode) { return nk_mkdirat(AT_FDCWD, path, mode); }
static int nk_symlinkat(const char *target, int dir, const char *path) { return NK3(SYS_symlinkat, target, dir, path); }
static int nk_symlink(const char *target, const char *path) { return nk_symlinkat(target, AT_FDCWD, path); }
static int nk_fstatat(int dir, const char *path, struct stat *st, int flags) {
	return NK6(SYS_newfstatat, dir, path, st, flags, 0, 0);
}
static int nk_stat(const char *path, struct stat *st) { return nk_fstatat(AT_FDCWD, path, st, 0); }
static int nk_fstat(int fd, struct stat *st) { return nk_fstatat(fd, "", st, AT_EMPTY_PATH); }
static int nk_fstatfs(int fd, struct statfs *st) { return NK3(SYS_fstatfs, fd, st, 0); }
static int nk_chdir(const char *path) { return NK3(SYS_chdir, path, 0, 0); }
static int nk_fchdir(int fd) { return NK3(SYS_fchdir, fd, 0, 0); }
static int nk_fchmod(int fd, mode_t mode) { return NK3(SYS_fchmod, fd, mode, 0); }
static int nk_fchmodat(int dir, const char *path, mode_t mode, int flags) {
	return flags ? (nk_errno = EINVAL, -1) : NK3(SYS_fchmodat, dir, path, mode);
}
static int nk_unshare(int flags) { return NK3(SYS_unshare, flags, 0, 0); }
static int nk_dup3(int from, int to, int flags) { return NK3(SYS_dup3, from, to, flags); }
static int nk_kill(pid_t pid, int sig) { return NK3(SYS_kill, pid, sig, 0); }
static int nk_setpgid(pid_t pid, pid_t pgid) { return NK3(SYS_setpgid, pid, pgid, 0); }
static pid_t nk_setsid(void) { return NK3(SYS_setsid, 0, 0, 0); }
static int nk_sethostname(const char *name, size_t n) { return NK3(SYS_sethostname, name, n, 0); }
static int nk_socket(int domain, int type, int proto) { return NK3(SYS_socket, domain, type, proto); }
static int nk_poll(struct pollfd *fds, nfds_t n, int timeout) {
	// Only a timeout of 0 is used: ppoll exists on every architecture.
	struct timespec ts = {timeout / 1000, (timeout % 1000) * 1000000L};
	return NK6(SYS_ppoll, fds, n, timeout < 0 ? NULL : &ts, 0, 0, 0);
}
static pid_t nk_waitpid(pid_t pid, int *status, int options) { return NK6(SYS_wait4, pid, status, options, 0, 0, 0); }
static int nk_execve(const char *path, char *const argv[], char *const envp[]) { return NK3(SYS_execve, path, argv, envp); }
// The kernel's sigset is 8 bytes: libc's larger sigset_t starts with it.
static int nk_sigprocmask(int how, const sigset_t *set, sigset_t *old) { return NK6(SYS_rt_sigprocmask, how, set, old, 8, 0, 0); }
static void *nk_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
	long r = nk_raw(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
	if ((unsigned long)r > -4096UL) {
		nk_errno = (int)-r;
		return MAP_FAILED;
	}
	return (void *)r;
}
static int nk_sched_setaffinity(pid_t pid, size_t size, const void *mask) { return NK3(SYS_sched_setaffinity, pid, size, mask); }
static int nk_signalfd(int fd, const sigset_t *mask, int flags) { return NK6(SYS_signalfd4, fd, mask, 8, flags, 0, 0); }

#undef errno
#define errno nk_errno
#define syscall nk_syscall
#define open(path, ...) nk_openat(AT_FDCWD, path, __VA_ARGS__)
#define openat nk_openat
#define fcntl nk_fcntl
#define ioctl nk_ioctl
#define prctl nk_prctl
#define close nk_close
#define read nk_read
#define write nk_write
#define mount nk_mount
#define umount2 nk_umount2
#define mkdirat nk_mkdirat
#define mkdir nk_mkdir
#define symlinkat nk_symlinkat
#define symlink nk_symlink
#define fstatat nk_fstatat
#define stat(p, s) nk_stat(p, s)
#define fstat nk_fstat
#define fstatfs nk_fstatfs
#define chdir nk_chdir
#define fchdir nk_fchdir
#define fchmod nk_fchmod
#define fchmodat nk_fchmodat
#define unshare nk_unshare
#define dup3 nk_dup3
#define kill nk_kill
#define setpgid nk_setpgid
#define setsid nk_setsid
#define sethostname nk_sethostname
#define socket nk_socket
#define poll nk_poll
#define waitpid nk_waitpid
#define execve nk_execve
#define sigprocmask nk_sigprocmask
#define signalfd nk_signalfd
#define mmap nk_mmap
#define sched_setaffinity(p, n, m) nk_sched_setaffinity(p, n, m)

#endif
