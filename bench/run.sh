#!/usr/bin/env bash
# Build in release mode and run the end-to-end benchmark (see bench.py).
# ROWS=10000000 REPEAT=1 bench/run.sh for the 10M-row memory check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin rowflow --example expr_throughput
python3 bench/bench.py
