#!/usr/bin/env bash
# Benchmark (not a test): tier-1 verification speed of `rampart verify check` against the
# published mipiti-verify 0.57.1 (`mipiti-verify check`) and ripgrep, on the same assertions
# over one large source tree.
#
#   bench/verify.sh [RAMPART_BIN] [TREE] [N]
#
# RAMPART_BIN defaults to target/release/rampart; TREE to the local cargo registry sources
# (a large, real, open-source tree already on disk); N (default 400) assertions are generated:
# per file one pattern_matches, one pattern_absent and one function_exists. ripgrep runs the
# same regexes over the same files. Goals: >= 20x faster than the Python CLI, within 3x of rg.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/rampart}
tree=${2:-$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)}
n=${3:-400}
[ -x "$bin" ] || { echo "build first: cargo build --release (or pass the binary)"; exit 2; }
command -v rg >/dev/null || { apt-get install -y -qq ripgrep >/dev/null 2>&1 || true; }
mv=$(realpath "$(scripts/install-mipiti-verify.sh 2>/dev/null | tail -1)")
bin=$(realpath "$bin")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# Files: the largest .rs files of the tree (relative paths), at most N/3 of them.
(cd "$tree" && find . -name '*.rs' -size +8k -size -1900k -printf '%s %P\n' | sort -rn | head -n $((n / 3)) | cut -d' ' -f2-) > "$work/files" || true
files=$(wc -l < "$work/files")
python3 - "$work/files" "$work/check.json" <<'PY'
import json, sys
files = [l.strip() for l in open(sys.argv[1]) if l.strip()]
out = []
for i, f in enumerate(files):
    out.append({"id": f"a{i}", "type": "pattern_matches", "params": {"file": f, "pattern": r"fn\s+[a-z_]+\s*\("}, "description": "fn"})
    out.append({"id": f"b{i}", "type": "pattern_absent", "params": {"file": f, "pattern": r"password\s*=\s*\"[^\"]+\""}, "description": "secret"})
    out.append({"id": f"c{i}", "type": "function_exists", "params": {"file": f, "name": "new"}, "description": "new"})
json.dump(out, open(sys.argv[2], "w"))
PY
echo "tree: $tree"
echo "assertions: $((files * 3)) over $files files ($(cd "$tree" && cat $(cat "$work/files") | wc -c | awk '{printf "%.1f MB", $1/1e6}'))"

# Wall clock of one run (date before/after). With GNU time installed, the CPU time (user+sys,
# children included) of the same run is recorded too: on a shared machine it is the steadier
# figure. Run the script several times and take medians.
cpu_of() { [ -s "$work/cpu.$1" ] && tail -1 "$work/cpu.$1" || echo "n/a"; }
t() {
  local s e tag=$1; shift
  s=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%U user %S sys' -o "$work/cpu.$tag" "$@" >/dev/null 2>&1 || true
  else
    "$@" >/dev/null 2>&1 || true
  fi
  e=$(date +%s.%N); echo "$e - $s" | bc
}
r=$(t r1 "$bin" verify check "$work/check.json" --project-root "$tree")
r2=$(t r2 "$bin" verify check "$work/check.json" --project-root "$tree")
p=$(cd "$tree" && t mv "$mv" check "$work/check.json")
g=$(cd "$tree" && t rg sh -c "xargs -a '$work/files' rg -c 'fn\s+[a-z_]+\s*\(' >/dev/null; xargs -a '$work/files' rg -c 'password\s*=\s*\"[^\"]+\"' >/dev/null; xargs -a '$work/files' rg -c '^\s*(pub\s+)?(async\s+)?fn\s+new\b' >/dev/null")
printf 'rampart verify check : %6.3f s (second run %6.3f s; CPU %s)\n' "$r" "$r2" "$(cpu_of r2)"
printf 'mipiti-verify check  : %6.3f s   -> rampart is %.1fx faster (CPU %s)\n' "$p" "$(echo "$p / $r2" | bc -l)" "$(cpu_of mv)"
printf 'ripgrep (same regexes): %6.3f s   -> rampart is %.2fx of rg (CPU %s)\n' "$g" "$(echo "$r2 / $g" | bc -l)" "$(cpu_of rg)"
