#!/usr/bin/env bash
# Long run of the structure-aware fuzz targets in tests/fuzz (CI runs them for 2 s each as
# part of `cargo test`).
#
#   bench/fuzz.sh [SECONDS_PER_TARGET] [SEED]
#
# SECONDS_PER_TARGET defaults to 85 (7 targets, one at a time: about 10 minutes). The test
# profile is used on purpose: it keeps integer-overflow checks, which the fuzzer relies on to
# find arithmetic bugs. The per-target counts are printed and kept in
# target/fuzz-report.txt; a failure prints the seed and the input, and
# `RAMPART_FUZZ_SEED=<seed> cargo test --test fuzz <target>` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-85}
report=target/fuzz-report.txt
mkdir -p target
: > "$report"
export RAMPART_FUZZ_SECONDS="$secs" RAMPART_FUZZ_REPORT="$PWD/$report"
if [ -n "${2:-}" ]; then export RAMPART_FUZZ_SEED="$2"; fi
start=$(date +%s)
cargo test --locked --test fuzz -- --nocapture --test-threads 1
echo "---"
cat "$report"
awk '{gsub(/[^0-9]/, "", $3); n += $3} END {print "total cases:", n}' "$report"
echo "wall time: $(( $(date +%s) - start )) s"
