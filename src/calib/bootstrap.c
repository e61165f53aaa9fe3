/*
 * bootstrap.c — seeded percentile bootstrap (Efron & Tibshirani 1993, ch. 13),
 * shared by calibration (T*, NLL, ECE ...) and the text measurements.
 *
 * The resamples are part of the contract, so that a Python reference can draw
 * exactly the same ones (tools/science_oracle.py does):
 *   replicate b of n rows under seed s: a PCG32 seeded with
 *   ts_rng_seed_stream(rng, s, b), then n draws idx[i] = bounded(n), where
 *   bounded(m) is O'Neill's pcg32_boundedrand_r: threshold = (2^32 - m) mod m,
 *   draw x = ts_rng_u32 until x >= threshold, return x mod m (unbiased).
 * One stream per replicate, so replicates are independent of each other and of
 * how they are spread over threads: a seed gives the same intervals on any
 * machine and thread count.
 *
 * Statistics are computed from multiplicities (counts[i] = how often row i was
 * drawn), which every statistic here is a function of; summing c_i x_i instead
 * of x over the drawn positions changes only the rounding (~1e-15 relative).
 *
 * The interval is the percentile interval: the (1 - level)/2 and (1 + level)/2
 * quantiles of the replicate values with numpy.percentile's default ("linear",
 * Hyndman & Fan type 7) interpolation — the same as scipy.stats.bootstrap with
 * method='percentile'. Replicates whose statistic is undefined (NaN, e.g. a
 * ratio whose denominator drew only zeros) are dropped; the count is reported.
 */
#include "internal.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16
/* Below this many row visits (n x B) threads cost more than they save. */
#define PARALLEL_MIN_WORK (1u << 20)

ts_bootstrap_params ts_bootstrap_default_params(void)
{
    ts_bootstrap_params p = {.n_resamples = 1000, .level = 0.95, .seed = 0};
    return p;
}

static inline uint32_t bounded_u32(ts_rng *r, uint32_t bound)
{
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t x = ts_rng_u32(r);
        if (x >= threshold) return x % bound;
    }
}

ts_status ts_bootstrap_resample(uint64_t seed, uint64_t replicate, size_t n, uint32_t *idx)
{
    if (n == 0 || n > UINT32_MAX) return TS_ERR_INVALID;
    ts_rng r;
    ts_rng_seed_stream(&r, seed, replicate);
    for (size_t i = 0; i < n; i++)
        idx[i] = bounded_u32(&r, (uint32_t)n);
    return TS_OK;
}

void ts_bootstrap_counts(uint64_t seed, uint64_t replicate, size_t n, uint32_t *counts)
{
    memset(counts, 0, n * sizeof *counts);
    ts_rng r;
    ts_rng_seed_stream(&r, seed, replicate);
    for (size_t i = 0; i < n; i++)
        counts[bounded_u32(&r, (uint32_t)n)]++;
}

ts_status ts_bootstrap_check(const ts_bootstrap_params *bp, size_t n, char *err, size_t err_size)
{
    if (!bp) return ts_errorf(err, err_size, TS_ERR_INVALID, "bootstrap: no parameters");
    if (bp->n_resamples < 2 || bp->n_resamples > TS_BOOTSTRAP_MAX)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "bootstrap: %d resamples out of range [2, %d]", (int)bp->n_resamples,
                         TS_BOOTSTRAP_MAX);
    if (!(bp->level > 0 && bp->level < 1))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "bootstrap: confidence level %g must be in (0, 1)", bp->level);
    if (n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "bootstrap: no rows");
    if (n > UINT32_MAX)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "bootstrap: %zu rows (at most 2^32 - 1)", n);
    return TS_OK;
}

/* ---- quantiles ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ts_percentile_sorted(const double *x, size_t n, double q)
{
    if (n == 0 || !(q >= 0 && q <= 1)) return NAN;
    double h = (double)(n - 1) * q;
    size_t i = (size_t)floor(h);
    if (i >= n - 1) return x[n - 1];
    double t = h - (double)i;
    /* numpy's _lerp: a + (b - a) t, computed from the upper end when t >= 0.5 */
    double d = x[i + 1] - x[i];
    return t >= 0.5 ? x[i + 1] - d * (1 - t) : x[i] + d * t;
}

ts_status ts_bootstrap_intervals(const double *reps, size_t n_reps, size_t n_stats, double level,
                                 const double *estimates, ts_interval *out)
{
    double *col = malloc((n_reps ? n_reps : 1) * sizeof *col);
    if (!col) return TS_ERR_NOMEM;
    for (size_t s = 0; s < n_stats; s++) {
        size_t m = 0;
        for (size_t b = 0; b < n_reps; b++) {
            double v = reps[b * n_stats + s];
            if (!isnan(v)) col[m++] = v;
        }
        qsort(col, m, sizeof *col, cmp_double);
        out[s].estimate = estimates ? estimates[s] : NAN;
        out[s].lo = ts_percentile_sorted(col, m, (1 - level) / 2);
        out[s].hi = ts_percentile_sorted(col, m, (1 + level) / 2);
        out[s].n_valid = (int32_t)m;
    }
    free(col);
    return TS_OK;
}

/* ---- the threaded driver -------------------------------------------------- */

typedef struct boot_shared {
    size_t n, n_stats;
    const ts_bootstrap_params *bp;
    ts_boot_fn fn;
    void *ctx;
    size_t scratch_bytes;
    double *reps;
} boot_shared;

typedef struct boot_worker {
    const boot_shared *sh;
    int ith, nth;
    bool failed;
    pthread_t thread;
} boot_worker;

static void *boot_worker_run(void *arg)
{
    boot_worker *w = arg;
    const boot_shared *sh = w->sh;
    uint32_t *counts = malloc(sh->n * sizeof *counts);
    void *scratch = sh->scratch_bytes ? malloc(sh->scratch_bytes) : NULL;
    if (!counts || (sh->scratch_bytes && !scratch)) {
        w->failed = true;
    } else {
        for (size_t b = (size_t)w->ith; b < (size_t)sh->bp->n_resamples; b += (size_t)w->nth) {
            ts_bootstrap_counts(sh->bp->seed, b, sh->n, counts);
            sh->fn(sh->ctx, counts, sh->n, sh->reps + b * sh->n_stats, scratch);
        }
    }
    free(counts);
    free(scratch);
    return NULL;
}

ts_status ts_bootstrap_run(size_t n, const ts_bootstrap_params *bp, size_t n_stats, ts_boot_fn fn,
                           void *ctx, size_t scratch_bytes, double *reps, char *err,
                           size_t err_size)
{
    ts_status st = ts_bootstrap_check(bp, n, err, err_size);
    if (st != TS_OK) return st;
    boot_shared sh = {n, n_stats, bp, fn, ctx, scratch_bytes, reps};
    int nth = 1;
    if ((double)n * bp->n_resamples >= PARALLEL_MIN_WORK) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        nth = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
        if (nth > bp->n_resamples) nth = bp->n_resamples;
    }
    boot_worker w[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int i = 0; i < nth; i++)
        w[i] = (boot_worker){&sh, i, nth, false, 0};
    for (int i = 1; i < nth; i++)
        started[i] = pthread_create(&w[i].thread, NULL, boot_worker_run, &w[i]) == 0;
    boot_worker_run(&w[0]);
    bool failed = w[0].failed;
    for (int i = 1; i < nth; i++) {
        if (started[i])
            pthread_join(w[i].thread, NULL);
        else
            boot_worker_run(&w[i]);
        failed = failed || w[i].failed;
    }
    if (failed) return ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    return TS_OK;
}

/* ---- ratio of sums (the text measurements' statistics) --------------------- */

typedef struct ratio_ctx {
    const double *num, *den; /* [n][n_stats] */
    size_t n_stats;
} ratio_ctx;

static void ratio_stat(void *vctx, const uint32_t *counts, size_t n, double *out, void *scratch)
{
    (void)scratch;
    const ratio_ctx *c = vctx;
    for (size_t s = 0; s < c->n_stats; s++) {
        double a = 0, b = 0;
        for (size_t i = 0; i < n; i++) {
            if (!counts[i]) continue;
            a += counts[i] * c->num[i * c->n_stats + s];
            b += counts[i] * (c->den ? c->den[i * c->n_stats + s] : 1.0);
        }
        out[s] = b > 0 ? a / b : NAN;
    }
}

ts_status ts_bootstrap_ratio(const double *num, const double *den, size_t n, size_t n_stats,
                             const ts_bootstrap_params *bp, ts_interval *out, char *err,
                             size_t err_size)
{
    ts_status st = ts_bootstrap_check(bp, n, err, err_size);
    if (st != TS_OK) return st;
    if (n_stats == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "bootstrap: no statistics");
    size_t cells;
    if (ts_mul_overflows((size_t)bp->n_resamples, n_stats, &cells))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: too many statistics");
    double *reps = malloc(cells * sizeof *reps);
    double *est = malloc(n_stats * sizeof *est);
    if (!reps || !est) {
        free(reps);
        free(est);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    }
    ratio_ctx c = {num, den, n_stats};
    for (size_t s = 0; s < n_stats; s++) {
        double a = 0, b = 0;
        for (size_t i = 0; i < n; i++) {
            a += num[i * n_stats + s];
            b += den ? den[i * n_stats + s] : 1.0;
        }
        est[s] = b > 0 ? a / b : NAN;
    }
    st = ts_bootstrap_run(n, bp, n_stats, ratio_stat, &c, 0, reps, err, err_size);
    if (st == TS_OK && ts_bootstrap_intervals(reps, (size_t)bp->n_resamples, n_stats, bp->level,
                                              est, out) != TS_OK)
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    free(reps);
    free(est);
    return st;
}
