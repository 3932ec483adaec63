#!/bin/sh
# Runs INSIDE the measuring container: every program of LIST ("ID PATH [SYSCALLS]") with
# --version and with --help, each under its own strace writing OUT/ID.MODE.st, with a
# per-run timeout and stdin from /dev/null. OUT/ID.MODE.rc is written when a run ends,
# so a container killed by a program it ran is restarted from the next run.
# SYSCALLS (a comma list) traces only those, with stack traces (-k): the second pass
# that finds where a missed syscall was made. With OUT/ID.args (one argument a line),
# the program runs once with those arguments instead (mode "run").
#
#   driver.sh LIST OUT SECONDS [TOOLS LOADER]
# TOOLS: a root holding strace and timeout (the fn-hunt image's, mounted read-only),
# started through its own LOADER, for images under test that have no strace.
list=$1 out=$2 secs=$3 tools=$4 loader=$5
if [ -n "$tools" ]; then
  lp="$tools/usr/lib/x86_64-linux-gnu:$tools/lib/x86_64-linux-gnu"
  set -- "$loader" --library-path "$lp"
  timeout_cmd="$tools/usr/bin/timeout"
  strace_cmd="$tools/usr/bin/strace"
else
  set --
  timeout_cmd=timeout
  strace_cmd=strace
fi
# Word lists below are newline-separated and expanded unquoted: split on newlines
# only, never globbed, so an argument may hold spaces, quotes or '*'.
nl='
'
set -f
while read -r id path trace; do
  extra=
  [ -n "$trace" ] && extra="-k${nl}-e${nl}trace=$trace"
  modes="version help"
  [ -e "$out/$id.args" ] && modes=run
  for mode in $modes; do
    [ -e "$out/$id.$mode.rc" ] && continue
    if [ "$mode" = run ]; then args=$(cat "$out/$id.args"); else args="--$mode"; fi
    : > "$out/$id.$mode.started"
    IFS=$nl
    "$@" "$timeout_cmd" -k 2 "$secs" "$@" "$strace_cmd" -f -qq -s 256 $extra -o "$out/$id.$mode.st" "$path" $args </dev/null >/dev/null 2>&1
    echo $? > "$out/$id.$mode.rc"
    unset IFS
  done
done < "$list"
