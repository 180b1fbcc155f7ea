"""Integration tests for `smimepub remove` against the real slapd and Samba AD (SPEC sections 2, 4, 5)."""
import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import A, Base  # noqa: E402
import smptest  # noqa: E402
from smptest import der_of  # noqa: E402


def fp(name, colons=False):
    h = hashlib.sha256(der_of(name)).hexdigest()
    if colons:
        return ":".join(h[i:i + 2] for i in range(0, 64, 2)).upper()
    return h


class RemoveTests(Base):
    prefix = "rm"

    def test_fingerprint_by_address(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "alice-new.pem", "bob-ec.pem"])
        res = self.smp("remove", A, "--fingerprint", fp("alice.pem", colons=True))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "removed")
        self.assertEqual(rec["dn"].lower(), dn.lower())
        self.assertEqual(rec["sha256"], fp("alice.pem"))
        self.assertEqual(self.certs(dn), [der_of("alice-new.pem"), der_of("bob-ec.pem")])

    def test_expired_by_dn(self):
        dn = self.contact("Alice", mail=A,
                          certs=["alice-old-expired.pem", "alice.pem", "expired.pem"])
        res = self.smp("remove", dn, "--expired")
        self.assertEqual(res.rc, 0, res)
        recs = res.json()
        self.assertEqual(sorted(r["sha256"] for r in recs),
                         sorted([fp("alice-old-expired.pem"), fp("expired.pem")]))
        self.assertTrue(all(r["action"] == "removed" for r in recs))
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_all(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "bob-ec.pem"])
        res = self.smp("remove", A, "--all")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(len(res.json()), 2)
        self.assertEqual(self.certs(dn), [])
        # again: nothing to do, success
        res = self.smp("remove", A, "--all")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("unchanged", "nothing_selected"))

    def test_fingerprint_not_present(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.smp("remove", A, "--fingerprint", fp("bob-ec.pem"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("unchanged", "not_found"))
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_usage_errors(self):
        self.contact("Alice", mail=A, certs=["alice.pem"])
        self.assertEqual(self.smp("remove", A).rc, 64)
        self.assertEqual(self.smp("remove", A, "--all", "--expired").rc, 64)
        self.assertEqual(self.smp("remove", A, "--all", "--fingerprint", fp("alice.pem")).rc, 64)
        self.assertEqual(self.smp("remove", "--all").rc, 64)
        self.assertEqual(self.smp("remove", A, "--fingerprint", "abc").rc, 64)

    def test_not_found_and_ambiguous(self):
        res = self.smp("remove", "nobody@partner.example", "--all")
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res)["reason"], "not_found")
        res = self.smp("remove", "cn=nobody," + self.ou, "--all")
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res)["reason"], "not_found")
        dn1 = self.contact("Alice One", mail=A, certs=["alice.pem"])
        dn2 = self.contact("Alice Two", proxies=["smtp:" + A], certs=["alice-new.pem"])
        res = self.smp("remove", A, "--all")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual(rec["reason"], "ambiguous")
        self.assertEqual(len(rec["candidates"]), 2)
        self.assertEqual(self.certs(dn1), [der_of("alice.pem")])
        self.assertEqual(self.certs(dn2), [der_of("alice-new.pem")])

    def test_injection_does_not_match(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        for evil in ["*@partner.example", "*)(mail=*@partner.example"]:
            res = self.smp("remove", evil, "--all")
            self.assertEqual(res.rc, 1, "%s: %r" % (evil, res))
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_dry_run(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "alice-old-expired.pem"])
        before = self.snapshot(dn)
        res = self.smp("remove", "-n", A, "--expired", fmt=None)
        self.assertEqual(res.rc, 0, res)
        self.assertIn("would_remove", res.out)
        self.assertIn("changetype: modify", res.out)
        self.assertEqual(self.snapshot(dn), before)
        self.assertFalse(os.path.exists(self.journal))
        self.ldapmodify_text(res.out)
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_journal_undo(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "alice.pem", "bob-ec.pem"])
        before = self.snapshot(dn)
        res = self.smp("remove", A, "--all")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [])
        with open(self.journal) as fp_:
            self.ldapmodify_text(fp_.read())
        self.assertEqual(self.snapshot(dn), before)

    def test_reader_may_not_remove(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.smp("remove", A, "--all", who="reader")
        self.assertEqual(res.rc, 77, res)
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_certwriter_may_remove(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "alice-old-expired.pem"])
        res = self.smp("remove", A, "--expired", who="writer")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])


class RemoveSlapd(RemoveTests, unittest.TestCase):
    kind = "slapd"


class RemoveAD(RemoveTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
