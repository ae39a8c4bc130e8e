// The init stage's C half: see initstage.c and clone.go.

#ifndef NOOK_INITSTAGE_H
#define NOOK_INITSTAGE_H

#include <stddef.h>
#include <stdint.h>

// nook_spawn_args is what the launcher hands nook_spawn. Descriptors are
// the launcher's; the child moves them to 0, 1, 2 (stdio), 3 (status), 4
// (go) and 5 (sync) and closes every other descriptor it inherited.
struct nook_spawn_args {
	unsigned long flags;        // CLONE_NEW* flags for clone
	unsigned long unshare_flags; // CLONE_NEW* flags the child unshares at once
	int payload;                // 1: the identity and program come as a nook_payload on sync
	int stdio[3];               // the app's stdin, stdout, stderr
	int status_fd;              // write end: reports to the launcher
	int go_fd;                  // read end: the launcher's go-ahead
	int sync_fd;                // read end: "id maps written"
	// The rest is complete before nook_spawn, unless payload is set.
	int set_ids;                // 1: setgroups(0), setresgid(gid), setresuid(uid)
	int drop_groups;            // 1: setgroups(0) is allowed and wanted (root)
	uint32_t uid, gid;          // the app's ids inside (and outside)
	const unsigned char *prog;  // the program (program.go), owned by the caller
	size_t prog_len;
	// affinity, when affinity_size is not 0, is the CPU mask the child
	// takes once it has the sync byte: the launcher's own. A prestarted
	// child is first kept off the launcher's CPU (spawn.c), so that it
	// runs beside the Go runtime's start instead of after it.
	unsigned long affinity[16];
	size_t affinity_size;
};

// nook_payload is what a child with payload set reads from the sync
// descriptor in place of the sync byte, followed by prog_len bytes of
// program: the identity, and whether the program is a warm record's
// (warm.go) that the launcher has not yet compared with the plan (then
// init runs the setup but waits for the launcher's verdict, a byte on go:
// 'c', it is the plan's; 'a', it is but for its app section, which
// follows as a uint32 length and bytes; before anything that writes
// outside the sandbox's own tmpfs mounts and before the app's exec; and
// it reports "ready" once set up). Little-endian, as every target of
// nook is.
struct nook_payload {
	uint32_t set_ids, drop_groups, uid, gid, speculative, prog_len;
};

// nook_spawn starts the init stage: a child of the calling thread in new
// namespaces, with a copy of the launcher's memory, that runs the program
// and never returns to Go. It returns the child's pid and sets *mem, or
// returns -errno when clone fails. The arguments must be complete before
// the clone, but for those a payload brings. The caller owns args and its
// descriptors (the child has its own copies of the descriptors), and
// passes *mem to nook_spawn_release once it has reaped the child.
int nook_spawn(const struct nook_spawn_args *args, void **mem);

// nook_init_main is the child's code (initstage.c), run on the stack
// nook_spawn made with arg, its copy of the arguments; it never returns.
int nook_init_main(void *arg);

// nook_spawn_release frees what nook_spawn allocated for a child that has
// been reaped.
void nook_spawn_release(void *mem);

// nook_prestart is an init stage started by a constructor before the Go
// runtime, when nook's first argument is "run": it has the process's
// descriptors 0, 1 and 2 as stdio and waits, in its namespaces, for its
// arguments and the sync byte.
struct nook_prestart {
	int pid;
	unsigned long flags, unshare_flags; // its namespaces, as in nook_spawn_args
	int status_fd, go_fd, sync_fd; // the launcher's ends, close-on-exec
	void *mem;
	// warm is the warm record the init stage runs speculatively (its id
	// maps are written, its payload sent), NULL when there was none: the
	// launcher must compare it with its own before its verdict. It stays
	// allocated for the process's life.
	const unsigned char *warm;
	size_t warm_len;
	// fast is the record's fast section (fastlaunch.go), which the
	// constructor found not to hold (else there would be no launcher):
	// the launcher compares it with its own to tell whether to rewrite
	// the record. NULL with warm.
	const unsigned char *fast;
	size_t fast_len;
};

// nook_take_prestart hands out the prestarted init stage, once: it
// returns 1 and fills out, or 0 when there is none (left).
int nook_take_prestart(struct nook_prestart *out);

// nook_unpin gives every thread of the launcher its CPU mask back, if
// the prestart constructor pinned the launcher (spawn.c, steer). Threads
// started later inherit it.
void nook_unpin(void);

// nook_warm_path is the file the constructor looked for a warm record in
// (for "nook run": this user's cache directory, named after the
// arguments), NULL when it had none to look in.
const char *nook_warm_path(void);

// nook_read_warm reads the warm record at path into a new buffer (the
// caller frees it) and sets *len, or returns NULL. The record's
// directory and the file itself must be owned by the effective uid and
// writable by no one else, and the file must be a regular file: only then
// may what it holds run in a sandbox.
unsigned char *nook_read_warm(const char *path, size_t *len);

#endif
