#!/bin/sh
# Image store benchmarks (docs/images.md, "Speed and space"):
#  1. unpacking a large mixed layer (NOOK_BENCH_LAYER_MB, default 300 MiB):
#     nook's safe unpacker vs GNU tar -x of the same file, on the disk of
#     $TMPDIR and on tmpfs (/dev/shm), where the disk does not dominate;
#  2. `nook image du` for 5 images sharing a 64 MiB base.
# Usage: bench/images.sh   (from the repository root; as root or a user)
set -eu
cd "$(dirname "$0")/.."
echo "== unpack vs tar -x, disk (\$TMPDIR)"
go test -run '^$' -bench 'UnpackVsTar|AddLayer' -benchtime=3x -count=3 ./image/ | grep '^Benchmark'
if [ -d /dev/shm ]; then
	echo "== unpack vs tar -x, tmpfs (/dev/shm)"
	NOOK_BENCH_DIR=/dev/shm go test -run '^$' -bench 'UnpackVsTar|AddLayer' -benchtime=3x -count=3 ./image/ | grep '^Benchmark'
fi
echo "== nook image du, 5 images on one base"
go test -run '^$' -bench ImageDu -benchtime=1x -v ./cmd/nook/ | sed -n '/nook image du:/,/saved by sharing/p'
