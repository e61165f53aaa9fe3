/*
 * run.c — every analysis command (softmax, tokenize, top, generate, sample,
 * sweep, compare, calibrate) through one runner over the request layer:
 *
 *   argv  -> request   options are the analysis' fields (--top-p = top_p),
 *                      checked by ts_request_set with the same messages as
 *                      JSON requests; plus the CLI's own options (--model,
 *                      --json, --plot, --prompt-file ...) and the prompt as
 *                      arguments or piped on stdin
 *   run   -> result    ts_request_run on a session (the model, loaded once),
 *                      the document streamed to the terminal as it grows
 *   result -> output   the rest of the document, or --json (the bytes the
 *                      HTTP API and `tempscale batch` give), --plot, warnings
 *
 * Exit status: 0 ok, 2 for the user's input, 1 for other failures.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The CLI's own options (not request fields). */
enum {
    OPT_MODEL = 1,
    OPT_WEIGHTS,
    OPT_WEIGHTS_MEMORY,
    OPT_TOKENIZER,
    OPT_JSON,
    OPT_PLOT,
    OPT_PROMPT_FILE,
    OPT_PROMPTS_FILE,
    OPT_FILE,
    OPT_DUMP_LOGITS,
    OPT_HELP,
};

typedef struct cli_opt {
    const char *name;
    int id;
    bool takes_value;
} cli_opt;

typedef struct cli_args {
    const char *model, *weights, *weights_memory, *tokenizer, *plot, *prompt_file, *prompts_file,
        *file, *dump_logits;
    bool json;
    char **pos;
    size_t n_pos;
} cli_args;

static bool has_field(const ts_analysis *a, const char *name, ts_field_type type)
{
    const ts_field_info *f = ts_analysis_find_field(a, name);
    return f && f->type == type;
}

/* The analysis reads a main text (tokenize, trace): arguments, --file and stdin fill it. */
static bool has_input_text(const ts_analysis *a)
{
    const ts_field_info *f = ts_analysis_find_field(a, "text");
    return f && f->type == TS_FIELD_STRING && (f->flags & TS_FIELD_INPUT);
}

/* Which CLI options analysis a takes (table order = help order). */
static size_t cli_options(const ts_analysis *a, cli_opt *out)
{
    size_t n = 0;
    const char *name = ts_analysis_name(a);
    bool calibrate = strcmp(name, "calibrate") == 0;
    if (ts_analysis_needs(a) >= TS_NEEDS_TOKENIZER || calibrate)
        out[n++] = (cli_opt){"model", OPT_MODEL, true};
    if (ts_analysis_needs(a) >= TS_NEEDS_TOKENIZER || calibrate)
        out[n++] = (cli_opt){"tokenizer", OPT_TOKENIZER, true};
    if (ts_analysis_needs(a) == TS_NEEDS_MODEL || calibrate)
        out[n++] = (cli_opt){"weights", OPT_WEIGHTS, true};
    if (ts_analysis_needs(a) == TS_NEEDS_MODEL || calibrate)
        out[n++] = (cli_opt){"weights-memory", OPT_WEIGHTS_MEMORY, true};
    if (has_field(a, "prompt", TS_FIELD_STRING))
        out[n++] = (cli_opt){"prompt-file", OPT_PROMPT_FILE, true};
    if (ts_analysis_find_field(a, "prompts") || strcmp(name, "compare") == 0)
        out[n++] = (cli_opt){"prompts-file", OPT_PROMPTS_FILE, true};
    if (has_input_text(a)) out[n++] = (cli_opt){"file", OPT_FILE, true};
    if (strcmp(name, "top") == 0) out[n++] = (cli_opt){"dump-logits", OPT_DUMP_LOGITS, true};
    if (ts_analysis_has_plot(a)) out[n++] = (cli_opt){"plot", OPT_PLOT, true};
    out[n++] = (cli_opt){"json", OPT_JSON, false};
    out[n++] = (cli_opt){"help", OPT_HELP, false};
    return n;
}

void ts_cli_field_message(const ts_analysis *a, const char *msg, char *out, size_t size)
{
    const char *colon = strstr(msg, ": ");
    if (colon && colon - msg < 64) {
        char name[64];
        memcpy(name, msg, (size_t)(colon - msg));
        name[colon - msg] = '\0';
        const ts_field_info *f = ts_analysis_find_field(a, name);
        if (f && strcmp(f->name, name) == 0) {
            char dashed[64];
            size_t i = 0;
            for (; name[i] && i + 1 < sizeof dashed; i++)
                dashed[i] = name[i] == '_' ? '-' : name[i];
            dashed[i] = '\0';
            snprintf(out, size, "option --%s: %s", dashed, colon + 2);
            return;
        }
    }
    snprintf(out, size, "%s", msg);
}

int ts_cli_exit_code(ts_status st)
{
    return st == TS_ERR_NOMEM || st == TS_ERR_NETWORK || st == TS_ERR_BUSY ? TS_EXIT_FAIL
                                                                           : TS_EXIT_USAGE;
}

/* The did-you-mean hint for an unknown option name (without dashes), or "". */
static void suggest(const ts_analysis *a, const cli_opt *opts, size_t n_opts, const char *name,
                    char *out, size_t size)
{
    out[0] = '\0';
    const char *best = ts_analysis_suggest_field(a, name);
    char dashed[64] = "";
    if (best) {
        size_t i = 0;
        for (; best[i] && i + 1 < sizeof dashed; i++)
            dashed[i] = best[i] == '_' ? '-' : best[i];
        dashed[i] = '\0';
    }
    /* The CLI's own options compete on plain edit distance of their spelling. */
    for (size_t i = 0; !best && i < n_opts; i++) {
        size_t la = strlen(name), lb = strlen(opts[i].name);
        if ((la == lb && strncmp(name, opts[i].name, la - (la > 3)) == 0) ||
            (la + 1 == lb && strncmp(name, opts[i].name, la) == 0))
            snprintf(dashed, sizeof dashed, "%s", opts[i].name);
    }
    if (dashed[0]) snprintf(out, size, " (did you mean --%s?)", dashed);
}

/* A whole stream into a malloc'd buffer (NUL-terminated). */
static bool read_stream(FILE *f, char **data, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return false;
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return false;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return false;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return true;
}

/* FILE or "-" (stdin) into a buffer; prints the error naming the option. */
static bool read_input(const char *opt, const char *path, char **data, size_t *len)
{
    if (strcmp(path, "-") == 0) {
        if (read_stream(stdin, data, len)) return true;
        ts_cli_error("option --%s: cannot read standard input: %s", opt, strerror(errno));
        return false;
    }
    char err[TS_ERR_SIZE] = "";
    if (ts_read_file(path, data, len, err, sizeof err) == TS_OK) return true;
    ts_cli_error("option --%s: %s", opt, err);
    return false;
}

/* Standard input holds data for us: a pipe or a file, not a terminal or /dev/null. */
static bool stdin_has_input(void)
{
    struct stat st;
    if (isatty(STDIN_FILENO) || fstat(STDIN_FILENO, &st) != 0) return false;
    return S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode);
}

/* One trailing newline ("\n" or "\r\n") off: echo and editors add one. */
static size_t chomp(const char *s, size_t n)
{
    if (n && s[n - 1] == '\n') n--;
    if (n && s[n - 1] == '\r') n--;
    return n;
}

static bool set_field(ts_request *r, const char *field, const char *value)
{
    char err[TS_ERR_SIZE] = "", msg[TS_ERR_SIZE + 64];
    ts_status st = ts_request_set(r, field, value, err, sizeof err);
    if (st == TS_OK) return true;
    ts_cli_field_message(ts_request_analysis(r), err, msg, sizeof msg);
    ts_cli_error("%s", msg);
    return false;
}

static bool set_bytes(ts_request *r, const char *field, const char *opt, const char *data,
                      size_t len)
{
    char err[TS_ERR_SIZE] = "";
    if (ts_request_set_bytes(r, field, data, len, err, sizeof err) == TS_OK) return true;
    if (strstr(err, "given twice"))
        ts_cli_error("option --%s: the %s is given twice (once as --%s and once elsewhere)", opt,
                     field, opt);
    else
        ts_cli_error("option --%s: %s", opt, err);
    return false;
}

/*
 * Prompts from a file: one per line (blank lines skipped), or JSON Lines with
 * "prompt" and an optional "label" when the first line starts with '{'.
 */
/* Append one item verbatim (a prompt or label may hold commas). */
static bool append_item(ts_request *r, const char *field, const char *value)
{
    char err[TS_ERR_SIZE] = "", msg[TS_ERR_SIZE + 64];
    if (ts_request_append(r, field, value, err, sizeof err) == TS_OK) return true;
    ts_cli_field_message(ts_request_analysis(r), err, msg, sizeof msg);
    ts_cli_error("%s", msg);
    return false;
}

static bool set_prompts_text(ts_request *r, char *data, const char *path)
{
    const char *pfield =
        ts_analysis_find_field(ts_request_analysis(r), "prompts") ? "prompts" : "prompt";
    bool jsonl = false, ok = true;
    size_t n = 0, n_labels = 0, line = 0;
    for (char *p = data, *next; ok && p && *p; p = next) {
        char *nl = strchr(p, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        line++;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[--l] = '\0';
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '\0') continue;
        if (n == 0) jsonl = *q == '{';
        if (!jsonl) {
            ok = append_item(r, pfield, p);
            n++;
            continue;
        }
        cJSON *o = cJSON_Parse(q);
        const cJSON *pr = o ? cJSON_GetObjectItemCaseSensitive(o, "prompt") : NULL;
        const cJSON *lb = o ? cJSON_GetObjectItemCaseSensitive(o, "label") : NULL;
        if (!cJSON_IsObject(o) || !cJSON_IsString(pr) || (lb && !cJSON_IsString(lb))) {
            ts_cli_error("option --prompts-file: %s:%zu: expected {\"prompt\": \"...\", "
                         "\"label\": \"...\"} (JSON Lines)",
                         path, line);
            ok = false;
        } else {
            ok = append_item(r, pfield, pr->valuestring);
            if (ok && lb) {
                if (n_labels != n) {
                    ts_cli_error("option --prompts-file: %s:%zu: give a label on every line or "
                                 "on none",
                                 path, line);
                    ok = false;
                } else {
                    ok = append_item(r, "labels", lb->valuestring);
                    n_labels++;
                }
            }
            n++;
        }
        cJSON_Delete(o);
    }
    if (ok && n == 0) {
        ts_cli_error("option --prompts-file: %s has no prompts", path);
        return false;
    }
    if (ok && n_labels && n_labels != n) {
        ts_cli_error("option --prompts-file: %s: give a label on every line or on none", path);
        return false;
    }
    return ok;
}

/*
 * Prompts from a file: one per line (blank lines skipped), or JSON Lines with
 * "prompt" and an optional "label" when the first line starts with '{'.
 */
static bool set_prompts_file(ts_request *r, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (!read_input("prompts-file", path, &data, &len)) return false;
    bool ok = set_prompts_text(r, data, strcmp(path, "-") == 0 ? "standard input" : path);
    free(data);
    return ok;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return false;
    return true;
}

/* ---- progress (calibrate's scoring pass) ---------------------------------- */

typedef struct run_state {
    bool progress_tty;
} run_state;

static int on_event(const ts_event *ev, void *user)
{
    run_state *rs = user;
    if (ev->kind == TS_EV_PROGRESS && rs->progress_tty) {
        int width = 40;
        int fill = ev->total ? (int)((double)ev->done / (double)ev->total * width) : width;
        fprintf(stderr, "\r  [%.*s%*s] %zu / %zu", fill, "########################################",
                width - fill, "", ev->done, ev->total);
        if (ev->done == ev->total) fputc('\n', stderr);
        fflush(stderr);
    }
    return 0;
}

/* ---- the runner ----------------------------------------------------------- */

int ts_cli_run_analysis(const ts_analysis *a, int argc, char **argv)
{
    const char *cmd = ts_analysis_name(a);
    cli_opt opts[16];
    size_t n_opts = cli_options(a, opts);
    cli_args ca;
    memset(&ca, 0, sizeof ca);
    ca.pos = calloc((size_t)argc + 1, sizeof *ca.pos);
    ts_request *req = NULL;
    ts_session *session = NULL;
    ts_result *res = NULL;
    ts_doc *doc = NULL;
    char err[TS_ERR_SIZE] = "", msg[TS_ERR_SIZE + 64];
    int rc = TS_EXIT_USAGE;
    if (!ca.pos || ts_request_new(a, &req, err, sizeof err) != TS_OK) {
        free(ca.pos);
        return ts_cli_error("out of memory"), TS_EXIT_FAIL;
    }
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || arg[1] == '\0' ||
            (arg[1] != '-' && (arg[1] == '.' || (arg[1] >= '0' && arg[1] <= '9')))) {
            ca.pos[ca.n_pos++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0) {
            ts_cli_analysis_help(a, stdout);
            rc = TS_EXIT_OK;
            goto out;
        }
        if (arg[1] != '-') {
            ts_cli_error("%s: unrecognized option '%s' (see 'tempscale help %s')", cmd, arg, cmd);
            goto out;
        }
        char name[128];
        const char *eq = strchr(arg + 2, '=');
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, arg + 2, nl);
        name[nl] = '\0';
        const cli_opt *co = NULL;
        for (size_t k = 0; k < n_opts; k++)
            if (strcmp(opts[k].name, name) == 0) co = &opts[k];
        const ts_field_info *f = co || strchr(name, '_') ? NULL : ts_analysis_find_field(a, name);
        if (f && (f->flags & TS_FIELD_HIDDEN)) f = NULL;
        if (!co && !f) {
            char hint[96];
            suggest(a, opts, n_opts, name, hint, sizeof hint);
            ts_cli_error("%s: unrecognized option '--%s'%s (see 'tempscale help %s')", cmd, name,
                         hint, cmd);
            goto out;
        }
        bool takes_value = co ? co->takes_value : f->type != TS_FIELD_BOOL;
        const char *value = NULL;
        if (!takes_value && eq) {
            ts_cli_error("%s: option '--%s' takes no value (see 'tempscale help %s')", cmd, name,
                         cmd);
            goto out;
        }
        if (takes_value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                ts_cli_error("%s: option '--%s' needs a value (see 'tempscale help %s')", cmd, name,
                             cmd);
                goto out;
            }
        }
        if (f) {
            if (!set_field(req, f->name, value)) goto out;
            continue;
        }
        const char **slot = NULL;
        switch (co->id) {
        case OPT_HELP:
            ts_cli_analysis_help(a, stdout);
            rc = TS_EXIT_OK;
            goto out;
        case OPT_JSON:
            if (ca.json) {
                ts_cli_error("option --json: given twice (give each option once)");
                goto out;
            }
            ca.json = true;
            continue;
        case OPT_MODEL:
            slot = &ca.model;
            break;
        case OPT_WEIGHTS:
            slot = &ca.weights;
            break;
        case OPT_WEIGHTS_MEMORY:
            slot = &ca.weights_memory;
            break;
        case OPT_TOKENIZER:
            slot = &ca.tokenizer;
            break;
        case OPT_PLOT:
            slot = &ca.plot;
            break;
        case OPT_PROMPT_FILE:
            slot = &ca.prompt_file;
            break;
        case OPT_PROMPTS_FILE:
            slot = &ca.prompts_file;
            break;
        case OPT_FILE:
            slot = &ca.file;
            break;
        case OPT_DUMP_LOGITS:
            slot = &ca.dump_logits;
            break;
        }
        if (*slot) {
            ts_cli_error("option --%s: given twice (give each option once)", name);
            goto out;
        }
        *slot = value;
    }

    /* ---- inputs: positional arguments, files, standard input -------------- */
    const char *name = cmd;
    bool prompt_field = has_field(a, "prompt", TS_FIELD_STRING);
    bool prompt_list = has_field(a, "prompt", TS_FIELD_STRINGS);
    /* Arguments and piped input go to "text" where there is one (tokenize, trace). */
    bool text_field = has_input_text(a);
    if (text_field) prompt_field = false;
    if (ca.n_pos && !prompt_field && !prompt_list && !text_field) {
        ts_cli_error("%s: unexpected argument '%s' (see 'tempscale help %s')", cmd, ca.pos[0], cmd);
        goto out;
    }
    if (ca.model && ca.model[0] == '\0') {
        ts_cli_error("option --model: empty (give a checkpoint directory or a Hugging Face repo "
                     "id, or leave --model out for the bundled model)");
        goto out;
    }
    if (ca.n_pos && (prompt_field || text_field)) {
        /* Several arguments are one text, joined with spaces (like echo). */
        size_t total = 0;
        for (size_t i = 0; i < ca.n_pos; i++)
            total += strlen(ca.pos[i]) + 1;
        char *joined = malloc(total);
        if (!joined) {
            ts_cli_error("out of memory");
            rc = TS_EXIT_FAIL;
            goto out;
        }
        size_t len = 0;
        for (size_t i = 0; i < ca.n_pos; i++) {
            size_t l = strlen(ca.pos[i]);
            if (i) joined[len++] = ' ';
            memcpy(joined + len, ca.pos[i], l);
            len += l;
        }
        bool ok = set_bytes(req, text_field ? "text" : "prompt", text_field ? "text" : "prompt",
                            joined, len);
        free(joined);
        if (!ok) goto out;
    }
    if (ca.n_pos && prompt_list)
        for (size_t i = 0; i < ca.n_pos; i++)
            if (!set_field(req, "prompt", ca.pos[i])) goto out;
    if (ca.file) {
        if (ca.n_pos || ts_request_is_set(req, "text")) {
            ts_cli_error("%s: give either --file PATH or TEXT, not both", cmd);
            goto out;
        }
        char *data = NULL;
        size_t len = 0;
        if (!read_input("file", ca.file, &data, &len)) goto out;
        bool ok = set_bytes(req, "text", "file", data, len);
        free(data);
        if (!ok) goto out;
    }
    if (ca.prompt_file) {
        char *data = NULL;
        size_t len = 0;
        if (!read_input("prompt-file", ca.prompt_file, &data, &len)) goto out;
        bool ok = set_bytes(req, "prompt", "prompt-file", data, chomp(data, len));
        free(data);
        if (!ok) goto out;
    }
    if (ca.prompts_file) {
        if (ts_request_is_set(req, "prompt") || ts_request_is_set(req, "ids")) {
            ts_cli_error("option --prompts-file: give either prompts on the command line or "
                         "--prompts-file, not both");
            goto out;
        }
        if (!set_prompts_file(req, ca.prompts_file)) goto out;
    }
    /* Nothing given and something piped in: that is the input. */
    bool have_input = ts_request_is_set(req, "prompt") || ts_request_is_set(req, "ids") ||
                      ts_request_is_set(req, "text") ||
                      (ts_analysis_find_field(a, "prompts") && ts_request_is_set(req, "prompts"));
    if (!have_input && (prompt_field || prompt_list || text_field) && stdin_has_input()) {
        char *data = NULL;
        size_t len = 0;
        if (!read_stream(stdin, &data, &len)) {
            ts_cli_error("cannot read standard input: %s", strerror(errno));
            goto out;
        }
        bool ok = true;
        /* Empty input (a closed pipe, an empty file) means none: the defaults apply. */
        if (text_field)
            ok = set_bytes(req, "text", "text", data, len);
        else if (blank(data, len))
            ;
        else if (prompt_list)
            ok = set_prompts_text(req, data, "standard input");
        else
            ok = set_bytes(req, "prompt", "prompt", data, chomp(data, len));
        free(data);
        if (!ok) goto out;
    }
    if (strcmp(name, "tokenize") == 0 && !ts_request_is_set(req, "text")) {
        ts_cli_error("tokenize: no text (give TEXT, --file PATH, or pipe text on stdin; see "
                     "'tempscale help tokenize')");
        goto out;
    }

    /* ---- outputs are checked before any work -------------------------------- */
    if (ca.plot && !ts_cli_check_output("plot", ca.plot, true)) goto out;
    if (ca.dump_logits && !ts_cli_check_output("dump-logits", ca.dump_logits, false)) goto out;

    /* ---- the session --------------------------------------------------------- */
    ts_needs needs = ts_request_needs(req);
    if (ca.model && needs == TS_NEEDS_NOTHING) {
        ts_cli_error("option --model: %s only uses a model with --text (the language model "
                     "mode)",
                     cmd);
        goto out;
    }
    if (needs >= TS_NEEDS_TOKENIZER) {
        char dir[4096];
        if (!ts_cli_resolve_model(ca.model, dir, sizeof dir)) goto out;
        ts_session_params sp = ts_session_default_params();
        sp.model_dir = dir;
        sp.tokenizer_only = needs == TS_NEEDS_TOKENIZER;
        char tdir[4096];
        if (ca.tokenizer) {
            /* A directory, a bundled model's or a cached repo's: the same resolution as --model. */
            if (!ts_cli_resolve_model(ca.tokenizer, tdir, sizeof tdir)) goto out;
            sp.tokenizer_dir = tdir;
        }
        if (ca.weights && !ts_weights_type_parse(ca.weights, &sp.weights)) {
            ts_cli_error("option --weights: unknown type '%s' (expected stored, f32, f16, bf16 or "
                         "q8_0)",
                         ca.weights);
            goto out;
        }
        if (ca.weights_memory && !ts_weights_memory_parse(ca.weights_memory, &sp.memory)) {
            ts_cli_error("option --weights-memory: '%s' is not one of auto, mapped, copy",
                         ca.weights_memory);
            goto out;
        }
        ts_status st = ts_session_open(&sp, &session, err, sizeof err);
        if (st != TS_OK) {
            bool no_tokenizer = !ca.tokenizer && (strstr(err, "vocab.json: No such file") ||
                                                  strstr(err, "merges.txt: No such file"));
            if (no_tokenizer)
                ts_cli_error("%s (a checkpoint without GPT-2's tokenizer files: give them with "
                             "--tokenizer DIR)",
                             err);
            else
                ts_cli_error("%s", err[0] ? err : ts_status_str(st));
            rc = ts_cli_exit_code(st);
            goto out;
        }
    }
    uint64_t seed;
    bool drew_seed = ts_request_ensure_seed(req, &seed);

    /* ---- run, streaming the document to the terminal -------------------------- */
    ts_term term = {stdout, ts_cli_use_color(stdout), false};
    run_state rs = {isatty(STDERR_FILENO) != 0};
    ts_run_opts ro = {on_event, &rs, NULL, -1};
    if (!ca.json) {
        doc = ts_doc_new();
        if (!doc) {
            rc = TS_EXIT_FAIL;
            ts_cli_error("out of memory");
            goto out;
        }
        ts_doc_set_keep(doc, false);
        ts_doc_set_listener(doc, ts_term_block, &term);
        ro.live_doc = doc;
    }
    ts_status st = ts_request_run(req, session, &ro, &res, err, sizeof err);
    if (st != TS_OK) {
        fflush(stdout);
        ts_cli_field_message(a, err, msg, sizeof msg);
        ts_cli_error("%s", msg);
        rc = ts_cli_exit_code(st);
        goto out;
    }
    rc = TS_EXIT_OK;
    /* After the run, so that bad input still gets exactly one line. */
    if (drew_seed)
        fprintf(stderr, "tempscale: seed %llu (pass --seed %llu to repeat this run)\n",
                (unsigned long long)seed, (unsigned long long)seed);
    if (ca.json) {
        char *js = ts_result_json(res);
        if (!js) {
            rc = TS_EXIT_FAIL;
            ts_cli_error("out of memory");
            goto out;
        }
        fputs(js, stdout);
        fputc('\n', stdout);
        free(js);
    } else if (ts_result_doc(res, doc, true) != TS_OK) {
        rc = TS_EXIT_FAIL;
        ts_cli_error("out of memory");
    }
    fflush(stdout);
    for (size_t i = 0; i < ts_result_n_warnings(res); i++) {
        ts_cli_field_message(a, ts_result_warning(res, i), msg, sizeof msg);
        ts_cli_warn("%s", msg);
    }
    for (size_t i = 0; ca.plot && i < ts_result_n_figures(res); i++) {
        /* Figure 0 at FILE; figure i at FILE with "-<name>" before the extension. */
        char path[4200];
        const char *dot = strrchr(ca.plot, '.');
        if (i == 0 || !dot)
            snprintf(path, sizeof path, "%s", ca.plot);
        else
            snprintf(path, sizeof path, "%.*s-%s%s", (int)(dot - ca.plot), ca.plot,
                     ts_result_figure_name(res, i), dot);
        st = ts_result_plot_figure(res, i, path, err, sizeof err);
        if (st != TS_OK) {
            ts_cli_error("option --plot: %s", err);
            rc = ts_cli_exit_code(st);
            goto out;
        }
        fprintf(stderr, "tempscale: wrote %s\n", path);
    }
    if (ca.dump_logits) {
        size_t n = 0;
        const float *z = ts_result_logits(res, &n);
        size_t shape[1] = {n};
        st = z ? ts_npy_write_f32(ca.dump_logits, z, 1, shape, err, sizeof err) : TS_ERR_INVALID;
        if (st != TS_OK) {
            ts_cli_error("option --dump-logits: %s", err);
            rc = ts_cli_exit_code(st);
            goto out;
        }
        fprintf(stderr, "tempscale: wrote %s\n", ca.dump_logits);
    }
out:
    ts_result_free(res);
    ts_doc_free(doc);
    ts_session_free(session);
    ts_request_free(req);
    free(ca.pos);
    return rc;
}
