/*
 * doc.c — the document model analyses render into (tempscale_request.h):
 * an append-only list of blocks (sections, notes, styled text runs, tables,
 * figures) that the CLI prints as they arrive and the HTML report renders as
 * a whole. Pure data: nothing here prints.
 *
 * Invariant: out of memory is sticky (d->oom); appends after it do nothing,
 * so renderers need no error path per call and report once via ts_doc_ok().
 */
#include "rq_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables -------------------------------------------------------------- */

struct ts_doc_table {
    size_t n_cols, n_rows, cap_rows;
    char **headers;   /* [n_cols] */
    char **cells;     /* [cap_rows * n_cols], NULL = empty */
    ts_style *styles; /* [cap_rows] */
    bool *rule;       /* [cap_rows]: a rule above this row */
    bool *right;      /* [n_cols] */
    bool *emph;       /* [n_cols] */
    char *title;
    bool pending_rule;
    bool oom;
};

ts_doc_table *ts_doc_table_new(size_t n_cols, const char *const *headers)
{
    ts_doc_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_cols = n_cols;
    t->headers = calloc(n_cols ? n_cols : 1, sizeof *t->headers);
    t->right = calloc(n_cols ? n_cols : 1, sizeof *t->right);
    t->emph = calloc(n_cols ? n_cols : 1, sizeof *t->emph);
    if (!t->headers || !t->right || !t->emph) {
        ts_doc_table_free(t);
        return NULL;
    }
    for (size_t c = 0; c < n_cols; c++) {
        t->headers[c] = strdup(headers && headers[c] ? headers[c] : "");
        if (!t->headers[c]) {
            ts_doc_table_free(t);
            return NULL;
        }
    }
    return t;
}

void ts_doc_table_free(ts_doc_table *t)
{
    if (!t) return;
    for (size_t c = 0; c < t->n_cols && t->headers; c++)
        free(t->headers[c]);
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->headers);
    free(t->cells);
    free(t->styles);
    free(t->rule);
    free(t->right);
    free(t->emph);
    free(t->title);
    free(t);
}

void ts_doc_table_title(ts_doc_table *t, const char *title)
{
    if (!t) return;
    free(t->title);
    t->title = title ? strdup(title) : NULL;
    if (title && !t->title) t->oom = true;
}

void ts_doc_table_right(ts_doc_table *t, size_t col)
{
    if (t && col < t->n_cols) t->right[col] = true;
}

void ts_doc_table_emphasise_col(ts_doc_table *t, size_t col)
{
    if (t && col < t->n_cols) t->emph[col] = true;
}

size_t ts_doc_table_row(ts_doc_table *t, ts_style style)
{
    if (!t || t->oom) return SIZE_MAX;
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 16, cells;
        if (ts_mul_overflows(cap, t->n_cols ? t->n_cols : 1, &cells)) {
            t->oom = true;
            return SIZE_MAX;
        }
        char **c = realloc(t->cells, cells * sizeof *c);
        if (c) t->cells = c;
        ts_style *s = c ? realloc(t->styles, cap * sizeof *s) : NULL;
        if (s) t->styles = s;
        bool *r = s ? realloc(t->rule, cap * sizeof *r) : NULL;
        if (r) t->rule = r;
        if (!c || !s || !r) {
            t->oom = true;
            return SIZE_MAX;
        }
        t->cap_rows = cap;
    }
    for (size_t c = 0; c < t->n_cols; c++)
        t->cells[t->n_rows * t->n_cols + c] = NULL;
    t->styles[t->n_rows] = style;
    t->rule[t->n_rows] = t->pending_rule;
    t->pending_rule = false;
    return t->n_rows++;
}

void ts_doc_table_rule(ts_doc_table *t)
{
    if (t) t->pending_rule = true;
}

void ts_doc_table_set(ts_doc_table *t, size_t row, size_t col, const char *fmt, ...)
{
    if (!t || t->oom || row >= t->n_rows || col >= t->n_cols) return;
    va_list ap;
    va_start(ap, fmt);
    char *s = rq_vstrdupf(fmt, ap);
    va_end(ap);
    if (!s) {
        t->oom = true;
        return;
    }
    char **cell = &t->cells[row * t->n_cols + col];
    free(*cell);
    *cell = s;
}

size_t ts_doc_table_n_rows(const ts_doc_table *t)
{
    return t->n_rows;
}
size_t ts_doc_table_n_cols(const ts_doc_table *t)
{
    return t->n_cols;
}
const char *ts_doc_table_get_title(const ts_doc_table *t)
{
    return t->title;
}
const char *ts_doc_table_header(const ts_doc_table *t, size_t col)
{
    return t->headers[col];
}
bool ts_doc_table_is_right(const ts_doc_table *t, size_t col)
{
    return t->right[col];
}
bool ts_doc_table_is_emph_col(const ts_doc_table *t, size_t col)
{
    return t->emph[col];
}
ts_style ts_doc_table_row_style(const ts_doc_table *t, size_t row)
{
    return t->styles[row];
}
bool ts_doc_table_rule_before(const ts_doc_table *t, size_t row)
{
    return t->rule[row];
}

const char *ts_doc_table_cell(const ts_doc_table *t, size_t row, size_t col)
{
    const char *s = row < t->n_rows && col < t->n_cols ? t->cells[row * t->n_cols + col] : NULL;
    return s ? s : "";
}

/* ---- documents ----------------------------------------------------------- */

typedef struct doc_item {
    ts_doc_block b; /* text / extra / table owned by the document */
} doc_item;

struct ts_doc {
    doc_item *items;
    size_t n, cap;
    bool keep;
    bool oom;
    ts_doc_listener listener;
    void *user;
};

ts_doc *ts_doc_new(void)
{
    ts_doc *d = calloc(1, sizeof *d);
    if (d) d->keep = true;
    return d;
}

static void item_free(doc_item *it)
{
    free((char *)it->b.text);
    free((char *)it->b.extra);
    ts_doc_table_free((ts_doc_table *)it->b.table);
}

void ts_doc_free(ts_doc *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++)
        item_free(&d->items[i]);
    free(d->items);
    free(d);
}

void ts_doc_set_listener(ts_doc *d, ts_doc_listener fn, void *user)
{
    d->listener = fn;
    d->user = user;
}

void ts_doc_set_keep(ts_doc *d, bool keep)
{
    d->keep = keep;
}
size_t ts_doc_count(const ts_doc *d)
{
    return d->n;
}
const ts_doc_block *ts_doc_get(const ts_doc *d, size_t i)
{
    return i < d->n ? &d->items[i].b : NULL;
}
bool ts_doc_ok(const ts_doc *d)
{
    return !d->oom;
}

/* Hand the block to the listener, then keep it (taking ownership) or free it. */
static void doc_push(ts_doc *d, doc_item *it)
{
    if (d->oom) {
        item_free(it);
        return;
    }
    if (d->listener) d->listener(&it->b, d->user);
    if (!d->keep) {
        item_free(it);
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 32;
        doc_item *p = realloc(d->items, cap * sizeof *p);
        if (!p) {
            d->oom = true;
            item_free(it);
            return;
        }
        d->items = p;
        d->cap = cap;
    }
    d->items[d->n++] = *it;
}

/* A block with copies of text[0..len) and extra; sets oom when a copy fails. */
static void doc_add(ts_doc *d, ts_doc_kind kind, ts_style style, const char *text, size_t len,
                    const char *extra)
{
    if (!d || d->oom) return;
    if (!d->keep) {
        /* Streaming only: the listener borrows the caller's text, nothing is allocated. */
        ts_doc_block b = {kind, style, text, len, extra, NULL};
        if (d->listener) d->listener(&b, d->user);
        return;
    }
    doc_item it;
    memset(&it, 0, sizeof it);
    it.b.kind = kind;
    it.b.style = style;
    char *t = malloc(len + 1);
    char *e = extra ? strdup(extra) : NULL;
    if (!t || (extra && !e)) {
        free(t);
        free(e);
        d->oom = true;
        return;
    }
    if (len) memcpy(t, text, len);
    t[len] = '\0';
    it.b.text = t;
    it.b.len = len;
    it.b.extra = e;
    doc_push(d, &it);
}

void ts_doc_section(ts_doc *d, const char *title)
{
    doc_add(d, TS_DOC_SECTION, TS_STYLE_BOLD, title, strlen(title), NULL);
}

void ts_doc_note(ts_doc *d, const char *text)
{
    doc_add(d, TS_DOC_NOTE, TS_STYLE_DIM, text, strlen(text), NULL);
}

void ts_doc_text(ts_doc *d, ts_style style, const char *s, size_t len)
{
    if (len) doc_add(d, TS_DOC_TEXT, style, s, len, NULL);
}

void ts_doc_printf(ts_doc *d, ts_style style, const char *fmt, ...)
{
    if (!d || d->oom) return;
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        ts_doc_text(d, style, small, (size_t)n);
        return;
    }
    va_start(ap, fmt);
    char *s = rq_vstrdupf(fmt, ap);
    va_end(ap);
    if (!s) {
        d->oom = true;
        return;
    }
    ts_doc_text(d, style, s, strlen(s));
    free(s);
}

void ts_doc_figure(ts_doc *d, const char *path, const char *caption)
{
    doc_add(d, TS_DOC_FIGURE, TS_STYLE_PLAIN, path, strlen(path), caption);
}

void ts_doc_command(ts_doc *d, const char *command)
{
    doc_add(d, TS_DOC_COMMAND, TS_STYLE_DIM, command, strlen(command), NULL);
}

void ts_doc_add_table(ts_doc *d, ts_doc_table *t)
{
    if (!d || d->oom || !t || t->oom) {
        ts_doc_table_free(t);
        if (d) d->oom = true;
        return;
    }
    doc_item it;
    memset(&it, 0, sizeof it);
    it.b.kind = TS_DOC_TABLE;
    it.b.table = t;
    doc_push(d, &it);
}
