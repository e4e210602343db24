// A small persistent thread pool for STCore's `ThreadPool` (see ThreadPool.swift).
//
// `stgnn_pool_run` hands `tasks` numbered tasks to the calling thread and the pool's workers; each
// task runs exactly once, on whichever thread takes it first, and the call returns when all have
// finished. Workers spin briefly on the job counter after each job (the epoch's parallel regions
// follow each other within microseconds), then sleep on a condition variable, so an idle pool
// costs no CPU. Which thread runs a task never matters to the callers: every task writes its own
// outputs, and reductions are summed afterwards in task order.
#ifndef STGNN_THREAD_POOL_H
#define STGNN_THREAD_POOL_H

#include <stddef.h>

typedef struct stgnn_pool stgnn_pool;
typedef void (*stgnn_task_fn)(void *ctx, ptrdiff_t task);

/// A pool of `threads` − 1 workers (the caller of `stgnn_pool_run` is the last thread); NULL on failure.
stgnn_pool *stgnn_pool_create(int threads);
/// Stops and joins the workers.
void stgnn_pool_destroy(stgnn_pool *pool);
/// Runs fn(ctx, t) for t in [0, tasks) on the caller and the workers; returns when all are done.
/// Not reentrant: one run at a time per pool, from one calling thread.
void stgnn_pool_run(stgnn_pool *pool, ptrdiff_t tasks, stgnn_task_fn fn, void *ctx);

/// CPUs this process may run on (its affinity mask; online CPUs where there is none).
int stgnn_affinity_cpus(void);
/// CPUs online.
int stgnn_online_cpus(void);

/// Returns the free pages of the C heap to the kernel (glibc's malloc_trim; nothing elsewhere).
void stgnn_release_free_memory(void);

/// Asks the kernel to kill this process when its parent exits (Linux PR_SET_PDEATHSIG); returns
/// 0 on success, -1 where unsupported.
int stgnn_die_with_parent(void);

#endif
