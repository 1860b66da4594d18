#!/usr/bin/env bash
# Times `hallmark hash` against the strongest shell pipeline and against the hardware limit.
#
#   bash bench/compare-hash.sh            # builds the `hash` example of hallmark-keyring
#   HALLMARK=target/release/hallmark bash bench/compare-hash.sh
#
# Builds, in a temporary directory:
#   (a) 20,000 files of 1-16 KiB nested in 20 x 10 directories (about 170 MB);
#   (b) a 1 GiB tree of 20 files of 51.2 MiB in 2 directories.
# Warms the page cache, then times with hyperfine, in one run:
#   - hallmark:  `$HALLMARK hash DIR` (or the `hash` example, which calls the same
#                `hallmark_keyring::digest::digest_path`);
#   - pipeline:  `find . -type f -print0 | sort -z | xargs -0 -P2 openssl dgst -sha256`
#                (OpenSSL uses the CPU's SHA extensions; coreutils' sha256sum does not);
#   - the limit: SHA-256 throughput of one core from `openssl speed -evp sha256`, times the
#                number of cores.
# Needs: bash, coreutils, findutils, openssl, hyperfine, awk. Env: RUNS (default 10),
# BENCH_DIR to build the trees somewhere other than $TMPDIR, KEEP=1 to keep them, and
# TREES=DIR to reuse trees kept by an earlier run (the directory it printed).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hyperfine openssl awk find xargs sort; do
  command -v "$tool" >/dev/null || {
    echo "compare-hash: '$tool' is missing (Debian: apt-get install hyperfine openssl gawk findutils)" >&2
    exit 2
  }
done

runs=${RUNS:-10}
cores=$(nproc)

if [ -n "${HALLMARK:-}" ]; then
  hallmark=("$HALLMARK" hash)
else
  # Build once and time the binary itself: `cargo run` would add cargo's own start-up.
  echo "building the hash example (set HALLMARK=path/to/hallmark to time the CLI instead)" >&2
  cargo build --quiet --release -p hallmark-keyring --example hash
  hallmark=("$PWD/target/release/examples/hash")
fi

build_trees() {
  echo "building trees in $work" >&2
  # (a) 20,000 files: 200 leaf directories of 100 files each. Each leaf is cut from a random
  # stream with `split`, then its files are truncated into 16 size classes between 1 and 16 KiB.
  small="$work/small"
  leaf=0
  for top in $(seq -w 0 19); do
    for sub in $(seq -w 0 9); do
      dir="$small/d$top/s$sub"
      mkdir -p "$dir"
      head -c $((100 * 16384)) /dev/urandom | (cd "$dir" && split -a 2 -d -b 16384 - f)
      for k in $(seq 1 16); do
        size=$((k * 1024 - (k > 1 ? (leaf * 31 + k * 7) % 1000 : 0)))
        # Files whose two-digit index is congruent to k modulo 16 get size class k.
        files=()
        for ((i = k - 1; i < 100; i += 16)); do files+=("$dir/f$(printf %02d "$i")"); done
        truncate -s "$size" "${files[@]}"
      done
      leaf=$((leaf + 1))
    done
  done
  # (b) 1 GiB in 20 files.
  large="$work/large"
  mkdir -p "$large/a" "$large/b"
  per_file=$(((1 << 30) / 20))
  for i in $(seq -w 0 19); do
    sub=a
    [ $((10#$i % 2)) -eq 0 ] || sub=b
    head -c "$per_file" /dev/urandom >"$large/$sub/part$i.bin"
  done
}

if [ -n "${TREES:-}" ]; then
  work=$TREES
  [ -f "$work/.complete" ] || { echo "compare-hash: $work holds no complete trees" >&2; exit 2; }
  small="$work/small"
  large="$work/large"
else
  work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/hallmark-bench.XXXXXX")
  [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
  build_trees
  touch "$work/.complete"
fi

count_small=$(find "$small" -type f | wc -l)
bytes_small=$(find "$small" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
bytes_large=$(find "$large" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "small tree: $count_small files, $bytes_small bytes; large tree: $bytes_large bytes" >&2

# Warm the page cache (hyperfine's warm-up runs do it again for each command).
find "$work" -type f -print0 | xargs -0 cat >/dev/null

# The limit: single-core SHA-256 throughput with 16 KiB blocks, as OpenSSL measures it.
per_core=$(openssl speed -seconds 3 -evp sha256 -bytes 16384 2>/dev/null |
  awk '/^(sha256|SHA256) / {v=$NF; sub(/k$/, "", v); print v * 1000}')
limit=$(awk -v p="$per_core" -v c="$cores" 'BEGIN {print p * c}')

pipeline='find . -type f -print0 | sort -z | xargs -0 -P2 openssl dgst -sha256 >/dev/null'

# Runs hyperfine on hallmark and the pipeline in DIR; prints "hallmark_mean pipeline_mean".
measure() {
  local dir=$1 name=$2 json="$work/$2.json"
  echo >&2
  echo "== $name ==" >&2
  (cd "$dir" && hyperfine --style basic --warmup 2 --runs "$runs" --export-json "$json" \
    -n hallmark "$(printf '%q ' "${hallmark[@]}") ." \
    -n pipeline "$pipeline" >&2)
  awk -F: '/"mean"/ {gsub(/[ ,]/, "", $2); printf "%s ", $2} END {print ""}' "$json"
}

read -r h_small p_small < <(measure "$small" small)
read -r h_large p_large < <(measure "$large" large)

echo
echo "== summary ($cores cores, files in page cache) =="
awk -v hs="$h_small" -v ps="$p_small" -v hl="$h_large" -v pl="$p_large" \
  -v bs="$bytes_small" -v bl="$bytes_large" -v n="$count_small" \
  -v core="$per_core" -v lim="$limit" -v cores="$cores" 'BEGIN {
  printf "SHA-256 limit: %.2f GB/s per core (openssl speed -evp sha256, 16 KiB), %.2f GB/s on %d cores\n", core / 1e9, lim / 1e9, cores
  printf "%-28s %10s %10s %9s %12s\n", "tree", "hallmark", "pipeline", "speed-up", "hallmark GB/s"
  printf "%-28s %8.1fms %8.1fms %8.2fx %12.2f\n", n " files, 1-16 KiB", hs * 1000, ps * 1000, ps / hs, bs / hs / 1e9
  printf "%-28s %8.1fms %8.1fms %8.2fx %12.2f\n", "1 GiB in 20 files", hl * 1000, pl * 1000, pl / hl, bl / hl / 1e9
  printf "1 GiB tree: %.0f%% of the %d-core limit (pipeline: %.0f%%)\n", 100 * bl / hl / lim, cores, 100 * bl / pl / lim
  printf "targets: small-tree speed-up >= 1.5x: %s; large tree >= pipeline: %s; >= 75%% of limit: %s\n", \
    (ps / hs >= 1.5 ? "met" : "MISSED"), (pl >= hl ? "met" : "MISSED"), (bl / hl / lim >= 0.75 ? "met" : "MISSED")
}'
