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


# ---------------------------------------------------------------------------
# Text measurements, from their published definitions
# ---------------------------------------------------------------------------
from collections import Counter  # noqa: E402


def ngrams(seq, n):
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


def nltk_modified_precision(references, hypothesis, n):
    """nltk.translate.bleu_score.modified_precision: (numerator, denominator)."""
    counts = Counter(ngrams(hypothesis, n)) if len(hypothesis) >= n else Counter()
    max_counts = {}
    for reference in references:
        reference_counts = Counter(ngrams(reference, n)) if len(reference) >= n else Counter()
        for g in counts:
            max_counts[g] = max(max_counts.get(g, 0), reference_counts[g])
    clipped = {g: min(c, max_counts[g]) for g, c in counts.items()}
    return sum(clipped.values()), max(1, sum(counts.values()))


def nltk_sentence_bleu_method1(references, hypothesis, weights=(0.25, 0.25, 0.25, 0.25), epsilon=0.1):
    """nltk sentence_bleu(..., smoothing_function=SmoothingFunction().method1) (NLTK 3.x)."""
    p = [nltk_modified_precision(references, hypothesis, i) for i in range(1, len(weights) + 1)]
    hyp_len = len(hypothesis)
    closest = min((len(r) for r in references), key=lambda rl: (abs(rl - hyp_len), rl))
    if hyp_len > closest:
        bp = 1.0
    elif hyp_len == 0:
        bp = 0.0
    else:
        bp = math.exp(1 - closest / hyp_len)
    if p[0][0] == 0:
        return 0.0
    pn = [(num + epsilon) / den if num == 0 else num / den for num, den in p]
    return bp * math.exp(math.fsum(w * math.log(x) for w, x in zip(weights, pn)))


def text_reference():
    rng = np.random.default_rng(1301)
    out = {'cases': []}
    for case in range(3):
        n_samples = (12, 7, 2)[case]
        vocab = (6, 4, 9)[case]
        lengths = rng.integers(0 if case == 0 else 3, 30, n_samples)
        samples = [rng.integers(0, vocab, L).tolist() for L in lengths]
        if case == 1:
            samples[3] = list(samples[1])  # an exact duplicate
        logprob = [(-rng.exponential(1.5, len(x))).tolist() for x in samples]
        entropy = [rng.uniform(0.5, 3.0, len(x)).tolist() for x in samples]
        eot = [bool(rng.integers(0, 2)) for _ in samples]
        N = len(samples)
        bleu = [nltk_sentence_bleu_method1(samples[:j] + samples[j + 1:], samples[j]) if N > 1 else None
                for j in range(N)]
        rep = [1 - len(set(ngrams(x, 4))) / len(ngrams(x, 4)) if len(x) >= 4 else None for x in samples]
        # distinct-n: unique n-grams over all samples / all n-gram occurrences;
        # per-sample weights u_j = sum over its occurrences of 1 / total count (sum_j u_j = unique)
        num = np.zeros((N, 8))
        den = np.zeros((N, 8))
        for n in (1, 2, 3):
            tot = Counter(g for x in samples for g in ngrams(x, n))
            for j, x in enumerate(samples):
                num[j, n - 1] = sum(1.0 / tot[g] for g in ngrams(x, n))
                den[j, n - 1] = len(ngrams(x, n))
            assert abs(num[:, n - 1].sum() - len(tot)) < 1e-9
        for j in range(N):
            num[j, 3], den[j, 3] = (bleu[j], 1) if bleu[j] is not None else (0, 0)
            num[j, 4], den[j, 4] = (rep[j], 1) if rep[j] is not None else (0, 0)
            num[j, 5], den[j, 5] = -sum(logprob[j]), len(samples[j])
            num[j, 6], den[j, 6] = sum(entropy[j]), len(samples[j])
            num[j, 7], den[j, 7] = float(eot[j]), 1
        B, seed = 500, 77 + case
        idx = bootstrap_indices(seed, B, N)
        names = ['distinct1', 'distinct2', 'distinct3', 'self_bleu4', 'repetition4', 'nll', 'entropy', 'eot_share']
        figures = {}
        for s_ in range(8):
            est = num[:, s_].sum() / den[:, s_].sum() if den[:, s_].sum() > 0 else float('nan')
            reps = [num[i, s_].sum() / den[i, s_].sum() if den[i, s_].sum() > 0 else float('nan') for i in idx]
            figures[names[s_]] = interval(reps, est) if not math.isnan(est) else None
        # divergence curve against a greedy text: sample 0 with its tail changed
        greedy = list(samples[0][:10]) + [vocab]  # token `vocab` never occurs in samples
        K = 12
        d = []
        for x in samples:
            m = min(len(x), len(greedy))
            c = 0
            while c < m and x[c] == greedy[c]:
                c += 1
            d.append(None if (c == m and len(x) == len(greedy)) else c)
        curve_num = np.array([[1.0 if (dj is None or dj >= k) else 0.0 for k in range(K + 1)] for dj in d])
        curve = [interval([curve_num[i, k].mean() for i in idx], curve_num[:, k].mean()) for k in range(K + 1)]
        out['cases'].append({'samples': samples, 'logprob': logprob, 'entropy': entropy, 'ended_eot': eot,
                             'seed': seed, 'n_resamples': B, 'self_bleu4': bleu, 'repetition4': rep,
                             'figures': figures, 'greedy': greedy, 'max_k': K, 'common_prefix': d,
                             'curve': curve})
    # NLTK's own doctest values, to pin the BLEU implementation itself
    ref1 = 'It is a guide to action that ensures that the military will forever heed Party commands'.split()
    hyp1 = 'It is a guide to action which ensures that the military always obeys the commands of the party'.split()
    assert abs(nltk_sentence_bleu_method1([ref1], hyp1) - 0.4118) < 1e-4
    write('science_text.json', out)


# ---------------------------------------------------------------------------
# Map and trace from the definitions in docs/sampling.md (full sort, numpy)
# ---------------------------------------------------------------------------
def kept_count(z, order, T_trunc, axis, v):
    nf = len(order)
    zs = z[order].astype(np.float64)
    if axis == 'top_k':
        return nf if v <= 0 or v >= nf else int(v)
    if T_trunc == 0:
        return 1
    w = np.ones(nf) if math.isinf(T_trunc) else np.exp((zs - zs[0]) / T_trunc)
    if axis == 'top_p':
        if v >= 1:
            return nf
        p = w / w.sum()
        c = np.cumsum(p)
        return int(np.argmax(c >= v)) + 1
    if v <= 0:
        return nf
    return int((w >= v).sum())


def map_cell(z, order, T, m):
    zs = z[order[:m]].astype(np.float64)
    zall = z[order].astype(np.float64)
    if T == 0:
        return {'support': 1, 'entropy': 0.0, 'mass': 1.0}
    if math.isinf(T):
        return {'support': m, 'entropy': math.log(m), 'mass': m / len(order)}
    lp = scipy.special.log_softmax(zs / T)
    full = scipy.special.softmax(zall / T)
    return {'support': m, 'entropy': float(-(np.exp(lp) * lp).sum()), 'mass': float(full[:m].sum())}


def map_reference():
    rng = np.random.default_rng(4242)
    V = 1000
    z = (rng.standard_t(3, V) * 2.0).astype(np.float32)
    z[17] = z[3]  # a tie
    z[500] = -np.inf
    finite = np.where(np.isfinite(z))[0]
    zf = z.copy()
    # ranking over finite tokens, by (logit desc, id asc)
    order = finite[np.lexsort((finite, -z[finite].astype(np.float64)))]
    temps = [0.0, 0.25, 0.7, 1.0, 1.6, 4.0, float('inf')]
    axes = {'top_p': [0.05, 0.5, 0.9, 0.99, 1.0], 'min_p': [0.0, 0.001, 0.05, 0.3, 0.9],
            'top_k': [0, 1, 7, 100, 5000]}
    out = {'logits': [float(x) if np.isfinite(x) else '-inf' for x in z], 'temperatures':
           ['inf' if math.isinf(t) else t for t in temps], 'grids': {}}
    for axis, vals in axes.items():
        g = {'values': vals, 'hf': [], 'llama': []}
        for T in temps:
            for v in vals:
                m_hf = 1 if T == 0 else kept_count(zf, order, T, axis, v)
                m_ll = 1 if T == 0 else kept_count(zf, order, 1.0, axis, v)
                g['hf'].append(map_cell(zf, order, T, m_hf))
                g['llama'].append(map_cell(zf, order, T, m_ll))
        out['grids'][axis] = g
    # traces: tokens at several ranks under several truncations
    traces = []
    zd = z.astype(np.float64)
    rank_of = {int(t): r + 1 for r, t in enumerate(order)}
    for tok in (int(order[0]), int(order[1]), 17, 3, int(order[6]), int(order[40]), int(order[300])):
        for (k, p, mp) in ((0, 1.0, 0.0), (0, 0.9, 0.0), (50, 0.95, 0.0), (0, 1.0, 0.05), (10, 0.8, 0.02)):
            r = rank_of[tok]
            kept = order[:k] if 0 < k < len(order) else order
            head = order[:r - 1]

            def C(T):
                w = np.exp((zd[kept] - zd[order[0]]) / T)
                wh = np.exp((zd[head] - zd[order[0]]) / T)
                return wh.sum() / w.sum()
            if k and r > k:
                t_p = float('inf')
            elif p >= 1 or r == 1:
                t_p = 0.0
            elif (r - 1) / len(kept) >= p:
                t_p = float('inf')
            elif C(1e-4) < p:
                t_p = 0.0
            else:
                t_p = scipy.optimize.brentq(lambda lt: C(math.exp(lt)) - p, math.log(1e-4), math.log(1e6), xtol=1e-14)
                t_p = math.exp(t_p)
            t_mp = (zd[order[0]] - zd[tok]) / -math.log(mp) if mp > 0 else 0.0
            t_min = float('inf') if (k and r > k) else max(t_p, t_mp)
            s_llama = (not (k and r > k)) and (p >= 1 or r == 1 or C(1.0) < p) and \
                (mp == 0 or math.exp(zd[tok] - zd[order[0]]) >= mp)
            lse = scipy.special.logsumexp(zd[finite])
            pr = scipy.special.softmax(zd[finite])
            traces.append({'token': tok, 'top_k': k, 'top_p': p, 'min_p': mp, 'rank': r,
                           'surprisal': float(lse - zd[tok]), 'entropy': float(-(pr * np.log(pr)).sum()),
                           't_min_hf': 'inf' if math.isinf(t_min) else t_min, 'survives_llama': bool(s_llama)})
    out['traces'] = traces
    write('science_map.json', out)


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
