// The launcher's side of the init stage: nook_spawn, which clones it,
// and nook run's constructor, which prestarts it before the Go runtime
// and hands it a warm record (warm.go). This code runs in the launcher and
// uses libc as usual; the child's code is in initstage.c.

#define _GNU_SOURCE
#include "initstage.h"
#include "fastlaunch.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <dirent.h>
#include <link.h> // ElfW
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// The child's memory: a guard page, its stack, and a copy of its
// arguments at the top, which the launcher's Go code may not move.
#define CHILD_MEM (1 << 20)
#define GUARD 4096

// args_of is the child's copy of its arguments, at the top of mem.
static struct nook_spawn_args *args_of(void *mem) {
	return (struct nook_spawn_args *)((char *)mem + CHILD_MEM - sizeof(struct nook_spawn_args));
}

int nook_spawn(const struct nook_spawn_args *a, void **mem) {
	char *m = mmap(NULL, CHILD_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	if (mprotect(m, GUARD, PROT_NONE) < 0) {
		int e = errno;
		munmap(m, CHILD_MEM);
		return -e;
	}
	struct nook_spawn_args *copy = args_of(m);
	*copy = *a;
	char *top = (char *)((uintptr_t)copy & ~(uintptr_t)63);

	// The child gets a copy of the launcher's memory, as a fork does. A
	// child sharing it (CLONE_VM) would cost nothing to make, but every
	// munmap and mprotect of the launcher's Go runtime would then wait
	// for the child's CPU to flush its TLB (0.6 ms of a launch's Go start
	// on a 2-core VM), the child would share the launcher's libc errno
	// and dumpable flag, and the launcher could not hand it anything
	// through memory without sharing its lifetime. nook run's prestarted
	// child is made by a constructor before the Go runtime, when there is
	// little memory to copy; the others are made once their arguments
	// are complete.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int pid = clone(nook_init_main, top, a->flags | SIGCHLD, copy);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		munmap(m, CHILD_MEM);
		return -e;
	}
	*mem = m;
	return pid;
}


void nook_spawn_release(void *mem) { munmap(mem, CHILD_MEM); }

// ---- prestart: for "nook run", the init stage is started before the Go
// runtime, so that the kernel makes its namespaces (a network namespace
// alone takes most of a millisecond) on another CPU while the launcher's
// Go runtime and packages start.

// The namespaces of a prestarted init stage: user and PID at clone (init
// must be PID 1), the rest unshared by the child. The cgroup
// namespace comes later (once init is in its cgroup).
#define PRESTART_CLONE (CLONE_NEWUSER | CLONE_NEWPID)
#define PRESTART_UNSHARE (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET)

static struct nook_prestart prestarted;
static int prestart_taken;

// ---- warm records (warm.go): the last program "nook run" ran with the
// same arguments, which the prestarted init runs while Go starts.

static char warm_path[4096];

// set_warm_path names the warm record for arguments argv[1..argc) in
// this user's cache directory (cacheDir in cmd/nook/run.go), in
// warm_path. The name hashes the arguments before "--" (FNV-1a): the
// app's own arguments change from one launch to the next far more often
// than the profile.
static void set_warm_path(int argc, char **argv) {
	const char *base, *sub;
	if (geteuid() == 0)
		base = "/var/cache", sub = "/nook/";
	else if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/')
		sub = "/nook/";
	else if ((base = getenv("HOME")) && base[0])
		sub = "/.cache/nook/";
	else
		return;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		for (const char *p = argv[i];; p++) {
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			if (!*p)
				break;
		}
	size_t bl = strlen(base), sl = strlen(sub);
	if (bl + sl + 4 + 16 + 1 > sizeof warm_path)
		return;
	char *p = warm_path;
	memcpy(p, base, bl);
	memcpy(p + bl, sub, sl);
	p += bl + sl;
	memcpy(p, "run-", 4);
	p += 4;
	for (int i = 15; i >= 0; i--, h >>= 4)
		p[i] = "0123456789abcdef"[h & 15];
	p[16] = 0;
}

const char *nook_warm_path(void) { return warm_path[0] ? warm_path : NULL; }

// trusted says whether fd is owned by the effective uid and writable by
// no one else (only then may what it holds run in a sandbox), and fills
// in st.
static int trusted(int fd, struct stat *st) {
	return fstat(fd, st) == 0 && st->st_uid == geteuid() && !(st->st_mode & 022);
}

unsigned char *nook_read_warm(const char *path, size_t *len) {
	char dirpath[4096];
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof dirpath)
		return NULL;
	memcpy(dirpath, path, slash - path);
	dirpath[slash - path] = 0;
	int dir = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return NULL;
	struct stat st;
	int fd = trusted(dir, &st) ? openat(dir, slash + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	close(dir);
	if (fd < 0)
		return NULL;
	unsigned char *b = NULL;
	if (!trusted(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < 12 || st.st_size > 64 << 20)
		goto out;
	if (!(b = malloc(st.st_size)))
		goto out;
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(b);
			b = NULL;
			goto out;
		}
		n += r;
	}
	*len = n;
out:
	close(fd);
	return b;
}

// warm is a parsed warm record: "nook-warm-2\n", the fast section
// (fastlaunch.go) as a u32 length and bytes, then the body: u32 root, uid,
// gid, the uid map and the gid map as program strings, then the program to
// the end.
struct warm {
	const unsigned char *fast, *body;
	uint32_t fast_len, body_len;
	uint32_t root, uid, gid;
	const char *uid_map, *gid_map;
	const unsigned char *prog;
	uint32_t uid_map_len, gid_map_len, prog_len;
};

static int warm_data(struct nook_reader *r, const unsigned char **s, uint32_t *n) {
	if (!nook_get_u32(r, n) || (size_t)(r->end - r->p) < (size_t)*n + 1 || r->p[*n] != 0)
		return 0;
	*s = r->p;
	r->p += *n + 1;
	return 1;
}

static int parse_warm(const unsigned char *b, size_t len, struct warm *w) {
	struct nook_reader r = {b, b + len};
	if (len < 12 || memcmp(b, "nook-warm-2\n", 12) != 0)
		return 0;
	r.p += 12;
	if (!nook_get_u32(&r, &w->fast_len) || (size_t)(r.end - r.p) < w->fast_len)
		return 0;
	w->fast = r.p;
	r.p += w->fast_len;
	w->body = r.p;
	w->body_len = r.end - r.p;
	const unsigned char *um, *gm;
	if (!nook_get_u32(&r, &w->root) || !nook_get_u32(&r, &w->uid) || !nook_get_u32(&r, &w->gid) ||
	    !warm_data(&r, &um, &w->uid_map_len) || !warm_data(&r, &gm, &w->gid_map_len))
		return 0;
	w->prog = r.p;
	w->prog_len = r.end - r.p;
	w->uid_map = (const char *)um;
	w->gid_map = (const char *)gm;
	return w->root == (geteuid() == 0);
}

// write_proc writes s to /proc/PID/NAME, as writeIDMaps does.
static int write_proc(int pid, const char *name, const char *s, size_t n) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, s, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

// speculate hands the prestarted child pid the warm record w: it writes
// the id maps, then the record's identity and program as the child's
// payload. It returns 0 if the child was left untouched (no usable
// record), 1 if it now runs the record, -1 if it is half set up and must
// go.
static int speculate(int pid, int sync_fd, const struct warm *w) {
	// The payload must fit in the pipe, or the write would wait for the
	// child to read it.
	size_t need = sizeof(struct nook_payload) + w->prog_len;
	if (need > 65536 && fcntl(sync_fd, F_SETPIPE_SZ, (int)need) < 0)
		return 0;
	if (!w->root && write_proc(pid, "setgroups", "deny", 4) < 0)
		return 0; // nothing written yet: the launcher can still do it
	if (write_proc(pid, "gid_map", w->gid_map, w->gid_map_len) < 0)
		return w->root ? 0 : -1;
	if (write_proc(pid, "uid_map", w->uid_map, w->uid_map_len) < 0)
		return -1;
	struct nook_payload p = {
		.set_ids = 1,
		.drop_groups = w->root,
		.uid = w->uid,
		.gid = w->gid,
		.speculative = 1,
		.prog_len = w->prog_len,
	};
	struct iovec iov[2] = {{&p, sizeof p}, {(void *)w->prog, w->prog_len}};
	return writev(sync_fd, iov, 2) == (ssize_t)need ? 1 : -1;
}

// The launcher's CPU mask while it is pinned (steer), to restore.
static cpu_set_t launcher_mask;
static int pinned, launcher_cpu = -1;

// steer_args prepares steer before the clone: the mask the child takes
// back (nook_spawn_args.affinity), when there is more than one CPU.
static void steer_args(struct nook_spawn_args *a) {
	if (sched_getaffinity(0, sizeof launcher_mask, &launcher_mask) < 0 || CPU_COUNT(&launcher_mask) < 2)
		return;
	launcher_cpu = sched_getcpu();
	if (launcher_cpu < 0 || launcher_cpu >= CPU_SETSIZE) {
		launcher_cpu = -1;
		return;
	}
	_Static_assert(sizeof a->affinity >= sizeof launcher_mask, "affinity holds a cpu_set_t");
	memcpy(a->affinity, &launcher_mask, sizeof launcher_mask);
	a->affinity_size = sizeof launcher_mask;
}

// steer keeps the new child pid and the launcher apart while both start:
// the child off this CPU until it has its sync byte, and the launcher,
// with every thread the Go runtime starts (they inherit the mask), on it
// until nook_unpin. The scheduler would otherwise queue the new task
// beside its parent, or the Go runtime's threads beside the child, and
// the child would wait for the Go runtime's start instead of making its
// namespaces and mounts beside it: a millisecond or more per launch on
// two CPUs. The child then takes the launcher's mask again
// (nook_spawn_args.affinity), and so does the app it starts.
static void steer(int pid) {
	if (launcher_cpu < 0)
		return;
	cpu_set_t other = launcher_mask, mine;
	CPU_CLR(launcher_cpu, &other);
	if (CPU_COUNT(&other) == 0 || sched_setaffinity(pid, sizeof other, &other) < 0)
		return;
	CPU_ZERO(&mine);
	CPU_SET(launcher_cpu, &mine);
	if (sched_setaffinity(0, sizeof mine, &mine) == 0)
		pinned = 1;
}

void nook_unpin(void) {
	if (!__atomic_exchange_n(&pinned, 0, __ATOMIC_ACQ_REL))
		return;
	DIR *d = opendir("/proc/self/task");
	if (!d) {
		sched_setaffinity(0, sizeof launcher_mask, &launcher_mask);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		int tid = atoi(e->d_name);
		if (tid > 0)
			sched_setaffinity(tid, sizeof launcher_mask, &launcher_mask);
	}
	closedir(d);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14
#endif

// map_image maps every page of nook's read-only segments (code, read-only
// data, the Go runtime's tables) into the page tables at once, as
// madvise(MADV_POPULATE_READ) does: a page fault costs far more than a
// page mapped in a batch where faults trap to a hypervisor (16-30 us per
// fault against 0.3 us per page on the 2-core VM bench/launch.sh ran
// on), and the Go runtime, nook's packages and main fault in a few
// hundred pages before a launch's go-ahead. Kernels before 5.14 refuse
// the advice, and then the pages fault in as before.
static void map_image(void) {
	const unsigned char *ph = (const unsigned char *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM), ent = getauxval(AT_PHENT);
	if (!ph || ent < sizeof(ElfW(Phdr)))
		return;
	uintptr_t bias = 0; // a static executable not built as PIE has none
	for (size_t i = 0; i < n; i++) {
		const ElfW(Phdr) *p = (const ElfW(Phdr) *)(ph + i * ent);
		if (p->p_type == PT_PHDR)
			bias = (uintptr_t)ph - p->p_vaddr;
	}
	long page = sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < n; i++) {
		const ElfW(Phdr) *p = (const ElfW(Phdr) *)(ph + i * ent);
		if (p->p_type != PT_LOAD || (p->p_flags & PF_W))
			continue;
		uintptr_t start = (bias + p->p_vaddr) & ~(uintptr_t)(page - 1);
		uintptr_t end = bias + p->p_vaddr + p->p_memsz;
		madvise((void *)start, end - start, MADV_POPULATE_READ);
	}
}

static void prestart(int argc, char **argv, int argv_complete) {
	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return;
	// Before anything reads the host (fastlaunch.c).
	nook_capture_self(argc, argv, argv_complete);
	// A closed standard stream would be taken by the first descriptor
	// opened (a pipe to init, say), and handed to the app as its stdin:
	// /dev/null stands in for it, as for a set-uid program.
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return;
	const char *off = getenv("NOOK_PRESTART");
	if (off && strcmp(off, "0") == 0)
		return; // for measuring what it saves (bench/launch.sh)
	set_warm_path(argc, argv);
	int status[2], go[2], sync[2];
	if (pipe2(status, O_CLOEXEC) < 0)
		return;
	if (pipe2(go, O_CLOEXEC) < 0)
		goto close_status;
	if (pipe2(sync, O_CLOEXEC) < 0)
		goto close_go;
	struct nook_spawn_args a;
	memset(&a, 0, sizeof a);
	a.flags = PRESTART_CLONE;
	a.payload = 1;
	a.unshare_flags = PRESTART_UNSHARE;
	a.stdio[0] = 0;
	a.stdio[1] = 1;
	a.stdio[2] = 2;
	a.status_fd = status[1];
	a.go_fd = go[0];
	a.sync_fd = sync[0];
	steer_args(&a);
	void *mem;
	int pid = nook_spawn(&a, &mem);
	close(status[1]);
	close(go[0]);
	close(sync[0]);
	if (pid < 0)
		goto close_ends; // the launcher starts init itself, and reports the error
	steer(pid);
	size_t len = 0;
	unsigned char *warm = warm_path[0] ? nook_read_warm(warm_path, &len) : NULL;
	struct warm w;
	if (warm && !parse_warm(warm, len, &w)) {
		free(warm);
		warm = NULL;
	}
	if (warm) {
		switch (speculate(pid, sync[1], &w)) {
		case 0:
			free(warm);
			warm = NULL;
			break;
		case 1:
			// Returns only when the record's facts do not hold now, or
			// when init could not set up (then it goes).
			if (nook_fast_launch(pid, status[0], go[1], w.fast, w.fast_len) == 0)
				break;
			// fall through
		case -1:
			// Half set up, or failed: it goes, and the launcher starts
			// init itself.
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			free(warm);
			nook_spawn_release(mem);
			goto close_ends;
		}
	}
	prestarted = (struct nook_prestart){
		.pid = pid,
		.flags = PRESTART_CLONE,
		.unshare_flags = PRESTART_UNSHARE,
		.status_fd = status[0],
		.go_fd = go[1],
		.sync_fd = sync[1],
		.mem = mem,
		.warm = warm ? w.body : NULL,
		.warm_len = warm ? w.body_len : 0,
		.fast = warm ? w.fast : NULL,
		.fast_len = warm ? w.fast_len : 0,
	};
	// Last: the child has all it needs, and sets up on its own CPU.
	map_image();
	return;
close_ends:
	close(status[0]);
	close(go[1]);
	close(sync[1]);
	return;
close_go:
	close(go[0]);
	close(go[1]);
close_status:
	close(status[0]);
	close(status[1]);
}

// The constructor: glibc passes it the arguments, other libcs do not.
#ifdef __GLIBC__
__attribute__((constructor)) static void prestart_ctor(int argc, char **argv) { prestart(argc, argv, 1); }
#else
__attribute__((constructor)) static void prestart_ctor(void) {
	static char buf[16384];
	static char *argv[256];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	int argc = 0;
	char *p = buf;
	for (; p < buf + n && argc < 255; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	// A full buffer or more arguments than argv holds: some are missing.
	prestart(argc, argv, n < (ssize_t)sizeof buf - 1 && p >= buf + n);
}
#endif

int nook_take_prestart(struct nook_prestart *out) {
	if (prestarted.pid <= 0 || __atomic_exchange_n(&prestart_taken, 1, __ATOMIC_ACQ_REL))
		return 0;
	*out = prestarted;
	return 1;
}
