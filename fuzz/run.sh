#!/usr/bin/env bash
# Builds every fuzz target once, then runs each for SECONDS_PER_TARGET seconds, JOBS targets at
# a time. Usage: bash fuzz/run.sh [SECONDS_PER_TARGET (600)] [JOBS (1)] [TARGET…]
#
# Each target starts from fuzz/seeds/<target> and fuzz/corpus/<target>, and works in
# fuzz/work/<target> (kept between runs, not committed). Afterwards the inputs that add
# coverage beyond the seeds and the committed corpus are merged into fuzz/corpus/<target>, and
# any crash, leak, timeout or out-of-memory input is copied there too, so that the test
# `fuzz_corpus` replays it. One summary line per target (executions from libFuzzer's final
# stats, corpus size, crashes) goes to stdout and to fuzz/last-run.txt.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). The build
# goes to $CARGO_TARGET_DIR/fuzz if CARGO_TARGET_DIR is set, else fuzz/target.
set -euo pipefail
cd "$(dirname "$0")"
fuzz_dir=$(pwd)

seconds=${1:-600}
jobs=${2:-1}
shift $(( $# < 2 ? $# : 2 ))

target_dir=${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}
target_dir=${target_dir:-$fuzz_dir/target}
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir=$target_dir/$triple/release

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "==> building ${#targets[@]} targets (nightly, address sanitizer, debug assertions)"
build_args=()
[ ${#targets[@]} -eq 1 ] && build_args=("${targets[0]}")
cargo +nightly fuzz build --target-dir "$target_dir" "${build_args[@]}"

log=$fuzz_dir/last-run.txt
logs=$fuzz_dir/work/logs
mkdir -p "$logs"
: > "$log"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) ${seconds}s per target, ${jobs} at a time" | tee -a "$log"

run_one() {
  local t=$1
  local bin=$bin_dir/$t
  local seeds=$fuzz_dir/seeds/$t corpus=$fuzz_dir/corpus/$t work=$fuzz_dir/work/$t
  local artifacts=$fuzz_dir/artifacts/$t/ out=$logs/$t.log
  mkdir -p "$corpus" "$work" "$artifacts"
  local before
  before=$(find "$artifacts" -type f | wc -l)

  # New inputs go to the first directory (work); seeds and corpus are read.
  local status=0
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" "$work" "$seeds" "$corpus" > "$out" 2>&1 || status=$?

  # Merge what adds coverage beyond the seeds and the committed corpus into the corpus.
  local merged
  merged=$(mktemp -d)
  cp "$seeds"/* "$merged"/ 2>/dev/null || true
  cp "$corpus"/* "$merged"/ 2>/dev/null || true
  local known
  known=$(mktemp)
  (cd "$merged" && ls -1) | sort > "$known"
  "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$merged" "$work" > "$logs/$t.merge.log" 2>&1 || true
  local added=0 f
  while IFS= read -r f; do
    cp "$merged/$f" "$corpus/$f"
    added=$((added + 1))
  done < <(cd "$merged" && ls -1 | sort | comm -13 "$known" -)
  rm -rf "$merged" "$known"

  # Crash inputs become regression inputs.
  local crashes=0
  for f in $(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort); do
    cp "$f" "$corpus/$(basename "$f")"
    crashes=$((crashes + 1))
  done
  local new_crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))

  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
  local size
  size=$(find "$corpus" -type f | wc -l)
  local line
  line=$(printf '%-22s #execs %-12s corpus %-6s (+%s) crashes %s (new %s) exit %s' \
    "$t" "${execs:-?}" "$size" "$added" "$crashes" "$new_crashes" "$status")
  if [ "$new_crashes" -gt 0 ] || { [ "$status" -ne 0 ] && [ -z "$execs" ]; }; then
    line="$line  ** see fuzz/work/logs/$t.log"
  fi
  echo "$line"
}
export -f run_one
export bin_dir fuzz_dir seconds logs

printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} | tee -a "$log"
echo "==> summary in fuzz/last-run.txt"
if grep -q '\*\*' "$log"; then
  echo "==> a target crashed: its input is in fuzz/corpus/<target>/ (crash-*); see fuzz/README.md"
  exit 1
fi
