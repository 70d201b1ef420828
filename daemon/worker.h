/* worker.h: the thread pool that runs blocking and CPU-heavy jobs off the event loop. */
#ifndef P2P_WORKER_H
#define P2P_WORKER_H

#include <ev.h>

struct worker_pool;

/* Runs on a worker thread: may block, must not touch loop-owned state. */
typedef void (*worker_run_fn)(void *arg);
/* Runs on the loop thread afterwards; ran is 0 if the pool was torn down first. */
typedef void (*worker_done_fn)(void *arg, int ran);

/* nthreads 0 means one per online core. NULL on failure (logged). */
struct worker_pool *worker_pool_new(struct ev_loop *loop, int nthreads);
/*
 * Stops the threads after the job each is running, then calls every pending
 * done callback (ran = 0 for jobs that never started), so nothing leaks.
 */
void worker_pool_free(struct worker_pool *wp);
/* The first half of free: joins the threads and runs pending done callbacks; submits fail after. */
void worker_pool_stop(struct worker_pool *wp);
int worker_pool_threads(const struct worker_pool *wp);
/* 1 once stop has begun (loop thread only). */
int worker_pool_stopping(const struct worker_pool *wp);
/* Jobs queued or running. */
unsigned worker_pool_pending(const struct worker_pool *wp);
/* Queues a job; 0, or -1 if out of memory or shutting down. */
int worker_submit(struct worker_pool *wp, worker_run_fn run, worker_done_fn done, void *arg);

#endif
