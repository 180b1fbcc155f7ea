"""`audit --format nagios` as a monitoring plugin (Monitoring Plugins development guidelines,
SPEC section 7), on LDIF exports of the test PKI and on a server that cannot be reached: one
status line per state with its exit code, perfdata that parses by the guidelines' grammar
(label=value[UOM];[warn];[crit];[min];[max], quoting, no space inside a value), the worst
findings after it, the thresholds from --warn-days/--crit-days and -w/-c (only in this format),
and expiring_soon critical within --crit-days."""
import os
import re
import shutil
import tempfile
import unittest

import smptest
from smptest import T0, LdifEntry, pki, run

_TMP = tempfile.mkdtemp(prefix="smp-nagios-")
TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]

# the guidelines' perfdata: 'label'=value[UOM];[warn];[crit];[min];[max]
LABEL = r"(?:'(?:[^'=]|'')+'|[^'= ]+)"
NUM = r"-?\d+(?:\.\d+)?"
RANGE = r"@?(?:%s|~)?(?::(?:%s)?)?" % (NUM, NUM)
PERF = r"%s=(?:%s|U)(?:s|ms|us|%%|B|KB|MB|TB|c)?(?:;%s){0,2}(?:;(?:%s)?){0,2}" % (
    LABEL, NUM, RANGE, NUM)
LINE = re.compile(r"^SMIMEPUB AUDIT (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+) \| (%s(?: %s)*)$"
                  % (PERF, PERF))
CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


def export(name, *entries):
    return smptest.write_export(_TMP, name, entries)


def nagios(path, *extra):
    return run(TRUST + ["audit", "--format", "nagios", "--from-ldif", path] + list(extra))


def parse(res):
    lines = res.out.splitlines()
    m = LINE.match(lines[0])
    assert m, "not a plugin status line: %r" % lines[0]
    perf = {}
    for item in m.group(3).split(" "):
        label, rest = item.split("=", 1)
        perf[label] = rest.split(";")
    return m.group(1), perf, lines[1:]


ALICE = LdifEntry("Alice", mail="alice@partner.example", certs=["alice.pem"])
EXPIRING = LdifEntry("Expiring", mail="expiring@partner.example", certs=["expiring.pem"])
BOB = LdifEntry("Bob", mail="bob@partner.example", certs=["bob-ec.pem", "expired.pem"])


class Nagios(unittest.TestCase):
    def check(self, res, state):
        self.assertEqual(res.rc, CODES[state], res)
        got, perf, rest = parse(res)
        self.assertEqual(got, state, res.out)
        self.assertEqual(sorted(perf), sorted(["entries", "certificates", "critical", "warnings",
                                               "expiring", "soonest_expiry_days"]))
        for label in ("entries", "certificates", "critical", "warnings", "expiring"):
            self.assertEqual(perf[label][3], "0", perf)  # min
        self.assertEqual(perf["critical"][2], "1")
        self.assertEqual(perf["warnings"][1], "1")
        self.assertLessEqual(len(rest), 10)
        return perf, rest

    def test_ok(self):
        perf, rest = self.check(nagios(export("ok", ALICE)), "OK")
        self.assertEqual((perf["entries"][0], perf["certificates"][0]), ("1", "1"))
        # alice.pem runs to 2027-01-01: 214 days from T0
        self.assertEqual(perf["soonest_expiry_days"], ["214", "30", "7"])
        self.assertEqual(rest, [])

    def test_warning(self):
        perf, rest = self.check(nagios(export("warn", ALICE, EXPIRING)), "WARNING")
        self.assertEqual((perf["warnings"][0], perf["expiring"][0]), ("1", "1"))
        self.assertEqual(perf["soonest_expiry_days"][0], "14")
        self.assertEqual(len(rest), 1)
        self.assertRegex(rest[0], r"^WARNING cn=Expiring,\S+ value 0: expiring$")

    def test_critical_worst_first(self):
        perf, rest = self.check(nagios(export("crit", EXPIRING, BOB)), "CRITICAL")
        self.assertTrue(rest[0].startswith("CRITICAL cn=Bob"), rest)
        self.assertIn("expired", rest[0])
        self.assertTrue(rest[-1].startswith("WARNING cn=Expiring"), rest)
        # the soonest of those still valid: bob's expired one is a finding, not an expiry
        self.assertEqual(perf["soonest_expiry_days"][0], "14")

    def test_unknown_when_the_audit_cannot_run(self):
        res = run(["audit", "--format", "nagios", "-H", "ldap://127.0.0.1:1", "-b", "dc=x"])
        self.check(res, "UNKNOWN")
        self.assertIn("could not complete: cannot reach", res.out.splitlines()[0])

    def test_thresholds(self):
        path = export("thr", ALICE, EXPIRING)
        # within --crit-days: the critical expiring_soon; -w/-c are the same in this format
        for args in (["--crit-days", "20"], ["-c", "20"]):
            perf, rest = self.check(nagios(path, *args), "CRITICAL")
            self.assertEqual(perf["soonest_expiry_days"][1:], ["30", "20"])
            self.assertIn("expiring_soon", rest[0])
        perf, rest = self.check(nagios(path, "-w", "10"), "OK")
        self.assertEqual(perf["soonest_expiry_days"], ["14", "10", "7"])
        # -w/-c are the plugin convention only
        res = run(TRUST + ["audit", "-w", "10", "--from-ldif", path])
        self.assertEqual(res.rc, 64, res)
        self.assertIn("--warn-days", res.err)
        # the JSON of the same audit names the same code
        res = run(TRUST + ["audit", "--format", "json", "--crit-days", "20", "--from-ldif", path])
        codes = [p["code"] for r in res.json() for p in r.get("problems", [])]
        self.assertEqual(codes, ["expiring_soon"], res)

    def test_only_for_audit(self):
        res = run(["inspect", "--format", "nagios", pki("alice.pem")])
        self.assertEqual(res.rc, 64, res)

    def test_grammar_rejects_what_the_guidelines_do(self):
        """The regex itself: it must not accept a broken line."""
        for bad in ("SMIMEPUB AUDIT OK - x | entries=1 ;;;0",
                    "SMIMEPUB AUDIT OK - x | entries=1;;;0;;;",
                    "SMIMEPUB AUDIT FINE - x | entries=1",
                    "SMIMEPUB AUDIT OK - x | my label=1"):
            self.assertIsNone(LINE.match(bad), bad)


if __name__ == "__main__":
    smptest.main()
