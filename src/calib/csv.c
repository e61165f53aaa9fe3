/*
 * csv.c — the logits CSV reader of `tempscale calibrate --val FILE.csv`.
 *
 * Format: a header line whose first column is "label" (then K >= 2 logit
 * columns, conventionally logit_0 .. logit_{K-1}), then one line per example:
 * an integer class index in [0, K) and K finite decimal numbers, separated by
 * commas. Spaces around cells, CRLF line ends and blank lines are tolerated.
 * No quoting: cells are plain numbers. Every error names "path:line".
 *
 * Invariant: the file (a regular file of at most 1 GiB, ts_read_file) is read
 * once into memory and parsed in one pass; the output arrays grow
 * geometrically (amortised O(1) per row) but never beyond the rows the rest
 * of the file can hold, so a wide header cannot size them.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

static char *trim(char *s, char **end)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = *end;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    *end = e;
    return s;
}

/* Print a cell for an error message: at most 24 characters. */
static void cell_text(const char *s, const char *e, char *buf, size_t cap)
{
    size_t n = (size_t)(e - s);
    if (n > 24) n = 24;
    if (n >= cap) n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

ts_status ts_csv_read_logits(const char *path, float **logits, int32_t **labels, size_t *n,
                             size_t *k, char *err, size_t err_size)
{
    *logits = NULL;
    *labels = NULL;
    *n = 0;
    *k = 0;
    char *text;
    size_t len;
    ts_status st = ts_read_file(path, &text, &len, err, err_size);
    if (st != TS_OK) return st;

    float *z = NULL;
    int32_t *y = NULL;
    size_t rows = 0, cap = 0, ncols = 0, line = 0;
    char cell[32];
    char *p = text, *end = text + len;
    bool header = false;
    st = TS_OK;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        char *le = eol;
        char *s = trim(p, &le);
        char *next = eol < end ? eol + 1 : end;
        if (s == le) { /* blank line */
            p = next;
            continue;
        }
        if (memchr(s, '\0', (size_t)(le - s))) {
            st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s:%zu: NUL byte (is this a text CSV?)",
                           path, line);
            goto fail;
        }
        *le = '\0';
        if (!header) {
            /* Header: count columns, check the first is "label". */
            ncols = 1;
            for (char *q = s; *q; q++) ncols += (*q == ',');
            char *c0e = strchr(s, ',');
            if (!c0e) c0e = le;
            char *c0 = trim(s, &c0e);
            char *num_end;
            strtod(c0, &num_end);
            if ((size_t)(c0e - c0) != 5 || strncasecmp(c0, "label", 5) != 0) {
                cell_text(c0, c0e, cell, sizeof cell);
                if (c0 == c0e)
                    st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                   "%s:%zu: header starts with an empty column (a pandas index? "
                                   "write with index=False); expected label,logit_0,...",
                                   path, line);
                else if (num_end == c0e)
                    st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                   "%s:%zu: header missing: expected label,logit_0,...,logit_{K-1} "
                                   "as the first line, found numbers",
                                   path, line);
                else
                    st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                   "%s:%zu: first column is '%s', expected 'label' (header "
                                   "label,logit_0,...,logit_{K-1})",
                                   path, line, cell);
                goto fail;
            }
            if (ncols < 3) {
                st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                               "%s:%zu: %zu logit column%s; calibration needs K >= 2 classes", path,
                               line, ncols - 1, ncols == 2 ? "" : "s");
                goto fail;
            }
            header = true;
            p = next;
            continue;
        }
        size_t K = ncols - 1;
        if (rows == cap) {
            /* Never more rows than the rest of the file can hold: a row is at
             * least K + 1 non-empty cells and K commas. */
            size_t ncap = cap ? cap * 2 : 1024, bytes;
            size_t fit = rows + (size_t)(end - p) / (2 * ncols - 1) + 1;
            if (ncap > fit) ncap = fit;
            if (ts_mul_overflows(ncap, K * sizeof(float), &bytes)) {
                st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: too many rows", path);
                goto fail;
            }
            float *nz = realloc(z, bytes);
            if (nz) z = nz;
            int32_t *ny = nz ? realloc(y, ncap * sizeof *y) : NULL;
            if (ny) y = ny;
            if (!nz || !ny) {
                st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            cap = ncap;
        }
        char *q = s;
        for (size_t c = 0; c < ncols; c++) {
            char *comma = strchr(q, ',');
            char *ce = comma ? comma : le;
            bool last = c + 1 == ncols;
            if (last && ce != le) {
                size_t have = ncols;
                for (char *r = ce; *r; r++) have += (*r == ',');
                st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                               "%s:%zu: %zu columns, the header has %zu", path, line, have, ncols);
                goto fail;
            }
            if (!last && ce == le) {
                st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                               "%s:%zu: %zu columns, the header has %zu", path, line, c + 1, ncols);
                goto fail;
            }
            char *cs = trim(q, &ce);
            cell_text(cs, ce, cell, sizeof cell);
            if (cs == ce) {
                st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s:%zu: column %zu is empty", path,
                               line, c + 1);
                goto fail;
            }
            char *ne;
            if (c == 0) {
                errno = 0;
                long long v = strtoll(cs, &ne, 10);
                if (ne != ce) {
                    double d = strtod(cs, &ne);
                    if (ne == ce && d == floor(d) && isfinite(d) && fabs(d) < 1e18) {
                        v = (long long)d; /* "3.0" is the integer 3 */
                    } else {
                        st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                       "%s:%zu: label '%s' is not an integer class index", path,
                                       line, cell);
                        goto fail;
                    }
                }
                if (v < 0 || (unsigned long long)v >= K || errno == ERANGE) {
                    st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                   "%s:%zu: label %s is out of range [0, %zu)", path, line, cell,
                                   K);
                    goto fail;
                }
                y[rows] = (int32_t)v;
            } else {
                errno = 0;
                float v = strtof(cs, &ne);
                if (ne != ce) {
                    st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                   "%s:%zu: column %zu: '%s' is not a number", path, line, c + 1,
                                   cell);
                    goto fail;
                }
                if (!isfinite(v)) {
                    st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                   "%s:%zu: column %zu: logit '%s' is not finite%s", path, line,
                                   c + 1, cell,
                                   isnan(v) ? "" : " (or overflows float32)");
                    goto fail;
                }
                z[rows * K + (c - 1)] = v;
            }
            q = comma ? comma + 1 : le;
        }
        rows++;
        p = next;
    }
    if (!header) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                       "%s:1: empty file (expected a header label,logit_0,...,logit_{K-1} and rows)",
                       path);
        goto fail;
    }
    if (rows == 0) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s:%zu: no data rows after the header", path,
                       line);
        goto fail;
    }
    free(text);
    *logits = z;
    *labels = y;
    *n = rows;
    *k = ncols - 1;
    return TS_OK;
fail:
    free(text);
    free(z);
    free(y);
    return st;
}
