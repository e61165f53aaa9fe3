/*
 * cmd_bench.c — `tempscale bench`: load time, prefill and decode speed of a
 * model, median of several runs, for each thread count asked.
 *
 * Method (docs/engine.md): the prompt is P pseudo-random token ids (fixed
 * seed); prefill = one ts_model_eval of all P tokens into an empty context;
 * decode = G single-token evals, each feeding back the argmax of the previous
 * logits (greedy, so the argmax over 50,257 logits is included, as in real
 * generation). Each thread count gets its own context and a warm-up pass.
 * Load = ts_model_load (mmap + header validation + tokenizer, + the conversion
 * of the matrices with --weights), warm page cache. With stored weights the
 * background copy into huge pages (--weights-memory auto/copy) is waited for
 * after the loads, before any timed run, and its completion time reported:
 * the speed figures are the steady state.
 *
 * With --weights other than stored, the fidelity of the converted model against
 * the stored weights (ts_model_fidelity: max |Δlogit|, KL at T = 0.5, 1, 2,
 * top-1 agreement) on held-out TinyShakespeare (the last 10 % of the file) is
 * measured too. --profile adds the per-phase time of a decode step and of a
 * prefill (ts_context_profile).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: tempscale bench [--model DIR] [--threads 1,2] [--prompt-tokens 128]\n"
               "                       [--gen-tokens 128] [--runs 5] [--weights TYPE]\n"
               "                       [--weights-memory MODE] [--profile]\n"
               "                       [--fidelity-text FILE] [--fidelity-positions N] [--json]\n"
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
               "  --weights TYPE       stored (default: the checkpoint in place, mmap'd), or\n"
               "                       f32, f16, bf16, q8_0: convert the matrices at load (timed\n"
               "                       as part of the load) into the decode layout; q8_0 is\n"
               "                       llama.cpp's Q8_0 (docs/engine.md)\n"
               "  --weights-memory MODE  with stored weights: auto (default: read from the\n"
               "                       file mapping, copied into huge pages by a background\n"
               "                       thread when over 32 MiB, same results; the timed\n"
               "                       runs start once it is complete), mapped (the file mapping\n"
               "                       only, as llama.cpp's mmap), copy (always copy)\n"
               "  --profile            also time each phase of a decode step (per token) and\n"
               "                       of a prefill (per prompt)\n"
               "  --fidelity-text FILE with --weights that round (q8_0, or f16/bf16 of an F32\n"
               "                       model): score the converted model against the stored\n"
               "                       one on the last 10%% of FILE (default: the TinyShakespeare\n"
               "                       of ../shared/data when present; 'none' skips it; given\n"
               "                       explicitly, a lossless repack is scored too)\n"
               "  --fidelity-positions N  positions scored (default 1024)\n"
               "  --json               one JSON object with every run's numbers\n"
               "  -h, --help           this help\n"
               "\n"
               "Example:\n"
               "  /usr/bin/python3 tools/make_bench_checkpoint.py /tmp/bench-f16 --dtype F16\n"
               "  tempscale bench --model /tmp/bench-f16 --threads 1,2 --runs 5\n"
               "  tempscale bench --weights q8_0 --profile\n");
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

/* Resident set size of this process in MB (Linux /proc/self/status VmRSS), -1 if unknown. */
static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtod(line + 6, NULL);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

typedef struct bench_result {
    int threads;
    double prefill[64], decode[64]; /* tok/s per run */
    ts_profile prof;                /* decode steps of the timed runs (--profile) */
} bench_result;

/* One thread count: a context, a warm-up, then `runs` prefill + decode runs. */
static bool bench_threads(ts_model *model, int threads, const int32_t *prompt, size_t P, size_t G,
                          size_t runs, bool profile, bench_result *r)
{
    char err[TS_ERR_SIZE] = "";
    ts_context_params cp = ts_context_default_params();
    cp.n_threads = threads;
    cp.profile = profile;
    ts_context *ctx = NULL;
    if (ts_context_new(model, &cp, &ctx, err, sizeof err) != TS_OK) {
        ts_cli_error("%s", err);
        return false;
    }
    const size_t V = (size_t)ts_model_get_info(model)->n_vocab;
    r->threads = threads;
    bool ok = true;
    for (size_t run = 0; ok && run <= runs; run++) { /* run 0 is the warm-up */
        if (run == 1) ts_context_profile_reset(ctx);
        ts_context_truncate(ctx, 0);
        double t0 = ts_seconds();
        ok = ts_model_eval(ctx, prompt, P, err, sizeof err) == TS_OK;
        double t1 = ts_seconds();
        int32_t tok = (int32_t)ts_argmax(ts_context_logits(ctx), V);
        for (size_t g = 0; ok && g < G; g++) {
            ok = ts_model_eval(ctx, &tok, 1, err, sizeof err) == TS_OK;
            tok = (int32_t)ts_argmax(ts_context_logits(ctx), V);
        }
        double t2 = ts_seconds();
        if (run > 0) {
            r->prefill[run - 1] = (double)P / (t1 - t0);
            r->decode[run - 1] = (double)G / (t2 - t1);
        }
    }
    if (!ok) ts_cli_error("%s", err);
    ts_context_profile(ctx, &r->prof);
    ts_context_free(ctx);
    return ok;
}

/* Per-phase ms of the timed runs: per decode step, or per prompt of P tokens (prefill). */
static double phase_ms(const ts_profile *pf, int ph, bool prefill, long P)
{
    const double *s = prefill ? pf->prefill_s : pf->decode_s;
    const double n = prefill ? (double)pf->prefill_tokens / (double)P : (double)pf->decode_tokens;
    double v = 0;
    for (int q = 0; q < TS_PHASE_COUNT; q++)
        if (q == ph || ph == TS_PHASE_COUNT) v += s[q];
    return n > 0 ? v * 1e3 / n : 0.0;
}

/* The --profile table of one path (nothing when no thread count ran it). */
static void print_profile(const bench_result *res, size_t n_threads, bool prefill, long P)
{
    bool any = false;
    for (size_t i = 0; i < n_threads; i++)
        any = any || (prefill ? res[i].prof.prefill_tokens : res[i].prof.decode_tokens) > 0;
    if (!any) return;
    if (prefill)
        printf("\nprefill, ms per %ld-token prompt (sum over the timed runs / runs)\n%-12s", P,
               "phase");
    else
        printf("\ndecode step, ms per token (sum over the timed runs / tokens)\n%-12s", "phase");
    for (size_t i = 0; i < n_threads; i++)
        printf("  %5d thr", res[i].threads);
    printf("\n");
    for (int ph = 0; ph <= TS_PHASE_COUNT; ph++) {
        printf("%-12s", ph < TS_PHASE_COUNT ? ts_phase_name((ts_phase)ph) : "total");
        for (size_t i = 0; i < n_threads; i++)
            printf("  %9.3f", phase_ms(&res[i].prof, ph, prefill, P));
        printf("\n");
    }
}

/* The last 10 % of a text file, tokenized; the first `want` ids (fewer if the text is short). */
static bool held_out_tokens(const ts_model *model, const char *path, size_t want, int32_t **ids,
                            size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ts_cli_error("--fidelity-text %s: cannot open", path), false;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            char *t = realloc(text, cap = 2 * cap + 65536);
            if (!t) break;
            text = t;
        }
        size_t k = fread(text + len, 1, cap - len, f);
        len += k;
        if (k == 0) break;
    }
    fclose(f);
    size_t from = len - len / 10;
    while (from > 0 && from < len && text[from - 1] != '\n') /* start on a line */
        from++;
    const ts_tokenizer *tok = ts_model_tokenizer(model);
    size_t need = 0;
    (void)ts_tokenizer_encode(tok, text + from, len - from, 0, NULL, 0, &need);
    *ids = malloc((need ? need : 1) * sizeof **ids);
    if (!*ids || ts_tokenizer_encode(tok, text + from, len - from, 0, *ids, need, &need) != TS_OK) {
        free(text);
        free(*ids);
        *ids = NULL;
        return ts_cli_error("--fidelity-text %s: cannot tokenize", path), false;
    }
    free(text);
    *n = need < want ? need : want;
    return true;
}

int ts_cmd_bench(int argc, char **argv)
{
    const char *model_arg = NULL, *threads_arg = NULL;
    const char *fid_text = TS_SOURCE_DIR "/../shared/data/tinyshakespeare.txt";
    bool fid_text_given = false;
    long P = 128, G = 128, runs = 5, fid_positions = 1024;
    bool json = false, profile = false;
    ts_weights_type weights = TS_WEIGHTS_STORED;
    ts_weights_memory memory = TS_MEMORY_AUTO;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},
        {"threads", required_argument, 0, 't'},
        {"prompt-tokens", required_argument, 0, 'p'},
        {"gen-tokens", required_argument, 0, 'g'},
        {"runs", required_argument, 0, 'r'},
        {"json", no_argument, 0, 'j'},
        {"weights", required_argument, 0, 'w'},
        {"weights-memory", required_argument, 0, 'M'},
        {"profile", no_argument, 0, 'P'},
        {"fidelity-text", required_argument, 0, 'f'},
        {"fidelity-positions", required_argument, 0, 'n'},
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
        case 'w':
            if (!ts_weights_type_parse(optarg, &weights))
                return ts_cli_error("option --weights: '%s' is not one of stored, f32, f16, bf16, "
                                    "q8_0",
                                    optarg);
            break;
        case 'M':
            if (!ts_weights_memory_parse(optarg, &memory))
                return ts_cli_error("option --weights-memory: '%s' is not one of auto, mapped, "
                                    "copy",
                                    optarg);
            break;
        case 'P':
            profile = true;
            break;
        case 'f':
            fid_text = optarg;
            fid_text_given = true;
            break;
        case 'n':
            if (!ts_cli_parse_long("fidelity-positions", optarg, 1, 1 << 20, &fid_positions))
                return TS_EXIT_USAGE;
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
        mp.weights = weights;
        mp.memory = memory;
        double t0 = ts_seconds();
        ts_status st = ts_model_load(dir, &mp, &model, err, sizeof err);
        load_s[i] = ts_seconds() - t0;
        if (st != TS_OK) {
            free(threads);
            return ts_cli_error("%s", err[0] ? err : ts_status_str(st));
        }
    }
    const double rss_loaded = rss_mb(); /* the model (+ its pages touched so far), no context */
    /* The steady state: the background copy (if any) complete before the timed runs. */
    (void)ts_model_wait_resident(model);
    const double rss_resident = rss_mb();
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
        if (!bench_threads(model, threads[i], prompt, (size_t)P, (size_t)G, (size_t)runs, profile,
                           &res[i])) {
            rc = TS_EXIT_FAIL;
            break;
        }
    }
    double load1[3] = {0, 0, 0};
    if (getloadavg(load1, 3) < 0) load1[0] = -1;

    /* Fidelity of the converted weights against the stored ones (after the timed runs). */
    ts_fidelity fid;
    bool have_fid = false;
    char fid_note[TS_ERR_SIZE] = "";
    const bool fid_off = fid_text_given && strcmp(fid_text, "none") == 0;
    /* a repack or a widening (F16 -> F32) changes no number: scored only when asked */
    ts_weights_info wconv;
    ts_model_weights_info(model, &wconv);
    const bool lossless = wconv.matrix_dtype == info->dtype || wconv.matrix_dtype == TS_DTYPE_F32;
    if (rc == TS_EXIT_OK && weights != TS_WEIGHTS_STORED && !fid_off &&
        (!lossless || fid_text_given)) {
        FILE *probe = fid_text_given ? NULL : fopen(fid_text, "rb");
        if (!fid_text_given && !probe) {
            snprintf(fid_note, sizeof fid_note, "skipped: %s not found (--fidelity-text FILE)",
                     fid_text);
        } else {
            if (probe) fclose(probe);
            int32_t *ids = NULL;
            size_t n_ids = 0;
            ts_model *ref = NULL;
            char err[TS_ERR_SIZE] = "";
            ts_model_params mp = ts_model_default_params();
            const double temps[3] = {0.5, 1.0, 2.0};
            size_t window = info->n_positions < 256 ? (size_t)info->n_positions : 256;
            if (!held_out_tokens(model, fid_text, (size_t)fid_positions, &ids, &n_ids))
                rc = TS_EXIT_USAGE;
            else if (ts_model_load(dir, &mp, &ref, err, sizeof err) != TS_OK ||
                     ts_model_fidelity(ref, model, ids, n_ids, window, temps, 3, 0, &fid, err,
                                       sizeof err) != TS_OK)
                rc = ts_cli_error("fidelity: %s", err);
            else
                have_fid = true;
            ts_model_free(ref);
            free(ids);
        }
    }

    if (rc == TS_EXIT_OK) {
        double load_ms = median(load_s, (size_t)runs) * 1e3;
        ts_weights_info wi;
        ts_model_weights_info(model, &wi);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", dir);
            cJSON_AddStringToObject(o, "dtype", ts_dtype_name(info->dtype));
            cJSON_AddStringToObject(o, "weights", ts_weights_type_name(wi.mode));
            cJSON_AddStringToObject(o, "matrix_dtype", ts_dtype_name(wi.matrix_dtype));
            cJSON_AddNumberToObject(o, "matrix_bytes_per_token", (double)wi.matrix_bytes);
            cJSON_AddNumberToObject(o, "copy_bytes", (double)wi.copy_bytes);
            cJSON_AddNumberToObject(o, "convert_ms", wi.convert_ms);
            cJSON_AddNumberToObject(o, "n_layer", info->n_layer);
            cJSON_AddNumberToObject(o, "n_embd", info->n_embd);
            cJSON_AddNumberToObject(o, "n_params", (double)info->n_params);
            cJSON_AddStringToObject(o, "kernels", ts_engine_isa_name());
            cJSON_AddNumberToObject(o, "load_ms", load_ms);
            cJSON_AddNumberToObject(o, "rss_after_load_mb", rss_loaded);
            cJSON_AddStringToObject(o, "memory", ts_weights_memory_name(wi.memory));
            cJSON_AddBoolToObject(o, "resident", wi.resident);
            cJSON_AddNumberToObject(o, "resident_bytes", (double)wi.resident_bytes);
            cJSON_AddNumberToObject(o, "resident_ms", wi.resident_ms);
            cJSON_AddNumberToObject(o, "resident_panels", (double)wi.resident_panels);
            cJSON_AddNumberToObject(o, "rss_after_resident_mb", rss_resident);
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
                if (profile && res[i].prof.decode_tokens > 0) {
                    cJSON *pr = cJSON_AddObjectToObject(e, "decode_ms_per_token");
                    for (int ph = 0; ph < TS_PHASE_COUNT; ph++)
                        cJSON_AddNumberToObject(pr, ts_phase_name((ts_phase)ph),
                                                phase_ms(&res[i].prof, ph, false, P));
                }
                if (profile && res[i].prof.prefill_tokens > 0) {
                    cJSON *pr = cJSON_AddObjectToObject(e, "prefill_ms_per_prompt");
                    for (int ph = 0; ph < TS_PHASE_COUNT; ph++)
                        cJSON_AddNumberToObject(pr, ts_phase_name((ts_phase)ph),
                                                phase_ms(&res[i].prof, ph, true, P));
                }
                cJSON_AddItemToArray(arr, e);
            }
            if (have_fid) {
                cJSON *fj = cJSON_AddObjectToObject(o, "fidelity");
                cJSON_AddStringToObject(fj, "text", fid_text);
                cJSON_AddStringToObject(fj, "reference", "stored weights, F32 arithmetic");
                cJSON_AddNumberToObject(fj, "positions", (double)fid.n_positions);
                cJSON_AddNumberToObject(fj, "max_abs_dlogit", fid.max_abs_dlogit);
                cJSON_AddNumberToObject(fj, "mean_abs_dlogit", fid.mean_abs_dlogit);
                cJSON *kl = cJSON_AddArrayToObject(fj, "kl");
                for (size_t k = 0; k < fid.n_temps; k++) {
                    cJSON *kv = cJSON_CreateObject();
                    cJSON_AddNumberToObject(kv, "temperature", fid.temps[k]);
                    cJSON_AddNumberToObject(kv, "kl_ref_q", fid.kl[k]);
                    cJSON_AddItemToArray(kl, kv);
                }
                cJSON_AddNumberToObject(fj, "top1_agreement", fid.top1_agree);
            }
            char *js = cJSON_PrintUnformatted(o);
            if (js) puts(js);
            free(js);
            cJSON_Delete(o);
        } else {
            printf("model     %s\n", dir);
            printf("shape     %d layers, n_embd %d, %d heads, %d positions, %d vocab, %s, %.1f M "
                   "params\n",
                   (int)info->n_layer, (int)info->n_embd, (int)info->n_head, (int)info->n_positions,
                   (int)info->n_vocab, ts_dtype_name(info->dtype), (double)info->n_params / 1e6);
            printf("weights   %s: matrices %s, %.1f MB read per decoded token",
                   ts_weights_type_name(wi.mode), ts_dtype_name(wi.matrix_dtype),
                   (double)wi.matrix_bytes / 1e6);
            if (wi.mode != TS_WEIGHTS_STORED)
                printf(" (copy %.1f MB, converted in %.1f ms)", (double)wi.copy_bytes / 1e6,
                       wi.convert_ms);
            printf("\nkernels   %s\n", ts_engine_isa_name());
            printf("load      %.1f ms (mmap + validation + tokenizer%s; median of %ld); RSS after "
                   "load %.0f MB\n",
                   load_ms, wi.mode != TS_WEIGHTS_STORED ? " + conversion" : "", runs, rss_loaded);
            if (wi.resident)
                printf("resident  copied into huge pages in the background (%zu Conv1D matrices "
                       "as panels): %.1f MB, complete %.1f ms after the load began; RSS then "
                       "%.0f MB (timed runs start after)\n",
                       wi.resident_panels, (double)wi.resident_bytes / 1e6, wi.resident_ms,
                       rss_resident);
            else if (wi.mode == TS_WEIGHTS_STORED)
                printf("resident  no: read from the file mapping (--weights-memory %s%s)\n",
                       ts_weights_memory_name(wi.memory),
                       wi.memory != TS_MEMORY_AUTO ? ""
                       : wi.matrix_bytes < TS_MEMORY_AUTO_MIN_BYTES
                           ? ", under 32 MiB"
                           : ", over half the available memory");
            printf("machine   load average %.2f before, %.2f after\n\n", load0[0], load1[0]);
            printf("threads   prefill tok/s (%ld-token prompt)   decode tok/s (%ld tokens)\n", P,
                   G);
            for (size_t i = 0; i < n_threads; i++)
                printf("%7d   %28.1f   %21.1f\n", res[i].threads,
                       median(res[i].prefill, (size_t)runs), median(res[i].decode, (size_t)runs));
            printf("\n(median of %ld runs each)\n", runs);
            if (profile) {
                print_profile(res, n_threads, false, P);
                print_profile(res, n_threads, true, P);
            }
            if (have_fid) {
                printf(
                    "\nfidelity  %s vs the stored weights (F32 arithmetic), %zu held-out positions "
                    "of %s (last 10%%)\n",
                    ts_weights_type_name(wi.mode), fid.n_positions, fid_text);
                printf(
                    "          max |dlogit| %.4f   mean |dlogit| %.5f   top-1 agreement %.2f%%\n",
                    fid.max_abs_dlogit, fid.mean_abs_dlogit, 100.0 * fid.top1_agree);
                printf("          KL(p_ref || p_q):");
                for (size_t k = 0; k < fid.n_temps; k++)
                    printf("  T=%g %.2e", fid.temps[k], fid.kl[k]);
                printf(" nats\n");
            } else if (fid_note[0]) {
                printf("\nfidelity  %s\n", fid_note);
            }
        }
    }
    free(prompt);
    free(res);
    free(threads);
    ts_model_free(model);
    return rc;
}
