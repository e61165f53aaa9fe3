/*
 * test_weights.c — binding a checkpoint to the GPT-2 layout: tiny checkpoints
 * written by st_writer.h in F32 / F16 / BF16, with and without the
 * "transformer." prefix, tied and untied, single and sharded, bind and every
 * view points at the bytes written for that name (checked element by element
 * against the writer's pattern); shapes, dtypes, alignment, missing and
 * extra tensors are refused with messages naming the tensor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "st_writer.h"

static char g_dir[512];
static int g_n;

static int setup(void **state)
{
    (void)state;
    return stw_mkdtemp(g_dir, sizeof g_dir);
}

static int teardown(void **state)
{
    (void)state;
    stw_rmdir(g_dir);
    return 0;
}

/* A fresh subdirectory holding the checkpoint g. */
static void write_model(const stw_gpt2 *g, char *dir, size_t size)
{
    snprintf(dir, size, "%s/m%03d", g_dir, g_n++);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(stw_gpt2_write(dir, g), 0);
}

static float elem(const ts_tensor *t, size_t i)
{
    switch (t->dtype) {
    case TS_DTYPE_F32:
        return ((const float *)t->data)[i];
    case TS_DTYPE_F16:
        return stw_f16_to_f32(((const uint16_t *)t->data)[i]);
    case TS_DTYPE_BF16:
        return stw_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case TS_DTYPE_Q8_0: /* never in a checkpoint */
        break;
    }
    return 0;
}

/* The view has the expected shape and holds the pattern written for `name`. */
static void check_view(const ts_tensor *t, const char *name, int64_t d0, int64_t d1)
{
    assert_non_null(t->data);
    assert_int_equal(t->ndim, d1 < 0 ? 1 : 2);
    assert_int_equal(t->shape[0], d0);
    if (d1 >= 0) assert_int_equal(t->shape[1], d1);
    size_t numel = (size_t)d0 * (size_t)(d1 < 0 ? 1 : d1);
    assert_int_equal(t->nbytes, numel * (t->dtype == TS_DTYPE_F32 ? 4 : 2));
    for (size_t i = 0; i < numel; i++)
        if (elem(t, i) != stw_value(name, i))
            fail_msg("%s[%zu] = %g, expected %g", name, i, elem(t, i), stw_value(name, i));
}

/* Load config + weights of dir; expect success. */
static void bind_dir(const char *dir, ts_safetensors **st, ts_model_info *info, ts_weights *w)
{
    char err[TS_ERR_SIZE] = "";
    if (ts_config_load(dir, info, err, sizeof err) != TS_OK) fail_msg("%s", err);
    if (ts_safetensors_open(dir, st, err, sizeof err) != TS_OK) fail_msg("%s", err);
    if (ts_weights_bind(*st, info, w, err, sizeof err) != TS_OK) fail_msg("%s", err);
}

static void check_model(const stw_gpt2 *g)
{
    char dir[700];
    write_model(g, dir, sizeof dir);
    ts_safetensors *st = NULL;
    ts_model_info info;
    ts_weights w;
    bind_dir(dir, &st, &info, &w);
    const int64_t C = g->n_embd, V = g->n_vocab, P = g->n_positions;
    check_view(&w.wte, "wte.weight", V, C);
    check_view(&w.wpe, "wpe.weight", P, C);
    for (int l = 0; l < g->n_layer; l++) {
        const ts_layer_weights *lw = &w.layers[l];
        char n[64];
#define CHK(field, suffix, d0, d1)                                                                 \
    snprintf(n, sizeof n, "h.%d.%s", l, suffix);                                                   \
    check_view(&lw->t[field], n, d0, d1)
        CHK(TS_LT_LN_1_W, "ln_1.weight", C, -1);
        CHK(TS_LT_LN_1_B, "ln_1.bias", C, -1);
        CHK(TS_LT_ATTN_W, "attn.c_attn.weight", C, 3 * C);
        CHK(TS_LT_ATTN_B, "attn.c_attn.bias", 3 * C, -1);
        CHK(TS_LT_ATTN_PROJ_W, "attn.c_proj.weight", C, C);
        CHK(TS_LT_ATTN_PROJ_B, "attn.c_proj.bias", C, -1);
        CHK(TS_LT_LN_2_W, "ln_2.weight", C, -1);
        CHK(TS_LT_LN_2_B, "ln_2.bias", C, -1);
        CHK(TS_LT_FC_W, "mlp.c_fc.weight", C, 4 * C);
        CHK(TS_LT_FC_B, "mlp.c_fc.bias", 4 * C, -1);
        CHK(TS_LT_FC_PROJ_W, "mlp.c_proj.weight", 4 * C, C);
        CHK(TS_LT_FC_PROJ_B, "mlp.c_proj.bias", C, -1);
#undef CHK
    }
    check_view(&w.ln_f_w, "ln_f.weight", C, -1);
    check_view(&w.ln_f_b, "ln_f.bias", C, -1);
    if (g->untied) {
        assert_false(w.tied);
        assert_false(info.tied_lm_head);
        check_view(&w.lm_head, "lm_head.weight", V, C);
        assert_ptr_not_equal(w.lm_head.data, w.wte.data);
    } else {
        assert_true(w.tied);
        assert_true(info.tied_lm_head);
        assert_ptr_equal(w.lm_head.data, w.wte.data);
    }
    /* Parameter count as transformers' num_parameters(): a tied head once. */
    size_t n_params = (size_t)(V * C + P * C + g->n_layer * (12 * C * C + 13 * C) + 2 * C);
    if (g->untied) n_params += (size_t)(V * C);
    assert_int_equal(info.n_params, n_params);
    ts_dtype want = !strcmp(g->dtype, "F32")   ? TS_DTYPE_F32
                    : !strcmp(g->dtype, "F16") ? TS_DTYPE_F16
                                               : TS_DTYPE_BF16;
    assert_int_equal(info.dtype, want);
    ts_weights_release(&w);
    assert_null(w.layers);
    ts_weights_release(&w); /* twice is fine */
    ts_safetensors_close(st);
}

static void test_bind_variants(void **state)
{
    (void)state;
    static const char *const dtypes[3] = {"F32", "F16", "BF16"};
    for (int d = 0; d < 3; d++)
        for (int prefix = 0; prefix < 2; prefix++)
            for (int untied = 0; untied < 2; untied++)
                for (int shards = 1; shards <= 3; shards += 2) {
                    stw_gpt2 g = stw_gpt2_default();
                    g.dtype = dtypes[d];
                    g.prefix = prefix;
                    g.untied = untied;
                    g.n_shards = shards;
                    g.masks = (d + prefix) % 2 == 0;
                    check_model(&g);
                }
}

static void test_mixed_dtypes(void **state)
{
    (void)state;
    /* F16 matrices with F32 layer norms and biases (as some exports do). */
    stw_gpt2 g = stw_gpt2_default();
    g.dtype = "F16";
    g.small_dtype = "F32";
    g.n_layer = 3;
    check_model(&g);
    g.dtype = "BF16";
    g.small_dtype = "F16";
    g.prefix = true;
    check_model(&g);
}

/* The reference count for distilgpt2 (HF: 81,912,576) from its config alone. */
static void test_distilgpt2_param_formula(void **state)
{
    (void)state;
    const size_t C = 768, V = 50257, P = 1024, L = 6;
    assert_int_equal(V * C + P * C + L * (12 * C * C + 13 * C) + 2 * C, 81912576);
}

static void expect_bind_fail(const stw_gpt2 *g, ts_status status, const char *want)
{
    char dir[700], err[TS_ERR_SIZE] = "";
    write_model(g, dir, sizeof dir);
    ts_safetensors *st = NULL;
    ts_model_info info;
    ts_weights w;
    if (ts_config_load(dir, &info, err, sizeof err) != TS_OK) fail_msg("%s", err);
    if (ts_safetensors_open(dir, &st, err, sizeof err) != TS_OK) fail_msg("%s", err);
    ts_status s = ts_weights_bind(st, &info, &w, err, sizeof err);
    if (s != status || strstr(err, want) == NULL)
        fail_msg("expected %d with \"%s\", got %d: \"%s\"", status, want, s, err);
    assert_non_null(strstr(err, "safetensors")); /* the file is named */
    assert_null(w.layers);
    ts_safetensors_close(st);
}

static void test_bind_errors(void **state)
{
    (void)state;
    stw_gpt2 g = stw_gpt2_default();
    g.omit = "h.1.mlp.c_fc.bias";
    expect_bind_fail(&g, TS_ERR_FORMAT, "model.safetensors: tensor h.1.mlp.c_fc.bias is missing");
    g.prefix = true;
    expect_bind_fail(&g, TS_ERR_FORMAT, "tensor transformer.h.1.mlp.c_fc.bias is missing");

    g = stw_gpt2_default();
    g.omit = "wte.weight";
    expect_bind_fail(&g, TS_ERR_FORMAT, "tensor wte.weight is missing");
    g.prefix = true;
    expect_bind_fail(&g, TS_ERR_FORMAT, "tensor transformer.wte.weight is missing");
    g.omit = "wpe.weight";
    expect_bind_fail(&g, TS_ERR_FORMAT, "tensor transformer.wpe.weight is missing");

    g = stw_gpt2_default();
    g.bad_shape = "h.0.attn.c_attn.weight";
    expect_bind_fail(&g, TS_ERR_FORMAT,
                     "tensor h.0.attn.c_attn.weight has shape [8,25], config.json expects [8,24]");
    g.bad_shape = "ln_f.bias";
    expect_bind_fail(&g, TS_ERR_FORMAT, "tensor ln_f.bias has shape [9], config.json expects [8]");
    g.bad_shape = "wpe.weight";
    expect_bind_fail(&g, TS_ERR_FORMAT,
                     "tensor wpe.weight has shape [5,9], config.json expects [5,8]");
    g.untied = true;
    g.bad_shape = "lm_head.weight";
    expect_bind_fail(&g, TS_ERR_FORMAT,
                     "tensor lm_head.weight has shape [11,9], config.json expects [11,8]");

    g = stw_gpt2_default();
    g.bad_dtype = "h.1.ln_2.weight";
    expect_bind_fail(&g, TS_ERR_UNSUPPORTED,
                     "tensor h.1.ln_2.weight has dtype I8; only F32, F16 and BF16 are supported");

    g = stw_gpt2_default();
    g.extra_layer = true;
    expect_bind_fail(&g, TS_ERR_FORMAT,
                     "tensor h.2.ln_1.weight belongs to layer 2 but config.json has n_layer 2");
}

static void test_no_gpt2_tensors(void **state)
{
    (void)state;
    char dir[700], path[800], err[TS_ERR_SIZE] = "";
    snprintf(dir, sizeof dir, "%s/not_gpt2", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    stw w = {0};
    int64_t s2[2] = {11, 8};
    stw_add(&w, "model.embed_tokens.weight", "x", "F32", 2, s2);
    assert_int_equal(stw_save(&w, path), 0);
    stw_free(&w);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(stw_write_text(path, "{\"n_layer\":1,\"n_head\":2,\"n_embd\":8,"
                                          "\"n_positions\":5,\"vocab_size\":11}"),
                     0);
    ts_model_info info;
    ts_safetensors *st;
    ts_weights wt;
    assert_int_equal(ts_config_load(dir, &info, err, sizeof err), TS_OK);
    assert_int_equal(ts_safetensors_open(dir, &st, err, sizeof err), TS_OK);
    assert_int_equal(ts_weights_bind(st, &info, &wt, err, sizeof err), TS_ERR_FORMAT);
    assert_non_null(strstr(err, "wte.weight / wpe.weight (with or without \"transformer.\") are "
                                "missing: not a GPT-2 checkpoint?"));
    ts_safetensors_close(st);
}

/* A tied checkpoint that kept lm_head.weight and dropped wte.weight. */
static void test_wte_from_lm_head(void **state)
{
    (void)state;
    stw_gpt2 g = stw_gpt2_default();
    g.untied = true; /* writes lm_head.weight... */
    g.omit = "wte.weight";
    g.prefix = true;
    char dir[700], path[800], err[TS_ERR_SIZE] = "";
    write_model(&g, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir); /* ...but the config says tied */
    assert_int_equal(stw_write_text(path, "{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,"
                                          "\"n_positions\":5,\"vocab_size\":11}"),
                     0);
    ts_model_info info;
    ts_safetensors *st;
    ts_weights w;
    bind_dir(dir, &st, &info, &w);
    assert_true(w.tied);
    check_view(&w.wte, "lm_head.weight", 11, 8);
    assert_ptr_equal(w.lm_head.data, w.wte.data);
    ts_weights_release(&w);
    ts_safetensors_close(st);
    (void)err;
}

static void test_config_mismatch(void **state)
{
    (void)state;
    /* Weights for C = 8 but a config that says 16 */
    stw_gpt2 g = stw_gpt2_default();
    char dir[700], err[TS_ERR_SIZE] = "", path[800];
    write_model(&g, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(stw_write_text(path, "{\"n_layer\":2,\"n_head\":2,\"n_embd\":16,"
                                          "\"n_positions\":5,\"vocab_size\":11}"),
                     0);
    ts_model_info info;
    ts_safetensors *st;
    ts_weights w;
    assert_int_equal(ts_config_load(dir, &info, err, sizeof err), TS_OK);
    assert_int_equal(ts_safetensors_open(dir, &st, err, sizeof err), TS_OK);
    assert_int_equal(ts_weights_bind(st, &info, &w, err, sizeof err), TS_ERR_FORMAT);
    assert_non_null(strstr(err, "tensor wte.weight has shape [11,8], config.json expects [11,16]"));
    ts_safetensors_close(st);

    /* tie_word_embeddings false but no lm_head.weight */
    assert_int_equal(stw_write_text(path, "{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,"
                                          "\"n_positions\":5,\"vocab_size\":11,"
                                          "\"tie_word_embeddings\":false}"),
                     0);
    assert_int_equal(ts_config_load(dir, &info, err, sizeof err), TS_OK);
    assert_int_equal(ts_safetensors_open(dir, &st, err, sizeof err), TS_OK);
    assert_int_equal(ts_weights_bind(st, &info, &w, err, sizeof err), TS_ERR_FORMAT);
    assert_non_null(strstr(err, "tensor lm_head.weight is missing and config.json sets "
                                "tie_word_embeddings false"));
    ts_safetensors_close(st);

    /* config with one layer fewer than the weights */
    assert_int_equal(stw_write_text(path, "{\"n_layer\":1,\"n_head\":2,\"n_embd\":8,"
                                          "\"n_positions\":5,\"vocab_size\":11}"),
                     0);
    assert_int_equal(ts_config_load(dir, &info, err, sizeof err), TS_OK);
    assert_int_equal(ts_safetensors_open(dir, &st, err, sizeof err), TS_OK);
    assert_int_equal(ts_weights_bind(st, &info, &w, err, sizeof err), TS_ERR_FORMAT);
    assert_non_null(strstr(err, "belongs to layer 1 but config.json has n_layer 1"));
    ts_safetensors_close(st);
}

static void test_unaligned(void **state)
{
    (void)state;
    /* A hand-made file whose F32 tensor starts at buffer offset 2: valid
     * safetensors, but the binder must refuse it rather than hand kernels a
     * misaligned float pointer. Header padded so the buffer itself is aligned. */
    char dir[700], path[800], err[TS_ERR_SIZE] = "";
    snprintf(dir, sizeof dir, "%s/unaligned", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *h = "{\"x\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                    "\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[11,8],\"data_offsets\":[2,354]}}";
    assert_int_equal(stw_write_json(path, h, 354), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(stw_write_text(path, "{\"n_layer\":1,\"n_head\":2,\"n_embd\":8,"
                                          "\"n_positions\":5,\"vocab_size\":11}"),
                     0);
    ts_model_info info;
    ts_safetensors *st;
    ts_weights w;
    assert_int_equal(ts_config_load(dir, &info, err, sizeof err), TS_OK);
    assert_int_equal(ts_safetensors_open(dir, &st, err, sizeof err), TS_OK);
    assert_int_equal(ts_weights_bind(st, &info, &w, err, sizeof err), TS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "tensor wte.weight: F32 data is not 4-byte aligned"));
    ts_safetensors_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_variants),
        cmocka_unit_test(test_mixed_dtypes),
        cmocka_unit_test(test_distilgpt2_param_formula),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_config_mismatch),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_no_gpt2_tensors),
        cmocka_unit_test(test_wte_from_lm_head),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
