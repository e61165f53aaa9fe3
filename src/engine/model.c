/*
 * model.c — GPT-2 (as Hugging Face's GPT2LMHeadModel) on the CPU: the model
 * (mmap'd weights + tokenizer), the context (KV cache + activations) and the
 * forward pass.
 *
 *   x      = wte[token] + wpe[pos]
 *   for each of n_layer blocks (pre-LayerNorm):
 *     x   += c_proj(causal_mha(ln_1(x)))        scale 1/sqrt(head_dim)
 *     x   += mlp.c_proj(gelu_new(mlp.c_fc(ln_2(x))))
 *   logits = ln_f(x) . lm_headᵀ                 lm_head = wte when tied
 * Conv1D weights are stored [in, out]: y = x W + b.
 *
 * Weights (ts_model_params.weights): by default the matrices are read in
 * place from the mmap'd checkpoint (TS_LAYOUT_ROWS, stored dtype). Asked for a
 * type (F32, F16, BF16, Q8_0), ts_model_load converts every block matrix and
 * the vocabulary projection once, threaded, into one anonymous mapping (huge
 * pages when the kernel grants them; read-only afterwards): F32/F16/BF16
 * Conv1D matrices as 32-column panels (TS_LAYOUT_PANELS), Q8_0 ones
 * transposed so that blocks run along the input (TS_LAYOUT_COLS), the
 * vocabulary projection row-major. Nothing is built lazily, so contexts on
 * one model may run concurrently (tests/test_model.c checks it). Stored
 * weights (ts_model_params.memory, default auto) are copied into huge pages
 * by a background thread after the load, Conv1D matrices repacked into
 * panels that decode and prefill to the same bits as the row-major ones
 * (ts_gemv_xw's split-K contract); the copy's views are published whole (one
 * atomic pointer) and each forward pass reads one set.
 *
 * Two paths, the same numbers (both are checked against PyTorch at every
 * position by tests/test_model.c):
 *   prefill (n > 1 tokens): each matrix product is a GEMM over the chunk's
 *     rows, the threads of our pool splitting the output columns. With
 *     AVX-512, kernels.c's own GEMM (W packed 32 columns at a time into the
 *     thread's panel, F16/BF16 widened on the way). Otherwise OpenBLAS sgemm,
 *     single-threaded per call (openblas_set_num_threads(1), so two pools
 *     never fight over the cores), F16/BF16 converted panel by panel (512*C
 *     floats per thread) into the scratch first. The model is never expanded.
 *   decode (n == 1): hand-written SIMD GEMVs (kernels.c) reading the weights in
 *     their dtype: row-major Conv1D matrices split by blocks of input rows
 *     (split-K, mm_splitk_task), panels and transposed ones by output columns
 *     (32 at a time); the vocabulary projection (the largest matrix) splits
 *     its rows.
 * Attention reads the KV cache, F32 [n_layer][n_ctx][C] (head h at h*hd).
 *
 * Memory: everything ts_model_eval touches is allocated by ts_context_new;
 * eval itself never allocates (tests/test_model.c counts mallocs).
 */
#define _GNU_SOURCE /* SCHED_IDLE (Linux), for the background copy */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>

/* ======================================================================== */
/* model                                                                    */
/* ======================================================================== */

/* One block's F32 copies of its vectors (LayerNorm parameters, biases), by ts_layer_tensor. */
typedef struct model_layer {
    const float *v[TS_LT_COUNT]; /* vectors only; into ts_model.vecs */
} model_layer;

/* The matrices a forward pass reads: one set of views, never changed once an eval can see it. */
typedef struct model_mats {
    ts_mat wte;     /* (V, C) */
    ts_mat wpe;     /* (n_positions, C) */
    ts_mat lm_head; /* (V, C) */
    ts_mat *layer;  /* [n_layer][TS_LT_COUNT]: the ts_layer_tensors entries with cols_c > 0 */
} model_mats;

static inline ts_mat *layer_mat(const model_mats *s, size_t l, int k)
{
    return &s->layer[l * TS_LT_COUNT + (size_t)k];
}

/* State of the background copy (ts_model_params.memory). */
enum { RES_NONE, RES_COPYING, RES_DONE, RES_FAILED };

struct ts_model {
    ts_model_info info;
    ts_safetensors *st;
    ts_weights w;
    ts_tokenizer *tok;
    int32_t n_threads;
    model_mats base; /* views of the mmap, or of `packed` */
    model_layer *layers;
    float *ln_f_w, *ln_f_b; /* (C) */
    float *vecs;            /* one block holding every F32 vector above */
    void *packed;           /* converted matrices (anonymous mapping) or NULL */
    size_t packed_size;     /* bytes mapped at `packed` */
    ts_weights_info winfo;
    /* The background copy: `copy` views into `res_map`, published by storing &copy into
     * `mats` (which forward passes load once each) and then res_state = RES_DONE. */
    _Atomic(const model_mats *) mats;
    model_mats copy;
    void *res_map;
    size_t res_map_size;
    double t_load0;    /* ts_seconds() when ts_model_load began */
    size_t res_bytes;  /* written by the copy before res_state = RES_DONE */
    size_t res_panels; /* likewise: matrices repacked into panels */
    bool res_gemm;     /* ts_gemm_available() when the copy began: sizes and layouts follow it */
    double res_ms;
    _Atomic int res_state;  /* RES_* */
    atomic_bool res_cancel; /* set by ts_model_free */
    bool res_started;       /* res_thread is to be joined */
    pthread_t res_thread;
    pthread_mutex_t res_mu; /* with res_cv: ts_model_wait_resident */
    pthread_cond_t res_cv;
};

static const char *const k_weights_names[] = {"stored", "f32", "f16", "bf16", "q8_0"};
static const char *const k_memory_names[] = {"auto", "mapped", "copy"};

/* Index of `name` (case-insensitive) in names[0, n), or -1. */
static int name_index(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcasecmp(name, names[i]) == 0) return (int)i;
    return -1;
}

const char *ts_weights_memory_name(ts_weights_memory w)
{
    return (unsigned)w < sizeof k_memory_names / sizeof *k_memory_names ? k_memory_names[w] : "?";
}

bool ts_weights_memory_parse(const char *name, ts_weights_memory *out)
{
    int i = name_index(k_memory_names, sizeof k_memory_names / sizeof *k_memory_names, name);
    if (i >= 0) *out = (ts_weights_memory)i;
    return i >= 0;
}

const char *ts_weights_type_name(ts_weights_type w)
{
    return (unsigned)w < sizeof k_weights_names / sizeof *k_weights_names ? k_weights_names[w]
                                                                          : "?";
}

bool ts_weights_type_parse(const char *name, ts_weights_type *out)
{
    int i = name_index(k_weights_names, sizeof k_weights_names / sizeof *k_weights_names, name);
    if (i >= 0) *out = (ts_weights_type)i;
    return i >= 0;
}

ts_model_params ts_model_default_params(void)
{
    ts_model_params p = {0};
    return p;
}

static ts_mat mat_of(const ts_tensor *t)
{
    ts_mat m = {t->data, t->dtype, (size_t)t->shape[0], t->ndim > 1 ? (size_t)t->shape[1] : 1,
                TS_LAYOUT_ROWS};
    return m;
}

/* Copy a tensor of n elements into dst as F32; false when the element count differs. */
static bool vec_f32(const ts_tensor *t, size_t n, float *dst)
{
    size_t count = 1;
    for (int32_t i = 0; i < t->ndim; i++)
        count *= (size_t)t->shape[i];
    if (count != n) return false;
    ts_mat m = {t->data, t->dtype, 1, n, TS_LAYOUT_ROWS};
    ts_mat_row_f32(&m, 0, 0, n, dst);
    return true;
}

static bool mat_ok(const ts_tensor *t, size_t rows, size_t cols)
{
    return t->data && t->ndim == 2 && (size_t)t->shape[0] == rows && (size_t)t->shape[1] == cols;
}

/* Whether decode of row-major W goes split-K (matmul): its partial sums fit the context's
 * part[TS_SPLITK][4C] (every GPT-2 Conv1D matrix does). */
static bool splitk_decodes(const ts_model *m, const ts_mat *W)
{
    return W->layout == TS_LAYOUT_ROWS && W->cols <= 4 * (size_t)m->info.n_embd;
}

/* Part ith of nth of [0, n), boundaries on multiples of `align`. */
static void split_range(size_t n, int ith, int nth, size_t align, size_t *a, size_t *b)
{
    size_t chunks = (n + align - 1) / align;
    size_t c0 = chunks * (size_t)ith / (size_t)nth, c1 = chunks * (size_t)(ith + 1) / (size_t)nth;
    *a = c0 * align < n ? c0 * align : n;
    *b = c1 * align < n ? c1 * align : n;
}

/*
 * Decode shares a matrix out in chunks, not in fixed parts: on a shared machine one core is often
 * the slower (its sibling hyperthread's work, a hypervisor's steal time), and fixed halves wait
 * for it. The range is cut into about four chunks per thread, dealt into one lane per thread
 * (up to TS_LANES): a thread takes its own lane's chunks from the front, in order, so that as
 * long as nobody is late it streams one contiguous run as a fixed share would (taking chunks
 * from one shared counter instead interleaved the threads' chunks and cost 15 % of a two-thread
 * F16 decode); a thread whose lane is empty takes the other lanes' last chunks. A lane is one
 * 64-bit word, front << 32 | back, changed by compare-and-swap. What a chunk computes does not
 * depend on the thread that takes it, so the bits are those of any thread count.
 */
#define TS_LANES 8

typedef struct shares {
    _Atomic uint64_t lane[TS_LANES]; /* chunks [front, back) not yet taken */
    size_t lo, hi, chunk;
    int lanes;
} shares;

/* [lo, hi) in chunks on multiples of `align`, four per thread (one for one thread). */
static void shares_init(shares *s, size_t lo, size_t hi, size_t align, int nth)
{
    size_t c = nth > 1 ? (hi - lo + 4 * (size_t)nth - 1) / (4 * (size_t)nth) : hi - lo;
    c = (c + align - 1) / align * align;
    s->lo = lo;
    s->hi = hi;
    s->chunk = c ? c : align;
    s->lanes = nth < TS_LANES ? (nth > 0 ? nth : 1) : TS_LANES;
    const uint64_t n = (hi - lo + s->chunk - 1) / s->chunk;
    for (int l = 0; l < s->lanes; l++)
        atomic_init(&s->lane[l], (n * (uint64_t)l / (uint64_t)s->lanes) << 32 |
                                     n * (uint64_t)(l + 1) / (uint64_t)s->lanes);
}

/* One chunk index from a lane's front (its owner) or back (the others). */
static bool lane_take(_Atomic uint64_t *lane, bool back, uint64_t *i)
{
    uint64_t v = atomic_load_explicit(lane, memory_order_relaxed);
    for (;;) {
        const uint64_t f = v >> 32, b = v & 0xffffffffu;
        if (f >= b) return false;
        const uint64_t nv = back ? f << 32 | (b - 1) : (f + 1) << 32 | b;
        if (atomic_compare_exchange_weak_explicit(lane, &v, nv, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *i = back ? b - 1 : f;
            return true;
        }
    }
}

/* Thread ith's next chunk [a, b), or false when all are taken. */
static bool shares_take(shares *s, int ith, size_t *a, size_t *b)
{
    const int own = ith % s->lanes;
    uint64_t i = 0;
    bool got = lane_take(&s->lane[own], false, &i);
    for (int k = 1; !got && k < s->lanes; k++)
        got = lane_take(&s->lane[(own + k) % s->lanes], true, &i);
    if (!got) return false;
    *a = s->lo + (size_t)i * s->chunk;
    *b = s->hi - *a < s->chunk ? s->hi : *a + s->chunk;
    return true;
}

/* ---- conversion at load (ts_model_params.weights) ----------------------- */

/* One matrix to convert: src (any layout the checkpoint gives) into dst. */
typedef struct conv_job {
    const ts_mat *src;
    ts_mat dst;     /* dst.data is writable: inside ts_model.packed */
    float *scratch; /* [nth][scratch_floats] */
    size_t scratch_floats;
} conv_job;

static void conv_task(void *arg, int ith, int nth)
{
    const conv_job *j = arg;
    const ts_mat *S = j->src, *D = &j->dst;
    unsigned char *out = (unsigned char *)D->data;
    float *tmp = j->scratch + (size_t)ith * j->scratch_floats;
    const size_t K = S->rows, N = S->cols;
    size_t a, b;
    switch (D->layout) {
    case TS_LAYOUT_ROWS: /* the vocabulary projection: rows of K = C */
        split_range(K, ith, nth, 1, &a, &b);
        for (size_t r = a; r < b; r++) {
            ts_mat_row_f32(S, r, 0, N, tmp);
            ts_convert_f32(D->dtype, tmp, out + ts_dtype_row_bytes(D->dtype, r * N), N);
        }
        return;
    case TS_LAYOUT_PANELS: /* Conv1D: panel p = columns 32p.. of every row, zero-padded */
        /* Row by row, so that the source is read sequentially (its rows are 3-12 KB apart);
           each of the thread's panels is written as its own sequential stream. */
        split_range(N, ith, nth, TS_PANEL, &a, &b);
        for (size_t k = 0; k < K; k++) {
            ts_mat_row_f32(S, k, a, b - a, tmp);
            for (size_t j0 = a; j0 < b; j0 += TS_PANEL) {
                size_t m = b - j0 < TS_PANEL ? b - j0 : TS_PANEL;
                float pad[TS_PANEL] = {0}, *v = tmp + (j0 - a);
                if (m < TS_PANEL) v = memcpy(pad, v, m * sizeof *pad); /* the last panel */
                size_t at = ((j0 / TS_PANEL) * K + k) * TS_PANEL;
                ts_convert_f32(D->dtype, v, out + ts_dtype_row_bytes(D->dtype, at), TS_PANEL);
            }
        }
        return;
    case TS_LAYOUT_COLS: /* Conv1D transposed: output column j becomes a row of K */
        /* Tiles of 32 source rows x 64 columns (read as row segments), each tile
           column one 32-value block of an output row. */
        split_range(N, ith, nth, TS_PANEL, &a, &b);
        for (size_t k0 = 0; k0 < K; k0 += 32) {
            size_t kh = K - k0 < 32 ? K - k0 : 32;
            for (size_t j0 = a; j0 < b; j0 += 64) {
                size_t m = b - j0 < 64 ? b - j0 : 64;
                float *tile = tmp, *col = tmp + 32 * 64; /* [kh][m], [32] */
                for (size_t k = 0; k < kh; k++)
                    ts_mat_row_f32(S, k0 + k, j0, m, tile + k * m);
                for (size_t jj = 0; jj < m; jj++) {
                    for (size_t k = 0; k < kh; k++)
                        col[k] = tile[k * m + jj];
                    ts_convert_f32(D->dtype, col,
                                   out + ts_dtype_row_bytes(D->dtype, (j0 + jj) * K + k0), kh);
                }
            }
        }
        return;
    }
}

/* Drop the pages of a converted tensor from this process (they stay in the page cache). */
static void release_pages(const ts_tensor *t)
{
    const uintptr_t page = 4096;
    uintptr_t a = ((uintptr_t)t->data + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)t->data + t->nbytes) & ~(page - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Drop the checkpoint's pages of the matrices a token streams (the block matrices and the
 * vocabulary projection) once a copy of them is what evals read. */
static void release_matrix_pages(const ts_model *m)
{
    release_pages(&m->w.lm_head);
    for (size_t l = 0; l < (size_t)m->info.n_layer; l++)
        for (int k = 0; k < TS_LT_COUNT; k++)
            if (ts_layer_tensors[k].cols_c > 0) release_pages(&m->w.layers[l].t[k]);
}

static size_t pad64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/*
 * An anonymous mapping for `total` bytes that starts on a 2 MB boundary, so that whole huge
 * pages cover it (madvise(MADV_HUGEPAGE)); NULL when it cannot be mapped. *map / *map_size are
 * what to munmap.
 */
static unsigned char *map_huge(size_t total, void **map, size_t *map_size)
{
    const size_t huge = (size_t)2 << 20;
    *map_size = (total + 2 * huge - 1) & ~(huge - 1);
    *map = mmap(NULL, *map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED) {
        *map = NULL;
        return NULL;
    }
    unsigned char *base = (unsigned char *)(((uintptr_t)*map + huge - 1) & ~(uintptr_t)(huge - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(base, total, MADV_HUGEPAGE);
#endif
    return base;
}

static ts_dtype weights_dtype(ts_weights_type w)
{
    switch (w) {
    case TS_WEIGHTS_F16:
        return TS_DTYPE_F16;
    case TS_WEIGHTS_BF16:
        return TS_DTYPE_BF16;
    case TS_WEIGHTS_Q8_0:
        return TS_DTYPE_Q8_0;
    default:
        return TS_DTYPE_F32;
    }
}

/*
 * Convert every block matrix and the vocabulary projection into one anonymous
 * mapping, threaded over a temporary pool, and repoint the views at it.
 * wte keeps its stored view unless it is the (tied) vocabulary projection.
 */
static ts_status convert_weights(ts_model *m, const char *dir, char *err, size_t err_size)
{
    const double t0 = ts_seconds();
    const ts_dtype dt = weights_dtype(m->winfo.mode);
    const ts_layout conv_layout = dt == TS_DTYPE_Q8_0 ? TS_LAYOUT_COLS : TS_LAYOUT_PANELS;
    const size_t C = (size_t)m->info.n_embd, L = (size_t)m->info.n_layer;
    const size_t V = (size_t)m->info.n_vocab;
    if (C % ts_dtype_block(dt) != 0)
        return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                         "%s: weights %s need n_embd a multiple of %zu; this model has %zu", dir,
                         ts_weights_type_name(m->winfo.mode), ts_dtype_block(dt), C);
    /* Sizes first: every matrix starts on a 64-byte boundary. */
    size_t total = 0, max_k = C;
    const size_t head_bytes = pad64(ts_mat_bytes(dt, TS_LAYOUT_ROWS, V, C));
    total += head_bytes;
    for (size_t l = 0; l < L; l++)
        for (int k = 0; k < TS_LT_COUNT; k++) {
            const ts_mat *W = layer_mat(&m->base, l, k);
            if (ts_layer_tensors[k].cols_c == 0) continue;
            total += pad64(ts_mat_bytes(dt, conv_layout, W->rows, W->cols));
            if (W->rows > max_k) max_k = W->rows;
        }
    unsigned char *base = map_huge(total, &m->packed, &m->packed_size);
    if (!base)
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: cannot map %zu MB for the %s weights",
                         dir, total >> 20, ts_weights_type_name(m->winfo.mode));

    int nth = m->n_threads > 0 ? m->n_threads : 1;
    ts_threadpool *pool = NULL;
    size_t scratch_floats = (max_k * TS_PANEL + max_k + 15) & ~(size_t)15;
    float *scratch = malloc((size_t)nth * scratch_floats * sizeof *scratch);
    if (!scratch || ts_threadpool_new(nth, &pool) != TS_OK) {
        free(scratch);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", dir);
    }
    unsigned char *at = base;
    conv_job j = {&m->base.lm_head, {at, dt, V, C, TS_LAYOUT_ROWS}, scratch, scratch_floats};
    ts_threadpool_run(pool, conv_task, &j);
    bool tied = m->base.lm_head.data == m->base.wte.data;
    m->base.lm_head = j.dst;
    if (tied) m->base.wte = j.dst;
    at += head_bytes;
    for (size_t l = 0; l < L; l++)
        for (int k = 0; k < TS_LT_COUNT; k++) {
            ts_mat *W = layer_mat(&m->base, l, k);
            if (ts_layer_tensors[k].cols_c == 0) continue;
            conv_job jl = {W, {at, dt, W->rows, W->cols, conv_layout}, scratch, scratch_floats};
            ts_threadpool_run(pool, conv_task, &jl);
            *W = jl.dst;
            at += pad64(ts_mat_bytes(dt, conv_layout, W->rows, W->cols));
        }
    ts_threadpool_free(pool);
    free(scratch);
    (void)mprotect(m->packed, m->packed_size, PROT_READ); /* read-only from here on */
    /* The checkpoint's copies of the converted matrices are not read again: out of the RSS. */
    release_matrix_pages(m);
    m->winfo.matrix_dtype = dt;
    m->winfo.copy_bytes = total;
    m->winfo.convert_ms = (ts_seconds() - t0) * 1e3;
    return TS_OK;
}

/* ---- the background copy (ts_model_params.memory) ---------------------- */

static void resident_finish(ts_model *m, int state)
{
    pthread_mutex_lock(&m->res_mu);
    atomic_store_explicit(&m->res_state, state, memory_order_release);
    pthread_cond_broadcast(&m->res_cv);
    pthread_mutex_unlock(&m->res_mu);
}

static size_t mat_bytes(const ts_mat *W)
{
    return ts_mat_bytes(W->dtype, W->layout, W->rows, W->cols);
}

/* Copy *src's bytes to *at, 1 MiB at a time, and point *dst there; false when cancelled. */
static bool copy_mat(ts_model *m, ts_mat *dst, const ts_mat *src, unsigned char **at)
{
    const size_t n = mat_bytes(src), step = (size_t)1 << 20;
    for (size_t o = 0; o < n; o += step) {
        if (atomic_load_explicit(&m->res_cancel, memory_order_relaxed)) return false;
        memcpy(*at + o, (const unsigned char *)src->data + o, n - o < step ? n - o : step);
    }
    dst->data = *at;
    *at += pad64(n);
    return true;
}

/*
 * Whether the copy repacks W into 32-column panels rather than copying its
 * bytes: a row-major Conv1D matrix (F32, F16, BF16) whose decode is split-K
 * (splitk_decodes) and whose panels give the row-major bits (cols a
 * multiple of 16: see ts_gemv_xw), on the AVX-512 path, whose prefill GEMM
 * packs row-major W into the very same panels (OpenBLAS, the other path,
 * would be handed different column blocks).
 */
static bool copy_as_panels(const ts_model *m, const ts_mat *W)
{
    return m->res_gemm && splitk_decodes(m, W) && W->dtype != TS_DTYPE_Q8_0 && W->cols % 16 == 0;
}

static size_t copied_bytes(const ts_model *m, const ts_mat *W)
{
    return copy_as_panels(m, W) ? ts_mat_bytes(W->dtype, TS_LAYOUT_PANELS, W->rows, W->cols)
                                : mat_bytes(W);
}

/* Repack row-major *src into panels at *at and point *dst there; false when cancelled. Row by
 * row (the source read in order; each panel written as its own sequential stream). The
 * mapping is zero-filled, which is the last panel's padding. */
static bool pack_mat(ts_model *m, ts_mat *dst, const ts_mat *src, unsigned char **at)
{
    const size_t K = src->rows, N = src->cols, es = ts_dtype_row_bytes(src->dtype, 1);
    for (size_t k = 0; k < K; k++) {
        if (k % 64 == 0 && atomic_load_explicit(&m->res_cancel, memory_order_relaxed)) return false;
        const unsigned char *row = (const unsigned char *)src->data + k * N * es;
        for (size_t j0 = 0; j0 < N; j0 += TS_PANEL) {
            const size_t w = N - j0 < TS_PANEL ? N - j0 : TS_PANEL;
            memcpy(*at + ((j0 / TS_PANEL) * K + k) * TS_PANEL * es, row + j0 * es, w * es);
        }
    }
    *dst = (ts_mat){*at, src->dtype, K, N, TS_LAYOUT_PANELS};
    *at += pad64(copied_bytes(m, src));
    return true;
}

/*
 * Copy the matrices a decoded token streams (every block matrix and the
 * vocabulary projection; wte with it when tied) into one anonymous mapping on
 * huge pages — byte for byte, or for Conv1D matrices repacked into panels
 * (copy_as_panels), which decode and prefill to the same bits — publish the
 * views; drop the mapping's pages of what was copied. 1 MiB (or 64 rows) at a
 * time, so that ts_model_free can stop it within a millisecond or so.
 */
static void *resident_thread(void *arg)
{
    ts_model *m = arg;
#ifdef SCHED_IDLE
    /* Idle CPU time only. At normal priority the copy took a core from a two-thread decode
       (each job waits for its slowest thread: 165 -> 83 tokens/s while it ran) and made
       0.5 s CLI runs take 0.6-1 s. Idle, it never slows an eval; it completes whenever a core
       is free (one-thread runs, a server between requests, ts_model_wait_resident), and may
       wait through a long decode that keeps both cores busy. Not fatal if refused. */
    struct sched_param sp = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
#endif
    const size_t L = (size_t)m->info.n_layer;
    const model_mats *b = &m->base;
    m->res_gemm = ts_gemm_available(); /* read once: the size computed here is what gets written */
    size_t total = pad64(mat_bytes(&b->lm_head));
    for (size_t l = 0; l < L; l++)
        for (int k = 0; k < TS_LT_COUNT; k++)
            if (ts_layer_tensors[k].cols_c > 0) total += pad64(copied_bytes(m, layer_mat(b, l, k)));
    void *map = NULL;
    unsigned char *at = map_huge(total, &map, &m->res_map_size);
    m->res_map = map;
    /* m->copy (its own layer array, from resident_start) starts as the mapping's views; each
       matrix is copied into `at` and its view repointed. */
    bool ok = at && copy_mat(m, &m->copy.lm_head, &b->lm_head, &at);
    if (ok && b->wte.data == b->lm_head.data) m->copy.wte = m->copy.lm_head;
    for (size_t l = 0; ok && l < L; l++)
        for (int k = 0; ok && k < TS_LT_COUNT; k++)
            if (ts_layer_tensors[k].cols_c > 0) {
                const ts_mat *W = layer_mat(b, l, k);
                const bool panels = copy_as_panels(m, W);
                ok = panels ? pack_mat(m, layer_mat(&m->copy, l, k), W, &at)
                            : copy_mat(m, layer_mat(&m->copy, l, k), W, &at);
                m->res_panels += panels;
            }
    if (!ok) { /* out of memory, or cancelled by ts_model_free */
        resident_finish(m, RES_FAILED);
        return NULL;
    }
    (void)mprotect(map, m->res_map_size, PROT_READ);
    m->res_bytes = total;
    m->res_ms = (ts_seconds() - m->t_load0) * 1e3;
    atomic_store_explicit(&m->mats, &m->copy, memory_order_release);
    /* Evals that began before the switch may still read the mapping: its dropped pages come back
       from the file on a touch, with the same bytes. */
    release_matrix_pages(m);
    resident_finish(m, RES_DONE);
    return NULL;
}

/* Linux's estimate of memory available without swapping (/proc/meminfo MemAvailable), in
 * bytes; SIZE_MAX when it cannot be read (then AUTO does not hold back). */
static size_t mem_available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return SIZE_MAX;
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    fclose(f);
    return found && kb < SIZE_MAX / 1024 ? (size_t)kb * 1024 : SIZE_MAX;
}

/* Start the background copy when params ask for it (stored weights only). */
static void resident_start(ts_model *m)
{
    /* AUTO: big enough to gain, and small enough that the copy (anonymous memory, while the
       page cache still holds the file) cannot push the machine into swap or the OOM killer. */
    bool want =
        m->winfo.mode == TS_WEIGHTS_STORED &&
        (m->winfo.memory == TS_MEMORY_COPY ||
         (m->winfo.memory == TS_MEMORY_AUTO && m->winfo.matrix_bytes >= TS_MEMORY_AUTO_MIN_BYTES &&
          m->winfo.matrix_bytes <= mem_available_bytes() / 2));
    if (!want) return;
    /* The copy's views: their own array (the thread repoints them; evals read `base`). */
    const size_t n = (size_t)(m->info.n_layer ? m->info.n_layer : 1) * TS_LT_COUNT;
    m->copy = m->base;
    m->copy.layer = malloc(n * sizeof *m->copy.layer);
    if (!m->copy.layer) {
        atomic_store(&m->res_state, RES_FAILED);
        return;
    }
    memcpy(m->copy.layer, m->base.layer, n * sizeof *m->copy.layer);
    atomic_store(&m->res_state, RES_COPYING);
    if (pthread_create(&m->res_thread, NULL, resident_thread, m) != 0) {
        atomic_store(&m->res_state, RES_FAILED);
        return;
    }
    m->res_started = true;
}

bool ts_model_wait_resident(ts_model *m)
{
    pthread_mutex_lock(&m->res_mu);
    while (atomic_load_explicit(&m->res_state, memory_order_acquire) == RES_COPYING)
        pthread_cond_wait(&m->res_cv, &m->res_mu);
    pthread_mutex_unlock(&m->res_mu);
    return atomic_load_explicit(&m->res_state, memory_order_acquire) == RES_DONE;
}

ts_status ts_model_load(const char *dir, const ts_model_params *params, ts_model **out, char *err,
                        size_t err_size)
{
    const double t_load0 = ts_seconds();
    *out = NULL;
    ts_model *m = calloc(1, sizeof *m);
    if (!m) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", dir);
    m->t_load0 = t_load0;
    atomic_init(&m->mats, &m->base);
    atomic_init(&m->res_state, RES_NONE);
    atomic_init(&m->res_cancel, false);
    pthread_mutex_init(&m->res_mu, NULL);
    pthread_cond_init(&m->res_cv, NULL);
    ts_status st = ts_config_load(dir, &m->info, err, err_size);
    if (st == TS_OK) st = ts_safetensors_open(dir, &m->st, err, err_size);
    if (st == TS_OK) st = ts_weights_bind(m->st, &m->info, &m->w, err, err_size);
    if (st != TS_OK) {
        ts_model_free(m);
        return st;
    }
    const size_t C = (size_t)m->info.n_embd, L = (size_t)m->info.n_layer;
    const size_t V = (size_t)m->info.n_vocab, P = (size_t)m->info.n_positions;
    if (m->info.n_head <= 0 || C % (size_t)m->info.n_head != 0) {
        int n_head = (int)m->info.n_head;
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s/config.json: n_embd %zu is not a multiple of n_head %d", dir, C,
                         n_head);
    }

    /* Matrix views (the binder checked the shapes; re-check what the kernels rely on). */
    m->base.wte = mat_of(&m->w.wte);
    m->base.wpe = mat_of(&m->w.wpe);
    m->base.lm_head = mat_of(&m->w.lm_head);
    bool ok = mat_ok(&m->w.wte, V, C) && mat_ok(&m->w.wpe, P, C) && mat_ok(&m->w.lm_head, V, C);
    size_t per_layer = 0; /* F32 vector elements per block, from the tensor table */
    for (int k = 0; k < TS_LT_COUNT; k++)
        if (ts_layer_tensors[k].cols_c == 0) per_layer += (size_t)ts_layer_tensors[k].rows_c * C;
    m->layers = calloc(L ? L : 1, sizeof *m->layers);
    m->base.layer = calloc((L ? L : 1) * TS_LT_COUNT, sizeof *m->base.layer);
    size_t n_vecs = L * per_layer + 2 * C;
    m->vecs = malloc(n_vecs * sizeof *m->vecs);
    if (!m->layers || !m->base.layer || !m->vecs) {
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", dir);
    }
    for (size_t l = 0; ok && l < L; l++) {
        float *v = m->vecs + l * per_layer;
        for (int k = 0; ok && k < TS_LT_COUNT; k++) {
            const ts_layer_tensor_desc *d = &ts_layer_tensors[k];
            const ts_tensor *t = &m->w.layers[l].t[k];
            size_t rows = (size_t)d->rows_c * C;
            if (d->cols_c > 0) {
                *layer_mat(&m->base, l, k) = mat_of(t);
                ok = mat_ok(t, rows, (size_t)d->cols_c * C);
            } else {
                ok = vec_f32(t, rows, v);
                m->layers[l].v[k] = v;
                v += rows;
            }
        }
    }
    m->ln_f_w = m->vecs + L * per_layer;
    m->ln_f_b = m->ln_f_w + C;
    ok = ok && vec_f32(&m->w.ln_f_w, C, m->ln_f_w) && vec_f32(&m->w.ln_f_b, C, m->ln_f_b);
    if (!ok) {
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: bound weights do not have the shapes GPT-2 needs for n_embd %zu", dir,
                         C);
    }
    m->n_threads = params && params->n_threads > 0 ? params->n_threads : ts_threadpool_n_cores();
    m->winfo.mode = params ? params->weights : TS_WEIGHTS_STORED;
    m->winfo.memory = params ? params->memory : TS_MEMORY_AUTO;
    if ((unsigned)m->winfo.memory > TS_MEMORY_COPY) {
        int bad = (int)m->winfo.memory;
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: unknown weights memory %d", dir, bad);
    }
    if ((unsigned)m->winfo.mode > TS_WEIGHTS_Q8_0) {
        int bad = (int)m->winfo.mode;
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: unknown weights type %d", dir, bad);
    }
    m->winfo.matrix_dtype = m->info.dtype;
    if (m->winfo.mode != TS_WEIGHTS_STORED) {
        st = convert_weights(m, dir, err, err_size);
        if (st != TS_OK) {
            ts_model_free(m);
            return st;
        }
    }
    m->winfo.matrix_bytes = ts_mat_bytes(m->base.lm_head.dtype, m->base.lm_head.layout, V, C);
    for (size_t l = 0; l < L; l++)
        for (int k = 0; k < TS_LT_COUNT; k++)
            if (ts_layer_tensors[k].cols_c > 0) {
                const ts_mat *W = layer_mat(&m->base, l, k);
                m->winfo.matrix_bytes += ts_mat_bytes(W->dtype, W->layout, W->rows, W->cols);
            }

    /* Tokenizer: vocab.json + merges.txt in dir, or in params->tokenizer_dir. */
    const char *tdir = params && params->tokenizer_dir ? params->tokenizer_dir : dir;
    char vocab[4096], merges[4096];
    if (snprintf(vocab, sizeof vocab, "%s/vocab.json", tdir) >= (int)sizeof vocab ||
        snprintf(merges, sizeof merges, "%s/merges.txt", tdir) >= (int)sizeof merges) {
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: path too long", tdir);
    }
    st = ts_tokenizer_load(vocab, merges, &m->tok, err, err_size);
    if (st != TS_OK) {
        ts_model_free(m);
        return st;
    }
    size_t n_tok = ts_tokenizer_vocab_size(m->tok);
    if (n_tok != V) { /* a padded vocabulary is refused: its extra ids have no bytes */
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: vocab.json has %zu tokens but config.json vocab_size is %zu", vocab,
                         n_tok, V);
    }
    resident_start(m);
    *out = m;
    return TS_OK;
}

void ts_model_free(ts_model *model)
{
    if (!model) return;
    if (model->res_started) {
        atomic_store(&model->res_cancel, true);
        pthread_join(model->res_thread, NULL);
    }
    if (model->res_map) munmap(model->res_map, model->res_map_size);
    pthread_mutex_destroy(&model->res_mu);
    pthread_cond_destroy(&model->res_cv);
    ts_tokenizer_free(model->tok);
    if (model->st) ts_weights_release(&model->w);
    ts_safetensors_close(model->st);
    free(model->layers);
    free(model->base.layer);
    free(model->copy.layer);
    free(model->vecs);
    if (model->packed) munmap(model->packed, model->packed_size);
    free(model);
}

const ts_model_info *ts_model_get_info(const ts_model *model)
{
    return &model->info;
}

const ts_tokenizer *ts_model_tokenizer(const ts_model *model)
{
    return model->tok;
}

void ts_model_weights_info(const ts_model *model, ts_weights_info *out)
{
    int state = atomic_load_explicit(&model->res_state, memory_order_acquire);
    *out = model->winfo;
    out->copying = state == RES_COPYING;
    out->resident = state == RES_DONE;
    if (out->resident) { /* written before RES_DONE was stored */
        out->resident_bytes = model->res_bytes;
        out->resident_ms = model->res_ms;
        out->resident_panels = model->res_panels;
    }
}

/* ======================================================================== */
/* context                                                                  */
/* ======================================================================== */

#define TS_MAX_BATCH 512 /* rows of activations; longer prompts go in chunks */

struct ts_context {
    const ts_model *model;
    size_t n_ctx, n_batch, n_batch_max, n_past;
    bool all_logits;
    int nth;
    ts_threadpool *pool;
    float *k_cache, *v_cache; /* [n_layer][n_ctx][C], both in kv_map */
    void *kv_map;             /* one huge-page-aligned mapping (map_huge) */
    size_t kv_map_size;       /* its length, for munmap */
    float *x;                 /* residual stream [n_batch][C] */
    float *xn;                /* LayerNorm output [n_batch][C] */
    float *qkv;               /* [n_batch][3C] */
    float *att;               /* attention output [n_batch][C] */
    float *fc;                /* MLP hidden [n_batch][4C] */
    float *tmp;               /* one row [4C] for the residual GEMVs */
    float *part;              /* [TS_SPLITK][4C]: split-K partial sums of a decode GEMV */
    float *scores;            /* [nth][scores_stride]: attention scratch */
    size_t scores_stride;
    float *panel; /* [nth][panel_floats]: packed F32 GEMM panels of W */
    size_t panel_floats;
    float *logits;       /* all_logits ? [n_ctx][V] : [V] */
    size_t n_logit_rows; /* rows of the last eval (all_logits) */
    size_t last_row;     /* row of `logits` holding the last position */
    bool profile;
    ts_profile prof; /* sums of the per-phase times (profile only) */
};

/* OpenBLAS's thread count is process-wide: set once, whichever context comes first. */
static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void)
{
    openblas_set_num_threads(1);
}

ts_context_params ts_context_default_params(void)
{
    ts_context_params p = {0, 0, false, false};
    return p;
}

static float *alloc_floats(size_t a, size_t b, bool *ok)
{
    size_t n;
    if (ts_mul_overflows(a, b, &n) || ts_mul_overflows(n, sizeof(float), &n)) {
        *ok = false;
        return NULL;
    }
    void *p = NULL;
    if (n == 0) n = 64;
    n = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, n) != 0) {
        *ok = false;
        return NULL;
    }
    return p;
}

ts_status ts_context_new(const ts_model *model, const ts_context_params *params, ts_context **out,
                         char *err, size_t err_size)
{
    *out = NULL;
    ts_context_params p = params ? *params : ts_context_default_params();
    const ts_model_info *in = &model->info;
    size_t P = (size_t)in->n_positions;
    if (p.n_ctx < 0 || (size_t)p.n_ctx > P)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "context size %d is outside [1, %zu] (the model's n_positions)",
                         (int)p.n_ctx, P);
    ts_context *c = calloc(1, sizeof *c);
    if (!c) return ts_errorf(err, err_size, TS_ERR_NOMEM, "context: out of memory");
    c->model = model;
    c->n_ctx = p.n_ctx > 0 ? (size_t)p.n_ctx : P;
    c->n_batch = c->n_batch_max = c->n_ctx < TS_MAX_BATCH ? c->n_ctx : TS_MAX_BATCH;
    c->all_logits = p.all_logits;
    c->profile = p.profile;
    c->nth = p.n_threads > 0 ? p.n_threads : model->n_threads;
    if (c->nth < 1) c->nth = 1;

    const size_t C = (size_t)in->n_embd, L = (size_t)in->n_layer, V = (size_t)in->n_vocab;
    const size_t B = c->n_batch, nth = (size_t)c->nth;
    bool ok = true;
    /* K and V in huge pages (one mapping): decode reads every cached row of every layer per
       token, and on 4 KiB pages the hardware prefetcher stops at each page. At ~950 positions
       (distilgpt2-shaped F16) decode attention went 2.01 -> 1.83 ms per token on one thread and
       1.40 -> 1.20 on two (medians of 5 alternating runs); at ~100 positions, inside the noise. */
    size_t kv_floats = 0;
    if (ts_mul_overflows(L * c->n_ctx, C, &kv_floats) || kv_floats > SIZE_MAX / 8) {
        ok = false;
    } else {
        const size_t half = pad64(kv_floats * sizeof(float));
        unsigned char *kv = map_huge(2 * half, &c->kv_map, &c->kv_map_size);
        if (!kv) ok = false;
        c->k_cache = kv ? (float *)kv : NULL;
        c->v_cache = kv ? (float *)(kv + half) : NULL;
    }
    c->x = alloc_floats(B, C, &ok);
    c->xn = alloc_floats(B, C, &ok);
    c->qkv = alloc_floats(B, 3 * C, &ok);
    c->att = alloc_floats(B, C, &ok);
    c->fc = alloc_floats(B, 4 * C, &ok);
    c->tmp = alloc_floats(4, C, &ok);
    c->part = alloc_floats(TS_SPLITK * 4, C, &ok);
    /* ts_attn_heads4_f32's scores and a head's transposed keys (64 rows: head size 64 is the
       one that uses them), or ts_attn_decode_f32's scores for all heads */
    const size_t H = (size_t)in->n_head;
    c->scores_stride = (H > 4 + 64 ? H : 4 + 64) * (c->n_ctx + 18);
    c->scores = alloc_floats(nth, c->scores_stride, &ok);
    c->panel_floats = 512 * C;
    c->panel = alloc_floats(nth, c->panel_floats, &ok); /* >= 4C * 32, a multiple of 16 */
    c->logits = alloc_floats(c->all_logits ? c->n_ctx : 1, V, &ok);
    (void)ts_kernels_isa(); /* resolve the ISA once, before any worker reads it */
    if (ok && ts_threadpool_new(c->nth, &c->pool) != TS_OK) ok = false;
    if (!ok) {
        ts_context_free(c);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "context of %zu positions: out of memory", P);
    }
    memset(c->logits, 0, V * sizeof *c->logits);
    /* Touch the KV cache now, so that decode does not take its page faults. */
    memset(c->k_cache, 0, kv_floats * sizeof *c->k_cache);
    memset(c->v_cache, 0, kv_floats * sizeof *c->v_cache);
    /* We split GEMMs across our own pool; OpenBLAS threads would compete with it. */
    pthread_once(&g_blas_once, blas_single_thread);
    *out = c;
    return TS_OK;
}

void ts_context_free(ts_context *ctx)
{
    if (!ctx) return;
    ts_threadpool_free(ctx->pool);
    if (ctx->kv_map) munmap(ctx->kv_map, ctx->kv_map_size);
    free(ctx->x);
    free(ctx->xn);
    free(ctx->qkv);
    free(ctx->att);
    free(ctx->fc);
    free(ctx->tmp);
    free(ctx->part);
    free(ctx->scores);
    free(ctx->panel);
    free(ctx->logits);
    free(ctx);
}

void ts_context_set_batch(ts_context *ctx, size_t n_batch)
{
    TS_ASSERT(n_batch >= 1 && n_batch <= ctx->n_batch_max);
    ctx->n_batch = n_batch;
}

size_t ts_context_n_past(const ts_context *ctx)
{
    return ctx->n_past;
}

void ts_context_truncate(ts_context *ctx, size_t n_past)
{
    /* The cache rows beyond n_past are simply overwritten by the next eval. */
    if (n_past < ctx->n_past) ctx->n_past = n_past;
}

const float *ts_context_logits(const ts_context *ctx)
{
    return ctx->logits + ctx->last_row * (size_t)ctx->model->info.n_vocab;
}

static const char *const k_phase_names[TS_PHASE_COUNT] = {"embed",    "layernorm",  "c_attn",
                                                          "kv_copy",  "attention",  "attn.c_proj",
                                                          "mlp.c_fc", "mlp.c_proj", "lm_head"};

const char *ts_phase_name(ts_phase p)
{
    return (unsigned)p < TS_PHASE_COUNT ? k_phase_names[p] : "?";
}

void ts_context_profile(const ts_context *ctx, ts_profile *out)
{
    *out = ctx->prof;
}

void ts_context_profile_reset(ts_context *ctx)
{
    memset(&ctx->prof, 0, sizeof ctx->prof);
}

const float *ts_context_all_logits(const ts_context *ctx, size_t *n_rows)
{
    if (!ctx->all_logits) {
        if (n_rows) *n_rows = 0;
        return NULL;
    }
    if (n_rows) *n_rows = ctx->n_logit_rows;
    return ctx->logits;
}

/* ======================================================================== */
/* forward pass                                                             */
/* ======================================================================== */

typedef enum epilogue { EPI_STORE, EPI_RESIDUAL, EPI_GELU } epilogue;

/* Y[T][n_lo, n_hi) (=, +=, gelu of) X[T][K] . W[K][n_lo, n_hi) + bias (rows of Y are N wide). */
/* fn over [lo, hi) dealt out in chunks on multiples of `align` (shares_init) to ctx's pool. */
static void run_shares(ts_context *ctx, ts_task_fn fn, void *arg, shares *s, size_t lo, size_t hi,
                       size_t align)
{
    shares_init(s, lo, hi, align, ts_threadpool_size(ctx->pool));
    ts_threadpool_run_shared(ctx->pool, fn, arg);
}

typedef struct mm_job {
    ts_context *ctx;
    const float *X;
    size_t T;
    const ts_mat *W;
    const float *bias;
    float *Y;
    epilogue epi;
    size_t n_lo, n_hi; /* n_lo a multiple of TS_PANEL: whole panels when W is packed */
    shares work;       /* decode: columns (or split-K blocks) in chunks */
} mm_job;

static void mm_task(void *arg, int ith, int nth)
{
    mm_job *j = arg;
    const ts_mat *W = j->W;
    const size_t K = W->rows, N = W->cols, T = j->T;
    float *Y = j->Y;
    const float *b = j->bias;
    size_t n0, n1;

    if (T == 1) { /* decode: GEMV on the weights' dtype and layout, whole panels per chunk */
        while (shares_take(&j->work, ith, &n0, &n1)) {
            if (j->epi == EPI_RESIDUAL) {
                float *tmp = j->ctx->tmp;
                ts_gemv_xw(tmp, j->X, W, n0, n1);
                for (size_t i = n0; i < n1; i++)
                    Y[i] += tmp[i] + b[i];
            } else {
                ts_gemv_xw(Y, j->X, W, n0, n1);
                for (size_t i = n0; i < n1; i++)
                    Y[i] += b[i];
                if (j->epi == EPI_GELU) ts_gelu_new_f32(Y + n0, n1 - n0);
            }
        }
        return;
    }

    split_range(j->n_hi - j->n_lo, ith, nth, TS_PANEL, &n0, &n1); /* whole panels when packed */
    if (n0 >= n1) return;
    n0 += j->n_lo;
    n1 += j->n_lo;
    const size_t w = n1 - n0;

    if (ts_gemm_available()) { /* bias and GELU in the tiles' registers */
        static const ts_gemm_epi mode[] = {
            [EPI_STORE] = TS_GEMM_STORE, [EPI_RESIDUAL] = TS_GEMM_ADD, [EPI_GELU] = TS_GEMM_GELU};
        ts_gemm_xw(Y, j->X, T, W, n0, n1, b, mode[j->epi],
                   j->ctx->panel + (size_t)ith * j->ctx->panel_floats);
        return;
    }
    /* OpenBLAS: Y starts as the bias (or the residual + bias); sgemm adds X W. */
    for (size_t t = 0; t < T; t++) {
        float *row = Y + t * N;
        if (j->epi == EPI_RESIDUAL)
            for (size_t i = n0; i < n1; i++)
                row[i] += b[i];
        else
            memcpy(row + n0, b + n0, w * sizeof *row);
    }
    if (W->dtype == TS_DTYPE_F32 && W->layout == TS_LAYOUT_ROWS) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)w, (int)K, 1.0f, j->X,
                    (int)K, (const float *)W->data + n0, (int)N, 1.0f, Y + n0, (int)N);
    } else { /* any other dtype / layout: F32 column blocks [K][cw] first */
        float *panel = j->ctx->panel + (size_t)ith * j->ctx->panel_floats;
        size_t pw = (j->ctx->panel_floats / K) & ~(size_t)15;
        if (pw < 16) pw = 16;
        for (size_t c0 = n0; c0 < n1; c0 += pw) {
            size_t cw = n1 - c0 < pw ? n1 - c0 : pw;
            ts_mat_cols_f32(W, c0, cw, panel);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)cw, (int)K, 1.0f,
                        j->X, (int)K, panel, (int)cw, 1.0f, Y + c0, (int)N);
        }
    }
    if (j->epi == EPI_GELU)
        for (size_t t = 0; t < T; t++)
            ts_gelu_new_f32(Y + t * N + n0, w);
}

/* logits[T][V] = X[T][C] . Wᵀ for W (V, C): the vocabulary projection. */
typedef struct head_job {
    ts_context *ctx;
    const ts_mat *W; /* (V, C) */
    const float *X;
    size_t T;
    float *logits;
    shares work; /* one row: rows in chunks */
} head_job;

static void head_task(void *arg, int ith, int nth)
{
    head_job *j = arg;
    const ts_mat *W = j->W;
    const size_t V = W->rows, C = W->cols, T = j->T;
    size_t r0, r1;
    if (T == 1) {
        while (shares_take(&j->work, ith, &r0, &r1))
            ts_gemv_wx(j->logits, W, j->X, r0, r1);
        return;
    }
    split_range(V, ith, nth, 16, &r0, &r1);
    if (r0 >= r1) return;
    if (ts_gemm_available()) {
        ts_gemm_wx(j->logits, V, j->X, T, W, r0, r1,
                   j->ctx->panel + (size_t)ith * j->ctx->panel_floats);
        return;
    }
    if (W->dtype == TS_DTYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)(r1 - r0), (int)C, 1.0f,
                    j->X, (int)C, (const float *)W->data + r0 * C, (int)C, 0.0f, j->logits + r0,
                    (int)V);
        return;
    }
    float *panel = j->ctx->panel + (size_t)ith * j->ctx->panel_floats;
    size_t pr = j->ctx->panel_floats / C;
    for (size_t a = r0; a < r1; a += pr) {
        size_t nr = r1 - a < pr ? r1 - a : pr;
        ts_mat_row_f32(W, a, 0, nr * C, panel); /* rows a .. a+nr are contiguous */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)nr, (int)C, 1.0f, j->X,
                    (int)C, panel, (int)C, 0.0f, j->logits + a, (int)V);
    }
}

/* out[T][C] = LayerNorm(inp[T][C]), rows split across threads. */
typedef struct ln_job {
    float *out;
    const float *inp;
    const float *w, *b;
    size_t T, C;
    float eps;
} ln_job;

static void ln_task(void *arg, int ith, int nth)
{
    const ln_job *j = arg;
    size_t t0, t1;
    split_range(j->T, ith, nth, 1, &t0, &t1);
    if (t0 < t1)
        ts_layernorm_f32(j->out + t0 * j->C, j->inp + t0 * j->C, j->w, j->b, t1 - t0, j->C, j->eps);
}

static void layernorm(ts_context *ctx, float *out, const float *inp, const float *w, const float *b,
                      size_t T)
{
    const ts_model_info *in = &ctx->model->info;
    ln_job j = {out, inp, w, b, T, (size_t)in->n_embd, (float)in->layer_norm_epsilon};
    if (T < 8)
        ln_task(&j, 0, 1);
    else
        ts_threadpool_run(ctx->pool, ln_task, &j);
}

/* Causal attention of T new positions (p0 .. p0+T-1) of layer l over the cache. */
typedef struct att_job {
    ts_context *ctx;
    size_t l, T, p0;
    size_t q0;   /* queries q0 .. T-1 only (the last layer's rows whose output is read) */
    shares work; /* one query: heads, a thread's share per chunk */
} att_job;

static void att_task(void *arg, int ith, int nth)
{
    att_job *j = arg;
    ts_context *ctx = j->ctx;
    const size_t H = (size_t)ctx->model->info.n_head, C = (size_t)ctx->model->info.n_embd;
    const size_t hd = C / H;
    const float scale = (float)(1.0 / sqrt((double)hd));
    const float *kc = ctx->k_cache + j->l * ctx->n_ctx * C;
    const float *vc = ctx->v_cache + j->l * ctx->n_ctx * C;
    float *s = ctx->scores + (size_t)ith * ctx->scores_stride;
    if (j->T - j->q0 == 1) { /* one query (decode, or a prefill's last row): runs of heads */
        const size_t q = j->q0;
        size_t h0, h1;
        while (shares_take(&j->work, ith, &h0, &h1))
            ts_attn_decode_f32(ctx->att + q * C, ctx->qkv + q * 3 * C, kc, vc, C, j->p0 + q + 1, h0,
                               h1, hd, scale, s);
        return;
    }
    /* prefill: (head, block of up to 4 queries) pairs dealt round-robin: the causal rows grow,
       so this balances; a block shares each K / V row's load. Head-major, so that a head's cached
       rows (n x 512 bytes: 458 KB at 896 positions) stay in L2 across its blocks, where
       query-major order swept every head's rows from L3 (896-token prefill attention 127-130 ->
       112 ms, one thread). */
    const size_t nb = (j->T - j->q0 + 3) / 4, n_all = j->p0 + j->T;
    const size_t ldkt = (n_all + 15) & ~(size_t)15;
    float *kt = s + 4 * (ctx->n_ctx + 18); /* the current head's keys, transposed */
    size_t cur = SIZE_MAX;
    bool have_kt = false;
    for (size_t pi = (size_t)ith; pi < H * nb; pi += (size_t)nth) {
        size_t h = pi / nb, t = j->q0 + pi % nb * 4, nq = j->T - t < 4 ? j->T - t : 4;
        if (h != cur) {
            cur = h;
            have_kt = ts_attn_keys_t(kt, ldkt, kc + h * hd, C, n_all, hd);
        }
        ts_attn_heads4_f32(ctx->att + t * C + h * hd, C, ctx->qkv + t * 3 * C + h * hd, 3 * C,
                           kc + h * hd, have_kt ? kt : NULL, ldkt, vc + h * hd, C, j->p0 + t + 1,
                           nq, hd, scale, s);
    }
}

/*
 * Decode on row-major W [K][N]: split K, not N. The rows are cut into
 * TS_SPLITK fixed blocks, k in [k0, k1) each (contiguous in memory: one
 * sequential stream), each multiplied into its own partial sum part[c][0, N);
 * thread t takes a contiguous run of blocks. The blocks and the order in which
 * the partials are added do not depend on the thread count, so decode gives
 * the same bits with 1, 2 or 8 threads. A column split instead has every thread
 * read a short stripe of every row, which streams worse (1 -> 2 threads gave
 * 1.1-1.6x for the Conv1D GEMVs).
 */
static void mm_splitk_task(void *arg, int ith, int nth)
{
    (void)nth;
    mm_job *j = arg;
    const size_t stride = 4 * (size_t)j->ctx->model->info.n_embd;
    size_t c0, c1;
    while (shares_take(&j->work, ith, &c0, &c1)) /* a block at a time */
        for (size_t c = c0; c < c1; c++)
            ts_gemv_xw_block(j->ctx->part + c * stride, j->X, j->W, c);
}

/* Y[i] (=, +=, gelu of) (part[0][i] + ... + part[TS_SPLITK-1][i]) + bias[i], split by columns. */
static void reduce_cols(const mm_job *j, size_t n0, size_t n1)
{
    const size_t stride = 4 * (size_t)j->ctx->model->info.n_embd;
    const float *part = j->ctx->part;
    float *acc = j->ctx->tmp, *Y = j->Y;
    const float *b = j->bias;
    memcpy(acc + n0, part + n0, (n1 - n0) * sizeof *acc);
    for (size_t c = 1; c < TS_SPLITK; c++)
        for (size_t i = n0; i < n1; i++)
            acc[i] += part[c * stride + i];
    if (j->epi == EPI_RESIDUAL)
        for (size_t i = n0; i < n1; i++)
            Y[i] += acc[i] + b[i];
    else
        for (size_t i = n0; i < n1; i++)
            Y[i] = acc[i] + b[i];
    if (j->epi == EPI_GELU) ts_gelu_new_f32(Y + n0, n1 - n0);
}

static void mm_reduce_task(void *arg, int ith, int nth)
{
    (void)nth;
    mm_job *j = arg;
    size_t n0, n1;
    while (shares_take(&j->work, ith, &n0, &n1))
        reduce_cols(j, n0, n1);
}

/* Columns [n_lo, n_hi) of Y (split-K decode still sums every column: it streams whole rows). */
static void matmul_cols(ts_context *ctx, float *Y, const float *X, size_t T, const ts_mat *W,
                        const float *bias, epilogue epi, size_t n_lo, size_t n_hi)
{
    mm_job j = {.ctx = ctx,
                .X = X,
                .T = T,
                .W = W,
                .bias = bias,
                .Y = Y,
                .epi = epi,
                .n_lo = n_lo,
                .n_hi = n_hi};
    if (T == 1 && splitk_decodes(ctx->model, W)) { /* a block per chunk (all for one thread) */
        run_shares(ctx, mm_splitk_task, &j, &j.work, 0, TS_SPLITK, 1);
        run_shares(ctx, mm_reduce_task, &j, &j.work, n_lo, n_hi, 16);
        return;
    }
    if (T == 1)
        run_shares(ctx, mm_task, &j, &j.work, n_lo, n_hi, TS_PANEL);
    else
        ts_threadpool_run(ctx->pool, mm_task, &j);
}

static void matmul(ts_context *ctx, float *Y, const float *X, size_t T, const ts_mat *W,
                   const float *bias, epilogue epi)
{
    matmul_cols(ctx, Y, X, T, W, bias, epi, 0, W->cols);
}

/* Per-phase timing: a no-op unless the context profiles (then `acc` is its decode or prefill sums).
 */
#define PHASE(ph, ...)                                                                             \
    do {                                                                                           \
        double t0_ = acc ? ts_seconds() : 0.0;                                                     \
        __VA_ARGS__;                                                                               \
        if (acc) acc[ph] += ts_seconds() - t0_;                                                    \
    } while (0)

/* Run T tokens at positions n_past .. n_past+T-1 (T <= n_batch); logits of the rows asked. */
static void forward(ts_context *ctx, const int32_t *tokens, size_t T, float *logits, bool every_row,
                    bool want_logits, double *acc)
{
    const ts_model *m = ctx->model;
    const size_t C = (size_t)m->info.n_embd, L = (size_t)m->info.n_layer;
    const size_t p0 = ctx->n_past;
    /* The matrices: the mapping's or the background copy's, the same set for the whole pass. */
    const model_mats *M = atomic_load_explicit(&m->mats, memory_order_acquire);

    /* x = wte[token] + wpe[pos] */
    PHASE(TS_PHASE_EMBED, {
        for (size_t t = 0; t < T; t++) {
            float *x = ctx->x + t * C, *pe = ctx->tmp;
            ts_mat_row_f32(&M->wte, (size_t)tokens[t], 0, C, x);
            ts_mat_row_f32(&M->wpe, p0 + t, 0, C, pe);
            for (size_t i = 0; i < C; i++)
                x[i] += pe[i];
        }
    });

    /* Rows whose hidden state leaves the pass: every row, the last, or none (a chunk of a longer
       prompt). The last layer computes the others' keys and values only, for the cache: their
       attention, projection and MLP there feed nothing (in a 128-token prefill they were 13 % of
       the time). */
    const size_t keep = every_row ? T : want_logits ? 1 : 0;
    for (size_t l = 0; l < L; l++) {
        const ts_mat *W = layer_mat(M, l, 0);
        const float *const *v = m->layers[l].v;
        const size_t r0 = l + 1 == L ? T - keep : 0, R = T - r0; /* rows r0 .. T-1 go on */
        PHASE(TS_PHASE_LAYERNORM,
              layernorm(ctx, ctx->xn, ctx->x, v[TS_LT_LN_1_W], v[TS_LT_LN_1_B], T));
        if (r0 > 0 && C % TS_PANEL == 0) { /* the rows that stop here need no query */
            PHASE(TS_PHASE_ATTN_QKV, {
                if (R > 0) /* q, k, v of the rows that go on (the k, v are then overwritten) */
                    matmul(ctx, ctx->qkv + r0 * 3 * C, ctx->xn + r0 * C, R, &W[TS_LT_ATTN_W],
                           v[TS_LT_ATTN_B], EPI_STORE);
                /* k, v of every row by the GEMM that fills them in every other pass: a row's
                   cached bits never depend on which rows a pass keeps */
                matmul_cols(ctx, ctx->qkv, ctx->xn, T, &W[TS_LT_ATTN_W], v[TS_LT_ATTN_B], EPI_STORE,
                            C, 3 * C);
            });
        } else {
            PHASE(TS_PHASE_ATTN_QKV,
                  matmul(ctx, ctx->qkv, ctx->xn, T, &W[TS_LT_ATTN_W], v[TS_LT_ATTN_B], EPI_STORE));
        }
        PHASE(TS_PHASE_KV_COPY, {
            float *kc = ctx->k_cache + (l * ctx->n_ctx + p0) * C;
            float *vc = ctx->v_cache + (l * ctx->n_ctx + p0) * C;
            for (size_t t = 0; t < T; t++) {
                memcpy(kc + t * C, ctx->qkv + t * 3 * C + C, C * sizeof(float));
                memcpy(vc + t * C, ctx->qkv + t * 3 * C + 2 * C, C * sizeof(float));
            }
        });
        if (R == 0) break;
        float *x = ctx->x + r0 * C, *att = ctx->att + r0 * C;
        att_job aj = {.ctx = ctx, .l = l, .T = T, .p0 = p0, .q0 = r0};
        if (R == 1) { /* heads shared out a thread's share at a time: its rows stay wide */
            const size_t H = (size_t)m->info.n_head, nth = (size_t)ts_threadpool_size(ctx->pool);
            PHASE(TS_PHASE_ATTENTION,
                  run_shares(ctx, att_task, &aj, &aj.work, 0, H, (H + nth - 1) / nth));
        } else {
            PHASE(TS_PHASE_ATTENTION, ts_threadpool_run(ctx->pool, att_task, &aj));
        }
        PHASE(TS_PHASE_ATTN_PROJ,
              matmul(ctx, x, att, R, &W[TS_LT_ATTN_PROJ_W], v[TS_LT_ATTN_PROJ_B], EPI_RESIDUAL));
        PHASE(TS_PHASE_LAYERNORM, layernorm(ctx, ctx->xn, x, v[TS_LT_LN_2_W], v[TS_LT_LN_2_B], R));
        PHASE(TS_PHASE_MLP_FC,
              matmul(ctx, ctx->fc, ctx->xn, R, &W[TS_LT_FC_W], v[TS_LT_FC_B], EPI_GELU));
        PHASE(TS_PHASE_MLP_PROJ,
              matmul(ctx, x, ctx->fc, R, &W[TS_LT_FC_PROJ_W], v[TS_LT_FC_PROJ_B], EPI_RESIDUAL));
    }
    ctx->n_past += T;
    if (!want_logits) return;

    size_t rows = every_row ? T : 1;
    const float *last = every_row ? ctx->x : ctx->x + (T - 1) * C;
    PHASE(TS_PHASE_LAYERNORM, layernorm(ctx, ctx->xn, last, m->ln_f_w, m->ln_f_b, rows));
    head_job hj = {.ctx = ctx, .W = &M->lm_head, .X = ctx->xn, .T = rows, .logits = logits};
    PHASE(TS_PHASE_LM_HEAD, rows == 1
                                ? run_shares(ctx, head_task, &hj, &hj.work, 0, M->lm_head.rows, 16)
                                : ts_threadpool_run(ctx->pool, head_task, &hj));
}

ts_status ts_model_eval(ts_context *ctx, const int32_t *tokens, size_t n, char *err,
                        size_t err_size)
{
    const ts_model_info *in = &ctx->model->info;
    const size_t V = (size_t)in->n_vocab;
    if (n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "no tokens to evaluate");
    if (!tokens) return ts_errorf(err, err_size, TS_ERR_INVALID, "tokens is NULL");
    if (n > ctx->n_ctx || ctx->n_past + n > ctx->n_ctx) {
        if (ctx->n_past == 0)
            return ts_errorf(err, err_size, TS_ERR_RANGE,
                             "prompt of %zu tokens exceeds the context of %zu positions", n,
                             ctx->n_ctx);
        return ts_errorf(err, err_size, TS_ERR_RANGE,
                         "%zu tokens in the context + %zu new exceed the context of %zu "
                         "positions",
                         ctx->n_past, n, ctx->n_ctx);
    }
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (size_t)tokens[i] >= V)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "token id %ld at index %zu is outside the vocabulary [0, %zu)",
                             (long)tokens[i], i, V);

    double *acc = NULL;
    if (ctx->profile) {
        acc = n == 1 ? ctx->prof.decode_s : ctx->prof.prefill_s;
        if (n == 1)
            ctx->prof.decode_tokens++;
        else
            ctx->prof.prefill_tokens += n;
    }
    for (size_t off = 0; off < n; off += ctx->n_batch) {
        size_t T = n - off < ctx->n_batch ? n - off : ctx->n_batch;
        bool last = off + T == n;
        if (ctx->all_logits)
            forward(ctx, tokens + off, T, ctx->logits + off * V, true, true, acc);
        else
            forward(ctx, tokens + off, T, ctx->logits, false, last, acc);
    }
    ctx->n_logit_rows = ctx->all_logits ? n : 1;
    ctx->last_row = ctx->all_logits ? n - 1 : 0;
    return TS_OK;
}
