#!/usr/bin/env bash
# `confine analyze` cold and warm versus `objdump -d` on large ELF files, each the median
# of three runs, with the machine's CPU, cores and load: see analyze-vs-objdump.ts.
# Usage: tools/bench/analyze-vs-objdump.sh [--runs N] [FILE...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
exec "$repo/node_modules/.bin/tsx" "$repo/tools/bench/analyze-vs-objdump.ts" "$@"
