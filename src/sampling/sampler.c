/*
 * sampler.c — the sampler chain: a table of steps, two orders over it.
 *
 * Shape (llama.cpp's llama_sampler_i, ../shared/STYLE.md item 12): every step
 * is a row {name, active, apply, reset, accept}; the Hugging Face order and
 * the llama.cpp order are two lists of the same rows (plus the two Mirostat
 * lists, which replace truncation as llama.cpp does). ts_sampler_new keeps
 * the rows whose `active` is true for the parameters; apply runs them in
 * list order. docs/sampling.md states each step's formula and positions.
 *
 * Two phases, one array. The candidate array cands[n_vocab] is allocated
 * once.
 *   score phase  (logit_bias, penalties, no-repeat-n-gram, suppressed token)
 *                cands[i] is token i for every i, so a step edits
 *                cands[id].score directly; then -inf scores are dropped.
 *   candidate phase (temperature and its variants, truncation, Mirostat)
 *                the kept set is cands[0, n_keep); its first n_sorted
 *                entries are sorted by the ranking (score descending, id
 *                ascending) and rank above every other kept entry.
 * The distribution a candidate-phase step sees is softmax(score / t) over the
 * kept set, where t is the temperature applied so far (1 until the
 * temperature step runs). Steps that keep a ranked prefix (top-k, top-p,
 * min-p, epsilon, eta, top-n-sigma, Mirostat) sort only as much of the
 * ranking as they need, in growing chunks (64, 128, ...); typical-p and XTC
 * keep other subsets and leave the kept set unsorted. Nothing allocates
 * after ts_sampler_new.
 *
 * History: a ring of the last n_ctx accepted tokens, each flagged prompt or
 * generated; penalties count it into a per-token counter array that they
 * clear again after use (so a step costs O(history), not O(vocabulary)).
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define DEFAULT_N_CTX 1024
#define MIROSTAT_M    100 /* llama.cpp common_sampler_init: m = 100 */
#define MAX_STEPS     24
#define XTC_TAG       0x58544321ull /* "XTC!": keeps the XTC coin apart from the Gumbel noise */

typedef struct step_def step_def;

struct ts_sampler {
    ts_sampler_params params;
    size_t n_vocab;
    ts_candidate *cands; /* [n_vocab] working set */
    size_t n_keep;       /* kept candidates: cands[0, n_keep) */
    size_t n_sorted;     /* cands[0, n_sorted) sorted, ranking above the rest */
    double smax;         /* largest score among the kept */
    double t;            /* temperature applied so far (1 before the temperature step) */
    double last_t;       /* temperature of the last apply, for ts_sampler_last_temperature */
    double entropy;      /* entropy (nats) of the last apply's final distribution */
    bool have_dist;      /* cands hold the distribution of a finished apply */

    /* history ring: hist[(head + j) % cap] is the j-th oldest kept token */
    int32_t *hist;
    uint8_t *hist_gen; /* 1 = generated, 0 = prompt */
    size_t hist_cap, hist_len, hist_head;
    size_t n_gen_in_hist;
    uint32_t *counts; /* [n_vocab], all zero between steps; NULL when no penalty */

    ts_logit_bias *bias; /* copy of params.logit_bias */
    int32_t suppressed;  /* -1 = none */

    double mu;          /* Mirostat */
    uint64_t key;       /* XTC coin key (the seed) */
    uint64_t n_applies; /* applies since reset / reseed: the XTC coin's counter */
    ts_rng rng;
    float *fscratch; /* [n_vocab] kept scores for ts_temperature_for_entropy */

    const step_def *steps[MAX_STEPS]; /* active steps, in order */
    size_t n_steps;
    const step_def *const *list; /* the whole list of the order (for reset / accept) */
    size_t n_list;
    bool score_phase; /* some active step is a score-phase step */
    bool greedy_shortcut;
};

struct step_def {
    const char *name;
    bool score_phase;
    bool (*active)(const ts_sampler_params *p);
    ts_status (*apply)(ts_sampler *s);
    void (*reset)(ts_sampler *s);
    void (*accept)(ts_sampler *s, int32_t token);
};

/* ---- ranking: score descending, then id ascending (a strict total order) -- */

static inline bool ranks_before(const ts_candidate *a, const ts_candidate *b)
{
    return a->score > b->score || (a->score == b->score && a->id < b->id);
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

/* exp((score - smax) / t): the unnormalised weight, 1 for the max. */
static inline double weight(double score, double smax, double t)
{
    return isinf(t) ? 1.0 : exp((score - smax) / t);
}

static double kept_mass(const ts_sampler *s)
{
    double z = 0.0;
    for (size_t i = 0; i < s->n_keep; i++)
        z += weight(s->cands[i].score, s->smax, s->t);
    return z;
}

static void recompute_smax(ts_sampler *s)
{
    double m = -INFINITY;
    for (size_t i = 0; i < s->n_keep; i++)
        if (s->cands[i].score > m) m = s->cands[i].score;
    s->smax = m;
}

/* Entropy (nats) of softmax(score / t) over the kept set; z = its mass. */
static double kept_entropy(const ts_sampler *s, double z)
{
    double h = 0.0, logz = log(z);
    for (size_t i = 0; i < s->n_keep; i++) {
        double w = weight(s->cands[i].score, s->smax, s->t);
        if (w > 0.0) {
            double lw = isinf(s->t) ? 0.0 : (s->cands[i].score - s->smax) / s->t;
            h -= w / z * (lw - logz);
        }
    }
    return h;
}

/*
 * Keep the candidates that pass a threshold on the score (and every candidate
 * tied with the top score). A threshold keeps a set closed under the ranking:
 * the passing part of the sorted prefix is a prefix of it, and stays sorted.
 */
typedef bool (*keep_fn)(const ts_sampler *s, const ts_candidate *c, double arg);

static void keep_where(ts_sampler *s, keep_fn pass, double arg)
{
    size_t n_sorted = 0;
    while (n_sorted < s->n_sorted &&
           (pass(s, &s->cands[n_sorted], arg) || s->cands[n_sorted].score == s->smax))
        n_sorted++;
    size_t dst = n_sorted;
    if (n_sorted == s->n_sorted) /* nothing after a failure in the sorted prefix can pass */
        for (size_t i = s->n_sorted; i < s->n_keep; i++)
            if (pass(s, &s->cands[i], arg) || s->cands[i].score == s->smax)
                swap_cand(&s->cands[dst++], &s->cands[i]);
    s->n_sorted = n_sorted;
    s->n_keep = dst;
}

/* weight at the current t >= arg */
static bool weight_at_least(const ts_sampler *s, const ts_candidate *c, double w_min)
{
    return weight(c->score, s->smax, s->t) >= w_min;
}

/* score >= arg */
static bool score_at_least(const ts_sampler *s, const ts_candidate *c, double cut)
{
    (void)s;
    return c->score >= cut;
}

/* ---- history ---------------------------------------------------------------- */

static inline int32_t hist_at(const ts_sampler *s, size_t j)
{
    return s->hist[(s->hist_head + j) % s->hist_cap];
}

static inline bool hist_gen_at(const ts_sampler *s, size_t j)
{
    return s->hist_gen[(s->hist_head + j) % s->hist_cap] != 0;
}

static void hist_push(ts_sampler *s, int32_t token, bool generated)
{
    size_t slot;
    if (s->hist_len < s->hist_cap) {
        slot = (s->hist_head + s->hist_len) % s->hist_cap;
        s->hist_len++;
    } else {
        slot = s->hist_head; /* overwrite the oldest */
        if (s->hist_gen[slot]) s->n_gen_in_hist--;
        s->hist_head = (s->hist_head + 1) % s->hist_cap;
    }
    s->hist[slot] = token;
    s->hist_gen[slot] = generated;
    if (generated) s->n_gen_in_hist++;
}

/* ---- score-phase steps -------------------------------------------------------- */

static bool on_logit_bias(const ts_sampler_params *p)
{
    return p->n_logit_bias > 0;
}
static ts_status apply_logit_bias(ts_sampler *s)
{
    for (size_t i = 0; i < s->params.n_logit_bias; i++)
        s->cands[s->bias[i].token].score += s->bias[i].bias;
    return TS_OK;
}

static bool on_suppress(const ts_sampler_params *p)
{
    (void)p;
    return true; /* costs one compare when nothing is suppressed */
}
static ts_status apply_suppress(ts_sampler *s)
{
    if (s->suppressed >= 0) s->cands[s->suppressed].score = -INFINITY;
    return TS_OK;
}

/* HF RepetitionPenaltyLogitsProcessor: once per distinct token of the history. */
static bool on_rep_hf(const ts_sampler_params *p)
{
    return p->repetition_penalty != 1.0;
}
static ts_status apply_rep_hf(ts_sampler *s)
{
    const double r = s->params.repetition_penalty;
    for (size_t j = 0; j < s->hist_len; j++) {
        int32_t id = hist_at(s, j);
        if (s->counts[id]++) continue; /* seen: penalise once */
        double *sc = &s->cands[id].score;
        *sc = *sc < 0.0 ? *sc * r : *sc / r;
    }
    for (size_t j = 0; j < s->hist_len; j++)
        s->counts[hist_at(s, j)] = 0;
    return TS_OK;
}

/* OpenAI presence / frequency: c = times generated (prompt tokens not counted). */
static bool on_presfreq_openai(const ts_sampler_params *p)
{
    return p->presence_penalty != 0.0 || p->frequency_penalty != 0.0;
}
static ts_status apply_presfreq_openai(ts_sampler *s)
{
    const double pres = s->params.presence_penalty, freq = s->params.frequency_penalty;
    for (size_t j = 0; j < s->hist_len; j++)
        if (hist_gen_at(s, j)) s->counts[hist_at(s, j)]++;
    for (size_t j = 0; j < s->hist_len; j++) {
        int32_t id = hist_at(s, j);
        uint32_t c = s->counts[id];
        if (c == 0) continue; /* a prompt token, or already done */
        s->cands[id].score -= (double)c * freq + pres;
        s->counts[id] = 0;
    }
    return TS_OK;
}

/* The llama-order window: the last penalty_last_n tokens (-1 = all). */
static size_t llama_window(const ts_sampler *s)
{
    int32_t n = s->params.penalty_last_n;
    if (n < 0 || (size_t)n > s->hist_len) return s->hist_len;
    return (size_t)n;
}

/* llama.cpp llama_sampler_penalties: repeat, frequency and presence on the window. */
static bool on_penalties_llama(const ts_sampler_params *p)
{
    return p->penalty_last_n != 0 && (p->repetition_penalty != 1.0 || p->frequency_penalty != 0.0 ||
                                      p->presence_penalty != 0.0);
}
static ts_status apply_penalties_llama(ts_sampler *s)
{
    const double r = s->params.repetition_penalty, pres = s->params.presence_penalty,
                 freq = s->params.frequency_penalty;
    size_t n = llama_window(s), j0 = s->hist_len - n;
    for (size_t j = j0; j < s->hist_len; j++)
        s->counts[hist_at(s, j)]++;
    for (size_t j = j0; j < s->hist_len; j++) {
        int32_t id = hist_at(s, j);
        uint32_t c = s->counts[id];
        if (c == 0) continue;
        double *sc = &s->cands[id].score;
        *sc = *sc <= 0.0 ? *sc * r : *sc / r;
        *sc -= (double)c * freq + pres;
        s->counts[id] = 0;
    }
    return TS_OK;
}

/* HF NoRepeatNGramLogitsProcessor over prompt + generated. */
static bool on_ngram(const ts_sampler_params *p)
{
    return p->no_repeat_ngram_size > 0;
}
static ts_status apply_ngram(ts_sampler *s)
{
    const size_t n = (size_t)s->params.no_repeat_ngram_size, len = s->hist_len;
    if (len < n) return TS_OK; /* no complete n-gram yet */
    /* The prefix is the last n - 1 tokens; every window hist[i, i + n) whose first
     * n - 1 tokens equal it bans its last token. */
    for (size_t i = 0; i + n <= len; i++) {
        size_t k = 0;
        while (k + 1 < n && hist_at(s, i + k) == hist_at(s, len - (n - 1) + k))
            k++;
        if (k + 1 == n) s->cands[hist_at(s, i + n - 1)].score = -INFINITY;
    }
    return TS_OK;
}

/* ---- candidate-phase steps ----------------------------------------------------- */

/* T = 0: keep the first candidate of the ranking only. */
static void keep_top_one(ts_sampler *s)
{
    size_t best = 0;
    for (size_t i = 1; i < s->n_keep; i++)
        if (ranks_before(&s->cands[i], &s->cands[best])) best = i;
    swap_cand(&s->cands[0], &s->cands[best]);
    s->n_keep = s->n_sorted = 1;
    s->smax = s->cands[0].score;
    s->t = 1.0;
}

static void set_temperature(ts_sampler *s, double t)
{
    s->last_t = t;
    if (t == 0.0)
        keep_top_one(s);
    else
        s->t = t;
}

static bool on_temperature(const ts_sampler_params *p)
{
    return p->dynatemp_range == 0.0 && p->target_entropy < 0.0;
}
static ts_status apply_temperature(ts_sampler *s)
{
    set_temperature(s, s->params.temperature);
    return TS_OK;
}

/* llama.cpp llama_sampler_temp_ext with delta > 0. */
static bool on_dynatemp(const ts_sampler_params *p)
{
    return p->dynatemp_range > 0.0;
}
static ts_status apply_dynatemp(ts_sampler *s)
{
    const double T = s->params.temperature, r = s->params.dynatemp_range;
    if (isinf(T)) {
        set_temperature(s, T);
        return TS_OK;
    }
    if (s->n_keep <= 1) { /* llama.cpp returns without scaling */
        s->last_t = T;
        return TS_OK;
    }
    double lo = T - r > 0.0 ? T - r : 0.0, hi = T + r;
    double h = kept_entropy(s, kept_mass(s));
    double norm = h / log((double)s->n_keep);
    set_temperature(s, lo + (hi - lo) * pow(norm, s->params.dynatemp_exponent));
    return TS_OK;
}

/* Solve T so that softmax(score / T) over the kept set has entropy target_entropy. */
static bool on_target_entropy(const ts_sampler_params *p)
{
    return p->target_entropy >= 0.0;
}
static ts_status apply_target_entropy(ts_sampler *s)
{
    const double target = s->params.target_entropy;
    if (s->n_keep <= 1) {
        s->last_t = 1.0;
        return TS_OK;
    }
    for (size_t i = 0; i < s->n_keep; i++)
        s->fscratch[i] = (float)(s->cands[i].score - s->smax);
    double T;
    ts_status st = ts_temperature_for_entropy(s->fscratch, s->n_keep, target, &T);
    size_t n_ties = 0;
    for (size_t i = 0; i < s->n_keep; i++)
        n_ties += s->cands[i].score == s->smax;
    if (st == TS_OK) {
        set_temperature(s, T);
    } else if (target > log((double)n_ties)) {
        set_temperature(s, INFINITY); /* above what any T reaches: uniform, the closest */
    } else {
        /* below log(#ties at the top): the T -> 0+ limit, uniform over the ties */
        keep_where(s, score_at_least, s->smax);
        s->t = INFINITY;
        s->last_t = 0.0;
    }
    return TS_OK;
}

static bool on_top_k(const ts_sampler_params *p)
{
    return p->top_k > 0 && p->mirostat == 0;
}
static ts_status apply_top_k(ts_sampler *s)
{
    size_t k = (size_t)s->params.top_k;
    if (k >= s->n_keep) return TS_OK;
    if (s->n_sorted >= k) {
        s->n_keep = s->n_sorted = k;
        return TS_OK;
    }
    ensure_sorted(s, k); /* selects the k first, sorted */
    s->n_keep = k;
    return TS_OK;
}

/* Keep the smallest ranked prefix whose probability reaches top_p; at least one token. */
static bool on_top_p(const ts_sampler_params *p)
{
    return p->top_p < 1.0 && p->mirostat == 0;
}
static ts_status apply_top_p(ts_sampler *s)
{
    const double p = s->params.top_p;
    if (s->n_keep <= 1) return TS_OK;
    double z = kept_mass(s), cum = 0.0;
    size_t i = 0, chunk = 64;
    for (;;) {
        ensure_sorted(s, i + chunk);
        for (; i < s->n_sorted; i++) {
            cum += weight(s->cands[i].score, s->smax, s->t) / z;
            if (cum >= p) {
                s->n_keep = s->n_sorted = i + 1;
                return TS_OK;
            }
        }
        if (s->n_sorted == s->n_keep) return TS_OK; /* rounding left cum just below p */
        chunk *= 2;
    }
}

/* p_i >= min_p * p_max, i.e. weight >= min_p. */
static bool on_min_p(const ts_sampler_params *p)
{
    return p->min_p > 0.0 && p->mirostat == 0;
}
static ts_status apply_min_p(ts_sampler *s)
{
    if (s->n_keep > 1) keep_where(s, weight_at_least, s->params.min_p);
    return TS_OK;
}

/* HF EpsilonLogitsWarper: drop p < epsilon; the top score always stays. */
static bool on_epsilon(const ts_sampler_params *p)
{
    return p->epsilon_cutoff > 0.0 && p->mirostat == 0;
}
static ts_status apply_epsilon(ts_sampler *s)
{
    if (s->n_keep > 1) keep_where(s, weight_at_least, s->params.epsilon_cutoff * kept_mass(s));
    return TS_OK;
}

/* HF EtaLogitsWarper: drop p < min(eta, sqrt(eta) exp(-H)). */
static bool on_eta(const ts_sampler_params *p)
{
    return p->eta_cutoff > 0.0 && p->mirostat == 0;
}
static ts_status apply_eta(ts_sampler *s)
{
    if (s->n_keep <= 1) return TS_OK;
    const double e = s->params.eta_cutoff;
    double z = kept_mass(s), h = kept_entropy(s, z);
    double eta = fmin(e, sqrt(e) * exp(-h));
    keep_where(s, weight_at_least, eta * z);
    return TS_OK;
}

/*
 * llama.cpp top-n-sigma: keep score / t >= max / t - n * std(score / t) over the
 * kept set. std(score / t) = std(score) / t, so for 0 < t < inf this is
 * score >= max - n * std(score): the step does not depend on the temperature.
 */
static bool on_top_n_sigma(const ts_sampler_params *p)
{
    return p->top_n_sigma > 0.0 && p->mirostat == 0;
}
static ts_status apply_top_n_sigma(ts_sampler *s)
{
    if (s->n_keep <= 1 || isinf(s->t)) return TS_OK; /* at T = inf every scaled score is 0 */
    double mean = 0.0, acc = 0.0;
    for (size_t i = 0; i < s->n_keep; i++)
        mean += s->cands[i].score;
    mean /= (double)s->n_keep;
    for (size_t i = 0; i < s->n_keep; i++) {
        double d = s->cands[i].score - mean;
        acc += d * d;
    }
    double sd = sqrt(acc / (double)s->n_keep);
    keep_where(s, score_at_least, s->smax - s->params.top_n_sigma * sd);
    return TS_OK;
}

/* Sorting c[0, n) by a key held in p (ascending), ties by the ranking. */
static inline bool key_before(const ts_candidate *a, const ts_candidate *b)
{
    return a->p < b->p || (a->p == b->p && ranks_before(a, b));
}
static void key_sift(ts_candidate *c, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && key_before(&c[child], &c[child + 1])) child++;
        if (!key_before(&c[root], &c[child])) return;
        swap_cand(&c[root], &c[child]);
        root = child;
    }
}
static void key_heap_sort(ts_candidate *c, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        key_sift(c, i, n);
    for (size_t end = n; end > 1; end--) {
        swap_cand(&c[0], &c[end - 1]);
        key_sift(c, 0, end - 1);
    }
}

/* Introsort by key_before (median-of-3 Hoare partition; heap sort when too deep). */
static void key_sort_depth(ts_candidate *c, size_t n, int depth)
{
    while (n > 24) {
        if (depth-- == 0) {
            key_heap_sort(c, n);
            return;
        }
        size_t mid = n / 2;
        if (key_before(&c[mid], &c[0])) swap_cand(&c[mid], &c[0]);
        if (key_before(&c[n - 1], &c[0])) swap_cand(&c[n - 1], &c[0]);
        if (key_before(&c[n - 1], &c[mid])) swap_cand(&c[n - 1], &c[mid]);
        ts_candidate pivot = c[mid];
        size_t i = 0, j = n - 1, m;
        for (;;) {
            while (key_before(&c[i], &pivot))
                i++;
            while (key_before(&pivot, &c[j]))
                j--;
            if (i >= j) {
                m = j + 1;
                break;
            }
            swap_cand(&c[i], &c[j]);
            i++;
            j--;
        }
        if (m < n - m) {
            key_sort_depth(c, m, depth);
            c += m;
            n -= m;
        } else {
            key_sort_depth(c + m, n - m, depth);
            n = m;
        }
    }
    for (size_t i = 1; i < n; i++) {
        ts_candidate x = c[i];
        size_t j = i;
        for (; j > 0 && key_before(&x, &c[j - 1]); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

static void key_sort(ts_candidate *c, size_t n)
{
    key_sort_depth(c, n, depth_limit(n));
}

/*
 * Locally typical sets. Both peers order the kept tokens by |-log q_i - H|
 * (ties here by the ranking) and take them until the mass reaches typical_p:
 *   HF     keeps up to the first index whose cumulative mass is >= typical_p,
 *          plus every token tied with it in |-log q - H|;
 *   llama  keeps up to the first index whose cumulative mass is > typical_p.
 * The p fields hold the key while sorting; the kept set is left unsorted.
 */
static ts_status typical_common(ts_sampler *s, bool hf)
{
    if (s->n_keep <= 1) return TS_OK;
    const double mass = s->params.typical_p;
    double z = kept_mass(s), h = kept_entropy(s, z), logz = log(z);
    for (size_t i = 0; i < s->n_keep; i++) {
        ts_candidate *c = &s->cands[i];
        double lq = (isinf(s->t) ? 0.0 : (c->score - s->smax) / s->t) - logz;
        c->p = fabs(-lq - h);
    }
    key_sort(s->cands, s->n_keep);
    double cum = 0.0;
    size_t last = s->n_keep - 1;
    for (size_t i = 0; i < s->n_keep; i++) {
        cum += weight(s->cands[i].score, s->smax, s->t) / z;
        if (hf ? !(cum < mass) : cum > mass) {
            last = i;
            break;
        }
    }
    size_t keep = last + 1;
    if (hf)
        while (keep < s->n_keep && s->cands[keep].p == s->cands[last].p)
            keep++;
    s->n_keep = keep;
    s->n_sorted = 0;
    recompute_smax(s);
    return TS_OK;
}
static bool on_typical(const ts_sampler_params *p)
{
    return p->typical_p < 1.0 && p->mirostat == 0;
}
static ts_status apply_typical_hf(ts_sampler *s)
{
    return typical_common(s, true);
}
static ts_status apply_typical_llama(ts_sampler *s)
{
    return typical_common(s, false);
}

/* llama.cpp XTC: with probability xtc_probability drop all tokens with p >= threshold
 * except the least likely of them. The coin is u(key, apply count). */
static bool on_xtc(const ts_sampler_params *p)
{
    return p->xtc_probability > 0.0 && p->xtc_threshold <= 0.5 && p->mirostat == 0;
}
static ts_status apply_xtc(ts_sampler *s)
{
    if (s->n_keep < 2) return TS_OK;
    double u = ts_counter_uniform(s->key, XTC_TAG, s->n_applies, 0);
    if (u > s->params.xtc_probability) return TS_OK;
    const double thr = s->params.xtc_threshold;
    double z = kept_mass(s);
    size_t pos_last = 0, i = 0, chunk = 64;
    bool done = false;
    while (!done) {
        ensure_sorted(s, i + chunk);
        for (; i < s->n_sorted; i++) {
            if (weight(s->cands[i].score, s->smax, s->t) / z >= thr) {
                pos_last = i;
            } else {
                done = true;
                break;
            }
        }
        if (s->n_sorted == s->n_keep) break;
        chunk *= 2;
    }
    if (pos_last > 0) {
        memmove(s->cands, s->cands + pos_last, (s->n_keep - pos_last) * sizeof *s->cands);
        s->n_keep -= pos_last;
        s->n_sorted -= pos_last;
        s->smax = s->cands[0].score;
    }
    return TS_OK;
}

/* Mirostat v2: keep the ranked prefix with surprise -log2 q <= mu (at least one). */
static bool on_mirostat2(const ts_sampler_params *p)
{
    return p->mirostat == 2;
}
static ts_status apply_mirostat2(ts_sampler *s)
{
    if (s->n_keep <= 1) return TS_OK;
    double z = kept_mass(s);
    size_t i = 0, chunk = 64;
    for (;;) {
        ensure_sorted(s, i + chunk);
        for (; i < s->n_sorted; i++) {
            double q = weight(s->cands[i].score, s->smax, s->t) / z;
            if (-log2(q) > s->mu) {
                s->n_keep = s->n_sorted = i > 0 ? i : 1;
                return TS_OK;
            }
        }
        if (s->n_sorted == s->n_keep) return TS_OK;
        chunk *= 2;
    }
}

/* Mirostat v1: estimate the Zipf exponent s_hat from the top m tokens, then top-k
 * with k = (eps_hat 2^mu / (1 - V^-eps_hat))^(1 / s_hat). */
static bool on_mirostat1(const ts_sampler_params *p)
{
    return p->mirostat == 1;
}
static ts_status apply_mirostat1(ts_sampler *s)
{
    if (s->n_keep <= 1) return TS_OK;
    ensure_sorted(s, MIROSTAT_M);
    double sum_tb = 0.0, sum_tt = 0.0;
    for (size_t i = 0; i + 1 < MIROSTAT_M && i + 1 < s->n_keep; i++) {
        double ti = log((double)(i + 2) / (double)(i + 1));
        double bi = isinf(s->t) ? 0.0 : (s->cands[i].score - s->cands[i + 1].score) / s->t;
        sum_tb += ti * bi;
        sum_tt += ti * ti;
    }
    double s_hat = sum_tb / sum_tt, eps = s_hat - 1.0;
    double k = pow(eps * pow(2.0, s->mu) / (1.0 - pow((double)s->n_vocab, -eps)), 1.0 / s_hat);
    size_t kk;
    if (isnan(k) || k < 1.0)
        kk = 1;
    else if (k >= (double)s->n_keep)
        kk = s->n_keep;
    else
        kk = (size_t)k;
    ensure_sorted(s, kk);
    s->n_keep = s->n_sorted = kk;
    return TS_OK;
}

static void reset_mirostat(ts_sampler *s)
{
    s->mu = 2.0 * s->params.mirostat_tau;
}
static void accept_mirostat(ts_sampler *s, int32_t token)
{
    if (!s->have_dist) return;
    for (size_t i = 0; i < s->n_keep; i++) {
        if (s->cands[i].id == token) {
            if (s->cands[i].p > 0.0) {
                double surprise = -log2(s->cands[i].p);
                s->mu -= s->params.mirostat_eta * (surprise - s->params.mirostat_tau);
            }
            return;
        }
    }
}

/* ---- the step table and the four lists ------------------------------------ */

#define STEP(nm, ph, on, ap)                                                                       \
    {                                                                                              \
        nm, ph, on, ap, NULL, NULL                                                                 \
    }
static const step_def S_LOGIT_BIAS = STEP("logit_bias", true, on_logit_bias, apply_logit_bias);
static const step_def S_SUPPRESS = STEP("suppress", true, on_suppress, apply_suppress);
static const step_def S_REP_HF = STEP("repetition_penalty", true, on_rep_hf, apply_rep_hf);
static const step_def S_PRESFREQ =
    STEP("presence_frequency_penalty", true, on_presfreq_openai, apply_presfreq_openai);
static const step_def S_PENALTIES =
    STEP("penalties", true, on_penalties_llama, apply_penalties_llama);
static const step_def S_NGRAM = STEP("no_repeat_ngram", true, on_ngram, apply_ngram);
static const step_def S_TEMP = STEP("temperature", false, on_temperature, apply_temperature);
static const step_def S_DYNATEMP = STEP("dynatemp", false, on_dynatemp, apply_dynatemp);
static const step_def S_TARGET =
    STEP("target_entropy", false, on_target_entropy, apply_target_entropy);
static const step_def S_TOP_K = STEP("top_k", false, on_top_k, apply_top_k);
static const step_def S_TOP_P = STEP("top_p", false, on_top_p, apply_top_p);
static const step_def S_MIN_P = STEP("min_p", false, on_min_p, apply_min_p);
static const step_def S_TYPICAL_HF = STEP("typical_p", false, on_typical, apply_typical_hf);
static const step_def S_TYPICAL_LLAMA = STEP("typical_p", false, on_typical, apply_typical_llama);
static const step_def S_EPSILON = STEP("epsilon_cutoff", false, on_epsilon, apply_epsilon);
static const step_def S_ETA = STEP("eta_cutoff", false, on_eta, apply_eta);
static const step_def S_TOP_N_SIGMA = STEP("top_n_sigma", false, on_top_n_sigma, apply_top_n_sigma);
static const step_def S_XTC = STEP("xtc", false, on_xtc, apply_xtc);
static const step_def S_MIROSTAT1 = {"mirostat",      false,          on_mirostat1,
                                     apply_mirostat1, reset_mirostat, accept_mirostat};
static const step_def S_MIROSTAT2 = {"mirostat",      false,          on_mirostat2,
                                     apply_mirostat2, reset_mirostat, accept_mirostat};

/* clang-format off */
/* HF generate(): _get_logits_processor's order, then the warpers; the llama.cpp-only
 * steps (top-n-sigma, XTC) where they see the same distribution as in llama.cpp. */
static const step_def *const LIST_HF[] = {
    &S_LOGIT_BIAS,   /* SequenceBiasLogitsProcessor (length-1 biases) */
    &S_REP_HF,       /* RepetitionPenaltyLogitsProcessor */
    &S_PRESFREQ,     /* OpenAI / vLLM presence and frequency */
    &S_NGRAM,        /* NoRepeatNGramLogitsProcessor */
    &S_SUPPRESS,     /* MinNewTokensLengthLogitsProcessor, ignore_eos */
    &S_TEMP, &S_DYNATEMP, &S_TARGET, /* TemperatureLogitsWarper or a variant */
    &S_TOP_N_SIGMA,  /* llama.cpp */
    &S_TOP_K, &S_TOP_P, &S_MIN_P, &S_TYPICAL_HF, &S_EPSILON, &S_ETA,
    &S_XTC,          /* llama.cpp */
};
/* llama.cpp common_sampler_init's default order, logit_bias first; the HF-only steps
 * (no-repeat-n-gram with the penalties, epsilon / eta after min-p). */
static const step_def *const LIST_LLAMA[] = {
    &S_LOGIT_BIAS, &S_SUPPRESS,
    &S_PENALTIES,
    &S_NGRAM,        /* HF */
    &S_TOP_N_SIGMA, &S_TOP_K, &S_TYPICAL_LLAMA, &S_TOP_P, &S_MIN_P,
    &S_EPSILON, &S_ETA, /* HF */
    &S_XTC,
    &S_TEMP, &S_DYNATEMP, &S_TARGET, /* temp_ext */
};
/* Mirostat (llama.cpp: logit_bias -> temp -> mirostat; no penalties, no truncation).
 * The HF list keeps its logits processors before the temperature. */
static const step_def *const LIST_HF_MIROSTAT[] = {
    &S_LOGIT_BIAS, &S_REP_HF, &S_PRESFREQ, &S_NGRAM, &S_SUPPRESS,
    &S_TEMP, &S_MIROSTAT1, &S_MIROSTAT2,
};
static const step_def *const LIST_LLAMA_MIROSTAT[] = {
    &S_LOGIT_BIAS, &S_SUPPRESS,
    &S_TEMP, &S_MIROSTAT1, &S_MIROSTAT2,
};
/* clang-format on */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the chain ------------------------------------------------------------------- */

/* Build the kept set from logits; with score-phase steps, run them first. */
static ts_status build(ts_sampler *s, const float *logits, const ts_logits_info *info)
{
    if (!s->score_phase) {
        size_t m = 0;
        for (size_t i = 0; i < s->n_vocab; i++)
            if (logits[i] != -INFINITY)
                s->cands[m++] = (ts_candidate){(int32_t)i, logits[i], 0.0, logits[i]};
        s->n_keep = m;
        s->smax = info->zmax;
        return TS_OK;
    }
    for (size_t i = 0; i < s->n_vocab; i++)
        s->cands[i] = (ts_candidate){(int32_t)i, logits[i], 0.0, logits[i]};
    for (size_t k = 0; k < s->n_steps && s->steps[k]->score_phase; k++) {
        ts_status st = s->steps[k]->apply(s);
        if (st != TS_OK) return st;
    }
    size_t m = 0;
    double smax = -INFINITY;
    for (size_t i = 0; i < s->n_vocab; i++) {
        double sc = s->cands[i].score;
        if (sc == -INFINITY) continue;
        if (sc > smax) smax = sc;
        s->cands[m++] = s->cands[i];
    }
    if (m == 0) return TS_ERR_INVALID; /* every token masked by bias / bans */
    s->n_keep = m;
    s->smax = smax;
    return TS_OK;
}

/* Run the chain; leaves the kept set in cands[0, n_keep), p normalised. */
static ts_status run_chain(ts_sampler *s, const float *logits)
{
    s->have_dist = false;
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, s->n_vocab, s->params.temperature, &info);
    if (st != TS_OK) return st;
    s->n_sorted = 0;
    s->t = 1.0;
    s->last_t = s->params.temperature;

    if (s->greedy_shortcut) {
        /* Greedy with no step that could drop the argmax before T = 0 runs: the
         * argmax of the raw logits (first on ties), in either order. */
        s->cands[0] = (ts_candidate){(int32_t)info.imax, logits[info.imax], 1.0, logits[info.imax]};
        s->n_keep = s->n_sorted = 1;
        s->smax = logits[info.imax];
        s->entropy = 0.0;
    } else {
        st = build(s, logits, &info);
        if (st != TS_OK) return st;
        for (size_t k = 0; k < s->n_steps; k++) {
            if (s->steps[k]->score_phase) continue;
            st = s->steps[k]->apply(s);
            if (st != TS_OK) return st;
        }
        /* Final probabilities: softmax(score / t) over the kept set, and its entropy
         * H = log z - sum w x / z with x = (score - smax) / t, w = e^x: one pass, no log
         * per token. */
        double z = 0.0, wx = 0.0;
        const bool uniform = isinf(s->t);
        for (size_t i = 0; i < s->n_keep; i++) {
            double x = uniform ? 0.0 : (s->cands[i].score - s->smax) / s->t;
            double w = uniform ? 1.0 : exp(x);
            s->cands[i].p = w;
            z += w;
            if (w > 0.0) wx += w * x;
        }
        double inv = 1.0 / z; /* z >= 1: the top score is kept with weight 1 */
        for (size_t i = 0; i < s->n_keep; i++)
            s->cands[i].p *= inv;
        double h = log(z) - wx * inv;
        s->entropy = h > 0.0 ? h : 0.0; /* rounding can leave -1e-17 for one token */
    }
    s->n_applies++;
    s->have_dist = true;
    return TS_OK;
}

/* ---- public API ----------------------------------------------------------- */

ts_sampler_params ts_sampler_default_params(void)
{
    ts_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 1.0;
    p.top_k = 50;
    p.top_p = 1.0;
    p.min_p = 0.0;
    p.order = TS_ORDER_HF;
    p.seed = 0;
    p.repetition_penalty = 1.0;
    p.penalty_last_n = 64;
    p.typical_p = 1.0;
    p.top_n_sigma = -1.0;
    p.xtc_threshold = 0.1;
    p.dynatemp_exponent = 1.0;
    p.target_entropy = -1.0;
    p.mirostat_tau = 5.0;
    p.mirostat_eta = 0.1;
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

#define BAD(...) return ts_errorf(err, err_size, TS_ERR_INVALID, __VA_ARGS__)

static ts_status validate(const ts_sampler_params *p, size_t n_vocab, char *err, size_t err_size)
{
    if (isnan(p->temperature) || p->temperature < 0.0)
        BAD("temperature: %g must be >= 0 (0 = greedy, inf = uniform)", p->temperature);
    if (p->top_k < 0) BAD("top_k: %d must be >= 0 (0 = off)", (int)p->top_k);
    if (!(p->top_p > 0.0 && p->top_p <= 1.0))
        BAD("top_p: %g is outside (0, 1] (1 = off)", p->top_p);
    if (!(p->min_p >= 0.0 && p->min_p < 1.0))
        BAD("min_p: %g is outside [0, 1) (0 = off)", p->min_p);
    if (p->order != TS_ORDER_HF && p->order != TS_ORDER_LLAMA)
        BAD("order: unknown order %d (expected hf or llama)", (int)p->order);
    if (!(p->repetition_penalty > 0.0 && isfinite(p->repetition_penalty)))
        BAD("repetition_penalty: %g must be > 0 and finite (1 = off)", p->repetition_penalty);
    if (p->penalty_last_n < -1)
        BAD("penalty_last_n: %d must be >= -1 (-1 = the whole history, 0 = off)",
            (int)p->penalty_last_n);
    if (!(p->presence_penalty >= -2.0 && p->presence_penalty <= 2.0))
        BAD("presence_penalty: %g is outside [-2, 2] (0 = off)", p->presence_penalty);
    if (!(p->frequency_penalty >= -2.0 && p->frequency_penalty <= 2.0))
        BAD("frequency_penalty: %g is outside [-2, 2] (0 = off)", p->frequency_penalty);
    if (p->no_repeat_ngram_size < 0)
        BAD("no_repeat_ngram_size: %d must be >= 0 (0 = off)", (int)p->no_repeat_ngram_size);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        BAD("logit_bias: %zu entries but no array", p->n_logit_bias);
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        const ts_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || (size_t)b->token >= n_vocab)
            BAD("logit_bias: token %d is outside the vocabulary [0, %zu)", (int)b->token, n_vocab);
        if (isnan(b->bias) || b->bias == INFINITY)
            BAD("logit_bias: bias %g of token %d must be finite or -inf", b->bias, (int)b->token);
        for (size_t j = 0; j < i; j++)
            if (p->logit_bias[j].token == b->token)
                BAD("logit_bias: token %d appears twice", (int)b->token);
    }
    if (!(p->typical_p > 0.0 && p->typical_p <= 1.0))
        BAD("typical_p: %g is outside (0, 1] (1 = off)", p->typical_p);
    if (!(p->epsilon_cutoff >= 0.0 && p->epsilon_cutoff < 1.0))
        BAD("epsilon_cutoff: %g is outside [0, 1) (0 = off)", p->epsilon_cutoff);
    if (!(p->eta_cutoff >= 0.0 && p->eta_cutoff < 1.0))
        BAD("eta_cutoff: %g is outside [0, 1) (0 = off)", p->eta_cutoff);
    if (!isfinite(p->top_n_sigma))
        BAD("top_n_sigma: %g must be finite (<= 0 = off)", p->top_n_sigma);
    if (!(p->xtc_probability >= 0.0 && p->xtc_probability <= 1.0))
        BAD("xtc_probability: %g is outside [0, 1] (0 = off)", p->xtc_probability);
    if (!(p->xtc_threshold >= 0.0 && p->xtc_threshold <= 1.0))
        BAD("xtc_threshold: %g is outside [0, 1] (> 0.5 = off)", p->xtc_threshold);
    if (!(p->dynatemp_range >= 0.0 && isfinite(p->dynatemp_range)))
        BAD("dynatemp_range: %g must be >= 0 and finite (0 = off)", p->dynatemp_range);
    if (!(p->dynatemp_exponent >= 0.0 && isfinite(p->dynatemp_exponent)))
        BAD("dynatemp_exponent: %g must be >= 0 and finite", p->dynatemp_exponent);
    if (!(p->target_entropy == -1.0 || (p->target_entropy >= 0.0 && isfinite(p->target_entropy))))
        BAD("target_entropy: %g must be >= 0 nats and finite (-1 = off)", p->target_entropy);
    if (p->mirostat < 0 || p->mirostat > 2)
        BAD("mirostat: %d must be 0 (off), 1 or 2", (int)p->mirostat);
    if (!(p->mirostat_tau > 0.0 && isfinite(p->mirostat_tau)))
        BAD("mirostat_tau: %g must be > 0 and finite (bits)", p->mirostat_tau);
    if (!(p->mirostat_eta >= 0.0 && isfinite(p->mirostat_eta)))
        BAD("mirostat_eta: %g must be >= 0 and finite", p->mirostat_eta);
    if (p->n_ctx < 0) BAD("n_ctx: %d must be >= 0 (0 = %d)", (int)p->n_ctx, DEFAULT_N_CTX);
    if (p->target_entropy >= 0.0) {
        if (p->temperature != 1.0)
            BAD("target_entropy: replaces temperature (solved per step); leave temperature at 1, "
                "not %g",
                p->temperature);
        if (p->dynatemp_range > 0.0)
            BAD("target_entropy: cannot be combined with dynatemp_range %g", p->dynatemp_range);
        if (p->mirostat != 0)
            BAD("target_entropy: cannot be combined with mirostat %d", (int)p->mirostat);
    }
    if (p->dynatemp_range > 0.0 && p->mirostat != 0)
        BAD("dynatemp_range: cannot be combined with mirostat %d (llama.cpp ignores it there)",
            (int)p->mirostat);
    if (n_vocab == 0 || n_vocab > (size_t)INT32_MAX)
        BAD("n_vocab: vocabulary size %zu must be in [1, 2^31)", n_vocab);
    return TS_OK;
}

static bool is_greedy_plain(const ts_sampler *s)
{
    bool t0 = false;
    for (size_t k = 0; k < s->n_steps; k++) {
        const step_def *d = s->steps[k];
        if (d->score_phase && d != &S_SUPPRESS) return false;
        if (d == &S_TEMP) t0 = s->params.temperature == 0.0;
        if (d == &S_DYNATEMP || d == &S_TARGET) return false;
        /* llama order: typical and XTC run before T = 0 and may drop the argmax */
        if (s->params.order == TS_ORDER_LLAMA && (d == &S_TYPICAL_LLAMA || d == &S_XTC))
            return false;
    }
    return t0;
}

ts_status ts_sampler_new(const ts_sampler_params *params, size_t n_vocab, ts_sampler **out,
                         char *err, size_t err_size)
{
    *out = NULL;
    const ts_sampler_params *p = params;
    ts_status st = validate(p, n_vocab, err, err_size);
    if (st != TS_OK) return st;
    size_t cap = p->n_ctx > 0 ? (size_t)p->n_ctx : DEFAULT_N_CTX;
    size_t bytes;
    if (ts_mul_overflows(n_vocab, sizeof(ts_candidate), &bytes))
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "sampler: vocabulary too large");
    ts_sampler *s = calloc(1, sizeof *s);
    if (!s) return ts_errorf(err, err_size, TS_ERR_NOMEM, "sampler: out of memory");
    s->params = *p;
    s->n_vocab = n_vocab;
    s->hist_cap = cap;
    s->suppressed = -1;
    bool ok = (s->cands = malloc(bytes)) && (s->hist = malloc(cap * sizeof *s->hist)) &&
              (s->hist_gen = malloc(cap));
    if (ok && p->n_logit_bias > 0) {
        ok = (s->bias = malloc(p->n_logit_bias * sizeof *s->bias)) != NULL;
        if (ok) memcpy(s->bias, p->logit_bias, p->n_logit_bias * sizeof *s->bias);
    }
    s->params.logit_bias = s->bias;

    bool miro = p->mirostat != 0, hf = p->order == TS_ORDER_HF;
    s->list = miro ? (hf ? LIST_HF_MIROSTAT : LIST_LLAMA_MIROSTAT) : (hf ? LIST_HF : LIST_LLAMA);
    s->n_list = miro ? (hf ? COUNT(LIST_HF_MIROSTAT) : COUNT(LIST_LLAMA_MIROSTAT))
                     : (hf ? COUNT(LIST_HF) : COUNT(LIST_LLAMA));
    bool need_counts = false;
    for (size_t k = 0; k < s->n_list; k++) {
        const step_def *d = s->list[k];
        if (!d->active(p)) continue;
        TS_ASSERT(s->n_steps < MAX_STEPS);
        /* score-phase steps all come before the candidate-phase ones in every list */
        TS_ASSERT(!d->score_phase || s->n_steps == 0 || s->steps[s->n_steps - 1]->score_phase);
        s->steps[s->n_steps++] = d;
        if (d == &S_REP_HF || d == &S_PRESFREQ || d == &S_PENALTIES) need_counts = true;
        if (d == &S_TARGET && ok) ok = (s->fscratch = malloc(n_vocab * sizeof(float))) != NULL;
    }
    /* "suppress" is always listed; it only needs the score phase when another
     * score step is on or a token gets suppressed, so it is handled at apply time. */
    for (size_t k = 0; k < s->n_steps; k++)
        if (s->steps[k]->score_phase && s->steps[k] != &S_SUPPRESS) s->score_phase = true;
    if (ok && need_counts) ok = (s->counts = calloc(n_vocab, sizeof *s->counts)) != NULL;
    if (!ok) {
        ts_sampler_free(s);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "sampler: out of memory");
    }
    s->greedy_shortcut = is_greedy_plain(s);
    ts_sampler_reset(s);
    *out = s;
    return TS_OK;
}

void ts_sampler_free(ts_sampler *s)
{
    if (!s) return;
    free(s->cands);
    free(s->hist);
    free(s->hist_gen);
    free(s->counts);
    free(s->bias);
    free(s->fscratch);
    free(s);
}

void ts_sampler_reseed(ts_sampler *s, uint64_t seed)
{
    ts_rng_seed(&s->rng, seed);
    s->key = seed;
    s->n_applies = 0;
}

void ts_sampler_reset(ts_sampler *s)
{
    s->hist_len = s->hist_head = s->n_gen_in_hist = 0;
    s->suppressed = -1;
    s->have_dist = false;
    s->last_t = NAN;
    s->mu = NAN;
    for (size_t k = 0; k < s->n_list; k++)
        if (s->list[k]->reset && s->list[k]->active(&s->params)) s->list[k]->reset(s);
    ts_sampler_reseed(s, s->params.seed);
}

ts_status ts_sampler_accept_prompt(ts_sampler *s, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= s->n_vocab) return TS_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        hist_push(s, ids[i], false);
    return TS_OK;
}

ts_status ts_sampler_accept(ts_sampler *s, int32_t token)
{
    if (token < 0 || (size_t)token >= s->n_vocab) return TS_ERR_INVALID;
    for (size_t k = 0; k < s->n_steps; k++)
        if (s->steps[k]->accept) s->steps[k]->accept(s, token);
    hist_push(s, token, true);
    return TS_OK;
}

size_t ts_sampler_history_size(const ts_sampler *s)
{
    return s->hist_len;
}

size_t ts_sampler_n_generated(const ts_sampler *s)
{
    return s->n_gen_in_hist;
}

void ts_sampler_suppress(ts_sampler *s, int32_t id)
{
    s->suppressed = (id >= 0 && (size_t)id < s->n_vocab) ? id : -1;
}

/* A suppressed token needs the score phase even when no other score step is on. */
static ts_status run(ts_sampler *s, const float *logits)
{
    bool saved_phase = s->score_phase, saved_greedy = s->greedy_shortcut;
    if (s->suppressed >= 0) {
        s->score_phase = true;
        s->greedy_shortcut = false;
    }
    ts_status st = run_chain(s, logits);
    s->score_phase = saved_phase;
    s->greedy_shortcut = saved_greedy;
    return st;
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

ts_status ts_sampler_apply_unsorted(ts_sampler *s, const float *logits, const ts_candidate **cands,
                                    size_t *n_cands)
{
    ts_status st = run(s, logits);
    if (st != TS_OK) return st;
    *cands = s->cands;
    *n_cands = s->n_keep;
    return TS_OK;
}

size_t ts_sampler_rank_head(ts_sampler *s, size_t m)
{
    if (!s->have_dist) return 0;
    ensure_sorted(s, m);
    return s->n_sorted < m ? s->n_sorted : m;
}

ts_status ts_sampler_apply(ts_sampler *s, const float *logits, const ts_candidate **cands,
                           size_t *n_cands)
{
    ts_status st = ts_sampler_apply_unsorted(s, logits, cands, n_cands);
    if (st == TS_OK) ts_sampler_rank_head(s, *n_cands);
    return st;
}

double ts_sampler_last_entropy(const ts_sampler *s)
{
    return s->have_dist ? s->entropy : NAN;
}

int32_t ts_sampler_sample(ts_sampler *s, const float *logits)
{
    if (run(s, logits) != TS_OK) return -1;
    return ts_sampler_draw(s, ts_rng_uniform(&s->rng));
}

int32_t ts_sampler_draw(ts_sampler *s, double u)
{
    if (!s->have_dist) return -1;
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

double ts_sampler_last_temperature(const ts_sampler *s)
{
    return s->last_t;
}

double ts_sampler_mirostat_mu(const ts_sampler *s)
{
    return s->params.mirostat ? s->mu : NAN;
}

size_t ts_sampler_chain(const ts_sampler *s, const char **names, size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < s->n_steps; k++) {
        const step_def *d = s->steps[k];
        if (d == &S_SUPPRESS) continue; /* internal: shown only through its users */
        if (d == &S_TEMP && s->params.temperature == 1.0 && s->params.mirostat == 0) continue;
        if (n < cap) names[n] = d->name;
        n++;
    }
    return n;
}
