/*
 * test_q8_0.c — weight conversion and the kernels on every dtype x layout.
 *
 *   - Q8_0 blocks made by ts_convert_f32 equal, bit for bit, the reference
 *     vectors of tools/gen_q8_0_ref.py (the published algorithm; that script
 *     also checks them against llama.cpp's gguf-py when a checkout is at hand),
 *     on every ISA compiled in;
 *   - F32 -> F16 rounding equals the F16C instruction (vcvtps2ph, round to
 *     nearest even) on 2^20 random bit patterns and the edge cases; F32 -> BF16
 *     round-trips;
 *   - every GEMV / GEMM entry point, on every dtype (F32, F16, BF16, Q8_0) and
 *     layout (rows, panels, transposed) a matrix can have, against float64
 *     loops over the same stored values (ts_mat_row_f32 / mat element reads):
 *     relative tolerance 1e-5, odd sizes so that every tail runs. Q8_0 GEMVs
 *     round x to int16 per block of 32 first (kernels.c, rows_scalar_q8); their
 *     reference does the same with rint(x / (max|x| / 32767)), and so does the
 *     Q8_0 GEMM's where it multiplies in integers (AVX512-VNNI,
 *     ts_gemm_q8_int16); T = 11 rows run its 4-row tiles and the 1-row tail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"

#include <math.h>
#include <string.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

static void *read_all(const char *name, size_t *len)
{
    const char *data = getenv("TS_TEST_DATA");
    assert_non_null(data);
    char path[1024], err[TS_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", data, name);
    char *buf = NULL;
    if (ts_read_file(path, &buf, len, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        fail();
    }
    return buf;
}

static void test_q8_0_reference_blocks(void **state)
{
    (void)state;
    size_t nx, nq;
    float *x = read_all("q8_0_ref.f32", &nx);
    unsigned char *want = read_all("q8_0_ref.q8", &nq);
    const size_t n = nx / 4;
    assert_int_equal(n % 32, 0);
    assert_int_equal(nq, n / 32 * 34);
    assert_int_equal(ts_dtype_row_bytes(TS_DTYPE_Q8_0, n), nq);
    unsigned char *got = malloc(nq);
    ts_isa best = ts_kernels_isa();
    int tried = 0;
    for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
        if (!ts_kernels_force_isa((ts_isa)isa)) continue;
        tried++;
        memset(got, 0xa5, nq);
        ts_convert_f32(TS_DTYPE_Q8_0, x, got, n);
        for (size_t i = 0; i < nq; i++)
            if (got[i] != want[i]) {
                fprintf(stderr, "isa %s: block %zu byte %zu: got 0x%02x, reference 0x%02x\n",
                        ts_isa_name((ts_isa)isa), i / 34, i % 34, got[i], want[i]);
                fail();
            }
        /* dequantized values are d * q, within d32 / 2 of the input plus what rounding
           d32 = max|x| / 127 to F16 moves (127 |d - d32|: everything, when d32 is below F16) */
        float back[32];
        ts_mat W = {got, TS_DTYPE_Q8_0, n / 32, 32, TS_LAYOUT_ROWS};
        for (size_t b = 0; b < n / 32; b++) {
            ts_mat_row_f32(&W, b, 0, 32, back);
            uint16_t dh;
            memcpy(&dh, got + b * 34, 2);
            float d = ts_f16_to_f32(dh), amax = 0.0f;
            for (size_t j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            double d32 = amax / 127.0f, bound = 0.5 * d32 * 1.0001 + 127.0 * fabs(d - d32);
            for (size_t j = 0; j < 32; j++) {
                assert_true(back[j] == d * (float)(int8_t)got[b * 34 + 2 + j]);
                assert_true(fabs((double)back[j] - x[b * 32 + j]) <= bound + 1e-38);
            }
        }
    }
    assert_true(tried >= 1);
    assert_true(ts_kernels_force_isa(best));
    free(got);
    free(x);
    free(want);
}

static void test_f16_bf16_rounding(void **state)
{
    (void)state;
    const float edge[] = {0.0f,     -0.0f,     1.0f,     65504.0f,      65519.99f, 65520.0f,
                          1e-8f,    5.96e-8f,  2.98e-8f, 2.9802322e-8f, 6.1e-5f,   -3.3e-7f,
                          INFINITY, -INFINITY, 1e30f,    0.33333334f};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        uint16_t h = ts_f32_to_f16(edge[i]);
#if defined(__F16C__)
        assert_int_equal(h, _cvtss_sh(edge[i], 0));
#endif
        if (isfinite(edge[i]) && fabsf(edge[i]) < 65504.0f)
            assert_true(fabsf(ts_f16_to_f32(h) - edge[i]) <= fabsf(edge[i]) * 0x1p-11f + 0x1p-25f);
    }
    assert_true((ts_f32_to_f16(NAN) & 0x7c00u) == 0x7c00u && (ts_f32_to_f16(NAN) & 0x3ffu) != 0);
#if defined(__F16C__)
    uint32_t s = 99;
    for (int i = 0; i < (1 << 20); i++) {
        s = s * 1664525u + 1013904223u;
        uint32_t bits = s;
        float f;
        memcpy(&f, &bits, 4);
        if (isnan(f)) continue;
        uint16_t a = ts_f32_to_f16(f), b = _cvtss_sh(f, 0);
        if (a != b) {
            fprintf(stderr, "f32 0x%08x -> f16 0x%04x, F16C says 0x%04x\n", bits, a, b);
            fail();
        }
    }
    /* the vector path of ts_convert_f32 too */
    float v[1000];
    uint16_t h[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = (float)sin(i * 0.37) * powf(2.0f, (float)(i % 40) - 25.0f);
    ts_convert_f32(TS_DTYPE_F16, v, h, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(h[i], _cvtss_sh(v[i], 0));
#endif
    for (int i = -100; i < 100; i++) {
        float f = (float)i * 0.37f;
        uint16_t b = ts_f32_to_bf16(f);
        assert_true(fabsf(ts_bf16_to_f32(b) - f) <= fabsf(f) * 0x1p-8f);
    }
    assert_int_equal(ts_f32_to_bf16(1.0f), 0x3f80);
}

/* ---- kernels on every dtype x layout ------------------------------------- */

/* A matrix (K, N) of dtype dt in layout lay, from F32 values w[K][N]; caller frees ->data. */
static ts_mat make_mat(const float *w, size_t K, size_t N, ts_dtype dt, ts_layout lay)
{
    size_t bytes = ts_mat_bytes(dt, lay, K, N);
    unsigned char *buf = NULL;
    assert_int_equal(posix_memalign((void **)&buf, 64, bytes + 64), 0);
    memset(buf, 0, bytes + 64);
    float tmp[4096];
    switch (lay) {
    case TS_LAYOUT_ROWS:
        for (size_t k = 0; k < K; k++)
            ts_convert_f32(dt, w + k * N, buf + ts_dtype_row_bytes(dt, k * N), N);
        break;
    case TS_LAYOUT_PANELS:
        for (size_t p = 0; p * TS_PANEL < N; p++)
            for (size_t k = 0; k < K; k++) {
                for (size_t j = 0; j < TS_PANEL; j++)
                    tmp[j] = p * TS_PANEL + j < N ? w[k * N + p * TS_PANEL + j] : 0.0f;
                ts_convert_f32(dt, tmp, buf + ts_dtype_row_bytes(dt, (p * K + k) * TS_PANEL),
                               TS_PANEL);
            }
        break;
    case TS_LAYOUT_COLS:
        for (size_t j = 0; j < N; j++) {
            for (size_t k = 0; k < K; k++)
                tmp[k] = w[k * N + j];
            ts_convert_f32(dt, tmp, buf + ts_dtype_row_bytes(dt, j * K), K);
        }
        break;
    }
    ts_mat M = {buf, dt, K, N, lay};
    return M;
}

/* The stored value W[k][j] as F32 (through the row reader on a one-element slice). */
static double at(const ts_mat *W, size_t k, size_t j)
{
    float v[32];
    if (W->dtype == TS_DTYPE_Q8_0 && W->layout == TS_LAYOUT_ROWS) {
        ts_mat_row_f32(W, k, j / 32 * 32, 32, v);
        return v[j % 32];
    }
    ts_mat_row_f32(W, k, j, 1, v);
    return v[0];
}

static void close_to(double got, double want, const char *what, const ts_mat *W)
{
    if (!(fabs(got - want) <= 1e-5 * (1.0 + fabs(want)))) {
        fprintf(stderr, "%s: %s layout %d isa %s: got %.8g want %.8g\n", what,
                ts_dtype_name(W->dtype), (int)W->layout, ts_isa_name(ts_kernels_isa()), got, want);
        fail();
    }
}

/* The Q8_0 GEMVs' view of x: per block of 32, dx * rint(x / dx), dx = max|x| / 32767. */
static void x_as_q8_gemv_sees(const float *x, size_t K, double *out)
{
    for (size_t k = 0; k < K; k += 32) {
        float m = 0.0f;
        for (size_t j = 0; j < 32; j++)
            m = fmaxf(m, fabsf(x[k + j]));
        float d = m / 32767.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (size_t j = 0; j < 32; j++)
            out[k + j] = (double)d * (double)rintf(x[k + j] * id);
    }
}

static void test_kernels_all_layouts(void **state)
{
    (void)state;
    enum { K = 96, N = 75, T = 11 }; /* K a multiple of 32 (Q8_0); N odd: panel tail of 11 */
    static float w[K * N], x[K], X[T * K], Y[T * N];
    static float y[N + 8], scratch[K * 96] __attribute__((aligned(64)));
    uint32_t s = 7;
    for (size_t i = 0; i < K * N; i++) {
        s = s * 1664525u + 1013904223u;
        w[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 3.0f;
    }
    for (size_t i = 0; i < K; i++)
        x[i] = (float)cos((double)i * 0.9) * 1.3f;
    for (size_t i = 0; i < T * K; i++)
        X[i] = (float)sin((double)i * 0.41);
    ts_isa best = ts_kernels_isa();
    const struct {
        ts_dtype dt;
        ts_layout lay;
    } cases[] = {
        {TS_DTYPE_F32, TS_LAYOUT_ROWS},   {TS_DTYPE_F16, TS_LAYOUT_ROWS},
        {TS_DTYPE_BF16, TS_LAYOUT_ROWS},  {TS_DTYPE_F32, TS_LAYOUT_PANELS},
        {TS_DTYPE_F16, TS_LAYOUT_PANELS}, {TS_DTYPE_BF16, TS_LAYOUT_PANELS},
        {TS_DTYPE_Q8_0, TS_LAYOUT_COLS},  {TS_DTYPE_F16, TS_LAYOUT_COLS},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        ts_mat W = make_mat(w, K, N, cases[ci].dt, cases[ci].lay);
        /* float64 references on the stored (rounded) values */
        double ref[N], xs[K];
        for (size_t k = 0; k < K; k++)
            xs[k] = x[k];
        if (cases[ci].dt == TS_DTYPE_Q8_0) x_as_q8_gemv_sees(x, K, xs);
        for (size_t j = 0; j < N; j++) {
            double a = 0;
            for (size_t k = 0; k < K; k++)
                a += xs[k] * at(&W, k, j);
            ref[j] = a;
        }
        for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
            if (!ts_kernels_force_isa((ts_isa)isa)) continue;
            /* GEMV over [32, 75) (whole panels, then the tail) and [0, 32) */
            for (size_t j = 0; j < N + 8; j++)
                y[j] = -7.0f;
            ts_gemv_xw(y, x, &W, 32, N);
            ts_gemv_xw(y, x, &W, 0, 32);
            for (size_t j = 0; j < N; j++)
                close_to(y[j], ref[j], "gemv_xw", &W);
            for (size_t j = N; j < N + 8; j++)
                assert_true(y[j] == -7.0f);
            /* GEMM: Y = 0.25 + X . W over [32, N); Q8_0's integer path sees X as the GEMV
               sees x (int16 per block) */
            for (size_t i = 0; i < T * N; i++)
                Y[i] = 0.25f;
            ts_gemm_xw(Y, X, T, &W, 32, N, NULL, TS_GEMM_ADD, scratch);
            const bool q8_int = cases[ci].dt == TS_DTYPE_Q8_0 && ts_gemm_q8_int16();
            for (size_t t = 0; t < T; t++) {
                double Xs[K];
                for (size_t k = 0; k < K; k++)
                    Xs[k] = X[t * K + k];
                if (q8_int) x_as_q8_gemv_sees(X + t * K, K, Xs);
                for (size_t j = 0; j < N; j++) {
                    double r = 0.25;
                    if (j >= 32)
                        for (size_t k = 0; k < K; k++)
                            r += Xs[k] * at(&W, k, j);
                    close_to(Y[t * N + j], r, "gemm_xw", &W);
                }
            }
            if (cases[ci].dt == TS_DTYPE_Q8_0 && isa == TS_ISA_AVX512)
                printf("# Q8_0 GEMM on AVX-512: %s\n",
                       q8_int ? "int16 x, integer dot products (VNNI)" : "F32 x (no VNNI)");
            /* the OpenBLAS fallback's column blocks */
            static float cols[K * 40];
            ts_mat_cols_f32(&W, 30, 40, cols);
            for (size_t k = 0; k < K; k++)
                for (size_t j = 0; j < 40; j++)
                    assert_true(cols[k * 40 + j] == (float)at(&W, k, 30 + j));
        }
        free((void *)W.data);
    }
    /* Row-major (rows, K) matrices of each dtype: the vocabulary projection. */
    const ts_dtype row_types[] = {TS_DTYPE_F32, TS_DTYPE_F16, TS_DTYPE_BF16, TS_DTYPE_Q8_0};
    for (size_t ti = 0; ti < 4; ti++) {
        /* (rows = N, cols = K): reuse w as N rows of K */
        ts_mat R = make_mat(w, N, K, row_types[ti], TS_LAYOUT_ROWS);
        double ref[N], xs[K];
        for (size_t k = 0; k < K; k++)
            xs[k] = x[k];
        if (row_types[ti] == TS_DTYPE_Q8_0) x_as_q8_gemv_sees(x, K, xs);
        for (size_t r = 0; r < N; r++) {
            double a = 0;
            for (size_t c = 0; c < K; c++)
                a += at(&R, r, c) * xs[c];
            ref[r] = a;
        }
        for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
            if (!ts_kernels_force_isa((ts_isa)isa)) continue;
            for (size_t j = 0; j < N + 8; j++)
                y[j] = -7.0f;
            ts_gemv_wx(y, &R, x, 1, 70);
            for (size_t r = 0; r < N + 8; r++) {
                if (r < 1 || r >= 70)
                    assert_true(y[r] == -7.0f);
                else
                    close_to(y[r], ref[r], "gemv_wx", &R);
            }
            for (size_t i = 0; i < T * N; i++)
                Y[i] = -3.0f;
            ts_gemm_wx(Y, N, X, T, &R, 2, 71, scratch);
            for (size_t t = 0; t < T; t++)
                for (size_t r = 0; r < N; r++) {
                    if (r < 2 || r >= 71) {
                        assert_true(Y[t * N + r] == -3.0f);
                        continue;
                    }
                    double a = 0;
                    for (size_t c = 0; c < K; c++)
                        a += at(&R, r, c) * (double)X[t * K + c];
                    close_to(Y[t * N + r], a, "gemm_wx", &R);
                }
        }
        free((void *)R.data);
    }
    assert_true(ts_kernels_force_isa(best));
}

/*
 * Decode on panels gives the row-major decode's bits (ts_gemv_xw's split-K
 * contract): the blocks of ts_gemv_xw_block on the row-major matrix, added in
 * block order as model.c adds them, equal ts_gemv_xw on the same values packed
 * into panels, bit for bit — every ISA, F32 / F16 / BF16, K with empty blocks
 * (13), a 4-row and 1-row tail in the last block (203) and GPT-2's sizes;
 * N a multiple of 16 but not of 32 (a padded last panel), whole and split as
 * threads split it. (The background copy repacks a model's weights so while
 * evals run; tests/test_model.c checks whole models.)
 */
static void test_panels_same_bits_as_rows(void **state)
{
    (void)state;
    const size_t Ks[] = {13, 96, 203, 768}, Ns[] = {48, 96};
    const ts_dtype dts[] = {TS_DTYPE_F32, TS_DTYPE_F16, TS_DTYPE_BF16};
    const ts_isa best = ts_kernels_isa();
    size_t checked = 0;
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
            const size_t K = Ks[ki], N = Ns[ni];
            float *w = malloc(K * N * sizeof *w), *x = malloc(K * sizeof *x);
            float *part = malloc(TS_SPLITK * N * sizeof *part);
            float *want = malloc(N * sizeof *want), *got = malloc((N + 8) * sizeof *got);
            assert_true(w && x && part && want && got);
            uint32_t s = (uint32_t)(K * 131 + N);
            for (size_t i = 0; i < K * N; i++) {
                s = s * 1664525u + 1013904223u;
                w[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.2f;
            }
            for (size_t k = 0; k < K; k++)
                x[k] = (float)sin((double)k * 0.77) * 2.5f;
            for (size_t di = 0; di < 3; di++) {
                ts_mat R = make_mat(w, K, N, dts[di], TS_LAYOUT_ROWS);
                ts_mat P = make_mat(w, K, N, dts[di], TS_LAYOUT_PANELS);
                for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
                    if (!ts_kernels_force_isa((ts_isa)isa)) continue;
                    for (size_t c = 0; c < TS_SPLITK; c++)
                        ts_gemv_xw_block(part + c * N, x, &R, c);
                    for (size_t j = 0; j < N; j++) { /* model.c's mm_reduce_task */
                        float a = part[j];
                        for (size_t c = 1; c < TS_SPLITK; c++)
                            a += part[c * N + j];
                        want[j] = a;
                    }
                    for (int split = 0; split < 2; split++) {
                        for (size_t j = 0; j < N + 8; j++)
                            got[j] = -7.0f;
                        if (split) { /* two threads: whole panels each */
                            ts_gemv_xw(got, x, &P, 32, N);
                            ts_gemv_xw(got, x, &P, 0, 32);
                        } else {
                            ts_gemv_xw(got, x, &P, 0, N);
                        }
                        for (size_t j = 0; j < N; j++)
                            if (memcmp(&got[j], &want[j], sizeof *got) != 0) {
                                fprintf(stderr,
                                        "panels vs rows: %s isa %s K %zu N %zu col %zu: %.9g "
                                        "!= %.9g\n",
                                        ts_dtype_name(dts[di]), ts_isa_name((ts_isa)isa), K, N, j,
                                        got[j], want[j]);
                                fail();
                            }
                        for (size_t j = N; j < N + 8; j++)
                            assert_true(got[j] == -7.0f);
                        checked++;
                    }
                }
                free((void *)R.data);
                free((void *)P.data);
            }
            free(w);
            free(x);
            free(part);
            free(want);
            free(got);
        }
    ts_kernels_force_isa(best);
    printf("# panels = rows, bit for bit: %zu (shape, dtype, ISA, split) cases\n", checked);
    assert_true(checked >= 2 * 4 * 2 * 3);
}

/* LayerNorm on every ISA against a float64 two-pass reference: rows of 768 (GPT-2), 77 (every
 * tail) and a row with a mean of 30 x its spread (the variance must not cancel). */
static void test_layernorm_all_isas(void **state)
{
    (void)state;
    const size_t Cs[] = {768, 77};
    const ts_isa best = ts_kernels_isa();
    for (size_t ci = 0; ci < 2; ci++) {
        const size_t C = Cs[ci], T = 3;
        float *x = malloc(T * C * sizeof *x), *o = malloc(T * C * sizeof *o);
        float *w = malloc(C * sizeof *w), *b = malloc(C * sizeof *b);
        assert_true(x && o && w && b);
        for (size_t i = 0; i < C; i++) {
            w[i] = 1.0f + 0.5f * (float)sin((double)i);
            b[i] = 0.1f * (float)cos((double)i * 1.7);
            for (size_t t = 0; t < T; t++)
                x[t * C + i] = (float)sin((double)(i * (t + 3)) * 0.37) * (t == 2 ? 1.0f : 4.0f) +
                               (t == 2 ? 30.0f : 0.0f);
        }
        for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
            if (!ts_kernels_force_isa((ts_isa)isa)) continue;
            ts_layernorm_f32(o, x, w, b, T, C, 1e-5f);
            for (size_t t = 0; t < T; t++) {
                double mean = 0, var = 0;
                for (size_t i = 0; i < C; i++)
                    mean += x[t * C + i];
                mean /= (double)C;
                for (size_t i = 0; i < C; i++)
                    var += (x[t * C + i] - mean) * (x[t * C + i] - mean);
                const double rstd = 1.0 / sqrt(var / (double)C + 1e-5);
                for (size_t i = 0; i < C; i++) {
                    double want = (x[t * C + i] - mean) * rstd * w[i] + b[i];
                    if (!(fabs(o[t * C + i] - want) <= 1e-5 * (1.0 + fabs(want)))) {
                        fprintf(stderr, "layernorm isa %s C %zu row %zu col %zu: %.8g want %.8g\n",
                                ts_isa_name((ts_isa)isa), C, t, i, o[t * C + i], want);
                        fail();
                    }
                }
            }
        }
        free(x);
        free(o);
        free(w);
        free(b);
    }
    ts_kernels_force_isa(best);
}

/* One head of attention (ts_attn_head_f32) on every ISA against float64: head sizes 64 (the
 * register kernels of every GPT-2) and 32 (the generic loop), key counts around the 16-key
 * blocks, rows C = 768 floats apart; both the output and the probabilities left in s. */
static void test_attention_all_isas(void **state)
{
    (void)state;
    enum { C = 768, NMAX = 200 };
    const size_t ns[] = {1, 2, 7, 15, 16, 17, 33, 45, 200}, hds[] = {64, 32};
    float *k = malloc(NMAX * C * sizeof *k), *v = malloc(NMAX * C * sizeof *v);
    float q[64], o[64], s_[NMAX];
    assert_true(k && v);
    for (size_t i = 0; i < NMAX * C; i++) {
        k[i] = (float)sin((double)i * 0.013) * 1.5f;
        v[i] = (float)cos((double)i * 0.029);
    }
    for (size_t d = 0; d < 64; d++)
        q[d] = (float)sin((double)d * 0.7 + 0.3) * 2.0f;
    const ts_isa best = ts_kernels_isa();
    for (size_t hi = 0; hi < 2; hi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            const size_t hd = hds[hi], n = ns[ni], h0 = 3 * hd; /* a head inside the row */
            const float scale = 1.0f / sqrtf((float)hd);
            double p[NMAX], want[64] = {0}, mx = -INFINITY, z = 0;
            for (size_t i = 0; i < n; i++) {
                double a = 0;
                for (size_t d = 0; d < hd; d++)
                    a += (double)q[d] * k[i * C + h0 + d];
                p[i] = a * scale;
                mx = p[i] > mx ? p[i] : mx;
            }
            for (size_t i = 0; i < n; i++)
                z += p[i] = exp(p[i] - mx);
            for (size_t i = 0; i < n; i++) {
                p[i] /= z;
                for (size_t d = 0; d < hd; d++)
                    want[d] += p[i] * v[i * C + h0 + d];
            }
            for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
                if (!ts_kernels_force_isa((ts_isa)isa)) continue;
                ts_attn_head_f32(o, q, k + h0, v + h0, C, n, hd, scale, s_);
                for (size_t d = 0; d < hd; d++)
                    if (!(fabs(o[d] - want[d]) <= 1e-5 * (1 + fabs(want[d])))) {
                        fprintf(stderr, "attention isa %s hd %zu n %zu o[%zu] = %.8g want %.8g\n",
                                ts_isa_name((ts_isa)isa), hd, n, d, o[d], want[d]);
                        fail();
                    }
                for (size_t i = 0; i < n; i++)
                    if (!(fabs(s_[i] - p[i]) <= 1e-5 * p[i] + 1e-9)) {
                        fprintf(stderr, "attention isa %s hd %zu n %zu p[%zu] = %.8g want %.8g\n",
                                ts_isa_name((ts_isa)isa), hd, n, i, s_[i], p[i]);
                        fail();
                    }
            }
        }
    /* 1-4 queries at once (prefill): query r has its own q and sees n + r keys */
    float q4[4 * 64], o4[4 * 64], s4[4 * (NMAX + 18)];
    static float kt4[64 * (NMAX + 16)];
    for (size_t i = 0; i < 4 * 64; i++)
        q4[i] = (float)cos((double)i * 0.31) * 1.7f;
    size_t checked = 0;
    for (size_t hi = 0; hi < 2; hi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t nq = 1; nq <= 4; nq++) {
                const size_t hd = hds[hi], n = ns[ni], h0 = 5 * hd;
                if (n + nq - 1 > NMAX) continue;
                const float scale = 1.0f / sqrtf((float)hd);
                double want[4][64] = {{0}};
                for (size_t r = 0; r < nq; r++) {
                    double p[NMAX], mx = -INFINITY, z = 0;
                    for (size_t i = 0; i < n + r; i++) {
                        double a = 0;
                        for (size_t d = 0; d < hd; d++)
                            a += (double)q4[r * 64 + d] * k[i * C + h0 + d];
                        p[i] = a * scale;
                        mx = p[i] > mx ? p[i] : mx;
                    }
                    for (size_t i = 0; i < n + r; i++)
                        z += p[i] = exp(p[i] - mx);
                    for (size_t i = 0; i < n + r; i++)
                        for (size_t d = 0; d < hd; d++)
                            want[r][d] += p[i] / z * v[i * C + h0 + d];
                }
                for (int run = 0; run < 2 * 3; run++) { /* each ISA, rows then transposed keys */
                    const int isa = run / 2, kt_on = run % 2;
                    if (!ts_kernels_force_isa((ts_isa)isa)) continue;
                    for (size_t i = 0; i < 4 * 64; i++)
                        o4[i] = -7.0f;
                    if (kt_on) {
                        if (!ts_attn_keys_t(kt4, NMAX + 16, k + h0, C, n + nq - 1, hd)) continue;
                        for (size_t i = n + nq - 1; i < ((n + nq - 1 + 15) & ~(size_t)15); i++)
                            assert_true(kt4[5 * (NMAX + 16) + i] == 0.0f); /* padding zeroed */
                    }
                    ts_attn_heads4_f32(o4, 64, q4, 64, k + h0, kt_on ? kt4 : NULL, NMAX + 16,
                                       v + h0, C, n, nq, hd, scale, s4);
                    for (size_t r = 0; r < 4; r++)
                        for (size_t d = 0; d < 64; d++) {
                            if (r >= nq || d >= hd) {
                                assert_true(o4[r * 64 + d] == -7.0f);
                                continue;
                            }
                            if (!(fabs(o4[r * 64 + d] - want[r][d]) <=
                                  1e-5 * (1 + fabs(want[r][d])))) {
                                fprintf(stderr,
                                        "heads4 isa %s hd %zu n %zu nq %zu o[%zu][%zu] = %.8g "
                                        "want %.8g\n",
                                        ts_isa_name((ts_isa)isa), hd, n, nq, r, d, o4[r * 64 + d],
                                        want[r][d]);
                                fail();
                            }
                        }
                    checked++;
                }
            }
    assert_true(checked >= 2 * 8 * 4);
    /* decode: one query, a range of heads at once (heads 2..8 of the row; the others untouched) */
    float qa[C], oa[C], sa[12 * (NMAX + 15)];
    for (size_t i = 0; i < C; i++)
        qa[i] = (float)sin((double)i * 0.53 + 1.0) * 1.9f;
    for (size_t hi = 0; hi < 2; hi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            const size_t hd = hds[hi], n = ns[ni], h0 = 2, h1 = 9;
            const float scale = 1.0f / sqrtf((float)hd);
            for (int isa = TS_ISA_SCALAR; isa <= TS_ISA_AVX512; isa++) {
                if (!ts_kernels_force_isa((ts_isa)isa)) continue;
                for (size_t i = 0; i < C; i++)
                    oa[i] = -7.0f;
                ts_attn_decode_f32(oa, qa, k, v, C, n, h0, h1, hd, scale, sa);
                for (size_t h = 0; h < C / hd; h++) {
                    double p[NMAX], mx = -INFINITY, z = 0, want[64] = {0};
                    for (size_t i = 0; i < n; i++) {
                        double a = 0;
                        for (size_t d = 0; d < hd; d++)
                            a += (double)qa[h * hd + d] * k[i * C + h * hd + d];
                        p[i] = a * scale;
                        mx = p[i] > mx ? p[i] : mx;
                    }
                    for (size_t i = 0; i < n; i++)
                        z += p[i] = exp(p[i] - mx);
                    for (size_t i = 0; i < n; i++)
                        for (size_t d = 0; d < hd; d++)
                            want[d] += p[i] / z * v[i * C + h * hd + d];
                    for (size_t d = 0; d < hd; d++) {
                        const float got = oa[h * hd + d];
                        if (h < h0 || h >= h1) {
                            assert_true(got == -7.0f);
                            continue;
                        }
                        if (!(fabs(got - want[d]) <= 1e-5 * (1 + fabs(want[d])))) {
                            fprintf(stderr,
                                    "decode isa %s hd %zu n %zu head %zu o[%zu] = %.8g want %.8g\n",
                                    ts_isa_name((ts_isa)isa), hd, n, h, d, got, want[d]);
                            fail();
                        }
                    }
                }
            }
        }
    ts_kernels_force_isa(best);
    free(k);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0_reference_blocks),
        cmocka_unit_test(test_f16_bf16_rounding),
        cmocka_unit_test(test_kernels_all_layouts),
        cmocka_unit_test(test_panels_same_bits_as_rows),
        cmocka_unit_test(test_layernorm_all_isas),
        cmocka_unit_test(test_attention_all_isas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
