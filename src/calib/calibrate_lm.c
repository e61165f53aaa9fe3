/*
 * calibrate_lm.c — temperature scaling of a language model's next-token
 * distribution: a compact store of per-token distributions, the NLL(T) fit
 * and the top-1 calibration metrics over it.
 *
 * Why a compact store: a fit needs ~8 passes over every scored token's full
 * logits, and GPT-2's vocabulary is 50,257, so 34k tokens of F32 logits are
 * 6.9 GB. Instead each token keeps (d = z - max z <= 0 throughout):
 *   - the max and target logits, exact; whether the argmax is the target;
 *   - the TOP_M = 64 largest logits, exact (the head holds most of the mass);
 *   - the other V - 64 values in a histogram of N_BINS = 256 equal-width bins
 *     spanning [min d, 64th largest d], each bin with its count and the mean
 *     of its values.
 * That is 2.3 KB per token (79 MB for 34k tokens) whatever V is.
 *
 * Error bound. The tail sum S_tail(beta) = sum_j exp(beta d_j) is estimated per
 * bin as n_b exp(beta mean_b). By Jensen this never overestimates, and by
 * Hoeffding's lemma (values in an interval of width w) the truth is at most
 * exp(beta^2 w^2 / 8) times the estimate. Hence the estimated log-sum-exp, and
 * the NLL of each token, is low by at most
 *     log(1 + S_tail_est (exp(beta^2 w^2 / 8) - 1) / S_est),
 * which ts_lm_calib_metrics reports (mean over tokens) as nll_error_bound.
 * The head is exact, so the bound is tiny whenever the tail is light or narrow.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define TOP_M 64
#define N_BINS 256

typedef struct lm_token {
    float max;        /* the largest logit */
    float z_y;        /* the target's logit (d_y = z_y - max, taken in double) */
    double tail_lo;   /* smallest d */
    double tail_w;    /* bin width (0 when the tail is one value) */
    uint32_t correct; /* argmax (first maximum) == target */
    float top[TOP_M]; /* the TOP_M largest logits, raw (a min-heap); n_top = min(TOP_M, V) used */
    uint32_t count[N_BINS];
    float offset[N_BINS]; /* mean of (d - bin lower edge) over the bin */
} lm_token;

struct ts_lm_calib {
    size_t n_vocab, cap, n;
    size_t n_top; /* min(TOP_M, n_vocab) */
    lm_token *tok;   /* [cap] */
};

ts_status ts_lm_calib_new(size_t n_vocab, size_t max_tokens, ts_lm_calib **out, char *err,
                          size_t err_size)
{
    *out = NULL;
    if (n_vocab < 2 || max_tokens == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "LM calibration: need a vocabulary of >= 2 and >= 1 token");
    size_t bytes;
    if (ts_mul_overflows(max_tokens, sizeof(lm_token), &bytes))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "LM calibration: too many tokens");
    ts_lm_calib *c = calloc(1, sizeof *c);
    if (c) c->tok = malloc(bytes);
    if (!c || !c->tok) {
        ts_lm_calib_free(c);
        return ts_errorf(err, err_size, TS_ERR_NOMEM,
                         "LM calibration: out of memory for %zu tokens (%zu MB)", max_tokens,
                         bytes >> 20);
    }
    c->n_vocab = n_vocab;
    c->cap = max_tokens;
    c->n_top = n_vocab < TOP_M ? n_vocab : TOP_M;
    *out = c;
    return TS_OK;
}

void ts_lm_calib_free(ts_lm_calib *c)
{
    if (!c) return;
    free(c->tok);
    free(c);
}

size_t ts_lm_calib_count(const ts_lm_calib *c)
{
    return c->n;
}

/* heap[0..k) becomes a min-heap of the k largest values of a[0..n) (k <= n). */
static void top_k_heap(const float *a, size_t n, float *heap, size_t k)
{
    for (size_t j = 0; j < n; j++) {
        float x = a[j];
        size_t i;
        if (j < k) { /* push: sift up */
            i = j;
            while (i > 0 && heap[(i - 1) / 2] > x) {
                heap[i] = heap[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            heap[i] = x;
            continue;
        }
        if (!(x > heap[0])) continue; /* the common case: one comparison */
        i = 0;                         /* replace the minimum: sift down */
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            float mv = x;
            if (l < k && heap[l] < mv) m = l, mv = heap[l];
            if (r < k && heap[r] < mv) m = r, mv = heap[r];
            if (m == i) break;
            heap[i] = heap[m];
            i = m;
        }
        heap[i] = x;
    }
}

ts_status ts_lm_calib_add(ts_lm_calib *c, const float *logits, int32_t target)
{
    if (c->n == c->cap) return TS_ERR_RANGE;
    if (target < 0 || (size_t)target >= c->n_vocab) return TS_ERR_INVALID;
    const size_t v = c->n_vocab;
    size_t am = 0;
    for (size_t j = 0; j < v; j++) {
        if (!isfinite(logits[j])) return TS_ERR_INVALID;
        if (logits[j] > logits[am]) am = j;
    }
    const float m = logits[am];
    lm_token *t = &c->tok[c->n];
    t->max = m;
    t->z_y = logits[target];
    t->correct = (size_t)target == am;
    memset(t->count, 0, sizeof t->count);
    memset(t->offset, 0, sizeof t->offset);
    top_k_heap(logits, v, t->top, c->n_top);
    t->tail_lo = 0;
    t->tail_w = 0;
    if (v > c->n_top) {
        /* thr = the n_top-th largest; values above it are all in top, and top holds
         * need = n_top - (#values > thr) copies of thr; every other value is tail. */
        const float thr = t->top[0];
        float lo = thr;
        size_t above = 0;
        for (size_t j = 0; j < v; j++) {
            above += logits[j] > thr;
            lo = logits[j] < lo ? logits[j] : lo;
        }
        size_t need = c->n_top - above;
        const double dmin = (double)lo - m, w = ((double)thr - lo) / N_BINS;
        t->tail_lo = dmin;
        t->tail_w = w;
        double sum[N_BINS] = {0};
        for (size_t j = 0; j < v; j++) {
            float z = logits[j];
            if (z > thr) continue;
            if (z == thr && need > 0) {
                need--;
                continue;
            }
            double x = (double)z - lo;
            int b = w > 0 ? (int)(x / w) : 0;
            if (b >= N_BINS) b = N_BINS - 1;
            t->count[b]++;
            sum[b] += x - b * w;
        }
        for (int b = 0; b < N_BINS; b++)
            if (t->count[b]) t->offset[b] = (float)(sum[b] / t->count[b]);
    }
    c->n++;
    return TS_OK;
}

/* S, S1 = sum e d, S2 = sum e d^2 at beta; *tail gets the tail part of S. */
static void token_sums(const ts_lm_calib *c, const lm_token *t, double beta, double *s0,
                       double *s1, double *s2, double *tail)
{
    double a = 0, b1 = 0, b2 = 0;
    const double m = t->max;
    for (size_t j = 0; j < c->n_top; j++) {
        double d = (double)t->top[j] - m, e = exp(beta * d);
        a += e;
        b1 += e * d;
        b2 += e * d * d;
    }
    double ta = 0;
    if (c->n_vocab > c->n_top) {
        for (int b = 0; b < N_BINS; b++) {
            if (!t->count[b]) continue;
            double d = t->tail_lo + b * t->tail_w + t->offset[b];
            double e = t->count[b] * exp(beta * d);
            ta += e;
            b1 += e * d;
            b2 += e * d * d;
        }
    }
    *s0 = a + ta;
    *s1 = b1;
    *s2 = b2;
    *tail = ta;
}

static void lm_objective(void *ctx, double beta, double out[3])
{
    const ts_lm_calib *c = ctx;
    double f = 0, g = 0, h = 0;
    for (size_t i = 0; i < c->n; i++) {
        const lm_token *t = &c->tok[i];
        double s0, s1, s2, tail;
        token_sums(c, t, beta, &s0, &s1, &s2, &tail);
        double mean = s1 / s0, var = s2 / s0 - mean * mean;
        const double d_y = (double)t->z_y - t->max;
        f += log(s0) - beta * d_y;
        g += mean - d_y;
        h += var > 0 ? var : 0;
    }
    out[0] = f / (double)c->n;
    out[1] = g / (double)c->n;
    out[2] = h / (double)c->n;
}

double ts_lm_calib_nll(const ts_lm_calib *c, double temperature)
{
    if (c->n == 0 || !(temperature > 0)) return NAN;
    double v[3];
    lm_objective((void *)c, 1.0 / temperature, v);
    return v[0];
}

ts_status ts_lm_calib_fit(const ts_lm_calib *c, double t_min, double t_max, ts_calib_fit *out)
{
    if (c->n == 0) return TS_ERR_INVALID;
    return ts_calib_minimize(lm_objective, (void *)c, t_min, t_max, out);
}

ts_status ts_lm_calib_metrics(const ts_lm_calib *c, double temperature, int32_t n_bins,
                              ts_calib_metrics *out, ts_calib_bin *bins,
                              double *nll_error_bound, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (c->n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "LM calibration: no tokens");
    if (!(temperature > 0) || !isfinite(temperature))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "LM calibration: bad temperature %g",
                         temperature);
    double *conf = malloc(c->n * sizeof *conf);
    uint8_t *correct = malloc(c->n);
    if (!conf || !correct) {
        free(conf);
        free(correct);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "LM calibration: out of memory");
    }
    const double beta = 1.0 / temperature;
    double nll = 0, bound = 0;
    for (size_t i = 0; i < c->n; i++) {
        const lm_token *t = &c->tok[i];
        double s0, s1, s2, tail;
        token_sums(c, t, beta, &s0, &s1, &s2, &tail);
        nll += log(s0) - beta * ((double)t->z_y - t->max);
        double w = t->tail_w;
        bound += log1p(tail * expm1(beta * beta * w * w / 8) / s0);
        conf[i] = 1.0 / s0;
        correct[i] = (uint8_t)t->correct;
    }
    ts_status st = ts_calib_binned(conf, correct, c->n, n_bins, out, bins, err, err_size);
    free(conf);
    free(correct);
    if (st != TS_OK) return st;
    out->nll = nll / (double)c->n;
    out->brier = NAN; /* not tracked for language models */
    if (nll_error_bound) *nll_error_bound = bound / (double)c->n;
    return TS_OK;
}
