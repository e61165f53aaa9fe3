/*
 * bench_science.c — time the heavy parts of the measurements (issue 13):
 *   1. metric bootstrap on N rows x K classes (default 1,000,000 x 10), B = 1000,
 *      two temperatures (T = 1 and T*) with paired deltas;
 *   2. the T* bootstrap (one exact refit per replicate) on the same rows, B = 20,
 *      reported per replicate;
 *   3. the map grid on 50,257 logits: 30 temperatures x 20 top-p values, both orders,
 *      against the same grid done with one ts_sampler_apply per cell;
 *   4. trace of one token (top-p 0.9 threshold) on 50,257 logits;
 *   5. diversity of 32 samples x 256 tokens with B = 1000;
 *   6. the LM store's T* bootstrap: 2,000 tokens of V = 50,257, B = 200.
 * Usage: bench_science [N] [K]. Prints medians of repeated runs where they are cheap.
 */
#include "internal.h"

#include <math.h>
#include <string.h>
#include <time.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_d);
    return x[n / 2];
}

static double gauss(ts_rng *r)
{
    double u1 = ts_rng_uniform(r), u2 = ts_rng_uniform(r);
    return sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != TS_OK) {                                                                     \
            fprintf(stderr, "%s: %s\n", #call, err);                                               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t k = argc > 2 ? strtoull(argv[2], NULL, 10) : 10;
    char err[TS_ERR_SIZE] = "";
    ts_rng rng;
    ts_rng_seed(&rng, 42);

    /* 1-2. calibration bootstrap */
    float *z = malloc(n * k * sizeof *z);
    int32_t *y = malloc(n * sizeof *y);
    if (!z || !y) return 1;
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(ts_rng_u32(&rng) % k);
        for (size_t j = 0; j < k; j++)
            z[i * k + j] = (float)(3.0 * (gauss(&rng) + (j == (size_t)y[i] ? 1.6 : 0.0)));
    }
    ts_calib_fit fit;
    CHECK(ts_calib_fit_temperature(z, y, n, k, &fit, err, sizeof err));
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    double temps[2] = {1.0, fit.temperature};
    ts_calib_metrics_ci ci[2], delta[2];
    double t0 = ts_seconds();
    CHECK(ts_calib_metrics_bootstrap(z, y, n, k, temps, 2, 15, &bp, ci, delta, err, sizeof err));
    double t1 = ts_seconds();
    printf("metric bootstrap: %zu rows x %zu classes, B = %d, 2 temperatures + paired deltas: "
           "%.2f s (ECE %.4f [%.4f, %.4f] -> %.4f [%.4f, %.4f])\n",
           n, k, bp.n_resamples, t1 - t0, ci[0].ece.estimate, ci[0].ece.lo, ci[0].ece.hi,
           ci[1].ece.estimate, ci[1].ece.lo, ci[1].ece.hi);
    ts_bootstrap_params bt = bp;
    bt.n_resamples = 20;
    ts_interval ts_iv;
    t0 = ts_seconds();
    CHECK(ts_calib_fit_bootstrap(z, y, n, k, &bt, &ts_iv, err, sizeof err));
    t1 = ts_seconds();
    printf("T* bootstrap: %zu rows x %zu classes, B = %d refits: %.2f s (%.3f s per replicate, "
           "incl. the full-data fit); T* = %.5f [%.5f, %.5f]\n",
           n, k, bt.n_resamples, t1 - t0, (t1 - t0) / (bt.n_resamples + 1), ts_iv.estimate,
           ts_iv.lo, ts_iv.hi);
    free(z);
    free(y);

    /* 3. map grid */
    enum { V = 50257, NT = 30, NP = 20, REP = 5 };
    float *lg = malloc(V * sizeof *lg);
    for (size_t i = 0; i < V; i++)
        lg[i] = (float)(2.5 * gauss(&rng));
    double mt[NT], mp[NP];
    for (int t = 0; t < NT; t++)
        mt[t] = 0.1 * pow(50.0, (double)t / (NT - 1));
    for (int p = 0; p < NP; p++)
        mp[p] = 0.05 + 0.95 * p / (NP - 1);
    static ts_map_cell hf[NT * NP], ll[NT * NP];
    double tm[REP], tn[REP];
    for (int r = 0; r < REP; r++) {
        t0 = ts_seconds();
        CHECK(ts_map_grid(lg, V, mt, NT, TS_MAP_TOP_P, mp, NP, hf, ll, err, sizeof err));
        tm[r] = ts_seconds() - t0;
    }
    /* the same grid, one sampler apply per cell and order */
    for (int r = 0; r < 1; r++) {
        t0 = ts_seconds();
        for (int o = 0; o < 2; o++)
            for (int t = 0; t < NT; t++)
                for (int p = 0; p < NP; p++) {
                    ts_sampler_params sp = ts_sampler_default_params();
                    sp.temperature = mt[t];
                    sp.top_k = 0;
                    sp.top_p = mp[p];
                    sp.order = o ? TS_ORDER_LLAMA : TS_ORDER_HF;
                    ts_sampler *s;
                    CHECK(ts_sampler_new(&sp, V, &s, err, sizeof err));
                    const ts_candidate *c;
                    size_t nc;
                    CHECK(ts_sampler_apply(s, lg, &c, &nc));
                    if (nc != (o ? ll : hf)[t * NP + p].support) {
                        fprintf(stderr, "map disagrees with the sampler\n");
                        return 1;
                    }
                    ts_sampler_free(s);
                }
        tn[r] = ts_seconds() - t0;
    }
    printf("map grid: %d temperatures x %d top-p, both orders, V = %d: median %.1f ms (of %d); "
           "one ts_sampler_apply per cell: %.0f ms\n",
           NT, NP, V, 1e3 * median(tm, REP), REP, 1e3 * tn[0]);

    /* 4. trace */
    ts_truncation tr = {0, 0.9, 0.0};
    ts_token_trace tt;
    double ttr[REP];
    int32_t tok = (int32_t)ts_argmax(lg, V);
    tok = (tok + 1) % V;
    for (int r = 0; r < REP; r++) {
        t0 = ts_seconds();
        CHECK(ts_trace_token(lg, V, tok, 0.8, &tr, &tt, err, sizeof err));
        ttr[r] = ts_seconds() - t0;
    }
    printf("trace of one token (rank %zu, top-p 0.9 threshold T = %.4f), V = %d: median %.2f ms\n",
           tt.rank, tt.t_min_hf, V, 1e3 * median(ttr, REP));

    /* 5. diversity */
    enum { NS = 32, L = 256 };
    static int32_t toks[NS * L];
    static size_t off[NS + 1];
    static double lp[NS * L], ent[NS * L];
    for (size_t i = 0; i < NS * L; i++) {
        toks[i] = (int32_t)(ts_rng_u32(&rng) % 2000);
        lp[i] = -3 * ts_rng_uniform(&rng);
        ent[i] = 3 * ts_rng_uniform(&rng);
    }
    for (int j = 0; j <= NS; j++)
        off[j] = (size_t)j * L;
    ts_sample_set set = {NS, toks, off, lp, ent, NULL};
    ts_diversity d;
    double td[REP];
    for (int r = 0; r < REP; r++) {
        t0 = ts_seconds();
        CHECK(ts_diversity_measure(&set, &bp, &d, err, sizeof err));
        td[r] = ts_seconds() - t0;
    }
    printf("diversity: %d samples x %d tokens, B = %d: median %.1f ms\n", NS, L, bp.n_resamples,
           1e3 * median(td, REP));

    /* 6. LM store bootstrap */
    enum { NTOK = 2000 };
    ts_lm_calib *store;
    CHECK(ts_lm_calib_new(V, NTOK, &store, err, sizeof err));
    for (int i = 0; i < NTOK; i++) {
        for (size_t j = 0; j < V; j++)
            lg[j] = (float)(2.5 * gauss(&rng));
        int32_t target = (int32_t)(ts_rng_u32(&rng) % 50);
        lg[target] += 6;
        CHECK(ts_lm_calib_add(store, lg, target));
    }
    ts_bootstrap_params bl = bp;
    bl.n_resamples = 200;
    t0 = ts_seconds();
    CHECK(ts_lm_calib_fit_bootstrap(store, 0, NTOK, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &bl, &ts_iv,
                                    err, sizeof err));
    t1 = ts_seconds();
    printf("LM store T* bootstrap: %d tokens, B = %d: %.2f s; T* = %.4f [%.4f, %.4f]\n", NTOK,
           bl.n_resamples, t1 - t0, ts_iv.estimate, ts_iv.lo, ts_iv.hi);
    ts_lm_calib_free(store);
    free(lg);
    return 0;
}
