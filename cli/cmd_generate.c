/*
 * cmd_generate.c — `tempscale generate`: sample text with temperature,
 * top-k, top-p and min-p, streaming each complete UTF-8 piece as it is
 * produced. Defaults follow Hugging Face generate(do_sample=True): T = 1,
 * top-k 50, top-p 1, min-p off, HF order. T = 0 is greedy.
 */
#include "walk.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale generate [--model DIR] [--prompt TEXT | --ids 1,2,3]\n"
        "          [--temperature T] [--top-k K] [--top-p P] [--min-p M] [--order hf|llama]\n"
        "          [--max-new-tokens N] [--samples N] [--seed S] [--verbose] [--json]\n"
        "\n"
        "Generate a continuation of the prompt, one token at a time: the logits are divided\n"
        "by T, truncated (top-k, top-p, min-p) and one token is drawn. Text is printed as it\n"
        "is produced and generation stops at <|endoftext|>. Low T is safe and repetitive,\n"
        "T = 1 samples the model as trained, high T drifts into noise.\n"
        "\n"
        "Options (defaults are Hugging Face generate(do_sample=True)'s):\n"
        "  --model DIR          checkpoint directory (default: bundled tiny-shakespeare)\n"
        "  --prompt TEXT        text to continue (default: \"" WALK_DEFAULT_PROMPT "\")\n"
        "  --ids LIST           comma-separated token ids instead of --prompt\n"
        "  --temperature T      >= 0 (default 1); 0 = greedy (always the most likely token)\n"
        "  --top-k K            keep the K most likely tokens (default 50; 0 = off)\n"
        "  --top-p P            keep the smallest set with mass >= P (default 1 = off)\n"
        "  --min-p M            drop tokens below M x p(top token) (default 0 = off)\n"
        "  --order hf|llama     hf: temperature first, then truncation (default);\n"
        "                       llama: truncation at T = 1, then temperature (llama.cpp)\n"
        "  --max-new-tokens N   at most N new tokens (default 50)\n"
        "  --samples N          N independent samples from the same prompt (default 1)\n"
        "  --seed S             random seed (default: random, printed to stderr)\n"
        "  --verbose            per step: the chosen token, its probability, the entropy\n"
        "  --json               {\"prompt\",\"ids\",\"text\",\"steps\":[{\"id\",\"token\",\"prob\",\n"
        "                       \"entropy_nats\"}]} (+ \"samples\":[...] when --samples > 1)\n"
        "\n"
        "Examples:\n"
        "  tempscale generate --prompt \"ROMEO:\" --temperature 0.7 --seed 1\n"
        "  tempscale generate --prompt \"ROMEO:\" --temperature 0 --max-new-tokens 30\n");
}

typedef struct gen_state {
    walk_out *out;
    const walk_model *m;
    bool verbose;
    bool json;
    cJSON *steps;      /* JSON: the steps array being filled */
    char *text;        /* JSON: generated text so far (malloc'd, grows) */
    size_t text_len, text_cap;
} gen_state;

/* Append the step's text to g->text (JSON and --verbose print it at the end). */
static bool append_text(gen_state *g, const ts_gen_step *s)
{
    if (g->text_len + s->text_len + 1 > g->text_cap) {
        size_t cap = 2 * (g->text_len + s->text_len + 1) + 64;
        char *t = realloc(g->text, cap);
        if (!t) return false;
        g->text = t;
        g->text_cap = cap;
    }
    memcpy(g->text + g->text_len, s->text, s->text_len);
    g->text_len += s->text_len;
    g->text[g->text_len] = '\0';
    return true;
}

static int on_step(const ts_gen_step *s, void *user)
{
    gen_state *g = user;
    char tbuf[256];
    if (g->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", s->id);
        cJSON_AddStringToObject(e, "token", walk_token_utf8(g->m->tok, s->id, tbuf, sizeof tbuf));
        cJSON_AddNumberToObject(e, "prob", s->prob);
        cJSON_AddNumberToObject(e, "entropy_nats", s->entropy_nats);
        cJSON_AddItemToArray(g->steps, e);
        return append_text(g, s) ? 0 : 1;
    }
    if (g->verbose) {
        walk_printf(g->out, WALK_PLAIN, "  %4zu  %-20s %6d  %8.4f  %8.3f  %6zu\n", s->index + 1,
                    walk_token_display(g->m->tok, s->id, tbuf, sizeof tbuf), (int)s->id, s->prob,
                    s->entropy_nats, s->n_candidates);
        if (g->out->f) fflush(g->out->f);
        return append_text(g, s) ? 0 : 1;
    }
    walk_text(g->out, WALK_PLAIN, s->text, s->text_len);
    if (g->out->f) fflush(g->out->f);
    return 0;
}

int walk_generate(walk_model *m, const int32_t *ids, size_t n_ids, const walk_gen_opts *o,
                  walk_out *out)
{
    char err[TS_ERR_SIZE] = "";
    ts_sampler *sampler = NULL;
    ts_status st = ts_sampler_new(&o->sp, m->n_vocab, &sampler, err, sizeof err);
    if (st != TS_OK) return ts_cli_error("%s", err);
    st = ts_generator_set_prompt(m->gen, ids, n_ids, err, sizeof err);
    if (st != TS_OK) {
        ts_sampler_free(sampler);
        return ts_cli_error("%s", err);
    }
    cJSON *root = NULL, *samples = NULL;
    if (o->json) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "prompt", o->prompt_text ? o->prompt_text : "");
        cJSON_AddItemToObject(root, "ids", walk_json_ids(ids, n_ids));
        cJSON_AddNumberToObject(root, "seed", (double)o->sp.seed);
        cJSON_AddItemToObject(root, "temperature", ts_cli_json_number(o->sp.temperature));
        if (o->samples > 1) samples = cJSON_AddArrayToObject(root, "samples");
    }
    /* The prompt as the model sees it: decoded from its ids. */
    char *prompt_text = NULL;
    if (!o->json) {
        size_t len = 0;
        for (size_t i = 0; i < n_ids; i++) {
            size_t l = 0;
            ts_tokenizer_token_bytes(m->tok, ids[i], &l);
            len += l;
        }
        char *raw = malloc(len + 1);
        if (raw) {
            size_t p = 0;
            for (size_t i = 0; i < n_ids; i++) {
                size_t l = 0;
                const char *b = ts_tokenizer_token_bytes(m->tok, ids[i], &l);
                memcpy(raw + p, b, l);
                p += l;
            }
            prompt_text = walk_bytes_utf8(raw, p);
            free(raw);
        }
    }
    int rc = TS_EXIT_OK;
    for (size_t j = 0; j < o->samples; j++) {
        gen_state g = {out, m, o->verbose, o->json, NULL, NULL, 0, 0};
        if (o->json) g.steps = cJSON_CreateArray();
        if (!o->json) {
            if (o->samples > 1) walk_printf(out, WALK_DIM, "--- sample %zu of %zu ---\n", j + 1, o->samples);
            if (o->verbose)
                walk_printf(out, WALK_BOLD, "  step  token                    id      prob  entropy  candidates\n");
            else if (prompt_text)
                walk_text(out, WALK_PROMPT, prompt_text, strlen(prompt_text));
            if (out->f) fflush(out->f);
        }
        ts_gen_params gp = ts_gen_default_params();
        gp.max_new_tokens = o->max_new_tokens;
        gp.seed = o->sp.seed;
        gp.stream = j;
        ts_gen_result res;
        st = ts_generator_run(m->gen, sampler, &gp, on_step, &g, &res, err, sizeof err);
        if (st != TS_OK) {
            cJSON_Delete(g.steps);
            free(g.text);
            rc = ts_cli_error("%s", err);
            break;
        }
        if (o->json) {
            const char *text = g.text ? g.text : "";
            if (j == 0) {
                cJSON_AddStringToObject(root, "text", text);
                cJSON_AddItemToObject(root, "steps", o->samples > 1 ? cJSON_Duplicate(g.steps, 1) : g.steps);
                cJSON_AddStringToObject(root, "stop", res.stop == TS_STOP_EOT ? "eot" : "length");
            }
            if (samples) {
                cJSON *s = cJSON_CreateObject();
                cJSON_AddStringToObject(s, "text", text);
                cJSON_AddItemToObject(s, "steps", g.steps);
                cJSON_AddItemToArray(samples, s);
            } else if (j > 0) {
                cJSON_Delete(g.steps);
            }
        } else {
            if (o->verbose) {
                walk_printf(out, WALK_DIM, "  (prob and entropy are of the distribution each token was drawn from,\n"
                                           "   after temperature and truncation)\n");
                if (prompt_text) walk_text(out, WALK_PROMPT, prompt_text, strlen(prompt_text));
                if (g.text) walk_text(out, WALK_PLAIN, g.text, g.text_len);
            }
            if (res.stop == TS_STOP_EOT) walk_printf(out, WALK_DIM, " <|endoftext|>");
            walk_text(out, WALK_PLAIN, "\n", 1);
        }
        free(g.text);
    }
    if (root) {
        if (rc == TS_EXIT_OK)
            walk_json_print(root);
        else
            cJSON_Delete(root);
    }
    free(prompt_text);
    ts_sampler_free(sampler);
    return rc;
}

int walk_parse_sampling(int c, const char *arg, ts_sampler_params *sp, bool *ok)
{
    long v;
    *ok = true;
    switch (c) {
    case 't':
        *ok = ts_cli_parse_double("temperature", arg, &sp->temperature);
        if (*ok && sp->temperature < 0) {
            ts_cli_error("option --temperature: %g is negative (use 0 for greedy)", sp->temperature);
            *ok = false;
        }
        return 0;
    case 'K':
        *ok = ts_cli_parse_long("top-k", arg, 0, INT32_MAX, &v);
        sp->top_k = (int32_t)v;
        return 0;
    case 'P':
        *ok = ts_cli_parse_double("top-p", arg, &sp->top_p);
        if (*ok && !(sp->top_p > 0 && sp->top_p <= 1)) {
            ts_cli_error("option --top-p: %g is outside (0, 1]", sp->top_p);
            *ok = false;
        }
        return 0;
    case 'M':
        *ok = ts_cli_parse_double("min-p", arg, &sp->min_p);
        if (*ok && !(sp->min_p >= 0 && sp->min_p < 1)) {
            ts_cli_error("option --min-p: %g is outside [0, 1)", sp->min_p);
            *ok = false;
        }
        return 0;
    case 'O':
        if (ts_sampler_order_parse(arg, &sp->order) != TS_OK) {
            ts_cli_error("option --order: unknown order '%s' (expected hf or llama)", arg);
            *ok = false;
        }
        return 0;
    default: return 1;
    }
}

int ts_cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        WALK_PROMPT_OPTIONS,                          {"temperature", required_argument, NULL, 't'},
        {"top-k", required_argument, NULL, 'K'},      {"top-p", required_argument, NULL, 'P'},
        {"min-p", required_argument, NULL, 'M'},      {"order", required_argument, NULL, 'O'},
        {"max-new-tokens", required_argument, NULL, 'n'},
        {"samples", required_argument, NULL, 'S'},    {"seed", required_argument, NULL, 's'},
        {"verbose", no_argument, NULL, 'v'},          {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    walk_prompt_args pa = {0};
    walk_gen_opts o;
    memset(&o, 0, sizeof o);
    o.sp = ts_sampler_default_params();
    o.max_new_tokens = 50;
    o.samples = 1;
    bool have_seed = false, ok;
    uint64_t seed = 0;
    long v;
    optind = 0;
    opterr = 0; /* our own one-line message below */
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (walk_parse_sampling(c, optarg, &o.sp, &ok) == 0) {
            if (!ok) return TS_EXIT_USAGE;
            continue;
        }
        if (walk_prompt_arg(c, optarg, &pa)) continue;
        switch (c) {
        case 'n':
            if (!ts_cli_parse_long("max-new-tokens", optarg, 1, 1L << 20, &v)) return TS_EXIT_USAGE;
            o.max_new_tokens = (size_t)v;
            break;
        case 'S':
            if (!ts_cli_parse_long("samples", optarg, 1, 100000, &v)) return TS_EXIT_USAGE;
            o.samples = (size_t)v;
            break;
        case 's':
            if (!ts_cli_parse_u64("seed", optarg, &seed)) return TS_EXIT_USAGE;
            have_seed = true;
            break;
        case 'v': o.verbose = true; break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return ts_cli_bad_option("generate", argv);
        }
    }
    if (optind < argc) return ts_cli_error("generate: unexpected argument '%s'", argv[optind]);
    walk_model m;
    int32_t *ids;
    size_t n_ids;
    int rc = walk_session_open(&m, &pa, o.max_new_tokens, &ids, &n_ids);
    if (rc != TS_EXIT_OK) return rc;
    if (o.sp.top_k < 0 || (size_t)o.sp.top_k > m.n_vocab)
        rc = ts_cli_error("option --top-k: %d is larger than the vocabulary (%zu)",
                          (int)o.sp.top_k, m.n_vocab);
    if (rc == TS_EXIT_OK) {
        o.sp.seed = walk_seed(have_seed, seed);
        o.prompt_text = pa.ids ? NULL : (pa.prompt ? pa.prompt : WALK_DEFAULT_PROMPT);
        walk_out out = {stdout, ts_cli_use_color(stdout), NULL};
        rc = walk_generate(&m, ids, n_ids, &o, &out);
    }
    free(ids);
    walk_model_close(&m);
    return rc;
}
