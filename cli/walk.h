/*
 * walk.h — what the walkthrough commands (top, generate, sample, sweep,
 * compare, demo) share: the model session, prompt handling, token display,
 * an output sink that writes to the terminal and optionally into the HTML
 * report, and a small table model rendered to both.
 *
 * Each command's work is a function walk_<cmd>(session, options, out) so that
 * `demo` runs exactly the code of the individual commands.
 */
#ifndef TS_WALK_H
#define TS_WALK_H

#include "cli.h"

#include <cjson/cJSON.h>

/* The seed notebook's prompt, the default of every walkthrough command. */
#define WALK_DEFAULT_PROMPT "In the future, AI will"

/* ---- output: terminal + optional HTML report ---------------------------- */

typedef struct ts_report ts_report; /* cli/report_html.c */

typedef enum walk_style {
    WALK_PLAIN = 0,
    WALK_BOLD,
    WALK_DIM,
    WALK_PROMPT,   /* the user's prompt in generated text */
    WALK_ACCENT,   /* emphasis: T = 1, greedy, the chosen value */
    WALK_WARN,
    WALK_RANK0,    /* WALK_RANK0 + r: colour of rank r (cycles through 6) */
} walk_style;

typedef struct walk_out {
    FILE *f;           /* terminal stream; NULL = nothing to the terminal */
    bool color;        /* ANSI colour and box drawing on f */
    ts_report *report; /* NULL = no report */
} walk_out;

/* Text in a style, to the terminal and the report's current <pre> block. */
void walk_text(walk_out *o, walk_style style, const char *s, size_t len);
void walk_printf(walk_out *o, walk_style style, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An explanatory paragraph (terminal: wrapped at 88 columns, dim; report: <p>). */
void walk_note(walk_out *o, const char *text);
/* A section heading (terminal: bold rule; report: <h2> and the reproducing command). */
void walk_section(walk_out *o, const char *title, const char *command);

/* ---- tables -------------------------------------------------------------- */

typedef struct walk_table walk_table;
walk_table *walk_table_new(size_t n_cols, const char *const *headers);
void walk_table_free(walk_table *t);
void walk_table_title(walk_table *t, const char *title);
void walk_table_right(walk_table *t, size_t col);     /* right-align a column (numbers) */
void walk_table_emphasise_col(walk_table *t, size_t col);
/* Append a row; returns its index. style: WALK_PLAIN, WALK_BOLD, WALK_DIM, WALK_ACCENT. */
size_t walk_table_row(walk_table *t, walk_style style);
void walk_table_set(walk_table *t, size_t row, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void walk_table_emit(walk_out *o, const walk_table *t);

/* Accessors for the report renderer. */
size_t walk_table_n_rows(const walk_table *t);
size_t walk_table_n_cols(const walk_table *t);
const char *walk_table_header(const walk_table *t, size_t col);
const char *walk_table_cell(const walk_table *t, size_t row, size_t col);
const char *walk_table_get_title(const walk_table *t);
bool walk_table_is_right(const walk_table *t, size_t col);
bool walk_table_is_emph_col(const walk_table *t, size_t col);
walk_style walk_table_row_style(const walk_table *t, size_t row);

/* ---- HTML report (cli/report_html.c) ------------------------------------- */

ts_report *ts_report_new(const char *title);
void ts_report_free(ts_report *r);
void ts_report_section(ts_report *r, const char *title, const char *command);
void ts_report_paragraph(ts_report *r, const char *text);
void ts_report_text(ts_report *r, walk_style style, const char *s, size_t len);
void ts_report_table(ts_report *r, const walk_table *t);
/* Embed an image file (.svg or .png) as a data URI. */
ts_status ts_report_figure(ts_report *r, const char *path, const char *caption, char *err,
                           size_t err_size);
/* Write the whole document atomically. */
ts_status ts_report_write(ts_report *r, const char *path, char *err, size_t err_size);

/* ---- the model session --------------------------------------------------- */

typedef struct walk_model {
    ts_model *model;
    const ts_model_info *info;
    const ts_tokenizer *tok;
    ts_context *ctx;
    ts_generator *gen;
    size_t n_vocab;
    char dir[4096]; /* the checkpoint directory --model resolved to */
} walk_model;

/* Load the model (NULL = bundled), a context and a generator. Prints errors. */
bool walk_model_open(walk_model *m, const char *model_arg);
void walk_model_close(walk_model *m);

/*
 * The prompt as token ids from --prompt TEXT or --ids LIST (both given is an
 * error; neither gives WALK_DEFAULT_PROMPT). Checks: non-empty, ids in the
 * vocabulary, and prompt + max_new fits n_positions. *ids is malloc'd.
 * Returns TS_EXIT_OK or prints a one-line error and returns TS_EXIT_USAGE.
 */
int walk_prompt_ids(const walk_model *m, const char *prompt, const char *ids_arg, size_t max_new,
                    int32_t **ids, size_t *n);

/*
 * --model, --prompt and --ids, the options top, generate, sample and sweep
 * share: WALK_PROMPT_OPTIONS goes in the getopt_long table, walk_prompt_arg
 * stores what getopt returned for them, walk_session_open uses them.
 */
typedef struct walk_prompt_args {
    const char *model;  /* NULL = the bundled model */
    const char *prompt; /* NULL = WALK_DEFAULT_PROMPT (unless ids) */
    const char *ids;    /* comma-separated token ids, or NULL */
} walk_prompt_args;
#define WALK_PROMPT_OPTIONS                                                                  \
    {"model", required_argument, NULL, 'm'}, {"prompt", required_argument, NULL, 'p'},      \
    {"ids", required_argument, NULL, 'i'}
/* Store getopt code c ('m', 'p', 'i') with its argument; false if c is none of them. */
bool walk_prompt_arg(int c, const char *arg, walk_prompt_args *a);
/*
 * walk_model_open then walk_prompt_ids (max_new as there). TS_EXIT_OK: the
 * caller frees *ids and calls walk_model_close(m). Otherwise the error is
 * printed, nothing is left open, and TS_EXIT_USAGE is returned.
 */
int walk_session_open(walk_model *m, const walk_prompt_args *a, size_t max_new, int32_t **ids,
                      size_t *n);

/* Parse --k (an integer >= 1; walk_check_k bounds it by the vocabulary later). */
bool walk_parse_k(const char *arg, size_t *k);
/* --k must be in [1, n_vocab]: TS_EXIT_OK, or a one-line error and TS_EXIT_USAGE. */
int walk_check_k(const walk_model *m, size_t k);

/* The token as a quoted, escaped display string ('·the', '\n'...) in buf. */
const char *walk_token_display(const ts_tokenizer *tok, int32_t id, char *buf, size_t size);
/* The token's bytes as valid UTF-8 (invalid bytes -> U+FFFD), for JSON. */
const char *walk_token_utf8(const ts_tokenizer *tok, int32_t id, char *buf, size_t size);
/* Any bytes as valid UTF-8 into a malloc'd string. */
char *walk_bytes_utf8(const char *s, size_t len);

/* --seed given -> it; else a random seed, printed to stderr so the run can be repeated. */
uint64_t walk_seed(bool have_seed, uint64_t seed);

/* Append a row whose first two cells are the 1-based rank and the token's display string. */
size_t walk_table_token_row(walk_table *t, walk_style style, size_t rank, const ts_tokenizer *tok,
                            int32_t id);

/* cJSON helpers: print (pretty) to stdout and free. */
void walk_json_print(cJSON *root);
cJSON *walk_json_ids(const int32_t *ids, size_t n);
/* "id" and "token" (valid UTF-8) of a token, added to object e. */
void walk_json_add_token(cJSON *e, const ts_tokenizer *tok, int32_t id);
/*
 * The top-k as [{"rank","id","token","logit","prob","prob_topk"}]: top[k] ids
 * best first, logits[V] raw, prob[k] over the full vocabulary, prob_topk[k]
 * renormalised within the k (top and sweep).
 */
cJSON *walk_json_topk(const ts_tokenizer *tok, const float *logits, const int32_t *top,
                      const double *prob, const double *prob_topk, size_t k);

/* ---- the commands' work, shared with demo -------------------------------- */

typedef struct walk_top_opts {
    size_t k;
    double temperature;
    const char *dump_logits; /* NULL = none */
    bool json;
} walk_top_opts;
int walk_top(walk_model *m, const int32_t *ids, size_t n_ids, const walk_top_opts *o,
             walk_out *out);

typedef struct walk_gen_opts {
    ts_sampler_params sp;
    size_t max_new_tokens;
    size_t samples;
    bool verbose;
    bool json;
    const char *prompt_text; /* for JSON "prompt"; NULL when from --ids */
} walk_gen_opts;
/*
 * The sampling options shared by generate and compare, by getopt code:
 * 't' --temperature, 'K' --top-k, 'P' --top-p, 'M' --min-p, 'O' --order.
 * Returns 1 if c is none of them; else 0 with *ok false after printing an error.
 */
int walk_parse_sampling(int c, const char *arg, ts_sampler_params *sp, bool *ok);
int walk_generate(walk_model *m, const int32_t *ids, size_t n_ids, const walk_gen_opts *o,
                  walk_out *out);

typedef struct walk_sample_opts {
    size_t k;
    size_t n;
    size_t show;
    double temperature;
    uint64_t seed;
    bool json;
} walk_sample_opts;
int walk_sample(walk_model *m, const int32_t *ids, size_t n_ids, const walk_sample_opts *o,
                walk_out *out);

typedef struct walk_sweep_opts {
    const double *temperatures;
    size_t n_temps;
    size_t k;
    bool have_target;
    double target_entropy;
    const char *plot; /* NULL = none */
    bool json;
    bool full_prob;   /* table shows full-vocabulary prob instead of prob_topk */
} walk_sweep_opts;
int walk_sweep(walk_model *m, const int32_t *ids, size_t n_ids, const walk_sweep_opts *o,
               walk_out *out);

typedef struct walk_compare_opts {
    const char *const *prompts;
    size_t n_prompts;
    const double *temperatures;
    size_t n_temps;
    size_t samples;
    size_t max_new_tokens;
    ts_sampler_params sp; /* temperature overridden per column */
    bool coupled;
    bool json;
} walk_compare_opts;
int walk_compare(walk_model *m, const walk_compare_opts *o, walk_out *out);

#endif /* TS_WALK_H */
