#!/usr/bin/python3
"""science_oracle.py — independent references for tempscale's measurements (docs/science.md).

Writes small JSON files into tests/data/ (committed), each compared by a C test:
  --bootstrap  science_calib_boot.json: PCG32 bootstrap resamples drawn exactly as
               src/calib/bootstrap.c does (checked index by index), and on the calib
               oracle data (tools/calib_oracle.py): percentile intervals of T* (T refitted
               on each resample with scipy) and of NLL / accuracy / ECE / MCE / ACE / Brier
               at T = 1 and T* with the paired deltas, all with numpy on the SAME resamples.
  --scaling    science_scaling.json: vector and matrix scaling (Guo et al. 2017) fitted
               with scipy.optimize.minimize(L-BFGS-B) on calib_val, with and without an L2
               penalty; NLL / accuracy / ECE / class-wise ECE on calib_test.
  --text       science_text.json: distinct-n, self-BLEU-4 (NLTK sentence_bleu with
               SmoothingFunction().method1, re-implemented here from NLTK's published code
               since nltk is not packaged here), seq-rep-4, NLL / entropy pooled per token,
               EOT share, divergence curve, and their bootstrap intervals over samples.
  --map        science_map.json: truncation x temperature grids and per-token traces from
               the definitions in docs/sampling.md (full sort, numpy), and the smallest
               surviving temperature by scipy.optimize.brentq.

Run from anywhere with Debian's python3-numpy, python3-scipy, python3-sklearn:
    /usr/bin/python3 tools/science_oracle.py --bootstrap --scaling --text --map
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import scipy.optimize
import scipy.special
import sklearn.metrics

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'tests', 'data')
sys.path.insert(0, HERE)
import calib_oracle  # noqa: E402  (the fit and metric definitions of issue 6)

# ---------------------------------------------------------------------------
# PCG32 (src/core/rng.c) and the bootstrap resamples (src/calib/bootstrap.c),
# vectorised over replicates: replicate b uses ts_rng_seed_stream(seed, b).
# ---------------------------------------------------------------------------
MULT = np.uint64(6364136223846793005)


class PCG32Streams:
    def __init__(self, seed, streams):
        streams = np.asarray(streams, dtype=np.uint64)
        self.inc = (streams << np.uint64(1)) | np.uint64(1)
        self.state = np.zeros_like(streams)
        self.u32()
        self.state = self.state + np.uint64(seed)
        self.u32()

    def u32(self, mask=None):
        sel = slice(None) if mask is None else mask
        old = self.state[sel].copy()
        self.state[sel] = old * MULT + self.inc[sel]
        xs = (((old >> np.uint64(18)) ^ old) >> np.uint64(27)) & np.uint64(0xFFFFFFFF)
        rot = old >> np.uint64(59)
        left = (xs << ((np.uint64(32) - rot) & np.uint64(31))) & np.uint64(0xFFFFFFFF)
        return ((xs >> rot) | left) & np.uint64(0xFFFFFFFF)


def bootstrap_indices(seed, n_rep, n):
    """idx[b][i]: pcg32_boundedrand_r(n) from stream b, as ts_bootstrap_resample."""
    rng = PCG32Streams(seed, np.arange(n_rep))
    threshold = np.uint64(((1 << 32) - n) % n)
    out = np.empty((n_rep, n), dtype=np.int64)
    for i in range(n):
        x = rng.u32()
        bad = x < threshold
        while bad.any():
            x[bad] = rng.u32(bad)
            bad = x < threshold
        out[:, i] = (x % np.uint64(n)).astype(np.int64)
    return out


def interval(reps, est, level=0.95):
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[~np.isnan(reps)]
    lo, hi = np.percentile(reps, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return {'estimate': float(est), 'lo': float(lo), 'hi': float(hi), 'n_valid': int(len(reps))}


# ---------------------------------------------------------------------------
# Calibration metrics on a resample (definitions of tools/calib_oracle.py; in the
# adaptive ECE equal confidences are ordered by original row index).
# ---------------------------------------------------------------------------
METRICS = ('nll', 'accuracy', 'ece', 'mce', 'ace', 'brier')


def row_records(z, y, T):
    p = calib_oracle.softmax(z, T)
    n = len(y)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    nll = -scipy.special.log_softmax(z.astype(np.float64) / T, axis=1)[np.arange(n), y]
    onehot = np.eye(z.shape[1])[y]
    brier = ((p - onehot) ** 2).sum(axis=1)
    return dict(conf=conf, correct=correct, nll=nll, brier=brier)


def metrics_of(rec, idx, n_bins=15):
    conf, correct = rec['conf'][idx], rec['correct'][idx]
    n = len(idx)
    out = {'nll': float(rec['nll'][idx].mean()), 'accuracy': float(correct.mean()),
           'brier': float(rec['brier'][idx].mean())}
    edges = np.linspace(0, 1, n_bins + 1)
    ece, mce = 0.0, 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if lo == 0:
            m |= conf == 0
        if m.sum():
            gap = abs(correct[m].mean() - conf[m].mean())
            ece += gap * m.sum() / n
            mce = max(mce, gap)
    order = np.lexsort((idx, conf))
    ace = 0.0
    for part in np.array_split(order, n_bins):
        if len(part):
            ace += abs(correct[part].sum() - conf[part].sum()) / n
    out.update(ece=float(ece), mce=float(mce), ace=float(ace))
    return out


def load_oracle_sets():
    def load(name):
        rows = np.loadtxt(os.path.join(DATA, name), delimiter=',', skiprows=1)
        return rows[:, 1:].astype(np.float32), rows[:, 0].astype(np.int64)
    return load('calib_val.csv'), load('calib_test.csv')


def bootstrap_reference():
    (zv, yv), (zt, yt) = load_oracle_sets()
    out = {'level': 0.95, 'n_bins': 15}
    # 1. resample indices, a few pinned values
    idx = bootstrap_indices(42, 3, 7)
    out['indices_seed42_n7'] = idx.tolist()
    big = bootstrap_indices(2024, 2, 5000)
    out['indices_seed2024_n5000_head'] = big[:, :8].tolist()
    out['indices_seed2024_n5000_sum'] = [int(v) for v in big.sum(axis=1)]

    # 2. T* interval: refit on every resample of VAL rows (B = 200, seed 11)
    T = calib_oracle.fit_temperature(zv, yv)
    B, seed = 200, 11
    idx = bootstrap_indices(seed, B, len(yv))
    reps = [calib_oracle.fit_temperature(zv[i], yv[i]) for i in idx]
    out['t_star'] = {'seed': seed, 'n_resamples': B, **interval(reps, T)}

    # 3. metric intervals on TEST at T = 1 and T* (B = 1000, seed 7), paired deltas
    B, seed = 1000, 7
    idx = bootstrap_indices(seed, B, len(yt))
    full = np.arange(len(yt))
    res = {'seed': seed, 'n_resamples': B, 'temperatures': [1.0, T]}
    recs = [row_records(zt, yt, t) for t in (1.0, T)]
    ests = [metrics_of(r, full) for r in recs]
    reps = [[metrics_of(r, i) for i in idx] for r in recs]
    for name, r in (('t1', 0), ('tstar', 1)):
        res[name] = {m: interval([x[m] for x in reps[r]], ests[r][m]) for m in METRICS}
    res['delta'] = {m: interval([reps[1][b][m] - reps[0][b][m] for b in range(B)],
                                ests[1][m] - ests[0][m]) for m in METRICS}
    # class-wise ECE (point estimates) at T = 1 and T*
    res['classwise_ece'] = [classwise_ece(calib_oracle.softmax(zt, t), yt) for t in (1.0, T)]
    out['metrics'] = res
    write('science_calib_boot.json', out)


def classwise_ece(p, y, n_bins=15):
    """Kull et al. 2019: mean over classes j of the ECE of p_j vs [y = j] (bins (lo, hi], 0 in bin 0)."""
    n, k = p.shape
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for j in range(k):
        pj, yj = p[:, j], (y == j).astype(np.float64)
        for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
            m = (pj > lo) & (pj <= hi)
            if b == 0:
                m |= pj <= 0
            if m.sum():
                total += abs(yj[m].sum() - pj[m].sum()) / n
    return float(total / k)


# ---------------------------------------------------------------------------
# Vector and matrix scaling (Guo et al. 2017) with scipy L-BFGS-B
# ---------------------------------------------------------------------------
def scaling_objective(z, y, method, l2):
    n, k = z.shape
    Y = np.eye(k)[y]

    def f(x):
        if method == 'vector':
            w, b = x[:k], x[k:]
            q = z * w + b
        else:
            W, b = x[:k * k].reshape(k, k), x[k * k:]
            q = z @ W.T + b
        lse = scipy.special.logsumexp(q, axis=1)
        nll = float(np.mean(lse - q[np.arange(n), y]))
        G = (np.exp(q - lse[:, None]) - Y) / n
        if method == 'vector':
            gw = (G * z).sum(axis=0) + l2 * (w - 1)
            pen = ((w - 1) ** 2).sum()
        else:
            gw = (G.T @ z + l2 * (W - np.eye(k))).ravel()
            pen = ((W - np.eye(k)) ** 2).sum()
        gb = G.sum(axis=0) + l2 * b
        pen += (b ** 2).sum()
        return nll + 0.5 * l2 * pen, np.concatenate([gw, gb])
    return f


def fit_scaling(z, y, method, l2):
    z = z.astype(np.float64)
    k = z.shape[1]
    x0 = np.concatenate([np.ones(k) if method == 'vector' else np.eye(k).ravel(), np.zeros(k)])
    f = scaling_objective(z, y, method, l2)
    r = scipy.optimize.minimize(f, x0, jac=True, method='L-BFGS-B',
                                options={'maxiter': 100000, 'maxfun': 200000, 'ftol': 0.0, 'gtol': 1e-11})
    fx, g = f(r.x)
    return r.x, float(np.abs(g).max())


def scaled_logits(z, x, method):
    z = z.astype(np.float64)
    k = z.shape[1]
    if method == 'vector':
        return z * x[:k] + x[k:]
    return z @ x[:k * k].reshape(k, k).T + x[k * k:]


def records_from_q(q, y):
    n, k = q.shape
    lse = scipy.special.logsumexp(q, axis=1)
    p = np.exp(q - lse[:, None])
    am = q.argmax(axis=1)
    return dict(conf=p[np.arange(n), am], correct=(am == y).astype(np.float64),
                nll=lse - q[np.arange(n), y], brier=((p - np.eye(k)[y]) ** 2).sum(axis=1)), p


def scaling_reference():
    (zv, yv), (zt, yt) = load_oracle_sets()
    out = {'n_bins': 15, 'fits': []}
    for method in ('vector', 'matrix'):
        for l2 in (0.0, 1e-3):
            x, gmax = fit_scaling(zv, yv, method, l2)
            k = zv.shape[1]
            rec_v, _ = records_from_q(scaled_logits(zv, x, method), yv)
            rec_t, p_t = records_from_q(scaled_logits(zt, x, method), yt)
            m = metrics_of(rec_t, np.arange(len(yt)))
            m['classwise_ece'] = classwise_ece(p_t, yt)
            nw = k if method == 'vector' else k * k
            entry = {'method': method, 'l2': l2, 'grad_max': gmax, 'w': x[:nw].tolist(), 'b': x[nw:].tolist(),
                     'nll_fit': float(rec_v['nll'].mean()), 'test': m}
            if method == 'matrix' and l2 == 0:
                # matrix scaling is multinomial logistic regression on the logits: sklearn agrees
                import sklearn.linear_model
                lr = sklearn.linear_model.LogisticRegression(penalty='none', multi_class='multinomial',
                                                             solver='lbfgs', max_iter=10000, tol=1e-12)
                lr.fit(zv.astype(np.float64), yv)
                entry['sklearn_test_nll'] = float(sklearn.metrics.log_loss(yt, lr.predict_proba(zt.astype(np.float64)),
                                                                            labels=np.arange(k)))
            out['fits'].append(entry)
            print(method, l2, 'grad', gmax, 'test nll', m['nll'], 'ece', m['ece'], 'cw', m['classwise_ece'])
    write('science_scaling.json', out)


def write(name, obj):
    with open(os.path.join(DATA, name), 'w') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')
    print('wrote', name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for a in ('bootstrap', 'scaling', 'text', 'map'):
        ap.add_argument('--' + a, action='store_true')
    args = ap.parse_args()
    if args.bootstrap:
        bootstrap_reference()
    if args.scaling:
        scaling_reference()
    if args.text:
        text_reference()
    if args.map:
        map_reference()


if __name__ == '__main__':
    main()
