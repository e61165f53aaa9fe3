/*
 * scaling.c — the calibration baselines of Guo et al. 2017 (§4.2, Table 1):
 *   temperature scaling  q = z / T                      (1 parameter; calibrate.c fits it)
 *   vector scaling       q_j = w_j z_j + b_j            (2K parameters)
 *   matrix scaling       q = W z + b                    (K^2 + K parameters; K <= 100)
 * each giving p = softmax(q), fitted by minimising the mean NLL on the fit set,
 * plus an optional L2 penalty toward the identity map,
 *     J = mean_i NLL_i + (l2 / 2) (||w - 1||^2 + ||b||^2)        (vector)
 *     J = mean_i NLL_i + (l2 / 2) (||W - I||_F^2 + ||b||^2)      (matrix)
 * (Guo et al. use none: l2 = 0 reproduces them; l2 > 0 makes the problem
 * strictly convex and tames matrix scaling's overfitting for large K.) The
 * objective is convex in (w or W, b); it is minimised with L-BFGS (Debian's
 * liblbfgs, Nocedal 1980 / Liu & Nocedal 1989, More-Thuente line search) from
 * the identity (w = 1 or W = I, b = 0). With l2 = 0 the NLL is invariant under
 * b -> b + c 1 (and W -> W + 1 v^T); the gradient is orthogonal to those
 * directions, so the iterates keep the start's components (sum b = 0,
 * column sums of W - I = 0) and the fit is still unique.
 *
 * Gradients: with G = (P - Y) / n (rows p_i - onehot(y_i)),
 *     dJ/dw_j = sum_i G_ij z_ij + l2 (w_j - 1),  dJ/db = sum_i G_i + l2 b
 *     dJ/dW   = G^T Z + l2 (W - I)                 (OpenBLAS dgemm)
 */
#include "internal.h"

#include <cblas.h>
#include <lbfgs.h>
#include <math.h>
#include <string.h>

#define CHUNK 1024 /* rows per dgemm block */

struct ts_calib_scaling {
    ts_calib_method method;
    size_t k;
    double temperature; /* TS_CALIB_TEMPERATURE */
    double *w;          /* VECTOR [k]; MATRIX [k][k] row-major (q_j = sum_l W_jl z_l + b_j) */
    double *b;          /* [k] */
    ts_calib_scaling_info info;
};

const char *ts_calib_method_name(ts_calib_method m)
{
    switch (m) {
    case TS_CALIB_NONE:
        return "none";
    case TS_CALIB_TEMPERATURE:
        return "temperature";
    case TS_CALIB_VECTOR:
        return "vector";
    case TS_CALIB_MATRIX:
        return "matrix";
    }
    return "unknown";
}

size_t ts_calib_method_params(ts_calib_method m, size_t k)
{
    return m == TS_CALIB_NONE          ? 0
           : m == TS_CALIB_TEMPERATURE ? 1
           : m == TS_CALIB_VECTOR      ? 2 * k
                                       : k * k + k;
}

/* q[rows][k] = the scaled logits of rows [r0, r0 + rows); zd: scratch [rows][k] doubles. */
static void scaled_rows(const ts_calib_scaling *s, const float *logits, size_t r0, size_t rows,
                        double *zd, double *q)
{
    const size_t k = s->k;
    const float *z = logits + r0 * k;
    switch (s->method) {
    case TS_CALIB_NONE:
        for (size_t i = 0; i < rows * k; i++)
            q[i] = z[i];
        break;
    case TS_CALIB_TEMPERATURE:
        for (size_t i = 0; i < rows * k; i++)
            q[i] = (double)z[i] / s->temperature;
        break;
    case TS_CALIB_VECTOR:
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < k; j++)
                q[i * k + j] = s->w[j] * z[i * k + j] + s->b[j];
        break;
    case TS_CALIB_MATRIX:
        for (size_t i = 0; i < rows * k; i++)
            zd[i] = z[i];
        for (size_t i = 0; i < rows; i++)
            memcpy(q + i * k, s->b, k * sizeof *q);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)k, (int)k, 1.0, zd,
                    (int)k, s->w, (int)k, 1.0, q, (int)k);
        break;
    }
}

/* In place: q[k] -> p = softmax(q); returns log sum exp(q). */
static double softmax_row(double *q, size_t k)
{
    double m = q[0];
    for (size_t j = 1; j < k; j++)
        m = q[j] > m ? q[j] : m;
    double s = 0;
    for (size_t j = 0; j < k; j++)
        s += q[j] = exp(q[j] - m);
    for (size_t j = 0; j < k; j++)
        q[j] /= s;
    return m + log(s);
}

/* ---- the fit ------------------------------------------------------------- */

typedef struct fit_problem {
    ts_calib_scaling *s;
    const float *logits;
    const int32_t *labels;
    size_t n, k;
    double l2;
    double *zd, *q; /* [CHUNK][k] scratch */
    double nll;     /* mean NLL at the last evaluation */
} fit_problem;

/* Unpack x into s (w/W then b). */
static void unpack(ts_calib_scaling *s, const double *x)
{
    size_t nw = s->method == TS_CALIB_VECTOR ? s->k : s->k * s->k;
    memcpy(s->w, x, nw * sizeof *x);
    memcpy(s->b, x + nw, s->k * sizeof *x);
}

static lbfgsfloatval_t evaluate(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g,
                                const int nx, const lbfgsfloatval_t step)
{
    (void)step;
    fit_problem *p = inst;
    ts_calib_scaling *s = p->s;
    const size_t k = p->k, nw = (size_t)nx - k;
    unpack(s, x);
    memset(g, 0, (size_t)nx * sizeof *g);
    double *gw = g, *gb = g + nw;
    const double inv_n = 1.0 / (double)p->n;
    double nll = 0;
    for (size_t r0 = 0; r0 < p->n; r0 += CHUNK) {
        size_t rows = p->n - r0 < CHUNK ? p->n - r0 : CHUNK;
        scaled_rows(s, p->logits, r0, rows, p->zd, p->q);
        for (size_t i = 0; i < rows; i++) {
            double *qi = p->q + i * k;
            const int32_t y = p->labels[r0 + i];
            nll += softmax_row(qi, k) - 0; /* log Z; minus q_y below */
            /* p->q now holds p; turn it into G = (p - onehot) / n */
            qi[y] -= 1.0;
            for (size_t j = 0; j < k; j++)
                qi[j] *= inv_n;
        }
        /* nll needs q_y: recompute it cheaply from the scaled logit (before softmax) */
        {
            const float *z = p->logits + r0 * k;
            for (size_t i = 0; i < rows; i++) {
                const int32_t y = p->labels[r0 + i];
                double qy;
                if (s->method == TS_CALIB_VECTOR) {
                    qy = s->w[y] * z[i * k + (size_t)y] + s->b[y];
                } else {
                    qy = s->b[y];
                    for (size_t l = 0; l < k; l++)
                        qy += s->w[(size_t)y * k + l] * p->zd[i * k + l];
                }
                nll -= qy;
            }
        }
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < k; j++)
                gb[j] += p->q[i * k + j];
        if (s->method == TS_CALIB_VECTOR) {
            const float *z = p->logits + r0 * k;
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < k; j++)
                    gw[j] += p->q[i * k + j] * z[i * k + j];
        } else {
            /* gW[j][l] += sum_i G[i][j] Z[i][l] */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)rows, 1.0,
                        p->q, (int)k, p->zd, (int)k, 1.0, gw, (int)k);
        }
    }
    nll *= inv_n;
    p->nll = nll;
    double pen = 0;
    if (p->l2 > 0) {
        for (size_t i = 0; i < nw; i++) {
            double id = s->method == TS_CALIB_VECTOR ? 1.0 : (i / k == i % k ? 1.0 : 0.0);
            double d = x[i] - id;
            pen += d * d;
            gw[i] += p->l2 * d;
        }
        for (size_t j = 0; j < k; j++) {
            pen += x[nw + j] * x[nw + j];
            gb[j] += p->l2 * x[nw + j];
        }
    }
    return nll + 0.5 * p->l2 * pen;
}

static int progress_cb(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g,
                       const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm,
                       const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n, int k,
                       int ls)
{
    (void)x, (void)g, (void)fx, (void)xnorm, (void)gnorm, (void)step, (void)n, (void)ls;
    fit_problem *p = inst;
    p->s->info.iterations = k;
    return 0;
}

void ts_calib_scaling_free(ts_calib_scaling *s)
{
    if (!s) return;
    free(s->w);
    free(s->b);
    free(s);
}

static ts_status check_labels(const float *logits, const int32_t *labels, size_t n, size_t k,
                              char *err, size_t err_size)
{
    if (n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "calibration: no rows");
    if (k < 2) return ts_errorf(err, err_size, TS_ERR_INVALID, "calibration: K = %zu < 2", k);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || (size_t)labels[i] >= k)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "calibration: row %zu: label %d out of range [0, %zu)", i, labels[i],
                             k);
        for (size_t j = 0; j < k; j++)
            if (!isfinite(logits[i * k + j]))
                return ts_errorf(err, err_size, TS_ERR_INVALID,
                                 "calibration: row %zu, class %zu: logit is not finite", i, j);
    }
    return TS_OK;
}

ts_status ts_calib_scaling_fit(ts_calib_method method, const float *logits, const int32_t *labels,
                               size_t n, size_t k, double l2, ts_calib_scaling **out, char *err,
                               size_t err_size)
{
    *out = NULL;
    ts_status st = check_labels(logits, labels, n, k, err, err_size);
    if (st != TS_OK) return st;
    if (!(l2 >= 0) || !isfinite(l2))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "calibration: L2 penalty %g must be >= 0",
                         l2);
    if (method == TS_CALIB_MATRIX && k > TS_CALIB_MATRIX_MAX_K)
        return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                         "calibration: matrix scaling needs K <= %d (K = %zu: %zu parameters)",
                         TS_CALIB_MATRIX_MAX_K, k, k * k + k);
    if (method != TS_CALIB_NONE && method != TS_CALIB_TEMPERATURE && method != TS_CALIB_VECTOR &&
        method != TS_CALIB_MATRIX)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "calibration: unknown method %d",
                         (int)method);
    ts_calib_scaling *s = calloc(1, sizeof *s);
    if (!s) return ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
    s->method = method;
    s->k = k;
    s->temperature = 1.0;
    s->info.n_params = ts_calib_method_params(method, k);
    s->info.l2 = method == TS_CALIB_VECTOR || method == TS_CALIB_MATRIX ? l2 : 0;
    if (method == TS_CALIB_NONE || method == TS_CALIB_TEMPERATURE) {
        ts_calib_fit fit = {.temperature = 1.0, .converged = true};
        if (method == TS_CALIB_TEMPERATURE &&
            (st = ts_calib_fit_temperature(logits, labels, n, k, &fit, err, err_size)) != TS_OK) {
            ts_calib_scaling_free(s);
            return st;
        }
        s->temperature = fit.temperature;
        s->info.iterations = fit.iterations;
        s->info.converged = fit.converged;
        ts_calib_metrics m;
        st = ts_calib_scaling_metrics(s, logits, labels, n, 15, &m, NULL, err, err_size);
        s->info.nll_fit = m.nll;
        if (st != TS_OK) {
            ts_calib_scaling_free(s);
            return st;
        }
        *out = s;
        return TS_OK;
    }
    const size_t nw = method == TS_CALIB_VECTOR ? k : k * k, nx = nw + k;
    s->w = malloc(nw * sizeof *s->w);
    s->b = malloc(k * sizeof *s->b);
    fit_problem p = {s,
                     logits,
                     labels,
                     n,
                     k,
                     l2,
                     malloc(CHUNK * k * sizeof(double)),
                     malloc(CHUNK * k * sizeof(double)),
                     0};
    lbfgsfloatval_t *x = lbfgs_malloc((int)nx);
    if (!s->w || !s->b || !p.zd || !p.q || !x) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
        goto out;
    }
    for (size_t i = 0; i < nx; i++)
        x[i] = 0;
    for (size_t j = 0; j < k; j++)
        x[method == TS_CALIB_VECTOR ? j : j * k + j] = 1.0;
    lbfgs_parameter_t par;
    lbfgs_parameter_init(&par);
    par.epsilon = 1e-10; /* ||g|| <= 1e-10 max(1, ||x||) */
    par.past = 0;        /* no objective-decrease test: stop on the gradient */
    par.max_iterations = 20000;
    lbfgsfloatval_t fx;
    int ret = lbfgs((int)nx, x, &fx, evaluate, progress_cb, &p, &par);
    /* Final evaluation at x (also leaves s and p.nll at the solution). */
    lbfgsfloatval_t *g = lbfgs_malloc((int)nx);
    if (!g) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
        goto out;
    }
    fx = evaluate(&p, x, g, (int)nx, 0);
    double gmax = 0;
    for (size_t i = 0; i < nx; i++)
        gmax = fmax(gmax, fabs(g[i]));
    lbfgs_free(g);
    s->info.grad_max = gmax;
    s->info.objective = fx;
    s->info.nll_fit = p.nll;
    /* A line search that cannot improve at a tiny gradient is convergence too. */
    s->info.converged = ret == LBFGS_SUCCESS || ret == LBFGS_ALREADY_MINIMIZED || gmax <= 1e-7;
    s->info.status = ret;
    *out = s;
    s = NULL;
out:
    lbfgs_free(x);
    free(p.zd);
    free(p.q);
    ts_calib_scaling_free(s);
    return st;
}

ts_calib_method ts_calib_scaling_method(const ts_calib_scaling *s)
{
    return s->method;
}

const ts_calib_scaling_info *ts_calib_scaling_get_info(const ts_calib_scaling *s)
{
    return &s->info;
}

double ts_calib_scaling_temperature(const ts_calib_scaling *s)
{
    return s->temperature;
}

const double *ts_calib_scaling_weights(const ts_calib_scaling *s, const double **bias)
{
    if (bias) *bias = s->b;
    return s->w;
}

ts_status ts_calib_scaling_apply(const ts_calib_scaling *s, const float *logits, size_t n,
                                 double *out)
{
    double *zd = s->method == TS_CALIB_MATRIX ? malloc(CHUNK * s->k * sizeof *zd) : NULL;
    if (s->method == TS_CALIB_MATRIX && !zd) return TS_ERR_NOMEM;
    for (size_t r0 = 0; r0 < n; r0 += CHUNK) {
        size_t rows = n - r0 < CHUNK ? n - r0 : CHUNK;
        scaled_rows(s, logits, r0, rows, zd, out + r0 * s->k);
    }
    free(zd);
    return TS_OK;
}

/* ---- metrics of a scaling -------------------------------------------------- */

/* Rows of softmax(scaled logits) into r (allocated here) and the class-wise ECE. */
static ts_status scaling_rows(const ts_calib_scaling *s, const float *logits, const int32_t *labels,
                              size_t n, int32_t n_bins, ts_calib_rowset *r, double *classwise,
                              char *err, size_t err_size)
{
    const size_t k = s->k;
    ts_status st = ts_calib_rowset_init(r, n, err, err_size);
    if (st != TS_OK) return st;
    ts_classwise cw;
    double *zd = malloc(CHUNK * k * sizeof *zd), *q = malloc(CHUNK * k * sizeof *q);
    if (!zd || !q || (st = ts_classwise_init(&cw, k, n_bins, err, err_size)) != TS_OK) {
        free(zd);
        free(q);
        ts_calib_rowset_free(r);
        return st != TS_OK ? st
                           : ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
    }
    for (size_t r0 = 0; r0 < n; r0 += CHUNK) {
        size_t rows = n - r0 < CHUNK ? n - r0 : CHUNK;
        scaled_rows(s, logits, r0, rows, zd, q);
        for (size_t i = 0; i < rows; i++) {
            double *qi = q + i * k;
            const int32_t y = labels[r0 + i];
            size_t am = 0;
            for (size_t j = 1; j < k; j++)
                if (qi[j] > qi[am]) am = j;
            double qy = qi[y], lz = softmax_row(qi, k), s2 = 0;
            for (size_t j = 0; j < k; j++)
                s2 += qi[j] * qi[j];
            r->nll[r0 + i] = lz - qy;
            r->brier[r0 + i] = s2 - 2 * qi[y] + 1;
            r->conf[r0 + i] = qi[am];
            r->correct[r0 + i] = (size_t)y == am;
            ts_classwise_add(&cw, qi, y);
        }
    }
    *classwise = ts_classwise_finish(&cw);
    free(zd);
    free(q);
    r->has_brier = true;
    st = ts_calib_rowset_finish(r, n_bins, err, err_size);
    if (st != TS_OK) ts_calib_rowset_free(r);
    return st;
}

ts_status ts_calib_scaling_metrics(const ts_calib_scaling *s, const float *logits,
                                   const int32_t *labels, size_t n, int32_t n_bins,
                                   ts_calib_metrics *out, ts_calib_bin *bins, char *err,
                                   size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (n_bins < 1 || n_bins > TS_CALIB_MAX_BINS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "bins: %d out of range [1, %d]", n_bins,
                         TS_CALIB_MAX_BINS);
    ts_status st = check_labels(logits, labels, n, s->k, err, err_size);
    if (st != TS_OK) return st;
    ts_calib_rowset r;
    double cw;
    if ((st = scaling_rows(s, logits, labels, n, n_bins, &r, &cw, err, err_size)) != TS_OK)
        return st;
    ts_calib_rowset_metrics(&r, out);
    out->classwise_ece = cw;
    if (bins) {
        ts_calib_metrics tmp;
        st = ts_calib_binned(r.conf, r.correct, n, n_bins, &tmp, bins, err, err_size);
    }
    ts_calib_rowset_free(&r);
    return st;
}

/* ---- the comparison table ---------------------------------------------------- */

ts_status ts_calib_compare(const float *fit_logits, const int32_t *fit_labels, size_t n_fit,
                           const float *eval_logits, const int32_t *eval_labels, size_t n_eval,
                           size_t k, int32_t n_bins, double l2, const ts_bootstrap_params *bp,
                           ts_calib_comparison out[TS_CALIB_N_METHODS], char *err, size_t err_size)
{
    memset(out, 0, TS_CALIB_N_METHODS * sizeof *out);
    ts_status st = check_labels(eval_logits, eval_labels, n_eval, k, err, err_size);
    if (st != TS_OK) return st;
    if (n_bins < 1 || n_bins > TS_CALIB_MAX_BINS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "bins: %d out of range [1, %d]", n_bins,
                         TS_CALIB_MAX_BINS);
    if (bp && (st = ts_bootstrap_check(bp, n_eval, err, err_size)) != TS_OK) return st;
    ts_calib_rowset sets[TS_CALIB_N_METHODS];
    memset(sets, 0, sizeof sets);
    size_t n_sets = 0;
    ts_calib_method map[TS_CALIB_N_METHODS];
    for (int m = 0; m < TS_CALIB_N_METHODS && st == TS_OK; m++) {
        ts_calib_comparison *c = &out[m];
        c->method = (ts_calib_method)m;
        c->n_params = ts_calib_method_params(c->method, k);
        if (c->method == TS_CALIB_MATRIX && k > TS_CALIB_MATRIX_MAX_K) {
            c->fitted = false;
            snprintf(c->note, sizeof c->note, "skipped: K = %zu > %d (%zu parameters)", k,
                     TS_CALIB_MATRIX_MAX_K, c->n_params);
            continue;
        }
        ts_calib_scaling *s;
        st = ts_calib_scaling_fit(c->method, fit_logits, fit_labels, n_fit, k, l2, &s, err,
                                  err_size);
        if (st != TS_OK) break;
        c->fitted = true;
        c->info = *ts_calib_scaling_get_info(s);
        c->temperature = s->temperature;
        double cw;
        st = scaling_rows(s, eval_logits, eval_labels, n_eval, n_bins, &sets[n_sets], &cw, err,
                          err_size);
        ts_calib_scaling_free(s);
        if (st != TS_OK) break;
        ts_calib_rowset_metrics(&sets[n_sets], &c->metrics);
        c->metrics.classwise_ece = cw;
        if (!c->info.converged)
            snprintf(c->note, sizeof c->note, "not converged (max |gradient| %.1e)",
                     c->info.grad_max);
        map[n_sets++] = c->method;
    }
    if (st == TS_OK && bp) {
        ts_calib_metrics_ci ci[TS_CALIB_N_METHODS], delta[TS_CALIB_N_METHODS];
        st = ts_calib_rowsets_bootstrap(sets, n_sets, bp, ci, delta, err, err_size);
        for (size_t i = 0; st == TS_OK && i < n_sets; i++) {
            out[map[i]].ci = ci[i];
            out[map[i]].delta = delta[i];
            out[map[i]].has_intervals = true;
        }
    }
    for (size_t i = 0; i < n_sets; i++)
        ts_calib_rowset_free(&sets[i]);
    return st;
}
