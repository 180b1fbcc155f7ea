"""--create-contact where the schema has Exchange's recipient attributes, and where it lacks them
(SPEC section 4; doc/smimepub.1, EXCHANGE MAIL CONTACTS).

With them: a Samba AD DC of this file's own (tests/dirs/samba.sh with SMIMEPUB_AD_EXCHANGE=1,
on 127.0.0.1, LDAP only) whose schema has Exchange's recipient attributes on mailRecipient and
whose configuration partition has an Exchange organisation's default address lists. Schema
changes are permanent, so they are made there and never on the shared Samba AD, which keeps
the schema of an AD without Exchange whatever order the test files run in.
Without them: the shared Samba AD (and slapd, which has no Exchange at all).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_publish import Base, make_cert  # noqa: E402
import smptest  # noqa: E402
from smptest import Directory, SRCDIR  # noqa: E402

# What a contact created where the schema has Exchange's recipient attributes holds, beyond
# what the server adds itself: the documented list (doc/smimepub.1, EXCHANGE MAIL CONTACTS).
EXCHANGE_CONTACT = {"objectclass", "cn", "displayname", "mail", "proxyaddresses",
                    "targetaddress", "mailnickname", "msexchrecipientdisplaytype",
                    "msexchrecipienttypedetails", "internetencoding", "mapirecipient",
                    "showinaddressbook"}
# Written by Samba itself on every object.
SERVER_ATTRS = {"distinguishedname", "instancetype", "whencreated", "whenchanged", "usncreated",
                "usnchanged", "name", "objectguid", "objectcategory", "dscorepropagationdata"}
# The recipient attributes that only an Exchange schema lets a contact hold (showInAddressBook
# is in base AD, but written only with the others).
RECIPIENT_ATTRS = ["mailNickname", "msExchRecipientDisplayType", "msExchRecipientTypeDetails",
                   "internetEncoding", "mAPIRecipient", "showInAddressBook", "legacyExchangeDN",
                   "msExchVersion"]

_EXCH = {}


def exchange_directory():
    """The Samba AD DC with Exchange's schema, started once for this file."""
    if "d" not in _EXCH:
        top = tempfile.mkdtemp(prefix="smpx.", dir="/tmp")  # short: samba's sockets
        env = dict(os.environ, SMIMEPUB_AD_IP="127.0.0.1", SMIMEPUB_AD_SERVICES="ldap",
                   SMIMEPUB_AD_EXCHANGE="1")
        script = os.path.join(SRCDIR, "tests", "dirs", "samba.sh")
        proc = subprocess.run([script, "start", top + "/ax"], env=env, capture_output=True,
                              text=True)
        _EXCH["top"] = top
        if proc.returncode != 0:
            raise RuntimeError("cannot start the Exchange-schema Samba: %s%s"
                               % (proc.stdout, proc.stderr))
        _EXCH["d"] = Directory("ad", env_file=top + "/ax/env")
    return _EXCH["d"]


def tearDownModule():
    if "top" in _EXCH:
        subprocess.run([os.path.join(SRCDIR, "tests", "dirs", "samba.sh"), "stop",
                        _EXCH["top"] + "/ax"], capture_output=True)
        shutil.rmtree(_EXCH["top"], ignore_errors=True)


def printed_add(text):
    """The attributes of the one add record of a dry run's LDIF (changetype dropped)."""
    text = re.sub(r"\n ", "", text)  # unfold LDIF continuation lines
    records = [smptest.parse_ldif(r.encode()) for r in text.split("\n\n")]
    adds = [(dn, e) for r in records for dn, e in r.items() if e.get("changetype") == [b"add"]]
    assert len(adds) == 1, text
    dn, e = adds[0]
    del e["changetype"]
    return dn, e


def schema_has(d, attr):
    """Whether d's subschema defines attr (ldapsearch of the aggregate, not smimepub)."""
    dse = d.search("", attrs=["subschemaSubentry"])
    sub = next(iter(dse.values()))["subschemasubentry"][0].decode()
    found = d.search(sub, attrs=["attributeTypes"])
    types = next(iter(found.values())).get("attributetypes", [])
    return any(re.search(rb"NAME '%s'" % attr.encode(), t, re.I) for t in types)


class ExchangeSchemaTests(Base, unittest.TestCase):
    kind = "ad"
    prefix = "ex"

    @classmethod
    def setUpClass(cls):
        cls.d = exchange_directory()
        config = "CN=Configuration," + cls.d.base
        lists = ("CN=Address Lists Container,CN=Example Org,CN=Microsoft Exchange,CN=Services,"
                 + config)
        cls.gal = "CN=Default Global Address List,CN=All Global Address Lists," + lists
        cls.contacts = "CN=All Contacts,CN=All Address Lists," + lists

    def created(self, res):
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertTrue(rec.get("created"), rec)
        return rec

    def test_contact_is_an_exchange_mail_contact(self):
        self.assertTrue(schema_has(self.d, "msExchRecipientTypeDetails"))
        path, der = make_cert("/CN=Anna Maria Same", ["anna.same@partner.example"])
        rec = self.created(self.smp("publish", "--create-contact", "--ou", self.ou, path))
        dn = rec["dn"]
        self.assertEqual(dn, "CN=Anna Maria Same," + self.ou)
        self.assertIs(rec["exchange_recipient"], True)
        self.assertEqual(rec["exchange_command"], "Update-Recipient -Identity '%s'" % dn)
        self.assertIn("it is an Exchange mail contact", rec["message"])
        self.assertNotIn("not an Exchange recipient", rec["message"])
        entry = self.d.search(dn, attrs=["*"])[dn]
        self.assertEqual(set(entry) - SERVER_ATTRS - {"usercertificate"}, EXCHANGE_CONTACT)
        self.assertEqual(self.certs(dn), [der])
        self.assertEqual(entry["mailnickname"], [b"AnnaMariaSame"])
        self.assertEqual(entry["msexchrecipientdisplaytype"], [b"6"])
        self.assertEqual(entry["msexchrecipienttypedetails"], [b"64"])
        self.assertEqual(entry["internetencoding"], [b"1310720"])
        self.assertEqual(entry["mapirecipient"], [b"FALSE"])
        self.assertEqual(entry["targetaddress"], [b"SMTP:anna.same@partner.example"])
        self.assertEqual(entry["proxyaddresses"], [b"SMTP:anna.same@partner.example"])
        self.assertEqual(entry["mail"], [b"anna.same@partner.example"])
        self.assertEqual(entry["displayname"], [b"Anna Maria Same"])
        self.assertEqual(sorted(v.decode().lower() for v in entry["showinaddressbook"]),
                         sorted([self.gal.lower(), self.contacts.lower()]))
        # what only Exchange sets is left to it
        self.assertNotIn("legacyexchangedn", entry)
        # text output: the same advice
        path2, _ = make_cert("/CN=Text Partner", ["text.partner@partner.example"])
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path2, fmt="text")
        self.assertEqual(res.rc, 0, res)
        self.assertIn("Update-Recipient -Identity 'CN=Text Partner,%s'" % self.ou, res.out)

    def test_dry_run_prints_what_the_real_run_writes(self):
        path, _ = make_cert("/CN=Dry Exchange", ["dry.exchange@partner.example"])
        res = self.smp("publish", "-n", "--create-contact", "--ou", self.ou, path, fmt=None)
        self.assertEqual(res.rc, 0, res)
        self.assertIn("it would be an Exchange mail contact", res.out)
        pdn, printed = printed_add(res.out)
        js = self.one(self.smp("publish", "-n", "--create-contact", "--ou", self.ou, path))
        self.assertIs(js["exchange_recipient"], True)
        self.assertEqual(self.d.search(self.ou, scope="one", filt="(cn=*)"), {})
        rec = self.created(self.smp("publish", "--create-contact", "--ou", self.ou, path))
        self.assertEqual(pdn, rec["dn"])
        real = self.only(self.d.search(rec["dn"], attrs=["*"]))
        ocs = printed.pop("objectclass")
        self.assertTrue({v.lower() for v in ocs} <= {v.lower() for v in real.pop("objectclass")})
        self.assertEqual(printed, {k: v for k, v in real.items()
                                   if k not in SERVER_ATTRS | {"usercertificate"}})
        self.assertIn("mailnickname", printed)

    def test_alias_and_shell_line_from_an_awkward_name(self):
        # New-MailContact without -Alias: the Name, spaces removed, characters an alias cannot
        # hold turned into '?'; U+00A1..U+00FF stay. The shell line doubles every quote
        # PowerShell sees, the typographic ones too.
        name = "Zo\u00eb O\u2019Neil-Smith, Jr. (Partner)"
        path, _ = make_cert("/CN=" + name.replace(",", "\\,"), ["zoe@partner.example"])
        rec = self.created(self.smp("publish", "--create-contact", "--ou", self.ou, path))
        entry = self.only(self.d.search(rec["dn"], attrs=["mailNickname"]))
        self.assertEqual(entry["mailnickname"], ["Zo\u00ebO?Neil-Smith?Jr.?Partner?".encode()])
        self.assertIn("Zo\u00eb O\u2019\u2019Neil-Smith", rec["exchange_command"])


class NoExchangeTests(Base):
    """The shared directories: no Exchange recipient schema."""
    prefix = "nx"

    def test_no_recipient_attributes_and_the_new_mailcontact_line(self):
        # the precondition: the shared directory has no Exchange schema (it is never extended)
        self.assertFalse(schema_has(self.d, "msExchRecipientTypeDetails"))
        path, _ = make_cert("/CN=O'Neil Partner", ["oneil@partner.example"])
        new_line = ("New-MailContact -Name 'O''Neil Partner' -ExternalEmailAddress "
                    "'SMTP:oneil@partner.example' -OrganizationalUnit '%s'" % self.ou)
        dry = self.smp("publish", "-n", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(dry.rc, 0, dry)
        text = self.smp("publish", "-n", "--create-contact", "--ou", self.ou, path, fmt="text")
        self.assertEqual(text.rc, 0, text)
        rec = self.one(dry)
        if self.kind == "ad":
            self.assertIs(rec["exchange_recipient"], False)
            self.assertEqual(rec["exchange_command"], new_line)
            self.assertIn("it would not be an Exchange recipient", rec["message"])
            self.assertIn(new_line, text.out)
        else:
            self.assertNotIn("exchange_recipient", rec)
            self.assertNotIn("exchange_command", rec)
            self.assertNotIn("Exchange", text.out)
        _, printed = printed_add(rec["ldif"])
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        found = self.d.search(rec["dn"], attrs=RECIPIENT_ATTRS)
        self.assertEqual(self.only(found), {})
        for a in RECIPIENT_ATTRS:
            self.assertNotIn(a.lower(), printed)
        if self.kind == "ad":
            self.assertIs(rec["exchange_recipient"], False)
            self.assertEqual(rec["exchange_command"],
                             "Enable-MailContact -Identity 'CN=O''Neil Partner,%s' "
                             "-ExternalEmailAddress 'SMTP:oneil@partner.example'" % self.ou)
            self.assertIn("not an Exchange recipient yet", rec["message"])
        else:
            self.assertNotIn("exchange_command", rec)


class NoExchangeSlapd(NoExchangeTests, unittest.TestCase):
    kind = "slapd"


class NoExchangeAD(NoExchangeTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
