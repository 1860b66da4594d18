#!/usr/bin/env bash
# The registry with its transparency log, release builds:
#   1. `hallmark registry accept` of N publishes in one run (durable: one fsync of log.jsonl,
#      one SQLite commit, one batch of tiles, one checkpoint);
#   2. one `registry accept` of a new publish against registries whose logs hold 1,000, 10,000
#      and 100,000 entries: opening reads the state database, not the log, so the time is flat;
#   3. `hallmark keyring refresh` over 1,000 new entries, from the registry's directory.
# Needs hyperfine. Usage: bench/registry.sh [N] (default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
command -v hyperfine > /dev/null || { echo "install hyperfine (apt-get install hyperfine)" >&2; exit 1; }

cargo build --release --quiet -p hallmark-signer --bin hallmark
cargo build --release --quiet -p hallmark-keyring --example bench_fixture
HALLMARK="$PWD/target/release/hallmark"
FIXTURE="$PWD/target/release/examples/bench_fixture"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
printf 'bench passphrase\n' > pw
echo "== machine: $(nproc) cores, $(uname -sr)"

rate() { # count, start ns, end ns
  awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { s = (b - a) / 1e9; printf "%d in %.3f s = %.0f/s\n", n, s, n / s }'
}
new_registry() { # dir
  "$HALLMARK" registry init --registry "$1" --key file:reg.key --next-key file:reg-next.key \
    --passphrase-file pw > /dev/null
}
"$HALLMARK" key generate --out file:reg.key --passphrase-file pw --work-factor 10 > /dev/null
"$HALLMARK" key generate --out file:reg-next.key --passphrase-file pw --work-factor 10 > /dev/null
"$FIXTURE" "$WORK" 102000 > /dev/null
ls artifacts/*.bin > all.txt

echo "== hallmark registry accept of $N publishes (one run)"
new_registry reg
head -n "$N" all.txt > batch.txt
start=$(date +%s%N)
xargs -a batch.txt "$HALLMARK" registry accept --registry reg --passphrase-file pw > accepted.txt
end=$(date +%s%N)
test "$(grep -c ': accepted ' accepted.txt)" -eq "$N"
rate "$N" "$start" "$end"

echo "== one registry accept of a new publish against logs of 1,000, 10,000 and 100,000 entries"
# Entries 100000.. are kept for the measured runs; each run publishes the next one.
tail -n 2000 all.txt > fresh.txt
commands=()
for size in 1000 10000 100000; do
  new_registry "reg$size"
  head -n "$size" all.txt | xargs -n 10000 "$HALLMARK" --quiet registry accept \
    --registry "reg$size" --passphrase-file pw > /dev/null
  echo "reg$size: $(wc -l < "reg$size/log.jsonl") log entries, state.db $(du -h "reg$size/state.db" | cut -f1), tiles $(du -sh "reg$size/tile" | cut -f1)"
  echo 0 > "next$size"
  commands+=("i=\$(cat next$size); echo \$((i + 1)) > next$size; $HALLMARK --quiet registry accept --registry reg$size --passphrase-file pw \$(sed -n \"\$((i + 1 + $size / 1000 * 10))p\" fresh.txt)")
done
hyperfine --warmup 2 --runs 20 "${commands[@]}"

echo "== hallmark keyring refresh over 1,000 new entries (directory)"
"$HALLMARK" keyring pin-registry main --identity reg/registry.kel --keyring trust0 \
  --location reg > /dev/null
"$HALLMARK" keyring pin org.example --identity org.example.kel --keyring trust0 > /dev/null
"$HALLMARK" keyring refresh main --keyring trust0 > /dev/null
sed -n "$((N + 1)),$((N + 1000))p" all.txt | xargs "$HALLMARK" --quiet registry accept \
  --registry reg --passphrase-file pw > /dev/null
hyperfine --warmup 2 --runs 20 --prepare 'rm -rf trust && cp -a trust0 trust' \
  "$HALLMARK --quiet keyring refresh main --keyring trust"
