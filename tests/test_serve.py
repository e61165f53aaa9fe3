#!/usr/bin/python3
"""`tempscale serve` end to end over HTTP on 127.0.0.1 (a port the server picks).

1. The page and /health need no key; every /v1 and /api route needs
   "Authorization: Bearer KEY" (401 in OpenAI's error shape otherwise).
2. Routes and methods: 404 unknown, 405 wrong method, error bodies with
   message / type / param / code, the field named in param.
3. Limits: Content-Length over 1 MiB is 413 before the body is sent; a
   chunked body over 1 MiB is 413; exactly 1 MiB is served.
4. The native API returns byte for byte what `tempscale <cmd> --json`
   prints; /api/sweep include_logits decodes to the model's logits.
5. Streams: SSE framing, "data: [DONE]", the same text / result as the
   answer without stream for the same seed; keep-alive.
6. A client that leaves mid-stream (or mid non-streamed run) frees its
   context at once; a full queue answers 503 + Retry-After.
7. Slow clients: a trickled head, a silent connection and a client that
   stops reading are all disconnected after --timeout.
8. The Host rule without a key; a non-loopback --host without a key is
   refused with one line; SIGTERM ends a stream with an error event and
   [DONE], answers queued requests 503, and exits 0 (no sanitizer report).
Env: TS_CLI, TEMPSCALE_MODELS. Exit 0 ok, 1 failure, 77 without the model.
"""
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (CLI, Server, dechunk, open_stream, raw_request, read_until, request,
                        skip, sse_events, wait_health)

MODELS = os.environ.get("TEMPSCALE_MODELS", "models")
KEY = "test-key-0123456789"
AUTH = {"Authorization": "Bearer " + KEY}
failures = []

# An endless generation: the context shifts, end of text is never drawn.
ENDLESS = {"prompt": "ROMEO:", "max_new_tokens": 1000000, "context_shift": True,
           "ignore_eos": True}


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def is_error(body, status_code=None, param=None, code=None):
    try:
        e = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if set(e) != {"message", "type", "param", "code"} or not isinstance(e["message"], str):
        return False
    if param is not None and e["param"] != param:
        return False
    if code is not None and e["code"] != code:
        return False
    return "\n" not in e["message"]


def cli_json(args):
    r = subprocess.run([CLI] + args + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=300)
    return r.stdout.rstrip(b"\n")


def test_auth_routes_errors(srv):
    st, h, b = request(srv, "GET", "/")
    check(st == 200 and h["content-type"].startswith("text/html") and
          b.lower().startswith(b"<!doctype html>"), "GET / serves the page without a key")
    check("content-security-policy" in h, "the page has a Content-Security-Policy")
    st, h, b = request(srv, "HEAD", "/")
    check(st == 200 and b == b"", "HEAD / is 200 without a body")
    st, h, b = request(srv, "GET", "/health")
    check(st == 200 and json.loads(b)["auth"] is True, "GET /health without a key says auth: true")

    st, h, b = request(srv, "GET", "/v1/models")
    check(st == 401 and is_error(b, code="invalid_api_key") and
          h.get("www-authenticate") == "Bearer", "no key: 401, OpenAI error shape, WWW-Authenticate")
    st, h, b = request(srv, "POST", "/v1/completions", {"prompt": "a"},
                       {"Authorization": "Bearer " + KEY[:-1]})
    check(st == 401 and is_error(b, code="invalid_api_key"), "a key one byte short: 401")
    st, h, b = request(srv, "POST", "/api/top", {"prompt": "a"},
                       {"Authorization": "Bearer " + KEY + "0"})
    check(st == 401, "a key one byte long: 401")
    st, h, b = request(srv, "GET", "/v1/models", headers={"Authorization": "bearer " + KEY})
    m = json.loads(b) if st == 200 else {}
    check(st == 200 and m.get("object") == "list" and m["data"][0]["id"] == "tiny-shakespeare",
          "GET /v1/models with the key (scheme in any case): the model's id")

    cases = [
        ("GET", "/nope", None, 404, None, "unknown_route"),
        ("GET", "/v1/chat/completions", None, 404, None, "unknown_route"),
        ("POST", "/api/nope", {}, 404, None, "unknown_route"),
        ("GET", "/v1/completions", None, 405, None, "method_not_allowed"),
        ("DELETE", "/v1/models", None, 405, None, "method_not_allowed"),
        ("POST", "/", {}, 405, None, "method_not_allowed"),
        ("POST", "/v1/completions", b"{\"prompt\":", 400, None, "invalid_json"),
        ("POST", "/v1/completions", b"[1,2]", 400, None, "invalid_json"),
        ("POST", "/v1/completions", b"", 400, None, "invalid_json"),
        ("POST", "/v1/completions", {"prompt": 5}, 400, "prompt", None),
        ("POST", "/v1/completions", {"prompt": "a", "max_tokens": "x"}, 400, "max_tokens", None),
        ("POST", "/v1/completions", {"prompt": "a", "temperature": -1}, 400, "temperature", None),
        ("POST", "/v1/completions", {"prompt": "a", "logprobs": 21}, 400, "logprobs", None),
        ("POST", "/v1/completions", {"prompt": "a", "n": 0}, 400, "n", None),
        ("POST", "/v1/completions", {"prompt": "a", "model": "gpt-4"}, 404, "model",
         "model_not_found"),
        ("POST", "/api/top", {"prompt": "a", "k": -3}, 400, "k", None),
        ("POST", "/api/sweep", {"prompt": "a", "temperatures": ["x"]}, 400, "temperatures", None),
        ("POST", "/api/top", {"prompt": "a", "stream": True}, 400, "stream", None),
    ]
    for method, path, body, status, param, code in cases:
        st, h, b = request(srv, method, path, body, AUTH)
        check(st == status and is_error(b, param=param, code=code),
              "%s %s %s: %d%s" % (method, path, (body if isinstance(body, bytes) else
                                                 json.dumps(body))[:40] if body is not None else "",
                                   status, " param=" + param if param else ""))
    st, h, b = request(srv, "POST", "/v1/completions", {"prompt": "a", "temprature": 1}, AUTH)
    check(st == 400 and b"temperature" in b, "an unknown field gets 400 with a suggestion")


def test_limits(srv):
    # Content-Length over 1 MiB: 413 as soon as the head is in (the body is never sent).
    s = socket.create_connection((srv.host, srv.port), timeout=30)
    s.sendall(raw_request(srv.host, srv.port, "POST", "/v1/completions", b"",
                          dict(AUTH, **{"Content-Length": str(2 << 20)})))
    got = read_until(s, lambda g: b"\r\n\r\n" in g and g.rstrip().endswith(b"}"), 30)
    s.close()
    check(got.startswith(b"HTTP/1.1 413") and is_error(got.split(b"\r\n\r\n", 1)[1],
                                                        code="body_too_large"),
          "Content-Length 2 MiB: 413 before any body byte")
    # Chunked, 1 MiB + 1 KiB: 413.
    big = b"{\"prompt\":\"" + b"a" * ((1 << 20) + 1024) + b"\"}"
    s = socket.create_connection((srv.host, srv.port), timeout=60)
    head = ("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            "Transfer-Encoding: chunked\r\n\r\n" % KEY).encode()
    s.sendall(head)
    try:
        for i in range(0, len(big), 65536):
            part = big[i:i + 65536]
            s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    got = read_until(s, lambda g: b"\r\n\r\n" in g and g.rstrip().endswith(b"}"), 60)
    s.close()
    check(got.startswith(b"HTTP/1.1 413") and b"body_too_large" in got,
          "a chunked body over 1 MiB: 413")
    # Exactly 1 MiB (JSON padded with spaces) is within the limit.
    body = json.dumps({"prompt": "ROMEO:", "max_tokens": 2, "seed": 1}).encode()
    body = body + b" " * ((1 << 20) - len(body))
    st, h, b = request(srv, "POST", "/v1/completions", body, AUTH)
    check(st == 200 and json.loads(b)["object"] == "text_completion", "a body of exactly 1 MiB: 200")
    st, h, b = request(srv, "POST", "/v1/completions", b"{}", dict(AUTH, **{"Content-Length": "x"}))
    check(st == 400, "a Content-Length that is not a number: 400")


def test_native_parity(srv):
    for path, body, args in [
        ("/api/top", {"prompt": "ROMEO:", "k": 5}, ["top", "--prompt", "ROMEO:", "--k", "5"]),
        ("/api/sweep", {"prompt": "ROMEO:", "k": 4, "temperatures": [0.5, 1, 2]},
         ["sweep", "--prompt", "ROMEO:", "--k", "4", "--temperatures", "0.5,1,2"]),
        ("/api/tokenize", {"text": "Hello, world"}, ["tokenize", "--text", "Hello, world"]),
        ("/api/softmax", {"logits": [2, 1, 0.5], "temperatures": [0.1, 1, 5]},
         ["softmax", "--logits", "2,1,0.5", "--temperatures", "0.1,1,5"]),
        ("/api/generate", {"prompt": "ROMEO:", "max_new_tokens": 12, "seed": 7},
         ["generate", "--prompt", "ROMEO:", "--max-new-tokens", "12", "--seed", "7"]),
    ]:
        st, h, b = request(srv, "POST", path, body, AUTH)
        cli = cli_json(args)
        check(st == 200 and b == cli, "%s: the body is byte for byte `tempscale %s --json`"
              % (path, args[0]))
    st, h, b = request(srv, "POST", "/api/sweep", {"prompt": "ROMEO:", "k": 5,
                                                   "include_logits": True}, AUTH)
    j = json.loads(b)
    raw = base64.b64decode(j.get("logits_f32_base64", ""))
    logits = struct.unpack("<%df" % (len(raw) // 4), raw)
    top = json.loads(cli_json(["top", "--prompt", "ROMEO:", "--k", "5"]))["top"]
    check(st == 200 and len(logits) == j["vocab_size"] and
          all(abs(logits[t["id"]] - t["logit"]) < 1e-6 for t in top),
          "/api/sweep include_logits: %d float32 logits, the top-5 equal `top`'s (1e-6)"
          % len(logits))


def test_streams(srv):
    body = {"prompt": "ROMEO:", "max_tokens": 20, "temperature": 0.8, "seed": 42}
    st, h, b = request(srv, "POST", "/v1/completions", body, AUTH)
    plain = json.loads(b)["choices"][0]["text"]
    st, h, b = request(srv, "POST", "/v1/completions", dict(body, stream=True), AUTH)
    ev = sse_events(b)
    chunks = [json.loads(e) for e in ev[:-1]]
    text = "".join(c["choices"][0]["text"] for c in chunks)
    check(st == 200 and h["content-type"] == "text/event-stream" and ev[-1] == "[DONE]" and
          text == plain and chunks[-1]["choices"][0]["finish_reason"] == "length",
          "stream: SSE chunks then [DONE], the same text as without stream (seed 42)")
    check(b.endswith(b"\n\ndata: [DONE]\n\n") and b.count(b"\n\n") == len(ev),
          "stream: every event is 'data: ...' and one blank line")
    g = {"prompt": "ROMEO:", "max_new_tokens": 10, "seed": 3, "temperature": 1.5}
    st, h, whole = request(srv, "POST", "/api/generate", g, AUTH)
    st, h, b = request(srv, "POST", "/api/generate", dict(g, stream=True), AUTH)
    ev = sse_events(b)
    kinds = [json.loads(e)["event"] for e in ev[:-1]]
    result = json.loads(ev[-2])["result"] if len(ev) >= 2 else None
    check(st == 200 and kinds == ["token"] * 10 + ["end", "result"] and ev[-1] == "[DONE]" and
          json.dumps(result, sort_keys=True) == json.dumps(json.loads(whole), sort_keys=True),
          "/api/generate stream: 10 token events, end, result (= the unstreamed JSON), [DONE]")
    # OpenAI's other prompt forms, and the context window (256 tokens) capping max_tokens.
    ids = json.loads(cli_json(["tokenize", "--text", "ROMEO:"]))["ids"]
    st, h, b = request(srv, "POST", "/v1/completions", dict(body, prompt=ids), AUTH)
    check(st == 200 and json.loads(b)["choices"][0]["text"] == plain,
          "prompt as token ids %s: the same text as the string" % ids)
    st, h, b = request(srv, "POST", "/v1/completions",
                       {"prompt": ["ROMEO:", "JULIET:"], "max_tokens": 3, "n": 2, "seed": 1}, AUTH)
    j = json.loads(b)
    check(st == 200 and [c["index"] for c in j["choices"]] == [0, 1, 2, 3] and
          j["usage"]["completion_tokens"] == 12, "two prompts x n=2: choices 0..3, 12 tokens")
    st, h, b = request(srv, "POST", "/v1/completions",
                       {"prompt": "ROMEO:", "max_tokens": 100000, "ignore_eos": True,
                        "temperature": 0}, AUTH)
    j = json.loads(b)
    # The last token drawn needs no position of its own: 3 + 254 = 257 tokens on 256 positions.
    check(st == 200 and j["choices"][0]["finish_reason"] == "length" and
          j["usage"]["total_tokens"] in (256, 257),
          "max_tokens 100000: stops at the 256-position window (%d tokens), finish_reason length"
          % j["usage"]["total_tokens"])
    # Keep-alive: three requests on one connection.
    c = srv.conn()
    ok = True
    for i in range(3):
        c.request("GET", "/v1/models", headers=AUTH)
        r = c.getresponse()
        ok &= r.status == 200 and b"tiny-shakespeare" in r.read()
    c.request("POST", "/v1/completions", body=json.dumps(dict(body, stream=True)),
              headers=dict(AUTH, **{"Content-Type": "application/json"}))
    r = c.getresponse()
    ok &= r.status == 200 and r.read().endswith(b"data: [DONE]\n\n")
    c.request("GET", "/health")
    r = c.getresponse()
    ok &= r.status == 200 and r.read().startswith(b"{")
    c.close()
    check(ok, "keep-alive: five requests (one a stream) on one connection")


def test_cancel_and_queue(srv):
    """srv: --parallel 1 --max-queue 0, no key."""
    s = open_stream(srv, "/api/generate", dict(ENDLESS, stream=True))
    got = read_until(s, lambda g: g.count(b"\n\n") >= 4, 60)
    check(b"\"event\":\"token\"" in got, "an endless stream runs")
    st, h, b = request(srv, "POST", "/v1/completions", {"prompt": "a", "max_tokens": 1})
    check(st == 503 and h.get("retry-after") == "1" and is_error(b, code="overloaded"),
          "the only context busy, no queue: 503 + Retry-After, code overloaded")
    s.close()
    ok, hl, dt = wait_health(srv, lambda j: j["running"] == 0 and j["cancelled_client"] >= 1)
    check(ok, "the client left mid-stream: the run stopped and freed its context in %.3f s" % dt)
    st, h, b = request(srv, "POST", "/v1/completions", {"prompt": "a", "max_tokens": 1})
    check(st == 200, "... and the next request gets the context")
    # A non-streamed endless run, abandoned: cancelled through is_cancelled.
    s = open_stream(srv, "/api/generate", ENDLESS)
    ok, hl, _ = wait_health(srv, lambda j: j["running"] == 1)
    time.sleep(0.3)
    s.close()
    ok2, hl, dt = wait_health(srv, lambda j: j["running"] == 0 and j["cancelled_client"] >= 2)
    check(ok and ok2, "a client that leaves a non-streamed run frees its context (%.3f s)" % dt)
    # A client that stops reading: its socket fills, the server gives up after --timeout.
    s = open_stream(srv, "/api/generate", dict(ENDLESS, stream=True, logprobs=20), rcvbuf=4096)
    before = wait_health(srv, lambda j: True)[1]["cancelled_client"]
    ok, hl, dt = wait_health(srv, lambda j: j["cancelled_client"] > before and j["running"] == 0,
                             limit=60)
    s.close()
    check(ok, "a client that stops reading is cut off and its run cancelled (after %.1f s)" % dt)


def test_slow_clients(srv):
    """srv: --timeout 2."""
    def lifetime(payload, gap, limit=15):
        s = socket.create_connection((srv.host, srv.port), timeout=limit)
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < limit:
            try:
                if i < len(payload):
                    s.send(payload[i:i + 1])
                    i += 1
                s.settimeout(gap)
                s.recv(4096)
                break  # closed by the server (b"") or answered
            except socket.timeout:
                continue
            except OSError:
                break
        s.close()
        return time.monotonic() - t0
    t = lifetime(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 500, 0.2)
    check(1.5 < t < 6, "a head trickled a byte every 0.2 s is cut off after --timeout 2 (%.1f s)" % t)
    t = lifetime(b"", 0.2)
    check(1.5 < t < 6, "a silent connection is closed after --timeout 2 (%.1f s)" % t)
    t = lifetime(raw_request(srv.host, srv.port, "POST", "/v1/completions", b"{" * 300), 0.05)
    check(1.5 < t < 6, "a body trickled slowly is cut off after --timeout 2 (%.1f s)" % t)
    st, h, b = request(srv, "GET", "/health")
    check(st == 200 and json.loads(b)["timed_out"] >= 2, "the server counts the timeouts")


def test_host_rule(srv):
    """srv: no key."""
    st, h, b = request(srv, "GET", "/v1/models", headers={"Host": "attacker.example"})
    check(st == 403 and is_error(b, code="host_not_allowed"),
          "no key: a Host that is not this machine gets 403 (DNS rebinding)")
    st, h, b = request(srv, "GET", "/v1/models", headers={"Host": "localhost:%d" % srv.port})
    check(st == 200, "no key: Host localhost:PORT is served")


def test_stop(srv):
    """srv: --parallel 1, no key. SIGTERM while a stream runs and two requests wait."""
    a = open_stream(srv, "/v1/completions", dict({k: v for k, v in ENDLESS.items()
                                                  if k != "max_new_tokens"},
                                                 max_tokens=1000000, stream=True))
    first = read_until(a, lambda g: g.count(b"\n\n") >= 3, 60)
    b = open_stream(srv, "/v1/completions", {"prompt": "x", "max_tokens": 5, "stream": True})
    c = open_stream(srv, "/api/top", {"prompt": "x"})
    wait_health(srv, lambda j: j["queued"] == 2, limit=10)
    srv.p.send_signal(signal.SIGTERM)
    rest = read_until(a, lambda g: g.endswith(b"\r\n0\r\n\r\n"), 60)
    head, body, complete = dechunk(first + rest)
    ev = sse_events(body)
    last_err = json.loads(ev[-2]) if len(ev) >= 2 else {}
    check(complete and ev[-1] == "[DONE]" and
          last_err.get("error", {}).get("code") == "shutting_down" and
          all(e == "[DONE]" or json.loads(e) for e in ev),
          "SIGTERM: the stream ends with an error event, [DONE] and the last chunk (%d events)"
          % len(ev))
    got = read_until(b, lambda g: g.rstrip().endswith(b"}"), 30)
    check(got.startswith(b"HTTP/1.1 503") and b"shutting_down" in got,
          "SIGTERM: a queued stream is answered 503 shutting_down")
    # /api/top has no token to cancel at: answered in full, or 503 if it had not started.
    got = read_until(c, lambda g: g.rstrip().endswith(b"}"), 30)
    check((got.startswith(b"HTTP/1.1 200") and b"\"top\"" in got) or
          (got.startswith(b"HTTP/1.1 503") and b"shutting_down" in got),
          "SIGTERM: a queued request is answered (%s)" % got[:12].decode())
    b.close()
    c.close()
    a.close()
    rc, err = srv.stop()
    check(rc == 0 and "stopped" in err, "SIGTERM: exit 0 (%d)" % rc)
    check(not srv.sanitizer_report(), "no sanitizer report")


def main():
    if not os.path.isfile(os.path.join(MODELS, "tiny-shakespeare", "model.safetensors")):
        skip("the bundled model is not in %s" % MODELS)
    r = subprocess.run([CLI, "serve", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    check(r.returncode == 0 and b"--api-key" in r.stdout, "serve --help")
    r = subprocess.run([CLI, "serve", "--bogus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    check(r.returncode == 2 and r.stderr.count(b"\n") == 1, "serve --bogus: one line, exit 2")
    env = dict(os.environ)
    env.pop("TEMPSCALE_API_KEY", None)
    r = subprocess.run([CLI, "serve", "--host", "0.0.0.0", "--port", "0"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, env=env)
    check(r.returncode == 2 and r.stderr.count(b"\n") == 1 and b"--api-key" in r.stderr and
          b"TEMPSCALE_API_KEY" in r.stderr,
          "--host 0.0.0.0 without a key is refused in one line: " + r.stderr.decode().strip())
    s = Server("--host", "0.0.0.0", env={"TEMPSCALE_API_KEY": KEY})
    st, h, b = request(s, "GET", "/v1/models", headers=AUTH)
    st2, h2, b2 = request(s, "GET", "/v1/models")
    rc, err = s.stop()
    check(st == 200 and st2 == 401 and rc == 0,
          "--host 0.0.0.0 with TEMPSCALE_API_KEY: served, the key required")

    srv = Server("--api-key", KEY, "--parallel", "2")
    try:
        test_auth_routes_errors(srv)
        test_limits(srv)
        test_native_parity(srv)
        test_streams(srv)
    finally:
        rc, err = srv.stop()
    check(rc == 0 and not srv.sanitizer_report(), "server 1 stopped: exit 0, no sanitizer report")
    if rc != 0 or srv.sanitizer_report():
        print(err[-3000:])

    srv = Server("--parallel", "1", "--max-queue", "0", "--timeout", "2")
    try:
        test_cancel_and_queue(srv)
        test_slow_clients(srv)
        test_host_rule(srv)
    finally:
        rc, err = srv.stop(signal.SIGINT)
    check(rc == 0 and "SIGINT" in err and not srv.sanitizer_report(),
          "server 2 stopped by SIGINT: exit 0, no sanitizer report")
    if rc != 0 or srv.sanitizer_report():
        print(err[-3000:])

    srv = Server("--parallel", "1")
    test_stop(srv)
    if srv.sanitizer_report():
        print("".join(srv.err_lines)[-3000:])

    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
