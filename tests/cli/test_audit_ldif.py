"""smimepub audit --from-ldif: every audit code on LDIF exports, ldapsearch and ldifde styles, exit 3.

No server: the LDIF is written at test time from the test PKI ($SMIMEPUB_PKI).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import smptest  # noqa: E402
from smptest import der_of, pki, run, T0  # noqa: E402
from smptest import audit_findings as findings, audit_summary as summary  # noqa: E402
from smptest import LdifEntry as Entry, ldapsearch_style, ldifde_style  # noqa: E402

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]


# certificates with every kind of finding, cycled over the entries of the --jobs tests
MIXED = [["alice.pem"], ["expired.pem"], ["alice-new.pem", "alice.pem"], ["expiring.pem"],
         ["alice.pem", "alice.pem"], ["bob-ec.pem", "alice.pem"], ["notyet.pem"],
         ["signonly.pem"], ["noeku.pem"], ["weak-rsa1024.pem"], ["sha1.pem"], ["ca-leaf.pem"],
         ["dave-cn.pem"], ["noaddr.pem"], ["untrusted.pem"], ["missing-int.pem"], ["idn.pem"],
         ["carol-sanonly.pem"], [], ["alice-old-expired.pem", "alice.pem", "alice-new.pem"]]


def mixed_entries(n):
    """n entries with mixed findings: every certificate kind, junk values, no mail, S/MIME."""
    out = []
    for i in range(n):
        certs = list(MIXED[i % len(MIXED)])
        if i % 37 == 5:
            certs.append(b"\x30\x03junk %d" % i)
        mail = None if i % 23 == 7 else "user%d@partner.example" % i
        if certs and i % 3 == 0 and mail:
            mail = "alice@partner.example"
        smime = [b"garbage"] if i % 41 == 9 else []
        out.append(Entry("User %03d" % i, mail, proxies=["SMTP:user%d@partner.example" % i],
                         certs=certs, smime=smime))
    return out


class AuditLdif(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smp-audit-ldif-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as fp:
            fp.write(data)
        return path

    def audit(self, entries, *extra, style=ldapsearch_style, fmt="json"):
        path = self.write("in.ldif", style(entries))
        return run(TRUST + ["audit", "--format", fmt, "--from-ldif", path] + list(extra))

    def codes(self, res, e, index=None):
        return findings(res.json()).get((e.dn.lower(), index), [])

    # ---- every code ------------------------------------------------------------------------

    def test_clean_exit_0(self):
        e = Entry("Alice", "alice@partner.example", certs=["alice.pem"])
        for style in (ldapsearch_style, ldifde_style):
            res = self.audit([e], style=style)
            self.assertEqual(res.rc, 0, res)
            s = summary(res.json())
            self.assertEqual((s["entries"], s["certificates"], s["counts"]), (1, 1, {}))

    def test_expiring_exit_1_expired_exit_2(self):
        e = Entry("Exp", "expiring@partner.example", certs=["expiring.pem"])
        res = self.audit([e])
        self.assertEqual((res.rc, self.codes(res, e, 0)), (1, ["expiring"]), res)
        e2 = Entry("Old", "expired@partner.example", certs=["expired.pem"])
        res = self.audit([e, e2])
        self.assertEqual(res.rc, 2, res)
        self.assertEqual(self.codes(res, e2, 0), ["expired", "first_unusable"])
        self.assertEqual(summary(res.json())["soonest_expiries"][0]["dn"], e.dn)

    def test_duplicate(self):
        e = Entry("Alice", "alice@partner.example", certs=["alice.pem", "alice.pem"])
        res = self.audit([e])
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.codes(res, e, 0), [])
        self.assertEqual(self.codes(res, e, 1), ["duplicate"])

    def test_superseded(self):
        e = Entry("Alice", "alice@partner.example", certs=["alice-new.pem", "alice.pem"])
        res = self.audit([e])
        self.assertEqual((res.rc, self.codes(res, e, 1)), (1, ["superseded"]), res)

    def test_too_many_values(self):
        names = ["alice.pem", "alice-new.pem", "bob-ec.pem", "carol-sanonly.pem", "idn.pem",
                 "expiring.pem", "signonly.pem", "enconly.pem", "noeku.pem", "sha1.pem",
                 "contacts/ann.pem", "contacts/ben.pem", "contacts/cat.pem", "contacts/dan.pem",
                 "contacts/eve.pem", "contacts/fay.pem"]
        e = Entry("Many", "alice@partner.example", certs=names)
        res = self.audit([e])
        self.assertIn("too_many_values", self.codes(res, e), res)
        e15 = Entry("Fifteen", "alice@partner.example", certs=names[:15])
        self.assertNotIn("too_many_values", self.codes(self.audit([e15]), e15))

    def test_too_large(self):
        big = os.path.join(self.tmp, "big.der")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        os.path.join(self.tmp, "big.key"), "-subj", "/CN=Big", "-addext",
                        "subjectAltName=email:big@partner.example", "-addext",
                        "nsComment=" + "x" * 33000, "-days", "30", "-outform", "DER",
                        "-out", big], check=True, capture_output=True)
        with open(big, "rb") as fp:
            der = fp.read()
        self.assertGreater(len(der), 32768)
        e = Entry("Big", "big@partner.example", certs=[der])
        res = self.audit([e], style=ldifde_style)
        self.assertEqual(res.rc, 2, res)
        self.assertIn("too_large", self.codes(res, e, 0))
        self.assertNotIn("malformed", self.codes(res, e, 0))
        # exactly the limit is fine as far as size goes (here: junk, so malformed)
        e2 = Entry("Limit", "big@partner.example", certs=[b"\x30" * 32768, b"\x30" * 33000])
        res = self.audit([e2])
        self.assertEqual(self.codes(res, e2, 0), ["first_unusable", "malformed"])
        self.assertEqual(self.codes(res, e2, 1), ["malformed", "too_large"])

    def test_malformed(self):
        e = Entry("Junk", "alice@partner.example", certs=["alice.pem", os.urandom(300)])
        res = self.audit([e])
        self.assertEqual(res.rc, 2, res)
        self.assertEqual(self.codes(res, e, 1), ["malformed"])
        rec = [r for r in res.json() if r.get("type") == "certificate" and r["index"] == 1][0]
        self.assertEqual((rec["size"], len(rec["sha256"])), (300, 64))

    def test_address_mismatch(self):
        e = Entry("Bob", "bob@partner.example", certs=["bob-ec.pem", "alice.pem"])
        res = self.audit([e])
        self.assertEqual(res.rc, 2, res)
        self.assertEqual(self.codes(res, e, 0), [])
        self.assertEqual(self.codes(res, e, 1), ["address_mismatch"])

    def test_no_mail_attribute(self):
        e = Entry("Alice", None, proxies=["SMTP:alice@partner.example", "X500:/o=x"],
                  certs=["alice.pem"])
        res = self.audit([e], style=ldifde_style)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.codes(res, e), ["no_mail_attribute"])
        self.assertEqual(self.codes(res, e, 0), [])

    def test_smime_attr_shadows(self):
        e = Entry("Alice", "alice@partner.example", certs=["alice.pem"],
                  smime=[b"garbage"])
        res = self.audit([e])
        self.assertEqual((res.rc, self.codes(res, e)), (2, ["smime_attr_shadows"]), res)
        e.smime = [der_of("expired.pem")]
        self.assertEqual(self.codes(self.audit([e]), e), ["smime_attr_shadows"])
        e.smime = [der_of("alice.pem")]
        self.assertEqual(self.codes(self.audit([e]), e), [])

    def test_first_unusable(self):
        e = Entry("Alice", "alice@partner.example", certs=["signonly.pem"])
        e.mail = "signonly@partner.example"
        res = self.audit([e])
        self.assertEqual(self.codes(res, e, 0), ["first_unusable", "no_encryption"], res)

    # ---- both export styles, same findings --------------------------------------------------

    def test_ldapsearch_and_ldifde_give_same_findings(self):
        entries = [
            Entry("Alice", "alice@partner.example",
                  certs=["alice-old-expired.pem", "alice.pem", "alice-new.pem", "bob-ec.pem"]),
            Entry("Exp", "expiring@partner.example", certs=["expiring.pem"]),
            Entry("NoMail", None, proxies=["SMTP:carol@partner.example"],
                  certs=["carol-sanonly.pem"]),
            Entry("Dup", "bob@partner.example", certs=["bob-ec.pem", "bob-ec.pem"]),
            Entry("Shadow", "alice@partner.example", certs=["alice.pem"], smime=[b"x"]),
        ]
        a = self.audit(entries, style=ldapsearch_style)
        b = self.audit(entries, style=ldifde_style)
        self.assertEqual(a.rc, 2, a)
        self.assertEqual(b.rc, 2, b)
        fa, fb = findings(a.json()), findings(b.json())
        self.assertEqual(fa, fb)
        self.assertEqual(fa[(entries[0].dn.lower(), 0)],
                         ["expired", "first_unusable", "superseded"])
        self.assertEqual(fa[(entries[0].dn.lower(), 1)], ["superseded"])
        self.assertEqual(fa[(entries[0].dn.lower(), 3)], ["address_mismatch"])
        self.assertEqual(summary(a.json())["counts"], summary(b.json())["counts"])
        attrs = {r["attribute"] for r in b.json() if r.get("type") == "certificate"}
        self.assertEqual(attrs, {"userCertificate"})

    def test_standard_input_and_csv(self):
        e = Entry("Old", "expired@partner.example", certs=["expired.pem"])
        res = run(TRUST + ["audit", "--format", "csv", "--from-ldif", "-"],
                  stdin=ldapsearch_style([e]).decode())
        self.assertEqual(res.rc, 2, res)
        self.assertTrue(res.out.startswith("file,dn,"), res)
        self.assertIn("expired;first_unusable", res.out)

    def test_csv_rows_are_values_and_the_summary_is_apart(self):
        import csv
        import io
        e = Entry("Old", "expired@partner.example", certs=["alice.pem", "expired.pem"])
        res = run(TRUST + ["audit", "--format", "csv", "--from-ldif", "-"],
                  stdin=ldapsearch_style([e]).decode())
        self.assertEqual(res.rc, 2, res)
        rows = list(csv.DictReader(io.StringIO(res.out)))
        # one row per value, each saying where it is and how bad; no summary row among them
        self.assertEqual([(r["index"], r["severity"]) for r in rows],
                         [("0", "critical"), ("1", "critical")], res)
        self.assertTrue(all(r["attribute"].lower().startswith("usercertificate") for r in rows))
        self.assertTrue(all(r["dn"] for r in rows), rows)
        self.assertNotIn("summary", res.out)
        self.assertIn("summary: critical: 1 entries, 2 certificates", res.err)

    def test_many_entries_streamed(self):
        e = Entry("x", "alice@partner.example", certs=["alice.pem"])
        chunk = ldapsearch_style([e]).decode()
        body = "".join(chunk.replace("cn=x,", "cn=x%d," % i) for i in range(2000))
        path = self.write("many.ldif", body.encode())
        res = run(TRUST + ["audit", "-q", "--from-ldif", path])
        self.assertEqual((res.rc, res.out), (0, ""), res)
        res = run(TRUST + ["audit", "--format", "json", "--from-ldif", path, "--warn-days", "400"])
        s = summary(res.json())
        self.assertEqual((s["entries"], s["certificates"], s["counts"]),
                         (2000, 2000, {"expiring": 2000}))
        self.assertEqual(len(s["soonest_expiries"]), 10)

    def test_progress_only_on_a_terminal(self):
        import pty
        e = Entry("x", "alice@partner.example", certs=["alice.pem"])
        chunk = ldapsearch_style([e]).decode()
        body = "".join(chunk.replace("cn=x,", "cn=x%d," % i) for i in range(1500))
        path = self.write("progress.ldif", body.encode())
        master, slave = pty.openpty()
        env = dict(os.environ, LDAPNOINIT="1")
        proc = subprocess.Popen([smptest.BIN] + TRUST + ["audit", "--from-ldif", path],
                                stdout=subprocess.DEVNULL, stderr=slave, env=env)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(timeout=120)
        os.close(master)
        self.assertEqual(proc.returncode, 0)
        self.assertIn(b"audit: ", seen)
        res = run(TRUST + ["audit", "--from-ldif", path])
        self.assertEqual((res.rc, res.err), (0, ""))

    # ---- --jobs: analysis in worker processes, same output --------------------------------

    def test_jobs_output_identical(self):
        path = self.write("mixed.ldif", ldapsearch_style(mixed_entries(300)))
        for fmt in ("json", "csv", "text"):
            for extra in ([], ["-q"], ["-v", "--warn-days", "400"]):
                one = run(TRUST + ["audit", "--format", fmt, "--jobs", "1", "--from-ldif", path]
                          + extra)
                self.assertIn(one.rc, (1, 2), one)
                for jobs in ("2", "8"):
                    many = run(TRUST + ["audit", "--format", fmt, "-j", jobs, "--from-ldif",
                                        path] + extra)
                    self.assertEqual((many.rc, many.err), (one.rc, one.err), (fmt, extra, jobs))
                    self.assertEqual(many.out, one.out, (fmt, extra, jobs))
        s = summary(run(TRUST + ["audit", "--format", "json", "--from-ldif", path]).json())
        # as a live audit walks them: the entries holding a certificate (MIXED[18] holds none)
        self.assertEqual(s["entries"], 300 - 300 // len(MIXED))
        self.assertGreater(len(s["counts"]), 10)

    def test_jobs_broken_ldif_prints_what_came_before(self):
        good = ldapsearch_style(mixed_entries(150)).decode()
        path = self.write("half.ldif", (good + "dn: cn=broken\nnot ldif at all\n").encode())
        one = run(TRUST + ["audit", "--format", "json", "-j", "1", "--from-ldif", path])
        many = run(TRUST + ["audit", "--format", "json", "-j", "2", "--from-ldif", path])
        self.assertEqual(one.rc, 3, one)
        self.assertEqual((many.rc, many.out, many.err), (one.rc, one.out, one.err))

    def test_killed_worker_exit_3(self):
        e = Entry("x", "alice@partner.example", certs=["alice.pem"])
        chunk = ldapsearch_style([e]).decode()
        body = "".join(chunk.replace("cn=x,", "cn=x%d," % i) for i in range(3000))
        path = self.write("kill.ldif", body.encode())
        env = dict(os.environ, LDAPNOINIT="1")
        proc = subprocess.Popen([smptest.BIN] + TRUST + ["audit", "--format", "json", "-j", "2",
                                                         "--from-ldif", path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            proc.stdout.readline()  # the workers are busy; unread output holds them back
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as fp:
                children = [int(c) for c in fp.read().split()]
            self.assertEqual(len(children), 2)
            os.kill(children[0], 9)
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 3, err)
        self.assertIn(b"killed by signal 9", err)
        self.assertIn(b"could not complete", err)

    # ---- could not complete ----------------------------------------------------------------

    def test_missing_ldif_exit_3(self):
        missing = os.path.join(self.tmp, "nope.ldif")
        res = run(TRUST + ["audit", "--from-ldif", missing])
        self.assertEqual(res.rc, 3, res)
        self.assertIn("nope.ldif", res.err)
        self.assertIn("could not complete", res.err)
        self.assertRegex(res.err.lower(), "no such file|cannot")

    def test_broken_ldif_exit_3(self):
        path = self.write("broken.ldif", b"dn: cn=a,dc=x\nuserCertificate:: !!!notbase64\n")
        res = run(TRUST + ["audit", "--from-ldif", path])
        self.assertEqual(res.rc, 3, res)
        self.assertIn("could not complete", res.err)
        path = self.write("url.ldif", b"dn: cn=a,dc=x\nuserCertificate:< file:///etc/passwd\n")
        res = run(TRUST + ["audit", "--from-ldif", path])
        self.assertEqual(res.rc, 3, res)

    def test_missing_trust_file_exit_3(self):
        path = self.write("one.ldif", ldapsearch_style([Entry("A", "a@b.example")]))
        res = run(["--ca-file", os.path.join(self.tmp, "nope.pem"), "audit", "--from-ldif", path])
        self.assertEqual(res.rc, 3, res)
        self.assertIn("nope.pem", res.err)

    def test_text_output(self):
        e = Entry("Alice", "alice@partner.example", certs=["alice-new.pem", "alice.pem"])
        res = self.audit([e], fmt="text")
        self.assertEqual(res.rc, 1, res)
        self.assertIn(e.dn, res.out)
        self.assertIn("superseded", res.out)
        self.assertIn("summary", res.out)


if __name__ == "__main__":
    smptest.main()
