/*
 * fuzz_npy.c — a NumPy .npy file (src/calib/npy.c), read both as float32
 * logits and as integer labels; what loads has the size its shape says.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("array.npy", data, size);
    char err[TS_ERR_SIZE] = "";
    float *f = NULL;
    int32_t ndim = 0;
    size_t shape[TS_NPY_MAX_DIM];
    if (ts_npy_read_f32(path, &f, &ndim, shape, err, sizeof err) == TS_OK) {
        FUZZ_CHECK(ndim >= 0 && ndim <= TS_NPY_MAX_DIM);
        size_t count = 1;
        for (int32_t i = 0; i < ndim; i++)
            count *= shape[i];
        if (count) { /* every element readable */
            volatile float last = f[count - 1];
            (void)last;
        }
        free(f);
    } else {
        fuzz_check_message(err);
    }
    int32_t *labels = NULL;
    size_t n = 0;
    if (ts_npy_read_labels(path, &labels, &n, err, sizeof err) == TS_OK) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(labels[i] >= 0);
        free(labels);
    } else {
        fuzz_check_message(err);
    }
    return 0;
}
