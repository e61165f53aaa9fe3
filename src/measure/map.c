/*
 * map.c — truncation x temperature: for one logit vector, what the sampler
 * draws from at each (T, top-p / min-p / top-k) in the HF order and the
 * llama.cpp order (docs/sampling.md): the number of tokens kept, the entropy
 * of the distribution drawn from, and the probability mass the kept tokens
 * have under softmax(z / T).
 *
 * Every truncation keeps a prefix of the ranking (logit desc, lower id
 * first), so after one sort the grid is prefix sums: for each T, with
 * w_i = exp((z_i - z_max) / T) and s_i = (z_i - z_max) / T in ranked order,
 *     S_m = sum_{i<m} w_i,  A_m = sum_{i<m} w_i s_i,
 *     entropy of the top m = log S_m - A_m / S_m,  mass = S_m / S_n.
 * top-p keeps the smallest m with S_m >= p S_n (the distribution it sees:
 * T in HF order, T = 1 in llama order); min-p keeps w_i >= min_p (same
 * expression as the sampler's); top-k keeps min(k, n). T = 0 keeps the argmax;
 * T = inf uses w = 1.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef struct ranked {
    float z;
    int32_t id;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->z != y->z) return x->z > y->z ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

typedef struct prefix {
    double *S, *A; /* [nf + 1] */
} prefix;

static void fill_prefix(const ranked *r, size_t nf, double t, prefix *p)
{
    const double zmax = r[0].z;
    p->S[0] = p->A[0] = 0;
    for (size_t i = 0; i < nf; i++) {
        double s = isinf(t) ? 0.0 : ((double)r[i].z - zmax) / t;
        double w = isinf(t) ? 1.0 : exp(s);
        p->S[i + 1] = p->S[i] + w;
        p->A[i + 1] = p->A[i] + (w > 0 ? w * s : 0);
    }
}

/* Kept prefix length for one truncation value seen at temperature t_trunc. */
static size_t kept(const ranked *r, size_t nf, const prefix *pt, double t_trunc, ts_map_axis axis,
                   double v)
{
    switch (axis) {
    case TS_MAP_TOP_K:
        return v <= 0 || (size_t)v >= nf ? nf : (size_t)v;
    case TS_MAP_TOP_P: {
        if (v >= 1.0) return nf;
        const double target = v * pt->S[nf];
        size_t lo = 1, hi = nf; /* smallest m with S_m >= target */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (pt->S[mid] >= target)
                hi = mid;
            else
                lo = mid + 1;
        }
        return lo;
    }
    case TS_MAP_MIN_P: {
        if (v <= 0) return nf;
        const double zmax = r[0].z;
        size_t lo = 1, hi = nf; /* largest m with w_{m-1} >= v (w non-increasing) */
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            double w = isinf(t_trunc) ? 1.0 : exp(((double)r[mid - 1].z - zmax) / t_trunc);
            if (w >= v)
                lo = mid;
            else
                hi = mid - 1;
        }
        return lo;
    }
    }
    return nf;
}

static ts_map_cell cell(const prefix *p, size_t m, size_t nf)
{
    ts_map_cell c;
    c.support = m;
    double h = log(p->S[m]) - p->A[m] / p->S[m];
    c.entropy = h > 0 ? h : 0;
    c.mass = p->S[m] / p->S[nf];
    return c;
}

ts_status ts_map_grid(const float *logits, size_t n, const double *temperatures, size_t n_temps,
                      ts_map_axis axis, const double *values, size_t n_values, ts_map_cell *hf,
                      ts_map_cell *llama, char *err, size_t err_size)
{
    ts_logits_info info;
    if (ts_logits_scan(logits, n, 1.0, &info) != TS_OK)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "map: bad logits (NaN, +inf, or all -inf)");
    if (axis != TS_MAP_TOP_P && axis != TS_MAP_MIN_P && axis != TS_MAP_TOP_K)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "map: unknown axis %d", (int)axis);
    for (size_t t = 0; t < n_temps; t++)
        if (isnan(temperatures[t]) || temperatures[t] < 0)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "map: temperature %g must be >= 0 (0 = greedy, inf = uniform)",
                             temperatures[t]);
    for (size_t v = 0; v < n_values; v++) {
        double x = values[v];
        bool ok = axis == TS_MAP_TOP_P   ? x > 0 && x <= 1
                  : axis == TS_MAP_MIN_P ? x >= 0 && x < 1
                                         : x >= 0 && x == floor(x) && x <= (double)INT32_MAX;
        if (!ok)
            return ts_errorf(err, err_size, TS_ERR_INVALID, "map: %s value %g out of range (%s)",
                             axis == TS_MAP_TOP_P   ? "top-p"
                             : axis == TS_MAP_MIN_P ? "min-p"
                                                    : "top-k",
                             x,
                             axis == TS_MAP_TOP_P   ? "(0, 1]"
                             : axis == TS_MAP_MIN_P ? "[0, 1)"
                                                    : "an integer >= 0");
    }
    const size_t nf = info.n_finite;
    ranked *r = malloc(nf * sizeof *r);
    double *buf = malloc(4 * (nf + 1) * sizeof *buf);
    if (!r || !buf) {
        free(r);
        free(buf);
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "map: out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (logits[i] != -INFINITY) r[m++] = (ranked){logits[i], (int32_t)i};
    qsort(r, nf, sizeof *r, cmp_ranked);
    prefix p1 = {buf, buf + (nf + 1)}, pt = {buf + 2 * (nf + 1), buf + 3 * (nf + 1)};
    fill_prefix(r, nf, 1.0, &p1);
    for (size_t t = 0; t < n_temps; t++) {
        const double T = temperatures[t];
        if (T == 0) {
            for (size_t v = 0; v < n_values; v++) {
                ts_map_cell one = {1, 0.0, 1.0};
                if (hf) hf[t * n_values + v] = one;
                if (llama) llama[t * n_values + v] = one;
            }
            continue;
        }
        if (T == 1.0)
            memcpy(pt.S, p1.S, 2 * (nf + 1) * sizeof *pt.S); /* S and A, adjacent */
        else
            fill_prefix(r, nf, T, &pt);
        for (size_t v = 0; v < n_values; v++) {
            if (hf) hf[t * n_values + v] = cell(&pt, kept(r, nf, &pt, T, axis, values[v]), nf);
            if (llama)
                llama[t * n_values + v] = cell(&pt, kept(r, nf, &p1, 1.0, axis, values[v]), nf);
        }
    }
    free(r);
    free(buf);
    return TS_OK;
}
