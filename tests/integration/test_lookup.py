"""Integration tests for `smimepub lookup` against the real slapd and Samba AD (SPEC sections 3, 4, 5)."""
import base64
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import A, Base, make_cert  # noqa: E402
import smptest  # noqa: E402
from smptest import pki  # noqa: E402

# sixteen distinct certificates of the test PKI (values on one entry for too_many_values)
MANY = ["alice.pem", "alice-new.pem", "alice-old-expired.pem", "bob-ec.pem", "carol-sanonly.pem",
        "dave-cn.pem", "noaddr.pem", "idn.pem", "expired.pem", "notyet.pem", "expiring.pem",
        "signonly.pem", "enconly.pem", "noeku.pem", "servereku.pem", "missing-int.pem"]


def p7_der(name):
    """A PKCS#7 certs-only blob (DER) holding one certificate: what Outlook puts in
    userSMIMECertificate."""
    return subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", pki(name),
                           "-outform", "DER"], check=True, capture_output=True).stdout


class LookupTests(Base):
    prefix = "lk"

    def lookup(self, *addrs, **kw):
        return self.smp("lookup", *addrs, journal=False, **kw)

    def all_codes(self, res):
        return [p["code"] for r in res.json() for p in r.get("problems", [])]

    def test_usable_certificate_found(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["dn"].lower(), dn.lower())
        self.assertEqual(rec["address"], A)
        self.assertEqual(rec["index"], 0)  # 0-based, as audit, prune and CSV number values
        self.assertEqual(rec["attribute"].split(";")[0], "userCertificate")
        self.assertIs(rec["chosen"], True)
        self.assertIs(rec["usable"], True)
        self.assertEqual(rec["emails"], [A])
        self.assertEqual(rec["problems"], [])

    def test_address_is_case_insensitive(self):
        self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.lookup("ALICE@Partner.Example")
        self.assertEqual(res.rc, 0, res)
        self.assertIs(self.one(res)["chosen"], True)

    def test_clients(self):
        self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "alice.pem"])
        recs = self.lookup(A).json()
        self.assertEqual([r["clients"] for r in recs],
                         [["owa", "gpgsm", "thunderbird"], ["outlook", "thunderbird"]])

    def test_first_value_unusable(self):
        self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 0, res)
        recs = res.json()
        self.assertEqual([(r["index"], r["chosen"], r["usable"]) for r in recs],
                         [(0, False, False), (1, True, True)])
        # the same numbering as audit's for the same values
        audit = self.smp("audit")
        by_sha = {r["sha256"]: r["index"] for r in audit.json() if r.get("type") == "certificate"}
        self.assertEqual([by_sha[r["sha256"]] for r in recs], [0, 1], audit)
        self.assertIn("expired", self.codes(recs[0]))
        self.assertIn("first_unusable", self.codes(recs[1]))
        finding = [p for p in recs[1]["problems"] if p["code"] == "first_unusable"][0]
        self.assertEqual(finding["scope"], "entry")

    def test_nothing_usable(self):
        dn = self.contact("Expired", mail="expired@partner.example", certs=["expired.pem"])
        res = self.lookup("expired@partner.example")
        self.assertEqual(res.rc, 1, res)
        recs = res.json()
        self.assertEqual(len(recs), 2, res)
        self.assertIs(recs[0]["chosen"], False)
        summary = self.one(res, usable=False, reason="no_usable_certificate")
        self.assertEqual(summary["dn"].lower(), dn.lower())
        self.assertIn("first_unusable", self.codes(summary))

    def test_no_certificate(self):
        self.contact("Alice", mail=A)
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["usable"], rec["reason"]), (False, "no_certificate"))

    def test_not_found(self):
        res = self.lookup("nobody@partner.example")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["usable"], rec["reason"], rec["dn"]), (False, "not_found", None))

    def test_exit_1_unless_every_address_usable(self):
        self.contact("Alice", mail=A, certs=["alice.pem"])
        self.contact("Bob", mail="bob@partner.example", certs=["bob-ec.pem"])
        self.assertEqual(self.lookup(A, "bob@partner.example").rc, 0)
        res = self.lookup(A, "nobody@partner.example", "bob@partner.example")
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(len([r for r in res.json() if r.get("chosen")]), 2)

    def test_proxy_addresses_only(self):
        self.contact("Alice", proxies=["SMTP:" + A], certs=["alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertIs(rec["chosen"], True)
        self.assertIn("no_mail_attribute", self.codes(rec))

    def _smime_entry(self, smime, certs):
        attr = "userSMIMECertificate"
        extra = "%s:: %s" % (attr, base64.b64encode(p7_der(smime)).decode())
        return self.contact("Alice", mail=A, certs=certs, extra=extra)

    def test_smime_attribute_shadows(self):
        self._smime_entry("alice-old-expired.pem", ["alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)
        recs = res.json()
        smime = self.one(res, attribute="userSMIMECertificate")
        self.assertIs(smime["chosen"], False)
        self.assertIn("expired", self.codes(smime))
        cert = [r for r in recs if r.get("attribute", "").startswith("userCertificate")][0]
        self.assertIs(cert["usable"], True)
        self.assertIs(cert["chosen"], False)  # Outlook never looks there
        self.assertIn("smime_attr_shadows", self.all_codes(res))

    def test_smime_attribute_taken_first(self):
        self._smime_entry("alice-new.pem", ["alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 0, res)
        chosen = [r for r in res.json() if r.get("chosen")]
        self.assertEqual(len(chosen), 1)
        self.assertEqual(chosen[0]["attribute"], "userSMIMECertificate")
        self.assertEqual(chosen[0]["not_after"], "2028-03-01T00:00:00Z")

    def test_too_many_values(self):
        self.contact("Many", mail="noeku@partner.example", certs=MANY)
        res = self.lookup("noeku@partner.example")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(len([r for r in res.json() if "index" in r]), 16)
        self.assertIn("too_many_values", self.all_codes(res))

    def test_ambiguous_entries_reported(self):
        self.contact("Alice One", mail=A, certs=["alice.pem"])
        self.contact("Alice Two", mail=A)
        res = self.lookup(A)
        self.assertIn("ambiguous", self.all_codes(res))
        self.assertEqual(len({r["dn"] for r in res.json()}), 2)

    def test_injection_attempts_do_not_match(self):
        weird = "a(b)*c\\d@partner.example"
        self.contact("Alice", mail=A, certs=["alice.pem"])
        self.contact("Weird", mail=weird, certs=["bob-ec.pem"])
        for evil in ["*", "*@partner.example", "*)(mail=*", A + ")(mail=*",
                     "*)(|(mail=*)@partner.example", "a(b)*@partner.example",
                     "a\\28b\\29\\2ac\\5cd@partner.example"]:
            res = self.lookup(evil)
            self.assertEqual(res.rc, 1, "%s: %r" % (evil, res))
            self.assertFalse([r for r in res.json() if r.get("chosen")], evil)
        # the entry with the weird address is found, and the certificate on it is Bob's: not
        # usable for mail to the weird address (SPEC section 4: address_mismatch)
        res = self.lookup(weird)
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res, index=0)
        self.assertEqual(rec["emails"], ["Bob@partner.example"])
        self.assertIs(rec["usable"], False)
        self.assertIn("address_mismatch", self.codes(rec))

    def test_text_and_csv(self):
        self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.lookup(A, fmt="text")
        self.assertEqual(res.rc, 0, res)
        self.assertIn(A, res.out)
        res = self.lookup(A, fmt="csv")
        self.assertEqual(res.rc, 0, res)
        self.assertTrue(res.out.startswith("file,dn,"), res.out)

    def test_usage_and_access(self):
        self.assertEqual(self.lookup().rc, 64)
        res = self.lookup(A, who=(self.d.admin_dn, "wrong-password"))
        self.assertEqual(res.rc, 77, res)
        res = self.lookup(A, uri="ldap://127.0.0.1:1")
        self.assertEqual(res.rc, 69, res)

    def test_reader_may_look_up(self):
        self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.lookup(A, who="reader")
        self.assertEqual(res.rc, 0, res)
        self.assertIs(self.one(res)["chosen"], True)


class LookupSlapd(LookupTests, unittest.TestCase):
    kind = "slapd"


class LookupAD(LookupTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
