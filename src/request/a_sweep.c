/*
 * a_sweep.c — the `sweep` analysis: one prompt, ONE forward pass, many
 * temperatures. The notebook's "Temperature Scaling: Full Spectrum
 * Comparison" table (rank x temperature), per temperature the
 * full-vocabulary entropy, exp(entropy) and top-1 probability, the
 * temperatures that reach target entropies, and the two-panel figure.
 * Temperature only rescales the logits, so every column comes from the same
 * logit vector: the run checks that exactly one forward pass happened.
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_sweep {
    rq_str prompt;
    rq_ids ids;
    int64_t k;
    rq_doubles temperatures;
    rq_doubles target_entropy;
    bool full_prob;
    bool include_logits;
} req_sweep;

static const double default_temps[] = {0.01, 0.1, 0.5, 1, 2, 5, 100};
#define N_DEFAULT_TEMPS 7
#define CURVE_POINTS 97

static const rq_field fields[] = {
    RQ_PROMPT_FIELDS(req_sweep),
    {.info = {.name = "k", .type = TS_FIELD_INT, .metavar = "N", .def = "10",
              .help = "rows of the table: the N most likely tokens"},
     .off = offsetof(req_sweep, k), .min = 1, .max = 1 << 30},
    {.info = {.name = "temperatures", .type = TS_FIELD_DOUBLES, .metavar = "LIST",
              .def = "0.01,0.1,0.5,1,2,5,100", .help = "comma-separated T >= 0, 'inf' allowed"},
     .off = offsetof(req_sweep, temperatures), .min = 0, .max = INFINITY, .max_items = 1000,
     .hint = "(a temperature must be >= 0: 0 = argmax, inf = uniform)"},
    {.info = {.name = "target_entropy", .type = TS_FIELD_DOUBLES, .metavar = "LIST",
              .help = "also find the T whose entropy is H nats, for each H (added as columns)"},
     .off = offsetof(req_sweep, target_entropy), .min = 0, .max = 1e6, .max_items = 100},
    {.info = {.name = "full_prob", .type = TS_FIELD_BOOL,
              .help = "probabilities over the full vocabulary instead of renormalised in the top k"},
     .off = offsetof(req_sweep, full_prob)},
    {.info = {.name = "include_logits", .type = TS_FIELD_BOOL,
              .help = "add every logit as base64 little-endian float32 (logits_f32_base64), "
                      "so a client can re-apply any temperature without the model",
              .flags = TS_FIELD_HIDDEN},
     .off = offsetof(req_sweep, include_logits)},
};

static void init(void *p)
{
    req_sweep *q = p;
    q->k = 10;
}

typedef struct res_sweep {
    int32_t *ids;
    size_t n_ids;
    float *logits;           /* [V] */
    size_t V, k;
    size_t n_user, n_temps;  /* temps = the user's, then one per target */
    double *temps;           /* [n_temps] */
    double *targets;         /* [n_temps - n_user] target entropies */
    int32_t *top;            /* [k] */
    double *prob, *prob_topk; /* [n_temps][k] */
    double *entropy;         /* [n_temps] */
    double entropy_t1;       /* at T = 1 */
    size_t n_finite;
    size_t forward_passes;
} res_sweep;

static void free_result(void *p)
{
    res_sweep *s = p;
    free(s->ids);
    free(s->logits);
    free(s->temps);
    free(s->targets);
    free(s->top);
    free(s->prob);
    free(s->prob_topk);
    free(s->entropy);
    free(s);
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_sweep *q = RQ_REQ(run->req, req_sweep);
    ts_status st = rq_check_k(run, "k", q->k, err, err_size);
    if (st != TS_OK) return st;
    res_sweep *s = calloc(1, sizeof *s);
    if (!s) return ts_errorf(err, err_size, TS_ERR_NOMEM, "sweep: out of memory");
    st = rq_prompt_ids(run, &q->prompt, &q->ids, &s->ids, &s->n_ids, err, err_size);
    size_t before = ts_generator_n_evals(run->slot->gen);
    if (st == TS_OK) st = ts_generator_set_prompt(run->slot->gen, s->ids, s->n_ids, err, err_size);
    if (st != TS_OK) {
        free_result(s);
        return st;
    }
    s->forward_passes = ts_generator_n_evals(run->slot->gen) - before;
    TS_ASSERT(s->forward_passes == 1); /* every column below comes from this one logit vector */
    s->V = (size_t)run->info->n_vocab;
    s->k = (size_t)q->k;
    const double *ut = q->temperatures.n ? q->temperatures.v : default_temps;
    s->n_user = q->temperatures.n ? q->temperatures.n : N_DEFAULT_TEMPS;
    s->n_temps = s->n_user + q->target_entropy.n;
    s->logits = malloc(s->V * sizeof *s->logits);
    s->temps = malloc(s->n_temps * sizeof *s->temps);
    s->targets = malloc((q->target_entropy.n + 1) * sizeof *s->targets);
    s->top = malloc(s->k * sizeof *s->top);
    s->prob = malloc(s->n_temps * s->k * sizeof *s->prob);
    s->prob_topk = malloc(s->n_temps * s->k * sizeof *s->prob_topk);
    s->entropy = malloc(s->n_temps * sizeof *s->entropy);
    if (!s->logits || !s->temps || !s->targets || !s->top || !s->prob || !s->prob_topk ||
        !s->entropy) {
        free_result(s);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "sweep: out of memory");
    }
    memcpy(s->logits, ts_generator_prompt_logits(run->slot->gen), s->V * sizeof *s->logits);
    memcpy(s->temps, ut, s->n_user * sizeof *ut);
    for (size_t i = 0; i < s->V; i++) s->n_finite += !isinf(s->logits[i]);
    for (size_t j = 0; j < q->target_entropy.n; j++) {
        double h = q->target_entropy.v[j], T = NAN;
        s->targets[j] = h;
        st = ts_temperature_for_entropy(s->logits, s->V, h, &T);
        if (st != TS_OK) {
            size_t n_finite = s->n_finite;
            free_result(s);
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "target_entropy: %g nats is outside [0, log %zu = %.4f) (the "
                             "entropies a temperature can reach for this prompt)",
                             h, n_finite, log((double)n_finite));
        }
        s->temps[s->n_user + j] = T;
    }
    st = ts_sweep(s->logits, s->V, s->temps, s->n_temps, s->k, s->top, s->prob, s->prob_topk,
                  s->entropy);
    if (st == TS_OK) st = ts_entropy_at_temperature(s->logits, s->V, 1.0, &s->entropy_t1);
    if (st != TS_OK) {
        free_result(s);
        return ts_errorf(err, err_size, st, "sweep: %s", ts_status_str(st));
    }
    *out = s;
    return TS_OK;
}

static cJSON *json(const ts_result *res)
{
    const res_sweep *s = res->data;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "ids", rq_json_ids(s->ids, s->n_ids));
    cJSON_AddNumberToObject(root, "vocab_size", (double)s->V);
    cJSON_AddNumberToObject(root, "forward_passes", (double)s->forward_passes);
    cJSON_AddNumberToObject(root, "entropy_max_nats", log((double)s->n_finite));
    if (s->n_temps > s->n_user) {
        cJSON *tg = cJSON_AddArrayToObject(root, "targets");
        for (size_t j = s->n_user; j < s->n_temps; j++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "entropy_nats", s->targets[j - s->n_user]);
            cJSON_AddNumberToObject(o, "temperature", s->temps[j]);
            cJSON_AddItemToArray(tg, o);
        }
    }
    if (RQ_REQ(res->req, req_sweep)->include_logits) {
        /* Base64 of the logits as little-endian float32 (x86 and ARM are little-endian). */
        static const char tab[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *d = (const unsigned char *)s->logits;
        size_t n = s->V * sizeof(float);
        char *b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (b64) {
            size_t o = 0;
            for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)d[i] << 16;
                if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
                if (i + 2 < n) v |= d[i + 2];
                b64[o++] = tab[(v >> 18) & 63];
                b64[o++] = tab[(v >> 12) & 63];
                b64[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                b64[o++] = i + 2 < n ? tab[v & 63] : '=';
            }
            b64[o] = '\0';
            cJSON_AddStringToObject(root, "logits_f32_base64", b64);
            free(b64);
        }
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (size_t t = 0; t < s->n_temps; t++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "temperature", rq_json_number(s->temps[t]));
        cJSON_AddNumberToObject(r, "entropy_nats", s->entropy[t]);
        cJSON_AddNumberToObject(r, "perplexity", exp(s->entropy[t]));
        cJSON_AddNumberToObject(r, "top1_prob", s->prob[t * s->k]);
        cJSON_AddItemToObject(r, "top", rq_json_topk(res->tok, s->logits, s->top,
                                                     s->prob + t * s->k, s->prob_topk + t * s->k,
                                                     s->k));
        cJSON_AddItemToArray(arr, r);
    }
    return root;
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_sweep *s = res->data;
    const req_sweep *q = RQ_REQ(res->req, req_sweep);
    size_t nT = s->n_temps, k = s->k;
    /* Table 1: rank x temperature. */
    const char **headers = calloc(nT + 2, sizeof *headers);
    char(*hbuf)[64] = calloc(nT, sizeof *hbuf);
    ts_doc_table *tab = NULL;
    if (headers && hbuf) {
        headers[0] = "rank";
        headers[1] = "token";
        for (size_t t = 0; t < nT; t++) {
            char tb[32];
            rq_fmt_temp(tb, sizeof tb, s->temps[t]);
            if (t >= s->n_user)
                snprintf(hbuf[t], sizeof hbuf[t], "T=%.3g (H=%g)", s->temps[t],
                         s->targets[t - s->n_user]);
            else
                snprintf(hbuf[t], sizeof hbuf[t], "T=%s", tb);
            headers[t + 2] = hbuf[t];
        }
        tab = ts_doc_table_new(nT + 2, headers);
    }
    free(headers);
    free(hbuf);
    if (!tab) {
        ts_doc_add_table(d, NULL);
        return;
    }
    ts_doc_table_title(tab, q->full_prob ? "Temperature Scaling: Full Spectrum Comparison "
                                           "(probability over the full vocabulary)"
                                         : "Temperature Scaling: Full Spectrum Comparison "
                                           "(probability renormalised within the top k)");
    ts_doc_table_right(tab, 0);
    for (size_t t = 0; t < nT; t++) {
        ts_doc_table_right(tab, t + 2);
        if (s->temps[t] == 1.0) ts_doc_table_emphasise_col(tab, t + 2);
    }
    const double *cells = q->full_prob ? s->prob : s->prob_topk;
    char pb[32];
    for (size_t i = 0; i < k; i++) {
        size_t row = rq_table_token_row(tab, TS_STYLE_PLAIN, i + 1, res->tok, s->top[i]);
        for (size_t t = 0; t < nT; t++) {
            rq_fmt_prob(pb, sizeof pb, cells[t * k + i]);
            ts_doc_table_set(tab, row, t + 2, "%s", pb);
        }
    }
    ts_doc_add_table(d, tab);

    /* Table 2: what each temperature does to the whole distribution. */
    static const char *const h2[] = {"T", "entropy (nats)", "exp(entropy)", "top-1 prob",
                                     "top-k mass"};
    ts_doc_table *t2 = ts_doc_table_new(5, h2);
    if (!t2) {
        ts_doc_add_table(d, NULL);
        return;
    }
    ts_doc_table_title(t2, "Per temperature, over the full vocabulary");
    for (size_t c = 0; c < 5; c++) ts_doc_table_right(t2, c);
    for (size_t t = 0; t < nT; t++) {
        double mass = 0;
        for (size_t i = 0; i < k; i++) mass += s->prob[t * k + i];
        char tb[32];
        rq_fmt_temp(tb, sizeof tb, s->temps[t]);
        size_t row = ts_doc_table_row(t2, s->temps[t] == 1.0 ? TS_STYLE_ACCENT : TS_STYLE_PLAIN);
        if (t >= s->n_user)
            ts_doc_table_set(t2, row, 0, "%.4g", s->temps[t]);
        else
            ts_doc_table_set(t2, row, 0, "%s", tb);
        ts_doc_table_set(t2, row, 1, "%.4f", s->entropy[t]);
        ts_doc_table_set(t2, row, 2, "%.1f", exp(s->entropy[t]));
        ts_doc_table_set(t2, row, 3, "%.4f", s->prob[t * k]);
        ts_doc_table_set(t2, row, 4, "%.4f", mass);
    }
    ts_doc_add_table(d, t2);
    ts_doc_printf(d, TS_STYLE_DIM,
                  "%zu temperature%s from %zu forward pass. Maximum entropy (uniform over %zu "
                  "tokens): log V = %.4f nats.\n",
                  nT, nT == 1 ? "" : "s", s->forward_passes, s->n_finite,
                  log((double)s->n_finite));
    if (nT > s->n_user) {
        /* Table 3: the temperature that gives each target entropy. */
        static const char *const h3[] = {"target entropy (nats)", "exp(H) tokens",
                                         "temperature T"};
        ts_doc_table *t3 = ts_doc_table_new(3, h3);
        if (!t3) {
            ts_doc_add_table(d, NULL);
            return;
        }
        ts_doc_table_title(t3, "The temperature that gives each entropy");
        for (size_t c = 0; c < 3; c++) ts_doc_table_right(t3, c);
        for (size_t t = s->n_user; t < nT; t++) {
            size_t row = ts_doc_table_row(t3, TS_STYLE_PLAIN);
            double h = s->targets[t - s->n_user];
            ts_doc_table_set(t3, row, 0, "%g", h);
            ts_doc_table_set(t3, row, 1, "%.1f", exp(h));
            ts_doc_table_set(t3, row, 2, "%.4f", s->temps[t]);
        }
        ts_doc_table_rule(t3);
        size_t row = ts_doc_table_row(t3, TS_STYLE_ACCENT);
        ts_doc_table_set(t3, row, 0, "%.4f", s->entropy_t1);
        ts_doc_table_set(t3, row, 1, "%.1f", exp(s->entropy_t1));
        ts_doc_table_set(t3, row, 2, "1 (the model)");
        ts_doc_add_table(d, t3);
    }
}

static ts_status plot(const ts_result *res, const char *path, const char *title, char *err,
                      size_t err_size)
{
    const res_sweep *s = res->data;
    /* The smooth entropy curve: log-spaced T over the swept range, plus T = inf. */
    double tmin = INFINITY, tmax = 0;
    for (size_t t = 0; t < s->n_temps; t++)
        if (s->temps[t] > 0 && isfinite(s->temps[t])) {
            tmin = fmin(tmin, s->temps[t]);
            tmax = fmax(tmax, s->temps[t]);
        }
    if (!(tmax > 0)) {
        tmin = 0.01;
        tmax = 100;
    }
    if (tmin > 0.5) tmin = 0.5;
    if (tmax < 2) tmax = 2;
    double ct[CURVE_POINTS + 1], ch[CURVE_POINTS + 1];
    for (size_t i = 0; i < CURVE_POINTS; i++) {
        ct[i] = exp(log(tmin) + (log(tmax) - log(tmin)) * (double)i / (CURVE_POINTS - 1));
        if (ts_entropy_at_temperature(s->logits, s->V, ct[i], &ch[i]) != TS_OK) ch[i] = NAN;
    }
    ct[CURVE_POINTS] = INFINITY;
    if (ts_entropy_at_temperature(s->logits, s->V, INFINITY, &ch[CURVE_POINTS]) != TS_OK)
        ch[CURVE_POINTS] = NAN;
    const req_sweep *q = RQ_REQ(res->req, req_sweep);
    ts_sweep_figure f = {.temperatures = s->temps,
                         .n_temps = s->n_temps,
                         .k = s->k,
                         .prob = q->full_prob ? s->prob : s->prob_topk,
                         .prob_full = q->full_prob,
                         .entropy_nats = s->entropy,
                         .curve_t = ct,
                         .curve_h = ch,
                         .n_curve = CURVE_POINTS + 1,
                         /* The figure annotates one target: the first. */
                         .has_target = s->n_temps > s->n_user,
                         .target_t = s->n_temps > s->n_user ? s->temps[s->n_user] : 0,
                         .target_h = s->n_temps > s->n_user ? s->targets[0] : 0,
                         .title = title};
    return ts_plot_sweep_figure(path, &f, err, err_size);
}

const ts_analysis rq_sweep = {
    .name = "sweep",
    .route = "/api/sweep",
    .summary = "many temperatures over one forward pass: top-k and entropy",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_sweep),
    .init = init,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .plot = plot,
};
