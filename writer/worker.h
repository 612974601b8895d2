/* A background thread of the writer: runs jobs one at a time, in the order
 * they came, while the ingest thread goes on appending, logging and
 * publishing. The ingest thread hands a job over, and collects it once it
 * ran, in the same order, to install what it made (a sealed segment, a
 * merged one) between two groups. A job's run touches nothing but the
 * job's own data and files; everything else stays with the ingest thread. */
#ifndef ROOST_WORKER_H
#define ROOST_WORKER_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

struct worker_job {
	/* Runs on the worker's thread. cancel becomes non-zero when the
	 * writer stops: a long run may give up (ROOST_ECLOSED). */
	int (*run)(struct worker_job *j, const atomic_int *cancel);
	int rc;		 /* run's result, once collected */
	uint64_t ran_ns; /* how long run took, once collected */
	/* The worker's own, under its lock. */
	struct worker_job *next;
	int done;
};

typedef struct worker worker;

/* Starts the thread, its jobs running at nice more than the caller's
 * nice value (0: the same). */
int worker_start(worker **out, int nice);

/* Queues j (not queued anywhere else). */
void worker_submit(worker *w, struct worker_job *j);

/* The oldest job once it ran; NULL when it has not, or none is queued. */
struct worker_job *worker_collect(worker *w);

/* The oldest job, waiting for it to run; NULL when none is queued. */
struct worker_job *worker_wait(worker *w);

/* Jobs queued and not collected. */
size_t worker_queued(worker *w);

/* Cancels the job running, joins the thread, and returns the jobs not
 * collected (run or not), linked by next, oldest first, for the caller to
 * abandon. NULL is a no-op. */
struct worker_job *worker_stop(worker *w);

#endif
