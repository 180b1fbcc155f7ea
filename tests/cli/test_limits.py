"""CLI tests of the limits on hostile breadth (README and man page: LIMITS).

Each hostile input is generated here: a message of 1,000,000 MIME parts (and one of as many
header fields), an LDIF entry of
millions of tiny values, PKCS#7 bundles of thousands of certificates. Each must be refused with
exit 65 (audit: 3, the monitoring convention) and a message naming the limit and the input,
while it is read, so that the peak memory of the run stays under a fixed bound whatever the
input's breadth; never an abort or a sanitizer report. Inputs just inside a limit still pass.

Peak RSS is the child's ru_maxrss. Address sanitizer roughly doubles it and adds its own
shadow memory, so the bound is larger for such a build; the release figures are in the
commit that added these limits.
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import smptest
from smptest import T0, pki, run

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]

MAX_PARTS = 10000        # SMP_MSG_MAX_PARTS
MAX_HEADERS = 100000     # SMP_MSG_MAX_HEADERS
MAX_VALUES = 10000       # SMP_LDIF_MAX_VALUES
MAX_CERTS = 1000         # SMP_BUNDLE_MAX_CERTS


def _asan():
    with open(smptest.BIN if os.path.isabs(smptest.BIN) else shutil.which(smptest.BIN), "rb") as fp:
        return b"libasan" in fp.read()


ASAN = _asan()
# Without the limits these inputs took 1.3 GB (MIME), 325 MB (LDIF) and 108 MB (PKCS#7) in a
# release build; with them each stays near the program's baseline.
RSS_BOUND_KB = 160 * 1024 if ASAN else 64 * 1024

_TMP = tempfile.mkdtemp(prefix="smp-limits-cli-")


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


def tmp(name):
    return os.path.join(_TMP, name)


def measured(args):
    """Runs smimepub with args in a child of a fresh Python: (Result, peak RSS in KiB, seconds)."""
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
             "sys.stdout.buffer.write(p.stdout)\n"
             "sys.stderr.buffer.write(p.stderr)\n"
             "open(sys.argv[1], 'w').write('%d %d' % (resource.getrusage("
             "resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode))\n")
    report = tmp("rss")
    start = time.monotonic()
    env = dict(os.environ, LDAPNOINIT="1",
               XDG_STATE_HOME=os.environ.get("SMIMEPUB_TEST_STATE", tempfile.gettempdir()))
    env.pop("SMIMEPUB_PASSWORD", None)
    proc = subprocess.run([sys.executable, "-c", probe, report, smptest.BIN] + list(args),
                          capture_output=True, text=True, env=env, timeout=600)
    took = time.monotonic() - start
    with open(report) as fp:
        rss, rc = (int(x) for x in fp.read().split())
    proc.returncode = rc
    res = smptest.Result(proc)
    sys.stderr.write("\n  %s %s: rc %d, peak RSS %d MiB, %.2f s\n"
                     % (args[0], os.path.basename(args[-1]), rc, rss // 1024, took))
    return res, rss, took


def mime_message(path, parts, sep="\n"):
    """A message of parts empty MIME parts (8 bytes each)."""
    with open(path, "w", newline="") as fp:
        fp.write(sep.join(["From: wide@partner.example", "Subject: wide", "MIME-Version: 1.0",
                           "Content-Type: multipart/mixed; boundary=b", "", ""]))
        fp.write(("--b" + sep + sep + "x" + sep) * parts)
        fp.write("--b--" + sep)


def mbox_message(fp, n, parts):
    fp.write("From wide@partner.example Mon Jan  1 00:00:00 2026\n")
    fp.write("From: m%d@partner.example\nSubject: m%d\nMIME-Version: 1.0\n"
             "Content-Type: multipart/mixed; boundary=b\n\n" % (n, n))
    fp.write("--b\n\nx\n" * parts)
    fp.write("--b--\n\n")


def ldif_entry(path, values, attr="mail"):
    with open(path, "w") as fp:
        fp.write("dn: cn=wide,dc=partner,dc=example\nobjectClass: inetOrgPerson\ncn: wide\n")
        fp.write(("%s: a\n" % attr) * values)
        fp.write("\n")


def p7b(path, n, distinct=True):
    """A DER PKCS#7 certs-only bundle of n certificates (alice's, made distinct by its last
    signature bytes: decodable, never verifiable), written by openssl crl2pkcs7."""
    der = smptest.der_of("alice.pem")
    pem = path + ".pem"
    with open(pem, "w") as fp:
        for i in range(n):
            d = der[:-2] + bytes([(i >> 8) & 255, i & 255]) if distinct else der
            fp.write("-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(d).decode() +
                     "-----END CERTIFICATE-----\n")
    subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", pem, "-outform", "DER",
                    "-out", path], check=True, capture_output=True)
    os.unlink(pem)


class Base(unittest.TestCase):
    def refused(self, args, message, rc=65):
        res, rss, took = measured(args)
        self.assertEqual(res.rc, rc, res)
        self.assertIn(message, res.err + res.out, res)  # JSON records carry it on stdout
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer", "Aborted", "assert"):
            self.assertNotIn(bad, res.err, res)
        self.assertLess(rss, RSS_BOUND_KB, "peak RSS %d KiB" % rss)
        return res


class TestMimeParts(Base):
    @classmethod
    def setUpClass(cls):
        mime_message(tmp("wide.eml"), 1000000)
        mime_message(tmp("near.eml"), MAX_PARTS - 2, sep="\r\n")
        with open(tmp("fields.eml"), "w") as fp:  # 7 MB: 654 MB and 9 s without the limit
            fp.write("From: wide@partner.example\n" + "X-a: b\n" * 1000000 + "\nbody\n")
        with open(tmp("wide.mbox"), "w") as fp:
            mbox_message(fp, 0, 3)
            mbox_message(fp, 1, 200000)
            mbox_message(fp, 2, 3)

    def test_million_parts_inspect(self):
        res = self.refused(["inspect", "--format", "json"] + TRUST + [tmp("wide.eml")],
                           "'%s': more than %d MIME parts (a limit): not read"
                           % (tmp("wide.eml"), MAX_PARTS))
        (rec,) = res.json()
        self.assertEqual(rec["kind"], "malformed", rec)

    def test_million_parts_harvest(self):
        res = self.refused(["harvest", "--dry-run", "--format", "json"] + TRUST +
                           [tmp("wide.eml")], "more than %d MIME parts (a limit)" % MAX_PARTS)
        (rec,) = res.json()
        self.assertEqual((rec["action"], rec["reason"]), ("failed", "malformed"))
        self.assertIn("wide.eml", res.err)

    def test_million_header_fields(self):
        self.refused(["harvest", "--dry-run", "--format", "json"] + TRUST + [tmp("fields.eml")],
                     "more than %d header fields (a limit): not read" % MAX_HEADERS)

    def test_million_parts_from_stdin(self):
        with open(tmp("wide.eml"), "rb") as fp:
            res = run(["harvest", "--dry-run", "--format", "json"] + TRUST + ["-"],
                      stdin=fp.read().decode())
        self.assertEqual(res.rc, 65, res)
        self.assertIn("more than %d MIME parts" % MAX_PARTS, res.err)

    def test_mbox_refuses_only_the_wide_message(self):
        res = self.refused(["harvest", "--dry-run", "--format", "json"] + TRUST +
                           [tmp("wide.mbox")], "more than %d MIME parts" % MAX_PARTS)
        got = [(x["index"], x.get("from"), x["reason"]) for x in res.json()]
        self.assertEqual(got, [(0, "m0@partner.example", "unsigned"), (1, None, "malformed"),
                               (2, "m2@partner.example", "unsigned")])

    def test_near_limit_is_read(self):
        res = run(["inspect", "--format", "json"] + TRUST + [tmp("near.eml")])
        self.assertEqual(res.rc, 0, res)
        (rec,) = res.json()
        self.assertEqual(rec["kind"], "unsigned", rec)


class TestLdifValues(Base):
    @classmethod
    def setUpClass(cls):
        ldif_entry(tmp("wide.ldif"), 4000000)   # 32 MB of `mail: a`
        ldif_entry(tmp("near.ldif"), MAX_VALUES - 1, attr="proxyAddresses")
        with open(tmp("near.ldif"), "a") as fp:  # exactly the limit, and skipped values
            fp.write("dn: cn=group,dc=partner,dc=example\ncn: group\nmail: g@partner.example\n")
            fp.write("member: cn=x\n" * (3 * MAX_VALUES))
            fp.write("\n")

    def message(self):
        return ("'%s' line %d: entry 'cn=wide,dc=partner,dc=example' has more than %d values "
                "of mail, proxyAddresses and certificate attributes (a limit): not read"
                % (tmp("wide.ldif"), MAX_VALUES + 4, MAX_VALUES))

    def test_publish_from_ldif(self):
        self.refused(["publish", "--dry-run", "--from-ldif", tmp("wide.ldif")] + TRUST +
                     [pki("alice.pem")], self.message())

    def test_harvest_from_ldif(self):
        self.refused(["harvest", "--dry-run", "--from-ldif", tmp("wide.ldif")] + TRUST +
                     [pki("alice.pem")], self.message())

    def test_audit_from_ldif_cannot_complete(self):
        # audit's exit status follows the monitoring-plugin convention: 3, could not complete
        self.refused(["audit", "--from-ldif", tmp("wide.ldif")] + TRUST, self.message(), rc=3)

    def test_near_limit_is_read(self):
        res = run(["audit", "--format", "json", "--from-ldif", tmp("near.ldif")] + TRUST)
        self.assertNotIn(res.rc, (3, 65), res)
        self.assertNotIn("a limit", res.err, res)


class TestPkcs7Certificates(Base):
    @classmethod
    def setUpClass(cls):
        p7b(tmp("copies.p7b"), 5000, distinct=False)  # once read as one certificate
        p7b(tmp("wide.p7b"), 15000)                   # near the 16 MiB input limit
        p7b(tmp("near.p7b"), MAX_CERTS)
        shutil.copy(tmp("copies.p7b"), tmp("copies.p7s"))
        with open(tmp("empty.ldif"), "w") as fp:
            fp.write("dn: cn=alice,dc=partner,dc=example\ncn: alice\n"
                     "mail: alice@partner.example\n\n")

    def message(self, name):
        return ("cannot read '%s': more than %d certificates in the input (a limit): not read"
                % (tmp(name), MAX_CERTS))

    def test_copies_inspect(self):
        self.refused(["inspect"] + TRUST + [tmp("copies.p7b")], self.message("copies.p7b"))

    def test_wide_inspect(self):
        self.refused(["inspect"] + TRUST + [tmp("wide.p7b")], self.message("wide.p7b"))

    def test_wide_publish(self):
        self.refused(["publish", "--dry-run", "--format", "json", "--from-ldif",
                            tmp("empty.ldif")] + TRUST + [tmp("wide.p7b")],
                           self.message("wide.p7b"))

    def test_signature_carrying_thousands(self):
        self.refused(["harvest", "--dry-run", "--format", "json"] + TRUST + [tmp("copies.p7s")],
                     "a signature carries more than %d certificates (a limit): not read"
                     % MAX_CERTS)

    def test_near_limit_is_read(self):
        res = run(["inspect", "--format", "json"] + TRUST + [tmp("near.p7b")])
        self.assertNotIn("a limit", res.err, res)
        self.assertNotEqual(res.rc, 65, res)


if __name__ == "__main__":
    unittest.main(verbosity=2)
