/*
 * A persistent thread pool: the caller is thread 0, workers are 1..n-1.
 *
 * A run is a number of chunks, each run once by whichever thread claims
 * it. The ticket, (generation << 32) | next chunk, says which run is open.
 * The runner first closes the previous run (a new generation whose next
 * chunk is RUN_CLOSED), then publishes the task, then opens the run with
 * the next generation at chunk 0; every thread, the runner included,
 * claims chunks by compare-and-swap on the ticket until none are left, and
 * the runner then waits for the chunks claimed by others to finish. So the
 * runner never waits for a worker that has not started: a worker that is
 * asleep or descheduled (the machine may run other jobs) simply claims
 * nothing, and the runner does its share. A worker reads the task only
 * after it saw its run open, and its claim is a compare-and-swap on that
 * very ticket: once the runner has closed the run, before it touches the
 * task, a late worker's claim fails, so no thread ever runs a chunk with
 * one run's task and another's context or count.
 *
 * Workers spin on the ticket for a short while after each run, since the
 * forward pass issues runs back to back, then sleep on a condition
 * variable. The wake-up uses the pattern "waiter counts itself, then
 * checks; runner publishes, then checks the count" with sequentially
 * consistent atomics, so the runner locks the mutex only when someone
 * sleeps and no wake-up is lost.
 */
#include "kernels_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* How long a worker spins for the next run before it sleeps: long enough
 * to bridge the gap between two runs of one decode step (a few
 * microseconds of norms, RoPE and small attention), short enough that on a
 * busy machine a worker does not burn the time slices its own process
 * needs: spinning 200 µs made two threads decode slower than one there. */
#define POOL_SPIN_NS 30000

/* Spin iterations (a few µs of pause) after which a waiting thread yields
 * its CPU between checks: on a busy machine the time goes to threads that
 * can use it, our own other thread among them (spinning, two threads cost
 * 8.6-9.4 ms of CPU per decoded token here, yielding 6.7-7.7); on a quiet
 * one sched_yield returns at once. */
#define POOL_SPIN_BEFORE_YIELD 256

/* Matmul chunks are whole multiples of this many rows, so SIMD kernels
 * that take several rows at once keep whole tiles and SwiGLU's groups of
 * 16 start where a row's do. */
#define POOL_ROW_ALIGN 16

/* Fewest rows in a matmul chunk: a claim costs a cache line moving
 * between cores, so a chunk should carry some microseconds of work. */
#define POOL_CHUNK_ROWS_MIN 64

/* Chunks per thread a large matmul is cut into, so that a thread that
 * falls behind leaves work the others can take. */
#define POOL_CHUNKS_PER_THREAD 8

/* Matmuls one run carries at most. */
#define POOL_JOBS_MAX 4

/* The chunk field of a closed run's ticket: above every chunk count. */
#define RUN_CLOSED UINT32_MAX

/* A run's task: runs chunk `chunk` on thread `thread_index`. */
typedef void (*chunk_task)(void *context, int64_t chunk, int thread_index);

struct asth_pool {
    int n_threads;
    pthread_t *workers;          /* n_threads - 1 */
    struct worker_start *starts; /* n_threads - 1 */

    /* The run in progress, written by the runner before its ticket. */
    _Atomic(chunk_task) task;
    _Atomic(void *) context;
    _Atomic int64_t n_chunks;

    _Atomic uint64_t ticket;    /* (generation << 32) | next chunk to claim */
    _Atomic int64_t done;       /* chunks of this run finished */
    _Atomic int sleepers;       /* workers inside the sleep below */
    _Atomic bool stopping;      /* set once, by asth_pool_destroy */

    pthread_mutex_t mutex;      /* guards sleeping on `wake` */
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

static inline uint32_t generation_of(uint64_t ticket) { return (uint32_t)(ticket >> 32); }

/* Waits until the ticket's generation moves past `seen`; returns it. */
static uint32_t wait_for_run(asth_pool *pool, uint32_t seen) {
    /* Spin first: the next run usually comes within microseconds. */
    uint64_t start = now_ns();
    for (uint64_t i = 1;; i++) {
        uint32_t generation = generation_of(atomic_load(&pool->ticket));
        if (generation != seen || atomic_load(&pool->stopping)) return generation;
        if (i < POOL_SPIN_BEFORE_YIELD) {
            cpu_relax();
            continue;
        }
        sched_yield();
        if (now_ns() - start > POOL_SPIN_NS) break;
    }

    /* Then sleep, counted in `sleepers` before the last check. */
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->sleepers, 1);
    uint32_t generation;
    while ((generation = generation_of(atomic_load(&pool->ticket))) == seen &&
           !atomic_load(&pool->stopping)) {
        pthread_cond_wait(&pool->wake, &pool->mutex);
    }
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mutex);
    return generation;
}

/* Claims and runs chunks of run `generation` until none are left or the
 * run is over. The task is read after the ticket showed the run open; it
 * stays that run's until every chunk is claimed and the run is closed, and
 * a claim made against a closed run fails (see run_chunks). */
static void claim_chunks(asth_pool *pool, uint32_t generation, int thread_index) {
    for (;;) {
        uint64_t ticket = atomic_load_explicit(&pool->ticket, memory_order_acquire);
        if (generation_of(ticket) != generation) return;
        uint32_t chunk = (uint32_t)ticket;
        if (chunk == RUN_CLOSED) return;
        chunk_task task = atomic_load_explicit(&pool->task, memory_order_acquire);
        void *context = atomic_load_explicit(&pool->context, memory_order_acquire);
        int64_t n_chunks = atomic_load_explicit(&pool->n_chunks, memory_order_acquire);
        if (chunk >= n_chunks) return;
        if (!atomic_compare_exchange_strong_explicit(&pool->ticket, &ticket, ticket + 1,
                                                     memory_order_acq_rel,
                                                     memory_order_acquire)) {
            continue;
        }
        task(context, chunk, thread_index);
        atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
    }
}

static void *worker_main(void *argument) {
    struct worker_start *start = argument;
    asth_pool *pool = start->pool;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_run(pool, seen);
        if (atomic_load(&pool->stopping)) return NULL;
        claim_chunks(pool, seen, start->thread_index);
    }
}

/* Wakes sleeping workers for a new run or the stop. */
static void wake_sleepers(asth_pool *pool) {
    if (atomic_load(&pool->sleepers) > 0 || atomic_load(&pool->stopping)) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
}

/* Joins the first n_started workers and frees the pool. */
static void stop_workers(asth_pool *pool, int n_started) {
    atomic_store(&pool->stopping, true);
    wake_sleepers(pool);
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

/* Runs chunks [0, n_chunks) of task across the pool; returns when all
 * have finished. */
static void run_chunks(asth_pool *pool, chunk_task task, void *context, int64_t n_chunks) {
    if (pool->n_threads == 1) {
        for (int64_t chunk = 0; chunk < n_chunks; chunk++) task(context, chunk, 0);
        return;
    }

    /* Close the previous run, so a late claim against it fails; publish
     * the task; then open the run under the next generation. */
    uint32_t closed = generation_of(atomic_load(&pool->ticket)) + 1;
    atomic_store(&pool->ticket, ((uint64_t)closed << 32) | RUN_CLOSED);
    atomic_store_explicit(&pool->task, task, memory_order_release);
    atomic_store_explicit(&pool->context, context, memory_order_release);
    atomic_store_explicit(&pool->n_chunks, n_chunks, memory_order_release);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    uint32_t generation = closed + 1;
    atomic_store(&pool->ticket, (uint64_t)generation << 32);
    wake_sleepers(pool);

    /* Take part, then wait for chunks others claimed, yielding after a
     * short spin in case one of them was descheduled. */
    claim_chunks(pool, generation, 0);
    for (uint64_t i = 1;
         atomic_load_explicit(&pool->done, memory_order_acquire) != n_chunks; i++) {
        if (i < POOL_SPIN_BEFORE_YIELD) {
            cpu_relax();
        } else {
            sched_yield();
        }
    }
}

/* ---- Runs of one task per thread index ---------------------------------- */

struct indexed_run {
    asth_task task;
    void *context;
    int count;
};

static void indexed_chunk(void *context, int64_t chunk, int thread_index) {
    const struct indexed_run *run = context;
    run->task(run->context, (int)chunk, run->count);
}

void asth_pool_run(asth_pool *pool, asth_task task, void *context) {
    struct indexed_run run = {.task = task, .context = context, .count = pool->n_threads};
    run_chunks(pool, indexed_chunk, &run, pool->n_threads);
}

/* ---- Matmuls ------------------------------------------------------------ */

/* Several matmuls in one run: chunk c belongs to the job whose range of
 * chunks holds it; `silu_out`, when set, gets SwiGLU of jobs 0 and 1. */
struct matmul_run {
    const asth_matmul_job *jobs;
    int n_jobs;
    int64_t chunk_rows[POOL_JOBS_MAX];
    int64_t first_chunk[POOL_JOBS_MAX + 1];
    float *silu_out;
};

/* Rows per chunk for a job: whole multiples of POOL_ROW_ALIGN, at least
 * POOL_CHUNK_ROWS_MIN, about POOL_CHUNKS_PER_THREAD chunks per thread. */
static int64_t chunk_rows(int64_t n_out, int n_threads) {
    int64_t target = n_out / ((int64_t)n_threads * POOL_CHUNKS_PER_THREAD);
    int64_t rows = target > POOL_CHUNK_ROWS_MIN ? target : POOL_CHUNK_ROWS_MIN;
    return (rows + POOL_ROW_ALIGN - 1) / POOL_ROW_ALIGN * POOL_ROW_ALIGN;
}

static void matmul_chunk(void *context, int64_t chunk, int thread_index) {
    const struct matmul_run *run = context;
    int j = 0;
    while (chunk >= run->first_chunk[j + 1]) j++;
    const asth_matmul_job *job = &run->jobs[j];
    int64_t begin = (chunk - run->first_chunk[j]) * run->chunk_rows[j];
    int64_t end = begin + run->chunk_rows[j] < job->n_out ? begin + run->chunk_rows[j]
                                                          : job->n_out;
    if (run->silu_out == NULL) {
        asth_matmul(job->type, job->w, job->n_in, begin, end, job->x, job->x_stride_bytes,
                    job->n_batch, job->out, job->out_stride);
        return;
    }

    /* SwiGLU: gate and up rows [begin, end) together, then silu(gate)·up
     * over them; chunks start on a multiple of 16, as the op's groups do. */
    const asth_matmul_job *up = &run->jobs[1];
    asth_matmul(job->type, job->w, job->n_in, begin, end, job->x, job->x_stride_bytes,
                job->n_batch, job->out, job->out_stride);
    asth_matmul(up->type, up->w, up->n_in, begin, end, up->x, up->x_stride_bytes,
                up->n_batch, up->out, up->out_stride);
    for (int64_t b = 0; b < job->n_batch; b++) {
        int64_t offset = b * job->out_stride + begin;
        asth_silu_mul(job->out + offset, up->out + b * up->out_stride + begin,
                      run->silu_out + offset, end - begin);
    }
}

/* jobs[0..n_jobs) in one run, n_jobs <= POOL_JOBS_MAX; with silu_out,
 * only jobs[0] (the gate) sets the chunks and jobs[1] is the up matrix. */
static void run_matmuls(asth_pool *pool, const asth_matmul_job *jobs, int n_jobs,
                        float *silu_out) {
    struct matmul_run run = {.jobs = jobs, .n_jobs = n_jobs, .silu_out = silu_out};
    run.first_chunk[0] = 0;
    for (int j = 0; j < n_jobs; j++) {
        run.chunk_rows[j] = chunk_rows(jobs[j].n_out, pool->n_threads);
        int64_t n_chunks = (jobs[j].n_out + run.chunk_rows[j] - 1) / run.chunk_rows[j];
        run.first_chunk[j + 1] = run.first_chunk[j] + n_chunks;
    }
    run_chunks(pool, matmul_chunk, &run, run.first_chunk[n_jobs]);
}

void asth_pool_matmuls(asth_pool *pool, const asth_matmul_job *jobs, int n_jobs) {
    for (int j = 0; j < n_jobs; j += POOL_JOBS_MAX) {
        int n = n_jobs - j < POOL_JOBS_MAX ? n_jobs - j : POOL_JOBS_MAX;
        run_matmuls(pool, jobs + j, n, NULL);
    }
}

void asth_pool_swiglu(asth_pool *pool, const asth_matmul_job *gate, const asth_matmul_job *up,
                      float *out) {
    asth_matmul_job pair[2] = {*gate, *up};
    run_matmuls(pool, pair, 1, out);
}

void asth_pool_matmul(asth_pool *pool, asth_type type, const void *w, int64_t n_in,
                      int64_t n_out, const void *x, int64_t x_stride_bytes, int64_t n_batch,
                      float *out, int64_t out_stride) {
    asth_matmul_job job = {
        .type = type, .w = w, .n_in = n_in, .n_out = n_out, .x = x,
        .x_stride_bytes = x_stride_bytes, .n_batch = n_batch, .out = out,
        .out_stride = out_stride,
    };
    run_matmuls(pool, &job, 1, NULL);
}

/* ---- Attention ---------------------------------------------------------- */

struct attention_run {
    const asth_attention_row *rows;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t head_dim;
    int64_t kv_stride;
    float scale;
    float *scratch;
    int64_t scratch_per_thread;
};

/* Chunk c: the query heads of KV head c % n_kv_heads of row c / n_kv_heads. */
static void attention_chunk(void *context, int64_t chunk, int thread_index) {
    const struct attention_run *run = context;
    const asth_attention_row *row = &run->rows[chunk / run->n_kv_heads];
    int64_t kv_head = chunk % run->n_kv_heads;
    int64_t group = run->n_heads / run->n_kv_heads;
    int64_t q_offset = kv_head * group * run->head_dim;
    int64_t kv_offset = kv_head * run->head_dim;
    asth_attention_group(row->q + q_offset, group, row->k + kv_offset, row->v + kv_offset,
                         run->kv_stride, row->n_pos, run->head_dim, run->scale, row->batched,
                         run->scratch + thread_index * run->scratch_per_thread,
                         row->out + q_offset);
}

void asth_pool_attention(asth_pool *pool, const asth_attention_row *rows, int64_t n_rows,
                         int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                         int64_t kv_stride, float scale, float *scratch,
                         int64_t scratch_per_thread) {
    struct attention_run run = {
        .rows = rows, .n_heads = n_heads, .n_kv_heads = n_kv_heads, .head_dim = head_dim,
        .kv_stride = kv_stride, .scale = scale, .scratch = scratch,
        .scratch_per_thread = scratch_per_thread,
    };
    run_chunks(pool, attention_chunk, &run, n_rows * n_kv_heads);
}
