#!/bin/sh
# Builds FAISS 1.7.3 (libfaiss + libfaiss_c) from Debian's source package
# and caches the install tree outside the checkout, keyed by version and
# flags. Prints the install prefix on stdout.
#
#   scripts/faiss.sh [cpu|gpu]
#
# Debian's binary libfaiss is built for baseline x86-64 (scalar distance
# kernels, several times slower) and lacks the C API, so it cannot be used
# as it is.
set -eu

VARIANT=${1:-cpu}
VERSION=1.7.3
CACHE=${ROOST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roost}
JOBS=${JOBS:-$(nproc)}

if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
	SIMD="-mavx2 -mfma -mf16c -mpopcnt"
else
	SIMD=""
fi
CMAKE_EXTRA=""
case $VARIANT in
gpu)
	CUDA=${CUDA_HOME:-/usr/local/cuda}
	[ -x "$CUDA/bin/nvcc" ] || {
		echo "roost: faiss: no nvcc in $CUDA/bin (set CUDA_HOME)" >&2
		exit 1
	}
	# 90-real: SASS for H100/H200 only, which keeps the build short; list
	# more (e.g. "80-real;90-real") for other cards. CUDA 13 dropped < 75.
	ARCHS=${CUDA_ARCHS:-90-real}
	# CUDA 13's thrust/cub require C++17; FAISS would default to C++11.
	# The installed libfaiss names the CUDA library directory in its
	# RUNPATH, so it loads wherever ld.so.conf does not list CUDA.
	CMAKE_EXTRA="-DFAISS_ENABLE_GPU=ON -DCMAKE_CUDA_COMPILER=$CUDA/bin/nvcc
-DCMAKE_CUDA_STANDARD=17 -DCMAKE_CUDA_ARCHITECTURES=$ARCHS
-DCMAKE_INSTALL_RPATH_USE_LINK_PATH=ON"
	;;
cpu)
	CMAKE_EXTRA="-DFAISS_ENABLE_GPU=OFF"
	;;
*)
	echo "usage: scripts/faiss.sh [cpu|gpu]" >&2
	exit 2
	;;
esac
KEY=$(printf '%s|%s|%s' "$VERSION" "$SIMD" "$CMAKE_EXTRA" | sha256sum | cut -c1-12)
PREFIX="$CACHE/faiss-$VERSION-$VARIANT-$KEY"

. "$(dirname "$0")/debsrc.sh"
debsrc_start faiss "$PREFIX"

fetch_source() {
	log "fetching Debian's faiss $VERSION source package"
	SRC=$(debsrc_fetch faiss "$VERSION" "$WORK")
}

patch_gpu() {
	# c_api/gpu/DeviceUtils_c.h includes cublas.h, which clashes with
	# cublas_v2.h since CUDA 12 (upstream FAISS issue 2655).
	sed -i 's|#include <cublas.h>|#include <cublas_v2.h>|' \
		"$SRC/c_api/gpu/DeviceUtils_c.h"
}

build() {
	[ "$VARIANT" = gpu ] && patch_gpu
	log "building ($VARIANT, flags: ${SIMD:-generic}) with $JOBS jobs"
	# shellcheck disable=SC2086
	cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$PREFIX.tmp" -DBUILD_SHARED_LIBS=ON \
		-DFAISS_ENABLE_C_API=ON -DFAISS_ENABLE_PYTHON=OFF \
		-DBUILD_TESTING=OFF -DBLA_VENDOR=OpenBLAS \
		-DCMAKE_CXX_FLAGS="-O2 $SIMD" $CMAKE_EXTRA \
		>"$WORK/cmake.log" 2>&1 || { tail -30 "$WORK/cmake.log" >&2; exit 1; }
	cmake --build "$WORK/build" -j "$JOBS" --target faiss faiss_c \
		>"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; exit 1; }
	rm -rf "$PREFIX.tmp"
	cmake --install "$WORK/build" >/dev/null
	install_c_api
	touch "$PREFIX.tmp/.complete"
	rm -rf "$PREFIX"
	mv "$PREFIX.tmp" "$PREFIX"
}

# FAISS 1.7.3 does not install the C API; copy its library and headers.
install_c_api() {
	mkdir -p "$PREFIX.tmp/lib" "$PREFIX.tmp/include/faiss/c_api"
	cp -P "$WORK"/build/c_api/libfaiss_c.so* "$PREFIX.tmp/lib/"
	(cd "$SRC/c_api" && find . -name '*.h' -exec cp --parents {} \
		"$PREFIX.tmp/include/faiss/c_api/" \;)
}

mkdir -p "$CACHE"
fetch_source
build
log "installed in $PREFIX"
echo "$PREFIX"
