/*
 * http.c — the HTTP server of `tempscale serve` on libmicrohttpd.
 *
 * Threading model: libmicrohttpd's thread-per-connection mode (one thread
 * per open connection, poll() inside it, plus its accept thread), and one
 * detached worker thread per computing request that calls ts_api_handle.
 *   - A stream holds its connection for seconds. In thread-per-connection
 *     mode the content-reader callback may block on the stream's queue
 *     without stalling any other client, so a stream is a plain
 *     producer/consumer pair (worker -> bounded queue -> connection thread)
 *     with no suspend/resume state machine; the cost is a thread per open
 *     connection, which --max-connections bounds (default 256).
 *   - The computing is bounded elsewhere: the session has --parallel
 *     contexts and a bounded queue (max_queue waiting requests; beyond it, or
 *     after --queue-timeout, the answer is 503 + Retry-After). A worker that
 *     waits for a context holds no context.
 *   - The worker produces, the connection thread consumes: it decides the
 *     status once the first SSE chunk (a 200 stream) or the whole answer
 *     (any status) is there, then drains the queue. A full queue blocks the
 *     worker (back-pressure, no unbounded buffering); a client that leaves is
 *     seen by the connection thread (a failed send, or a peek that reads
 *     EOF), which sets `gone`: the worker's next on_chunk / is_cancelled
 *     returns non-zero and the run ends within one token, freeing its context.
 *
 * Slow clients: libmicrohttpd closes a connection that accepts no data for
 * --timeout seconds; a watchdog thread also closes connections whose request
 * head or body takes longer than that in total (slow loris), by shutting the
 * socket down (the record is removed before libmicrohttpd closes the fd, so
 * the fd is never someone else's). While the server itself is computing,
 * the connection's inactivity timeout is paused (our wait is not the
 * client's silence) and restarted when data flows again.
 *
 * Stop: `stopping` makes every on_chunk / is_cancelled answer "cancel";
 * streams then end with an error event and "data: [DONE]" (whole events
 * only: a frame being queued is always finished), the server waits for the
 * workers and for the responses in flight, then stops libmicrohttpd.
 */
#include "server.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE     (64u * 1024u) /* bytes of SSE a stream may have queued */
#define SEND_BUFFER   (256 * 1024)  /* SO_SNDBUF of every connection */
#define WAIT_SLICE_MS 50            /* how often a waiting thread looks at its client */
#define STOP_DRAIN_S  10.0          /* at most this long for responses to finish at stop */

/* ---- small helpers ------------------------------------------------------------ */

/* Wait on cv for at most ms milliseconds (CLOCK_REALTIME condvars). */
static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += (long)ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(cv, mu, &t);
}

/*
 * Has the client closed its end? A zero-length peek is EOF; readable data
 * (a pipelined request) is not. Only ever called on the connection's own
 * thread, while libmicrohttpd is not reading the socket.
 */
static bool peer_gone(int fd)
{
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLNVAL)) return true;
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return true;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* ---- state -------------------------------------------------------------------------- */

enum { CONN_HEAD = 0, CONN_BODY, CONN_BUSY };

/* One TCP connection (libmicrohttpd's socket context), for the watchdog. */
typedef struct srv_conn {
    struct srv_conn *prev, *next;
    int fd;
    int phase;    /* CONN_HEAD: waiting for a request head; CONN_BODY: reading a body */
    double since; /* when the phase began */
    bool killed;
} srv_conn;

struct ts_server {
    struct MHD_Daemon *d;
    ts_session *session;
    ts_server_config cfg;
    ts_srv_policy policy;
    char *host, *api_key;
    int port;
    int listen_fd;
    atomic_bool stopping;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* workers / in-flight counts changed, watchdog wake-up */
    srv_conn *conns;
    int n_workers;  /* worker threads alive */
    int n_inflight; /* requests from their head to their completion */
    bool quit_watchdog;
    bool watchdog_started;
    pthread_t watchdog;
    ts_server_stats st;
};

/* A request computed by a worker; shared by the worker, the request and the stream response. */
typedef struct srv_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    ts_server *srv;
    struct MHD_Connection *con;
    int fd;
    char method[16];
    char *path, *body;
    size_t len;
    /* the SSE bytes queued for the client: a ring of RING_SIZE */
    char *ring;
    size_t head, used;
    char *frame; /* one framed event (grows to the largest event, then stays) */
    size_t frame_cap;
    bool streaming;       /* a chunk arrived: the answer is a 200 stream */
    bool done;            /* ts_api_handle returned; resp is set */
    bool saw_done_marker; /* the stream's own "data: [DONE]" went in */
    bool tail_added;      /* the error event + [DONE] we add after a cancelled stream */
    bool gone;            /* the client left (nobody reads any more) */
    bool stop_cancel;     /* cancelled because the server stops */
    bool cancelled;       /* the run was told to stop */
    ts_api_response resp;
} srv_job;

/* One HTTP request (libmicrohttpd's con_cls). */
typedef struct srv_req {
    ts_server *srv;
    struct MHD_Connection *con;
    srv_conn *conn;
    ts_srv_verdict v;
    char method[16];
    char *path;
    char *body;
    size_t len, cap;
    uint64_t dropped; /* body bytes thrown away after the limit */
    bool too_big;
    bool answered;
    srv_job *job;
    double t0;
    int status;
    bool stream;
} srv_req;

/* ---- counters ------------------------------------------------------------------------ */

static void count_status(ts_server *srv, int status, bool stream)
{
    pthread_mutex_lock(&srv->mu);
    ts_server_stats *s = &srv->st;
    s->requests++;
    if (stream) s->streams++;
    if (status >= 200 && status < 300)
        s->status_2xx++;
    else if (status == 400)
        s->status_400++;
    else if (status == 401)
        s->status_401++;
    else if (status == 403)
        s->status_403++;
    else if (status == 404)
        s->status_404++;
    else if (status == 405)
        s->status_405++;
    else if (status == 413)
        s->status_413++;
    else if (status == 503)
        s->status_503++;
    else
        s->status_other++;
    pthread_mutex_unlock(&srv->mu);
}

void ts_server_get_stats(ts_server *srv, ts_server_stats *st)
{
    pthread_mutex_lock(&srv->mu);
    *st = srv->st;
    pthread_mutex_unlock(&srv->mu);
}

int ts_server_port(const ts_server *srv)
{
    return srv->port;
}

ts_server_config ts_server_default_config(void)
{
    ts_server_config c;
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    c.port = 8080;
    c.max_connections = 256;
    c.timeout_s = 30;
    c.queue_timeout_ms = 30000;
    c.max_body = TS_SRV_MAX_BODY;
    return c;
}

/* ---- jobs --------------------------------------------------------------------------- */

static srv_job *job_new(ts_server *srv, srv_req *rq, int fd)
{
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->ring = malloc(RING_SIZE);
    j->path = strdup(rq->path);
    if (!j->ring || !j->path) {
        free(j->ring);
        free(j->path);
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->srv = srv;
    j->con = rq->con;
    j->fd = fd;
    snprintf(j->method, sizeof j->method, "%s", rq->method);
    j->body = rq->body; /* the job takes the body */
    j->len = rq->len;
    rq->body = NULL;
    rq->len = rq->cap = 0;
    return j;
}

static void job_ref(srv_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

static void job_unref(srv_job *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left > 0) return;
    ts_api_response_clear(&j->resp);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->ring);
    free(j->frame);
    free(j->path);
    free(j->body);
    free(j);
}

/* The client left: wake the worker (called with j->mu held). */
static void job_mark_gone(srv_job *j)
{
    if (!j->done) j->gone = true;
    pthread_cond_broadcast(&j->cv);
}

/* Append n bytes to the ring; the caller made sure they fit (j->mu held). */
static void ring_put(srv_job *j, const char *s, size_t n)
{
    size_t tail = (j->head + j->used) % RING_SIZE;
    size_t first = n < RING_SIZE - tail ? n : RING_SIZE - tail;
    memcpy(j->ring + tail, s, first);
    memcpy(j->ring, s + first, n - first);
    j->used += n;
}

/* Should the run stop now? Records why once (j->mu held). */
static bool job_should_cancel(srv_job *j)
{
    if (j->gone) {
        j->cancelled = true;
        return true;
    }
    if (atomic_load(&j->srv->stopping)) {
        j->stop_cancel = j->cancelled = true;
        return true;
    }
    return false;
}

/*
 * The request layer's chunk callback (worker thread): frame the payload as
 * one SSE event and queue it, waiting while the queue is full. Non-zero
 * cancels the run. An event that was begun is always finished (unless
 * nobody reads any more), so a stop never leaves half an event.
 */
static int on_chunk(const char *data, size_t len, void *user)
{
    srv_job *j = user;
    size_t need = ts_srv_sse_size(data, len);
    pthread_mutex_lock(&j->mu);
    if (job_should_cancel(j)) {
        pthread_mutex_unlock(&j->mu);
        return 1;
    }
    if (need > j->frame_cap) {
        char *f = realloc(j->frame, need);
        if (!f) {
            j->cancelled = true;
            pthread_mutex_unlock(&j->mu);
            return 1;
        }
        j->frame = f;
        j->frame_cap = need;
    }
    ts_srv_sse_frame(data, len, j->frame);
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) j->saw_done_marker = true;
    size_t off = 0;
    while (off < need) {
        if (j->gone) {
            j->cancelled = true;
            pthread_mutex_unlock(&j->mu);
            return 1;
        }
        size_t space = RING_SIZE - j->used;
        if (space == 0) {
            timed_wait(&j->cv, &j->mu, WAIT_SLICE_MS * 4);
            continue;
        }
        size_t n = need - off < space ? need - off : space;
        ring_put(j, j->frame + off, n);
        off += n;
        j->streaming = true;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* Non-streamed runs: asked per token. */
static int is_cancelled(void *user)
{
    srv_job *j = user;
    pthread_mutex_lock(&j->mu);
    bool c = job_should_cancel(j);
    pthread_mutex_unlock(&j->mu);
    return c;
}

static void *worker_main(void *arg)
{
    srv_job *j = arg;
    ts_server *srv = j->srv;
    ts_api_opts o = {on_chunk, j, srv->cfg.queue_timeout_ms, is_cancelled};
    ts_api_response r;
    ts_api_handle(srv->session, j->method, j->path, j->body ? j->body : "", j->len, &o, &r);
    pthread_mutex_lock(&j->mu);
    j->resp = r;
    j->done = true;
    bool by_client = j->cancelled && !j->stop_cancel, by_stop = j->stop_cancel;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    pthread_mutex_lock(&srv->mu);
    srv->st.cancelled_client += by_client;
    srv->st.cancelled_stop += by_stop;
    srv->st.running--;
    srv->n_workers--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ---- responses ------------------------------------------------------------------------ */

/* Pause (off = true) or restart libmicrohttpd's inactivity timeout of this connection. */
static void client_timeout(ts_server *srv, struct MHD_Connection *con, bool off)
{
    MHD_set_connection_option(con, MHD_CONNECTION_OPTION_TIMEOUT,
                              off ? 0u : (unsigned int)srv->cfg.timeout_s);
}

static enum MHD_Result queue(srv_req *rq, int status, struct MHD_Response *resp, bool stream)
{
    if (!resp) return MHD_NO;
    ts_server *srv = rq->srv;
    if (atomic_load(&srv->stopping)) MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(rq->con, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    rq->answered = true;
    rq->status = status;
    rq->stream = stream;
    count_status(srv, status, stream);
    return ret;
}

/* A JSON (or other) body copied into the response. */
static enum MHD_Result send_body(srv_req *rq, int status, const char *ctype, const char *body,
                                 size_t len, int retry_after, bool www_auth)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (www_auth) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    return queue(rq, status, resp, false);
}

/* An OpenAI-shaped error. */
static enum MHD_Result send_error(srv_req *rq, int status, const char *message, const char *type,
                                  const char *code, bool www_auth)
{
    char *body = ts_api_error_body(message, type, NULL, code);
    static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                              "\"param\":null,\"code\":null}}";
    enum MHD_Result r =
        send_body(rq, body ? status : 500, "application/json", body ? body : oom,
                  body ? strlen(body) : sizeof oom - 1, status == 503 ? 1 : 0, www_auth);
    free(body);
    return r;
}

static enum MHD_Result send_api(srv_req *rq, const ts_api_response *r)
{
    const char *body = r->body ? r->body : "";
    return send_body(rq, r->status, r->content_type ? r->content_type : "application/json", body,
                     strlen(body), r->status == 503 ? (r->retry_after > 0 ? r->retry_after : 1) : 0,
                     false);
}

static enum MHD_Result send_asset(srv_req *rq, const ts_srv_asset *a)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", a->mime);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* Self-contained pages: inline script and style, nothing from elsewhere. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                            "connect-src 'self'; frame-ancestors 'none'");
    return queue(rq, 200, resp, false);
}

static enum MHD_Result send_health(srv_req *rq)
{
    ts_server *srv = rq->srv;
    ts_server_stats s;
    ts_server_get_stats(srv, &s);
    char body[768];
    int n = snprintf(
        body, sizeof body,
        "{\"status\":\"%s\",\"auth\":%s,\"slots\":%d,\"running\":%d,\"queued\":%d,"
        "\"connections\":%d,\"requests\":%llu,\"streams\":%llu,\"cancelled_client\":%llu,"
        "\"cancelled_stop\":%llu,\"timed_out\":%llu,\"status_503\":%llu}",
        atomic_load(&srv->stopping) ? "stopping" : "ok", srv->api_key ? "true" : "false",
        (int)ts_session_n_slots(srv->session), s.running, (int)ts_session_n_waiting(srv->session),
        s.connections, (unsigned long long)s.requests, (unsigned long long)s.streams,
        (unsigned long long)s.cancelled_client, (unsigned long long)s.cancelled_stop,
        (unsigned long long)s.timed_out, (unsigned long long)s.status_503);
    return send_body(rq, 200, "application/json", body, (size_t)n, 0, false);
}

/* ---- streams ------------------------------------------------------------------------- */

/* libmicrohttpd is done with a stream response (sent, or the connection died). */
static void stream_freed(void *cls)
{
    srv_job *j = cls;
    pthread_mutex_lock(&j->mu);
    job_mark_gone(j);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
}

/* After a run that was cancelled mid-stream: an error event and [DONE] (j->mu held). */
static void add_tail(srv_job *j)
{
    j->tail_added = true;
    char *e = ts_api_error_body(j->stop_cancel ? "the server is shutting down"
                                               : "the stream ended early (server error)",
                                "server_error", NULL, j->stop_cancel ? "shutting_down" : NULL);
    static const char done[] = "data: [DONE]\n\n";
    size_t n = e ? ts_srv_sse_size(e, strlen(e)) : 0;
    if (e && n + sizeof done - 1 <= RING_SIZE - j->used && n <= j->frame_cap) {
        ts_srv_sse_frame(e, strlen(e), j->frame);
        ring_put(j, j->frame, n);
    } else if (e && n + sizeof done - 1 <= RING_SIZE - j->used) {
        char *f = malloc(n);
        if (f) {
            ts_srv_sse_frame(e, strlen(e), f);
            ring_put(j, f, n);
            free(f);
        }
    }
    free(e);
    if (sizeof done - 1 <= RING_SIZE - j->used) ring_put(j, done, sizeof done - 1);
}

/* The connection thread asks for the next bytes of the stream; blocks until there are some. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    srv_job *j = cls;
    bool paused = false;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->used) {
            size_t n = j->used < max ? j->used : max;
            size_t first = n < RING_SIZE - j->head ? n : RING_SIZE - j->head;
            memcpy(buf, j->ring + j->head, first);
            memcpy(buf + first, j->ring, n - first);
            j->head = (j->head + n) % RING_SIZE;
            j->used -= n;
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
            if (paused) client_timeout(j->srv, j->con, false);
            return (ssize_t)n;
        }
        if (j->done) {
            if (!j->saw_done_marker && !j->tail_added) {
                add_tail(j);
                continue;
            }
            pthread_mutex_unlock(&j->mu);
            if (paused) client_timeout(j->srv, j->con, false);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (!paused) {
            /* Waiting for the model is not the client's silence. */
            pthread_mutex_unlock(&j->mu);
            client_timeout(j->srv, j->con, true);
            paused = true;
            pthread_mutex_lock(&j->mu);
            continue;
        }
        timed_wait(&j->cv, &j->mu, WAIT_SLICE_MS);
        if (!j->used && !j->done && peer_gone(j->fd)) {
            job_mark_gone(j);
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

/*
 * The body is in: hand the request to a worker, wait until its answer is
 * known (first chunk of a stream, or the whole response), and queue it.
 */
static enum MHD_Result run_api(srv_req *rq)
{
    ts_server *srv = rq->srv;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->con, MHD_CONNECTION_INFO_CONNECTION_FD);
    srv_job *j = job_new(srv, rq, ci ? ci->connect_fd : -1);
    if (!j) return send_error(rq, 500, "out of memory", "server_error", NULL, false);
    job_ref(j); /* the worker's reference */
    pthread_mutex_lock(&srv->mu);
    srv->n_workers++;
    srv->st.running++;
    pthread_mutex_unlock(&srv->mu);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &attr, worker_main, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&srv->mu);
        srv->n_workers--;
        srv->st.running--;
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
        job_unref(j);
        job_unref(j);
        return send_error(rq, 503, "the server cannot start another thread; retry later",
                          "server_error", "overloaded", false);
    }
    rq->job = j;

    client_timeout(srv, rq->con, true);
    pthread_mutex_lock(&j->mu);
    while (!j->streaming && !j->done) {
        timed_wait(&j->cv, &j->mu, WAIT_SLICE_MS);
        if (!j->streaming && !j->done && peer_gone(j->fd)) {
            job_mark_gone(j);
            pthread_mutex_unlock(&j->mu);
            return MHD_NO; /* closes the connection; the worker stops at its next token */
        }
    }
    client_timeout(srv, rq->con, false);
    if (j->streaming) {
        j->refs++; /* the response's reference, dropped by stream_freed */
        pthread_mutex_unlock(&j->mu);
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                      read_stream, j, stream_freed);
        if (!resp) {
            stream_freed(j);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        return queue(rq, 200, resp, true);
    }
    /* Done without a chunk: an ordinary answer (or a stream cancelled before it began). */
    bool stopped = j->stop_cancel;
    pthread_mutex_unlock(&j->mu);
    if (stopped)
        return send_error(rq, 503, "the server is shutting down", "server_error", "shutting_down",
                          false);
    if (!j->resp.body)
        return send_error(rq, 500, "the request ended without an answer", "server_error", NULL,
                          false);
    return send_api(rq, &j->resp);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------------ */

static void set_phase(ts_server *srv, srv_conn *c, int phase)
{
    if (!c) return;
    pthread_mutex_lock(&srv->mu);
    c->phase = phase;
    c->since = ts_seconds();
    pthread_mutex_unlock(&srv->mu);
}

/* Answer a request whose head (and body, if any) is in, by its verdict. */
static enum MHD_Result dispatch(srv_req *rq)
{
    ts_server *srv = rq->srv;
    switch (rq->v.kind) {
    case TS_SRV_REFUSE:
        return send_error(rq, rq->v.status, rq->v.message, rq->v.type, rq->v.code,
                          rq->v.www_authenticate);
    case TS_SRV_ASSET:
        return send_asset(rq, rq->v.asset);
    case TS_SRV_HEALTH:
        return send_health(rq);
    case TS_SRV_API_INLINE: {
        ts_api_response r;
        ts_api_handle(srv->session, rq->method, rq->path, NULL, 0, NULL, &r);
        enum MHD_Result ret = send_api(rq, &r);
        ts_api_response_clear(&r);
        return ret;
    }
    case TS_SRV_API_POST:
        if (rq->too_big)
            return send_error(rq, 413, "the request body is over 1 MiB", "invalid_request_error",
                              "body_too_large", false);
        return run_api(rq);
    }
    return MHD_NO;
}

/*
 * libmicrohttpd calls this once when the head is in, once per piece of body,
 * and once more when the body is complete. Answers are queued at that last
 * call (so the connection can be kept alive), except refusals of a request
 * that has a body: those go out at once, the body is never read, and the
 * connection closes.
 */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    ts_server *srv = cls;
    srv_req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        rq->srv = srv;
        rq->con = con;
        rq->t0 = ts_seconds();
        snprintf(rq->method, sizeof rq->method, "%s", method);
        rq->path = strdup(url);
        if (!rq->path) return MHD_NO;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        rq->conn = ci ? ci->socket_context : NULL;
        pthread_mutex_lock(&srv->mu);
        srv->n_inflight++;
        pthread_mutex_unlock(&srv->mu);
        set_phase(srv, rq->conn, CONN_BODY);
        ts_srv_head h = {
            .method = method,
            .path = url,
            .authorization = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization"),
            .host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Host"),
            .content_length = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length"),
            .transfer_encoding =
                MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Transfer-Encoding"),
        };
        ts_srv_decide(&srv->policy, &h, &rq->v);
        if (atomic_load(&srv->stopping)) {
            rq->v.kind = TS_SRV_REFUSE;
            rq->v.status = 503;
            rq->v.message = "the server is shutting down";
            rq->v.type = "server_error";
            rq->v.code = "shutting_down";
        }
        bool has_body =
            (h.content_length && strcmp(h.content_length, "0") != 0) || h.transfer_encoding;
        if (rq->v.kind == TS_SRV_REFUSE && has_body) return dispatch(rq);
        if (rq->v.kind == TS_SRV_API_POST && rq->v.has_length && rq->v.content_length > 0) {
            rq->cap = (size_t)rq->v.content_length + 1;
            rq->body = malloc(rq->cap);
            if (!rq->body) {
                rq->v.kind = TS_SRV_REFUSE;
                rq->v.status = 503;
                rq->v.message = "out of memory";
                rq->v.type = "server_error";
                rq->v.code = NULL;
                return dispatch(rq);
            }
        }
        return MHD_YES;
    }
    if (rq->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    size_t max_body = srv->cfg.max_body ? srv->cfg.max_body : TS_SRV_MAX_BODY;
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->v.kind != TS_SRV_API_POST) return MHD_YES; /* a body nobody asked for */
        if (!rq->too_big && rq->len + n > max_body) {
            /* A chunked body passed the limit: keep reading (to answer 413), keep nothing. */
            rq->too_big = true;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
        }
        if (rq->too_big) {
            rq->dropped += n;
            return rq->dropped > 8 * (uint64_t)max_body ? MHD_NO : MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1)
                cap *= 2;
            if (cap > max_body + 1) cap = max_body + 1;
            char *b = realloc(rq->body, cap);
            if (!b) {
                rq->too_big = true; /* answered below as 413 rather than half a body */
                return MHD_YES;
            }
            rq->body = b;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        return MHD_YES;
    }
    /* The whole request is in. */
    set_phase(srv, rq->conn, CONN_BUSY);
    return dispatch(rq);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con;
    ts_server *srv = cls;
    srv_req *rq = *con_cls;
    if (!rq) return;
    *con_cls = NULL;
    if (srv->cfg.verbose)
        fprintf(stderr, "tempscale serve: %s %s -> %d%s %.0f ms%s\n", rq->method,
                rq->path ? rq->path : "?", rq->answered ? rq->status : 0,
                rq->stream ? " (stream)" : "", 1000.0 * (ts_seconds() - rq->t0),
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " [connection closed early]");
    if (rq->job) {
        pthread_mutex_lock(&rq->job->mu);
        job_mark_gone(rq->job);
        pthread_mutex_unlock(&rq->job->mu);
        job_unref(rq->job);
    }
    set_phase(srv, rq->conn, CONN_HEAD);
    pthread_mutex_lock(&srv->mu);
    srv->n_inflight--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    free(rq->body);
    free(rq->path);
    free(rq);
}

static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ts_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        srv_conn *c = calloc(1, sizeof *c);
        *socket_context = c;
        if (!c) return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        /*
         * A fixed send buffer instead of the kernel's autotuning (up to 4 MiB):
         * a client that stops reading is noticed after SEND_BUFFER bytes, not
         * megabytes, and holds that much kernel memory at most.
         */
        int sndbuf = SEND_BUFFER;
        if (c->fd >= 0) setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        c->phase = CONN_HEAD;
        c->since = ts_seconds();
        pthread_mutex_lock(&srv->mu);
        c->next = srv->conns;
        if (srv->conns) srv->conns->prev = c;
        srv->conns = c;
        srv->st.connections++;
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    srv_conn *c = *socket_context;
    if (!c) return;
    /* Removed before libmicrohttpd closes the fd: the watchdog never touches a reused fd. */
    pthread_mutex_lock(&srv->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->st.connections--;
    pthread_mutex_unlock(&srv->mu);
    free(c);
    *socket_context = NULL;
}

/* Slow clients: a request head or body that takes longer than --timeout in total. */
static void *watchdog_main(void *arg)
{
    ts_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    while (!srv->quit_watchdog) {
        timed_wait(&srv->cv, &srv->mu, 250);
        double t = ts_seconds();
        for (srv_conn *c = srv->conns; c; c = c->next) {
            if (c->killed || c->phase == CONN_BUSY || c->fd < 0) continue;
            if (t - c->since > (double)srv->cfg.timeout_s) {
                shutdown(c->fd, SHUT_RDWR);
                c->killed = true;
                srv->st.timed_out++;
            }
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("tempscale serve: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- start / stop --------------------------------------------------------------------- */

static void server_free(ts_server *srv)
{
    if (!srv) return;
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    free(srv->host);
    free(srv->api_key);
    free(srv);
}

/* Bind and listen on host:port; the fd, or -1 with err set. */
static int listen_on(const char *host, int port, bool *v6, char *err, size_t err_size)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_size, "host: cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 256) != 0) {
            e = errno;
            close(fd);
            fd = -1;
            continue;
        }
        *v6 = a->ai_family == AF_INET6;
    }
    freeaddrinfo(res);
    if (fd < 0) snprintf(err, err_size, "cannot listen on %s:%d: %s", host, port, strerror(e));
    return fd;
}

ts_status ts_server_start(ts_session *s, const ts_server_config *cfg, ts_server **out, char *err,
                          size_t err_size)
{
    *out = NULL;
    ts_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, err_size, "serve: out of memory");
        return TS_ERR_NOMEM;
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    atomic_init(&srv->stopping, false);
    srv->session = s;
    srv->cfg = cfg ? *cfg : ts_server_default_config();
    if (!srv->cfg.host) srv->cfg.host = "127.0.0.1";
    if (srv->cfg.max_connections <= 0) srv->cfg.max_connections = 256;
    if (srv->cfg.timeout_s <= 0) srv->cfg.timeout_s = 30;
    if (!srv->cfg.max_body) srv->cfg.max_body = TS_SRV_MAX_BODY;
    srv->host = strdup(srv->cfg.host);
    srv->api_key = srv->cfg.api_key && *srv->cfg.api_key ? strdup(srv->cfg.api_key) : NULL;
    if (!srv->host || (srv->cfg.api_key && *srv->cfg.api_key && !srv->api_key)) {
        server_free(srv);
        snprintf(err, err_size, "serve: out of memory");
        return TS_ERR_NOMEM;
    }
    srv->cfg.host = srv->host;
    srv->cfg.api_key = srv->api_key;
    srv->policy.api_key = srv->api_key;
    srv->policy.max_body = srv->cfg.max_body;
    srv->policy.bind_host = srv->host;

    bool v6 = false;
    srv->listen_fd = listen_on(srv->host, srv->cfg.port, &v6, err, err_size);
    if (srv->listen_fd < 0) {
        server_free(srv);
        return TS_ERR_IO;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(srv->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0) {
        close(srv->listen_fd);
        server_free(srv);
        snprintf(err, err_size, "serve: cannot start a thread");
        return TS_ERR_IO;
    }
    srv->watchdog_started = true;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0) |
                         (srv->cfg.verbose ? MHD_USE_ERROR_LOG : 0);
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, srv, MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->cfg.max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->cfg.timeout_s,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_END);
    if (!srv->d) {
        pthread_mutex_lock(&srv->mu);
        srv->quit_watchdog = true;
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
        pthread_join(srv->watchdog, NULL);
        close(srv->listen_fd);
        server_free(srv);
        snprintf(err, err_size, "serve: libmicrohttpd could not start on %s:%d",
                 cfg && cfg->host ? cfg->host : "127.0.0.1", cfg ? cfg->port : 0);
        return TS_ERR_IO;
    }
    *out = srv;
    return TS_OK;
}

void ts_server_stop(ts_server *srv)
{
    if (!srv) return;
    atomic_store(&srv->stopping, true);
    /* No new connections. */
    MHD_socket lfd = MHD_quiesce_daemon(srv->d);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    pthread_mutex_lock(&srv->mu);
    /* Every run ends within a token once it is asked (or when it gets a context). */
    while (srv->n_workers > 0)
        timed_wait(&srv->cv, &srv->mu, 100);
    /* Responses in flight finish (error event and [DONE] for streams), within reason. */
    double deadline = ts_seconds() + STOP_DRAIN_S;
    while (srv->n_inflight > 0 && ts_seconds() < deadline)
        timed_wait(&srv->cv, &srv->mu, 100);
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->d);
    pthread_mutex_lock(&srv->mu);
    srv->quit_watchdog = true;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    if (srv->watchdog_started) pthread_join(srv->watchdog, NULL);
    server_free(srv);
}
