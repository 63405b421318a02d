#!/usr/bin/env bash
# Builds the static binary, then a .deb with the hardened systemd unit, sysusers/tmpfiles
# entries and the example config (metadata in Cargo.toml [package.metadata.deb]).
# Installs cargo-deb from crates.io on first use. Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/build-static.sh >/dev/null
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb >&2
cargo deb --no-build --no-strip --target x86_64-unknown-linux-gnu -p rampart
