/*
 * internal.h — declarations shared between libtempscale's .c files.
 * Not installed; not part of the public API (that is include/tempscale.h).
 * Each module adds its own section behind a banner.
 */
#ifndef TS_INTERNAL_H
#define TS_INTERNAL_H

#include "tempscale.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Programmer bugs only; never for bad input. */
#define TS_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/*
 * Write a printf-style one-line message into err (may be NULL) and return
 * status, so error paths read `return ts_errorf(err, n, TS_ERR_FORMAT, ...)`.
 */
ts_status ts_errorf(char *err, size_t err_size, ts_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* a * b into *out; false on size_t overflow. */
static inline int ts_mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

/*
 * Read a whole file into a NUL-terminated malloc'd buffer (caller frees).
 * *len gets the size without the NUL. Message names the path on failure.
 */
ts_status ts_read_file(const char *path, char **data, size_t *len, char *err, size_t err_size);

/*
 * Atomic output files: write to "<path>.tmp.XXXXXX" beside the target, then
 * rename over it, so a failed run never leaves a partial file.
 * ts_atomic_open fills *f and tmp (tmp_size >= strlen(path) + 16).
 * ts_atomic_commit closes f and renames (or removes tmp and fails);
 * ts_atomic_abort closes f and removes tmp.
 */
ts_status ts_atomic_open(const char *path, FILE **f, char *tmp, size_t tmp_size, char *err,
                         size_t err_size);
ts_status ts_atomic_commit(FILE *f, const char *tmp, const char *path, char *err,
                           size_t err_size);
void ts_atomic_abort(FILE *f, const char *tmp);

/* ---- temperature math internals (src/softmax.c, src/stats.c, src/sampler.c) */

/* What one validating pass over a logit vector learns. */
typedef struct ts_logits_info {
    float zmax;      /* largest finite logit */
    size_t imax;     /* its index (first on ties) */
    size_t n_finite; /* logits that are not -inf */
} ts_logits_info;

/*
 * Validate logits[n] and temperature with the rules of ts_softmax (n > 0,
 * T >= 0 and not NaN, no NaN or +inf logit, at least one finite logit) and
 * fill *info. TS_ERR_INVALID otherwise (info untouched). No allocation.
 */
ts_status ts_logits_scan(const float *logits, size_t n, double temperature, ts_logits_info *info);

/* ---- safetensors, config.json and weight binding -------------------------
 * src/safetensors.c: mmap + fully validated header of model.safetensors or a
 * sharded model.safetensors.index.json set. src/config.c: config.json.
 * src/weights.c: maps tensor names (with or without "transformer."), checks
 * every shape against the config, ties lm_head to wte when absent.
 */

/* A view of one tensor inside a mapped file. */
typedef struct ts_tensor {
    const char *name;   /* borrowed from the ts_safetensors */
    const void *data;   /* borrowed from the mmap; little-endian */
    ts_dtype dtype;
    int32_t ndim;
    int64_t shape[4];
    size_t nbytes;
} ts_tensor;

typedef struct ts_safetensors ts_safetensors;

/*
 * Open dir/model.safetensors, or dir/model.safetensors.index.json and every
 * shard it names. Every file is mmap'd read-only; every header is parsed and
 * validated (header length vs file size, offsets in bounds, contiguous and
 * non-overlapping, dtype size x shape == byte length, known dtypes F32, F16,
 * BF16 — other dtypes of tensors we never use are tolerated but reported as
 * unusable if bound). Messages name the file and the tensor.
 */
ts_status ts_safetensors_open(const char *dir, ts_safetensors **out, char *err, size_t err_size);
/* Open one .safetensors file (used by the above and by tests). */
ts_status ts_safetensors_open_file(const char *path, ts_safetensors **out, char *err,
                                   size_t err_size);
void ts_safetensors_close(ts_safetensors *st);
size_t ts_safetensors_count(const ts_safetensors *st);
const ts_tensor *ts_safetensors_get(const ts_safetensors *st, size_t i);
/* Exact-name lookup; NULL when absent. */
const ts_tensor *ts_safetensors_find(const ts_safetensors *st, const char *name);

/*
 * Parse dir/config.json into info (n_layer, n_head, n_embd, n_positions
 * (or n_ctx), vocab_size, layer_norm_epsilon, activation_function which must be
 * "gelu_new" (refuse others clearly), bos/eos ids). Missing or mistyped
 * required fields are errors naming the field.
 */
ts_status ts_config_load(const char *dir, ts_model_info *info, char *err, size_t err_size);

typedef struct ts_layer_weights {
    ts_tensor ln_1_w, ln_1_b;           /* (C), (C) */
    ts_tensor attn_w, attn_b;           /* c_attn Conv1D, stored [in, out]: (C, 3C), (3C) */
    ts_tensor attn_proj_w, attn_proj_b; /* (C, C), (C) */
    ts_tensor ln_2_w, ln_2_b;           /* (C), (C) */
    ts_tensor fc_w, fc_b;               /* mlp.c_fc: (C, 4C), (4C) */
    ts_tensor fc_proj_w, fc_proj_b;     /* mlp.c_proj: (4C, C), (C) */
} ts_layer_weights;

typedef struct ts_weights {
    ts_tensor wte;              /* (V, C) */
    ts_tensor wpe;              /* (n_positions, C) */
    ts_layer_weights *layers;   /* [n_layer], owned */
    ts_tensor ln_f_w, ln_f_b;   /* (C), (C) */
    ts_tensor lm_head;          /* (V, C); a copy of wte's view when tied */
    bool tied;
} ts_weights;

/*
 * Bind the tensors of st to the GPT-2 layout described by info; fills
 * info->dtype (of the matrices), info->n_params and info->tied_lm_head.
 * Ignores attn.bias / attn.masked_bias buffers. The views borrow from st.
 */
ts_status ts_weights_bind(const ts_safetensors *st, ts_model_info *info, ts_weights *w,
                          char *err, size_t err_size);
void ts_weights_release(ts_weights *w);


/* ---- model internals (src/model.c, src/kernels.c, src/threadpool.c) ------ */

/* ---- tokenizer internals (src/tokenizer.c, src/utf8.c) ------------------- */

/* ---- plotting internals (src/plot.c) ------------------------------------- */

/* ---- NumPy .npy files and CSV (src/npy.c, src/csv.c) --------------------- */

/* Largest number of dimensions the .npy reader accepts. */
#define TS_NPY_MAX_DIM 8

/*
 * Read a float16/32/64 .npy array (format versions 1.0-3.0, either byte order,
 * C or Fortran order) as row-major float32. *data is malloc'd (caller frees);
 * shape[0..*ndim) gets the dimensions. float64 values are rounded to float32.
 * Integer/bool arrays, structured dtypes and truncated files are errors naming path.
 */
ts_status ts_npy_read_f32(const char *path, float **data, int32_t *ndim,
                          size_t shape[TS_NPY_MAX_DIM], char *err, size_t err_size);

/*
 * Read class labels: a 1-D (or [N,1]) array of any integer / bool dtype, or a
 * float dtype whose values are all integral. *labels is malloc'd (caller
 * frees). Negative or non-integral values are errors naming the element.
 */
ts_status ts_npy_read_labels(const char *path, int32_t **labels, size_t *n, char *err,
                             size_t err_size);

/*
 * Write data (row-major, prod(shape) floats) as a version 1.0 '<f4' .npy file
 * that np.load reads; the header is padded to a 64-byte boundary as numpy does.
 * Atomic: a failed write leaves no file at path.
 */
ts_status ts_npy_write_f32(const char *path, const float *data, int32_t ndim, const size_t *shape,
                           char *err, size_t err_size);

/*
 * Read a logits CSV: a header line "label,logit_0,...,logit_{K-1}" (first
 * column named "label"; K >= 2) then one row per example: an integer label in
 * [0, K) and K finite numbers. Blank lines are skipped; CRLF is accepted.
 * *logits ([n][k] row-major) and *labels are malloc'd (caller frees). Errors
 * name "path:line" and the column: ragged rows, non-numeric cells, NaN/inf,
 * labels out of range or not integers, a missing header, an empty file.
 */
ts_status ts_csv_read_logits(const char *path, float **logits, int32_t **labels, size_t *n,
                             size_t *k, char *err, size_t err_size);

/* ---- hub internals (src/hub.c) ------------------------------------------- */

#endif /* TS_INTERNAL_H */
