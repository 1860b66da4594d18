#!/usr/bin/env bash
# Cost of verifying a YubiKey attestation chain, next to the cost of the RSA 2048 signature
# checks it is made of (OpenSSL's figure, as a floor). Usage: bash bench/attestation.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> hallmark: verify one chain (criterion)"
cargo bench -p hallmark-hsm --bench attestation -- --noplot 2>&1 | grep -E '^(attestation|trust)|time:'

if command -v openssl >/dev/null; then
  echo
  echo "==> openssl: RSA 2048 verifications per second (a 5.2.7 chain needs 2, a 5.7.4 chain 4)"
  openssl speed -seconds 2 rsa2048 2>/dev/null | grep -E '^(rsa 2048|sign)'
fi
