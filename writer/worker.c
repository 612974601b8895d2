#include "worker.h"

#include "err.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct worker {
	pthread_t thread;
	/* Guards the queue, each job's next and done, and stopping; the
	 * thread waits on wake for work, collectors on ran for a run. */
	pthread_mutex_t lock;
	pthread_cond_t wake, ran;
	struct worker_job *head, *tail;
	size_t queued;
	int stopping;
	int nice; /* added to the starting thread's */
	/* Read by long runs without the lock; relaxed: a late look costs a
	 * little more of the run. */
	atomic_int cancel;
};

static uint64_t worker__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The oldest job not run yet. */
static struct worker_job *worker__next(worker *w)
{
	struct worker_job *j = w->head;
	while (j && j->done)
		j = j->next;
	return j;
}

static void *worker__main(void *arg)
{
	worker *w = arg;
	/* Per thread on Linux (a tid is a process id to setpriority); FAISS's
	 * OpenMP threads started from here inherit it. A failure only costs
	 * the priority. */
	int tid = (int)syscall(SYS_gettid);
	if (w->nice)
		setpriority(PRIO_PROCESS, (id_t)tid,
			    getpriority(PRIO_PROCESS, (id_t)tid) + w->nice);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct worker_job *j = NULL;
		while (!w->stopping && !(j = worker__next(w)))
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stopping)
			break;
		pthread_mutex_unlock(&w->lock);
		uint64_t t0 = worker__now_ns();
		int rc = j->run(j, &w->cancel);
		uint64_t ran = worker__now_ns() - t0;
		pthread_mutex_lock(&w->lock);
		j->rc = rc;
		j->ran_ns = ran;
		j->done = 1;
		pthread_cond_broadcast(&w->ran);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int worker_start(worker **out, int nice)
{
	worker *w = calloc(1, sizeof *w);
	if (!w)
		return ROOST_ENOMEM;
	w->nice = nice;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->ran, NULL);
	atomic_init(&w->cancel, 0);
	if (pthread_create(&w->thread, NULL, worker__main, w) != 0) {
		pthread_cond_destroy(&w->ran);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return ROOST_ENOMEM;
	}
	*out = w;
	return 0;
}

void worker_submit(worker *w, struct worker_job *j)
{
	j->next = NULL;
	j->done = 0;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

/* Takes the head off the queue; the lock is held. */
static struct worker_job *worker__pop(worker *w)
{
	struct worker_job *j = w->head;
	w->head = j->next;
	if (!w->head)
		w->tail = NULL;
	w->queued--;
	j->next = NULL;
	return j;
}

struct worker_job *worker_collect(worker *w)
{
	pthread_mutex_lock(&w->lock);
	struct worker_job *j = w->head && w->head->done ? worker__pop(w) : NULL;
	pthread_mutex_unlock(&w->lock);
	return j;
}

struct worker_job *worker_wait(worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->head && !w->head->done)
		pthread_cond_wait(&w->ran, &w->lock);
	struct worker_job *j = w->head ? worker__pop(w) : NULL;
	pthread_mutex_unlock(&w->lock);
	return j;
}

size_t worker_queued(worker *w)
{
	pthread_mutex_lock(&w->lock);
	size_t n = w->queued;
	pthread_mutex_unlock(&w->lock);
	return n;
}

struct worker_job *worker_stop(worker *w)
{
	if (!w)
		return NULL;
	/* Pairs with the runs' relaxed loads. */
	atomic_store_explicit(&w->cancel, 1, memory_order_relaxed);
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	struct worker_job *left = w->head;
	pthread_cond_destroy(&w->ran);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return left;
}
