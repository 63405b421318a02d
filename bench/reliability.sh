#!/usr/bin/env bash
# Reliability, the long versions: the tests of tests/reliability.rs (real binary, real
# SQLCipher data dirs) with more kill -9 cycles, restore kills and a 10-minute soak, then a
# table of what they measured (kills survived, acknowledged writes checked, lost writes,
# integrity failures, drain and restart times, soak slopes).
#
# Usage: bench/reliability.sh [SOAK_SECONDS]      (default 600, plus a steady phase of 1/4)
#   CRASH_CYCLES=50      kill -9 cycles under mixed write load (half as many with the data
#                        in an isolated organization's database)
#   RESTORE_KILLS=20     restores killed at random moments
#   ADMIN_ROUNDS=10      rounds of admin operations against a loaded server
#   PROFILE=release      binary under test: release (cargo build --release; the tests
#                        themselves are built in the dev profile and run it through
#                        RAMPART_TEST_BIN) or dev
#   BIN=path             binary under test instead of building one (for example the static
#                        release binary of packaging/build-static.sh)
# Needs root for the disk-full tests (they mount small tmpfs volumes).
set -euo pipefail

SOAK=${1:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PROFILE=${PROFILE:-release}
bin=()
if [[ -n ${BIN:-} ]]; then
  bin=(RAMPART_TEST_BIN="$(realpath "$BIN")")
  PROFILE="$(basename "$BIN")"
elif [[ $PROFILE == release ]]; then
  cargo build --release --locked --bin rampart >&2
  bin=(RAMPART_TEST_BIN="$root/target/release/rampart")
fi
log=$(mktemp "${TMPDIR:-/tmp}/rampart-bench-reliability.XXXXXX")
trap 'rm -f "$log"' EXIT

echo "running tests/reliability.rs: ${CRASH_CYCLES:-50} kills, ${RESTORE_KILLS:-20} restore kills, ${SOAK} s soak ($PROFILE binary)" >&2
env "${bin[@]}" \
  RAMPART_TEST_CRASH_CYCLES="${CRASH_CYCLES:-50}" \
  RAMPART_TEST_RESTORE_KILLS="${RESTORE_KILLS:-20}" \
  RAMPART_TEST_ADMIN_ROUNDS="${ADMIN_ROUNDS:-10}" \
  RAMPART_TEST_SOAK_SECONDS="$SOAK" \
  cargo test --locked --test main reliability:: -- --test-threads=1 --nocapture \
  >"$log" 2>&1 && rc=0 || rc=$?
if [[ $rc != 0 ]]; then
  grep -v '^ *[0-9]*: \|^ *at ' "$log" | tail -n 60 >&2
  echo "reliability tests FAILED (log above); figures of the tests that got far enough:" >&2
fi

# Each test printed one line: RELIABILITY <what> key=value ...
echo
printf '| %-10s | %s |\n' "test" "figures"
printf '|%s|%s|\n' "------------" "--------------------------------------------------------------"
grep -o 'RELIABILITY .*' "$log" | while read -r _ what rest; do
  printf '| %-10s | %s |\n' "$what" "$rest"
done
passed=$(grep -c 'RELIABILITY ' "$log" || true)
echo
echo "$passed reliability tests reported figures ($(grep -o 'test result: .*' "$log" | tail -n 1))"
exit "$rc"
