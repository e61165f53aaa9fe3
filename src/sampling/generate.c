/*
 * generate.c — the generation loop: prompt once, then draw tokens one at a
 * time through a sampler chain, streaming complete UTF-8 to a callback.
 *
 * Invariants:
 *   - The prompt is evaluated once per ts_generator_set_prompt; every run
 *     rolls the KV cache back to the prompt (ts_context_truncate) and starts
 *     from a saved copy of the prompt's last logits, so N samples from one
 *     prompt cost one prefill plus their own decode steps.
 *   - Nothing is allocated per token: the logits copy and the UTF-8 buffer are
 *     sized once in ts_generator_new.
 *   - Two ways to draw (ts_gen_draw):
 *       inverse CDF  one uniform per step from a PCG32 stream seeded by
 *                    (seed, stream) -> ts_sampler_pick (what HF / llama.cpp do);
 *       Gumbel-max   argmax_i log p_i + g_i with g_i = -log(-log u_i) and u_i a
 *                    hash of (seed, stream, step, token id). The noise of a
 *                    token at a step does not depend on the temperature, so
 *                    runs at different T share one random stream ("coupled"),
 *                    and as T -> 0 the argmax of log p dominates the bounded
 *                    noise, so the draw becomes exactly greedy.
 *     Both draw exactly from the candidates' distribution.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ts_generator {
    ts_context *ctx;          /* borrowed */
    const ts_tokenizer *tok;  /* borrowed */
    size_t n_vocab;
    float *prompt_logits;     /* (n_vocab) last-position logits of the prompt */
    size_t n_prompt;          /* tokens of the prompt in the KV cache */
    bool has_prompt;
    char *text;               /* (max token bytes + 8) streaming UTF-8 output */
    size_t n_evals;           /* ts_model_eval calls made, for tests and benchmarks */
};

ts_gen_params ts_gen_default_params(void)
{
    ts_gen_params p;
    memset(&p, 0, sizeof p);
    p.max_new_tokens = 50;
    p.stop_at_eot = true;
    p.draw = TS_DRAW_INVERSE_CDF;
    return p;
}

ts_status ts_generator_new(ts_context *ctx, const ts_tokenizer *tok, size_t n_vocab,
                           ts_generator **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!ctx || !tok || n_vocab == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "generator: context, tokenizer and "
                                                        "vocabulary size are required");
    size_t max_bytes = 0;
    size_t n_tok = ts_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n_tok; i++) {
        size_t len = 0;
        if (ts_tokenizer_token_bytes(tok, (int32_t)i, &len) && len > max_bytes) max_bytes = len;
    }
    ts_generator *g = calloc(1, sizeof *g);
    size_t logits_bytes;
    if (!g || ts_mul_overflows(n_vocab, sizeof(float), &logits_bytes)) {
        free(g);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "generator: out of memory");
    }
    g->ctx = ctx;
    g->tok = tok;
    g->n_vocab = n_vocab;
    g->prompt_logits = malloc(logits_bytes);
    /* ts_utf8_stream: every byte of a push (incl. up to 3 held) can become a 3-byte U+FFFD. */
    g->text = malloc(3 * (max_bytes + 3) + 16);
    if (!g->prompt_logits || !g->text) {
        ts_generator_free(g);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "generator: out of memory");
    }
    *out = g;
    return TS_OK;
}

void ts_generator_free(ts_generator *g)
{
    if (!g) return;
    free(g->prompt_logits);
    free(g->text);
    free(g);
}

ts_status ts_generator_set_prompt(ts_generator *g, const int32_t *ids, size_t n, char *err,
                                  size_t err_size)
{
    g->has_prompt = false;
    if (n == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "prompt: empty (the model needs at least one token to condition on)");
    ts_context_truncate(g->ctx, 0);
    ts_status st = ts_model_eval(g->ctx, ids, n, err, err_size);
    g->n_evals++;
    if (st != TS_OK) return st;
    memcpy(g->prompt_logits, ts_context_logits(g->ctx), g->n_vocab * sizeof(float));
    g->n_prompt = ts_context_n_past(g->ctx);
    g->has_prompt = true;
    return TS_OK;
}

const float *ts_generator_prompt_logits(const ts_generator *g)
{
    return g->has_prompt ? g->prompt_logits : NULL;
}

size_t ts_generator_n_evals(const ts_generator *g)
{
    return g->n_evals;
}

/* SplitMix64 finaliser: a bijective 64-bit mix, the core of the counter-based noise. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

double ts_gumbel_noise(uint64_t seed, uint64_t stream, uint64_t step, int32_t id)
{
    uint64_t h = mix64(seed);
    h = mix64(h ^ stream);
    h = mix64(h ^ step);
    h = mix64(h ^ (uint64_t)(uint32_t)id);
    /* u in (0, 1): 53 bits, offset by half an ulp so log(u) and log(-log u) are finite. */
    double u = ((double)(h >> 11) + 0.5) * 0x1.0p-53;
    return -log(-log(u));
}

int32_t ts_gumbel_pick(const ts_candidate *cands, size_t n, uint64_t seed, uint64_t stream,
                       uint64_t step)
{
    int32_t best = -1;
    double best_score = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!(cands[i].p > 0.0)) continue;
        double score = log(cands[i].p) + ts_gumbel_noise(seed, stream, step, cands[i].id);
        if (best < 0 || score > best_score) {
            best = cands[i].id;
            best_score = score;
        }
    }
    return best;
}

/* The seed of inverse-CDF stream `stream`: independent PCG32 sequences from one user seed. */
static uint64_t stream_seed(uint64_t seed, uint64_t stream)
{
    return stream == 0 ? seed : mix64(seed ^ mix64(stream));
}

ts_status ts_generator_run(ts_generator *g, ts_sampler *sampler, const ts_gen_params *params,
                           ts_gen_callback cb, void *user, ts_gen_result *result, char *err,
                           size_t err_size)
{
    ts_gen_result res = {0, TS_STOP_LENGTH};
    if (result) *result = res;
    if (!g->has_prompt)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "generator: no prompt set");
    ts_context_truncate(g->ctx, g->n_prompt);
    ts_rng rng;
    ts_rng_seed(&rng, stream_seed(params->seed, params->stream));
    int32_t eot = ts_tokenizer_eot(g->tok);
    ts_utf8_stream utf8 = {{0}, 0};
    const float *logits = g->prompt_logits;

    for (size_t step = 0; step < params->max_new_tokens; step++) {
        const ts_candidate *cands = NULL;
        size_t n_cands = 0;
        ts_status st = ts_sampler_apply(sampler, logits, &cands, &n_cands);
        if (st != TS_OK || n_cands == 0)
            return ts_errorf(err, err_size, st != TS_OK ? st : TS_ERR_INVALID,
                             "generation step %zu: the sampler rejected the logits", step);
        int32_t id = params->draw == TS_DRAW_GUMBEL
                         ? ts_gumbel_pick(cands, n_cands, params->seed, params->stream, step)
                         : ts_sampler_pick(cands, n_cands, ts_rng_uniform(&rng));
        ts_gen_step info;
        memset(&info, 0, sizeof info);
        info.index = step;
        info.id = id;
        info.n_candidates = n_cands;
        double h = 0.0;
        for (size_t i = 0; i < n_cands; i++) {
            double p = cands[i].p;
            if (p > 0.0) h -= p * log(p);
            if (cands[i].id == id) info.prob = p;
        }
        info.entropy_nats = h;
        info.is_eot = (id == eot);
        if (info.is_eot && params->stop_at_eot) {
            info.text = g->text;
            info.text_len = ts_utf8_stream_flush(&utf8, g->text);
        } else {
            size_t len = 0;
            const char *bytes = ts_tokenizer_token_bytes(g->tok, id, &len);
            if (!bytes)
                return ts_errorf(err, err_size, TS_ERR_INVALID,
                                 "generation step %zu: token id %d has no bytes", step, (int)id);
            info.text = g->text;
            info.text_len = ts_utf8_stream_push(&utf8, bytes, len, g->text);
        }
        res.n_generated = step + 1;
        bool last = step + 1 == params->max_new_tokens;
        if (last && !info.is_eot) {
            /* Flush any held partial character with the final token. */
            info.text_len += ts_utf8_stream_flush(&utf8, g->text + info.text_len);
        }
        if (cb && cb(&info, user) != 0) {
            res.stop = TS_STOP_CALLBACK;
            break;
        }
        if (info.is_eot && params->stop_at_eot) {
            res.stop = TS_STOP_EOT;
            break;
        }
        if (last) break; /* the last token needs no forward pass */
        st = ts_model_eval(g->ctx, &id, 1, err, err_size);
        g->n_evals++;
        if (st != TS_OK) return st;
        logits = ts_context_logits(g->ctx);
    }
    if (result) *result = res;
    return TS_OK;
}
