/*
 * softmax.c — temperature softmax, log-softmax, log-sum-exp and argmax.
 *
 * Every function reads `const float *logits` and never writes it. The sums
 * are taken in double after subtracting the largest finite logit, so
 * exp() never overflows and the largest term is exactly 1; with n = 50,257
 * the sum's relative rounding error stays near 1e-16 * log2(n).
 *
 * The limits are defined rather than computed (see docs/numerics.md):
 *   T = 0     one-hot on the first maximum (the limit of softmax(z/T) as
 *             T -> 0+ when the maximum is unique; ties go to the lowest id so
 *             that T = 0 agrees with greedy decoding);
 *   T = +inf  uniform over the tokens whose logit is finite;
 *   -inf      a masked token: probability exactly 0 at every T.
 */
#include "internal.h"

#include <math.h>

ts_status ts_logits_scan(const float *logits, size_t n, double temperature, ts_logits_info *info)
{
    if (n == 0 || !logits) return TS_ERR_INVALID;
    if (isnan(temperature) || temperature < 0.0) return TS_ERR_INVALID;
    /* Runs once per token over 50,257 logits. Without -ffast-math the compiler
     * may not reorder a max reduction, so keep 8 independent maxima by hand:
     * 8 dependency chains instead of one. NaN never wins a `>`. */
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    size_t n_finite = 0;
    unsigned bad = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) {
            float z = logits[i + (size_t)k];
            bad |= (unsigned)(z != z) | (unsigned)(z == INFINITY);
            n_finite += (z != -INFINITY);
            m[k] = z > m[k] ? z : m[k];
        }
    }
    for (; i < n; i++) {
        float z = logits[i];
        bad |= (unsigned)(z != z) | (unsigned)(z == INFINITY);
        n_finite += (z != -INFINITY);
        m[0] = z > m[0] ? z : m[0];
    }
    float zmax = m[0];
    for (int k = 1; k < 8; k++)
        zmax = m[k] > zmax ? m[k] : zmax;
    if (bad || n_finite == 0) return TS_ERR_INVALID;
    size_t imax = 0;
    while (logits[imax] != zmax)
        imax++; /* the first maximum */
    info->zmax = zmax;
    info->imax = imax;
    info->n_finite = n_finite;
    return TS_OK;
}

size_t ts_argmax(const float *logits, size_t n)
{
    TS_ASSERT(n > 0);
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i; /* strict: the first maximum wins */
    return best;
}

ts_status ts_softmax(const float *logits, size_t n, double temperature, double *probs)
{
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, n, temperature, &info);
    if (st != TS_OK) return st;

    if (temperature == 0.0) {
        for (size_t i = 0; i < n; i++)
            probs[i] = 0.0;
        probs[info.imax] = 1.0;
        return TS_OK;
    }
    if (isinf(temperature)) {
        double u = 1.0 / (double)info.n_finite;
        for (size_t i = 0; i < n; i++)
            probs[i] = logits[i] == -INFINITY ? 0.0 : u;
        return TS_OK;
    }
    /* (z - zmax) / T <= 0, so every term is in [0, 1] and the max term is 1. */
    double zmax = info.zmax, sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = exp(((double)logits[i] - zmax) / temperature);
        probs[i] = e;
        sum += e;
    }
    double inv = 1.0 / sum;
    for (size_t i = 0; i < n; i++)
        probs[i] *= inv;
    return TS_OK;
}

ts_status ts_log_softmax(const float *logits, size_t n, double temperature, double *logp)
{
    ts_logits_info info;
    ts_status st = ts_logits_scan(logits, n, temperature, &info);
    if (st != TS_OK) return st;

    if (temperature == 0.0) {
        for (size_t i = 0; i < n; i++)
            logp[i] = -INFINITY;
        logp[info.imax] = 0.0;
        return TS_OK;
    }
    if (isinf(temperature)) {
        double l = -log((double)info.n_finite);
        for (size_t i = 0; i < n; i++)
            logp[i] = logits[i] == -INFINITY ? -INFINITY : l;
        return TS_OK;
    }
    double zmax = info.zmax, sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double s = ((double)logits[i] - zmax) / temperature;
        logp[i] = s;
        sum += exp(s);
    }
    double lz = log(sum); /* sum >= 1, so lz >= 0 and finite */
    for (size_t i = 0; i < n; i++)
        logp[i] -= lz;
    return TS_OK;
}

double ts_logsumexp(const float *logits, size_t n, double temperature)
{
    ts_logits_info info;
    if (ts_logits_scan(logits, n, temperature, &info) != TS_OK) return NAN;
    if (!(temperature > 0.0) || isinf(temperature)) return NAN;
    double zmax = info.zmax, sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += exp(((double)logits[i] - zmax) / temperature);
    return zmax / temperature + log(sum);
}
