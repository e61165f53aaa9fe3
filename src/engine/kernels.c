/*
 * kernels.c — the forward pass's inner loops: GEMV / GEMM over F32, F16, BF16
 * and Q8_0 weights, dot / axpy / softmax for attention, gelu_new, LayerNorm,
 * and the conversions (F32 -> F16 / BF16 / Q8_0) that ts_model_load uses.
 *
 * Weights are read in their dtype and widened to F32 in registers; every
 * product and sum is F32 (no F16/BF16 arithmetic, no quantized activations).
 * Three code paths, chosen once at run time from what was compiled in and what
 * the CPU supports:
 *   AVX-512 (F + BW + VL; 16 lanes)  vcvtph2ps for F16, shift-by-16 for BF16
 *   AVX2 + FMA + F16C (8 lanes)
 *   scalar (always compiled: the portable fallback and the tests' reference)
 * The SIMD paths are compiled when the compiler targets the ISA (the default
 * build uses -march=native; TS_NATIVE=OFF gives the scalar path only).
 *
 * One seam for weight types: k_traits[dtype] holds the block size, the bytes
 * per block and, per ISA, the kernels (to-F32 run conversion, row-dot GEMV,
 * Conv1D GEMV on row-major and on panel layout). Every entry point below goes
 * through it; a NULL kernel falls back to the scalar row. Adding a type = a
 * row here + its kernels + ts_convert_f32 (docs/engine.md has the recipe).
 *
 * Decode is memory-bound: one token reads every weight once, so the GEMVs
 * stream W sequentially and keep the accumulators in registers / L1.
 *   Conv1D, TS_LAYOUT_ROWS (the mmap'd checkpoint, [in, out]): y[n0:n1]
 *     accumulates one row of W at a time (16-bit types) or 8 / 4 rows (F32,
 *     AVX-512 / AVX2); decode splits the rows into fixed blocks whose partial
 *     sums are added in a fixed order (model.c), so each thread streams whole
 *     rows and the result does not depend on the thread count.
 *   Conv1D, TS_LAYOUT_PANELS (converted at load or by the background copy,
 *     [N/32][K][32]): one panel's 32 outputs stay in registers over all K; a
 *     thread's panels are one contiguous stream. The same split-K blocks and
 *     per-block chains as the row-major kernels, so the same bits.
 *   Conv1D, TS_LAYOUT_COLS and the vocabulary projection (rows of K): dot
 *     products, one row at a time with four accumulators (Q8_0: four rows
 *     sharing the int16 activations); threads split rows.
 */
#include "internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
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

#define QK       32 /* Q8_0: values per block */
#define Q8_BYTES 34 /* Q8_0: F16 scale + 32 int8 */

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

uint16_t ts_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf / NaN (quiet, keep some payload) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {                                   /* F16 subnormal or zero */
        /* value = ax as float; F16 subnormal unit 2^-24: round(value * 2^24) RNE */
        float v;
        memcpy(&v, &ax, sizeof v);
        float r = v * 16777216.0f; /* exact (power of two), < 1024 */
        uint32_t q = (uint32_t)r;
        float frac = r - (float)q;
        if (frac > 0.5f || (frac == 0.5f && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t mant = ax & 0x7fffffu, e = (ax >> 23) - 127 + 15;
    uint32_t h = (e << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* may carry into the exponent */
    return (uint16_t)(sign | h);
}

uint16_t ts_f32_to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40u); /* quiet NaN */
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

static inline uint16_t load_u16(const void *p, size_t i)
{
    uint16_t v;
    memcpy(&v, (const unsigned char *)p + 2 * i, sizeof v);
    return v;
}

/* Element i (counted over the whole buffer) of a weight buffer as F32. */
static inline float elem(const void *data, ts_dtype dt, size_t i)
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
    case TS_DTYPE_Q8_0: {
        const unsigned char *b = (const unsigned char *)data + (i / QK) * Q8_BYTES;
        return ts_f16_to_f32(load_u16(b, 0)) * (float)(int8_t)b[2 + i % QK];
    }
    }
    return 0.0f;
}

size_t ts_dtype_block(ts_dtype dt)
{
    return dt == TS_DTYPE_Q8_0 ? QK : 1;
}

size_t ts_dtype_row_bytes(ts_dtype dt, size_t n)
{
    switch (dt) {
    case TS_DTYPE_F32:
        return 4 * n;
    case TS_DTYPE_F16:
    case TS_DTYPE_BF16:
        return 2 * n;
    case TS_DTYPE_Q8_0:
        return n / QK * Q8_BYTES;
    }
    return 0;
}

size_t ts_mat_bytes(ts_dtype dt, ts_layout layout, size_t rows, size_t cols)
{
    switch (layout) {
    case TS_LAYOUT_ROWS:
        return rows * ts_dtype_row_bytes(dt, cols);
    case TS_LAYOUT_PANELS:
        return (cols + TS_PANEL - 1) / TS_PANEL * ts_dtype_row_bytes(dt, rows * TS_PANEL);
    case TS_LAYOUT_COLS:
        return cols * ts_dtype_row_bytes(dt, rows);
    }
    return 0;
}

/* W[r][c] (logical indices) as F32, any layout: the slow, obviously right path. */
static float mat_at(const ts_mat *W, size_t r, size_t c)
{
    switch (W->layout) {
    case TS_LAYOUT_ROWS:
        return elem(W->data, W->dtype, r * W->cols + c);
    case TS_LAYOUT_PANELS:
        return elem(W->data, W->dtype,
                    (c / TS_PANEL) * W->rows * TS_PANEL + r * TS_PANEL + c % TS_PANEL);
    case TS_LAYOUT_COLS:
        return elem(W->data, W->dtype, c * W->rows + r);
    }
    return 0.0f;
}

/* Kernel signatures of the traits table. w is the matrix's data; indices are elements. */
typedef void (*to_f32_fn)(const void *w, size_t i0, float *out, size_t n); /* i0, n: whole blocks */
/* y[r] = row r . x[0:K] for r in [r0, r1); rows of K elements, consecutive */
typedef void (*rows_fn)(float *y, const void *w, size_t K, const float *x, size_t r0, size_t r1);
/* y[n0:n1] = x[0:K] . W[:, n0:n1], W (K, N) in the row-major or panel layout */
typedef void (*xw_fn)(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,
                      size_t n1);

/* ======================================================================== */
/* scalar path                                                              */
/* ======================================================================== */

static void to_f32_scalar_f32(const void *w, size_t i0, float *out, size_t n)
{
    memcpy(out, (const float *)w + i0, n * sizeof *out);
}
static void to_f32_scalar_f16(const void *w, size_t i0, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = ts_f16_to_f32(load_u16(w, i0 + i));
}
static void to_f32_scalar_bf16(const void *w, size_t i0, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = ts_bf16_to_f32(load_u16(w, i0 + i));
}
static void to_f32_scalar_q8(const void *w, size_t i0, float *out, size_t n)
{
    const unsigned char *b = (const unsigned char *)w + i0 / QK * Q8_BYTES;
    for (size_t i = 0; i < n; i += QK, b += Q8_BYTES) {
        float d = ts_f16_to_f32(load_u16(b, 0));
        for (size_t j = 0; j < QK; j++)
            out[i + j] = d * (float)(int8_t)b[2 + j];
    }
}

#define TS_ROWS_SCALAR(NAME, DT)                                                                   \
    static void NAME(float *y, const void *w, size_t K, const float *x, size_t r0, size_t r1)      \
    {                                                                                              \
        for (size_t r = r0; r < r1; r++) {                                                         \
            float acc = 0.0f;                                                                      \
            for (size_t c = 0; c < K; c++)                                                         \
                acc += elem(w, DT, r * K + c) * x[c];                                              \
            y[r] = acc;                                                                            \
        }                                                                                          \
    }
TS_ROWS_SCALAR(rows_scalar_f32, TS_DTYPE_F32)
TS_ROWS_SCALAR(rows_scalar_f16, TS_DTYPE_F16)
TS_ROWS_SCALAR(rows_scalar_bf16, TS_DTYPE_BF16)

/*
 * Q8_0 row dots (every ISA computes the same function): x is first rounded to
 * int16 per block of 32, xq = rint(x / dx) with dx = max|x| / 32767 (relative
 * error <= 1.5e-5 of the block's largest |x|, far below the weights' 1/254),
 * so that a block is one exact int32 sum of q * xq, scaled by d * dx. The
 * SIMD kernels do it with vpmaddwd (int16 pairs), ~1.6x the F32-widening speed.
 */
#define TS_Q8_MAX_K 16384 /* longer rows take the F32-activation loop (scalar) */

static void x_to_i16_scalar(const float *x, size_t K, int16_t *xq, float *dx)
{
    for (size_t k = 0; k < K; k += QK) {
        float m = 0.0f;
        for (size_t j = 0; j < QK; j++)
            m = fmaxf(m, fabsf(x[k + j]));
        float d = m / 32767.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        dx[k / QK] = d;
        for (size_t j = 0; j < QK; j++)
            xq[k + j] = (int16_t)lrintf(x[k + j] * id);
    }
}

static void rows_scalar_q8(float *y, const void *w, size_t K, const float *x, size_t r0, size_t r1)
{
    const size_t nb = K / QK;
    int16_t xq[TS_Q8_MAX_K];
    float dx[TS_Q8_MAX_K / QK];
    const bool exact_x = K > TS_Q8_MAX_K;
    if (!exact_x) x_to_i16_scalar(x, K, xq, dx);
    for (size_t r = r0; r < r1; r++) {
        const unsigned char *b = (const unsigned char *)w + r * nb * Q8_BYTES;
        float acc = 0.0f;
        for (size_t k = 0; k < nb; k++, b += Q8_BYTES) {
            float d = ts_f16_to_f32(load_u16(b, 0));
            if (exact_x) {
                float s = 0.0f;
                for (size_t j = 0; j < QK; j++)
                    s += (float)(int8_t)b[2 + j] * x[k * QK + j];
                acc += s * d;
                continue;
            }
            int32_t s = 0;
            for (size_t j = 0; j < QK; j++)
                s += (int32_t)(int8_t)b[2 + j] * xq[k * QK + j];
            acc += (float)s * (d * dx[k]);
        }
        y[r] = acc;
    }
}

#define TS_XW_SCALAR(NAME, DT)                                                                     \
    static void NAME(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,       \
                     size_t n1)                                                                    \
    {                                                                                              \
        for (size_t j = n0; j < n1; j++)                                                           \
            y[j] = 0.0f;                                                                           \
        for (size_t k = 0; k < K; k++) {                                                           \
            float xk = x[k];                                                                       \
            for (size_t j = n0; j < n1; j++)                                                       \
                y[j] += xk * elem(w, DT, k * N + j);                                               \
        }                                                                                          \
    }
TS_XW_SCALAR(xw_scalar_f32, TS_DTYPE_F32)
TS_XW_SCALAR(xw_scalar_f16, TS_DTYPE_F16)
TS_XW_SCALAR(xw_scalar_bf16, TS_DTYPE_BF16)

/*
 * Decode on panels, by the ISA's row-major kernel: panel p is itself a [K][32]
 * row-major matrix, so each split-K block of it (ts_splitk_block) goes through
 * `xw` exactly as the same rows of the [K][N] matrix do (lane for lane the same
 * operations: N and 32 are multiples of the vector width), and the blocks'
 * partial sums are added in block order as model.c adds them. The same bits as
 * the row-major decode, on any ISA; AVX-512 has register-resident versions.
 */
static void panels_by_rows(xw_fn xw, ts_dtype dt, float *y, const float *x, const void *w, size_t K,
                           size_t n0, size_t n1)
{
    for (size_t p = n0 / TS_PANEL; p * TS_PANEL < n1; p++) {
        const unsigned char *panel =
            (const unsigned char *)w + ts_dtype_row_bytes(dt, p * K * TS_PANEL);
        float s[TS_PANEL], part[TS_PANEL];
        for (size_t c = 0; c < TS_SPLITK; c++) {
            size_t k0, k1;
            ts_splitk_block(K, c, &k0, &k1);
            if (k0 < k1)
                xw(part, x + k0, panel + ts_dtype_row_bytes(dt, k0 * TS_PANEL), k1 - k0, TS_PANEL,
                   0, TS_PANEL);
            else
                memset(part, 0, sizeof part);
            for (size_t i = 0; i < TS_PANEL; i++)
                s[i] = c ? s[i] + part[i] : part[i];
        }
        const size_t j0 = p * TS_PANEL, m = n1 - j0 < TS_PANEL ? n1 - j0 : TS_PANEL;
        memcpy(y + j0, s, m * sizeof *y);
    }
}

#define TS_PANELS_BY_ROWS(NAME, XW, DT)                                                            \
    static void NAME(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,       \
                     size_t n1)                                                                    \
    {                                                                                              \
        (void)N;                                                                                   \
        panels_by_rows(XW, DT, y, x, w, K, n0, n1);                                                \
    }
TS_PANELS_BY_ROWS(panels_scalar_f32, xw_scalar_f32, TS_DTYPE_F32)
TS_PANELS_BY_ROWS(panels_scalar_f16, xw_scalar_f16, TS_DTYPE_F16)
TS_PANELS_BY_ROWS(panels_scalar_bf16, xw_scalar_bf16, TS_DTYPE_BF16)

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

/* roundf (half away from zero), as gguf-py's np_roundf computes it: exact below 2^23. */
static void quantize_q8_scalar(const float *src, void *dst, size_t n)
{
    unsigned char *b = dst;
    for (size_t i = 0; i < n; i += QK, b += Q8_BYTES) {
        float amax = 0.0f;
        for (size_t j = 0; j < QK; j++) {
            float a = fabsf(src[i + j]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t dh = ts_f32_to_f16(d);
        memcpy(b, &dh, sizeof dh);
        for (size_t j = 0; j < QK; j++)
            b[2 + j] = (unsigned char)(int8_t)roundf(src[i + j] * id);
    }
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
/* 8 int8 at byte p as F32 */
static inline __m256 load8_i8(const unsigned char *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
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

#define TS_XW_AVX2(NAME, LOAD, DT)                                                                 \
    static void NAME(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,       \
                     size_t n1)                                                                    \
    {                                                                                              \
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
                y[j] += x[k] * elem(w, DT, r0 + j) + x[k + 1] * elem(w, DT, r1 + j) +              \
                        x[k + 2] * elem(w, DT, r2 + j) + x[k + 3] * elem(w, DT, r3 + j);           \
        }                                                                                          \
        for (; k < K; k++) {                                                                       \
            __m256 x0 = _mm256_set1_ps(x[k]);                                                      \
            for (size_t j = n0; j < jv; j += 8)                                                    \
                _mm256_storeu_ps(y + j,                                                            \
                                 _mm256_fmadd_ps(LOAD(w, k * N + j), x0, _mm256_loadu_ps(y + j))); \
            for (size_t j = jv; j < n1; j++)                                                       \
                y[j] += x[k] * elem(w, DT, k * N + j);                                             \
        }                                                                                          \
    }

/* Row dots, one row at a time with four accumulators (see TS_ROWS_AVX512). */
#define TS_ROWS_AVX2(NAME, LOAD, DT)                                                               \
    static void NAME(float *y, const void *w, size_t K, const float *x, size_t r0, size_t r1)      \
    {                                                                                              \
        const size_t c4 = K & ~(size_t)31, cv = K & ~(size_t)7;                                    \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const size_t b = r * K;                                                                \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                            \
            size_t c = 0;                                                                          \
            for (; c < c4; c += 32) {                                                              \
                a0 = _mm256_fmadd_ps(LOAD(w, b + c), _mm256_loadu_ps(x + c), a0);                  \
                a1 = _mm256_fmadd_ps(LOAD(w, b + c + 8), _mm256_loadu_ps(x + c + 8), a1);          \
                a2 = _mm256_fmadd_ps(LOAD(w, b + c + 16), _mm256_loadu_ps(x + c + 16), a2);        \
                a3 = _mm256_fmadd_ps(LOAD(w, b + c + 24), _mm256_loadu_ps(x + c + 24), a3);        \
            }                                                                                      \
            for (; c < cv; c += 8)                                                                 \
                a0 = _mm256_fmadd_ps(LOAD(w, b + c), _mm256_loadu_ps(x + c), a0);                  \
            float s0 = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));         \
            for (; c < K; c++)                                                                     \
                s0 += elem(w, DT, b + c) * x[c];                                                   \
            y[r] = s0;                                                                             \
        }                                                                                          \
    }

/* 16-bit weights: one row of W at a time, y in L1 (see TS_XW1_AVX512). */
#define TS_XW1_AVX2(NAME, LOAD, DT)                                                                \
    static void NAME(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,       \
                     size_t n1)                                                                    \
    {                                                                                              \
        const size_t j4 = n0 + ((n1 - n0) & ~(size_t)31), jv = n0 + ((n1 - n0) & ~(size_t)7);      \
        memset(y + n0, 0, (n1 - n0) * sizeof *y);                                                  \
        for (size_t k = 0; k < K; k++) {                                                           \
            const __m256 xk = _mm256_set1_ps(x[k]);                                                \
            const size_t r = k * N;                                                                \
            size_t j = n0;                                                                         \
            for (; j < j4; j += 32) {                                                              \
                __m256 a0 = _mm256_fmadd_ps(LOAD(w, r + j), xk, _mm256_loadu_ps(y + j));           \
                __m256 a1 = _mm256_fmadd_ps(LOAD(w, r + j + 8), xk, _mm256_loadu_ps(y + j + 8));   \
                __m256 a2 = _mm256_fmadd_ps(LOAD(w, r + j + 16), xk, _mm256_loadu_ps(y + j + 16)); \
                __m256 a3 = _mm256_fmadd_ps(LOAD(w, r + j + 24), xk, _mm256_loadu_ps(y + j + 24)); \
                _mm256_storeu_ps(y + j, a0);                                                       \
                _mm256_storeu_ps(y + j + 8, a1);                                                   \
                _mm256_storeu_ps(y + j + 16, a2);                                                  \
                _mm256_storeu_ps(y + j + 24, a3);                                                  \
            }                                                                                      \
            for (; j < jv; j += 8)                                                                 \
                _mm256_storeu_ps(y + j,                                                            \
                                 _mm256_fmadd_ps(LOAD(w, r + j), xk, _mm256_loadu_ps(y + j)));     \
            for (; j < n1; j++)                                                                    \
                y[j] += x[k] * elem(w, DT, r + j);                                                 \
        }                                                                                          \
    }

TS_XW_AVX2(xw_avx2_f32, load8_f32, TS_DTYPE_F32)
TS_XW1_AVX2(xw_avx2_f16, load8_f16, TS_DTYPE_F16)
TS_XW1_AVX2(xw_avx2_bf16, load8_bf16, TS_DTYPE_BF16)
TS_ROWS_AVX2(rows_avx2_f32, load8_f32, TS_DTYPE_F32)
TS_ROWS_AVX2(rows_avx2_f16, load8_f16, TS_DTYPE_F16)
TS_ROWS_AVX2(rows_avx2_bf16, load8_bf16, TS_DTYPE_BF16)
TS_PANELS_BY_ROWS(panels_avx2_f32, xw_avx2_f32, TS_DTYPE_F32)
TS_PANELS_BY_ROWS(panels_avx2_f16, xw_avx2_f16, TS_DTYPE_F16)
TS_PANELS_BY_ROWS(panels_avx2_bf16, xw_avx2_bf16, TS_DTYPE_BF16)

/* Q8_0 rows (see rows_scalar_q8): per block, vpmaddwd of q (int8 -> int16) and xq. */
static void rows_avx2_q8(float *y, const void *w, size_t K, const float *x, size_t r0, size_t r1)
{
    if (K > TS_Q8_MAX_K) {
        rows_scalar_q8(y, w, K, x, r0, r1);
        return;
    }
    int16_t xq[TS_Q8_MAX_K] __attribute__((aligned(32)));
    float dx[TS_Q8_MAX_K / QK];
    x_to_i16_scalar(x, K, xq, dx);
    const size_t nb = K / QK, rb = nb * Q8_BYTES;
    const unsigned char *base = w;
    for (size_t r = r0; r < r1; r++) {
        const unsigned char *b = base + r * rb;
        __m256 acc = _mm256_setzero_ps();
        for (size_t k = 0; k < nb; k++, b += Q8_BYTES) {
            __m256i q0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 2)));
            __m256i q1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 18)));
            __m256i p = _mm256_add_epi32(
                _mm256_madd_epi16(q0, _mm256_load_si256((const __m256i *)(xq + k * QK))),
                _mm256_madd_epi16(q1, _mm256_load_si256((const __m256i *)(xq + k * QK + 16))));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                                  _mm256_set1_ps(ts_f16_to_f32(load_u16(b, 0)) * dx[k]), acc);
        }
        y[r] = hsum8(acc);
    }
}

static void to_f32_avx2_f16(const void *w, size_t i0, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, load8_f16(w, i0 + i));
    to_f32_scalar_f16(w, i0 + i, out + i, n - i);
}
static void to_f32_avx2_bf16(const void *w, size_t i0, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, load8_bf16(w, i0 + i));
    to_f32_scalar_bf16(w, i0 + i, out + i, n - i);
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

/* One head of size 64, q and the output in eight 8-wide registers. */
static void attn64_avx2(float *o, const float *q, const float *k, const float *v, size_t stride,
                        size_t n, float scale, float *s)
{
    __m256 qv[8];
    for (int j = 0; j < 8; j++)
        qv[j] = _mm256_loadu_ps(q + 8 * j);
    for (size_t i = 0; i < n; i++) {
        const float *kr = k + i * stride;
        __m256 a = _mm256_mul_ps(qv[0], _mm256_loadu_ps(kr));
        __m256 b = _mm256_mul_ps(qv[1], _mm256_loadu_ps(kr + 8));
        for (int j = 2; j < 8; j += 2) {
            a = _mm256_fmadd_ps(qv[j], _mm256_loadu_ps(kr + 8 * j), a);
            b = _mm256_fmadd_ps(qv[j + 1], _mm256_loadu_ps(kr + 8 * j + 8), b);
        }
        s[i] = hsum8(_mm256_add_ps(a, b)) * scale;
    }
    ts_softmax_f32(s, n);
    __m256 ov[8];
    for (int j = 0; j < 8; j++)
        ov[j] = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i++) {
        const float *vr = v + i * stride;
        const __m256 p = _mm256_set1_ps(s[i]);
        for (int j = 0; j < 8; j++)
            ov[j] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 8 * j), ov[j]);
    }
    for (int j = 0; j < 8; j++)
        _mm256_storeu_ps(o + 8 * j, ov[j]);
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
/*
 * The same 16 values, converted as two halves (two 256-bit vcvtph2ps, then joined). For the
 * row-dot GEMV streaming from DRAM (the vocabulary projection) this reads 27-33 GB/s where the
 * one 512-bit vcvtph2ps gave 21-26 (bench_model "F16 wx 50257x768", one core; the two agree on
 * every value: the conversion is exact). Measured, not explained; the panel GEMV streams the same
 * either way.
 */
static inline __m512 load16_f16_halves(const void *p, size_t i)
{
    const uint16_t *h = (const uint16_t *)p + i;
    __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
    __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 8)));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}
static inline __m512 load16_bf16(const void *p, size_t i)
{
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
/* 16 int8 at byte p as F32 */
static inline __m512 load16_i8(const unsigned char *p)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
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
 * y[n0, n1) = x . W[:, n0:n1), 8 rows of W at a time (y is read and written once
 * per 8 rows). Used for F32, where it streams better than one row at a time;
 * 16-bit weights use TS_XW1_AVX512. An earlier software prefetch of the next 8
 * rows (for 16-bit weights under a column split) is gone with that split.
 */
#define TS_XW_AVX512(NAME, LOAD, DT)                                                               \
    static void NAME(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,       \
                     size_t n1)                                                                    \
    {                                                                                              \
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
                    y[j] += x[k + q] * elem(w, DT, r0 + q * N + j);                                \
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
                y[j] += x[k] * elem(w, DT, r0 + j) + x[k + 1] * elem(w, DT, r1 + j) +              \
                        x[k + 2] * elem(w, DT, r2 + j) + x[k + 3] * elem(w, DT, r3 + j);           \
        }                                                                                          \
        for (; k < K; k++) {                                                                       \
            __m512 x0 = _mm512_set1_ps(x[k]);                                                      \
            for (size_t j = n0; j < jv; j += 16)                                                   \
                _mm512_storeu_ps(y + j,                                                            \
                                 _mm512_fmadd_ps(LOAD(w, k * N + j), x0, _mm512_loadu_ps(y + j))); \
            for (size_t j = jv; j < n1; j++)                                                       \
                y[j] += x[k] * elem(w, DT, k * N + j);                                             \
        }                                                                                          \
    }

/*
 * Row dots, one row at a time with four accumulators (64 values per step).
 * Reading one row as a single sequential stream lets the hardware prefetcher
 * run at the full read bandwidth: on the 2-core EPYC dev VM the lm_head GEMV
 * (50,257 x 768) went from 13 to 29-35 GB/s for F16 and from 17 to 30-33 GB/s
 * for F32 (1 thread, weights in huge pages), against 33 GB/s for a plain
 * read. The earlier kernel read 4 rows interleaved (sharing each load of x)
 * with software prefetch two groups ahead; x (<= 12 KiB) stays in L1 either way.
 */
#define TS_ROWS_AVX512(NAME, LOAD, DT)                                                             \
    static void NAME(float *y, const void *w, size_t K, const float *x, size_t r0, size_t r1)      \
    {                                                                                              \
        const size_t c4 = K & ~(size_t)63, cv = K & ~(size_t)15;                                   \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const size_t b = r * K;                                                                \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                            \
            size_t c = 0;                                                                          \
            for (; c < c4; c += 64) {                                                              \
                a0 = _mm512_fmadd_ps(LOAD(w, b + c), _mm512_loadu_ps(x + c), a0);                  \
                a1 = _mm512_fmadd_ps(LOAD(w, b + c + 16), _mm512_loadu_ps(x + c + 16), a1);        \
                a2 = _mm512_fmadd_ps(LOAD(w, b + c + 32), _mm512_loadu_ps(x + c + 32), a2);        \
                a3 = _mm512_fmadd_ps(LOAD(w, b + c + 48), _mm512_loadu_ps(x + c + 48), a3);        \
            }                                                                                      \
            for (; c < cv; c += 16)                                                                \
                a0 = _mm512_fmadd_ps(LOAD(w, b + c), _mm512_loadu_ps(x + c), a0);                  \
            float s0 =                                                                             \
                _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
            for (; c < K; c++)                                                                     \
                s0 += elem(w, DT, b + c) * x[c];                                                   \
            y[r] = s0;                                                                             \
        }                                                                                          \
    }

/*
 * Decode on panels with the panel's 32 outputs in registers: the same bits as
 * the row-major decode (see panels_by_rows), register for register. For each
 * split-K block: with ROWS8 (F32) TS_XW_AVX512's 8-row steps (a chain on y
 * with the even rows, one from zero with the odd rows, then added), then one
 * FMA chain per output for the rest — which is also what TS_XW_AVX512's 4-row
 * tail and TS_XW1_AVX512 (16-bit weights) compute; block sums are added in
 * block order. A thread's
 * panels are one contiguous stream (with the row-major layout each thread
 * reads a stripe of every row, or all threads read the whole of W).
 */
/* y[32p, min(32p + 32, n1)) = the panel's two registers. */
static inline void store_panel(float *y, size_t p, size_t n1, __m512 s0, __m512 s1)
{
    const size_t j0 = p * TS_PANEL, m = n1 - j0 < TS_PANEL ? n1 - j0 : TS_PANEL;
    __mmask16 m0 = m >= 16 ? 0xffff : (__mmask16)((1u << m) - 1u);
    __mmask16 m1 = m >= 32 ? 0xffff : m > 16 ? (__mmask16)((1u << (m - 16)) - 1u) : 0;
    _mm512_mask_storeu_ps(y + j0, m0, s0);
    _mm512_mask_storeu_ps(y + j0 + 16, m1, s1);
}

/* One 16-lane half (h = 0 or 16) of TS_XW_AVX512's 8-row step: y += 8 rows, two chains. */
#define TS_XW8_STEP(Y, LOAD, w, e, x, k, h)                                                        \
    do {                                                                                           \
        __m512 a_ = (Y), b_ = _mm512_setzero_ps();                                                 \
        for (size_t q_ = 0; q_ < 8; q_ += 2) {                                                     \
            a_ = _mm512_fmadd_ps(LOAD(w, (e) + q_ * TS_PANEL + (h)),                               \
                                 _mm512_set1_ps((x)[(k) + q_]), a_);                               \
            b_ = _mm512_fmadd_ps(LOAD(w, (e) + (q_ + 1) * TS_PANEL + (h)),                         \
                                 _mm512_set1_ps((x)[(k) + q_ + 1]), b_);                           \
        }                                                                                          \
        (Y) = _mm512_add_ps(a_, b_);                                                               \
    } while (0)

#define TS_PANELS_AVX512(NAME, LOAD, ROWS8)                                                        \
    static void NAME(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,       \
                     size_t n1)                                                                    \
    {                                                                                              \
        (void)N;                                                                                   \
        for (size_t p = n0 / TS_PANEL; p * TS_PANEL < n1; p++) {                                   \
            const size_t base = p * K * TS_PANEL;                                                  \
            __m512 s0 = _mm512_setzero_ps(), s1 = s0;                                              \
            for (size_t c = 0; c < TS_SPLITK; c++) {                                               \
                size_t k0, k1;                                                                     \
                ts_splitk_block(K, c, &k0, &k1);                                                   \
                __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                          \
                size_t k = k0;                                                                     \
                for (; ROWS8 && k + 8 <= k1; k += 8) {                                             \
                    const size_t e = base + k * TS_PANEL;                                          \
                    TS_XW8_STEP(a0, LOAD, w, e, x, k, 0);                                          \
                    TS_XW8_STEP(a1, LOAD, w, e, x, k, 16);                                         \
                }                                                                                  \
                for (; k < k1; k++) { /* one chain per output (= the 4-row step's order too) */    \
                    const __m512 xk = _mm512_set1_ps(x[k]);                                        \
                    const size_t e = base + k * TS_PANEL;                                          \
                    a0 = _mm512_fmadd_ps(LOAD(w, e), xk, a0);                                      \
                    a1 = _mm512_fmadd_ps(LOAD(w, e + 16), xk, a1);                                 \
                }                                                                                  \
                s0 = c ? _mm512_add_ps(s0, a0) : a0;                                               \
                s1 = c ? _mm512_add_ps(s1, a1) : a1;                                               \
            }                                                                                      \
            store_panel(y, p, n1, s0, s1);                                                         \
        }                                                                                          \
    }

/*
 * y[n0, n1) = x . W[:, n0:n1) one row of W at a time: each row is one
 * sequential stream and y (<= 12 KiB for 4C = 3072) stays in L1, read and
 * written once per row. For 16-bit weights this streams faster than 8 rows at
 * once (a microbenchmark out of cache: 768x3072 F16 23 -> 28 GB/s, 3072x768
 * 13 -> 23 GB/s); for F32 the y traffic per weight byte doubles and 8 rows win.
 */
#define TS_XW1_AVX512(NAME, LOAD, DT)                                                              \
    static void NAME(float *y, const float *x, const void *w, size_t K, size_t N, size_t n0,       \
                     size_t n1)                                                                    \
    {                                                                                              \
        const size_t j4 = n0 + ((n1 - n0) & ~(size_t)63), jv = n0 + ((n1 - n0) & ~(size_t)15);     \
        memset(y + n0, 0, (n1 - n0) * sizeof *y);                                                  \
        for (size_t k = 0; k < K; k++) {                                                           \
            const __m512 xk = _mm512_set1_ps(x[k]);                                                \
            const size_t r = k * N;                                                                \
            size_t j = n0;                                                                         \
            for (; j < j4; j += 64) {                                                              \
                __m512 a0 = _mm512_fmadd_ps(LOAD(w, r + j), xk, _mm512_loadu_ps(y + j));           \
                __m512 a1 = _mm512_fmadd_ps(LOAD(w, r + j + 16), xk, _mm512_loadu_ps(y + j + 16)); \
                __m512 a2 = _mm512_fmadd_ps(LOAD(w, r + j + 32), xk, _mm512_loadu_ps(y + j + 32)); \
                __m512 a3 = _mm512_fmadd_ps(LOAD(w, r + j + 48), xk, _mm512_loadu_ps(y + j + 48)); \
                _mm512_storeu_ps(y + j, a0);                                                       \
                _mm512_storeu_ps(y + j + 16, a1);                                                  \
                _mm512_storeu_ps(y + j + 32, a2);                                                  \
                _mm512_storeu_ps(y + j + 48, a3);                                                  \
            }                                                                                      \
            for (; j < jv; j += 16)                                                                \
                _mm512_storeu_ps(y + j,                                                            \
                                 _mm512_fmadd_ps(LOAD(w, r + j), xk, _mm512_loadu_ps(y + j)));     \
            for (; j < n1; j++)                                                                    \
                y[j] += x[k] * elem(w, DT, r + j);                                                 \
        }                                                                                          \
    }

TS_XW_AVX512(xw_avx512_f32, load16_f32, TS_DTYPE_F32)
TS_XW1_AVX512(xw_avx512_f16, load16_f16, TS_DTYPE_F16)
TS_XW1_AVX512(xw_avx512_bf16, load16_bf16, TS_DTYPE_BF16)
TS_ROWS_AVX512(rows_avx512_f32, load16_f32, TS_DTYPE_F32)
TS_ROWS_AVX512(rows_avx512_f16, load16_f16_halves, TS_DTYPE_F16)
TS_ROWS_AVX512(rows_avx512_bf16, load16_bf16, TS_DTYPE_BF16)
TS_PANELS_AVX512(panels_avx512_f32, load16_f32, 1)
TS_PANELS_AVX512(panels_avx512_f16, load16_f16, 0)
TS_PANELS_AVX512(panels_avx512_bf16, load16_bf16, 0)

/*
 * Q8_0 rows, 4 at a time sharing the loads of xq (see rows_scalar_q8): per
 * block, vpmovsxbw + vpmaddwd give 16 int32 pair sums, scaled by d * dx. The
 * next group of 4 rows (4 * 34 bytes per block step) is prefetched meanwhile.
 */
/* x_to_i16_scalar, 16 lanes (vcvtps2dq rounds to nearest even, as lrintf). */
static void x_to_i16(const float *x, size_t K, int16_t *xq, float *dx)
{
    for (size_t k = 0; k < K; k += QK) {
        __m512 v0 = _mm512_loadu_ps(x + k), v1 = _mm512_loadu_ps(x + k + 16);
        float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = m / 32767.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        dx[k / QK] = d;
        __m512 iv = _mm512_set1_ps(id);
        _mm256_storeu_si256((__m256i *)(xq + k),
                            _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v0, iv))));
        _mm256_storeu_si256((__m256i *)(xq + k + 16),
                            _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v1, iv))));
    }
}

static inline __m512 q8_block_i16(const unsigned char *b, __m512i xv, float dx, __m512 acc)
{
    __m512i qw = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + 2)));
    __m512 s = _mm512_cvtepi32_ps(_mm512_madd_epi16(qw, xv));
    return _mm512_fmadd_ps(s, _mm512_set1_ps(_cvtsh_ss(load_u16(b, 0)) * dx), acc);
}

static void rows_avx512_q8(float *y, const void *w, size_t K, const float *x, size_t r0, size_t r1)
{
    if (K > TS_Q8_MAX_K) {
        rows_scalar_q8(y, w, K, x, r0, r1);
        return;
    }
    int16_t xq[TS_Q8_MAX_K] __attribute__((aligned(64)));
    float dx[TS_Q8_MAX_K / QK];
    x_to_i16(x, K, xq, dx);
    const size_t nb = K / QK, rb = nb * Q8_BYTES;
    const unsigned char *base = w;
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const unsigned char *b = base + r * rb;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t k = 0; k < nb; k++) {
            const unsigned char *bk = b + k * Q8_BYTES;
            _mm_prefetch((const char *)b + 4 * rb + k * 4 * Q8_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)b + 4 * rb + k * 4 * Q8_BYTES + 64, _MM_HINT_T0);
            __m512i xv = _mm512_load_si512((const void *)(xq + k * QK));
            a0 = q8_block_i16(bk, xv, dx[k], a0);
            a1 = q8_block_i16(bk + rb, xv, dx[k], a1);
            a2 = q8_block_i16(bk + 2 * rb, xv, dx[k], a2);
            a3 = q8_block_i16(bk + 3 * rb, xv, dx[k], a3);
        }
        y[r] = _mm512_reduce_add_ps(a0), y[r + 1] = _mm512_reduce_add_ps(a1);
        y[r + 2] = _mm512_reduce_add_ps(a2), y[r + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; r < r1; r++) {
        const unsigned char *b = base + r * rb;
        __m512 a0 = _mm512_setzero_ps();
        for (size_t k = 0; k < nb; k++)
            a0 = q8_block_i16(b + k * Q8_BYTES, _mm512_load_si512((const void *)(xq + k * QK)),
                              dx[k], a0);
        y[r] = _mm512_reduce_add_ps(a0);
    }
}

static void to_f32_avx512_f16(const void *w, size_t i0, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, load16_f16(w, i0 + i));
    to_f32_scalar_f16(w, i0 + i, out + i, n - i);
}
static void to_f32_avx512_bf16(const void *w, size_t i0, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, load16_bf16(w, i0 + i));
    to_f32_scalar_bf16(w, i0 + i, out + i, n - i);
}
static void to_f32_avx512_q8(const void *w, size_t i0, float *out, size_t n)
{
    const unsigned char *b = (const unsigned char *)w + i0 / QK * Q8_BYTES;
    for (size_t i = 0; i < n; i += QK, b += Q8_BYTES) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss(load_u16(b, 0)));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(load16_i8(b + 2), d));
        _mm512_storeu_ps(out + i + 16, _mm512_mul_ps(load16_i8(b + 18), d));
    }
}

/* The scalar quantizer's arithmetic, 16 lanes: bit-identical blocks. */
static inline __m512 roundf16(__m512 v)
{
    __m512 a = _mm512_abs_ps(v);
    __m512 f = _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 two = _mm512_set1_ps(2.0f);
    __m512 r = _mm512_add_ps(f, _mm512_roundscale_ps(_mm512_mul_ps(two, _mm512_sub_ps(a, f)),
                                                     _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
    /* copy the sign of v */
    return _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(r),
                        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN))));
}

static void quantize_q8_avx512(const float *src, void *dst, size_t n)
{
    unsigned char *b = dst;
    for (size_t i = 0; i < n; i += QK, b += Q8_BYTES) {
        __m512 v0 = _mm512_loadu_ps(src + i), v1 = _mm512_loadu_ps(src + i + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t dh = ts_f32_to_f16(d);
        memcpy(b, &dh, sizeof dh);
        __m512 idv = _mm512_set1_ps(id);
        __m512i q0 = _mm512_cvttps_epi32(roundf16(_mm512_mul_ps(v0, idv)));
        __m512i q1 = _mm512_cvttps_epi32(roundf16(_mm512_mul_ps(v1, idv)));
        _mm_storeu_si128((__m128i *)(b + 2), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(b + 18), _mm512_cvtepi32_epi8(q1));
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

/*
 * One head of decode attention with head size 64 (every GPT-2 size): q and the
 * output stay in four registers; s[i] = scale * q . K[i] for the n keys, then
 * softmax, then o = sum_i s[i] V[i]. K[i] = k + i * stride (the cache rows).
 */
/* The first min(n, 16) lanes. */
static inline __mmask16 tail_mask(size_t n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* r[j] = the sum of v[j]'s 16 lanes, j < 16: a tree of unpacks and lane shuffles (45 ops for
 * 16 sums, where 16 _mm512_reduce_add_ps take ~130). */
static inline __m512 hsum16x16(const __m512 v[16])
{
    __m512 y[4];
    for (int g = 0; g < 4; g++) {
        const __m512 *w = v + 4 * g;
        __m512 x01 = _mm512_add_ps(_mm512_unpacklo_ps(w[0], w[1]), _mm512_unpackhi_ps(w[0], w[1]));
        __m512 x23 = _mm512_add_ps(_mm512_unpacklo_ps(w[2], w[3]), _mm512_unpackhi_ps(w[2], w[3]));
        __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(x01), _mm512_castps_pd(x23));
        __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(x01), _mm512_castps_pd(x23));
        y[g] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi)); /* per 128-bit lane */
    }
    __m512 z0 = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 z1 = _mm512_add_ps(_mm512_shuffle_f32x4(y[2], y[3], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(y[2], y[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(3, 1, 3, 1)));
}

static inline void transpose16(const float *src, size_t lds, float *dst, size_t ldd);

/* kt[d][i] = k[i * stride + d], d < 64, i < n, zeros up to round16(n) (see ts_attn_keys_t). */
static void keys_t64_avx512(float *kt, size_t ldkt, const float *k, size_t stride, size_t n)
{
    size_t i0 = 0;
    for (; i0 + 16 <= n; i0 += 16)
        for (size_t d0 = 0; d0 < 64; d0 += 16)
            transpose16(k + i0 * stride + d0, stride, kt + d0 * ldkt + i0, ldkt);
    if (i0 < n)
        for (size_t d = 0; d < 64; d++)
            for (size_t i = i0; i < i0 + 16; i++)
                kt[d * ldkt + i] = i < n ? k[i * stride + d] : 0.0f;
}

/*
 * nq <= 4 consecutive queries of one head (query r sees the first n + r keys) in one sweep:
 * each block of transposed keys (kt, [64][ldkt]) and each V row is loaded once for all of
 * them, where one query at a time re-read the whole causal prefix from L2 per (query, head)
 * pair (prefill attention was L2-bound, not FMA-bound).
 * Scores of keys a query does not see are dropped (mask) before the softmax and weigh 0 in P.V.
 * s: [4][round16(n + 3)] floats.
 */
static void attn64x4_avx512(float *o, size_t ldo, const float *q, size_t ldq, const float *kt,
                            size_t ldkt, const float *v, size_t stride, size_t n, size_t nq,
                            float scale, float *s)
{
    const size_t nk = n + nq - 1, ls = (nk + 15) & ~(size_t)15;
    __m512 mx[4];
    for (size_t r = 0; r < 4; r++)
        mx[r] = _mm512_set1_ps(-INFINITY);
    const __m512 sc = _mm512_set1_ps(scale);
    for (size_t i0 = 0; i0 < nk; i0 += 16) {
        /* transposed keys: the 16 scores of a query are 64 FMAs into one register (two chains),
           no horizontal sums (4 FMAs per key and query, where key rows took ~8 operations) */
        __m512 a[4], b[4];
        for (size_t r = 0; r < 4; r++)
            a[r] = b[r] = _mm512_setzero_ps();
        for (size_t d = 0; d < 64; d += 2) {
            const __m512 k0 = _mm512_loadu_ps(kt + d * ldkt + i0);
            const __m512 k1 = _mm512_loadu_ps(kt + (d + 1) * ldkt + i0);
            for (size_t r = 0; r < nq; r++) {
                a[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[r * ldq + d]), k0, a[r]);
                b[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[r * ldq + d + 1]), k1, b[r]);
            }
        }
        for (size_t r = 0; r < nq; r++) {
            const size_t seen = n + r > i0 ? n + r - i0 : 0;
            const __m512 sv = _mm512_mul_ps(_mm512_add_ps(a[r], b[r]), sc);
            _mm512_storeu_ps(s + r * ls + i0, sv);
            mx[r] = _mm512_mask_max_ps(mx[r], tail_mask(seen), mx[r], sv);
        }
    }
    float inv[4];
    for (size_t r = 0; r < nq; r++) {
        const __m512 mv = _mm512_set1_ps(_mm512_reduce_max_ps(mx[r]));
        __m512 sum = _mm512_setzero_ps();
        for (size_t i0 = 0; i0 < nk; i0 += 16) {
            const size_t seen = n + r > i0 ? n + r - i0 : 0;
            const __mmask16 m = tail_mask(seen);
            __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + r * ls + i0), mv));
            e = _mm512_maskz_mov_ps(m, e); /* unseen keys weigh 0 */
            _mm512_storeu_ps(s + r * ls + i0, e);
            sum = _mm512_add_ps(sum, e);
        }
        inv[r] = 1.0f / _mm512_reduce_add_ps(sum);
    }
    __m512 ov[4][4];
    for (size_t r = 0; r < 4; r++)
        for (size_t d = 0; d < 4; d++)
            ov[r][d] = _mm512_setzero_ps();
    for (size_t i = 0; i < nk; i++) {
        const float *vr = v + i * stride;
        const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16);
        const __m512 v2 = _mm512_loadu_ps(vr + 32), v3 = _mm512_loadu_ps(vr + 48);
        for (size_t r = 0; r < 4; r++) {
            if (r >= nq) break;
            const __m512 p = _mm512_set1_ps(s[r * ls + i]);
            ov[r][0] = _mm512_fmadd_ps(p, v0, ov[r][0]);
            ov[r][1] = _mm512_fmadd_ps(p, v1, ov[r][1]);
            ov[r][2] = _mm512_fmadd_ps(p, v2, ov[r][2]);
            ov[r][3] = _mm512_fmadd_ps(p, v3, ov[r][3]);
        }
    }
    for (size_t r = 0; r < nq; r++) {
        const __m512 iv = _mm512_set1_ps(inv[r]);
        for (size_t d = 0; d < 4; d++)
            _mm512_storeu_ps(o + r * ldo + 16 * d, _mm512_mul_ps(ov[r][d], iv));
    }
}

/*
 * Decode attention of one query for heads [h0, h1) at once (head size 64): blocks of 16 cached
 * rows, every head of the range inside each block, so that a block's rows (each a contiguous run
 * of the range's heads) are read together, where one head at a time swept all n rows for its
 * 256 bytes of each (at 1,000 positions attention was 2.8 of 8.1 ms per distilgpt2 F16 token).
 * Scores per head (the transposing tree), softmax (s left as the probabilities), then P.V with
 * each head's output accumulated block by block (two sets inside a block: the FMA chain limited
 * a one-set loop). s: [h1 - h0][round16(n)] floats, of which only the first n of each row are
 * written (one head: n floats — ts_attn_head_f32 runs this with h0 = 0, h1 = 1).
 */
static void attn64_decode_avx512(float *o, const float *q, const float *k, const float *v,
                                 size_t stride, size_t n, size_t h0, size_t h1, float scale,
                                 float *s)
{
    const size_t ls = (n + 15) & ~(size_t)15;
    const __m512 sc = _mm512_set1_ps(scale);
    for (size_t i0 = 0; i0 < n; i0 += 16) {
        const size_t cnt = n - i0 < 16 ? n - i0 : 16;
        for (size_t h = h0; h < h1; h++) {
            const float *qh = q + h * 64;
            const __m512 q0 = _mm512_loadu_ps(qh), q1 = _mm512_loadu_ps(qh + 16);
            const __m512 q2 = _mm512_loadu_ps(qh + 32), q3 = _mm512_loadu_ps(qh + 48);
            __m512 acc[16];
            for (size_t j = 0; j < 16; j++) {
                if (j >= cnt) {
                    acc[j] = _mm512_setzero_ps();
                    continue;
                }
                const float *kr = k + (i0 + j) * stride + h * 64;
                __m512 a = _mm512_mul_ps(q0, _mm512_loadu_ps(kr));
                __m512 b = _mm512_mul_ps(q2, _mm512_loadu_ps(kr + 32));
                a = _mm512_fmadd_ps(q1, _mm512_loadu_ps(kr + 16), a);
                b = _mm512_fmadd_ps(q3, _mm512_loadu_ps(kr + 48), b);
                acc[j] = _mm512_add_ps(a, b);
            }
            _mm512_mask_storeu_ps(s + (h - h0) * ls + i0, tail_mask(cnt),
                                  _mm512_mul_ps(hsum16x16(acc), sc));
        }
    }
    for (size_t h = h0; h < h1; h++) {
        float *sh = s + (h - h0) * ls;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (size_t i0 = 0; i0 < n; i0 += 16) {
            const __mmask16 m = tail_mask(n - i0);
            mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, sh + i0));
        }
        const __m512 mv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 sum = _mm512_setzero_ps();
        for (size_t i0 = 0; i0 < n; i0 += 16) {
            const __mmask16 m = tail_mask(n - i0);
            __m512 e =
                _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sh + i0), mv)));
            _mm512_mask_storeu_ps(sh + i0, m, e); /* n floats only: see the scratch above */
            sum = _mm512_add_ps(sum, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        for (size_t i0 = 0; i0 < n; i0 += 16) {
            const __mmask16 m = tail_mask(n - i0);
            _mm512_mask_storeu_ps(sh + i0, m,
                                  _mm512_mul_ps(_mm512_maskz_loadu_ps(m, sh + i0), inv));
        }
        for (size_t d = 0; d < 64; d += 16)
            _mm512_storeu_ps(o + h * 64 + d, _mm512_setzero_ps());
    }
    for (size_t i0 = 0; i0 < n; i0 += 16) {
        const size_t cnt = n - i0 < 16 ? n - i0 : 16;
        for (size_t h = h0; h < h1; h++) {
            const float *p = s + (h - h0) * ls + i0;
            float *oh = o + h * 64;
            __m512 o0 = _mm512_loadu_ps(oh), o1 = _mm512_loadu_ps(oh + 16);
            __m512 o2 = _mm512_loadu_ps(oh + 32), o3 = _mm512_loadu_ps(oh + 48);
            __m512 u0 = _mm512_setzero_ps(), u1 = u0, u2 = u0, u3 = u0;
            size_t j = 0;
            for (; j + 2 <= cnt; j += 2) {
                const float *vr = v + (i0 + j) * stride + h * 64, *vs = vr + stride;
                const __m512 a = _mm512_set1_ps(p[j]), b = _mm512_set1_ps(p[j + 1]);
                o0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr), o0);
                o1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr + 16), o1);
                o2 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr + 32), o2);
                o3 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr + 48), o3);
                u0 = _mm512_fmadd_ps(b, _mm512_loadu_ps(vs), u0);
                u1 = _mm512_fmadd_ps(b, _mm512_loadu_ps(vs + 16), u1);
                u2 = _mm512_fmadd_ps(b, _mm512_loadu_ps(vs + 32), u2);
                u3 = _mm512_fmadd_ps(b, _mm512_loadu_ps(vs + 48), u3);
            }
            if (j < cnt) {
                const float *vr = v + (i0 + j) * stride + h * 64;
                const __m512 a = _mm512_set1_ps(p[j]);
                o0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr), o0);
                o1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr + 16), o1);
                o2 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr + 32), o2);
                o3 = _mm512_fmadd_ps(a, _mm512_loadu_ps(vr + 48), o3);
            }
            _mm512_storeu_ps(oh, _mm512_add_ps(o0, u0));
            _mm512_storeu_ps(oh + 16, _mm512_add_ps(o1, u1));
            _mm512_storeu_ps(oh + 32, _mm512_add_ps(o2, u2));
            _mm512_storeu_ps(oh + 48, _mm512_add_ps(o3, u3));
        }
    }
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

/* gelu_new of 16 lanes: v / (1 + exp(-2u)), u = sqrt(2/pi) (v + 0.044715 v^3). */
static inline __m512 gelu16(__m512 v)
{
    const __m512 k2 = _mm512_set1_ps(-2.0f * GELU_K), c = _mm512_set1_ps(0.044715f);
    __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
    __m512 m2u = _mm512_mul_ps(k2, _mm512_fmadd_ps(c, v3, v));
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(m2u)));
}

static void gelu_avx512(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, gelu16(_mm512_loadu_ps(x + i)));
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
 * Prefill GEMMs (AVX-512 only; other ISAs use OpenBLAS from model.c).
 *
 * gemm_xw: Y[T][n0:n1] += X[T][K] . W[K][n0:n1]. Micro-tile MR rows x 32
 *   columns in 2*MR zmm accumulators; per k: two loads of the F32 panel,
 *   MR broadcasts of X, 2*MR FMAs. Column panels of 32 are the outer loop:
 *   each K x 32 panel of W is read from DRAM once, as F32 [K][32] (packed
 *   from the row-major matrix, widened from a converted panel, or used in
 *   place when W is an F32 panel), and served from L2 (<= 384 KB) to every
 *   row block. Column tails are masked.
 * gemm_wx: Y[T][r] = X[t] . W[r] for W (rows, K): 4 x 4 tiles of dot products,
 *   vectorised along K, reduced at the end; blocks of 64 rows of W (<= 192 KB)
 *   stay in L2 across all of X. Q8_0 rows are dequantized 32 at a time into the
 *   scratch first. A Q8_0 Conv1D matrix (TS_LAYOUT_COLS: rows are output
 *   columns) is dequantized 32 columns at a time and transposed into an F32
 *   [K][32] panel for gemm_xw's tiles (2x the speed of dot-product tiles).
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

/* What a prefill tile does with its sums: see ts_gemm_epi; bias: the tile's first column's. */
typedef struct tile_epi {
    const float *bias; /* NULL: none */
    ts_gemm_epi mode;
} tile_epi;

/* Row y of a tile: its two 16-column sums a0, a1 (columns masked by m0, m1) out as `e` says. */
static inline __attribute__((always_inline)) void
tile_out(float *y, __m512 a0, __m512 a1, __mmask16 m0, __mmask16 m1, const tile_epi *e)
{
    if (e->bias) {
        a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, e->bias));
        a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, e->bias + 16));
    }
    if (e->mode == TS_GEMM_ADD) {
        a0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, y), a0);
        a1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, y + 16), a1);
    } else if (e->mode == TS_GEMM_GELU) {
        a0 = gelu16(a0);
        a1 = gelu16(a1);
    }
    _mm512_mask_storeu_ps(y, m0, a0);
    _mm512_mask_storeu_ps(y + 16, m1, a1);
}

static inline __attribute__((always_inline)) void xw_tile(float *Y, size_t ldy, const float *X,
                                                          size_t ldx, const float *panel, size_t K,
                                                          __mmask16 m0, __mmask16 m1,
                                                          const tile_epi *e, const int MR)
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
    for (int i = 0; i < MR; i++)
        tile_out(Y + (size_t)i * ldy, acc[i][0], acc[i][1], m0, m1, e);
}

/*
 * What the next panel will read, fetched into L2 while this one computes: `rows`
 * pieces of `bytes` bytes, `stride` apart (a strided column block of row-major W,
 * or one contiguous run with stride = bytes). Packing reads the weights from
 * memory; without this, that read and the tiles' arithmetic take turns (F32
 * prefill GEMMs ran at ~78 % of the FMA peak).
 */
typedef struct next_reads {
    const char *base; /* NULL: nothing to fetch */
    size_t stride, rows, bytes;
} next_reads;

/* The share [a, b) of `n` of the rows (called for consecutive shares as the tiles go). */
static inline void prefetch_part(const next_reads *nx, size_t a, size_t b, size_t n)
{
    if (!nx || !nx->base) return;
    const size_t r0 = nx->rows * a / n, r1 = nx->rows * b / n;
    for (size_t r = r0; r < r1; r++)
        for (size_t o = 0; o < nx->bytes; o += 64)
            _mm_prefetch(nx->base + r * nx->stride + o, _MM_HINT_T1);
}

/* The next `want` (<= 32) rows of `row_bytes` each at `base`, as one contiguous run. */
static inline next_reads next_rows(const void *base, size_t row_bytes, size_t want)
{
    next_reads nx = {want ? (const char *)base : NULL, 64, (want * row_bytes + 63) / 64, 64};
    return nx;
}

/* Y[T][j:j+32] += X . panel for one F32 panel [K][32] (64-byte aligned). */
static void xw_panel_tiles(float *Y, const float *X, size_t T, size_t K, size_t N, size_t j,
                           size_t left, const float *panel, const next_reads *nx,
                           const tile_epi *ep)
{
    __mmask16 m0 = tail_mask(left), m1 = left > 16 ? tail_mask(left - 16) : 0;
    const tile_epi e = {ep->bias ? ep->bias + j : NULL, ep->mode};
    size_t t = 0;
    for (; t + 8 <= T; t += 8) {
        prefetch_part(nx, t, t + 8, T);
        xw_tile(Y + t * N + j, N, X + t * K, K, panel, K, m0, m1, &e, 8);
    }
    for (; t + 4 <= T; t += 4) {
        prefetch_part(nx, t, t + 4, T);
        xw_tile(Y + t * N + j, N, X + t * K, K, panel, K, m0, m1, &e, 4);
    }
    for (; t < T; t++) {
        prefetch_part(nx, t, t + 1, T);
        xw_tile(Y + t * N + j, N, X + t * K, K, panel, K, m0, m1, &e, 1);
    }
}

/*
 * Row-major W: its columns are N apart (9-12 KB for GPT-2: a multiple of 4 KB,
 * so an unpacked K x 32 column panel would fall into a few cache sets and
 * thrash). Each panel is therefore first packed, widened to F32, into scratch.
 */
static inline __attribute__((always_inline)) void gemm_xw_rows(float *Y, const float *X, size_t T,
                                                               const ts_mat *W, size_t n0,
                                                               size_t n1, float *panel,
                                                               const tile_epi *e, const ts_dtype dt)
{
    const size_t N = W->cols, K = W->rows, es = dt == TS_DTYPE_F32 ? 4 : 2;
    for (size_t j = n0; j < n1; j += 32) {
        size_t left = n1 - j;
        __mmask16 m0 = tail_mask(left), m1 = left > 16 ? tail_mask(left - 16) : 0;
        for (size_t k = 0; k < K; k++) {
            _mm512_store_ps(panel + 32 * k, load16m(W->data, k * N + j, dt, m0));
            _mm512_store_ps(panel + 32 * k + 16, load16m(W->data, k * N + j + 16, dt, m1));
        }
        next_reads nx = {NULL, N * es, K, 32 * es};
        if (j + 32 < n1) nx.base = (const char *)W->data + (j + 32) * es;
        xw_panel_tiles(Y, X, T, K, N, j, left, panel, &nx, e);
    }
}

/* dst[i * ldd + r] = src[r * lds + i] for r, i < 16: a 16 x 16 transpose in registers. */
static inline void transpose16(const float *src, size_t lds, float *dst, size_t ldd)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(src + (size_t)i * lds);
    for (int i = 0; i < 16; i += 2) { /* 2 x 2 blocks */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* 4 x 4 blocks within each 128-bit lane */
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) { /* the lanes */
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
    for (int i = 0; i < 16; i++)
        _mm512_storeu_ps(dst + (size_t)i * ldd, r[i]);
}

#ifdef __AVX512VNNI__
/*
 * Q8_0 prefill with integer dot products (AVX512-VNNI vpdpwssd): the rows of X
 * are rounded to int16 per block of 32 exactly as the decode GEMVs round x
 * (x_to_i16: dx = max|x| / 32767), the weights' int8 are widened to int16 in a
 * packed panel, and each block's 32 products per output are summed exactly in
 * int32, then scaled by d_w * dx into an F32 accumulator. So prefill and decode
 * see the same x (tests/test_bundled_model.c: within 1e-3 of each other) and
 * one vpdpwssd does 32 multiply-adds where vfmadd231ps does 16.
 *
 * Panel of 32 outputs j..j+31, per block kb: pw[kb][16 pairs g][32 n] int32
 * words each holding (w[n][32kb+2g], w[n][32kb+2g+1]) as int16, and
 * dw[kb][32] the F32 block scales (0 past the matrix's last column).
 */
#define Q8G_ROWS 128 /* rows of X quantized at a time (scratch: K * 96 floats in all) */

static void q8_pack_panel(const unsigned char *w, size_t rb, size_t nb, size_t nr, int32_t *pw,
                          float *dw)
{
    /* Row by row (one sequential stream each; 32 rows read block by block are 32 streams
       and miss): pw[kb][n][16 words], then each block transposed in place. */
    for (size_t n = 0; n < 32; n++)
        for (size_t kb = 0; kb < nb; kb++) {
            int32_t *d = pw + (kb * 32 + n) * 16;
            if (n < nr) {
                const unsigned char *b = w + n * rb + kb * Q8_BYTES;
                _mm512_store_si512(
                    (void *)d, _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + 2))));
                dw[kb * 32 + n] = _cvtsh_ss(load_u16(b, 0));
            } else {
                _mm512_store_si512((void *)d, _mm512_setzero_si512());
                dw[kb * 32 + n] = 0.0f;
            }
        }
    int32_t tmp[32][16] __attribute__((aligned(64)));
    for (size_t kb = 0; kb < nb; kb++) { /* [n][g] -> [g][n]: two 16 x 16 word transposes */
        float *blk = (float *)(pw + kb * 16 * 32);
        memcpy(tmp, blk, sizeof tmp);
        transpose16((const float *)&tmp[0][0], 16, blk, 32);
        transpose16((const float *)&tmp[16][0], 16, blk + 16, 32);
    }
}

static inline __attribute__((always_inline)) void
q8_tile(float *Y, size_t ldy, const int16_t *xq, size_t K, const float *dx, const int32_t *pw,
        const float *dw, size_t nb, __mmask16 m0, __mmask16 m1, const tile_epi *e, const int MR)
{
    __m512 acc[6][2];
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (size_t kb = 0; kb < nb; kb++) {
        __m512i ia[6][2];
        for (int i = 0; i < MR; i++)
            ia[i][0] = ia[i][1] = _mm512_setzero_si512();
        const int32_t *p = pw + kb * 16 * 32;
        const int16_t *xb = xq + kb * QK;
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            __m512i b0 = _mm512_load_si512((const void *)(p + g * 32));
            __m512i b1 = _mm512_load_si512((const void *)(p + g * 32 + 16));
            for (int i = 0; i < MR; i++) {
                int32_t pair;
                memcpy(&pair, xb + (size_t)i * K + 2 * g, sizeof pair);
                __m512i a = _mm512_set1_epi32(pair);
                ia[i][0] = _mm512_dpwssd_epi32(ia[i][0], a, b0);
                ia[i][1] = _mm512_dpwssd_epi32(ia[i][1], a, b1);
            }
        }
        __m512 d0 = _mm512_load_ps(dw + kb * 32), d1 = _mm512_load_ps(dw + kb * 32 + 16);
        for (int i = 0; i < MR; i++) {
            __m512 sx = _mm512_set1_ps(dx[(size_t)i * nb + kb]);
            acc[i][0] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[i][0]), _mm512_mul_ps(d0, sx), acc[i][0]);
            acc[i][1] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[i][1]), _mm512_mul_ps(d1, sx), acc[i][1]);
        }
    }
    for (int i = 0; i < MR; i++)
        tile_out(Y + (size_t)i * ldy, acc[i][0], acc[i][1], m0, m1, e);
}

/* Y[T][n0:n1] += X . W for W (K, N) Q8_0 in TS_LAYOUT_COLS; K a multiple of 32. */
static void gemm_xw_q8_vnni(float *Y, const float *X, size_t T, const ts_mat *W, size_t n0,
                            size_t n1, const tile_epi *ep, float *scratch)
{
    const size_t K = W->rows, N = W->cols, nb = K / QK, rb = nb * Q8_BYTES;
    int32_t *pw = (int32_t *)scratch;                /* K * 16 words */
    float *dw = scratch + K * 16;                    /* K floats */
    int16_t *xq = (int16_t *)(scratch + K * 17);     /* Q8G_ROWS * K int16 */
    float *dx = scratch + K * 17 + Q8G_ROWS * K / 2; /* Q8G_ROWS * nb (< K * 96 in all) */
    for (size_t t0 = 0; t0 < T; t0 += Q8G_ROWS) {
        const size_t tn = T - t0 < Q8G_ROWS ? T - t0 : Q8G_ROWS;
        for (size_t t = 0; t < tn; t++)
            x_to_i16(X + (t0 + t) * K, K, xq + t * K, dx + t * nb);
        for (size_t j = n0; j < n1; j += 32) {
            const size_t nr = n1 - j < 32 ? n1 - j : 32;
            const __mmask16 m0 = tail_mask(nr), m1 = nr > 16 ? tail_mask(nr - 16) : 0;
            q8_pack_panel((const unsigned char *)W->data + j * rb, rb, nb, nr, pw, dw);
            const size_t left = n1 - j - nr; /* the next panel's rows */
            next_reads nx =
                next_rows((const char *)W->data + (j + nr) * rb, rb, left < 32 ? left : 32);
            float *y = Y + t0 * N + j;
            const tile_epi e = {ep->bias ? ep->bias + j : NULL, ep->mode};
            size_t t = 0;
            for (; t + 6 <= tn; t += 6) { /* 6 x 32: 24 of the 32 vector registers accumulate */
                prefetch_part(&nx, t, t + 6, tn);
                q8_tile(y + t * N, N, xq + t * K, K, dx + t * nb, pw, dw, nb, m0, m1, &e, 6);
            }
            for (; t + 2 <= tn; t += 2) {
                prefetch_part(&nx, t, t + 2, tn);
                q8_tile(y + t * N, N, xq + t * K, K, dx + t * nb, pw, dw, nb, m0, m1, &e, 2);
            }
            for (; t < tn; t++) {
                prefetch_part(&nx, t, t + 1, tn);
                q8_tile(y + t * N, N, xq + t * K, K, dx + t * nb, pw, dw, nb, m0, m1, &e, 1);
            }
        }
    }
}
#endif /* __AVX512VNNI__ */

/*
 * Y[t][r] (= with `overwrite`, else +=) X[t] . W[r] for rows r in [r0, r1) of W (rows
 * of K elements, row-major: the vocabulary projection, or a Conv1D matrix stored transposed).
 * 32 rows at a time are widened to F32 and transposed into a panel [K][32] (16 x 16 register
 * transposes), then swept by the Conv1D GEMM's 8 x 32 tiles while the next 32 rows are
 * prefetched. (4 x 4 tiles of dot products reduced at the end ran at ~68 % of the FMA peak.)
 * scratch: [32][K] rows, then the [K][32] panel (64-byte aligned: K * 128 bytes in).
 */
static void gemm_rows_panels(float *Y, size_t ldy, const float *X, size_t T, const ts_mat *W,
                             size_t r0, size_t r1, const tile_epi *e, float *scratch)
{
    const size_t K = W->cols, k16 = K & ~(size_t)15, row_bytes = ts_dtype_row_bytes(W->dtype, K);
    float *rows = scratch, *panel = scratch + K * 32;
    for (size_t r = r0; r < r1; r += 32) {
        const size_t nr = r1 - r < 32 ? r1 - r : 32, left = r1 - r - nr;
        ts_mat_row_f32(W, r, 0, nr * K, rows); /* rows r .. r+nr are contiguous */
        memset(rows + nr * K, 0, (32 - nr) * K * sizeof *rows);
        for (size_t k = 0; k < k16; k += 16) { /* panel[k][i] = rows[i][k] */
            transpose16(rows + k, K, panel + k * 32, 32);
            transpose16(rows + 16 * K + k, K, panel + k * 32 + 16, 32);
        }
        for (size_t k = k16; k < K; k++)
            for (size_t i = 0; i < 32; i++)
                panel[k * 32 + i] = rows[i * K + k];
        next_reads nx = next_rows((const char *)W->data + (r + nr) * row_bytes, row_bytes,
                                  left < 32 ? left : 32);
        xw_panel_tiles(Y, X, T, K, ldy, r, nr, panel, &nx, e);
    }
}

static void gemm_wx_avx512(float *Y, size_t ldy, const float *X, size_t T, const ts_mat *W,
                           size_t r0, size_t r1, float *scratch)
{
    gemm_rows_panels(Y, ldy, X, T, W, r0, r1, &(tile_epi){NULL, TS_GEMM_STORE}, scratch);
}

static void gemm_xw_avx512(float *Y, const float *X, size_t T, const ts_mat *W, size_t n0,
                           size_t n1, const tile_epi *e, float *scratch)
{
    const size_t K = W->rows, N = W->cols;
    switch (W->layout) {
    case TS_LAYOUT_ROWS:
        switch (W->dtype) {
        case TS_DTYPE_F16:
            gemm_xw_rows(Y, X, T, W, n0, n1, scratch, e, TS_DTYPE_F16);
            return;
        case TS_DTYPE_BF16:
            gemm_xw_rows(Y, X, T, W, n0, n1, scratch, e, TS_DTYPE_BF16);
            return;
        default:
            gemm_xw_rows(Y, X, T, W, n0, n1, scratch, e, TS_DTYPE_F32);
            return;
        }
    case TS_LAYOUT_PANELS: {
        const size_t panel_bytes = ts_dtype_row_bytes(W->dtype, K * TS_PANEL);
        for (size_t j = n0; j < n1; j += TS_PANEL) {
            size_t off = j / TS_PANEL * K * TS_PANEL;
            const float *panel = scratch;
            if (W->dtype == TS_DTYPE_F32)
                panel = (const float *)W->data + off;
            else if (W->dtype == TS_DTYPE_F16)
                to_f32_avx512_f16(W->data, off, scratch, K * TS_PANEL);
            else
                to_f32_avx512_bf16(W->data, off, scratch, K * TS_PANEL);
            /* the next panel (contiguous) into L2 while this one's tiles run */
            next_reads nx = next_rows((const char *)W->data + (j / TS_PANEL + 1) * panel_bytes,
                                      panel_bytes, j + TS_PANEL < n1);
            xw_panel_tiles(Y, X, T, K, N, j, n1 - j, panel, &nx, e);
        }
        return;
    }
    case TS_LAYOUT_COLS: /* rows of the transpose are output columns */
#ifdef __AVX512VNNI__
        if (W->dtype == TS_DTYPE_Q8_0 && ts_gemm_q8_int16()) {
            gemm_xw_q8_vnni(Y, X, T, W, n0, n1, e, scratch);
            return;
        }
#endif
        /* otherwise output column j is row j of the stored transpose (N rows of K) */
        gemm_rows_panels(Y, N, X, T, &(ts_mat){W->data, W->dtype, N, K, TS_LAYOUT_ROWS}, n0, n1, e,
                         scratch);
        return;
    }
}

/*
 * LayerNorm rows as the scalar loop computes them (mean and variance summed in
 * double, two passes; then ((x - m) * rstd) * w + b in F32), with the sums in
 * 4 x 8 double lanes instead of one chain: the scalar loop's dependent double
 * adds took 1.4 us per 768-wide row, 2 % of a prefill.
 */
static double hsum_pd(__m512d a, __m512d b, __m512d c, __m512d d)
{
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a, b), _mm512_add_pd(c, d)));
}

static void layernorm_avx512(float *out, const float *inp, const float *w, const float *b, size_t T,
                             size_t C, float eps)
{
    const size_t c32 = C & ~(size_t)31, c16 = C & ~(size_t)15;
    for (size_t t = 0; t < T; t++) {
        const float *x = inp + t * C;
        float *o = out + t * C;
        __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
        size_t i = 0;
        for (; i < c32; i += 32) {
            s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm256_loadu_ps(x + i)));
            s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8)));
            s2 = _mm512_add_pd(s2, _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 16)));
            s3 = _mm512_add_pd(s3, _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 24)));
        }
        double mean = hsum_pd(s0, s1, s2, s3);
        for (; i < C; i++)
            mean += x[i];
        mean /= (double)C;
        const __m512d mv = _mm512_set1_pd(mean);
        s0 = s1 = s2 = s3 = _mm512_setzero_pd();
        for (i = 0; i < c32; i += 32) {
            __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)), mv);
            __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8)), mv);
            __m512d d2 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i + 16)), mv);
            __m512d d3 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i + 24)), mv);
            s0 = _mm512_fmadd_pd(d0, d0, s0);
            s1 = _mm512_fmadd_pd(d1, d1, s1);
            s2 = _mm512_fmadd_pd(d2, d2, s2);
            s3 = _mm512_fmadd_pd(d3, d3, s3);
        }
        double var = hsum_pd(s0, s1, s2, s3);
        for (; i < C; i++)
            var += ((double)x[i] - mean) * ((double)x[i] - mean);
        var /= (double)C;
        const float m = (float)mean, rstd = (float)(1.0 / sqrt(var + (double)eps));
        const __m512 m16 = _mm512_set1_ps(m), r16 = _mm512_set1_ps(rstd);
        for (i = 0; i < c16; i += 16) {
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), m16), r16);
            v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_loadu_ps(w + i)), _mm512_loadu_ps(b + i));
            _mm512_storeu_ps(o + i, v);
        }
        for (; i < C; i++)
            o[i] = (x[i] - m) * rstd * w[i] + b[i];
    }
}

#endif /* TS_HAVE_AVX512 */

/* ======================================================================== */
/* the traits table: one row per dtype                                      */
/* ======================================================================== */

typedef struct isa_kernels {
    to_f32_fn to_f32;
    rows_fn rows;
    xw_fn xw;     /* Conv1D in TS_LAYOUT_ROWS (NULL: the type is never stored so) */
    xw_fn panels; /* Conv1D in TS_LAYOUT_PANELS (NULL: never packed so) */
} isa_kernels;

typedef struct type_traits {
    const char *name;
    size_t block;       /* elements per block */
    size_t block_bytes; /* bytes per block */
    isa_kernels k[3];   /* by ts_isa; NULL entries fall back to the scalar row */
} type_traits;

static const type_traits k_traits[TS_DTYPE_COUNT] = {
    [TS_DTYPE_F32] = {"F32",
                      1,
                      4,
                      {
                          [TS_ISA_SCALAR] = {to_f32_scalar_f32, rows_scalar_f32, xw_scalar_f32,
                                             panels_scalar_f32},
#ifdef TS_HAVE_AVX2
                          [TS_ISA_AVX2] = {to_f32_scalar_f32, rows_avx2_f32, xw_avx2_f32,
                                           panels_avx2_f32},
#endif
#ifdef TS_HAVE_AVX512
                          [TS_ISA_AVX512] = {to_f32_scalar_f32, rows_avx512_f32, xw_avx512_f32,
                                             panels_avx512_f32},
#endif
                      }},
    [TS_DTYPE_F16] = {"F16",
                      1,
                      2,
                      {
                          [TS_ISA_SCALAR] = {to_f32_scalar_f16, rows_scalar_f16, xw_scalar_f16,
                                             panels_scalar_f16},
#ifdef TS_HAVE_AVX2
                          [TS_ISA_AVX2] = {to_f32_avx2_f16, rows_avx2_f16, xw_avx2_f16,
                                           panels_avx2_f16},
#endif
#ifdef TS_HAVE_AVX512
                          [TS_ISA_AVX512] = {to_f32_avx512_f16, rows_avx512_f16, xw_avx512_f16,
                                             panels_avx512_f16},
#endif
                      }},
    [TS_DTYPE_BF16] = {"BF16",
                       1,
                       2,
                       {
                           [TS_ISA_SCALAR] = {to_f32_scalar_bf16, rows_scalar_bf16, xw_scalar_bf16,
                                              panels_scalar_bf16},
#ifdef TS_HAVE_AVX2
                           [TS_ISA_AVX2] = {to_f32_avx2_bf16, rows_avx2_bf16, xw_avx2_bf16,
                                            panels_avx2_bf16},
#endif
#ifdef TS_HAVE_AVX512
                           [TS_ISA_AVX512] = {to_f32_avx512_bf16, rows_avx512_bf16, xw_avx512_bf16,
                                              panels_avx512_bf16},
#endif
                       }},
    [TS_DTYPE_Q8_0] = {"Q8_0",
                       QK,
                       Q8_BYTES,
                       {
                           [TS_ISA_SCALAR] = {to_f32_scalar_q8, rows_scalar_q8, NULL, NULL},
#ifdef TS_HAVE_AVX2
                           [TS_ISA_AVX2] = {to_f32_scalar_q8, rows_avx2_q8, NULL, NULL},
#endif
#ifdef TS_HAVE_AVX512
                           [TS_ISA_AVX512] = {to_f32_avx512_q8, rows_avx512_q8, NULL, NULL},
#endif
                       }},
};

/* ======================================================================== */
/* dispatch                                                                 */
/* ======================================================================== */

/* Resolved once (pthread_once); ts_kernels_force_isa (tests, bench) overrides. */
static atomic_int g_isa = -1;
static pthread_once_t g_isa_once = PTHREAD_ONCE_INIT;

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

static bool g_vnni; /* AVX512-VNNI (vpdpwssd): set with the ISA, under g_isa_once */

static void resolve_isa(void)
{
#if defined(TS_HAVE_AVX512) && defined(__AVX512VNNI__)
    g_vnni = __builtin_cpu_supports("avx512vnni");
#endif
    int best = isa_available(TS_ISA_AVX512) ? TS_ISA_AVX512
               : isa_available(TS_ISA_AVX2) ? TS_ISA_AVX2
                                            : TS_ISA_SCALAR;
    int unset = -1;
    atomic_compare_exchange_strong(&g_isa, &unset, best);
}

ts_isa ts_kernels_isa(void)
{
    int isa = atomic_load_explicit(&g_isa, memory_order_relaxed);
    if (isa < 0) {
        pthread_once(&g_isa_once, resolve_isa);
        isa = atomic_load(&g_isa);
    }
    return (ts_isa)isa;
}

bool ts_kernels_force_isa(ts_isa isa)
{
    if (!isa_available(isa)) return false;
    pthread_once(&g_isa_once, resolve_isa);
    atomic_store(&g_isa, (int)isa);
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

const char *ts_engine_isa_name(void)
{
    return ts_isa_name(ts_kernels_isa());
}

/* The kernels of dt for the current ISA, each falling back to the scalar one. */
static isa_kernels kernels_of(ts_dtype dt)
{
    const type_traits *t = &k_traits[dt];
    isa_kernels k = t->k[ts_kernels_isa()], s = t->k[TS_ISA_SCALAR];
    if (!k.to_f32) k.to_f32 = s.to_f32;
    if (!k.rows) k.rows = s.rows;
    if (!k.xw) k.xw = s.xw;
    if (!k.panels) k.panels = s.panels;
    return k;
}

void ts_mat_row_f32(const ts_mat *W, size_t row, size_t col0, size_t n, float *out)
{
    if (W->layout == TS_LAYOUT_ROWS) {
        kernels_of(W->dtype).to_f32(W->data, row * W->cols + col0, out, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = mat_at(W, row, col0 + i);
}

void ts_mat_cols_f32(const ts_mat *W, size_t c0, size_t cw, float *out)
{
    const size_t K = W->rows;
    if (W->layout == TS_LAYOUT_ROWS) {
        to_f32_fn f = kernels_of(W->dtype).to_f32;
        if (ts_dtype_block(W->dtype) == 1) {
            for (size_t k = 0; k < K; k++)
                f(W->data, k * W->cols + c0, out + k * cw, cw);
            return;
        }
    }
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < cw; j++)
            out[k * cw + j] = mat_at(W, k, c0 + j);
}

void ts_convert_f32(ts_dtype dt, const float *src, void *dst, size_t n)
{
    switch (dt) {
    case TS_DTYPE_F32:
        memcpy(dst, src, n * sizeof *src);
        return;
    case TS_DTYPE_F16: {
        size_t i = 0;
        uint16_t *h = dst;
#ifdef TS_HAVE_AVX512
        if (ts_kernels_isa() == TS_ISA_AVX512)
            for (; i + 16 <= n; i += 16)
                _mm256_storeu_si256((__m256i *)(h + i),
                                    _mm512_cvtps_ph(_mm512_loadu_ps(src + i),
                                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
        for (; i < n; i++)
            h[i] = ts_f32_to_f16(src[i]);
        return;
    }
    case TS_DTYPE_BF16: {
        uint16_t *h = dst;
        for (size_t i = 0; i < n; i++)
            h[i] = ts_f32_to_bf16(src[i]);
        return;
    }
    case TS_DTYPE_Q8_0:
#ifdef TS_HAVE_AVX512
        if (ts_kernels_isa() == TS_ISA_AVX512) {
            quantize_q8_avx512(src, dst, n);
            return;
        }
#endif
        quantize_q8_scalar(src, dst, n);
        return;
    }
}

bool ts_gemm_q8_int16(void)
{
    pthread_once(&g_isa_once, resolve_isa); /* g_vnni (a forced ISA keeps its value) */
#if defined(TS_HAVE_AVX512) && defined(__AVX512VNNI__)
    return g_vnni && ts_kernels_isa() == TS_ISA_AVX512;
#else
    (void)g_vnni; /* no integer GEMM compiled in */
    return false;
#endif
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
                const float *bias, ts_gemm_epi epi, float *scratch)
{
#ifdef TS_HAVE_AVX512
    if (ts_kernels_isa() == TS_ISA_AVX512) {
        gemm_xw_avx512(Y, X, T, W, n0, n1, &(tile_epi){bias, epi}, scratch);
        return;
    }
#endif
    (void)scratch;
    /* Reference loop (the callers use OpenBLAS when !ts_gemm_available()). */
    for (size_t t = 0; t < T; t++)
        for (size_t j = n0; j < n1; j++) {
            float acc = 0.0f, *y = Y + t * W->cols + j;
            for (size_t k = 0; k < W->rows; k++)
                acc += X[t * W->rows + k] * mat_at(W, k, j);
            if (bias) acc += bias[j];
            *y = epi == TS_GEMM_ADD ? *y + acc : acc;
            if (epi == TS_GEMM_GELU) ts_gelu_new_f32(y, 1);
        }
}

void ts_gemm_wx(float *Y, size_t ldy, const float *X, size_t T, const ts_mat *W, size_t r0,
                size_t r1, float *scratch)
{
#ifdef TS_HAVE_AVX512
    if (ts_kernels_isa() == TS_ISA_AVX512) {
        gemm_wx_avx512(Y, ldy, X, T, W, r0, r1, scratch);
        return;
    }
#endif
    (void)scratch;
    /* Reference loop in F32 activations, like the AVX-512 GEMM (the callers use OpenBLAS). */
    for (size_t t = 0; t < T; t++)
        for (size_t r = r0; r < r1; r++) {
            float acc = 0.0f;
            for (size_t c = 0; c < W->cols; c++)
                acc += mat_at(W, r, c) * X[t * W->cols + c];
            Y[t * ldy + r] = acc;
        }
}

void ts_gemv_xw(float *y, const float *x, const ts_mat *W, size_t n0, size_t n1)
{
    isa_kernels k = kernels_of(W->dtype);
    switch (W->layout) {
    case TS_LAYOUT_ROWS:
        k.xw(y, x, W->data, W->rows, W->cols, n0, n1);
        return;
    case TS_LAYOUT_PANELS:
        k.panels(y, x, W->data, W->rows, W->cols, n0, n1);
        return;
    case TS_LAYOUT_COLS:
        k.rows(y, W->data, W->rows, x, n0, n1);
        return;
    }
}

void ts_splitk_block(size_t K, size_t c, size_t *k0, size_t *k1)
{
    const size_t chunks = (K + 7) / 8, a = chunks * c / TS_SPLITK * 8,
                 b = chunks * (c + 1) / TS_SPLITK * 8;
    *k0 = a < K ? a : K;
    *k1 = b < K ? b : K;
}

void ts_gemv_xw_block(float *part, const float *x, const ts_mat *W, size_t c)
{
    const size_t N = W->cols;
    size_t k0, k1;
    ts_splitk_block(W->rows, c, &k0, &k1);
    if (k0 >= k1) {
        memset(part, 0, N * sizeof *part);
        return;
    }
    kernels_of(W->dtype).xw(part, x + k0,
                            (const char *)W->data + ts_dtype_row_bytes(W->dtype, k0 * N), k1 - k0,
                            N, 0, N);
}

void ts_gemv_wx(float *y, const ts_mat *W, const float *x, size_t r0, size_t r1)
{
    kernels_of(W->dtype).rows(y, W->data, W->cols, x, r0, r1);
}

void ts_attn_decode_f32(float *o, const float *q, const float *k, const float *v, size_t stride,
                        size_t n, size_t h0, size_t h1, size_t hd, float scale, float *s)
{
#ifdef TS_HAVE_AVX512
    if (hd == 64 && ts_kernels_isa() == TS_ISA_AVX512) {
        attn64_decode_avx512(o, q, k, v, stride, n, h0, h1, scale, s);
        return;
    }
#endif
    for (size_t h = h0; h < h1; h++)
        ts_attn_head_f32(o + h * hd, q + h * hd, k + h * hd, v + h * hd, stride, n, hd, scale, s);
}

bool ts_attn_keys_t(float *kt, size_t ldkt, const float *k, size_t stride, size_t n, size_t hd)
{
#ifdef TS_HAVE_AVX512
    if (hd == 64 && ts_kernels_isa() == TS_ISA_AVX512) {
        keys_t64_avx512(kt, ldkt, k, stride, n);
        return true;
    }
#endif
    (void)kt, (void)ldkt, (void)k, (void)stride, (void)n, (void)hd;
    return false;
}

void ts_attn_heads4_f32(float *o, size_t ldo, const float *q, size_t ldq, const float *k,
                        const float *kt, size_t ldkt, const float *v, size_t stride, size_t n,
                        size_t nq, size_t hd, float scale, float *s)
{
#ifdef TS_HAVE_AVX512
    if (hd == 64 && kt && ts_kernels_isa() == TS_ISA_AVX512) {
        attn64x4_avx512(o, ldo, q, ldq, kt, ldkt, v, stride, n, nq, scale, s);
        return;
    }
#endif
    (void)kt, (void)ldkt;
    for (size_t r = 0; r < nq; r++)
        ts_attn_head_f32(o + r * ldo, q + r * ldq, k, v, stride, n + r, hd, scale, s);
}

void ts_attn_head_f32(float *o, const float *q, const float *k, const float *v, size_t stride,
                      size_t n, size_t hd, float scale, float *s)
{
    switch (ts_kernels_isa()) {
#ifdef TS_HAVE_AVX512
    case TS_ISA_AVX512:
        if (hd == 64) { /* the decode kernel on one head (q, k, v, o already at it) */
            attn64_decode_avx512(o, q, k, v, stride, n, 0, 1, scale, s);
            return;
        }
        break;
#endif
#ifdef TS_HAVE_AVX2
    case TS_ISA_AVX2:
        if (hd == 64) {
            attn64_avx2(o, q, k, v, stride, n, scale, s);
            return;
        }
        break;
#endif
    default:
        break;
    }
    for (size_t i = 0; i < n; i++)
        s[i] = ts_dot_f32(q, k + i * stride, hd) * scale;
    ts_softmax_f32(s, n);
    memset(o, 0, hd * sizeof *o);
    for (size_t i = 0; i < n; i++)
        ts_axpy_f32(o, s[i], v + i * stride, hd);
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
#ifdef TS_HAVE_AVX512
    if (ts_kernels_isa() == TS_ISA_AVX512) {
        layernorm_avx512(out, inp, w, b, T, C, eps);
        return;
    }
#endif
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
