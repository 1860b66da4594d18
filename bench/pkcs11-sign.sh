#!/usr/bin/env bash
# Batch signing on a PKCS#11 token (SoftHSM2): N small artifacts signed by one `hallmark sign`
# run, against the same N signatures made by a loop of `pkcs11-tool --sign --mechanism EDDSA`
# (OpenSC; one process, module load and login per signature), and against the limit: SHA-256 of
# each file plus one raw C_Sign per file on one logged-in session (examples/c_sign_loop.rs).
#
# Usage: bash bench/pkcs11-sign.sh [N]    (default 1000)
# Targets: >= 25x faster than the pkcs11-tool loop; within 1.3x of raw C_Sign plus hashing.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
module="${HALLMARK_BENCH_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
for tool in softhsm2-util pkcs11-tool hyperfine; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run bash scripts/test.sh (hyperfine: apt-get install hyperfine)" >&2; exit 1; }
done

cargo build --release --quiet -p hallmark-signer --bin hallmark
cargo build --release --quiet -p hallmark-hsm --example c_sign_loop
hallmark="$PWD/target/release/hallmark"
loop="$PWD/target/release/examples/c_sign_loop"

work="$(mktemp -d -t hallmark-p11sign-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tokens" "$work/art"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" > "$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf" BENCH_PIN=123456
printf '%s\n' "$BENCH_PIN" > "$work/pin"
softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin "$BENCH_PIN" >/dev/null
uri="pkcs11:token=bench;object=release?module-path=$module&pin-source=file:$work/pin"
"$hallmark" key generate --out "$uri" >/dev/null 2>&1
for i in $(seq 1 "$n"); do head -c 1024 /dev/urandom > "$work/art/a$i.bin"; done
cat "$work"/art/* > /dev/null   # page cache

cd "$work/art"
# Between runs the bundles are moved aside, not deleted: ext4 passes over inodes freed in the
# last minute when it allocates new ones, which made every run after the first pay for the
# previous run's deletions (a cost of the benchmark loop, not of signing).
mkdir -p "$work/aside"
hyperfine -N --warmup 1 --runs 5 \
  --prepare "sh -c 'd=\$(mktemp -d -p $work/aside) && mv $work/art/*.hallmark.json \$d/ 2>/dev/null; true'" \
  --export-json "$work/hallmark.json" \
  "$hallmark sign --key '$uri' --name org.bench.tool --version 1.0.0 $(ls | tr '\n' ' ')" >/dev/null
hm=$(python3 -c "import json;print(json.load(open('$work/hallmark.json'))['results'][0]['median'])")
ls "$work"/art/*.hallmark.json | wc -l | grep -qx "$n" || { echo "hallmark did not write $n bundles" >&2; exit 1; }
mkdir -p "$work/plain" && cp "$work"/art/*.bin "$work/plain/"
limit=$(for _ in 1 2 3; do "$loop" "$module" bench release "$work/plain" | cut -d' ' -f1; done | sort -n | sed -n 2p)
cd - >/dev/null
tool=$(bash bench/pkcs11-tool-loop.sh "$n" | sed -E 's/.* in ([0-9.]+) s .*/\1/')

python3 - "$n" "$hm" "$limit" "$tool" <<'PY'
import sys
n, hm, limit, tool = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"{n} artifacts on SoftHSM2")
print(f"  hallmark sign (one run)         {hm*1000:9.1f} ms   {n/hm:8.0f} signatures/s")
print(f"  raw C_Sign + SHA-256 (limit)    {limit*1000:9.1f} ms   {n/limit:8.0f} signatures/s")
print(f"  pkcs11-tool loop                {tool*1000:9.1f} ms   {n/tool:8.0f} signatures/s")
print(f"  hallmark vs pkcs11-tool loop:   {tool/hm:6.1f}x faster (target >= 25x)")
print(f"  hallmark vs limit:              {hm/limit:6.2f}x the limit's time (target <= 1.3x)")
PY
