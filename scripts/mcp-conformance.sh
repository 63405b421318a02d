#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, from the npm
# registry: needs network) against a throwaway rampart appliance.
#
#   scripts/mcp-conformance.sh            # uses target/debug/rampart (cargo build first)
#   RAMPART_BIN=/usr/bin/rampart scripts/mcp-conformance.sh
#   CONFORMANCE_VERSION=0.1.16 scripts/mcp-conformance.sh   # newer suites need Node >= 22
#
# The suite cannot send X-API-Key, so requests go through scripts/mcp-key-proxy.mjs, which
# adds the key. The full suite is run and its summary printed; most of its scenarios call the
# suite's own fixture tools/resources/prompts (test_simple_text, resources/list, ...) that a
# product server does not have, so the script's verdict is over the scenarios that apply to
# rampart: server-initialize, ping, tools-list, server-sse-multiple-streams and
# dns-rebinding-protection. Exit 0 when all of those pass.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${RAMPART_BIN:-$root/target/debug/rampart}"
version="${CONFORMANCE_VERSION:-0.1.12}"
port="${MCP_PORT:-18791}"
proxy_port="${PROXY_PORT:-18792}"
applicable=(server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection)

[ -x "$bin" ] || { echo "no rampart binary at $bin (cargo build, or set RAMPART_BIN)" >&2; exit 2; }
command -v node >/dev/null || { echo "node is required" >&2; exit 2; }

work="$(mktemp -d -t rampart-mcp-conformance-XXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
export RAMPART_ARGON2_MEMORY_KIB=256 RAMPART_ARGON2_ITERATIONS=1
printf 'Conformance-Passw0rd!\n' | "$bin" admin --data-dir "$data" setup \
  --email conformance@example.com --name Conformance --password-stdin >/dev/null
key="$("$bin" admin --data-dir "$data" api-key create --user conformance@example.com \
  --scope developer 2>/dev/null | head -n1)"

MFA_REQUIRED_FOR_LOCAL=false "$bin" serve --data-dir "$data" --bind "127.0.0.1:$port" \
  >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
RAMPART_API_KEY="$key" node "$here/mcp-key-proxy.mjs" "$proxy_port" "http://127.0.0.1:$port" \
  2>"$work/proxy.log" &
pids+=($!)
sleep 1

(cd "$work" && npm install --silent --no-audit --no-fund \
  "@modelcontextprotocol/conformance@$version" >/dev/null)
suite="$work/node_modules/.bin/conformance"
url="http://127.0.0.1:$proxy_port/mcp"

echo "== full suite (@modelcontextprotocol/conformance@$version) against $url"
"$suite" server --url "$url" 2>&1 | sed -n '/=== SUMMARY ===/,$p' || true

echo "== scenarios that apply to rampart"
failed=0
for s in "${applicable[@]}"; do
  out="$("$suite" server --url "$url" --scenario "$s" 2>&1 || true)"
  line="$(grep -m1 'Passed:' <<<"$out" || echo 'no result')"
  echo "$s: $line"
  grep -q ', 0 failed' <<<"$line" || failed=1
done
exit "$failed"
