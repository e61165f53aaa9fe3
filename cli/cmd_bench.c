/*
 * cmd_bench.c — `tempscale bench`: load time, prefill and decode speed of a
 * model, median of several runs, for each thread count asked.
 *
 * Method (docs/engine.md): the prompt is P pseudo-random token ids (fixed
 * seed); prefill = one ts_model_eval of all P tokens into an empty context;
 * decode = G single-token evals, each feeding back the argmax of the previous
 * logits (greedy, so the argmax over 50,257 logits is included, as in real
 * generation). Each thread count gets its own context and a warm-up pass.
 * Load = ts_model_load (mmap + header validation + tokenizer), warm page cache.
 */
#include "cli.h"
#include "internal.h" /* ts_kernels_isa: which SIMD path the kernels take */

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: tempscale bench [--model DIR] [--threads 1,2] [--prompt-tokens 128]\n"
               "                       [--gen-tokens 128] [--runs 5] [--json]\n"
               "\n"
               "Measure how fast the engine loads a model, reads a prompt (prefill: the whole\n"
               "prompt in one batched pass) and generates (decode: one token at a time with the\n"
               "KV cache), at each thread count. Each figure is the median of --runs runs.\n"
               "The prompt is pseudo-random token ids; decode feeds back the argmax (greedy).\n"
               "Close other work first: decode speed is bound by memory bandwidth and the\n"
               "numbers are only as quiet as the machine (the load average is printed).\n"
               "\n"
               "Options:\n"
               "  --model DIR          model directory or name (default: the bundled model).\n"
               "                       A distilgpt2-shaped one: tools/make_bench_checkpoint.py\n"
               "  --threads LIST       thread counts to measure, comma-separated (default: 1 and\n"
               "                       every online core, e.g. 1,2)\n"
               "  --prompt-tokens N    prompt length for prefill (default 128)\n"
               "  --gen-tokens N       tokens generated for decode (default 128)\n"
               "  --runs N             runs per figure; the median is reported (default 5)\n"
               "  --json               one JSON object with every run's numbers\n"
               "  -h, --help           this help\n"
               "\n"
               "Example:\n"
               "  /usr/bin/python3 tools/make_bench_checkpoint.py /tmp/bench-f16 --dtype F16\n"
               "  tempscale bench --model /tmp/bench-f16 --threads 1,2 --runs 5\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
    double s[64];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

typedef struct bench_result {
    int threads;
    double prefill[64], decode[64]; /* tok/s per run */
} bench_result;

/* One thread count: a context, a warm-up, then `runs` prefill + decode runs. */
static bool bench_threads(ts_model *model, int threads, const int32_t *prompt, size_t P, size_t G,
                          size_t runs, bench_result *r)
{
    char err[TS_ERR_SIZE] = "";
    ts_context_params cp = ts_context_default_params();
    cp.n_threads = threads;
    ts_context *ctx = NULL;
    if (ts_context_new(model, &cp, &ctx, err, sizeof err) != TS_OK) {
        ts_cli_error("%s", err);
        return false;
    }
    const size_t V = (size_t)ts_model_get_info(model)->n_vocab;
    r->threads = threads;
    bool ok = true;
    for (size_t run = 0; ok && run <= runs; run++) { /* run 0 is the warm-up */
        ts_context_truncate(ctx, 0);
        double t0 = now_s();
        ok = ts_model_eval(ctx, prompt, P, err, sizeof err) == TS_OK;
        double t1 = now_s();
        int32_t tok = (int32_t)ts_argmax(ts_context_logits(ctx), V);
        for (size_t g = 0; ok && g < G; g++) {
            ok = ts_model_eval(ctx, &tok, 1, err, sizeof err) == TS_OK;
            tok = (int32_t)ts_argmax(ts_context_logits(ctx), V);
        }
        double t2 = now_s();
        if (run > 0) {
            r->prefill[run - 1] = (double)P / (t1 - t0);
            r->decode[run - 1] = (double)G / (t2 - t1);
        }
    }
    if (!ok) ts_cli_error("%s", err);
    ts_context_free(ctx);
    return ok;
}

int ts_cmd_bench(int argc, char **argv)
{
    const char *model_arg = NULL, *threads_arg = NULL;
    long P = 128, G = 128, runs = 5;
    bool json = false;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},
        {"threads", required_argument, 0, 't'},
        {"prompt-tokens", required_argument, 0, 'p'},
        {"gen-tokens", required_argument, 0, 'g'},
        {"runs", required_argument, 0, 'r'},
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 0;
    opterr = 0; /* ts_cli_bad_option's one line instead */
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_arg = optarg;
            break;
        case 't':
            threads_arg = optarg;
            break;
        case 'p':
            if (!ts_cli_parse_long("prompt-tokens", optarg, 1, 1 << 20, &P)) return TS_EXIT_USAGE;
            break;
        case 'g':
            if (!ts_cli_parse_long("gen-tokens", optarg, 0, 1 << 20, &G)) return TS_EXIT_USAGE;
            break;
        case 'r':
            if (!ts_cli_parse_long("runs", optarg, 1, 64, &runs)) return TS_EXIT_USAGE;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return TS_EXIT_OK;
        default:
            return ts_cli_bad_option("bench", argv);
        }
    }
    if (optind < argc)
        return ts_cli_error("bench: unexpected argument '%s' (see 'tempscale help bench')",
                            argv[optind]);

    int32_t *threads = NULL;
    size_t n_threads = 0;
    if (threads_arg) {
        if (!ts_cli_parse_id_list("threads", threads_arg, &threads, &n_threads))
            return TS_EXIT_USAGE;
        for (size_t i = 0; i < n_threads; i++)
            if (threads[i] < 1 || threads[i] > 256) {
                int bad = (int)threads[i];
                free(threads);
                return ts_cli_error("option --threads: %d is out of range [1, 256]", bad);
            }
    } else {
        threads = malloc(2 * sizeof *threads);
        if (!threads) return ts_cli_error("out of memory");
        threads[n_threads++] = 1;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (cores > 1) threads[n_threads++] = (int32_t)cores;
    }

    char dir[4096];
    if (!ts_cli_resolve_model(model_arg, dir, sizeof dir)) {
        free(threads);
        return TS_EXIT_USAGE;
    }
    /* Load: median of `runs` loads; the last one is kept for the speed runs. */
    double load_s[64];
    ts_model *model = NULL;
    for (long i = 0; i < runs; i++) {
        char err[TS_ERR_SIZE] = "";
        ts_model_free(model);
        model = NULL;
        ts_model_params mp = ts_model_default_params();
        double t0 = now_s();
        ts_status st = ts_model_load(dir, &mp, &model, err, sizeof err);
        load_s[i] = now_s() - t0;
        if (st != TS_OK) {
            free(threads);
            return ts_cli_error("%s", err[0] ? err : ts_status_str(st));
        }
    }
    const ts_model_info *info = ts_model_get_info(model);
    if (P + G > info->n_positions) {
        int n_pos = (int)info->n_positions;
        ts_model_free(model);
        free(threads);
        return ts_cli_error("--prompt-tokens %ld + --gen-tokens %ld exceed the model's context of "
                            "%d positions",
                            P, G, n_pos);
    }
    int32_t *prompt = malloc((size_t)P * sizeof *prompt);
    bench_result *res = calloc(n_threads, sizeof *res);
    if (!prompt || !res) {
        free(prompt);
        free(res);
        free(threads);
        ts_model_free(model);
        return ts_cli_error("out of memory");
    }
    ts_rng rng;
    ts_rng_seed(&rng, 42);
    for (long i = 0; i < P; i++)
        prompt[i] = (int32_t)(ts_rng_u32(&rng) % (uint32_t)info->n_vocab);

    double load0[3] = {0, 0, 0};
    if (getloadavg(load0, 3) < 0) load0[0] = -1;
    int rc = TS_EXIT_OK;
    for (size_t i = 0; i < n_threads; i++) {
        if (!bench_threads(model, threads[i], prompt, (size_t)P, (size_t)G, (size_t)runs,
                           &res[i])) {
            rc = TS_EXIT_FAIL;
            break;
        }
    }
    double load1[3] = {0, 0, 0};
    if (getloadavg(load1, 3) < 0) load1[0] = -1;

    if (rc == TS_EXIT_OK) {
        double load_ms = median(load_s, (size_t)runs) * 1e3;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", dir);
            cJSON_AddStringToObject(o, "dtype", ts_dtype_name(info->dtype));
            cJSON_AddNumberToObject(o, "n_layer", info->n_layer);
            cJSON_AddNumberToObject(o, "n_embd", info->n_embd);
            cJSON_AddNumberToObject(o, "n_params", (double)info->n_params);
            cJSON_AddStringToObject(o, "kernels", ts_isa_name(ts_kernels_isa()));
            cJSON_AddNumberToObject(o, "load_ms", load_ms);
            cJSON_AddNumberToObject(o, "prompt_tokens", (double)P);
            cJSON_AddNumberToObject(o, "gen_tokens", (double)G);
            cJSON_AddNumberToObject(o, "runs", (double)runs);
            cJSON_AddNumberToObject(o, "loadavg_before", load0[0]);
            cJSON_AddNumberToObject(o, "loadavg_after", load1[0]);
            cJSON *arr = cJSON_AddArrayToObject(o, "results");
            for (size_t i = 0; i < n_threads; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "threads", res[i].threads);
                cJSON_AddNumberToObject(e, "prefill_tok_s", median(res[i].prefill, (size_t)runs));
                cJSON_AddNumberToObject(e, "decode_tok_s", median(res[i].decode, (size_t)runs));
                cJSON_AddItemToObject(e, "prefill_runs",
                                      cJSON_CreateDoubleArray(res[i].prefill, (int)runs));
                cJSON_AddItemToObject(e, "decode_runs",
                                      cJSON_CreateDoubleArray(res[i].decode, (int)runs));
                cJSON_AddItemToArray(arr, e);
            }
            char *s = cJSON_PrintUnformatted(o);
            if (s) puts(s);
            free(s);
            cJSON_Delete(o);
        } else {
            printf("model     %s\n", dir);
            printf("shape     %d layers, n_embd %d, %d heads, %d positions, %d vocab, %s, %.1f M "
                   "params\n",
                   (int)info->n_layer, (int)info->n_embd, (int)info->n_head, (int)info->n_positions,
                   (int)info->n_vocab, ts_dtype_name(info->dtype), (double)info->n_params / 1e6);
            printf("kernels   %s\n", ts_isa_name(ts_kernels_isa()));
            printf("load      %.1f ms (mmap + validation + tokenizer; median of %ld)\n", load_ms,
                   runs);
            printf("machine   load average %.2f before, %.2f after\n\n", load0[0], load1[0]);
            printf("threads   prefill tok/s (%ld-token prompt)   decode tok/s (%ld tokens)\n", P,
                   G);
            for (size_t i = 0; i < n_threads; i++)
                printf("%7d   %28.1f   %21.1f\n", res[i].threads,
                       median(res[i].prefill, (size_t)runs), median(res[i].decode, (size_t)runs));
            printf("\n(median of %ld runs each)\n", runs);
        }
    }
    free(prompt);
    free(res);
    free(threads);
    ts_model_free(model);
    return rc;
}
