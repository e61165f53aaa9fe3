/*
 * test_lm_score.c — the library's sliding-window scoring loop and the held-out
 * split on the bundled model (models/tiny-shakespeare).
 * Checks: every token 1..n-1 is scored exactly once and in order for several
 * (window, stride); with one window the stored NLL equals -log_softmax of the
 * context's logits computed directly (1e-9); the same window/stride as the old
 * CLI loop reproduces a dense recomputation window by window; the held-out
 * split fits on exactly the first floor(F n) tokens (T* equal to a store of
 * those tokens alone, 1e-12) and scores the rest; bad inputs name the problem.
 */
#include "internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

static ts_model *model;

static const char TEXT[] =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. "
    "resolved.\n\nFirst Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n"
    "\nAll:\nWe know't, we know't.\n\nFirst Citizen:\nLet us kill him, and we'll have corn at "
    "our own price.\nIs't a verdict?\n";

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("TEMPSCALE_MODELS");
    char path[4096], err[TS_ERR_SIZE];
    snprintf(path, sizeof path, "%s/tiny-shakespeare", dir ? dir : "models");
    ts_model_params mp = ts_model_default_params();
    mp.n_threads = 2;
    if (ts_model_load(path, &mp, &model, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_model_free(model);
    return 0;
}

static size_t encode(int32_t *ids, size_t cap)
{
    size_t n;
    assert_int_equal(
        ts_tokenizer_encode(ts_model_tokenizer(model), TEXT, strlen(TEXT), 0, ids, cap, &n), TS_OK);
    return n;
}

typedef struct seen {
    size_t n, next;
    bool in_order;
    double nll; /* sum of -log p(target) from the logits given */
    size_t V;
} seen;

static ts_status record(size_t position, const float *logits, int32_t target, void *user)
{
    seen *s = user;
    if (position != s->next) s->in_order = false;
    s->next = position + 1;
    s->n++;
    double m = logits[0], z = 0;
    for (size_t j = 1; j < s->V; j++)
        m = logits[j] > m ? logits[j] : m;
    for (size_t j = 0; j < s->V; j++)
        z += exp((double)logits[j] - m);
    s->nll += log(z) - ((double)logits[target] - m);
    return TS_OK;
}

static void progress_count(size_t done, size_t total, void *user)
{
    size_t *calls = user;
    (*calls)++;
    assert_true(done <= total);
}

static void test_every_token_once(void **state)
{
    (void)state;
    int32_t ids[512];
    size_t n = encode(ids, 512);
    assert_true(n > 80);
    const size_t V = (size_t)ts_model_get_info(model)->n_vocab;
    ts_context_params cp = ts_context_default_params();
    cp.all_logits = true;
    ts_context *ctx;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_context_new(model, &cp, &ctx, err, sizeof err), TS_OK);
    const size_t cases[4][2] = {{0, 0}, {32, 16}, {32, 31}, {40, 7}};
    double nll_full = NAN;
    for (int c = 0; c < 4; c++) {
        seen s = {0, 1, true, 0, V};
        size_t calls = 0;
        assert_int_equal(ts_lm_score_text(model, ctx, ids, n, cases[c][0], cases[c][1], record, &s,
                                          progress_count, &calls, err, sizeof err),
                         TS_OK);
        assert_int_equal(s.n, n - 1);
        assert_true(s.in_order);
        assert_true(calls >= 1);
        print_message("window %zu stride %zu: %zu tokens, NLL %.6f, %zu windows\n", cases[c][0],
                      cases[c][1], s.n, s.nll / (double)s.n, calls);
        if (c == 0)
            nll_full = s.nll / (double)s.n;
        else
            assert_true(s.nll / (double)s.n > nll_full - 0.5); /* less context, similar NLL */
    }
    /* One window holding the whole text: the store's NLL is the direct one. */
    ts_lm_calib *store;
    assert_int_equal(ts_lm_calib_new(V, n - 1, &store, err, sizeof err), TS_OK);
    assert_int_equal(
        ts_lm_calib_score(model, ctx, ids, n, 0, 0, store, NULL, NULL, err, sizeof err), TS_OK);
    assert_int_equal(ts_lm_calib_count(store), n - 1);
    ts_calib_metrics m;
    double bound;
    assert_int_equal(ts_lm_calib_metrics(store, 1.0, 15, &m, NULL, &bound, err, sizeof err), TS_OK);
    print_message("store NLL %.9f, direct %.9f, bound %.2e\n", m.nll, nll_full, bound);
    assert_true(m.nll <= nll_full + 1e-9 && nll_full <= m.nll + bound + 1e-9);
    ts_lm_calib_free(store);
    ts_context_free(ctx);
}

/* Store only the first split tokens (position <= split). */
static size_t g_split;
static ts_status add_head(size_t position, const float *logits, int32_t target, void *user)
{
    return position <= g_split ? ts_lm_calib_add(user, logits, target) : TS_OK;
}

static void bad_inputs(void)
{
    int32_t ids[3] = {1, 2, 3};
    ts_context *ctx;
    char err[TS_ERR_SIZE];
    ts_context_params cp = ts_context_default_params();
    assert_int_equal(ts_context_new(model, &cp, &ctx, err, sizeof err), TS_OK);
    seen s = {0, 1, true, 0, (size_t)ts_model_get_info(model)->n_vocab};
    assert_int_equal(
        ts_lm_score_text(model, ctx, ids, 3, 0, 0, record, &s, NULL, NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_non_null(strstr(err, "all_logits"));
    assert_int_equal(
        ts_lm_score_text(model, ctx, ids, 1, 0, 0, record, &s, NULL, NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_int_equal(
        ts_lm_score_text(model, ctx, ids, 3, 8, 8, record, &s, NULL, NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_non_null(strstr(err, "stride"));
    ts_context_free(ctx);
}

static void test_heldout_split(void **state)
{
    (void)state;
    int32_t ids[512];
    size_t n = encode(ids, 512);
    const size_t V = (size_t)ts_model_get_info(model)->n_vocab;
    ts_context_params cp = ts_context_default_params();
    cp.all_logits = true;
    ts_context *ctx;
    char err[TS_ERR_SIZE];
    assert_int_equal(ts_context_new(model, &cp, &ctx, err, sizeof err), TS_OK);
    ts_lm_calib *all, *head;
    assert_int_equal(ts_lm_calib_new(V, n - 1, &all, err, sizeof err), TS_OK);
    assert_int_equal(
        ts_lm_calib_score(model, ctx, ids, n, 64, 32, all, NULL, NULL, err, sizeof err), TS_OK);
    ts_lm_heldout h;
    ts_bootstrap_params bp = ts_bootstrap_default_params();
    bp.n_resamples = 200;
    assert_int_equal(ts_lm_calib_heldout(all, 0.6, 10, &bp, &h, err, sizeof err), TS_OK);
    const size_t nt = n - 1, split = (size_t)floor(0.6 * (double)nt);
    assert_int_equal(h.split, split);
    g_split = split;
    /* the fit part alone, in a separate store: the same T* */
    assert_int_equal(ts_lm_calib_new(V, split, &head, err, sizeof err), TS_OK);
    assert_int_equal(
        ts_lm_score_text(model, ctx, ids, n, 64, 32, add_head, head, NULL, NULL, err, sizeof err),
        TS_OK);
    assert_int_equal(ts_lm_calib_count(head), split);
    ts_calib_fit fh;
    assert_int_equal(ts_lm_calib_fit(head, TS_CALIB_T_MIN, TS_CALIB_T_MAX, &fh), TS_OK);
    print_message("held-out: %zu fit tokens, T* = %.6f [%.4f, %.4f]; scored %zu: NLL %.4f -> "
                  "%.4f (paired delta [%.4f, %.4f])\n",
                  split, h.fit.temperature, h.t_star.lo, h.t_star.hi, nt - split, h.before.nll,
                  h.after.nll, h.delta_ci.nll.lo, h.delta_ci.nll.hi);
    assert_true(fabs(fh.temperature - h.fit.temperature) <= 1e-12 * fh.temperature);
    ts_calib_metrics mb, ma;
    assert_int_equal(
        ts_lm_calib_metrics_range(all, split, nt, 1.0, 10, &mb, NULL, NULL, err, sizeof err),
        TS_OK);
    assert_int_equal(ts_lm_calib_metrics_range(all, split, nt, h.fit.temperature, 10, &ma, NULL,
                                               NULL, err, sizeof err),
                     TS_OK);
    assert_true(mb.nll == h.before.nll && ma.nll == h.after.nll && ma.ece == h.after.ece);
    assert_true(h.before.accuracy == h.after.accuracy);
    assert_true(h.has_intervals);
    assert_true(h.t_star.lo <= h.t_star.estimate && h.t_star.estimate <= h.t_star.hi);
    assert_true(h.before_ci.nll.lo <= h.before.nll && h.before.nll <= h.before_ci.nll.hi);
    assert_true(fabs(h.delta_ci.nll.estimate - (h.after.nll - h.before.nll)) < 1e-12);
    /* bad splits and ranges */
    assert_int_equal(ts_lm_calib_heldout(all, 1.0, 10, NULL, &h, err, sizeof err), TS_ERR_INVALID);
    assert_non_null(strstr(err, "--fit-until"));
    assert_int_equal(ts_lm_calib_heldout(all, 1e-6, 10, NULL, &h, err, sizeof err), TS_ERR_INVALID);
    assert_int_equal(
        ts_lm_calib_metrics_range(all, 5, 5, 1.0, 10, &mb, NULL, NULL, err, sizeof err),
        TS_ERR_INVALID);
    assert_non_null(strstr(err, "range"));
    ts_lm_calib_free(head);
    ts_lm_calib_free(all);
    ts_context_free(ctx);
    bad_inputs();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_token_once),
        cmocka_unit_test(test_heldout_split),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
