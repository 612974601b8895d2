/* The writer's worker thread: jobs run one at a time in the order they
 * came, are collected in that order once run, and a stop cancels the job
 * running and hands back every job not collected. */
#include "err.h"
#include "worker.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

struct job {
	struct worker_job base;
	int rc;		 /* what its run returns */
	int ran;	 /* the order it ran in, from 1; 0: never */
	atomic_int gate; /* a gated job runs once it is opened */
	int gated;
};

static atomic_int runs;

static int job_run(struct worker_job *w, const atomic_int *cancel)
{
	struct job *j = (struct job *)w;
	while (j->gated && !atomic_load(&j->gate)) {
		if (atomic_load(cancel))
			return ROOST_ECLOSED;
		sched_yield();
	}
	j->ran = atomic_fetch_add(&runs, 1) + 1;
	return j->rc;
}

static void job_init(struct job *j, int rc, int gated)
{
	*j = (struct job){.base.run = job_run, .rc = rc, .gated = gated};
	atomic_init(&j->gate, 0);
}

static void test_jobs_run_and_come_back_in_order(void **state)
{
	(void)state;
	worker *w;
	struct job a, b, c;
	atomic_store(&runs, 0);
	job_init(&a, 0, 0);
	job_init(&b, ROOST_ENOSPC, 0);
	job_init(&c, 0, 0);
	assert_int_equal(worker_start(&w, 0), 0);
	assert_null(worker_wait(w)); /* none queued */
	worker_submit(w, &a.base);
	worker_submit(w, &b.base);
	worker_submit(w, &c.base);
	assert_ptr_equal(worker_wait(w), &a.base);
	assert_ptr_equal(worker_wait(w), &b.base);
	assert_int_equal(b.base.rc, ROOST_ENOSPC);
	assert_ptr_equal(worker_wait(w), &c.base);
	assert_int_equal(a.ran * 100 + b.ran * 10 + c.ran, 123);
	assert_int_equal(worker_queued(w), 0);
	assert_null(worker_stop(w));
}

/* A job not run yet is not collected, nor is one queued behind it; a job
 * failed and queued again runs again. */
static void test_collect_takes_only_what_ran(void **state)
{
	(void)state;
	worker *w;
	struct job slow, next;
	atomic_store(&runs, 0);
	job_init(&slow, 0, 1);
	job_init(&next, 0, 0);
	assert_int_equal(worker_start(&w, 0), 0);
	worker_submit(w, &slow.base);
	worker_submit(w, &next.base);
	assert_null(worker_collect(w));
	assert_int_equal(worker_queued(w), 2);
	atomic_store(&slow.gate, 1);
	assert_ptr_equal(worker_wait(w), &slow.base);
	assert_ptr_equal(worker_wait(w), &next.base);
	worker_submit(w, &next.base);
	assert_ptr_equal(worker_wait(w), &next.base);
	assert_int_equal(next.ran, 3);
	assert_null(worker_stop(w));
}

/* A stop cancels the job running and returns it with those behind it,
 * which never ran. */
static void test_stop_hands_back_what_was_not_collected(void **state)
{
	(void)state;
	worker *w;
	struct job running, waiting;
	atomic_store(&runs, 0);
	job_init(&running, 0, 1);
	job_init(&waiting, 0, 0);
	assert_int_equal(worker_start(&w, 0), 0);
	worker_submit(w, &running.base);
	worker_submit(w, &waiting.base);
	struct worker_job *left = worker_stop(w);
	assert_ptr_equal(left, &running.base);
	assert_ptr_equal(left->next, &waiting.base);
	assert_null(waiting.base.next);
	assert_int_equal(waiting.ran, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jobs_run_and_come_back_in_order),
	    cmocka_unit_test(test_collect_takes_only_what_ran),
	    cmocka_unit_test(test_stop_hands_back_what_was_not_collected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
