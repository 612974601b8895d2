/* Unit tests for the control block (shm/ctl.c): creation and opening,
 * the writer lock, watermarks and their waits, the writer-mode seqlock,
 * and the idempotency table: keys, eviction, a full table, and slots whose
 * holder died inside its critical section (robust mutexes). Each test
 * works on its own object in a private directory on /dev/shm. Children are
 * forked processes; they report through their exit status only. */
#include "ctl.h"
#include "err.h"
#include "tutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIM 8

static const char *path_of(void **state)
{
	return tu_file(state, "ctl");
}

static ctl *make_writer(const char *path, uint32_t clients, int *created)
{
	struct ctl_config cfg = {.ring_capacity = 1 << 20, .clients = clients, .mode = 0600};
	ctl *c = NULL;
	int made = 0;
	assert_int_equal(ctl_open_writer(&c, path, &cfg, &made), 0);
	if (created)
		*created = made;
	return c;
}

static void test_settings_and_writer_lock(void **state)
{
	int created;
	ctl *w = make_writer(path_of(state), 0, &created);
	assert_true(created);
	ctl *r;
	assert_int_equal(ctl_open(&r, path_of(state), CTL_READ_ONLY), 0);
	struct ctl_settings s;
	ctl_settings(r, &s);
	assert_int_equal(s.clients, CTL_CLIENTS_DEFAULT);
	assert_int_equal(s.ring_capacity, 1 << 20);
	assert_true(ctl_writer_alive(r));
	assert_int_equal(ctl_writer_pid(r), getpid());
	/* A second writer, even in the same process, is refused. */
	struct ctl_config cfg = {.mode = 0600};
	ctl *second;
	int made;
	assert_int_equal(ctl_open_writer(&second, path_of(state), &cfg, &made), ROOST_ELOCKED);
	ctl_close(w);
	assert_false(ctl_writer_alive(r));
	assert_int_equal(ctl_writer_pid(r), 0);
	/* Reopened by a writer: the same block, not a new table. */
	w = make_writer(path_of(state), 0, &created);
	assert_false(created);
	ctl_close(w);
	ctl_close(r);
}

static void test_missing(void **state)
{
	ctl *c;
	assert_int_equal(ctl_open(&c, path_of(state), CTL_READ_ONLY), ROOST_ENOENT);
	ctl_close(make_writer(path_of(state), 0, NULL));
	assert_int_equal(ctl_open(&c, path_of(state), CTL_READ_ONLY), 0);
	ctl_close(c);
}

static void test_marks_only_grow(void **state)
{
	ctl *w = make_writer(path_of(state), 0, NULL);
	ctl_advance(w, CTL_DURABLE, 100);
	ctl_advance(w, CTL_DURABLE, 50);
	assert_int_equal(ctl_mark(w, CTL_DURABLE), 100);
	assert_int_equal(ctl_mark(w, CTL_PUBLISHED), 0);
	assert_int_equal(ctl_wait(w, CTL_DURABLE, 99, 0), 0);
	assert_int_equal(ctl_wait(w, CTL_DURABLE, 100, 20), ROOST_ETIMEDOUT);
	ctl_close(w);
}

struct waiter {
	ctl *c;
	uint64_t lsn;
	int rc;
	atomic_int started;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->started, 1);
	w->rc = ctl_wait(w->c, CTL_PUBLISHED, w->lsn, 10000);
	return NULL;
}

/* A waiter that sleeps on the futex is woken by the advance and the wake,
 * not by its deadline. */
static void test_wait_is_woken(void **state)
{
	ctl *w = make_writer(path_of(state), 0, NULL);
	ctl *r;
	assert_int_equal(ctl_open(&r, path_of(state), CTL_READ_ONLY), 0);
	struct waiter wt = {.c = r, .lsn = 500};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &wt), 0);
	while (!atomic_load(&wt.started))
		usleep(1000);
	ctl_advance(w, CTL_PUBLISHED, 501);
	ctl_wake(w);
	pthread_join(t, NULL);
	assert_int_equal(wt.rc, 0);
	ctl_close(r);
	ctl_close(w);
}

struct mode_race {
	ctl *c;
	atomic_int stop;
	int torn;
};

static void *mode_reader(void *arg)
{
	struct mode_race *m = arg;
	char buf[64];
	while (!atomic_load(&m->stop)) {
		ctl_writer_mode(m->c, buf, sizeof buf);
		if (strcmp(buf, "cpu") != 0 && strcmp(buf, "gpu (budget 1280 MiB, in use)") != 0 &&
		    strcmp(buf, "unknown") != 0)
			m->torn++;
	}
	return NULL;
}

/* The seqlock: a reader never sees half of one mode and half of another. */
static void test_writer_mode_is_never_torn(void **state)
{
	ctl *w = make_writer(path_of(state), 0, NULL);
	ctl_set_writer_mode(w, "cpu");
	struct mode_race m = {.c = w};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, mode_reader, &m), 0);
	for (int i = 0; i < 200000; i++)
		ctl_set_writer_mode(w, i & 1 ? "cpu" : "gpu (budget 1280 MiB, in use)");
	atomic_store(&m.stop, 1);
	pthread_join(t, NULL);
	assert_int_equal(m.torn, 0);
	ctl_close(w);
}

static enum ctl_fate fate_of(void *arg, uint64_t lsn)
{
	(void)lsn;
	return *(enum ctl_fate *)arg;
}

static void test_key_lifecycle(void **state)
{
	ctl *w = make_writer(path_of(state), 0, NULL);
	enum ctl_fate never = CTL_FATE_LOST;
	ctl_client *cl;
	struct ctl_key key;
	int forgot;
	assert_int_equal(ctl_key_lock(w, 0, fate_of, &never, &cl, &key, &forgot), ROOST_EINVAL);
	assert_int_equal(ctl_key_lock(w, 77, fate_of, &never, &cl, &key, &forgot), 0);
	assert_int_equal(key.seq, 0);
	struct ctl_key one = {.seq = 1, .lsn = 4096, .count = 3};
	ctl_key_begin(cl, &one);
	ctl_key_commit(cl);
	ctl_key_unlock(cl);
	assert_int_equal(ctl_key_lock(w, 77, fate_of, &never, &cl, &key, &forgot), 0);
	assert_false(forgot);
	assert_int_equal(key.seq, 1);
	assert_int_equal(key.lsn, 4096);
	assert_int_equal(key.count, 3);
	ctl_key_unlock(cl);
	/* The writer's record of a refused record, read by brokers: the
	 * newest one of each client, with its reason. */
	assert_int_equal(ctl_client_refusal(w, 77, 4096), 0);
	ctl_client_refused(w, 77, 4096, ROOST_EKEY);
	assert_int_equal(ctl_client_refusal(w, 77, 4096), ROOST_EKEY);
	assert_int_equal(ctl_client_refusal(w, 77, 4112), 0);
	assert_int_equal(ctl_client_refusal(w, 78, 4096), 0);
	ctl_client_refused(w, 77, 4112, ROOST_ENOCOLL);
	assert_int_equal(ctl_client_refusal(w, 77, 4112), ROOST_ENOCOLL);
	assert_int_equal(ctl_client_refusal(w, 77, 4096), 0);
	ctl_close(w);
}

static void test_seed_keeps_the_newest(void **state)
{
	ctl *w = make_writer(path_of(state), 0, NULL);
	struct ctl_key newer = {.seq = 9, .lsn = 900, .count = 2};
	struct ctl_key older = {.seq = 4, .lsn = 400, .count = 1};
	ctl_client_seed(w, 5, &newer);
	ctl_client_seed(w, 5, &older);
	enum ctl_fate never = CTL_FATE_LOST;
	ctl_client *cl;
	struct ctl_key key;
	int forgot;
	assert_int_equal(ctl_key_lock(w, 5, fate_of, &never, &cl, &key, &forgot), 0);
	assert_int_equal(key.seq, 9);
	assert_int_equal(key.lsn, 900);
	ctl_key_unlock(cl);
	ctl_close(w);
}

/* A broker (a forked child) dies holding a slot with a PENDING key: the
 * next locker settles it from the ring's answer. */
static int die_pending(const char *path, uint64_t client, uint64_t seq)
{
	pid_t pid = fork();
	if (pid == 0) {
		ctl *c;
		ctl_client *cl;
		struct ctl_key key;
		int forgot;
		enum ctl_fate never = CTL_FATE_LOST;
		if (ctl_open(&c, path, CTL_READ_WRITE) != 0 ||
		    ctl_key_lock(c, client, fate_of, &never, &cl, &key, &forgot) != 0)
			_exit(1);
		struct ctl_key next = {.seq = seq, .lsn = seq * 1000, .count = 1};
		ctl_key_begin(cl, &next);
		_exit(0); /* dies holding the lock, the key PENDING */
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void settle(void **state, enum ctl_fate fate, int applied, uint64_t want_seq,
		   int want_forgot)
{
	ctl *w = make_writer(path_of(state), 0, NULL);
	struct ctl_key first = {.seq = 1, .lsn = 1000, .count = 1};
	ctl_client_seed(w, 42, &first);
	assert_int_equal(die_pending(path_of(state), 42, 2), 0);
	if (applied)
		ctl_client_applied(w, 42, 2);
	ctl_client *cl;
	struct ctl_key key;
	int forgot;
	assert_int_equal(ctl_key_lock(w, 42, fate_of, &fate, &cl, &key, &forgot), 0);
	assert_int_equal(forgot, want_forgot);
	assert_int_equal(key.seq, want_seq);
	assert_int_equal(key.lsn, want_seq * 1000);
	ctl_key_unlock(cl);
	/* Settled once: the next locker finds a consistent slot. */
	assert_int_equal(ctl_key_lock(w, 42, fate_of, &fate, &cl, &key, &forgot), 0);
	assert_false(forgot);
	assert_int_equal(key.seq, want_seq);
	ctl_key_unlock(cl);
	ctl_close(w);
}

static void test_dead_broker_batch_in_ring_is_kept(void **state)
{
	settle(state, CTL_FATE_IN_RING, 0, 2, 0);
}

static void test_dead_broker_batch_lost_frees_its_key(void **state)
{
	settle(state, CTL_FATE_LOST, 0, 1, 1);
}

static void test_dead_broker_batch_consumed_and_applied_is_kept(void **state)
{
	settle(state, CTL_FATE_CONSUMED, 1, 2, 0);
}

static void test_dead_broker_batch_consumed_unapplied_frees_its_key(void **state)
{
	settle(state, CTL_FATE_CONSUMED, 0, 1, 1);
}

/* CTL_CLIENTS_MIN live clients fill the smallest table; the next one gets
 * EBUSY, an existing one still gets its slot. */
static void test_full_table_is_busy(void **state)
{
	ctl *w = make_writer(path_of(state), CTL_CLIENTS_MIN, NULL);
	enum ctl_fate never = CTL_FATE_LOST;
	ctl_client *cl;
	struct ctl_key key;
	int forgot;
	for (uint64_t id = 1; id <= CTL_CLIENTS_MIN; id++) {
		assert_int_equal(ctl_key_lock(w, id, fate_of, &never, &cl, &key, &forgot), 0);
		ctl_key_unlock(cl);
	}
	assert_int_equal(ctl_key_lock(w, CTL_CLIENTS_MIN + 1, fate_of, &never, &cl, &key, &forgot),
			 ROOST_EBUSY);
	assert_int_equal(ctl_key_lock(w, 7, fate_of, &never, &cl, &key, &forgot), 0);
	ctl_key_unlock(cl);
	ctl_close(w);
}

static void test_documents_and_tail(void **state)
{
	ctl *w = make_writer(path_of(state), 0, NULL);
	ctl_count_documents(w, 5);
	ctl_count_documents(w, 2);
	assert_int_equal(ctl_documents(w), 7);
	ctl_set_documents(w, 3);
	assert_int_equal(ctl_documents(w), 3);
	/* Tail serials are never given twice while the block exists. */
	assert_int_equal(ctl_new_tail_serial(w), 1);
	assert_int_equal(ctl_new_tail_serial(w), 2);
	ctl_close(w);
	w = make_writer(path_of(state), 0, NULL);
	assert_int_equal(ctl_new_tail_serial(w), 3);
	ctl_close(w);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_shmdir, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_settings_and_writer_lock),
	    T(test_missing),
	    T(test_marks_only_grow),
	    T(test_wait_is_woken),
	    T(test_writer_mode_is_never_torn),
	    T(test_key_lifecycle),
	    T(test_seed_keeps_the_newest),
	    T(test_dead_broker_batch_in_ring_is_kept),
	    T(test_dead_broker_batch_lost_frees_its_key),
	    T(test_dead_broker_batch_consumed_and_applied_is_kept),
	    T(test_dead_broker_batch_consumed_unapplied_frees_its_key),
	    T(test_full_table_is_busy),
	    T(test_documents_and_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
