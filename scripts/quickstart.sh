#!/usr/bin/env bash
# Builds Hallmark and runs `hallmark quickstart`: a tour that generates throwaway file keys,
# signs a package tree, verifies it, shows the refusal of a tampered copy and of an impostor,
# and rotates to a pre-committed key. Installs what the build needs on Debian when missing.
#
# Usage: bash scripts/quickstart.sh [-q] [--dir DIR]
#   -q        print only the tour's outcome (and errors); the build is quiet too
#   --dir DIR keep the tour's files in DIR
set -euo pipefail
cd "$(dirname "$0")/.."

quiet=""
tour_args=()
for arg in "$@"; do
  case "$arg" in
    -q | --quiet) quiet=1 ;;
    *) tour_args+=("$arg") ;;
  esac
done
say() { [ -n "$quiet" ] || printf '==> %s\n' "$*"; }

# The toolchain rust-toolchain.toml pins.
required_rust="$(sed -n 's/^channel = "\([0-9.]*\)".*/\1/p' rust-toolchain.toml)"

# --- Debian packages -------------------------------------------------------------------------
# pcsc-sys (YubiKey support) needs pkg-config and the PC/SC headers to build; linking needs cc.
packages=(pkg-config libpcsclite-dev build-essential ca-certificates curl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "error: the build needs these Debian packages: ${missing[*]}" >&2
    echo "Install them as root (apt-get install ${missing[*]}) or install sudo, then run this again." >&2
    exit 2
  fi
  say "installing ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Rust ------------------------------------------------------------------------------------
# rustup reads rust-toolchain.toml and fetches the pinned toolchain on first use. A cargo
# without rustup (Debian's own package) builds with whatever version it is, so it must be at
# least the pinned one; an older one leads to rustup.
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
need_rustup=""
if command -v rustup >/dev/null 2>&1; then
  :
elif command -v cargo >/dev/null 2>&1; then
  have="$(cargo --version 2>/dev/null | awk '{print $2}')"
  if ! version_at_least "${have:-0}" "$required_rust"; then
    say "cargo ${have:-of unknown version} is older than the Rust $required_rust this project pins; installing rustup beside it"
    need_rustup=1
  fi
else
  need_rustup=1
fi
if [ -n "$need_rustup" ]; then
  say "installing rustup; it fetches only the pinned toolchain (Rust $required_rust)"
  # --default-toolchain none: no second, unpinned toolchain is downloaded.
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    sh -s -- -y --profile minimal --default-toolchain none ${quiet:+--quiet}
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# --- build and tour --------------------------------------------------------------------------
say "building Hallmark (release; the first build takes a few minutes)"
cargo build --release --locked ${quiet:+--quiet} -p hallmark-signer
exec ./target/release/hallmark ${quiet:+-q} quickstart "${tour_args[@]}"
