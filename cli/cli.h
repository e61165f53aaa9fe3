/*
 * cli.h — what the tempscale command-line tool's files share.
 *
 * Each subcommand lives in cli/cmd_<name>.c and exports
 *     int ts_cmd_<name>(int argc, char **argv);   argv[0] is the command name
 * returning the process exit code: 0 ok, TS_EXIT_USAGE (2) for bad input or
 * options, TS_EXIT_FAIL (1) for a failure that is not the user's input.
 * Options are parsed with getopt_long (reset with optind = 0 first); every
 * command answers --help with text that teaches (what it does, options with
 * defaults, an example).
 * Only the CLI prints or exits; the library returns statuses.
 */
#ifndef TS_CLI_H
#define TS_CLI_H

#include "tempscale.h"

#include <stdbool.h>
#include <stdio.h>

#define TS_EXIT_OK 0
#define TS_EXIT_FAIL 1
#define TS_EXIT_USAGE 2

/* Subcommands (one file each). */
int ts_cmd_softmax(int argc, char **argv);
int ts_cmd_tokenize(int argc, char **argv);
int ts_cmd_top(int argc, char **argv);
int ts_cmd_generate(int argc, char **argv);
int ts_cmd_sample(int argc, char **argv);
int ts_cmd_sweep(int argc, char **argv);
int ts_cmd_compare(int argc, char **argv);
int ts_cmd_demo(int argc, char **argv);
int ts_cmd_calibrate(int argc, char **argv);
int ts_cmd_pull(int argc, char **argv);
int ts_cmd_bench(int argc, char **argv);

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

/* Colour and box drawing only on a terminal, and never when NO_COLOR is set. */
bool ts_cli_use_color(FILE *f);

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

/* Print a usage line "Run 'tempscale help <cmd>' for options." to stderr. */
void ts_cli_usage_hint(const char *cmd);

#endif /* TS_CLI_H */
