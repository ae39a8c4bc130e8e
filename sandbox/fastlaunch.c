// The warm launch: nook run's constructor runs the whole launch itself,
// without the Go runtime, when a warm record (warm.go) says which host
// facts its program was compiled from and every one of them still holds.
// See docs/security.md, "Warm launches", for why this is safe, and
// fastlaunch.go for the Go half (what is recorded, and when).
//
// This code runs in the launcher before the Go runtime and uses libc as
// usual.

#define _GNU_SOURCE
#include "fastlaunch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

// ---- encoding (the same as witness/witness.go and fastlaunch.go)

static void out_bytes(struct nook_out *o, const void *p, size_t n) {
	if (o->failed)
		return;
	if (o->n + n > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < o->n + n)
			cap *= 2;
		unsigned char *b = realloc(o->b, cap);
		if (!b) {
			o->failed = 1;
			return;
		}
		o->b = b;
		o->cap = cap;
	}
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void out_u32(struct nook_out *o, uint32_t v) {
	unsigned char b[4] = {v, v >> 8, v >> 16, v >> 24};
	out_bytes(o, b, 4);
}

static void out_u64(struct nook_out *o, uint64_t v) {
	out_u32(o, (uint32_t)v);
	out_u32(o, (uint32_t)(v >> 32));
}

static void out_str(struct nook_out *o, const char *s) {
	size_t n = strlen(s);
	out_u32(o, (uint32_t)n);
	out_bytes(o, s, n);
}

void nook_put_fact(struct nook_out *o, char op, const char *path) {
	struct stat st;
	int r = op == 'l' ? lstat(path, &st) : stat(path, &st);
	out_bytes(o, &op, 1);
	out_str(o, path);
	out_u32(o, r < 0 ? (uint32_t)errno : 0);
	if (r < 0)
		return;
	uint64_t v[] = {st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size,
			st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
	if (S_ISDIR(st.st_mode))
		v[5] = v[6] = v[7] = v[8] = v[9] = 0; // see witness.Append
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		out_u64(o, v[i]);
}

// ---- the process's own facts, taken by the constructor before anything
// else reads the host.

static struct nook_out self;
static int self_ok;

// volatile_env are variables a desktop's launcher sets anew for every
// launch, which nook neither reads nor passes to the app
// (TestVolatileEnvUnread): the facts leave them out, so that a launch
// from a menu can be warm.
static const char *const volatile_env[] = {
	"DESKTOP_STARTUP_ID=", "XDG_ACTIVATION_TOKEN=", "GIO_LAUNCHED_DESKTOP_FILE=", "GIO_LAUNCHED_DESKTOP_FILE_PID=",
};

static int is_volatile(const char *kv) {
	for (size_t i = 0; i < sizeof volatile_env / sizeof volatile_env[0]; i++)
		if (strncmp(kv, volatile_env[i], strlen(volatile_env[i])) == 0)
			return 1;
	return 0;
}

void nook_capture_self(int argc, char **argv, int argv_complete) {
	self.n = 0;
	self.failed = 0;
	out_u32(&self, (uint32_t)argc);
	for (int i = 0; i < argc; i++)
		out_str(&self, argv[i]);
	uint32_t n = 0;
	for (char **e = environ; e && *e; e++)
		n += !is_volatile(*e);
	out_u32(&self, n);
	for (char **e = environ; e && *e; e++)
		if (!is_volatile(*e))
			out_str(&self, *e);
	char cwd[4096];
	out_str(&self, getcwd(cwd, sizeof cwd) ? cwd : "");
	out_u32(&self, getuid());
	out_u32(&self, geteuid());
	out_u32(&self, getgid());
	out_u32(&self, getegid());
	struct utsname u;
	out_str(&self, uname(&u) == 0 ? u.nodename : "");
	nook_put_fact(&self, 's', "/proc/self/exe");
	self_ok = argv_complete && !self.failed;
}

const unsigned char *nook_self(size_t *len) {
	if (!self_ok)
		return NULL;
	*len = self.n;
	return self.b;
}

// ---- reading a fast section

int nook_get_u32(struct nook_reader *r, uint32_t *v) {
	if (r->end - r->p < 4)
		return 0;
	*v = r->p[0] | r->p[1] << 8 | r->p[2] << 16 | (uint32_t)r->p[3] << 24;
	r->p += 4;
	return 1;
}

// get_data takes a u32 length and that many bytes.
static int get_data(struct nook_reader *r, const unsigned char **s, uint32_t *n) {
	if (!nook_get_u32(r, n) || (size_t)(r->end - r->p) < *n)
		return 0;
	*s = r->p;
	r->p += *n;
	return 1;
}

// get_cstr is get_data into a NUL-terminated copy in buf.
static int get_cstr(struct nook_reader *r, char *buf, size_t size) {
	const unsigned char *s;
	uint32_t n;
	if (!get_data(r, &s, &n) || n >= size || memchr(s, 0, n))
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	return 1;
}

// facts_hold checks every fact of facts (nook_put_fact's encoding, one
// after another) against the host now.
static int facts_hold(const unsigned char *facts, size_t len) {
	struct nook_reader r = {facts, facts + len};
	struct nook_out now = {0};
	int ok = 1;
	while (ok && r.p < r.end) {
		const unsigned char *start = r.p;
		char op = (char)*r.p++;
		char path[4096];
		uint32_t err;
		if ((op != 's' && op != 'l') || !get_cstr(&r, path, sizeof path) || !nook_get_u32(&r, &err) ||
		    (err == 0 && (size_t)(r.end - r.p) < 80)) {
			ok = 0;
			break;
		}
		if (err == 0)
			r.p += 80;
		now.n = 0;
		nook_put_fact(&now, op, path);
		ok = !now.failed && now.n == (size_t)(r.p - start) && memcmp(now.b, start, now.n) == 0;
	}
	free(now.b);
	return ok;
}

// ---- the state record (sandbox/state): what state.Store.Create writes,
// but for collecting stale records, which the next nook call does.

struct launch {
	int init_pid, status_fd, go_fd;
	char dir[2048], app[256], hostname[256];
	char id[13];
	char record[2400]; // dir/ID.json once written, else ""
};

static int read_small(const char *path, char *buf, size_t size) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
		if (n == size - 1)
			break;
	}
	close(fd);
	buf[n] = 0;
	return (int)n;
}

// start_time is field 22 of /proc/PID/stat ("self" for PID 0), 0 if unknown.
static unsigned long long start_time(int pid) {
	char path[64], buf[1024];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
	else
		snprintf(path, sizeof path, "/proc/self/stat");
	if (read_small(path, buf, sizeof buf) <= 0)
		return 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	// Field 3 follows ") ": field 22 is 19 fields on.
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

// json_value finds "KEY": in a record and returns what follows, or NULL.
static const char *json_value(const char *rec, const char *key) {
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\": ", key);
	const char *p = strstr(rec, pat);
	return p ? p + strlen(pat) : NULL;
}

// seq_of reads the app and seq of the record in file name, if it is one
// of app's: its seq, else 0.
static int seq_of(int dir, const char *name, const char *app) {
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *a = json_value(buf, "app"), *s = json_value(buf, "seq");
	size_t al = strlen(app);
	if (!a || !s || a[0] != '"' || strncmp(a + 1, app, al) != 0 || a[1 + al] != '"')
		return 0;
	return atoi(s);
}

static void new_id(char id[13]) {
	unsigned char b[6];
	if (getrandom(b, sizeof b, 0) != sizeof b) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		unsigned long long v = (unsigned long long)t.tv_nsec ^ ((unsigned long long)getpid() << 30);
		memcpy(b, &v, sizeof b);
	}
	for (int i = 0; i < 6; i++) {
		id[2 * i] = "0123456789abcdef"[b[i] >> 4];
		id[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
	}
	id[12] = 0;
}

// rfc3339 writes the time now as Go's time.Time marshals a UTC time:
// RFC 3339 with nanoseconds, trailing zeros dropped.
static void rfc3339(char *buf, size_t size) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	struct tm tm;
	gmtime_r(&t.tv_sec, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (t.tv_nsec) {
		char frac[11];
		snprintf(frac, sizeof frac, ".%09ld", t.tv_nsec);
		for (size_t k = strlen(frac); frac[k - 1] == '0'; k--)
			frac[k - 1] = 0;
		snprintf(buf + n, size - n, "%s", frac);
		n += strlen(frac);
	}
	snprintf(buf + n, size - n, "Z");
}

// create_record writes the launch's state record, as Store.Create does:
// under the directory's lock, the smallest sequence number free among
// the app's records, a fresh id, a temporary file renamed into place.
static int create_record(struct launch *l) {
	char path[2100];
	snprintf(path, sizeof path, "%s/.lock", l->dir);
	int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0)
		return -1;
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR) {
			close(lock);
			return -1;
		}
	int dfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		close(lock);
		return -1;
	}
	unsigned char used[1024] = {0}; // seqs 1..1023 of this app
	char ids[256][13];
	int nids = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (len != 17 || strcmp(e->d_name + 12, ".json") != 0)
			continue;
		if (nids < 256) {
			memcpy(ids[nids], e->d_name, 12);
			ids[nids++][12] = 0;
		}
		int s = seq_of(dfd, e->d_name, l->app);
		if (s > 0 && s < 1024)
			used[s] = 1;
	}
	closedir(d);
	int seq = 1;
	while (seq < 1023 && used[seq])
		seq++;
	for (int tries = 0;; tries++) {
		new_id(l->id);
		int clash = 0;
		for (int i = 0; i < nids; i++)
			clash |= strcmp(ids[i], l->id) == 0;
		if (!clash || tries > 8)
			break;
	}
	char boot[64] = "";
	if (read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot) > 0)
		boot[strcspn(boot, " \t\n")] = 0;
	char started[64];
	rfc3339(started, sizeof started);
	char name[256], version[256] = "";
	snprintf(name, sizeof name, "%s", l->app);
	char *at = strchr(name, '@');
	if (at) {
		*at = 0;
		snprintf(version, sizeof version, ",\n  \"version\": \"%s\"", at + 1);
	}
	char host[300] = "";
	if (l->hostname[0])
		snprintf(host, sizeof host, ",\n  \"hostname\": \"%s\"", l->hostname);
	char rec[2048];
	int n = snprintf(rec, sizeof rec,
			 "{\n  \"schema\": 1,\n  \"id\": \"%s\",\n  \"app\": \"%s\",\n  \"name\": \"%s\"%s,\n  \"seq\": %d,\n"
			 "  \"launcher\": {\n    \"pid\": %d,\n    \"startTime\": %llu\n  },\n"
			 "  \"init\": {\n    \"pid\": %d,\n    \"startTime\": %llu\n  },\n"
			 "  \"bootId\": \"%s\",\n  \"started\": \"%s\",\n  \"limits\": {}%s\n}\n",
			 l->id, l->app, name, version, seq, getpid(), start_time(0), l->init_pid,
			 start_time(l->init_pid), boot, started, host);
	int ok = 0;
	if (n > 0 && (size_t)n < sizeof rec) {
		char tmp[2100];
		snprintf(tmp, sizeof tmp, "%s/.tmp-%d-%s", l->dir, getpid(), l->id);
		snprintf(l->record, sizeof l->record, "%s/%s.json", l->dir, l->id);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			ok = write(fd, rec, n) == n;
			ok = close(fd) == 0 && ok;
			ok = ok && rename(tmp, l->record) == 0;
			if (!ok)
				unlink(tmp);
		}
		if (!ok)
			l->record[0] = 0;
	}
	close(lock);
	return ok ? 0 : -1;
}

static void remove_record(struct launch *l) {
	if (!l->record[0])
		return;
	unlink(l->record);
	char dir[2100];
	snprintf(dir, sizeof dir, "%s/%s", l->dir, l->id);
	rmdir(dir);
}

// ---- running the launch

// unquote undoes initstage.c's quoting of an error message (fail), in
// place: "..." with \" \\ and \xHH.
static void unquote(char *s) {
	char *w = s;
	if (*s != '"')
		return;
	for (char *r = s + 1; *r && *r != '"'; r++) {
		if (*r == '\\' && r[1] == 'x' && r[2] && r[3]) {
			char hex[3] = {r[2], r[3], 0};
			*w++ = (char)strtol(hex, NULL, 16);
			r += 3;
		} else if (*r == '\\' && r[1]) {
			*w++ = *++r;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

// say2 writes "nook: ABC" and a newline to stderr, as cli.Exit does.
static void say2(const char *a, const char *b, const char *c) {
	char line[4200];
	int n = snprintf(line, sizeof line, "nook: %s%s%s\n", a, b, c);
	if (n > 0)
		write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

// wait_init reaps init and returns its status as an exit code.
static int wait_init(int pid) {
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 125;
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

// supervise passes signals on to init and reads its reports until the
// app has ended, then ends the launch with the app's status, as
// sandbox.Run does for an init stage without a cgroup.
static void __attribute__((noreturn)) supervise(struct launch *l, int sigfd) {
	char buf[8192];
	size_t have = 0;
	int lines = 0;
	struct pollfd p[2] = {{.fd = l->status_fd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
	for (;;) {
		if (poll(p, sigfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (sigfd >= 0 && p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof si) == sizeof si)
				kill(l->init_pid, (int)si.ssi_signo);
		}
		if (!p[0].revents)
			continue;
		ssize_t r = read(l->status_fd, buf + have, sizeof buf - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += r;
		buf[have] = 0;
		char *nl;
		while ((nl = memchr(buf, '\n', have))) {
			*nl = 0;
			lines++;
			if (strncmp(buf, "error ", 6) == 0) {
				int c = atoi(buf + 6);
				char *msg = strchr(buf + 6, ' ');
				if (msg) {
					unquote(msg + 1);
					say2(msg + 1, "", "");
				}
				close(l->go_fd);
				wait_init(l->init_pid);
				remove_record(l);
				_exit(c);
			}
			if (strncmp(buf, "exit ", 5) == 0) {
				// Init waits for the go descriptor to close, which
				// this process's exit does, and then ends the sandbox.
				remove_record(l);
				_exit(atoi(buf + 5));
			}
			size_t used = nl + 1 - buf;
			memmove(buf, nl + 1, have - used);
			have -= used;
			buf[have] = 0;
		}
		if (have == sizeof buf - 1)
			break;
	}
	// Init ended without saying how the app did.
	close(l->go_fd);
	int c = wait_init(l->init_pid);
	remove_record(l);
	if (lines == 0 && c == 0) {
		say2("sandbox for ", l->app, " ended before starting the app, without saying why (exit status 0)");
		_exit(125);
	}
	_exit(c);
}

int nook_fast_launch(int pid, int status_fd, int go_fd, const unsigned char *fast, size_t len) {
	const char *off = getenv("NOOK_WARM_LAUNCH");
	if (!self_ok || len == 0 || (off && strcmp(off, "0") == 0))
		return 0;
	struct nook_reader r = {fast, fast + len};
	const unsigned char *s, *facts;
	uint32_t sn, fn;
	struct launch l = {.init_pid = pid, .status_fd = status_fd, .go_fd = go_fd};
	if (!get_data(&r, &s, &sn) || sn != self.n || memcmp(s, self.b, sn) != 0 ||
	    !get_data(&r, &facts, &fn) || !get_cstr(&r, l.dir, sizeof l.dir) ||
	    !get_cstr(&r, l.app, sizeof l.app) || !get_cstr(&r, l.hostname, sizeof l.hostname) || r.p != r.end)
		return 0;
	// The app name and hostname go into JSON unescaped: profiles.checkName
	// allows nothing that needs escaping, and this makes sure.
	for (const char *c = l.app; *c; c++)
		if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\' || *c == '<' || *c == '>' || *c == '&')
			return 0;
	for (const char *c = l.hostname; *c; c++)
		if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\' || *c == '<' || *c == '>' || *c == '&')
			return 0;
	// The state directory must be as state.Open wants it.
	struct stat st;
	if (l.dir[0] != '/' || lstat(l.dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return 0;
	if (!facts_hold(facts, fn))
		return 0;

	// The program is the one the launcher would compile: confirm it, and
	// wait for init to have set the sandbox up.
	if (write(go_fd, "c", 1) != 1)
		return -1;
	char ready[64];
	ssize_t n;
	while ((n = read(status_fd, ready, sizeof ready)) < 0 && errno == EINTR)
		;
	if (n != 6 || memcmp(ready, "ready\n", 6) != 0)
		return -1; // setting up failed: the launcher starts over

	// From the go-ahead on, the signals nook passes on go to the app
	// (sandbox/signals.go): blocked first, so none is lost in between.
	sigset_t fwd;
	sigemptyset(&fwd);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&fwd, sigs[i]);
	// A blocked signal is queued even when nook started with it ignored
	// (as a script's background job starts with SIGINT ignored), so the
	// signalfd gets it, as os/signal's Notify would.
	sigprocmask(SIG_BLOCK, &fwd, NULL);
	int sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
	char go = 0;
	if (write(go_fd, &go, 1) != 1) {
		close(go_fd);
		_exit(wait_init(pid));
	}
	// The record, while the app starts: init stays until this process
	// has exited (it waits for the go descriptor to close).
	if (create_record(&l) < 0)
		say2("warning: recording ", l.app, ": could not write its state record; nook ps will not list it");
	supervise(&l, sigfd);
}
