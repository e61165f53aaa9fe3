/*
 * test_calibrate_lm.c — the compact LM store against exact dense computation on
 * synthetic GPT-2-sized distributions (V = 50,257; 120 tokens; Student-t-like
 * heavy-tailed logits so the tail matters). Checks: store NLL <= exact NLL <=
 * store NLL + bound at several T; T* within 1e-4 relative of the dense fit
 * (ts_calib_fit_temperature on the full logits); accuracy/ECE equal to the dense
 * metrics within 1e-4; small vocabularies (V < 64) are exact.
 */
#include "internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#define V 50257
#define N 120

static float *make_logits(int32_t *y, size_t v, size_t n, uint64_t seed)
{
    float *z = malloc(n * v * sizeof *z);
    ts_rng rng;
    ts_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < v; j++) {
            double u1 = ts_rng_uniform(&rng), u2 = ts_rng_uniform(&rng);
            double g = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
            double s = 0.5 + 2.0 * ts_rng_uniform(&rng); /* scale mixture: heavy tail */
            z[i * v + j] = (float)(2.5 * g * s);
        }
        /* Target: one of the top few most of the time, sometimes from the bulk. */
        size_t best = 0;
        for (size_t j = 1; j < v; j++)
            if (z[i * v + j] > z[i * v + best]) best = j;
        y[i] = (int32_t)(ts_rng_uniform(&rng) < 0.5 ? best : ts_rng_u32(&rng) % v);
        if (ts_rng_uniform(&rng) < 0.3) z[i * v + y[i]] += 8.0f;
    }
    return z;
}

static double dense_nll(const float *z, const int32_t *y, size_t n, size_t v, double t)
{
    ts_calib_metrics m;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_calib_metrics_compute(z, y, n, v, t, 15, &m, err, sizeof err), TS_OK);
    return m.nll;
}

static void test_store_vs_dense(void **state)
{
    (void)state;
    int32_t y[N];
    float *z = make_logits(y, V, N, 7);
    ts_lm_calib *c;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_lm_calib_new(V, N, &c, err, sizeof err), TS_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(ts_lm_calib_add(c, z + i * V, y[i]), TS_OK);
    assert_int_equal(ts_lm_calib_add(c, z, y[0]), TS_ERR_RANGE);
    assert_int_equal(ts_lm_calib_count(c), N);
    const double ts[4] = {0.5, 1.0, 1.7, 3.0};
    for (int i = 0; i < 4; i++) {
        ts_calib_metrics m;
        double bound;
        assert_int_equal(ts_lm_calib_metrics(c, ts[i], 15, &m, NULL, &bound, err, sizeof err),
                         TS_OK);
        double exact = dense_nll(z, y, N, V, ts[i]);
        print_message("T = %.1f: exact NLL %.9f, store %.9f (diff %.2e, bound %.2e)\n", ts[i],
                      exact, m.nll, exact - m.nll, bound);
        assert_true(m.nll <= exact + 1e-9);
        assert_true(exact <= m.nll + bound + 1e-9);
        assert_true(exact - m.nll < 1e-3);
    }
    ts_calib_fit fs, fd;
    assert_int_equal(ts_lm_calib_fit(c, 0.05, 20, &fs), TS_OK);
    assert_int_equal(ts_calib_fit_temperature(z, y, N, V, &fd, err, sizeof err), TS_OK);
    print_message("T*: store %.8f, dense %.8f (rel %.2e)\n", fs.temperature, fd.temperature,
                  fabs(fs.temperature / fd.temperature - 1));
    assert_true(fabs(fs.temperature / fd.temperature - 1) < 1e-4);
    ts_calib_metrics ms, md;
    assert_int_equal(ts_lm_calib_metrics(c, fd.temperature, 15, &ms, NULL, NULL, err, sizeof err),
                     TS_OK);
    assert_int_equal(ts_calib_metrics_compute(z, y, N, V, fd.temperature, 15, &md, err, sizeof err),
                     TS_OK);
    assert_true(ms.accuracy == md.accuracy);
    assert_true(fabs(ms.ece - md.ece) < 1e-4);
    assert_true(fabs(ms.ace - md.ace) < 1e-4);
    ts_lm_calib_free(c);
    free(z);
}

/* V <= 64: everything is in the exact head; the store is exact. */
static void test_small_vocab_exact(void **state)
{
    (void)state;
    int32_t y[50];
    float *z = make_logits(y, 40, 50, 3);
    ts_lm_calib *c;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_lm_calib_new(40, 50, &c, err, sizeof err), TS_OK);
    for (size_t i = 0; i < 50; i++)
        assert_int_equal(ts_lm_calib_add(c, z + i * 40, y[i]), TS_OK);
    ts_calib_fit fs, fd;
    assert_int_equal(ts_lm_calib_fit(c, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &fs), TS_OK);
    assert_int_equal(ts_calib_fit_temperature(z, y, 50, 40, &fd, err, sizeof err), TS_OK);
    assert_true(fabs(fs.temperature / fd.temperature - 1) < 1e-9);
    assert_true(fabs(ts_lm_calib_nll(c, 1.3) - dense_nll(z, y, 50, 40, 1.3)) < 1e-12);
    float bad[40] = {0};
    bad[3] = NAN;
    ts_lm_calib_free(c);
    assert_int_equal(ts_lm_calib_new(40, 1, &c, err, sizeof err), TS_OK);
    assert_int_equal(ts_lm_calib_add(c, bad, 0), TS_ERR_INVALID);
    assert_int_equal(ts_lm_calib_add(c, z, 40), TS_ERR_INVALID);
    ts_lm_calib_free(c);
    free(z);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(x, 100 q), linear, of sorted x[n] */
static double pct(const double *x, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    size_t i = (size_t)floor(h);
    return i + 1 < n ? x[i] + (x[i + 1] - x[i]) * (h - (double)i) : x[n - 1];
}

/*
 * The store's T* bootstrap (node table + Hermite interpolation, exact refit
 * outside the nodes) against exact refits of stores built from the same
 * resampled tokens: interval ends within 1e-8 relative (measured ~1e-9).
 */
static void check_boot_vs_exact(size_t v, size_t n, int b, uint64_t seed)
{
    int32_t *y = malloc(n * sizeof *y);
    float *z = make_logits(y, v, n, seed);
    char err[TS_ERR_SIZE];
    ts_lm_calib *all, *rs;
    assert_int_equal(ts_lm_calib_new(v, n, &all, err, sizeof err), TS_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ts_lm_calib_add(all, z + i * v, y[i]), TS_OK);
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = b;
    bp.seed = seed;
    ts_interval iv;
    assert_int_equal(ts_lm_calib_fit_bootstrap(all, 0, n, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &bp, &iv,
                                               err, sizeof err),
                     TS_OK);
    double *reps = malloc((size_t)b * sizeof *reps);
    uint32_t *idx = malloc(n * sizeof *idx);
    for (int r = 0; r < b; r++) {
        assert_int_equal(ts_bootstrap_resample(seed, (uint64_t)r, n, idx), TS_OK);
        assert_int_equal(ts_lm_calib_new(v, n, &rs, err, sizeof err), TS_OK);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(ts_lm_calib_add(rs, z + (size_t)idx[i] * v, y[idx[i]]), TS_OK);
        ts_calib_fit f;
        assert_int_equal(ts_lm_calib_fit(rs, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &f), TS_OK);
        reps[r] = f.temperature;
        ts_lm_calib_free(rs);
    }
    qsort(reps, (size_t)b, sizeof *reps, cmp_dbl);
    double lo = pct(reps, (size_t)b, 0.025), hi = pct(reps, (size_t)b, 0.975);
    print_message("V %zu, %zu tokens, B %d: T* %.6f [%.9f, %.9f], exact refits [%.9f, %.9f] "
                  "(rel %.1e, %.1e)\n",
                  v, n, b, iv.estimate, iv.lo, iv.hi, lo, hi, fabs(iv.lo / lo - 1),
                  fabs(iv.hi / hi - 1));
    assert_true(fabs(iv.lo / lo - 1) < 1e-8 && fabs(iv.hi / hi - 1) < 1e-8);
    assert_int_equal(iv.n_valid, b);
    free(reps);
    free(idx);
    ts_lm_calib_free(all);
    free(z);
    free(y);
}

static void test_bootstrap_vs_exact_refits(void **state)
{
    (void)state;
    check_boot_vs_exact(1000, 2000, 40, 11); /* narrow: every root on the node table */
    check_boot_vs_exact(V, N, 40, 12);       /* 120 tokens: wide, some refitted exactly */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_vs_dense),
        cmocka_unit_test(test_small_vocab_exact),
        cmocka_unit_test(test_bootstrap_vs_exact_refits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
