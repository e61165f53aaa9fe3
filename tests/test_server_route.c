/*
 * test_server_route.c — what `tempscale serve` decides from a request head
 * before reading any body (server/route.c), checked without a network:
 *   - routes: the page and its files, /health, the API prefixes, 404 else;
 *     405 for a method the page or /health do not take;
 *   - authentication: with a key every /v1 and /api route needs
 *     "Authorization: Bearer KEY" (scheme in any case), the page and /health
 *     do not; missing and wrong keys are 401 with WWW-Authenticate; a key
 *     that is a prefix, an extension or one byte off is wrong;
 *   - the order of refusals: Host, then route, then key, then size;
 *   - the Host rule without a key (DNS rebinding): loopback names and the
 *     bind address only, with or without a port, IPv6 in brackets;
 *   - Content-Length: digits only, no overflow, over 1 MiB is 413 at once;
 *   - SSE framing: one data line per line of payload (CR, LF, CRLF), so a
 *     payload cannot inject an event, and the size function is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ts_srv_verdict decide(const char *key, const char *method, const char *path,
                             const char *auth, const char *host, const char *length)
{
    ts_srv_policy p = {.api_key = key, .max_body = 0, .bind_host = "127.0.0.1"};
    ts_srv_head h = {.method = method,
                     .path = path,
                     .authorization = auth,
                     .host = host,
                     .content_length = length};
    ts_srv_verdict v;
    ts_srv_decide(&p, &h, &v);
    return v;
}

static void test_routes(void **state)
{
    (void)state;
    ts_srv_verdict v = decide(NULL, "GET", "/", NULL, "127.0.0.1:8080", NULL);
    assert_int_equal(v.kind, TS_SRV_ASSET);
    assert_non_null(v.asset);
    assert_string_equal(v.asset->path, "/index.html");
    assert_true(strncmp(v.asset->mime, "text/html", 9) == 0);
    assert_true(v.asset->len > 100);
    assert_true(memcmp(v.asset->data, "<!doctype html>", 15) == 0);
    v = decide(NULL, "HEAD", "/index.html", NULL, "localhost", NULL);
    assert_int_equal(v.kind, TS_SRV_ASSET);
    v = decide(NULL, "GET", "/health", NULL, "localhost", NULL);
    assert_int_equal(v.kind, TS_SRV_HEALTH);
    v = decide(NULL, "POST", "/", NULL, "localhost", "2");
    assert_int_equal(v.kind, TS_SRV_REFUSE);
    assert_int_equal(v.status, 405);
    assert_string_equal(v.code, "method_not_allowed");
    v = decide(NULL, "GET", "/secret.txt", NULL, "localhost", NULL);
    assert_int_equal(v.status, 404);
    assert_string_equal(v.code, "unknown_route");
    v = decide(NULL, "GET", "/../etc/passwd", NULL, "localhost", NULL);
    assert_int_equal(v.status, 404);
    v = decide(NULL, "GET", "/v1/models", NULL, "localhost", NULL);
    assert_int_equal(v.kind, TS_SRV_API_INLINE);
    v = decide(NULL, "DELETE", "/v1/completions", NULL, "localhost", NULL);
    assert_int_equal(v.kind, TS_SRV_API_INLINE); /* ts_api_handle answers 405 */
    v = decide(NULL, "POST", "/v1/completions", NULL, "localhost", "10");
    assert_int_equal(v.kind, TS_SRV_API_POST);
    assert_true(v.has_length);
    assert_int_equal(v.content_length, 10);
    v = decide(NULL, "POST", "/api/top", NULL, "localhost", NULL);
    assert_int_equal(v.kind, TS_SRV_API_POST);
    assert_true(v.has_length); /* no length, not chunked: an empty body */
    assert_int_equal(v.content_length, 0);
    v = decide(NULL, "POST", "/api/nope", NULL, "localhost", "2");
    assert_int_equal(v.kind, TS_SRV_API_POST); /* ts_api_handle answers 404 with the routes */
    v = decide(NULL, "GET", "/v1", NULL, "localhost", NULL);
    assert_int_equal(v.kind, TS_SRV_API_INLINE);
    assert_null(ts_srv_find_asset("/nope.js"));
    assert_ptr_equal(ts_srv_find_asset("/"), ts_srv_find_asset("/index.html"));
}

static void test_auth(void **state)
{
    (void)state;
    const char *key = "sk-test-0123456789";
    ts_srv_verdict v = decide(key, "GET", "/v1/models", NULL, "example.org", NULL);
    assert_int_equal(v.status, 401);
    assert_true(v.www_authenticate);
    assert_string_equal(v.code, "invalid_api_key");
    assert_string_equal(v.type, "invalid_request_error");
    v = decide(key, "GET", "/v1/models", "Bearer sk-test-0123456789", "example.org", NULL);
    assert_int_equal(v.kind, TS_SRV_API_INLINE);
    v = decide(key, "POST", "/api/sweep", "bearer   sk-test-0123456789  ", NULL, "5");
    assert_int_equal(v.kind, TS_SRV_API_POST);
    /* Wrong keys: a prefix, an extension, one byte off, another scheme, no token. */
    const char *wrong[] = {"Bearer sk-test-012345678",
                           "Bearer sk-test-01234567890",
                           "Bearer sk-test-0123456788",
                           "Basic sk-test-0123456789",
                           "Bearer",
                           "Bearer ",
                           "sk-test-0123456789",
                           "",
                           "Bearersk-test-0123456789",
                           "Bearer sk-test-0123456789 x"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        v = decide(key, "POST", "/v1/completions", wrong[i], NULL, "5");
        assert_int_equal(v.status, 401);
        assert_string_equal(v.message, "Incorrect API key provided");
        assert_false(ts_srv_auth_ok(wrong[i], key));
    }
    assert_true(ts_srv_auth_ok("Bearer sk-test-0123456789", key));
    assert_false(ts_srv_auth_ok("Bearer x", ""));
    assert_false(ts_srv_auth_ok(NULL, key));
    /* The page and /health need no key (the page sends it when the user types one). */
    assert_int_equal(decide(key, "GET", "/", NULL, NULL, NULL).kind, TS_SRV_ASSET);
    assert_int_equal(decide(key, "GET", "/health", NULL, NULL, NULL).kind, TS_SRV_HEALTH);
    /* Unknown /api routes say 401 first: nothing about routes without the key. */
    assert_int_equal(decide(key, "POST", "/api/whatever", NULL, NULL, "1").status, 401);
}

static void test_order_and_size(void **state)
{
    (void)state;
    const char *key = "k";
    /* Without a key: a huge body on an unauthorised request is 401, not 413. */
    ts_srv_verdict v = decide(key, "POST", "/v1/completions", NULL, NULL, "99999999");
    assert_int_equal(v.status, 401);
    v = decide(key, "POST", "/v1/completions", "Bearer k", NULL, "1048577");
    assert_int_equal(v.status, 413);
    assert_string_equal(v.code, "body_too_large");
    v = decide(key, "POST", "/v1/completions", "Bearer k", NULL, "1048576");
    assert_int_equal(v.kind, TS_SRV_API_POST);
    const char *bad[] = {"-1",
                         "+5",
                         "1e3",
                         " 5",
                         "5 ",
                         "0x10",
                         "",
                         "18446744073709551616",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = decide(NULL, "POST", "/v1/completions", NULL, "localhost", bad[i]);
        assert_int_equal(v.status, 400);
        assert_string_equal(v.code, "invalid_length");
    }
    uint64_t n = 0;
    assert_true(ts_srv_parse_length("18446744073709551615", &n));
    assert_true(n == UINT64_MAX);
    assert_false(ts_srv_parse_length(NULL, &n));
    /* Host is checked before anything else when there is no key. */
    v = decide(NULL, "POST", "/v1/completions", NULL, "attacker.example", "99999999");
    assert_int_equal(v.status, 403);
    assert_string_equal(v.code, "host_not_allowed");
    v = decide(NULL, "GET", "/", NULL, "attacker.example:8080", NULL);
    assert_int_equal(v.status, 403);
}

static void test_host_rule(void **state)
{
    (void)state;
    const char *ok[] = {"localhost",    "LOCALHOST:8080", "127.0.0.1",  "127.0.0.1:1",
                        "127.1.2.3:80", "[::1]",          "[::1]:8080", NULL};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(ts_srv_host_allowed(ok[i], "127.0.0.1"));
    const char *no[] = {"example.org",
                        "localhost.example.org",
                        "127.0.0.1.nip.io",
                        "127.0.0.x",
                        "[::1",
                        "[::2]:80",
                        "[::1]x",
                        "10.0.0.1",
                        "",
                        "127.0.0"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(ts_srv_host_allowed(no[i], "127.0.0.1"));
    assert_true(ts_srv_host_allowed("my-box:8080", "my-box"));
    assert_true(ts_srv_host_allowed("[fe80::1]:8080", "fe80::1"));
    assert_true(ts_srv_host_allowed("[fe80::1]:8080", "[fe80::1]"));
    /* With a key, the Host header does not matter. */
    assert_int_equal(decide("k", "GET", "/v1/models", "Bearer k", "example.org", NULL).kind,
                     TS_SRV_API_INLINE);
}

static char *frame(const char *data)
{
    size_t len = strlen(data), n = ts_srv_sse_size(data, len);
    char *out = malloc(n + 1);
    assert_non_null(out);
    assert_int_equal(ts_srv_sse_frame(data, len, out), n);
    out[n] = '\0';
    return out;
}

static void test_sse(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"[DONE]", "data: [DONE]\n\n"},
        {"{\"a\":1}", "data: {\"a\":1}\n\n"},
        {"", "data: \n\n"},
        {"a\nb", "data: a\ndata: b\n\n"},
        {"a\r\nb", "data: a\ndata: b\n\n"},
        {"a\rb", "data: a\ndata: b\n\n"},
        {"a\n\nevent: x", "data: a\ndata: \ndata: event: x\n\n"},
        {"a\n", "data: a\n\n"},
        {"\n", "data: \n\n"},
        {"a\r\n\r\n", "data: a\ndata: \n\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *f = frame(cases[i].in);
        assert_string_equal(f, cases[i].out);
        /* Exactly one blank line, at the end: one event, whatever the payload. */
        assert_non_null(strstr(f, "\n\n"));
        assert_ptr_equal(strstr(f, "\n\n"), f + strlen(f) - 2);
        free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_order_and_size),
        cmocka_unit_test(test_host_rule),
        cmocka_unit_test(test_sse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
