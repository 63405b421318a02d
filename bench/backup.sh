#!/usr/bin/env bash
# Backup throughput: `rampart admin backup` (consistent SQLCipher snapshot -> plaintext
# export -> gzip -> ECDSA signature) against the plain-SQLite baseline
# `sqlite3 .backup` + `gzip -1` on the same data, plus the restore time.
#
# Usage: bench/backup.sh [SIZE_MB]        (default 200)
#   RAMPART_BIN=path/to/rampart  binary to measure (default target/release/rampart, else
#                                target/debug/rampart; debug numbers are pessimistic)
#   RUNS=3                       timed runs per measurement (best is reported)
#
# How the data gets in: an empty instance is backed up, its plaintext image is filled with
# SIZE_MB of rows (half random hex, half repetitive text, so gzip has real work), signed
# with the instance's own key exactly as rampart does (gzip, openssl ECDSA-SHA256, MIPIBAK
# trailer), and restored. Needs sqlite3, gzip, openssl, xxd, GNU date.
set -euo pipefail

SIZE_MB=${1:-200}
RUNS=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RAMPART_BIN:-}
if [[ -z $BIN ]]; then
  if [[ -x $root/target/release/rampart ]]; then BIN=$root/target/release/rampart; else BIN=$root/target/debug/rampart; fi
fi
[[ -x $BIN ]] || { echo "no rampart binary at $BIN (cargo build first)" >&2; exit 2; }
for t in sqlite3 gzip openssl xxd; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/rampart-bench-backup.XXXXXX")
trap 'rm -rf "$work"' EXIT
data=$work/data
r() { env -u RAMPART_CONFIG -u RAMPART_BIN "$BIN" --data-dir "$data" admin "$@"; }
now() { date +%s.%N; }
best() { sort -n | head -1; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (b / 1048576) / s }'; }

echo "rampart backup benchmark: $SIZE_MB MB, binary $BIN, best of $RUNS"

# 1. An empty instance and its schema as a plaintext image.
r backup --out "$work/empty.signed" >/dev/null 2>&1
python_free_split() {  # $1 signed file -> payload on stdout (strip the trailer)
  local f=$1 size siglen
  size=$(stat -c %s "$f")
  for siglen in $(seq 72 -1 8); do
    local off=$((size - siglen - 42))
    if [[ $(dd if="$f" bs=1 skip=$off count=8 2>/dev/null | xxd -p) == "4d49504942414b02" ]]; then
      head -c "$off" "$f"; return 0
    fi
  done
  echo "no trailer in $f" >&2; return 1
}
python_free_split "$work/empty.signed" | gzip -dc > "$work/plain.db"

# 2. Fill it.
rows=$(( SIZE_MB * 1048576 / 700 ))
sqlite3 "$work/plain.db" <<SQL
CREATE TABLE bench_filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows)
INSERT INTO bench_filler SELECT x, hex(randomblob(150)) || printf('%.300c', 'x') || x FROM c;
SQL
plain_bytes=$(stat -c %s "$work/plain.db")

# 3. Sign it with the instance key, in rampart's format.
key=$data/backup-signing-key.pem
gzip -1 -c "$work/plain.db" > "$work/payload.gz"
openssl dgst -sha256 -sign "$key" -out "$work/sig.der" "$work/payload.gz"
fp=$(openssl pkey -in "$key" -pubout -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
{
  cat "$work/payload.gz"
  printf 'MIPIBAK\x02'
  printf '%s' "$fp" | xxd -r -p
  printf '%04x' "$(stat -c %s "$work/sig.der")" | xxd -r -p
  cat "$work/sig.der"
} > "$work/filled.signed"

# 4. Restore it (timed once: it replaces the data).
t0=$(now); r restore "$work/filled.signed" --confirm "CONFIRM RESTORE" >/dev/null 2>&1; t1=$(now)
restore_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

# 5. rampart backup.
times=()
for i in $(seq 1 "$RUNS"); do
  rm -f "$work/out.signed"
  t0=$(now); r backup --out "$work/out.signed" >/dev/null 2>&1; t1=$(now)
  times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
rampart_s=$(printf '%s\n' "${times[@]}" | best)
out_bytes=$(stat -c %s "$work/out.signed")

# 6. Baseline: sqlite3 .backup + gzip -1 on the plaintext database.
times=()
for i in $(seq 1 "$RUNS"); do
  rm -f "$work/copy.db" "$work/copy.db.gz"
  t0=$(now); sqlite3 "$work/plain.db" ".backup '$work/copy.db'" && gzip -1 "$work/copy.db"; t1=$(now)
  times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
base_s=$(printf '%s\n' "${times[@]}" | best)
base_bytes=$(stat -c %s "$work/copy.db.gz")

printf '\n%-34s %10s %10s %12s\n' "" "seconds" "MB/s" "output MB"
printf '%-34s %10.2f %10s %12.1f\n' "rampart admin backup" "$rampart_s" "$(mbps "$plain_bytes" "$rampart_s")" "$(awk -v b="$out_bytes" 'BEGIN{print b/1048576}')"
printf '%-34s %10.2f %10s %12.1f\n' "sqlite3 .backup + gzip -1" "$base_s" "$(mbps "$plain_bytes" "$base_s")" "$(awk -v b="$base_bytes" 'BEGIN{print b/1048576}')"
printf '%-34s %10.2f %10s\n' "rampart admin restore" "$restore_s" "$(mbps "$plain_bytes" "$restore_s")"
printf '\ndatabase: %.1f MB plaintext; ratio rampart/baseline: %.2fx\n' \
  "$(awk -v b="$plain_bytes" 'BEGIN{print b/1048576}')" "$(awk -v a="$rampart_s" -v b="$base_s" 'BEGIN{print a/b}')"
