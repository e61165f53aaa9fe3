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
            double S = 0.0, A = 0.0, inv_t = 1.0 / T;
            for (size_t i = 0; i < n_vocab; i++) {
                double a = ((double)logits[i] - zmax) * inv_t;
                /* e^a underflows to 0 below -745 (and -inf logits land here):
                 * skip it, as libm's underflow path is slow and a*e would be NaN. */
                if (!(a > -745.0)) continue;
                double e = exp(a);
                S += e;
                A += a * e;
            }
            for (size_t r = 0; r < k; r++) pr[r] = exp(((double)logits[top_ids[r]] - zmax) / T) / S;
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
