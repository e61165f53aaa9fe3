/*
 * a_generate.c — the `generate` analysis: sample text with the sampler chain
 * (temperature, top-k, top-p, min-p, in HF or llama.cpp order), one or more
 * samples per prompt, one or more prompts. Each prompt is evaluated once;
 * every sample rolls the KV cache back to it. Tokens stream out as events,
 * and the terminal rendering is built from the same three renderers whether
 * it is drawn live (doc_event) or afterwards from the result (doc).
 * Defaults follow Hugging Face generate(do_sample=True). A prompt that
 * leaves no room for max_new_tokens is not refused: generation stops at the
 * context window with finish_reason "length" and a warning.
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_generate {
    rq_str prompt;
    rq_ids ids;
    rq_strings prompts;
    rq_strings labels;
    ts_sampler_params sp;
    rq_bias bias;
    int64_t max_new_tokens;
    int64_t samples;
    uint64_t seed;
    rq_strings stop;
    int64_t min_new_tokens;
    bool ignore_eos;
    bool context_shift;
    int64_t logprobs; /* -1 = off; N >= 0: log-probs and N alternatives per token */
    bool verbose;
} req_generate;

static const rq_field fields[] = {
    RQ_PROMPT_FIELDS(req_generate),
    {.info = {.name = "prompts",
              .type = TS_FIELD_STRINGS,
              .metavar = "TEXT",
              .help = "several prompts, each continued in turn (CLI: --prompts-file)",
              .flags = TS_FIELD_REPEAT | TS_FIELD_HIDDEN},
     .off = offsetof(req_generate, prompts),
     .max_items = 10000},
    {.info = {.name = "labels",
              .type = TS_FIELD_STRINGS,
              .metavar = "LIST",
              .help = "a label per prompt, shown in the output",
              .flags = TS_FIELD_REPEAT | TS_FIELD_HIDDEN},
     .off = offsetof(req_generate, labels),
     .max_items = 10000},
    RQ_SAMPLER_FIELDS(req_generate),
    {.info = {.name = "max_new_tokens",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "50",
              .help = "at most N new tokens (fewer when the context window ends first)"},
     .off = offsetof(req_generate, max_new_tokens),
     .min = 1,
     .max = 1 << 20},
    {.info = {.name = "samples",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "1",
              .help = "N independent samples from each prompt"},
     .off = offsetof(req_generate, samples),
     .min = 1,
     .max = 100000},
    {.info = {.name = "seed",
              .type = TS_FIELD_U64,
              .metavar = "S",
              .def = "random, printed",
              .help = "random seed"},
     .off = offsetof(req_generate, seed)},
    RQ_GEN_FIELDS(req_generate),
    {.info = {.name = "logprobs",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .help = "per token: log-prob under the model (raw, T = 1) and as sampled, and "
                      "the top N alternatives of both (N <= 20)"},
     .off = offsetof(req_generate, logprobs),
     .min = 0,
     .max = TS_GEN_MAX_TOP_LOGPROBS},
    {.info = {.name = "verbose",
              .type = TS_FIELD_BOOL,
              .help = "per step: the chosen token, its probability, the entropy"},
     .off = offsetof(req_generate, verbose)},
};

static void init(void *p)
{
    req_generate *q = p;
    q->sp = ts_sampler_default_params();
    q->max_new_tokens = 50;
    q->samples = 1;
    q->logprobs = -1;
}

typedef struct gen_prompt {
    int32_t *ids;
    size_t n_ids;
    char *text; /* the prompt as given (valid UTF-8), or NULL for ids */
    const char *label;
    rq_seq *seqs; /* [samples] */
} gen_prompt;

typedef struct res_generate {
    gen_prompt *p;
    size_t n_prompts, samples;
} res_generate;

static void free_result(void *v)
{
    res_generate *g = v;
    for (size_t i = 0; i < g->n_prompts; i++) {
        free(g->p[i].ids);
        free(g->p[i].text);
        for (size_t j = 0; g->p[i].seqs && j < g->samples; j++)
            rq_seq_free(&g->p[i].seqs[j]);
        free(g->p[i].seqs);
    }
    free(g->p);
    free(g);
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_generate *q = RQ_REQ(r, req_generate);
    if (q->prompts.n && (q->prompt.s || q->ids.n))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "prompts: give either one prompt (prompt / ids) or a list of prompts");
    if (q->labels.n && q->labels.n != (q->prompts.n ? q->prompts.n : 1))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "labels: %zu labels for %zu prompts",
                         q->labels.n, q->prompts.n ? q->prompts.n : 1);
    return TS_OK;
}

/* ---- rendering: the same three steps live and from the result -------------- */

static void render_begin(ts_doc *d, const req_generate *q, const ts_tokenizer *tok,
                         const ts_event *ev, size_t n_prompts)
{
    if (n_prompts > 1 && ev->sample_index == 0) {
        const char *label = q->labels.n ? q->labels.v[ev->prompt_index] : NULL;
        ts_doc_printf(d, TS_STYLE_BOLD, "=== prompt %zu of %zu%s%s%s ===\n", ev->prompt_index + 1,
                      n_prompts, label ? " [" : "", label ? label : "", label ? "]" : "");
    }
    if (q->samples > 1)
        ts_doc_printf(d, TS_STYLE_DIM, "--- sample %zu of %lld ---\n", ev->sample_index + 1,
                      (long long)q->samples);
    if (q->logprobs >= 0) {
        ts_doc_printf(d, TS_STYLE_BOLD,
                      "  step  token              logp raw  logp sampled   H raw  H sampled"
                      "  alternatives: raw | sampled\n");
        return;
    }
    if (q->verbose) {
        ts_doc_printf(d, TS_STYLE_BOLD,
                      "  step  token                    id      prob  entropy  candidates\n");
        return;
    }
    char *pt = rq_ids_text(tok, ev->prompt_ids, ev->n_prompt_ids);
    if (pt) ts_doc_text(d, TS_STYLE_PROMPT, pt, strlen(pt));
    free(pt);
}

/* "' the' -1.23, ' a' -2.01" for up to 3 alternatives. */
static void alternatives(char *out, size_t size, const ts_tokenizer *tok,
                         const ts_token_logprob *top, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && i < 3 && used < size; i++) {
        char tb[64];
        used += (size_t)snprintf(out + used, size - used, "%s%s %.2f", i ? ", " : "",
                                 rq_token_display(tok, top[i].id, tb, sizeof tb), top[i].logprob);
    }
}

static void render_token(ts_doc *d, const req_generate *q, const ts_tokenizer *tok,
                         const ts_gen_step *s)
{
    if (q->logprobs >= 0 && s->has_logprobs) {
        char tb[256], ar[256], ap[256];
        alternatives(ar, sizeof ar, tok, s->top_raw, s->n_top_raw);
        alternatives(ap, sizeof ap, tok, s->top, s->n_top);
        ts_doc_printf(d, TS_STYLE_PLAIN, "  %4zu  %-16s %9.3f  %12.3f  %6.3f  %9.3f  %s | %s\n",
                      s->index + 1, rq_token_display(tok, s->id, tb, sizeof tb), s->logprob_raw,
                      s->logprob, s->entropy_raw_nats, s->entropy_nats, ar, ap);
        return;
    }
    if (!q->verbose) {
        ts_doc_text(d, TS_STYLE_PLAIN, s->text, s->text_len);
        return;
    }
    char tb[256];
    ts_doc_printf(d, TS_STYLE_PLAIN, "  %4zu  %-20s %6d  %8.4f  %8.3f  %6zu\n", s->index + 1,
                  rq_token_display(tok, s->id, tb, sizeof tb), (int)s->id, s->prob, s->entropy_nats,
                  s->n_candidates);
}

static void render_end(ts_doc *d, const req_generate *q, const ts_tokenizer *tok,
                       const ts_event *ev)
{
    if (q->logprobs >= 0) {
        ts_doc_printf(d, TS_STYLE_DIM,
                      "  (raw: the model's own distribution at T = 1, what vLLM returns by "
                      "default; sampled: the\n   distribution the token was drawn from, after "
                      "penalties, temperature and truncation)\n");
        char *pt = rq_ids_text(tok, ev->prompt_ids, ev->n_prompt_ids);
        if (pt) ts_doc_text(d, TS_STYLE_PROMPT, pt, strlen(pt));
        free(pt);
        ts_doc_text(d, TS_STYLE_PLAIN, ev->text, ev->text_len);
    } else if (q->verbose) {
        ts_doc_printf(d, TS_STYLE_DIM,
                      "  (prob and entropy are of the distribution each token was drawn from,\n"
                      "   after temperature and truncation)\n");
        char *pt = rq_ids_text(tok, ev->prompt_ids, ev->n_prompt_ids);
        if (pt) ts_doc_text(d, TS_STYLE_PROMPT, pt, strlen(pt));
        free(pt);
        ts_doc_text(d, TS_STYLE_PLAIN, ev->text, ev->text_len);
    }
    if (ev->eot) ts_doc_text(d, TS_STYLE_DIM, " <|endoftext|>", 14);
    ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
}

static size_t n_prompts_of(const req_generate *q)
{
    return q->prompts.n ? q->prompts.n : 1;
}

static void doc_event(const ts_request *r, const ts_tokenizer *tok, const ts_event *ev, ts_doc *d)
{
    const req_generate *q = RQ_REQ(r, req_generate);
    switch (ev->kind) {
    case TS_EV_SAMPLE_BEGIN:
        render_begin(d, q, tok, ev, n_prompts_of(q));
        break;
    case TS_EV_TOKEN:
        render_token(d, q, tok, ev->step);
        break;
    case TS_EV_SAMPLE_END:
        render_end(d, q, tok, ev);
        break;
    default:
        break;
    }
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    if (live) return; /* everything was drawn as it happened */
    const res_generate *g = res->data;
    const req_generate *q = RQ_REQ(res->req, req_generate);
    for (size_t i = 0; i < g->n_prompts; i++)
        for (size_t j = 0; j < g->samples; j++) {
            const rq_seq *sq = &g->p[i].seqs[j];
            ts_event ev;
            memset(&ev, 0, sizeof ev);
            ev.prompt_index = i;
            ev.sample_index = j;
            ev.prompt_ids = g->p[i].ids;
            ev.n_prompt_ids = g->p[i].n_ids;
            render_begin(d, q, res->tok, &ev, g->n_prompts);
            for (size_t k = 0; k < sq->n; k++) {
                ts_gen_step s = rq_seq_step(sq, k);
                render_token(d, q, res->tok, &s);
            }
            ev.text = sq->text ? sq->text : "";
            ev.text_len = sq->len;
            ev.eot = sq->eot;
            render_end(d, q, res->tok, &ev);
        }
}

/* ---- run --------------------------------------------------------------------- */

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_generate *q = RQ_REQ(run->req, req_generate);
    ts_sampler_params sp;
    rq_sampler_params(run, &q->sp, &q->bias, &sp);
    ts_status st = rq_check_sampler(run, &sp, err, err_size);
    if (st != TS_OK) return st;
    res_generate *g = calloc(1, sizeof *g);
    if (!g) return ts_errorf(err, err_size, TS_ERR_NOMEM, "generate: out of memory");
    g->n_prompts = n_prompts_of(q);
    g->samples = (size_t)q->samples;
    g->p = calloc(g->n_prompts, sizeof *g->p);
    if (!g->p) {
        free(g);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "generate: out of memory");
    }
    size_t V = (size_t)run->info->n_vocab, n_ctx = (size_t)run->info->n_positions;
    ts_gen_params gp = ts_gen_default_params();
    rq_gen_controls(&q->stop, q->min_new_tokens, q->ignore_eos, q->context_shift, &gp);
    gp.max_new_tokens = (size_t)q->max_new_tokens;
    gp.seed = q->seed;
    gp.logprobs = q->logprobs >= 0;
    gp.top_logprobs = q->logprobs > 0 ? (size_t)q->logprobs : 0;
    run->long_prompts_ok = q->context_shift;
    /* Tokenize every prompt before generating anything. */
    for (size_t i = 0; i < g->n_prompts && st == TS_OK; i++) {
        gen_prompt *p = &g->p[i];
        p->seqs = calloc(g->samples, sizeof *p->seqs);
        if (!p->seqs)
            st = ts_errorf(err, err_size, TS_ERR_NOMEM, "generate: out of memory");
        else if (q->prompts.n) {
            char field[48]; /* "prompts: item " and up to 20 digits */
            snprintf(field, sizeof field, "prompts: item %zu", i + 1);
            st = rq_encode_prompt(run, field, q->prompts.v[i], strlen(q->prompts.v[i]), &p->ids,
                                  &p->n_ids, err, err_size);
            p->text = rq_bytes_utf8(q->prompts.v[i], strlen(q->prompts.v[i]));
        } else {
            st = rq_prompt_ids(run, &q->prompt, &q->ids, &p->ids, &p->n_ids, err, err_size);
            if (!q->ids.n)
                p->text = q->prompt.s ? rq_bytes_utf8(q->prompt.s, q->prompt.n)
                                      : strdup(RQ_DEFAULT_PROMPT);
        }
        if (q->labels.n) p->label = q->labels.v[i];
    }
    if (st == TS_OK && q->sp.temperature == 0 && g->samples > 1 && !q->sp.xtc_probability &&
        !q->sp.mirostat)
        rq_warn(run, "temperature: 0 is greedy decoding, so the %zu samples are identical",
                g->samples);
    bool warned_window = false;
    for (size_t i = 0; i < g->n_prompts && st == TS_OK; i++) {
        gen_prompt *p = &g->p[i];
        st = ts_generator_set_prompt_ex(run->slot->gen, p->ids, p->n_ids, &gp, err, err_size);
        if (st == TS_OK && ts_generator_prompt_size(run->slot->gen) < p->n_ids)
            rq_warn(run,
                    "context_shift: the prompt%s is %zu tokens, longer than the window of %zu; "
                    "it keeps its last %zu",
                    g->n_prompts > 1 ? " of this item" : "", p->n_ids, n_ctx,
                    ts_generator_prompt_size(run->slot->gen));
        for (size_t j = 0; j < g->samples && st == TS_OK; j++) {
            ts_sampler *sampler = NULL;
            st = ts_sampler_new(&sp, V, &sampler, err, err_size);
            if (st != TS_OK) break;
            gp.stream = i * g->samples + j;
            ts_event tmpl;
            memset(&tmpl, 0, sizeof tmpl);
            tmpl.prompt_index = i;
            tmpl.sample_index = j;
            tmpl.temperature = q->sp.temperature;
            tmpl.prompt_ids = p->ids;
            tmpl.n_prompt_ids = p->n_ids;
            st = rq_seq_generate(run, sampler, &gp, &p->seqs[j], &tmpl, NULL, err, err_size);
            ts_sampler_free(sampler);
            if (st == TS_OK && p->seqs[j].result.stop == TS_STOP_CONTEXT && !warned_window) {
                warned_window = true;
                rq_warn(run,
                        "max_new_tokens: generation reached the end of the context window "
                        "(%zu tokens) after %zu new tokens and stopped (finish_reason "
                        "\"length\"); context_shift continues past it",
                        n_ctx, p->seqs[j].n);
            }
        }
    }
    if (st != TS_OK) {
        free_result(g);
        return st;
    }
    *out = g;
    return TS_OK;
}

/* ---- JSON ---------------------------------------------------------------------- */

static cJSON *json_steps(const ts_tokenizer *tok, const rq_seq *sq)
{
    cJSON *steps = cJSON_CreateArray();
    for (size_t k = 0; steps && k < sq->n; k++) {
        ts_gen_step s = rq_seq_step(sq, k);
        cJSON_AddItemToArray(steps, rq_json_step(tok, &s));
    }
    return steps;
}

/* One prompt's results into o: text / steps of the first sample, and every sample. */
static void json_prompt(cJSON *o, const ts_tokenizer *tok, const gen_prompt *p, size_t samples)
{
    const rq_seq *first = &p->seqs[0];
    cJSON_AddStringToObject(o, "prompt", p->text ? p->text : "");
    if (p->label) cJSON_AddStringToObject(o, "label", p->label);
    cJSON_AddItemToObject(o, "ids", rq_json_ids(p->ids, p->n_ids));
    cJSON_AddStringToObject(o, "text", first->text ? first->text : "");
    cJSON_AddItemToObject(o, "steps", json_steps(tok, first));
    cJSON_AddStringToObject(o, "stop", ts_stop_reason_name(first->result.stop));
    cJSON_AddStringToObject(o, "finish_reason",
                            first->finish_reason ? first->finish_reason : "length");
    cJSON_AddNumberToObject(o, "context_shifts", (double)first->result.n_context_shifts);
    if (samples > 1) {
        cJSON *arr = cJSON_AddArrayToObject(o, "samples");
        for (size_t j = 0; arr && j < samples; j++) {
            const rq_seq *sq = &p->seqs[j];
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "text", sq->text ? sq->text : "");
            cJSON_AddItemToObject(s, "ids", rq_json_ids(sq->ids, sq->n));
            cJSON_AddItemToObject(s, "steps", json_steps(tok, sq));
            cJSON_AddStringToObject(s, "finish_reason",
                                    sq->finish_reason ? sq->finish_reason : "length");
            cJSON_AddStringToObject(s, "stop", ts_stop_reason_name(sq->result.stop));
            cJSON_AddItemToArray(arr, s);
        }
    }
}

static cJSON *json(const ts_result *res)
{
    const res_generate *g = res->data;
    const req_generate *q = RQ_REQ(res->req, req_generate);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddNumberToObject(root, "seed", (double)q->seed);
    cJSON_AddItemToObject(root, "temperature", rq_json_number(q->sp.temperature));
    if (!q->prompts.n) {
        json_prompt(root, res->tok, &g->p[0], g->samples);
        return root;
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (size_t i = 0; arr && i < g->n_prompts; i++) {
        cJSON *o = cJSON_CreateObject();
        json_prompt(o, res->tok, &g->p[i], g->samples);
        cJSON_AddItemToArray(arr, o);
    }
    return root;
}

const ts_analysis rq_generate = {
    .name = "generate",
    .route = "/api/generate",
    .summary = "generate text with temperature / top-k / top-p / min-p",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_generate),
    .init = init,
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .doc_event = doc_event,
};
