/*
 * trace.c — one position of a text under the model: the token's surprisal,
 * rank and the entropy at T = 1 and at a chosen T, and the smallest T at which
 * it survives a truncation (top-k / top-p / min-p) — which settings could have
 * produced this text.
 *
 * The truncation rules are those of src/sampling/sampler.c (docs/sampling.md):
 * every step keeps a prefix of the ranking (logit desc, lower id first).
 *   top-k   keeps ranks 1..k: independent of T.
 *   top-p   keeps the token at rank r iff C(T) < p, where C(T) is the mass of
 *           ranks 1..r-1 under softmax(z / T) renormalised over the top-k set.
 *           C is non-increasing in T (the head's mean logit is at least the
 *           kept set's, so d log C / d(1/T) = E_head[z] - E_kept[z] >= 0): the
 *           token survives exactly above one threshold T_p, found by a
 *           safeguarded Newton iteration on log(1/T).
 *   min-p   keeps it iff exp((z_r - z_max) / T) >= min_p, i.e.
 *           T >= (z_max - z_r) / (-log min_p).
 * In the HF order truncation sees softmax(z / T), so the thresholds combine:
 * t_min = max(T_p, T_minp) (infinite when top-k drops it). In the llama.cpp
 * order truncation runs at T = 1 before the temperature: survival is the same
 * at every T > 0 (at T = 0 only the top token is ever drawn, in both orders).
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Order-preserving map of a finite float to uint32. */
static inline uint32_t fkey(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

typedef struct trace_ctx {
    const float *z;
    size_t n;
    float zmax;
    float zr;
    int32_t id;
    uint32_t kkey; /* kept set (top-k): fkey(z) > kkey, or == kkey with id <= kid */
    size_t kid;
    bool all_kept;
} trace_ctx;

static inline bool ranks_before(float zi, size_t i, float zr, int32_t id)
{
    return zi > zr || (zi == zr && (int32_t)i < id);
}

static inline bool is_kept(const trace_ctx *c, size_t i)
{
    if (c->all_kept) return c->z[i] != -INFINITY;
    uint32_t k = fkey(c->z[i]);
    return c->z[i] != -INFINITY && (k > c->kkey || (k == c->kkey && i <= c->kid));
}

/* log C(beta) and d log C / d beta (beta = 1/T > 0 finite). */
static void head_mass(const trace_ctx *c, double beta, double *logc, double *dlogc)
{
    double sh = 0, sk = 0, zh = 0, zk = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!is_kept(c, i)) continue;
        double d = (double)c->z[i] - c->zmax, w = exp(beta * d);
        sk += w;
        zk += w * d;
        if (ranks_before(c->z[i], i, c->zr, c->id)) {
            sh += w;
            zh += w * d;
        }
    }
    *logc = sh > 0 ? log(sh / sk) : -INFINITY;
    if (dlogc) *dlogc = sh > 0 ? zh / sh - zk / sk : 0;
}

/* Kept set of top-k as a (key, id) threshold: the m-th ranked token. */
static void topk_threshold(trace_ctx *c, size_t m)
{
    /* largest key v with #{key >= v} >= m (finite logits only) */
    uint64_t lo = 0, hi = 0xFFFFFFFFull;
    while (lo < hi) {
        uint64_t mid = (lo + hi + 1) / 2;
        size_t cnt = 0;
        for (size_t i = 0; i < c->n; i++)
            cnt += c->z[i] != -INFINITY && fkey(c->z[i]) >= (uint32_t)mid;
        if (cnt >= m)
            lo = mid;
        else
            hi = mid - 1;
    }
    c->kkey = (uint32_t)lo;
    size_t above = 0;
    for (size_t i = 0; i < c->n; i++)
        above += c->z[i] != -INFINITY && fkey(c->z[i]) > c->kkey;
    size_t need = m - above; /* >= 1 copies of the threshold value, lowest ids first */
    c->kid = 0;
    for (size_t i = 0; i < c->n && need > 0; i++)
        if (c->z[i] != -INFINITY && fkey(c->z[i]) == c->kkey) {
            c->kid = i;
            need--;
        }
}

/* Smallest T above which C(T) < p; 0 if always, INFINITY if never. */
static double top_p_threshold(const trace_ctx *c, size_t rank, size_t m_kept, size_t n_max_ties,
                              size_t before_in_ties, double p)
{
    if (rank == 1) return 0;
    if ((double)(rank - 1) / (double)m_kept >= p) return INFINITY; /* C(T = inf) */
    if ((double)before_in_ties / (double)n_max_ties < p) return 0; /* C(T -> 0) */
    const double lp = log(p);
    /* bracket x = log beta: g(x) = log C - log p increasing */
    double lo = 0, hi = 0, g, dg;
    head_mass(c, 1.0, &g, &dg);
    g -= lp;
    if (g < 0) {
        lo = 0;
        for (hi = 1;; hi *= 2) {
            double gh;
            head_mass(c, exp(hi), &gh, NULL);
            if (gh - lp >= 0 || hi > 700) break;
            lo = hi;
        }
    } else {
        hi = 0;
        for (lo = -1;; lo *= 2) {
            double gl;
            head_mass(c, exp(lo), &gl, NULL);
            if (gl - lp < 0 || lo < -700) break;
            hi = lo;
        }
    }
    double x = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        double beta = exp(x);
        head_mass(c, beta, &g, &dg);
        g -= lp;
        if (g < 0)
            lo = x;
        else
            hi = x;
        if (hi - lo <= 1e-14 * fmax(1.0, fabs(x))) break;
        double xn = dg > 0 ? x - g / (beta * dg) : NAN;
        if (!(xn > lo && xn < hi)) xn = 0.5 * (lo + hi);
        if (fabs(xn - x) <= 1e-15 * fmax(1.0, fabs(x))) {
            x = xn;
            break;
        }
        x = xn;
    }
    return exp(-x);
}

ts_status ts_trace_token(const float *logits, size_t n, int32_t token, double temperature,
                         const ts_truncation *trunc, ts_token_trace *out, char *err,
                         size_t err_size)
{
    memset(out, 0, sizeof *out);
    ts_logits_info info;
    if (ts_logits_scan(logits, n, temperature, &info) != TS_OK)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "trace: bad logits (NaN / +inf / all -inf) or temperature %g (must be "
                         ">= 0)",
                         temperature);
    if (token < 0 || (size_t)token >= n)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "trace: token %d outside [0, %zu)", token,
                         n);
    if (logits[token] == -INFINITY)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "trace: token %d is masked (-inf logit)",
                         token);
    ts_truncation tr = trunc ? *trunc : (ts_truncation){0, 1.0, 0.0};
    if (tr.top_k < 0 || !(tr.top_p > 0 && tr.top_p <= 1) || !(tr.min_p >= 0 && tr.min_p < 1))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "trace: truncation top-k %d, top-p %g, min-p %g out of range (top-k >= "
                         "0, top-p in (0, 1], min-p in [0, 1))",
                         (int)tr.top_k, tr.top_p, tr.min_p);
    const float zr = logits[token], zmax = info.zmax;
    size_t rank = 1, n_ties = 0, before_ties = 0;
    for (size_t i = 0; i < n; i++) {
        rank += ranks_before(logits[i], i, zr, token);
        if (logits[i] == zmax) {
            n_ties++;
            before_ties += ranks_before(logits[i], i, zr, token);
        }
    }
    out->token = token;
    out->rank = rank;
    out->temperature = temperature;
    double lse1;
    ts_logsumexp_entropy(logits, n, 1.0, &lse1, &out->entropy); /* validated above */
    out->surprisal = lse1 - (double)zr;
    ts_entropy_at_temperature(logits, n, temperature, &out->entropy_t);
    if (temperature == 0)
        out->surprisal_t = (size_t)token == info.imax ? 0 : INFINITY;
    else if (isinf(temperature))
        out->surprisal_t = log((double)info.n_finite);
    else
        out->surprisal_t = ts_logsumexp(logits, n, temperature) - (double)zr / temperature;

    trace_ctx c = {logits, n, zmax, zr, token, 0, 0, true};
    size_t m = info.n_finite;
    if (tr.top_k > 0 && (size_t)tr.top_k < info.n_finite) {
        m = (size_t)tr.top_k;
        c.all_kept = false;
        topk_threshold(&c, m);
    }
    const bool in_topk = rank <= m;
    double t_p = 0, t_minp = 0;
    if (in_topk && tr.top_p < 1) t_p = top_p_threshold(&c, rank, m, n_ties, before_ties, tr.top_p);
    if (tr.min_p > 0) t_minp = ((double)zmax - (double)zr) / -log(tr.min_p);
    out->t_min_hf = in_topk ? fmax(t_p, t_minp) : INFINITY;

    /* survival at one T, straight from the rules (not from the thresholds) */
    bool keep_p1 = true;
    if (in_topk && tr.top_p < 1 && rank > 1) {
        double lc;
        head_mass(&c, 1.0, &lc, NULL);
        keep_p1 = exp(lc) < tr.top_p;
    }
    out->survives_llama =
        in_topk && keep_p1 && (tr.min_p == 0 || exp((double)zr - (double)zmax) >= tr.min_p);
    out->t_min_llama = out->survives_llama ? 0 : INFINITY;
    out->llama_t_independent = true;
    if (temperature == 0) {
        out->survives_hf = (size_t)token == info.imax;
    } else {
        bool keep_p = true;
        if (in_topk && tr.top_p < 1 && rank > 1) {
            if (isinf(temperature)) {
                keep_p = (double)(rank - 1) / (double)m < tr.top_p;
            } else {
                double lc;
                head_mass(&c, 1.0 / temperature, &lc, NULL);
                keep_p = exp(lc) < tr.top_p;
            }
        }
        double w = isinf(temperature) ? 1.0 : exp(((double)zr - (double)zmax) / temperature);
        out->survives_hf = in_topk && keep_p && (tr.min_p == 0 || w >= tr.min_p);
    }
    return TS_OK;
}
