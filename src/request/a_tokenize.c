/*
 * a_tokenize.c — the `tokenize` analysis: text (any bytes) to GPT-2 token ids
 * and pieces, with the decode round trip checked. Needs only the tokenizer.
 */
#include "rq_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct req_tokenize {
    rq_str text;
    bool special;
} req_tokenize;

static const rq_field fields[] = {
    {.info = {.name = "text",
              .type = TS_FIELD_STRING,
              .metavar = "TEXT",
              .help = "the text (any bytes; the CLI also takes it as arguments, --file or stdin)",
              .flags = TS_FIELD_INPUT},
     .off = offsetof(req_tokenize, text)},
    {.info = {.name = "special",
              .type = TS_FIELD_BOOL,
              .help = "treat the literal <|endoftext|> as the special token (default: plain text)"},
     .off = offsetof(req_tokenize, special)},
};

typedef struct res_tokenize {
    int32_t *ids;
    size_t n;
    size_t n_bytes;
    size_t vocab_size;
} res_tokenize;

static void free_result(void *p)
{
    res_tokenize *t = p;
    free(t->ids);
    free(t);
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_tokenize *q = RQ_REQ(run->req, req_tokenize);
    if (!q->text.s)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "text: missing (the text to tokenize)");
    res_tokenize *t = calloc(1, sizeof *t);
    if (!t) return ts_errorf(err, err_size, TS_ERR_NOMEM, "tokenize: out of memory");
    unsigned flags = q->special ? TS_ENCODE_ALLOW_SPECIAL : 0;
    size_t n = 0;
    ts_status st = ts_tokenizer_encode(run->tok, q->text.s, q->text.n, flags, NULL, 0, &n);
    if (st == TS_OK || st == TS_ERR_RANGE) {
        t->ids = malloc((n ? n : 1) * sizeof *t->ids);
        st = t->ids ? ts_tokenizer_encode(run->tok, q->text.s, q->text.n, flags, t->ids, n, &n)
                    : TS_ERR_NOMEM;
    }
    if (st != TS_OK) {
        free_result(t);
        return ts_errorf(err, err_size, st, "text: cannot tokenize (%s)", ts_status_str(st));
    }
    t->n = n;
    t->n_bytes = q->text.n;
    t->vocab_size = ts_tokenizer_vocab_size(run->tok);
    /* Round trip: the concatenated token bytes must be the input (byte-level BPE). */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = 0;
        ts_tokenizer_token_bytes(run->tok, t->ids[i], &l);
        total += l;
    }
    char *back = malloc(total + 1);
    size_t bl = 0;
    bool same = back && ts_tokenizer_decode(run->tok, t->ids, n, back, total, &bl) == TS_OK &&
                bl == q->text.n && memcmp(back, q->text.s, bl) == 0;
    free(back);
    if (!same) {
        free_result(t);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "text: decode(encode(text)) differs from the input (a tokenizer bug)");
    }
    *out = t;
    return TS_OK;
}

/* A JSON string literal of len bytes of valid UTF-8 (NUL escaped as \u0000). */
static cJSON *json_string_bytes(const char *s, size_t n)
{
    rq_buf b = {0};
    rq_buf_put(&b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            rq_buf_put(&b, esc, 2);
        } else if (c == '\n') {
            rq_buf_puts(&b, "\\n");
        } else if (c == '\t') {
            rq_buf_puts(&b, "\\t");
        } else if (c == '\r') {
            rq_buf_puts(&b, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            rq_buf_put(&b, esc, 6);
        } else {
            rq_buf_put(&b, s + i, 1);
        }
    }
    rq_buf_put(&b, "\"", 1);
    cJSON *raw = b.oom ? NULL : cJSON_CreateRaw(b.p);
    free(b.p);
    return raw;
}

static cJSON *json(const ts_result *res)
{
    const res_tokenize *t = res->data;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *jids = cJSON_AddArrayToObject(o, "ids"), *jtok = cJSON_AddArrayToObject(o, "tokens");
    bool ok = jids && jtok;
    char piece[TS_UTF8_STREAM_OUT_MAX(1024)];
    for (size_t i = 0; ok && i < t->n; i++) {
        size_t len = 0;
        const char *bytes = ts_tokenizer_token_bytes(res->tok, t->ids[i], &len);
        if (len > 1024) len = 1024; /* GPT-2's longest token is 128 bytes */
        size_t w = ts_utf8_replace(bytes, len, piece);
        cJSON *s = json_string_bytes(piece, w), *num = cJSON_CreateNumber(t->ids[i]);
        ok = s && num;
        if (s) cJSON_AddItemToArray(jtok, s);
        if (num) cJSON_AddItemToArray(jids, num);
    }
    if (ok) ok = cJSON_AddNumberToObject(o, "vocab_size", (double)t->vocab_size) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_tokenize *t = res->data;
    rq_buf b = {0};
    rq_buf_puts(&b, "Input IDs: [");
    for (size_t i = 0; i < t->n; i++)
        rq_buf_printf(&b, "%s%d", i ? ", " : "", (int)t->ids[i]);
    rq_buf_printf(&b, "]\nVocabulary size: %zu\nTokens: %zu for %zu bytes\n\n", t->vocab_size, t->n,
                  t->n_bytes);
    if (b.oom) {
        ts_doc_add_table(d, NULL);
        free(b.p);
        return;
    }
    ts_doc_text(d, TS_STYLE_PLAIN, b.p, b.n);
    free(b.p);
    if (t->n) {
        static const char *const headers[] = {"#", "id", "piece", "bytes"};
        ts_doc_table *tab = ts_doc_table_new(4, headers);
        if (tab) {
            ts_doc_table_right(tab, 0);
            ts_doc_table_right(tab, 1);
            ts_doc_table_right(tab, 3);
            ts_doc_table_emphasise_col(tab, 2);
        }
        char piece[1024];
        for (size_t i = 0; tab && i < t->n; i++) {
            size_t tl = 0;
            const char *tb = ts_tokenizer_token_bytes(res->tok, t->ids[i], &tl);
            size_t r = ts_doc_table_row(tab, TS_STYLE_PLAIN);
            ts_doc_table_set(tab, r, 0, "%zu", i);
            ts_doc_table_set(tab, r, 1, "%d", (int)t->ids[i]);
            ts_doc_table_set(tab, r, 2, "%s",
                             ts_token_printable(tb, tl, TS_TOKEN_VISIBLE, piece, sizeof piece));
            ts_doc_table_set(tab, r, 3, "%zu", tl);
        }
        ts_doc_add_table(d, tab);
    }
    ts_doc_printf(d, TS_STYLE_PLAIN, "%sRound trip: decode(ids) == the input (%zu bytes)\n",
                  t->n ? "\n" : "", t->n_bytes);
}

const ts_analysis rq_tokenize = {
    .name = "tokenize",
    .route = "/api/tokenize",
    .summary = "GPT-2 byte-level BPE: text to token ids and pieces",
    .needs = TS_NEEDS_TOKENIZER,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_tokenize),
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
};
