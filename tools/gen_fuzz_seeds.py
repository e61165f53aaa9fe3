#!/usr/bin/env python3
"""gen_fuzz_seeds.py — write the seed corpora of tests/fuzz/corpus/<harness>/ (issue 15).

Run from the repository root with /usr/bin/python3 (standard library only):
    /usr/bin/python3 tools/gen_fuzz_seeds.py
Seeds (seed-*) come from real files of the tree (the bundled model's config and
header, tests/data CSV / NPY fixtures) and from small well-formed files in each
format (so the fuzzer starts from inputs that load). Regression inputs
(regress-*: the defects of issue 15 that a harness reaches, and every crash a
fuzzing run found) are written too; files this script does not know are left
alone, so reproducers added by hand stay. Output is deterministic.
"""
import hashlib
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MODEL = os.path.join(ROOT, "models", "tiny-shakespeare")
DATA = os.path.join(ROOT, "tests", "data")


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- safetensors -------------------------------------------------------------

DT = {"F32": ("f", 4), "F16": ("e", 2), "BF16": (None, 2), "I64": ("q", 8), "U8": ("B", 1),
      "BOOL": ("?", 1), "I8": ("b", 1), "F64": ("d", 8)}


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape); values are 0, 1, 2, ... (BF16: raw halves)."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dt, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        fmt, size = DT[dt]
        if dt == "BF16":
            data = b"".join(struct.pack("<H", 0x3F80 + i) for i in range(n))
        elif dt == "BOOL":
            data = bytes(i % 2 for i in range(n))
        else:
            data = struct.pack("<%d%s" % (n, fmt), *[i % 100 for i in range(n)])
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def gpt2_tensors(C=4, V=8, P=4, dtype="F16"):
    t = [("wte.weight", dtype, (V, C)), ("wpe.weight", dtype, (P, C))]
    for name, shape in [("ln_1.weight", (C,)), ("ln_1.bias", (C,)),
                        ("attn.c_attn.weight", (C, 3 * C)), ("attn.c_attn.bias", (3 * C,)),
                        ("attn.c_proj.weight", (C, C)), ("attn.c_proj.bias", (C,)),
                        ("ln_2.weight", (C,)), ("ln_2.bias", (C,)),
                        ("mlp.c_fc.weight", (C, 4 * C)), ("mlp.c_fc.bias", (4 * C,)),
                        ("mlp.c_proj.weight", (4 * C, C)), ("mlp.c_proj.bias", (C,))]:
        t.append(("h.0." + name, dtype, shape))
    t += [("ln_f.weight", dtype, (C,)), ("ln_f.bias", dtype, (C,))]
    return t


def seeds_safetensors():
    h = "safetensors"
    put(h, "seed-dtypes.safetensors", safetensors(
        [("a.f32", "F32", (2, 3)), ("b.f16", "F16", (4,)), ("c.bf16", "BF16", (4,)),
         ("d.i64", "I64", (2,)), ("e.empty", "U8", (0,)), ("f.mask", "BOOL", (1, 1, 2, 2)),
         ("g.scalar", "F32", ())], metadata={"format": "pt"}))
    put(h, "seed-gpt2-tiny-f16.safetensors", safetensors(gpt2_tensors(), {"format": "pt"}))
    put(h, "seed-gpt2-tiny-f32-prefixed.safetensors", safetensors(
        [("transformer." + n, "F32", s) for n, _, s in gpt2_tensors(C=2, V=4, P=2)]))
    put(h, "seed-empty.safetensors", safetensors([]))
    put(h, "seed-unpadded.safetensors", safetensors([("x", "F32", (3,))], pad=False))
    put(h, "seed-rank6.safetensors", safetensors([("t", "I8", (1, 2, 1, 2, 1, 2))]))
    # The bundled model's real header (its data cut off: the offsets point past the end).
    raw = read(os.path.join(MODEL, "model.safetensors"))
    n = struct.unpack("<Q", raw[:8])[0]
    put(h, "seed-bundled-header-only.safetensors", raw[:8 + n])


# ---- index.json (the harness has a.safetensors = {x}, b.safetensors = {y}) ------

def seeds_index():
    h = "index"
    put(h, "seed-two-shards.json", json.dumps(
        {"metadata": {"total_size": 16}, "weight_map": {"x": "a.safetensors", "y": "b.safetensors"}},
        indent=2))
    put(h, "seed-one-shard.json", '{"weight_map":{"x":"a.safetensors"}}')
    put(h, "seed-hf-style.json", json.dumps({"metadata": {"total_size": 12345}, "weight_map": {
        n: "model-%05d-of-00002.safetensors" % (1 + i % 2)
        for i, (n, _, _) in enumerate(gpt2_tensors())}}, indent=2))
    # defect 1: a rejected entry's (long) name was read after its tree was freed
    put(h, "regress-defect1-entry-name-after-free.json",
        '{"weight_map":{"transformer.h.11.mlp.c_proj.weight.of.a.long.tensor.name":12345}}')
    # defect 11: pull accepted sub/dir shards the loader refused
    put(h, "regress-defect11-subdir-shard.json",
        '{"weight_map":{"x":"sub/dir/a.safetensors"}}')
    # defect 9: control characters in a shard name
    put(h, "regress-defect9-shard-escape.json",
        '{"weight_map":{"x":"a\\u001b[2J\\n.safetensors"}}')


# ---- config.json -------------------------------------------------------------

def seeds_config():
    h = "config"
    put(h, "seed-bundled-config.json", read(os.path.join(MODEL, "config.json")))
    put(h, "seed-test-model-f32.json", read(os.path.join(DATA, "model_f32", "config.json")))
    put(h, "seed-minimal.json",
        '{"n_layer":2,"n_head":2,"n_embd":8,"n_ctx":16,"vocab_size":50257}')
    put(h, "seed-all-fields.json", json.dumps({
        "model_type": "gpt2", "n_layer": 1, "n_head": 1, "n_embd": 4, "n_positions": 4,
        "vocab_size": 9, "n_inner": 16, "layer_norm_epsilon": 1e-6, "bos_token_id": None,
        "eos_token_id": 8, "activation_function": "gelu_pytorch_tanh", "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False, "add_cross_attention": False,
        "tie_word_embeddings": False}))
    # defect 9: control characters from the file reached the message raw
    put(h, "regress-defect9-model-type-escape.json",
        '{"model_type":"\\u001b]0;owned\\u0007\\r\\nllama"}')


# ---- vocab.json NUL merges.txt -------------------------------------------------

def byte_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def seeds_tokenizer_files():
    h = "tokenizer_files"
    alpha = byte_alphabet()
    vocab = {alpha[b]: b for b in range(256)}
    merges = [("t", "h"), ("th", "e"), ("\u0120", "the")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    put(h, "seed-tiny.bin", json.dumps(vocab, ensure_ascii=False).encode() + b"\0" + text.encode())
    put(h, "seed-tiny-escaped.bin", json.dumps(vocab).encode() + b"\0" + text.encode())
    # inconsistent ranks: "the" made before "th"
    v2 = {alpha[b]: b for b in range(256)}
    for tok in ["he", "the", "th"]:
        v2[tok] = len(v2)
    put(h, "seed-inconsistent-ranks.bin", json.dumps(v2).encode() + b"\0" +
        b"#version: 0.2\nh e\nt he\nt h\n")
    put(h, "seed-crlf-no-version.bin", json.dumps(vocab).encode() + b"\0t h\r\nth e\r\n")


def seeds_tokenizer_roundtrip():
    h = "tokenizer_roundtrip"
    put(h, "seed-ascii.txt", "Hello, world! It's 2024: the year's 12 months.\n\n  tabs\tand  spaces ")
    put(h, "seed-shakespeare.txt", "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
        "All:\nSpeak, speak.\n")
    put(h, "seed-unicode.txt", "naïve café — Ελληνικά, русский, 日本語, 한국어, emoji 😀👍🏽, "
        "\u00a0nbsp\u2028line\ufeffbom ٣٤ Ⅻ")
    put(h, "seed-special.txt", "<|endoftext|>The end.<|endoftext|><|endoftext")
    put(h, "seed-invalid-utf8.bin", b"\xff\xfe abc \xc3\x28 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \x00\x01")
    put(h, "seed-all-bytes.bin", bytes(range(256)))


# ---- CSV / NPY ------------------------------------------------------------------

def seeds_csv():
    h = "csv"
    lines = read(os.path.join(DATA, "calib_val.csv")).split(b"\n")
    put(h, "seed-calib-val-head.csv", b"\n".join(lines[:12]) + b"\n")
    put(h, "seed-small.csv", "label,logit_0,logit_1,logit_2\n0,1.5,-2,0.25\n2, 3e-2 ,1E+1,-0\n\n"
        "1,0,0,0\r\n")
    put(h, "seed-two-classes.csv", "Label,a,b\n1,0.5,-0.5\n0.0,1,2")


def seeds_npy():
    h = "npy"
    for name in sorted(os.listdir(DATA)):
        if name.startswith("calib_npy_") and name.endswith(".npy"):
            put(h, "seed-" + name, read(os.path.join(DATA, name)))
    # defect 7: a 128-byte file whose header asks for 4.8 TB of float32
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1200000000000,), }"
    hdr = hdr + b" " * (117 - len(hdr)) + b"\n"
    put(h, "regress-defect7-shape-beyond-file.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr)


# ---- the hub: model info and headers ------------------------------------------------

def seeds_hub_model_info():
    h = "hub_model_info"
    sha = hashlib.sha1(b"tsorg/tiny").hexdigest()
    files = ["README.md", "config.json", "merges.txt", "model.safetensors", "vocab.json"]
    put(h, "seed-single.json", json.dumps({
        "_id": "x", "id": "tsorg/tiny", "modelId": "tsorg/tiny", "sha": sha, "private": False,
        "gated": False, "siblings": [{"rfilename": f} for f in files]}))
    put(h, "seed-sharded.json", json.dumps({"sha": sha, "siblings": [{"rfilename": f} for f in [
        "config.json", "vocab.json", "merges.txt", "model.safetensors.index.json",
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]]}))
    put(h, "seed-pickle-only.json", json.dumps({"sha": sha, "siblings": [{"rfilename": f} for f in [
        "config.json", "vocab.json", "merges.txt", "pytorch_model.bin"]]}))


def seeds_hub_headers():
    h = "hub_headers"
    commit = "0123456789abcdef0123456789abcdef01234567"
    sha = hashlib.sha256(b"x").hexdigest()
    git = hashlib.sha1(b"blob 1\0x").hexdigest()
    put(h, "seed-200-small-file.txt",
        f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Repo-Commit: {commit}\r\n"
        f"ETag: \"{git}\"\r\nContent-Length: 1\r\n\r\n")
    put(h, "seed-302-lfs.txt",
        f"HTTP/1.1 302 Found\r\nLocation: https://cdn-lfs.hf.co/repos/{sha}?X-Amz=1\r\n"
        f"X-Repo-Commit: {commit}\r\nX-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: 1\r\n"
        f"ETag: W/\"{git}\"\r\nContent-Length: 0\r\n\r\n")
    put(h, "seed-307-relative-then-200.txt",
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: /tsorg/tiny/resolve/main/config.json\r\n"
        f"Content-Length: 0\r\n\r\nHTTP/2 200\r\nx-repo-commit: {commit}\r\netag: \"{git}\"\r\n"
        "content-length: 1\r\n\r\n")
    put(h, "seed-404-error.txt",
        "HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\n"
        "X-Error-Message: Entry not found\r\nContent-Length: 0\r\n\r\n")
    # defect 5: a status line that is not NUL-terminated (the input ends inside it)
    put(h, "regress-defect5-status-unterminated.txt", "HTTP/1.1 2")
    put(h, "regress-defect5-size-unterminated.txt",
        f"HTTP/1.1 200 OK\r\nX-Repo-Commit: {commit}\r\nETag: \"{git}\"\r\nContent-Length: 12")
    # defect 6: a 200-character etag (was cut to 127), a non-hex etag, a 302 of Content-Length 0
    put(h, "regress-defect6-long-etag.txt",
        f"HTTP/1.1 200 OK\r\nX-Repo-Commit: {commit}\r\nETag: \"{'a' * 150}{'config.json':x<50}\"\r\n"
        "Content-Length: 10\r\n\r\n")
    put(h, "regress-defect6-hexless-etag.txt",
        f"HTTP/1.1 200 OK\r\nX-Repo-Commit: {commit}\r\nETag: \"../../x\"\r\nContent-Length: 3\r\n")
    put(h, "regress-defect6-empty-redirect.txt",
        f"HTTP/1.1 302 Found\r\nLocation: https://cdn/x\r\nX-Repo-Commit: {commit}\r\n"
        f"X-Linked-Etag: \"{hashlib.sha256(b'').hexdigest()}\"\r\nContent-Length: 0\r\n")
    # defect 3: redirects to other schemes
    for scheme, loc in [("gopher", "gopher://127.0.0.1:70/1x"), ("dict", "dict://127.0.0.1:2628/d:x"),
                        ("file", "file:///etc/passwd"), ("http-off-loopback", "http://cdn.example/x")]:
        put(h, f"regress-defect3-{scheme}.txt",
            f"HTTP/1.1 302 Found\r\nLocation: {loc}\r\nX-Repo-Commit: {commit}\r\n"
            f"X-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: 1\r\n\r\n")
    # defect 9: control characters in X-Error-Message
    put(h, "regress-defect9-error-message-escape.txt",
        "HTTP/1.1 404 Not Found\r\nX-Error-Code: RepoNotFound\r\n"
        "X-Error-Message: \x1b[2J\x1b]0;pwned\x07 gone\r\n\r\n")


def main():
    seeds_safetensors()
    seeds_index()
    seeds_config()
    seeds_tokenizer_files()
    seeds_tokenizer_roundtrip()
    seeds_csv()
    seeds_npy()
    seeds_hub_model_info()
    seeds_hub_headers()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
