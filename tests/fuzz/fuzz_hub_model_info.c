/*
 * fuzz_hub_model_info.c — the hub's model-info answer
 * (/api/models/{repo}/revision/{rev}: {"sha", "siblings": [...]}) as
 * `tempscale pull` reads it (ts_hub_parse_model_info, src/hub/hub.c).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char commit[41], err[TS_ERR_SIZE] = "";
    const char *weights = NULL;
    ts_status s =
        ts_hub_parse_model_info("https://hub/api/models/o/n/revision/main", (const char *)data,
                                size, "o/n", commit, &weights, err, sizeof err);
    if (s != TS_OK) {
        FUZZ_CHECK(weights == NULL);
        fuzz_check_message(err);
        return 0;
    }
    FUZZ_CHECK(strlen(commit) == 40);
    FUZZ_CHECK(strcmp(weights, "model.safetensors") == 0 ||
               strcmp(weights, "model.safetensors.index.json") == 0);
    return 0;
}
