/*
 * cmd_sweep.c — `tempscale sweep`: one prompt, ONE forward pass, many
 * temperatures. The notebook's "Temperature Scaling: Full Spectrum
 * Comparison" table (rank x temperature), per temperature the
 * full-vocabulary entropy, exp(entropy) and top-1 probability, the
 * temperature that reaches a target entropy, and the 2-panel figure.
 * Temperature only rescales the logits, so every column comes from the same
 * logit vector: the command asserts that exactly one eval ran.
 */
#include "walk.h"
#include "internal.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TEMPS "0.01,0.1,0.5,1,2,5,100"
#define CURVE_POINTS 97

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale sweep [--model DIR] [--prompt TEXT | --ids 1,2,3] [--k 10]\n"
        "                       [--temperatures LIST] [--target-entropy H] [--plot FILE]\n"
        "                       [--full-prob] [--json]\n"
        "\n"
        "Show how temperature reshapes one next-token distribution: the model runs once and\n"
        "softmax(logits / T) is evaluated at every T. Low T piles the mass onto the top\n"
        "token (entropy -> 0), T = 1 is the model as trained, high T flattens everything\n"
        "towards uniform (entropy -> log V). exp(entropy) reads as 'how many equally likely\n"
        "tokens' the distribution is worth.\n"
        "\n"
        "Options:\n"
        "  --model DIR          checkpoint directory (default: bundled tiny-shakespeare)\n"
        "  --prompt TEXT        text to condition on (default: \"" WALK_DEFAULT_PROMPT "\")\n"
        "  --ids LIST           comma-separated token ids instead of --prompt\n"
        "  --k N                rows of the table: the N most likely tokens (default 10)\n"
        "  --temperatures LIST  comma-separated, >= 0, 'inf' allowed\n"
        "                       (default " DEFAULT_TEMPS ")\n"
        "  --target-entropy H   also find the T whose entropy is H nats (added as a column)\n"
        "  --plot FILE          2-panel figure (.png, .svg or .pdf): top-k probability vs rank\n"
        "                       per T, and entropy vs T on a log axis with T = 1 marked\n"
        "  --full-prob          table cells: probability over the full vocabulary instead of\n"
        "                       renormalised within the top k (the notebook's choice)\n"
        "  --json               {\"results\":[{\"temperature\",\"entropy_nats\",\"top\":[{\"rank\",\n"
        "                       \"id\",\"token\",\"logit\",\"prob\",\"prob_topk\"}]}]}\n"
        "\n"
        "Example:\n"
        "  tempscale sweep --prompt \"In the future, AI will\" --plot sweep.png --target-entropy 2\n");
}

int walk_sweep(walk_model *m, const int32_t *ids, size_t n_ids, const walk_sweep_opts *o,
               walk_out *out)
{
    char err[TS_ERR_SIZE] = "";
    size_t V = m->n_vocab, k = o->k;
    if (walk_check_k(m, k) != TS_EXIT_OK) return TS_EXIT_USAGE;
    size_t evals_before = ts_generator_n_evals(m->gen);
    ts_status st = ts_generator_set_prompt(m->gen, ids, n_ids, err, sizeof err);
    if (st != TS_OK) return ts_cli_error("%s", err);
    /* The whole sweep below works on this one logit vector. */
    TS_ASSERT(ts_generator_n_evals(m->gen) == evals_before + 1);
    const float *logits = ts_generator_prompt_logits(m->gen);

    size_t nT = o->n_temps + (o->have_target ? 1 : 0);
    double *temps = malloc(nT * sizeof *temps);
    int32_t *top = malloc(k * sizeof *top);
    double *prob = malloc(nT * k * sizeof *prob), *prob_topk = malloc(nT * k * sizeof *prob_topk);
    double *entropy = malloc(nT * sizeof *entropy);
    int rc = TS_EXIT_OK;
    if (!temps || !top || !prob || !prob_topk || !entropy) {
        rc = ts_cli_error("out of memory");
        goto done;
    }
    memcpy(temps, o->temperatures, o->n_temps * sizeof *temps);
    double target_t = NAN;
    if (o->have_target) {
        st = ts_temperature_for_entropy(logits, V, o->target_entropy, &target_t);
        if (st != TS_OK) {
            size_t n_finite = 0;
            for (size_t i = 0; i < V; i++) n_finite += !isinf(logits[i]);
            rc = ts_cli_error("option --target-entropy: %g nats is outside [0, log %zu = %.4f) "
                              "(the entropy a temperature can reach)",
                              o->target_entropy, n_finite, log((double)n_finite));
            goto done;
        }
        temps[o->n_temps] = target_t;
    }
    st = ts_sweep(logits, V, temps, nT, k, top, prob, prob_topk, entropy);
    if (st != TS_OK) {
        rc = ts_cli_error("sweep: %s", ts_status_str(st));
        goto done;
    }
    if (o->plot) {
        /* The smooth entropy curve: log-spaced T over the swept range, plus T = inf. */
        double tmin = INFINITY, tmax = 0;
        for (size_t t = 0; t < nT; t++)
            if (temps[t] > 0 && isfinite(temps[t])) {
                tmin = fmin(tmin, temps[t]);
                tmax = fmax(tmax, temps[t]);
            }
        if (!(tmax > 0)) {
            tmin = 0.01;
            tmax = 100;
        }
        if (tmin > 0.5) tmin = 0.5;
        if (tmax < 2) tmax = 2;
        double ct[CURVE_POINTS + 1], ch[CURVE_POINTS + 1];
        for (size_t i = 0; i < CURVE_POINTS; i++) {
            ct[i] = exp(log(tmin) + (log(tmax) - log(tmin)) * (double)i / (CURVE_POINTS - 1));
            if (ts_entropy_at_temperature(logits, V, ct[i], &ch[i]) != TS_OK) ch[i] = NAN;
        }
        ct[CURVE_POINTS] = INFINITY;
        if (ts_entropy_at_temperature(logits, V, INFINITY, &ch[CURVE_POINTS]) != TS_OK)
            ch[CURVE_POINTS] = NAN;
        st = ts_plot_sweep(o->plot, temps, nT, k, prob_topk, entropy, ct, ch, CURVE_POINTS + 1,
                           NULL, err, sizeof err);
        if (st != TS_OK) {
            rc = ts_cli_error("%s", err);
            goto done;
        }
    }
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, "ids", walk_json_ids(ids, n_ids));
        cJSON_AddNumberToObject(root, "vocab_size", (double)V);
        cJSON_AddNumberToObject(root, "forward_passes",
                                (double)(ts_generator_n_evals(m->gen) - evals_before));
        if (o->have_target) {
            cJSON *tg = cJSON_AddObjectToObject(root, "target");
            cJSON_AddNumberToObject(tg, "entropy_nats", o->target_entropy);
            cJSON_AddNumberToObject(tg, "temperature", target_t);
        }
        cJSON *res = cJSON_AddArrayToObject(root, "results");
        for (size_t t = 0; t < nT; t++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddItemToObject(r, "temperature", ts_cli_json_number(temps[t]));
            cJSON_AddNumberToObject(r, "entropy_nats", entropy[t]);
            cJSON_AddNumberToObject(r, "perplexity", exp(entropy[t]));
            cJSON_AddNumberToObject(r, "top1_prob", prob[t * k]);
            cJSON_AddItemToObject(r, "top", walk_json_topk(m->tok, logits, top, prob + t * k,
                                                           prob_topk + t * k, k));
            cJSON_AddItemToArray(res, r);
        }
        walk_json_print(root);
        goto done;
    }
    {
        /* Table 1: rank x temperature. */
        const char **headers = calloc(nT + 2, sizeof *headers);
        char (*hbuf)[48] = calloc(nT, sizeof *hbuf);
        if (!headers || !hbuf) {
            free(headers);
            free(hbuf);
            rc = ts_cli_error("out of memory");
            goto done;
        }
        headers[0] = "rank";
        headers[1] = "token";
        for (size_t t = 0; t < nT; t++) {
            if (o->have_target && t == o->n_temps)
                snprintf(hbuf[t], sizeof hbuf[t], "T=%.3g (H=%g)", temps[t], o->target_entropy);
            else
                snprintf(hbuf[t], sizeof hbuf[t], "T=%g", temps[t]);
            headers[t + 2] = hbuf[t];
        }
        walk_table *tab = walk_table_new(nT + 2, headers);
        free(headers);
        free(hbuf);
        if (!tab) {
            rc = ts_cli_error("out of memory");
            goto done;
        }
        walk_table_title(tab, o->full_prob ? "Temperature Scaling: Full Spectrum Comparison "
                                             "(probability over the full vocabulary)"
                                           : "Temperature Scaling: Full Spectrum Comparison "
                                             "(probability renormalised within the top k)");
        walk_table_right(tab, 0);
        for (size_t t = 0; t < nT; t++) {
            walk_table_right(tab, t + 2);
            if (temps[t] == 1.0) walk_table_emphasise_col(tab, t + 2);
        }
        const double *cells = o->full_prob ? prob : prob_topk;
        for (size_t i = 0; i < k; i++) {
            size_t row = walk_table_token_row(tab, WALK_PLAIN, i + 1, m->tok, top[i]);
            for (size_t t = 0; t < nT; t++) {
                double p = cells[t * k + i];
                if (p != 0.0 && p < 1e-4)
                    walk_table_set(tab, row, t + 2, "%.1e", p);
                else
                    walk_table_set(tab, row, t + 2, "%.4f", p);
            }
        }
        walk_table_emit(out, tab);
        walk_table_free(tab);

        /* Table 2: what each temperature does to the whole distribution. */
        static const char *const h2[] = {"T", "entropy (nats)", "exp(entropy)", "top-1 prob",
                                         "top-k mass"};
        walk_table *t2 = walk_table_new(5, h2);
        if (!t2) {
            rc = ts_cli_error("out of memory");
            goto done;
        }
        walk_table_title(t2, "Per temperature, over the full vocabulary");
        for (size_t c = 0; c < 5; c++) walk_table_right(t2, c);
        for (size_t t = 0; t < nT; t++) {
            double mass = 0;
            for (size_t i = 0; i < k; i++) mass += prob[t * k + i];
            size_t row = walk_table_row(t2, temps[t] == 1.0 ? WALK_ACCENT : WALK_PLAIN);
            walk_table_set(t2, row, 0, "%g", temps[t]);
            walk_table_set(t2, row, 1, "%.4f", entropy[t]);
            walk_table_set(t2, row, 2, "%.1f", exp(entropy[t]));
            walk_table_set(t2, row, 3, "%.4f", prob[t * k]);
            walk_table_set(t2, row, 4, "%.4f", mass);
        }
        walk_table_emit(out, t2);
        walk_table_free(t2);
        walk_printf(out, WALK_DIM, "%zu temperatures from %zu forward pass. Maximum entropy "
                    "(uniform over %zu tokens): log V = %.4f nats.\n",
                    nT, ts_generator_n_evals(m->gen) - evals_before, V, log((double)V));
        if (o->have_target)
            walk_printf(out, WALK_PLAIN, "Entropy %g nats is reached at T = %.6g.\n",
                        o->target_entropy, target_t);
    }
done:
    free(temps);
    free(top);
    free(prob);
    free(prob_topk);
    free(entropy);
    return rc;
}

int ts_cmd_sweep(int argc, char **argv)
{
    static const struct option opts[] = {
        WALK_PROMPT_OPTIONS,                       {"k", required_argument, NULL, 'k'},
        {"temperatures", required_argument, NULL, 'T'},
        {"target-entropy", required_argument, NULL, 'e'},
        {"plot", required_argument, NULL, 'o'},    {"full-prob", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    walk_prompt_args pa = {0};
    const char *temps_arg = DEFAULT_TEMPS;
    walk_sweep_opts o = {.k = 10};
    optind = 0;
    opterr = 0; /* our own one-line message below */
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (walk_prompt_arg(c, optarg, &pa)) continue;
        switch (c) {
        case 'k':
            if (!walk_parse_k(optarg, &o.k)) return TS_EXIT_USAGE;
            break;
        case 'T': temps_arg = optarg; break;
        case 'e':
            if (!ts_cli_parse_double("target-entropy", optarg, &o.target_entropy)) return TS_EXIT_USAGE;
            o.have_target = true;
            break;
        case 'o': o.plot = optarg; break;
        case 'f': o.full_prob = true; break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return ts_cli_bad_option("sweep", argv);
        }
    }
    if (optind < argc) return ts_cli_error("sweep: unexpected argument '%s'", argv[optind]);
    double *temps = NULL;
    size_t n_temps = 0;
    if (!ts_cli_parse_double_list("temperatures", temps_arg, &temps, &n_temps)) return TS_EXIT_USAGE;
    for (size_t i = 0; i < n_temps; i++)
        if (temps[i] < 0) {
            ts_cli_error("option --temperatures: %g is negative", temps[i]);
            free(temps);
            return TS_EXIT_USAGE;
        }
    o.temperatures = temps;
    o.n_temps = n_temps;
    walk_model m;
    int32_t *ids;
    size_t n_ids;
    int rc = walk_session_open(&m, &pa, 0, &ids, &n_ids);
    if (rc == TS_EXIT_OK) {
        walk_out out = {stdout, ts_cli_use_color(stdout), NULL};
        rc = walk_sweep(&m, ids, n_ids, &o, &out);
        if (rc == TS_EXIT_OK && o.plot && !o.json) printf("Figure written to %s\n", o.plot);
        free(ids);
        walk_model_close(&m);
    }
    free(temps);
    return rc;
}
