/*
 * walk.c — the walkthrough commands' shared plumbing: output sink (terminal +
 * HTML report), tables, model session, prompt ids, token display, seeds.
 */
#include "walk.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ======================================================================== */
/* Output                                                                    */
/* ======================================================================== */

static const char *ansi_of(walk_style style)
{
    static const char *const ranks[6] = {"\033[32m", "\033[36m", "\033[33m",
                                         "\033[35m", "\033[34m", "\033[31m"};
    switch (style) {
    case WALK_PLAIN: return "";
    case WALK_BOLD: return "\033[1m";
    case WALK_DIM: return "\033[2m";
    case WALK_PROMPT: return "\033[1;4m";
    case WALK_ACCENT: return "\033[1;33m";
    case WALK_WARN: return "\033[31m";
    default: return ranks[((int)style - WALK_RANK0) % 6];
    }
}

void walk_text(walk_out *o, walk_style style, const char *s, size_t len)
{
    if (o->f && len) {
        bool styled = o->color && style != WALK_PLAIN;
        if (styled) fputs(ansi_of(style), o->f);
        fwrite(s, 1, len, o->f);
        if (styled) fputs("\033[0m", o->f);
    }
    if (o->report) ts_report_text(o->report, style, s, len);
}

void walk_printf(walk_out *o, walk_style style, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        walk_text(o, style, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    walk_text(o, style, big, (size_t)n);
    free(big);
}

void walk_note(walk_out *o, const char *text)
{
    if (o->f) {
        /* Greedy word wrap at 88 columns; explicit newlines kept. */
        if (o->color) fputs("\033[2m", o->f);
        size_t col = 0;
        const char *p = text;
        while (*p) {
            if (*p == '\n') {
                fputc('\n', o->f);
                col = 0;
                p++;
                continue;
            }
            size_t w = strcspn(p, " \n");
            if (col > 0 && col + 1 + w > 88) {
                fputc('\n', o->f);
                col = 0;
            } else if (col > 0) {
                fputc(' ', o->f);
                col++;
            }
            fwrite(p, 1, w, o->f);
            col += w;
            p += w;
            while (*p == ' ') p++;
        }
        if (o->color) fputs("\033[0m", o->f);
        fputs("\n\n", o->f);
    }
    if (o->report) ts_report_paragraph(o->report, text);
}

void walk_section(walk_out *o, const char *title, const char *command)
{
    if (o->f) {
        fputc('\n', o->f);
        if (o->color) fputs("\033[1;36m", o->f);
        fprintf(o->f, "== %s ", title);
        for (size_t i = strlen(title); i < 80; i++) fputc('=', o->f);
        if (o->color) fputs("\033[0m", o->f);
        fputc('\n', o->f);
        if (command) {
            if (o->color) fputs("\033[2m", o->f);
            fprintf(o->f, "$ %s", command);
            if (o->color) fputs("\033[0m", o->f);
            fputc('\n', o->f);
        }
        fputc('\n', o->f);
    }
    if (o->report) ts_report_section(o->report, title, command);
}

/* ======================================================================== */
/* Tables                                                                    */
/* ======================================================================== */

struct walk_table {
    size_t n_cols, n_rows, cap_rows;
    char **headers;      /* [n_cols] */
    char **cells;        /* [cap_rows * n_cols], NULL = empty */
    walk_style *styles;  /* [cap_rows] */
    bool *right;         /* [n_cols] */
    bool *emph;          /* [n_cols] */
    char *title;
};

walk_table *walk_table_new(size_t n_cols, const char *const *headers)
{
    walk_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_cols = n_cols;
    t->headers = calloc(n_cols, sizeof *t->headers);
    t->right = calloc(n_cols, sizeof *t->right);
    t->emph = calloc(n_cols, sizeof *t->emph);
    if (!t->headers || !t->right || !t->emph) {
        walk_table_free(t);
        return NULL;
    }
    for (size_t c = 0; c < n_cols; c++) t->headers[c] = strdup(headers[c] ? headers[c] : "");
    return t;
}

void walk_table_free(walk_table *t)
{
    if (!t) return;
    for (size_t c = 0; c < t->n_cols && t->headers; c++) free(t->headers[c]);
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) free(t->cells[i]);
    free(t->headers);
    free(t->cells);
    free(t->styles);
    free(t->right);
    free(t->emph);
    free(t->title);
    free(t);
}

void walk_table_title(walk_table *t, const char *title)
{
    free(t->title);
    t->title = title ? strdup(title) : NULL;
}

void walk_table_right(walk_table *t, size_t col)
{
    if (col < t->n_cols) t->right[col] = true;
}

void walk_table_emphasise_col(walk_table *t, size_t col)
{
    if (col < t->n_cols) t->emph[col] = true;
}

size_t walk_table_row(walk_table *t, walk_style style)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 16;
        char **cells = realloc(t->cells, cap * t->n_cols * sizeof *cells);
        if (!cells) abort(); /* CLI only: out of memory for a table is fatal */
        t->cells = cells;
        walk_style *styles = realloc(t->styles, cap * sizeof *styles);
        if (!styles) abort();
        t->styles = styles;
        t->cap_rows = cap;
    }
    for (size_t c = 0; c < t->n_cols; c++) t->cells[t->n_rows * t->n_cols + c] = NULL;
    t->styles[t->n_rows] = style;
    return t->n_rows++;
}

void walk_table_set(walk_table *t, size_t row, size_t col, const char *fmt, ...)
{
    if (row >= t->n_rows || col >= t->n_cols) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **cell = &t->cells[row * t->n_cols + col];
    free(*cell);
    *cell = strdup(buf);
}

size_t walk_table_n_rows(const walk_table *t) { return t->n_rows; }
size_t walk_table_n_cols(const walk_table *t) { return t->n_cols; }
const char *walk_table_header(const walk_table *t, size_t col) { return t->headers[col]; }
const char *walk_table_get_title(const walk_table *t) { return t->title; }
bool walk_table_is_right(const walk_table *t, size_t col) { return t->right[col]; }
bool walk_table_is_emph_col(const walk_table *t, size_t col) { return t->emph[col]; }
walk_style walk_table_row_style(const walk_table *t, size_t row) { return t->styles[row]; }

const char *walk_table_cell(const walk_table *t, size_t row, size_t col)
{
    const char *s = t->cells[row * t->n_cols + col];
    return s ? s : "";
}

size_t walk_table_token_row(walk_table *t, walk_style style, size_t rank, const ts_tokenizer *tok,
                            int32_t id)
{
    char buf[256];
    size_t row = walk_table_row(t, style);
    walk_table_set(t, row, 0, "%zu", rank);
    walk_table_set(t, row, 1, "%s", walk_token_display(tok, id, buf, sizeof buf));
    return row;
}

void walk_table_emit(walk_out *o, const walk_table *t)
{
    if (o->report) ts_report_table(o->report, t);
    if (!o->f) return;
    /* The terminal rendering is cli/table.c's: boxes and colour on a TTY, plain when piped. */
    ts_table *tt = ts_table_new(t->title);
    if (!tt) return;
    for (size_t c = 0; c < t->n_cols; c++) {
        int col = ts_table_column(tt, t->headers[c], t->right[c] ? TS_ALIGN_RIGHT : TS_ALIGN_LEFT);
        if (t->emph[c]) ts_table_emphasize_column(tt, col);
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        ts_table_row(tt);
        if (t->styles[r] != WALK_PLAIN && t->styles[r] != WALK_DIM) ts_table_emphasize_row(tt);
        for (size_t c = 0; c < t->n_cols; c++) ts_table_cell(tt, "%s", walk_table_cell(t, r, c));
    }
    if (!ts_table_print(tt, o->f)) ts_cli_warn("could not print a table (out of memory?)");
    ts_table_free(tt);
}

/* ======================================================================== */
/* Model session                                                             */
/* ======================================================================== */

bool walk_model_open(walk_model *m, const char *model_arg)
{
    memset(m, 0, sizeof *m);
    if (!ts_cli_resolve_model(model_arg, m->dir, sizeof m->dir)) return false;
    m->model = ts_cli_load_model(m->dir);
    if (!m->model) return false;
    m->info = ts_model_get_info(m->model);
    m->tok = ts_model_tokenizer(m->model);
    m->n_vocab = (size_t)m->info->n_vocab;
    char err[TS_ERR_SIZE] = "";
    ts_context_params cp = ts_context_default_params();
    ts_status st = ts_context_new(m->model, &cp, &m->ctx, err, sizeof err);
    if (st == TS_OK) st = ts_generator_new(m->ctx, m->tok, m->n_vocab, &m->gen, err, sizeof err);
    if (st != TS_OK) {
        ts_cli_error("%s", err[0] ? err : ts_status_str(st));
        walk_model_close(m);
        return false;
    }
    return true;
}

void walk_model_close(walk_model *m)
{
    ts_generator_free(m->gen);
    ts_context_free(m->ctx);
    ts_model_free(m->model);
    memset(m, 0, sizeof *m);
}

int walk_prompt_ids(const walk_model *m, const char *prompt, const char *ids_arg, size_t max_new,
                    int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    size_t n_ctx = (size_t)m->info->n_positions;
    if (prompt && ids_arg) return ts_cli_error("give either --prompt or --ids, not both");
    if (ids_arg) {
        if (!ts_cli_parse_id_list("ids", ids_arg, ids, n)) return TS_EXIT_USAGE;
        for (size_t i = 0; i < *n; i++) {
            if ((size_t)(*ids)[i] >= m->n_vocab) {
                ts_cli_error("option --ids: token id %d is outside the vocabulary [0, %zu)",
                             (int)(*ids)[i], m->n_vocab);
                free(*ids);
                *ids = NULL;
                return TS_EXIT_USAGE;
            }
        }
    } else {
        if (!prompt) prompt = WALK_DEFAULT_PROMPT;
        if (prompt[0] == '\0')
            return ts_cli_error("option --prompt: empty prompt (the model needs at least one "
                                "token to condition on)");
        size_t cap = n_ctx + 1, need = 0;
        *ids = malloc(cap * sizeof **ids);
        if (!*ids) return ts_cli_error("out of memory");
        ts_status st = ts_tokenizer_encode(m->tok, prompt, strlen(prompt), 0, *ids, cap, &need);
        if (st != TS_OK) {
            free(*ids);
            *ids = NULL;
            if (st == TS_ERR_RANGE)
                return ts_cli_error("option --prompt: the prompt is %zu tokens, longer than the "
                                    "model's context of %zu tokens (n_positions)",
                                    need, n_ctx);
            return ts_cli_error("option --prompt: cannot tokenize (%s)", ts_status_str(st));
        }
        *n = need;
    }
    if (*n + max_new > n_ctx) {
        ts_cli_error("the prompt (%zu tokens) + %zu new tokens = %zu exceeds the model's context "
                     "of %zu tokens (n_positions); shorten the prompt or lower --max-new-tokens",
                     *n, max_new, *n + max_new, n_ctx);
        free(*ids);
        *ids = NULL;
        *n = 0;
        return TS_EXIT_USAGE;
    }
    return TS_EXIT_OK;
}

bool walk_prompt_arg(int c, const char *arg, walk_prompt_args *a)
{
    switch (c) {
    case 'm': a->model = arg; return true;
    case 'p': a->prompt = arg; return true;
    case 'i': a->ids = arg; return true;
    default: return false;
    }
}

int walk_session_open(walk_model *m, const walk_prompt_args *a, size_t max_new, int32_t **ids,
                      size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!walk_model_open(m, a->model)) return TS_EXIT_USAGE;
    int rc = walk_prompt_ids(m, a->prompt, a->ids, max_new, ids, n);
    if (rc != TS_EXIT_OK) walk_model_close(m);
    return rc;
}

bool walk_parse_k(const char *arg, size_t *k)
{
    long v;
    if (!ts_cli_parse_long("k", arg, 1, 1L << 30, &v)) return false;
    *k = (size_t)v;
    return true;
}

int walk_check_k(const walk_model *m, size_t k)
{
    if (k == 0 || k > m->n_vocab)
        return ts_cli_error("option --k: %zu is outside [1, %zu] (the vocabulary size)", k,
                            m->n_vocab);
    return TS_EXIT_OK;
}

/* Append valid UTF-8 of bytes to out (cap includes the NUL); invalid -> U+FFFD. */
static size_t utf8_sanitize(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (len > 0 && o + 4 < cap) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, (utf8proc_ssize_t)len, &cp);
        if (n <= 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
            len--;
            continue;
        }
        memcpy(out + o, p, (size_t)n);
        o += (size_t)n;
        p += n;
        len -= (size_t)n;
    }
    out[o] = '\0';
    return o;
}

char *walk_bytes_utf8(const char *s, size_t len)
{
    size_t cap = 3 * len + 8;
    char *out = malloc(cap);
    if (out) utf8_sanitize(s, len, out, cap);
    return out;
}

/* The token's bytes, or NULL after writing "<id>" into buf (an id the vocabulary lacks). */
static const char *token_bytes(const ts_tokenizer *tok, int32_t id, size_t *len, char *buf,
                               size_t size)
{
    *len = 0;
    const char *b = ts_tokenizer_token_bytes(tok, id, len);
    if (!b) snprintf(buf, size, "<%d>", (int)id);
    return b;
}

const char *walk_token_utf8(const ts_tokenizer *tok, int32_t id, char *buf, size_t size)
{
    size_t len;
    const char *b = token_bytes(tok, id, &len, buf, size);
    if (b) utf8_sanitize(b, len, buf, size);
    return buf;
}

const char *walk_token_display(const ts_tokenizer *tok, int32_t id, char *buf, size_t size)
{
    size_t len;
    const char *b = token_bytes(tok, id, &len, buf, size);
    return b ? ts_cli_token_printable(b, len, TS_TOKEN_QUOTE, buf, size) : buf;
}

uint64_t walk_seed(bool have_seed, uint64_t seed)
{
    if (have_seed) return seed;
    seed = ts_cli_random_seed();
    fprintf(stderr, "tempscale: seed %llu (pass --seed %llu to repeat this run)\n",
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

void walk_json_print(cJSON *root)
{
    char *s = cJSON_Print(root);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    cJSON_Delete(root);
}

cJSON *walk_json_ids(const int32_t *ids, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

void walk_json_add_token(cJSON *e, const ts_tokenizer *tok, int32_t id)
{
    char buf[256];
    cJSON_AddNumberToObject(e, "id", id);
    cJSON_AddStringToObject(e, "token", walk_token_utf8(tok, id, buf, sizeof buf));
}

cJSON *walk_json_topk(const ts_tokenizer *tok, const float *logits, const int32_t *top,
                      const double *prob, const double *prob_topk, size_t k)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t r = 0; r < k; r++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", (double)(r + 1));
        walk_json_add_token(e, tok, top[r]);
        cJSON_AddNumberToObject(e, "logit", logits[top[r]]);
        cJSON_AddNumberToObject(e, "prob", prob[r]);
        cJSON_AddNumberToObject(e, "prob_topk", prob_topk[r]);
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}
