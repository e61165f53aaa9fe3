/*
 * status.c — status names and the small error / file helpers every module uses.
 */
#include "internal.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *ts_status_str(ts_status s)
{
    switch (s) {
    case TS_OK:
        return "ok";
    case TS_ERR_INVALID:
        return "invalid argument";
    case TS_ERR_IO:
        return "I/O error";
    case TS_ERR_FORMAT:
        return "malformed input";
    case TS_ERR_NOMEM:
        return "out of memory";
    case TS_ERR_RANGE:
        return "out of range";
    case TS_ERR_UNSUPPORTED:
        return "unsupported";
    case TS_ERR_NOT_FOUND:
        return "not found";
    case TS_ERR_NETWORK:
        return "network error";
    case TS_ERR_AUTH:
        return "not authorised";
    case TS_ERR_BUSY:
        return "busy";
    }
    return "unknown error";
}

/*
 * Copy len bytes of raw into out (out_size > 0, NUL-terminated) with every
 * byte that could drive a terminal written as \xNN: C0, DEL, the C1 range
 * U+0080..U+009F and bytes that are not UTF-8. Stops before a piece that does
 * not fit.
 */
static void escape_into(char *out, size_t out_size, const char *raw, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)raw;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t seq = 1;
        int32_t cp = s[i];
        bool escape;
        if (s[i] < 0x80) {
            escape = s[i] < 0x20 || s[i] == 0x7f;
        } else {
            ts_utf8_scan r = ts_utf8_classify(s + i, len - i, &seq, &cp);
            escape = r != TS_UTF8_COMPLETE || (cp >= 0x80 && cp <= 0x9f);
            if (r != TS_UTF8_COMPLETE) seq = 1;
        }
        size_t need = escape ? 4 * seq : seq;
        if (o + need > out_size - 1) break;
        for (size_t k = 0; k < seq; k++) {
            unsigned char c = s[i + k];
            if (escape) {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            } else {
                out[o++] = (char)c;
            }
        }
        i += seq;
    }
    out[o] = '\0';
}

ts_status ts_errorf(char *err, size_t err_size, ts_status status, const char *fmt, ...)
{
    if (!err || err_size == 0) return status;
    char raw[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
    escape_into(err, err_size, raw, len);
    return status;
}

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "a special file";
}

ts_status ts_open_regular(const char *path, uint64_t max_bytes, int *fd_out, uint64_t *size,
                          char *err, size_t err_size)
{
    *fd_out = -1;
    *size = 0;
    /* stat() first (it follows symlinks): a device or FIFO is never opened. */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: not a regular file (%s)", path,
                         file_kind(sb.st_mode));
    /* O_NONBLOCK: should the path be swapped for a FIFO meanwhile, open does not block. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return ts_errorf(err, err_size, TS_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat fb;
    if (fstat(fd, &fb) != 0 || !S_ISREG(fb.st_mode) || fb.st_dev != sb.st_dev ||
        fb.st_ino != sb.st_ino) {
        close(fd);
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: not a regular file (changed while opened)",
                         path);
    }
    if ((uint64_t)fb.st_size > max_bytes) {
        close(fd);
        return ts_errorf(err, err_size, TS_ERR_RANGE,
                         "%s: %llu bytes, larger than the %llu-byte limit for this file", path,
                         (unsigned long long)fb.st_size, (unsigned long long)max_bytes);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *fd_out = fd;
    *size = (uint64_t)fb.st_size;
    return TS_OK;
}

ts_status ts_read_file_max(const char *path, uint64_t max_bytes, char **data, size_t *len,
                           char *err, size_t err_size)
{
    *data = NULL;
    *len = 0;
    if (max_bytes > SIZE_MAX / 2) max_bytes = SIZE_MAX / 2;
    int fd;
    uint64_t size;
    ts_status st = ts_open_regular(path, max_bytes, &fd, &size, err, err_size);
    if (st != TS_OK) return st;
    /* Sized by fstat; grows (up to the cap) only if the file grows while read,
     * or reports 0 bytes as /proc files do. */
    size_t cap = (size_t)size + 1, n = 0;
    if (cap < 4096 && max_bytes >= 4096) cap = 4096;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (n >= max_bytes + 1) break; /* more than the cap: refused below */
            size_t ncap = cap * 2 > max_bytes + 2 ? (size_t)max_bytes + 2 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ts_errorf(err, err_size, TS_ERR_IO, "%s: read error: %s", path, strerror(e));
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (n > max_bytes) {
        free(buf);
        return ts_errorf(err, err_size, TS_ERR_RANGE,
                         "%s: grew beyond the %llu-byte limit for this file while read", path,
                         (unsigned long long)max_bytes);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return TS_OK;
}

ts_status ts_read_file(const char *path, char **data, size_t *len, char *err, size_t err_size)
{
    return ts_read_file_max(path, TS_READ_FILE_MAX, data, len, err, err_size);
}

ts_status ts_atomic_open(const char *path, FILE **f, char *tmp, size_t tmp_size, char *err,
                         size_t err_size)
{
    *f = NULL;
    if (snprintf(tmp, tmp_size, "%s.tmp.XXXXXX", path) >= (int)tmp_size)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    *f = fdopen(fd, "wb");
    if (!*f) {
        close(fd);
        unlink(tmp);
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return TS_OK;
}

ts_status ts_atomic_commit(FILE *f, const char *tmp, const char *path, char *err, size_t err_size)
{
    int bad = ferror(f);
    if (fflush(f) != 0) bad = 1;
    if (fsync(fileno(f)) != 0 && errno != EINVAL) bad = 1;
    if (fclose(f) != 0) bad = 1;
    /* mkstemp creates 0600; give the file the usual permissions. */
    mode_t mask = umask(0);
    umask(mask);
    if (!bad && chmod(tmp, 0666 & ~mask) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return TS_OK;
}

void ts_atomic_abort(FILE *f, const char *tmp)
{
    if (f) fclose(f);
    if (tmp && tmp[0]) unlink(tmp);
}

ts_status ts_write_file_atomic(const char *path, const void *data, size_t len, char *err,
                               size_t err_size)
{
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    FILE *f = NULL;
    ts_status st = ts_atomic_open(path, &f, tmp, tmp_size, err, err_size);
    if (st == TS_OK) {
        if (len && fwrite(data, 1, len, f) != len) {
            int e = errno;
            ts_atomic_abort(f, tmp);
            st = ts_errorf(err, err_size, TS_ERR_IO, "%s: write failed: %s", path, strerror(e));
        } else {
            st = ts_atomic_commit(f, tmp, path, err, err_size);
        }
    }
    free(tmp);
    return st;
}

size_t ts_json_count_values(const char *text, size_t len)
{
    size_t n = 1;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '[' || c == '{') {
            n++;
        }
    }
    return n;
}

ts_status ts_json_parse(const char *what, const char *text, size_t len, size_t max_values,
                        cJSON **root, char *err, size_t err_size)
{
    *root = NULL;
    size_t values = ts_json_count_values(text, len);
    if (values > max_values)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: about %zu JSON values, more than the %zu this reader accepts", what,
                         values, max_values);
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!json) {
        /* cJSON points end at the byte where parsing failed: report it as line, column. */
        size_t line = 1, col = 1;
        for (const char *q = text; end && q < end && q < text + len; q++) {
            if (*q == '\n')
                line++, col = 1;
            else
                col++;
        }
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: invalid JSON at line %zu, column %zu",
                         what, line, col);
    }
    for (const char *q = end; q < text + len; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(json);
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: unexpected text after the JSON object", what);
        }
    }
    *root = json;
    return TS_OK;
}

ts_status ts_json_load_file(const char *path, uint64_t max_bytes, cJSON **root, char *err,
                            size_t err_size)
{
    *root = NULL;
    char *text = NULL;
    size_t len = 0;
    ts_status s = ts_read_file_max(path, max_bytes, &text, &len, err, err_size);
    if (s != TS_OK) return s;
    s = ts_json_parse(path, text, len, TS_JSON_MAX_VALUES, root, err, err_size);
    free(text);
    return s;
}

double ts_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
