#!/usr/bin/env bash
# Installs the published mipiti-verify 0.57.1 CLI into a virtualenv (default
# target/mipiti-venv), used by the interoperability tests. Its exact certifi pin may not be on
# the registry, so the package goes in with --no-deps and its dependencies without that pin
# (plus packaging and PyYAML, which change some verdicts). Re-running is a no-op.
set -euo pipefail
venv="${1:-$(dirname "$0")/../target/mipiti-venv}"
if [ -x "$venv/bin/mipiti-verify" ] && "$venv/bin/mipiti-verify" --version >/dev/null 2>&1; then
  echo "$venv/bin/mipiti-verify"; exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "mipiti-verify==0.57.1" >&2
"$venv/bin/pip" install -q --disable-pip-version-check certifi click cryptography google-re2 httpx jinja2 rich truststore packaging PyYAML "sigstore>=4.2,<5" >&2 2>/dev/null || \
  "$venv/bin/pip" install -q --disable-pip-version-check certifi click cryptography google-re2 httpx jinja2 rich truststore packaging PyYAML "sigstore>=4.2,<5" >&2
"$venv/bin/mipiti-verify" --version >&2
echo "$venv/bin/mipiti-verify"
