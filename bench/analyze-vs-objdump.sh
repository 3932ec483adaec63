#!/usr/bin/env bash
# `confine analyze` with a cold cache (fresh --cache dir) on large ELF files versus
# `objdump -d` over the same files (output to /dev/null), then a warm rerun with the
# same --cache. Prints per-file and total wall times and the ratios, measured in one run.
# Targets (issue #8): analyze cold <= 0.5x objdump; warm < 5% of cold.
# Per-file rows analyse each file alone (so each includes its DT_NEEDED closure and
# loader, which objdump does not look at); the TOTAL row is one invocation over all files.
# Usage: bench/analyze-vs-objdump.sh [FILE...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
confine="$repo/bin/confine"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

first() { for f in "$@"; do [ -f "$f" ] && { readlink -f "$f"; return; }; done; }
if [ $# -gt 0 ]; then files=("$@"); else
  files=()
  for f in \
    "$(first /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc.so.6)" \
    "$(first /usr/lib/x86_64-linux-gnu/libcrypto.so.3 /usr/lib/x86_64-linux-gnu/libcrypto.so.1.1)" \
    "$(first /usr/lib/x86_64-linux-gnu/libstdc++.so.6)" \
    "$(first /usr/bin/python3.11 /usr/bin/python3)" \
    "$(first /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0)"; do
    [ -n "$f" ] && files+=("$f")
  done
  gobin="$(first /usr/bin/containerd)"
  if [ -z "$gobin" ] && docker image inspect confine-sample/caddy >/dev/null 2>&1; then
    # No containerd here: copy the caddy binary out of the sample image instead.
    cid=$(docker create confine-sample/caddy:latest)
    docker cp "$cid:/usr/bin/caddy" "$work/caddy" >/dev/null 2>&1 || docker cp "$cid:/usr/local/bin/caddy" "$work/caddy" >/dev/null
    docker rm "$cid" >/dev/null
    gobin="$work/caddy"
  fi
  [ -n "$gobin" ] && files+=("$gobin")
fi

now() { date +%s.%N; }
# time_of CMD...: wall seconds of CMD (its output discarded; failure aborts the bench)
time_of() { local t0 t1; t0=$(now); "$@" >/dev/null 2>"$work/err" || { echo "failed: $*" >&2; cat "$work/err" >&2; exit 1; }; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'; }
objects_of() { "$confine" analyze "$@" 2>/dev/null | awk '/objects \(functions/ { n += split($0, a, ",") } END { print n + 0 }'; }

startup=$(time_of "$confine" analyze --help)
# bin/confine runs the compiled build only while it is current; through tsx every run
# pays ~0.6 s of transpiling, which alone is more than a warm run should take. It says
# which one it chose.
CONFINE_SAY_RUNTIME=1 "$confine" --help 2>&1 >/dev/null | grep '^runtime:' || true
printf '%-44s %8s %6s %9s %9s %9s %8s\n' file MB objs objdump_s cold_s warm_s cold/obj
tot_obj=0
for f in "${files[@]}"; do
  mb=$(awk -v s="$(stat -c %s "$f")" 'BEGIN { printf "%.1f", s / 1048576 }')
  o=$(time_of objdump -d "$f")
  c="$work/cache-$(basename "$f")"
  cold=$(time_of "$confine" analyze "$f" --cache "$c")
  warm=$(time_of "$confine" analyze "$f" --cache "$c")
  objs=$(objects_of "$f" --cache "$c")
  tot_obj=$(awk -v a="$tot_obj" -v b="$o" 'BEGIN { print a + b }')
  awk -v f="$f" -v mb="$mb" -v n="$objs" -v o="$o" -v c="$cold" -v w="$warm" 'BEGIN {
    printf "%-44s %8s %6d %9.2f %9.2f %9.2f %7.2fx\n", f, mb, n, o, c, w, c / o }'
done
all_cold=$(time_of env CONFINE_ANALYZE_TIMING=1 "$confine" analyze "${files[@]}" --cache "$work/cache-all")
cp "$work/err" "$work/phases"
all_warm=$(time_of "$confine" analyze "${files[@]}" --cache "$work/cache-all")
awk -v o="$tot_obj" -v c="$all_cold" -v w="$all_warm" -v s="$startup" 'BEGIN {
  printf "%-44s %8s %6s %9.2f %9.2f %9.2f %7.2fx\n", "TOTAL (one analyze run over all files)", "", "", o, c, w, c / o
  printf "analyze cold / objdump: %.2fx (target <= 0.50x)  %s\n", c / o, (c / o <= 0.5 ? "MET" : "NOT MET")
  printf "analyze warm / cold:    %.1f%% (target < 5%%)  %s\n", 100 * w / c, (w / c < 0.05 ? "MET" : "NOT MET")
  printf "process start floor (confine analyze --help): %.2f s\n", s }'
echo "where the cold TOTAL run's wall time went (CONFINE_ANALYZE_TIMING=1; worker lines are per file):"
sed 's/^\[analyze\] /  /' "$work/phases"
