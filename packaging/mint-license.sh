#!/usr/bin/env bash
# Mint rampart license files (ES256 JWTs) for testing, or for a vendor with its own key.
#
# rampart accepts a license signed by the vendor key compiled into the binary
# (src/admin/license_vendor_key.pem) or by the key configured as
# license.extra_public_key / RAMPART_LICENSE_EXTRA_PUBLIC_KEY. The vendor's private key
# is never in the repository; pass whichever private key you hold.
#
# Usage:
#   mint-license.sh keygen KEY.pem
#       Create a new P-256 private key (PKCS#8, mode 0600) and print its public key PEM
#       (use it as RAMPART_LICENSE_EXTRA_PUBLIC_KEY, or as the vendor key when building).
#   mint-license.sh mint --key KEY.pem --licensee NAME --max-workspaces N
#                        [--max-orgs N] [--days N | --expires UNIX_SECONDS] [--out FILE]
#       Print (or write) a license JWT. Without --days/--expires it never expires.
#
# Example (test instance):
#   packaging/mint-license.sh keygen /tmp/lic.key > /tmp/lic.pub
#   packaging/mint-license.sh mint --key /tmp/lic.key --licensee "Acme" \
#       --max-workspaces 25 --max-orgs 3 --days 365 --out /tmp/license.jwt
#   RAMPART_LICENSE_EXTRA_PUBLIC_KEY="$(cat /tmp/lic.pub)" rampart admin license install /tmp/license.jwt
#
# Needs: bash, openssl (1.1.1 or 3.x), xxd or perl.
set -euo pipefail

die() { echo "mint-license: $*" >&2; exit 2; }

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

hex2bin() {
  if command -v xxd >/dev/null 2>&1; then xxd -r -p; else perl -ne 'chomp; print pack("H*", $_)'; fi
}

json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

keygen() {
  local out=${1:-}
  [[ -n $out ]] || die "keygen needs an output file"
  [[ ! -e $out ]] || die "$out exists; refusing to overwrite a key"
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out")
  openssl pkey -in "$out" -pubout
}

mint() {
  local key="" licensee="" max_ws="" max_orgs=1 exp="" out=""
  while [[ $# -gt 0 ]]; do
    case $1 in
      --key) key=$2; shift 2 ;;
      --licensee) licensee=$2; shift 2 ;;
      --max-workspaces) max_ws=$2; shift 2 ;;
      --max-orgs) max_orgs=$2; shift 2 ;;
      --days) exp=$(( $(date +%s) + $2 * 86400 )); shift 2 ;;
      --expires) exp=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      *) die "unknown argument $1" ;;
    esac
  done
  [[ -r $key ]] || die "--key FILE (P-256 private key PEM) is required"
  [[ -n $licensee ]] || die "--licensee is required"
  [[ $max_ws =~ ^[0-9]+$ ]] || die "--max-workspaces N is required"
  [[ $max_orgs =~ ^[0-9]+$ ]] || die "--max-orgs must be a number"
  [[ -z $exp || $exp =~ ^[0-9]+$ ]] || die "--expires must be unix seconds"
  openssl pkey -in "$key" -noout -text 2>/dev/null | grep -q "NIST CURVE: P-256\|prime256v1" \
    || die "$key is not a P-256 private key"

  local now claims header signing_input sig
  now=$(date +%s)
  claims="{\"sub\":\"$(json_escape "$licensee")\",\"iat\":$now,\"max_workspaces\":$max_ws,\"max_orgs\":$max_orgs"
  [[ -n $exp ]] && claims+=",\"exp\":$exp"
  claims+="}"
  header='{"alg":"ES256","typ":"JWT"}'
  signing_input="$(printf '%s' "$header" | b64url).$(printf '%s' "$claims" | b64url)"
  # openssl signs in DER; JWS ES256 wants r||s, each left-padded to 32 bytes.
  sig=$(printf '%s' "$signing_input" | openssl dgst -sha256 -sign "$key" \
    | openssl asn1parse -inform DER \
    | awk -F: '/INTEGER/ { h=$NF; while (length(h) < 64) h="0" h; printf "%s", h }' \
    | hex2bin | b64url)
  local token="$signing_input.$sig"
  if [[ -n $out ]]; then
    (umask 077 && printf '%s\n' "$token" > "$out")
  else
    printf '%s\n' "$token"
  fi
}

case ${1:-} in
  keygen) shift; keygen "$@" ;;
  mint) shift; mint "$@" ;;
  *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
