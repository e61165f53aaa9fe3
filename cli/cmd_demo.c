/*
 * cmd_demo.c — `tempscale demo`: the whole temperature walkthrough in order,
 * each step a short explanation followed by the output of the very command
 * (and the exact command line) that reproduces it: the math, the toy-logit
 * figure, tokenization, low-temperature generation, the top-10 table,
 * sampling, the temperature sweep, entropy analysis, the domain grid and
 * practical guidance. --html writes the same as one self-contained report.
 */
#include "walk.h"
#include "internal.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: tempscale demo [--model DIR] [--seed S] [--html FILE] [--out-dir DIR]\n"
        "\n"
        "The temperature walkthrough, start to finish, on the bundled model (offline, a few\n"
        "seconds): what temperature does to softmax, how text becomes tokens, greedy and\n"
        "low-temperature generation, the model's top-10 next tokens, sampling, one\n"
        "distribution at seven temperatures, entropy, several domains side by side, and\n"
        "which temperature to use for what. Every section prints the command that\n"
        "reproduces it.\n"
        "\n"
        "Options:\n"
        "  --model DIR     run everything on another checkpoint (e.g. a distilgpt2 directory)\n"
        "  --seed S        random seed for every sampling step (default: random, printed)\n"
        "  --html FILE     also write a self-contained HTML report (tables, figures inline)\n"
        "  --out-dir DIR   where the figures go (default: a temporary directory, removed\n"
        "                  after the run unless given)\n"
        "\n"
        "Examples:\n"
        "  tempscale demo\n"
        "  tempscale demo --seed 42 --html walkthrough.html --out-dir figures\n");
}

/* The shell-quoted form of s in buf (single quotes unless plain). */
static const char *shq(const char *s, char *buf, size_t size)
{
    bool plain = s[0] != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=:+", *p))
            plain = false;
    if (plain) {
        snprintf(buf, size, "%s", s);
        return buf;
    }
    size_t o = 0;
    buf[o++] = '\'';
    for (const char *p = s; *p && o + 6 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + o, "'\\''", 4);
            o += 4;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

typedef struct demo {
    walk_model m;
    walk_out out;
    const char *model_arg;
    uint64_t seed;
    char model_flag[4200]; /* " --model DIR" or "" */
    char dir[4096];        /* figures */
    bool tmp_dir;
    const char *ext;       /* ".svg" for the HTML report, else ".png" */
} demo;

static void figure(demo *d, const char *file, const char *caption)
{
    /* A temporary directory's name changes per run: keep stdout reproducible. */
    if (d->out.f && !d->tmp_dir) walk_printf(&d->out, WALK_DIM, "Figure: %s\n", file);
    if (d->out.report) {
        char err[TS_ERR_SIZE] = "";
        if (ts_report_figure(d->out.report, file, caption, err, sizeof err) != TS_OK)
            ts_cli_warn("%s", err);
    }
}

static int section_math(demo *d)
{
    /* The notebook's toy logits and temperatures: `tempscale softmax`'s defaults. */
    static const float logits[] = {2.0f, 1.0f, 0.5f, 0.2f, 0.1f};
    static const double temps[] = {0.1, 0.5, 1.0, 2.0, 5.0};
    const size_t n = 5, nT = 5;
    char cmd[8400], file[4200];
    snprintf(file, sizeof file, "%s/softmax%s", d->dir, d->ext);
    snprintf(cmd, sizeof cmd, "tempscale softmax --plot softmax%s", d->ext);
    walk_section(&d->out, "1. The math: temperature divides the logits", cmd);
    walk_note(&d->out,
              "A language model outputs one logit z_i per token of its vocabulary. Sampling "
              "turns them into probabilities with the temperature softmax p_i = exp(z_i / T) / "
              "sum_j exp(z_j / T). T = 1 is the distribution the model was trained to produce. "
              "T < 1 sharpens it (T -> 0 is greedy argmax: always the top token); T > 1 flattens "
              "it (T -> infinity is uniform). Temperature never changes the ranking of tokens, "
              "only how far apart their probabilities are. The entropy H = -sum p_i log p_i "
              "measures the spread: 0 for a certain choice, log V for uniform over V tokens.");
    static const char *const headers[] = {"token", "logit", "T=0.1", "T=0.5", "T=1", "T=2", "T=5"};
    walk_table *t = walk_table_new(7, headers);
    if (!t) return ts_cli_error("out of memory");
    walk_table_title(t, "softmax(z / T) of five toy logits");
    for (size_t c = 1; c < 7; c++) walk_table_right(t, c);
    walk_table_emphasise_col(t, 4);
    double p[5][5], h[5];
    for (size_t j = 0; j < nT; j++) {
        if (ts_softmax(logits, n, temps[j], p[j]) != TS_OK) {
            walk_table_free(t);
            return ts_cli_error("softmax failed");
        }
        h[j] = ts_entropy_nats(p[j], n);
    }
    for (size_t i = 0; i < n; i++) {
        size_t r = walk_table_row(t, WALK_PLAIN);
        walk_table_set(t, r, 0, "token %zu", i);
        walk_table_set(t, r, 1, "%.1f", logits[i]);
        for (size_t j = 0; j < nT; j++) walk_table_set(t, r, j + 2, "%.4f", p[j][i]);
    }
    size_t r = walk_table_row(t, WALK_DIM);
    walk_table_set(t, r, 0, "entropy (nats)");
    for (size_t j = 0; j < nT; j++) walk_table_set(t, r, j + 2, "%.3f", h[j]);
    walk_table_emit(&d->out, t);
    walk_table_free(t);
    char err[TS_ERR_SIZE] = "";
    if (ts_plot_softmax_panels(file, logits, n, NULL, temps, nT, NULL, err, sizeof err) != TS_OK)
        return ts_cli_error("%s", err);
    figure(d, file, "The same five logits at five temperatures: low T concentrates, high T flattens.");
    return TS_EXIT_OK;
}

static int section_tokenize(demo *d, const int32_t *ids, size_t n_ids)
{
    char cmd[8400], q[256];
    snprintf(cmd, sizeof cmd, "tempscale tokenize%s %s", d->model_flag,
             shq(WALK_DEFAULT_PROMPT, q, sizeof q));
    walk_section(&d->out, "2. Tokenize: text becomes token ids", cmd);
    walk_note(&d->out,
              "GPT-2 reads byte-level BPE tokens, not characters or words: frequent words are one "
              "token (with their leading space), rare ones are split. The model predicts a "
              "distribution over the next token id.");
    walk_printf(&d->out, WALK_PLAIN, "Input IDs: [");
    for (size_t i = 0; i < n_ids; i++) walk_printf(&d->out, WALK_PLAIN, "%s%d", i ? ", " : "", (int)ids[i]);
    walk_printf(&d->out, WALK_PLAIN, "]\nTokens:    ");
    char tb[256];
    for (size_t i = 0; i < n_ids; i++)
        walk_printf(&d->out, (walk_style)(WALK_RANK0 + (int)(i % 6)), "%s%s", i ? " " : "",
                    walk_token_display(d->m.tok, ids[i], tb, sizeof tb));
    walk_printf(&d->out, WALK_PLAIN, "\nVocabulary size: %zu, context: %d tokens\n", d->m.n_vocab,
                (int)d->m.info->n_positions);
    return TS_EXIT_OK;
}

static int section_generate(demo *d, const int32_t *ids, size_t n_ids)
{
    char cmd[8400], q[256];
    static const double temps[2] = {0.0, 0.3};
    walk_section(&d->out, "3. Low-temperature generation", NULL);
    walk_note(&d->out,
              "At T = 0 the model always takes its most likely token (greedy decoding); at low T "
              "it almost always does. The text is fluent but tends to loop: a small model "
              "especially falls into repeating its most probable phrase.");
    for (size_t i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "tempscale generate%s --prompt %s --temperature %g --max-new-tokens 40 --seed %llu",
                 d->model_flag, shq(WALK_DEFAULT_PROMPT, q, sizeof q), temps[i],
                 (unsigned long long)d->seed);
        walk_printf(&d->out, WALK_DIM, "$ %s\n", cmd);
        walk_gen_opts o;
        memset(&o, 0, sizeof o);
        o.sp = ts_sampler_default_params();
        o.sp.temperature = temps[i];
        o.sp.seed = d->seed;
        o.max_new_tokens = 40;
        o.samples = 1;
        int rc = walk_generate(&d->m, ids, n_ids, &o, &d->out);
        if (rc != TS_EXIT_OK) return rc;
        walk_text(&d->out, WALK_PLAIN, "\n", 1);
    }
    return TS_EXIT_OK;
}

static int section_top(demo *d, const int32_t *ids, size_t n_ids)
{
    char cmd[8400], q[256];
    snprintf(cmd, sizeof cmd, "tempscale top%s --prompt %s --k 10", d->model_flag,
             shq(WALK_DEFAULT_PROMPT, q, sizeof q));
    walk_section(&d->out, "4. The model's top 10 next tokens", cmd);
    walk_note(&d->out,
              "One forward pass gives the logits for the next token. 'prob' is over the whole "
              "vocabulary; 'prob in top-k' renormalises within the ten shown, which is what "
              "top-k sampling with k = 10 would draw from.");
    walk_top_opts o = {.k = 10, .temperature = 1.0};
    return walk_top(&d->m, ids, n_ids, &o, &d->out);
}

static int section_sample(demo *d, const int32_t *ids, size_t n_ids)
{
    char cmd[8400], q[256];
    snprintf(cmd, sizeof cmd, "tempscale sample%s --prompt %s --k 10 --n 100 --seed %llu",
             d->model_flag, shq(WALK_DEFAULT_PROMPT, q, sizeof q), (unsigned long long)d->seed);
    walk_section(&d->out, "5. Sampling: drawing from the distribution", cmd);
    walk_note(&d->out,
              "Sampling draws a token at random with these probabilities, so likely tokens come "
              "up often and unlikely ones sometimes. Over 100 draws the counts track the "
              "expected counts; the chi-square test checks that the sampler is faithful.");
    walk_sample_opts o = {.k = 10, .n = 100, .show = 20, .temperature = 1.0, .seed = d->seed};
    return walk_sample(&d->m, ids, n_ids, &o, &d->out);
}

static int section_sweep(demo *d, const int32_t *ids, size_t n_ids)
{
    char cmd[8400], q[256], file[4200];
    snprintf(file, sizeof file, "%s/sweep%s", d->dir, d->ext);
    snprintf(cmd, sizeof cmd,
             "tempscale sweep%s --prompt %s --temperatures 0.01,0.1,0.5,1,2,5,100 --k 10 "
             "--plot sweep%s",
             d->model_flag, shq(WALK_DEFAULT_PROMPT, q, sizeof q), d->ext);
    walk_section(&d->out, "6. Temperature comparison: one distribution, seven temperatures", cmd);
    walk_note(&d->out,
              "The same logits at seven temperatures (one forward pass: temperature is applied "
              "after the model). At T = 0.01 the top token takes everything; at T = 100 the top "
              "ten are nearly equal and the distribution is almost uniform over the whole "
              "vocabulary.");
    static const double temps[] = {0.01, 0.1, 0.5, 1, 2, 5, 100};
    walk_sweep_opts o = {.temperatures = temps, .n_temps = 7, .k = 10, .plot = file};
    int rc = walk_sweep(&d->m, ids, n_ids, &o, &d->out);
    if (rc != TS_EXIT_OK) return rc;
    figure(d, file, "Left: top-10 probabilities (renormalised) per temperature. Right: entropy "
                    "of the full distribution against T, with T = 1 and the uniform ceiling "
                    "log V marked.");
    return TS_EXIT_OK;
}

static int section_entropy(demo *d, const int32_t *ids, size_t n_ids)
{
    char cmd[8400], q[256];
    snprintf(cmd, sizeof cmd, "tempscale sweep%s --prompt %s --temperatures 1 --target-entropy 2",
             d->model_flag, shq(WALK_DEFAULT_PROMPT, q, sizeof q));
    walk_section(&d->out, "7. Entropy analysis: choosing T by the spread you want", cmd);
    walk_note(&d->out,
              "Entropy rises monotonically with T, so a target entropy fixes a temperature: "
              "exp(H) is the number of equally likely tokens the distribution is worth. Solving "
              "for T per step is the idea behind entropy-targeting samplers (e.g. Mirostat).");
    char err[TS_ERR_SIZE] = "";
    if (ts_generator_set_prompt(d->m.gen, ids, n_ids, err, sizeof err) != TS_OK)
        return ts_cli_error("%s", err);
    const float *logits = ts_generator_prompt_logits(d->m.gen);
    double h1 = 0;
    ts_entropy_at_temperature(logits, d->m.n_vocab, 1.0, &h1);
    static const char *const headers[] = {"target entropy (nats)", "exp(H) tokens", "temperature T"};
    walk_table *t = walk_table_new(3, headers);
    if (!t) return ts_cli_error("out of memory");
    walk_table_title(t, "The temperature that gives each entropy");
    for (size_t c = 0; c < 3; c++) walk_table_right(t, c);
    static const double targets[] = {0.1, 0.5, 1, 2, 3, 4, 6};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        double T = NAN;
        if (ts_temperature_for_entropy(logits, d->m.n_vocab, targets[i], &T) != TS_OK) continue;
        size_t r = walk_table_row(t, WALK_PLAIN);
        walk_table_set(t, r, 0, "%g", targets[i]);
        walk_table_set(t, r, 1, "%.1f", exp(targets[i]));
        walk_table_set(t, r, 2, "%.4f", T);
    }
    size_t r = walk_table_row(t, WALK_ACCENT);
    walk_table_set(t, r, 0, "%.4f", h1);
    walk_table_set(t, r, 1, "%.1f", exp(h1));
    walk_table_set(t, r, 2, "1 (the model)");
    walk_table_emit(&d->out, t);
    walk_table_free(t);
    return TS_EXIT_OK;
}

static int section_grid(demo *d)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "tempscale compare%s --temperatures 0.3,1,2 --samples 2 --max-new-tokens 15 "
             "--coupled --seed %llu",
             d->model_flag, (unsigned long long)d->seed);
    walk_section(&d->out, "8. The domain grid: prompts x temperatures x samples", cmd);
    walk_note(&d->out,
              "Three domains at three temperatures. The columns are coupled: every temperature "
              "uses the same random numbers (Gumbel-max with shared noise), so differences come "
              "from temperature alone. '|' marks where a sample leaves the greedy text: low T "
              "stays on it longer, high T leaves at once and drifts into noise.");
    static const char *const prompts[] = {"The scientific method involves",
                                          "To solve the equation x^2 - 4x + 3 = 0,",
                                          "In Shakespeare's time, the theater"};
    static const double temps[] = {0.3, 1, 2};
    walk_compare_opts o;
    memset(&o, 0, sizeof o);
    o.prompts = prompts;
    o.n_prompts = 3;
    o.temperatures = temps;
    o.n_temps = 3;
    o.samples = 2;
    o.max_new_tokens = 15;
    o.sp = ts_sampler_default_params();
    o.sp.seed = d->seed;
    o.coupled = true;
    return walk_compare(&d->m, &o, &d->out);
}

static int section_guidance(demo *d)
{
    walk_section(&d->out, "9. Practical guidance: which temperature for what", NULL);
    walk_note(&d->out,
              "Temperature is a dial between reliability and variety. Rough starting points "
              "(tune on your own model and task; truncation such as top-p or min-p keeps higher "
              "temperatures from reaching the incoherent tail):");
    static const char *const headers[] = {"task", "temperature", "why"};
    walk_table *t = walk_table_new(3, headers);
    if (!t) return ts_cli_error("out of memory");
    walk_table_title(t, "Starting points");
    static const char *const rows[][3] = {
        {"exact answers, code, extraction, math", "0 (greedy) - 0.2", "one right answer; variety is error"},
        {"chat, summaries, explanations", "0.5 - 0.8", "natural wording, still on topic"},
        {"stories, brainstorming, poetry", "0.8 - 1.1 + top-p/min-p", "variety matters; truncation guards the tail"},
        {"sampling the model as trained", "1.0, no truncation", "the model's own distribution (evaluation, data)"},
        {"diversity probes, red teaming", "> 1.2 with min-p", "deliberately unlikely continuations"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t r = walk_table_row(t, WALK_PLAIN);
        for (size_t c = 0; c < 3; c++) walk_table_set(t, r, c, "%s", rows[i][c]);
    }
    walk_table_emit(&d->out, t);
    walk_table_free(t);
    static const char *const h2[] = {"library", "default when sampling", "note"};
    walk_table *t2 = walk_table_new(3, h2);
    if (!t2) return ts_cli_error("out of memory");
    walk_table_title(t2, "What popular tools do by default");
    static const char *const rows2[][3] = {
        {"Hugging Face transformers generate()", "T = 1.0, top-k 50, top-p 1.0",
         "GenerationConfig; do_sample=False (greedy) unless asked"},
        {"llama.cpp (common sampling params)", "T = 0.8, top-k 40, top-p 0.95, min-p 0.05",
         "truncation first, temperature last"},
        {"tempscale generate", "T = 1.0, top-k 50 (HF's), --order hf|llama", "T = 0 is greedy"},
    };
    for (size_t i = 0; i < sizeof rows2 / sizeof rows2[0]; i++) {
        size_t r = walk_table_row(t2, WALK_PLAIN);
        for (size_t c = 0; c < 3; c++) walk_table_set(t2, r, c, "%s", rows2[i][c]);
    }
    walk_table_emit(&d->out, t2);
    walk_table_free(t2);
    walk_note(&d->out,
              "Temperature for sampling is a style choice. Temperature for calibration is "
              "different: one T fitted on held-out data so that confidence matches accuracy "
              "(Guo et al. 2017) - see 'tempscale calibrate'.");
    return TS_EXIT_OK;
}

static bool make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return true;
    ts_cli_error("--out-dir %s: %s", dir, strerror(errno));
    return false;
}

int ts_cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"seed", required_argument, NULL, 's'},
        {"html", required_argument, NULL, 'H'},  {"out-dir", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    demo d;
    memset(&d, 0, sizeof d);
    const char *html = NULL, *out_dir = NULL;
    bool have_seed = false;
    uint64_t seed = 0;
    optind = 0;
    opterr = 0; /* our own one-line message below */
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'm': d.model_arg = optarg; break;
        case 's':
            if (!ts_cli_parse_u64("seed", optarg, &seed)) return TS_EXIT_USAGE;
            have_seed = true;
            break;
        case 'H': html = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'h': usage(stdout); return TS_EXIT_OK;
        default: return ts_cli_bad_option("demo", argv);
        }
    }
    if (optind < argc) return ts_cli_error("demo: unexpected argument '%s'", argv[optind]);
    if (html && !ts_cli_check_output("html", html, false)) return TS_EXIT_USAGE;
    if (out_dir) {
        if (!make_dir(out_dir)) return TS_EXIT_USAGE;
        snprintf(d.dir, sizeof d.dir, "%s", out_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(d.dir, sizeof d.dir, "%s/tempscale-demo-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(d.dir)) return ts_cli_error("cannot create a temporary directory: %s", strerror(errno));
        d.tmp_dir = true;
    }
    d.ext = html ? ".svg" : ".png";
    if (d.model_arg) {
        char q[4096];
        snprintf(d.model_flag, sizeof d.model_flag, " --model %s", shq(d.model_arg, q, sizeof q));
    }
    int rc = TS_EXIT_USAGE;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (!walk_model_open(&d.m, d.model_arg)) goto out;
    rc = walk_prompt_ids(&d.m, WALK_DEFAULT_PROMPT, NULL, 40, &ids, &n_ids);
    if (rc != TS_EXIT_OK) goto out;
    d.seed = walk_seed(have_seed, seed);
    d.out.f = stdout;
    d.out.color = ts_cli_use_color(stdout);
    if (html) {
        d.out.report = ts_report_new("The temperature walkthrough");
        if (!d.out.report) {
            rc = ts_cli_error("out of memory");
            goto out;
        }
        char intro[9000];
        snprintf(intro, sizeof intro,
                 "Every step of the temperature notebook, run by tempscale %s on %s with seed "
                 "%llu. Each section shows the command that reproduces it; the whole report "
                 "comes from: tempscale demo%s --seed %llu --html FILE",
                 TS_VERSION, d.model_arg ? d.model_arg : "the bundled tiny-shakespeare GPT-2",
                 (unsigned long long)d.seed, d.model_flag, (unsigned long long)d.seed);
        ts_report_paragraph(d.out.report, intro);
    }
    /* The banner is for the terminal; the report has its own title and intro. */
    ts_report *report = d.out.report;
    d.out.report = NULL;
    walk_printf(&d.out, WALK_BOLD, "tempscale demo: the temperature walkthrough\n");
    walk_printf(&d.out, WALK_DIM, "model: %s (%d layers, %d wide, %zu tokens, %d context); seed %llu\n",
                d.model_arg ? d.model_arg : "bundled tiny-shakespeare", (int)d.m.info->n_layer,
                (int)d.m.info->n_embd, d.m.n_vocab, (int)d.m.info->n_positions,
                (unsigned long long)d.seed);
    d.out.report = report;
    if ((rc = section_math(&d)) != TS_EXIT_OK) goto out;
    if ((rc = section_tokenize(&d, ids, n_ids)) != TS_EXIT_OK) goto out;
    if ((rc = section_generate(&d, ids, n_ids)) != TS_EXIT_OK) goto out;
    if ((rc = section_top(&d, ids, n_ids)) != TS_EXIT_OK) goto out;
    if ((rc = section_sample(&d, ids, n_ids)) != TS_EXIT_OK) goto out;
    if ((rc = section_sweep(&d, ids, n_ids)) != TS_EXIT_OK) goto out;
    if ((rc = section_entropy(&d, ids, n_ids)) != TS_EXIT_OK) goto out;
    if ((rc = section_grid(&d)) != TS_EXIT_OK) goto out;
    if ((rc = section_guidance(&d)) != TS_EXIT_OK) goto out;
    if (html) {
        char err[TS_ERR_SIZE] = "";
        if (ts_report_write(d.out.report, html, err, sizeof err) != TS_OK) {
            rc = ts_cli_error("%s", err);
            goto out;
        }
        printf("\nHTML report written to %s\n", html);
    }
    if (out_dir) printf("Figures are in %s/\n", out_dir);
out:
    if (d.tmp_dir) {
        char f[4300];
        snprintf(f, sizeof f, "%s/softmax%s", d.dir, d.ext);
        unlink(f);
        snprintf(f, sizeof f, "%s/sweep%s", d.dir, d.ext);
        unlink(f);
        rmdir(d.dir);
    }
    ts_report_free(d.out.report);
    free(ids);
    walk_model_close(&d.m);
    return rc;
}
