"""Fault test for bulk `smimepub publish` against the real slapd: while 2,000 certificates are
published, a background thread stops and restarts slapd (tests/dirs/slapd.sh restart) at 12
points. Afterwards every entry is in its before state (no certificate) or its after state
(exactly its certificate), applying the journal newest first with ldapmodify restores every entry
to its before state exactly, and a rerun publishes everything.
"""
import os
import subprocess
import sys
import signal
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
import test_bulk  # noqa: E402
from test_publish import split_ldif_records  # noqa: E402

N = 2000
RESTARTS = 12


class SlapdFaults(test_bulk.BulkBase, unittest.TestCase):
    kind = "slapd"

    def setUp(self):
        test_bulk.N = N  # the mixin's helpers count this many
        super().setUp()

    def tearDown(self):
        test_bulk.N = 200
        super().tearDown()

    def slapd_dir(self):
        return os.path.dirname(os.environ["SMIMEPUB_SLAPD_ENV"])

    def restart_slapd(self):
        try:
            with open(os.path.join(self.slapd_dir(), "slapd.pid")) as fp:
                os.kill(int(fp.read().strip()), signal.SIGTERM)  # at once; the script waits
        except (OSError, ValueError):
            pass
        subprocess.run([os.path.join(smptest.SRCDIR, "tests", "dirs", "slapd.sh"), "restart",
                        self.slapd_dir()], check=True, capture_output=True)

    def journal_records(self):
        try:
            with open(self.journal) as fp:
                return sum(1 for line in fp if line.startswith("dn:"))
        except FileNotFoundError:
            return 0

    def test_restarts_during_bulk_publish(self):
        before = self.entries()
        self.assertEqual(len(before), N)
        self.assertTrue(all(v == [] for v in before.values()))
        done = threading.Event()
        points = []

        def faults():
            # whenever the run has written more since the last restart (the first after its
            # first write: a server down before the run starts is exit 69, not a fault);
            # 2,000 certificates are two chunks, so some restarts hit the second's searches
            last = 0
            while len(points) < RESTARTS and not done.is_set():
                now = self.journal_records()
                if now > last:
                    points.append(now)
                    self.restart_slapd()
                    last = now
                time.sleep(0.005)

        t = threading.Thread(target=faults)
        t.start()
        try:
            r = self.bulk(self.certdir, jobs=2)
        finally:
            done.set()
            t.join()
        self.assertGreaterEqual(len(points), 10,
                                "slapd restarted only at %s (journal records): %r" % (points, r))
        recs = r.json()
        self.assertEqual(len(recs), N, r)
        self.assertEqual(r.rc, 0, r.err)
        self.assertEqual({x["action"] for x in recs}, {"published"}, r.err)

        # every entry before or after, never anything else
        after = self.entries()
        for i in range(1, N + 1):
            dn = ("cn=user%d,%s" % (i, self.ou)).lower()
            self.assertIn(after[dn], ([], [self.expected(i)]), dn)
        self.assert_all_published()

        # the journal undoes exactly what was done: every record applies, in order, without -c
        with open(self.journal) as fp:
            records = split_ldif_records(fp.read())
        self.assertEqual(len(records), N)
        self.d.ldapmodify("\n".join(reversed(records)))
        self.assertTrue(all(v == [] for v in self.entries().values()))

        # and a rerun completes everything
        r = self.bulk(self.certdir)
        self.assertEqual(r.rc, 0, r.err)
        self.assertEqual({x["action"] for x in r.json()}, {"published"})
        self.assert_all_published()


if __name__ == "__main__":
    smptest.main()
