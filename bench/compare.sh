#!/usr/bin/env bash
# Every comparison in one run, on a release build: Hallmark against peer tools and against the
# hardware limits. Each part is also runnable on its own.
#
#   1. bench/compare-hash.sh   hallmark hash vs find|sort|xargs -P2 openssl dgst, and the SHA-256
#                              limit (20,000-file tree; 1 GiB tree of 20 files)
#   2. bench/small-file.sh     one small file, Hallmark bundle vs minisign and ssh-keygen -Y;
#      bench/interop.sh        and in the peers' own formats, from file and SoftHSM2 keys
#   3. bench/pkcs11-sign.sh    1,000 artifacts on SoftHSM2 vs a pkcs11-tool loop and raw C_Sign
#   4. bench/trust.sh          verify --keyring of 10,000 artifacts; registry accept of 10,000
#   5. bench/kel.sh            key event log verification per core
#   6. bench/yubikey.sh        signatures per second through the virtual YubiKey; device opening
#   7. bench/attestation.sh    YubiKey attestation chain verification
#
# Usage: bash bench/compare.sh [PART...]   (e.g. `bash bench/compare.sh 1 2`; default: all)
# Needs: the packages scripts/test.sh installs, plus hyperfine (apt-get install hyperfine).
# Files stay in page cache; run on a quiet machine: every figure is wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }

echo "==> building (release)"
cargo build --release --locked --quiet -p hallmark-signer --bin hallmark
export HALLMARK="$PWD/target/release/hallmark"

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(1 2 3 4 5 6 7)
for part in "${parts[@]}"; do
  case "$part" in
    1) script=compare-hash.sh ;;
    2) bash bench/small-file.sh; script=interop.sh ;;
    3) script=pkcs11-sign.sh ;;
    4) script=trust.sh ;;
    5) script=kel.sh ;;
    6) script=yubikey.sh ;;
    7) script=attestation.sh ;;
    *) echo "unknown part $part (1-7)" >&2; exit 2 ;;
  esac
  printf '\n==> %s\n' "$script"
  bash "bench/$script"
done
