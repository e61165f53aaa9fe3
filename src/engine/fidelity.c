/*
 * fidelity.c — how far a converted model (e.g. Q8_0 weights) moves the
 * next-token distribution from a reference model of the same shape, on a
 * token sequence: max / mean |Δlogit|, KL(p_ref || p_q) at several
 * temperatures, and top-1 agreement (ts_model_fidelity in tempscale.h).
 *
 * Both models evaluate the same windows of `window` tokens from an empty
 * context with all_logits, so every position of every window is scored.
 * KL at temperature T, per position, in double with log-sum-exp:
 *   a = z_ref / T, b = z_q / T, lse_a = log sum exp a, lse_b = log sum exp b
 *   KL = sum_i p_i (a_i - lse_a - b_i + lse_b),  p_i = exp(a_i - lse_a).
 */
#include "internal.h"

#include <math.h>
#include <string.h>

static double log_sum_exp(const float *z, size_t n, double inv_t)
{
    double m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if ((double)z[i] * inv_t > m) m = (double)z[i] * inv_t;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += exp((double)z[i] * inv_t - m);
    return m + log(s);
}

static double kl_at(const float *zr, const float *zq, size_t n, double t)
{
    const double inv = 1.0 / t;
    const double la = log_sum_exp(zr, n, inv), lb = log_sum_exp(zq, n, inv);
    double kl = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = (double)zr[i] * inv - la, b = (double)zq[i] * inv - lb;
        kl += exp(a) * (a - b);
    }
    return kl > 0.0 ? kl : 0.0; /* rounding can leave -1e-17 */
}

ts_status ts_model_fidelity(const ts_model *ref, const ts_model *q, const int32_t *tokens, size_t n,
                            size_t window, const double *temps, size_t n_temps, int32_t n_threads,
                            ts_fidelity *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    const ts_model_info *ir = ts_model_get_info(ref), *iq = ts_model_get_info(q);
    if (ir->n_vocab != iq->n_vocab || ir->n_embd != iq->n_embd || ir->n_layer != iq->n_layer)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "fidelity: the two models differ in shape (vocab %d/%d, n_embd %d/%d)",
                         (int)ir->n_vocab, (int)iq->n_vocab, (int)ir->n_embd, (int)iq->n_embd);
    size_t max_w = (size_t)(ir->n_positions < iq->n_positions ? ir->n_positions : iq->n_positions);
    if (window == 0 || window > max_w)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "fidelity: window %zu is outside [1, %zu] (n_positions)", window, max_w);
    if (n_temps > TS_FIDELITY_MAX_TEMPS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "fidelity: at most %d temperatures",
                         TS_FIDELITY_MAX_TEMPS);
    for (size_t i = 0; i < n_temps; i++)
        if (!(temps[i] > 0.0) || isinf(temps[i]))
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "fidelity: temperature %g is not a positive finite number", temps[i]);
    if (n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "fidelity: no tokens");

    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = (int32_t)window;
    cp.n_threads = n_threads;
    cp.all_logits = true;
    ts_context *cr = NULL, *cq = NULL;
    ts_status st = ts_context_new(ref, &cp, &cr, err, err_size);
    if (st == TS_OK) st = ts_context_new(q, &cp, &cq, err, err_size);
    const size_t V = (size_t)ir->n_vocab;
    double sum_abs = 0.0, kl_sum[TS_FIDELITY_MAX_TEMPS] = {0};
    size_t agree = 0, pos = 0;
    for (size_t off = 0; st == TS_OK && off < n; off += window) {
        size_t w = n - off < window ? n - off : window;
        ts_context_truncate(cr, 0);
        ts_context_truncate(cq, 0);
        st = ts_model_eval(cr, tokens + off, w, err, err_size);
        if (st == TS_OK) st = ts_model_eval(cq, tokens + off, w, err, err_size);
        if (st != TS_OK) break;
        const float *lr = ts_context_all_logits(cr, NULL), *lq = ts_context_all_logits(cq, NULL);
        for (size_t t = 0; t < w; t++, pos++) {
            const float *zr = lr + t * V, *zq = lq + t * V;
            for (size_t i = 0; i < V; i++) {
                double d = fabs((double)zr[i] - (double)zq[i]);
                sum_abs += d;
                if (!(d <= out->max_abs_dlogit)) out->max_abs_dlogit = d; /* NaN sticks */
            }
            agree += ts_argmax(zr, V) == ts_argmax(zq, V);
            for (size_t k = 0; k < n_temps; k++)
                kl_sum[k] += kl_at(zr, zq, V, temps[k]);
        }
    }
    ts_context_free(cr);
    ts_context_free(cq);
    if (st != TS_OK) return st;
    out->n_positions = pos;
    out->mean_abs_dlogit = sum_abs / ((double)pos * (double)V);
    out->n_temps = n_temps;
    for (size_t k = 0; k < n_temps; k++) {
        out->temps[k] = temps[k];
        out->kl[k] = kl_sum[k] / (double)pos;
    }
    out->top1_agree = (double)agree / (double)pos;
    return TS_OK;
}
