#!/usr/bin/env bash
# YubiKey adapter benchmarks through pcscd, vpcd and the virtual YubiKey: signatures per second
# (adapter and bare `yubikey` crate), batches, and the cost of opening the device.
# Needs the packages scripts/test.sh installs. Usage: bash bench/yubikey.sh [criterion args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/pcscd-vpcd.sh
exec cargo bench -p hallmark-tests --bench yubikey -- "$@"
