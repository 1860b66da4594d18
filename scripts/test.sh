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
# sumdb/tlog (tests/tlog-go), built offline from the Debian sources. age: the ceremony runbook's
# custodians make their identities with age-keygen (tests/tour.rs runs it). jq and python3: the
# verifying and registry guides read --json output with jq, and the registry guide serves its
# log with python3 -m http.server.
packages=(pkg-config libpcsclite-dev pcscd vsmartcard-vpcd softhsm2 opensc minisign age openssh-client binutils strace golang-go golang-golang-x-mod-dev jq python3)
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

if ! cargo deny --version >/dev/null 2>&1; then
  say "installing cargo-deny"
  cargo install --locked cargo-deny
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
say "hallmark-signer's library without the commands (no default features)"
cargo check -p hallmark-signer --no-default-features --lib --locked
if cargo tree -p hallmark-signer --no-default-features -e normal --locked --prefix none |
  grep -E '^(clap|clap_complete|clap_mangen|indicatif|rpassword|anyhow) '; then
  echo "the library without the cli feature depends on a command-line crate (above)" >&2
  exit 1
fi

# --- supply chain (deny.toml; docs/supply-chain.md) ----------------------------------------------
say "cargo deny check licenses bans sources"
cargo deny --locked check --hide-inclusion-graph licenses bans sources

# Advisories need the RustSec database, a git repository on GitHub. Fetch it when GitHub can be
# reached; otherwise use the copy already on this machine, saying how old it is; with neither,
# say plainly that advisories were not checked (HALLMARK_REQUIRE_ADVISORIES=1 makes that fail).
say "cargo deny check advisories"
advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if timeout 300 cargo deny --locked fetch db >/dev/null 2>&1; then
  cargo deny --locked --offline check --hide-inclusion-graph advisories
elif db=$(find "$advisory_dbs" -mindepth 2 -maxdepth 2 -name .git 2>/dev/null | head -n 1) &&
  [ -n "$db" ]; then
  db=$(dirname "$db")
  echo "the advisory database could not be fetched; checking against the copy in $db," \
    "last changed $(git -C "$db" log -1 --format=%cs)"
  cargo deny --locked --offline check --hide-inclusion-graph advisories
else
  cat >&2 <<'EOF_ADVISORIES'

  ****************************************************************************************
  ADVISORIES NOT CHECKED: the RustSec advisory database could not be fetched (github.com is
  not reachable from here) and there is no copy of it on this machine. Licences, bans and
  sources were checked. Run `cargo deny check advisories` where github.com is reachable
  (docs/supply-chain.md).
  ****************************************************************************************

EOF_ADVISORIES
  if [ "${HALLMARK_REQUIRE_ADVISORIES:-0}" = 1 ]; then exit 1; fi
fi

# --- tests -------------------------------------------------------------------------------------
say "building tests"
cargo nextest run --workspace --locked --no-run

say "running tests"
cargo nextest run --workspace --locked
