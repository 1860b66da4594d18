#!/usr/bin/env bash
# Key event log verification: criterion's wall-clock figures, then CPU time per event (robust
# to other load on the machine), single-threaded for the per-core figure and with every core.
# Usage: bash bench/kel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p hallmark-keyring --bench kel
echo "== CPU time, one thread"
RAYON_NUM_THREADS=1 cargo run --release -q -p hallmark-keyring --example kel_cpu
echo "== CPU time, all cores"
cargo run --release -q -p hallmark-keyring --example kel_cpu
