/*
 * chi2.c — Pearson's chi-square goodness-of-fit test for sampled token counts:
 * the statistic with sparse categories pooled, and its upper-tail p-value
 * through the regularised incomplete gamma function Q(dof/2, x/2)
 * (series for x < a + 1, Lentz continued fraction otherwise, as in
 * Numerical Recipes 6.2). Pure numeric code, no allocation.
 */
#include "internal.h"

#include <math.h>

/* P(a, x) by its power series; valid and fast for x < a + 1. */
static double gamma_p_series(double a, double x)
{
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 10000; n++) {
        term *= x / (a + n);
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-16) break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Q(a, x) by its continued fraction (modified Lentz); for x >= a + 1. */
static double gamma_q_cf(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < 1e-16) break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double ts_chi2_sf(double x, double dof)
{
    if (!(dof > 0.0) || isnan(x)) return NAN;
    if (x <= 0.0) return 1.0;
    if (isinf(x)) return 0.0;
    double a = 0.5 * dof, hx = 0.5 * x;
    return hx < a + 1.0 ? 1.0 - gamma_p_series(a, hx) : gamma_q_cf(a, hx);
}

ts_status ts_chi2_test(const size_t *counts, const double *expected_p, size_t n_cat,
                       ts_chi2_result *out)
{
    if (n_cat < 2) return TS_ERR_INVALID;
    size_t n = 0;
    double psum = 0.0;
    for (size_t i = 0; i < n_cat; i++) {
        if (!(expected_p[i] >= 0.0)) return TS_ERR_INVALID;
        n += counts[i];
        psum += expected_p[i];
    }
    if (n == 0 || fabs(psum - 1.0) > 1e-6) return TS_ERR_INVALID;
    /*
     * Categories are taken in the given order (callers pass them by decreasing
     * probability); a category whose expected count is below 5 is pooled with
     * the ones after it until the pool reaches 5 (Cochran's rule), and a short
     * final pool is merged into the last full bin.
     */
    double stat = 0.0, pool_obs = 0.0, pool_exp = 0.0;
    double last_obs = 0.0, last_exp = 0.0;
    size_t bins = 0;
    bool have_last = false;
    for (size_t i = 0; i < n_cat; i++) {
        pool_obs += (double)counts[i];
        pool_exp += expected_p[i] * (double)n;
        if (pool_exp >= 5.0) {
            if (have_last) stat += (last_obs - last_exp) * (last_obs - last_exp) / last_exp;
            last_obs = pool_obs;
            last_exp = pool_exp;
            have_last = true;
            bins++;
            pool_obs = pool_exp = 0.0;
        }
    }
    if (pool_exp > 0.0 || pool_obs > 0.0) {
        if (have_last) {
            last_obs += pool_obs;
            last_exp += pool_exp;
        } else {
            last_obs = pool_obs;
            last_exp = pool_exp;
            have_last = true;
            bins = 1;
        }
    }
    if (have_last && last_exp > 0.0)
        stat += (last_obs - last_exp) * (last_obs - last_exp) / last_exp;
    out->statistic = stat;
    out->n_bins = bins;
    out->dof = bins > 1 ? (double)(bins - 1) : 0.0;
    out->p_value = bins > 1 ? ts_chi2_sf(stat, out->dof) : 1.0;
    return TS_OK;
}
