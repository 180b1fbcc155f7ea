"""Integration tests: certutil's subject-DN fallback with real DNs (SPEC section 4), on the real
slapd and Samba AD and in an export of each (--from-ldif).

A certificate with no address is published onto the entry whose DN its subject is. The entries
here have DNs whose values need escaping (a comma, '+', '"', a leading '#', '\\', '<>;=',
UTF-8) or a multi-valued RDN, and the certificates' subjects are exactly those DNs: the DN is
made from the certificate's DER, so it must name the same entry the directory has. Output
(JSON, text, CSV) shows every DN in RFC 4514 form, never the display escaping's `\\x5c,`: an
entry's DN with backslash escapes whatever the server sent (Samba `\\,`, slapd `\\2C`), the
subject as OpenSSL's RFC 2253 text (`\\,`).

The certificates (smptest.make_named_cert) are valid from the time they are made: these tests
judge validity a day from now instead of at T0.
"""
import base64
import csv
import io
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import Base, _TMP  # noqa: E402
import smptest  # noqa: E402
from smptest import pki  # noqa: E402


def make_named_cert(rdns):
    return smptest.make_named_cert(rdns, _TMP)


TRUST = ["--at", smptest.NAMED_CERT_AT, "--ca-file", pki("root.pem"), "--untrusted",
         pki("intermediate.pem")]

# Entries whose names need escaping: (the leaf RDN as an LDIF dn: writes it, its AVAs as the
# certificate's subject holds them, the RDN as the subject's RFC 4514 text shows it). The
# entry's cn is the first AVA's value.
ESCAPED = [
    (r"CN=Smith\, John", [("CN", "Smith, John")], r"CN=Smith\, John"),
    (r'CN=\#1 \"Q\" A\+B', [("CN", '#1 "Q" A+B')], r'CN=\#1 \"Q\" A\+B'),
    (r"CN=back\\slash \<x\>\; y\=z", [("CN", r"back\slash <x>; y=z")],
     r"CN=back\\slash \<x\>\; y=z"),
    ("CN=J\u00fcrgen M\u00fcller", [("CN", "J\u00fcrgen M\u00fcller")],
     "CN=J\u00fcrgen M\u00fcller"),
]


class DnTests(Base):
    prefix = "dn"

    def run_smp(self, *args, fmt="json"):
        return self.smp(*(TRUST + list(args)), trust=False, fmt=fmt)

    def publish(self, *args, fmt="json"):
        """publish with --force: a certificate without an address has the critical problem
        no_address, and these have none (so that only the subject can find the entry)."""
        return self.run_smp("publish", "--force", *args, fmt=fmt)

    def ou_rdns(self):
        """The test OU's RDNs in DER order (root first), as a certificate's subject has them."""
        return [[(t.upper(), v)] for t, v in (r.split("=", 1) for r in reversed(self.ou.split(",")))]

    def add_entries(self, leaves):
        """Adds one contact per (leaf RDN string, AVAs, shown) under the test OU (one
        ldapmodify); returns {leaf RDN string: the entry's DN as the server spells it}."""
        records = []
        for rdn, avas, _ in leaves:
            lines = ["dn:: " + base64.b64encode(("%s,%s" % (rdn, self.ou)).encode()).decode(),
                     "changetype: add", "objectClass: top"]
            lines += (["objectClass: contact"] if self.kind == "slapd" else
                      ["objectClass: person", "objectClass: organizationalPerson",
                       "objectClass: contact"])
            for t, v in avas:
                lines.append("%s:: %s" % (t.lower(), base64.b64encode(v.encode()).decode()))
            records.append("\n".join(lines) + "\n")
        self.ldapmodify_text("\n".join(records))
        found = self.d.search(self.ou, scope="one", filt="(cn=*)", attrs=["cn"])
        by_cn = {attrs["cn"][0].decode(): dn for dn, attrs in found.items()}
        return {rdn: by_cn[avas[0][1]] for rdn, avas, _ in leaves}

    def export(self):
        """`ldapsearch -LLL` of the test OU as an administrator would take it, in a file."""
        proc = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", self.d.uri, "-D",
                               self.d.admin_dn, "-w", self.d.admin_pw, "-b", self.ou, "*"],
                              capture_output=True, env=self.d._ldap_env(), check=True)
        path = os.path.join(self.tmp, "export.ldif")
        with open(path, "wb") as fp:
            fp.write(proc.stdout)
        return path

    def journal_records(self):
        if not os.path.exists(self.journal):
            return []
        with open(self.journal) as fp:
            return [r for r in re.split(r"\n\s*\n", fp.read())
                    if any(line.startswith("dn:") for line in r.splitlines())]

    def assert_shown(self, shown, dn):
        """Output shows the entry's DN dn (as the server spells it): the same DN, written with
        backslash escapes (no hex pair for an ASCII special, which slapd sends)."""
        self.assertEqual(smptest.dn_key(shown), smptest.dn_key(dn), (shown, dn))
        self.assertNotRegex(shown, r"\\[0-7][0-9A-Fa-f]", shown)

    def publish_and_check(self, leaves):
        """Publishes a certificate whose subject is each entry's DN: found in an export of the
        directory (--dry-run --from-ldif) and in the directory, shown in RFC 4514 form."""
        dns = self.add_entries(leaves)
        certs = {rdn: make_named_cert(self.ou_rdns() + [avas]) for rdn, avas, _ in leaves}
        shown = {rdn: text for rdn, _, text in leaves}
        by_file = {certs[rdn][0]: rdn for rdn in certs}
        files = [certs[rdn][0] for rdn, _, _ in leaves]

        # offline: an export of the directory finds each entry by the subject's DN
        res = self.publish("--dry-run", "--from-ldif", self.export(), *files)
        self.assertEqual(res.rc, 0, res)
        for rec in res.json():
            rdn = by_file[rec["file"]]
            self.assertEqual(rec["action"], "would_publish", rec)
            self.assert_shown(rec["dn"], dns[rdn])
        for rdn in dns:
            self.assertEqual(self.certs(dns[rdn]), [], rdn)

        # the directory
        res = self.publish(*files)
        self.assertEqual(res.rc, 0, res)
        self.assertNotIn("x5c", res.out)
        recs = res.json()
        self.assertEqual(len(recs), len(leaves), res)
        for rec in recs:
            rdn = by_file[rec["file"]]
            self.assertEqual(rec["action"], "published", rec)
            self.assert_shown(rec["dn"], dns[rdn])
            self.assertEqual(self.certs(dns[rdn]), [certs[rdn][1]], rdn)
            self.assertEqual(rec["emails"], [])
            self.assertIn("no_address", self.codes(rec))
            # the subject in RFC 4514 form (OpenSSL's RFC 2253 text): the leaf RDN as written
            self.assertTrue(rec["subject"].startswith(shown[rdn] + ","), (rdn, rec["subject"]))

        # text and CSV show the same DNs and subjects, with '\,' and not '\x5c,'
        res = self.publish("-v", *files, fmt="text")
        self.assertEqual(res.rc, 0, res)
        self.assertNotIn("x5c", res.out)
        arrows = [line.split(" -> ", 1)[1] for line in res.out.splitlines() if " -> " in line]
        self.assertEqual(len(arrows), len(dns), res.out)
        for out_dn, rdn in zip(arrows, [by_file[f] for f in files]):
            self.assert_shown(out_dn.split("  [")[0].strip(), dns[rdn])
        for rdn in dns:
            self.assertIn("subject " + shown[rdn] + ",", res.out)
        res = self.publish(*files, fmt="csv")
        self.assertEqual(res.rc, 0, res)
        rows = list(csv.DictReader(io.StringIO(res.out)))
        self.assertEqual(len(rows), len(leaves), res)
        for row in rows:
            rdn = by_file[row["file"]]
            self.assertEqual(row["action"], "unchanged", row)
            self.assert_shown(row["dn"], dns[rdn])
            self.assertTrue(row["subject"].startswith(shown[rdn] + ","), row)
        return dns

    def test_escaped_values_found_in_the_directory_and_its_export(self):
        dns = self.publish_and_check(ESCAPED)
        # what each server makes of the DNs it was given (output shows both alike, above):
        # Samba escapes with '\' (but ';' and '=' as hex pairs), slapd with hex pairs (its
        # dnPretty), both keep UTF-8 as it is
        leaves = {rdn: dn[:-len(self.ou) - 1] for rdn, dn in dns.items()}
        want = ([r"CN=Smith\, John", r'CN=\#1 \"Q\" A\+B', r"CN=back\\slash \<x\>\3B y\3Dz",
                 "CN=J\u00fcrgen M\u00fcller"] if self.kind == "ad" else
                [r"cn=Smith\2C John", r"cn=\231 \22Q\22 A\2BB", r"cn=back\5Cslash \3Cx\3E\3B y\3Dz",
                 "cn=J\u00fcrgen M\u00fcller"])
        self.assertEqual([leaves[rdn] for rdn, _, _ in ESCAPED], want)

    def test_multi_valued_rdn(self):
        if self.kind == "ad":
            self.skipTest("Active Directory has no multi-valued RDNs")
        # OpenSSL's RFC 2253 text reverses the DER order, the AVAs of an RDN too
        self.publish_and_check([(r"cn=Doe\, Jane+sn=Doe", [("CN", "Doe, Jane"), ("SN", "Doe")],
                                 r"CN=Doe\, Jane+SN=Doe"),
                                ("sn=M\u00fcller+cn=Hans", [("CN", "Hans"), ("SN", "M\u00fcller")],
                                 "SN=M\u00fcller+CN=Hans")])

    def test_subject_naming_no_entry_is_not_found(self):
        dns = self.add_entries(ESCAPED[:1])
        before = {dn: self.snapshot(dn) for dn in dns.values()}
        near = [
            [("CN", "Smith, Johnny")],        # another value
            [("CN", "Smith")],                # the RDN's value unescaped: two RDNs
        ]
        files = [make_named_cert(self.ou_rdns() + [leaf])[0] for leaf in near]
        files.append(make_named_cert(self.ou_rdns() + [[("CN", "Smith")], [("CN", " John")]])[0])
        # types written as OIDs: one OpenLDAP knows and AD lacks (emailAddress, whose address
        # matches nothing either), one neither knows -- refused as a DN, still not found
        files.append(make_named_cert(self.ou_rdns() + [[("CN", "Smith, John")],
                                                       [("emailAddress", "js@partner.example")]])[0])
        files.append(make_named_cert(self.ou_rdns() + [[("CN", "Smith, John")],
                                                       [("organizationIdentifier", "VATDE-1")]])[0])
        for dry in ((), ("--dry-run", "--from-ldif", self.export())):
            res = self.publish(*(dry + tuple(files)))
            self.assertEqual(res.rc, 1, res)
            recs = res.json()
            self.assertEqual(len(recs), len(files), res)
            for rec in recs:
                self.assertEqual((rec["action"], rec["reason"]), ("failed", "not_found"), rec)
                self.assertNotIn("ldif", rec)
        self.assertEqual({dn: self.snapshot(dn) for dn in dns.values()}, before)
        self.assertEqual(self.journal_records(), [])


class DnSlapd(DnTests, unittest.TestCase):
    kind = "slapd"


class DnAD(DnTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    try:
        smptest.main()
    finally:
        import shutil
        shutil.rmtree(_TMP, ignore_errors=True)
