"""`smimepub undo` against the real slapd and Samba AD (SPEC sections 2 and 4).

Undo applies the journal's records newest first, each only where the entry is still as the
change left it, journals itself, and gives back every entry exactly (values and their order).
"""
import os
import re
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import A, Base, make_cert  # noqa: E402
import smptest  # noqa: E402
from smptest import pki  # noqa: E402

B = "bob@partner.example"


class UndoTests(Base):
    prefix = "un"

    def undo(self, *args, fmt="json"):
        return self.smp("undo", *args, fmt=fmt)

    def journal_text(self):
        with open(self.journal) as fp:
            return fp.read()

    def test_last_restores_a_replace_exactly_and_is_journalled(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "bob-ec.pem"])
        before = self.snapshot(dn)
        res = self.smp("publish", "--replace", pki("alice-new.pem"))
        self.assertEqual(res.rc, 0, res)
        record = self.one(res)["record"]
        self.assertRegex(record, r"^[0-9a-f]{16}$")
        self.assertNotEqual(self.snapshot(dn), before)
        res = self.undo("--last")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["record"], rec["dn"]), ("undone", record, dn))
        self.assertRegex(rec["record_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(self.snapshot(dn), before)
        # the undo is journalled, naming what it undid
        self.assertRegex(self.journal_text(), r"# smimepub record [0-9a-f]{16} .*command=undo "
                         r"undoes=%s by=" % record)
        # a second --last does not apply the same record again: nothing is left to undo
        res = self.undo("--last")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(res.json(), [])
        self.assertEqual(self.snapshot(dn), before)

    def test_since_undoes_a_sequence_newest_first(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem"])
        bob = self.contact("Bob", mail=B)
        before = (self.snapshot(dn), self.snapshot(bob))
        steps = [("publish", "--add", pki("alice.pem")),
                 ("publish", pki("bob-ec.pem")),
                 ("publish", "--add", pki("alice-new.pem")),
                 ("remove", A, "--expired"),
                 ("publish", "--replace", "--force", pki("alice.pem"))]
        for step in steps:
            res = self.smp(*step)
            self.assertEqual(res.rc, 0, "%s: %r" % (step, res))
        res = self.undo("--since", "2000-01-01")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([r["action"] for r in res.json()], ["undone"] * len(steps))
        self.assertEqual((self.snapshot(dn), self.snapshot(bob)), before)

    def test_remove_is_undone_with_the_values_order(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "alice-old-expired.pem",
                                                   "bob-ec.pem"])
        before = self.certs(dn)
        res = self.smp("remove", A, "--expired")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(len(self.certs(dn)), 2)
        res = self.undo("--last")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), before)

    def test_entry_changed_since_is_a_conflict_and_left_alone(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.smp("publish", "--replace", pki("alice-new.pem"))
        self.assertEqual(res.rc, 0, res)
        # someone else puts the old certificate back by hand, beside the new one
        attr = "userCertificate;binary" if self.kind == "slapd" else "userCertificate"
        self.ldapmodify_text("dn: %s\nchangetype: modify\nadd: %s\n%s:< file://%s\n-\n"
                             % (dn, attr, attr, pki("alice.der")))
        after = self.snapshot(dn)
        res = self.undo("--last")
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "conflict"))
        self.assertIn("is on it again", rec["message"])
        self.assertEqual(self.snapshot(dn), after)

    def test_change_taken_back_by_hand_is_not_applied(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem"])
        before = self.snapshot(dn)
        res = self.smp("publish", "--add", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        # someone else takes the new certificate off by hand: the entry is as before
        attr = "userCertificate;binary" if self.kind == "slapd" else "userCertificate"
        self.ldapmodify_text("dn: %s\nchangetype: modify\ndelete: %s\n%s:< file://%s\n-\n"
                             % (dn, attr, attr, pki("alice.der")))
        res = self.undo("--last")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("unchanged", "not_applied"))
        self.assertEqual(self.snapshot(dn), before)

    def test_dry_run_prints_the_ldif_and_changes_nothing(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.smp("publish", "--replace", pki("alice-new.pem"))
        self.assertEqual(res.rc, 0, res)
        after = self.snapshot(dn)
        journal = self.journal_text()
        res = self.undo("--last", "--dry-run")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "would_undo")
        self.assertIn("changetype: modify", rec["ldif"])
        text = self.undo("--last", "--dry-run", fmt="text")
        self.assertEqual(text.rc, 0, text)
        self.assertIn("dn: ", text.out)
        self.assertEqual(self.snapshot(dn), after)
        self.assertEqual(self.journal_text(), journal)
        # what the dry run printed is what ldapmodify applies
        self.ldapmodify_text(rec["ldif"])
        self.assertEqual(self.certs(dn), [smptest.der_of("alice.pem")])

    def test_created_contact_is_deleted_and_the_undo_can_be_undone(self):
        path, der = make_cert("/CN=New Partner", ["new.partner@partner.example"])
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(res.rc, 0, res)
        dn = self.one(res)["dn"]
        created = self.snapshot(dn)
        res = self.undo("--last")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([r["action"] for r in res.json()], ["undone", "undone"])
        self.assertEqual(self.d.search(self.ou, scope="one", filt="(cn=*)"), {})
        # undo the undo by its records: the contact and its certificate come back
        ids = re.findall(r"# smimepub record ([0-9a-f]{16}) .*command=undo ",
                         self.journal_text())
        self.assertEqual(len(ids), 2)
        res = self.undo("--record", ids[0], "--record", ids[1])
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der])
        again = self.snapshot(dn)
        for k in ("objectguid", "objectsid", "whencreated", "usncreated", "name"):
            created.pop(k, None)
            again.pop(k, None)
        self.assertEqual(again, created)

    def test_unknown_record_and_usage(self):
        self.contact("Alice", mail=A)
        self.assertEqual(self.smp("publish", pki("alice.pem")).rc, 0)
        res = self.undo("--record", "0000000000000000")
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res)["reason"], "no_such_record")
        self.assertEqual(self.undo().rc, 64)
        self.assertEqual(self.undo("--last", "--record", "x").rc, 64)

    def test_voided_and_torn_records_are_never_applied(self):
        dn = self.contact("Alice", mail=A)
        self.assertEqual(self.smp("publish", pki("alice.pem")).rc, 0)
        first = self.snapshot(dn)
        self.assertEqual(self.smp("publish", "--replace", pki("alice-new.pem")).rc, 0)
        # a crash cut the second record short
        text = self.journal_text()
        with open(self.journal, "w") as fp:
            fp.write(text[:len(text) - 120])
        res = self.undo("--list")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([r["action"] for r in res.json()], ["torn", "record"])
        # --last passes over the torn record to the first publish, whose value the replace
        # took away since: nothing of it is left to undo, and the entry stays as it is
        res = self.undo("--last")
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("unchanged", "not_applied"))
        self.assertEqual(self.certs(dn), [smptest.der_of("alice-new.pem")])
        self.assertNotEqual(self.snapshot(dn), first)
        # asked for by id, the torn record is refused
        torn = self.undo("--list").json()[0]["record"]
        res = self.undo("--record", torn)
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res)["reason"], "torn")
        self.assertEqual(self.certs(dn), [smptest.der_of("alice-new.pem")])

    def test_refused_write_leaves_a_voided_record(self):
        dn = self.contact("Alice", mail=A)
        self.assertEqual(self.smp("publish", pki("alice.pem")).rc, 0)
        res = self.smp("publish", "--add", pki("alice-new.pem"), who="reader")
        self.assertEqual(res.rc, 77, res)
        listed = self.undo("--list").json()
        self.assertEqual([r["action"] for r in listed], ["voided", "record"])
        res = self.undo("--record", listed[0]["record"])
        self.assertEqual(res.rc, 0, res)
        self.assertEqual((self.one(res)["action"], self.one(res)["reason"]),
                         ("unchanged", "voided"))
        self.assertEqual(self.certs(dn), [smptest.der_of("alice.pem")])

    def test_text_output_shows_record_ids(self):
        self.contact("Alice", mail=A)
        res = self.smp("publish", pki("alice.pem"), fmt="text")
        self.assertEqual(res.rc, 0, res)
        self.assertRegex(res.out, r"journal record [0-9a-f]{16}")
        res = self.undo("--list", fmt="text")
        self.assertRegex(res.out, r"journal record [0-9a-f]{16} of \d{4}-")
        self.assertIn("publish by ", res.out)


    def test_two_processes_share_one_journal(self):
        """40 rounds of two concurrent publish --replace on one contact, one journal: no
        record is lost or cut, and undo gives back the original value every time."""
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem"])
        original = self.certs(dn)
        # 40 rounds on slapd; Samba (slower per write) takes fewer for the same check
        for rnd in range(40 if self.kind == "slapd" else 10):
            results = [None, None]

            def go(i, cert):
                results[i] = self.smp("publish", "--replace", "--force", pki(cert))

            threads = [threading.Thread(target=go, args=(0, "alice.pem")),
                       threading.Thread(target=go, args=(1, "alice-new.pem"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for r in results:
                self.assertIn(r.rc, (0, 1), r)
            res = self.undo("--since", "2000-01-01")
            self.assertIn(res.rc, (0,), "round %d: %r" % (rnd, res))
            self.assertEqual(self.certs(dn), original, "round %d: %r" % (rnd, res))
        # every record whole: written, voided or undone, none cut by the other process
        listed = self.undo("--list").json()
        self.assertNotIn("torn", [r["action"] for r in listed])
        self.assertFalse([r for r in listed if r["action"] == "record" and
                          r["command"] != "undo"], listed)


class UndoSlapd(UndoTests, unittest.TestCase):
    kind = "slapd"


class UndoAD(UndoTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
