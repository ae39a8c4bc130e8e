// The init stage's C half: see initstage.c and clone.go.

#ifndef NOOK_INITSTAGE_H
#define NOOK_INITSTAGE_H

#include <stddef.h>
#include <stdint.h>

// nook_spawn_args is what the launcher hands nook_spawn. Descriptors are
// the launcher's; the child moves them to 0, 1, 2 (stdio), 3 (status), 4
// (go) and 5 (sync) and closes every other descriptor it inherited.
struct nook_spawn_args {
	unsigned long flags;        // CLONE_NEW* flags
	int stdio[3];               // the app's stdin, stdout, stderr
	int status_fd;              // write end: reports to the launcher
	int go_fd;                  // read end: the launcher's go-ahead
	int sync_fd;                // read end: "id maps written"
	int set_ids;                // 1: setgroups(0), setresgid(gid), setresuid(uid)
	int drop_groups;            // 1: setgroups(0) is allowed and wanted (root)
	uint32_t uid, gid;          // the app's ids inside (and outside)
	const unsigned char *prog;  // the program (program.go), owned by the caller
	size_t prog_len;
};

// nook_spawn starts the init stage: a child of the calling thread in new
// namespaces, sharing the launcher's memory, that runs the program and
// never returns to Go. It returns the child's pid and sets *mem, or
// returns -errno when clone fails. The caller keeps args->prog, and passes
// *mem to nook_spawn_release, until it has reaped the child; it owns args
// and its descriptors (the child has its own copies of the descriptors).
int nook_spawn(const struct nook_spawn_args *args, void **mem);

// nook_spawn_release frees what nook_spawn allocated for a child that has
// been reaped.
void nook_spawn_release(void *mem);

#endif
