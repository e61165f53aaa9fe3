/*
 * bench_calibrate.c — time the temperature fit and the metrics on a large
 * synthetic classifier: N rows x K classes (default 1,000,000 x 10) of
 * overconfident logits (3 x (1.6 onehot(y) + N(0,1)), PCG32 + Box-Muller).
 * Usage: bench_calibrate [N] [K] [--npy DIR]   (--npy also writes DIR/logits.npy
 * and DIR/labels.npy (labels as float32) to time `tempscale calibrate` on them).
 */
#include "internal.h"

#include <math.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t k = argc > 2 ? strtoull(argv[2], NULL, 10) : 10;
    const char *npy_dir = argc > 4 && strcmp(argv[3], "--npy") == 0 ? argv[4] : NULL;
    if (n == 0 || k < 2) {
        fprintf(stderr, "usage: bench_calibrate [N >= 1] [K >= 2] [--npy DIR]\n");
        return 2;
    }
    float *z = malloc(n * k * sizeof *z);
    int32_t *y = malloc(n * sizeof *y);
    if (!z || !y) return 1;
    ts_rng rng;
    ts_rng_seed(&rng, 42);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(ts_rng_u32(&rng) % k);
        for (size_t j = 0; j < k; j++) {
            double u1 = ts_rng_uniform(&rng), u2 = ts_rng_uniform(&rng);
            double g = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
            z[i * k + j] = (float)(3.0 * (g + (j == (size_t)y[i] ? 1.6 : 0.0)));
        }
    }
    char err[TS_ERR_SIZE];
    double t0 = ts_seconds();
    ts_calib_fit fit;
    if (ts_calib_fit_temperature(z, y, n, k, &fit, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t1 = ts_seconds();
    ts_calib_metrics m;
    if (ts_calib_metrics_compute(z, y, n, k, fit.temperature, 15, &m, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t2 = ts_seconds();
    printf("rows %zu x classes %zu: fit T* = %.6f in %d iterations (%d passes): %.3f s "
           "(%.1f M logits/s per pass); metrics at T*: %.3f s\n",
           n, k, fit.temperature, fit.iterations, fit.iterations + 1, t1 - t0,
           (double)(n * k) * (fit.iterations + 1) / (t1 - t0) / 1e6, t2 - t1);
    printf("NLL %.4f -> %.4f, ECE %.4f, accuracy %.4f\n", fit.nll_before, fit.nll_after, m.ece,
           m.accuracy);
    if (npy_dir) {
        char p[4096];
        size_t shape[2] = {n, k};
        snprintf(p, sizeof p, "%s/logits.npy", npy_dir);
        if (ts_npy_write_f32(p, z, 2, shape, err, sizeof err) != TS_OK)
            fprintf(stderr, "%s\n", err);
        float *yf = malloc(n * sizeof *yf);
        for (size_t i = 0; i < n; i++)
            yf[i] = (float)y[i];
        snprintf(p, sizeof p, "%s/labels.npy", npy_dir);
        if (ts_npy_write_f32(p, yf, 1, shape, err, sizeof err) != TS_OK)
            fprintf(stderr, "%s\n", err);
        free(yf);
    }
    free(z);
    free(y);
    return 0;
}
