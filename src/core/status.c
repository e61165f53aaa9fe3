/*
 * status.c — status names and the small error / file helpers every module uses.
 */
#include "internal.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *ts_status_str(ts_status s)
{
    switch (s) {
    case TS_OK: return "ok";
    case TS_ERR_INVALID: return "invalid argument";
    case TS_ERR_IO: return "I/O error";
    case TS_ERR_FORMAT: return "malformed input";
    case TS_ERR_NOMEM: return "out of memory";
    case TS_ERR_RANGE: return "out of range";
    case TS_ERR_UNSUPPORTED: return "unsupported";
    case TS_ERR_NOT_FOUND: return "not found";
    case TS_ERR_NETWORK: return "network error";
    case TS_ERR_AUTH: return "not authorised";
    case TS_ERR_BUSY: return "busy";
    }
    return "unknown error";
}

ts_status ts_errorf(char *err, size_t err_size, ts_status status, const char *fmt, ...)
{
    if (err && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return status;
}

ts_status ts_read_file(const char *path, char **data, size_t *len, char *err, size_t err_size)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ts_errorf(err, err_size, TS_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f), read_errno = errno;
    fclose(f);
    if (failed) {
        free(buf);
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: read error: %s", path, strerror(read_errno));
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return TS_OK;
}

ts_status ts_atomic_open(const char *path, FILE **f, char *tmp, size_t tmp_size, char *err,
                         size_t err_size)
{
    *f = NULL;
    if (snprintf(tmp, tmp_size, "%s.tmp.XXXXXX", path) >= (int)tmp_size)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    *f = fdopen(fd, "wb");
    if (!*f) {
        close(fd);
        unlink(tmp);
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return TS_OK;
}

ts_status ts_atomic_commit(FILE *f, const char *tmp, const char *path, char *err,
                           size_t err_size)
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

ts_status ts_json_load_file(const char *path, cJSON **root, char *err, size_t err_size)
{
    *root = NULL;
    char *text = NULL;
    size_t len = 0;
    ts_status s = ts_read_file(path, &text, &len, err, err_size);
    if (s != TS_OK) return s;
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
        free(text);
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: invalid JSON at line %zu, column %zu",
                         path, line, col);
    }
    for (const char *q = end; q < text + len; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            free(text);
            cJSON_Delete(json);
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: unexpected text after the JSON object", path);
        }
    }
    free(text);
    *root = json;
    return TS_OK;
}
