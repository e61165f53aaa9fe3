/*
 * fuzz.h — what every harness in tests/fuzz/ shares.
 *
 * A harness is one file, tests/fuzz/fuzz_<name>.c, defining
 *     int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
 * (and optionally LLVMFuzzerInitialize for one-time setup). It is built twice
 * (tests/fuzz.cmake): with clang's libFuzzer (`make fuzz`), and under any
 * compiler as fuzz_replay_<name>, a plain program that runs every file of
 * tests/fuzz/corpus/<name>/ once (ctest label "fuzz"), so the corpus and
 * every crash reproducer in it are regression tests in every build.
 *
 * The parsers read files, so inputs are written to a per-process scratch
 * directory (in /dev/shm when there is one) that is removed at exit. A harness
 * must return 0, free what it allocated, and abort() only on a real bug (a
 * broken invariant it checks).
 */
#ifndef TS_FUZZ_H
#define TS_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fuzz_scratch[256];

static inline void fuzz_cleanup(void)
{
    if (!fuzz_scratch[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_scratch);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_scratch);
}

/* The scratch directory, created on first use. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_scratch[0]) {
        struct stat sb;
        const char *tmp = getenv("TMPDIR");
        const char *base = stat("/dev/shm", &sb) == 0 && access("/dev/shm", W_OK) == 0
                               ? "/dev/shm"
                               : (tmp && tmp[0] ? tmp : "/tmp");
        snprintf(fuzz_scratch, sizeof fuzz_scratch, "%s/ts_fuzz_XXXXXX", base);
        if (!mkdtemp(fuzz_scratch)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_cleanup);
    }
    return fuzz_scratch;
}

/* fuzz_dir()/rel as a path (rel may contain '/': parents are created). */
static inline const char *fuzz_path(const char *rel)
{
    static char path[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", fuzz_dir(), rel);
    for (char *p = path[k] + strlen(fuzz_dir()) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(path[k], 0700);
        *p = '/';
    }
    return path[k];
}

/* Write size bytes to fuzz_dir()/rel (replacing it); returns its path. */
static inline const char *fuzz_file(const char *rel, const void *data, size_t size)
{
    const char *path = fuzz_path(rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w, size -= (size_t)w;
    }
    close(fd);
    return path;
}

/* Split data at its first NUL byte: [data, *n1) and the rest (empty when none). */
static inline void fuzz_split(const uint8_t *data, size_t size, size_t *n1, const uint8_t **rest,
                              size_t *n2)
{
    const uint8_t *z = memchr(data, 0, size);
    *n1 = z ? (size_t)(z - data) : size;
    *rest = z ? z + 1 : data + size;
    *n2 = z ? size - *n1 - 1 : 0;
}

/* A failed invariant: say which, then abort (libFuzzer saves the input). */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Every library message is one printable line: no C0 control byte or DEL. */
static inline void fuzz_check_message(const char *err)
{
    for (const unsigned char *p = (const unsigned char *)err; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
}

#endif /* TS_FUZZ_H */
