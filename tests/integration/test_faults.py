"""Fault tests for bulk `smimepub publish` against the real slapd: while 2,000 certificates are
published, a background thread stops and restarts slapd (tests/dirs/slapd.sh restart) at 12
points. Afterwards every entry is in its before state (no certificate) or its after state
(exactly its certificate), applying the journal newest first with ldapmodify restores every entry
to its before state exactly, and a rerun publishes everything. The same for `smimepub prune`
of a few hundred entries: slapd restarts whenever the run has journalled another group; and
the same for the other two operations that write through the pipeline, `smimepub remove` of
many entries and `smimepub harvest` of a Maildir of signed messages.
"""
import hashlib
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

smptest.expect_slapd_shutdowns()  # test_signals imports this module too
N = 2000
RESTARTS = 12


class RestartsWhileJournalling:
    """Runs a command while the test slapd restarts each time the journal has grown."""

    def run_with_restarts(self, run, limit=None):
        done = threading.Event()
        points = []

        def faults():
            last = 0
            while (limit is None or len(points) < limit) and not done.is_set():
                now = self.journal_records()
                if now > last:
                    points.append(now)
                    self.restart_slapd()
                    last = now
                time.sleep(0.005)

        t = threading.Thread(target=faults)
        t.start()
        try:
            r = run()
        finally:
            done.set()
            t.join()
        return r, points

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


class SlapdFaults(RestartsWhileJournalling, test_bulk.BulkBase, unittest.TestCase):
    kind = "slapd"

    def setUp(self):
        test_bulk.N = N  # the mixin's helpers count this many
        super().setUp()

    def tearDown(self):
        test_bulk.N = 200
        super().tearDown()

    def test_restarts_during_bulk_publish(self):
        before = self.entries()
        self.assertEqual(len(before), N)
        self.assertTrue(all(v == [] for v in before.values()))
        # whenever the run has written more since the last restart (the first after its first
        # write: a server down before the run starts is exit 69, not a fault); 2,000
        # certificates are two chunks, so some restarts hit the second's searches
        r, points = self.run_with_restarts(lambda: self.bulk(self.certdir, jobs=2), RESTARTS)
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


class OUFaults(RestartsWhileJournalling):
    """The slapd, an OU of contacts (load) and a journal per test."""
    ou_name = None

    @classmethod
    def setUpClass(cls):
        cls.d = smptest.Directory("slapd")
        cls.pw = cls.d.pwfile()

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.pw)

    def setUp(self):
        self.ou = self.d.make_ou(self.ou_name)
        self.addCleanup(self.d.delete_tree, self.ou)
        self.tmp = tempfile.mkdtemp(prefix="smp-faults-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        self.journal = os.path.join(self.tmp, "journal.ldif")
        self.d.ldapmodify("\n".join(self.contacts()))

    def all_certs(self):
        found = self.d.search(self.ou, scope="one", filt="(objectClass=contact)",
                              attrs=["userCertificate", "userCertificate;binary"])
        return {dn.lower(): [v for k, vals in e.items() if k.startswith("usercertificate")
                             for v in vals] for dn, e in found.items()}




class SlapdPruneFaults(OUFaults, unittest.TestCase):
    """prune survives slapd restarts mid-run: reads and writes in flight are lost with the
    connection, prune reconnects with backoff, settles the writes whose answer was lost and
    goes on."""
    ou_name = "smpprune-faults"

    def contacts(self):
        for i in range(PRUNE_N):
            certs = ["carol-sanonly.pem"] if i % 10 == 3 else ["demo-expired.pem",
                                                              "contacts/fay.pem"]
            yield self.d.contact_ldif(self.ou, "Pru%04d" % i, mail="fay@partner.example",
                                      certs=[der_of(c) for c in certs])

    def prune(self):
        # --jobs 4: groups of 128 entries, so the run journals a group five times over
        args = ["-H", self.d.uri, "-D", self.d.admin_dn, "-y", self.pw, "-b", self.ou,
                "--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem"),
                "--journal", self.journal, "--jobs", "4", "-v", "prune", "--format", "json"]
        return smptest.run(args, timeout=900)

    def test_restarts_during_prune(self):
        before = self.all_certs()
        self.assertEqual(len(before), PRUNE_N)
        r, points = self.run_with_restarts(self.prune)
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


REMOVE_N = 400


class SlapdRemoveFaults(OUFaults, unittest.TestCase):
    """A remove of many entries (by address and by DN) survives slapd restarts: it reconnects,
    settles the writes whose answer was lost, and the journal undoes exactly what was done."""
    ou_name = "smprm-faults"

    def contacts(self):
        for i in range(REMOVE_N):
            yield self.d.contact_ldif(self.ou, "Rm%04d" % i, mail="rm%04d@partner.example" % i,
                                      certs=[der_of("alice-old-expired.pem"), der_of("alice.pem")])

    def test_restarts_during_remove(self):
        before = self.all_certs()
        self.assertEqual(len(before), REMOVE_N)
        targets = [("cn=Rm%04d,%s" % (i, self.ou)) if i % 2 else "rm%04d@partner.example" % i
                   for i in range(REMOVE_N)]
        args = ["-H", self.d.uri, "-D", self.d.admin_dn, "-y", self.pw, "-b", self.ou,
                "--journal", self.journal, "-v", "--format", "json", "remove",
                "--expired"] + targets
        r, points = self.run_with_restarts(lambda: smptest.run(args, timeout=900))
        # 400 entries are one group (one journal append): the restart hits its writes
        self.assertGreaterEqual(len(points), 1, "slapd never restarted: %r" % r)
        self.assertIn("reconnected to", r.err)
        recs = r.json()
        self.assertEqual(len(recs), REMOVE_N, r)
        self.assertEqual({(x["action"], x["sha256"]) for x in recs},
                         {("removed", hashlib.sha256(der_of("alice-old-expired.pem")).hexdigest())},
                         r)
        self.assertEqual(r.rc, 0, r)
        # in the order given, each entry once
        self.assertEqual([x["dn"].lower() for x in recs],
                         [("cn=rm%04d,%s" % (i, self.ou)).lower() for i in range(REMOVE_N)])
        after = self.all_certs()
        for dn in before:
            self.assertEqual(after[dn], [der_of("alice.pem")], dn)
        with open(self.journal) as fp:
            records = split_ldif_records(fp.read())
        self.assertEqual(len(records), REMOVE_N)
        self.d.ldapmodify("\n".join(reversed(records)))
        self.assertEqual(self.all_certs(), before)  # values and their order


HARVEST_N = 300


class SlapdHarvestFaults(RestartsWhileJournalling, test_bulk.BulkBase, unittest.TestCase):
    """A harvest of a Maildir of signed messages survives slapd restarts the same way."""
    kind = "slapd"

    def setUp(self):
        test_bulk.N = HARVEST_N
        super().setUp()
        self.maildir = os.path.join(self.tmp, "Maildir")
        os.makedirs(os.path.join(self.maildir, "cur"))
        body = os.path.join(self.tmp, "body.txt")
        with open(body, "w") as fp:
            fp.write("my certificate\n")
        for i in range(1, HARVEST_N + 1):
            subprocess.run(["openssl", "cms", "-sign", "-in", body, "-text",
                            "-signer", os.path.join(self.data, "certs", "user%d.pem" % i),
                            "-inkey", os.path.join(self.data, "keys", "key%d.pem" % ((i - 1) % 64)),
                            "-from", "user%d@bench.example" % i, "-subject", "cert %d" % i,
                            "-out", os.path.join(self.maildir, "cur", "%05d:2," % i)],
                           check=True, capture_output=True)

    def tearDown(self):
        test_bulk.N = 200
        super().tearDown()


    def test_restarts_during_harvest(self):
        argv = self.conn() + ["--at", T0, "--ca-file", self.trust, "--journal", self.journal,
                              "-v", "--format", "json", "harvest", self.maildir]
        r, points = self.run_with_restarts(lambda: smptest.run(argv, timeout=900))
        self.assertGreaterEqual(len(points), 2, "slapd restarted only at %s: %r" % (points, r))
        self.assertIn("reconnected to", r.err)
        recs = r.json()
        self.assertEqual(len(recs), HARVEST_N, r)
        self.assertEqual({x["action"] for x in recs}, {"published"}, r.err)
        self.assertEqual(r.rc, 0, r.err)
        # in Maildir order, each message's own signer
        self.assertEqual([x["from"] for x in recs],
                         ["user%d@bench.example" % i for i in range(1, HARVEST_N + 1)])
        self.assert_all_published(HARVEST_N)
        with open(self.journal) as fp:
            records = split_ldif_records(fp.read())
        self.assertEqual(len(records), HARVEST_N)
        self.d.ldapmodify("\n".join(reversed(records)))
        self.assertTrue(all(v == [] for v in self.entries().values()))


if __name__ == "__main__":
    smptest.main()
