#!/bin/bash
# The quick-start demo: installs what it needs, builds smimepub, makes a small demo PKI, starts a
# throwaway OpenLDAP directory on 127.0.0.1 with six partner contacts, then inspects, publishes,
# looks up and audits real certificates. The directory keeps running so you can try commands;
# the last lines say how to use and stop it.
# Usage: scripts/demo.sh [DEMODIR]   (default: /tmp/smimepub-demo)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${1:-/tmp/smimepub-demo}
BUILD="$ROOT/build"
PORT=${SMIMEPUB_DEMO_PORT:-3389}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*" | sed "s|$BUILD/||; s|$DEMO/||g"; "$@"; }

step "installing dependencies"
"$ROOT/scripts/install-deps.sh"

step "building"
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" -Dtests=false >/dev/null
ninja -C "$BUILD" >/dev/null
SMIMEPUB="$BUILD/smimepub"

if [ -f "$DEMO/sd/env" ]; then
	"$ROOT/tests/dirs/slapd.sh" stop "$DEMO/sd" >/dev/null 2>&1 || true
fi
rm -rf "$DEMO"
mkdir -p "$DEMO"

step "generating a demo PKI (a root, an issuing CA, partner certificates)"
"$ROOT/tests/pki/make-pki.sh" "$DEMO/pki" >/dev/null
PKI="$DEMO/pki"

step "starting a throwaway OpenLDAP directory on 127.0.0.1:$PORT"
"$ROOT/tests/dirs/slapd.sh" start "$DEMO/sd" "$PORT" >/dev/null
# shellcheck disable=SC1091
. "$DEMO/sd/env"
printf '%s' "$SLAPD_ROOTPW" >"$DEMO/password"
chmod 600 "$DEMO/password"

for who in "Ann Archer:ann" "Ben Baker:ben" "Cat Cooper:cat" "Dan Dawson:dan" "Eve Evans:eve" "Fay Fischer:fay"; do
	cn=${who%%:*}; id=${who##*:}
	printf 'dn: cn=%s,ou=partners,%s\nchangetype: add\nobjectClass: contact\ncn: %s\nmail: %s@partner.example\nproxyAddresses: SMTP:%s@partner.example\n\n' \
		"$cn" "$SLAPD_BASE" "$cn" "$id" "$id"
done | LDAPNOINIT=1 ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$DEMO/password" >/dev/null
echo "six partner contacts created under ou=partners,$SLAPD_BASE"

# The demo's certificates are dated around 2026-06-01; judge them at that moment.
COMMON=(-H "$SLAPD_URI" -b "$SLAPD_BASE" -D "$SLAPD_ROOTDN" -y "$DEMO/password"
	--ca-file "$PKI/root.pem" --untrusted "$PKI/intermediate.pem" --at 2026-06-01
	--journal "$DEMO/journal.ldif")

step "inspect: what would break a mail client?"
show "$SMIMEPUB" inspect --at 2026-06-01 --ca-file "$PKI/root.pem" \
	"$PKI/alice-chain.pem" "$PKI/demo-expired.pem" "$PKI/missing-int.pem" || true

step "publish: six partners' certificates onto their contacts"
show "$SMIMEPUB" "${COMMON[@]}" publish "$PKI/contacts"

step "publish again: nothing to do"
show "$SMIMEPUB" "${COMMON[@]}" publish "$PKI/contacts/ann.pem"

step "an expired certificate is refused (and explained)"
show "$SMIMEPUB" "${COMMON[@]}" publish "$PKI/demo-expired.pem" || true

step "lookup: what Outlook / Thunderbird will use for these recipients"
show "$SMIMEPUB" "${COMMON[@]}" lookup ann@partner.example ben@partner.example

step "a careless admin adds Fay's old, expired certificate anyway (--add --force)"
show "$SMIMEPUB" "${COMMON[@]}" publish --add --force "$PKI/demo-expired.pem" || true

step "audit: every certificate in the directory (exit 2: critical findings)"
show "$SMIMEPUB" "${COMMON[@]}" audit -q || true

step "prune --dry-run: the LDIF that would remove the bad value (nothing changes)"
show "$SMIMEPUB" "${COMMON[@]}" prune --dry-run || true

step "prune: remove it, journalled"
show "$SMIMEPUB" "${COMMON[@]}" prune

step "audit again: clean"
show "$SMIMEPUB" "${COMMON[@]}" audit

cat <<EOT

The demo directory is still running (slapd on $SLAPD_URI, base $SLAPD_BASE).
Try, for example:
  $SMIMEPUB -H $SLAPD_URI -D $SLAPD_ROOTDN -y $DEMO/password --ca-file $PKI/root.pem --at 2026-06-01 lookup fay@partner.example
The undo journal of the demo's changes is $DEMO/journal.ldif.
Stop the directory with:
  $ROOT/tests/dirs/slapd.sh stop $DEMO/sd
EOT
