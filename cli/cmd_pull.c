/*
 * cmd_pull.c — `tempscale pull REPO_ID`: download a GPT-2-family model from
 * the Hugging Face hub into the shared Hugging Face cache (src/hub/hub.c does the
 * work; this file parses options, draws the progress bar and reports).
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
    fprintf(f,
            "Usage: tempscale pull REPO_ID[@REVISION] [--revision R] [--json] [--quiet]\n"
            "                      [--connect-timeout S] [--stall-timeout S]\n"
            "\n"
            "Download a model from the Hugging Face hub into the Hugging Face cache, in the\n"
            "exact layout huggingface_hub uses, so transformers and tempscale share it. Fetches\n"
            "config.json, vocab.json, merges.txt and model.safetensors (or the sharded\n"
            "model.safetensors.index.json + shards). Pickle weights (pytorch_model.bin) are\n"
            "never downloaded or loaded. Afterwards any command takes --model REPO_ID.\n"
            "\n"
            "Downloads resume (blobs/<etag>.incomplete + HTTP Range) and every file is checked\n"
            "against its sha256 / git etag before it enters the cache. Pulling a model that is\n"
            "already complete downloads nothing.\n"
            "\n"
            "Options:\n"
            "  --revision R   branch, tag or commit hash (default: main, or @R in REPO_ID)\n"
            "  --json         print the result as JSON on stdout (errors too)\n"
            "  -q, --quiet    no progress bar (it is only drawn when stderr is a terminal)\n"
            "  --connect-timeout S  give up connecting to a host after S seconds (default 30)\n"
            "  --stall-timeout S    fail a transfer that averages under 1 KiB/s for S seconds;\n"
            "                 metadata requests must also finish within connect + stall\n"
            "                 seconds (default 30)\n"
            "  -h, --help     this help\n"
            "\n"
            "Environment (as huggingface_hub):\n"
            "  HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME   cache location (default\n"
            "                 ~/.cache/huggingface/hub)\n"
            "  HF_ENDPOINT    hub URL (default https://huggingface.co)\n"
            "  HF_TOKEN       access token for gated / private models (default: the token\n"
            "                 `huggingface-cli login` stored in $HF_HOME/token)\n"
            "  HF_HUB_OFFLINE=1  no network: succeed only if the model is already cached\n"
            "  https_proxy, no_proxy ...  proxies, read by libcurl\n"
            "\n"
            "The hub is not trusted: only http(s) is fetched (plain http only from an http\n"
            "hub or loopback), every redirect is checked, the token goes only to the hub's\n"
            "host, a file is refused unless its etag is a sha256 / git sha1, a download stops\n"
            "at its announced size and must fit the free disk space (docs/security.md).\n"
            "\n"
            "Exit status: 0 ok; 2 bad repo id, repository / revision not found, access\n"
            "refused (set HF_TOKEN and accept the licence) or no safetensors weights;\n"
            "1 network failure, disk full, checksum mismatch, offline and not cached.\n"
            "\n"
            "Example:\n"
            "  tempscale pull distilgpt2\n"
            "  tempscale top --model distilgpt2 \"The capital of France is\"\n");
}

/* ---- progress bar (stderr, terminals only) -------------------------------- */

typedef struct bar_state {
    bool enabled;
    double t_start, t_last;
    uint64_t start_bytes;
} bar_state;

static void human_bytes(double b, char *out, size_t n)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        u++;
    }
    snprintf(out, n, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
}

static void on_progress(const ts_hub_progress *p, void *user)
{
    bar_state *b = user;
    if (!b->enabled) return;
    double t = ts_seconds();
    char done[32], total[32], rate[32];
    switch (p->event) {
    case TS_HUB_EV_FILE_CACHED:
        human_bytes((double)p->total, total, sizeof total);
        fprintf(stderr, "\r\033[K  %-32s %10s  already in the cache\n", p->file, total);
        return;
    case TS_HUB_EV_FILE_START:
        b->t_start = t;
        b->t_last = 0;
        b->start_bytes = p->done;
        break;
    case TS_HUB_EV_FILE_BYTES:
        if (t - b->t_last < 0.1) return; /* ~10 redraws a second */
        break;
    case TS_HUB_EV_FILE_DONE:
        break;
    }
    b->t_last = t;
    double dt = t - b->t_start;
    double got = (double)(p->done - (p->done >= b->start_bytes ? b->start_bytes : p->done));
    double bps = dt > 0 ? got / dt : 0;
    human_bytes((double)p->done, done, sizeof done);
    human_bytes((double)p->total, total, sizeof total);
    human_bytes(bps, rate, sizeof rate);
    char bar[32] = "";
    int width = 20, fill = 0;
    if (p->total > 0) fill = (int)((double)width * (double)p->done / (double)p->total);
    if (fill > width) fill = width;
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    char eta[32] = "--:--";
    if (bps > 0 && p->total > p->done) {
        long s = (long)((double)(p->total - p->done) / bps);
        snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    fprintf(stderr, "\r\033[K  %-32s [%s] %s / %s  %s/s  ETA %s%s", p->file, bar, done, total, rate,
            p->event == TS_HUB_EV_FILE_DONE ? "0:00" : eta,
            p->event == TS_HUB_EV_FILE_DONE ? "\n" : "");
    fflush(stderr);
}

/* ---- the command ---------------------------------------------------------- */

static int exit_code(ts_status st)
{
    switch (st) {
    case TS_OK:
        return TS_EXIT_OK;
    case TS_ERR_INVALID:
    case TS_ERR_NOT_FOUND:
    case TS_ERR_AUTH:
    case TS_ERR_UNSUPPORTED:
        return TS_EXIT_USAGE;
    default:
        return TS_EXIT_FAIL;
    }
}

static void print_json_error(ts_status st, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 0);
    cJSON_AddStringToObject(o, "status", ts_status_str(st));
    cJSON_AddStringToObject(o, "error", msg);
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

int ts_cmd_pull(int argc, char **argv)
{
    static const struct option opts[] = {
        {"revision", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"connect-timeout", required_argument, NULL, 'c'},
        {"stall-timeout", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *revision_opt = NULL;
    long connect_s = 0, stall_s = 0;
    bool json = false, quiet = false;
    optind = 0;
    opterr = 0; /* ts_cli_bad_option's one line instead */
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            revision_opt = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return TS_EXIT_OK;
        case 'c':
            if (!ts_cli_parse_long("connect-timeout", optarg, 1, 86400, &connect_s))
                return TS_EXIT_USAGE;
            break;
        case 's':
            if (!ts_cli_parse_long("stall-timeout", optarg, 1, 86400, &stall_s))
                return TS_EXIT_USAGE;
            break;
        default:
            return ts_cli_bad_option("pull", argv);
        }
    }
    if (optind != argc - 1)
        return ts_cli_error("pull: expected one REPO_ID (e.g. distilgpt2 or openai-community/gpt2; "
                            "see 'tempscale help pull')");
    char repo_id[128], revision[256], err[TS_ERR_SIZE] = "";
    ts_status st = ts_hub_parse_spec(argv[optind], repo_id, sizeof repo_id, revision,
                                     sizeof revision, err, sizeof err);
    if (st == TS_OK && revision_opt) {
        if (strchr(argv[optind], '@') && strcmp(revision_opt, revision) != 0)
            return ts_cli_error("pull: both @%s and --revision %s given", revision, revision_opt);
        snprintf(revision, sizeof revision, "%s", revision_opt);
    }
    if (st != TS_OK) {
        if (json) print_json_error(st, err);
        return ts_cli_error("pull: %s", err);
    }

    ts_hub_pull_params p = ts_hub_pull_default_params();
    p.repo_id = repo_id;
    p.revision = revision;
    p.connect_timeout_s = connect_s;
    p.stall_timeout_s = stall_s;
    bar_state bar = {0};
    bar.enabled = !quiet && isatty(fileno(stderr));
    ts_hub_pull_result res;
    st = ts_hub_pull(&p, on_progress, &bar, &res, err, sizeof err);
    if (bar.enabled) fputs("\r\033[K", stderr);
    if (st != TS_OK) {
        if (json) print_json_error(st, err);
        ts_cli_error("pull %s: %s", argv[optind], err[0] ? err : ts_status_str(st));
        return exit_code(st);
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "ok", 1);
        cJSON_AddStringToObject(o, "repo_id", repo_id);
        cJSON_AddStringToObject(o, "revision", revision);
        cJSON_AddStringToObject(o, "commit", res.commit);
        cJSON_AddStringToObject(o, "snapshot_dir", res.snapshot_dir);
        cJSON_AddNumberToObject(o, "files", (double)res.n_files);
        cJSON_AddNumberToObject(o, "downloaded", (double)res.n_downloaded);
        cJSON_AddNumberToObject(o, "bytes_downloaded", (double)res.bytes_downloaded);
        cJSON_AddBoolToObject(o, "resumed", res.resumed);
        cJSON_AddBoolToObject(o, "up_to_date", res.up_to_date);
        cJSON_AddBoolToObject(o, "offline", res.offline);
        char *s = cJSON_Print(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
        return TS_EXIT_OK;
    }
    if (res.up_to_date)
        printf("%s@%s is already up to date (commit %.12s%s)\n  %s\n", repo_id, revision,
               res.commit, res.offline ? ", no network used" : "", res.snapshot_dir);
    else {
        char b[32];
        double v = (double)res.bytes_downloaded;
        const char *u = "B";
        if (v >= 1048576.0)
            v /= 1048576.0, u = "MiB";
        else if (v >= 1024.0)
            v /= 1024.0, u = "KiB";
        snprintf(b, sizeof b, "%.1f %s", v, u);
        printf("pulled %s@%s (commit %.12s): %zu of %zu files downloaded (%s%s)\n  %s\n", repo_id,
               revision, res.commit, res.n_downloaded, res.n_files, b,
               res.resumed ? ", resumed" : "", res.snapshot_dir);
    }
    printf("use it with: --model %s%s%s\n", repo_id, strcmp(revision, "main") ? "@" : "",
           strcmp(revision, "main") ? revision : "");
    return TS_EXIT_OK;
}
