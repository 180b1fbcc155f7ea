"""CLI tests of `smimepub harvest` without a directory: the dry run that needs none, usage errors.

A dry run with no -H and no URI in ldap.conf (smptest.run sets LDAPNOINIT) reports each
certificate it would take as `would_publish` without matching: no "dn" field, no LDIF.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import smptest
from smptest import T0, pki, run

_TMP = tempfile.mkdtemp(prefix="smp-harvest-cli-")
MAIL = os.path.join(_TMP, "mail")
TRUST = ["--at", T0, "--ca-file", pki("root.pem")]


def setUpModule():
    subprocess.run(["bash", os.path.join(smptest.SRCDIR, "tests", "unit", "make-mail.sh"),
                    smptest.PKI, MAIL], check=True, capture_output=True)


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


def mail(name):
    return os.path.join(MAIL, name)


def harvest(*args, fmt="json", stdin=None, env=None):
    return run(["harvest", "--format", fmt] + TRUST + list(args), stdin=stdin, env=env)


class TestOfflineDryRun(unittest.TestCase):
    def test_signed_would_publish_without_dn(self):
        r = harvest("--dry-run", mail("smime-lf.eml"))
        self.assertEqual(r.rc, 0, r)
        (rec,) = r.json()
        self.assertEqual(rec["action"], "would_publish")
        self.assertNotIn("dn", rec)
        self.assertNotIn("ldif", rec)
        self.assertEqual(rec["file"], mail("smime-lf.eml"))
        self.assertEqual(rec["message_id"], "smime@test.example")
        self.assertEqual(rec["from"], "alice@partner.example")
        self.assertEqual(rec["source"], "signer")
        self.assertEqual(rec["signature"], "ok")
        self.assertIn("sha256", rec["signature_algorithm"].lower())
        self.assertEqual(rec["emails"], ["alice@partner.example"])
        self.assertTrue(rec["chain_ok"])  # the intermediate travels in the message
        self.assertEqual(rec["problems"], [])

    def test_kinds_of_messages(self):
        r = harvest("--dry-run", mail("tampered-body.eml"), mail("unsigned.eml"),
                    mail("encrypted.eml"), mail("opaque.eml"), mail("forwarded.eml"))
        self.assertEqual(r.rc, 1, r)
        got = [(os.path.basename(x["file"]), x["action"], x["reason"]) for x in r.json()]
        self.assertEqual(got, [("tampered-body.eml", "skipped", "bad_signature"),
                               ("unsigned.eml", "skipped", "unsigned"),
                               ("encrypted.eml", "skipped", "encrypted"),
                               ("opaque.eml", "skipped", "critical_problem"),
                               ("forwarded.eml", "would_publish", None)])

    def test_unsigned_only_exits_0(self):
        r = harvest("--dry-run", mail("unsigned.eml"), mail("encrypted.eml"))
        self.assertEqual(r.rc, 0, r)

    def test_mbox_malformed_exits_65(self):
        r = harvest("--dry-run", mail("mixed.mbox"))
        self.assertEqual(r.rc, 65, r)
        self.assertEqual([x["index"] for x in r.json()], [0, 1, 2, 3, 4])
        self.assertIn("mixed.mbox", r.err)

    def test_from_mismatch(self):
        r = harvest("--dry-run", mail("two-signers.eml"), "--untrusted", pki("intermediate.pem"))
        self.assertEqual(r.rc, 1, r)
        recs = r.json()
        self.assertEqual(sorted((x["emails"][0], x["action"], x["reason"]) for x in recs),
                         [("Bob@partner.example", "skipped", "from_mismatch"),
                          ("alice@partner.example", "would_publish", None)])
        refused = [x for x in recs if x["reason"] == "from_mismatch"][0]
        self.assertEqual(refused["message"], "the certificate's addresses do not include the "
                         "message's From: not published (--allow-from-mismatch publishes it)")
        offline = [x for x in recs if x["action"] == "would_publish"][0]
        self.assertNotIn("dn", offline)
        self.assertTrue(offline["message"].endswith("; give -H to see the entry and the LDIF"),
                        offline["message"])
        r = harvest("--dry-run", "--allow-from-mismatch", mail("two-signers.eml"),
                    "--untrusted", pki("intermediate.pem"))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([x["action"] for x in r.json()], ["would_publish"] * 2)

    def test_stdin(self):
        with open(mail("cms-lf.eml")) as fp:
            r = harvest("--dry-run", "-", stdin=fp.read())
        self.assertEqual(r.rc, 0, r)
        (rec,) = r.json()
        self.assertEqual((rec["file"], rec["action"]), ("-", "would_publish"))

    def test_text_output(self):
        r = harvest("--dry-run", mail("smime-lf.eml"), fmt="text")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("would_publish", r.out)
        self.assertIn("alice@partner.example", r.out)

    def test_without_dry_run_needs_a_directory(self):
        r = harvest(mail("smime-lf.eml"), "-H", "ldap://127.0.0.1:1")
        self.assertEqual(r.rc, 69, r)
        self.assertEqual(r.out, "")

    def test_dry_run_with_uri_connects(self):
        # -H names a directory: a dry run matches there (here: nothing answers)
        r = harvest("--dry-run", mail("smime-lf.eml"), "-H", "ldap://127.0.0.1:1")
        self.assertEqual(r.rc, 69, r)


class TestDryRunFromLdif(unittest.TestCase):
    """harvest --dry-run --from-ldif: signer certificates matched and planned against an
    export's entries, no server (the same directory stand-in as publish)."""

    def export(self, entries, style=smptest.ldapsearch_style):
        path = os.path.join(_TMP, "export.ldif")
        with open(path, "wb") as fp:
            fp.write(style(entries))
        return path

    def test_matched_and_planned(self):
        for style in (smptest.ldapsearch_style, smptest.ldifde_style):
            alice = smptest.LdifEntry("Alice", mail="alice@partner.example")
            path = self.export([alice, smptest.LdifEntry("Bob", mail="bob@partner.example")],
                               style)
            with open(path, "rb") as fp:
                before = fp.read()
            r = harvest("--dry-run", "--from-ldif", path, mail("smime-lf.eml"))
            self.assertEqual(r.rc, 0, r)
            (rec,) = r.json()
            self.assertEqual(rec["action"], "would_publish", rec)
            self.assertEqual(rec["dn"].lower(), alice.dn.lower())
            self.assertIn("userCertificate", rec["ldif"])
            self.assertEqual(rec["source"], "signer")
            with open(path, "rb") as fp:
                self.assertEqual(fp.read(), before)

    def test_unchanged_and_not_found(self):
        signer = smptest.der_of("alice.pem")
        path = self.export([smptest.LdifEntry("Alice", mail="alice@partner.example",
                                              certs=[signer])])
        r = harvest("--dry-run", "--from-ldif", path, mail("smime-lf.eml"))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([x["action"] for x in r.json()], ["unchanged"], r)
        path = self.export([smptest.LdifEntry("Bob", mail="bob@partner.example")])
        r = harvest("--dry-run", "--from-ldif", path, mail("smime-lf.eml"))
        self.assertEqual(r.rc, 1, r)
        (rec,) = r.json()
        self.assertEqual((rec["action"], rec["reason"]), ("failed", "not_found"), rec)

    def test_needs_dry_run_and_an_export(self):
        path = self.export([smptest.LdifEntry("Alice", mail="alice@partner.example")])
        r = harvest("--from-ldif", path, mail("smime-lf.eml"))
        self.assertEqual(r.rc, 64, r)
        self.assertIn("harvest --from-ldif needs --dry-run", r.err)
        r = harvest("--dry-run", "--from-ldif", os.path.join(_TMP, "no-such.ldif"),
                    mail("smime-lf.eml"))
        self.assertEqual(r.rc, 66, r)
        r = harvest("--dry-run", "--from-ldif", "-", "-", stdin="")
        self.assertEqual(r.rc, 64, r)


class TestUsage(unittest.TestCase):
    def test_no_message(self):
        r = harvest("--dry-run")
        self.assertEqual(r.rc, 64, r)
        self.assertIn("MESSAGE", r.err)

    def test_missing_file(self):
        missing = os.path.join(_TMP, "no-such.eml")
        for extra in (["--dry-run"], ["-H", "ldap://127.0.0.1:1"]):
            r = harvest(missing, *extra)
            self.assertEqual(r.rc, 66, r)  # nothing to read: no connection attempted
            self.assertIn("no-such.eml", r.err)
            (rec,) = r.json()
            self.assertEqual((rec["action"], rec["reason"]), ("failed", "file_not_found"))

    def test_missing_file_among_others(self):
        r = harvest("--dry-run", os.path.join(_TMP, "no-such.eml"), mail("smime-lf.eml"))
        self.assertEqual(r.rc, 66, r)
        self.assertEqual([x["action"] for x in r.json()], ["failed", "would_publish"])

    def test_add_and_replace(self):
        r = harvest("--dry-run", "--add", "--replace", mail("smime-lf.eml"))
        self.assertEqual(r.rc, 64, r)

    def test_publish_intermediates_needs_a_server(self):
        # the CA containers are read before anything is judged: offline and an export refused
        r = harvest("--dry-run", "--publish-intermediates", mail("smime-lf.eml"))
        self.assertEqual(r.rc, 64, r)
        self.assertIn("--publish-intermediates needs a directory", r.err)
        self.assertEqual(r.out, "")
        path = os.path.join(_TMP, "export.ldif")
        with open(path, "w") as fp:
            fp.write("dn: cn=x,dc=example\ncn: x\n")
        r = harvest("--dry-run", "--publish-intermediates", "--from-ldif", path,
                    mail("smime-lf.eml"))
        self.assertEqual(r.rc, 64, r)
        self.assertIn("not from an LDIF export", r.err)

    def test_ou_without_create_contact(self):
        r = harvest("--dry-run", "--ou", "ou=x", mail("smime-lf.eml"))
        self.assertEqual(r.rc, 64, r)

    def test_empty_directory(self):
        d = tempfile.mkdtemp(dir=_TMP)
        r = harvest("--dry-run", d)
        self.assertEqual(r.rc, 0, r)  # an empty spool is nothing to do
        self.assertEqual(r.out, "")
        self.assertIn("nothing to harvest", r.err)

    def test_maildir_and_directory_of_messages(self):
        r = harvest("--dry-run", mail("maildir"))
        self.assertEqual([x["action"] for x in r.json()],
                         ["would_publish", "skipped", "skipped"])
        d = tempfile.mkdtemp(dir=_TMP)
        for name in ("smime-lf.eml", "unsigned.eml"):
            shutil.copy(mail(name), d)
        r = harvest("--dry-run", d)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([(os.path.basename(x["file"]), x["action"]) for x in r.json()],
                         [("smime-lf.eml", "would_publish"), ("unsigned.eml", "skipped")])

if __name__ == "__main__":
    smptest.main()
