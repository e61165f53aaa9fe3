/*
 * bench_sampler.c — time of one ts_sampler_sample() over 50,257 logits for
 * common chain settings, next to a naive baseline (softmax + full qsort +
 * inverse CDF, what a first implementation does).
 *
 *     build/bench_sampler [iterations]      (default 300)
 *
 * Logits are synthetic with a GPT-2-like shape: a handful of large values
 * over a broad bulk (normal, sd 2.5). Prints the median microseconds per call.
 */
#include "tempscale.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define V 50257

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const float *g_z;
static int cmp_desc(const void *a, const void *b)
{
    float x = g_z[*(const int *)a], y = g_z[*(const int *)b];
    return (x < y) - (x > y);
}

/* the naive baseline: full softmax, full sort, walk */
static int naive_sample(const float *z, double t, double *p, int *idx, ts_rng *r)
{
    ts_softmax(z, V, t, p);
    for (int i = 0; i < V; i++)
        idx[i] = i;
    g_z = z;
    qsort(idx, V, sizeof *idx, cmp_desc);
    double u = ts_rng_uniform(r), cum = 0;
    for (int i = 0; i < V; i++)
        if (u < (cum += p[idx[i]])) return idx[i];
    return idx[V - 1];
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 300;
    if (iters < 5) iters = 5;
    float *z = malloc(V * sizeof *z);
    ts_rng r;
    ts_rng_seed(&r, 1);
    for (int i = 0; i < V; i++) { /* Box-Muller */
        double u1 = ts_rng_uniform(&r) + 1e-300, u2 = ts_rng_uniform(&r);
        z[i] = (float)(2.5 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2) - 3.0);
    }
    for (int i = 0; i < 20; i++)
        z[(i * 2503) % V] = (float)(10.0 + i * 0.4);

    struct {
        const char *name;
        ts_sampler_params p;
    } cases[20];
    int nc = 0;
    ts_sampler_params d = ts_sampler_default_params();
    cases[nc].name = "HF defaults (T=1, top-k 50)", cases[nc++].p = d;
    d.top_k = 0, d.top_p = 0.9;
    cases[nc].name = "top-p 0.9 (no top-k)", cases[nc++].p = d;
    d.top_p = 1.0, d.min_p = 0.05;
    cases[nc].name = "min-p 0.05", cases[nc++].p = d;
    d.min_p = 0.0, d.temperature = 0.8;
    cases[nc].name = "T=0.8, no truncation", cases[nc++].p = d;
    d.temperature = 1.5, d.top_p = 0.95, d.order = TS_ORDER_LLAMA, d.top_k = 40;
    cases[nc].name = "llama: top-k 40, top-p .95, T=1.5", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.temperature = 0;
    cases[nc].name = "greedy (T=0)", cases[nc++].p = d;
    /* the issue-12 steps (penalties see a history of 256 tokens) */
    d = ts_sampler_default_params(), d.repetition_penalty = 1.2, d.presence_penalty = 0.3,
    d.frequency_penalty = 0.2;
    cases[nc].name = "HF defaults + rep/presence/frequency", cases[nc++].p = d;
    d.order = TS_ORDER_LLAMA;
    cases[nc].name = "llama penalties (last 64) + top-k 50", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.no_repeat_ngram_size = 3;
    cases[nc].name = "no-repeat-ngram 3 + top-k 50", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.top_k = 0, d.typical_p = 0.9;
    cases[nc].name = "typical-p 0.9 (full sort)", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.top_k = 0, d.eta_cutoff = 3e-4;
    cases[nc].name = "eta 3e-4", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.top_k = 0, d.order = TS_ORDER_LLAMA, d.top_n_sigma = 1;
    cases[nc].name = "llama: top-n-sigma 1", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.order = TS_ORDER_LLAMA, d.xtc_probability = 1,
    d.min_p = 0.05, d.top_k = 0;
    cases[nc].name = "llama: min-p .05 + XTC always", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.order = TS_ORDER_LLAMA, d.top_k = 40, d.dynatemp_range = 0.5;
    cases[nc].name = "llama: top-k 40 + dynatemp 0.5", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.top_k = 0, d.target_entropy = 3.0;
    cases[nc].name = "target entropy 3 nats (full vocab)", cases[nc++].p = d;
    d = ts_sampler_default_params(), d.mirostat = 2;
    cases[nc].name = "mirostat v2", cases[nc++].p = d;
    d.mirostat = 1;
    cases[nc].name = "mirostat v1", cases[nc++].p = d;
    int32_t hist[256];
    for (int i = 0; i < 256; i++)
        hist[i] = (int32_t)((i * 7919) % V);

    double *times = malloc((size_t)iters * sizeof *times);
    printf("%-40s %12s\n", "setting (50,257 logits)", "median us");
    volatile int sink = 0;
    for (int c = 0; c < nc; c++) {
        ts_sampler *s;
        char err[TS_ERR_SIZE];
        if (ts_sampler_new(&cases[c].p, V, &s, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        ts_sampler_accept_prompt(s, hist, 256);
        for (int i = 0; i < iters; i++) {
            double t0 = (1e6 * ts_seconds());
            sink += ts_sampler_sample(s, z);
            times[i] = (1e6 * ts_seconds()) - t0;
        }
        qsort(times, (size_t)iters, sizeof *times, cmp_double);
        printf("%-40s %12.1f\n", cases[c].name, times[iters / 2]);
        ts_sampler_free(s);
    }
    double *p = malloc(V * sizeof *p);
    int *idx = malloc(V * sizeof *idx);
    int n_naive = iters < 60 ? iters : 60;
    for (int i = 0; i < n_naive; i++) {
        double t0 = (1e6 * ts_seconds());
        sink += naive_sample(z, 1.0, p, idx, &r);
        times[i] = (1e6 * ts_seconds()) - t0;
    }
    qsort(times, (size_t)n_naive, sizeof *times, cmp_double);
    printf("%-40s %12.1f\n", "baseline: softmax + qsort + walk", times[n_naive / 2]);
    free(p), free(idx), free(times), free(z);
    return sink == 42 ? 1 : 0;
}
