"""Integration tests for `smimepub harvest` against the real slapd and Samba AD (SPEC sections 2-5).

The messages come from tests/unit/make-mail.sh (run once into a temp dir), plus a few made here
with `openssl cms` where make-mail.sh's do not carry the intermediate. Trust is --ca-file root.pem
only, never --untrusted: the intermediate the message carries is what makes the chain.
The test class is written once and runs for both directories; each test works in its own OU,
which is also the search base.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from smptest import Directory, T0, der_of, pki, run  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import make_cert  # noqa: E402

A = "alice@partner.example"
B = "bob@partner.example"
_DIRS = {}
_TMP = tempfile.mkdtemp(prefix="smp-harvest-")
MAIL = os.path.join(_TMP, "mail")


def directory(kind):
    if kind not in _DIRS:
        _DIRS[kind] = Directory(kind)
    return _DIRS[kind]


def cms_sign(out, signers, frm, extra=(), carry=True):
    """A signed message made by openssl cms from the test PKI (signers: names like 'alice')."""
    args = ["openssl", "cms", "-sign", "-in", os.path.join(MAIL, "body.txt"), "-from", frm,
            "-to", "admin@example.org", "-subject", os.path.basename(out), "-out", out]
    for s in signers:
        args += ["-signer", pki(s + ".pem"), "-inkey", pki(s + ".key")]
    if carry:
        args += ["-certfile", pki("intermediate.pem")]
    subprocess.run(args + list(extra), check=True, capture_output=True,
                   env=dict(os.environ, OPENSSL_CONF="/dev/null"))
    return out


def setUpModule():
    subprocess.run(["bash", os.path.join(smptest.SRCDIR, "tests", "unit", "make-mail.sh"),
                    smptest.PKI, MAIL], check=True, capture_output=True)
    cms_sign(os.path.join(MAIL, "h-opaque.eml"), ["alice"], A, ["-nodetach"])
    cms_sign(os.path.join(MAIL, "h-two.eml"), ["alice", "bob-ec"], A)
    cms_sign(os.path.join(MAIL, "h-bob-as-alice.eml"), ["bob-ec"], A)
    cms_sign(os.path.join(MAIL, "h-bob.eml"), ["bob-ec"], B)
    # Alice signs with alice.pem and names alice-new.pem as her encryption certificate
    # (SMIMEEncryptionKeyPreference), which the message carries
    subprocess.run([os.environ["SMIMEPUB_MAKE_PREF_MAIL"], pki("alice.pem"), pki("alice.key"),
                    pki("alice-new.pem"), pki("intermediate.pem"), A,
                    os.path.join(MAIL, "h-pref.eml")], check=True, capture_output=True)
    # the same, but the preferred certificate is someone else's (bob-ec.pem)
    subprocess.run([os.environ["SMIMEPUB_MAKE_PREF_MAIL"], pki("alice.pem"), pki("alice.key"),
                    pki("bob-ec.pem"), pki("intermediate.pem"), A,
                    os.path.join(MAIL, "h-pref-bob.eml")], check=True, capture_output=True)


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


def mail(name):
    return os.path.join(MAIL, name)


class HarvestBase:
    """Mixin: set `kind` ('slapd' or 'ad') in the concrete TestCase."""

    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = directory(cls.kind)

    def setUp(self):
        name = re.sub(r"[^a-z0-9]", "", self._testMethodName.lower().replace("test_", ""))[:40]
        self.ou = self.d.make_ou("hv-" + name)
        self.tmp = tempfile.mkdtemp(prefix="t-", dir=_TMP)
        self.journal = os.path.join(self.tmp, "journal.ldif")

    def tearDown(self):
        self.d.delete_tree(self.ou)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def smp(self, *args, fmt="json", stdin=None):
        pwfile = os.path.join(self.tmp, "pw")
        with open(pwfile, "w") as fp:
            fp.write(self.d.admin_pw)
        os.chmod(pwfile, 0o600)  # smimepub refuses a password file others may read
        argv = ["-H", self.d.uri, "-b", self.ou, "-D", self.d.admin_dn, "-y", pwfile,
                "--at", T0, "--ca-file", pki("root.pem"), "--journal", self.journal,
                "--format", fmt, "harvest"]
        return run(argv + list(args), stdin=stdin)

    def contact(self, cn, mail_addr, certs=()):
        return self.d.add_contact(self.ou, cn, mail=mail_addr,
                                  proxies=["SMTP:" + mail_addr],
                                  certs=[der_of(c) for c in certs])

    def alice_bob(self):
        return self.contact("Alice", A), self.contact("Bob", B)

    def one(self, res, **match):
        recs = [r for r in res.json() if all(r.get(k) == v for k, v in match.items())]
        self.assertEqual(len(recs), 1, "expected one record %s in %r" % (match, res))
        return recs[0]

    def codes(self, rec):
        return [p["code"] for p in rec.get("problems", [])]

    def assert_published(self, rec, dn, action="published"):
        self.assertEqual(rec["action"], action, rec)
        self.assertEqual(rec["dn"].lower(), dn.lower())
        self.assertEqual(rec["signature"], "ok")
        # no --untrusted: the chain is built from the intermediate the message carries
        self.assertTrue(rec["chain_ok"], rec)
        self.assertNotIn("missing_intermediate", self.codes(rec))

    # ---- tests ----------------------------------------------------------------------------

    def test_multipart_signed(self):
        dn, _ = self.alice_bob()
        for name in ("smime-lf.eml", "cms-crlf.eml"):
            res = self.smp(mail(name))
            self.assertEqual(res.rc, 0, res)
            rec = self.one(res)
            self.assertEqual(rec["file"], mail(name))
            self.assertEqual(rec["from"], A)
            self.assertEqual(rec["source"], "signer")
            self.assertIn(rec["message_id"], ("smime@test.example", "cms@test.example"))
            self.assertEqual(rec["sha256"], self.sha256("alice.pem"))
            self.assert_published(rec, dn, "published" if name == "smime-lf.eml" else "unchanged")
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])

    def sha256(self, name):
        import hashlib
        return hashlib.sha256(der_of(name)).hexdigest()

    def test_opaque(self):
        dn, _ = self.alice_bob()
        res = self.smp(mail("h-opaque.eml"))
        self.assertEqual(res.rc, 0, res)
        self.assert_published(self.one(res), dn)
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])

    def test_opaque_without_intermediate_refused(self):
        # make-mail.sh's opaque.eml carries only Bob's certificate: no chain without --untrusted
        _, bob = self.alice_bob()
        res = self.smp(mail("opaque.eml"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "critical_problem"))
        self.assertIn("missing_intermediate", self.codes(rec))
        self.assertEqual(self.d.certs(bob), [])

    def test_nested_and_forwarded(self):
        dn, _ = self.alice_bob()
        res = self.smp(mail("nested.eml"))
        self.assertEqual(res.rc, 0, res)
        self.assert_published(self.one(res, message_id="nested@test.example"), dn)
        res = self.smp(mail("forwarded.eml"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        # the forwarded message's own From is what the signer is checked against
        self.assertEqual(rec["from"], A)
        self.assert_published(rec, dn, "unchanged")
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])

    def test_tampered_never_published(self):
        dn, _ = self.alice_bob()
        for extra in ([], ["--force"]):
            res = self.smp(mail("tampered-body.eml"), *extra)
            self.assertEqual(res.rc, 1, res)
            rec = self.one(res)
            self.assertEqual((rec["action"], rec["reason"]), ("skipped", "bad_signature"))
            self.assertEqual(rec["signature"], "bad")
            self.assertIn("bad_signature", self.codes(rec))
        self.assertEqual(self.d.certs(dn), [])
        self.assertFalse(os.path.exists(self.journal) and os.path.getsize(self.journal))

    def test_unsigned_and_encrypted_skipped(self):
        self.alice_bob()
        res = self.smp(mail("unsigned.eml"), mail("encrypted.eml"))
        self.assertEqual(res.rc, 0, res)
        recs = res.json()
        self.assertEqual([(r["action"], r["reason"]) for r in recs],
                         [("skipped", "unsigned"), ("skipped", "encrypted")])
        self.assertEqual(recs[0]["message_id"], "plain@test.example")

    def test_two_signers(self):
        dn_a, dn_b = self.alice_bob()
        res = self.smp(mail("h-two.eml"))
        self.assertEqual(res.rc, 1, res)
        recs = res.json()
        self.assertEqual(len(recs), 2, res)
        alice = self.one(res, sha256=self.sha256("alice.pem"))
        bob = self.one(res, sha256=self.sha256("bob-ec.pem"))
        self.assert_published(alice, dn_a)
        # Bob signed too, but the message is From Alice
        self.assertEqual((bob["action"], bob["reason"]), ("skipped", "from_mismatch"))
        self.assertEqual(self.d.certs(dn_a), [der_of("alice.pem")])
        self.assertEqual(self.d.certs(dn_b), [])

    def test_from_mismatch(self):
        dn_a, dn_b = self.alice_bob()
        res = self.smp(mail("h-bob-as-alice.eml"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "from_mismatch"))
        self.assertEqual([p["severity"] for p in rec["problems"] if p["code"] == "from_mismatch"],
                         ["critical"])
        self.assertEqual(self.d.certs(dn_b), [])
        # --force is about the certificate, not about who sent it
        res = self.smp(mail("h-bob-as-alice.eml"), "--force")
        self.assertEqual(self.one(res)["reason"], "from_mismatch")
        self.assertEqual(self.d.certs(dn_b), [])

        res = self.smp(mail("h-bob-as-alice.eml"), "--allow-from-mismatch")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assert_published(rec, dn_b)
        self.assertEqual([p["severity"] for p in rec["problems"] if p["code"] == "from_mismatch"],
                         ["warning"])
        self.assertEqual(self.d.certs(dn_b), [der_of("bob-ec.pem")])
        self.assertEqual(self.d.certs(dn_a), [])

    def test_mbox(self):
        dn, _ = self.alice_bob()
        res = self.smp(mail("mixed.mbox"))
        self.assertEqual(res.rc, 65, res)  # one message in it is malformed
        recs = res.json()
        self.assertEqual([(r["index"], r["action"], r["reason"]) for r in recs],
                         [(0, "published", None), (1, "skipped", "unsigned"),
                          (2, "skipped", "encrypted"), (3, "failed", "malformed"),
                          (4, "unchanged", "already_published")])
        self.assertTrue(all(r["file"] == mail("mixed.mbox") for r in recs))
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])

    def test_maildir(self):
        dn_a, dn_b = self.alice_bob()
        res = self.smp(mail("maildir"))
        self.assertEqual(res.rc, 1, res)  # the opaque one from Bob carries no intermediate
        recs = res.json()
        self.assertEqual(len(recs), 3, res)
        self.assertEqual([(r["action"], r["reason"]) for r in recs],
                         [("published", None), ("skipped", "unsigned"),
                          ("skipped", "critical_problem")])
        self.assertTrue(recs[0]["file"].endswith("1000.a:2,S"), recs[0])
        self.assertEqual(self.d.certs(dn_a), [der_of("alice.pem")])
        self.assertEqual(self.d.certs(dn_b), [])

    def test_signing_only_signer_with_its_encryption_certificate_carried(self):
        # Outlook signs with a signing-only certificate and sends the encryption certificate
        # along, without an SMIMEEncryptionKeyPreference: that one is published
        dn = self.contact("Alice", A)
        sign_pem, _ = make_cert("/CN=Alice Signing", [A], key="rsa", usage="nonRepudiation")
        key = os.path.join(os.path.dirname(sign_pem), "k.pem")
        out = os.path.join(self.tmp, "sign-only.eml")
        carried = os.path.join(self.tmp, "carried.pem")
        with open(carried, "w") as fp:
            for name in ("alice.pem", "intermediate.pem"):
                with open(pki(name)) as src:
                    fp.write(src.read())
        subprocess.run(["openssl", "cms", "-sign", "-in", os.path.join(MAIL, "body.txt"),
                        "-signer", sign_pem, "-inkey", key, "-certfile", carried,
                        "-from", A, "-to", "x@example.org", "-subject", "certs", "-out", out],
                       check=True, capture_output=True)
        res = self.smp(out)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["source"]),
                         ("published", "carried_encryption_certificate"), res)
        self.assertEqual(rec["sha256"], self.sha256("alice.pem"))
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])
        # the same signing-only certificate alone, beside a message with the encryption
        # certificate in the same run: not needed, not a failure
        alone = os.path.join(self.tmp, "sign-only-alone.eml")
        subprocess.run(["openssl", "cms", "-sign", "-in", os.path.join(MAIL, "body.txt"),
                        "-signer", sign_pem, "-inkey", key, "-certfile", pki("intermediate.pem"),
                        "-from", A, "-to", "x@example.org",
                        "-subject", "sig", "-out", alone], check=True, capture_output=True)
        res = self.smp(alone, mail("smime-lf.eml"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([r["action"] for r in res.json()], ["not_needed", "unchanged"], res)

    def test_many_messages_without_certificates_then_one_with(self):
        # records are held until their certificates have been through the pipeline, but a
        # mailbox of messages with nothing to publish does not pile them up: they go out in
        # bounded batches, still in order, and the signed message at the end is published
        dn = self.contact("Alice", A)
        mbox = os.path.join(self.tmp, "many.mbox")
        with open(mbox, "w") as fp:
            for i in range(4100):
                fp.write("From x@example.org Mon Jan  1 00:00:00 2026\nFrom: x@example.org\n"
                         "Message-ID: <u%d@test.example>\nSubject: plain\n\nhello\n\n" % i)
            fp.write("From alice@partner.example Mon Jan  1 00:00:00 2026\n")
            with open(mail("smime-lf.eml")) as src:
                fp.write(src.read())
        res = self.smp(mbox)
        self.assertEqual(res.rc, 0, res.err)
        recs = res.json()
        self.assertEqual(len(recs), 4101)
        self.assertEqual([r["message_id"] for r in recs[:4100]],
                         ["u%d@test.example" % i for i in range(4100)])
        self.assertEqual({r["reason"] for r in recs[:4100]}, {"unsigned"})
        self.assertEqual(recs[-1]["action"], "published")
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])

    def test_detached_signature_alone_is_not_published(self):
        dn = self.contact("Alice", A)
        alone = tempfile.mkdtemp(prefix="smp-p7s-")
        self.addCleanup(shutil.rmtree, alone)
        shutil.copy(mail("detached.bin.p7s"), os.path.join(alone, "smime.p7s"))
        res = self.smp(os.path.join(alone, "smime.p7s"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "content_missing"), res)
        self.assertNotIn("forged", rec["message"])
        self.assertEqual(self.d.certs(dn), [])

    def test_stdin_and_detached(self):
        dn, _ = self.alice_bob()
        with open(mail("cms-lf.eml")) as fp:
            res = self.smp("-", stdin=fp.read())
        self.assertEqual(res.rc, 0, res)
        self.assert_published(self.one(res), dn)
        self.assertEqual(self.one(res)["file"], "-")
        # a detached .p7s next to its content: no From to compare; this signature carries
        # no intermediate, so the chain cannot be built without --untrusted
        res = self.smp(mail("detached.bin.p7s"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["signature"], rec["from"]), ("ok", None))
        self.assertEqual(rec["reason"], "critical_problem")
        self.assertNotIn("from_mismatch", self.codes(rec))
        self.assertIn("missing_intermediate", self.codes(rec))

    def test_dry_run(self):
        dn, _ = self.alice_bob()
        res = self.smp("--dry-run", mail("smime-lf.eml"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "would_publish")
        self.assertEqual(rec["dn"].lower(), dn.lower())
        self.assertIn("userCertificate", rec["ldif"])
        self.assertEqual(self.d.certs(dn), [])
        self.assertFalse(os.path.exists(self.journal))
        # text: an LDIF file ldapmodify accepts, the records without a certificate as comments
        res = self.smp("--dry-run", mail("unsigned.eml"), mail("smime-lf.eml"),
                       mail("tampered-body.eml"), mail("encrypted.eml"), fmt="text")
        self.assertEqual(res.rc, 1, res)
        self.assertIn("[unsigned]", res.out)
        self.assertIn("[bad_signature]", res.out)
        self.d.ldapmodify(res.out)
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])

    def test_twice_unchanged(self):
        dn, _ = self.alice_bob()
        first = self.smp(mail("cms-lf.eml"))
        self.assertEqual(self.one(first)["action"], "published", first)
        second = self.smp(mail("cms-lf.eml"))
        self.assertEqual(second.rc, 0, second)
        self.assertEqual(self.one(second)["action"], "unchanged")
        # in one run: the second message finds the certificate the first one published
        both = self.smp(mail("smime-lf.eml"), mail("cms-crlf.eml"))
        self.assertEqual([r["action"] for r in both.json()], ["unchanged", "unchanged"])
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])

    def test_journal_undoes(self):
        dn, _ = self.alice_bob()
        res = self.smp(mail("cms-lf.eml"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])
        with open(self.journal) as fp:
            self.d.ldapmodify(fp.read())
        self.assertEqual(self.d.certs(dn), [])

    def test_not_found_and_create_contact(self):
        res = self.smp(mail("cms-lf.eml"))
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res)["reason"], "not_found")
        res = self.smp("--create-contact", mail("cms-lf.eml"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "published")
        self.assertTrue(rec.get("created"), rec)
        entry = self.d.search(self.ou, scope="sub", filt="(mail=%s)" % A)
        self.assertEqual(len(entry), 1, entry)
        self.assertEqual(self.d.certs(list(entry)[0]), [der_of("alice.pem")])

    def test_encryption_key_preference(self):
        dn, bob = self.alice_bob()
        res = self.smp(mail("h-pref.eml"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["source"], "encryption_key_preference")
        self.assertEqual(rec["sha256"], self.sha256("alice-new.pem"))
        self.assertEqual(rec["signer_sha256"], self.sha256("alice.pem"))
        self.assert_published(rec, dn)
        # the encryption certificate is published, not the signing one
        self.assertEqual(self.d.certs(dn), [der_of("alice-new.pem")])
        # a preference for a certificate of another address is refused, nothing written
        res = self.smp(mail("h-pref-bob.eml"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "from_mismatch"))
        self.assertEqual(self.d.certs(bob), [])

    def test_gpgsm(self):
        if not os.path.exists(mail("gpgsm.eml")):
            self.skipTest("gpgsm is not installed: make-mail.sh made no gpgsm.eml")
        dn, _ = self.alice_bob()
        res = self.smp(mail("gpgsm.eml"))
        self.assertEqual(res.rc, 0, res)
        self.assert_published(self.one(res), dn)
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])


class SlapdHarvest(HarvestBase, unittest.TestCase):
    kind = "slapd"


class ADHarvest(HarvestBase, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
