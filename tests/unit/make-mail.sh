#!/bin/bash
# make-mail.sh PKIDIR OUTDIR — signed / unsigned / encrypted / broken mail for test_message,
# made with the openssl CLI (and gpgsm when it is installed) from the test PKI.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PKIDIR OUTDIR" >&2; exit 2; }
pki=$1
out=$2
mkdir -p "$out"
cd "$out"
export OPENSSL_CONF=/dev/null

lf() { sed 's/\r$//' "$1" > "$2"; }
crlf() { sed 's/\r$//; s/$/\r/' "$1" > "$2"; }
# withid ID FILE: prepend a Message-ID header
withid() { { printf 'Message-ID: <%s@test.example>\n' "$1"; cat "$2"; } > "$2.tmp" && mv "$2.tmp" "$2"; }

printf 'Content-Type: text/plain; charset=us-ascii\n\nHello Bob,\n\nhere is my certificate.\nRegards, Alice\n' > body.txt

# multipart/signed, application/x-pkcs7-signature (openssl smime) and pkcs7-signature (cms)
openssl smime -sign -signer "$pki/alice.pem" -inkey "$pki/alice.key" \
    -certfile "$pki/intermediate.pem" -in body.txt \
    -from 'Alice Example <alice@partner.example>' -to bob@example.org -subject 'Signed x' \
    -out raw-smime.eml
openssl cms -sign -signer "$pki/alice.pem" -inkey "$pki/alice.key" \
    -certfile "$pki/intermediate.pem" -in body.txt \
    -from 'alice@partner.example' -to bob@example.org -subject 'Signed cms' -out raw-cms.eml
withid smime raw-smime.eml
withid cms raw-cms.eml
lf raw-smime.eml smime-lf.eml
crlf raw-smime.eml smime-crlf.eml
lf raw-cms.eml cms-lf.eml
crlf raw-cms.eml cms-crlf.eml

# openssl smime -sign without -text: the signed part has no headers at all, only the text
printf 'Hello Bob,\nhere is my certificate.\n' > plain.txt
openssl smime -sign -signer "$pki/alice.pem" -inkey "$pki/alice.key" \
    -certfile "$pki/intermediate.pem" -in plain.txt \
    -from 'alice@partner.example' -to bob@example.org -subject 'No headers' -out noheaders.eml
lf noheaders.eml noheaders-lf.eml
sed 's/here is my certificate/here is my cert/' noheaders.eml > noheaders-changed.eml

# opaque signed-data: application/pkcs7-mime (cms) and x-pkcs7-mime (smime)
openssl cms -sign -nodetach -signer "$pki/bob-ec.pem" -inkey "$pki/bob-ec.key" -in body.txt \
    -from bob@partner.example -to x@example.org -subject 'Opaque' -out opaque.eml
openssl smime -sign -nodetach -signer "$pki/bob-ec.pem" -inkey "$pki/bob-ec.key" -in body.txt \
    -from bob@partner.example -to x@example.org -subject 'Opaque x' -out opaque-x.eml
withid opaque opaque.eml
withid opaque-x opaque-x.eml

# bare CMS files: .p7m (DER, PEM, base64) and a detached .p7s with its content
openssl cms -sign -nodetach -binary -signer "$pki/alice.pem" -inkey "$pki/alice.key" \
    -in body.txt -outform DER -out opaque.p7m
openssl cms -sign -nodetach -binary -signer "$pki/alice.pem" -inkey "$pki/alice.key" \
    -in body.txt -outform PEM -out opaque-pem.p7m
openssl base64 -e -in opaque.p7m > opaque-b64.p7m
printf 'binary\000content\nline two\n' > detached.bin
openssl cms -sign -binary -signer "$pki/alice.pem" -inkey "$pki/alice.key" \
    -in detached.bin -outform DER -out detached.bin.p7s
printf 'binary\000content\nline 2\n' > detached-changed.bin

# two signers; a signer from a CA that is not trusted (signature still ok)
openssl cms -sign -signer "$pki/alice.pem" -inkey "$pki/alice.key" \
    -signer "$pki/bob-ec.pem" -inkey "$pki/bob-ec.key" -in body.txt \
    -from alice@partner.example -to x@example.org -subject 'Two' -out two-signers.eml
openssl cms -sign -signer "$pki/untrusted.pem" -inkey "$pki/untrusted.key" \
    -certfile "$pki/other-intermediate.pem" -in body.txt \
    -from untrusted@partner.example -to x@example.org -subject 'Untrusted' -out untrusted.eml

# the signer's certificate left out of the message
openssl cms -sign -nocerts -signer "$pki/alice.pem" -inkey "$pki/alice.key" -in body.txt \
    -from alice@partner.example -to x@example.org -subject 'No certs' -out nocerts.eml

# encrypted only; unsigned
openssl cms -encrypt -aes256 -in body.txt -from alice@partner.example -to bob@example.org \
    -subject 'Secret' -out encrypted.eml "$pki/bob-ec.pem" 2>/dev/null ||
openssl cms -encrypt -aes256 -in body.txt -from alice@partner.example -to bob@example.org \
    -subject 'Secret' -out encrypted.eml "$pki/alice.pem"
withid encrypted encrypted.eml
cat > unsigned.eml <<'EOF'
From: Carol <carol@partner.example>
To: bob@example.org
Subject: Plain
Message-ID: <plain@test.example>
MIME-Version: 1.0
Content-Type: text/plain

Nothing signed here.
EOF

# tampered: the body changed after signing
sed 's/here is my certificate/here is my CERTIFICATE/' smime-lf.eml > tampered-body.eml
grep -q CERTIFICATE tampered-body.eml

# signed part nested in multipart/mixed
{
    printf 'From: alice@partner.example\nTo: bob@example.org\nSubject: Nested\n'
    printf 'Message-ID: <nested@test.example>\nMIME-Version: 1.0\n'
    printf 'Content-Type: multipart/mixed; boundary="outer-b"\n\npreamble\n--outer-b\n'
    printf 'Content-Type: text/plain\n\nsee the signed part\n--outer-b\n'
    sed -n '/^Content-Type: multipart\/signed/,$p' cms-lf.eml
    printf '\n--outer-b--\n'
} > nested.eml

# forwarded as a message/rfc822 attachment
{
    printf 'From: "Fwd Er" <forwarder@example.org>\nTo: admin@example.org\nSubject: Fwd: Signed\n'
    printf 'Message-ID: <forwarded@test.example>\nMIME-Version: 1.0\n'
    printf 'Content-Type: multipart/mixed; boundary="fwd-b"\n\n--fwd-b\n'
    printf 'Content-Type: text/plain\n\nplease publish\n--fwd-b\n'
    printf 'Content-Type: message/rfc822\nContent-Disposition: attachment\n\n'
    cat smime-lf.eml
    printf '\n--fwd-b--\n'
} > forwarded.eml

# malformed: a multipart without boundary; a signature part that is not CMS
cat > malformed-noboundary.eml <<'EOF'
From: mallory@partner.example
Subject: Broken
Message-ID: <broken@test.example>
MIME-Version: 1.0
Content-Type: multipart/mixed

--x
Content-Type: text/plain

hi
--x--
EOF
{
    printf 'From: mallory@partner.example\nSubject: Bad sig part\nMessage-ID: <badsig@test.example>\n'
    printf 'MIME-Version: 1.0\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b"\n\n'
    printf -- '--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\n'
    printf 'bm90IGEgc2lnbmF0dXJlIGF0IGFsbCwganVzdCB0ZXh0Cg==\n--b--\n'
} > malformed-badsig.eml

# mbox: signed, unsigned, encrypted, malformed, signed (CRLF)
{
    for f in smime-lf.eml unsigned.eml encrypted.eml malformed-badsig.eml cms-lf.eml; do
        printf 'From sender@example.org Mon Jun  1 00:00:00 2026\n'
        sed 's/\r$//' "$f"
        printf '\n'
    done
} > mixed.mbox

# Maildir: cur/ then new/, names in byte order
mkdir -p maildir/cur maildir/new maildir/tmp
cp cms-lf.eml maildir/cur/1000.a:2,S
cp unsigned.eml maildir/cur/1001.b:2,S
cp opaque.eml maildir/new/1002.c
cp encrypted.eml maildir/tmp/ignored

# gpgsm, a real S/MIME client: a detached signature made by gpgsm, wrapped as multipart/signed
# Optional: a failing gpgsm (agent start-up under load, an old version) only drops this fixture.
make_gpgsm() {
if command -v gpgsm >/dev/null 2>&1; then
    export GNUPGHOME="$out/gnupg"
    rm -rf "$GNUPGHOME"
    mkdir -m 700 "$GNUPGHOME"
    echo "allow-loopback-pinentry" > "$GNUPGHOME/gpg-agent.conf"
    # gpgsm reads only the classic PKCS#12 algorithms
    openssl pkcs12 -export -in "$pki/alice.pem" -inkey "$pki/alice.key" -passout pass:test \
        -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out alice.p12
    gpgsm --batch --quiet --import "$pki/root.pem" "$pki/intermediate.pem" 2>/dev/null
    echo test | gpgsm --batch --quiet --pinentry-mode loopback --passphrase-fd 0 \
        --import alice.p12 2>/dev/null
    fpr=$(openssl x509 -in "$pki/root.pem" -noout -fingerprint -sha1 | sed 's/.*=//')
    echo "$fpr S relax" > "$GNUPGHOME/trustlist.txt"
    sed "s/\$/\r/" body.txt | head -c -2 > body-crlf.txt
    if echo test | gpgsm --batch --quiet --pinentry-mode loopback --passphrase-fd 0 \
        --disable-crl-checks --disable-policy-checks --include-certs -1 \
        -u alice@partner.example --detach-sign --base64 -o gpgsm.p7s body-crlf.txt 2>gpgsm.log
    then
        {
            printf 'From: alice@partner.example\nTo: bob@example.org\nSubject: gpgsm\n'
            printf 'Message-ID: <gpgsm@test.example>\nMIME-Version: 1.0\n'
            printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="gpgsm-b"\n\n'
            printf -- '--gpgsm-b\n'
            cat body.txt
            printf -- '--gpgsm-b\nContent-Type: application/pkcs7-signature; name=smime.p7s\n'
            printf 'Content-Transfer-Encoding: base64\n\n'
            sed '/^-----/d' gpgsm.p7s
            printf -- '--gpgsm-b--\n'
        } > gpgsm.eml
    fi
    gpgconf --kill all >/dev/null 2>&1 || true
fi
}
if ! (set -e; make_gpgsm) > gpgsm-fixture.log 2>&1; then
    echo "make-mail.sh: gpgsm fixture skipped (see gpgsm-fixture.log)" >&2
    rm -f gpgsm.eml gpgsm.p7s
fi
exit 0
