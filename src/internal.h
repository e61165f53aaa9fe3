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
#define TS_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * Write a printf-style one-line message into err (may be NULL) and return
 * status, so error paths read `return ts_errorf(err, n, TS_ERR_FORMAT, ...)`.
 * Messages quote outside text (a server's header, a tensor name, a config
 * string), so bytes that could drive a terminal are escaped as \xNN: C0
 * controls (newline included), DEL, C1 controls (U+0080..U+009F) and bytes
 * that are not UTF-8. The message is always one printable line, cut (never
 * inside an escape) to err_size - 1 bytes; arguments may alias err.
 */
ts_status ts_errorf(char *err, size_t err_size, ts_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* a * b into *out; false on size_t overflow. */
static inline int ts_mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

/*
 * Reading files an attacker may control (docs/security.md). Only regular
 * files are read: a FIFO, a device (/dev/zero, /dev/urandom), a socket or a
 * directory is refused by stat() before it is opened (so nothing blocks and no
 * device is touched), and a file larger than the reader's cap is refused before
 * any byte is read.
 */
#define TS_READ_FILE_MAX   ((uint64_t)1 << 30)  /* ts_read_file: 1 GiB (CSV, text) */
#define TS_MODEL_FILE_MAX  ((uint64_t)16 << 20) /* vocab.json, merges.txt, *.index.json */
#define TS_CONFIG_FILE_MAX ((uint64_t)1 << 20)  /* config.json: 1 MiB */
/* Values (objects, arrays, scalars) in one JSON document: cJSON spends ~80
 * bytes on each, so this bounds a parse at ~170 MiB whatever the input. */
#define TS_JSON_MAX_VALUES ((size_t)1 << 21)

/*
 * Open path read-only if it is a regular file of at most max_bytes bytes:
 * *fd (close it) and *size. TS_ERR_IO naming the path ("not a regular file",
 * errno's text), TS_ERR_RANGE when it is larger than max_bytes.
 */
ts_status ts_open_regular(const char *path, uint64_t max_bytes, int *fd, uint64_t *size, char *err,
                          size_t err_size);

/*
 * ts_read_file (public, tempscale.h) with another cap: the file must be a
 * regular file of at most max_bytes (ts_read_file's cap is TS_READ_FILE_MAX).
 */
ts_status ts_read_file_max(const char *path, uint64_t max_bytes, char **data, size_t *len,
                           char *err, size_t err_size);

/*
 * An upper bound on the number of values cJSON would build for text (one per
 * ',', '[' and '{' outside strings, plus one). No allocation.
 */
size_t ts_json_count_values(const char *text, size_t len);

/*
 * Parse len bytes of JSON text (what names it in messages: a path or a URL)
 * into *root (caller frees with cJSON_Delete). Refuses, before building
 * anything, a document of more than max_values values; then errors are
 * "invalid JSON at line L, column C" and "unexpected text after the JSON
 * value" (whitespace may follow).
 */
struct cJSON;
ts_status ts_json_parse(const char *what, const char *text, size_t len, size_t max_values,
                        struct cJSON **root, char *err, size_t err_size);

/*
 * The one reader of JSON files (config.json, vocab.json, *.index.json):
 * ts_read_file_max(path, max_bytes) then ts_json_parse(path, ...,
 * TS_JSON_MAX_VALUES).
 */
ts_status ts_json_load_file(const char *path, uint64_t max_bytes, struct cJSON **root, char *err,
                            size_t err_size);

/*
 * Atomic output files: write to "<path>.tmp.XXXXXX" beside the target, then
 * rename over it, so a failed run never leaves a partial file.
 * ts_atomic_open fills *f and tmp (tmp_size >= strlen(path) + 16).
 * ts_atomic_commit closes f and renames (or removes tmp and fails);
 * ts_atomic_abort closes f and removes tmp.
 */
ts_status ts_atomic_open(const char *path, FILE **f, char *tmp, size_t tmp_size, char *err,
                         size_t err_size);
ts_status ts_atomic_commit(FILE *f, const char *tmp, const char *path, char *err, size_t err_size);
void ts_atomic_abort(FILE *f, const char *tmp);

/* ---- temperature math internals (src/core/softmax.c, src/core/stats.c, src/sampling/sampler.c) */

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

/* ---- sampling internals (src/sampling/generate.c, src/sampling/sampler.c) ------ */

/*
 * u in (0, 1), 53 bits, from a counter-based hash (SplitMix64 finaliser chained
 * over a, b, c, d): no state, the same on every platform. The Gumbel noise is
 * u(seed, stream, step, id); the XTC coin u(key, "XTC!", step, 0).
 */
double ts_counter_uniform(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* ---- safetensors, config.json and weight binding -------------------------
 * src/engine/safetensors.c: mmap + fully validated header of model.safetensors or a
 * sharded model.safetensors.index.json set. src/engine/config.c: config.json.
 * src/engine/weights.c: maps tensor names (with or without "transformer."), checks
 * every shape against the config, ties lm_head to wte when absent.
 */

/* A view of one tensor inside a mapped file. */
typedef struct ts_tensor {
    const char *name; /* borrowed from the ts_safetensors */
    const void *data; /* borrowed from the mmap; little-endian; NOT guaranteed
                         aligned (ts_weights_bind checks the tensors it binds) */
    ts_dtype dtype;   /* meaningful only when supported */
    int32_t ndim;     /* may exceed 4: then shape[] holds the first 4 dims */
    int64_t shape[4];
    size_t nbytes;
    bool supported;         /* dtype is F32, F16 or BF16 */
    const char *dtype_name; /* as spelled in the file ("F32", "I64", "BOOL"...), static */
    const char *file;       /* path of the .safetensors holding it, borrowed */
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
/* The path opened: the .safetensors file, or the index of a sharded set. Borrowed. */
const char *ts_safetensors_path(const ts_safetensors *st);

/*
 * The one reader of model.safetensors.index.json, for the loader and for
 * `pull`: {"weight_map": {TENSOR: SHARD, ...}, ...}. The file is read with
 * ts_json_load_file (a regular file, at most TS_MODEL_FILE_MAX bytes); the
 * weight_map must be a non-empty object of strings, and every SHARD must pass
 * ts_shard_name_ok. Messages name the path and the entry.
 */
typedef struct ts_weight_map {
    size_t n;            /* entries, in file order */
    const char **tensor; /* [n] tensor names */
    const char **shard;  /* [n] each entry's shard (a string of shards[]) */
    const char **shards; /* [n_shards] the distinct shard names, sorted */
    size_t n_shards;
    struct cJSON *root; /* owns the strings above */
} ts_weight_map;
ts_status ts_weight_map_load(const char *index_path, ts_weight_map *map, char *err,
                             size_t err_size);
/* Free what ts_weight_map_load filled; a zeroed map is a no-op. */
void ts_weight_map_free(ts_weight_map *map);

/*
 * The one rule for a shard file name (pull downloads it, the loader opens it,
 * both beside the index): a plain name ending in ".safetensors", at most 255
 * bytes, with no '/', '\\', leading '.', or control character (C0, DEL).
 */
bool ts_shard_name_ok(const char *name);

/*
 * Parse dir/config.json into info (n_layer, n_head, n_embd, n_positions
 * (or n_ctx), vocab_size, layer_norm_epsilon, activation_function which must be
 * "gelu_new" (refuse others clearly), bos/eos ids). Missing or mistyped
 * required fields are errors naming the field.
 */
ts_status ts_config_load(const char *dir, ts_model_info *info, char *err, size_t err_size);

/*
 * The tensors of one GPT-2 block: one table (weights.c: ts_layer_tensors) gives
 * each its name suffix after "h.N." and its shape in units of n_embd C
 * (cols 0 = a vector). Binding, the F32 copies of the vectors and the
 * matrix conversions all walk this table instead of naming fields.
 */
typedef enum ts_layer_tensor {
    TS_LT_LN_1_W = 0,  /* ln_1.weight (C) */
    TS_LT_LN_1_B,      /* ln_1.bias (C) */
    TS_LT_ATTN_W,      /* attn.c_attn.weight Conv1D [in, out] (C, 3C) */
    TS_LT_ATTN_B,      /* attn.c_attn.bias (3C) */
    TS_LT_ATTN_PROJ_W, /* attn.c_proj.weight (C, C) */
    TS_LT_ATTN_PROJ_B, /* attn.c_proj.bias (C) */
    TS_LT_LN_2_W,      /* ln_2.weight (C) */
    TS_LT_LN_2_B,      /* ln_2.bias (C) */
    TS_LT_FC_W,        /* mlp.c_fc.weight (C, 4C) */
    TS_LT_FC_B,        /* mlp.c_fc.bias (4C) */
    TS_LT_FC_PROJ_W,   /* mlp.c_proj.weight (4C, C) */
    TS_LT_FC_PROJ_B,   /* mlp.c_proj.bias (C) */
    TS_LT_COUNT
} ts_layer_tensor;
typedef struct ts_layer_tensor_desc {
    const char *suffix; /* after "h.N." */
    int rows_c, cols_c; /* shape = (rows_c * C, cols_c * C); cols_c 0: a vector of rows_c * C */
} ts_layer_tensor_desc;
extern const ts_layer_tensor_desc ts_layer_tensors[TS_LT_COUNT];

typedef struct ts_layer_weights {
    ts_tensor t[TS_LT_COUNT]; /* indexed by ts_layer_tensor */
} ts_layer_weights;

typedef struct ts_weights {
    ts_tensor wte;            /* (V, C) */
    ts_tensor wpe;            /* (n_positions, C) */
    ts_layer_weights *layers; /* [n_layer], owned */
    ts_tensor ln_f_w, ln_f_b; /* (C), (C) */
    ts_tensor lm_head;        /* (V, C); a copy of wte's view when tied */
    bool tied;
} ts_weights;

/*
 * Bind the tensors of st to the GPT-2 layout described by info; fills
 * info->dtype (of the matrices), info->n_params and info->tied_lm_head.
 * Ignores attn.bias / attn.masked_bias buffers. The views borrow from st.
 */
ts_status ts_weights_bind(const ts_safetensors *st, ts_model_info *info, ts_weights *w, char *err,
                          size_t err_size);
void ts_weights_release(ts_weights *w);

/* ---- model internals (src/engine/model.c, src/engine/kernels.c, src/engine/threadpool.c) ------
 */

/*
 * Thread pool (src/engine/threadpool.c): n_threads - 1 persistent workers plus the
 * calling thread. ts_threadpool_run(pool, fn, arg) calls fn(arg, ith, nth) on
 * every thread (the caller is ith 0) and returns when all have finished. It
 * never allocates. Workers spin briefly after a job (decode dispatches ~30 jobs
 * per token) and then sleep on a condition variable. One caller at a time.
 */
typedef struct ts_threadpool ts_threadpool;
typedef void (*ts_task_fn)(void *arg, int ith, int nth);
ts_status ts_threadpool_new(int n_threads, ts_threadpool **out);
void ts_threadpool_free(ts_threadpool *pool);
int ts_threadpool_size(const ts_threadpool *pool);
void ts_threadpool_run(ts_threadpool *pool, ts_task_fn fn, void *arg);
/*
 * The same for work taken in chunks: fn runs on the caller and on each
 * worker that wakes before the caller's own call returns, possibly not on all
 * (a worker descheduled on a busy machine is not waited for, unless it has
 * already joined). So fn must take its work in chunks until none is left
 * (never a fixed share by ith); ith is still distinct among the calls (for
 * scratch). Returns when every call made has finished.
 */
void ts_threadpool_run_shared(ts_threadpool *pool, ts_task_fn fn, void *arg);
/* Online cores (>= 1). */
int ts_threadpool_n_cores(void);

/*
 * Evaluate prompts in chunks of at most n_batch rows (1 <= n_batch <= the
 * size set by ts_context_new, min(n_ctx, 512)). For tests of the chunked path.
 */
void ts_context_set_batch(ts_context *ctx, size_t n_batch);

/*
 * Kernels (src/engine/kernels.c). Legend: T tokens, C channels, K inner size, N
 * outputs, V vocabulary. Weight matrices stay in their dtype (F32, F16, BF16
 * or Q8_0) and are converted to F32 in registers; every accumulation is F32.
 * Activations are F32. No kernel allocates, prints or fails.
 *
 * Every dtype is one row of the traits table in kernels.c (block size, bytes
 * per block, and per ISA: to-F32 conversion, row-dot GEMV, Conv1D GEMVs);
 * docs/engine.md has the recipe for adding one.
 */

/*
 * How a matrix's elements lie in memory. A matrix is always described by its
 * logical shape (rows, cols) as the checkpoint stores it: Conv1D (K, N) =
 * [in, out], the vocabulary projection (V, C).
 *   TS_LAYOUT_ROWS    row-major [rows][cols] (as stored in the checkpoint)
 *   TS_LAYOUT_PANELS  Conv1D only: ceil(N / 32) column panels, each [K][32]
 *                     row-major (zero-padded past N), panel after panel: one
 *                     thread's share of the output columns is one contiguous
 *                     stream, and a prefill GEMM panel is ready-made.
 *   TS_LAYOUT_COLS    Conv1D only: transposed, N rows of K (blocks run along the
 *                     input dimension: Q8_0 is always stored so).
 */
typedef enum ts_layout { TS_LAYOUT_ROWS = 0, TS_LAYOUT_PANELS = 1, TS_LAYOUT_COLS = 2 } ts_layout;
#define TS_PANEL 32 /* columns per panel */

typedef struct ts_mat {
    const void *data; /* little-endian elements of dtype, in layout */
    ts_dtype dtype;
    size_t rows, cols; /* logical shape */
    ts_layout layout;
} ts_mat;

/* Elements per block (1, or 32 for Q8_0) and bytes of n elements (n a multiple of the block). */
size_t ts_dtype_block(ts_dtype dt);
size_t ts_dtype_row_bytes(ts_dtype dt, size_t n);
/* Bytes a matrix of this shape takes in this layout and dtype. */
size_t ts_mat_bytes(ts_dtype dt, ts_layout layout, size_t rows, size_t cols);

/* Which SIMD code path the kernels take (the best one compiled in and supported). */
typedef enum ts_isa { TS_ISA_SCALAR = 0, TS_ISA_AVX2 = 1, TS_ISA_AVX512 = 2 } ts_isa;
/* Resolved once (pthread_once); safe to call from any thread. */
ts_isa ts_kernels_isa(void);
const char *ts_isa_name(ts_isa isa);
/* Force a code path (tests and bench; not while another thread runs kernels);
 * returns false if it is not available. */
bool ts_kernels_force_isa(ts_isa isa);

float ts_f16_to_f32(uint16_t h);
float ts_bf16_to_f32(uint16_t h);
/* Round to nearest even, as F16C's vcvtps2ph does (inf/NaN kept). */
uint16_t ts_f32_to_f16(float f);
uint16_t ts_f32_to_bf16(float f);

/*
 * out[0:n] = W[row, col0 : col0 + n] as F32. Any layout; for Q8_0 col0 and n
 * must be multiples of 32 in TS_LAYOUT_ROWS. Fast for TS_LAYOUT_ROWS (a
 * contiguous run, which may span rows: rows are consecutive), element by
 * element otherwise (tests, fallbacks).
 */
void ts_mat_row_f32(const ts_mat *W, size_t row, size_t col0, size_t n, float *out);

/*
 * Convert n F32 values to dtype dt at dst (n a multiple of the block); Q8_0
 * blocks exactly as llama.cpp's quantize_row_q8_0_ref (and gguf-py's
 * Q8_0.quantize_blocks): d = max|x| / 127, q = roundf(x * (1 / d)) (0 when
 * d = 0), d stored as F16 (round to nearest even).
 */
void ts_convert_f32(ts_dtype dt, const float *src, void *dst, size_t n);

/*
 * Decode GEMV for a Conv1D matrix W (K, N) in any layout:
 * y[n0:n1] = x[0:K] . W[:, n0:n1]. Overwrites. With TS_LAYOUT_PANELS, n0 must
 * be a multiple of 32 and n1 one too or N.
 *
 * Split-K: decode sums over TS_SPLITK fixed blocks of the input index, block c
 * = [k0, k1) from ts_splitk_block (boundaries on multiples of 8), each block's
 * partial sum in its kernel's own order, then the partials added in block
 * order (((p0 + p1) + p2) + ...). On row-major W the model computes the blocks
 * with ts_gemv_xw_block (threads take whole blocks: each streams whole rows)
 * and adds them; ts_gemv_xw on TS_LAYOUT_PANELS computes the same sum inside
 * each panel and gives the same bits, on every ISA, when N is a multiple of
 * 16 (so that the row-major kernels run no scalar column tail). So decode
 * does not depend on the thread count, and row-major weights may be repacked
 * into panels while a model is in use (model.c's background copy) without
 * changing a result. ts_gemv_xw on TS_LAYOUT_ROWS is one pass over all K.
 */
#define TS_SPLITK 8
void ts_splitk_block(size_t K, size_t c, size_t *k0, size_t *k1);
/* part[0:N] = x[k0:k1] . W[k0:k1, :] for block c of a row-major W (K, N). */
void ts_gemv_xw_block(float *part, const float *x, const ts_mat *W, size_t c);
void ts_gemv_xw(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1);
/* y[r] = W[r, :] . x for r in [r0, r1), W (rows, K) row-major (the vocabulary projection). */
void ts_gemv_wx(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1);

/*
 * Prefill GEMMs with the dtype widened in registers or per panel.
 * ts_gemm_available() is true when they have a fast path (AVX-512); otherwise
 * model.c uses OpenBLAS sgemm (these still work, as slow reference loops).
 *   ts_gemm_xw: Y[T][n0:n1] (+=, =, gelu_new of) X[T][K] . W[K][n0:n1] + bias[n0:n1], as `epi`
 *               says; bias NULL for none (W (K, N) Conv1D, any layout; ldY = N; PANELS: n0,
 *               n1 as for ts_gemv_xw). The bias and GELU are applied to each tile's sums in
 *               registers: Y is written once (ADD: y + (sum + bias), the order decode uses).
 *   ts_gemm_wx: Y[t][r] = X[t][0:K] . W[r][0:K], r in [r0, r1)   (W (V, K) rows; ldY = ldy)
 * scratch: 64-byte aligned, K * 96 floats (a packed panel, 32 dequantized rows, or the
 * Q8_0 integer path's int16 panel and 128 quantized rows of X).
 * ts_gemm_q8_int16(): ts_gemm_xw on Q8_0 rounds X to int16 per block of 32 as
 * the decode GEMVs do and multiplies in integers (AVX512-VNNI); otherwise it
 * multiplies dequantized weights by X in F32. Prefill and decode agree within
 * 1e-3 either way.
 */
bool ts_gemm_q8_int16(void);
bool ts_gemm_available(void);
typedef enum ts_gemm_epi { TS_GEMM_ADD, TS_GEMM_STORE, TS_GEMM_GELU } ts_gemm_epi;
void ts_gemm_xw(float *Y, const float *X, size_t T, const ts_mat *W, size_t n0, size_t n1,
                const float *bias, ts_gemm_epi epi, float *scratch);
void ts_gemm_wx(float *Y, size_t ldy, const float *X, size_t T, const ts_mat *W, size_t r0,
                size_t r1, float *scratch);
/*
 * out[k][0:cw] = W[k][c0:c0+cw] as F32 for every k < K (a column block of a
 * Conv1D matrix in any layout, k-major): the OpenBLAS fallback's panel.
 */
void ts_mat_cols_f32(const ts_mat *W, size_t c0, size_t cw, float *out);

float ts_dot_f32(const float *a, const float *b, size_t n);
/*
 * One head of attention for one query: s[i] = scale * q . K_i over the n keys
 * K_i = k + i * stride (hd floats each), p = softmax(s) left in s[0:n], and
 * o[0:hd] = sum_i p_i V_i with V_i = v + i * stride. s: scratch of n floats.
 * Head size 64 (every GPT-2) has register-resident SIMD kernels.
 */
void ts_attn_head_f32(float *o, const float *q, const float *k, const float *v, size_t stride,
                      size_t n, size_t hd, float scale, float *s);
/*
 * nq (1..4) consecutive queries of one head, causal: query r (q + r * ldq) sees the first
 * n + r keys (n >= 1) and gets o + r * ldo; as ts_attn_head_f32 on each, within rounding
 * (head size 64 on AVX-512, given kt, reads each key block and V row once for all of them).
 * s: scratch of 4 * (n + 18) floats; its contents are not the probabilities. kt: NULL (one
 * query at a time), or the head's keys transposed by ts_attn_keys_t (at least the n + nq - 1
 * this block sees) when it returned true.
 */
void ts_attn_heads4_f32(float *o, size_t ldo, const float *q, size_t ldq, const float *k,
                        const float *kt, size_t ldkt, const float *v, size_t stride, size_t n,
                        size_t nq, size_t hd, float scale, float *s);
/*
 * kt[d * ldkt + i] = k[i * stride + d] for d < hd, i < n, zeros up to i < round16(n)
 * (ldkt >= round16(n)): a head's keys for ts_attn_heads4_f32, transposed once per head and
 * prefill. false (nothing written) when the kernels would not use them (head size other than
 * 64, no AVX-512).
 */
bool ts_attn_keys_t(float *kt, size_t ldkt, const float *k, size_t stride, size_t n, size_t hd);
/*
 * One query, heads [h0, h1): o + h * hd = attention of head h (q + h * hd) over the n cached
 * keys k + i * stride + h * hd (values likewise), as ts_attn_head_f32 for each head within
 * rounding. With head size 64 on AVX-512 the heads are taken inside each block of 16 cached
 * rows, which are then read once for all of them. s: scratch of (h1 - h0) * (n + 15) floats.
 */
void ts_attn_decode_f32(float *o, const float *q, const float *k, const float *v, size_t stride,
                        size_t n, size_t h0, size_t h1, size_t hd, float scale, float *s);
/* y[0:n] += a * x[0:n] */
void ts_axpy_f32(float *y, float a, const float *x, size_t n);
/* x[0:n] = gelu_new(x[0:n]) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void ts_gelu_new_f32(float *x, size_t n);
/* In-place softmax of x[0:n] (max-subtracted, F32). */
void ts_softmax_f32(float *x, size_t n);
/* out[t] = (inp[t] - mean) / sqrt(var + eps) * w + b for each of T rows of C. */
void ts_layernorm_f32(float *out, const float *inp, const float *w, const float *b, size_t T,
                      size_t C, float eps);

/* ---- tokenizer internals (src/text/tokenizer.c, src/text/utf8.c) ------------------- */

/* Result of looking at the UTF-8 sequence that starts a byte string. */
typedef enum ts_utf8_scan {
    TS_UTF8_COMPLETE = 0,   /* well-formed: *seq_len bytes, code point in *cp */
    TS_UTF8_INVALID = 1,    /* ill-formed: the first *seq_len bytes (the maximal
                               subpart, 1..3) become one U+FFFD */
    TS_UTF8_INCOMPLETE = 2, /* the n bytes given are a valid prefix, too short */
} ts_utf8_scan;

/*
 * Classify the sequence at s[0] (n >= 1 bytes available) by Unicode's
 * Table 3-7 (no overlongs, surrogates or > U+10FFFF). *cp is set only for
 * TS_UTF8_COMPLETE. No allocation.
 */
ts_utf8_scan ts_utf8_classify(const unsigned char *s, size_t n, size_t *seq_len, int32_t *cp);

/* ts_utf8_replace is public (tempscale.h). */

/* ---- plotting internals (src/plot/) ---------------------------------------------- */
/*
 * A small cairo toolkit every figure uses. Coordinates are in points (1/72
 * inch) with the origin at the top left; PNGs are rendered at 2x so text is
 * crisp. Text is DejaVu Sans (cairo's toy font API through fontconfig).
 * Typical use:
 *     ts_plot *pl; if (ts_plot_begin(path, 800, 500, &pl, err, n)) return ...;
 *     cairo_t *cr = ts_plot_cairo(pl);
 *     ts_axes ax = {.x = 60, .y = 40, .w = 700, .h = 400, .xmin = 0, .xmax = 1, ...};
 *     ts_axes_frame(cr, &ax, "title", "x label", "y label");
 *     ... cairo_line_to(cr, ts_axes_px(&ax, x), ts_axes_py(&ax, y)) ...
 *     return ts_plot_end(pl, err, n);   (or ts_plot_abort(pl) on an error path)
 * Files: plot.c (canvas, text, number formats, the figure log), plot_axes.c
 * (ticks, axes, colour bars), plot_style.c (palettes, colormaps, markers,
 * legends, legend placement).
 */
#include <cairo.h>

typedef struct ts_plot ts_plot; /* a canvas bound to an output file */

/*
 * Start a figure of width x height points. The format comes from the
 * extension (.png, .svg, .pdf, case-insensitive; anything else is
 * TS_ERR_INVALID naming it). The output goes to a temp file beside path,
 * created now, so an unwritable path fails here (TS_ERR_IO) before any
 * drawing. The canvas starts white, with DejaVu Sans 10 pt and black ink.
 */
ts_status ts_plot_begin(const char *path, double width, double height, ts_plot **out, char *err,
                        size_t err_size);
/* The drawing context, borrowed until ts_plot_end / ts_plot_abort. */
cairo_t *ts_plot_cairo(ts_plot *p);
/* Finish the drawing, write it, rename the temp file into place, free p.
 * On any failure the temp file is removed and path is left untouched. */
ts_status ts_plot_end(ts_plot *p, char *err, size_t err_size);
/* Discard: remove the temp file, free p. NULL is a no-op. */
void ts_plot_abort(ts_plot *p);

/*
 * The figure log: what a figure drew, for tests. While a log is active on the
 * calling thread (ts_plot_log_start .. ts_plot_log_stop), every text drawn
 * through ts_plot_text* and every element drawn through the helpers below
 * (rectangles, markers, legend keys, axes) is appended as an item: a role
 * ("text", "xtick", "ytick", "title", "xlabel", "ylabel", "axes", "legend",
 * "legend-key", or a figure's own role such as "bar", "gap-over"), its
 * bounding box in figure points (the canvas of ts_plot_begin, whatever the
 * output format), the source colour when it was drawn, and its text. With no
 * active log these calls cost a thread-local load. Items are kept on
 * allocation failure only as far as memory allowed (log->oom is then set).
 */
typedef struct ts_plot_item {
    char role[24];
    char text[120];    /* text drawn, or the figure's description of the element */
    double x, y, w, h; /* bounding box, points, top-left origin */
    double r, g, b, a; /* source colour (0 when it was not a solid colour) */
} ts_plot_item;

typedef struct ts_plot_log {
    ts_plot_item *items; /* [n], owned; ts_plot_log_free releases it */
    size_t n, cap;
    double width, height; /* canvas of the last ts_plot_begin */
    bool oom;
} ts_plot_log;

/* Zero *log and record into it on this thread until ts_plot_log_stop. */
void ts_plot_log_start(ts_plot_log *log);
void ts_plot_log_stop(void);
void ts_plot_log_free(ts_plot_log *log);
/* Append an item (bounding box given in current user coordinates, colour from
 * the current source). No-op without an active log. text may be NULL. */
void ts_plot_note(cairo_t *cr, const char *role, double x, double y, double w, double h,
                  const char *text);

/* A 1x1 scratch context to measure text before a canvas exists (font as at
 * ts_plot_begin). cairo_destroy frees it and its surface. */
cairo_t *ts_plot_scratch(void);

/* idx[n] = 0..n-1 ordered by key (stable; -inf < finite < +inf, NaN last). */
void ts_plot_order(const double *key, size_t n, size_t *idx);

/* ---- numbers ---- */

/* v with sig significant digits, never in exponent form for 1e-5 <= |v| < 1e7
 * ("0.0005", "12.3", "1.5e-07"); NaN "n/a", -0 "0". */
void ts_plot_format_sig(char *buf, size_t size, double v, int sig);
/* A temperature as a tick or legend reads: "0", "∞" (UTF-8), else 3 significant digits. */
void ts_plot_format_temperature(char *buf, size_t size, double t);

/*
 * Text made visible for a label: "\n" as "↵", "\t" as "→", "\r" as "␍", other
 * control bytes as "�"; with dot_spaces, spaces as "·" (tokens often start
 * with one). Cut to max_chars code points with a trailing "…" (0 = no limit).
 * Always NUL-terminates out (size >= 1); never splits a UTF-8 sequence.
 */
void ts_plot_visible_text(const char *in, bool dot_spaces, size_t max_chars, char *out,
                          size_t size);

/* ---- axes (plot_axes.c) ---- */

/*
 * A data rectangle: (x, y, w, h) is the plot area in points (top-left
 * corner); [xmin, xmax] x [ymin, ymax] the data range (log axes need
 * min > 0). Zero-initialise and set what you need.
 *
 * x_zero_end / x_inf_end (log x axes of temperature): the finite range is
 * drawn inside and a TS_AXES_END_SLOT-point slot at the left / right end holds
 * T = 0 / T = inf: ts_axes_px maps v <= 0 / v = +inf to the slot's centre,
 * where ts_axes_frame puts a "0" / "∞" tick, the slot set off by break marks.
 */
typedef struct ts_axes {
    double x, y, w, h;
    double xmin, xmax, ymin, ymax;
    bool xlog, ylog;
    bool hide_xticks, hide_yticks; /* e.g. a categorical x axis drawn by the caller */
    bool emphasis;                 /* accent frame, tinted background, bold title */
    bool x_zero_end, x_inf_end;    /* slots for T = 0 / T = inf at the x ends (log x) */
    bool x_integer;                /* linear x ticks at whole numbers only (ranks, positions) */
} ts_axes;

#define TS_AXES_END_SLOT 30.0

/* Data -> device coordinates (points). Values outside the range map outside. */
double ts_axes_px(const ts_axes *a, double v);
double ts_axes_py(const ts_axes *a, double v);

/*
 * Background, light grid at "nice" ticks, frame, tick labels, and the
 * optional title (above, bold), x label (below) and y label (rotated, left).
 * Linear axes tick in 1-2-5 steps; log axes label 1, 2 and 5 of each decade
 * when the labels fit side by side, else decades (with unlabelled minor ticks
 * at 2..9), else every n-th decade. NULL strings are skipped. Draw the data
 * after this call; ts_axes_clip() clips to the area.
 */
void ts_axes_frame(cairo_t *cr, const ts_axes *a, const char *title, const char *xlabel,
                   const char *ylabel);
/* cairo_save + clip to the plot area; pair with cairo_restore. */
void ts_axes_clip(cairo_t *cr, const ts_axes *a);

/*
 * Tick values ts_axes_frame would label on the x (axis 'x') or y axis, at
 * most max; returns the count. Lets a figure place things beside the labels.
 */
size_t ts_axes_ticks(cairo_t *cr, const ts_axes *a, char axis, double *ticks, size_t max);

/* ---- text (plot.c) ---- */

/*
 * Draw UTF-8 text of `size` points anchored at (x, y): align_x 0 = left,
 * .5 = centre, 1 = right; align_y 0 = top, .5 = middle, 1 = bottom (by the
 * font's ascent + descent, so rows of labels line up). Uses the current
 * source colour and weight (ts_plot_bold). Logged with role "text".
 */
void ts_plot_text(cairo_t *cr, double x, double y, double size, double align_x, double align_y,
                  const char *utf8);
/* Same, rotated by angle radians about (x, y) (-pi/2 reads bottom to top). */
void ts_plot_text_rotated(cairo_t *cr, double x, double y, double size, double align_x,
                          double align_y, double angle, const char *utf8);
/* Same as ts_plot_text_rotated, logged under role. */
void ts_plot_text_as(cairo_t *cr, const char *role, double x, double y, double size, double align_x,
                     double align_y, double angle, const char *utf8);
/* Width in points of utf8 at size (current weight). */
double ts_plot_text_width(cairo_t *cr, double size, const char *utf8);
/* Height of a line of text at size (ascent + descent). */
double ts_plot_text_height(cairo_t *cr, double size);
/* Select DejaVu Sans bold (true) or regular (false). */
void ts_plot_bold(cairo_t *cr, bool bold);

/* ---- colours, markers, legends (plot_style.c) ---- */

typedef struct ts_rgb {
    double r, g, b;
} ts_rgb;

/* Qualitative palette (Tableau 10, cycling): colour i. */
ts_rgb ts_plot_palette(int i);
/* Set the source to c at alpha. */
void ts_plot_set_rgb(cairo_t *cr, ts_rgb c, double alpha);
/* Qualitative palette colour i at the given alpha (ts_plot_palette + set). */
void ts_plot_color(cairo_t *cr, int i, double alpha);

typedef enum {
    TS_CMAP_VIRIDIS, /* sequential, perceptually uniform (matplotlib's default) */
    TS_CMAP_PLASMA,  /* sequential, dark blue -> yellow: "cold to hot" */
    TS_CMAP_RDBU,    /* diverging, blue (low) - white (middle) - red (high) (RdBu_r) */
} ts_cmap;

/* Colour of the colormap at u in [0, 1] (clamped; NaN gives light grey). */
ts_rgb ts_plot_cmap(ts_cmap map, double u);

/* The emphasised colour of T = 1 in every temperature figure (near-black). */
ts_rgb ts_plot_t1_color(void);
/*
 * Colours for temperatures t[n]: T = 1 is always ts_plot_t1_color(); the
 * others run through plasma (truncated to stay readable on white) in order of
 * T (0 first, inf last), evenly spaced by rank, so n of them stay distinct
 * and the order reads cold to hot. Equal temperatures get equal colours.
 * O(n^2), no allocation.
 */
void ts_plot_temperature_colors(const double *t, size_t n, ts_rgb *out);

typedef enum {
    TS_MARK_CIRCLE,
    TS_MARK_SQUARE,
    TS_MARK_DIAMOND,
    TS_MARK_TRIANGLE,
    TS_MARK_STAR,
} ts_marker;

/* A marker of radius r at (x, y), filled with fill, optionally outlined in
 * white (to stand out on lines). Logged under role with label text. */
void ts_plot_marker(cairo_t *cr, const char *role, ts_marker shape, double x, double y, double r,
                    ts_rgb fill, double alpha, bool outline, const char *text);
/* Fill the rectangle with the current source; logged under role. */
void ts_plot_fill_rect(cairo_t *cr, const char *role, double x, double y, double w, double h,
                       const char *text);

typedef enum {
    TS_KEY_BOX,      /* filled swatch */
    TS_KEY_LINE,     /* solid line */
    TS_KEY_DASHED,   /* dashed line */
    TS_KEY_LINE_DOT, /* line with a marker in the middle */
    TS_KEY_DOT,      /* marker alone */
    TS_KEY_BAND,     /* translucent band with its line (a curve with its interval) */
} ts_key_kind;

typedef struct ts_legend_entry {
    const char *label;
    ts_rgb color;
    ts_key_kind kind;
    double alpha;      /* 0 means 1 */
    double line_width; /* 0 means 2 */
} ts_legend_entry;

#define TS_LEGEND_MAX_COLS 32

typedef struct ts_legend_layout {
    size_t cols, rows;
    double col_x[TS_LEGEND_MAX_COLS]; /* left of each column's keys, from the box's left */
    double w, h;                      /* points, including the frame padding */
} ts_legend_layout;

/*
 * Lay out n entries row-major (the first row holds entries 0..cols-1), each
 * column as wide as its widest label, rows balanced (7 entries in 2 rows are
 * 4 + 3). With max_rows > 0: the fewest columns that keep rows <= max_rows;
 * else as many columns as fit within max_width points (at least one, at most
 * TS_LEGEND_MAX_COLS). title (may be NULL) heads the box. Font 9 pt.
 */
void ts_legend_measure(cairo_t *cr, const ts_legend_entry *e, size_t n, const char *title,
                       double max_width, size_t max_rows, ts_legend_layout *out);
/* Draw it with its top-left corner at (x, y). Logs "legend" (the box) and a
 * "legend-key" per entry (colour and label). */
void ts_legend_draw(cairo_t *cr, double x, double y, const ts_legend_entry *e, size_t n,
                    const char *title, const ts_legend_layout *lay);

/*
 * Legend entries "T = <t>" (ts_plot_format_temperature) for t[n] in colours
 * c[n], of the given kind; T = 1's key is drawn thicker. labels[n] receives
 * the text the entries point to (so it must outlive them).
 */
void ts_plot_temperature_entries(const double *t, const ts_rgb *c, size_t n, ts_key_kind kind,
                                 char (*labels)[32], ts_legend_entry *out);

/*
 * A legend box with a colour swatch per entry (palette colour color_idx[i],
 * or i when color_idx is NULL), top-left corner at (x, y), one column.
 */
void ts_plot_legend(cairo_t *cr, double x, double y, const char *const *labels,
                    const int *color_idx, size_t n);

/*
 * Where to put a w x h box inside ax (inset 8 points) so that it covers the
 * fewest of the points (px[i], py[i]) (device points): the four corners and
 * the middles of the top and bottom edges are tried, the first with the least
 * coverage wins (order: top right, top left, bottom right, bottom left, top
 * middle, bottom middle). Returns the number of points covered.
 */
size_t ts_plot_best_spot(const ts_axes *ax, double w, double h, const double *px, const double *py,
                         size_t n, double *x, double *y);

/*
 * A vertical colour bar at (x, y, w, h): map over [vmin, vmax] (log: vmin > 0),
 * ticks and labels on the right, label rotated beside them. Logs "colorbar".
 * Returns the width used right of x + w (ticks, labels and label).
 */
double ts_plot_colorbar(cairo_t *cr, double x, double y, double w, double h, ts_cmap map,
                        double vmin, double vmax, bool log_scale, const char *label);
/* The width ts_plot_colorbar would use right of its bar, without drawing. */
double ts_plot_colorbar_width(cairo_t *cr, double h, double vmin, double vmax, bool log_scale,
                              const char *label);

/* ---- NumPy .npy files and CSV (src/calib/npy.c, src/calib/csv.c) --------------------- */

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

/* ts_npy_write_f32 is public (tempscale.h). */

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

/* ---- calibration internals (src/calib/calibrate.c, src/calib/calibrate_lm.c) -------- */

/* f(beta), f'(beta), f''(beta) of a mean NLL as a function of beta = 1/T (convex). */
typedef void (*ts_calib_objective)(void *ctx, double beta, double out[3]);

/*
 * Safeguarded Newton on beta for the minimiser of fn over T in [t_min, t_max]
 * (see calibrate.c). Fills every field of out; TS_ERR_INVALID for a bad range.
 */
ts_status ts_calib_minimize(ts_calib_objective fn, void *ctx, double t_min, double t_max,
                            ts_calib_fit *out);

/*
 * ECE, MCE, adaptive ECE and accuracy of rows given their top-1 confidence
 * conf[i] in (0, 1] and correct[i] (0/1); bins (may be NULL) gets the n_bins
 * equal-width reliability bins. nll and brier are left untouched.
 * Allocates n rows of sort scratch.
 */
ts_status ts_calib_binned(const double *conf, const uint8_t *correct, size_t n, int32_t n_bins,
                          ts_calib_metrics *m, ts_calib_bin *bins, char *err, size_t err_size);

/* ts_calib_metrics_compute and ts_calib_reliability in one pass (bins may be NULL). */
ts_status ts_calib_metrics_bins(const float *logits, const int32_t *labels, size_t n, size_t k,
                                double temperature, int32_t n_bins, ts_calib_metrics *out,
                                ts_calib_bin *bins, char *err, size_t err_size);

/* ---- calibration / bootstrap internals (src/calib/bootstrap.c, calib_bootstrap.c) -- */

/* Equal-width bin of c in [0, 1]: b with b/B < c <= (b+1)/B; c = 0 goes to bin 0. */
int32_t ts_calib_conf_bin(double c, int32_t n_bins);

/* As ts_calib_minimize, starting the Newton search at t_start (nll_before is NaN
 * unless t_start == 1). */
ts_status ts_calib_minimize_from(ts_calib_objective fn, void *ctx, double t_min, double t_max,
                                 double t_start, ts_calib_fit *out);

/* Validate bootstrap parameters for n rows (message in err). */
ts_status ts_bootstrap_check(const ts_bootstrap_params *bp, size_t n, char *err, size_t err_size);
/* counts[n] = multiplicities of replicate `replicate` (the same draws as ts_bootstrap_resample). */
void ts_bootstrap_counts(uint64_t seed, uint64_t replicate, size_t n, uint32_t *counts);
/* numpy.percentile(x, 100 q) ("linear") of sorted x[n]; NaN when n == 0. */
double ts_percentile_sorted(const double *x, size_t n, double q);

/*
 * A statistic of one resample: counts[n] multiplicities (sum n), out[n_stats].
 * scratch: scratch_bytes of the calling thread's own memory. Called from
 * several threads at once (distinct replicates): must not write shared state.
 */
typedef void (*ts_boot_fn)(void *ctx, const uint32_t *counts, size_t n, double *out, void *scratch);
/* reps[B][n_stats] = fn over the B replicates (threads over replicates). */
ts_status ts_bootstrap_run(size_t n, const ts_bootstrap_params *bp, size_t n_stats, ts_boot_fn fn,
                           void *ctx, size_t scratch_bytes, double *reps, char *err,
                           size_t err_size);
/* out[s] = {estimates[s] (NULL: NaN), percentile interval of column s}, NaNs dropped. */
ts_status ts_bootstrap_intervals(const double *reps, size_t n_reps, size_t n_stats, double level,
                                 const double *estimates, ts_interval *out);

/* One row, packed for the bootstrap's sweep in confidence order. */
typedef struct ts_calib_rec {
    double nll, brier, conf;
    uint32_t row; /* index into the resample counts */
    int32_t bin;
    uint8_t correct;
} ts_calib_rec;

/* Per-row records of one calibrated model (see calib_bootstrap.c). */
typedef struct ts_calib_rowset {
    size_t n;
    int32_t n_bins;
    bool has_brier;
    double *nll, *brier, *conf; /* [n] */
    uint8_t *correct;           /* [n] */
    int32_t *bin;               /* [n] equal-width bin of conf */
    uint32_t *order;            /* [n] rows by (conf, row index) ascending */
    ts_calib_rec *rec;          /* [n] the rows in that order (ts_calib_rowset_finish) */
} ts_calib_rowset;
/* Allocate the arrays of n rows (all malloc'd; free with ts_calib_rowset_free). */
ts_status ts_calib_rowset_init(ts_calib_rowset *r, size_t n, char *err, size_t err_size);
void ts_calib_rowset_free(ts_calib_rowset *r);
/* After nll/brier/conf/correct are filled: bins and the confidence order (allocates a sort). */
ts_status ts_calib_rowset_finish(ts_calib_rowset *r, int32_t n_bins, char *err, size_t err_size);
/* Rows of softmax(logits / T) (validated inputs). */
ts_status ts_calib_dense_rows(const float *logits, const int32_t *labels, size_t n, size_t k,
                              double temperature, int32_t n_bins, ts_calib_rowset *r, char *err,
                              size_t err_size);
/* Metric intervals of n_sets rowsets over the same rows (same resamples); delta vs set 0. */
ts_status ts_calib_rowsets_bootstrap(const ts_calib_rowset *sets, size_t n_sets,
                                     const ts_bootstrap_params *bp, ts_calib_metrics_ci *ci,
                                     ts_calib_metrics_ci *delta, char *err, size_t err_size);

/* The six metrics of a rowset (every row once; classwise_ece NaN). */
void ts_calib_rowset_metrics(const ts_calib_rowset *r, ts_calib_metrics *out);

/* Class-wise ECE accumulator: add rows of probabilities p[k] with label y. */
typedef struct ts_classwise {
    size_t k, n;
    int32_t n_bins;
    double *acc; /* [k][n_bins][3]: sum p, sum [y = j], count */
} ts_classwise;
ts_status ts_classwise_init(ts_classwise *c, size_t k, int32_t n_bins, char *err, size_t err_size);
void ts_classwise_add(ts_classwise *c, const double *p, int32_t y);
/* The class-wise ECE; frees the accumulator. */
double ts_classwise_finish(ts_classwise *c);

/* ---- hub internals (src/hub/hub.c) ------------------------------------------- */

/*
 * Hex digest of a file: sha256 of its bytes, or with git_blob its git object
 * id, sha1("blob <size>\0" + bytes) — the two kinds of hub etags. hex must
 * hold 65 bytes. Uses OpenSSL's libcrypto (EVP).
 */
ts_status ts_hub_file_digest(const char *path, bool git_blob, char *hex, size_t hex_size, char *err,
                             size_t err_size);

/*
 * The parsers of what a hub (or something pretending to be one) sends,
 * exposed for tests/fuzz (docs/security.md). None of them allocates, blocks
 * or touches the network.
 */

/* What tempscale reads from the headers of one HTTP response. */
typedef struct ts_http_head {
    long status;             /* from the status line; 0 when absent or malformed */
    char etag[128];          /* ETag, as sent (trimmed) */
    char linked_etag[128];   /* X-Linked-Etag */
    char commit[64];         /* X-Repo-Commit */
    char location[2048];     /* Location */
    char error_code[64];     /* X-Error-Code */
    char error_message[256]; /* X-Error-Message (cut to fit: only shown, escaped) */
    int64_t linked_size;     /* X-Linked-Size; -1 when absent */
    int64_t content_length;  /* Content-Length; -1 when absent */
    char bad[32];            /* the first header we use that was malformed or too
                                long to keep whole ("" when none) */
} ts_http_head;

/* Forget every header (before a new response). */
void ts_http_head_reset(ts_http_head *h);

/*
 * Take one header line as libcurl hands it over: n bytes, NOT NUL-terminated,
 * usually ending in CRLF. A status line ("HTTP/...") starts a new response
 * (after a redirect or a 100). Sizes are decimal digits only (no sign, no
 * spaces inside, no overflow); a value that does not fit its field, or a
 * malformed size, sets h->bad instead of being cut.
 */
void ts_http_head_line(ts_http_head *h, const char *line, size_t n);

/*
 * A HEAD answer for a file of the repository at commit, as get_hf_file_metadata
 * reads it, refusing what cannot be verified: X-Repo-Commit must be commit;
 * the etag (X-Linked-Etag, else ETag, W/ and quotes stripped) must be 40 or 64
 * lowercase hex (a git sha1 or a sha256, checked after download); the size is
 * X-Linked-Size for a redirect (its Content-Length is the redirect's own), else
 * X-Linked-Size or Content-Length, and must be given. url names the request in
 * messages. Fills etag (65 bytes) and *size.
 */
ts_status ts_hub_head_meta(const ts_http_head *h, const char *url, const char *commit,
                           char etag[65], int64_t *size, char *err, size_t err_size);

/*
 * May a request go to url while talking to endpoint (a redirect target, or
 * the endpoint itself)? Only http and https; plain http only when the
 * endpoint is http or url's host is loopback (localhost, 127.0.0.0/8, ::1).
 * TS_ERR_NETWORK naming the URL otherwise.
 */
ts_status ts_hub_check_url(const char *endpoint, const char *url, char *err, size_t err_size);

/*
 * The model-info answer {"sha": 40 hex, "siblings": [{"rfilename": ...}], ...}
 * (what names it in messages): the commit, and the weights file to fetch,
 * "model.safetensors" or "model.safetensors.index.json" (a static string).
 * Refuses pickle-only repositories (TS_ERR_UNSUPPORTED) and repositories
 * without config.json, vocab.json or merges.txt (TS_ERR_NOT_FOUND).
 */
ts_status ts_hub_parse_model_info(const char *what, const char *body, size_t len,
                                  const char *repo_id, char commit[41], const char **weights,
                                  char *err, size_t err_size);

#endif /* TS_INTERNAL_H */
