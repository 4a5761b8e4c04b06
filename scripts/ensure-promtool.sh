#!/usr/bin/env bash
# Makes `promtool` available (Debian package `prometheus`), for the /metrics test and the deploy/ checks.
# Idempotent: prints the promtool path and exits 0 when it is already there.
set -euo pipefail
# Test files run in parallel and may both call this: one installs, the others wait for it.
exec 9>"${TMPDIR:-/tmp}/fabric-ensure-promtool.lock"
flock 9
if command -v promtool >/dev/null 2>&1; then command -v promtool; exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-promtool: promtool is missing and apt-get is not available; install Prometheus' promtool and put it on PATH" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# The package's post-install script starts no service inside containers without systemd; --no-install-recommends
# keeps the web UI's JS libraries out where possible.
# Other installers on the machine may hold dpkg's lock for a while: wait for it rather than fail.
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool
