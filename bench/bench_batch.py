#!/usr/bin/python3
"""bench_batch.py — `tempscale batch` throughput: lines/s for /v1/completions.

    /usr/bin/python3 bench/bench_batch.py [--cli build/tempscale] [--model DIR]
                                          [--lines 400] [--max-tokens 16] [--rounds 3]

Writes LINES requests {"prompt": <a different line of text each>, "max_tokens":
MAX_TOKENS, "temperature": 0.8, "seed": i} and times `tempscale batch` at
--parallel 1 and 2, alternating the two in every round (the machine is shared
and noisy: only alternating runs compare). Prints each run, then the median and
range of lines/s and generated tokens/s per setting, and the load average.
A benchmark, not a test: it asserts nothing but that every line was answered.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default="build/tempscale")
    ap.add_argument("--model", default=None)
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.jsonl")
        with open(inp, "w") as f:
            for i in range(a.lines):
                body = {"prompt": "ROMEO %d:\nWhat says the king of the %d-th hour?" % (i, i),
                        "max_tokens": a.max_tokens, "temperature": 0.8, "seed": i}
                f.write(json.dumps({"custom_id": "r%d" % i, "method": "POST",
                                    "url": "/v1/completions", "body": body}) + "\n")
        res = {1: [], 2: []}
        toks = {1: [], 2: []}
        for r in range(a.rounds):
            for par in (1, 2):
                out = os.path.join(tmp, "out-%d-%d.jsonl" % (r, par))
                cmd = [a.cli, "batch", inp, "-o", out, "--parallel", str(par), "--quiet"]
                if a.model:
                    cmd += ["--model", a.model]
                t0 = time.perf_counter()
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
                dt = time.perf_counter() - t0
                with open(out) as f:
                    lines = [json.loads(l) for l in f]
                ok = p.returncode == 0 and len(lines) == a.lines and all(
                    l["response"]["status_code"] == 200 for l in lines)
                if not ok:
                    print("run failed:", p.stderr.decode()[-500:])
                    return 1
                ntok = sum(l["response"]["body"]["usage"]["completion_tokens"] for l in lines)
                res[par].append(a.lines / dt)
                toks[par].append(ntok / dt)
                print("round %d  --parallel %d  %.2f s  %.1f lines/s  %.0f tokens/s"
                      % (r + 1, par, dt, a.lines / dt, ntok / dt))
        print("\n%d lines of /v1/completions, max_tokens %d, model %s" %
              (a.lines, a.max_tokens, a.model or "bundled tiny-shakespeare"))
        for par in (1, 2):
            v, t = res[par], toks[par]
            print("--parallel %d: %.1f lines/s (range %.1f-%.1f), %.0f tokens/s (median of %d)"
                  % (par, statistics.median(v), min(v), max(v), statistics.median(t), len(v)))
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
