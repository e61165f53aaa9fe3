/*
 * a_sample.c — the `sample` analysis (the notebook's "Token Sampling"): one
 * forward pass, then n draws of the next token from the top-k renormalised
 * distribution at temperature T; counts against the expected counts and
 * Pearson's chi-square test (when it applies: two or more candidates).
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_sample {
    rq_str prompt;
    rq_ids ids;
    int64_t k, n, show, rows;
    double temperature;
    uint64_t seed;
} req_sample;

static const rq_field fields[] = {
    RQ_PROMPT_FIELDS(req_sample),
    {.info = {.name = "k",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "10",
              .help = "sample among the N most likely tokens"},
     .off = offsetof(req_sample, k),
     .min = 1,
     .max = 1 << 30},
    {.info = {.name = "n",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "100",
              .help = "number of draws"},
     .off = offsetof(req_sample, n),
     .min = 1,
     .max = 100000000},
    {.info = {.name = "temperature",
              .type = TS_FIELD_DOUBLE,
              .metavar = "T",
              .def = "1",
              .help = "divide the logits by T first (0 = argmax, inf = uniform over the k)"},
     .off = offsetof(req_sample, temperature),
     .min = 0,
     .max = INFINITY,
     .hint = "(0 = argmax, inf = uniform)"},
    {.info = {.name = "seed",
              .type = TS_FIELD_U64,
              .metavar = "S",
              .def = "random, printed",
              .help = "random seed"},
     .off = offsetof(req_sample, seed)},
    {.info = {.name = "show",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "20",
              .help = "print the first N draws, coloured by rank"},
     .off = offsetof(req_sample, show),
     .min = 0,
     .max = 100000000},
    {.info = {.name = "rows",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "50",
              .help = "count-table rows to show (the rest is summed in one row)"},
     .off = offsetof(req_sample, rows),
     .min = 1,
     .max = 1 << 30},
};

static void init(void *p)
{
    req_sample *q = p;
    q->k = 10;
    q->n = 100;
    q->show = 20;
    q->rows = 50;
    q->temperature = 1.0;
}

typedef struct res_sample {
    int32_t *ids;
    size_t n_ids;
    ts_candidate *cands; /* copy of the final candidates, best first */
    size_t n_cands;
    int32_t *draws;
    size_t n;
    size_t *counts;  /* [n_cands] */
    size_t *rank_of; /* [n] rank of each draw */
    bool chi2_applies;
    ts_chi2_result chi;
} res_sample;

static void free_result(void *p)
{
    res_sample *s = p;
    free(s->ids);
    free(s->cands);
    free(s->draws);
    free(s->counts);
    free(s->rank_of);
    free(s);
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_sample *q = RQ_REQ(run->req, req_sample);
    ts_status st = rq_check_k(run, "k", q->k, err, err_size);
    if (st != TS_OK) return st;
    res_sample *s = calloc(1, sizeof *s);
    if (!s) return ts_errorf(err, err_size, TS_ERR_NOMEM, "sample: out of memory");
    size_t V = (size_t)run->info->n_vocab;
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = q->temperature;
    sp.top_k = (int32_t)q->k;
    sp.seed = q->seed;
    ts_sampler *sampler = NULL;
    st = rq_prompt_ids(run, &q->prompt, &q->ids, &s->ids, &s->n_ids, err, err_size);
    if (st == TS_OK) st = ts_sampler_new(&sp, V, &sampler, err, err_size);
    if (st == TS_OK) st = ts_generator_set_prompt(run->slot->gen, s->ids, s->n_ids, err, err_size);
    const ts_candidate *cands = NULL;
    size_t n_cands = 0;
    if (st == TS_OK) {
        st =
            ts_sampler_apply(sampler, ts_generator_prompt_logits(run->slot->gen), &cands, &n_cands);
        if (st != TS_OK) ts_errorf(err, err_size, st, "the model's logits are not usable");
    }
    if (st != TS_OK) {
        ts_sampler_free(sampler);
        free_result(s);
        return st;
    }
    /* Tokens with p = 0 (underflow at tiny T) are not outcomes. */
    size_t m = 0;
    while (m < n_cands && cands[m].p > 0)
        m++;
    s->n = (size_t)q->n;
    s->n_cands = m;
    s->cands = malloc(m * sizeof *s->cands);
    s->draws = malloc(s->n * sizeof *s->draws);
    s->rank_of = malloc(s->n * sizeof *s->rank_of);
    s->counts = calloc(m, sizeof *s->counts);
    if (!s->cands || !s->draws || !s->rank_of || !s->counts) {
        ts_sampler_free(sampler);
        free_result(s);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "sample: out of memory for %zu draws",
                         (size_t)q->n);
    }
    memcpy(s->cands, cands, m * sizeof *cands);
    ts_sampler_free(sampler);
    ts_rng rng;
    ts_rng_seed(&rng, q->seed);
    double *expected = malloc(m * sizeof *expected);
    for (size_t i = 0; i < s->n; i++) {
        int32_t id = ts_sampler_pick(s->cands, m, ts_rng_uniform(&rng));
        s->draws[i] = id;
        for (size_t c = 0; c < m; c++)
            if (s->cands[c].id == id) {
                s->counts[c]++;
                s->rank_of[i] = c;
                break;
            }
    }
    s->chi2_applies = m >= 2;
    if (s->chi2_applies && expected) {
        for (size_t c = 0; c < m; c++)
            expected[c] = s->cands[c].p;
        st = ts_chi2_test(s->counts, expected, m, &s->chi);
        if (st != TS_OK) {
            free(expected);
            free_result(s);
            return ts_errorf(err, err_size, st, "chi-square test: %s", ts_status_str(st));
        }
        /* Pooling small expected counts can leave one bin: nothing to test. */
        if (s->chi.n_bins < 2) s->chi2_applies = false;
    }
    bool oom = !expected;
    free(expected);
    if (oom) {
        free_result(s);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "sample: out of memory");
    }
    *out = s;
    return TS_OK;
}

static cJSON *json(const ts_result *res)
{
    const res_sample *s = res->data;
    const req_sample *q = RQ_REQ(res->req, req_sample);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "ids", rq_json_ids(s->ids, s->n_ids));
    cJSON_AddNumberToObject(root, "seed", (double)q->seed);
    cJSON_AddNumberToObject(root, "n", (double)s->n);
    cJSON_AddNumberToObject(root, "k", (double)q->k);
    cJSON_AddItemToObject(root, "temperature", rq_json_number(q->temperature));
    cJSON_AddItemToObject(root, "samples", rq_json_ids(s->draws, s->n));
    cJSON *arr = cJSON_AddArrayToObject(root, "counts");
    for (size_t c = 0; c < s->n_cands; c++) {
        cJSON *e = cJSON_CreateObject();
        rq_json_add_token(e, res->tok, s->cands[c].id);
        cJSON_AddNumberToObject(e, "count", (double)s->counts[c]);
        cJSON_AddNumberToObject(e, "expected", s->cands[c].p * (double)s->n);
        cJSON_AddNumberToObject(e, "p", s->cands[c].p);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddBoolToObject(root, "chi2_applies", s->chi2_applies);
    if (s->chi2_applies) {
        cJSON_AddNumberToObject(root, "chi2", s->chi.statistic);
        cJSON_AddNumberToObject(root, "chi2_dof", s->chi.dof);
        cJSON_AddNumberToObject(root, "chi2_p", s->chi.p_value);
    } else {
        cJSON_AddNullToObject(root, "chi2");
        cJSON_AddNullToObject(root, "chi2_dof");
        cJSON_AddNullToObject(root, "chi2_p");
    }
    return root;
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_sample *s = res->data;
    const req_sample *q = RQ_REQ(res->req, req_sample);
    char tbuf[256], tt[32];
    rq_fmt_temp(tt, sizeof tt, q->temperature);
    size_t show = (size_t)q->show < s->n ? (size_t)q->show : s->n;
    if (show > 0) {
        ts_doc_printf(d, TS_STYLE_BOLD, "First %zu of %zu draws", show, s->n);
        ts_doc_printf(d, TS_STYLE_DIM, " (coloured by rank among the top %lld):\n",
                      (long long)q->k);
        for (size_t i = 0; i < show; i++) {
            ts_doc_printf(d, (ts_style)(TS_STYLE_RANK0 + (int)(s->rank_of[i] % 6)), "%s",
                          rq_token_display(res->tok, s->draws[i], tbuf, sizeof tbuf));
            ts_doc_text(d, TS_STYLE_PLAIN, i + 1 < show ? " " : "\n\n", i + 1 < show ? 1 : 2);
        }
    }
    static const char *const headers[] = {"rank", "token", "count", "%", "expected %", "p"};
    ts_doc_table *t = ts_doc_table_new(6, headers);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    char title[160];
    snprintf(title, sizeof title, "Token Sampling: %zu draws from the top %lld at T = %s", s->n,
             (long long)q->k, tt);
    ts_doc_table_title(t, title);
    for (size_t c = 0; c < 6; c++)
        if (c != 1) ts_doc_table_right(t, c);
    size_t rows = s->n_cands < (size_t)q->rows ? s->n_cands : (size_t)q->rows;
    for (size_t c = 0; c < rows; c++) {
        size_t row = rq_table_token_row(t, TS_STYLE_PLAIN, c + 1, res->tok, s->cands[c].id);
        ts_doc_table_set(t, row, 2, "%zu", s->counts[c]);
        ts_doc_table_set(t, row, 3, "%.1f", 100.0 * (double)s->counts[c] / (double)s->n);
        ts_doc_table_set(t, row, 4, "%.1f", 100.0 * s->cands[c].p);
        ts_doc_table_set(t, row, 5, "%.4f", s->cands[c].p);
    }
    if (rows < s->n_cands) {
        size_t count = 0;
        double p = 0;
        for (size_t c = rows; c < s->n_cands; c++) {
            count += s->counts[c];
            p += s->cands[c].p;
        }
        ts_doc_table_rule(t);
        size_t row = ts_doc_table_row(t, TS_STYLE_DIM);
        ts_doc_table_set(t, row, 0, "%zu-%zu", rows + 1, s->n_cands);
        ts_doc_table_set(t, row, 1, "(%zu more tokens)", s->n_cands - rows);
        ts_doc_table_set(t, row, 2, "%zu", count);
        ts_doc_table_set(t, row, 3, "%.1f", 100.0 * (double)count / (double)s->n);
        ts_doc_table_set(t, row, 4, "%.1f", 100.0 * p);
        ts_doc_table_set(t, row, 5, "%.4f", p);
    }
    ts_doc_add_table(d, t);
    if (!s->chi2_applies && s->n_cands < 2) {
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "Chi-square goodness of fit: does not apply (only one possible token at "
                      "T = %s: every draw is that token)\n",
                      tt);
        return;
    }
    if (!s->chi2_applies) {
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "Chi-square goodness of fit: does not apply (%zu draws are too few: after "
                      "pooling tokens with expected count < 5 one category is left)\n",
                      s->n);
        return;
    }
    ts_doc_printf(d, TS_STYLE_PLAIN,
                  "Chi-square goodness of fit: X2 = %.2f with %.0f degrees of freedom (%zu bins "
                  "after pooling), p-value = %.3f",
                  s->chi.statistic, s->chi.dof, s->chi.n_bins, s->chi.p_value);
    ts_doc_printf(d, TS_STYLE_DIM, " %s\n",
                  s->chi.p_value < 0.01 ? "(counts deviate more than chance would explain)"
                                        : "(consistent with the model's distribution)");
}

const ts_analysis rq_sample = {
    .name = "sample",
    .route = "/api/sample",
    .summary = "draw many next tokens and compare counts with the distribution",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_sample),
    .init = init,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
};
