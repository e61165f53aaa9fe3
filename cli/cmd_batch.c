/*
 * cmd_batch.c — `tempscale batch IN.jsonl [-o OUT.jsonl]`: requests in the
 * OpenAI Batch API format, one JSON object per line,
 *     {"custom_id": "r1", "method": "POST", "url": "/v1/completions", "body": {...}}
 * answered by ts_api_handle (the very handler `tempscale serve` uses), one
 * output line per input line, in input order:
 *     {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}
 * A line that cannot be read becomes an error line ("response": null, "error":
 * {"code", "message": "line N: ..."}), never an abort.
 *
 * Crash safety: every output line goes out in one write(2) on an O_APPEND
 * file as soon as it and all lines before it are answered. A rerun with the
 * same -o first drops a torn last line, then skips every custom_id (or, for
 * lines without one, every line number) already answered — so a run killed
 * at any point loses nothing and repeats nothing. Ctrl-C finishes the lines
 * in flight, writes them, and exits 130.
 * docs/batch.md shows how to shard one input over many machines.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale batch IN.jsonl [-o OUT.jsonl] [--model DIR] [--parallel N] [--quiet]\n"
        "\n"
        "Answer a file of requests in the OpenAI Batch API format, one JSON object per line:\n"
        "  {\"custom_id\": \"r1\", \"method\": \"POST\", \"url\": \"/v1/completions\",\n"
        "   \"body\": {\"prompt\": \"ROMEO:\", \"max_tokens\": 16, \"temperature\": 0.7}}\n"
        "url is /v1/completions (OpenAI's fields) or a native analysis: /api/top, /api/sweep,\n"
        "/api/sample, /api/generate, /api/compare, /api/tokenize, /api/softmax (the same\n"
        "fields and the same JSON as the command's --json). Each output line is\n"
        "  {\"id\", \"custom_id\", \"response\": {\"status_code\", \"request_id\", \"body\"}, \"error\"}\n"
        "in input order; a line that cannot be read gets \"error\": {\"code\", \"message\"}.\n"
        "\n"
        "Output is appended and flushed line by line. Rerunning with the same -o skips\n"
        "every custom_id already answered, so an interrupted run (crash, kill, Ctrl-C)\n"
        "resumes where it stopped. docs/batch.md: sharding over many machines.\n"
        "\n"
        "Options:\n"
        "  -o, --output FILE    append the answers to FILE (default: standard output, no resume)\n"
        "  --model DIR          checkpoint directory or repo id (default: the bundled model)\n"
        "  --parallel N         requests answered at once, each on its own context (default 1)\n"
        "  --quiet              no progress bar (it is only drawn on a terminal)\n"
        "  -h, --help           this help\n"
        "\n"
        "Example:\n"
        "  tempscale batch requests.jsonl -o answers.jsonl --parallel 2\n");
}

/* ---- the set of answered keys (custom_ids and line numbers) ----------------- */

typedef struct keyset {
    char **keys;
    size_t cap, n;
} keyset;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static bool keyset_has(const keyset *k, const char *s)
{
    if (!k->cap) return false;
    for (size_t i = hash_str(s) & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
        if (!k->keys[i]) return false;
        if (strcmp(k->keys[i], s) == 0) return true;
    }
}

static bool keyset_add(keyset *k, const char *s)
{
    if (keyset_has(k, s)) return true;
    if (2 * (k->n + 1) > k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1024;
        char **keys = calloc(cap, sizeof *keys);
        if (!keys) return false;
        for (size_t i = 0; i < k->cap; i++) {
            if (!k->keys[i]) continue;
            size_t j = hash_str(k->keys[i]) & (cap - 1);
            while (keys[j]) j = (j + 1) & (cap - 1);
            keys[j] = k->keys[i];
        }
        free(k->keys);
        k->keys = keys;
        k->cap = cap;
    }
    char *c = strdup(s);
    if (!c) return false;
    size_t j = hash_str(s) & (k->cap - 1);
    while (k->keys[j]) j = (j + 1) & (k->cap - 1);
    k->keys[j] = c;
    k->n++;
    return true;
}

static void keyset_free(keyset *k)
{
    for (size_t i = 0; i < k->cap; i++) free(k->keys[i]);
    free(k->keys);
}

/* The key of an output line: its custom_id, or "#<line>" for a line that had none. */
static void line_key(char *out, size_t size, const char *custom_id, size_t line)
{
    if (custom_id)
        snprintf(out, size, "c:%s", custom_id);
    else
        snprintf(out, size, "#%zu", line);
}

/*
 * Read what an earlier run answered: drop a torn last line (no '\n'), then
 * collect every answered key. false after printing an error.
 */
static bool load_done(const char *path, keyset *done, size_t *n_done)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        if (errno == ENOENT) return true;
        ts_cli_error("option --output: %s: %s", path, strerror(errno));
        return false;
    }
    close(fd);
    char *data = NULL;
    size_t len = 0;
    char err[TS_ERR_SIZE] = "";
    if (ts_read_file(path, &data, &len, err, sizeof err) != TS_OK) {
        ts_cli_error("option --output: %s", err);
        return false;
    }
    size_t keep = len;
    while (keep > 0 && data[keep - 1] != '\n') keep--;
    if (keep != len && truncate(path, (off_t)keep) != 0) {
        ts_cli_error("option --output: %s: cannot drop the torn last line: %s", path,
                     strerror(errno));
        free(data);
        return false;
    }
    bool ok = true;
    for (size_t start = 0; start < keep && ok;) {
        char *nl = memchr(data + start, '\n', keep - start);
        *nl = '\0';
        cJSON *o = cJSON_Parse(data + start);
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(o, "custom_id");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        char key[1100];
        if (cJSON_IsString(cid)) {
            line_key(key, sizeof key, cid->valuestring, 0);
            ok = keyset_add(done, key);
        } else if (cJSON_IsString(id) && strncmp(id->valuestring, "batch_req_", 10) == 0) {
            line_key(key, sizeof key, NULL, (size_t)strtoull(id->valuestring + 10, NULL, 10));
            ok = keyset_add(done, key);
        }
        (*n_done)++;
        cJSON_Delete(o);
        start = (size_t)(nl - data) + 1;
    }
    free(data);
    if (!ok) ts_cli_error("out of memory");
    return ok;
}

/* ---- one line --------------------------------------------------------------- */

typedef struct item {
    size_t line;   /* 1-based */
    char *text;    /* the input line (points into the input buffer) */
    char *answer;  /* the output line, once done */
} item;

static char *error_line(size_t line, const char *custom_id, const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    char id[40];
    snprintf(id, sizeof id, "batch_req_%06zu", line);
    cJSON_AddStringToObject(o, "id", id);
    if (custom_id)
        cJSON_AddStringToObject(o, "custom_id", custom_id);
    else
        cJSON_AddNullToObject(o, "custom_id");
    cJSON_AddNullToObject(o, "response");
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    char *m = malloc(strlen(msg) + 32);
    if (m) snprintf(m, strlen(msg) + 32, "line %zu: %s", line, msg);
    cJSON_AddStringToObject(e, "message", m ? m : msg);
    free(m);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Answer one input line; returns the output line (malloc'd) or NULL when out of memory. */
static char *answer(ts_session *s, size_t line, const char *text, const char *custom_id_checked)
{
    cJSON *in = cJSON_Parse(text);
    if (!in || !cJSON_IsObject(in)) {
        cJSON_Delete(in);
        return error_line(line, NULL, "invalid_json", "not a JSON object");
    }
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(in, "custom_id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(in, "method");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(in, "url");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(in, "body");
    const char *custom_id = cJSON_IsString(cid) ? cid->valuestring : NULL;
    char *out = NULL;
    if (!custom_id)
        out = error_line(line, NULL, "missing_custom_id", "custom_id: expected a string");
    else if (custom_id_checked)
        out = error_line(line, custom_id, "duplicate_custom_id", custom_id_checked);
    else if (!cJSON_IsString(method))
        out = error_line(line, custom_id, "invalid_method", "method: expected \"POST\" or \"GET\"");
    else if (!cJSON_IsString(url))
        out = error_line(line, custom_id, "invalid_url", "url: expected a string");
    else if (body && !cJSON_IsObject(body))
        out = error_line(line, custom_id, "invalid_body", "body: expected a JSON object");
    if (out) {
        cJSON_Delete(in);
        return out;
    }
    char *body_text = body ? cJSON_PrintUnformatted(body) : NULL;
    ts_api_response r;
    ts_api_opts ao = {NULL, NULL, -1, NULL};
    ts_api_handle(s, method->valuestring, url->valuestring, body_text ? body_text : "{}",
                  body_text ? strlen(body_text) : 2, &ao, &r);
    free(body_text);
    cJSON *o = cJSON_CreateObject();
    char id[40];
    snprintf(id, sizeof id, "batch_req_%06zu", line);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "custom_id", custom_id);
    cJSON *resp = cJSON_AddObjectToObject(o, "response");
    cJSON_AddNumberToObject(resp, "status_code", r.status);
    cJSON_AddStringToObject(resp, "request_id", id);
    /* The body's bytes verbatim: exactly what the server (and the CLI's --json) print. */
    cJSON_AddItemToObject(resp, "body", cJSON_CreateRaw(r.body ? r.body : "null"));
    cJSON_AddNullToObject(o, "error");
    out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ts_api_response_clear(&r);
    cJSON_Delete(in);
    return out;
}

/* ---- the run ------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct batch {
    ts_session *session;
    item *items;
    char **dup_msg;   /* [n] non-NULL: a duplicate custom_id */
    size_t n;
    size_t next;      /* next item to take */
    size_t written;   /* items [0, written) are out */
    int fd;           /* output */
    bool write_failed;
    int write_errno;
    bool progress;
    double t0;
    pthread_mutex_t mu;
} batch;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

/* Write every answered item in order (called with the mutex held). */
static void flush_ready(batch *b)
{
    while (b->written < b->n && b->items[b->written].answer && !b->write_failed) {
        item *it = &b->items[b->written];
        size_t len = strlen(it->answer);
        it->answer[len] = '\n'; /* the buffer has room: see worker() */
        if (!write_all(b->fd, it->answer, len + 1)) {
            b->write_failed = true;
            b->write_errno = errno;
        }
        free(it->answer);
        it->answer = (char *)1; /* done marker */
        b->written++;
    }
    if (b->progress) {
        double dt = now() - b->t0, rate = dt > 0 ? (double)b->written / dt : 0;
        int width = 30, fill = (int)((double)b->written / (double)b->n * width);
        fprintf(stderr, "\r  [%.*s%*s] %zu / %zu lines  %.1f lines/s", fill,
                "##############################", width - fill, "", b->written, b->n, rate);
        if (b->written == b->n) fputc('\n', stderr);
        fflush(stderr);
    }
}

static void *worker(void *arg)
{
    batch *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        size_t i = b->next < b->n && !interrupted && !b->write_failed ? b->next++ : SIZE_MAX;
        pthread_mutex_unlock(&b->mu);
        if (i == SIZE_MAX) break;
        item *it = &b->items[i];
        char *a = answer(b->session, it->line, it->text, b->dup_msg[i]);
        /* Room for the newline flush_ready appends. */
        char *line = a ? realloc(a, strlen(a) + 2) : NULL;
        if (!line) {
            free(a);
            line = error_line(it->line, NULL, "out_of_memory", "out of memory");
            char *l2 = line ? realloc(line, strlen(line) + 2) : NULL;
            if (!l2) free(line);
            line = l2;
        }
        pthread_mutex_lock(&b->mu);
        if (!line) {
            b->write_failed = true;
            b->write_errno = ENOMEM;
        }
        it->answer = line;
        flush_ready(b);
        pthread_mutex_unlock(&b->mu);
    }
    return NULL;
}

int ts_cmd_batch(int argc, char **argv)
{
    const char *in = NULL, *outp = NULL, *model = NULL;
    long parallel = 1;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return TS_EXIT_OK;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = true;
            continue;
        }
        const char **slot = NULL;
        const char *v = NULL;
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if ((nl == 2 && strncmp(a, "-o", 2) == 0) || (nl == 8 && strncmp(a, "--output", 8) == 0))
            slot = &outp;
        else if (nl == 7 && strncmp(a, "--model", 7) == 0)
            slot = &model;
        else if (nl == 10 && strncmp(a, "--parallel", 10) == 0)
            slot = &v;
        else if (a[0] == '-' && a[1] != '\0')
            return ts_cli_error("batch: unrecognized option '%.*s' (see 'tempscale help batch')",
                                (int)nl, a);
        else if (in)
            return ts_cli_error("batch: unexpected argument '%s' (one input file)", a);
        else {
            in = a;
            continue;
        }
        const char *val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!val)
            return ts_cli_error("batch: option '%.*s' needs a value (see 'tempscale help batch')",
                                (int)nl, a);
        if (slot == &v) {
            if (!ts_cli_parse_long("parallel", val, 1, 64, &parallel)) return TS_EXIT_USAGE;
            continue;
        }
        if (*slot) return ts_cli_error("option %.*s: given twice", (int)nl, a);
        *slot = val;
    }
    if (!in) return ts_cli_error("batch: no input (give IN.jsonl; see 'tempscale help batch')");

    char err[TS_ERR_SIZE] = "";
    char *data = NULL;
    size_t len = 0;
    if (strcmp(in, "-") == 0) {
        ts_cli_buf b = {0};
        char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0) ts_cli_buf_put(&b, chunk, got);
        if (b.oom || ferror(stdin)) {
            free(b.p);
            return ts_cli_error("batch: cannot read standard input");
        }
        data = b.p ? b.p : strdup("");
        len = b.n;
    } else if (ts_read_file(in, &data, &len, err, sizeof err) != TS_OK) {
        return ts_cli_error("%s", err);
    }
    keyset done = {0}, seen = {0};
    size_t n_done_before = 0;
    int rc = TS_EXIT_USAGE;
    batch b;
    memset(&b, 0, sizeof b);
    b.fd = -1;
    pthread_mutex_init(&b.mu, NULL);
    if (outp && !load_done(outp, &done, &n_done_before)) goto out;

    /* The lines still to answer. */
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += data[i] == '\n';
    b.items = calloc(n_lines, sizeof *b.items);
    b.dup_msg = calloc(n_lines, sizeof *b.dup_msg);
    if (!b.items || !b.dup_msg) {
        rc = TS_EXIT_FAIL;
        ts_cli_error("out of memory");
        goto out;
    }
    size_t line = 0, skipped = 0;
    for (char *p = data, *next; p && p < data + len; p = next) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        line++;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[--l] = '\0';
        const char *q = p;
        while (*q == ' ' || *q == '\t') q++;
        if (*q == '\0') continue; /* blank lines are not requests */
        cJSON *o = cJSON_Parse(p);
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(o, "custom_id");
        char key[1100];
        line_key(key, sizeof key, cJSON_IsString(cid) ? cid->valuestring : NULL, line);
        bool answered = keyset_has(&done, key);
        char *dup = NULL;
        if (!answered && cJSON_IsString(cid)) {
            if (keyset_has(&seen, key))
                dup = strdup("duplicate custom_id (an earlier line has it)");
            else if (!keyset_add(&seen, key)) {
                cJSON_Delete(o);
                rc = TS_EXIT_FAIL;
                ts_cli_error("out of memory");
                goto out;
            }
        }
        cJSON_Delete(o);
        if (answered) {
            skipped++;
            continue;
        }
        b.dup_msg[b.n] = dup;
        b.items[b.n].line = line;
        b.items[b.n].text = p;
        b.n++;
    }
    if (outp) {
        b.fd = open(outp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (b.fd < 0) {
            ts_cli_error("option --output: %s: %s", outp, strerror(errno));
            goto out;
        }
    } else {
        b.fd = STDOUT_FILENO;
    }
    if (skipped)
        fprintf(stderr, "tempscale: %s already answers %zu line%s; %zu to go\n", outp, skipped,
                skipped == 1 ? "" : "s", b.n);
    if (b.n == 0) {
        rc = TS_EXIT_OK;
        goto out;
    }
    char dir[4096];
    if (!ts_cli_resolve_model(model, dir, sizeof dir)) goto out;
    ts_session_params sp = ts_session_default_params();
    sp.model_dir = dir;
    sp.n_slots = (int32_t)parallel;
    ts_status st = ts_session_open(&sp, &b.session, err, sizeof err);
    if (st != TS_OK) {
        ts_cli_error("%s", err);
        rc = ts_cli_exit_code(st);
        goto out;
    }
    b.progress = !quiet && isatty(STDERR_FILENO);
    b.t0 = now();
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    pthread_t th[64];
    size_t n_th = (size_t)parallel < b.n ? (size_t)parallel : b.n, started = 0;
    for (size_t i = 0; i < n_th; i++)
        if (pthread_create(&th[i], NULL, worker, &b) == 0) started++;
    if (started == 0) worker(&b);
    for (size_t i = 0; i < started; i++) pthread_join(th[i], NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (b.write_failed) {
        ts_cli_error("batch: writing %s failed: %s (rerun to continue)", outp ? outp : "stdout",
                     strerror(b.write_errno));
        rc = TS_EXIT_FAIL;
    } else if (interrupted) {
        if (b.progress) fputc('\n', stderr);
        ts_cli_error("batch: interrupted after %zu of %zu lines; rerun the same command to "
                     "continue",
                     b.written, b.n);
        rc = 130;
    } else {
        rc = TS_EXIT_OK;
        double dt = now() - b.t0;
        if (!quiet)
            fprintf(stderr, "tempscale: %zu line%s answered in %.1f s (%.1f lines/s)%s%s\n", b.n,
                    b.n == 1 ? "" : "s", dt, dt > 0 ? (double)b.n / dt : 0.0, outp ? " -> " : "",
                    outp ? outp : "");
    }
out:
    if (b.fd >= 0 && b.fd != STDOUT_FILENO) close(b.fd);
    for (size_t i = 0; b.items && i < b.n; i++)
        if (b.items[i].answer != (char *)1) free(b.items[i].answer);
    for (size_t i = 0; b.dup_msg && i < b.n; i++) free(b.dup_msg[i]);
    free(b.items);
    free(b.dup_msg);
    ts_session_free(b.session);
    pthread_mutex_destroy(&b.mu);
    keyset_free(&done);
    keyset_free(&seen);
    free(data);
    return rc;
}
