#!/usr/bin/env bash
# Benchmark of pitstop's shared build cache on a real module.
#
# Builds $MODULE's $PKG (default: staticcheck, ~250 packages with the
# standard library) with -trimpath in these ways, ROUNDS times interleaved
# (each round runs every row once, against a server started empty for the
# round), and prints the median wall time of each row and the ratios issue
# 14 asks for:
#   cold GOCACHE      empty GOCACHE, no helper
#   cold+prog         empty local tier, empty server: fills the server
#   cold floor-prog   empty directory, bench/cache/floorprog (the protocol's
#                     own cost on a cold build; not with QUICK unless COLD_FLOOR=1)
#   (untimed: one build with each at the other checkout path, B)
#   warm GOCACHE      the round's GOCACHE again, at B (the target to match)
#   warm tier         the round's helper tier again, at B
#   warm floor-prog   the same tier answered by bench/cache/floorprog, the
#                     least a GOCACHEPROG helper can do (one small file read
#                     per get, nothing verified): the protocol's own floor
#   fresh floor       cp -r of what "fresh+server loopback" landed (the objects
#                     this build needs) into an empty directory, then a
#                     floor-prog build on the copy: the least a fresh machine
#                     can cost (the objects must land on its disk)
#   fresh floor GOCACHE  cp -r of the warm GOCACHE (which also holds the
#                     checkout A build's objects) and a warm build, no helper
#   fresh+server      empty local tier at another checkout path, warm server (loopback)
#   ... +5ms, +20ms   the same behind a delaying TCP proxy (bench/cache/delayproxy)
#   ... no prefetch   +20ms without the manifest prefetch, to show what it buys
# Dependencies come from the module proxy in `go env GOPROXY`; if it cannot
# be reached the benchmark is skipped. Everything listens on 127.0.0.1.
#
#   bash bench/cache/run.sh              ROUNDS=5 (the issue's figures)
#   QUICK=1 bash bench/cache/run.sh      one round, no +5ms / no-prefetch rows
#   PROFILE=dir bash bench/cache/run.sh  also CPU and allocation profiles of
#       every helper and server into dir, and `strace -c -f` of the helper
#       in each warm tier build (dir/strace-warm-tier-r*.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
MODULE=${MODULE:-honnef.co/go/tools@v0.8.2}
PKG=${PKG:-./cmd/staticcheck}
QUICK=${QUICK:-}
ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 1 || echo 5)}
PROFILE=${PROFILE:-}
COLD_FLOOR=${COLD_FLOOR-$([ -n "$QUICK" ] || echo 1)}
[ -n "$PROFILE" ] && mkdir -p "$PROFILE" && PROFILE=$(cd "$PROFILE" && pwd)
W=$(mktemp -d /tmp/pitstop-cache-bench.XXXXXX)
pids=()
srvpid=
cleanup() {
  [ -n "$srvpid" ] && kill "$srvpid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  chmod -R u+w "$W" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

echo "== building pitstop and the delay proxy"
CGO_ENABLED=0 go build -o "$W/bin/pitstop" ./cmd/pitstop
go build -o "$W/bin/delayproxy" ./bench/cache/delayproxy
go build -o "$W/bin/floorprog" ./bench/cache/floorprog
go build -o "$W/bin/treecpu" ./bench/cache/treecpu

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
# server ROUND: (re)starts the cache server, empty, on port $SP.
server() {
  if [ -n "$srvpid" ]; then kill "$srvpid"; wait "$srvpid" 2>/dev/null || true; fi
  local envs=()
  [ -n "$PROFILE" ] && envs=(PITSTOP_CACHE_CPUPROFILE="$PROFILE/server-r$1.cpu" PITSTOP_CACHE_MEMPROFILE="$PROFILE/server-r$1.mem")
  env "${envs[@]}" "$W/bin/pitstop" cache serve --listen 127.0.0.1:$SP --dir "$W/server-$1" --max-size 20G --log-format json 2>"$W/server.log" &
  srvpid=$!
  for i in $(seq 100); do curl -fsS "http://127.0.0.1:$SP/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "cache server did not start:"; cat "$W/server.log"; exit 1
}
# proxy RTT VAR: starts a delay proxy to port $SP (in this shell, so that
# cleanup can kill it) and sets VAR to its URL.
proxy() {
  local out=$W/proxy-$1.addr
  "$W/bin/delayproxy" --listen 127.0.0.1:0 --to 127.0.0.1:$SP --rtt "$1" >"$out" &
  pids+=($!)
  for i in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
  printf -v "$2" 'http://%s' "$(head -1 "$out")"
}
proxy 5ms P5; proxy 20ms P20

declare -A T C   # T[row #round] = wall seconds, C[row #round] = CPU seconds
rows=()
# srvcpu: the cache server's CPU time so far, in seconds.
srvcpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14+$15)/t}' "/proc/$srvpid/stat"; }
# run ROW ROUND DIR [env...]: one timed build; prints the helper's stats line.
# If PRE is set, that command runs first, inside the timing. Besides the
# wall time (until the go command exits) it records the CPU time
# (user+system) of the build's whole process tree (the go command,
# compilers, the helper, which the go command never waits for, so only
# bench/cache/treecpu, a subreaper, can count it; and PRE) plus the cache
# server's: a figure the other work on a shared machine disturbs less.
run() {
  local row=$1 r=$2 dir=$3; shift 3
  local s0 s1 envs=()
  [[ " ${rows[*]} " == *" ${row// /_} "* ]] || rows+=("${row// /_}")
  if [ -n "$PROFILE" ]; then
    local tag=${row//[^a-z0-9]/-}
    envs=(PITSTOP_CACHE_CPUPROFILE="$PROFILE/prog-$tag-r$r-%p.cpu" PITSTOP_CACHE_MEMPROFILE="$PROFILE/prog-$tag-r$r-%p.mem")
  fi
  s0=$(srvcpu)
  (cd "$dir" && "$W/bin/treecpu" -o "$W/time.txt" env "${envs[@]}" "$@" \
    bash -c "${PRE:-true} && exec go build -trimpath -o /dev/null $PKG") 2>"$W/err.log" || { cat "$W/err.log"; exit 1; }
  s1=$(srvcpu)
  T[${row// /_} #$r]=$(awk '{print $3}' "$W/time.txt")
  C[${row// /_} #$r]=$(awk -v a="$s0" -v b="$s1" '{print $1+$2+b-a}' "$W/time.txt")
  printf '%-26s r%-2s %7.2f s  cpu %6.2f s (server %5.2f)  load %s  %s\n' "$row" "$r" "${T[${row// /_} #$r]}" \
    "${C[${row// /_} #$r]}" "$(echo "$s1 - $s0" | bc)" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$(grep -o '"pitstop_cache_stats".*' "$W/err.log" | grep -o '"\(gets\|local_hits\|prefetch_hits\|remote_hits\|misses\|puts\|uploads\|prefetched\|prefetch_bytes\|wait_ms\|close_ms\|uploads_skipped\)":[0-9]*' | tr -d '"' | tr '\n' ' ' || true)"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# med ROW [ARRAY]: the median over the rounds of ROW (wall time, or ARRAY=C: CPU).
med() { local -n A=${2:-T}; local r; for r in $(seq "$ROUNDS"); do echo "${A[${1// /_} #$r]}"; done | median; }
# rmed A B [ARRAY]: the median over the rounds of A/B (each round's own ratio).
rmed() { local -n A=${3:-T}; local r; for r in $(seq "$ROUNDS"); do echo "${A[${1// /_} #$r]} / ${A[${2// /_} #$r]}" | bc -l; done | median; }

PROG="$W/bin/pitstop cache prog"
STRACE=
if [ -n "$PROFILE" ] && command -v strace >/dev/null; then STRACE="strace -c -f -o"; fi
export PITSTOP_CACHE_STATS=json
echo "== timings (wall clock; $(nproc) CPUs; $ROUNDS interleaved rounds; load before start: $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq "$ROUNDS"); do
  server "$r"
  # The cold builds take turns at going first, so none always runs on
  # the page cache another warmed.
  cold() { run "cold GOCACHE" "$r" "$A" GOCACHE="$W/gocache-$r" GOCACHEPROG=; }
  coldprog() { run "cold+prog" "$r" "$A" GOCACHE="$W/gc2-$r" GOCACHEPROG="$PROG --server http://127.0.0.1:$SP --dir $W/tier-$r"; }
  coldfloor() { run "cold floor-prog" "$r" "$A" GOCACHE="$W/gc3-$r" GOCACHEPROG="$W/bin/floorprog $W/floor-$r"; }
  if [ -n "$COLD_FLOOR" ]; then
    case $((r % 3)) in
      1) cold; coldprog; coldfloor ;;
      2) coldprog; coldfloor; cold ;;
      0) coldfloor; cold; coldprog ;;
    esac
  elif (( r % 2 )); then cold; coldprog; else coldprog; cold; fi
  # The main module's packages get other action IDs at another checkout
  # path (-trimpath's rewrite names the directory): build once, untimed,
  # at B with each cache (the tier's build uploads B's actions and their
  # manifest), so that the timed rows below are rebuilds that hit.
  run "prime B: GOCACHE" "$r" "$B" GOCACHE="$W/gocache-$r" GOCACHEPROG=
  run "prime B: tier" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$PROG --server http://127.0.0.1:$SP --dir $W/tier-$r"
  run "warm GOCACHE" "$r" "$B" GOCACHE="$W/gocache-$r" GOCACHEPROG=
  run "warm tier" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$PROG --server http://127.0.0.1:$SP --dir $W/tier-$r"
  run "warm floor-prog" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$W/bin/floorprog $W/tier-$r"
  PRE="cp -r $W/gocache-$r $W/fresh-gocache-$r" run "fresh floor GOCACHE" "$r" "$B" GOCACHE="$W/fresh-gocache-$r" GOCACHEPROG=
  run "fresh+server loopback" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$PROG --server http://127.0.0.1:$SP --dir $W/fresh-lo-$r"
  # What the fresh build landed (the objects this build needs), copied
  # into an empty directory, then a floor-prog build on the copy.
  PRE="cp -r $W/fresh-lo-$r $W/fresh-floor-$r" run "fresh floor" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$W/bin/floorprog $W/fresh-floor-$r"
  run "fresh+server +20ms" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$PROG --server $P20 --dir $W/fresh-20-$r"
  if [ -z "$QUICK" ]; then
    run "fresh+server +5ms" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$PROG --server $P5 --dir $W/fresh-5-$r"
    run "+20ms no prefetch" "$r" "$B" GOCACHE="$W/gc2-$r" GOCACHEPROG="$PROG --server $P20 --no-prefetch --dir $W/fresh-np-$r"
  fi
  if [ -n "$STRACE" ]; then
    # Last, as strace slows the helper (and hides the go command from
    # its manifest key): not one of the timed rows.
    run "warm tier under strace" "$r" "$B" GOCACHE="$W/gc2-$r" \
      GOCACHEPROG="$STRACE $PROFILE/strace-warm-tier-r$r.txt $PROG --server http://127.0.0.1:$SP --dir $W/tier-$r"
  fi
  du -sh "$W/server-$r" | sed 's/^/server store: /'
  rm -rf "$W/gocache-$r" "$W/gc2-$r" "$W/gc3-$r" "$W"/tier-$r "$W"/fresh-*-$r "$W/floor-$r"
done
kill "$srvpid"; wait "$srvpid" 2>/dev/null || true; srvpid=

echo
echo "== medians ($MODULE $PKG, $ROUNDS rounds; load now: $(cut -d' ' -f1-3 /proc/loadavg))"
for n in "${rows[@]}"; do
  printf '%-26s %7.2f s   cpu %7.2f s\n' "${n//_/ }" "$(med "$n")" "$(med "$n" C)"
done
echo
echo "== issue 14's ratios: wall time, ratio of the medians (in brackets the median of each round's own"
echo "   ratio); then the same for CPU time (build tree + cache server), which the machine's load disturbs less"
ratio() {
  local note="must be <= $4"; [[ $4 == [0-9]* ]] || note=$4
  printf '%-40s %5.3fx (%5.3fx)  cpu %5.3fx (%5.3fx)  %s\n' "$1" "$(echo "$(med "$2") / $(med "$3")" | bc -l)" "$(rmed "$2" "$3")" \
    "$(echo "$(med "$2" C) / $(med "$3" C)" | bc -l)" "$(rmed "$2" "$3" C)" "$note"
}
ratio "fresh+server loopback / warm GOCACHE" "fresh+server loopback" "warm GOCACHE" 1.20
ratio "fresh+server +20ms / warm GOCACHE" "fresh+server +20ms" "warm GOCACHE" 1.25
ratio "cold+prog / cold GOCACHE" "cold+prog" "cold GOCACHE" 1.08
ratio "warm tier / warm GOCACHE" "warm tier" "warm GOCACHE" 1.05
echo
echo "== floors (what is achievable at all, same rounds)"
if [ -n "$COLD_FLOOR" ]; then
  ratio "cold floor-prog / cold GOCACHE" "cold floor-prog" "cold GOCACHE" "the protocol's own floor"
  ratio "cold+prog / cold floor-prog" "cold+prog" "cold floor-prog" "the helper's cost over the floor"
fi
ratio "warm floor-prog / warm GOCACHE" "warm floor-prog" "warm GOCACHE" "the protocol's own floor"
ratio "warm tier / warm floor-prog" "warm tier" "warm floor-prog" "the helper's cost over the floor"
ratio "fresh floor / warm GOCACHE" "fresh floor" "warm GOCACHE" "a fresh machine's floor"
ratio "fresh floor GOCACHE / warm GOCACHE" "fresh floor GOCACHE" "warm GOCACHE" "the same floor without a helper"
ratio "fresh+server loopback / fresh floor" "fresh+server loopback" "fresh floor" "the helper's cost over the floor"
if [ -n "$PROFILE" ]; then
  cp "$W/bin/pitstop" "$PROFILE/pitstop"
  echo
  echo "== profiles in $PROFILE, e.g.: go tool pprof -top $PROFILE/pitstop $PROFILE/prog-warm-tier-r*.cpu"
fi
