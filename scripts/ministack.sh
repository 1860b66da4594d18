#!/usr/bin/env bash
# Installs ministack, the AWS API emulator the AWS KMS tests run against (PyPI `ministack`;
# `cryptography` is what gives it asymmetric KMS keys, Ed25519 included), into a virtual
# environment, and checks that it starts and signs with an Ed25519 KMS key on a loopback port.
# Idempotent: an environment that already has these versions is only checked.
#
# The tests start their own ministack, one per test, on free loopback ports; they find it at
# $HALLMARK_MINISTACK, else at target/ministack-venv/bin/ministack. This script prints that path.
# Usage: bash scripts/ministack.sh [VENV_DIR (target/ministack-venv)]
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${1:-target/ministack-venv}
ministack_version=1.5.33
cryptography_version=51.0.1

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "installing python3-venv" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv
fi

installed() {
  [ -x "$venv/bin/ministack" ] &&
    "$venv/bin/pip" check >/dev/null 2>&1 &&
    "$venv/bin/python3" -c "
import importlib.metadata as m, sys
sys.exit(not (m.version('ministack') == '$ministack_version' and m.version('cryptography') == '$cryptography_version'))
" 2>/dev/null
}

if ! installed; then
  echo "installing ministack $ministack_version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "ministack==$ministack_version" "cryptography==$cryptography_version"
fi

# A smoke test: start it on a free loopback port, create an Ed25519 key, sign, stop.
port=$("$venv/bin/python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
env -i PATH="$PATH" HOME="${TMPDIR:-/tmp}" GATEWAY_PORT="$port" BIND_HOST=127.0.0.1 \
  IOT_MTLS_ENABLED=0 SFTP_ENABLED=0 SERVICES=kms LOG_LEVEL=WARNING \
  "$venv/bin/ministack" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
"$venv/bin/python3" - "$port" <<'PY'
import sys, time, urllib.request
import botocore.session
port = sys.argv[1]
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_ministack/health", timeout=2)
        break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("ministack did not start")
kms = botocore.session.get_session().create_client(
    "kms", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test")
key = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
sig = kms.sign(KeyId=key, Message=b"hallmark", MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")["Signature"]
assert len(sig) == 64, sig
PY
realpath "$venv/bin/ministack"
