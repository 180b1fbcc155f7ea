"""`audit --format html --output FILE` in a real browser: Debian's headless chromium, driven by
playwright-core (tests/browser/report.mjs; `npm ci` here installs it from the lock file, no
browser download). The report is made from an LDIF export of test PKI certificates plus one
whose subject CN is `<script>alert(1)</script>`, and checked against the same audit's
--format json: the chart has a bar for each of the 18 months from --at with the count of
certificates expiring in it, the status and numbers are the summary's, the findings table
has each code with its count, the CN shows as text, nothing runs (no script element, no event
handler attribute, no dialog, no console error) and nothing is fetched, and a phone-width
viewport needs no sideways scrolling. Screenshots are kept in the build directory
(tests/browser-artifacts/report.png, report-phone.png).
"""
import base64
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from smptest import T0, LdifEntry, ldapsearch_style, pki, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDDIR = os.environ.get("SMIMEPUB_BUILDDIR", tempfile.gettempdir())
ARTIFACTS = os.path.join(BUILDDIR, "tests", "browser-artifacts")
_TMP = tempfile.mkdtemp(prefix="smp-browser-")


def xss_cert():
    """A certificate for xss@partner.example whose CN is a script tag, issued by the test
    PKI's intermediate. DER bytes."""
    key, req, pem = (os.path.join(_TMP, n) for n in ("x.key", "x.csr", "x.pem"))
    ext = os.path.join(_TMP, "x.ext")
    with open(ext, "w") as fp:
        fp.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                 "extendedKeyUsage=emailProtection\nsubjectAltName=email:xss@partner.example\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", req, "-subj", "/CN=<script>alert(1)<\\/script>"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", req, "-CA", pki("intermediate.pem"),
                    "-CAkey", pki("intermediate.key"), "-set_serial", "4242", "-days", "200",
                    "-extfile", ext, "-out", pem], check=True, capture_output=True)
    return subprocess.run(["openssl", "x509", "-in", pem, "-outform", "DER"], check=True,
                          capture_output=True).stdout


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


class HtmlReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        entries = [
            LdifEntry("Alice", mail="alice@partner.example", certs=["alice.pem"]),
            LdifEntry("Bob", mail="bob@partner.example", certs=["bob-ec.pem", "expired.pem"]),
            LdifEntry("Expiring", mail="expiring@partner.example", certs=["expiring.pem"]),
            LdifEntry("Xss", mail="xss@partner.example", certs=[xss_cert()]),
        ]
        cls.export = os.path.join(_TMP, "export.ldif")
        with open(cls.export, "wb") as fp:
            fp.write(ldapsearch_style(entries))
        base = ["audit", "--from-ldif", cls.export, "--at", T0, "--ca-file", pki("root.pem"),
                "--untrusted", pki("intermediate.pem")]
        cls.json = run(base + ["--format", "json"])
        cls.html = os.path.join(_TMP, "report.html")
        cls.res = run(base + ["--format", "html", "--output", cls.html])
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "report.png")
        cls.browser = subprocess.run(["node", os.path.join(HERE, "report.mjs"), cls.html, shot],
                                     capture_output=True, text=True, timeout=300)

    def setUp(self):
        self.assertEqual(self.res.rc, self.json.rc, self.res)
        self.assertEqual(self.browser.returncode, 0, self.browser.stderr)
        self.seen = json.loads(self.browser.stdout)
        self.records = self.json.json()
        self.summary = [r for r in self.records if r.get("type") == "summary"][0]

    def test_chart_bars_have_the_counts(self):
        want = collections.Counter(r["not_after"][:7] for r in self.records
                                   if r.get("type") == "certificate" and r.get("not_after"))
        bars = self.seen["bars"]
        self.assertEqual(len(bars), 18)
        self.assertEqual(bars[0]["month"], T0[:7])
        for b in bars:
            self.assertEqual(b["count"], want.get(b["month"], 0), b)
            self.assertEqual(b["label"], str(b["count"]))
            self.assertEqual(b["height"] > 0, b["count"] > 0, b)
        self.assertGreaterEqual(sum(b["count"] > 0 for b in bars), 2, bars)
        # taller for more
        top = max(bars, key=lambda b: b["count"])
        self.assertTrue(all(b["height"] <= top["height"] for b in bars))

    def test_summary_and_findings_are_the_audits(self):
        self.assertEqual(self.seen["status"], self.summary["status"])
        self.assertEqual(self.seen["entries"], str(self.summary["entries"]))
        self.assertEqual(self.seen["certificates"], str(self.summary["certificates"]))
        codes = collections.Counter(p["code"] for r in self.records
                                    for p in r.get("problems", []) if r.get("type") in
                                    ("certificate", "entry"))
        self.assertIn("expired", codes)
        self.assertEqual({row[0]: int(row[2]) for row in self.seen["findings"]}, dict(codes))
        for row in self.seen["findings"]:
            self.assertTrue(row[3], row)  # advice

    def test_certificate_text_is_escaped(self):
        # as the JSON says it (RFC 4514 escapes < and > with a backslash), shown as text
        subject = [r["subject"] for r in self.records if r.get("type") == "certificate" and
                   "alert(1)" in r.get("subject", "")][0]
        self.assertIn("<script", subject)
        self.assertIn(subject, self.seen["subjects"])
        self.assertEqual((self.seen["scripts"], self.seen["handlers"]), (0, 0))
        self.assertEqual(self.seen["errors"], [])
        with open(self.html) as fp:
            raw = fp.read()
        self.assertNotIn("<script", raw)
        self.assertIn("&lt;script", raw)

    def test_self_contained_and_fits_a_phone(self):
        self.assertEqual(self.seen["requests"], [])
        self.assertEqual(self.seen["images"], 0)
        self.assertFalse(self.seen["phoneOverflow"])
        self.assertTrue(os.path.getsize(os.path.join(ARTIFACTS, "report.png")) > 1000)
        self.assertTrue(os.path.exists(os.path.join(ARTIFACTS, "report-phone.png")))

    def test_output_is_required_and_replaced_whole(self):
        r = run(["audit", "--from-ldif", self.export, "--format", "html"])
        self.assertEqual(r.rc, 64, r)
        self.assertIn("--output", r.err)


if __name__ == "__main__":
    smptest.main()
