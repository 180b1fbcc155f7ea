"""CLI tests of option handling, --help, --version, configuration files and the man page."""
import os
import re
import tempfile
import unittest

import smptest
from smptest import T0, pki, run


class TestOptions(unittest.TestCase):
    def test_version(self):
        r = run(["--version"])
        self.assertEqual(r.rc, 0)
        self.assertRegex(r.out, r"^smimepub \d+\.\d+\.\d+")

    def test_help_lists_commands_and_exit_codes(self):
        r = run(["--help"])
        self.assertEqual(r.rc, 0)
        for cmd in ("inspect", "publish", "lookup", "remove", "audit", "prune", "harvest"):
            self.assertIn(cmd, r.out)
        self.assertIn("64 usage error", r.out)

    def test_command_help(self):
        r = run(["inspect", "--help"])
        self.assertEqual(r.rc, 0)
        self.assertIn("usage: smimepub [CONNECTION] [OPTIONS] inspect FILE", r.out)
        self.assertIn("--strict", r.out)
        self.assertNotIn("--fingerprint", r.out)

    def test_no_command_is_usage_error(self):
        self.assertEqual(run([]).rc, 64)

    def test_man_page_documents_every_option(self):
        r = run(["--list-options"])
        self.assertEqual(r.rc, 0)
        with open(os.path.join(smptest.SRCDIR, "doc", "smimepub.1")) as fp:
            man = fp.read().replace("\\-", "-")
        missing = [opt for opt in r.out.split() if opt not in man]
        self.assertEqual(missing, [])
        for cmd in ("inspect", "publish", "lookup", "remove", "audit", "prune", "harvest"):
            self.assertRegex(man, r"\.B %s|\\fB%s" % (cmd, cmd))

    def test_config_file(self):
        tmp = tempfile.mkdtemp()
        conf = os.path.join(tmp, "config")
        with open(conf, "w") as fp:
            fp.write("# test\nformat = json\nat = %s\nca-file = %s\nuntrusted = %s\n"
                     % (T0, pki("root.pem"), pki("intermediate.pem")))
        r = run(["--config", conf, "inspect", pki("alice.pem")])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()[0]["problems"], [])
        # the command line overrides the configuration file
        r = run(["inspect", pki("alice.pem"), "--config", conf, "--format", "csv"])
        self.assertTrue(r.out.startswith("file,"), r)
        # XDG_CONFIG_HOME is read by default
        os.makedirs(os.path.join(tmp, "smimepub"))
        os.rename(conf, os.path.join(tmp, "smimepub", "config"))
        r = run(["inspect", pki("alice.pem")], env={"XDG_CONFIG_HOME": tmp})
        self.assertEqual(r.json()[0]["problems"], [])

    def test_trust_option_and_config_key(self):
        # file as a source with its anchors: as the default; file without them, anchors the
        # list leaves out, or an unknown source: usage errors before anything is read
        ok = run(["--at", T0, "--format", "json", "--trust", "file", "--ca-file",
                  pki("root.pem"), "--untrusted", pki("intermediate.pem"), "inspect",
                  pki("alice.pem")])
        self.assertEqual(ok.rc, 0, ok)
        self.assertEqual(ok.json()[0]["problems"], [])
        self.assertEqual([c["sources"] for c in ok.json()[0]["chain"]],
                         [["untrusted"], ["file"]])
        for args, words in ((["--trust", "file"], "give --ca-file or --ca-dir"),
                            (["--trust", "system", "--ca-file", pki("root.pem")],
                             "add file to --trust"),
                            (["--trust", "directory,,file"], "invalid --trust")):
            r = run(args + ["inspect", pki("alice.pem")])
            self.assertEqual(r.rc, 64, r)
            self.assertIn(words, r.err)
        # the configuration key is trust; a directory source makes inspect connect
        tmp = tempfile.mkdtemp()
        conf = os.path.join(tmp, "config")
        with open(conf, "w") as fp:
            fp.write("trust = directory\nuri = ldap://127.0.0.1:1\n")
        r = run(["--config", conf, "inspect", pki("alice.pem")])
        self.assertEqual(r.rc, 69, r)
        helptext = run(["inspect", "--help"]).out
        self.assertIn("--trust LIST", helptext)
        self.assertIn("--ca-base DN", helptext)

    def test_config_long_line_is_one_line(self):
        # a line longer than any buffer stays one line: the tail of a commented-out line is
        # not read as an option of its own, and a long value reaches its option whole
        tmp = tempfile.mkdtemp()
        conf = os.path.join(tmp, "config")
        for pad in (4093, 4094, 8189, 20000):
            with open(conf, "w") as fp:
                fp.write("# " + "x" * pad + "format=json\n")
            r = run(["--config", conf, "inspect", pki("alice.pem")])
            self.assertEqual(r.rc, 0, r)
            self.assertFalse(r.out.startswith("{"), (pad, r.out[:80]))
        with open(conf, "w") as fp:
            fp.write("format = csv\nat = %s%s\n" % (T0, " " * 5000))
        r = run(["--config", conf, "inspect", pki("alice.pem")])
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.out.startswith("file,"), r)

    def test_bad_config_is_usage_error(self):
        tmp = tempfile.mkdtemp()
        conf = os.path.join(tmp, "config")
        with open(conf, "w") as fp:
            fp.write("no-such-option = 1\n")
        r = run(["--config", conf, "inspect", pki("alice.pem")])
        self.assertEqual(r.rc, 64, r)
        self.assertIn("no-such-option", r.err)


# An address from TEST-NET-1 (RFC 5737): every test below must refuse before connecting, and no
# packet is ever sent there (the refusals are decided before libldap opens a socket).
FAR = "ldap://192.0.2.1"
SECRET = "hunter2-not-echoed"


class TestSecrets(unittest.TestCase):
    """SPEC §2: a password is never taken on the command line nor from a file others may read."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.pwfile = os.path.join(self.tmp, "pw")
        with open(self.pwfile, "w") as fp:
            fp.write(SECRET + "\n")
        os.chmod(self.pwfile, 0o600)

    def refused(self, args, want, env=None, stdin=None, rc=64):
        r = run(args, env=env, stdin=stdin, timeout=30)
        self.assertEqual(r.rc, rc, r)
        self.assertIn(want, r.err)
        self.assertNotIn(SECRET, r.err + r.out)
        return r

    def test_password_option_refused_with_hint(self):
        for args in (["--password", SECRET, "lookup", "a@partner.example"],
                     ["--password=" + SECRET, "lookup", "a@partner.example"],
                     ["lookup", "a@partner.example", "--password", SECRET],
                     ["lookup", "a@partner.example", "--password"]):
            r = self.refused(args, "--password is not accepted")
            self.assertIn("-y/--password-file", r.err)
            self.assertIn("SMIMEPUB_PASSWORD", r.err)

    def test_password_file_is_never_abbreviated(self):
        for spelled in ("--passw", "--password-", "--password-fil"):
            self.refused(["lookup", "a@partner.example", spelled],
                         "'%s' must be spelled out as --password-file" % spelled)
            self.refused(["-H", FAR, "lookup", "a@partner.example", spelled, SECRET],
                         "'%s' must be spelled out as --password-file" % spelled)
            self.refused(["-H", FAR, "lookup", "a@partner.example", spelled + "=" + SECRET],
                         "'%s' must be spelled out as --password-file" % spelled)
        # spelled out, it is read (and the file does not exist)
        self.refused(["-H", FAR, "-D", "cn=x", "--password-file", "/nonexistent/pw", "lookup", "a@b.example"],
                     "cannot read password file", rc=66)
        # other options keep their abbreviations
        r = run(["inspect", pki("alice.pem"), "--form", "json", "--at", T0])
        self.assertEqual(r.rc, 0, r)

    def test_configuration_file_same_rules(self):
        conf = os.path.join(self.tmp, "config")
        for line, want in (("password = %s\n" % SECRET, "--password is not accepted"),
                           ("passw = %s\n" % SECRET, "must be spelled out as --password-file")):
            with open(conf, "w") as fp:
                fp.write(line)
            r = self.refused(["--config", conf, "lookup", "a@partner.example"], want)
            self.assertIn("configuration", r.err)

    def test_unknown_option_value_not_echoed(self):
        r = self.refused(["--no-such-option=" + SECRET, "inspect", pki("alice.pem")],
                         "unknown or ambiguous option '--no-such-option'")
        r = self.refused(["--pa=" + SECRET, "inspect", pki("alice.pem")], "'--pa'")

    def conn(self, *extra):
        return ["-H", FAR, "-D", "cn=admin,dc=example", *extra, "lookup", "a@partner.example"]

    def test_open_password_file_refused(self):
        for mode in (0o640, 0o604, 0o660, 0o644, 0o620):
            os.chmod(self.pwfile, mode)
            r = self.refused(self.conn("-y", self.pwfile), "is accessible by others (mode 0%o)" % mode)
            self.assertIn("chmod 600", r.err)
            self.assertIn("--allow-open-password-file", r.err)
            # allowed on request: it then gets as far as the plaintext-bind guard
            self.refused(self.conn("-y", self.pwfile, "--allow-open-password-file"),
                         "refusing to send the password")
        for mode in (0o600, 0o400):
            os.chmod(self.pwfile, mode)
            self.refused(self.conn("-y", self.pwfile), "refusing to send the password")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give the file to another owner")
    def test_open_password_file_of_another_owner(self):
        # as ssh: a group-readable file someone else owns (root:service 0640) is fine ...
        os.chown(self.pwfile, 65534, 65534)
        os.chmod(self.pwfile, 0o640)
        self.refused(self.conn("-y", self.pwfile), "refusing to send the password")
        # ... one that every local user can read is not
        os.chmod(self.pwfile, 0o644)
        self.refused(self.conn("-y", self.pwfile), "is accessible by others")

    def test_password_file_kinds(self):
        self.refused(self.conn("-y", self.tmp), "is not a regular file or a pipe")
        self.refused(self.conn("-y", "/dev/zero"), "is not a regular file or a pipe")
        # a pipe is fine: standard input, or what <(...) gives
        self.refused(self.conn("-y", "-"), "refusing to send the password", stdin=SECRET + "\n")

    def test_not_dumpable_while_holding_the_password(self):
        # smimepub waits on the pipe for the password (-y -), its buffer already allocated;
        # /proc/PID/ of a process that is not dumpable belongs to root, not to its user
        import subprocess
        import time
        import shutil
        user = {"user": 65534, "group": 65534} if os.geteuid() == 0 else {}
        binary = smptest.BIN
        if user:
            # as nobody, run a copy nobody can reach: the build tree may sit in a directory
            # only root may enter (a CI checkout under /root, a mktemp -d)
            where = tempfile.mkdtemp(prefix="smp-nobody-")
            os.chmod(where, 0o755)
            binary = os.path.join(where, "smimepub")
            shutil.copy(smptest.BIN, binary)
            os.chmod(binary, 0o755)
            self.addCleanup(shutil.rmtree, where, True)
        env = dict(os.environ, LDAPNOINIT="1", HOME="/nonexistent",
                   XDG_CONFIG_HOME="/nonexistent", XDG_STATE_HOME="/nonexistent")
        env.pop("SMIMEPUB_PASSWORD", None)
        proc = subprocess.Popen([binary] + self.conn("-y", "-"), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, **user)
        try:
            owner = None
            for _ in range(200):
                with open("/proc/%d/status" % proc.pid) as fp:
                    status = fp.read()
                if "smimepub" in status.split("\n", 1)[0] and \
                        os.stat("/proc/%d/status" % proc.pid).st_uid == 0:
                    owner = 0
                    break
                time.sleep(0.05)
            self.assertEqual(owner, 0, "/proc/%d is not root's: the process is dumpable"
                             % proc.pid)
            out, err = proc.communicate(SECRET + "\n", timeout=30)
        finally:
            proc.kill()
            proc.wait()
        self.assertIn("refusing to send the password", err)

    def test_plaintext_guard_every_sasl_spelling(self):
        env = {"SMIMEPUB_PASSWORD": SECRET}
        for mech in ("PLAIN", "PLAIN ", " plain", "plain", "Login", "LOGIN\t",
                     "GSSAPI PLAIN", "GSSAPI,plain", "", " ", "XOAUTH2"):
            r = self.refused(["-H", FAR, "-Y", mech, "lookup", "a@partner.example"],
                             "refusing to send the password", env=env)
            self.assertIn("in clear to 'ldap://192.0.2.1", r.err)


if __name__ == "__main__":
    smptest.main()
