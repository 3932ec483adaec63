#!/bin/sh
# The shape of the official redis:alpine entrypoint, in busybox's ash (musl): an
# option as first argument means redis-server; started as root, it hands /data to
# user redis and re-executes itself as redis (busybox chpst in place of su-exec).
set -e
if [ "${1#-}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec chpst -u redis:redis "$0" "$@"
fi
exec "$@"
