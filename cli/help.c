/*
 * help.c — `tempscale help <command>` for the analysis commands: what the
 * command does (prose, here), its options (from the analysis' field table,
 * so names, defaults and JSON keys cannot drift from what the parser takes)
 * and examples. Every example is run by tests/test_cli_examples.py.
 */
#include "cli.h"

#include <string.h>

typedef struct cmd_help {
    const char *name;
    const char *usage; /* after "Usage: tempscale NAME " */
    const char *about;
    const char *notes; /* after the options; may be NULL */
    const char *const examples[6];
} cmd_help;

static const cmd_help helps[] = {
    {"softmax",
     "[--logits LIST] [--temperatures LIST] [options]",
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
     "number of equally likely tokens that would be as uncertain.",
     "Logits are used as float32, as a model emits them; sums are in double. JSON has\n"
     "no infinity: T = inf is the string \"inf\" and a -inf logit the string \"-inf\".",
     {"tempscale softmax",
      "tempscale softmax --logits 3,1,-inf,0 --labels ' the',' a',' cat',' dog' "
      "--temperatures 0,0.7,1,1.5,inf --plot softmax.png",
      "tempscale softmax --json", NULL}},
    {"tokenize",
     "[--model DIR] [--json] [--special] [--file PATH | TEXT...]",
     "Split text into GPT-2 byte-level BPE tokens, exactly as OpenAI's encoder (and\n"
     "Hugging Face's GPT2Tokenizer) do, and show each token's id and piece. Any bytes\n"
     "are accepted (NUL, invalid UTF-8): byte-level BPE can encode every byte string,\n"
     "and decoding the ids gives the input back byte for byte (checked and printed).\n"
     "The text is the arguments (joined with one space), --file PATH ('-' = stdin), or\n"
     "standard input when it is piped. Only the tokenizer files are read, never weights.",
     "In the table a space shows as \xe2\x90\xa3, a newline as \xe2\x86\xb5, a tab as "
     "\xe2\x86\x92, and other control bytes or bytes\n"
     "that are not complete UTF-8 in that token as \\xNN. In --json each token is decoded\n"
     "on its own with errors=\"replace\" (U+FFFD for part of a character), as HF's\n"
     "tokenizer.decode([id]) does; the ids always decode back to the exact input.",
     {"tempscale tokenize \"In the future, AI will\"",
      "tempscale tokenize --json --file prompt.txt", "echo 'Hello world' | tempscale tokenize",
      NULL}},
    {"top",
     "[--model DIR] [PROMPT | --prompt TEXT | --ids 1,2,3] [--k 10] [options]",
     "Run the prompt through the model once and show the k most likely next tokens.\n"
     "'prob' is softmax(logits / T) over the whole vocabulary; 'prob in top-k' is the\n"
     "same renormalised within the k tokens shown (the notebook's column). The entropy\n"
     "line is the full-vocabulary entropy H and exp(H), the 'effective number of choices'.",
     NULL,
     {"tempscale top \"The king is\"", "tempscale top --prompt \"In the future, AI will\" --k 10",
      "tempscale top --prompt ROMEO: --temperature 0.5 --dump-logits logits.npy --json", NULL}},
    {"generate",
     "[--model DIR] [PROMPT | --prompt TEXT | --prompts-file F] [options]",
     "Generate a continuation of the prompt, one token at a time: the logits are divided\n"
     "by T, truncated (top-k, top-p, min-p) and one token is drawn. Text is printed as it\n"
     "is produced and generation stops at <|endoftext|> or at the context window. Low T\n"
     "is safe and repetitive, T = 1 samples the model as trained, high T drifts into\n"
     "noise. Defaults are Hugging Face generate(do_sample=True)'s.",
     NULL,
     {"tempscale generate --prompt \"ROMEO:\" --temperature 0.7 --seed 1",
      "tempscale generate --prompt \"ROMEO:\" --temperature 0 --max-new-tokens 30",
      "echo JULIET: | tempscale generate --top-p 0.9 --seed 2 --max-new-tokens 20",
      "tempscale generate --prompts-file prompts.txt --temperature 0.8 --seed 3 "
      "--max-new-tokens 10",
      NULL}},
    {"sample",
     "[--model DIR] [PROMPT | --prompt TEXT] [--k 10] [--n 100] [options]",
     "Draw n next tokens from the model's distribution, restricted to the k most likely\n"
     "tokens and renormalised, to see sampling at work: frequent tokens come up often,\n"
     "rare ones sometimes. The count table compares each token's count with its expected\n"
     "count n x p, and Pearson's chi-square test says whether the differences are larger\n"
     "than chance (p-value; categories with expected count < 5 are pooled; at T = 0 there\n"
     "is one possible token and the test does not apply).",
     NULL,
     {"tempscale sample --prompt \"In the future, AI will\" --k 10 --n 100 --seed 42",
      "tempscale sample --prompt ROMEO: --k 50257 --n 1000 --rows 15 --seed 1", NULL}},
    {"sweep",
     "[--model DIR] [PROMPT | --prompt TEXT] [--temperatures LIST] [options]",
     "Show how temperature reshapes one next-token distribution: the model runs once and\n"
     "softmax(logits / T) is evaluated at every T. Low T piles the mass onto the top\n"
     "token (entropy -> 0), T = 1 is the model as trained, high T flattens everything\n"
     "towards uniform (entropy -> log V). exp(entropy) reads as 'how many equally likely\n"
     "tokens' the distribution is worth. --target-entropy solves for the T that gives\n"
     "each entropy (entropy rises monotonically with T).",
     NULL,
     {"tempscale sweep --prompt \"In the future, AI will\" --plot sweep.png --target-entropy 2",
      "tempscale sweep --temperatures 1 --target-entropy 0.5,1,2,4 --k 5", NULL}},
    {"compare",
     "[--model DIR] [PROMPT... | --prompt P ... | --prompts-file F] [options]",
     "Generate several samples per prompt at several temperatures, side by side, to see\n"
     "how temperature trades coherence for variety in different domains. Each sample is\n"
     "compared with the greedy (T = 0) continuation: '|' marks where it first diverges.\n"
     "\n"
     "--coupled makes the columns share one random stream (Gumbel-max with noise per\n"
     "step and token id), so samples differ only where temperature makes them differ;\n"
     "at very small T a coupled sample is exactly the greedy text. The noise is shared\n"
     "across temperatures, never across prompts (it is keyed by the prompt).",
     "--prompts-file takes one prompt per line, or JSON Lines {\"prompt\": ..., \"label\": ...};\n"
     "'-' reads standard input (also used when prompts are piped in).",
     {"tempscale compare --temperatures 0.001,0.5,1,2 --samples 2 --coupled --seed 7",
      "tempscale compare \"ROMEO:\" \"JULIET:\" --labels romeo,juliet --samples 1 --seed 1", NULL}},
    {"diversity",
     "[--model DIR] [PROMPT | --prompts-file F] [--temperatures LIST] [options]",
     "Measure what temperature does to the text a model writes. For each temperature\n"
     "(and each truncation setting) it draws --samples continuations of the prompt and\n"
     "reports, with 95 % bootstrap intervals over samples:\n"
     "  diversity  distinct-1/2/3 (unique n-grams / n-grams over all samples; Li et al. 2016)\n"
     "  sameness   self-BLEU-4 of each sample against the others (Zhu et al. 2018) and the\n"
     "             share of repeated 4-grams inside a sample\n"
     "  quality    mean NLL per token under the model at T = 1 (Caccia et al. 2020), the\n"
     "             mean entropy sampled from, and the share that ended with <|endoftext|>\n"
     "--plot FILE draws the quality-diversity frontier (a point per T, a curve per setting),\n"
     "FILE-metrics every measure against T, and with --coupled FILE-divergence: the share\n"
     "of samples still equal to the greedy text after k tokens. The prompt is evaluated\n"
     "once for all temperatures. Default chain: pure sampling (no top-k); --top-p-curves\n"
     "adds a curve per top-p value and --curve SPEC one per set of sampler fields, e.g.\n"
     "--curve 'target_entropy=3' --curve 'mirostat=2;mirostat_tau=4.33' to compare decoding\n"
     "toward an entropy with Mirostat v2 (such curves set their own temperature: use\n"
     "--temperatures 1). docs/science.md defines every measure.",
     NULL,
     {"tempscale diversity --prompt ROMEO: --temperatures 0.3,1,2 --samples 8 --max-new-tokens 16 "
      "--seed 1",
      "tempscale diversity --prompt ROMEO: --temperatures 0,0.5,1,1.5 --samples 8 "
      "--max-new-tokens 16 --top-p-curves 0.9 --coupled --seed 2 --plot frontier.png",
      "tempscale diversity --temperatures 1 --samples 8 --max-new-tokens 24 --curve "
      "'target_entropy=3' --curve 'mirostat=2;mirostat_tau=4.33' --seed 3",
      NULL}},
    {"trace",
     "[--model DIR] [TEXT | --text TEXT | --file F | --generate N] [options]",
     "Follow temperature along a text. For every token, under the model: its surprisal\n"
     "(-log p) and rank, the entropy of the model's next-token distribution at T = 1 and\n"
     "at --temperature, and the smallest T at which the token survives the truncation\n"
     "given (--top-k / --top-p / --min-p) in the HF order. In the llama.cpp order\n"
     "truncation runs at T = 1, so whether a token survives does not depend on T at all.\n"
     "Then the temperature that best explains the whole text (maximum likelihood, with a\n"
     "bootstrap interval): which settings could have produced it. --prompt gives context\n"
     "that is not traced; --generate N traces a continuation drawn here instead.",
     NULL,
     {"tempscale trace \"ROMEO: What light through yonder window breaks?\" --plot trace.png",
      "tempscale trace --prompt ROMEO: --generate 40 --temperature 1.5 --top-p 0.9 --seed 4",
      NULL}},
    {"map",
     "[--model DIR] [PROMPT | --prompt TEXT] [--axis top_p|min_p|top_k] [options]",
     "Truncation x temperature for one next-token distribution: for each temperature and\n"
     "each value of one truncation, what the sampler draws from - how many tokens it keeps,\n"
     "their entropy and the probability mass they hold - in the Hugging Face order\n"
     "(temperature, then truncation) and the llama.cpp order (truncation at T = 1, then\n"
     "temperature), and their difference. The figure shows why the order matters.",
     NULL,
     {"tempscale map --prompt \"In the future, AI will\" --plot map.png",
      "tempscale map --axis min_p --metric support --temperatures 0.5,1,2,4", NULL}},
    {"calibrate",
     "--val FILE [--test FILE] [options] | --text FILE [--model M] [options]",
     "Temperature scaling (Guo et al., \"On Calibration of Modern Neural Networks\", 2017):\n"
     "fit one scalar T* > 0 that minimises the mean negative log-likelihood of\n"
     "softmax(logits / T) on held-out data. Dividing by T never changes the argmax, so\n"
     "accuracy is unchanged; only the confidences become honest. Reports NLL, accuracy,\n"
     "ECE (equal-width bins (lo, hi] on the max-softmax confidence, as gpleiss/\n"
     "temperature_scaling), MCE, adaptive ECE (equal-mass bins) and the Brier score,\n"
     "before (T = 1) and after (T = T*).\n"
     "\n"
     "Classifier logits: a CSV with header label,logit_0,...,logit_{K-1}, or a .npy [N, K]\n"
     "of float logits with .npy integer labels. T* is fitted on VAL only.\n"
     "Language model: --text FILE scores every token of the text once with as much left\n"
     "context as the window allows (HF's perplexity recipe); T* is fitted on the first\n"
     "--fit-until of the scored tokens and reported on the rest (held out).",
     "Probabilities are refused (pass log-probabilities or logits: np.log(p)).",
     {"tempscale calibrate --val val.csv --test test.csv --plot reliability.png",
      "tempscale calibrate --logits val_logits.npy --labels val_labels.npy --json",
      "tempscale calibrate --text tinyshakespeare.txt --from 0.9 --max-tokens 3000 --plot lm.png",
      NULL}},
};
#define N_HELPS (sizeof helps / sizeof helps[0])

static const cmd_help *find_help(const char *name)
{
    for (size_t i = 0; i < N_HELPS; i++)
        if (strcmp(helps[i].name, name) == 0) return &helps[i];
    return NULL;
}

const char *const *ts_cli_examples(const char *command)
{
    const cmd_help *h = find_help(command);
    return h ? h->examples : NULL;
}

/* One option line: "  --name META" padded to 24 columns, then the help. */
static void option_line(FILE *f, const char *name, const char *meta, const char *help,
                        const char *def)
{
    char left[96];
    snprintf(left, sizeof left, "  --%s%s%s", name, meta ? " " : "", meta ? meta : "");
    size_t w = strlen(left);
    fputs(left, f);
    if (w >= 24) {
        fputc('\n', f);
        w = 0;
    }
    for (; w < 24; w++)
        fputc(' ', f);
    fputs(help, f);
    if (def) fprintf(f, " (default %s)", def);
    fputc('\n', f);
}

void ts_cli_analysis_help(const ts_analysis *a, FILE *f)
{
    const char *name = ts_analysis_name(a);
    const cmd_help *h = find_help(name);
    fprintf(f, "Usage: tempscale %s %s\n\n", name, h ? h->usage : "[options]");
    if (h) fprintf(f, "%s\n\n", h->about);
    fprintf(f, "Options:\n");
    if (ts_analysis_needs(a) >= TS_NEEDS_TOKENIZER || strcmp(name, "calibrate") == 0)
        option_line(f, "model", "DIR",
                    "checkpoint directory or Hugging Face repo id (default: the bundled "
                    "tiny-shakespeare)",
                    NULL);
    if (ts_analysis_needs(a) >= TS_NEEDS_TOKENIZER || strcmp(name, "calibrate") == 0)
        option_line(f, "tokenizer", "DIR",
                    "vocab.json + merges.txt from DIR (for a checkpoint without them)", NULL);
    if (ts_analysis_needs(a) == TS_NEEDS_MODEL || strcmp(name, "calibrate") == 0)
        option_line(f, "weights", "TYPE",
                    "stored (as in the file), f32, f16, bf16 or q8_0 (converted at load)",
                    "stored");
    if (ts_analysis_needs(a) == TS_NEEDS_MODEL || strcmp(name, "calibrate") == 0)
        option_line(f, "weights-memory", "MODE",
                    "stored weights: auto (mapped, then copied into huge pages in the background "
                    "when over 32 MiB), mapped or copy",
                    "auto");
    for (size_t i = 0; i < ts_analysis_n_fields(a); i++) {
        const ts_field_info *fi = ts_analysis_field(a, i);
        if (fi->flags & TS_FIELD_HIDDEN) continue;
        char dashed[64];
        size_t k = 0;
        for (; fi->name[k] && k + 1 < sizeof dashed; k++)
            dashed[k] = fi->name[k] == '_' ? '-' : fi->name[k];
        dashed[k] = '\0';
        option_line(f, dashed, fi->metavar, fi->help, fi->def);
    }
    const ts_field_info *pf = ts_analysis_find_field(a, "prompt");
    if (pf && pf->type == TS_FIELD_STRING)
        option_line(f, "prompt-file", "FILE",
                    "read the prompt from FILE ('-' = stdin; one trailing newline dropped)", NULL);
    if (ts_analysis_find_field(a, "prompts") || strcmp(name, "compare") == 0)
        option_line(f, "prompts-file", "FILE",
                    "one prompt per line, or JSON Lines {\"prompt\",\"label\"} ('-' = stdin)",
                    NULL);
    const ts_field_info *tf = ts_analysis_find_field(a, "text");
    bool input_text = tf && tf->type == TS_FIELD_STRING && (tf->flags & TS_FIELD_INPUT);
    if (input_text)
        option_line(f, "file", "PATH", "read the text from PATH as raw bytes ('-' = stdin)", NULL);
    if (strcmp(name, "top") == 0)
        option_line(f, "dump-logits", "FILE", "write the raw logits as a float32 .npy", NULL);
    if (ts_analysis_has_plot(a))
        option_line(f, "plot", "FILE", "also draw the figure (.png, .svg or .pdf)", NULL);
    char json_help[160];
    if (ts_analysis_route(a))
        snprintf(json_help, sizeof json_help,
                 "print the result as one line of JSON (the body POST %s returns)",
                 ts_analysis_route(a));
    else
        snprintf(json_help, sizeof json_help, "print the result as one line of JSON");
    option_line(f, "json", NULL, json_help, NULL);
    option_line(f, "help", NULL, "this help (also -h)", NULL);
    if (input_text)
        fprintf(f, "\nThe text is --text, the arguments (joined with spaces), --file, or standard "
                   "input\nwhen it is piped.\n");
    else if (pf)
        fprintf(f,
                "\nThe prompt is --prompt, the arguments, --prompt-file, or standard input when "
                "it\nis piped (one trailing newline dropped). Without one: \"%s\".\n",
                "In the future, AI will");
    if (h && h->notes) fprintf(f, "\n%s\n", h->notes);
    fprintf(f, "\nExamples:\n");
    for (size_t i = 0; h && i < 6 && h->examples[i]; i++)
        fprintf(f, "  %s\n", h->examples[i]);
}
