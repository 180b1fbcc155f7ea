"""smimepub publish --dry-run --from-ldif: planning against an LDIF export (SPEC sections 2, 4, 5).

No server: the exports are written at test time (ldapsearch -LLL and ldifde styles, smptest)
from the test PKI ($SMIMEPUB_PKI); the printed LDIF is checked with `ldapmodify -n`, which
parses it without connecting.
"""
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import smptest  # noqa: E402
from smptest import LDIF_BASE, LdifEntry as Entry, T0, der_of, pki, run  # noqa: E402
from smptest import ldapsearch_style, ldifde_dn, ldifde_style  # noqa: E402

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]
A = "alice@partner.example"


def ldif_changes(text):
    """[(dn, [(op, attr, [DER values])])] of the modify records in LDIF text (comments out)."""
    lines = []
    for line in text.splitlines():
        if line.startswith(" ") and lines:
            lines[-1] += line[1:]
        elif not line.startswith("#"):
            lines.append(line)
    out = []
    for rec in "\n".join(lines).split("\n\n"):
        rec = [r for r in rec.split("\n") if r]
        if not rec or not rec[0].startswith("dn:"):
            continue
        dn, ops, cur = rec[0][4:], [], None
        for r in rec[1:]:
            key, _, val = r.partition(":")
            if key in ("add", "delete", "replace"):
                cur = (key, val.strip(), [])
                ops.append(cur)
            elif r == "-":
                cur = None
            elif cur is not None and key == cur[1]:
                cur[2].append(base64.b64decode(val[1:].strip()) if val.startswith(":")
                              else val.strip().encode())
        out.append((dn, ops))
    return out


class PublishLdif(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smp-publish-ldif-")
        cls.ldapmodify = shutil.which("ldapmodify")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def export(self, entries, style=ldapsearch_style, name="export.ldif"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as fp:
            fp.write(style(entries) if callable(style) else style)
        return path

    def publish(self, entries, *args, style=ldapsearch_style, fmt="json", extra=()):
        """publish --dry-run --from-ldif over the export of entries; args: options and files."""
        path = self.export(entries, style)
        argv = TRUST + list(extra) + ["publish", "--dry-run", "--from-ldif", path]
        if fmt:
            argv += ["--format", fmt]
        return run(argv + [a if a.startswith("-") or os.path.isabs(a) else pki(a)
                           for a in args])

    def one(self, res):
        recs = res.json()
        self.assertEqual(len(recs), 1, res)
        return recs[0]

    def codes(self, rec):
        return sorted(p["code"] for p in rec["problems"])

    def check_ldapmodify(self, text):
        """The LDIF is what ldapmodify accepts (parsed with -n, no connection)."""
        if self.ldapmodify is None:
            self.skipTest("ldapmodify is not installed")
        path = os.path.join(self.tmp, "plan.ldif")
        with open(path, "w") as fp:
            fp.write(text)
        proc = subprocess.run([self.ldapmodify, "-n", "-H", "ldap://127.0.0.1:1", "-f", path],
                              capture_output=True, text=True, env=dict(os.environ, LDAPNOINIT="1"),
                              timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr + text)
        return proc.stdout

    # ---- matching ---------------------------------------------------------------------------

    def test_ldapsearch_export_found_by_mail(self):
        e = Entry("Alice", A)
        res = self.publish([Entry("Other", "other@partner.example"), e], "alice.pem")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"], rec["dn"]), ("would_publish", None, e.dn))
        # no AD attribute in an ldapsearch export of OpenLDAP: the rfc profile's attribute
        self.assertEqual(ldif_changes(rec["ldif"]),
                         [(e.dn, [("add", "userCertificate;binary", [der_of("alice.pem")])])])
        self.assertEqual(res.err, "")

    def test_ldifde_export_found_by_proxy_addresses(self):
        e = Entry("Alice", None, proxies=["X500:/o=Partner/cn=alice", "smtp:ALICE@partner.example"])
        res = self.publish([e], "alice.pem", style=ldifde_style)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["dn"]), ("would_publish", ldifde_dn(e.dn)))
        self.assertEqual(self.codes(rec), ["no_mail_attribute"])
        # objectGUID: Active Directory, which takes userCertificate without ;binary
        self.assertEqual(ldif_changes(rec["ldif"]),
                         [(ldifde_dn(e.dn), [("add", "userCertificate", [der_of("alice.pem")])])])

    def test_ldifde_export_found_by_mail_case_insensitive(self):
        e = Entry("Bob", "BOB@PARTNER.EXAMPLE", proxies=["SMTP:bob@partner.example"])
        res = self.publish([e], "bob-ec.pem", style=ldifde_style)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["dn"], self.codes(rec)),
                         ("would_publish", ldifde_dn(e.dn), []))

    def test_not_found(self):
        res = self.publish([Entry("Bob", "bob@partner.example")], "alice.pem")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"], rec["dn"]), ("failed", "not_found", None))
        self.assertNotIn("ldif", rec)
        # the engine says what is wrong; the command line adds what to do in its flags
        self.assertTrue(rec["message"].endswith(
            "the subject is not an entry's DN: create the contact first or use "
            "--create-contact"), rec["message"])

    def test_ambiguous_lists_both_entries_in_export_order(self):
        e1 = Entry("Alice One", A)
        e2 = Entry("Alice Two", None, proxies=["SMTP:" + A])
        res = self.publish([e1, Entry("Bob", "bob@partner.example"), e2], "alice.pem")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("failed", "ambiguous"))
        self.assertEqual(rec["candidates"], [e1.dn, e2.dn])
        self.assertNotIn("ldif", rec)

    def test_same_entry_through_mail_and_proxy_is_not_ambiguous(self):
        e = Entry("Alice", A, proxies=["SMTP:" + A.upper()])
        rec = self.one(self.publish([e], "alice.pem", style=ldifde_style))
        self.assertEqual((rec["action"], rec["dn"]), ("would_publish", ldifde_dn(e.dn)))

    def test_subject_dn_fallback_with_normalised_dn(self):
        # no address: the certificate's subject is looked up as a DN, spacing and case aside
        e = Entry("x", None)
        e.dn = "cn=no address , o=partner example ltd,C=de"
        res = self.publish([e], "noaddr.pem")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        shown = "cn=no address,o=partner example ltd,C=de"  # the same DN, as output writes it
        self.assertEqual((rec["action"], rec["reason"], rec["dn"]),
                         ("skipped", "critical_problem", shown))
        rec = self.one(self.publish([e], "noaddr.pem", "--force"))
        self.assertEqual((rec["action"], rec["dn"]), ("would_publish", shown))
        self.assertEqual(ldif_changes(rec["ldif"])[0][0], e.dn)

    def test_subject_dn_fallback_with_escaped_multi_valued_and_utf8_dns(self):
        # the subject's DN is made from the DER and compared as a server would: the export
        # spells each DN otherwise (slapd's hex pairs, another AVA order, commonName, UTF-8 in
        # base64) and still names the entry; the DNs shown are the export's, written with
        # backslash escapes (the LDIF keeps the export's spelling)
        base = [[("DC", "test")], [("DC", "example")], [("OU", "Partners")]]
        cases = [
            (r"cn=Smith\2C John,ou=partners,dc=example,dc=test", [("CN", "Smith, John")]),
            (r"sn=Doe+cn=Doe\, Jane,ou=partners,dc=example,dc=test",
             [("CN", "Doe, Jane"), ("SN", "Doe")]),
            ("commonName=J\u00fcrgen M\u00fcller,ou=partners,dc=example,dc=test",
             [("CN", "J\u00fcrgen M\u00fcller")]),
            (r"CN=\#1 \22Q\22 \3Cx\3E\3B y\5Cz,OU=Partners,DC=example,DC=test",
             [("CN", r'#1 "Q" <x>; y\z')]),
        ]
        shown = [r"cn=Smith\, John,ou=partners,dc=example,dc=test",
                 r"sn=Doe+cn=Doe\, Jane,ou=partners,dc=example,dc=test",
                 "commonName=J\u00fcrgen M\u00fcller,ou=partners,dc=example,dc=test",
                 r'CN=\#1 \"Q\" \<x\>\; y\\z,OU=Partners,DC=example,DC=test']
        text = "".join("dn:: %s\nobjectClass: contact\ncn: x\n\n"
                       % base64.b64encode(dn.encode()).decode() for dn, _ in cases)
        path = self.export(None, style=text.encode(), name="escaped.ldif")
        certs = [smptest.make_named_cert(base + [leaf], self.tmp)[0] for _, leaf in cases]
        res = run(["--at", smptest.NAMED_CERT_AT, "--ca-file", pki("root.pem"), "--untrusted",
                   pki("intermediate.pem"), "publish", "--dry-run", "--from-ldif", path,
                   "--force", "--format", "json"] + certs)
        self.assertEqual(res.rc, 0, res)
        self.assertNotIn("x5c", res.out)
        recs = res.json()
        self.assertEqual([(r["file"], r["action"], r["dn"]) for r in recs],
                         [(c, "would_publish", dn) for c, dn in zip(certs, shown)])
        # the plan's LDIF names the entry so (UTF-8 in base64: "dn:: ", read as " ...")
        planned = [ldif_changes(r["ldif"])[0][0] for r in recs]
        planned = [base64.b64decode(d[1:]).decode() if d.startswith(" ") else d for d in planned]
        self.assertEqual(planned, [dn for dn, _ in cases])
        # a subject one RDN off, or with a value one character off, names nothing
        near = [base + [[("CN", "Smith")], [("CN", "John")]],
                base + [[("CN", "Doe, Jane")]],
                base + [[("CN", "Smith, Joh")]]]
        res = run(["--at", smptest.NAMED_CERT_AT, "--ca-file", pki("root.pem"), "--untrusted",
                   pki("intermediate.pem"), "publish", "--dry-run", "--from-ldif", path,
                   "--force", "--format", "json"] +
                  [smptest.make_named_cert(n, self.tmp)[0] for n in near])
        self.assertEqual(res.rc, 1, res)
        self.assertEqual([(r["action"], r["reason"]) for r in res.json()],
                         [("failed", "not_found")] * len(near))

    def test_base_limits_address_search(self):
        inside = Entry("Alice", A)
        outside = Entry("Alice", A, base="ou=staff,dc=example,dc=test")
        res = self.publish([outside, inside], "alice.pem")
        self.assertEqual(self.one(res)["reason"], "ambiguous", res)
        res = self.publish([outside, inside], "alice.pem", extra=["-b", "OU=Partners,DC=example,DC=test"])
        rec = self.one(res)
        self.assertEqual((res.rc, rec["action"], rec["dn"]), (0, "would_publish", inside.dn))
        res = self.publish([inside], "alice.pem", extra=["-b", "not a dn"])
        self.assertEqual(res.rc, 64, res)
        self.assertIn("not a DN", res.err)

    # ---- the plan, with the certificates already in the export -----------------------------

    def test_unchanged_when_the_certificate_is_there(self):
        for style in (ldapsearch_style, ldifde_style):
            res = self.publish([Entry("Alice", A, certs=["alice.pem"])], "alice.pem", style=style)
            self.assertEqual(res.rc, 0, res)
            rec = self.one(res)
            self.assertEqual(rec["action"], "unchanged")
            self.assertNotIn("ldif", rec)

    def test_already_has_certificate(self):
        res = self.publish([Entry("Alice", A, certs=["alice-new.pem"])], "alice.pem")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "already_has_certificate"))
        self.assertNotIn("ldif", rec)
        self.assertTrue(rec["message"].endswith(
            "already holds another certificate: use --add to keep both or --replace to "
            "replace the ones for the same address"), rec["message"])

    def test_replace_plan_keeps_other_addresses(self):
        e = Entry("Alice", A, certs=["alice-old-expired.pem", "bob-ec.pem"])
        res = self.publish([e], "--replace", "alice.pem")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "would_replace")
        changes = ldif_changes(rec["ldif"])
        self.assertEqual(len(changes), 1)
        dn, ops = changes[0]
        self.assertEqual(dn, e.dn)
        deleted = [v for op, _, vals in ops if op == "delete" for v in vals]
        added = [v for op, _, vals in ops if op == "add" for v in vals]
        self.assertIn(der_of("alice-old-expired.pem"), deleted)
        self.assertNotIn(der_of("bob-ec.pem"), set(deleted) - set(added))
        self.assertEqual(added[0], der_of("alice.pem"))
        self.assertEqual([op for op, _, _ in ops], ["delete", "add"])
        self.assertTrue(all(a == "userCertificate;binary" for _, a, _ in ops))

    def test_replace_in_ldifde_export_deletes_in_the_attribute_read(self):
        e = Entry("Alice", A, certs=["alice-old-expired.pem"])
        rec = self.one(self.publish([e], "--replace", "alice.pem", style=ldifde_style))
        self.assertEqual(rec["action"], "would_replace")
        self.assertEqual(ldif_changes(rec["ldif"]),
                         [(ldifde_dn(e.dn), [("delete", "userCertificate",
                                              [der_of("alice-old-expired.pem")]),
                                             ("add", "userCertificate", [der_of("alice.pem")])])])

    def test_add_keeps_the_best_first(self):
        # alice-new (later notAfter) stays first: only an add
        rec = self.one(self.publish([Entry("Alice", A, certs=["alice-new.pem"])], "--add",
                                    "alice.pem"))
        self.assertEqual(rec["action"], "would_publish")
        self.assertEqual(ldif_changes(rec["ldif"])[0][1],
                         [("add", "userCertificate;binary", [der_of("alice.pem")])])
        # an expired first value: the same modify deletes it and adds it back after the new one
        rec = self.one(self.publish([Entry("Alice", A, certs=["alice-old-expired.pem"])],
                                    "--add", "alice.pem"))
        self.assertEqual(rec["action"], "would_publish")
        self.assertEqual(ldif_changes(rec["ldif"])[0][1],
                         [("delete", "userCertificate;binary", [der_of("alice-old-expired.pem")]),
                          ("add", "userCertificate;binary",
                           [der_of("alice.pem"), der_of("alice-old-expired.pem")])])

    def test_expired_refused_without_force(self):
        e = Entry("Exp", "expired@partner.example")
        res = self.publish([e], "expired.pem")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "critical_problem"))
        self.assertIn("expired", self.codes(rec))
        self.assertTrue(rec["message"].endswith(": fix them, or use --force to publish anyway"),
                        rec["message"])
        res = self.publish([e], "--force", "expired.pem")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "would_publish")
        self.assertIn("expired", self.codes(rec))

    def test_create_contact_under_the_export_base(self):
        res = self.publish([Entry("Bob", "bob@partner.example")], "--create-contact",
                           "alice.pem")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec.get("created")), ("would_publish", True))
        self.assertEqual(rec["dn"], "cn=Alice Example," + LDIF_BASE)
        self.assertIn("changetype: add", rec["ldif"])
        self.assertIn("objectClass: inetOrgPerson", rec["ldif"])

    # ---- output ---------------------------------------------------------------------------

    def test_json_fields(self):
        rec = self.one(self.publish([Entry("Alice", A)], "alice.pem"))
        for k in ("file", "dn", "action", "reason", "message", "subject", "issuer", "serial",
                  "sha256", "emails", "not_before", "not_after", "key", "signature",
                  "purposes", "is_ca", "problems", "ldif"):
            self.assertIn(k, rec)
        self.assertEqual(rec["file"], pki("alice.pem"))
        self.assertEqual(rec["emails"], [A])
        self.assertEqual(rec["sha256"], hashlib.sha256(der_of("alice.pem")).hexdigest())
        self.assertIn("changetype: modify", rec["ldif"])

    def test_csv_puts_the_ldif_on_stderr(self):
        res = self.publish([Entry("Alice", A)], "alice.pem", fmt="csv")
        self.assertEqual(res.rc, 0, res)
        self.assertIn("would_publish", res.out)
        self.assertIn("changetype: modify", res.err)

    def test_text_output_is_ldif_ldapmodify_accepts(self):
        entries = [Entry("Alice", A, certs=["alice-old-expired.pem"]),
                   Entry("Bob", None, proxies=["SMTP:bob@partner.example"]),
                   Entry("Carol", "carol@partner.example", certs=["carol-sanonly.pem"])]
        res = self.publish(entries, "--replace", "alice.pem", "bob-ec.pem", "carol-sanonly.pem",
                           "missing-int.pem", fmt=None)
        self.assertEqual(res.rc, 1, res)  # mike@ has no entry
        out = self.check_ldapmodify(res.out)
        self.assertEqual(re.findall(r'modifying entry "([^"]*)"', out),
                         [entries[0].dn, entries[1].dn])
        self.assertEqual([dn for dn, _ in ldif_changes(res.out)], [entries[0].dn, entries[1].dn])
        self.assertIn("# unchanged", res.out)
        self.assertIn("[not_found]", res.out)

    def test_several_files_one_record_each_in_order(self):
        entries = [Entry("Alice", A), Entry("Bob", "bob@partner.example", certs=["bob-ec.pem"]),
                   Entry("Exp", "expired@partner.example")]
        res = self.publish(entries, "alice.pem", "bob-ec.pem", "contacts/ann.pem", "expired.pem")
        recs = res.json()
        self.assertEqual([(r["file"], r["action"], r["reason"]) for r in recs],
                         [(pki("alice.pem"), "would_publish", None),
                          (pki("bob-ec.pem"), "unchanged", "already_published"),
                          (pki("contacts/ann.pem"), "failed", "not_found"),
                          (pki("expired.pem"), "skipped", "critical_problem")])
        self.assertEqual(res.rc, 1, res)

    def test_the_export_is_unchanged(self):
        path = self.export([Entry("Alice", A, certs=["alice-old-expired.pem"])], ldifde_style)
        with open(path, "rb") as fp:
            before = fp.read()
        mtime = os.stat(path).st_mtime_ns
        res = run(TRUST + ["publish", "-n", "--replace", "--from-ldif", path, pki("alice.pem")])
        self.assertEqual(res.rc, 0, res)
        with open(path, "rb") as fp:
            self.assertEqual(fp.read(), before)
        self.assertEqual(os.stat(path).st_mtime_ns, mtime)

    def test_schema_option_and_auto_warning(self):
        e = Entry("Alice", None, proxies=["SMTP:" + A])
        res = self.publish([e], "alice.pem")
        self.assertIn("--schema ad", res.err)  # proxyAddresses but no AD attribute
        self.assertIn("add: userCertificate;binary", self.one(res)["ldif"])
        res = self.publish([e], "alice.pem", extra=["--schema", "ad"])
        self.assertEqual(res.err, "")
        self.assertEqual(ldif_changes(self.one(res)["ldif"])[0][1][0][1], "userCertificate")
        res = self.publish([Entry("Alice", A)], "alice.pem", style=ldifde_style,
                           extra=["--schema", "rfc"])
        self.assertEqual(ldif_changes(self.one(res)["ldif"])[0][1][0][1],
                         "userCertificate;binary")

    def test_export_from_standard_input(self):
        data = ldapsearch_style([Entry("Alice", A)])
        proc = subprocess.run([smptest.BIN] + TRUST + ["publish", "-n", "--format", "json",
                                                       "--from-ldif", "-", pki("alice.pem")],
                              input=data, capture_output=True, timeout=120,
                              env=dict(os.environ, LDAPNOINIT="1"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(b'"would_publish"', proc.stdout)

    # ---- exit status ----------------------------------------------------------------------

    def test_without_dry_run_is_a_usage_error(self):
        path = self.export([Entry("Alice", A)])
        res = run(TRUST + ["publish", "--from-ldif", path, pki("alice.pem")])
        self.assertEqual((res.rc, res.out), (64, ""), res)
        self.assertIn("--dry-run", res.err)

    def test_both_from_standard_input_is_a_usage_error(self):
        res = run(TRUST + ["publish", "-n", "--from-ldif", "-", "-"], stdin="")
        self.assertEqual(res.rc, 64, res)

    def test_missing_export_exit_66(self):
        res = run(TRUST + ["publish", "-n", "--from-ldif", os.path.join(self.tmp, "nope.ldif"),
                           pki("alice.pem")])
        self.assertEqual((res.rc, res.out), (66, ""), res)
        self.assertIn("nope.ldif", res.err)

    def test_unparsable_export_exit_65(self):
        for data, what in [(b"dn: cn=a,dc=x\nmail alice@partner.example\n", "line 2"),
                           (b"dn: cn=a,dc=x\nuserCertificate:: !!!\n", "line 2"),
                           (b"dn: cn=a,dc=x\nchangetype: delete\n", "changetype"),
                           (b"dn: not a dn\nmail: alice@partner.example\n", "not a valid DN")]:
            path = self.export([], data, name="bad.ldif")
            res = run(TRUST + ["publish", "-n", "--from-ldif", path, pki("alice.pem")])
            self.assertEqual((res.rc, res.out), (65, ""), res)
            self.assertIn(what, res.err)

    def test_unreadable_certificate_is_still_reported(self):
        res = self.publish([Entry("Alice", A)], "garbage.bin", "alice.pem")
        self.assertEqual(res.rc, 65, res)
        self.assertEqual([r["action"] for r in res.json()], ["failed", "would_publish"])


if __name__ == "__main__":
    smptest.main()
