#!/usr/bin/python3
"""gen_model_ref.py — the PyTorch oracle for tempscale's forward pass (tests/test_model.c).

Builds three small random GPT-2 checkpoints in Hugging Face layout under tests/data/ and dumps
the logits that Hugging Face's GPT2LMHeadModel would give for a few prompts, at every position:

  model_f32/   F32,  tensor names without prefix, lm_head tied to wte, one model.safetensors
  model_f16/   F16,  names with "transformer." prefix, tied, sharded: model.safetensors.index.json
               + model-00001-of-00002.safetensors + model-00002-of-00002.safetensors
  model_bf16/  BF16, no prefix, untied lm_head.weight, one model.safetensors

All have the real GPT-2 vocabulary size (50,257), 2 layers, n_embd 16, 2 heads, 64 positions.
The tokenizer files are NOT copied (1.5 MB each): the test links the real GPT-2 vocab.json and
merges.txt ($TS_SHARED/gpt2-tokenizer) beside each fixture.

The reference is GPT2LMHeadModel's forward (transformers/models/gpt2/modeling_gpt2.py, eval mode,
no dropout, no padding) written out in ~60 lines of torch and run in float64 on the *stored*
weights (F16/BF16 values rounded exactly as in the file), so the test tolerance measures our
kernels, not the storage precision.

Output (tests/data/model_ref.json + model_ref.bin, float32 little-endian):
  vocab_subset: the vocabulary ids whose logits are stored at every position (to keep the
                fixture small; the full 50,257 logits are stored for one position per model);
  models[i]: {dir, dtype, prompts: [{ids, offset}], full: {prompt, pos, offset}}
    prompt j's block at `offset` (in floats) is [len(ids)][len(vocab_subset)];
    `full` is the [50257] logits of position `pos` of prompt `prompt`.

Run: /usr/bin/python3 tools/gen_model_ref.py [--out tests/data]   (deterministic: seed 1234)
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import torch

N_VOCAB = 50257
CFG = dict(n_layer=2, n_head=2, n_embd=16, n_positions=64, layer_norm_epsilon=1e-5)


# ---------------------------------------------------------------- safetensors writer
def st_bytes(arr, dtype):
    """Raw little-endian bytes of a float32 numpy array stored as dtype."""
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if dtype == "F32":
        return t.numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.to(torch.float16).numpy().astype("<f2").tobytes()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dtype)


def stored_value(arr, dtype):
    """The float64 value the file holds after rounding to dtype."""
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if dtype == "F16":
        t = t.to(torch.float16)
    elif dtype == "BF16":
        t = t.to(torch.bfloat16)
    return t.to(torch.float64)


def write_safetensors(path, tensors):
    """tensors: list of (name, np.float32 array, dtype). Header JSON, 8-byte aligned, then data."""
    header, blobs, off = {}, [], 0
    for name, arr, dtype in tensors:
        b = st_bytes(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return off


# ---------------------------------------------------------------- random GPT-2 weights
def make_weights(rng, cfg, untied):
    C, L, P = cfg["n_embd"], cfg["n_layer"], cfg["n_positions"]

    def n(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = {"wte.weight": n(N_VOCAB, C, std=0.5), "wpe.weight": n(P, C, std=0.3)}
    for i in range(L):
        p = "h.%d." % i
        w[p + "ln_1.weight"] = 1.0 + n(C, std=0.2)
        w[p + "ln_1.bias"] = n(C, std=0.2)
        w[p + "attn.c_attn.weight"] = n(C, 3 * C, std=0.4)  # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = n(3 * C, std=0.2)
        w[p + "attn.c_proj.weight"] = n(C, C, std=0.3)
        w[p + "attn.c_proj.bias"] = n(C, std=0.1)
        w[p + "ln_2.weight"] = 1.0 + n(C, std=0.2)
        w[p + "ln_2.bias"] = n(C, std=0.2)
        w[p + "mlp.c_fc.weight"] = n(C, 4 * C, std=0.3)
        w[p + "mlp.c_fc.bias"] = n(4 * C, std=0.2)
        w[p + "mlp.c_proj.weight"] = n(4 * C, C, std=0.2)
        w[p + "mlp.c_proj.bias"] = n(C, std=0.1)
    w["ln_f.weight"] = 1.0 + n(C, std=0.2)
    w["ln_f.bias"] = n(C, std=0.2)
    if untied:
        w["lm_head.weight"] = n(N_VOCAB, C, std=0.5)
    return w


# ---------------------------------------------------------------- HF GPT2LMHeadModel, float64
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def gpt2_forward(W, cfg, ids):
    """Logits [T, V] of GPT2LMHeadModel for one unpadded sequence (positions 0..T-1)."""
    C, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = C // H
    T = len(ids)
    ids_t = torch.tensor(ids, dtype=torch.long)
    x = W["wte.weight"][ids_t] + W["wpe.weight"][torch.arange(T)]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        h = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]  # Conv1D: x W + b
        q, k, v = qkv.split(C, dim=1)
        q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in (q, k, v))  # [H, T, hd]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = torch.where(causal, att, torch.tensor(torch.finfo(att.dtype).min, dtype=att.dtype))
        att = torch.softmax(att, dim=-1)
        a = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + (a @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"])
        h = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        h = gelu_new(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        x = x + (h @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"])
    x = layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps)
    head = W["lm_head.weight"] if "lm_head.weight" in W else W["wte.weight"]
    return x @ head.T


# ---------------------------------------------------------------- fixtures
def config_json(cfg):
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "layer_norm_epsilon": cfg["layer_norm_epsilon"],
        "model_type": "gpt2",
        "n_ctx": cfg["n_positions"],
        "n_embd": cfg["n_embd"],
        "n_head": cfg["n_head"],
        "n_inner": None,
        "n_layer": cfg["n_layer"],
        "n_positions": cfg["n_positions"],
        "vocab_size": N_VOCAB,
    }


def write_model(out, name, dtype, prefix, untied, sharded, rng):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".safetensors") or f.endswith(".json"):
            os.remove(os.path.join(d, f))
    w = make_weights(rng, CFG, untied)
    # LayerNorm parameters and biases are stored in the same dtype as the matrices (as HF does
    # when a model is saved in half precision).
    tensors = []
    for k, v in w.items():
        full = k if (k == "lm_head.weight" or not prefix) else "transformer." + k
        tensors.append((full, v, dtype))
        if k.endswith("attn.c_attn.bias") and name == "model_f32":
            # HF checkpoints carry these buffers; the loader must ignore them.
            L = CFG["n_positions"]
            mask = np.tril(np.ones((L, L), dtype=np.float32)).reshape(1, 1, L, L)
            tensors.append((full.replace("c_attn.bias", "bias"), mask, "F32"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_json(CFG), f, indent=2)
    if not sharded:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    else:
        half = len(tensors) // 2
        parts = [tensors[:half], tensors[half:]]
        weight_map, total = {}, 0
        for i, part in enumerate(parts):
            fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(parts))
            total += write_safetensors(os.path.join(d, fn), part)
            for t in part:
                weight_map[t[0]] = fn
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return {k: stored_value(v, dtype) for k, v in w.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    rng = np.random.default_rng(1234)

    P = CFG["n_positions"]
    prompts = [
        [50256],                                                    # length 1
        [818, 262, 2003, 11, 9552, 481, 0],                         # "In the future, AI will" + id 0
        [int(t) for t in rng.integers(0, N_VOCAB, size=33)],       # odd length
        [int(t) for t in rng.integers(0, N_VOCAB, size=P)],        # the whole context
    ]
    prompts[3][-1] = N_VOCAB - 1
    # Logits kept at every position: the first and last ids (SIMD tails of the vocab projection),
    # then a spread of random ids.
    subset = list(range(0, 8)) + list(range(N_VOCAB - 40, N_VOCAB))
    subset += sorted(set(int(t) for t in rng.integers(8, N_VOCAB - 40, size=208)))
    subset = sorted(set(subset))

    specs = [
        ("model_f32", "F32", False, False, False),
        ("model_f16", "F16", True, False, True),
        ("model_bf16", "BF16", False, True, False),
    ]
    blob, index = [], {"n_vocab": N_VOCAB, "vocab_subset": subset, "models": []}
    off = 0
    sub_t = torch.tensor(subset, dtype=torch.long)
    for name, dtype, prefix, untied, sharded in specs:
        W = write_model(out, name, dtype, prefix, untied, sharded, rng)
        entry = {"dir": name, "dtype": dtype, "prefix": prefix, "tied": not untied,
                 "sharded": sharded, "prompts": []}
        full_logits = None
        for j, ids in enumerate(prompts):
            with torch.no_grad():
                logits = gpt2_forward(W, CFG, ids)
            blk = logits[:, sub_t].numpy().astype("<f4")
            entry["prompts"].append({"ids": ids, "offset": off})
            blob.append(blk.tobytes())
            off += blk.size
            if j == 2:
                full_logits = logits[len(ids) - 1].numpy().astype("<f4")
                entry["full"] = {"prompt": j, "pos": len(ids) - 1}
        entry["full"]["offset"] = off
        blob.append(full_logits.tobytes())
        off += full_logits.size
        entry["logit_absmax"] = float(np.abs(full_logits).max())
        index["models"].append(entry)
    with open(os.path.join(out, "model_ref.bin"), "wb") as f:
        for b in blob:
            f.write(b)
    index["n_floats"] = off
    with open(os.path.join(out, "model_ref.json"), "w") as f:
        json.dump(index, f)
    print("wrote %s/model_ref.{json,bin}: %d floats" % (out, off))


if __name__ == "__main__":
    main()
