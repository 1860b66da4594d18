#!/usr/bin/env bash
# One small file, Hallmark's own format against the peers: `hallmark sign` / `hallmark verify
# --public-key` and `hallmark-verify` (bundle beside the file) vs `minisign -S` / `minisign -V`
# and `ssh-keygen -Y sign` / `ssh-keygen -Y verify`, each a whole process. Prints the ratios.
# Target: a single verify within 1.25x of `minisign -V`.
#
# The peers' secret keys have no passphrase; Hallmark's file key is always encrypted, here at
# the lowest scrypt work factor Hallmark allows (2^10), so signing includes an unlock.
# Usage: bash bench/small-file.sh [SIZE_BYTES]   (HALLMARK=path to the binary, default release)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
size="${1:-1024}"
hallmark="${HALLMARK:-$PWD/target/release/hallmark}"
lean="$(dirname "$hallmark")/hallmark-verify"
[ -x "$hallmark" ] && [ -x "$lean" ] || cargo build --release --locked --quiet -p hallmark-signer --bins
for tool in minisign ssh-keygen hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (bash scripts/test.sh installs minisign and ssh; apt-get install hyperfine)" >&2; exit 1; }
done
work="$(mktemp -d -t hallmark-small-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
head -c "$size" /dev/urandom > f
echo "bench passphrase" > pw
"$hallmark" key generate --out file:k --passphrase-file pw --work-factor 10 >/dev/null 2>&1
minisign -G -W -p m.pub -s m.key >/dev/null
ssh-keygen -q -t ed25519 -N '' -f sk
echo "bench $(cat sk.pub)" > allowed

hyperfine -N --warmup 10 --runs 100 --export-json sign.json \
  --prepare "rm -f f.hallmark.json f.minisig f.sig" \
  "$hallmark sign --key file:k --passphrase-file pw --name org.bench.file --version 1 f" \
  "minisign -S -s m.key -m f" \
  "ssh-keygen -Y sign -f sk -n file f" >/dev/null 2>&1
"$hallmark" sign --key file:k --passphrase-file pw --name org.bench.file --version 1 --force f >/dev/null
minisign -S -s m.key -m f >/dev/null 2>&1 || true
rm -f f.sig; ssh-keygen -Y sign -f sk -n file f >/dev/null 2>&1
# Hallmark and minisign verify as processes of their own, taken in turn (bench/interleave.py:
# one run of each per round, so that the machine's drift falls on both alike); ssh-keygen -Y
# verify reads the message on standard input, so it goes through hyperfine's shell, whose
# start-up hyperfine measures and subtracts.
python3 "$root/bench/interleave.py" 1000 30 verify.json \
  "$hallmark verify --public-key k.pub f" \
  "$lean --public-key k.pub f" \
  "minisign -V -q -p m.pub -m f"
hyperfine --warmup 20 --runs 300 --export-json verify-ssh.json \
  "ssh-keygen -Y verify -f allowed -I bench -n file -s f.sig < f" >/dev/null 2>&1
python3 "$root/bench/interleave.py" 1000 30 startup.json "$hallmark --version" "minisign -v"

python3 - <<'PY'
import json
def medians(name):
    return [x["median"] * 1000 for x in json.load(open(name))["results"]]
hm, ms, ssh = medians("sign.json")
print(f"sign    hallmark {hm:6.2f} ms   minisign {ms:6.2f} ms ({hm/ms:4.2f}x)   ssh-keygen {ssh:6.2f} ms ({hm/ssh:4.2f}x)")
(hm, lean, ms), (ssh,) = medians("verify.json"), medians("verify-ssh.json")
print(f"verify  hallmark {hm:6.2f} ms   minisign {ms:6.2f} ms ({hm/ms:4.2f}x)   ssh-keygen {ssh:6.2f} ms ({hm/ssh:4.2f}x)")
print(f"        hallmark-verify {lean:6.2f} ms   minisign {ms:6.2f} ms ({lean/ms:4.2f}x)   ssh-keygen {ssh:6.2f} ms ({lean/ssh:4.2f}x)")
hv, mv = medians("startup.json")
print(f"start   hallmark --version {hv:6.2f} ms   minisign -v {mv:6.2f} ms (process start-up alone)")
print("target: a small-file verify within 1.25x of minisign -V")
PY
