/*
 * a_map.c — the `map` analysis: truncation x temperature for one prompt. One
 * forward pass, then a grid of temperatures x values of one truncation (top-p,
 * min-p or top-k) giving what the sampler draws from at each cell: the support
 * size, its entropy and the probability mass kept, in the HF order
 * (temperature, then truncation) and the llama.cpp order (truncation at T = 1,
 * then temperature) side by side (src/measure/map.c, which agrees with
 * ts_sampler_apply cell for cell). The figure: the two orders as heatmaps on
 * one colour scale and their difference — why order matters.
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const axes[] = {"top_p", "min_p", "top_k", NULL};
static const char *const metrics[] = {"entropy", "support", "mass", NULL};

typedef struct req_map {
    rq_str prompt;
    rq_ids ids;
    int axis;
    rq_doubles values;
    rq_doubles temperatures;
    int metric;
} req_map;

static const rq_field fields[] = {
    RQ_PROMPT_FIELDS(req_map),
    {.info = {.name = "axis",
              .type = TS_FIELD_ENUM,
              .metavar = "top_p|min_p|top_k",
              .def = "top_p",
              .help = "the truncation on the y axis",
              .choices = axes},
     .off = offsetof(req_map, axis)},
    {.info = {.name = "values",
              .type = TS_FIELD_DOUBLES,
              .metavar = "LIST",
              .def = "per axis: top-p 0.5..1, min-p 0..0.3, top-k 1..100",
              .help = "the truncation values (increasing)"},
     .off = offsetof(req_map, values),
     .min = 0,
     .max = 1e9,
     .max_items = 64},
    {.info = {.name = "temperatures",
              .type = TS_FIELD_DOUBLES,
              .metavar = "LIST",
              .def = "0.25,0.5,0.75,1,1.25,1.5,2,3",
              .help = "the temperatures (finite, > 0, increasing)"},
     .off = offsetof(req_map, temperatures),
     .min = 0,
     .max = 1e9,
     .min_open = true,
     .max_items = 64},
    {.info = {.name = "metric",
              .type = TS_FIELD_ENUM,
              .metavar = "entropy|support|mass",
              .def = "entropy",
              .help = "what the tables and the figure show",
              .choices = metrics},
     .off = offsetof(req_map, metric)},
};

static const double default_temps[] = {0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3};
static const double default_top_p[] = {0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1};
static const double default_min_p[] = {0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3};
static const double default_top_k[] = {1, 2, 5, 10, 20, 50, 100};

typedef struct res_map {
    int32_t *ids;
    size_t n_ids, V;
    double *temps, *values;
    size_t n_temps, n_values;
    ts_map_cell *hf, *llama; /* [n_temps * n_values] */
} res_map;

static void free_result(void *v)
{
    res_map *m = v;
    free(m->ids);
    free(m->temps);
    free(m->values);
    free(m->hf);
    free(m->llama);
    free(m);
}

static void defaults(const req_map *q, const double **v, size_t *n)
{
    if (q->values.n) {
        *v = q->values.v;
        *n = q->values.n;
        return;
    }
    *v = q->axis == 0 ? default_top_p : q->axis == 1 ? default_min_p : default_top_k;
    *n = 7;
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_map *q = RQ_REQ(r, req_map);
    const double *v;
    size_t n;
    defaults(q, &v, &n);
    for (size_t i = 0; i < n; i++) {
        if (i && !(v[i] > v[i - 1]))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "values: must increase (item %zu)",
                             i + 1);
        bool ok = q->axis == 0   ? v[i] > 0 && v[i] <= 1
                  : q->axis == 1 ? v[i] >= 0 && v[i] < 1
                                 : v[i] == floor(v[i]) && v[i] >= 0;
        if (!ok)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "values: item %zu: %g is not a %s value (%s)", i + 1, v[i],
                             axes[q->axis],
                             q->axis == 0   ? "(0, 1]"
                             : q->axis == 1 ? "[0, 1)"
                                            : "an integer >= 0");
    }
    for (size_t i = 1; i < q->temperatures.n; i++)
        if (!(q->temperatures.v[i] > q->temperatures.v[i - 1]))
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "temperatures: must increase (item %zu)", i + 1);
    return TS_OK;
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_map *q = RQ_REQ(run->req, req_map);
    res_map *m = calloc(1, sizeof *m);
    if (!m) return ts_errorf(err, err_size, TS_ERR_NOMEM, "map: out of memory");
    const double *v;
    defaults(q, &v, &m->n_values);
    m->n_temps = q->temperatures.n ? q->temperatures.n : 8;
    m->V = (size_t)run->info->n_vocab;
    ts_status st = rq_prompt_ids(run, &q->prompt, &q->ids, &m->ids, &m->n_ids, err, err_size);
    if (st == TS_OK) st = ts_generator_set_prompt(run->slot->gen, m->ids, m->n_ids, err, err_size);
    size_t cells = m->n_temps * m->n_values;
    m->temps = malloc(m->n_temps * sizeof *m->temps);
    m->values = malloc(m->n_values * sizeof *m->values);
    m->hf = malloc(cells * sizeof *m->hf);
    m->llama = malloc(cells * sizeof *m->llama);
    if (st == TS_OK && (!m->temps || !m->values || !m->hf || !m->llama))
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "map: out of memory");
    if (st == TS_OK) {
        memcpy(m->temps, q->temperatures.n ? q->temperatures.v : default_temps,
               m->n_temps * sizeof *m->temps);
        memcpy(m->values, v, m->n_values * sizeof *m->values);
        st = ts_map_grid(ts_generator_prompt_logits(run->slot->gen), m->V, m->temps, m->n_temps,
                         (ts_map_axis)q->axis, m->values, m->n_values, m->hf, m->llama, err,
                         err_size);
    }
    if (st != TS_OK) {
        free_result(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

static double cell_value(const ts_map_cell *c, int metric)
{
    return metric == 0 ? c->entropy : metric == 1 ? (double)c->support : c->mass;
}

static cJSON *json(const ts_result *res)
{
    const res_map *m = res->data;
    const req_map *q = RQ_REQ(res->req, req_map);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddItemToObject(root, "ids", rq_json_ids(m->ids, m->n_ids));
    cJSON_AddStringToObject(root, "axis", axes[q->axis]);
    cJSON *t = cJSON_AddArrayToObject(root, "temperatures");
    for (size_t i = 0; i < m->n_temps; i++)
        cJSON_AddItemToArray(t, cJSON_CreateNumber(m->temps[i]));
    cJSON *vv = cJSON_AddArrayToObject(root, "values");
    for (size_t i = 0; i < m->n_values; i++)
        cJSON_AddItemToArray(vv, cJSON_CreateNumber(m->values[i]));
    static const char *const order_names[2] = {"hf", "llama"};
    for (int o = 0; o < 2; o++) {
        const ts_map_cell *g = o ? m->llama : m->hf;
        cJSON *grid = cJSON_AddArrayToObject(root, order_names[o]);
        for (size_t i = 0; i < m->n_temps; i++) {
            cJSON *row = cJSON_CreateArray();
            for (size_t j = 0; j < m->n_values; j++) {
                const ts_map_cell *c = &g[i * m->n_values + j];
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "support", (double)c->support);
                cJSON_AddNumberToObject(e, "entropy", c->entropy);
                cJSON_AddNumberToObject(e, "mass", c->mass);
                cJSON_AddItemToArray(row, e);
            }
            cJSON_AddItemToArray(grid, row);
        }
    }
    return root;
}

static void grid_table(ts_doc *d, const res_map *m, const req_map *q, int which)
{
    const char **h = calloc(m->n_values + 1, sizeof *h);
    char(*hb)[32] = calloc(m->n_values, sizeof *hb);
    ts_doc_table *t = NULL;
    if (h && hb) {
        h[0] = "T";
        for (size_t j = 0; j < m->n_values; j++) {
            snprintf(hb[j], sizeof hb[j], "%s %g",
                     q->axis == 0   ? "top-p"
                     : q->axis == 1 ? "min-p"
                                    : "top-k",
                     m->values[j]);
            h[j + 1] = hb[j];
        }
        t = ts_doc_table_new(m->n_values + 1, h);
    }
    free(h);
    free(hb);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    static const char *const what[3] = {"entropy (nats)", "tokens kept", "probability mass kept"};
    char title[160];
    snprintf(title, sizeof title, "%s, %s", what[q->metric],
             which == 0   ? "HF order (temperature, then truncation)"
             : which == 1 ? "llama.cpp order (truncation at T = 1, then temperature)"
                          : "llama.cpp minus HF");
    ts_doc_table_title(t, title);
    for (size_t j = 0; j <= m->n_values; j++)
        ts_doc_table_right(t, j);
    for (size_t i = 0; i < m->n_temps; i++) {
        size_t row = ts_doc_table_row(t, m->temps[i] == 1.0 ? TS_STYLE_ACCENT : TS_STYLE_PLAIN);
        ts_doc_table_set(t, row, 0, "%g", m->temps[i]);
        for (size_t j = 0; j < m->n_values; j++) {
            double a = cell_value(&m->hf[i * m->n_values + j], q->metric);
            double b = cell_value(&m->llama[i * m->n_values + j], q->metric);
            double x = which == 0 ? a : which == 1 ? b : b - a;
            if (q->metric == 1 && which < 2)
                ts_doc_table_set(t, row, j + 1, "%.0f", x);
            else if (q->metric == 1)
                ts_doc_table_set(t, row, j + 1, "%+.0f", x);
            else
                ts_doc_table_set(t, row, j + 1, which == 2 ? "%+.3f" : "%.3f", x);
        }
    }
    ts_doc_add_table(d, t);
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_map *m = res->data;
    const req_map *q = RQ_REQ(res->req, req_map);
    for (int w = 0; w < 3; w++)
        grid_table(d, m, q, w);
    ts_doc_printf(d, TS_STYLE_DIM,
                  "At T = 1 the two orders agree. Elsewhere the HF order truncates the "
                  "distribution temperature has already reshaped, while llama.cpp fixes the "
                  "kept set at T = 1 and only then applies T: high T widens the HF set but not "
                  "the llama.cpp one.\n");
}

static ts_status plot(const ts_result *res, const char *path, const char *title, char *err,
                      size_t err_size)
{
    const res_map *m = res->data;
    const req_map *q = RQ_REQ(res->req, req_map);
    size_t cells = m->n_temps * m->n_values;
    double *hf = malloc(cells * sizeof *hf), *ll = malloc(cells * sizeof *ll);
    if (!hf || !ll) {
        free(hf);
        free(ll);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    /* ts_map_grid is [t][value]; the figure wants [value][t]. */
    for (size_t i = 0; i < m->n_temps; i++)
        for (size_t j = 0; j < m->n_values; j++) {
            hf[j * m->n_temps + i] = cell_value(&m->hf[i * m->n_values + j], q->metric);
            ll[j * m->n_temps + i] = cell_value(&m->llama[i * m->n_values + j], q->metric);
        }
    static const char *const names[3] = {"entropy (nats)", "tokens kept", "mass kept"};
    ts_map_figure f = {m->temps,
                       m->n_temps,
                       m->values,
                       m->n_values,
                       q->axis == 0   ? "top-p"
                       : q->axis == 1 ? "min-p"
                                      : "top-k",
                       hf,
                       ll,
                       names[q->metric],
                       q->metric == 1,
                       title ? title : "Truncation x temperature: HF order vs llama.cpp order"};
    ts_status st = ts_plot_truncation_map(path, &f, err, err_size);
    free(hf);
    free(ll);
    return st;
}

const ts_analysis rq_map = {
    .name = "map",
    .route = "/api/map",
    .summary = "truncation x temperature: support, entropy and mass, HF vs llama.cpp order",
    .needs = TS_NEEDS_MODEL,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_map),
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .plot = plot,
};
