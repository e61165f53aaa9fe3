/*
 * st_writer.h — test helper: write small .safetensors files, config.json and
 * whole tiny GPT-2 checkpoint directories (single or sharded), so tests need
 * no binary fixtures. Header-only; everything static inline.
 *
 * Tensor values follow a pattern the tests can recompute from the name alone:
 * element i of tensor NAME (unprefixed) is stw_value(NAME, i), a small integer
 * exactly representable in F32, F16 and BF16.
 */
#ifndef TS_ST_WRITER_H
#define TS_ST_WRITER_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- conversions --------------------------------------------------------- */

static inline uint16_t stw_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, e8 = (x >> 23) & 0xffu, mant = x & 0x7fffffu;
    if (e8 == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
    int32_t exp = (int32_t)e8 - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp), h = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline float stw_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, x;
    if (exp == 0) {
        if (mant == 0)
            x = sign;
        else {
            exp = 127 - 15 + 1;
            while (!(mant & 0x400u))
                mant <<= 1, exp--;
            x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31)
        x = sign | 0x7f800000u | (mant << 13);
    else
        x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static inline uint16_t stw_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fffu + ((x >> 16) & 1); /* round to nearest even (no NaNs in tests) */
    return (uint16_t)(x >> 16);
}

static inline float stw_bf16_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* The pattern value of element i of tensor `name`. */
static inline float stw_value(const char *name, size_t i)
{
    uint32_t hsh = 2166136261u;
    for (const char *p = name; *p; p++)
        hsh = (hsh ^ (unsigned char)*p) * 16777619u;
    return (float)((hsh % 97u + i) % 200u) - 100.0f;
}

/* ---- raw files ------------------------------------------------------------ */

static inline int stw_write_bytes(const char *path, const void *a, size_t na, const void *b,
                                  size_t nb)
{
    /* A new inode each time: rewriting in place makes ext4 (auto_da_alloc)
     * flush on close, which turns the fuzz loop from 0.2 s into 10 s. */
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = (na && fwrite(a, 1, na, f) != na) || (nb && fwrite(b, 1, nb, f) != nb);
    return fclose(f) != 0 || bad ? -1 : 0;
}

static inline int stw_write_text(const char *path, const char *text)
{
    return stw_write_bytes(path, text, strlen(text), NULL, 0);
}

/*
 * A safetensors file with header length field `header_len` (normally
 * strlen(header)), the header text itself, then data_len bytes of pattern.
 */
static inline int stw_write_raw(const char *path, uint64_t header_len, const char *header,
                                size_t data_len)
{
    size_t hn = strlen(header), total = 8 + hn + data_len;
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf) return -1;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(header_len >> (8 * i));
    memcpy(buf + 8, header, hn);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + hn + i] = (unsigned char)(i * 7 + 3);
    int r = stw_write_bytes(path, buf, total, NULL, 0);
    free(buf);
    return r;
}

/* Header text padded with spaces to a multiple of 8, correct length field. */
static inline int stw_write_json(const char *path, const char *header, size_t data_len)
{
    size_t hn = strlen(header), pad = (8 - hn % 8) % 8;
    char *h = malloc(hn + pad + 1);
    if (!h) return -1;
    memcpy(h, header, hn);
    memset(h + hn, ' ', pad);
    h[hn + pad] = '\0';
    int r = stw_write_raw(path, hn + pad, h, data_len);
    free(h);
    return r;
}

/* ---- a builder that lays tensors out like the safetensors library ------- */

typedef struct stw_entry {
    char name[192];
    char dtype[16];
    int ndim;
    int64_t shape[4];
    unsigned char *bytes;
    size_t nbytes, esize;
} stw_entry;

typedef struct stw {
    stw_entry *e;
    size_t n, cap;
} stw;

static inline size_t stw_esize(const char *dtype)
{
    if (!strcmp(dtype, "F32") || !strcmp(dtype, "I32") || !strcmp(dtype, "U32")) return 4;
    if (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16") || !strcmp(dtype, "I16")) return 2;
    if (!strcmp(dtype, "F64") || !strcmp(dtype, "I64") || !strcmp(dtype, "U64")) return 8;
    return 1;
}

/* Add a tensor whose elements are stw_value(value_name, i) in dtype (F32,
 * F16, BF16) or raw pattern bytes for other dtypes. */
static inline void stw_add(stw *w, const char *name, const char *value_name, const char *dtype,
                           int ndim, const int64_t *shape)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 32;
        w->e = realloc(w->e, w->cap * sizeof *w->e);
        if (!w->e) abort();
    }
    stw_entry *e = &w->e[w->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->dtype, sizeof e->dtype, "%s", dtype);
    e->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++)
        e->shape[i] = shape[i], numel *= (size_t)shape[i];
    e->esize = stw_esize(dtype);
    e->nbytes = numel * e->esize;
    e->bytes = malloc(e->nbytes ? e->nbytes : 1);
    if (!e->bytes) abort();
    for (size_t i = 0; i < numel; i++) {
        float v = stw_value(value_name, i);
        if (!strcmp(dtype, "F32"))
            memcpy(e->bytes + 4 * i, &v, 4);
        else if (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16")) {
            uint16_t h = !strcmp(dtype, "F16") ? stw_f32_to_f16(v) : stw_f32_to_bf16(v);
            memcpy(e->bytes + 2 * i, &h, 2);
        } else
            for (size_t k = 0; k < e->esize; k++)
                e->bytes[i * e->esize + k] = (unsigned char)i;
    }
}

static inline int stw_cmp_entry(const void *a, const void *b)
{
    const stw_entry *x = a, *y = b;
    if (x->esize != y->esize) return x->esize > y->esize ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Write the file (tensors by decreasing element size, so all are aligned). */
static inline int stw_save(stw *w, const char *path)
{
    qsort(w->e, w->n, sizeof *w->e, stw_cmp_entry);
    size_t cap = 256 + w->n * 256, at = 0, off = 0;
    char *h = malloc(cap);
    if (!h) return -1;
    at += (size_t)snprintf(h + at, cap - at, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < w->n; i++) {
        stw_entry *e = &w->e[i];
        at += (size_t)snprintf(h + at, cap - at, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e->name,
                               e->dtype);
        for (int d = 0; d < e->ndim; d++)
            at +=
                (size_t)snprintf(h + at, cap - at, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        at += (size_t)snprintf(h + at, cap - at, "],\"data_offsets\":[%zu,%zu]}", off,
                               off + e->nbytes);
        off += e->nbytes;
    }
    at += (size_t)snprintf(h + at, cap - at, "}");
    while (at % 8)
        h[at++] = ' ';
    h[at] = '\0';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h);
        return -1;
    }
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)at >> (8 * i));
    int bad = fwrite(len, 1, 8, f) != 8 || fwrite(h, 1, at, f) != at;
    for (size_t i = 0; i < w->n; i++)
        if (w->e[i].nbytes && fwrite(w->e[i].bytes, 1, w->e[i].nbytes, f) != w->e[i].nbytes)
            bad = 1;
    free(h);
    return fclose(f) != 0 || bad ? -1 : 0;
}

static inline void stw_free(stw *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->e[i].bytes);
    free(w->e);
    memset(w, 0, sizeof *w);
}

/* ---- tiny GPT-2 checkpoint directories ----------------------------------- */

typedef struct stw_gpt2 {
    int n_layer, n_head, n_embd, n_vocab, n_positions;
    const char *dtype;        /* of matrices: F32 / F16 / BF16 */
    const char *small_dtype;  /* of vectors (ln, biases); NULL = dtype */
    bool prefix;              /* "transformer." names */
    bool untied;              /* write lm_head.weight */
    bool masks;               /* write attn.bias (BOOL) / attn.masked_bias buffers */
    int n_shards;             /* 0 or 1: model.safetensors; n: index + n shards */
    const char *omit;         /* unprefixed tensor name to leave out */
    const char *bad_shape;    /* unprefixed tensor name whose last dim gets +1 */
    const char *bad_dtype;    /* unprefixed tensor name written as I8 */
    bool extra_layer;         /* also write h.<n_layer>.ln_1.weight */
    const char *config_extra; /* extra JSON members for config.json, e.g. ",\"x\":1" */
} stw_gpt2;

static inline stw_gpt2 stw_gpt2_default(void)
{
    stw_gpt2 g = {
        .n_layer = 2, .n_head = 2, .n_embd = 8, .n_vocab = 11, .n_positions = 5, .dtype = "F32"};
    return g;
}

static inline void stw_gpt2_add(stw *w, const stw_gpt2 *g, const char *name, bool prefixed,
                                int64_t d0, int64_t d1)
{
    if (g->omit && !strcmp(g->omit, name)) return;
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefixed && g->prefix ? "transformer." : "", name);
    int64_t shape[2] = {d0, d1};
    int ndim = d1 < 0 ? 1 : 2;
    if (g->bad_shape && !strcmp(g->bad_shape, name)) shape[ndim - 1]++;
    const char *dt = ndim == 2 || !g->small_dtype ? g->dtype : g->small_dtype;
    if (g->bad_dtype && !strcmp(g->bad_dtype, name)) dt = "I8";
    stw_add(w, full, name, dt, ndim, shape);
}

/* Write dir/config.json and the weights. Returns 0 on success. */
static inline int stw_gpt2_write(const char *dir, const stw_gpt2 *g)
{
    char path[1024], cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\":\"gpt2\",\"architectures\":[\"GPT2LMHeadModel\"],\"n_layer\":%d,"
             "\"n_head\":%d,\"n_embd\":%d,\"vocab_size\":%d,\"n_positions\":%d,\"n_ctx\":%d,"
             "\"activation_function\":\"gelu_new\",\"layer_norm_epsilon\":1e-05,"
             "\"tie_word_embeddings\":%s%s}",
             g->n_layer, g->n_head, g->n_embd, g->n_vocab, g->n_positions, g->n_positions,
             g->untied ? "false" : "true", g->config_extra ? g->config_extra : "");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (stw_write_text(path, cfg) != 0) return -1;

    stw w = {0};
    const int64_t C = g->n_embd;
    stw_gpt2_add(&w, g, "wte.weight", true, g->n_vocab, C);
    stw_gpt2_add(&w, g, "wpe.weight", true, g->n_positions, C);
    for (int l = 0; l <= g->n_layer; l++) {
        char n[128];
        if (l == g->n_layer) {
            if (g->extra_layer) {
                snprintf(n, sizeof n, "h.%d.ln_1.weight", l);
                stw_gpt2_add(&w, g, n, true, C, -1);
            }
            break;
        }
#define STW_T(suffix, d0, d1)                                                                      \
    do {                                                                                           \
        snprintf(n, sizeof n, "h.%d.%s", l, suffix);                                               \
        stw_gpt2_add(&w, g, n, true, d0, d1);                                                      \
    } while (0)
        STW_T("ln_1.weight", C, -1);
        STW_T("ln_1.bias", C, -1);
        STW_T("attn.c_attn.weight", C, 3 * C);
        STW_T("attn.c_attn.bias", 3 * C, -1);
        STW_T("attn.c_proj.weight", C, C);
        STW_T("attn.c_proj.bias", C, -1);
        STW_T("ln_2.weight", C, -1);
        STW_T("ln_2.bias", C, -1);
        STW_T("mlp.c_fc.weight", C, 4 * C);
        STW_T("mlp.c_fc.bias", 4 * C, -1);
        STW_T("mlp.c_proj.weight", 4 * C, C);
        STW_T("mlp.c_proj.bias", C, -1);
#undef STW_T
        if (g->masks) {
            char full[160];
            int64_t mshape[4] = {1, 1, g->n_positions, g->n_positions};
            snprintf(full, sizeof full, "%sh.%d.attn.bias", g->prefix ? "transformer." : "", l);
            stw_add(&w, full, full, "BOOL", 4, mshape);
            snprintf(full, sizeof full, "%sh.%d.attn.masked_bias", g->prefix ? "transformer." : "",
                     l);
            stw_add(&w, full, full, "F32", 0, mshape);
        }
    }
    stw_gpt2_add(&w, g, "ln_f.weight", true, C, -1);
    stw_gpt2_add(&w, g, "ln_f.bias", true, C, -1);
    if (g->untied) stw_gpt2_add(&w, g, "lm_head.weight", false, g->n_vocab, C);

    int r = 0;
    if (g->n_shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        r = stw_save(&w, path);
    } else {
        /* Round-robin the tensors into shards; write the index. */
        size_t cap = 256 + w.n * 256, at = 0;
        char *idx = malloc(cap);
        if (!idx) abort();
        at += (size_t)snprintf(idx, cap, "{\"metadata\":{\"total_size\":0},\"weight_map\":{");
        bool first = true;
        for (int s = 0; s < g->n_shards && r == 0; s++) {
            stw part = {0};
            char shard[64];
            snprintf(shard, sizeof shard, "model-%05d-of-%05d.safetensors", s + 1, g->n_shards);
            for (size_t i = (size_t)s; i < w.n; i += (size_t)g->n_shards) {
                stw_entry *e = &w.e[i];
                if (part.n == part.cap) {
                    part.cap = part.cap ? 2 * part.cap : 32;
                    part.e = realloc(part.e, part.cap * sizeof *part.e);
                    if (!part.e) abort();
                }
                part.e[part.n++] = *e; /* shares bytes with w */
                at += (size_t)snprintf(idx + at, cap - at, "%s\"%s\":\"%s\"", first ? "" : ",",
                                       e->name, shard);
                first = false;
            }
            snprintf(path, sizeof path, "%s/%s", dir, shard);
            r = stw_save(&part, path);
            free(part.e);
        }
        at += (size_t)snprintf(idx + at, cap - at, "}}");
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (r == 0) r = stw_write_text(path, idx);
        free(idx);
    }
    stw_free(&w);
    return r;
}

/* ---- temp dirs ------------------------------------------------------------ */

/* mkdtemp under $TMPDIR or /tmp; path written into buf. */
static inline int stw_mkdtemp(char *buf, size_t size)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, size, "%s/ts_test_XXXXXX", t && t[0] ? t : "/tmp");
    return mkdtemp(buf) ? 0 : -1;
}

/* Remove a test directory: plain files and subdirectories (depth <= 4). */
static inline void stw_rmdir_depth(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char path[1200];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) continue;
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (depth > 0) stw_rmdir_depth(path, depth - 1);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static inline void stw_rmdir(const char *dir)
{
    stw_rmdir_depth(dir, 4);
}

#endif /* TS_ST_WRITER_H */
