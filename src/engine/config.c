/*
 * config.c — read a Hugging Face GPT-2 config.json into ts_model_info.
 *
 * Fields (GPT2Config names; keys we do not use, such as "architectures",
 * "_num_labels", "task_specific_params" or the dropout rates, are ignored):
 *   n_layer, n_head, n_embd, vocab_size   required integers
 *   n_positions                           required; "n_ctx" is the fallback
 *   layer_norm_epsilon                    default 1e-5 (GPT2Config's)
 *   activation_function                   default "gelu_new" (GPT2Config's);
 *                                         "gelu_new" or its equal
 *                                         "gelu_pytorch_tanh", others refused
 *   bos_token_id, eos_token_id            default 50256; null = default; -1
 *                                         when the default is outside a
 *                                         smaller vocabulary
 *   n_inner                               null / absent / 4 * n_embd only
 *   tie_word_embeddings                   default true (recorded in
 *                                         info->tied_lm_head; weights.c decides)
 *   model_type                            "gpt2" when present
 *   scale_attn_weights (true), scale_attn_by_inverse_layer_idx (false),
 *   add_cross_attention (false)           other values change the maths and
 *                                         are refused
 * The file is read by ts_json_load_file: a regular file of at most
 * TS_CONFIG_FILE_MAX (1 MiB) and 2^21 JSON values (docs/security.md).
 * Sizes are bounded so that every product the engine forms (V*C, 4C*C,
 * n_positions*C, L*12*C*C) fits in size_t and int32 indices stay valid.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define CFG_MAX_LAYER     1024
#define CFG_MAX_HEAD      4096
#define CFG_MAX_EMBD      65536
#define CFG_MAX_POSITIONS (1 << 20)
#define CFG_MAX_VOCAB     (1 << 24)

static const char *type_name(const cJSON *j)
{
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "an invalid value";
}

/*
 * Integer field `key` in [lo, hi]. Absent (or null, when null_ok) leaves *out
 * untouched and sets *present false. Any other type, a fraction or a value
 * out of range is an error naming the field.
 */
static ts_status get_int(const char *path, const cJSON *root, const char *key, int64_t lo,
                         int64_t hi, bool null_ok, int32_t *out, bool *present, char *err,
                         size_t err_size)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    *present = false;
    if (!j || (null_ok && cJSON_IsNull(j))) return TS_OK;
    if (!cJSON_IsNumber(j))
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: %s must be an integer, got %s", path,
                         key, type_name(j));
    double v = j->valuedouble;
    if (v != floor(v))
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: %s must be an integer, got %g", path,
                         key, v);
    if (v < (double)lo || v > (double)hi)
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: %s is %.0f, expected %lld..%lld", path,
                         key, v, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    *present = true;
    return TS_OK;
}

static ts_status require_int(const char *path, const cJSON *root, const char *key, int64_t hi,
                             int32_t *out, char *err, size_t err_size)
{
    bool present;
    ts_status s = get_int(path, root, key, 1, hi, false, out, &present, err, err_size);
    if (s == TS_OK && !present)
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: required field %s is missing", path,
                         key);
    return s;
}

/* Boolean field: absent or null keeps def. */
static ts_status get_bool(const char *path, const cJSON *root, const char *key, bool def, bool *out,
                          char *err, size_t err_size)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = def;
    if (!j || cJSON_IsNull(j)) return TS_OK;
    if (!cJSON_IsBool(j))
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: %s must be true or false, got %s", path,
                         key, type_name(j));
    *out = cJSON_IsTrue(j);
    return TS_OK;
}

static ts_status parse_config(const char *path, const cJSON *root, ts_model_info *info, char *err,
                              size_t err_size)
{
    ts_status s;
    bool present;
    if (!cJSON_IsObject(root))
        return ts_errorf(err, err_size, TS_ERR_FORMAT, "%s: expected a JSON object, got %s", path,
                         type_name(root));

    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && !cJSON_IsNull(mt)) {
        if (!cJSON_IsString(mt))
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: model_type must be a string, got %s", path, type_name(mt));
        if (strcmp(mt->valuestring, "gpt2") != 0)
            return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                             "%s: model_type \"%.64s\" is not supported (only \"gpt2\")", path,
                             mt->valuestring);
    }

    if ((s = require_int(path, root, "n_layer", CFG_MAX_LAYER, &info->n_layer, err, err_size)) ||
        (s = require_int(path, root, "n_head", CFG_MAX_HEAD, &info->n_head, err, err_size)) ||
        (s = require_int(path, root, "n_embd", CFG_MAX_EMBD, &info->n_embd, err, err_size)) ||
        (s = require_int(path, root, "vocab_size", CFG_MAX_VOCAB, &info->n_vocab, err, err_size)))
        return s;
    s = get_int(path, root, "n_positions", 1, CFG_MAX_POSITIONS, false, &info->n_positions,
                &present, err, err_size);
    if (s) return s;
    if (!present) {
        s = get_int(path, root, "n_ctx", 1, CFG_MAX_POSITIONS, false, &info->n_positions, &present,
                    err, err_size);
        if (s) return s;
        if (!present)
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: required field n_positions (or n_ctx) is missing", path);
    }
    if (info->n_embd % info->n_head != 0)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: n_embd %d is not divisible by n_head %d", path, info->n_embd,
                         info->n_head);

    /* n_inner: the MLP width; the engine (and ts_layer_weights) assume 4C. */
    const cJSON *ni = cJSON_GetObjectItemCaseSensitive(root, "n_inner");
    if (ni && !cJSON_IsNull(ni)) {
        if (!cJSON_IsNumber(ni) || ni->valuedouble != 4.0 * info->n_embd)
            return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                             "%s: n_inner must be null or 4 * n_embd = %d", path, 4 * info->n_embd);
    }

    /* Products the engine forms, in size_t: V*C, P*C, 4C*C and their sum over layers. */
    size_t c = (size_t)info->n_embd, v = (size_t)info->n_vocab, p = (size_t)info->n_positions,
           l = (size_t)info->n_layer, t;
    if (ts_mul_overflows(v, c, &t) || ts_mul_overflows(p, c, &t) || ts_mul_overflows(c, c, &t) ||
        ts_mul_overflows(t, 12, &t) || ts_mul_overflows(t, l, &t) || t > (size_t)INT64_MAX / 4)
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: n_layer %d, n_embd %d, vocab_size %d give a model too large to "
                         "address",
                         path, info->n_layer, info->n_embd, info->n_vocab);

    info->layer_norm_epsilon = 1e-5;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    if (eps && !cJSON_IsNull(eps)) {
        if (!cJSON_IsNumber(eps))
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: layer_norm_epsilon must be a number, got %s", path,
                             type_name(eps));
        if (!(eps->valuedouble > 0.0 && eps->valuedouble < 1.0))
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: layer_norm_epsilon is %g, expected a small positive number", path,
                             eps->valuedouble);
        info->layer_norm_epsilon = eps->valuedouble;
    }

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (act && !cJSON_IsNull(act)) {
        if (!cJSON_IsString(act))
            return ts_errorf(err, err_size, TS_ERR_FORMAT,
                             "%s: activation_function must be a string, got %s", path,
                             type_name(act));
        if (strcmp(act->valuestring, "gelu_new") != 0 &&
            strcmp(act->valuestring, "gelu_pytorch_tanh") != 0)
            return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                             "%s: activation_function \"%.64s\" is not supported (GPT-2 uses "
                             "\"gelu_new\")",
                             path, act->valuestring);
    }

    const int32_t def_id = info->n_vocab > 50256 ? 50256 : -1;
    info->bos_token_id = info->eos_token_id = def_id;
    if ((s = get_int(path, root, "bos_token_id", 0, info->n_vocab - 1, true, &info->bos_token_id,
                     &present, err, err_size)) ||
        (s = get_int(path, root, "eos_token_id", 0, info->n_vocab - 1, true, &info->eos_token_id,
                     &present, err, err_size)))
        return s;

    bool b;
    if ((s = get_bool(path, root, "scale_attn_weights", true, &b, err, err_size))) return s;
    if (!b)
        return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                         "%s: scale_attn_weights false is not supported", path);
    if ((s = get_bool(path, root, "scale_attn_by_inverse_layer_idx", false, &b, err, err_size)))
        return s;
    if (b)
        return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                         "%s: scale_attn_by_inverse_layer_idx true is not supported", path);
    if ((s = get_bool(path, root, "add_cross_attention", false, &b, err, err_size))) return s;
    if (b)
        return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED,
                         "%s: add_cross_attention true is not supported (decoder-only GPT-2)",
                         path);
    if ((s = get_bool(path, root, "tie_word_embeddings", true, &info->tied_lm_head, err, err_size)))
        return s;
    return TS_OK;
}

ts_status ts_config_load(const char *dir, ts_model_info *info, char *err, size_t err_size)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "%s: path too long", dir);
    memset(info, 0, sizeof *info);
    cJSON *root = NULL;
    ts_status s = ts_json_load_file(path, TS_CONFIG_FILE_MAX, &root, err, err_size);
    if (s != TS_OK) return s;
    s = parse_config(path, root, info, err, err_size);
    cJSON_Delete(root);
    if (s != TS_OK) memset(info, 0, sizeof *info);
    return s;
}
