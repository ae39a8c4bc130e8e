#!/usr/bin/env bash
# bench/image-launch.sh — launch latency of `nook run` of the static probe
# ("probe exit 0", a /bin/true that needs no libc) on three roots:
#   host   image = "host" (binds of the host's /usr, /etc, ...), probe bound in
#   1      image = "bench/one:1", one layer (an overlay with one lower dir)
#   10     image = "bench/ten:1", the same plus nine small layers (ten lower dirs)
# Image roots are persistent (the default): an upper dir on disk.
#
# The images are made with nook itself: the one-layer image is a docker-save
# archive written here and imported with `nook image import`; the ten-layer
# one is built from it by a recipe of nine copy steps (`nook build`).
#
# Usage: bench/image-launch.sh [NOOK_BINARY]   (nook-image beside it; as root: it benchmarks as root
# and as the unprivileged user nooktest). Needs hyperfine and python3. Prints
# hyperfine's tables, then an interleaved run's medians and the 10-layer minus
# 1-layer difference in ms. NOOK_BENCH_USERS (default "root nooktest") and
# NOOK_BENCH_RUNS (default 200) adjust it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/nook-image-bench.XXXXXX)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
if [ -n "${1:-}" ]; then cp "$1" "$dir/nook"; cp "$(dirname "$1")/nook-image" "$dir/"; else scripts/build -o "$dir/nook"; fi
mkdir "$dir/probe"
CGO_ENABLED=0 go build -o "$dir/probe/probe" ./sandbox/sandboxtest/probe
id nooktest >/dev/null 2>&1 || useradd --create-home nooktest

# A docker-save archive of one layer: the probe at /bin/probe and the few
# files and directories a sandbox mounts over.
python3 - "$dir" <<'PY'
import hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    def add(name, data=None, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.mode = mode
        if data is None:
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            t.addfile(ti)
        else:
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    for dd in ["bin", "etc", "proc", "dev", "tmp", "run", "home", "sys"]:
        add(dd)
    add("bin/probe", open(os.path.join(d, "probe", "probe"), "rb").read(), 0o755)
    for f in ["passwd", "group", "hosts", "resolv.conf"]:
        add("etc/" + f, b"")
lb = layer.getvalue()
diff = "sha256:" + hashlib.sha256(lb).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
cfgname = hashlib.sha256(cfg).hexdigest() + ".json"
manifest = json.dumps([{"Config": cfgname, "RepoTags": ["bench/one:1"], "Layers": ["layer.tar"]}]).encode()
with tarfile.open(os.path.join(d, "one.tar"), "w") as t:
    for name, data in [("layer.tar", lb), (cfgname, cfg), ("manifest.json", manifest)]:
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
PY
chmod 644 "$dir/one.tar"
{
	echo 'from = "bench/one:1"'
	echo 'tag = "bench/ten:1"'
	for i in 1 2 3 4 5 6 7 8 9; do
		echo "layer $i" >"$dir/f$i"
		printf '\n[[step]]\ncopy = { src = "f%s", dst = "/layers/%s" }\n' "$i" "$i"
	done
} >"$dir/ten.toml"
chmod 644 "$dir"/f* "$dir/ten.toml"

profile() { # profile NAME IMAGE COMMAND [EXTRA]
	printf 'name = "%s"\ncommand = [%s, "exit", "0"]\nimage = "%s"\n[filesystem]\nhome = "ephemeral"\n%s' "$1" "$3" "$2" "${4:-}" >"$dir/$1.toml"
}
profile bench-host host '"/probe/probe"' "$(printf '[[filesystem.mounts]]\nsource = "%s"\ntarget = "/probe"\n' "$dir/probe")"
profile bench-one bench/one:1 '"/bin/probe"'
profile bench-ten bench/ten:1 '"/bin/probe"'

for user in ${NOOK_BENCH_USERS:-root nooktest}; do
	echo "== as $user"
	home=$dir/home-$user
	mkdir -p "$home"
	[ "$user" = root ] || chown nooktest "$home"
	run() {
		if [ "$user" = root ]; then env NOOK_STORE="$home/store" XDG_DATA_HOME="$home/data" XDG_CACHE_HOME="$home/cache" "$@"
		else runuser -u nooktest -- env NOOK_STORE="$home/store" XDG_DATA_HOME="$home/data" XDG_CACHE_HOME="$home/cache" "$@"; fi
	}
	run "$dir/nook" image import "$dir/one.tar" >/dev/null
	run "$dir/nook" build "$dir/ten.toml" | tail -1
	for p in host one ten; do run "$dir/nook" run "$dir/bench-$p.toml"; done # roots, filter cache
	cmdline() { # the hyperfine command for profile $1
		local e=(env NOOK_STORE="$home/store" XDG_DATA_HOME="$home/data" XDG_CACHE_HOME="$home/cache" "$dir/nook" run "$dir/bench-$1.toml")
		if [ "$user" = root ]; then printf '%q ' "${e[@]}"; else printf 'runuser -u nooktest -- %s' "$(printf '%q ' "${e[@]}")"; fi
	}
	hyperfine -N --warmup 20 --runs "${NOOK_BENCH_RUNS:-200}" \
		-n "host image" "$(cmdline host)" -n "1 layer" "$(cmdline one)" -n "10 layers" "$(cmdline ten)"
	# hyperfine runs one command after the other, so load that changes
	# during the benchmark (a shared CI machine) biases the differences.
	# Interleaved: each round runs the three once, in turn; the differences
	# are taken per round, and their median reported.
	python3 - "$user" "${NOOK_BENCH_RUNS:-200}" "$(cmdline host)" "$(cmdline one)" "$(cmdline ten)" <<'PY'
import resource, shlex, statistics as st, subprocess, sys, time
user, rounds, cmds = sys.argv[1], int(sys.argv[2]), [shlex.split(c) for c in sys.argv[3:]]
times, cpu = [[], [], []], [[], [], []]
def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
for _ in range(rounds):
    for i, c in enumerate(cmds):
        c0, t0 = children_cpu(), time.perf_counter()
        subprocess.run(c, check=True)
        times[i].append((time.perf_counter() - t0) * 1e3)
        cpu[i].append((children_cpu() - c0) * 1e3)
med = [st.median(t) for t in times]
# CPU time (user + system of nook, its init and the app, all waited for)
# is what the launch costs the machine; unlike wall time it hardly depends
# on what else runs. The kernel may account it in ticks, so its mean (an
# unbiased estimate) is reported, with the standard error.
cm = [st.mean(c) for c in cpu]
se = [st.stdev(c) / len(c) ** 0.5 for c in cpu]
print(f"[{user}] CPU time per launch, mean: host {cm[0]:.2f}±{se[0]:.2f} ms, 1 layer {cm[1]:.2f}±{se[1]:.2f} ms, 10 layers {cm[2]:.2f}±{se[2]:.2f} ms; 10 - 1 layer: {cm[2]-cm[1]:+.2f} ms")
d10 = [b - a for a, b in zip(times[1], times[2])]
d1h = [b - a for a, b in zip(times[0], times[1])]
print(f"[{user}] interleaved, {rounds} rounds: median host {med[0]:.2f} ms, 1 layer {med[1]:.2f} ms, 10 layers {med[2]:.2f} ms")
print(f"[{user}] min: host {min(times[0]):.2f} ms, 1 layer {min(times[1]):.2f} ms, 10 layers {min(times[2]):.2f} ms")
print(f"[{user}] 10 layers - 1 layer: {st.median(d10):+.2f} ms (median of per-round differences)")
print(f"[{user}] 1 layer - host image: {st.median(d1h):+.2f} ms (median of per-round differences)")
PY
	run "$dir/nook" reset bench-one >/dev/null # as root the roots are in /var/lib/nook
	run "$dir/nook" reset bench-ten >/dev/null
done
