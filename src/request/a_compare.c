/*
 * a_compare.c — the `compare` analysis: the notebook's prompts x
 * temperatures x samples grid. Each prompt is evaluated once; every sample
 * rolls the KV cache back to it. Every sample is shown against the prompt's
 * greedy (T = 0) continuation: where it first leaves it.
 *
 * coupled: Gumbel-max over shared noise. At step s, token i gets the noise
 * g(seed, stream, s, i), and the draw is argmax_i log p_i(T) + g_i. This is
 * an exact sample from p(T) for each T; the noise is SHARED ACROSS
 * TEMPERATURES (one stream per prompt and sample index), so two columns pick
 * different tokens only where temperature changes the argmax, and as T -> 0
 * the sample becomes the greedy text exactly. The noise is NOT shared across
 * prompts: the stream is keyed by a hash of the prompt's token ids, so two
 * prompts never draw from the same random numbers. Independent mode uses one
 * inverse-CDF stream per (prompt, T, sample).
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_compare {
    rq_strings prompt;
    rq_strings labels;
    rq_doubles temperatures;
    int64_t samples;
    int64_t max_new_tokens;
    bool coupled;
    ts_sampler_params sp; /* temperature set per column */
    rq_bias bias;
    uint64_t seed;
} req_compare;

static const char *const default_prompts[] = {
    "The scientific method involves",
    "To solve the equation x^2 - 4x + 3 = 0,",
    "In Shakespeare's time, the theater",
};
static const char *const default_labels[] = {"science", "math", "Shakespeare"};
#define N_DEFAULT_PROMPTS 3
static const double default_temps[] = {0.3, 1, 2};

static const rq_field fields[] = {
    {.info = {.name = "prompt", .type = TS_FIELD_STRINGS, .metavar = "TEXT",
              .def = "the notebook's three: science, math, Shakespeare",
              .help = "a prompt (repeat for several)", .flags = TS_FIELD_REPEAT},
     .off = offsetof(req_compare, prompt), .max_items = 1000},
    {.info = {.name = "labels", .type = TS_FIELD_STRINGS, .metavar = "LIST",
              .help = "comma-separated labels, one per prompt, shown in the grid"},
     .off = offsetof(req_compare, labels), .max_items = 1000},
    {.info = {.name = "temperatures", .type = TS_FIELD_DOUBLES, .metavar = "LIST",
              .def = "0.3,1,2", .help = "comma-separated T >= 0, 'inf' allowed"},
     .off = offsetof(req_compare, temperatures), .min = 0, .max = INFINITY, .max_items = 100,
     .hint = "(a temperature must be >= 0: 0 = greedy, inf = uniform)"},
    {.info = {.name = "samples", .type = TS_FIELD_INT, .metavar = "N", .def = "3",
              .help = "samples per prompt and temperature"},
     .off = offsetof(req_compare, samples), .min = 1, .max = 10000},
    {.info = {.name = "max_new_tokens", .type = TS_FIELD_INT, .metavar = "N", .def = "15",
              .help = "tokens per sample (fewer when the context window ends first)"},
     .off = offsetof(req_compare, max_new_tokens), .min = 1, .max = 1 << 20},
    {.info = {.name = "coupled", .type = TS_FIELD_BOOL,
              .help = "share the random numbers across temperatures (Gumbel-max)"},
     .off = offsetof(req_compare, coupled)},
    RQ_SAMPLER_TRUNC_FIELDS(req_compare),
    RQ_SAMPLER_MORE_FIELDS(req_compare),
    {.info = {.name = "seed", .type = TS_FIELD_U64, .metavar = "S", .def = "random, printed",
              .help = "random seed"},
     .off = offsetof(req_compare, seed)},
};

static void init(void *p)
{
    req_compare *q = p;
    q->sp = ts_sampler_default_params();
    q->samples = 3;
    q->max_new_tokens = 15;
}

typedef struct cmp_prompt {
    int32_t *ids;
    size_t n_ids;
    char *text;        /* valid UTF-8 */
    char *label;       /* or NULL */
    rq_seq greedy;
    rq_seq *seqs;      /* [n_temps * samples] */
    long *div;         /* [n_temps * samples] */
} cmp_prompt;

typedef struct res_compare {
    cmp_prompt *p;
    size_t n_prompts, n_temps, samples;
    double *temps;
} res_compare;

static void free_result(void *v)
{
    res_compare *c = v;
    for (size_t i = 0; i < c->n_prompts; i++) {
        cmp_prompt *p = &c->p[i];
        free(p->ids);
        free(p->text);
        free(p->label);
        rq_seq_free(&p->greedy);
        for (size_t j = 0; p->seqs && j < c->n_temps * c->samples; j++) rq_seq_free(&p->seqs[j]);
        free(p->seqs);
        free(p->div);
    }
    free(c->p);
    free(c->temps);
    free(c);
}

static size_t n_prompts_of(const req_compare *q)
{
    return q->prompt.n ? q->prompt.n : N_DEFAULT_PROMPTS;
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_compare *q = RQ_REQ(r, req_compare);
    if (q->labels.n && q->labels.n != n_prompts_of(q))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "labels: %zu labels for %zu prompts",
                         q->labels.n, n_prompts_of(q));
    return TS_OK;
}

/* FNV-1a over the prompt's ids: the coupled noise is keyed by the prompt. */
static uint64_t prompt_key(const int32_t *ids, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xff;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

/* ---- rendering ------------------------------------------------------------------ */

/* Generated text on one line: newlines and tabs shown as symbols. */
static void emit_flat(ts_doc *d, ts_style style, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
            ts_doc_text(d, style, s + start, i - start);
            ts_doc_text(d, TS_STYLE_DIM, s[i] == '\t' ? "\xe2\x86\x92" : "\xe2\x8f\x8e", 3);
            start = i + 1;
        }
    }
    ts_doc_text(d, style, s + start, len - start);
}

static const char *label_of(const req_compare *q, size_t i)
{
    if (q->labels.n) return q->labels.v[i];
    return q->prompt.n ? NULL : default_labels[i];
}

/* Rendered at the end of each sequence (the divergence is known then). */
static void render_end(ts_doc *d, const req_compare *q, const ts_tokenizer *tok,
                       const ts_event *ev, size_t n_temps)
{
    if (ev->greedy) {
        const char *label = label_of(q, ev->prompt_index);
        ts_doc_printf(d, TS_STYLE_BOLD, "Prompt %zu", ev->prompt_index + 1);
        if (label) ts_doc_printf(d, TS_STYLE_BOLD, " [%s]", label);
        ts_doc_text(d, TS_STYLE_BOLD, ": ", 2);
        char *pt = rq_ids_text(tok, ev->prompt_ids, ev->n_prompt_ids);
        if (pt) ts_doc_text(d, TS_STYLE_PROMPT, pt, strlen(pt));
        free(pt);
        ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
        ts_doc_text(d, TS_STYLE_ACCENT, "  greedy        ", 16);
        emit_flat(d, TS_STYLE_PLAIN, ev->text, ev->text_len);
        ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
        return;
    }
    char label[64];
    snprintf(label, sizeof label, "  T=%-6g #%zu  ", ev->temperature, ev->sample_index + 1);
    ts_doc_text(d, TS_STYLE_DIM, label, strlen(label));
    if (ev->diverges_at < 0) {
        emit_flat(d, TS_STYLE_PLAIN, ev->text, ev->text_len);
        ts_doc_printf(d, TS_STYLE_DIM, "  (= greedy)");
    } else {
        size_t cut = ev->diverge_offset < ev->text_len ? ev->diverge_offset : ev->text_len;
        emit_flat(d, TS_STYLE_DIM, ev->text, cut);
        ts_doc_text(d, TS_STYLE_ACCENT, "|", 1);
        emit_flat(d, TS_STYLE_PLAIN, ev->text + cut, ev->text_len - cut);
        ts_doc_printf(d, TS_STYLE_DIM, "  (diverges at token %ld)", ev->diverges_at + 1);
    }
    ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
    if (ev->temp_index + 1 == n_temps && ev->sample_index + 1 == (size_t)q->samples)
        ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
}

static size_t n_temps_of(const req_compare *q) { return q->temperatures.n ? q->temperatures.n : 3; }

static void doc_event(const ts_request *r, const ts_tokenizer *tok, const ts_event *ev,
                      ts_doc *d)
{
    const req_compare *q = RQ_REQ(r, req_compare);
    if (ev->kind == TS_EV_SAMPLE_END) render_end(d, q, tok, ev, n_temps_of(q));
}

/* The END event of a stored sequence, as it was emitted. */
static ts_event end_event(const res_compare *c, size_t i, size_t t, size_t j, bool greedy)
{
    const cmp_prompt *p = &c->p[i];
    const rq_seq *sq = greedy ? &p->greedy : &p->seqs[t * c->samples + j];
    ts_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TS_EV_SAMPLE_END;
    ev.prompt_index = i;
    ev.temp_index = greedy ? SIZE_MAX : t;
    ev.sample_index = j;
    ev.temperature = greedy ? 0.0 : c->temps[t];
    ev.greedy = greedy;
    ev.prompt_ids = p->ids;
    ev.n_prompt_ids = p->n_ids;
    ev.text = sq->text ? sq->text : "";
    ev.text_len = sq->len;
    ev.eot = sq->eot;
    ev.finish_reason = sq->finish_reason;
    ev.diverges_at = greedy ? -1 : p->div[t * c->samples + j];
    ev.compared = !greedy;
    if (ev.diverges_at >= 0)
        ev.diverge_offset = (size_t)ev.diverges_at < sq->n ? sq->off[ev.diverges_at] : sq->len;
    return ev;
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    if (live) return;
    const res_compare *c = res->data;
    const req_compare *q = RQ_REQ(res->req, req_compare);
    for (size_t i = 0; i < c->n_prompts; i++) {
        ts_event ev = end_event(c, i, 0, 0, true);
        render_end(d, q, res->tok, &ev, c->n_temps);
        for (size_t t = 0; t < c->n_temps; t++)
            for (size_t j = 0; j < c->samples; j++) {
                ev = end_event(c, i, t, j, false);
                render_end(d, q, res->tok, &ev, c->n_temps);
            }
    }
}

/* ---- run ------------------------------------------------------------------------- */

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_compare *q = RQ_REQ(run->req, req_compare);
    ts_sampler_params base, sp;
    rq_sampler_params(run, &q->sp, &q->bias, &base);
    sp = base;
    ts_status st = rq_check_sampler(run, &sp, err, err_size);
    if (st != TS_OK) return st;
    res_compare *c = calloc(1, sizeof *c);
    if (!c) return ts_errorf(err, err_size, TS_ERR_NOMEM, "compare: out of memory");
    c->n_prompts = n_prompts_of(q);
    c->n_temps = n_temps_of(q);
    c->samples = (size_t)q->samples;
    c->p = calloc(c->n_prompts, sizeof *c->p);
    c->temps = malloc(c->n_temps * sizeof *c->temps);
    if (!c->p || !c->temps) {
        free_result(c);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "compare: out of memory");
    }
    memcpy(c->temps, q->temperatures.n ? q->temperatures.v : default_temps,
           c->n_temps * sizeof *c->temps);
    size_t n_ctx = (size_t)run->info->n_positions, V = (size_t)run->info->n_vocab;
    size_t cells = c->n_temps * c->samples;
    /* Every prompt is checked before anything is generated. */
    for (size_t i = 0; i < c->n_prompts && st == TS_OK; i++) {
        cmp_prompt *p = &c->p[i];
        const char *text = q->prompt.n ? q->prompt.v[i] : default_prompts[i];
        char field[48];
        if (q->prompt.n > 1)
            snprintf(field, sizeof field, "prompt: item %zu", i + 1);
        else
            snprintf(field, sizeof field, "prompt");
        st = rq_encode_prompt(run, field, text, strlen(text), &p->ids, &p->n_ids, err, err_size);
        p->text = rq_bytes_utf8(text, strlen(text));
        const char *label = label_of(q, i);
        p->label = label ? strdup(label) : NULL;
        p->seqs = calloc(cells, sizeof *p->seqs);
        p->div = calloc(cells, sizeof *p->div);
        if (st == TS_OK && (!p->text || (label && !p->label) || !p->seqs || !p->div))
            st = ts_errorf(err, err_size, TS_ERR_NOMEM, "compare: out of memory");
    }
    for (size_t i = 0; i < c->n_prompts && st == TS_OK; i++) {
        cmp_prompt *p = &c->p[i];
        bool warned = false;
        st = ts_generator_set_prompt(run->slot->gen, p->ids, p->n_ids, err, err_size);
        ts_gen_params gp = ts_gen_default_params();
        gp.max_new_tokens = (size_t)q->max_new_tokens;
        gp.seed = q->seed;
        gp.draw = q->coupled ? TS_DRAW_GUMBEL : TS_DRAW_INVERSE_CDF;
        uint64_t key = prompt_key(p->ids, p->n_ids);
        ts_event tmpl;
        memset(&tmpl, 0, sizeof tmpl);
        tmpl.prompt_index = i;
        tmpl.prompt_ids = p->ids;
        tmpl.n_prompt_ids = p->n_ids;
        /* Greedy reference: T = 0 with the same truncation settings. */
        ts_sampler *sampler = NULL;
        if (st == TS_OK) {
            sp = base;
            sp.temperature = 0.0;
            st = ts_sampler_new(&sp, V, &sampler, err, err_size);
        }
        if (st == TS_OK) {
            tmpl.greedy = true;
            tmpl.temp_index = SIZE_MAX;
            gp.stream = key;
            st = rq_seq_generate(run, sampler, &gp, &p->greedy, &tmpl, NULL, err, err_size);
            tmpl.greedy = false;
        }
        ts_sampler_free(sampler);
        for (size_t t = 0; t < c->n_temps && st == TS_OK; t++) {
            sp = base;
            sp.temperature = c->temps[t];
            tmpl.temp_index = t;
            tmpl.temperature = c->temps[t];
            for (size_t j = 0; j < c->samples && st == TS_OK; j++) {
                sampler = NULL;
                st = ts_sampler_new(&sp, V, &sampler, err, err_size);
                if (st != TS_OK) break;
                /*
                 * Coupled: sample j uses stream (prompt key, j) at every T.
                 * Independent: one stream per (prompt, T, sample).
                 */
                gp.stream = q->coupled ? key + 0x9e3779b97f4a7c15ull * (j + 1)
                                       : (i * c->n_temps + t) * c->samples + j + 1;
                tmpl.sample_index = j;
                rq_seq *sq = &p->seqs[t * c->samples + j];
                st = rq_seq_generate(run, sampler, &gp, sq, &tmpl, &p->greedy, err, err_size);
                if (st == TS_OK) p->div[t * c->samples + j] = rq_seq_diverges(sq, &p->greedy);
                if (st == TS_OK && sq->result.stop == TS_STOP_CONTEXT && !warned) {
                    warned = true;
                    rq_warn(run,
                            "max_new_tokens: prompt %zu (%zu tokens) leaves room for %zu new "
                            "tokens in the context window of %zu; its samples stop there",
                            i + 1, p->n_ids, n_ctx - p->n_ids, n_ctx);
                }
                ts_sampler_free(sampler);
            }
        }
    }
    if (st != TS_OK) {
        free_result(c);
        return st;
    }
    *out = c;
    return TS_OK;
}

/* ---- JSON ------------------------------------------------------------------------- */

static cJSON *json(const ts_result *res)
{
    const res_compare *c = res->data;
    const req_compare *q = RQ_REQ(res->req, req_compare);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddNumberToObject(root, "seed", (double)q->seed);
    cJSON_AddBoolToObject(root, "coupled", q->coupled);
    cJSON_AddStringToObject(root, "draw", q->coupled ? "gumbel-max" : "inverse-cdf");
    cJSON *jprompts = cJSON_AddArrayToObject(root, "prompts");
    for (size_t i = 0; i < c->n_prompts; i++) {
        const cmp_prompt *p = &c->p[i];
        cJSON *jp = cJSON_CreateObject();
        cJSON_AddStringToObject(jp, "prompt", p->text);
        if (p->label) cJSON_AddStringToObject(jp, "label", p->label);
        cJSON_AddItemToObject(jp, "ids", rq_json_ids(p->ids, p->n_ids));
        cJSON_AddStringToObject(jp, "greedy", p->greedy.text ? p->greedy.text : "");
        cJSON *jres = cJSON_AddArrayToObject(jp, "results");
        for (size_t t = 0; t < c->n_temps; t++) {
            cJSON *jt = cJSON_CreateObject();
            cJSON_AddItemToObject(jt, "temperature", rq_json_number(c->temps[t]));
            cJSON *js = cJSON_AddArrayToObject(jt, "samples");
            for (size_t j = 0; j < c->samples; j++) {
                const rq_seq *sq = &p->seqs[t * c->samples + j];
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "text", sq->text ? sq->text : "");
                cJSON_AddItemToObject(e, "ids", rq_json_ids(sq->ids, sq->n));
                cJSON_AddNumberToObject(e, "diverges_at", (double)p->div[t * c->samples + j]);
                cJSON_AddStringToObject(e, "finish_reason", sq->finish_reason);
                cJSON_AddItemToArray(js, e);
            }
            cJSON_AddItemToArray(jres, jt);
        }
        cJSON_AddItemToArray(jprompts, jp);
    }
    return root;
}

const ts_analysis rq_compare = {
    .name = "compare",
    .route = "/api/compare",
    .summary = "prompts x temperatures x samples, side by side",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_compare),
    .init = init,
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .doc_event = doc_event,
};
