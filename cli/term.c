/*
 * term.c — documents (tempscale_request.h) on a terminal: a ts_doc_listener
 * that prints each block as it is appended, so generated text streams token
 * by token. Colour and box-drawn tables on a terminal; plain text when piped
 * or NO_COLOR is set (the bytes a test or a pipe sees).
 */
#include "cli.h"

#include <string.h>

static const char *ansi_of(ts_style style)
{
    static const char *const ranks[6] = {"\033[32m", "\033[36m", "\033[33m",
                                         "\033[35m", "\033[34m", "\033[31m"};
    switch (style) {
    case TS_STYLE_PLAIN:
        return "";
    case TS_STYLE_BOLD:
        return "\033[1m";
    case TS_STYLE_DIM:
        return "\033[2m";
    case TS_STYLE_PROMPT:
        return "\033[1;4m";
    case TS_STYLE_ACCENT:
        return "\033[1;33m";
    case TS_STYLE_WARN:
        return "\033[31m";
    default:
        return ranks[((int)style - TS_STYLE_RANK0) % 6];
    }
}

static void styled(const ts_term *t, ts_style style, const char *s, size_t len)
{
    if (!len) return;
    bool on = t->color && style != TS_STYLE_PLAIN;
    if (on) fputs(ansi_of(style), t->f);
    fwrite(s, 1, len, t->f);
    if (on) fputs("\033[0m", t->f);
}

/* Greedy word wrap at 88 columns; explicit newlines kept; a blank line after. */
static void note(const ts_term *t, const char *text)
{
    if (t->color) fputs("\033[2m", t->f);
    size_t col = 0;
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            fputc('\n', t->f);
            col = 0;
            p++;
            continue;
        }
        size_t w = strcspn(p, " \n");
        if (col > 0 && col + 1 + w > 88) {
            fputc('\n', t->f);
            col = 0;
        } else if (col > 0) {
            fputc(' ', t->f);
            col++;
        }
        fwrite(p, 1, w, t->f);
        col += w;
        p += w;
        while (*p == ' ')
            p++;
    }
    if (t->color) fputs("\033[0m", t->f);
    fputs("\n\n", t->f);
}

static void table(const ts_term *t, const ts_doc_table *dt)
{
    ts_table *tt = ts_table_new(ts_doc_table_get_title(dt));
    if (!tt) {
        ts_cli_warn("could not print a table (out of memory)");
        return;
    }
    size_t nc = ts_doc_table_n_cols(dt);
    for (size_t c = 0; c < nc; c++) {
        int col = ts_table_column(tt, ts_doc_table_header(dt, c),
                                  ts_doc_table_is_right(dt, c) ? TS_ALIGN_RIGHT : TS_ALIGN_LEFT);
        if (ts_doc_table_is_emph_col(dt, c)) ts_table_emphasize_column(tt, col);
    }
    for (size_t r = 0; r < ts_doc_table_n_rows(dt); r++) {
        if (ts_doc_table_rule_before(dt, r)) ts_table_rule(tt);
        ts_table_row(tt);
        ts_style st = ts_doc_table_row_style(dt, r);
        if (st != TS_STYLE_PLAIN && st != TS_STYLE_DIM) ts_table_emphasize_row(tt);
        for (size_t c = 0; c < nc; c++)
            ts_table_cell(tt, "%s", ts_doc_table_cell(dt, r, c));
    }
    if (!ts_table_print(tt, t->f)) ts_cli_warn("could not print a table (out of memory?)");
    fputc('\n', t->f); /* a blank line after every table */
    ts_table_free(tt);
}

void ts_term_block(const ts_doc_block *b, void *user)
{
    const ts_term *t = user;
    switch (b->kind) {
    case TS_DOC_SECTION: {
        fputc('\n', t->f);
        if (t->color) fputs("\033[1;36m", t->f);
        fprintf(t->f, "== %s ", b->text);
        for (size_t i = ts_cli_display_width(b->text); i < 80; i++)
            fputc('=', t->f);
        if (t->color) fputs("\033[0m", t->f);
        fputs("\n\n", t->f);
        break;
    }
    case TS_DOC_NOTE:
        note(t, b->text);
        break;
    case TS_DOC_COMMAND:
        styled(t, TS_STYLE_DIM, "$ ", 2);
        styled(t, TS_STYLE_DIM, b->text, b->len);
        fputc('\n', t->f);
        break;
    case TS_DOC_TEXT:
        styled(t, b->style, b->text, b->len);
        break;
    case TS_DOC_TABLE:
        table(t, b->table);
        break;
    case TS_DOC_FIGURE:
        if (t->show_figures) {
            styled(t, TS_STYLE_DIM, "Figure: ", 8);
            styled(t, TS_STYLE_DIM, b->text, b->len);
            fputc('\n', t->f);
        }
        break;
    }
    fflush(t->f);
}
