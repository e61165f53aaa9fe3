/*
 * model.c — placeholder until the engine lands (issue 3 owns this file).
 */
#include "internal.h"

ts_model_params ts_model_default_params(void)
{
    ts_model_params p = {0};
    return p;
}

ts_status ts_model_load(const char *dir, const ts_model_params *params, ts_model **out,
                        char *err, size_t err_size)
{
    (void)params;
    *out = NULL;
    return ts_errorf(err, err_size, TS_ERR_UNSUPPORTED, "%s: model loading is not written yet",
                     dir);
}
