#!/usr/bin/env bash
# pitstop's one test command: installs what it needs (as root, with apt-get),
# checks formatting and vet/staticcheck, builds the release (static binaries
# for the four targets, scripts/release.sh) and checks their sizes, runs the
# whole suite natively and then for linux/arm64 under qemu-aarch64-static
# with 16 KiB pages, as a Raspberry Pi 5 kernel has.
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
  command -v chromium >/dev/null || need+=(chromium) # the status page and bench's HTML report in a real browser
  command -v redis-server >/dev/null || need+=(redis-server) # fleet tests (issue 15); tests start their own
  command -v g++ >/dev/null || need+=(g++) # cross: the native build of its C++ test program
  # cross: Debian's cross compilers (with libc6-dev-*-cross, the targets'
  # sysroots under /usr/<triplet>) build its tests' cgo programs for arm64
  # and armhf, which then run under qemu-user.
  for t in aarch64-linux-gnu arm-linux-gnueabihf; do
    command -v $t-gcc >/dev/null || need+=(gcc-$t)
    command -v $t-g++ >/dev/null || need+=(g++-$t)
  done
  command -v fio >/dev/null || need+=(fio)           # bench: io method check
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

# The S3-compatible server the fleet tests start (internal/testfleet); the
# version is pinned there too (VersityGWVersion).
command -v versitygw >/dev/null || { step "go install versitygw"; go install github.com/versity/versitygw/cmd/versitygw@v1.8.0; }
# pitstop gpu (issue 21). Mesa's CPU Vulkan driver (lavapipe) and the loader,
# for the host and for arm64: the arm64 pass below runs the companion
# cross-built for arm64 on arm64 lavapipe, emulated through binfmt. Also the
# headers the cgo companion builds against (go vet and staticcheck compile
# it too), the arm64 cross compiler, glslang (shaders_test recompiles the
# shaders) and vulkaninfo (what gpu info is compared with).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  gpu_need=()
  for p in mesa-vulkan-drivers libvulkan1 libvulkan-dev glslang-tools vulkan-tools gcc-aarch64-linux-gnu \
    mesa-vulkan-drivers:arm64 libvulkan1:arm64 libvulkan-dev:arm64; do
    # Both architectures of a package installed make a bare name ambiguous
    # to dpkg -s: ask for the native one by its architecture.
    q=$p; case $p in *:*) ;; *) q=$p:$(dpkg --print-architecture) ;; esac
    dpkg -s "$q" >/dev/null 2>&1 || gpu_need+=("$p")
  done
  if [ ${#gpu_need[@]} -gt 0 ]; then
    step "apt-get install ${gpu_need[*]} (pitstop gpu)"
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${gpu_need[@]}" >/dev/null
  fi
fi
step "build pitstop-gpu (the cgo Vulkan companion) for this host and for linux/arm64"
gpu_out=$(mktemp -d)
CGO_ENABLED=1 go build -o "$gpu_out/pitstop-gpu-$(go env GOHOSTARCH)" ./cmd/pitstop-gpu
CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc go build -o "$gpu_out/pitstop-gpu-arm64" ./cmd/pitstop-gpu
if command -v file >/dev/null; then file "$gpu_out"/pitstop-gpu-*; fi
rm -rf "$gpu_out"

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

step "release build (scripts/release.sh): linux/amd64, arm64, arm v7 and v6; static, stripped, under 20 MB"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
scripts/release.sh v0.0.0-test "$out/dist"
for f in "$out"/dist/pitstop-linux-*; do
  size=$(stat -c %s "$f")
  if [ "$size" -ge 20000000 ]; then echo "FAIL: $f is $size bytes: the budget is under 20 MB"; exit 1; fi
done
if command -v file >/dev/null; then file "$out"/dist/pitstop-linux-*; fi
# scripts/release_test.go checks these very binaries: versions (the arm
# ones under qemu-user), checksums, and install.sh against them.
export PITSTOP_RELEASE_DIR="$out/dist" PITSTOP_RELEASE_VERSION=v0.0.0-test

# arm64 binaries run through binfmt_misc: the arm64 suite below, and
# install.sh checking the arm64 build it installs (scripts/install_test.go).
if [ "$(id -u)" = 0 ] && [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
fi
if [ "$(id -u)" = 0 ] && [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 || true
fi

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
    hidden=$(echo "$skips" | grep -vE '^  TestSmokeReal[A-Za-z0-9_]*[:/]' | grep -vE "${EMULATED_SKIPS:-^$}" || true)
    if [ -n "$hidden" ] && [ "$(id -u)" = 0 ] && [ "${PITSTOP_ALLOW_SKIP:-}" != 1 ]; then
      echo "FAIL: tests skipped as root (only TestSmokeReal* may skip; PITSTOP_ALLOW_SKIP=1 to accept):"
      echo "$hidden"
      [ "$rc" != 0 ] || rc=1
    fi
  fi
  return "$rc"
}

step "tests (native $(go env GOARCH))"
# bench's two method checks compare its throughput with gcc's memcpy and with
# fio on the same disk, as ratios within one run. mem (best of interleaved
# rounds) and io's reads (side by side with fio) held at load 13-36 on a
# 2-core machine; io's fsync'd files did not: an fsync waits for the journal
# every process on the disk shares, and at load 18-30 three runs in six fell
# outside 30% (0.82-1.45). So the suite leaves them out, they run alone
# afterwards, and they get three tries, each printed. With them goes bench
# gc's check of its children's heap peaks against their budget: a heap
# passes its goal while a collection marks, by more when the collector is
# short of CPU (85 MiB against a 49 MiB budget with the suite running
# beside it, 63 MiB alone).
method='^(TestMemCopyAgainstMemcpy|TestIOAgainstFio|TestGCSizedToAvailableMemory)$'
suite -count=1 -timeout 20m -skip "$method" ./... || { totals; exit 1; }

step "bench checks that measure the machine, alone: bench mem against gcc's memcpy, bench io against fio, bench gc's heaps within their budget"
for try in 1 2 3; do
  log=$(mktemp)
  if go test -count=1 -p 1 -v -run "$method" ./internal/bench >"$log" 2>&1; then
    grep -E -- '--- PASS|ratio|  bench' "$log" || true
    TOTAL_PASS=$((TOTAL_PASS + $(grep -c -- '--- PASS' "$log" || true)))
    rm -f "$log"
    break
  fi
  cat "$log"
  if [ "$try" = 3 ]; then
    TOTAL_FAIL=$((TOTAL_FAIL + $(grep -c -- '--- FAIL' "$log" || true)))
    rm -f "$log"
    echo "FAIL: the bench checks that measure the machine failed three times"
    totals
    exit 1
  fi
  rm -f "$log"
  echo "the bench checks that measure the machine failed on try $try (output above); trying again"
done

if [ "${QUICK:-}" = 1 ]; then totals; exit 0; fi

step "tests (linux/arm64 under qemu-aarch64-static, 16 KiB pages)"
# The test binaries are arm64; the go command they start stays the host's
# (GOARCH is unset for them), and arm64 children they start run through binfmt.
# PITSTOP_EMULATED=1: benchmarks run their quick pass and compare no timings.
# Under qemu-user one test cannot run at all and says why (it runs in full in
# the native pass above); it is listed as skipped, never counted as passed.
EMULATED_SKIPS='^  TestJoinFindsServerByMDNS: .*emulated: qemu-user cannot join the mDNS multicast group'
rc=0
GOARCH=arm64 suite -count=1 -timeout 25m \
  -exec "env -u GOARCH QEMU_PAGESIZE=16384 PITSTOP_EMULATED=1 qemu-aarch64-static" ./... || rc=$?
totals
exit "$rc"
