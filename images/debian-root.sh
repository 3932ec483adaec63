# Sourced, not run: the one recipe for a Debian root that images/build.sh (the sample
# images) and tools/bench/out-of-corpus.sh (images outside the corpus) turn into images.
# The caller sets SUITE and checks that mmdebstrap is installed.

PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Documentation, man pages and translations are a quarter of an --variant=apt root
# and none of it is executed. Deleting them after install is free; dpkg's
# path-exclude would filter every package through mmtarfilter (+15 s per image).
SLIM_HOOK='rm -rf "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/*; find "$1"/usr/share/doc -type f ! -name copyright -delete'

# debian_root TARBALL PACKAGES CACHE [OVERLAY_DIR...] : an `mmdebstrap --variant=apt`
# root of $SUITE with PACKAGES, slimmed, each existing OVERLAY_DIR copied over it in
# order. CACHE is a .deb cache shared by all builds: the ~100 packages of the base are
# fetched once, not once per image (the pattern from mmdebstrap(1)); the archives are
# synced out before mmdebstrap's own cleanup, so they never end up in the image.
# mmdebstrap splits special hooks on whitespace: no path here may contain any.
debian_root() {
  local tar=$1 pkgs=$2 cache=$3
  shift 3
  mkdir -p "$cache"
  local hooks=(
    --skip=essential/unlink
    --setup-hook='mkdir -p "$1/var/cache/apt/archives/"'
    --setup-hook="sync-in $cache /var/cache/apt/archives/"
    --customize-hook="sync-out /var/cache/apt/archives $cache"
    --customize-hook="$SLIM_HOOK"
  )
  local overlay
  for overlay in "$@"; do
    if [ -n "$overlay" ] && [ -d "$overlay" ]; then hooks+=(--customize-hook="sync-in $overlay /"); fi
  done
  rm -f "$tar"
  mmdebstrap --quiet --variant=apt --include="$pkgs" "${hooks[@]}" "$SUITE" "$tar"
}
