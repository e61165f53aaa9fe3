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

/* A range of stored tokens, optionally weighted by bootstrap multiplicities. */
typedef struct lm_view {
    const ts_lm_calib *c;
    size_t begin, end;
    const uint32_t *w; /* [end - begin] or NULL */
} lm_view;

static void lm_objective(void *ctx, double beta, double out[3])
{
    const lm_view *v = ctx;
    const ts_lm_calib *c = v->c;
    double f = 0, g = 0, h = 0;
    for (size_t i = v->begin; i < v->end; i++) {
        const double wi = v->w ? v->w[i - v->begin] : 1.0;
        if (wi == 0) continue;
        const lm_token *t = &c->tok[i];
        double s0, s1, s2, tail;
        token_sums(c, t, beta, &s0, &s1, &s2, &tail);
        double mean = s1 / s0, var = s2 / s0 - mean * mean;
        const double d_y = (double)t->z_y - t->max;
        f += wi * (log(s0) - beta * d_y);
        g += wi * (mean - d_y);
        h += wi * (var > 0 ? var : 0);
    }
    const double n = (double)(v->end - v->begin);
    out[0] = f / n;
    out[1] = g / n;
    out[2] = h / n;
}

static ts_status check_range(const ts_lm_calib *c, size_t begin, size_t end, char *err,
                             size_t err_size)
{
    if (begin >= end || end > c->n)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "LM calibration: token range [%zu, %zu) is empty or beyond the %zu "
                         "stored tokens",
                         begin, end, c->n);
    return TS_OK;
}

double ts_lm_calib_nll(const ts_lm_calib *c, double temperature)
{
    if (c->n == 0 || !(temperature > 0)) return NAN;
    lm_view v = {c, 0, c->n, NULL};
    double o[3];
    lm_objective(&v, 1.0 / temperature, o);
    return o[0];
}

ts_status ts_lm_calib_fit(const ts_lm_calib *c, double t_min, double t_max, ts_calib_fit *out)
{
    if (c->n == 0) return TS_ERR_INVALID;
    return ts_lm_calib_fit_range(c, 0, c->n, t_min, t_max, out);
}

ts_status ts_lm_calib_fit_range(const ts_lm_calib *c, size_t begin, size_t end, double t_min,
                                double t_max, ts_calib_fit *out)
{
    memset(out, 0, sizeof *out);
    if (check_range(c, begin, end, NULL, 0) != TS_OK) return TS_ERR_INVALID;
    lm_view v = {c, begin, end, NULL};
    return ts_calib_minimize(lm_objective, &v, t_min, t_max, out);
}

/* Per-token nll, confidence and correctness of tokens [begin, end) at T; *bound += the bound terms.
 */
static void lm_token_rows(const ts_lm_calib *c, size_t begin, size_t end, double beta, double *nll,
                          double *conf, uint8_t *correct, double *bound)
{
    double b = 0;
    for (size_t i = begin; i < end; i++) {
        const lm_token *t = &c->tok[i];
        double s0, s1, s2, tail;
        token_sums(c, t, beta, &s0, &s1, &s2, &tail);
        nll[i - begin] = log(s0) - beta * ((double)t->z_y - t->max);
        double w = t->tail_w;
        b += log1p(tail * expm1(beta * beta * w * w / 8) / s0);
        conf[i - begin] = 1.0 / s0;
        correct[i - begin] = (uint8_t)t->correct;
    }
    if (bound) *bound = b;
}

ts_status ts_lm_calib_metrics(const ts_lm_calib *c, double temperature, int32_t n_bins,
                              ts_calib_metrics *out, ts_calib_bin *bins,
                              double *nll_error_bound, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (c->n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "LM calibration: no tokens");
    return ts_lm_calib_metrics_range(c, 0, c->n, temperature, n_bins, out, bins, nll_error_bound,
                                     err, err_size);
}

ts_status ts_lm_calib_metrics_range(const ts_lm_calib *c, size_t begin, size_t end,
                                    double temperature, int32_t n_bins, ts_calib_metrics *out,
                                    ts_calib_bin *bins, double *nll_error_bound, char *err,
                                    size_t err_size)
{
    memset(out, 0, sizeof *out);
    ts_status st = check_range(c, begin, end, err, err_size);
    if (st != TS_OK) return st;
    if (!(temperature > 0) || !isfinite(temperature))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "LM calibration: bad temperature %g",
                         temperature);
    const size_t n = end - begin;
    double *conf = malloc(n * sizeof *conf), *nll = malloc(n * sizeof *nll);
    uint8_t *correct = malloc(n);
    if (!conf || !correct || !nll) {
        free(conf);
        free(correct);
        free(nll);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "LM calibration: out of memory");
    }
    double bound;
    lm_token_rows(c, begin, end, 1.0 / temperature, nll, conf, correct, &bound);
    st = ts_calib_binned(conf, correct, n, n_bins, out, bins, err, err_size);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += nll[i];
    free(conf);
    free(correct);
    free(nll);
    if (st != TS_OK) return st;
    out->nll = sum / (double)n;
    out->brier = NAN; /* not tracked for language models */
    out->classwise_ece = NAN;
    if (nll_error_bound) *nll_error_bound = bound / (double)n;
    return TS_OK;
}

/* ---- bootstrap over tokens --------------------------------------------------- */

/*
 * T* on a resample without refitting from scratch. Every token's f'_i(beta) =
 * E_p[d] - d_y and f''_i(beta) = Var_p[d] are evaluated exactly at GRID_M
 * nodes beta_m spread evenly in log beta over [beta_hat / GRID_SPAN,
 * beta_hat * GRID_SPAN] (one pass over the store per node). A resample's
 * derivative G(beta) = sum_i c_i f'_i(beta) / n is then exact at the nodes and
 * a cubic Hermite interpolant (values and slopes at both ends) between them;
 * its root is T*'s. Interpolation error is O(h^4) with h = 2 ln(GRID_SPAN) /
 * (GRID_M - 1) ~ 0.0127; test_calibrate_lm measures the result against exact
 * refits (interval ends within 1e-8 relative, measured ~1e-9). A root outside the grid falls back
 * to the exact Newton refit. Cost: GRID_M passes once, then O(n GRID_M) additions per replicate,
 * instead of ~4 passes (with exps) per replicate.
 */
#define GRID_M          65
#define GRID_SPAN       1.5
#define GRID_MAX_TOKENS 262144

typedef struct lm_boot_ctx {
    const ts_lm_calib *c;
    size_t begin, end;
    double t_hat, t_min, t_max;
    const double *beta; /* [GRID_M] nodes, increasing */
    const double *gh;   /* [n][GRID_M][2]: f'_i and f''_i at each node */
} lm_boot_ctx;

/* Root of the cubic Hermite interpolant of g on [x0, x1] (g0 < 0 <= g1). */
static double hermite_root(double x0, double x1, double g0, double g1, double d0, double d1)
{
    const double h = x1 - x0;
    double lo = 0, hi = 1;
    for (int it = 0; it < 100 && hi - lo > 1e-16; it++) {
        double t = 0.5 * (lo + hi), t2 = t * t, t3 = t2 * t;
        double v = (2 * t3 - 3 * t2 + 1) * g0 + (t3 - 2 * t2 + t) * h * d0 +
                   (-2 * t3 + 3 * t2) * g1 + (t3 - t2) * h * d1;
        if (v < 0)
            lo = t;
        else
            hi = t;
    }
    return x0 + 0.5 * (lo + hi) * h;
}

static void lm_fit_exact_stat(void *vctx, const uint32_t *counts, size_t n, double *out,
                              void *scratch)
{
    (void)n;
    (void)scratch;
    const lm_boot_ctx *b = vctx;
    lm_view v = {b->c, b->begin, b->end, counts};
    ts_calib_fit f;
    ts_status st = ts_calib_minimize_from(lm_objective, &v, b->t_min, b->t_max, b->t_hat, &f);
    out[0] = st == TS_OK ? f.temperature : NAN;
}

static void lm_fit_stat(void *vctx, const uint32_t *counts, size_t n, double *out, void *scratch)
{
    const lm_boot_ctx *b = vctx;
    double *G = scratch, *H = G + GRID_M;
    memset(scratch, 0, 2 * GRID_M * sizeof *G);
    for (size_t i = 0; i < n; i++) {
        if (!counts[i]) continue;
        const double c = counts[i], *x = b->gh + i * 2 * GRID_M;
        for (int m = 0; m < GRID_M; m++) {
            G[m] += c * x[2 * m];
            H[m] += c * x[2 * m + 1];
        }
    }
    for (int m = 0; m + 1 < GRID_M; m++) {
        if (G[m] < 0 && G[m + 1] >= 0) {
            double t =
                1.0 / hermite_root(b->beta[m], b->beta[m + 1], G[m], G[m + 1], H[m], H[m + 1]);
            out[0] = t < b->t_min ? b->t_min : t > b->t_max ? b->t_max : t;
            return;
        }
    }
    lm_fit_exact_stat(vctx, counts, n, out, NULL); /* outside the grid: refit */
}

ts_status ts_lm_calib_fit_bootstrap(const ts_lm_calib *c, size_t begin, size_t end, double t_min,
                                    double t_max, const ts_bootstrap_params *bp,
                                    ts_interval *t_star, char *err, size_t err_size)
{
    ts_status st = check_range(c, begin, end, err, err_size);
    if (st != TS_OK) return st;
    if ((st = ts_bootstrap_check(bp, end - begin, err, err_size)) != TS_OK) return st;
    ts_calib_fit fit;
    if (ts_lm_calib_fit_range(c, begin, end, t_min, t_max, &fit) != TS_OK)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "LM calibration: bad temperature range [%g, %g]", t_min, t_max);
    const size_t n = end - begin;
    size_t cells;
    double *reps = malloc((size_t)bp->n_resamples * sizeof *reps);
    /* the node table; past GRID_MAX_TOKENS (~270 MB) every replicate is refitted exactly */
    double *gh = n > GRID_MAX_TOKENS || ts_mul_overflows(n, 2 * GRID_M * sizeof(double), &cells)
                     ? NULL
                     : malloc(cells);
    if (!reps || (!gh && n <= GRID_MAX_TOKENS)) {
        free(reps);
        free(gh);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    }
    if (!gh) {
        lm_boot_ctx e = {c, begin, end, fit.temperature, t_min, t_max, NULL, NULL};
        st = ts_bootstrap_run(n, bp, 1, lm_fit_exact_stat, &e, 0, reps, err, err_size);
        if (st == TS_OK && ts_bootstrap_intervals(reps, (size_t)bp->n_resamples, 1, bp->level,
                                                  &fit.temperature, t_star) != TS_OK)
            st = ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
        free(reps);
        return st;
    }
    double beta[GRID_M];
    const double bh = 1.0 / fit.temperature, ls = log(GRID_SPAN);
    for (int m = 0; m < GRID_M; m++)
        beta[m] = bh * exp(-ls + 2 * ls * m / (GRID_M - 1));
    for (size_t i = 0; i < n; i++) {
        const lm_token *t = &c->tok[begin + i];
        const double d_y = (double)t->z_y - t->max;
        for (int m = 0; m < GRID_M; m++) {
            double s0, s1, s2, tail;
            token_sums(c, t, beta[m], &s0, &s1, &s2, &tail);
            double mean = s1 / s0, var = s2 / s0 - mean * mean;
            gh[i * 2 * GRID_M + 2 * m] = mean - d_y;
            gh[i * 2 * GRID_M + 2 * m + 1] = var > 0 ? var : 0;
        }
    }
    lm_boot_ctx b = {c, begin, end, fit.temperature, t_min, t_max, beta, gh};
    st = ts_bootstrap_run(n, bp, 1, lm_fit_stat, &b, 2 * GRID_M * sizeof(double), reps, err,
                          err_size);
    if (st == TS_OK && ts_bootstrap_intervals(reps, (size_t)bp->n_resamples, 1, bp->level,
                                              &fit.temperature, t_star) != TS_OK)
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    free(reps);
    free(gh);
    return st;
}

ts_status ts_lm_calib_metrics_bootstrap(const ts_lm_calib *c, size_t begin, size_t end,
                                        const double *temperatures, size_t n_temps, int32_t n_bins,
                                        const ts_bootstrap_params *bp, ts_calib_metrics_ci *ci,
                                        ts_calib_metrics_ci *delta, char *err, size_t err_size)
{
    ts_status st = check_range(c, begin, end, err, err_size);
    if (st != TS_OK) return st;
    if ((st = ts_bootstrap_check(bp, end - begin, err, err_size)) != TS_OK) return st;
    if (n_bins < 1 || n_bins > TS_CALIB_MAX_BINS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "bins: %d out of range [1, %d]", n_bins,
                         TS_CALIB_MAX_BINS);
    if (n_temps == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "bootstrap: no temperatures");
    for (size_t t = 0; t < n_temps; t++)
        if (!(temperatures[t] > 0) || !isfinite(temperatures[t]))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "LM calibration: bad temperature %g",
                             temperatures[t]);
    ts_calib_rowset *sets = calloc(n_temps, sizeof *sets);
    if (!sets) return ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    for (size_t t = 0; t < n_temps && st == TS_OK; t++) {
        st = ts_calib_rowset_init(&sets[t], end - begin, err, err_size);
        if (st != TS_OK) break;
        lm_token_rows(c, begin, end, 1.0 / temperatures[t], sets[t].nll, sets[t].conf,
                      sets[t].correct, NULL);
        memset(sets[t].brier, 0, (end - begin) * sizeof *sets[t].brier);
        sets[t].has_brier = false;
        st = ts_calib_rowset_finish(&sets[t], n_bins, err, err_size);
    }
    if (st == TS_OK) st = ts_calib_rowsets_bootstrap(sets, n_temps, bp, ci, delta, err, err_size);
    for (size_t t = 0; t < n_temps; t++)
        ts_calib_rowset_free(&sets[t]);
    free(sets);
    return st;
}

ts_status ts_lm_calib_heldout(const ts_lm_calib *c, double fit_until, int32_t n_bins,
                              const ts_bootstrap_params *bp, ts_lm_heldout *out, char *err,
                              size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (!(fit_until > 0 && fit_until < 1))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "held-out split: --fit-until %g must be in (0, 1)", fit_until);
    const size_t n = c->n, split = (size_t)floor(fit_until * (double)n);
    if (split < 1 || split >= n)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "held-out split: %zu scored tokens leave %zu to fit and %zu to score; "
                         "need at least 1 of each",
                         n, split, n - (split < n ? split : n));
    out->split = split;
    if (ts_lm_calib_fit_range(c, 0, split, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &out->fit) != TS_OK)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "held-out split: fit failed");
    ts_status st = ts_lm_calib_metrics_range(c, split, n, 1.0, n_bins, &out->before, NULL,
                                             &out->nll_error_bound, err, err_size);
    double bound_after;
    if (st == TS_OK)
        st = ts_lm_calib_metrics_range(c, split, n, out->fit.temperature, n_bins, &out->after, NULL,
                                       &bound_after, err, err_size);
    if (st != TS_OK) return st;
    if (bound_after > out->nll_error_bound) out->nll_error_bound = bound_after;
    out->has_intervals = bp != NULL;
    if (!bp) return TS_OK;
    st = ts_lm_calib_fit_bootstrap(c, 0, split, TS_CALIB_T_MIN, TS_CALIB_T_MAX, bp, &out->t_star,
                                   err, err_size);
    if (st != TS_OK) return st;
    double temps[2] = {1.0, out->fit.temperature};
    ts_calib_metrics_ci ci[2], delta[2];
    st = ts_lm_calib_metrics_bootstrap(c, split, n, temps, 2, n_bins, bp, ci, delta, err, err_size);
    if (st != TS_OK) return st;
    out->before_ci = ci[0];
    out->after_ci = ci[1];
    out->delta_ci = delta[1];
    return TS_OK;
}
