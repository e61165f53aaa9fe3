/*
 * test_stats.c — entropy (nats / bits), perplexity, KL, entropy at a
 * temperature, and the temperature for a target entropy.
 *
 * References: hand-computed values; SciPy brentq solutions in
 * tests/data/softmax_ref.txt (tools/gen_softmax_ref.py), tolerance 1e-9
 * relative on T; monotonicity of H(T) on the toy logits.
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

static const float toy[5] = {2.0f, 1.0f, 0.5f, 0.2f, 0.1f};

static void assert_close(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: got %.17g want %.17g (tol %g)\n", what, got, want, tol);
        fail();
    }
}

static void test_entropy_hand(void **state)
{
    (void)state;
    const double fair[2] = {0.5, 0.5};
    assert_close(ts_entropy_nats(fair, 2), M_LN2, 1e-16, "fair coin nats");
    assert_close(ts_entropy_bits(fair, 2), 1.0, 1e-15, "fair coin bits");
    assert_close(ts_perplexity(fair, 2), 2.0, 1e-15, "fair coin perplexity");
    const double u4[4] = {0.25, 0.25, 0.25, 0.25};
    assert_close(ts_entropy_bits(u4, 4), 2.0, 1e-15, "uniform 4 bits");
    const double onehot[3] = {0.0, 1.0, 0.0};
    assert_true(ts_entropy_nats(onehot, 3) == 0.0); /* 0 log 0 = 0 */
    assert_true(ts_perplexity(onehot, 3) == 1.0);
    /* H(1/4, 3/4) = -(1/4 ln 1/4 + 3/4 ln 3/4). */
    const double q[2] = {0.25, 0.75};
    assert_close(ts_entropy_nats(q, 2), 0.25 * log(4.0) + 0.75 * log(4.0 / 3.0), 1e-16, "H(1/4)");
}

static void test_kl(void **state)
{
    (void)state;
    const double p[2] = {0.5, 0.5}, q[2] = {0.25, 0.75}, r[2] = {1.0, 0.0};
    assert_true(ts_kl_divergence(p, p, 2) == 0.0);
    assert_close(ts_kl_divergence(p, q, 2), 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0), 1e-16,
                 "KL(p||q)");
    assert_close(ts_kl_divergence(r, p, 2), log(2.0), 1e-16, "KL(onehot||p)");
    assert_true(isinf(ts_kl_divergence(p, r, 2)));
    assert_true(ts_kl_divergence(p, q, 2) > 0 && ts_kl_divergence(q, p, 2) > 0);
}

static void test_entropy_at_temperature(void **state)
{
    (void)state;
    /* Against the distribution's own entropy at many temperatures. */
    double p[5], h, prev = -1.0;
    for (double t = 0.01; t < 100.0; t *= 1.07) {
        assert_int_equal(ts_softmax(toy, 5, t, p), TS_OK);
        assert_int_equal(ts_entropy_at_temperature(toy, 5, t, &h), TS_OK);
        assert_close(h, ts_entropy_nats(p, 5), 1e-13, "H(T)");
        /* non-decreasing in T */
        assert_true(h >= prev);
        prev = h;
    }
    assert_int_equal(ts_entropy_at_temperature(toy, 5, 0.0, &h), TS_OK);
    assert_true(h == 0.0);
    assert_int_equal(ts_entropy_at_temperature(toy, 5, INFINITY, &h), TS_OK);
    assert_close(h, log(5.0), 1e-16, "H(inf)");
    const float masked[4] = {1.0f, -INFINITY, 0.0f, -INFINITY};
    assert_int_equal(ts_entropy_at_temperature(masked, 4, INFINITY, &h), TS_OK);
    assert_close(h, log(2.0), 1e-16, "H(inf) masked");
    assert_int_equal(ts_entropy_at_temperature(masked, 4, 1.0, &h), TS_OK);
    double e = exp(-1.0), pa = 1.0 / (1.0 + e), pb = e / (1.0 + e);
    assert_close(h, -pa * log(pa) - pb * log(pb), 1e-15, "H masked");
    /* tiny T: no 0 * -inf NaN */
    assert_int_equal(ts_entropy_at_temperature(masked, 4, 1e-310, &h), TS_OK);
    assert_true(h == 0.0);
    /* errors as ts_softmax */
    assert_int_equal(ts_entropy_at_temperature(toy, 5, -1.0, &h), TS_ERR_INVALID);
    assert_int_equal(ts_entropy_at_temperature(toy, 5, NAN, &h), TS_ERR_INVALID);
    assert_int_equal(ts_entropy_at_temperature(toy, 0, 1.0, &h), TS_ERR_INVALID);
}

/* The `tfe` records: SciPy's brentq answer for H(T) = target. */
static void test_temperature_for_entropy_scipy(void **state)
{
    (void)state;
    const char *dir = getenv("TS_TEST_DATA");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/softmax_ref.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char line[1 << 16];
    size_t n_checked = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "tfe ", 4) != 0) continue;
        char name[64], hbuf[64], tbuf[64];
        size_t n;
        assert_int_equal(sscanf(line, "tfe %63s %zu %63s %63s", name, &n, hbuf, tbuf), 4);
        double target = strtod(hbuf, NULL), want = strtod(tbuf, NULL);
        assert_non_null(fgets(line, sizeof line, f));
        assert_true(strncmp(line, "logits ", 7) == 0);
        float *z = calloc(n, sizeof *z);
        char *p = line + 7, *end;
        for (size_t i = 0; i < n; i++) {
            z[i] = (float)strtod(p, &end);
            assert_true(end != p);
            p = end;
        }
        double t, h;
        assert_int_equal(ts_temperature_for_entropy(z, n, target, &t), TS_OK);
        assert_close(t, want, 1e-9 * want, name);
        assert_int_equal(ts_entropy_at_temperature(z, n, t, &h), TS_OK);
        assert_close(h, target, 1e-12, "H(T*)");
        free(z);
        n_checked++;
    }
    fclose(f);
    assert_true(n_checked >= 6);
}

static void test_temperature_for_entropy_edges(void **state)
{
    (void)state;
    double t, h;
    /* round trip over the whole range */
    for (double target = 0.001; target < log(5.0) - 1e-3; target += 0.05) {
        assert_int_equal(ts_temperature_for_entropy(toy, 5, target, &t), TS_OK);
        assert_int_equal(ts_entropy_at_temperature(toy, 5, t, &h), TS_OK);
        assert_close(h, target, 1e-12, "round trip");
    }
    /* near the top: large T */
    assert_int_equal(ts_temperature_for_entropy(toy, 5, log(5.0) - 1e-9, &t), TS_OK);
    assert_true(t > 1e3);
    assert_int_equal(ts_temperature_for_entropy(toy, 5, 0.0, &t), TS_OK);
    assert_true(t == 0.0);
    assert_int_equal(ts_temperature_for_entropy(toy, 5, log(5.0), &t), TS_ERR_RANGE);
    assert_int_equal(ts_temperature_for_entropy(toy, 5, 3.0, &t), TS_ERR_RANGE);
    assert_int_equal(ts_temperature_for_entropy(toy, 5, -0.1, &t), TS_ERR_RANGE);
    assert_int_equal(ts_temperature_for_entropy(toy, 5, NAN, &t), TS_ERR_INVALID);
    assert_int_equal(ts_temperature_for_entropy(toy, 1, 0.1, &t), TS_ERR_RANGE);
    /* two tied maxima: entropies below log 2 are unreachable */
    const float tie[3] = {1.0f, 1.0f, 0.0f};
    assert_int_equal(ts_temperature_for_entropy(tie, 3, 0.5, &t), TS_ERR_RANGE);
    assert_int_equal(ts_temperature_for_entropy(tie, 3, 0.8, &t), TS_OK);
    assert_int_equal(ts_entropy_at_temperature(tie, 3, t, &h), TS_OK);
    assert_close(h, 0.8, 1e-12, "tie round trip");
    /* masked tokens do not count towards log(#finite) */
    const float masked[4] = {1.0f, -INFINITY, 0.0f, -INFINITY};
    assert_int_equal(ts_temperature_for_entropy(masked, 4, 0.9, &t), TS_ERR_RANGE);
    assert_int_equal(ts_temperature_for_entropy(masked, 4, 0.6, &t), TS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entropy_hand),
        cmocka_unit_test(test_kl),
        cmocka_unit_test(test_entropy_at_temperature),
        cmocka_unit_test(test_temperature_for_entropy_scipy),
        cmocka_unit_test(test_temperature_for_entropy_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
