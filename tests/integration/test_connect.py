"""Connection options of the real binary against the real slapd and Samba AD (SPEC §2):
ldap.conf defaults, password sources, SASL EXTERNAL (ldapi) and GSSAPI (Kerberos against the
Samba DC), and the errors an administrator sees."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from urllib.parse import urlparse

import smptest
from smptest import Directory, T0, pki, run

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]


class ConnectSlapd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Directory("slapd")
        cls.ou = cls.d.make_ou("conn")
        cls.dn = cls.d.add_contact(cls.ou, "Alice", mail="alice@partner.example",
                                   certs=[smptest.der_of("alice.pem")])
        cls.tmp = tempfile.mkdtemp(prefix="smp-conn-")

    @classmethod
    def tearDownClass(cls):
        cls.d.delete_tree(cls.ou)
        shutil.rmtree(cls.tmp)

    def lookup(self, args, env=None):
        return run(args + TRUST + ["--format", "json", "lookup", "alice@partner.example"],
                   env=env)

    def test_password_file_with_trailing_newline(self):
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as fp:
            fp.write(self.d.admin_pw + "\n")
        os.chmod(pw, 0o600)  # smimepub refuses a password file others may read
        r = self.lookup(["-H", self.d.uri, "-b", self.ou, "-D", self.d.admin_dn, "-y", pw])
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(any(o.get("chosen") for o in r.json()), r)

    def test_password_from_environment(self):
        r = self.lookup(["-H", self.d.uri, "-b", self.ou, "-D", self.d.admin_dn],
                        env={"SMIMEPUB_PASSWORD": self.d.admin_pw})
        self.assertEqual(r.rc, 0, r)

    def test_password_never_on_command_line(self):
        r = run(["-H", self.d.uri, "-D", self.d.admin_dn, "-w", self.d.admin_pw,
                 "lookup", "alice@partner.example"])
        self.assertEqual(r.rc, 64, r)

    def test_wrong_password_is_77_and_not_echoed(self):
        r = self.lookup(["-H", self.d.uri, "-b", self.ou, "-D", self.d.admin_dn],
                        env={"SMIMEPUB_PASSWORD": "Wrong-Secret-4711"})
        self.assertEqual(r.rc, 77, r)
        self.assertIn("49", r.err)  # the LDAP result code is shown
        self.assertNotIn("Wrong-Secret-4711", r.err + r.out)

    def test_unreachable_is_69(self):
        r = self.lookup(["-H", "ldap://127.0.0.1:1", "-b", self.ou, "-D", self.d.admin_dn],
                        env={"SMIMEPUB_PASSWORD": "x"})
        self.assertEqual(r.rc, 69, r)
        self.assertIn("127.0.0.1:1", r.err)

    def test_failed_starttls_warned_once(self):
        # -Z (not -ZZ) goes on in clear when StartTLS fails: here the server's test CA is not
        # trusted. The administrator is told once, and the lookup still works (loopback).
        for cmd in (["lookup", "alice@partner.example"],
                    ["remove", "--dry-run", "--all", "alice@partner.example"],
                    ["--dry-run", "publish", pki("alice.pem")]):
            r = run(["-H", self.d.uri, "-b", self.ou, "-D", self.d.admin_dn, "-Z"] + TRUST +
                    cmd, env={"SMIMEPUB_PASSWORD": self.d.admin_pw})
            self.assertIn(r.rc, (0, 1), r)
            self.assertEqual(r.err.count("StartTLS with"), 1, r)

    def test_ldap_conf_defaults(self):
        conf = os.path.join(self.tmp, "ldap.conf")
        with open(conf, "w") as fp:
            fp.write("URI %s\nBASE %s\nTLS_CACERT %s\n" % (self.d.uri, self.ou, self.d.cacert))
        env = {"LDAPNOINIT": None, "LDAPCONF": conf, "LDAPRC": os.path.join(self.tmp, "none"),
               "HOME": self.tmp, "SMIMEPUB_PASSWORD": self.d.admin_pw}
        r = self.lookup(["-D", self.d.admin_dn], env=env)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()[0]["dn"].lower(), self.dn.lower())
        # ldaps:// from ldap.conf verifies the server with ldap.conf's TLS_CACERT
        with open(conf, "w") as fp:
            fp.write("URI %s\nBASE %s\nTLS_CACERT %s\n" % (self.d.ldaps_uri, self.ou,
                                                            self.d.cacert))
        r = self.lookup(["-D", self.d.admin_dn], env=env)
        self.assertEqual(r.rc, 0, r)

    def test_sasl_external_over_ldapi(self):
        r = self.lookup(["-H", self.d.ldapi_uri, "-Y", "EXTERNAL", "-b", self.ou])
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(any(o.get("chosen") for o in r.json()), r)


class ConnectADReasons(unittest.TestCase):
    """Active Directory's bind sub-codes (data 52e, 533, 701, 773) in plain words, and an
    anonymous request it refuses with "Operations error" reported as 77 with a hint to bind."""

    @classmethod
    def setUpClass(cls):
        cls.d = Directory("ad")
        conf = cls.d.env["AD_SMB_CONF"]
        tool = ["samba-tool", "user"]
        cls.users = {"smpok": "Passw0rd!ok", "smpoff": "Passw0rd!off",
                     "smpexp": "Passw0rd!exp", "smpchg": "Passw0rd!chg"}
        for name, pw in cls.users.items():
            subprocess.run(tool + ["delete", name, "-s", conf], capture_output=True)
            extra = ["--must-change-at-next-login"] if name == "smpchg" else []
            subprocess.run(tool + ["add", name, pw, "-s", conf] + extra, check=True,
                           capture_output=True)
        subprocess.run(tool + ["disable", "smpoff", "-s", conf], check=True, capture_output=True)
        subprocess.run(tool + ["setexpiry", "smpexp", "--days=0", "-s", conf], check=True,
                       capture_output=True)

    @classmethod
    def tearDownClass(cls):
        for name in cls.users:
            subprocess.run(["samba-tool", "user", "delete", name, "-s",
                            cls.d.env["AD_SMB_CONF"]], capture_output=True)

    def lookup(self, who=None, password=None):
        args = ["-H", self.d.uri, "-b", self.d.base]
        if who is not None:
            args += ["-D", who + "@" + self.d.env["AD_REALM"]]
        return run(args + TRUST + ["--format", "json", "lookup", "alice@partner.example"],
                   env={"SMIMEPUB_PASSWORD": password} if password else None)

    def test_sub_codes_in_plain_words(self):
        for who, pw, words in [
                ("smpok", "Wrong-4711!", "wrong user name or password"),
                ("nosuchuser", "Wrong-4711!", "wrong user name or password"),
                ("smpoff", self.users["smpoff"], "the account is disabled"),
                ("smpexp", self.users["smpexp"], "the account has expired"),
                ("smpchg", self.users["smpchg"], "must be changed before it can log on")]:
            r = self.lookup(who, pw)
            self.assertEqual(r.rc, 77, (who, r))
            self.assertIn(words, r.err, (who, r))
            self.assertIn("49", r.err)  # the LDAP result and the server's text stay
            self.assertIn("AcceptSecurityContext", r.err)
            self.assertNotIn(pw, r.err + r.out)
        self.assertEqual(self.lookup("smpok", self.users["smpok"]).rc, 1)  # binds: not found

    def test_anonymous_is_77_with_a_hint_to_bind(self):
        r = self.lookup()
        self.assertEqual(r.rc, 77, r)
        self.assertIn("does not answer anonymous requests: bind as an account", r.err)



class ConnectGSSAPI(unittest.TestCase):
    """Kerberos against the Samba DC: kinit, then `-Y GSSAPI` with no password anywhere."""

    @classmethod
    def setUpClass(cls):
        cls.d = Directory("ad")
        if shutil.which("kinit") is None:
            raise RuntimeError("kinit is missing: scripts/install-deps.sh installs krb5-user")
        cls.host = urlparse(cls.d.uri).hostname
        cls.tmp = tempfile.mkdtemp(prefix="smp-krb-")
        cls.krb5 = os.path.join(cls.tmp, "krb5.conf")
        realm = cls.d.env.get("AD_REALM", "EXAMPLE.TEST")
        with open(cls.krb5, "w") as fp:
            fp.write("[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n"
                     " dns_lookup_realm = false\n rdns = false\n[realms]\n %s = {\n"
                     "  kdc = %s\n }\n" % (realm, realm, cls.host))
        cls.kenv = {"KRB5_CONFIG": cls.krb5, "KRB5CCNAME": "FILE:" + os.path.join(cls.tmp, "cc"),
                    "LDAPSASL_NOCANON": "on"}
        # the DC's LDAP service principal under the address the tests use
        subprocess.run(["samba-tool", "spn", "add", "ldap/" + cls.host, "DC1$",
                        "-s", cls.d.env["AD_SMB_CONF"]], capture_output=True)
        env = dict(os.environ, **cls.kenv)
        proc = subprocess.run(["kinit", "Administrator@" + realm], input=cls.d.admin_pw + "\n",
                              text=True, capture_output=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError("kinit failed: " + proc.stderr)
        cls.ou = cls.d.make_ou("krb")
        cls.d.add_contact(cls.ou, "Alice", mail="alice@partner.example",
                          certs=[smptest.der_of("alice.pem")])

    @classmethod
    def tearDownClass(cls):
        cls.d.delete_tree(cls.ou)
        shutil.rmtree(cls.tmp)

    def test_lookup_with_kerberos(self):
        r = run(["-H", self.d.uri, "-Y", "GSSAPI", "-b", self.ou] + TRUST +
                ["--format", "json", "lookup", "alice@partner.example"], env=self.kenv)
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(any(o.get("chosen") for o in r.json()), r)

    def test_publish_with_kerberos(self):
        dn = self.d.add_contact(self.ou, "Bob", mail="bob@partner.example")
        r = run(["-H", self.d.uri, "-Y", "GSSAPI", "-b", self.ou, "--journal",
                 os.path.join(self.tmp, "journal.ldif")] + TRUST +
                ["--format", "json", "publish", pki("bob-ec.pem")], env=self.kenv)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.d.certs(dn), [smptest.der_of("bob-ec.pem")])

    def test_without_ticket_is_refused(self):
        env = dict(self.kenv, KRB5CCNAME="FILE:" + os.path.join(self.tmp, "no-such-cache"))
        r = run(["-H", self.d.uri, "-Y", "GSSAPI", "-b", self.ou, "lookup",
                 "alice@partner.example"], env=env)
        self.assertIn(r.rc, (69, 77), r)


# Run by smimepub's test hook just before a modify, while it is bound and holds the password:
# finds the smimepub process among its ancestors and writes what the kernel shows of it.
PROBE = r"""
import json, os, sys
pid = os.getppid()
while pid > 1:
    with open("/proc/%d/comm" % pid) as fp:
        if fp.read().strip() == "smimepub":
            break
    with open("/proc/%d/stat" % pid) as fp:
        pid = int(fp.read().rsplit(")", 1)[1].split()[1])
with open(sys.argv[2]) as fp:
    secret = fp.read()
# mappings both left out of core dumps (dd) and wiped in forked children (wf)
secret_maps = sum(1 for l in open("/proc/%d/smaps" % pid)
                  if l.startswith("VmFlags:") and " dd" in l and " wf" in l)
environ = open("/proc/%d/environ" % pid, "rb").read().decode("latin-1")
# (the test directory's password is a word that paths hold too: look for the assignment)
seen = {"secret_maps": secret_maps,
        "secret_in_environ": ("SMIMEPUB_PASSWORD=" + secret) in environ,
        "secret_in_hook_env": os.environ.get("SMIMEPUB_PASSWORD") is not None}
with open(sys.argv[1], "w") as fp:
    json.dump(seen, fp)
"""


class PasswordInMemory:
    """While bound, the password kept for reconnecting is in memory left out of core dumps and
    wiped in forked children, and the password taken from SMIMEPUB_PASSWORD is gone from the
    process's environment and from the programs it starts. (That the process is not dumpable
    is checked by tests/cli/test_options.py, which can look at it from another user.)"""

    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = Directory(cls.kind)
        cls.ou = cls.d.make_ou("secret")
        cls.tmp = tempfile.mkdtemp(prefix="smp-mem-")
        cls.probe = os.path.join(cls.tmp, "probe.py")
        with open(cls.probe, "w") as fp:
            fp.write(PROBE)

    @classmethod
    def tearDownClass(cls):
        cls.d.delete_tree(cls.ou)
        shutil.rmtree(cls.tmp)

    def publish_probed(self, name, args, env):
        dn = self.d.add_contact(self.ou, name, mail="bob@partner.example")
        out = os.path.join(self.tmp, name.replace(" ", "-") + ".json")
        secret = os.path.join(self.tmp, "secret")
        with open(secret, "w") as fp:
            fp.write(self.d.admin_pw)  # for the probe: never on a command line
        env = dict(env, SMIMEPUB_TEST_BEFORE_MODIFY="python3 %s %s %s" % (
            self.probe, out, secret))
        if self.d.cacert:
            env["LDAPTLS_CACERT"] = self.d.cacert
        try:
            r = run(["-H", self.d.uri, "-b", dn, "-D", self.d.admin_dn] + args + TRUST +
                    ["--journal", os.path.join(self.tmp, "journal.ldif"), "--format", "json",
                     "publish", pki("bob-ec.pem")], env=env)
            self.assertEqual(r.rc, 0, r)
            self.assertEqual(self.d.certs(dn), [smptest.der_of("bob-ec.pem")])
            self.assertTrue(os.path.exists(out), r)
            with open(out) as fp:
                return json.load(fp)
        finally:
            self.d.delete_tree(dn)

    def test_kept_password_not_dumped_nor_forked(self):
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as fp:
            fp.write(self.d.admin_pw)
        os.chmod(pw, 0o600)
        seen = self.publish_probed("Bob File", ["-y", pw], {})
        self.assertEqual(seen["secret_maps"], 1, seen)  # the connection's copy, only

    def test_environment_password_taken_out_of_the_environment(self):
        seen = self.publish_probed("Bob Env", [], {"SMIMEPUB_PASSWORD": self.d.admin_pw})
        self.assertEqual(seen, {"secret_maps": 1, "secret_in_environ": False,
                                "secret_in_hook_env": False})


class PasswordInMemorySlapd(PasswordInMemory, unittest.TestCase):
    kind = "slapd"


class PasswordInMemoryAD(PasswordInMemory, unittest.TestCase):
    kind = "ad"


if __name__ == "__main__":
    smptest.main()
