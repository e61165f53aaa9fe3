#!/usr/bin/python3
"""Load on `tempscale serve` for TS_LOAD_SECONDS (60 s in the ASan build, 10 s in
Release): 64 streaming clients, 16 slow-loris clients and 4 clients sending
malformed requests, all at once, against one server (--parallel 2, an API key,
--timeout 5).

Pass when, over the whole run:
  - the server never crashes, and exits 0 on SIGTERM with no sanitizer or
    LeakSanitizer report (the ASan build checks leaks at exit);
  - every well-formed request got the right answer: each stream is a 200 of
    SSE events ending in [DONE], and its text (or its result event) equals
    the answer the server gave for the same request and seed before the load;
  - every malformed request got its status and an OpenAI-shaped error (bad
    JSON 400, wrong type 400 naming the field, Content-Length over 1 MiB 413,
    chunked body over 1 MiB 413, unknown route 404, wrong method 405, missing
    or wrong key 401); garbage that is not HTTP gets a 400 or a close;
  - every slow-loris connection is closed by the server within --timeout +
    3 s, and never stalls the others;
  - RSS stays bounded: the peak of the last third of the run is within 25 %
    (+ 16 MiB) of the peak of the middle third.
Prints the figures (requests by kind, errors by type, peak RSS, duration) and
writes them to $TS_BUILD_DIR/serve_load.json when that is set.
"""
import json
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, raw_request, read_until, request, skip, sse_events, dechunk

MODELS = os.environ.get("TEMPSCALE_MODELS", "models")
SECONDS = float(os.environ.get("TS_LOAD_SECONDS", "10"))
KEY = "load-key-42"
AUTH = {"Authorization": "Bearer " + KEY}
N_STREAMS, N_LORIS, N_BAD = 64, 16, 4
TIMEOUT = 5

lock = threading.Lock()
counts = {}
problems = []


def count(kind, n=1):
    with lock:
        counts[kind] = counts.get(kind, 0) + n


def problem(what):
    with lock:
        if len(problems) < 50:
            problems.append(what)
    count("WRONG")


PROMPTS = ["ROMEO:", "JULIET:", "First Citizen:", "KING HENRY", "O, what a", "To be, or not"]


def references(srv):
    """The answers, before the load, of the requests the streaming clients will repeat."""
    refs = []
    rnd = random.Random(7)
    for i in range(24):
        body = {"prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": rnd.randint(4, 24),
                "temperature": rnd.choice([0, 0.7, 1.0, 1.5]), "seed": 1000 + i,
                "top_p": rnd.choice([1, 0.9])}
        if i % 4 == 3:
            path = "/api/generate"
            body = {"prompt": body["prompt"], "max_new_tokens": body["max_tokens"],
                    "temperature": body["temperature"], "seed": body["seed"]}
        else:
            path = "/v1/completions"
        st, h, b = request(srv, "POST", path, body, AUTH, timeout=300)
        if st != 200:
            raise RuntimeError("reference %s %s: %d %s" % (path, body, st, b[:200]))
        refs.append((path, body, json.loads(b)))
    return refs


def stream_client(srv, refs, deadline, seed):
    rnd = random.Random(seed)
    while time.monotonic() < deadline:
        path, body, ref = rnd.choice(refs)
        try:
            s = socket.create_connection((srv.host, srv.port), timeout=300)
            s.sendall(raw_request(srv.host, srv.port, "POST", path,
                                  json.dumps(dict(body, stream=True)).encode(), AUTH))
            raw = read_until(s, lambda g: g.endswith(b"\r\n0\r\n\r\n") or
                             (g.startswith(b"HTTP/1.1 5") and g.rstrip().endswith(b"}")), 300)
            s.close()
        except OSError as e:
            problem("stream %s: %s" % (path, e))
            continue
        head, payload, complete = dechunk(raw)
        if not head.startswith(b"HTTP/1.1 200") or not complete:
            problem("stream %s: %r" % (path, raw[:200]))
            continue
        ev = sse_events(payload)
        try:
            objs = [json.loads(e) for e in ev[:-1]]
        except ValueError:
            problem("stream %s: an event is not JSON" % path)
            continue
        if not ev or ev[-1] != "[DONE]":
            problem("stream %s: no [DONE]" % path)
            continue
        if path == "/v1/completions":
            text = "".join(o["choices"][0]["text"] for o in objs)
            want = ref["choices"][0]["text"]
            fin = objs[-1]["choices"][0]["finish_reason"]
            ok = text == want and fin == ref["choices"][0]["finish_reason"]
        else:
            res = [o for o in objs if o.get("event") == "result"]
            ok = len(res) == 1 and res[0]["result"] == ref
        if ok:
            count("stream ok")
        else:
            problem("stream %s seed %s: text differs from the reference" % (path, body["seed"]))


def loris_client(srv, deadline, seed):
    rnd = random.Random(seed)
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection((srv.host, srv.port), timeout=30)
        except OSError as e:
            problem("loris connect: %s" % e)
            time.sleep(0.5)
            continue
        head = b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + \
            KEY.encode() + b"\r\nX-Slow: " + b"z" * 4000
        t0 = time.monotonic()
        closed = False
        i = 0
        while time.monotonic() - t0 < TIMEOUT + 10:
            try:
                s.send(head[i:i + 1])
                i += 1
                s.settimeout(rnd.uniform(0.5, 1.5))
                d = s.recv(4096)
                closed = True  # b"" (closed) or an answer: either way the server acted
                break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        dt = time.monotonic() - t0
        s.close()
        if closed and dt <= TIMEOUT + 3:
            count("loris cut off")
        elif time.monotonic() < deadline:
            problem("slow loris connection still open after %.1f s" % dt)


BAD = [
    # (name, method, path, body or raw bytes, headers, expected status, expected code/param)
    ("bad json", "POST", "/v1/completions", b"{\"prompt\": \"a\",", AUTH, 400, "invalid_json"),
    ("not an object", "POST", "/api/top", b"[1, 2, 3]", AUTH, 400, "invalid_json"),
    ("wrong type", "POST", "/v1/completions", b"{\"prompt\": \"a\", \"max_tokens\": \"many\"}",
     AUTH, 400, "param:max_tokens"),
    ("wrong type", "POST", "/api/sweep", b"{\"prompt\": \"a\", \"temperatures\": 3}", AUTH, 400,
     "param:temperatures"),
    ("out of range", "POST", "/v1/completions", b"{\"prompt\": \"a\", \"temperature\": -1}", AUTH,
     400, "param:temperature"),
    ("unknown route", "POST", "/v1/chat/completions", b"{}", AUTH, 404, "unknown_route"),
    ("unknown route", "GET", "/admin", None, AUTH, 404, "unknown_route"),
    ("wrong method", "PUT", "/v1/completions", b"{}", AUTH, 405, "method_not_allowed"),
    ("no key", "POST", "/v1/completions", b"{\"prompt\": \"a\"}", {}, 401, "invalid_api_key"),
    ("bad key", "GET", "/v1/models", None, {"Authorization": "Bearer nope"}, 401,
     "invalid_api_key"),
    ("bad key", "POST", "/api/top", b"{}", {"Authorization": "Basic " + KEY}, 401,
     "invalid_api_key"),
]


def error_ok(body, want):
    try:
        e = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if set(e) != {"message", "type", "param", "code"}:
        return False
    if want.startswith("param:"):
        return e["param"] == want[6:]
    return e["code"] == want


def bad_client(srv, deadline, seed):
    rnd = random.Random(seed)
    while time.monotonic() < deadline:
        r = rnd.random()
        try:
            if r < 0.7:
                name, method, path, body, headers, status, want = rnd.choice(BAD)
                st, h, b = request(srv, method, path, body, headers, timeout=60)
                if st == status and error_ok(b, want):
                    count("bad ok: " + name)
                else:
                    problem("%s %s %s: %d %r" % (name, method, path, st, b[:120]))
            elif r < 0.8:
                # Content-Length over 1 MiB: 413 before the body.
                s = socket.create_connection((srv.host, srv.port), timeout=60)
                s.sendall(raw_request(srv.host, srv.port, "POST", "/v1/completions", b"",
                                      dict(AUTH, **{"Content-Length": str(5 << 20)})))
                got = read_until(s, lambda g: g.rstrip().endswith(b"}"), 60)
                s.close()
                if got.startswith(b"HTTP/1.1 413") and b"body_too_large" in got:
                    count("bad ok: huge body (Content-Length)")
                else:
                    problem("huge Content-Length: %r" % got[:120])
            elif r < 0.9:
                # Chunked, 1 MiB + 1: 413 after reading (nothing kept).
                s = socket.create_connection((srv.host, srv.port), timeout=60)
                s.sendall(("POST /api/top HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n" % KEY).encode())
                piece = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
                for _ in range(16):
                    s.sendall(piece)
                s.sendall(b"1\r\n \r\n0\r\n\r\n")
                got = read_until(s, lambda g: g.rstrip().endswith(b"}"), 60)
                s.close()
                if got.startswith(b"HTTP/1.1 413") and b"body_too_large" in got:
                    count("bad ok: huge body (chunked)")
                else:
                    problem("huge chunked body: %r" % got[:120])
            else:
                # Not HTTP at all: a 400 from the server, or a close; never a hang.
                junk = rnd.choice([b"GARBAGE\r\n\r\n", b"\x00\xff\xfe" * 50 + b"\r\n\r\n",
                                   b"GET / HTTP/9.9\r\n\r\n", b"POST /v1/completions HTTP/1.1\r\n"
                                   b"Host: x\r\nContent-Length: -5\r\n\r\n"])
                s = socket.create_connection((srv.host, srv.port), timeout=60)
                s.sendall(junk)
                got = read_until(s, lambda g: b"\r\n\r\n" in g, 30)
                s.close()
                if got == b"" or got.startswith(b"HTTP/1.1 4") or got.startswith(b"HTTP/1.0 4") \
                        or got.startswith(b"HTTP/1.1 505"):
                    count("bad ok: not HTTP")
                else:
                    problem("garbage %r: %r" % (junk[:20], got[:120]))
        except OSError as e:
            problem("malformed client: %s" % e)


def main():
    if not os.path.isfile(os.path.join(MODELS, "tiny-shakespeare", "model.safetensors")):
        skip("the bundled model is not in %s" % MODELS)
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=32"}
    srv = Server("--api-key", KEY, "--parallel", "2", "--max-queue", "128", "--queue-timeout",
                 "300", "--timeout", str(TIMEOUT), "--max-connections", "512", env=env)
    try:
        refs = references(srv)
    except Exception:
        srv.stop()
        raise
    rss = []
    t0 = time.monotonic()
    deadline = t0 + SECONDS
    threads = [threading.Thread(target=stream_client, args=(srv, refs, deadline, i))
               for i in range(N_STREAMS)]
    threads += [threading.Thread(target=loris_client, args=(srv, deadline, 100 + i))
                for i in range(N_LORIS)]
    threads += [threading.Thread(target=bad_client, args=(srv, deadline, 200 + i))
                for i in range(N_BAD)]
    for t in threads:
        t.daemon = True
        t.start()
    while any(t.is_alive() for t in threads):
        r = srv.rss_kb()
        if r is None or srv.p.poll() is not None:
            problem("the server died (exit %s)" % srv.p.poll())
            break
        rss.append((time.monotonic() - t0, r))
        time.sleep(0.25)
        if time.monotonic() > deadline + 600:
            problem("clients still running 600 s after the end")
            break
    for t in threads:
        t.join(1)
    duration = time.monotonic() - t0
    st, h, b = request(srv, "GET", "/health", timeout=60)
    health = json.loads(b) if st == 200 else {}
    rc, err = srv.stop()
    san = srv.sanitizer_report()
    if rc != 0:
        problem("exit status %d after SIGTERM" % rc)
    if san:
        problem("sanitizer report: %s" % san)
        print(err[-4000:])

    run_rss = [r for t, r in rss if t <= SECONDS]
    thirds = [[r for t, r in rss if SECONDS * k / 3 <= t < SECONDS * (k + 1) / 3] for k in range(3)]
    peak = max(run_rss) if run_rss else 0
    mid, last = (max(thirds[1]) if thirds[1] else 0), (max(thirds[2]) if thirds[2] else 0)
    bounded = mid > 0 and last <= 1.25 * mid + 16 * 1024
    if not bounded:
        problem("RSS grew: middle third peak %d KiB, last third peak %d KiB" % (mid, last))
    streams = counts.get("stream ok", 0)
    bad = sum(v for k, v in counts.items() if k.startswith("bad ok"))
    summary = {
        "seconds": SECONDS, "duration_s": round(duration, 1),
        "streams_ok": streams, "malformed_ok": bad, "loris_cut_off": counts.get("loris cut off", 0),
        "wrong": counts.get("WRONG", 0), "by_kind": dict(sorted(counts.items())),
        "peak_rss_mib": round(peak / 1024, 1), "rss_mid_third_mib": round(mid / 1024, 1),
        "rss_last_third_mib": round(last / 1024, 1), "server_health": health, "exit": rc,
    }
    print(json.dumps(summary, indent=1))
    out = os.environ.get("TS_BUILD_DIR")
    if out:
        with open(os.path.join(out, "serve_load.json"), "w") as f:
            json.dump(summary, f, indent=1)
    ok = (not problems and streams >= N_STREAMS and bad >= 20 and
          counts.get("loris cut off", 0) >= N_LORIS)
    for p in problems:
        print("FAIL " + p)
    if streams < N_STREAMS:
        print("FAIL only %d streams completed" % streams)
    print("load: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
