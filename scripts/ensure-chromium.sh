#!/usr/bin/env bash
# Make sure a headless-capable Chromium is installed (Debian's `chromium` package) and print its
# path. The dashboard's browser test calls this; it never skips when the browser is missing.
# Idempotent and safe to run from parallel test workers: the install runs under a lock.
set -euo pipefail

find_chromium() {
  for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

if path=$(find_chromium); then echo "$path"; exit 0; fi

lock=${TMPDIR:-/tmp}/reactive-fabric-chromium.lock
exec 9>"$lock"
flock 9
# Another process may have installed it while we waited for the lock.
if path=$(find_chromium); then echo "$path"; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "ensure-chromium: chromium is not installed and this user cannot install it; run: apt-get install -y chromium" >&2
    exit 1
  fi
else SUDO=; fi

export DEBIAN_FRONTEND=noninteractive
{
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
} >&2
path=$(find_chromium) || { echo "ensure-chromium: apt-get installed chromium but no chromium binary is on PATH" >&2; exit 1; }
echo "$path"
