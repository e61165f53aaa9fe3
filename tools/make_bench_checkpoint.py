#!/usr/bin/python3
"""make_bench_checkpoint.py — write a distilgpt2-shaped random GPT-2 checkpoint for `tempscale bench`.

Shape (as distilgpt2): 6 layers, n_embd 768, 12 heads, 1024 positions, 50,257 vocabulary,
tied lm_head, names with the "transformer." prefix; about 82 M parameters (328 MB in F32,
164 MB in F16). Weights are N(0, 0.02) (GPT-2's init), LayerNorm weights 1: the numbers are
meaningless, the speed is what it would be for the real model. The real GPT-2 tokenizer files are
copied beside it so the directory is a complete Hugging Face layout.

Write it outside the repository, e.g.
    /usr/bin/python3 tools/make_bench_checkpoint.py /tmp/bench-distilgpt2-f32 --dtype F32
    /usr/bin/python3 tools/make_bench_checkpoint.py /tmp/bench-distilgpt2-f16 --dtype F16
    build/tempscale bench --model /tmp/bench-distilgpt2-f16
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

SHAPE = dict(n_layer=6, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257)


def tensors(cfg, rng):
    """(name, shape, kind) in file order; kind: 'w' random, 'one' ones, 'zero' zeros."""
    C, L, P, V = cfg["n_embd"], cfg["n_layer"], cfg["n_positions"], cfg["vocab_size"]
    out = [("wte.weight", (V, C), "w"), ("wpe.weight", (P, C), "w")]
    for i in range(L):
        p = "h.%d." % i
        out += [
            (p + "ln_1.weight", (C,), "one"), (p + "ln_1.bias", (C,), "zero"),
            (p + "attn.c_attn.weight", (C, 3 * C), "w"), (p + "attn.c_attn.bias", (3 * C,), "zero"),
            (p + "attn.c_proj.weight", (C, C), "w"), (p + "attn.c_proj.bias", (C,), "zero"),
            (p + "ln_2.weight", (C,), "one"), (p + "ln_2.bias", (C,), "zero"),
            (p + "mlp.c_fc.weight", (C, 4 * C), "w"), (p + "mlp.c_fc.bias", (4 * C,), "zero"),
            (p + "mlp.c_proj.weight", (4 * C, C), "w"), (p + "mlp.c_proj.bias", (C,), "zero"),
        ]
    out += [("ln_f.weight", (C,), "one"), ("ln_f.bias", (C,), "zero")]
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="directory to create (outside the repository)")
    ap.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    ap.add_argument("--tokenizer", default=os.path.join(here, "..", "..", "shared", "gpt2-tokenizer"),
                    help="directory with GPT-2's vocab.json and merges.txt (default ../shared/gpt2-tokenizer)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    repo = os.path.realpath(os.path.join(here, ".."))
    out = os.path.realpath(args.out)
    if out == repo or out.startswith(repo + os.sep):
        sys.exit("make_bench_checkpoint.py: refusing to write %s inside the repository" % out)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    np_dt = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}[args.dtype]
    size = 4 if args.dtype == "F32" else 2

    specs = tensors(SHAPE, rng)
    header, off = {}, 0
    for name, shape, _ in specs:
        n = int(np.prod(shape)) * size
        header["transformer." + name] = {"dtype": args.dtype, "shape": list(shape),
                                         "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, shape, kind in specs:
            if kind == "w":
                a = (rng.standard_normal(shape, dtype=np.float32) * 0.02)
            elif kind == "one":
                a = np.ones(shape, dtype=np.float32)
            else:
                a = np.zeros(shape, dtype=np.float32)
            if args.dtype == "BF16":
                b = a.view(np.uint32)
                a = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np_dt)
            else:
                a = a.astype(np_dt)
            f.write(a.tobytes())
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
           "bos_token_id": 50256, "eos_token_id": 50256, "layer_norm_epsilon": 1e-5,
           "model_type": "gpt2", "n_ctx": SHAPE["n_positions"], "n_embd": SHAPE["n_embd"],
           "n_head": SHAPE["n_head"], "n_layer": SHAPE["n_layer"],
           "n_positions": SHAPE["n_positions"], "vocab_size": SHAPE["vocab_size"],
           "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[args.dtype]}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for fn in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(args.tokenizer, fn), os.path.join(out, fn))
    print("wrote %s (%s, %.0f MB)" % (out, args.dtype, (off + len(h) + 8) / 1e6))


if __name__ == "__main__":
    main()
