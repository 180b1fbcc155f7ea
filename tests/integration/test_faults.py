"""Fault tests for bulk `smimepub publish` against the real slapd: while 2,000 certificates are
published, a background thread stops and restarts slapd (tests/dirs/slapd.sh restart) at 12
points. Afterwards every entry is in its before state (no certificate) or its after state
(exactly its certificate), applying the journal newest first with ldapmodify restores every entry
to its before state exactly, and a rerun publishes everything. The same for `smimepub prune`
of a few hundred entries: slapd restarts whenever the run has journalled another group.
"""
import os
import subprocess
import tempfile
import sys
import signal
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
import test_bulk  # noqa: E402
from smptest import T0, der_of, pki  # noqa: E402
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


PRUNE_N = 600


class SlapdPruneFaults(unittest.TestCase):
    """prune survives slapd restarts mid-run: reads and writes in flight are lost with the
    connection, prune reconnects with backoff, settles the writes whose answer was lost and
    goes on."""

    @classmethod
    def setUpClass(cls):
        cls.d = smptest.Directory("slapd")
        cls.pw = cls.d.pwfile()

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.pw)

    def setUp(self):
        self.ou = self.d.make_ou("smpprune-faults")
        self.addCleanup(self.d.delete_tree, self.ou)
        self.tmp = tempfile.mkdtemp(prefix="smp-prune-faults-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        self.journal = os.path.join(self.tmp, "journal.ldif")
        recs = []
        for i in range(PRUNE_N):
            certs = ["carol-sanonly.pem"] if i % 10 == 3 else ["demo-expired.pem",
                                                              "contacts/fay.pem"]
            recs.append(self.d.contact_ldif(self.ou, "Pru%04d" % i, mail="fay@partner.example",
                                            certs=[der_of(c) for c in certs]))
        self.d.ldapmodify("\n".join(recs))

    slapd_dir = SlapdFaults.slapd_dir
    restart_slapd = SlapdFaults.restart_slapd
    journal_records = SlapdFaults.journal_records

    def all_certs(self):
        found = self.d.search(self.ou, scope="one", filt="(cn=Pru*)",
                              attrs=["userCertificate", "userCertificate;binary"])
        return {dn.lower(): [v for k, vals in e.items() if k.startswith("usercertificate")
                             for v in vals] for dn, e in found.items()}

    def prune(self):
        # --jobs 4: groups of 128 entries, so the run journals a group five times over
        args = ["-H", self.d.uri, "-D", self.d.admin_dn, "-y", self.pw, "-b", self.ou,
                "--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem"),
                "--journal", self.journal, "--jobs", "4", "-v", "prune", "--format", "json"]
        return smptest.run(args, timeout=900)

    def test_restarts_during_prune(self):
        before = self.all_certs()
        self.assertEqual(len(before), PRUNE_N)
        done = threading.Event()
        points = []

        def faults():
            last = 0
            while not done.is_set():
                now = self.journal_records()
                if now > last:
                    points.append(now)
                    self.restart_slapd()
                    last = now
                time.sleep(0.005)

        t = threading.Thread(target=faults)
        t.start()
        try:
            r = self.prune()
        finally:
            done.set()
            t.join()
        # a restart after the run's last write may come after its end: the others hit it
        self.assertGreaterEqual(len(points), 3, "slapd restarted only at %s: %r" % (points, r))
        self.assertIn("reconnected to", r.err)  # -v: the session's notice
        recs = r.json()
        acts = [x for x in recs if "action" in x]
        summary = [x for x in recs if x.get("type") == "summary"][0]
        failed = {x["dn"].lower() for x in acts if x["action"] == "failed"}
        removed = {x["dn"].lower() for x in acts if x["action"] == "removed"}
        self.assertEqual(summary["entries"], PRUNE_N, r)
        self.assertEqual((summary["removed"], summary["failed"]), (len(removed), len(failed)), r)
        # exit status as SPEC 5: 0 when everything was done, else the worst failure's
        if failed:
            self.assertIn(r.rc, (1, 69), r)
        else:
            self.assertEqual(r.rc, 0, r)
        # every bad value is gone, or its entry reported failed; clean entries untouched
        after = self.all_certs()
        for dn, certs in before.items():
            if certs == [der_of("carol-sanonly.pem")]:
                self.assertEqual(after[dn], certs, dn)
            elif dn not in failed:
                self.assertIn(dn, removed)
                self.assertEqual(after[dn], [der_of("contacts/fay.pem")], dn)
        self.assertEqual(failed, set(), "the server came back: nothing should fail: %r" % r)
        self.assertEqual(len(removed), PRUNE_N - PRUNE_N // 10)
        # the journal undoes exactly what was done: every live record applies, newest first,
        # without -c, and gives back every entry's values in their order
        with open(self.journal) as fp:
            records = split_ldif_records(fp.read())
        self.assertEqual(len(records), len(removed))
        self.d.ldapmodify("\n".join(reversed(records)))
        self.assertEqual(self.all_certs(), before)


if __name__ == "__main__":
    smptest.main()
