#!/bin/sh
# Packs what bench/gpu-check.sh --prebuilt needs on a GPU machine that has no
# package archive: the GPU build of roost (make GPU=1), the cached FAISS GPU
# libraries, the Debian shared libraries the binaries load, and Debian's
# pytest (its conftest helpers are imported by the checks).
#
#   bench/gpu-payload.sh [OUT.tgz]     (default .dev/payload.tgz)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-.dev/payload.tgz}
make GPU=1 -j"$(nproc)" >/dev/null
FAISS=$(sed -n 's/^FAISS_PREFIX := //p' build-gpu/faiss-gpu.mk)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/syslib" "$STAGE/pylib" "$STAGE/faiss" "$STAGE/build-gpu"
echo "$FAISS" >"$STAGE/faiss-prefix"
cp -a "$FAISS/lib" "$STAGE/faiss/"
touch "$STAGE/faiss/.complete"
# Every Debian library the binaries load that a CUDA image may lack.
ldd build-gpu/bin/roost-writer build-gpu/bin/roost-broker build-gpu/bench/roost-bench-gpu |
	awk '/=> \/lib\/x86_64-linux-gnu\// { print $3 }' | sort -u |
	grep -v -E '/lib(c|m|dl|pthread|rt|stdc\+\+|gcc_s)\.so' |
	while read -r lib; do cp -L "$lib" "$STAGE/syslib/"; done
cp -L /lib/x86_64-linux-gnu/libcmocka.so.0 "$STAGE/syslib/"
for m in pytest _pytest pluggy iniconfig packaging py py.py attr attrs; do
	cp -a "/usr/lib/python3/dist-packages/$m" "$STAGE/pylib/"
done
cp -a build-gpu/bin build-gpu/lib build-gpu/tests build-gpu/bench "$STAGE/build-gpu/"
find "$STAGE/build-gpu" \( -name '*.o' -o -name '*.d' \) -delete
mkdir -p "$(dirname "$OUT")"
tar -czf "$OUT" -C "$STAGE" .
ls -la "$OUT"
