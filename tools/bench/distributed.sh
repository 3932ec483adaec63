#!/usr/bin/env bash
# The queue on this machine: a private redis-server on a loopback port, `confine worker`s
# (--jobs 1 each) on this engine, a submitter, one shared store.
#  1. COUNT images (default 6; copies `FROM` the small samples + one LABEL, so every one
#     is traced) with --duration 10 through 1, 2 and 3 workers (fresh store each):
#     images per minute and the speed-up over one worker. The trace window dominates,
#     so workers should scale near-linearly even on one engine and two cores.
#  2. A warm rerun of WARM images (default 100) through the queue (2 workers) against
#     the same rerun done locally on the same store (-o/-r set to the store's out/ and
#     results/, where workers put them, so the keys agree): the queue's overhead.
#     Target (issue #14): queue ≤ 2× local.
# Everything it starts (redis, workers, images, containers) is removed on exit.
# Usage: tools/bench/distributed.sh [COUNT] [WARM]   env: DURATION (10), WARM_DURATION (2)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
source "$repo/tools/bench/lib.sh"
count="${1:-6}"
warm_count="${2:-100}"
duration="${DURATION:-10}"
warm_duration="${WARM_DURATION:-2}"
work="$(mktemp -d)"
tag_prefix="confine-bench-$$"
pids=()
redis_pid=""
stop_workers() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  pids=()
}
cleanup() {
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$tag_prefix/" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/redis"
redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
queue="redis://127.0.0.1:$port"

# make_list N FILE: N images FROM the small samples, each a new image ID.
make_list() {
  local n=$1 out=$2 i line rank name ref cats dl off extra tag
  sample_list c-static c-musl c-glibc busybox >"$work/samples.list"
  local nsamples
  nsamples=$(wc -l <"$work/samples.list")
  [ "$nsamples" -gt 0 ] || { echo "no small sample images built (make images)" >&2; exit 1; }
  : >"$out"
  for ((i = 0; i < n; i++)); do
    line=$(sed -n "$((i % nsamples + 1))p" "$work/samples.list")
    IFS=';' read -r rank name ref cats dl off extra <<<"$line"
    tag="$tag_prefix/$name-$i:latest"
    docker image inspect "$tag" >/dev/null 2>&1 ||
      printf 'FROM %s\nLABEL confine.bench.copy=%d\n' "$ref" "$i" | docker build -q -t "$tag" - >/dev/null 2>&1
    printf '%d;%s-%d;%s;%s;%s;%s;%s\n' "$((i + 1))" "$name" "$i" "$tag" "$cats" "$dl" "$off" "$extra" >>"$out"
  done
}

start_workers() { # start_workers N STORE: returns once all N wait for images
  touch "$work/workers.log"
  local want=$(( $(grep -c 'waiting for images' "$work/workers.log" || true) + $1 ))
  for ((w = 0; w < $1; w++)); do
    setsid "$repo/bin/confine" worker --queue "$queue" --cache "$2" --jobs 1 >>"$work/workers.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 300); do
    [ "$(grep -c 'waiting for images' "$work/workers.log" || true)" -ge "$want" ] && break
    sleep 0.2
  done
}

timed() { # timed CMD...: wall seconds
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>>"$work/run.log" || true
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

cd "$work"
echo "building $count images..." >&2
make_list "$count" scale.list
declare -A took
for n in 1 2 3; do
  rm -rf "store-$n"
  start_workers "$n" "$work/store-$n"
  took[$n]=$(timed "$repo/bin/confine" profiles -i scale.list --queue "$queue" --cache "store-$n" -r "results-$n" --duration "$duration")
  stop_workers
  failed=$(jq '[.rows[] | select(.failed > 0)] | length' "results-$n/run-summary.json" 2>/dev/null || echo '?')
  awk -v n="$n" -v t="${took[$n]}" -v c="$count" -v f="$failed" 'BEGIN { printf "%d worker(s): %d images in %.1f s = %.2f images/min (failed: %s)\n", n, c, t, c * 60 / t, f }'
done
awk -v a="${took[1]}" -v b="${took[2]}" -v c="${took[3]}" 'BEGIN { printf "speed-up over 1 worker: 2 workers %.2fx, 3 workers %.2fx (ideal 2x, 3x)\n", a / b, a / c }'

echo "building $warm_count images for the warm rerun..." >&2
make_list "$warm_count" warm.list
start_workers 2 "$work/warm-store"
cold=$(timed "$repo/bin/confine" profiles -i warm.list --queue "$queue" --cache warm-store -r warm-q --duration "$warm_duration")
queued=$(timed "$repo/bin/confine" profiles -i warm.list --queue "$queue" --cache warm-store -r warm-q --duration "$warm_duration")
stop_workers
local_warm=$(timed "$repo/bin/confine" profiles -i warm.list --cache warm-store -o warm-store/out -r warm-store/results --duration "$warm_duration")
awk -v c="$cold" -v q="$queued" -v l="$local_warm" -v n="$warm_count" 'BEGIN {
  printf "%d images: cold through the queue %.1f s; warm rerun through the queue %.1f s, locally %.1f s: %.2fx\n", n, c, q, l, q / l
  printf "queue warm rerun <= 2x local: %s\n", (q <= 2 * l ? "MET" : "NOT MET") }'
