/*
 * test_softmax.c — ts_softmax, ts_log_softmax, ts_logsumexp, ts_argmax.
 *
 * References: hand-computed cases; tests/data/softmax_ref.txt written by
 * tools/gen_softmax_ref.py with PyTorch float64 softmax (tolerance 1e-12
 * relative on probabilities, 1e-12 absolute on log-probabilities); and
 * properties (sums, limits, input never written, 50,257-long vectors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tempscale.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_VOCAB 50257

static const float toy[5] = {2.0f, 1.0f, 0.5f, 0.2f, 0.1f};

static void assert_close(double got, double want, double tol, const char *what, size_t i)
{
    if (isinf(want) && got == want) return;
    if (!(fabs(got - want) <= tol)) {
        print_error("%s[%zu]: got %.17g want %.17g (tol %g)\n", what, i, got, want, tol);
        fail();
    }
}

static double sum(const double *p, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* Deterministic pseudo-random logits (a tiny LCG: independent of ts_rng). */
static void fill_logits(float *z, size_t n, unsigned seed, double scale)
{
    uint64_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(x >> 11) / 9007199254740992.0;
        z[i] = (float)(scale * (u - 0.5));
    }
}

static void test_hand_computed(void **state)
{
    (void)state;
    /* [0, ln 2] at T = 1: e^0 : e^ln2 = 1 : 2. */
    float z[2] = {0.0f, (float)M_LN2};
    double p[2];
    assert_int_equal(ts_softmax(z, 2, 1.0, p), TS_OK);
    double r = exp((double)(float)M_LN2); /* the float rounding of ln 2, exactly */
    assert_close(p[0], 1.0 / (1.0 + r), 1e-15, "p", 0);
    assert_close(p[1], r / (1.0 + r), 1e-15, "p", 1);
    assert_close(p[0], 1.0 / 3.0, 1e-7, "p~1/3", 0);
    /* Same at T = 2 with logits [0, 2 ln 2]. */
    float z2[2] = {0.0f, (float)(2 * M_LN2)};
    assert_int_equal(ts_softmax(z2, 2, 2.0, p), TS_OK);
    assert_close(p[1], 2.0 / 3.0, 1e-7, "p", 1);
    /* Equal logits: uniform at any T. */
    float z3[4] = {3, 3, 3, 3};
    double p4[4];
    assert_int_equal(ts_softmax(z3, 4, 0.37, p4), TS_OK);
    for (size_t i = 0; i < 4; i++)
        assert_close(p4[i], 0.25, 1e-16, "uniform", i);
    /* One logit: probability 1 at every T. */
    double one;
    assert_int_equal(ts_softmax(toy, 1, 0.01, &one), TS_OK);
    assert_true(one == 1.0);
    /* log-softmax of [0, ln 2]: log 1/3, log 2/3. */
    double lp[2];
    assert_int_equal(ts_log_softmax(z, 2, 1.0, lp), TS_OK);
    assert_close(lp[0], -log(1.0 + r), 1e-15, "logp", 0);
    assert_close(lp[1], log(r) - log(1.0 + r), 1e-15, "logp", 1);
    /* logsumexp of [0, ln 2] = log 3 (up to the float rounding of ln 2). */
    assert_close(ts_logsumexp(z, 2, 1.0), log(1.0 + r), 1e-15, "lse", 0);
    assert_close(ts_logsumexp(z2, 2, 2.0), log(3.0), 1e-7, "lse T=2", 0);
}

/* Parse tests/data/softmax_ref.txt: compare every `case` record. */
static void test_pytorch_reference(void **state)
{
    (void)state;
    const char *dir = getenv("TS_TEST_DATA");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/softmax_ref.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char line[1 << 16];
    float *z = NULL;
    double *ref = NULL, *got = NULL;
    size_t n = 0, n_cases = 0;
    double t = 0.0;
    while (fgets(line, sizeof line, f)) {
        char *p = line, *end;
        if (strncmp(p, "case ", 5) == 0) {
            char name[64];
            char tbuf[64];
            assert_int_equal(sscanf(p, "case %63s %zu %63s", name, &n, tbuf), 3);
            t = strtod(tbuf, NULL);
            free(z);
            free(ref);
            free(got);
            z = calloc(n, sizeof *z);
            ref = calloc(n, sizeof *ref);
            got = calloc(n, sizeof *got);
            n_cases++;
            continue;
        }
        if (strncmp(p, "tfe ", 4) == 0) {
            n = 0; /* handled by test_stats.c */
            continue;
        }
        if (n == 0) continue;
        char key[16];
        assert_int_equal(sscanf(p, "%15s", key), 1);
        p += strlen(key);
        if (strcmp(key, "entropy") == 0) {
            double h = strtod(p, NULL), hg;
            assert_int_equal(ts_entropy_at_temperature(z, n, t, &hg), TS_OK);
            assert_close(hg, h, 1e-12 * (h > 1 ? h : 1), "entropy", n_cases);
            continue;
        }
        double *vals = ref;
        for (size_t i = 0; i < n; i++) {
            vals[i] = strtod(p, &end);
            assert_true(end != p);
            p = end;
        }
        if (strcmp(key, "logits") == 0) {
            for (size_t i = 0; i < n; i++)
                z[i] = (float)vals[i];
        } else if (strcmp(key, "probs") == 0) {
            assert_int_equal(ts_softmax(z, n, t, got), TS_OK);
            for (size_t i = 0; i < n; i++)
                assert_close(got[i], ref[i], 1e-12 * ref[i] + 1e-300, "probs", i);
        } else if (strcmp(key, "logp") == 0) {
            assert_int_equal(ts_log_softmax(z, n, t, got), TS_OK);
            for (size_t i = 0; i < n; i++)
                assert_close(got[i], ref[i], 1e-12 * (fabs(ref[i]) > 1 ? fabs(ref[i]) : 1), "logp",
                             i);
        }
    }
    fclose(f);
    free(z);
    free(ref);
    free(got);
    assert_true(n_cases >= 9);
}

static void test_sums_to_one(void **state)
{
    (void)state;
    float *z = malloc(N_VOCAB * sizeof *z);
    double *p = malloc(N_VOCAB * sizeof *p);
    const double temps[] = {1e-3, 0.1, 0.5, 0.7, 1.0, 1.3, 2.0, 10.0, 1e3};
    for (unsigned seed = 0; seed < 3; seed++) {
        fill_logits(z, N_VOCAB, seed, 30.0);
        for (size_t k = 0; k < sizeof temps / sizeof temps[0]; k++) {
            assert_int_equal(ts_softmax(z, N_VOCAB, temps[k], p), TS_OK);
            assert_close(sum(p, N_VOCAB), 1.0, 1e-12, "sum", k);
            for (size_t i = 0; i < N_VOCAB; i++)
                assert_true(p[i] >= 0.0 && p[i] <= 1.0);
        }
    }
    assert_int_equal(ts_softmax(toy, 5, 1.0, p), TS_OK);
    assert_close(sum(p, 5), 1.0, 1e-12, "toy sum", 0);
    free(z);
    free(p);
}

static void test_limits(void **state)
{
    (void)state;
    double p0[5], p[5];
    /* T = 0: one-hot on the argmax. */
    assert_int_equal(ts_softmax(toy, 5, 0.0, p0), TS_OK);
    for (size_t i = 0; i < 5; i++)
        assert_true(p0[i] == (i == 0 ? 1.0 : 0.0));
    /* T = 1e-6 equals it exactly. */
    assert_int_equal(ts_softmax(toy, 5, 1e-6, p), TS_OK);
    for (size_t i = 0; i < 5; i++)
        assert_true(p[i] == p0[i]);
    /* T = 1e9 within 1e-6 of uniform; T = inf exactly uniform. */
    assert_int_equal(ts_softmax(toy, 5, 1e9, p), TS_OK);
    for (size_t i = 0; i < 5; i++)
        assert_close(p[i], 0.2, 1e-6, "T=1e9", i);
    assert_int_equal(ts_softmax(toy, 5, INFINITY, p), TS_OK);
    for (size_t i = 0; i < 5; i++)
        assert_true(p[i] == 0.2);
    /* log-softmax limits. */
    assert_int_equal(ts_log_softmax(toy, 5, 0.0, p), TS_OK);
    assert_true(p[0] == 0.0 && isinf(p[1]) && p[1] < 0);
    assert_int_equal(ts_log_softmax(toy, 5, INFINITY, p), TS_OK);
    for (size_t i = 0; i < 5; i++)
        assert_close(p[i], -log(5.0), 1e-15, "logp inf", i);
    /* Ties at T = 0: the first maximum. */
    const float tie[4] = {1.0f, 3.0f, 2.0f, 3.0f};
    assert_int_equal(ts_softmax(tie, 4, 0.0, p), TS_OK);
    assert_true(p[1] == 1.0 && p[3] == 0.0);
    assert_int_equal(ts_argmax(tie, 4), 1);
    /* T = 1 on 50,257 logits at 1e-6 equals the T = 0 one-hot too. */
    float *z = malloc(N_VOCAB * sizeof *z);
    double *a = malloc(N_VOCAB * sizeof *a), *b = malloc(N_VOCAB * sizeof *b);
    fill_logits(z, N_VOCAB, 7, 20.0);
    /* exp(-gap / 1e-6) underflows to 0 only for gaps > ~7.5e-4: make one. */
    z[ts_argmax(z, N_VOCAB)] += 0.01f;
    assert_int_equal(ts_softmax(z, N_VOCAB, 0.0, a), TS_OK);
    assert_int_equal(ts_softmax(z, N_VOCAB, 1e-6, b), TS_OK);
    size_t am = ts_argmax(z, N_VOCAB);
    assert_true(a[am] == 1.0);
    for (size_t i = 0; i < N_VOCAB; i++)
        assert_true(a[i] == b[i]);
    assert_int_equal(ts_softmax(z, N_VOCAB, 1e9, b), TS_OK);
    for (size_t i = 0; i < N_VOCAB; i++)
        assert_close(b[i], 1.0 / N_VOCAB, 1e-6 / N_VOCAB, "T=1e9 50257", i);
    free(z);
    free(a);
    free(b);
}

static void test_masked(void **state)
{
    (void)state;
    const float z[6] = {-INFINITY, 1.0f, -INFINITY, 0.0f, 2.0f, -INFINITY};
    const double temps[] = {0.0, 0.3, 1.0, 4.0, INFINITY};
    for (size_t k = 0; k < 5; k++) {
        double p[6], lp[6];
        assert_int_equal(ts_softmax(z, 6, temps[k], p), TS_OK);
        assert_int_equal(ts_log_softmax(z, 6, temps[k], lp), TS_OK);
        for (size_t i = 0; i < 6; i++) {
            if (isinf(z[i])) {
                assert_true(p[i] == 0.0);
                assert_true(isinf(lp[i]) && lp[i] < 0);
            }
        }
        assert_close(sum(p, 6), 1.0, 1e-12, "masked sum", k);
        /* Same as the softmax of the three finite logits. */
        const float f[3] = {1.0f, 0.0f, 2.0f};
        double q[3];
        assert_int_equal(ts_softmax(f, 3, temps[k], q), TS_OK);
        assert_close(p[1], q[0], 1e-15, "masked", 1);
        assert_close(p[3], q[1], 1e-15, "masked", 3);
        assert_close(p[4], q[2], 1e-15, "masked", 4);
    }
    double p[6];
    assert_int_equal(ts_softmax(z, 6, INFINITY, p), TS_OK);
    assert_close(p[1], 1.0 / 3.0, 1e-16, "inf masked", 1);
    /* -inf as the very first logit and a single finite one. */
    const float g[3] = {-INFINITY, -INFINITY, -5.0f};
    assert_int_equal(ts_softmax(g, 3, 0.5, p), TS_OK);
    assert_true(p[2] == 1.0 && p[0] == 0.0);
    assert_close(ts_logsumexp(g, 3, 0.5), -10.0, 1e-14, "lse masked", 0);
}

static void test_input_never_written(void **state)
{
    (void)state;
    float *z = malloc(N_VOCAB * sizeof *z), *copy = malloc(N_VOCAB * sizeof *z);
    double *p = malloc(N_VOCAB * sizeof *p);
    fill_logits(z, N_VOCAB, 3, 10.0);
    z[17] = -INFINITY;
    memcpy(copy, z, N_VOCAB * sizeof *z);
    const double temps[] = {0.0, 0.5, 1.0, INFINITY};
    double h;
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(ts_softmax(z, N_VOCAB, temps[k], p), TS_OK);
        assert_int_equal(ts_log_softmax(z, N_VOCAB, temps[k], p), TS_OK);
        assert_int_equal(ts_entropy_at_temperature(z, N_VOCAB, temps[k], &h), TS_OK);
    }
    (void)ts_logsumexp(z, N_VOCAB, 0.8);
    (void)ts_argmax(z, N_VOCAB);
    double t;
    assert_int_equal(ts_temperature_for_entropy(z, N_VOCAB, 3.0, &t), TS_OK);
    assert_memory_equal(z, copy, N_VOCAB * sizeof *z);
    free(z);
    free(copy);
    free(p);
}

static void test_errors(void **state)
{
    (void)state;
    double p[5] = {0};
    float bad[5] = {2.0f, 1.0f, 0.5f, 0.2f, 0.1f};
    assert_int_equal(ts_softmax(toy, 0, 1.0, p), TS_ERR_INVALID);
    assert_int_equal(ts_softmax(toy, 5, -1.0, p), TS_ERR_INVALID);
    assert_int_equal(ts_softmax(toy, 5, -1e-300, p), TS_ERR_INVALID);
    assert_int_equal(ts_softmax(toy, 5, -INFINITY, p), TS_ERR_INVALID);
    assert_int_equal(ts_softmax(toy, 5, NAN, p), TS_ERR_INVALID);
    assert_int_equal(ts_log_softmax(toy, 5, NAN, p), TS_ERR_INVALID);
    bad[3] = NAN;
    assert_int_equal(ts_softmax(bad, 5, 1.0, p), TS_ERR_INVALID);
    assert_int_equal(ts_log_softmax(bad, 5, 1.0, p), TS_ERR_INVALID);
    assert_true(isnan(ts_logsumexp(bad, 5, 1.0)));
    bad[3] = INFINITY;
    assert_int_equal(ts_softmax(bad, 5, 1.0, p), TS_ERR_INVALID);
    assert_int_equal(ts_softmax(bad, 5, 0.0, p), TS_ERR_INVALID);
    const float allmasked[3] = {-INFINITY, -INFINITY, -INFINITY};
    assert_int_equal(ts_softmax(allmasked, 3, 1.0, p), TS_ERR_INVALID);
    assert_int_equal(ts_softmax(allmasked, 3, INFINITY, p), TS_ERR_INVALID);
    assert_int_equal(ts_log_softmax(allmasked, 3, 0.0, p), TS_ERR_INVALID);
    assert_true(isnan(ts_logsumexp(toy, 5, 0.0)));
    assert_true(isnan(ts_logsumexp(toy, 5, INFINITY)));
    assert_true(isnan(ts_logsumexp(toy, 5, -1.0)));
    /* Subnormal and huge temperatures are valid and finite. */
    assert_int_equal(ts_softmax(toy, 5, 4.9e-324, p), TS_OK);
    assert_true(p[0] == 1.0);
    assert_int_equal(ts_softmax(toy, 5, 1e308, p), TS_OK);
    assert_close(p[4], 0.2, 1e-15, "T=1e308", 4);
}

/* The one-pass log-sum-exp + entropy gives the same bits as the two separate calls. */
static void test_logsumexp_entropy(void **state)
{
    (void)state;
    float *z = malloc(N_VOCAB * sizeof *z);
    assert_non_null(z);
    unsigned x = 12345u;
    for (size_t i = 0; i < N_VOCAB; i++) {
        x = x * 1664525u + 1013904223u;
        z[i] = (float)((double)(x >> 8) / (double)(1u << 24) * 30.0 - 15.0);
        if (i % 97 == 3) z[i] = -INFINITY; /* masked tokens */
    }
    static const double ts[] = {1e-3, 0.5, 1.0, 2.0, 1e6};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        double lse = 0, h = 0, h2 = 0;
        assert_int_equal(ts_logsumexp_entropy(z, N_VOCAB, ts[k], &lse, &h), TS_OK);
        assert_int_equal(ts_entropy_at_temperature(z, N_VOCAB, ts[k], &h2), TS_OK);
        assert_true(lse == ts_logsumexp(z, N_VOCAB, ts[k]));
        assert_true(h == h2);
    }
    double a, b;
    assert_int_equal(ts_logsumexp_entropy(z, N_VOCAB, 0.0, &a, &b), TS_ERR_INVALID);
    assert_int_equal(ts_logsumexp_entropy(z, N_VOCAB, INFINITY, &a, &b), TS_ERR_INVALID);
    assert_int_equal(ts_logsumexp_entropy(z, N_VOCAB, NAN, &a, &b), TS_ERR_INVALID);
    assert_int_equal(ts_logsumexp_entropy(z, N_VOCAB, -1.0, &a, &b), TS_ERR_INVALID);
    z[5] = NAN;
    assert_int_equal(ts_logsumexp_entropy(z, N_VOCAB, 1.0, &a, &b), TS_ERR_INVALID);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed), cmocka_unit_test(test_pytorch_reference),
        cmocka_unit_test(test_sums_to_one),   cmocka_unit_test(test_limits),
        cmocka_unit_test(test_masked),        cmocka_unit_test(test_input_never_written),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_logsumexp_entropy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
