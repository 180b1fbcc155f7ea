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

    def values(self, res):
        return [r for r in res.json() if r.get("type") == "certificate"]

    def test_usable_certificate_found(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res, type="certificate")
        self.assertEqual(rec["dn"].lower(), dn.lower())
        self.assertEqual(rec["address"], A)
        self.assertEqual(rec["index"], 0)  # 0-based, as audit, prune and CSV number values
        self.assertEqual(rec["attribute"].split(";")[0], "userCertificate")
        self.assertIs(rec["chosen"], True)
        self.assertIs(rec["usable"], True)
        self.assertEqual(rec["emails"], [A])
        self.assertEqual(rec["problems"], [])
        verdict = self.one(res, type="entry")
        self.assertEqual((verdict["usable"], verdict["severity"], verdict["reason"]),
                         (True, "none", None))
        self.assertEqual(verdict["encrypted_by"], ["outlook", "owa", "gpgsm", "thunderbird"])

    def test_address_is_case_insensitive(self):
        self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.lookup("ALICE@Partner.Example")
        self.assertEqual(res.rc, 0, res)
        self.assertIs(self.one(res, type="certificate")["chosen"], True)

    def test_clients(self):
        self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "alice.pem"])
        recs = self.values(self.lookup(A))
        self.assertEqual([r["clients"] for r in recs],
                         [["owa", "gpgsm", "thunderbird"], ["outlook", "thunderbird"]])

    def test_first_value_unusable(self):
        self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)  # OWA and gpgsm take the expired one
        recs = self.values(res)
        self.assertEqual([(r["index"], r["chosen"], r["usable"]) for r in recs],
                         [(0, False, False), (1, True, True)])
        # the same numbering as audit's for the same values
        audit = self.smp("audit")
        by_sha = {r["sha256"]: r["index"] for r in audit.json() if r.get("type") == "certificate"}
        self.assertEqual([by_sha[r["sha256"]] for r in recs], [0, 1], audit)
        self.assertIn("expired", self.codes(recs[0]))
        # where audit puts it: on value 0
        self.assertIn("first_unusable", self.codes(recs[0]))
        self.assertNotIn("first_unusable", self.codes(recs[1]))

    def test_nothing_usable(self):
        dn = self.contact("Expired", mail="expired@partner.example", certs=["expired.pem"])
        res = self.lookup("expired@partner.example")
        self.assertEqual(res.rc, 1, res)
        recs = res.json()
        self.assertEqual(len(recs), 2, res)
        self.assertIs(recs[0]["chosen"], False)
        self.assertIn("first_unusable", self.codes(recs[0]))
        summary = self.one(res, usable=False, reason="no_usable_certificate")
        self.assertEqual(summary["dn"].lower(), dn.lower())
        self.assertEqual(summary["encrypted_by"], [])

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
        rec = self.one(res, type="certificate")
        self.assertIs(rec["chosen"], True)
        self.assertIn("no_mail_attribute", self.codes(self.one(res, type="entry")))

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
        # the first value is Alice's: OWA and gpgsm would encrypt to her key
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res, type="entry")["clients"]["owa"]["reason"],
                         "address_mismatch")
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
        self.assertIs(self.one(res, type="certificate")["chosen"], True)


class LookupSlapd(LookupTests, unittest.TestCase):
    kind = "slapd"


class LookupAD(LookupTests, unittest.TestCase):
    kind = "ad"


GARBAGE = b"\x30\x82\x01\x00" + bytes((i * 7 + 3) % 256 for i in range(300))


class LookupTruthTests(Base):
    """Issue 11: what each client takes and whether it encrypts, read consistently from the
    value lines up to the entry's verdict, and the same judgement and numbering as audit."""

    prefix = "lt"

    def lookup(self, *addrs, **kw):
        return self.smp("lookup", *addrs, journal=False, **kw)

    def verdict(self, res):
        return self.one(res, type="entry")

    def values(self, res):
        return [r for r in res.json() if r.get("type") == "certificate"]

    def client(self, res, name):
        c = self.verdict(res)["clients"][name]
        return (c["attribute"].split(";")[0] if c["attribute"] else None, c["index"],
                c["encrypts"], c["reason"])

    def assert_agrees_with_audit(self, res):
        """Every userCertificate value line of lookup has audit's problems for that index."""
        audit = self.smp("audit", journal=False)
        by_index = {r["index"]: sorted(self.codes(r)) for r in audit.json()
                    if r.get("type") == "certificate"}
        for v in self.values(res):
            if v["attribute"].startswith("userCertificate"):
                self.assertEqual(sorted(self.codes(v)), by_index[v["index"]],
                                 "value %d: lookup %r, audit %r" % (v["index"], res, audit))

    def smime_extra(self, blob):
        return "userSMIMECertificate:: " + base64.b64encode(blob).decode()

    def test_mismatching_value_only_is_never_chosen_or_ok(self):
        self.contact("Alice", mail=A, certs=["bob-ec.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)
        v = self.one(res, type="certificate")
        self.assertEqual((v["chosen"], v["usable"], v["encrypted_by"]), (False, False, []))
        problem = [p for p in v["problems"] if p["code"] == "address_mismatch"][0]
        self.assertEqual(problem["severity"], "critical")
        self.assertIn("would be encrypted to Bob@partner.example's key", problem["message"])
        verdict = self.verdict(res)
        self.assertEqual((verdict["usable"], verdict["severity"], verdict["reason"]),
                         (False, "critical", "no_usable_certificate"))
        self.assertEqual(self.client(res, "outlook"), (None, None, False,
                                                       "no_usable_certificate"))
        for c in ("owa", "gpgsm", "thunderbird"):
            self.assertEqual(self.client(res, c), ("userCertificate", 0, False,
                                                   "address_mismatch"), c)
        text = self.lookup(A, fmt="text")
        self.assertEqual(text.rc, 1, text)
        self.assertIn("mail to 'alice@partner.example' would be encrypted to "
                      "Bob@partner.example's key", text.out)
        self.assertNotIn("encrypts with", text.out)
        self.assertRegex(text.out, r"(?m)^alice@partner\.example: CRITICAL: no mail client")
        self.assert_agrees_with_audit(res)

    def test_mismatching_value_first(self):
        self.contact("Alice", mail=A, certs=["bob-ec.pem", "alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)  # OWA and gpgsm encrypt to Bob's key
        v0, v1 = self.values(res)
        self.assertEqual((v0["chosen"], v0["usable"], v0["encrypted_by"]), (False, False, []))
        self.assertEqual((v1["chosen"], v1["encrypted_by"]), (True, ["outlook", "thunderbird"]))
        self.assertEqual(self.client(res, "owa"), ("userCertificate", 0, False,
                                                   "address_mismatch"))
        self.assertEqual(self.client(res, "gpgsm"), ("userCertificate", 0, False,
                                                     "address_mismatch"))
        self.assertEqual(self.client(res, "outlook"), ("userCertificate", 1, True, None))
        self.assertEqual(self.client(res, "thunderbird"), ("userCertificate", 1, True, None))
        verdict = self.verdict(res)
        self.assertEqual((verdict["severity"], verdict["reason"]),
                         ("critical", "some_clients_cannot_encrypt"))
        self.assert_agrees_with_audit(res)

    def test_expired_smime_attribute_before_valid_certificate(self):
        self.contact("Alice", mail=A, certs=["alice.pem"],
                     extra=self.smime_extra(p7_der("alice-old-expired.pem")))
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.client(res, "outlook"), ("userSMIMECertificate", 0, False,
                                                       "expired"))
        for c in ("owa", "gpgsm", "thunderbird"):
            self.assertEqual(self.client(res, c), ("userCertificate", 0, True, None), c)
        smime = self.one(res, attribute="userSMIMECertificate")
        self.assertEqual((smime["index"], smime["clients"], smime["encrypted_by"]),
                         (0, ["outlook"], []))
        verdict = self.verdict(res)
        self.assertEqual(verdict["severity"], "critical")
        self.assertEqual(verdict["encrypted_by"], ["owa", "gpgsm", "thunderbird"])
        self.assertIn("smime_attr_shadows", self.codes(verdict))
        text = self.lookup(A, fmt="text").out
        self.assertRegex(text, r"(?m)^  Outlook +takes userSMIMECertificate index 0 .*"
                               r"cannot encrypt: it expired on 2025-01-01")
        self.assertRegex(text, r"(?m)^alice@partner\.example: CRITICAL: OWA, gpgsm and "
                               r"Thunderbird encrypt to 'alice@partner\.example'; Outlook cannot")
        self.assert_agrees_with_audit(res)

    def test_expired_first_value_then_valid(self):
        self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.client(res, "outlook"), ("userCertificate", 1, True, None))
        self.assertEqual(self.client(res, "owa"), ("userCertificate", 0, False, "expired"))
        self.assertEqual(self.client(res, "gpgsm"), ("userCertificate", 0, False, "expired"))
        self.assertEqual(self.client(res, "thunderbird"), ("userCertificate", 1, True, None))
        v0, v1 = self.values(res)
        # the value lines carry audit's severities: the valid one is not made critical by the
        # entry's findings
        self.assertEqual(sorted(self.codes(v1)), [])
        self.assertIn("first_unusable", self.codes(v0))
        csv = self.lookup(A, fmt="csv")
        rows = list(__import__("csv").DictReader(csv.out.splitlines()))
        self.assertEqual([(r["index"], r["severity"]) for r in rows],
                         [("0", "critical"), ("1", ""), ("", "critical")])
        self.assertEqual(rows[2]["reason"], "some_clients_cannot_encrypt")
        self.assertIn("OWA takes userCertificate", rows[2]["message"])
        self.assert_agrees_with_audit(res)

    def test_found_only_through_proxy_addresses(self):
        self.contact("Alice", proxies=["SMTP:" + A], certs=["alice.pem"])
        res = self.lookup(A)
        self.assertEqual(res.rc, 0, res)  # a warning: the clients that find it encrypt
        for c in ("gpgsm", "thunderbird"):
            self.assertEqual(self.client(res, c), (None, None, False, "no_mail_attribute"), c)
        verdict = self.verdict(res)
        self.assertEqual((verdict["severity"], verdict["encrypted_by"]),
                         ("warning", ["outlook", "owa"]))
        self.assertIn("no_mail_attribute", self.codes(verdict))
        self.assertEqual(self.one(res, type="certificate")["clients"], ["outlook", "owa"])

    def test_ec_key_gpgsm_cannot(self):
        self.contact("Bob", mail="bob@partner.example", certs=["bob-ec.pem"])
        res = self.lookup("bob@partner.example")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.client(res, "gpgsm"), ("userCertificate", 0, False,
                                                     "gpgsm_ec_key"))
        self.assertEqual(self.verdict(res)["encrypted_by"], ["outlook", "owa", "thunderbird"])
        self.assertEqual(self.verdict(res)["severity"], "warning")
        text = self.lookup("bob@partner.example", fmt="text").out
        self.assertIn("gpgsm 2.2 encrypts to RSA keys only", text)

    def test_no_certificate_at_all(self):
        self.contact("Alice", mail=A)
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)
        for c in ("outlook", "owa", "gpgsm", "thunderbird"):
            self.assertEqual(self.client(res, c), (None, None, False, "no_certificate"), c)
        self.assertEqual(self.verdict(res)["reason"], "no_certificate")

    def test_value_that_is_not_a_certificate(self):
        # slapd refuses such a userCertificate value (rc 21); userSMIMECertificate takes it
        self.contact("Alice", mail=A, certs=["alice.pem"], extra=self.smime_extra(GARBAGE))
        res = self.lookup(A)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.client(res, "outlook"), ("userSMIMECertificate", 0, False,
                                                       "malformed"))
        self.assertEqual(self.client(res, "owa"), ("userCertificate", 0, True, None))
        smime = self.one(res, attribute="userSMIMECertificate")
        self.assertIn("malformed", self.codes(smime))
        if self.kind == "ad":  # AD keeps any bytes in userCertificate
            self.d.delete_tree(self.d.contact_dn(self.ou, "Alice"))
            self.contact("Alice", mail=A, certs=[GARBAGE, "alice.pem"])
            res = self.lookup(A)
            self.assertEqual(res.rc, 1, res)
            self.assertEqual(self.client(res, "owa"), ("userCertificate", 0, False,
                                                       "malformed"))
            self.assertEqual(self.client(res, "outlook"), ("userCertificate", 1, True, None))
            self.assert_agrees_with_audit(res)

    def test_numbering_is_the_same_in_every_command_and_format(self):
        self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "alice.pem"])
        old = {r["sha256"]: r["index"] for r in self.values(self.lookup(A))}
        audit = {r["sha256"]: r["index"] for r in self.smp("audit", journal=False).json()
                 if r.get("type") == "certificate"}
        self.assertEqual(old, audit)
        expired = [sha for sha, i in old.items() if i == 0][0]
        csv_rows = list(__import__("csv").DictReader(self.lookup(A, fmt="csv").out.splitlines()))
        self.assertEqual({r["sha256"]: int(r["index"]) for r in csv_rows if r["index"]}, old)
        prune = self.smp("prune", "--dry-run")
        self.assertEqual([(r["sha256"], r["index"]) for r in prune.json() if "index" in r],
                         [(expired, 0)], prune)
        remove = self.smp("remove", A, "--expired", "--dry-run")
        self.assertEqual([(r["sha256"], r.get("index")) for r in remove.json()],
                         [(expired, 0)], remove)
        # text says the base once, before the first numbered value
        for res in (self.lookup(A, fmt="text"), self.smp("audit", fmt="text", journal=False),
                    self.smp("prune", "--dry-run", fmt="text")):
            self.assertEqual(res.out.count("numbered from 0"), 1, res)
            self.assertLess(res.out.index("numbered from 0"), res.out.index("index 0"), res)


class LookupTruthSlapd(LookupTruthTests, unittest.TestCase):
    kind = "slapd"


class LookupTruthAD(LookupTruthTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
