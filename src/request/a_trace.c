/*
 * a_trace.c — the `trace` analysis: temperature along a text. For every
 * token of a text (given, or generated here after a prompt) under the model:
 * its surprisal and rank, the entropy of the model's distribution at T = 1 and
 * at a chosen T, and the smallest T at which the token survives a truncation
 * (top-k / top-p / min-p) in the HF order — in the llama.cpp order truncation
 * runs at T = 1, so survival does not depend on T (src/measure/trace.c). Plus
 * the maximum-likelihood temperature of the whole text (the calibration fit
 * on its tokens) with a bootstrap interval: which settings could have
 * produced this text. Every token is scored with as much left context as the
 * window allows (HF's sliding-window recipe, ts_lm_score_text).
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_trace {
    rq_str prompt;
    rq_str text;
    int64_t generate;
    double temperature;
    int32_t top_k;
    double top_p, min_p;
    uint64_t seed;
    int64_t bootstrap;
    int64_t rows;
} req_trace;

static const rq_field fields[] = {
    {.info = {.name = "text",
              .type = TS_FIELD_STRING,
              .metavar = "TEXT",
              .help = "the text to trace (the CLI also takes arguments, --file or stdin)",
              .flags = TS_FIELD_INPUT},
     .off = offsetof(req_trace, text)},
    {.info = {.name = "prompt",
              .type = TS_FIELD_STRING,
              .metavar = "TEXT",
              .help = "context before the text (not traced)"},
     .off = offsetof(req_trace, prompt)},
    {.info = {.name = "generate",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "0",
              .help = "instead of a text: generate N tokens after the prompt at the temperature "
                      "and truncation given, and trace them"},
     .off = offsetof(req_trace, generate),
     .min = 0,
     .max = 4096},
    {.info = {.name = "temperature",
              .type = TS_FIELD_DOUBLE,
              .metavar = "T",
              .def = "1",
              .help = "the temperature to compare with T = 1 (entropy, survival)"},
     .off = offsetof(req_trace, temperature),
     .min = 0,
     .max = INFINITY,
     .hint = "(0 = greedy, inf = uniform)"},
    {.info = {.name = "top_k",
              .type = TS_FIELD_INT,
              .metavar = "K",
              .def = "0",
              .help = "the truncation whose survival is traced: keep the K most likely (0 = off)"},
     .off = offsetof(req_trace, top_k),
     .i32 = true,
     .min = 0,
     .max = 2147483647.0},
    {.info = {.name = "top_p",
              .type = TS_FIELD_DOUBLE,
              .metavar = "P",
              .def = "1",
              .help = "... keep the smallest set with mass >= P (1 = off)"},
     .off = offsetof(req_trace, top_p),
     .min = 0,
     .max = 1,
     .min_open = true},
    {.info = {.name = "min_p",
              .type = TS_FIELD_DOUBLE,
              .metavar = "M",
              .def = "0",
              .help = "... drop tokens below M x p(top) (0 = off)"},
     .off = offsetof(req_trace, min_p),
     .min = 0,
     .max = 1,
     .max_open = true},
    {.info = {.name = "seed",
              .type = TS_FIELD_U64,
              .metavar = "S",
              .def = "random, printed",
              .help = "random seed (generation and bootstrap)"},
     .off = offsetof(req_trace, seed)},
    {.info = {.name = "bootstrap",
              .type = TS_FIELD_INT,
              .metavar = "B",
              .def = "1000",
              .help = "resamples for the interval of the text's temperature"},
     .off = offsetof(req_trace, bootstrap),
     .min = 2,
     .max = 100000},
    {.info = {.name = "rows",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "60",
              .help = "table rows to show (the JSON has every token)"},
     .off = offsetof(req_trace, rows),
     .min = 1,
     .max = 1 << 30},
};

static void init(void *p)
{
    req_trace *q = p;
    q->temperature = 1.0;
    q->top_p = 1.0;
    q->bootstrap = 1000;
    q->rows = 60;
}

typedef struct res_trace {
    int32_t *ids;        /* context + traced tokens */
    size_t n_ids, first; /* tokens [first, n_ids) are traced */
    ts_token_trace *tr;  /* [n_ids - first] */
    ts_calib_fit fit;
    ts_interval t_star;
    double nll; /* mean surprisal at T = 1 */
    size_t max_rank;
    double t_min_all; /* HF order: every token survives for T > this */
    size_t n_surv_hf, n_surv_llama;
    bool generated;
} res_trace;

static void free_result(void *v)
{
    res_trace *r = v;
    free(r->ids);
    free(r->tr);
    free(r);
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_trace *q = RQ_REQ(r, req_trace);
    if (q->generate && q->text.s)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "generate: give either a text to trace or generate, not both");
    if (!q->generate && !q->text.s)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "text: missing (the text to trace; or generate N after a prompt)");
    return TS_OK;
}

typedef struct score_state {
    res_trace *r;
    const req_trace *q;
    ts_lm_calib *store;
    size_t V;
} score_state;

static ts_status on_token(size_t position, const float *logits, int32_t target, void *user)
{
    score_state *s = user;
    if (position < s->r->first) return TS_OK;
    ts_truncation tr = {s->q->top_k, s->q->top_p, s->q->min_p};
    char err[TS_ERR_SIZE];
    ts_status st = ts_trace_token(logits, s->V, target, s->q->temperature, &tr,
                                  &s->r->tr[position - s->r->first], err, sizeof err);
    if (st == TS_OK) st = ts_lm_calib_add(s->store, logits, target);
    return st;
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_trace *q = RQ_REQ(run->req, req_trace);
    const ts_model *model = ts_session_model(run->session);
    size_t V = (size_t)run->info->n_vocab, L = (size_t)run->info->n_positions;
    res_trace *r = calloc(1, sizeof *r);
    if (!r) return ts_errorf(err, err_size, TS_ERR_NOMEM, "trace: out of memory");
    int32_t *ctx_ids = NULL, *text_ids = NULL;
    size_t n_ctx = 0, n_text = 0;
    ts_status st = TS_OK;
    run->long_prompts_ok = true; /* a long text is scored in windows */
    if (q->prompt.s)
        st = rq_encode_prompt(run, "prompt", q->prompt.s, q->prompt.n, &ctx_ids, &n_ctx, err,
                              err_size);
    if (st == TS_OK && q->text.s) {
        size_t need = 0;
        st = ts_tokenizer_encode(run->tok, q->text.s, q->text.n, 0, NULL, 0, &need);
        if (st == TS_OK || st == TS_ERR_RANGE) {
            text_ids = malloc((need ? need : 1) * sizeof *text_ids);
            st = text_ids ? ts_tokenizer_encode(run->tok, q->text.s, q->text.n, 0, text_ids, need,
                                                &n_text)
                          : TS_ERR_NOMEM;
        }
        if (st != TS_OK) st = ts_errorf(err, err_size, st, "text: cannot tokenize");
    }
    if (st == TS_OK && q->generate) {
        /* A continuation drawn here, at the temperature and truncation being traced. */
        r->generated = true;
        if (!q->prompt.s) {
            free(ctx_ids);
            st = rq_encode_prompt(run, "prompt", RQ_DEFAULT_PROMPT, strlen(RQ_DEFAULT_PROMPT),
                                  &ctx_ids, &n_ctx, err, err_size);
        }
        ts_sampler_params sp = ts_sampler_default_params();
        sp.temperature = q->temperature;
        sp.top_k = q->top_k;
        sp.top_p = q->top_p;
        sp.min_p = q->min_p;
        sp.n_ctx = (int32_t)L;
        ts_sampler *sampler = NULL;
        rq_seq seq;
        memset(&seq, 0, sizeof seq);
        ts_gen_params gp = ts_gen_default_params();
        gp.max_new_tokens = (size_t)q->generate;
        gp.seed = q->seed;
        gp.stop_at_eot = false;
        ts_event tmpl;
        memset(&tmpl, 0, sizeof tmpl);
        tmpl.temperature = q->temperature;
        tmpl.prompt_ids = ctx_ids;
        tmpl.n_prompt_ids = n_ctx;
        if (st == TS_OK) st = ts_sampler_new(&sp, V, &sampler, err, err_size);
        if (st == TS_OK)
            st = ts_generator_set_prompt(run->slot->gen, ctx_ids, n_ctx, err, err_size);
        if (st == TS_OK) st = rq_seq_generate(run, sampler, &gp, &seq, &tmpl, NULL, err, err_size);
        ts_sampler_free(sampler);
        if (st == TS_OK) {
            text_ids = malloc((seq.n ? seq.n : 1) * sizeof *text_ids);
            if (!text_ids)
                st = ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
            else
                memcpy(text_ids, seq.ids, seq.n * sizeof *text_ids);
            n_text = seq.n;
        }
        rq_seq_free(&seq);
    }
    /* Without context the first token of the text has no prediction: it is the context. */
    if (st == TS_OK) {
        r->n_ids = n_ctx + n_text;
        r->first = n_ctx ? n_ctx : 1;
        if (r->n_ids < r->first + 1)
            st = ts_errorf(err, err_size, TS_ERR_INVALID,
                           "text: %zu token%s: nothing to trace (the first token of a text "
                           "without a prompt is its context)",
                           n_text, n_text == 1 ? "" : "s");
    }
    if (st == TS_OK) {
        r->ids = malloc(r->n_ids * sizeof *r->ids);
        r->tr = calloc(r->n_ids - r->first, sizeof *r->tr);
        if (!r->ids || !r->tr) st = ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    }
    ts_context *ctx = NULL;
    ts_lm_calib *store = NULL;
    if (st == TS_OK) {
        if (n_ctx) memcpy(r->ids, ctx_ids, n_ctx * sizeof *r->ids);
        memcpy(r->ids + n_ctx, text_ids, n_text * sizeof *r->ids);
        ts_context_params cp = ts_context_default_params();
        cp.all_logits = true;
        cp.n_threads = 0;
        st = ts_context_new(model, &cp, &ctx, err, err_size);
    }
    if (st == TS_OK) st = ts_lm_calib_new(V, r->n_ids - 1, &store, err, err_size);
    if (st == TS_OK) {
        score_state ss = {r, q, store, V};
        st = ts_lm_score_text(model, ctx, r->ids, r->n_ids, 0, 0, on_token, &ss, NULL, NULL, err,
                              err_size);
    }
    if (st == TS_OK) {
        size_t n = r->n_ids - r->first;
        ts_lm_calib_fit(store, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &r->fit);
        ts_bootstrap_params bp = ts_bootstrap_default_params();
        bp.n_resamples = (int32_t)q->bootstrap;
        bp.seed = q->seed;
        if (n >= 2)
            st = ts_lm_calib_fit_bootstrap(store, 0, n, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &bp,
                                           &r->t_star, err, err_size);
        else
            r->t_star = (ts_interval){r->fit.temperature, NAN, NAN, 0};
        for (size_t i = 0; i < n; i++) {
            const ts_token_trace *t = &r->tr[i];
            r->nll += t->surprisal / (double)n;
            if (t->rank > r->max_rank) r->max_rank = t->rank;
            if (t->t_min_hf > r->t_min_all) r->t_min_all = t->t_min_hf;
            r->n_surv_hf += t->survives_hf;
            r->n_surv_llama += t->survives_llama;
        }
        if (n < 50)
            rq_warn(run,
                    "bootstrap: %zu traced tokens; the interval of the text's temperature is "
                    "rough (tokens are treated as independent)",
                    n);
    }
    ts_lm_calib_free(store);
    ts_context_free(ctx);
    free(ctx_ids);
    free(text_ids);
    if (st != TS_OK) {
        free_result(r);
        return st;
    }
    *out = r;
    return TS_OK;
}

static cJSON *json(const ts_result *res)
{
    const res_trace *r = res->data;
    const req_trace *q = RQ_REQ(res->req, req_trace);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddItemToObject(root, "ids", rq_json_ids(r->ids, r->n_ids));
    cJSON_AddNumberToObject(root, "first_traced", (double)r->first);
    cJSON_AddBoolToObject(root, "generated", r->generated);
    cJSON_AddItemToObject(root, "temperature", rq_json_number(q->temperature));
    cJSON *tr = cJSON_AddObjectToObject(root, "truncation");
    cJSON_AddNumberToObject(tr, "top_k", q->top_k);
    cJSON_AddNumberToObject(tr, "top_p", q->top_p);
    cJSON_AddNumberToObject(tr, "min_p", q->min_p);
    cJSON *mt = cJSON_AddObjectToObject(root, "ml_temperature");
    cJSON_AddItemToObject(mt, "estimate", rq_json_number(r->t_star.estimate));
    cJSON_AddItemToObject(mt, "lo", rq_json_number(r->t_star.lo));
    cJSON_AddItemToObject(mt, "hi", rq_json_number(r->t_star.hi));
    cJSON_AddBoolToObject(mt, "at_bound", r->fit.at_bound != 0);
    cJSON_AddNumberToObject(root, "nll", r->nll);
    cJSON_AddNumberToObject(root, "nll_at_ml_temperature", r->fit.nll_after);
    cJSON_AddNumberToObject(root, "max_rank", (double)r->max_rank);
    cJSON_AddItemToObject(root, "t_min_hf_all", rq_json_number(r->t_min_all));
    cJSON_AddNumberToObject(root, "survive_hf", (double)r->n_surv_hf);
    cJSON_AddNumberToObject(root, "survive_llama", (double)r->n_surv_llama);
    cJSON *arr = cJSON_AddArrayToObject(root, "tokens");
    for (size_t i = 0; i < r->n_ids - r->first; i++) {
        const ts_token_trace *t = &r->tr[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "position", (double)(r->first + i));
        rq_json_add_token(e, res->tok, t->token);
        cJSON_AddNumberToObject(e, "rank", (double)t->rank);
        cJSON_AddItemToObject(e, "surprisal", rq_json_number(t->surprisal));
        cJSON_AddItemToObject(e, "surprisal_t", rq_json_number(t->surprisal_t));
        cJSON_AddNumberToObject(e, "entropy", t->entropy);
        cJSON_AddNumberToObject(e, "entropy_t", t->entropy_t);
        cJSON_AddItemToObject(e, "t_min_hf", rq_json_number(t->t_min_hf));
        cJSON_AddBoolToObject(e, "survives_hf", t->survives_hf);
        cJSON_AddBoolToObject(e, "survives_llama", t->survives_llama);
        cJSON_AddItemToArray(arr, e);
    }
    return root;
}

static void fmt_tmin(char *buf, size_t size, double t)
{
    if (t == 0)
        snprintf(buf, size, "any");
    else if (isinf(t))
        snprintf(buf, size, "never");
    else
        snprintf(buf, size, "> %.3g", t);
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_trace *r = res->data;
    const req_trace *q = RQ_REQ(res->req, req_trace);
    char tb[32], hb[48];
    rq_fmt_temp(tb, sizeof tb, q->temperature);
    snprintf(hb, sizeof hb, "entropy at T=%s", tb);
    const char *h[] = {"pos",         "token", "rank",          "surprisal",
                       "entropy T=1", hb,      "survives if T", "llama"};
    ts_doc_table *t = ts_doc_table_new(8, h);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    bool trunc = q->top_k || q->top_p < 1 || q->min_p > 0;
    char title[200];
    snprintf(title, sizeof title, "Trace of %zu tokens (nats; survival under %s)",
             r->n_ids - r->first,
             trunc ? "the truncation given, HF order" : "no truncation: every token survives");
    ts_doc_table_title(t, title);
    for (size_t c = 0; c < 8; c++)
        if (c != 1) ts_doc_table_right(t, c);
    size_t n = r->n_ids - r->first, shown = n < (size_t)q->rows ? n : (size_t)q->rows;
    char tok[256], tm[32];
    for (size_t i = 0; i < shown; i++) {
        const ts_token_trace *x = &r->tr[i];
        size_t row = ts_doc_table_row(t, x->rank == 1 ? TS_STYLE_PLAIN : TS_STYLE_PLAIN);
        ts_doc_table_set(t, row, 0, "%zu", r->first + i);
        ts_doc_table_set(t, row, 1, "%s", rq_token_display(res->tok, x->token, tok, sizeof tok));
        ts_doc_table_set(t, row, 2, "%zu", x->rank);
        ts_doc_table_set(t, row, 3, "%.3f", x->surprisal);
        ts_doc_table_set(t, row, 4, "%.3f", x->entropy);
        ts_doc_table_set(t, row, 5, "%.3f", x->entropy_t);
        fmt_tmin(tm, sizeof tm, x->t_min_hf);
        ts_doc_table_set(t, row, 6, "%s", tm);
        ts_doc_table_set(t, row, 7, "%s", x->survives_llama ? "yes" : "no");
    }
    ts_doc_add_table(d, t);
    if (shown < n)
        ts_doc_printf(d, TS_STYLE_DIM, "(the first %zu of %zu tokens; --rows N shows more)\n",
                      shown, n);
    ts_doc_printf(d, TS_STYLE_BOLD, "The temperature that best explains this text: T = %.3f",
                  r->t_star.estimate);
    if (!isnan(r->t_star.lo))
        ts_doc_printf(d, TS_STYLE_BOLD, " [%.3f, %.3f]", r->t_star.lo, r->t_star.hi);
    ts_doc_printf(d, TS_STYLE_PLAIN,
                  "\n  (maximum likelihood over its tokens, 95 %% bootstrap interval; NLL %.3f "
                  "nats/token at T = 1, %.3f at T*)\n",
                  r->nll, r->fit.nll_after);
    ts_doc_printf(d, TS_STYLE_PLAIN,
                  "  every token is within the top %zu: top-k >= %zu keeps them all\n", r->max_rank,
                  r->max_rank);
    if (trunc) {
        fmt_tmin(tm, sizeof tm, r->t_min_all);
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "  HF order (temperature, then truncation): %zu of %zu survive at T = %s; "
                      "all survive for T %s\n"
                      "  llama.cpp order (truncation at T = 1): %zu of %zu survive, whatever T\n",
                      r->n_surv_hf, n, tb, tm, r->n_surv_llama, n);
    }
}

static ts_status plot(const ts_result *res, const char *path, const char *title, char *err,
                      size_t err_size)
{
    const res_trace *r = res->data;
    const req_trace *q = RQ_REQ(res->req, req_trace);
    size_t n = r->n_ids - r->first;
    ts_trace_point *pts = calloc(n, sizeof *pts);
    char **texts = calloc(n, sizeof *texts);
    ts_status st = TS_OK;
    if (!pts || !texts) st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        const ts_token_trace *x = &r->tr[i];
        texts[i] = rq_token_utf8(res->tok, x->token);
        pts[i] = (ts_trace_point){texts[i], x->surprisal, x->entropy,
                                  q->temperature == 1.0 ? NAN : x->entropy_t, (int64_t)x->rank};
    }
    char tt[200];
    snprintf(tt, sizeof tt, "Surprisal and entropy along the text (T* = %.3f)", r->t_star.estimate);
    if (st == TS_OK)
        st = ts_plot_trace(path, pts, n, q->temperature, title ? title : tt, err, err_size);
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(pts);
    return st;
}

const ts_analysis rq_trace = {
    .name = "trace",
    .route = "/api/trace",
    .summary = "temperature along a text: surprisal, entropy, survival, its ML temperature",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_trace),
    .init = init,
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .plot = plot,
};
