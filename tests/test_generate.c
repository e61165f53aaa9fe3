/*
 * test_generate.c — unit tests of the walkthrough's numeric pieces, no model:
 *   ts_top_k_ids   vs a full qsort of the same logits (ties by id);
 *   ts_sweep       vs softmax computed here independently in long double;
 *   ts_chi2_sf     vs scipy.stats.chi2.sf (tests/data/chi2_sf.txt, written by
 *                  tools/gen_chi2_reference.py), relative 1e-9 / absolute 1e-14;
 *   ts_chi2_test   vs a hand-computed pooled case;
 *   ts_gumbel_pick exact sampling (chi-square of 40,000 draws at a fixed seed),
 *                  coupling (noise independent of the candidates' p) and the
 *                  T -> 0 limit (equals argmax).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float *g_sort_logits;
static int cmp_rank(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float lx = g_sort_logits[x], ly = g_sort_logits[y];
    if (lx > ly) return -1;
    if (lx < ly) return 1;
    return (x > y) - (x < y);
}

static void fill_logits(float *z, size_t n, uint64_t seed, bool ties)
{
    ts_rng rng;
    ts_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        double u = ts_rng_uniform(&rng);
        z[i] = ties ? (float)floor(u * 8.0) : (float)(8.0 * u - 4.0);
    }
}

static void test_top_k_matches_sort(void **state)
{
    (void)state;
    const size_t n = 5000;
    float *z = malloc(n * sizeof *z);
    int32_t *all = malloc(n * sizeof *all), *top = malloc(n * sizeof *top);
    assert_non_null(z);
    for (int pass = 0; pass < 2; pass++) {
        fill_logits(z, n, 11 + (uint64_t)pass, pass == 1);
        for (size_t i = 0; i < n; i++) all[i] = (int32_t)i;
        g_sort_logits = z;
        qsort(all, n, sizeof *all, cmp_rank);
        size_t ks[] = {1, 2, 10, 50, 4999, 5000};
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
            assert_int_equal(ts_top_k_ids(z, n, ks[j], top), TS_OK);
            for (size_t r = 0; r < ks[j]; r++) assert_int_equal(top[r], all[r]);
        }
    }
    assert_int_equal(ts_top_k_ids(z, n, 0, top), TS_ERR_INVALID);
    assert_int_equal(ts_top_k_ids(z, n, n + 1, top), TS_ERR_INVALID);
    free(z);
    free(all);
    free(top);
}

static void test_sweep_matches_reference(void **state)
{
    (void)state;
    const size_t n = 3000, k = 7;
    const double temps[] = {0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 100.0};
    const size_t nT = sizeof temps / sizeof temps[0];
    float *z = malloc(n * sizeof *z);
    double *scratch = malloc(n * sizeof *scratch);
    int32_t top[7];
    double prob[7 * 7], prob_topk[7 * 7], ent[7];
    fill_logits(z, n, 5, false);
    z[17] = -INFINITY; /* a masked token */
    assert_int_equal(ts_sweep(z, n, temps, nT, k, top, prob, prob_topk, ent), TS_OK);
    for (size_t t = 0; t < nT; t++) {
        /* Independent reference: long double, max-subtracted. */
        long double zmax = -INFINITY, sum = 0, h = 0;
        for (size_t i = 0; i < n; i++)
            if (z[i] > zmax) zmax = z[i];
        for (size_t i = 0; i < n; i++) sum += expl(((long double)z[i] - zmax) / temps[t]);
        for (size_t i = 0; i < n; i++) {
            long double p = expl(((long double)z[i] - zmax) / temps[t]) / sum;
            if (p > 0) h -= p * logl(p);
        }
        assert_true(fabs((double)h - ent[t]) < 1e-9);
        long double topsum = 0;
        for (size_t r = 0; r < k; r++) topsum += expl(((long double)z[top[r]] - zmax) / temps[t]);
        for (size_t r = 0; r < k; r++) {
            long double e = expl(((long double)z[top[r]] - zmax) / temps[t]);
            assert_true(fabs((double)(e / sum) - prob[t * k + r]) < 1e-12);
            assert_true(fabs((double)(e / topsum) - prob_topk[t * k + r]) < 1e-12);
        }
    }
    free(z);
    free(scratch);
}

static void test_chi2_sf_vs_scipy(void **state)
{
    (void)state;
    const char *dir = getenv("TS_TEST_DATA");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/chi2_sf.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int rows = 0;
    double worst = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        double x, dof, ref;
        assert_int_equal(sscanf(line, "%lf %lf %lf", &x, &dof, &ref), 3);
        double got = ts_chi2_sf(x, dof);
        double err = fabs(got - ref);
        double tol = fmax(1e-9 * ref, 1e-14);
        if (err > tol) fprintf(stderr, "chi2_sf(%g, %g) = %.17g, scipy %.17g\n", x, dof, got, ref);
        assert_true(err <= tol);
        if (ref > 0 && err / ref > worst) worst = err / ref;
        rows++;
    }
    fclose(f);
    assert_true(rows >= 100);
    printf("chi2_sf: %d scipy values, worst relative error %.2e\n", rows, worst);
    assert_true(ts_chi2_sf(0, 3) == 1.0);
    assert_true(isnan(ts_chi2_sf(1, 0)));
}

static void test_chi2_test_pooling(void **state)
{
    (void)state;
    /* n = 100, expected 50, 30, 12, 4, 3, 1: the last three pool into one bin of 8. */
    const double p[] = {0.5, 0.3, 0.12, 0.04, 0.03, 0.01};
    const size_t counts[] = {45, 33, 14, 5, 2, 1};
    ts_chi2_result r;
    assert_int_equal(ts_chi2_test(counts, p, 6, &r), TS_OK);
    double x = (45 - 50.0) * (45 - 50.0) / 50 + (33 - 30.0) * (33 - 30.0) / 30 +
               (14 - 12.0) * (14 - 12.0) / 12 + (8 - 8.0) * (8 - 8.0) / 8;
    assert_int_equal(r.n_bins, 4);
    assert_true(fabs(r.statistic - x) < 1e-12);
    assert_true(fabs(r.dof - 3) < 1e-12);
    assert_true(fabs(r.p_value - ts_chi2_sf(x, 3)) < 1e-15);
    const double bad[] = {0.5, 0.4};
    const size_t c2[] = {1, 1};
    assert_int_equal(ts_chi2_test(c2, bad, 2, &r), TS_ERR_INVALID);
}

static void test_gumbel_is_exact_and_coupled(void **state)
{
    (void)state;
    /* Draw 40,000 times from a fixed 5-way distribution (one step per draw). */
    ts_candidate c[5] = {{3, 0, 0.4, 0}, {9, 0, 0.25, 0}, {1, 0, 0.2, 0}, {7, 0, 0.1, 0}, {4, 0, 0.05, 0}};
    size_t counts[5] = {0};
    const size_t n = 40000;
    for (size_t s = 0; s < n; s++) {
        int32_t id = ts_gumbel_pick(c, 5, 1234, 0, s);
        for (size_t i = 0; i < 5; i++)
            if (c[i].id == id) counts[i]++;
    }
    double p[5];
    for (size_t i = 0; i < 5; i++) p[i] = c[i].p;
    ts_chi2_result r;
    assert_int_equal(ts_chi2_test(counts, p, 5, &r), TS_OK);
    printf("gumbel-max: chi2 = %.2f, p = %.3f over %zu draws\n", r.statistic, r.p_value, n);
    assert_true(r.p_value > 0.001);
    /* The noise depends on (seed, stream, step, id) only. */
    assert_true(ts_gumbel_noise(1, 2, 3, 4) == ts_gumbel_noise(1, 2, 3, 4));
    assert_true(ts_gumbel_noise(1, 2, 3, 4) != ts_gumbel_noise(1, 2, 3, 5));
    assert_true(ts_gumbel_noise(1, 2, 3, 4) != ts_gumbel_noise(1, 3, 3, 4));
    /* T -> 0: softmax(z / T) of random logits; the draw is the argmax for every step. */
    const size_t V = 1000;
    float *z = malloc(V * sizeof *z);
    double *pr = malloc(V * sizeof *pr);
    ts_candidate *cand = malloc(V * sizeof *cand);
    fill_logits(z, V, 99, false);
    size_t best = ts_argmax(z, V);
    for (size_t step = 0; step < 200; step++) {
        assert_int_equal(ts_softmax(z, V, 1e-4, pr), TS_OK);
        for (size_t i = 0; i < V; i++) cand[i] = (ts_candidate){(int32_t)i, z[i], pr[i], z[i]};
        assert_int_equal(ts_gumbel_pick(cand, V, 7, 0, step), (int32_t)best);
    }
    free(z);
    free(pr);
    free(cand);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_k_matches_sort),
        cmocka_unit_test(test_sweep_matches_reference),
        cmocka_unit_test(test_chi2_sf_vs_scipy),
        cmocka_unit_test(test_chi2_test_pooling),
        cmocka_unit_test(test_gumbel_is_exact_and_coupled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
