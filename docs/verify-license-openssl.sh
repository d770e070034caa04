#!/bin/sh
# Verifies a Licensor License file with OpenSSL (and jq to read JSON), independently of Licensor's code:
#   1. the signing certificate chains to the root you pin, at the file's issuedAt (openssl verify -attime);
#   2. the Ed25519 signature covers the exact signed bytes (openssl pkeyutl -verify -rawin);
#   3. an online file (refreshBy/graceUntil) ends before its signing certificate does.
# Usage: sh docs/verify-license-openssl.sh <license file> <root.crt.pem>
# Prints the payload JSON and exits 0 only when every check passes. See docs/verify-with-openssl.md.
set -eu
license=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# base64url (no padding) -> standard base64 with padding, for `openssl base64 -d -A`
unurl() {
  s=$(tr '_-' '/+')
  case $((${#s} % 4)) in 2) s="$s==" ;; 3) s="$s=" ;; esac
  printf '%s' "$s"
}

# The envelope: base64 JSON between the armour lines (anything outside them is ignored).
sed -n '/^-----BEGIN LICENSOR LICENSE-----$/,/^-----END LICENSOR LICENSE-----$/p' "$license" | sed '1d;$d' |
  tr -d ' \t\r\n' | openssl base64 -d -A >"$work/envelope.json"
jq -e '.v == 1 and .alg == "EdDSA" and (.x5c | length) >= 1' "$work/envelope.json" >/dev/null ||
  { echo "not a version-1 EdDSA License envelope" >&2; exit 1; }

# The payload: base64url of the canonical JSON; those base64url characters are what was signed.
payload=$(jq -r .payload "$work/envelope.json")
printf '%s' "$payload" | unurl | openssl base64 -d -A >"$work/payload.json"
printf 'LICENSOR-LICENSE-V1\n%s' "$payload" >"$work/signed.bin"
jq -r .sig "$work/envelope.json" | unurl | openssl base64 -d -A >"$work/sig.bin"

# The signing certificate (x5c[0], base64 DER) and any intermediates (untrusted: only the pinned root anchors).
jq -r '.x5c[0]' "$work/envelope.json" | openssl base64 -d -A | openssl x509 -inform DER -out "$work/leaf.pem"
: >"$work/untrusted.pem"
for cert in $(jq -r '.x5c[1:][]' "$work/envelope.json"); do
  printf '%s' "$cert" | openssl base64 -d -A | openssl x509 -inform DER >>"$work/untrusted.pem"
done

# 1. Chain at issuedAt (whole seconds since the epoch).
issued=$(jq -r '.issuedAt | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601' "$work/payload.json")
if [ -s "$work/untrusted.pem" ]; then
  openssl verify -attime "$issued" -CAfile "$root" -untrusted "$work/untrusted.pem" "$work/leaf.pem" >&2
else
  openssl verify -attime "$issued" -CAfile "$root" "$work/leaf.pem" >&2
fi

# 2. Signature by the certified key over the exact signed bytes.
openssl x509 -in "$work/leaf.pem" -pubkey -noout >"$work/leaf.pub.pem"
openssl pkeyutl -verify -pubin -inkey "$work/leaf.pub.pem" -rawin -in "$work/signed.bin" -sigfile "$work/sig.bin" >&2

# 3. An online file must end while its signing certificate is valid.
not_after=$(openssl x509 -in "$work/leaf.pem" -enddate -noout | sed 's/^notAfter=//')
not_after_epoch=$(jq -rn --arg d "$not_after" '$d | strptime("%b %d %H:%M:%S %Y GMT") | mktime')
for field in refreshBy graceUntil; do
  at=$(jq -r --arg f "$field" '.[$f] // empty | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601' "$work/payload.json")
  if [ -n "$at" ] && [ "$at" -gt "$not_after_epoch" ]; then
    echo "$field is after the signing certificate expires ($not_after)" >&2
    exit 1
  fi
done

cat "$work/payload.json"
echo
