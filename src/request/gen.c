/*
 * gen.c — generation pieces shared by the generating analyses (generate,
 * compare): the sampler fields' checks, and rq_seq, one generated sequence
 * recorded step by step while its events stream out, so that a renderer can
 * replay exactly what a live listener saw.
 */
#include "rq_internal.h"

#include <stdlib.h>
#include <string.h>

const char *const rq_order_names[] = {"hf", "llama", NULL};

ts_status rq_check_sampler(const rq_run *run, const ts_sampler_params *sp, char *err,
                           size_t err_size)
{
    size_t V = (size_t)run->info->n_vocab;
    if (sp->top_k < 0 || (size_t)sp->top_k > V)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "top_k: %d is larger than the vocabulary (%zu)", (int)sp->top_k, V);
    ts_sampler *s = NULL;
    ts_status st = ts_sampler_new(sp, V, &s, err, err_size);
    ts_sampler_free(s);
    return st;
}

void rq_sampler_params(const rq_run *run, const ts_sampler_params *sp, const rq_bias *bias,
                       ts_sampler_params *out)
{
    *out = *sp;
    out->logit_bias = bias && bias->n ? bias->v : NULL;
    out->n_logit_bias = bias ? bias->n : 0;
    if (run->info) out->n_ctx = run->info->n_positions; /* the penalty history holds a window */
}

void rq_gen_controls(const rq_strings *stop, int64_t min_new_tokens, bool ignore_eos,
                     bool context_shift, ts_gen_params *gp)
{
    gp->stop = stop && stop->n ? (const char *const *)stop->v : NULL;
    gp->n_stop = stop ? stop->n : 0;
    gp->min_new_tokens = (size_t)min_new_tokens;
    gp->ignore_eos = ignore_eos;
    gp->context_shift = context_shift;
}

void rq_seq_free(rq_seq *q)
{
    free(q->ids);
    free(q->prob);
    free(q->entropy);
    free(q->temperature);
    free(q->n_cands);
    free(q->off);
    free(q->text);
    free(q->lp_raw);
    free(q->h_raw);
    free(q->lp);
    free(q->top_raw);
    free(q->top);
    free(q->n_top_raw_at);
    free(q->n_top_at);
    memset(q, 0, sizeof *q);
}

static void seq_reset(rq_seq *q)
{
    q->n = 0;
    q->len = 0;
    q->eot = false;
    q->finish_reason = "length";
    if (q->text) q->text[0] = '\0';
    if (q->off) q->off[0] = 0;
}

/* realloc *p to n elements of size elem; false (and *p kept) on failure. */
static bool grow_to(void *pp, size_t n, size_t elem)
{
    void **p = pp;
    size_t bytes;
    if (ts_mul_overflows(n ? n : 1, elem, &bytes)) return false;
    void *q = realloc(*p, bytes);
    if (!q) return false;
    *p = q;
    return true;
}

static bool seq_grow(rq_seq *q)
{
    size_t cap = q->cap ? 2 * q->cap : 64;
    bool ok = grow_to(&q->ids, cap, sizeof *q->ids) && grow_to(&q->prob, cap, sizeof *q->prob) &&
              grow_to(&q->entropy, cap, sizeof *q->entropy) &&
              grow_to(&q->temperature, cap, sizeof *q->temperature) &&
              grow_to(&q->n_cands, cap, sizeof *q->n_cands) &&
              grow_to(&q->off, cap + 1, sizeof *q->off);
    if (ok && q->has_logprobs)
        ok = grow_to(&q->lp_raw, cap, sizeof *q->lp_raw) &&
             grow_to(&q->h_raw, cap, sizeof *q->h_raw) && grow_to(&q->lp, cap, sizeof *q->lp) &&
             grow_to(&q->n_top_raw_at, cap, sizeof *q->n_top_raw_at) &&
             grow_to(&q->n_top_at, cap, sizeof *q->n_top_at) &&
             grow_to(&q->top_raw, cap * (q->n_top ? q->n_top : 1), sizeof *q->top_raw) &&
             grow_to(&q->top, cap * (q->n_top ? q->n_top : 1), sizeof *q->top);
    if (!ok) return false;
    q->cap = cap;
    return true;
}

/* Record one step; false when out of memory. */
static bool seq_push(rq_seq *q, const ts_gen_step *s)
{
    if (q->n == q->cap && !seq_grow(q)) return false;
    if (q->len + s->text_len + 1 > q->text_cap) {
        size_t cap = 2 * (q->len + s->text_len + 1) + 64;
        char *t = realloc(q->text, cap);
        if (!t) return false;
        q->text = t;
        q->text_cap = cap;
    }
    q->ids[q->n] = s->id;
    q->prob[q->n] = s->prob;
    q->entropy[q->n] = s->entropy_nats;
    q->temperature[q->n] = s->temperature;
    q->n_cands[q->n] = s->n_candidates;
    if (q->has_logprobs) {
        q->lp_raw[q->n] = s->logprob_raw;
        q->h_raw[q->n] = s->entropy_raw_nats;
        q->lp[q->n] = s->logprob;
        size_t nr = s->n_top_raw < q->n_top ? s->n_top_raw : q->n_top;
        size_t np = s->n_top < q->n_top ? s->n_top : q->n_top;
        if (nr) memcpy(q->top_raw + q->n * q->n_top, s->top_raw, nr * sizeof *s->top_raw);
        if (np) memcpy(q->top + q->n * q->n_top, s->top, np * sizeof *s->top);
        q->n_top_raw_at[q->n] = nr;
        q->n_top_at[q->n] = np;
    }
    q->off[q->n] = q->len;
    memcpy(q->text + q->len, s->text, s->text_len);
    q->len += s->text_len;
    q->text[q->len] = '\0';
    q->n++;
    q->off[q->n] = q->len;
    return true;
}

ts_gen_step rq_seq_step(const rq_seq *q, size_t i)
{
    ts_gen_step s;
    memset(&s, 0, sizeof s);
    s.index = i;
    s.id = q->ids[i];
    s.prob = q->prob[i];
    s.entropy_nats = q->entropy[i];
    s.n_candidates = q->n_cands[i];
    s.temperature = q->temperature[i];
    s.is_eot = q->eot && i + 1 == q->n;
    if (q->has_logprobs) {
        s.has_logprobs = true;
        s.logprob_raw = q->lp_raw[i];
        s.entropy_raw_nats = q->h_raw[i];
        s.logprob = q->lp[i];
        s.top_raw = q->top_raw + i * q->n_top;
        s.n_top_raw = q->n_top_raw_at[i];
        s.top = q->top + i * q->n_top;
        s.n_top = q->n_top_at[i];
    }
    s.text = q->text + q->off[i];
    s.text_len = q->off[i + 1] - q->off[i];
    return s;
}

long rq_seq_diverges(const rq_seq *a, const rq_seq *b)
{
    size_t common = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < common; i++)
        if (a->ids[i] != b->ids[i]) return (long)i;
    return a->n != b->n ? (long)common : -1;
}

typedef struct seq_cb {
    rq_run *run;
    rq_seq *q;
    const ts_event *tmpl;
    bool oom;
} seq_cb;

static int on_step(const ts_gen_step *s, void *user)
{
    seq_cb *c = user;
    if (!seq_push(c->q, s)) {
        c->oom = true;
        return 1;
    }
    ts_event ev = *c->tmpl;
    ev.kind = TS_EV_TOKEN;
    ev.step = s;
    return rq_emit(c->run, &ev) ? 0 : 1;
}

/*
 * Room for max_new steps and their text up front, so that recording a token
 * never allocates: a token's text is at most its bytes, each of which can
 * become a 3-byte U+FFFD, plus up to 3 bytes held back from the step before.
 */
static bool seq_reserve(rq_seq *q, const ts_tokenizer *tok, size_t max_new, bool logprobs,
                        size_t n_top)
{
    if (logprobs != q->has_logprobs || n_top != q->n_top) {
        /* Another shape of per-step data: start over. */
        char *text = q->text;
        size_t text_cap = q->text_cap;
        q->text = NULL;
        rq_seq_free(q);
        q->text = text;
        q->text_cap = text_cap;
        q->has_logprobs = logprobs;
        q->n_top = n_top;
    }
    while (q->cap < max_new)
        if (!seq_grow(q)) return false;
    if (!q->cap && !seq_grow(q)) return false;
    static const size_t max_token_bytes = 256; /* GPT-2's longest token is 128 bytes */
    size_t need;
    (void)tok;
    if (ts_mul_overflows(max_new, 3 * max_token_bytes + 4, &need)) return false;
    need += 16;
    if (q->text_cap < need) {
        char *t = realloc(q->text, need);
        if (!t) return false;
        q->text = t;
        q->text_cap = need;
    }
    return true;
}

ts_status rq_seq_generate(rq_run *run, ts_sampler *sampler, const ts_gen_params *gp, rq_seq *q,
                          const ts_event *tmpl, const rq_seq *ref, char *err, size_t err_size)
{
    seq_reset(q);
    if (!seq_reserve(q, run->tok, gp->max_new_tokens, gp->logprobs || gp->top_logprobs > 0,
                     gp->top_logprobs))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory for %zu tokens",
                         gp->max_new_tokens);
    q->off[0] = 0;
    q->text[0] = '\0';
    ts_event ev = *tmpl;
    ev.kind = TS_EV_SAMPLE_BEGIN;
    if (!rq_emit(run, &ev)) return ts_errorf(err, err_size, TS_ERR_IO, "cancelled");
    seq_cb cb = {run, q, tmpl, false};
    ts_gen_result res;
    ts_status st = ts_generator_run(run->slot->gen, sampler, gp, on_step, &cb, &res, err, err_size);
    if (cb.oom) return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    if (run->cancelled) return ts_errorf(err, err_size, TS_ERR_IO, "cancelled");
    if (st != TS_OK) return st;
    q->result = res;
    q->eot = res.stop == TS_STOP_EOT;
    q->finish_reason = ts_stop_reason_finish(res.stop);
    ev = *tmpl;
    ev.kind = TS_EV_SAMPLE_END;
    ev.finish_reason = q->finish_reason;
    ev.text = q->text ? q->text : "";
    ev.text_len = q->len;
    ev.eot = q->eot;
    ev.diverges_at = -1;
    if (ref) {
        ev.compared = true;
        ev.diverges_at = rq_seq_diverges(q, ref);
        if (ev.diverges_at >= 0)
            ev.diverge_offset = (size_t)ev.diverges_at < q->n ? q->off[ev.diverges_at] : q->len;
    }
    if (!rq_emit(run, &ev)) return ts_errorf(err, err_size, TS_ERR_IO, "cancelled");
    return TS_OK;
}

static cJSON *json_alternatives(const ts_tokenizer *tok, const ts_token_logprob *top, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        rq_json_add_token(e, tok, top[i].id);
        cJSON_AddItemToObject(e, "logprob", rq_json_number(top[i].logprob));
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

cJSON *rq_json_step(const ts_tokenizer *tok, const ts_gen_step *s)
{
    cJSON *e = cJSON_CreateObject();
    if (!e) return NULL;
    rq_json_add_token(e, tok, s->id);
    cJSON_AddNumberToObject(e, "prob", s->prob);
    cJSON_AddNumberToObject(e, "entropy_nats", s->entropy_nats);
    cJSON_AddItemToObject(e, "temperature", rq_json_number(s->temperature));
    if (s->has_logprobs) {
        /* raw: the model at T = 1; sampled: the distribution the token was drawn from */
        cJSON_AddItemToObject(e, "logprob_raw", rq_json_number(s->logprob_raw));
        cJSON_AddItemToObject(e, "logprob_sampled", rq_json_number(s->logprob));
        cJSON_AddNumberToObject(e, "entropy_raw_nats", s->entropy_raw_nats);
        cJSON_AddNumberToObject(e, "entropy_sampled_nats", s->entropy_nats);
        cJSON_AddItemToObject(e, "top_raw", json_alternatives(tok, s->top_raw, s->n_top_raw));
        cJSON_AddItemToObject(e, "top_sampled", json_alternatives(tok, s->top, s->n_top));
    }
    return e;
}
