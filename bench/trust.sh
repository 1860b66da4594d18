#!/usr/bin/env bash
# Gatekeeper and registry throughput: `hallmark verify --keyring` of N small signed artifacts in
# one run, and `hallmark registry accept` of N publishes in one run (durable: one fsync of the
# log per run, every bundle replaced atomically), against the raw `verify_strict` rate.
#
# Usage: bash bench/trust.sh [N]          (N defaults to 10000)
# Needs only cargo and coreutils. Work happens in a temporary directory, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"

cargo build --release --quiet -p hallmark-signer --bin hallmark
cargo build --release --quiet -p hallmark-keyring --example bench_fixture
HALLMARK="$PWD/target/release/hallmark"
FIXTURE="$PWD/target/release/examples/bench_fixture"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
printf 'bench passphrase\n' > pw

echo "== machine: $(nproc) cores, $(uname -sr)"
"$FIXTURE" --raw-verify 200000

"$FIXTURE" "$WORK" "$N" > /dev/null
"$HALLMARK" keyring pin org.example --identity org.example.kel --keyring trust > /dev/null
# Artifacts and bundles in the page cache, as in a CI job that just downloaded them.
cat artifacts/* > /dev/null

rate() { # count, start ns, end ns
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { s = (b - a) / 1e9; printf "%d in %.3f s = %.0f/s\n", n, s, n / s }'
}

echo "== hallmark verify --keyring (no audit record) of $N artifacts"
start=$(date +%s%N)
"$HALLMARK" --quiet verify --no-record --keyring trust artifacts/*.bin > verdicts.txt
end=$(date +%s%N)
test "$(grep -c ': trusted: ' verdicts.txt)" -eq "$N"
rate "$N" "$start" "$end"

echo "== hallmark verify --keyring (every verdict recorded in the audit log) of $N artifacts"
start=$(date +%s%N)
"$HALLMARK" --quiet verify --keyring trust artifacts/*.bin > verdicts.txt
end=$(date +%s%N)
test "$(grep -c ': trusted: ' verdicts.txt)" -eq "$N"
rate "$N" "$start" "$end"
"$HALLMARK" keyring log --verify --keyring trust

echo "== one hallmark verify --keyring: audit log of 10 entries vs 100,000 entries"
# A CI gate's store grows by one entry per verdict; one decision must not slow down with it.
for store in small/trust large-trust; do
  "$HALLMARK" keyring pin org.example --identity org.example.kel --keyring "$store" > /dev/null
done
# Shell globs, not `ls | head`: with pipefail, head closing the pipe early would fail the script.
all=(artifacts/*.bin)
"$HALLMARK" --quiet verify --keyring small/trust "${all[@]:0:9}" > /dev/null
while [ "$(wc -l < large-trust/audit.log)" -lt 100000 ]; do
  "$HALLMARK" --quiet verify --keyring large-trust artifacts/*.bin > /dev/null
done
echo "audit entries: $(wc -l < small/trust/audit.log) and $(wc -l < large-trust/audit.log)" \
  "($(du -h large-trust/audit.log | cut -f1))"
# The same release index in both (every version of the fixture's one package recorded), so that
# the two differ only in the audit log's length; a verification never reads past its last entry.
rm -rf small/trust/releases
cp -a large-trust/releases small/trust/releases
one="${all[0]}"
if command -v hyperfine > /dev/null; then
  hyperfine -N --warmup 3 --runs 30 \
    "$HALLMARK --quiet verify --keyring small/trust $one" \
    "$HALLMARK --quiet verify --keyring large-trust $one"
else
  for store in small/trust large-trust; do
    start=$(date +%s%N)
    for _ in $(seq 30); do "$HALLMARK" --quiet verify --keyring "$store" "$one" > /dev/null; done
    end=$(date +%s%N)
    awk -v a="$start" -v b="$end" -v s="$store" 'BEGIN { printf "%s: %.1f ms per verify\n", s, (b - a) / 30e6 }'
  done
fi
"$HALLMARK" keyring log --verify --keyring large-trust

echo "== hallmark registry accept of $N publishes (one run)"
"$HALLMARK" key generate --out file:reg.key --passphrase-file pw --work-factor 10 > /dev/null
"$HALLMARK" key generate --out file:reg-next.key --passphrase-file pw --work-factor 10 > /dev/null
"$HALLMARK" registry init --registry reg --key file:reg.key --next-key file:reg-next.key \
  --passphrase-file pw > /dev/null
start=$(date +%s%N)
"$HALLMARK" registry accept --registry reg --passphrase-file pw artifacts/*.bin > accepted.txt
end=$(date +%s%N)
test "$(grep -c ': accepted ' accepted.txt)" -eq "$N"
rate "$N" "$start" "$end"
"$HALLMARK" registry verify-log --registry reg

echo "== hallmark verify --keyring with receipts required, of $N artifacts"
"$HALLMARK" keyring pin-registry main --identity reg/registry.kel --keyring trust > /dev/null
"$HALLMARK" keyring pin org.example --identity org.example.kel --require-receipt main \
  --keyring trust > /dev/null
start=$(date +%s%N)
"$HALLMARK" --quiet verify --no-record --keyring trust artifacts/*.bin > verdicts.txt
end=$(date +%s%N)
test "$(grep -c ': trusted: ' verdicts.txt)" -eq "$N"
rate "$N" "$start" "$end"
