#!/usr/bin/env bash
# The same images with --jobs 1 and --jobs N (fresh caches each), in one run: prints the
# trace phase (first run-and-trace start to last run-and-trace end), the whole run, and
# the speed-up of each. Traces are wall-clock bound (--duration), so --jobs should
# overlap them almost perfectly; CPU stages share the machine's cores.
# Usage: tools/bench/jobs-speedup.sh [NAME...]   env: DURATION (5), JOBS (4)
# (default: 8 images, all samples but mariadb, python3 and c-musl)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
source "$repo/tools/bench/lib.sh"
duration="${DURATION:-5}"
jobs="${JOBS:-4}"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(nginx apache2 caddy busybox redis memcached c-glibc c-static)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sample_list "${names[@]}" >"$work/images.list"
n=$(wc -l <"$work/images.list")

run() { # run JOBS: fresh cache/output dirs; stamped -d log in JOBS.log; prints "trace_s total_s"
  local d="$work/j$1"
  mkdir -p "$d"
  ( cd "$d" && "$repo/bin/confine" profiles -i "$work/images.list" --duration "$duration" --jobs "$1" -d 2>&1 >/dev/null | stamp >"$work/j$1.log" ) || true
  awk '
    NR == 1 { first = $1 }
    { last = $1 }
    / run-and-trace: started/ { if (ts == "") ts = $1 }
    / run-and-trace: (done|failed)/ { te = $1; n++ }
    / run-and-trace: failed/ { f++ }
    END { printf "%.2f %.2f %d %d\n", te - ts, last - first, n, f }' "$work/j$1.log"
}
read -r t1 all1 n1 f1 < <(run 1)
read -r tn alln nn fn < <(run "$jobs")
echo "images: $n  --duration $duration  (traces finished: jobs=1 $n1, $f1 failed; jobs=$jobs $nn, $fn failed)"
awk -v t1="$t1" -v tn="$tn" -v a1="$all1" -v an="$alln" -v j="$jobs" -v n="$n" -v d="$duration" 'BEGIN {
  printf "%-12s %10s %10s %8s\n", "", "jobs=1", "jobs=" j, "speed-up"
  printf "%-12s %9.1fs %9.1fs %7.2fx\n", "trace phase", t1, tn, t1 / tn
  printf "%-12s %9.1fs %9.1fs %7.2fx\n", "whole run", a1, an, a1 / an
  printf "ideal trace speed-up: %.2fx (min(jobs, images)); trace window alone: %d x %d s = %d s serial\n", (j < n ? j : n), n, d, n * d }'
