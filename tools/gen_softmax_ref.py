#!/usr/bin/python3
"""Reference values for tests/test_softmax.c and tests/test_stats.c, computed
independently with PyTorch (float64 softmax / log_softmax) and SciPy (brentq
for the temperature of a given entropy).

    /usr/bin/python3 tools/gen_softmax_ref.py > tests/data/softmax_ref.txt

Format, one record per case (all numbers printed with 17 significant digits):
    case NAME N T
    logits z_0 ... z_{N-1}        (float32 values, printed exactly)
    probs p_0 ...                 (softmax(z / T))
    logp l_0 ...                  (log_softmax(z / T))
    entropy H                     (nats)
and, for the root find:
    tfe NAME N H_target T_solution   followed by a `logits` line
"""
import math
import numpy as np
import torch
from scipy.optimize import brentq

torch.set_default_dtype(torch.float64)


def f32(xs):
    return np.asarray(xs, dtype=np.float32)


def fmt(x):
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x) if x == 0 else "%.17g" % x


def emit_case(name, z, t):
    z = f32(z)
    zt = torch.tensor(z.astype(np.float64))
    p = torch.softmax(zt / t, dim=0)
    lp = torch.log_softmax(zt / t, dim=0)
    h = -(p[p > 0] * torch.log(p[p > 0])).sum().item()
    print("case %s %d %s" % (name, len(z), fmt(t)))
    print("logits " + " ".join(fmt(v) for v in z))
    print("probs " + " ".join(fmt(v) for v in p.tolist()))
    print("logp " + " ".join(fmt(v) for v in lp.tolist()))
    print("entropy " + fmt(h))


def entropy_at(z, t):
    zt = torch.tensor(z.astype(np.float64))
    p = torch.softmax(zt / t, dim=0)
    q = p[p > 0]
    return -(q * torch.log(q)).sum().item()


def emit_tfe(name, z, target):
    z = f32(z)
    t = brentq(lambda lt: entropy_at(z, math.exp(lt)) - target, -30, 30, xtol=1e-14, rtol=1e-15)
    print("tfe %s %d %s %s" % (name, len(z), fmt(target), fmt(math.exp(t))))
    print("logits " + " ".join(fmt(v) for v in z))


toy = [2, 1, 0.5, 0.2, 0.1]
for t in [0.1, 0.5, 1.0, 2.0, 5.0]:
    emit_case("toy", toy, t)
rng = np.random.default_rng(1234)
z = rng.normal(0, 3, 300).astype(np.float32)
z[[7, 50, 299]] = -np.inf
emit_case("masked300", z, 0.7)
emit_case("masked300", z, 3.0)
big = (rng.normal(0, 1, 64) * 2 + 1000).astype(np.float32)  # large offsets
emit_case("offset64", big, 1.0)
emit_case("offset64", big, 0.05)
for target in [0.1, 0.5, 1.0, 1.5]:
    emit_tfe("toy", toy, target)
emit_tfe("masked300", z, 3.0)
emit_tfe("masked300", z, 0.2)
