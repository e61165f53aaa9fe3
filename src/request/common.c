/*
 * common.c — pieces every analysis of the request layer shares: strings and
 * buffers, shell quoting, token display (one UTF-8 replacement rule:
 * ts_utf8_replace), the JSON conventions ("inf" for infinities, top-k rows),
 * number formats of the tables, and prompt handling (text or ids, checked
 * against the model once, with messages naming the field).
 */
#include "rq_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- strings ------------------------------------------------------------- */

char *rq_vstrdupf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *rq_strdupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = rq_vstrdupf(fmt, ap);
    va_end(ap);
    return s;
}

void rq_buf_put(rq_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void rq_buf_puts(rq_buf *b, const char *s)
{
    rq_buf_put(b, s, strlen(s));
}

void rq_buf_printf(rq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = rq_vstrdupf(fmt, ap);
    va_end(ap);
    if (!s) {
        b->oom = true;
        return;
    }
    rq_buf_puts(b, s);
    free(s);
}

void rq_buf_shell_quote(rq_buf *b, const char *s)
{
    bool plain = s[0] != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=:+@",
                       *p) != NULL;
    if (plain) {
        rq_buf_puts(b, s);
        return;
    }
    rq_buf_put(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            rq_buf_puts(b, "'\\''");
        else
            rq_buf_put(b, p, 1);
    }
    rq_buf_put(b, "'", 1);
}

/* ---- token display ---------------------------------------------------------- */

typedef struct outbuf {
    char *p;
    size_t n, cap; /* cap excludes the NUL */
    bool full;
} outbuf;

static void out_put(outbuf *o, const char *s, size_t len)
{
    if (o->full || o->n + len > o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
}

char *ts_token_printable(const char *bytes, size_t len, ts_token_style style, char *out,
                         size_t out_size)
{
    if (out_size == 0) return out;
    outbuf o = {out, 0, out_size - 1, false};
    bool quote = style == TS_TOKEN_QUOTE;
    if (quote) out_put(&o, "'", 1);
    const unsigned char *p = (const unsigned char *)bytes;
    size_t i = 0;
    char esc[8];
    while (i < len && !o.full) {
        unsigned char b = p[i];
        const char *rep = NULL;
        if (b == '\n')
            rep = quote ? "\\n" : "\xe2\x86\xb5"; /* ↵ */
        else if (b == '\t')
            rep = quote ? "\\t" : "\xe2\x86\x92"; /* → */
        else if (b == '\r')
            rep = "\\r";
        else if (b == ' ' && !quote)
            rep = "\xe2\x90\xa3"; /* ␣ */
        else if (b == '\\' && quote)
            rep = "\\\\";
        else if (b == '\'' && quote)
            rep = "\\'";
        if (rep) {
            out_put(&o, rep, strlen(rep));
            i++;
            continue;
        }
        size_t n = 0;
        int32_t cp = 0;
        ts_utf8_scan sc = ts_utf8_classify(p + i, len - i, &n, &cp);
        if (sc != TS_UTF8_COMPLETE || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            snprintf(esc, sizeof esc, "\\x%02x", b);
            out_put(&o, esc, 4);
            i++;
            continue;
        }
        out_put(&o, bytes + i, n);
        i += n;
    }
    if (quote && !o.full) out_put(&o, "'", 1);
    out[o.n] = '\0';
    return out;
}

char *rq_bytes_utf8(const char *s, size_t len)
{
    char *out = malloc(TS_UTF8_STREAM_OUT_MAX(len) + 1);
    if (!out) return NULL;
    size_t n = ts_utf8_replace(s, len, out);
    out[n] = '\0';
    return out;
}

char *rq_token_utf8(const ts_tokenizer *tok, int32_t id)
{
    size_t len = 0;
    const char *b = ts_tokenizer_token_bytes(tok, id, &len);
    if (!b) return rq_strdupf("<%d>", (int)id);
    return rq_bytes_utf8(b, len);
}

char *rq_ids_text(const ts_tokenizer *tok, const int32_t *ids, size_t n)
{
    rq_buf raw = {0};
    rq_buf_put(&raw, "", 0);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *b = ts_tokenizer_token_bytes(tok, ids[i], &len);
        if (b) rq_buf_put(&raw, b, len);
    }
    char *s = raw.oom ? NULL : rq_bytes_utf8(raw.p, raw.n);
    free(raw.p);
    return s;
}

const char *rq_token_display(const ts_tokenizer *tok, int32_t id, char *buf, size_t size)
{
    size_t len = 0;
    const char *b = ts_tokenizer_token_bytes(tok, id, &len);
    if (!b) {
        snprintf(buf, size, "<%d>", (int)id);
        return buf;
    }
    return ts_token_printable(b, len, TS_TOKEN_QUOTE, buf, size);
}

size_t rq_table_token_row(ts_doc_table *t, ts_style style, size_t rank, const ts_tokenizer *tok,
                          int32_t id)
{
    char buf[256];
    size_t row = ts_doc_table_row(t, style);
    ts_doc_table_set(t, row, 0, "%zu", rank);
    ts_doc_table_set(t, row, 1, "%s", rq_token_display(tok, id, buf, sizeof buf));
    return row;
}

/* ---- JSON -------------------------------------------------------------------- */

cJSON *rq_json_number(double v)
{
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "inf" : "-inf");
    if (isnan(v)) return cJSON_CreateNull();
    return cJSON_CreateNumber(v);
}

cJSON *rq_json_ids(const int32_t *ids, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

void rq_json_add_token(cJSON *o, const ts_tokenizer *tok, int32_t id)
{
    cJSON_AddNumberToObject(o, "id", id);
    char *s = rq_token_utf8(tok, id);
    cJSON_AddStringToObject(o, "token", s ? s : "");
    free(s);
}

cJSON *rq_json_topk(const ts_tokenizer *tok, const float *logits, const int32_t *top,
                    const double *prob, const double *prob_topk, size_t k)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t r = 0; arr && r < k; r++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", (double)(r + 1));
        rq_json_add_token(e, tok, top[r]);
        cJSON_AddNumberToObject(e, "logit", logits[top[r]]);
        cJSON_AddNumberToObject(e, "prob", prob[r]);
        cJSON_AddNumberToObject(e, "prob_topk", prob_topk[r]);
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

/* ---- number formats ---------------------------------------------------------- */

void rq_fmt_prob(char *buf, size_t size, double p)
{
    if (p == 0.0)
        snprintf(buf, size, "0");
    else if (p >= 5e-5)
        snprintf(buf, size, "%.4f", p);
    else
        snprintf(buf, size, "%.1e", p);
}

void rq_fmt_temp(char *buf, size_t size, double t)
{
    if (isinf(t))
        snprintf(buf, size, "inf");
    else
        snprintf(buf, size, "%g", t);
}

/* ---- prompts ------------------------------------------------------------------- */

ts_status rq_encode_prompt(const rq_run *run, const char *field, const char *prompt, size_t len,
                           int32_t **out, size_t *n, char *err, size_t err_size)
{
    *out = NULL;
    *n = 0;
    size_t n_ctx = (size_t)run->info->n_positions;
    if (len == 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: empty prompt (the model needs at least one token to condition on)",
                         field);
    size_t need = 0;
    ts_status st = ts_tokenizer_encode(run->tok, prompt, len, 0, NULL, 0, &need);
    if (st != TS_OK && st != TS_ERR_RANGE)
        return ts_errorf(err, err_size, st, "%s: cannot tokenize (%s)", field, ts_status_str(st));
    if (need > n_ctx && !run->long_prompts_ok)
        return ts_errorf(err, err_size, TS_ERR_RANGE,
                         "%s: the prompt is %zu tokens, longer than the model's context of %zu "
                         "tokens (n_positions)%s",
                         field, need, n_ctx,
                         ts_analysis_find_field(run->req->a, "context_shift")
                             ? "; context_shift keeps its last half"
                             : "");
    int32_t *ids = malloc((need ? need : 1) * sizeof *ids);
    if (!ids) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", field);
    st = ts_tokenizer_encode(run->tok, prompt, len, 0, ids, need, &need);
    if (st != TS_OK) {
        free(ids);
        return ts_errorf(err, err_size, st, "%s: cannot tokenize (%s)", field, ts_status_str(st));
    }
    *out = ids;
    *n = need;
    return TS_OK;
}

ts_status rq_prompt_ids(const rq_run *run, const rq_str *prompt, const rq_ids *ids, int32_t **out,
                        size_t *n, char *err, size_t err_size)
{
    bool prompt_given = prompt->s != NULL;
    *out = NULL;
    *n = 0;
    size_t V = (size_t)run->info->n_vocab, n_ctx = (size_t)run->info->n_positions;
    if (prompt_given && ids->n)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "ids: give either prompt or ids, not both");
    if (ids->n) {
        for (size_t i = 0; i < ids->n; i++)
            if ((size_t)ids->v[i] >= V)
                return ts_errorf(err, err_size, TS_ERR_INVALID,
                                 "ids: token id %d is outside the vocabulary [0, %zu)",
                                 (int)ids->v[i], V);
        if (ids->n > n_ctx && !run->long_prompts_ok)
            return ts_errorf(err, err_size, TS_ERR_RANGE,
                             "ids: %zu tokens, longer than the model's context of %zu tokens "
                             "(n_positions)",
                             ids->n, n_ctx);
        int32_t *c = malloc(ids->n * sizeof *c);
        if (!c) return ts_errorf(err, err_size, TS_ERR_NOMEM, "ids: out of memory");
        memcpy(c, ids->v, ids->n * sizeof *c);
        *out = c;
        *n = ids->n;
        return TS_OK;
    }
    if (prompt_given)
        return rq_encode_prompt(run, "prompt", prompt->s, prompt->n, out, n, err, err_size);
    return rq_encode_prompt(run, "prompt", RQ_DEFAULT_PROMPT, strlen(RQ_DEFAULT_PROMPT), out, n,
                            err, err_size);
}

ts_status rq_check_k(const rq_run *run, const char *field, int64_t k, char *err, size_t err_size)
{
    size_t V = (size_t)run->info->n_vocab;
    if (k < 1 || (uint64_t)k > V)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: %lld is outside [1, %zu] (the vocabulary size)", field, (long long)k,
                         V);
    return TS_OK;
}
