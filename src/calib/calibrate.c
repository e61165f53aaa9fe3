/*
 * calibrate.c — temperature scaling (Guo et al., ICML 2017) for classifier logits:
 * fit one scalar T* by minimising the mean negative log-likelihood, and the
 * calibration metrics (NLL, accuracy, ECE, MCE, adaptive ECE, Brier).
 *
 * The fit. With beta = 1/T and p = softmax(beta z), the mean NLL
 *     f(beta)   = mean_i [ logsumexp(beta z_i) - beta z_{i,y_i} ]
 * is convex in beta, with
 *     f'(beta)  = mean_i ( E_p[z_i] - z_{i,y_i} )
 *     f''(beta) = mean_i Var_p[z_i] >= 0.
 * We find the root of f' with Newton steps in beta, safeguarded by a bracket
 * [lo, hi] with f'(lo) < 0 < f'(hi) (bisection in log beta when a step leaves
 * it or the bracket is still open on one side: then the step expands by x4).
 * T is confined to [TS_CALIB_T_MIN, TS_CALIB_T_MAX]; when f' keeps its sign up
 * to a bound (separable data with every prediction right: NLL falls as T -> 0;
 * or labels anti-correlated with the logits: NLL falls as T -> inf), the fit
 * stops there and says so in at_bound. Stopping: |step| <= 1e-10 beta (the
 * contract promises 1e-8 relative on T; Newton is quadratic, so the extra digits
 * cost at most one pass).
 *
 * Each evaluation is one pass over the logits: every row is max-shifted
 * (d = z - max z <= 0) and accumulated in double. Rows are split over threads
 * (pthreads, contiguous ranges, partial sums added in thread order, so a given
 * thread count always gives the same bits). Nothing is allocated per row.
 *
 * Metrics, as gpleiss/temperature_scaling's ECELoss: confidence = max softmax,
 * prediction = argmax (first maximum; T-invariant since T > 0 preserves order).
 *   ECE  = sum_b |B_b|/n |acc(B_b) - conf(B_b)|, equal-width bins b in
 *          (l_b, u_b] with l_b = b * (1/B) (numpy/torch linspace), u_B = 1
 *   MCE  = max over non-empty bins of |acc - conf|
 *   ACE  = the same sum over equal-mass bins: rows sorted by confidence (ties by
 *          row index, i.e. a stable sort), split as numpy.array_split(sorted, B):
 *          the first n mod B bins hold floor(n/B)+1 rows, the rest floor(n/B)
 *   Brier = mean_i sum_k (p_k - [k = y_i])^2 (in [0, 2])
 */
#include "internal.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16
/* Below this many logits a pass is cheaper than starting threads. */
#define PARALLEL_MIN_ELEMS (1u << 17)

/* ---- threads over rows --------------------------------------------------- */

typedef void (*row_worker)(void *ctx, size_t begin, size_t end, double acc[4]);

typedef struct row_job {
    row_worker fn;
    void *ctx;
    size_t begin, end;
    double acc[4];
    pthread_t thread;
} row_job;

static void *row_job_run(void *arg)
{
    row_job *j = arg;
    j->fn(j->ctx, j->begin, j->end, j->acc);
    return NULL;
}

static int n_threads_for(size_t n, size_t k)
{
    if (n * k < PARALLEL_MIN_ELEMS) return 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int t = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    if ((size_t)t > n) t = (int)n;
    return t;
}

/* Run fn over rows [0, n) on up to n_threads threads; acc gets the summed partials. */
static void parallel_rows(row_worker fn, void *ctx, size_t n, size_t k, double acc[4])
{
    row_job jobs[MAX_THREADS];
    int t = n_threads_for(n, k);
    for (int i = 0; i < t; i++) {
        jobs[i] = (row_job){.fn = fn, .ctx = ctx, .begin = n * (size_t)i / (size_t)t,
                            .end = n * (size_t)(i + 1) / (size_t)t};
    }
    /* Thread 0's share runs on the caller; if a thread cannot start, run its share inline. */
    bool started[MAX_THREADS] = {false};
    for (int i = 1; i < t; i++)
        started[i] = pthread_create(&jobs[i].thread, NULL, row_job_run, &jobs[i]) == 0;
    row_job_run(&jobs[0]);
    for (int i = 1; i < t; i++) {
        if (started[i]) pthread_join(jobs[i].thread, NULL);
        else row_job_run(&jobs[i]);
    }
    for (int a = 0; a < 4; a++) {
        acc[a] = 0;
        for (int i = 0; i < t; i++) acc[a] += jobs[i].acc[a];
    }
}

/* ---- input checks -------------------------------------------------------- */

static ts_status check_inputs(const float *logits, const int32_t *labels, size_t n, size_t k,
                              char *err, size_t err_size)
{
    if (n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "calibration: no rows");
    if (k < 2)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "calibration: %zu class%s; temperature scaling needs K >= 2", k,
                         k == 1 ? "" : "es");
    size_t nk;
    if (ts_mul_overflows(n, k, &nk))
        return ts_errorf(err, err_size, TS_ERR_INVALID, "calibration: n x K overflows");
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || (size_t)labels[i] >= k)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "calibration: row %zu: label %d out of range [0, %zu)", i, labels[i],
                             k);
        const float *z = logits + i * k;
        for (size_t j = 0; j < k; j++)
            if (!isfinite(z[j]))
                return ts_errorf(err, err_size, TS_ERR_INVALID,
                                 "calibration: row %zu, class %zu: logit is not finite", i, j);
    }
    return TS_OK;
}

bool ts_calib_looks_like_probabilities(const float *logits, size_t n, size_t k)
{
    if (n == 0 || k == 0) return false;
    /* float32 rounding of k probabilities summing to 1 is at most ~k * 2^-24. */
    double tol = 1e-6 + (double)k * 6e-8;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * k;
        double s = 0;
        for (size_t j = 0; j < k; j++) {
            if (!(z[j] >= 0)) return false;
            s += z[j];
        }
        if (fabs(s - 1.0) > tol) return false;
    }
    return true;
}

/* ---- the objective ------------------------------------------------------- */

typedef struct dense_ctx {
    const float *logits;
    const int32_t *labels;
    const uint32_t *w; /* row multiplicities (a bootstrap resample), NULL = all 1 */
    size_t k;
    double beta;
} dense_ctx;

/* acc = sums over rows of NLL, f' and f'' terms at ctx->beta. */
static void dense_objective_rows(void *vctx, size_t begin, size_t end, double acc[4])
{
    const dense_ctx *c = vctx;
    const size_t k = c->k;
    const double beta = c->beta;
    double f = 0, g = 0, h = 0;
    for (size_t i = begin; i < end; i++) {
        const double wi = c->w ? c->w[i] : 1.0;
        if (wi == 0) continue;
        const float *z = c->logits + i * k;
        float m = z[0];
        for (size_t j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        double s0 = 0, s1 = 0, s2 = 0;
        for (size_t j = 0; j < k; j++) {
            double d = (double)z[j] - (double)m;
            double e = exp(beta * d);
            s0 += e;
            s1 += e * d;
            s2 += e * d * d;
        }
        double dy = (double)z[c->labels[i]] - (double)m;
        double mean = s1 / s0, var = s2 / s0 - mean * mean;
        f += wi * (log(s0) - beta * dy);
        g += wi * (mean - dy);
        h += wi * (var > 0 ? var : 0);
    }
    acc[0] = f;
    acc[1] = g;
    acc[2] = h;
    acc[3] = 0;
}

typedef struct dense_problem {
    const float *logits;
    const int32_t *labels;
    size_t n, k;
    const uint32_t *w; /* multiplicities summing to n, or NULL */
    bool serial;       /* already inside a bootstrap thread */
} dense_problem;

static void dense_objective(void *vctx, double beta, double out[3])
{
    const dense_problem *p = vctx;
    dense_ctx c = {p->logits, p->labels, p->w, p->k, beta};
    double acc[4];
    if (p->serial)
        dense_objective_rows(&c, 0, p->n, acc);
    else
        parallel_rows(dense_objective_rows, &c, p->n, p->k, acc);
    for (int i = 0; i < 3; i++) out[i] = acc[i] / (double)p->n;
}

/* ---- the 1-D solver ------------------------------------------------------ */

ts_status ts_calib_minimize(ts_calib_objective fn, void *ctx, double t_min, double t_max,
                            ts_calib_fit *out)
{
    return ts_calib_minimize_from(fn, ctx, t_min, t_max, 1.0, out);
}

ts_status ts_calib_minimize_from(ts_calib_objective fn, void *ctx, double t_min, double t_max,
                                 double t_start, ts_calib_fit *out)
{
    memset(out, 0, sizeof *out);
    if (!(t_min > 0) || !(t_max > t_min) || !isfinite(t_max)) return TS_ERR_INVALID;
    if (!(t_start > 0) || !isfinite(t_start)) return TS_ERR_INVALID;
    const double b_min = 1.0 / t_max, b_max = 1.0 / t_min;
    double v[3];
    double beta = 1.0 / t_start;
    beta = beta < b_min ? b_min : beta > b_max ? b_max : beta;
    if (t_start == 1.0) {
        fn(ctx, 1.0, v);
        out->nll_before = v[0];
        if (beta != 1.0) fn(ctx, beta, v);
    } else {
        out->nll_before = NAN; /* not evaluated: the caller started elsewhere */
        fn(ctx, beta, v);
    }
    /* Bracket: f'(lo) < 0 < f'(hi); 0 = not yet known. */
    double lo = 0, hi = 0, dx_old = INFINITY;
    int it = 0, one_sided = 0;
    const int max_it = 200;
    for (;;) {
        double g = v[1], h = v[2];
        if (g <= 0 && beta >= b_max) { /* NLL still falls (or is flat) at T_MIN */
            out->at_bound = -1;
            out->converged = g == 0;
            break;
        }
        if (g >= 0 && beta <= b_min) { /* NLL still falls (or is flat) at T_MAX */
            out->at_bound = +1;
            out->converged = g == 0;
            break;
        }
        if (g == 0) {
            out->converged = true;
            break;
        }
        if (g < 0) lo = beta;
        else hi = beta;
        if (it >= max_it) break;
        double next = h > 0 ? beta - g / h : NAN;
        if (lo > 0 && hi > 0) {
            /* rtsafe: bisect (in log beta) when Newton leaves the bracket or stalls. */
            if (!(next > lo && next < hi) || fabs(2 * g) > fabs(dx_old * h)) next = sqrt(lo * hi);
        } else if (++one_sided > 6) {
            /* Newton crawls along an asymptote (NLL monotone): test the bound itself. */
            next = g < 0 ? b_max : b_min;
        } else if (!(next > (lo > 0 ? lo : b_min) && next < (hi > 0 ? hi : b_max))) {
            next = g < 0 ? fmin(beta * 4, b_max) : fmax(beta / 4, b_min);
        }
        dx_old = next - beta;
        double step = fabs(dx_old);
        beta = next;
        it++;
        fn(ctx, beta, v);
        if (step <= 1e-10 * beta || (lo > 0 && hi > 0 && hi - lo <= 1e-12 * lo)) {
            out->converged = true;
            break;
        }
    }
    out->temperature = 1.0 / beta;
    out->iterations = it;
    out->nll_after = v[0];
    return TS_OK;
}

ts_status ts_calib_fit_temperature(const float *logits, const int32_t *labels, size_t n,
                                   size_t k, ts_calib_fit *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    ts_status st = check_inputs(logits, labels, n, k, err, err_size);
    if (st != TS_OK) return st;
    dense_problem p = {logits, labels, n, k, NULL, false};
    st = ts_calib_minimize(dense_objective, &p, TS_CALIB_T_MIN, TS_CALIB_T_MAX, out);
    if (st != TS_OK) return ts_errorf(err, err_size, st, "calibration: bad temperature range");
    return TS_OK;
}

/* ---- metrics ------------------------------------------------------------- */

typedef struct metric_ctx {
    const float *logits;
    const int32_t *labels;
    size_t k;
    double beta;
    double *conf;     /* [n] max softmax */
    uint8_t *correct; /* [n] argmax == label */
} metric_ctx;

/* acc = sums of NLL, Brier and correct predictions; fills conf / correct. */
static void metric_rows(void *vctx, size_t begin, size_t end, double acc[4])
{
    const metric_ctx *c = vctx;
    const size_t k = c->k;
    const double beta = c->beta;
    double nll = 0, brier = 0, hits = 0;
    for (size_t i = begin; i < end; i++) {
        const float *z = c->logits + i * k;
        size_t am = 0;
        for (size_t j = 1; j < k; j++)
            if (z[j] > z[am]) am = j;
        const double m = z[am];
        double s0 = 0, s2 = 0;
        for (size_t j = 0; j < k; j++) {
            double e = exp(beta * ((double)z[j] - m));
            s0 += e;
            s2 += e * e;
        }
        const int32_t y = c->labels[i];
        double dy = (double)z[y] - m;
        double py = exp(beta * dy) / s0;
        nll += log(s0) - beta * dy;
        brier += s2 / (s0 * s0) - 2 * py + 1;
        c->conf[i] = 1.0 / s0; /* the argmax term is exp(0) = 1 */
        c->correct[i] = (size_t)y == am;
        hits += (size_t)y == am;
    }
    acc[0] = nll;
    acc[1] = brier;
    acc[2] = hits;
    acc[3] = 0;
}

/* Equal-width bin of confidence c in [0, 1]: b with l_b < c <= u_b, l_b = b * (1/B) (0 in bin 0).
 */
int32_t ts_calib_conf_bin(double c, int32_t n_bins)
{
    const double w = 1.0 / n_bins;
    int32_t b = (int32_t)ceil(c * n_bins) - 1;
    if (b < 0) b = 0;
    if (b > n_bins - 1) b = n_bins - 1;
    while (b > 0 && c <= b * w) b--;
    while (b < n_bins - 1 && c > (b + 1) * w) b++;
    return b;
}

typedef struct conf_row {
    double conf;
    size_t index;
    uint8_t correct;
} conf_row;

static int conf_row_cmp(const void *a, const void *b)
{
    const conf_row *x = a, *y = b;
    if (x->conf != y->conf) return x->conf < y->conf ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

ts_status ts_calib_binned(const double *conf, const uint8_t *correct, size_t n, int32_t n_bins,
                          ts_calib_metrics *m, ts_calib_bin *bins, char *err, size_t err_size)
{
    if (n_bins < 1 || n_bins > TS_CALIB_MAX_BINS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "bins: %d out of range [1, %d]", n_bins,
                         TS_CALIB_MAX_BINS);
    if (n == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "calibration: no rows");
    double sum_c[TS_CALIB_MAX_BINS] = {0}, sum_a[TS_CALIB_MAX_BINS] = {0};
    size_t cnt[TS_CALIB_MAX_BINS] = {0};
    double hits = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t b = ts_calib_conf_bin(conf[i], n_bins);
        sum_c[b] += conf[i];
        sum_a[b] += correct[i];
        cnt[b]++;
        hits += correct[i];
    }
    double ece = 0, mce = 0;
    const double w = 1.0 / n_bins;
    for (int32_t b = 0; b < n_bins; b++) {
        double gap = cnt[b] ? fabs(sum_a[b] - sum_c[b]) / (double)cnt[b] : 0;
        ece += cnt[b] ? gap * ((double)cnt[b] / (double)n) : 0;
        if (cnt[b] && gap > mce) mce = gap;
        if (bins) {
            bins[b].lo = b * w;
            bins[b].hi = b == n_bins - 1 ? 1.0 : (b + 1) * w;
            bins[b].count = cnt[b];
            bins[b].mean_confidence = cnt[b] ? sum_c[b] / (double)cnt[b] : 0;
            bins[b].accuracy = cnt[b] ? sum_a[b] / (double)cnt[b] : 0;
        }
    }
    m->ece = ece;
    m->mce = mce;
    m->accuracy = hits / (double)n;

    /* Adaptive ECE: stable sort by confidence, numpy.array_split into n_bins. */
    conf_row *rows = malloc(n * sizeof *rows);
    if (!rows) return ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
    for (size_t i = 0; i < n; i++) rows[i] = (conf_row){conf[i], i, correct[i]};
    qsort(rows, n, sizeof *rows, conf_row_cmp);
    size_t base = n / (size_t)n_bins, extra = n % (size_t)n_bins, at = 0;
    double ace = 0;
    for (size_t b = 0; b < (size_t)n_bins; b++) {
        size_t size = base + (b < extra);
        double sc = 0, sa = 0;
        for (size_t i = at; i < at + size; i++) {
            sc += rows[i].conf;
            sa += rows[i].correct;
        }
        if (size) ace += fabs(sa - sc) / (double)n;
        at += size;
    }
    free(rows);
    m->ace = ace;
    return TS_OK;
}

/* ---- class-wise ECE (Kull et al. 2019) --------------------------------------- */

ts_status ts_classwise_init(ts_classwise *c, size_t k, int32_t n_bins, char *err, size_t err_size)
{
    memset(c, 0, sizeof *c);
    size_t cells;
    if (ts_mul_overflows(k, (size_t)n_bins * 3, &cells) ||
        !(c->acc = calloc(cells, sizeof(double))))
        return ts_errorf(err, err_size, TS_ERR_NOMEM,
                         "calibration: out of memory (class-wise ECE)");
    c->k = k;
    c->n_bins = n_bins;
    return TS_OK;
}

void ts_classwise_add(ts_classwise *c, const double *p, int32_t y)
{
    const size_t nb = (size_t)c->n_bins;
    for (size_t j = 0; j < c->k; j++) {
        double *a = c->acc + 3 * (j * nb + (size_t)ts_calib_conf_bin(p[j], c->n_bins));
        a[0] += p[j];
        a[1] += (int32_t)j == y;
        a[2] += 1;
    }
    c->n++;
}

double ts_classwise_finish(ts_classwise *c)
{
    double sum = 0;
    const size_t cells = c->k * (size_t)c->n_bins;
    for (size_t i = 0; i < cells; i++)
        sum += fabs(c->acc[3 * i + 1] - c->acc[3 * i]);
    double v = c->n ? sum / ((double)c->n * (double)c->k) : NAN;
    free(c->acc);
    c->acc = NULL;
    return v;
}

/* Class-wise ECE of softmax(beta z): one more pass, k probabilities per row. */
static ts_status classwise_ece_dense(const float *logits, const int32_t *labels, size_t n, size_t k,
                                     double beta, int32_t n_bins, double *out, char *err,
                                     size_t err_size)
{
    ts_classwise cw;
    double *p = malloc(k * sizeof *p);
    ts_status st = p ? ts_classwise_init(&cw, k, n_bins, err, err_size)
                     : ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
    if (st != TS_OK) {
        free(p);
        return st;
    }
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * k;
        float m = z[0];
        for (size_t j = 1; j < k; j++)
            m = z[j] > m ? z[j] : m;
        double s = 0;
        for (size_t j = 0; j < k; j++)
            s += p[j] = exp(beta * ((double)z[j] - m));
        for (size_t j = 0; j < k; j++)
            p[j] /= s;
        ts_classwise_add(&cw, p, labels[i]);
    }
    *out = ts_classwise_finish(&cw);
    free(p);
    return TS_OK;
}

/* Per-row confidence / correctness and the summed NLL, Brier at temperature T. */
static ts_status row_metrics(const float *logits, const int32_t *labels, size_t n, size_t k,
                             double temperature, double **conf, uint8_t **correct, double acc[4],
                             char *err, size_t err_size)
{
    *conf = NULL;
    *correct = NULL;
    ts_status st = check_inputs(logits, labels, n, k, err, err_size);
    if (st != TS_OK) return st;
    if (!(temperature > 0) || !isfinite(temperature))
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "calibration: temperature %g must be positive and finite", temperature);
    *conf = malloc(n * sizeof **conf);
    *correct = malloc(n);
    if (!*conf || !*correct) {
        free(*conf);
        free(*correct);
        *conf = NULL;
        *correct = NULL;
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "calibration: out of memory");
    }
    metric_ctx c = {logits, labels, k, 1.0 / temperature, *conf, *correct};
    parallel_rows(metric_rows, &c, n, k, acc);
    return TS_OK;
}

ts_status ts_calib_metrics_compute(const float *logits, const int32_t *labels, size_t n,
                                   size_t k, double temperature, int32_t n_bins,
                                   ts_calib_metrics *out, char *err, size_t err_size)
{
    return ts_calib_metrics_bins(logits, labels, n, k, temperature, n_bins, out, NULL, err,
                                 err_size);
}

ts_status ts_calib_metrics_bins(const float *logits, const int32_t *labels, size_t n, size_t k,
                                double temperature, int32_t n_bins, ts_calib_metrics *out,
                                ts_calib_bin *bins, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (n_bins < 1 || n_bins > TS_CALIB_MAX_BINS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "bins: %d out of range [1, %d]", n_bins,
                         TS_CALIB_MAX_BINS);
    double *conf;
    uint8_t *correct;
    double acc[4];
    ts_status st = row_metrics(logits, labels, n, k, temperature, &conf, &correct, acc, err,
                               err_size);
    if (st != TS_OK) return st;
    st = ts_calib_binned(conf, correct, n, n_bins, out, bins, err, err_size);
    free(conf);
    free(correct);
    if (st != TS_OK) return st;
    out->nll = acc[0] / (double)n;
    out->brier = acc[1] / (double)n;
    st = classwise_ece_dense(logits, labels, n, k, 1.0 / temperature, n_bins, &out->classwise_ece,
                             err, err_size);
    if (st != TS_OK) return st;
    /* Accuracy counted two ways (argmax of the logits, and binned) must agree. */
    TS_ASSERT(out->accuracy == acc[2] / (double)n);
    return TS_OK;
}

ts_status ts_calib_reliability(const float *logits, const int32_t *labels, size_t n, size_t k,
                               double temperature, int32_t n_bins, ts_calib_bin *bins)
{
    if (n_bins < 1 || n_bins > TS_CALIB_MAX_BINS) return TS_ERR_INVALID;
    double *conf;
    uint8_t *correct;
    double acc[4];
    ts_status st = row_metrics(logits, labels, n, k, temperature, &conf, &correct, acc, NULL, 0);
    if (st != TS_OK) return st;
    ts_calib_metrics m;
    st = ts_calib_binned(conf, correct, n, n_bins, &m, bins, NULL, 0);
    free(conf);
    free(correct);
    return st;
}

/* ---- bootstrap ------------------------------------------------------------- */

typedef struct rows_ctx {
    const float *logits;
    const int32_t *labels;
    size_t k;
    double beta;
    ts_calib_rowset *r;
} rows_ctx;

static void dense_rows_worker(void *vctx, size_t begin, size_t end, double acc[4])
{
    const rows_ctx *c = vctx;
    const size_t k = c->k;
    for (size_t i = begin; i < end; i++) {
        const float *z = c->logits + i * k;
        size_t am = 0;
        for (size_t j = 1; j < k; j++)
            if (z[j] > z[am]) am = j;
        const double m = z[am];
        double s0 = 0, s2 = 0;
        for (size_t j = 0; j < k; j++) {
            double e = exp(c->beta * ((double)z[j] - m));
            s0 += e;
            s2 += e * e;
        }
        const int32_t y = c->labels[i];
        double dy = (double)z[y] - m, py = exp(c->beta * dy) / s0;
        c->r->nll[i] = log(s0) - c->beta * dy;
        c->r->brier[i] = s2 / (s0 * s0) - 2 * py + 1;
        c->r->conf[i] = 1.0 / s0;
        c->r->correct[i] = (size_t)y == am;
    }
    memset(acc, 0, 4 * sizeof *acc);
}

ts_status ts_calib_dense_rows(const float *logits, const int32_t *labels, size_t n, size_t k,
                              double temperature, int32_t n_bins, ts_calib_rowset *r, char *err,
                              size_t err_size)
{
    ts_status st = ts_calib_rowset_init(r, n, err, err_size);
    if (st != TS_OK) return st;
    rows_ctx c = {logits, labels, k, 1.0 / temperature, r};
    double acc[4];
    parallel_rows(dense_rows_worker, &c, n, k, acc);
    r->has_brier = true;
    st = ts_calib_rowset_finish(r, n_bins, err, err_size);
    if (st != TS_OK) ts_calib_rowset_free(r);
    return st;
}

ts_status ts_calib_metrics_bootstrap(const float *logits, const int32_t *labels, size_t n, size_t k,
                                     const double *temperatures, size_t n_temps, int32_t n_bins,
                                     const ts_bootstrap_params *bp, ts_calib_metrics_ci *ci,
                                     ts_calib_metrics_ci *delta, char *err, size_t err_size)
{
    ts_status st = check_inputs(logits, labels, n, k, err, err_size);
    if (st != TS_OK) return st;
    if ((st = ts_bootstrap_check(bp, n, err, err_size)) != TS_OK) return st;
    if (n_bins < 1 || n_bins > TS_CALIB_MAX_BINS)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "bins: %d out of range [1, %d]", n_bins,
                         TS_CALIB_MAX_BINS);
    if (n_temps == 0) return ts_errorf(err, err_size, TS_ERR_INVALID, "bootstrap: no temperatures");
    for (size_t t = 0; t < n_temps; t++)
        if (!(temperatures[t] > 0) || !isfinite(temperatures[t]))
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "calibration: temperature %g must be positive and finite",
                             temperatures[t]);
    ts_calib_rowset *sets = calloc(n_temps, sizeof *sets);
    if (!sets) return ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    for (size_t t = 0; t < n_temps && st == TS_OK; t++)
        st = ts_calib_dense_rows(logits, labels, n, k, temperatures[t], n_bins, &sets[t], err,
                                 err_size);
    if (st == TS_OK) st = ts_calib_rowsets_bootstrap(sets, n_temps, bp, ci, delta, err, err_size);
    for (size_t t = 0; t < n_temps; t++)
        ts_calib_rowset_free(&sets[t]);
    free(sets);
    return st;
}

typedef struct fit_boot_ctx {
    const float *logits;
    const int32_t *labels;
    size_t k;
    double t_hat;
} fit_boot_ctx;

static void fit_boot_stat(void *vctx, const uint32_t *counts, size_t n, double *out, void *scratch)
{
    (void)scratch;
    const fit_boot_ctx *c = vctx;
    dense_problem p = {c->logits, c->labels, n, c->k, counts, true};
    ts_calib_fit f;
    ts_status st =
        ts_calib_minimize_from(dense_objective, &p, TS_CALIB_T_MIN, TS_CALIB_T_MAX, c->t_hat, &f);
    out[0] = st == TS_OK ? f.temperature : NAN;
}

ts_status ts_calib_fit_bootstrap(const float *logits, const int32_t *labels, size_t n, size_t k,
                                 const ts_bootstrap_params *bp, ts_interval *t_star, char *err,
                                 size_t err_size)
{
    ts_calib_fit fit;
    ts_status st = ts_calib_fit_temperature(logits, labels, n, k, &fit, err, err_size);
    if (st != TS_OK) return st;
    if ((st = ts_bootstrap_check(bp, n, err, err_size)) != TS_OK) return st;
    double *reps = malloc((size_t)bp->n_resamples * sizeof *reps);
    if (!reps) return ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    fit_boot_ctx c = {logits, labels, k, fit.temperature};
    st = ts_bootstrap_run(n, bp, 1, fit_boot_stat, &c, 0, reps, err, err_size);
    if (st == TS_OK && ts_bootstrap_intervals(reps, (size_t)bp->n_resamples, 1, bp->level,
                                              &fit.temperature, t_star) != TS_OK)
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "bootstrap: out of memory");
    free(reps);
    return st;
}
