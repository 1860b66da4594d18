#!/usr/bin/env bash
# Makes sure pcscd runs with vsmartcard's vpcd readers, which the virtual YubiKey tests and
# benchmarks plug their cards into: "Virtual PCD 00 00" on TCP port 35963 and "Virtual PCD 00 01"
# on 35964 (Debian's /etc/reader.conf.d/vpcd). Starts pcscd (as root, or through sudo) when it
# is not running, then waits until vpcd listens. Fails, saying why, when that does not happen.
# Usage: bash scripts/pcscd-vpcd.sh
set -euo pipefail

# A port is listening when /proc/net/tcp{,6} has it in state 0A (LISTEN); 35963 is 8C7B.
listening() {
  awk -v port=":$1" 'toupper(substr($2, length($2) - 4)) == port && $4 == "0A" { found = 1 }
                     END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
ready() { [ -S /run/pcscd/pcscd.comm ] && listening 8C7B && listening 8C7C; }

if ready; then
  exit 0
fi

if [ ! -e /etc/reader.conf.d/vpcd ]; then
  echo "vsmartcard-vpcd is not installed (no /etc/reader.conf.d/vpcd): apt install vsmartcard-vpcd" >&2
  exit 1
fi

pidfile=/run/pcscd/pcscd.pid
if [ -f "$pidfile" ] && kill -0 "$(tr -d '\0' < "$pidfile")" 2>/dev/null; then
  echo "pcscd is running but vpcd does not listen on ports 35963/35964; it was probably started" >&2
  echo "before vsmartcard-vpcd was installed: restart pcscd, then run this again" >&2
  exit 1
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "starting pcscd (with vpcd readers on ports 35963 and 35964)"
$sudo pcscd

for _ in $(seq 1 100); do
  if ready; then
    exit 0
  fi
  sleep 0.1
done
echo "pcscd started but vpcd is not listening on ports 35963/35964 after 10 s" >&2
exit 1
