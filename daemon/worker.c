/* worker.c: a fixed pool of threads fed by a queue, reporting back through ev_async. */
#include "worker.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

struct job {
	struct job *next;
	worker_run_fn run;
	worker_done_fn done;
	void *arg;
	int ran;
};

struct jobq {
	struct job *head, *tail;
};

struct worker_pool {
	struct ev_loop *loop;
	ev_async async;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct jobq todo;	/* guarded by mu */
	struct jobq done;	/* guarded by mu */
	int stopping;		/* guarded by mu */
	unsigned pending;	/* loop thread only */
	int nthreads;
	pthread_t *threads;
};

static void
jobq_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *
jobq_pop(struct jobq *q)
{
	struct job *j = q->head;

	if (j) {
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
	}
	return j;
}

static void *
worker_main(void *arg)
{
	struct worker_pool *wp = arg;
	struct job *j;

	pthread_mutex_lock(&wp->mu);
	for (;;) {
		while (!wp->stopping && wp->todo.head == NULL)
			pthread_cond_wait(&wp->cv, &wp->mu);
		if (wp->stopping)
			break;
		j = jobq_pop(&wp->todo);
		pthread_mutex_unlock(&wp->mu);
		j->run(j->arg);
		j->ran = 1;
		pthread_mutex_lock(&wp->mu);
		jobq_push(&wp->done, j);
		ev_async_send(wp->loop, &wp->async);
	}
	pthread_mutex_unlock(&wp->mu);
	return NULL;
}

static void
worker_drain(struct worker_pool *wp)
{
	struct jobq q;
	struct job *j;

	pthread_mutex_lock(&wp->mu);
	q = wp->done;
	wp->done.head = wp->done.tail = NULL;
	pthread_mutex_unlock(&wp->mu);
	while ((j = jobq_pop(&q)) != NULL) {
		wp->pending--;
		j->done(j->arg, j->ran);
		free(j);
	}
}

static void
worker_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	worker_drain(w->data);
}

struct worker_pool *
worker_pool_new(struct ev_loop *loop, int nthreads)
{
	struct worker_pool *wp;

	if (nthreads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (int)n : 1;
	}
	if ((wp = calloc(1, sizeof(*wp))) == NULL)
		return NULL;
	wp->loop = loop;
	pthread_mutex_init(&wp->mu, NULL);
	pthread_cond_init(&wp->cv, NULL);
	ev_async_init(&wp->async, worker_async_cb);
	wp->async.data = wp;
	ev_async_start(loop, &wp->async);
	/* The async watcher must not keep the loop alive on its own. */
	ev_unref(loop);
	if ((wp->threads = calloc((size_t)nthreads, sizeof(pthread_t))) == NULL)
		goto fail;
	for (int i = 0; i < nthreads; i++) {
		int rc = pthread_create(&wp->threads[i], NULL, worker_main, wp);
		if (rc != 0) {
			log_warnx("worker: cannot start thread %d of %d: error %d",
			    i + 1, nthreads, rc);
			break;
		}
		wp->nthreads++;
	}
	if (wp->nthreads == 0)
		goto fail;
	return wp;
fail:
	ev_ref(loop);
	ev_async_stop(loop, &wp->async);
	free(wp->threads);
	free(wp);
	return NULL;
}

void
worker_pool_stop(struct worker_pool *wp)
{
	struct job *j;

	pthread_mutex_lock(&wp->mu);
	if (wp->stopping) {
		pthread_mutex_unlock(&wp->mu);
		return;
	}
	wp->stopping = 1;
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	for (int i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	worker_drain(wp);
	while ((j = jobq_pop(&wp->todo)) != NULL) {
		wp->pending--;
		j->done(j->arg, 0);
		free(j);
	}
}

void
worker_pool_free(struct worker_pool *wp)
{
	if (wp == NULL)
		return;
	worker_pool_stop(wp);
	ev_ref(wp->loop);
	ev_async_stop(wp->loop, &wp->async);
	pthread_mutex_destroy(&wp->mu);
	pthread_cond_destroy(&wp->cv);
	free(wp->threads);
	free(wp);
}

int
worker_pool_stopping(const struct worker_pool *wp)
{
	/* Written only by the loop thread, which is the caller. */
	return wp->stopping;
}

int
worker_pool_threads(const struct worker_pool *wp)
{
	return wp->nthreads;
}

unsigned
worker_pool_pending(const struct worker_pool *wp)
{
	return wp->pending;
}

int
worker_submit(struct worker_pool *wp, worker_run_fn run, worker_done_fn done, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->run = run;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&wp->mu);
	if (wp->stopping) {
		pthread_mutex_unlock(&wp->mu);
		free(j);
		return -1;
	}
	jobq_push(&wp->todo, j);
	pthread_cond_signal(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	wp->pending++;
	return 0;
}
