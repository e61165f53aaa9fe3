/*
 * test_calib_scaling.c — vector and matrix scaling (Guo et al. 2017) against
 * scipy's L-BFGS-B on the same objective (tools/science_oracle.py --scaling →
 * tests/data/science_scaling.json; matrix scaling with l2 = 0 is also checked
 * there against sklearn's multinomial LogisticRegression, 4e-7 in NLL), the
 * comparison table, class-wise ECE and the calibrate diagnostics.
 * Tolerances: parameters 2e-5 absolute (both optimisers stop at max |gradient|
 * ~1e-9; the Hessian's smallest eigenvalue bounds the parameter error), fit
 * and test NLL 1e-9, ECE / MCE / ACE / class-wise ECE / Brier 1e-6,
 * accuracy exact.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

static char path_buf[4096];
static const char *data_path(const char *name)
{
    const char *dir = getenv("TS_TEST_DATA");
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir ? dir : "tests/data", name);
    return path_buf;
}

typedef struct dataset {
    float *z;
    int32_t *y;
    size_t n, k;
} dataset;

static dataset val, test;
static cJSON *ref;

static int setup(void **state)
{
    (void)state;
    char err[TS_ERR_SIZE], *text;
    size_t len;
    if (ts_csv_read_logits(data_path("calib_val.csv"), &val.z, &val.y, &val.n, &val.k, err,
                           sizeof err) != TS_OK ||
        ts_csv_read_logits(data_path("calib_test.csv"), &test.z, &test.y, &test.n, &test.k, err,
                           sizeof err) != TS_OK ||
        ts_read_file(data_path("science_scaling.json"), &text, &len, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ref = cJSON_Parse(text);
    free(text);
    return ref ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(val.z);
    free(val.y);
    free(test.z);
    free(test.y);
    cJSON_Delete(ref);
    return 0;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("science_scaling.json: no number %s", key);
    return v->valuedouble;
}

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.15g, reference %.15g (diff %.3g > %.1g)", what, got, want,
                 fabs(got - want), tol);
}

static void test_fits_match_scipy(void **state)
{
    (void)state;
    const cJSON *fits = cJSON_GetObjectItemCaseSensitive(ref, "fits"), *f;
    char err[TS_ERR_SIZE], what[96];
    int n_checked = 0;
    cJSON_ArrayForEach(f, fits)
    {
        const char *mname = cJSON_GetObjectItemCaseSensitive(f, "method")->valuestring;
        ts_calib_method m = strcmp(mname, "vector") == 0 ? TS_CALIB_VECTOR : TS_CALIB_MATRIX;
        double l2 = jnum(f, "l2");
        ts_calib_scaling *s;
        assert_int_equal(
            ts_calib_scaling_fit(m, val.z, val.y, val.n, val.k, l2, &s, err, sizeof err), TS_OK);
        const ts_calib_scaling_info *info = ts_calib_scaling_get_info(s);
        assert_true(info->converged);
        const double *b, *w = ts_calib_scaling_weights(s, &b);
        const cJSON *jw = cJSON_GetObjectItemCaseSensitive(f, "w");
        const cJSON *jb = cJSON_GetObjectItemCaseSensitive(f, "b");
        double dmax = 0;
        for (int i = 0; i < cJSON_GetArraySize(jw); i++)
            dmax = fmax(dmax, fabs(w[i] - cJSON_GetArrayItem(jw, i)->valuedouble));
        for (int i = 0; i < cJSON_GetArraySize(jb); i++)
            dmax = fmax(dmax, fabs(b[i] - cJSON_GetArrayItem(jb, i)->valuedouble));
        assert_int_equal(cJSON_GetArraySize(jw), m == TS_CALIB_VECTOR ? 10 : 100);
        print_message("%s l2=%g: %d iterations, max|g| %.1e, max param diff %.2e, fit NLL "
                      "%.10f (scipy %.10f)\n",
                      mname, l2, info->iterations, info->grad_max, dmax, info->nll_fit,
                      jnum(f, "nll_fit"));
        snprintf(what, sizeof what, "%s l2=%g params", mname, l2);
        near(dmax, 0, 2e-5, what);
        snprintf(what, sizeof what, "%s l2=%g fit NLL", mname, l2);
        near(info->nll_fit, jnum(f, "nll_fit"), 1e-9, what);
        ts_calib_metrics mt;
        assert_int_equal(
            ts_calib_scaling_metrics(s, test.z, test.y, test.n, 15, &mt, NULL, err, sizeof err),
            TS_OK);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "test");
        near(mt.nll, jnum(t, "nll"), 1e-9, "test NLL");
        near(mt.accuracy, jnum(t, "accuracy"), 0, "test accuracy");
        near(mt.ece, jnum(t, "ece"), 1e-6, "test ECE");
        near(mt.mce, jnum(t, "mce"), 1e-6, "test MCE");
        near(mt.ace, jnum(t, "ace"), 1e-6, "test ACE");
        near(mt.brier, jnum(t, "brier"), 1e-6, "test Brier");
        near(mt.classwise_ece, jnum(t, "classwise_ece"), 1e-6, "test class-wise ECE");
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(f, "sklearn_test_nll");
        if (sk) near(mt.nll, sk->valuedouble, 1e-5, "matrix scaling NLL vs sklearn");
        ts_calib_scaling_free(s);
        n_checked++;
    }
    assert_int_equal(n_checked, 4);
}

static void test_compare_table(void **state)
{
    (void)state;
    char err[TS_ERR_SIZE];
    ts_calib_comparison c[TS_CALIB_N_METHODS];
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = 300;
    assert_int_equal(ts_calib_compare(val.z, val.y, val.n, test.z, test.y, test.n, val.k, 15, 0,
                                      &bp, c, err, sizeof err),
                     TS_OK);
    /* none = T = 1 and temperature = T* of the plain calls */
    ts_calib_fit fit;
    assert_int_equal(ts_calib_fit_temperature(val.z, val.y, val.n, val.k, &fit, err, sizeof err),
                     TS_OK);
    ts_calib_metrics m1, mt;
    assert_int_equal(
        ts_calib_metrics_compute(test.z, test.y, test.n, test.k, 1.0, 15, &m1, err, sizeof err),
        TS_OK);
    assert_int_equal(ts_calib_metrics_compute(test.z, test.y, test.n, test.k, fit.temperature, 15,
                                              &mt, err, sizeof err),
                     TS_OK);
    near(c[TS_CALIB_NONE].metrics.ece, m1.ece, 1e-12, "none ECE");
    near(c[TS_CALIB_NONE].metrics.classwise_ece, m1.classwise_ece, 1e-12, "none class-wise ECE");
    near(c[TS_CALIB_TEMPERATURE].temperature, fit.temperature, 0, "T*");
    near(c[TS_CALIB_TEMPERATURE].metrics.nll, mt.nll, 1e-12, "temperature NLL");
    near(c[TS_CALIB_TEMPERATURE].metrics.ace, mt.ace, 1e-12, "temperature ACE");
    for (int m = 0; m < TS_CALIB_N_METHODS; m++) {
        assert_true(c[m].fitted && c[m].has_intervals);
        assert_int_equal(c[m].n_params, ts_calib_method_params((ts_calib_method)m, 10));
        print_message("%-12s %4zu params: NLL %.4f [%.4f, %.4f]  ECE %.4f [%.4f, %.4f]  class-wise "
                      "ECE %.4f  acc %.4f\n",
                      ts_calib_method_name((ts_calib_method)m), c[m].n_params, c[m].metrics.nll,
                      c[m].ci.nll.lo, c[m].ci.nll.hi, c[m].metrics.ece, c[m].ci.ece.lo,
                      c[m].ci.ece.hi, c[m].metrics.classwise_ece, c[m].metrics.accuracy);
        assert_true(c[m].ci.nll.lo <= c[m].metrics.nll && c[m].metrics.nll <= c[m].ci.nll.hi);
    }
    /* every scaling beats the overconfident original on NLL, significantly (paired) */
    for (int m = 1; m < TS_CALIB_N_METHODS; m++)
        assert_true(c[m].delta.nll.hi < 0);
    assert_true(c[TS_CALIB_NONE].delta.ece.lo == 0 && c[TS_CALIB_NONE].delta.ece.hi == 0);
}

/* K > 100: matrix scaling is refused alone and skipped in the table. */
static void test_matrix_limit(void **state)
{
    (void)state;
    enum { N = 300, K = 101 };
    float *z = malloc(N * K * sizeof *z);
    int32_t y[N];
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    for (size_t i = 0; i < N; i++) {
        y[i] = (int32_t)(ts_rng_u32(&rng) % K);
        for (size_t j = 0; j < K; j++)
            z[i * K + j] = (float)(3 * ts_rng_uniform(&rng) + ((int32_t)j == y[i] ? 2 : 0));
    }
    char err[TS_ERR_SIZE];
    ts_calib_scaling *s;
    assert_int_equal(ts_calib_scaling_fit(TS_CALIB_MATRIX, z, y, N, K, 0, &s, err, sizeof err),
                     TS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "K <= 100"));
    assert_int_equal(ts_calib_scaling_fit(TS_CALIB_VECTOR, z, y, N, K, -1, &s, err, sizeof err),
                     TS_ERR_INVALID);
    ts_calib_comparison c[TS_CALIB_N_METHODS];
    assert_int_equal(ts_calib_compare(z, y, N, z, y, N, K, 15, 1e-2, NULL, c, err, sizeof err),
                     TS_OK);
    assert_false(c[TS_CALIB_MATRIX].fitted);
    assert_non_null(strstr(c[TS_CALIB_MATRIX].note, "K = 101"));
    assert_true(c[TS_CALIB_VECTOR].fitted && !c[TS_CALIB_VECTOR].has_intervals);
    /* Vector scaling contains temperature scaling (w = 1/T, b = 0), so in-sample its
     * objective is at most temperature scaling's NLL plus that point's penalty. */
    const double t = c[TS_CALIB_TEMPERATURE].temperature, dw = 1 / t - 1;
    print_message("K = 101 in-sample: vector J %.6f <= T-scaling NLL %.6f + penalty %.6f\n",
                  c[TS_CALIB_VECTOR].info.objective, c[TS_CALIB_TEMPERATURE].metrics.nll,
                  0.5e-2 * K * dw * dw);
    assert_true(c[TS_CALIB_VECTOR].info.objective <=
                c[TS_CALIB_TEMPERATURE].metrics.nll + 0.5e-2 * K * dw * dw + 1e-9);
    free(z);
}

static void test_diagnostics(void **state)
{
    (void)state;
    ts_calib_bin bins[3] = {
        {0, 1. / 3, 10, .2, .1}, {1. / 3, 2. / 3, 500, .5, .5}, {2. / 3, 1, 100, .9, .8}};
    ts_calib_fit fit = {.temperature = 1.5, .converged = true};
    ts_calib_metrics before = {.ece = 0.05}, after = {.ece = 0.04};
    assert_int_equal(ts_calib_diagnose(bins, 3, 610, &fit, &before, &after, NULL), 0);
    /* 60 of 610 rows (~10 %) in bins under 30 rows */
    bins[0].count = 20;
    bins[2].count = 25;
    unsigned w = ts_calib_diagnose(bins, 3, 545, &fit, &before, &after, NULL);
    assert_int_equal(w, TS_CALIB_WARN_SPARSE_BINS);
    assert_int_equal(ts_calib_diagnose(NULL, 15, 200, NULL, NULL, NULL, NULL),
                     TS_CALIB_WARN_FEW_ROWS);
    after.ece = 0.07;
    ts_calib_metrics_ci d = {0};
    d.ece.lo = 0.001;
    w = ts_calib_diagnose(NULL, 3, 10000, &fit, &before, &after, &d);
    assert_int_equal(w, TS_CALIB_WARN_ECE_WORSE | TS_CALIB_WARN_ECE_WORSE_SIGNIFICANT);
    d.ece.lo = -0.001;
    fit.at_bound = 1;
    w = ts_calib_diagnose(NULL, 3, 10000, &fit, &before, &after, &d);
    assert_int_equal(w, TS_CALIB_WARN_ECE_WORSE | TS_CALIB_WARN_AT_BOUND);
    for (unsigned bit = 1; bit <= TS_CALIB_WARN_NOT_CONVERGED; bit <<= 1)
        assert_true(strlen(ts_calib_warning_text(bit)) > 10);
    /* the real data: the LM-style case where T* worsens the ECE is caught on test data */
    char err[TS_ERR_SIZE];
    ts_calib_bin rb[15];
    assert_int_equal(ts_calib_reliability(test.z, test.y, test.n, test.k, 1.0, 15, rb), TS_OK);
    ts_calib_metrics mb;
    assert_int_equal(
        ts_calib_metrics_compute(test.z, test.y, test.n, test.k, 1.0, 15, &mb, err, sizeof err),
        TS_OK);
    w = ts_calib_diagnose(rb, 15, test.n, NULL, &mb, &mb, NULL);
    print_message("oracle test set at T = 1: warnings 0x%x\n", w);
    assert_false(w & TS_CALIB_WARN_FEW_ROWS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_match_scipy),
        cmocka_unit_test(test_compare_table),
        cmocka_unit_test(test_matrix_limit),
        cmocka_unit_test(test_diagnostics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
