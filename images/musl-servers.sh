# Sourced by images/build.sh, not run: the Alpine-like sample images. Real servers
# (redis, lighttpd, busybox) built here from Debian's source packages with musl-gcc,
# dynamically linked, each in an image that holds only musl's loader, its libc and
# the programs (busybox's ash as /bin/sh, so entrypoint scripts run under musl too).
#
# Alpine is the usual small base of container images; these are its shape: every
# program's PT_INTERP is /lib/ld-musl-x86_64.so.1, which is musl's libc.so itself.
# Debian's musl package is the libc (the same file musl-gcc links against), placed
# at Debian's path with Debian's loader symlink.
#
# The caller defines log, die, need_cmd, BUILD, HERE, SUITE and import_root.

# Bump when a recipe below changes what it produces: builds are cached per source
# version and recipe in build/musl/, and reused while both match.
MUSL_RECIPE=1
MUSL_DIR="$BUILD/musl"

need_pkg() { # need_pkg DEBIAN-PACKAGE : for what is a file, not a command
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' && return 0
  log "installing $1"
  if ! apt-get install -y "$1" >/dev/null; then
    apt-get update >/dev/null && apt-get install -y "$1" >/dev/null
  fi
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' || die "could not install $1"
}

musl_tools() {
  need_cmd musl-gcc musl-tools
  need_cmd gcc gcc # busybox's host tools (kconfig) are built with the host compiler
  need_cmd make make
  need_cmd dpkg-source dpkg-dev
  need_cmd xz xz-utils
  need_cmd bzip2 bzip2
  need_cmd strip binutils
  need_pkg linux-libc-dev
  need_pkg libc6-dev
}

# The host's apt sources for $SUITE (and its -updates/-security suites) as deb-src
# entries, in a private apt configuration under build/musl/apt: `apt-get source`
# works without touching /etc/apt. Both source formats are read (one-line .list,
# deb822 .sources); with none for $SUITE, deb.debian.org.
MUSL_APT=()
musl_apt_setup() {
  [ ${#MUSL_APT[@]} -eq 0 ] || return 0 # once per build.sh run
  local dir="$MUSL_DIR/apt"
  rm -rf "$dir/parts"
  mkdir -p "$dir/parts" "$dir/lists/partial" "$dir/cache"
  : >"$dir/none.list"
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /=/ && $i !~ /\]$/) break
      if ($(i + 1) ~ "^" s "($|-)") { $1 = "deb-src"; print } }' "$f"
  done >"$dir/parts/host-src.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Paragraphs whose Suites name $SUITE, with Types: deb made deb-src.
    awk -v s="$SUITE" 'BEGIN { RS = ""; ORS = "\n\n" }
      { keep = 0; n = split($0, l, "\n")
        for (i = 1; i <= n; i++) if (l[i] ~ /^Suites:/ && l[i] ~ "[ \t]" s "([ \t-]|$)") keep = 1
        if (!keep) next
        out = ""
        for (i = 1; i <= n; i++) { if (l[i] ~ /^Types:/) l[i] = "Types: deb-src"; out = out l[i] "\n" }
        printf "%s\n", out }' "$f"
  done >"$dir/parts/host-src.sources"
  [ -s "$dir/parts/host-src.list" ] || rm -f "$dir/parts/host-src.list"
  [ -s "$dir/parts/host-src.sources" ] || rm -f "$dir/parts/host-src.sources"
  if [ ! -e "$dir/parts/host-src.list" ] && [ ! -e "$dir/parts/host-src.sources" ]; then
    echo "deb-src http://deb.debian.org/debian $SUITE main" >"$dir/parts/fallback.list"
  fi
  MUSL_APT=(-o "Dir::Etc::SourceList=$dir/none.list" -o "Dir::Etc::SourceParts=$dir/parts"
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
    -o APT::Sandbox::User=root) # _apt may not enter build/ (it is in a checkout)
  apt-get "${MUSL_APT[@]}" -qq update >/dev/null || die "apt-get update of the deb-src entries in $dir/parts failed"
}

# musl_src_version PKG : the version `apt-get source PKG` would fetch.
musl_src_version() {
  local v
  v=$(apt-cache "${MUSL_APT[@]}" showsrc --only-source "$1" 2>/dev/null | awk '/^Version:/ {print $2}' | sort -V | tail -n 1)
  [ -n "$v" ] || die "no source package $1 in the deb-src entries of $MUSL_DIR/apt/parts"
  printf '%s\n' "$v"
}

# musl_unpack PKG VERSION DIR : Debian's source of PKG (patches applied) in DIR.
musl_unpack() {
  local pkg=$1 version=$2 dest=$3 src="$MUSL_DIR/src"
  mkdir -p "$src"
  (cd "$src" && apt-get "${MUSL_APT[@]}" -qq source --download-only "$pkg=$version" >/dev/null) ||
    die "apt-get source $pkg=$version failed"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  dpkg-source --no-check -x "$src/${pkg}_${version#*:}.dsc" "$dest" >/dev/null || die "dpkg-source -x ${pkg}_${version#*:}.dsc failed"
}

# The kernel's uapi headers for musl-gcc, which searches no /usr/include: every
# top-level directory linux-libc-dev installs (linux, asm-generic, mtd, ...), asm
# from the multiarch directory, and sys/queue.h (a BSD macro header musl lacks:
# Alpine's bsd-compat-headers; lighttpd's HPACK code needs it) from libc6-dev.
# Sets MUSL_INC.
musl_kernel_headers() {
  local inc="$MUSL_DIR/include" d
  rm -rf "$inc"
  mkdir -p "$inc/sys"
  while read -r d; do
    ln -s "$d" "$inc/$(basename "$d")"
  done < <(dpkg -L linux-libc-dev | awk -F/ 'NF == 4 && $3 == "include" && $4 != "x86_64-linux-gnu"')
  ln -s /usr/include/x86_64-linux-gnu/asm "$inc/asm"
  ln -s /usr/include/x86_64-linux-gnu/sys/queue.h "$inc/sys/queue.h"
  [ -e "$inc/linux/netlink.h" ] && [ -e "$inc/asm/unistd_64.h" ] || die "kernel headers incomplete in $inc"
  MUSL_INC=$inc
}

# musl_build PKG : builds PKG from source once per (version, recipe); sets MUSL_OUT
# to the directory holding its installed files (a root: usr/bin/..., usr/sbin/...).
# Results go through variables, not $(...): errexit does not reach into those.
musl_build() {
  local pkg=$1 version out work t0
  version=$(musl_src_version "$pkg")
  out="$MUSL_DIR/out/$pkg-${version//[:~+]/_}-r$MUSL_RECIPE"
  MUSL_OUT=$out
  if [ -f "$out/.done" ]; then
    log "$pkg $version: reusing the musl build in $out"
    return 0
  fi
  musl_tools
  t0=$SECONDS
  work="$MUSL_DIR/work/$pkg"
  musl_unpack "$pkg" "$version" "$work"
  musl_kernel_headers
  rm -rf "$out"
  mkdir -p "$out"
  log "$pkg $version: building with musl-gcc (log: $MUSL_DIR/work/$pkg.log)"
  # A plain statement, not the left of ||, so errexit holds inside the recipe.
  local rc=0
  set +e
  (set -e; cd "$work"; "musl_build_$pkg" "$out" "$MUSL_INC"; echo "CPU time (user, system) of the build:"; times) >"$MUSL_DIR/work/$pkg.log" 2>&1
  rc=$?
  set -e
  [ $rc -eq 0 ] || die "$pkg: musl build failed ($rc); last lines of $MUSL_DIR/work/$pkg.log:
$(tail -n 15 "$MUSL_DIR/work/$pkg.log")"
  musl_check_dynamic "$out"
  rm -rf "$work"
  touch "$out/.done"
  log "$pkg $version: built in $((SECONDS - t0))s (CPU: $(tail -n 1 "$MUSL_DIR/work/$pkg.log"))"
}

JOBS=$(nproc 2>/dev/null || echo 2)

# Each musl_build_PKG runs in the unpacked source with OUT and INC (kernel headers),
# installs into OUT and strips what it installed (Alpine ships stripped programs).
musl_build_busybox() {
  local out=$1 inc=$2
  make defconfig
  make -j"$JOBS" CC=musl-gcc HOSTCC=gcc EXTRA_CFLAGS="-I$inc"
  mkdir -p "$out/bin"
  install -m 0755 busybox "$out/bin/busybox"
  strip "$out/bin/busybox"
}

musl_build_redis() {
  local out=$1 inc=$2
  # MALLOC=libc: musl's malloc instead of the bundled jemalloc (Alpine's choice too).
  local args=(CC=musl-gcc MALLOC=libc BUILD_TLS=no USE_SYSTEMD=no "REDIS_CFLAGS=-I$inc")
  make -j"$JOBS" "${args[@]}"
  make "${args[@]}" PREFIX="$out/usr" install
  find "$out/usr/bin" -type f -exec strip {} +
}

musl_build_lighttpd() {
  local out=$1 inc=$2
  # Only musl's libc to link against: no pcre2, zlib, ... (regex conditionals and
  # mod_deflate's codecs off). Modules stay shared objects lighttpd dlopens.
  CC=musl-gcc CPPFLAGS="-I$inc" PKG_CONFIG_LIBDIR=/nonexistent ./configure \
    --prefix=/usr --sysconfdir=/etc --libdir=/usr/lib/lighttpd --disable-static \
    --without-pcre2 --without-zlib --without-bzip2 --without-zstd --without-brotli
  # The server and its modules only: `make all` also builds lighttpd's unit tests.
  # BUILT_SOURCES (the config parser, versionstamp.h) first, as `all` would.
  make -C src parsers versionstamp
  make -j"$JOBS" -C src install-sbinPROGRAMS install-libLTLIBRARIES DESTDIR="$out"
  rm -f "$out"/usr/lib/lighttpd/*.la
  find "$out/usr/sbin" -type f -exec strip {} +
  find "$out/usr/lib/lighttpd" -name '*.so' -exec strip --strip-unneeded {} +
  rm -rf "$out/usr/share"
}

# Every ELF built must be musl's and dynamic: a silent fallback to the host's
# compiler or a static link would make the image test something else.
musl_check_dynamic() {
  local f interp n=0
  while read -r f; do
    head -c 4 "$f" | grep -q 'ELF' || continue
    n=$((n + 1))
    if readelf -lW "$f" | grep -q 'Requesting program interpreter'; then
      interp=$(readelf -lW "$f" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
      [ "$interp" = /lib/ld-musl-x86_64.so.1 ] || die "$f: interpreter $interp, not musl's"
    else
      case $f in *.so) ;; *) die "$f: a program without musl's loader (static?)" ;; esac
    fi
    if readelf -dW "$f" | grep -E 'NEEDED' | grep -qv '\[libc\.so\]'; then
      die "$f: needs a library other than musl's libc.so: $(readelf -dW "$f" | grep NEEDED | tr -s ' ' | tr '\n' ' ')"
    fi
  done < <(find "$1" -type f)
  [ "$n" -gt 0 ] || die "$1: no ELF file built"
}

# musl_base ROOT BUSYBOX_OUT : what every musl image has, Alpine's layout: musl's
# libc.so at Debian's path with the loader link to it, busybox with a symlink per
# applet (/bin/sh is ash), the usual empty directories.
musl_base() {
  local root=$1 bb=$2 libc applet
  need_pkg musl
  libc=$(dpkg -L musl | grep -E '/libc\.so$' | head -n 1)
  [ -n "$libc" ] && [ -f "$libc" ] || die "musl's libc.so not found in the musl package"
  mkdir -p "$root/lib/x86_64-linux-musl" "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" \
    "$root/etc" "$root/root" "$root/var/log" "$root/run" "$root/tmp" "$root/var/tmp"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp "$libc" "$root/lib/x86_64-linux-musl/libc.so"
  ln -s x86_64-linux-musl/libc.so "$root/lib/ld-musl-x86_64.so.1"
  install -m 0755 "$bb/bin/busybox" "$root/bin/busybox"
  # The musl busybox runs here through the host's musl loader (musl-tools installs it).
  while read -r applet; do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done < <("$bb/bin/busybox" --list-full)
  [ -L "$root/bin/sh" ] || die "busybox has no sh applet"
}

# musl_image NAME CHANGE... : base + the builds named in MUSL_PKGS (each build's root
# copied over /) + rootfs/NAME, imported.
musl_image() {
  local name=$1
  shift
  local root="$BUILD/$name.root" tar="$BUILD/$name.tar" bb pkg out
  # Here, not in musl_build: that runs in $(...), whose variables do not come back.
  musl_apt_setup
  musl_build busybox
  bb=$MUSL_OUT
  rm -rf "$root"
  mkdir -p "$root"
  musl_base "$root" "$bb"
  for pkg in ${MUSL_PKGS:-}; do
    musl_build "$pkg"
    out=$MUSL_OUT
    cp -a "$out/." "$root/"
    rm -f "$root/.done"
  done
  [ -d "$HERE/rootfs/$name" ] && cp -a "$HERE/rootfs/$name/." "$root/"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tar" .
  rm -rf "$root"
  import_root "$name" "$tar" "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$@"
}
