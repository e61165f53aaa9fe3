/*
 * report_html.c — the `demo --html` report: one self-contained HTML file
 * (inline CSS, no scripts, no external resources). Sections carry the exact
 * command that reproduces them; terminal text goes into <pre> blocks with the
 * same styles as on the terminal; tables become <table>; figures are embedded
 * as base64 data URIs (an SVG inlined as a data URI keeps its glyph ids
 * private, so several cairo SVGs cannot clash in one page).
 * The document is built in memory and written atomically.
 */
#include "walk.h"
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ts_report {
    ts_cli_buf doc; /* the HTML so far */
    bool in_pre;
    bool in_section;
    char *title;
};

static void put(ts_report *r, const char *s, size_t n) { ts_cli_buf_put(&r->doc, s, n); }

static void puts_(ts_report *r, const char *s) { put(r, s, strlen(s)); }

/* HTML-escape len bytes (already valid UTF-8 or not: invalid bytes pass through sanitised). */
static void put_escaped(ts_report *r, const char *s, size_t len)
{
    char *clean = walk_bytes_utf8(s, len);
    if (!clean) {
        r->doc.oom = true;
        return;
    }
    size_t start = 0, n = strlen(clean);
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (clean[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        default: break;
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

static void put_esc_str(ts_report *r, const char *s) { put_escaped(r, s, strlen(s)); }

static void close_pre(ts_report *r)
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
    "overflow-x:auto;white-space:pre-wrap}"
    "p.cmd code::before{content:'$ ';color:#8fbc8f}"
    "pre{background:#f6f8fa;padding:.8em;border-radius:6px;overflow-x:auto;"
    "white-space:pre-wrap;word-break:break-word}"
    "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
    "caption{font-weight:bold;text-align:left;padding:.3em 0}"
    "th,td{border:1px solid #d0d7de;padding:.25em .7em}"
    "th{background:#eef2f6}td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}"
    "td.e,th.e{background:#fff4cc;font-weight:bold}tr.b td{font-weight:bold}"
    "tr.a td{background:#fff4cc;font-weight:bold}tr.d td{color:#777}"
    "figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}"
    "figcaption{color:#555;font-size:14px}"
    ".s1{font-weight:bold}.s2{color:#888}.s3{font-weight:bold;text-decoration:underline}"
    ".s4{color:#b8860b;font-weight:bold}.s5{color:#c0392b}"
    ".r0{color:#2e8b57}.r1{color:#008b8b}.r2{color:#b8860b}.r3{color:#8b008b}"
    ".r4{color:#1f5fbf}.r5{color:#c0392b}"
    "footer{margin-top:3em;color:#777;font-size:13px}";

ts_report *ts_report_new(const char *title)
{
    ts_report *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->title = strdup(title ? title : "tempscale report");
    puts_(r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    put_esc_str(r, r->title ? r->title : "");
    puts_(r, "</title>\n<style>");
    puts_(r, CSS);
    puts_(r, "</style>\n</head>\n<body>\n<h1>");
    put_esc_str(r, r->title ? r->title : "");
    puts_(r, "</h1>\n");
    return r;
}

void ts_report_free(ts_report *r)
{
    if (!r) return;
    free(r->doc.p);
    free(r->title);
    free(r);
}

void ts_report_section(ts_report *r, const char *title, const char *command)
{
    close_pre(r);
    if (r->in_section) puts_(r, "</section>\n");
    puts_(r, "<section>\n<h2>");
    put_esc_str(r, title);
    puts_(r, "</h2>\n");
    if (command) {
        puts_(r, "<p class=\"cmd\"><code>");
        put_esc_str(r, command);
        puts_(r, "</code></p>\n");
    }
    r->in_section = true;
}

void ts_report_paragraph(ts_report *r, const char *text)
{
    close_pre(r);
    puts_(r, "<p>");
    /* Blank-line separated paragraphs; single newlines become <br>. */
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

void ts_report_text(ts_report *r, walk_style style, const char *s, size_t len)
{
    if (len == 0) return;
    if (!r->in_pre) {
        puts_(r, "<pre>");
        r->in_pre = true;
    }
    char cls[8] = "";
    if (style >= WALK_RANK0)
        snprintf(cls, sizeof cls, "r%d", ((int)style - WALK_RANK0) % 6);
    else if (style != WALK_PLAIN)
        snprintf(cls, sizeof cls, "s%d", (int)style);
    if (cls[0]) {
        puts_(r, "<span class=\"");
        puts_(r, cls);
        puts_(r, "\">");
    }
    put_escaped(r, s, len);
    if (cls[0]) puts_(r, "</span>");
}

void ts_report_table(ts_report *r, const walk_table *t)
{
    close_pre(r);
    puts_(r, "<table>\n");
    if (walk_table_get_title(t)) {
        puts_(r, "<caption>");
        put_esc_str(r, walk_table_get_title(t));
        puts_(r, "</caption>\n");
    }
    size_t nc = walk_table_n_cols(t);
    puts_(r, "<thead><tr>");
    for (size_t c = 0; c < nc; c++) {
        bool right = walk_table_is_right(t, c), emph = walk_table_is_emph_col(t, c);
        puts_(r, right && emph ? "<th class=\"r e\">" : right ? "<th class=\"r\">"
                                                     : emph ? "<th class=\"e\">" : "<th>");
        put_esc_str(r, walk_table_header(t, c));
        puts_(r, "</th>");
    }
    puts_(r, "</tr></thead>\n<tbody>\n");
    for (size_t row = 0; row < walk_table_n_rows(t); row++) {
        walk_style st = walk_table_row_style(t, row);
        puts_(r, st == WALK_BOLD ? "<tr class=\"b\">" : st == WALK_ACCENT ? "<tr class=\"a\">"
                                                      : st == WALK_DIM    ? "<tr class=\"d\">"
                                                                          : "<tr>");
        for (size_t c = 0; c < nc; c++) {
            bool right = walk_table_is_right(t, c), emph = walk_table_is_emph_col(t, c);
            puts_(r, right && emph ? "<td class=\"r e\">" : right ? "<td class=\"r\">"
                                                         : emph ? "<td class=\"e\">" : "<td>");
            put_esc_str(r, walk_table_cell(t, row, c));
            puts_(r, "</td>");
        }
        puts_(r, "</tr>\n");
    }
    puts_(r, "</tbody>\n</table>\n");
}

static void put_base64(ts_report *r, const unsigned char *d, size_t n)
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

ts_status ts_report_figure(ts_report *r, const char *path, const char *caption, char *err,
                           size_t err_size)
{
    const char *dot = strrchr(path, '.');
    const char *mime = NULL;
    if (dot && strcasecmp(dot, ".svg") == 0) mime = "image/svg+xml";
    if (dot && strcasecmp(dot, ".png") == 0) mime = "image/png";
    if (!mime)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: only .svg and .png figures can be embedded", path);
    char *data = NULL;
    size_t len = 0;
    ts_status st = ts_read_file(path, &data, &len, err, err_size);
    if (st != TS_OK) return st;
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
    return TS_OK;
}

ts_status ts_report_write(ts_report *r, const char *path, char *err, size_t err_size)
{
    close_pre(r);
    if (r->in_section) puts_(r, "</section>\n");
    r->in_section = false;
    puts_(r, "<footer>Written by tempscale " TS_VERSION
             ". Every section's command reproduces it byte for byte with the same seed.</footer>\n"
             "</body>\n</html>\n");
    if (r->doc.oom)
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory building the report",
                         path);
    FILE *f = NULL;
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    ts_status st = ts_atomic_open(path, &f, tmp, tmp_size, err, err_size);
    if (st != TS_OK) {
        free(tmp);
        return st;
    }
    if (fwrite(r->doc.p, 1, r->doc.n, f) != r->doc.n) {
        ts_atomic_abort(f, tmp);
        free(tmp);
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: write failed", path);
    }
    st = ts_atomic_commit(f, tmp, path, err, err_size);
    free(tmp);
    return st;
}
