/*
 * npy.c — NumPy .npy files: a reader (what np.save writes) and a float32 writer.
 *
 * Format (numpy/lib/format.py, "NEP 1"):
 *   bytes 0..5   magic "\x93NUMPY"
 *   byte  6, 7   major, minor version: 1.0, 2.0 or 3.0
 *   then         header length HLEN: uint16 LE (1.0) or uint32 LE (2.0, 3.0)
 *   then         HLEN bytes of ASCII (latin-1 in 1.0/2.0, UTF-8 in 3.0): a Python dict
 *                literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, K), }
 *                padded with spaces and ended by '\n' so that the data starts on a
 *                64-byte boundary (16 in old writers; we accept any)
 *   then         the raw array, C order (or Fortran order when fortran_order is True),
 *                count * itemsize bytes; np.save may append further arrays after it.
 * descr is a numpy type string: byte order '<' '>' '|' '=', kind f/i/u/b, item size.
 * Structured dtypes (descr is a list), objects and strings are refused.
 *
 * Invariants: only a regular file is read (ts_open_regular); the header is
 * parsed field by field (never by struct), every size from the file is
 * overflow-checked and compared with what the file holds before anything is
 * allocated for it, data is converted to host order, and
 * Fortran-order arrays are transposed to C order, so callers see row-major data.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"

/* ---- header parsing ------------------------------------------------------ */

typedef struct npy_header {
    char byteorder; /* '<', '>' or '|' */
    char kind;      /* 'f', 'i', 'u', 'b' */
    size_t itemsize;
    bool fortran_order;
    int32_t ndim;
    size_t shape[TS_NPY_MAX_DIM];
    size_t count;
} npy_header;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Parse a quoted Python string at *pp into buf; advances *pp past the closing quote. */
static bool parse_pystr(const char **pp, const char *end, char *buf, size_t cap)
{
    const char *p = *pp;
    if (p >= end || (*p != '\'' && *p != '"')) return false;
    char q = *p++;
    size_t n = 0;
    while (p < end && *p != q) {
        if (n + 1 >= cap) return false;
        buf[n++] = *p++;
    }
    if (p >= end) return false;
    buf[n] = '\0';
    *pp = p + 1;
    return true;
}

static bool parse_descr(const char *s, npy_header *h)
{
    if (s[0] != '<' && s[0] != '>' && s[0] != '|' && s[0] != '=') return false;
    h->byteorder = s[0] == '=' ? '<' : s[0]; /* '=' is native; we run little-endian */
    h->kind = s[1];
    if (h->kind != 'f' && h->kind != 'i' && h->kind != 'u' && h->kind != 'b') return false;
    char *end;
    errno = 0;
    long sz = strtol(s + 2, &end, 10);
    if (end == s + 2 || *end != '\0' || errno) return false;
    if (h->kind == 'f' && sz != 2 && sz != 4 && sz != 8) return false;
    if ((h->kind == 'i' || h->kind == 'u') && sz != 1 && sz != 2 && sz != 4 && sz != 8)
        return false;
    if (h->kind == 'b' && sz != 1) return false;
    h->itemsize = (size_t)sz;
    if (h->itemsize == 1) h->byteorder = '<';
    return true;
}

/* Parse the header dict text [p, end). */
static ts_status parse_header(const char *path, const char *p, const char *end, npy_header *h,
                              char *err, size_t err_size)
{
    bool have_descr = false, have_fo = false, have_shape = false;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy header is not a dict", path);
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == '}') break;
        char key[32], val[64];
        if (!parse_pystr(&p, end, key, sizeof key))
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy header: expected a quoted key",
                             path);
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy header: expected ':' after '%s'",
                             path, key);
        p = skip_ws(p + 1, end);
        if (strcmp(key, "descr") == 0) {
            if (p < end && *p == '[')
                return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                                 "%s: structured dtypes are not supported (expected a plain "
                                 "float or integer array)",
                                 path);
            if (!parse_pystr(&p, end, val, sizeof val))
                return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy header: bad 'descr'", path);
            if (!parse_descr(val, h))
                return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                                 "%s: dtype '%s' is not supported (expected float16/32/64, "
                                 "(u)int8/16/32/64 or bool)",
                                 path, val);
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0) {
            if ((size_t)(end - p) >= 4 && memcmp(p, "True", 4) == 0) {
                h->fortran_order = true;
                p += 4;
            } else if ((size_t)(end - p) >= 5 && memcmp(p, "False", 5) == 0) {
                h->fortran_order = false;
                p += 5;
            } else {
                return ts_errorf(err, err_size, TS_ERR_FORMAT,
                                 "%s: npy header: 'fortran_order' must be True or False", path);
            }
            have_fo = true;
        } else if (strcmp(key, "shape") == 0) {
            if (p >= end || *p != '(')
                return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy header: bad 'shape'", path);
            p++;
            h->ndim = 0;
            for (;;) {
                p = skip_ws(p, end);
                if (p < end && *p == ')') {
                    p++;
                    break;
                }
                if (p >= end || *p < '0' || *p > '9')
                    return ts_errorf(err, err_size, TS_ERR_FORMAT,
                                     "%s: npy header: bad 'shape'", path);
                if (h->ndim == TS_NPY_MAX_DIM)
                    return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                                     "%s: more than %d dimensions", path, TS_NPY_MAX_DIM);
                size_t v = 0;
                while (p < end && *p >= '0' && *p <= '9') {
                    if (ts_mul_overflows(v, 10, &v) || v > SIZE_MAX - (size_t)(*p - '0'))
                        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                                         "%s: npy header: shape too large", path);
                    v += (size_t)(*p++ - '0');
                }
                h->shape[h->ndim++] = v;
                p = skip_ws(p, end);
                if (p < end && *p == 'L') p++; /* Python 2 longs */
                p = skip_ws(p, end);
                if (p < end && *p == ',') p++;
            }
            have_shape = true;
        } else {
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy header: unknown key '%s'",
                             path, key);
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') p++;
    }
    if (!have_descr || !have_fo || !have_shape)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: npy header lacks '%s'", path,
                         !have_descr ? "descr" : !have_fo ? "fortran_order" : "shape");
    h->count = 1;
    for (int32_t i = 0; i < h->ndim; i++)
        if (ts_mul_overflows(h->count, h->shape[i], &h->count))
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy shape overflows", path);
    return TS_OK;
}

/* ---- element conversion -------------------------------------------------- */

static uint64_t load_uint(const unsigned char *b, size_t size, char order)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) {
        size_t j = order == '>' ? i : size - 1 - i;
        v = (v << 8) | b[j];
    }
    return v;
}

/* IEEE binary16 -> float, exact (subnormals, inf, NaN included). */
static double half_to_double(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v;
    if (e == 0) v = ldexp((double)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexp((double)(m | 0x400), e - 25);
    return sign ? -v : v;
}

/* Element i (of the raw buffer) as a double; integers as themselves. */
static double elem_double(const unsigned char *raw, const npy_header *h, size_t i)
{
    const unsigned char *b = raw + i * h->itemsize;
    uint64_t u = load_uint(b, h->itemsize, h->byteorder);
    switch (h->kind) {
    case 'f':
        if (h->itemsize == 2) return half_to_double((uint16_t)u);
        if (h->itemsize == 4) {
            uint32_t w = (uint32_t)u;
            float f;
            memcpy(&f, &w, 4);
            return f;
        } else {
            double d;
            memcpy(&d, &u, 8);
            return d;
        }
    case 'i': {
        unsigned bits = (unsigned)(8 * h->itemsize);
        if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~0ull << bits; /* sign-extend */
        return (double)(int64_t)u;
    }
    default: /* 'u', 'b' */
        return (double)u;
    }
}

/* Map the C-order flat index c to the file's flat index (Fortran order transposes). */
static size_t file_index(const npy_header *h, size_t c)
{
    if (!h->fortran_order || h->ndim < 2) return c;
    size_t idx = 0, stride = 1;
    /* Decompose c into a multi-index, last axis fastest; Fortran strides grow from axis 0. */
    size_t rem = c, strides[TS_NPY_MAX_DIM];
    for (int32_t d = 0; d < h->ndim; d++) {
        strides[d] = stride;
        stride *= h->shape[d];
    }
    for (int32_t d = h->ndim - 1; d >= 0; d--) {
        size_t i = rem % h->shape[d];
        rem /= h->shape[d];
        idx += i * strides[d];
    }
    return idx;
}

/* Read the header and the raw bytes of the first array of path. *raw is malloc'd. */
static ts_status read_raw(const char *path, npy_header *h, unsigned char **raw, char *err,
                          size_t err_size)
{
    *raw = NULL;
    memset(h, 0, sizeof *h);
    int fd;
    uint64_t file_size;
    ts_status st = ts_open_regular(path, UINT64_MAX, &fd, &file_size, err, err_size);
    if (st != TS_OK) return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    char *text = NULL;
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got == 0) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: empty file (expected a NumPy .npy file)",
                       path);
        goto done;
    }
    if (got < 10 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                       "%s: not a NumPy .npy file (no \\x93NUMPY magic; .npz archives and "
                       "pickles are not supported)",
                       path);
        goto done;
    }
    unsigned major = pre[6], minor = pre[7];
    size_t hlen;
    if (major == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: truncated npy header", path);
            goto done;
        }
        hlen = (size_t)load_uint(pre + 8, 4, '<');
    } else {
        st = ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                       "%s: npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)", path,
                       major, minor);
        goto done;
    }
    if (hlen > (1u << 24)) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy header length %zu is implausible",
                       path, hlen);
        goto done;
    }
    if ((uint64_t)hlen > file_size) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: truncated npy header", path);
        goto done;
    }
    text = malloc(hlen + 1);
    if (!text) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(text, 1, hlen, f) != hlen) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: truncated npy header", path);
        goto done;
    }
    text[hlen] = '\0';
    st = parse_header(path, text, text + hlen, h, err, err_size);
    if (st != TS_OK) goto done;
    size_t nbytes;
    if (ts_mul_overflows(h->count, h->itemsize, &nbytes)) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: npy shape overflows", path);
        goto done;
    }
    /* Never allocate more than the file can hold: the header is outside data. */
    uint64_t data_at = (uint64_t)(major == 1 ? 10 : 12) + hlen;
    uint64_t avail = file_size > data_at ? file_size - data_at : 0;
    if ((uint64_t)nbytes > avail) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                       "%s: truncated npy data: header promises %zu bytes, file has %llu", path,
                       nbytes, (unsigned long long)avail);
        goto done;
    }
    *raw = malloc(nbytes ? nbytes : 1);
    if (!*raw) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory (%zu bytes of data)", path,
                       nbytes);
        goto done;
    }
    got = fread(*raw, 1, nbytes, f);
    if (got != nbytes) {
        st = ts_errorf(err, err_size, TS_ERR_FORMAT,
                       "%s: truncated npy data: header promises %zu bytes, file has %zu", path,
                       nbytes, got);
        goto done;
    }
done:
    free(text);
    fclose(f);
    if (st != TS_OK) {
        free(*raw);
        *raw = NULL;
    }
    return st;
}

static void shape_str(const npy_header *h, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int32_t i = 0; i < h->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %zu" : "%zu", h->shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, h->ndim == 1 ? ",)" : ")");
}

ts_status ts_npy_read_f32(const char *path, float **data, int32_t *ndim,
                          size_t shape[TS_NPY_MAX_DIM], char *err, size_t err_size)
{
    *data = NULL;
    npy_header h;
    unsigned char *raw;
    ts_status st = read_raw(path, &h, &raw, err, err_size);
    if (st != TS_OK) return st;
    if (h.kind != 'f') {
        free(raw);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: dtype is %s%zu, expected float16/32/64 logits", path,
                         h.kind == 'b' ? "bool" : h.kind == 'i' ? "int" : "uint", 8 * h.itemsize);
    }
    float *out = malloc((h.count ? h.count : 1) * sizeof *out);
    if (!out) {
        free(raw);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    if (h.itemsize == 4 && h.byteorder == '<' && !h.fortran_order) {
        memcpy(out, raw, h.count * 4);
    } else {
        for (size_t i = 0; i < h.count; i++) out[i] = (float)elem_double(raw, &h, file_index(&h, i));
    }
    free(raw);
    *data = out;
    *ndim = h.ndim;
    for (int32_t i = 0; i < h.ndim; i++) shape[i] = h.shape[i];
    return TS_OK;
}

ts_status ts_npy_read_labels(const char *path, int32_t **labels, size_t *n, char *err,
                             size_t err_size)
{
    *labels = NULL;
    *n = 0;
    npy_header h;
    unsigned char *raw;
    ts_status st = read_raw(path, &h, &raw, err, err_size);
    if (st != TS_OK) return st;
    if (h.ndim != 1 && !(h.ndim == 2 && h.shape[1] == 1)) {
        char s[128];
        shape_str(&h, s, sizeof s);
        free(raw);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: labels have shape %s, expected (N,) class indices (not one-hot)",
                         path, s);
    }
    int32_t *out = malloc((h.count ? h.count : 1) * sizeof *out);
    if (!out) {
        free(raw);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < h.count; i++) {
        double v = elem_double(raw, &h, i);
        if (!(v == floor(v)) || v < 0 || v > INT32_MAX) {
            free(raw);
            free(out);
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: element %zu: label %g is not a non-negative integer class index",
                             path, i, v);
        }
        out[i] = (int32_t)v;
    }
    free(raw);
    *labels = out;
    *n = h.count;
    return TS_OK;
}

ts_status ts_npy_write_f32(const char *path, const float *data, int32_t ndim, const size_t *shape,
                           char *err, size_t err_size)
{
    if (ndim < 0 || ndim > TS_NPY_MAX_DIM)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: ndim %d out of range [0, %d]", path,
                         ndim, TS_NPY_MAX_DIM);
    char dict[512];
    size_t n = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int32_t i = 0; i < ndim; i++) {
        if (ts_mul_overflows(count, shape[i], &count))
            return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: shape overflows", path);
        n += (size_t)snprintf(dict + n, sizeof dict - n, i ? ", %zu" : "%zu", shape[i]);
    }
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
    /* Pad with spaces so that magic + version + length + dict + '\n' is a multiple of 64. */
    size_t total = 10 + n + 1;
    size_t pad = (64 - total % 64) % 64;
    if (n + pad + 1 > sizeof dict - 1)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: header too long", path);
    memset(dict + n, ' ', pad);
    n += pad;
    dict[n++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff),
                             (unsigned char)(n >> 8)};
    FILE *f;
    char tmp[4096 + 32];
    ts_status st = ts_atomic_open(path, &f, tmp, sizeof tmp, err, err_size);
    if (st != TS_OK) return st;
    fwrite(pre, 1, sizeof pre, f);
    fwrite(dict, 1, n, f);
    /* Host is little-endian (x86-64, aarch64); write element by element otherwise. */
    const uint16_t probe = 1;
    if (*(const unsigned char *)&probe == 1) {
        if (count) fwrite(data, sizeof *data, count, f);
    } else {
        for (size_t i = 0; i < count; i++) {
            uint32_t w;
            memcpy(&w, &data[i], 4);
            unsigned char b[4] = {(unsigned char)w, (unsigned char)(w >> 8),
                                  (unsigned char)(w >> 16), (unsigned char)(w >> 24)};
            fwrite(b, 1, 4, f);
        }
    }
    return ts_atomic_commit(f, tmp, path, err, err_size);
}
