"""Shared helpers for smimepub's CLI and integration tests (Python standard library only).

The tests run the real `smimepub` binary (env SMIMEPUB) and, for integration tests, the real
slapd and Samba AD started by tests/dirs/*.sh; their env files are named by SMIMEPUB_SLAPD_ENV
and SMIMEPUB_AD_ENV (tests/run.sh sets them). Missing directories make integration tests FAIL.
"""
import base64
import datetime
import functools
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import unittest

BIN = os.environ.get("SMIMEPUB", "smimepub")
PKI = os.environ.get("SMIMEPUB_PKI", "")
SRCDIR = os.environ.get("SMIMEPUB_SRCDIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
T0 = "2026-06-01T00:00:00Z"


def pki(name):
    """Path of a file of the generated test PKI."""
    return os.path.join(PKI, name)


@functools.lru_cache(maxsize=None)
def der_of(name):
    """DER bytes of a PEM certificate of the test PKI (converted once per run)."""
    out = subprocess.run(["openssl", "x509", "-in", pki(name), "-outform", "DER"],
                         check=True, capture_output=True)
    return out.stdout


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        """The JSON Lines of stdout as a list of objects."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self):
        return "rc=%d\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.out, self.err)


def expect_slapd_shutdowns():
    """For a test module whose runs see slapd shut down under them (SIGTERM): libldap 2.5
    leaks the BerElement of the Notice of Disconnection slapd sends to a search it cuts off
    (libraries/libldap/result.c, try_read1msg returns -1 without ber_free; still so upstream).
    tests/lsan.supp names that allocation by ldap_alloc_ber_with_options, a frame the fast
    unwinder never reaches through liblber (built without frame pointers), so the slow unwinder
    is switched on here only, and the suppression cannot hide a BerElement leak of ours in the
    rest of the suite."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    if "fast_unwind_on_malloc" not in opts:
        os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "fast_unwind_on_malloc=0"


def run(args, env=None, stdin=None, timeout=600):
    """Runs smimepub with args; returns a Result (text mode)."""
    e = dict(os.environ)
    e.pop("SMIMEPUB_PASSWORD", None)
    e["XDG_STATE_HOME"] = e.get("SMIMEPUB_TEST_STATE", tempfile.gettempdir())
    e["LDAPNOINIT"] = "1"  # ignore the machine's ldap.conf unless a test sets it
    if env:
        e.update(env)
        for k, v in list(e.items()):
            if v is None:
                del e[k]
    proc = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, text=True,
                          env=e, timeout=timeout)
    return Result(proc)


def load_env(var, path=None):
    """KEY=VALUE pairs of a test directory's env file: path, or the one named by environment
    variable var."""
    path = path or os.environ.get(var)
    if not path or not os.path.exists(path):
        # an error, never a skip: integration tests must not pass without their directories
        raise RuntimeError("%s is not set: start the test directories with tests/run.sh" % var)
    env = {}
    with open(path) as fp:
        for line in fp:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            if v[:1] in "'\"" and v[-1:] == v[:1]:
                v = v[1:-1]
            if k.startswith("export "):
                k = k[7:]
            env[k] = v
    return env


class Directory:
    """One test directory (slapd or Samba AD) with admin credentials and ldap-utils wrappers."""

    def __init__(self, kind, env_file=None):
        """kind 'slapd' or 'ad'; env_file: another instance's env file than the shared one's."""
        self.kind = kind
        if kind == "slapd":
            env = load_env("SMIMEPUB_SLAPD_ENV", env_file)
            self.uri = env["SLAPD_URI"]
            self.ldaps_uri = env.get("SLAPD_LDAPS_URI")
            self.ldapi_uri = env.get("SLAPD_LDAPI_URI")
            self.base = env["SLAPD_BASE"]
            self.admin_dn = env["SLAPD_ROOTDN"]
            self.admin_pw = env["SLAPD_ROOTPW"]
            self.cacert = env.get("SLAPD_CACERT")
            self.partners = "ou=partners," + self.base
            self.writer = ("cn=certwriter,ou=svc," + self.base, "certwriter")
            self.reader = ("cn=reader,ou=svc," + self.base, "reader")
            self.cert_attr = "userCertificate;binary"
        else:
            env = load_env("SMIMEPUB_AD_ENV", env_file)
            self.uri = env["AD_URI"]
            self.ldaps_uri = env.get("AD_LDAPS_URI")
            self.ldapi_uri = None
            self.base = env["AD_BASE"]
            self.admin_dn = env["AD_ADMIN_DN"]
            self.admin_pw = env["AD_ADMIN_PW"]
            self.cacert = env.get("AD_CACERT")
            self.partners = "OU=Partners," + self.base
            self.writer = (env.get("AD_WRITER_DN"), env.get("AD_WRITER_PW"))
            self.reader = (env.get("AD_READER_DN"), env.get("AD_READER_PW"))
            self.cert_attr = "userCertificate"
        self.env = env
        self._pwfile = None

    def pwfile(self, password=None):
        """A file holding the password (for -y)."""
        fd, path = tempfile.mkstemp(prefix="smp-pw-")
        with os.fdopen(fd, "w") as fp:
            fp.write(password if password is not None else self.admin_pw)
        return path

    def conn_args(self, binddn=None, password=None):
        """smimepub connection options for an admin (or the given) simple bind."""
        return ["-H", self.uri, "-b", self.base, "-D", binddn or self.admin_dn,
                "-y", self.pwfile(password if binddn else None)]

    def _ldap_env(self):
        e = dict(os.environ)
        e["LDAPNOINIT"] = "1"
        if self.cacert:
            e["LDAPTLS_CACERT"] = self.cacert
        return e

    def ldapmodify(self, ldif, check=True, extra=()):
        """Applies LDIF text with ldapmodify as admin; returns CompletedProcess."""
        proc = subprocess.run(["ldapmodify", "-x", "-H", self.uri, "-D", self.admin_dn,
                               "-w", self.admin_pw] + list(extra),
                              input=ldif.encode() if isinstance(ldif, str) else ldif,
                              capture_output=True, env=self._ldap_env())
        if check and proc.returncode != 0:
            raise AssertionError("ldapmodify failed: %s\n%s" % (proc.stderr.decode(), ldif))
        return proc

    def search(self, base, scope="base", filt="(objectClass=*)", attrs=()):
        """ldapsearch -LLL as admin; returns {dn: {attr_lower: [bytes values]}}."""
        proc = subprocess.run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.uri,
                               "-D", self.admin_dn, "-w", self.admin_pw, "-b", base,
                               "-s", scope, filt] + list(attrs),
                              capture_output=True, env=self._ldap_env())
        if proc.returncode == 32:
            return {}
        if proc.returncode != 0:
            raise AssertionError("ldapsearch failed: %s" % proc.stderr.decode())
        return parse_ldif(proc.stdout)

    def certs(self, dn):
        """The entry's userCertificate values (DER bytes) in directory order."""
        entry = self.search(dn, attrs=["userCertificate", "userCertificate;binary"]).get(dn, {})
        vals = []
        for k, v in entry.items():
            if k.split(";")[0] == "usercertificate":
                vals.extend(v)
        return vals

    def make_ou(self, name):
        """Creates (fresh) an OU for one test under the partners OU; returns its DN."""
        dn = ("ou=%s," % name if self.kind == "slapd" else "OU=%s," % name) + self.partners
        self.delete_tree(dn)
        self.ldapmodify("dn: %s\nchangetype: add\nobjectClass: organizationalUnit\nou: %s\n"
                        % (dn, name))
        return dn

    def delete_tree(self, dn):
        subprocess.run(["ldapdelete", "-x", "-r", "-H", self.uri, "-D", self.admin_dn,
                        "-w", self.admin_pw, dn], capture_output=True, env=self._ldap_env())

    def add_contact(self, parent, cn, mail=None, proxies=(), certs=(), extra=""):
        """Adds a mail-enabled contact (AD-like on both servers); returns its DN."""
        self.ldapmodify(self.contact_ldif(parent, cn, mail, proxies, certs, extra))
        return self.contact_dn(parent, cn)

    def contact_dn(self, parent, cn):
        return "cn=%s,%s" % (cn, parent) if self.kind == "slapd" else "CN=%s,%s" % (cn, parent)

    def contact_ldif(self, parent, cn, mail=None, proxies=(), certs=(), extra=""):
        """The LDIF change record add_contact applies (to add many with one ldapmodify)."""
        dn = self.contact_dn(parent, cn)
        lines = ["dn: " + dn, "changetype: add", "objectClass: top"]
        if self.kind == "slapd":
            lines.append("objectClass: contact")
        else:
            lines += ["objectClass: person", "objectClass: organizationalPerson",
                      "objectClass: contact"]
        lines.append("cn: " + cn)
        if mail:
            lines.append("mail: " + mail)
        for p in proxies:
            lines.append("proxyAddresses: " + p)
        for c in certs:
            lines.append("%s:: %s" % (self.cert_attr, base64.b64encode(c).decode()))
        if extra:
            lines.append(extra.rstrip("\n"))
        return "\n".join(lines) + "\n"


def parse_ldif(data):
    """Minimal reader for ldapsearch -LLL -o ldif-wrap=no output (test side only)."""
    entries = {}
    dn = None
    for raw in data.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line:
            dn = None
            continue
        if line.startswith(b"#"):
            continue
        key, _, rest = line.partition(b":")
        if rest.startswith(b":"):
            value = base64.b64decode(rest[1:].strip())
        else:
            value = rest[1:] if rest.startswith(b" ") else rest
        k = key.decode().lower()
        if k == "dn":
            dn = value.decode()
            entries[dn] = {}
            continue
        entries[dn].setdefault(k, []).append(value)
    return entries


LDIF_BASE = "ou=partners,dc=example,dc=test"


def fold(line, width=76):
    """Folds an LDIF line the way ldifde and ldapsearch do: width columns, then ' ' + rest."""
    out = [line[:width]]
    rest = line[width:]
    while rest:
        out.append(" " + rest[:width - 1])
        rest = rest[width - 1:]
    return out


class LdifEntry:
    """An entry of a test LDIF export: cn under base, mail, proxyAddresses, certificates
    (test PKI file names or DER bytes) and userSMIMECertificate values."""

    def __init__(self, cn, mail=None, proxies=(), certs=(), smime=(), base=LDIF_BASE):
        self.cn = cn
        self.dn = "cn=%s,%s" % (cn, base)
        self.mail = mail
        self.proxies = list(proxies)
        self.certs = [der_of(c) if isinstance(c, str) else c for c in certs]
        self.smime = [der_of(c) if isinstance(c, str) else c for c in smime]


def ldapsearch_style(entries):
    """What `ldapsearch -LLL` prints: LF, folded at 76, userCertificate;binary, a refldap."""
    lines = ["# extended LDIF", "#", "# LDAPv3", ""]
    for e in entries:
        rec = ["dn: " + e.dn, "objectClass: top", "objectClass: contact", "cn: " + e.cn]
        if e.mail:
            rec.append("mail: " + e.mail)
        rec += ["proxyAddresses: " + p for p in e.proxies]
        rec += ["userCertificate;binary:: " + base64.b64encode(c).decode() for c in e.certs]
        rec += ["userSMIMECertificate:: " + base64.b64encode(c).decode() for c in e.smime]
        for r in rec:
            lines += fold(r)
        lines.append("")
    lines += ["# refldap://example.test/CN=Configuration,DC=example,DC=test", ""]
    return "\n".join(lines).encode()


def write_export(directory, name, entries):
    """An ldapsearch-style export of entries as DIRECTORY/NAME.ldif; returns its path."""
    path = os.path.join(directory, name + ".ldif")
    with open(path, "wb") as fp:
        fp.write(ldapsearch_style(list(entries)))
    return path


def ldifde_dn(dn):
    """A DN as ldifde spells it: upper-case attribute types."""
    return dn.replace("cn=", "CN=").replace("ou=", "OU=").replace("dc=", "DC=")


def ldifde_style(entries):
    """What Windows `ldifde -f` writes: CRLF, changetype: add, userCertificate::, any case."""
    lines = []
    for e in entries:
        rec = ["dn: " + ldifde_dn(e.dn),
               "changetype: add", "objectClass: top", "objectClass: person",
               "objectClass: organizationalPerson", "objectClass: contact", "cn: " + e.cn,
               "distinguishedName: " + e.dn, "instanceType: 4",
               "whenCreated: 20260101000000.0Z"]
        if e.mail:
            rec.append("mail: " + e.mail)
        rec += ["proxyAddresses: " + p for p in e.proxies]
        rec += ["userCertificate:: " + base64.b64encode(c).decode() for c in e.certs]
        rec += ["userSMIMECertificate:: " + base64.b64encode(c).decode() for c in e.smime]
        rec.append("objectGUID:: " + base64.b64encode(os.urandom(16)).decode())
        for r in rec:
            lines += fold(r)
        lines.append("")
    return ("\r\n".join(lines) + "\r\n").encode()


# A moment make_named_cert's certificates are valid at (a day after they were made).
NAMED_CERT_AT = (datetime.datetime.now(datetime.timezone.utc) +
                 datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

_NAMED_CERT_EXT = ("[ ext ]\nbasicConstraints = critical,CA:FALSE\n"
                   "keyUsage = critical,digitalSignature,keyAgreement\n"
                   "extendedKeyUsage = emailProtection\n"
                   "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n")


def make_named_cert(rdns, tmpdir):
    """A leaf with no address issued by the test PKI's intermediate (in a new directory under
    tmpdir) whose subject is exactly rdns: RDNs in DER order (root first), each a list of
    (type, UTF-8 value) -- several make a multi-valued RDN. `openssl x509 -req` keeps the
    request's subject as it is (`openssl ca` splits a multi-valued RDN into one RDN per
    value), but its validity starts now: judge it at NAMED_CERT_AT, not T0.
    Returns (pem path, DER bytes)."""
    d = tempfile.mkdtemp(prefix="dn-", dir=tmpdir)
    ext, keyf, req, out = (os.path.join(d, n) for n in ("ext.cnf", "k.pem", "r.pem", "c.pem"))
    with open(ext, "w") as fp:
        fp.write(_NAMED_CERT_EXT)
    # openssl's -subj: '/' between RDNs, '+' between a multi-valued RDN's AVAs, '\' escapes
    subj = "".join("/" + "+".join("%s=%s" % (t, re.sub(r"([\\/+])", r"\\\1", v)) for t, v in rdn)
                   for rdn in rdns)
    subprocess.run(["openssl", "req", "-new", "-nodes", "-utf8", "-keyout", keyf, "-out", req,
                    "-subj", subj, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", req, "-CA", pki("intermediate.pem"),
                    "-CAkey", pki("intermediate.key"), "-set_serial",
                    "0x" + secrets.token_hex(12), "-days", "30", "-sha256", "-extfile", ext,
                    "-extensions", "ext", "-out", out], check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", out, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return out, der


def audit_findings(records):
    """{(dn lower, index or None): sorted codes} over audit's certificate and entry records."""
    out = {}
    for r in records:
        if r.get("type") == "certificate":
            key = (r["dn"].lower(), r["index"])
        elif r.get("type") == "entry":
            key = (r["dn"].lower(), None)
        else:
            continue
        out.setdefault(key, set()).update(p["code"] for p in r["problems"])
    return {k: sorted(v) for k, v in out.items()}


# name{labels} value, as the text format has it (labels: k="v" with \\, \" and \n escapes)
_PROM_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
                          r'(?:\{((?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$')
_PROM_LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\\n]|\\[\\"n])*)"')


def prom_samples(text):
    """{(name, frozenset(labels.items())): value} of a Prometheus textfile; every line must be
    # HELP, # TYPE or a sample, and no series may repeat (AssertionError otherwise)."""
    def unescape(v):
        return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)

    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = _PROM_SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset((k, unescape(v)) for k, v in _PROM_LABEL.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        assert key not in samples, "repeated series: %r" % line
        samples[key] = float(m.group(3))
    return samples


def promtool_check(test, path):
    """`promtool check metrics` on a textfile must exit 0 and say nothing (no lint problem);
    returns its samples (prom_samples)."""
    with open(path, "rb") as fp:
        chk = subprocess.run(["promtool", "check", "metrics"], stdin=fp, capture_output=True,
                             text=True)
    with open(path) as fp:
        text = fp.read()
    test.assertEqual((chk.returncode, chk.stdout + chk.stderr), (0, ""), text)
    return prom_samples(text)


def audit_summary(records):
    """The one summary record of an audit run."""
    s = [r for r in records if r.get("type") == "summary"]
    assert len(s) == 1, records
    return s[0]


def main():
    """unittest main that ends with a 'N passed, N failed' line."""
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print("%d passed, %d failed" % (result.testsRun - failed - len(result.skipped), failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)


def dn_key(dn):
    """A DN (RFC 4514 string) as [[(type, value)...]...] with escapes decoded and case folded,
    so two spellings of one DN compare equal ('cn=Smith\\2C John' and 'CN=Smith\\, John')."""
    rdns, avas, typ, cur, i = [], [], None, bytearray(), 0
    raw = dn.encode()
    while i <= len(raw):
        c = raw[i:i + 1]
        if c == b"\\":
            nxt = raw[i + 1:i + 3]
            if len(nxt) == 2 and all(ch in b"0123456789abcdefABCDEF" for ch in nxt):
                cur.append(int(nxt, 16))
                i += 3
            else:
                cur += raw[i + 1:i + 2]
                i += 2
            continue
        if c == b"=" and typ is None:
            typ, cur = cur.decode().strip().lower(), bytearray()
        elif c in (b",", b"+", b""):
            avas.append((typ, cur.decode().strip().lower()))
            typ, cur = None, bytearray()
            if c != b"+":
                rdns.append(sorted(avas))
                avas = []
        else:
            cur += c
        i += 1
    return rdns
