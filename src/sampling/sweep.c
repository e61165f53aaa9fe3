/*
 * sweep.c — one logit vector seen at many temperatures: the top-k tokens
 * (ranked once by logit, which no temperature T > 0 can reorder), their
 * probability over the full vocabulary and renormalised within the k, and the
 * full-vocabulary entropy at every T. Pure numeric code: the caller runs the
 * single forward pass and owns every buffer.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* a ranks before b: larger logit first, lower id on ties. */
static bool ranks_before(const float *logits, int32_t a, int32_t b)
{
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

/* Sift down in a heap whose root is the WORST of the kept ids. */
static void sift_down(const float *logits, int32_t *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < n && ranks_before(logits, heap[worst], heap[l])) worst = l;
        if (r < n && ranks_before(logits, heap[worst], heap[r])) worst = r;
        if (worst == i) return;
        int32_t t = heap[i];
        heap[i] = heap[worst];
        heap[worst] = t;
        i = worst;
    }
}

ts_status ts_top_k_ids(const float *logits, size_t n, size_t k, int32_t *ids)
{
    if (n == 0 || k == 0 || k > n || n > (size_t)INT32_MAX) return TS_ERR_INVALID;
    /* Bounded heap of the best k seen so far: O(n log k), no allocation. */
    for (size_t i = 0; i < k; i++) ids[i] = (int32_t)i;
    for (size_t i = k / 2; i-- > 0;) sift_down(logits, ids, k, i);
    for (size_t i = k; i < n; i++) {
        if (ranks_before(logits, (int32_t)i, ids[0])) {
            ids[0] = (int32_t)i;
            sift_down(logits, ids, k, 0);
        }
    }
    /* Heap sort in place: repeatedly move the worst to the end. */
    for (size_t m = k; m > 1; m--) {
        int32_t t = ids[0];
        ids[0] = ids[m - 1];
        ids[m - 1] = t;
        sift_down(logits, ids, m - 1, 0);
    }
    return TS_OK;
}

/*
 * e^a for a <= 0, branch-free so the loop below vectorises (AVX2 / AVX-512
 * with -march=native): a = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of
 * ln2), e^r by its degree-13 Taylor polynomial (truncation < 5e-18 relative),
 * 2^n built in the exponent bits. Within 2 ulp of libm's exp on [-708, 0];
 * the caller maps a < -708 to 0 (those terms are below 1e-307 of the largest,
 * which is e^0 = 1).
 */
static inline double exp_nonpositive(double a)
{
    const double log2e = 1.4426950408889634074, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10, shifter = 0x1.8p52;
    double kd = a * log2e + shifter; /* round to nearest integer in the low bits */
    double n = kd - shifter;
    double r = (a - n * ln2_hi) - n * ln2_lo;
    double p = 1.0 / 6227020800.0;   /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits = ((int64_t)n + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/*
 * S = sum_i e^{a_i} and A = sum_i a_i e^{a_i} with a_i = (z_i - zmax) / T,
 * over 8 independent lanes (a fixed summation order, so results do not depend
 * on the vector width). -inf logits and a < -708 contribute exactly 0.
 */
static void sum_exp(const float *logits, size_t n, double zmax, double inv_t, double *S_out,
                    double *A_out)
{
    double s8[8] = {0}, a8[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (size_t j = 0; j < 8; j++) {
            double a = ((double)logits[i + j] - zmax) * inv_t;
            bool live = a >= -708.0; /* false for -inf (and NaN, excluded earlier) */
            double ac = live ? a : 0.0;
            double e = exp_nonpositive(ac);
            e = live ? e : 0.0;
            s8[j] += e;
            a8[j] += ac * e;
        }
    }
    double S = 0.0, A = 0.0;
    for (; i < n; i++) {
        double a = ((double)logits[i] - zmax) * inv_t;
        if (!(a >= -708.0)) continue;
        double e = exp_nonpositive(a);
        S += e;
        A += a * e;
    }
    for (size_t j = 0; j < 8; j++) {
        S += s8[j];
        A += a8[j];
    }
    *S_out = S;
    *A_out = A;
}

ts_status ts_sweep(const float *logits, size_t n_vocab, const double *temperatures, size_t n_temps,
                   size_t k, int32_t *top_ids, double *prob, double *prob_topk,
                   double *entropy_nats)
{
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, n_vocab, 1.0, &info);
    if (st != TS_OK) return st;
    st = ts_top_k_ids(logits, n_vocab, k, top_ids);
    if (st != TS_OK) return st;
    const double zmax = info.zmax;
    for (size_t t = 0; t < n_temps; t++) {
        const double T = temperatures[t];
        if (!(T >= 0.0)) return TS_ERR_INVALID; /* negative or NaN */
        double *pr = prob + t * k, *pk = prob_topk + t * k;
        if (T == 0.0) {
            /* One-hot on the first maximum, which ranks first. */
            for (size_t r = 0; r < k; r++) pr[r] = r == 0 ? 1.0 : 0.0;
            entropy_nats[t] = 0.0;
        } else if (isinf(T)) {
            double u = 1.0 / (double)info.n_finite;
            for (size_t r = 0; r < k; r++) pr[r] = isinf(logits[top_ids[r]]) ? 0.0 : u;
            entropy_nats[t] = log((double)info.n_finite);
        } else {
            /*
             * One pass, one exp per token, nothing written: with a_i = (z_i - zmax)/T,
             * S = sum e^a_i and A = sum a_i e^a_i, p_i = e^a_i / S and
             * H = -sum p_i log p_i = log S - A / S.
             */
            double S, A;
            sum_exp(logits, n_vocab, zmax, 1.0 / T, &S, &A);
            for (size_t r = 0; r < k; r++) {
                double a = ((double)logits[top_ids[r]] - zmax) * (1.0 / T);
                pr[r] = a >= -708.0 ? exp_nonpositive(a) / S : 0.0;
            }
            double h = log(S) - A / S;
            entropy_nats[t] = h > 0.0 ? h : 0.0; /* rounding can give -1e-17 */
        }
        double mass = 0.0;
        for (size_t r = 0; r < k; r++) mass += pr[r];
        /* mass == 0 only if every top-k logit is -inf: then none of them is possible. */
        for (size_t r = 0; r < k; r++) pk[r] = mass > 0.0 ? pr[r] / mass : 0.0;
    }
    return TS_OK;
}
