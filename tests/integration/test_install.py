"""The library as a product: `meson install` of this build into a temporary DESTDIR, then
examples/publish_and_audit.c built against the installed tree through pkg-config alone and run
against the test slapd.

Checks: the installed layout (binary, man page, headers, libsmimepub.so.0.1.0 and its links,
smimepub.pc); the soname; that the shared library exports the public API and nothing internal
(lib/parallel: workers_*, buf_*, rd_*, entry_batch*); that each installed header compiles on
its own with -Wall -Wextra -Werror and includes no header that is not installed; that the
example links libsmimepub.so.0 (not a static copy); and that it publishes a certificate onto
its contact and prints the audit's summary.

When the build is sanitized (b_sanitize, SMIMEPUB_SANITIZE; or found in the installed library
itself) the example is compiled with the same -fsanitize flags: the sanitizer runtime must be
loaded by the program, before the library that needs it.
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
from smptest import Directory, T0, der_of, pki  # noqa: E402

BUILDDIR = os.environ.get("SMIMEPUB_BUILDDIR", "")
SRCDIR = smptest.SRCDIR
CC = os.environ.get("SMIMEPUB_CC", "cc").split()
PUBLIC_HEADERS = sorted(f for f in os.listdir(os.path.join(SRCDIR, "include", "smimepub"))
                        if f.endswith(".h"))
INTERNAL = re.compile(r"^(workers_|buf_|rd_|entry_batch)")

_TMP = tempfile.mkdtemp(prefix="smp-install-")
STAGE = os.path.join(_TMP, "stage")
_inst = {}


def sh(argv, check=True, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (rc %d):\n%s%s" % (" ".join(argv), proc.returncode,
                                                          proc.stdout, proc.stderr))
    return proc


def find(name):
    """Paths under the staged tree whose file name is name."""
    return sorted(os.path.join(d, name) for d, dirs, files in os.walk(STAGE)
                  if name in files or name in dirs)


def installed():
    """Installs the build once into STAGE; returns the paths the tests use."""
    if _inst:
        return _inst
    if not BUILDDIR:
        raise RuntimeError("SMIMEPUB_BUILDDIR is not set: run through meson test")
    # --no-rebuild: meson test has built everything; never run ninja from inside a test
    sh(["meson", "install", "--no-rebuild", "--quiet", "-C", BUILDDIR, "--destdir", STAGE])
    pcs = find("smimepub.pc")
    if len(pcs) != 1:
        raise AssertionError("smimepub.pc installed %d times: %s" % (len(pcs), pcs))
    pcdir = os.path.dirname(pcs[0])
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
    if not os.path.realpath(sh(["pkg-config", "--variable=prefix", "smimepub"], env=env)
                            .stdout.strip()).startswith(os.path.realpath(STAGE)):
        # a build configured without pkgconfig.relocatable: point a copy into the stage
        pcdir = os.path.join(_TMP, "pc")
        os.makedirs(pcdir)
        text = open(pcs[0]).read()
        text = re.sub(r"^prefix=(.*)$", lambda m: "prefix=" + STAGE + m.group(1), text,
                      count=1, flags=re.M)
        with open(os.path.join(pcdir, "smimepub.pc"), "w") as fp:
            fp.write(text)
        env["PKG_CONFIG_PATH"] = pcdir
    flags = sh(["pkg-config", "--cflags", "--libs", "smimepub"], env=env).stdout.split()
    cflags = sh(["pkg-config", "--cflags", "smimepub"], env=env).stdout.split()
    libdir = sh(["pkg-config", "--variable=libdir", "smimepub"], env=env).stdout.strip()
    _inst.update(pcdir=pcdir, flags=flags, cflags=cflags, libdir=os.path.realpath(libdir),
                 lib=os.path.join(os.path.realpath(libdir), "libsmimepub.so.0.1.0"))
    return _inst


def sanitize_flags(lib):
    """-fsanitize=... for a program that loads lib: what the build used (SMIMEPUB_SANITIZE),
    and whatever the library itself needs (its NEEDED runtimes or undefined __asan_ symbols:
    the runtime must come first, with the program)."""
    wanted = set()
    opt = os.environ.get("SMIMEPUB_SANITIZE", "none")
    if opt and opt != "none":
        wanted.update(opt.split(","))
    dyn = sh(["readelf", "-d", lib]).stdout
    undef = sh(["nm", "-D", "--undefined-only", lib]).stdout
    if "libasan.so" in dyn or "__asan_" in undef:
        wanted.add("address")
    if "libubsan.so" in dyn or "__ubsan_" in undef:
        wanted.add("undefined")
    return ["-fsanitize=" + ",".join(sorted(wanted))] if wanted else []


def exported(path):
    """The dynamic symbols path defines (without the @@VERSION newer nm adds)."""
    out = sh(["nm", "-D", "--defined-only", path]).stdout
    return [line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()]


class Layout(unittest.TestCase):
    """What meson install puts where."""

    def test_installs_binary_library_headers_pc_and_man_page(self):
        inst = installed()
        self.assertEqual(len(find("smimepub")), 1 + 1, "bin/smimepub and include/smimepub")
        self.assertTrue(any(p.endswith("/bin/smimepub") and os.access(p, os.X_OK)
                            for p in find("smimepub")))
        self.assertTrue(any(p.endswith("/share/man/man1/smimepub.1") for p in find("smimepub.1")))
        # the hourly audit's units, in systemd's unit directory (-Dsystemdunitdir)
        for unit in ("smimepub-audit.service", "smimepub-audit.timer", "smimepub-serve.service",
                     "smimepub-harvest.service"):
            self.assertTrue(any(p.endswith("/systemd/system/" + unit) for p in find(unit)), unit)
        # the bash completion the program wrote from its option table
        comp = find("smimepub.bash")
        self.assertTrue(any(p.endswith("/bash-completion/completions/smimepub.bash")
                            for p in comp), comp)
        with open(comp[0]) as fp:
            self.assertIn("complete -F _smimepub smimepub", fp.read())
        self.assertTrue(os.path.isfile(inst["lib"]), inst["lib"])
        libdir = inst["libdir"]
        self.assertEqual(os.readlink(os.path.join(libdir, "libsmimepub.so.0")),
                         "libsmimepub.so.0.1.0")
        self.assertEqual(os.readlink(os.path.join(libdir, "libsmimepub.so")), "libsmimepub.so.0")
        incdir = [p for p in find("smimepub") if os.path.isdir(p)][0]
        self.assertTrue(incdir.endswith("/include/smimepub"), incdir)
        self.assertEqual(sorted(os.listdir(incdir)), PUBLIC_HEADERS)
        self.assertFalse(find("libsmimepub.a"), "the internal static library is not installed")

    def test_soname(self):
        dyn = sh(["readelf", "-d", installed()["lib"]]).stdout
        self.assertRegex(dyn, r"\(SONAME\)\s+Library soname: \[libsmimepub\.so\.0\]")

    def test_pkg_config(self):
        env = dict(os.environ, PKG_CONFIG_PATH=installed()["pcdir"])
        self.assertEqual(sh(["pkg-config", "--modversion", "smimepub"], env=env).stdout.strip(),
                         "0.1.0")
        self.assertIn("-lsmimepub", installed()["flags"])

    def test_exports_only_the_public_api(self):
        syms = [s for s in exported(installed()["lib"]) if s != "SMIMEPUB_0"]
        internal = [s for s in syms if INTERNAL.match(s)]
        self.assertEqual(internal, [], "internal symbols exported")
        self.assertEqual([s for s in syms if not s.startswith("smp_")], [])
        for s in ("smp_dir_open", "smp_plan_publish", "smp_audit_entry_run", "smp_profile_ad"):
            self.assertIn(s, syms)
        versioned = sh(["objdump", "-T", installed()["lib"]]).stdout
        self.assertRegex(versioned, r"SMIMEPUB_0\s+smp_dir_open\b")


class Headers(unittest.TestCase):
    """Each installed header on its own, as a program would include it."""

    def test_each_header_compiles_alone(self):
        inst = installed()
        for h in PUBLIC_HEADERS:
            with self.subTest(header=h):
                src = os.path.join(_TMP, "alone-%s.c" % h[:-2])
                with open(src, "w") as fp:
                    # twice: the include guard holds
                    fp.write("#include <smimepub/%s>\n#include <smimepub/%s>\n"
                             "int main(void) { return 0; }\n" % (h, h))
                sh(CC + ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", src]
                   + inst["cflags"])

    @unittest.skipUnless(shutil.which("c++"), "no C++ compiler")
    def test_main_header_from_cplusplus(self):
        # C++ programs link the C library: every declaration inside extern "C"
        inst = installed()
        src = os.path.join(_TMP, "cplusplus.cc")
        with open(src, "w") as fp:
            fp.write("#include <smimepub/smimepub.h>\n"
                     "int main() { smp_error e = SMP_ERROR_INIT; (void)e;\n"
                     "  return smp_status_worse(0, 1) == 1 ? 0 : 1; }\n")
        exe = os.path.join(_TMP, "cplusplus")
        sh(["c++", "-Wall", "-Werror"] + sanitize_flags(inst["lib"]) + ["-o", exe, src]
           + inst["flags"])
        env = dict(os.environ, LD_LIBRARY_PATH=inst["libdir"])
        self.assertEqual(subprocess.run([exe], env=env).returncode, 0)

    def test_headers_include_only_public_headers(self):
        for h in PUBLIC_HEADERS:
            text = open(os.path.join(SRCDIR, "include", "smimepub", h)).read()
            for inc in re.findall(r'^\s*#\s*include\s+([<"][^>"]+[>"])', text, re.M):
                name = inc[1:-1]
                if name.startswith("smimepub/"):
                    self.assertIn(name[9:], PUBLIC_HEADERS, "%s includes %s" % (h, inc))
                else:
                    self.assertEqual(inc[0], "<", "%s includes %s (not installed)" % (h, inc))

    def test_main_header_includes_every_header(self):
        text = open(os.path.join(SRCDIR, "include", "smimepub", "smimepub.h")).read()
        for h in PUBLIC_HEADERS:
            if h != "smimepub.h":
                self.assertIn('#include "smimepub/%s"' % h, text)


class Example(unittest.TestCase):
    """examples/publish_and_audit.c against the installed library and the test slapd."""

    @classmethod
    def setUpClass(cls):
        inst = installed()
        cls.exe = os.path.join(_TMP, "publish_and_audit")
        cls.sanitize = sanitize_flags(inst["lib"])
        sh(CC + ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g"] + cls.sanitize +
           ["-o", cls.exe, os.path.join(SRCDIR, "examples", "publish_and_audit.c")]
           + inst["flags"])
        cls.env = dict(os.environ, LD_LIBRARY_PATH=inst["libdir"], LDAPNOINIT="1",
                       XDG_STATE_HOME=_TMP)

    def test_links_the_shared_library(self):
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]",
                            sh(["readelf", "-d", self.exe]).stdout)
        self.assertIn("libsmimepub.so.0", needed)
        self.assertEqual([s for s in exported(self.exe) if s.startswith("smp_")], [])
        defined = sh(["nm", "--defined-only", self.exe]).stdout
        self.assertNotRegex(defined, r"\b[Tt] (smp_|workers_)", "a static copy was linked")
        ldd = sh(["ldd", self.exe], env=self.env).stdout
        self.assertIn(os.path.join(installed()["libdir"], "libsmimepub.so.0"), ldd)

    def test_usage(self):
        proc = sh([self.exe], check=False, env=self.env)
        self.assertEqual(proc.returncode, 64, proc.stderr)
        self.assertIn("usage: publish_and_audit", proc.stderr)

    def test_publishes_and_audits(self):
        d = Directory("slapd")
        ou = d.make_ou("install-example")
        try:
            dn = d.add_contact(ou, "Alice Installed", mail="alice@partner.example")
            # a second entry with a certificate already, so the audit counts more than one
            d.add_contact(ou, "Bob Old", mail="bob@partner.example",
                          certs=[der_of("alice-old-expired.pem")])
            writer, writer_pw = d.writer  # the delegated account: userCertificate only
            journal = os.path.join(_TMP, "journal.ldif")
            argv = [self.exe, "-H", d.uri, "-D", writer, "-y", d.pwfile(writer_pw), "-b", ou,
                    "--ca-file", pki("root.pem"), "--at", T0, "--journal", journal,
                    pki("alice-chain.pem")]
            proc = sh(argv, check=False, env=self.env)
            self.assertEqual(proc.returncode, 0, proc)
            out = proc.stdout.splitlines()
            self.assertEqual(out[0], "publish alice@partner.example: published")
            self.assertEqual(out[1].strip().lower(), dn.lower())
            self.assertEqual(d.certs(dn), [der_of("alice.pem")])
            self.assertIn(dn.lower(), open(journal).read().lower())
            # Bob's entry: the expired certificate (critical), whose address is not the entry's
            self.assertRegex(out[2], r"^audit %s: 2 entries, 2 values, [1-9]\d* critical, "
                             r"\d+ warnings$" % re.escape(ou))
            codes = dict(line.split() for line in out[3:])
            self.assertEqual(codes.get("expired"), "1", out)

            # again: already there, nothing written, same audit
            proc = sh(argv, check=False, env=self.env)
            self.assertEqual(proc.returncode, 0, proc)
            self.assertEqual(proc.stdout.splitlines()[0],
                             "publish alice@partner.example: unchanged already_published")
            self.assertEqual(proc.stdout.splitlines()[2], out[2])
            self.assertEqual(d.certs(dn), [der_of("alice.pem")])
        finally:
            d.delete_tree(ou)

    def test_missing_entry_is_an_error(self):
        d = Directory("slapd")
        ou = d.make_ou("install-none")
        try:
            proc = sh([self.exe, "-H", d.uri, "-D", d.admin_dn, "-y", d.pwfile(), "-b", ou,
                       "--ca-file", pki("root.pem"), "--at", T0, pki("alice-chain.pem")],
                      check=False, env=self.env)
            # the engine reports it as an item: failed, not_found, and the exit status 1
            self.assertEqual(proc.returncode, 1, proc)
            self.assertEqual(proc.stdout.splitlines()[0],
                             "publish alice@partner.example: failed not_found", proc)
            self.assertIn("no entry has the address 'alice@partner.example'", proc.stdout)
        finally:
            d.delete_tree(ou)


def tearDownModule():
    shutil.rmtree(_TMP, ignore_errors=True)


if __name__ == "__main__":
    smptest.main()
