"""Integration tests for the undo journal written by publish and remove (SPEC section 4).

Applying the journal's records newest first with `ldapmodify` must give back every entry
exactly as it was (values and their order).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import A, Base, make_cert, split_ldif_records  # noqa: E402
import smptest  # noqa: E402
from smptest import pki  # noqa: E402


class JournalTests(Base):
    prefix = "jr"

    def undo_all(self):
        """Applies the journal's records newest first, one ldapmodify each."""
        with open(self.journal) as fp:
            records = split_ldif_records(fp.read())
        for rec in reversed(records):
            self.ldapmodify_text(rec)
        return records

    def test_replace_undone_exactly(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "bob-ec.pem"])
        before = self.snapshot(dn)
        res = self.smp("publish", "--replace", pki("alice-new.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertNotEqual(self.snapshot(dn), before)
        with open(self.journal) as fp:
            text = fp.read()
        self.assertIn("# smimepub", text)
        self.assertIn("undo of change to", text)
        self.ldapmodify_text(text)  # one record: ldapmodify -f journal
        self.assertEqual(self.snapshot(dn), before)

    def test_reorder_undone_exactly(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "bob-ec.pem"])
        before = self.snapshot(dn)
        res = self.smp("publish", "--add", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn)[0], smptest.der_of("alice.pem"))
        self.undo_all()
        self.assertEqual(self.snapshot(dn), before)

    def test_sequence_undone_newest_first(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem"])
        bob = self.contact("Bob", mail="bob@partner.example")
        before = (self.snapshot(dn), self.snapshot(bob))
        steps = [("publish", "--add", pki("alice.pem")),
                 ("publish", pki("bob-ec.pem")),
                 ("publish", "--add", pki("alice-new.pem")),
                 ("remove", A, "--expired"),
                 # alice-new.pem stays valid longer: only --force lets it go (downgrade)
                 ("publish", "--replace", "--force", pki("alice.pem"))]
        for step in steps:
            res = self.smp(*step)
            self.assertEqual(res.rc, 0, "%s: %r" % (step, res))
        records = self.undo_all()
        self.assertEqual(len(records), len(steps))
        self.assertEqual((self.snapshot(dn), self.snapshot(bob)), before)

    def test_created_contact_undone(self):
        path, der = make_cert("/CN=New Partner", ["new.partner@partner.example"])
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(res.rc, 0, res)
        dn = self.one(res)["dn"]
        self.assertEqual(self.certs(dn), [der])
        records = self.undo_all()
        self.assertEqual(len(records), 2)
        self.assertIn("changetype: delete", records[0])
        self.assertEqual(self.d.search(self.ou, scope="one", filt="(cn=*)"), {})

    def test_default_location(self):
        dn = self.contact("Alice", mail=A)
        state = os.path.join(self.tmp, "state")
        res = self.smp("publish", pki("alice.pem"), journal=False,
                       env={"XDG_STATE_HOME": state})
        self.assertEqual(res.rc, 0, res)
        path = os.path.join(state, "smimepub", "journal.ldif")
        with open(path) as fp:
            text = fp.read()
        self.assertIn("changetype: modify", text)
        self.assertEqual(os.stat(path).st_mode & 0o077, 0)
        self.journal = path
        self.undo_all()
        self.assertEqual(self.certs(dn), [])

    def test_nothing_written_nothing_journalled(self):
        self.contact("Alice", mail=A, certs=["alice.pem"])
        for args in [("publish", pki("alice.pem")), ("publish", pki("alice-new.pem")),
                     ("publish", "-n", "--replace", pki("alice-new.pem")),
                     ("remove", "-n", A, "--all")]:
            self.smp(*args)
        self.assertFalse(os.path.exists(self.journal))

    def test_refused_write_leaves_no_undo_record(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem"])
        before = self.snapshot(dn)
        self.assertEqual(self.smp("publish", "--add", pki("alice.pem")).rc, 0)
        res = self.smp("publish", "--add", pki("alice-new.pem"), who="reader")
        self.assertEqual(res.rc, 77, res)
        records = self.undo_all()
        self.assertEqual(len(records), 1)
        self.assertEqual(self.snapshot(dn), before)

    def test_unwritable_journal_writes_nothing(self):
        dn = self.contact("Alice", mail=A)
        blocker = os.path.join(self.tmp, "file")
        with open(blocker, "w") as fp:
            fp.write("x")
        self.journal = os.path.join(blocker, "journal.ldif")  # parent is a file
        res = self.smp("publish", pki("alice.pem"))
        self.assertEqual(res.rc, 1, res)
        self.assertEqual(self.one(res)["action"], "failed")
        self.assertEqual(self.certs(dn), [])


class JournalSlapd(JournalTests, unittest.TestCase):
    kind = "slapd"


class JournalAD(JournalTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
