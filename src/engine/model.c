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
 *     their stored dtype, threads splitting the output columns; the vocabulary
 *     projection (the largest matrix) splits its rows.
 * Attention reads the KV cache, F32 [n_layer][n_ctx][C] (head h at h*hd).
 *
 * Memory: everything ts_model_eval touches is allocated by ts_context_new;
 * eval itself never allocates (tests/test_model.c counts mallocs).
 */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ======================================================================== */
/* model                                                                    */
/* ======================================================================== */

typedef struct model_layer {
    ts_mat attn_w;      /* (C, 3C) */
    ts_mat attn_proj_w; /* (C, C) */
    ts_mat fc_w;        /* (C, 4C) */
    ts_mat fc_proj_w;   /* (4C, C) */
    /* F32 copies of the small vectors (LayerNorm, biases) */
    float *ln_1_w, *ln_1_b; /* (C) */
    float *attn_b;          /* (3C) */
    float *attn_proj_b;     /* (C) */
    float *ln_2_w, *ln_2_b; /* (C) */
    float *fc_b;            /* (4C) */
    float *fc_proj_b;       /* (C) */
} model_layer;

struct ts_model {
    ts_model_info info;
    ts_safetensors *st;
    ts_weights w;
    ts_tokenizer *tok;
    int32_t n_threads;
    ts_mat wte;     /* (V, C) */
    ts_mat wpe;     /* (n_positions, C) */
    ts_mat lm_head; /* (V, C) */
    model_layer *layers;
    float *ln_f_w, *ln_f_b; /* (C) */
    float *vecs;            /* one block holding every F32 vector above */
};

ts_model_params ts_model_default_params(void)
{
    ts_model_params p = {0};
    return p;
}

static ts_mat mat_of(const ts_tensor *t)
{
    ts_mat m = {t->data, t->dtype, (size_t)t->shape[0], t->ndim > 1 ? (size_t)t->shape[1] : 1};
    return m;
}

/* Copy a tensor of n elements into dst as F32; false when the element count differs. */
static bool vec_f32(const ts_tensor *t, size_t n, float *dst)
{
    size_t count = 1;
    for (int32_t i = 0; i < t->ndim; i++)
        count *= (size_t)t->shape[i];
    if (count != n) return false;
    ts_mat m = {t->data, t->dtype, 1, n};
    ts_mat_row_f32(&m, 0, 0, n, dst);
    return true;
}

static bool mat_ok(const ts_tensor *t, size_t rows, size_t cols)
{
    return t->data && t->ndim == 2 && (size_t)t->shape[0] == rows && (size_t)t->shape[1] == cols;
}

ts_status ts_model_load(const char *dir, const ts_model_params *params, ts_model **out, char *err,
                        size_t err_size)
{
    *out = NULL;
    ts_model *m = calloc(1, sizeof *m);
    if (!m) return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", dir);
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
    m->wte = mat_of(&m->w.wte);
    m->wpe = mat_of(&m->w.wpe);
    m->lm_head = mat_of(&m->w.lm_head);
    bool ok = mat_ok(&m->w.wte, V, C) && mat_ok(&m->w.wpe, P, C) && mat_ok(&m->w.lm_head, V, C);
    m->layers = calloc(L ? L : 1, sizeof *m->layers);
    size_t per_layer = 13 * C, n_vecs = L * per_layer + 2 * C;
    m->vecs = malloc(n_vecs * sizeof *m->vecs);
    if (!m->layers || !m->vecs) {
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", dir);
    }
    for (size_t l = 0; ok && l < L; l++) {
        const ts_layer_weights *lw = &m->w.layers[l];
        model_layer *ml = &m->layers[l];
        float *v = m->vecs + l * per_layer;
        ml->attn_w = mat_of(&lw->attn_w);
        ml->attn_proj_w = mat_of(&lw->attn_proj_w);
        ml->fc_w = mat_of(&lw->fc_w);
        ml->fc_proj_w = mat_of(&lw->fc_proj_w);
        ok = mat_ok(&lw->attn_w, C, 3 * C) && mat_ok(&lw->attn_proj_w, C, C) &&
             mat_ok(&lw->fc_w, C, 4 * C) && mat_ok(&lw->fc_proj_w, 4 * C, C);
        ml->ln_1_w = v, v += C;
        ml->ln_1_b = v, v += C;
        ml->attn_b = v, v += 3 * C;
        ml->attn_proj_b = v, v += C;
        ml->ln_2_w = v, v += C;
        ml->ln_2_b = v, v += C;
        ml->fc_b = v, v += 4 * C;
        ml->fc_proj_b = v, v += C;
        ok = ok && vec_f32(&lw->ln_1_w, C, ml->ln_1_w) && vec_f32(&lw->ln_1_b, C, ml->ln_1_b) &&
             vec_f32(&lw->attn_b, 3 * C, ml->attn_b) &&
             vec_f32(&lw->attn_proj_b, C, ml->attn_proj_b) && vec_f32(&lw->ln_2_w, C, ml->ln_2_w) &&
             vec_f32(&lw->ln_2_b, C, ml->ln_2_b) && vec_f32(&lw->fc_b, 4 * C, ml->fc_b) &&
             vec_f32(&lw->fc_proj_b, C, ml->fc_proj_b);
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

    /* Tokenizer: dir/vocab.json + dir/merges.txt. */
    char vocab[4096], merges[4096];
    if (snprintf(vocab, sizeof vocab, "%s/vocab.json", dir) >= (int)sizeof vocab ||
        snprintf(merges, sizeof merges, "%s/merges.txt", dir) >= (int)sizeof merges) {
        ts_model_free(m);
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: path too long", dir);
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
    m->n_threads = params && params->n_threads > 0 ? params->n_threads : ts_threadpool_n_cores();
    *out = m;
    return TS_OK;
}

void ts_model_free(ts_model *model)
{
    if (!model) return;
    ts_tokenizer_free(model->tok);
    if (model->st) ts_weights_release(&model->w);
    ts_safetensors_close(model->st);
    free(model->layers);
    free(model->vecs);
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
    float *k_cache, *v_cache; /* [n_layer][n_ctx][C] */
    float *x;                 /* residual stream [n_batch][C] */
    float *xn;                /* LayerNorm output [n_batch][C] */
    float *qkv;               /* [n_batch][3C] */
    float *att;               /* attention output [n_batch][C] */
    float *fc;                /* MLP hidden [n_batch][4C] */
    float *tmp;               /* one row [4C] for the residual GEMVs */
    float *scores;            /* [nth][n_ctx] */
    float *panel;             /* [nth][panel_floats]: packed F32 GEMM panels of W */
    size_t panel_floats;
    float *logits;       /* all_logits ? [n_ctx][V] : [V] */
    size_t n_logit_rows; /* rows of the last eval (all_logits) */
    size_t last_row;     /* row of `logits` holding the last position */
};

ts_context_params ts_context_default_params(void)
{
    ts_context_params p = {0, 0, false};
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
    c->nth = p.n_threads > 0 ? p.n_threads : model->n_threads;
    if (c->nth < 1) c->nth = 1;

    const size_t C = (size_t)in->n_embd, L = (size_t)in->n_layer, V = (size_t)in->n_vocab;
    const size_t B = c->n_batch, nth = (size_t)c->nth;
    bool ok = true;
    c->k_cache = alloc_floats(L * c->n_ctx, C, &ok);
    c->v_cache = alloc_floats(L * c->n_ctx, C, &ok);
    c->x = alloc_floats(B, C, &ok);
    c->xn = alloc_floats(B, C, &ok);
    c->qkv = alloc_floats(B, 3 * C, &ok);
    c->att = alloc_floats(B, C, &ok);
    c->fc = alloc_floats(B, 4 * C, &ok);
    c->tmp = alloc_floats(4, C, &ok);
    c->scores = alloc_floats(nth, c->n_ctx, &ok);
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
    /* We split GEMMs across our own pool; OpenBLAS threads would compete with it. */
    openblas_set_num_threads(1);
    *out = c;
    return TS_OK;
}

void ts_context_free(ts_context *ctx)
{
    if (!ctx) return;
    ts_threadpool_free(ctx->pool);
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx->x);
    free(ctx->xn);
    free(ctx->qkv);
    free(ctx->att);
    free(ctx->fc);
    free(ctx->tmp);
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

/* Part ith of nth of [0, n), boundaries on multiples of `align`. */
static void split_range(size_t n, int ith, int nth, size_t align, size_t *a, size_t *b)
{
    size_t chunks = (n + align - 1) / align;
    size_t c0 = chunks * (size_t)ith / (size_t)nth, c1 = chunks * (size_t)(ith + 1) / (size_t)nth;
    *a = c0 * align < n ? c0 * align : n;
    *b = c1 * align < n ? c1 * align : n;
}

typedef enum epilogue { EPI_STORE, EPI_RESIDUAL, EPI_GELU } epilogue;

/* Y[T][N] (=, +=, gelu of) X[T][K] . W[K][N] + bias. */
typedef struct mm_job {
    ts_context *ctx;
    const float *X;
    size_t T;
    const ts_mat *W;
    const float *bias;
    float *Y;
    epilogue epi;
} mm_job;

static void mm_task(void *arg, int ith, int nth)
{
    const mm_job *j = arg;
    const ts_mat *W = j->W;
    const size_t K = W->rows, N = W->cols, T = j->T;
    size_t n0, n1;
    split_range(N, ith, nth, 16, &n0, &n1);
    if (n0 >= n1) return;
    const size_t w = n1 - n0;
    float *Y = j->Y;
    const float *b = j->bias;

    if (T == 1) { /* decode: GEMV on the stored dtype */
        if (j->epi == EPI_RESIDUAL) {
            float *tmp = j->ctx->tmp;
            ts_gemv_xw(tmp, j->X, W, n0, n1);
            for (size_t i = n0; i < n1; i++)
                Y[i] += tmp[i] + b[i];
        } else {
            ts_gemv_xw(Y, j->X, W, n0, n1);
            for (size_t i = n0; i < n1; i++)
                Y[i] += b[i];
            if (j->epi == EPI_GELU) ts_gelu_new_f32(Y + n0, w);
        }
        return;
    }

    /* prefill: Y starts as the bias (or the residual + bias); sgemm adds X W. */
    for (size_t t = 0; t < T; t++) {
        float *row = Y + t * N;
        if (j->epi == EPI_RESIDUAL)
            for (size_t i = n0; i < n1; i++)
                row[i] += b[i];
        else
            memcpy(row + n0, b + n0, w * sizeof *row);
    }
    if (ts_gemm_available()) {
        ts_gemm_xw(Y, j->X, T, W, n0, n1, j->ctx->panel + (size_t)ith * j->ctx->panel_floats);
    } else if (W->dtype == TS_DTYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)w, (int)K, 1.0f, j->X,
                    (int)K, (const float *)W->data + n0, (int)N, 1.0f, Y + n0, (int)N);
    } else {
        float *panel = j->ctx->panel + (size_t)ith * j->ctx->panel_floats;
        size_t pw = (j->ctx->panel_floats / K) & ~(size_t)15;
        if (pw < 16) pw = 16;
        for (size_t c0 = n0; c0 < n1; c0 += pw) {
            size_t cw = n1 - c0 < pw ? n1 - c0 : pw;
            for (size_t k = 0; k < K; k++)
                ts_mat_row_f32(W, k, c0, cw, panel + k * cw);
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
    const float *X;
    size_t T;
    float *logits;
} head_job;

static void head_task(void *arg, int ith, int nth)
{
    const head_job *j = arg;
    const ts_mat *W = &j->ctx->model->lm_head;
    const size_t V = W->rows, C = W->cols, T = j->T;
    size_t r0, r1;
    split_range(V, ith, nth, 16, &r0, &r1);
    if (r0 >= r1) return;
    if (T == 1) {
        ts_gemv_wx(j->logits, W, j->X, r0, r1);
        return;
    }
    if (ts_gemm_available()) {
        ts_gemm_wx(j->logits, V, j->X, T, W, r0, r1);
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
} att_job;

static void att_task(void *arg, int ith, int nth)
{
    const att_job *j = arg;
    ts_context *ctx = j->ctx;
    const size_t H = (size_t)ctx->model->info.n_head, C = (size_t)ctx->model->info.n_embd;
    const size_t hd = C / H;
    const float scale = (float)(1.0 / sqrt((double)hd));
    const float *kc = ctx->k_cache + j->l * ctx->n_ctx * C;
    const float *vc = ctx->v_cache + j->l * ctx->n_ctx * C;
    float *s = ctx->scores + (size_t)ith * ctx->n_ctx;
    /* (head, query) pairs dealt round-robin: the causal rows grow, so this balances. */
    for (size_t pi = (size_t)ith; pi < H * j->T; pi += (size_t)nth) {
        size_t t = pi / H, h = pi % H, n_keys = j->p0 + t + 1;
        const float *q = ctx->qkv + t * 3 * C + h * hd;
        for (size_t k = 0; k < n_keys; k++)
            s[k] = ts_dot_f32(q, kc + k * C + h * hd, hd) * scale;
        ts_softmax_f32(s, n_keys);
        float *o = ctx->att + t * C + h * hd;
        memset(o, 0, hd * sizeof *o);
        for (size_t k = 0; k < n_keys; k++)
            ts_axpy_f32(o, s[k], vc + k * C + h * hd, hd);
    }
}

static void matmul(ts_context *ctx, float *Y, const float *X, size_t T, const ts_mat *W,
                   const float *bias, epilogue epi)
{
    mm_job j = {ctx, X, T, W, bias, Y, epi};
    ts_threadpool_run(ctx->pool, mm_task, &j);
}

/* Run T tokens at positions n_past .. n_past+T-1 (T <= n_batch); logits of the rows asked. */
static void forward(ts_context *ctx, const int32_t *tokens, size_t T, float *logits, bool every_row,
                    bool want_logits)
{
    const ts_model *m = ctx->model;
    const size_t C = (size_t)m->info.n_embd, L = (size_t)m->info.n_layer;
    const size_t p0 = ctx->n_past;

    /* x = wte[token] + wpe[pos] */
    for (size_t t = 0; t < T; t++) {
        float *x = ctx->x + t * C, *pe = ctx->tmp;
        ts_mat_row_f32(&m->wte, (size_t)tokens[t], 0, C, x);
        ts_mat_row_f32(&m->wpe, p0 + t, 0, C, pe);
        for (size_t i = 0; i < C; i++)
            x[i] += pe[i];
    }

    for (size_t l = 0; l < L; l++) {
        const model_layer *ly = &m->layers[l];
        layernorm(ctx, ctx->xn, ctx->x, ly->ln_1_w, ly->ln_1_b, T);
        matmul(ctx, ctx->qkv, ctx->xn, T, &ly->attn_w, ly->attn_b, EPI_STORE);
        float *kc = ctx->k_cache + (l * ctx->n_ctx + p0) * C;
        float *vc = ctx->v_cache + (l * ctx->n_ctx + p0) * C;
        for (size_t t = 0; t < T; t++) {
            memcpy(kc + t * C, ctx->qkv + t * 3 * C + C, C * sizeof(float));
            memcpy(vc + t * C, ctx->qkv + t * 3 * C + 2 * C, C * sizeof(float));
        }
        att_job aj = {ctx, l, T, p0};
        ts_threadpool_run(ctx->pool, att_task, &aj);
        matmul(ctx, ctx->x, ctx->att, T, &ly->attn_proj_w, ly->attn_proj_b, EPI_RESIDUAL);
        layernorm(ctx, ctx->xn, ctx->x, ly->ln_2_w, ly->ln_2_b, T);
        matmul(ctx, ctx->fc, ctx->xn, T, &ly->fc_w, ly->fc_b, EPI_GELU);
        matmul(ctx, ctx->x, ctx->fc, T, &ly->fc_proj_w, ly->fc_proj_b, EPI_RESIDUAL);
    }
    ctx->n_past += T;
    if (!want_logits) return;

    if (every_row) {
        layernorm(ctx, ctx->xn, ctx->x, m->ln_f_w, m->ln_f_b, T);
        head_job hj = {ctx, ctx->xn, T, logits};
        ts_threadpool_run(ctx->pool, head_task, &hj);
    } else {
        layernorm(ctx, ctx->xn, ctx->x + (T - 1) * C, m->ln_f_w, m->ln_f_b, 1);
        head_job hj = {ctx, ctx->xn, 1, logits};
        ts_threadpool_run(ctx->pool, head_task, &hj);
    }
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

    for (size_t off = 0; off < n; off += ctx->n_batch) {
        size_t T = n - off < ctx->n_batch ? n - off : ctx->n_batch;
        bool last = off + T == n;
        if (ctx->all_logits)
            forward(ctx, tokens + off, T, ctx->logits + off * V, true, true);
        else
            forward(ctx, tokens + off, T, ctx->logits, false, last);
    }
    ctx->n_logit_rows = ctx->all_logits ? n : 1;
    ctx->last_row = ctx->all_logits ? n - 1 : 0;
    return TS_OK;
}
