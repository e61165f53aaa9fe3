/*
 * a_softmax.c — the `softmax` analysis: softmax(z / T) of a few logits at
 * several temperatures, with entropy in nats and bits and the perplexity;
 * the bar-panel figure. Needs no model.
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_softmax {
    rq_doubles logits; /* FLOATS: fit float32, -inf masks a token */
    rq_doubles temperatures;
    rq_strings labels;
    rq_str title;
} req_softmax;

/* The seed notebook's toy values. */
static const double default_logits[] = {2, 1, 0.5, 0.2, 0.1};
static const double default_temps[] = {0.1, 0.5, 1, 2, 5};

static const rq_field fields[] = {
    {.info = {.name = "logits",
              .type = TS_FIELD_FLOATS,
              .metavar = "LIST",
              .def = "2,1,0.5,0.2,0.1",
              .help = "comma-separated logits, -inf allowed (masks a token)"},
     .off = offsetof(req_softmax, logits),
     .min = -INFINITY,
     .max = INFINITY,
     .allow_neg_inf = true,
     .max_items = 100000,
     .hint = "(logits must be finite; -inf masks a token)"},
    {.info = {.name = "temperatures",
              .type = TS_FIELD_DOUBLES,
              .metavar = "LIST",
              .def = "0.1,0.5,1,2,5",
              .help = "comma-separated T >= 0 (0 = argmax, inf = uniform)"},
     .off = offsetof(req_softmax, temperatures),
     .min = 0,
     .max = INFINITY,
     .max_items = 1000,
     .hint = "(a temperature must be >= 0: 0 = argmax, inf = uniform)"},
    {.info = {.name = "labels",
              .type = TS_FIELD_STRINGS,
              .metavar = "LIST",
              .def = "token 0, token 1, ...",
              .help = "comma-separated token names, one per logit"},
     .off = offsetof(req_softmax, labels)},
    {.info = {.name = "title",
              .type = TS_FIELD_STRING,
              .metavar = "TEXT",
              .help = "title of the figure (--plot)"},
     .off = offsetof(req_softmax, title)},
};

typedef struct res_softmax {
    float *z;
    double *zd; /* copies: the result outlives the request it came from */
    double *temps;
    size_t n, nt;
    double *probs; /* [nt][n] */
    double *ent;   /* [nt] nats */
} res_softmax;

static void get_inputs(const req_softmax *q, const double **z, size_t *n, const double **t,
                       size_t *nt)
{
    *z = q->logits.n ? q->logits.v : default_logits;
    *n = q->logits.n ? q->logits.n : 5;
    *t = q->temperatures.n ? q->temperatures.v : default_temps;
    *nt = q->temperatures.n ? q->temperatures.n : 5;
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_softmax *q = RQ_REQ(r, req_softmax);
    const double *z, *t;
    size_t n, nt;
    get_inputs(q, &z, &n, &t, &nt);
    size_t finite = 0;
    for (size_t i = 0; i < n; i++)
        finite += isfinite(z[i]) != 0;
    if (finite == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "logits: every logit is -inf; at least one must be finite");
    if (q->labels.n && q->labels.n != n)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "labels: %zu labels for %zu logits; give one per logit", q->labels.n, n);
    return TS_OK;
}

static void free_result(void *p)
{
    res_softmax *s = p;
    free(s->z);
    free(s->zd);
    free(s->temps);
    free(s->probs);
    free(s->ent);
    free(s);
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_softmax *q = RQ_REQ(run->req, req_softmax);
    res_softmax *s = calloc(1, sizeof *s);
    if (!s) return ts_errorf(err, err_size, TS_ERR_NOMEM, "softmax: out of memory");
    const double *zd, *temps;
    get_inputs(q, &zd, &s->n, &temps, &s->nt);
    s->zd = malloc(s->n * sizeof *s->zd);
    s->temps = malloc(s->nt * sizeof *s->temps);
    s->z = malloc(s->n * sizeof *s->z);
    s->probs = malloc(s->n * s->nt * sizeof *s->probs);
    s->ent = malloc(s->nt * sizeof *s->ent);
    if (!s->z || !s->zd || !s->temps || !s->probs || !s->ent) {
        free_result(s);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "softmax: out of memory");
    }
    memcpy(s->zd, zd, s->n * sizeof *zd);
    memcpy(s->temps, temps, s->nt * sizeof *temps);
    for (size_t i = 0; i < s->n; i++)
        s->z[i] = (float)s->zd[i];
    for (size_t k = 0; k < s->nt; k++) {
        ts_status st = ts_softmax(s->z, s->n, s->temps[k], s->probs + k * s->n);
        if (st != TS_OK) {
            double t = s->temps[k];
            free_result(s);
            return ts_errorf(err, err_size, st, "temperatures: softmax failed at T = %g", t);
        }
        s->ent[k] = ts_entropy_nats(s->probs + k * s->n, s->n);
    }
    *out = s;
    return TS_OK;
}

/* The result's request struct (the copy kept with the result). */
static const req_softmax *req_of(const ts_result *res)
{
    return RQ_REQ(res->req, req_softmax);
}

static cJSON *json(const ts_result *res)
{
    const res_softmax *s = res->data;
    cJSON *root = cJSON_CreateObject();
    cJSON *jl = cJSON_AddArrayToObject(root, "logits");
    for (size_t i = 0; i < s->n; i++)
        cJSON_AddItemToArray(jl, rq_json_number(s->zd[i]));
    cJSON *jr = cJSON_AddArrayToObject(root, "results");
    for (size_t k = 0; k < s->nt; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "temperature", rq_json_number(s->temps[k]));
        cJSON *jp = cJSON_AddArrayToObject(o, "probs");
        for (size_t i = 0; i < s->n; i++)
            cJSON_AddItemToArray(jp, cJSON_CreateNumber(s->probs[k * s->n + i]));
        cJSON_AddNumberToObject(o, "entropy_nats", s->ent[k]);
        cJSON_AddNumberToObject(o, "entropy_bits", s->ent[k] / M_LN2);
        cJSON_AddNumberToObject(o, "perplexity", exp(s->ent[k]));
        cJSON_AddItemToArray(jr, o);
    }
    return root;
}

/*
 * A label as shown: unchanged unless it has leading / trailing spaces or
 * control characters (a token piece like " the"), then repr-quoted ' the'.
 */
static const char *display_label(const char *s, char *buf, size_t size)
{
    size_t len = strlen(s);
    bool quote = len == 0 || s[0] == ' ' || s[len - 1] == ' ';
    for (size_t i = 0; i < len; i++)
        quote |= (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
    if (!quote) return s;
    return ts_token_printable(s, len, TS_TOKEN_QUOTE, buf, size);
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_softmax *s = res->data;
    const req_softmax *q = req_of(res);
    const char **headers = calloc(s->nt + 2, sizeof *headers);
    char(*hb)[48] = calloc(s->nt, sizeof *hb);
    ts_doc_table *t = NULL;
    if (headers && hb) {
        headers[0] = "token";
        headers[1] = "logit";
        for (size_t k = 0; k < s->nt; k++) {
            char tb[32];
            rq_fmt_temp(tb, sizeof tb, s->temps[k]);
            snprintf(hb[k], sizeof hb[k], "T = %s", tb);
            headers[k + 2] = hb[k];
        }
        t = ts_doc_table_new(s->nt + 2, headers);
    }
    free(headers);
    free(hb);
    if (!t) {
        ts_doc_add_table(d, NULL); /* marks the document out of memory */
        return;
    }
    char title[96], buf[64], lb[256];
    snprintf(title, sizeof title, "softmax(z / T) of %zu logits", s->n);
    ts_doc_table_title(t, title);
    for (size_t c = 1; c < s->nt + 2; c++)
        ts_doc_table_right(t, c);
    for (size_t k = 0; k < s->nt; k++)
        if (s->temps[k] == 1.0) ts_doc_table_emphasise_col(t, k + 2);
    for (size_t i = 0; i < s->n; i++) {
        size_t r = ts_doc_table_row(t, TS_STYLE_PLAIN);
        if (q->labels.n)
            ts_doc_table_set(t, r, 0, "%s", display_label(q->labels.v[i], lb, sizeof lb));
        else
            ts_doc_table_set(t, r, 0, "token %zu", i);
        ts_doc_table_set(t, r, 1, "%g", (double)s->z[i]);
        for (size_t k = 0; k < s->nt; k++) {
            rq_fmt_prob(buf, sizeof buf, s->probs[k * s->n + i]);
            ts_doc_table_set(t, r, k + 2, "%s", buf);
        }
    }
    static const char *const rows[3] = {"entropy (nats)", "entropy (bits)", "perplexity exp(H)"};
    for (int j = 0; j < 3; j++) {
        if (j == 0) ts_doc_table_rule(t);
        size_t r = ts_doc_table_row(t, TS_STYLE_PLAIN);
        ts_doc_table_set(t, r, 0, "%s", rows[j]);
        for (size_t k = 0; k < s->nt; k++) {
            double v = j == 0 ? s->ent[k] : j == 1 ? s->ent[k] / M_LN2 : exp(s->ent[k]);
            ts_doc_table_set(t, r, k + 2, "%.4f", v);
        }
    }
    ts_doc_add_table(d, t);
    ts_doc_text(d, TS_STYLE_DIM,
                "T < 1 sharpens, T > 1 flattens; T = 0 is greedy (argmax), T = inf uniform.\n",
                strlen("T < 1 sharpens, T > 1 flattens; T = 0 is greedy (argmax), T = inf "
                       "uniform.\n"));
}

static ts_status plot(const ts_result *res, const char *path, const char *title, char *err,
                      size_t err_size)
{
    const res_softmax *s = res->data;
    const req_softmax *q = req_of(res);
    char **labels = NULL;
    char lb[256];
    if (q->labels.n) {
        labels = calloc(s->n, sizeof *labels);
        if (!labels) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < s->n; i++) {
            labels[i] = strdup(display_label(q->labels.v[i], lb, sizeof lb));
            if (!labels[i]) {
                for (size_t j = 0; j < i; j++)
                    free(labels[j]);
                free(labels);
                return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
            }
        }
    }
    ts_status st = ts_plot_softmax_panels(path, s->z, s->n, (const char *const *)labels, s->temps,
                                          s->nt, title ? title : q->title.s, err, err_size);
    if (labels)
        for (size_t i = 0; i < s->n; i++)
            free(labels[i]);
    free(labels);
    return st;
}

const ts_analysis rq_softmax = {
    .name = "softmax",
    .route = "/api/softmax",
    .summary = "temperature softmax of a few logits: table, JSON, plot",
    .needs = TS_NEEDS_NOTHING,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_softmax),
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .plot = plot,
};
