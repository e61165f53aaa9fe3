/*
 * cmd_calibrate.c — `tempscale calibrate`: fit one temperature T* by NLL on
 * held-out data (Guo et al. 2017) and report calibration before / after.
 *
 * Two modes:
 *   classifier  --val FILE [--test FILE]: CSV (label,logit_0,...) or .npy
 *               logits with --val-labels / --test-labels (--logits/--labels are
 *               the same as --val/--val-labels);
 *   LM on text  --model M --text FILE: next-token logits of a GPT-2 model over
 *               a text (src/calib/calibrate_lm.c).
 * Input errors print one line naming the file and line / row and exit 2.
 */
#include "cli.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale calibrate --val FILE [--test FILE] [options]\n"
        "       tempscale calibrate --model M --text FILE [options]\n"
        "\n"
        "Temperature scaling (Guo et al., \"On Calibration of Modern Neural Networks\", 2017):\n"
        "fit one scalar T* > 0 that minimises the mean negative log-likelihood of\n"
        "softmax(logits / T) on held-out data. Dividing by T never changes the argmax, so\n"
        "accuracy is unchanged; only the confidences become honest. Reports NLL, accuracy,\n"
        "ECE (15 equal-width bins (lo, hi] on the max-softmax confidence, as gpleiss/\n"
        "temperature_scaling), MCE, adaptive ECE (equal-mass bins) and the Brier score,\n"
        "before (T = 1) and after (T = T*) on VAL and TEST. T* is fitted on VAL only.\n"
        "\n"
        "Classifier logits:\n"
        "  --val FILE           validation set: a CSV with header label,logit_0,...,logit_{K-1}\n"
        "                       (one row per example, integer label in [0, K)), or a .npy\n"
        "                       float32/float64 array [N, K] of logits (np.save)\n"
        "  --val-labels FILE    .npy integer labels [N] for a .npy --val\n"
        "  --logits, --labels   the same as --val, --val-labels\n"
        "  --test FILE          test set, same formats (metrics only, T* comes from VAL)\n"
        "  --test-labels FILE   .npy labels for a .npy --test\n"
        "\n"
        "Language model on text:\n"
        "  --model M            model directory or bundled name (default: tiny-shakespeare)\n"
        "  --text FILE          text to score; every token is predicted once, with as much\n"
        "                       left context as the window allows (HF's perplexity recipe)\n"
        "  --from F             start at this fraction of the file's bytes (default 0;\n"
        "                       0.9 = the last 10 %%, TinyShakespeare's held-out split)\n"
        "  --stride S           window stride in tokens (default n_positions / 2)\n"
        "  --max-tokens N       score at most N tokens (default: all)\n"
        "\n"
        "Output:\n"
        "  --bins N             bins for ECE / MCE / adaptive ECE (default 15)\n"
        "  --json               machine-readable result on stdout\n"
        "  --plot FILE          reliability diagrams before / after (.png, .svg or .pdf)\n"
        "  -h, --help           this help\n"
        "\n"
        "Probabilities are refused (pass log-probabilities or logits: np.log(p)).\n"
        "\n"
        "Examples:\n"
        "  tempscale calibrate --val val.csv --test test.csv --plot reliability.png\n"
        "  tempscale calibrate --logits val_logits.npy --labels val_labels.npy --json\n"
        "  tempscale calibrate --text tinyshakespeare.txt --from 0.9 --plot lm.png\n");
}

/* ---- loading ------------------------------------------------------------- */

typedef struct cal_set {
    const char *path;
    float *z;   /* [n][k] */
    int32_t *y; /* [n] */
    size_t n, k;
} cal_set;

static bool ends_with_npy(const char *p)
{
    size_t n = strlen(p);
    return n >= 4 && strcasecmp(p + n - 4, ".npy") == 0;
}

/* Load one set; prints the error and returns false. */
static bool load_set(const char *path, const char *labels_path, const char *opt, cal_set *s)
{
    char err[TS_ERR_SIZE] = "";
    memset(s, 0, sizeof *s);
    s->path = path;
    if (!ends_with_npy(path)) {
        if (labels_path) {
            ts_cli_error("--%s-labels is for .npy logits; %s is read as CSV with its labels in "
                         "the first column",
                         opt, path);
            return false;
        }
        if (ts_csv_read_logits(path, &s->z, &s->y, &s->n, &s->k, err, sizeof err) != TS_OK) {
            ts_cli_error("%s", err);
            return false;
        }
    } else {
        if (!labels_path) {
            ts_cli_error("--%s %s: .npy logits need their labels: --%s-labels LABELS.npy", opt,
                         path, opt);
            return false;
        }
        int32_t ndim;
        size_t shape[TS_NPY_MAX_DIM], ny;
        if (ts_npy_read_f32(path, &s->z, &ndim, shape, err, sizeof err) != TS_OK ||
            ts_npy_read_labels(labels_path, &s->y, &ny, err, sizeof err) != TS_OK) {
            ts_cli_error("%s", err);
            return false;
        }
        if (ndim != 2) {
            ts_cli_error("%s: logits have %d dimension%s, expected [N, K]", path, ndim,
                         ndim == 1 ? "" : "s");
            return false;
        }
        s->n = shape[0];
        s->k = shape[1];
        if (s->n == 0) {
            ts_cli_error("%s: no rows (shape (0, %zu))", path, s->k);
            return false;
        }
        if (s->k < 2) {
            ts_cli_error("%s: shape (%zu, %zu): K = %zu class%s, calibration needs K >= 2", path,
                         s->n, s->k, s->k, s->k == 1 ? "" : "es");
            return false;
        }
        if (ny != s->n) {
            ts_cli_error("%s has %zu labels but %s has %zu rows", labels_path, ny, path, s->n);
            return false;
        }
        for (size_t i = 0; i < s->n; i++) {
            if ((size_t)s->y[i] >= s->k) {
                ts_cli_error("%s: row %zu: label %d is out of range [0, %zu)", labels_path, i,
                             s->y[i], s->k);
                return false;
            }
            for (size_t j = 0; j < s->k; j++)
                if (!isfinite(s->z[i * s->k + j])) {
                    ts_cli_error("%s: row %zu, column %zu: logit %g is not finite", path, i, j,
                                 (double)s->z[i * s->k + j]);
                    return false;
                }
        }
    }
    if (ts_calib_looks_like_probabilities(s->z, s->n, s->k)) {
        ts_cli_error("%s: these look like probabilities (every row is non-negative and sums to "
                     "1); pass log-probabilities or logits (np.log(p))",
                     path);
        return false;
    }
    return true;
}

static void free_set(cal_set *s)
{
    free(s->z);
    free(s->y);
}

/* ---- output -------------------------------------------------------------- */

typedef struct set_result {
    ts_calib_metrics before, after;
    ts_calib_bin bins_before[TS_CALIB_MAX_BINS], bins_after[TS_CALIB_MAX_BINS];
} set_result;

static bool evaluate(const cal_set *s, double t, int32_t n_bins, set_result *r)
{
    char err[TS_ERR_SIZE] = "";
    if (ts_calib_metrics_bins(s->z, s->y, s->n, s->k, 1.0, n_bins, &r->before, r->bins_before,
                              err, sizeof err) != TS_OK ||
        ts_calib_metrics_bins(s->z, s->y, s->n, s->k, t, n_bins, &r->after, r->bins_after, err,
                              sizeof err) != TS_OK) {
        ts_cli_error("%s: %s", s->path, err[0] ? err : "metrics failed");
        return false;
    }
    /* Temperature scaling keeps the argmax: accuracy must not move. */
    TS_ASSERT(r->before.accuracy == r->after.accuracy);
    return true;
}

static void json_set(cJSON *root, const char *name, const set_result *r)
{
    cJSON *o = cJSON_AddObjectToObject(root, name);
    cJSON_AddNumberToObject(o, "nll_before", r->before.nll);
    cJSON_AddNumberToObject(o, "nll_after", r->after.nll);
    cJSON_AddNumberToObject(o, "ece_before", r->before.ece);
    cJSON_AddNumberToObject(o, "ece_after", r->after.ece);
    cJSON_AddNumberToObject(o, "mce_before", r->before.mce);
    cJSON_AddNumberToObject(o, "mce_after", r->after.mce);
    cJSON_AddNumberToObject(o, "ace_before", r->before.ace);
    cJSON_AddNumberToObject(o, "ace_after", r->after.ace);
    cJSON_AddNumberToObject(o, "brier_before", r->before.brier);
    cJSON_AddNumberToObject(o, "brier_after", r->after.brier);
    cJSON_AddNumberToObject(o, "accuracy", r->after.accuracy);
}

static void table_rows(ts_table *t, const set_result *v, const set_result *te)
{
    const char *names[6] = {"NLL (nats)", "accuracy", "ECE", "MCE", "adaptive ECE", "Brier"};
    for (int m = 0; m < 6; m++) {
        ts_table_row(t);
        ts_table_cell(t, "%s", names[m]);
        const set_result *rs[2] = {v, te};
        for (int s = 0; s < 2 && rs[s]; s++) {
            const ts_calib_metrics *b = &rs[s]->before, *a = &rs[s]->after;
            double vb[6] = {b->nll, b->accuracy, b->ece, b->mce, b->ace, b->brier};
            double va[6] = {a->nll, a->accuracy, a->ece, a->mce, a->ace, a->brier};
            bool pct = m >= 1 && m <= 4;
            if (pct) {
                ts_table_cell(t, "%.2f %%", 100 * vb[m]);
                ts_table_cell(t, "%.2f %%", 100 * va[m]);
            } else {
                ts_table_cell(t, "%.4f", vb[m]);
                ts_table_cell(t, "%.4f", va[m]);
            }
        }
    }
}

static void print_fit(const ts_calib_fit *fit)
{
    printf("T* = %.6f  (%d iterations, safeguarded Newton on 1/T, %s)\n", fit->temperature,
           fit->iterations, fit->converged ? "converged to 1e-10 relative" : "not converged");
    if (fit->at_bound < 0)
        printf("   T* hit the lower bound %g: NLL keeps falling as T -> 0 (the validation "
               "predictions are all right and separable)\n",
               TS_CALIB_T_MIN);
    else if (fit->at_bound > 0)
        printf("   T* hit the upper bound %g: NLL keeps falling as T -> inf (the labels "
               "disagree with the logits)\n",
               TS_CALIB_T_MAX);
    else if (fit->temperature > 1)
        printf("   T* > 1: the model was overconfident; dividing logits by %.3f softens it\n",
               fit->temperature);
    else if (fit->temperature < 1)
        printf("   T* < 1: the model was underconfident; dividing logits by %.3f sharpens it\n",
               fit->temperature);
}

static bool write_plot(const char *path, const cal_set *s, const set_result *r, double t,
                       int32_t n_bins, const char *label)
{
    char title[512], tb[64], ta[64];
    const char *base = strrchr(s->path, '/');
    snprintf(title, sizeof title, "Reliability on %s (%s, %zu rows): temperature scaling T* = %.3f",
             label, base ? base + 1 : s->path, s->n, t);
    snprintf(tb, sizeof tb, "before: T = 1");
    snprintf(ta, sizeof ta, "after: T* = %.3f", t);
    ts_reliability_panel p[2] = {
        {tb, r->bins_before, n_bins, r->before.ece, false},
        {ta, r->bins_after, n_bins, r->after.ece, true},
    };
    char err[TS_ERR_SIZE] = "";
    if (ts_plot_reliability(path, p, 2, NULL, title, err, sizeof err) != TS_OK) {
        ts_cli_error("%s", err);
        return false;
    }
    return true;
}

/* ---- the command --------------------------------------------------------- */

/* ---- language model on text --------------------------------------------- */

static void progress(size_t done, size_t total, bool tty)
{
    if (!tty) return;
    int width = 40, fill = total ? (int)((double)done / (double)total * width) : width;
    fprintf(stderr, "\r  scoring [%.*s%*s] %zu / %zu tokens", fill,
            "########################################", width - fill, "", done, total);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

static int calibrate_lm(const char *model_arg, const char *text_path, double from, long stride,
                        long max_tokens, int32_t n_bins, bool json, const char *plot)
{
    char err[TS_ERR_SIZE] = "";
    char *text = NULL;
    size_t len = 0;
    if (ts_read_file(text_path, &text, &len, err, sizeof err) != TS_OK)
        return ts_cli_error("%s", err);
    size_t start = (size_t)(from * (double)len);
    ts_model *model = ts_cli_load_model(model_arg);
    if (!model) {
        free(text);
        return TS_EXIT_USAGE;
    }
    int rc = TS_EXIT_FAIL;
    const ts_model_info *info = ts_model_get_info(model);
    const size_t L = (size_t)info->n_positions, V = (size_t)info->n_vocab;
    int32_t *ids = malloc((len - start + 1) * sizeof *ids);
    ts_context *ctx = NULL;
    ts_lm_calib *store = NULL;
    ts_calib_bin *bins = calloc(2 * (size_t)n_bins, sizeof *bins);
    size_t n_ids = 0;
    if (!ids || !bins) {
        ts_cli_error("out of memory");
        goto out;
    }
    if (ts_tokenizer_encode(ts_model_tokenizer(model), text + start, len - start, 0, ids,
                            len - start + 1, &n_ids) != TS_OK) {
        ts_cli_error("%s: could not tokenize", text_path);
        goto out;
    }
    if (n_ids < 2) {
        ts_cli_error("%s: %zu token%s from byte %zu on; need at least 2 to score one", text_path,
                     n_ids, n_ids == 1 ? "" : "s", start);
        rc = TS_EXIT_USAGE;
        goto out;
    }
    if (max_tokens > 0 && n_ids > (size_t)max_tokens + 1) n_ids = (size_t)max_tokens + 1;
    if (stride == 0) stride = (long)(L / 2 > 0 ? L / 2 : 1);
    if ((size_t)stride > L) {
        ts_cli_error("option --stride: %ld is more than the model's window of %zu tokens", stride, L);
        rc = TS_EXIT_USAGE;
        goto out;
    }
    ts_context_params cp = ts_context_default_params();
    cp.all_logits = true;
    if (ts_context_new(model, &cp, &ctx, err, sizeof err) != TS_OK ||
        ts_lm_calib_new(V, n_ids - 1, &store, err, sizeof err) != TS_OK) {
        ts_cli_error("%s", err);
        goto out;
    }
    /* HF's sliding-window perplexity: every token scored once, with as much left context
     * as the window allows; windows start every `stride` tokens. */
    bool tty = ts_cli_use_color(stderr) || isatty(fileno(stderr));
    size_t prev_end = 0;
    for (size_t begin = 0;; begin += (size_t)stride) {
        size_t end = begin + L < n_ids ? begin + L : n_ids;
        ts_context_truncate(ctx, 0);
        if (ts_model_eval(ctx, ids + begin, end - begin, err, sizeof err) != TS_OK) {
            ts_cli_error("%s", err);
            goto out;
        }
        size_t rows;
        const float *lg = ts_context_all_logits(ctx, &rows);
        TS_ASSERT(lg && rows == end - begin);
        for (size_t t = prev_end > begin + 1 ? prev_end : begin + 1; t < end; t++) {
            if (ts_lm_calib_add(store, lg + (t - begin - 1) * V, ids[t]) != TS_OK) {
                ts_cli_error("%s: the model produced a non-finite logit at token %zu", text_path, t);
                goto out;
            }
        }
        prev_end = end;
        progress(ts_lm_calib_count(store), n_ids - 1, tty);
        if (end == n_ids) break;
    }
    ts_calib_fit fit;
    ts_lm_calib_fit(store, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &fit);
    ts_calib_metrics mb, ma;
    double bound_b, bound_a;
    if (ts_lm_calib_metrics(store, 1.0, n_bins, &mb, bins, &bound_b, err, sizeof err) != TS_OK ||
        ts_lm_calib_metrics(store, fit.temperature, n_bins, &ma, bins + n_bins, &bound_a, err,
                            sizeof err) != TS_OK) {
        ts_cli_error("%s", err);
        goto out;
    }
    TS_ASSERT(mb.accuracy == ma.accuracy);
    size_t n_tok = ts_lm_calib_count(store);
    if (plot) {
        enum { NC = 61 };
        double ct[NC], cn[NC];
        double lo = fmin(0.5, fit.temperature / 1.5), hi = fmax(2.0, fit.temperature * 1.5);
        for (int i = 0; i < NC; i++) {
            ct[i] = lo * pow(hi / lo, (double)i / (NC - 1));
            cn[i] = ts_lm_calib_nll(store, ct[i]);
        }
        ts_nll_curve curve = {ct, cn, NC, fit.temperature, fit.nll_after, fit.nll_before};
        char title[512], tb[64], ta[64];
        const char *base = strrchr(text_path, '/');
        snprintf(title, sizeof title, "Next-token calibration on %s (%zu tokens%s): T* = %.3f",
                 base ? base + 1 : text_path, n_tok, from > 0 ? ", held-out tail" : "",
                 fit.temperature);
        snprintf(tb, sizeof tb, "before: T = 1");
        snprintf(ta, sizeof ta, "after: T* = %.3f", fit.temperature);
        ts_reliability_panel p[2] = {{tb, bins, n_bins, mb.ece, false},
                                     {ta, bins + n_bins, n_bins, ma.ece, true}};
        if (ts_plot_reliability(plot, p, 2, &curve, title, err, sizeof err) != TS_OK) {
            ts_cli_error("%s", err);
            rc = TS_EXIT_USAGE;
            goto out;
        }
    }
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "temperature", fit.temperature);
        cJSON_AddNumberToObject(root, "iterations", fit.iterations);
        cJSON_AddNumberToObject(root, "tokens", (double)n_tok);
        cJSON_AddNumberToObject(root, "nll_before", mb.nll);
        cJSON_AddNumberToObject(root, "nll_after", ma.nll);
        cJSON_AddNumberToObject(root, "ppl_before", exp(mb.nll));
        cJSON_AddNumberToObject(root, "ppl_after", exp(ma.nll));
        cJSON_AddNumberToObject(root, "ece_before", mb.ece);
        cJSON_AddNumberToObject(root, "ece_after", ma.ece);
        cJSON_AddNumberToObject(root, "mce_before", mb.mce);
        cJSON_AddNumberToObject(root, "mce_after", ma.mce);
        cJSON_AddNumberToObject(root, "ace_before", mb.ace);
        cJSON_AddNumberToObject(root, "ace_after", ma.ace);
        cJSON_AddNumberToObject(root, "accuracy", ma.accuracy);
        cJSON_AddNumberToObject(root, "nll_error_bound", fmax(bound_b, bound_a));
        char *js = cJSON_Print(root);
        if (js) puts(js);
        free(js);
        cJSON_Delete(root);
    } else {
        printf("TEXT: %s from byte %zu (%zu bytes): %zu tokens scored, window %zu, stride %ld\n",
               text_path, start, len - start, n_tok, L, stride);
        print_fit(&fit);
        printf("\n");
        ts_table *tab = ts_table_new("next-token calibration");
        ts_table_column(tab, "metric", TS_ALIGN_LEFT);
        ts_table_column(tab, "T = 1", TS_ALIGN_RIGHT);
        int c1 = ts_table_column(tab, "T*", TS_ALIGN_RIGHT);
        ts_table_emphasize_column(tab, c1);
        ts_table_row(tab);
        ts_table_cell(tab, "NLL (nats/token)");
        ts_table_cell(tab, "%.4f", mb.nll);
        ts_table_cell(tab, "%.4f", ma.nll);
        ts_table_row(tab);
        ts_table_cell(tab, "perplexity");
        ts_table_cell(tab, "%.3f", exp(mb.nll));
        ts_table_cell(tab, "%.3f", exp(ma.nll));
        const char *names[4] = {"top-1 accuracy", "top-1 ECE", "top-1 MCE", "top-1 adaptive ECE"};
        double vb[4] = {mb.accuracy, mb.ece, mb.mce, mb.ace}, va[4] = {ma.accuracy, ma.ece, ma.mce, ma.ace};
        for (int i = 0; i < 4; i++) {
            ts_table_row(tab);
            ts_table_cell(tab, "%s", names[i]);
            ts_table_cell(tab, "%.2f %%", 100 * vb[i]);
            ts_table_cell(tab, "%.2f %%", 100 * va[i]);
        }
        ts_table_print(tab, stdout);
        ts_table_free(tab);
        printf("\nNLL gain %.4f nats/token (%.2f %%). NLL from the compact store: exact head, "
               "histogram tail; underestimate <= %.1e nats/token.\n",
               mb.nll - ma.nll, 100 * (mb.nll - ma.nll) / mb.nll, fmax(bound_b, bound_a));
        if (plot) printf("NLL(T) and reliability diagrams written to %s\n", plot);
    }
    rc = TS_EXIT_OK;
out:
    ts_lm_calib_free(store);
    ts_context_free(ctx);
    ts_model_free(model);
    free(bins);
    free(ids);
    free(text);
    return rc;
}

int ts_cmd_calibrate(int argc, char **argv)
{
    enum { O_VAL = 1000, O_VAL_LABELS, O_TEST, O_TEST_LABELS, O_BINS, O_JSON, O_PLOT, O_MODEL,
           O_TEXT, O_STRIDE, O_MAX_TOKENS, O_FROM };
    static const struct option opts[] = {
        {"val", required_argument, NULL, O_VAL},
        {"logits", required_argument, NULL, O_VAL},
        {"val-labels", required_argument, NULL, O_VAL_LABELS},
        {"labels", required_argument, NULL, O_VAL_LABELS},
        {"test", required_argument, NULL, O_TEST},
        {"test-labels", required_argument, NULL, O_TEST_LABELS},
        {"bins", required_argument, NULL, O_BINS},
        {"json", no_argument, NULL, O_JSON},
        {"plot", required_argument, NULL, O_PLOT},
        {"model", required_argument, NULL, O_MODEL},
        {"text", required_argument, NULL, O_TEXT},
        {"stride", required_argument, NULL, O_STRIDE},
        {"max-tokens", required_argument, NULL, O_MAX_TOKENS},
        {"from", required_argument, NULL, O_FROM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *val = NULL, *val_labels = NULL, *test = NULL, *test_labels = NULL;
    const char *plot = NULL, *model = NULL, *text = NULL;
    long bins = 15, stride = 0, max_tokens = 0;
    double from = 0;
    bool json = false;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case O_VAL: val = optarg; break;
        case O_VAL_LABELS: val_labels = optarg; break;
        case O_TEST: test = optarg; break;
        case O_TEST_LABELS: test_labels = optarg; break;
        case O_BINS:
            if (!ts_cli_parse_long("bins", optarg, 1, TS_CALIB_MAX_BINS, &bins)) return TS_EXIT_USAGE;
            break;
        case O_JSON: json = true; break;
        case O_PLOT: plot = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_TEXT: text = optarg; break;
        case O_STRIDE:
            if (!ts_cli_parse_long("stride", optarg, 1, 1 << 20, &stride)) return TS_EXIT_USAGE;
            break;
        case O_MAX_TOKENS:
            if (!ts_cli_parse_long("max-tokens", optarg, 2, 1L << 30, &max_tokens))
                return TS_EXIT_USAGE;
            break;
        case O_FROM:
            if (!ts_cli_parse_double("from", optarg, &from)) return TS_EXIT_USAGE;
            if (!(from >= 0 && from < 1)) return ts_cli_error("option --from: %g is not in [0, 1)", from);
            break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return ts_cli_bad_option("calibrate", argv);
        }
    }
    if (optind < argc)
        return ts_cli_error("calibrate: unexpected argument '%s' (see 'tempscale help calibrate')",
                            argv[optind]);
    if (plot && !ts_cli_check_output("plot", plot, true)) return TS_EXIT_USAGE;
    if (text || model) {
        if (val || test)
            return ts_cli_error("--text/--model (language model) and --val/--test (classifier "
                                "logits) are separate modes; pick one");
        if (!text) return ts_cli_error("--model needs --text FILE to score");
        return calibrate_lm(model, text, from, stride, max_tokens, (int32_t)bins, json,
                                   plot);
    }
    if (!val)
        return ts_cli_error("nothing to calibrate: pass --val FILE (classifier logits) or --text "
                            "FILE (language model); see 'tempscale help calibrate'");
    if (test_labels && !test) return ts_cli_error("--test-labels needs --test");

    cal_set v, t = {0};
    int rc = TS_EXIT_USAGE;
    if (!load_set(val, val_labels, "val", &v)) {
        free_set(&v);
        return TS_EXIT_USAGE;
    }
    set_result *rv = calloc(1, sizeof *rv), *rt = NULL;
    if (!rv) {
        free_set(&v);
        return ts_cli_error("out of memory");
    }
    if (test) {
        if (!load_set(test, test_labels, "test", &t)) goto out;
        if (t.k != v.k) {
            ts_cli_error("%s has %zu classes but %s has %zu", t.path, t.k, v.path, v.k);
            goto out;
        }
        rt = calloc(1, sizeof *rt);
        if (!rt) {
            ts_cli_error("out of memory");
            goto out;
        }
    }
    char err[TS_ERR_SIZE] = "";
    ts_calib_fit fit;
    if (ts_calib_fit_temperature(v.z, v.y, v.n, v.k, &fit, err, sizeof err) != TS_OK) {
        ts_cli_error("%s: %s", v.path, err);
        goto out;
    }
    rc = TS_EXIT_FAIL;
    if (!evaluate(&v, fit.temperature, (int32_t)bins, rv)) goto out;
    if (rt && !evaluate(&t, fit.temperature, (int32_t)bins, rt)) goto out;
    if (fit.at_bound)
        ts_cli_warn("T* = %g is at the edge of the search range [%g, %g]: NLL is monotone on "
                    "this data",
                    fit.temperature, TS_CALIB_T_MIN, TS_CALIB_T_MAX);
    rc = TS_EXIT_USAGE; /* a bad --plot path is the user's to fix */
    if (plot && !write_plot(plot, rt ? &t : &v, rt ? rt : rv, fit.temperature, (int32_t)bins,
                            rt ? "TEST" : "VAL"))
        goto out;
    rc = TS_EXIT_FAIL;

    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "temperature", fit.temperature);
        cJSON_AddNumberToObject(root, "iterations", fit.iterations);
        json_set(root, "val", rv);
        if (rt) json_set(root, "test", rt);
        char *s = cJSON_Print(root);
        if (s) puts(s);
        free(s);
        cJSON_Delete(root);
        if (!s) {
            ts_cli_error("out of memory");
            goto out;
        }
    } else {
        printf("VAL:  %s  (%zu rows, %zu classes)\n", v.path, v.n, v.k);
        if (rt) printf("TEST: %s  (%zu rows)\n", t.path, t.n);
        print_fit(&fit);
        printf("\n");
        char title[64];
        snprintf(title, sizeof title, "calibration, %ld bins", bins);
        ts_table *tab = ts_table_new(title);
        ts_table_column(tab, "metric", TS_ALIGN_LEFT);
        ts_table_column(tab, "VAL T=1", TS_ALIGN_RIGHT);
        int c1 = ts_table_column(tab, "VAL T*", TS_ALIGN_RIGHT);
        ts_table_emphasize_column(tab, c1);
        if (rt) {
            ts_table_column(tab, "TEST T=1", TS_ALIGN_RIGHT);
            int c2 = ts_table_column(tab, "TEST T*", TS_ALIGN_RIGHT);
            ts_table_emphasize_column(tab, c2);
        }
        table_rows(tab, rv, rt);
        bool ok = ts_table_print(tab, stdout);
        ts_table_free(tab);
        if (!ok) {
            ts_cli_error("could not print the table");
            goto out;
        }
        printf("\nAccuracy does not change: dividing logits by T > 0 keeps their order.\n");
        if (plot) printf("Reliability diagrams written to %s\n", plot);
    }
    rc = TS_EXIT_OK;
out:
    free(rv);
    free(rt);
    free_set(&v);
    free_set(&t);
    return rc;
}
