"""Integration tests for `smimepub publish` against the real slapd and Samba AD (SPEC sections 2, 4, 5).

Every test class is written once (a mixin) and runs for both directories. Each test works in
its own OU, which is also the search base, so tests do not see each other's contacts.
The module also holds the helpers the lookup, remove and journal tests import (Base, make_cert).
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from smptest import Directory, T0, der_of, pki, run  # noqa: E402

_DIRS = {}
_TMP = tempfile.mkdtemp(prefix="smp-itest-")


def directory(kind):
    """One Directory per kind for the whole run."""
    if kind not in _DIRS:
        _DIRS[kind] = Directory(kind)
    return _DIRS[kind]


def make_cert(subj, emails, start="20260101000000Z", end="20270101000000Z", key="ec",
              usage=None):
    """A leaf issued by the test PKI's intermediate with the given subject (openssl -subj form)
    and rfc822Name SAN addresses, valid start..end; keyUsage digitalSignature plus usage
    (default: the key's encryption usage; "nonRepudiation" makes a signing-only one). Its key
    is k.pem beside it. Returns (pem path, DER bytes)."""
    d = tempfile.mkdtemp(prefix="ca-", dir=_TMP)
    open(os.path.join(d, "index.txt"), "w").close()
    cnf = os.path.join(d, "ca.cnf")
    san = ",".join("email:" + e.replace("\\", "\\\\") for e in emails)
    with open(cnf, "w") as fp:
        fp.write("[ ca ]\ndefault_ca = c\n[ c ]\ndir = %s\ndatabase = $dir/index.txt\n"
                 "new_certs_dir = $dir\nrand_serial = yes\ncertificate = %s\nprivate_key = %s\n"
                 "default_md = sha256\npolicy = p\npreserve = yes\nemail_in_dn = no\n"
                 "unique_subject = no\ncopy_extensions = none\nstring_mask = utf8only\n"
                 "x509_extensions = ext\n[ p ]\ndomainComponent = optional\n"
                 "organizationalUnitName = optional\ncommonName = optional\n"
                 "[ ext ]\nbasicConstraints = critical,CA:FALSE\n"
                 "keyUsage = critical,digitalSignature,%s\nextendedKeyUsage = emailProtection\n%s\n"
                 % (d, pki("intermediate.pem"), pki("intermediate.key"),
                    usage or ("keyAgreement" if key == "ec" else "keyEncipherment"),
                    ("subjectAltName = " + san) if emails else ""))
    keyf, req, out = (os.path.join(d, n) for n in ("k.pem", "r.pem", "c.pem"))
    newkey = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec"
              else ["-newkey", "rsa:2048"])
    subprocess.run(["openssl", "req", "-new", "-nodes", "-utf8", "-keyout", keyf, "-out", req,
                    "-subj", subj] + newkey, check=True, capture_output=True)
    proc = subprocess.run(["openssl", "ca", "-batch", "-config", cnf, "-in", req, "-out", out,
                           "-startdate", start, "-enddate", end, "-notext"], capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl ca failed: %s" % proc.stderr.decode())
    der = subprocess.run(["openssl", "x509", "-in", out, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return out, der


def split_ldif_records(text):
    """The change records of an LDIF text (comments kept with the record they precede)."""
    return [r.strip("\n") + "\n" for r in re.split(r"\n\s*\n", text) if
            any(line.startswith("dn:") for line in r.splitlines())]


class Base:
    """Mixin: set `kind` ('slapd' or 'ad') in the concrete TestCase."""

    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = directory(cls.kind)

    def setUp(self):
        name = re.sub(r"[^a-z0-9]", "", self._testMethodName.lower().replace("test_", ""))[:40]
        self.ou = self.d.make_ou(("%s-%s" % (self.prefix, name))[:60])
        self.tmp = tempfile.mkdtemp(prefix="t-", dir=_TMP)
        self.journal = os.path.join(self.tmp, "journal.ldif")

    prefix = "t"

    def tearDown(self):
        self.d.delete_tree(self.ou)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- running smimepub -----------------------------------------------------------------

    def conn(self, who="admin", uri=None, base=None):
        if who == "admin":
            dn, pw = self.d.admin_dn, self.d.admin_pw
        elif who == "writer":
            dn, pw = self.d.writer
        elif who == "reader":
            dn, pw = self.d.reader
        else:
            dn, pw = who
        pwfile = os.path.join(self.tmp, "pw-%d" % len(os.listdir(self.tmp)))
        with open(pwfile, "w") as fp:
            fp.write(pw)
        os.chmod(pwfile, 0o600)  # smimepub refuses a password file others may read
        return ["-H", uri or self.d.uri, "-b", base or self.ou, "-D", dn, "-y", pwfile]

    def smp(self, *args, who="admin", uri=None, base=None, fmt="json", env=None, trust=True,
            journal=True):
        argv = self.conn(who, uri, base)
        if trust:
            argv += ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted",
                     pki("intermediate.pem")]
        if journal:
            argv += ["--journal", self.journal]
        if fmt:
            argv += ["--format", fmt]
        return run(argv + list(args), env=env)

    # ---- the directory side ---------------------------------------------------------------

    def contact(self, cn, mail=None, proxies=(), certs=(), extra=""):
        return self.d.add_contact(self.ou, cn, mail=mail, proxies=proxies,
                                  certs=[der_of(c) if isinstance(c, str) else c for c in certs],
                                  extra=extra)

    def certs(self, dn):
        return self.d.certs(dn)

    # what Active Directory changes on every write by itself
    VOLATILE = {"usnchanged", "whenchanged", "dscorepropagationdata", "replpropertymetadata"}

    def snapshot(self, dn):
        """Everything ldapsearch shows of an entry (user attributes, values in order) except
        the server's own change counters, for exact comparison."""
        entry = self.d.search(dn).get(dn, {})
        return {k: list(v) for k, v in entry.items() if k not in self.VOLATILE}

    def ldapmodify_text(self, text, check=True):
        return self.d.ldapmodify(text, check=check)

    def one(self, res, **match):
        """The single JSON record of a result (optionally the one whose fields match)."""
        recs = [r for r in res.json() if all(r.get(k) == v for k, v in match.items())]
        self.assertEqual(len(recs), 1, "expected one record %s in %r" % (match, res))
        return recs[0]

    def only(self, found):
        """The attributes of the one entry a base search found (output spells DNs with
        backslash escapes, the server perhaps otherwise: look it up by the search)."""
        self.assertEqual(len(found), 1, found)
        return next(iter(found.values()))

    def codes(self, rec):
        return [p["code"] for p in rec.get("problems", [])]


A = "alice@partner.example"


class PublishTests(Base):
    prefix = "pub"

    def test_match_by_mail(self):
        dn = self.contact("Alice", mail=A)
        res = self.smp("publish", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "published")
        self.assertEqual(rec["dn"].lower(), dn.lower())
        self.assertEqual(rec["file"], pki("alice.pem"))
        self.assertEqual(rec["emails"], [A])
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_match_case_insensitive_mixed_case_address(self):
        dn = self.contact("Bob", mail="BOB@partner.example")
        res = self.smp("publish", pki("bob-ec.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der_of("bob-ec.pem")])

    def test_match_by_proxy_addresses_only(self):
        dn = self.contact("Alice", proxies=["SMTP:" + A, "X500:/o=Example/cn=alice"])
        res = self.smp("publish", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "published")
        self.assertIn("no_mail_attribute", self.codes(rec))
        p = [p for p in rec["problems"] if p["code"] == "no_mail_attribute"][0]
        self.assertEqual(p["severity"], "warning")
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_match_internationalised_domain_as_typed(self):
        # the certificate holds user@xn--bcher-kva.example (A-label); the entry holds the
        # address as it was typed, with the Unicode domain: the same mailbox (SPEC §3)
        u = "user@b\u00fccher.example"
        if self.kind == "ad":
            dn = self.contact("Idn", mail=u)
        else:  # slapd's mail is an IA5String: Unicode can only be in proxyAddresses
            dn = self.contact("Idn", proxies=["SMTP:" + u])
        res = self.smp("publish", pki("idn.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["dn"].lower()), ("published", dn.lower()))
        self.assertEqual(self.certs(dn), [der_of("idn.pem")])
        for addr in ("user@xn--bcher-kva.example", u):
            res = self.smp("lookup", addr)
            self.assertEqual(res.rc, 0, res)
            self.assertIn(dn.lower(), res.out.lower())
        # the bulk path builds the same filter: a rerun among 70 inputs finds it unchanged
        files = [pki("idn.pem")] + [pki("alice.pem")] * 69
        res = self.smp("publish", *files)
        idn = [r for r in res.json() if r.get("file") == pki("idn.pem")]
        self.assertEqual([r["action"] for r in idn], ["unchanged"], res)

    def _subject_dn_cert(self, cn, address):
        rdns = [r.split("=", 1) for r in self.ou.split(",")]
        subj = "".join("/%s=%s" % (k.upper() if k.lower() != "dc" else "DC", v)
                       for k, v in reversed(rdns)) + "/CN=" + cn
        return make_cert(subj, [address])

    def test_match_by_subject_dn(self):
        # the entry's DN is the certificate's subject; its addresses do not include the
        # certificate's: found, but address_mismatch is critical
        path, der = self._subject_dn_cert("Subj Person", "subj@partner.example")
        dn = self.contact("Subj Person", mail="other@partner.example")
        res = self.smp("publish", path)
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "skipped")
        self.assertEqual(rec["reason"], "critical_problem")
        self.assertEqual(rec["dn"].lower(), dn.lower())
        self.assertIn("address_mismatch", self.codes(rec))
        self.assertEqual(self.certs(dn), [])
        res = self.smp("publish", "--force", path)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "published")
        self.assertIn("address_mismatch", self.codes(rec))  # still printed
        self.assertEqual(self.certs(dn), [der])

    def test_ambiguous_writes_nothing(self):
        dn1 = self.contact("Alice One", mail=A)
        dn2 = self.contact("Alice Two", proxies=["smtp:" + A])
        res = self.smp("publish", pki("alice.pem"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "failed")
        self.assertEqual(rec["reason"], "ambiguous")
        self.assertEqual(sorted(x.lower() for x in rec["candidates"]),
                         sorted([dn1.lower(), dn2.lower()]))
        self.assertIn("Alice One", rec["message"])
        self.assertEqual(self.certs(dn1), [])
        self.assertEqual(self.certs(dn2), [])

    def test_not_found(self):
        self.contact("Somebody", mail="somebody@partner.example")
        res = self.smp("publish", pki("alice.pem"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "failed")
        self.assertEqual(rec["reason"], "not_found")
        res = self.smp("publish", pki("alice.pem"), fmt="text")
        self.assertEqual(res.rc, 1, res)
        self.assertIn("not_found", res.out)

    def test_create_contact_only_for_a_real_mailbox(self):
        # addresses a certificate may carry that are no recipient's: refused as bad_address
        # before anything is written, in a dry run and a real one
        for addr in ("two..dots@partner.example", "alice@partner", "a(b)@partner.example"):
            path, _ = make_cert("/CN=Odd Partner", [addr])
            for dry in (("-n",), ()):
                res = self.smp("publish", *dry, "--create-contact", "--ou", self.ou, path)
                self.assertEqual(res.rc, 1, (addr, res))
                rec = self.one(res)
                self.assertEqual((rec["action"], rec["reason"]), ("skipped", "bad_address"),
                                 (addr, res))
                self.assertIn("bad_address", self.codes(rec))
                self.assertNotIn("ldif", rec)
            self.assertEqual(self.d.search(self.ou, scope="one", filt="(cn=*)"), {}, addr)
        self.assertFalse(os.path.exists(self.journal) and
                         split_ldif_records(open(self.journal).read()))
        # a quoted local part and a plus tag are mailboxes
        path, _ = make_cert("/CN=Plus Partner", ["first.last+smime@partner.example"])
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual((res.rc, self.one(res)["action"]), (0, "published"), res)

    def test_created_contact_says_whether_it_is_an_exchange_recipient(self):
        # Samba's schema (like AD without Exchange) has no msExchRecipientTypeDetails: the
        # contact is in the directory but no Exchange recipient yet, and the result says how
        # to make it one; OpenLDAP has no Exchange at all
        path, _ = make_cert("/CN=O'Neil Partner", ["oneil@partner.example"])
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        if self.d.kind == "ad":
            self.assertIn("not an Exchange recipient yet", rec["message"])
            self.assertIn("Enable-MailContact -Identity 'CN=O''Neil Partner,", rec["message"])
            self.assertIn("-ExternalEmailAddress 'SMTP:oneil@partner.example'", rec["message"])
        else:
            self.assertNotIn("Exchange", rec["message"])

    def test_create_contact_with_escaped_cn(self):
        cn = 'Doe, Jane + "J" <x>; y\\z=1'
        path, der = make_cert("/CN=" + re.sub(r'([,+"<>;\\])', r"\\\1", cn),
                              ["jane.doe@partner.example"])
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "published")
        self.assertTrue(rec.get("created"))
        found = self.d.search(self.ou, scope="one", filt="(mail=jane.doe@partner.example)")
        self.assertEqual(len(found), 1, found)
        dn, attrs = next(iter(found.items()))
        # the same DN, however each side escapes it (output writes backslash escapes)
        self.assertEqual(smptest.dn_key(dn), smptest.dn_key(rec["dn"]))
        self.assertNotIn("\\2", rec["dn"].lower())
        self.assertEqual(attrs["cn"], [cn.encode()])
        self.assertEqual(self.certs(dn), [der])
        ocs = [v.decode().lower() for v in attrs["objectclass"]]
        if self.kind == "ad":
            self.assertIn("contact", ocs)
            self.assertIn(b"SMTP:jane.doe@partner.example", attrs["proxyaddresses"])
            self.assertEqual([v.lower() for v in attrs["targetaddress"]],
                             [b"smtp:jane.doe@partner.example"])
        else:
            self.assertIn("inetorgperson", ocs)
        # publishing again finds the new contact
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.one(res)["action"], "unchanged")

    def test_create_contact_dry_run_prints_what_the_real_run_writes(self):
        # the contact a dry run prints is byte for byte the one the real run creates: sn
        # (the last word of the name), targetAddress only where the schema has it
        path, _ = make_cert("/CN=Anna Maria Same", ["anna.same@partner.example"])
        res = self.smp("publish", "-n", "--create-contact", "--ou", self.ou, path, fmt=None)
        self.assertEqual(res.rc, 0, res)
        text = re.sub(r"\n ", "", res.out)  # unfold LDIF continuation lines
        records = [smptest.parse_ldif(r.encode()) for r in text.split("\n\n")]
        printed = [e for r in records for e in r.values() if e.get("changetype") == [b"add"]]
        self.assertEqual(len(printed), 1, res.out)
        printed = printed[0]
        del printed["changetype"]
        res = self.smp("publish", "--create-contact", "--ou", self.ou, path)
        self.assertEqual(res.rc, 0, res)
        dn = self.one(res)["dn"]
        names = ["cn", "sn", "displayName", "mail", "proxyAddresses", "targetAddress",
                 "givenName", "objectClass"]
        found = self.d.search(dn, attrs=names)
        self.assertEqual(len(found), 1, found)
        real = next(iter(found.values()))
        ocs = printed.pop("objectclass")
        self.assertTrue({v.lower() for v in ocs} <= {v.lower() for v in real.pop("objectclass")})
        self.assertEqual(printed, real)
        self.assertEqual(printed.get("sn", [b"Same"]), [b"Same"])
        # the test Samba has Exchange's targetAddress added to its schema (tests/dirs)
        self.assertEqual("targetaddress" in printed, self.kind == "ad")

    def test_value_over_the_profile_limit_is_refused_before_writing(self):
        # Active Directory keeps at most 32,768 bytes in one value: such a certificate is
        # refused as too_large (even with --force) and nothing is written; OpenLDAP has no
        # such limit and takes it
        names = ["big.cert@partner.example"] + [
            "alias%04d.big.cert@partner.example" % i for i in range(1100)]
        path, der = make_cert("/CN=Big Cert", names)
        self.assertGreater(len(der), 32768)
        dn = self.d.add_contact(self.ou, "Big Cert", mail="big.cert@partner.example")
        res = self.smp("publish", "--force", path)
        rec = self.one(res)
        if self.kind == "ad":
            self.assertEqual(res.rc, 1, res)
            self.assertEqual((rec["action"], rec["reason"]), ("skipped", "too_large"), rec)
            self.assertIn("too_large", [p["code"] for p in rec["problems"]])
            self.assertEqual(self.certs(dn), [])
        else:
            self.assertEqual(res.rc, 0, res)
            self.assertEqual(rec["action"], "published", rec)
            self.assertEqual(self.certs(dn), [der])

    def test_create_contact_dry_run_changes_nothing(self):
        cn = "Dry, Run"
        path, der = make_cert("/CN=Dry\\, Run", ["dry.run@partner.example"])
        res = self.smp("publish", "-n", "--create-contact", "--ou", self.ou, path, fmt=None)
        self.assertEqual(res.rc, 0, res)
        self.assertIn("changetype: add", res.out)
        self.assertIn("would_publish", res.out)
        self.assertEqual(self.d.search(self.ou, scope="one", filt="(cn=*)"), {})
        self.assertFalse(os.path.exists(self.journal))
        # what it printed is what ldapmodify applies
        self.ldapmodify_text(res.out)
        found = self.d.search(self.ou, scope="one", filt="(mail=dry.run@partner.example)")
        self.assertEqual(len(found), 1, found)
        dn, attrs = next(iter(found.items()))
        self.assertEqual(attrs["cn"], [cn.encode()])
        self.assertEqual(self.certs(dn), [der])

    def test_idempotent_republish(self):
        dn = self.contact("Alice", mail=A)
        self.assertEqual(self.smp("publish", pki("alice.pem")).rc, 0)
        res = self.smp("publish", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "unchanged")
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_refuse_then_add(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.smp("publish", pki("alice-new.pem"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "already_has_certificate"))
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])
        res = self.smp("publish", "--add", pki("alice-new.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.one(res)["action"], "published")
        # both kept; the best (latest notAfter) first
        self.assertEqual(self.certs(dn), [der_of("alice-new.pem"), der_of("alice.pem")])

    def test_last_years_and_this_years_file_in_any_order(self):
        # a folder with both files, in either name order, and the same files named on the
        # command line in both orders: this year's ends on the entry; last year's is
        # superseded (never written, then removed), and says which input won
        for order in (("a-old.pem", "b-new.pem"), ("a-new.pem", "b-old.pem")):
            for mode in ((), ("--replace",)):
                folder = tempfile.mkdtemp(dir=self.tmp)
                for name in order:
                    src = "alice.pem" if "old" in name else "alice-new.pem"
                    shutil.copy(pki(src), os.path.join(folder, name))
                dn = self.contact("Alice %s %s" % (order[0][2:5], len(mode)), mail=A)
                for dry in (True, False):
                    res = self.smp("publish", *(("-n",) if dry else ()), *mode, folder)
                    self.assertEqual(res.rc, 0, res)
                    recs = {os.path.basename(r["file"]): r for r in res.json()}
                    old = [n for n in order if "old" in n][0]
                    new = [n for n in order if "new" in n][0]
                    self.assertEqual(recs[old]["action"], "superseded", res)
                    self.assertIn(new, recs[old]["message"])
                    self.assertEqual(recs[new]["action"],
                                     "would_publish" if dry else "published", res)
                self.assertEqual(self.certs(dn), [der_of("alice-new.pem")])
                self.d.delete_tree(dn)

    def test_quiet_prints_only_failures(self):
        self.contact("Alice", mail=A)
        res = self.smp("-q", "publish", pki("alice.pem"), pki("noaddr.pem"), fmt="text")
        self.assertEqual(res.rc, 1, res)
        self.assertNotIn("published", res.out)
        self.assertIn("not_found", res.out + res.err)
        res = self.smp("-q", "publish", pki("alice.pem"), fmt="text")
        self.assertEqual((res.rc, res.out), (0, ""), res)  # unchanged: nothing to say
        # a quiet dry run prints only the LDIF, which ldapmodify takes as it is
        self.contact("Bob", mail="bob@partner.example")
        res = self.smp("-q", "-n", "publish", pki("bob-ec.pem"), fmt="text")
        self.assertEqual(res.rc, 0, res)
        body = [l for l in res.out.splitlines() if l and not l.startswith("#")]
        self.assertTrue(body[0].startswith("dn:"), res)  # the change's own comment, then it
        self.assertNotIn("would_publish", res.out)
        self.ldapmodify_text(res.out)
        # lookup -q: nothing for a recipient a client can encrypt to
        res = self.smp("-q", "lookup", A, fmt="text")
        self.assertEqual((res.rc, res.out), (0, ""), res)

    def test_replace_refuses_a_downgrade(self):
        dn = self.contact("Alice", mail=A, certs=["alice-new.pem"])
        before = self.snapshot(dn)
        res = self.smp("publish", "--replace", pki("alice.pem"), fmt=None)
        self.assertEqual(res.rc, 1, res)
        self.assertIn("downgrade", res.out)
        self.assertIn("2028-03-01", res.out)  # which certificate would be lost, until when
        self.assertIn("--force", res.out)
        rec = self.one(self.smp("publish", "--replace", pki("alice.pem")))
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "downgrade"))
        self.assertIn("downgrade", self.codes(rec))
        self.assertEqual([p["severity"] for p in rec["problems"] if p["code"] == "downgrade"],
                         ["critical"])
        self.assertEqual(self.snapshot(dn), before)
        res = self.smp("publish", "--replace", "--force", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.one(res)["action"], "replaced")
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])
        # an upgrade is no downgrade
        res = self.smp("publish", "--replace", pki("alice-new.pem"))
        self.assertEqual((res.rc, self.one(res)["action"]), (0, "replaced"), res)

    def test_replace_keeps_other_address_and_other_ca(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "bob-ec.pem", "untrusted.pem"])
        res = self.smp("publish", "--replace", pki("alice-new.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "replaced")
        got = self.certs(dn)
        self.assertEqual(got[0], der_of("alice-new.pem"))
        self.assertEqual(sorted(got), sorted([der_of("alice-new.pem"), der_of("bob-ec.pem"),
                                              der_of("untrusted.pem")]))

    def test_concurrent_replace_rereads_and_never_clobbers(self):
        # several --replace at once on one entry: the losers' exact-value deletes fail
        # (the value is gone), they re-read and re-plan; no value of another address is lost
        dn = self.contact("Alice", mail=A, certs=["alice.pem", "bob-ec.pem"])
        made = [make_cert("/CN=Alice %d" % i, [A], end="20270%d01000000Z" % (i + 2))
                for i in range(4)]
        argv = self.conn() + ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted",
                              pki("intermediate.pem"), "--journal", self.journal,
                              "--format", "json", "publish", "--replace"]
        env = dict(os.environ, LDAPNOINIT="1")
        procs = [subprocess.Popen([smptest.BIN] + argv + [path], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
                 for path, _ in made]
        outs = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
        # a run that comes after a longer-valid one refuses to lose it (downgrade); every
        # other one replaces
        for out, err, rc in outs:
            rec = json.loads(out)
            self.assertIn((rc, rec["action"], rec["reason"]),
                          [(0, "replaced", None), (1, "skipped", "downgrade")], err)
        self.assertEqual(outs[-1][2], 0, outs[-1])  # nothing is better than the last
        got = self.certs(dn)
        self.assertEqual(len(got), 2, got)
        self.assertIn(der_of("bob-ec.pem"), got)
        self.assertEqual(got[0], made[-1][1])

    def test_add_and_replace_exclude_each_other(self):
        res = self.smp("publish", "--add", "--replace", pki("alice.pem"))
        self.assertEqual(res.rc, 64, res)

    def test_prune_expired(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem", "bob-ec.pem"])
        res = self.smp("publish", "--prune-expired", "--add", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.one(res)["action"], "replaced")
        got = self.certs(dn)
        self.assertEqual(got[0], der_of("alice.pem"))
        self.assertEqual(sorted(got), sorted([der_of("alice.pem"), der_of("bob-ec.pem")]))

    def test_best_first_ordering(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem"])
        res = self.smp("publish", "--add", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der_of("alice.pem"), der_of("alice-old-expired.pem")])
        # a newer one goes first too
        res = self.smp("publish", "--add", pki("alice-new.pem"))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der_of("alice-new.pem"), der_of("alice.pem"),
                                          der_of("alice-old-expired.pem")])

    def test_critical_problem_blocks_unless_force(self):
        dn = self.contact("Expired", mail="expired@partner.example")
        res = self.smp("publish", pki("expired.pem"))
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("skipped", "critical_problem"))
        self.assertIn("expired", self.codes(rec))
        self.assertEqual(self.certs(dn), [])
        res = self.smp("publish", "--force", pki("expired.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "published")
        self.assertIn("expired", self.codes(rec))
        self.assertEqual(self.certs(dn), [der_of("expired.pem")])

    def test_untrusted_without_intermediate_is_refused(self):
        dn = self.contact("Mike", mail="mike@partner.example")
        argv = ["--at", T0, "--ca-file", pki("root.pem"), "publish", pki("missing-int.pem")]
        res = self.smp(*argv, trust=False)
        self.assertEqual(res.rc, 1, res)
        rec = self.one(res)
        self.assertIn("missing_intermediate", self.codes(rec))
        self.assertEqual(self.certs(dn), [])

    def test_dry_run_prints_ldif_and_changes_nothing(self):
        dn = self.contact("Alice", mail=A, certs=["alice-old-expired.pem"])
        before = self.snapshot(dn)
        res = self.smp("publish", "-n", "--add", pki("alice.pem"), fmt=None)
        self.assertEqual(res.rc, 0, res)
        self.assertIn("changetype: modify", res.out)
        self.assertEqual(self.snapshot(dn), before)
        self.assertFalse(os.path.exists(self.journal))
        self.ldapmodify_text(res.out)
        self.assertEqual(self.certs(dn), [der_of("alice.pem"), der_of("alice-old-expired.pem")])

    def test_dry_run_json_carries_ldif(self):
        dn = self.contact("Alice", mail=A)
        res = self.smp("publish", "--dry-run", pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertEqual(rec["action"], "would_publish")
        self.assertIn("changetype: modify", rec["ldif"])
        self.assertEqual(self.certs(dn), [])

    def test_injection_in_certificate_address(self):
        # addresses with filter metacharacters match only themselves
        weird = "a(b)*c\\d@partner.example"
        victim = self.contact("Victim", mail=A)
        target = self.contact("Weird", mail=weird)
        path, weird_der = make_cert("/CN=Weird", [weird])
        res = self.smp("publish", path)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.one(res)["dn"].lower(), target.lower())
        self.assertEqual(self.certs(target), [weird_der])
        self.assertEqual(self.certs(victim), [])
        for evil in ["*@partner.example", "*)(mail=*@partner.example",
                     "x)(|(mail=*)@partner.example", "\\2a@partner.example"]:
            path, der = make_cert("/CN=Evil", [evil])
            res = self.smp("publish", path)
            self.assertEqual(res.rc, 1, "%s: %r" % (evil, res))
            self.assertEqual(self.one(res)["reason"], "not_found", evil)
        self.assertEqual(self.certs(victim), [])
        self.assertEqual(self.certs(target), [weird_der])

    def test_multiple_files_and_bundle(self):
        dn_a = self.contact("Alice", mail=A)
        dn_b = self.contact("Bob", mail="bob@partner.example")
        res = self.smp("publish", pki("mixed.pem"), pki("carol-sanonly.pem"))
        self.assertEqual(res.rc, 1, res)  # carol has no entry
        recs = res.json()
        self.assertEqual(sorted(r["action"] for r in recs), ["failed", "published", "published"])
        self.assertEqual(self.certs(dn_a), [der_of("alice.pem")])
        self.assertEqual(self.certs(dn_b), [der_of("bob-ec.pem")])

    def test_bad_input_files(self):
        res = self.smp("publish", pki("garbage.bin"))
        self.assertEqual(res.rc, 65, res)
        res = self.smp("publish", os.path.join(self.tmp, "missing.pem"))
        self.assertEqual(res.rc, 66, res)
        res = self.smp("publish")
        self.assertEqual(res.rc, 64, res)

    def test_csv_output(self):
        self.contact("Alice", mail=A)
        res = self.smp("publish", pki("alice.pem"), fmt="csv")
        self.assertEqual(res.rc, 0, res)
        lines = res.out.splitlines()
        self.assertTrue(lines[0].startswith("file,dn,index,attribute,action,reason"), res.out)
        self.assertIn(",published,", lines[1])


class AccessTests(Base):
    prefix = "acc"

    def test_wrong_password(self):
        dn = self.contact("Alice", mail=A)
        res = self.smp("publish", pki("alice.pem"), who=(self.d.admin_dn, "wrong-password"))
        self.assertEqual(res.rc, 77, res)
        self.assertEqual(self.certs(dn), [])

    def test_unreachable(self):
        res = self.smp("publish", pki("alice.pem"), uri="ldap://127.0.0.1:1")
        self.assertEqual(res.rc, 69, res)

    def test_reader_may_not_write(self):
        dn = self.contact("Alice", mail=A)
        res = self.smp("publish", pki("alice.pem"), who="reader")
        self.assertEqual(res.rc, 77, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("failed", "insufficient_access"))
        self.assertEqual(self.certs(dn), [])
        # the undo record of the refused write is voided in place (commented out, never cut
        # off: another process may have appended after it), so nothing is left to undo
        with open(self.journal) as fp:
            text = fp.read()
        self.assertEqual(split_ldif_records(text), [])
        self.assertIn("#n:", text)

    def test_refused_contact_creation_leaves_no_undo(self):
        # the reader may not create entries: the delete record written before the add is
        # voided in place (never cut off the file: another process may have appended), and
        # nothing was created
        res = self.smp("publish", "--create-contact", "--ou", self.ou, pki("alice.pem"),
                       who="reader")
        self.assertEqual(res.rc, 77, res)
        rec = self.one(res)
        self.assertEqual((rec["action"], rec["reason"]), ("failed", "insufficient_access"), rec)
        self.assertEqual(self.d.search(self.ou, scope="one", filt="(cn=*)"), {})
        listed = self.smp("undo", "--list").json()
        self.assertEqual([r["action"] for r in listed], ["voided"], listed)
        with open(self.journal) as fp:
            self.assertFalse([line for line in fp if line.strip() and line[0] != "#"])
        # a created contact's undo names the DN it got, and applying it removes the contact
        res = self.smp("publish", "--create-contact", "--ou", self.ou, pki("alice.pem"))
        self.assertEqual(res.rc, 0, res)
        rec = self.one(res)
        self.assertTrue(rec.get("created"), rec)
        with open(self.journal) as fp:
            text = fp.read().replace("\n ", "")  # LDIF folding undone
        self.assertEqual(text.count("changetype: delete"), 1, text)
        self.assertIn("dn: " + rec["dn"], text)

    def test_certwriter_may_publish(self):
        dn = self.contact("Alice", mail=A, certs=["alice.pem"])
        res = self.smp("publish", "--replace", pki("alice-new.pem"), who="writer")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der_of("alice-new.pem")])

    def _tls(self, uri, extra=(), cacert=True):
        dn = self.contact("Alice", mail=A)
        # like ldapsearch, libldap reads LDAPTLS_CACERT only without LDAPNOINIT
        env = {"LDAPNOINIT": None, "LDAPTLS_CACERT": self.d.cacert if cacert else None,
               "LDAPTLS_REQCERT": None, "LDAPCONF": None, "LDAPRC": None}
        res = self.smp(*(list(extra) + ["publish", pki("alice.pem")]), uri=uri, env=env)
        return dn, res

    def test_ldaps_verified(self):
        dn, res = self._tls(self.d.ldaps_uri)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_ldaps_unknown_server_certificate(self):
        dn, res = self._tls(self.d.ldaps_uri, cacert=False)
        self.assertEqual(res.rc, 69, res)
        self.assertEqual(self.certs(dn), [])

    def test_starttls_verified(self):
        dn, res = self._tls(self.d.uri, extra=["-ZZ"])
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.certs(dn), [der_of("alice.pem")])

    def test_starttls_unknown_server_certificate(self):
        dn, res = self._tls(self.d.uri, extra=["-ZZ"], cacert=False)
        self.assertEqual(res.rc, 69, res)
        self.assertEqual(self.certs(dn), [])


class PublishSlapd(PublishTests, unittest.TestCase):
    kind = "slapd"


class PublishAD(PublishTests, unittest.TestCase):
    kind = "ad"


class AccessSlapd(AccessTests, unittest.TestCase):
    kind = "slapd"


class AccessAD(AccessTests, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    try:
        smptest.main()
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
