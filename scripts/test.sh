#!/usr/bin/env bash
# The project's one test command: the Rust tests (`cargo test`, arguments passed on),
# then the Python package's (python/test.sh: built into its own virtual environment,
# tested with pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test "$@"
python/test.sh
