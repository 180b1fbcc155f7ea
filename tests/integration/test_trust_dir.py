"""--trust directory[,system][,file] against the real slapd and Samba AD (SPEC section 6).

The directory's CA containers are seeded with ldapmodify as the administrator, the way
certutil -dspublish (AD) or an OpenLDAP administrator would: on AD a certificationAuthority
object (cn, cACertificate and the two required revocation lists) under CN=Certification
Authorities or CN=AIA of the configuration partition, on OpenLDAP an applicationProcess +
pkiCA entry with cACertificate;binary under ou=CAs above the search base. On slapd every test
has its own base and so its own ou=CAs; AD's containers are the forest's, so each test removes
what it put there.
"""
import base64
import os
import re
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from smptest import T0, der_of, pki  # noqa: E402
from smptest import audit_findings as findings  # noqa: E402
from test_publish import Base  # noqa: E402

PARTNER = "untrusted@partner.example"   # untrusted.pem: Partner Issuing CA 2 <- Partner Root CA
ALICE = "alice@partner.example"         # alice.pem: Test Issuing CA 1 <- Test Root CA


def sha256_of(name):
    out = subprocess.run(["openssl", "x509", "-in", pki(name), "-noout", "-fingerprint",
                          "-sha256"], check=True, capture_output=True, text=True).stdout
    return out.split("=", 1)[1].strip().replace(":", "").lower()


class TrustDirTests(Base):
    prefix = "trd"

    def setUp(self):
        super().setUp()
        self.seeded = []
        if self.kind == "ad":
            config = "CN=Configuration," + self.d.base
            pks = "CN=Public Key Services,CN=Services," + config
            self.roots = "CN=Certification Authorities," + pks
            self.aia = "CN=AIA," + pks
        else:
            self.roots = self.aia = "ou=CAs," + self.ou

    def tearDown(self):
        if self.kind == "ad":
            for dn in self.seeded:
                subprocess.run(["ldapdelete", "-x", "-H", self.d.uri, "-D", self.d.admin_dn,
                                "-w", self.d.admin_pw, dn], capture_output=True)
            # what smimepub ca publish put there: the entries holding a test PKI CA
            ders = {der_of(n) for n in ("root.pem", "intermediate.pem", "other-root.pem",
                                        "other-intermediate.pem")}
            for c in (self.roots, self.aia):
                for dn, attrs in self.d.search(c, scope="one", filt="(cn=*)",
                                               attrs=["cACertificate"]).items():
                    if ders & set(attrs.get("cacertificate", [])):
                        self.d.delete_tree(dn)
        super().tearDown()

    # ---- seeding the directory's CA containers -----------------------------------------------

    def seed(self, name, file, root):
        """Puts the CA certificate file where the directory distributes roots (root) or
        intermediates; name is the entry's cn, unique per test."""
        b64 = base64.b64encode(der_of(file)).decode()
        if self.kind == "ad":
            dn = "CN=%s,%s" % (name, self.roots if root else self.aia)
            ldif = ("dn: %s\nchangetype: add\nobjectClass: top\nobjectClass: "
                    "certificationAuthority\ncn: %s\ncACertificate:: %s\n"
                    "certificateRevocationList:: AA==\nauthorityRevocationList:: AA==\n"
                    % (dn, name, b64))
        else:
            if not self.d.search(self.roots):
                self.ldapmodify_text("dn: %s\nchangetype: add\nobjectClass: organizationalUnit\n"
                                     "ou: %s\n" % (self.roots, self.roots.split(",")[0][3:]))
            dn = "cn=%s,%s" % (name, self.roots)
            ldif = ("dn: %s\nchangetype: add\nobjectClass: applicationProcess\nobjectClass: "
                    "pkiCA\ncn: %s\ncACertificate;binary:: %s\n" % (dn, name, b64))
        self.ldapmodify_text(ldif)
        self.seeded.append(dn)
        return dn

    def tag(self, what):
        """A CA entry name of this test (AD's containers are shared by every test)."""
        return "smp-%s-%s" % (re.sub(r"[^a-z0-9]", "", self._testMethodName.lower())[-20:], what)

    def seed_partner(self):
        self.seed(self.tag("root"), "other-root.pem", True)
        self.seed(self.tag("issuing"), "other-intermediate.pem", False)

    # ---- running smimepub ----------------------------------------------------------------------

    def run_trust(self, *args, fmt="json"):
        """smimepub with the connection, --at T0 and args (no --ca-file unless args say so)."""
        return self.smp("--at", T0, *args, fmt=fmt, trust=False)

    def audit(self, *trust, fmt="json"):
        return self.run_trust("audit", *trust, fmt=fmt)

    def problems(self, res, dn, code=None):
        recs = [r for r in res.json() if r.get("type") == "certificate" and
                r["dn"].lower() == dn.lower()]
        self.assertEqual(len(recs), 1, res)
        return [p for p in recs[0]["problems"] if code is None or p["code"] == code]

    # ---- the cases -----------------------------------------------------------------------------

    def test_directory_turns_untrusted_into_ok(self):
        dn = self.contact("Partner", mail=PARTNER, certs=["untrusted.pem"])
        before = self.audit("--trust", "directory")
        self.assertEqual(before.rc, 2, before)
        codes = findings(before.json())[(dn.lower(), 0)]
        self.assertTrue({"untrusted", "missing_intermediate"} & set(codes), codes)
        self.assertNotIn("issuer_not_distributed", codes)
        # publish judges the same way: refused now, published once the directory has the CAs
        self.assertEqual(self.run_trust("remove", PARTNER, "--all").rc, 0)
        refused = self.run_trust("publish", "--trust", "directory", pki("untrusted.pem"))
        self.assertEqual(refused.rc, 1, refused)
        self.assertEqual(self.certs(dn), [])

        self.seed_partner()
        pub = self.run_trust("publish", "--trust", "directory", pki("untrusted.pem"))
        self.assertEqual(pub.rc, 0, pub)
        self.assertEqual(self.one(pub)["action"], "published")
        self.assertEqual(self.certs(dn), [der_of("untrusted.pem")])
        after = self.audit("--trust", "directory")
        self.assertEqual(after.rc, 0, after)
        self.assertEqual(findings(after.json()).get((dn.lower(), 0), []), [])
        rec = [r for r in after.json() if r.get("type") == "certificate"][0]
        self.assertTrue(rec["chain_ok"])
        self.assertEqual([(c["name"], c["sources"], c["root"]) for c in rec["chain"]],
                         [("Partner Issuing CA 2", ["directory"], False),
                          ("Partner Root CA", ["directory"], True)])
        # without directory in --trust the seeded CAs count for nothing
        system = self.audit("--trust", "system")
        self.assertEqual(system.rc, 2, system)
        # lookup and inspect judge by the same anchors
        look = self.run_trust("lookup", "--trust", "directory", PARTNER)
        self.assertEqual(look.rc, 0, look)
        ins = self.run_trust("inspect", "--trust", "directory", pki("untrusted.pem"))
        self.assertEqual(ins.rc, 0, ins)
        self.assertEqual(ins.json()[0]["problems"], [])
        self.assertEqual(ins.json()[0]["chain"][1]["sha256"], sha256_of("other-root.pem"))

    def test_prune_and_harvest_judge_by_the_directory(self):
        dn = self.contact("Partner", mail=PARTNER, certs=["untrusted.pem"])
        # a signed mail from the partner that carries its intermediate, not its root
        body = os.path.join(self.tmp, "body.txt")
        with open(body, "w") as fp:
            fp.write("hello\n")
        mail = os.path.join(self.tmp, "partner.eml")
        subprocess.run(["openssl", "cms", "-sign", "-in", body, "-from", PARTNER, "-to",
                        "admin@example.org", "-subject", "signed", "-out", mail, "-signer",
                        pki("untrusted.pem"), "-inkey", pki("untrusted.key"), "-certfile",
                        pki("other-intermediate.pem")], check=True, capture_output=True,
                       env=dict(os.environ, OPENSSL_CONF="/dev/null"))
        # (with the intermediate given, the value is untrusted, which is what prune removes)
        inter = ["--untrusted", pki("other-intermediate.pem")]
        prune = self.run_trust("prune", "--trust", "directory", "--select", "untrusted", "-n",
                               *inter)
        self.assertEqual(prune.rc, 0, prune)
        acts = [r for r in prune.json() if r.get("action") == "would_remove"]
        self.assertEqual([a["reason"] for a in acts], ["untrusted"], prune)
        harvest = self.run_trust("harvest", "--trust", "directory", "--replace", "-n", mail)
        self.assertEqual(harvest.rc, 1, harvest)

        # the root alone is enough: the mail carries the intermediate
        self.seed(self.tag("root"), "other-root.pem", True)
        harvest = self.run_trust("harvest", "--trust", "directory", "--replace", "-n", mail)
        self.assertEqual(harvest.rc, 0, harvest)
        rec = [r for r in harvest.json() if r.get("sha256") == sha256_of("untrusted.pem")][0]
        self.assertNotIn("issuer_not_distributed", self.codes(rec))
        self.assertEqual(rec["chain"][0]["sources"], ["carried"])
        # and prune no longer takes the value for untrusted
        prune = self.run_trust("prune", "--trust", "directory", "--select", "untrusted", "-n",
                               *inter)
        self.assertEqual(prune.rc, 0, prune)
        self.assertEqual([r for r in prune.json() if r.get("action") == "would_remove"], [])
        self.assertEqual(self.certs(dn), [der_of("untrusted.pem")])

    def partner_mail(self, name, certfiles):
        """A signed mail from the partner carrying certfiles besides the signer's own."""
        body = os.path.join(self.tmp, "body.txt")
        with open(body, "w") as fp:
            fp.write("my certificate\n")
        chain = os.path.join(self.tmp, name + ".chain.pem")
        with open(chain, "w") as fp:
            for f in certfiles:
                fp.write(open(pki(f)).read())
        mail = os.path.join(self.tmp, name + ".eml")
        subprocess.run(["openssl", "cms", "-sign", "-in", body, "-from", PARTNER, "-to",
                        "admin@example.org", "-subject", "signed", "-out", mail, "-signer",
                        pki("untrusted.pem"), "-inkey", pki("untrusted.key"), "-certfile",
                        chain], check=True, capture_output=True,
                       env=dict(os.environ, OPENSSL_CONF="/dev/null"))
        return mail

    def aia_entries(self, container=None):
        """The DER values of cACertificate on the entries of the intermediates' container."""
        return [v for attrs in self.d.search(container or self.aia, scope="one",
                                             filt="(objectClass=*)",
                                             attrs=["cACertificate"]).values()
                for k, vs in attrs.items() if k.split(";")[0] == "cacertificate" for v in vs]

    def distributed(self):
        """Every CA value of both containers (one, on slapd)."""
        return self.aia_entries() + (self.aia_entries(self.roots) if self.roots != self.aia
                                     else [])

    def test_harvest_publishes_intermediates(self):
        dn = self.contact("Partner", mail=PARTNER)
        # what partners' clients send: the signer, its issuing CA and often the root too
        mail = self.partner_mail("partner", ["other-intermediate.pem", "other-root.pem"])
        again = self.partner_mail("again", ["other-intermediate.pem"])
        inter, root = der_of("other-intermediate.pem"), der_of("other-root.pem")
        harvest = ["harvest", "--trust", "directory", "--publish-intermediates", "--ca-base",
                   self.aia, mail, again]

        def ca_items(res):
            """(kind, action, reason) of the CA records, intermediate first (within a
            message they come in the order the signature carries them)"""
            return sorted(((r["ca_kind"], r["action"], r["reason"]) for r in res.json()
                           if "ca_kind" in r), key=lambda t: t[0] != "intermediate")

        # nothing the intermediate chains to is trusted yet: neither it nor the signer goes in
        res = self.run_trust(*harvest)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(ca_items(res), [("intermediate", "skipped", "untrusted_ca"),
                                         ("root", "skipped", "root_from_mail")], res)
        self.assertNotIn(inter, self.aia_entries())
        self.assertEqual(self.certs(dn), [])
        # the root from the mail is refused with the line that publishes it knowingly
        rootrec = [r for r in res.json() if r.get("ca_kind") == "root"][0]
        self.assertEqual(rootrec["sha256"], sha256_of("other-root.pem"))
        self.assertIn("ca publish --root --fingerprint " + sha256_of("other-root.pem"),
                      rootrec["message"])

        # the root distributed by the directory: the intermediate chains to it
        self.seed(self.tag("root"), "other-root.pem", True)
        # a message whose signature does not verify gives nothing, not even its CAs
        tampered = os.path.join(self.tmp, "tampered.eml")
        with open(mail) as src, open(tampered, "w") as dst:
            dst.write(src.read().replace("my certificate", "my CERTIFICATE"))
        bad = self.run_trust("harvest", "--trust", "directory", "--publish-intermediates",
                             "--ca-base", self.aia, tampered)
        self.assertEqual(bad.rc, 1, bad)
        self.assertEqual([r["reason"] for r in bad.json()], ["bad_signature"], bad)
        self.assertNotIn(inter, self.aia_entries())
        dry = self.run_trust("-n", *harvest)
        self.assertEqual(dry.rc, 0, dry)
        self.assertEqual(ca_items(dry), [("intermediate", "would_publish", None),
                                         ("root", "skipped", "root_from_mail")], dry)
        self.assertIn("cACertificate", [r for r in dry.json()
                                        if r.get("ca_kind") == "intermediate"][0]["ldif"])
        self.assertNotIn(inter, self.aia_entries())

        res = self.run_trust(*harvest)
        self.assertEqual(res.rc, 0, res)
        recs = res.json()
        # once per run (two messages carry it), reported before the first message's signer
        self.assertEqual(ca_items(res), [("intermediate", "published", None),
                                         ("root", "skipped", "root_from_mail")], res)
        self.assertEqual(sorted(r.get("ca_kind", "signer") for r in recs[:2]),
                         ["intermediate", "root"], res)
        self.assertEqual(recs[2].get("source"), "signer", res)
        interrec = [r for r in recs if r.get("ca_kind") == "intermediate"][0]
        self.assertEqual(interrec["container"].lower(), self.aia.lower())
        self.assertEqual(interrec["file"], mail)
        self.assertEqual(interrec["from"], PARTNER)
        self.assertIn(inter, self.aia_entries())
        # the root only where the test put it
        self.assertEqual(self.distributed().count(root), 1)
        self.assertEqual(self.distributed().count(inter), 1)
        self.assertEqual(self.certs(dn), [der_of("untrusted.pem")])
        # the directory now distributes both: audit judges the partner's certificate ok
        audit = self.audit("--trust", "directory", "--ca-base", self.aia)
        self.assertEqual(audit.rc, 0, audit)
        # a rerun writes nothing
        res = self.run_trust(*harvest)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(ca_items(res)[0], ("intermediate", "unchanged", "already_published"))
        # and the journal undoes the intermediate like any change
        undo = self.smp("undo", "--last")
        self.assertEqual(undo.rc, 0, undo)
        self.assertEqual(self.certs(dn), [])
        undo = self.smp("undo", "--last")
        self.assertEqual(undo.rc, 0, undo)
        self.assertNotIn(inter, self.aia_entries())

    def test_issuer_not_distributed_critical_and_warning(self):
        dn = self.contact("Alice", mail=ALICE, certs=["alice.pem"])
        trust = ["--trust", "directory,file", "--ca-file", pki("root.pem"), "--untrusted",
                 pki("intermediate.pem")]
        res = self.audit(*trust)
        self.assertEqual(res.rc, 2, res)
        found = self.problems(res, dn, "issuer_not_distributed")
        self.assertEqual(len(found), 2, found)
        by_sev = {p["severity"]: p["message"] for p in found}
        root_line = "smimepub ca publish %s --root --fingerprint %s" % (
            pki("root.pem"), sha256_of("root.pem"))
        self.assertIn("'Test Root CA'", by_sev["warning"])
        self.assertTrue(by_sev["warning"].endswith(root_line), by_sev["warning"])
        self.assertIn("'Test Issuing CA 1'", by_sev["critical"])
        self.assertTrue(by_sev["critical"].endswith(
            "smimepub ca publish %s" % pki("intermediate.pem")), by_sev["critical"])
        summary = smptest.audit_summary(res.json())
        self.assertIn("issuer_not_distributed", str(summary))
        text = self.audit(*trust, fmt="text")
        self.assertEqual(text.rc, 2, text)
        self.assertIn("issuer_not_distributed", text.out)
        self.assertIn(root_line, text.out)

        # the directory distributes the intermediate: the root's warning is what is left
        self.seed(self.tag("issuing"), "intermediate.pem", False)
        res = self.audit(*trust)
        self.assertEqual(res.rc, 1, [p for r in res.json() for p in r.get("problems", [])])
        found = self.problems(res, dn, "issuer_not_distributed")
        self.assertEqual([p["severity"] for p in found], ["warning"], found)
        # and the root too: nothing left
        self.seed(self.tag("root"), "root.pem", True)
        res = self.audit(*trust)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.problems(res, dn), [])

    def test_advice_line_fixes_it(self):
        """The ca publish line the finding names, run as it is printed, is the fix."""
        dn = self.contact("Alice", mail=ALICE, certs=["alice.pem"])
        trust = ["--trust", "directory,file", "--ca-file", pki("root.pem"), "--untrusted",
                 pki("intermediate.pem")]
        res = self.audit(*trust)
        lines = [p["message"].split(": smimepub ", 1)[1]
                 for p in self.problems(res, dn, "issuer_not_distributed")]
        self.assertEqual(len(lines), 2, res)
        for line in lines:
            argv = shlex.split(line)
            self.assertEqual(argv[:2], ["ca", "publish"])
            pub = self.run_trust(*argv)
            self.assertEqual(pub.rc, 0, pub)
            self.assertEqual(self.one(pub)["action"], "published", pub)
        res = self.audit(*trust)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.problems(res, dn), [])
        rec = [r for r in res.json() if r.get("type") == "certificate"][0]
        self.assertIn("directory", rec["chain"][0]["sources"])
        self.assertIn("directory", rec["chain"][1]["sources"])

    def test_ca_base(self):
        """OpenLDAP's container is --ca-base, as for ca publish."""
        if self.kind == "ad":
            self.skipTest("Active Directory's containers are fixed by its configuration "
                          "partition")
        dn = self.contact("Partner", mail=PARTNER, certs=["untrusted.pem"])
        self.roots = self.aia = "ou=PKI," + self.ou
        self.seed_partner()
        self.assertEqual(self.audit("--trust", "directory").rc, 2)
        res = self.audit("--trust", "directory", "--ca-base", self.roots)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.problems(res, dn), [])

    def test_trust_combinations(self):
        dn = self.contact("Alice", mail=ALICE, certs=["alice.pem"])
        self.seed(self.tag("root"), "root.pem", True)
        # directory,system,file: the root comes from the directory and the file, the
        # intermediate only from --untrusted: critical for the intermediate alone
        res = self.audit("--trust", "directory,system,file", "--ca-file", pki("root.pem"),
                         "--untrusted", pki("intermediate.pem"))
        self.assertEqual(res.rc, 2, res)
        found = self.problems(res, dn, "issuer_not_distributed")
        self.assertEqual([(p["severity"], "'Test Issuing CA 1'" in p["message"])
                          for p in found], [("critical", True)], found)
        rec = [r for r in res.json() if r.get("type") == "certificate"][0]
        self.assertEqual(sorted(rec["chain"][1]["sources"]), ["directory", "file"])
        self.assertEqual(rec["chain"][0]["sources"], ["untrusted"])
        # directory alone, the intermediate given: the same finding, the root from the directory
        res = self.audit("--trust", "directory", "--untrusted", pki("intermediate.pem"))
        self.assertEqual(res.rc, 2, res)
        self.assertEqual(len(self.problems(res, dn, "issuer_not_distributed")), 1)
        self.assertEqual(self.problems(res, dn, "untrusted"), [])
        # no --trust: as before, no finding about distribution
        res = self.audit("--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem"))
        self.assertEqual(res.rc, 0, res)
        # file without a file, a file the list leaves out, a word that is no source
        for args, words in ((["--trust", "directory,file"], "--ca-file"),
                            (["--trust", "directory", "--ca-file", pki("root.pem")],
                             "add file to --trust"),
                            (["--trust", "directory,ldap"], "invalid --trust")):
            bad = self.run_trust("lookup", ALICE, *args)
            self.assertEqual(bad.rc, 64, bad)
            self.assertIn(words, bad.err)

    def test_directory_without_cas(self):
        dn = self.contact("Alice", mail=ALICE, certs=["alice.pem"])
        res = self.run_trust("-v", "audit", "--trust", "directory")
        self.assertEqual(res.rc, 2, res)
        self.assertIn("distributes no root CA", res.err)
        self.assertIn("0 root(s) and 0 intermediate(s)", res.err)
        codes = findings(res.json())[(dn.lower(), 0)]
        self.assertNotIn("issuer_not_distributed", codes)
        self.assertTrue({"untrusted", "missing_intermediate"} & set(codes), codes)
        # inspect --trust directory connects; with no directory to reach it says so (69)
        ins = smptest.run(["-H", "ldap://127.0.0.1:1", "--at", T0, "inspect", "--trust",
                           "directory", pki("alice.pem")])
        self.assertEqual(ins.rc, 69, ins)
        self.assertIn("--trust directory: cannot read the directory's CA certificates", ins.err)
        # an export has no CA containers: audit cannot start (3)
        ldif = os.path.join(self.tmp, "export.ldif")
        with open(ldif, "wb") as fp:
            fp.write(smptest.ldapsearch_style([smptest.LdifEntry("Alice", mail=ALICE,
                                                                 certs=[der_of("alice.pem")])]))
        off = smptest.run(["--at", T0, "audit", "--from-ldif", ldif, "--trust", "directory"])
        self.assertEqual(off.rc, 3, off)
        self.assertIn("CA", off.err)


class TrustDirSlapd(TrustDirTests, unittest.TestCase):
    kind = "slapd"


class TrustDirAD(TrustDirTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
