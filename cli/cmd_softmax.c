/*
 * cmd_softmax.c — `tempscale softmax`: the temperature softmax of a few
 * logits as a table (one row per token, one column per temperature, entropy
 * rows), as JSON, and as a figure (--plot).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const default_logits = "2,1,0.5,0.2,0.1";
static const char *const default_temps = "0.1,0.5,1,2,5";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tempscale softmax [--logits LIST] [--temperatures LIST] [options]\n"
            "\n"
            "Shows what temperature does to a next-token distribution. A model outputs\n"
            "one logit z_i per token; sampling at temperature T uses\n"
            "\n"
            "    p_i = exp(z_i / T) / sum_j exp(z_j / T)      (softmax of z / T)\n"
            "\n"
            "T = 1 leaves the model's distribution unchanged, T < 1 sharpens it towards\n"
            "the most likely token, T > 1 flattens it towards uniform. The limits are\n"
            "defined: T = 0 puts all the mass on the argmax (greedy decoding; the first\n"
            "one on ties), T = inf spreads it evenly. A logit of -inf masks a token\n"
            "(probability 0 at every T). Entropy H = -sum p log p measures the spread:\n"
            "in nats (natural log) and bits (log2); exp(H), the perplexity, is the\n"
            "number of equally likely tokens that would be as uncertain.\n"
            "\n"
            "Options:\n"
            "  --logits LIST        comma-separated logits, -inf allowed\n"
            "                       (default %s, the seed's toy values)\n"
            "  --temperatures LIST  comma-separated T >= 0, 'inf' allowed\n"
            "                       (default %s)\n"
            "  --labels LIST        comma-separated token names, one per logit\n"
            "                       (default: token 0, token 1, ...)\n"
            "  --json               print {\"logits\":[...],\"results\":[{\"temperature\":T,\n"
            "                       \"probs\":[...],\"entropy_nats\":H,\"entropy_bits\":B},...]};\n"
            "                       JSON has no infinity: T = inf is the string \"inf\" and a\n"
            "                       -inf logit the string \"-inf\"\n"
            "  --plot FILE          also draw one bar panel per temperature to FILE\n"
            "                       (.png, .svg or .pdf; the T = 1 panel is highlighted)\n"
            "  --title TEXT         title of the figure\n"
            "  -h, --help           this help\n"
            "\n"
            "Logits are used as float32, as a model emits them; sums are in double.\n"
            "\n"
            "Examples:\n"
            "  tempscale softmax\n"
            "  tempscale softmax --logits 3,1,-inf,0 --labels ' the',' a',' cat',' dog' \\\n"
            "                    --temperatures 0,0.7,1,1.5,inf --plot softmax.png\n"
            "  tempscale softmax --json | python3 -m json.tool\n",
            default_logits, default_temps);
}

/*
 * A label as shown: unchanged unless it has leading / trailing spaces or
 * control characters (a token piece like " the"), then repr-quoted ' the'.
 * Returns a malloc'd string or NULL.
 */
static char *display_label(const char *s)
{
    size_t len = strlen(s);
    bool quote = len == 0 || s[0] == ' ' || s[len - 1] == ' ';
    for (size_t i = 0; i < len; i++)
        quote |= (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
    if (!quote) return strdup(s);
    size_t cap = 4 * len + 3;
    char *out = malloc(cap);
    return out ? ts_cli_token_printable(s, len, TS_TOKEN_QUOTE, out, cap) : NULL;
}

/* Split a comma-separated list of labels (empty items are kept as ""). */
static char **split_labels(const char *s, size_t *n)
{
    size_t count = 1;
    for (const char *p = s; *p; p++)
        count += (*p == ',');
    char **out = calloc(count, sizeof *out);
    if (!out) return NULL;
    const char *start = s;
    for (size_t i = 0; i < count; i++) {
        const char *end = strchr(start, ',');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        char *raw = strndup(start, len);
        out[i] = raw ? display_label(raw) : NULL;
        free(raw);
        if (!out[i]) {
            for (size_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
        start = end ? end + 1 : start + len;
    }
    *n = count;
    return out;
}

static void format_t(char *buf, size_t n, double t)
{
    if (isinf(t))
        snprintf(buf, n, "T = inf");
    else
        snprintf(buf, n, "T = %g", t);
}

/* Probabilities: fixed 4 decimals, tiny non-zero values in scientific form. */
static void format_p(char *buf, size_t n, double p)
{
    if (p == 0.0)
        snprintf(buf, n, "0");
    else if (p >= 5e-5)
        snprintf(buf, n, "%.4f", p);
    else
        snprintf(buf, n, "%.1e", p);
}

static int print_json(const double *z_typed, size_t n, const double *temps, size_t nt,
                      const double *probs, const double *ent)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *jl = cJSON_AddArrayToObject(root, "logits");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(jl, ts_cli_json_number(z_typed[i]));
    cJSON *jr = cJSON_AddArrayToObject(root, "results");
    for (size_t k = 0; k < nt; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "temperature", ts_cli_json_number(temps[k]));
        cJSON *jp = cJSON_AddArrayToObject(o, "probs");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(jp, cJSON_CreateNumber(probs[k * n + i]));
        cJSON_AddNumberToObject(o, "entropy_nats", ent[k]);
        cJSON_AddNumberToObject(o, "entropy_bits", ent[k] / M_LN2);
        cJSON_AddItemToArray(jr, o);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) return ts_cli_error("out of memory");
    puts(s);
    cJSON_free(s);
    return TS_EXIT_OK;
}

static int print_table(const float *z, size_t n, char **labels, const double *temps, size_t nt,
                       const double *probs, const double *ent)
{
    char title[96], buf[64];
    snprintf(title, sizeof title, "softmax(z / T) of %zu logits", n);
    ts_table *t = ts_table_new(title);
    if (!t) return ts_cli_error("out of memory");
    ts_table_column(t, "token", TS_ALIGN_LEFT);
    ts_table_column(t, "logit", TS_ALIGN_RIGHT);
    for (size_t k = 0; k < nt; k++) {
        format_t(buf, sizeof buf, temps[k]);
        int col = ts_table_column(t, buf, TS_ALIGN_RIGHT);
        if (temps[k] == 1.0) ts_table_emphasize_column(t, col);
    }
    for (size_t i = 0; i < n; i++) {
        ts_table_row(t);
        if (labels)
            ts_table_cell(t, "%s", labels[i]);
        else
            ts_table_cell(t, "token %zu", i);
        ts_table_cell(t, "%g", (double)z[i]);
        for (size_t k = 0; k < nt; k++) {
            format_p(buf, sizeof buf, probs[k * n + i]);
            ts_table_cell(t, "%s", buf);
        }
    }
    static const char *const rows[3] = {"entropy (nats)", "entropy (bits)", "perplexity exp(H)"};
    for (int r = 0; r < 3; r++) {
        if (r == 0) ts_table_rule(t);
        ts_table_row(t);
        ts_table_cell(t, "%s", rows[r]);
        ts_table_cell(t, "%s", "");
        for (size_t k = 0; k < nt; k++) {
            double v = r == 0 ? ent[k] : r == 1 ? ent[k] / M_LN2 : exp(ent[k]);
            ts_table_cell(t, "%.4f", v);
        }
    }
    bool ok = ts_table_print(t, stdout);
    ts_table_free(t);
    if (!ok) return ts_cli_error("cannot print the table");
    if (isatty(fileno(stdout)))
        printf("T < 1 sharpens, T > 1 flattens; T = 0 is greedy (argmax), T = inf uniform.\n");
    return TS_EXIT_OK;
}

int ts_cmd_softmax(int argc, char **argv)
{
    static const struct option opts[] = {
        {"logits", required_argument, NULL, 'l'}, {"temperatures", required_argument, NULL, 't'},
        {"labels", required_argument, NULL, 'L'}, {"json", no_argument, NULL, 'j'},
        {"plot", required_argument, NULL, 'p'},   {"title", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *logits_arg = default_logits, *temps_arg = default_temps;
    const char *labels_arg = NULL, *plot_path = NULL, *title = NULL;
    bool json = false;
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1;) {
        switch (c) {
        case 'l':
            logits_arg = optarg;
            break;
        case 't':
            temps_arg = optarg;
            break;
        case 'L':
            labels_arg = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'p':
            plot_path = optarg;
            break;
        case 'T':
            title = optarg;
            break;
        case 'h':
            usage(stdout);
            return TS_EXIT_OK;
        default:
            return ts_cli_bad_option("softmax", argv);
        }
    }
    if (optind < argc)
        return ts_cli_error("unexpected argument '%s' (see 'tempscale help softmax')",
                            argv[optind]);

    int rc = TS_EXIT_USAGE;
    double *zd = NULL, *temps = NULL, *probs = NULL, *ent = NULL;
    float *z = NULL;
    char **labels = NULL;
    size_t n = 0, nt = 0, n_labels = 0;
    if (!ts_cli_parse_double_list("logits", logits_arg, &zd, &n)) goto done;
    if (!ts_cli_parse_double_list("temperatures", temps_arg, &temps, &nt)) goto done;
    z = malloc(n * sizeof *z);
    probs = malloc(n * nt * sizeof *probs);
    ent = malloc(nt * sizeof *ent);
    if (!z || !probs || !ent) {
        rc = ts_cli_error("out of memory");
        goto done;
    }
    size_t n_finite = 0;
    for (size_t i = 0; i < n; i++) {
        if (zd[i] == INFINITY) {
            ts_cli_error("option --logits: item %zu is +inf; logits must be finite "
                         "(-inf masks a token)",
                         i + 1);
            goto done;
        }
        if (isfinite(zd[i]) && fabs(zd[i]) > FLT_MAX) {
            ts_cli_error("option --logits: item %zu (%g) does not fit a float32", i + 1, zd[i]);
            goto done;
        }
        z[i] = (float)zd[i];
        n_finite += isfinite(zd[i]) != 0;
    }
    if (n_finite == 0) {
        ts_cli_error("option --logits: every logit is -inf; at least one must be finite");
        goto done;
    }
    for (size_t k = 0; k < nt; k++) {
        if (temps[k] < 0) {
            ts_cli_error("option --temperatures: %g is negative; a temperature must be >= 0 "
                         "(0 = argmax, inf = uniform)",
                         temps[k]);
            goto done;
        }
    }
    if (labels_arg) {
        labels = split_labels(labels_arg, &n_labels);
        if (!labels) {
            rc = ts_cli_error("out of memory");
            goto done;
        }
        if (n_labels != n) {
            ts_cli_error("option --labels: %zu labels for %zu logits; give one per logit", n_labels,
                         n);
            goto done;
        }
    }
    for (size_t k = 0; k < nt; k++) {
        if (ts_softmax(z, n, temps[k], probs + k * n) != TS_OK) {
            /* validated above: only a bug gets here */
            rc = ts_cli_error("softmax failed at T = %g", temps[k]);
            goto done;
        }
        ent[k] = ts_entropy_nats(probs + k * n, n);
    }
    if (plot_path) {
        char err[TS_ERR_SIZE];
        if (ts_plot_softmax_panels(plot_path, z, n, (const char *const *)labels, temps, nt, title,
                                   err, sizeof err) != TS_OK) {
            ts_cli_error("--plot: %s", err);
            goto done;
        }
    }
    rc = json ? print_json(zd, n, temps, nt, probs, ent)
              : print_table(z, n, labels, temps, nt, probs, ent);
    if (rc == TS_EXIT_OK && plot_path) fprintf(stderr, "tempscale: wrote %s\n", plot_path);
done:
    if (labels)
        for (size_t i = 0; i < n_labels; i++)
            free(labels[i]);
    free(labels);
    free(zd);
    free(z);
    free(temps);
    free(probs);
    free(ent);
    return rc;
}
