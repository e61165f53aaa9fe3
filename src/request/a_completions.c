/*
 * a_completions.c — OpenAI's legacy Completions API (POST /v1/completions)
 * as an analysis of the request layer, so the server and `tempscale batch`
 * answer it with the same code. Fields follow the OpenAI API reference
 * (model, prompt, max_tokens, temperature, top_p, n, stop, seed, stream,
 * logprobs, echo, presence_penalty, frequency_penalty, logit_bias, user) plus
 * tempscale's extensions (top_k, min_p, order, logprobs_mode).
 *
 * prompt may be a string, an array of strings, an array of token ids or an
 * array of arrays of token ids (api.c flattens it into prompt_texts or
 * prompt_ids + prompt_lens). Choice i * n + j is sample j of prompt i.
 * Differences from OpenAI, on purpose: temperature may be any T >= 0 and
 * "inf" (OpenAI: 0 to 2); max_tokens is capped by the context window with
 * finish_reason "length" instead of an error.
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static const char *const logprobs_modes[] = {"raw", "processed", NULL};

typedef struct req_completion {
    rq_strings prompt_texts; /* filled by api.c */
    rq_ids prompt_ids;       /* all id prompts, concatenated */
    rq_ids prompt_lens;      /* their lengths */
    ts_sampler_params sp;
    rq_bias bias;
    int64_t max_tokens;
    int64_t n;
    rq_strings stop;
    int64_t min_new_tokens;
    bool ignore_eos;
    bool context_shift;
    uint64_t seed;
    bool stream;
    int64_t logprobs; /* -1 = none */
    bool echo;
    int logprobs_mode; /* 0 raw, 1 processed */
    rq_str user;
    int64_t best_of;
    rq_str suffix;
} req_completion;

static const rq_field fields[] = {
    {.info = {.name = "prompt_texts", .type = TS_FIELD_STRINGS, .flags = TS_FIELD_HIDDEN},
     .off = offsetof(req_completion, prompt_texts),
     .max_items = 1024},
    {.info = {.name = "prompt_ids", .type = TS_FIELD_IDS, .flags = TS_FIELD_HIDDEN},
     .off = offsetof(req_completion, prompt_ids),
     .max = 2147483647.0},
    {.info = {.name = "prompt_lens", .type = TS_FIELD_IDS, .flags = TS_FIELD_HIDDEN},
     .off = offsetof(req_completion, prompt_lens),
     .max = 2147483647.0,
     .max_items = 1024},
    {.info = {.name = "max_tokens", .type = TS_FIELD_INT, .def = "16"},
     .off = offsetof(req_completion, max_tokens),
     .min = 0,
     .max = 1 << 20},
    {.info = {.name = "temperature", .type = TS_FIELD_DOUBLE, .def = "1"},
     .off = offsetof(req_completion, sp.temperature),
     .min = 0,
     .max = INFINITY,
     .hint = "(0 = greedy, inf = uniform)"},
    RQ_SAMPLER_TRUNC_FIELDS(req_completion),
    RQ_SAMPLER_MORE_FIELDS(req_completion),
    RQ_GEN_FIELDS(req_completion),
    {.info = {.name = "n", .type = TS_FIELD_INT, .def = "1"},
     .off = offsetof(req_completion, n),
     .min = 1,
     .max = 128},
    {.info = {.name = "best_of", .type = TS_FIELD_INT, .def = "1"},
     .off = offsetof(req_completion, best_of),
     .min = 1,
     .max = 1,
     .hint = "(best_of is not supported: only 1)"},
    {.info = {.name = "seed", .type = TS_FIELD_U64}, .off = offsetof(req_completion, seed)},
    {.info = {.name = "stream", .type = TS_FIELD_BOOL}, .off = offsetof(req_completion, stream)},
    {.info = {.name = "logprobs", .type = TS_FIELD_INT},
     .off = offsetof(req_completion, logprobs),
     .min = 0,
     .max = 20},
    {.info =
         {.name = "logprobs_mode", .type = TS_FIELD_ENUM, .def = "raw", .choices = logprobs_modes},
     .off = offsetof(req_completion, logprobs_mode)},
    {.info = {.name = "echo", .type = TS_FIELD_BOOL}, .off = offsetof(req_completion, echo)},
    {.info = {.name = "user", .type = TS_FIELD_STRING}, .off = offsetof(req_completion, user)},
    {.info = {.name = "suffix", .type = TS_FIELD_STRING}, .off = offsetof(req_completion, suffix)},
};

static void init(void *p)
{
    req_completion *q = p;
    q->sp = ts_sampler_default_params();
    q->sp.top_k = 0; /* OpenAI has no top-k */
    q->max_tokens = 16;
    q->n = 1;
    q->best_of = 1;
    q->logprobs = -1;
}

typedef struct cmpl_prompt {
    int32_t *ids;
    size_t n_ids;
    size_t max_new;
    rq_seq *seqs; /* [n] */
} cmpl_prompt;

typedef struct res_completion {
    cmpl_prompt *p;
    size_t n_prompts, n;
    char id[40];
    long long created;
} res_completion;

void rq_completion_id(char *out, size_t size)
{
    uint64_t r = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &r, sizeof r) != (ssize_t)sizeof r) r = 0;
        close(fd);
    }
    if (r == 0) r = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)out;
    snprintf(out, size, "cmpl-%016llx", (unsigned long long)r);
}

static void free_result(void *v)
{
    res_completion *c = v;
    for (size_t i = 0; i < c->n_prompts; i++) {
        free(c->p[i].ids);
        for (size_t j = 0; c->p[i].seqs && j < c->n; j++)
            rq_seq_free(&c->p[i].seqs[j]);
        free(c->p[i].seqs);
    }
    free(c->p);
    free(c);
}

static size_t n_prompts_of(const req_completion *q)
{
    return q->prompt_texts.n ? q->prompt_texts.n : q->prompt_lens.n;
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_completion *q = RQ_REQ(r, req_completion);
    if (n_prompts_of(q) == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "prompt: missing (a string, an array of "
                         "strings or an array of token ids)");
    if (q->suffix.s && q->suffix.n)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "suffix: not supported (GPT-2 has no fill-in-the-middle)");
    return TS_OK;
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_completion *q = RQ_REQ(run->req, req_completion);
    ts_sampler_params sp;
    rq_sampler_params(run, &q->sp, &q->bias, &sp);
    ts_status st = rq_check_sampler(run, &sp, err, err_size);
    if (st != TS_OK) return st;
    run->long_prompts_ok = q->context_shift;
    res_completion *c = calloc(1, sizeof *c);
    if (!c) return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    c->n_prompts = n_prompts_of(q);
    c->n = (size_t)q->n;
    c->p = calloc(c->n_prompts, sizeof *c->p);
    if (!c->p) {
        free(c);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    }
    rq_completion_id(c->id, sizeof c->id);
    c->created = (long long)time(NULL);
    size_t n_ctx = (size_t)run->info->n_positions, V = (size_t)run->info->n_vocab;
    size_t off = 0;
    for (size_t i = 0; i < c->n_prompts && st == TS_OK; i++) {
        cmpl_prompt *p = &c->p[i];
        char field[48];
        snprintf(field, sizeof field, c->n_prompts > 1 ? "prompt: item %zu" : "prompt", i + 1);
        if (q->prompt_texts.n) {
            st = rq_encode_prompt(run, field, q->prompt_texts.v[i], strlen(q->prompt_texts.v[i]),
                                  &p->ids, &p->n_ids, err, err_size);
        } else {
            size_t len = (size_t)q->prompt_lens.v[i];
            if (len == 0)
                st = ts_errorf(err, err_size, TS_ERR_INVALID, "%s: empty list of token ids", field);
            for (size_t k = 0; st == TS_OK && k < len; k++)
                if ((size_t)q->prompt_ids.v[off + k] >= V)
                    st = ts_errorf(err, err_size, TS_ERR_INVALID,
                                   "%s: token id %d is outside the vocabulary [0, %zu)", field,
                                   (int)q->prompt_ids.v[off + k], V);
            if (st == TS_OK && len > n_ctx)
                st = ts_errorf(err, err_size, TS_ERR_RANGE,
                               "%s: %zu tokens, longer than the model's context of %zu", field, len,
                               n_ctx);
            if (st == TS_OK) {
                p->ids = malloc(len * sizeof *p->ids);
                if (!p->ids)
                    st = ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
                else
                    memcpy(p->ids, q->prompt_ids.v + off, len * sizeof *p->ids);
                p->n_ids = len;
            }
            off += len;
        }
        p->seqs = calloc(c->n, sizeof *p->seqs);
        if (st == TS_OK && !p->seqs) st = ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
        p->max_new = (size_t)q->max_tokens;
    }
    ts_gen_params gp = ts_gen_default_params();
    rq_gen_controls(&q->stop, q->min_new_tokens, q->ignore_eos, q->context_shift, &gp);
    gp.seed = q->seed;
    gp.logprobs = q->logprobs >= 0;
    gp.top_logprobs = q->logprobs > 0 ? (size_t)q->logprobs : 0;
    for (size_t i = 0; i < c->n_prompts && st == TS_OK; i++) {
        cmpl_prompt *p = &c->p[i];
        st = ts_generator_set_prompt_ex(run->slot->gen, p->ids, p->n_ids, &gp, err, err_size);
        for (size_t j = 0; j < c->n && st == TS_OK; j++) {
            ts_event tmpl;
            memset(&tmpl, 0, sizeof tmpl);
            tmpl.prompt_index = i;
            tmpl.sample_index = j;
            tmpl.temperature = q->sp.temperature;
            tmpl.prompt_ids = p->ids;
            tmpl.n_prompt_ids = p->n_ids;
            if (p->max_new == 0) {
                p->seqs[j].finish_reason = "length";
                ts_event ev = tmpl;
                ev.kind = TS_EV_SAMPLE_BEGIN;
                rq_emit(run, &ev);
                ev.kind = TS_EV_SAMPLE_END;
                ev.finish_reason = "length";
                ev.text = "";
                rq_emit(run, &ev);
                continue;
            }
            ts_sampler *sampler = NULL;
            st = ts_sampler_new(&sp, V, &sampler, err, err_size);
            if (st != TS_OK) break;
            gp.max_new_tokens = p->max_new;
            gp.stream = i * c->n + j;
            st = rq_seq_generate(run, sampler, &gp, &p->seqs[j], &tmpl, NULL, err, err_size);
            ts_sampler_free(sampler);
        }
    }
    if (st != TS_OK) {
        free_result(c);
        return st;
    }
    *out = c;
    return TS_OK;
}

/* A streamed chunk for one token (or the final empty one with a finish_reason). */
char *rq_completion_chunk(const char *id, long long created, const char *model, size_t index,
                          const char *text, size_t len, const char *finish_reason)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", model);
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    char *t = rq_bytes_utf8(text, len);
    cJSON_AddStringToObject(c, "text", t ? t : "");
    free(t);
    cJSON_AddNumberToObject(c, "index", (double)index);
    cJSON_AddNullToObject(c, "logprobs");
    if (finish_reason)
        cJSON_AddStringToObject(c, "finish_reason", finish_reason);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(ch, c);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Code points in s[0..n) (what OpenAI's text_offset counts). */
static size_t code_points(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* OpenAI's logprobs object of one choice: tokens, token_logprobs, top_logprobs, text_offset. */
static cJSON *json_logprobs(const ts_result *res, const cmpl_prompt *p, const rq_seq *sq, bool echo,
                            bool raw)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *tokens = cJSON_AddArrayToObject(o, "tokens");
    cJSON *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(o, "text_offset");
    size_t off = 0;
    if (echo) {
        /* The prompt's own tokens: no distribution was computed for them here. */
        for (size_t k = 0; k < p->n_ids; k++) {
            char *t = rq_token_utf8(res->tok, p->ids[k]);
            cJSON_AddItemToArray(tokens, cJSON_CreateString(t ? t : ""));
            cJSON_AddItemToArray(lps, cJSON_CreateNull());
            cJSON_AddItemToArray(tops, cJSON_CreateNull());
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            off += t ? code_points(t, strlen(t)) : 0;
            free(t);
        }
    }
    for (size_t k = 0; k < sq->n; k++) {
        ts_gen_step st = rq_seq_step(sq, k);
        char *t = rq_token_utf8(res->tok, st.id);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(t ? t : ""));
        free(t);
        cJSON_AddItemToArray(lps, rq_json_number(raw ? st.logprob_raw : st.logprob));
        const ts_token_logprob *top = raw ? st.top_raw : st.top;
        size_t n_top = raw ? st.n_top_raw : st.n_top;
        cJSON *d = cJSON_CreateObject();
        for (size_t j = 0; j < n_top; j++) {
            char *tt = rq_token_utf8(res->tok, top[j].id);
            /* Two ids that print alike keep the likelier (the first). */
            if (tt && !cJSON_GetObjectItemCaseSensitive(d, tt))
                cJSON_AddItemToObject(d, tt, rq_json_number(top[j].logprob));
            free(tt);
        }
        cJSON_AddItemToArray(tops, d);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += code_points(st.text, st.text_len);
    }
    return o;
}

static cJSON *json(const ts_result *res)
{
    const res_completion *c = res->data;
    const req_completion *q = RQ_REQ(res->req, req_completion);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "id", c->id);
    cJSON_AddStringToObject(root, "object", "text_completion");
    cJSON_AddNumberToObject(root, "created", (double)c->created);
    cJSON_AddStringToObject(root, "model", res->model_name);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    size_t prompt_tokens = 0, completion_tokens = 0;
    for (size_t i = 0; i < c->n_prompts; i++) {
        const cmpl_prompt *p = &c->p[i];
        prompt_tokens += p->n_ids;
        for (size_t j = 0; j < c->n; j++) {
            const rq_seq *sq = &p->seqs[j];
            /* The end-of-text token is not part of the text. */
            completion_tokens += sq->n;
            cJSON *ch = cJSON_CreateObject();
            rq_buf text = {0};
            rq_buf_put(&text, "", 0);
            if (q->echo) {
                char *pt = rq_ids_text(res->tok, p->ids, p->n_ids);
                if (pt) rq_buf_puts(&text, pt);
                free(pt);
            }
            if (sq->text) rq_buf_puts(&text, sq->text);
            cJSON_AddStringToObject(ch, "text", text.p ? text.p : "");
            free(text.p);
            cJSON_AddNumberToObject(ch, "index", (double)(i * c->n + j));
            if (q->logprobs >= 0 && sq->has_logprobs)
                cJSON_AddItemToObject(ch, "logprobs",
                                      json_logprobs(res, p, sq, q->echo, q->logprobs_mode == 0));
            else
                cJSON_AddNullToObject(ch, "logprobs");
            cJSON_AddStringToObject(ch, "finish_reason",
                                    sq->finish_reason ? sq->finish_reason : "length");
            cJSON_AddItemToArray(choices, ch);
        }
    }
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt_tokens + completion_tokens));
    cJSON_AddNumberToObject(root, "seed", (double)q->seed);
    return root;
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_completion *c = res->data;
    for (size_t i = 0; i < c->n_prompts; i++)
        for (size_t j = 0; j < c->n; j++) {
            const rq_seq *sq = &c->p[i].seqs[j];
            ts_doc_printf(d, TS_STYLE_DIM, "choice %zu: ", i * c->n + j);
            ts_doc_text(d, TS_STYLE_PLAIN, sq->text ? sq->text : "", sq->len);
            ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
        }
}

const ts_analysis rq_completions = {
    .name = "completions",
    .route = "/v1/completions",
    .summary = "OpenAI-compatible text completions",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_completion),
    .init = init,
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
};
