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
    atomic_uint generation;
    atomic_int pending;
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

void ts_threadpool_run(ts_threadpool *pool, ts_task_fn fn, void *arg)
{
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->generation, 1u, memory_order_release);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0, pool->n);
    for (int i = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) != 0; i++) {
        cpu_relax();
        if ((i & 1023) == 1023) sched_yield(); /* a descheduled worker on a busy machine */
    }
}
