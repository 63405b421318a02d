#!/usr/bin/env bash
# Builds a statically linked x86_64 rampart (static-pie, glibc crt-static; SQLCipher and its
# OpenSSL are compiled in), checks that it is static and that it runs with no shared
# libraries at all (inside an empty chroot, when run as root), and prints its path.
#
#   packaging/build-static.sh            # build + checks
#
# Needs: the Rust toolchain, gcc, make, perl (for the vendored OpenSSL build) and `file`.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
# crt-static: static-pie with glibc. The getrandom backend is pinned to the getrandom(2)
# syscall: a static binary cannot look the libc wrapper up at run time, and falling back to
# /dev/urandom would make the binary depend on device files being present.
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\""
cargo build --release --locked --target "$target" --bin rampart >&2
bin="${CARGO_TARGET_DIR:-target}/$target/release/rampart"

desc=$(file -b "$bin")
echo "file: $desc" >&2
case "$desc" in
  *"static-pie linked"*|*"statically linked"*) ;;
  *) echo "error: $bin is not statically linked" >&2; exit 1 ;;
esac
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "error: ldd lists shared libraries for $bin" >&2; ldd "$bin" >&2; exit 1
fi

if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  cp "$bin" "$root/rampart"
  mkdir -p "$root/tmp"
  chroot "$root" /rampart version >&2
  chroot "$root" /rampart --data-dir /tmp/data admin status >&2
  echo "ran inside an empty chroot (no shared libraries available)" >&2
fi
echo "$bin"
