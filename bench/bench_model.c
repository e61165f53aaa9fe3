/*
 * bench_model.c — the engine's kernels alone: how close the decode GEMVs come
 * to memory bandwidth, per dtype and ISA, and what a thread-pool dispatch costs.
 * (End-to-end load / prefill / decode speed: `tempscale bench`.)
 *
 *   build/bench_model [--quick]
 *
 * Matrices have distilgpt2's shapes: c_fc (768 x 3072, [in, out]) and
 * mlp.c_proj (3072 x 768) for ts_gemv_xw, in every dtype x layout the engine
 * uses (row-major as stored, 32-column panels, Q8_0 transposed), and the
 * vocabulary projection (50,257 x 768) for ts_gemv_wx; the weights are bigger
 * than the caches, so every call streams them from DRAM. "wx 256x768 (L2)"
 * repeats a cache-resident block: the kernel's compute ceiling. Best of N.
 * "read" is a plain AVX sum over the same bytes: the bandwidth ceiling.
 *
 * Then the prefill GEMMs (ts_gemm_xw, one thread, 128 rows of X, the same two
 * shapes, weights in huge pages) in GFLOP/s against the core's own peak,
 * measured here with a loop of independent 512-bit FMAs (and of vpdpwssd, the
 * Q8_0 integer path's instruction, where AVX512-VNNI exists).
 */
#include "internal.h"

#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* The read-bandwidth ceiling: sum every float / 16-bit word of a buffer. */
static float read_all(const void *p, size_t bytes)
{
#if defined(__AVX512F__)
    const float *f = p;
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
    size_t n = bytes / 4, i = 0;
    for (; i + 64 <= n; i += 64) {
        a = _mm512_add_ps(a, _mm512_loadu_ps(f + i));
        b = _mm512_add_ps(b, _mm512_loadu_ps(f + i + 16));
        c = _mm512_add_ps(c, _mm512_loadu_ps(f + i + 32));
        d = _mm512_add_ps(d, _mm512_loadu_ps(f + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
#else
    const unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < bytes; i += 64)
        s += b[i];
    return (float)s;
#endif
}

typedef struct gemv_job {
    float *y;
    const float *x;
    const ts_mat *W;
    bool rows; /* wx (split rows) or xw (split columns) */
} gemv_job;

static void gemv_task(void *arg, int ith, int nth)
{
    gemv_job *j = arg;
    size_t n = j->rows ? j->W->rows : j->W->cols;
    size_t a = n * (size_t)ith / (size_t)nth / 32 * 32,
           b = n * (size_t)(ith + 1) / (size_t)nth / 32 * 32;
    if (ith == nth - 1) b = n;
    if (j->rows)
        ts_gemv_wx(j->y, j->W, j->x, a, b);
    else
        ts_gemv_xw(j->y, j->x, j->W, a, b);
}

static void noop_task(void *arg, int ith, int nth)
{
    (void)arg;
    (void)ith;
    (void)nth;
}

/* One matrix configuration to time. */
typedef struct bench_cfg {
    ts_dtype dt;
    ts_layout lay;
    const char *name;
} bench_cfg;

#if defined(__AVX512F__)
/* Peak rate of one core: 12 independent chains of 512-bit FMAs (GFLOP/s, 32 per instruction). */
static double fma_peak_gflops(void)
{
    __m512 a[12], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    const long n = 20000000;
    double t0 = ts_seconds();
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], b, c);
    double t = ts_seconds() - t0;
    volatile float sink = 0;
    for (int i = 0; i < 12; i++)
        sink += _mm512_reduce_add_ps(a[i]);
    return (double)n * 12 * 32 / t / 1e9;
}
#endif
#if defined(__AVX512VNNI__)
/* The same for vpdpwssd: 32 int16 multiply-adds per instruction, counted as 64 operations. */
static double vnni_peak_gops(void)
{
    __m512i a[12], b = _mm512_set1_epi32(3), c = _mm512_set1_epi32(5);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_epi32(i);
    const long n = 20000000;
    double t0 = ts_seconds();
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_dpwssd_epi32(a[i], b, c);
    double t = ts_seconds() - t0;
    volatile int sink = 0;
    for (int i = 0; i < 12; i++)
        sink += _mm512_reduce_add_epi32(a[i]);
    return (double)n * 12 * 64 / t / 1e9;
}
#endif

/* The prefill GEMMs: Y[128][N] += X[128][K] . W for c_fc and mlp.c_proj shapes, one thread. */
static void bench_gemm(unsigned char *buf, int reps) /* buf: 8 copies of the largest matrix */
{
    if (!ts_gemm_available()) {
        printf("prefill GEMMs: no AVX-512 here (OpenBLAS sgemm is used)\n");
        return;
    }
    double fma = 0, vnni = 0;
#if defined(__AVX512F__)
    fma = fma_peak_gflops();
#endif
#if defined(__AVX512VNNI__)
    vnni = vnni_peak_gops();
#endif
    printf("\nprefill GEMM, 1 thread, 128 rows, weights from DRAM; core peak: 512-bit FMA %.1f GFLOP/s", fma);
    if (vnni > 0) printf(", vpdpwssd %.1f GOP/s", vnni);
    printf("\n%-12s %-16s %9s %9s %7s\n", "dtype/layout", "shape", "GFLOP/s", "ms/call", "% peak");
    enum { T = 128 };
    const size_t K1 = 768, N1 = 3072;
    float *X = aligned_alloc(64, (size_t)T * N1 * sizeof *X);
    float *Y = aligned_alloc(64, (size_t)T * N1 * sizeof *Y);
    float *scratch = aligned_alloc(64, N1 * 96 * sizeof *scratch);
    if (!X || !Y || !scratch) return;
    for (size_t i = 0; i < (size_t)T * N1; i++)
        X[i] = 0.01f * (float)((i * 7) % 200) - 1.0f;
    const bench_cfg cfgs[] = {
        {TS_DTYPE_F32, TS_LAYOUT_ROWS, "F32 rows"},
        {TS_DTYPE_F16, TS_LAYOUT_ROWS, "F16 rows"},
        {TS_DTYPE_F32, TS_LAYOUT_PANELS, "F32 panels"},
        {TS_DTYPE_Q8_0, TS_LAYOUT_COLS, "Q8_0 cols"},
    };
    for (size_t ci = 0; ci < sizeof cfgs / sizeof *cfgs; ci++)
        for (int shape = 0; shape < 2; shape++) {
            size_t K = shape ? N1 : K1, N = shape ? K1 : N1;
            const size_t mb = ts_mat_bytes(cfgs[ci].dt, cfgs[ci].lay, K, N);
            double best = 1e30;
            for (int r = 0; r < reps; r++) { /* 8 copies in turn: the weights come from DRAM */
                ts_mat W = {buf + (size_t)(r % 8) * mb, cfgs[ci].dt, K, N, cfgs[ci].lay};
                memset(Y, 0, (size_t)T * N * sizeof *Y);
                double t0 = ts_seconds();
                ts_gemm_xw(Y, X, T, &W, 0, N, NULL, TS_GEMM_ADD, scratch);
                double t = ts_seconds() - t0;
                if (t < best) best = t;
            }
            double gf = 2.0 * T * (double)K * (double)N / best / 1e9;
            bool q8 = cfgs[ci].dt == TS_DTYPE_Q8_0 && ts_gemm_q8_int16();
            double peak = q8 ? vnni : fma;
            printf("%-12s %-16s %9.1f %9.3f %6.0f%%\n", cfgs[ci].name,
                   shape ? "xw 3072x768" : "xw 768x3072", gf, best * 1e3,
                   peak > 0 ? 100 * gf / peak : 0.0);
        }
    free(X);
    free(Y);
    free(scratch);
}

static double time_gemv(ts_threadpool *pool, ts_mat *Ws, size_t copies, bool rows, int reps,
                        float *y, const float *x)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = ts_seconds();
        for (size_t c = 0; c < copies; c++) {
            gemv_job j = {y, x, &Ws[c], rows};
            ts_threadpool_run(pool, gemv_task, &j);
        }
        double t = (ts_seconds() - t0) / (double)copies;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const int reps = quick ? 3 : 10;
    /* 8 distinct copies of c_fc (75 MB in F32) so that they do not stay in cache */
    const size_t K1 = 768, N1 = 3072, copies = 8;
    const size_t V = 50257, C = 768;
    size_t bytes_max = V * C * 4 > copies * K1 * N1 * 4 ? V * C * 4 : copies * K1 * N1 * 4;
    /* anonymous memory with huge pages, as weights converted at load get */
    unsigned char *buf = mmap(NULL, bytes_max + (2u << 20), PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    float *x = malloc(4 * 4096 * sizeof *x), *y = malloc(V * sizeof *y);
    if (buf == MAP_FAILED || !x || !y) return 1;
    buf = (unsigned char *)(((uintptr_t)buf + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
    (void)madvise(buf, bytes_max, MADV_HUGEPAGE);
    for (size_t i = 0; i < bytes_max / 2; i++)
        ((uint16_t *)buf)[i] = (uint16_t)(0x3000 + (i % 977));
    for (size_t i = 0; i < 4 * 4096; i++)
        x[i] = 0.001f * (float)(i % 100);
    ts_isa best = ts_kernels_isa();
    printf("kernels available: best = %s; matrices in anonymous huge-page memory\n",
           ts_isa_name(best));
    printf("%-14s %-12s %-16s %7s %9s %9s\n", "isa", "dtype/layout", "kernel", "threads", "GB/s",
           "ms/call");
    const bench_cfg xw_cfgs[] = {
        {TS_DTYPE_F32, TS_LAYOUT_ROWS, "F32 rows"},
        {TS_DTYPE_F16, TS_LAYOUT_ROWS, "F16 rows"},
        {TS_DTYPE_BF16, TS_LAYOUT_ROWS, "BF16 rows"},
        {TS_DTYPE_F32, TS_LAYOUT_PANELS, "F32 panels"},
        {TS_DTYPE_F16, TS_LAYOUT_PANELS, "F16 panels"},
        {TS_DTYPE_Q8_0, TS_LAYOUT_COLS, "Q8_0 cols"},
    };
    const ts_dtype head_types[] = {TS_DTYPE_F32, TS_DTYPE_F16, TS_DTYPE_BF16, TS_DTYPE_Q8_0};
    for (int nt = 1; nt <= 2; nt++) {
        ts_threadpool *pool = NULL;
        if (ts_threadpool_new(nt, &pool) != TS_OK) return 1;
        for (int dt = 0; dt < 3 && nt == 1; dt++) { /* read ceiling over the lm_head bytes */
            size_t bytes = V * C * (dt == 0 ? 4 : 2);
            double t = 1e30;
            volatile float sink = 0;
            for (int r = 0; r < reps; r++) {
                double t0 = ts_seconds();
                sink += read_all(buf, bytes);
                if (ts_seconds() - t0 < t) t = ts_seconds() - t0;
            }
            printf("%-14s %-12s %-16s %7d %9.1f %9.3f\n", "-", ts_dtype_name((ts_dtype)dt),
                   "read (ceiling)", 1, (double)bytes / t / 1e9, t * 1e3);
        }
        for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
            if (!ts_kernels_force_isa((ts_isa)isa)) continue;
            if (isa == TS_ISA_SCALAR && quick) continue;
            int r_xw = isa == TS_ISA_SCALAR ? 1 : reps;
            for (size_t ci = 0; ci < sizeof xw_cfgs / sizeof *xw_cfgs; ci++) {
                const bench_cfg *cf = &xw_cfgs[ci];
                /* c_fc (768 x 3072), then mlp.c_proj (3072 x 768, the narrowest rows) */
                for (int shape = 0; shape < 2; shape++) {
                    size_t rows = shape ? N1 : K1, cols = shape ? K1 : N1;
                    size_t mb = ts_mat_bytes(cf->dt, cf->lay, rows, cols);
                    ts_mat Ws[8];
                    for (size_t c = 0; c < copies; c++)
                        Ws[c] = (ts_mat){buf + c * mb, cf->dt, rows, cols, cf->lay};
                    double t = time_gemv(pool, Ws, copies, false, r_xw, y, x);
                    printf("%-14s %-12s %-16s %7d %9.1f %9.3f\n", ts_isa_name((ts_isa)isa),
                           cf->name, shape ? "xw 3072x768" : "xw 768x3072", nt,
                           (double)mb / t / 1e9, t * 1e3);
                }
            }
            for (size_t ti = 0; ti < 4; ti++) {
                ts_mat Wv = {buf, head_types[ti], V, C, TS_LAYOUT_ROWS};
                double t = time_gemv(pool, &Wv, 1, true, r_xw, y, x);
                printf("%-14s %-12s %-16s %7d %9.1f %9.3f\n", ts_isa_name((ts_isa)isa),
                       ts_dtype_name(head_types[ti]), "wx 50257x768", nt,
                       (double)ts_mat_bytes(head_types[ti], TS_LAYOUT_ROWS, V, C) / t / 1e9,
                       t * 1e3);
                /* compute ceiling: 256 rows (in L2) over and over */
                ts_mat Ws = {buf, head_types[ti], 256, C, TS_LAYOUT_ROWS};
                ts_mat many[8] = {Ws, Ws, Ws, Ws, Ws, Ws, Ws, Ws};
                t = time_gemv(pool, many, 8, true, r_xw * 20, y, x);
                printf("%-14s %-12s %-16s %7d %9.1f %9.3f\n", ts_isa_name((ts_isa)isa),
                       ts_dtype_name(head_types[ti]), "wx 256x768 (L2)", nt,
                       (double)ts_mat_bytes(head_types[ti], TS_LAYOUT_ROWS, 256, C) / t / 1e9,
                       t * 1e3);
            }
        }
        ts_kernels_force_isa(best);
        if (nt > 1) {
            const int n = quick ? 2000 : 20000;
            double t0 = ts_seconds();
            for (int i = 0; i < n; i++)
                ts_threadpool_run(pool, noop_task, NULL);
            printf("thread pool: %.2f us per dispatch (%d threads, back to back)\n",
                   (ts_seconds() - t0) / n * 1e6, nt);
        }
        ts_threadpool_free(pool);
    }
    bench_gemm(buf, reps);
    free(x);
    free(y);
    return 0;
}
