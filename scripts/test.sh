#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with -D warnings, docs, and the whole test suite
# against real SoftHSM2, a virtual YubiKey (pcscd + vsmartcard's vpcd) and an AWS KMS emulator
# (ministack, on loopback). Installs the Debian packages and the emulator it needs when they are
# missing. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# --- system packages ---------------------------------------------------------------------------
# golang-go and golang-golang-x-mod-dev: the transparency log is checked by Go's sumdb/note and
# sumdb/tlog (tests/tlog-go), built offline from the Debian sources.
packages=(pkg-config libpcsclite-dev pcscd vsmartcard-vpcd softhsm2 opensc minisign openssh-client binutils strace golang-go golang-golang-x-mod-dev)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# pcscd with vsmartcard's vpcd readers, for the virtual YubiKey suite (started here if needed).
bash scripts/pcscd-vpcd.sh

# ministack, the AWS API emulator the AWS KMS tests start on loopback ports (installed into a
# virtual environment here, with python3-venv if needed).
say "ministack (AWS KMS emulator)"
HALLMARK_MINISTACK=$(bash scripts/ministack.sh)
export HALLMARK_MINISTACK

# --- static checks -------------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

# --- tests -------------------------------------------------------------------------------------
say "building tests"
cargo nextest run --workspace --locked --no-run

say "running tests"
cargo nextest run --workspace --locked
