"""publish --dry-run --from-ldif against an ldapsearch export of the real slapd and Samba AD.

The same entries are published with a live --dry-run and with --dry-run --from-ldif on
`ldapsearch -LLL` of them: the records (JSON, every field, the LDIF included) and the text
output must be identical, and nothing changes on the server.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import A, Base, make_cert  # noqa: E402
import smptest  # noqa: E402
from smptest import T0, pki, run  # noqa: E402

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]


class PublishLdifTests(Base):
    prefix = "pl"

    def setUp(self):
        super().setUp()
        self.dns = [
            self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "bob-ec.pem"]),
            self.contact("Bob", proxies=["SMTP:bob@partner.example", "X500:/o=x/cn=bob"]),
            self.contact("Carol", mail="carol@partner.example", certs=["carol-sanonly.pem"]),
            self.contact("Exp", mail="expired@partner.example"),
            self.contact("Mike One", mail="mike@partner.example"),
            self.contact("Mike Two", proxies=["smtp:MIKE@partner.example"]),
            self.contact("Fay", mail="fay@partner.example", certs=["demo-expired.pem"]),
            self.contact("Subj Person", mail="other@partner.example"),
        ]
        rdns = [r.split("=", 1) for r in self.ou.split(",")]
        subj = "".join("/%s=%s" % (k.upper(), v) for k, v in reversed(rdns)) + "/CN=Subj Person"
        self.subj_cert, _ = make_cert(subj, ["subj@partner.example"])
        self.files = [pki(f) for f in ("alice.pem", "bob-ec.pem", "carol-sanonly.pem",
                                       "expired.pem", "missing-int.pem", "contacts/fay.pem",
                                       "contacts/ann.pem")] + [self.subj_cert]

    def export(self):
        """`ldapsearch -LLL` of the test's OU, as an administrator would take it."""
        proc = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", self.d.uri, "-D",
                               self.d.admin_dn, "-w", self.d.admin_pw, "-b", self.ou, "*"],
                              capture_output=True, env=self.d._ldap_env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        path = os.path.join(self.tmp, "export.ldif")
        with open(path, "wb") as fp:
            fp.write(proc.stdout)
        return path

    def both(self, *opts, fmt="json"):
        """(live dry run, dry run on the export) with the same options and files."""
        live = self.smp("publish", "-n", *(list(opts) + self.files), fmt=fmt)
        argv = TRUST + (["--format", fmt] if fmt else [])
        offline = run(argv + ["publish", "-n", "--from-ldif", self.export()] + list(opts) +
                      self.files)
        return live, offline

    @staticmethod
    def comparable(records):
        """The records, ambiguous candidates in sorted order: a server lists the entries of a
        search in its own order (Samba's is not the order of an export)."""
        for r in records:
            if r.get("reason") == "ambiguous":
                for dn in r["candidates"]:
                    assert dn in r["message"], r
                r["candidates"].sort()
                r["message"] = None
        return records

    def test_same_records_as_live_dry_run(self):
        before = {dn: self.snapshot(dn) for dn in self.dns}
        seen = set()
        for opts in ([], ["--replace"], ["--add"], ["--replace", "--prune-expired"],
                     ["--force", "--create-contact"]):
            live, offline = self.both(*opts)
            self.assertEqual(live.rc, 1, live)  # the ambiguous mike@ at least
            self.assertEqual((offline.rc, self.comparable(offline.json())),
                             (live.rc, self.comparable(live.json())),
                             "%s\nlive: %r\nldif: %r" % (opts, live, offline))
            recs = offline.json()
            self.assertEqual(len(recs), len(self.files))
            seen.update((r["action"], r["reason"]) for r in recs)
        # the run covered every kind of outcome
        for want in [("would_publish", None), ("would_replace", None),
                     ("unchanged", "already_published"), ("skipped", "critical_problem"),
                     ("skipped", "already_has_certificate"), ("failed", "ambiguous"),
                     ("failed", "not_found")]:
            self.assertIn(want, seen)
        self.assertEqual({dn: self.snapshot(dn) for dn in self.dns}, before)
        self.assertFalse(os.path.exists(self.journal))

    def test_same_text_output_as_live_dry_run(self):
        self.files.remove(pki("missing-int.pem"))  # ambiguous: candidates in the server's order
        live, offline = self.both("--replace", fmt=None)
        self.assertIn("changetype: modify", live.out)
        self.assertEqual((offline.rc, offline.out), (live.rc, live.out))
        # and it applies: the export's plan is the directory's
        self.ldapmodify_text(offline.out)
        self.assertEqual(self.certs(self.dns[0])[0], smptest.der_of("alice.pem"))


class PublishLdifSlapd(PublishLdifTests, unittest.TestCase):
    kind = "slapd"


class PublishLdifAD(PublishLdifTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
