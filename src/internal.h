/*
 * internal.h — declarations shared between libtempscale's .c files.
 * Not installed; not part of the public API (that is include/tempscale.h).
 * Each module adds its own section behind a banner.
 */
#ifndef TS_INTERNAL_H
#define TS_INTERNAL_H

#include "tempscale.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Programmer bugs only; never for bad input. */
#define TS_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/*
 * Write a printf-style one-line message into err (may be NULL) and return
 * status, so error paths read `return ts_errorf(err, n, TS_ERR_FORMAT, ...)`.
 */
ts_status ts_errorf(char *err, size_t err_size, ts_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* a * b into *out; false on size_t overflow. */
static inline int ts_mul_overflows(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

/*
 * Read a whole file into a NUL-terminated malloc'd buffer (caller frees).
 * *len gets the size without the NUL. Message names the path on failure.
 */
ts_status ts_read_file(const char *path, char **data, size_t *len, char *err, size_t err_size);

/*
 * Atomic output files: write to "<path>.tmp.XXXXXX" beside the target, then
 * rename over it, so a failed run never leaves a partial file.
 * ts_atomic_open fills *f and tmp (tmp_size >= strlen(path) + 16).
 * ts_atomic_commit closes f and renames (or removes tmp and fails);
 * ts_atomic_abort closes f and removes tmp.
 */
ts_status ts_atomic_open(const char *path, FILE **f, char *tmp, size_t tmp_size, char *err,
                         size_t err_size);
ts_status ts_atomic_commit(FILE *f, const char *tmp, const char *path, char *err,
                           size_t err_size);
void ts_atomic_abort(FILE *f, const char *tmp);

/* ---- safetensors (src/safetensors.c) ------------------------------------ */

/* ---- model internals (src/model.c, src/kernels.c, src/threadpool.c) ------ */

/* ---- tokenizer internals (src/tokenizer.c, src/utf8.c) ------------------- */

/* ---- plotting internals (src/plot.c) ------------------------------------- */

/* ---- NumPy .npy files and CSV (src/npy.c, src/csv.c) --------------------- */

/* ---- hub internals (src/hub.c) ------------------------------------------- */

#endif /* TS_INTERNAL_H */
