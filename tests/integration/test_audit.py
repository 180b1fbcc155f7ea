"""smimepub audit against the real slapd and Samba AD: every audit code, paging, formats, exit codes.

The same test class runs once per directory kind. Each test builds its entries under its own
OU below the partners OU (-b is set to it, so only those entries are audited) and removes it.
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import smptest  # noqa: E402
from smptest import Directory, der_of, pki, run, T0  # noqa: E402
from smptest import audit_findings as findings, audit_summary as summary  # noqa: E402

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]

# leaves of the test PKI that both servers accept as userCertificate values
MANY = ["alice.pem", "alice-new.pem", "alice-old-expired.pem", "bob-ec.pem", "carol-sanonly.pem",
        "dave-cn.pem", "noaddr.pem", "idn.pem", "expired.pem", "notyet.pem", "expiring.pem",
        "signonly.pem", "enconly.pem", "noeku.pem", "servereku.pem", "weak-rsa1024.pem",
        "sha1.pem", "ca-leaf.pem"]


class AuditCases:
    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = Directory(cls.kind)
        cls.pw = cls.d.pwfile()
        cls.ous = []

    @classmethod
    def tearDownClass(cls):
        for ou in cls.ous:
            cls.d.delete_tree(ou)
        os.unlink(cls.pw)

    def ou(self, name):
        dn = self.d.make_ou("smpaudit-" + name)
        self.ous.append(dn)
        return dn

    def audit(self, base, *extra, fmt="json"):
        args = ["-H", self.d.uri, "-D", self.d.admin_dn, "-y", self.pw, "-b", base] + TRUST
        return run(args + ["audit", "--format", fmt] + list(extra))

    def codes_of(self, res, dn, index=None):
        return findings(res.json()).get((dn.lower(), index), [])

    def contact(self, parent, cn, mail=None, certs=(), **kw):
        return self.d.add_contact(parent, cn, mail=mail, certs=[der_of(c) for c in certs], **kw)

    # ---- exit status by severity ----------------------------------------------------------

    def test_clean_entry_exit_0(self):
        ou = self.ou("clean")
        dn = self.contact(ou, "Alice", "alice@partner.example", ["alice.pem"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 0, res)
        recs = res.json()
        certs = [r for r in recs if r.get("type") == "certificate"]
        self.assertEqual(len(certs), 1, res)
        c = certs[0]
        self.assertEqual(c["dn"].lower(), dn.lower())
        self.assertEqual(c["index"], 0)
        self.assertEqual(c["attribute"].lower().split(";")[0], "usercertificate")
        self.assertEqual(c["emails"], ["alice@partner.example"])
        self.assertEqual(c["problems"], [])
        for field in ("subject", "issuer", "serial", "sha256", "not_before", "not_after", "key",
                      "signature", "purposes", "is_ca"):
            self.assertIn(field, c)
        s = summary(recs)
        self.assertEqual((s["entries"], s["certificates"], s["status"]), (1, 1, "ok"))
        self.assertEqual(res.err, "")  # no progress line when stderr is not a terminal

    def test_expiring_only_exit_1(self):
        ou = self.ou("expiring")
        dn = self.contact(ou, "Exp", "expiring@partner.example", ["expiring.pem"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.codes_of(res, dn, 0), ["expiring"])
        self.assertEqual(summary(res.json())["counts"], {"expiring": 1})
        self.assertEqual(self.audit(ou, "--warn-days", "10").rc, 0)

    def test_expired_exit_2_and_first_unusable(self):
        ou = self.ou("expired")
        dn = self.contact(ou, "Old", "expired@partner.example", ["expired.pem"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 2, res)
        self.assertIn("expired", self.codes_of(res, dn, 0))
        self.assertIn("first_unusable", self.codes_of(res, dn, 0))

    def test_first_unusable_expired_value_first(self):
        ou = self.ou("first")
        dn = self.contact(ou, "Alice", "alice@partner.example",
                          ["alice-old-expired.pem", "alice.pem"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 2, res)
        self.assertIn("first_unusable", self.codes_of(res, dn, 0))
        self.assertNotIn("first_unusable", self.codes_of(res, dn, 1))
        # the good one first: only the expired (and superseded) value is reported
        ou2 = self.ou("first2")
        dn2 = self.contact(ou2, "Alice", "alice@partner.example",
                           ["alice.pem", "alice-old-expired.pem"])
        res = self.audit(ou2)
        self.assertEqual(self.codes_of(res, dn2, 0), [], res)
        self.assertNotIn("first_unusable", self.codes_of(res, dn2, 1))

    def test_superseded(self):
        ou = self.ou("superseded")
        dn = self.contact(ou, "Alice", "alice@partner.example", ["alice-new.pem", "alice.pem"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.codes_of(res, dn, 1), ["superseded"])
        self.assertEqual(self.codes_of(res, dn, 0), [])

    def test_address_mismatch(self):
        ou = self.ou("mismatch")
        dn = self.contact(ou, "Bob", "bob@partner.example", ["bob-ec.pem", "alice.pem"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 2, res)
        self.assertEqual(self.codes_of(res, dn, 1), ["address_mismatch"])
        self.assertEqual(self.codes_of(res, dn, 0), [])

    def test_too_many_values(self):
        ou = self.ou("many")
        dn = self.contact(ou, "Many", "alice@partner.example", MANY[:16])
        res = self.audit(ou)
        self.assertIn("too_many_values", self.codes_of(res, dn), res)
        self.assertEqual(len([r for r in res.json() if r.get("type") == "certificate"]), 16)
        ou2 = self.ou("fifteen")
        dn2 = self.contact(ou2, "Fifteen", "alice@partner.example", MANY[:15])
        self.assertNotIn("too_many_values", self.codes_of(self.audit(ou2), dn2))

    def test_no_mail_attribute(self):
        ou = self.ou("nomail")
        dn = self.contact(ou, "Alice", None, ["alice.pem"],
                          proxies=["SMTP:alice@partner.example"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.codes_of(res, dn), ["no_mail_attribute"])
        self.assertEqual(self.codes_of(res, dn, 0), [])

    def test_smime_attr_shadows(self):
        ou = self.ou("shadows")
        dn = self.contact(ou, "Alice", "alice@partner.example", ["alice.pem"],
                          extra="userSMIMECertificate:: " +
                          __import__("base64").b64encode(der_of("expired.pem")).decode())
        res = self.audit(ou)
        self.assertEqual(res.rc, 2, res)
        self.assertEqual(self.codes_of(res, dn), ["smime_attr_shadows"])
        # an entry holding only userSMIMECertificate is audited too
        dn2 = self.contact(ou, "Garbage", "garbage@partner.example",
                           extra="userSMIMECertificate:: Z2FyYmFnZQ==")
        res = self.audit(ou)
        self.assertEqual(self.codes_of(res, dn2), ["smime_attr_shadows"], res)

    def test_paging_audits_every_entry(self):
        ou = self.ou("paging")
        names = ["ann", "ben", "cat", "dan", "eve", "fay"]
        for n in names:
            self.contact(ou, n.title(), n + "@partner.example", ["contacts/%s.pem" % n])
        self.contact(ou, "Alice", "alice@partner.example", ["alice.pem"])
        self.contact(ou, "NoCert", "nocert@partner.example")
        res = self.audit(ou, "--page-size", "2")
        self.assertEqual(res.rc, 0, res)
        s = summary(res.json())
        self.assertEqual((s["entries"], s["certificates"]), (7, 7), res)
        dns = {r["dn"].lower() for r in res.json() if r.get("type") == "certificate"}
        self.assertEqual(len(dns), 7)

    def test_quiet_prints_only_problems(self):
        ou = self.ou("quiet")
        self.contact(ou, "Alice", "alice@partner.example", ["alice.pem"])
        dn = self.contact(ou, "Old", "expired@partner.example", ["expired.pem"])
        res = self.audit(ou, "-q")
        self.assertEqual(res.rc, 2, res)
        recs = res.json()
        self.assertTrue(recs)
        for r in recs:
            self.assertEqual(r["dn"].lower(), dn.lower(), res)
            self.assertTrue(r["problems"])
        self.assertEqual(self.audit(ou, "-q", fmt="text").err, "")

    def test_text_and_csv(self):
        ou = self.ou("formats")
        dn = self.contact(ou, "Old", "expired@partner.example", ["expired.pem"])
        res = self.audit(ou, fmt="text")
        self.assertEqual(res.rc, 2, res)
        self.assertIn(dn, res.out)
        self.assertIn("expired", res.out)
        self.assertIn("summary", res.out)
        res = self.audit(ou, fmt="csv")
        self.assertEqual(res.rc, 2, res)
        lines = res.out.split("\r\n")
        self.assertTrue(lines[0].startswith("file,dn,"), res)
        self.assertTrue(any("expired" in ln and "first_unusable" in ln for ln in lines), res)

    def test_ldapsearch_export_gives_same_findings(self):
        ou = self.ou("export")
        self.contact(ou, "Alice", "alice@partner.example",
                     ["alice-old-expired.pem", "alice.pem", "alice-new.pem", "bob-ec.pem"])
        self.contact(ou, "Exp", "expiring@partner.example", ["expiring.pem"])
        self.contact(ou, "NoMail", None, ["carol-sanonly.pem"],
                     proxies=["SMTP:carol@partner.example"])
        live = self.audit(ou)
        self.assertEqual(live.rc, 2, live)
        proc = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", self.d.uri, "-D",
                               self.d.admin_dn, "-w", self.d.admin_pw, "-b", ou,
                               "(|(userCertificate=*)(userSMIMECertificate=*))",
                               "mail", "proxyAddresses", "cn", "userCertificate",
                               "userCertificate;binary", "userSMIMECertificate"],
                              capture_output=True, env=self.d._ldap_env())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with tempfile.NamedTemporaryFile(suffix=".ldif", delete=False) as fp:
            fp.write(proc.stdout)
        try:
            offline = run(TRUST + ["audit", "--format", "json", "--from-ldif", fp.name])
        finally:
            os.unlink(fp.name)
        self.assertEqual(offline.rc, live.rc, offline)
        self.assertEqual(findings(offline.json()), findings(live.json()))
        a, b = summary(live.json()), summary(offline.json())
        self.assertEqual((a["entries"], a["certificates"], a["counts"]),
                         (b["entries"], b["certificates"], b["counts"]))

    def test_the_systemd_units_textfile(self):
        """contrib/systemd's own ExecStart, with a test configuration and output: the file
        passes promtool and says what the JSON audit says."""
        ou = self.ou("textfile")
        self.contact(ou, "Alice", "alice@partner.example", ["alice.pem"])
        self.contact(ou, "Bob", "bob@partner.example", ["expiring.pem", "expired.pem"])
        unit = os.path.join(smptest.SRCDIR, "contrib", "systemd", "smimepub-audit.service")
        with open(unit) as fp:
            lines = fp.read().splitlines()
        argv = shlex.split([l for l in lines if l.startswith("ExecStart=")][0][10:])
        ok = {0} | {int(c) for l in lines if l.startswith("SuccessExitStatus=")
                    for c in l.split("=", 1)[1].split()}
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        conf, out = os.path.join(tmp, "config"), os.path.join(tmp, "smimepub.prom")
        with open(conf, "w") as fp:
            fp.write("uri = %s\nbinddn = %s\npassword-file = %s\nbase = %s\nat = %s\n"
                     "ca-file = %s\nuntrusted = %s\n" % (self.d.uri, self.d.admin_dn, self.pw,
                                                        ou, T0, pki("root.pem"),
                                                        pki("intermediate.pem")))
        self.assertEqual((argv[0], argv[1:3], argv[-2]),
                         ("/usr/bin/smimepub", ["--config", "/etc/smimepub/config"], "--output"))
        res = run(["--config", conf] + argv[3:-1] + [out])
        self.assertIn(res.rc, ok, res)
        self.assertEqual(res.rc, 2, res)  # expired.pem is on Bob's entry
        s = smptest.promtool_check(self, out)
        live = self.audit(ou)
        counts = summary(live.json())["counts"]
        got = {dict(k[1])["code"]: v for k, v in s.items() if k[0] == "smimepub_findings"}
        self.assertEqual(got, counts)
        self.assertEqual(s[("smimepub_entries", frozenset())], 2)
        self.assertEqual(s[("smimepub_audit_success", frozenset())], 1)

    def test_unreachable_exit_3(self):
        res = run(["-H", "ldap://127.0.0.1:1", "-b", "dc=example,dc=test"] + TRUST +
                  ["audit", "--timeout", "5"])
        self.assertEqual(res.rc, 3, res)
        self.assertIn("could not complete", res.err)
        self.assertRegex(res.err.lower(), "connect|unavailable|can't contact|cannot reach")

    def test_bind_refused_exit_3(self):
        res = run(["-H", self.d.uri, "-D", self.d.admin_dn, "-y",
                   self.d.pwfile("wrong-password"), "-b", self.d.base] + TRUST + ["audit"])
        self.assertEqual(res.rc, 3, res)
        self.assertIn("could not complete", res.err)
        self.assertRegex(res.err.lower(), "invalid credentials|bind")


class SlapdAudit(AuditCases, unittest.TestCase):
    kind = "slapd"

    def test_jobs_output_identical(self):
        # a few hundred entries with mixed findings, read in pages: the analysis workers
        # (--jobs) print exactly what the in-process audit prints, in the walk's order
        ou = self.ou("jobs")
        kinds = [["alice.pem"], ["expired.pem"], ["alice-new.pem", "alice.pem"],
                 ["expiring.pem"], ["bob-ec.pem", "alice.pem"], ["notyet.pem"],
                 ["signonly.pem"], ["noeku.pem"], ["weak-rsa1024.pem"], ["sha1.pem"],
                 ["ca-leaf.pem"], ["dave-cn.pem"], ["noaddr.pem"], ["idn.pem"],
                 ["carol-sanonly.pem"], ["alice-old-expired.pem", "alice.pem", "alice-new.pem"]]
        records = []
        for i in range(240):
            mail = None if i % 23 == 7 else ("alice@partner.example" if i % 3 == 0
                                             else "user%d@partner.example" % i)
            lines = ["dn: cn=User %03d,%s" % (i, ou), "changetype: add", "objectClass: top",
                     "objectClass: contact", "cn: User %03d" % i,
                     "proxyAddresses: SMTP:user%d@partner.example" % i]
            if mail:
                lines.append("mail: " + mail)
            for c in kinds[i % len(kinds)]:
                lines.append("%s:: %s" % (self.d.cert_attr,
                                          __import__("base64").b64encode(der_of(c)).decode()))
            if i % 41 == 9:
                lines.append("userSMIMECertificate:: Z2FyYmFnZQ==")
            records.append("\n".join(lines) + "\n")
        self.d.ldapmodify("\n".join(records))
        for fmt in ("json", "csv", "text"):
            one = self.audit(ou, "--page-size", "17", "--jobs", "1", fmt=fmt)
            self.assertEqual(one.rc, 2, one)
            for jobs in ("2", "8"):
                many = self.audit(ou, "--page-size", "17", "-j", jobs, fmt=fmt)
                self.assertEqual((many.rc, many.err), (one.rc, one.err), (fmt, jobs))
                self.assertEqual(many.out, one.out, (fmt, jobs))
        s = summary(self.audit(ou, "-j", "2").json())
        self.assertEqual(s["entries"], 240)


    def test_referral_not_followed_is_a_warning(self):
        # a referral object inside the audited subtree: the part it points to was not audited,
        # so a clean audit says warning (exit 1), in every format; nothing is contacted there
        ou = self.ou("referral")
        self.contact(ou, "Alice", "alice@partner.example", ["alice.pem"])
        ref = "ou=elsewhere," + ou
        self.d.ldapmodify("dn: %s\nchangetype: add\nobjectClass: referral\n"
                          "objectClass: extensibleObject\nou: elsewhere\n"
                          "ref: ldap://127.0.0.1:9/ou=elsewhere,dc=partner,dc=test\n" % ref,
                          extra=("-M",))
        self.addCleanup(self.d.ldapmodify, "dn: %s\nchangetype: delete\n" % ref, False, ("-M",))
        res = self.audit(ou)
        self.assertEqual(res.rc, 1, res)
        refs = [r for r in res.json() if r.get("type") == "referral"]
        self.assertEqual(len(refs), 1, res)
        self.assertIn("127.0.0.1:9/ou=elsewhere", refs[0]["url"])
        self.assertEqual((refs[0]["severity"], refs[0]["reason"]), ("warning", "referral"))
        self.assertIn("audit that directory separately", refs[0]["message"])
        s = summary(res.json())
        self.assertEqual((s["status"], s["referrals"], s["ad_partition_referrals"]),
                         ("warning", 1, 0))
        self.assertEqual((s["critical"], s["warnings"]), (0, 0))
        self.assertIn("not audited", s["message"])
        text = self.audit(ou, fmt="text")
        self.assertEqual(text.rc, 1, text)
        self.assertIn("referral ldap://127.0.0.1:9/ou=elsewhere", text.out)
        self.assertIn("summary: warning:", text.out)
        self.assertRegex(text.out, r"\n  referrals +1 \(not followed\)")
        # the certificate's own findings still decide above that: an expired one is critical
        self.contact(ou, "Old", "old@partner.example", ["expired.pem"])
        self.assertEqual(self.audit(ou).rc, 2)


class SambaADAudit(AuditCases, unittest.TestCase):
    kind = "ad"

    def test_malformed_value(self):
        ou = self.ou("malformed")
        dn = self.d.add_contact(ou, "Junk", mail="alice@partner.example",
                                certs=[der_of("alice.pem"), b"this is not a certificate"])
        res = self.audit(ou)
        self.assertEqual(res.rc, 2, res)
        self.assertEqual(self.codes_of(res, dn, 1), ["malformed"])
        junk = [r for r in res.json() if r.get("type") == "certificate" and r["index"] == 1][0]
        self.assertEqual(junk["size"], 25)
        self.assertEqual(len(junk["sha256"]), 64)

    def test_referrals_reported(self):
        # a subtree search from the domain root gets a continuation reference to
        # CN=Configuration: reported, never silently dropped, but that partition holds no
        # recipients, so it does not change the exit status the certificates give
        res = run(["-H", self.d.uri, "-D", self.d.admin_dn, "-y", self.pw, "-b", self.d.base] +
                  TRUST + ["audit", "--format", "json"])
        self.assertIn(res.rc, (0, 1, 2), res)
        refs = [r for r in res.json() if r.get("type") == "referral"]
        self.assertTrue(refs, res)
        self.assertIn("Configuration", refs[0]["url"])
        self.assertEqual((refs[0]["severity"], refs[0]["reason"]), ("info", "ad_partition"))
        s = summary(res.json())
        self.assertGreaterEqual(s["referrals"], 1)
        self.assertEqual(s["ad_partition_referrals"], s["referrals"])
        self.assertEqual(res.rc, 2 if s["critical"] else 1 if s["warnings"] else 0, s)
        self.assertNotIn("not audited", s["message"])


if __name__ == "__main__":
    smptest.main()
