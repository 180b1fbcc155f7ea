#!/bin/bash
# make-pki.sh OUTDIR — generate smimepub's test PKI with the openssl CLI only.
#
# Every validity period is fixed, so results are stable when judged at
# T0 = 2026-06-01T00:00:00Z (smimepub --at 2026-06-01T00:00:00Z,
# openssl verify -attime 1780272000).  Keys and serial numbers are fresh on
# every run.  See MANIFEST.txt in OUTDIR (and README.md next to this script)
# for what each file is and what smimepub is expected to report for it.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
out=$1

if [ -e "$out" ] && [ ! -d "$out" ]; then
    echo "$0: $out exists and is not a directory" >&2; exit 1
fi
mkdir -p "$out"
cd "$out"
# Refuse to scribble over a directory that isn't an earlier (maybe failed) run.
if [ -n "$(ls -A .)" ] && [ ! -f MANIFEST.txt ] && [ ! -f ca/req.cnf ]; then
    echo "$0: $out is not empty and is not the output of an earlier run" >&2; exit 1
fi
rm -rf ca contacts
rm -f ./*.pem ./*.key ./*.der ./*.b64 ./*.p7b ./*.bin MANIFEST.txt
mkdir -p ca/tmp contacts
tmp=ca/tmp

# The Test PKI must not depend on the site's openssl.cnf.
export OPENSSL_CONF=ca/req.cnf
cat > ca/req.cnf <<'EOF'
# Minimal configuration for "openssl req" (subjects always come from -subj).
[ req ]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes
[ req_dn ]
EOF

# run CMD...: run quietly; show the output only when it fails.
run() {
    local log=$tmp/run.log
    if ! "$@" > "$log" 2>&1; then
        echo "$0: command failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# genkey rsa|rsa1024|ec FILE
genkey() {
    case $1 in
        rsa)     run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" ;;
        rsa1024) run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$2" ;;
        ec)      run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
        *) echo "genkey: $1?" >&2; exit 1 ;;
    esac
}

# newca ID CERTNAME: state directory and openssl ca configuration for one CA
# whose certificate/key are CERTNAME.pem / CERTNAME.key in OUTDIR.
newca() {
    local id=$1 name=$2
    mkdir -p "ca/$id/newcerts"
    : > "ca/$id/index.txt"
    echo "unique_subject = no" > "ca/$id/index.txt.attr"
    echo 01 > "ca/$id/crlnumber"
    cat > "ca/$id/ca.cnf" <<EOF
# openssl ca configuration for $name.pem (paths relative to OUTDIR).
[ ca ]
default_ca = this_ca
[ this_ca ]
dir = ca/$id
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
crlnumber = \$dir/crlnumber
rand_serial = yes
certificate = $name.pem
private_key = $name.key
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
preserve = yes
email_in_dn = yes
unique_subject = no
copy_extensions = none
string_mask = utf8only
crl_extensions = crl_ext
[ policy_any ]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
commonName = optional
emailAddress = optional
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
}

# issue NAME CA-ID KEYTYPE SUBJECT START END EXTENSIONS [MD]
#   Creates NAME.key and NAME.pem.  CA-ID "self" makes a self-signed root
#   (its ca/ directory must be prepared with newca first and is given as
#   $selfca).  EXTENSIONS is the body of an x509v3 extension section; any
#   extra sections may follow it.
issue() {
    local name=$1 ca=$2 keytype=$3 subj=$4 start=$5 end=$6 ext=$7 md=${8:-sha256}
    local base=${name//\//_}
    genkey "$keytype" "$name.key"
    run openssl req -new -key "$name.key" -subj "$subj" -out "$tmp/$base.csr"
    printf '[ ext ]\n%s\n' "$ext" > "$tmp/$base.ext"
    local -a sign
    if [ "$ca" = self ]; then
        sign=(-config "ca/$selfca/ca.cnf" -selfsign -keyfile "$name.key")
    else
        sign=(-config "ca/$ca/ca.cnf")
    fi
    run openssl ca "${sign[@]}" -batch -notext -preserveDN -md "$md" \
        -startdate "$start" -enddate "$end" \
        -extfile "$tmp/$base.ext" -extensions ext \
        -in "$tmp/$base.csr" -out "$name.pem"
}

# Dates (YYYYMMDDHHMMSSZ).
d() { echo "${1//-/}000000Z"; }

AIA_ROOT=http://pki.example.test/root.cer
AIA_INT=http://pki.example.test/issuing1.cer
AIA_PROOT=http://pki.partner.example/root.cer
AIA_PINT=http://pki.partner.example/issuing2.cer

KU_RSA="digitalSignature, keyEncipherment"
KU_EC="digitalSignature, keyAgreement"

# leafext SAN KU EKU AIA [BASICCONSTRAINTS]: extension section body of a leaf.
#   Empty SAN / KU / EKU / AIA leave that extension out.
leafext() {
    local san=$1 ku=$2 eku=$3 aia=$4 bc=${5:-CA:FALSE}
    echo "basicConstraints = critical, $bc"
    [ -z "$ku" ]  || echo "keyUsage = critical, $ku"
    [ -z "$eku" ] || echo "extendedKeyUsage = $eku"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid:always"
    [ -z "$aia" ] || echo "authorityInfoAccess = caIssuers;URI:$aia"
    [ -z "$san" ] || echo "subjectAltName = $san"
}

# leaf NAME KEYTYPE SUBJECT START END SAN [KU [EKU]]: an ordinary S/MIME
# leaf from Test Issuing CA 1.  KU defaults by key type; EKU to
# emailProtection ("-" for none).
leaf() {
    local name=$1 kt=$2 subj=$3 start=$4 end=$5 san=$6 ku=${7:-} eku=${8:-emailProtection}
    if [ -z "$ku" ]; then
        case $kt in ec) ku=$KU_EC ;; *) ku=$KU_RSA ;; esac
    fi
    [ "$eku" != - ] || eku=
    issue "$name" int "$kt" "$subj" "$(d "$start")" "$(d "$end")" \
        "$(leafext "$san" "$ku" "$eku" "$AIA_INT")"
}

ORG="/C=DE/O=Partner Example Ltd"
S=2026-01-01 E=2027-01-01          # default leaf validity

# ---------------------------------------------------------------- CAs
CAEXT="basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash"

newca root root
selfca=root issue root self rsa "/C=DE/O=Example Test PKI/CN=Test Root CA" \
    "$(d 2020-01-01)" "$(d 2040-01-01)" "$CAEXT"

newca int intermediate
issue intermediate root rsa "/C=DE/O=Example Test PKI/CN=Test Issuing CA 1" \
    "$(d 2020-01-01)" "$(d 2039-01-01)" "basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:$AIA_ROOT"

newca proot other-root
selfca=proot issue other-root self ec "/C=NL/O=Partner Trust Services/CN=Partner Root CA" \
    "$(d 2020-01-01)" "$(d 2040-01-01)" "$CAEXT"

newca pint other-intermediate
issue other-intermediate proot ec "/C=NL/O=Partner Trust Services/CN=Partner Issuing CA 2" \
    "$(d 2020-01-01)" "$(d 2039-01-01)" "basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:$AIA_PROOT"

# ---------------------------------------------------------------- alice
ALICE="$ORG/CN=Alice Example/emailAddress=alice@partner.example"
leaf alice             rsa "$ALICE" $S $E                  email:alice@partner.example
leaf alice-new         rsa "$ALICE" 2026-03-01 2028-03-01  email:alice@partner.example
leaf alice-old-expired rsa "$ALICE" 2024-01-01 2025-01-01  email:alice@partner.example

run openssl x509 -in alice.pem -outform DER -out alice.der
# Bare base64 of the DER, 64-character lines, CRLF line ends, no header.
openssl base64 -e -in alice.der | sed 's/$/\r/' > alice.b64
{
    printf 'Bag Attributes\n    friendlyName: Alice Example\n'
    printf 'subject=%s\nissuer=Test Issuing CA 1\n' "$ALICE"
    cat alice.pem
    printf '\nThis text between the blocks is not part of any certificate.\n'
    printf 'subject=Test Issuing CA 1\n\n'
    cat intermediate.pem
    printf '\n-- trailing junk after the last block --\n'
} > alice-chain.pem
# PKCS#7 certs-only, intermediate first (the leaf is not the first).
run openssl crl2pkcs7 -nocrl -certfile intermediate.pem -certfile alice.pem \
    -outform DER -out alice.p7b
run openssl pkcs7 -inform DER -in alice.p7b -outform PEM -out alice-p7b.pem

# ---------------------------------------------------------------- addresses
leaf bob-ec ec "$ORG/CN=Bob Example" $S $E email:Bob@Partner.EXAMPLE
leaf carol-sanonly ec "$ORG/CN=Carol Smith/emailAddress=CAROL@PARTNER.EXAMPLE" $S $E \
    "email:carol@partner.example, email:c.smith@partner.example"
leaf dave-cn ec "$ORG/CN=dave@partner.example" $S $E ""
leaf noaddr ec "$ORG/CN=No Address" $S $E ""
leaf idn ec "/CN=IDN User" $S $E email:user@xn--bcher-kva.example
# FORMAT:UTF8 is needed: a bare "UTF8:jörg..." is read as Latin-1 and the
# UTF-8 bytes would be encoded twice.  It holds a comma, hence the section.
issue smtputf8 int ec "/CN=Joerg Buecher" "$(d $S)" "$(d $E)" \
    "$(leafext @smtputf8_san "$KU_EC" emailProtection "$AIA_INT")
[ smtputf8_san ]
otherName.1 = 1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8String:jörg@bücher.example"

# rfc822Name "evil@partner.example<NUL>.attacker.test": the SAN is built with
# the ASN.1 generator from the hex of the string's bytes.  The generator takes
# hex only for OCTET STRING, but [1] IMPLICIT replaces the tag, so the DER is
# exactly that of an rfc822Name (81 len bytes...) holding those bytes.
nulhex=$( { printf 'evil@partner.example'; printf '\000'; printf '.attacker.test'; } \
          | od -An -v -tx1 | tr -d ' \n')
issue nul-email int ec "$ORG/CN=Evil" "$(d $S)" "$(d $E)" \
    "$(leafext "ASN1:SEQUENCE:nul_san" "$KU_EC" emailProtection "$AIA_INT")
[ nul_san ]
mail = IMPLICIT:1,FORMAT:HEX,OCTETSTRING:$nulhex"

# ---------------------------------------------------------------- validity
leaf expired  ec "$ORG/CN=Expired Example"  2025-01-01 2026-01-01 email:expired@partner.example
leaf notyet   ec "$ORG/CN=NotYet Example"   2027-01-01 2028-01-01 email:notyet@partner.example
leaf expiring ec "$ORG/CN=Expiring Example" 2025-06-15 2026-06-15 email:expiring@partner.example

# ---------------------------------------------------------------- purposes
leaf signonly  rsa "$ORG/CN=SignOnly Example"  $S $E email:signonly@partner.example  digitalSignature
leaf enconly   rsa "$ORG/CN=EncOnly Example"   $S $E email:enconly@partner.example   keyEncipherment
leaf noeku     rsa "$ORG/CN=NoEKU Example"     $S $E email:noeku@partner.example     "" -
leaf servereku rsa "$ORG/CN=ServerEKU Example" $S $E email:servereku@partner.example "" serverAuth

# ---------------------------------------------------------------- weak / CA
leaf weak-rsa1024 rsa1024 "$ORG/CN=Weak Key Example" $S $E email:weak@partner.example
issue sha1 int rsa "$ORG/CN=SHA1 Example" "$(d $S)" "$(d $E)" \
    "$(leafext email:sha1@partner.example "$KU_RSA" emailProtection "$AIA_INT")" sha1
issue ca-leaf int rsa "$ORG/CN=CA Leaf Example" "$(d $S)" "$(d $E)" \
    "$(leafext email:ca-leaf@partner.example \
        "digitalSignature, keyEncipherment, keyCertSign, cRLSign" \
        emailProtection "$AIA_INT" "CA:TRUE")"

# ---------------------------------------------------------------- chains
issue untrusted pint ec "/C=NL/O=Partner Example BV/CN=Ursula Untrusted" "$(d $S)" "$(d $E)" \
    "$(leafext email:untrusted@partner.example "$KU_EC" emailProtection "$AIA_PINT")"
leaf missing-int ec "$ORG/CN=Mike Missing" $S $E email:mike@partner.example

# ---------------------------------------------------------------- revocation
leaf revoked ec "$ORG/CN=Revoked Example" $S $E email:revoked@partner.example
run openssl ca -config ca/int/ca.cnf -batch -revoke revoked.pem -crl_reason keyCompromise
# Fix the revocation date (openssl records "now") so the CRL is stable.
awk 'BEGIN { FS = OFS = "\t" } $1 == "R" { sub(/^[0-9]+Z/, "260415000000Z", $3) } { print }' \
    ca/int/index.txt > "$tmp/index.txt" && cat "$tmp/index.txt" > ca/int/index.txt
CRLDATES=(-crl_lastupdate "$(d 2026-05-01)" -crl_nextupdate "$(d 2026-12-01)")
run openssl ca -config ca/int/ca.cnf -batch -gencrl "${CRLDATES[@]}" -out crl.pem
run openssl ca -config ca/root/ca.cnf -batch -gencrl "${CRLDATES[@]}" -out root-crl.pem
cat crl.pem root-crl.pem > crls.pem

# ---------------------------------------------------------------- bundles / junk
cat alice.pem bob-ec.pem intermediate.pem > mixed.pem
openssl rand -out garbage.bin 1024
head -c $(( $(wc -c < alice.der) / 2 )) alice.der > truncated.der
: > empty.pem
{
    echo "-----BEGIN CERTIFICATE-----"
    openssl rand 600 | openssl base64 -e
    echo "-----END CERTIFICATE-----"
} > notcert.pem

# ---------------------------------------------------------------- demo contacts
leaf contacts/ann rsa "$ORG/CN=Ann Archer/emailAddress=ann@partner.example" $S $E email:ann@partner.example
leaf contacts/ben ec  "$ORG/CN=Ben Baker"   $S $E email:ben@partner.example
leaf contacts/cat rsa "$ORG/CN=Cat Cooper"  $S $E email:cat@partner.example
leaf contacts/dan ec  "$ORG/CN=Dan Dawson"  $S $E email:dan@partner.example
leaf contacts/eve rsa "$ORG/CN=Eve Evans"   $S $E email:eve@partner.example
leaf contacts/fay rsa "$ORG/CN=Fay Fischer" $S $E email:fay@partner.example
leaf demo-expired rsa "$ORG/CN=Fay Fischer" 2025-01-01 2026-01-01 email:fay@partner.example

rm -rf "$tmp"

# ---------------------------------------------------------------- self-check
T0=1780272000   # 2026-06-01T00:00:00Z
vfy() { openssl verify -attime $T0 -CAfile root.pem "$@" > /dev/null 2>&1; }
fail() { echo "$0: self-check failed: $*" >&2; exit 1; }
vfy -untrusted intermediate.pem -purpose smimeencrypt alice.pem || fail "alice.pem does not verify"
vfy -untrusted intermediate.pem -crl_check -CRLfile crl.pem alice.pem || fail "alice.pem with CRL"
! vfy -untrusted intermediate.pem -crl_check -CRLfile crl.pem revoked.pem || fail "revoked.pem not revoked"
! vfy -untrusted intermediate.pem expired.pem || fail "expired.pem verifies"
! vfy alice.pem || fail "alice.pem verifies without the intermediate"
vfy -CAfile other-root.pem -untrusted other-intermediate.pem untrusted.pem \
    || fail "untrusted.pem does not verify against its own root"

# ---------------------------------------------------------------- manifest
cat > MANIFEST.txt <<'EOF'
# smimepub test PKI — generated by tests/pki/make-pki.sh
#
# T0 = 2026-06-01T00:00:00Z (smimepub --at 2026-06-01T00:00:00Z; openssl verify -attime 1780272000).
# Unless a line says otherwise, expectations are for
#   smimepub inspect --at 2026-06-01T00:00:00Z --ca-file OUTDIR/root.pem --untrusted OUTDIR/intermediate.pem FILE
# with the default --warn-days 30 and no --crl.
# Keys and serial numbers are random on every run; dates, names, addresses and extensions are fixed.
# Every NAME.pem certificate has its unencrypted PKCS#8 private key in NAME.key.
# Leaves are issued by intermediate.pem and are valid 2026-01-01..2027-01-01, with
# EKU emailProtection, keyUsage digitalSignature+keyEncipherment (RSA) or digitalSignature+keyAgreement (EC P-256),
# basicConstraints CA:FALSE and AIA caIssuers http://pki.example.test/issuing1.cer, unless the line says otherwise.
#
# file | what it is | expected addresses | expected problems at T0 | notes
#
root.pem | "Test Root CA", self-signed RSA 2048, CA:TRUE, 2020-01-01..2040-01-01 | - | - | the trust anchor (--ca-file)
intermediate.pem | "Test Issuing CA 1", RSA 2048, signed by root, CA:TRUE pathlen:0, 2020-01-01..2039-01-01, AIA caIssuers http://pki.example.test/root.cer | - | - | pass with --untrusted
other-root.pem | "Partner Root CA", self-signed EC P-256, 2020-01-01..2040-01-01 | - | - | second hierarchy; NOT a trust anchor in the tests
other-intermediate.pem | "Partner Issuing CA 2", EC P-256, signed by other-root, 2020-01-01..2039-01-01, AIA caIssuers http://pki.partner.example/root.cer | - | - |
alice.pem | Alice, RSA 2048, subject CN=Alice Example + E=alice@partner.example, SAN email:alice@partner.example | alice@partner.example | - | without --untrusted: missing_intermediate (http://pki.example.test/issuing1.cer)
alice.der | alice.pem as DER | alice@partner.example | - |
alice.b64 | alice.pem as bare base64 of the DER: no header lines, 64-character lines, CRLF line ends | alice@partner.example | - |
alice-chain.pem | alice.pem + intermediate.pem (PEM) with junk text before, between and after the blocks | alice@partner.example | - | one leaf (alice); the intermediate is found in the file, so no --untrusted is needed
alice.p7b | PKCS#7 certs-only (DER) holding intermediate then alice (leaf not first) | alice@partner.example | - | one leaf (alice); intermediate travels in the bundle
alice-p7b.pem | alice.p7b in PEM (-----BEGIN PKCS7-----) | alice@partner.example | - | same as alice.p7b
alice-new.pem | Alice's newer certificate, RSA 2048, same subject and address, 2026-03-01..2028-03-01 | alice@partner.example | - | on an entry together with alice.pem, alice.pem is superseded
alice-old-expired.pem | Alice's old certificate, RSA 2048, same subject and address, 2024-01-01..2025-01-01 | alice@partner.example | expired |
bob-ec.pem | Bob, EC P-256, SAN email:Bob@Partner.EXAMPLE (mixed case), no E= | Bob@partner.example | - | domain lower-cased, local part kept; matches bob@partner.example case-insensitively. NB: openssl verify -purpose smimeencrypt rejects it (OpenSSL wants keyEncipherment even for EC)
carol-sanonly.pem | Carol, EC, SAN email:carol@partner.example + email:c.smith@partner.example, subject E=CAROL@PARTNER.EXAMPLE | carol@partner.example, c.smith@partner.example | - | the E= duplicates the first SAN address case-insensitively and is dropped; SAN order kept
dave-cn.pem | Dave, EC, no SAN, no E=, subject CN=dave@partner.example | dave@partner.example | address_from_cn | address_from_cn is a warning
noaddr.pem | EC, no SAN, no E=, CN=No Address | - | no_address |
idn.pem | EC, SAN rfc822Name user@xn--bcher-kva.example (A-label of bücher.example) | user@xn--bcher-kva.example | - |
smtputf8.pem | EC, SAN otherName id-on-SmtpUTF8Mailbox (1.3.6.1.5.5.7.8.9, UTF8String) jörg@bücher.example; no rfc822Name, no E= | jörg@xn--bcher-kva.example | - | as written in the certificate: jörg@bücher.example; the domain compares in A-label form
nul-email.pem | EC, SAN rfc822Name "evil@partner.example\0.attacker.test" (embedded NUL byte), no E=, CN=Evil | - | bad_address | no usable address; the NUL address must never match evil@partner.example (an implementation may also add no_address)
expired.pem | EC, 2025-01-01..2026-01-01 | expired@partner.example | expired |
notyet.pem | EC, 2027-01-01..2028-01-01 | notyet@partner.example | not_yet_valid |
expiring.pem | EC, 2025-06-15..2026-06-15 (14 days left at T0) | expiring@partner.example | expiring | warning; with --warn-days 10: no problem
signonly.pem | RSA, keyUsage digitalSignature only | signonly@partner.example | no_encryption | sign=yes encrypt=no
enconly.pem | RSA, keyUsage keyEncipherment only | enconly@partner.example | - | sign=no encrypt=yes
noeku.pem | RSA, no extendedKeyUsage extension | noeku@partner.example | - | sign=yes encrypt=yes
servereku.pem | RSA, EKU serverAuth only | servereku@partner.example | no_email_protection | sign=no encrypt=no (keyUsage itself would allow both)
weak-rsa1024.pem | RSA 1024 | weak@partner.example | weak_key | warning; openssl verify: OK at default/-auth_level 0 and 1, "EE certificate key too weak" at -auth_level 2
sha1.pem | RSA 2048, signed sha1WithRSAEncryption by intermediate | sha1@partner.example | weak_signature | warning; openssl verify: OK at default/-auth_level 0, "CA signature digest algorithm too weak" at -auth_level 1 and 2
ca-leaf.pem | RSA, basicConstraints CA:TRUE, keyUsage digitalSignature+keyEncipherment+keyCertSign+cRLSign, EKU emailProtection | ca-leaf@partner.example | is_ca |
untrusted.pem | EC, issued by other-intermediate (Partner Issuing CA 2), AIA caIssuers http://pki.partner.example/issuing2.cer | untrusted@partner.example | missing_intermediate | names http://pki.partner.example/issuing2.cer; with --untrusted OUTDIR/other-intermediate.pem instead: untrusted; with --ca-file other-root.pem --untrusted other-intermediate.pem: no problem
missing-int.pem | EC, ordinary leaf for Mike | mike@partner.example | - | the missing-intermediate case: without --untrusted: missing_intermediate naming http://pki.example.test/issuing1.cer
revoked.pem | EC, revoked (keyCompromise, 2026-04-15) in crl.pem | revoked@partner.example | - | with --crl crl.pem (or crls.pem): revoked
crl.pem | CRL from Test Issuing CA 1, lastUpdate 2026-05-01, nextUpdate 2026-12-01, revokes revoked.pem | - | - | enough when only the leaf is checked against a CRL
root-crl.pem | empty CRL from Test Root CA, lastUpdate 2026-05-01, nextUpdate 2026-12-01 | - | - | needed for whole-chain CRL checks (the intermediate's status)
crls.pem | crl.pem followed by root-crl.pem | - | - | pass this with --crl for whole-chain checking (openssl verify -crl_check_all)
mixed.pem | PEM with alice.pem, bob-ec.pem and intermediate.pem | alice@partner.example; Bob@partner.example | - | two leaves, each reported separately; the intermediate is not a leaf
garbage.bin | 1024 random bytes | - | malformed |
truncated.der | first half of alice.der | - | malformed |
empty.pem | empty file (0 bytes) | - | malformed | no certificate in the file
notcert.pem | a "CERTIFICATE" PEM block whose base64 decodes to 600 random bytes | - | malformed |
contacts/ann.pem | demo contact Ann Archer, RSA, SAN + E=ann@partner.example | ann@partner.example | - |
contacts/ben.pem | demo contact Ben Baker, EC | ben@partner.example | - |
contacts/cat.pem | demo contact Cat Cooper, RSA | cat@partner.example | - |
contacts/dan.pem | demo contact Dan Dawson, EC | dan@partner.example | - |
contacts/eve.pem | demo contact Eve Evans, RSA | eve@partner.example | - |
contacts/fay.pem | demo contact Fay Fischer, RSA | fay@partner.example | - |
demo-expired.pem | Fay Fischer's older certificate, RSA, 2025-01-01..2026-01-01 (kept outside contacts/ on purpose) | fay@partner.example | expired | with contacts/fay.pem on the same entry: the one to prune
ca/ | openssl ca state and configuration (index.txt, newcerts/, ca.cnf per CA: root, int, proot, pint) | - | - | not test input
EOF
