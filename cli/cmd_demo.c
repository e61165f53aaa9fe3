/*
 * cmd_demo.c — `tempscale demo`: the whole temperature walkthrough in order.
 * Each step is a short explanation, the exact command line that reproduces
 * it, and that command's output — produced by running the very same request
 * (the command line is rebuilt from the request's fields, so the two cannot
 * drift; tests/test_cli_walk.py runs every shown command and compares).
 * --html writes the same document as one self-contained report.
 */
#include "cli.h"

#include <errno.h>
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
            "distribution at seven temperatures, entropy, several domains side by side, what\n"
            "temperature does to text (measured), and which temperature to use for what. Every "
            "step shows the command that reproduces\n"
            "it, followed by that command's output.\n"
            "\n"
            "Options:\n"
            "  --model DIR     run everything on another checkpoint (e.g. a distilgpt2 directory)\n"
            "  --seed S        random seed for every sampling step (default: random, printed)\n"
            "  --html FILE     also write a self-contained HTML report (tables, figures inline)\n"
            "  --out-dir DIR   where the figures go (default: a temporary directory, removed\n"
            "                  after the run unless given)\n"
            "  -h, --help      this help\n"
            "\n"
            "Examples:\n"
            "  tempscale demo\n"
            "  tempscale demo --seed 42 --html walkthrough.html --out-dir figures\n");
}

typedef struct demo {
    ts_session *session;
    ts_doc *doc;
    ts_term term;
    char seed[32];
    char *model_flag; /* " --model 'DIR'" or "" */
    char dir[4096];   /* figures */
    bool tmp_dir;
    const char *ext; /* ".svg" for the HTML report, else ".png" */
} demo;

/* A request of `analysis` with fields set from name/value pairs (NULL-terminated). */
static ts_request *make(const char *analysis, const char *const *kv)
{
    ts_request *r = NULL;
    char err[TS_ERR_SIZE] = "";
    if (ts_request_new(ts_analysis_find(analysis), &r, err, sizeof err) != TS_OK) return NULL;
    for (size_t i = 0; kv && kv[i]; i += 2)
        if (ts_request_set(r, kv[i], kv[i + 1], err, sizeof err) != TS_OK) {
            ts_cli_error("demo: %s", err); /* a bug in this file */
            ts_request_free(r);
            return NULL;
        }
    return r;
}

/*
 * Show the command that reproduces r, then run it with its output rendered
 * into the document (live). plot: the figure's file name, or NULL.
 */
static int show(demo *d, ts_request *r, const char *plot, const char *const *captions)
{
    if (!r) return TS_EXIT_FAIL;
    char extra[4400] = "", path[4400] = "";
    snprintf(extra, sizeof extra, "%s%s%s", d->model_flag, plot ? " --plot " : "",
             plot ? plot : "");
    if (plot) snprintf(path, sizeof path, "%s/%s", d->dir, plot);
    char *cmd = ts_request_command_line(r, extra);
    int rc = TS_EXIT_OK;
    if (!cmd) {
        ts_request_free(r);
        return ts_cli_error("out of memory"), TS_EXIT_FAIL;
    }
    ts_doc_command(d->doc, cmd);
    free(cmd);
    char err[TS_ERR_SIZE] = "", msg[TS_ERR_SIZE + 64];
    ts_run_opts ro = {NULL, NULL, d->doc, -1};
    ts_result *res = NULL;
    ts_status st = ts_request_run(r, d->session, &ro, &res, err, sizeof err);
    if (st == TS_OK) st = ts_result_doc(res, d->doc, true);
    /* Every figure: the first at plot, figure i at plot with "-<name>" (as the CLI does). */
    size_t n_fig = plot && st == TS_OK ? ts_result_n_figures(res) : 0;
    char(*paths)[4400] = n_fig ? calloc(n_fig, sizeof *paths) : NULL;
    if (n_fig && !paths) st = TS_ERR_NOMEM;
    for (size_t i = 0; st == TS_OK && i < n_fig; i++) {
        const char *dot = strrchr(path, '.');
        if (i == 0)
            snprintf(paths[i], sizeof paths[i], "%s", path);
        else
            snprintf(paths[i], sizeof paths[i], "%.*s-%s%s", (int)(dot - path), path,
                     ts_result_figure_name(res, i), dot);
        st = ts_result_plot_figure(res, i, paths[i], err, sizeof err);
    }
    if (st != TS_OK) {
        ts_cli_field_message(ts_request_analysis(r), err, msg, sizeof msg);
        ts_cli_error("%s", msg[0] ? msg : ts_status_str(st));
        rc = ts_cli_exit_code(st);
    } else {
        for (size_t i = 0; i < ts_result_n_warnings(res); i++)
            ts_cli_warn("%s", ts_result_warning(res, i));
        for (size_t i = 0; i < n_fig; i++)
            ts_doc_figure(d->doc, paths[i], captions[i]);
    }
    free(paths);
    ts_result_free(res);
    ts_request_free(r);
    return rc;
}

static void section(demo *d, const char *title, const char *note)
{
    ts_doc_section(d->doc, title);
    ts_doc_note(d->doc, note);
}

static int section_math(demo *d)
{
    section(d, "1. The math: temperature divides the logits",
            "A language model outputs one logit z_i per token of its vocabulary. Sampling "
            "turns them into probabilities with the temperature softmax p_i = exp(z_i / T) / "
            "sum_j exp(z_j / T). T = 1 is the distribution the model was trained to produce. "
            "T < 1 sharpens it (T -> 0 is greedy argmax: always the top token); T > 1 flattens "
            "it (T -> infinity is uniform). Temperature never changes the ranking of tokens, "
            "only how far apart their probabilities are. The entropy H = -sum p_i log p_i "
            "measures the spread: 0 for a certain choice, log V for uniform over V tokens.");
    char plot[32];
    snprintf(plot, sizeof plot, "softmax%s", d->ext);
    static const char *const cap[] = {
        "The same five logits at five temperatures: low T concentrates, high T flattens."};
    return show(d, make("softmax", NULL), plot, cap);
}

static int section_tokenize(demo *d)
{
    section(d, "2. Tokenize: text becomes token ids",
            "GPT-2 reads byte-level BPE tokens, not characters or words: frequent words are one "
            "token (with their leading space), rare ones are split. The model predicts a "
            "distribution over the next token id.");
    static const char *const kv[] = {"text", "In the future, AI will", NULL};
    return show(d, make("tokenize", kv), NULL, NULL);
}

static int section_generate(demo *d)
{
    section(d, "3. Low-temperature generation",
            "At T = 0 the model always takes its most likely token (greedy decoding); at low T "
            "it almost always does. The text is fluent but tends to loop: a small model "
            "especially falls into repeating its most probable phrase.");
    static const char *const temps[2] = {"0", "0.3"};
    for (int i = 0; i < 2; i++) {
        const char *kv[] = {"prompt",
                            "In the future, AI will",
                            "temperature",
                            temps[i],
                            "max_new_tokens",
                            "40",
                            "seed",
                            d->seed,
                            NULL};
        int rc = show(d, make("generate", kv), NULL, NULL);
        if (rc != TS_EXIT_OK) return rc;
    }
    return TS_EXIT_OK;
}

static int section_top(demo *d)
{
    section(d, "4. The model's top 10 next tokens",
            "One forward pass gives the logits for the next token. 'prob' is over the whole "
            "vocabulary; 'prob in top-k' renormalises within the ten shown, which is what "
            "top-k sampling with k = 10 would draw from.");
    static const char *const kv[] = {"prompt", "In the future, AI will", "k", "10", NULL};
    return show(d, make("top", kv), NULL, NULL);
}

static int section_sample(demo *d)
{
    section(d, "5. Sampling: drawing from the distribution",
            "Sampling draws a token at random with these probabilities, so likely tokens come "
            "up often and unlikely ones sometimes. Over 100 draws the counts track the "
            "expected counts; the chi-square test checks that the sampler is faithful.");
    const char *kv[] = {"prompt", "In the future, AI will", "k", "10", "n", "100", "seed", d->seed,
                        NULL};
    return show(d, make("sample", kv), NULL, NULL);
}

static int section_sweep(demo *d)
{
    section(d, "6. Temperature comparison: one distribution, seven temperatures",
            "The same logits at seven temperatures (one forward pass: temperature is applied "
            "after the model). At T = 0.01 the top token takes everything; at T = 100 the top "
            "ten are nearly equal and the distribution is almost uniform over the whole "
            "vocabulary.");
    static const char *const kv[] = {
        "prompt", "In the future, AI will", "temperatures", "0.01,0.1,0.5,1,2,5,100", "k", "10",
        NULL};
    char plot[32];
    snprintf(plot, sizeof plot, "sweep%s", d->ext);
    static const char *const cap[] = {
        "Left: top-10 probabilities (renormalised) per temperature. Right: entropy of the "
        "full distribution against T, with T = 1 and the uniform ceiling log V marked."};
    return show(d, make("sweep", kv), plot, cap);
}

static int section_entropy(demo *d)
{
    section(d, "7. Entropy analysis: choosing T by the spread you want",
            "Entropy rises monotonically with T, so a target entropy fixes a temperature: "
            "exp(H) is the number of equally likely tokens the distribution is worth. Solving "
            "for T per step is the idea behind entropy-targeting samplers (e.g. Mirostat).");
    static const char *const kv[] = {"prompt",
                                     "In the future, AI will",
                                     "temperatures",
                                     "1",
                                     "target_entropy",
                                     "0.1,0.5,1,2,3,4,6",
                                     "k",
                                     "5",
                                     NULL};
    return show(d, make("sweep", kv), NULL, NULL);
}

static int section_grid(demo *d)
{
    section(d, "8. The domain grid: prompts x temperatures x samples",
            "Three domains at three temperatures. The columns are coupled: every temperature "
            "uses the same random numbers (Gumbel-max with shared noise), so differences come "
            "from temperature alone; each prompt has its own noise. '|' marks where a sample "
            "leaves the greedy text: low T stays on it longer, high T leaves at once and drifts "
            "into noise.");
    const char *kv[] = {"temperatures",   "0.3,1,2", "samples", "2",
                        "max_new_tokens", "15",      "coupled", "true",
                        "seed",           d->seed,   NULL};
    return show(d, make("compare", kv), NULL, NULL);
}

static int section_text(demo *d)
{
    section(d, "9. What temperature does to text",
            "Temperature trades quality for diversity, and this can be measured. Eight samples "
            "per temperature: distinct-n counts unique n-grams (diversity), self-BLEU how alike "
            "the samples are, and the NLL under the model at T = 1 how probable the model itself "
            "finds them (lower = more fluent; Caccia et al. 2020). The frontier plots one "
            "against the other; coupled samples show how long each temperature stays on the "
            "greedy text. docs/science.md defines every measure.");
    const char *kv[] = {
        "prompt", "ROMEO:",  "temperatures", "0,0.3,0.7,1,1.5", "samples", "8",    "max_new_tokens",
        "20",     "coupled", "true",         "bootstrap",       "200",     "seed", d->seed,
        NULL};
    static const char *const cap[] = {
        "The quality-diversity frontier: one point per temperature (95 % intervals).",
        "Every measure against temperature.",
        "Coupled samples: the share still equal to the greedy text after k tokens."};
    char plot[32];
    snprintf(plot, sizeof plot, "diversity%s", d->ext);
    return show(d, make("diversity", kv), plot, cap);
}

static void table_rows(demo *d, const char *title, const char *const *headers,
                       const char *const (*rows)[3], size_t n)
{
    ts_doc_table *t = ts_doc_table_new(3, headers);
    if (t) ts_doc_table_title(t, title);
    for (size_t i = 0; t && i < n; i++) {
        size_t r = ts_doc_table_row(t, TS_STYLE_PLAIN);
        for (size_t c = 0; c < 3; c++)
            ts_doc_table_set(t, r, c, "%s", rows[i][c]);
    }
    ts_doc_add_table(d->doc, t);
}

static int section_guidance(demo *d)
{
    section(d, "10. Practical guidance: which temperature for what",
            "Temperature is a dial between reliability and variety. Rough starting points "
            "(tune on your own model and task; truncation such as top-p or min-p keeps higher "
            "temperatures from reaching the incoherent tail):");
    static const char *const h1[] = {"task", "temperature", "why"};
    static const char *const rows[][3] = {
        {"exact answers, code, extraction, math", "0 (greedy) - 0.2",
         "one right answer; variety is error"},
        {"chat, summaries, explanations", "0.5 - 0.8", "natural wording, still on topic"},
        {"stories, brainstorming, poetry", "0.8 - 1.1 + top-p/min-p",
         "variety matters; truncation guards the tail"},
        {"sampling the model as trained", "1.0, no truncation",
         "the model's own distribution (evaluation, data)"},
        {"diversity probes, red teaming", "> 1.2 with min-p",
         "deliberately unlikely continuations"},
    };
    table_rows(d, "Starting points", h1, rows, sizeof rows / sizeof rows[0]);
    static const char *const h2[] = {"library", "default when sampling", "note"};
    static const char *const rows2[][3] = {
        {"Hugging Face transformers generate()", "T = 1.0, top-k 50, top-p 1.0",
         "GenerationConfig; do_sample=False (greedy) unless asked"},
        {"llama.cpp (common sampling params)", "T = 0.8, top-k 40, top-p 0.95, min-p 0.05",
         "truncation first, temperature last"},
        {"tempscale generate", "T = 1.0, top-k 50 (HF's), --order hf|llama", "T = 0 is greedy"},
    };
    table_rows(d, "What popular tools do by default", h2, rows2, sizeof rows2 / sizeof rows2[0]);
    ts_doc_note(d->doc,
                "Temperature for sampling is a style choice. Temperature for calibration is "
                "different: one T fitted on held-out data so that confidence matches accuracy "
                "(Guo et al. 2017) - see 'tempscale calibrate'.");
    return ts_doc_ok(d->doc) ? TS_EXIT_OK : TS_EXIT_FAIL;
}

static int section_references(demo *d)
{
    ts_doc_section(d->doc, "References");
    static const char *const refs[] = {
        "Guo, Pleiss, Sun, Weinberger (2017). On Calibration of Modern Neural Networks. ICML. "
        "- temperature scaling, ECE, reliability diagrams.",
        "Hinton, Vinyals, Dean (2015). Distilling the Knowledge in a Neural Network. "
        "arXiv:1503.02531. - softmax with a temperature.",
        "Holtzman, Buys, Du, Forbes, Choi (2020). The Curious Case of Neural Text "
        "Degeneration. ICLR. - nucleus (top-p) sampling; why greedy text loops.",
        "Fan, Lewis, Dauphin (2018). Hierarchical Neural Story Generation. ACL. - top-k "
        "sampling.",
        "Basu, Ramachandran, Keskar, Varshney (2020). Mirostat: A Neural Text Decoding "
        "Algorithm that Directly Controls Perplexity. ICLR 2021. - entropy / surprisal "
        "targeting.",
        "Meister, Pimentel, Wiher, Cotterell (2023). Locally Typical Sampling. TACL. - "
        "typical-p.",
        "Nguyen, Baker, Neo, Roush, Kirsch, Shwartz-Ziv (2024). Turning Up the Heat: Min-p "
        "Sampling for Creative and Coherent LLM Outputs. arXiv:2407.01082. - min-p.",
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        char line[512];
        snprintf(line, sizeof line, "[%zu] %s", i + 1, refs[i]);
        ts_doc_note(d->doc, line);
    }
    return ts_doc_ok(d->doc) ? TS_EXIT_OK : TS_EXIT_FAIL;
}

static bool make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0) return true;
        ts_cli_error("option --out-dir: %s is not a writable directory", dir);
        return false;
    }
    ts_cli_error("option --out-dir: %s: %s", dir, strerror(errno));
    return false;
}

int ts_cmd_demo(int argc, char **argv)
{
    const char *html = NULL, *out_dir = NULL, *model_arg = NULL, *seed_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        const char *name = a + 2, *eq = strchr(a, '=');
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return TS_EXIT_OK;
        }
        if (strncmp(a, "--", 2) != 0)
            return a[0] == '-' ? ts_cli_error("demo: unrecognized option '%s' (see 'tempscale "
                                              "help demo')",
                                              a)
                               : ts_cli_error("demo: unexpected argument '%s'", a);
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl == 5 && strncmp(name, "model", 5) == 0)
            slot = &model_arg;
        else if (nl == 4 && strncmp(name, "seed", 4) == 0)
            slot = &seed_arg;
        else if (nl == 4 && strncmp(name, "html", 4) == 0)
            slot = &html;
        else if (nl == 7 && strncmp(name, "out-dir", 7) == 0)
            slot = &out_dir;
        else
            return ts_cli_error("demo: unrecognized option '--%.*s' (see 'tempscale help demo')",
                                (int)nl, name);
        if (*slot) return ts_cli_error("option --%.*s: given twice", (int)nl, name);
        if (eq)
            *slot = eq + 1;
        else if (i + 1 < argc)
            *slot = argv[++i];
        else
            return ts_cli_error("demo: option '--%.*s' needs a value (see 'tempscale help demo')",
                                (int)nl, name);
    }
    uint64_t seed = 0;
    if (seed_arg && !ts_cli_parse_u64("seed", seed_arg, &seed)) return TS_EXIT_USAGE;
    if (html && !ts_cli_check_output("html", html, false)) return TS_EXIT_USAGE;
    demo d;
    memset(&d, 0, sizeof d);
    if (out_dir) {
        if (!make_dir(out_dir)) return TS_EXIT_USAGE;
        snprintf(d.dir, sizeof d.dir, "%s", out_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(d.dir, sizeof d.dir, "%s/tempscale-demo-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(d.dir))
            return ts_cli_error("cannot create a temporary directory: %s", strerror(errno));
        d.tmp_dir = true;
    }
    d.ext = html ? ".svg" : ".png";
    int rc = TS_EXIT_USAGE;
    char dir[4096], err[TS_ERR_SIZE] = "";
    ts_cli_buf flag = {0};
    ts_cli_buf_put(&flag, "", 0);
    if (model_arg) {
        /* The model as the user gave it, shell-quoted, in every shown command. */
        ts_cli_buf_put(&flag, " --model '", 10);
        for (const char *p = model_arg; *p; p++)
            ts_cli_buf_put(&flag, *p == '\'' ? "'\\''" : p, *p == '\'' ? 4 : 1);
        ts_cli_buf_put(&flag, "'", 1);
    }
    d.model_flag = flag.p;
    if (!d.model_flag) goto out;
    if (!ts_cli_resolve_model(model_arg, dir, sizeof dir)) goto out;
    ts_session_params sp = ts_session_default_params();
    sp.model_dir = dir;
    ts_status st = ts_session_open(&sp, &d.session, err, sizeof err);
    if (st != TS_OK) {
        ts_cli_error("%s", err);
        rc = ts_cli_exit_code(st);
        goto out;
    }
    if (!seed_arg) {
        ts_request *tmp = make("sample", NULL);
        if (tmp) ts_request_ensure_seed(tmp, &seed);
        ts_request_free(tmp);
        fprintf(stderr, "tempscale: seed %llu (pass --seed %llu to repeat this run)\n",
                (unsigned long long)seed, (unsigned long long)seed);
    }
    snprintf(d.seed, sizeof d.seed, "%llu", (unsigned long long)seed);
    d.doc = ts_doc_new();
    if (!d.doc) goto out;
    d.term = (ts_term){stdout, ts_cli_use_color(stdout), !d.tmp_dir};
    ts_doc_set_keep(d.doc, html != NULL);
    ts_doc_set_listener(d.doc, ts_term_block, &d.term);
    const ts_model_info *info = ts_model_get_info(ts_session_model(d.session));
    /* The banner is for the terminal; the report has its own title and intro. */
    ts_term_block(&(ts_doc_block){TS_DOC_TEXT, TS_STYLE_BOLD,
                                  "tempscale demo: the temperature walkthrough\n", 44, NULL, NULL},
                  &d.term);
    fprintf(stdout, "%smodel: %s (%d layers, %d wide, %d tokens, %d context); seed %llu%s\n",
            d.term.color ? "\033[2m" : "", model_arg ? model_arg : "bundled tiny-shakespeare",
            (int)info->n_layer, (int)info->n_embd, (int)info->n_vocab, (int)info->n_positions,
            (unsigned long long)seed, d.term.color ? "\033[0m" : "");
    int (*const steps[])(demo *) = {section_math,     section_tokenize,  section_generate,
                                    section_top,      section_sample,    section_sweep,
                                    section_entropy,  section_grid,      section_text,
                                    section_guidance, section_references};
    rc = TS_EXIT_OK;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0] && rc == TS_EXIT_OK; i++)
        rc = steps[i](&d);
    if (rc == TS_EXIT_OK && !ts_doc_ok(d.doc)) {
        ts_cli_error("out of memory");
        rc = TS_EXIT_FAIL;
    }
    if (rc == TS_EXIT_OK && html) {
        char intro[9000];
        snprintf(intro, sizeof intro,
                 "Every step of the temperature notebook, run by tempscale %s on %s with seed "
                 "%llu. Each section shows the command that reproduces it, followed by its "
                 "output; the whole report comes from: tempscale demo%s --seed %llu --html FILE",
                 TS_VERSION, model_arg ? model_arg : "the bundled tiny-shakespeare GPT-2",
                 (unsigned long long)seed, d.model_flag, (unsigned long long)seed);
        st =
            ts_report_write_doc(d.doc, "The temperature walkthrough", intro, html, err, sizeof err);
        if (st != TS_OK) {
            ts_cli_error("option --html: %s", err);
            rc = ts_cli_exit_code(st);
        } else {
            fprintf(stderr, "tempscale: wrote %s\n", html);
        }
    }
    if (rc == TS_EXIT_OK && out_dir) fprintf(stderr, "tempscale: figures are in %s/\n", out_dir);
out:
    if (d.tmp_dir) {
        static const char *const names[] = {"softmax", "sweep", "diversity", "diversity-metrics",
                                            "diversity-divergence"};
        for (size_t i = 0; i < 5; i++) {
            char f[4300];
            snprintf(f, sizeof f, "%s/%s%s", d.dir, names[i], d.ext);
            unlink(f);
        }
        rmdir(d.dir);
    }
    ts_doc_free(d.doc);
    ts_session_free(d.session);
    free(d.model_flag);
    return rc;
}
