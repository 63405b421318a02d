#!/usr/bin/env bash
# Installs aiosmtpd (a real SMTP server, from PyPI) into a virtualenv (default
# target/smtp-venv) for the tests that send invitation email. Prints the venv's python.
# Re-running is a no-op.
set -euo pipefail
venv="${1:-$(dirname "$0")/../target/smtp-venv}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "$venv/bin/python"; exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check "aiosmtpd>=1.4,<2" >&2
"$venv/bin/python" -c 'import aiosmtpd' >&2
echo "$venv/bin/python"
