/*
 * server.h — `tempscale serve`: the HTTP front of the request layer.
 *
 * The server answers every /v1 and /api route with ts_api_handle (the very
 * function `tempscale batch` calls), serves the explorer page compiled into
 * the binary at GET /, and adds what HTTP needs around it: authentication,
 * limits, timeouts, Server-Sent-Events framing, cancellation when a client
 * leaves, and a clean stop. It sees only the public headers (tempscale.h,
 * tempscale_request.h).
 *
 *   route.c   pure functions: which route a request head goes to and what is
 *             refused before any byte of the body is read (auth, Host, size),
 *             the constant-time key compare, SSE framing. No I/O, no state:
 *             a fuzz harness calls them directly.
 *   http.c    libmicrohttpd glue: threads, the per-request worker, the bounded
 *             stream queue, the watchdog for slow clients, the clean stop.
 *   serve.c   the command: options, the loopback / key rule, signals.
 *   assets    the files of server/explorer/ turned into C arrays by server/embed.cmake at
 *             build time (explorer_assets.c in the build folder).
 *
 * docs/server.md describes the routes, limits and the threading model.
 */
#ifndef TS_SERVER_H
#define TS_SERVER_H

#include "tempscale.h"
#include "tempscale_request.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Embedded files (generated)                                               */
/* ======================================================================== */
typedef struct ts_srv_asset {
    const char *path; /* "/index.html" */
    const char *mime; /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} ts_srv_asset;

extern const ts_srv_asset ts_srv_assets[];
extern const size_t ts_srv_n_assets;

/* The embedded file served at path ("/" is "/index.html"); NULL when none. */
const ts_srv_asset *ts_srv_find_asset(const char *path);

/* ======================================================================== */
/* Routing and refusals (route.c): pure, no I/O                             */
/* ======================================================================== */
#define TS_SRV_MAX_BODY ((size_t)1 << 20) /* 1 MiB, as the request layer's limit */

typedef enum ts_srv_kind {
    TS_SRV_REFUSE = 0, /* answer v.status with the OpenAI-shaped error at once */
    TS_SRV_API_POST,   /* read the body (at most max_body), then ts_api_handle on a worker */
    TS_SRV_API_INLINE, /* ts_api_handle now, without a body (GET /v1/models, 405s) */
    TS_SRV_ASSET,      /* an embedded file (v.asset) */
    TS_SRV_HEALTH,     /* GET /health: liveness and counters */
} ts_srv_kind;

/* What the server knows of a request once its head is in. NULL = header absent. */
typedef struct ts_srv_head {
    const char *method;            /* "GET", "POST", ... (never NULL) */
    const char *path;              /* URL path without the query (never NULL) */
    const char *authorization;     /* Authorization */
    const char *host;              /* Host */
    const char *content_length;    /* Content-Length */
    const char *transfer_encoding; /* Transfer-Encoding */
} ts_srv_head;

typedef struct ts_srv_policy {
    const char *api_key; /* NULL or "": no authentication */
    size_t max_body;     /* 0 = TS_SRV_MAX_BODY */
    /*
     * Without a key, the Host header must name this machine's loopback
     * (localhost, 127.x.y.z, [::1]) or bind_host: a web page that points a
     * name of its own at 127.0.0.1 (DNS rebinding) cannot use the server.
     */
    const char *bind_host;
} ts_srv_policy;

typedef struct ts_srv_verdict {
    ts_srv_kind kind;
    int status;            /* TS_SRV_REFUSE: 400, 401, 403, 404, 405, 411, 413 */
    const char *message;   /* TS_SRV_REFUSE: static text, one line */
    const char *type;      /* "invalid_request_error" */
    const char *code;      /* "invalid_api_key", "body_too_large", ... or NULL */
    bool www_authenticate; /* 401: send WWW-Authenticate: Bearer */
    const ts_srv_asset *asset;
    bool has_length;         /* Content-Length was given ... */
    uint64_t content_length; /* ... and this is its value */
} ts_srv_verdict;

/*
 * Decide from the head alone: route, authentication (every /v1 and /api
 * route needs "Authorization: Bearer KEY" when p->api_key is set; the page
 * and /health do not), the Host rule, and the body size when the client
 * announced it. Never reads beyond the strings' terminators; *v is always set.
 */
void ts_srv_decide(const ts_srv_policy *p, const ts_srv_head *h, ts_srv_verdict *v);

/*
 * Does the Authorization header value carry exactly `key` ("Bearer KEY",
 * scheme case-insensitive, spaces around the token ignored)? The comparison
 * takes the same time whatever the header holds: it runs over every byte of
 * key and never stops at the first difference.
 */
bool ts_srv_auth_ok(const char *authorization, const char *key);

/* Is host (a Host header: "name", "name:port", "[v6]:port") this machine's loopback or bind_host?
 */
bool ts_srv_host_allowed(const char *host, const char *bind_host);

/* Content-Length as an integer: digits only, no sign, no overflow. false when malformed. */
bool ts_srv_parse_length(const char *s, uint64_t *out);

/*
 * Server-Sent Events: the bytes of one event carrying data (one "data: "
 * line per line of data — CR, LF and CRLF all end a line, so a payload can
 * never inject a field or end the event early — then an empty line).
 * ts_srv_sse_size is the exact length; ts_srv_sse_frame writes it to out
 * (which has room for that many bytes) and returns it.
 */
size_t ts_srv_sse_size(const char *data, size_t len);
size_t ts_srv_sse_frame(const char *data, size_t len, char *out);

/* ======================================================================== */
/* The server (http.c)                                                      */
/* ======================================================================== */
typedef struct ts_server ts_server;

typedef struct ts_server_config {
    const char *host;     /* address to listen on (default "127.0.0.1") */
    int port;             /* 0 = any free port (ts_server_port tells which) */
    const char *api_key;  /* NULL = no authentication */
    int max_connections;  /* open connections (each has a thread; default 256) */
    int timeout_s;        /* a client silent this long, or whose request head or body
                             takes longer, is disconnected (default 30) */
    int queue_timeout_ms; /* wait this long for a context before 503 (default 30000) */
    size_t max_body;      /* default TS_SRV_MAX_BODY */
    bool verbose;         /* one log line per request on stderr */
} ts_server_config;

ts_server_config ts_server_default_config(void);

/*
 * Listen on cfg->host:cfg->port and answer requests with session s (borrowed:
 * it must outlive ts_server_stop). Threads run from here on. err names the
 * address on failure ("127.0.0.1:8080: address already in use").
 */
ts_status ts_server_start(ts_session *s, const ts_server_config *cfg, ts_server **out, char *err,
                          size_t err_size);

/* The port the server listens on (the one chosen when cfg->port was 0). */
int ts_server_port(const ts_server *srv);

/* Counters (for logs and tests). */
typedef struct ts_server_stats {
    uint64_t requests; /* answered with a status (streams count once) */
    uint64_t status_2xx, status_400, status_401, status_403, status_404, status_405, status_413,
        status_503, status_other;
    uint64_t streams;          /* responses sent as SSE */
    uint64_t cancelled_client; /* runs cancelled because the client left */
    uint64_t cancelled_stop;   /* runs cancelled by ts_server_stop */
    uint64_t timed_out;        /* connections closed by the slow-client watchdog */
    int running;               /* requests being computed or waiting for a context */
    int connections;           /* open connections */
} ts_server_stats;

void ts_server_get_stats(ts_server *srv, ts_server_stats *st);

/*
 * Stop: no new connections; running requests are cancelled (streams end
 * with an error event and "data: [DONE]", whole events only); waits until
 * every worker has left the session and every response is finished, then
 * frees the server. NULL is a no-op.
 */
void ts_server_stop(ts_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* TS_SERVER_H */
