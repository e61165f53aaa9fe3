/*
 * api.c — the HTTP-shaped front of the request layer: one function that
 * answers GET /v1/models, POST /v1/completions and POST /api/<analysis>
 * with a status and a JSON body. `tempscale serve` calls it per HTTP request
 * and `tempscale batch` per input line, so the two give the same answers.
 *
 * Errors have OpenAI's shape {"error": {"message", "type", "param", "code"}}:
 * 400 bad JSON / wrong type / out of range (param = the field), 404 unknown
 * route or model, 405 wrong method, 413 body over TS_API_MAX_BODY, 503 with
 * Retry-After when every context is busy and the queue is full, 500 else.
 * Streaming (stream: true on /v1/completions) goes through opts->on_chunk as
 * Server-Sent-Events data payloads, ending with "[DONE]".
 */
#include "rq_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TS_API_MAX_BODY (1u << 20)

static const char OOM_BODY[] =
    "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
    "\"code\":null}}";

char *ts_api_error_body(const char *message, const char *type, const char *param,
                        const char *code)
{
    cJSON *o = cJSON_CreateObject(), *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
    if (!e) {
        cJSON_Delete(o);
        return NULL;
    }
    char *msg = rq_bytes_utf8(message, strlen(message));
    cJSON_AddStringToObject(e, "message", msg ? msg : message);
    free(msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    if (code)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void ts_api_response_clear(ts_api_response *r)
{
    if (r->body != OOM_BODY) free(r->body);
    memset(r, 0, sizeof *r);
}

static void respond(ts_api_response *out, int status, char *body)
{
    out->status = body ? status : 500;
    out->body = body ? body : (char *)OOM_BODY;
    out->content_type = "application/json";
}

static void fail(ts_api_response *out, int status, const char *message, const char *type,
                 const char *param, const char *code)
{
    respond(out, status, ts_api_error_body(message, type, param, code));
    if (status == 503) out->retry_after = 1;
}

/* The field a message is about ("top_p: ..." -> "top_p"), if a has it. */
static const char *param_of(const ts_analysis *a, const char *msg, char *buf, size_t size)
{
    const char *colon = strstr(msg, ": ");
    if (!colon || (size_t)(colon - msg) >= size) return NULL;
    memcpy(buf, msg, (size_t)(colon - msg));
    buf[colon - msg] = '\0';
    if (a && ts_analysis_find_field(a, buf)) return buf;
    if (strcmp(buf, "prompt") == 0 || strcmp(buf, "model") == 0) return buf;
    return NULL;
}

/* An error status for a failed ts_status, with the message's field as param. */
static void fail_status(ts_api_response *out, const ts_analysis *a, ts_status st,
                        const char *msg)
{
    char pbuf[64];
    const char *param = param_of(a, msg, pbuf, sizeof pbuf);
    switch (st) {
    case TS_ERR_INVALID:
    case TS_ERR_RANGE:
    case TS_ERR_FORMAT:
        fail(out, 400, msg, "invalid_request_error", param, NULL);
        break;
    case TS_ERR_UNSUPPORTED:
        fail(out, 400, msg, "invalid_request_error", param, "unsupported");
        break;
    case TS_ERR_NOT_FOUND: fail(out, 404, msg, "invalid_request_error", param, NULL); break;
    case TS_ERR_BUSY: fail(out, 503, msg, "server_error", NULL, "overloaded"); break;
    default: fail(out, 500, msg, "server_error", NULL, NULL); break;
    }
}

/* Non-streamed runs: the front end's cancel question at every event. */
static int on_cancel_check(const ts_event *ev, void *user)
{
    (void)ev;
    const ts_api_opts *o = user;
    return o->is_cancelled(o->user);
}

/* "model" names another model: 404 as OpenAI does. false when it did. */
static bool check_model(ts_session *s, const cJSON *root, ts_api_response *out)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!m || cJSON_IsNull(m)) return true;
    if (!cJSON_IsString(m)) {
        fail(out, 400, "model: expected a string", "invalid_request_error", "model", NULL);
        return false;
    }
    if (strcmp(m->valuestring, ts_session_model_name(s)) == 0) return true;
    char *msg = rq_strdupf("The model '%s' does not exist (this server has '%s')", m->valuestring,
                           ts_session_model_name(s));
    fail(out, 404, msg ? msg : "model not found", "invalid_request_error", "model",
         "model_not_found");
    free(msg);
    return false;
}

static void models(ts_session *s, ts_api_response *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", ts_session_model_name(s));
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "tempscale");
    cJSON_AddItemToArray(d, m);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    respond(out, 200, body);
}

/* ---- POST /api/<analysis> ----------------------------------------------------- */

/*
 * Streaming a native analysis ("stream": true on /api/generate, /api/compare):
 * one SSE event per generated token {"event":"token", indices, "step": {...}},
 * one per finished sequence {"event":"end", indices, "finish_reason", "text"},
 * then {"event":"result","result": <the same JSON as without stream>} and [DONE].
 */
typedef struct native_stream {
    const ts_api_opts *o;
    const ts_tokenizer *tok;
    bool sent_any, failed;
} native_stream;

static bool native_send(native_stream *ns, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) return !(ns->failed = true);
    if (!ns->failed && ns->o->on_chunk(s, strlen(s), ns->o->user) != 0) ns->failed = true;
    free(s);
    ns->sent_any = true;
    return !ns->failed;
}

static cJSON *event_head(const char *name, const ts_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", name);
    cJSON_AddNumberToObject(o, "prompt_index", (double)ev->prompt_index);
    if (ev->greedy)
        cJSON_AddBoolToObject(o, "greedy", true);
    else
        cJSON_AddNumberToObject(o, "temperature_index", (double)ev->temp_index);
    cJSON_AddNumberToObject(o, "sample_index", (double)ev->sample_index);
    cJSON_AddItemToObject(o, "temperature", rq_json_number(ev->temperature));
    return o;
}

static int on_native_event(const ts_event *ev, void *user)
{
    native_stream *ns = user;
    if (ev->kind == TS_EV_TOKEN) {
        cJSON *o = event_head("token", ev);
        cJSON_AddItemToObject(o, "step", rq_json_step(ns->tok, ev->step));
        return native_send(ns, o) ? 0 : 1;
    }
    if (ev->kind == TS_EV_SAMPLE_END) {
        cJSON *o = event_head("end", ev);
        cJSON_AddStringToObject(o, "finish_reason", ev->finish_reason ? ev->finish_reason : "length");
        char *t = rq_bytes_utf8(ev->text, ev->text_len);
        cJSON_AddStringToObject(o, "text", t ? t : "");
        free(t);
        if (ev->compared) cJSON_AddNumberToObject(o, "diverges_at", (double)ev->diverges_at);
        return native_send(ns, o) ? 0 : 1;
    }
    return 0;
}

static void native(ts_session *s, const ts_analysis *a, cJSON *root, const ts_api_opts *o,
                   ts_api_response *out)
{
    char err[TS_ERR_SIZE] = "";
    cJSON *stream = cJSON_DetachItemFromObjectCaseSensitive(root, "stream");
    bool streaming = cJSON_IsTrue(stream);
    bool stream_bad = stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream);
    cJSON_Delete(stream);
    if (stream_bad) {
        fail(out, 400, "stream: expected true or false", "invalid_request_error", "stream", NULL);
        return;
    }
    bool can_stream = strcmp(ts_analysis_name(a), "generate") == 0 ||
                      strcmp(ts_analysis_name(a), "compare") == 0;
    if (streaming && (!can_stream || !o || !o->on_chunk)) {
        fail(out, 400,
             can_stream ? "stream: streaming is not available here (a batch answers in one body)"
                        : "stream: only /api/generate and /api/compare stream",
             "invalid_request_error", "stream", NULL);
        return;
    }
    ts_request *r = NULL;
    ts_status st = rq_request_from_object(a, root, &r, err, sizeof err);
    if (st == TS_OK) ts_request_ensure_seed(r, NULL);
    ts_result *res = NULL;
    native_stream ns = {o, ts_session_tokenizer(s), false, false};
    ts_run_opts ro = {streaming ? on_native_event : NULL, &ns, NULL, o ? o->slot_timeout_ms : -1};
    if (!streaming && o && o->is_cancelled) {
        ro.on_event = on_cancel_check;
        ro.user = (void *)o;
    }
    if (st == TS_OK) st = ts_request_run(r, s, &ro, &res, err, sizeof err);
    ts_request_free(r);
    if (!streaming || (st != TS_OK && !ns.sent_any)) {
        if (st != TS_OK)
            fail_status(out, a, st, err);
        else
            respond(out, 200, ts_result_json(res));
        ts_result_free(res);
        return;
    }
    out->status = 200;
    out->body = NULL;
    out->content_type = "text/event-stream";
    if (!ns.failed) {
        if (st == TS_OK) {
            char *js = ts_result_json(res);
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "event", "result");
            cJSON_AddItemToObject(ev, "result", js ? cJSON_CreateRaw(js) : cJSON_CreateNull());
            free(js);
            native_send(&ns, ev);
        } else {
            char *e = ts_api_error_body(err, "server_error", NULL, NULL);
            if (e) o->on_chunk(e, strlen(e), o->user);
            free(e);
        }
        if (!ns.failed) o->on_chunk("[DONE]", 6, o->user);
    }
    ts_result_free(res);
}

/* ---- POST /v1/completions ---------------------------------------------------- */

/*
 * OpenAI's prompt (a string, [string], [int] or [[int]]) into the hidden
 * fields prompt_texts / prompt_ids + prompt_lens. false after answering 400.
 */
static bool flatten_prompt(cJSON *root, ts_api_response *out)
{
    cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(root, "prompt");
    bool ok = true;
    const char *why = NULL;
    cJSON *texts = cJSON_CreateArray(), *ids = cJSON_CreateArray(), *lens = cJSON_CreateArray();
    if (!p || cJSON_IsNull(p)) {
        why = "prompt: missing (a string, an array of strings or an array of token ids)";
    } else if (cJSON_IsString(p)) {
        cJSON_AddItemToArray(texts, cJSON_CreateString(p->valuestring));
    } else if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0) {
        const cJSON *first = p->child;
        if (cJSON_IsString(first)) {
            for (const cJSON *e = p->child; e && !why; e = e->next)
                if (!cJSON_IsString(e))
                    why = "prompt: an array of prompts must hold only strings";
                else
                    cJSON_AddItemToArray(texts, cJSON_CreateString(e->valuestring));
        } else if (cJSON_IsNumber(first)) {
            for (const cJSON *e = p->child; e; e = e->next) cJSON_AddItemToArray(ids, cJSON_Duplicate(e, 0));
            cJSON_AddItemToArray(lens, cJSON_CreateNumber(cJSON_GetArraySize(p)));
        } else if (cJSON_IsArray(first)) {
            for (const cJSON *e = p->child; e && !why; e = e->next) {
                if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) == 0) {
                    why = "prompt: an array of token-id prompts must hold non-empty arrays";
                    break;
                }
                for (const cJSON *t = e->child; t; t = t->next)
                    cJSON_AddItemToArray(ids, cJSON_Duplicate(t, 0));
                cJSON_AddItemToArray(lens, cJSON_CreateNumber(cJSON_GetArraySize(e)));
            }
        } else {
            why = "prompt: expected a string, an array of strings or an array of token ids";
        }
    } else {
        why = "prompt: expected a non-empty string, array of strings or array of token ids";
    }
    if (!why && cJSON_GetArraySize(texts))
        cJSON_AddItemToObject(root, "prompt_texts", texts), texts = NULL;
    if (!why && cJSON_GetArraySize(lens)) {
        cJSON_AddItemToObject(root, "prompt_ids", ids);
        cJSON_AddItemToObject(root, "prompt_lens", lens);
        ids = lens = NULL;
    }
    if (why) {
        fail(out, 400, why, "invalid_request_error", "prompt", NULL);
        ok = false;
    }
    cJSON_Delete(p);
    cJSON_Delete(texts);
    cJSON_Delete(ids);
    cJSON_Delete(lens);
    return ok;
}

typedef struct stream_state {
    const ts_api_opts *o;
    const char *model;
    char id[40];
    long long created;
    size_t n;        /* choices per prompt */
    bool echo;
    bool logprobs, raw; /* logprobs requested; raw (default) or processed */
    size_t *offset;     /* per choice: code points streamed so far (text_offset) */
    size_t n_offset;
    const ts_tokenizer *tok;
    bool sent_any;
    bool failed;     /* the client went away */
} stream_state;

static bool send_chunk(stream_state *ss, char *json)
{
    if (!json) return !(ss->failed = true);
    if (!ss->failed && ss->o->on_chunk(json, strlen(json), ss->o->user) != 0) ss->failed = true;
    free(json);
    ss->sent_any = true;
    return !ss->failed;
}

/* A chunk with OpenAI's logprobs object for one token. */
static char *token_chunk(stream_state *ss, size_t index, const ts_gen_step *st)
{
    char *base = rq_completion_chunk(ss->id, ss->created, ss->model, index, st->text,
                                     st->text_len, NULL);
    if (!base || !ss->logprobs || !st->has_logprobs) return base;
    cJSON *o = cJSON_Parse(base);
    free(base);
    cJSON *c = o ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0) : NULL;
    if (!c) {
        cJSON_Delete(o);
        return NULL;
    }
    if (index >= ss->n_offset) {
        size_t n = 2 * index + 8;
        size_t *p = realloc(ss->offset, n * sizeof *p);
        if (!p) {
            cJSON_Delete(o);
            return NULL;
        }
        memset(p + ss->n_offset, 0, (n - ss->n_offset) * sizeof *p);
        ss->offset = p;
        ss->n_offset = n;
    }
    cJSON *lp = cJSON_CreateObject();
    char *t = rq_token_utf8(ss->tok, st->id);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(lp, "tokens"), cJSON_CreateString(t ? t : ""));
    free(t);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(lp, "token_logprobs"),
                         rq_json_number(ss->raw ? st->logprob_raw : st->logprob));
    cJSON *d = cJSON_CreateObject();
    const ts_token_logprob *top = ss->raw ? st->top_raw : st->top;
    size_t n_top = ss->raw ? st->n_top_raw : st->n_top;
    for (size_t j = 0; j < n_top; j++) {
        char *tt = rq_token_utf8(ss->tok, top[j].id);
        if (tt && !cJSON_GetObjectItemCaseSensitive(d, tt))
            cJSON_AddItemToObject(d, tt, rq_json_number(top[j].logprob));
        free(tt);
    }
    cJSON_AddItemToArray(cJSON_AddArrayToObject(lp, "top_logprobs"), d);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(lp, "text_offset"),
                         cJSON_CreateNumber((double)ss->offset[index]));
    for (size_t i = 0; i < st->text_len; i++)
        ss->offset[index] += ((unsigned char)st->text[i] & 0xC0) != 0x80;
    cJSON_ReplaceItemInObjectCaseSensitive(c, "logprobs", lp);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int on_stream_event(const ts_event *ev, void *user)
{
    stream_state *ss = user;
    size_t index = ev->prompt_index * ss->n + ev->sample_index;
    switch (ev->kind) {
    case TS_EV_SAMPLE_BEGIN:
        if (ss->echo) {
            char *pt = rq_ids_text(ss->tok, ev->prompt_ids, ev->n_prompt_ids);
            bool ok = pt && send_chunk(ss, rq_completion_chunk(ss->id, ss->created, ss->model,
                                                               index, pt, strlen(pt), NULL));
            free(pt);
            if (!ok) return 1;
        }
        return 0;
    case TS_EV_TOKEN:
        if (ev->step->text_len == 0 && !ss->logprobs) return 0;
        return send_chunk(ss, token_chunk(ss, index, ev->step)) ? 0 : 1;
    case TS_EV_SAMPLE_END:
        return send_chunk(ss, rq_completion_chunk(ss->id, ss->created, ss->model, index, "", 0,
                                                  ev->finish_reason))
                   ? 0
                   : 1;
    default: return 0;
    }
}

static void completions(ts_session *s, cJSON *root, const ts_api_opts *o, ts_api_response *out)
{
    if (!flatten_prompt(root, out)) return;
    char err[TS_ERR_SIZE] = "";
    ts_request *r = NULL;
    ts_status st = rq_request_from_object(&rq_completions, root, &r, err, sizeof err);
    if (st != TS_OK) {
        fail_status(out, &rq_completions, st, err);
        return;
    }
    ts_request_ensure_seed(r, NULL);
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    bool streaming = cJSON_IsTrue(stream);
    if (streaming && (!o || !o->on_chunk)) {
        ts_request_free(r);
        fail(out, 400, "stream: streaming is not available here (a batch answers in one body)",
             "invalid_request_error", "stream", NULL);
        return;
    }
    ts_result *res = NULL;
    ts_run_opts ro = {NULL, NULL, NULL, o ? o->slot_timeout_ms : -1};
    if (o && o->is_cancelled) {
        ro.on_event = on_cancel_check;
        ro.user = (void *)o;
    }
    stream_state ss;
    memset(&ss, 0, sizeof ss);
    if (streaming) {
        ss.o = o;
        ss.model = ts_session_model_name(s);
        rq_completion_id(ss.id, sizeof ss.id);
        ss.created = (long long)time(NULL);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n");
        ss.n = cJSON_IsNumber(n) && n->valuedouble >= 1 ? (size_t)n->valuedouble : 1;
        ss.echo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "echo"));
        const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
        ss.logprobs = cJSON_IsNumber(lp);
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(root, "logprobs_mode");
        ss.raw = !(cJSON_IsString(mode) && strcmp(mode->valuestring, "processed") == 0);
        ss.tok = ts_session_tokenizer(s);
        ro.on_event = on_stream_event;
        ro.user = &ss;
    }
    st = ts_request_run(r, s, &ro, &res, err, sizeof err);
    ts_request_free(r);
    free(ss.offset);
    if (!streaming) {
        if (st != TS_OK)
            fail_status(out, &rq_completions, st, err);
        else
            respond(out, 200, ts_result_json(res));
        ts_result_free(res);
        return;
    }
    ts_result_free(res);
    if (st != TS_OK && !ss.sent_any) {
        fail_status(out, &rq_completions, st, err);
        return;
    }
    out->status = 200;
    out->body = NULL;
    out->content_type = "text/event-stream";
    if (ss.failed) return; /* the client is gone */
    if (st != TS_OK) {
        /* Headers are sent: the error goes in the stream, then it ends. */
        char *e = ts_api_error_body(err, "server_error", NULL, NULL);
        if (e) o->on_chunk(e, strlen(e), o->user);
        free(e);
    }
    o->on_chunk("[DONE]", 6, o->user);
}

/* ---- dispatch ------------------------------------------------------------------- */

void ts_api_handle(ts_session *s, const char *method, const char *path, const char *body,
                   size_t len, const ts_api_opts *opts, ts_api_response *out)
{
    memset(out, 0, sizeof *out);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    const ts_analysis *a = ts_analysis_by_route(path);
    bool is_completions = strcmp(path, "/v1/completions") == 0;
    if (strcmp(path, "/v1/models") == 0) {
        if (!get) {
            fail(out, 405, "use GET for /v1/models", "invalid_request_error", NULL,
                 "method_not_allowed");
            return;
        }
        models(s, out);
        return;
    }
    if (strncmp(path, "/v1/models/", 11) == 0 && get) {
        if (strcmp(path + 11, ts_session_model_name(s)) != 0) {
            fail(out, 404, "model not found", "invalid_request_error", "model", "model_not_found");
            return;
        }
        models(s, out);
        return;
    }
    if (!a && !is_completions) {
        char *msg = rq_strdupf("unknown route %s %s (routes: GET /v1/models, POST "
                               "/v1/completions, POST /api/{tokenize,top,sample,sweep,generate,"
                               "compare,softmax})",
                               method, path);
        fail(out, 404, msg ? msg : "unknown route", "invalid_request_error", NULL,
             "unknown_route");
        free(msg);
        return;
    }
    if (!post) {
        char *msg = rq_strdupf("use POST for %s", path);
        fail(out, 405, msg ? msg : "use POST", "invalid_request_error", NULL,
             "method_not_allowed");
        free(msg);
        return;
    }
    if (len > TS_API_MAX_BODY) {
        fail(out, 413, "the request body is over 1 MiB", "invalid_request_error", NULL,
             "body_too_large");
        return;
    }
    cJSON *root = cJSON_ParseWithLength(body ? body : "", len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        fail(out, 400,
             root ? "the body must be a JSON object" : "the body is not valid JSON",
             "invalid_request_error", NULL, "invalid_json");
        return;
    }
    if (check_model(s, root, out)) {
        if (is_completions)
            completions(s, root, opts, out);
        else
            native(s, a, root, opts, out);
    }
    cJSON_Delete(root);
}
