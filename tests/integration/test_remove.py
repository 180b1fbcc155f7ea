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

    def test_sha1_thumbprint_as_windows_shows_it(self):
        # Windows' certificate dialog: SHA-1, spaced pairs, and a copy from it starts with
        # an invisible U+200E
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "alice-new.pem"])
        h = hashlib.sha1(der_of("alice.pem")).hexdigest()
        thumb = "\u200e" + " ".join(h[i:i + 2] for i in range(0, 40, 2))
        res = self.smp("remove", A, "--fingerprint", thumb)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.one(res)["sha256"], fp("alice.pem"))
        self.assertEqual(self.certs(dn), [der_of("alice-new.pem")])
        res = self.smp("remove", A, "--fingerprint", h[:39])
        self.assertEqual(res.rc, 64, res)
        self.assertIn("SHA-1", res.err)

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

    def test_mailbox_with_equals_sign_is_an_address(self):
        # '=' is atext: 'cn=eq@partner.example' is a mailbox (and also parses as a DN). It is
        # the address unless --dn says otherwise; both the single and the batched path
        eq = "cn=eq@partner.example"
        dn = self.contact("Eq", mail=eq, certs=["alice.pem", "bob-ec.pem"])
        other = self.contact("Other", mail="other@partner.example", certs=["alice.pem"])
        res = self.smp("remove", eq, "--fingerprint", fp("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.one(res)["dn"].lower(), dn.lower())
        self.assertEqual(self.certs(dn), [der_of("bob-ec.pem")])
        res = self.smp("remove", "--all", eq, other)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([r["action"] for r in res.json()], ["removed", "removed"], res)
        self.assertEqual(self.certs(dn), [])
        self.assertEqual(self.certs(other), [])

    def test_dn_option_takes_every_argument_as_a_dn(self):
        eq = "cn=eqdn@partner.example"
        dn = self.contact("EqDn", mail=eq, certs=["alice.pem"])
        other = self.contact("OtherDn", mail="otherdn@partner.example", certs=["alice.pem"])
        for targets in ([eq], [eq, other]):
            res = self.smp("remove", "--dn", "--all", *targets)
            self.assertEqual(res.rc, 1, res)
            rec = res.json()[0]
            # there is no entry named 'cn=eqdn@partner.example'; the one with that mail stays
            self.assertEqual(rec["action"], "failed", res)
            self.assertEqual(self.certs(dn), [der_of("alice.pem")])
        self.assertEqual(self.certs(other), [])  # named by its DN: done
        # with --dn an argument that is not a DN is refused as such, whatever else it is
        for targets in (["eqdn@partner.example"], ["eqdn@partner.example", dn]):
            res = self.smp("remove", "--dn", "--all", *targets)
            self.assertEqual(res.rc, 64, res)
            rec = res.json()[0]
            self.assertEqual((rec["action"], rec["reason"]), ("failed", "bad_dn"), res)
            self.assertIn("is not a DN", rec["message"])
        self.assertEqual(self.certs(dn), [])  # the second run named it by its DN

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

    def test_many_targets_in_order(self):
        # more targets than one search batch (50 addresses) and one write group (64), named by
        # address and by DN, with every outcome among them: each reported in the order given,
        # once per value removed, and the journal undoes exactly what was done
        n = 70
        dns = [self.contact("Many %02d" % i, mail="many%02d@partner.example" % i,
                            certs=["alice-old-expired.pem", "alice.pem"]) for i in range(n)]
        twin1 = self.contact("Twin One", mail="twin@partner.example", certs=["expired.pem"])
        twin2 = self.contact("Twin Two", proxies=["smtp:twin@partner.example"],
                             certs=["expired.pem"])
        clean = self.contact("Clean", mail="clean@partner.example", certs=["alice.pem"])
        before = {dn: self.snapshot(dn) for dn in dns + [twin1, twin2, clean]}
        targets = []
        for i, dn in enumerate(dns):
            targets.append(dn if i % 3 == 0 else "many%02d@partner.example" % i)
            if i == 10:
                targets += ["nobody@partner.example", "twin@partner.example",
                            "clean@partner.example", "cn=nobody," + self.ou]
            if i == 20:
                targets.append("MANY20@partner.example")  # the entry named just before
        res = self.smp("remove", "--expired", *targets)
        self.assertEqual(res.rc, 1, res)  # not_found and ambiguous are failures
        recs = res.json()
        self.assertEqual(len(recs), len(targets), res)
        for target, rec in zip(targets, recs):
            if target.startswith("many") or target.startswith("cn=Many"):
                self.assertEqual((rec["action"], rec["sha256"]),
                                 ("removed", fp("alice-old-expired.pem")), (target, rec))
                self.assertIn(rec["dn"].lower(), [d.lower() for d in dns])
        pos = targets.index("nobody@partner.example")
        self.assertEqual([r["reason"] for r in recs[pos:pos + 4]],
                         ["not_found", "ambiguous", "nothing_selected", "not_found"])
        again = recs[targets.index("MANY20@partner.example")]
        self.assertEqual((again["action"], again["reason"]), ("unchanged", "nothing_selected"))
        for dn in dns:
            self.assertEqual(self.certs(dn), [der_of("alice.pem")], dn)
        self.assertEqual(self.certs(twin1), [der_of("expired.pem")])
        self.assertEqual(self.certs(clean), [der_of("alice.pem")])
        with open(self.journal) as fp_:
            self.ldapmodify_text(fp_.read())
        # every value comes back in its place: the removed first value first again
        for dn, snap in before.items():
            self.assertEqual(self.snapshot(dn), snap, dn)


class RemoveSlapd(RemoveTests, unittest.TestCase):
    kind = "slapd"


class RemoveAD(RemoveTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
