/*
 * a_calibrate.c — the `calibrate` analysis: fit one temperature T* by NLL on
 * held-out data (Guo et al. 2017) and report calibration before / after.
 *
 * Two modes:
 *   classifier  val (+ test): a CSV "label,logit_0,..." or a .npy [N, K] of
 *               logits with .npy labels; T* is fitted on VAL only;
 *   language    text: a GPT-2 model's next-token distributions over a text
 *   model       (HF's sliding-window perplexity, every token scored once),
 *               kept in the compact ts_lm_calib store. T* is fitted on the
 *               tokens before fit_until (a fraction of the scored tokens) and
 *               scored on the rest, so the reported gain is held-out; with
 *               fit_until = 1 it is fitted and scored on the same tokens.
 * Progress of the scoring pass is reported as TS_EV_PROGRESS events.
 */
#include "rq_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct req_calibrate {
    rq_str val, val_labels, logits, labels, test, test_labels;
    int64_t bins;
    rq_str text;
    double from;
    double fit_until;
    int64_t stride;
    int64_t max_tokens;
    int64_t bootstrap;
    uint64_t seed;
    int methods;
} req_calibrate;

static const char *const methods_names[] = {"all", "temperature", NULL};

static const rq_field fields[] = {
    {.info = {.name = "val",
              .type = TS_FIELD_STRING,
              .metavar = "FILE",
              .help = "validation set: CSV label,logit_0,... or a .npy [N, K] of logits"},
     .off = offsetof(req_calibrate, val)},
    {.info = {.name = "val_labels",
              .type = TS_FIELD_STRING,
              .metavar = "FILE",
              .help = ".npy integer labels [N] for a .npy --val"},
     .off = offsetof(req_calibrate, val_labels)},
    {.info = {.name = "logits",
              .type = TS_FIELD_STRING,
              .metavar = "FILE",
              .help = "the same as --val"},
     .off = offsetof(req_calibrate, logits)},
    {.info = {.name = "labels",
              .type = TS_FIELD_STRING,
              .metavar = "FILE",
              .help = "the same as --val-labels"},
     .off = offsetof(req_calibrate, labels)},
    {.info = {.name = "test",
              .type = TS_FIELD_STRING,
              .metavar = "FILE",
              .help = "test set, same formats (metrics only; T* comes from VAL)"},
     .off = offsetof(req_calibrate, test)},
    {.info = {.name = "test_labels",
              .type = TS_FIELD_STRING,
              .metavar = "FILE",
              .help = ".npy labels for a .npy --test"},
     .off = offsetof(req_calibrate, test_labels)},
    {.info = {.name = "bins",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "15",
              .help = "bins for ECE / MCE / adaptive ECE"},
     .off = offsetof(req_calibrate, bins),
     .min = 1,
     .max = TS_CALIB_MAX_BINS},
    {.info = {.name = "text",
              .type = TS_FIELD_STRING,
              .metavar = "FILE",
              .help = "language model mode: the text to score (with the model of --model)"},
     .off = offsetof(req_calibrate, text)},
    {.info = {.name = "from",
              .type = TS_FIELD_DOUBLE,
              .metavar = "F",
              .def = "0",
              .help = "start at this fraction of the text's bytes (0.9 = the last 10 %)"},
     .off = offsetof(req_calibrate, from),
     .min = 0,
     .max = 1,
     .max_open = true},
    {.info = {.name = "fit_until",
              .type = TS_FIELD_DOUBLE,
              .metavar = "F",
              .def = "0.5",
              .help = "fit T* on the first F of the scored tokens, report on the rest "
                      "(1 = fit and score on the same tokens)"},
     .off = offsetof(req_calibrate, fit_until),
     .min = 0,
     .max = 1,
     .min_open = true},
    {.info = {.name = "stride",
              .type = TS_FIELD_INT,
              .metavar = "S",
              .def = "n_positions / 2",
              .help = "window stride in tokens"},
     .off = offsetof(req_calibrate, stride),
     .min = 1,
     .max = 1 << 20},
    {.info = {.name = "max_tokens",
              .type = TS_FIELD_INT,
              .metavar = "N",
              .def = "all",
              .help = "score at most N tokens"},
     .off = offsetof(req_calibrate, max_tokens),
     .min = 2,
     .max = 1L << 30},
    {.info = {.name = "bootstrap",
              .type = TS_FIELD_INT,
              .metavar = "B",
              .def = "1000 (0 for more than 1e6 logits)",
              .help = "resamples for the 95 % intervals of T*, NLL, ECE ... (0 = none)"},
     .off = offsetof(req_calibrate, bootstrap),
     .min = -1,
     .max = 100000},
    {.info = {.name = "seed",
              .type = TS_FIELD_U64,
              .metavar = "S",
              .def = "0",
              .help = "seed of the bootstrap resamples"},
     .off = offsetof(req_calibrate, seed)},
    {.info = {.name = "methods",
              .type = TS_FIELD_ENUM,
              .metavar = "all|temperature",
              .def = "all",
              .help = "classifier: also compare vector and matrix scaling (Guo et al.) on the "
                      "same split",
              .choices = methods_names},
     .off = offsetof(req_calibrate, methods)},
};

static void init(void *p)
{
    req_calibrate *q = p;
    q->bins = 15;
    q->fit_until = 0.5;
    q->bootstrap = -1; /* auto */
}

static ts_needs needs_of(const ts_request *r)
{
    return RQ_REQ(r, req_calibrate)->text.s ? TS_NEEDS_MODEL : TS_NEEDS_NOTHING;
}

/* ---- classifier sets ------------------------------------------------------------- */

typedef struct cal_set {
    char *path;
    float *z;   /* [n][k] */
    int32_t *y; /* [n] */
    size_t n, k;
    ts_calib_metrics before, after;
    ts_calib_bin *bins_before, *bins_after; /* [n_bins] */
} cal_set;

static void set_free(cal_set *s)
{
    free(s->path);
    free(s->z);
    free(s->y);
    free(s->bins_before);
    free(s->bins_after);
    memset(s, 0, sizeof *s);
}

static bool ends_with_npy(const char *p)
{
    size_t n = strlen(p);
    return n >= 4 && strcasecmp(p + n - 4, ".npy") == 0;
}

static ts_status load_set(const char *path, const char *labels_path, const char *opt, cal_set *s,
                          char *err, size_t err_size)
{
    s->path = strdup(path);
    if (!s->path) return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    ts_status st;
    if (!ends_with_npy(path)) {
        if (labels_path)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s_labels: is for .npy logits; %s is read as CSV with its labels in "
                             "the first column",
                             opt, path);
        st = ts_csv_read_logits(path, &s->z, &s->y, &s->n, &s->k, err, err_size);
        if (st != TS_OK) return st;
    } else {
        if (!labels_path)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "%s_labels: %s holds logits only; give its labels: --%s-labels "
                             "LABELS.npy",
                             opt, path, opt);
        int32_t ndim;
        size_t shape[TS_NPY_MAX_DIM], ny;
        st = ts_npy_read_f32(path, &s->z, &ndim, shape, err, err_size);
        if (st == TS_OK) st = ts_npy_read_labels(labels_path, &s->y, &ny, err, err_size);
        if (st != TS_OK) return st;
        if (ndim != 2)
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: logits have %d dimension%s, expected [N, K]", path, ndim,
                             ndim == 1 ? "" : "s");
        s->n = shape[0];
        s->k = shape[1];
        if (s->n == 0)
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: no rows (shape (0, %zu))", path,
                             s->k);
        if (s->k < 2)
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: shape (%zu, %zu): K = %zu class%s, calibration needs K >= 2",
                             path, s->n, s->k, s->k, s->k == 1 ? "" : "es");
        if (ny != s->n)
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s has %zu labels but %s has %zu rows",
                             labels_path, ny, path, s->n);
        for (size_t i = 0; i < s->n; i++) {
            if ((size_t)s->y[i] >= s->k)
                return ts_errorf(err, err_size, TS_ERR_FORMAT,
                                 "%s: row %zu: label %d is out of range [0, %zu)", labels_path, i,
                                 s->y[i], s->k);
            for (size_t j = 0; j < s->k; j++)
                if (!isfinite(s->z[i * s->k + j]))
                    return ts_errorf(err, err_size, TS_ERR_FORMAT,
                                     "%s: row %zu, column %zu: logit %g is not finite", path, i, j,
                                     (double)s->z[i * s->k + j]);
        }
    }
    if (ts_calib_looks_like_probabilities(s->z, s->n, s->k))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: these look like probabilities (every row is non-negative and sums "
                         "to 1); pass log-probabilities or logits (np.log(p))",
                         path);
    return TS_OK;
}

static ts_status evaluate(cal_set *s, double t, int32_t n_bins, char *err, size_t err_size)
{
    s->bins_before = calloc((size_t)n_bins, sizeof *s->bins_before);
    s->bins_after = calloc((size_t)n_bins, sizeof *s->bins_after);
    if (!s->bins_before || !s->bins_after)
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    char e2[TS_ERR_SIZE] = "";
    if (ts_calib_metrics_bins(s->z, s->y, s->n, s->k, 1.0, n_bins, &s->before, s->bins_before, e2,
                              sizeof e2) != TS_OK ||
        ts_calib_metrics_bins(s->z, s->y, s->n, s->k, t, n_bins, &s->after, s->bins_after, e2,
                              sizeof e2) != TS_OK)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: %s", s->path,
                         e2[0] ? e2 : "metrics failed");
    /* Temperature scaling keeps the argmax: accuracy must not move. */
    TS_ASSERT(s->before.accuracy == s->after.accuracy);
    return TS_OK;
}

/* ---- the result ------------------------------------------------------------------- */

enum { NC = 61 };

typedef struct res_calibrate {
    bool lm;
    ts_calib_fit fit;
    int32_t n_bins;
    int32_t n_boot;                   /* resamples used (0: no intervals) */
    ts_interval t_star;               /* T* over resamples of the fit set */
    ts_calib_metrics_ci ci[2], delta; /* on the reported set at T = 1 and T*; T* - 1 paired */
    bool has_compare;
    ts_calib_comparison cmp[TS_CALIB_N_METHODS];
    /* classifier */
    cal_set val, test;
    bool has_test;
    /* language model */
    char *text_path;
    size_t start_byte, n_bytes, window, stride;
    size_t tokens_fit, tokens_scored;
    double fit_until;
    ts_calib_metrics mb, ma;
    ts_calib_bin *bins; /* [2 * n_bins]: before, after */
    double bound;
    double ct[NC], cn[NC]; /* NLL(T) over the scored tokens */
} res_calibrate;

static void free_result(void *v)
{
    res_calibrate *c = v;
    set_free(&c->val);
    set_free(&c->test);
    free(c->text_path);
    free(c->bins);
    free(c);
}

static ts_status check(const ts_request *r, char *err, size_t err_size)
{
    const req_calibrate *q = RQ_REQ(r, req_calibrate);
    if (q->logits.s && q->val.s)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "logits: the same as val; give one");
    if (q->labels.s && q->val_labels.s)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "labels: the same as val_labels; give one");
    bool classifier = q->val.s || q->logits.s || q->test.s;
    if (q->text.s && classifier)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "text: the language model mode (text) and the classifier mode (val / "
                         "test) are separate; pick one");
    if (!q->text.s && !q->val.s && !q->logits.s)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "val: nothing to calibrate: give val (classifier logits) or text (a "
                         "language model on a text)");
    if (q->test_labels.s && !q->test.s)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "test_labels: needs test");
    return TS_OK;
}

/* The diagnostics of ts_calib_diagnose as warnings, with the numbers. */
static void warn_diagnose(rq_run *run, const char *set, const char *unit, size_t n, int32_t n_bins,
                          const ts_calib_bin *bins, const ts_calib_fit *fit,
                          const ts_calib_metrics *before, const ts_calib_metrics *after,
                          const ts_calib_metrics_ci *delta)
{
    unsigned w = ts_calib_diagnose(bins, n_bins, n, fit, before, after, delta);
    if (w & TS_CALIB_WARN_FEW_ROWS)
        rq_warn(run, "bins: %zu %s in %d bins is %.1f per bin: %s", n, unit, (int)n_bins,
                (double)n / n_bins, ts_calib_warning_text(TS_CALIB_WARN_FEW_ROWS));
    if (w & TS_CALIB_WARN_SPARSE_BINS)
        rq_warn(run, "bins: %s", ts_calib_warning_text(TS_CALIB_WARN_SPARSE_BINS));
    if (w & TS_CALIB_WARN_ECE_WORSE)
        rq_warn(run, "T* = %.4f: ECE %.2f %% -> %.2f %% on %s; %s%s%s", fit->temperature,
                100 * before->ece, 100 * after->ece, set,
                ts_calib_warning_text(TS_CALIB_WARN_ECE_WORSE),
                w & TS_CALIB_WARN_ECE_WORSE_SIGNIFICANT ? "; " : "",
                w & TS_CALIB_WARN_ECE_WORSE_SIGNIFICANT
                    ? ts_calib_warning_text(TS_CALIB_WARN_ECE_WORSE_SIGNIFICANT)
                    : "");
    if (w & TS_CALIB_WARN_AT_BOUND)
        rq_warn(run, "T* = %g: %s", fit->temperature,
                ts_calib_warning_text(TS_CALIB_WARN_AT_BOUND));
    if (w & TS_CALIB_WARN_NOT_CONVERGED)
        rq_warn(run, "%s", ts_calib_warning_text(TS_CALIB_WARN_NOT_CONVERGED));
}

/* Resamples to use: the field, or auto (1000, none beyond 1e6 logits). */
static int32_t n_resamples(const req_calibrate *q, size_t cells)
{
    if (q->bootstrap >= 0) return (int32_t)q->bootstrap;
    return cells <= 1000000 ? 1000 : 0;
}

static ts_status run_classifier(rq_run *run, const req_calibrate *q, res_calibrate *c, char *err,
                                size_t err_size)
{
    const char *val = q->val.s ? q->val.s : q->logits.s;
    const char *val_labels = q->val_labels.s ? q->val_labels.s : q->labels.s;
    ts_status st = load_set(val, val_labels, "val", &c->val, err, err_size);
    if (st != TS_OK) return st;
    if (q->test.s) {
        st = load_set(q->test.s, q->test_labels.s, "test", &c->test, err, err_size);
        if (st != TS_OK) return st;
        if (c->test.k != c->val.k)
            return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s has %zu classes but %s has %zu",
                             c->test.path, c->test.k, c->val.path, c->val.k);
        c->has_test = true;
    }
    char e2[TS_ERR_SIZE] = "";
    st = ts_calib_fit_temperature(c->val.z, c->val.y, c->val.n, c->val.k, &c->fit, e2, sizeof e2);
    if (st != TS_OK) return ts_errorf(err, err_size, st, "%s: %s", c->val.path, e2);
    st = evaluate(&c->val, c->fit.temperature, c->n_bins, err, err_size);
    if (st == TS_OK && c->has_test)
        st = evaluate(&c->test, c->fit.temperature, c->n_bins, err, err_size);
    if (st != TS_OK) return st;
    const cal_set *rep = c->has_test ? &c->test : &c->val;
    c->n_boot = n_resamples(q, c->val.n * c->val.k);
    if (c->n_boot == 1) c->n_boot = 2;
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = c->n_boot;
    bp.seed = q->seed;
    if (c->n_boot) {
        st = ts_calib_fit_bootstrap(c->val.z, c->val.y, c->val.n, c->val.k, &bp, &c->t_star, e2,
                                    sizeof e2);
        double temps[2] = {1.0, c->fit.temperature};
        ts_calib_metrics_ci delta[2];
        if (st == TS_OK)
            st = ts_calib_metrics_bootstrap(rep->z, rep->y, rep->n, rep->k, temps, 2, c->n_bins,
                                            &bp, c->ci, delta, e2, sizeof e2);
        if (st != TS_OK) return ts_errorf(err, err_size, st, "bootstrap: %s", e2);
        c->delta = delta[1];
    }
    if (q->methods == 0) {
        st = ts_calib_compare(c->val.z, c->val.y, c->val.n, rep->z, rep->y, rep->n, rep->k,
                              c->n_bins, 0.0, c->n_boot ? &bp : NULL, c->cmp, e2, sizeof e2);
        if (st != TS_OK) return ts_errorf(err, err_size, st, "methods: %s", e2);
        c->has_compare = true;
    }
    warn_diagnose(run, c->has_test ? "TEST" : "VAL", "rows", rep->n, c->n_bins, rep->bins_after,
                  &c->fit, &rep->before, &rep->after, c->n_boot ? &c->delta : NULL);
    return TS_OK;
}

/* ts_lm_calib_score's progress as TS_EV_PROGRESS events. */
static void on_progress(size_t done, size_t total, void *user)
{
    rq_run *run = user;
    ts_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TS_EV_PROGRESS;
    ev.done = done;
    ev.total = total;
    rq_emit(run, &ev);
}

static ts_status run_lm(rq_run *run, const req_calibrate *q, res_calibrate *c, char *err,
                        size_t err_size)
{
    c->lm = true;
    c->fit_until = q->fit_until;
    c->text_path = strdup(q->text.s);
    char *text = NULL;
    size_t len = 0;
    if (!c->text_path) return ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
    ts_status st = ts_read_file(q->text.s, &text, &len, err, err_size);
    if (st != TS_OK) return st;
    const size_t L = (size_t)run->info->n_positions, V = (size_t)run->info->n_vocab;
    size_t start = (size_t)(q->from * (double)len);
    c->start_byte = start;
    c->n_bytes = len - start;
    c->window = L;
    int32_t *ids = malloc((len - start + 1) * sizeof *ids);
    ts_context *ctx = NULL;
    ts_lm_calib *store = NULL;
    size_t n_ids = 0;
    c->bins = calloc(2 * (size_t)c->n_bins, sizeof *c->bins);
    if (!ids || !c->bins) {
        st = ts_errorf(err, err_size, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    st = ts_tokenizer_encode(run->tok, text + start, len - start, 0, ids, len - start + 1, &n_ids);
    if (st != TS_OK) {
        st = ts_errorf(err, err_size, st, "%s: could not tokenize", q->text.s);
        goto out;
    }
    if (n_ids < 3) {
        st = ts_errorf(err, err_size, TS_ERR_INVALID,
                       "text: %s: %zu token%s from byte %zu on; need at least 3 (2 to score)",
                       q->text.s, n_ids, n_ids == 1 ? "" : "s", start);
        goto out;
    }
    if (q->max_tokens > 0 && n_ids > (size_t)q->max_tokens + 1) n_ids = (size_t)q->max_tokens + 1;
    size_t stride = q->stride ? (size_t)q->stride : (L / 2 > 0 ? L / 2 : 1);
    if (stride >= L) {
        st = ts_errorf(err, err_size, TS_ERR_INVALID,
                       "stride: %zu is not less than the model's window of %zu tokens (windows "
                       "must overlap: a window's first token has no prediction in it)",
                       stride, L);
        goto out;
    }
    c->stride = stride;
    ts_context_params cp = ts_context_default_params();
    cp.all_logits = true;
    st = ts_context_new(ts_session_model(run->session), &cp, &ctx, err, err_size);
    if (st == TS_OK) st = ts_lm_calib_new(V, n_ids - 1, &store, err, err_size);
    if (st == TS_OK)
        st = ts_lm_calib_score(ts_session_model(run->session), ctx, ids, n_ids, L, stride, store,
                               on_progress, run, err, err_size);
    if (st == TS_OK && run->cancelled) st = ts_errorf(err, err_size, TS_ERR_IO, "cancelled");
    if (st != TS_OK) goto out;
    size_t n = ts_lm_calib_count(store);
    c->n_boot = n_resamples(q, n);
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = c->n_boot ? c->n_boot : 2;
    bp.seed = q->seed;
    size_t begin = 0;
    if (q->fit_until < 1.0) {
        ts_lm_heldout h;
        st = ts_lm_calib_heldout(store, q->fit_until, c->n_bins, c->n_boot ? &bp : NULL, &h, err,
                                 err_size);
        if (st != TS_OK) goto out;
        c->fit = h.fit;
        c->mb = h.before;
        c->ma = h.after;
        c->bound = h.nll_error_bound;
        c->tokens_fit = h.split;
        c->tokens_scored = n - h.split;
        begin = h.split;
        if (h.has_intervals) {
            c->t_star = h.t_star;
            c->ci[0] = h.before_ci;
            c->ci[1] = h.after_ci;
            c->delta = h.delta_ci;
        }
    } else {
        ts_lm_calib_fit(store, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &c->fit);
        double bb, ba;
        st = ts_lm_calib_metrics(store, 1.0, c->n_bins, &c->mb, NULL, &bb, err, err_size);
        if (st == TS_OK)
            st = ts_lm_calib_metrics(store, c->fit.temperature, c->n_bins, &c->ma, NULL, &ba, err,
                                     err_size);
        if (st == TS_OK && c->n_boot) {
            double temps[2] = {1.0, c->fit.temperature};
            ts_calib_metrics_ci delta[2];
            st = ts_lm_calib_fit_bootstrap(store, 0, n, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &bp,
                                           &c->t_star, err, err_size);
            if (st == TS_OK)
                st = ts_lm_calib_metrics_bootstrap(store, 0, n, temps, 2, c->n_bins, &bp, c->ci,
                                                   delta, err, err_size);
            c->delta = delta[1];
        }
        if (st != TS_OK) goto out;
        c->bound = fmax(bb, ba);
        c->tokens_fit = c->tokens_scored = n;
        rq_warn(run, "fit_until: 1 fits and scores T* on the same %zu tokens (not held out)", n);
    }
    /* Reliability bins and the NLL(T) curve on the scored tokens. */
    st = ts_lm_calib_metrics_range(store, begin, n, 1.0, c->n_bins, &c->mb, c->bins, NULL, err,
                                   err_size);
    if (st == TS_OK)
        st = ts_lm_calib_metrics_range(store, begin, n, c->fit.temperature, c->n_bins, &c->ma,
                                       c->bins + c->n_bins, NULL, err, err_size);
    if (st != TS_OK) goto out;
    TS_ASSERT(c->mb.accuracy == c->ma.accuracy);
    double lo = fmin(0.5, c->fit.temperature / 1.5), hi = fmax(2.0, c->fit.temperature * 1.5);
    for (int i = 0; i < NC && st == TS_OK; i++) {
        ts_calib_metrics m;
        c->ct[i] = lo * pow(hi / lo, (double)i / (NC - 1));
        st = ts_lm_calib_metrics_range(store, begin, n, c->ct[i], 1, &m, NULL, NULL, err, err_size);
        c->cn[i] = m.nll;
    }
    if (st != TS_OK) goto out;
    warn_diagnose(run, "the scored tokens", "tokens", c->tokens_scored, c->n_bins,
                  c->bins + c->n_bins, &c->fit, &c->mb, &c->ma, c->n_boot ? &c->delta : NULL);
out:
    ts_lm_calib_free(store);
    ts_context_free(ctx);
    free(ids);
    free(text);
    return st;
}

static ts_status run(rq_run *run, void **out, char *err, size_t err_size)
{
    const req_calibrate *q = RQ_REQ(run->req, req_calibrate);
    res_calibrate *c = calloc(1, sizeof *c);
    if (!c) return ts_errorf(err, err_size, TS_ERR_NOMEM, "calibrate: out of memory");
    c->n_bins = (int32_t)q->bins;
    ts_status st =
        q->text.s ? run_lm(run, q, c, err, err_size) : run_classifier(run, q, c, err, err_size);
    if (st != TS_OK) {
        free_result(c);
        return st;
    }
    *out = c;
    return TS_OK;
}

/* ---- JSON --------------------------------------------------------------------------- */

static void json_set(cJSON *root, const char *name, const cal_set *s)
{
    cJSON *o = cJSON_AddObjectToObject(root, name);
    cJSON_AddNumberToObject(o, "rows", (double)s->n);
    cJSON_AddNumberToObject(o, "classes", (double)s->k);
    cJSON_AddNumberToObject(o, "nll_before", s->before.nll);
    cJSON_AddNumberToObject(o, "nll_after", s->after.nll);
    cJSON_AddNumberToObject(o, "ece_before", s->before.ece);
    cJSON_AddNumberToObject(o, "ece_after", s->after.ece);
    cJSON_AddNumberToObject(o, "mce_before", s->before.mce);
    cJSON_AddNumberToObject(o, "mce_after", s->after.mce);
    cJSON_AddNumberToObject(o, "ace_before", s->before.ace);
    cJSON_AddNumberToObject(o, "ace_after", s->after.ace);
    cJSON_AddNumberToObject(o, "brier_before", s->before.brier);
    cJSON_AddNumberToObject(o, "brier_after", s->after.brier);
    cJSON_AddItemToObject(o, "classwise_ece_before", rq_json_number(s->before.classwise_ece));
    cJSON_AddItemToObject(o, "classwise_ece_after", rq_json_number(s->after.classwise_ece));
    cJSON_AddNumberToObject(o, "accuracy", s->after.accuracy);
}

static cJSON *json_iv(const ts_interval *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "estimate", rq_json_number(v->estimate));
    cJSON_AddItemToObject(o, "lo", rq_json_number(v->lo));
    cJSON_AddItemToObject(o, "hi", rq_json_number(v->hi));
    return o;
}

static cJSON *json_ci(const ts_calib_metrics_ci *ci)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "nll", json_iv(&ci->nll));
    cJSON_AddItemToObject(o, "accuracy", json_iv(&ci->accuracy));
    cJSON_AddItemToObject(o, "ece", json_iv(&ci->ece));
    cJSON_AddItemToObject(o, "mce", json_iv(&ci->mce));
    cJSON_AddItemToObject(o, "ace", json_iv(&ci->ace));
    cJSON_AddItemToObject(o, "brier", json_iv(&ci->brier));
    return o;
}

/* The bootstrap block: T*'s interval and the metrics' at T = 1, T* and their change. */
static void json_intervals(cJSON *root, const res_calibrate *c)
{
    if (!c->n_boot) return;
    cJSON *o = cJSON_AddObjectToObject(root, "intervals");
    cJSON_AddNumberToObject(o, "resamples", c->n_boot);
    cJSON_AddItemToObject(o, "temperature", json_iv(&c->t_star));
    cJSON_AddItemToObject(o, "before", json_ci(&c->ci[0]));
    cJSON_AddItemToObject(o, "after", json_ci(&c->ci[1]));
    cJSON_AddItemToObject(o, "change", json_ci(&c->delta));
}

static cJSON *json(const ts_result *res)
{
    const res_calibrate *c = res->data;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddNumberToObject(root, "temperature", c->fit.temperature);
    cJSON_AddNumberToObject(root, "iterations", c->fit.iterations);
    cJSON_AddBoolToObject(root, "converged", c->fit.converged);
    cJSON_AddNumberToObject(root, "bins", c->n_bins);
    if (!c->lm) {
        json_set(root, "val", &c->val);
        if (c->has_test) json_set(root, "test", &c->test);
        json_intervals(root, c);
        if (c->has_compare) {
            cJSON *m = cJSON_AddArrayToObject(root, "methods");
            for (int i = 0; i < TS_CALIB_N_METHODS; i++) {
                const ts_calib_comparison *x = &c->cmp[i];
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "method", ts_calib_method_name(x->method));
                cJSON_AddNumberToObject(o, "params", (double)x->n_params);
                cJSON_AddBoolToObject(o, "fitted", x->fitted);
                if (x->note[0]) cJSON_AddStringToObject(o, "note", x->note);
                if (x->fitted) {
                    cJSON_AddNumberToObject(o, "nll", x->metrics.nll);
                    cJSON_AddNumberToObject(o, "accuracy", x->metrics.accuracy);
                    cJSON_AddNumberToObject(o, "ece", x->metrics.ece);
                    cJSON_AddNumberToObject(o, "mce", x->metrics.mce);
                    cJSON_AddNumberToObject(o, "ace", x->metrics.ace);
                    cJSON_AddNumberToObject(o, "brier", x->metrics.brier);
                    cJSON_AddItemToObject(o, "classwise_ece",
                                          rq_json_number(x->metrics.classwise_ece));
                    if (x->has_intervals) {
                        cJSON_AddItemToObject(o, "intervals", json_ci(&x->ci));
                        cJSON_AddItemToObject(o, "change", json_ci(&x->delta));
                    }
                }
                cJSON_AddItemToArray(m, o);
            }
        }
        return root;
    }
    json_intervals(root, c);
    cJSON_AddStringToObject(root, "model", res->model_dir);
    cJSON_AddStringToObject(root, "text", c->text_path);
    cJSON_AddNumberToObject(root, "fit_until", c->fit_until);
    cJSON_AddNumberToObject(root, "tokens_fit", (double)c->tokens_fit);
    cJSON_AddNumberToObject(root, "tokens", (double)c->tokens_scored);
    cJSON_AddNumberToObject(root, "nll_before", c->mb.nll);
    cJSON_AddNumberToObject(root, "nll_after", c->ma.nll);
    cJSON_AddNumberToObject(root, "ppl_before", exp(c->mb.nll));
    cJSON_AddNumberToObject(root, "ppl_after", exp(c->ma.nll));
    cJSON_AddNumberToObject(root, "ece_before", c->mb.ece);
    cJSON_AddNumberToObject(root, "ece_after", c->ma.ece);
    cJSON_AddNumberToObject(root, "mce_before", c->mb.mce);
    cJSON_AddNumberToObject(root, "mce_after", c->ma.mce);
    cJSON_AddNumberToObject(root, "ace_before", c->mb.ace);
    cJSON_AddNumberToObject(root, "ace_after", c->ma.ace);
    cJSON_AddNumberToObject(root, "accuracy", c->ma.accuracy);
    cJSON_AddNumberToObject(root, "nll_error_bound", c->bound);
    return root;
}

/* ---- the terminal / report rendering ---------------------------------------------------- */

static void doc_fit(ts_doc *d, const ts_calib_fit *fit)
{
    ts_doc_printf(d, TS_STYLE_PLAIN, "T* = %.6f  (%d iterations, safeguarded Newton on 1/T, %s)\n",
                  fit->temperature, fit->iterations,
                  fit->converged ? "converged to 1e-10 relative" : "not converged");
    if (fit->at_bound < 0)
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "   T* hit the lower bound %g: NLL keeps falling as T -> 0 (the validation "
                      "predictions are all right and separable)\n",
                      TS_CALIB_T_MIN);
    else if (fit->at_bound > 0)
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "   T* hit the upper bound %g: NLL keeps falling as T -> inf (the labels "
                      "disagree with the logits)\n",
                      TS_CALIB_T_MAX);
    else if (fit->temperature > 1)
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "   T* > 1: the model was overconfident; dividing logits by %.3f softens "
                      "it\n",
                      fit->temperature);
    else if (fit->temperature < 1)
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "   T* < 1: the model was underconfident; dividing logits by %.3f sharpens "
                      "it\n",
                      fit->temperature);
}

static void metric_rows(ts_doc_table *t, const cal_set *const *sets, size_t n_sets)
{
    static const char *const names[7] = {"NLL (nats)",   "accuracy", "ECE",           "MCE",
                                         "adaptive ECE", "Brier",    "class-wise ECE"};
    for (int m = 0; m < 7; m++) {
        size_t r = ts_doc_table_row(t, TS_STYLE_PLAIN);
        ts_doc_table_set(t, r, 0, "%s", names[m]);
        for (size_t s = 0; s < n_sets; s++) {
            const ts_calib_metrics *b = &sets[s]->before, *a = &sets[s]->after;
            double vb[7] = {b->nll, b->accuracy, b->ece,          b->mce,
                            b->ace, b->brier,    b->classwise_ece};
            double va[7] = {a->nll, a->accuracy, a->ece,          a->mce,
                            a->ace, a->brier,    a->classwise_ece};
            bool pct = (m >= 1 && m <= 4) || m == 6;
            if (pct) {
                ts_doc_table_set(t, r, 1 + 2 * s, "%.2f %%", 100 * vb[m]);
                ts_doc_table_set(t, r, 2 + 2 * s, "%.2f %%", 100 * va[m]);
            } else {
                ts_doc_table_set(t, r, 1 + 2 * s, "%.4f", vb[m]);
                ts_doc_table_set(t, r, 2 + 2 * s, "%.4f", va[m]);
            }
        }
    }
}

static void doc_lm(const ts_result *res, ts_doc *d)
{
    const res_calibrate *c = res->data;
    ts_doc_printf(d, TS_STYLE_PLAIN, "TEXT: %s from byte %zu (%zu bytes): window %zu, stride %zu\n",
                  c->text_path, c->start_byte, c->n_bytes, c->window, c->stride);
    if (c->fit_until >= 1.0)
        ts_doc_printf(d, TS_STYLE_PLAIN, "T* fitted and scored on the same %zu tokens\n",
                      c->tokens_scored);
    else
        ts_doc_printf(d, TS_STYLE_PLAIN,
                      "T* fitted on the first %zu tokens (fit_until %g), scored on the %zu held "
                      "out after them\n",
                      c->tokens_fit, c->fit_until, c->tokens_scored);
    doc_fit(d, &c->fit);
    ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
    static const char *const h[] = {"metric", "T = 1", "T*"};
    ts_doc_table *t = ts_doc_table_new(3, h);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    ts_doc_table_title(t, c->fit_until >= 1.0 ? "next-token calibration"
                                              : "next-token calibration on held-out tokens");
    ts_doc_table_right(t, 1);
    ts_doc_table_right(t, 2);
    ts_doc_table_emphasise_col(t, 2);
    size_t r = ts_doc_table_row(t, TS_STYLE_PLAIN);
    ts_doc_table_set(t, r, 0, "NLL (nats/token)");
    ts_doc_table_set(t, r, 1, "%.4f", c->mb.nll);
    ts_doc_table_set(t, r, 2, "%.4f", c->ma.nll);
    r = ts_doc_table_row(t, TS_STYLE_PLAIN);
    ts_doc_table_set(t, r, 0, "perplexity");
    ts_doc_table_set(t, r, 1, "%.3f", exp(c->mb.nll));
    ts_doc_table_set(t, r, 2, "%.3f", exp(c->ma.nll));
    static const char *const names[4] = {"top-1 accuracy", "top-1 ECE", "top-1 MCE",
                                         "top-1 adaptive ECE"};
    double vb[4] = {c->mb.accuracy, c->mb.ece, c->mb.mce, c->mb.ace};
    double va[4] = {c->ma.accuracy, c->ma.ece, c->ma.mce, c->ma.ace};
    for (int i = 0; i < 4; i++) {
        r = ts_doc_table_row(t, TS_STYLE_PLAIN);
        ts_doc_table_set(t, r, 0, "%s", names[i]);
        ts_doc_table_set(t, r, 1, "%.2f %%", 100 * vb[i]);
        ts_doc_table_set(t, r, 2, "%.2f %%", 100 * va[i]);
    }
    ts_doc_add_table(d, t);
    ts_doc_printf(d, TS_STYLE_PLAIN,
                  "\nNLL gain %.4f nats/token (%.2f %%). NLL from the compact store: exact head, "
                  "histogram tail; underestimate <= %.1e nats/token.\n",
                  c->mb.nll - c->ma.nll, 100 * (c->mb.nll - c->ma.nll) / c->mb.nll, c->bound);
}

/* "T* 95 % interval" and the paired change of each metric. */
static void doc_intervals(ts_doc *d, const res_calibrate *c, const char *set)
{
    if (!c->n_boot) return;
    ts_doc_printf(d, TS_STYLE_PLAIN,
                  "T* 95 %% bootstrap interval: [%.4f, %.4f] (%d resamples of the fit set)\n",
                  c->t_star.lo, c->t_star.hi, (int)c->n_boot);
    static const char *const h[] = {"metric", "T = 1", "T*", "change (T* - 1)"};
    ts_doc_table *t = ts_doc_table_new(4, h);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    char title[160];
    snprintf(title, sizeof title, "95 %% bootstrap intervals on %s (the change is paired)", set);
    ts_doc_table_title(t, title);
    for (size_t k = 1; k < 4; k++)
        ts_doc_table_right(t, k);
    const ts_interval *b[5] = {&c->ci[0].nll, &c->ci[0].ece, &c->ci[0].mce, &c->ci[0].ace,
                               &c->ci[0].brier};
    const ts_interval *a[5] = {&c->ci[1].nll, &c->ci[1].ece, &c->ci[1].mce, &c->ci[1].ace,
                               &c->ci[1].brier};
    const ts_interval *x[5] = {&c->delta.nll, &c->delta.ece, &c->delta.mce, &c->delta.ace,
                               &c->delta.brier};
    static const char *const names[5] = {"NLL", "ECE", "MCE", "adaptive ECE", "Brier"};
    for (int m = 0; m < 5; m++) {
        if (c->lm && m == 4) break; /* no Brier for a language model */
        size_t r = ts_doc_table_row(t, TS_STYLE_PLAIN);
        ts_doc_table_set(t, r, 0, "%s", names[m]);
        ts_doc_table_set(t, r, 1, "%.4f [%.4f, %.4f]", b[m]->estimate, b[m]->lo, b[m]->hi);
        ts_doc_table_set(t, r, 2, "%.4f [%.4f, %.4f]", a[m]->estimate, a[m]->lo, a[m]->hi);
        ts_doc_table_set(t, r, 3, "%+.4f [%+.4f, %+.4f]", x[m]->estimate, x[m]->lo, x[m]->hi);
    }
    ts_doc_add_table(d, t);
}

static void doc_methods(ts_doc *d, const res_calibrate *c, const char *set)
{
    static const char *const h[] = {"method", "params",         "NLL",  "accuracy",
                                    "ECE",    "class-wise ECE", "Brier"};
    ts_doc_table *t = ts_doc_table_new(7, h);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    char title[160];
    snprintf(title, sizeof title, "Guo et al.'s baselines, fitted on VAL, scored on %s", set);
    ts_doc_table_title(t, title);
    for (size_t k = 1; k < 7; k++)
        ts_doc_table_right(t, k);
    for (int i = 0; i < TS_CALIB_N_METHODS; i++) {
        const ts_calib_comparison *x = &c->cmp[i];
        size_t r = ts_doc_table_row(t, x->method == TS_CALIB_TEMPERATURE ? TS_STYLE_ACCENT
                                                                         : TS_STYLE_PLAIN);
        ts_doc_table_set(t, r, 0, "%s", ts_calib_method_name(x->method));
        ts_doc_table_set(t, r, 1, "%zu", x->n_params);
        if (!x->fitted) {
            ts_doc_table_set(t, r, 2, "%s", x->note[0] ? x->note : "not fitted");
            continue;
        }
        ts_doc_table_set(t, r, 2, "%.4f", x->metrics.nll);
        ts_doc_table_set(t, r, 3, "%.2f %%", 100 * x->metrics.accuracy);
        ts_doc_table_set(t, r, 4, "%.2f %%", 100 * x->metrics.ece);
        ts_doc_table_set(t, r, 5, "%.2f %%", 100 * x->metrics.classwise_ece);
        ts_doc_table_set(t, r, 6, "%.4f", x->metrics.brier);
    }
    ts_doc_add_table(d, t);
    ts_doc_printf(d, TS_STYLE_DIM,
                  "Temperature scaling has one parameter and keeps the ranking; vector (2K) and "
                  "matrix (K^2 + K) scaling can overfit a small VAL and change accuracy.\n");
}

static void doc(const ts_result *res, ts_doc *d, bool live)
{
    const res_calibrate *c = res->data;
    if (c->lm) {
        doc_lm(res, d);
        doc_intervals(d, c, "the scored tokens");
        return;
    }
    ts_doc_printf(d, TS_STYLE_PLAIN, "VAL:  %s  (%zu rows, %zu classes)\n", c->val.path, c->val.n,
                  c->val.k);
    if (c->has_test)
        ts_doc_printf(d, TS_STYLE_PLAIN, "TEST: %s  (%zu rows)\n", c->test.path, c->test.n);
    doc_fit(d, &c->fit);
    ts_doc_text(d, TS_STYLE_PLAIN, "\n", 1);
    static const char *const h2[] = {"metric", "VAL T=1", "VAL T*"};
    static const char *const h4[] = {"metric", "VAL T=1", "VAL T*", "TEST T=1", "TEST T*"};
    ts_doc_table *t = ts_doc_table_new(c->has_test ? 5 : 3, c->has_test ? h4 : h2);
    if (!t) {
        ts_doc_add_table(d, NULL);
        return;
    }
    char title[64];
    snprintf(title, sizeof title, "calibration, %d bins", (int)c->n_bins);
    ts_doc_table_title(t, title);
    for (size_t col = 1; col < (c->has_test ? 5u : 3u); col++)
        ts_doc_table_right(t, col);
    ts_doc_table_emphasise_col(t, 2);
    if (c->has_test) ts_doc_table_emphasise_col(t, 4);
    const cal_set *sets[2] = {&c->val, &c->test};
    metric_rows(t, sets, c->has_test ? 2 : 1);
    ts_doc_add_table(d, t);
    ts_doc_text(
        d, TS_STYLE_PLAIN,
        "Accuracy does not change: dividing logits by T > 0 keeps their order.\n\n",
        strlen("Accuracy does not change: dividing logits by T > 0 keeps their order.\n\n"));
    doc_intervals(d, c, c->has_test ? "TEST" : "VAL");
    if (c->has_compare) doc_methods(d, c, c->has_test ? "TEST" : "VAL");
}

static ts_status plot(const ts_result *res, const char *path, const char *title_arg, char *err,
                      size_t err_size)
{
    const res_calibrate *c = res->data;
    char title[512], tb[64], ta[64];
    snprintf(tb, sizeof tb, "before: T = 1");
    snprintf(ta, sizeof ta, "after: T* = %.3f", c->fit.temperature);
    if (c->lm) {
        const char *base = strrchr(c->text_path, '/');
        snprintf(title, sizeof title, "Next-token calibration on %s (%zu %stokens): T* = %.3f",
                 base ? base + 1 : c->text_path, c->tokens_scored,
                 c->fit_until < 1.0 ? "held-out " : "", c->fit.temperature);
        ts_nll_curve curve = {c->ct, c->cn, NC, c->fit.temperature, c->ma.nll, c->mb.nll};
        ts_reliability_panel p[2] = {{tb, c->bins, c->n_bins, c->mb.ece, false},
                                     {ta, c->bins + c->n_bins, c->n_bins, c->ma.ece, true}};
        return ts_plot_reliability(path, p, 2, &curve, title_arg ? title_arg : title, err,
                                   err_size);
    }
    const cal_set *s = c->has_test ? &c->test : &c->val;
    const char *base = strrchr(s->path, '/');
    snprintf(title, sizeof title, "Reliability on %s (%s, %zu rows): temperature scaling T* = %.3f",
             c->has_test ? "TEST" : "VAL", base ? base + 1 : s->path, s->n, c->fit.temperature);
    ts_reliability_panel p[2] = {{tb, s->bins_before, c->n_bins, s->before.ece, false},
                                 {ta, s->bins_after, c->n_bins, s->after.ece, true}};
    return ts_plot_reliability(path, p, 2, NULL, title_arg ? title_arg : title, err, err_size);
}

const ts_analysis rq_calibrate = {
    .name = "calibrate",
    .route = NULL,
    .summary = "fit a calibration temperature (Guo et al. 2017): ECE, NLL",
    .needs = TS_NEEDS_NOTHING,
    .fields = fields,
    .n_fields = sizeof fields / sizeof fields[0],
    .req_size = sizeof(req_calibrate),
    .init = init,
    .needs_of = needs_of,
    .check = check,
    .run = run,
    .free_result = free_result,
    .json = json,
    .doc = doc,
    .plot = plot,
};
