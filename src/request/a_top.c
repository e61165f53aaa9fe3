/*
 * a_top.c — the `top` analysis: one forward pass over the prompt and the k
 * most likely next tokens (the notebook's "Top 10 Token Predictions"), with
 * the probability over the full vocabulary, renormalised within the k, and
 * the entropy of the whole distribution. The raw logits are kept in the
 * result (ts_result_logits) for --dump-logits.
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_top {
    rq_str prompt;
    rq_ids ids;
    int64_t k;
    double temperature;
    int64_t rows;
} req_top;

static const rq_field fields[] = {
    RQ_PROMPT_FIELDS(req_top),
    {.info = {.name = "k",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "10",
              .help = "how many tokens to rank (at most the vocabulary)"},
     .off = offsetof(req_top, k),
     .min = 1,
     .max = 1 << 30},
    {.info = {.name = "temperature",
              .type = TS_FIELD_DOUBLE,
              .metavar = "T",
              .def = "1",
              .help = "divide the logits by T first (0 = argmax, inf = uniform)"},
     .off = offsetof(req_top, temperature),
     .min = 0,
     .max = INFINITY,
     .hint = "(0 = argmax, inf = uniform)"},
    {.info = {.name = "rows",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "50",
              .help = "table rows to show (the JSON always has all k)"},
     .off = offsetof(req_top, rows),
     .min = 1,
     .max = 1 << 30},
};

static void init(void *p)
{
    req_top *q = p;
    q->k = 10;
    q->temperature = 1.0;
    q->rows = 50;
}

typedef struct res_top {
    int32_t *ids;
    size_t n_ids;
    float *logits; /* [V] raw */
    size_t V, k;
    int32_t *top;
    double *prob, *prob_topk;
    double entropy;
} res_top;

static void free_result(void *p)
{
    res_top *t = p;
    free(t->ids);
    free(t->logits);
    free(t->top);
    free(t->prob);
    free(t->prob_topk);
    free(t);
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_top *q = RQ_REQ(run->req, req_top);
    ts_status st = rq_check_k(run, "k", q->k, err, err_size);
    if (st != TS_OK) return st;
    res_top *t = calloc(1, sizeof *t);
    if (!t) return ts_errorf(err, err_size, TS_ERR_NOMEM, "top: out of memory");
    st = rq_prompt_ids(run, &q->prompt, &q->ids, &t->ids, &t->n_ids, err, err_size);
    if (st == TS_OK) st = ts_generator_set_prompt(run->slot->gen, t->ids, t->n_ids, err, err_size);
    if (st != TS_OK) {
        free_result(t);
        return st;
    }
    t->V = (size_t)run->info->n_vocab;
    t->k = (size_t)q->k;
    t->logits = malloc(t->V * sizeof *t->logits);
    t->top = malloc(t->k * sizeof *t->top);
    t->prob = malloc(t->k * sizeof *t->prob);
    t->prob_topk = malloc(t->k * sizeof *t->prob_topk);
    if (!t->logits || !t->top || !t->prob || !t->prob_topk) {
        free_result(t);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "top: out of memory");
    }
    memcpy(t->logits, ts_generator_prompt_logits(run->slot->gen), t->V * sizeof *t->logits);
    st = ts_sweep(t->logits, t->V, &q->temperature, 1, t->k, t->top, t->prob, t->prob_topk,
                  &t->entropy);
    if (st != TS_OK) {
        free_result(t);
        return ts_errorf(err, err_size, st, "the model's logits are not usable (%s)",
                         ts_status_str(st));
    }
    *out = t;
    return TS_OK;
}

const float *ts_result_logits(const ts_result *res, size_t *n)
{
    if (res->a != &rq_top) return NULL;
    const res_top *t = res->data;
    if (n) *n = t->V;
    return t->logits;
}

static cJSON *json(const ts_result *res)
{
    const res_top *t = res->data;
    const req_top *q = RQ_REQ(res->req, req_top);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", res->model_dir);
    cJSON_AddItemToObject(root, "ids", rq_json_ids(t->ids, t->n_ids));
    cJSON_AddItemToObject(root, "temperature", rq_json_number(q->temperature));
    cJSON_AddNumberToObject(root, "entropy_nats", t->entropy);
    cJSON_AddNumberToObject(root, "vocab_size", (double)t->V);
    cJSON_AddItemToObject(root, "top",
                          rq_json_topk(res->tok, t->logits, t->top, t->prob, t->prob_topk, t->k));
    return root;
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_top *t = res->data;
    const req_top *q = RQ_REQ(res->req, req_top);
    static const char *const headers[] = {"rank", "token", "id", "logit", "prob", "prob in top-k"};
    ts_doc_table *tab = ts_doc_table_new(6, headers);
    if (!tab) {
        ts_doc_add_table(d, NULL);
        return;
    }
    char title[128], tb[32];
    rq_fmt_temp(tb, sizeof tb, q->temperature);
    snprintf(title, sizeof title, "Top %zu Token Predictions (T = %s)", t->k, tb);
    ts_doc_table_title(tab, title);
    for (size_t c = 0; c < 6; c++)
        if (c != 1) ts_doc_table_right(tab, c);
    size_t shown = t->k < (size_t)q->rows ? t->k : (size_t)q->rows;
    double mass = 0.0;
    for (size_t r = 0; r < t->k; r++)
        mass += t->prob[r];
    for (size_t r = 0; r < shown; r++) {
        size_t row = rq_table_token_row(tab, r == 0 ? TS_STYLE_BOLD : TS_STYLE_PLAIN, r + 1,
                                        res->tok, t->top[r]);
        ts_doc_table_set(tab, row, 2, "%d", (int)t->top[r]);
        ts_doc_table_set(tab, row, 3, "%.3f", t->logits[t->top[r]]);
        ts_doc_table_set(tab, row, 4, "%.4f", t->prob[r]);
        ts_doc_table_set(tab, row, 5, "%.4f", t->prob_topk[r]);
    }
    ts_doc_add_table(d, tab);
    if (shown < t->k)
        ts_doc_printf(d, TS_STYLE_DIM,
                      "(the first %zu of %zu rows; --rows N shows more, --json has all)\n", shown,
                      t->k);
    ts_doc_printf(d, TS_STYLE_PLAIN,
                  "The top %zu hold %.1f%% of the probability; the full distribution over %zu "
                  "tokens has entropy %.3f nats (%.3f bits), i.e. about %.1f equally likely "
                  "choices.\n",
                  t->k, 100.0 * mass, t->V, t->entropy, t->entropy / log(2.0), exp(t->entropy));
}

const ts_analysis rq_top = {
    .name = "top",
    .route = "/api/top",
    .summary = "the model's top-k next-token predictions for a prompt",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_top),
    .init = init,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
};
