// Persistent pthread pool behind thread_pool.h: a job counter (generation) the workers watch,
// spin-then-sleep, tasks taken with an atomic counter, completion by a countdown.
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
    _Atomic int stop;
    _Atomic ptrdiff_t next;       // next task to take
    _Atomic int pending;          // workers still inside the current job
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
        run_tasks(p);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

stgnn_pool *stgnn_pool_create(int threads) {
    stgnn_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->workers = threads > 1 ? threads - 1 : 0;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->pending, 0);
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

void stgnn_pool_run(stgnn_pool *p, ptrdiff_t tasks, stgnn_task_fn fn, void *ctx) {
    if (tasks <= 0) return;
    if (p->workers == 0 || tasks == 1) {
        for (ptrdiff_t t = 0; t < tasks; t++) fn(ctx, t);
        return;
    }
    p->tasks = tasks;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, p->workers, memory_order_relaxed);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    run_tasks(p);
    // A worker may have been descheduled (more threads than free cores): yield after a while.
    for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; spins++) {
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
