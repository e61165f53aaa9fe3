#!/usr/bin/env python3
"""Reference vectors for Q8_0 quantization (tests/test_q8_0.c).

Implements the published Q8_0 algorithm (ggml-quants.c quantize_row_q8_0_ref, and
gguf-py's gguf.quants.Q8_0.quantize_blocks, which is bit-exact with it) in float32 numpy:
  blocks of 32 consecutive values; d = max|x| / 127; id = 1/d (0 when d == 0);
  q = roundf(x * id) (round half away from zero); the block is d as IEEE F16
  (round to nearest even) followed by the 32 int8 q: 34 bytes.

Writes tests/data/q8_0_ref.f32 (the inputs, little-endian float32) and
tests/data/q8_0_ref.q8 (the expected blocks). The inputs mix random normals at many
scales, exact .5 ties after scaling, all-zero blocks, a single non-zero value, F16-subnormal
and F16-overflowing scales, and values that round near 127.

When a llama.cpp checkout with gguf-py is at hand (--llama-cpp DIR, default $PEERS/llama.cpp),
the blocks are also compared with gguf.quants.quantize(..., Q8_0); the script fails if they differ.

usage: /usr/bin/python3 tools/gen_q8_0_ref.py [--out tests/data] [--llama-cpp DIR]
"""
import argparse
import os
import sys

import numpy as np

QK = 32


def roundf(n):
    """C roundf: half away from zero (gguf-py's np_roundf)."""
    a = np.abs(n)
    floored = np.floor(a)
    b = floored + np.floor(2 * (a - floored))
    return np.sign(n) * b


def quantize_q8_0(x):
    x = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    d = (np.abs(x).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d == 0, np.float32(0), (np.float32(1) / d)).astype(np.float32)
    q = roundf((x * idv).astype(np.float32)).astype(np.int8)
    dh = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    return np.concatenate([dh, q.view(np.uint8)], axis=1).reshape(-1)


def inputs(rng):
    parts = []
    for scale in [1e-8, 1e-6, 1e-4, 0.02, 0.1, 1.0, 3.0, 100.0, 1e4, 2e6]:
        parts.append(rng.standard_normal(QK * 16).astype(np.float32) * np.float32(scale))
    parts.append(np.zeros(QK, np.float32))                       # d = 0
    one = np.zeros(QK, np.float32); one[7] = -0.3; parts.append(one)  # single value
    ties = np.arange(-16, 16, dtype=np.float32) + np.float32(0.5)    # x * id = k + 0.5 exactly?
    ties[0] = -127.0                                              # d = 1 -> id = 1
    parts.append(ties)
    ties2 = (np.arange(QK, dtype=np.float32) - 16) * np.float32(0.25) + np.float32(0.125)
    ties2[31] = np.float32(127 * 0.25)                            # d = 0.25, id = 4
    parts.append(ties2)
    near = rng.uniform(-1, 1, QK * 8).astype(np.float32); near[::QK] = 1.0
    parts.append(near)
    parts.append(rng.standard_normal(QK * 8).astype(np.float32) * np.float32(1e-10))  # subnormal d
    return np.concatenate(parts).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data"))
    ap.add_argument("--llama-cpp", default=os.path.join(os.environ.get("PEERS", ""), "llama.cpp"))
    args = ap.parse_args()
    x = inputs(np.random.default_rng(20240614))
    blocks = quantize_q8_0(x)
    gguf_dir = os.path.join(args.llama_cpp, "gguf-py")
    if os.path.isdir(gguf_dir):
        sys.path.insert(0, gguf_dir)
        import types
        sp = types.ModuleType("sentencepiece")  # imported by gguf-py, unused for Q8_0
        sp.SentencePieceProcessor = object
        sys.modules.setdefault("sentencepiece", sp)
        from gguf import quants
        from gguf.constants import GGMLQuantizationType
        theirs = quants.quantize(x.reshape(-1, QK), GGMLQuantizationType.Q8_0).reshape(-1)
        if not np.array_equal(theirs, blocks):
            bad = np.nonzero(theirs != blocks)[0]
            sys.exit("gguf.quants.quantize disagrees at byte %d of %d" % (bad[0], blocks.size))
        print("agrees with gguf.quants.quantize (%s)" % gguf_dir)
    else:
        print("no gguf-py at %s: not cross-checked" % gguf_dir)
    x.astype("<f4").tofile(os.path.join(args.out, "q8_0_ref.f32"))
    blocks.tofile(os.path.join(args.out, "q8_0_ref.q8"))
    print("wrote %d values (%d blocks)" % (x.size, x.size // QK))


if __name__ == "__main__":
    main()
