"""Integration tests for `smimepub ca publish | list | remove` (SPEC section 6) against the real
slapd and Samba AD. Samba's provision has CN=Public Key Services with the Certification
Authorities and AIA containers (forest-wide: every test names its CAs uniquely and deletes
them afterwards); on slapd the container is ou=CAs above each test's own OU (the default
--ca-base), created by the first publish.
"""
import hashlib
import os
import re
import secrets
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from test_publish import Base, _TMP  # noqa: E402

BAD = set('!"#%&\'()*+,/:;<=>?\\^`{|}~')


def wcce(name):
    """MS-WCCE 3.1.1.4.1.1's sanitised short name, written from the spec's text."""
    out = ""
    for ch in name:
        c = ord(ch)
        if c < 0x20 or c > 0x7e or ch in BAD:
            out += "!%04x" % c
        else:
            out += ch
    if len(out) <= 51:
        return out
    cut = 51
    for i in range(51):
        if out[i] == "!" and i + 5 > 51:
            cut = i
    h = 0
    for ch in out[cut:]:
        h = (((h << 1) | (1 if h & 0x8000 else 0)) + ord(ch)) & 0xffff
    return out[:cut] + "-%05d" % h


def ca_cnf(d, ext):
    cnf = os.path.join(d, "ca.cnf")
    open(os.path.join(d, "index.txt"), "w").close()
    with open(cnf, "w") as fp:
        fp.write("[ ca ]\ndefault_ca = c\n[ c ]\ndir = %s\ndatabase = $dir/index.txt\n"
                 "new_certs_dir = $dir\nrand_serial = yes\ndefault_md = sha256\npolicy = p\n"
                 "preserve = yes\nemail_in_dn = no\nunique_subject = no\n"
                 "copy_extensions = none\nstring_mask = utf8only\nx509_extensions = ext\n"
                 "[ p ]\ncountryName = optional\norganizationName = optional\n"
                 "commonName = optional\n[ ext ]\n%s\n" % (d, ext))
    return cnf


def make_ca(cn, issuer=None, start="20200101000000Z", end="20400101000000Z"):
    """A CA certificate named cn (UTF-8): self-signed, or issued by issuer (pem, key).
    Returns (pem, key, der, sha256)."""
    d = tempfile.mkdtemp(prefix="mkca-", dir=_TMP)
    keyf, req, out = (os.path.join(d, n) for n in ("k.pem", "r.pem", "c.pem"))
    subj = "/O=Partner Test/CN=" + re.sub(r'([/+=\\])', r"\\\1", cn)
    subprocess.run(["openssl", "req", "-new", "-nodes", "-utf8", "-keyout", keyf, "-out", req,
                    "-subj", subj, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                   check=True, capture_output=True)
    cnf = ca_cnf(d, "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign")
    argv = ["openssl", "ca", "-batch", "-config", cnf, "-in", req, "-out", out,
            "-startdate", start, "-enddate", end, "-notext", "-utf8"]
    argv += ["-selfsign", "-keyfile", keyf] if issuer is None else ["-cert", issuer[0],
                                                                     "-keyfile", issuer[1]]
    proc = subprocess.run(argv, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl ca failed: %s" % proc.stderr.decode())
    der = subprocess.run(["openssl", "x509", "-in", out, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return out, keyf, der, hashlib.sha256(der).hexdigest()


def make_leaf(issuer, addr):
    """A person's certificate for addr issued by the CA issuer (pem, key). Returns DER."""
    d = tempfile.mkdtemp(prefix="leaf-", dir=_TMP)
    keyf, req, out = (os.path.join(d, n) for n in ("k.pem", "r.pem", "c.pem"))
    subprocess.run(["openssl", "req", "-new", "-nodes", "-keyout", keyf, "-out", req, "-subj",
                    "/CN=" + addr, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                   check=True, capture_output=True)
    cnf = ca_cnf(d, "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,"
                 "keyAgreement\nextendedKeyUsage = emailProtection\nsubjectAltName = email:" + addr)
    subprocess.run(["openssl", "ca", "-batch", "-config", cnf, "-in", req, "-out", out,
                    "-startdate", "20260101000000Z", "-enddate", "20300101000000Z", "-notext",
                    "-cert", issuer[0], "-keyfile", issuer[1]], check=True, capture_output=True)
    return subprocess.run(["openssl", "x509", "-in", out, "-outform", "DER"], check=True,
                          capture_output=True).stdout


def make_cross(subject_ca, issuer):
    """A cross-certificate: the CA issuer (pem, key) certifies subject_ca's (pem, key) subject
    and public key. Returns (pem, der, sha256)."""
    d = tempfile.mkdtemp(prefix="cross-", dir=_TMP)
    req, out = os.path.join(d, "r.pem"), os.path.join(d, "c.pem")
    subj = subprocess.run(["openssl", "x509", "-in", subject_ca[0], "-noout", "-subject",
                           "-nameopt", "compat"], check=True, capture_output=True,
                          text=True).stdout.split("=", 1)[1].strip()
    subprocess.run(["openssl", "req", "-new", "-key", subject_ca[1], "-out", req, "-subj", subj,
                    "-utf8"], check=True, capture_output=True)
    cnf = ca_cnf(d, "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign")
    subprocess.run(["openssl", "ca", "-batch", "-config", cnf, "-in", req, "-out", out,
                    "-startdate", "20200101000000Z", "-enddate", "20350101000000Z", "-notext",
                    "-utf8", "-cert", issuer[0], "-keyfile", issuer[1]], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", out, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return out, der, hashlib.sha256(der).hexdigest()


class CATests(Base):
    prefix = "ca"

    def setUp(self):
        super().setUp()
        # forest-wide on AD: unique names, removed in tearDown
        self.tag = "SMP %s %s" % (re.sub(r"[^a-z]", "", self._testMethodName[5:])[:12],
                                  secrets.token_hex(3))
        if self.kind == "ad":
            pks = "CN=Public Key Services,CN=Services,CN=Configuration," + self.d.base
            self.roots = "CN=Certification Authorities," + pks
            self.inters = "CN=AIA," + pks
        else:
            self.roots = self.inters = "ou=CAs," + self.ou

    def tearDown(self):
        if self.kind == "ad":
            for c in (self.roots, self.inters):
                for dn in self.d.search(c, scope="one", filt="(cn=*)", attrs=["cn"]):
                    if dn.lower().startswith(("cn=" + wcce(self.tag)).lower()) or \
                            "!0028" + self.tag.split()[2] in dn or self.tag.split()[2] in dn:
                        self.d.delete_tree(dn)
        super().tearDown()

    def ca(self, *args, who="admin", fmt="json"):
        # CAs are judged now (their validity is 2020..2040), not at the test PKI's T0
        return self.smp("ca", *args, who=who, fmt=fmt, trust=False)

    def entry(self, container, name):
        """{attr: [values]} of the CA entry called name in container, or None."""
        rdn = wcce(name) if self.kind == "ad" else name
        for dn, attrs in self.d.search(container, scope="one", filt="(objectClass=*)",
                                       attrs=["*"]).items():
            if attrs.get("cn", [b""])[0].decode() == rdn:
                return attrs
        return None

    def cacerts(self, attrs, attr="cacertificate"):
        return [v for k, vs in (attrs or {}).items() if k.split(";")[0] == attr for v in vs]

    def test_root_only_with_root_and_its_fingerprint(self):
        pem, key, der, fp = make_ca(self.tag + " Root")
        for extra in ((), ("--root",), ("--root", "--fingerprint", "00" * 32)):
            res = self.ca("publish", *extra, pem)
            self.assertEqual(res.rc, 1, res)
            rec = self.one(res)
            self.assertEqual((rec["action"], rec["reason"], rec["ca_kind"]),
                             ("skipped", "root_not_confirmed", "root"), res)
            self.assertIn(fp, rec["message"])
            self.assertIsNone(self.entry(self.roots, self.tag + " Root"))
        # a fingerprint alone is a usage error: it must come with --root
        self.assertEqual(self.ca("publish", "--fingerprint", fp, pem).rc, 64)
        res = self.ca("publish", "--root", "--fingerprint", ":".join(re.findall("..", fp)), pem)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "published", res)
        self.assertEqual(rec["container"].lower(), self.roots.lower())
        self.assertIn("for every purpose", rec["message"])
        self.assertIn("cross-certificate", rec["message"])
        if self.kind == "ad":
            self.assertIn("every domain member", rec["message"])
            self.assertIn("GPO", rec["message"])
        e = self.entry(self.roots, self.tag + " Root")
        self.assertEqual(self.cacerts(e), [der])
        if self.kind == "ad":
            # certificationAuthority's required lists, as certutil -dspublish fills them
            self.assertEqual(e["certificaterevocationlist"], [b"\x00"])
            self.assertEqual(e["authorityrevocationlist"], [b"\x00"])
            self.assertIn(b"certificationAuthority", e["objectclass"])
        else:
            self.assertEqual(sorted(e["objectclass"]), [b"applicationProcess", b"pkiCA", b"top"])

    def test_intermediate_idempotent_renewal_as_second_value(self):
        root = make_ca(self.tag + " Root")
        inter = make_ca(self.tag + " Issuing", issuer=root[:2])
        res = self.ca("publish", inter[0])
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["ca_kind"]), ("published", "intermediate"), res)
        self.assertEqual(rec["container"].lower(), self.inters.lower())
        self.assertEqual(self.cacerts(self.entry(self.inters, self.tag + " Issuing")), [inter[2]])
        # a rerun changes nothing
        res = self.ca("publish", inter[0])
        self.assertEqual((res.rc, self.one(res)["action"]), (0, "unchanged"), res)
        # the renewed CA (same name, new key): a second value on the same entry
        renewed = make_ca(self.tag + " Issuing", issuer=root[:2])
        res = self.ca("publish", renewed[0])
        self.assertEqual((res.rc, self.one(res)["action"]), (0, "published"), res)
        self.assertEqual(sorted(self.cacerts(self.entry(self.inters, self.tag + " Issuing"))),
                         sorted([inter[2], renewed[2]]))
        # a bundle: the root in it is refused without --root, the intermediate is unchanged
        bundle = os.path.join(self.tmp, "chain.pem")
        with open(bundle, "w") as fp:
            fp.write(open(inter[0]).read() + open(root[0]).read())
        res = self.ca("publish", bundle)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(sorted((r["ca_kind"], r["action"]) for r in res.json()),
                         [("intermediate", "unchanged"), ("root", "skipped")])
        # the renewal is undone through the journal: the first value alone again
        res = self.smp("undo", "--last")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.cacerts(self.entry(self.inters, self.tag + " Issuing")), [inter[2]])

    def test_names_escaped_and_shortened(self):
        root = make_ca(self.tag + " Root")
        odd = self.tag + " (Test), Example & Co #1"
        long = self.tag + " Partner Secure Email Issuing CA G3"  # X.509 CN: at most 64
        self.assertGreater(len(long), 51)
        for name in (odd, long):
            inter = make_ca(name, issuer=root[:2])
            res = self.ca("publish", inter[0])
            self.assertEqual(res.rc, 0, res)
            rec = self.one(res)
            e = self.entry(self.inters, name)
            self.assertEqual(self.cacerts(e), [inter[2]], (name, rec["dn"]))
            if self.kind == "ad":
                self.assertTrue(rec["dn"].startswith("CN=" + wcce(name).replace(",", "\\,")),
                                rec["dn"])
                self.assertLessEqual(len(e["cn"][0]), 57)
        if self.kind == "ad":
            self.assertIn("!0028", wcce(odd))
            self.assertRegex(wcce(long), r"-\d{5}$")

    def test_cross_certificate(self):
        """A partner root certified by another root: recognised as a cross-certificate by the
        partner's root beside it, and on AD written as certutil -dspublish CrossCA does, into
        AIA's crossCertificatePair."""
        partner = make_ca(self.tag + " Partner Root")
        ours = make_ca(self.tag + " Bridge Root")
        cross = make_cross(partner[:2], ours[:2])
        res = self.ca("publish", "--root", "--fingerprint", partner[3], partner[0], cross[0])
        self.assertEqual(res.rc, 0, res)
        kinds = {r["sha256"]: (r["ca_kind"], r["action"]) for r in res.json()}
        self.assertEqual(kinds, {partner[3]: ("root", "published"),
                                 cross[2]: ("cross", "published")}, res)
        rec = [r for r in res.json() if r["ca_kind"] == "cross"][0]
        self.assertEqual(rec["container"].lower(), self.inters.lower())
        e = self.entry(self.inters, self.tag + " Partner Root")
        if self.kind == "ad":
            self.assertEqual(rec["attribute"], "crossCertificatePair")
            self.assertEqual(e["crosscertificatepair"], [cross[1]])
            # the class's required cACertificate holds certutil's placeholder, not the root
            self.assertEqual(self.cacerts(e), [b"\x00"])
        else:
            # one container: the cross-certificate beside the root on its entry
            self.assertEqual(sorted(self.cacerts(e)), sorted([partner[2], cross[1]]))
        # a rerun: both unchanged; ca list names it a cross-certificate
        res = self.ca("publish", "--root", "--fingerprint", partner[3], partner[0], cross[0])
        self.assertEqual({r["action"] for r in res.json()}, {"unchanged"}, res)
        listed = {r["sha256"]: r["ca_kind"] for r in self.ca("list").json()}
        self.assertEqual(listed.get(cross[2]), "cross")
        # alone, with the partner's root in the directory, it is still a cross-certificate
        res = self.ca("publish", "-n", cross[0])
        self.assertEqual((res.rc, self.one(res)["ca_kind"]), (0, "cross"), res)

    def test_non_ca_and_expired_refused(self):
        res = self.ca("publish", smptest.pki("alice.pem"))
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res)["reason"], "not_ca")
        root = make_ca(self.tag + " Root")
        old = make_ca(self.tag + " Old", issuer=root[:2], start="20100101000000Z",
                      end="20200101000000Z")
        res = self.ca("publish", old[0])
        self.assertEqual((res.rc, self.one(res)["reason"]), (1, "critical_problem"), res)
        self.assertIn("expired", self.codes(self.one(res)))
        self.assertIsNone(self.entry(self.inters, self.tag + " Old"))
        res = self.ca("publish", "--force", old[0])
        self.assertEqual((res.rc, self.one(res)["action"]), (0, "published"), res)

    def test_dry_run_prints_ldif_and_writes_nothing(self):
        root = make_ca(self.tag + " Root")
        inter = make_ca(self.tag + " Issuing", issuer=root[:2])
        res = self.ca("publish", "-n", inter[0], fmt="text")
        self.assertEqual(res.rc, 0, res)
        self.assertIn("changetype: add", res.out)
        self.assertIn("cACertificate", res.out)
        self.assertIsNone(self.entry(self.inters, self.tag + " Issuing"))
        self.assertFalse(os.path.exists(self.journal) and open(self.journal).read().strip())
        rec = self.one(self.ca("publish", "-n", inter[0]))
        self.assertEqual(rec["action"], "would_publish")
        self.assertIn("changetype: add", rec["ldif"])

    def test_undo_through_the_journal(self):
        root = make_ca(self.tag + " Root")
        inter = make_ca(self.tag + " Issuing", issuer=root[:2])
        res = self.ca("publish", inter[0])
        self.assertEqual(res.rc, 0, res)
        self.assertTrue(self.one(res)["record"])
        res = self.smp("undo", "--last")
        self.assertEqual(res.rc, 0, res)
        self.assertIsNone(self.entry(self.inters, self.tag + " Issuing"))

    def test_delegated_writer_refused(self):
        root = make_ca(self.tag + " Root")
        inter = make_ca(self.tag + " Issuing", issuer=root[:2])
        res = self.ca("publish", inter[0], who="writer")
        self.assertEqual(res.rc, 77, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("failed", "insufficient_access"))
        self.assertIn(self.inters.lower(), rec["message"].lower())
        self.assertIn("nothing was written", rec["message"])
        self.assertIsNone(self.entry(self.inters, self.tag + " Issuing"))

    def test_list_counts_and_remove_refused_while_used(self):
        root = make_ca(self.tag + " Root")
        inter = make_ca(self.tag + " Issuing", issuer=root[:2])
        other = make_ca(self.tag + " Unused", issuer=root[:2])
        res = self.ca("publish", "--root", "--fingerprint", root[3], root[0], inter[0], other[0])
        self.assertEqual(res.rc, 0, res)
        self.contact("Chained", mail="chained@partner.example",
                     certs=[make_leaf(inter[:2], "chained@partner.example")])
        res = self.ca("list")
        self.assertEqual(res.rc, 0, res)
        mine = {r["sha256"]: r for r in res.json() if self.tag in r["subject"]}
        self.assertEqual({k: (v["ca_kind"], v["chained"]) for k, v in mine.items()},
                         {root[3]: ("root", 1), inter[3]: ("intermediate", 1),
                          other[3]: ("intermediate", 0)}, res)
        self.assertEqual(mine[root[3]]["container"].lower(), self.roots.lower())
        res = self.ca("list", fmt="csv")
        self.assertIn("container,ca_kind,chained", res.out.splitlines()[0])
        self.assertIn(self.tag + " Issuing", self.ca("list", fmt="text").out)
        # still used: refused unless --force
        res = self.ca("remove", "--fingerprint", inter[3])
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"], rec["chained"]),
                         ("skipped", "still_used", 1))
        self.assertIsNotNone(self.entry(self.inters, self.tag + " Issuing"))
        res = self.ca("remove", "--fingerprint", other[3])
        self.assertEqual((res.rc, self.one(res)["action"]), (0, "removed"), res)
        self.assertIsNone(self.entry(self.inters, self.tag + " Unused"))
        res = self.ca("remove", "--force", "--fingerprint", inter[3])
        self.assertEqual((res.rc, self.one(res)["action"]), (0, "removed"), res)
        self.assertIsNone(self.entry(self.inters, self.tag + " Issuing"))
        # the removal is journalled: undo puts it back
        res = self.smp("undo", "--last")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.cacerts(self.entry(self.inters, self.tag + " Issuing")), [inter[2]])
        res = self.ca("remove", "--fingerprint", "ab" * 32)
        self.assertEqual((res.rc, self.one(res)["reason"]), (1, "not_found"), res)


class CASlapd(CATests, unittest.TestCase):
    kind = "slapd"


class CAAD(CATests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
