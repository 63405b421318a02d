#!/usr/bin/env bash
# HTTP load benchmark (issue 18): a throwaway appliance on a temp data dir, seeded with 20
# generated models (offline engine), then wrk against the requests of the issue's table with
# API-key auth, each for a bounded time; prints req/s, p50, p99, non-2xx answers and the RSS
# of the server before and after.
#
# Usage: bench/http.sh [path/to/rampart]
#   RAMPART_BIN=path/to/rampart  binary to measure (or the first argument; default
#                                target/release/rampart, else target/debug/rampart; debug
#                                numbers are pessimistic)
#   DURATION=10                  seconds per request kind
#   CONNECTIONS=32 THREADS=2     wrk connections and threads (the create row uses 4 connections)
#   ONLY="me get"                run only these rows (health me get list patch create)
#   KEEP=1                       keep the data dir (its path is printed)
# Installs wrk (Debian package) when it is missing and the script runs as root.
# Needs curl and python3.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${RAMPART_BIN:-}}
if [[ -z $BIN ]]; then
  if [[ -x $root/target/release/rampart ]]; then BIN=$root/target/release/rampart; else BIN=$root/target/debug/rampart; fi
fi
[[ -x $BIN ]] || { echo "no rampart binary at $BIN (cargo build --release first)" >&2; exit 2; }
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ONLY=${ONLY:-health me get list patch create}

if ! command -v wrk >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing wrk (apt-get install -y wrk)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null 2>&1; }
  fi
  command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
fi
for t in curl python3; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/rampart-bench-http.XXXXXX")
data=$work/data
pid=
cleanup() {
  if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [[ ${KEEP:-} == 1 ]]; then echo "data dir kept: $data" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
r() { env -u RAMPART_CONFIG -u RAMPART_BIN RAMPART_LOG=warn "$BIN" --data-dir "$data" "$@"; }
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

# An administrator, a developer API key of their personal workspace, and the server.
echo 'Bench-password-0123456789' | r admin setup --email bench@example.com --name Bench --password-stdin >/dev/null 2>&1
key=$(r admin api-key create --user bench@example.com --scope developer 2>/dev/null | awk '{print $1; exit}')
env -u RAMPART_CONFIG -u RAMPART_BIN RAMPART_LOG=warn "$BIN" --data-dir "$data" serve --bind 127.0.0.1:0 \
  >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
for _ in $(seq 1 200); do
  base=$(sed -n 's/^listening on //p' "$work/serve.out" | head -n 1)
  [[ -n $base ]] && curl -fs "$base/ready" >/dev/null 2>&1 && break
  sleep 0.05
done
[[ -n ${base:-} ]] || { echo "server did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }

# 20 generated models (offline engine); the first one is read and renamed below.
descriptions=(
  "An online shop with a login page, a shopping cart, card payments through a payment provider, an order database and e-mail receipts."
  "A multi-tenant SaaS on Kubernetes with OAuth login, an admin panel, webhooks to customer endpoints, a Postgres database, S3 file storage and audit logs."
  "A mobile banking app with a REST backend, push notifications, biometric login, transfers between accounts and a fraud scoring service."
  "An internal HR portal with single sign-on, payroll exports, employee records in MySQL and a document upload feature."
)
ids=()
for i in $(seq 0 19); do
  d="${descriptions[$((i % ${#descriptions[@]}))]} Variant $i."
  body=$(python3 -c 'import json,sys; print(json.dumps({"feature_description": sys.argv[1]}))' "$d")
  id=$(curl -fsS -X POST "$base/api/models?wait=true" -H "X-API-Key: $key" \
         -H 'Content-Type: application/json' -d "$body" \
       | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  ids+=("$id")
done
mid=${ids[0]}
model_bytes=$(curl -fsS "$base/api/models/$mid" -H "X-API-Key: $key" | wc -c)
list_bytes=$(curl -fsS "$base/api/models" -H "X-API-Key: $key" | wc -c)
idle_rss=$(rss_mb)

cat >"$work/patch.lua" <<'LUA'
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"title":"Renamed by the benchmark ' .. n .. '"}')
end
LUA
cat >"$work/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"feature_description":"An online shop with a login page, a shopping cart, card payments through a payment provider, an order database and e-mail receipts."}'
LUA
# wrk prints non-2xx counts only when there are some.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("BENCH %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA

echo "rampart HTTP benchmark: binary $BIN"
echo "wrk $THREADS threads, $CONNECTIONS connections (create: 4), ${DURATION} s per row, API-key auth;"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo "model $mid: $model_bytes bytes of JSON; list of ${#ids[@]} models: $list_bytes bytes; RSS after seeding: $idle_rss MB"
printf '\n| %-36s | %10s | %9s | %9s | %7s |\n' "request" "req/s" "p50 ms" "p99 ms" "errors"
printf '|%s|%s|%s|%s|%s|\n' "--------------------------------------" "------------" "-----------" "-----------" "---------"

row() { # name label connections script path
  local name=$1 label=$2 conns=$3 script=$4 path=$5 out
  [[ " $ONLY " == *" $name "* ]] || return 0
  local args=(-t "$THREADS" -c "$conns" -d "${DURATION}s" --timeout 10s -H "X-API-Key: $key")
  if [[ -n $script ]]; then
    # wrk runs one script: the request script with the report appended.
    cat "$script" "$work/report.lua" >"$work/run.lua"
  else
    cp "$work/report.lua" "$work/run.lua"
  fi
  out=$(wrk "${args[@]}" -s "$work/run.lua" "$base$path" 2>&1 | grep '^BENCH ') || true
  read -r _ rps p50 p99 errs _ <<<"${out:-BENCH 0 0 0 0 0}"
  printf '| %-36s | %10.0f | %9.2f | %9.2f | %7d |\n' "$label" "$rps" "$p50" "$p99" "$errs"
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "the server DIED during this row; the end of its stderr:" >&2
    tail -n 5 "$work/serve.err" >&2
    pid=
    exit 1
  fi
}
row health "GET /health" "$CONNECTIONS" "" /health
row me "GET /api/me" "$CONNECTIONS" "" /api/me
row get "GET /api/models/{id}" "$CONNECTIONS" "" "/api/models/$mid"
row list "GET /api/models (20 models)" "$CONNECTIONS" "" /api/models
row patch "PATCH /api/models/{id} (rename)" "$CONNECTIONS" "$work/patch.lua" "/api/models/$mid"
row create "POST /api/models?wait=true (4 conns)" 4 "$work/create.lua" "/api/models?wait=true"

sleep 1
echo
echo "RSS: $idle_rss MB after seeding, $(rss_mb) MB after the load"
version=$(curl -fsS "$base/api/models/$mid" -H "X-API-Key: $key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
echo "model $mid is at version $version after the renames"
