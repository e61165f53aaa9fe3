/*
 * route.c — what the server decides from a request's head before it reads
 * any body: the route, authentication, the Host rule and the size limit;
 * plus the constant-time key compare and Server-Sent-Events framing.
 *
 * Pure functions over NUL-terminated strings: no I/O, no allocation, no
 * state, so tests and the fuzz harness call them directly. The order of the
 * checks is part of the contract: Host, then route, then authentication,
 * then size — a client without the key learns nothing about routes' bodies,
 * and a 413 is only ever said to a client that may use the route.
 */
#include "server.h"

#include <string.h>
#include <strings.h>

const ts_srv_asset *ts_srv_find_asset(const char *path)
{
    if (strcmp(path, "/") == 0) path = "/index.html";
    for (size_t i = 0; i < ts_srv_n_assets; i++)
        if (strcmp(ts_srv_assets[i].path, path) == 0) return &ts_srv_assets[i];
    return NULL;
}

bool ts_srv_parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool ts_srv_auth_ok(const char *authorization, const char *key)
{
    if (!authorization || !key || !*key) return false;
    const char *p = authorization;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t')) return false;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    /*
     * The loop runs over the server's key only and never exits early, so its
     * time says nothing about how much of a guess was right; lengths are
     * compared without a branch.
     */
    size_t k = strlen(key);
    unsigned char diff = (unsigned char)(n != k);
    for (size_t i = 0; i < k; i++) {
        unsigned char g = n ? (unsigned char)p[i % n] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)key[i]);
    }
    return diff == 0;
}

/* s[0, n) equals lit, ignoring ASCII case. */
static bool eq_ci(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* "127.a.b.c" with decimal parts: the IPv4 loopback network. */
static bool is_127(const char *s, size_t n)
{
    if (n < 9 || strncmp(s, "127.", 4) != 0) return false;
    int dots = 0;
    for (size_t i = 4; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return dots == 2;
}

bool ts_srv_host_allowed(const char *host, const char *bind_host)
{
    if (!host) return true; /* HTTP/1.0 without Host: not a browser */
    const char *name = host;
    size_t n;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close) return false;
        name = host + 1;
        n = (size_t)(close - name);
        if (close[1] != '\0' && close[1] != ':') return false;
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
    }
    if (eq_ci(name, n, "localhost") || is_127(name, n) || eq_ci(name, n, "::1")) return true;
    if (bind_host && *bind_host) {
        const char *b = bind_host;
        size_t bn = strlen(b);
        if (bn >= 2 && b[0] == '[' && b[bn - 1] == ']') b++, bn -= 2;
        if (bn == n && strncasecmp(name, b, n) == 0) return true;
    }
    return false;
}

static void refuse(ts_srv_verdict *v, int status, const char *message, const char *code)
{
    v->kind = TS_SRV_REFUSE;
    v->status = status;
    v->message = message;
    v->type = "invalid_request_error";
    v->code = code;
}

static bool is_api_path(const char *path)
{
    return strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0 ||
           strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
}

void ts_srv_decide(const ts_srv_policy *p, const ts_srv_head *h, ts_srv_verdict *v)
{
    memset(v, 0, sizeof *v);
    const char *key = p->api_key && *p->api_key ? p->api_key : NULL;
    size_t max_body = p->max_body ? p->max_body : TS_SRV_MAX_BODY;
    bool get = strcmp(h->method, "GET") == 0 || strcmp(h->method, "HEAD") == 0;

    if (!key && !ts_srv_host_allowed(h->host, p->bind_host)) {
        refuse(v, 403,
               "the Host header does not name this machine (a server without --api-key only "
               "answers requests for localhost, 127.0.0.1, [::1] or its --host)",
               "host_not_allowed");
        return;
    }
    if (!is_api_path(h->path)) {
        if (strcmp(h->path, "/health") == 0) {
            v->kind = TS_SRV_HEALTH;
        } else if ((v->asset = ts_srv_find_asset(h->path)) != NULL) {
            v->kind = TS_SRV_ASSET;
        } else {
            refuse(v, 404,
                   "unknown route (the explorer is at /, the API under /v1 and /api; "
                   "see docs/server.md)",
                   "unknown_route");
            return;
        }
        if (!get) refuse(v, 405, "use GET for this route", "method_not_allowed");
        return;
    }
    if (key) {
        if (!h->authorization) {
            refuse(v, 401,
                   "You didn't provide an API key: send the header 'Authorization: Bearer "
                   "KEY' (the server's --api-key / TEMPSCALE_API_KEY)",
                   "invalid_api_key");
            v->www_authenticate = true;
            return;
        }
        if (!ts_srv_auth_ok(h->authorization, key)) {
            refuse(v, 401, "Incorrect API key provided", "invalid_api_key");
            v->www_authenticate = true;
            return;
        }
    }
    if (strcmp(h->method, "POST") != 0) {
        v->kind = TS_SRV_API_INLINE; /* GET /v1/models; ts_api_handle says 404 / 405 else */
        return;
    }
    if (h->content_length) {
        if (!ts_srv_parse_length(h->content_length, &v->content_length)) {
            refuse(v, 400, "the Content-Length header is not a number", "invalid_length");
            return;
        }
        v->has_length = true;
        if (v->content_length > max_body) {
            refuse(v, 413, "the request body is over 1 MiB", "body_too_large");
            return;
        }
    } else if (!h->transfer_encoding) {
        /* No length and not chunked: an empty body, as HTTP says. */
        v->has_length = true;
        v->content_length = 0;
    }
    v->kind = TS_SRV_API_POST;
}

/* ---- Server-Sent Events -------------------------------------------------------- */

/* Writes one framed event to out (when not NULL) and returns its length. */
static size_t sse_walk(const char *data, size_t len, char *out)
{
    static const char prefix[] = "data: ";
    size_t total = 0;
#define PUT(s, n)                                                                                  \
    do {                                                                                           \
        if (out) memcpy(out + total, (s), (n));                                                    \
        total += (n);                                                                              \
    } while (0)
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && data[i] != '\n' && data[i] != '\r')
            i++;
        PUT(prefix, sizeof prefix - 1);
        PUT(data + start, i - start);
        PUT("\n", 1);
        if (i >= len) break;
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') i++;
        i++;
        if (i >= len) break; /* a trailing line end adds no empty data line */
    }
    PUT("\n", 1);
#undef PUT
    return total;
}

size_t ts_srv_sse_size(const char *data, size_t len)
{
    return sse_walk(data, len, NULL);
}

size_t ts_srv_sse_frame(const char *data, size_t len, char *out)
{
    return sse_walk(data, len, out);
}
