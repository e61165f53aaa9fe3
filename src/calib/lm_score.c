/*
 * lm_score.c — score a token sequence with a language model, every token once:
 * Hugging Face's sliding-window perplexity recipe ("Perplexity of fixed-length
 * models", transformers docs). Windows of `window` tokens start every `stride`
 * tokens; in each window only the tokens the previous window did not score
 * are targets, so each token 1..n-1 is predicted exactly once, with as much
 * left context as the window allows (token 0 has no prediction).
 *
 * The loop hands each scored position's logits to a callback (the calibration
 * store, a trace, a perplexity sum) and reports progress through another; it
 * never prints. Nothing is allocated: the context holds the logits.
 */
#include "internal.h"

#include <string.h>

ts_status ts_lm_score_text(const ts_model *model, ts_context *ctx, const int32_t *ids, size_t n_ids,
                           size_t window, size_t stride, ts_lm_token_fn fn, void *user,
                           ts_progress_fn progress, void *progress_user, char *err, size_t err_size)
{
    const ts_model_info *info = ts_model_get_info(model);
    const size_t V = (size_t)info->n_vocab;
    if (window == 0) window = (size_t)info->n_positions;
    if (window < 2)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "scoring: window of %zu tokens (need >= 2)",
                         window);
    if (stride == 0) stride = window / 2;
    if (stride >= window)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "scoring: stride %zu must be less than the window of %zu tokens (each "
                         "window's first token has no prediction in it)",
                         stride, window);
    if (n_ids < 2)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "scoring: %zu token%s; need at least 2 to score one", n_ids,
                         n_ids == 1 ? "" : "s");
    size_t prev_end = 0, done = 0;
    for (size_t begin = 0;; begin += stride) {
        size_t end = begin + window < n_ids ? begin + window : n_ids;
        ts_context_truncate(ctx, 0);
        ts_status st = ts_model_eval(ctx, ids + begin, end - begin, err, err_size);
        if (st != TS_OK) return st;
        size_t rows;
        const float *lg = ts_context_all_logits(ctx, &rows);
        if (!lg)
            return ts_errorf(err, err_size, TS_ERR_INVALID,
                             "scoring: the context keeps only the last logits; create it with "
                             "all_logits = true");
        TS_ASSERT(rows == end - begin);
        for (size_t t = prev_end > begin + 1 ? prev_end : begin + 1; t < end; t++) {
            st = fn(t, lg + (t - begin - 1) * V, ids[t], user);
            if (st != TS_OK)
                return ts_errorf(err, err_size, st, "scoring: token %zu (id %d): %s", t, ids[t],
                                 st == TS_ERR_INVALID ? "non-finite logit or bad id"
                                                      : ts_status_str(st));
            done++;
        }
        prev_end = end;
        if (progress) progress(done, n_ids - 1, progress_user);
        if (end == n_ids) break;
    }
    return TS_OK;
}

static ts_status add_to_store(size_t position, const float *logits, int32_t target, void *user)
{
    (void)position;
    return ts_lm_calib_add(user, logits, target);
}

ts_status ts_lm_calib_score(const ts_model *model, ts_context *ctx, const int32_t *ids,
                            size_t n_ids, size_t window, size_t stride, ts_lm_calib *store,
                            ts_progress_fn progress, void *progress_user, char *err,
                            size_t err_size)
{
    return ts_lm_score_text(model, ctx, ids, n_ids, window, stride, add_to_store, store, progress,
                            progress_user, err, err_size);
}
