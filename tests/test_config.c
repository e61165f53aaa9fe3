/*
 * test_config.c — config.json: the real distilgpt2 and gpt2 files parse to the
 * published sizes; defaults match transformers' GPT2Config; every malformed
 * or unsupported field is refused with a message naming it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "st_writer.h"

static char g_dir[512];

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

static void write_config(const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    assert_int_equal(stw_write_text(path, text), 0);
}

static ts_model_info load_ok(const char *text)
{
    write_config(text);
    ts_model_info info;
    char err[TS_ERR_SIZE] = "";
    ts_status s = ts_config_load(g_dir, &info, err, sizeof err);
    if (s != TS_OK) fail_msg("expected OK, got %d: %s", s, err);
    return info;
}

static void expect_fail(const char *text, ts_status status, const char *want)
{
    write_config(text);
    ts_model_info info;
    char err[TS_ERR_SIZE] = "";
    ts_status s = ts_config_load(g_dir, &info, err, sizeof err);
    if (s != status || strstr(err, want) == NULL || strstr(err, "config.json") == NULL)
        fail_msg("config %s\nexpected %d with \"%s\", got %d: \"%s\"", text, status, want, s, err);
    assert_int_equal(info.n_layer, 0); /* info cleared on failure */
}

/* distilgpt2's config.json as published on the Hugging Face hub. */
static const char k_distilgpt2[] =
    "{\n"
    "  \"_num_labels\": 1,\n"
    "  \"activation_function\": \"gelu_new\",\n"
    "  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n"
    "  \"attn_pdrop\": 0.1,\n"
    "  \"bos_token_id\": 50256,\n"
    "  \"embd_pdrop\": 0.1,\n"
    "  \"eos_token_id\": 50256,\n"
    "  \"id2label\": {\n    \"0\": \"LABEL_0\"\n  },\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"label2id\": {\n    \"LABEL_0\": 0\n  },\n"
    "  \"layer_norm_epsilon\": 1e-05,\n"
    "  \"model_type\": \"gpt2\",\n"
    "  \"n_ctx\": 1024,\n"
    "  \"n_embd\": 768,\n"
    "  \"n_head\": 12,\n"
    "  \"n_layer\": 6,\n"
    "  \"n_positions\": 1024,\n"
    "  \"resid_pdrop\": 0.1,\n"
    "  \"summary_activation\": null,\n"
    "  \"summary_first_dropout\": 0.1,\n"
    "  \"summary_proj_to_labels\": true,\n"
    "  \"summary_type\": \"cls_index\",\n"
    "  \"summary_use_proj\": true,\n"
    "  \"task_specific_params\": {\n"
    "    \"text-generation\": {\n      \"do_sample\": true,\n      \"max_length\": 50\n    }\n"
    "  },\n"
    "  \"vocab_size\": 50257\n"
    "}\n";

/* gpt2's config.json as published (no n_inner, n_ctx and n_positions both). */
static const char k_gpt2[] =
    "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"], "
    "\"attn_pdrop\": 0.1, \"bos_token_id\": 50256, \"embd_pdrop\": 0.1, \"eos_token_id\": 50256, "
    "\"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\", "
    "\"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12, \"n_positions\": 1024, "
    "\"resid_pdrop\": 0.1, \"summary_activation\": null, \"summary_first_dropout\": 0.1, "
    "\"summary_proj_to_labels\": true, \"summary_type\": \"cls_index\", \"summary_use_proj\": "
    "true, \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": "
    "50}}, \"vocab_size\": 50257}";

static void test_real_configs(void **state)
{
    (void)state;
    ts_model_info i = load_ok(k_distilgpt2);
    assert_int_equal(i.n_layer, 6);
    assert_int_equal(i.n_head, 12);
    assert_int_equal(i.n_embd, 768);
    assert_int_equal(i.n_positions, 1024);
    assert_int_equal(i.n_vocab, 50257);
    assert_true(i.layer_norm_epsilon == 1e-5);
    assert_int_equal(i.bos_token_id, 50256);
    assert_int_equal(i.eos_token_id, 50256);
    assert_true(i.tied_lm_head); /* tie_word_embeddings defaults to true */

    i = load_ok(k_gpt2);
    assert_int_equal(i.n_layer, 12);
    assert_int_equal(i.n_embd, 768);

    /* gpt2-xl sizes, and the bundled model's style (n_inner null, tie flag) */
    i = load_ok("{\"n_layer\":48,\"n_head\":25,\"n_embd\":1600,\"n_positions\":1024,"
                "\"vocab_size\":50257,\"n_inner\":null,\"tie_word_embeddings\":true,"
                "\"scale_attn_weights\":true,\"use_cache\":true,\"torch_dtype\":\"float16\"}");
    assert_int_equal(i.n_layer, 48);
    assert_int_equal(i.n_head, 25);
    i = load_ok("{\"n_layer\":1,\"n_head\":2,\"n_embd\":8,\"n_positions\":4,\"vocab_size\":9,"
                "\"n_inner\":32,\"tie_word_embeddings\":false,"
                "\"activation_function\":\"gelu_pytorch_tanh\"}");
    assert_false(i.tied_lm_head);
}

static void test_defaults(void **state)
{
    (void)state;
    /* Only the sizes: GPT2Config's defaults fill the rest. */
    ts_model_info i =
        load_ok("{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":16,\"vocab_size\":50257}");
    assert_int_equal(i.n_positions, 16); /* n_ctx fallback */
    assert_true(i.layer_norm_epsilon == 1e-5);
    assert_int_equal(i.bos_token_id, 50256);
    assert_int_equal(i.eos_token_id, 50256);
    assert_true(i.tied_lm_head);
    /* n_positions wins over n_ctx */
    i = load_ok("{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":16,\"n_positions\":32,"
                "\"vocab_size\":100,\"layer_norm_epsilon\":1e-6,\"bos_token_id\":null,"
                "\"eos_token_id\":7}");
    assert_int_equal(i.n_positions, 32);
    assert_true(i.layer_norm_epsilon == 1e-6);
    /* vocabulary smaller than GPT-2's: the default ids do not exist */
    assert_int_equal(i.bos_token_id, -1);
    assert_int_equal(i.eos_token_id, 7);
}

#define SIZES "\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100"

static void test_bad_configs(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        ts_status status;
        const char *want;
    } k[] = {
        {"{\"n_layer\":2,\n\"n_head\":2,\n\"n_embd\" 8}", TS_ERR_FORMAT,
         "invalid JSON at line 3, column"},
        {"", TS_ERR_FORMAT, "invalid JSON at line 1"},
        {"[1,2]", TS_ERR_FORMAT, "expected a JSON object, got an array"},
        {"{" SIZES "} extra", TS_ERR_FORMAT, "unexpected text after the JSON object"},
        {"{\"n_head\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}", TS_ERR_FORMAT,
         "required field n_layer is missing"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_positions\":16,\"vocab_size\":100}", TS_ERR_FORMAT,
         "required field n_embd is missing"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_positions\":16}", TS_ERR_FORMAT,
         "required field vocab_size is missing"},
        {"{\"n_layer\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}", TS_ERR_FORMAT,
         "required field n_head is missing"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"vocab_size\":100}", TS_ERR_FORMAT,
         "required field n_positions (or n_ctx) is missing"},
        {"{\"n_layer\":\"6\",\"n_head\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_layer must be an integer, got a string"},
        {"{\"n_layer\":null,\"n_head\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_layer must be an integer, got null"},
        {"{\"n_layer\":6.5,\"n_head\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_layer must be an integer, got 6.5"},
        {"{\"n_layer\":-1,\"n_head\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_layer is -1, expected 1..1024"},
        {"{\"n_layer\":2,\"n_head\":0,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_head is 0, expected 1..4096"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":1e12,\"n_positions\":16,\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_embd is 1000000000000, expected 1..65536"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":3e9}",
         TS_ERR_FORMAT, "vocab_size is 3000000000, expected 1..16777216"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":[16],\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_ctx must be an integer, got an array"},
        {"{\"n_layer\":2,\"n_head\":3,\"n_embd\":8,\"n_positions\":16,\"vocab_size\":100}",
         TS_ERR_FORMAT, "n_embd 8 is not divisible by n_head 3"},
        {"{" SIZES ",\"activation_function\":\"relu\"}", TS_ERR_UNSUPPORTED,
         "config.json: activation_function \"relu\" is not supported (GPT-2 uses \"gelu_new\")"},
        {"{" SIZES ",\"activation_function\":\"gelu\"}", TS_ERR_UNSUPPORTED,
         "activation_function \"gelu\" is not supported"},
        {"{" SIZES ",\"activation_function\":1}", TS_ERR_FORMAT,
         "activation_function must be a string, got a number"},
        {"{" SIZES ",\"layer_norm_epsilon\":\"1e-5\"}", TS_ERR_FORMAT,
         "layer_norm_epsilon must be a number, got a string"},
        {"{" SIZES ",\"layer_norm_epsilon\":-1e-5}", TS_ERR_FORMAT,
         "layer_norm_epsilon is -1e-05, expected a small positive number"},
        {"{" SIZES ",\"layer_norm_epsilon\":0}", TS_ERR_FORMAT, "layer_norm_epsilon is 0"},
        {"{" SIZES ",\"bos_token_id\":100}", TS_ERR_FORMAT, "bos_token_id is 100, expected 0..99"},
        {"{" SIZES ",\"eos_token_id\":-5}", TS_ERR_FORMAT, "eos_token_id is -5, expected 0..99"},
        {"{" SIZES ",\"eos_token_id\":\"x\"}", TS_ERR_FORMAT,
         "eos_token_id must be an integer, got a string"},
        {"{" SIZES ",\"model_type\":\"llama\"}", TS_ERR_UNSUPPORTED,
         "model_type \"llama\" is not supported (only \"gpt2\")"},
        {"{" SIZES ",\"model_type\":7}", TS_ERR_FORMAT, "model_type must be a string"},
        {"{" SIZES ",\"n_inner\":100}", TS_ERR_UNSUPPORTED,
         "n_inner must be null or 4 * n_embd = 32"},
        {"{" SIZES ",\"scale_attn_weights\":false}", TS_ERR_UNSUPPORTED,
         "scale_attn_weights false is not supported"},
        {"{" SIZES ",\"scale_attn_by_inverse_layer_idx\":true}", TS_ERR_UNSUPPORTED,
         "scale_attn_by_inverse_layer_idx true is not supported"},
        {"{" SIZES ",\"add_cross_attention\":true}", TS_ERR_UNSUPPORTED,
         "add_cross_attention true is not supported"},
        {"{" SIZES ",\"tie_word_embeddings\":\"yes\"}", TS_ERR_FORMAT,
         "tie_word_embeddings must be true or false, got a string"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        expect_fail(k[i].text, k[i].status, k[i].want);
}

static void test_missing_file(void **state)
{
    (void)state;
    char d[700];
    snprintf(d, sizeof d, "%s/nope", g_dir);
    ts_model_info info;
    char err[TS_ERR_SIZE] = "";
    assert_int_equal(ts_config_load(d, &info, err, sizeof err), TS_ERR_IO);
    assert_non_null(strstr(err, "nope/config.json"));
    assert_non_null(strstr(err, "No such file"));
}

/* Byte flips and truncations of a real config never crash; results are
 * either OK with sane sizes or an error with a message. */
static void test_fuzz(void **state)
{
    (void)state;
    const size_t n = strlen(k_distilgpt2);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    static const char k_vals[] = {'"', '}', '-', '9', 'x'};
    size_t ok = 0, tried = 0;
    for (size_t at = 0; at < n; at++) {
        for (size_t v = 0; v <= sizeof k_vals; v++) {
            memcpy(buf, k_distilgpt2, n + 1);
            if (v == sizeof k_vals)
                buf[at] = '\0'; /* truncation */
            else if (buf[at] == k_vals[v])
                continue;
            else
                buf[at] = k_vals[v];
            write_config(buf);
            ts_model_info info;
            char err[TS_ERR_SIZE] = "";
            ts_status s = ts_config_load(g_dir, &info, err, sizeof err);
            tried++;
            if (s == TS_OK) {
                ok++;
                assert_true(info.n_layer >= 1 && info.n_embd % info.n_head == 0);
                assert_true(info.layer_norm_epsilon > 0);
            } else {
                assert_non_null(strstr(err, "config.json"));
            }
        }
    }
    assert_true(tried > 2000);
    assert_true(ok < tried); /* the corruptions are noticed at all */
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_configs), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_configs),  cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
