/*
 * sampler.c — the sampler chain: temperature, top-k, top-p, min-p, draw.
 *
 * Both orders are one pipeline. Every truncation step keeps a prefix of the
 * tokens ranked by (logit descending, id ascending) — that ranking does not
 * depend on T for 0 < T < inf — so the only thing the order changes is the
 * distribution the truncation steps look at:
 *   HF order     top-p / min-p see softmax(z / T)  (temperature came first)
 *   llama order  top-p / min-p see softmax(z)      (temperature comes last)
 * and in both the kept tokens are finally drawn from softmax(z / T)
 * renormalised over the kept set. docs/sampling.md has the full story.
 *
 * Speed: the chain runs once per generated token over 50,257 logits, so it
 * never sorts what it does not need. The kept set is cands[0, n_keep); its
 * first n_sorted entries are sorted and rank above every other kept entry.
 * top-k is a quickselect (O(n)); top-p and the draw sort the head of the
 * ranking in growing chunks (64, 128, ...) and stop as soon as the mass they
 * need is reached; min-p is a partition. Everything lives in one array
 * allocated by ts_sampler_new: apply / sample never allocate.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

struct ts_sampler {
    ts_sampler_params params;
    size_t n_vocab;
    ts_candidate *cands; /* [n_vocab] working set */
    size_t n_keep;       /* kept candidates: cands[0, n_keep) */
    size_t n_sorted;     /* cands[0, n_sorted) sorted, ranking above the rest */
    float zmax;          /* largest finite logit (always kept) */
    ts_rng rng;
};

/* ---- ranking: logit descending, then id ascending (a strict total order) -- */

static inline bool ranks_before(const ts_candidate *a, const ts_candidate *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static inline void swap_cand(ts_candidate *a, ts_candidate *b)
{
    ts_candidate t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(ts_candidate *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        ts_candidate x = c[i];
        size_t j = i;
        for (; j > 0 && ranks_before(&x, &c[j - 1]); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

static void sift_down(ts_candidate *c, size_t root, size_t n)
{
    /* max-heap on "ranks after", so the heap's top is the last in the ranking */
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && ranks_before(&c[child], &c[child + 1])) child++;
        if (!ranks_before(&c[root], &c[child])) return;
        swap_cand(&c[root], &c[child]);
        root = child;
    }
}

static void heap_sort(ts_candidate *c, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(c, i, n);
    for (size_t end = n; end > 1; end--) {
        swap_cand(&c[0], &c[end - 1]);
        sift_down(c, 0, end - 1);
    }
}

/*
 * Hoare partition of c[0, n) (n >= 3) around the median of three; returns
 * the split point m: c[0, m) rank at or before the pivot, c[m, n) at or after.
 */
static size_t partition(ts_candidate *c, size_t n)
{
    size_t mid = n / 2;
    if (ranks_before(&c[mid], &c[0])) swap_cand(&c[mid], &c[0]);
    if (ranks_before(&c[n - 1], &c[0])) swap_cand(&c[n - 1], &c[0]);
    if (ranks_before(&c[n - 1], &c[mid])) swap_cand(&c[n - 1], &c[mid]);
    ts_candidate pivot = c[mid];
    size_t i = 0, j = n - 1;
    for (;;) {
        while (ranks_before(&c[i], &pivot))
            i++;
        while (ranks_before(&pivot, &c[j]))
            j--;
        if (i >= j) return j + 1;
        swap_cand(&c[i], &c[j]);
        i++;
        j--;
    }
}

/* Introsort: quicksort, heap sort when the recursion gets too deep. */
static void sort_rank(ts_candidate *c, size_t n, int depth)
{
    while (n > 24) {
        if (depth-- == 0) {
            heap_sort(c, n);
            return;
        }
        size_t m = partition(c, n);
        /* recurse into the smaller side, loop on the larger */
        if (m < n - m) {
            sort_rank(c, m, depth);
            c += m;
            n -= m;
        } else {
            sort_rank(c + m, n - m, depth);
            n = m;
        }
    }
    insertion_sort(c, n);
}

static int depth_limit(size_t n)
{
    int d = 0;
    while (n > 1) {
        n >>= 1;
        d++;
    }
    return 2 * d + 4;
}

/*
 * Small k: keep a heap of the best k seen so far whose root is the worst of
 * them. Almost every later candidate loses one comparison against the root,
 * so this is about n predictable comparisons.
 */
static void select_top_heap(ts_candidate *c, size_t n, size_t k)
{
    for (size_t i = k / 2; i-- > 0;)
        sift_down(c, i, k);
    for (size_t i = k; i < n; i++) {
        if (ranks_before(&c[i], &c[0])) {
            swap_cand(&c[0], &c[i]);
            sift_down(c, 0, k);
        }
    }
}

/* Rearrange c[0, n) so that c[0, k) are the k first in the ranking (any order). */
static void select_top(ts_candidate *c, size_t n, size_t k)
{
    if (k > 0 && k <= 1024 && k * 8 < n) {
        select_top_heap(c, n, k);
        return;
    }
    int depth = depth_limit(n);
    while (n > 24 && k > 0 && k < n) {
        if (depth-- == 0) {
            sort_rank(c, n, 0); /* heap sort: O(n log n) worst case */
            return;
        }
        size_t m = partition(c, n);
        if (k < m) {
            n = m;
        } else {
            c += m;
            k -= m;
            n -= m;
        }
    }
    if (k > 0 && k < n) insertion_sort(c, n);
}

/* Make cands[0, m) sorted (m <= n_keep). */
static void ensure_sorted(ts_sampler *s, size_t m)
{
    if (m > s->n_keep) m = s->n_keep;
    if (m <= s->n_sorted) return;
    ts_candidate *tail = s->cands + s->n_sorted;
    size_t n_tail = s->n_keep - s->n_sorted, want = m - s->n_sorted;
    if (want < n_tail) select_top(tail, n_tail, want);
    sort_rank(tail, want, depth_limit(want));
    s->n_sorted = m;
}

/* exp((z - zmax) / t): the unnormalised softmax weight, 1 for the max. */
static inline double weight(float z, float zmax, double t)
{
    return isinf(t) ? 1.0 : exp(((double)z - (double)zmax) / t);
}

/* ---- chain steps ---------------------------------------------------------- */

static void step_top_k(ts_sampler *s, int32_t k)
{
    if (k <= 0 || (size_t)k >= s->n_keep) return;
    select_top(s->cands, s->n_keep, (size_t)k);
    s->n_keep = (size_t)k;
    s->n_sorted = 0;
}

/* Keep the smallest ranked prefix whose probability under softmax(z / t)
 * (renormalised over the kept set) reaches p; at least one token. */
static void step_top_p(ts_sampler *s, double p, double t)
{
    if (p >= 1.0 || s->n_keep <= 1) return;
    double z = 0.0;
    for (size_t i = 0; i < s->n_keep; i++)
        z += weight(s->cands[i].logit, s->zmax, t);
    double cum = 0.0;
    size_t i = 0, chunk = 64;
    for (;;) {
        ensure_sorted(s, i + chunk);
        for (; i < s->n_sorted; i++) {
            cum += weight(s->cands[i].logit, s->zmax, t) / z;
            if (cum >= p) {
                s->n_keep = s->n_sorted = i + 1;
                return;
            }
        }
        if (s->n_sorted == s->n_keep) return; /* rounding left cum just below p: keep all */
        chunk *= 2;
    }
}

/* Keep tokens with p_i >= min_p * p_max under softmax(z / t), i.e. with
 * weight exp((z_i - zmax) / t) >= min_p. A ranked prefix again. */
static void step_min_p(ts_sampler *s, double min_p, double t)
{
    if (min_p <= 0.0 || s->n_keep <= 1) return;
    for (size_t i = 0; i < s->n_sorted; i++) {
        if (weight(s->cands[i].logit, s->zmax, t) < min_p) {
            s->n_keep = s->n_sorted = i;
            return;
        }
    }
    size_t dst = s->n_sorted;
    for (size_t i = s->n_sorted; i < s->n_keep; i++)
        if (weight(s->cands[i].logit, s->zmax, t) >= min_p)
            swap_cand(&s->cands[dst++], &s->cands[i]);
    s->n_keep = dst;
}

/* Final probabilities: softmax(z / T) over the kept set. */
static void step_temperature(ts_sampler *s, double t)
{
    double z = 0.0;
    for (size_t i = 0; i < s->n_keep; i++) {
        double w = weight(s->cands[i].logit, s->zmax, t);
        s->cands[i].p = w;
        z += w;
    }
    double inv = 1.0 / z; /* z >= 1: the max is kept and has weight 1 */
    for (size_t i = 0; i < s->n_keep; i++)
        s->cands[i].p *= inv;
}

/* Run the chain; leaves the kept set in cands[0, n_keep), p normalised. */
static ts_status run_chain(ts_sampler *s, const float *logits)
{
    const ts_sampler_params *par = &s->params;
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, s->n_vocab, par->temperature, &info);
    if (st != TS_OK) return st;
    s->zmax = info.zmax;

    if (par->temperature == 0.0) {
        /* Greedy. HF: the one-hot comes before truncation, which cannot remove
         * the only token. llama: truncation keeps a ranked prefix, which always
         * contains the argmax, then T = 0 picks it. Same token either way. */
        s->cands[0] = (ts_candidate){(int32_t)info.imax, logits[info.imax], 1.0};
        s->n_keep = s->n_sorted = 1;
        return TS_OK;
    }

    size_t m = 0;
    for (size_t i = 0; i < s->n_vocab; i++)
        if (logits[i] != -INFINITY) s->cands[m++] = (ts_candidate){(int32_t)i, logits[i], 0.0};
    s->n_keep = m;
    s->n_sorted = 0;

    double t_trunc = par->order == TS_ORDER_HF ? par->temperature : 1.0;
    step_top_k(s, par->top_k);
    step_top_p(s, par->top_p, t_trunc);
    step_min_p(s, par->min_p, t_trunc);
    step_temperature(s, par->temperature);
    return TS_OK;
}

/* ---- public API ----------------------------------------------------------- */

ts_sampler_params ts_sampler_default_params(void)
{
    ts_sampler_params p = {
        .temperature = 1.0,
        .top_k = 50,
        .top_p = 1.0,
        .min_p = 0.0,
        .order = TS_ORDER_HF,
        .seed = 0,
    };
    return p;
}

ts_status ts_sampler_order_parse(const char *name, ts_sampler_order *out)
{
    if (name && strcmp(name, "hf") == 0) {
        *out = TS_ORDER_HF;
        return TS_OK;
    }
    if (name && strcmp(name, "llama") == 0) {
        *out = TS_ORDER_LLAMA;
        return TS_OK;
    }
    return TS_ERR_INVALID;
}

const char *ts_sampler_order_name(ts_sampler_order order)
{
    return order == TS_ORDER_LLAMA ? "llama" : "hf";
}

ts_status ts_sampler_new(const ts_sampler_params *params, size_t n_vocab, ts_sampler **out,
                         char *err, size_t err_size)
{
    *out = NULL;
    const ts_sampler_params *p = params;
    if (isnan(p->temperature) || p->temperature < 0.0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "sampler: temperature %g must be >= 0 (0 = greedy, inf = uniform)",
                         p->temperature);
    if (p->top_k < 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "sampler: top-k %d must be >= 0 (0 = off)",
                         (int)p->top_k);
    if (!(p->top_p > 0.0 && p->top_p <= 1.0))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "sampler: top-p %g must be in (0, 1] (1 = off)", p->top_p);
    if (!(p->min_p >= 0.0 && p->min_p < 1.0))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "sampler: min-p %g must be in [0, 1) (0 = off)", p->min_p);
    if (p->order != TS_ORDER_HF && p->order != TS_ORDER_LLAMA)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "sampler: unknown order %d", (int)p->order);
    if (n_vocab == 0 || n_vocab > (size_t)INT32_MAX)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "sampler: vocabulary size %zu must be in [1, 2^31)", n_vocab);
    size_t bytes;
    if (ts_mul_overflows(n_vocab, sizeof(ts_candidate), &bytes))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "sampler: vocabulary too large");
    ts_sampler *s = calloc(1, sizeof *s);
    if (!s || !(s->cands = malloc(bytes))) {
        free(s);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "sampler: out of memory");
    }
    s->params = *p;
    s->n_vocab = n_vocab;
    ts_rng_seed(&s->rng, p->seed);
    *out = s;
    return TS_OK;
}

void ts_sampler_free(ts_sampler *s)
{
    if (!s) return;
    free(s->cands);
    free(s);
}

void ts_sampler_reseed(ts_sampler *s, uint64_t seed)
{
    ts_rng_seed(&s->rng, seed);
}

ts_status ts_sampler_apply(ts_sampler *s, const float *logits, const ts_candidate **cands,
                           size_t *n_cands)
{
    ts_status st = run_chain(s, logits);
    if (st != TS_OK) return st;
    ensure_sorted(s, s->n_keep);
    *cands = s->cands;
    *n_cands = s->n_keep;
    return TS_OK;
}

int32_t ts_sampler_pick(const ts_candidate *cands, size_t n_cands, double u)
{
    double cum = 0.0;
    size_t last = 0;
    for (size_t i = 0; i < n_cands; i++) {
        cum += cands[i].p;
        if (u < cum) return cands[i].id;
        if (cands[i].p > 0.0) last = i;
    }
    return n_cands ? cands[last].id : -1; /* u beyond the rounded total */
}

int32_t ts_sampler_sample(ts_sampler *s, const float *logits)
{
    if (run_chain(s, logits) != TS_OK) return -1;
    double u = ts_rng_uniform(&s->rng);
    /* ts_sampler_pick over the ranking, sorting only as far as u reaches. */
    double cum = 0.0;
    size_t i = 0, chunk = 64, last = 0;
    for (;;) {
        ensure_sorted(s, i + chunk);
        for (; i < s->n_sorted; i++) {
            cum += s->cands[i].p;
            if (u < cum) return s->cands[i].id;
            if (s->cands[i].p > 0.0) last = i;
        }
        if (s->n_sorted == s->n_keep) break;
        chunk *= 2;
    }
    return s->cands[last].id;
}
