/*
 * A persistent thread pool: the caller is thread 0, workers are 1..n-1.
 *
 * A run publishes the task, bumps `generation` and waits until `pending`
 * workers have finished. Workers spin on `generation` for a short while
 * after each run, since the forward pass issues runs back to back, then
 * sleep on a condition variable. The wake-up uses the pattern "waiter
 * counts itself, then checks; runner bumps, then checks the count" with
 * sequentially consistent atomics, so the runner locks the mutex only when
 * someone sleeps and no wake-up is lost.
 */
#include "kernels_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* How long a worker spins for the next run before it sleeps: long enough
 * to bridge the gap between two matmuls of one decode step. */
#define POOL_SPIN_NS 200000

/* Spin iterations between two clock reads while spinning. */
#define POOL_SPIN_CHECK_EVERY 256

/* Rows handed to one thread are a multiple of this, so SIMD kernels that
 * take several rows at once keep whole groups. */
#define POOL_ROW_ALIGN 16

struct asth_pool {
    int n_threads;
    pthread_t *workers;              /* n_threads - 1 */
    struct worker_start *starts;     /* n_threads - 1 */

    asth_task task;                  /* written by the runner before a bump */
    void *context;                   /* written by the runner before a bump */
    _Atomic uint64_t generation;     /* runs started */
    _Atomic int pending;             /* workers not yet done with this run */
    _Atomic int sleepers;            /* workers inside the sleep below */
    _Atomic bool stopping;           /* set once, by asth_pool_destroy */

    pthread_mutex_t mutex;           /* guards sleeping on `wake` */
    pthread_cond_t wake;
};

struct worker_start {
    asth_pool *pool;
    int thread_index;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Waits until `generation` moves past `seen`; returns the new value. */
static uint64_t wait_for_run(asth_pool *pool, uint64_t seen) {
    /* Spin first: the next run usually comes within microseconds. */
    uint64_t start = now_ns();
    for (uint64_t i = 1;; i++) {
        uint64_t generation = atomic_load(&pool->generation);
        if (generation != seen) return generation;
        cpu_relax();
        if (i % POOL_SPIN_CHECK_EVERY == 0 && now_ns() - start > POOL_SPIN_NS) break;
    }

    /* Then sleep, counted in `sleepers` before the last check. */
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->sleepers, 1);
    uint64_t generation;
    while ((generation = atomic_load(&pool->generation)) == seen) {
        pthread_cond_wait(&pool->wake, &pool->mutex);
    }
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mutex);
    return generation;
}

static void *worker_main(void *argument) {
    struct worker_start *start = argument;
    asth_pool *pool = start->pool;
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_run(pool, seen);
        if (atomic_load(&pool->stopping)) return NULL;
        pool->task(pool->context, start->thread_index, pool->n_threads);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

/* Starts a run (or the stop) and wakes sleeping workers. */
static void bump_generation(asth_pool *pool) {
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0 || atomic_load(&pool->stopping)) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
}

/* Joins the first n_started workers and frees the pool. */
static void stop_workers(asth_pool *pool, int n_started) {
    atomic_store(&pool->stopping, true);
    bump_generation(pool);
    for (int i = 0; i < n_started; i++) pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool->starts);
    free(pool);
}

asth_pool *asth_pool_create(int n_threads) {
    if (n_threads < 1) return NULL;
    asth_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL) return NULL;
    pool->n_threads = n_threads;
    pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
    pool->starts = calloc((size_t)n_threads, sizeof *pool->starts);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    if (pool->workers == NULL || pool->starts == NULL) {
        stop_workers(pool, 0);
        return NULL;
    }

    /* Workers take indices 1..n-1; the caller runs index 0. */
    for (int i = 0; i < n_threads - 1; i++) {
        pool->starts[i] = (struct worker_start){.pool = pool, .thread_index = i + 1};
        if (pthread_create(&pool->workers[i], NULL, worker_main, &pool->starts[i]) != 0) {
            stop_workers(pool, i);
            return NULL;
        }
    }
    return pool;
}

void asth_pool_destroy(asth_pool *pool) {
    if (pool != NULL) stop_workers(pool, pool->n_threads - 1);
}

int asth_pool_size(const asth_pool *pool) { return pool->n_threads; }

void asth_pool_run(asth_pool *pool, asth_task task, void *context) {
    if (pool->n_threads == 1) {
        task(context, 0, 1);
        return;
    }

    /* Publish the task, then start the run and take part in it. */
    pool->task = task;
    pool->context = context;
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
    bump_generation(pool);
    task(context, 0, pool->n_threads);

    /* Wait for the workers; yield now and then in case one was descheduled. */
    for (uint64_t i = 1; atomic_load_explicit(&pool->pending, memory_order_acquire) != 0; i++) {
        cpu_relax();
        if (i % (16 * POOL_SPIN_CHECK_EVERY) == 0) sched_yield();
    }
}

/* ---- Pool matmul -------------------------------------------------------- */

struct matmul_job {
    asth_type type;
    const void *w;
    int64_t n_in;
    int64_t n_out;
    const void *x;
    int64_t x_stride_bytes;
    int64_t n_batch;
    float *out;
    int64_t out_stride;
};

/* Thread i takes the i-th of thread_count equal, aligned row ranges. */
static void matmul_task(void *context, int thread_index, int thread_count) {
    const struct matmul_job *job = context;
    int64_t per_thread = (job->n_out + thread_count - 1) / thread_count;
    per_thread = (per_thread + POOL_ROW_ALIGN - 1) / POOL_ROW_ALIGN * POOL_ROW_ALIGN;
    int64_t begin = per_thread * thread_index;
    int64_t end = begin + per_thread < job->n_out ? begin + per_thread : job->n_out;
    if (begin >= end) return;
    asth_matmul(job->type, job->w, job->n_in, begin, end, job->x, job->x_stride_bytes,
                job->n_batch, job->out, job->out_stride);
}

void asth_pool_matmul(asth_pool *pool, asth_type type, const void *w, int64_t n_in,
                      int64_t n_out, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                      float *out, int64_t out_stride) {
    struct matmul_job job = {
        .type = type, .w = w, .n_in = n_in, .n_out = n_out, .x = x,
        .x_stride_bytes = x_stride_bytes, .n_batch = n_batch, .out = out,
        .out_stride = out_stride,
    };
    asth_pool_run(pool, matmul_task, &job);
}
