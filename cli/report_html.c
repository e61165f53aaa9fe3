/*
 * report_html.c — a document (tempscale_request.h) as one self-contained
 * HTML page: the `demo --html` report. Inline CSS, no scripts, no external
 * resources; sections carry the command that reproduces them; text runs go
 * into <pre> blocks with the terminal's styles; tables become <table>;
 * figures are embedded as base64 data URIs (an SVG inlined as a data URI
 * keeps its glyph ids private, so several cairo SVGs cannot clash). The page
 * is built in memory and written atomically.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct report {
    ts_cli_buf doc; /* the HTML so far */
    bool in_pre;
    bool in_section;
    char err[TS_ERR_SIZE];
    ts_status st;
} report;

static void put(report *r, const char *s, size_t n)
{
    ts_cli_buf_put(&r->doc, s, n);
}
static void puts_(report *r, const char *s)
{
    put(r, s, strlen(s));
}

/* HTML-escape len bytes (invalid UTF-8 becomes U+FFFD first). */
static void put_escaped(report *r, const char *s, size_t len)
{
    char *clean = malloc(TS_UTF8_STREAM_OUT_MAX(len) + 1);
    if (!clean) {
        r->doc.oom = true;
        return;
    }
    size_t n = ts_utf8_replace(s, len, clean), start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (clean[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        default:
            break;
        }
        if (rep) {
            put(r, clean + start, i - start);
            puts_(r, rep);
            start = i + 1;
        }
    }
    put(r, clean + start, n - start);
    free(clean);
}

static void put_esc_str(report *r, const char *s)
{
    put_escaped(r, s, strlen(s));
}

static void close_pre(report *r)
{
    if (r->in_pre) puts_(r, "</pre>\n");
    r->in_pre = false;
}

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;max-width:1040px;"
    "margin:2em auto;padding:0 1em;color:#1d1d1f;line-height:1.5}"
    "h1{border-bottom:3px solid #4e79a7;padding-bottom:.3em}"
    "h2{margin-top:2.2em;color:#2b4a6f;border-bottom:1px solid #ddd}"
    "code,pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:13px}"
    "p.cmd{background:#1e1e1e;color:#e8e8e8;padding:.5em .8em;border-radius:6px;"
    "overflow-x:auto;white-space:pre-wrap;word-break:break-all}"
    "p.cmd code::before{content:'$ ';color:#8fbc8f}"
    "pre{background:#f6f8fa;padding:.8em;border-radius:6px;overflow-x:auto;"
    "white-space:pre-wrap;word-break:break-word}"
    ".tw{overflow-x:auto;max-width:100%}"
    "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
    "caption{font-weight:bold;text-align:left;padding:.3em 0}"
    "th,td{border:1px solid #d0d7de;padding:.25em .7em}"
    "th{background:#eef2f6}td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}"
    "td.e,th.e{background:#fff4cc;font-weight:bold}tr.b td{font-weight:bold}"
    "tr.a td{background:#fff4cc;font-weight:bold}tr.d td{color:#777}"
    "tr.rule td{border-top:2px solid #888}"
    "figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}"
    "figcaption{color:#555;font-size:14px}"
    ".s1{font-weight:bold}.s2{color:#888}.s3{font-weight:bold;text-decoration:underline}"
    ".s4{color:#b8860b;font-weight:bold}.s5{color:#c0392b}"
    ".r0{color:#2e8b57}.r1{color:#008b8b}.r2{color:#b8860b}.r3{color:#8b008b}"
    ".r4{color:#1f5fbf}.r5{color:#c0392b}"
    "ol.refs li{margin:.3em 0}"
    "@media (max-width:760px){body{margin:1em auto;padding:0 .6em}table{font-size:12px}"
    "th,td{padding:.2em .4em}h1{font-size:1.5em}}"
    "footer{margin-top:3em;color:#777;font-size:13px}";

static void section(report *r, const char *title)
{
    close_pre(r);
    if (r->in_section) puts_(r, "</section>\n");
    puts_(r, "<section>\n<h2>");
    put_esc_str(r, title);
    puts_(r, "</h2>\n");
    r->in_section = true;
}

static void command(report *r, const char *cmd)
{
    close_pre(r);
    puts_(r, "<p class=\"cmd\"><code>");
    put_esc_str(r, cmd);
    puts_(r, "</code></p>\n");
}

/* Blank-line separated paragraphs; single newlines become <br>. */
static void paragraph(report *r, const char *text)
{
    close_pre(r);
    puts_(r, "<p>");
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        put_escaped(r, p, n);
        if (!nl) break;
        puts_(r, nl[1] == '\n' ? "</p>\n<p>" : "<br>\n");
        p = nl + (nl[1] == '\n' ? 2 : 1);
    }
    puts_(r, "</p>\n");
}

static void text(report *r, ts_style style, const char *s, size_t len)
{
    if (len == 0) return;
    if (!r->in_pre) {
        puts_(r, "<pre>");
        r->in_pre = true;
    }
    char cls[8] = "";
    if (style >= TS_STYLE_RANK0)
        snprintf(cls, sizeof cls, "r%d", ((int)style - TS_STYLE_RANK0) % 6);
    else if (style != TS_STYLE_PLAIN)
        snprintf(cls, sizeof cls, "s%d", (int)style);
    if (cls[0]) {
        puts_(r, "<span class=\"");
        puts_(r, cls);
        puts_(r, "\">");
    }
    put_escaped(r, s, len);
    if (cls[0]) puts_(r, "</span>");
}

static void cell_open(report *r, const char *tag, bool right, bool emph)
{
    put(r, "<", 1);
    puts_(r, tag);
    puts_(r, right && emph ? " class=\"r e\">"
             : right       ? " class=\"r\">"
             : emph        ? " class=\"e\">"
                           : ">");
}

static void table(report *r, const ts_doc_table *t)
{
    close_pre(r);
    puts_(r, "<div class=\"tw\"><table>\n");
    if (ts_doc_table_get_title(t)) {
        puts_(r, "<caption>");
        put_esc_str(r, ts_doc_table_get_title(t));
        puts_(r, "</caption>\n");
    }
    size_t nc = ts_doc_table_n_cols(t);
    puts_(r, "<thead><tr>");
    for (size_t c = 0; c < nc; c++) {
        cell_open(r, "th", ts_doc_table_is_right(t, c), ts_doc_table_is_emph_col(t, c));
        put_esc_str(r, ts_doc_table_header(t, c));
        puts_(r, "</th>");
    }
    puts_(r, "</tr></thead>\n<tbody>\n");
    for (size_t row = 0; row < ts_doc_table_n_rows(t); row++) {
        ts_style st = ts_doc_table_row_style(t, row);
        const char *cls = st == TS_STYLE_BOLD     ? "b"
                          : st == TS_STYLE_ACCENT ? "a"
                          : st == TS_STYLE_DIM    ? "d"
                                                  : NULL;
        bool rule = ts_doc_table_rule_before(t, row);
        puts_(r, "<tr");
        if (cls || rule) {
            puts_(r, " class=\"");
            if (cls) puts_(r, cls);
            if (rule) puts_(r, cls ? " rule" : "rule");
            puts_(r, "\"");
        }
        puts_(r, ">");
        for (size_t c = 0; c < nc; c++) {
            cell_open(r, "td", ts_doc_table_is_right(t, c), ts_doc_table_is_emph_col(t, c));
            put_esc_str(r, ts_doc_table_cell(t, row, c));
            puts_(r, "</td>");
        }
        puts_(r, "</tr>\n");
    }
    puts_(r, "</tbody>\n</table></div>\n");
}

static void put_base64(report *r, const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        out[0] = tab[(v >> 18) & 63];
        out[1] = tab[(v >> 12) & 63];
        out[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[3] = i + 2 < n ? tab[v & 63] : '=';
        put(r, out, 4);
    }
}

static void figure(report *r, const char *path, const char *caption)
{
    if (r->st != TS_OK) return;
    const char *dot = strrchr(path, '.');
    const char *mime = NULL;
    if (dot && strcasecmp(dot, ".svg") == 0) mime = "image/svg+xml";
    if (dot && strcasecmp(dot, ".png") == 0) mime = "image/png";
    if (!mime) {
        r->st = TS_ERR_INVALID;
        snprintf(r->err, sizeof r->err, "%s: only .svg and .png figures can be embedded", path);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    r->st = ts_read_file(path, &data, &len, r->err, sizeof r->err);
    if (r->st != TS_OK) return;
    close_pre(r);
    puts_(r, "<figure><img alt=\"");
    put_esc_str(r, caption ? caption : "figure");
    puts_(r, "\" src=\"data:");
    puts_(r, mime);
    puts_(r, ";base64,");
    put_base64(r, (const unsigned char *)data, len);
    puts_(r, "\">");
    if (caption) {
        puts_(r, "<figcaption>");
        put_esc_str(r, caption);
        puts_(r, "</figcaption>");
    }
    puts_(r, "</figure>\n");
    free(data);
}

ts_status ts_report_write_doc(const ts_doc *doc, const char *title, const char *intro,
                              const char *path, char *err, size_t err_size)
{
    report r;
    memset(&r, 0, sizeof r);
    puts_(&r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    put_esc_str(&r, title);
    puts_(&r, "</title>\n<style>");
    puts_(&r, CSS);
    puts_(&r, "</style>\n</head>\n<body>\n<h1>");
    put_esc_str(&r, title);
    puts_(&r, "</h1>\n");
    if (intro) paragraph(&r, intro);
    for (size_t i = 0; i < ts_doc_count(doc) && r.st == TS_OK; i++) {
        const ts_doc_block *b = ts_doc_get(doc, i);
        switch (b->kind) {
        case TS_DOC_SECTION:
            section(&r, b->text);
            break;
        case TS_DOC_NOTE:
            paragraph(&r, b->text);
            break;
        case TS_DOC_COMMAND:
            command(&r, b->text);
            break;
        case TS_DOC_TEXT:
            text(&r, b->style, b->text, b->len);
            break;
        case TS_DOC_TABLE:
            table(&r, b->table);
            break;
        case TS_DOC_FIGURE:
            figure(&r, b->text, b->extra);
            break;
        }
    }
    if (r.st != TS_OK) {
        free(r.doc.p);
        snprintf(err, err_size, "%s", r.err);
        return r.st;
    }
    close_pre(&r);
    if (r.in_section) puts_(&r, "</section>\n");
    puts_(&r, "<footer>Written by tempscale " TS_VERSION
              ". Every section's command reproduces it byte for byte with the same seed.</footer>\n"
              "</body>\n</html>\n");
    ts_status st;
    if (r.doc.oom) {
        snprintf(err, err_size, "%s: out of memory building the report", path);
        st = TS_ERR_NOMEM;
    } else {
        st = ts_write_file_atomic(path, r.doc.p, r.doc.n, err, err_size);
    }
    free(r.doc.p);
    return st;
}
