#!/usr/bin/env bash
# Install LocalStack (S3 only) into .cache/localstack-venv, in its own Python 3.13 venv.
# Idempotent: a stamp file recording the requirements makes a second run a fast no-op.
# Usage: bash tools/install-localstack.sh   (or: make localstack)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.cache/localstack-venv
# pyopenssl 26 dropped X509.add_extensions, which LocalStack 2026.3.0 calls at start-up.
REQS=('localstack-core[runtime]==2026.3.0' 'cbor2<6' 'service-identity' 'pyopenssl<26')
STAMP="$VENV/.installed"
WANT="${REQS[*]}"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; then
    exit 0
fi

echo "install-localstack: creating $VENV (about 1 minute, 500 MB)" >&2
rm -rf "$VENV"
mkdir -p .cache
# pyenv's shim only exposes python3.13 with PYENV_VERSION set; else any python3.13 on PATH.
if PYENV_VERSION=3.13.0 python3.13 -V >/dev/null 2>&1; then
    PYENV_VERSION=3.13.0 python3.13 -m venv "$VENV"
elif python3.13 -V >/dev/null 2>&1; then
    python3.13 -m venv "$VENV"
else
    echo "install-localstack: Python 3.13 not found (pyenv 3.13.0 or python3.13 on PATH)" >&2
    exit 1
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "${REQS[@]}"
"$VENV/bin/python" -c 'import localstack.runtime.main' # fail now, not at first test
echo "$WANT" >"$STAMP"
echo "install-localstack: done" >&2
