#!/usr/bin/python3
"""Write PyTorch reference outputs of the bundled tiny GPT-2 for the C engine tests.

The shipped F16 model.safetensors is loaded into a float32 PyTorch model (every
F16 value converted exactly to float32), so the reference uses exactly the
stored weights; all compute is float32 (eval mode, no dropout). Tokenisation is
tools/train_tiny.py's GPT-2 BPE (OpenAI encoder.py algorithm).

Outputs:
  tests/data/tiny_shakespeare_ref.json
    {"model": ..., "config": {...}, "compute": "...",
     "prompts": [{"text", "ids",
                  "positions": [{"pos", "argmax", "logsumexp",
                                 "top_ids": [20], "top_logits": [20]}, ...]}, ...],
     "greedy": {"prompt_index", "prompt_ids", "n_new", "ids"}}
    top ids sorted by logit descending (ties by lower id); logsumexp is over the
    full 50257-entry vocabulary, computed in float64 from the float32 logits.
    "greedy": for one prompt (--greedy-prompt, default 0), 20 new tokens, argmax at every step with a full recompute of the
    whole sequence (no KV cache), to check the C engine's cached decode.
  tests/data/tiny_shakespeare_last_logits.f32
    raw little-endian float32, 50257 values: logits at the last position of the
    first prompt.

  /usr/bin/python3 tools/gen_tiny_reference.py [--model models/tiny-shakespeare]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_tiny import REPO, GPT2BPE, load_model_dir  # noqa: E402

PROMPTS = [
    "ROMEO:",
    "To be, or not to be",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "The caf\u00e9 na\u00efve r\u00e9sum\u00e9",
]
TOPK = 20
GREEDY_NEW = 20


def topk_sorted(row, k):
    # Stable ordering: logit descending, then id ascending.
    order = np.lexsort((np.arange(len(row)), -row))[:k]
    return order


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "models", "tiny-shakespeare"))
    ap.add_argument("--out-dir", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--greedy-prompt", type=int, default=0, help="index into PROMPTS for the greedy run")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tok = GPT2BPE(args.model)
    model = load_model_dir(args.model)
    cfg = model.cfg
    ref = {
        "model": "models/tiny-shakespeare",
        "generator": "tools/gen_tiny_reference.py",
        "compute": "PyTorch %s float32 on F16 weights converted to float32, eval mode" % torch.__version__,
        "config": {k: cfg[k] for k in ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size",
                                       "layer_norm_epsilon")},
        "topk": TOPK,
        "prompts": [],
    }
    last_logits = None
    for pi, text in enumerate(PROMPTS):
        ids = tok.encode(text)
        logits = model(torch.tensor([ids]))[0].float().numpy()        # (T, V)
        positions = []
        for t in range(len(ids)):
            row = logits[t]
            top = topk_sorted(row, TOPK)
            r64 = row.astype(np.float64)
            m = r64.max()
            lse = float(m + np.log(np.exp(r64 - m).sum()))
            positions.append({"pos": t, "argmax": int(np.argmax(row)), "logsumexp": lse,
                              "top_ids": [int(i) for i in top],
                              "top_logits": [float(row[i]) for i in top]})
        ref["prompts"].append({"text": text, "ids": ids, "positions": positions})
        if pi == 0:
            last_logits = logits[-1].astype("<f4")

    g_ids = list(ref["prompts"][args.greedy_prompt]["ids"])
    start = len(g_ids)
    for _ in range(GREEDY_NEW):
        logits = model(torch.tensor([g_ids]))[0, -1].numpy()
        g_ids.append(int(np.argmax(logits)))
    ref["greedy"] = {"prompt_index": args.greedy_prompt, "prompt_ids": g_ids[:start], "n_new": GREEDY_NEW,
                     "ids": g_ids[start:], "text": tok.decode(g_ids[start:])}

    os.makedirs(args.out_dir, exist_ok=True)
    jpath = os.path.join(args.out_dir, "tiny_shakespeare_ref.json")
    with open(jpath, "w", encoding="utf-8") as f:
        json.dump(ref, f, indent=1, ensure_ascii=True)
        f.write("\n")
    fpath = os.path.join(args.out_dir, "tiny_shakespeare_last_logits.f32")
    with open(fpath, "wb") as f:
        f.write(last_logits.tobytes())
    print("wrote %s (%d bytes) and %s (%d bytes)" % (jpath, os.path.getsize(jpath), fpath,
                                                      os.path.getsize(fpath)))
    print("greedy continuation of %r: %r" % (PROMPTS[args.greedy_prompt], ref["greedy"]["text"]))


if __name__ == "__main__":
    main()
