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
ts_status ts_open_regular(const char *path, uint64_t max_bytes, int *fd, uint64_t *size,
                          char *err, size_t err_size);

/*
 * Read a whole regular file into a NUL-terminated malloc'd buffer (caller
 * frees). *len gets the size without the NUL. ts_read_file caps the size at
 * TS_READ_FILE_MAX, ts_read_file_max at max_bytes. Messages name the path.
 */
ts_status ts_read_file(const char *path, char **data, size_t *len, char *err, size_t err_size);
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
ts_status ts_atomic_commit(FILE *f, const char *tmp, const char *path, char *err,
                           size_t err_size);
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

/* ---- safetensors, config.json and weight binding -------------------------
 * src/engine/safetensors.c: mmap + fully validated header of model.safetensors or a
 * sharded model.safetensors.index.json set. src/engine/config.c: config.json.
 * src/engine/weights.c: maps tensor names (with or without "transformer."), checks
 * every shape against the config, ties lm_head to wte when absent.
 */

/* A view of one tensor inside a mapped file. */
typedef struct ts_tensor {
    const char *name;   /* borrowed from the ts_safetensors */
    const void *data;   /* borrowed from the mmap; little-endian; NOT guaranteed
                           aligned (ts_weights_bind checks the tensors it binds) */
    ts_dtype dtype;     /* meaningful only when supported */
    int32_t ndim;       /* may exceed 4: then shape[] holds the first 4 dims */
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
    size_t n;               /* entries, in file order */
    const char **tensor;    /* [n] tensor names */
    const char **shard;     /* [n] each entry's shard (a string of shards[]) */
    const char **shards;    /* [n_shards] the distinct shard names, sorted */
    size_t n_shards;
    struct cJSON *root;     /* owns the strings above */
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


/* ---- model internals (src/engine/model.c, src/engine/kernels.c, src/engine/threadpool.c) ------ */

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
/* Online cores (>= 1). */
int ts_threadpool_n_cores(void);

/*
 * Evaluate prompts in chunks of at most n_batch rows (1 <= n_batch <= the
 * size set by ts_context_new, min(n_ctx, 512)). For tests of the chunked path.
 */
void ts_context_set_batch(ts_context *ctx, size_t n_batch);

/*
 * Kernels (src/engine/kernels.c). Legend: T tokens, C channels, K inner size, N
 * outputs, V vocabulary. Weight matrices stay in their stored dtype (F32, F16
 * or BF16) and are converted to F32 in registers; every accumulation is F32.
 * Activations are F32. No kernel allocates, prints or fails.
 */
typedef struct ts_mat {
    const void *data; /* row-major [rows][cols], little-endian, dtype */
    ts_dtype dtype;
    size_t rows, cols;
} ts_mat;

/* Which SIMD code path the kernels take (the best one compiled in and supported). */
typedef enum ts_isa { TS_ISA_SCALAR = 0, TS_ISA_AVX2 = 1, TS_ISA_AVX512 = 2 } ts_isa;
ts_isa ts_kernels_isa(void);
const char *ts_isa_name(ts_isa isa);
/* Force a code path (tests and bench); returns false if it is not available. */
bool ts_kernels_force_isa(ts_isa isa);

float ts_f16_to_f32(uint16_t h);
float ts_bf16_to_f32(uint16_t h);
/* out[0:n] = W[row, col0 : col0 + n] as F32. */
void ts_mat_row_f32(const ts_mat *W, size_t row, size_t col0, size_t n, float *out);

/* y[n0:n1] = x[0:K] . W[:, n0:n1] for W (K, N) stored [in, out] (Conv1D). Overwrites. */
void ts_gemv_xw(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1);
/* y[r] = W[r, :] . x for r in [r0, r1), W (rows, K) (the tied vocabulary projection). */
void ts_gemv_wx(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1);

/*
 * Prefill GEMMs with the dtype widened in registers (no conversion panel).
 * ts_gemm_available() is true when they have a fast path (AVX-512); otherwise
 * model.c uses OpenBLAS sgemm (these still work, as slow reference loops).
 *   ts_gemm_xw: Y[T][n0:n1] += X[T][K] . W[K][n0:n1]   (W (K, N) [in, out]; ldY = N)
 *   ts_gemm_wx: Y[t][r] = X[t][0:K] . W[r][0:K], r in [r0, r1)   (W (V, K); ldY = ldy)
 */
bool ts_gemm_available(void);
void ts_gemm_xw(float *Y, const float *X, size_t T, const ts_mat *W, size_t n0, size_t n1,
                float *panel); /* panel: 64-byte aligned scratch of K * 32 floats */
void ts_gemm_wx(float *Y, size_t ldy, const float *X, size_t T, const ts_mat *W, size_t r0,
                size_t r1);

float ts_dot_f32(const float *a, const float *b, size_t n);
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

/*
 * One-shot decode with replacement, identical to CPython's
 * bytes.decode("utf-8", "replace"). out must hold TS_UTF8_STREAM_OUT_MAX(len)
 * bytes; returns the bytes written (not NUL-terminated).
 */
size_t ts_utf8_replace(const char *bytes, size_t len, char *out);

/* ---- plotting internals (src/plot/plot.c) ------------------------------------- */
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
 * A data rectangle: (x, y, w, h) is the plot area in points (top-left
 * corner); [xmin, xmax] x [ymin, ymax] the data range (log axes need
 * min > 0). Zero-initialise and set what you need.
 */
typedef struct ts_axes {
    double x, y, w, h;
    double xmin, xmax, ymin, ymax;
    bool xlog, ylog;
    bool hide_xticks, hide_yticks; /* e.g. a categorical x axis drawn by the caller */
    bool emphasis;                 /* accent frame, tinted background, bold title */
} ts_axes;

/* Data -> device coordinates (points). Values outside the range map outside. */
double ts_axes_px(const ts_axes *a, double v);
double ts_axes_py(const ts_axes *a, double v);

/*
 * Background, light grid at "nice" ticks (1-2-5 steps; decades, with 2 and 5
 * for short log ranges), frame, tick labels, and the optional title (above,
 * bold), x label (below) and y label (rotated, left). NULL strings are
 * skipped. Draw the data after this call; ts_axes_clip() clips to the area.
 */
void ts_axes_frame(cairo_t *cr, const ts_axes *a, const char *title, const char *xlabel,
                   const char *ylabel);
/* cairo_save + clip to the plot area; pair with cairo_restore. */
void ts_axes_clip(cairo_t *cr, const ts_axes *a);

/*
 * Draw UTF-8 text of `size` points anchored at (x, y): align_x 0 = left,
 * .5 = centre, 1 = right; align_y 0 = top, .5 = middle, 1 = bottom (by the
 * font's ascent + descent, so rows of labels line up). Uses the current
 * source colour and weight (ts_plot_bold).
 */
void ts_plot_text(cairo_t *cr, double x, double y, double size, double align_x, double align_y,
                  const char *utf8);
/* Same, rotated by angle radians about (x, y) (-pi/2 reads bottom to top). */
void ts_plot_text_rotated(cairo_t *cr, double x, double y, double size, double align_x,
                          double align_y, double angle, const char *utf8);
/* Width in points of utf8 at size (current weight). */
double ts_plot_text_width(cairo_t *cr, double size, const char *utf8);
/* Select DejaVu Sans bold (true) or regular (false). */
void ts_plot_bold(cairo_t *cr, bool bold);

/* Qualitative palette (Tableau 10, cycling): colour i at the given alpha. */
void ts_plot_color(cairo_t *cr, int i, double alpha);

/*
 * A legend box with a colour swatch per entry (colour color_idx[i], or i when
 * color_idx is NULL), top-left corner at (x, y), font size 9 pt.
 */
void ts_plot_legend(cairo_t *cr, double x, double y, const char *const *labels,
                    const int *color_idx, size_t n);

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

/* ---- hub internals (src/hub/hub.c) ------------------------------------------- */

/*
 * Hex digest of a file: sha256 of its bytes, or with git_blob its git object
 * id, sha1("blob <size>\0" + bytes) — the two kinds of hub etags. hex must
 * hold 65 bytes. Uses OpenSSL's libcrypto (EVP).
 */
ts_status ts_hub_file_digest(const char *path, bool git_blob, char *hex, size_t hex_size,
                             char *err, size_t err_size);

/*
 * The parsers of what a hub (or something pretending to be one) sends,
 * exposed for tests/fuzz (docs/security.md). None of them allocates, blocks
 * or touches the network.
 */

/* What tempscale reads from the headers of one HTTP response. */
typedef struct ts_http_head {
    long status;                /* from the status line; 0 when absent or malformed */
    char etag[128];             /* ETag, as sent (trimmed) */
    char linked_etag[128];      /* X-Linked-Etag */
    char commit[64];            /* X-Repo-Commit */
    char location[2048];        /* Location */
    char error_code[64];        /* X-Error-Code */
    char error_message[256];    /* X-Error-Message (cut to fit: only shown, escaped) */
    int64_t linked_size;        /* X-Linked-Size; -1 when absent */
    int64_t content_length;     /* Content-Length; -1 when absent */
    char bad[32];               /* the first header we use that was malformed or too
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
