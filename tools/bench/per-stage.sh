#!/usr/bin/env bash
# One cold run (fresh cache) on the sample list with -d: a table of seconds per stage
# per image, and per image the time outside the trace window (extract-binaries,
# symbol-scan, syscall-resolve, profile-emit). Target (issue #8): under 10 s per image.
# Stage times exclude queueing for a pool slot (the runner measures them that way).
# Usage: tools/bench/per-stage.sh [NAME...]   env: DURATION (5), JOBS (2)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
source "$repo/tools/bench/lib.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sample_list "$@" >"$work/images.list"
cd "$work"
t0=$(now)
"$repo/bin/confine" profiles -i images.list --duration "${DURATION:-5}" --jobs "${JOBS:-2}" -d >/dev/null 2>run.log || true
t1=$(now)
echo "seconds per stage per image (r = reused, F = failed); outside-tr = everything but run-and-trace"
awk -v mode=table -f "$repo/tools/bench/stage-times.awk" run.log
echo
awk -f "$repo/tools/bench/stage-times.awk" run.log
awk -v mode=table -f "$repo/tools/bench/stage-times.awk" run.log | awk -v a="$t0" -v b="$t1" '
  NR > 1 { n++; s += $NF; if ($NF > max) { max = $NF; who = $1 }; if ($NF >= 10) over++ }
  END { printf "\nimages: %d  wall: %.1f s  outside the trace window: mean %.2f s, max %.2f s (%s); images >= 10 s: %d  (%s)\n",
        n, b - a, s / n, max, who, over, (over ? "NOT MET" : "MET") }'
# Extraction shared by layer chain (images with the same layers): index passes made vs
# shared, and extractions reused whole (same layers, paths and PATH/LD_LIBRARY_PATH/LD_PRELOAD).
printf 'extract: %d index passes, %d shared; %d extractions reused whole\n' \
  "$(grep -c 'extract-binaries: indexed in' run.log || true)" \
  "$(grep -c 'extract-binaries: index shared with an image' run.log || true)" \
  "$(grep -c 'extract-binaries: files reused from an earlier extraction' run.log || true)"
grep -E ": failed" run.log | cut -c1-200 || true
grep -qE "^\[" run.log || { echo "no stage lines; the run said:" >&2; tail -n 20 run.log >&2; }
