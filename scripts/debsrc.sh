# Fetches a Debian source package with `apt-get source`, for the libraries
# roost builds itself (scripts/faiss.sh, scripts/nng.sh). Sourced, not run.
#
#   debsrc_start NAME PREFIX               prints PREFIX and exits when it
#                                          holds a finished build; else sets
#                                          WORK, a scratch directory removed
#                                          at exit, and log()
#   debsrc_fetch PACKAGE VERSION WORKDIR   prints the unpacked source tree
#
# It uses a private apt configuration whose deb-src entries mirror the
# machine's own deb entries: no host name is written here, and the
# system's apt state is left untouched.

debsrc_start() {
	if [ -f "$2/.complete" ]; then
		echo "$2"
		exit 0
	fi
	DEBSRC_NAME=$1
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/roost-$1.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
}

log() { echo "roost: $DEBSRC_NAME: $*" >&2; }

debsrc__derive() {
	mkdir -p "$1/apt/sources.list.d" "$1/apt/lists/partial" "$1/apt/archives/partial"
	: >"$1/apt/sources.list"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$1/apt/sources.list"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# Only stanzas that carry binary packages become deb-src stanzas.
		awk 'BEGIN { RS=""; ORS="\n\n" }
		     /(^|\n)Types:[^\n]*deb([ \t\n]|$)/ && !/(^|\n)Enabled:[ \t]*no/ {
		         sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" \
			>"$1/apt/sources.list.d/$(basename "$f")"
	done
}

debsrc_fetch() {
	pkg=$1 version=$2 work=$3
	debsrc__derive "$work"
	set -- -o "Dir::Etc::SourceList=$work/apt/sources.list" \
		-o "Dir::Etc::SourceParts=$work/apt/sources.list.d" \
		-o "Dir::State::Lists=$work/apt/lists" \
		-o "Dir::Cache::Archives=$work/apt/archives" \
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" \
		-o "APT::Sandbox::User=$(id -un)"
	apt-get "$@" -q update >"$work/apt-update.log" 2>&1 ||
		echo "roost: $pkg: apt-get update reported errors (continuing):" \
			"$(tail -1 "$work/apt-update.log")" >&2
	# The Debian revision is whatever the archive serves for this version.
	debver=$(apt-cache "$@" showsrc "$pkg" 2>/dev/null |
		sed -n "s/^Version: \($version-.*\)/\1/p" | head -1)
	[ -n "$debver" ] || {
		echo "roost: $pkg: no $pkg $version source in the archive" >&2
		return 1
	}
	(cd "$work" && apt-get "$@" -q source "$pkg=$debver" >"$work/apt-source.log" 2>&1) || {
		cat "$work/apt-source.log" >&2
		echo "roost: $pkg: could not fetch the source package" >&2
		return 1
	}
	src=$(find "$work" -maxdepth 1 -type d -name "$pkg-$version*" | head -1)
	[ -n "$src" ] || {
		echo "roost: $pkg: source tree missing after apt-get source" >&2
		return 1
	}
	echo "$src"
}
