#!/usr/bin/env bash
# Makes `systemd-analyze` available (Debian package `systemd`), for the deploy test that verifies the
# shipped unit. Idempotent: prints its path and exits 0 when it is already there. No service is
# started: the package's post-install script does nothing in a container without systemd as PID 1.
set -euo pipefail
exec 9>"${TMPDIR:-/tmp}/fabric-ensure-systemd-analyze.lock"
flock 9
if command -v systemd-analyze >/dev/null 2>&1; then command -v systemd-analyze; exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-systemd-analyze: systemd-analyze is missing and apt-get is not available; install systemd's systemd-analyze and put it on PATH" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends systemd >/dev/null
command -v systemd-analyze
