#!/usr/bin/env bash
# Installs schemathesis (PyPI) into a private virtualenv and prints the path of its `st` command.
# Used by the admin API's fuzz test (core/test/admin/fuzz.test.ts). Idempotent.
set -euo pipefail
VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
VENV="${FABRIC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reactive-fabric}/schemathesis-${VERSION}"
mkdir -p "$(dirname "$VENV")"
exec 9>"$(dirname "$VENV")/.schemathesis-${VERSION}.lock"
flock 9
if [ -x "$VENV/bin/st" ]; then echo "$VENV/bin/st"; exit 0; fi
PY="$(command -v python3 || true)"
if [ -z "$PY" ]; then echo "ensure-schemathesis: python3 is required" >&2; exit 1; fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==${VERSION}" >&2
echo "$VENV/bin/st"
