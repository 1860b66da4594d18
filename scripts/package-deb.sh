#!/usr/bin/env bash
# Builds the Debian package: hallmark and hallmark-verify, their man pages (generated from the
# command definitions, examples included), shell completions, the licences and the README.
#
# Usage: bash scripts/package-deb.sh [--bin-dir DIR] [--out DIR]
#   --bin-dir DIR  package the binaries already built in DIR instead of building them
#                  (default: build with `cargo build --release --locked`, into target/release)
#   --out DIR      where to write the .deb (default: target/debian)
# DEB_MAINTAINER sets the package's Maintainer field ("Name <email>").
# Prints the path of the package it wrote. Needs dpkg-deb (every Debian system has it).
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=""
out_dir="target/debian"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --out) out_dir="$2"; shift 2 ;;
    *) echo "usage: bash scripts/package-deb.sh [--bin-dir DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
if [ -z "$bin_dir" ]; then
  cargo build --release --locked -p hallmark-signer >&2
  bin_dir="target/release"
fi
for bin in hallmark hallmark-verify; do
  [ -x "$bin_dir/$bin" ] || { echo "error: $bin_dir/$bin is missing: build it first" >&2; exit 2; }
done

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/hallmark_${version}_${arch}"

install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
  "$root/usr/share/doc/hallmark" "$root/usr/share/bash-completion/completions" \
  "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
install -m 0755 "$bin_dir/hallmark" "$bin_dir/hallmark-verify" "$root/usr/bin/"
# As Debian's dh_strip does: no debug symbols in the package.
strip --strip-unneeded "$root/usr/bin/hallmark" "$root/usr/bin/hallmark-verify"

# Man pages and completions come from the binary being packaged, so they match it exactly.
"$bin_dir/hallmark" -q manpages "$stage/man"
for page in "$stage"/man/*.1; do
  gzip -9n -c "$page" > "$root/usr/share/man/man1/$(basename "$page").gz"
done
"$bin_dir/hallmark" completions bash > "$root/usr/share/bash-completion/completions/hallmark"
"$bin_dir/hallmark" completions zsh > "$root/usr/share/zsh/vendor-completions/_hallmark"
"$bin_dir/hallmark" completions fish > "$root/usr/share/fish/vendor_completions.d/hallmark.fish"

gzip -9n -c README.md > "$root/usr/share/doc/hallmark/README.md.gz"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: hallmark"
  echo
  echo "Files: *"
  echo "Copyright: 2026 The Hallmark developers"
  echo "License: Apache-2.0 or MIT"
  echo " On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0."
  echo " The MIT licence follows."
  echo " ."
  sed -e 's/^$/./' -e 's/^/ /' LICENSE-MIT
} > "$root/usr/share/doc/hallmark/copyright"

# Depends: the package of every shared library the binaries link, as dpkg knows it here.
depends=()
for lib in $(objdump -p "$root/usr/bin/hallmark" "$root/usr/bin/hallmark-verify" |
  awk '/NEEDED/ {print $2}' | sort -u); do
  path="$(ldconfig -p | awk -v lib="$lib" '$1 == lib {print $NF; exit}')"
  [ -n "$path" ] || { echo "error: cannot find $lib" >&2; exit 2; }
  pkg="$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n1 | cut -d: -f1)" ||
    pkg="$(dpkg -S "$path" | head -n1 | cut -d: -f1)"
  depends+=("$pkg")
done
depends_line="$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, - | sed 's/,/, /g')"

installed_size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<EOF
Package: hallmark
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-The Hallmark developers <hallmark@example.org>}
Installed-Size: $installed_size
Depends: $depends_line
Recommends: pcscd
Suggests: softhsm2, opensc
Section: utils
Priority: optional
Homepage: https://github.com/hallmark-dev/hallmark
Description: hardware-backed package signing with linked key rotation
 Hallmark signs release artifacts (files and package trees) with Ed25519 keys
 in PKCS#11 tokens, YubiKeys or age-encrypted files, rotates and hands over
 keys through signed ceremonies, and verifies releases against pinned
 publishers, so that a change of signer is linked rather than suspicious.
EOF

mkdir -p "$out_dir"
deb="$out_dir/hallmark_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
