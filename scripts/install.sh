#!/bin/sh
# Install pitstop from a release: picks the binary for this machine's
# userland (a 64-bit kernel running 32-bit Raspberry Pi OS gets the 32-bit
# ARM build), checks it against the release's SHA256SUMS, makes sure it
# runs, then moves it into place in one step.
#
#   sh install.sh [BASE_URL]
#
# BASE_URL (or PITSTOP_BASE_URL) is where the release's files are: a web
# directory or the release's download URL holding pitstop-linux-*, and
# SHA256SUMS. Without one, the latest release on GitHub.
#   PITSTOP_INSTALL_DIR  where to install (default /usr/local/bin as root,
#                        else ~/.local/bin)
#   PITSTOP_ROOT         read the userland's architecture from
#                        $PITSTOP_ROOT/bin/sh instead of asking dpkg (a
#                        mounted SD card's root, say)
#   sh install.sh --detect   print the file this machine needs and stop
set -eu

die() {
	echo "install.sh: $*" >&2
	exit 1
}

# elf_arch prints the Go architecture of an ELF executable from its header:
# EI_CLASS (byte 4: 1 is 32-bit, 2 is 64-bit) and e_machine (bytes 18-19,
# little-endian: 62 x86-64, 183 AArch64, 40 ARM).
elf_arch() {
	set -- $(od -An -tu1 -N20 "$1" 2>/dev/null) || return 1
	[ $# -eq 20 ] && [ "$1 $2 $3 $4" = "127 69 76 70" ] || return 1
	case "$5:${19}" in
	2:62) echo amd64 ;;
	2:183) echo arm64 ;;
	1:40) echo arm ;;
	*) return 1 ;;
	esac
}

# userland_arch prints amd64, arm64 or arm: the architecture of the
# programs this system runs (dpkg's, or /bin/sh's), not the kernel's.
userland_arch() {
	if [ -z "${PITSTOP_ROOT:-}" ] && command -v dpkg >/dev/null 2>&1; then
		case $(dpkg --print-architecture) in
		amd64) echo amd64; return ;;
		arm64) echo arm64; return ;;
		armhf | armel) echo arm; return ;;
		esac
	fi
	sh=${PITSTOP_ROOT:-}/bin/sh
	elf_arch "$sh" || die "cannot tell the architecture of $sh: pitstop runs on linux amd64, arm64 and 32-bit arm"
}

# asset prints the release file for this machine.
asset() {
	[ "$(uname -s)" = Linux ] || die "pitstop runs on Linux, not $(uname -s)"
	arch=$(userland_arch) || exit 1
	case $arch in
	arm)
		# Raspberry Pi OS's armhf is built for ARMv6 (Pi 1, Zero); a Pi 2 or
		# later (armv7l, or aarch64 with a 32-bit userland) takes ARMv7.
		case $(uname -m) in
		armv6*) echo pitstop-linux-armv6 ;;
		*) echo pitstop-linux-armv7 ;;
		esac
		;;
	*) echo "pitstop-linux-$arch" ;;
	esac
}

if [ "${1:-}" = --detect ]; then
	asset
	exit 0
fi

base=${1:-${PITSTOP_BASE_URL:-https://github.com/pitstop-go/pitstop/releases/latest/download}}
base=${base%/}
name=$(asset) || exit 1

if [ -n "${PITSTOP_INSTALL_DIR:-}" ]; then
	dir=$PITSTOP_INSTALL_DIR
elif [ "$(id -u)" = 0 ]; then
	dir=/usr/local/bin
else
	dir=${HOME:?}/.local/bin
fi
mkdir -p "$dir" || die "cannot create $dir"

if command -v curl >/dev/null 2>&1; then
	fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
	fetch() { wget -q -O "$2" "$1"; }
else
	die "needs curl or wget to download: sudo apt install curl"
fi
if command -v sha256sum >/dev/null 2>&1; then
	sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
	sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
	die "needs sha256sum (coreutils) to verify the download"
fi

# The download goes next to its destination, so that the final mv is one
# rename: an interrupted install leaves the old pitstop, never half a new one.
tmp=$(mktemp "$dir/.pitstop.XXXXXX") || die "cannot write in $dir"
sums=$(mktemp)
trap 'rm -f "$tmp" "$sums"' EXIT
trap 'exit 130' INT TERM

echo "downloading $name from $base" >&2
fetch "$base/SHA256SUMS" "$sums" || die "cannot download $base/SHA256SUMS: is $base a pitstop release?"
fetch "$base/$name" "$tmp" || die "cannot download $base/$name"
want=$(awk -v f="$name" '$2 == f || $2 == "*" f { print $1; exit }' "$sums")
[ -n "$want" ] || die "SHA256SUMS from $base lists no $name"
got=$(sha256 "$tmp")
[ "$got" = "$want" ] || die "$name from $base is corrupt or tampered with: sha256 $got, SHA256SUMS says $want; nothing installed"
chmod 755 "$tmp"
v=$("$tmp" version 2>&1) || die "$name does not run on this machine ($v); nothing installed"
mv -f "$tmp" "$dir/pitstop" || die "cannot move pitstop into $dir"
echo "installed $dir/pitstop: $v"
case ":$PATH:" in
*":$dir:"*) ;;
*) echo "note: $dir is not on PATH; add it, e.g. export PATH=\"$dir:\$PATH\"" >&2 ;;
esac
