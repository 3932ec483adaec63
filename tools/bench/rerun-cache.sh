#!/usr/bin/env bash
# Cold run vs rerun of `confine profiles` on sample images, in one run: prints both
# times and the ratio. The rerun should reuse every stage (issue #2 asks ≥ 5×).
# Usage: tools/bench/rerun-cache.sh [IMAGE_NAME...]   (default: c-static c-musl c-glibc)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
names=("${@:-c-static c-musl c-glibc}")
read -r -a names <<<"${names[*]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for n in "${names[@]}"; do grep -E "^#?[0-9]+;$n;" "$repo/images/images.list"; done >"$work/images.list"
cd "$work"
now() { date +%s.%N; }
t0=$(now); "$repo/bin/confine" profiles -i images.list --duration "${DURATION:-5}" >/dev/null 2>cold.log || { cat cold.log; exit 1; }
t1=$(now); "$repo/bin/confine" profiles -i images.list --duration "${DURATION:-5}" >/dev/null 2>warm.log || { cat warm.log; exit 1; }
t2=$(now)
reused=$(grep -c ': reused' warm.log || true)
ran=$(grep -c ': done' warm.log || true)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="${#names[@]}" -v r="$reused" -v d="$ran" 'BEGIN {
  cold = b - a; warm = c - b;
  printf "images: %d  cold: %.2f s  rerun: %.2f s  ratio: %.1fx  (rerun stages reused: %d, recomputed: %d)\n", n, cold, warm, cold / warm, r, d }'
