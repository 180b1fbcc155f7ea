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

    def test_bad_config_is_usage_error(self):
        tmp = tempfile.mkdtemp()
        conf = os.path.join(tmp, "config")
        with open(conf, "w") as fp:
            fp.write("no-such-option = 1\n")
        r = run(["--config", conf, "inspect", pki("alice.pem")])
        self.assertEqual(r.rc, 64, r)
        self.assertIn("no-such-option", r.err)


if __name__ == "__main__":
    smptest.main()
