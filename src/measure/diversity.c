/*
 * diversity.c — what a temperature does to text, measured over the samples
 * of one prompt (token-id sequences; docs/science.md has every formula):
 *   distinct-n (Li et al. 2016)      unique n-grams / n-gram occurrences, over all samples
 *   self-BLEU-4 (Zhu et al. 2018)    mean over samples of BLEU-4 of the sample against the
 *                                    others, NLTK sentence_bleu with SmoothingFunction().method1
 *                                    (Chen & Cherry 2014: 0.1 added to zero match counts)
 *   seq-rep-4 (Welleck et al. 2020)  mean over samples of 1 - unique 4-grams / 4-grams
 *   NLL (Caccia et al. 2020)         pooled mean of -log p(token) under the model at T = 1
 *   entropy                          pooled mean entropy of the distributions drawn from
 *   EOT share                        share of samples that stopped at end-of-text
 * and the divergence curve of coupled sampling (share of samples still equal to
 * the greedy text after k tokens).
 *
 * Every figure is a ratio of per-sample sums, sum_j a_j / sum_j b_j, so its
 * bootstrap over samples (ts_bootstrap_ratio) never puts two copies of a
 * sample next to each other: distinct-n uses a_j = sum over the n-gram
 * occurrences of sample j of 1 / (occurrences of that n-gram in all samples),
 * whose total over j is exactly the number of unique n-grams. (Resampling the
 * texts themselves would count a duplicated sample's n-grams as repeats and
 * bias every resample low.)
 *
 * n-grams live in one open-addressing hash table sized once per call; each
 * entry keeps its total count and the largest and second-largest per-sample
 * counts, so "the most any OTHER sample has" (BLEU's clipping) is O(1).
 */
#include "internal.h"

#include <math.h>
#include <string.h>

enum { MAX_N = 4, N_STATS = 8 }; /* distinct-1..3, self-BLEU, rep-4, nll, entropy, eot */

typedef struct ngram_entry {
    int32_t tok[MAX_N];
    uint32_t n;          /* order 1..4; 0 = empty slot */
    uint32_t total;      /* occurrences in all samples */
    uint32_t c1, c2, s1; /* largest per-sample count (in sample s1), second largest */
    uint32_t tag, count; /* scratch: the pass / sample being counted and its count */
    uint32_t mark;       /* scratch: entry already visited in this pass */
} ngram_entry;

typedef struct ngram_table {
    ngram_entry *e;
    size_t mask;
} ngram_table;

static uint64_t ngram_hash(const int32_t *t, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull * (n + 1);
    for (uint32_t i = 0; i < n; i++) {
        h ^= (uint32_t)t[i];
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    return h;
}

/* The entry of n-gram t[0, n), inserted when absent. The table never fills (2x capacity). */
static uint32_t ngram_find(ngram_table *tb, const int32_t *t, uint32_t n)
{
    size_t i = ngram_hash(t, n) & tb->mask;
    for (;;) {
        ngram_entry *e = &tb->e[i];
        if (e->n == 0) {
            e->n = n;
            memcpy(e->tok, t, n * sizeof *t);
            return (uint32_t)i;
        }
        if (e->n == n && memcmp(e->tok, t, n * sizeof *t) == 0) return (uint32_t)i;
        i = (i + 1) & tb->mask;
    }
}

static ts_status check_set(const ts_sample_set *s, char *err, size_t err_size)
{
    if (!s || s->n_samples == 0 || !s->offsets)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "samples: none given");
    if (s->offsets[0] != 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "samples: offsets[0] must be 0");
    for (size_t j = 0; j < s->n_samples; j++)
        if (s->offsets[j + 1] < s->offsets[j])
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "samples: offsets must not decrease (sample %zu)", j);
    if (s->offsets[s->n_samples] > 0 && !s->tokens)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "samples: tokens missing");
    if (s->n_samples > UINT32_MAX / 4 || s->offsets[s->n_samples] > UINT32_MAX / 8)
        return ts_errorf(err, err_size, TS_ERR_RANGE, "samples: too many tokens");
    return TS_OK;
}

/* ts_diversity_per_sample and the ratio terms in one pass; num/den [n][N_STATS] may be NULL. */
static ts_status measure(const ts_sample_set *s, double *self_bleu, double *rep4, double *num,
                         double *den, char *err, size_t err_size)
{
    ts_status st = check_set(s, err, err_size);
    if (st != TS_OK) return st;
    const size_t N = s->n_samples, total_tok = s->offsets[N];
    size_t n_occ = 0;
    for (size_t j = 0; j < N; j++) {
        size_t L = s->offsets[j + 1] - s->offsets[j];
        for (size_t n = 1; n <= MAX_N; n++)
            n_occ += L >= n ? L - n + 1 : 0;
    }
    size_t cap = 16;
    while (cap < 2 * n_occ + 16)
        cap <<= 1;
    ngram_table tb = {calloc(cap, sizeof(ngram_entry)), cap - 1};
    uint32_t *occ = malloc((n_occ ? n_occ : 1) * sizeof *occ); /* entry of each occurrence */
    size_t *occ_start = malloc((N + 1) * sizeof *occ_start);
    if (!tb.e || !occ || !occ_start) {
        st =
            ts_errorf(err, err_size, TS_ERR_NOMEM, "samples: out of memory for %zu n-grams", n_occ);
        goto out;
    }
    /* Pass A: insert every occurrence, count totals and per-sample maxima. */
    size_t o = 0;
    for (size_t j = 0; j < N; j++) {
        occ_start[j] = o;
        const int32_t *t = s->tokens + s->offsets[j];
        const size_t L = s->offsets[j + 1] - s->offsets[j];
        const uint32_t tag = (uint32_t)j + 1;
        for (uint32_t n = 1; n <= MAX_N; n++)
            for (size_t p = 0; p + n <= L; p++) {
                uint32_t e = ngram_find(&tb, t + p, n);
                ngram_entry *x = &tb.e[e];
                x->total++;
                if (x->tag != tag) x->tag = tag, x->count = 0;
                x->count++;
                occ[o++] = e;
            }
        for (size_t q = occ_start[j]; q < o; q++) {
            ngram_entry *x = &tb.e[occ[q]];
            if (x->mark == tag) continue;
            x->mark = tag;
            if (x->count > x->c1) {
                x->c2 = x->c1;
                x->c1 = x->count;
                x->s1 = (uint32_t)j;
            } else if (x->count > x->c2) {
                x->c2 = x->count;
            }
        }
    }
    occ_start[N] = o;
    TS_ASSERT(o == n_occ);
    /* Pass B: per sample, distinct-n weights, BLEU clipping, unique 4-grams. */
    for (size_t j = 0; j < N; j++) {
        const size_t L = s->offsets[j + 1] - s->offsets[j];
        const uint32_t tag = (uint32_t)(N + 1 + j);
        double u[MAX_N + 1] = {0}, clipped[MAX_N + 1] = {0}, uniq[MAX_N + 1] = {0};
        for (size_t q = occ_start[j]; q < occ_start[j + 1]; q++) {
            ngram_entry *x = &tb.e[occ[q]];
            if (x->tag != tag) x->tag = tag, x->count = 0;
            x->count++;
            u[x->n] += 1.0 / x->total;
        }
        for (size_t q = occ_start[j]; q < occ_start[j + 1]; q++) {
            ngram_entry *x = &tb.e[occ[q]];
            if (x->mark == tag) continue;
            x->mark = tag;
            uint32_t maxref = x->s1 == (uint32_t)j ? x->c2 : x->c1;
            clipped[x->n] += x->count < maxref ? x->count : maxref;
            uniq[x->n] += 1;
        }
        /* BLEU-4 against the other samples (NLTK sentence_bleu, method1). */
        double bleu = NAN;
        if (N >= 2) {
            size_t best = SIZE_MAX; /* closest other length, ties to the shorter */
            for (size_t r = 0; r < N; r++) {
                if (r == j) continue;
                size_t Lr = s->offsets[r + 1] - s->offsets[r];
                size_t dr = Lr > L ? Lr - L : L - Lr, db = best > L ? best - L : L - best;
                if (best == SIZE_MAX || dr < db || (dr == db && Lr < best)) best = Lr;
            }
            if (clipped[1] == 0) {
                bleu = 0;
            } else {
                double bp = L > best ? 1.0 : exp(1.0 - (double)best / (double)L), lsum = 0;
                for (size_t n = 1; n <= MAX_N; n++) {
                    double d = L >= n ? (double)(L - n + 1) : 1.0;
                    double pn = clipped[n] > 0 ? clipped[n] / d : 0.1 / d;
                    lsum += 0.25 * log(pn);
                }
                bleu = bp * exp(lsum);
            }
        }
        double rep = L >= MAX_N ? 1.0 - uniq[MAX_N] / (double)(L - MAX_N + 1) : NAN;
        if (self_bleu) self_bleu[j] = bleu;
        if (rep4) rep4[j] = rep;
        if (!num) continue;
        double *a = num + j * N_STATS, *b = den + j * N_STATS;
        for (size_t n = 1; n <= 3; n++) {
            a[n - 1] = u[n];
            b[n - 1] = L >= n ? (double)(L - n + 1) : 0;
        }
        a[3] = isnan(bleu) ? 0 : bleu;
        b[3] = isnan(bleu) ? 0 : 1;
        a[4] = isnan(rep) ? 0 : rep;
        b[4] = isnan(rep) ? 0 : 1;
        double nll = 0, ent = 0;
        for (size_t p = s->offsets[j]; p < s->offsets[j + 1]; p++) {
            if (s->logprob) nll -= s->logprob[p];
            if (s->entropy) ent += s->entropy[p];
        }
        a[5] = nll;
        b[5] = s->logprob ? (double)L : 0;
        a[6] = ent;
        b[6] = s->entropy ? (double)L : 0;
        a[7] = s->ended_eot && s->ended_eot[j] ? 1 : 0;
        b[7] = s->ended_eot ? 1 : 0;
    }
    (void)total_tok;
out:
    free(tb.e);
    free(occ);
    free(occ_start);
    return st;
}

ts_status ts_diversity_per_sample(const ts_sample_set *s, double *self_bleu4, double *rep4,
                                  char *err, size_t err_size)
{
    return measure(s, self_bleu4, rep4, NULL, NULL, err, err_size);
}

ts_status ts_diversity_measure(const ts_sample_set *s, const ts_bootstrap_params *bp,
                               ts_diversity *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    ts_status st = check_set(s, err, err_size);
    if (st != TS_OK) return st;
    if ((st = ts_bootstrap_check(bp, s->n_samples, err, err_size)) != TS_OK) return st;
    const size_t N = s->n_samples;
    double *num = malloc(N * N_STATS * sizeof *num), *den = malloc(N * N_STATS * sizeof *den);
    if (!num || !den) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "samples: out of memory");
        goto out;
    }
    if ((st = measure(s, NULL, NULL, num, den, err, err_size)) != TS_OK) goto out;
    ts_interval iv[N_STATS];
    if ((st = ts_bootstrap_ratio(num, den, N, N_STATS, bp, iv, err, err_size)) != TS_OK) goto out;
    out->n_samples = N;
    out->n_tokens = s->offsets[N];
    for (int n = 0; n < 3; n++)
        out->distinct[n] = iv[n];
    out->self_bleu4 = iv[3];
    out->repetition4 = iv[4];
    out->nll = iv[5];
    out->entropy = iv[6];
    out->eot_share = iv[7];
out:
    free(num);
    free(den);
    return st;
}

/* ---- the divergence curve ------------------------------------------------- */

ts_status ts_divergence_curve(const int32_t *greedy, size_t n_greedy, const ts_sample_set *s,
                              size_t max_k, const ts_bootstrap_params *bp, ts_interval *curve,
                              size_t *common_prefix, char *err, size_t err_size)
{
    ts_status st = check_set(s, err, err_size);
    if (st != TS_OK) return st;
    if (n_greedy > 0 && !greedy)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "divergence: greedy text missing");
    if ((st = ts_bootstrap_check(bp, s->n_samples, err, err_size)) != TS_OK) return st;
    const size_t N = s->n_samples, K = max_k + 1;
    size_t cells;
    if (ts_mul_overflows(N, K, &cells))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "divergence: too many points");
    double *num = malloc(cells * sizeof *num);
    if (!num) return ts_errorf(err, err_size, TS_ERR_NOMEM, "divergence: out of memory");
    for (size_t j = 0; j < N; j++) {
        const int32_t *t = s->tokens + s->offsets[j];
        const size_t L = s->offsets[j + 1] - s->offsets[j], m = L < n_greedy ? L : n_greedy;
        size_t d = 0;
        while (d < m && t[d] == greedy[d])
            d++;
        if (d == m && L == n_greedy) d = SIZE_MAX; /* the same text: never diverges */
        if (common_prefix) common_prefix[j] = d;
        for (size_t k = 0; k < K; k++)
            num[j * K + k] = d >= k ? 1.0 : 0.0;
    }
    st = ts_bootstrap_ratio(num, NULL, N, K, bp, curve, err, err_size);
    free(num);
    return st;
}
