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
# OpenSSL's Configure turns the `-static` of crt-static C flags into no-threads; an OpenSSL
# without threads corrupts memory under concurrent SQLCipher connections (issue 18). The
# wrapper drops the flag (see packaging/openssl-perl.sh).
export OPENSSL_SRC_PERL="$PWD/packaging/openssl-perl.sh"
out="${CARGO_TARGET_DIR:-target}/$target/release"
# A target dir built before the wrapper holds a thread-less OpenSSL that cargo would keep
# (it does not watch OPENSSL_SRC_PERL): make it rebuild OpenSSL and SQLCipher.
for conf in "$out"/build/openssl-sys-*/out/openssl-build/install/include/openssl/configuration.h; do
  [ -f "$conf" ] || continue
  if ! grep -q '# *define OPENSSL_THREADS' "$conf"; then
    echo "rebuilding the vendored OpenSSL (and SQLCipher) with threads" >&2
    rm -rf "$out"/build/openssl-sys-* "$out"/.fingerprint/openssl-sys-* \
      "$out"/build/libsqlite3-sys-* "$out"/.fingerprint/libsqlite3-sys-*
    break
  fi
done
cargo build --release --locked --target "$target" --bin rampart >&2
bin="$out/rampart"
for conf in "$out"/build/openssl-sys-*/out/openssl-build/install/include/openssl/configuration.h; do
  if ! grep -q '# *define OPENSSL_THREADS' "$conf"; then
    echo "error: the vendored OpenSSL was built without threads ($conf)" >&2; exit 1
  fi
done

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
