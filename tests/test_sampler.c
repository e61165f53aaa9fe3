/*
 * test_sampler.c — the sampler chain.
 *
 * Reference: ref_chain() below, an independent, deliberately naive
 * implementation written the way Hugging Face's logits warpers are (a full
 * vocabulary of scores, masked tokens set to -inf, a full qsort for each
 * step, probabilities recomputed by softmax after every mask). It shares no
 * code with src/sampling/sampler.c (which selects / sorts partially and works on
 * unnormalised weights).
 *   - exact candidate sets and probabilities (1e-12) on 50,257 random logits;
 *   - chi-square goodness of fit, >= 200,000 draws per chain setting, fixed
 *     seeds, critical value at p = 0.001 (deterministic: seeds are fixed);
 *   - hand-computed cases: pick() with chosen u, the top-k tie rule, T = 0 in
 *     both orders, a case where HF and llama orders keep different sets;
 *   - no allocation in apply / sample (malloc is wrapped at link time).
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

/* ---- allocation counter (tests/foundation.cmake links with --wrap) ------- */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static int n_allocs;
void *__wrap_malloc(size_t n)
{
    n_allocs++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
    n_allocs++;
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
    n_allocs++;
    return __real_realloc(p, n);
}

#define N_VOCAB 50257

/* ---- the independent reference ------------------------------------------ */

static const float *g_logits; /* for the qsort comparator */

static int cmp_rank(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (g_logits[i] != g_logits[j]) return g_logits[i] > g_logits[j] ? -1 : 1;
    return i < j ? -1 : 1;
}

/* softmax of scores[n] (-inf = masked) into p[n]. */
static void ref_softmax(const double *scores, size_t n, double *p)
{
    double mx = -INFINITY, z = 0;
    for (size_t i = 0; i < n; i++)
        if (scores[i] > mx) mx = scores[i];
    for (size_t i = 0; i < n; i++)
        z += p[i] = scores[i] == -INFINITY ? 0.0 : exp(scores[i] - mx);
    for (size_t i = 0; i < n; i++)
        p[i] /= z;
}

/*
 * HF:    scores = z / T; top-k, top-p, min-p on softmax(scores); draw softmax(scores).
 * llama: scores = z;     top-k, top-p, min-p on softmax(scores); then / T; draw.
 * T = 0: greedy. T = inf: scores / T = 0 for every unmasked token.
 */
static void ref_chain(const float *z, size_t n, const ts_sampler_params *par, double *out)
{
    double *s = malloc(n * sizeof *s), *p = malloc(n * sizeof *p);
    int *order = malloc(n * sizeof *order);
    double t = par->temperature;
    if (t == 0.0) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (z[i] > z[best]) best = i;
        for (size_t i = 0; i < n; i++)
            out[i] = i == best ? 1.0 : 0.0;
        free(s), free(p), free(order);
        return;
    }
    bool hf = par->order == TS_ORDER_HF;
    for (size_t i = 0; i < n; i++) {
        if (z[i] == -INFINITY)
            s[i] = -INFINITY;
        else if (hf)
            s[i] = isinf(t) ? 0.0 : (double)z[i] / t;
        else
            s[i] = z[i];
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (int)i;
    g_logits = z;
    qsort(order, n, sizeof *order, cmp_rank); /* ranking: logit desc, id asc */
    if (par->top_k > 0)
        for (size_t r = (size_t)par->top_k; r < n; r++)
            s[order[r]] = -INFINITY;
    if (par->top_p < 1.0) {
        ref_softmax(s, n, p);
        double cum = 0;
        size_t r = 0;
        for (; r < n; r++) {
            cum += p[order[r]];
            if (cum >= par->top_p) break;
        }
        for (size_t q = r + 1; q < n; q++)
            s[order[q]] = -INFINITY;
    }
    if (par->min_p > 0.0) {
        ref_softmax(s, n, p);
        double pmax = 0;
        for (size_t i = 0; i < n; i++)
            if (p[i] > pmax) pmax = p[i];
        for (size_t i = 0; i < n; i++)
            if (p[i] < par->min_p * pmax) s[i] = -INFINITY;
    }
    if (!hf)
        for (size_t i = 0; i < n; i++)
            if (s[i] != -INFINITY) s[i] = isinf(t) ? 0.0 : s[i] / t;
    ref_softmax(s, n, out);
    free(s), free(p), free(order);
}

/* ---- helpers --------------------------------------------------------------- */

static ts_sampler_params params(ts_sampler_order order, double t, int k, double top_p, double min_p)
{
    ts_sampler_params p = ts_sampler_default_params();
    p.order = order;
    p.temperature = t;
    p.top_k = k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 12345;
    return p;
}

static ts_sampler *new_sampler(const ts_sampler_params *p, size_t n)
{
    ts_sampler *s = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_sampler_new(p, n, &s, err, sizeof err), TS_OK);
    return s;
}

/* apply() must give exactly the reference's support and probabilities. */
static void check_against_reference(const float *z, size_t n, const ts_sampler_params *par)
{
    double *ref = malloc(n * sizeof *ref);
    ref_chain(z, n, par, ref);
    ts_sampler *s = new_sampler(par, n);
    const ts_candidate *c;
    size_t nc;
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_true(nc >= 1);
    size_t n_ref = 0;
    for (size_t i = 0; i < n; i++)
        n_ref += ref[i] > 0.0;
    double sum = 0;
    for (size_t i = 0; i < nc; i++) {
        if (i > 0) { /* ranked: logit descending, id ascending */
            assert_true(c[i - 1].logit > c[i].logit ||
                        (c[i - 1].logit == c[i].logit && c[i - 1].id < c[i].id));
            assert_true(c[i - 1].p >= c[i].p);
        }
        assert_true(c[i].id >= 0 && (size_t)c[i].id < n);
        assert_true(c[i].logit == z[c[i].id]);
        if (!(fabs(c[i].p - ref[c[i].id]) <= 1e-12)) {
            print_error("T=%g k=%d p=%g minp=%g %s: id %d p %.17g ref %.17g\n", par->temperature,
                        par->top_k, par->top_p, par->min_p, ts_sampler_order_name(par->order),
                        c[i].id, c[i].p, ref[c[i].id]);
            fail();
        }
        sum += c[i].p;
    }
    /* candidates with p underflowed to 0 may be kept; the reference counts p > 0 */
    size_t n_pos = 0;
    for (size_t i = 0; i < nc; i++)
        n_pos += c[i].p > 0.0;
    assert_int_equal(n_pos, n_ref);
    assert_true(fabs(sum - 1.0) < 1e-12);
    ts_sampler_free(s);
    free(ref);
}

static void fill_logits(float *z, size_t n, uint64_t seed, double scale)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double u = (double)(x >> 11) / 9007199254740992.0;
        /* heavy upper tail like real logits: a few large, most small */
        z[i] = (float)(scale * (u * u * u * u) + (double)(int)(u * 4) * 0.25);
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_params(void **state)
{
    (void)state;
    ts_sampler_params d = ts_sampler_default_params();
    assert_true(d.temperature == 1.0 && d.top_k == 50 && d.top_p == 1.0 && d.min_p == 0.0);
    assert_int_equal(d.order, TS_ORDER_HF);
    ts_sampler_order o;
    assert_int_equal(ts_sampler_order_parse("llama", &o), TS_OK);
    assert_int_equal(o, TS_ORDER_LLAMA);
    assert_int_equal(ts_sampler_order_parse("hf", &o), TS_OK);
    assert_int_equal(o, TS_ORDER_HF);
    assert_int_equal(ts_sampler_order_parse("HF", &o), TS_ERR_INVALID);
    assert_string_equal(ts_sampler_order_name(TS_ORDER_LLAMA), "llama");

    char err[TS_ERR_SIZE];
    ts_sampler *s = (ts_sampler *)0x1;
    ts_sampler_params bad = d;
    bad.temperature = -1;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    assert_null(s);
    assert_non_null(strstr(err, "temperature"));
    bad = d, bad.temperature = NAN;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    bad = d, bad.top_k = -1;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "top_k: "));
    bad = d, bad.top_p = 0.0;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    bad = d, bad.top_p = 1.5;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    bad = d, bad.min_p = 1.0;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    bad = d, bad.min_p = -0.1;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    bad = d, bad.order = (ts_sampler_order)7;
    assert_int_equal(ts_sampler_new(&bad, 10, &s, err, sizeof err), TS_ERR_INVALID);
    assert_int_equal(ts_sampler_new(&d, 0, &s, err, sizeof err), TS_ERR_INVALID);
    ts_sampler_free(NULL);

    /* bad logits: NaN, +inf, all masked */
    s = new_sampler(&d, 3);
    const float nanz[3] = {1, NAN, 0}, infz[3] = {1, INFINITY, 0},
                allm[3] = {-INFINITY, -INFINITY, -INFINITY};
    const ts_candidate *c;
    size_t nc;
    assert_int_equal(ts_sampler_apply(s, nanz, &c, &nc), TS_ERR_INVALID);
    assert_int_equal(ts_sampler_apply(s, infz, &c, &nc), TS_ERR_INVALID);
    assert_int_equal(ts_sampler_apply(s, allm, &c, &nc), TS_ERR_INVALID);
    assert_int_equal(ts_sampler_sample(s, nanz), -1);
    ts_sampler_free(s);
}

/* Every bad field is refused with a message that starts with "<field>: ". */
static void test_param_messages(void **state)
{
    (void)state;
    const ts_logit_bias dup[2] = {{3, 1.0}, {3, 2.0}}, oob[1] = {{10, 1.0}}, nanb[1] = {{1, NAN}};
    struct {
        const char *field;
        ts_sampler_params p;
    } bad[40];
    size_t n = 0;
#define BADP(f, ...)                                                                               \
    do {                                                                                           \
        bad[n].field = f;                                                                          \
        bad[n].p = ts_sampler_default_params();                                                    \
        __VA_ARGS__;                                                                               \
        n++;                                                                                       \
    } while (0)
    BADP("temperature", bad[n].p.temperature = -0.5);
    BADP("temperature", bad[n].p.temperature = NAN);
    BADP("top_k", bad[n].p.top_k = -1);
    BADP("top_p", bad[n].p.top_p = 1.5);
    BADP("top_p", bad[n].p.top_p = 0.0);
    BADP("min_p", bad[n].p.min_p = 1.0);
    BADP("order", bad[n].p.order = (ts_sampler_order)9);
    BADP("repetition_penalty", bad[n].p.repetition_penalty = 0.0);
    BADP("repetition_penalty", bad[n].p.repetition_penalty = INFINITY);
    BADP("penalty_last_n", bad[n].p.penalty_last_n = -2);
    BADP("presence_penalty", bad[n].p.presence_penalty = 2.5);
    BADP("frequency_penalty", bad[n].p.frequency_penalty = -3.0);
    BADP("no_repeat_ngram_size", bad[n].p.no_repeat_ngram_size = -1);
    BADP("logit_bias", bad[n].p.logit_bias = dup, bad[n].p.n_logit_bias = 2);
    BADP("logit_bias", bad[n].p.logit_bias = oob, bad[n].p.n_logit_bias = 1);
    BADP("logit_bias", bad[n].p.logit_bias = nanb, bad[n].p.n_logit_bias = 1);
    BADP("logit_bias", bad[n].p.logit_bias = NULL, bad[n].p.n_logit_bias = 1);
    BADP("typical_p", bad[n].p.typical_p = 0.0);
    BADP("epsilon_cutoff", bad[n].p.epsilon_cutoff = 1.0);
    BADP("eta_cutoff", bad[n].p.eta_cutoff = -0.1);
    BADP("top_n_sigma", bad[n].p.top_n_sigma = INFINITY);
    BADP("xtc_probability", bad[n].p.xtc_probability = 1.1);
    BADP("xtc_threshold", bad[n].p.xtc_threshold = -0.1);
    BADP("dynatemp_range", bad[n].p.dynatemp_range = -1.0);
    BADP("dynatemp_exponent", bad[n].p.dynatemp_exponent = NAN);
    BADP("target_entropy", bad[n].p.target_entropy = -0.5);
    BADP("target_entropy", bad[n].p.target_entropy = 2.0, bad[n].p.temperature = 0.7);
    BADP("target_entropy", bad[n].p.target_entropy = 2.0, bad[n].p.mirostat = 2);
    BADP("mirostat", bad[n].p.mirostat = 3);
    BADP("mirostat_tau", bad[n].p.mirostat_tau = 0.0);
    BADP("mirostat_eta", bad[n].p.mirostat_eta = -1.0);
    BADP("dynatemp_range", bad[n].p.dynatemp_range = 0.5, bad[n].p.mirostat = 1);
    BADP("n_ctx", bad[n].p.n_ctx = -5);
#undef BADP
    for (size_t i = 0; i < n; i++) {
        char err[TS_ERR_SIZE] = "", want[64];
        ts_sampler *s = (ts_sampler *)0x1;
        assert_int_equal(ts_sampler_new(&bad[i].p, 10, &s, err, sizeof err), TS_ERR_INVALID);
        assert_null(s);
        snprintf(want, sizeof want, "%s: ", bad[i].field);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("case %zu: message '%s' does not start with '%s'", i, err, want);
    }
    /* the defaults are all off and valid */
    ts_sampler_params d = ts_sampler_default_params();
    ts_sampler *s = new_sampler(&d, 10);
    const char *names[8];
    assert_int_equal(ts_sampler_chain(s, names, 8), 1); /* top_k 50 only */
    assert_string_equal(names[0], "top_k");
    assert_true(isnan(ts_sampler_mirostat_mu(s)));
    ts_sampler_free(s);
}

static void test_pick(void **state)
{
    (void)state;
    const ts_candidate c[4] = {{5, 0, 0.5, 0}, {2, 0, 0.3, 0}, {9, 0, 0.2, 0}, {7, 0, 0.0, 0}};
    assert_int_equal(ts_sampler_pick(c, 4, 0.0), 5);
    assert_int_equal(ts_sampler_pick(c, 4, 0.49), 5);
    assert_int_equal(ts_sampler_pick(c, 4, 0.5), 2);
    assert_int_equal(ts_sampler_pick(c, 4, 0.79), 2);
    assert_int_equal(ts_sampler_pick(c, 4, 0.81), 9);
    assert_int_equal(ts_sampler_pick(c, 4, 0.9999999), 9);
    /* u at or past the (rounded) total: the last candidate with p > 0, never p = 0 */
    assert_int_equal(ts_sampler_pick(c, 4, 1.0), 9);
    assert_int_equal(ts_sampler_pick(c, 1, 0.7), 5);
}

static void test_top_k_ties(void **state)
{
    (void)state;
    /* Ranking: logit descending, ties by lower id; keep exactly k. */
    const float z[6] = {1, 3, 3, 2, 3, 0};
    ts_sampler_params p = params(TS_ORDER_HF, 1.0, 2, 1.0, 0.0);
    ts_sampler *s = new_sampler(&p, 6);
    const ts_candidate *c;
    size_t nc;
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_int_equal(nc, 2);
    assert_int_equal(c[0].id, 1);
    assert_int_equal(c[1].id, 2);
    assert_true(c[0].p == 0.5 && c[1].p == 0.5);
    ts_sampler_free(s);
    /* k larger than the finite tokens: all finite kept, -inf never */
    const float m[4] = {-INFINITY, 1, -INFINITY, 1 + (float)M_LN2};
    p = params(TS_ORDER_LLAMA, 1.0, 3, 1.0, 0.0);
    s = new_sampler(&p, 4);
    assert_int_equal(ts_sampler_apply(s, m, &c, &nc), TS_OK);
    assert_int_equal(nc, 2);
    assert_int_equal(c[0].id, 3);
    assert_true(fabs(c[0].p - 2.0 / 3.0) < 1e-7);
    ts_sampler_free(s);
}

static void test_greedy_both_orders(void **state)
{
    (void)state;
    const float z[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f}; /* tie: ids 1 and 3 */
    for (int o = 0; o < 2; o++) {
        ts_sampler_params p = params((ts_sampler_order)o, 0.0, 2, 0.5, 0.3);
        ts_sampler *s = new_sampler(&p, 5);
        const ts_candidate *c;
        size_t nc;
        assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
        assert_int_equal(nc, 1);
        assert_int_equal(c[0].id, 1);
        assert_true(c[0].p == 1.0);
        for (int i = 0; i < 100; i++)
            assert_int_equal(ts_sampler_sample(s, z), 1);
        ts_sampler_free(s);
    }
}

/* Hand-computed: z = [2, 1, 0]. */
static void test_order_matters(void **state)
{
    (void)state;
    const float z[3] = {2, 1, 0};
    const ts_candidate *c;
    size_t nc;
    /* top-p 0.6 at T = 2.
     * llama: softmax(z)   = [.665, .245, .090] -> .665 >= .6, keeps {0}.
     * HF:    softmax(z/2) = [.506, .307, .186] -> .506 < .6, .813 >= .6, keeps {0, 1},
     *        drawn with p = [1, e^-.5] / (1 + e^-.5) = [.6225, .3775]. */
    ts_sampler_params p = params(TS_ORDER_LLAMA, 2.0, 0, 0.6, 0.0);
    ts_sampler *s = new_sampler(&p, 3);
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_int_equal(nc, 1);
    assert_int_equal(c[0].id, 0);
    ts_sampler_free(s);
    p.order = TS_ORDER_HF;
    s = new_sampler(&p, 3);
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_int_equal(nc, 2);
    assert_true(fabs(c[0].p - 1.0 / (1.0 + exp(-0.5))) < 1e-15);
    assert_true(fabs(c[1].p - exp(-0.5) / (1.0 + exp(-0.5))) < 1e-15);
    ts_sampler_free(s);
    /* min-p 0.3 at T = 2: llama keeps weights e^0, e^-1 (>= .3), drops e^-2 = .135;
     * HF sees e^0, e^-.5, e^-1 = .368 >= .3 and keeps all three. */
    p = params(TS_ORDER_LLAMA, 2.0, 0, 1.0, 0.3);
    s = new_sampler(&p, 3);
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_int_equal(nc, 2);
    ts_sampler_free(s);
    p.order = TS_ORDER_HF;
    s = new_sampler(&p, 3);
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_int_equal(nc, 3);
    ts_sampler_free(s);
    /* T = inf: HF top-p sees a uniform distribution (keeps ceil(.5 * 3) = 2),
     * llama sees softmax(z) (keeps {0}), then flattens. */
    p = params(TS_ORDER_HF, INFINITY, 0, 0.5, 0.0);
    s = new_sampler(&p, 3);
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_int_equal(nc, 2);
    assert_true(c[0].p == 0.5 && c[1].p == 0.5);
    ts_sampler_free(s);
    p.order = TS_ORDER_LLAMA;
    s = new_sampler(&p, 3);
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    assert_int_equal(nc, 1);
    ts_sampler_free(s);
}

static const ts_sampler_params *settings(size_t *n)
{
    static ts_sampler_params p[12];
    size_t k = 0;
    p[k++] = params(TS_ORDER_HF, 1.0, 0, 1.0, 0.0);
    p[k++] = params(TS_ORDER_HF, 0.7, 10, 1.0, 0.0);
    p[k++] = params(TS_ORDER_HF, 1.5, 0, 0.9, 0.0);
    p[k++] = params(TS_ORDER_HF, 1.0, 20, 1.0, 0.05);
    p[k++] = params(TS_ORDER_LLAMA, 1.5, 12, 0.8, 0.0);
    p[k++] = params(TS_ORDER_LLAMA, 0.5, 0, 1.0, 0.1);
    p[k++] = params(TS_ORDER_HF, INFINITY, 7, 1.0, 0.0);
    p[k++] = params(TS_ORDER_LLAMA, 2.0, 0, 0.95, 0.02);
    p[k++] = params(TS_ORDER_HF, 0.8, 50, 0.92, 0.01);
    p[k++] = params(TS_ORDER_LLAMA, 0.3, 3, 1.0, 0.0);
    *n = k;
    return p;
}

static void test_large_vocab_exact(void **state)
{
    (void)state;
    float *z = malloc(N_VOCAB * sizeof *z);
    size_t ns;
    const ts_sampler_params *ps = settings(&ns);
    for (uint64_t seed = 1; seed <= 2; seed++) {
        fill_logits(z, N_VOCAB, seed, 25.0);
        z[100] = z[200] = -INFINITY;
        for (size_t k = 0; k < ns; k++)
            check_against_reference(z, N_VOCAB, &ps[k]);
        ts_sampler_params big = params(TS_ORDER_HF, 1.0, 40000, 0.999, 0.0);
        check_against_reference(z, N_VOCAB, &big);
        big = params(TS_ORDER_LLAMA, 3.0, 0, 0.9999, 0.0);
        check_against_reference(z, N_VOCAB, &big);
        big = params(TS_ORDER_HF, 5.0, 0, 1.0, 1e-3);
        check_against_reference(z, N_VOCAB, &big);
    }
    /* all equal logits: the ranking is by id */
    for (size_t i = 0; i < N_VOCAB; i++)
        z[i] = 0.5f;
    ts_sampler_params eq = params(TS_ORDER_HF, 1.0, 5, 1.0, 0.0);
    check_against_reference(z, N_VOCAB, &eq);
    free(z);
}

/* ---- peer references: tests/data/sampler_ref.txt (tools/gen_sampler_ref.py) ---- */

static double parse_num(const char *w)
{
    if (strcmp(w, "inf") == 0) return INFINITY;
    if (strcmp(w, "-inf") == 0) return -INFINITY;
    return strtod(w, NULL);
}

static bool set_param(ts_sampler_params *p, const char *k, const char *v)
{
    double x = parse_num(v);
#define D(f)                                                                                       \
    if (strcmp(k, #f) == 0) {                                                                      \
        p->f = x;                                                                                  \
        return true;                                                                               \
    }
#define I(f)                                                                                       \
    if (strcmp(k, #f) == 0) {                                                                      \
        p->f = (int32_t)x;                                                                         \
        return true;                                                                               \
    }
    D(temperature)
    I(top_k) D(top_p) D(min_p) D(repetition_penalty) I(penalty_last_n) D(presence_penalty)
        D(frequency_penalty) I(no_repeat_ngram_size) D(typical_p) D(epsilon_cutoff) D(eta_cutoff)
            D(top_n_sigma) D(xtc_probability) D(xtc_threshold) D(dynatemp_range)
                D(dynatemp_exponent) D(target_entropy) I(mirostat) D(mirostat_tau) D(mirostat_eta)
#undef D
#undef I
                    if (strcmp(k, "seed") == 0)
    {
        p->seed = (uint64_t)x;
        return true;
    }
    if (strcmp(k, "order") == 0) return ts_sampler_order_parse(v, &p->order) == TS_OK;
    return false;
}

/* Tolerance: both sides compute in double; 1e-9 absolute on every probability, 1e-6 for
 * target_entropy, whose solver (ts_temperature_for_entropy) takes the scores as float. */
#define REF_TOL        1e-9
#define REF_TOL_TARGET 1e-6

static void test_peer_references(void **state)
{
    (void)state;
    const char *dir = getenv("TS_TEST_DATA");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/sampler_ref.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char w[256], name[128] = "";
    int n_cases = 0, n_steps = 0;
    double worst = 0;
    ts_sampler_params par = ts_sampler_default_params();
    ts_logit_bias bias[16];
    ts_sampler *s = NULL;
    float *z = NULL;
    size_t V = 0;
    int32_t ids[256];
    while (fscanf(f, "%255s", w) == 1) {
        if (w[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF) {
            }
        } else if (strcmp(w, "case") == 0) {
            assert_int_equal(fscanf(f, "%127s", name), 1);
            par = ts_sampler_default_params();
            par.top_k = 0;
            ts_sampler_free(s);
            s = NULL;
            n_cases++;
        } else if (strcmp(w, "param") == 0) {
            char k[64], v[64];
            assert_int_equal(fscanf(f, "%63s %63s", k, v), 2);
            if (!set_param(&par, k, v)) fail_msg("%s: unknown param %s", name, k);
        } else if (strcmp(w, "bias") == 0) {
            size_t n;
            assert_int_equal(fscanf(f, "%zu", &n), 1);
            assert_true(n <= 16);
            for (size_t i = 0; i < n; i++) {
                char v[64];
                assert_int_equal(fscanf(f, "%d %63s", &bias[i].token, v), 2);
                bias[i].bias = parse_num(v);
            }
            par.logit_bias = bias;
            par.n_logit_bias = n;
        } else if (strcmp(w, "prompt") == 0 || strcmp(w, "generated") == 0) {
            bool prompt = w[0] == 'p';
            size_t n;
            assert_int_equal(fscanf(f, "%zu", &n), 1);
            assert_true(n <= 256);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(fscanf(f, "%d", &ids[i]), 1);
            if (prompt) {
                /* the vocabulary size comes with the first logits: keep the ids */
                memmove(ids + 128, ids, n * sizeof *ids);
                ids[255] = (int32_t)n;
            } else {
                ids[254] = (int32_t)n;
            }
        } else if (strcmp(w, "step") == 0) {
            size_t n;
            assert_int_equal(fscanf(f, "%63s %zu", w, &n), 2);
            assert_string_equal(w, "logits");
            if (n != V) {
                free(z);
                z = malloc(n * sizeof *z);
                V = n;
            }
            for (size_t i = 0; i < n; i++) {
                char v[64];
                assert_int_equal(fscanf(f, "%63s", v), 1);
                z[i] = (float)parse_num(v);
            }
            if (!s) {
                char err[TS_ERR_SIZE];
                if (ts_sampler_new(&par, V, &s, err, sizeof err) != TS_OK)
                    fail_msg("%s: %s", name, err);
                assert_int_equal(ts_sampler_accept_prompt(s, ids + 128, (size_t)ids[255]), TS_OK);
                for (int32_t i = 0; i < ids[254]; i++)
                    assert_int_equal(ts_sampler_accept(s, ids[i]), TS_OK);
            }
            const ts_candidate *c;
            size_t nc;
            assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
            double *got = calloc(V, sizeof *got);
            for (size_t i = 0; i < nc; i++)
                got[c[i].id] = c[i].p;
            assert_int_equal(fscanf(f, "%63s", w), 1);
            assert_string_equal(w, "expect");
            for (size_t i = 0; i < V; i++) {
                double e;
                assert_int_equal(fscanf(f, "%lf", &e), 1);
                double d = fabs(got[i] - e);
                double tol = strstr(name, "target_entropy") ? REF_TOL_TARGET : REF_TOL;
                if (d > worst && tol == REF_TOL) worst = d;
                if (!(d <= tol) || ((got[i] > 0) != (e > 0) && (got[i] > 1e-300 || e > 1e-300)))
                    fail_msg("%s step %d token %zu: p %.17g, reference %.17g", name, n_steps, i,
                             got[i], e);
            }
            free(got);
            int32_t acc;
            assert_int_equal(fscanf(f, "%63s %d", w, &acc), 2);
            assert_string_equal(w, "accept");
            if (acc >= 0) assert_int_equal(ts_sampler_accept(s, acc), TS_OK);
            n_steps++;
        } else {
            fail_msg("sampler_ref.txt: unexpected '%s'", w);
        }
    }
    fclose(f);
    ts_sampler_free(s);
    free(z);
    printf("peer references: %d cases, %d applies, worst |dp| %.2e (tolerance %.0e)\n", n_cases,
           n_steps, worst, REF_TOL);
    assert_true(n_cases >= 60);
}

/* Wilson-Hilferty approximation of the chi-square quantile at 1 - 0.001. */
static double chi2_critical_001(int df)
{
    const double zq = 3.090232306167813; /* standard normal 0.999 quantile */
    double a = 2.0 / (9.0 * df);
    double c = 1.0 - a + zq * sqrt(a);
    return df * c * c * c;
}

/* Pearson chi-square of counts against ref (bins with expected < 5 pooled) at p = 0.001;
 * a token with reference probability 0 must never be drawn. */
static void chi2_check(const long *counts, const double *ref, int V, long draws, const char *label)
{
    double chi2 = 0, pool_e = 0, pool_o = 0;
    int bins = 0;
    for (int i = 0; i < V; i++) {
        double e = ref[i] * (double)draws;
        if (ref[i] == 0.0) {
            if (counts[i] != 0)
                fail_msg("%s: token %d has p = 0 but was drawn %ld times", label, i, counts[i]);
            continue;
        }
        if (e < 5) {
            pool_e += e;
            pool_o += (double)counts[i];
            continue;
        }
        chi2 += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
        bins++;
    }
    if (pool_e > 0) {
        chi2 += (pool_o - pool_e) * (pool_o - pool_e) / (pool_e > 1e-9 ? pool_e : 1e-9);
        bins++;
    }
    if (bins >= 2) {
        double crit = chi2_critical_001(bins - 1);
        if (!(chi2 < crit)) fail_msg("%s: chi2 %.2f >= %.2f, df %d", label, chi2, crit, bins - 1);
    }
}

static void chi_square_logits(float *z, int V)
{
    for (int i = 0; i < V; i++)
        z[i] = 3.0f - 0.22f * (float)i + 0.3f * (float)((i * 7) % 5) / 5;
    z[3] = z[4];       /* a tie */
    z[17] = -INFINITY; /* masked */
    z[33] = -INFINITY;
}

static void test_chi_square(void **state)
{
    (void)state;
    enum { V = 40, DRAWS = 200000 };
    float z[V];
    chi_square_logits(z, V);
    size_t ns;
    const ts_sampler_params *ps = settings(&ns);
    for (size_t k = 0; k < ns; k++) {
        double ref[V];
        ref_chain(z, V, &ps[k], ref);
        ts_sampler *s = new_sampler(&ps[k], V);
        long counts[V] = {0};
        for (int d = 0; d < DRAWS; d++) {
            int32_t id = ts_sampler_sample(s, z);
            assert_true(id >= 0 && id < V);
            counts[id]++;
        }
        ts_sampler_free(s);
        char label[128];
        snprintf(label, sizeof label, "setting %zu (%s T=%g k=%d p=%g minp=%g)", k,
                 ts_sampler_order_name(ps[k].order), ps[k].temperature, ps[k].top_k, ps[k].top_p,
                 ps[k].min_p);
        chi2_check(counts, ref, V, DRAWS, label);
    }
}

/*
 * The new truncation steps: 200,000 draws of ts_sampler_sample per setting with a fixed
 * seed against the distribution apply() exposes (itself checked against the peers in
 * test_peer_references). XTC with probability 1/2 is a mixture: half the steps see the
 * XTC distribution, half the plain one (the counter-based coin must be fair).
 */
static void test_chi_square_steps(void **state)
{
    (void)state;
    enum { V = 40, DRAWS = 200000 };
    float z[V];
    chi_square_logits(z, V);
    const int32_t prompt[] = {0, 1, 1, 5, 9}, gen[] = {0, 2, 5, 5};
    ts_sampler_params b = ts_sampler_default_params();
    b.top_k = 0;
    b.seed = 4242;
    ts_sampler_params set[16];
    const char *label[16];
    size_t n = 0;
#define ADD(lbl, ...)                                                                              \
    do {                                                                                           \
        set[n] = b;                                                                                \
        __VA_ARGS__;                                                                               \
        label[n++] = lbl;                                                                          \
    } while (0)
    ADD("hf typical_p 0.5", set[n].typical_p = 0.5, set[n].temperature = 1.3);
    ADD("llama typical_p 0.7", set[n].order = TS_ORDER_LLAMA, set[n].typical_p = 0.7);
    ADD("hf epsilon 0.02", set[n].epsilon_cutoff = 0.02);
    ADD("hf eta 0.03", set[n].eta_cutoff = 0.03, set[n].temperature = 0.8);
    ADD("llama top_n_sigma 1", set[n].order = TS_ORDER_LLAMA, set[n].top_n_sigma = 1.0);
    ADD("llama xtc 1/2", set[n].order = TS_ORDER_LLAMA, set[n].xtc_probability = 0.5,
        set[n].xtc_threshold = 0.06);
    ADD("llama dynatemp", set[n].order = TS_ORDER_LLAMA, set[n].dynatemp_range = 0.7,
        set[n].top_k = 15);
    ADD("hf target_entropy 1.5", set[n].target_entropy = 1.5);
    ADD("hf penalties", set[n].repetition_penalty = 1.4, set[n].presence_penalty = 0.5,
        set[n].frequency_penalty = 0.3, set[n].no_repeat_ngram_size = 2, set[n].top_p = 0.9);
    ADD("llama penalties", set[n].order = TS_ORDER_LLAMA, set[n].repetition_penalty = 1.4,
        set[n].frequency_penalty = 0.3, set[n].penalty_last_n = 4, set[n].min_p = 0.05);
    ADD("llama mirostat 2", set[n].order = TS_ORDER_LLAMA, set[n].mirostat = 2,
        set[n].mirostat_tau = 2.0);
    ADD("hf mirostat 1", set[n].mirostat = 1, set[n].mirostat_tau = 3.0);
#undef ADD
    for (size_t k = 0; k < n; k++) {
        ts_sampler *s = new_sampler(&set[k], V);
        assert_int_equal(ts_sampler_accept_prompt(s, prompt, 5), TS_OK);
        for (int i = 0; i < 4; i++)
            assert_int_equal(ts_sampler_accept(s, gen[i]), TS_OK);
        double ref[V] = {0};
        const ts_candidate *c;
        size_t nc;
        if (set[k].xtc_probability > 0.0 && set[k].xtc_probability < 1.0) {
            /* the mixture: XTC always vs never */
            for (int fire = 0; fire < 2; fire++) {
                ts_sampler_params q = set[k];
                q.xtc_probability = fire ? 1.0 : 0.0;
                ts_sampler *r = new_sampler(&q, V);
                assert_int_equal(ts_sampler_apply(r, z, &c, &nc), TS_OK);
                for (size_t i = 0; i < nc; i++)
                    ref[c[i].id] +=
                        (fire ? set[k].xtc_probability : 1 - set[k].xtc_probability) * c[i].p;
                ts_sampler_free(r);
            }
        } else {
            assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
            for (size_t i = 0; i < nc; i++)
                ref[c[i].id] = c[i].p;
        }
        long counts[V] = {0};
        for (int d = 0; d < DRAWS; d++) {
            int32_t id = ts_sampler_sample(s, z);
            assert_true(id >= 0 && id < V);
            counts[id]++;
        }
        ts_sampler_free(s);
        chi2_check(counts, ref, V, DRAWS, label[k]);
    }
}

/* sample() == pick(apply(), u) with the same uniform stream. */
static void test_sample_is_apply_plus_pick(void **state)
{
    (void)state;
    float *z = malloc(N_VOCAB * sizeof *z);
    fill_logits(z, N_VOCAB, 9, 12.0);
    size_t ns;
    const ts_sampler_params *ps = settings(&ns);
    for (size_t k = 0; k < ns; k++) {
        ts_sampler *a = new_sampler(&ps[k], N_VOCAB), *b = new_sampler(&ps[k], N_VOCAB);
        ts_rng r;
        ts_rng_seed(&r, ps[k].seed);
        for (int i = 0; i < 8; i++) {
            const ts_candidate *c;
            size_t nc;
            assert_int_equal(ts_sampler_apply(b, z, &c, &nc), TS_OK);
            int32_t want = ts_sampler_pick(c, nc, ts_rng_uniform(&r));
            assert_int_equal(ts_sampler_sample(a, z), want);
        }
        /* reseeding replays the stream */
        ts_sampler_reseed(a, 777);
        int32_t x = ts_sampler_sample(a, z);
        ts_sampler_reseed(a, 777);
        assert_int_equal(ts_sampler_sample(a, z), x);
        ts_sampler_free(a);
        ts_sampler_free(b);
    }
    free(z);
}

/*
 * The generator's path: apply_unsorted keeps the same set and p as apply (in any
 * order); draw(u) == pick(apply(), u) for u across [0, 1); rank_head(m) puts the
 * top m of apply's ranking first; last_entropy == -sum p log p within 1e-12;
 * Gumbel-max gives the same token in sorted and shuffled order and equals the
 * argmax of log p + g written out.
 */
static void test_unsorted_draw(void **state)
{
    (void)state;
    float *z = malloc(N_VOCAB * sizeof *z);
    fill_logits(z, N_VOCAB, 9, 12.0);
    size_t ns;
    const ts_sampler_params *ps = settings(&ns);
    ts_candidate *copy = malloc(N_VOCAB * sizeof *copy);
    ts_candidate *sorted = malloc(N_VOCAB * sizeof *sorted);
    double *p_by_id = malloc(N_VOCAB * sizeof *p_by_id);
    assert_non_null(z);
    assert_non_null(copy);
    assert_non_null(sorted);
    assert_non_null(p_by_id);
    static const double us[] = {0.0, 1e-9, 0.25, 0.5, 0.9, 0.999, 0.999999, 1 - 1e-15};
    for (size_t k = 0; k < ns; k++) {
        ts_sampler *a = new_sampler(&ps[k], N_VOCAB), *b = new_sampler(&ps[k], N_VOCAB);
        const ts_candidate *c;
        size_t nc, nu;
        assert_int_equal(ts_sampler_apply(b, z, &c, &nc), TS_OK);
        memcpy(sorted, c, nc * sizeof *c);
        double h = 0.0;
        for (size_t i = 0; i < nc; i++)
            if (c[i].p > 0) h -= c[i].p * log(c[i].p);
        assert_true(fabs(ts_sampler_last_entropy(b) - h) <= 1e-12 * (1 + h));
        for (size_t u = 0; u < sizeof us / sizeof us[0]; u++) {
            const ts_candidate *cu;
            assert_int_equal(ts_sampler_apply_unsorted(a, z, &cu, &nu), TS_OK);
            assert_int_equal(nu, nc);
            /* the same set with the same p */
            for (size_t i = 0; i < N_VOCAB; i++)
                p_by_id[i] = -1;
            for (size_t i = 0; i < nu; i++)
                p_by_id[cu[i].id] = cu[i].p;
            for (size_t i = 0; i < nc; i++)
                assert_true(p_by_id[sorted[i].id] == sorted[i].p);
            assert_true(fabs(ts_sampler_last_entropy(a) - h) <= 1e-12 * (1 + h));
            /* Gumbel-max ignores the order */
            memcpy(copy, cu, nu * sizeof *cu);
            int32_t g_unsorted = ts_gumbel_pick(copy, nu, 5, 1, u);
            assert_int_equal(g_unsorted, ts_gumbel_pick(sorted, nc, 5, 1, u));
            int32_t g_ref = -1;
            double best = -INFINITY;
            for (size_t i = 0; i < nc; i++) {
                if (!(sorted[i].p > 0)) continue;
                double v = log(sorted[i].p) + ts_gumbel_noise(5, 1, u, sorted[i].id);
                if (v > best) best = v, g_ref = sorted[i].id;
            }
            assert_int_equal(g_unsorted, g_ref);
            assert_int_equal(ts_sampler_draw(a, us[u]), ts_sampler_pick(sorted, nc, us[u]));
        }
        /* rank_head: the first m are apply's first m */
        const ts_candidate *cu;
        assert_int_equal(ts_sampler_apply_unsorted(a, z, &cu, &nu), TS_OK);
        size_t m = nc < 20 ? nc : 20;
        assert_int_equal(ts_sampler_rank_head(a, 20), m);
        for (size_t i = 0; i < m; i++)
            assert_int_equal(cu[i].id, sorted[i].id);
        ts_sampler_free(a);
        ts_sampler_free(b);
    }
    free(p_by_id);
    free(sorted);
    free(copy);
    free(z);
}

static void test_no_allocation(void **state)
{
    (void)state;
    float *z = malloc(N_VOCAB * sizeof *z);
    fill_logits(z, N_VOCAB, 4, 20.0);
    size_t ns;
    const ts_sampler_params *ps = settings(&ns);
    for (size_t k = 0; k < ns; k++) {
        ts_sampler *s = new_sampler(&ps[k], N_VOCAB);
        const ts_candidate *c;
        size_t nc;
        n_allocs = 0;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
            assert_true(ts_sampler_sample(s, z) >= 0);
        }
        int seen = n_allocs;
        ts_sampler_free(s);
        assert_int_equal(seen, 0);
    }
    /* every step, both orders, Mirostat, target entropy: apply / sample / accept /
     * accept_prompt / suppress / reset never allocate */
    const ts_logit_bias bias[2] = {{10, 1.5}, {20, -INFINITY}};
    const int32_t prompt[6] = {5, 6, 7, 5, 6, 8};
    for (int v = 0; v < 8; v++) {
        ts_sampler_params q = ts_sampler_default_params();
        q.order = v % 2 ? TS_ORDER_LLAMA : TS_ORDER_HF;
        q.logit_bias = bias;
        q.n_logit_bias = 2;
        q.repetition_penalty = 1.2;
        q.presence_penalty = 0.3;
        q.frequency_penalty = 0.2;
        q.no_repeat_ngram_size = 2;
        if (v < 2) {
            q.typical_p = 0.95, q.epsilon_cutoff = 1e-4, q.eta_cutoff = 1e-4, q.top_n_sigma = 3.0;
            q.xtc_probability = 0.5, q.xtc_threshold = 0.01, q.top_p = 0.9, q.min_p = 0.01;
            q.dynatemp_range = 0.5;
        } else if (v < 4) {
            q.target_entropy = 2.0, q.top_k = 0;
        } else if (v < 6) {
            q.mirostat = 1;
        } else {
            q.mirostat = 2, q.temperature = 0.0;
        }
        ts_sampler *s = new_sampler(&q, N_VOCAB);
        const ts_candidate *c;
        size_t nc;
        n_allocs = 0;
        ts_sampler_reset(s);
        assert_int_equal(ts_sampler_accept_prompt(s, prompt, 6), TS_OK);
        for (int i = 0; i < 3; i++) {
            ts_sampler_suppress(s, i == 1 ? 50256 : -1);
            assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
            assert_int_equal(ts_sampler_accept(s, c[0].id), TS_OK);
            int32_t id = ts_sampler_sample(s, z);
            assert_true(id >= 0);
            assert_int_equal(ts_sampler_accept(s, id), TS_OK);
        }
        int seen = n_allocs;
        ts_sampler_free(s);
        if (seen != 0) fail_msg("variant %d allocated %d times", v, seen);
    }
    /* the counter works */
    n_allocs = 0;
    ts_sampler *s = new_sampler(&ps[0], 10);
    assert_true(n_allocs > 0);
    ts_sampler_free(s);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),           cmocka_unit_test(test_pick),
        cmocka_unit_test(test_top_k_ties),       cmocka_unit_test(test_greedy_both_orders),
        cmocka_unit_test(test_order_matters),    cmocka_unit_test(test_large_vocab_exact),
        cmocka_unit_test(test_chi_square),       cmocka_unit_test(test_sample_is_apply_plus_pick),
        cmocka_unit_test(test_no_allocation),    cmocka_unit_test(test_peer_references),
        cmocka_unit_test(test_chi_square_steps), cmocka_unit_test(test_param_messages),
        cmocka_unit_test(test_unsorted_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
