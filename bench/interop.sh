#!/usr/bin/env bash
# One small file, signed and verified by Hallmark and by the peer tools, timed with hyperfine:
#
#   minisign -S            vs  hallmark sign --format minisign   (file key; SoftHSM2 key)
#   minisign -V            vs  hallmark verify --format minisign
#   ssh-keygen -Y sign     vs  hallmark sign --format ssh        (file key; SoftHSM2 key)
#   ssh-keygen -Y verify   vs  hallmark verify --format ssh --allowed-signers
#
# and prints the wall-time ratio hallmark / peer for each pair (below 1: Hallmark is faster).
# Each run is a whole process: start-up, key unlock or token login, hashing, signing, writing.
# The peers' keys have no passphrase (minisign -W, ssh-keygen -N ''); a Hallmark file key is
# always encrypted, here with age's scrypt at the lowest work factor Hallmark allows (2^10), so
# its unlock cost is included. Part of the issue-2 comparison (bench/compare.sh).
#
# Usage: bash bench/interop.sh [SIZE_BYTES]     (default 1024)
# Needs: hyperfine, minisign, openssh-client, softhsm2 and a built `hallmark`
# (HALLMARK=path, default target/release/hallmark; `cargo build --release -p hallmark-signer`).
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-1024}"
hallmark="${HALLMARK:-$PWD/target/release/hallmark}"
module="${HALLMARK_BENCH_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
for tool in hyperfine minisign ssh-keygen softhsm2-util; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run bash scripts/test.sh (and apt-get install hyperfine)" >&2; exit 1; }
done
[ -x "$hallmark" ] || { echo "$hallmark is missing: cargo build --release -p hallmark-signer" >&2; exit 1; }
[ -f "$module" ] || { echo "$module is missing: run bash scripts/test.sh" >&2; exit 1; }

work="$(mktemp -d -t hallmark-interop-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
head -c "$size" /dev/urandom > file

# Keys.
printf 'bench passphrase\n' > pw
"$hallmark" -q key generate --out file:hm.key --passphrase-file pw --work-factor 10 >/dev/null
minisign -G -W -p ms.pub -s ms.key >/dev/null
ssh-keygen -q -t ed25519 -N '' -C bench -f ssh.key
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" > softhsm2.conf
export SOFTHSM2_CONF="$work/softhsm2.conf"
softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 123456 >/dev/null
printf '123456\n' > pin
p11="pkcs11:token=bench;object=bench?module-path=$module&pin-source=file:$work/pin"
"$hallmark" -q key generate --out "$p11" >/dev/null

# Signatures and keys the verifiers read.
"$hallmark" key show file:hm.key --format minisign > hm.minisign.pub
echo "bench@example.org $("$hallmark" key show file:hm.key --format ssh)" > hm.allowed
echo "bench@example.org $(cat ssh.key.pub)" > ssh.allowed
cp file hm-file && "$hallmark" -q sign --format minisign --key file:hm.key --passphrase-file pw hm-file >/dev/null
"$hallmark" -q sign --format ssh -n file --key file:hm.key --passphrase-file pw hm-file >/dev/null
cp file peer-file && minisign -S -s ms.key -m peer-file >/dev/null
ssh-keygen -q -Y sign -n file -f ssh.key peer-file 2>/dev/null

run() { # name, then hyperfine arguments
  # Through hyperfine's shell (its start-up is measured and subtracted), so that ssh-keygen
  # -Y verify can read the file on standard input.
  local name="$1"; shift
  hyperfine --warmup 5 --min-runs 30 --export-csv "$work/$name.csv" "$@" >&2
}

run minisign-sign --prepare 'rm -f file.minisig' \
  -n minisign "minisign -S -s ms.key -m file" \
  -n hallmark-file "$hallmark -q sign --format minisign --key file:hm.key --passphrase-file pw file" \
  -n hallmark-softhsm "$hallmark -q sign --format minisign --key '$p11' file"
run minisign-verify \
  -n minisign "minisign -Vq -p ms.pub -m peer-file" \
  -n hallmark "$hallmark -q verify --format minisign --public-key hm.minisign.pub hm-file"
run ssh-sign --prepare 'rm -f file.sig' \
  -n ssh-keygen "ssh-keygen -q -Y sign -n file -f ssh.key file" \
  -n hallmark-file "$hallmark -q sign --format ssh -n file --key file:hm.key --passphrase-file pw file" \
  -n hallmark-softhsm "$hallmark -q sign --format ssh -n file --key '$p11' file"
run ssh-verify \
  -n ssh-keygen "ssh-keygen -Y verify -f ssh.allowed -I bench@example.org -n file -s peer-file.sig < peer-file" \
  -n hallmark "$hallmark -q verify --format ssh -n file --allowed-signers hm.allowed hm-file"

echo
echo "file size: $size bytes; mean wall time per process; ratio = hallmark / peer"
for name in minisign-sign minisign-verify ssh-sign ssh-verify; do
  awk -F, -v name="$name" '
    NR == 2 { peer = $2; printf "%-16s %-18s %8.2f ms\n", name, $1, $2 * 1000 }
    NR > 2  { printf "%-16s %-18s %8.2f ms   ratio %.2f\n", name, $1, $2 * 1000, $2 / peer }
  ' "$work/$name.csv"
done
