#!/usr/bin/python3
"""entropy_decoding.py — decoding toward an entropy vs Mirostat v2, per step (issue 13).

    /usr/bin/python3 tools/entropy_decoding.py [--cli build/tempscale] [--model DIR]
        [--prompt TEXT] [--samples 32] [--tokens 32] [--entropy 3]

Runs `tempscale generate --logprobs 0 --json` for seeds 1..SAMPLES with three chains on
the same prompt: pure sampling at T = 1, `--target-entropy H` (T solved each step) and
Mirostat v2 with tau = H / ln 2 bits (the same target, as a surprisal). For each it
prints the realised entropy of the distribution sampled from and the surprisal of the
drawn token under it (mean, spread, and the mean at a few steps), and the NLL under the
model at T = 1. `tempscale diversity --temperatures 1 --top-k 0 --curve target_entropy=H
--curve 'mirostat=2;mirostat_tau=TAU'` gives distinct-n, self-BLEU and NLL with intervals
for the same chains. A measurement, not a test.
"""
import argparse
import json
import math
import statistics as st
import subprocess


def steps(cli, model, prompt, tokens, seed, extra):
    cmd = [cli, "generate", "--prompt", prompt, "--top-k", "0", "--max-new-tokens", str(tokens),
           "--seed", str(seed), "--logprobs", "0", "--json"] + extra
    if model:
        cmd += ["--model", model]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["steps"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default="build/tempscale")
    ap.add_argument("--model", default=None)
    ap.add_argument("--prompt", default="ROMEO:\n")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--entropy", type=float, default=3.0)
    a = ap.parse_args()
    tau = a.entropy / math.log(2)
    chains = [("T = 1, pure sampling", []),
              ("target_entropy %g nats" % a.entropy, ["--target-entropy", "%g" % a.entropy]),
              ("Mirostat v2, tau %.2f bits" % tau, ["--mirostat", "2", "--mirostat-tau", "%.4f" % tau])]
    show = [k for k in (0, 1, 2, 4, 8, 16, a.tokens - 1) if k < a.tokens]
    print("| chain | entropy sampled (nats) | surprisal of the draw (nats) | NLL at T = 1 | "
          "mean entropy at step " + ", ".join(str(k + 1) for k in show) + " |")
    print("|---|---|---|---|---|")
    for name, extra in chains:
        h, s, r = [], [], []
        per = [[] for _ in range(a.tokens)]
        for seed in range(1, a.samples + 1):
            for k, x in enumerate(steps(a.cli, a.model, a.prompt, a.tokens, seed, extra)):
                h.append(x["entropy_sampled_nats"])
                s.append(-x["logprob_sampled"])
                r.append(-x["logprob_raw"])
                per[k].append(x["entropy_sampled_nats"])
        print("| %s | %.3f (sd %.3f) | %.3f (sd %.3f) | %.3f | %s |" % (
            name, st.mean(h), st.pstdev(h), st.mean(s), st.pstdev(s), st.mean(r),
            " ".join("%.2f" % st.mean(per[k]) for k in show if per[k])))
    print("(%d samples x %d tokens per chain)" % (a.samples, a.tokens))


if __name__ == "__main__":
    main()
