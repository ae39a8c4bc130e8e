#!/usr/bin/env bash
# bench/cgroup.sh — what cgroup setup adds to `nook run`: /bin/true with no
# limits (no cgroup is made) against /bin/true with limits (a group made,
# limits written, init placed, the group destroyed), per manager this host
# has. Then the Go benchmark of the managers alone.
#
# Usage: bench/cgroup.sh [NOOK_BINARY]   (as root; needs hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
nook=${1:-}
if [ -z "$nook" ]; then
	scripts/build -o /tmp/nook-bench-cg-bin/nook # and nook-image beside it
	nook=/tmp/nook-bench-cg-bin/nook
fi
dir=$(mktemp -d /tmp/nook-bench-cg.XXXXXX)
chmod 755 "$dir"
cp "$nook" "$dir/nook"
trap 'rm -rf "$dir"' EXIT
cat >"$dir/true.toml" <<'TOML'
name = "bench"
command = ["/bin/true"]
[filesystem]
home = "ephemeral"
TOML
limits=(--memory 512M --cpus 1 --pids 256)
cmds=(-n "no limits" "$dir/nook run $dir/true.toml")
if [ -d /sys/fs/cgroup/unified ] || [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
	cmds+=(-n "cgroupfs v1" "$dir/nook run --cgroup-manager cgroupfs ${limits[*]} $dir/true.toml")
else
	cmds+=(-n "cgroupfs v2" "$dir/nook run --cgroup-manager cgroupfs ${limits[*]} $dir/true.toml")
	if "$dir/nook" run --cgroup-manager systemd --pids 10 "$dir/true.toml" 2>/dev/null; then
		cmds+=(-n "systemd" "$dir/nook run --cgroup-manager systemd ${limits[*]} $dir/true.toml")
	fi
fi
hyperfine -N --warmup 5 --runs 100 "${cmds[@]}"
go test -count=1 -run '^$' -bench BenchmarkCreateDestroy -benchtime 200x ./sandbox/cgroup/ | grep Benchmark
