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
repo="$PWD"
n="${1:-1000}"
module="${HALLMARK_BENCH_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
for tool in softhsm2-util pkcs11-tool; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run bash scripts/test.sh" >&2; exit 1; }
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

mkdir -p "$work/plain" "$work/aside" && cp "$work"/art/*.bin "$work/plain/"
# Rounds take each measurement in turn (hallmark with its default sessions, hallmark on one
# session, the raw loop), so the machine's drift falls on all three alike. Between runs the
# bundles are moved aside, not deleted: ext4 without a journal passes over inodes freed in the
# last minutes when it allocates new ones, which would make every run after the first pay for
# the previous run's deletions (a cost of the benchmark loop, not of signing).
medians=$(python3 - "$work" "$hallmark" "$loop" "$module" "$uri" <<'PY'
import os, statistics, subprocess, sys, tempfile, time
work, hallmark, loop, module, uri = sys.argv[1:]
art = os.path.join(work, "art")
names = sorted(f for f in os.listdir(art) if f.endswith(".bin"))
argv = [hallmark, "sign", "--key", uri, "--name", "org.bench.tool", "--version", "1.0.0", *names]
def sign(sessions):
    aside = tempfile.mkdtemp(dir=os.path.join(work, "aside"))
    for f in os.listdir(art):
        if f.endswith(".hallmark.json"):
            os.rename(os.path.join(art, f), os.path.join(aside, f))
    env = dict(os.environ)
    if sessions:
        env["HALLMARK_PKCS11_SESSIONS"] = sessions
    start = time.perf_counter()
    subprocess.run(argv, cwd=art, env=env, stdout=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - start
    bundles = sum(f.endswith(".hallmark.json") for f in os.listdir(art))
    if bundles != len(names):
        sys.exit(f"hallmark wrote {bundles} bundles, not {len(names)}")
    return elapsed
def raw():
    out = subprocess.run([loop, module, "bench", "release", os.path.join(work, "plain")],
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[0])
sign(None), sign("1"), raw()  # warm-up
runs = [(sign(None), sign("1"), raw()) for _ in range(7)]
print(*(statistics.median(r[i] for r in runs) for i in range(3)))
PY
)
read -r hm one limit <<<"$medians"
cd "$repo"
tool=$(bash bench/pkcs11-tool-loop.sh "$n" | sed -E 's/.* in ([0-9.]+) s .*/\1/')

python3 - "$n" "$hm" "$one" "$limit" "$tool" <<'PY'
import sys
n, hm, one, limit, tool = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"{n} artifacts on SoftHSM2")
print(f"  hallmark sign (one run)         {hm*1000:9.1f} ms   {n/hm:8.0f} signatures/s")
print(f"  the same on one session         {one*1000:9.1f} ms   {n/one:8.0f} signatures/s")
print(f"  raw C_Sign + SHA-256 (limit)    {limit*1000:9.1f} ms   {n/limit:8.0f} signatures/s")
print(f"  pkcs11-tool loop                {tool*1000:9.1f} ms   {n/tool:8.0f} signatures/s")
print(f"  hallmark vs pkcs11-tool loop:   {tool/hm:6.1f}x faster (target >= 25x)")
print(f"  hallmark vs limit:              {hm/limit:6.2f}x the limit's time (target <= 1.3x)")
PY
