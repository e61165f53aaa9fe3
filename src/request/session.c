/*
 * session.c — one loaded model shared read-only by every request, and a
 * pool of slots (context = KV cache + activations + thread pool, and a
 * generator) that requests borrow for the duration of a run.
 *
 * Invariants: the model is never written after ts_session_open, so slots run
 * concurrently; a slot is used by one request at a time (busy flag under the
 * mutex); waiting requests are counted, and when max_queue of them already
 * wait, the next one is refused at once (TS_ERR_BUSY) so a server can answer
 * 503 instead of queueing without bound.
 */
#include "rq_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ts_session {
    ts_model *model;       /* NULL when tokenizer_only */
    ts_tokenizer *own_tok; /* tokenizer_only: loaded here */
    const ts_tokenizer *tok;
    char *dir, *name;
    rq_slot *slots;
    int32_t n_slots;
    int32_t max_queue;
    int32_t n_waiting;
    pthread_mutex_t mu;
    pthread_cond_t freed;
};

ts_session_params ts_session_default_params(void)
{
    ts_session_params p;
    memset(&p, 0, sizeof p);
    p.n_slots = 1;
    p.max_queue = -1;
    return p;
}

/* The last path component of dir (without trailing slashes), malloc'd. */
static char *base_name(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && dir[s - 1] != '/')
        s--;
    return strndup(dir + s, n - s);
}

ts_status ts_session_open(const ts_session_params *params, ts_session **out, char *err,
                          size_t err_size)
{
    *out = NULL;
    ts_session_params p = params ? *params : ts_session_default_params();
    if (!p.model_dir)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "session: no model directory");
    if (p.n_slots < 1 || p.n_slots > 256)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "parallel: %d is outside [1, 256]",
                         (int)p.n_slots);
    ts_session *s = calloc(1, sizeof *s);
    if (!s) return ts_errorf(err, err_size, TS_ERR_NOMEM, "session: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->freed, NULL);
    s->max_queue = p.max_queue;
    s->dir = strdup(p.model_dir);
    s->name = p.model_name ? strdup(p.model_name) : base_name(p.model_dir);
    ts_status st = TS_OK;
    if (!s->dir || !s->name) st = ts_errorf(err, err_size, TS_ERR_NOMEM, "session: out of memory");
    if (st == TS_OK && p.tokenizer_only) {
        const char *tdir = p.tokenizer_dir ? p.tokenizer_dir : p.model_dir;
        size_t n = strlen(tdir) + 16;
        char *vocab = malloc(n), *merges = malloc(n);
        if (!vocab || !merges) {
            st = ts_errorf(err, err_size, TS_ERR_NOMEM, "session: out of memory");
        } else {
            snprintf(vocab, n, "%s/vocab.json", tdir);
            snprintf(merges, n, "%s/merges.txt", tdir);
            st = ts_tokenizer_load(vocab, merges, &s->own_tok, err, err_size);
        }
        free(vocab);
        free(merges);
        s->tok = s->own_tok;
    } else if (st == TS_OK) {
        int cores = ts_threadpool_n_cores();
        int32_t nth = p.n_threads > 0 ? p.n_threads : cores / p.n_slots;
        if (nth < 1) nth = 1;
        ts_model_params mp = ts_model_default_params();
        mp.n_threads = nth;
        mp.weights = p.weights;
        mp.memory = p.memory;
        mp.tokenizer_dir = p.tokenizer_dir;
        st = ts_model_load(p.model_dir, &mp, &s->model, err, err_size);
        if (st == TS_OK) {
            s->tok = ts_model_tokenizer(s->model);
            s->slots = calloc((size_t)p.n_slots, sizeof *s->slots);
            if (!s->slots) st = ts_errorf(err, err_size, TS_ERR_NOMEM, "session: out of memory");
        }
        size_t V = st == TS_OK ? (size_t)ts_model_get_info(s->model)->n_vocab : 0;
        for (int32_t i = 0; st == TS_OK && i < p.n_slots; i++) {
            ts_context_params cp = ts_context_default_params();
            cp.n_threads = nth;
            st = ts_context_new(s->model, &cp, &s->slots[i].ctx, err, err_size);
            if (st == TS_OK)
                st = ts_generator_new(s->slots[i].ctx, s->tok, V, &s->slots[i].gen, err, err_size);
            /* The window, for context_shift and to stop exactly at its end. */
            if (st == TS_OK)
                st = ts_generator_set_n_ctx(s->slots[i].gen,
                                            (size_t)ts_model_get_info(s->model)->n_positions, err,
                                            err_size);
            s->n_slots = i + 1;
        }
    }
    if (st != TS_OK) {
        ts_session_free(s);
        return st;
    }
    *out = s;
    return TS_OK;
}

void ts_session_free(ts_session *s)
{
    if (!s) return;
    for (int32_t i = 0; i < s->n_slots; i++) {
        ts_generator_free(s->slots[i].gen);
        ts_context_free(s->slots[i].ctx);
    }
    free(s->slots);
    ts_model_free(s->model);
    ts_tokenizer_free(s->own_tok);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->freed);
    free(s->dir);
    free(s->name);
    free(s);
}

const ts_model *ts_session_model(const ts_session *s)
{
    return s->model;
}
const ts_tokenizer *ts_session_tokenizer(const ts_session *s)
{
    return s->tok;
}
const char *ts_session_model_name(const ts_session *s)
{
    return s->name;
}
const char *ts_session_model_dir(const ts_session *s)
{
    return s->dir;
}
int32_t ts_session_n_slots(const ts_session *s)
{
    return s->n_slots;
}

int32_t ts_session_n_waiting(const ts_session *s)
{
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    int32_t n = s->n_waiting;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    return n;
}

/* A free slot or NULL; called with the mutex held. */
static rq_slot *take_free(ts_session *s)
{
    for (int32_t i = 0; i < s->n_slots; i++)
        if (!s->slots[i].busy) {
            s->slots[i].busy = true;
            return &s->slots[i];
        }
    return NULL;
}

ts_status rq_session_acquire(ts_session *s, int timeout_ms, rq_slot **out, char *err,
                             size_t err_size)
{
    *out = NULL;
    if (!s->model)
        return ts_errorf(err, err_size, TS_ERR_INVALID, "this session has no model loaded");
    pthread_mutex_lock(&s->mu);
    rq_slot *slot = take_free(s);
    if (!slot && timeout_ms != 0 && (s->max_queue < 0 || s->n_waiting < s->max_queue)) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        if (timeout_ms > 0) {
            deadline.tv_sec += timeout_ms / 1000;
            deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
            if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
            }
        }
        s->n_waiting++;
        while (!(slot = take_free(s))) {
            int rc = timeout_ms > 0 ? pthread_cond_timedwait(&s->freed, &s->mu, &deadline)
                                    : pthread_cond_wait(&s->freed, &s->mu);
            if (rc == ETIMEDOUT) break;
        }
        s->n_waiting--;
    }
    pthread_mutex_unlock(&s->mu);
    if (!slot)
        return ts_errorf(err, err_size, TS_ERR_BUSY,
                         "all %d contexts are busy and the queue is full; retry later",
                         (int)s->n_slots);
    *out = slot;
    return TS_OK;
}

void rq_session_release(ts_session *s, rq_slot *slot)
{
    if (!slot) return;
    pthread_mutex_lock(&s->mu);
    slot->busy = false;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->mu);
}
