/*
 * safetensors.c — mmap and fully validate Hugging Face .safetensors files,
 * single or sharded, and look tensors up by name.
 *
 * The file is treated as hostile: every number in the header is checked
 * before it is used, so a corrupt or truncated file gives a one-line message
 * naming the file and the tensor, never a read out of bounds.
 *
 * ==========================================================================
 * The safetensors format (huggingface/safetensors README, "Format")
 * ==========================================================================
 *
 *   1. The first 8 bytes are N, an unsigned little-endian 64-bit integer: the
 *      size of the header in bytes.
 *        - N >= 2 (the smallest header is "{}").
 *        - N <= 100,000,000: the reference implementation refuses larger
 *          headers (MAX_HEADER_SIZE) and so do we. We also refuse a header
 *          of more than TS_JSON_MAX_VALUES (2^21) JSON values, before it is
 *          parsed: cJSON spends ~80 bytes on each, so a header of "[1,1,..."
 *          shapes would otherwise cost 40 times its size in memory.
 *        - 8 + N <= file size.
 *   2. The next N bytes are the header: a UTF-8 JSON object.
 *        - It MUST begin with '{' (0x7B).
 *        - It MAY be trailing-padded with spaces (0x20); writers pad it so
 *          that 8 + N is a multiple of 8, which aligns the byte buffer.
 *        - We also refuse invalid UTF-8 and raw control bytes other than
 *          JSON whitespace, and any bytes after the JSON value other than
 *          whitespace.
 *   3. Each key of the header object other than "__metadata__" names a
 *      tensor; its value is an object
 *          {"dtype": "F16", "shape": [1, 16, 256], "data_offsets": [BEGIN, END]}
 *        - dtype: one of BOOL U8 I8 F8_E5M2 F8_E4M3 F8_E8M0 (1 byte),
 *          F4 (4 bits), F6_E2M3 F6_E3M2 (6 bits), I16 U16 F16 BF16 (2 bytes),
 *          I32 U32 F32 (4 bytes), I64 U64 F64 C64 (8 bytes). All are
 *          accepted in a file; only F32, F16 and BF16 are `supported`
 *          (usable by the engine).
 *        - shape: an array (possibly empty: a scalar) of non-negative integers.
 *        - data_offsets: exactly two non-negative integers, relative to the
 *          start of the byte buffer (NOT the file); END is one past the last
 *          byte, so the tensor has END - BEGIN bytes.
 *        - Keys we do not know inside a tensor object are ignored (as the
 *          reference implementation's serde default does).
 *        - Tensor names are unique: a duplicate key is an error (cJSON would
 *          silently keep both, so we check).
 *   4. "__metadata__", optional, is an object mapping strings to strings.
 *   5. After the header comes the byte buffer, the rest of the file, of size
 *      B = file size - 8 - N. The tensors' [BEGIN, END) ranges must tile
 *      [0, B) exactly: sorted by offset, each begins where the previous one
 *      ended, the first at 0 and the last ends at B — no holes, no overlaps,
 *      no trailing bytes. Zero-sized tensors (a 0 in the shape) have
 *      BEGIN == END.
 *   6. For every tensor: product(shape) * bits(dtype) / 8 == END - BEGIN,
 *      computed with overflow checks (a product of sub-byte elements must be
 *      a whole number of bytes). Elements are little-endian, row-major (C
 *      order).
 *   7. Alignment is not guaranteed by the format: writers since safetensors
 *      0.3 pad the header to 8 bytes and store tensors by decreasing dtype
 *      size, so real files are aligned, but a hand-made file need not be.
 *      We accept any alignment here and record the data pointer; the weight
 *      binder (weights.c) refuses, by name, a tensor it binds whose data is
 *      not aligned to its element size.
 *
 * Sharded checkpoints: model.safetensors.index.json is
 *     {"metadata": {...}, "weight_map": {"TENSOR": "model-00001-of-00002.safetensors", ...}}
 * read by ts_weight_map_load, which `tempscale pull` uses too, so both apply
 * the one shard-name rule (ts_shard_name_ok: a plain NAME.safetensors in the
 * same directory). Every shard named is opened once; every tensor listed must
 * be in the shard it is mapped to; a tensor name may appear in only one shard. Tensors a shard
 * holds but the map does not list are kept (transformers loads whole shards too).
 *
 * Directory resolution follows transformers' from_pretrained: model.safetensors
 * is preferred over model.safetensors.index.json when both exist.
 * pytorch_model.bin (pickle) is never loaded: unpickling runs arbitrary code.
 *
 * Memory: each file is mmap'd read-only (MAP_PRIVATE) and the descriptor
 * closed; opening reads only the header, so it costs milliseconds whatever the
 * file size. MADV_WILLNEED starts asynchronous read-ahead of the buffer.
 * If a mapped file is truncated by another process while open, accessing it
 * raises SIGBUS: that is the usual mmap contract, not something we can check.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation's MAX_HEADER_SIZE. */
#define ST_MAX_HEADER 100000000ull
/* Integers in the header are parsed by cJSON as doubles: exact up to 2^53. */
#define ST_MAX_JSON_INT 9007199254740992.0

/* ---- dtypes --------------------------------------------------------------- */

typedef struct st_dtype {
    const char *name;
    unsigned bits;
    int ts; /* ts_dtype, or -1 when the engine cannot use it */
} st_dtype;

static const st_dtype k_dtypes[] = {
    {"BOOL", 8, -1},
    {"U8", 8, -1},
    {"I8", 8, -1},
    {"F8_E5M2", 8, -1},
    {"F8_E4M3", 8, -1},
    {"F8_E8M0", 8, -1},
    {"F4", 4, -1},
    {"F6_E2M3", 6, -1},
    {"F6_E3M2", 6, -1},
    {"I16", 16, -1},
    {"U16", 16, -1},
    {"F16", 16, TS_DTYPE_F16},
    {"BF16", 16, TS_DTYPE_BF16},
    {"I32", 32, -1},
    {"U32", 32, -1},
    {"F32", 32, TS_DTYPE_F32},
    {"I64", 64, -1},
    {"U64", 64, -1},
    {"F64", 64, -1},
    {"C64", 64, -1},
};

static const st_dtype *dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (strcmp(k_dtypes[i].name, name) == 0) return &k_dtypes[i];
    return NULL;
}

const char *ts_dtype_name(ts_dtype dt)
{
    switch (dt) {
    case TS_DTYPE_F32:
        return "F32";
    case TS_DTYPE_F16:
        return "F16";
    case TS_DTYPE_BF16:
        return "BF16";
    case TS_DTYPE_Q8_0:
        return "Q8_0";
    }
    return "?";
}

/* ---- the handle ----------------------------------------------------------- */

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
} st_file;

struct ts_safetensors {
    char *label;    /* the path opened (file or index) */
    st_file *files; /* [n_files] */
    size_t n_files;
    ts_tensor *tensors; /* [n_tensors], sorted by name; names owned (malloc'd) */
    size_t n_tensors, cap_tensors;
};

void ts_safetensors_close(ts_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n_tensors; i++)
        free((char *)st->tensors[i].name);
    free(st->tensors);
    for (size_t i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->label);
    free(st);
}

const char *ts_safetensors_path(const ts_safetensors *st)
{
    return st && st->label ? st->label : "";
}

size_t ts_safetensors_count(const ts_safetensors *st)
{
    return st ? st->n_tensors : 0;
}

const ts_tensor *ts_safetensors_get(const ts_safetensors *st, size_t i)
{
    return st && i < st->n_tensors ? &st->tensors[i] : NULL;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const ts_tensor *)a)->name, ((const ts_tensor *)b)->name);
}

const ts_tensor *ts_safetensors_find(const ts_safetensors *st, const char *name)
{
    if (!st || !name || st->n_tensors == 0) return NULL;
    ts_tensor key;
    key.name = name;
    return bsearch(&key, st->tensors, st->n_tensors, sizeof key, cmp_tensor_name);
}

/* ---- small helpers ------------------------------------------------------- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *json_type_name(const cJSON *j)
{
    if (!j) return "nothing";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "an invalid value";
}

/* A JSON number that is a whole number in [0, 2^53]. */
static bool json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0.0 && v <= ST_MAX_JSON_INT) || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF); no raw control
 * bytes other than JSON whitespace. Returns the offset of the first bad byte
 * or len when all good. */
static size_t header_bad_byte(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i;
            i++;
            continue;
        }
        size_t n;
        unsigned min, cp;
        if ((c & 0xE0) == 0xC0)
            n = 1, min = 0x80, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            n = 2, min = 0x800, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            n = 3, min = 0x10000, cp = c & 0x07;
        else
            return i;
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n + 1;
    }
    return len;
}

/* Format a shape as "[a,b,c]" into buf (truncated if needed). */
static const char *fmt_shape(const cJSON *shape, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    at += (size_t)snprintf(buf, size, "[");
    const cJSON *d;
    bool first = true;
    cJSON_ArrayForEach(d, shape)
    {
        if (at >= size) break;
        at += (size_t)snprintf(buf + at, size - at, "%s%.0f", first ? "" : ",", d->valuedouble);
        first = false;
    }
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

static ts_status push_tensor(ts_safetensors *st, const ts_tensor *t, char *err, size_t err_size)
{
    if (st->n_tensors == st->cap_tensors) {
        size_t cap = st->cap_tensors ? st->cap_tensors * 2 : 64;
        ts_tensor *nt = cap > SIZE_MAX / sizeof *nt ? NULL : realloc(st->tensors, cap * sizeof *nt);
        if (!nt) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", t->file);
        st->tensors = nt;
        st->cap_tensors = cap;
    }
    st->tensors[st->n_tensors++] = *t;
    return TS_OK;
}

/* ---- one file ------------------------------------------------------------ */

/* Parse one tensor entry `j` named j->string into *t (name not yet set). */
static ts_status parse_entry(const char *path, const cJSON *j, const unsigned char *buffer,
                             uint64_t buffer_size, ts_tensor *t, uint64_t *begin, uint64_t *end,
                             char *err, size_t err_size)
{
    const char *name = j->string;
    if (!cJSON_IsObject(j))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: expected an object {dtype, shape, data_offsets}, got %s",
                         path, name, json_type_name(j));
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(jd))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: \"dtype\" must be a string, got %s", path, name,
                         json_type_name(jd));
    const st_dtype *dt = dtype_lookup(jd->valuestring);
    if (!dt)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: unknown dtype \"%.32s\" (safetensors dtypes: BOOL, U8, "
                         "I8, F8_*, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64)",
                         path, name, jd->valuestring);
    if (!cJSON_IsArray(js))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: \"shape\" must be an array of integers, got %s", path,
                         name, json_type_name(js));
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: \"data_offsets\" must be an array [begin, end] of two "
                         "integers, got %s",
                         path, name,
                         cJSON_IsArray(jo) ? "an array of another length" : json_type_name(jo));

    memset(t, 0, sizeof *t);
    t->dtype_name = dt->name;
    t->supported = dt->ts >= 0;
    t->dtype = dt->ts >= 0 ? (ts_dtype)dt->ts : TS_DTYPE_F32;
    t->file = path;

    /* shape: non-negative integers; numel with overflow checks. */
    size_t numel = 1, ndim = 0;
    bool overflow = false, zero_dim = false;
    const cJSON *d;
    cJSON_ArrayForEach(d, js)
    {
        uint64_t v;
        if (!json_uint(d, &v))
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: tensor %s: shape entry %zu must be a non-negative integer, "
                             "got %s%s",
                             path, name, ndim, json_type_name(d),
                             cJSON_IsNumber(d) ? " that is negative, fractional or too large" : "");
        if (ndim < 4) t->shape[ndim] = (int64_t)v;
        if (v == 0)
            zero_dim = true;
        else if (v > SIZE_MAX || ts_mul_overflows(numel, (size_t)v, &numel))
            overflow = true;
        ndim++;
    }
    if (ndim > INT32_MAX)
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: tensor %s: too many dimensions", path,
                         name);
    t->ndim = (int32_t)ndim;
    if (zero_dim) numel = 0, overflow = false; /* a zero dimension makes any product 0 */

    /* data_offsets */
    if (!json_uint(cJSON_GetArrayItem(jo, 0), begin) || !json_uint(cJSON_GetArrayItem(jo, 1), end))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: \"data_offsets\" must be two non-negative integers", path,
                         name);
    if (*begin > *end)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: data_offsets [%llu,%llu] end before they begin", path,
                         name, (unsigned long long)*begin, (unsigned long long)*end);
    if (*end > buffer_size)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: data_offsets [%llu,%llu] beyond the data buffer (size "
                         "%llu)",
                         path, name, (unsigned long long)*begin, (unsigned long long)*end,
                         (unsigned long long)buffer_size);

    /* bytes = numel * bits / 8, exactly. */
    char sh[96];
    size_t bits;
    if (overflow || ts_mul_overflows(numel, dt->bits, &bits))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: shape %s of %s overflows the size of memory", path, name,
                         fmt_shape(js, sh, sizeof sh), dt->name);
    if (bits % 8 != 0)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: shape %s of %s is not a whole number of bytes", path, name,
                         fmt_shape(js, sh, sizeof sh), dt->name);
    size_t nbytes = bits / 8;
    if ((uint64_t)nbytes != *end - *begin)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensor %s: shape %s of %s is %zu bytes but data_offsets [%llu,%llu] "
                         "span %llu",
                         path, name, fmt_shape(js, sh, sizeof sh), dt->name, nbytes,
                         (unsigned long long)*begin, (unsigned long long)*end,
                         (unsigned long long)(*end - *begin));
    t->nbytes = nbytes;
    t->data = buffer + *begin;
    return TS_OK;
}

typedef struct st_span {
    uint64_t begin, end;
    size_t idx; /* into st->tensors */
} st_span;

static int cmp_span(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Parse the header of the mapped file f and append its tensors to st. */
static ts_status parse_header(ts_safetensors *st, const st_file *f, char *err, size_t err_size)
{
    const char *path = f->path;
    const unsigned char *base = f->map;
    if (f->size < 8)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: file is %zu bytes, too short for the 8-byte header length", path,
                         f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | base[i];
    if (n > ST_MAX_HEADER)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: header length %llu is larger than the 100,000,000-byte limit (not a "
                         "safetensors file?)",
                         path, (unsigned long long)n);
    if (n > f->size - 8)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: header length %llu beyond the end of the file (%zu bytes; "
                         "truncated?)",
                         path, (unsigned long long)n, f->size);
    if (n < 2)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: header length %llu is too small for a JSON object", path,
                         (unsigned long long)n);
    const unsigned char *hdr = base + 8;
    if (hdr[0] != '{')
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: header does not start with '{' (not a safetensors file?)", path);
    size_t bad = header_bad_byte(hdr, (size_t)n);
    if (bad != n)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: header byte %zu (0x%02x) is not valid UTF-8 JSON text", path, bad,
                         hdr[bad]);

    /* cJSON spends ~80 bytes per value: "[1,1,1,..." would cost 40x the header. */
    size_t values = ts_json_count_values((const char *)hdr, (size_t)n);
    if (values > TS_JSON_MAX_VALUES)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: header holds about %zu JSON values, more than the %zu a "
                         "safetensors header may have",
                         path, values, TS_JSON_MAX_VALUES);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)hdr, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - (const char *)hdr) : 0;
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: header is not valid JSON (error near byte %zu of %llu)", path, at,
                         (unsigned long long)n);
    }
    /* cJSON stops after the value (and whitespace); only padding may follow. */
    for (const char *p = end; p && p < (const char *)hdr + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: unexpected bytes after the JSON header at byte %zu (only space "
                             "padding may follow)",
                             path, (size_t)(p - (const char *)hdr));
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: header must be a JSON object", path);
    }

    const unsigned char *buffer = hdr + n;
    uint64_t buffer_size = (uint64_t)(f->size - 8 - n);
    size_t first = st->n_tensors, count = 0;
    ts_status s = TS_OK;
    const cJSON *j;
    cJSON_ArrayForEach(j, root)
    {
        if (!j->string) continue; /* cannot happen for an object member */
        if (strcmp(j->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(j)) {
                s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                              "%s: __metadata__ must be an object of strings, got %s", path,
                              json_type_name(j));
                break;
            }
            const cJSON *m;
            cJSON_ArrayForEach(m, j)
            {
                if (!cJSON_IsString(m)) {
                    s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                                  "%s: __metadata__ value \"%s\" must be a string, got %s", path,
                                  m->string ? m->string : "", json_type_name(m));
                    break;
                }
            }
            if (s != TS_OK) break;
            continue;
        }
        /* Names reach one-line messages: no control characters (only
         * possible through \u escapes, the raw bytes were refused above). */
        bool ctrl = false;
        for (const unsigned char *q = (const unsigned char *)j->string; *q; q++)
            ctrl |= *q < 0x20;
        if (ctrl || j->string[0] == '\0') {
            s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                          "%s: tensor #%zu: the name is empty or has a control character", path,
                          count + 1);
            break;
        }
        ts_tensor t;
        uint64_t b, e;
        s = parse_entry(path, j, buffer, buffer_size, &t, &b, &e, err, err_size);
        if (s != TS_OK) break;
        t.name = dup_str(j->string);
        if (!t.name) {
            s = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        s = push_tensor(st, &t, err, err_size);
        if (s != TS_OK) {
            free((char *)t.name);
            break;
        }
        count++;
    }

    /* Coverage: the [begin, end) ranges must tile the buffer exactly. */
    st_span *spans = NULL;
    if (s == TS_OK && count > 0) {
        spans = malloc(count * sizeof *spans);
        if (!spans) s = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s == TS_OK) {
        for (size_t i = 0; i < count; i++) {
            const ts_tensor *t = &st->tensors[first + i];
            spans[i].begin = (uint64_t)((const unsigned char *)t->data - buffer);
            spans[i].end = spans[i].begin + t->nbytes;
            spans[i].idx = first + i;
        }
        if (count > 1) qsort(spans, count, sizeof *spans, cmp_span);
        uint64_t at = 0;
        const char *prev = NULL;
        for (size_t i = 0; i < count && s == TS_OK; i++) {
            const char *name = st->tensors[spans[i].idx].name;
            if (spans[i].begin > at)
                s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                              "%s: tensor %s: data_offsets [%llu,%llu] leave a hole: bytes "
                              "[%llu,%llu) of the data buffer belong to no tensor",
                              path, name, (unsigned long long)spans[i].begin,
                              (unsigned long long)spans[i].end, (unsigned long long)at,
                              (unsigned long long)spans[i].begin);
            else if (spans[i].begin < at)
                s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                              "%s: tensor %s: data_offsets [%llu,%llu] overlap tensor %s (which "
                              "ends at %llu)",
                              path, name, (unsigned long long)spans[i].begin,
                              (unsigned long long)spans[i].end, prev ? prev : "?",
                              (unsigned long long)at);
            at = spans[i].end;
            prev = name;
        }
        if (s == TS_OK && at != buffer_size)
            s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                          "%s: the tensors cover %llu bytes but the data buffer has %llu "
                          "(trailing bytes, or a header that does not match the file)",
                          path, (unsigned long long)at, (unsigned long long)buffer_size);
    }
    free(spans);
    cJSON_Delete(root);
    return s;
}

/* mmap path read-only into a new files[] slot of st. */
static ts_status map_file(ts_safetensors *st, const char *path, size_t *index, char *err,
                          size_t err_size)
{
    st_file *nf = realloc(st->files, (st->n_files + 1) * sizeof *nf);
    if (!nf) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    st->files = nf;
    st_file *f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    f->path = dup_str(path);
    if (!f->path) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    st->n_files++;
    *index = st->n_files - 1;

    int fd;
    uint64_t fsize;
    ts_status s = ts_open_regular(path, UINT64_MAX, &fd, &fsize, err, err_size);
    if (s != TS_OK) return s;
    if (fsize < 8) {
        close(fd);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: file is %llu bytes, too short for the 8-byte header length", path,
                         (unsigned long long)fsize);
    }
    if (fsize > SIZE_MAX) {
        close(fd);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: file too large to map", path);
    }
    void *map = mmap(NULL, (size_t)fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ts_errorf(err, err_size, TS_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    f->map = map;
    f->size = (size_t)fsize;
    return TS_OK;
}

/* Sort st->tensors by name and refuse duplicates (across files too). */
static ts_status finish(ts_safetensors *st, char *err, size_t err_size)
{
    if (st->n_tensors > 1) qsort(st->tensors, st->n_tensors, sizeof *st->tensors, cmp_tensor_name);
    for (size_t i = 1; i < st->n_tensors; i++) {
        const ts_tensor *a = &st->tensors[i - 1], *b = &st->tensors[i];
        if (strcmp(a->name, b->name) == 0) {
            if (a->file == b->file)
                return ts_errorf(err, err_size, TS_ERR_FORMAT,
                                 "%s: tensor %s appears twice in the header", a->file, a->name);
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "tensor %s appears in two shards: %s and %s", a->name, a->file,
                             b->file);
        }
    }
    for (size_t i = 0; i < st->n_files; i++) {
        /* Asynchronous read-ahead of the whole file: the model will read it. */
        (void)madvise(st->files[i].map, st->files[i].size, MADV_WILLNEED);
    }
    return TS_OK;
}

static ts_status open_one(ts_safetensors *st, const char *path, char *err, size_t err_size)
{
    size_t idx = 0;
    ts_status s = map_file(st, path, &idx, err, err_size);
    if (s != TS_OK) return s;
    return parse_header(st, &st->files[idx], err, err_size);
}

ts_status ts_safetensors_open_file(const char *path, ts_safetensors **out, char *err,
                                   size_t err_size)
{
    *out = NULL;
    ts_safetensors *st = calloc(1, sizeof *st);
    if (!st) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    st->label = dup_str(path);
    ts_status s = st->label ? open_one(st, path, err, err_size)
                            : ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", path);
    if (s == TS_OK) s = finish(st, err, err_size);
    if (s != TS_OK) {
        ts_safetensors_close(st);
        return s;
    }
    *out = st;
    return TS_OK;
}

/* ---- sharded checkpoints -------------------------------------------------- */

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool ts_shard_name_ok(const char *name)
{
    static const char suffix[] = ".safetensors";
    size_t n = strlen(name), ns = sizeof suffix - 1;
    if (n <= ns || n > 255 || name[0] == '.' || strcmp(name + n - ns, suffix) != 0) return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\') return false;
    return true;
}

void ts_weight_map_free(ts_weight_map *map)
{
    if (!map) return;
    free(map->tensor);
    free(map->shard);
    free(map->shards);
    cJSON_Delete(map->root);
    memset(map, 0, sizeof *map);
}

ts_status ts_weight_map_load(const char *index_path, ts_weight_map *map, char *err, size_t err_size)
{
    memset(map, 0, sizeof *map);
    ts_status s = ts_json_load_file(index_path, TS_MODEL_FILE_MAX, &map->root, err, err_size);
    if (s != TS_OK) return s;
    const cJSON *root = map->root;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root)) {
        s = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: expected a JSON object", index_path);
        goto fail;
    }
    if (!cJSON_IsObject(wm)) {
        s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                      "%s: \"weight_map\" must be an object {tensor: shard file}, got %s",
                      index_path, json_type_name(wm));
        goto fail;
    }
    const cJSON *e;
    size_t n = 0;
    cJSON_ArrayForEach(e, wm)
    {
        if (!cJSON_IsString(e)) {
            s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                          "%s: weight_map entry \"%s\" must be a shard file name, got %s",
                          index_path, e->string, json_type_name(e));
            goto fail;
        }
        if (!ts_shard_name_ok(e->valuestring)) {
            s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                          "%s: weight_map entry \"%s\": shard \"%s\" must be a plain file name "
                          "in the same directory (NAME.safetensors: no '/', no leading '.', no "
                          "control characters)",
                          index_path, e->string, e->valuestring);
            goto fail;
        }
        n++;
    }
    if (n == 0) {
        s = ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: weight_map is empty", index_path);
        goto fail;
    }
    map->tensor = malloc(n * sizeof *map->tensor);
    map->shard = malloc(n * sizeof *map->shard);
    map->shards = malloc(n * sizeof *map->shards);
    if (!map->tensor || !map->shard || !map->shards) {
        s = ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", index_path);
        goto fail;
    }
    cJSON_ArrayForEach(e, wm)
    {
        map->tensor[map->n] = e->string;
        map->shards[map->n++] = e->valuestring;
    }
    /* Distinct shard names, sorted; each entry then points at its own. */
    qsort(map->shards, n, sizeof *map->shards, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(map->shards[u - 1], map->shards[i]) != 0)
            map->shards[u++] = map->shards[i];
    map->n_shards = u;
    size_t i = 0;
    cJSON_ArrayForEach(e, wm)
    {
        const char *key = e->valuestring;
        const char **hit = bsearch(&key, map->shards, u, sizeof *map->shards, cmp_str);
        map->shard[i++] = *hit;
    }
    return TS_OK;
fail:
    ts_weight_map_free(map);
    return s;
}

static ts_status open_sharded(ts_safetensors *st, const char *dir, const char *index_path,
                              char *err, size_t err_size)
{
    ts_weight_map map;
    ts_status s = ts_weight_map_load(index_path, &map, err, err_size);
    if (s != TS_OK) return s;
    char path[4096];
    for (size_t i = 0; i < map.n_shards; i++) {
        const char *shard = map.shards[i];
        if (snprintf(path, sizeof path, "%s/%s", dir, shard) >= (int)sizeof path) {
            s = ts_errorf(err, err_size, TS_ERR_INVALID, "%s/%s: path too long", dir, shard);
            goto done;
        }
        if (!is_file(path)) {
            s = ts_errorf(err, err_size, TS_ERR_IO,
                          "%s: shard %s named in weight_map is missing (%s)", index_path, shard,
                          strerror(errno ? errno : ENOENT));
            goto done;
        }
        s = open_one(st, path, err, err_size);
        if (s != TS_OK) goto done;
    }
    s = finish(st, err, err_size);
    if (s != TS_OK) goto done;

    /* Every tensor of the map is in the shard the map names. */
    for (size_t i = 0; i < map.n; i++) {
        const ts_tensor *t = ts_safetensors_find(st, map.tensor[i]);
        if (!t) {
            s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                          "%s: tensor %s is mapped to %s but no shard holds it", index_path,
                          map.tensor[i], map.shard[i]);
            goto done;
        }
        const char *base = strrchr(t->file, '/');
        base = base ? base + 1 : t->file;
        if (strcmp(base, map.shard[i]) != 0) {
            s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                          "%s: tensor %s is mapped to %s but is in %s", index_path, map.tensor[i],
                          map.shard[i], base);
            goto done;
        }
    }
done:
    ts_weight_map_free(&map);
    return s;
}

ts_status ts_safetensors_open(const char *dir, ts_safetensors **out, char *err, size_t err_size)
{
    *out = NULL;
    char single[4096], index[4096], pickle[4096];
    if (snprintf(single, sizeof single, "%s/model.safetensors", dir) >= (int)sizeof single ||
        snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir) >=
            (int)sizeof index ||
        snprintf(pickle, sizeof pickle, "%s/pytorch_model.bin", dir) >= (int)sizeof pickle)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: path too long", dir);

    /* As transformers' from_pretrained: the single file wins over the index. */
    if (is_file(single)) return ts_safetensors_open_file(single, out, err, err_size);
    if (!is_file(index)) {
        if (is_file(pickle))
            return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                             "%s: only pytorch_model.bin is there; pickle checkpoints are not "
                             "loaded (unpickling can run code) — convert it to model.safetensors",
                             dir);
        return ts_errorf(err, err_size, TS_ERR_NOT_FOUND,
                         "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    ts_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->label = dup_str(index))) {
        free(st);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", dir);
    }
    ts_status s = open_sharded(st, dir, index, err, err_size);
    if (s != TS_OK) {
        ts_safetensors_close(st);
        return s;
    }
    *out = st;
    return TS_OK;
}
