"""`audit --format prometheus --output FILE` (SPEC section 7): node_exporter's textfile, on LDIF
exports of the test PKI and on a server that cannot be reached. Every file written is checked by
Prometheus' own `promtool check metrics`; the samples are read back and compared with what the
audit found; the file is replaced by a rename (a reader holding the old one keeps reading it
whole, no temporary file is left, a failed write leaves the old file), and a run that could not
complete says so and keeps the last good run's time."""
import datetime
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import unittest

import smptest
from smptest import T0, LdifEntry, pki, run

_TMP = tempfile.mkdtemp(prefix="smp-prom-")
TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


def export(name, *entries):
    return smptest.write_export(_TMP, name, entries)


parse = smptest.prom_samples


def get(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def not_after(name):
    out = subprocess.run(["openssl", "x509", "-in", pki(name), "-noout", "-enddate",
                          "-dateopt", "iso_8601"], check=True, capture_output=True, text=True)
    # notAfter=2027-01-01 00:00:00Z
    when = out.stdout.strip().split("=", 1)[1]
    return datetime.datetime.strptime(when, "%Y-%m-%d %H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def sha256(name):
    out = subprocess.run(["openssl", "x509", "-in", pki(name), "-noout", "-fingerprint",
                          "-sha256"], check=True, capture_output=True, text=True)
    return out.stdout.strip().split("=", 1)[1].replace(":", "").lower()


ALICE = LdifEntry("Alice", mail="alice@partner.example", certs=["alice.pem"])
EXPIRING = LdifEntry("Expiring", mail="expiring@partner.example", certs=["expiring.pem"])
# bob's EC certificate, his expired one (for another address) twice
BOB = LdifEntry("Bob", mail="bob@partner.example",
                certs=["bob-ec.pem", "expired.pem", "expired.pem"])


class Prometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # a missing promtool fails the suite: scripts/install-deps.sh --tests installs it
        assert shutil.which("promtool"), "promtool not found (Debian package prometheus)"

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=_TMP)
        self.out = os.path.join(self.dir, "smimepub.prom")

    def audit(self, *args, expect=None):
        res = run(TRUST + ["audit", "--format", "prometheus", "--output", self.out] +
                  list(args))
        if expect is not None:
            self.assertEqual(res.rc, expect, res)
        self.assertEqual(res.out, "", "the textfile goes to --output only")
        return res

    def promtool(self):
        return smptest.promtool_check(self, self.out)

    def test_a_complete_audit(self):
        res = self.audit("--from-ldif", export("crit", ALICE, EXPIRING, BOB), expect=2)
        s = self.promtool()
        self.assertEqual(get(s, "smimepub_audit_success"), 1)
        self.assertEqual(get(s, "smimepub_audit_status"), res.rc)
        self.assertEqual(get(s, "smimepub_entries"), 3)
        # alice's is sound; expiring.pem warns; bob's EC one is sound, his two expired ones
        # (not for his address) are critical
        self.assertEqual([get(s, "smimepub_certificates", state=k)
                          for k in ("ok", "warning", "critical")], [2, 1, 2])
        self.assertEqual(get(s, "smimepub_findings", code="expired", severity="critical"), 2)
        self.assertEqual(get(s, "smimepub_findings", code="expiring", severity="warning"), 1)
        self.assertEqual(get(s, "smimepub_findings", code="duplicate", severity="warning"), 1)
        # the first that has not yet expired: expiring.pem (bob's expired one is a finding)
        self.assertEqual(get(s, "smimepub_certificate_soonest_expiry_timestamp_seconds"),
                         not_after("expiring.pem"))
        started = get(s, "smimepub_audit_last_run_timestamp_seconds")
        self.assertAlmostEqual(started, os.stat(self.out).st_mtime, delta=60)
        self.assertEqual(get(s, "smimepub_audit_last_success_timestamp_seconds"), started)
        self.assertGreater(get(s, "smimepub_audit_duration_seconds"), 0)
        self.assertLess(get(s, "smimepub_audit_duration_seconds"), 600)
        # no address, DN or fingerprint in a label without --per-certificate
        text = open(self.out).read()
        for word in ("dn=", "address=", "sha256=", "partner.example"):
            self.assertNotIn(word, text)

    def test_a_clean_audit(self):
        self.audit("--from-ldif", export("ok", ALICE), expect=0)
        s = self.promtool()
        self.assertEqual([get(s, "smimepub_certificates", state=k)
                          for k in ("ok", "warning", "critical")], [1, 0, 0])
        self.assertFalse([k for k in s if k[0] == "smimepub_findings"], s)
        self.assertEqual(get(s, "smimepub_audit_status"), 0)

    def test_per_certificate(self):
        odd = LdifEntry('Q\\"uote\\\\back', mail="alice@partner.example", certs=["alice.pem"])
        self.audit("--per-certificate", "--from-ldif", export("per", ALICE, BOB, odd),
                   expect=2)
        s = self.promtool()
        series = {dict(k[1])["dn"] + " " + dict(k[1])["sha256"]: (dict(k[1])["address"], v)
                  for k, v in s.items()
                  if k[0] == "smimepub_certificate_expiry_timestamp_seconds"}
        self.assertEqual(series, {
            ALICE.dn + " " + sha256("alice.pem"): ("alice@partner.example",
                                                     not_after("alice.pem")),
            BOB.dn + " " + sha256("bob-ec.pem"): (series.get(BOB.dn + " " + sha256(
                "bob-ec.pem"), ("",))[0], not_after("bob-ec.pem")),
            # the same value twice on one entry is one series
            BOB.dn + " " + sha256("expired.pem"): ("expired@partner.example",
                                                     not_after("expired.pem")),
            # a DN with a quote and a backslash: escaped in the label, read back whole
            odd.dn + " " + sha256("alice.pem"): ("alice@partner.example",
                                                   not_after("alice.pem")),
        })
        self.assertEqual(series[BOB.dn + " " + sha256("bob-ec.pem")][0].lower(),
                         "bob@partner.example")

    def test_replaced_by_a_rename(self):
        path = export("ok", ALICE)
        self.audit("--from-ldif", path, expect=0)
        old_inode = os.stat(self.out).st_ino
        with open(self.out) as held:
            before = held.read()
            held.seek(0)
            self.audit("--from-ldif", export("crit", ALICE, BOB), expect=2)
            # a scrape that opened the old file reads it whole: it was never rewritten
            self.assertEqual(held.read(), before)
        self.assertNotEqual(os.stat(self.out).st_ino, old_inode)
        self.assertEqual(os.listdir(self.dir), ["smimepub.prom"], "no temporary file left")
        self.assertEqual(get(self.promtool(), "smimepub_audit_status"), 2)
        mask = os.umask(0)
        os.umask(mask)
        self.assertEqual(os.stat(self.out).st_mode & 0o777, 0o666 & ~mask)

    def test_a_failed_write_keeps_the_old_file(self):
        self.audit("--from-ldif", export("ok", ALICE), expect=0)
        before = open(self.out).read()

        def small_files():
            # a full disk, as root too: writes past 512 bytes fail (EFBIG, SIGXFSZ ignored)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

        proc = subprocess.run([smptest.BIN] + TRUST + [
            "audit", "--format", "prometheus", "--output", self.out, "--from-ldif",
            export("crit", ALICE, BOB)], capture_output=True, text=True,
            preexec_fn=small_files)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("cannot write '%s'" % self.out, proc.stderr)
        self.assertIn("previous file, if any, is unchanged", proc.stderr)
        self.assertEqual(open(self.out).read(), before)
        self.assertEqual(os.listdir(self.dir), ["smimepub.prom"], "no temporary file left")

    def test_a_missing_directory(self):
        res = run(TRUST + ["audit", "--format", "prometheus", "--output",
                           os.path.join(self.dir, "no", "such.prom"), "--from-ldif",
                           export("ok", ALICE)])
        self.assertEqual(res.rc, 3, res)
        self.assertIn("cannot create a file beside it", res.err)

    def test_an_audit_that_cannot_run(self):
        # first no earlier file: no last success to tell
        unreachable = ["-H", "ldap://127.0.0.1:1", "-b", "dc=x"]
        res = self.audit(*unreachable, expect=3)
        self.assertIn("cannot reach", res.err)
        s = self.promtool()
        self.assertEqual(get(s, "smimepub_audit_success"), 0)
        self.assertEqual(get(s, "smimepub_audit_status"), 3)
        self.assertIsNone(get(s, "smimepub_audit_last_success_timestamp_seconds"))
        # a partial count is not a count: no entries, certificates or findings
        for name in ("smimepub_entries", "smimepub_certificates", "smimepub_findings",
                     "smimepub_certificate_soonest_expiry_timestamp_seconds"):
            self.assertFalse([k for k in s if k[0] == name], name)
        # after a good run, a failed one keeps saying when the good one was
        self.audit("--from-ldif", export("ok", ALICE), expect=0)
        good = get(self.promtool(), "smimepub_audit_last_success_timestamp_seconds")
        self.assertIsNotNone(good)
        self.audit(*unreachable, expect=3)
        s = self.promtool()
        self.assertEqual(get(s, "smimepub_audit_success"), 0)
        self.assertEqual(get(s, "smimepub_audit_last_success_timestamp_seconds"), good)
        self.assertGreaterEqual(get(s, "smimepub_audit_last_run_timestamp_seconds"), good)

    def test_usage(self):
        for args, msg in (
                (["audit", "--format", "prometheus", "--from-ldif", export("ok", ALICE)],
                 "audit --format prometheus needs --output FILE"),
                (["audit", "--per-certificate", "--from-ldif", export("ok", ALICE)],
                 "--per-certificate is for audit --format prometheus"),
                (["audit", "--format", "json", "--output", self.out, "--from-ldif",
                  export("ok", ALICE)], "--output is for audit --format html or prometheus"),
                (["inspect", "--format", "prometheus", pki("alice.pem")],
                 "--format prometheus is audit's"),
                (["audit", "--format", "prom"], "invalid --format 'prom'")):
            res = run(TRUST + args)
            self.assertEqual(res.rc, 64, res)
            self.assertIn(msg, res.err)
            self.assertFalse(os.path.exists(self.out))


class Reader(unittest.TestCase):
    """The check itself: parse() must refuse what the format does not allow."""

    def test_parse_rejects_broken_lines(self):
        for bad in ('smimepub_x{a="b} 1', "smimepub x 1", 'smimepub_x{a="b"}',
                    'smimepub_x 1\nsmimepub_x 2'):
            with self.assertRaises(AssertionError):
                parse(bad)


if __name__ == "__main__":
    smptest.main()
