/*
 * cmd_sample.c — `tempscale sample`: the notebook's "Token Sampling". One
 * forward pass, then n draws of the next token from the top-k renormalised
 * distribution at temperature T; the first draws coloured by rank, a count
 * table against the expected counts, and Pearson's chi-square p-value.
 */
#include "walk.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale sample [--model DIR] [--prompt TEXT | --ids 1,2,3] [--k 10] [--n 100]\n"
        "                        [--temperature T] [--seed S] [--show 20] [--json]\n"
        "\n"
        "Draw n next tokens from the model's distribution, restricted to the k most likely\n"
        "tokens and renormalised, to see sampling at work: frequent tokens come up often,\n"
        "rare ones sometimes. The count table compares each token's count with its expected\n"
        "count n x p, and Pearson's chi-square test says whether the differences are larger\n"
        "than chance (p-value; categories with expected count < 5 are pooled).\n"
        "\n"
        "Options:\n"
        "  --model DIR        checkpoint directory (default: bundled tiny-shakespeare)\n"
        "  --prompt TEXT      text to condition on (default: \"" WALK_DEFAULT_PROMPT "\")\n"
        "  --ids LIST         comma-separated token ids instead of --prompt\n"
        "  --k N              sample among the N most likely tokens (default 10)\n"
        "  --n N              number of draws (default 100)\n"
        "  --temperature T    divide the logits by T first (default 1)\n"
        "  --seed S           random seed (default: random, printed to stderr)\n"
        "  --show N           print the first N draws, coloured by rank (default 20)\n"
        "  --json             {\"samples\":[ids],\"counts\":[{\"id\",\"token\",\"count\",\"expected\"}],\n"
        "                     \"chi2_p\"}  (expected is a count: n x p)\n"
        "\n"
        "Example:\n"
        "  tempscale sample --prompt \"In the future, AI will\" --k 10 --n 100 --seed 42\n");
}

int walk_sample(walk_model *m, const int32_t *ids, size_t n_ids, const walk_sample_opts *o,
                walk_out *out)
{
    char err[TS_ERR_SIZE] = "";
    if (walk_check_k(m, o->k) != TS_EXIT_OK) return TS_EXIT_USAGE;
    if (o->n == 0) return ts_cli_error("option --n: must be at least 1");
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = o->temperature;
    sp.top_k = (int32_t)o->k;
    sp.seed = o->seed;
    ts_sampler *sampler = NULL;
    ts_status st = ts_sampler_new(&sp, m->n_vocab, &sampler, err, sizeof err);
    if (st != TS_OK) return ts_cli_error("%s", err);
    st = ts_generator_set_prompt(m->gen, ids, n_ids, err, sizeof err);
    const ts_candidate *cands = NULL;
    size_t n_cands = 0;
    if (st == TS_OK) st = ts_sampler_apply(sampler, ts_generator_prompt_logits(m->gen), &cands, &n_cands);
    if (st != TS_OK) {
        ts_sampler_free(sampler);
        return ts_cli_error("%s", err[0] ? err : ts_status_str(st));
    }
    int32_t *draws = malloc(o->n * sizeof *draws);
    size_t *counts = calloc(n_cands, sizeof *counts);
    double *expected_p = malloc(n_cands * sizeof *expected_p);
    int rc = TS_EXIT_OK;
    if (!draws || !counts || !expected_p) {
        rc = ts_cli_error("out of memory");
        goto done;
    }
    ts_rng rng;
    ts_rng_seed(&rng, o->seed);
    for (size_t i = 0; i < o->n; i++) {
        int32_t id = ts_sampler_pick(cands, n_cands, ts_rng_uniform(&rng));
        draws[i] = id;
        for (size_t c = 0; c < n_cands; c++)
            if (cands[c].id == id) {
                counts[c]++;
                break;
            }
    }
    for (size_t c = 0; c < n_cands; c++) expected_p[c] = cands[c].p;
    ts_chi2_result chi = {0};
    if (n_cands >= 2) {
        st = ts_chi2_test(counts, expected_p, n_cands, &chi);
        if (st != TS_OK) {
            rc = ts_cli_error("chi-square test: %s", ts_status_str(st));
            goto done;
        }
    } else {
        chi.p_value = 1.0;
    }
    char tbuf[256];
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, "ids", walk_json_ids(ids, n_ids));
        cJSON_AddNumberToObject(root, "seed", (double)o->seed);
        cJSON_AddNumberToObject(root, "n", (double)o->n);
        cJSON_AddNumberToObject(root, "k", (double)o->k);
        cJSON_AddNumberToObject(root, "temperature", o->temperature);
        cJSON_AddItemToObject(root, "samples", walk_json_ids(draws, o->n));
        cJSON *arr = cJSON_AddArrayToObject(root, "counts");
        for (size_t c = 0; c < n_cands; c++) {
            cJSON *e = cJSON_CreateObject();
            walk_json_add_token(e, m->tok, cands[c].id);
            cJSON_AddNumberToObject(e, "count", (double)counts[c]);
            cJSON_AddNumberToObject(e, "expected", cands[c].p * (double)o->n);
            cJSON_AddNumberToObject(e, "p", cands[c].p);
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddNumberToObject(root, "chi2", chi.statistic);
        cJSON_AddNumberToObject(root, "chi2_dof", chi.dof);
        cJSON_AddNumberToObject(root, "chi2_p", chi.p_value);
        walk_json_print(root);
        goto done;
    }
    size_t show = o->show < o->n ? o->show : o->n;
    if (show > 0) {
        walk_printf(out, WALK_BOLD, "First %zu of %zu draws", show, o->n);
        walk_printf(out, WALK_DIM, " (coloured by rank among the top %zu):\n", o->k);
        for (size_t i = 0; i < show; i++) {
            size_t rank = 0;
            for (size_t c = 0; c < n_cands; c++)
                if (cands[c].id == draws[i]) rank = c;
            walk_printf(out, (walk_style)(WALK_RANK0 + (int)rank), "%s",
                        walk_token_display(m->tok, draws[i], tbuf, sizeof tbuf));
            walk_text(out, WALK_PLAIN, i + 1 < show ? " " : "\n\n", i + 1 < show ? 1 : 2);
        }
    }
    static const char *const headers[] = {"rank", "token", "count", "%", "expected %", "p"};
    walk_table *t = walk_table_new(6, headers);
    if (!t) {
        rc = ts_cli_error("out of memory");
        goto done;
    }
    char title[160];
    snprintf(title, sizeof title, "Token Sampling: %zu draws from the top %zu at T = %g", o->n,
             o->k, o->temperature);
    walk_table_title(t, title);
    for (size_t c = 0; c < 6; c++)
        if (c != 1) walk_table_right(t, c);
    for (size_t c = 0; c < n_cands; c++) {
        size_t row = walk_table_token_row(t, WALK_PLAIN, c + 1, m->tok, cands[c].id);
        walk_table_set(t, row, 2, "%zu", counts[c]);
        walk_table_set(t, row, 3, "%.1f", 100.0 * (double)counts[c] / (double)o->n);
        walk_table_set(t, row, 4, "%.1f", 100.0 * cands[c].p);
        walk_table_set(t, row, 5, "%.4f", cands[c].p);
    }
    walk_table_emit(out, t);
    walk_table_free(t);
    walk_printf(out, WALK_PLAIN,
                "Chi-square goodness of fit: X2 = %.2f with %.0f degrees of freedom (%zu bins "
                "after pooling), p-value = %.3f", chi.statistic, chi.dof, chi.n_bins, chi.p_value);
    walk_printf(out, WALK_DIM, " %s\n",
                chi.p_value < 0.01 ? "(counts deviate more than chance would explain)"
                                   : "(consistent with the model's distribution)");
done:
    free(draws);
    free(counts);
    free(expected_p);
    ts_sampler_free(sampler);
    return rc;
}

int ts_cmd_sample(int argc, char **argv)
{
    static const struct option opts[] = {
        WALK_PROMPT_OPTIONS,                     {"k", required_argument, NULL, 'k'},
        {"n", required_argument, NULL, 'n'},     {"temperature", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},  {"show", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    walk_prompt_args pa = {0};
    walk_sample_opts o = {.k = 10, .n = 100, .show = 20, .temperature = 1.0};
    bool have_seed = false;
    uint64_t seed = 0;
    long v;
    optind = 0;
    opterr = 0; /* our own one-line message below */
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (walk_prompt_arg(c, optarg, &pa)) continue;
        switch (c) {
        case 'k':
            if (!walk_parse_k(optarg, &o.k)) return TS_EXIT_USAGE;
            break;
        case 'n':
            if (!ts_cli_parse_long("n", optarg, 1, 100000000L, &v)) return TS_EXIT_USAGE;
            o.n = (size_t)v;
            break;
        case 'S':
            if (!ts_cli_parse_long("show", optarg, 0, 100000000L, &v)) return TS_EXIT_USAGE;
            o.show = (size_t)v;
            break;
        case 't':
            if (!ts_cli_parse_double("temperature", optarg, &o.temperature)) return TS_EXIT_USAGE;
            if (o.temperature < 0) return ts_cli_error("option --temperature: must be >= 0");
            break;
        case 's':
            if (!ts_cli_parse_u64("seed", optarg, &seed)) return TS_EXIT_USAGE;
            have_seed = true;
            break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return ts_cli_bad_option("sample", argv);
        }
    }
    if (optind < argc) return ts_cli_error("sample: unexpected argument '%s'", argv[optind]);
    walk_model m;
    int32_t *ids;
    size_t n_ids;
    int rc = walk_session_open(&m, &pa, 0, &ids, &n_ids);
    if (rc != TS_EXIT_OK) return rc;
    /* Before the seed line: a bad --k is reported alone. */
    rc = walk_check_k(&m, o.k);
    if (rc == TS_EXIT_OK) {
        o.seed = walk_seed(have_seed, seed);
        walk_out out = {stdout, ts_cli_use_color(stdout), NULL};
        rc = walk_sample(&m, ids, n_ids, &o, &out);
    }
    free(ids);
    walk_model_close(&m);
    return rc;
}
