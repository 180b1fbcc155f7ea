"""CLI tests of stopping (no directory needed): no command dies of SIGPIPE; audit into a closed
pipe or signalled mid-walk ends with its monitoring code 3; a read-only command whose output
went away stops (141) instead of reading on for nobody."""
import os
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from smptest import T0, pki  # noqa: E402
from smptest import LdifEntry as Entry, ldapsearch_style  # noqa: E402

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]
N = 3000


def start(args):
    e = dict(os.environ, LDAPNOINIT="1")
    return subprocess.Popen([smptest.BIN] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)


class Stop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smp-stop-")
        chunk = ldapsearch_style([Entry("x", "alice@partner.example",
                                        certs=["alice.pem"])]).decode()
        cls.ldif = os.path.join(cls.tmp, "many.ldif")
        with open(cls.ldif, "w") as fp:
            fp.write("".join(chunk.replace("cn=x,", "cn=x%d," % i) for i in range(N)))

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.tmp])

    def closed_after_one_line(self, args):
        proc = start(args)
        self.assertTrue(proc.stdout.readline())
        proc.stdout.close()  # as `smimepub ... | head -1`
        err = proc.stderr.read()
        proc.wait(timeout=120)
        return proc.returncode, err

    def test_audit_into_a_closed_pipe_exits_3(self):
        for jobs in ("1", "4"):  # in this process, and rendered by the analysis workers
            rc, err = self.closed_after_one_line(TRUST + ["audit", "--format", "json", "--jobs",
                                                          jobs, "--from-ldif", self.ldif])
            self.assertEqual(rc, 3, (jobs, err))  # never -SIGPIPE
            self.assertIn("audit stopped by a closed output", err)
            self.assertRegex(err, r"audit could not complete after \d+ entries: interrupted")

    def test_sigterm_and_sigint_stop_audit_with_3(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            proc = start(TRUST + ["audit", "--format", "json", "--jobs", "1", "--from-ldif",
                                  self.ldif])
            proc.stdout.readline()  # the walk is under way; the full pipe holds it there
            proc.send_signal(sig)
            # through the same file objects: communicate() reads the pipe itself and misses
            # what readline() already buffered, leaving the output to start mid-line
            out = proc.stdout.read()
            err = proc.stderr.read()
            proc.wait(timeout=120)
            self.assertEqual(proc.returncode, 3, err)
            summary = [x for x in smptest.Result(subprocess.CompletedProcess(
                proc.args, 3, out, err)).json() if x.get("type") == "summary"][0]
            self.assertFalse(summary["complete"])
            self.assertLess(summary["entries"], N)
            self.assertIn("audit stopped by %s" % sig.name, err)

    def test_inspect_into_a_closed_pipe_stops_141(self):
        rc, err = self.closed_after_one_line(TRUST + ["inspect", "--format", "json"] +
                                             [pki("alice.pem")] * N)
        self.assertEqual(rc, 141, err)  # 128 + SIGPIPE, as a shell reports it, not died of
        self.assertIn("inspect stopped by a closed output", err)


if __name__ == "__main__":
    smptest.main()
