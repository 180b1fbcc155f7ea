"""The Debian package (debian/): built from a copy of the source tree with
`dpkg-buildpackage -us -uc -b`, checked with lintian (no error, no warning from groff about the
man page), the contents of each .deb checked, then installed on this machine with dpkg (CI runs
as root) and used: `smimepub --version`, `pkg-config --modversion smimepub`, and the systemd
units checked by `systemd-analyze verify` and `security`, after which the packages are purged.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402

SRCDIR = smptest.SRCDIR
PACKAGES = ("smimepub", "libsmimepub0", "libsmimepub-dev")


def project_version():
    with open(os.path.join(SRCDIR, "meson.build")) as fp:
        return re.search(r"version : '([^']+)'", fp.read()).group(1)


def source_copy(dest):
    """The tracked and new files of the tree (no build directories, no .git)."""
    if os.path.isdir(os.path.join(SRCDIR, ".git")):
        files = subprocess.run(["git", "-C", SRCDIR, "ls-files", "-co", "--exclude-standard",
                                "-z"], check=True, capture_output=True).stdout.split(b"\0")
        for f in (x.decode() for x in files if x):
            src = os.path.join(SRCDIR, f)
            if not os.path.isfile(src) or f.startswith(("build", "obj-")):
                continue
            os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, f))
    else:
        shutil.copytree(SRCDIR, dest, ignore=shutil.ignore_patterns("build*", "obj-*"),
                        dirs_exist_ok=True)


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smp-deb-")
        cls.src = os.path.join(cls.tmp, "smimepub")
        source_copy(cls.src)
        cls.build = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=cls.src,
                                   capture_output=True, text=True)
        cls.version = project_version()
        arch = subprocess.run(["dpkg", "--print-architecture"], check=True,
                              capture_output=True, text=True).stdout.strip()
        cls.debs = {p: os.path.join(cls.tmp, "%s_%s_%s.deb" % (p, cls.version, arch))
                    for p in PACKAGES}
        cls.changes = os.path.join(cls.tmp, "smimepub_%s_%s.changes" % (cls.version, arch))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.build.returncode, 0, self.build.stdout[-4000:] +
                         self.build.stderr[-4000:])

    def contents(self, pkg):
        out = subprocess.run(["dpkg-deb", "-c", self.debs[pkg]], check=True,
                             capture_output=True, text=True).stdout
        # "perms owner size date time ./path" or, for a link, "... ./path -> target"
        return [line.split(" -> ")[0].split()[-1].lstrip(".") for line in out.splitlines()]

    def test_lintian_reports_no_errors(self):
        res = subprocess.run(["lintian", "--fail-on", "error", self.changes],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        tags = [line for line in res.stdout.splitlines() if re.match(r"[EW]: ", line)]
        self.assertEqual([t for t in tags if t.startswith("E: ")], [], res.stdout)
        # the man page as groff reads it: a line that starts with '.' is a macro and is lost
        self.assertEqual([t for t in tags if "groff-message" in t], [], res.stdout)

    def test_each_package_holds_its_part(self):
        files = {p: self.contents(p) for p in PACKAGES}
        self.assertIn("/usr/bin/smimepub", files["smimepub"])
        self.assertIn("/usr/share/man/man1/smimepub.1.gz", files["smimepub"])
        for unit in ("smimepub-audit.service", "smimepub-audit.timer", "smimepub-serve.service",
                     "smimepub-harvest.service"):
            self.assertIn("/lib/systemd/system/" + unit, files["smimepub"])
        self.assertIn("/usr/share/bash-completion/completions/smimepub.bash", files["smimepub"])
        so = [f for f in files["libsmimepub0"] if re.search(r"/libsmimepub\.so\.0[.\d]*$", f)]
        self.assertTrue(so, files["libsmimepub0"])
        dev = files["libsmimepub-dev"]
        self.assertTrue(any(f.endswith("/libsmimepub.so") for f in dev), dev)
        self.assertTrue(any(f.endswith("/pkgconfig/smimepub.pc") for f in dev), dev)
        self.assertIn("/usr/include/smimepub/engine.h", dev)
        # nothing of the test build or the fault injection in a release
        for p in PACKAGES:
            self.assertFalse([f for f in files[p] if "torture" in f or "/tests/" in f], p)
        tree = subprocess.run(["dpkg-deb", "--fsys-tarfile", self.debs["smimepub"]],
                              capture_output=True).stdout
        self.assertNotIn(b"SMIMEPUB_TORTURE", tree)

    def test_installs_and_runs(self):
        if os.geteuid() != 0:
            self.skipTest("installing packages needs root (CI runs as root)")
        self.addCleanup(subprocess.run, ["dpkg", "--purge"] + list(PACKAGES),
                        capture_output=True)
        res = subprocess.run(["dpkg", "-i"] + [self.debs[p] for p in PACKAGES],
                             capture_output=True, text=True,
                             env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        ver = subprocess.run(["/usr/bin/smimepub", "--version"], capture_output=True,
                             text=True)
        self.assertEqual(ver.returncode, 0, ver)
        self.assertIn(self.version, ver.stdout)
        mod = subprocess.run(["pkg-config", "--modversion", "smimepub"], capture_output=True,
                             text=True, env={k: v for k, v in os.environ.items()
                                             if not k.startswith("PKG_CONFIG")})
        self.assertEqual((mod.returncode, mod.stdout.strip()), (0, self.version), mod)
        # the units as installed: systemd finds nothing wrong (the binary, man page and every
        # directive), the timer is not enabled by the package, and the service's exposure
        # (systemd-analyze security) stays "OK" or better: at most 3.9 of 10
        units = ["/lib/systemd/system/smimepub-audit.service",
                 "/lib/systemd/system/smimepub-audit.timer",
                 "/lib/systemd/system/smimepub-serve.service",
                 "/lib/systemd/system/smimepub-harvest.service"]
        res = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True,
                             text=True)
        self.assertEqual((res.returncode, res.stdout + res.stderr), (0, ""), res)
        self.assertFalse(os.path.exists("/etc/systemd/system/timers.target.wants/"
                                        "smimepub-audit.timer"))
        for name in ("smimepub-serve.service", "smimepub-harvest.service"):
            self.assertFalse(os.path.exists("/etc/systemd/system/multi-user.target.wants/" + name))
        for service, most in ((units[0], 4.0), (units[2], 2.0), (units[3], 2.0)):
            res = subprocess.run(["systemd-analyze", "security", "--offline=yes", service],
                                 capture_output=True, text=True)
            level = re.search(r"Overall exposure level for \S+: ([\d.]+)", res.stdout)
            self.assertIsNotNone(level, res)
            self.assertLess(float(level.group(1)), most, res.stdout)
            with open(service) as fp:
                text = fp.read()
            for must in ("ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=yes"):
                self.assertIn(must, text)


if __name__ == "__main__":
    smptest.main()
