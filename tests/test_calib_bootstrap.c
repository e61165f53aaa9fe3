/*
 * test_calib_bootstrap.c — seeded bootstrap intervals for calibration against
 * the numpy / scipy reference (tools/science_oracle.py --bootstrap →
 * tests/data/science_calib_boot.json), which draws the same resamples.
 * Tolerances: resample indices exact; T* replicates are refits converged to
 * ~1e-10 on both sides, so the T* interval ends agree to 1e-7 relative; metric
 * intervals and paired deltas are sums over the same rows in another order:
 * 1e-9 absolute. Class-wise ECE (Kull et al. 2019) point values: 1e-9.
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

static cJSON *ref;

static const cJSON *jget(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) fail_msg("science_calib_boot.json: no key %s", key);
    return v;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("science_calib_boot.json: %s is not a number", key);
    return v->valuedouble;
}

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.15g, reference %.15g (diff %.3g > %.1g)", what, got, want,
                 fabs(got - want), tol);
}

static void check_interval(const ts_interval *iv, const cJSON *o, double tol, const char *what)
{
    char w[128];
    snprintf(w, sizeof w, "%s.estimate", what);
    near(iv->estimate, jnum(o, "estimate"), tol, w);
    snprintf(w, sizeof w, "%s.lo", what);
    near(iv->lo, jnum(o, "lo"), tol, w);
    snprintf(w, sizeof w, "%s.hi", what);
    near(iv->hi, jnum(o, "hi"), tol, w);
    assert_int_equal(iv->n_valid, (int)jnum(o, "n_valid"));
}

typedef struct dataset {
    float *z;
    int32_t *y;
    size_t n, k;
} dataset;

static void load_csv(const char *name, dataset *d)
{
    char err[TS_ERR_SIZE];
    if (ts_csv_read_logits(data_path(name), &d->z, &d->y, &d->n, &d->k, err, sizeof err) != TS_OK)
        fail_msg("%s", err);
}

static int setup(void **state)
{
    (void)state;
    char *text;
    size_t len;
    char err[TS_ERR_SIZE];
    if (ts_read_file(data_path("science_calib_boot.json"), &text, &len, err, sizeof err) != TS_OK) {
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
    cJSON_Delete(ref);
    return 0;
}

/* The resample definition: the same indices as the Python PCG32. */
static void test_resample_indices(void **state)
{
    (void)state;
    const cJSON *rows = jget(ref, "indices_seed42_n7");
    uint32_t idx[5000];
    for (int b = 0; b < 3; b++) {
        assert_int_equal(ts_bootstrap_resample(42, (uint64_t)b, 7, idx), TS_OK);
        const cJSON *row = cJSON_GetArrayItem(rows, b);
        for (int i = 0; i < 7; i++)
            assert_int_equal(idx[i], cJSON_GetArrayItem(row, i)->valueint);
    }
    const cJSON *heads = jget(ref, "indices_seed2024_n5000_head");
    const cJSON *sums = jget(ref, "indices_seed2024_n5000_sum");
    for (int b = 0; b < 2; b++) {
        assert_int_equal(ts_bootstrap_resample(2024, (uint64_t)b, 5000, idx), TS_OK);
        double s = 0;
        for (int i = 0; i < 5000; i++)
            s += idx[i];
        for (int i = 0; i < 8; i++)
            assert_int_equal(idx[i], cJSON_GetArrayItem(cJSON_GetArrayItem(heads, b), i)->valueint);
        near(s, cJSON_GetArrayItem(sums, b)->valuedouble, 0, "index sum");
    }
    assert_int_equal(ts_bootstrap_resample(1, 0, 0, idx), TS_ERR_INVALID);
}

static void test_t_star_interval(void **state)
{
    (void)state;
    dataset val;
    load_csv("calib_val.csv", &val);
    const cJSON *o = jget(ref, "t_star");
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = (int32_t)jnum(o, "n_resamples");
    bp.seed = (uint64_t)jnum(o, "seed");
    ts_interval iv, iv2;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_calib_fit_bootstrap(val.z, val.y, val.n, val.k, &bp, &iv, err, sizeof err),
                     TS_OK);
    print_message("T* = %.6f [%.6f, %.6f] (reference [%.6f, %.6f])\n", iv.estimate, iv.lo, iv.hi,
                  jnum(o, "lo"), jnum(o, "hi"));
    check_interval(&iv, o, 1e-7 * jnum(o, "estimate"), "T*");
    assert_true(iv.lo < iv.estimate && iv.estimate < iv.hi);
    /* Reproducible: the same seed gives the same bits. */
    assert_int_equal(ts_calib_fit_bootstrap(val.z, val.y, val.n, val.k, &bp, &iv2, err, sizeof err),
                     TS_OK);
    assert_true(iv.lo == iv2.lo && iv.hi == iv2.hi);
    free(val.z);
    free(val.y);
}

static void check_ci(const ts_calib_metrics_ci *ci, const cJSON *o, const char *what)
{
    const ts_interval *f[6] = {&ci->nll, &ci->accuracy, &ci->ece, &ci->mce, &ci->ace, &ci->brier};
    const char *names[6] = {"nll", "accuracy", "ece", "mce", "ace", "brier"};
    char w[64];
    for (int m = 0; m < 6; m++) {
        snprintf(w, sizeof w, "%s.%s", what, names[m]);
        check_interval(f[m], jget(o, names[m]), 1e-9, w);
    }
}

static void test_metric_intervals(void **state)
{
    (void)state;
    dataset val, test;
    load_csv("calib_val.csv", &val);
    load_csv("calib_test.csv", &test);
    char err[TS_ERR_SIZE];
    ts_calib_fit fit;
    assert_int_equal(ts_calib_fit_temperature(val.z, val.y, val.n, val.k, &fit, err, sizeof err),
                     TS_OK);
    const cJSON *o = jget(ref, "metrics");
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = (int32_t)jnum(o, "n_resamples");
    bp.seed = (uint64_t)jnum(o, "seed");
    double temps[2] = {1.0, fit.temperature};
    ts_calib_metrics_ci ci[2], delta[2];
    assert_int_equal(ts_calib_metrics_bootstrap(test.z, test.y, test.n, test.k, temps, 2, 15, &bp,
                                                ci, delta, err, sizeof err),
                     TS_OK);
    check_ci(&ci[0], jget(o, "t1"), "T=1");
    check_ci(&ci[1], jget(o, "tstar"), "T*");
    check_ci(&delta[1], jget(o, "delta"), "delta");
    print_message("ECE %.4f [%.4f, %.4f] -> %.4f [%.4f, %.4f]; paired delta [%.4f, %.4f]\n",
                  ci[0].ece.estimate, ci[0].ece.lo, ci[0].ece.hi, ci[1].ece.estimate, ci[1].ece.lo,
                  ci[1].ece.hi, delta[1].ece.lo, delta[1].ece.hi);
    /* delta of set 0 with itself is exactly 0 */
    assert_true(delta[0].ece.lo == 0 && delta[0].ece.hi == 0);
    /* the estimates are the plain metrics */
    ts_calib_metrics m;
    assert_int_equal(ts_calib_metrics_compute(test.z, test.y, test.n, test.k, fit.temperature, 15,
                                              &m, err, sizeof err),
                     TS_OK);
    near(ci[1].ece.estimate, m.ece, 1e-12, "ECE estimate vs ts_calib_metrics_compute");
    near(ci[1].ace.estimate, m.ace, 1e-12, "ACE estimate vs ts_calib_metrics_compute");
    near(ci[1].nll.estimate, m.nll, 1e-12, "NLL estimate vs ts_calib_metrics_compute");
    /* class-wise ECE at T = 1 and T* */
    const cJSON *cw = jget(o, "classwise_ece");
    ts_calib_metrics m1;
    assert_int_equal(
        ts_calib_metrics_compute(test.z, test.y, test.n, test.k, 1.0, 15, &m1, err, sizeof err),
        TS_OK);
    near(m1.classwise_ece, cJSON_GetArrayItem(cw, 0)->valuedouble, 1e-9, "classwise ECE T=1");
    near(m.classwise_ece, cJSON_GetArrayItem(cw, 1)->valuedouble, 1e-9, "classwise ECE T*");
    /* another seed: other resamples */
    bp.seed++;
    ts_calib_metrics_ci other[1];
    assert_int_equal(ts_calib_metrics_bootstrap(test.z, test.y, test.n, test.k, temps, 1, 15, &bp,
                                                other, NULL, err, sizeof err),
                     TS_OK);
    assert_true(other[0].ece.lo != ci[0].ece.lo);
    free(val.z);
    free(val.y);
    free(test.z);
    free(test.y);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    float z[4] = {1, 0, 0, 1};
    int32_t y[2] = {0, 1};
    char err[TS_ERR_SIZE] = "";
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    ts_calib_metrics_ci ci;
    double t = 1;
    bp.n_resamples = 1;
    assert_int_equal(
        ts_calib_metrics_bootstrap(z, y, 2, 2, &t, 1, 15, &bp, &ci, NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_non_null(strstr(err, "resamples"));
    bp = ts_bootstrap_default_params();
    bp.level = 1.0;
    assert_int_equal(
        ts_calib_metrics_bootstrap(z, y, 2, 2, &t, 1, 15, &bp, &ci, NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_non_null(strstr(err, "level"));
    bp = ts_bootstrap_default_params();
    t = NAN;
    assert_int_equal(
        ts_calib_metrics_bootstrap(z, y, 2, 2, &t, 1, 15, &bp, &ci, NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_non_null(strstr(err, "temperature"));
    /* the ratio bootstrap: a constant ratio has a degenerate interval */
    double num[5] = {2, 4, 6, 8, 10}, den[5] = {1, 2, 3, 4, 5};
    ts_interval iv;
    assert_int_equal(ts_bootstrap_ratio(num, den, 5, 1, &bp, &iv, err, sizeof err), TS_OK);
    near(iv.estimate, 2, 1e-15, "ratio");
    near(iv.lo, 2, 1e-15, "ratio lo");
    near(iv.hi, 2, 1e-15, "ratio hi");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample_indices),
        cmocka_unit_test(test_t_star_interval),
        cmocka_unit_test(test_metric_intervals),
        cmocka_unit_test(test_bad_parameters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
