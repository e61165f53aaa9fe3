/*
 * bench_diversity.c — `tempscale diversity` end to end on a model (issue 13):
 * samples/s and generated tokens/s of the whole request (prefill, sampling,
 * scoring under T = 1, every metric with its bootstrap), and how many times
 * the prompt was evaluated — once for all temperatures, since every sample
 * rolls the KV cache back to the prompt instead of re-running it.
 *
 *   bench_diversity [MODEL_DIR] [ROUNDS]
 *
 * Defaults: the bundled models/tiny-shakespeare, 3 rounds; 6 temperatures
 * (0, 0.3, 0.7, 1, 1.5, 2) x 32 samples x 32 new tokens, coupled, seed 7,
 * B = 1000. Prints every round, then the median and range. A benchmark, not a
 * test: it exits non-zero only when the request fails.
 */
#include "tempscale_request.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct counts {
    size_t samples, tokens;
} counts;

static int on_event(const ts_event *ev, void *user)
{
    counts *c = user;
    if (ev->kind == TS_EV_TOKEN) c->tokens++;
    if (ev->kind == TS_EV_SAMPLE_END) c->samples++;
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "models/tiny-shakespeare";
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (rounds < 1 || rounds > 100) rounds = 3;
    char err[TS_ERR_SIZE] = "";
    ts_session_params sp = ts_session_default_params();
    sp.model_dir = dir;
    ts_session *s = NULL;
    double t0 = ts_seconds();
    if (ts_session_open(&sp, &s, err, sizeof err) != TS_OK) {
        fprintf(stderr, "bench_diversity: %s\n", err);
        return 1;
    }
    printf("model %s loaded in %.1f ms\n", dir, 1e3 * (ts_seconds() - t0));

    ts_request *rq = NULL;
    static const char *const set[][2] = {
        {"prompt", "ROMEO:\n"}, {"temperatures", "0,0.3,0.7,1,1.5,2"},
        {"samples", "32"},      {"max_new_tokens", "32"},
        {"coupled", "true"},    {"seed", "7"},
        {"bootstrap", "1000"},
    };
    if (ts_request_new(ts_analysis_find("diversity"), &rq, err, sizeof err) != TS_OK) goto fail;
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        if (ts_request_set(rq, set[i][0], set[i][1], err, sizeof err) != TS_OK) goto fail;

    double *sps = calloc((size_t)rounds, sizeof *sps), *tps = calloc((size_t)rounds, sizeof *tps);
    if (!sps || !tps) {
        fprintf(stderr, "bench_diversity: out of memory\n");
        return 1;
    }
    double prefills = -1;
    for (int r = 0; r < rounds; r++) {
        counts c = {0, 0};
        ts_run_opts ro = {0};
        ro.on_event = on_event;
        ro.user = &c;
        ro.slot_timeout_ms = -1;
        ts_result *res = NULL;
        t0 = ts_seconds();
        if (ts_request_run(rq, s, &ro, &res, err, sizeof err) != TS_OK) goto fail;
        double dt = ts_seconds() - t0;
        char *json = ts_result_json(res);
        cJSON *root = json ? cJSON_Parse(json) : NULL;
        const cJSON *pf = root ? cJSON_GetObjectItemCaseSensitive(root, "prefills") : NULL;
        prefills = cJSON_IsNumber(pf) ? pf->valuedouble : -1;
        cJSON_Delete(root);
        free(json);
        ts_result_free(res);
        sps[r] = (double)c.samples / dt;
        tps[r] = (double)c.tokens / dt;
        printf("round %d: %zu samples, %zu tokens in %.2f s: %.1f samples/s, %.0f tokens/s; "
               "prompt evaluations %.0f\n",
               r + 1, c.samples, c.tokens, dt, sps[r], tps[r], prefills);
    }
    qsort(sps, (size_t)rounds, sizeof *sps, cmp_d);
    qsort(tps, (size_t)rounds, sizeof *tps, cmp_d);
    printf("diversity (6 T x 32 samples x 32 tokens, coupled, B = 1000): median %.1f samples/s "
           "[%.1f, %.1f], %.0f tokens/s [%.0f, %.0f]; the prompt evaluated %.0f time%s for all "
           "temperatures\n",
           sps[rounds / 2], sps[0], sps[rounds - 1], tps[rounds / 2], tps[0], tps[rounds - 1],
           prefills, prefills == 1 ? "" : "s");
    free(sps);
    free(tps);
    ts_request_free(rq);
    ts_session_free(s);
    return 0;
fail:
    fprintf(stderr, "bench_diversity: %s\n", err);
    ts_request_free(rq);
    ts_session_free(s);
    return 1;
}
