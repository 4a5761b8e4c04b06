#!/usr/bin/env bash
# Installs pySigma and its SQLite backend (PyPI) into a private virtualenv and prints the path of
# its python. Used by the Sigma differential test (core/test/detection/differential.test.ts) as the
# independent evaluator our Sigma semantics are compared against. Idempotent; concurrent callers
# wait on a lock instead of racing the install.
set -euo pipefail
PYSIGMA_VERSION="${PYSIGMA_VERSION:-2.0.1}"
SQLITE_VERSION="${PYSIGMA_SQLITE_VERSION:-2.1.1}"
VENV="${FABRIC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reactive-fabric}/pysigma-${PYSIGMA_VERSION}-sqlite-${SQLITE_VERSION}"
mkdir -p "$(dirname "$VENV")"
exec 9>"$(dirname "$VENV")/.pysigma-${PYSIGMA_VERSION}-sqlite-${SQLITE_VERSION}.lock"
flock 9
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sigma.backends.sqlite' 2>/dev/null; then echo "$VENV/bin/python"; exit 0; fi
PY="$(command -v python3 || true)"
if [ -z "$PY" ]; then echo "ensure-pysigma: python3 is required (apt-get install python3 python3-venv)" >&2; exit 1; fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q python3-venv >&2
  else
    echo "ensure-pysigma: python3 has no venv/ensurepip module: install python3-venv" >&2; exit 1
  fi
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "pysigma==${PYSIGMA_VERSION}" "pysigma-backend-sqlite==${SQLITE_VERSION}" >&2
"$VENV/bin/python" -c 'import sigma.backends.sqlite' >&2
echo "$VENV/bin/python"
