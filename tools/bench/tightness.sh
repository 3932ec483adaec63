#!/usr/bin/env bash
# How tight the profiles are (issue #12): per image, allowed syscalls, the static figures
# under three indirect-call rules, the kernel-seen set and allowed/seen, medians and
# targets. Runs `confine profiles` first (cached runs are fast). See tightness.ts.
# Usage: tools/bench/tightness.sh [-i LIST] [--skip-profiles] [--duration SEC] [NAME...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
exec "$repo/node_modules/.bin/tsx" "$repo/tools/bench/tightness.ts" "$@"
