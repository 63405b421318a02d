#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, from the npm
# registry: needs network) against a throwaway rampart appliance.
#
#   scripts/mcp-conformance.sh            # uses target/debug/rampart (cargo build first)
#   RAMPART_BIN=target/release/rampart scripts/mcp-conformance.sh
#   CONFORMANCE_VERSION=0.1.16 scripts/mcp-conformance.sh   # newer suites need Node >= 22
#
# The suite cannot send X-API-Key, so requests go through scripts/mcp-key-proxy.mjs, which
# adds the key. The full suite is run and its summary printed; most of its scenarios call the
# suite's own fixture tools/resources/prompts (test_simple_text, resources/list, ...) that a
# product server does not have, so the script's verdict is over the scenarios that apply to
# rampart: server-initialize, ping, tools-list, server-sse-multiple-streams,
# dns-rebinding-protection, resources-list and prompts-list. Exit 0 when all of those pass.
#
# The appliance refuses unknown RAMPART_* variables, so it runs with a clean environment: no
# RAMPART_* variable of the caller (RAMPART_BIN included) reaches it, only the settings below.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${RAMPART_BIN:-$root/target/debug/rampart}"
version="${CONFORMANCE_VERSION:-0.1.12}"
port="${MCP_PORT:-18791}"
proxy_port="${PROXY_PORT:-18792}"
applicable=(server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection resources-list prompts-list)

[ -x "$bin" ] || { echo "no rampart binary at $bin (cargo build, or set RAMPART_BIN)" >&2; exit 2; }
command -v node >/dev/null || { echo "node is required" >&2; exit 2; }

work="$(mktemp -d -t rampart-mcp-conformance-XXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
# The caller's RAMPART_* variables, removed from the appliance's environment.
unset_rampart=()
for v in $(compgen -e); do
  case "$v" in RAMPART_*) unset_rampart+=(-u "$v") ;; esac
done
# A plain command (not a function), so `$!` of a background run is rampart's own pid.
rampart=(env "${unset_rampart[@]}" RAMPART_ARGON2_MEMORY_KIB=256 RAMPART_ARGON2_ITERATIONS=1
  "$bin" --data-dir "$data")
printf 'Conformance-Passw0rd!\n' | "${rampart[@]}" admin setup \
  --email conformance@example.com --name Conformance --password-stdin >/dev/null
key="$("${rampart[@]}" admin api-key create --user conformance@example.com \
  --scope developer 2>/dev/null | head -n1)"

MFA_REQUIRED_FOR_LOCAL=false "${rampart[@]}" serve --bind "127.0.0.1:$port" \
  >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
ready=0
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && { ready=1; break; }
  sleep 0.2
done
[ "$ready" = 1 ] || { echo "the appliance did not become ready:" >&2; cat "$work/serve.log" >&2; exit 1; }
RAMPART_API_KEY="$key" node "$here/mcp-key-proxy.mjs" "$proxy_port" "http://127.0.0.1:$port" \
  2>"$work/proxy.log" &
pids+=($!)
sleep 1
echo "== appliance ready at http://127.0.0.1:$port (key proxy on port $proxy_port)"

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
