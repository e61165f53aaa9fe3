#!/usr/bin/python3
"""Train the bundled tiny GPT-2 (models/tiny-shakespeare/) on TinyShakespeare.

The model is exactly Hugging Face's GPT2LMHeadModel (pre-LN blocks, Conv1D
weights stored [in, out], gelu_new, tied lm_head) with the full 50257-token
GPT-2 vocabulary, so the output directory loads in `transformers` and in the
tempscale C engine alike. Everything needed is in this file (GPT-2 BPE,
model, safetensors writer) because the machine has only PyTorch + numpy +
regex; tools/eval_tiny.py and tools/gen_tiny_reference.py import from here.

Data split (stated in the model card): the corpus file is read as bytes
(it is ASCII), the first floor(0.9 * n_bytes) bytes are the train split and
the remaining bytes the validation split; each part is decoded and tokenised
separately (no token straddles the boundary).

Output directory (HF layout):
  config.json        GPT2Config fields, torch_dtype float16
  model.safetensors  F16, HF GPT-2 tensor names without prefix (wte.weight,
                     h.0.attn.c_attn.weight, ...), no lm_head.weight (tied)
  vocab.json, merges.txt  copied from the tokenizer directory
The best-validation checkpoint is (re)written each time validation improves,
so an interrupted run still leaves a usable model.

Example:
  /usr/bin/python3 tools/train_tiny.py --n-layer 4 --n-embd 128 --n-head 4 \
      --n-ctx 256 --steps 2000 --out /tmp/tiny-run
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import time

import numpy as np
import regex
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_CORPUS = os.path.join(REPO, "..", "shared", "data", "tinyshakespeare.txt")
DEFAULT_TOKDIR = os.path.join(REPO, "..", "shared", "gpt2-tokenizer")
EOT = 50256
VOCAB = 50257
TRAIN_FRACTION = 0.9

# --------------------------------------------------------------------------
# GPT-2 BPE (OpenAI encoder.py algorithm)


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    return set(zip(word[:-1], word[1:]))


class GPT2BPE:
    PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def __init__(self, tokdir):
        with open(os.path.join(tokdir, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.decoder = {v: k for k, v in self.encoder.items()}
        with open(os.path.join(tokdir, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(l.split()) for l in lines[1:] if l.strip()]
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return [token]
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        self.cache[token] = list(word)
        return self.cache[token]

    def encode(self, text):
        ids = []
        for tok in self.PAT.findall(text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok))
        return ids

    def decode(self, ids):
        text = "".join(self.decoder[i] for i in ids)
        return bytearray(self.byte_decoder[c] for c in text).decode("utf-8", errors="replace")


def load_split(corpus, tok):
    """Return (train_ids, val_ids, info) using the byte-level 90/10 split."""
    with open(corpus, "rb") as f:
        data = f.read()
    cut = int(len(data) * TRAIN_FRACTION)
    train_text = data[:cut].decode("utf-8")
    val_text = data[cut:].decode("utf-8")
    train_ids = np.array(tok.encode(train_text), dtype=np.int64)
    val_ids = np.array(tok.encode(val_text), dtype=np.int64)
    info = {"corpus_bytes": len(data), "split_byte": cut,
            "train_tokens": int(len(train_ids)), "val_tokens": int(len(val_ids))}
    return train_ids, val_ids, info

# --------------------------------------------------------------------------
# Model: HF GPT2LMHeadModel layout, parameter names match the gpt2 repo.


class Conv1D(nn.Module):
    """HF Conv1D: y = x @ weight + bias with weight stored [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out).normal_(0.0, 0.02))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        shape = x.shape[:-1] + (self.weight.shape[1],)
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(shape)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["n_embd"]
        self.n_head = cfg["n_head"]
        self.c_attn = Conv1D(d, 3 * d)
        self.c_proj = Conv1D(d, d)
        self.attn_drop = nn.Dropout(cfg["attn_pdrop"])
        self.resid_drop = nn.Dropout(cfg["resid_pdrop"])
        n = cfg["n_positions"]
        self.register_buffer("mask", torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)   # (B, nh, T, hd)
        k = k.view(B, T, self.n_head, hd).transpose(1, 2)
        v = v.view(B, T, self.n_head, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)    # (B, nh, T, T)
        att = att.masked_fill(~self.mask[:, :, :T, :T], torch.finfo(att.dtype).min)
        att = self.attn_drop(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["n_embd"]
        self.c_fc = Conv1D(d, 4 * d)
        self.c_proj = Conv1D(4 * d, d)
        self.drop = nn.Dropout(cfg["resid_pdrop"])

    def forward(self, x):
        return self.drop(self.c_proj(gelu_new(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["n_embd"], cfg["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class FusedCrossEntropy(torch.autograd.Function):
    """Mean cross entropy over rows of logits (N, V); same value as F.cross_entropy.
    Exists only for speed: PyTorch 1.13's CPU log_softmax backward is single-threaded
    and took ~20 % of a training step here; this keeps softmax probs and returns
    (p - onehot) / N directly."""

    @staticmethod
    def forward(ctx, logits, targets):
        x = logits.float()
        m = x.max(dim=1, keepdim=True).values
        p = torch.sub(x, m)
        p.exp_()
        lse = p.sum(dim=1, keepdim=True).log_().add_(m)          # (N, 1)
        picked = x.gather(1, targets.view(-1, 1))
        loss = (lse - picked).mean()
        p.mul_(torch.exp(m - lse))                               # softmax probs
        ctx.save_for_backward(p, targets)
        ctx.in_dtype = logits.dtype
        return loss

    @staticmethod
    def backward(ctx, grad):
        p, targets = ctx.saved_tensors
        n = p.shape[0]
        p[torch.arange(n), targets] -= 1.0
        p.mul_(grad / n)
        return p.to(ctx.in_dtype), None


class GPT2(nn.Module):
    """state_dict keys: wte.weight, wpe.weight, h.{i}.*, ln_f.* (lm_head tied to wte)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        self.drop = nn.Dropout(cfg["embd_pdrop"])
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])
        # HF GPT-2 init: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2 n_layer).
        nn.init.normal_(self.wte.weight, 0.0, 0.02)
        nn.init.normal_(self.wpe.weight, 0.0, 0.01)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg["n_layer"]))

    def forward(self, idx, targets=None):
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for blk in self.h:
            x = blk(x)
        x = self.ln_f(x)
        logits = x @ self.wte.weight.t()                   # (B, T, V), tied lm_head
        if targets is None:
            return logits
        loss = FusedCrossEntropy.apply(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def make_config(n_layer, n_embd, n_head, n_ctx, dropout):
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": VOCAB,
        "n_positions": n_ctx,
        "n_ctx": n_ctx,
        "n_embd": n_embd,
        "n_layer": n_layer,
        "n_head": n_head,
        "n_inner": None,
        "activation_function": "gelu_new",
        "resid_pdrop": dropout,
        "embd_pdrop": dropout,
        "attn_pdrop": dropout,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "use_cache": True,
        "tie_word_embeddings": True,
        "bos_token_id": EOT,
        "eos_token_id": EOT,
        "torch_dtype": "float16",
    }

# --------------------------------------------------------------------------
# safetensors (F16) writer / reader


def save_safetensors_f16(state, path):
    """state: ordered dict name -> float tensor. Writes F16, header space-padded to 8 bytes."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, t in state.items():
        a = t.detach().to(torch.float16).contiguous().cpu().numpy().astype("<f2")
        b = a.tobytes()
        header[name] = {"dtype": "F16", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    """Return dict name -> float32 torch tensor (F16/F32/BF16 supported)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        b, e = meta["data_offsets"]
        buf = raw[base + b:base + e]
        if meta["dtype"] == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif meta["dtype"] == "F32":
            a = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        else:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, meta["dtype"]))
        out[name] = torch.from_numpy(a.reshape(meta["shape"]).copy())
    return out


def export_state(model):
    """HF tensor order/names without prefix, lm_head omitted (tied)."""
    sd = model.state_dict()
    names = ["wte.weight", "wpe.weight"]
    for i in range(model.cfg["n_layer"]):
        for s in ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                  "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                  "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]:
            names.append("h.%d.%s" % (i, s))
    names += ["ln_f.weight", "ln_f.bias"]
    assert set(names) == set(sd.keys()), set(sd.keys()) ^ set(names)
    return {n: sd[n] for n in names}


def load_model_dir(d):
    """Load an HF-layout GPT-2 directory (config.json + model.safetensors) as float32 GPT2."""
    with open(os.path.join(d, "config.json")) as f:
        hf = json.load(f)
    cfg = dict(hf)
    cfg.setdefault("n_positions", hf.get("n_ctx"))
    model = GPT2(cfg)
    sd = load_safetensors(os.path.join(d, "model.safetensors"))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError("%s: missing %s unexpected %s" % (d, missing, unexpected))
    model.eval()
    return model


def save_model_dir(model, out, tokdir, extra=None):
    os.makedirs(out, exist_ok=True)
    save_safetensors_f16(export_state(model), os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(model.cfg, f, indent=2)
        f.write("\n")
    for fn in ("vocab.json", "merges.txt"):
        dst = os.path.join(out, fn)
        if not os.path.exists(dst):
            shutil.copyfile(os.path.join(tokdir, fn), dst)

# --------------------------------------------------------------------------
# Evaluation and training


@torch.no_grad()
def eval_loss(model, ids, block, batch=8):
    """Mean next-token loss (nats) over full non-overlapping windows of `block` tokens.
    Window k covers inputs ids[k*block : (k+1)*block] and targets shifted by one; the
    tail that does not fill a window is dropped. Returns (mean_loss, n_predictions)."""
    was_training = model.training
    model.eval()
    n_win = (len(ids) - 1) // block
    t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    total, count = 0.0, 0
    for s in range(0, n_win, batch):
        ks = range(s, min(n_win, s + batch))
        x = torch.stack([t[k * block:(k + 1) * block] for k in ks])
        y = torch.stack([t[k * block + 1:(k + 1) * block + 1] for k in ks])
        logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), reduction="sum")
        total += loss.item()
        count += y.numel()
    if was_training:
        model.train()
    return total / count, count


def lr_at(step, total, warmup, lr, min_lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--tokenizer", default=DEFAULT_TOKDIR, help="dir with vocab.json, merges.txt")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "tiny-shakespeare"))
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-ctx", type=int, default=256, help="block size = n_positions")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2000, help="optimizer steps (sets the LR schedule)")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="stop after this many seconds even if --steps not reached (0 = none)")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many steps without changing the --steps LR schedule (0 = off)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true",
                    help="bfloat16 autocast for matmuls (weights, optimizer and loss stay fp32)")
    ap.add_argument("--init-from", help="start from the weights of this HF-layout model dir "
                    "(fresh optimizer; used to continue a run that was interrupted)")
    ap.add_argument("--bench", type=int, default=0, help="only time this many steps, write nothing")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    t0 = time.time()
    tok = GPT2BPE(args.tokenizer)
    train_ids, val_ids, info = load_split(args.corpus, tok)
    print("data: %s (tokenised in %.1fs)" % (json.dumps(info), time.time() - t0), flush=True)

    cfg = make_config(args.n_layer, args.n_embd, args.n_head, args.n_ctx, args.dropout)
    model = GPT2(cfg)
    if args.init_from:
        init = load_model_dir(args.init_from)
        if {k: init.cfg[k] for k in ("n_layer", "n_embd", "n_head", "n_positions")} != \
                {k: cfg[k] for k in ("n_layer", "n_embd", "n_head", "n_positions")}:
            sys.exit("--init-from %s: config does not match the requested size" % args.init_from)
        model.load_state_dict(init.state_dict())
        print("init: weights from %s" % args.init_from, flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print("model: %s params=%d (%.2f MB as F16)" % (
        {k: cfg[k] for k in ("n_layer", "n_embd", "n_head", "n_positions")}, n_params, n_params * 2 / 1e6),
        flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    B, T = args.batch, args.n_ctx
    train_t = torch.from_numpy(train_ids)
    steps = args.bench if args.bench else args.steps
    best = float("inf")
    best_rec = None
    history = []
    tstart = time.time()
    tlast, ntok = time.time(), 0
    model.train()
    for step in range(steps):
        lr = lr_at(step, steps, args.warmup, args.lr, args.min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        offs = rng.integers(0, len(train_ids) - T - 1, size=B)
        x = torch.stack([train_t[o:o + T] for o in offs])
        y = torch.stack([train_t[o + 1:o + T + 1] for o in offs])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        ntok += B * T
        elapsed = time.time() - tstart
        if step % args.log_every == 0 or step == steps - 1:
            now = time.time()
            print("step %5d/%d lr %.2e train_loss %.4f tok/s %.0f elapsed %.0fs" % (
                step, steps, lr, loss.item(), ntok / max(1e-9, now - tlast), elapsed), flush=True)
            tlast, ntok = now, 0
        if args.bench:
            continue
        last = (step == steps - 1 or (args.time_budget and elapsed >= args.time_budget)
                or (args.stop_after and step + 1 >= args.stop_after))
        if (step + 1) % args.eval_every == 0 or last:
            te = time.time()
            # bf16 autocast here too when training with it (selection only; the card's
            # numbers come from tools/eval_tiny.py in float32 on the saved F16 weights).
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                vl, _ = eval_loss(model, val_ids, T)
            rec = {"step": step + 1, "val_loss": vl, "train_loss_batch": loss.item(),
                   "elapsed_s": round(time.time() - tstart, 1)}
            history.append(rec)
            msg = "eval step %d val_loss %.4f (%.1fs)" % (step + 1, vl, time.time() - te)
            if vl < best:
                best = vl
                best_rec = rec
                save_model_dir(model, args.out, args.tokenizer)
                msg += " -> saved best to %s" % args.out
            # Run summary next to (not inside) the output dir, e.g. /tmp/tiny-run.train.json.
            with open(args.out.rstrip("/") + ".train.json", "w") as f:
                json.dump({"args": vars(args), "data": info, "params": n_params,
                           "best": best_rec, "history": history}, f, indent=1)
            print(msg, flush=True)
        if last:
            break
    print("done: %d steps in %.0fs, best val_loss %.4f" % (step + 1, time.time() - tstart, best), flush=True)


if __name__ == "__main__":
    main()
