/*
 * fuzz_safetensors.c — a .safetensors file: 8-byte header length, JSON
 * header, tensor table (src/engine/safetensors.c). Whatever opens must give
 * tensors whose bytes lie inside the mapping, found again by name.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("model.safetensors", data, size);
    ts_safetensors *st = NULL;
    char err[TS_ERR_SIZE] = "";
    ts_status s = ts_safetensors_open_file(path, &st, err, sizeof err);
    if (s != TS_OK) {
        FUZZ_CHECK(st == NULL && err[0]);
        fuzz_check_message(err);
        return 0;
    }
    const unsigned char *lo = (const unsigned char *)data, *hi = lo + size;
    (void)lo, (void)hi;
    for (size_t i = 0; i < ts_safetensors_count(st); i++) {
        const ts_tensor *t = ts_safetensors_get(st, i);
        FUZZ_CHECK(ts_safetensors_find(st, t->name) == t);
        FUZZ_CHECK(t->nbytes <= size);
        if (t->nbytes) { /* first and last byte must be mapped */
            volatile unsigned char a = ((const unsigned char *)t->data)[0];
            volatile unsigned char b = ((const unsigned char *)t->data)[t->nbytes - 1];
            (void)a, (void)b;
        }
    }
    ts_safetensors_close(st);
    return 0;
}
