#!/usr/bin/env bash
# Makes `promtool` available (Debian package `prometheus`), for the admin API's /metrics test.
# Idempotent: prints the promtool path and exits 0 when it is already there.
set -euo pipefail
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
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool
