/*
 * bench_lm_heldout.c — the library path behind `calibrate --text FILE --fit-until F`:
 * score a text with a model (ts_lm_calib_score, HF sliding window), fit T on the
 * first F of the scored tokens and evaluate the rest, with bootstrap intervals
 * (ts_lm_calib_heldout). Prints the timings of each stage and the numbers.
 * Usage: bench_lm_heldout MODEL_DIR TEXT [FROM=0.9] [FIT_UNTIL=0.5] [B=200]
 *   e.g. bench_lm_heldout models/tiny-shakespeare ../shared/data/tinyshakespeare.txt
 */
#include "internal.h"

#include <math.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_lm_heldout MODEL_DIR TEXT [FROM] [FIT_UNTIL] [B]\n");
        return 2;
    }
    double from = argc > 3 ? atof(argv[3]) : 0.9, fit_until = argc > 4 ? atof(argv[4]) : 0.5;
    int b = argc > 5 ? atoi(argv[5]) : 200;
    char err[TS_ERR_SIZE];
    char *text;
    size_t len;
    ts_model *model;
    ts_model_params mp = ts_model_default_params();
    if (ts_read_file(argv[2], &text, &len, err, sizeof err) != TS_OK ||
        ts_model_load(argv[1], &mp, &model, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t start = (size_t)(from * (double)len), n_ids;
    int32_t *ids = malloc((len - start + 1) * sizeof *ids);
    if (!ids || ts_tokenizer_encode(ts_model_tokenizer(model), text + start, len - start, 0, ids,
                                    len - start + 1, &n_ids) != TS_OK) {
        fprintf(stderr, "tokenize failed\n");
        return 1;
    }
    const ts_model_info *info = ts_model_get_info(model);
    ts_context_params cp = ts_context_default_params();
    cp.all_logits = true;
    ts_context *ctx;
    ts_lm_calib *store;
    if (ts_context_new(model, &cp, &ctx, err, sizeof err) != TS_OK ||
        ts_lm_calib_new((size_t)info->n_vocab, n_ids - 1, &store, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t0 = ts_seconds();
    if (ts_lm_calib_score(model, ctx, ids, n_ids, 0, 0, store, NULL, NULL, err, sizeof err) !=
        TS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t1 = ts_seconds();
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = b;
    ts_lm_heldout h;
    if (ts_lm_calib_heldout(store, fit_until, 15, &bp, &h, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t2 = ts_seconds();
    printf("%s from byte %zu: %zu tokens scored in %.1f s (window %d, stride %d)\n", argv[2], start,
           ts_lm_calib_count(store), t1 - t0, info->n_positions, info->n_positions / 2);
    printf("fit on tokens [0, %zu): T* = %.4f [%.4f, %.4f] (B = %d)\n", h.split, h.fit.temperature,
           h.t_star.lo, h.t_star.hi, b);
    printf("held-out tokens [%zu, %zu): NLL %.4f [%.4f, %.4f] -> %.4f [%.4f, %.4f], paired "
           "change %.4f [%.4f, %.4f]\n",
           h.split, ts_lm_calib_count(store), h.before.nll, h.before_ci.nll.lo, h.before_ci.nll.hi,
           h.after.nll, h.after_ci.nll.lo, h.after_ci.nll.hi, h.delta_ci.nll.estimate,
           h.delta_ci.nll.lo, h.delta_ci.nll.hi);
    printf("held-out top-1 ECE %.4f [%.4f, %.4f] -> %.4f [%.4f, %.4f], paired change %.4f "
           "[%.4f, %.4f]\n",
           h.before.ece, h.before_ci.ece.lo, h.before_ci.ece.hi, h.after.ece, h.after_ci.ece.lo,
           h.after_ci.ece.hi, h.delta_ci.ece.estimate, h.delta_ci.ece.lo, h.delta_ci.ece.hi);
    unsigned w = ts_calib_diagnose(NULL, 15, ts_lm_calib_count(store) - h.split, &h.fit, &h.before,
                                   &h.after, &h.delta_ci);
    for (unsigned bit = 1; bit <= TS_CALIB_WARN_NOT_CONVERGED; bit <<= 1)
        if (w & bit) printf("warning: %s\n", ts_calib_warning_text(bit));
    printf("held-out split + bootstrap: %.1f s\n", t2 - t1);
    ts_lm_calib_free(store);
    ts_context_free(ctx);
    ts_model_free(model);
    free(ids);
    free(text);
    return 0;
}
