/*
 * diagnose.c — the warnings `calibrate` prints (issue 12 §4): bins too thin to
 * trust the ECE, and a fitted T* that makes the ECE worse. Pure functions of
 * results already computed; the CLI decides how to say them.
 */
#include "internal.h"

#include <math.h>

unsigned ts_calib_diagnose(const ts_calib_bin *bins, int32_t n_bins, size_t n,
                           const ts_calib_fit *fit, const ts_calib_metrics *before,
                           const ts_calib_metrics *after, const ts_calib_metrics_ci *delta)
{
    unsigned w = 0;
    if (n < (size_t)TS_CALIB_MIN_BIN_ROWS * (size_t)(n_bins > 0 ? n_bins : 1))
        w |= TS_CALIB_WARN_FEW_ROWS;
    if (bins && n > 0) {
        size_t thin = 0;
        for (int32_t b = 0; b < n_bins; b++)
            if (bins[b].count > 0 && bins[b].count < TS_CALIB_MIN_BIN_ROWS) thin += bins[b].count;
        if ((double)thin > TS_CALIB_SPARSE_SHARE * (double)n) w |= TS_CALIB_WARN_SPARSE_BINS;
    }
    if (before && after && after->ece > before->ece) {
        w |= TS_CALIB_WARN_ECE_WORSE;
        if (delta && delta->ece.lo > 0) w |= TS_CALIB_WARN_ECE_WORSE_SIGNIFICANT;
    }
    if (fit && fit->at_bound != 0) w |= TS_CALIB_WARN_AT_BOUND;
    if (fit && !fit->converged) w |= TS_CALIB_WARN_NOT_CONVERGED;
    return w;
}

const char *ts_calib_warning_text(unsigned bit)
{
    switch (bit) {
    case TS_CALIB_WARN_FEW_ROWS:
        return "fewer than 30 rows per bin on average: the ECE is dominated by noise (use fewer "
               "bins or more data)";
    case TS_CALIB_WARN_SPARSE_BINS:
        return "more than 5 % of the rows fall in bins holding fewer than 30 rows: those bins' "
               "accuracy is noisy";
    case TS_CALIB_WARN_ECE_WORSE:
        return "T* makes the ECE worse: the NLL-optimal temperature calibrates the whole "
               "distribution, not only the top-1 confidence";
    case TS_CALIB_WARN_ECE_WORSE_SIGNIFICANT:
        return "the ECE increase is beyond the paired bootstrap interval (not noise)";
    case TS_CALIB_WARN_AT_BOUND:
        return "T* is at the edge of its range [1e-3, 1e3]: the NLL still falls there "
               "(separable data, or labels against the logits)";
    case TS_CALIB_WARN_NOT_CONVERGED:
        return "the fit did not converge";
    }
    return "";
}
