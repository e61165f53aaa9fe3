/*
 * fuzz_server_request.c — what `tempscale serve` decides from a request head
 * before ts_api_handle sees anything (server/route.c): the route, the key,
 * the Host rule, Content-Length; and the SSE framing of any payload.
 *
 * Input: NUL-separated fields method, path, Authorization, Host,
 * Content-Length, Transfer-Encoding, payload (a missing field is an absent
 * header; an empty one is present and empty). Each field is copied into an
 * exact-size buffer, so reading past it is caught. Checked invariants:
 *   - a refusal has a status the server documents and a one-line message;
 *   - with a key, no /v1 or /api request gets through without that key;
 *   - without a key, no request gets through with a Host that is not allowed;
 *   - a body the server will read is announced at most max_body bytes;
 *   - an SSE frame is exactly ts_srv_sse_size bytes, every line is a "data: "
 *     line, and it holds one event (one blank line, at its end).
 */
#include "fuzz.h"

#include "server.h"

#define N_FIELDS 7

/* The next NUL-terminated field, copied exactly; absent when the input ran out. */
static char *take(const uint8_t **p, size_t *left, bool *present)
{
    *present = *left > 0;
    const uint8_t *z = *left ? memchr(*p, 0, *left) : NULL;
    size_t n = z ? (size_t)(z - *p) : *left;
    char *s = malloc(n + 1);
    FUZZ_CHECK(s);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += z ? n + 1 : n;
    *left -= z ? n + 1 : n;
    return s;
}

static bool one_line(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

static void check_verdict(const ts_srv_policy *p, const ts_srv_head *h, const ts_srv_verdict *v)
{
    if (v->kind == TS_SRV_REFUSE) {
        int s = v->status;
        FUZZ_CHECK(s == 400 || s == 401 || s == 403 || s == 404 || s == 405 || s == 413);
        FUZZ_CHECK(v->message && one_line(v->message) && v->type);
        FUZZ_CHECK(v->www_authenticate == (s == 401));
        return;
    }
    bool api = strncmp(h->path, "/v1", 3) == 0 || strncmp(h->path, "/api", 4) == 0;
    if (p->api_key && *p->api_key && (v->kind == TS_SRV_API_POST || v->kind == TS_SRV_API_INLINE))
        FUZZ_CHECK(ts_srv_auth_ok(h->authorization, p->api_key));
    if (!p->api_key) FUZZ_CHECK(ts_srv_host_allowed(h->host, p->bind_host));
    if (v->kind == TS_SRV_API_POST) {
        FUZZ_CHECK(api && strcmp(h->method, "POST") == 0);
        if (v->has_length)
            FUZZ_CHECK(v->content_length <= TS_SRV_MAX_BODY);
        else
            FUZZ_CHECK(h->transfer_encoding != NULL);
    }
    if (v->kind == TS_SRV_ASSET) FUZZ_CHECK(v->asset && v->asset == ts_srv_find_asset(h->path));
    if (v->kind == TS_SRV_HEALTH) FUZZ_CHECK(strcmp(h->path, "/health") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    char *f[N_FIELDS];
    bool present[N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++)
        f[i] = take(&p, &left, &present[i]);
    ts_srv_head h = {
        .method = f[0],
        .path = f[1],
        .authorization = present[2] ? f[2] : NULL,
        .host = present[3] ? f[3] : NULL,
        .content_length = present[4] ? f[4] : NULL,
        .transfer_encoding = present[5] ? f[5] : NULL,
    };
    const ts_srv_policy policies[] = {
        {.api_key = NULL, .max_body = 0, .bind_host = "127.0.0.1"},
        {.api_key = "sk-fuzz-key", .max_body = 0, .bind_host = "0.0.0.0"},
        {.api_key = NULL, .max_body = 0, .bind_host = "[::1]"},
    };
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        ts_srv_verdict v;
        ts_srv_decide(&policies[i], &h, &v);
        check_verdict(&policies[i], &h, &v);
    }
    uint64_t n;
    if (h.content_length && ts_srv_parse_length(h.content_length, &n))
        for (const char *c = h.content_length; *c; c++)
            FUZZ_CHECK(*c >= '0' && *c <= '9');

    /* The payload as one SSE event. */
    size_t plen = strlen(f[6]);
    size_t want = ts_srv_sse_size(f[6], plen);
    char *frame = malloc(want);
    FUZZ_CHECK(frame);
    FUZZ_CHECK(ts_srv_sse_frame(f[6], plen, frame) == want);
    FUZZ_CHECK(want >= 8 && frame[want - 1] == '\n' && frame[want - 2] == '\n');
    size_t line = 0;
    for (size_t i = 0; i + 1 < want; i++) {
        if (i == line) FUZZ_CHECK(want - i >= 6 && memcmp(frame + i, "data: ", 6) == 0);
        FUZZ_CHECK(frame[i] != '\r');
        if (frame[i] == '\n') {
            FUZZ_CHECK(frame[i + 1] != '\n' || i + 2 == want); /* the blank line ends it */
            line = i + 1;
        }
    }
    free(frame);
    for (int i = 0; i < N_FIELDS; i++)
        free(f[i]);
    return 0;
}
