#!/usr/bin/env bash
# Benchmark of pitstop's shared build cache on a real module.
#
# Builds $MODULE's $PKG (default: staticcheck, ~250 packages with the
# standard library) with -trimpath in these ways and prints wall times and
# ratios against a warm local GOCACHE:
#   cold              empty GOCACHE, no helper
#   warm GOCACHE      the same GOCACHE again (the target to match)
#   cold+prog         empty local tier, empty server: fills the server
#   warm tier         the helper's local tier again
#   fresh+server      empty local tier at another checkout path, warm server (loopback)
#   ... +5ms, +20ms   the same behind a delaying TCP proxy (bench/cache/delayproxy)
#   ... no prefetch   +20ms without the manifest prefetch, to show what it buys
# Dependencies come from the module proxy in `go env GOPROXY`; if it cannot
# be reached the benchmark is skipped. Everything listens on 127.0.0.1.
#
#   bash bench/cache/run.sh            (REPS=3 warm repetitions, median shown)
set -euo pipefail
cd "$(dirname "$0")/../.."
MODULE=${MODULE:-honnef.co/go/tools@v0.8.2}
PKG=${PKG:-./cmd/staticcheck}
REPS=${REPS:-3}
W=$(mktemp -d /tmp/pitstop-cache-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  chmod -R u+w "$W" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

echo "== building pitstop and the delay proxy"
CGO_ENABLED=0 go build -o "$W/bin/pitstop" ./cmd/pitstop
go build -o "$W/bin/delayproxy" ./bench/cache/delayproxy

echo "== fetching $MODULE and its dependencies (GOPROXY from go env)"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE:-$(go env GOMODCACHE)}
if ! dir=$(go mod download -json "$MODULE" 2>/dev/null | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p') || [ -z "$dir" ]; then
  echo "SKIP: cannot download $MODULE through GOPROXY=$(go env GOPROXY) (module proxy unreachable?)"
  exit 0
fi
mkdir -p "$W/checkout-a" "$W/elsewhere"
cp -r "$dir" "$W/checkout-a/src"; cp -r "$dir" "$W/elsewhere/src-b"
chmod -R u+w "$W/checkout-a" "$W/elsewhere"
if ! (cd "$W/checkout-a/src" && go mod download >/dev/null 2>&1 && go list -deps "$PKG" >/dev/null); then
  echo "SKIP: cannot download the dependencies of $MODULE (module proxy unreachable?)"
  exit 0
fi
export GOPROXY=off GOFLAGS="-mod=mod"
A=$W/checkout-a/src B=$W/elsewhere/src-b

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SP=$(port)
"$W/bin/pitstop" cache serve --listen 127.0.0.1:$SP --dir "$W/server" --max-size 20G --log-format json 2>"$W/server.log" &
pids+=($!)
for i in $(seq 50); do curl -fsS "http://127.0.0.1:$SP/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# proxy RTT VAR: starts a delay proxy (in this shell, so that cleanup can
# kill it) and sets VAR to its URL.
proxy() {
  local out=$W/proxy-$1.addr
  "$W/bin/delayproxy" --listen 127.0.0.1:0 --to 127.0.0.1:$SP --rtt "$1" >"$out" &
  pids+=($!)
  for i in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
  printf -v "$2" 'http://%s' "$(head -1 "$out")"
}
proxy 5ms P5; proxy 20ms P20

declare -A T
# run NAME DIR [env...]: one timed build; prints the helper's stats line.
run() {
  local name=$1 dir=$2; shift 2
  local s e
  s=$(date +%s.%N)
  (cd "$dir" && env "$@" go build -trimpath -o /dev/null "$PKG") 2>"$W/err.log" || { cat "$W/err.log"; exit 1; }
  e=$(date +%s.%N)
  T[$name]=$(echo "$e - $s" | bc)
  printf '%-28s %7.2f s  load %s  %s\n' "$name" "${T[$name]}" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$(grep -o '"pitstop_cache_stats".*' "$W/err.log" | grep -o '"\(gets\|local_hits\|prefetch_hits\|remote_hits\|misses\|puts\|uploads\|prefetch_bytes\|wait_ms\)":[0-9]*' | tr -d '"' | tr '\n' ' ' || true)"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# rep NAME DIR-maker [env...]: REPS runs, the median kept as NAME.
rep() {
  local name=$1 mk=$2; shift 2
  local all=()
  for i in $(seq "$REPS"); do
    local d; d=$($mk "$i")
    run "$name #$i" "$B" "${@//@DIR@/$d}"
    all+=("${T[$name #$i]}")
  done
  T[$name]=$(printf '%s\n' "${all[@]}" | median)
}
fresh() { echo "$W/tier-$RANDOM-$1"; }
same() { echo "$W/tier-a"; }

PROG="$W/bin/pitstop cache prog"
export PITSTOP_CACHE_STATS=json
echo "== timings (wall clock; $(nproc) CPUs; load before start: $(cut -d' ' -f1-3 /proc/loadavg))"
run "cold GOCACHE" "$A" GOCACHE="$W/gocache" GOCACHEPROG=
run "cold+prog (fills server)" "$A" GOCACHE="$W/gc2" GOCACHEPROG="$PROG --server http://127.0.0.1:$SP --dir $W/tier-a"
rep "warm GOCACHE" same GOCACHE="$W/gocache" GOCACHEPROG=
rep "warm tier" same GOCACHE="$W/gc2" GOCACHEPROG="$PROG --server http://127.0.0.1:$SP --dir @DIR@"
rep "fresh+server loopback" fresh GOCACHE="$W/gc2" GOCACHEPROG="$PROG --server http://127.0.0.1:$SP --dir @DIR@"
rep "fresh+server +5ms" fresh GOCACHE="$W/gc2" GOCACHEPROG="$PROG --server $P5 --dir @DIR@"
rep "fresh+server +20ms" fresh GOCACHE="$W/gc2" GOCACHEPROG="$PROG --server $P20 --dir @DIR@"
rep "+20ms no prefetch" fresh GOCACHE="$W/gc2" GOCACHEPROG="$PROG --server $P20 --no-prefetch --dir @DIR@"

echo
echo "== summary ($MODULE $PKG, median of $REPS for warm runs)"
base=${T[warm GOCACHE]}
for n in "cold GOCACHE" "warm GOCACHE" "cold+prog (fills server)" "warm tier" "fresh+server loopback" "fresh+server +5ms" "fresh+server +20ms" "+20ms no prefetch"; do
  printf '%-28s %7.2f s  %6.2fx warm GOCACHE\n' "$n" "${T[$n]}" "$(echo "${T[$n]} / $base" | bc -l)"
done
du -sh "$W/server" | sed 's/^/server store: /'
