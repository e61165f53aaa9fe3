/*
 * fuzz_csv.c — a logits CSV (src/calib/csv.c): what loads has K >= 2
 * classes, labels in [0, K) and finite logits.
 */
#include "fuzz.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("logits.csv", data, size);
    float *z = NULL;
    int32_t *y = NULL;
    size_t n = 0, k = 0;
    char err[TS_ERR_SIZE] = "";
    if (ts_csv_read_logits(path, &z, &y, &n, &k, err, sizeof err) != TS_OK) {
        FUZZ_CHECK(!z && !y);
        fuzz_check_message(err);
        return 0;
    }
    FUZZ_CHECK(n >= 1 && k >= 2);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(y[i] >= 0 && (size_t)y[i] < k);
        for (size_t j = 0; j < k; j++)
            FUZZ_CHECK(isfinite(z[i * k + j]));
    }
    free(z);
    free(y);
    return 0;
}
