"""Integration tests for `smimepub harvest imap[s]://` (SPEC section 9): the real binary against
a real Dovecot (tests/dirs/dovecot.sh, started here on loopback) and the real slapd and Samba AD.

Messages go in with IMAP APPEND (Python's imaplib) and every result is read back over IMAP:
the keyword $SmimeHarvested, the done and failed folders, \\Seen. The directory side is read with
ldapsearch. The test class is written once and runs for both directories; each test works in its
own OU and starts from an empty mailbox.
"""
import hashlib
import http.server
import imaplib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import smptest  # noqa: E402
from smptest import Directory, T0, der_of, pki, run  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_harvest import cms_sign, MAIL  # noqa: E402
import test_harvest  # noqa: E402
from test_torture import DOCUMENTED, SANITIZER, read_counts  # noqa: E402

A = "alice@partner.example"
B = "bob@partner.example"
KEYWORD = "$SmimeHarvested"
DOVECOT = os.path.join(smptest.SRCDIR, "tests", "dirs", "dovecot.sh")
STUB = os.path.join(smptest.SRCDIR, "tests", "dirs", "oauth2-stub.py")
_TMP = tempfile.mkdtemp(prefix="smp-imap-")
os.chmod(_TMP, 0o755)   # Dovecot's own processes (dovecot, nobody) read below it
_DIRS = {}
SERVERS = {}   # name -> env dict of a running Dovecot


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def load(path):
    env = {}
    with open(path) as fp:
        for line in fp:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip("'")
    return env


def _bindable(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _port_pair():
    """A port P with P and P+1 both free, below the kernel's ephemeral range: Dovecot listens
    on P (imap) and P+1 (imaps), and a port the kernel may hand to any outgoing connection of a
    test running beside this one (meson runs them in parallel) could be taken before Dovecot
    binds it, or while it is stopped for a restart."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fp:
            low = int(fp.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 12000)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10000, low - 2)
        if _bindable(port) and _bindable(port + 1):
            return port
    raise RuntimeError("no free pair of loopback ports below %d" % low)


def start_dovecot(name, port=None, **knobs):
    """Starts Dovecot as NAME; without PORT on a fresh free pair, tried again on another pair
    if the first is taken in the meantime."""
    d = os.path.join(_TMP, name)
    env = dict(os.environ, **knobs)
    tries = 1 if port is not None else 4
    for attempt in range(tries):
        p = port if port is not None else _port_pair()
        res = subprocess.run(["bash", DOVECOT, "start", d, str(p)], capture_output=True,
                             text=True, env=env, timeout=60)
        if res.returncode == 0:
            break
        if attempt == tries - 1:
            raise RuntimeError("dovecot.sh start %s %d failed (%d):\n%s%s"
                               % (d, p, res.returncode, res.stdout, res.stderr))
    SERVERS[name] = dict(load(os.path.join(d, "env")), DIR=d)
    return SERVERS[name]


def stop_dovecot(name):
    srv = SERVERS.pop(name, None)
    if srv:
        subprocess.run(["bash", DOVECOT, "stop", srv["DIR"]], capture_output=True, timeout=60)


class TokenStub:
    """tests/dirs/oauth2-stub.py on a free loopback port, checking tokens listed in a file."""

    def __init__(self):
        self.port = free_port()
        self.tokens = os.path.join(_TMP, "tokens")
        with open(self.tokens, "w") as fp:
            fp.write("token-one\n")
        self.proc = subprocess.Popen([sys.executable, STUB, "--port", str(self.port),
                                      "--tokens", self.tokens],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)

    def url(self):
        return "http://127.0.0.1:%d/introspect" % self.port

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


STUB_PROC = None


def setUpModule():
    global STUB_PROC
    test_harvest.setUpModule()   # the signed mail of test_harvest, made from the test PKI
    STUB_PROC = TokenStub()
    start_dovecot("main", DOVECOT_OAUTH2_URL=STUB_PROC.url())


def tearDownModule():
    for name in list(SERVERS):
        stop_dovecot(name)
    if STUB_PROC:
        STUB_PROC.stop()
    test_harvest.tearDownModule()
    shutil.rmtree(_TMP, ignore_errors=True)


def directory(kind):
    if kind not in _DIRS:
        _DIRS[kind] = Directory(kind)
    return _DIRS[kind]


def mail(name):
    return os.path.join(MAIL, name)


class Mailbox:
    """The test's side of the mailbox: imaplib over STARTTLS, verified against the test CA."""

    def __init__(self, srv):
        self.srv = srv

    def connect(self):
        ctx = ssl.create_default_context(cafile=self.srv["DOVECOT_CACERT"]) \
            if self.srv.get("DOVECOT_CACERT") and self.srv.get("DOVECOT_IMAPS_PORT") else None
        m = imaplib.IMAP4(self.srv["DOVECOT_HOST"], int(self.srv["DOVECOT_PORT"]))
        if ctx is not None:
            m.starttls(ctx)
        m.login(self.srv["DOVECOT_USER"], self.srv["DOVECOT_PASSWORD"])
        return m

    def reset(self):
        m = self.connect()
        typ, boxes = m.list()
        for line in boxes or []:
            # (\HasNoChildren) "." "Fehlgeschlagen &- gepr&APw-ft"
            name = re.match(rb'\([^)]*\) (?:"[^"]*"|NIL) (.*)$', line).group(1).decode()
            if name.startswith('"'):
                name = name[1:-1]
            if name.upper() != "INBOX":
                m.delete('"%s"' % name)
        m.select("INBOX")
        m.store("1:*", "+FLAGS.SILENT", "(\\Deleted)") if self.count("INBOX", m) else None
        m.expunge()
        m.logout()

    def append(self, *paths, data=None, box="INBOX", flags=None):
        m = self.connect()
        for p in paths:
            with open(p, "rb") as fp:
                m.append('"%s"' % box, flags, None, fp.read())
        if data is not None:
            m.append('"%s"' % box, None, None, data)
        m.logout()

    def count(self, box, m=None):
        own = m is None
        m = m or self.connect()
        typ, data = m.status('"%s"' % box, "(MESSAGES)")
        if own:
            m.logout()
        if typ != "OK":
            return None   # no such folder
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))

    def flags(self, box):
        """{message-id: set of flags} of every message in box."""
        m = self.connect()
        out = {}
        typ, exists = m.select('"%s"' % box, readonly=True)
        if typ != "OK":
            m.logout()
            return None
        if exists and exists[0] == b"0":
            m.logout()
            return out
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for item in data or []:
            if not isinstance(item, tuple):
                continue
            flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
            flags.discard("\\Recent")   # which session saw it first: not ours to judge
            mid = re.search(rb"<([^>]*)>", item[1])
            out[mid.group(1).decode() if mid else "?"] = flags
        m.logout()
        return out

    def folders(self):
        m = self.connect()
        typ, boxes = m.list()
        m.logout()
        return sorted(line.decode().rsplit(" ", 1)[-1].strip('"') for line in boxes or [])


class Watch:
    """smimepub harvest --watch in the background, its log lines collected as they come."""

    def __init__(self, test, argv, **extra_env):
        self.test = test
        env = dict(os.environ, LDAPNOINIT="1", **extra_env)
        env.update(XDG_STATE_HOME=os.environ.get("SMIMEPUB_TEST_STATE", tempfile.gettempdir()))
        self.proc = subprocess.Popen([smptest.BIN] + argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        t0 = time.time()
        for line in self.proc.stderr:
            self.lines.append("[%5.1f s] %s" % (time.time() - t0, line))

    def wait_for(self, pattern, timeout=30, joined=False):
        """Until a line (or with joined, the lines together) matches pattern."""
        end = time.time() + timeout
        while time.time() < end:
            if (re.search(pattern, "".join(self.lines)) if joined else
                    any(re.search(pattern, ln) for ln in self.lines)):
                return
            time.sleep(0.1)
        self.test.fail("no %r in %r" % (pattern, self.lines))

    def stop(self):
        """SIGTERM, as systemd stops it; its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self.thread.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Relay:
    """A loopback TCP relay in front of the directory that the test can cut (every connection
    closed, new ones refused: as when the network to a domain controller goes) and restore on
    the same port."""

    def __init__(self, uri):
        m = re.match(r"ldap://([^:/]+):?(\d*)", uri)
        self.target = (m.group(1), int(m.group(2) or 389))
        self.port = free_port()
        self.uri = "ldap://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.socks = []
        self.listener = None
        self.restore()

    def restore(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, 5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        if self.listener is not None:
            try:
                # a close alone leaves the socket listening while accept() blocks in it
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.cut()


class ImapHelpers:
    """Mixin: a fresh OU and an empty mailbox per test; set `kind` ('slapd' or 'ad')."""

    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = directory(cls.kind)
        cls.srv = SERVERS["main"]
        cls.box = Mailbox(cls.srv)

    def setUp(self):
        name = re.sub(r"[^a-z0-9]", "", self._testMethodName.lower().replace("test_", ""))[:40]
        self.ou = self.d.make_ou("im-" + name)
        self.tmp = tempfile.mkdtemp(prefix="t-", dir=_TMP)
        self.journal = os.path.join(self.tmp, "journal.ldif")
        self.box.reset()
        self.imap_pw = os.path.join(self.tmp, "imap-pw")
        with open(self.imap_pw, "w") as fp:
            fp.write(self.srv["DOVECOT_PASSWORD"] + "\n")
        os.chmod(self.imap_pw, 0o600)

    def tearDown(self):
        self.d.delete_tree(self.ou)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, srv=None, imaps=False, user=None):
        srv = srv or self.srv
        if imaps:
            return "imaps://%s@127.0.0.1:%s/INBOX" % (user or srv["DOVECOT_USER"],
                                                       srv["DOVECOT_IMAPS_PORT"])
        return "imap://%s@127.0.0.1:%s/INBOX" % (user or srv["DOVECOT_USER"], srv["DOVECOT_PORT"])

    def argv(self, *args, url=None, login=None, fmt="json", folders=True, uri=None):
        pwfile = os.path.join(self.tmp, "pw")
        with open(pwfile, "w") as fp:
            fp.write(self.d.admin_pw)
        os.chmod(pwfile, 0o600)
        argv = ["-H", uri or self.d.uri, "-b", self.ou, "-D", self.d.admin_dn, "-y", pwfile,
                "--at", T0, "--ca-file", pki("root.pem"), "--journal", self.journal,
                "--format", fmt, "harvest", url or self.url(),
                "--imap-ca-file", self.srv["DOVECOT_CACERT"]]
        argv += login if login is not None else ["--imap-password-file", self.imap_pw]
        if folders:
            argv += ["--done-folder", "Done", "--failed-folder", "Failed"]
        return argv + list(args)

    def smp(self, *args, **kw):
        env = kw.pop("env", None)
        return run(self.argv(*args, **kw), env=env)

    def contact(self, cn, mail_addr, certs=()):
        return self.d.add_contact(self.ou, cn, mail=mail_addr, proxies=["SMTP:" + mail_addr],
                                  certs=[der_of(c) for c in certs])

    def records(self, res):
        return res.json()

    def journal_records(self):
        if not os.path.exists(self.journal):
            return 0
        with open(self.journal) as fp:
            return sum(1 for line in fp if line.startswith("# smimepub record "))



class ImapBase(ImapHelpers):
    """The cases, written once for both directories (SlapdImap, AdImap)."""


    def test_signed_messages_published_and_filed(self):
        dn = self.contact("Alice", A)
        bob = self.contact("Bob", B)
        cms_sign(os.path.join(self.tmp, "bob.eml"), ["bob-ec"], B, ["-nodetach"])
        self.box.append(mail("smime-crlf.eml"), os.path.join(self.tmp, "bob.eml"))
        res = self.smp()
        self.assertEqual(res.rc, 0, res)
        recs = self.records(res)
        self.assertEqual([r["action"] for r in recs], ["published", "published"], res)
        self.assertRegex(recs[0]["file"], "^" + re.escape(self.url()) + r"/;UID=\d+$")
        uid = recs[0]["file"].rsplit("=", 1)[1]
        self.assertEqual(recs[0]["message_id"], "smime@test.example")
        self.assertEqual(recs[0]["from"], A)
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])
        self.assertEqual(self.d.certs(bob), [der_of("bob-ec.pem")])
        # filed: gone from INBOX, in Done with the keyword; nothing in Failed
        self.assertEqual(self.box.count("INBOX"), 0)
        done = self.box.flags("Done")
        self.assertEqual(len(done), 2, done)
        for flags in done.values():
            self.assertIn(KEYWORD, flags)
        self.assertEqual(self.box.count("Failed"), 0)
        # the log: one line per message, with Message-ID, From, signer and action
        log = [ln for ln in res.err.splitlines() if "harvest: UID" in ln]
        self.assertEqual(len(log), 2, res.err)
        self.assertRegex(log[0], r"UID " + uid + r" message-id=smime@test\.example from=alice@partner\."
                                 r"example signer=alice@partner\.example action=published -> Done")

    def test_failures_filed_as_failed(self):
        self.contact("Alice", A)
        self.contact("Bob", B)
        self.box.append(mail("unsigned.eml"), mail("tampered-body.eml"),
                        mail("h-bob-as-alice.eml"))
        res = self.smp()
        self.assertEqual(res.rc, 1, res)
        reasons = [r["reason"] for r in self.records(res)]
        self.assertEqual(reasons, ["unsigned", "bad_signature", "from_mismatch"], res)
        self.assertEqual(self.box.count("INBOX"), 0)
        failed = self.box.flags("Failed")
        self.assertEqual(len(failed), 3, failed)
        self.assertTrue(all(KEYWORD in f for f in failed.values()))
        self.assertEqual(self.box.count("Done"), 0)
        self.assertEqual(self.journal_records(), 0)   # nothing written to the directory

    def test_encryption_certificate_preferred(self):
        dn = self.contact("Alice", A)
        self.box.append(mail("h-pref.eml"))
        res = self.smp()
        self.assertEqual(res.rc, 0, res)
        rec = self.records(res)[0]
        self.assertEqual(rec["action"], "published")
        self.assertEqual(rec["sha256"], hashlib.sha256(der_of("alice-new.pem")).hexdigest())
        self.assertEqual(self.d.certs(dn), [der_of("alice-new.pem")])

    def test_rerun_processes_nothing(self):
        self.contact("Alice", A)
        self.box.append(mail("smime-crlf.eml"))
        # without folders the keyword alone tells a processed message
        self.assertEqual(self.smp(folders=False).rc, 0)
        self.assertEqual(self.box.flags("INBOX"), {"smime@test.example": {"\\Seen", KEYWORD}})
        before = self.journal_records()
        res = self.smp(folders=False)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(res.out.strip(), "")
        self.assertEqual(self.journal_records(), before)

    def test_unfiled_message_with_keyword_is_filed(self):
        """A message whose move failed after its keyword was set (TortureImap found it): with
        both folders the next run judges it again and files it; without folders the keyword
        alone says processed."""
        self.contact("Alice", A)
        self.box.append(mail("smime-crlf.eml"), flags="(%s)" % KEYWORD)
        res = self.smp(folders=False)
        self.assertEqual((res.rc, res.out.strip()), (0, ""), res)
        self.assertEqual(self.box.count("INBOX"), 1)
        res = self.smp()
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([r["action"] for r in self.records(res)], ["published"], res)
        self.assertEqual(self.box.count("INBOX"), 0)
        self.assertEqual(self.box.flags("Done"), {"smime@test.example": {"\\Seen", KEYWORD}})
        self.assertEqual(self.smp().out.strip(), "")   # and then nothing is left to do

    def test_folder_names_in_utf8(self):
        """Folder names as an administrator writes them (UTF-8, an '&') reach the server in
        modified UTF-7 (RFC 3501 5.1.3; the names below are written out by hand): the
        URL's mailbox, percent-encoded or as typed, and the done and failed folders."""
        self.contact("Alice", A)
        src = "Zertifikate-Eing&AOQ-nge"           # Zertifikate-Eingänge
        m = self.box.connect()
        self.assertEqual(m.create('"%s"' % src)[0], "OK")
        m.logout()
        self.box.append(mail("smime-crlf.eml"), mail("unsigned.eml"), box=src)
        base = self.url().rsplit("/", 1)[0]
        res = self.smp("--done-folder", "Erledigt \u2713", "--failed-folder",
                       "Fehlgeschlagen & gepr\u00fcft", url=base + "/Zertifikate-Eing%C3%A4nge",
                       folders=False)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(sorted(r["action"] for r in self.records(res)), ["published", "skipped"])
        self.assertEqual(self.box.count(src), 0)
        self.assertEqual(self.box.count("Erledigt &JxM-"), 1)
        self.assertEqual(self.box.count("Fehlgeschlagen &- gepr&APw-ft"), 1)
        self.assertEqual(self.journal_records(), 1)
        # typed in UTF-8: the same mailbox, empty now
        self.box.append(mail("unsigned.eml"), box=src)
        res = self.smp("--failed-folder", "Fehlgeschlagen & gepr\u00fcft",
                       url=base + "/Zertifikate-Eing\u00e4nge", folders=False)
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.box.count("Fehlgeschlagen &- gepr&APw-ft"), 2)

    def test_over_size_limit_not_fetched(self):
        self.contact("Alice", A)
        big = b"From: alice@partner.example\r\nMessage-ID: <big@test.example>\r\n" \
              b"Subject: big\r\n\r\n" + (b"x" * 76 + b"\r\n") * (20 * 1024 * 1024 // 78 + 1)
        self.box.append(mail("smime-crlf.eml"), data=big)
        res = self.smp()
        self.assertEqual(res.rc, 65, res)
        recs = self.records(res)
        self.assertEqual([r["action"] for r in recs], ["published", "failed"], res)
        self.assertEqual(recs[1]["reason"], "too_large")
        self.assertIn("over the limit of 10485760", recs[1]["message"])
        failed = self.box.flags("Failed")
        # never fetched: its body was not read, so it is not \Seen
        self.assertEqual(failed, {"big@test.example": {KEYWORD}}, failed)
        # a limit of its own
        self.box.append(mail("cms-crlf.eml"))
        res = self.smp("--max-message-size", "1K")
        self.assertEqual(res.rc, 65, res)
        self.assertEqual(self.records(res)[0]["reason"], "too_large")

    def test_dry_run_changes_nothing(self):
        dn = self.contact("Alice", A)
        self.box.append(mail("smime-crlf.eml"), mail("unsigned.eml"))
        before = self.box.flags("INBOX")
        res = self.smp("--dry-run")
        self.assertEqual(res.rc, 0, res)
        self.assertEqual([r["action"] for r in self.records(res)],
                         ["would_publish", "skipped"], res)
        self.assertEqual(self.box.flags("INBOX"), before)   # not even \Seen
        self.assertEqual(self.box.folders(), ["INBOX"])    # no folder made
        self.assertEqual(self.d.certs(dn), [])
        self.assertFalse(os.path.exists(self.journal))

    def test_directory_unreachable_leaves_messages(self):
        self.contact("Alice", A)
        self.box.append(mail("smime-crlf.eml"))
        res = self.smp(uri="ldap://127.0.0.1:%d" % free_port())
        self.assertEqual(res.rc, 69, res)
        # not even fetched: the directory is opened before a message is read
        self.assertEqual(self.box.flags("INBOX"), {"smime@test.example": set()})
        res = self.smp()
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.box.count("Done"), 1)

    def test_imaps_verified_and_unknown_certificate_refused(self):
        dn = self.contact("Alice", A)
        self.box.append(mail("smime-crlf.eml"))
        argv = self.argv(url=self.url(imaps=True))
        i = argv.index("--imap-ca-file")
        del argv[i:i + 2]
        # the system store does not know the test server's CA: refused, nothing touched
        res = run(argv)
        self.assertEqual(res.rc, 69, res)
        self.assertIn("cannot verify the IMAP server's certificate", res.err)
        self.assertIn("--imap-ca-file", res.err)
        self.assertEqual(self.box.count("INBOX"), 1)
        self.assertEqual(self.d.certs(dn), [])
        res = self.smp(url=self.url(imaps=True))
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])
        self.assertEqual(self.box.count("Done"), 1)

    def test_wrong_password(self):
        self.box.append(mail("smime-crlf.eml"))
        with open(self.imap_pw, "w") as fp:
            fp.write("not-the-password\n")
        res = self.smp()
        self.assertEqual(res.rc, 77, res)
        self.assertIn("the IMAP server refused the login of 'certs'", res.err)
        self.assertEqual(res.out.strip(), "")
        self.assertEqual(self.box.count("INBOX"), 1)
        # the password from the environment instead of a file
        res = self.smp(login=[], env=dict(os.environ,
                                          SMIMEPUB_IMAP_PASSWORD=self.srv["DOVECOT_PASSWORD"]))
        self.assertEqual(res.rc, 1, res)   # signed, but there is no entry for Alice
        self.assertEqual(self.records(res)[0]["reason"], "not_found")
        self.assertEqual(self.box.count("Failed"), 1)

    def test_oauth2_token(self):
        dn = self.contact("Alice", A)
        self.box.append(mail("smime-crlf.eml"))
        tok = os.path.join(self.tmp, "token")
        with open(tok, "w") as fp:
            fp.write("token-one\n")
        res = self.smp(login=["--imap-oauth2-token-file", tok])
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])
        # the refresher replaced the token: the file is read again, the old one is dead
        with open(STUB_PROC.tokens, "w") as fp:
            fp.write("token-two\n")
        self.box.append(mail("cms-crlf.eml"))
        res = self.smp(login=["--imap-oauth2-token-file", tok])
        self.assertEqual(res.rc, 77, res)
        self.assertIn("refused the login", res.err)
        with open(tok, "w") as fp:
            fp.write("token-two\n")
        res = self.smp(login=["--imap-oauth2-token-file", tok])
        self.assertEqual(res.rc, 0, res)
        self.assertEqual(self.records(res)[0]["action"], "unchanged")
        with open(STUB_PROC.tokens, "w") as fp:
            fp.write("token-one\n")

    def test_dovecot_stopped_mid_run(self):
        dn = self.contact("Alice", A)
        self.contact("Bob", B)
        cms_sign(os.path.join(self.tmp, "bob.eml"), ["bob-ec"], B, ["-nodetach"])
        srv = start_dovecot("mid")
        box = Mailbox(srv)
        box.append(mail("smime-crlf.eml"), os.path.join(self.tmp, "bob.eml"),
                   mail("unsigned.eml"))
        pidfile = os.path.join(self.tmp, "dovecot.pid")
        with open(pidfile, "w") as fp:
            fp.write(srv["DOVECOT_PID"])
        pw = os.path.join(self.tmp, "pw-mid")
        with open(pw, "w") as fp:
            fp.write(srv["DOVECOT_PASSWORD"])
        os.chmod(pw, 0o600)
        url = self.url(srv)
        argv = self.argv(url=url, login=["--imap-password-file", pw])
        argv[argv.index("--imap-ca-file") + 1] = srv["DOVECOT_CACERT"]
        # before the first change reaches the directory, Dovecot goes away (by its PID)
        # (its process group: the master and the imap process serving us)
        hook = "kill -- -$(cat %s); while kill -0 $(cat %s) 2>/dev/null; do sleep 0.1; done" \
            % (pidfile, pidfile)
        try:
            res = run(argv, env=dict(os.environ, SMIMEPUB_TEST_BEFORE_MODIFY=hook))
            self.assertEqual(res.rc, 69, res)
            self.assertIn("unavailable", res.err)
            self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])   # it was published
            self.assertEqual(self.journal_records(), 1)
            # Dovecot back with the same mail: nothing was filed, nothing lost
            subprocess.run(["bash", DOVECOT, "restart", srv["DIR"]], check=True,
                           capture_output=True, timeout=60)
            srv.update(load(os.path.join(srv["DIR"], "env")))
            self.assertEqual(box.count("INBOX"), 3)
            self.assertEqual(box.count("Done"), 0)
            res = run(argv)
            self.assertEqual(res.rc, 0, res)   # unsigned is skipped, not an error
            self.assertEqual([r["action"] for r in res.json()],
                             ["unchanged", "published", "skipped"], res)
            self.assertEqual(self.journal_records(), 2)   # Alice's change once, Bob's once
            self.assertEqual(box.count("INBOX"), 0)
            self.assertEqual(box.count("Done"), 2)
            self.assertEqual(box.count("Failed"), 1)
        finally:
            stop_dovecot("mid")

    def test_watch_service(self):
        dn = self.contact("Alice", A)
        bob = self.contact("Bob", B)
        cms_sign(os.path.join(self.tmp, "bob.eml"), ["bob-ec"], B, ["-nodetach"])
        srv = start_dovecot("watch")
        box = Mailbox(srv)
        w = Watch(self, self.watch_argv(srv))
        try:
            box.append(mail("smime-crlf.eml"))
            w.wait_for(r"UID 1 .* -> Done")
            self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])
            # the IMAP server goes away and comes back: the service reconnects by itself
            subprocess.run(["bash", DOVECOT, "restart", srv["DIR"]], check=True,
                           capture_output=True, timeout=60)
            box.append(os.path.join(self.tmp, "bob.eml"))
            w.wait_for(r"UID 2 .* -> Done", timeout=60)
            self.assertEqual(self.d.certs(bob), [der_of("bob-ec.pem")])
            self.assertEqual(w.stop(), 0, w.lines)
            self.assertTrue(any("2 done, 0 failed, 0 left" in ln for ln in w.lines), w.lines)
            self.assertEqual(box.count("INBOX"), 0)
        finally:
            w.kill()
            stop_dovecot("watch")

    def test_watch_directory_lost_and_back(self):
        """The directory's connection is cut under the service (a loopback relay the test
        closes): the message that came meanwhile stays new in the mailbox, the service tries
        again with backoff, and once the directory is back it is processed, once."""
        dn = self.contact("Alice", A)
        bob = self.contact("Bob", B)
        cms_sign(os.path.join(self.tmp, "bob.eml"), ["bob-ec"], B, ["-nodetach"])
        srv = start_dovecot("dirlost")
        box = Mailbox(srv)
        relay = Relay(self.d.uri)
        # the engine's reconnect window (a minute) made short: the same path, sooner
        w = Watch(self, self.watch_argv(srv, uri=relay.uri), SMIMEPUB_TEST_RECONNECT_SECONDS="3")
        try:
            box.append(mail("smime-crlf.eml"))
            w.wait_for(r"UID 1 .* -> Done")
            self.assertEqual(self.d.certs(dn), [der_of("alice.pem")])
            relay.cut()
            box.append(os.path.join(self.tmp, "bob.eml"))
            w.wait_for(r"UID 2 .* left for the next run", timeout=90)
            w.wait_for(r"trying again in \d+ s", timeout=30)
            # and again while it stays away: the directory cannot even be opened now
            w.wait_for(r"(?s)trying again.*trying again", timeout=30, joined=True)
            # still new: no keyword, not filed, nothing written
            self.assertNotIn(KEYWORD, set().union(*box.flags("INBOX").values()))
            self.assertEqual(box.count("INBOX"), 1)
            self.assertEqual(self.d.certs(bob), [])
            relay.restore()
            w.wait_for(r"UID 2 .* -> Done", timeout=90)
            self.assertEqual(self.d.certs(bob), [der_of("bob-ec.pem")])
            self.assertEqual(w.stop(), 0, w.lines)
            self.assertEqual(len([ln for ln in w.lines if "-> Done" in ln]), 2, w.lines)
            self.assertTrue(any("2 done, 0 failed" in ln for ln in w.lines), w.lines)
            self.assertEqual(box.count("INBOX"), 0)
            self.assertEqual(box.count("Done"), 2)
            # one change per certificate: nothing was published twice
            self.assertEqual(self.journal_records(), 2)
        finally:
            w.kill()
            relay.close()
            stop_dovecot("dirlost")

    def watch_argv(self, srv, uri=None):
        """A --watch 1 run on Dovecot srv (its own password and CA)."""
        pw = os.path.join(self.tmp, "pw-" + os.path.basename(srv["DIR"]))
        with open(pw, "w") as fp:
            fp.write(srv["DOVECOT_PASSWORD"])
        os.chmod(pw, 0o600)
        argv = self.argv("--watch", "1", url=self.url(srv), uri=uri,
                         login=["--imap-password-file", pw])
        argv[argv.index("--imap-ca-file") + 1] = srv["DOVECOT_CACERT"]
        return argv

    def test_without_move_copies_and_expunges(self):
        self.contact("Alice", A)
        srv = start_dovecot("nomove", DOVECOT_NO_MOVE="1")
        box = Mailbox(srv)
        try:
            box.append(mail("smime-crlf.eml"), mail("unsigned.eml"))
            pw = os.path.join(self.tmp, "pw-nomove")
            with open(pw, "w") as fp:
                fp.write(srv["DOVECOT_PASSWORD"])
            os.chmod(pw, 0o600)
            argv = self.argv(url=self.url(srv), login=["--imap-password-file", pw])
            argv[argv.index("--imap-ca-file") + 1] = srv["DOVECOT_CACERT"]
            res = run(argv)
            self.assertEqual(res.rc, 0, res)
            self.assertEqual(box.count("INBOX"), 0)   # UID EXPUNGE took them
            self.assertEqual(box.count("Done"), 1)
            self.assertEqual(box.count("Failed"), 1)
        finally:
            stop_dovecot("nomove")

    def test_starttls_required(self):
        self.contact("Alice", A)
        srv = start_dovecot("plain", DOVECOT_SSL="no")
        box = Mailbox(srv)
        try:
            box.append(mail("smime-crlf.eml"))
            pw = os.path.join(self.tmp, "pw-plain")
            with open(pw, "w") as fp:
                fp.write(srv["DOVECOT_PASSWORD"])
            os.chmod(pw, 0o600)
            argv = self.argv(url=self.url(srv), login=["--imap-password-file", pw])
            res = run(argv)
            self.assertEqual(res.rc, 69, res)
            self.assertIn("does not offer STARTTLS", res.err)
            self.assertIn("--insecure", res.err)
            self.assertEqual(box.count("INBOX"), 1)
            res = run(argv + ["--insecure"])
            self.assertEqual(res.rc, 0, res)
            self.assertEqual(box.count("Done"), 1)
        finally:
            stop_dovecot("plain")


class SlapdImap(ImapBase, unittest.TestCase):
    kind = "slapd"


@unittest.skipUnless(os.environ.get("SMIMEPUB_AD_ENV"), "no Samba AD DC (SMIMEPUB_AD_ENV)")
class AdImap(ImapBase, unittest.TestCase):
    kind = "ad"


class TortureImap(ImapHelpers, unittest.TestCase):
    """The mailbox harvest under faults, the way tests/integration/test_torture.py runs the
    other commands (SMIMEPUB_TORTURE, lib/torture.h): a run of two messages (alice's signed
    one, an unsigned one; folders Done and Failed) once with its Nth allocation failing
    (libcurl's counted too, smp_torture_curl_init), its Nth write, its Nth send to the
    directory. Each run ends without a sanitizer report and with a documented status, and
    exactly once holds across the fault: no message lost or doubled, a filed message has the
    keyword, a message filed Done has its certificate in the directory, a change has its
    journal record; and a rerun without faults finishes the job with one publish in all.
    Allocations are walked with a stride (SMIMEPUB_TORTURE_IMAP_STRIDE, default 5; 1 walks
    every one): each run costs two harvests, an undo and a mailbox refill.
    SMIMEPUB_TORTURE_IMAP_ONLY=KIND:N runs that one alone, with the fault's stack printed."""

    kind = "slapd"
    KINDS = ("alloc", "write", "send")

    def setUp(self):
        super().setUp()
        self.dn = self.contact("Alice", A)
        self.countfile = os.path.join(self.tmp, "torture-count")
        self.problems = {}

    def fill(self):
        self.box.reset()
        self.box.append(mail("smime-crlf.eml"), mail("unsigned.eml"))

    def tortured(self, spec):
        if os.path.exists(self.countfile):
            os.unlink(self.countfile)
        env = {"SMIMEPUB_TORTURE": spec, "SMIMEPUB_TORTURE_COUNT": self.countfile}
        if os.environ.get("SMIMEPUB_TORTURE_IMAP_ONLY"):
            env["SMIMEPUB_TORTURE_TRACE"] = "1"
        r = self.smp(env=env)
        return r, read_counts(self.countfile)[0]

    def where(self):
        """{message-id: (folder, flags)} of every message in the three folders."""
        out = {}
        for box in ("INBOX", "Done", "Failed"):
            for mid, flags in (self.box.flags(box) or {}).items():
                out.setdefault(mid, []).append((box, flags))
        return out

    def problem(self, spec, what, r):
        key = what.split(":")[0]
        if key not in self.problems:
            self.problems[key] = "%s: %s\n%r" % (spec, what, r)

    def test_harvest_of_a_mailbox_under_every_fault(self):
        signed, unsigned = "smime@test.example", "plain@test.example"
        alice = [der_of("alice.pem")]
        self.fill()
        r, counts = self.tortured("count")
        if not counts:   # test_torture.py, run in the same builds, fails on that instead
            self.skipTest("no fault injection in this build (meson -Dtorture=true)")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.d.certs(self.dn), alice)
        stride = {"alloc": int(os.environ.get("SMIMEPUB_TORTURE_IMAP_STRIDE", "5"))}
        walks = {k: sorted(set(range(1, counts[k] + 1, stride.get(k, 1))) | {counts[k]})
                 for k in self.KINDS if counts.get(k)}
        sys.stderr.write("\n  harvest imap://: %s\n" % ", ".join(
            "%s %d events, %d runs" % (k, counts[k], len(walks.get(k, ()))) for k in self.KINDS))
        only = os.environ.get("SMIMEPUB_TORTURE_IMAP_ONLY")   # KIND:N, traced: to look at one
        if only:
            walks = {only.split(":")[0]: [int(only.split(":")[1])]}
        journal = self.journal
        for kind, ns in walks.items():
            for n in ns:
                spec = "%s:%d" % (kind, n)
                if self.d.certs(self.dn):
                    self.d.ldapmodify("dn: %s\nchangetype: modify\ndelete: %s\n-\n"
                                      % (self.dn, self.d.cert_attr))
                self.fill()
                self.journal = os.path.join(self.tmp, "journal-%s-%d.ldif" % (kind, n))
                first = self.journal
                r, _ = self.tortured(spec)
                if SANITIZER.search(r.err) or r.rc < 0:
                    self.problem(spec, "a sanitizer report or a signal", r)
                if r.rc not in DOCUMENTED:
                    self.problem(spec, "exit status %d" % r.rc, r)
                if r.rc != 0 and not r.err.strip():
                    self.problem(spec, "failed silently", r)
                at = self.where()
                if sorted(at) != sorted([signed, unsigned]) or any(len(v) != 1 for v in at.values()):
                    self.problem(spec, "lost or doubled: %r" % at, r)
                    continue
                for mid, [(box, flags)] in at.items():
                    if box != "INBOX" and KEYWORD not in flags:
                        self.problem(spec, "filed without the keyword: %r" % at, r)
                if at[signed][0][0] == "Done" and self.d.certs(self.dn) != alice:
                    self.problem(spec, "filed Done, not published: %r" % at, r)
                if at[signed][0][0] == "Failed":
                    self.problem(spec, "a fault filed the signed message as failed: %r" % at, r)
                # the rerun finishes what the fault left, publishing at most what was not
                self.journal = os.path.join(self.tmp, "journal-%s-%d-rerun.ldif" % (kind, n))
                again = self.smp()
                at = self.where()
                if again.rc != 0 or at.get(signed, [("?",)])[0][0] != "Done" \
                        or self.d.certs(self.dn) != alice:
                    self.problem(spec, "the rerun did not finish: %r" % at, again)
                records = self.journal_records()
                self.journal = first
                records += self.journal_records()
                if records != 1:
                    self.problem(spec, "%d journal records for one publish" % records, again)
                for j in (first, first[:-5] + "-rerun.ldif"):
                    if os.path.exists(j):
                        run(["-H", self.d.uri, "-D", self.d.admin_dn, "-y",
                             os.path.join(self.tmp, "pw"), "--journal", j, "undo", "--since",
                             "2000-01-01"])
                if self.d.certs(self.dn) != []:
                    self.problem(spec, "a change without its journal record", r)
        self.journal = journal
        self.assertFalse(self.problems, "%d kinds of failure:\n\n%s" % (
            len(self.problems), "\n\n".join(list(self.problems.values())[:10])))


class Usage(unittest.TestCase):
    """What is refused before anything is connected: exit 64, a clear message."""

    def test_refused(self):
        cases = [
            (["harvest", "imaps://certs:pw@127.0.0.1/INBOX"], "holds a password"),
            (["harvest", "imaps://127.0.0.1/INBOX"], "names no user"),
            (["harvest", "imaps://c@127.0.0.1/INBOX", "x.eml"], "one IMAP mailbox alone"),
            (["harvest", "x.eml", "--done-folder", "D"], "is for an IMAP mailbox"),
            (["harvest", "imaps://c@127.0.0.1/INBOX", "--imap-password-file", "a",
              "--imap-oauth2-token-file", "b"], "not both"),
            (["harvest", "imaps://c@127.0.0.1/INBOX", "--done-folder", "a\"b"],
             "invalid --done-folder"),
            # a control character would end the command line: refused, never sent
            (["harvest", "imaps://c@127.0.0.1/INBOX", "--failed-folder", "Fehl\tgeschlagen"],
             "invalid --failed-folder"),
            (["harvest", "imaps://c@127.0.0.1/Zertifikate%FF"], "is not valid UTF-8"),
            (["harvest", "imaps://c@127.0.0.1/INBOX", "--watch", "0"], "invalid --watch"),
            (["harvest", "imaps://c@127.0.0.1/INBOX", "--max-message-size", "12x"],
             "invalid --max-message-size"),
            (["harvest", "imaps://c@127.0.0.1/INBOX"], "needs a password"),
        ]
        env = {"SMIMEPUB_IMAP_PASSWORD": None}
        for argv, text in cases:
            res = run(argv, env=env)
            self.assertEqual(res.rc, 64, (argv, res))
            self.assertIn(text, res.err, argv)


if __name__ == "__main__":
    smptest.main()
