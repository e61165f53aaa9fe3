/*
 * generate.c — the generation loop: prompt once, then draw tokens one at a
 * time through a sampler chain, streaming complete UTF-8 to a callback.
 *
 * Invariants:
 *   - The prompt is evaluated once per ts_generator_set_prompt; every run
 *     rolls the KV cache back to the prompt (ts_context_truncate) and starts
 *     from a saved copy of the prompt's last logits, so N samples from one
 *     prompt cost one prefill plus their own decode steps. (Only a run whose
 *     context shifted overwrites the prompt's cache; the next run evaluates
 *     the prompt again.)
 *   - Nothing is allocated per token: the logits copy, the text buffer (which
 *     also holds text that may start a stop string) and the top-logprob
 *     arrays are sized in ts_generator_new, the prompt copy in set_prompt and
 *     the token window in ts_generator_set_n_ctx.
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
 *   - Stop strings: the text released to the callback is the decoded text
 *     minus a held-back tail that is a proper prefix of some stop string; when
 *     a stop string appears, the text before it is released and the run ends.
 *   - The context window: an eval that would overflow it is never attempted
 *     blind: the run stops there (TS_STOP_CONTEXT) or, with context_shift,
 *     keeps the last half of the window, evaluated again from position 0.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ts_generator {
    ts_context *ctx;         /* borrowed */
    const ts_tokenizer *tok; /* borrowed */
    size_t n_vocab;
    float *prompt_logits; /* (n_vocab) last-position logits of the prompt */
    int32_t *prompt;      /* (prompt_cap) the prompt ids in the context */
    size_t prompt_cap;
    size_t n_prompt; /* tokens of the prompt in the KV cache */
    bool has_prompt;
    bool cache_has_prompt; /* false after a context shift overwrote it */
    size_t n_ctx;          /* the window; 0 = unknown */
    int32_t *window;       /* (n_ctx + 1) the tokens in the KV cache, with context_shift */
    char *text;            /* held stop-string prefix + one step's UTF-8 */
    size_t text_cap;
    size_t n_evals; /* ts_model_eval calls made, for tests and benchmarks */
    int32_t top_ids[TS_GEN_MAX_TOP_LOGPROBS];
    ts_token_logprob top_raw[TS_GEN_MAX_TOP_LOGPROBS];
    ts_token_logprob top[TS_GEN_MAX_TOP_LOGPROBS];
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

const char *ts_stop_reason_finish(ts_stop_reason r)
{
    return r == TS_STOP_LENGTH || r == TS_STOP_CONTEXT ? "length" : "stop";
}

const char *ts_stop_reason_name(ts_stop_reason r)
{
    switch (r) {
    case TS_STOP_EOT:
        return "eot";
    case TS_STOP_CALLBACK:
        return "callback";
    case TS_STOP_STRING:
        return "stop_string";
    case TS_STOP_CONTEXT:
        return "context";
    case TS_STOP_LENGTH:
        break;
    }
    return "length";
}

ts_status ts_generator_new(ts_context *ctx, const ts_tokenizer *tok, size_t n_vocab,
                           ts_generator **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!ctx || !tok || n_vocab == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "generator: context, tokenizer and "
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
    /* ts_utf8_stream: every byte of a push (incl. up to 3 held) can become a 3-byte
     * U+FFFD; a flush adds at most 3 more; before it, a held stop-string prefix. */
    g->text_cap = TS_GEN_STOP_MAX_BYTES + 3 * (max_bytes + 3) + 3 + 16;
    g->text = malloc(g->text_cap);
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
    free(g->prompt);
    free(g->window);
    free(g->text);
    free(g);
}

ts_status ts_generator_set_n_ctx(ts_generator *g, size_t n_ctx, char *err, size_t err_size)
{
    if (n_ctx == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "n_ctx: the context window must be > 0");
    size_t bytes;
    int32_t *w = NULL;
    if (ts_mul_overflows(n_ctx + 1, sizeof *w, &bytes) || !(w = realloc(g->window, bytes)))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "generator: out of memory");
    g->window = w;
    g->n_ctx = n_ctx;
    return TS_OK;
}

/* Evaluate g->prompt[0, n_prompt) from an empty cache and keep its last logits. */
static ts_status prefill(ts_generator *g, char *err, size_t err_size)
{
    ts_context_truncate(g->ctx, 0);
    ts_status st = ts_model_eval(g->ctx, g->prompt, g->n_prompt, err, err_size);
    g->n_evals++;
    if (st != TS_OK) return st;
    memcpy(g->prompt_logits, ts_context_logits(g->ctx), g->n_vocab * sizeof(float));
    g->cache_has_prompt = true;
    return TS_OK;
}

ts_status ts_generator_set_prompt_ex(ts_generator *g, const int32_t *ids, size_t n,
                                     const ts_gen_params *params, char *err, size_t err_size)
{
    g->has_prompt = false;
    g->n_prompt = 0;
    if (n == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "prompt: empty (the model needs at least one token to condition on)");
    if (n > g->prompt_cap) {
        int32_t *p = realloc(g->prompt, n * sizeof *p);
        if (!p) return ts_errorf(err, err_size, TS_ERR_NOMEM, "generator: out of memory");
        g->prompt = p;
        g->prompt_cap = n;
    }
    bool shift = params && params->context_shift;
    if (g->n_ctx > 0 && n > g->n_ctx) {
        if (!shift)
            return ts_errorf(err, err_size, TS_ERR_RANGE,
                             "prompt: %zu tokens do not fit the context window of %zu tokens "
                             "(context_shift keeps the last %zu)",
                             n, g->n_ctx, g->n_ctx / 2);
        size_t keep = g->n_ctx / 2 > 0 ? g->n_ctx / 2 : 1;
        ids += n - keep;
        n = keep;
    }
    memcpy(g->prompt, ids, n * sizeof *ids);
    g->n_prompt = n;
    ts_status st = prefill(g, err, err_size);
    if (st == TS_ERR_RANGE) {
        /* the window was not known: the engine's message names both sizes */
        char inner[TS_ERR_SIZE];
        snprintf(inner, sizeof inner, "%s", err ? err : "");
        g->n_prompt = 0;
        return ts_errorf(err, err_size, TS_ERR_RANGE, "prompt: %s%s", inner,
                         shift ? " (context_shift needs ts_generator_set_n_ctx)" : "");
    }
    if (st != TS_OK) {
        g->n_prompt = 0;
        return st;
    }
    g->has_prompt = true;
    return TS_OK;
}

ts_status ts_generator_set_prompt(ts_generator *g, const int32_t *ids, size_t n, char *err,
                                  size_t err_size)
{
    return ts_generator_set_prompt_ex(g, ids, n, NULL, err, err_size);
}

size_t ts_generator_prompt_size(const ts_generator *g)
{
    return g->has_prompt ? g->n_prompt : 0;
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

double ts_counter_uniform(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t h = mix64(a);
    h = mix64(h ^ b);
    h = mix64(h ^ c);
    h = mix64(h ^ d);
    /* 53 bits, offset by half an ulp so log(u) and log(-log u) are finite. */
    return ((double)(h >> 11) + 0.5) * 0x1.0p-53;
}

double ts_gumbel_noise(uint64_t seed, uint64_t stream, uint64_t step, int32_t id)
{
    return -log(-log(ts_counter_uniform(seed, stream, step, (uint64_t)(uint32_t)id)));
}

int32_t ts_gumbel_pick(const ts_candidate *cands, size_t n, uint64_t seed, uint64_t stream,
                       uint64_t step)
{
    /* argmax log p + g, g = -log(-log u)  <=>  argmin (-log u) / p. Ties (measure
     * zero) go to the lower id, whatever the order of cands. */
    int32_t best = -1;
    double best_key = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!(cands[i].p > 0.0)) continue;
        double e = -log(ts_counter_uniform(seed, stream, step, (uint64_t)(uint32_t)cands[i].id));
        double key = e / cands[i].p;
        if (best < 0 || key < best_key || (key == best_key && cands[i].id < best)) {
            best = cands[i].id;
            best_key = key;
        }
    }
    return best;
}

/* The seed of inverse-CDF stream `stream`: independent PCG32 sequences from one user seed. */
static uint64_t stream_seed(uint64_t seed, uint64_t stream)
{
    return stream == 0 ? seed : mix64(seed ^ mix64(stream));
}

/* ---- stop strings ----------------------------------------------------------- */

/* First occurrence of needle in hay, or -1. */
static long find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n) return -1;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return (long)i;
    return -1;
}

/* Earliest stop string in text[0, n): its position (or -1) and index in *which. */
static long find_stop(const ts_gen_params *p, const char *text, size_t n, int32_t *which)
{
    long best = -1;
    for (size_t k = 0; k < p->n_stop; k++) {
        long at = find_bytes(text, n, p->stop[k], strlen(p->stop[k]));
        if (at >= 0 && (best < 0 || at < best)) {
            best = at;
            *which = (int32_t)k;
        }
    }
    return best;
}

/* Length of the longest suffix of text[0, n) that is a proper prefix of a stop string. */
static size_t held_suffix(const ts_gen_params *p, const char *text, size_t n)
{
    size_t best = 0;
    for (size_t k = 0; k < p->n_stop; k++) {
        size_t m = strlen(p->stop[k]);
        for (size_t l = (m - 1 < n ? m - 1 : n); l > best; l--)
            if (memcmp(text + n - l, p->stop[k], l) == 0) {
                best = l;
                break;
            }
    }
    return best;
}

static ts_status check_params(const ts_gen_params *p, const ts_generator *g, char *err,
                              size_t err_size)
{
    if (p->n_stop > TS_GEN_MAX_STOP)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "stop: %zu strings, at most %d", p->n_stop,
                         TS_GEN_MAX_STOP);
    if (p->n_stop > 0 && !p->stop)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "stop: %zu strings but no array",
                         p->n_stop);
    for (size_t k = 0; k < p->n_stop; k++) {
        size_t m = p->stop[k] ? strlen(p->stop[k]) : 0;
        if (m == 0 || m > TS_GEN_STOP_MAX_BYTES)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "stop: string %zu has %zu bytes, expected 1 to %d", k, m,
                             TS_GEN_STOP_MAX_BYTES);
    }
    if (p->top_logprobs > TS_GEN_MAX_TOP_LOGPROBS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "top_logprobs: %zu is more than %d",
                         p->top_logprobs, TS_GEN_MAX_TOP_LOGPROBS);
    if (p->context_shift && g->n_ctx == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "context_shift: the generator does not know the context window "
                         "(ts_generator_set_n_ctx)");
    if (g->n_ctx > 0 && g->n_prompt > g->n_ctx)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "n_ctx: the prompt (%zu tokens) is longer than the window of %zu "
                         "tokens given to ts_generator_set_n_ctx",
                         g->n_prompt, g->n_ctx);
    if (p->draw != TS_DRAW_INVERSE_CDF && p->draw != TS_DRAW_GUMBEL)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "draw: unknown draw %d", (int)p->draw);
    return TS_OK;
}

/* ---- log-probabilities ---------------------------------------------------------- */

/* Fill the logprob fields of info from the raw logits and the sampled candidates. */
static ts_status fill_logprobs(ts_generator *g, const float *logits, const ts_candidate *cands,
                               size_t n_cands, size_t n_top, ts_gen_step *info)
{
    double log_z, h_raw;
    ts_status st = ts_logsumexp_entropy(logits, g->n_vocab, 1.0, &log_z, &h_raw);
    if (st != TS_OK) return st;
    info->has_logprobs = true;
    info->logprob_raw = (double)logits[info->id] - log_z;
    info->entropy_raw_nats = h_raw;
    info->logprob = info->prob > 0.0 ? log(info->prob) : -INFINITY;
    if (n_top > 0) {
        size_t k = n_top < g->n_vocab ? n_top : g->n_vocab;
        st = ts_top_k_ids(logits, g->n_vocab, k, g->top_ids);
        if (st != TS_OK) return st;
        for (size_t r = 0; r < k; r++)
            g->top_raw[r] =
                (ts_token_logprob){g->top_ids[r], (double)logits[g->top_ids[r]] - log_z};
        info->top_raw = g->top_raw;
        info->n_top_raw = k;
        size_t kp = n_top < n_cands ? n_top : n_cands;
        for (size_t r = 0; r < kp; r++) /* cands are ranked, so p is non-increasing */
            g->top[r] =
                (ts_token_logprob){cands[r].id, cands[r].p > 0.0 ? log(cands[r].p) : -INFINITY};
        info->top = g->top;
        info->n_top = kp;
    }
    return TS_OK;
}

/* ---- the loop ------------------------------------------------------------------- */

/*
 * Keep the last half of the window plus the new token: tokens window[0, n_past)
 * are in the cache and `id` is next. Re-evaluates them from position 0.
 */
static ts_status shift_window(ts_generator *g, int32_t id, char *err, size_t err_size)
{
    size_t n_past = ts_context_n_past(g->ctx);
    g->window[n_past] = id;
    size_t total = n_past + 1, keep = g->n_ctx / 2 > 0 ? g->n_ctx / 2 : 1;
    if (keep > total) keep = total;
    memmove(g->window, g->window + (total - keep), keep * sizeof *g->window);
    g->cache_has_prompt = false;
    ts_context_truncate(g->ctx, 0);
    ts_status st = ts_model_eval(g->ctx, g->window, keep, err, err_size);
    g->n_evals++;
    return st;
}

ts_status ts_generator_run(ts_generator *g, ts_sampler *sampler, const ts_gen_params *params,
                           ts_gen_callback cb, void *user, ts_gen_result *result, char *err,
                           size_t err_size)
{
    ts_gen_result res = {0, TS_STOP_LENGTH, -1, 0};
    if (result) *result = res;
    if (!g->has_prompt) return ts_errorf(err, err_size, TS_ERR_INVALID, "generator: no prompt set");
    ts_status st = check_params(params, g, err, err_size);
    if (st != TS_OK) return st;
    if (g->cache_has_prompt) {
        ts_context_truncate(g->ctx, g->n_prompt);
    } else if ((st = prefill(g, err, err_size)) != TS_OK) {
        return st;
    }
    if (g->window) memcpy(g->window, g->prompt, g->n_prompt * sizeof *g->window);
    ts_rng rng;
    ts_rng_seed(&rng, stream_seed(params->seed, params->stream));
    ts_sampler_reset(sampler);
    ts_sampler_reseed(sampler, stream_seed(params->seed, params->stream));
    ts_sampler_accept_prompt(sampler, g->prompt, g->n_prompt);

    const int32_t eot = ts_tokenizer_eot(g->tok);
    const bool want_lp = params->logprobs || params->top_logprobs > 0;
    ts_utf8_stream utf8 = {{0}, 0};
    size_t held = 0; /* text[0, held): decoded text that may start a stop string */
    const float *logits = g->prompt_logits;

    for (size_t step = 0; step < params->max_new_tokens; step++) {
        bool ban = eot >= 0 && (params->ignore_eos || step < params->min_new_tokens);
        ts_sampler_suppress(sampler, ban ? eot : -1);
        const ts_candidate *cands = NULL;
        size_t n_cands = 0;
        /* Unsorted: the ranking is needed only as far as the inverse-CDF draw
         * reaches (ts_sampler_draw) and for the top logprobs; the entropy comes
         * from the sampler's normalisation. */
        st = ts_sampler_apply_unsorted(sampler, logits, &cands, &n_cands);
        if (st != TS_OK || n_cands == 0)
            return ts_errorf(err, err_size, st != TS_OK ? st : TS_ERR_INVALID,
                             "generation step %zu: the sampler rejected the logits "
                             "(NaN / inf, or every token masked)",
                             step);
        int32_t id = params->draw == TS_DRAW_GUMBEL
                         ? ts_gumbel_pick(cands, n_cands, params->seed, params->stream, step)
                         : ts_sampler_draw(sampler, ts_rng_uniform(&rng));
        ts_gen_step info;
        memset(&info, 0, sizeof info);
        info.index = step;
        info.id = id;
        info.n_candidates = n_cands;
        info.temperature = ts_sampler_last_temperature(sampler);
        for (size_t i = 0; i < n_cands; i++)
            if (cands[i].id == id) {
                info.prob = cands[i].p;
                break;
            }
        info.entropy_nats = ts_sampler_last_entropy(sampler);
        info.is_eot = (id == eot);
        if (want_lp) {
            ts_sampler_rank_head(sampler, params->top_logprobs); /* fill_logprobs' top N */
            st = fill_logprobs(g, logits, cands, n_cands, params->top_logprobs, &info);
            if (st != TS_OK)
                return ts_errorf(err, err_size, st, "generation step %zu: logprobs failed", step);
        }
        ts_sampler_accept(sampler, id);

        bool stop_eot = info.is_eot && params->stop_at_eot;
        bool last = step + 1 == params->max_new_tokens;
        /* Evaluate the token now (unless it ends the run), so that this step's text
         * knows whether it is the last: at the window the run stops or shifts. */
        bool full = false;
        if (!stop_eot && !last) {
            size_t n_past = ts_context_n_past(g->ctx);
            if (g->n_ctx > 0 && n_past + 1 > g->n_ctx) {
                full = true;
            } else {
                st = ts_model_eval(g->ctx, &id, 1, err, err_size);
                g->n_evals++;
                if (st == TS_ERR_RANGE) { /* the window was not known: now it is */
                    g->n_ctx = n_past;
                    full = true;
                } else if (st != TS_OK) {
                    return st;
                } else if (g->window) {
                    g->window[n_past] = id;
                }
            }
            if (full && params->context_shift) {
                st = shift_window(g, id, err, err_size);
                if (st != TS_OK) return st;
                res.n_context_shifts++;
                full = false;
            }
            if (!full) logits = ts_context_logits(g->ctx);
        }
        bool ending = stop_eot || last || full;

        /* This token's text after the held text; the end flushes everything. */
        size_t len = held;
        if (!stop_eot) {
            size_t nb = 0;
            const char *bytes = ts_tokenizer_token_bytes(g->tok, id, &nb);
            if (!bytes)
                return ts_errorf(err, err_size, TS_ERR_INVALID,
                                 "generation step %zu: token id %d has no bytes", step, (int)id);
            len += ts_utf8_stream_push(&utf8, bytes, nb, g->text + len);
        }
        if (ending) len += ts_utf8_stream_flush(&utf8, g->text + len);
        int32_t which = -1;
        long at = params->n_stop ? find_stop(params, g->text, len, &which) : -1;
        size_t release = len;
        if (at >= 0)
            release = (size_t)at;
        else if (!ending && params->n_stop)
            release = len - held_suffix(params, g->text, len);
        info.text = g->text;
        info.text_len = release;
        res.n_generated = step + 1;
        if (cb && cb(&info, user) != 0) {
            res.stop = TS_STOP_CALLBACK;
            break;
        }
        if (at >= 0) {
            res.stop = TS_STOP_STRING;
            res.stop_index = which;
            break;
        }
        if (stop_eot) {
            res.stop = TS_STOP_EOT;
            break;
        }
        if (full) {
            res.stop = TS_STOP_CONTEXT;
            break;
        }
        if (last) break;
        held = len - release;
        memmove(g->text, g->text + release, held);
    }
    if (result) *result = res;
    return TS_OK;
}
