#!/usr/bin/python3
"""calib_oracle.py — independent reference data for tempscale's calibration tests.

Writes into tests/data/ (small files, committed):
  --npy-fixtures   .npy files in every dtype / byte order / version / order the reader
                   must accept or refuse (tests/test_npy.c).
  --oracle         an overconfident 10-class classifier (seeded numpy, logits x3):
                   calib_{val,test}.csv and the same data as .npy pairs
                   (val: float32 + int64 labels, test: float64 + int32 labels), a
                   well-calibrated set calib_wellcal_{logits,labels}.npy (labels drawn
                   from softmax(z), so T* ~ 1), and calib_expected.json: T* fitted by
                   scipy and every metric computed here with plain numpy (cross-checked
                   with sklearn.metrics), the shape of `tempscale calibrate --json`.

Definitions (the C code in src/calib/calibrate.c must match them exactly):
  ECE   equal-width bins with edges numpy.linspace(0, 1, B+1), membership lo < c <= hi
        (gpleiss/temperature_scaling ECELoss), c = max softmax, weighted |acc - conf|
  MCE   max |acc - conf| over non-empty equal-width bins
  ACE   rows sorted by c (stable), numpy.array_split into B bins, weighted |acc - conf|
  Brier mean over rows of sum_k (p_k - onehot_k)^2

Run from the repository root with Debian's python3-numpy, -scipy, -sklearn:
    /usr/bin/python3 tools/calib_oracle.py --npy-fixtures --oracle
"""
import argparse
import json
import os

import numpy as np
import scipy.optimize
import scipy.special
import sklearn.metrics

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data')


def npy_fixtures():
    """A = (4i + j) * 0.5 - 1, shape (3, 4): exact in float16, so the C test compares with ==."""
    A = np.arange(12).reshape(3, 4) * 0.5 - 1.0

    def w(name, arr, version=None):
        with open(os.path.join(DATA, name), 'wb') as f:
            np.lib.format.write_array(f, arr, version=version)

    w('calib_npy_f4.npy', A.astype('<f4'))
    w('calib_npy_f8_fortran.npy', np.asfortranarray(A.astype('<f8')))
    w('calib_npy_f4_be.npy', A.astype('>f4'))
    w('calib_npy_f2.npy', A.astype('<f2'))
    w('calib_npy_f4_v2.npy', A.astype('<f4'), version=(2, 0))
    w('calib_npy_f4_v3.npy', A.astype('<f4'), version=(3, 0))
    w('calib_npy_lab_i8.npy', np.array([0, 3, 2, 1], dtype='<i8'))
    w('calib_npy_lab_u1.npy', np.array([0, 3, 2, 1], dtype='u1'))
    w('calib_npy_lab_i4_be.npy', np.array([0, 3, 2, 1], dtype='>i4'))
    w('calib_npy_lab_f4.npy', np.array([0, 3, 2, 1], dtype='<f4'))
    w('calib_npy_lab_frac.npy', np.array([0, 3, 2.5, 1], dtype='<f8'))
    w('calib_npy_lab_neg.npy', np.array([0, -1, 2, 1], dtype='<i2'))
    w('calib_npy_lab_onehot.npy', np.eye(4, dtype='<i8'))
    w('calib_npy_struct.npy', np.zeros(3, dtype=[('a', '<f4'), ('b', '<i4')]))
    # What the C writer must reproduce byte for byte.
    np.save(os.path.join(DATA, 'calib_npy_ref_write.npy'),
            np.array([[1.5, -2.25, 3.0], [0.0, 1e-3, -7.0]], dtype=np.float32))
    data = open(os.path.join(DATA, 'calib_npy_f4.npy'), 'rb').read()
    open(os.path.join(DATA, 'calib_npy_truncated.npy'), 'wb').write(data[:-5])
    open(os.path.join(DATA, 'calib_npy_badmagic.npy'), 'wb').write(b'PK\x03\x04 not a numpy file')


def softmax(z, T):
    return scipy.special.softmax(z.astype(np.float64) / T, axis=1)


def mean_nll(z, y, T):
    lp = scipy.special.log_softmax(z.astype(np.float64) / T, axis=1)
    return float(-lp[np.arange(len(y)), y].mean())


def fit_temperature(z, y):
    """T* = argmin mean NLL: bounded Brent on log T, polished by brentq on dNLL/dbeta."""
    z = z.astype(np.float64)
    r = scipy.optimize.minimize_scalar(lambda lt: mean_nll(z, y, np.exp(lt)), bounds=(np.log(1e-3), np.log(1e3)),
                                       method='bounded', options={'xatol': 1e-10})
    t_brent = float(np.exp(r.x))

    def grad(beta):  # mean(E_p[z] - z_y) at beta = 1/T
        p = scipy.special.softmax(z * beta, axis=1)
        return float(((p * z).sum(axis=1) - z[np.arange(len(y)), y]).mean())

    b = scipy.optimize.brentq(grad, 1 / t_brent * 0.5, 1 / t_brent * 2, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    t = 1.0 / b
    assert abs(t - t_brent) / t < 1e-6, (t, t_brent)
    return t


def metrics(z, y, T, n_bins=15):
    p = softmax(z, T)
    n = len(y)
    conf = p.max(axis=1)
    pred = p.argmax(axis=1)
    correct = (pred == y).astype(np.float64)
    nll = mean_nll(z, y, T)
    onehot = np.eye(z.shape[1])[y]
    brier = float(((p - onehot) ** 2).sum(axis=1).mean())
    # Independent cross-checks.
    assert abs(nll - sklearn.metrics.log_loss(y, p, labels=np.arange(z.shape[1]))) < 1e-9
    assert abs(correct.mean() - sklearn.metrics.accuracy_score(y, pred)) == 0
    edges = np.linspace(0, 1, n_bins + 1)
    ece, mce = 0.0, 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.sum() > 0:
            gap = abs(correct[m].mean() - conf[m].mean())
            ece += gap * m.sum() / n
            mce = max(mce, gap)
    order = np.argsort(conf, kind='stable')
    ace = 0.0
    for idx in np.array_split(order, n_bins):
        if len(idx):
            ace += abs(correct[idx].mean() - conf[idx].mean()) * len(idx) / n
    return dict(nll=nll, accuracy=float(correct.mean()), ece=float(ece), mce=float(mce), ace=float(ace), brier=brier)


def overconfident(rng, n, k=10, scale=3.0):
    """Scores = 1.6 * onehot(y) + N(0, 1); the 'network' reports scale x scores."""
    y = rng.integers(0, k, n)
    s = rng.normal(0.0, 1.0, (n, k))
    s[np.arange(n), y] += 1.6
    z = np.round(scale * s, 3).astype(np.float32)
    return z, y


def write_csv(path, z, y):
    with open(path, 'w') as f:
        f.write('label,' + ','.join('logit_%d' % j for j in range(z.shape[1])) + '\n')
        for row, lab in zip(z, y):
            f.write('%d,' % lab + ','.join('%.3f' % float(v) for v in row) + '\n')


def oracle():
    rng = np.random.default_rng(20170614)  # Guo et al., arXiv 1706.04599
    zv, yv = overconfident(rng, 5000)
    zt, yt = overconfident(rng, 5000)
    write_csv(os.path.join(DATA, 'calib_val.csv'), zv, yv)
    write_csv(os.path.join(DATA, 'calib_test.csv'), zt, yt)
    np.save(os.path.join(DATA, 'calib_val_logits.npy'), zv.astype('<f4'))
    np.save(os.path.join(DATA, 'calib_val_labels.npy'), yv.astype('<i8'))
    np.save(os.path.join(DATA, 'calib_test_logits.npy'), zt.astype('<f8'))
    np.save(os.path.join(DATA, 'calib_test_labels.npy'), yt.astype('<i4'))
    T = fit_temperature(zv, yv)
    out = {'temperature': T, 'n_bins': 15}
    for name, z, y in (('val', zv, yv), ('test', zt, yt)):
        b, a = metrics(z, y, 1.0), metrics(z, y, T)
        assert b['accuracy'] == a['accuracy']
        out[name] = {'nll_before': b['nll'], 'nll_after': a['nll'], 'ece_before': b['ece'], 'ece_after': a['ece'],
                     'mce_before': b['mce'], 'mce_after': a['mce'], 'ace_before': b['ace'], 'ace_after': a['ace'],
                     'brier_before': b['brier'], 'brier_after': a['brier'], 'accuracy': a['accuracy']}
    # Well calibrated: labels drawn from softmax(z), so the NLL-optimal T is ~1.
    z = (rng.normal(0.0, 1.0, (5000, 10)) * 2.0).astype(np.float32)
    p = softmax(z, 1.0)
    y = np.array([rng.choice(10, p=row / row.sum()) for row in p])
    np.save(os.path.join(DATA, 'calib_wellcal_logits.npy'), z)
    np.save(os.path.join(DATA, 'calib_wellcal_labels.npy'), y.astype('<i8'))
    out['wellcal'] = {'temperature': fit_temperature(z, y), **metrics(z, y, fit_temperature(z, y))}
    with open(os.path.join(DATA, 'calib_expected.json'), 'w') as f:
        json.dump(out, f, indent=2)
        f.write('\n')
    print(json.dumps(out, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--npy-fixtures', action='store_true')
    ap.add_argument('--oracle', action='store_true')
    args = ap.parse_args()
    if args.npy_fixtures:
        npy_fixtures()
    if args.oracle:
        oracle()


if __name__ == '__main__':
    main()
