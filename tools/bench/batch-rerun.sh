#!/usr/bin/env bash
# A 100-image batch made from the sample images, run cold once and then rerun with
# nothing changed. Prints total wall times, per-stage time sums (from -d), the peak RSS
# of the confine process (/usr/bin/time -v) and the cold/rerun ratio, in one run.
# Targets (issue #8): rerun of 100 images < 60 s; peak memory < 1.5 GB, not growing
# with the number of images.
#
# Each batch image is `FROM confine-sample/X` + one LABEL, built locally (no network):
# a new image ID per entry (so nothing is reused at image level) over the very same
# layers (so extraction and symbol-scan must share by file content). The images are
# removed on exit. `-p` flags are dropped from the list so the batch never collides
# with published ports of other runs; the other docker-run flags are kept.
# Usage: tools/bench/batch-rerun.sh [COUNT]   env: DURATION (2), JOBS (4), NAMES (all samples)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
source "$repo/tools/bench/lib.sh"
count="${1:-100}"
duration="${DURATION:-2}"
jobs="${JOBS:-4}"
work="$(mktemp -d)"
tag_prefix="confine-bench-$$"
cleanup() {
  docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$tag_prefix/" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r -a names <<<"${NAMES:-}"
sample_list "${names[@]}" >"$work/samples.list"
nsamples=$(wc -l <"$work/samples.list")
[ "$nsamples" -gt 0 ] || { echo "no sample images built (make images)" >&2; exit 1; }

echo "building $count images from $nsamples samples..." >&2
: >"$work/images.list"
for ((i = 0; i < count; i++)); do
  line=$(sed -n "$((i % nsamples + 1))p" "$work/samples.list")
  IFS=';' read -r rank name ref cats dl off extra <<<"$line"
  tag="$tag_prefix/$name-$i:latest"
  printf 'FROM %s\nLABEL confine.bench.copy=%d\n' "$ref" "$i" | docker build -q -t "$tag" - >/dev/null 2>"$work/build.err" || { cat "$work/build.err" >&2; exit 1; }
  printf '%d;%s-%d;%s;%s;%s;%s;%s\n' "$((i + 1))" "$name" "$i" "$tag" "$cats" "$dl" "$off" "$extra" >>"$work/images.list"
done
distinct=$(cut -d';' -f3 "$work/images.list" | xargs docker image inspect --format '{{.Id}}' | sort -u | wc -l)

cd "$work"
run() { # run LABEL: one confine run, stderr kept, rusage in LABEL.rusage
  local t0 t1
  t0=$(now)
  /usr/bin/time -v -o "$1.rusage" "$repo/bin/confine" profiles -i images.list --duration "$duration" --jobs "$jobs" -d >/dev/null 2>"$1.log" || true
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
cold=$(run cold)
warm=$(run rerun)
rss() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1.rusage"; }

echo "images: $count ($distinct distinct image IDs from $nsamples samples), --duration $duration --jobs $jobs"
for r in cold rerun; do
  echo "== $r: per-stage sums (seconds of stage time, summed over images; stages overlap under --jobs)"
  awk -f "$repo/tools/bench/stage-times.awk" "$r.log"
done
failed=$(grep -c ': failed' cold.log || true)
recomputed=$(grep -cE '^\[[^]]+\] [a-z-]+: done' rerun.log || true)
reused=$(grep -cE '^\[[^]]+\] [a-z-]+: reused' rerun.log || true)
awk -v c="$cold" -v w="$warm" -v rc="$(rss cold)" -v rw="$(rss rerun)" -v f="$failed" -v d="$recomputed" -v u="$reused" 'BEGIN {
  printf "cold: %.1f s  rerun: %.1f s  ratio: %.1fx  (rerun stages reused: %d, recomputed: %d; cold stage failures: %d)\n", c, w, c / w, u, d, f
  printf "rerun < 60 s: %s\n", (w < 60 ? "MET" : "NOT MET")
  printf "peak RSS: cold %d MB, rerun %d MB  (< 1536 MB: %s)\n", rc, rw, (rc < 1536 && rw < 1536 ? "MET" : "NOT MET") }'
