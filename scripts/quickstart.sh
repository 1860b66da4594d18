#!/usr/bin/env bash
# Builds Hallmark and runs `hallmark quickstart`: a tour that generates a throwaway file key,
# signs a package tree, verifies it, and shows the refusal of a tampered copy. Installs the
# build prerequisites it needs on Debian when they are missing. Usage: bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# pcsc-sys (YubiKey support) needs pkg-config and the PC/SC headers to build; linking needs cc.
packages=(pkg-config libpcsclite-dev build-essential ca-certificates curl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "==> installing Rust with rustup (the version is pinned by rust-toolchain.toml)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

echo "==> building (release)"
cargo build --release --locked --quiet -p hallmark-signer
exec ./target/release/hallmark quickstart "$@"
