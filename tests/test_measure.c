/*
 * test_measure.c — text measurements, trace and map.
 *   - diversity figures, per-sample self-BLEU-4 / seq-rep-4, bootstrap intervals and the
 *     divergence curve against tools/science_oracle.py --text (science_text.json: an
 *     NLTK-faithful sentence_bleu + method1, numpy, the same PCG32 resamples): 1e-12;
 *   - identical samples (what T = 0 gives): distinct-n of one text, self-BLEU 1, curve 1;
 *   - property: samples drawn at T = 1 from a known Markov chain have NLL (under T = 1)
 *     equal to the entropy within the bootstrap interval (paired difference contains 0);
 *     at T = 0.5 the NLL is lower than at T = 1 and at T = 2 higher;
 *   - map grid vs science_map.json (numpy, full sort): support exact, entropy / mass 1e-9;
 *     and vs ts_sampler_apply on 50,257 logits for every cell, both orders: the same
 *     kept set size, entropy and mass 1e-9;
 *   - trace vs science_map.json (scipy brentq for the top-p threshold: 1e-9 relative),
 *     and vs the sampler just above / below each threshold, both orders.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

/* ---- allocation counter (tests/science.cmake links with --wrap) ----------- */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static long n_allocs;
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

static char path_buf[4096];
static const char *data_path(const char *name)
{
    const char *dir = getenv("TS_TEST_DATA");
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir ? dir : "tests/data", name);
    return path_buf;
}

static cJSON *load_json(const char *name)
{
    char err[TS_ERR_SIZE], *text;
    size_t len;
    if (ts_read_file(data_path(name), &text, &len, err, sizeof err) != TS_OK) fail_msg("%s", err);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) fail_msg("%s: bad JSON", name);
    return j;
}

static const cJSON *jget(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) fail_msg("reference: no key %s", key);
    return v;
}

static double jnum(const cJSON *v)
{
    if (cJSON_IsString(v) && strcmp(v->valuestring, "inf") == 0) return INFINITY;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "-inf") == 0) return -INFINITY;
    if (cJSON_IsNull(v)) return NAN;
    if (!cJSON_IsNumber(v)) fail_msg("reference: not a number");
    return v->valuedouble;
}

static void near(double got, double want, double tol, const char *what)
{
    if (isnan(want) && isnan(got)) return;
    if (isinf(want) && got == want) return;
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.15g, reference %.15g (diff %.3g > %.1g)", what, got, want,
                 fabs(got - want), tol);
}

static void check_iv(const ts_interval *iv, const cJSON *o, double tol, const char *what)
{
    if (cJSON_IsNull(o)) {
        assert_true(isnan(iv->estimate));
        return;
    }
    char w[96];
    snprintf(w, sizeof w, "%s estimate", what);
    near(iv->estimate, jnum(jget(o, "estimate")), tol, w);
    snprintf(w, sizeof w, "%s lo", what);
    near(iv->lo, jnum(jget(o, "lo")), tol, w);
    snprintf(w, sizeof w, "%s hi", what);
    near(iv->hi, jnum(jget(o, "hi")), tol, w);
    assert_int_equal(iv->n_valid, (int)jnum(jget(o, "n_valid")));
}

/* ---- diversity -------------------------------------------------------------- */

typedef struct owned_set {
    ts_sample_set s;
    int32_t *tok;
    size_t *off;
    double *lp, *ent;
    bool *eot;
} owned_set;

static void set_from_json(const cJSON *c, owned_set *o)
{
    const cJSON *samples = jget(c, "samples"), *lp = jget(c, "logprob"), *en = jget(c, "entropy"),
                *eot = jget(c, "ended_eot");
    size_t N = (size_t)cJSON_GetArraySize(samples), total = 0;
    for (size_t j = 0; j < N; j++)
        total += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(samples, (int)j));
    o->tok = malloc((total + 1) * sizeof *o->tok);
    o->lp = malloc((total + 1) * sizeof *o->lp);
    o->ent = malloc((total + 1) * sizeof *o->ent);
    o->off = malloc((N + 1) * sizeof *o->off);
    o->eot = malloc(N * sizeof *o->eot);
    size_t at = 0;
    o->off[0] = 0;
    for (size_t j = 0; j < N; j++) {
        const cJSON *x = cJSON_GetArrayItem(samples, (int)j);
        for (int i = 0; i < cJSON_GetArraySize(x); i++, at++) {
            o->tok[at] = cJSON_GetArrayItem(x, i)->valueint;
            o->lp[at] = cJSON_GetArrayItem(cJSON_GetArrayItem(lp, (int)j), i)->valuedouble;
            o->ent[at] = cJSON_GetArrayItem(cJSON_GetArrayItem(en, (int)j), i)->valuedouble;
        }
        o->off[j + 1] = at;
        o->eot[j] = cJSON_IsTrue(cJSON_GetArrayItem(eot, (int)j));
    }
    o->s = (ts_sample_set){N, o->tok, o->off, o->lp, o->ent, o->eot};
}

static void free_set(owned_set *o)
{
    free(o->tok);
    free(o->off);
    free(o->lp);
    free(o->ent);
    free(o->eot);
}

static void test_diversity_vs_reference(void **state)
{
    (void)state;
    cJSON *ref = load_json("science_text.json");
    const cJSON *c;
    char err[TS_ERR_SIZE];
    int n_cases = 0;
    cJSON_ArrayForEach(c, jget(ref, "cases"))
    {
        owned_set o;
        set_from_json(c, &o);
        const size_t N = o.s.n_samples;
        double bleu[64], rep[64];
        assert_true(N <= 64);
        assert_int_equal(ts_diversity_per_sample(&o.s, bleu, rep, err, sizeof err), TS_OK);
        for (size_t j = 0; j < N; j++) {
            near(bleu[j], jnum(cJSON_GetArrayItem(jget(c, "self_bleu4"), (int)j)), 1e-12,
                 "self-BLEU-4 of a sample");
            near(rep[j], jnum(cJSON_GetArrayItem(jget(c, "repetition4"), (int)j)), 1e-12,
                 "seq-rep-4 of a sample");
        }
        ts_bootstrap_params bp = ts_bootstrap_default_params();
        bp.seed = (uint64_t)jnum(jget(c, "seed"));
        bp.n_resamples = (int32_t)jnum(jget(c, "n_resamples"));
        ts_diversity d;
        assert_int_equal(ts_diversity_measure(&o.s, &bp, &d, err, sizeof err), TS_OK);
        const cJSON *f = jget(c, "figures");
        check_iv(&d.distinct[0], jget(f, "distinct1"), 1e-12, "distinct-1");
        check_iv(&d.distinct[1], jget(f, "distinct2"), 1e-12, "distinct-2");
        check_iv(&d.distinct[2], jget(f, "distinct3"), 1e-12, "distinct-3");
        check_iv(&d.self_bleu4, jget(f, "self_bleu4"), 1e-12, "self-BLEU-4");
        check_iv(&d.repetition4, jget(f, "repetition4"), 1e-12, "seq-rep-4");
        check_iv(&d.nll, jget(f, "nll"), 1e-12, "NLL");
        check_iv(&d.entropy, jget(f, "entropy"), 1e-12, "entropy");
        check_iv(&d.eot_share, jget(f, "eot_share"), 1e-12, "EOT share");
        print_message("case %d: %zu samples, distinct-2 %.4f [%.4f, %.4f], self-BLEU %.4f [%.4f, "
                      "%.4f]\n",
                      n_cases, N, d.distinct[1].estimate, d.distinct[1].lo, d.distinct[1].hi,
                      d.self_bleu4.estimate, d.self_bleu4.lo, d.self_bleu4.hi);
        /* divergence curve */
        const cJSON *g = jget(c, "greedy");
        int32_t greedy[64];
        size_t ng = (size_t)cJSON_GetArraySize(g);
        for (size_t i = 0; i < ng; i++)
            greedy[i] = cJSON_GetArrayItem(g, (int)i)->valueint;
        size_t K = (size_t)jnum(jget(c, "max_k")), cp[64];
        ts_interval curve[64];
        assert_int_equal(ts_divergence_curve(greedy, ng, &o.s, K, &bp, curve, cp, err, sizeof err),
                         TS_OK);
        for (size_t k = 0; k <= K; k++)
            check_iv(&curve[k], cJSON_GetArrayItem(jget(c, "curve"), (int)k), 1e-12, "curve");
        for (size_t j = 0; j < N; j++) {
            const cJSON *x = cJSON_GetArrayItem(jget(c, "common_prefix"), (int)j);
            if (cJSON_IsNull(x))
                assert_true(cp[j] == SIZE_MAX);
            else
                assert_int_equal(cp[j], x->valueint);
        }
        free_set(&o);
        n_cases++;
    }
    assert_int_equal(n_cases, 3);
    cJSON_Delete(ref);
}

/* T = 0 gives N copies of one text: distinct-n of that text, self-BLEU 1, never diverges. */
static void test_identical_samples(void **state)
{
    (void)state;
    const int32_t text[10] = {5, 6, 7, 5, 6, 7, 8, 9, 5, 6};
    int32_t tok[40];
    size_t off[5];
    for (int j = 0; j < 4; j++) {
        memcpy(tok + 10 * j, text, sizeof text);
        off[j] = 10 * (size_t)j;
    }
    off[4] = 40;
    ts_sample_set s = {4, tok, off, NULL, NULL, NULL};
    ts_sample_set one = {1, tok, off, NULL, NULL, NULL};
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    ts_diversity d, d1;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_diversity_measure(&s, &bp, &d, err, sizeof err), TS_OK);
    assert_int_equal(ts_diversity_measure(&one, &bp, &d1, err, sizeof err), TS_OK);
    /* one text: 5 unique unigrams of 10; the four copies have the same unique n-grams over 4x the
     * occurrences, so distinct-n over copies is a quarter of the single text's */
    near(d1.distinct[0].estimate, 5.0 / 10, 1e-15, "distinct-1 of one text");
    near(d1.distinct[1].estimate, 6.0 / 9, 1e-15, "distinct-2 of one text");
    near(d.distinct[0].estimate, 5.0 / 40, 1e-15, "distinct-1 of 4 copies");
    near(d.self_bleu4.estimate, 1.0, 1e-15, "self-BLEU of copies");
    near(d.self_bleu4.lo, 1.0, 1e-15, "self-BLEU lo");
    assert_true(isnan(d1.self_bleu4.estimate)); /* no other sample */
    assert_true(isnan(d.nll.estimate) && isnan(d.eot_share.estimate));
    /* seq-rep-4 of the text: 7 4-grams, all distinct */
    near(d.repetition4.estimate, 0.0, 1e-15, "seq-rep-4");
    ts_interval curve[12];
    size_t cp[4];
    assert_int_equal(ts_divergence_curve(text, 10, &s, 11, &bp, curve, cp, err, sizeof err), TS_OK);
    for (int k = 0; k <= 11; k++)
        near(curve[k].estimate, 1.0, 0, "curve of copies");
    assert_true(cp[0] == SIZE_MAX);
    /* bad input */
    size_t bad_off[3] = {0, 5, 2};
    ts_sample_set bad = {2, tok, bad_off, NULL, NULL, NULL};
    assert_int_equal(ts_diversity_measure(&bad, &bp, &d, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "offsets"));
}

/* ---- property: NLL of T = 1 samples = entropy ---------------------------------- */

enum { MV = 50, STEPS = 40, NS = 300 };

/* A Markov chain: the next-token logits depend on the previous token. */
static void chain_logits(float z[MV][MV])
{
    ts_rng rng;
    ts_rng_seed(&rng, 99);
    for (int a = 0; a < MV; a++)
        for (int b = 0; b < MV; b++) {
            double u1 = ts_rng_uniform(&rng), u2 = ts_rng_uniform(&rng);
            z[a][b] = (float)(2.0 * sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2));
        }
}

/* Draw NS samples at temperature T; logprob under T = 1 and entropy of T = 1. */
static void draw_chain(float z[MV][MV], double T, ts_sample_set *s, int32_t *tok, size_t *off,
                       double *lp, double *ent)
{
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = T;
    sp.top_k = 0;
    sp.seed = 2026;
    ts_sampler *smp;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_sampler_new(&sp, MV, &smp, err, sizeof err), TS_OK);
    double logp[MV];
    size_t at = 0;
    for (int j = 0; j < NS; j++) {
        off[j] = at;
        int32_t prev = j % MV;
        for (int t = 0; t < STEPS; t++, at++) {
            int32_t x = ts_sampler_sample(smp, z[prev]);
            assert_true(x >= 0);
            assert_int_equal(ts_log_softmax(z[prev], MV, 1.0, logp), TS_OK);
            tok[at] = x;
            lp[at] = logp[x];
            ent[at] = 0;
            for (int b = 0; b < MV; b++)
                ent[at] -= exp(logp[b]) * logp[b];
            prev = x;
        }
    }
    off[NS] = at;
    ts_sampler_free(smp);
    *s = (ts_sample_set){NS, tok, off, lp, ent, NULL};
}

static void test_nll_matches_entropy_at_t1(void **state)
{
    (void)state;
    static float z[MV][MV];
    static int32_t tok[NS * STEPS];
    static size_t off[NS + 1];
    static double lp[NS * STEPS], ent[NS * STEPS];
    chain_logits(z);
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.seed = 5;
    char err[TS_ERR_SIZE];
    double nll_at[3];
    const double temps[3] = {0.5, 1.0, 2.0};
    for (int ti = 0; ti < 3; ti++) {
        ts_sample_set s;
        draw_chain(z, temps[ti], &s, tok, off, lp, ent);
        ts_diversity d;
        assert_int_equal(ts_diversity_measure(&s, &bp, &d, err, sizeof err), TS_OK);
        nll_at[ti] = d.nll.estimate;
        if (temps[ti] != 1.0) continue;
        /* paired: per-sample sum of (nll - entropy) over its tokens */
        static double num[NS], den[NS];
        for (int j = 0; j < NS; j++) {
            num[j] = 0;
            for (size_t p = off[j]; p < off[j + 1]; p++)
                num[j] += -lp[p] - ent[p];
            den[j] = (double)(off[j + 1] - off[j]);
        }
        ts_interval diff;
        assert_int_equal(ts_bootstrap_ratio(num, den, NS, 1, &bp, &diff, err, sizeof err), TS_OK);
        print_message("T = 1: NLL %.4f [%.4f, %.4f], entropy %.4f; paired NLL - H = %.4f [%.4f, "
                      "%.4f]\n",
                      d.nll.estimate, d.nll.lo, d.nll.hi, d.entropy.estimate, diff.estimate,
                      diff.lo, diff.hi);
        assert_true(d.nll.lo <= d.entropy.estimate && d.entropy.estimate <= d.nll.hi);
        assert_true(diff.lo <= 0 && 0 <= diff.hi);
    }
    print_message("NLL under T = 1 of samples drawn at T = 0.5, 1, 2: %.4f %.4f %.4f\n", nll_at[0],
                  nll_at[1], nll_at[2]);
    assert_true(nll_at[0] < nll_at[1] && nll_at[1] < nll_at[2]);
}

/* ---- map ---------------------------------------------------------------------- */

static float *ref_logits(const cJSON *ref, size_t *n)
{
    const cJSON *l = jget(ref, "logits");
    *n = (size_t)cJSON_GetArraySize(l);
    float *z = malloc(*n * sizeof *z);
    for (size_t i = 0; i < *n; i++)
        z[i] = (float)jnum(cJSON_GetArrayItem(l, (int)i));
    return z;
}

static void test_map_vs_reference(void **state)
{
    (void)state;
    cJSON *ref = load_json("science_map.json");
    size_t n;
    float *z = ref_logits(ref, &n);
    const cJSON *jt = jget(ref, "temperatures");
    size_t nt = (size_t)cJSON_GetArraySize(jt);
    double temps[16];
    for (size_t t = 0; t < nt; t++)
        temps[t] = jnum(cJSON_GetArrayItem(jt, (int)t));
    const char *axes[3] = {"top_p", "min_p", "top_k"};
    const ts_map_axis ax[3] = {TS_MAP_TOP_P, TS_MAP_MIN_P, TS_MAP_TOP_K};
    char err[TS_ERR_SIZE];
    int cells = 0;
    for (int a = 0; a < 3; a++) {
        const cJSON *g = jget(jget(ref, "grids"), axes[a]);
        const cJSON *jv = jget(g, "values");
        size_t nv = (size_t)cJSON_GetArraySize(jv);
        double vals[16];
        for (size_t v = 0; v < nv; v++)
            vals[v] = jnum(cJSON_GetArrayItem(jv, (int)v));
        ts_map_cell hf[256], ll[256];
        assert_int_equal(ts_map_grid(z, n, temps, nt, ax[a], vals, nv, hf, ll, err, sizeof err),
                         TS_OK);
        for (size_t i = 0; i < nt * nv; i++) {
            const cJSON *rh = cJSON_GetArrayItem(jget(g, "hf"), (int)i);
            const cJSON *rl = cJSON_GetArrayItem(jget(g, "llama"), (int)i);
            assert_int_equal(hf[i].support, (size_t)jnum(jget(rh, "support")));
            assert_int_equal(ll[i].support, (size_t)jnum(jget(rl, "support")));
            near(hf[i].entropy, jnum(jget(rh, "entropy")), 1e-9, "map HF entropy");
            near(ll[i].entropy, jnum(jget(rl, "entropy")), 1e-9, "map llama entropy");
            near(hf[i].mass, jnum(jget(rh, "mass")), 1e-9, "map HF mass");
            near(ll[i].mass, jnum(jget(rl, "mass")), 1e-9, "map llama mass");
            cells += 2;
        }
    }
    print_message("map: %d cells equal to the numpy reference\n", cells);
    free(z);
    cJSON_Delete(ref);
}

/* Every cell against the sampler itself, on a GPT-2-sized vocabulary. */
static void test_map_agrees_with_sampler(void **state)
{
    (void)state;
    enum { V = 50257 };
    float *z = malloc(V * sizeof *z);
    double *probs = malloc(V * sizeof *probs);
    ts_rng rng;
    ts_rng_seed(&rng, 31);
    for (size_t i = 0; i < V; i++) {
        double u1 = ts_rng_uniform(&rng), u2 = ts_rng_uniform(&rng);
        z[i] = (float)(3.0 * sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2));
    }
    z[123] = z[456]; /* a tie */
    z[7] = -INFINITY;
    const double temps[7] = {0, 0.3, 0.7, 1.0, 1.5, 3.0, INFINITY};
    const double vp[5] = {0.1, 0.5, 0.9, 0.95, 1.0}, vm[5] = {0, 0.01, 0.05, 0.2, 0.5},
                 vk[5] = {0, 1, 5, 50, 1000};
    const double *vals[3] = {vp, vm, vk};
    const ts_map_axis ax[3] = {TS_MAP_TOP_P, TS_MAP_MIN_P, TS_MAP_TOP_K};
    char err[TS_ERR_SIZE];
    ts_map_cell cells[2][35];
    double worst = 0;
    for (int a = 0; a < 3; a++) {
        assert_int_equal(
            ts_map_grid(z, V, temps, 7, ax[a], vals[a], 5, cells[0], cells[1], err, sizeof err),
            TS_OK);
        for (int o = 0; o < 2; o++)
            for (int t = 0; t < 7; t++)
                for (int v = 0; v < 5; v++) {
                    ts_sampler_params sp = ts_sampler_default_params();
                    sp.temperature = temps[t];
                    sp.top_k = ax[a] == TS_MAP_TOP_K ? (int32_t)vals[a][v] : 0;
                    sp.top_p = ax[a] == TS_MAP_TOP_P ? vals[a][v] : 1.0;
                    sp.min_p = ax[a] == TS_MAP_MIN_P ? vals[a][v] : 0.0;
                    sp.order = o ? TS_ORDER_LLAMA : TS_ORDER_HF;
                    ts_sampler *s;
                    assert_int_equal(ts_sampler_new(&sp, V, &s, err, sizeof err), TS_OK);
                    const ts_candidate *c;
                    size_t nc;
                    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
                    const ts_map_cell *m = &cells[o][t * 5 + v];
                    if (m->support != nc)
                        fail_msg("%s %s T=%g value %g: map keeps %zu, sampler %zu",
                                 o ? "llama" : "hf",
                                 a == 0   ? "top-p"
                                 : a == 1 ? "min-p"
                                          : "top-k",
                                 temps[t], vals[a][v], m->support, nc);
                    double h = 0, mass = 0;
                    for (size_t i = 0; i < nc; i++)
                        if (c[i].p > 0) h -= c[i].p * log(c[i].p);
                    assert_int_equal(ts_softmax(z, V, temps[t], probs), TS_OK);
                    for (size_t i = 0; i < nc; i++)
                        mass += probs[c[i].id];
                    near(m->entropy, h, 1e-9, "entropy vs sampler");
                    near(m->mass, mass, 1e-9, "mass vs sampler");
                    worst = fmax(worst, fmax(fabs(m->entropy - h), fabs(m->mass - mass)));
                    ts_sampler_free(s);
                }
    }
    print_message("map vs ts_sampler_apply: 210 cells, same support, max |diff| %.2e\n", worst);
    /* bad values */
    double bad = 1.5;
    assert_int_equal(
        ts_map_grid(z, V, temps, 1, TS_MAP_TOP_P, &bad, 1, cells[0], NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_non_null(strstr(err, "top-p"));
    bad = 2.5;
    assert_int_equal(
        ts_map_grid(z, V, temps, 1, TS_MAP_TOP_K, &bad, 1, cells[0], NULL, err, sizeof err),
        TS_ERR_INVALID);
    free(z);
    free(probs);
}

/* ---- trace ---------------------------------------------------------------------- */

static bool sampler_keeps(const float *z, size_t n, int32_t tok, double T, ts_sampler_order order,
                          const ts_truncation *tr)
{
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = T;
    sp.top_k = tr->top_k;
    sp.top_p = tr->top_p;
    sp.min_p = tr->min_p;
    sp.order = order;
    ts_sampler *s;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_sampler_new(&sp, n, &s, err, sizeof err), TS_OK);
    const ts_candidate *c;
    size_t nc;
    assert_int_equal(ts_sampler_apply(s, z, &c, &nc), TS_OK);
    bool found = false;
    for (size_t i = 0; i < nc; i++)
        found = found || c[i].id == tok;
    ts_sampler_free(s);
    return found;
}

static void test_trace(void **state)
{
    (void)state;
    cJSON *ref = load_json("science_map.json");
    size_t n;
    float *z = ref_logits(ref, &n);
    const cJSON *t;
    char err[TS_ERR_SIZE];
    int checked = 0, thresholds = 0;
    cJSON_ArrayForEach(t, jget(ref, "traces"))
    {
        int32_t tok = (int32_t)jnum(jget(t, "token"));
        ts_truncation tr = {(int32_t)jnum(jget(t, "top_k")), jnum(jget(t, "top_p")),
                            jnum(jget(t, "min_p"))};
        ts_token_trace tt;
        assert_int_equal(ts_trace_token(z, n, tok, 1.3, &tr, &tt, err, sizeof err), TS_OK);
        assert_int_equal(tt.rank, (size_t)jnum(jget(t, "rank")));
        near(tt.surprisal, jnum(jget(t, "surprisal")), 1e-9, "surprisal");
        near(tt.entropy, jnum(jget(t, "entropy")), 1e-9, "entropy");
        double want = jnum(jget(t, "t_min_hf"));
        near(tt.t_min_hf, want, 1e-9 * (isinf(want) ? 1 : fmax(want, 1e-300)), "t_min_hf");
        assert_int_equal(tt.survives_llama, cJSON_IsTrue(jget(t, "survives_llama")));
        assert_true(tt.llama_t_independent);
        /* the sampler itself, just above and below the threshold (HF), at two T (llama) */
        if (tt.t_min_hf > 0 && isfinite(tt.t_min_hf)) {
            assert_true(sampler_keeps(z, n, tok, tt.t_min_hf * (1 + 1e-6), TS_ORDER_HF, &tr));
            assert_false(sampler_keeps(z, n, tok, tt.t_min_hf * (1 - 1e-6), TS_ORDER_HF, &tr));
            thresholds++;
        } else if (tt.t_min_hf == 0) {
            assert_true(sampler_keeps(z, n, tok, 0.05, TS_ORDER_HF, &tr));
            assert_true(sampler_keeps(z, n, tok, 50, TS_ORDER_HF, &tr));
        } else {
            assert_false(sampler_keeps(z, n, tok, 1e4, TS_ORDER_HF, &tr));
            assert_false(sampler_keeps(z, n, tok, 1.0, TS_ORDER_HF, &tr));
        }
        assert_int_equal(tt.survives_hf, sampler_keeps(z, n, tok, 1.3, TS_ORDER_HF, &tr));
        for (double T = 0.2; T < 10; T *= 3)
            assert_int_equal(tt.survives_llama, sampler_keeps(z, n, tok, T, TS_ORDER_LLAMA, &tr));
        checked++;
    }
    print_message("trace: %d (token, truncation) cases, %d finite thresholds bracketed by the "
                  "sampler\n",
                  checked, thresholds);
    assert_true(thresholds >= 5);
    /* a trace runs once per token of a text: it must not allocate */
    ts_token_trace tt;
    ts_truncation trp = {40, 0.9, 0.01};
    long before = n_allocs;
    ts_map_cell probe_cell;
    double one_t = 1, one_v = 0.5;
    assert_int_equal(
        ts_map_grid(z, n, &one_t, 1, TS_MAP_TOP_P, &one_v, 1, &probe_cell, NULL, err, sizeof err),
        TS_OK);
    assert_true(n_allocs > before); /* the counter works: the map allocates its sort */
    before = n_allocs;
    for (int32_t tok = 0; tok < 20; tok++)
        assert_int_equal(
            ts_trace_token(z, n, tok == 500 ? 501 : tok, 0.7, &trp, &tt, err, sizeof err), TS_OK);
    assert_true(n_allocs == before);
    /* T = 0 and inf; bad input */
    int32_t top = (int32_t)ts_argmax(z, n);
    assert_int_equal(ts_trace_token(z, n, top, 0, NULL, &tt, err, sizeof err), TS_OK);
    assert_true(tt.surprisal_t == 0 && tt.entropy_t == 0 && tt.survives_hf && tt.rank == 1);
    assert_int_equal(ts_trace_token(z, n, 3, INFINITY, NULL, &tt, err, sizeof err), TS_OK);
    near(tt.surprisal_t, log((double)(n - 1)), 1e-12, "uniform surprisal");
    assert_int_equal(ts_trace_token(z, n, 500, 1, NULL, &tt, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "masked"));
    ts_truncation bad = {0, 0, 0};
    assert_int_equal(ts_trace_token(z, n, 3, 1, &bad, &tt, err, sizeof err), TS_ERR_INVALID);
    free(z);
    cJSON_Delete(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diversity_vs_reference),    cmocka_unit_test(test_identical_samples),
        cmocka_unit_test(test_nll_matches_entropy_at_t1), cmocka_unit_test(test_map_vs_reference),
        cmocka_unit_test(test_map_agrees_with_sampler),   cmocka_unit_test(test_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
