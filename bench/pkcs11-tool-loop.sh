#!/usr/bin/env bash
# Baseline for batch signing on a PKCS#11 token: N Ed25519 signatures made by N separate
# `pkcs11-tool --sign --mechanism EDDSA` invocations (OpenSC), each loading the module, opening a
# session and logging in, on a throwaway SoftHSM2 token. Compare with Hallmark's batch signing
# (`cargo bench -p hallmark-hsm --bench pkcs11_sign`, and later `hallmark sign` on the same N).
#
# Usage: bash bench/pkcs11-tool-loop.sh [N]      (default N = 1000)
# Needs: softhsm2 and opensc (`bash scripts/test.sh` installs both). Touches only a temporary
# directory; the PIN is passed to pkcs11-tool through an environment variable, not argv.
set -euo pipefail

n="${1:-1000}"
module="${HALLMARK_BENCH_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
for tool in softhsm2-util pkcs11-tool; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run bash scripts/test.sh" >&2; exit 1; }
done
[ -f "$module" ] || { echo "$module is missing: run bash scripts/test.sh" >&2; exit 1; }

work="$(mktemp -d -t hallmark-p11tool-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tokens" "$work/msg" "$work/sig"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" \
  > "$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
export BENCH_PIN=123456

softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin "$BENCH_PIN" >/dev/null
pkcs11-tool --module "$module" --token-label bench --login --pin env:BENCH_PIN \
  --keypairgen --key-type EC:edwards25519 --id 01 --label bench >/dev/null 2>&1

# 64-byte messages: the size of a domain-separated statement digest.
for i in $(seq 1 "$n"); do head -c 64 /dev/urandom > "$work/msg/$i"; done

start=$(date +%s.%N)
for i in $(seq 1 "$n"); do
  pkcs11-tool --module "$module" --token-label bench --login --pin env:BENCH_PIN \
    --sign --mechanism EDDSA --id 01 -i "$work/msg/$i" -o "$work/sig/$i" >/dev/null 2>&1
done
end=$(date +%s.%N)

bad=0
for i in $(seq 1 "$n"); do
  [ "$(stat -c %s "$work/sig/$i")" -eq 64 ] || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] || { echo "$bad signatures are not 64 bytes" >&2; exit 1; }

awk -v n="$n" -v s="$start" -v e="$end" 'BEGIN {
  t = e - s
  printf "pkcs11-tool loop: %d Ed25519 signatures in %.2f s (%.2f ms each, %.0f signatures/s)\n", n, t, 1000 * t / n, n / t
}'
