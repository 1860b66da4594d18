#!/usr/bin/env bash
# Batch signing with a key in AWS KMS, against ministack (the AWS API emulator of the tests) on
# loopback: N small artifacts signed by one `hallmark sign` run (default concurrency, and one
# request at a time), against a loop of `aws kms sign` (the AWS CLI from PyPI, one process per
# signature, as a pipeline script would do it) and against the emulator's raw Sign rate from
# one client (botocore, one kept-alive connection, sequential requests, no hashing, no files).
#
# The AWS CLI (PyPI `awscli`) lives in target/awscli-venv. Its loop is slow (a Python start-up per signature), so it signs only CLI_N artifacts
# (default 50) and its time is scaled to N. Nothing reaches AWS: everything points at
# 127.0.0.1 with the emulator's fake credentials.
#
# Usage: bash bench/awskms.sh [N (1000)] [CLI_N (50)]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
cli_n="${2:-50}"

ministack=$(bash scripts/ministack.sh)
venv=$(dirname "$(dirname "$ministack")")
# The AWS CLI gets an environment of its own: each awscli release pins its own botocore, and
# ministack pins another.
cli_venv=target/awscli-venv
if [ ! -x "$cli_venv/bin/aws" ]; then
  python3 -m venv "$cli_venv"
  "$cli_venv/bin/pip" install --quiet --disable-pip-version-check awscli
fi

cargo build --release --quiet -p hallmark-signer --bin hallmark
hallmark="$PWD/target/release/hallmark"

work="$(mktemp -d -t hallmark-awskms-XXXXXX)"
port=$("$venv/bin/python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i PATH="$PATH" HOME="$work" GATEWAY_PORT="$port" BIND_HOST=127.0.0.1 IOT_MTLS_ENABLED=0 \
  SFTP_ENABLED=0 SERVICES=kms LOG_LEVEL=WARNING "$ministack" >"$work/ministack.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/_ministack/health" >/dev/null && break
  sleep 0.1
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE="$work/none" \
  AWS_SHARED_CREDENTIALS_FILE="$work/none" AWS_PAGER=""
unset AWS_PROFILE AWS_SESSION_TOKEN HALLMARK_AWSKMS_CONCURRENCY

"$hallmark" key generate --out awskms:alias/bench >/dev/null 2>&1
mkdir -p "$work/art"
for i in $(seq 1 "$n"); do head -c 1024 /dev/urandom > "$work/art/a$i.bin"; done

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

sign_run() { # concurrency (empty: default)
  rm -f "$work"/art/*.hallmark.json
  local t0 t1
  t0=$(now)
  (cd "$work/art" && HALLMARK_AWSKMS_CONCURRENCY="${1:-8}" "$hallmark" --quiet sign \
     --key awskms:alias/bench --name org.bench.tool --version 1.0.0 a*.bin >/dev/null)
  t1=$(now)
  [ "$(ls "$work"/art/*.hallmark.json | wc -l)" -eq "$n" ] || { echo "hallmark signed too few" >&2; exit 1; }
  secs "$t0" "$t1"
}

raw_rate() {
  "$venv/bin/python3" - "$n" <<'PY'
import os, sys, time
import botocore.session
n = int(sys.argv[1])
kms = botocore.session.get_session().create_client("kms")
message = os.urandom(120)
key = kms.describe_key(KeyId="alias/bench")["KeyMetadata"]["Arn"]
t0 = time.perf_counter()
for _ in range(n):
    kms.sign(KeyId=key, Message=message, MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")
print(f"{time.perf_counter() - t0:.2f}")
PY
}

cli_loop() {
  local t0 t1
  t0=$(now)
  for i in $(seq 1 "$cli_n"); do
    "$cli_venv/bin/aws" kms sign --key-id alias/bench --message "fileb://$work/art/a$i.bin" \
      --message-type RAW --signing-algorithm ED25519_SHA_512 --output text --query Signature >/dev/null
  done
  t1=$(now)
  secs "$t0" "$t1"
}

echo "==> $n artifacts of 1 KiB, ministack on 127.0.0.1:$port, $(nproc) cores"
h8=$(sign_run 8)
h1=$(sign_run 1)
raw=$(raw_rate)
cli=$(cli_loop)
cli_scaled=$(awk -v t="$cli" -v a="$cli_n" -v n="$n" 'BEGIN { printf "%.1f", t / a * n }')
awk -v h8="$h8" -v h1="$h1" -v raw="$raw" -v cli="$cli" -v cs="$cli_scaled" -v n="$n" -v cn="$cli_n" 'BEGIN {
  printf "hallmark sign, 8 in flight   %8.2f s  %7.0f signatures/s\n", h8, n / h8
  printf "hallmark sign, 1 in flight   %8.2f s  %7.0f signatures/s\n", h1, n / h1
  printf "raw Sign, one botocore client %7.2f s  %7.0f signatures/s\n", raw, n / raw
  printf "aws kms sign loop (%d, scaled) %7.1f s  %7.1f signatures/s\n", cn, cs, cn / cli
  printf "hallmark (8) vs aws CLI loop:  %.0fx faster\n", cs / h8
  printf "hallmark (8) vs raw Sign:      %.2fx the time of the raw loop\n", h8 / raw
  printf "hallmark (1) vs raw Sign:      %.2fx the time of the raw loop\n", h1 / raw
}'
