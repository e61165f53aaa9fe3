#!/usr/bin/python3
"""bench_serve.py — throughput and time to first token of `tempscale serve`
with 1, 8 and 32 concurrent streaming clients (a benchmark, not a test).

Each client loops: POST /v1/completions {"prompt": P, "max_tokens": N,
"ignore_eos": true, "stream": true} and reads the SSE stream. For each
concurrency level, over SECONDS of wall time:
  tok/s     all tokens received / wall time (the server's throughput)
  per-stream tok/s   the median over streams of tokens / (last - first token)
  TTFT      time from sending the request to the first token chunk
            (median and p90; includes waiting for a context when all
            --parallel contexts are busy, which is what a client sees)
The load average is printed before and after: the machine is shared, so
compare numbers only within one run.

Usage: bench/bench_serve.py [--cli build/tempscale] [--model M] [--parallel N]
                            [--seconds 20] [--max-tokens 64] [--levels 1,8,32]
"""
import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def one_stream(srv, body):
    """(ttft s, tokens, seconds from first to last token) of one streamed completion."""
    import serve_util
    data = json.dumps(body).encode()
    s = socket.create_connection((srv.host, srv.port), timeout=600)
    t0 = time.monotonic()
    s.sendall(serve_util.raw_request(srv.host, srv.port, "POST", "/v1/completions", data))
    buf = b""
    first = last = None
    tokens = 0
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            i = ev.find(b"data: ")
            if i < 0:
                continue
            payload = ev[i + 6:]
            if payload.startswith(b"[DONE]"):
                s.close()
                return first - t0 if first else None, tokens, (last - first) if first else 0
            if b"\"finish_reason\":null" in payload:
                now = time.monotonic()
                first = first or now
                last = now
                tokens += 1
    s.close()
    return (first - t0 if first else None), tokens, (last - first) if first else 0


def level(srv, clients, seconds, body):
    ttft, rates = [], []
    total = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run():
        while time.monotonic() < deadline:
            t, n, span = one_stream(srv, body)
            with lock:
                if t is not None:
                    ttft.append(t)
                total[0] += n
                if span > 0:
                    rates.append((n - 1) / span)

    t0 = time.monotonic()
    th = [threading.Thread(target=run) for _ in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.monotonic() - t0
    ttft.sort()
    return {
        "clients": clients, "requests": len(ttft), "tokens": total[0], "wall_s": wall,
        "tok_s": total[0] / wall,
        "stream_tok_s": statistics.median(rates) if rates else 0.0,
        "ttft_median_ms": 1000 * statistics.median(ttft) if ttft else float("nan"),
        "ttft_p90_ms": 1000 * ttft[min(len(ttft) - 1, int(0.9 * len(ttft)))] if ttft else
        float("nan"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.path.join(HERE, "..", "build", "tempscale"))
    ap.add_argument("--model")
    ap.add_argument("--parallel", type=int)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument("--prompt", default="ROMEO:")
    a = ap.parse_args()
    os.environ["TS_CLI"] = a.cli
    import serve_util
    args = []
    if a.model:
        args += ["--model", a.model]
    if a.parallel:
        args += ["--parallel", str(a.parallel)]
    args += ["--max-queue", "1000", "--queue-timeout", "600", "--timeout", "600"]
    srv = serve_util.Server(*args)
    body = {"prompt": a.prompt, "max_tokens": a.max_tokens, "ignore_eos": True,
            "temperature": 1.0, "stream": True}
    print(srv.out_lines[0].strip())
    one_stream(srv, body)  # warm up
    load0 = os.getloadavg()
    rows = []
    try:
        for c in [int(x) for x in a.levels.split(",")]:
            l0 = os.getloadavg()[0]
            r = level(srv, c, a.seconds, body)
            r["load1"] = (l0 + os.getloadavg()[0]) / 2
            rows.append(r)
            print("%3d streams: %7.1f tok/s  per-stream %6.1f tok/s  TTFT median %7.1f ms  "
                  "p90 %7.1f ms  (%d requests, load %.1f)" % (c, r["tok_s"], r["stream_tok_s"],
                                                             r["ttft_median_ms"], r["ttft_p90_ms"],
                                                             r["requests"], r["load1"]),
                  flush=True)
    finally:
        srv.stop()
    load1 = os.getloadavg()
    print("\n| streams | tok/s (all) | tok/s per stream | TTFT median | TTFT p90 | requests | load avg |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| %d | %.1f | %.1f | %.0f ms | %.0f ms | %d | %.1f |" % (
            r["clients"], r["tok_s"], r["stream_tok_s"], r["ttft_median_ms"], r["ttft_p90_ms"],
            r["requests"], r["load1"]))
    print("\nmax_tokens %d, %s; load average before %.2f %.2f %.2f, after %.2f %.2f %.2f" % (
        a.max_tokens, "--parallel %d" % a.parallel if a.parallel else "--parallel = cores",
        *load0, *load1))


if __name__ == "__main__":
    main()
