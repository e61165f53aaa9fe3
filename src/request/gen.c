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

void rq_seq_free(rq_seq *q)
{
    free(q->ids);
    free(q->prob);
    free(q->entropy);
    free(q->n_cands);
    free(q->off);
    free(q->text);
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

static bool seq_grow(rq_seq *q)
{
    size_t cap = q->cap ? 2 * q->cap : 64;
    int32_t *ids = realloc(q->ids, cap * sizeof *ids);
    if (ids) q->ids = ids;
    double *p = ids ? realloc(q->prob, cap * sizeof *p) : NULL;
    if (p) q->prob = p;
    double *h = p ? realloc(q->entropy, cap * sizeof *h) : NULL;
    if (h) q->entropy = h;
    size_t *c = h ? realloc(q->n_cands, cap * sizeof *c) : NULL;
    if (c) q->n_cands = c;
    size_t *o = c ? realloc(q->off, (cap + 1) * sizeof *o) : NULL;
    if (o) q->off = o;
    if (!o) return false;
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
    q->n_cands[q->n] = s->n_candidates;
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
    s.is_eot = q->eot && i + 1 == q->n;
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
static bool seq_reserve(rq_seq *q, const ts_tokenizer *tok, size_t max_new)
{
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
    if (!seq_reserve(q, run->tok, gp->max_new_tokens))
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
    q->eot = res.stop == TS_STOP_EOT;
    q->finish_reason = q->eot ? "stop" : "length";
    ev = *tmpl;
    ev.kind = TS_EV_SAMPLE_END;
    ev.finish_reason = q->finish_reason;
    ev.text = q->text ? q->text : "";
    ev.text_len = q->len;
    ev.eot = q->eot;
    ev.diverges_at = -1;
    if (ref) {
        ev.diverges_at = rq_seq_diverges(q, ref);
        if (ev.diverges_at >= 0)
            ev.diverge_offset = (size_t)ev.diverges_at < q->n ? q->off[ev.diverges_at] : q->len;
    }
    if (!rq_emit(run, &ev)) return ts_errorf(err, err_size, TS_ERR_IO, "cancelled");
    return TS_OK;
}
