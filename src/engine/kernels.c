/*
 * kernels.c — the forward pass's inner loops: GEMV over F32 / F16 / BF16
 * weights (decode), dot / axpy / softmax for attention, gelu_new, LayerNorm.
 *
 * Weights are read in the dtype they are stored in and widened to F32 in
 * registers; every product and sum is F32 (no F16/BF16 arithmetic). Three code
 * paths, chosen once at run time from what was compiled in and what the CPU
 * supports:
 *   AVX-512 (F + BW + VL; 16 lanes)  vcvtph2ps for F16, shift-by-16 for BF16
 *   AVX2 + FMA + F16C (8 lanes)
 *   scalar (always compiled: the portable fallback and the tests' reference)
 * The SIMD paths are compiled when the compiler targets the ISA (the default
 * build uses -march=native; TS_NATIVE=OFF gives the scalar path only).
 *
 * Decode is memory-bound: one token reads every weight once, so the GEMVs
 * stream W sequentially and keep the accumulators in L1 / registers.
 *   ts_gemv_xw: W (K, N) stored [in, out] (Conv1D). y[n0:n1] accumulates four
 *     (AVX-512: eight) rows of W at a time (sequential streams; y stays in
 *     L1). Threads split the columns; AVX-512 prefetches the next 8 rows of
 *     16-bit weights (see TS_GEMV_XW_AVX512).
 *   ts_gemv_wx: W (V, C) (the vocabulary projection). Dot products, four rows
 *     at a time sharing the loads of x. Threads split the rows.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define TS_HAVE_AVX512 1
#endif
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define TS_HAVE_AVX2 1
#endif

/* ======================================================================== */
/* dtype conversion                                                         */
/* ======================================================================== */

float ts_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / NaN */
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float ts_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t load_u16(const void *p, size_t i)
{
    uint16_t v;
    memcpy(&v, (const unsigned char *)p + 2 * i, sizeof v);
    return v;
}

/* Element i of a weight buffer as F32. */
static inline float weight_at(const void *data, ts_dtype dt, size_t i)
{
    switch (dt) {
    case TS_DTYPE_F32: {
        float f;
        memcpy(&f, (const unsigned char *)data + 4 * i, sizeof f);
        return f;
    }
    case TS_DTYPE_F16:
        return ts_f16_to_f32(load_u16(data, i));
    case TS_DTYPE_BF16:
        return ts_bf16_to_f32(load_u16(data, i));
    }
    return 0.0f;
}

/*
 * The vocabulary projection reads 4 rows at a time; on the development VM the
 * hardware prefetchers alone left it at ~1/2 of the read bandwidth, so it
 * asks for the rows two steps ahead (measured 1.5-2x on that GEMV). Prefetches
 * past the end of the matrix are harmless (they never fault). `i` is an
 * element index; the byte address depends on the dtype, decided by W->dtype.
 */
#if defined(TS_HAVE_AVX2) || defined(TS_HAVE_AVX512)
#define PREFETCH_ROWS(w, i, K)                                                                     \
    do {                                                                                           \
        const char *pf_ = (const char *)(w) + (i) * (W->dtype == TS_DTYPE_F32 ? 4 : 2);            \
        size_t rs_ = (K) * (W->dtype == TS_DTYPE_F32 ? 4 : 2);                                     \
        _mm_prefetch(pf_, _MM_HINT_T0);                                                            \
        _mm_prefetch(pf_ + rs_, _MM_HINT_T0);                                                      \
        _mm_prefetch(pf_ + 2 * rs_, _MM_HINT_T0);                                                  \
        _mm_prefetch(pf_ + 3 * rs_, _MM_HINT_T0);                                                  \
    } while (0)
#endif

/* ======================================================================== */
/* scalar path                                                              */
/* ======================================================================== */

static void gemv_xw_scalar(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1)
{
    size_t N = W->cols;
    for (size_t j = n0; j < n1; j++)
        y[j] = 0.0f;
    for (size_t k = 0; k < W->rows; k++) {
        float xk = x[k];
        for (size_t j = n0; j < n1; j++)
            y[j] += xk * weight_at(W->data, W->dtype, k * N + j);
    }
}

static void gemv_wx_scalar(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1)
{
    size_t K = W->cols;
    for (size_t r = r0; r < r1; r++) {
        float acc = 0.0f;
        for (size_t c = 0; c < K; c++)
            acc += weight_at(W->data, W->dtype, r * K + c) * x[c];
        y[r] = acc;
    }
}

static float dot_scalar(const float *a, const float *b, size_t n)
{
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

static void axpy_scalar(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static const float GELU_K = 0.7978845608028654f; /* sqrt(2 / pi) */

static void gelu_scalar(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(GELU_K * (v + 0.044715f * v * v * v)));
    }
}

/* exp(x[i] - m) in place; returns the sum. */
static float exp_sub_scalar(float *x, size_t n, float m)
{
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

/* ======================================================================== */
/* AVX2 + FMA + F16C path (8 lanes)                                         */
/* ======================================================================== */
#ifdef TS_HAVE_AVX2

static inline __m256 load8_f32(const void *p, size_t i)
{
    return _mm256_loadu_ps((const float *)p + i);
}
static inline __m256 load8_f16(const void *p, size_t i)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
}
static inline __m256 load8_bf16(const void *p, size_t i)
{
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Cephes-style expf: |rel err| < 2e-7 on [-87, 88]. */
static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#define TS_GEMV_XW_AVX2(NAME, LOAD)                                                                \
    static void NAME(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1)              \
    {                                                                                              \
        const size_t N = W->cols, K = W->rows;                                                     \
        const void *w = W->data;                                                                   \
        size_t jv = n0 + ((n1 - n0) & ~(size_t)7);                                                 \
        memset(y + n0, 0, (n1 - n0) * sizeof *y);                                                  \
        size_t k = 0;                                                                              \
        for (; k + 4 <= K; k += 4) {                                                               \
            __m256 x0 = _mm256_set1_ps(x[k]), x1 = _mm256_set1_ps(x[k + 1]);                       \
            __m256 x2 = _mm256_set1_ps(x[k + 2]), x3 = _mm256_set1_ps(x[k + 3]);                   \
            size_t r0 = k * N, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;                              \
            for (size_t j = n0; j < jv; j += 8) {                                                  \
                __m256 a = _mm256_loadu_ps(y + j);                                                 \
                a = _mm256_fmadd_ps(LOAD(w, r0 + j), x0, a);                                       \
                a = _mm256_fmadd_ps(LOAD(w, r1 + j), x1, a);                                       \
                a = _mm256_fmadd_ps(LOAD(w, r2 + j), x2, a);                                       \
                a = _mm256_fmadd_ps(LOAD(w, r3 + j), x3, a);                                       \
                _mm256_storeu_ps(y + j, a);                                                        \
            }                                                                                      \
            for (size_t j = jv; j < n1; j++)                                                       \
                y[j] += x[k] * weight_at(w, W->dtype, r0 + j) +                                    \
                        x[k + 1] * weight_at(w, W->dtype, r1 + j) +                                \
                        x[k + 2] * weight_at(w, W->dtype, r2 + j) +                                \
                        x[k + 3] * weight_at(w, W->dtype, r3 + j);                                 \
        }                                                                                          \
        for (; k < K; k++) {                                                                       \
            __m256 x0 = _mm256_set1_ps(x[k]);                                                      \
            for (size_t j = n0; j < jv; j += 8)                                                    \
                _mm256_storeu_ps(y + j,                                                            \
                                 _mm256_fmadd_ps(LOAD(w, k * N + j), x0, _mm256_loadu_ps(y + j))); \
            for (size_t j = jv; j < n1; j++)                                                       \
                y[j] += x[k] * weight_at(w, W->dtype, k * N + j);                                  \
        }                                                                                          \
    }

#define TS_GEMV_WX_AVX2(NAME, LOAD)                                                                \
    static void NAME(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1)              \
    {                                                                                              \
        const size_t K = W->cols;                                                                  \
        const void *w = W->data;                                                                   \
        size_t cv = K & ~(size_t)7;                                                                \
        size_t r = r0;                                                                             \
        for (; r + 4 <= r1; r += 4) {                                                              \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                            \
            size_t b0 = r * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;                              \
            for (size_t c = 0; c < cv; c += 8) {                                                   \
                PREFETCH_ROWS(w, b0 + 8 * K + c, K);                                               \
                __m256 xv = _mm256_loadu_ps(x + c);                                                \
                a0 = _mm256_fmadd_ps(LOAD(w, b0 + c), xv, a0);                                     \
                a1 = _mm256_fmadd_ps(LOAD(w, b1 + c), xv, a1);                                     \
                a2 = _mm256_fmadd_ps(LOAD(w, b2 + c), xv, a2);                                     \
                a3 = _mm256_fmadd_ps(LOAD(w, b3 + c), xv, a3);                                     \
            }                                                                                      \
            float s0 = hsum8(a0), s1 = hsum8(a1), s2 = hsum8(a2), s3 = hsum8(a3);                  \
            for (size_t c = cv; c < K; c++) {                                                      \
                s0 += weight_at(w, W->dtype, b0 + c) * x[c];                                       \
                s1 += weight_at(w, W->dtype, b1 + c) * x[c];                                       \
                s2 += weight_at(w, W->dtype, b2 + c) * x[c];                                       \
                s3 += weight_at(w, W->dtype, b3 + c) * x[c];                                       \
            }                                                                                      \
            y[r] = s0, y[r + 1] = s1, y[r + 2] = s2, y[r + 3] = s3;                                \
        }                                                                                          \
        for (; r < r1; r++) {                                                                      \
            __m256 a0 = _mm256_setzero_ps();                                                       \
            for (size_t c = 0; c < cv; c += 8)                                                     \
                a0 = _mm256_fmadd_ps(LOAD(w, r * K + c), _mm256_loadu_ps(x + c), a0);              \
            float s0 = hsum8(a0);                                                                  \
            for (size_t c = cv; c < K; c++)                                                        \
                s0 += weight_at(w, W->dtype, r * K + c) * x[c];                                    \
            y[r] = s0;                                                                             \
        }                                                                                          \
    }

TS_GEMV_XW_AVX2(gemv_xw_avx2_f32, load8_f32)
TS_GEMV_XW_AVX2(gemv_xw_avx2_f16, load8_f16)
TS_GEMV_XW_AVX2(gemv_xw_avx2_bf16, load8_bf16)
TS_GEMV_WX_AVX2(gemv_wx_avx2_f32, load8_f32)
TS_GEMV_WX_AVX2(gemv_wx_avx2_f16, load8_f16)
TS_GEMV_WX_AVX2(gemv_wx_avx2_bf16, load8_bf16)

static void gemv_xw_avx2(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1)
{
    switch (W->dtype) {
    case TS_DTYPE_F32:
        gemv_xw_avx2_f32(y, x, W, n0, n1);
        break;
    case TS_DTYPE_F16:
        gemv_xw_avx2_f16(y, x, W, n0, n1);
        break;
    case TS_DTYPE_BF16:
        gemv_xw_avx2_bf16(y, x, W, n0, n1);
        break;
    }
}

static void gemv_wx_avx2(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1)
{
    switch (W->dtype) {
    case TS_DTYPE_F32:
        gemv_wx_avx2_f32(y, W, x, r0, r1);
        break;
    case TS_DTYPE_F16:
        gemv_wx_avx2_f16(y, W, x, r0, r1);
        break;
    case TS_DTYPE_BF16:
        gemv_wx_avx2_bf16(y, W, x, r0, r1);
        break;
    }
}

static float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void axpy_avx2(float *y, float a, const float *x, size_t n)
{
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* gelu_new(x) = 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)). */
static void gelu_avx2(float *x, size_t n)
{
    size_t i = 0;
    const __m256 k2 = _mm256_set1_ps(-2.0f * GELU_K), c = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
        __m256 m2u = _mm256_mul_ps(k2, _mm256_fmadd_ps(c, v3, v));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, exp8(m2u))));
    }
    gelu_scalar(x + i, n - i);
}

static float exp_sub_avx2(float *x, size_t n, float m)
{
    __m256 mv = _mm256_set1_ps(m), s = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        s = _mm256_add_ps(s, e);
    }
    return hsum8(s) + exp_sub_scalar(x + i, n - i, m);
}
#endif /* TS_HAVE_AVX2 */

/* ======================================================================== */
/* AVX-512 path (16 lanes)                                                  */
/* ======================================================================== */
#ifdef TS_HAVE_AVX512

static inline __m512 load16_f32(const void *p, size_t i)
{
    return _mm512_loadu_ps((const float *)p + i);
}
static inline __m512 load16_f16(const void *p, size_t i)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
}
static inline __m512 load16_bf16(const void *p, size_t i)
{
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static inline __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/*
 * PF: 1 to prefetch the next block of 8 rows of W while this one is read (16-bit
 * weights only). A thread reads a short stripe of each row (8 strided streams),
 * which the hardware prefetchers seem to follow poorly: on the development VM
 * (distilgpt2 shape, F16, decode) the prefetch cut the time of the c_proj
 * GEMVs (N = C, the narrowest rows) by ~20% (1 thread) to ~30% (2 threads);
 * c_attn / c_fc changed by -17% to +4%. For F32 (rows twice as long, one
 * prefetch per line) it measured neutral to worse, so F32 goes without.
 */
#define TS_GEMV_XW_AVX512(NAME, LOAD, PF)                                                          \
    static void NAME(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1)              \
    {                                                                                              \
        const size_t N = W->cols, K = W->rows;                                                     \
        const void *w = W->data;                                                                   \
        size_t jv = n0 + ((n1 - n0) & ~(size_t)15);                                                \
        memset(y + n0, 0, (n1 - n0) * sizeof *y);                                                  \
        size_t k = 0;                                                                              \
        for (; k + 8 <= K; k += 8) { /* 8 rows of W stream at once; y is touched K/8 times */      \
            __m512 x0 = _mm512_set1_ps(x[k]), x1 = _mm512_set1_ps(x[k + 1]);                       \
            __m512 x2 = _mm512_set1_ps(x[k + 2]), x3 = _mm512_set1_ps(x[k + 3]);                   \
            __m512 x4 = _mm512_set1_ps(x[k + 4]), x5 = _mm512_set1_ps(x[k + 5]);                   \
            __m512 x6 = _mm512_set1_ps(x[k + 6]), x7 = _mm512_set1_ps(x[k + 7]);                   \
            size_t r0 = k * N;                                                                     \
            for (size_t j = n0; j < jv; j += 16) {                                                 \
                if (PF) {                                                                          \
                    PREFETCH_ROWS(w, r0 + 8 * N + j, N);                                           \
                    PREFETCH_ROWS(w, r0 + 12 * N + j, N);                                          \
                }                                                                                  \
                __m512 a = _mm512_loadu_ps(y + j), b = _mm512_setzero_ps();                        \
                a = _mm512_fmadd_ps(LOAD(w, r0 + j), x0, a);                                       \
                b = _mm512_fmadd_ps(LOAD(w, r0 + N + j), x1, b);                                   \
                a = _mm512_fmadd_ps(LOAD(w, r0 + 2 * N + j), x2, a);                               \
                b = _mm512_fmadd_ps(LOAD(w, r0 + 3 * N + j), x3, b);                               \
                a = _mm512_fmadd_ps(LOAD(w, r0 + 4 * N + j), x4, a);                               \
                b = _mm512_fmadd_ps(LOAD(w, r0 + 5 * N + j), x5, b);                               \
                a = _mm512_fmadd_ps(LOAD(w, r0 + 6 * N + j), x6, a);                               \
                b = _mm512_fmadd_ps(LOAD(w, r0 + 7 * N + j), x7, b);                               \
                _mm512_storeu_ps(y + j, _mm512_add_ps(a, b));                                      \
            }                                                                                      \
            for (size_t j = jv; j < n1; j++)                                                       \
                for (size_t q = 0; q < 8; q++)                                                     \
                    y[j] += x[k + q] * weight_at(w, W->dtype, r0 + q * N + j);                     \
        }                                                                                          \
        for (; k + 4 <= K; k += 4) {                                                               \
            __m512 x0 = _mm512_set1_ps(x[k]), x1 = _mm512_set1_ps(x[k + 1]);                       \
            __m512 x2 = _mm512_set1_ps(x[k + 2]), x3 = _mm512_set1_ps(x[k + 3]);                   \
            size_t r0 = k * N, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;                              \
            for (size_t j = n0; j < jv; j += 16) {                                                 \
                __m512 a = _mm512_loadu_ps(y + j);                                                 \
                a = _mm512_fmadd_ps(LOAD(w, r0 + j), x0, a);                                       \
                a = _mm512_fmadd_ps(LOAD(w, r1 + j), x1, a);                                       \
                a = _mm512_fmadd_ps(LOAD(w, r2 + j), x2, a);                                       \
                a = _mm512_fmadd_ps(LOAD(w, r3 + j), x3, a);                                       \
                _mm512_storeu_ps(y + j, a);                                                        \
            }                                                                                      \
            for (size_t j = jv; j < n1; j++)                                                       \
                y[j] += x[k] * weight_at(w, W->dtype, r0 + j) +                                    \
                        x[k + 1] * weight_at(w, W->dtype, r1 + j) +                                \
                        x[k + 2] * weight_at(w, W->dtype, r2 + j) +                                \
                        x[k + 3] * weight_at(w, W->dtype, r3 + j);                                 \
        }                                                                                          \
        for (; k < K; k++) {                                                                       \
            __m512 x0 = _mm512_set1_ps(x[k]);                                                      \
            for (size_t j = n0; j < jv; j += 16)                                                   \
                _mm512_storeu_ps(y + j,                                                            \
                                 _mm512_fmadd_ps(LOAD(w, k * N + j), x0, _mm512_loadu_ps(y + j))); \
            for (size_t j = jv; j < n1; j++)                                                       \
                y[j] += x[k] * weight_at(w, W->dtype, k * N + j);                                  \
        }                                                                                          \
    }

#define TS_GEMV_WX_AVX512(NAME, LOAD)                                                              \
    static void NAME(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1)              \
    {                                                                                              \
        const size_t K = W->cols;                                                                  \
        const void *w = W->data;                                                                   \
        size_t cv = K & ~(size_t)15;                                                               \
        size_t r = r0;                                                                             \
        for (; r + 4 <= r1; r += 4) {                                                              \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                            \
            size_t b0 = r * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;                              \
            for (size_t c = 0; c < cv; c += 16) {                                                  \
                PREFETCH_ROWS(w, b0 + 8 * K + c, K);                                               \
                __m512 xv = _mm512_loadu_ps(x + c);                                                \
                a0 = _mm512_fmadd_ps(LOAD(w, b0 + c), xv, a0);                                     \
                a1 = _mm512_fmadd_ps(LOAD(w, b1 + c), xv, a1);                                     \
                a2 = _mm512_fmadd_ps(LOAD(w, b2 + c), xv, a2);                                     \
                a3 = _mm512_fmadd_ps(LOAD(w, b3 + c), xv, a3);                                     \
            }                                                                                      \
            float s0 = _mm512_reduce_add_ps(a0), s1 = _mm512_reduce_add_ps(a1);                    \
            float s2 = _mm512_reduce_add_ps(a2), s3 = _mm512_reduce_add_ps(a3);                    \
            for (size_t c = cv; c < K; c++) {                                                      \
                s0 += weight_at(w, W->dtype, b0 + c) * x[c];                                       \
                s1 += weight_at(w, W->dtype, b1 + c) * x[c];                                       \
                s2 += weight_at(w, W->dtype, b2 + c) * x[c];                                       \
                s3 += weight_at(w, W->dtype, b3 + c) * x[c];                                       \
            }                                                                                      \
            y[r] = s0, y[r + 1] = s1, y[r + 2] = s2, y[r + 3] = s3;                                \
        }                                                                                          \
        for (; r < r1; r++) {                                                                      \
            __m512 a0 = _mm512_setzero_ps();                                                       \
            for (size_t c = 0; c < cv; c += 16)                                                    \
                a0 = _mm512_fmadd_ps(LOAD(w, r * K + c), _mm512_loadu_ps(x + c), a0);              \
            float s0 = _mm512_reduce_add_ps(a0);                                                   \
            for (size_t c = cv; c < K; c++)                                                        \
                s0 += weight_at(w, W->dtype, r * K + c) * x[c];                                    \
            y[r] = s0;                                                                             \
        }                                                                                          \
    }

TS_GEMV_XW_AVX512(gemv_xw_avx512_f32, load16_f32, 0)
TS_GEMV_XW_AVX512(gemv_xw_avx512_f16, load16_f16, 1)
TS_GEMV_XW_AVX512(gemv_xw_avx512_bf16, load16_bf16, 1)
TS_GEMV_WX_AVX512(gemv_wx_avx512_f32, load16_f32)
TS_GEMV_WX_AVX512(gemv_wx_avx512_f16, load16_f16)
TS_GEMV_WX_AVX512(gemv_wx_avx512_bf16, load16_bf16)

static void gemv_xw_avx512(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1)
{
    switch (W->dtype) {
    case TS_DTYPE_F32:
        gemv_xw_avx512_f32(y, x, W, n0, n1);
        break;
    case TS_DTYPE_F16:
        gemv_xw_avx512_f16(y, x, W, n0, n1);
        break;
    case TS_DTYPE_BF16:
        gemv_xw_avx512_bf16(y, x, W, n0, n1);
        break;
    }
}

static void gemv_wx_avx512(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1)
{
    switch (W->dtype) {
    case TS_DTYPE_F32:
        gemv_wx_avx512_f32(y, W, x, r0, r1);
        break;
    case TS_DTYPE_F16:
        gemv_wx_avx512_f16(y, W, x, r0, r1);
        break;
    case TS_DTYPE_BF16:
        gemv_wx_avx512_bf16(y, W, x, r0, r1);
        break;
    }
}

static float dot_avx512(const float *a, const float *b, size_t n)
{
    __m512 s = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    float r = _mm512_reduce_add_ps(s);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

static void axpy_avx512(float *y, float a, const float *x, size_t n)
{
    __m512 av = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static void gelu_avx512(float *x, size_t n)
{
    size_t i = 0;
    const __m512 k2 = _mm512_set1_ps(-2.0f * GELU_K), c = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
        __m512 m2u = _mm512_mul_ps(k2, _mm512_fmadd_ps(c, v3, v));
        _mm512_storeu_ps(x + i, _mm512_div_ps(v, _mm512_add_ps(one, exp16(m2u))));
    }
    gelu_scalar(x + i, n - i);
}

static float exp_sub_avx512(float *x, size_t n, float m)
{
    __m512 mv = _mm512_set1_ps(m), s = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        s = _mm512_add_ps(s, e);
    }
    return _mm512_reduce_add_ps(s) + exp_sub_scalar(x + i, n - i, m);
}

/*
 * Prefill GEMMs (AVX-512 only; other ISAs use OpenBLAS from model.c). The
 * weights are widened to F32 as they are loaded, so F16/BF16 need no panel.
 *
 * gemm_xw: Y[T][n0:n1] += X[T][K] . W[K][n0:n1]. Micro-tile MR rows x 32
 *   columns in 2*MR zmm accumulators; per k: two (converted) loads of W,
 *   MR broadcasts of X, 2*MR FMAs. Column panels of 32 are the outer loop:
 *   each K x 32 panel of W is read from DRAM once, packed (see below), and
 *   served from L2 (<= 384 KB) to every row block. Column tails are masked.
 * gemm_wx: Y[T][r] = X[t] . W[r] for W (V, K) (the vocabulary projection):
 *   4 x 4 tiles of dot products, vectorised along K, reduced at the end;
 *   blocks of 64 rows of W (<= 192 KB) stay in L2 across all of X.
 */
static inline __m512 load16m(const void *p, size_t i, ts_dtype dt, __mmask16 m)
{
    switch (dt) {
    case TS_DTYPE_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    case TS_DTYPE_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i)), 16));
    default:
        return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    }
}

static inline __mmask16 tail_mask(size_t n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

static inline __attribute__((always_inline)) void xw_tile(float *Y, size_t ldy, const float *X,
                                                          size_t ldx, const float *panel, size_t K,
                                                          __mmask16 m0, __mmask16 m1, const int MR)
{
    __m512 acc[8][2];
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k++) {
        __m512 b0 = _mm512_load_ps(panel + 32 * k);
        __m512 b1 = _mm512_load_ps(panel + 32 * k + 16);
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(X[(size_t)i * ldx + k]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float *y = Y + (size_t)i * ldy;
        _mm512_mask_storeu_ps(y, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, y), acc[i][0]));
        _mm512_mask_storeu_ps(y + 16, m1,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(m1, y + 16), acc[i][1]));
    }
}

/*
 * W's columns are N apart (9-12 KB for GPT-2: a multiple of 4 KB, so a
 * K x 32 column panel would fall into a few cache sets and thrash). Each
 * panel is therefore first packed, widened to F32, into [K][32] scratch.
 */
static inline __attribute__((always_inline)) void gemm_xw_body(float *Y, const float *X, size_t T,
                                                               const ts_mat *W, size_t n0,
                                                               size_t n1, float *panel,
                                                               const ts_dtype dt)
{
    const size_t N = W->cols, K = W->rows;
    for (size_t j = n0; j < n1; j += 32) {
        size_t left = n1 - j;
        __mmask16 m0 = tail_mask(left), m1 = left > 16 ? tail_mask(left - 16) : 0;
        for (size_t k = 0; k < K; k++) {
            _mm512_store_ps(panel + 32 * k, load16m(W->data, k * N + j, dt, m0));
            _mm512_store_ps(panel + 32 * k + 16, load16m(W->data, k * N + j + 16, dt, m1));
        }
        size_t t = 0;
        for (; t + 8 <= T; t += 8)
            xw_tile(Y + t * N + j, N, X + t * K, K, panel, K, m0, m1, 8);
        for (; t + 4 <= T; t += 4)
            xw_tile(Y + t * N + j, N, X + t * K, K, panel, K, m0, m1, 4);
        for (; t < T; t++)
            xw_tile(Y + t * N + j, N, X + t * K, K, panel, K, m0, m1, 1);
    }
}

/* One copy per dtype, so the conversion is decided outside the inner loops. */
static void gemm_xw_avx512(float *Y, const float *X, size_t T, const ts_mat *W, size_t n0,
                           size_t n1, float *panel)
{
    switch (W->dtype) {
    case TS_DTYPE_F32:
        gemm_xw_body(Y, X, T, W, n0, n1, panel, TS_DTYPE_F32);
        break;
    case TS_DTYPE_F16:
        gemm_xw_body(Y, X, T, W, n0, n1, panel, TS_DTYPE_F16);
        break;
    case TS_DTYPE_BF16:
        gemm_xw_body(Y, X, T, W, n0, n1, panel, TS_DTYPE_BF16);
        break;
    }
}

static inline __attribute__((always_inline)) void wx_tile(float *Y, size_t ldy, const float *X,
                                                          size_t K, const void *w, ts_dtype dt,
                                                          size_t r, const int MR, const int NR)
{
    __m512 acc[4][4];
    for (int i = 0; i < MR; i++)
        for (int q = 0; q < NR; q++)
            acc[i][q] = _mm512_setzero_ps();
    for (size_t c = 0; c < K; c += 16) {
        __mmask16 m = tail_mask(K - c);
        __m512 b[4];
        for (int q = 0; q < NR; q++)
            b[q] = load16m(w, (r + (size_t)q) * K + c, dt, m);
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_maskz_loadu_ps(m, X + (size_t)i * K + c);
            for (int q = 0; q < NR; q++)
                acc[i][q] = _mm512_fmadd_ps(a, b[q], acc[i][q]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int q = 0; q < NR; q++)
            Y[(size_t)i * ldy + r + (size_t)q] = _mm512_reduce_add_ps(acc[i][q]);
}

static inline __attribute__((always_inline)) void gemm_wx_body(float *Y, size_t ldy, const float *X,
                                                               size_t T, const ts_mat *W, size_t r0,
                                                               size_t r1, const ts_dtype dt)
{
    const size_t K = W->cols;
    for (size_t rb = r0; rb < r1; rb += 64) {
        size_t re = r1 - rb < 64 ? r1 : rb + 64;
        size_t t = 0;
        for (; t + 4 <= T; t += 4) {
            size_t r = rb;
            for (; r + 4 <= re; r += 4)
                wx_tile(Y + t * ldy, ldy, X + t * K, K, W->data, dt, r, 4, 4);
            for (; r < re; r++)
                wx_tile(Y + t * ldy, ldy, X + t * K, K, W->data, dt, r, 4, 1);
        }
        for (; t < T; t++) {
            size_t r = rb;
            for (; r + 4 <= re; r += 4)
                wx_tile(Y + t * ldy, ldy, X + t * K, K, W->data, dt, r, 1, 4);
            for (; r < re; r++)
                wx_tile(Y + t * ldy, ldy, X + t * K, K, W->data, dt, r, 1, 1);
        }
    }
}
static void gemm_wx_avx512(float *Y, size_t ldy, const float *X, size_t T, const ts_mat *W,
                           size_t r0, size_t r1)
{
    switch (W->dtype) {
    case TS_DTYPE_F32:
        gemm_wx_body(Y, ldy, X, T, W, r0, r1, TS_DTYPE_F32);
        break;
    case TS_DTYPE_F16:
        gemm_wx_body(Y, ldy, X, T, W, r0, r1, TS_DTYPE_F16);
        break;
    case TS_DTYPE_BF16:
        gemm_wx_body(Y, ldy, X, T, W, r0, r1, TS_DTYPE_BF16);
        break;
    }
}
#endif /* TS_HAVE_AVX512 */

/* ======================================================================== */
/* dispatch                                                                 */
/* ======================================================================== */

/* Resolved on first use; ts_context_new calls ts_kernels_isa() before it starts threads. */
static int g_isa = -1;

static bool isa_available(ts_isa isa)
{
    switch (isa) {
    case TS_ISA_SCALAR:
        return true;
    case TS_ISA_AVX2:
#ifdef TS_HAVE_AVX2
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        return false;
#endif
    case TS_ISA_AVX512:
#ifdef TS_HAVE_AVX512
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
#else
        return false;
#endif
    }
    return false;
}

ts_isa ts_kernels_isa(void)
{
    if (g_isa < 0) {
        g_isa = isa_available(TS_ISA_AVX512) ? TS_ISA_AVX512
                : isa_available(TS_ISA_AVX2) ? TS_ISA_AVX2
                                             : TS_ISA_SCALAR;
    }
    return (ts_isa)g_isa;
}

bool ts_kernels_force_isa(ts_isa isa)
{
    if (!isa_available(isa)) return false;
    g_isa = (int)isa;
    return true;
}

const char *ts_isa_name(ts_isa isa)
{
    switch (isa) {
    case TS_ISA_SCALAR:
        return "scalar";
    case TS_ISA_AVX2:
        return "avx2+fma+f16c";
    case TS_ISA_AVX512:
        return "avx512";
    }
    return "?";
}

void ts_mat_row_f32(const ts_mat *W, size_t row, size_t col0, size_t n, float *out)
{
    size_t base = row * W->cols + col0, i = 0;
    if (W->dtype == TS_DTYPE_F32) {
        memcpy(out, (const float *)W->data + base, n * sizeof *out);
        return;
    }
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        if (W->dtype == TS_DTYPE_F16)
            for (; i + 16 <= n; i += 16)
                _mm512_storeu_ps(out + i, load16_f16(W->data, base + i));
        else
            for (; i + 16 <= n; i += 16)
                _mm512_storeu_ps(out + i, load16_bf16(W->data, base + i));
        break;
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        if (W->dtype == TS_DTYPE_F16)
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(out + i, load8_f16(W->data, base + i));
        else
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(out + i, load8_bf16(W->data, base + i));
        break;
#endif
    default:
        break;
    }
    for (; i < n; i++)
        out[i] = weight_at(W->data, W->dtype, base + i);
}

bool ts_gemm_available(void)
{
#ifdef TS_HAVE_AVX512
    return ts_kernels_isa() == TS_ISA_AVX512;
#else
    return false;
#endif
}

void ts_gemm_xw(float *Y, const float *X, size_t T, const ts_mat *W, size_t n0, size_t n1,
                float *panel)
{
#ifdef TS_HAVE_AVX512
    if (ts_kernels_isa() == TS_ISA_AVX512) {
        gemm_xw_avx512(Y, X, T, W, n0, n1, panel);
        return;
    }
#endif
    /* Reference loop (the callers use OpenBLAS when !ts_gemm_available()). */
    for (size_t t = 0; t < T; t++)
        for (size_t k = 0; k < W->rows; k++)
            for (size_t j = n0; j < n1; j++)
                Y[t * W->cols + j] +=
                    X[t * W->rows + k] * weight_at(W->data, W->dtype, k * W->cols + j);
}

void ts_gemm_wx(float *Y, size_t ldy, const float *X, size_t T, const ts_mat *W, size_t r0,
                size_t r1)
{
#ifdef TS_HAVE_AVX512
    if (ts_kernels_isa() == TS_ISA_AVX512) {
        gemm_wx_avx512(Y, ldy, X, T, W, r0, r1);
        return;
    }
#endif
    for (size_t t = 0; t < T; t++)
        ts_gemv_wx(Y + t * ldy, W, X + t * W->cols, r0, r1);
}

void ts_gemv_xw(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1)
{
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        gemv_xw_avx512(y, x, W, n0, n1);
        return;
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        gemv_xw_avx2(y, x, W, n0, n1);
        return;
#endif
    default:
        gemv_xw_scalar(y, x, W, n0, n1);
        return;
    }
}

void ts_gemv_wx(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1)
{
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        gemv_wx_avx512(y, W, x, r0, r1);
        return;
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        gemv_wx_avx2(y, W, x, r0, r1);
        return;
#endif
    default:
        gemv_wx_scalar(y, W, x, r0, r1);
        return;
    }
}

float ts_dot_f32(const float *a, const float *b, size_t n)
{
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        return dot_avx512(a, b, n);
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        return dot_avx2(a, b, n);
#endif
    default:
        return dot_scalar(a, b, n);
    }
}

void ts_axpy_f32(float *y, float a, const float *x, size_t n)
{
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        axpy_avx512(y, a, x, n);
        return;
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        axpy_avx2(y, a, x, n);
        return;
#endif
    default:
        axpy_scalar(y, a, x, n);
        return;
    }
}

void ts_gelu_new_f32(float *x, size_t n)
{
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        gelu_avx512(x, n);
        return;
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        gelu_avx2(x, n);
        return;
#endif
    default:
        gelu_scalar(x, n);
        return;
    }
}

void ts_softmax_f32(float *x, size_t n)
{
    float m = x[0];
    for (size_t i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    float sum;
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        sum = exp_sub_avx512(x, n, m);
        break;
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        sum = exp_sub_avx2(x, n, m);
        break;
#endif
    default:
        sum = exp_sub_scalar(x, n, m);
        break;
    }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
}

void ts_layernorm_f32(float *out, const float *inp, const float *w, const float *b, size_t T,
                      size_t C, float eps)
{
    for (size_t t = 0; t < T; t++) {
        const float *x = inp + t * C;
        float *o = out + t * C;
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < C; i++)
            mean += x[i];
        mean /= (double)C;
        for (size_t i = 0; i < C; i++)
            var += ((double)x[i] - mean) * ((double)x[i] - mean);
        var /= (double)C;
        float m = (float)mean, rstd = (float)(1.0 / sqrt(var + (double)eps));
        for (size_t i = 0; i < C; i++)
            o[i] = (x[i] - m) * rstd * w[i] + b[i];
    }
}
