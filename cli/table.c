/*
 * table.c — terminal tables for the CLI.
 *
 * A table is built cell by cell (copies of printf-formatted strings) and
 * printed in one go, because column widths depend on every cell. Two
 * renderings: Unicode box drawing with ANSI bold / colour on a terminal, and
 * plain space-aligned text for pipes and NO_COLOR (easy to grep and diff).
 * Widths are display columns (utf8proc_charwidth), so "␣the" and "日本" line
 * up. The contract is in cli/cli.h.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define ANSI_BOLD  "\x1b[1m"
#define ANSI_EMPH  "\x1b[1;33m"
#define ANSI_DIM   "\x1b[2m"
#define ANSI_RESET "\x1b[0m"

typedef struct table_row {
    char **cells; /* [n_cols], NULL = empty */
    int n_cells;  /* appended so far */
    bool emph;
    bool rule_before;
} table_row;

typedef struct table_col {
    char *header;
    ts_align align;
} table_col;

struct ts_table {
    char *title;
    table_col *cols;
    int n_cols, cap_cols;
    table_row *rows;
    size_t n_rows, cap_rows;
    int emph_col; /* -1 = none */
    bool pending_rule;
    bool oom;
};

ts_table *ts_table_new(const char *title)
{
    ts_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->emph_col = -1;
    if (title && !(t->title = strdup(title))) {
        free(t);
        return NULL;
    }
    return t;
}

void ts_table_free(ts_table *t)
{
    if (!t) return;
    for (size_t r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++)
            free(t->rows[r].cells[c]);
        free(t->rows[r].cells);
    }
    for (int c = 0; c < t->n_cols; c++)
        free(t->cols[c].header);
    free(t->rows);
    free(t->cols);
    free(t->title);
    free(t);
}

int ts_table_column(ts_table *t, const char *header, ts_align align)
{
    if (t->n_rows > 0) { /* programmer error: columns come first */
        t->oom = true;
        return -1;
    }
    if (t->n_cols == t->cap_cols) {
        int cap = t->cap_cols ? t->cap_cols * 2 : 8;
        table_col *nc = realloc(t->cols, (size_t)cap * sizeof *nc);
        if (!nc) {
            t->oom = true;
            return -1;
        }
        t->cols = nc;
        t->cap_cols = cap;
    }
    char *h = strdup(header ? header : "");
    if (!h) {
        t->oom = true;
        return -1;
    }
    t->cols[t->n_cols] = (table_col){h, align};
    return t->n_cols++;
}

void ts_table_emphasize_column(ts_table *t, int col)
{
    t->emph_col = col;
}

void ts_table_row(ts_table *t)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        table_row *nr = realloc(t->rows, cap * sizeof *nr);
        if (!nr) {
            t->oom = true;
            return;
        }
        t->rows = nr;
        t->cap_rows = cap;
    }
    char **cells = calloc(t->n_cols > 0 ? (size_t)t->n_cols : 1, sizeof *cells);
    if (!cells) {
        t->oom = true;
        return;
    }
    t->rows[t->n_rows++] = (table_row){cells, 0, false, t->pending_rule};
    t->pending_rule = false;
}

void ts_table_emphasize_row(ts_table *t)
{
    if (t->n_rows > 0) t->rows[t->n_rows - 1].emph = true;
}

void ts_table_rule(ts_table *t)
{
    t->pending_rule = true;
}

void ts_table_cell(ts_table *t, const char *fmt, ...)
{
    if (t->n_rows == 0) ts_table_row(t);
    if (t->oom || t->n_rows == 0) return;
    table_row *row = &t->rows[t->n_rows - 1];
    if (row->n_cells >= t->n_cols) return;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!s) {
        t->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    row->cells[row->n_cells++] = s;
}

size_t ts_cli_display_width(const char *utf8)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)utf8;
    size_t w = 0, len = strlen(utf8);
    while (len > 0) {
        if (p[0] == 0x1b && len > 1 && p[1] == '[') { /* ANSI CSI: zero width */
            size_t k = 2;
            while (k < len && !(p[k] >= 0x40 && p[k] <= 0x7e))
                k++;
            k = k < len ? k + 1 : len;
            p += k;
            len -= k;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, (utf8proc_ssize_t)len, &cp);
        if (n <= 0) {
            w += 1;
            n = 1;
        } else {
            int cw = utf8proc_charwidth(cp);
            w += cw > 0 ? (size_t)cw : 0;
        }
        p += n;
        len -= (size_t)n;
    }
    return w;
}

static void pad(FILE *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(' ', f);
}

static void put_aligned(FILE *f, const char *s, size_t width, ts_align align, bool last_plain)
{
    size_t w = ts_cli_display_width(s);
    size_t extra = width > w ? width - w : 0;
    size_t before = align == TS_ALIGN_RIGHT ? extra : align == TS_ALIGN_CENTER ? extra / 2 : 0;
    pad(f, before);
    fputs(s, f);
    if (!last_plain) pad(f, extra - before);
}

static void rule_line(FILE *f, const size_t *w, int n, const char *l, const char *m, const char *r)
{
    fputs(ANSI_DIM, f);
    fputs(l, f);
    for (int c = 0; c < n; c++) {
        for (size_t i = 0; i < w[c] + 2; i++)
            fputs("─", f);
        fputs(c + 1 < n ? m : r, f);
    }
    fputs(ANSI_RESET "\n", f);
}

bool ts_table_print(const ts_table *t, FILE *f)
{
    if (t->oom || t->n_cols == 0) return false;
    bool color = ts_cli_use_color(f);
    size_t *w = calloc((size_t)t->n_cols, sizeof *w);
    if (!w) return false;
    for (int c = 0; c < t->n_cols; c++) {
        w[c] = ts_cli_display_width(t->cols[c].header);
        for (size_t r = 0; r < t->n_rows; r++) {
            const char *s = t->rows[r].cells[c];
            size_t cw = s ? ts_cli_display_width(s) : 0;
            if (cw > w[c]) w[c] = cw;
        }
    }
    if (color) {
        if (t->title) fprintf(f, ANSI_BOLD "%s" ANSI_RESET "\n", t->title);
        rule_line(f, w, t->n_cols, "┌", "┬", "┐");
        fputs(ANSI_DIM "│" ANSI_RESET, f);
        for (int c = 0; c < t->n_cols; c++) {
            fputs(c == t->emph_col ? " " ANSI_EMPH : " " ANSI_BOLD, f);
            put_aligned(f, t->cols[c].header, w[c], t->cols[c].align, false);
            fputs(ANSI_RESET " " ANSI_DIM "│" ANSI_RESET, f);
        }
        fputc('\n', f);
        rule_line(f, w, t->n_cols, "├", "┼", "┤");
        for (size_t r = 0; r < t->n_rows; r++) {
            const table_row *row = &t->rows[r];
            if (row->rule_before && r > 0) rule_line(f, w, t->n_cols, "├", "┼", "┤");
            fputs(ANSI_DIM "│" ANSI_RESET, f);
            for (int c = 0; c < t->n_cols; c++) {
                fputc(' ', f);
                if (c == t->emph_col)
                    fputs(ANSI_EMPH, f);
                else if (row->emph)
                    fputs(ANSI_BOLD, f);
                const char *s = row->cells[c] ? row->cells[c] : "";
                put_aligned(f, s, w[c], t->cols[c].align, false);
                fputs(ANSI_RESET " " ANSI_DIM "│" ANSI_RESET, f);
            }
            fputc('\n', f);
        }
        rule_line(f, w, t->n_cols, "└", "┴", "┘");
    } else {
        if (t->title) fprintf(f, "%s\n", t->title);
        size_t total = 0;
        for (int c = 0; c < t->n_cols; c++) {
            put_aligned(f, t->cols[c].header, w[c], t->cols[c].align, c + 1 == t->n_cols);
            if (c + 1 < t->n_cols) fputs("  ", f);
            total += w[c] + (c + 1 < t->n_cols ? 2 : 0);
        }
        fputc('\n', f);
        for (int c = 0; c < t->n_cols; c++) {
            for (size_t i = 0; i < w[c]; i++)
                fputc('-', f);
            fputs(c + 1 < t->n_cols ? "  " : "\n", f);
        }
        for (size_t r = 0; r < t->n_rows; r++) {
            const table_row *row = &t->rows[r];
            if (row->rule_before && r > 0) {
                for (size_t i = 0; i < total; i++)
                    fputc('-', f);
                fputc('\n', f);
            }
            for (int c = 0; c < t->n_cols; c++) {
                const char *s = row->cells[c] ? row->cells[c] : "";
                put_aligned(f, s, w[c], t->cols[c].align, c + 1 == t->n_cols);
                if (c + 1 < t->n_cols) fputs("  ", f);
            }
            fputc('\n', f);
        }
    }
    free(w);
    return !ferror(f);
}
