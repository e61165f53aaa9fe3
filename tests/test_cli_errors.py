#!/usr/bin/python3
"""Bad input across every tempscale command, end to end.

For each case the contract is the one in cli/cli.h: exit 2 for the user's
input (1 for a failure that is not), exactly ONE line on stderr starting
"tempscale: error: " and naming the option or file (the expected substring),
nothing on stdout, no sanitizer report, no output file left behind (not even
a temporary one), and no hang (each run has a timeout). Inputs a user may
legitimately give (invalid UTF-8 or a long prompt for byte-level BPE, every
help text) must succeed.

Fixtures are made in a temporary directory: a model directory without
config.json, one with a truncated model.safetensors, one with a broken
config.json, and an empty one (the weights are symlinked, not copied).
Uses the stdlib only. Env: TS_CLI (the binary), TEMPSCALE_MODELS or
TS_SOURCE_DIR (the bundled model), TS_TEST_DATA. Exit 0 ok, 1 on failure,
77 when the bundled model is absent.
"""
import json
import os
import subprocess
import sys
import tempfile

CLI = os.environ["TS_CLI"]
SRC = os.environ.get("TS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
DATA = os.environ.get("TS_TEST_DATA", os.path.join(SRC, "tests", "data"))
MODELS = os.environ.get("TEMPSCALE_MODELS") or os.path.join(SRC, "models")
MODEL = os.path.join(MODELS, "tiny-shakespeare")
COMMANDS = ["demo", "softmax", "tokenize", "top", "generate", "sample", "sweep", "compare",
            "calibrate", "pull", "bench"]
SANITIZER = (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:", b"Segmentation fault")

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(args, stdin=b"", timeout=120, env=None):
    try:
        return subprocess.run([CLI] + list(args), input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None


def label_of(args):
    return " ".join((a if len(a) < 32 else a[:24] + "...").encode("utf-8", "replace")
                    .decode("ascii", "backslashreplace") for a in args)


def expect_error(args, needle, code=2, outputs=(), env=None):
    """One line 'tempscale: error: ...' containing needle, exit code, no stdout, no files."""
    label = label_of(args)
    p = run(args, env=env)
    if p is None:
        check(False, "%s: timed out" % label)
        return
    err = p.stderr.decode("utf-8", "replace")
    lines = err.rstrip("\n").split("\n")
    ok = (p.returncode == code and len(lines) == 1 and lines[0].startswith("tempscale: error: ")
          and needle in lines[0] and err.endswith("\n") and p.stdout == b""
          and not any(s in p.stderr for s in SANITIZER))
    for path in outputs:
        d = os.path.dirname(path) or "."
        left = [f for f in os.listdir(d)] if os.path.isdir(d) else []
        if os.path.lexists(path) and not os.path.isdir(path):
            ok = False
            err += " [output file %s exists]" % path
        if any(f.startswith(os.path.basename(path)) and f != os.path.basename(path) for f in left):
            ok = False
            err += " [temporary file left in %s: %s]" % (d, left)
    check(ok, "%s -> exit %d (want %d), %r%s" % (
        label, p.returncode, code, err[:300],
        "" if p.stdout == b"" else " stdout=%r" % p.stdout[:80]))


def expect_ok(args, what, stdin=b""):
    p = run(args, stdin=stdin)
    ok = p is not None and p.returncode == 0 and not any(s in p.stderr for s in SANITIZER)
    check(ok, "%s: %s (exit %s, stderr %r)" % (label_of(args), what,
                                               p and p.returncode, p and p.stderr[:200]))
    return p


def make_fixtures(tmp):
    """Broken model directories beside the real one (symlinked weights)."""
    dirs = {}
    for name, files in (("noconf", ("vocab.json", "merges.txt", "model.safetensors")),
                        ("trunc", ("vocab.json", "merges.txt", "config.json")),
                        ("badconf", ("vocab.json", "merges.txt", "model.safetensors")),
                        ("novocab", ("merges.txt", "config.json", "model.safetensors")),
                        ("empty", ())):
        d = os.path.join(tmp, name)
        os.mkdir(d)
        for f in files:
            os.symlink(os.path.join(MODEL, f), os.path.join(d, f))
        dirs[name] = d
    with open(os.path.join(MODEL, "model.safetensors"), "rb") as f:
        head = f.read(3_000_000)
    with open(os.path.join(dirs["trunc"], "model.safetensors"), "wb") as f:
        f.write(head)
    with open(os.path.join(dirs["badconf"], "config.json"), "w") as f:
        f.write('{"n_layer": 6, "n_head": ')
    return dirs


def test_main():
    p = run([])
    check(p.returncode == 2 and b"Usage: tempscale" in p.stderr and p.stdout == b"",
          "no arguments: usage on stderr, exit 2")
    for args in (["--help"], ["-h"], ["help"]):
        p = expect_ok(args, "general help")
        for c in COMMANDS:
            check(c.encode() in p.stdout, "%s lists %s" % (label_of(args), c))
    p = expect_ok(["--version"], "version")
    check(p.stdout.startswith(b"tempscale ") and p.stdout.count(b"\n") == 1, "--version: one line")
    for c in COMMANDS:
        for args in (["help", c], [c, "--help"]):
            p = expect_ok(args, "help text")
            out = p.stdout.decode("utf-8", "replace")
            check("Usage: tempscale " + c in out and "xample" in out and p.stderr == b"",
                  "%s: usage, an example, nothing on stderr" % label_of(args))
    expect_error(["frobnicate"], "unknown command 'frobnicate'")
    expect_error(["help", "frobnicate"], "unknown command 'frobnicate'")


def test_options():
    """Unknown options, missing values, stray arguments: every command."""
    for c in COMMANDS:
        expect_error([c, "--bogus"], "--bogus")
        expect_error([c, "--bogus=1"], "--bogus")
        expect_error([c, "-Z"], "-Z")
    for c, opt in (("softmax", "--logits"), ("tokenize", "--file"), ("top", "--k"),
                   ("generate", "--temperature"), ("sample", "--n"), ("sweep", "--plot"),
                   ("compare", "--samples"), ("demo", "--seed"), ("calibrate", "--val"),
                   ("pull", "--revision"), ("bench", "--runs")):
        expect_error([c, opt], opt)
    for c in ("demo", "bench", "softmax", "calibrate"):
        expect_error([c, "stray"], "stray")
    expect_error(["top", "--json=yes"], "--json")


def test_models(dirs):
    for c in ("top", "generate", "sample", "sweep", "compare", "demo", "bench"):
        expect_error([c, "--model", "/nonexistent/model"], "/nonexistent/model")
        expect_error([c, "--model", dirs["empty"]], "config.json")
        expect_error([c, "--model", dirs["noconf"]], "config.json")
        expect_error([c, "--model", dirs["badconf"]], "config.json")
        expect_error([c, "--model", dirs["trunc"]], "model.safetensors")
        expect_error([c, "--model", dirs["novocab"]], "vocab.json")
    expect_error(["calibrate", "--model", dirs["trunc"], "--text",
                  os.path.join(MODEL, "README.md")], "model.safetensors")
    expect_error(["tokenize", "--model", dirs["empty"], "x"], "vocab.json")
    expect_error(["tokenize", "--model", "/nonexistent/model", "x"], "/nonexistent/model")
    expect_error(["top", "--model", "no-such-org/no-such-model"], "tempscale pull")


def test_prompts():
    bad_utf8 = "\udcff\udcfe Rom\udcc3eo"  # bytes ff fe and a cut 2-byte sequence
    for c in ("top", "sample", "sweep"):
        seed = ["--seed", "1"] if c == "sample" else []
        p = expect_ok([c, "--prompt", bad_utf8, "--json"] + seed,
                      "invalid UTF-8 prompt is fine for byte-level BPE")
        if p and p.returncode == 0:
            try:
                json.loads(p.stdout)
                check(True, c + ": JSON still valid UTF-8")
            except ValueError as e:
                check(False, c + ": JSON after an invalid UTF-8 prompt: %s" % e)
    expect_ok(["generate", "--prompt", bad_utf8, "--seed", "1", "--max-new-tokens", "3"],
              "invalid UTF-8 prompt")
    expect_ok(["compare", "--prompt", bad_utf8, "--seed", "1", "--max-new-tokens", "2",
               "--samples", "1", "--temperatures", "1"], "invalid UTF-8 prompt")
    expect_ok(["tokenize", bad_utf8], "invalid UTF-8 text")
    for c in ("top", "generate", "sample", "sweep", "compare"):
        expect_error([c, "--prompt", ""], "--prompt")
    long_prompt = "the king " * 200  # 400 tokens > 256 positions
    for c in ("top", "generate", "sample", "sweep", "compare"):
        expect_error([c, "--prompt", long_prompt], "256")
    # A prompt that fits, but not with the tokens to generate: never refused before it is
    # tried; generation stops at the window with finish_reason "length" and a warning.
    p = expect_ok(["generate", "--prompt", "the king " * 120, "--max-new-tokens", "50",
                   "--seed", "1", "--json"], "stops at the context window")
    if p and p.returncode == 0:
        g = json.loads(p.stdout)
        check(g["finish_reason"] == "length" and len(g["steps"]) == 257 - len(g["ids"]),
              "generate at the window: finish_reason length, the last token drawn from the last position")
        check(b"warning:" in p.stderr and b"context window" in p.stderr,
              "generate at the window: a warning on stderr")
    expect_ok(["top", "--prompt", "the king " * 120], "a 240-token prompt fits the context")
    expect_error(["top", "--ids", "1,2,50257"], "--ids")
    expect_error(["top", "--ids", "1,-2"], "--ids")
    expect_error(["top", "--ids", ""], "--ids")
    expect_error(["tokenize", "--file", "/nonexistent/in.txt"], "/nonexistent/in.txt")


def test_numbers():
    bad = [
        (["top", "--k", "-1"], "--k"), (["top", "--k", "0"], "--k"),
        (["top", "--k", "50258"], "--k"), (["top", "--k", "ten"], "--k"),
        (["top", "--temperature", "nan"], "--temperature"),
        (["top", "--temperature", "-1"], "--temperature"),
        (["generate", "--temperature", "nan"], "--temperature"),
        (["generate", "--temperature", "-1"], "--temperature"),
        (["generate", "--top-k", "-1"], "--top-k"),
        (["generate", "--top-p", "0"], "--top-p"), (["generate", "--top-p", "1.5"], "--top-p"),
        (["generate", "--top-p", "-0.5"], "--top-p"),
        (["generate", "--min-p", "1"], "--min-p"), (["generate", "--min-p", "-0.1"], "--min-p"),
        (["generate", "--max-new-tokens", "-1"], "--max-new-tokens"),
        (["generate", "--max-new-tokens", "99999999999999999999"], "--max-new-tokens"),
        (["generate", "--samples", "0"], "--samples"), (["generate", "--order", "xyz"], "--order"),
        (["generate", "--seed", "-1"], "--seed"), (["generate", "--seed", "x"], "--seed"),
        (["sample", "--k", "-1"], "--k"), (["sample", "--n", "0"], "--n"),
        (["sample", "--n", "-5"], "--n"), (["sample", "--temperature", "nan"], "--temperature"),
        (["sample", "--show", "-1"], "--show"), (["sample", "--k", "60000"], "--k"),
        (["sweep", "--temperatures", ""], "--temperatures"),
        (["sweep", "--temperatures", "1,-1"], "--temperatures"),
        (["sweep", "--temperatures", "1,nan"], "--temperatures"),
        (["sweep", "--temperatures", "1,,x"], "--temperatures"),
        (["sweep", "--k", "0"], "--k"),
        (["sweep", "--target-entropy", "-1"], "--target-entropy"),
        (["sweep", "--target-entropy", "20"], "--target-entropy"),
        (["sweep", "--target-entropy", "nan"], "--target-entropy"),
        (["compare", "--temperatures", "-1"], "--temperatures"),
        (["compare", "--samples", "0"], "--samples"),
        (["compare", "--max-new-tokens", "2000000"], "--max-new-tokens"),
        (["generate", "--max-new-tokens", "2000000"], "--max-new-tokens"),
        (["top", "--k", "5", "--k", "6"], "given twice"),
        (["generate", "--max_new_tokens", "5"], "--max-new-tokens"),
        (["generate", "--top_k", "5"], "did you mean --top-k"),
        (["sweep", "--temperatures", "1,,2"], "item 2 is empty"),
        (["top", "--model", ""], "--model"),
        (["compare", "--top-p", "0"], "--top-p"), (["compare", "--min-p", "2"], "--min-p"),
        (["compare", "--prompts-file", "/nonexistent/p.txt"], "/nonexistent/p.txt"),
        (["demo", "--seed", "-3"], "--seed"),
        (["softmax", "--logits", ""], "--logits"),
        (["softmax", "--logits", "1,nan"], "--logits"),
        (["softmax", "--logits", "1,2", "--temperatures", "-1"], "--temperatures"),
        (["softmax", "--logits", "1,2", "--labels", "a,b,c"], "--labels"),
        (["calibrate"], "--val"),
        (["calibrate", "--val", "/nonexistent/v.csv"], "/nonexistent/v.csv"),
        (["calibrate", "--val", os.path.join(DATA, "calib_val.csv"), "--bins", "0"], "--bins"),
        (["calibrate", "--val", os.path.join(DATA, "calib_val.csv"), "--bins", "-4"], "--bins"),
        (["calibrate", "--text", "/nonexistent/t.txt"], "/nonexistent/t.txt"),
        (["calibrate", "--text", os.path.join(MODEL, "README.md"), "--from", "1"], "--from"),
        (["calibrate", "--text", os.path.join(MODEL, "README.md"), "--stride", "0"], "--stride"),
        (["calibrate", "--text", os.path.join(MODEL, "README.md"), "--max-tokens", "-1"],
         "--max-tokens"),
        (["bench", "--runs", "0"], "--runs"), (["bench", "--threads", "0"], "--threads"),
        (["bench", "--threads", "-2"], "--threads"),
        (["bench", "--prompt-tokens", "0"], "--prompt-tokens"),
        (["bench", "--prompt-tokens", "1000"], "--prompt-tokens"),
        (["bench", "--gen-tokens", "-1"], "--gen-tokens"),
        (["pull"], "REPO_ID"), (["pull", "a/b/c"], "a/b/c"), (["pull", "bad repo!"], "bad repo!"),
    ]
    for args, needle in bad:
        expect_error(args, needle)


def test_outputs(tmp):
    """Output files: unwritable paths fail before any work; no partial or temporary file."""
    val = os.path.join(DATA, "calib_val.csv")
    for args, opt in (
            (["softmax", "--logits", "1,2,3", "--plot"], "--plot"),
            (["sweep", "--plot"], "--plot"),
            (["top", "--dump-logits"], "--dump-logits"),
            (["calibrate", "--val", val, "--plot"], "--plot"),
            (["demo", "--seed", "1", "--html"], "--html")):
        ext = {"--html": ".html", "--dump-logits": ".npy"}.get(opt, ".png")
        expect_error(args + ["/nonexistent/out" + ext], "/nonexistent/out" + ext)
        # An existing directory where the file should go: the rename fails; nothing left over.
        d = os.path.join(tmp, "out-" + args[0])
        os.makedirs(os.path.join(d, "x" + ext))
        expect_error(args + [os.path.join(d, "x" + ext)], "x" + ext, outputs=[])
        check(sorted(os.listdir(d)) == ["x" + ext], "%s: nothing left in %s (%s)"
              % (args[0], d, os.listdir(d)))
    # Unsupported figure formats are refused before any work, no file written.
    for args in (["softmax", "--logits", "1,2", "--plot"], ["sweep", "--plot"],
                 ["calibrate", "--val", val, "--plot"]):
        out = os.path.join(tmp, args[0] + ".bmp")
        expect_error(args + [out], ".bmp", outputs=[out])
    expect_error(["demo", "--out-dir", "/nonexistent/figs"], "/nonexistent/figs")


def test_pull_offline(tmp):
    """A hub that is not there is a failure, not the user's input: exit 1, one line."""
    env = dict(os.environ, HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=os.path.join(tmp, "hf"),
               HF_HUB_CACHE="", HF_TOKEN="")
    expect_error(["pull", "tsorg/tiny", "--quiet"], "127.0.0.1", code=1, env=env)


def main():
    if not os.path.exists(os.path.join(MODEL, "config.json")):
        print("SKIP: the bundled model %s is not available" % MODEL)
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        dirs = make_fixtures(tmp)
        test_main()
        test_options()
        test_models(dirs)
        test_prompts()
        test_numbers()
        test_outputs(tmp)
        test_pull_offline(tmp)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
