#!/usr/bin/env bash
# Installs what confine and its tests need on a Debian machine (as root), and starts
# what must be running: the Docker engine and the kernel's tracefs. Safe to rerun:
# everything already present is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need_pkgs+=(mmdebstrap)
command -v musl-gcc >/dev/null 2>&1 || need_pkgs+=(musl-tools)
command -v strace >/dev/null 2>&1 || need_pkgs+=(strace)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc)
command -v objdump >/dev/null 2>&1 || need_pkgs+=(binutils)
command -v go >/dev/null 2>&1 || need_pkgs+=(golang-go)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium) # the HTML report's render test
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server) # the queue (confine worker); tests start their own on a loopback port
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl) # the queue test's TLS certificate
[ -e /usr/include/x86_64-linux-gnu/asm/unistd_64.h ] || need_pkgs+=(linux-libc-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing: ${need_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# tracefs: run-and-trace records exec/fork events through it.
if [ ! -e /sys/kernel/tracing/trace_pipe ]; then
  log "mounting tracefs on /sys/kernel/tracing"
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || mount -t debugfs nodev /sys/kernel/debug || true
fi

# The Docker engine: start it when it is not answering.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (setsid dockerd >/var/log/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi
log "docker engine $(docker version --format '{{.Server.Version}}') is running"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund
fi
log "compiling to dist/"
scripts/build.sh
log "ready"
