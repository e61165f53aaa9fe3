/*
 * cmd_top.c — `tempscale top`: the model's top-k next-token predictions for
 * a prompt (the notebook's "Top 10 Token Predictions" table), with the
 * probability over the full vocabulary and renormalised within the k shown,
 * the entropy of the whole distribution, and the raw logits on request.
 */
#include "walk.h"
#include "internal.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale top [--model DIR] [--prompt TEXT | --ids 1,2,3] [--k 10] [--json]\n"
        "                     [--temperature T] [--dump-logits FILE.npy]\n"
        "\n"
        "Run the prompt through the model once and show the k most likely next tokens.\n"
        "'prob' is softmax(logits / T) over the whole vocabulary; 'prob in top-k' is the\n"
        "same renormalised within the k tokens shown (the notebook's column). The entropy\n"
        "line is the full-vocabulary entropy H and exp(H), the 'effective number of choices'.\n"
        "\n"
        "Options:\n"
        "  --model DIR        Hugging Face layout checkpoint (default: bundled tiny-shakespeare)\n"
        "  --prompt TEXT      text to condition on (default: \"" WALK_DEFAULT_PROMPT "\")\n"
        "  --ids LIST         comma-separated token ids instead of --prompt\n"
        "  --k N              how many tokens to show (default 10; at most the vocabulary)\n"
        "  --temperature T    divide the logits by T first (default 1; 0 = argmax)\n"
        "  --dump-logits F    write the last position's raw logits as a float32 .npy\n"
        "  --json             {\"model\",\"ids\",\"entropy_nats\",\"top\":[{\"rank\",\"id\",\"token\",\n"
        "                     \"logit\",\"prob\",\"prob_topk\"}]} (model: the checkpoint directory)\n"
        "\n"
        "Example:\n"
        "  tempscale top --prompt \"In the future, AI will\" --k 10\n");
}

int walk_top(walk_model *m, const int32_t *ids, size_t n_ids, const walk_top_opts *o,
             walk_out *out)
{
    char err[TS_ERR_SIZE] = "";
    if (walk_check_k(m, o->k) != TS_EXIT_OK) return TS_EXIT_USAGE;
    ts_status st = ts_generator_set_prompt(m->gen, ids, n_ids, err, sizeof err);
    if (st != TS_OK) return ts_cli_error("%s", err);
    const float *logits = ts_generator_prompt_logits(m->gen);
    size_t V = m->n_vocab, k = o->k;
    int32_t *top = malloc(k * sizeof *top);
    double *prob = malloc(k * sizeof *prob), *prob_topk = malloc(k * sizeof *prob_topk);
    double entropy = 0.0;
    int rc = TS_EXIT_OK;
    if (!top || !prob || !prob_topk) {
        rc = ts_cli_error("out of memory");
        goto done;
    }
    st = ts_sweep(logits, V, &o->temperature, 1, k, top, prob, prob_topk, &entropy);
    if (st != TS_OK) {
        rc = ts_cli_error("the model's logits are not usable (%s)", ts_status_str(st));
        goto done;
    }
    if (o->dump_logits) {
        size_t shape[1] = {V};
        st = ts_npy_write_f32(o->dump_logits, logits, 1, shape, err, sizeof err);
        if (st != TS_OK) {
            rc = ts_cli_error("%s", err);
            goto done;
        }
    }
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "model", m->dir);
        cJSON_AddItemToObject(root, "ids", walk_json_ids(ids, n_ids));
        cJSON_AddItemToObject(root, "temperature", ts_cli_json_number(o->temperature));
        cJSON_AddNumberToObject(root, "entropy_nats", entropy);
        cJSON_AddNumberToObject(root, "vocab_size", (double)V);
        cJSON_AddItemToObject(root, "top",
                              walk_json_topk(m->tok, logits, top, prob, prob_topk, k));
        walk_json_print(root);
        goto done;
    }
    {
        static const char *const headers[] = {"rank", "token", "id", "logit", "prob",
                                              "prob in top-k"};
        walk_table *t = walk_table_new(6, headers);
        if (!t) {
            rc = ts_cli_error("out of memory");
            goto done;
        }
        char title[128];
        snprintf(title, sizeof title, "Top %zu Token Predictions (T = %g)", k, o->temperature);
        walk_table_title(t, title);
        walk_table_right(t, 0);
        walk_table_right(t, 2);
        walk_table_right(t, 3);
        walk_table_right(t, 4);
        walk_table_right(t, 5);
        double mass = 0.0;
        for (size_t r = 0; r < k; r++) {
            size_t row = walk_table_token_row(t, r == 0 ? WALK_BOLD : WALK_PLAIN, r + 1, m->tok,
                                              top[r]);
            walk_table_set(t, row, 2, "%d", (int)top[r]);
            walk_table_set(t, row, 3, "%.3f", logits[top[r]]);
            walk_table_set(t, row, 4, "%.4f", prob[r]);
            walk_table_set(t, row, 5, "%.4f", prob_topk[r]);
            mass += prob[r];
        }
        walk_table_emit(out, t);
        walk_table_free(t);
        walk_printf(out, WALK_PLAIN,
                    "The top %zu hold %.1f%% of the probability; the full distribution over %zu "
                    "tokens has entropy %.3f nats (%.3f bits), i.e. about %.1f equally likely "
                    "choices.\n",
                    k, 100.0 * mass, V, entropy, entropy / log(2.0), exp(entropy));
    }
done:
    free(top);
    free(prob);
    free(prob_topk);
    return rc;
}

int ts_cmd_top(int argc, char **argv)
{
    static const struct option opts[] = {
        WALK_PROMPT_OPTIONS,                           {"k", required_argument, NULL, 'k'},
        {"temperature", required_argument, NULL, 't'},
        {"dump-logits", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    walk_prompt_args pa = {0};
    walk_top_opts o = {.k = 10, .temperature = 1.0};
    optind = 0;
    opterr = 0; /* our own one-line message below */
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (walk_prompt_arg(c, optarg, &pa)) continue;
        switch (c) {
        case 'k':
            if (!walk_parse_k(optarg, &o.k)) return TS_EXIT_USAGE;
            break;
        case 't':
            if (!ts_cli_parse_double("temperature", optarg, &o.temperature)) return TS_EXIT_USAGE;
            if (o.temperature < 0) return ts_cli_error("option --temperature: must be >= 0");
            break;
        case 'd': o.dump_logits = optarg; break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return ts_cli_bad_option("top", argv);
        }
    }
    if (optind < argc) return ts_cli_error("top: unexpected argument '%s'", argv[optind]);
    walk_model m;
    int32_t *ids;
    size_t n_ids;
    int rc = walk_session_open(&m, &pa, 0, &ids, &n_ids);
    if (rc != TS_EXIT_OK) return rc;
    walk_out out = {stdout, ts_cli_use_color(stdout), NULL};
    rc = walk_top(&m, ids, n_ids, &o, &out);
    free(ids);
    walk_model_close(&m);
    return rc;
}
