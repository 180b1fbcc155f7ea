"""Signals and lost connections (issue 12): SIGTERM and SIGINT sent to a bulk publish, prune and
remove in the middle stop them between changes: exit 143 / 130, every item reported (those not
done "skipped", reason "interrupted"), every entry in its before or after state, the journal's
records whole (those of changes not sent voided), and `smimepub undo --last` gives back the
directory exactly. A closed output pipe is no SIGPIPE death: audit still ends with its 0-3 code
(3) and a writing command stops as on a signal (141). slapd stopped for good in the middle of
audit (exit 3), prune, remove and harvest (exit 69): every item has a definite result.

The moment is picked by polling the journal (its first group on disk) or the output; the test
hook SMIMEPUB_TEST_BEFORE_MODIFY (a shell per modify) paces the writes so that a run is still
going then. The signals to publish on both directories; slapd alone for the rest (one
directory is enough for the engine's paths) and for the stop cases: Samba cannot be restarted
quickly.
"""
import hashlib
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
import test_bulk  # noqa: E402
from smptest import T0, der_of, pki  # noqa: E402
from test_faults import OUFaults, RestartsWhileJournalling  # noqa: E402

MODS = "/tmp/smp-signals-mods.%d" % os.getpid()
# a shell per modify, counting them: a run of a few seconds, and the moment to pick
PACE = {"SMIMEPUB_TEST_BEFORE_MODIFY": "echo >> " + MODS}


def modifies():
    try:
        with open(MODS) as fp:
            return sum(1 for _ in fp)
    except FileNotFoundError:
        return 0


def start(args, env=None):
    """smimepub with args in the background, as smptest.run would run it."""
    e = dict(os.environ)
    e.pop("SMIMEPUB_PASSWORD", None)
    e["XDG_STATE_HOME"] = e.get("SMIMEPUB_TEST_STATE", "/tmp")
    e["LDAPNOINIT"] = "1"
    e.update(env or {})
    return subprocess.Popen([smptest.BIN] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)


class Result(smptest.Result):
    def __repr__(self):  # hundreds of records: their start and end say enough
        lines = self.out.splitlines()
        out = "\n".join(lines[:8] + (["..."] if len(lines) > 12 else []) + lines[-4:])
        return "rc=%d\nstdout:\n%s\nstderr:\n%s" % (self.rc, out, self.err[-3000:])


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return Result(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


class Stops(RestartsWhileJournalling):
    """Helpers: wait for the journal, signal the run, check the journal and undo."""

    def setUp(self):
        super().setUp()
        if os.path.exists(MODS):
            os.unlink(MODS)
        self.addCleanup(lambda: os.path.exists(MODS) and os.unlink(MODS))

    def wait_modifies(self, proc, n=20, timeout=60):
        """Until the run has sent n modifies (the hook counts them)."""
        end = time.time() + timeout
        while modifies() < n and proc.poll() is None and time.time() < end:
            time.sleep(0.005)

    def signal_when_journalled(self, proc, sig, timeout=60):
        self.wait_modifies(proc, timeout=timeout)
        self.assertIsNone(proc.poll(), "the run ended before it could be signalled")
        proc.send_signal(sig)
        return finish(proc)

    def stop_slapd(self):
        with open(os.path.join(self.slapd_dir(), "slapd.pid")) as fp:
            os.kill(int(fp.read().strip()), signal.SIGTERM)
        self.addCleanup(self.start_slapd)

    def start_slapd(self):
        if self.slapd_up():
            return
        subprocess.run([os.path.join(smptest.SRCDIR, "tests", "dirs", "slapd.sh"), "restart",
                        self.slapd_dir()], check=True, capture_output=True)

    def slapd_up(self):
        return subprocess.run(["ldapsearch", "-x", "-H", self.d.uri, "-b", "", "-s", "base",
                               "-LLL", "1.1"], capture_output=True).returncode == 0

    def smp_args(self):
        return ["-H", self.d.uri, "-D", self.d.admin_dn, "-y", self.pw, "-b", self.ou,
                "--journal", self.journal]

    def journal_list(self):
        r = smptest.run(self.smp_args() + ["--format", "json", "undo", "--list"])
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def assert_stopped(self, r, code, items):
        """Exit code, the note on stderr, one definite item per input."""
        self.assertEqual(r.rc, code, r)
        self.assertIn("stopped by %s" % ("SIGTERM" if code == 143 else "SIGINT"), r.err)
        acts = [x for x in r.json() if "action" in x]
        if items is not None:
            self.assertEqual(len(acts), items, r)
        skipped = [x for x in acts if x["action"] == "skipped"]
        self.assertTrue(skipped, "the signal came after the last change: %r" % r)
        self.assertEqual({x["reason"] for x in skipped}, {"interrupted"}, r)
        return acts

    def assert_journal(self, done):
        """The journal: done live records, every other voided, none torn."""
        listed = self.journal_list()
        kinds = [x["action"] for x in listed]
        self.assertNotIn("torn", kinds)
        if done is not None:
            self.assertEqual(kinds.count("record"), done, listed)
        self.assertEqual(set(kinds) - {"record", "voided"}, set(), listed)
        return listed

    def undo_last(self):
        r = smptest.run(self.smp_args() + ["--format", "json", "undo", "--last"])
        self.assertEqual(r.rc, 0, r)
        return r


class SlapdPublishSignals(Stops, test_bulk.BulkBase, unittest.TestCase):
    """A bulk publish of 400 certificates, signalled once its first group is journalled."""
    kind = "slapd"
    N = 400

    def setUp(self):
        test_bulk.N = self.N
        super().setUp()
        self.pw = os.path.join(self.tmp, "pw")
        with open(self.pw, "w") as fp:
            fp.write(self.d.admin_pw)
        os.chmod(self.pw, 0o600)  # smimepub refuses a password file others may read

    def tearDown(self):
        test_bulk.N = 200
        super().tearDown()

    def publish(self, env=PACE):
        return start(self.conn() + ["--at", T0, "--ca-file", self.trust, "--journal",
                                    self.journal, "--format", "json", "--jobs", "2", "publish",
                                    self.certdir], env=env)

    def check_signal(self, sig, code):
        r = self.signal_when_journalled(self.publish(), sig)
        acts = self.assert_stopped(r, code, self.N)
        published = {x["dn"].lower() for x in acts if x["action"] == "published"}
        self.assertTrue(published, r)
        self.assertEqual({x["action"] for x in acts}, {"published", "skipped"}, r)
        # every entry before or after; those reported published are after
        after = self.entries()
        for i in range(1, self.N + 1):
            dn = ("cn=user%d,%s" % (i, self.ou)).lower()
            self.assertEqual(after[dn], [self.expected(i)] if dn in published else [], dn)
        self.assert_journal(len(published))
        r = self.undo_last()
        self.assertEqual(len(r.json()), len(published), r)
        self.assertTrue(all(v == [] for v in self.entries().values()))

    def test_sigterm_stops_between_changes(self):
        self.check_signal(signal.SIGTERM, 143)

    def test_sigint_stops_between_changes(self):
        self.check_signal(signal.SIGINT, 130)

    def test_second_sigint_ends_at_once(self):
        proc = self.publish()
        self.wait_modifies(proc)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        r = finish(proc)
        # the first asked to stop; the second, not caught, ends it (as a shell's ^C^C)
        self.assertIn(r.rc, (-signal.SIGINT, 130), r)
        listed = self.journal_list()  # whatever reached the journal reads back
        self.assertNotIn("torn", [x["action"] for x in listed])


class ADPublishSignals(SlapdPublishSignals):
    """SIGTERM against Samba AD too (its contacts load slowly: fewer, one case)."""
    kind = "ad"
    N = 300
    test_sigint_stops_between_changes = None
    test_second_sigint_ends_at_once = None


PRUNE_N = 600


class SlapdPruneStops(Stops, OUFaults, unittest.TestCase):
    """prune of 600 entries (two bad values each but every tenth): SIGTERM mid-changes, a
    closed output under audit, and slapd stopped for good mid-changes and mid-audit."""
    ou_name = "smpsig-prune"

    def contacts(self):
        for i in range(PRUNE_N):
            certs = ["carol-sanonly.pem"] if i % 10 == 3 else ["demo-expired.pem",
                                                              "contacts/fay.pem"]
            yield self.d.contact_ldif(self.ou, "Sig%04d" % i, mail="fay@partner.example",
                                      certs=[der_of(c) for c in certs])

    def prune(self, env=PACE):
        return start(self.smp_args() + ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted",
                                        pki("intermediate.pem"), "--jobs", "4", "prune",
                                        "--format", "json"], env=env)

    def audit(self, *extra):
        return start(["-H", self.d.uri, "-D", self.d.admin_dn, "-y", self.pw, "-b", self.ou,
                      "--at", T0, "--ca-file", pki("root.pem"), "--untrusted",
                      pki("intermediate.pem"), "audit", "--format", "json"] + list(extra))

    def test_sigterm_during_prune(self):
        before = self.all_certs()
        r = self.signal_when_journalled(self.prune(), signal.SIGTERM)
        acts = self.assert_stopped(r, 143, None)
        summary = [x for x in r.json() if x.get("type") == "summary"]
        self.assertEqual(len(summary), 1, r)  # printed, also when stopped
        removed = {x["dn"].lower() for x in acts if x["action"] == "removed"}
        skipped = {x["dn"].lower() for x in acts if x["action"] == "skipped"}
        self.assertEqual(summary[0]["skipped"], len(skipped), r)
        self.assertEqual(len(removed) + len(skipped), PRUNE_N - PRUNE_N // 10, r)
        after = self.all_certs()
        for dn, certs in before.items():
            if dn in removed:
                self.assertEqual(after[dn], [der_of("contacts/fay.pem")], dn)
            else:
                self.assertEqual(after[dn], certs, dn)
        self.assert_journal(len(removed))
        self.undo_last()
        self.assertEqual(self.all_certs(), before)  # values and their order

    def test_closed_output_stops_prune(self):
        # items go out after each group: the reader gone, the groups after stop
        before = self.all_certs()
        proc = self.prune()
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes away, as `smimepub prune ... | head -1`
        err = proc.stderr.read()
        proc.wait(timeout=120)
        self.assertEqual(proc.returncode, 141, err)  # 128 + SIGPIPE, said, not died of
        self.assertIn("stopped by a closed output", err)
        listed = self.assert_journal(None)
        done = [x["action"] for x in listed].count("record")
        self.assertLess(done, PRUNE_N - PRUNE_N // 10, "it went on with nowhere to report")
        self.undo_last()
        self.assertEqual(self.all_certs(), before)

    def test_audit_into_a_closed_pipe(self):
        proc = self.audit("--jobs", "1")
        proc.stdout.readline()
        proc.stdout.close()  # `smimepub audit | head -1`
        err = proc.stderr.read()
        proc.wait(timeout=120)
        self.assertEqual(proc.returncode, 3, err)  # could not complete, never -SIGPIPE
        self.assertIn("audit stopped by a closed output", err)

    def test_slapd_stopped_during_audit(self):
        proc = self.audit("--jobs", "1")
        proc.stdout.readline()  # the walk is under way; the pipe holds it there
        self.stop_slapd()
        r = finish(proc)
        self.assertEqual(r.rc, 3, r)
        self.assertRegex(r.err, r"audit could not complete after \d+ entries")
        summary = [x for x in r.json() if x.get("type") == "summary"][0]
        self.assertFalse(summary["complete"], r)
        self.assertLess(summary["entries"], PRUNE_N, r)

    def test_slapd_stopped_for_good_during_prune(self):
        before = self.all_certs()
        env = dict(PACE, SMIMEPUB_TEST_RECONNECT_SECONDS="2")
        proc = self.prune(env)
        self.wait_modifies(proc)
        self.stop_slapd()
        r = finish(proc)
        self.assertEqual(r.rc, 69, r)
        acts = [x for x in r.json() if "action" in x]
        removed = {x["dn"].lower() for x in acts if x["action"] == "removed"}
        failed = {x["dn"].lower() for x in acts if x["action"] == "failed"}
        self.assertEqual({x["reason"] for x in acts if x["action"] == "failed"},
                         {"unavailable"}, r)
        # every entry to prune has its result: nothing silently dropped
        self.assertEqual(len(removed | failed), PRUNE_N - PRUNE_N // 10, r)
        self.start_slapd()
        after = self.all_certs()
        for dn, certs in before.items():
            self.assertIn(after[dn], (certs, [der_of("contacts/fay.pem")]), dn)
            if dn in removed:
                self.assertEqual(after[dn], [der_of("contacts/fay.pem")], dn)
        listed = self.journal_list()
        self.assertNotIn("torn", [x["action"] for x in listed])
        # undo: every change that happened is undone, one whose write was lost is left alone
        smptest.run(self.smp_args() + ["--format", "json", "undo", "--last"])
        self.assertEqual(self.all_certs(), before)


REMOVE_N = 400


class SlapdRemoveStops(Stops, OUFaults, unittest.TestCase):
    """remove of 400 entries: SIGINT mid-run; SIGTERM to the undo of a remove; slapd stopped
    for good mid-run."""
    ou_name = "smpsig-rm"

    def contacts(self):
        for i in range(REMOVE_N):
            yield self.d.contact_ldif(self.ou, "Rs%04d" % i, mail="rs%04d@partner.example" % i,
                                      certs=[der_of("alice-old-expired.pem"), der_of("alice.pem")])

    def remove(self, env=PACE):
        targets = ["cn=Rs%04d,%s" % (i, self.ou) for i in range(REMOVE_N)]
        return start(self.smp_args() + ["--format", "json", "remove", "--expired"] + targets,
                     env=env)

    def test_sigint_during_remove(self):
        before = self.all_certs()
        r = self.signal_when_journalled(self.remove(), signal.SIGINT)
        acts = self.assert_stopped(r, 130, REMOVE_N)
        removed = {x["dn"].lower() for x in acts if x["action"] == "removed"}
        self.assertEqual({x["action"] for x in acts}, {"removed", "skipped"}, r)
        # in the order given, each entry once
        self.assertEqual([x["dn"].lower() for x in acts],
                         [("cn=rs%04d,%s" % (i, self.ou)).lower() for i in range(REMOVE_N)])
        after = self.all_certs()
        for dn, certs in before.items():
            self.assertEqual(after[dn], [der_of("alice.pem")] if dn in removed else certs, dn)
        self.assert_journal(len(removed))
        self.undo_last()
        self.assertEqual(self.all_certs(), before)

    def test_sigterm_during_undo(self):
        before = self.all_certs()
        targets = ["cn=Rs%04d,%s" % (i, self.ou) for i in range(REMOVE_N)]
        r = smptest.run(self.smp_args() + ["--format", "json", "remove", "--expired"] + targets)
        self.assertEqual(r.rc, 0, r)
        removed = self.all_certs()
        proc = start(self.smp_args() + ["--format", "json", "undo", "--last"], env=PACE)
        r = self.signal_when_journalled(proc, signal.SIGTERM)
        acts = self.assert_stopped(r, 143, REMOVE_N)
        undone = {x["dn"].lower() for x in acts if x["action"] == "undone"}
        self.assertEqual({x["action"] for x in acts}, {"undone", "skipped"}, r)
        after = self.all_certs()
        for dn in before:
            self.assertEqual(after[dn], before[dn] if dn in undone else removed[dn], dn)
        # the run undone in part: --last takes it up again and undoes the rest
        r = self.undo_last()
        self.assertEqual({x["action"] for x in r.json()} - {"undone", "skipped"}, set(), r)
        self.assertEqual(self.all_certs(), before)

    def test_slapd_stopped_for_good_during_remove(self):
        before = self.all_certs()
        proc = self.remove(dict(PACE, SMIMEPUB_TEST_RECONNECT_SECONDS="2"))
        self.wait_modifies(proc)
        self.stop_slapd()
        r = finish(proc)
        self.assertEqual(r.rc, 69, r)
        acts = r.json()
        self.assertEqual(len(acts), REMOVE_N, r)  # every target its result
        self.assertEqual({(x["action"], x.get("reason")) for x in acts} -
                         {("removed", None), ("failed", "unavailable")}, set(), r)
        self.assertIn(("failed", "unavailable"), {(x["action"], x.get("reason")) for x in acts})
        self.start_slapd()
        removed = {x["dn"].lower() for x in acts if x["action"] == "removed"}
        after = self.all_certs()
        for dn, certs in before.items():
            self.assertIn(after[dn], (certs, [der_of("alice.pem")]), dn)
            if dn in removed:
                self.assertEqual(after[dn], [der_of("alice.pem")], dn)
        self.assertNotIn("torn", [x["action"] for x in self.journal_list()])
        smptest.run(self.smp_args() + ["--format", "json", "undo", "--last"])
        self.assertEqual(self.all_certs(), before)


HARVEST_N = 80


class SlapdHarvestStops(Stops, test_bulk.BulkBase, unittest.TestCase):
    """harvest of a Maildir: SIGTERM in the middle (143), and slapd stopped for good in the
    middle: each message's result is definite (published, or failed "unavailable"), exit 69."""
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

    def test_sigterm_during_harvest(self):
        proc = start(self.conn() + ["--at", T0, "--ca-file", self.trust, "--journal",
                                    self.journal, "--format", "json", "harvest", self.maildir],
                     env=PACE)
        r = self.signal_when_journalled(proc, signal.SIGTERM)
        acts = self.assert_stopped(r, 143, HARVEST_N)  # every message read has its result
        self.assertEqual({x["action"] for x in acts}, {"published", "skipped"}, r)
        published = {x["dn"].lower() for x in acts if x["action"] == "published"}
        after = self.entries()
        for i in range(1, HARVEST_N + 1):
            dn = ("cn=user%d,%s" % (i, self.ou)).lower()
            self.assertEqual(after[dn], [self.expected(i)] if dn in published else [], dn)
        r = smptest.run(self.conn() + ["--journal", self.journal, "--format", "json", "undo",
                                       "--last"])
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(all(v == [] for v in self.entries().values()))

    def test_slapd_stopped_for_good_during_harvest(self):
        proc = start(self.conn() + ["--at", T0, "--ca-file", self.trust, "--journal",
                                    self.journal, "--format", "json", "harvest", self.maildir],
                     env=dict(PACE, SMIMEPUB_TEST_RECONNECT_SECONDS="2"))
        self.wait_modifies(proc)
        self.stop_slapd()
        r = finish(proc)
        self.assertEqual(r.rc, 69, r)
        recs = r.json()
        self.assertEqual(len(recs), HARVEST_N, r)  # every message its result
        self.assertEqual({(x["action"], x.get("reason")) for x in recs} -
                         {("published", None), ("failed", "unavailable")}, set(), r)
        self.assertIn("failed", {x["action"] for x in recs}, r)
        self.start_slapd()
        published = {x["dn"].lower() for x in recs if x["action"] == "published"}
        after = self.entries()
        for i in range(1, HARVEST_N + 1):
            dn = ("cn=user%d,%s" % (i, self.ou)).lower()
            self.assertIn(after[dn], ([], [self.expected(i)]), dn)
            if dn in published:
                self.assertEqual(after[dn], [self.expected(i)], dn)


if __name__ == "__main__":
    smptest.main()
