// The warm launch's C half: see fastlaunch.c and fastlaunch.go.

#ifndef NOOK_FASTLAUNCH_H
#define NOOK_FASTLAUNCH_H

#include <stddef.h>
#include <stdint.h>

// nook_out is a growing buffer; failed is set when memory ran out (its
// bytes are then incomplete and must not be used).
struct nook_out {
	unsigned char *b;
	size_t n, cap;
	int failed;
};

// nook_reader reads what nook_out wrote: p moves towards end.
struct nook_reader {
	const unsigned char *p, *end;
};

// nook_get_u32 reads a little-endian uint32 into *v: 0 when fewer than 4
// bytes are left.
int nook_get_u32(struct nook_reader *r, uint32_t *v);

// nook_put_fact appends what stat(2) (op 's') or lstat(2) (op 'l') says
// of path now: op, the path (uint32 length and bytes), errno as a uint32
// (0 on success), then on success dev, ino, mode, uid, gid, size, mtime
// (seconds, nanoseconds) and ctime (seconds, nanoseconds) as uint64s,
// little-endian; for a directory, size and times are 0. witness.Log
// encodes the same.
void nook_put_fact(struct nook_out *o, char op, const char *path);

// nook_capture_self records the process's own facts, once, before
// anything reads the host: its arguments (argv_complete is 0 when they
// could not all be read, and then there is no warm launch), its whole
// environment (but for the few variables a desktop sets anew for each
// launch, which nook never reads: volatile_env in fastlaunch.c), its
// working directory, real and effective ids, the host name and the
// executable's fact.
void nook_capture_self(int argc, char **argv, int argv_complete);

// nook_self returns what nook_capture_self recorded, NULL when it could
// not record it all. It stays allocated for the process's life.
const unsigned char *nook_self(size_t *len);

// nook_fast_launch runs the launch of a warm record whose fast section is
// fast (fastlaunch.go) with init stage pid, which runs the record's
// program and waits for the verdict on go_fd, when every fact the section
// holds still holds. Then it never returns: the process exits with the
// app's status. It returns 0 when the facts do not hold (init is
// untouched and waits for the launcher's verdict), and -1 when it
// confirmed the program but init could not set up (init must go, and the
// launcher starts over with one of its own).
int nook_fast_launch(int pid, int status_fd, int go_fd, const unsigned char *fast, size_t len);

#endif
