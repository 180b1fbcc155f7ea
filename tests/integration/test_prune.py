"""smimepub prune against the real slapd and Samba AD: dry run, exact removals, --select,
journal undo, access refused, unreachable. The same test class runs once per directory kind.
"""
import base64
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import smptest  # noqa: E402
from smptest import Directory, der_of, pki, run, T0  # noqa: E402

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]


class PruneCases:
    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = Directory(cls.kind)
        cls.pw = cls.d.pwfile()
        cls.ous = []
        cls.tmp = tempfile.mkdtemp(prefix="smp-prune-")

    @classmethod
    def tearDownClass(cls):
        for ou in cls.ous:
            cls.d.delete_tree(ou)
        os.unlink(cls.pw)
        subprocess.run(["rm", "-rf", cls.tmp])

    def ou(self, name):
        dn = self.d.make_ou("smpprune-" + name)
        self.ous.append(dn)
        return dn

    def journal(self, name):
        path = os.path.join(self.tmp, name + ".ldif")
        if os.path.exists(path):
            os.unlink(path)
        return path

    def prune(self, base, *extra, binddn=None, password=None, fmt="json"):
        pw = self.pw if binddn is None else self.d.pwfile(password)
        args = ["-H", self.d.uri, "-D", binddn or self.d.admin_dn, "-y", pw, "-b", base] + TRUST
        return run(args + ["prune", "--format", fmt] + list(extra))

    def contact(self, parent, cn, mail, certs):
        return self.d.add_contact(parent, cn, mail=mail, certs=[der_of(c) for c in certs])

    def fixture(self, name):
        """An OU with Alice (expired, superseded, good, Bob's) and a clean Carol."""
        ou = self.ou(name)
        alice = self.contact(ou, "Alice", "alice@partner.example",
                             ["alice-old-expired.pem", "alice.pem", "bob-ec.pem",
                              "alice-new.pem"])
        carol = self.contact(ou, "Carol", "carol@partner.example", ["carol-sanonly.pem"])
        return ou, alice, carol

    def actions(self, res):
        return [r for r in res.json() if "action" in r]

    # ---- tests -----------------------------------------------------------------------------

    def test_dry_run_changes_nothing_and_prints_ldif(self):
        ou, alice, carol = self.fixture("dry")
        before = self.d.certs(alice)
        res = self.prune(ou, "--dry-run", fmt="text")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.d.certs(alice), before)
        self.assertIn("changetype: modify", res.out)
        self.assertNotIn(carol.lower(), res.out.lower().replace("# ", ""))
        # the LDIF it printed is what prune would do: ldapmodify accepts and applies it
        self.d.ldapmodify(res.out)
        self.assertEqual(self.d.certs(alice), [der_of("bob-ec.pem"), der_of("alice-new.pem")])

    def test_dry_run_json_records(self):
        ou, alice, _ = self.fixture("dryjson")
        before = self.d.certs(alice)
        res = self.prune(ou, "-n")
        self.assertEqual(res.rc, 0, res)
        acts = self.actions(res)
        self.assertEqual([(a["action"], a["reason"]) for a in acts],
                         [("would_remove", "expired"), ("would_remove", "superseded")])
        self.assertIn("ldif", acts[0])
        self.assertEqual(self.d.certs(alice), before)
        journal = self.journal("dryjson")
        self.prune(ou, "-n", "--journal", journal)
        self.assertFalse(os.path.exists(journal))

    def test_prune_removes_only_bad_values(self):
        ou, alice, carol = self.fixture("exact")
        journal = self.journal("exact")
        res = self.prune(ou, "--journal", journal)
        self.assertEqual(res.rc, 0, res)
        acts = self.actions(res)
        self.assertEqual(sorted((a["action"], a["reason"], a["sha256"]) for a in acts), sorted([
            ("removed", "expired", der_sha("alice-old-expired.pem")),
            ("removed", "superseded", der_sha("alice.pem"))]))
        for a in acts:
            self.assertEqual(a["dn"].lower(), alice.lower())
        # the good one and the other address's certificate stay, in their order
        self.assertEqual(self.d.certs(alice), [der_of("bob-ec.pem"), der_of("alice-new.pem")])
        self.assertEqual(self.d.certs(carol), [der_of("carol-sanonly.pem")])
        # nothing left to do the second time
        res = self.prune(ou, "--journal", journal)
        self.assertEqual((res.rc, self.actions(res)), (0, []), res)

    def test_select_expired_only(self):
        ou, alice, _ = self.fixture("select")
        res = self.prune(ou, "--select", "expired", "--journal", self.journal("select"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([a["reason"] for a in self.actions(res)], ["expired"])
        self.assertEqual(self.d.certs(alice), [der_of("alice.pem"), der_of("bob-ec.pem"),
                                               der_of("alice-new.pem")])
        res = self.prune(ou, "--select", "superseded", "--journal", self.journal("select"))
        self.assertEqual([a["reason"] for a in self.actions(res)], ["superseded"])
        self.assertEqual(self.d.certs(alice), [der_of("bob-ec.pem"), der_of("alice-new.pem")])

    def test_untrusted_kept_unless_selected(self):
        ou = self.ou("untrusted")
        dn = self.contact(ou, "U", "untrusted@partner.example", ["untrusted.pem"])
        res = self.prune(ou, "--select", "expired,superseded", "--journal", self.journal("u"))
        self.assertEqual((res.rc, self.actions(res)), (0, []), res)
        # its issuer is unknown here (missing_intermediate): that is fixable, never pruned
        res = self.prune(ou, "--select", "untrusted", "--journal", self.journal("u"))
        self.assertEqual((res.rc, self.actions(res)), (0, []), res)
        # with its issuing CA at hand the chain ends at a root that is not trusted: pruned
        both = os.path.join(self.tmp, "both-intermediates.pem")
        with open(both, "w") as out:
            for name in ("intermediate.pem", "other-intermediate.pem"):
                with open(pki(name)) as fp:
                    out.write(fp.read())
        res = self.prune(ou, "--select", "untrusted", "--untrusted", both, "--journal",
                         self.journal("u"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([a["reason"] for a in self.actions(res)], ["untrusted"])
        self.assertEqual(self.d.certs(dn), [])

    def test_revoked_counts_with_untrusted_when_crl_given(self):
        ou = self.ou("revoked")
        dn = self.contact(ou, "R", "revoked@partner.example", ["revoked.pem"])
        res = self.prune(ou, "--journal", self.journal("r"))
        self.assertEqual((res.rc, self.actions(res)), (0, []), res)
        res = self.prune(ou, "--select", "expired", "--crl", pki("crls.pem"), "--journal",
                         self.journal("r"))
        self.assertEqual((res.rc, self.actions(res)), (0, []), res)
        res = self.prune(ou, "--select", "untrusted", "--crl", pki("crls.pem"), "--journal",
                         self.journal("r"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([a["reason"] for a in self.actions(res)], ["revoked"])
        self.assertEqual(self.d.certs(dn), [])

    def test_journal_undoes_prune(self):
        ou, alice, _ = self.fixture("undo")
        dn2 = self.contact(ou, "Fay", "fay@partner.example",
                           ["contacts/fay.pem", "demo-expired.pem"])
        before = {alice: self.d.certs(alice), dn2: self.d.certs(dn2)}
        journal = self.journal("undo")
        res = self.prune(ou, "--journal", journal)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(len(self.actions(res)), 3, res)
        self.assertNotEqual(self.d.certs(alice), before[alice])
        with open(journal) as fp:
            text = fp.read()
        records = [r for r in text.split("\n\n") if r.strip()]
        self.assertEqual(len(records), 2)
        for rec in reversed(records):  # newest first
            self.d.ldapmodify(rec + "\n")
        if self.kind == "slapd":
            self.assertEqual(self.d.certs(alice), before[alice])
            self.assertEqual(self.d.certs(dn2), before[dn2])
        else:
            self.assertEqual(sorted(self.d.certs(alice)), sorted(before[alice]))
            self.assertEqual(sorted(self.d.certs(dn2)), sorted(before[dn2]))

    def test_conflict_voids_the_record_of_the_change_that_did_not_happen(self):
        # a second writer deletes one bad value just before each of prune's first two modifies
        # (the group's, then the retry's): each modify is refused as a whole, and its undo
        # record must not stay undoable -- undoing it would re-add what the other writer
        # removed. Only the third, successful change keeps a live record.
        ou = self.ou("conflict")
        names = ["alice-old-expired.pem", "demo-expired.pem", "alice.pem", "alice-new.pem"]
        alice = self.contact(ou, "Alice", "alice@partner.example", names)
        hook = os.path.join(self.tmp, "hook-" + self.kind)
        os.makedirs(hook, exist_ok=True)
        for step, name in ((1, names[0]), (2, names[1])):
            with open(os.path.join(hook, "step%d.ldif" % step), "w") as fp:
                fp.write("dn: %s\nchangetype: modify\ndelete: %s\n%s:: %s\n-\n" % (
                    alice, self.d.cert_attr, self.d.cert_attr,
                    base64.b64encode(der_of(name)).decode()))
        script = os.path.join(hook, "hook.sh")
        with open(script, "w") as fp:
            fp.write('cd "%s" || exit 1\n'
                     'n=$(( $(cat counter 2>/dev/null || echo 0) + 1 )); echo $n > counter\n'
                     '[ -f step$n.ldif ] || exit 0\n'
                     'exec ldapmodify -x -H "%s" -D "%s" -w "%s" -f step$n.ldif >/dev/null\n'
                     % (hook, self.d.uri, self.d.admin_dn, self.d.admin_pw))
        journal = self.journal("conflict")
        pw = self.pw
        args = ["-H", self.d.uri, "-D", self.d.admin_dn, "-y", pw, "-b", ou] + TRUST
        env = {"SMIMEPUB_TEST_BEFORE_MODIFY": "sh " + script}
        if self.d.cacert:
            env["LDAPTLS_CACERT"] = self.d.cacert
        res = run(args + ["prune", "--format", "json", "--journal", journal], env=env)
        self.assertEqual(res.rc, 0, res)
        with open(os.path.join(hook, "counter")) as fp:
            self.assertGreaterEqual(int(fp.read()), 3, "both conflicts were forced")
        self.assertEqual(self.d.certs(alice), [der_of("alice-new.pem")])
        with open(journal) as fp:
            text = fp.read()
        live = [r for r in text.split("\n\n")
                if any(line.startswith("dn") for line in r.splitlines())]
        self.assertEqual(len(live), 1, text)
        for rec in reversed(live):
            self.d.ldapmodify(rec + "\n")
        # undo gives back prune's own removal only; the other writer's deletions stay
        self.assertEqual(sorted(self.d.certs(alice)),
                         sorted([der_of("alice.pem"), der_of("alice-new.pem")]))

    def test_reader_account_77_nothing_changed(self):
        ou, alice, _ = self.fixture("reader")
        before = self.d.certs(alice)
        binddn, password = self.d.reader
        res = self.prune(ou, "--journal", self.journal("reader"), binddn=binddn,
                         password=password)
        self.assertEqual(res.rc, 77, res)
        failed = [a for a in self.actions(res) if a["action"] == "failed"]
        self.assertEqual(len(failed), 1, res)
        self.assertEqual(failed[0]["reason"], "insufficient_access")
        self.assertEqual(self.d.certs(alice), before)

    def test_writer_account_prunes(self):
        ou, alice, _ = self.fixture("writer")
        binddn, password = self.d.writer
        res = self.prune(ou, "--journal", self.journal("writer"), binddn=binddn,
                         password=password)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.d.certs(alice), [der_of("bob-ec.pem"), der_of("alice-new.pem")])

    def test_many_entries_small_pages(self):
        ou = self.ou("pages")
        dns = [self.contact(ou, "Fay%d" % i, "fay@partner.example",
                            ["demo-expired.pem", "contacts/fay.pem"]) for i in range(7)]
        res = self.prune(ou, "--page-size", "2", "--journal", self.journal("pages"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(len(self.actions(res)), 7, res)
        for dn in dns:
            self.assertEqual(self.d.certs(dn), [der_of("contacts/fay.pem")])
        summary = [r for r in res.json() if r.get("type") == "summary"][0]
        self.assertEqual((summary["entries"], summary["removed"]), (7, 7))

    def test_groups_with_reads_and_writes_in_flight(self):
        # more entries than one group (128): every entry is read again, journalled with its
        # group and changed with several operations in flight; a clean entry stays untouched,
        # a second run finds nothing left, and the journal undoes every change
        ou = self.ou("groups")
        n = 140
        recs = []
        for i in range(n):
            certs = ["carol-sanonly.pem"] if i % 10 == 3 else ["demo-expired.pem",
                                                              "contacts/fay.pem"]
            recs.append(self.d.contact_ldif(ou, "Gus%03d" % i, mail="fay@partner.example",
                                            certs=[der_of(c) for c in certs]))
        self.d.ldapmodify("\n".join(recs))

        def all_certs():
            found = self.d.search(ou, scope="one", filt="(cn=Gus*)",
                                  attrs=["userCertificate", "userCertificate;binary"])
            return {dn.lower(): [v for k, vals in e.items() if k.startswith("usercertificate")
                                 for v in vals] for dn, e in found.items()}

        before = all_certs()
        self.assertEqual(len(before), n)
        # the walk's checks in worker processes (--jobs 2) print what one process prints
        for fmt in ("json", "csv", "text"):
            one = self.prune(ou, "--dry-run", "--jobs", "1", "--page-size", "17", fmt=fmt)
            self.assertEqual(one.rc, 0, one)
            many = self.prune(ou, "--dry-run", "--jobs", "2", "--page-size", "17", fmt=fmt)
            self.assertEqual((many.rc, many.out, many.err), (one.rc, one.out, one.err), fmt)
        self.assertEqual(all_certs(), before)
        journal = self.journal("groups")
        for jobs, want in (("5", n - n // 10), ("1", 0)):
            res = self.prune(ou, "--journal", journal, "--jobs", jobs)
            self.assertEqual(res.rc, 0, res)
            summary = [r for r in res.json() if r.get("type") == "summary"][0]
            self.assertEqual((summary["entries"], summary["removed"], summary["failed"]),
                             (n, want, 0), res)
        after = all_certs()
        for dn, certs in before.items():
            clean = certs == [der_of("carol-sanonly.pem")]
            self.assertEqual(after[dn], certs if clean else [der_of("contacts/fay.pem")], dn)
        with open(journal) as fp:
            records = [r for r in fp.read().split("\n\n") if r.strip()]
        self.assertEqual(len(records), n - n // 10)
        self.d.ldapmodify("\n\n".join(reversed(records)) + "\n")  # newest first
        undone = all_certs()
        for dn, certs in before.items():
            self.assertEqual(undone[dn] if self.kind == "slapd" else sorted(undone[dn]),
                             certs if self.kind == "slapd" else sorted(certs), dn)

    def test_referrals_from_the_domain_root(self):
        # a dry run from the directory's root: a referral that was not followed is a warning
        # on stderr, except Active Directory's own partitions, which every such search meets
        if self.kind == "slapd":
            ou = self.ou("referral")
            ref = "ou=elsewhere," + ou
            self.d.ldapmodify("dn: %s\nchangetype: add\nobjectClass: referral\n"
                              "objectClass: extensibleObject\nou: elsewhere\n"
                              "ref: ldap://127.0.0.1:9/ou=elsewhere,dc=partner,dc=test\n" % ref,
                              extra=("-M",))
            self.addCleanup(self.d.ldapmodify, "dn: %s\nchangetype: delete\n" % ref, False,
                            ("-M",))
        res = self.prune(self.d.base, "--dry-run")
        self.assertEqual(res.rc, 0, res)
        if self.kind == "slapd":
            self.assertIn("warning: the server referred part of the search to "
                          "'ldap://127.0.0.1:9/ou=elsewhere", res.err)
        else:
            self.assertNotIn("warning", res.err)
            verbose = self.prune(self.d.base, "--dry-run", "-v")
            self.assertIn("CN=Configuration", verbose.err)

    def test_unreachable_69(self):
        res = run(["-H", "ldap://127.0.0.1:1", "-b", "dc=example,dc=test"] + TRUST +
                  ["prune", "--timeout", "5"])
        self.assertEqual(res.rc, 69, res)
        self.assertIn("127.0.0.1:1", res.err)

    def test_bad_password_77(self):
        res = self.prune(self.d.base, binddn=self.d.admin_dn, password="wrong-password")
        self.assertEqual(res.rc, 77, res)


def der_sha(name):
    import hashlib
    return hashlib.sha256(der_of(name)).hexdigest()


class SlapdPrune(PruneCases, unittest.TestCase):
    kind = "slapd"


class SambaADPrune(PruneCases, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
