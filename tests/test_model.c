/*
 * test_model.c — the forward pass against PyTorch (tools/gen_model_ref.py).
 *
 * Fixtures (tests/data): model_f32 (F32, no prefix, tied, one file),
 * model_f16 (F16, "transformer." prefix, tied, 2 shards + index), model_bf16
 * (BF16, untied lm_head). Each is 2 layers, n_embd 16, 2 heads, 64 positions,
 * the real 50,257-token vocabulary. The reference ran in float64 on the stored
 * (rounded) weights, so the tolerance measures our F32 arithmetic only:
 *     max |Δlogit| <= 1e-4 for every dtype (logits reach |10|).
 * model_ref.json/.bin hold, for 4 prompts (1, 7, 33 and 64 = n_positions
 * tokens), 256 vocabulary ids' logits at every position and all 50,257 logits
 * at one position per model.
 *
 * Checked for every model, every kernel ISA compiled in (scalar, AVX2,
 * AVX-512) and 1 and 2 threads:
 *   - the batched prefill path (all_logits: every position of one eval);
 *   - the KV-cache path: prefill k tokens, then decode the rest one by one;
 *   - truncate + re-decode gives bit-identical logits;
 *   - prompts longer than the activation buffers (evaluated in chunks);
 *   - errors: context overflow (TS_ERR_RANGE), ids outside the vocabulary
 *     (TS_ERR_INVALID), neither changes the context;
 *   - the same with the matrices converted at load without loss (to F32, and
 *     repacked in their own dtype: panel layout);
 *   - two contexts on one model evaluating concurrently in two threads give
 *     bit-identical logits to sequential runs;
 *   - the background copy of the stored matrices into huge pages
 *     (TS_MEMORY_COPY) gives bit-identical logits during and after the copy;
 *   - ts_model_eval does not allocate (malloc / calloc / realloc /
 *     posix_memalign counted; skipped under ASan, which owns malloc);
 * plus the kernels alone on odd sizes against float64 loops, and the F16
 * converter against the F16C instruction on all 65,536 values.
 *
 * The tokenizer files are not duplicated per fixture: each model is
 * assembled in a temp dir from symlinks to the fixture and to
 * $TS_SHARED/gpt2-tokenizer/{vocab.json,merges.txt}.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#define TOL 1e-4

/* ------------------------------------------------------------------------ */
/* allocation counting (not under ASan, which interposes malloc itself)     */
/* ------------------------------------------------------------------------ */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TS_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_COUNT_ALLOCS 0
#endif
#endif
#ifndef TS_COUNT_ALLOCS
#define TS_COUNT_ALLOCS 1
#endif

#if TS_COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
static atomic_long g_allocs;
static atomic_bool g_counting;

void *malloc(size_t n)
{
    if (atomic_load(&g_counting)) atomic_fetch_add(&g_allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    if (atomic_load(&g_counting)) atomic_fetch_add(&g_allocs, 1);
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    if (atomic_load(&g_counting)) atomic_fetch_add(&g_allocs, 1);
    return __libc_realloc(p, n);
}
int posix_memalign(void **p, size_t align, size_t n)
{
    if (atomic_load(&g_counting)) atomic_fetch_add(&g_allocs, 1);
    *p = __libc_memalign(align, n);
    return *p ? 0 : 12 /* ENOMEM */;
}
#endif

/* ------------------------------------------------------------------------ */
/* fixtures                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct prompt_ref {
    int32_t *ids;
    size_t n;
    const float *sub; /* [n][n_sub] */
} prompt_ref;

typedef struct model_ref {
    char dir[512]; /* assembled temp dir */
    char name[64];
    prompt_ref prompts[8];
    size_t n_prompts;
    size_t full_prompt, full_pos;
    const float *full; /* [V] */
} model_ref;

static struct {
    size_t V;
    int32_t *subset;
    size_t n_sub;
    float *bin;
    model_ref models[3];
    size_t n_models;
    char tmp_root[256];
} R;

static char *path_join(char *buf, size_t size, const char *a, const char *b)
{
    snprintf(buf, size, "%s/%s", a, b);
    return buf;
}

static void link_or_die(const char *target, const char *dir, const char *name)
{
    char p[1024];
    path_join(p, sizeof p, dir, name);
    if (symlink(target, p) != 0) {
        fprintf(stderr, "symlink %s -> %s failed\n", p, target);
        exit(1);
    }
}

/* A temp dir holding the fixture's config + safetensors and the real GPT-2 tokenizer files. */
static void assemble(model_ref *m, const char *data, const char *shared)
{
    char src[768], p[1024];
    path_join(src, sizeof src, data, m->name);
    snprintf(m->dir, sizeof m->dir, "%s/%s", R.tmp_root, m->name);
    if (mkdir(m->dir, 0700) != 0) {
        fprintf(stderr, "mkdir %s failed\n", m->dir);
        exit(1);
    }
    DIR *d = opendir(src);
    if (!d) {
        fprintf(stderr, "fixture %s missing\n", src);
        exit(1);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        link_or_die(path_join(p, sizeof p, src, e->d_name), m->dir, e->d_name);
    }
    closedir(d);
    char tokdir[768];
    const char *tok_env = getenv("TS_GPT2_TOKENIZER");
    if (tok_env && tok_env[0])
        snprintf(tokdir, sizeof tokdir, "%s", tok_env);
    else
        snprintf(tokdir, sizeof tokdir, "%s/gpt2-tokenizer", shared);
    link_or_die(path_join(p, sizeof p, tokdir, "vocab.json"), m->dir, "vocab.json");
    link_or_die(path_join(p, sizeof p, tokdir, "merges.txt"), m->dir, "merges.txt");
}

static int group_setup(void **state)
{
    (void)state;
    const char *data = getenv("TS_TEST_DATA");
    const char *shared = getenv("TS_SHARED");
    if (!data || !shared) {
        fprintf(stderr, "TS_TEST_DATA and TS_SHARED must be set (run through ctest)\n");
        return -1;
    }
    char p[1024];
    char *json = NULL, *bin = NULL;
    size_t json_len, bin_len;
    char err[TS_ERR_SIZE];
    if (ts_read_file(path_join(p, sizeof p, data, "model_ref.json"), &json, &json_len, err,
                     sizeof err) != TS_OK ||
        ts_read_file(path_join(p, sizeof p, data, "model_ref.bin"), &bin, &bin_len, err,
                     sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    R.bin = (float *)bin; /* malloc'd: aligned for floats */
    cJSON *root = cJSON_Parse(json);
    free(json);
    if (!root) return -1;
    R.V = (size_t)cJSON_GetObjectItem(root, "n_vocab")->valuedouble;
    if ((size_t)cJSON_GetObjectItem(root, "n_floats")->valuedouble * 4 != bin_len) {
        fprintf(stderr, "model_ref.bin: size does not match model_ref.json\n");
        return -1;
    }
    cJSON *sub = cJSON_GetObjectItem(root, "vocab_subset");
    R.n_sub = (size_t)cJSON_GetArraySize(sub);
    R.subset = malloc(R.n_sub * sizeof *R.subset);
    for (size_t i = 0; i < R.n_sub; i++)
        R.subset[i] = (int32_t)cJSON_GetArrayItem(sub, (int)i)->valuedouble;

    snprintf(R.tmp_root, sizeof R.tmp_root, "/tmp/ts_test_model.XXXXXX");
    if (!mkdtemp(R.tmp_root)) return -1;
    cJSON *models = cJSON_GetObjectItem(root, "models");
    R.n_models = (size_t)cJSON_GetArraySize(models);
    assert_true(R.n_models == 3);
    for (size_t i = 0; i < R.n_models; i++) {
        cJSON *mj = cJSON_GetArrayItem(models, (int)i);
        model_ref *m = &R.models[i];
        snprintf(m->name, sizeof m->name, "%s", cJSON_GetObjectItem(mj, "dir")->valuestring);
        cJSON *prompts = cJSON_GetObjectItem(mj, "prompts");
        m->n_prompts = (size_t)cJSON_GetArraySize(prompts);
        for (size_t j = 0; j < m->n_prompts; j++) {
            cJSON *pj = cJSON_GetArrayItem(prompts, (int)j);
            cJSON *ids = cJSON_GetObjectItem(pj, "ids");
            prompt_ref *pr = &m->prompts[j];
            pr->n = (size_t)cJSON_GetArraySize(ids);
            pr->ids = malloc(pr->n * sizeof *pr->ids);
            for (size_t k = 0; k < pr->n; k++)
                pr->ids[k] = (int32_t)cJSON_GetArrayItem(ids, (int)k)->valuedouble;
            pr->sub = R.bin + (size_t)cJSON_GetObjectItem(pj, "offset")->valuedouble;
        }
        cJSON *full = cJSON_GetObjectItem(mj, "full");
        m->full_prompt = (size_t)cJSON_GetObjectItem(full, "prompt")->valuedouble;
        m->full_pos = (size_t)cJSON_GetObjectItem(full, "pos")->valuedouble;
        m->full = R.bin + (size_t)cJSON_GetObjectItem(full, "offset")->valuedouble;
        assemble(m, data, shared);
    }
    cJSON_Delete(root);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", R.tmp_root);
    if (R.tmp_root[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", R.tmp_root);
    for (size_t i = 0; i < R.n_models; i++)
        for (size_t j = 0; j < R.models[i].n_prompts; j++)
            free(R.models[i].prompts[j].ids);
    free(R.subset);
    free(R.bin);
    return 0;
}

static ts_weights_type g_weights = TS_WEIGHTS_STORED; /* how load() holds the matrices */
static ts_weights_memory g_memory = TS_MEMORY_AUTO;   /* where load() keeps stored ones */

static ts_model *load(const model_ref *m, int n_threads)
{
    char err[TS_ERR_SIZE] = "";
    ts_model_params mp = ts_model_default_params();
    mp.n_threads = n_threads;
    mp.weights = g_weights;
    mp.memory = g_memory;
    ts_model *model = NULL;
    ts_status st = ts_model_load(m->dir, &mp, &model, err, sizeof err);
    if (st != TS_OK) fprintf(stderr, "load %s: %s\n", m->dir, err);
    assert_int_equal(st, TS_OK);
    return model;
}

static ts_context *new_ctx(const ts_model *model, bool all_logits, int n_ctx)
{
    char err[TS_ERR_SIZE] = "";
    ts_context_params cp = ts_context_default_params();
    cp.all_logits = all_logits;
    cp.n_ctx = n_ctx;
    ts_context *ctx = NULL;
    ts_status st = ts_context_new(model, &cp, &ctx, err, sizeof err);
    if (st != TS_OK) fprintf(stderr, "context: %s\n", err);
    assert_int_equal(st, TS_OK);
    return ctx;
}

static void eval_ok(ts_context *ctx, const int32_t *ids, size_t n)
{
    char err[TS_ERR_SIZE] = "";
    ts_status st = ts_model_eval(ctx, ids, n, err, sizeof err);
    if (st != TS_OK) fprintf(stderr, "eval: %s\n", err);
    assert_int_equal(st, TS_OK);
}

/* max |logits[subset] - ref| over the subset. */
static double diff_sub(const float *logits, const float *ref)
{
    double d = 0.0;
    for (size_t i = 0; i < R.n_sub; i++) {
        double e = fabs((double)logits[R.subset[i]] - (double)ref[i]);
        if (!(e <= d)) d = e; /* NaN propagates as a failure */
    }
    return d;
}

static double diff_full(const float *logits, const float *ref)
{
    double d = 0.0;
    for (size_t i = 0; i < R.V; i++) {
        double e = fabs((double)logits[i] - (double)ref[i]);
        if (!(e <= d)) d = e;
    }
    return d;
}

static double g_worst[3]; /* worst |Δ| seen per model, printed at the end */

static void check(size_t mi, const char *what, double d, size_t pos)
{
    if (d > g_worst[mi]) g_worst[mi] = d;
    if (!(d <= TOL)) {
        fprintf(stderr, "%s %s: position %zu: max |dlogit| = %.3g > %.0e (isa %s, weights %s)\n",
                R.models[mi].name, what, pos, d, TOL, ts_isa_name(ts_kernels_isa()),
                ts_weights_type_name(g_weights));
        fail();
    }
}

/* Every prompt through both paths, for one model, thread count and ISA. */
static void run_model(size_t mi, int n_threads)
{
    const model_ref *m = &R.models[mi];
    ts_model *model = load(m, n_threads);
    const ts_model_info *info = ts_model_get_info(model);
    assert_int_equal(info->n_vocab, (int)R.V);
    assert_int_equal(info->n_layer, 2);
    assert_int_equal(ts_tokenizer_vocab_size(ts_model_tokenizer(model)), 50257);

    ts_context *all = new_ctx(model, true, 0);
    ts_context *one = new_ctx(model, false, 0);
    for (size_t j = 0; j < m->n_prompts; j++) {
        const prompt_ref *p = &m->prompts[j];
        /* batched prefill of the whole prompt, logits at every position */
        ts_context_truncate(all, 0);
        eval_ok(all, p->ids, p->n);
        size_t rows = 0;
        const float *L = ts_context_all_logits(all, &rows);
        assert_non_null(L);
        assert_int_equal(rows, p->n);
        assert_int_equal(ts_context_n_past(all), p->n);
        for (size_t t = 0; t < p->n; t++)
            check(mi, "prefill", diff_sub(L + t * R.V, p->sub + t * R.n_sub), t);
        assert_ptr_equal(ts_context_logits(all), L + (p->n - 1) * R.V);
        if (j == m->full_prompt)
            check(mi, "prefill (full vocab)", diff_full(L + m->full_pos * R.V, m->full),
                  m->full_pos);

        /* prefill k tokens (last-row logits only), then decode one by one */
        size_t k = p->n / 2 ? p->n / 2 : 1;
        ts_context_truncate(one, 0);
        eval_ok(one, p->ids, k);
        check(mi, "prefill last row", diff_sub(ts_context_logits(one), p->sub + (k - 1) * R.n_sub),
              k - 1);
        assert_null(ts_context_all_logits(one, &rows));
        for (size_t t = k; t < p->n; t++) {
            eval_ok(one, p->ids + t, 1);
            check(mi, "decode", diff_sub(ts_context_logits(one), p->sub + t * R.n_sub), t);
            if (j == m->full_prompt && t == m->full_pos)
                check(mi, "decode (full vocab)", diff_full(ts_context_logits(one), m->full), t);
        }
        assert_int_equal(ts_context_n_past(one), p->n);
    }
    ts_context_free(all);
    ts_context_free(one);
    ts_model_free(model);
}

static void for_each_isa(void (*fn)(size_t mi, int n_threads))
{
    ts_isa best = ts_kernels_isa();
    for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
        if (!ts_kernels_force_isa((ts_isa)isa)) continue;
        for (size_t mi = 0; mi < R.n_models; mi++)
            for (int nt = 1; nt <= 2; nt++)
                fn(mi, nt);
    }
    assert_true(ts_kernels_force_isa(best));
}

static void test_reference_logits(void **state)
{
    (void)state;
    for_each_isa(run_model);
    for (size_t mi = 0; mi < R.n_models; mi++)
        printf("# %s: worst max |dlogit| vs PyTorch float64 = %.2e (tolerance %.0e)\n",
               R.models[mi].name, g_worst[mi], TOL);
}

/*
 * The same with the matrices converted at load without loss: to F32 (every
 * fixture), and repacked in their own dtype (F16 -> F16, BF16 -> BF16): the
 * panel layout and the converted vocabulary projection, every ISA, 1 and 2 threads.
 */
static void run_model_packed(size_t mi, int n_threads)
{
    const ts_weights_type own[3] = {TS_WEIGHTS_F32, TS_WEIGHTS_F16, TS_WEIGHTS_BF16};
    const ts_weights_type modes[2] = {TS_WEIGHTS_F32, own[mi]};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && modes[1] == modes[0]) continue;
        g_weights = modes[k];
        run_model(mi, n_threads);
    }
    g_weights = TS_WEIGHTS_STORED;
}

static void test_reference_logits_converted(void **state)
{
    (void)state;
    memset(g_worst, 0, sizeof g_worst);
    for_each_isa(run_model_packed);
    for (size_t mi = 0; mi < R.n_models; mi++)
        printf("# %s, converted at load: worst max |dlogit| vs PyTorch float64 = %.2e\n",
               R.models[mi].name, g_worst[mi]);
    /* Q8_0 needs n_embd a multiple of 32: refused by name (these fixtures have 16) */
    char err[TS_ERR_SIZE] = "";
    ts_model_params mp = ts_model_default_params();
    mp.weights = TS_WEIGHTS_Q8_0;
    ts_model *model = NULL;
    assert_int_equal(ts_model_load(R.models[0].dir, &mp, &model, err, sizeof err),
                     TS_ERR_UNSUPPORTED);
    assert_null(model);
    assert_non_null(strstr(err, "q8_0 need n_embd a multiple of 32"));
    mp.weights = (ts_weights_type)99;
    assert_int_equal(ts_model_load(R.models[0].dir, &mp, &model, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "unknown weights type 99"));
    ts_weights_type w = TS_WEIGHTS_STORED;
    assert_true(ts_weights_type_parse("Q8_0", &w) && w == TS_WEIGHTS_Q8_0);
    assert_false(ts_weights_type_parse("q4_0", &w));
    assert_string_equal(ts_weights_type_name(TS_WEIGHTS_F16), "f16");
}

/*
 * One model, read-only, shared by two contexts that evaluate different prompts
 * at the same time in two threads (each context with its own 2-thread pool):
 * the logits equal, bit for bit, those of the same evals run one after the
 * other. Stored and converted weights.
 */
typedef struct conc_arg {
    ts_context *ctx;
    const prompt_ref *p;
    float *out; /* [n][V]: prefill half, then decode one by one */
    int rc;
} conc_arg;

static void *conc_run(void *arg)
{
    conc_arg *a = arg;
    char err[TS_ERR_SIZE];
    size_t k = a->p->n / 2, V = R.V;
    ts_context_truncate(a->ctx, 0);
    a->rc = ts_model_eval(a->ctx, a->p->ids, k, err, sizeof err);
    memcpy(a->out, ts_context_logits(a->ctx), V * sizeof(float));
    for (size_t t = k; a->rc == TS_OK && t < a->p->n; t++) {
        a->rc = ts_model_eval(a->ctx, a->p->ids + t, 1, err, sizeof err);
        memcpy(a->out + (t - k + 1) * V, ts_context_logits(a->ctx), V * sizeof(float));
    }
    return NULL;
}

static void test_concurrent_contexts(void **state)
{
    (void)state;
    const ts_weights_type modes[2] = {TS_WEIGHTS_STORED, TS_WEIGHTS_F32};
    for (int mode = 0; mode < 2; mode++)
        for (size_t mi = 0; mi < R.n_models; mi++) {
            g_weights = modes[mode];
            ts_model *model = load(&R.models[mi], 2);
            g_weights = TS_WEIGHTS_STORED;
            const prompt_ref *p[2] = {&R.models[mi].prompts[2], &R.models[mi].prompts[3]};
            conc_arg seq[2], par[2];
            for (int i = 0; i < 2; i++) {
                size_t rows = p[i]->n - p[i]->n / 2 + 1;
                seq[i] = (conc_arg){new_ctx(model, false, 0), p[i], malloc(rows * R.V * 4), -1};
                par[i] = (conc_arg){new_ctx(model, false, 0), p[i], malloc(rows * R.V * 4), -1};
            }
            for (int i = 0; i < 2; i++)
                conc_run(&seq[i]);
            pthread_t th[2];
            for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&th[i], NULL, conc_run, &par[i]), 0);
            for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_join(th[i], NULL), 0);
            for (int i = 0; i < 2; i++) {
                size_t rows = p[i]->n - p[i]->n / 2 + 1;
                assert_int_equal(seq[i].rc, TS_OK);
                assert_int_equal(par[i].rc, TS_OK);
                assert_memory_equal(seq[i].out, par[i].out, rows * R.V * sizeof(float));
                /* and right: the last position against PyTorch */
                check(mi, "concurrent decode",
                      diff_sub(par[i].out + (rows - 1) * R.V, p[i]->sub + (p[i]->n - 1) * R.n_sub),
                      p[i]->n - 1);
                ts_context_free(seq[i].ctx);
                ts_context_free(par[i].ctx);
                free(seq[i].out);
                free(par[i].out);
            }
            ts_model_free(model);
        }
}

/*
 * Decode gives the same bits whatever the thread count (1, 2, 3, 5 threads per
 * context), for every model and both the stored and a converted layout: the
 * split-K partial sums use fixed row blocks and a fixed order of addition, so a
 * result never depends on how many cores the machine (or the server) gave it.
 */
static void test_threads_bitwise(void **state)
{
    (void)state;
    static const int nths[] = {1, 2, 3, 5};
    static const ts_weights_type ws[] = {TS_WEIGHTS_STORED, TS_WEIGHTS_F32};
    for (size_t wi = 0; wi < 2; wi++)
        for (size_t mi = 0; mi < R.n_models; mi++) {
            const model_ref *m = &R.models[mi];
            const prompt_ref *p = &m->prompts[m->n_prompts - 1]; /* the longest */
            assert_true(p->n >= 32);
            g_weights = ws[wi];
            ts_model *model = load(m, 1);
            float *ref = malloc(R.V * p->n * sizeof *ref);
            assert_non_null(ref);
            for (size_t ti = 0; ti < sizeof nths / sizeof nths[0]; ti++) {
                char err[TS_ERR_SIZE] = "";
                ts_context_params cp = ts_context_default_params();
                cp.n_threads = nths[ti];
                ts_context *ctx = NULL;
                assert_int_equal(ts_context_new(model, &cp, &ctx, err, sizeof err), TS_OK);
                eval_ok(ctx, p->ids, 1);
                for (size_t t = 1; t < p->n; t++) { /* decode: one token at a time */
                    eval_ok(ctx, p->ids + t, 1);
                    const float *lg = ts_context_logits(ctx);
                    if (ti == 0)
                        memcpy(ref + t * R.V, lg, R.V * sizeof *lg);
                    else if (memcmp(ref + t * R.V, lg, R.V * sizeof *lg) != 0) {
                        fprintf(stderr,
                                "model %zu (%s weights): decode at position %zu differs "
                                "between 1 and %d threads\n",
                                mi, wi ? "f32" : "stored", t, nths[ti]);
                        fail();
                    }
                }
                ts_context_free(ctx);
            }
            free(ref);
            ts_model_free(model);
        }
    g_weights = TS_WEIGHTS_STORED;
}

/* Prefill (every position) then decode of the longest prompt: n * V logits into out. */
static void prefill_decode(ts_model *model, const prompt_ref *p, size_t k, float *out)
{
    ts_context *ctx = new_ctx(model, true, 0);
    eval_ok(ctx, p->ids, k);
    size_t rows = 0;
    const float *all = ts_context_all_logits(ctx, &rows);
    assert_int_equal(rows, k);
    memcpy(out, all, k * R.V * sizeof *out);
    for (size_t t = k; t < p->n; t++) {
        eval_ok(ctx, p->ids + t, 1);
        memcpy(out + t * R.V, ts_context_logits(ctx), R.V * sizeof *out);
    }
    ts_context_free(ctx);
}

/*
 * TS_MEMORY_COPY: the background copy of the stored matrices into anonymous
 * memory changes no bit. Evals run while the copy is under way and after it
 * is complete (ts_model_wait_resident), at 1 and 2 threads, give exactly the
 * logits of the file mapping; the copy reports its size; TS_MEMORY_AUTO
 * leaves these small fixtures mapped (under 32 MiB); converted weights are
 * never copied again; ts_model_free stops a copy under way (ASan and
 * valgrind check that nothing leaks).
 */
/* 64-byte multiple of n (the background copy's alignment). */
static size_t pad64_(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* What the background copy holds: the vocabulary projection as stored and each Conv1D matrix
 * repacked into zero-padded 32-column panels on the AVX-512 path (its columns are multiples of
 * 16 here), as stored otherwise. */
static size_t copy_bytes(const ts_model *model)
{
    const ts_model_info *in = ts_model_get_info(model);
    const size_t C = (size_t)in->n_embd;
    const ts_layout conv = ts_gemm_available() ? TS_LAYOUT_PANELS : TS_LAYOUT_ROWS;
    size_t total = pad64_(ts_mat_bytes(in->dtype, TS_LAYOUT_ROWS, (size_t)in->n_vocab, C));
    for (int l = 0; l < in->n_layer; l++)
        for (int k = 0; k < TS_LT_COUNT; k++) {
            const ts_layer_tensor_desc *d = &ts_layer_tensors[k];
            if (d->cols_c > 0)
                total += pad64_(
                    ts_mat_bytes(in->dtype, conv, (size_t)d->rows_c * C, (size_t)d->cols_c * C));
        }
    return total;
}

static void test_background_copy(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < R.n_models; mi++) {
        const model_ref *m = &R.models[mi];
        const prompt_ref *p = &m->prompts[m->n_prompts - 1];
        const size_t k = p->n / 2;
        float *ref = malloc(p->n * R.V * sizeof *ref), *got = malloc(p->n * R.V * sizeof *got);
        assert_non_null(ref);
        assert_non_null(got);
        g_memory = TS_MEMORY_MAPPED;
        ts_model *model = load(m, 2);
        ts_weights_info wi;
        ts_model_weights_info(model, &wi);
        assert_int_equal(wi.memory, TS_MEMORY_MAPPED);
        assert_false(wi.copying || wi.resident);
        assert_false(ts_model_wait_resident(model));
        prefill_decode(model, p, k, ref);
        ts_model_free(model);

        for (int nth = 1; nth <= 2; nth++) {
            g_memory = TS_MEMORY_COPY;
            model = load(m, nth);
            prefill_decode(model, p, k, got); /* most likely during the copy: the same bits */
            assert_memory_equal(ref, got, p->n * R.V * sizeof *got);
            assert_true(ts_model_wait_resident(model));
            ts_model_weights_info(model, &wi);
            assert_true(wi.resident);
            assert_false(wi.copying);
            assert_int_equal(wi.resident_bytes, copy_bytes(model));
            assert_int_equal(wi.resident_panels, ts_gemm_available()
                                                     ? 4 * (size_t)ts_model_get_info(model)->n_layer
                                                     : 0);
            assert_true(wi.resident_ms > 0);
            memset(got, 0, p->n * R.V * sizeof *got);
            prefill_decode(model, p, k, got); /* from the copy */
            assert_memory_equal(ref, got, p->n * R.V * sizeof *got);
            ts_model_free(model);
        }
        free(ref);
        free(got);
    }
    const model_ref *m = &R.models[0];
    g_memory = TS_MEMORY_AUTO; /* a few MB: stays on the mapping */
    ts_model *model = load(m, 1);
    ts_weights_info wi;
    ts_model_weights_info(model, &wi);
    assert_false(ts_model_wait_resident(model));
    assert_int_equal(wi.memory, TS_MEMORY_AUTO);
    ts_model_free(model);
    g_memory = TS_MEMORY_COPY; /* converted weights are anonymous memory already */
    g_weights = TS_WEIGHTS_F32;
    model = load(m, 1);
    assert_false(ts_model_wait_resident(model));
    ts_model_free(model);
    g_weights = TS_WEIGHTS_STORED;
    for (int i = 0; i < 20; i++) /* freed at once: the copy is stopped and joined */
        ts_model_free(load(m, 1));
    g_memory = (ts_weights_memory)7;
    char err[TS_ERR_SIZE] = "";
    ts_model_params mp = ts_model_default_params();
    mp.memory = g_memory;
    assert_int_equal(ts_model_load(m->dir, &mp, &model, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "unknown weights memory 7"));
    g_memory = TS_MEMORY_AUTO;
    ts_weights_memory wm = TS_MEMORY_AUTO;
    assert_true(ts_weights_memory_parse("Mapped", &wm) && wm == TS_MEMORY_MAPPED);
    assert_false(ts_weights_memory_parse("mmap", &wm));
    assert_string_equal(ts_weights_memory_name(TS_MEMORY_COPY), "copy");
}

/* Several samples from one prompt: truncate back and decode again, bit for bit. */
static void test_truncate(void **state)
{
    (void)state;
    const model_ref *m = &R.models[0];
    const prompt_ref *p = &m->prompts[2]; /* 33 tokens */
    ts_model *model = load(m, 2);
    ts_context *ctx = new_ctx(model, false, 0);
    const size_t V = R.V, k = 20;
    float *first = malloc((p->n - k) * V * sizeof *first);
    eval_ok(ctx, p->ids, k);
    for (size_t t = k; t < p->n; t++) {
        eval_ok(ctx, p->ids + t, 1);
        memcpy(first + (t - k) * V, ts_context_logits(ctx), V * sizeof *first);
    }
    ts_context_truncate(ctx, k);
    assert_int_equal(ts_context_n_past(ctx), k);
    ts_context_truncate(ctx, 1000); /* beyond n_past: no-op */
    assert_int_equal(ts_context_n_past(ctx), k);
    for (size_t t = k; t < p->n; t++) {
        eval_ok(ctx, p->ids + t, 1);
        assert_memory_equal(first + (t - k) * V, ts_context_logits(ctx), V * sizeof *first);
    }
    /* truncate into the prompt and prefill the rest as one batch: matches PyTorch */
    ts_context_truncate(ctx, 5);
    eval_ok(ctx, p->ids + 5, p->n - 5);
    check(0, "truncate + prefill", diff_sub(ts_context_logits(ctx), p->sub + (p->n - 1) * R.n_sub),
          p->n - 1);
    free(first);
    ts_context_free(ctx);
    ts_model_free(model);
}

/*
 * A prefill that returns the last row's logits skips, in the last layer, all but the last
 * row's attention, projection and MLP (they feed nothing); its keys and values still go into
 * the cache for every row. So its last row agrees with an every-row prefill within rounding
 * (the one row goes through the decode GEMV instead of the GEMM), and the decode that follows
 * is the same, bit for bit, whichever prefill filled the cache (every ISA, 1 and 2 threads).
 */
static void run_last_row(size_t mi, int nth)
{
    const model_ref *m = &R.models[mi];
    const prompt_ref *p = &m->prompts[m->n_prompts - 1];
    const size_t k = p->n / 2;
    ts_model *model = load(m, nth);
    ts_context *all = new_ctx(model, true, 0), *one = new_ctx(model, false, 0);
    eval_ok(all, p->ids, k);
    eval_ok(one, p->ids, k);
    size_t rows = 0;
    const float *L = ts_context_all_logits(all, &rows), *lg = ts_context_logits(one);
    assert_int_equal(rows, k);
    double d = 0;
    for (size_t i = 0; i < R.V; i++)
        d = fmax(d, fabs((double)lg[i] - L[(k - 1) * R.V + i]));
    if (d > 1e-5) {
        fprintf(stderr,
                "model %zu, isa %s, %d threads: last-row prefill is %.2e from the every-row one "
                "(tolerance 1e-5)\n",
                mi, ts_isa_name(ts_kernels_isa()), nth, d);
        fail();
    }
    for (size_t t = k; t < p->n; t++) {
        eval_ok(all, p->ids + t, 1);
        eval_ok(one, p->ids + t, 1);
        if (memcmp(ts_context_logits(all), ts_context_logits(one), R.V * sizeof(float)) != 0) {
            fprintf(stderr,
                    "model %zu, isa %s, %d threads: decode at position %zu differs after a "
                    "last-row prefill\n",
                    mi, ts_isa_name(ts_kernels_isa()), nth, t);
            fail();
        }
    }
    ts_context_free(all);
    ts_context_free(one);
    ts_model_free(model);
}

static void test_last_row_prefill(void **state)
{
    (void)state;
    for_each_isa(run_last_row);
}

/* Prompts longer than the activation buffers go in chunks (512 rows in real use; 7 here). */
static void test_chunked_prefill(void **state)
{
    (void)state;
    for (size_t mi = 0; mi < R.n_models; mi++) {
        const model_ref *m = &R.models[mi];
        const prompt_ref *p = &m->prompts[3]; /* 64 tokens: 9 chunks of 7 + 1 */
        ts_model *model = load(m, 2);
        for (int all = 0; all <= 1; all++) {
            ts_context *ctx = new_ctx(model, all, 0);
            ts_context_set_batch(ctx, 7);
            eval_ok(ctx, p->ids, p->n);
            assert_int_equal(ts_context_n_past(ctx), p->n);
            if (all) {
                size_t rows = 0;
                const float *L = ts_context_all_logits(ctx, &rows);
                assert_int_equal(rows, p->n);
                for (size_t t = 0; t < p->n; t++)
                    check(mi, "chunked prefill", diff_sub(L + t * R.V, p->sub + t * R.n_sub), t);
            }
            check(mi, "chunked prefill, last",
                  diff_sub(ts_context_logits(ctx), p->sub + (p->n - 1) * R.n_sub), p->n - 1);
            ts_context_free(ctx);
        }
        ts_model_free(model);
    }
}

static void test_errors(void **state)
{
    (void)state;
    const model_ref *m = &R.models[0];
    const prompt_ref *full = &m->prompts[3]; /* 64 tokens = n_positions */
    ts_model *model = load(m, 1);
    ts_context *ctx = new_ctx(model, false, 0);
    char err[TS_ERR_SIZE] = "";
    int32_t ids[70];
    for (size_t i = 0; i < 70; i++)
        ids[i] = (int32_t)(i * 7);

    /* a prompt longer than the context */
    assert_int_equal(ts_model_eval(ctx, ids, 65, err, sizeof err), TS_ERR_RANGE);
    assert_non_null(strstr(err, "prompt of 65 tokens exceeds the context of 64 positions"));
    assert_int_equal(ts_context_n_past(ctx), 0);
    /* the context full, then one more token */
    eval_ok(ctx, full->ids, full->n);
    err[0] = '\0';
    assert_int_equal(ts_model_eval(ctx, ids, 1, err, sizeof err), TS_ERR_RANGE);
    assert_non_null(strstr(err, "64 tokens in the context + 1 new exceed"));
    assert_int_equal(ts_context_n_past(ctx), 64);
    /* ids outside the vocabulary; nothing evaluated */
    ts_context_truncate(ctx, 3);
    int32_t bad[3] = {5, 50257, 7};
    err[0] = '\0';
    assert_int_equal(ts_model_eval(ctx, bad, 3, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "token id 50257 at index 1"));
    bad[1] = -1;
    assert_int_equal(ts_model_eval(ctx, bad, 3, err, sizeof err), TS_ERR_INVALID);
    assert_int_equal(ts_model_eval(ctx, bad, 0, err, sizeof err), TS_ERR_INVALID);
    assert_int_equal(ts_context_n_past(ctx), 3);
    ts_context_free(ctx);

    /* a smaller context than the model's */
    ctx = new_ctx(model, true, 16);
    assert_int_equal(ts_model_eval(ctx, ids, 17, err, sizeof err), TS_ERR_RANGE);
    eval_ok(ctx, ids, 16);
    ts_context_free(ctx);
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = 65;
    assert_int_equal(ts_context_new(model, &cp, &ctx, err, sizeof err), TS_ERR_INVALID);
    assert_null(ctx);
    ts_model_free(model);

    /* a directory with no model */
    ts_model *none = NULL;
    ts_model_params mp = ts_model_default_params();
    assert_true(ts_model_load(R.tmp_root, &mp, &none, err, sizeof err) != TS_OK);
    assert_null(none);
    assert_true(strlen(err) > 0);
    ts_model_free(NULL);
    ts_context_free(NULL);
}

static void test_no_alloc_in_eval(void **state)
{
    (void)state;
#if TS_COUNT_ALLOCS
    for (size_t mi = 0; mi < R.n_models; mi++) {
        const model_ref *m = &R.models[mi];
        const prompt_ref *p = &m->prompts[2];
        g_weights = mi == 1 ? TS_WEIGHTS_F16 : TS_WEIGHTS_STORED; /* the packed layout too */
        ts_model *model = load(m, 2);
        g_weights = TS_WEIGHTS_STORED;
        for (int all = 0; all <= 1; all++) {
            ts_context *ctx = new_ctx(model, all, 0);
            eval_ok(ctx, p->ids, p->n); /* warm up (OpenBLAS sets up its buffers once) */
            ts_context_truncate(ctx, 0);
            atomic_store(&g_allocs, 0);
            atomic_store(&g_counting, true);
            eval_ok(ctx, p->ids, 10);
            for (size_t t = 10; t < p->n; t++)
                eval_ok(ctx, p->ids + t, 1);
            atomic_store(&g_counting, false);
            if (atomic_load(&g_allocs) != 0)
                fprintf(stderr, "%s: %ld allocations in ts_model_eval\n", m->name,
                        atomic_load(&g_allocs));
            assert_int_equal(atomic_load(&g_allocs), 0);
            ts_context_free(ctx);
        }
        ts_model_free(model);
    }
    /* the counter works: */
    atomic_store(&g_allocs, 0);
    atomic_store(&g_counting, true);
    void *volatile p = malloc(16);
    atomic_store(&g_counting, false);
    free(p);
    assert_int_equal(atomic_load(&g_allocs), 1);
#else
    skip();
#endif
}

/* ------------------------------------------------------------------------ */
/* kernels alone                                                            */
/* ------------------------------------------------------------------------ */

static uint16_t to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

/*
 * The thread pool: plain jobs run on every thread; shared jobs hand out every chunk exactly once
 * (whichever threads join), interleaved with plain ones, 1-5 threads, 20,000 jobs. One thread in
 * three sometimes yields its core inside a chunk, so workers arrive late, join a job after the
 * caller has taken its own chunks, or miss it. The jobs live on the stack of a function that
 * returns: a worker that touched a job after the caller closed it would race (ThreadSanitizer,
 * `make tsan`) or read the next job's counts.
 */
typedef struct pool_job {
    atomic_size_t next;
    size_t n;
    atomic_int taken[64];
    atomic_int ran[8];
} pool_job;

static void pool_shared_task(void *arg, int ith, int nth)
{
    (void)nth;
    pool_job *j = arg;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        atomic_fetch_add(&j->taken[i], 1);
        if (ith % 3 == 1 && i % 7 == 0) sched_yield();
    }
}

static void pool_plain_task(void *arg, int ith, int nth)
{
    (void)nth;
    pool_job *j = arg;
    atomic_fetch_add(&j->ran[ith], 1);
}

static bool pool_round(ts_threadpool *pool, int nth, size_t n, bool shared)
{
    pool_job j;
    atomic_init(&j.next, 0);
    j.n = n;
    for (size_t i = 0; i < 64; i++)
        atomic_init(&j.taken[i], 0);
    for (size_t i = 0; i < 8; i++)
        atomic_init(&j.ran[i], 0);
    if (shared) {
        ts_threadpool_run_shared(pool, pool_shared_task, &j);
        for (size_t i = 0; i < 64; i++)
            if (atomic_load(&j.taken[i]) != (i < n ? 1 : 0)) return false;
        return true;
    }
    ts_threadpool_run(pool, pool_plain_task, &j);
    for (int i = 0; i < 8; i++)
        if (atomic_load(&j.ran[i]) != (i < nth ? 1 : 0)) return false;
    return true;
}

static void test_threadpool(void **state)
{
    (void)state;
    for (int nth = 1; nth <= 5; nth++) {
        ts_threadpool *pool = NULL;
        assert_int_equal(ts_threadpool_new(nth, &pool), TS_OK);
        assert_int_equal(ts_threadpool_size(pool), nth);
        for (int r = 0; r < 4000; r++) {
            const bool shared = r % 5 != 0; /* runs of shared jobs between plain ones */
            if (!pool_round(pool, nth, (size_t)(r * 37 % 65), shared)) {
                fprintf(stderr, "thread pool of %d, job %d (%s): work lost or repeated\n", nth, r,
                        shared ? "shared" : "plain");
                fail();
            }
        }
        ts_threadpool_free(pool);
    }
}

static void test_kernels(void **state)
{
    (void)state;
    ts_isa best = ts_kernels_isa();
    const size_t K = 37, N = 53;
    float wf[37 * 53], x[53], y[53], yr[53];
    uint16_t wh[37 * 53], wb[37 * 53];
    double ref_xw[53], ref_wx[37];
    uint32_t s = 12345;
    for (size_t i = 0; i < K * N; i++) {
        s = s * 1664525u + 1013904223u;
        float v = ((float)(s >> 8) / 16777216.0f - 0.5f) * 4.0f;
        wb[i] = to_bf16(v);
#if defined(__F16C__)
        wh[i] = _cvtss_sh(v, 0);
#else
        wh[i] = wb[i] = to_bf16(v); /* no F16 encoder without F16C: reuse bf16 */
#endif
        wf[i] = v;
    }
    for (size_t i = 0; i < N; i++)
        x[i] = (float)sin((double)i * 0.7) * 1.5f;
    const void *datas[3] = {wf, wh, wb};
    for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
        if (!ts_kernels_force_isa((ts_isa)isa)) continue;
        for (int dt = 0; dt < 3; dt++) {
            ts_mat W = {datas[dt], (ts_dtype)dt, K, N, TS_LAYOUT_ROWS};
            float row[53];
            /* float64 references from the stored values */
            for (size_t j = 0; j < N; j++) {
                double a = 0;
                for (size_t k = 0; k < K; k++) {
                    ts_mat_row_f32(&W, k, j, 1, row);
                    a += (double)x[k] * row[0];
                }
                ref_xw[j] = a;
            }
            /* [3, 50) exercises vector bodies and scalar tails on both sides */
            for (size_t j = 0; j < N; j++)
                y[j] = -7.0f;
            ts_gemv_xw(y, x, &W, 3, 50);
            for (size_t j = 0; j < N; j++) {
                if (j < 3 || j >= 50)
                    assert_true(y[j] == -7.0f);
                else
                    assert_true(fabs(y[j] - ref_xw[j]) <= 1e-5 * (1 + fabs(ref_xw[j])));
            }
            ts_mat Wt = {datas[dt], (ts_dtype)dt, K, N,
                         TS_LAYOUT_ROWS}; /* (rows K, cols N) . x[N] */
            for (size_t r = 0; r < K; r++) {
                ts_mat_row_f32(&Wt, r, 0, N, row);
                double a = 0;
                for (size_t c = 0; c < N; c++)
                    a += (double)row[c] * x[c];
                ref_wx[r] = a;
            }
            ts_gemv_wx(yr, &Wt, x, 1, 36);
            for (size_t r = 1; r < 36; r++)
                assert_true(fabs(yr[r] - ref_wx[r]) <= 1e-5 * (1 + fabs(ref_wx[r])));

            /* GEMMs: 11 rows (8 + 2 + 1 row tiles), odd column ranges */
            enum { TT = 11 };
            float X[TT * 53], Y[TT * 53];
            for (size_t i = 0; i < TT * 53; i++)
                X[i] = (float)cos((double)i * 0.37);
            static float panel[53 * 96] __attribute__((aligned(64))); /* K * 96, K <= 53 */
            float bias[53];
            for (size_t j = 0; j < N; j++)
                bias[j] = (float)sin((double)j * 0.7) * 2.0f;
            /* each epilogue, with and without a bias: + (into 0.25), =, gelu_new */
            for (int mode = TS_GEMM_ADD; mode <= TS_GEMM_GELU; mode++)
                for (int with_bias = 0; with_bias <= 1; with_bias++) {
                    for (size_t i = 0; i < TT * 53; i++)
                        Y[i] = 0.25f;
                    ts_gemm_xw(Y, X, TT, &W, 3, 50, with_bias ? bias : NULL, (ts_gemm_epi)mode,
                               panel); /* X (TT, K=37) */
                    for (size_t t = 0; t < TT; t++)
                        for (size_t j = 0; j < N; j++) {
                            if (j < 3 || j >= 50) {
                                assert_true(Y[t * N + j] == 0.25f);
                                continue;
                            }
                            double r = with_bias ? bias[j] : 0.0;
                            for (size_t k = 0; k < K; k++) {
                                ts_mat_row_f32(&W, k, j, 1, row);
                                r += (double)X[t * K + k] * row[0];
                            }
                            if (mode == TS_GEMM_ADD) r += 0.25;
                            if (mode == TS_GEMM_GELU)
                                r = 0.5 * r *
                                    (1 + tanh(sqrt(2 / M_PI) * (r + 0.044715 * r * r * r)));
                            if (!(fabs(Y[t * N + j] - r) <= 1e-5 * (1 + fabs(r)))) {
                                fprintf(stderr,
                                        "gemm_xw (isa %s, mode %d, bias %d) [%zu][%zu] = %.7g, "
                                        "want %.7g\n",
                                        ts_isa_name(ts_kernels_isa()), mode, with_bias, t, j,
                                        Y[t * N + j], r);
                                fail();
                            }
                        }
                }
            for (size_t i = 0; i < TT * 53; i++)
                Y[i] = -3.0f;
            ts_gemm_wx(Y, 40, X, TT, &Wt, 2, 37, panel); /* X (TT, N=53), ldy 40 */
            for (size_t t = 0; t < TT; t++)
                for (size_t r = 0; r < 40; r++) {
                    if (r < 2 || r >= 37) {
                        assert_true(Y[t * 40 + r] == -3.0f);
                        continue;
                    }
                    ts_mat_row_f32(&Wt, r, 0, N, row);
                    double a = 0;
                    for (size_t c = 0; c < N; c++)
                        a += (double)row[c] * X[t * N + c];
                    assert_true(fabs(Y[t * 40 + r] - a) <= 1e-5 * (1 + fabs(a)));
                }
        }
        /* gelu_new, softmax, dot, axpy vs float64 */
        float g[45], sm[45];
        for (size_t i = 0; i < 45; i++)
            g[i] = sm[i] = (float)i * 0.4f - 9.0f;
        ts_gelu_new_f32(g, 45);
        for (size_t i = 0; i < 45; i++) {
            double v = (double)i * 0.4 - 9.0;
            double r = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
            assert_true(fabs(g[i] - r) <= 2e-6 * (1 + fabs(r)));
        }
        ts_softmax_f32(sm, 45);
        double z = 0;
        for (size_t i = 0; i < 45; i++)
            z += exp((double)i * 0.4 - 9.0 - 8.6);
        for (size_t i = 0; i < 45; i++) {
            double r = exp((double)i * 0.4 - 9.0 - 8.6) / z;
            assert_true(fabs(sm[i] - r) <= 1e-6 * r + 1e-9);
        }
        double d = 0;
        for (size_t i = 0; i < 45; i++)
            d += (double)g[i] * sm[i];
        assert_true(fabs(ts_dot_f32(g, sm, 45) - d) <= 1e-6);
        float ax[45];
        memcpy(ax, g, sizeof ax);
        ts_axpy_f32(ax, 0.5f, sm, 45);
        for (size_t i = 0; i < 45; i++)
            assert_true(fabs(ax[i] - (g[i] + 0.5 * sm[i])) <= 1e-6);
    }
    assert_true(ts_kernels_force_isa(best));
}

static void test_f16_exhaustive(void **state)
{
    (void)state;
#if defined(__F16C__)
    for (uint32_t h = 0; h < 65536; h++) {
        float a = ts_f16_to_f32((uint16_t)h), b = _cvtsh_ss((uint16_t)h);
        uint32_t ba, bb;
        memcpy(&ba, &a, 4);
        memcpy(&bb, &b, 4);
        if (isnan(b))
            assert_true(isnan(a));
        else
            assert_int_equal(ba, bb);
    }
#else
    assert_true(ts_f16_to_f32(0x3c00) == 1.0f);
    assert_true(ts_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(ts_f16_to_f32(0xfbff) == -65504.0f);
#endif
    assert_true(ts_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(ts_bf16_to_f32(0xc000) == -2.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_threadpool),
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_reference_logits),
        cmocka_unit_test(test_reference_logits_converted),
        cmocka_unit_test(test_concurrent_contexts),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_background_copy),
        cmocka_unit_test(test_last_row_prefill),
        cmocka_unit_test(test_chunked_prefill),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_no_alloc_in_eval),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
