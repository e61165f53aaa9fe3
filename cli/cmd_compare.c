/*
 * cmd_compare.c — `tempscale compare`: the notebook's domains x temperatures
 * x samples grid. Each prompt is evaluated once; every sample rolls the KV
 * cache back to it.
 *
 * --coupled draws with Gumbel-max over shared noise: at step s, token i gets
 * the same noise g(seed, sample, s, i) at every temperature and the draw is
 * argmax_i log p_i(T) + g_i. This is an exact sample from p(T) for each T,
 * but the randomness is common to all columns, so two temperatures pick
 * different tokens only where the temperature itself changes the argmax —
 * and as T -> 0 the log-probability gaps grow like 1/T and swamp the noise,
 * so the sample becomes the greedy text exactly. (Shared uniforms through an
 * inverse CDF would also couple the columns, but a token's interval moves
 * when T reshapes everything above it in the ordering, so they decouple
 * sooner and do not reduce to greedy at small T.)
 * Every sample is shown with where it first leaves the greedy path.
 */
#include "walk.h"
#include "internal.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_prompts[] = {
    "The scientific method involves",
    "To solve the equation x^2 - 4x + 3 = 0,",
    "In Shakespeare's time, the theater",
};

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale compare [--model DIR] [--prompt P ... | --prompts-file F]\n"
        "          [--temperatures 0.3,1,2] [--samples 3] [--max-new-tokens 15] [--coupled]\n"
        "          [--top-k K] [--top-p P] [--min-p M] [--order hf|llama] [--seed S] [--json]\n"
        "\n"
        "Generate several samples per prompt at several temperatures, side by side, to see\n"
        "how temperature trades coherence for variety in different domains. Each sample is\n"
        "compared with the greedy (T = 0) continuation: '|' marks where it first diverges.\n"
        "\n"
        "--coupled makes the columns share one random stream (Gumbel-max with noise per\n"
        "step and token id), so samples differ only where temperature makes them differ;\n"
        "at very small T a coupled sample is exactly the greedy text.\n"
        "\n"
        "Options:\n"
        "  --model DIR          checkpoint directory (default: bundled tiny-shakespeare)\n"
        "  --prompt P           a prompt (repeat for several; default: the notebook's three:\n"
        "                       science, math, Shakespeare)\n"
        "  --prompts-file F     one prompt per line (blank lines skipped)\n"
        "  --temperatures LIST  comma-separated, >= 0 (default 0.3,1,2)\n"
        "  --samples N          samples per prompt and temperature (default 3)\n"
        "  --max-new-tokens N   tokens per sample (default 15)\n"
        "  --coupled            share the random stream across temperatures (Gumbel-max)\n"
        "  --top-k/--top-p/--min-p/--order   as in generate (default top-k 50, HF order)\n"
        "  --seed S             random seed (default: random, printed to stderr)\n"
        "  --json               {\"seed\",\"coupled\",\"prompts\":[{\"prompt\",\"ids\",\"greedy\",\n"
        "                       \"results\":[{\"temperature\",\"samples\":[{\"text\",\"ids\",\n"
        "                       \"diverges_at\"}]}]}]}  (diverges_at: token index, -1 = never)\n"
        "\n"
        "Example:\n"
        "  tempscale compare --temperatures 0.001,0.5,1,2 --samples 2 --coupled --seed 7\n");
}

/* One generated sequence: ids and text, filled by the callback. */
typedef struct seq {
    int32_t *ids;
    size_t n, cap;
    char *text;
    size_t len, text_cap;
} seq;

static int collect(const ts_gen_step *s, void *user)
{
    seq *q = user;
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 32;
        int32_t *ids = realloc(q->ids, cap * sizeof *ids);
        if (!ids) return 1;
        q->ids = ids;
        q->cap = cap;
    }
    q->ids[q->n++] = s->id;
    if (q->len + s->text_len + 1 > q->text_cap) {
        size_t cap = 2 * (q->len + s->text_len + 1) + 64;
        char *t = realloc(q->text, cap);
        if (!t) return 1;
        q->text = t;
        q->text_cap = cap;
    }
    memcpy(q->text + q->len, s->text, s->text_len);
    q->len += s->text_len;
    q->text[q->len] = '\0';
    return 0;
}

static void seq_reset(seq *q)
{
    q->n = 0;
    q->len = 0;
    if (q->text) q->text[0] = '\0';
}

static void seq_free(seq *q)
{
    free(q->ids);
    free(q->text);
}

/* Bytes of the first n tokens of q as decoded text (to place the divergence mark). */
static size_t prefix_bytes(const ts_tokenizer *tok, const seq *q, size_t n)
{
    size_t b = 0;
    for (size_t i = 0; i < n && i < q->n; i++) {
        size_t l = 0;
        ts_tokenizer_token_bytes(tok, q->ids[i], &l);
        b += l;
    }
    return b;
}

/* A one-line rendering of generated text: newlines shown as the return symbol. */
static void emit_flat(walk_out *out, walk_style style, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
            walk_text(out, style, s + start, i - start);
            walk_text(out, WALK_DIM, s[i] == '\t' ? "→" : "⏎", 3);
            start = i + 1;
        }
    }
    walk_text(out, style, s + start, len - start);
}

static ts_status run_one(walk_model *m, ts_sampler **sampler, const ts_sampler_params *sp,
                         const ts_gen_params *gp, seq *q, char *err, size_t err_size)
{
    ts_sampler_free(*sampler);
    *sampler = NULL;
    ts_status st = ts_sampler_new(sp, m->n_vocab, sampler, err, err_size);
    if (st != TS_OK) return st;
    seq_reset(q);
    return ts_generator_run(m->gen, *sampler, gp, collect, q, NULL, err, err_size);
}

int walk_compare(walk_model *m, const walk_compare_opts *o, walk_out *out)
{
    char err[TS_ERR_SIZE] = "";
    ts_sampler *sampler = NULL;
    seq greedy = {0}, q = {0};
    int rc = TS_EXIT_OK;
    cJSON *root = NULL, *jprompts = NULL;
    if (o->json) {
        root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "seed", (double)o->sp.seed);
        cJSON_AddBoolToObject(root, "coupled", o->coupled);
        cJSON_AddStringToObject(root, "draw", o->coupled ? "gumbel-max" : "inverse-cdf");
        jprompts = cJSON_AddArrayToObject(root, "prompts");
    }
    for (size_t pi = 0; pi < o->n_prompts && rc == TS_EXIT_OK; pi++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        rc = walk_prompt_ids(m, o->prompts[pi], NULL, o->max_new_tokens, &ids, &n_ids);
        if (rc != TS_EXIT_OK) break;
        ts_status st = ts_generator_set_prompt(m->gen, ids, n_ids, err, sizeof err);
        /* Greedy reference: T = 0 with the same truncation settings. */
        ts_sampler_params sp = o->sp;
        ts_gen_params gp = ts_gen_default_params();
        gp.max_new_tokens = o->max_new_tokens;
        gp.seed = o->sp.seed;
        gp.draw = o->coupled ? TS_DRAW_GUMBEL : TS_DRAW_INVERSE_CDF;
        if (st == TS_OK) {
            sp.temperature = 0.0;
            st = run_one(m, &sampler, &sp, &gp, &greedy, err, sizeof err);
        }
        if (st != TS_OK) {
            free(ids);
            rc = ts_cli_error("%s", err);
            break;
        }
        cJSON *jp = NULL, *jres = NULL;
        if (o->json) {
            jp = cJSON_CreateObject();
            cJSON_AddStringToObject(jp, "prompt", o->prompts[pi]);
            cJSON_AddItemToObject(jp, "ids", walk_json_ids(ids, n_ids));
            cJSON_AddStringToObject(jp, "greedy", greedy.text ? greedy.text : "");
            jres = cJSON_AddArrayToObject(jp, "results");
            cJSON_AddItemToArray(jprompts, jp);
        } else {
            walk_printf(out, WALK_BOLD, "Prompt %zu: ", pi + 1);
            walk_printf(out, WALK_PROMPT, "%s", o->prompts[pi]);
            walk_text(out, WALK_PLAIN, "\n", 1);
            walk_printf(out, WALK_ACCENT, "  greedy        ");
            emit_flat(out, WALK_PLAIN, greedy.text ? greedy.text : "", greedy.len);
            walk_text(out, WALK_PLAIN, "\n", 1);
        }
        for (size_t ti = 0; ti < o->n_temps && rc == TS_EXIT_OK; ti++) {
            cJSON *jsamples = NULL;
            if (o->json) {
                cJSON *jt = cJSON_CreateObject();
                cJSON_AddItemToObject(jt, "temperature", ts_cli_json_number(o->temperatures[ti]));
                jsamples = cJSON_AddArrayToObject(jt, "samples");
                cJSON_AddItemToArray(jres, jt);
            }
            sp = o->sp;
            sp.temperature = o->temperatures[ti];
            for (size_t j = 0; j < o->samples; j++) {
                /*
                 * Coupled: sample j uses the same noise stream j at every T.
                 * Independent: one stream per (prompt, T, sample).
                 */
                gp.stream = o->coupled ? j : (pi * o->n_temps + ti) * o->samples + j + 1;
                st = run_one(m, &sampler, &sp, &gp, &q, err, sizeof err);
                if (st != TS_OK) {
                    rc = ts_cli_error("%s", err);
                    break;
                }
                long div = -1;
                size_t common = q.n < greedy.n ? q.n : greedy.n;
                for (size_t i = 0; i < common; i++)
                    if (q.ids[i] != greedy.ids[i]) {
                        div = (long)i;
                        break;
                    }
                if (div < 0 && q.n != greedy.n) div = (long)common;
                if (o->json) {
                    cJSON *js = cJSON_CreateObject();
                    cJSON_AddStringToObject(js, "text", q.text ? q.text : "");
                    cJSON_AddItemToObject(js, "ids", walk_json_ids(q.ids, q.n));
                    cJSON_AddNumberToObject(js, "diverges_at", (double)div);
                    cJSON_AddItemToArray(jsamples, js);
                    continue;
                }
                char label[48];
                snprintf(label, sizeof label, "  T=%-6g #%zu  ", o->temperatures[ti], j + 1);
                walk_text(out, WALK_DIM, label, strlen(label));
                const char *text = q.text ? q.text : "";
                if (div < 0) {
                    emit_flat(out, WALK_PLAIN, text, q.len);
                    walk_printf(out, WALK_DIM, "  (= greedy)");
                } else {
                    size_t cut = prefix_bytes(m->tok, &q, (size_t)div);
                    if (cut > q.len) cut = q.len;
                    emit_flat(out, WALK_DIM, text, cut);
                    walk_text(out, WALK_ACCENT, "|", 1);
                    emit_flat(out, WALK_PLAIN, text + cut, q.len - cut);
                    walk_printf(out, WALK_DIM, "  (diverges at token %ld)", div + 1);
                }
                walk_text(out, WALK_PLAIN, "\n", 1);
                if (out->f) fflush(out->f);
            }
        }
        if (!o->json) walk_text(out, WALK_PLAIN, "\n", 1);
        free(ids);
    }
    if (root) {
        if (rc == TS_EXIT_OK)
            walk_json_print(root);
        else
            cJSON_Delete(root);
    }
    ts_sampler_free(sampler);
    seq_free(&greedy);
    seq_free(&q);
    return rc;
}

/* Read one prompt per non-blank line of path; *lines and each line malloc'd. */
static int read_prompts(const char *path, char ***lines, size_t *n)
{
    char *data = NULL;
    size_t len = 0;
    char err[TS_ERR_SIZE] = "";
    *lines = NULL;
    *n = 0;
    if (ts_read_file(path, &data, &len, err, sizeof err) != TS_OK)
        return ts_cli_error("option --prompts-file: %s", err);
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += data[i] == '\n';
    *lines = calloc(cap, sizeof **lines);
    if (!*lines) {
        free(data);
        return ts_cli_error("out of memory");
    }
    char *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        size_t ll = strlen(l);
        if (ll && l[ll - 1] == '\r') l[--ll] = '\0';
        if (ll == 0) continue;
        (*lines)[(*n)++] = strdup(l);
    }
    free(data);
    if (*n == 0) return ts_cli_error("option --prompts-file: %s has no prompts", path);
    return TS_EXIT_OK;
}

int ts_cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},     {"prompt", required_argument, NULL, 'p'},
        {"prompts-file", required_argument, NULL, 'F'},
        {"temperatures", required_argument, NULL, 'T'},
        {"samples", required_argument, NULL, 'S'},   {"max-new-tokens", required_argument, NULL, 'n'},
        {"coupled", no_argument, NULL, 'c'},         {"top-k", required_argument, NULL, 'K'},
        {"top-p", required_argument, NULL, 'P'},     {"min-p", required_argument, NULL, 'M'},
        {"order", required_argument, NULL, 'O'},     {"seed", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},            {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *model = NULL, *temps_arg = "0.3,1,2", *prompts_file = NULL;
    const char **prompts = calloc((size_t)argc + 1, sizeof *prompts);
    size_t n_prompts = 0;
    walk_compare_opts o;
    memset(&o, 0, sizeof o);
    o.sp = ts_sampler_default_params();
    o.samples = 3;
    o.max_new_tokens = 15;
    bool have_seed = false, ok;
    uint64_t seed = 0;
    long v;
    int rc = TS_EXIT_USAGE;
    char **file_lines = NULL;
    size_t n_file = 0;
    double *temps = NULL;
    walk_model m = {0};
    if (!prompts) return ts_cli_error("out of memory");
    optind = 0;
    opterr = 0; /* our own one-line message below */
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c != 't' && walk_parse_sampling(c, optarg, &o.sp, &ok) == 0) {
            if (!ok) goto out;
            continue;
        }
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': prompts[n_prompts++] = optarg; break;
        case 'F': prompts_file = optarg; break;
        case 'T': temps_arg = optarg; break;
        case 'S':
            if (!ts_cli_parse_long("samples", optarg, 1, 10000, &v)) goto out;
            o.samples = (size_t)v;
            break;
        case 'n':
            if (!ts_cli_parse_long("max-new-tokens", optarg, 1, 1L << 20, &v)) goto out;
            o.max_new_tokens = (size_t)v;
            break;
        case 'c': o.coupled = true; break;
        case 's':
            if (!ts_cli_parse_u64("seed", optarg, &seed)) goto out;
            have_seed = true;
            break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); rc = TS_EXIT_OK; goto out;
        default: ts_cli_bad_option("compare", argv); goto out;
        }
    }
    if (optind < argc) {
        ts_cli_error("compare: unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (prompts_file && n_prompts) {
        ts_cli_error("give either --prompt or --prompts-file, not both");
        goto out;
    }
    if (prompts_file) {
        if (read_prompts(prompts_file, &file_lines, &n_file) != TS_EXIT_OK) goto out;
        o.prompts = (const char *const *)file_lines;
        o.n_prompts = n_file;
    } else if (n_prompts) {
        o.prompts = prompts;
        o.n_prompts = n_prompts;
    } else {
        o.prompts = default_prompts;
        o.n_prompts = sizeof default_prompts / sizeof default_prompts[0];
    }
    size_t n_temps = 0;
    if (!ts_cli_parse_double_list("temperatures", temps_arg, &temps, &n_temps)) goto out;
    for (size_t i = 0; i < n_temps; i++)
        if (temps[i] < 0) {
            ts_cli_error("option --temperatures: %g is negative", temps[i]);
            goto out;
        }
    o.temperatures = temps;
    o.n_temps = n_temps;
    if (!walk_model_open(&m, model)) goto out;
    if (o.sp.top_k < 0 || (size_t)o.sp.top_k > m.n_vocab) {
        ts_cli_error("option --top-k: %d is larger than the vocabulary (%zu)", (int)o.sp.top_k,
                     m.n_vocab);
        goto out;
    }
    /* Check every prompt before anything is printed (the seed line included). */
    for (size_t i = 0; i < o.n_prompts; i++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (walk_prompt_ids(&m, o.prompts[i], NULL, o.max_new_tokens, &ids, &n_ids) != TS_EXIT_OK)
            goto out;
        free(ids);
    }
    o.sp.seed = walk_seed(have_seed, seed);
    walk_out wo = {stdout, ts_cli_use_color(stdout), NULL};
    rc = walk_compare(&m, &o, &wo);
out:
    walk_model_close(&m);
    for (size_t i = 0; i < n_file; i++) free(file_lines[i]);
    free(file_lines);
    free(temps);
    free(prompts);
    return rc;
}
