/*
 * stats.c — entropy, perplexity, KL divergence, and the temperature that
 * gives a chosen entropy.
 *
 * Entropy straight from logits uses, with s_i = (z_i - zmax) / T and
 * Z = sum_i exp(s_i):
 *     H(T)          = log Z - E_p[s]
 *     dH / d log T  = Var_p[s]          (>= 0, so H is non-decreasing in T)
 * one pass, no scratch. The root find for H(T) = target works on u = log T,
 * where H is smooth and its slope is that variance: Newton steps, kept inside
 * a bisection bracket that always shrinks.
 */
#include "internal.h"

#include <math.h>

double ts_entropy_nats(const double *p, size_t n)
{
    double h = 0.0;
    for (size_t i = 0; i < n; i++)
        if (p[i] > 0.0) h -= p[i] * log(p[i]);
    return h;
}

double ts_entropy_bits(const double *p, size_t n)
{
    return ts_entropy_nats(p, n) / M_LN2;
}

double ts_perplexity(const double *p, size_t n)
{
    return exp(ts_entropy_nats(p, n));
}

double ts_kl_divergence(const double *p, const double *q, size_t n)
{
    double kl = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!(p[i] > 0.0)) continue;
        if (!(q[i] > 0.0)) return INFINITY;
        kl += p[i] * log(p[i] / q[i]);
    }
    return kl;
}

/*
 * H and dH/dlogT of softmax(z/T) for 0 < T < inf (validated logits); slope may
 * be NULL (then the second moment is not summed). *log_sum, when asked, gets
 * log sum_i exp((z_i - zmax)/T): the same terms in the same order as
 * ts_logsumexp, so zmax/T + *log_sum is its result to the bit.
 */
static void entropy_and_slope(const float *logits, size_t n, double zmax, double t, double *h,
                              double *slope, double *log_sum)
{
    double z = 0.0, m1 = 0.0, m2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double s = ((double)logits[i] - zmax) / t;
        double e = exp(s);
        if (e == 0.0) continue; /* -inf logits and underflow: also avoids 0 * -inf */
        z += e;
        m1 += e * s;
        if (slope) m2 += e * s * s;
    }
    m1 /= z;
    m2 /= z;
    double hv = log(z) - m1;
    double var = m2 - m1 * m1;
    *h = hv > 0.0 ? hv : 0.0;
    if (slope) *slope = var > 0.0 ? var : 0.0;
    if (log_sum) *log_sum = log(z);
}

ts_status ts_entropy_at_temperature(const float *logits, size_t n, double temperature,
                                    double *entropy_nats)
{
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, n, temperature, &info);
    if (st != TS_OK) return st;
    if (temperature == 0.0) {
        *entropy_nats = 0.0;
    } else if (isinf(temperature)) {
        *entropy_nats = log((double)info.n_finite);
    } else {
        entropy_and_slope(logits, n, info.zmax, temperature, entropy_nats, NULL, NULL);
    }
    return TS_OK;
}

ts_status ts_logsumexp_entropy(const float *logits, size_t n, double temperature, double *lse,
                               double *entropy_nats)
{
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, n, temperature, &info);
    if (st != TS_OK) return st;
    if (!(temperature > 0.0) || isinf(temperature)) return TS_ERR_INVALID;
    double log_sum;
    entropy_and_slope(logits, n, info.zmax, temperature, entropy_nats, NULL, &log_sum);
    *lse = info.zmax / temperature + log_sum;
    return TS_OK;
}

ts_status ts_temperature_for_entropy(const float *logits, size_t n, double target_nats,
                                     double *temperature)
{
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, n, 1.0, &info);
    if (st != TS_OK) return st;
    if (isnan(target_nats)) return TS_ERR_INVALID;

    /* As T -> 0+ the entropy tends to log(#tokens tied at the max); as T -> inf
     * to log(#finite). Between, H is strictly increasing, so the root is unique. */
    size_t n_ties = 0;
    for (size_t i = 0; i < n; i++)
        n_ties += (logits[i] == info.zmax);
    double h_hi = log((double)info.n_finite), h_lo = log((double)n_ties);
    if (target_nats == 0.0 && n_ties == 1) {
        *temperature = 0.0;
        return TS_OK;
    }
    if (!(target_nats > h_lo) || !(target_nats < h_hi)) return TS_ERR_RANGE;

    const double zmax = info.zmax;
    const double u_min = -700.0, u_max = 700.0; /* T in [e^-700, e^700] */
    double lo, hi, h, slope;

    /* Bracket the root in u = log T, starting from T = 1 and doubling the step. */
    entropy_and_slope(logits, n, zmax, 1.0, &h, &slope, NULL);
    if (h < target_nats) {
        lo = 0.0;
        hi = 1.0;
        for (double step = 1.0;; step *= 2.0) {
            hi = lo + step;
            if (hi > u_max) return TS_ERR_RANGE;
            entropy_and_slope(logits, n, zmax, exp(hi), &h, &slope, NULL);
            if (h >= target_nats) break;
            lo = hi;
        }
    } else {
        hi = 0.0;
        lo = -1.0;
        for (double step = 1.0;; step *= 2.0) {
            lo = hi - step;
            if (lo < u_min) return TS_ERR_RANGE;
            entropy_and_slope(logits, n, zmax, exp(lo), &h, &slope, NULL);
            if (h <= target_nats) break;
            hi = lo;
        }
    }

    /* Newton on u, falling back to bisection when a step leaves the bracket. */
    double u = 0.5 * (lo + hi);
    const double ftol = 1e-13 * (target_nats > 1.0 ? target_nats : 1.0);
    for (int it = 0; it < 200; it++) {
        entropy_and_slope(logits, n, zmax, exp(u), &h, &slope, NULL);
        double f = h - target_nats;
        if (fabs(f) <= ftol) break;
        if (f < 0.0)
            lo = u;
        else
            hi = u;
        if (hi - lo <= 1e-15 * (fabs(u) > 1.0 ? fabs(u) : 1.0)) break;
        double un = slope > 0.0 ? u - f / slope : NAN;
        if (!(un > lo && un < hi)) un = 0.5 * (lo + hi);
        u = un;
    }
    *temperature = exp(u);
    return TS_OK;
}
