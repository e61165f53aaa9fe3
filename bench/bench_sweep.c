/*
 * bench_sweep.c — what a temperature sweep costs compared with a forward pass.
 *
 *   bench_sweep [MODEL_DIR] [RUNS] [THREADS]   (default: models/tiny-shakespeare from the
 *                                     source tree, 21 runs)
 *
 * Times, on the seed prompt "In the future, AI will" (median of RUNS):
 *   forward   one prefill of the prompt (ts_generator_set_prompt);
 *   sweep     the same prefill + ts_sweep over 7 temperatures, k = 10 (what
 *             `tempscale sweep` does);
 *   ts_sweep  the post-processing alone (top-k, 7 full-vocabulary softmax
 *             normalisers and entropies);
 *   naive     7 prefills, one per temperature (what a loop calling the model
 *             per temperature would do).
 * and prints sweep / forward (about 1 is the claim) and naive / sweep, from
 * the median and from the minimum (the least disturbed run on a shared machine).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "models/tiny-shakespeare"; /* from the source tree */
    int runs = argc > 2 ? atoi(argv[2]) : 21;
    if (runs < 1) runs = 1;
    char err[TS_ERR_SIZE] = "";
    ts_model_params mp = ts_model_default_params();
    if (argc > 3) mp.n_threads = atoi(argv[3]); /* 0 = every core */
    ts_model *model = NULL;
    ts_context *ctx = NULL;
    ts_generator *gen = NULL;
    if (ts_model_load(dir, &mp, &model, err, sizeof err) != TS_OK) {
        fprintf(stderr, "bench_sweep: %s\n", err);
        return 1;
    }
    const ts_model_info *info = ts_model_get_info(model);
    const ts_tokenizer *tok = ts_model_tokenizer(model);
    size_t V = (size_t)info->n_vocab;
    ts_context_params cp = ts_context_default_params();
    if (ts_context_new(model, &cp, &ctx, err, sizeof err) != TS_OK ||
        ts_generator_new(ctx, tok, V, &gen, err, sizeof err) != TS_OK) {
        fprintf(stderr, "bench_sweep: %s\n", err);
        return 1;
    }
    const char *prompt = "In the future, AI will";
    int32_t ids[64];
    size_t n_ids = 0;
    if (ts_tokenizer_encode(tok, prompt, strlen(prompt), 0, ids, 64, &n_ids) != TS_OK) return 1;
    const double temps[7] = {0.01, 0.1, 0.5, 1, 2, 5, 100};
    const size_t k = 10;
    int32_t top[10];
    double prob[70], prob_topk[70], ent[7];
    double *t_fwd = malloc((size_t)runs * sizeof(double)),
           *t_sweep = malloc((size_t)runs * sizeof(double));
    double *t_naive = malloc((size_t)runs * sizeof(double));
    double *t_post = malloc((size_t)runs * sizeof(double));
    if (!t_fwd || !t_sweep || !t_naive || !t_post) return 1;
    /* Warm-up: page in the weights. */
    ts_generator_set_prompt(gen, ids, n_ids, err, sizeof err);
    for (int r = 0; r < runs; r++) {
        double t0 = ts_seconds();
        ts_generator_set_prompt(gen, ids, n_ids, err, sizeof err);
        double t1 = ts_seconds();
        size_t before = ts_generator_n_evals(gen);
        ts_generator_set_prompt(gen, ids, n_ids, err, sizeof err);
        ts_sweep(ts_generator_prompt_logits(gen), V, temps, 7, k, top, prob, prob_topk, ent);
        double t2 = ts_seconds();
        TS_ASSERT(ts_generator_n_evals(gen) - before == 1);
        for (int t = 0; t < 7; t++) {
            ts_generator_set_prompt(gen, ids, n_ids, err, sizeof err);
            ts_sweep(ts_generator_prompt_logits(gen), V, &temps[t], 1, k, top, prob, prob_topk,
                     ent);
        }
        double t3 = ts_seconds();
        ts_sweep(ts_generator_prompt_logits(gen), V, temps, 7, k, top, prob, prob_topk, ent);
        double t4 = ts_seconds();
        t_fwd[r] = t1 - t0;
        t_post[r] = t4 - t3;
        t_sweep[r] = t2 - t1;
        t_naive[r] = t3 - t2;
    }
    /* median() sorts, so [0] is then the minimum: the least disturbed run on a busy machine. */
    double f = median(t_fwd, (size_t)runs), s = median(t_sweep, (size_t)runs),
           nv = median(t_naive, (size_t)runs);
    double p = median(t_post, (size_t)runs);
    double fmin = t_fwd[0], smin = t_sweep[0], nmin = t_naive[0], pmin = t_post[0];
    printf("model %s: %d layers, %d wide, vocab %zu; prompt %zu tokens; median of %d runs\n", dir,
           (int)info->n_layer, (int)info->n_embd, V, n_ids, runs);
    printf("                                  median       min\n");
    printf("  one forward pass              %8.3f ms %8.3f ms\n", 1e3 * f, 1e3 * fmin);
    printf("  sweep, 7 temperatures         %8.3f ms %8.3f ms   = %.2f x (min %.2f x) one forward "
           "pass\n",
           1e3 * s, 1e3 * smin, s / f, smin / fmin);
    printf("  of which ts_sweep (7 T)       %8.3f ms %8.3f ms   = %.2f x (min %.2f x) one forward "
           "pass\n",
           1e3 * p, 1e3 * pmin, p / f, pmin / fmin);
    printf("  naive, 7 forward passes       %8.3f ms %8.3f ms   = %.2f x (min %.2f x) the sweep\n",
           1e3 * nv, 1e3 * nmin, nv / s, nmin / smin);
    free(t_post);
    free(t_fwd);
    free(t_sweep);
    free(t_naive);
    ts_generator_free(gen);
    ts_context_free(ctx);
    ts_model_free(model);
    return 0;
}
