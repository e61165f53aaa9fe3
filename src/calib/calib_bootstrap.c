/*
 * calib_bootstrap.c — bootstrap intervals for the calibration metrics (NLL,
 * accuracy, ECE, MCE, adaptive ECE, Brier) of any calibrated model: temperature
 * scaling at one or several T, vector / matrix scaling, the LM store.
 *
 * Every model is first reduced to per-row records (a "rowset"): the row's NLL,
 * Brier term, top-1 confidence, correctness, equal-width bin, and the rows'
 * order by (confidence, row index). A resample is then a vector of
 * multiplicities and each metric an O(n) sweep over the rows in confidence
 * order, so one replicate costs one pass over n small records whatever K is.
 * The definitions are exactly those of ts_calib_metrics_compute applied to the
 * resampled rows (src/calib/calibrate.c); in the adaptive ECE, rows with equal
 * confidence are ordered by row index (duplicates of a row are adjacent).
 *
 * With several rowsets (the same rows under several models) every replicate
 * uses the same resample for all of them, so `delta` (metric of set s minus
 * metric of set 0 on the same resample) is a paired interval: it says whether
 * T* really changed the ECE, not just whether two intervals overlap.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

enum { N_METRICS = 6 }; /* nll, accuracy, ece, mce, ace, brier */

ts_status ts_calib_rowset_init(ts_calib_rowset *r, size_t n, char *err, size_t err_size)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->nll = malloc(n * sizeof *r->nll);
    r->brier = malloc(n * sizeof *r->brier);
    r->conf = malloc(n * sizeof *r->conf);
    r->correct = malloc(n);
    r->bin = malloc(n * sizeof *r->bin);
    r->order = malloc(n * sizeof *r->order);
    r->rec = malloc(n * sizeof *r->rec);
    if (!r->nll || !r->brier || !r->conf || !r->correct || !r->bin || !r->order || !r->rec) {
        ts_calib_rowset_free(r);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory for %zu rows", n);
    }
    return TS_OK;
}

void ts_calib_rowset_free(ts_calib_rowset *r)
{
    if (!r) return;
    free(r->nll);
    free(r->brier);
    free(r->conf);
    free(r->correct);
    free(r->bin);
    free(r->order);
    free(r->rec);
    memset(r, 0, sizeof *r);
}

typedef struct conf_index {
    double conf;
    uint32_t index;
} conf_index;

static int cmp_conf_index(const void *a, const void *b)
{
    const conf_index *x = a, *y = b;
    if (x->conf != y->conf) return x->conf < y->conf ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

ts_status ts_calib_rowset_finish(ts_calib_rowset *r, int32_t n_bins, char *err, size_t err_size)
{
    r->n_bins = n_bins;
    conf_index *ci = malloc(r->n * sizeof *ci);
    if (!ci) return ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
    for (size_t i = 0; i < r->n; i++) {
        r->bin[i] = ts_calib_conf_bin(r->conf[i], n_bins);
        ci[i] = (conf_index){r->conf[i], (uint32_t)i};
    }
    qsort(ci, r->n, sizeof *ci, cmp_conf_index);
    for (size_t j = 0; j < r->n; j++)
        r->order[j] = ci[j].index;
    free(ci);
    /* The sweep reads rows in confidence order: pack them so it streams. */
    for (size_t j = 0; j < r->n; j++) {
        const uint32_t i = r->order[j];
        r->rec[j] = (ts_calib_rec){
            r->nll[i], r->has_brier ? r->brier[i] : 0, r->conf[i], i, r->bin[i], r->correct[i]};
    }
    return TS_OK;
}

/*
 * The six metrics of rowset r over a resample given by counts (NULL = every
 * row once). scratch: 3 * n_bins doubles. out: nll, accuracy, ece, mce, ace,
 * brier (brier NaN when the rowset has none).
 */
static void rowset_metrics(const ts_calib_rowset *r, const uint32_t *counts, const uint8_t *c8,
                           double *scratch, double out[N_METRICS])
{
    const size_t n = r->n;
    const int32_t nb = r->n_bins;
    double *sc = scratch, *sa = scratch + nb, *cnt = scratch + 2 * nb;
    memset(scratch, 0, 3 * (size_t)nb * sizeof *scratch);
    double nll = 0, brier = 0, hits = 0;
    /* adaptive ECE: equal-mass bins of the resample (numpy.array_split sizes) */
    const size_t base = n / (size_t)nb, extra = n % (size_t)nb;
    size_t ab = 0, cap = base + (0 < extra), fill = 0;
    double asc = 0, asa = 0, ace = 0;
    for (size_t j = 0; j < n; j++) {
        const ts_calib_rec *x = &r->rec[j];
        uint32_t c = c8 ? c8[x->row] : counts ? counts[x->row] : 1;
        if (!c) continue;
        const double conf = x->conf, cor = x->correct;
        nll += c * x->nll;
        brier += c * x->brier;
        hits += c * cor;
        const int32_t b = x->bin;
        sc[b] += c * conf;
        sa[b] += c * cor;
        cnt[b] += c;
        while (c) {
            size_t t = cap - fill < c ? cap - fill : c;
            asc += (double)t * conf;
            asa += (double)t * cor;
            fill += t;
            c -= (uint32_t)t;
            if (fill == cap) {
                ace += fabs(asa - asc);
                asc = asa = 0;
                fill = 0;
                ab++;
                cap = base + (ab < extra);
                if (cap == 0) break; /* only when every row is placed */
            }
        }
    }
    double ece = 0, mce = 0;
    for (int32_t b = 0; b < nb; b++) {
        if (!cnt[b]) continue;
        double gap = fabs(sa[b] - sc[b]);
        ece += gap;
        if (gap / cnt[b] > mce) mce = gap / cnt[b];
    }
    const double dn = (double)n;
    out[0] = nll / dn;
    out[1] = hits / dn;
    out[2] = ece / dn;
    out[3] = mce;
    out[4] = ace / dn;
    out[5] = r->has_brier ? brier / dn : NAN;
}

typedef struct sets_ctx {
    const ts_calib_rowset *sets;
    size_t n_sets;
} sets_ctx;

/*
 * out: [set][metric] then [set][metric] deltas vs set 0. The sweep reads the
 * counts in confidence order, i.e. at random: a byte copy of them (when every
 * multiplicity fits, which for n > 255 fails with negligible probability) is a
 * quarter of the cache footprint. scratch: 3 n_bins doubles, then n bytes.
 */
static void sets_stat(void *vctx, const uint32_t *counts, size_t n, double *out, void *scratch)
{
    const sets_ctx *c = vctx;
    const size_t nb = (size_t)c->sets[0].n_bins;
    uint8_t *c8 = counts ? (uint8_t *)((double *)scratch + 3 * nb) : NULL;
    for (size_t i = 0; c8 && i < n; i++) {
        if (counts[i] > 255) {
            c8 = NULL;
            break;
        }
        c8[i] = (uint8_t)counts[i];
    }
    for (size_t s = 0; s < c->n_sets; s++)
        rowset_metrics(&c->sets[s], counts, c8, scratch, out + s * N_METRICS);
    double *d = out + c->n_sets * N_METRICS;
    for (size_t s = 0; s < c->n_sets; s++)
        for (int m = 0; m < N_METRICS; m++)
            d[s * N_METRICS + m] = out[s * N_METRICS + m] - out[m];
}

static void fill_ci(ts_calib_metrics_ci *ci, const ts_interval *iv)
{
    ci->nll = iv[0];
    ci->accuracy = iv[1];
    ci->ece = iv[2];
    ci->mce = iv[3];
    ci->ace = iv[4];
    ci->brier = iv[5];
}

ts_status ts_calib_rowsets_bootstrap(const ts_calib_rowset *sets, size_t n_sets,
                                     const ts_bootstrap_params *bp, ts_calib_metrics_ci *ci,
                                     ts_calib_metrics_ci *delta, char *err, size_t err_size)
{
    if (n_sets == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "bootstrap: no models");
    const size_t n = sets[0].n;
    ts_status st = ts_bootstrap_check(bp, n, err, err_size);
    if (st != TS_OK) return st;
    const size_t n_stats = 2 * n_sets * N_METRICS, nb = (size_t)sets[0].n_bins;
    double *reps = malloc((size_t)bp->n_resamples * n_stats * sizeof *reps);
    double *est = malloc(n_stats * sizeof *est);
    double *scratch = malloc(3 * nb * sizeof *scratch);
    ts_interval *iv = malloc(n_stats * sizeof *iv);
    if (!reps || !est || !scratch || !iv) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
        goto out;
    }
    sets_ctx c = {sets, n_sets};
    sets_stat(&c, NULL, n, est, scratch);
    st = ts_bootstrap_run(n, bp, n_stats, sets_stat, &c, 3 * nb * sizeof(double) + n, reps, err,
                          err_size);
    if (st != TS_OK) goto out;
    if (ts_bootstrap_intervals(reps, (size_t)bp->n_resamples, n_stats, bp->level, est, iv) !=
        TS_OK) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
        goto out;
    }
    for (size_t s = 0; s < n_sets; s++) {
        fill_ci(&ci[s], iv + s * N_METRICS);
        if (delta) fill_ci(&delta[s], iv + (n_sets + s) * N_METRICS);
    }
out:
    free(reps);
    free(est);
    free(scratch);
    free(iv);
    return st;
}

void ts_calib_rowset_metrics(const ts_calib_rowset *r, ts_calib_metrics *out)
{
    double *scratch = malloc(3 * (size_t)r->n_bins * sizeof *scratch);
    double v[N_METRICS];
    memset(out, 0, sizeof *out);
    if (!scratch) {
        out->nll = out->accuracy = out->ece = out->mce = out->ace = out->brier = NAN;
        return;
    }
    rowset_metrics(r, NULL, NULL, scratch, v);
    free(scratch);
    out->nll = v[0];
    out->accuracy = v[1];
    out->ece = v[2];
    out->mce = v[3];
    out->ace = v[4];
    out->brier = v[5];
    out->classwise_ece = NAN;
}
