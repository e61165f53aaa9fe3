/*
 * threadpool.c — a small persistent pthread pool for the forward pass.
 *
 * The pool has n_threads - 1 workers; the thread that calls ts_threadpool_run
 * is worker 0, so a pool of 1 runs everything inline and starts no thread.
 * A job is published by bumping `generation` (release); workers that see a
 * new generation run fn(arg, ith, nth) and decrement `pending`; the caller runs
 * its share, then waits for pending == 0 (acquire). Nothing is allocated per
 * job.
 *
 * Decode dispatches ~5 jobs per layer per token (a few microseconds each), so
 * an idle worker first spins (with pause) for up to TS_SPIN_NS and only then
 * sleeps on a condition variable; ts_threadpool_run always signals under the
 * mutex, so a worker that decided to sleep cannot miss a job. On a loaded
 * machine the spin is bounded: an idle pool costs nothing after TS_SPIN_NS.
 *
 * Shared jobs (ts_threadpool_run_shared) do not wait for every worker: the
 * caller runs fn itself and then closes the job; a worker joins only while the
 * job is open. The generation's low bit says which kind a job is. A worker
 * joins by incrementing `inflight` and then checking that `open` still holds
 * its generation; the caller closes by clearing `open` and then waits for
 * `inflight` to reach 0. Both pairs are sequentially consistent, so either the
 * caller sees the worker's increment (and waits for it) or the worker sees the
 * job closed (and leaves without touching it): fn and arg stay valid for every
 * worker that runs them. A worker that sleeps through a shared job skips it;
 * it cannot skip a plain one, whose caller waits for every worker.
 */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define TS_SPIN_NS 200000L /* how long an idle worker spins before sleeping */

struct ts_threadpool {
    int n;
    pthread_t *threads; /* [n - 1] */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ts_task_fn fn;
    void *arg;
    atomic_uint generation; /* + 2 per job; low bit: a shared job */
    atomic_int pending;     /* plain job: workers still to finish */
    atomic_uint open;       /* shared job: its generation while workers may join, else 0 */
    atomic_int inflight;    /* shared job: workers inside (or checking) it */
    atomic_bool stop;
};

typedef struct worker_arg {
    ts_threadpool *pool;
    int ith;
} worker_arg;

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *worker_main(void *p)
{
    ts_threadpool *pool = ((worker_arg *)p)->pool;
    int ith = ((worker_arg *)p)->ith;
    free(p);
    unsigned seen = 0; /* the generation at creation: a job may be posted before we run */
    for (;;) {
        /* Spin, then sleep, until a new generation or stop. */
        unsigned g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g == seen && !atomic_load(&pool->stop)) {
            long t0 = now_ns();
            for (int i = 0;; i++) {
                g = atomic_load_explicit(&pool->generation, memory_order_acquire);
                if (g != seen || atomic_load(&pool->stop)) break;
                cpu_relax();
                if ((i & 255) == 255 && now_ns() - t0 > TS_SPIN_NS) {
                    pthread_mutex_lock(&pool->mu);
                    while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) ==
                               seen &&
                           !atomic_load(&pool->stop))
                        pthread_cond_wait(&pool->cv, &pool->mu);
                    pthread_mutex_unlock(&pool->mu);
                    break;
                }
            }
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = g;
        if (g & 1u) { /* shared: join only while the caller has not closed it */
            atomic_fetch_add(&pool->inflight, 1);
            if (atomic_load(&pool->open) == g) pool->fn(pool->arg, ith, pool->n);
            atomic_fetch_sub_explicit(&pool->inflight, 1, memory_order_release);
            continue;
        }
        pool->fn(pool->arg, ith, pool->n);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

int ts_threadpool_n_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

ts_status ts_threadpool_new(int n_threads, ts_threadpool **out)
{
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    ts_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) return TS_ERR_NOMEM;
    pool->n = n_threads;
    atomic_init(&pool->generation, 0u);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->open, 0u);
    atomic_init(&pool->inflight, 0);
    atomic_init(&pool->stop, false);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    if (n_threads > 1) {
        pool->threads = calloc((size_t)n_threads - 1, sizeof *pool->threads);
        if (!pool->threads) {
            ts_threadpool_free(pool);
            return TS_ERR_NOMEM;
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->pool = pool;
            wa->ith = i;
        }
        if (!wa || pthread_create(&pool->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            pool->n = i; /* only i - 1 workers exist; free joins those */
            ts_threadpool_free(pool);
            return TS_ERR_NOMEM;
        }
    }
    *out = pool;
    return TS_OK;
}

void ts_threadpool_free(ts_threadpool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++)
        pthread_join(pool->threads[i - 1], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free(pool->threads);
    free(pool);
}

int ts_threadpool_size(const ts_threadpool *pool)
{
    return pool ? pool->n : 1;
}

/* The next job (its fn and arg set): a new generation, odd for a shared job, which is open before
   any worker can see it. Sleeping workers are woken under the mutex. */
static void publish(ts_threadpool *pool, unsigned shared)
{
    unsigned g =
        (atomic_load_explicit(&pool->generation, memory_order_relaxed) & ~1u) + 2u + shared;
    if (shared) atomic_store_explicit(&pool->open, g, memory_order_relaxed);
    pthread_mutex_lock(&pool->mu);
    atomic_store_explicit(&pool->generation, g, memory_order_release);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

static void wait_zero(atomic_int *n)
{
    for (int i = 0; atomic_load_explicit(n, memory_order_acquire) != 0; i++) {
        cpu_relax();
        if ((i & 1023) == 1023) sched_yield(); /* a descheduled worker on a busy machine */
    }
}

/* A plain job waits for every worker; a shared one, closed once the caller's call returns, only
   for those that joined. */
static void run(ts_threadpool *pool, ts_task_fn fn, void *arg, bool shared)
{
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    if (!shared) atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    publish(pool, shared ? 1u : 0u);
    fn(arg, 0, pool->n);
    if (shared) atomic_store(&pool->open, 0u); /* closed: no worker starts it from now on */
    wait_zero(shared ? &pool->inflight : &pool->pending);
}

void ts_threadpool_run(ts_threadpool *pool, ts_task_fn fn, void *arg)
{
    run(pool, fn, arg, false);
}

void ts_threadpool_run_shared(ts_threadpool *pool, ts_task_fn fn, void *arg)
{
    run(pool, fn, arg, true);
}
