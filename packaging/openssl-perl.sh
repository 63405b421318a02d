#!/bin/sh
# The perl that runs OpenSSL's ./Configure for the vendored OpenSSL inside SQLCipher
# (openssl-src reads OPENSSL_SRC_PERL; packaging/build-static.sh points it here).
#
# For a crt-static target the C compiler flags carry `-static`, and OpenSSL's Configure
# turns `-static` into no-threads (and no-pic). An OpenSSL without thread support shared by
# the SQLCipher connections of a multi-threaded server corrupts memory: under concurrent
# writes pages failed their HMAC check ("file is not a database") and the process aborted
# with "double free" (issue 18). The flag only matters for linking OpenSSL's own programs,
# which are not built (`make build_libs`); the final link of rampart is static either way.
# So drop it here and keep threads (and PIC, which a static-pie needs anyway).
for a do
  shift
  [ "$a" = -static ] || set -- "$@" "$a"
done
exec "${PERL:-perl}" "$@"
