"""smimepub serve (SPEC section 8) against the real slapd and Samba AD: the HTTP API as a
ticket system or the page would call it, over real sockets on loopback.

Each class starts its own server (--listen 127.0.0.1:0, the port read from what it prints),
logs in as the directory's administrator, and checks what a helpdesk relies on and what an
attacker would try: login as a bind (wrong and empty passwords refused, failures limited per
address), the session cookie's attributes, CSRF tokens, 401 without a session, 413 over the
body limit, the security headers on every response, idle expiry, logout, and that lookup and
inspect answer with exactly the objects `--format json` prints. Twenty sessions at once each
see only their own answers.
"""
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import smptest  # noqa: E402
from smptest import Directory, der_of, pki, run, T0  # noqa: E402

TRUST = ["--at", T0, "--ca-file", pki("root.pem"), "--untrusted", pki("intermediate.pem")]


def read(path):
    with open(path, "rb") as fp:
        return fp.read()


ALICE_PEM = read(pki("alice.pem"))


class Server:
    """A `smimepub serve` on 127.0.0.1 and a port the system picks."""

    def __init__(self, d, *extra, tls_ca=None):
        self.tls_ca = tls_ca
        self.proc = subprocess.Popen(
            [smptest.BIN, "-H", d.uri, "-b", d.base] + TRUST +
            ["serve", "--listen", "127.0.0.1:0"] + list(extra),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        m = re.search(r"serving on https?://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.proc.kill()
            raise AssertionError("serve did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(m.group(1))

    def stop(self):
        """SIGTERM: the server stops and exits 0; returns its stderr after the first line."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        # a sanitizer report (a leak at exit too) fails whichever test stops the server
        assert "Sanitizer" not in err and "runtime error" not in err, err
        return self.proc.returncode, err

    def request(self, method, path, body=None, headers=None, session=None):
        """(status, headers dict with lower-case names, parsed JSON body)."""
        h = dict(headers or {})
        if session is not None:
            h["Cookie"] = "smp_session=" + session["id"]
            h.setdefault("X-CSRF-Token", session["csrf"])
        if self.tls_ca is not None:
            ctx = ssl.create_default_context(cafile=self.tls_ca)
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=60, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return r.status, hdrs, json.loads(data) if data else None
        finally:
            c.close()

    def login(self, user, password):
        status, h, body = self.request("POST", "/api/session",
                                       {"user": user, "password": password})
        assert status == 200, (status, body)
        m = re.match(r"smp_session=([0-9a-f]{64});", h["set-cookie"])
        return {"id": m.group(1), "csrf": body["csrf"], "user": body["user"],
                "cookie": h["set-cookie"]}


class ServeCases:
    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = Directory(cls.kind)
        cls.ou = cls.d.make_ou("smpserve")
        cls.alice = cls.d.add_contact(cls.ou, "Alice", mail="alice@partner.example",
                                      certs=[der_of("alice.pem")])
        cls.srv = Server(cls.d)
        cls.admin = cls.srv.login(cls.d.admin_dn, cls.d.admin_pw)

    @classmethod
    def tearDownClass(cls):
        cls.d.delete_tree(cls.ou)
        rc, err = cls.srv.stop()
        assert rc == 0, err

    def cli(self, *args):
        pw = self.d.pwfile()
        try:
            return run(["-H", self.d.uri, "-b", self.d.base, "-D", self.d.admin_dn, "-y", pw] +
                       TRUST + list(args))
        finally:
            os.unlink(pw)

    def assert_security_headers(self, h):
        csp = h.get("content-security-policy", "")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("http", csp)  # no other origin
        for src in re.findall(r"(\w+-src) ([^;]+)", csp):
            self.assertIn(src[1].split()[0], ("'self'", "'none'"), csp)
        self.assertEqual(h.get("x-content-type-options"), "nosniff")
        self.assertEqual(h.get("referrer-policy"), "no-referrer")

    # ---- sessions --------------------------------------------------------------------------

    def test_login_sets_a_strict_cookie_and_a_token(self):
        self.assertRegex(self.admin["cookie"], r"^smp_session=[0-9a-f]{64}; Path=/; HttpOnly; "
                                               r"SameSite=Strict$")  # no Secure without TLS
        self.assertRegex(self.admin["csrf"], r"^[0-9a-f]{64}$")
        self.assertEqual(self.admin["user"], self.d.admin_dn)
        other = self.srv.login(self.d.admin_dn, self.d.admin_pw)
        self.assertNotEqual(other["id"], self.admin["id"])
        self.assertNotEqual(other["csrf"], self.admin["csrf"])

    def test_wrong_and_empty_passwords_are_refused(self):
        for pw in ("wrong-password", ""):
            status, h, body = self.srv.request("POST", "/api/session",
                                               {"user": self.d.admin_dn, "password": pw})
            self.assertEqual(status, 401, body)
            self.assertEqual(body["error"], "bind_refused")
            self.assertNotIn("set-cookie", h)
            self.assert_security_headers(h)

    def test_login_needs_json(self):
        status, _, body = self.srv.request(
            "POST", "/api/session", body=b"user=x&password=y",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 415, body)
        status, _, body = self.srv.request("POST", "/api/session", {"user": "x"})
        self.assertEqual(status, 400, body)

    def test_no_session_is_401(self):
        for method, path in (("GET", "/api/lookup?address=alice@partner.example"),
                             ("POST", "/api/inspect"), ("DELETE", "/api/session")):
            status, h, body = self.srv.request(method, path, body=b"x" if method == "POST"
                                               else None)
            self.assertEqual(status, 401, (method, path, body))
            self.assertEqual(body["error"], "no_session")
            self.assert_security_headers(h)
        # a made-up or a guessed id is no session either
        fake = {"id": "0" * 64, "csrf": "0" * 64}
        status, _, _ = self.srv.request("GET", "/api/lookup?address=a@b.example", session=fake)
        self.assertEqual(status, 401)

    def test_changes_need_the_csrf_token(self):
        pem = ALICE_PEM
        for token in (None, "", "0" * 64, self.admin["csrf"][:-1]):
            headers = {} if token is None else {"X-CSRF-Token": token}
            sess = {"id": self.admin["id"], "csrf": None}
            h = {"Cookie": "smp_session=" + sess["id"]}
            h.update(headers)
            status, rh, body = self.srv.request("POST", "/api/inspect", body=pem, headers=h)
            self.assertEqual(status, 403, (token, body))
            self.assertEqual(body["error"], "csrf")
            self.assert_security_headers(rh)
        status, _, body = self.srv.request("POST", "/api/inspect", body=pem, session=self.admin)
        self.assertEqual(status, 200, body)

    def test_logout_closes_the_session(self):
        s = self.srv.login(self.d.admin_dn, self.d.admin_pw)
        status, h, _ = self.srv.request("DELETE", "/api/session", session=s)
        self.assertEqual(status, 200)
        self.assertIn("Max-Age=0", h["set-cookie"])
        status, _, _ = self.srv.request("GET", "/api/lookup?address=alice@partner.example",
                                        session=s)
        self.assertEqual(status, 401)

    # ---- limits and headers ----------------------------------------------------------------

    def post_big(self, size, chunked):
        """POSTs size bytes to /api/inspect as the admin, with a Content-Length or chunked;
        the server may answer and stop reading before the end. Returns the status."""
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        try:
            c.putrequest("POST", "/api/inspect")
            c.putheader("Cookie", "smp_session=" + self.admin["id"])
            c.putheader("X-CSRF-Token", self.admin["csrf"])
            if chunked:
                c.putheader("Transfer-Encoding", "chunked")
            else:
                c.putheader("Content-Length", str(size))
            c.endheaders()
            try:
                sent = 0
                while sent < size:
                    chunk = b"B" * min(65536, size - sent)
                    c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                    sent += len(chunk)
                if chunked:
                    c.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # it answered before the end
            r = c.getresponse()
            body = json.loads(r.read() or b"null")
            if r.status == 413:
                self.assertEqual(body["error"], "too_large")
                self.assert_security_headers({k.lower(): v for k, v in r.getheaders()})
            return r.status
        finally:
            c.close()

    def test_body_over_the_limit_is_413(self):
        limit = 1024 * 1024
        self.assertEqual(self.post_big(limit + 1, chunked=False), 413)
        self.assertEqual(self.post_big(limit + 1, chunked=True), 413)
        # at the limit it is read (and is not a certificate)
        self.assertEqual(self.post_big(limit, chunked=False), 422)
        # and the session still works
        status, _, _ = self.srv.request("GET", "/api/lookup?address=alice@partner.example",
                                        session=self.admin)
        self.assertEqual(status, 200)

    def test_unknown_paths_and_methods(self):
        status, h, body = self.srv.request("GET", "/api/nothing", session=self.admin)
        self.assertEqual((status, body["error"]), (404, "not_found"))
        self.assert_security_headers(h)
        status, _, body = self.srv.request("PUT", "/api/lookup", session=self.admin)
        self.assertEqual(status, 405, body)
        # the page: its own files only, under the same headers
        status, h, _ = self.srv.request("GET", "/nothing.html")
        self.assertEqual(status, 404)
        self.assert_security_headers(h)
        status, _, _ = self.srv.request("POST", "/", body=b"x")
        self.assertEqual(status, 405)

    def test_the_page_is_built_in(self):
        for path, kind in (("/", "text/html"), ("/app.js", "text/javascript"),
                           ("/app.css", "text/css")):
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
            c.request("GET", path)
            r = c.getresponse()
            data = r.read()
            c.close()
            self.assertEqual(r.status, 200, path)
            self.assertTrue(r.getheader("Content-Type").startswith(kind), path)
            self.assert_security_headers({k.lower(): v for k, v in r.getheaders()})
            src = os.path.join(smptest.SRCDIR, "src", "web", "index.html" if path == "/"
                               else path[1:])
            self.assertEqual(data, read(src), path)
        page = read(os.path.join(smptest.SRCDIR, "src", "web", "index.html")).decode()
        # no inline script or style and nothing from elsewhere: what the CSP enforces
        m = re.search(r"<script>|<script [^>]*>[^<]|\sstyle=|\son\w+=|https?://", page)
        self.assertIsNone(m, m and m.group(0))
        script = read(os.path.join(smptest.SRCDIR, "src", "web", "app.js")).decode()
        m = re.search(r"\.innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script)
        self.assertIsNone(m, m and m.group(0))

    # ---- the API answers what --format json prints -----------------------------------------

    def test_lookup_is_the_commands_json(self):
        status, h, body = self.srv.request("GET", "/api/lookup?address=alice%40partner.example",
                                           session=self.admin)
        self.assertEqual(status, 200, body)
        self.assertTrue(h["content-type"].startswith("application/json"))
        self.assert_security_headers(h)
        cli = self.cli("lookup", "--format", "json", "alice@partner.example")
        self.assertEqual(body["results"], cli.json())
        self.assertTrue(any(r.get("dn", "").lower() == self.alice.lower()
                            for r in body["results"]), body)
        status, _, body = self.srv.request("GET", "/api/lookup", session=self.admin)
        self.assertEqual(status, 400, body)

    def test_lookup_of_a_filter_injection_finds_nothing(self):
        status, _, body = self.srv.request("GET", "/api/lookup?address=%2A%29%28mail%3D%2A",
                                           session=self.admin)
        self.assertEqual(status, 200, body)
        self.assertFalse([r for r in body["results"] if r.get("dn")], body)

    def test_inspect_is_the_commands_json(self):
        for name in ("alice.pem", "bob-ec.pem"):
            data = read(pki(name))
            status, _, body = self.srv.request("POST", "/api/inspect", body=data,
                                               session=self.admin)
            self.assertEqual(status, 200, body)
            cli = run(TRUST + ["inspect", "--format", "json", pki(name)]).json()
            for r in cli:
                r["file"] = "upload"
            self.assertEqual(body["results"], cli)
        # DER too, and bad input is 422 with inspect's message
        status, _, body = self.srv.request("POST", "/api/inspect", body=der_of("alice.pem"),
                                           session=self.admin)
        self.assertEqual((status, body["results"][0]["emails"]),
                         (200, ["alice@partner.example"]))
        status, _, body = self.srv.request("POST", "/api/inspect", body=b"not a certificate",
                                           session=self.admin)
        self.assertEqual(status, 422, body)
        self.assertEqual(body["error"], "bad_input")
        self.assertIn("certificate", body["message"])
        self.assertNotIn("/tmp", body["message"])  # the upload, not a path of the server's

    # ---- changes: publish, remove, the journal, undo -----------------------------------------

    def fingerprint(self, name):
        return run(["inspect", "--format", "json", pki(name)] + TRUST).json()[0]["sha256"]

    def test_publish_preview_publish_remove_undo(self):
        dn = self.d.add_contact(self.ou, "Carol", mail="carol@partner.example")
        pem = read(pki("carol-sanonly.pem"))
        # the preview: the exact change, nothing written
        status, _, body = self.srv.request("POST", "/api/publish?dry_run=1", body=pem,
                                           session=self.admin)
        self.assertEqual(status, 200, body)
        (item,) = body["results"]
        self.assertEqual((item["action"], item["dn"].lower(), item["file"]),
                         ("would_publish", dn.lower(), "upload"))
        self.assertIn("changetype: modify", item["ldif"])
        self.assertEqual(self.d.certs(dn), [])
        # the same without dry_run as the default: still a preview
        status, _, body = self.srv.request("POST", "/api/publish", body=pem, session=self.admin)
        self.assertEqual(body["results"][0]["action"], "would_publish")
        self.assertEqual(self.d.certs(dn), [])
        # published, journalled with the person's identity
        status, _, body = self.srv.request("POST", "/api/publish?dry_run=0", body=pem,
                                           session=self.admin)
        self.assertEqual((status, body["results"][0]["action"]), (200, "published"), body)
        self.assertEqual(self.d.certs(dn), [der_of("carol-sanonly.pem")])
        status, _, body = self.srv.request("GET", "/api/lookup?address=carol@partner.example",
                                           session=self.admin)
        self.assertTrue(any(r.get("sha256") == self.fingerprint("carol-sanonly.pem")
                            for r in body["results"]), body)
        status, _, body = self.srv.request("GET", "/api/journal", session=self.admin)
        self.assertEqual(status, 200, body)
        newest = body["results"][0]
        self.assertEqual((newest["dn"].lower(), newest["command"]), (dn.lower(), "publish"))
        self.assertEqual(newest["by"].lower(), self.admin_identity().lower())
        # removed by fingerprint, then the removal undone
        status, _, body = self.srv.request(
            "POST", "/api/remove", {"address": "carol@partner.example",
                                    "fingerprint": self.fingerprint("carol-sanonly.pem")},
            session=self.admin)
        self.assertEqual((status, body["results"][0]["action"]), (200, "removed"), body)
        self.assertEqual(self.d.certs(dn), [])
        status, _, body = self.srv.request("GET", "/api/journal?limit=1", session=self.admin)
        (rec,) = body["results"]
        self.assertEqual(rec["command"], "remove")
        status, _, body = self.srv.request("POST", "/api/undo", {"record": rec["record"]},
                                           session=self.admin)
        self.assertEqual((status, body["results"][0]["action"]), (200, "undone"), body)
        self.assertEqual(self.d.certs(dn), [der_of("carol-sanonly.pem")])
        # a record that is not there (or not the person's) is 404
        status, _, body = self.srv.request("POST", "/api/undo", {"record": "no-such-id"},
                                           session=self.admin)
        self.assertEqual((status, body["error"]), (404, "no_such_record"))

    def admin_identity(self):
        """The bind identity the journal names for the admin (as `undo --list` shows it)."""
        status, _, body = self.srv.request("GET", "/api/journal?limit=1", session=self.admin)
        return body["results"][0]["by"] if body["results"] else self.d.admin_dn

    def test_publish_refused_and_bad_requests(self):
        dn = self.d.add_contact(self.ou, "Dora", mail="alice@partner.example")
        for query in ("?dry_run=2", "?add=1&replace=1", "?force=yes"):
            status, _, body = self.srv.request("POST", "/api/publish" + query,
                                               body=ALICE_PEM, session=self.admin)
            self.assertEqual(status, 400, (query, body))
        status, _, body = self.srv.request("POST", "/api/remove", {"address": "x@y.example"},
                                           session=self.admin)
        self.assertEqual(status, 400, body)
        status, _, body = self.srv.request(
            "POST", "/api/remove", {"address": "x@y.example", "fingerprint": "zz"},
            session=self.admin)
        self.assertEqual(status, 400, body)
        # two entries for alice's address now: ambiguous, nothing written
        status, _, body = self.srv.request("POST", "/api/publish?dry_run=0&replace=1",
                                           body=ALICE_PEM, session=self.admin)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["results"][0]["action"], "failed", body)
        self.assertEqual(body["results"][0]["reason"], "ambiguous", body)
        self.assertEqual(body["status"], 1)
        self.assertEqual(self.d.certs(dn), [])
        self.d.delete_tree(dn)

    def test_advice_names_the_pages_choices(self):
        # Alice holds alice.pem: another certificate for her is refused with the choices
        status, _, body = self.srv.request("POST", "/api/publish?dry_run=1",
                                           body=read(pki("alice-new.pem")), session=self.admin)
        (item,) = body["results"]
        self.assertEqual(item["reason"], "already_has_certificate", body)
        self.assertIn("choose 'keep both' or 'replace the ones for the same address'",
                      item["message"])
        self.assertNotIn("--", item["message"])  # no command-line flag on the page

    def test_a_reader_gets_the_directorys_refusal(self):
        user, pw = self.d.reader
        if user is None:
            self.skipTest("no read-only account in this directory")
        dn = self.d.add_contact(self.ou, "Bob", mail="bob@partner.example")
        reader = self.srv.login(user, pw)
        status, _, body = self.srv.request("POST", "/api/publish?dry_run=0",
                                           body=read(pki("bob-ec.pem")), session=reader)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.d.certs(dn), [])
        item = body["results"][0]
        self.assertEqual((item["dn"].lower(), item["action"]), (dn.lower(), "failed"), body)
        # the directory's refusal in plain words (rc 50, insufficient access)
        self.assertEqual(item["reason"], "insufficient_access")
        self.assertIn("Insufficient access", item["message"])
        self.assertEqual(body["status"], 77, body)  # the command's exit status for it
        # and it left no journal record in the reader's name
        status, _, body = self.srv.request("GET", "/api/journal", session=reader)
        self.assertEqual([r for r in body["results"] if r["action"] == "record"], [], body)

    def test_audit_is_the_commands_audit(self):
        status, h, body = self.srv.request("GET", "/api/audit?limit=1000", session=self.admin)
        self.assertEqual(status, 200, body)
        self.assert_security_headers(h)
        cli = self.cli("audit", "--format", "json")
        recs = cli.json()
        summary = [r for r in recs if r.get("type") == "summary"][0]
        self.assertEqual(body["summary"], summary)
        self.assertEqual(body["status"], cli.rc)
        with_problems = [r for r in recs if r.get("problems") or r.get("type") == "referral"]
        self.assertEqual(body["findings"], with_problems[:1000])
        self.assertEqual(body["total"], len(with_problems))
        self.assertEqual(len(body["expiry"]), 18)
        self.assertEqual(body["expiry"][0]["month"], T0[:7])
        # alice.pem expires in 2027-01, 7 months after T0: counted in that month's bar
        jan = [m for m in body["expiry"] if m["month"] == "2027-01"][0]
        self.assertGreaterEqual(jan["count"], 1)
        # paged
        if body["total"] >= 2:
            status, _, page = self.srv.request("GET", "/api/audit?offset=1&limit=1",
                                               session=self.admin)
            self.assertEqual(page["findings"], with_problems[1:2])
        for q in ("?limit=0", "?limit=1001", "?offset=-1", "?offset=x"):
            status, _, body = self.srv.request("GET", "/api/audit" + q, session=self.admin)
            self.assertEqual(status, 400, (q, body))

    def test_twenty_sessions_at_once(self):
        """Twenty sessions publish and look up at once, each its own certificate onto its own
        contact: every answer is the session's own, and the directory ends as they said."""
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        mails = ["p%02d@partner.example" % i for i in range(20)]
        dns = {m: self.d.add_contact(self.ou, "P%02d" % i, mail=m) for i, m in enumerate(mails)}
        certs = {m: smptest.make_named_cert([[("CN", "P%02d" % i)], [("emailAddress", m)]], tmp)
                 for i, m in enumerate(mails)}
        fps = {m: run(["inspect", "--format", "json", certs[m][0]]).json()[0]["sha256"]
               for m in mails}
        sessions = [self.srv.login(self.d.admin_dn, self.d.admin_pw) for _ in mails]
        got, errors = {}, []

        def work(mail, sess):
            try:
                # its validity starts today, after --at: not yet valid, hence force
                status, _, body = self.srv.request("POST", "/api/publish?dry_run=0&force=1",
                                                   body=read(certs[mail][0]), session=sess)
                assert status == 200, (status, body)
                (item,) = body["results"]
                assert (item["action"], item["dn"].lower(), item["sha256"]) == (
                    "published", dns[mail].lower(), fps[mail]), (mail, item)
                for _ in range(3):
                    status, _, body = self.srv.request("GET", "/api/lookup?address=" + mail,
                                                       session=sess)
                    assert status == 200, (status, body)
                    found = {r["dn"].lower() for r in body["results"] if r.get("dn")}
                    assert found == {dns[mail].lower()}, (mail, found)
                    shas = {r.get("sha256") for r in body["results"] if r.get("sha256")}
                    assert shas == {fps[mail]}, (mail, shas)
                    status, _, body = self.srv.request("POST", "/api/inspect", body=ALICE_PEM,
                                                       session=sess)
                    assert status == 200 and body["results"][0]["emails"] == [
                        "alice@partner.example"], body
                got[mail] = True
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(m, s)) for m, s in zip(mails, sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(got), mails)
        for m in mails:
            self.assertEqual(self.d.certs(dns[m]), [certs[m][1]], m)
        for s in sessions:
            self.srv.request("DELETE", "/api/session", session=s)


BROWSER_DIR = os.path.join(smptest.SRCDIR, "tests", "browser")
ARTIFACTS = os.path.join(os.environ.get("SMIMEPUB_BUILDDIR", tempfile.gettempdir()), "tests",
                         "browser-artifacts")


class BrowserCases:
    """The page in headless chromium (tests/browser/serve.mjs): the whole round a helpdesk
    person makes, then the directory checked with ldapsearch. Screenshots of every step are
    kept under the build directory (tests/browser-artifacts/serve-KIND/)."""
    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = Directory(cls.kind)
        cls.ou = cls.d.make_ou("smpbrowser")
        cls.tmp = tempfile.mkdtemp(prefix="smp-serve-")

    @classmethod
    def tearDownClass(cls):
        cls.d.delete_tree(cls.ou)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_login_lookup_publish_remove_undo_in_a_browser(self):
        dn = self.d.add_contact(self.ou, "Carol", mail="carol@partner.example")
        xss, _ = smptest.make_named_cert([[("CN", "<img src=x onerror=alert(1)>")]], self.tmp)
        fp = run(["inspect", "--format", "json", pki("carol-sanonly.pem")] + TRUST).json()[0][
            "sha256"]
        shots = os.path.join(ARTIFACTS, "serve-" + self.kind)
        os.makedirs(shots, exist_ok=True)
        srv = Server(self.d, "-b", self.ou)
        try:
            proc = subprocess.run(
                ["node", os.path.join(BROWSER_DIR, "serve.mjs"), "http://127.0.0.1:%d/" % srv.port,
                 self.d.admin_dn, self.d.admin_pw, "carol@partner.example",
                 pki("carol-sanonly.pem"), xss, fp, shots],
                cwd=BROWSER_DIR, capture_output=True, text=True, timeout=300)
        finally:
            rc, err = srv.stop()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        seen = json.loads(proc.stdout.splitlines()[-1])
        self.assertEqual(seen["errors"], [], seen)
        self.assertEqual(seen["foreign"], [], "the page fetched from elsewhere")
        self.assertEqual(seen["who"], self.d.admin_dn)
        # the tag in a CN is text on the page, not an element
        self.assertRegex(seen["checkSubject"], r"CN=\\?<img src=x onerror=alert\(1\)\\?>")
        self.assertEqual(seen["images"], 0)
        self.assertEqual(seen["preview"], ["would_publish"])
        self.assertIn("changetype: modify", seen["previewLdif"])
        self.assertNotIn("/tmp", seen["previewLdif"])  # no path of the server's
        self.assertEqual(seen["published"], ["published"])
        self.assertIn(fp, seen["lookupAfter"])
        self.assertEqual((seen["removePreview"], seen["removed"]), (["would_remove"], ["removed"]))
        self.assertEqual([row[0] for row in seen["journal"][:2]], ["remove", "publish"])
        self.assertIn("undone", seen["undo"])
        self.assertEqual(len(seen["bars"]), 18)
        # carol's certificate is back after the undo: one in 2027-01, as audit counts it
        self.assertIn(["2027-01", 1], seen["bars"])
        pw = self.d.pwfile()
        self.addCleanup(os.unlink, pw)
        audit = run(["-H", self.d.uri, "-b", self.ou, "-D", self.d.admin_dn, "-y", pw] + TRUST +
                    ["audit", "--format", "json"]).json()
        counts = [r for r in audit if r.get("type") == "summary"][0]["counts"]
        self.assertEqual({c: int(n) for c, n in seen["codes"]}, counts)
        self.assertTrue(seen.get("loggedOut"))
        # what the directory holds at the end: the removal undone, the certificate back
        self.assertEqual(self.d.certs(dn), [der_of("carol-sanonly.pem")])
        for name in ("01-login", "04-publish-preview", "09-audit"):
            self.assertTrue(os.path.getsize(os.path.join(shots, name + ".png")) > 1000)


class Lifecycle:
    """Servers of their own: the failure limit, idle expiry, the listen rules, stopping."""
    kind = None

    @classmethod
    def setUpClass(cls):
        cls.d = Directory(cls.kind)

    def test_failed_logins_are_limited_per_address(self):
        srv = Server(self.d)
        try:
            for _ in range(5):
                status, _, _ = srv.request("POST", "/api/session",
                                           {"user": self.d.admin_dn, "password": "wrong"})
                self.assertEqual(status, 401)
            # the sixth, even with the right password, is not tried
            status, _, body = srv.request("POST", "/api/session",
                                          {"user": self.d.admin_dn, "password": self.d.admin_pw})
            self.assertEqual(status, 429, body)
            self.assertEqual(body["error"], "too_many_failures")
        finally:
            srv.stop()

    def test_an_idle_session_ends(self):
        srv = Server(self.d, "--idle-timeout", "1")
        try:
            s = srv.login(self.d.admin_dn, self.d.admin_pw)
            status, _, _ = srv.request("GET", "/api/lookup?address=x@partner.example", session=s)
            self.assertEqual(status, 200)
            time.sleep(2.5)
            status, _, _ = srv.request("GET", "/api/lookup?address=x@partner.example", session=s)
            self.assertEqual(status, 401)
        finally:
            srv.stop()

    def test_listen_rules(self):
        """Without TLS a loopback address only (checked before anything listens)."""
        for listen in ("0.0.0.0:0", "[::]:0", "192.0.2.1:8443"):
            res = run(["-H", self.d.uri, "serve", "--listen", listen])
            self.assertEqual(res.rc, 64, res)
            self.assertIn("loopback only", res.err)
        for bad in ("8443", "127.0.0.1", "localhost:8443", "[::1:8443", "127.0.0.1:x"):
            res = run(["-H", self.d.uri, "serve", "--listen", bad])
            self.assertEqual(res.rc, 64, res)
            self.assertIn("invalid --listen", res.err)
        res = run(["-H", self.d.uri, "-D", self.d.admin_dn, "serve"])
        self.assertEqual(res.rc, 64, res)
        res = run(["-H", self.d.uri, "serve", "--tls-cert", pki("alice.pem")])
        self.assertEqual(res.rc, 64, res)
        self.assertIn("go together", res.err)

    def test_https_and_a_secure_cookie(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        key, cert = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        srv = Server(self.d, "--tls-cert", cert, "--tls-key", key, tls_ca=cert)
        try:
            s = srv.login(self.d.admin_dn, self.d.admin_pw)
            self.assertTrue(s["cookie"].endswith("; Secure"), s["cookie"])
            status, h, body = srv.request("GET", "/api/lookup?address=x@partner.example",
                                          session=s)
            self.assertEqual(status, 200, body)
            # plain HTTP on the TLS port gets no answer a browser would take
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            with self.assertRaises((http.client.HTTPException, OSError)):
                c.request("GET", "/api/session")
                c.getresponse()
            c.close()
        finally:
            srv.stop()

    def test_stops_on_sigterm(self):
        srv = Server(self.d)
        srv.login(self.d.admin_dn, self.d.admin_pw)
        rc, err = srv.stop()
        self.assertEqual(rc, 0, err)
        self.assertIn("stopping", err)


class SlapdServe(ServeCases, unittest.TestCase):
    kind = "slapd"


class SambaADServe(ServeCases, unittest.TestCase):
    kind = "ad"


class SlapdBrowser(BrowserCases, unittest.TestCase):
    kind = "slapd"


class SambaADBrowser(BrowserCases, unittest.TestCase):
    kind = "ad"


class SlapdLifecycle(Lifecycle, unittest.TestCase):
    kind = "slapd"

    def test_login_by_name(self):
        """--login-attribute: a name that is not a DN is looked up (anonymously, where the
        directory allows it: Samba AD refuses anonymous searches, and AD logins are
        user@REALM) and its entry bound as; unknown names and wrong passwords get the same
        answer."""
        user, pw = self.d.writer
        name = re.match(r"cn=([^,]+),", user).group(1)
        srv = Server(self.d, "--login-attribute", "cn")
        try:
            s = srv.login(name, pw)
            self.assertEqual(s["user"], name)
            status, _, body = srv.request("GET", "/api/journal", session=s)
            self.assertEqual(status, 200, body)
            answers = set()
            # a wrong password, a name that is not there, and filter tricks (escaped)
            for who, password in ((name, "wrong"), ("nobody-" + name, pw), ("*", pw),
                                  ("c*)(objectClass", pw)):
                status, _, body = srv.request("POST", "/api/session",
                                              {"user": who, "password": password})
                self.assertEqual(status, 401, (who, body))
                answers.add(body["message"])
            self.assertEqual(answers, {"unknown user or wrong password"})
        finally:
            srv.stop()


class SambaADLifecycle(Lifecycle, unittest.TestCase):
    kind = "ad"

    def test_ad_login_forms(self):
        """AD logins as people type them: user@REALM and DOMAIN\\user, besides the DN."""
        realm = self.d.env["AD_REALM"]
        domain = realm.split(".")[0]
        srv = Server(self.d)
        try:
            for user in ("Administrator@" + realm, domain + "\\Administrator"):
                s = srv.login(user, self.d.admin_pw)
                self.assertEqual(s["user"], user)
                status, _, body = srv.request("GET", "/api/lookup?address=x@partner.example",
                                              session=s)
                self.assertEqual(status, 200, (user, body))
            status, _, body = srv.request("POST", "/api/session",
                                          {"user": "Administrator@" + realm, "password": "no"})
            self.assertEqual(status, 401, body)
        finally:
            srv.stop()


if __name__ == "__main__":
    smptest.main()
