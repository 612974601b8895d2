#!/bin/sh
# Builds nng 1.5.2 (the SP transport library; docs/transport.md) from
# Debian's source package as a static, position-independent library and
# caches the install tree outside the checkout, keyed by version and the
# change below. Prints the install prefix on stdout.
#
# Debian 12's binary libnng1 1.5.2 has upstream bug #1518, fixed in nng
# 1.6.0 (commit 9248ed7): a peer that closes its connection during the
# SP header exchange makes the listener stop accepting, for good. Any
# local process can do that to a broker, and an ordinary client that
# closes its socket while a second connection is still being set up does
# it by accident. The build applies upstream's fix: such a close is a
# shut connection (NNG_ECONNSHUT), not a closed listener (NNG_ECLOSED).
set -eu

VERSION=1.5.2
CACHE=${ROOST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roost}
JOBS=${JOBS:-$(nproc)}

# Upstream's fix goes at the `error:` label of the negotiation callback of
# each stream transport roost uses (file:function).
FIX='\tif (rv == NNG_ECLOSED) {\n\t\trv = NNG_ECONNSHUT;\n\t}'
FIXED="src/sp/transport/ipc/ipc.c:ipc_pipe_neg_cb src/sp/transport/tcp/tcp.c:tcptran_pipe_nego_cb"

KEY=$(printf '%s|%s|%s' "$VERSION" "$FIX" "$FIXED" | sha256sum | cut -c1-12)
PREFIX="$CACHE/nng-$VERSION-$KEY"

. "$(dirname "$0")/debsrc.sh"
debsrc_start nng "$PREFIX"

# Applies FIX to the `error:` label of one function only, and checks that
# it took: a source that moved on must fail the build, not build unfixed.
apply_fix() {
	file=$SRC/${1%%:*} fn=${1##*:}
	awk -v fn="$fn" -v fix="$FIX" '
		$0 ~ "^" fn "\\(" { infn = 1 }
		infn && /^error:$/ { print; print fix; infn = 0; done = 1; next }
		{ print }
		END { exit done ? 0 : 1 }' "$file" >"$file.fixed" || {
		log "cannot apply the negotiation fix to $fn in $file"
		exit 1
	}
	mv "$file.fixed" "$file"
}

build() {
	for f in $FIXED; do
		apply_fix "$f"
	done
	log "building static libnng with $JOBS jobs"
	cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$PREFIX.tmp" -DBUILD_SHARED_LIBS=OFF \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DNNG_TESTS=OFF -DNNG_TOOLS=OFF \
		-DNNG_ENABLE_NNGCAT=OFF -DNNG_ENABLE_TLS=OFF -DNNG_ENABLE_HTTP=OFF \
		-DNNG_TRANSPORT_WS=OFF -DNNG_TRANSPORT_WSS=OFF -DNNG_TRANSPORT_TLS=OFF \
		-DNNG_TRANSPORT_ZEROTIER=OFF \
		>"$WORK/cmake.log" 2>&1 || { tail -30 "$WORK/cmake.log" >&2; exit 1; }
	cmake --build "$WORK/build" -j "$JOBS" >"$WORK/build.log" 2>&1 ||
		{ tail -40 "$WORK/build.log" >&2; exit 1; }
	rm -rf "$PREFIX.tmp"
	cmake --install "$WORK/build" >/dev/null
	touch "$PREFIX.tmp/.complete"
	rm -rf "$PREFIX"
	mv "$PREFIX.tmp" "$PREFIX"
}

mkdir -p "$CACHE"
log "fetching Debian's nng $VERSION source package"
SRC=$(debsrc_fetch nng "$VERSION" "$WORK")
build
log "installed in $PREFIX"
echo "$PREFIX"
