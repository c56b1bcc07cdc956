#!/usr/bin/env bash
# pitstop's one test command: installs what it needs (as root, with apt-get),
# checks formatting and vet/staticcheck, builds the static binary for the
# three targets, runs the whole suite natively and then for linux/arm64 under
# qemu-aarch64-static with 16 KiB pages, as a Raspberry Pi 5 kernel has.
#   bash test.sh            everything
#   QUICK=1 bash test.sh    native tests only
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export PATH="$PATH:$(go env GOPATH)/bin"

step() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
  command -v unshare >/dev/null || need+=(util-linux)
  command -v ip >/dev/null || need+=(iproute2)
  command -v gcc >/dev/null || need+=(gcc)
  command -v git >/dev/null || need+=(git) # modproxy/modfetch direct-mode tests
  command -v fio >/dev/null || need+=(fio)           # bench: io method check
  command -v chromium >/dev/null || need+=(chromium) # bench: the HTML report opens
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi

step "go mod tidy"
if ! go mod tidy -diff; then echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; fi

step "go vet"
go vet ./...

step "staticcheck"
command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
staticcheck ./...

step "build linux/amd64, linux/arm64, linux/arm (GOARM=7), CGO_ENABLED=0"
out=$(mktemp -d)
for t in linux/amd64 linux/arm64 linux/arm; do
  CGO_ENABLED=0 GOOS=${t%/*} GOARCH=${t#*/} GOARM=7 go build -trimpath -o "$out/pitstop-${t//\//-}" ./cmd/pitstop
done
ls -l "$out"
if command -v file >/dev/null; then file "$out"/pitstop-*; fi

# A skipped test is not a passing one. suite runs go test -v, shows each
# package's result (and the whole output of a package that failed), then
# lists every skip with its reason. As root (CI) only the optional smoke
# tests (TestSmokeReal*, PITSTOP_SMOKE=1) may skip; any other skip fails the
# run, since it hides behaviour nobody tested. PITSTOP_ALLOW_SKIP=1 lists
# them without failing (a container that cannot mount, say).
TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
# totals prints the plain closing line (tests and subtests, every run so far).
totals() { echo "tests: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"; }
suite() {
  local log rc
  log=$(mktemp)
  { go test -v "$@" 2>&1; echo "$?" >"$log.rc"; } | tee "$log" | awk '
    /^(ok|FAIL|\?)[ \t]/ || /^FAIL$/ {
      if (bad || $1 == "FAIL") printf "%s", buf
      print; buf = ""; bad = 0; next
    }
    { buf = buf $0 "\n" }
    /--- FAIL|^panic:|build failed|setup failed/ { bad = 1 }
  '
  rc=$(cat "$log.rc")
  TOTAL_PASS=$((TOTAL_PASS + $(grep -c -- '--- PASS' "$log" || true)))
  TOTAL_FAIL=$((TOTAL_FAIL + $(grep -c -- '--- FAIL' "$log" || true)))
  TOTAL_SKIP=$((TOTAL_SKIP + $(grep -c -- '--- SKIP' "$log" || true)))
  local skips
  skips=$(awk '
    /^=== (RUN|NAME|CONT) / { cur = $3; next }
    /^ *--- SKIP: / { n = $3; print "  " n ": " why[n]; next }
    /^ +[A-Za-z0-9_]+\.go:[0-9]+: / { l = $0; sub(/^ +/, "", l); why[cur] = l }
  ' "$log")
  rm -f "$log" "$log.rc"
  if [ -n "$skips" ]; then
    echo "skipped tests:"; echo "$skips"
    local hidden
    hidden=$(echo "$skips" | grep -vE '^  TestSmokeReal[A-Za-z0-9_]*[:/]' || true)
    if [ -n "$hidden" ] && [ "$(id -u)" = 0 ] && [ "${PITSTOP_ALLOW_SKIP:-}" != 1 ]; then
      echo "FAIL: tests skipped as root (only TestSmokeReal* may skip; PITSTOP_ALLOW_SKIP=1 to accept):"
      echo "$hidden"
      [ "$rc" != 0 ] || rc=1
    fi
  fi
  return "$rc"
}

step "tests (native $(go env GOARCH))"
suite -count=1 -timeout 20m ./... || { totals; exit 1; }

if [ "${QUICK:-}" = 1 ]; then totals; exit 0; fi

step "tests (linux/arm64 under qemu-aarch64-static, 16 KiB pages)"
if [ "$(id -u)" = 0 ] && [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
fi
if [ "$(id -u)" = 0 ] && [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 || true
fi
# The test binaries are arm64; the go command they start stays the host's
# (GOARCH is unset for them), and arm64 children they start run through binfmt.
# PITSTOP_EMULATED=1: benchmarks run their quick pass and compare no timings.
rc=0
GOARCH=arm64 suite -count=1 -timeout 25m \
  -exec "env -u GOARCH QEMU_PAGESIZE=16384 PITSTOP_EMULATED=1 qemu-aarch64-static" ./... || rc=$?
totals
exit "$rc"
