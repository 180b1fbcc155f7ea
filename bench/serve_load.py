#!/usr/bin/env python3
"""Load for `bench/run.sh serve`: logs in to a running `smimepub serve`, then CLIENTS threads
(each with its own session) look up random addresses user<i>@bench.example (1 <= i <= N)
through GET /api/lookup for SECONDS, and prints the lookups per second and the latency
percentiles. Every answer must be 200 and name the entry asked for; a wrong one aborts.
usage: serve_load.py URL USER PASSWORD N CLIENTS SECONDS"""
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse


def login(host, port, user, password):
    c = http.client.HTTPConnection(host, port, timeout=60)
    c.request("POST", "/api/session", body=json.dumps({"user": user, "password": password}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = json.loads(r.read())
    assert r.status == 200, body
    cookie = r.getheader("Set-Cookie").split(";", 1)[0]
    c.close()
    return cookie


def main():
    url, user, password, n, clients, seconds = sys.argv[1:7]
    u = urllib.parse.urlparse(url)
    n, clients, seconds = int(n), int(clients), float(seconds)
    lat, errors = [], []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(seed):
        rnd = random.Random(seed)
        cookie = login(u.hostname, u.port, user, password)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)  # kept alive
        mine = []
        try:
            while time.monotonic() < stop:
                i = rnd.randint(1, n)
                t0 = time.monotonic()
                c.request("GET", "/api/lookup?address=user%d@bench.example" % i,
                          headers={"Cookie": cookie})
                r = c.getresponse()
                body = json.loads(r.read())
                mine.append(time.monotonic() - t0)
                if r.status != 200 or not any(("user%d@" % i) in (x.get("address") or "")
                                              for x in body["results"]):
                    raise AssertionError("user%d: %d %s" % (i, r.status, body))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    if errors:
        print("serve_load: %d clients failed: %s" % (len(errors), errors[0]), file=sys.stderr)
        sys.exit(1)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000

    print("lookups %d in %.1f s: %.0f/s with %d clients; latency ms p50 %.1f p90 %.1f p99 %.1f "
          "max %.1f" % (len(lat), wall, len(lat) / wall, clients, pct(50), pct(90), pct(99),
                        lat[-1] * 1000))


if __name__ == "__main__":
    main()
