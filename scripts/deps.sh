#!/bin/sh
# Installs the Debian packages roost builds and tests with.
# As root it runs apt-get itself; otherwise it prints the exact command.
set -eu

PKGS="build-essential cmake dpkg-dev pkg-config libopenblas-dev libomp-dev
nanomsg-utils libprotobuf-c-dev protobuf-c-compiler
libcmocka-dev python3 python3-pytest python3-numpy clang libclang-rt-dev
groff-base python3-prometheus-client"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "roost: missing Debian packages. Run as root:" >&2
	echo "  apt-get update && $cmd" >&2
	exit 1
fi
echo "roost: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
$cmd
