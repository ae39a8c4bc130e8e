// The init stage: the sandbox's PID 1, in C.
//
// nook_spawn clones the launcher's calling thread into new namespaces
// without exec: the child runs the program the launcher compiled from the
// plan (program.go), which it finds in its copy of the launcher's memory,
// then locks itself down, starts the app and supervises it. Skipping a
// second exec and Go runtime start is what makes a launch cost about what
// bubblewrap's does (bench/launch.sh).
//
// Rules for this file, since the child is a copy of one thread of a
// multi-threaded Go process: it makes its system calls itself, with an
// errno of its own (rawsys.h), calls only libc functions that touch no
// shared state (string functions; no malloc, no stdio, no locks; memory
// it needs comes from mmap), never returns into Go, and leaves with _exit. The
// launcher's side (nook_spawn, the prestart constructor) is in spawn.c.

#define _GNU_SOURCE
#include "initstage.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawsys.h" // last: the child's own system calls and errno

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

// Descriptors in the child.
enum { FD_STATUS = 3, FD_GO = 4, FD_SYNC = 5, FD_FIRST_FREE = 6 };

// Opcodes of the program; program.go has the same list.
enum {
	OP_SOURCE = 1,    // u32 idx, str path, str dest: open a bind source
	OP_OVERLAY_DIR,   // u32 role (0 lower, 1 upper, 2 work), str path
	OP_SCRATCH,       // the scratch tmpfs on /tmp, /tmp/root, /tmp/files
	OP_ROOT_TMPFS,    // a tmpfs as the new root
	OP_OVERLAY,       // u32 flags, str data, u32 n, n x str dir: the image root
	OP_MOUNT,         // str dest, str type, str source, u32 flags, str data
	OP_BIND,          // u32 idx, str dest, str source, u32 rec, u32 remount flags
	OP_SYMLINK,       // str path, str target
	OP_FILE,          // str path, u32 mode, str data: staged
	OP_SEAL_FILES,    // the staged files become read-only
	OP_BIND_FILE,     // u32 n, str path: bind staged file n
	OP_READONLY,      // str path
	OP_MASK,          // str path
	OP_PIVOT,
	OP_ROOT_READONLY,
	OP_HOSTNAME,      // str name
	OP_LOOPBACK,
	OP_END,
};

#define MAX_SOURCES 1024 // program.go: maxMounts
#define MAX_LAYERS 512
#define NUMBERED 56 // room for a short prefix and a 64-bit number

struct reader {
	const unsigned char *p, *end;
};

// stage is the init stage's state. It lives on the child's own stack.
struct stage {
	const char *app;
	const char *doing; // what init is doing, for error messages
	struct reader prog;
	int sources[MAX_SOURCES]; // bind sources by mount index
	int lower[MAX_LAYERS], nlower, upper, work;
	int rootfd; // the new root, until pivot
	int nfiles;
	// unconfirmed: the program is a warm record's that the launcher has
	// not confirmed yet (nook_spawn_args.speculative). own are the
	// devices of the tmpfs mounts init made, where it may write before.
	int unconfirmed;
	dev_t own[32];
	int nown;
	// newapp is the app section the launcher's verdict 'a' hands over
	// (take_app).
	struct reader newapp;
	char msg[8192]; // the error or report being written
	size_t msglen;
	char line[8192 * 4 + 64];
	char path[4096]; // scratch for path building
	char data[4096]; // the overlay's options
	// What the app's task tells init when it could not exec: it shares
	// init's memory until then (vfork).
	volatile int child_errno, child_stage;
	// child_file is the command the app's task tried to exec when it
	// took the verdict's app section itself (reuse_task); NULL otherwise.
	const char *volatile child_file;
};

// ---- errors: one line on the status descriptor, in the format parseReport
// (report.go) reads

static void put(struct stage *c, const char *s) {
	while (*s && c->msglen < sizeof c->msg - 1)
		c->msg[c->msglen++] = *s++;
	c->msg[c->msglen] = 0;
}

// numbered writes prefix and n in decimal at the end of buf and returns
// where they start; prefix is at most 30 bytes.
static const char *numbered(const char *prefix, unsigned long n, char buf[NUMBERED]) {
	char *p = buf + NUMBERED;
	*--p = 0;
	do {
		*--p = '0' + n % 10;
		n /= 10;
	} while (n);
	size_t l = strlen(prefix);
	p -= l;
	memcpy(p, prefix, l);
	return p;
}

static void putnum(struct stage *c, unsigned long n) {
	char b[NUMBERED];
	put(c, numbered("", n, b));
}

// puterr adds errno e as Go prints it: glibc's text, first letter lower.
static void puterr(struct stage *c, int e) {
#ifdef __GLIBC__
	const char *d = strerrordesc_np(e); // glibc's strerror may translate, and allocate
#else
	const char *d = strerror(e); // musl's is a table lookup
#endif
	if (!d) {
		put(c, "errno ");
		putnum(c, e);
		return;
	}
	size_t at = c->msglen;
	put(c, d);
	if (c->msg[at] >= 'A' && c->msg[at] <= 'Z' && !(c->msg[at + 1] >= 'A' && c->msg[at + 1] <= 'Z'))
		c->msg[at] += 'a' - 'A';
}

static void writeall(int fd, const char *b, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		b += w;
		n -= w;
	}
}

static void confirm(struct stage *c);

// fail sends "error CODE QUOTED" (msg, Go-quoted) and exits with code. A
// speculating init first waits for the launcher's verdict on its program:
// the error of a program the launcher discards is no one's.
static void __attribute__((noreturn)) fail(struct stage *c, int code) {
	confirm(c);
	char *line = c->line;
	size_t n = 0;
	const char *hex = "0123456789abcdef";
	char num[NUMBERED];
	for (const char *p = numbered("error ", code, num); *p; p++)
		line[n++] = *p;
	line[n++] = ' ';
	line[n++] = '"';
	for (size_t k = 0; k < c->msglen; k++) {
		unsigned char ch = c->msg[k];
		if (ch == '"' || ch == '\\') {
			line[n++] = '\\';
			line[n++] = ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			line[n++] = '\\';
			line[n++] = 'x';
			line[n++] = hex[ch >> 4];
			line[n++] = hex[ch & 15];
		} else {
			line[n++] = ch; // UTF-8 passes through; Go's Unquote takes it
		}
	}
	line[n++] = '"';
	line[n++] = '\n';
	writeall(FD_STATUS, line, n);
	_exit(code);
}

// setup_prefix starts the message every setup and lockdown error has.
static void setup_prefix(struct stage *c) {
	c->msglen = 0;
	put(c, c->doing);
	put(c, " sandbox for ");
	put(c, c->app);
	put(c, ": ");
}

// dief reports "setting up sandbox for APP: " and its strings up to
// NULL, then ": " and errno e, and exits 125.
static void __attribute__((noreturn, sentinel)) dief(struct stage *c, int e, ...) {
	setup_prefix(c);
	va_list ap;
	va_start(ap, e);
	for (const char *s; (s = va_arg(ap, const char *));)
		put(c, s);
	va_end(ap);
	put(c, ": ");
	puterr(c, e);
	fail(c, 125);
}

// die reports "setting up sandbox for APP: WHAT ARG: ERRNO" and exits 125.
static void __attribute__((noreturn)) die(struct stage *c, const char *what, const char *arg, int e) {
	if (arg)
		dief(c, e, what, " ", arg, NULL);
	dief(c, e, what, NULL);
}

// ---- the program

static void __attribute__((noreturn)) bad_program(struct stage *c) {
	setup_prefix(c);
	put(c, "malformed plan program (it does not come from this build of nook)");
	fail(c, 125);
}

// next_u32 and next_str read the next uint32 and string from r; they
// return 0, and leave r as it was, when r does not hold one.
static int next_u32(struct reader *r, uint32_t *v) {
	if (r->end - r->p < 4)
		return 0;
	*v = r->p[0] | r->p[1] << 8 | r->p[2] << 16 | (uint32_t)r->p[3] << 24;
	r->p += 4;
	return 1;
}

// next_str's string stays in place; n, when not NULL, gets its length.
static int next_str(struct reader *r, const char **s, uint32_t *n) {
	struct reader at = *r;
	uint32_t len;
	if (!next_u32(&at, &len) || (size_t)(at.end - at.p) < (size_t)len + 1 || at.p[len] != 0)
		return 0;
	*s = (const char *)at.p;
	if (n)
		*n = len;
	r->p = at.p + len + 1;
	return 1;
}

static uint32_t u32(struct stage *c) {
	uint32_t v;
	if (!next_u32(&c->prog, &v))
		bad_program(c);
	return v;
}

// str returns the next string in place; n, when not NULL, gets its length.
static const char *strn(struct stage *c, uint32_t *n) {
	const char *s;
	if (!next_str(&c->prog, &s, n))
		bad_program(c);
	return s;
}

static const char *str(struct stage *c) { return strn(c, NULL); }

// ---- paths inside the new root, resolved by the kernel (openat2
// RESOLVE_IN_ROOT): symlinks and .. cannot leave it.

static int resolve(struct stage *c, const char *path, int flags, mode_t mode) {
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.mode = mode,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	for (;;) {
		long fd = syscall(SYS_openat2, c->rootfd, path, &how, sizeof how);
		if (fd < 0 && errno == EAGAIN)
			continue; // a rename raced the lookup
		return fd;
	}
}

// fdpath names descriptor fd for mount(2).
static const char *fdpath(int fd, char buf[NUMBERED]) { return numbered("/proc/self/fd/", fd, buf); }

// ---- speculation: a prestarted init may run a warm record's program
// before the launcher has compared it with the plan (warm.go). Until the
// launcher confirms, init changes nothing but its own namespaces and the
// tmpfs mounts it made itself.

// confirm waits for the launcher's confirmation of a speculative program,
// if it has not come yet. The launcher closes the go descriptor instead
// when the program is not the plan's: init then exits without a report.
//
// The verdict is one byte: 'c', the program is the launcher's; or 'a',
// all but the app section is (the app's arguments or environment
// changed), and the launcher's own app section is in the arguments.
//
// The new app section follows 'a' on the go descriptor: its length (a
// uint32) and its bytes, which take_app reads into memory of init's own.
static int read_full(int fd, void *b, size_t n) {
	for (char *p = b; n > 0;) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

static int read_app(struct stage *c) {
	unsigned char n[4];
	if (read_full(FD_GO, n, 4) < 0)
		return -1;
	uint32_t len = n[0] | n[1] << 8 | n[2] << 16 | (uint32_t)n[3] << 24;
	if (len == 0 || len > 64u << 20)
		return -1;
	unsigned char *app = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (app == MAP_FAILED || read_full(FD_GO, app, len) < 0)
		return -1;
	c->newapp.p = app;
	c->newapp.end = app + len;
	return 0;
}

static void take_app(struct stage *c) {
	if (read_app(c) < 0)
		_exit(125);
}

static void confirm(struct stage *c) {
	if (!c->unconfirmed)
		return;
	char b;
	ssize_t n;
	do
		n = read(FD_GO, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(125);
	c->unconfirmed = 0;
	if (b == 'a')
		take_app(c);
}

// own_mount records the tmpfs mounted on path (in the current root, or
// the new one when in_root) as init's own, while speculating.
static void own_mount(struct stage *c, const char *path, int in_root) {
	if (!c->unconfirmed || c->nown >= (int)(sizeof c->own / sizeof c->own[0]))
		return;
	struct stat st;
	if (in_root) {
		int fd = resolve(c, path, O_PATH | O_DIRECTORY, 0);
		if (fd < 0)
			return;
		int r = fstat(fd, &st);
		close(fd);
		if (r < 0)
			return;
	} else if (stat(path, &st) < 0)
		return;
	c->own[c->nown++] = st.st_dev;
}

// before_write is called before init creates something in directory dir:
// outside init's own tmpfs mounts (a bind of a host directory, an image's
// upper dir), a speculating init first waits for the confirmation.
static int own_dir(struct stage *c, int dir) {
	struct stat st;
	if (fstat(dir, &st) == 0)
		for (int i = 0; i < c->nown; i++)
			if (c->own[i] == st.st_dev)
				return 1;
	return 0;
}

static void before_write(struct stage *c, int dir) {
	if (c->unconfirmed && !own_dir(c, dir))
		confirm(c);
}

// open_parent opens the directory that holds path in the new root,
// creating it and its parents (0755) when missing, and sets *base to
// path's last component. The caller closes the result.
static int open_parent(struct stage *c, const char *path, const char **base) {
	char buf[4096];
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n);
	buf[n] = 0;
	char *slash = strrchr(buf, '/');
	if (!slash) {
		errno = EINVAL; // the plan's paths are absolute
		return -1;
	}
	*base = path + (slash - buf) + 1;
	if (slash == buf)
		return resolve(c, "/", O_PATH | O_DIRECTORY, 0);
	*slash = 0;
	int fd = resolve(c, buf, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	// Missing: make it in its own parent, then open it.
	const char *b;
	int p = open_parent(c, buf, &b);
	if (p < 0)
		return -1;
	before_write(c, p);
	int r = mkdirat(p, b, 0755);
	int e = errno;
	close(p);
	if (r < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	return resolve(c, buf, O_PATH | O_DIRECTORY, 0);
}

// mountpoint returns a descriptor of path in the new root for mount(2) to
// land on, first creating it, a directory (dir) or an empty file, when it
// is missing. Something that exists is resolved in the root, symlinks
// included; something created here is opened where it was made.
static int mountpoint(struct stage *c, const char *path, int dir) {
	const char *base;
	int p = open_parent(c, path, &base);
	if (p < 0)
		return -1;
	int fd;
	if (*base != 0 && c->unconfirmed && !own_dir(c, p)) {
		// Speculating outside init's own tmpfs mounts: only what is
		// missing waits to be created.
		if ((fd = resolve(c, path, O_PATH, 0)) >= 0 || errno != ENOENT) {
			int e = errno;
			close(p);
			errno = e;
			return fd;
		}
		confirm(c);
	}
	if (*base == 0)
		fd = resolve(c, path, O_PATH, 0);
	else if (dir)
		fd = mkdirat(p, base, 0755) == 0 ? openat(p, base, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC) : -1;
	else
		fd = openat(p, base, O_CREAT | O_EXCL | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST)
		fd = resolve(c, path, O_PATH, 0);
	int e = errno;
	close(p);
	errno = e;
	return fd;
}

// locked are the per-mount flags a user namespace may not clear from a
// mount it did not create; a read-only remount must repeat them.
static unsigned long locked_flags(int fd) {
	struct statfs st;
	if (fstatfs(fd, &st) < 0)
		return 0;
	unsigned long f = 0;
	if (st.f_flags & ST_NOSUID)
		f |= MS_NOSUID;
	if (st.f_flags & ST_NODEV)
		f |= MS_NODEV;
	if (st.f_flags & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (st.f_flags & ST_NOATIME)
		f |= MS_NOATIME;
	if (st.f_flags & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (st.f_flags & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

// remount applies flags to the mount on top of path (in the new root),
// keeping the flags the kernel locked on it.
static int remount(struct stage *c, const char *path, unsigned long flags) {
	int fd = resolve(c, path, O_PATH, 0); // opened after the mount: its root
	if (fd < 0)
		return -1;
	char b[NUMBERED];
	int r = mount("", fdpath(fd, b), "", MS_BIND | MS_REMOUNT | flags | locked_flags(fd), "");
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static void op_source(struct stage *c) {
	uint32_t idx = u32(c);
	const char *path = str(c), *dest = str(c);
	if (idx >= MAX_SOURCES)
		bad_program(c);
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		dief(c, errno, "opening bind source ", path, " for ", dest, NULL);
	c->sources[idx] = fd;
}

static void op_overlay_dir(struct stage *c) {
	uint32_t role = u32(c);
	const char *path = str(c);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die(c, "opening overlay directory", path, errno);
	switch (role) {
	case 0:
		if (c->nlower >= MAX_LAYERS)
			bad_program(c);
		c->lower[c->nlower++] = fd;
		break;
	case 1:
		c->upper = fd;
		break;
	default:
		c->work = fd;
	}
}

static void op_scratch(struct stage *c) {
	// The new root and a staging area for files live on a scratch tmpfs
	// over /tmp, which only this mount namespace sees.
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=700") < 0)
		die(c, "mounting scratch tmpfs", NULL, errno);
	own_mount(c, "/tmp", 0);
	if (mkdir("/tmp/root", 0700) < 0)
		die(c, "creating", "/tmp/root", errno);
	if (mkdir("/tmp/files", 0700) < 0)
		die(c, "creating", "/tmp/files", errno);
}

static void open_root(struct stage *c) {
	c->rootfd = open("/tmp/root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0)
		die(c, "opening the new root", NULL, errno);
}

static void op_root_tmpfs(struct stage *c) {
	if (mount("tmpfs", "/tmp/root", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") < 0)
		die(c, "mounting root tmpfs", NULL, errno);
	own_mount(c, "/tmp/root", 0);
	open_root(c);
}

// prepare_upper creates in the upper dir, before the overlay is mounted,
// each top-level directory the plan mounts or writes below that the
// layers have as a directory (or not at all), with the top-most layer's
// mode. Mount points are then made in it without copying up a layer's
// directory, which fails when the layer's owner is not mapped in the
// sandbox (a root-owned store: the app's uid is the only one mapped).
static void prepare_upper(struct stage *c, int up, const char **dirs, uint32_t ndirs) {
	for (uint32_t i = 0; i < ndirs; i++) {
		const char *d = dirs[i];
		struct stat st;
		if (fstatat(up, d, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue; // the upper has it already, or we cannot tell
		// The top-most layer that has d decides: a whiteout hides the
		// layers below it; a file or symlink is left alone.
		mode_t mode = 0755;
		for (int l = 0; l < c->nlower; l++) {
			if (fstatat(c->lower[l], d, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (S_ISDIR(st.st_mode))
				mode = st.st_mode & 07777;
			else if (S_ISCHR(st.st_mode)) {
				if (st.st_rdev != 0)
					mode = 0;
			} else
				mode = 0;
			break;
		}
		if (mode == 0)
			continue;
		if (mkdirat(up, d, mode) < 0 || fchmodat(up, d, mode, 0) < 0)
			dief(c, errno, "creating /", d, " in the upper dir", NULL);
	}
}

static const char *overlay_hint(int e) {
	switch (e) {
	case EINVAL:
		return " (overlayfs in a user namespace needs Linux 5.11 or later; the upper and work dirs must be on one file system that is not itself an overlay, see dmesg)";
	case EPERM:
	case EACCES:
		return " (the upper and work dirs must belong to the app's uid; 'nook reset' the app to recreate them)";
	case ENODEV:
		return " (the kernel has no overlayfs; load it with 'modprobe overlay')";
	}
	return "";
}

// op_overlay mounts the image root on /tmp/root. The layers get
// one-character names in /tmp/layers (symlinks to their descriptors), so
// that the option string stays far below the kernel's one-page limit
// however many layers the image has.
static void op_overlay(struct stage *c) {
	unsigned long flags = u32(c);
	const char *extra = str(c);
	uint32_t ndirs = u32(c);
	const char *dirs[1024];
	if (ndirs > 1024)
		bad_program(c);
	for (uint32_t i = 0; i < ndirs; i++)
		dirs[i] = str(c);
	if (c->nlower == 0)
		bad_program(c);
	if (c->upper >= 0)
		confirm(c); // the upper dir is the host's, and overlayfs writes in the work dir
	if (mkdir("/tmp/layers", 0700) < 0)
		die(c, "mounting image root: creating", "/tmp/layers", errno);
	char *data = c->data;
	size_t n = 0;
#define ADD(s) do { const char *s_ = (s); size_t l_ = strlen(s_); if (n + l_ >= sizeof c->data) { errno = E2BIG; die(c, "mounting image root", NULL, E2BIG); } memcpy(data + n, s_, l_); n += l_; data[n] = 0; } while (0)
	ADD("lowerdir=");
	for (int i = 0; i < c->nlower; i++) {
		char link[NUMBERED], b[NUMBERED];
		const char *l = numbered("/tmp/layers/", i, link);
		const char *p = l + 12; // the layer's name: its number
		if (symlink(fdpath(c->lower[i], b), l) < 0)
			die(c, "mounting image root: linking layer", p, errno);
		if (i > 0)
			ADD(":");
		ADD(p);
	}
	if (c->upper >= 0) {
		char b[NUMBERED];
		prepare_upper(c, c->upper, dirs, ndirs);
		if (symlink(fdpath(c->upper, b), "/tmp/layers/u") < 0 || symlink(fdpath(c->work, b), "/tmp/layers/w") < 0)
			die(c, "mounting image root: linking", "upper and work dirs", errno);
	} else {
		// Ephemeral: upper and work on a tmpfs that dies with the sandbox.
		if (mkdir("/tmp/layers/e", 0700) < 0)
			die(c, "mounting image root: creating", "/tmp/layers/e", errno);
		if (mount("tmpfs", "/tmp/layers/e", "tmpfs", MS_NOSUID | MS_NODEV, "mode=700") < 0)
			die(c, "mounting tmpfs for an ephemeral root", NULL, errno);
		if (mkdir("/tmp/layers/e/u", 0755) < 0 || mkdir("/tmp/layers/e/w", 0755) < 0)
			die(c, "mounting image root: creating", "/tmp/layers/e/u", errno);
		int fd = open("/tmp/layers/e/u", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			die(c, "mounting image root: opening", "/tmp/layers/e/u", errno);
		prepare_upper(c, fd, dirs, ndirs);
		close(fd);
		if (symlink("e/u", "/tmp/layers/u") < 0 || symlink("e/w", "/tmp/layers/w") < 0)
			die(c, "mounting image root: linking", "upper and work dirs", errno);
	}
	ADD(",upperdir=u,workdir=w");
	if (*extra) {
		ADD(",");
		ADD(extra);
	}
#undef ADD
	// overlayfs resolves relative directories against the working
	// directory of the mounting process.
	int wd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (wd < 0 || chdir("/tmp/layers") < 0)
		die(c, "mounting image root: changing directory", NULL, errno);
	int r = mount("overlay", "/tmp/root", "overlay", flags, data);
	int e = errno;
	if (fchdir(wd) < 0 && r == 0)
		die(c, "mounting image root: returning to the working directory", NULL, errno);
	close(wd);
	if (r < 0) {
		setup_prefix(c);
		put(c, "mounting overlay on / (");
		putnum(c, c->nlower);
		put(c, " layers): ");
		puterr(c, e);
		put(c, overlay_hint(e));
		fail(c, 125);
	}
	if (c->upper < 0)
		own_mount(c, "/tmp/root", 0); // writes go to the ephemeral tmpfs
	open_root(c);
}

static void op_mount(struct stage *c) {
	const char *dest = str(c), *type = str(c), *source = str(c);
	unsigned long flags = u32(c);
	const char *data = str(c);
	int fd = mountpoint(c, dest, 1);
	if (fd < 0)
		die(c, "creating mount point", dest, errno);
	char b[NUMBERED];
	if (mount(source, fdpath(fd, b), type, flags, data) < 0)
		dief(c, errno, "mounting ", type, " on ", dest, NULL);
	close(fd);
	if (strcmp(type, "tmpfs") == 0)
		own_mount(c, dest, 1);
}

static void op_bind(struct stage *c) {
	uint32_t idx = u32(c);
	const char *dest = str(c), *source = str(c);
	uint32_t rec = u32(c);
	unsigned long flags = u32(c);
	if (idx >= MAX_SOURCES)
		bad_program(c);
	int src = c->sources[idx];
	struct stat st;
	if (fstat(src, &st) < 0)
		die(c, "stat", source, errno);
	int fd = mountpoint(c, dest, S_ISDIR(st.st_mode));
	if (fd < 0)
		die(c, "creating mount point", dest, errno);
	char bs[NUMBERED], bd[NUMBERED];
	if (mount(fdpath(src, bs), fdpath(fd, bd), NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
		dief(c, errno, "binding ", source, " on ", dest, NULL);
	close(fd);
	close(src);
	c->sources[idx] = -1;
	if (flags && remount(c, dest, flags) < 0)
		dief(c, errno, "mount ", dest, ": remounting", NULL);
}

static void op_symlink(struct stage *c) {
	const char *path = str(c), *target = str(c);
	const char *base;
	int dir = open_parent(c, path, &base);
	if (dir >= 0)
		before_write(c, dir);
	if (dir < 0 || symlinkat(target, dir, base) < 0)
		die(c, "creating symlink", path, errno);
	close(dir);
}

// staged names the n'th file in the staging area.
static const char *staged(uint32_t n, char buf[NUMBERED]) { return numbered("/tmp/files/", n, buf); }

// op_file writes the next file into the staging area, outside the new
// root. Its content never touches the host disk.
static void op_file(struct stage *c) {
	const char *path = str(c);
	mode_t mode = u32(c) & 07777;
	uint32_t len;
	const char *data = strn(c, &len);
	char b[NUMBERED];
	int fd = open(staged(c->nfiles++, b), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0)
		die(c, "writing", path, errno);
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die(c, "writing", path, errno);
		data += w;
		len -= w;
	}
	if (fchmod(fd, mode) < 0)
		die(c, "writing", path, errno);
	close(fd);
}

// op_seal_files makes the scratch tmpfs, and so the staging area,
// read-only: a bind of a staged file inherits that, in one mount call for
// all of them.
static void op_seal_files(struct stage *c) {
	if (mount("", "/tmp", "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "") < 0)
		die(c, "making the staged files read-only", NULL, errno);
}

// op_bind_file binds staged file n at its path in the new root.
static void op_bind_file(struct stage *c) {
	uint32_t n = u32(c);
	const char *path = str(c);
	int dst = mountpoint(c, path, 0);
	if (dst < 0)
		die(c, "creating mount point", path, errno);
	char b[NUMBERED], bs[NUMBERED];
	if (mount(staged(n, bs), fdpath(dst, b), NULL, MS_BIND, NULL) < 0)
		die(c, "binding", path, errno);
	close(dst);
}

// op_readonly makes path, and what is mounted below it, read-only. A path
// that does not exist is left alone.
static void op_readonly(struct stage *c) {
	const char *path = str(c);
	int fd = resolve(c, path, O_PATH, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		die(c, "making read-only:", path, errno);
	}
	char b[NUMBERED];
	const char *self = fdpath(fd, b);
	if (mount(self, self, NULL, MS_BIND | MS_REC, NULL) < 0)
		dief(c, errno, "making ", path, " read-only", NULL);
	close(fd);
	if (remount(c, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0)
		dief(c, errno, "making ", path, " read-only", NULL);
}

// op_mask hides path: a read-only empty tmpfs over a directory, the
// sandbox's /dev/null over anything else. A path that does not exist is
// left alone.
static void op_mask(struct stage *c) {
	const char *path = str(c);
	int fd = resolve(c, path, O_PATH, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		die(c, "masking", path, errno);
	}
	struct stat st;
	char b[NUMBERED], bn[NUMBERED];
	int r;
	if (fstat(fd, &st) < 0)
		die(c, "masking", path, errno);
	if (S_ISDIR(st.st_mode)) {
		r = mount("tmpfs", fdpath(fd, b), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=555");
	} else {
		int null = resolve(c, "/dev/null", O_PATH, 0);
		r = null < 0 ? -1 : mount(fdpath(null, bn), fdpath(fd, b), NULL, MS_BIND, NULL);
		int e = errno;
		if (null >= 0)
			close(null);
		errno = e;
	}
	if (r < 0)
		die(c, "masking", path, errno);
	close(fd);
}

static void op_pivot(struct stage *c) {
	if (chdir("/tmp/root") < 0)
		die(c, "changing to the new root", NULL, errno);
	// pivot_root(".", ".") stacks the old root on top of the new one; the
	// lazy unmount then takes it away without needing a directory for it.
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die(c, "pivot_root", NULL, errno);
	if (umount2(".", MNT_DETACH) < 0)
		die(c, "detaching old root", NULL, errno);
	if (chdir("/") < 0)
		die(c, "changing to /", NULL, errno);
	close(c->rootfd);
	c->rootfd = -1;
}

static void op_root_readonly(struct stage *c) {
	int fd = open("/", O_PATH | O_CLOEXEC);
	char b[NUMBERED];
	if (fd < 0 || mount("", fdpath(fd, b), "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | locked_flags(fd), "") < 0)
		die(c, "making root read-only", NULL, errno);
	close(fd);
}

static void op_hostname(struct stage *c) {
	uint32_t n;
	const char *name = strn(c, &n);
	if (sethostname(name, n) < 0)
		die(c, "setting hostname", NULL, errno);
}

static void op_loopback(struct stage *c) {
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(c, "bringing up lo", NULL, errno);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die(c, "bringing up lo", NULL, errno);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die(c, "bringing up lo", NULL, errno);
	close(fd);
}

static void run_setup(struct stage *c) {
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die(c, "making mounts private", NULL, errno);
	for (int i = 0; i < MAX_SOURCES; i++)
		c->sources[i] = -1;
	for (;;) {
		switch (u32(c)) {
		case OP_SOURCE: op_source(c); break;
		case OP_OVERLAY_DIR: op_overlay_dir(c); break;
		case OP_SCRATCH: op_scratch(c); break;
		case OP_ROOT_TMPFS: op_root_tmpfs(c); break;
		case OP_OVERLAY: op_overlay(c); break;
		case OP_MOUNT: op_mount(c); break;
		case OP_BIND: op_bind(c); break;
		case OP_SYMLINK: op_symlink(c); break;
		case OP_FILE: op_file(c); break;
		case OP_SEAL_FILES: op_seal_files(c); break;
		case OP_BIND_FILE: op_bind_file(c); break;
		case OP_READONLY: op_readonly(c); break;
		case OP_MASK: op_mask(c); break;
		case OP_PIVOT: op_pivot(c); break;
		case OP_ROOT_READONLY: op_root_readonly(c); break;
		case OP_HOSTNAME: op_hostname(c); break;
		case OP_LOOPBACK: op_loopback(c); break;
		case OP_END:
			// The overlay's layers and upper dirs stay open until here.
			for (int i = 0; i < c->nlower; i++)
				close(c->lower[i]);
			if (c->upper >= 0)
				close(c->upper);
			if (c->work >= 0)
				close(c->work);
			return;
		default:
			bad_program(c);
		}
	}
}

// ---- lockdown, the app, supervision

// proceed waits for the launcher on the go descriptor: for one byte (the
// go-ahead), or for it to close it. It returns 0 when it was closed.
static int proceed(void) {
	char b;
	for (;;) {
		ssize_t n = read(FD_GO, &b, 1);
		if (n < 0 && errno == EINTR)
			continue;
		return n == 1;
	}
}

// lockdown takes away everything the init stage holds: non-dumpable, the
// bounding set, ambient, inheritable, permitted and effective
// capabilities, and no_new_privs. The app's own task loads the seccomp
// filter last, just before exec (start_app). Init is single-threaded, so
// this covers every thread of it.
static void lockdown(struct stage *c) {
	c->doing = "locking down";
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die(c, "making init non-dumpable", NULL, errno);
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; // past the kernel's last capability
			die(c, "dropping a capability from the bounding set", NULL, errno);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die(c, "clearing ambient capabilities", NULL, errno);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	if (syscall(SYS_capset, &hdr, data) < 0)
		die(c, "dropping capabilities", NULL, errno);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(c, "setting no_new_privs", NULL, errno);
}

enum { STAGE_CHDIR = 1, STAGE_SECCOMP, STAGE_GO, STAGE_REDO, STAGE_EXEC };

// await_go is how the app's task waits for the launcher's go-ahead just
// before exec (when init is not placed in a cgroup first): the verdict on
// a speculative program, then the go-ahead. It returns 1 on the go-ahead,
// 2 when the verdict hands over another app section (init must start the
// app again from it), 0 when the launcher closed the descriptor instead,
// or -errno (the app's seccomp filter may deny read(2)).
static int await_go(struct stage *c) {
	for (;;) {
		char b;
		ssize_t n = read(FD_GO, &b, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (!c->unconfirmed)
			return 1;
		c->unconfirmed = 0;
		if (b == 'a')
			return 2; // init reads the new section (take_app)
	}
}

static int regular(const char *path) {
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// putquoted adds s in double quotes, as Go's %q would for plain text.
static void putquoted(struct stage *c, const char *s) {
	put(c, "\"");
	for (; *s; s++) {
		char q[3] = {'\\', *s, 0};
		put(c, *s == '"' || *s == '\\' ? q : q + 1);
	}
	put(c, "\"");
}

// find_path finds the command name in the app's PATH (path), unless it
// names a path, and returns it (in c->path), or NULL.
static const char *find_path(struct stage *c, const char *name, const char *path) {
	if (strchr(name, '/'))
		return name;
	char *found = c->path;
	size_t fl = strlen(name);
	for (const char *d = path;;) {
		const char *end = strchrnul(d, ':');
		size_t dl = end - d;
		if (dl + fl + 2 < sizeof c->path) {
			if (dl == 0) {
				found[0] = '.';
				dl = 1;
			} else
				memcpy(found, d, dl);
			found[dl] = '/';
			memcpy(found + dl + 1, name, fl + 1);
			if (regular(found))
				return found;
		}
		if (!*end)
			break;
		d = end + 1;
	}
	return NULL;
}

// not_found reports that the command name is not in the app's PATH
// (path): exit status 127.
static void __attribute__((noreturn)) not_found(struct stage *c, const char *name, const char *path) {
	c->msglen = 0;
	put(c, "command ");
	putquoted(c, name);
	put(c, " not found in the sandbox (PATH=");
	put(c, path);
	put(c, "); check the profile's command and image");
	fail(c, 127);
}

// stale_app says whether the app section init could not start from is a
// warm record's that the launcher's verdict replaced ('a'): init then
// starts the app from the launcher's section (c->newapp) instead of
// reporting an error that is not this launch's. It waits for the verdict
// when init has not had it yet.
static int stale_app(struct stage *c) {
	if (!c->unconfirmed)
		return 0;
	confirm(c);
	return c->newapp.p != NULL;
}

static void __attribute__((noreturn)) start_failed(struct stage *c, const char *file, int code, const char *what) {
	c->msglen = 0;
	put(c, what);
	put(c, " ");
	put(c, file);
	put(c, code == 127 ? " not found in the sandbox: " : " cannot be executed in the sandbox: ");
	puterr(c, c->child_errno);
	fail(c, code);
}

static int main_loop(struct stage *c, pid_t app_pid, int sfd);

// exec_app is the end of the app's task (vfork): when r, what await_go
// said, is the go-ahead, it execs file; it tells init what failed in
// c->child_stage and c->child_errno.
static void __attribute__((noreturn)) exec_app(struct stage *c, int r, const char *file, char **argv, char **envp) {
	if (r <= 0) {
		c->child_errno = -r;
		c->child_stage = STAGE_GO;
		_exit(125);
	}
	execve(file, argv, envp);
	c->child_errno = errno;
	c->child_stage = STAGE_EXEC;
	_exit(127);
}

// reuse_task runs in the app's task (vfork), which waits for the go-ahead
// under the seccomp filter it loaded, in working directory cwd, when the
// launcher's verdict hands over its own app section (c->newapp). When the
// section keeps that directory and that filter (byte for byte), only the
// command, its arguments or its environment changed: the task takes them
// and, after the go-ahead, execs them, instead of exiting for init to make
// a new task (which would load the filter again: a launch's new file
// argument then costs what a launch with the same one does). It returns
// when it cannot take the section: init then starts the app from it and
// reports any error.
static void reuse_task(struct stage *c, const char *cwd, uint32_t has_filter, const char *filter, uint32_t filter_len) {
	struct reader r = c->newapp;
	uint32_t nargs, nenv, n, has;
	const char *s;
	// Its arrays are on init's stack: a longer command line goes the
	// long way.
	char *argv[256], *envp[256];
	if (!next_u32(&r, &nargs) || nargs == 0 || nargs >= 256)
		return;
	struct reader args = r;
	for (uint32_t i = 0; i < nargs; i++)
		if (!next_str(&r, &s, NULL))
			return;
	if (!next_u32(&r, &nenv) || nenv >= 256)
		return;
	struct reader env = r;
	for (uint32_t i = 0; i < nenv; i++)
		if (!next_str(&r, &s, NULL))
			return;
	if (!next_str(&r, &s, NULL) || strcmp(s, cwd) != 0)
		return;
	if (!next_u32(&r, &has) || has != has_filter || !next_str(&r, &s, &n) || n != filter_len ||
	    memcmp(s, filter, n) != 0 || r.p != r.end)
		return;

	for (uint32_t i = 0; i < nargs; i++)
		next_str(&args, (const char **)&argv[i], NULL);
	argv[nargs] = NULL;
	const char *path = "";
	for (uint32_t i = 0; i < nenv; i++) {
		next_str(&env, (const char **)&envp[i], NULL);
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	}
	envp[nenv] = NULL;
	const char *file = find_path(c, argv[0], path);
	if (!file)
		return;
	c->child_file = file;
	exec_app(c, await_go(c), file, argv, envp);
}

// pointers returns room for n pointers: few, which has room for nfew,
// or, for more, memory of init's own (its stack is 1 MiB, and a command
// line may hold a hundred thousand arguments).
static char **pointers(struct stage *c, uint32_t n, char **few, uint32_t nfew) {
	if (n <= nfew)
		return few;
	char **p = mmap(NULL, (size_t)n * sizeof *p, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		dief(c, errno, "making room for the app's arguments", NULL);
	return p;
}

// start_app starts the app of the app section c->prog is at and
// supervises it. It returns only when the verdict on a speculative
// program handed over another app section, which the caller starts then.
static void start_app(struct stage *c, uint32_t placed, int sfd) {
	uint32_t nargs = u32(c);
	if (nargs == 0 || nargs > 1 << 20)
		bad_program(c);
	char *few_args[256], *few_env[256];
	char **argv = pointers(c, nargs + 1, few_args, 256);
	for (uint32_t i = 0; i < nargs; i++)
		argv[i] = (char *)str(c);
	argv[nargs] = NULL;
	uint32_t nenv = u32(c);
	if (nenv > 1 << 20)
		bad_program(c);
	char **envp = pointers(c, nenv + 1, few_env, 256);
	const char *path = "";
	for (uint32_t i = 0; i < nenv; i++) {
		envp[i] = (char *)str(c);
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	}
	envp[nenv] = NULL;
	const char *cwd = str(c);
	uint32_t has_filter = u32(c), filter_len;
	const char *filter = strn(c, &filter_len);
	if (c->prog.p != c->prog.end)
		bad_program(c);

	const char *const file = find_path(c, argv[0], path);
	if (!file) {
		if (stale_app(c))
			return;
		not_found(c, argv[0], path);
	}

	struct sock_fprog fprog = {.len = filter_len / sizeof(struct sock_filter), .filter = (struct sock_filter *)filter};
	c->child_file = NULL;
	pid_t pid = vfork();
	if (pid == 0) {
		// The app's task, sharing init's memory until exec: a new
		// session (no terminal to inject keystrokes into), no blocked
		// signals, the seccomp filter last.
		setsid();
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (*cwd && chdir(cwd) < 0) {
			c->child_errno = errno;
			c->child_stage = STAGE_CHDIR;
			_exit(127);
		}
		if (has_filter && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) {
			c->child_errno = errno;
			c->child_stage = STAGE_SECCOMP;
			_exit(127);
		}
		int r = placed ? 1 : await_go(c);
		if (r == 2) {
			// The launcher's own app section follows the verdict.
			if (read_app(c) < 0) {
				c->child_stage = STAGE_GO; // init exits: the launcher went
				_exit(125);
			}
			reuse_task(c, cwd, has_filter, filter, filter_len);
			c->child_stage = STAGE_REDO;
			_exit(0);
		}
		exec_app(c, r, file, argv, envp);
	}
	if (pid < 0) {
		// vfork is libc's (it must not return through a stack frame the
		// app's task has used), and libc's errno is not init's
		// (rawsys.h): the usual reason stands in for it.
		c->msglen = 0;
		put(c, "starting ");
		put(c, file);
		put(c, ": ");
		puterr(c, EAGAIN);
		fail(c, 126);
	}
	if (c->child_stage) {
		int st;
		waitpid(pid, &st, 0);
		// The command the task tried: the new section's, when it took
		// that itself (reuse_task).
		const char *tried = c->child_file ? c->child_file : file;
		// STAGE_REDO: the task read the verdict's app section into
		// c->newapp. A task that failed before the verdict failed on a
		// warm record's app section, which the launcher's may replace.
		if (c->child_stage == STAGE_REDO ||
		    ((c->child_stage == STAGE_CHDIR || c->child_stage == STAGE_SECCOMP) && stale_app(c))) {
			c->child_stage = 0;
			return;
		}
		switch (c->child_stage) {
		case STAGE_CHDIR:
			c->msglen = 0;
			put(c, "starting ");
			put(c, tried);
			put(c, ": working directory ");
			put(c, cwd);
			put(c, ": ");
			puterr(c, c->child_errno);
			fail(c, 125);
		case STAGE_SECCOMP:
			c->msglen = 0;
			put(c, "locking down sandbox for ");
			put(c, c->app);
			put(c, ": loading seccomp filter: ");
			puterr(c, c->child_errno);
			fail(c, 125);
		case STAGE_GO:
			if (!c->child_errno)
				_exit(125); // the launcher gave up on the sandbox; it says why
			c->msglen = 0;
			put(c, "starting ");
			put(c, tried);
			put(c, ": waiting for the go-ahead under the app's seccomp filter (it must allow read): ");
			puterr(c, c->child_errno);
			fail(c, 125);
		}
		switch (c->child_errno) {
		case ENOENT:
			start_failed(c, tried, 127, "command");
		case EACCES:
		case ENOEXEC:
		case EPERM:
		case EISDIR:
			start_failed(c, tried, 126, "command");
		}
		c->msglen = 0;
		put(c, "starting ");
		put(c, tried);
		put(c, ": ");
		puterr(c, c->child_errno);
		fail(c, 126);
	}
	_exit(main_loop(c, pid, sfd));
}

static void __attribute__((noreturn)) run_app(struct stage *c) {
	uint32_t cgroupns = u32(c);
	uint32_t placed = u32(c);
	if (placed) {
		confirm(c);
		if (!proceed())
			_exit(125); // the launcher could not place init in its cgroup; it says why
	}
	if (cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
		int e = errno;
		c->msglen = 0;
		put(c, "entering a cgroup namespace for ");
		put(c, c->app);
		put(c, ": ");
		puterr(c, e);
		fail(c, 125);
	}
	lockdown(c);

	// Signals stay blocked in init from clone on; they are read from a
	// signalfd: the ones init forwards, and SIGCHLD.
	sigset_t set;
	sigemptyset(&set);
	int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
	for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++)
		sigaddset(&set, fwd[i]);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		c->msglen = 0;
		put(c, "starting the app of ");
		put(c, c->app);
		put(c, ": signalfd: ");
		puterr(c, errno);
		fail(c, 125);
	}
	for (;;) {
		if (c->newapp.p) {
			c->prog = c->newapp;
			c->newapp.p = NULL;
		}
		start_app(c, placed, sfd);
	}
}

static int exit_code(int st) {
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static void report_num(struct stage *c, const char *kind, long n) {
	c->msglen = 0;
	put(c, kind);
	put(c, " ");
	putnum(c, n);
	put(c, "\n");
	writeall(FD_STATUS, c->msg, c->msglen);
}

// main_loop reports the app's pid, forwards signals to it, reaps every
// zombie in the sandbox and, once the app has ended, reports its exit
// code and waits for the launcher to close the go descriptor (it reads
// the sandbox's cgroup until then). Returning ends the sandbox: the kernel
// kills what is left in the PID namespace when its init exits.
static int main_loop(struct stage *c, pid_t app_pid, int sfd) {
	report_num(c, "pid", app_pid);
	int code = -1;
	while (code < 0) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof si);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof si)
			return 125;
		if (si.ssi_signo != SIGCHLD) {
			kill(app_pid, si.ssi_signo);
			continue;
		}
		for (;;) {
			int st;
			pid_t p = waitpid(-1, &st, WNOHANG);
			if (p <= 0)
				break;
			if (p == app_pid)
				code = exit_code(st);
		}
	}
	report_num(c, "exit", code);
	close(FD_STATUS);
	proceed();
	return code;
}

// ---- the child's start

int nook_init_main(void *arg) {
	const volatile struct nook_spawn_args *a = arg;
	struct stage st, *c = &st;
	c->app = "app";
	c->doing = "setting up";
	c->nlower = c->nfiles = 0;
	c->upper = c->work = c->rootfd = -1;
	c->msglen = 0;
	c->child_errno = c->child_stage = 0;
	c->unconfirmed = c->nown = 0;
	c->newapp.p = c->newapp.end = NULL;
	for (int i = 0; i < MAX_SOURCES; i++)
		c->sources[i] = -1;

	// Go's signal handlers are in this memory: none may run here. Every
	// signal is blocked (nook_spawn did it before clone); reset their
	// dispositions before anything can unblock one. rt_sigaction itself,
	// not sigaction: glibc refuses the signals it keeps for itself, and
	// Go has handlers on those too.
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = {SIG_DFL, 0, NULL, 0};
	for (int s = 1; s < 65; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof dfl.mask);

	// If the launcher dies, so does the sandbox. (If it died before this,
	// the sync descriptor reads end-of-file below.)
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

	// Move the descriptors init keeps to 0-5, above every one of them
	// first so that none is overwritten before it is moved.
	int keep[6] = {a->stdio[0], a->stdio[1], a->stdio[2], a->status_fd, a->go_fd, a->sync_fd};
	int top = 0;
	for (int i = 0; i < 6; i++)
		if (keep[i] > top)
			top = keep[i];
	for (int i = 0; i < 6; i++)
		if ((keep[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, top + 1)) < 0)
			_exit(125);
	for (int i = 0; i < 6; i++)
		if (dup3(keep[i], i, i < 3 ? 0 : O_CLOEXEC) < 0)
			_exit(125);
	// Everything else the launcher had open goes.
	if (syscall(SYS_close_range, FD_FIRST_FREE, ~0U, 0) < 0) {
		for (int fd = FD_FIRST_FREE; fd < 65536; fd++)
			close(fd);
	}

	// The namespaces that need not be made at clone are made here, beside
	// whatever the launcher does meanwhile (a prestarted child: its Go
	// runtime start).
	int ns_errno = 0;
	if (a->unshare_flags && unshare(a->unshare_flags) < 0)
		ns_errno = errno;

	// Wait until the launcher has written the id maps and the rest of the
	// arguments (the program, the identity): in place, or, for a child
	// with memory of its own made before them (a prestarted one), as a
	// payload on the sync descriptor.
	uint32_t set_ids = a->set_ids, drop_groups = a->drop_groups, uid = a->uid, gid = a->gid;
	uint32_t speculative = 0;
	const unsigned char *prog = a->prog;
	size_t prog_len = a->prog_len;
	if (a->payload) {
		struct nook_payload p;
		if (read_full(FD_SYNC, &p, sizeof p) < 0 || p.prog_len == 0)
			_exit(125);
		unsigned char *m = mmap(NULL, p.prog_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED || read_full(FD_SYNC, m, p.prog_len) < 0)
			_exit(125);
		set_ids = p.set_ids, drop_groups = p.drop_groups, uid = p.uid, gid = p.gid;
		speculative = p.speculative;
		prog = m;
		prog_len = p.prog_len;
	} else {
		char b;
		if (read_full(FD_SYNC, &b, 1) < 0)
			_exit(125);
	}
	if (a->affinity_size)
		sched_setaffinity(0, a->affinity_size, (const void *)a->affinity);
	c->prog.p = prog;
	c->prog.end = prog + prog_len;
	c->unconfirmed = speculative;
	if (c->prog.end - c->prog.p < 12 || memcmp(c->prog.p, "nook-prog-2\n", 12) != 0)
		bad_program(c);
	c->prog.p += 12;
	c->app = str(c);
	if (ns_errno)
		die(c, "creating namespaces", NULL, ns_errno);

	// The system calls themselves: glibc's wrappers would signal the
	// launcher's other threads, which this process does not have, and
	// wait for them forever.
	if (set_ids) {
		if (drop_groups && syscall(SYS_setgroups, 0, NULL) < 0)
			die(c, "dropping supplementary groups", NULL, errno);
		if (syscall(SYS_setresgid, gid, gid, gid) < 0)
			die(c, "setting gid", NULL, errno);
		if (syscall(SYS_setresuid, uid, uid, uid) < 0)
			die(c, "setting uid", NULL, errno);
	}
	// A change of uid or gid clears the parent-death signal: set it again,
	// then make sure the launcher did not die before that (it keeps the
	// sync descriptor open until it has reaped init).
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	struct pollfd pfd = {.fd = FD_SYNC, .events = POLLIN};
	if (poll(&pfd, 1, 0) != 0)
		_exit(125); // hung up (or readable, which the launcher never makes it)
	close(FD_SYNC);
	setpgid(0, 0);

	run_setup(c);
	if (speculative)
		writeall(FD_STATUS, "ready\n", 6);
	run_app(c);
	return 125;
}

