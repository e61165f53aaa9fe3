/*
 * cli.h — what the tempscale command-line tool's files share.
 *
 * Each subcommand lives in cli/cmd_<name>.c and exports
 *     int ts_cmd_<name>(int argc, char **argv);   argv[0] is the command name
 * returning the process exit code: 0 ok, TS_EXIT_USAGE (2) for bad input or
 * options, TS_EXIT_FAIL (1) for a failure that is not the user's input.
 * Options are parsed with getopt_long (reset with optind = 0 first, opterr = 0,
 * and ts_cli_bad_option for what it returns as unknown); every
 * command answers --help with text that teaches (what it does, options with
 * defaults, an example).
 * Only the CLI prints or exits; the library returns statuses.
 */
#ifndef TS_CLI_H
#define TS_CLI_H

#include "tempscale.h"
#include "tempscale_request.h"

#include <stdbool.h>
#include <stdio.h>

#define TS_EXIT_OK 0
#define TS_EXIT_FAIL 1
#define TS_EXIT_USAGE 2

/*
 * The analysis commands (softmax, tokenize, top, generate, sample, sweep,
 * compare, calibrate) are one generic runner over the request layer
 * (cli/run.c): options come from the analysis' field table, the work is
 * ts_request_run, and the output is its document (terminal), its JSON
 * (--json) or its figure (--plot). The other commands have a file each.
 */
int ts_cli_run_analysis(const ts_analysis *a, int argc, char **argv);
int ts_cmd_demo(int argc, char **argv);
int ts_cmd_batch(int argc, char **argv);
int ts_cmd_serve(int argc, char **argv); /* server/serve.c */
int ts_cmd_pull(int argc, char **argv);
int ts_cmd_bench(int argc, char **argv);

/* ---- help (cli/help.c) ---------------------------------------------------- */

/* Usage, explanation, options (from the field table) and examples of an analysis. */
void ts_cli_analysis_help(const ts_analysis *a, FILE *f);
/* The examples of a command's help (NULL-terminated), for the test that runs them all. */
const char *const *ts_cli_examples(const char *command);

/* "tempscale: error: <message>\n" on stderr. Returns TS_EXIT_USAGE for `return ts_cli_error(...)`. */
int ts_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tempscale: warning: ..." */
void ts_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Option value parsers. On bad input they print "option --name: ..." through
 * ts_cli_error and return false. `opt` is the option name without dashes.
 */
bool ts_cli_parse_double(const char *opt, const char *s, double *out); /* accepts inf */
bool ts_cli_parse_long(const char *opt, const char *s, long min, long max, long *out);
bool ts_cli_parse_u64(const char *opt, const char *s, uint64_t *out);
/* Comma-separated lists; *out is malloc'd (caller frees); empty lists refused. */
bool ts_cli_parse_double_list(const char *opt, const char *s, double **out, size_t *n);
bool ts_cli_parse_float_list(const char *opt, const char *s, float **out, size_t *n);
bool ts_cli_parse_id_list(const char *opt, const char *s, int32_t **out, size_t *n);

/*
 * Before any work: can an output file go to path? Its directory must exist and
 * be writable and path must not be a directory; figure = true also requires a
 * .png, .svg or .pdf name. Prints "option --<opt>: ..." and returns false.
 * (The write itself stays atomic: ts_atomic_open / commit in src/core/status.c.)
 */
bool ts_cli_check_output(const char *opt, const char *path, bool figure);

/*
 * A growing NUL-terminated byte buffer for building text ({0} is empty; free p
 * when done). Out of memory is sticky: oom is set and later appends do nothing.
 */
typedef struct ts_cli_buf {
    char *p;
    size_t n, cap;
    bool oom;
} ts_cli_buf;
void ts_cli_buf_put(ts_cli_buf *b, const char *s, size_t n);

/* Colour and box drawing only on a terminal, and never when NO_COLOR is set. */
bool ts_cli_use_color(FILE *f);

/* ---- terminal tables (cli/table.c) ---------------------------------------
 * Build a table, then print it: Unicode box drawing, a bold header and ANSI
 * colour for the emphasised column / rows when ts_cli_use_color(f), plain
 * space-aligned ASCII otherwise (pipes, NO_COLOR). Widths count display
 * columns (UTF-8 code points, wide CJK = 2, via utf8proc), not bytes.
 *     ts_table *t = ts_table_new("softmax(z / T)");
 *     ts_table_column(t, "token", TS_ALIGN_LEFT);
 *     ts_table_column(t, "T = 1", TS_ALIGN_RIGHT);
 *     ts_table_row(t); ts_table_cell(t, "%s", "token 0"); ts_table_cell(t, "%.4f", p);
 *     ts_table_print(t, stdout); ts_table_free(t);
 * Out of memory is remembered and reported by ts_table_print (returns false).
 */
typedef enum ts_align { TS_ALIGN_LEFT = 0, TS_ALIGN_RIGHT = 1, TS_ALIGN_CENTER = 2 } ts_align;
typedef struct ts_table ts_table;

/* New empty table; title may be NULL (copied). NULL only when out of memory. */
ts_table *ts_table_new(const char *title);
void ts_table_free(ts_table *t);
/* Add a column (before the first row); returns its index. */
int ts_table_column(ts_table *t, const char *header, ts_align align);
/* Emphasise a column (bold yellow on a terminal, nothing in plain text). */
void ts_table_emphasize_column(ts_table *t, int col);
/* Start a new row; cells are then appended left to right. Missing cells print empty. */
void ts_table_row(ts_table *t);
/* Emphasise the current row (bold on a terminal; plain text marks nothing). */
void ts_table_emphasize_row(ts_table *t);
/* Draw a horizontal rule before the next row (e.g. above a totals row). */
void ts_table_rule(ts_table *t);
/* Append a printf-formatted cell to the current row (extra cells are ignored). */
void ts_table_cell(ts_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the table. false if the table ran out of memory or the write failed. */
bool ts_table_print(const ts_table *t, FILE *f);

/* Display width of a UTF-8 string in terminal columns (invalid bytes count 1, ANSI escapes 0). */
size_t ts_cli_display_width(const char *utf8);

/*
 * Resolve --model: NULL means the bundled default model; a directory is used
 * as is; otherwise a Hugging Face repo id looked up in the local cache.
 * Writes the directory into dir. Prints the error and returns false.
 */
bool ts_cli_resolve_model(const char *arg, char *dir, size_t dir_size);

/* Resolve and load a model (prints errors). NULL on failure. */
ts_model *ts_cli_load_model(const char *arg);

/* A random seed from the OS (for when --seed is omitted). */
uint64_t ts_cli_random_seed(void);

/*
 * After getopt_long returned '?' or ':' (parse with opterr = 0 so getopt prints
 * nothing): one line "<cmd>: unrecognized option '--x'" / "option '--k' needs a
 * value" / "option '--json' takes no value", with "(see 'tempscale help
 * <cmd>')". Returns TS_EXIT_USAGE.
 */
int ts_cli_bad_option(const char *cmd, char **argv);

/*
 * Map a request-layer message "field: text" to the CLI's spelling "option
 * --field: text" (when field is a field of a), into out. Other messages are
 * copied as they are.
 */
void ts_cli_field_message(const ts_analysis *a, const char *msg, char *out, size_t size);
/* Exit code of a failed ts_status: 1 for out of memory / network / busy, else 2. */
int ts_cli_exit_code(ts_status st);

/* ---- terminal rendering of documents (cli/term.c) ------------------------- */

typedef struct ts_term {
    FILE *f;
    bool color;        /* ANSI colour and box drawing */
    bool show_figures; /* print "Figure: PATH" lines */
} ts_term;
/* A ts_doc_listener: prints each block as it is appended. user is a ts_term. */
void ts_term_block(const ts_doc_block *b, void *user);

/* ---- the HTML report (cli/report_html.c) ---------------------------------- */

/*
 * Render a document as one self-contained HTML page (inline CSS, no scripts,
 * figures embedded as data URIs) and write it atomically to path.
 */
ts_status ts_report_write_doc(const ts_doc *doc, const char *title, const char *intro,
                              const char *path, char *err, size_t err_size);

#endif /* TS_CLI_H */
