"""Helpers shared by the `tempscale serve` tests (test_serve.py, test_serve_load.py)
and bench/bench_serve.py: start the server on a port it picks, talk HTTP/1.1
with the standard library only, read Server-Sent Events, stop it and check
that it exited 0 without a sanitizer report. Every wait is bounded.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

CLI = os.environ.get("TS_CLI", "build/tempscale")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ThreadSanitizer", "UndefinedBehaviorSanitizer")


def skip(why):
    """Exit 77 (ctest: skipped), or fail when TS_REQUIRE_ALL=1 (CI)."""
    if os.environ.get("TS_REQUIRE_ALL") == "1":
        print("FAIL (TS_REQUIRE_ALL=1): " + why)
        sys.exit(1)
    print("skipped: " + why)
    sys.exit(77)


class Server:
    """`tempscale serve --port 0 ARGS` with its URL parsed from the first lines."""

    def __init__(self, *args, env=None, startup=60):
        e = dict(os.environ)
        e.update(env or {})
        self.args = list(args)
        self.p = subprocess.Popen([CLI, "serve", "--port", "0"] + self.args,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=e, text=True)
        self.err_lines = []
        self.out_lines = []
        self._t_err = threading.Thread(target=self._pump, args=(self.p.stderr, self.err_lines),
                                       daemon=True)
        self._t_err.start()
        deadline = time.monotonic() + startup
        self.url = None
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            self.out_lines.append(line)
            m = re.search(r"explorer\s+(http://\S+?)/\s*$", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.p.kill()
            self.p.wait(10)
            raise RuntimeError("server did not start: %s %s" % (self.out_lines, self.err_lines))
        self._t_out = threading.Thread(target=self._pump, args=(self.p.stdout, self.out_lines),
                                       daemon=True)
        self._t_out.start()
        hp = self.url[len("http://"):]
        self.host, port = hp.rsplit(":", 1)
        self.host = self.host.strip("[]")
        self.port = int(port)

    @staticmethod
    def _pump(f, lines):
        for line in f:
            lines.append(line)

    def conn(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=120):
        """Signal it and wait: (exit code, stderr text)."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait(10)
            self.err_lines.append("<killed: did not stop within %d s>\n" % timeout)
        self._t_err.join(10)
        return rc, "".join(self.err_lines)

    def sanitizer_report(self):
        err = "".join(self.err_lines)
        return [m for m in SANITIZER_MARKS if m in err]

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.p.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None


def request(srv, method, path, body=None, headers=None, timeout=60):
    """One request on a fresh connection: (status, headers dict (lower-case), body bytes)."""
    c = srv.conn(timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, out


def sse_events(raw):
    """The data payloads of an SSE body (bytes), in order."""
    out = []
    for block in raw.decode("utf-8", "replace").split("\n\n"):
        lines = [l[6:] if l.startswith("data: ") else l[5:] for l in block.split("\n")
                 if l.startswith("data:")]
        if lines:
            out.append("\n".join(lines))
    return out


def raw_request(host, port, method, path, body=b"", headers=None):
    """The bytes of a request (HTTP/1.1, Content-Length)."""
    h = {"Host": "127.0.0.1", "Content-Length": str(len(body))}
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items())
    return head.encode() + b"\r\n" + body


def open_stream(srv, path, body, headers=None, rcvbuf=None):
    """A socket with a streaming request sent; nothing read yet."""
    s = socket.socket(socket.AF_INET6 if ":" in srv.host else socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(60)
    s.connect((srv.host, srv.port))
    s.sendall(raw_request(srv.host, srv.port, "POST", path, json.dumps(body).encode(), headers))
    return s


def read_until(s, pred, limit=60.0):
    """Read from s until pred(bytes so far) or EOF or the time limit; returns the bytes."""
    got = b""
    end = time.monotonic() + limit
    while not pred(got) and time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        got += d
    return got


def dechunk(raw):
    """The body of an HTTP/1.1 response with chunked transfer encoding (after the head)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    body = b""
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        n = int(line.split(b";")[0] or b"0", 16)
        if n == 0:
            return head, body, True
        body += rest[:n]
        rest = rest[n + 2:]
    return head, body, False


def wait_health(srv, pred, limit=10.0, headers=None):
    """Poll GET /health until pred(json) holds; returns (ok, last json, seconds)."""
    t0 = time.monotonic()
    h = None
    while time.monotonic() - t0 < limit:
        st, _, b = request(srv, "GET", "/health", headers=headers, timeout=10)
        h = json.loads(b)
        if pred(h):
            return True, h, time.monotonic() - t0
        time.sleep(0.02)
    return False, h, time.monotonic() - t0
