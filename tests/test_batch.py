#!/usr/bin/python3
"""`tempscale batch` end to end, and JSON parity between the CLI and the API.

1. Parity: for every native analysis, the body a batch line returns for a
   request is byte for byte what `tempscale <command> --json` prints for the
   same fields (both come from ts_result_json); a bad value gets the same
   message from both (the CLI spells the field as its option).
2. 1,000 mixed lines with 50 malformed ones: 950 answers and 50 error lines
   naming their line, in input order.
3. Crash safety: the run is killed with SIGKILL part way, then rerun with the
   same -o: every custom_id is answered exactly once. Ctrl-C (SIGINT) ends
   with exit 130 and a rerun finishes the job.
Env: TS_CLI, TEMPSCALE_MODELS. Exit 0 ok, 1 on failure, 77 without the model.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

CLI = os.environ["TS_CLI"]
MODELS = os.environ.get("TEMPSCALE_MODELS", "models")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def run(args, **kw):
    return subprocess.run([CLI] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=600, **kw)


def cli_args(body):
    """The command-line options for a JSON body (the same field names)."""
    out = []
    for k, v in body.items():
        opt = "--" + k.replace("_", "-")
        if v is True:
            out.append(opt)
        elif isinstance(v, list) and k == "prompt":
            for p in v:
                out += [opt, p]
        elif isinstance(v, list):
            out += [opt, ",".join(str(x) for x in v)]
        else:
            out += [opt, str(v)]
    return out


def batch_lines(tmp, lines, extra=()):
    path = os.path.join(tmp, "in-%d.jsonl" % time.monotonic_ns())
    with open(path, "w") as f:
        for l in lines:
            f.write((l if isinstance(l, str) else json.dumps(l)) + "\n")
    p = run(["batch", path, "--quiet"] + list(extra))
    check(p.returncode == 0, "batch exits 0 (%s)" % p.stderr.decode(errors="replace")[-300:])
    return p.stdout.decode().splitlines()


PARITY = [
    ("softmax", {"logits": [3, 1, 0.5], "temperatures": [0, 0.5, 1, "inf"]}),
    ("tokenize", {"text": "Hello, world! \u00e9\u00e8 \U0001F600"}),
    ("top", {"prompt": "ROMEO:", "k": 7, "temperature": 0.7}),
    ("sample", {"prompt": "JULIET:", "k": 5, "n": 50, "seed": 3}),
    ("sweep", {"prompt": "To be", "temperatures": [0.5, 1, 2], "target_entropy": [1.5], "k": 4}),
    ("generate", {"prompt": "KING:", "temperature": 0.8, "max_new_tokens": 12, "seed": 9,
                  "samples": 2}),
    ("compare", {"prompt": ["A", "B"], "temperatures": [0.5, 1], "samples": 1,
                 "max_new_tokens": 5, "coupled": True, "seed": 4}),
]

BAD = [
    ("generate", {"top_p": 1.5}, "top_p: 1.5 is outside (0, 1]"),
    ("top", {"k": 0}, "k: 0 is outside [1, 1073741824]"),
    ("sweep", {"temperatures": [1, -2]}, "temperatures: item 2: -2 is outside [0, inf]"),
    ("top", {"k": 60000}, "k: 60000 is outside [1, 50257] (the vocabulary size)"),
    ("generate", {"order": "xyz"}, "order: unknown value 'xyz' (expected hf or llama)"),
    ("sample", {"temperature": -1}, "temperature: -1 is outside [0, inf]"),
]


def test_parity(tmp):
    lines = [{"custom_id": name, "method": "POST", "url": "/api/" + name, "body": body}
             for name, body in PARITY]
    out = batch_lines(tmp, lines)
    check(len(out) == len(PARITY), "parity: one answer per line")
    for (name, body), line in zip(PARITY, out):
        p = run([name, "--json"] + cli_args(body))
        cli = p.stdout.decode().rstrip("\n")
        o = json.loads(line)
        check(o["response"]["status_code"] == 200, "%s: batch status 200" % name)
        # The body's bytes inside the line are exactly the CLI's output.
        check(('"body":' + cli + '}') in line, "%s: batch body == CLI --json, byte for byte" % name)
    lines = [{"custom_id": "bad%d" % i, "method": "POST", "url": "/api/" + name, "body": body}
             for i, (name, body, _) in enumerate(BAD)]
    out = batch_lines(tmp, lines)
    for (name, body, want), line in zip(BAD, out):
        o = json.loads(line)
        e = o["response"]["body"]["error"]
        field = want.split(":")[0]
        check(o["response"]["status_code"] == 400 and e["message"].startswith(want)
              and e["param"] == field, "%s %s: 400 '%s' (param %s)" % (name, body, e["message"],
                                                                       e["param"]))
        p = run([name] + cli_args(body))
        err = p.stderr.decode().strip()
        cli_msg = err.replace("tempscale: error: option --%s: " % field.replace("_", "-"),
                              field + ": ")
        check(p.returncode == 2 and cli_msg == e["message"],
              "%s: the CLI says the same (%r vs %r)" % (name, cli_msg, e["message"]))


def mixed_lines(n=1000, n_bad=50):
    """n lines, every (n // n_bad)-th one malformed in one of several ways."""
    bad_kinds = ['{"custom_id": "x", "method": "POST", "url": ',  # not JSON
                 '{"method": "POST", "url": "/api/tokenize", "body": {"text": "a"}}',  # no id
                 '["not", "an", "object"]',
                 None,  # body not an object
                 None]  # method missing
    lines, bad = [], set()
    for i in range(n):
        cid = "req-%04d" % i
        if i % (n // n_bad) == 7:
            k = len(bad) % len(bad_kinds)
            if k == 3:
                l = json.dumps({"custom_id": cid, "method": "POST", "url": "/api/top",
                                "body": "ROMEO:"})
            elif k == 4:
                l = json.dumps({"custom_id": cid, "url": "/api/top", "body": {}})
            else:
                l = bad_kinds[k]
            lines.append(l)
            bad.add(i)
            continue
        kind = i % 4
        if kind == 0:
            body = {"text": "line %d of the batch" % i}
            url = "/api/tokenize"
        elif kind == 1:
            body = {"logits": [i % 7, 1, 0.5], "temperatures": [0.5, 1]}
            url = "/api/softmax"
        elif kind == 2:
            body = {"prompt": "ROMEO %d:" % i, "k": 3}
            url = "/api/top"
        else:
            body = {"prompt": "JULIET %d:" % i, "max_tokens": 4, "temperature": 0.7, "seed": i}
            url = "/v1/completions"
        lines.append(json.dumps({"custom_id": cid, "method": "POST", "url": url, "body": body}))
    return lines, bad


def test_mixed(tmp):
    lines, bad = mixed_lines()
    out = batch_lines(tmp, lines)
    check(len(out) == 1000, "mixed: 1000 output lines (got %d)" % len(out))
    n_ok = n_err = 0
    order_ok = True
    for i, line in enumerate(out):
        o = json.loads(line)
        if i in bad:
            e = o.get("error") or {}
            good = o["response"] is None and ("line %d:" % (i + 1)) in e.get("message", "")
            n_err += good
        else:
            good = o["custom_id"] == "req-%04d" % i and o["response"]["status_code"] == 200
            n_ok += good
        order_ok &= o["id"] == "batch_req_%06d" % (i + 1)
    check(n_ok == 950 and n_err == 50, "mixed: 950 answers and 50 error lines (%d, %d)"
          % (n_ok, n_err))
    check(order_ok, "mixed: answers in input order")


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def test_resume(tmp):
    lines, bad = mixed_lines()
    inp = os.path.join(tmp, "resume.jsonl")
    with open(inp, "w") as f:
        f.write("\n".join(lines) + "\n")
    for sig, name in ((signal.SIGKILL, "SIGKILL"), (signal.SIGINT, "SIGINT")):
        out = os.path.join(tmp, "resume-%s.jsonl" % name)
        p = subprocess.Popen([CLI, "batch", inp, "-o", out, "--parallel", "2", "--quiet"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        t0 = time.time()
        while count_lines(out) < 200 and p.poll() is None and time.time() - t0 < 120:
            time.sleep(0.005)
        part = count_lines(out)
        p.send_signal(sig)
        p.wait(timeout=120)
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        if sig == signal.SIGINT:
            check(p.returncode == 130 and "rerun" in err,
                  "SIGINT: exit 130 and a hint to rerun (%d, %r)" % (p.returncode, err[-200:]))
        check(0 < part < 1000, "%s: stopped part way (%d lines out)" % (name, part))
        r = run(["batch", inp, "-o", out, "--parallel", "2", "--quiet"])
        check(r.returncode == 0, "%s: the rerun finishes" % name)
        with open(out) as f:
            got = [json.loads(l) for l in f]
        ids = [o["custom_id"] if o["custom_id"] is not None else o["id"] for o in got]
        check(len(got) == 1000 and len(set(ids)) == 1000,
              "%s + rerun: every line answered exactly once (%d lines, %d distinct)"
              % (name, len(got), len(set(ids))))
        r = run(["batch", inp, "-o", out, "--quiet"])
        check(r.returncode == 0 and count_lines(out) == 1000, "%s: a third run adds nothing" % name)


def test_bad_invocations(tmp):
    for args, needle in ((["batch"], "no input"), (["batch", "/nonexistent/in.jsonl"],
                                                    "/nonexistent/in.jsonl"),
                         (["batch", "x.jsonl", "--parallel", "0"], "--parallel"),
                         (["batch", "x.jsonl", "--bogus"], "--bogus")):
        p = run(args)
        err = p.stderr.decode()
        check(p.returncode == 2 and err.startswith("tempscale: error: ") and needle in err
              and err.count("\n") == 1, "batch %s: one-line error naming %s" % (args[1:], needle))


def main():
    if not os.path.exists(os.path.join(MODELS, "tiny-shakespeare", "config.json")):
        print("SKIP: no bundled model")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        test_parity(tmp)
        test_mixed(tmp)
        test_resume(tmp)
        test_bad_invocations(tmp)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all batch checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
