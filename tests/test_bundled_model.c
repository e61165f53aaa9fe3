/*
 * test_bundled_model.c — the C engine on the bundled model (models/tiny-shakespeare)
 * against the PyTorch model that trained it.
 *
 * Reference: tests/data/tiny_shakespeare_ref.json and tiny_shakespeare_last_logits.f32,
 * written by tools/gen_tiny_reference.py (PyTorch float32 on the stored F16 weights,
 * tokenised by the Python port of OpenAI's encoder.py). For every prompt:
 *   - the C tokenizer gives the same ids as the Python one;
 *   - one batched prefill gives, at every position, the reference top-20 logits,
 *     the full-vocabulary logsumexp and the argmax;
 *   - the same through token-by-token KV-cache decode;
 *   - the last-position logits of the first prompt match on all 50,257 entries;
 *   - greedy decoding with the KV cache reproduces the reference's greedy
 *     continuation (which PyTorch computed with a full recompute per step).
 * Tolerance: |Δlogit| <= 1e-4 (both sides are float32 arithmetic on the same
 * F16-rounded weights; only summation order differs — the worst seen is printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define LOGIT_TOL 1e-4

static ts_model *model;
static cJSON *ref;
static double worst;

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("TS_SOURCE_DIR"), *data = getenv("TS_TEST_DATA");
    if (!src || !data) {
        fprintf(stderr, "TS_SOURCE_DIR and TS_TEST_DATA must be set (run through ctest)\n");
        return -1;
    }
    char path[4096], err[TS_ERR_SIZE];
    snprintf(path, sizeof path, "%s/models/tiny-shakespeare", src);
    ts_model_params mp = ts_model_default_params();
    if (ts_model_load(path, &mp, &model, err, sizeof err) != TS_OK) {
        fprintf(stderr, "cannot load the bundled model: %s\n", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/tiny_shakespeare_ref.json", data);
    char *json;
    size_t len;
    if (ts_read_file(path, &json, &len, err, sizeof err) != TS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ref = cJSON_Parse(json);
    free(json);
    if (!ref) {
        fprintf(stderr, "%s: invalid JSON\n", path);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    printf("worst |delta logit| vs PyTorch: %.3g (tolerance %.1g)\n", worst, LOGIT_TOL);
    cJSON_Delete(ref);
    ts_model_free(model);
    return 0;
}

static size_t json_ids(const cJSON *arr, int32_t *ids, size_t cap)
{
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        assert_true(n < cap);
        ids[n++] = (int32_t)it->valuedouble;
    }
    return n;
}

static void check_diff(double got, double want)
{
    double d = fabs(got - want);
    if (d > worst) worst = d;
    assert_true(d <= LOGIT_TOL);
}

/* Compare one position's logits with its reference entry. */
static void check_position(const float *logits, size_t V, const cJSON *pos)
{
    const cJSON *ids = cJSON_GetObjectItem(pos, "top_ids");
    const cJSON *lg = cJSON_GetObjectItem(pos, "top_logits");
    assert_int_equal(cJSON_GetArraySize(ids), cJSON_GetArraySize(lg));
    for (int i = 0; i < cJSON_GetArraySize(ids); i++) {
        int id = (int)cJSON_GetArrayItem(ids, i)->valuedouble;
        assert_true(id >= 0 && (size_t)id < V);
        check_diff(logits[id], cJSON_GetArrayItem(lg, i)->valuedouble);
    }
    assert_int_equal((int)ts_argmax(logits, V), (int)cJSON_GetObjectItem(pos, "argmax")->valuedouble);
    check_diff(ts_logsumexp(logits, V, 1.0), cJSON_GetObjectItem(pos, "logsumexp")->valuedouble);
}

static void test_prompts(void **state)
{
    (void)state;
    const ts_model_info *info = ts_model_get_info(model);
    const size_t V = (size_t)info->n_vocab;
    const ts_tokenizer *tok = ts_model_tokenizer(model);
    char err[TS_ERR_SIZE];
    ts_context_params cp = ts_context_default_params();
    cp.all_logits = true;
    ts_context *batch, *step;
    assert_int_equal(ts_context_new(model, &cp, &batch, err, sizeof err), TS_OK);
    cp.all_logits = false;
    assert_int_equal(ts_context_new(model, &cp, &step, err, sizeof err), TS_OK);

    const cJSON *prompts = cJSON_GetObjectItem(ref, "prompts");
    assert_true(cJSON_GetArraySize(prompts) >= 3);
    const cJSON *p;
    cJSON_ArrayForEach(p, prompts)
    {
        const char *text = cJSON_GetObjectItem(p, "text")->valuestring;
        int32_t want[256], got[256];
        size_t n_want = json_ids(cJSON_GetObjectItem(p, "ids"), want, 256), n_got = 0;
        assert_int_equal(ts_tokenizer_encode(tok, text, strlen(text), 0, got, 256, &n_got), TS_OK);
        assert_int_equal(n_got, n_want);
        assert_memory_equal(got, want, n_want * sizeof *want);

        /* One batched prefill: every position at once. */
        ts_context_truncate(batch, 0);
        assert_int_equal(ts_model_eval(batch, want, n_want, err, sizeof err), TS_OK);
        size_t rows = 0;
        const float *all = ts_context_all_logits(batch, &rows);
        assert_non_null(all);
        assert_int_equal(rows, n_want);
        const cJSON *positions = cJSON_GetObjectItem(p, "positions");
        assert_int_equal((size_t)cJSON_GetArraySize(positions), n_want);
        for (size_t i = 0; i < n_want; i++)
            check_position(all + i * V, V, cJSON_GetArrayItem(positions, (int)i));

        /* Token by token through the KV cache. */
        ts_context_truncate(step, 0);
        for (size_t i = 0; i < n_want; i++) {
            assert_int_equal(ts_model_eval(step, &want[i], 1, err, sizeof err), TS_OK);
            check_position(ts_context_logits(step), V, cJSON_GetArrayItem(positions, (int)i));
        }
    }
    ts_context_free(batch);
    ts_context_free(step);
}

static void test_last_logits_full_vocab(void **state)
{
    (void)state;
    const size_t V = (size_t)ts_model_get_info(model)->n_vocab;
    char path[4096], err[TS_ERR_SIZE];
    snprintf(path, sizeof path, "%s/tiny_shakespeare_last_logits.f32", getenv("TS_TEST_DATA"));
    char *raw;
    size_t len;
    assert_int_equal(ts_read_file(path, &raw, &len, err, sizeof err), TS_OK);
    assert_int_equal(len, V * sizeof(float));
    const float *want = (const float *)raw;

    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "prompts"), 0);
    int32_t ids[256];
    size_t n = json_ids(cJSON_GetObjectItem(p0, "ids"), ids, 256);
    ts_context_params cp = ts_context_default_params();
    ts_context *ctx;
    assert_int_equal(ts_context_new(model, &cp, &ctx, err, sizeof err), TS_OK);
    assert_int_equal(ts_model_eval(ctx, ids, n, err, sizeof err), TS_OK);
    const float *got = ts_context_logits(ctx);
    for (size_t i = 0; i < V; i++) check_diff(got[i], want[i]);
    ts_context_free(ctx);
    free(raw);
}

static void test_greedy_continuation(void **state)
{
    (void)state;
    const size_t V = (size_t)ts_model_get_info(model)->n_vocab;
    const cJSON *g = cJSON_GetObjectItem(ref, "greedy");
    assert_non_null(g);
    int32_t prompt[256], want[256];
    size_t n_prompt = json_ids(cJSON_GetObjectItem(g, "prompt_ids"), prompt, 256);
    size_t n_new = json_ids(cJSON_GetObjectItem(g, "ids"), want, 256);
    assert_true(n_new >= 10);

    char err[TS_ERR_SIZE];
    ts_context_params cp = ts_context_default_params();
    ts_context *ctx;
    assert_int_equal(ts_context_new(model, &cp, &ctx, err, sizeof err), TS_OK);
    assert_int_equal(ts_model_eval(ctx, prompt, n_prompt, err, sizeof err), TS_OK);
    for (size_t i = 0; i < n_new; i++) {
        int32_t next = (int32_t)ts_argmax(ts_context_logits(ctx), V);
        assert_int_equal(next, want[i]);
        assert_int_equal(ts_model_eval(ctx, &next, 1, err, sizeof err), TS_OK);
    }
    ts_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_last_logits_full_vocab),
        cmocka_unit_test(test_greedy_continuation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
