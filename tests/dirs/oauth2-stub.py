#!/usr/bin/env python3
"""A token introspection endpoint (RFC 7662) for Dovecot's oauth2 passdb, for tests only.

    python3 tests/dirs/oauth2-stub.py --port N --tokens FILE [--user certs]

Listens on 127.0.0.1 only. A token is active when it is a line of FILE, read again on every
request (a test rotates tokens by rewriting it); the answer is {"active": true, "username":
USER}, else {"active": false}. Dovecot posts the token as form field `token` (introspection_mode
= post). Each request is one line on stderr.
"""
import argparse
import http.server
import json
import sys
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--user", default="certs")
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, token):
            try:
                with open(args.tokens) as fp:
                    known = {line.strip() for line in fp if line.strip()}
            except OSError:
                known = set()
            body = {"active": True, "username": args.user} if token in known \
                else {"active": False}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(min(n, 65536)).decode("latin-1"))
            self.answer((form.get("token") or [""])[0])

        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else (q.get("token") or [""])[0]
            self.answer(token)

        def log_message(self, fmt, *a):
            sys.stderr.write("oauth2-stub: " + (fmt % a) + "\n")

    http.server.HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
