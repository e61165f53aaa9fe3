/*
 * test_diversity_model.c — the quality–diversity properties of issue 13 on the
 * bundled model (models/tiny-shakespeare), fixed seeds, through the public API
 * only (generator + sampler for the samples, ts_lm_score_text to rescore them
 * at T = 1, ts_diversity_measure / ts_divergence_curve):
 *   - distinct-2 and the NLL under T = 1 rise with T from 0.3 to 1 to 2;
 *   - at T = 0 all samples are the greedy text: self-BLEU 1, distinct-n equal to
 *     the single text's divided by N (N copies of its n-grams), curve 1 everywhere;
 *   - coupled (Gumbel) sampling: the divergence curve starts at 1 and falls, and
 *     falls later at T = 0.3 than at T = 2 (the share still greedy after 8 tokens);
 *   - samples at T = 1 (no truncation): their NLL under T = 1 and the mean entropy
 *     of the distributions they were drawn from agree within the bootstrap interval.
 */
#include "internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

enum { NSAMP = 16, LEN = 24 };

static ts_model *model;
static ts_context *gen_ctx, *score_ctx;
static ts_generator *gen;
static int32_t prompt[64];
static size_t n_prompt;

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("TEMPSCALE_MODELS");
    char path[4096], err[TS_ERR_SIZE];
    snprintf(path, sizeof path, "%s/tiny-shakespeare", dir ? dir : "models");
    ts_model_params mp = ts_model_default_params();
    mp.n_threads = 2;
    ts_context_params cp = ts_context_default_params(), cs = cp;
    cs.all_logits = true;
    const char *text = "ROMEO:\n";
    if (ts_model_load(path, &mp, &model, err, sizeof err) != TS_OK ||
        ts_context_new(model, &cp, &gen_ctx, err, sizeof err) != TS_OK ||
        ts_context_new(model, &cs, &score_ctx, err, sizeof err) != TS_OK ||
        ts_generator_new(gen_ctx, ts_model_tokenizer(model),
                         (size_t)ts_model_get_info(model)->n_vocab, &gen, err,
                         sizeof err) != TS_OK ||
        ts_tokenizer_encode(ts_model_tokenizer(model), text, strlen(text), 0, prompt, 64,
                            &n_prompt) != TS_OK ||
        ts_generator_set_prompt(gen, prompt, n_prompt, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_generator_free(gen);
    ts_context_free(gen_ctx);
    ts_context_free(score_ctx);
    ts_model_free(model);
    return 0;
}

typedef struct collected {
    int32_t tok[NSAMP * LEN];
    size_t off[NSAMP + 1];
    double logprob[NSAMP * LEN], entropy[NSAMP * LEN];
    bool eot[NSAMP];
    size_t n; /* tokens so far */
    int j;    /* current sample */
} collected;

static int on_token(const ts_gen_step *step, void *user)
{
    collected *c = user;
    if (step->is_eot) {
        c->eot[c->j] = true;
        return 0;
    }
    c->tok[c->n] = step->id;
    c->entropy[c->n] = step->entropy_nats;
    c->n++;
    return 0;
}

/* logprob under T = 1 of the sample's tokens, by rescoring prompt + sample */
typedef struct rescore {
    double *out;
    size_t from; /* first position that is a sample token */
    size_t V;
} rescore;

static ts_status on_scored(size_t position, const float *logits, int32_t target, void *user)
{
    rescore *r = user;
    if (position < r->from) return TS_OK;
    double lse = ts_logsumexp(logits, r->V, 1.0);
    r->out[position - r->from] = (double)logits[target] - lse;
    return TS_OK;
}

static void draw(double T, ts_gen_draw how, collected *c, ts_sample_set *s)
{
    memset(c, 0, sizeof *c);
    char err[TS_ERR_SIZE];
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = T;
    sp.top_k = 0;
    ts_sampler *smp;
    assert_int_equal(
        ts_sampler_new(&sp, (size_t)ts_model_get_info(model)->n_vocab, &smp, err, sizeof err),
        TS_OK);
    const size_t V = (size_t)ts_model_get_info(model)->n_vocab;
    for (int j = 0; j < NSAMP; j++) {
        c->j = j;
        c->off[j] = c->n;
        ts_gen_params gp = ts_gen_default_params();
        gp.max_new_tokens = LEN;
        gp.draw = how;
        gp.seed = 1234;
        gp.stream = (uint64_t)j;
        ts_gen_result res;
        assert_int_equal(ts_generator_run(gen, smp, &gp, on_token, c, &res, err, sizeof err),
                         TS_OK);
        /* rescore prompt + sample under T = 1 */
        int32_t ids[64 + LEN];
        size_t L = c->n - c->off[j];
        memcpy(ids, prompt, n_prompt * sizeof *ids);
        memcpy(ids + n_prompt, c->tok + c->off[j], L * sizeof *ids);
        rescore r = {c->logprob + c->off[j], n_prompt, V};
        if (L > 0)
            assert_int_equal(ts_lm_score_text(model, score_ctx, ids, n_prompt + L, 0, 0, on_scored,
                                              &r, NULL, NULL, err, sizeof err),
                             TS_OK);
    }
    c->off[NSAMP] = c->n;
    ts_sampler_free(smp);
    *s = (ts_sample_set){NSAMP, c->tok, c->off, c->logprob, c->entropy, c->eot};
}

static void test_frontier_rises_with_t(void **state)
{
    (void)state;
    static collected c;
    ts_sample_set s;
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.seed = 3;
    char err[TS_ERR_SIZE];
    const double temps[3] = {0.3, 1.0, 2.0};
    ts_diversity d[3];
    for (int t = 0; t < 3; t++) {
        draw(temps[t], TS_DRAW_INVERSE_CDF, &c, &s);
        assert_int_equal(ts_diversity_measure(&s, &bp, &d[t], err, sizeof err), TS_OK);
        print_message("T = %.1f: distinct-2 %.3f [%.3f, %.3f]  self-BLEU %.3f  NLL %.3f [%.3f, "
                      "%.3f]  entropy %.3f  rep-4 %.3f  EOT %.2f\n",
                      temps[t], d[t].distinct[1].estimate, d[t].distinct[1].lo, d[t].distinct[1].hi,
                      d[t].self_bleu4.estimate, d[t].nll.estimate, d[t].nll.lo, d[t].nll.hi,
                      d[t].entropy.estimate, d[t].repetition4.estimate, d[t].eot_share.estimate);
        if (temps[t] == 1.0) {
            /* T = 1, no truncation: the NLL under T = 1 of the samples matches the entropy
             * of the distributions they were drawn from, within the bootstrap interval */
            assert_true(d[t].nll.lo <= d[t].entropy.estimate &&
                        d[t].entropy.estimate <= d[t].nll.hi);
        }
    }
    assert_true(d[0].distinct[1].estimate < d[1].distinct[1].estimate &&
                d[1].distinct[1].estimate < d[2].distinct[1].estimate);
    assert_true(d[0].nll.estimate < d[1].nll.estimate && d[1].nll.estimate < d[2].nll.estimate);
    assert_true(d[0].self_bleu4.estimate > d[2].self_bleu4.estimate);
}

static void test_greedy_and_divergence(void **state)
{
    (void)state;
    static collected c0, c;
    ts_sample_set s0, s;
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    char err[TS_ERR_SIZE];
    draw(0.0, TS_DRAW_INVERSE_CDF, &c0, &s0);
    ts_diversity d0;
    assert_int_equal(ts_diversity_measure(&s0, &bp, &d0, err, sizeof err), TS_OK);
    ts_sample_set one = {1, c0.tok, c0.off, c0.logprob, c0.entropy, c0.eot};
    ts_diversity d1;
    assert_int_equal(ts_diversity_measure(&one, &bp, &d1, err, sizeof err), TS_OK);
    assert_true(fabs(d0.self_bleu4.estimate - 1.0) < 1e-12);
    for (int n = 0; n < 3; n++)
        assert_true(fabs(d0.distinct[n].estimate - d1.distinct[n].estimate / NSAMP) < 1e-12);
    const int32_t *greedy = c0.tok;
    const size_t n_greedy = c0.off[1];
    ts_interval curve0[LEN + 1], cl[LEN + 1], ch[LEN + 1];
    assert_int_equal(
        ts_divergence_curve(greedy, n_greedy, &s0, LEN, &bp, curve0, NULL, err, sizeof err), TS_OK);
    for (int k = 0; k <= LEN; k++)
        assert_true(curve0[k].estimate == 1.0);
    /* coupled draws at a low and a high temperature */
    draw(0.3, TS_DRAW_GUMBEL, &c, &s);
    assert_int_equal(ts_divergence_curve(greedy, n_greedy, &s, LEN, &bp, cl, NULL, err, sizeof err),
                     TS_OK);
    draw(2.0, TS_DRAW_GUMBEL, &c, &s);
    assert_int_equal(ts_divergence_curve(greedy, n_greedy, &s, LEN, &bp, ch, NULL, err, sizeof err),
                     TS_OK);
    print_message("coupled: share still greedy after 1, 4, 8, 16 tokens: T = 0.3: %.2f %.2f %.2f "
                  "%.2f; T = 2: %.2f %.2f %.2f %.2f\n",
                  cl[1].estimate, cl[4].estimate, cl[8].estimate, cl[16].estimate, ch[1].estimate,
                  ch[4].estimate, ch[8].estimate, ch[16].estimate);
    assert_true(cl[0].estimate == 1.0 && ch[0].estimate == 1.0);
    for (int k = 1; k <= LEN; k++)
        assert_true(cl[k].estimate <= cl[k - 1].estimate);
    assert_true(cl[8].estimate > ch[8].estimate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frontier_rises_with_t),
        cmocka_unit_test(test_greedy_and_divergence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
