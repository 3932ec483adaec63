#!/usr/bin/env bash
# Out-of-corpus check: profiles are judged on images that are not in the repository, so
# this builds nine servers the analysis was never tuned on (Debian bookworm packages,
# as images/build.sh does) and runs `confine verify` on them with their probes, with a
# private cache and results dir under /tmp (never the checkout's .confine-cache/results).
# Prints per image: allowed syscalls, false negatives, probe, unresolved sites, failures.
#
#   tools/bench/out-of-corpus.sh                 build missing images, verify all, print the table
#   tools/bench/out-of-corpus.sh NAME...         only these
#   tools/bench/out-of-corpus.sh --build-only    build missing images and stop
#   tools/bench/out-of-corpus.sh --deep          after verify, workloads beyond the probe under
#                                          each profile in log mode (out-of-corpus/deep/deep.py)
#   tools/bench/out-of-corpus.sh --force         rebuild the images even if present
#   tools/bench/out-of-corpus.sh --clean         remove every confine-ooc/* image and the /tmp dirs
#
# Env: OOC_TMP (default /tmp/ooc) holds cache/, results/, out/ and the build scratch;
# DURATION (default 10) is verify's --duration. Ports: 127.0.0.1:28101-28109 (verify),
# 28111-28119 (--deep). Exit 1 when any image failed, had a false negative or failed
# its probe, or (--deep) a workload failed or logged a syscall its profile denies.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/tools/bench/out-of-corpus"
tmp="${OOC_TMP:-/tmp/ooc}"
REPO=confine-ooc
SUITE=bookworm
ALL=(lighttpd haproxy squid openssh nodejs php exim4 ruby postfix)
# PATH_ENV, SLIM_HOOK and debian_root: images/build.sh's recipe.
# shellcheck source=images/debian-root.sh
. "$repo/images/debian-root.sh"

log() { printf '[out-of-corpus] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
present() { docker image inspect "$REPO/$1:latest" >/dev/null 2>&1; }

# debian_image NAME PACKAGES CHANGE... : images/build.sh's recipe, overlaying
# bench/out-of-corpus/rootfs/NAME, with its own .deb cache under $tmp.
debian_image() {
  local name=$1 pkgs=$2
  shift 2
  command -v mmdebstrap >/dev/null || die "mmdebstrap is required (apt-get install mmdebstrap)"
  case $here$tmp in *[[:space:]]*) die "paths must not contain whitespace" ;; esac
  local tar="$tmp/build/$name.tar"
  debian_root "$tar" "$pkgs" "$tmp/build/apt-archives" "$here/rootfs/$name"
  local args=() c
  for c in "ENV $PATH_ENV" "$@"; do args+=(--change "$c"); done
  docker import "${args[@]}" --message "confine out-of-corpus image $name (tools/bench/out-of-corpus.sh)" \
    "$tar" "$REPO/$name:latest" >/dev/null
  rm -f "$tar"
}

build_one() {
  case $1 in
    lighttpd)
      # Debian's config runs two perl scripts (include_shell) before serving.
      debian_image lighttpd lighttpd \
        'CMD ["lighttpd", "-D", "-f", "/etc/lighttpd/lighttpd.conf"]' 'EXPOSE 80' ;;
    haproxy)
      debian_image haproxy haproxy \
        'CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]' 'EXPOSE 8080' ;;
    squid)
      debian_image squid squid \
        'CMD ["squid", "-N", "-d", "1", "-f", "/etc/squid/squid.conf"]' 'EXPOSE 3128' ;;
    openssh)
      debian_image openssh openssh-server \
        'CMD ["/usr/local/bin/sshd-start"]' 'EXPOSE 22' ;;
    nodejs)
      debian_image nodejs nodejs \
        'WORKDIR /srv' 'CMD ["node", "/srv/server.js"]' 'EXPOSE 8080' ;;
    php)
      debian_image php php-cli \
        'WORKDIR /srv' 'CMD ["php", "-S", "0.0.0.0:8080", "-t", "/srv"]' 'EXPOSE 8080' ;;
    exim4)
      debian_image exim4 exim4-daemon-light \
        'CMD ["/usr/local/bin/exim4-start"]' 'EXPOSE 25' ;;
    ruby)
      # un.rb's httpd needs WEBrick, a separate package since Ruby 3.0.
      debian_image ruby ruby,ruby-webrick \
        'WORKDIR /srv' 'CMD ["ruby", "-run", "-e", "httpd", "/srv", "-p", "8080", "-b", "0.0.0.0"]' 'EXPOSE 8080' ;;
    postfix)
      # Master execs smtpd per connection and cleanup, qmgr, local, ... only once
      # mail flows: a service whose programs a start-up trace does not all see.
      DEBIAN_FRONTEND=noninteractive debian_image postfix postfix \
        'CMD ["/usr/local/bin/postfix-start"]' 'EXPOSE 25' ;;
    *) die "unknown image '$1' (known: ${ALL[*]})" ;;
  esac
}

clean() {
  local refs
  refs=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$REPO/" || true)
  [ -z "$refs" ] || docker rmi $refs >/dev/null
  rm -rf "$tmp"
  log "removed: ${refs:-no images} and $tmp"
}

build_missing() { # build_missing FORCE NAME...
  local force=$1 n t0
  shift
  for n in "$@"; do
    if [ "$force" -eq 0 ] && present "$n"; then continue; fi
    log "building $REPO/$n:latest"
    t0=$SECONDS
    build_one "$n"
    log "built $REPO/$n:latest in $((SECONDS - t0))s"
  done
}

# verify NAME...: `confine verify` on the list lines of NAMEs with a private cache,
# results and output dir; its own table (allowed, unresolved, false negatives, probe)
# is printed, then every false negative and failure line from its log.
verify() {
  local n list="$tmp/images.list" logf="$tmp/verify.log" rc=0
  mkdir -p "$tmp"
  for n in "$@"; do grep -E "^#?[0-9]+;$n;" "$here/images.list"; done >"$list"
  log "confine verify on $(wc -l <"$list") image(s); log in $logf"
  "$repo/bin/confine" verify -i "$list" --probes "$here/probes.json" --duration "${DURATION:-10}" \
    --cache "$tmp/cache" -r "$tmp/results" -o "$tmp/out" >"$tmp/verify.out" 2>"$logf" || rc=$?
  cat "$tmp/verify.out"
  echo
  echo "false negatives and failures (from $logf):"
  grep -E 'FALSE NEGATIVE|probe|error|failed' "$logf" | grep -vE ': (done|reused)$' | sed 's/^/  /' || echo "  none"
  return $rc
}

main() {
  local force=0 build_only=0 deep=0 want=()
  while [ $# -gt 0 ]; do
    case $1 in
      --clean) clean; return 0 ;;
      --force | -f) force=1 ;;
      --build-only) build_only=1 ;;
      --deep) deep=1 ;;
      --help | -h) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
      -*) die "unknown option $1 (try --help)" ;;
      *) want+=("$1") ;;
    esac
    shift
  done
  [ ${#want[@]} -gt 0 ] || want=("${ALL[@]}")
  docker info >/dev/null 2>&1 || die "docker engine not reachable"
  build_missing "$force" "${want[@]}"
  [ "$build_only" -eq 0 ] || return 0
  local rc=0 n
  verify "${want[@]}" || rc=$?
  if [ "$deep" -eq 1 ]; then
    local with=()
    # Only images verify wrote a profile for (a failed one has none).
    for n in "${want[@]}"; do [ -f "$tmp/results/$n.seccomp.json" ] && with+=("$n"); done
    echo
    echo "deep workloads (log mode; '~' = pid never seen in the container's cgroup, exe in the image; '?' = neither, maybe another container's):"
    python3 "$here/deep/deep.py" "$tmp/results" "${with[@]}" || rc=1
  fi
  return $rc
}

main "$@"
