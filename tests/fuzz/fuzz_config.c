/*
 * fuzz_config.c — config.json (src/engine/config.c): what loads must be a
 * shape the engine can address.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file("model/config.json", data, size);
    char dir[512], err[TS_ERR_SIZE] = "";
    snprintf(dir, sizeof dir, "%s/model", fuzz_dir());
    ts_model_info info;
    if (ts_config_load(dir, &info, err, sizeof err) != TS_OK) {
        fuzz_check_message(err);
        return 0;
    }
    FUZZ_CHECK(info.n_layer >= 1 && info.n_head >= 1 && info.n_embd >= 1 && info.n_vocab >= 1);
    FUZZ_CHECK(info.n_positions >= 1 && info.n_embd % info.n_head == 0);
    FUZZ_CHECK(info.bos_token_id < info.n_vocab && info.eos_token_id < info.n_vocab);
    FUZZ_CHECK(info.layer_norm_epsilon > 0.0 && info.layer_norm_epsilon < 1.0);
    return 0;
}
