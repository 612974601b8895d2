#!/bin/sh
# The GPU writer's device check, for a machine with an NVIDIA GPU (H100 or
# H200; CUDA at /usr/local/cuda). From a bare checkout it installs what is
# missing (as root), builds FAISS with GPU support and roost with GPU=1,
# runs the GPU build's tests, then bench/gpucheck.py:
#   1. GPU writer vs CPU writer on the same rows (Flat, IVF4096,Flat)
#   2. another process takes 90% of the GPU while the writer ingests
#   3. the writer's peak GPU memory against its budget
#
#   bench/gpu-check.sh [--quick] [--prebuilt PAYLOAD.tgz]
#
# On a GPU machine without a package archive (the lent device machines),
# pack the build here with bench/gpu-payload.sh and pass it with --prebuilt:
# the build steps are then skipped.
#
# Results go to $OUT (default ./gpu-check-out): timings.txt (every phase),
# results.json, summary.txt, table.md (the tables of docs/gpu.md) and the
# logs. The whole run aims at 9 minutes (GPU_CHECK_LIMIT_S, default 540):
# a check that would not fit in what is left is skipped and says so.
set -u
cd "$(dirname "$0")/.."

QUICK=
PREBUILT=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=--quick ;;
	--prebuilt)
		PREBUILT=$2
		shift
		;;
	*)
		echo "usage: bench/gpu-check.sh [--quick] [--prebuilt PAYLOAD.tgz]" >&2
		exit 2
		;;
	esac
	shift
done
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
START=$(date +%s)
LIMIT=${GPU_CHECK_LIMIT_S:-540}
JOBS=$(nproc)
export JOBS
BUILD=build-gpu
export BUILD
: >"$OUT/timings.txt"

# phase NAME LOG COMMAND...: runs it with its output in $OUT/LOG, prints and
# records how long it took.
phase() {
	name=$1 log=$2
	shift 2
	t0=$(date +%s)
	echo "== $name ..."
	"$@" >"$OUT/$log" 2>&1
	rc=$?
	t1=$(date +%s)
	status=ok
	[ $rc -eq 0 ] || status="FAILED (exit $rc, see $log)"
	printf '%-10s %-40s %4ds  (at %ds)\n' "$name" "$status" $((t1 - t0)) $((t1 - START)) |
		tee -a "$OUT/timings.txt"
	return $rc
}

environment() {
	nvidia-smi
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
	/usr/local/cuda/bin/nvcc --version
	echo "cores: $(nproc)"
	free -g
	df -h /dev/shm "$PWD"
}

faiss_gpu() {
	scripts/faiss.sh gpu
}

finish() {
	echo "total: $(($(date +%s) - START))s" | tee -a "$OUT/timings.txt"
	[ -f "$OUT/summary.txt" ] && cat "$OUT/summary.txt"
	exit "$1"
}

# A machine without a package archive gets what bench/gpu-payload.sh packed
# here instead of building: binaries, FAISS GPU, Debian libraries, pytest.
prebuilt() {
	stage=$(mktemp -d)
	tar -xzf "$PREBUILT" -C "$stage" || return 1
	prefix=$(cat "$stage/faiss-prefix")
	mkdir -p "$(dirname "$prefix")" && rm -rf "$prefix" build-gpu &&
		cp -a "$stage/faiss" "$prefix" && cp -a "$stage/build-gpu" build-gpu || return 1
	echo "$stage"
}

phase env env.txt environment || finish 1
if [ -n "$PREBUILT" ]; then
	STAGE=$(prebuilt) || finish 1
	export LD_LIBRARY_PATH="$STAGE/syslib:/usr/local/cuda/lib64:/usr/local/cuda/lib"
	export PYTHONPATH="$STAGE/pylib" ROOST_GPU_BUILD=1
	phase unit test-gpumem.log build-gpu/tests/test_gpumem
	phase checks checks.log python3 bench/gpucheck.py --out "$OUT" $QUICK \
		--deadline $((START + LIMIT))
	rc=$?
	cat "$OUT/table.md" 2>/dev/null
	finish $rc
fi
phase deps deps.log scripts/deps.sh || finish 1
phase faiss faiss-build.log faiss_gpu || {
	tail -20 "$OUT/faiss-build.log"
	finish 1
}
phase build make.log make GPU=1 -j"$JOBS" || {
	tail -20 "$OUT/make.log"
	finish 1
}
# Unit tests of the budget logic and the system tests of --gpu, now on a GPU.
phase tests test-gpu.log make GPU=1 test-gpu || tail -20 "$OUT/test-gpu.log"
phase checks checks.log /usr/bin/python3 bench/gpucheck.py --out "$OUT" $QUICK \
	--deadline $((START + LIMIT))
rc=$?
cat "$OUT/table.md" 2>/dev/null
finish $rc
