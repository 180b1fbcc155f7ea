"""Integration tests for bulk `smimepub publish` (many files, a directory, --files-from) against
the real slapd and Samba AD: one result per certificate, going on past failures, reruns that
report `unchanged`, and a run killed mid-way that a rerun completes (SPEC sections 4, 5).

Certificates come from bench/gen.c (built once per run with cc): 200 of them take milliseconds.
"""
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from smptest import T0, pki  # noqa: E402
from test_publish import Base, split_ldif_records  # noqa: E402

N = 200
_GEN = {}


def gen_certs(n):
    """Builds bench/gen.c once and makes n certificates (+10 without contacts); returns the dir."""
    if n in _GEN:
        return _GEN[n]
    work = tempfile.mkdtemp(prefix="smp-gen-")
    exe = os.path.join(work, "gen")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "openssl"], check=True,
                           capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(smptest.SRCDIR, "bench", "gen.c")]
                   + flags + ["-lpthread"], check=True, capture_output=True)
    out = os.path.join(work, "data")
    subprocess.run([exe, "-n", str(n + 10), "-o", out], check=True, capture_output=True)
    with open(os.path.join(work, "trust.pem"), "wb") as fp:
        for f in (os.path.join(out, "root.pem"), pki("root.pem")):
            with open(f, "rb") as src:
                fp.write(src.read())
    _GEN[n] = out
    return out


_DER = {}


def der_of_pem(path):
    """DER bytes of a one-certificate PEM file (in-process: thousands are compared)."""
    if path not in _DER:
        with open(path) as fp:
            _DER[path] = ssl.PEM_cert_to_DER_cert(fp.read())
    return _DER[path]


class BulkBase(Base):
    prefix = "b"

    def setUp(self):
        super().setUp()
        self.data = gen_certs(N)
        self.trust = os.path.join(os.path.dirname(self.data), "trust.pem")
        self.certdir = os.path.join(self.tmp, "certs")
        os.mkdir(self.certdir)
        for i in range(1, N + 1):
            shutil.copy(os.path.join(self.data, "certs", "user%d.pem" % i), self.certdir)
        self.load_contacts(N)

    def load_contacts(self, n):
        """The generator's first n contacts, moved into this test's OU."""
        recs = []
        for i in range(1, n + 1):
            oc = (["objectClass: contact"] if self.d.kind == "slapd" else
                  ["objectClass: top", "objectClass: person", "objectClass: organizationalPerson",
                   "objectClass: contact"])
            recs.append("\n".join(["dn: cn=user%d,%s" % (i, self.ou), "changetype: add"] + oc +
                                  ["cn: user%d" % i, "displayName: User %d" % i,
                                   "mail: user%d@bench.example" % i,
                                   "proxyAddresses: SMTP:user%d@bench.example" % i]))
        self.d.ldapmodify("\n\n".join(recs) + "\n")

    def bulk(self, *args, jobs=8):
        argv = self.conn() + ["--at", T0, "--ca-file", self.trust, "--untrusted",
                              pki("intermediate.pem"), "--journal", self.journal,
                              "--format", "json", "--jobs", str(jobs), "publish"] + list(args)
        return smptest.run(argv, timeout=900)

    def entries(self):
        """{dn_lower: [cert DER values]} for every contact of the OU, one search."""
        found = self.d.search(self.ou, scope="sub", filt="(objectClass=contact)",
                              attrs=["userCertificate", "userCertificate;binary", "mail"])
        out = {}
        for dn, attrs in found.items():
            vals = []
            for k, v in attrs.items():
                if k.split(";")[0] == "usercertificate":
                    vals.extend(v)
            out[dn.lower()] = vals
        return out

    def expected(self, i):
        return der_of_pem(os.path.join(self.data, "certs", "user%d.pem" % i))

    def assert_all_published(self, n=N):
        ent = self.entries()
        for i in range(1, n + 1):
            dn = ("cn=user%d,%s" % (i, self.ou)).lower()
            self.assertEqual(ent.get(dn), [self.expected(i)], dn)

    def undo_journal(self, journal):
        """Applies the journal newest first with ldapmodify -c; returns the process."""
        with open(journal) as fp:
            records = split_ldif_records(fp.read())
        return self.d.ldapmodify("\n".join(reversed(records)), check=False, extra=["-c"])



class BulkTests(BulkBase):
    """The tests, run for each directory."""

    def test_directory_publishes_every_certificate_then_rerun_unchanged(self):
        r = self.bulk(self.certdir)
        self.assertEqual(r.rc, 0, r)
        recs = r.json()
        self.assertEqual(len(recs), N, r)
        self.assertEqual({x["action"] for x in recs}, {"published"}, r)
        self.assertEqual(len({x["file"] for x in recs}), N)
        self.assert_all_published()
        r = self.bulk(self.certdir)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([x["action"] for x in r.json()], ["unchanged"] * N, r)
        # the journal undoes exactly the first run
        with open(self.journal) as fp:
            self.assertEqual(len(split_ldif_records(fp.read())), N)
        p = self.undo_journal(self.journal)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(all(v == [] for v in self.entries().values()))

    def test_failures_do_not_stop_the_run_and_exit_1(self):
        expired_dn = self.contact("expired", mail="expired@partner.example")
        garbage = os.path.join(self.tmp, "garbage.pem")
        with open(garbage, "w") as fp:
            fp.write("not a certificate\n")
        lst = os.path.join(self.tmp, "list")
        names = [os.path.join(self.certdir, "user%d.pem" % i) for i in range(1, N + 1)]
        names[10:10] = [os.path.join(self.tmp, "missing.pem"), pki("expired.pem"),
                        os.path.join(self.data, "certs", "user%d.pem" % (N + 1)), garbage]
        with open(lst, "w") as fp:
            fp.write("\n".join(names) + "\n")
        # one certificate's refusal or failure: exit 1
        short = os.path.join(self.tmp, "short")
        with open(short, "w") as fp:
            fp.write("\n".join(n for n in names if n not in (names[10], garbage)) + "\n")
        r = self.bulk("--files-from", short)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(sum(1 for x in r.json() if x["action"] == "published"), N)
        # an unreadable (65) or missing (66) input outranks that (SPEC section 5)
        r = self.bulk("--files-from", lst)
        self.assertEqual(r.rc, 66, r)
        recs = r.json()
        self.assertEqual(len(recs), N + 4, r)
        by_file = {x["file"]: x for x in recs}
        self.assertEqual(by_file[names[10]]["reason"], "file_not_found")
        self.assertEqual(by_file[names[11]]["action"], "skipped")
        self.assertEqual(by_file[names[11]]["reason"], "critical_problem")
        self.assertEqual(by_file[names[12]]["reason"], "not_found")
        self.assertEqual(by_file[names[13]]["action"], "failed")
        self.assertEqual(sum(1 for x in recs if x["action"] == "unchanged"), N)
        self.assert_all_published()
        self.assertEqual(self.certs(expired_dn), [])
        # records come in input order
        self.assertEqual([x["file"] for x in recs], names)

    def test_refused_writes_leave_no_effective_undo_record(self):
        argv = self.conn("reader") + ["--at", T0, "--ca-file", self.trust, "--journal",
                                      self.journal, "--format", "json", "publish", self.certdir]
        r = smptest.run(argv)
        self.assertEqual(r.rc, 77, r)
        recs = r.json()
        self.assertEqual(len(recs), N)
        self.assertEqual({x["reason"] for x in recs}, {"insufficient_access"}, r)
        self.assertTrue(all(v == [] for v in self.entries().values()))
        # the batch's records were on disk before the writes; each refused one is voided in
        # place (commented out), so ldapmodify finds nothing to apply
        with open(self.journal) as fp:
            text = fp.read()
        self.assertEqual(split_ldif_records(text), [])
        self.assertIn("#n:", text)

    def test_killed_run_then_rerun_completes(self):
        argv = [smptest.BIN] + self.conn() + [
            "--at", T0, "--ca-file", self.trust, "--journal", self.journal, "--format", "json",
            "--jobs", "1", "publish", self.certdir]
        env = dict(os.environ, LDAPNOINIT="1")
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                with open(self.journal) as fp:
                    if any(line.startswith("dn:") for line in fp):
                        break
            except FileNotFoundError:
                pass
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.assertEqual(proc.returncode, -9, "the run ended before it could be interrupted")
        done = sum(1 for v in self.entries().values() if v)
        self.assertLess(done, N)
        r = self.bulk(self.certdir)
        self.assertEqual(r.rc, 0, r)
        acts = [x["action"] for x in r.json()]
        self.assertEqual(len(acts), N)
        self.assertEqual(acts.count("unchanged"), done)
        self.assertEqual(acts.count("published"), N - done)
        self.assert_all_published()
        # undo: every change the two runs made goes; records of writes the kill cut off fail
        # as a whole under -c and change nothing
        self.undo_journal(self.journal)
        self.assertTrue(all(v == [] for v in self.entries().values()))

    def wait_records(self, proc, start, target):
        """Until the journal holds target records past byte start (or proc ended)."""
        seen, pos, tail = 0, start, b""
        deadline = time.time() + 120
        while seen < target and proc.poll() is None and time.time() < deadline:
            try:
                with open(self.journal, "rb") as fp:
                    fp.seek(pos)
                    data = fp.read()
            except FileNotFoundError:
                data = b""
            pos += len(data)
            text = tail + data
            seen += text.count(b"\ndn:")  # a record's first line (the journal opens with a
            tail = text[-3:]                # comment): 3 bytes kept cannot hold a whole one
            if not data:
                time.sleep(0.0005)

    def dump(self):
        """Every entry of the OU, all attributes (values in order), but the server's own
        change counters: what "exactly as before" is compared on."""
        volatile = {"usnchanged", "whenchanged", "dscorepropagationdata",
                    "replpropertymetadata", "modifytimestamp", "entrycsn", "modifiersname"}
        found = self.d.search(self.ou, scope="sub", filt="(objectClass=*)")
        return {dn.lower(): {k: list(v) for k, v in attrs.items() if k not in volatile}
                for dn, attrs in found.items()}

    def publish_argv(self, *args):
        return [smptest.BIN] + self.conn() + [
            "--at", T0, "--ca-file", self.trust, "--journal", self.journal, "--format", "json",
            "publish", "--replace", "--force"] + list(args)

    def test_undo_after_kills_at_random_points_gives_back_the_directory(self):
        """kill -9 a bulk publish at 10 random points (in the journal's group commits, between
        them, in the modifies; 4 on Samba), rerun it each time, then undo everything: every
        entry is exactly as before the first run."""
        import random
        rnd = random.Random(20261202)
        # a second set of certificates for the same addresses (another CA: --force publishes
        # it anyway): each rerun replaces what the one before put there
        gen = os.path.join(os.path.dirname(self.data), "gen")
        out = os.path.join(self.tmp, "gen2")
        subprocess.run([gen, "-n", str(N), "-o", out], check=True, capture_output=True)
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        for i in range(1, N + 1):
            shutil.copy(os.path.join(out, "certs", "user%d.pem" % i), other)
        before = self.dump()
        env = dict(os.environ, LDAPNOINIT="1")
        killed = 0
        rounds = 10 if self.d.kind == "slapd" else 4  # Samba writes slower: fewer, same check
        for k in range(rounds):
            src = self.certdir if k % 2 == 0 else other
            # the kill point is set by the run's progress, not by a clock (a fast machine
            # finishes 200 entries before any fixed delay): after a random number of this
            # round's journal records, plus up to 3 ms, so it lands in a group commit,
            # between two, or in the modifies
            start = os.path.getsize(self.journal) if os.path.exists(self.journal) else 0
            target = rnd.randint(0, N - 1)
            extra = rnd.uniform(0, 0.003)
            proc = subprocess.Popen(self.publish_argv(src), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=env)
            self.wait_records(proc, start, target)
            time.sleep(extra)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += proc.returncode == -9
            r = smptest.run(self.publish_argv(src)[1:], timeout=900)
            self.assertEqual(r.rc, 0, "round %d: %r" % (k, r))
        self.assertGreaterEqual(killed, rounds // 2, "most runs should have been killed mid-way")
        listed = smptest.run(self.conn() + ["--journal", self.journal, "--format", "json",
                                            "undo", "--list"])
        self.assertEqual(listed.rc, 0, listed)
        res = smptest.run(self.conn() + ["--journal", self.journal, "--format", "json",
                                         "undo", "--since", "2000-01-01"], timeout=900)
        acts = [x["action"] for x in res.json()]
        self.assertEqual(res.rc, 0, "%r\n%s" % (res, sorted(set(acts))))
        self.assertNotIn("skipped", acts)
        self.assertEqual(self.dump(), before)

    def test_full_disk_refuses_the_change_and_keeps_the_journal_whole(self):
        """The journal on a file system that fills up mid-run (a small tmpfs where this
        machine lets us mount one, else a file size limit): the changes whose records do not
        fit are refused, the journal stays well-formed, and undo gives back the directory."""
        before = self.dump()
        jdir = os.path.join(self.tmp, "small")
        os.mkdir(jdir)
        journal = os.path.join(jdir, "journal.ldif")
        # --jobs 1: groups of 64 records (one write each); room for about one and a half
        import base64
        rec = len(base64.b64encode(self.expected(1))) + 700
        size = (rec * 96 // 4096 + 1) * 4096
        argv = self.publish_argv("--jobs", "1", self.certdir)
        argv[argv.index(self.journal)] = journal
        # can this machine mount a tmpfs in a private mount namespace? (try it once)
        mounted = subprocess.run(["unshare", "-m", "sh", "-c",
                                  'mount -t tmpfs -o size=4k tmpfs "$1"', "sh", jdir],
                                 capture_output=True).returncode == 0
        if mounted:
            # a private mount namespace: the tmpfs is seen by this run only
            # the tmpfs goes with the namespace: the journal is copied out after the run
            script = ('mount -t tmpfs -o size=%d tmpfs "$1" && shift && "$@"; rc=$?; '
                      'cp "$J" "$SAVE"; exit $rc' % size)
            res = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", jdir] + argv,
                                 capture_output=True, text=True, timeout=900,
                                 env=dict(os.environ, LDAPNOINIT="1", J=journal,
                                          SAVE=os.path.join(self.tmp, "saved.ldif")))
        if not mounted:
            import resource

            def limit():
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            res = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                                 env=dict(os.environ, LDAPNOINIT="1"), preexec_fn=limit)
        recs = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
        acts = [x["action"] for x in recs]
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("published", acts)
        self.assertIn("failed", acts)
        self.assertEqual(acts.count("published") + acts.count("failed"), N)
        failed = [x for x in recs if x["action"] == "failed"]
        self.assertTrue(all("journal" in x["message"] for x in failed), failed[:2])
        ok = {x["dn"].lower() for x in recs if x["action"] == "published"}
        # what was refused is untouched; what was published has its record
        for dn, vals in self.entries().items():
            self.assertEqual(bool(vals), dn in ok, dn)
        if mounted:
            journal = os.path.join(self.tmp, "saved.ldif")
        with open(journal) as fp:
            text = fp.read()
        self.assertTrue(text.endswith("\n\n"), text[-200:])
        listed = smptest.run(self.conn() + ["--journal", journal, "--format", "json",
                                            "undo", "--list"]).json()
        self.assertEqual(sorted(set(x["action"] for x in listed)), ["record"])
        self.assertEqual(len(listed), len(ok))
        res = smptest.run(self.conn() + ["--journal", journal, "--format", "json", "undo",
                                         "--since", "2000-01-01"], timeout=900)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.dump(), before)

    def test_best_wins_across_chunks(self):
        """Last year's and this year's file for one address more than a chunk (1,000
        certificates) apart, in either order: the run ends with the better one alone on the
        entry, and the other input says it lost to it."""
        alice = self.contact("Alice", mail="alice@partner.example")
        filler = [os.path.join(self.certdir, "user%d.pem" % (i % N + 1)) for i in range(1001)]
        attr = "userCertificate;binary" if self.d.kind == "slapd" else "userCertificate"
        for first, last, want in (("alice-new.pem", "alice.pem", "superseded"),
                                  ("alice.pem", "alice-new.pem", "replaced")):
            self.d.ldapmodify("dn: %s\nchangetype: modify\ndelete: %s\n-\n" % (alice, attr),
                              check=False)
            lst = os.path.join(self.tmp, "list-" + first)
            with open(lst, "w") as fp:
                fp.write("\n".join([pki(first)] + filler + [pki(last)]) + "\n")
            r = self.bulk("--files-from", lst)
            self.assertEqual(r.rc, 0, r)
            recs = r.json()
            self.assertEqual(len(recs), 1003)
            self.assertEqual(recs[0]["action"], "published", recs[0])
            self.assertEqual(recs[-1]["action"], want, recs[-1])
            if want == "superseded":
                self.assertIn(pki(first), recs[-1]["message"])
            self.assertEqual(self.certs(alice), [smptest.der_of("alice-new.pem")])

    def mixed_inputs(self):
        """A --files-from list for the analysis workers' path: more inputs than publish
        analyses in-process (64), with every kind of outcome in between (SPEC section 3, 4)."""
        garbage = os.path.join(self.tmp, "garbage.pem")
        with open(garbage, "w") as fp:
            fp.write("not a certificate\n")
        names = [os.path.join(self.certdir, "user%d.pem" % i) for i in range(1, N + 1)]
        extra = [
            os.path.join(self.tmp, "missing.pem"),  # 66
            garbage,  # 65
            pki("mixed.pem"),  # two leaves: alice and bob
            pki("expired.pem"),  # critical: refused without --force
            pki("untrusted.pem"),  # critical (missing_intermediate): refused
            pki("alice-new.pem"),  # alice again, another certificate: already_has_certificate
            names[4],  # the same certificate twice: unchanged
            os.path.join(self.data, "certs", "user%d.pem" % (N + 1)),  # no entry: a contact
            pki("noaddr.pem"),  # no address, subject no DN: not_found
        ]
        # spread over the run, some in the first job of 64 and across the first chunk's end
        for k, name in enumerate(extra):
            names.insert(3 + k * 23, name)
        lst = os.path.join(self.tmp, "list")
        with open(lst, "w") as fp:
            fp.write("\n".join(names) + "\n")
        return lst, names

    def state(self):
        """{dn_lower: (sorted mail values, cert DERs)} of every contact of the OU."""
        found = self.d.search(self.ou, scope="sub", filt="(objectClass=contact)",
                              attrs=["userCertificate", "userCertificate;binary", "mail"])
        out = {}
        for dn, attrs in found.items():
            vals = [v for k, vs in attrs.items() if k.split(";")[0] == "usercertificate"
                    for v in vs]
            out[dn.lower()] = (sorted(attrs.get("mail", [])), vals)
        return out

    def test_workers_give_the_in_process_results(self):
        for who in ("Alice", "Bob", "Expired", "Untrusted"):
            self.contact(who, mail="%s@partner.example" % who.lower())
        lst, names = self.mixed_inputs()
        before = self.state()
        runs = {}
        for jobs in (1, 8):  # --jobs 1: in this process; 8: worker processes (CPUs >= 2)
            journal = os.path.join(self.tmp, "journal-%d.ldif" % jobs)
            argv = self.conn() + ["--at", T0, "--ca-file", self.trust, "--untrusted",
                                  pki("intermediate.pem"), "--journal", journal, "--format",
                                  "json", "--jobs", str(jobs), "--create-contact", "--ou",
                                  self.ou, "publish", "--files-from", lst]
            r = smptest.run(argv, timeout=900)
            with open(journal) as fp:
                records = [rec for rec in split_ldif_records(fp.read())]
            # the undo records without their comments (they hold the time of the run)
            ldif = ["\n".join(line for line in rec.splitlines() if not line.startswith("#"))
                    for rec in records]
            runs[jobs] = (r, self.state(), ldif)
            # back to the start for the next run
            p = self.undo_journal(journal)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(self.state(), before)
        one, many = runs[1], runs[8]
        self.assertEqual(many[0].rc, 66, many[0])  # the missing file outranks the rest
        # the same records, but for the ids of the journal records (random, one per change)
        def without_ids(res):
            return [{k: v for k, v in x.items() if k != "record"} for x in res.json()]
        self.assertEqual(without_ids(many[0]), without_ids(one[0]))
        self.assertEqual([bool(x.get("record")) for x in many[0].json()],
                         [bool(x.get("record")) for x in one[0].json()])
        self.assertEqual(many[0].rc, one[0].rc)
        self.assertEqual(many[1], one[1])
        self.assertEqual(many[2], one[2])
        recs = many[0].json()
        # input order; the bundle gives two records
        files = [x["file"] for x in recs]
        expect = list(names)
        expect.insert(expect.index(pki("mixed.pem")), pki("mixed.pem"))
        self.assertEqual(files, expect)
        by = {}
        for x in recs:
            by.setdefault(x["file"], []).append(x)
        def outcome(name, k=0):
            return by[name][k]["action"], by[name][k]["reason"]
        self.assertEqual(outcome(os.path.join(self.tmp, "missing.pem")),
                         ("failed", "file_not_found"))
        self.assertEqual(outcome(os.path.join(self.tmp, "garbage.pem")), ("failed", "unreadable"))
        # alice.pem (in the bundle) and alice-new.pem are for one address in one run: the
        # better one is published whatever the order, the other is superseded by it
        self.assertEqual([outcome(pki("mixed.pem"), k) for k in (0, 1)],
                         [("superseded", None), ("published", None)])
        self.assertIn(pki("alice-new.pem"), by[pki("mixed.pem")][0]["message"])
        self.assertEqual(sorted(e for x in by[pki("mixed.pem")] for e in x["emails"]),
                         ["Bob@partner.example", "alice@partner.example"])
        self.assertEqual(outcome(pki("expired.pem")), ("skipped", "critical_problem"))
        self.assertIn("expired", [p["code"] for p in by[pki("expired.pem")][0]["problems"]])
        self.assertEqual(outcome(pki("untrusted.pem")), ("skipped", "critical_problem"))
        self.assertEqual(outcome(pki("alice-new.pem")), ("published", None))
        self.assertEqual([x["action"] for x in by[names[4 + 1]]], ["published", "unchanged"])
        created = by[os.path.join(self.data, "certs", "user%d.pem" % (N + 1))][0]
        self.assertEqual((created["action"], created.get("created")), ("published", True))
        # named from the certificate's CN, which the parent reads from the DER
        self.assertTrue(created["dn"].lower().startswith("cn=user %d," % (N + 1)), created)
        self.assertEqual(outcome(pki("noaddr.pem")), ("failed", "not_found"))
        self.assertEqual(sum(1 for x in recs if x["action"] == "published"), N + 3)
        # what the directory held after the run
        st = many[1]
        for i in range(1, N + 1):
            self.assertEqual(st["cn=user%d,%s" % (i, self.ou.lower())][1], [self.expected(i)])
        self.assertEqual(st["cn=alice,%s" % self.ou.lower()][1],
                         [smptest.der_of("alice-new.pem")])
        self.assertEqual(st["cn=expired,%s" % self.ou.lower()][1], [])

    def test_killed_worker_ends_the_run_with_an_error(self):
        # enough inputs that the analysis is still going when a worker is killed
        lst = os.path.join(self.tmp, "list")
        names = [os.path.join(self.certdir, "user%d.pem" % (i % N + 1)) for i in range(10 * N)]
        with open(lst, "w") as fp:
            fp.write("\n".join(names) + "\n")
        argv = [smptest.BIN] + self.conn() + [
            "--at", T0, "--ca-file", self.trust, "--journal", self.journal, "--format", "json",
            "--jobs", "8", "publish", "--files-from", lst]
        env = dict(os.environ, LDAPNOINIT="1")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, text=True)
        workers = []
        deadline = time.time() + 60
        while not workers and time.time() < deadline and proc.poll() is None:
            try:
                with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as fp:
                    workers = [int(x) for x in fp.read().split()]
            except OSError:
                break
        if not workers:
            proc.kill()
            proc.communicate()
            self.skipTest("no analysis workers (one CPU?)")
        os.kill(workers[0], signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail("the run hung after its analysis worker was killed")
        self.assertEqual(proc.returncode, 1, err)
        self.assertRegex(err, r"analysis worker %d was killed by signal 9" % workers[0])
        # what was published before is reported, in input order
        recs = [json.loads(line) for line in out.splitlines() if line.strip()]
        self.assertEqual([x["file"] for x in recs], names[:len(recs)])
        self.assertLess(len(recs), len(names), err)
        self.assertIn("inputs were not published", err)


class SlapdBulk(BulkTests, unittest.TestCase):
    kind = "slapd"


class ADBulk(BulkTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
