#!/usr/bin/env python3
"""End-to-end tests of the walkthrough commands on the bundled model.

Drives $TS_CLI (the built tempscale) with only the Python standard library:
  - every command runs and its --json parses, with the contract's fields;
  - sweep/top probabilities equal softmax(logits / T): prob_topk from the top
    logits in the JSON, prob and entropy over the full vocabulary from the
    logits dumped by `top --dump-logits` (npy parsed here), within 1e-6;
    exactly one forward pass for all temperatures;
  - sample counts sum to n and pass a chi-square test at a fixed seed
    (statistic recomputed here);
  - same --seed -> byte-identical generate / compare / demo output;
  - T = 0 equals a greedy decode computed here token by token with `top`
    (a fresh prefill per token, so it also checks the KV-cache decode path);
  - compare --coupled at T = 1e-4 equals the greedy text;
  - bad input exits 2 with a one-line message;
  - demo --html writes a well-formed self-contained report, in < 60 s.
Exit 0 on success, 1 on failure, 77 when the bundled model is absent.
"""
import base64
import html.parser
import json
import math
import os
import shlex
import struct
import subprocess
import sys
import tempfile
import time

CLI = os.environ.get("TS_CLI", "tempscale")
SRC = os.environ.get("TS_SOURCE_DIR", ".")
PROMPT = "In the future, AI will"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def run(*args, expect=0):
    p = subprocess.run([CLI, *args], capture_output=True, stdin=subprocess.DEVNULL,
                       env={**os.environ, "NO_COLOR": "1"})
    if expect is not None and p.returncode != expect:
        check(False, "%s: exit %d (expected %d): %s" % (" ".join(args), p.returncode, expect,
                                                        p.stderr.decode(errors="replace").strip()))
    return p


def run_json(*args):
    p = run(*args, "--json")
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        check(False, "%s: JSON does not parse (%s)" % (" ".join(args), e))
        return None


def read_npy_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", "not an npy file"
    major = data[6]
    if major == 1:
        hlen = struct.unpack("<H", data[8:10])[0]
        off = 10
    else:
        hlen = struct.unpack("<I", data[8:12])[0]
        off = 12
    header = data[off:off + hlen].decode("latin1")
    assert "'<f4'" in header and "'fortran_order': False" in header, header
    body = data[off + hlen:]
    return list(struct.unpack("<%df" % (len(body) // 4), body))


def softmax(z, t):
    if t == 0:
        m = max(range(len(z)), key=lambda i: (z[i], -i))
        return [1.0 if i == m else 0.0 for i in range(len(z))]
    zmax = max(z)
    e = [math.exp((v - zmax) / t) for v in z]
    s = math.fsum(e)
    return [v / s for v in e]


def entropy(p):
    return -math.fsum(v * math.log(v) for v in p if v > 0)


def test_help():
    for cmd in ("top", "generate", "sample", "sweep", "compare", "demo"):
        p = run(cmd, "--help")
        out = p.stdout.decode()
        check("Usage: tempscale " + cmd in out and "Example" in out, cmd + " --help teaches")


def test_top_and_sweep(tmp):
    npy = os.path.join(tmp, "logits.npy")
    top = run_json("top", "--prompt", PROMPT, "--k", "10", "--dump-logits", npy)
    if not top:
        return
    check(top["ids"] == [818, 262, 2003, 11, 9552, 481], "top: ids of the seed prompt")
    check(len(top["top"]) == 10 and [e["rank"] for e in top["top"]] == list(range(1, 11)),
          "top: 10 ranked entries")
    for e in top["top"]:
        check(set(e) >= {"rank", "id", "token", "logit", "prob", "prob_topk"}, "top: fields")
    z = read_npy_f32(npy)
    check(len(z) == top["vocab_size"], "dump-logits: one logit per vocabulary entry")
    p1 = softmax(z, 1.0)
    order = sorted(range(len(z)), key=lambda i: (-z[i], i))[:10]
    check([e["id"] for e in top["top"]] == order, "top: ids are the 10 largest dumped logits")
    check(abs(top["entropy_nats"] - entropy(p1)) < 1e-6, "top: entropy over the full vocabulary")
    for e in top["top"]:
        check(abs(e["logit"] - z[e["id"]]) < 1e-6, "top: logit equals the dumped logit")
        check(abs(e["prob"] - p1[e["id"]]) < 1e-6, "top: prob = softmax(full logits)")
    temps = [0.01, 0.1, 0.5, 1, 2, 5, 100]
    sw = run_json("sweep", "--prompt", PROMPT, "--k", "10",
                  "--temperatures", ",".join(str(t) for t in temps), "--target-entropy", "2")
    if not sw:
        return
    check(sw.get("forward_passes") == 1, "sweep: one forward pass for all temperatures")
    check([r["temperature"] for r in sw["results"]][:7] == temps, "sweep: temperatures in order")
    worst = 0.0
    for r in sw["results"]:
        t = r["temperature"]
        logits = [e["logit"] for e in r["top"]]
        ptop = softmax(logits, t)
        pfull = softmax(z, t)
        for e, q in zip(r["top"], ptop):
            worst = max(worst, abs(e["prob_topk"] - q), abs(e["prob"] - pfull[e["id"]]))
        check(abs(r["entropy_nats"] - entropy(pfull)) < 1e-6, "sweep: entropy at T=%g" % t)
    check(worst < 1e-6, "sweep: probabilities = softmax(logits / T) within 1e-6 (worst %.2e)" % worst)
    print("sweep: worst |prob - softmax| = %.2e over %d temperatures" % (worst, len(sw["results"])))
    tgt = sw["targets"][0]
    check(abs(entropy(softmax(z, tgt["temperature"])) - 2.0) < 1e-6,
          "sweep --target-entropy: entropy at the solved T is the target")
    plot = os.path.join(tmp, "sweep.png")
    run("sweep", "--prompt", PROMPT, "--plot", plot)
    with open(plot, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "sweep --plot writes a PNG")


def test_sample():
    n = 2000
    s = run_json("sample", "--prompt", PROMPT, "--k", "10", "--n", str(n), "--seed", "42")
    if not s:
        return
    check(len(s["samples"]) == n, "sample: n samples")
    counts = s["counts"]
    check(sum(c["count"] for c in counts) == n, "sample: counts sum to n")
    check(abs(sum(c["expected"] for c in counts) - n) < 1e-6, "sample: expected counts sum to n")
    ids = [c["id"] for c in counts]
    check(all(x in ids for x in s["samples"]), "sample: every draw is one of the top k")
    for c in counts:
        check(s["samples"].count(c["id"]) == c["count"], "sample: count matches the draws")
    # Independent Pearson statistic (all expected counts >= 5 at n = 2000 is typical; pool otherwise).
    stat, bins, po, pe = 0.0, 0, 0.0, 0.0
    for c in counts:
        po += c["count"]
        pe += c["expected"]
        if pe >= 5:
            stat += (po - pe) ** 2 / pe
            bins += 1
            po = pe = 0.0
    if bins and pe == 0:
        check(abs(stat - s["chi2"]) < 1e-6, "sample: chi-square statistic recomputed")
    check(s["chi2_p"] > 0.01, "sample: chi-square p-value %.3f > 0.01 at seed 42" % s["chi2_p"])
    print("sample: chi2 = %.3f, dof %d, p = %.3f" % (s["chi2"], s["chi2_dof"], s["chi2_p"]))


def greedy_decode(n):
    ids = [818, 262, 2003, 11, 9552, 481]
    out = []
    for _ in range(n):
        t = run_json("top", "--ids", ",".join(map(str, ids)), "--k", "1")
        nxt = t["top"][0]["id"]
        out.append(nxt)
        if nxt == 50256:
            break
        ids.append(nxt)
    return out


def test_generate_and_compare():
    a = run("generate", "--prompt", PROMPT, "--seed", "7", "--max-new-tokens", "30")
    b = run("generate", "--prompt", PROMPT, "--seed", "7", "--max-new-tokens", "30")
    check(a.stdout == b.stdout and len(a.stdout) > len(PROMPT), "generate: same seed, same bytes")
    c = run("generate", "--prompt", PROMPT, "--seed", "8", "--max-new-tokens", "30")
    check(c.stdout != a.stdout, "generate: another seed, other text")
    g = run_json("generate", "--prompt", PROMPT, "--seed", "7", "--max-new-tokens", "12")
    if g:
        check(set(g) >= {"prompt", "ids", "text", "steps"}, "generate --json fields")
        for st in g["steps"]:
            check(set(st) >= {"id", "token", "prob", "entropy_nats"}, "generate step fields")
            check(0 < st["prob"] <= 1 and st["entropy_nats"] >= 0, "generate step values")
    n = 12
    ref = greedy_decode(n)
    g0 = run_json("generate", "--prompt", PROMPT, "--temperature", "0", "--max-new-tokens", str(n),
                  "--seed", "1")
    if g0:
        got = [st["id"] for st in g0["steps"]]
        check(got == ref, "generate T=0 equals greedy decode: %s vs %s" % (got, ref))
        check(all(st["prob"] == 1.0 and st["entropy_nats"] == 0.0 for st in g0["steps"]),
              "generate T=0: every step certain")
    cc = run_json("compare", "--prompt", PROMPT, "--temperatures", "0.0001,1", "--samples", "3",
                  "--max-new-tokens", str(n), "--coupled", "--seed", "5")
    if cc and g0:
        pr = cc["prompts"][0]
        check(pr["greedy"] == g0["text"], "compare: greedy text equals generate T=0")
        for sm in pr["results"][0]["samples"]:
            check(sm["text"] == g0["text"] and sm["diverges_at"] == -1,
                  "compare --coupled at T=1e-4 equals the greedy text")
        hi = pr["results"][1]["samples"]
        check(any(sm["diverges_at"] >= 0 for sm in hi), "compare: T=1 samples leave greedy")
    c1 = run("compare", "--samples", "2", "--max-new-tokens", "10", "--seed", "3")
    c2 = run("compare", "--samples", "2", "--max-new-tokens", "10", "--seed", "3")
    check(c1.stdout == c2.stdout and c1.stdout.count(b"Prompt") == 3,
          "compare: default 3 prompts, same seed -> same bytes")
    c3 = run("compare", "--samples", "2", "--max-new-tokens", "10", "--seed", "3", "--coupled")
    c4 = run("compare", "--samples", "2", "--max-new-tokens", "10", "--seed", "3", "--coupled")
    check(c3.stdout == c4.stdout, "compare --coupled: same seed -> same bytes")
    p = run("generate", "--max-new-tokens", "5")
    check(b"--seed" in p.stderr, "generate without --seed prints the seed to stderr")


def test_bad_input():
    long_prompt = "word " * 3000
    cases = [
        ("top", "--prompt", ""),
        ("generate", "--prompt", ""),
        ("sample", "--prompt", ""),
        ("sweep", "--prompt", ""),
        ("top", "--k", "60000"),
        ("sweep", "--k", "60000"),
        ("sample", "--k", "60000"),
        ("generate", "--top-k", "60000"),
        ("sample", "--n", "0"),
        ("sample", "--n", "-3"),
        ("generate", "--max-new-tokens", "0"),
        ("generate", "--samples", "0"),
        ("compare", "--samples", "0"),
        ("generate", "--order", "bogus"),
        ("compare", "--order", "bogus"),
        ("generate", "--temperature", "-1"),
        ("sweep", "--temperatures", "1,-2"),
        ("sweep", "--target-entropy", "99"),
        ("top", "--prompt", long_prompt),
        ("generate", "--prompt", long_prompt),
        ("generate", "--max-new-tokens", "2000000"),
        ("compare", "--max-new-tokens", "2000000"),
        ("top", "--ids", "1,2,99999999"),
        ("top", "--prompt", "x", "--ids", "1"),
        ("compare", "--prompts-file", "/nonexistent/prompts.txt"),
        ("demo", "--bogus"),
    ]
    for args in cases:
        p = run(*args, expect=None)
        err = p.stderr.decode(errors="replace").strip().splitlines()
        label = " ".join(a if len(a) < 30 else a[:20] + "..." for a in args)
        check(p.returncode == 2, "bad input exits 2: %s (got %d)" % (label, p.returncode))
        check(len(err) >= 1 and err[0].startswith("tempscale: error:"),
              "bad input names the problem: %s -> %r" % (label, err[:1]))
        check(p.stdout == b"", "bad input prints nothing on stdout: " + label)


class Checker(html.parser.HTMLParser):
    VOID = {"meta", "img", "br", "link", "hr", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.h2, self.imgs, self.tables = [], [], 0, [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self.h2 += 1
        if tag == "table":
            self.tables += 1
        if tag == "img":
            self.imgs.append(dict(attrs).get("src", ""))
        if tag in ("script", "link"):
            self.errors.append("external or active content: " + tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("mismatched </%s> (open: %s)" % (tag, self.stack[-3:]))
        else:
            self.stack.pop()


def test_demo(tmp):
    out = os.path.join(tmp, "report.html")
    figs = os.path.join(tmp, "figs")
    t0 = time.time()
    a = run("demo", "--seed", "42", "--html", out, "--out-dir", figs)
    dt = time.time() - t0
    check(dt < 60, "demo runs in under a minute (%.1f s)" % dt)
    print("demo: %.2f s" % dt)
    b = run("demo", "--seed", "42")
    c = run("demo", "--seed", "42")
    check(b.stdout == c.stdout, "demo: same seed -> same bytes")
    text = a.stdout.decode()
    for i in range(1, 11):
        check(("== %d." % i) in text, "demo: section %d present" % i)
    with open(out, encoding="utf-8") as f:
        doc = f.read()
    ck = Checker()
    ck.feed(doc)
    ck.close()
    check(doc.startswith("<!DOCTYPE html>") and not ck.stack and not ck.errors,
          "report: well-formed (%s %s)" % (ck.errors[:2], ck.stack))
    check(ck.h2 == 11, "report: 10 sections and the references (got %d)" % ck.h2)
    for ref in ("Guo", "Hinton", "Holtzman", "Fan, Lewis", "Basu", "Meister", "Nguyen"):
        check(ref in doc, "report: references cite " + ref)
    check("[science]" in doc and "[math]" in doc, "report: prompt labels in the grid")
    check("@media (max-width:760px)" in doc, "report: a narrow-screen layout")
    check(ck.tables >= 8, "report: tables as <table> (got %d)" % ck.tables)
    check(len(ck.imgs) == 5, "report: five figures (got %d)" % len(ck.imgs))
    for src in ck.imgs:
        ok = src.startswith("data:image/svg+xml;base64,")
        if ok:
            svg = base64.b64decode(src.split(",", 1)[1])
            ok = b"<svg" in svg[:400]
        check(ok, "report: figure embedded as a data-URI SVG")
    check("http://" not in doc.replace("http://www.w3.org", "") and "https://" not in doc,
          "report: no external resources")
    check("tempscale sweep" in doc and "--seed 42" in doc, "report: reproducing commands")
    for name in ("softmax.svg", "sweep.svg", "diversity.svg", "diversity-metrics.svg",
                 "diversity-divergence.svg"):
        check(os.path.exists(os.path.join(figs, name)), "demo --out-dir keeps " + name)


def test_demo_sections(tmp):
    """Every command the demo shows prints exactly what the demo shows after it."""
    demo = run("demo", "--seed", "11").stdout.decode()
    blocks = []
    lines = demo.split("\n")
    pos = 0
    starts = [i for i in range(len(demo)) if demo.startswith("$ tempscale ", i)
              and (i == 0 or demo[i - 1] == "\n")]
    for k, st in enumerate(starts):
        eol = demo.index("\n", st)
        cmd = demo[st + 2:eol]
        end = starts[k + 1] if k + 1 < len(starts) else len(demo)
        sec = demo.find("\n\n== ", eol, end)
        if sec >= 0:
            end = sec + 1
        blocks.append((cmd, demo[eol + 1:end]))
    check(len(blocks) >= 9, "demo: %d reproducing commands shown" % len(blocks))
    shown = set(b[0].split()[1] for b in blocks)
    check(shown >= {"softmax", "tokenize", "generate", "top", "sample", "sweep", "compare",
                    "diversity"},
          "demo: every walkthrough command is shown (%s)" % sorted(shown))
    for cmd, want in blocks:
        args = shlex.split(cmd)[1:]
        p = subprocess.run([CLI] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, cwd=tmp, timeout=120)
        got = p.stdout.decode()
        same = p.returncode == 0 and got == want
        if not same:
            import difflib
            print("".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                               "demo", "command"))[:2000])
        check(same, "demo section = its command's output: " + cmd[:70])
    print("demo: %d shown commands reproduce their sections byte for byte" % len(blocks))


def main():
    roots = [os.environ.get("TEMPSCALE_MODELS", ""), os.path.join(SRC, "models")]
    if not any(r and os.path.exists(os.path.join(r, "tiny-shakespeare", "config.json"))
               for r in roots):
        print("SKIP: the bundled model models/tiny-shakespeare is not available")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        test_help()
        test_top_and_sweep(tmp)
        test_sample()
        test_generate_and_compare()
        test_bad_input()
        test_demo(tmp)
        test_demo_sections(tmp)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all walkthrough CLI checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
