/*
 * bench_model.c — the engine's kernels alone: how close the decode GEMVs come
 * to memory bandwidth, per dtype and ISA, and what a thread-pool dispatch costs.
 * (End-to-end load / prefill / decode speed: `tempscale bench`.)
 *
 *   build/bench_model [--quick]
 *
 * Matrices have distilgpt2's shapes: c_fc (768 x 3072, [in, out]) and
 * mlp.c_proj (3072 x 768) for ts_gemv_xw and the vocabulary projection
 * (50,257 x 768) for ts_gemv_wx; the weights are bigger than the caches, so
 * every call streams them from DRAM.
 * "read" is a plain AVX sum over the same bytes: the bandwidth ceiling.
 */
#include "internal.h"

#include <string.h>
#include <time.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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
    size_t a = n * (size_t)ith / (size_t)nth / 16 * 16,
           b = n * (size_t)(ith + 1) / (size_t)nth / 16 * 16;
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

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const int reps = quick ? 3 : 10;
    /* 8 distinct copies of c_fc (75 MB in F32) so that they do not stay in cache */
    const size_t K1 = 768, N1 = 3072, copies = 8;
    const size_t V = 50257, C = 768;
    size_t bytes_max = V * C * 4 > copies * K1 * N1 * 4 ? V * C * 4 : copies * K1 * N1 * 4;
    unsigned char *buf = malloc(bytes_max);
    float *x = malloc(4 * 4096 * sizeof *x), *y = malloc(V * sizeof *y);
    if (!buf || !x || !y) return 1;
    for (size_t i = 0; i < bytes_max / 2; i++)
        ((uint16_t *)buf)[i] = (uint16_t)(0x3000 + (i % 977));
    for (size_t i = 0; i < 4 * 4096; i++)
        x[i] = 0.001f * (float)(i % 100);
    ts_isa best = ts_kernels_isa();
    printf("kernels available: best = %s\n", ts_isa_name(best));
    printf("%-8s %-6s %-16s %7s %9s %9s\n", "isa", "dtype", "kernel", "threads", "GB/s", "ms/call");
    for (int nt = 1; nt <= 2; nt++) {
        ts_threadpool *pool = NULL;
        if (ts_threadpool_new(nt, &pool) != TS_OK) return 1;
        for (int dt = 0; dt < 3; dt++) {
            size_t es = dt == TS_DTYPE_F32 ? 4 : 2;
            /* read ceiling over the vocabulary-projection bytes */
            double t0 = now_s();
            volatile float sink = 0;
            for (int r = 0; r < reps; r++)
                sink += read_all(buf, V * C * es);
            double t = (now_s() - t0) / reps;
            if (nt == 1)
                printf("%-8s %-6s %-16s %7d %9.1f %9.3f\n", "-", ts_dtype_name((ts_dtype)dt),
                       "read (ceiling)", 1, (double)(V * C * es) / t / 1e9, t * 1e3);
            for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
                if (!ts_kernels_force_isa((ts_isa)isa)) continue;
                if (isa == TS_ISA_SCALAR && quick) continue;
                /* xw over `copies` distinct matrices: c_fc (768 x 3072), then the same
                   bytes as mlp.c_proj (3072 x 768, the narrowest rows) */
                int r_xw = isa == TS_ISA_SCALAR ? 1 : reps;
                for (int shape = 0; shape < 2; shape++) {
                    size_t rows = shape ? N1 : K1, cols = shape ? K1 : N1;
                    ts_mat Ws[8];
                    for (size_t c = 0; c < copies; c++)
                        Ws[c] = (ts_mat){buf + c * K1 * N1 * es, (ts_dtype)dt, rows, cols, TS_LAYOUT_ROWS};
                    t0 = now_s();
                    for (int r = 0; r < r_xw; r++)
                        for (size_t c = 0; c < copies; c++) {
                            gemv_job j = {y, x, &Ws[c], false};
                            ts_threadpool_run(pool, gemv_task, &j);
                        }
                    t = (now_s() - t0) / r_xw / copies;
                    printf("%-8s %-6s %-16s %7d %9.1f %9.3f\n", ts_isa_name((ts_isa)isa),
                           ts_dtype_name((ts_dtype)dt), shape ? "xw 3072x768" : "xw 768x3072",
                           nt, (double)(K1 * N1 * es) / t / 1e9, t * 1e3);
                }
                ts_mat Wv = {buf, (ts_dtype)dt, V, C, TS_LAYOUT_ROWS};
                t0 = now_s();
                for (int r = 0; r < r_xw; r++) {
                    gemv_job j = {y, x, &Wv, true};
                    ts_threadpool_run(pool, gemv_task, &j);
                }
                t = (now_s() - t0) / r_xw;
                printf("%-8s %-6s %-16s %7d %9.1f %9.3f\n", ts_isa_name((ts_isa)isa),
                       ts_dtype_name((ts_dtype)dt), "wx 50257x768", nt,
                       (double)(V * C * es) / t / 1e9, t * 1e3);
            }
            ts_kernels_force_isa(best);
        }
        if (nt > 1) {
            const int n = quick ? 2000 : 20000;
            double t0 = now_s();
            for (int i = 0; i < n; i++)
                ts_threadpool_run(pool, noop_task, NULL);
            printf("thread pool: %.2f us per dispatch (%d threads, back to back)\n",
                   (now_s() - t0) / n * 1e6, nt);
        }
        ts_threadpool_free(pool);
    }
    free(buf);
    free(x);
    free(y);
    return 0;
}
