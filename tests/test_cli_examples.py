#!/usr/bin/python3
"""Every example in every command's --help runs, and succeeds.

The commands come from `tempscale --help`; the examples are the lines indented
by two spaces under "Example:" / "Examples:" in `tempscale help <command>`
(a trailing backslash continues a line). Each runs with bash in a scratch
directory holding the files the examples name (prompt.txt, prompts.txt,
val.csv, test.csv, val_logits.npy, val_labels.npy, tinyshakespeare.txt,
requests.jsonl, a tools/ link), with the build directory first on PATH, the
bundled model, and HF_ENDPOINT pointing at tests/hub_server.py on 127.0.0.1
(so `tempscale pull distilgpt2` downloads the hub stand-in's distilgpt2).
A command that serves forever (`tempscale serve`) must answer GET /v1/models
within its time limit and is then stopped.
Env: TS_CLI, TS_SOURCE_DIR, TEMPSCALE_MODELS, TS_TEST_DATA, TS_SHARED.
Exit 0 ok, 1 on failure, 77 without the bundled model.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CLI = os.environ["TS_CLI"]
SRC = os.environ.get("TS_SOURCE_DIR", ".")
DATA = os.environ.get("TS_TEST_DATA", os.path.join(SRC, "tests", "data"))
MODELS = os.environ.get("TEMPSCALE_MODELS", os.path.join(SRC, "models"))
SHARED = os.environ.get("TS_SHARED", os.path.join(SRC, "..", "shared"))
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def examples(command):
    out = subprocess.run([CLI, "help", command], stdout=subprocess.PIPE, check=True,
                         stdin=subprocess.DEVNULL).stdout.decode()
    lines = out.split("\n")
    found, cmds, cur = False, [], None
    for line in lines:
        if re.match(r"^Examples?:\s*$", line):
            found = True
            continue
        if not found:
            continue
        if not line.strip():
            continue
        if not line.startswith("  "):
            break  # the end of the examples
        if line.startswith("   ") and cur is None:
            continue  # deeper indentation: sample output, not a command
        text = line.strip()
        if cur is not None:
            cur += " " + text
        else:
            cur = text
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        cmds.append(cur)
        cur = None
    return cmds


def make_fixtures(tmp):
    with open(os.path.join(tmp, "prompt.txt"), "w") as f:
        f.write("To be, or not to be\n")
    with open(os.path.join(tmp, "prompts.txt"), "w") as f:
        f.write("ROMEO:\nJULIET:\n")
    for src, dst in (("calib_val.csv", "val.csv"), ("calib_test.csv", "test.csv"),
                     ("calib_val_logits.npy", "val_logits.npy"),
                     ("calib_val_labels.npy", "val_labels.npy")):
        shutil.copy(os.path.join(DATA, src), os.path.join(tmp, dst))
    shakespeare = os.path.join(SHARED, "data", "tinyshakespeare.txt")
    if os.path.exists(shakespeare):
        os.symlink(os.path.abspath(shakespeare), os.path.join(tmp, "tinyshakespeare.txt"))
    else:  # a stand-in with the same shape (the test must not need ../shared)
        with open(os.path.join(tmp, "tinyshakespeare.txt"), "w") as f:
            for i in range(2000):
                f.write("ROMEO:\nWhat light through yonder window breaks, %d?\n\n" % i)
    with open(os.path.join(tmp, "requests.jsonl"), "w") as f:
        for i, (url, body) in enumerate((
                ("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 8, "seed": 1}),
                ("/api/top", {"prompt": "JULIET:", "k": 3}),
                ("/api/tokenize", {"text": "Hello"}))):
            f.write(json.dumps({"custom_id": "r%d" % i, "method": "POST", "url": url,
                                "body": body}) + "\n")
    os.symlink(os.path.abspath(os.path.join(SRC, "tools")), os.path.join(tmp, "tools"))


def start_hub(tmp):
    root = os.path.join(tmp, "hubroot")
    os.mkdir(root)
    p = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "hub_server.py"), "--root",
                          root, "--lifetime", "600"], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    port = int(line.split()[1])
    return p, port


def serve_example(cmd, env, tmp):
    """Run a serving command; pass when it answers GET /v1/models, then stop it."""
    m = re.search(r"--port[ =](\d+)", cmd)
    port = int(m.group(1)) if m else 8080
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return False, "port %d is taken on this machine" % port
    p = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=tmp, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    ok, why = False, "no answer"
    t0 = time.time()
    while time.time() - t0 < 60 and p.poll() is None:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v1/models" % port, timeout=2) as r:
                ok = r.status == 200
                why = "answered"
                break
        except Exception as e:  # not up yet
            why = str(e)
            time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        ok, why = False, "did not stop on SIGTERM"
    return ok, why


def main():
    if not os.path.exists(os.path.join(MODELS, "tiny-shakespeare", "config.json")):
        print("SKIP: no bundled model")
        return 77
    help_text = subprocess.run([CLI, "--help"], stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL).stdout.decode()
    commands = re.findall(r"^  ([a-z]+) ", help_text.split("Commands:")[1], re.M)
    check(len(commands) >= 10, "commands listed: %s" % commands)
    with tempfile.TemporaryDirectory() as tmp:
        make_fixtures(tmp)
        hub, port = start_hub(tmp)
        bindir = os.path.dirname(os.path.abspath(CLI))
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                   TEMPSCALE_MODELS=os.path.abspath(MODELS), NO_COLOR="1",
                   HF_ENDPOINT="http://127.0.0.1:%d" % port, HF_HOME=os.path.join(tmp, "hf"),
                   HF_HUB_CACHE="", HF_TOKEN="")
        try:
            n = 0
            for c in commands:
                ex = examples(c)
                check(len(ex) >= 1, "%s --help has an example" % c)
                for cmd in ex:
                    n += 1
                    t0 = time.time()
                    if re.match(r"^tempscale serve\b", cmd):
                        ok, why = serve_example(cmd, env, tmp)
                        check(ok, "%s: `%s` (%s)" % (c, cmd, why))
                        continue
                    try:
                        p = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], cwd=tmp,
                                           env=env, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           timeout=900)
                        ok = p.returncode == 0
                        why = p.stderr.decode(errors="replace").strip()[-300:]
                    except subprocess.TimeoutExpired:
                        ok, why = False, "timed out"
                    check(ok, "%s: `%s` (%.1f s)%s" % (c, cmd, time.time() - t0,
                                                       "" if ok else ": " + why))
            print("%d examples run" % n)
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("every --help example runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
