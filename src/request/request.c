/*
 * request.c — the registry of analyses and the generic run: validate what
 * needs no model (a->check), borrow a slot when the analysis needs the model,
 * run, and wrap the analysis' result with what its renderers need (a copy of
 * the request, the tokenizer, the model's name). Events go to the caller and,
 * when a live document is attached, to the analysis' live renderer first.
 */
#include "rq_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const ts_analysis *const analyses[] = {
    &rq_softmax, &rq_tokenize,  &rq_top,   &rq_generate, &rq_sample,    &rq_sweep,
    &rq_compare, &rq_diversity, &rq_trace, &rq_map,      &rq_calibrate,
};
#define N_ANALYSES (sizeof analyses / sizeof analyses[0])

size_t ts_analysis_count(void)
{
    return N_ANALYSES;
}

const ts_analysis *ts_analysis_at(size_t i)
{
    return i < N_ANALYSES ? analyses[i] : NULL;
}

const ts_analysis *ts_analysis_find(const char *name)
{
    for (size_t i = 0; i < N_ANALYSES; i++)
        if (strcmp(analyses[i]->name, name) == 0) return analyses[i];
    return NULL;
}

const ts_analysis *ts_analysis_by_route(const char *path)
{
    for (size_t i = 0; i < N_ANALYSES; i++)
        if (analyses[i]->route && strcmp(analyses[i]->route, path) == 0) return analyses[i];
    return NULL;
}

const char *ts_analysis_name(const ts_analysis *a)
{
    return a->name;
}
const char *ts_analysis_route(const ts_analysis *a)
{
    return a->route;
}
const char *ts_analysis_summary(const ts_analysis *a)
{
    return a->summary;
}
ts_needs ts_analysis_needs(const ts_analysis *a)
{
    return a->needs;
}
bool ts_analysis_has_plot(const ts_analysis *a)
{
    return a->plot != NULL;
}

ts_needs ts_request_needs(const ts_request *r)
{
    return r->a->needs_of ? r->a->needs_of(r) : r->a->needs;
}

bool rq_emit(rq_run *run, const ts_event *ev)
{
    if (run->cancelled) return false;
    const ts_run_opts *o = run->opts;
    if (o->live_doc && run->req->a->doc_event)
        run->req->a->doc_event(run->req, run->tok, ev, o->live_doc);
    if (o->on_event && o->on_event(ev, o->user) != 0) run->cancelled = true;
    return !run->cancelled;
}

ts_status ts_request_run(const ts_request *r, ts_session *s, const ts_run_opts *opts,
                         ts_result **out, char *err, size_t err_size)
{
    *out = NULL;
    const ts_analysis *a = r->a;
    ts_run_opts defaults = {NULL, NULL, NULL, -1};
    rq_run run;
    memset(&run, 0, sizeof run);
    run.session = s;
    run.opts = opts ? opts : &defaults;
    run.req = r;
    if (a->check) {
        ts_status st = a->check(r, err, err_size);
        if (st != TS_OK) return st;
    }
    ts_needs needs = ts_request_needs(r);
    if (needs >= TS_NEEDS_TOKENIZER) {
        if (!s) return ts_errorf(err, err_size, TS_ERR_INVALID, "%s needs a model", a->name);
        run.tok = ts_session_tokenizer(s);
    }
    if (needs == TS_NEEDS_MODEL) {
        if (!ts_session_model(s))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s needs the model's weights",
                             a->name);
        run.info = ts_model_get_info(ts_session_model(s));
        ts_status st = rq_session_acquire(s, run.opts->slot_timeout_ms, &run.slot, err, err_size);
        if (st != TS_OK) return st;
    }
    ts_result *res = calloc(1, sizeof *res);
    ts_status st = res ? rq_request_clone(r, &res->req) : TS_ERR_NOMEM;
    if (st == TS_OK && s) {
        res->model_dir = strdup(ts_session_model_dir(s));
        res->model_name = strdup(ts_session_model_name(s));
        if (!res->model_dir || !res->model_name) st = TS_ERR_NOMEM;
    }
    if (st != TS_OK) {
        rq_session_release(s, run.slot);
        ts_result_free(res);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", a->name);
    }
    res->a = a;
    res->tok = run.tok;
    res->info = run.info;
    st = a->run(&run, &res->data, err, err_size);
    rq_session_release(s, run.slot);
    res->warnings = run.warnings;
    if (st == TS_OK && run.cancelled) st = ts_errorf(err, err_size, TS_ERR_IO, "cancelled");
    if (st != TS_OK) {
        ts_result_free(res);
        return st;
    }
    *out = res;
    return TS_OK;
}

void ts_result_free(ts_result *res)
{
    if (!res) return;
    if (res->data) res->a->free_result(res->data);
    ts_request_free(res->req);
    for (size_t i = 0; i < res->warnings.n; i++)
        free(res->warnings.v[i]);
    free(res->warnings.v);
    free(res->model_dir);
    free(res->model_name);
    free(res);
}

const ts_analysis *ts_result_analysis(const ts_result *res)
{
    return res->a;
}
size_t ts_result_n_warnings(const ts_result *res)
{
    return res->warnings.n;
}

const char *ts_result_warning(const ts_result *res, size_t i)
{
    return i < res->warnings.n ? res->warnings.v[i] : NULL;
}

void rq_warn(rq_run *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = rq_vstrdupf(fmt, ap);
    va_end(ap);
    char **v = s ? realloc(run->warnings.v, (run->warnings.n + 1) * sizeof *v) : NULL;
    if (!v) {
        free(s);
        return;
    }
    run->warnings.v = v;
    v[run->warnings.n++] = s;
}

char *ts_result_json(const ts_result *res)
{
    cJSON *root = res->a->json(res);
    if (!root) return NULL;
    if (res->warnings.n) {
        cJSON *w = cJSON_AddArrayToObject(root, "warnings");
        for (size_t i = 0; w && i < res->warnings.n; i++)
            cJSON_AddItemToArray(w, cJSON_CreateString(res->warnings.v[i]));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

ts_status ts_result_doc(const ts_result *res, ts_doc *doc, bool live)
{
    res->a->doc(res, doc, live);
    return ts_doc_ok(doc) ? TS_OK : TS_ERR_NOMEM;
}

ts_status ts_result_plot(const ts_result *res, const char *path, const char *title, char *err,
                         size_t err_size)
{
    if (!res->a->plot)
        return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED, "%s has no figure", res->a->name);
    return res->a->plot(res, path, title, err, err_size);
}

size_t ts_result_n_figures(const ts_result *res)
{
    if (res->a->n_figures) return res->a->n_figures(res);
    return res->a->plot ? 1 : 0;
}

const char *ts_result_figure_name(const ts_result *res, size_t i)
{
    if (i == 0 || !res->a->figure_name) return "figure";
    return res->a->figure_name(res, i);
}

ts_status ts_result_plot_figure(const ts_result *res, size_t i, const char *path, char *err,
                                size_t err_size)
{
    if (i == 0) return ts_result_plot(res, path, NULL, err, err_size);
    if (i >= ts_result_n_figures(res) || !res->a->plot_extra)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s has no figure %zu", res->a->name, i);
    return res->a->plot_extra(res, i, path, err, err_size);
}
