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
                   double *entropy_nats, double *scratch)
{
    ts_status st = ts_top_k_ids(logits, n_vocab, k, top_ids);
    if (st != TS_OK) return st;
    for (size_t t = 0; t < n_temps; t++) {
        st = ts_softmax(logits, n_vocab, temperatures[t], scratch);
        if (st != TS_OK) return st;
        entropy_nats[t] = ts_entropy_nats(scratch, n_vocab);
        double mass = 0.0;
        for (size_t r = 0; r < k; r++) {
            prob[t * k + r] = scratch[top_ids[r]];
            mass += scratch[top_ids[r]];
        }
        for (size_t r = 0; r < k; r++) {
            /* mass == 0 only if every top-k logit is -inf: then none is possible. */
            prob_topk[t * k + r] = mass > 0.0 ? prob[t * k + r] / mass : 0.0;
        }
    }
    return TS_OK;
}
