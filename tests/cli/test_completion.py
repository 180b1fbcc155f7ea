"""The bash completion script (`smimepub --bash-completion`, installed by meson) against the
option table as the program itself shows it in `--help`: for every command, completing `--`
offers exactly the options `smimepub COMMAND --help` lists; the commands, ca's subcommands,
the words of a "a|b|c" argument and file arguments complete; the script is valid bash. Driven
through bash's own programmable completion variables (COMP_WORDS, COMP_CWORD, COMPREPLY)."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import smptest
from smptest import run

_TMP = tempfile.mkdtemp(prefix="smp-completion-")
SCRIPT = os.path.join(_TMP, "smimepub.bash")


def setUpModule():
    r = run(["--bash-completion"])
    if r.rc != 0:
        raise AssertionError(r)
    with open(SCRIPT, "w") as fp:
        fp.write(r.out)


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


def complete(*words, cwd=None):
    """What completing the last word of `smimepub WORDS...` offers."""
    quoted = " ".join("'%s'" % w.replace("'", "'\\''") for w in ("smimepub",) + words)
    prog = ('source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_smimepub\n'
            'printf "%%s\\n" "${COMPREPLY[@]}"\n' % (SCRIPT, quoted, len(words)))
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True,
                         text=True, cwd=cwd, check=True).stdout
    return sorted(w for w in out.split("\n") if w)


def help_options(cmd=None):
    """The long and short options --help shows (for one command)."""
    r = run(([cmd] if cmd else []) + ["--help"])
    assert r.rc == 0, r
    lines = [l for l in r.out.splitlines() if re.match(r"\s+(-\w, )?--", l)]
    opts = set()
    for l in lines:
        m = re.match(r"\s+(?:-(\w), )?--([\w-]+)", l)
        opts.add("--" + m.group(2))
        if m.group(1):
            opts.add("-" + m.group(1))
    return sorted(opts)


def commands():
    r = run(["--help"])
    block = r.out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return sorted(l.split()[0] for l in block.splitlines() if l.strip())


class Completion(unittest.TestCase):
    def test_valid_bash(self):
        subprocess.run(["bash", "-n", SCRIPT], check=True)

    def test_commands(self):
        self.assertEqual(complete(""), commands())
        self.assertEqual(complete("au"), ["audit"])
        # after options, and after an option's argument that looks like a command
        self.assertEqual(complete("-H", "ldap://x", "--format", "json", "pu"), ["publish"])

    def test_each_commands_options_are_its_help(self):
        for cmd in commands():
            with self.subTest(cmd=cmd):
                self.assertEqual(complete(cmd, "-"), help_options(cmd))
        self.assertEqual(complete("--"), sorted(o for o in help_options() if o.startswith("--")))
        # options before the command do not hide it
        self.assertEqual(complete("-v", "prune", "--se"), ["--select"])

    def test_argument_words_from_the_table(self):
        # the words --help shows for --format (text|json|csv|...), whatever they are now
        shown = re.search(r"^\s+--format ([\w|]+)(?: |$)", run(["--help"]).out,
                          re.M).group(1).split("|")
        self.assertIn("json", shown)
        self.assertEqual(complete("audit", "--format", ""), sorted(shown))
        self.assertEqual(complete("--schema", "a"), ["ad", "auto"])
        self.assertEqual(complete("publish", "--fingerprint", ""), [])

    def test_files_and_ca_subcommands(self):
        d = tempfile.mkdtemp(dir=_TMP)
        for name in ("alice.pem", "bob.cer"):
            open(os.path.join(d, name), "w").close()
        os.mkdir(os.path.join(d, "certs"))
        self.assertEqual(complete("publish", "al", cwd=d), ["alice.pem"])
        self.assertEqual(complete("--ca-file", "b", cwd=d), ["bob.cer"])
        self.assertEqual(complete("audit", "--ca-dir", "", cwd=d), ["certs"])
        self.assertEqual(complete("ca", ""), ["list", "publish", "remove"])
        self.assertEqual(complete("ca", "publish", "bo", cwd=d), ["bob.cer"])
        self.assertEqual(complete("ca", "list", "", cwd=d), [])
        self.assertEqual(complete("lookup", "", cwd=d), [])  # addresses, not files


if __name__ == "__main__":
    smptest.main()
