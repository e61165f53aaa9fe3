#!/usr/bin/python3
"""Measure the shipped tiny GPT-2 (models/tiny-shakespeare/) on TinyShakespeare.

This is "the command that measures it" quoted in the model card. It loads the
shipped F16 safetensors into a float32 PyTorch model (so it measures exactly the
stored weights) and prints, in nats per token:

  * model validation loss: next-token cross entropy over the held-out split
    (the last 10 % of the corpus bytes, tokenised on its own), cut into full,
    non-overlapping windows of n_positions tokens (stride = n_positions); each
    window is scored independently, every position predicts the following token,
    the tail shorter than a window is dropped.
  * model train loss: the same over the train split (first 90 % of bytes); with
    --train-windows N only N evenly spaced windows (window indices
    floor(i * W / N), i = 0..N-1, of the W full windows) are scored, to save time.
  * unigram baseline: token frequencies counted on the train split, add-one
    (Laplace) smoothing over all 50257 ids, p(t) = (c(t) + 1) / (N + 50257),
    scored on exactly the same target positions as the model validation loss
    (and, for reference, on every validation token).

Optionally prints samples (--samples) at fixed temperatures with a fixed seed,
plain softmax(logits / T) sampling, top-k/top-p off.

  /usr/bin/python3 tools/eval_tiny.py [--model models/tiny-shakespeare] [--samples]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_tiny import (DEFAULT_CORPUS, REPO, VOCAB, GPT2BPE, eval_loss,  # noqa: E402
                        load_model_dir, load_split)


def unigram_baseline(train_ids, val_ids, block):
    counts = np.bincount(train_ids, minlength=VOCAB).astype(np.float64)
    logp = np.log(counts + 1.0) - math.log(len(train_ids) + VOCAB)
    n_win = (len(val_ids) - 1) // block
    targets = np.concatenate([val_ids[k * block + 1:(k + 1) * block + 1] for k in range(n_win)])
    return float(-logp[targets].mean()), float(-logp[val_ids].mean())


@torch.no_grad()
def window_loss(model, ids, block, ks, batch=8):
    """Mean loss over the windows ids[k*block : (k+1)*block + 1] for k in ks."""
    t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    total, count = 0.0, 0
    for s in range(0, len(ks), batch):
        w = torch.stack([t[k * block:(k + 1) * block + 1] for k in ks[s:s + batch]])
        logits = model(w[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1),
                                 reduction="sum").item()
        count += w[:, 1:].numel()
    return total / count, count


@torch.no_grad()
def sample(model, ids, n_new, temperature, gen):
    ctx = model.cfg["n_positions"]
    ids = list(ids)
    for _ in range(n_new):
        logits = model(torch.tensor([ids[-ctx:]]))[0, -1].double()
        probs = torch.softmax(logits / temperature, dim=-1)
        ids.append(int(torch.multinomial(probs, 1, generator=gen)))
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "models", "tiny-shakespeare"))
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--no-train", action="store_true", help="skip the (slower) train-split loss")
    ap.add_argument("--train-windows", type=int, default=0,
                    help="score only this many evenly spaced train windows (0 = all)")
    ap.add_argument("--samples", action="store_true", help="also print samples at T = 0.3, 1.0, 2.0")
    ap.add_argument("--prompt", default="ROMEO:")
    ap.add_argument("--sample-tokens", type=int, default=80)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tok = GPT2BPE(args.model)
    train_ids, val_ids, info = load_split(args.corpus, tok)
    model = load_model_dir(args.model)
    block = model.cfg["n_positions"]
    n_params = sum(p.numel() for p in model.parameters())
    print("model: %s n_layer=%d n_embd=%d n_head=%d n_positions=%d params=%d" % (
        args.model, model.cfg["n_layer"], model.cfg["n_embd"], model.cfg["n_head"], block, n_params))
    print("split: first %d of %d bytes train (%d tokens), rest validation (%d tokens)" % (
        info["split_byte"], info["corpus_bytes"], info["train_tokens"], info["val_tokens"]))

    t0 = time.time()
    val, n_val = eval_loss(model, val_ids, block)
    print("val loss        %.4f nats/token  (%d predictions, windows of %d, stride %d; %.0fs)" % (
        val, n_val, block, block, time.time() - t0))
    uni_win, uni_all = unigram_baseline(train_ids, val_ids, block)
    print("unigram val     %.4f nats/token  (same positions; add-one smoothing, fitted on train)" % uni_win)
    print("unigram val all %.4f nats/token  (every validation token)" % uni_all)
    res = {"val_loss": val, "val_predictions": n_val, "unigram_val": uni_win, "unigram_val_all": uni_all,
           "params": n_params, "split": info}
    if not args.no_train:
        t0 = time.time()
        n_win = (len(train_ids) - 1) // block
        ks = list(range(n_win))
        if 0 < args.train_windows < n_win:
            ks = [i * n_win // args.train_windows for i in range(args.train_windows)]
        tr, n_tr = window_loss(model, train_ids, block, ks)
        print("train loss      %.4f nats/token  (%d predictions, %s windows of %d; %.0fs)" % (
            tr, n_tr, args.train_windows or "all", block, time.time() - t0))
        res["train_loss"] = tr
    if args.samples:
        prompt_ids = tok.encode(args.prompt)
        res["samples"] = {}
        for temp in (0.3, 1.0, 2.0):
            gen = torch.Generator().manual_seed(args.seed)
            out = sample(model, prompt_ids, args.sample_tokens, temp, gen)
            text = tok.decode(out)
            res["samples"][str(temp)] = text
            print("\n--- sample T=%.1f seed=%d prompt=%r tokens=%d ---\n%s" % (
                temp, args.seed, args.prompt, args.sample_tokens, text))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
