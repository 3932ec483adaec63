#!/usr/bin/env bash
# Builds the sample images confine is tested and demonstrated on, entirely from
# Debian packages and sources in this folder: no image registry is needed.
#
#   images/build.sh                 build every image not yet present
#   images/build.sh nginx redis     build only these
#   images/build.sh --force [NAME]  rebuild even if present
#   images/build.sh --list          print the image names
#
# Each Debian image is an `mmdebstrap --variant=apt` root of bookworm plus the
# server's package, turned into an image with `docker import` (CMD/ENV/... given
# as --change, since there is no Dockerfile). Files under rootfs/NAME/ are copied
# over the root (entrypoint scripts, static pages). The c-* images hold only a
# server compiled here from programs/ (and, for c-glibc, exactly its libraries).
# The musl-* images are Alpine-like: servers built here from Debian's source
# packages with musl-gcc, dynamically linked (musl-servers.sh; builds cached in
# build/musl/).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$HERE/build"
SUITE="${CONFINE_SUITE:-bookworm}"
REPO="confine-sample"

ALL=(nginx redis memcached python3 apache2 mariadb caddy busybox c-glibc c-static c-musl jvm perl musl-busybox musl-lighttpd musl-redis)

# PATH_ENV, SLIM_HOOK and debian_root (the mmdebstrap recipe).
# shellcheck source=images/debian-root.sh
. "$HERE/debian-root.sh"
# musl_image and the musl builds it uses.
# shellcheck source=images/musl-servers.sh
. "$HERE/musl-servers.sh"

log() { printf '[build.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

need_cmd() { # need_cmd COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  log "$1 not found: installing $2"
  if ! apt-get install -y "$2" >/dev/null; then
    apt-get update >/dev/null && apt-get install -y "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || die "could not install $2 (needed for $1)"
}

present() { docker image inspect "$REPO/$1:latest" >/dev/null 2>&1; }

# import_root NAME TARBALL CHANGE... : docker import with Dockerfile-style changes,
# then drop the tarball (they are 50-200 MB each).
import_root() {
  local name=$1 tar=$2
  shift 2
  local args=()
  local c
  for c in "$@"; do args+=(--change "$c"); done
  docker import "${args[@]}" \
    --message "confine sample image $name (built by images/build.sh)" \
    "$tar" "$REPO/$name:latest" >/dev/null
  rm -f "$tar"
}

# debian_image NAME PACKAGES CHANGE... : mmdebstrap a bookworm root with PACKAGES,
# overlay rootfs/NAME if it exists, import it.
debian_image() {
  local name=$1 pkgs=$2
  shift 2
  need_cmd mmdebstrap mmdebstrap
  local tar="$BUILD/$name.tar"
  case $HERE in *[[:space:]]*) die "images/ path must not contain whitespace: $HERE" ;; esac
  # rootfs/NAME, then files produced at build time (compiled classes), over the root.
  debian_root "$tar" "$pkgs" "$BUILD/apt-archives" "$HERE/rootfs/$name" "${BUILT_OVERLAY:-}"
  import_root "$name" "$tar" "ENV $PATH_ENV" "$@"
}

# compile VARIANT OUT : programs/tinyhttpd.c three ways, to compare how the
# analysis handles a dynamic glibc binary, a static glibc one and a static musl one.
compile() {
  local variant=$1 out=$2 src="$HERE/programs/tinyhttpd.c"
  local flags=(-O2 -Wall -Wextra -o "$out" "$src")
  case $variant in
    glibc) need_cmd gcc gcc; gcc "${flags[@]}" ;;
    static) need_cmd gcc gcc; gcc -static "${flags[@]}" ;;
    musl) need_cmd musl-gcc musl-tools; musl-gcc -static "${flags[@]}" ;;
    *) die "unknown variant $variant" ;;
  esac
}

# c_image NAME VARIANT : an image whose root is only the server (plus, when it is
# dynamic, its libraries and loader at Debian's paths, the loader reached through
# the same /lib64 symlink Debian has, so extraction must follow symlinks in the root).
c_image() {
  local name=$1 variant=$2
  local root="$BUILD/$name.root" tar="$BUILD/$name.tar"
  rm -rf "$root"
  mkdir -p "$root"
  compile "$variant" "$root/tinyhttpd"
  if [ "$variant" = glibc ]; then
    local interp lib
    interp=$(readelf -l "$root/tinyhttpd" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
    [ -n "$interp" ] || die "$name: no PT_INTERP in the dynamic build"
    mkdir -p "$root/lib/x86_64-linux-gnu" "$root$(dirname "$interp")"
    # ldd lists what the loader maps: "libc.so.6 => /lib/.../libc.so.6 (0x...)" and the loader itself.
    while read -r lib; do
      cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")"
    done < <(ldd "$root/tinyhttpd" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
    [ -f "$root/lib/x86_64-linux-gnu/$(basename "$interp")" ] || die "$name: loader $interp not copied"
    if [ "$interp" != "/lib/x86_64-linux-gnu/$(basename "$interp")" ]; then
      rm -f "$root$interp"
      ln -s "/lib/x86_64-linux-gnu/$(basename "$interp")" "$root$interp"
    fi
  else
    # The image has no loader: a PT_INTERP or PT_DYNAMIC would make it unrunnable.
    if readelf -lW "$root/tinyhttpd" | grep -Eq '^ +(INTERP|DYNAMIC) '; then
      die "$name: expected a static binary without a loader"
    fi
  fi
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tar" .
  rm -rf "$root"
  import_root "$name" "$tar" "CMD [\"/tinyhttpd\", \"8080\"]" "EXPOSE 8080"
}

# jvm_image : the JDK's com.sun.net.httpserver server of programs/jvm, compiled here
# for the image's Java (Debian bookworm's default-jre-headless is OpenJDK 17).
jvm_image() {
  need_cmd javac openjdk-17-jdk-headless
  local overlay="$BUILD/jvm.overlay"
  rm -rf "$overlay"
  mkdir -p "$overlay/srv/app"
  javac --release 17 -d "$overlay/srv/app" "$HERE/programs/jvm/HelloServer.java"
  BUILT_OVERLAY="$overlay" debian_image jvm default-jre-headless \
    'WORKDIR /srv/app' \
    'CMD ["java", "-Xmx128m", "-cp", "/srv/app", "HelloServer", "8080"]' 'EXPOSE 8080'
  rm -rf "$overlay"
}

build_one() {
  case $1 in
    nginx)
      debian_image nginx nginx \
        'CMD ["nginx", "-g", "daemon off;"]' 'EXPOSE 80' ;;
    redis)
      # Protected mode refuses clients from outside the container's loopback,
      # and docker's port proxy is outside it.
      debian_image redis redis-server \
        'WORKDIR /var/lib/redis' 'USER redis' \
        'CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--daemonize", "no"]' 'EXPOSE 6379' ;;
    memcached)
      # Started as root so memcached itself drops to its user (setuid/setgid, as packaged).
      debian_image memcached memcached \
        'CMD ["memcached", "-u", "memcache", "-l", "0.0.0.0", "-p", "11211", "-m", "64"]' 'EXPOSE 11211' ;;
    python3)
      debian_image python3 python3 \
        'WORKDIR /srv/www' 'ENV PYTHONUNBUFFERED=1' \
        'CMD ["python3", "-m", "http.server", "8000"]' 'EXPOSE 8000' ;;
    apache2)
      debian_image apache2 apache2 \
        'CMD ["/usr/local/bin/apache2-foreground"]' 'EXPOSE 80' ;;
    mariadb)
      debian_image mariadb mariadb-server \
        'CMD ["/usr/local/bin/mariadb-start"]' 'EXPOSE 3306' ;;
    caddy)
      debian_image caddy caddy \
        'ENV HOME=/var/lib/caddy' 'WORKDIR /srv/www' \
        'CMD ["caddy", "file-server", "--root", "/srv/www", "--listen", ":80"]' 'EXPOSE 80' ;;
    busybox)
      debian_image busybox busybox-static \
        'CMD ["busybox", "httpd", "-f", "-v", "-p", "80", "-h", "/www"]' 'EXPOSE 80' ;;
    jvm) jvm_image ;;
    perl)
      # HTTP::Daemon is pure Perl; JSON::XS is a C extension perl dlopens.
      debian_image perl perl,libhttp-daemon-perl,libjson-xs-perl \
        'WORKDIR /srv/app' \
        'CMD ["perl", "/srv/app/server.pl", "8080"]' 'EXPOSE 8080' ;;
    c-glibc) c_image c-glibc glibc ;;
    c-static) c_image c-static static ;;
    c-musl) c_image c-musl musl ;;
    musl-busybox)
      musl_image musl-busybox \
        'CMD ["/usr/local/bin/httpd-start"]' 'EXPOSE 80' ;;
    musl-lighttpd)
      MUSL_PKGS=lighttpd musl_image musl-lighttpd \
        'CMD ["/usr/local/bin/lighttpd-start"]' 'EXPOSE 80' ;;
    musl-redis)
      # Protected mode refuses clients from outside the container's loopback, as in redis.
      MUSL_PKGS=redis musl_image musl-redis \
        'WORKDIR /data' 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        'CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no"]' 'EXPOSE 6379' ;;
    *) die "unknown image '$1' (known: ${ALL[*]})" ;;
  esac
}

main() {
  local force=0
  local want=()
  while [ $# -gt 0 ]; do
    case $1 in
      --force | -f) force=1 ;;
      --list | -l) printf '%s\n' "${ALL[@]}"; return 0 ;;
      --help | -h) usage; return 0 ;;
      -*) die "unknown option $1 (try --help)" ;;
      *) want+=("$1") ;;
    esac
    shift
  done
  [ ${#want[@]} -gt 0 ] || want=("${ALL[@]}")
  local n k
  for n in "${want[@]}"; do
    for k in "${ALL[@]}"; do [ "$n" = "$k" ] && continue 2; done
    die "unknown image '$n' (known: ${ALL[*]})"
  done

  command -v docker >/dev/null || die "docker is required"
  docker info >/dev/null 2>&1 || die "docker engine not reachable"
  mkdir -p "$BUILD"

  local built=() skipped=() t0 secs
  for n in "${want[@]}"; do
    if [ $force -eq 0 ] && present "$n"; then
      skipped+=("$n")
      continue
    fi
    log "building $REPO/$n:latest"
    t0=$SECONDS
    build_one "$n"
    secs=$((SECONDS - t0))
    log "built $REPO/$n:latest in ${secs}s ($(docker image inspect -f '{{.Size}}' "$REPO/$n:latest" | awk '{printf "%.1f MB", $1/1e6}'))"
    built+=("$n")
  done
  [ ${#skipped[@]} -eq 0 ] || log "already present (use --force to rebuild): ${skipped[*]}"
  log "done: ${#built[@]} built, ${#skipped[@]} present"
}

main "$@"
