#!/usr/bin/env bash
# bench/launch.sh — launch latency of `nook run` against bubblewrap, both
# starting /bin/true in fresh user, mount, pid, ipc, uts, net and cgroup
# namespaces with equivalent read-only binds of the host image, a new
# session and death with the parent. nook also loads a seccomp filter,
# drops every capability and masks host secrets. Launches after the first
# find the warm record the first left, as repeated launches of an app from
# its menu entry do, and are warm launches: nook's constructor checks the
# record's facts and runs the launch without starting the Go runtime
# (docs/security.md, "Warm launches").
#
# Usage: bench/launch.sh [NOOK_BINARY]   (nook-image beside it, as scripts/build
# makes them; run as root: it benchmarks as root
# and as the unprivileged user nooktest). Needs hyperfine, bubblewrap and
# python3 (scripts/deps test installs them). Prints hyperfine's table and
# the ratio, then an interleaved comparison (nook; nook's regular launch,
# NOOK_WARM_LAUNCH=0, where the Go launcher compares the record; nook
# without its prestarted init stage; bwrap; one launch each in turn).
set -euo pipefail
cd "$(dirname "$0")/.."
nook=${1:-}
if [ -z "$nook" ]; then
	scripts/build -o /tmp/nook-bench-bin/nook # and nook-image beside it
	nook=/tmp/nook-bench-bin/nook
fi
dir=$(mktemp -d /tmp/nook-bench.XXXXXX)
chmod 755 "$dir"
cp "$nook" "$dir/nook"
cp "$(dirname "$nook")/nook-image" "$dir/nook-image" # compiles the seccomp filter on a cache miss
# The warm records the launches leave (docs/security.md) go with the
# profile: their name is an FNV-1a hash of nook's arguments before "--".
forget_records() {
	python3 - "$dir/true.toml" "$dir/regular.toml" /var/cache/nook ~nooktest/.cache/nook <<'PY'
import os, sys
for profile in sys.argv[1:3]:
    h = 0xcbf29ce484222325
    for a in ["run", profile]:
        for c in a.encode() + b"\0":
            h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    for d in sys.argv[3:]:
        try: os.remove(os.path.join(d, "run-%016x" % h))
        except OSError: pass
PY
}
trap 'forget_records; rm -rf "$dir"' EXIT
cat >"$dir/true.toml" <<'TOML'
name = "bench"
command = ["/bin/true"]
[filesystem]
home = "ephemeral"
TOML
# The regular launches get a record of their own (its name hashes the
# profile's path): their environment differs, and a record's facts hold
# one environment.
cp "$dir/true.toml" "$dir/regular.toml"

# bwrap with the same file system nook builds for image = "host".
bwrap_args=(--unshare-all --new-session --die-with-parent --ro-bind /usr /usr --ro-bind /etc /etc)
for d in /bin /sbin /lib /lib32 /lib64 /libx32; do
	if [ -L "$d" ]; then bwrap_args+=(--symlink "$(readlink "$d")" "$d")
	elif [ -d "$d" ]; then bwrap_args+=(--ro-bind "$d" "$d"); fi
done
bwrap_args+=(--proc /proc --dev /dev --tmpfs /tmp --tmpfs /run --tmpfs /var --tmpfs /home /bin/true)

id nooktest >/dev/null 2>&1 || useradd --create-home nooktest
for user in root nooktest; do
	echo "== as $user"
	# The launches are timed by a process of the user's own (hyperfine,
	# the interleaving loop below), as a menu entry's launch is started
	# by the user's session: runuser, with its PAM session, runs once
	# around the timing, not around each launch.
	as_user=()
	if [ "$user" != root ]; then
		# A desktop session (pam_systemd) gives the user a tmpfs
		# XDG_RUNTIME_DIR, where nook keeps its records of running
		# sandboxes; runuser makes no session, and without it they would
		# go to /tmp, on disk. Both commands get it; bwrap ignores it.
		run_dir=/run/user/$(id -u "$user")
		[ -d "$run_dir" ] || install -d -m 0700 -o "$user" -g "$(id -g "$user")" "$run_dir"
		as_user=(runuser -u "$user" -- env XDG_RUNTIME_DIR="$run_dir" HOME="$(getent passwd "$user" | cut -d: -f6)")
	fi
	install -m 0644 -o "$user" /dev/null "$dir/$user.json"
	# warm the seccomp filter cache once
	"${as_user[@]}" "$dir/nook" run "$dir/true.toml"
	# hyperfine gives every run an environment variable of random length
	# (HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET, to vary the stack's
	# alignment). A launch from a menu or a shell has the same environment
	# each time, and nook's warm launch holds the whole environment as a
	# fact: env(1) removes the variable, for both commands alike.
	unrandom="env -u HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET"
	"${as_user[@]}" hyperfine -N --warmup 20 --runs 300 --export-json "$dir/$user.json" \
		-n "nook run" "$unrandom $dir/nook run $dir/true.toml" \
		-n "bwrap" "$unrandom bwrap ${bwrap_args[*]}"
	python3 - "$dir/$user.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
n, b = r["nook run"], r["bwrap"]
print(f"nook/bwrap mean wall time: {n['mean']*1e3:.2f} ms / {b['mean']*1e3:.2f} ms = {n['mean']/b['mean']:.2f}x")
print(f"nook/bwrap median:         {n['median']*1e3:.2f} ms / {b['median']*1e3:.2f} ms = {n['median']/b['median']:.2f}x")
PY
	# hyperfine runs one command's runs, then the other's: on a shared
	# machine the load can change in between. This alternates the two,
	# one launch each, and compares medians and minimums, which the
	# machine's other work moves least. NOOK_WARM_LAUNCH=0 is nook's
	# regular launch (the Go launcher compares the warm record), and
	# NOOK_PRESTART=0 nook without its prestarted init stage, to show what
	# each saves.
	"${as_user[@]}" python3 - 300 "$dir/nook" "$dir/true.toml" "$dir/regular.toml" bwrap "${bwrap_args[@]}" <<'PY'
import os, shutil, statistics, sys, time
runs, nook, profile, regular = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
bwrap = sys.argv[5:]
def argv(cmd):
    return [shutil.which(cmd[0])] + cmd[1:]
cases = [("nook run", argv([nook, "run", profile]), {}),
         ("nook run, NOOK_WARM_LAUNCH=0", argv([nook, "run", regular]), {"NOOK_WARM_LAUNCH": "0"}),
         ("nook run, NOOK_PRESTART=0", argv([nook, "run", profile]), {"NOOK_PRESTART": "0"}),
         ("bwrap", argv(bwrap), {})]
null = os.open(os.devnull, os.O_RDWR)
times = {name: [] for name, _, _ in cases}
for i in range(runs + 10):
    for name, a, extra in cases:
        env = dict(os.environ, **extra)
        t = time.perf_counter()
        pid = os.posix_spawn(a[0], a, env, file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
        os.waitpid(pid, 0)
        if i >= 10:
            times[name].append((time.perf_counter() - t) * 1e3)
b = times["bwrap"]
for name, _, _ in cases:
    t = times[name]
    print(f"interleaved {name:30s} median {statistics.median(t):6.2f} ms, min {min(t):6.2f} ms"
          + ("" if name == "bwrap" else f"  = {statistics.median(t)/statistics.median(b):.2f}x / {min(t)/min(b):.2f}x bwrap"))
PY
done
