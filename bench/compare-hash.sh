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
#                number of cores;
#   - the floor: `bench/hash-floor.c`, which only opens, stats, reads, hashes (OpenSSL) and
#                closes each file of a list made before timing, one thread per core: what
#                reading files through these system calls costs before any tool's own work.
#                Timed when a C compiler and OpenSSL's headers are present (Debian: gcc,
#                libssl-dev); without them the script says so and goes on.
# Needs: bash, coreutils, findutils, openssl, hyperfine, awk (and, for the floor, a C compiler
# and libssl-dev). Env: RUNS (default 20),
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

runs=${RUNS:-20}
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
  # Write the new files back now, so that writeback does not run during the first timings.
  sync
  touch "$work/.complete"
fi

count_small=$(find "$small" -type f | wc -l)
bytes_small=$(find "$small" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
bytes_large=$(find "$large" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "small tree: $count_small files, $bytes_small bytes; large tree: $bytes_large bytes" >&2

floor=()
if command -v cc >/dev/null &&
  cc -O2 -pthread -o "$work/hash-floor" bench/hash-floor.c -lcrypto 2>"$work/floor-build.log"; then
  (cd "$small" && find . -type f -print0 | sort -z) >"$work/small.list"
  (cd "$large" && find . -type f -print0 | sort -z) >"$work/large.list"
  floor=(1)
else
  echo "compare-hash: cannot build bench/hash-floor.c, so the floor is not timed (Debian: apt-get install gcc libssl-dev)" >&2
  [ ! -s "$work/floor-build.log" ] || head -3 "$work/floor-build.log" >&2
fi

# Warm the page cache (hyperfine's warm-up runs do it again for each command).
find "$work" -type f -print0 | xargs -0 cat >/dev/null

# The limit: single-core SHA-256 throughput with 16 KiB blocks, as OpenSSL measures it.
per_core=$(openssl speed -seconds 3 -evp sha256 -bytes 16384 2>/dev/null |
  awk '/^(sha256|SHA256) / {v=$NF; sub(/k$/, "", v); print v * 1000}')
limit=$(awk -v p="$per_core" -v c="$cores" 'BEGIN {print p * c}')

pipeline='find . -type f -print0 | sort -z | xargs -0 -P2 openssl dgst -sha256 >/dev/null'

# Runs hyperfine on hallmark, the pipeline and (if built) the floor in DIR; prints, for each in
# that order, "mean min cpu" in seconds (cpu = mean user + system time over all cores), and
# "- - -" for a floor that was not built.
measure() {
  local dir=$1 name=$2 json="$work/$2.json"
  local extra=()
  [ ${#floor[@]} -eq 0 ] || extra=(-n floor "$(printf '%q ' "$work/hash-floor" "$work/$name.list" "$cores")")
  echo >&2
  echo "== $name ==" >&2
  (cd "$dir" && hyperfine --style basic --warmup 3 --runs "$runs" --export-json "$json" \
    -n hallmark "$(printf '%q ' "${hallmark[@]}") ." \
    -n pipeline "$pipeline" "${extra[@]}" >&2)
  awk -F: '
    /"(command|mean|min|user|system)":/ { key = $1; gsub(/[ ",]/, "", key); v = $2; gsub(/[ ",]/, "", v); r[key] = v }
    /"exit_codes"/ { m[r["command"]] = r["mean"] " " r["min"] " " r["user"] + r["system"] }
    END { print m["hallmark"], m["pipeline"], ("floor" in m ? m["floor"] : "- - -") }' "$json"
}

read -r hs_mean hs_min hs_cpu ps_mean ps_min ps_cpu fs_mean fs_min fs_cpu < <(measure "$small" small)
read -r hl_mean hl_min hl_cpu pl_mean pl_min pl_cpu fl_mean fl_min fl_cpu < <(measure "$large" large)

echo
echo "== summary ($cores cores, files in page cache) =="
awk -v hs="$hs_mean" -v hsm="$hs_min" -v hsc="$hs_cpu" -v ps="$ps_mean" -v psm="$ps_min" -v psc="$ps_cpu" \
  -v hl="$hl_mean" -v hlm="$hl_min" -v hlc="$hl_cpu" -v pl="$pl_mean" -v plm="$pl_min" -v plc="$pl_cpu" \
  -v fs="$fs_mean" -v fsm="$fs_min" -v fsc="$fs_cpu" -v fl="$fl_mean" -v flm="$fl_min" -v flc="$fl_cpu" \
  -v bs="$bytes_small" -v bl="$bytes_large" -v n="$count_small" \
  -v core="$per_core" -v lim="$limit" -v cores="$cores" 'BEGIN {
  printf "SHA-256 limit: %.2f GB/s per core (openssl speed -evp sha256, 16 KiB), %.2f GB/s on %d cores\n\n", core / 1e9, lim / 1e9, cores
  printf "%-22s %-9s %10s %10s %9s\n", "tree", "", "hallmark", "pipeline", "speed-up"
  row("small: " n " files", "mean", hs, ps); row("", "fastest", hsm, psm); row("", "CPU time", hsc, psc)
  row("large: 1 GiB/20 files", "mean", hl, pl); row("", "fastest", hlm, plm); row("", "CPU time", hlc, plc)
  printf "\nhallmark on the 1 GiB tree: %.2f GB/s mean = %.0f%% of the %d-core limit; %.2f GB/s fastest = %.0f%%\n", \
    bl / hl / 1e9, 100 * bl / hl / lim, cores, bl / hlm / 1e9, 100 * bl / hlm / lim
  printf "(the pipeline: %.0f%% mean, %.0f%% fastest)\n", 100 * bl / pl / lim, 100 * bl / plm / lim
  printf "\ntargets (mean / fastest run): small tree >= 1.5x the pipeline: %s / %s; large tree >= the pipeline: %s / %s; large tree >= 75%% of the limit: %s / %s\n", \
    ok(ps / hs >= 1.5), ok(psm / hsm >= 1.5), ok(pl >= hl), ok(plm >= hlm), ok(bl / hl / lim >= 0.75), ok(bl / hlm / lim >= 0.75)
  printf "Means suffer from anything else running; on a busy machine compare the fastest runs.\n"
  if (fs == "-") {
    printf "\nThe floor was not timed (bench/hash-floor.c could not be built).\n"
  } else {
    printf "\nthe floor (bench/hash-floor.c: openat, statx, pread, SHA-256, close per listed file; no walk, no manifest):\n"
    printf "%-22s %-9s %10s %10s %9s %9s\n", "tree", "", "floor", "hallmark", "hallmark", "pipeline"
    printf "%-22s %-9s %10s %10s %9s %9s\n", "", "", "", "", "/ floor", "/ floor"
    frow("small: " n " files", "mean", fs, hs, ps); frow("", "fastest", fsm, hsm, psm); frow("", "CPU time", fsc, hsc, psc)
    frow("large: 1 GiB/20 files", "mean", fl, hl, pl); frow("", "fastest", flm, hlm, plm); frow("", "CPU time", flc, hlc, plc)
    printf "\nthe floor itself against the pipeline on the small tree: %.2fx mean, %.2fx fastest (the target asks 1.5x of hallmark)\n", ps / fs, psm / fsm
  }
}
function frow(tree, what, f, h, p) { printf "%-22s %-9s %8.1fms %8.1fms %8.2fx %8.2fx\n", tree, what, f * 1000, h * 1000, h / f, p / f }
function row(tree, what, h, p) { printf "%-22s %-9s %8.1fms %8.1fms %8.2fx\n", tree, what, h * 1000, p * 1000, p / h }
function ok(c) { return c ? "met" : "MISSED" }'
