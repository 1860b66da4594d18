#!/usr/bin/env bash
# The `hallmark` command on the virtual YubiKey, through pcscd and vpcd: `hallmark sign` of N
# small files in one run (PIN once, verified when the key is opened; touch never, since nobody
# touches a benchmark), the same run with one file (the fixed cost: process, device open, PIN,
# attestation read, one signature), and the device-open cost alone (`hallmark key show
# yubikey:…`, which finds the YubiKey, selects PIV and reads the slot, against `hallmark key
# show ed25519:…`, which touches no device). Each is a whole process, timed with hyperfine.
#
# Usage: bash bench/yubikey-cli.sh [N]     (default 1000; HALLMARK=path to the binary, default
# the release build; VIRTUAL_YUBIKEY=path to the card emulator, default the release build)
# Needs the packages scripts/test.sh installs, hyperfine and python3, and an empty vpcd reader
# "Virtual PCD 00 00" (no YubiKey test running at the same time).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
[ "$n" -ge 2 ] || { echo "N must be at least 2" >&2; exit 2; }
for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install hyperfine python3)" >&2; exit 1; }
done
bash scripts/pcscd-vpcd.sh
target="${CARGO_TARGET_DIR:-$PWD/target}"
# Built from this checkout unless given (a shared target directory may hold another's build).
if [ -z "${HALLMARK:-}" ]; then
  cargo build --release --locked --quiet -p hallmark-signer --bin hallmark
fi
if [ -z "${VIRTUAL_YUBIKEY:-}" ]; then
  cargo build --release --locked --quiet -p virtual-yubikey
fi
hallmark="${HALLMARK:-$target/release/hallmark}"
card="${VIRTUAL_YUBIKEY:-$target/release/virtual-yubikey}"

work="$(mktemp -d -t hallmark-ykcli-XXXXXX)"
card_pid=""
cleanup() {
  [ -z "$card_pid" ] || kill "$card_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$card" --serial 12345678 > "$work/card.log" 2>&1 &
card_pid=$!
for _ in $(seq 1 100); do grep -q "is in reader" "$work/card.log" && break; sleep 0.1; done
grep -q "is in reader" "$work/card.log" || { cat "$work/card.log" >&2; exit 1; }

cd "$work"
printf '123456\n' > pin
key="yubikey:serial=12345678;slot=9c?pin-source=file:$work/pin"
"$hallmark" --json key generate --out "$key" --touch-policy never > gen.json 2>/dev/null
public=$(python3 -c "import json; print(json.load(open('gen.json'))['publicKey'])")
mkdir art one
for i in $(seq 1 "$n"); do head -c 1024 /dev/urandom > "art/a$i.bin"; done
head -c 1024 /dev/urandom > one/a.bin
files=$(cd art && ls | sed 's|^|art/|' | tr '\n' ' ')

hyperfine -N --warmup 1 --runs 5 --export-json batch.json \
  --prepare "sh -c 'rm -f $work/art/*.hallmark.json'" \
  "$hallmark sign --key $key --name org.bench.tool --version 1.0.0 $files" >/dev/null 2>&1
[ "$(ls art/*.hallmark.json | wc -l)" -eq "$n" ] || { echo "hallmark did not write $n bundles" >&2; exit 1; }
grep -q yubikey-piv art/a1.bin.hallmark.json || { echo "bundles carry no attestation" >&2; exit 1; }
hyperfine -N --warmup 3 --runs 30 --export-json single.json \
  --prepare "rm -f $work/one/a.bin.hallmark.json" \
  "$hallmark sign --key $key --name org.bench.tool --version 1.0.0 one/a.bin" >/dev/null 2>&1
hyperfine -N --warmup 3 --runs 50 --export-json open.json \
  "$hallmark key show yubikey:serial=12345678;slot=9c" \
  "$hallmark key show $public" >/dev/null 2>&1

python3 - "$n" <<'PY'
import json, sys
n = int(sys.argv[1])
med = lambda f, i=0: json.load(open(f))["results"][i]["median"]
batch, single = med("batch.json"), med("single.json")
show_yk, show_plain = med("open.json", 0), med("open.json", 1)
per_sig = (batch - single) / (n - 1)
print(f"hallmark on the virtual YubiKey (pcscd + vpcd), {n} files of 1 KiB, PIN once, touch never")
print(f"  sign {n:5} files (one run)     {batch*1000:9.1f} ms   {n/batch:7.0f} signatures/s")
print(f"  sign     1 file                {single*1000:9.1f} ms   (process, open, PIN, attestation, 1 signature)")
print(f"  each further signature         {per_sig*1000:9.3f} ms   (hash, sign on the card, check, write)")
print(f"  key show yubikey:… (open)      {show_yk*1000:9.1f} ms")
print(f"  key show ed25519:… (no device) {show_plain*1000:9.1f} ms")
print(f"  device open cost               {(show_yk-show_plain)*1000:9.1f} ms")
PY
