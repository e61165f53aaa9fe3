/*
 * util.c — the CLI's shared helpers: error lines, option value parsing,
 * terminal detection, random seeds.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "tempscale: <kind>: <message>\n" on stderr. */
static void report(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "tempscale: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int ts_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("error", fmt, ap);
    va_end(ap);
    return TS_EXIT_USAGE;
}

void ts_cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("warning", fmt, ap);
    va_end(ap);
}

int ts_cli_bad_option(const char *cmd, char **argv)
{
    extern int optind, optopt;
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    int name_len = (int)strcspn(arg, "="); /* "--name=value" -> "--name" */
    if (strncmp(arg, "--", 2) != 0)
        return ts_cli_error("%s: unrecognized option '-%c' (see 'tempscale help %s')", cmd,
                            optopt ? optopt : '?', cmd);
    if (optopt && arg[name_len] == '=')
        return ts_cli_error("%s: option '%.*s' takes no value (see 'tempscale help %s')", cmd,
                            name_len, arg, cmd);
    if (optopt)
        return ts_cli_error("%s: option '%s' needs a value (see 'tempscale help %s')", cmd, arg,
                            cmd);
    return ts_cli_error("%s: unrecognized option '%.*s' (see 'tempscale help %s')", cmd, name_len,
                        arg, cmd);
}

bool ts_cli_parse_double(const char *opt, const char *s, double *out)
{
    while (*s == ' ')
        s++;
    if (strcasecmp(s, "inf") == 0 || strcasecmp(s, "+inf") == 0 || strcasecmp(s, "infinity") == 0) {
        *out = INFINITY;
        return true;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (end && *end == ' ')
        end++;
    if (end == s || *end != '\0') {
        ts_cli_error("option --%s: '%s' is not a number", opt, s);
        return false;
    }
    if (isnan(v)) {
        ts_cli_error("option --%s: NaN is not allowed", opt);
        return false;
    }
    *out = v;
    return true;
}

bool ts_cli_parse_long(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0') {
        ts_cli_error("option --%s: '%s' is not an integer", opt, s);
        return false;
    }
    if (errno == ERANGE || v < min || v > max) {
        ts_cli_error("option --%s: %s is out of range [%ld, %ld]", opt, s, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool ts_cli_parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-') {
        ts_cli_error("option --%s: '%s' must be a non-negative integer", opt, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) {
        ts_cli_error("option --%s: '%s' is not a non-negative integer", opt, s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* Split s on commas, calling parse for every item; shared by the list parsers. */
static bool parse_list(const char *opt, const char *s, void **out, size_t *n, size_t elem,
                       bool (*parse)(const char *opt, const char *item, void *dst))
{
    *out = NULL;
    *n = 0;
    size_t count = 1;
    for (const char *p = s; *p; p++)
        count += (*p == ',');
    char *copy = strdup(s);
    unsigned char *arr = calloc(count, elem);
    if (!copy || !arr) {
        free(copy);
        free(arr);
        ts_cli_error("out of memory");
        return false;
    }
    size_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok == '\0') continue;
        if (!parse(opt, tok, arr + k * elem)) {
            free(copy);
            free(arr);
            return false;
        }
        k++;
    }
    free(copy);
    if (k == 0) {
        free(arr);
        ts_cli_error("option --%s: empty list", opt);
        return false;
    }
    *out = arr;
    *n = k;
    return true;
}

static bool parse_double_item(const char *opt, const char *item, void *dst)
{
    return ts_cli_parse_double(opt, item, dst);
}

static bool parse_float_item(const char *opt, const char *item, void *dst)
{
    double v;
    if (!ts_cli_parse_double(opt, item, &v)) return false;
    *(float *)dst = (float)v;
    return true;
}

static bool parse_id_item(const char *opt, const char *item, void *dst)
{
    long v;
    if (!ts_cli_parse_long(opt, item, 0, INT32_MAX, &v)) return false;
    *(int32_t *)dst = (int32_t)v;
    return true;
}

bool ts_cli_parse_double_list(const char *opt, const char *s, double **out, size_t *n)
{
    return parse_list(opt, s, (void **)out, n, sizeof **out, parse_double_item);
}

bool ts_cli_parse_float_list(const char *opt, const char *s, float **out, size_t *n)
{
    return parse_list(opt, s, (void **)out, n, sizeof **out, parse_float_item);
}

bool ts_cli_parse_id_list(const char *opt, const char *s, int32_t **out, size_t *n)
{
    return parse_list(opt, s, (void **)out, n, sizeof **out, parse_id_item);
}

bool ts_cli_check_output(const char *opt, const char *path, bool figure)
{
    size_t n = strlen(path);
    if (figure && !(n > 4 && (strcasecmp(path + n - 4, ".png") == 0 ||
                              strcasecmp(path + n - 4, ".svg") == 0 ||
                              strcasecmp(path + n - 4, ".pdf") == 0))) {
        ts_cli_error("option --%s: %s: unknown figure format (expected a .png, .svg or .pdf file "
                     "name)",
                     opt, path);
        return false;
    }
    struct stat st;
    if (n == 0 || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        ts_cli_error("option --%s: '%s' is a directory, not a file name", opt, path);
        return false;
    }
    /* The directory it goes in: everything up to the last '/', "/" or ".". */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t dn = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    if (dn >= sizeof dir) {
        ts_cli_error("option --%s: path too long", opt);
        return false;
    }
    memcpy(dir, slash ? path : ".", dn);
    dir[dn] = '\0';
    if (access(dir, W_OK) != 0) {
        ts_cli_error("option --%s: cannot write %s: %s", opt, path, strerror(errno));
        return false;
    }
    return true;
}

void ts_cli_buf_put(ts_cli_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

bool ts_cli_use_color(FILE *f)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && nc[0]) return false;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0) return false;
    return isatty(fileno(f));
}

uint64_t ts_cli_random_seed(void)
{
    uint64_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &seed, sizeof seed) != (ssize_t)sizeof seed) seed = 0;
        close(fd);
    }
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    /* Keep seeds short enough to retype: 0 .. 2^32-1. */
    return seed & 0xffffffffull;
}
