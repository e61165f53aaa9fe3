/*
 * weights.c — bind the tensors of an opened safetensors set to the GPT-2
 * layout (ts_weights), checking every shape against config.json.
 *
 * Names (Hugging Face GPT2LMHeadModel, with an optional "transformer." prefix
 * that is decided once from where wte.weight lives: distilgpt2 has it, gpt2
 * does not):
 *   wte.weight (V, C)           wpe.weight (n_positions, C)
 *   h.N.ln_1.weight/.bias (C)   h.N.attn.c_attn.weight (C, 3C)  .bias (3C)
 *   h.N.attn.c_proj.weight (C, C)  .bias (C)
 *   h.N.ln_2.weight/.bias (C)   h.N.mlp.c_fc.weight (C, 4C)     .bias (4C)
 *   h.N.mlp.c_proj.weight (4C, C)  .bias (C)
 * (the per-block names and shapes are one table, ts_layer_tensors, below)
 *   ln_f.weight/.bias (C)       lm_head.weight (V, C), never prefixed
 * Conv1D weights are stored [in, out] (y = x W + b), unlike nn.Linear.
 * h.N.attn.bias and h.N.attn.masked_bias are causal-mask buffers, not
 * parameters: ignored (whatever their dtype). Other unknown tensors are
 * ignored too, as transformers does, except h.N with N >= n_layer, which
 * means the config does not describe this checkpoint.
 *
 * lm_head: used when lm_head.weight is present; otherwise tied to wte, unless
 * config.json says tie_word_embeddings false (then it is an error, where
 * transformers would silently initialise a random head). Note: transformers
 * with tie_word_embeddings true would overwrite a stored lm_head.weight with
 * wte; we use the stored one (it equals wte in every checkpoint saved tied).
 * A tied checkpoint that stores only lm_head.weight (no wte.weight) binds
 * wte to it.
 *
 * Every bound tensor must be F32, F16 or BF16 (dtypes may be mixed; each
 * ts_tensor carries its own) and its data aligned to its element size, so
 * kernels may load it as float / uint16_t. Files written by the safetensors
 * library are always aligned; a hand-made unaligned file is refused by name.
 */
#include "internal.h"

#include <stdint.h>
#include <string.h>

const ts_layer_tensor_desc ts_layer_tensors[TS_LT_COUNT] = {
    [TS_LT_LN_1_W] = {"ln_1.weight", 1, 0},
    [TS_LT_LN_1_B] = {"ln_1.bias", 1, 0},
    [TS_LT_ATTN_W] = {"attn.c_attn.weight", 1, 3},
    [TS_LT_ATTN_B] = {"attn.c_attn.bias", 3, 0},
    [TS_LT_ATTN_PROJ_W] = {"attn.c_proj.weight", 1, 1},
    [TS_LT_ATTN_PROJ_B] = {"attn.c_proj.bias", 1, 0},
    [TS_LT_LN_2_W] = {"ln_2.weight", 1, 0},
    [TS_LT_LN_2_B] = {"ln_2.bias", 1, 0},
    [TS_LT_FC_W] = {"mlp.c_fc.weight", 1, 4},
    [TS_LT_FC_B] = {"mlp.c_fc.bias", 4, 0},
    [TS_LT_FC_PROJ_W] = {"mlp.c_proj.weight", 4, 1},
    [TS_LT_FC_PROJ_B] = {"mlp.c_proj.bias", 1, 0},
};

typedef struct bind_ctx {
    const ts_safetensors *st;
    const char *prefix; /* "" or "transformer." */
    size_t n_params;
    size_t matrix_params[TS_DTYPE_COUNT]; /* by ts_dtype, for info->dtype */
    char *err;
    size_t err_size;
} bind_ctx;

static void fmt_dims(const ts_tensor *t, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int32_t i = 0; i < t->ndim && i < 4 && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (t->ndim > 4 && at < size) at += (size_t)snprintf(buf + at, size - at, ",...");
    if (at < size) snprintf(buf + at, size - at, "]");
}

/*
 * Find prefix+name and check it has shape (d0) when d1 < 0, else (d0, d1).
 * `prefixed` false for lm_head.weight, which is never under "transformer.".
 */
static ts_status bind(bind_ctx *b, const char *name, bool prefixed, int64_t d0, int64_t d1,
                      ts_tensor *out)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefixed ? b->prefix : "", name);
    const ts_tensor *t = ts_safetensors_find(b->st, full);
    if (!t)
        return ts_errorf(b->err, b->err_size, TS_ERR_FORMAT, "%s: tensor %s is missing",
                         ts_safetensors_path(b->st), full);
    if (!t->supported)
        return ts_errorf(b->err, b->err_size, TS_ERR_UNSUPPORTED,
                         "%s: tensor %s has dtype %s; only F32, F16 and BF16 are supported",
                         t->file, full, t->dtype_name);
    int32_t ndim = d1 < 0 ? 1 : 2;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96], want[64];
        fmt_dims(t, got, sizeof got);
        if (ndim == 1)
            snprintf(want, sizeof want, "[%lld]", (long long)d0);
        else
            snprintf(want, sizeof want, "[%lld,%lld]", (long long)d0, (long long)d1);
        return ts_errorf(b->err, b->err_size, TS_ERR_FORMAT,
                         "%s: tensor %s has shape %s, config.json expects %s", t->file, full, got,
                         want);
    }
    size_t esz = ts_dtype_row_bytes(t->dtype, 1);
    if ((uintptr_t)t->data % esz != 0)
        return ts_errorf(b->err, b->err_size, TS_ERR_UNSUPPORTED,
                         "%s: tensor %s: %s data is not %zu-byte aligned in the file (re-save it "
                         "with the safetensors library, which aligns tensors)",
                         t->file, full, t->dtype_name, esz);
    *out = *t;
    size_t numel = t->nbytes / esz;
    b->n_params += numel;
    if (ndim == 2) b->matrix_params[t->dtype] += numel;
    return TS_OK;
}

/* Refuse h.N.* with N >= n_layer: the config does not match the checkpoint. */
static ts_status check_extra_layers(bind_ctx *b, int32_t n_layer)
{
    size_t plen = strlen(b->prefix);
    for (size_t i = 0; i < ts_safetensors_count(b->st); i++) {
        const ts_tensor *t = ts_safetensors_get(b->st, i);
        const char *n = t->name;
        if (strncmp(n, b->prefix, plen) != 0) continue;
        n += plen;
        if (n[0] != 'h' || n[1] != '.' || n[2] < '0' || n[2] > '9') continue;
        long long idx = 0;
        const char *p = n + 2;
        while (*p >= '0' && *p <= '9' && idx <= INT32_MAX)
            idx = idx * 10 + (*p++ - '0');
        if (*p != '.') continue;
        if (idx >= n_layer)
            return ts_errorf(b->err, b->err_size, TS_ERR_FORMAT,
                             "%s: tensor %s belongs to layer %lld but config.json has n_layer %d",
                             t->file, t->name, idx, n_layer);
    }
    return TS_OK;
}

ts_status ts_weights_bind(const ts_safetensors *st, ts_model_info *info, ts_weights *w, char *err,
                          size_t err_size)
{
    memset(w, 0, sizeof *w);
    bind_ctx b = {.st = st, .prefix = "", .err = err, .err_size = err_size};
    if (ts_safetensors_find(st, "transformer.wte.weight") ||
        ts_safetensors_find(st, "transformer.wpe.weight"))
        b.prefix = "transformer.";
    else if (!ts_safetensors_find(st, "wte.weight") && !ts_safetensors_find(st, "wpe.weight"))
        return ts_errorf(err, err_size, TS_ERR_FORMAT,
                         "%s: tensors wte.weight / wpe.weight (with or without \"transformer.\") "
                         "are missing: not a GPT-2 checkpoint?",
                         ts_safetensors_path(st));
    char wte_name[32];
    snprintf(wte_name, sizeof wte_name, "%swte.weight", b.prefix);
    const bool has_lm_head = ts_safetensors_find(st, "lm_head.weight") != NULL;
    /* A tied checkpoint deduplicated the other way round (safetensors keeps
     * the alphabetically first name of shared tensors when the writer is not
     * told which to drop): only lm_head.weight is stored, and it is wte. */
    const bool wte_from_head =
        !ts_safetensors_find(st, wte_name) && has_lm_head && info->tied_lm_head;

    const int64_t C = info->n_embd, V = info->n_vocab, P = info->n_positions;
    const int32_t L = info->n_layer;
    if (L <= 0 || C <= 0 || V <= 0 || P <= 0)
        return ts_errorf(err, err_size, TS_ERR_INVALID,
                         "%s: model info has non-positive sizes (config not loaded?)",
                         ts_safetensors_path(st));
    ts_status s = check_extra_layers(&b, L);
    if (s != TS_OK) return s;

    w->layers = calloc((size_t)L, sizeof *w->layers);
    if (!w->layers)
        return ts_errorf(err, err_size, TS_ERR_NOMEM, "%s: out of memory", ts_safetensors_path(st));

    if ((s = wte_from_head ? bind(&b, "lm_head.weight", false, V, C, &w->wte)
                           : bind(&b, "wte.weight", true, V, C, &w->wte)) ||
        (s = bind(&b, "wpe.weight", true, P, C, &w->wpe)))
        goto fail;
    for (int32_t l = 0; l < L; l++) {
        for (int k = 0; k < TS_LT_COUNT; k++) {
            const ts_layer_tensor_desc *d = &ts_layer_tensors[k];
            char n[64];
            snprintf(n, sizeof n, "h.%d.%s", l, d->suffix);
            if ((s = bind(&b, n, true, d->rows_c * C, d->cols_c ? d->cols_c * C : -1,
                          &w->layers[l].t[k])))
                goto fail;
        }
    }
    if ((s = bind(&b, "ln_f.weight", true, C, -1, &w->ln_f_w)) ||
        (s = bind(&b, "ln_f.bias", true, C, -1, &w->ln_f_b)))
        goto fail;

    if (wte_from_head) {
        w->lm_head = w->wte;
        w->tied = true;
    } else if (has_lm_head) {
        if ((s = bind(&b, "lm_head.weight", false, V, C, &w->lm_head))) goto fail;
        w->tied = false;
    } else if (!info->tied_lm_head) {
        s = ts_errorf(err, err_size, TS_ERR_FORMAT,
                      "%s: tensor lm_head.weight is missing and config.json sets "
                      "tie_word_embeddings false",
                      ts_safetensors_path(st));
        goto fail;
    } else {
        w->lm_head = w->wte;
        w->tied = true;
    }

    ts_dtype best = TS_DTYPE_F32;
    for (int d = 1; d < TS_DTYPE_COUNT; d++)
        if (b.matrix_params[d] > b.matrix_params[best]) best = (ts_dtype)d;
    info->dtype = best;
    info->n_params = b.n_params;
    info->tied_lm_head = w->tied;
    return TS_OK;
fail:
    ts_weights_release(w);
    return s;
}

void ts_weights_release(ts_weights *w)
{
    if (!w) return;
    free(w->layers);
    memset(w, 0, sizeof *w);
}
