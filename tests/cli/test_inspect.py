"""CLI tests of `smimepub inspect`: the real binary over the generated test PKI (no server)."""
import csv
import io
import os
import shutil
import subprocess
import tempfile
import unittest

import smptest
from smptest import T0, pki, run

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]


def inspect(*files, extra=()):
    return run(["inspect", "--format", "json"] + TRUST + list(extra) + [pki(f) for f in files])


def codes(obj):
    return sorted(p["code"] for p in obj["problems"])


class TestInspectFacts(unittest.TestCase):
    def one(self, name, extra=()):
        r = inspect(name, extra=extra)
        self.assertEqual(r.rc, 0, r)
        objs = r.json()
        self.assertEqual(len(objs), 1, r)
        return objs[0]

    def test_alice_all_fields(self):
        o = self.one("alice.pem")
        for field in ("file", "subject", "issuer", "serial", "sha256", "emails", "not_before",
                      "not_after", "key", "signature", "purposes", "is_ca", "problems"):
            self.assertIn(field, o)
        self.assertEqual(o["emails"], ["alice@partner.example"])
        self.assertEqual(o["key"], {"type": "RSA", "bits": 2048})
        self.assertEqual(o["purposes"], {"encrypt": True, "sign": True})
        self.assertEqual(o["not_before"], "2026-01-01T00:00:00Z")
        self.assertEqual(o["not_after"], "2027-01-01T00:00:00Z")
        self.assertFalse(o["is_ca"])
        self.assertEqual(o["problems"], [])
        self.assertRegex(o["sha256"], r"^[0-9a-f]{64}$")
        self.assertRegex(o["serial"], r"^[0-9a-f]+$")
        self.assertIn("Test Issuing CA 1", o["issuer"])
        self.assertIn("sha256", o["signature"].lower())

    def test_same_certificate_in_every_format(self):
        ref = self.one("alice.pem")["sha256"]
        for name in ("alice.der", "alice.b64", "alice-chain.pem", "alice.p7b", "alice-p7b.pem"):
            with self.subTest(name=name):
                o = self.one(name)
                self.assertEqual(o["sha256"], ref)
                self.assertEqual(o["problems"], [])

    def test_bundle_intermediate_is_used_without_untrusted(self):
        for name in ("alice-chain.pem", "alice.p7b"):
            r = run(["inspect", "--format", "json", "--at", T0, "--ca-file", pki("root.pem"),
                     pki(name)])
            self.assertEqual(r.rc, 0, r)
            self.assertEqual(codes(r.json()[0]), [], name)

    def test_missing_intermediate_names_aia(self):
        r = run(["inspect", "--format", "json", "--at", T0, "--ca-file", pki("root.pem"),
                 pki("missing-int.pem")])
        o = r.json()[0]
        self.assertEqual(codes(o), ["missing_intermediate"])
        self.assertIn("http://pki.example.test/issuing1.cer", o["problems"][0]["message"])
        self.assertEqual(o["problems"][0]["severity"], "critical")

    def test_untrusted_vs_missing_intermediate(self):
        o = self.one("untrusted.pem")
        self.assertEqual(codes(o), ["missing_intermediate"])
        self.assertIn("http://pki.partner.example/issuing2.cer", o["problems"][0]["message"])
        r = run(["inspect", "--format", "json", "--at", T0, "--ca-file", pki("root.pem"),
                 "--untrusted", pki("other-intermediate.pem"), pki("untrusted.pem")])
        o = r.json()[0]
        self.assertEqual(codes(o), ["untrusted"])
        self.assertIn("--ca-file", o["problems"][0]["message"])
        r = run(["inspect", "--format", "json", "--at", T0, "--ca-file", pki("other-root.pem"),
                 "--untrusted", pki("other-intermediate.pem"), pki("untrusted.pem")])
        self.assertEqual(codes(r.json()[0]), [])

    def test_problem_codes(self):
        expected = {
            "alice-old-expired.pem": ["expired"],
            "expired.pem": ["expired"],
            "notyet.pem": ["not_yet_valid"],
            "expiring.pem": ["expiring"],
            "signonly.pem": ["no_encryption"],
            "weak-rsa1024.pem": ["weak_key"],
            "sha1.pem": ["weak_signature"],
            "ca-leaf.pem": ["is_ca"],
            "dave-cn.pem": ["address_from_cn"],
            "noaddr.pem": ["no_address"],
        }
        for name, want in expected.items():
            with self.subTest(name=name):
                self.assertEqual(codes(self.one(name)), want)

    def test_severities(self):
        self.assertEqual(self.one("expiring.pem")["problems"][0]["severity"], "warning")
        self.assertEqual(self.one("weak-rsa1024.pem")["problems"][0]["severity"], "warning")
        self.assertEqual(self.one("expired.pem")["problems"][0]["severity"], "critical")

    def test_no_email_protection(self):
        o = self.one("servereku.pem")
        self.assertIn("no_email_protection", codes(o))
        self.assertFalse(o["purposes"]["encrypt"])

    def test_nul_address_is_bad_and_unused(self):
        o = self.one("nul-email.pem")
        self.assertIn("bad_address", codes(o))
        self.assertEqual(o["emails"], [])

    def test_purposes(self):
        self.assertEqual(self.one("signonly.pem")["purposes"], {"encrypt": False, "sign": True})
        self.assertEqual(self.one("enconly.pem")["purposes"], {"encrypt": True, "sign": False})
        self.assertEqual(self.one("noeku.pem")["purposes"], {"encrypt": True, "sign": True})
        ec = self.one("bob-ec.pem")
        self.assertEqual(ec["key"], {"type": "EC", "bits": 256})
        self.assertEqual(ec["purposes"], {"encrypt": True, "sign": True})

    def test_addresses(self):
        self.assertEqual(self.one("bob-ec.pem")["emails"], ["Bob@partner.example"])
        self.assertEqual(self.one("carol-sanonly.pem")["emails"],
                         ["carol@partner.example", "c.smith@partner.example"])
        self.assertEqual(self.one("idn.pem")["emails"], ["user@xn--bcher-kva.example"])
        self.assertEqual(self.one("smtputf8.pem")["emails"], ["jörg@xn--bcher-kva.example"])
        self.assertEqual(self.one("dave-cn.pem")["emails"], ["dave@partner.example"])

    def test_crl(self):
        self.assertEqual(codes(self.one("revoked.pem")), [])
        self.assertEqual(codes(self.one("revoked.pem", extra=["--crl", pki("crl.pem")])),
                         ["revoked"])
        self.assertEqual(codes(self.one("alice.pem", extra=["--crl", pki("crls.pem")])), [])

    def test_warn_days(self):
        self.assertEqual(codes(self.one("expiring.pem", extra=["--warn-days", "10"])), [])

    def test_at_changes_judgement(self):
        o = self.one("alice.pem", extra=["--at", "2027-02-01"])
        self.assertEqual(codes(o), ["expired"])

    def test_mixed_two_leaves(self):
        r = inspect("mixed.pem")
        self.assertEqual(r.rc, 0, r)
        emails = sorted(o["emails"][0] for o in r.json())
        self.assertEqual(emails, ["Bob@partner.example", "alice@partner.example"])


class TestInspectErrors(unittest.TestCase):
    def test_bad_inputs_exit_65_and_continue(self):
        for bad in ("garbage.bin", "truncated.der", "empty.pem", "notcert.pem"):
            with self.subTest(bad=bad):
                r = run(["inspect", "--format", "json"] + TRUST + [pki(bad), pki("alice.pem")])
                self.assertEqual(r.rc, 65, r)
                self.assertIn(pki(bad), r.err)
                self.assertEqual([o["emails"] for o in r.json()], [["alice@partner.example"]])

    def test_missing_file_66(self):
        r = run(["inspect"] + TRUST + [pki("no-such-file.pem")])
        self.assertEqual(r.rc, 66, r)
        self.assertIn("no-such-file.pem", r.err)

    def test_usage_64(self):
        self.assertEqual(run(["inspect"]).rc, 64)
        self.assertEqual(run(["inspect", "--format", "xml", pki("alice.pem")]).rc, 64)
        self.assertEqual(run(["inspect", "--at", "yesterday", pki("alice.pem")]).rc, 64)
        self.assertEqual(run(["frobnicate"]).rc, 64)
        self.assertEqual(run(["inspect", "--no-such-option", pki("alice.pem")]).rc, 64)

    def test_strict(self):
        self.assertEqual(run(["inspect", "--strict"] + TRUST + [pki("alice.pem")]).rc, 0)
        self.assertEqual(run(["inspect", "--strict"] + TRUST + [pki("expired.pem")]).rc, 1)
        self.assertEqual(run(["inspect"] + TRUST + [pki("expired.pem")]).rc, 0)

    def test_quiet_prints_only_what_needs_action(self):
        # -q: the certificates with a critical problem and the inputs that cannot be read;
        # nothing for a sound certificate, in every format
        for fmt in ("text", "json", "csv"):
            res = run(["inspect", "-q", "--format", fmt] + TRUST +
                      [pki("alice.pem"), pki("expired.pem"), "/nonexistent.pem"])
            self.assertEqual(res.rc, 66, res)
            self.assertNotIn("alice@partner.example", res.out, fmt)
            self.assertIn("expired", res.out, fmt)
            self.assertIn("/nonexistent.pem", res.err, fmt)
        res = run(["inspect", "-q"] + TRUST + [pki("alice.pem")])
        self.assertEqual((res.rc, res.out, res.err), (0, "", ""), res)

    def test_stdin(self):
        with open(pki("alice.der"), "rb") as fp:
            data = fp.read()
        import subprocess
        proc = subprocess.run([smptest.BIN, "inspect", "--format", "json"] + TRUST + ["-"],
                              input=data, capture_output=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(b"alice@partner.example", proc.stdout)


class TestInspectFormats(unittest.TestCase):
    def test_csv(self):
        r = run(["inspect", "--format", "csv"] + TRUST + [pki("alice.pem"), pki("expired.pem")])
        self.assertEqual(r.rc, 0, r)
        rows = list(csv.DictReader(io.StringIO(r.out)))
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0]["emails"], "alice@partner.example")
        self.assertEqual(rows[1]["problems"], "expired")
        self.assertEqual(rows[0]["key_bits"], "2048")

    def test_csv_cells_that_spreadsheets_take_for_formulas(self):
        # OWASP CSV injection: a cell that begins with = + - @ (tab, CR) gets a leading quote
        tmp = tempfile.mkdtemp()
        try:
            key = os.path.join(tmp, "k.pem")
            evil = os.path.join(tmp, "evil.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", evil,
                            "-subj", "/CN=Evil", "-days", "30",
                            "-CA", pki("intermediate.pem"), "-CAkey", pki("intermediate.key"),
                            "-addext", "subjectAltName=email:=1+2@partner.example"],
                           check=True, capture_output=True)
            names = ["=HYPERLINK(x).pem", "+x.pem", "-x.pem", "@x.pem", "\tx.pem", "a=b.pem",
                     "=SUM(1,2).pem"]
            for n in names:
                shutil.copy(pki("alice.pem"), os.path.join(tmp, n))
            proc = subprocess.run([smptest.BIN, "inspect", "--format", "csv"] + TRUST +
                                  ["evil.pem", "--"] + names, cwd=tmp, capture_output=True,
                                  text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            rows = list(csv.DictReader(io.StringIO(proc.stdout)))
            self.assertEqual([r["file"] for r in rows],
                             ["evil.pem", "'=HYPERLINK(x).pem", "'+x.pem", "'-x.pem", "'@x.pem",
                              "'\tx.pem", "a=b.pem", "'=SUM(1,2).pem"])
            self.assertEqual(rows[0]["emails"], "'=1+2@partner.example")
            # still RFC 4180: a cell that needs double quotes has the single quote inside them
            self.assertIn('\n"\'=SUM(1,2).pem",', proc.stdout)
        finally:
            shutil.rmtree(tmp)

    def test_text_tells_what_to_do(self):
        r = run(["inspect", "--format", "text", "--at", T0, "--ca-file", pki("root.pem"),
                 pki("missing-int.pem"), pki("alice.pem")])
        self.assertEqual(r.rc, 0, r)
        self.assertIn("missing_intermediate", r.out)
        self.assertIn("http://pki.example.test/issuing1.cer", r.out)
        self.assertIn("mike@partner.example", r.out)

    def test_options_after_command_and_double_dash(self):
        tmp = tempfile.mkdtemp()
        try:
            odd = os.path.join(tmp, "--odd.pem")
            shutil.copy(pki("alice.pem"), odd)
            r = run(["inspect"] + TRUST + ["--format", "json", "--", odd])
            self.assertEqual(r.rc, 0, r)
            self.assertEqual(r.json()[0]["emails"], ["alice@partner.example"])
        finally:
            shutil.rmtree(tmp)

    def test_directory_argument_and_files_from(self):
        r = run(["inspect", "--format", "json"] + TRUST + [os.path.join(smptest.PKI, "contacts")])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len(r.json()), 6)
        r = run(["inspect", "--format", "json", "--files-from", "-"] + TRUST,
                stdin=pki("alice.pem") + "\n" + pki("bob-ec.pem") + "\n")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len(r.json()), 2)


class TestInspectMail(unittest.TestCase):
    """inspect reads signed mail too (SPEC §3): signer certificates with the message facts."""

    @classmethod
    def setUpClass(cls):
        import subprocess
        cls.mail = tempfile.mkdtemp(prefix="smp-mail-")
        subprocess.run(["bash", os.path.join(smptest.SRCDIR, "tests", "unit", "make-mail.sh"),
                        smptest.PKI, cls.mail], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.mail)

    def inspect(self, *names):
        return run(["inspect", "--format", "json"] + TRUST +
                   [os.path.join(self.mail, n) for n in names])

    def test_signed_message(self):
        for name in ("smime-lf.eml", "smime-crlf.eml", "cms-lf.eml", "cms-crlf.eml",
                     "opaque.eml", "opaque-x.eml", "opaque.p7m", "nested.eml", "forwarded.eml"):
            with self.subTest(name=name):
                r = self.inspect(name)
                self.assertEqual(r.rc, 0, r)
                objs = r.json()
                self.assertEqual(len(objs), 1, r)
                o = objs[0]
                self.assertEqual(o["source"], "signer")
                self.assertEqual(o["signature"], "ok")
                self.assertIn("signature_algorithm", o)
                self.assertIn(o["emails"][0].lower(),
                              ("alice@partner.example", "bob@partner.example"))
                self.assertEqual([p["code"] for p in o["problems"]], [])

    def test_message_fields(self):
        o = self.inspect("smime-lf.eml").json()[0]
        self.assertEqual(o["message_id"], "smime@test.example")
        self.assertEqual(o["from"], "alice@partner.example")
        self.assertTrue(o["file"].endswith("smime-lf.eml"))
        # the message's Subject beside the certificate's subject, never in its place
        self.assertEqual(o["message_subject"], "Signed x")
        self.assertIn("CN=", o["subject"])
        self.assertIn("alice", o["subject"].lower())

    def test_tampered_is_bad(self):
        o = self.inspect("tampered-body.eml").json()[0]
        self.assertEqual(o["signature"], "bad")
        self.assertIn("bad_signature", [p["code"] for p in o["problems"]])

    def test_two_signers_and_from_mismatch(self):
        objs = self.inspect("two-signers.eml").json()
        self.assertEqual(len(objs), 2)
        by_addr = {o["emails"][0].lower(): o for o in objs}
        self.assertEqual(by_addr["alice@partner.example"]["problems"], [])
        self.assertIn("from_mismatch",
                      [p["code"] for p in by_addr["bob@partner.example"]["problems"]])

    def test_unsigned_and_encrypted_are_reported_not_errors(self):
        r = self.inspect("unsigned.eml", "encrypted.eml")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sorted(o["kind"] for o in r.json()), ["encrypted", "unsigned"])

    def test_mbox_and_maildir(self):
        r = self.inspect("mixed.mbox")
        kinds = [o.get("source") or o["kind"] for o in r.json()]
        self.assertIn("signer", kinds)
        self.assertIn("unsigned", kinds)
        self.assertIn("encrypted", kinds)
        self.assertEqual(r.rc, 65, r)  # the mbox holds a malformed message
        r = self.inspect("maildir")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len([o for o in r.json() if o.get("source") == "signer"]), 2)

    def test_detached_p7s(self):
        o = self.inspect("detached.bin.p7s").json()[0]
        self.assertEqual(o["signature"], "ok")

    def test_signed_part_without_headers(self):
        # openssl smime -sign without -text signs a part that has no headers: the exact
        # octets are what is signed (RFC 1847), as openssl smime -verify checks them
        for name in ("noheaders.eml", "noheaders-lf.eml"):
            o = self.inspect(name).json()[0]
            self.assertEqual(o["signature"], "ok", (name, o.get("signature_error")))
            self.assertNotIn("bad_signature", codes(o))
        o = self.inspect("noheaders-changed.eml").json()[0]
        self.assertEqual(o["signature"], "bad")

    def test_detached_p7s_alone_cannot_be_checked(self):
        # smime.p7s saved from a mail without the message: the content is missing, which
        # is not a changed or forged mail
        alone = tempfile.mkdtemp(prefix="smp-p7s-")
        self.addCleanup(shutil.rmtree, alone)
        shutil.copy(os.path.join(self.mail, "detached.bin.p7s"), os.path.join(alone, "smime.p7s"))
        res = run(["inspect", "--format", "json"] + TRUST + [os.path.join(alone, "smime.p7s")])
        o = res.json()[0]
        self.assertEqual(o["signature"], "unchecked", res)
        self.assertIn("content_missing", codes(o))
        self.assertNotIn("bad_signature", codes(o))
        text = run(["inspect"] + TRUST + [os.path.join(alone, "smime.p7s")]).out
        self.assertIn("signature unchecked", text)
        self.assertIn("cannot be checked", text)
        self.assertNotIn("forged", text)
        self.assertNotIn("changed after signing", text)


if __name__ == "__main__":
    smptest.main()
