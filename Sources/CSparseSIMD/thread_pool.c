// Persistent pthread pool behind thread_pool.h: a job counter (generation) the workers watch,
// spin-then-sleep, tasks taken with an atomic counter, completion when every task has finished.
//
// The caller never waits for a worker that has not joined the job. A worker that is descheduled
// (another process on its core) or still waking from its condition variable when a job starts
// would otherwise hold every job until the kernel runs it again, a time slice of several
// milliseconds; here the caller takes the tasks itself and, once all have finished, closes the
// job: a late worker sees the job closed and goes back to waiting. The only wait left is for a
// task a worker is running, and for a worker caught between joining and leaving (a few
// instructions). Measured: docs/PERFORMANCE.md, "a pool that does not wait for late workers".
#define _GNU_SOURCE
#include "thread_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <signal.h>
#include <sys/prctl.h>
#endif

#if defined(__x86_64__)
#define STGNN_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define STGNN_PAUSE() __asm__ __volatile__("yield")
#else
#define STGNN_PAUSE() ((void)0)
#endif

/// Spins (pause instructions) a worker makes on the job counter before it sleeps: tens of
/// microseconds, longer than the gaps between the parallel regions of an epoch.
#define STGNN_SPIN 20000

struct stgnn_pool {
    int workers;
    pthread_t *tids;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    _Atomic long generation;      // incremented per job (and once more to stop)
    _Atomic long open;            // the generation of the job workers may still join, 0 = none
    _Atomic int stop;
    _Atomic int active;           // workers that have joined the current job and not yet left it
    _Atomic ptrdiff_t next;       // next task to take
    _Atomic ptrdiff_t done;       // tasks finished
    ptrdiff_t tasks;
    stgnn_task_fn fn;
    void *ctx;
};

static void run_tasks(stgnn_pool *p) {
    const ptrdiff_t n = p->tasks;
    for (;;) {
        ptrdiff_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= n) break;
        p->fn(p->ctx, t);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    stgnn_pool *p = (stgnn_pool *)arg;
    long seen = 0;
    for (;;) {
        long g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && spins < STGNN_SPIN) {
            STGNN_PAUSE();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mutex);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->wake, &p->mutex);
            pthread_mutex_unlock(&p->mutex);
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        // Join, then check that the job is still open (both sequentially consistent, against the
        // caller's close-then-count in stgnn_pool_run): either the caller sees this worker
        // active and waits for it, or this worker sees the job closed and leaves untouched.
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->open) == g) run_tasks(p);
        atomic_fetch_sub_explicit(&p->active, 1, memory_order_release);
    }
}

stgnn_pool *stgnn_pool_create(int threads) {
    stgnn_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->workers = threads > 1 ? threads - 1 : 0;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->open, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->done, 0);
    p->tids = calloc((size_t)(p->workers > 0 ? p->workers : 1), sizeof(pthread_t));
    if (!p->tids) { free(p); return NULL; }
    for (int i = 0; i < p->workers; i++) {
        if (pthread_create(&p->tids[i], NULL, worker_main, p) != 0) {
            p->workers = i;
            stgnn_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void stgnn_pool_destroy(stgnn_pool *p) {
    if (!p) return;
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 0; i < p->workers; i++) pthread_join(p->tids[i], NULL);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    free(p->tids);
    free(p);
}

/// Spins, then yields the CPU, until *x reaches `want` (acquire).
static void wait_until_ptrdiff(_Atomic ptrdiff_t *x, ptrdiff_t want) {
    for (int spins = 0; atomic_load_explicit(x, memory_order_acquire) != want; spins++) {
        if (spins < STGNN_SPIN) STGNN_PAUSE(); else sched_yield();
    }
}

void stgnn_pool_run(stgnn_pool *p, ptrdiff_t tasks, stgnn_task_fn fn, void *ctx) {
    if (tasks <= 0) return;
    if (p->workers == 0 || tasks == 1) {
        for (ptrdiff_t t = 0; t < tasks; t++) fn(ctx, t);
        return;
    }
    // No worker is inside a job here (the previous run waited for `active` to reach 0 after
    // closing its job), so the job's fields can be written.
    p->tasks = tasks;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    pthread_mutex_lock(&p->mutex);
    const long g = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    atomic_store(&p->open, g);
    atomic_store_explicit(&p->generation, g, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    run_tasks(p);
    // Every task taken has finished (a worker's task in progress is the one wait that remains).
    wait_until_ptrdiff(&p->done, tasks);
    // Close the job, then wait only for workers that joined it before it closed.
    atomic_store(&p->open, 0);
    for (int spins = 0; atomic_load(&p->active) != 0; spins++) {
        if (spins < STGNN_SPIN) STGNN_PAUSE(); else sched_yield();
    }
}

int stgnn_affinity_cpus(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int stgnn_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void stgnn_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

int stgnn_die_with_parent(void) {
#if defined(__linux__)
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
#else
    return -1;
#endif
}
