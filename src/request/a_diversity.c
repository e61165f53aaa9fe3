/*
 * a_diversity.c — the `diversity` analysis: what a temperature does to the
 * text a model writes, measured. For prompts x temperatures x samples x
 * sampler settings (the base chain, plus one curve per extra top-p value) it
 * generates continuations and measures, per (prompt, setting, T), with 95 %
 * bootstrap intervals over samples (src/measure/diversity.c, docs/science.md):
 *   distinct-1/2/3, self-BLEU-4, within-sample repetition (seq-rep-4),
 *   mean NLL per token under the model at T = 1 (the quality proxy of Caccia
 *   et al. 2020), mean per-step entropy of the distribution sampled from,
 *   and the share of samples that ended with <|endoftext|>.
 * With coupled (Gumbel-max noise shared across temperatures and settings) it
 * also measures the divergence curve: the share of samples still equal to the
 * greedy text after k tokens. Each prompt is evaluated ONCE: every sample of
 * every setting and temperature rolls the KV cache back to it ("prefills" in
 * the JSON counts them). The <|endoftext|> token itself is not part of a
 * sample's text or NLL (ended_eot records it).
 * Figures: the frontier (NLL vs distinct-2 or self-BLEU, a point per T, a
 * curve per setting), every metric against T, and the divergence curve.
 * With several prompts the figures show the mean over prompts of each figure
 * and of its interval bounds (an approximation; the JSON has every prompt).
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const frontier_axes[] = {"distinct2", "self_bleu", NULL};

typedef struct req_diversity {
    rq_str prompt;
    rq_ids ids;
    rq_strings prompts;
    rq_strings labels;
    rq_doubles temperatures;
    rq_doubles top_p_curves;
    rq_strings curves;
    ts_sampler_params sp;
    rq_bias bias;
    int64_t samples;
    int64_t max_new_tokens;
    bool coupled;
    uint64_t seed;
    int64_t bootstrap;
    int frontier_x;
} req_diversity;

static const double default_temps[] = {0, 0.3, 0.7, 1, 1.5, 2};
#define N_DEFAULT_TEMPS 6

static const rq_field fields[] = {
    RQ_PROMPT_FIELDS(req_diversity),
    {.info = {.name = "prompts",
              .type = TS_FIELD_STRINGS,
              .metavar = "TEXT",
              .help = "several prompts (CLI: --prompts-file)",
              .flags = TS_FIELD_HIDDEN},
     .off = offsetof(req_diversity, prompts),
     .max_items = 1000},
    {.info = {.name = "labels",
              .type = TS_FIELD_STRINGS,
              .metavar = "LIST",
              .help = "a label per prompt",
              .flags = TS_FIELD_HIDDEN},
     .off = offsetof(req_diversity, labels),
     .max_items = 1000},
    {.info = {.name = "temperatures",
              .type = TS_FIELD_DOUBLES,
              .metavar = "LIST",
              .def = "0,0.3,0.7,1,1.5,2",
              .help = "comma-separated T >= 0 ('inf' allowed)"},
     .off = offsetof(req_diversity, temperatures),
     .min = 0,
     .max = INFINITY,
     .max_items = 64,
     .hint = "(a temperature must be >= 0: 0 = greedy, inf = uniform)"},
    {.info = {.name = "samples",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "32",
              .help = "samples per prompt, setting and temperature"},
     .off = offsetof(req_diversity, samples),
     .min = 1,
     .max = 10000},
    {.info = {.name = "max_new_tokens",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "32",
              .help = "tokens per sample (fewer when <|endoftext|> or the window comes first)"},
     .off = offsetof(req_diversity, max_new_tokens),
     .min = 1,
     .max = 1 << 16},
    {.info = {.name = "top_p_curves",
              .type = TS_FIELD_DOUBLES,
              .metavar = "LIST",
              .help = "extra curves: the same chain with each of these top-p values"},
     .off = offsetof(req_diversity, top_p_curves),
     .min = 0,
     .max = 1,
     .min_open = true,
     .max_items = 8},
    {.info = {.name = "curve",
              .type = TS_FIELD_STRINGS,
              .metavar = "SPEC",
              .help = "an extra curve: sampler fields to change, e.g. 'mirostat=2;"
                      "mirostat_tau=4' or 'target_entropy=3' (repeat for several)",
              .flags = TS_FIELD_REPEAT},
     .off = offsetof(req_diversity, curves),
     .max_items = 8},
    RQ_SAMPLER_TRUNC_FIELDS(req_diversity),
    RQ_SAMPLER_MORE_FIELDS(req_diversity),
    {.info = {.name = "coupled",
              .type = TS_FIELD_BOOL,
              .help = "share the random numbers across temperatures and measure the divergence "
                      "from the greedy text"},
     .off = offsetof(req_diversity, coupled)},
    {.info = {.name = "seed",
              .type = TS_FIELD_U64,
              .metavar = "S",
              .def = "random, printed",
              .help = "random seed (sampling and bootstrap)"},
     .off = offsetof(req_diversity, seed)},
    {.info = {.name = "bootstrap",
              .type = TS_FIELD_INT,
              .metavar = "B",
              .def = "1000",
              .help = "bootstrap resamples for the 95 % intervals"},
     .off = offsetof(req_diversity, bootstrap),
     .min = 2,
     .max = 100000},
    {.info = {.name = "frontier_x",
              .type = TS_FIELD_ENUM,
              .metavar = "distinct2|self_bleu",
              .def = "distinct2",
              .help = "the frontier figure's diversity axis",
              .choices = frontier_axes},
     .off = offsetof(req_diversity, frontier_x)},
};

static void init(void *p)
{
    req_diversity *q = p;
    q->sp = ts_sampler_default_params();
    q->sp.top_k = 0; /* pure sampling unless asked: the frontier of Caccia et al. */
    q->samples = 32;
    q->max_new_tokens = 32;
    q->bootstrap = 1000;
}

typedef struct div_cell {
    ts_diversity d;
    size_t n_tokens;
    ts_interval *curve; /* [max_k + 1] with coupled, else NULL */
} div_cell;

typedef struct div_prompt {
    int32_t *ids;
    size_t n_ids;
    char *text;
    const char *label;
    rq_seq greedy;
    size_t n_greedy; /* greedy tokens without <|endoftext|> */
    div_cell *cells; /* [n_curves * n_temps] */
} div_prompt;

typedef struct res_diversity {
    div_prompt *p;
    size_t n_prompts, n_curves, n_temps, samples, max_k, prefills;
    double *temps;          /* [n_temps] */
    ts_sampler_params *csp; /* [n_curves]: the chain of each curve (temperature set per cell) */
    ts_request **creq;      /* [n_curves]: the requests the curves' chains borrow (bias) */
    char (*curve_label)[96];
} res_diversity;

static void free_result(void *v)
{
    res_diversity *r = v;
    for (size_t i = 0; i < r->n_prompts; i++) {
        div_prompt *p = &r->p[i];
        free(p->ids);
        free(p->text);
        rq_seq_free(&p->greedy);
        for (size_t c = 0; p->cells && c < r->n_curves * r->n_temps; c++)
            free(p->cells[c].curve);
        free(p->cells);
    }
    free(r->p);
    free(r->temps);
    for (size_t c = 0; r->creq && c < r->n_curves; c++)
        ts_request_free(r->creq[c]);
    free(r->creq);
    free(r->csp);
    free(r->curve_label);
    free(r);
}

static size_t n_prompts_of(const req_diversity *q)
{
    return q->prompts.n ? q->prompts.n : 1;
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_diversity *q = RQ_REQ(r, req_diversity);
    if (q->prompts.n && (q->prompt.s || q->ids.n))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "prompts: give either one prompt (prompt / ids) or a list of prompts");
    if (q->labels.n && q->labels.n != n_prompts_of(q))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "labels: %zu labels for %zu prompts",
                         q->labels.n, n_prompts_of(q));
    return TS_OK;
}

/* FNV-1a over the prompt's ids: the coupled noise is keyed by the prompt (as compare). */
static uint64_t prompt_key(const int32_t *ids, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) {
            h ^= ((uint32_t)ids[i] >> (8 * b)) & 0xff;
            h *= 0x100000001b3ull;
        }
    return h;
}

/*
 * The chain of curve c: 0 is the request's own; then one per top_p_curves value;
 * then one per curve spec "field=value;field=value" (sampler fields only), applied
 * with ts_request_set to a copy of the request, so its values are checked with
 * the usual messages.
 */
static ts_status make_curve(rq_run *run, const req_diversity *q, const ts_sampler_params *base,
                            size_t c, res_diversity *r, char *err, size_t err_size)
{
    size_t n_top_p = q->top_p_curves.n;
    if (c == 0) {
        r->csp[0] = *base;
        bool trunc = base->top_p < 1 || base->top_k || base->min_p > 0;
        snprintf(r->curve_label[0], sizeof r->curve_label[0], "%s",
                 trunc ? "the chain as given" : "no truncation");
        return TS_OK;
    }
    if (c <= n_top_p) {
        r->csp[c] = *base;
        r->csp[c].top_p = q->top_p_curves.v[c - 1];
        snprintf(r->curve_label[c], sizeof r->curve_label[c], "top-p %g", r->csp[c].top_p);
        return TS_OK;
    }
    const char *spec = q->curves.v[c - 1 - n_top_p];
    ts_status st = rq_request_clone(run->req, &r->creq[c]);
    if (st != TS_OK) return ts_errorf(err, err_size, st, "curve: out of memory");
    ts_request *cr = r->creq[c];
    /* The curve's assignments replace the request's own values. */
    char *copy = strdup(spec);
    if (!copy) return ts_errorf(err, err_size, TS_ERR_NOMEM, "curve: out of memory");
    for (char *save = NULL, *a = strtok_r(copy, ";", &save); a && st == TS_OK;
         a = strtok_r(NULL, ";", &save)) {
        while (*a == ' ')
            a++;
        char *eq = strchr(a, '=');
        if (!eq) {
            st = ts_errorf(err, err_size, TS_ERR_INVALID,
                           "curve: '%s' is not field=value (e.g. mirostat=2;mirostat_tau=4)", a);
            break;
        }
        *eq = '\0';
        int i = rq_field_index(run->req->a, a);
        if (i < 0 || !(run->req->a->fields[i].info.flags & RQ_FIELD_SAMPLER)) {
            st = ts_errorf(err, err_size, TS_ERR_INVALID,
                           "curve: '%s' is not a sampler field a curve can change", a);
            break;
        }
        cr->set[i] = 0; /* a curve may change what the request set */
        st = ts_request_set(cr, a, eq + 1, err, err_size);
    }
    free(copy);
    if (st != TS_OK) return st;
    const req_diversity *cq = RQ_REQ(cr, req_diversity);
    rq_sampler_params(run, &cq->sp, &cq->bias, &r->csp[c]);
    snprintf(r->curve_label[c], sizeof r->curve_label[c], "%s", spec);
    ts_sampler_params chk = r->csp[c];
    return rq_check_sampler(run, &chk, err, err_size);
}

/* Tokens of q without a final <|endoftext|>. */
static size_t text_len(const rq_seq *q)
{
    return q->eot && q->n ? q->n - 1 : q->n;
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_diversity *q = RQ_REQ(run->req, req_diversity);
    ts_sampler_params base;
    rq_sampler_params(run, &q->sp, &q->bias, &base);
    ts_status st = rq_check_sampler(run, &base, err, err_size);
    if (st != TS_OK) return st;
    res_diversity *r = calloc(1, sizeof *r);
    if (!r) return ts_errorf(err, err_size, TS_ERR_NOMEM, "diversity: out of memory");
    r->n_prompts = n_prompts_of(q);
    r->n_temps = q->temperatures.n ? q->temperatures.n : N_DEFAULT_TEMPS;
    r->n_curves = 1 + q->top_p_curves.n + q->curves.n;
    r->samples = (size_t)q->samples;
    r->max_k = (size_t)q->max_new_tokens;
    r->p = calloc(r->n_prompts, sizeof *r->p);
    r->temps = malloc(r->n_temps * sizeof *r->temps);
    r->csp = calloc(r->n_curves, sizeof *r->csp);
    r->creq = calloc(r->n_curves, sizeof *r->creq);
    r->curve_label = calloc(r->n_curves, sizeof *r->curve_label);
    size_t S = r->samples, K = r->max_k, cells = r->n_curves * r->n_temps;
    /* One cell's samples at a time: tokens, raw log-probs, entropies, offsets. */
    int32_t *tok = malloc(S * K * sizeof *tok);
    double *lp = malloc(S * K * sizeof *lp), *ent = malloc(S * K * sizeof *ent);
    size_t *offs = malloc((S + 1) * sizeof *offs);
    bool *eot = malloc(S * sizeof *eot);
    rq_seq seq;
    memset(&seq, 0, sizeof seq);
    if (!r->p || !r->temps || !r->csp || !r->creq || !r->curve_label || !tok || !lp || !ent ||
        !offs || !eot)
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "diversity: out of memory for %zu x %zu", S, K);
    if (st == TS_OK) {
        memcpy(r->temps, q->temperatures.n ? q->temperatures.v : default_temps,
               r->n_temps * sizeof *r->temps);
        for (size_t c = 0; c < r->n_curves && st == TS_OK; c++)
            st = make_curve(run, q, &base, c, r, err, err_size);
    }
    /* Tokenize every prompt before generating anything. */
    for (size_t i = 0; i < r->n_prompts && st == TS_OK; i++) {
        div_prompt *p = &r->p[i];
        if (q->prompts.n) {
            char field[48];
            snprintf(field, sizeof field, "prompts: item %zu", i + 1);
            st = rq_encode_prompt(run, field, q->prompts.v[i], strlen(q->prompts.v[i]), &p->ids,
                                  &p->n_ids, err, err_size);
            p->text = rq_bytes_utf8(q->prompts.v[i], strlen(q->prompts.v[i]));
        } else {
            st = rq_prompt_ids(run, &q->prompt, &q->ids, &p->ids, &p->n_ids, err, err_size);
            p->text = q->ids.n      ? rq_ids_text(run->tok, q->ids.v, q->ids.n)
                      : q->prompt.s ? rq_bytes_utf8(q->prompt.s, q->prompt.n)
                                    : strdup(RQ_DEFAULT_PROMPT);
        }
        p->label = q->labels.n ? q->labels.v[i] : NULL;
        p->cells = calloc(cells, sizeof *p->cells);
        if (st == TS_OK && (!p->text || !p->cells))
            st = ts_errorf(err, err_size, TS_ERR_NOMEM, "diversity: out of memory");
    }
    size_t V = (size_t)run->info->n_vocab;
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = (int32_t)q->bootstrap;
    bp.seed = q->seed;
    for (size_t i = 0; i < r->n_prompts && st == TS_OK; i++) {
        div_prompt *p = &r->p[i];
        size_t before = ts_generator_n_evals(run->slot->gen);
        st = ts_generator_set_prompt(run->slot->gen, p->ids, p->n_ids, err, err_size);
        r->prefills += ts_generator_n_evals(run->slot->gen) - before;
        uint64_t key = prompt_key(p->ids, p->n_ids);
        ts_gen_params gp = ts_gen_default_params();
        gp.max_new_tokens = K;
        gp.seed = q->seed;
        gp.draw = q->coupled ? TS_DRAW_GUMBEL : TS_DRAW_INVERSE_CDF;
        gp.logprobs = true;
        ts_event tmpl;
        memset(&tmpl, 0, sizeof tmpl);
        tmpl.prompt_index = i;
        tmpl.prompt_ids = p->ids;
        tmpl.n_prompt_ids = p->n_ids;
        /* The greedy text of the base chain: the reference of the divergence curve. */
        ts_sampler_params sp = base;
        sp.temperature = 0;
        ts_sampler *sampler = NULL;
        if (st == TS_OK) st = ts_sampler_new(&sp, V, &sampler, err, err_size);
        if (st == TS_OK) {
            tmpl.greedy = true;
            gp.stream = key;
            st = rq_seq_generate(run, sampler, &gp, &p->greedy, &tmpl, NULL, err, err_size);
            tmpl.greedy = false;
            p->n_greedy = text_len(&p->greedy);
        }
        ts_sampler_free(sampler);
        for (size_t c = 0; c < r->n_curves && st == TS_OK; c++)
            for (size_t t = 0; t < r->n_temps && st == TS_OK; t++) {
                sp = r->csp[c];
                /* target_entropy and Mirostat set their own temperature: run them at T = 1. */
                sp.temperature = sp.target_entropy >= 0 ? 1.0 : r->temps[t];
                tmpl.temp_index = t;
                tmpl.temperature = r->temps[t];
                offs[0] = 0;
                for (size_t j = 0; j < S && st == TS_OK; j++) {
                    sampler = NULL;
                    st = ts_sampler_new(&sp, V, &sampler, err, err_size);
                    if (st != TS_OK) break;
                    /* Coupled: sample j has the same noise at every T and setting. */
                    gp.stream = q->coupled ? key + 0x9e3779b97f4a7c15ull * (j + 1)
                                           : ((i * r->n_curves + c) * r->n_temps + t) * S + j + 1;
                    tmpl.sample_index = j;
                    st = rq_seq_generate(run, sampler, &gp, &seq, &tmpl, &p->greedy, err, err_size);
                    ts_sampler_free(sampler);
                    if (st != TS_OK) break;
                    size_t n = text_len(&seq);
                    memcpy(tok + offs[j], seq.ids, n * sizeof *tok);
                    memcpy(lp + offs[j], seq.lp_raw, n * sizeof *lp);
                    memcpy(ent + offs[j], seq.entropy, n * sizeof *ent);
                    eot[j] = seq.eot;
                    offs[j + 1] = offs[j] + n;
                }
                if (st != TS_OK) break;
                div_cell *cell = &p->cells[c * r->n_temps + t];
                ts_sample_set set = {S, tok, offs, lp, ent, eot};
                cell->n_tokens = offs[S];
                st = ts_diversity_measure(&set, &bp, &cell->d, err, err_size);
                if (st == TS_OK && q->coupled) {
                    cell->curve = malloc((K + 1) * sizeof *cell->curve);
                    st = cell->curve ? ts_divergence_curve(p->greedy.ids, p->n_greedy, &set, K, &bp,
                                                           cell->curve, NULL, err, err_size)
                                     : ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
                }
            }
    }
    rq_seq_free(&seq);
    free(tok);
    free(lp);
    free(ent);
    free(offs);
    free(eot);
    if (st != TS_OK) {
        free_result(r);
        return st;
    }
    *out = r;
    return TS_OK;
}

/* ---- JSON ------------------------------------------------------------------------ */

static cJSON *json_interval(const ts_interval *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "estimate", rq_json_number(v->estimate));
    cJSON_AddItemToObject(o, "lo", rq_json_number(v->lo));
    cJSON_AddItemToObject(o, "hi", rq_json_number(v->hi));
    return o;
}

static cJSON *json(const ts_result *res)
{
    const res_diversity *r = res->data;
    const req_diversity *q = RQ_REQ(res->req, req_diversity);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddNumberToObject(root, "seed", (double)q->seed);
    cJSON_AddNumberToObject(root, "samples", (double)r->samples);
    cJSON_AddNumberToObject(root, "max_new_tokens", (double)r->max_k);
    cJSON_AddBoolToObject(root, "coupled", q->coupled);
    cJSON_AddNumberToObject(root, "bootstrap", (double)q->bootstrap);
    cJSON_AddNumberToObject(root, "prefills", (double)r->prefills);
    cJSON *jp = cJSON_AddArrayToObject(root, "prompts");
    for (size_t i = 0; i < r->n_prompts; i++) {
        const div_prompt *p = &r->p[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "prompt", p->text);
        if (p->label) cJSON_AddStringToObject(o, "label", p->label);
        cJSON_AddItemToObject(o, "ids", rq_json_ids(p->ids, p->n_ids));
        cJSON_AddStringToObject(o, "greedy", p->greedy.text ? p->greedy.text : "");
        cJSON *jc = cJSON_AddArrayToObject(o, "curves");
        for (size_t c = 0; c < r->n_curves; c++) {
            cJSON *co = cJSON_CreateObject();
            cJSON_AddStringToObject(co, "label", r->curve_label[c]);
            cJSON_AddNumberToObject(co, "top_p", r->csp[c].top_p);
            cJSON *jr = cJSON_AddArrayToObject(co, "results");
            for (size_t t = 0; t < r->n_temps; t++) {
                const div_cell *cell = &p->cells[c * r->n_temps + t];
                const ts_diversity *d = &cell->d;
                cJSON *e = cJSON_CreateObject();
                cJSON_AddItemToObject(e, "temperature", rq_json_number(r->temps[t]));
                cJSON_AddNumberToObject(e, "tokens", (double)cell->n_tokens);
                cJSON_AddItemToObject(e, "distinct_1", json_interval(&d->distinct[0]));
                cJSON_AddItemToObject(e, "distinct_2", json_interval(&d->distinct[1]));
                cJSON_AddItemToObject(e, "distinct_3", json_interval(&d->distinct[2]));
                cJSON_AddItemToObject(e, "self_bleu_4", json_interval(&d->self_bleu4));
                cJSON_AddItemToObject(e, "repetition_4", json_interval(&d->repetition4));
                cJSON_AddItemToObject(e, "nll", json_interval(&d->nll));
                cJSON_AddItemToObject(e, "entropy", json_interval(&d->entropy));
                cJSON_AddItemToObject(e, "eot_share", json_interval(&d->eot_share));
                if (cell->curve) {
                    cJSON *dv = cJSON_AddArrayToObject(e, "divergence");
                    for (size_t k = 0; k <= r->max_k; k++)
                        cJSON_AddItemToArray(dv, json_interval(&cell->curve[k]));
                }
                cJSON_AddItemToArray(jr, e);
            }
            cJSON_AddItemToArray(jc, co);
        }
        cJSON_AddItemToArray(jp, o);
    }
    return root;
}

/* ---- tables --------------------------------------------------------------------- */

static void cell_text(ts_doc_table *t, size_t row, size_t col, const ts_interval *v, int digits)
{
    if (isnan(v->estimate))
        ts_doc_table_set(t, row, col, "-");
    else if (isnan(v->lo))
        ts_doc_table_set(t, row, col, "%.*f", digits, v->estimate);
    else
        ts_doc_table_set(t, row, col, "%.*f [%.*f, %.*f]", digits, v->estimate, digits, v->lo,
                         digits, v->hi);
}

static void metric_table(ts_doc *d, const res_diversity *r, const div_prompt *p, size_t c,
                         const char *title, const char *const *names, size_t n_metrics,
                         size_t first)
{
    const char *headers[5] = {"T", names[0], names[1], names[2], NULL};
    ts_doc_table *t = ts_doc_table_new(1 + n_metrics, headers);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    ts_doc_table_title(t, title);
    for (size_t k = 0; k <= n_metrics; k++)
        ts_doc_table_right(t, k);
    for (size_t ti = 0; ti < r->n_temps; ti++) {
        const ts_diversity *dv = &p->cells[c * r->n_temps + ti].d;
        const ts_interval *m[8] = {&dv->distinct[0], &dv->distinct[1], &dv->distinct[2],
                                   &dv->self_bleu4,  &dv->repetition4, &dv->nll,
                                   &dv->entropy,     &dv->eot_share};
        char tb[32];
        rq_fmt_temp(tb, sizeof tb, r->temps[ti]);
        size_t row = ts_doc_table_row(t, r->temps[ti] == 1.0 ? TS_STYLE_ACCENT : TS_STYLE_PLAIN);
        ts_doc_table_set(t, row, 0, "%s", tb);
        for (size_t k = 0; k < n_metrics; k++)
            cell_text(t, row, 1 + k, m[first + k], 3);
    }
    ts_doc_add_table(d, t);
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_diversity *r = res->data;
    const req_diversity *q = RQ_REQ(res->req, req_diversity);
    static const char *const div_names[] = {"distinct-1", "distinct-2", "distinct-3"};
    static const char *const sim_names[] = {"self-BLEU-4", "repetition (4-grams)", ""};
    static const char *const q_names[] = {"NLL at T = 1 (nats/token)", "entropy (nats)",
                                          "ended with EOT"};
    for (size_t i = 0; i < r->n_prompts; i++) {
        const div_prompt *p = &r->p[i];
        ts_doc_printf(d, TS_STYLE_BOLD, "Prompt %zu%s%s%s: ", i + 1, p->label ? " [" : "",
                      p->label ? p->label : "", p->label ? "]" : "");
        ts_doc_text(d, TS_STYLE_PROMPT, p->text, strlen(p->text));
        ts_doc_printf(d, TS_STYLE_DIM,
                      "\n%zu samples of up to %zu tokens per temperature; "
                      "[95 %% bootstrap interval over samples]\n",
                      r->samples, r->max_k);
        for (size_t c = 0; c < r->n_curves; c++) {
            char title[200];
            snprintf(title, sizeof title, "Diversity (%s): unique n-grams / n-grams",
                     r->curve_label[c]);
            metric_table(d, r, p, c, title, div_names, 3, 0);
            snprintf(title, sizeof title, "Sameness (%s): samples vs each other, within a sample",
                     r->curve_label[c]);
            metric_table(d, r, p, c, title, sim_names, 2, 3);
            snprintf(title, sizeof title, "Quality (%s): the model's own view of the samples",
                     r->curve_label[c]);
            metric_table(d, r, p, c, title, q_names, 3, 5);
            if (q->coupled) {
                /* The divergence curve at a few k. */
                size_t ks[8], nk = 0;
                for (size_t k = 1; k <= r->max_k && nk < 7; k *= 2)
                    ks[nk++] = k;
                if (ks[nk - 1] != r->max_k && nk < 8) ks[nk++] = r->max_k;
                const char *h[9];
                char hb[8][24];
                h[0] = "T";
                for (size_t k = 0; k < nk; k++) {
                    snprintf(hb[k], sizeof hb[k], "after %zu", ks[k]);
                    h[k + 1] = hb[k];
                }
                ts_doc_table *t = ts_doc_table_new(nk + 1, h);
                if (!t) {
                    ts_doc_add_table(d, NULL);
                    return;
                }
                snprintf(title, sizeof title,
                         "Share of samples still equal to the greedy text (%s)", r->curve_label[c]);
                ts_doc_table_title(t, title);
                for (size_t k = 0; k <= nk; k++)
                    ts_doc_table_right(t, k);
                for (size_t ti = 0; ti < r->n_temps; ti++) {
                    const ts_interval *cv = p->cells[c * r->n_temps + ti].curve;
                    char tb[32];
                    rq_fmt_temp(tb, sizeof tb, r->temps[ti]);
                    size_t row = ts_doc_table_row(t, TS_STYLE_PLAIN);
                    ts_doc_table_set(t, row, 0, "%s", tb);
                    for (size_t k = 0; k < nk; k++)
                        ts_doc_table_set(t, row, k + 1, "%.2f", cv[ks[k]].estimate);
                }
                ts_doc_add_table(d, t);
            }
        }
        ts_doc_printf(d, TS_STYLE_DIM,
                      "Higher T: more distinct n-grams and less self-similarity (diversity), "
                      "higher NLL under the model (lower quality). %zu prompt evaluation%s for "
                      "all %zu samples.\n",
                      r->prefills, r->prefills == 1 ? "" : "s",
                      r->n_prompts * r->n_curves * r->n_temps * r->samples);
    }
}

/* ---- figures -------------------------------------------------------------------- */

/* The mean over prompts of one interval (value, lo, hi). */
static ts_plot_value mean_value(const res_diversity *r, size_t c, size_t t, size_t metric)
{
    ts_plot_value v = {0, 0, 0};
    for (size_t i = 0; i < r->n_prompts; i++) {
        const ts_diversity *dv = &r->p[i].cells[c * r->n_temps + t].d;
        const ts_interval *m[8] = {&dv->distinct[0], &dv->distinct[1], &dv->distinct[2],
                                   &dv->self_bleu4,  &dv->repetition4, &dv->nll,
                                   &dv->entropy,     &dv->eot_share};
        v.value += m[metric]->estimate / (double)r->n_prompts;
        v.lo += m[metric]->lo / (double)r->n_prompts;
        v.hi += m[metric]->hi / (double)r->n_prompts;
    }
    return v;
}

static ts_status plot(const ts_result *res, const char *path, const char *title, char *err,
                      size_t err_size)
{
    const res_diversity *r = res->data;
    const req_diversity *q = RQ_REQ(res->req, req_diversity);
    size_t xm = q->frontier_x == 1 ? 3 : 1; /* self-BLEU-4 or distinct-2 */
    ts_frontier_point *pts = calloc(r->n_curves * r->n_temps, sizeof *pts);
    ts_frontier_curve *curves = calloc(r->n_curves, sizeof *curves);
    if (!pts || !curves) {
        free(pts);
        free(curves);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t c = 0; c < r->n_curves; c++) {
        for (size_t t = 0; t < r->n_temps; t++) {
            ts_frontier_point *pt = &pts[c * r->n_temps + t];
            pt->temperature = r->temps[t];
            pt->x = mean_value(r, c, t, xm);
            pt->y = mean_value(r, c, t, 5);
        }
        curves[c] = (ts_frontier_curve){r->curve_label[c], pts + c * r->n_temps, r->n_temps};
    }
    char tt[256];
    snprintf(tt, sizeof tt, "Quality vs diversity across temperature (%zu samples per point%s)",
             r->samples, r->n_prompts > 1 ? ", mean over prompts" : "");
    ts_status st =
        ts_plot_frontier(path, curves, r->n_curves,
                         xm == 1 ? "diversity: distinct-2 (higher = more varied)"
                                 : "self-BLEU-4 (lower = more varied)",
                         "NLL under the model at T = 1 (nats / token; lower = more fluent)",
                         title ? title : tt, err, err_size);
    free(pts);
    free(curves);
    return st;
}

static size_t n_figures(const ts_result *res)
{
    return RQ_REQ(res->req, req_diversity)->coupled ? 3 : 2;
}

static const char *figure_name(const ts_result *res, size_t i)
{
    return i == 1 ? "metrics" : "divergence";
}

static ts_status plot_extra(const ts_result *res, size_t i, const char *path, char *err,
                            size_t err_size)
{
    const res_diversity *r = res->data;
    if (i == 1) {
        static const char *const names[8] = {"distinct-1",  "distinct-2",           "distinct-3",
                                             "self-BLEU-4", "repetition (4-grams)", "NLL at T = 1",
                                             "entropy",     "ended with EOT"};
        static const char *const units[8] = {NULL, NULL,           NULL,   NULL,
                                             NULL, "nats / token", "nats", "share"};
        size_t nv = r->n_curves * r->n_temps;
        ts_plot_value *vals = calloc(8 * nv, sizeof *vals);
        const char **series = calloc(r->n_curves, sizeof *series);
        if (!vals || !series) {
            free(vals);
            free(series);
            return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
        }
        ts_metric_panel panels[8];
        for (size_t m = 0; m < 8; m++) {
            for (size_t c = 0; c < r->n_curves; c++)
                for (size_t t = 0; t < r->n_temps; t++)
                    vals[m * nv + c * r->n_temps + t] = mean_value(r, c, t, m);
            panels[m] = (ts_metric_panel){names[m], units[m], vals + m * nv, m != 5 && m != 6};
        }
        for (size_t c = 0; c < r->n_curves; c++)
            series[c] = r->curve_label[c];
        ts_metrics_figure f = {r->temps,
                               r->n_temps,
                               r->n_curves > 1 ? series : NULL,
                               r->n_curves,
                               panels,
                               8,
                               "Every measure against temperature (95 % intervals)"};
        ts_status st = ts_plot_metrics(path, &f, err, err_size);
        free(vals);
        free(series);
        return st;
    }
    /* The divergence curve of the first setting (mean over prompts). */
    size_t nk = r->max_k;
    double *share = calloc(3 * r->n_temps * nk, sizeof *share);
    if (!share) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    double *lo = share + r->n_temps * nk, *hi = lo + r->n_temps * nk;
    for (size_t i2 = 0; i2 < r->n_prompts; i2++)
        for (size_t t = 0; t < r->n_temps; t++) {
            const ts_interval *cv = r->p[i2].cells[t].curve;
            for (size_t k = 1; k <= nk; k++) {
                share[t * nk + k - 1] += cv[k].estimate / (double)r->n_prompts;
                lo[t * nk + k - 1] +=
                    (isnan(cv[k].lo) ? cv[k].estimate : cv[k].lo) / (double)r->n_prompts;
                hi[t * nk + k - 1] +=
                    (isnan(cv[k].hi) ? cv[k].estimate : cv[k].hi) / (double)r->n_prompts;
            }
        }
    /* With several settings the figure says which one it shows. */
    char title[200];
    snprintf(title, sizeof title, "Coupled samples: how long they follow the greedy text%s%s%s",
             r->n_curves > 1 ? " (" : "", r->n_curves > 1 ? r->curve_label[0] : "",
             r->n_curves > 1 ? ")" : "");
    ts_divergence_figure f = {r->temps, r->n_temps, nk, share, lo, hi, r->samples, title};
    ts_status st = ts_plot_divergence(path, &f, err, err_size);
    free(share);
    return st;
}

const ts_analysis rq_diversity = {
    .name = "diversity",
    .route = "/api/diversity",
    .summary = "what temperature does to text: diversity vs quality with intervals",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_diversity),
    .init = init,
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .plot = plot,
    .n_figures = n_figures,
    .figure_name = figure_name,
    .plot_extra = plot_extra,
};
