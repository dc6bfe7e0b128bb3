#!/usr/bin/env bash
# Installs gotrain's pinned CUDA toolkit, Debian 12's nvidia-cuda-toolkit
# (CUDA 11.8: nvcc for `make ptx` and `make ptx-check`, and cuda.h for the
# -tags cuda build), with gcc for cgo and g++ for the CPU emulator of the
# kernels (kernels/emu). It adds the contrib and non-free components to the
# Debian entries of the apt sources (the toolkit is in non-free), then runs
# apt-get update and install. Safe to rerun: it does nothing when nvcc
# 11.8, /usr/include/cuda.h, gcc and g++ are already there.
#
#   scripts/install-cuda-toolkit.sh                  install (as root, or with sudo)
#   scripts/install-cuda-toolkit.sh --sources-only   only add contrib non-free to the sources
#
# The files edited are $CUDA_TOOLKIT_SOURCES (deb822 format, default
# /etc/apt/sources.list.d/debian.sources) and $CUDA_TOOLKIT_SOURCES_LIST
# (one-line format, default /etc/apt/sources.list), whichever exist
# ($CUDA_TOOLKIT_OS_RELEASE, default /etc/os-release, is checked to be
# Debian 12's).
set -euo pipefail

me=install-cuda-toolkit.sh
pinned="release 11.8"
packages=(nvidia-cuda-toolkit gcc g++)
deb822=${CUDA_TOOLKIT_SOURCES:-/etc/apt/sources.list.d/debian.sources}
oneline=${CUDA_TOOLKIT_SOURCES_LIST:-/etc/apt/sources.list}

die() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*"; }

sources_only=false
case "${1:-}" in
	"") ;;
	--sources-only) sources_only=true ;;
	-h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (allowed: --sources-only, --help)" ;;
esac
[ $# -le 1 ] || die "too many arguments (allowed: --sources-only, --help)"

toolkit_ok() {
	command -v nvcc >/dev/null && [[ "$(nvcc --version 2>/dev/null)" == *"$pinned"* ]] &&
		[ -f /usr/include/cuda.h ] && command -v gcc >/dev/null && command -v g++ >/dev/null
}

if ! $sources_only && toolkit_ok; then
	say "nvcc $pinned, /usr/include/cuda.h, gcc and g++ are already installed; nothing to do"
	exit 0
fi

command -v apt-get >/dev/null ||
	die "apt-get not found: this script installs Debian 12's nvidia-cuda-toolkit (CUDA 11.8) and needs apt; elsewhere install CUDA 11.8's nvcc and cuda.h by other means"

os_release=${CUDA_TOOLKIT_OS_RELEASE:-/etc/os-release}
os="::an unknown system (no $os_release)"
if [ -r "$os_release" ]; then
	# shellcheck source=/dev/null
	os=$(. "$os_release" && echo "${ID:-}:${VERSION_ID:-}:${PRETTY_NAME:-unknown}")
fi
IFS=: read -r os_id os_version os_name <<<"$os"
if [ "$os_id" != debian ] || [ "$os_version" != 12 ]; then
	die "the pinned toolkit is Debian 12's nvidia-cuda-toolkit (CUDA 11.8), but this is $os_name; install CUDA 11.8's nvcc and cuda.h by other means"
fi

# as_root runs a command as root: directly, or with sudo when not root.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		say "not root: sudo $*"
		sudo "$@"
	else
		die "not root and sudo not found: run $me as root"
	fi
}

# add_components FORMAT FILE: adds contrib and non-free to FILE's entries
# that have main (Debian's), printing each changed line; counts the
# entries in $entries.
entries=0
add_components() {
	local format=$1 file=$2 tmp count n
	[ -f "$file" ] || return 0
	tmp=$(mktemp) count=$(mktemp)
	awk -v format="$format" -v countfile="$count" '
	function add(line, words, n,    i, has_main, has_contrib, has_nonfree) {
		for (i = 1; i <= n; i++) {
			if (words[i] == "main") has_main = 1
			if (words[i] == "contrib") has_contrib = 1
			if (words[i] == "non-free") has_nonfree = 1
		}
		if (!has_main) return line
		entries++
		if (has_contrib && has_nonfree) return line
		sub(/[ \t]+$/, "", line)
		if (!has_contrib) line = line " contrib"
		if (!has_nonfree) line = line " non-free"
		return line
	}
	format == "deb822" && /^[Cc]omponents:/ {
		n = split(substr($0, index($0, ":") + 1), w, /[ \t]+/)
		print add($0, w, n); next
	}
	format == "oneline" && /^[ \t]*deb(-src)?[ \t]/ {
		line = $0; comment = ""
		if ((c = index(line, "#")) > 0) { comment = substr(line, c); line = substr(line, 1, c - 1) }
		n = split(line, t, /[ \t]+/)
		i = 1; if (t[i] == "") i++
		i++                                  # deb or deb-src
		if (substr(t[i], 1, 1) == "[") {     # [options], perhaps with spaces
			while (i <= n && t[i] !~ /\]$/) i++
			i++
		}
		i += 2                               # the URI and the suite
		m = 0; for (; i <= n; i++) if (t[i] != "") w[++m] = t[i]
		new = add(line, w, m)
		if (new == line) print $0
		else print new (comment == "" ? "" : " " comment)
		next
	}
	{ print }
	END { print entries + 0 > countfile }' "$file" >"$tmp"
	n=$(cat "$count")
	entries=$((entries + n))
	if [ "$n" = 0 ]; then
		say "$file: no Debian entries (with component main); left as it is"
	elif cmp -s "$file" "$tmp"; then
		say "$file: its Debian entries already have contrib and non-free"
	else
		say "$file: adding contrib and non-free:"
		diff "$file" "$tmp" | sed -n 's/^> /    /p' || true
		if [ -w "$file" ]; then cp "$tmp" "$file"; else as_root cp "$tmp" "$file"; fi
	fi
	rm -f "$tmp" "$count"
}

[ -f "$deb822" ] || [ -f "$oneline" ] || die "neither $deb822 nor $oneline exists: no apt sources to add contrib non-free to"
add_components deb822 "$deb822"
add_components oneline "$oneline"
[ "$entries" -gt 0 ] || die "no Debian entries (with component main) in $deb822 or $oneline to add contrib non-free to"
$sources_only && exit 0

say "apt-get update"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
say "apt-get install -y --no-install-recommends ${packages[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"

toolkit_ok || die "installed ${packages[*]}, but nvcc --version does not say $pinned or /usr/include/cuda.h, gcc or g++ is missing"
say "installed: $(nvcc --version | grep release)"
