#!/bin/sh
# Build pitstop's release: stripped, static (CGO_ENABLED=0) binaries for the
# Raspberry Pi boards and the machines that build for them, the version and
# commit stamped in, install.sh, and SHA256SUMS over all of them.
#
#   scripts/release.sh VERSION [DIR]     e.g. scripts/release.sh v0.3.0 dist
#
# DIR (default dist) then holds
#   pitstop-linux-arm64   64-bit Raspberry Pi OS (Pi 3, 4, 5, Zero 2 W)
#   pitstop-linux-armv7   32-bit Raspberry Pi OS on a Pi 2 or later
#   pitstop-linux-armv6   32-bit Raspberry Pi OS on a Pi 1 or Zero (runs on every 32-bit Pi)
#   pitstop-linux-amd64   a PC that builds for the boards
#   install.sh            picks, verifies and installs the right one
#   SHA256SUMS            sha256sum -c checks every file above
# Upload DIR's files as the release's assets; install.sh is given their URL.
set -eu
cd "$(dirname "$0")/.."

version=${1:-}
out=${2:-dist}
case $version in
v[0-9]*) ;;
*) echo "usage: scripts/release.sh VERSION [DIR]: VERSION is a tag such as v0.3.0, got \"$version\"" >&2; exit 2 ;;
esac
commit=$(git rev-parse HEAD 2>/dev/null || true)
if [ -n "$commit" ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	commit=$commit-dirty
fi
pkg=github.com/pitstop-go/pitstop/internal/version
ldflags="-s -w -X $pkg.version=$version -X $pkg.commit=$commit"

mkdir -p "$out"
rm -f "$out"/pitstop-linux-* "$out/SHA256SUMS"
for target in arm64: armv7:7 armv6:6 amd64:; do
	name=${target%%:*}
	goarm=${target#*:}
	goarch=$name
	case $name in armv*) goarch=arm ;; esac
	echo "build pitstop-linux-$name" >&2
	# GOFLAGS from the caller (-race, -tags, ...) must not reach a release.
	env CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" GOARM="${goarm:-7}" GOFLAGS= \
		go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/pitstop-linux-$name" ./cmd/pitstop
done
cp scripts/install.sh "$out/install.sh"
chmod 755 "$out/install.sh"
(cd "$out" && sha256sum pitstop-linux-arm64 pitstop-linux-armv7 pitstop-linux-armv6 pitstop-linux-amd64 install.sh >SHA256SUMS)
ls -l "$out" >&2
