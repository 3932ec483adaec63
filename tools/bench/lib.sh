# Helpers sourced by the bench scripts (not executable: `make bench` skips it).

# sample_list [NAME...]: the sample images.list lines whose image is built, in list
# order, restricted to NAMEs if given, with -p/--publish flags removed so a bench run
# never collides with ports other runs have published (the other flags are kept).
sample_list() {
  local line ref name
  grep -E '^#?[0-9]+;' "$repo/images/images.list" | while IFS= read -r line; do
    name=$(cut -d';' -f2 <<<"$line")
    ref=$(cut -d';' -f3 <<<"$line")
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
    docker image inspect "$ref" >/dev/null 2>&1 || continue
    printf '%s\n' "$line" | sed -E 's/ ?(-p|--publish)[ =][^ ;]+//g'
  done
}

# stamp: prefixes each stdin line with the wall clock (seconds, ms resolution).
stamp() { perl -MTime::HiRes=time -ne '$|=1; printf "%.3f %s", time, $_'; }

now() { date +%s.%N; }
