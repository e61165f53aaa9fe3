/*
 * test_gen_model.c — the generator on the bundled model (models/tiny-shakespeare,
 * n_positions 256):
 *   - log-probabilities: every value of every step (raw and processed logprob,
 *     both entropies, top-5 in both) recomputed here from the logits of a second
 *     context that replays the same tokens, with a naive HF-style chain
 *     (repetition penalty on prompt + generated, / T, sort, top-k, softmax);
 *     tolerance 1e-9;
 *   - stop strings across token boundaries (the text is the greedy text cut before
 *     the first occurrence; the streamed text never contains it; a held prefix
 *     that never completes is released at the end);
 *   - min_new_tokens and ignore_eos (<|endoftext|> forced by a logit bias);
 *   - the context window: stop at the window (known or learned), context_shift,
 *     a prompt longer than the window (error naming both sizes / kept tail);
 *   - one prefill for many runs; determinism of coupled (Gumbel) runs with every
 *     step on;
 *   - Mirostat v2 over 500 steps keeps the mean surprisal within 10 % of tau;
 *   - no allocation in ts_generator_run (malloc wrapped at link time).
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

/* ---- allocation counter (tests/sampling.cmake links with --wrap) ---------- */
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

static ts_model *model;
static const ts_tokenizer *tok;
static size_t V;
static int32_t eot;

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("TS_SOURCE_DIR");
    if (!src) return -1;
    char path[4096], err[TS_ERR_SIZE];
    snprintf(path, sizeof path, "%s/models/tiny-shakespeare", src);
    ts_model_params mp = ts_model_default_params();
    mp.n_threads = 1; /* the replaying context must see bit-identical logits */
    if (ts_model_load(path, &mp, &model, err, sizeof err) != TS_OK) {
        fprintf(stderr, "cannot load the bundled model: %s\n", err);
        return -1;
    }
    tok = ts_model_tokenizer(model);
    V = (size_t)ts_model_get_info(model)->n_vocab;
    eot = ts_tokenizer_eot(tok);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_model_free(model);
    return 0;
}

static ts_context *new_ctx(int n_ctx)
{
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = 1;
    ts_context *c = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_context_new(model, &cp, &c, err, sizeof err), TS_OK);
    return c;
}

static size_t encode(const char *text, int32_t *ids, size_t cap)
{
    size_t n = 0;
    assert_int_equal(ts_tokenizer_encode(tok, text, strlen(text), 0, ids, cap, &n), TS_OK);
    return n;
}

/* What the callback records (static: the callback must not allocate). */
#define MAX_STEPS 600
typedef struct rec {
    size_t n;
    ts_gen_step step[MAX_STEPS];
    ts_token_logprob top_raw[MAX_STEPS][5], top[MAX_STEPS][5];
    char text[16384];
    size_t len;
    int stop_after; /* callback returns 1 after this many steps (0 = never) */
} rec;
static rec R, R2;

static int record(const ts_gen_step *s, void *user)
{
    rec *r = user;
    if (r->n < MAX_STEPS) {
        r->step[r->n] = *s;
        for (size_t i = 0; i < s->n_top_raw && i < 5; i++)
            r->top_raw[r->n][i] = s->top_raw[i];
        for (size_t i = 0; i < s->n_top && i < 5; i++)
            r->top[r->n][i] = s->top[i];
        r->n++;
    }
    if (r->len + s->text_len < sizeof r->text) {
        memcpy(r->text + r->len, s->text, s->text_len);
        r->len += s->text_len;
        r->text[r->len] = '\0';
    }
    return r->stop_after && (int)r->n >= r->stop_after;
}

static void run_gen(ts_generator *g, const ts_sampler_params *sp, const ts_gen_params *gp, rec *r,
                    ts_gen_result *res)
{
    ts_sampler *s = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_sampler_new(sp, V, &s, err, sizeof err), TS_OK);
    memset(r, 0, sizeof *r);
    if (ts_generator_run(g, s, gp, record, r, res, err, sizeof err) != TS_OK) fail_msg("%s", err);
    ts_sampler_free(s);
}

/* ---- logprobs -------------------------------------------------------------- */

static const float *g_sort;
static int cmp_desc(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_sort[x] != g_sort[y]) return g_sort[x] > g_sort[y] ? -1 : 1;
    return (x > y) - (x < y);
}

static void test_logprobs_recomputed(void **state)
{
    (void)state;
    ts_context *ctx = new_ctx(0), *replay = new_ctx(0);
    ts_generator *g = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_generator_new(ctx, tok, V, &g, err, sizeof err), TS_OK);
    int32_t prompt[64];
    size_t np = encode("ROMEO:\nWhat light through yonder window", prompt, 64);
    assert_int_equal(ts_generator_set_prompt(g, prompt, np, err, sizeof err), TS_OK);
    ts_sampler_params sp = ts_sampler_default_params();
    const double T = 0.8, rp = 1.3;
    const int K = 40;
    sp.temperature = T;
    sp.top_k = K;
    sp.repetition_penalty = rp;
    sp.seed = 11;
    ts_gen_params gp = ts_gen_default_params();
    gp.max_new_tokens = 40;
    gp.top_logprobs = 5;
    gp.seed = 11;
    ts_gen_result res;
    run_gen(g, &sp, &gp, &R, &res);
    assert_true(R.n > 10);

    /* Replay: prompt, then each generated token, in a second context. */
    int32_t hist[256];
    memcpy(hist, prompt, np * sizeof *hist);
    size_t nh = np;
    assert_int_equal(ts_model_eval(replay, prompt, np, err, sizeof err), TS_OK);
    float *sc = malloc(V * sizeof *sc);
    int32_t *order = malloc(V * sizeof *order);
    double worst = 0;
    for (size_t k = 0; k < R.n; k++) {
        const ts_gen_step *st = &R.step[k];
        const float *z = ts_context_logits(replay);
        /* RAW: log_softmax(z), long double */
        long double zmax = -INFINITY, sum = 0, h = 0;
        for (size_t i = 0; i < V; i++)
            if (z[i] > zmax) zmax = z[i];
        for (size_t i = 0; i < V; i++)
            sum += expl((long double)z[i] - zmax);
        long double logz = zmax + logl(sum);
        for (size_t i = 0; i < V; i++) {
            long double lp = (long double)z[i] - logz;
            h -= expl(lp) * lp;
        }
        assert_true(st->has_logprobs);
        double d1 = fabs(st->logprob_raw - (double)((long double)z[st->id] - logz));
        double d2 = fabs(st->entropy_raw_nats - (double)h);
        g_sort = z;
        for (size_t i = 0; i < V; i++)
            order[i] = (int32_t)i;
        qsort(order, V, sizeof *order, cmp_desc);
        assert_int_equal(st->n_top_raw, 5);
        for (int r = 0; r < 5; r++) {
            assert_int_equal(R.top_raw[k][r].id, order[r]);
            double d = fabs(R.top_raw[k][r].logprob - (double)((long double)z[order[r]] - logz));
            if (d > worst) worst = d;
            assert_true(d < 1e-9);
        }
        /* PROCESSED (HF order): repetition penalty once per distinct token of prompt +
         * generated, then / T, top-k (ranking: score desc, id asc), softmax. */
        for (size_t i = 0; i < V; i++)
            sc[i] = z[i];
        static unsigned char seen[60000];
        memset(seen, 0, V);
        double dsc_store[256];
        int32_t dsc_id[256];
        size_t nd = 0;
        for (size_t j = 0; j < nh; j++) {
            int32_t id = hist[j];
            if (seen[id]) continue;
            seen[id] = 1;
            double v = z[id];
            dsc_id[nd] = id;
            dsc_store[nd++] = v < 0 ? v * rp : v / rp;
        }
        /* rank by the double scores: build a double array */
        double *s2 = malloc(V * sizeof *s2);
        for (size_t i = 0; i < V; i++)
            s2[i] = z[i];
        for (size_t j = 0; j < nd; j++)
            s2[dsc_id[j]] = dsc_store[j];
        /* top-K by s2 (selection by repeated max: simple and independent) */
        int32_t top[64];
        for (int r = 0; r < K; r++) {
            int32_t best = -1;
            for (size_t i = 0; i < V; i++) {
                bool taken = false;
                for (int q = 0; q < r; q++)
                    taken |= top[q] == (int32_t)i;
                if (taken) continue;
                if (best < 0 || s2[i] > s2[best]) best = (int32_t)i;
            }
            top[r] = best;
        }
        long double m = s2[top[0]], zz = 0, hp = 0;
        for (int r = 0; r < K; r++)
            zz += expl(((long double)s2[top[r]] - m) / T);
        double lp_id = -INFINITY;
        for (int r = 0; r < K; r++) {
            long double lp = ((long double)s2[top[r]] - m) / T - logl(zz);
            hp -= expl(lp) * lp;
            if (top[r] == st->id) lp_id = (double)lp;
            if (r < 5) {
                assert_int_equal(R.top[k][r].id, top[r]);
                double d = fabs(R.top[k][r].logprob - (double)lp);
                if (d > worst) worst = d;
                assert_true(d < 1e-9);
            }
        }
        free(s2);
        double d3 = fabs(st->logprob - lp_id), d4 = fabs(st->entropy_nats - (double)hp);
        double d5 = fabs(log(st->prob) - lp_id);
        if (d1 > worst) worst = d1;
        if (d2 > worst) worst = d2;
        if (d3 > worst) worst = d3;
        if (d4 > worst) worst = d4;
        if (!(d1 < 1e-9 && d2 < 1e-9 && d3 < 1e-9 && d4 < 1e-9 && d5 < 1e-9))
            fail_msg("step %zu: d raw %.3g H raw %.3g d proc %.3g H proc %.3g", k, d1, d2, d3, d4);
        assert_int_equal(st->n_top, 5);
        /* the raw and processed values differ (penalty, T, top-k) */
        hist[nh++] = st->id;
        if (k + 1 < R.n)
            assert_int_equal(ts_model_eval(replay, &st->id, 1, err, sizeof err), TS_OK);
    }
    printf("logprobs: %zu steps recomputed, worst |d| %.2e (tolerance 1e-9)\n", R.n, worst);
    free(sc);
    free(order);
    /* not asked: no logprobs */
    gp.top_logprobs = 0;
    run_gen(g, &sp, &gp, &R2, &res);
    assert_false(R2.step[0].has_logprobs);
    assert_null(R2.step[0].top);
    ts_generator_free(g);
    ts_context_free(ctx);
    ts_context_free(replay);
}

/* ---- stop strings -------------------------------------------------------------- */

static void test_stop_strings(void **state)
{
    (void)state;
    ts_context *ctx = new_ctx(0);
    ts_generator *g = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_generator_new(ctx, tok, V, &g, err, sizeof err), TS_OK);
    int32_t prompt[64];
    size_t np = encode("KING HENRY:\n", prompt, 64);
    assert_int_equal(ts_generator_set_prompt(g, prompt, np, err, sizeof err), TS_OK);
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = 0.0;
    ts_gen_params gp = ts_gen_default_params();
    gp.max_new_tokens = 60;
    ts_gen_result res;
    run_gen(g, &sp, &gp, &R, &res);
    static char full[16384];
    size_t full_len = R.len;
    memcpy(full, R.text, full_len + 1);
    assert_true(full_len > 40);
    /* a stop string that straddles a token boundary: bytes [b - 2, b + 3) around the
     * end b of the 6th token's text */
    size_t b = 0;
    for (size_t k = 0; k < 6; k++)
        b += R.step[k].text_len;
    assert_true(b >= 2 && b + 3 <= full_len);
    char stop[8];
    memcpy(stop, full + b - 2, 5);
    stop[5] = '\0';
    const char *first = strstr(full, stop);
    size_t cut = (size_t)(first - full);
    const char *stops[3] = {"no such text @@", stop, "\x01"};
    gp.stop = stops;
    gp.n_stop = 3;
    run_gen(g, &sp, &gp, &R2, &res);
    assert_int_equal(res.stop, TS_STOP_STRING);
    assert_int_equal(res.stop_index, 1);
    assert_string_equal(ts_stop_reason_finish(res.stop), "stop");
    assert_int_equal(R2.len, cut);
    assert_memory_equal(R2.text, full, cut);
    assert_null(strstr(R2.text, stop));
    /* the same ids as the greedy run up to the token that completed the stop string */
    for (size_t k = 0; k < R2.n; k++)
        assert_int_equal(R2.step[k].id, R.step[k].id);
    /* a stop string that is only ever a prefix (held back, then released at the end) */
    char held[16];
    snprintf(held, sizeof held, "%.*s@#", 2, full + full_len - 2);
    const char *stops2[1] = {held};
    gp.stop = stops2;
    gp.n_stop = 1;
    run_gen(g, &sp, &gp, &R2, &res);
    assert_int_equal(res.stop, TS_STOP_LENGTH);
    assert_string_equal(ts_stop_reason_finish(res.stop), "length");
    assert_int_equal(R2.len, full_len);
    assert_memory_equal(R2.text, full, full_len);
    /* bad stop parameters name the field */
    const char *bad[5] = {"a", "b", "c", "d", "e"};
    gp.stop = bad;
    gp.n_stop = 5;
    ts_sampler *s = NULL;
    assert_int_equal(ts_sampler_new(&sp, V, &s, err, sizeof err), TS_OK);
    assert_int_equal(ts_generator_run(g, s, &gp, NULL, NULL, &res, err, sizeof err),
                     TS_ERR_INVALID);
    assert_int_equal(strncmp(err, "stop: ", 6), 0);
    const char *empty[1] = {""};
    gp.stop = empty;
    gp.n_stop = 1;
    assert_int_equal(ts_generator_run(g, s, &gp, NULL, NULL, &res, err, sizeof err),
                     TS_ERR_INVALID);
    gp.n_stop = 0;
    gp.top_logprobs = 21;
    assert_int_equal(ts_generator_run(g, s, &gp, NULL, NULL, &res, err, sizeof err),
                     TS_ERR_INVALID);
    assert_int_equal(strncmp(err, "top_logprobs: ", 14), 0);
    ts_sampler_free(s);
    ts_generator_free(g);
    ts_context_free(ctx);
}

/* ---- EOS: min_new_tokens, ignore_eos ------------------------------------------ */

static void test_min_new_tokens_ignore_eos(void **state)
{
    (void)state;
    ts_context *ctx = new_ctx(0);
    ts_generator *g = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_generator_new(ctx, tok, V, &g, err, sizeof err), TS_OK);
    int32_t prompt[16];
    size_t np = encode("First Citizen:", prompt, 16);
    assert_int_equal(ts_generator_set_prompt(g, prompt, np, err, sizeof err), TS_OK);
    const ts_logit_bias force[1] = {{eot, 100.0}};
    ts_sampler_params sp = ts_sampler_default_params();
    sp.logit_bias = force;
    sp.n_logit_bias = 1;
    ts_gen_params gp = ts_gen_default_params();
    gp.max_new_tokens = 20;
    ts_gen_result res;
    run_gen(g, &sp, &gp, &R, &res);
    assert_int_equal(res.n_generated, 1); /* EOT at once */
    assert_int_equal(res.stop, TS_STOP_EOT);
    gp.min_new_tokens = 5;
    run_gen(g, &sp, &gp, &R, &res);
    assert_int_equal(res.n_generated, 6);
    assert_int_equal(res.stop, TS_STOP_EOT);
    for (size_t k = 0; k < 5; k++)
        assert_int_not_equal(R.step[k].id, eot);
    assert_int_equal(R.step[5].id, eot);
    gp.min_new_tokens = 0;
    gp.ignore_eos = true;
    gp.logprobs = true;
    run_gen(g, &sp, &gp, &R, &res);
    assert_int_equal(res.n_generated, 20);
    assert_int_equal(res.stop, TS_STOP_LENGTH);
    for (size_t k = 0; k < R.n; k++) {
        assert_int_not_equal(R.step[k].id, eot);
        /* the raw model still prefers EOT? no: bias is a processing step; raw logprob of
         * the drawn token is the model's own */
        assert_true(R.step[k].logprob_raw <= 0.0);
    }
    ts_generator_free(g);
    ts_context_free(ctx);
}

/* ---- the context window ------------------------------------------------------------ */

static void test_context_window(void **state)
{
    (void)state;
    enum { NCTX = 64 };
    ts_context *ctx = new_ctx(NCTX);
    ts_generator *g = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_generator_new(ctx, tok, V, &g, err, sizeof err), TS_OK);
    int32_t prompt[256];
    size_t np = encode("JULIET:\nO Romeo, Romeo! wherefore art thou Romeo? Deny thy father and",
                       prompt, 256);
    assert_true(np >= 10 && np < 30);
    assert_int_equal(ts_generator_set_prompt(g, prompt, np, err, sizeof err), TS_OK);
    ts_sampler_params sp = ts_sampler_default_params();
    sp.seed = 3;
    sp.temperature = 0.9;
    ts_gen_params gp = ts_gen_default_params();
    gp.max_new_tokens = 200;
    gp.stop_at_eot = false;
    gp.seed = 3;
    ts_gen_result res;
    /* the window is not known: learned at the first overflow */
    run_gen(g, &sp, &gp, &R, &res);
    assert_int_equal(res.stop, TS_STOP_CONTEXT);
    assert_string_equal(ts_stop_reason_finish(res.stop), "length");
    assert_int_equal(res.n_generated, NCTX - np + 1);
    /* known: the same */
    assert_int_equal(ts_generator_set_n_ctx(g, NCTX, err, sizeof err), TS_OK);
    run_gen(g, &sp, &gp, &R2, &res);
    assert_int_equal(res.stop, TS_STOP_CONTEXT);
    assert_int_equal(res.n_generated, NCTX - np + 1);
    assert_int_equal(R.len, R2.len);
    assert_memory_equal(R.text, R2.text, R.len);
    /* context_shift: goes on to max_new_tokens, keeping the last half */
    gp.context_shift = true;
    size_t ev0 = ts_generator_n_evals(g);
    run_gen(g, &sp, &gp, &R, &res);
    assert_int_equal(res.stop, TS_STOP_LENGTH);
    assert_int_equal(res.n_generated, 200);
    assert_true(res.n_context_shifts >= 5);
    /* up to the first shift, the same tokens as the stopped run */
    for (size_t k = 0; k < NCTX - np + 1; k++)
        assert_int_equal(R.step[k].id, R2.step[k].id);
    /* the next run evaluates the prompt again (the shift overwrote it) and repeats */
    size_t ev1 = ts_generator_n_evals(g);
    run_gen(g, &sp, &gp, &R2, &res);
    assert_int_equal(ts_generator_n_evals(g) - ev1, ev1 - ev0 + 1);
    for (size_t k = 0; k < 200; k++)
        assert_int_equal(R.step[k].id, R2.step[k].id);
    /* a prompt longer than the window */
    int32_t longp[100];
    for (int i = 0; i < 100; i++)
        longp[i] = prompt[i % np];
    assert_int_equal(ts_generator_set_prompt(g, longp, 100, err, sizeof err), TS_ERR_RANGE);
    assert_non_null(strstr(err, "100"));
    assert_non_null(strstr(err, "64"));
    assert_int_equal(strncmp(err, "prompt: ", 8), 0);
    assert_int_equal(ts_generator_set_prompt_ex(g, longp, 100, &gp, err, sizeof err), TS_OK);
    assert_int_equal(ts_generator_prompt_size(g), NCTX / 2);
    gp.max_new_tokens = 40;
    run_gen(g, &sp, &gp, &R, &res);
    assert_int_equal(res.n_generated, 40);
    /* unknown window + long prompt: the engine's message, both sizes */
    ts_generator *g2 = NULL;
    assert_int_equal(ts_generator_new(ctx, tok, V, &g2, err, sizeof err), TS_OK);
    assert_int_equal(ts_generator_set_prompt(g2, longp, 100, err, sizeof err), TS_ERR_RANGE);
    assert_non_null(strstr(err, "100"));
    assert_non_null(strstr(err, "64"));
    /* context_shift without the window: refused, naming the field */
    assert_int_equal(ts_generator_set_prompt(g2, prompt, np, err, sizeof err), TS_OK);
    ts_sampler *s = NULL;
    assert_int_equal(ts_sampler_new(&sp, V, &s, err, sizeof err), TS_OK);
    assert_int_equal(ts_generator_run(g2, s, &gp, NULL, NULL, &res, err, sizeof err),
                     TS_ERR_INVALID);
    assert_int_equal(strncmp(err, "context_shift: ", 15), 0);
    ts_sampler_free(s);
    ts_generator_free(g2);
    ts_generator_free(g);
    ts_context_free(ctx);
}

/* ---- one prefill, many runs; coupled runs with every step ------------------------- */

static void test_prefill_once_and_coupled(void **state)
{
    (void)state;
    ts_context *ctx = new_ctx(0);
    ts_generator *g = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_generator_new(ctx, tok, V, &g, err, sizeof err), TS_OK);
    int32_t prompt[32];
    size_t np = encode("MENENIUS:\nI tell you, friends,", prompt, 32);
    assert_int_equal(ts_generator_set_prompt(g, prompt, np, err, sizeof err), TS_OK);
    size_t ev = ts_generator_n_evals(g);
    ts_sampler_params sp = ts_sampler_default_params();
    sp.repetition_penalty = 1.2;
    sp.presence_penalty = 0.3;
    sp.no_repeat_ngram_size = 3;
    sp.typical_p = 0.95;
    sp.xtc_probability = 0.5;
    sp.xtc_threshold = 0.1;
    sp.top_n_sigma = 2.0;
    ts_gen_params gp = ts_gen_default_params();
    gp.max_new_tokens = 30;
    gp.stop_at_eot = false;
    gp.draw = TS_DRAW_GUMBEL;
    gp.seed = 99;
    ts_gen_result res;
    run_gen(g, &sp, &gp, &R, &res);
    run_gen(g, &sp, &gp, &R2, &res);
    /* two runs: decode steps only (the last token is not evaluated) */
    assert_int_equal(ts_generator_n_evals(g) - ev, 2 * 29);
    for (size_t k = 0; k < 30; k++)
        assert_int_equal(R.step[k].id, R2.step[k].id);
    /* as T -> 0 the coupled draw is the greedy one, penalties included */
    sp.temperature = 1e-6;
    run_gen(g, &sp, &gp, &R, &res);
    sp.temperature = 0.0;
    run_gen(g, &sp, &gp, &R2, &res);
    for (size_t k = 0; k < 30; k++)
        assert_int_equal(R.step[k].id, R2.step[k].id);
    ts_generator_free(g);
    ts_context_free(ctx);
}

/* ---- Mirostat v2 ---------------------------------------------------------------------- */

static void test_mirostat_v2_tau(void **state)
{
    (void)state;
    ts_context *ctx = new_ctx(0);
    ts_generator *g = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_generator_new(ctx, tok, V, &g, err, sizeof err), TS_OK);
    assert_int_equal(ts_generator_set_n_ctx(g, 256, err, sizeof err), TS_OK);
    int32_t prompt[32];
    size_t np = encode("GLOUCESTER:\nNow is the winter of our discontent", prompt, 32);
    assert_int_equal(ts_generator_set_prompt(g, prompt, np, err, sizeof err), TS_OK);
    const double taus[2] = {3.0, 5.0};
    for (int t = 0; t < 2; t++) {
        ts_sampler_params sp = ts_sampler_default_params();
        sp.order = t ? TS_ORDER_LLAMA : TS_ORDER_HF;
        sp.mirostat = 2;
        sp.mirostat_tau = taus[t];
        sp.mirostat_eta = 0.1;
        sp.n_ctx = 256;
        sp.seed = 5;
        ts_gen_params gp = ts_gen_default_params();
        gp.max_new_tokens = 500;
        gp.stop_at_eot = false;
        gp.context_shift = true;
        gp.seed = 5;
        ts_gen_result res;
        run_gen(g, &sp, &gp, &R, &res);
        assert_int_equal(res.n_generated, 500);
        double mean = 0, mean_raw = 0;
        for (size_t k = 0; k < 500; k++) {
            mean += -log2(R.step[k].prob);
        }
        mean /= 500;
        (void)mean_raw;
        printf("mirostat v2 (%s order) tau %.1f: mean surprisal %.3f bits over 500 steps "
               "(%zu context shifts)\n",
               ts_sampler_order_name(sp.order), taus[t], mean, res.n_context_shifts);
        assert_true(fabs(mean - taus[t]) <= 0.1 * taus[t]);
    }
    ts_generator_free(g);
    ts_context_free(ctx);
}

/* ---- no allocation in the decode loop -------------------------------------------------- */

static int quiet(const ts_gen_step *s, void *user)
{
    (void)s;
    (void)user;
    return 0;
}

static void test_run_does_not_allocate(void **state)
{
    (void)state;
    ts_context *ctx = new_ctx(48);
    ts_generator *g = NULL;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_generator_new(ctx, tok, V, &g, err, sizeof err), TS_OK);
    assert_int_equal(ts_generator_set_n_ctx(g, 48, err, sizeof err), TS_OK);
    int32_t prompt[32];
    size_t np = encode("HAMLET:\nTo be, or not to be", prompt, 32);
    assert_int_equal(ts_generator_set_prompt(g, prompt, np, err, sizeof err), TS_OK);
    ts_sampler_params sp = ts_sampler_default_params();
    sp.repetition_penalty = 1.1;
    sp.no_repeat_ngram_size = 2;
    sp.typical_p = 0.9;
    sp.n_ctx = 48;
    ts_sampler *s = NULL;
    assert_int_equal(ts_sampler_new(&sp, V, &s, err, sizeof err), TS_OK);
    const char *stops[2] = {"\n\n\n\n", "zzz"};
    ts_gen_params gp = ts_gen_default_params();
    gp.max_new_tokens = 100;
    gp.stop = stops;
    gp.n_stop = 2;
    gp.top_logprobs = 20;
    gp.min_new_tokens = 3;
    gp.context_shift = true;
    gp.stop_at_eot = false;
    ts_gen_result res;
    n_allocs = 0;
    assert_int_equal(ts_generator_run(g, s, &gp, quiet, NULL, &res, err, sizeof err), TS_OK);
    int seen = n_allocs;
    assert_true(res.n_context_shifts >= 1);
    assert_int_equal(seen, 0);
    ts_sampler_free(s);
    ts_generator_free(g);
    ts_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logprobs_recomputed),       cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_min_new_tokens_ignore_eos), cmocka_unit_test(test_context_window),
        cmocka_unit_test(test_prefill_once_and_coupled),  cmocka_unit_test(test_mirostat_v2_tau),
        cmocka_unit_test(test_run_does_not_allocate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
