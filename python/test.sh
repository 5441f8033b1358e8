#!/usr/bin/env bash
# Build the Python package into a virtual environment of its own (target/python-venv)
# and run its tests with pytest. Needs Python 3.9+ with venv and the package registry
# (maturin, pytest, aiohttp, and the database drivers the tests read tables back with).
# Arguments go to pytest: python/test.sh -k sqlite -x
set -euo pipefail
cd "$(dirname "$0")"
venv="${ROWFLOW_PY_VENV:-$PWD/../target/python-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  'maturin>=1.7,<2' 'pytest>=7' 'psycopg[binary]>=3.1' 'pymysql>=1.1' 'aiohttp>=3.8'
# The project's mock HTTP API, which the async-stage tests call with aiohttp.
cargo build --quiet -p rowflow --example mock_api
export ROWFLOW_MOCK_API="${ROWFLOW_MOCK_API:-$PWD/../target/debug/examples/mock_api}"
# A debug build: it shares the compiled rowflow library with `cargo test`.
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --quiet
exec "$venv/bin/python" -m pytest -q "$@"
