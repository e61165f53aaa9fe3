/*
 * fuzz_hub_headers.c — the headers of a hub's answer, as libcurl hands them
 * over: one line per call, NOT NUL-terminated (each line is copied into an
 * exact-size buffer so reading past it is caught). Then what pull decides
 * from them: ts_hub_head_meta (etag, size, commit) and, for a Location,
 * ts_hub_check_url (the redirect policy) from an https and an http hub.
 */
#include "fuzz.h"

#include <strings.h>

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_http_head h;
    ts_http_head_reset(&h);
    size_t at = 0;
    while (at < size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t n = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
        char *line = malloc(n ? n : 1);
        FUZZ_CHECK(line);
        memcpy(line, data + at, n);
        ts_http_head_line(&h, line, n);
        free(line);
        at += n;
    }
    FUZZ_CHECK(h.status == 0 || (h.status >= 100 && h.status <= 599));
    FUZZ_CHECK(memchr(h.etag, 0, sizeof h.etag) && memchr(h.location, 0, sizeof h.location));
    FUZZ_CHECK(memchr(h.error_message, 0, sizeof h.error_message) &&
               memchr(h.bad, 0, sizeof h.bad));
    FUZZ_CHECK(h.linked_size >= -1 && h.content_length >= -1);

    char etag[65], err[TS_ERR_SIZE] = "";
    int64_t fsize = -2;
    if (ts_hub_head_meta(&h, "https://hub/o/n/resolve/" COMMIT "/f", COMMIT, etag, &fsize, err,
                         sizeof err) == TS_OK) {
        size_t n = strlen(etag);
        FUZZ_CHECK((n == 40 || n == 64) && is_hex(etag, n)); /* a blob name, never a path */
        FUZZ_CHECK(fsize >= 0);
    } else {
        fuzz_check_message(err);
    }
    if (h.location[0]) {
        if (ts_hub_check_url("https://huggingface.co", h.location, err, sizeof err) == TS_OK)
            FUZZ_CHECK(strncasecmp(h.location, "http", 4) == 0);
        else
            fuzz_check_message(err);
        if (ts_hub_check_url("http://127.0.0.1:8080", h.location, err, sizeof err) != TS_OK)
            fuzz_check_message(err);
    }
    return 0;
}
