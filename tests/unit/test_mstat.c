/* Per-process metrics objects (shm/mstat.c): what a process counts is what
 * the supervisor reads back, latencies land in the right buckets, objects
 * are found by pid and removed, and an object that is not one is refused. */
#include "err.h"
#include "inst.h"
#include "mstat.h"
#include "tutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct inst *inst_in(void **state)
{
	static struct inst in;
	memset(&in, 0, sizeof in);
	snprintf(in.shm_dir, sizeof in.shm_dir, "%s", tu_dir(state));
	in.file_mode = 0600;
	return &in;
}

static void test_counts_read_back(void **state)
{
	struct inst *in = inst_in(state);
	mstat *m;
	assert_int_equal(mstat_create(&m, in, MSTAT_BROKER, "broker-3"), 0);
	mstat_add(m, MSTAT_ACK_DURABLE, MSTAT_OK, 10, 1000, 2000000); /* 2 ms */
	mstat_add(m, MSTAT_ACK_DURABLE, MSTAT_OK, 5, 500, 50000);     /* 50 us */
	mstat_add(m, MSTAT_ACK_QUEUED, MSTAT_BUSY, 0, 0, 100000);     /* 100 us: the bound */
	mstat_add(m, MSTAT_ACK_VISIBLE, MSTAT_TIMEOUT, 1, 10, 20000000000ull); /* 20 s */
	mstat_search(m, 0, 101000);
	mstat_search(m, 1, 1000);
	mstat_group(m, 4096);
	mstat_seal(m, 3000000);
	mstat_compaction(m, 7000000);
	struct mstat_snapshot s;
	assert_int_equal(mstat_read(in, getpid(), &s), 0);
	assert_int_equal(s.pid, getpid());
	assert_int_equal(s.role, MSTAT_BROKER);
	assert_string_equal(s.name, "broker-3");
	assert_int_equal(s.adds[MSTAT_ACK_DURABLE][MSTAT_OK], 2);
	assert_int_equal(s.adds[MSTAT_ACK_QUEUED][MSTAT_BUSY], 1);
	assert_int_equal(s.adds[MSTAT_ACK_VISIBLE][MSTAT_TIMEOUT], 1);
	assert_int_equal(s.add_docs, 16);
	assert_int_equal(s.add_bytes, 1510);
	const struct mstat_hist *d = &s.add_latency[MSTAT_ACK_DURABLE];
	assert_int_equal(d->count[0], 1); /* 50 us <= 100 us */
	assert_int_equal(d->count[4], 1); /* 2 ms: (1 ms, 2.5 ms] */
	assert_int_equal(d->sum_us, 2050);
	assert_int_equal(s.add_latency[MSTAT_ACK_QUEUED].count[0], 1);
	assert_int_equal(s.add_latency[MSTAT_ACK_VISIBLE].count[MSTAT_BUCKETS], 1); /* +Inf */
	assert_int_equal(s.searches, 1);
	assert_int_equal(s.search_errors, 1);
	assert_int_equal(s.search_latency.count[1], 1); /* 101 us */
	assert_int_equal(s.search_latency.count[0], 1);
	assert_int_equal(s.groups, 1);
	assert_int_equal(s.log_bytes, 4096);
	assert_int_equal(s.seals, 1);
	assert_int_equal(s.seal_us, 3000);
	assert_int_equal(s.compactions, 1);
	assert_int_equal(s.compaction_us, 7000);
	mstat_close(m, in);
	assert_int_equal(mstat_read(in, getpid(), &s), ROOST_ENOENT);
}

static void test_listed_and_removed(void **state)
{
	struct inst *in = inst_in(state);
	char dead[4096];
	snprintf(dead, sizeof dead, "%s/metrics.%d", tu_dir(state), (int)getpid() + 1);
	tu_write_file(dead, "x", 1); /* no process holds its lock */
	mstat *m;
	assert_int_equal(mstat_create(&m, in, MSTAT_READER, "reader"), 0);
	assert_int_not_equal(access(dead, F_OK), 0); /* reaped */
	char other[4096];
	snprintf(other, sizeof other, "%s/metrics.abc", tu_dir(state));
	tu_write_file(other, "x", 1); /* not a pid: not listed */
	pid_t pids[4];
	size_t n;
	assert_int_equal(mstat_list(in, pids, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], getpid());
	/* A dead process's object, as the supervisor removes it. */
	assert_int_equal(mstat_remove(in, getpid()), 0);
	assert_int_equal(mstat_list(in, pids, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mstat_remove(in, getpid()), 0);
	mstat_close(m, in);
	/* Nothing counts, and nothing fails, without an object. */
	mstat_add(NULL, MSTAT_ACK_QUEUED, MSTAT_OK, 1, 1, 1);
	mstat_search(NULL, 0, 1);
	mstat_seal(NULL, 1);
}

static void test_not_an_object_is_refused(void **state)
{
	struct inst *in = inst_in(state);
	mstat *m;
	assert_int_equal(mstat_create(&m, in, MSTAT_WRITER, "writer"), 0);
	char path[4096];
	snprintf(path, sizeof path, "%s/metrics.%d", tu_dir(state), (int)getpid());
	uint32_t version;
	tu_pread(path, 8, &version, sizeof version);
	uint32_t wrong = version + 1;
	tu_pwrite(path, 8, &wrong, sizeof wrong);
	struct mstat_snapshot s;
	assert_int_equal(mstat_read(in, getpid(), &s), ROOST_EVERSION);
	tu_pwrite(path, 8, &version, sizeof version);
	assert_int_equal(mstat_read(in, getpid(), &s), 0);
	uint64_t magic, zero = 0;
	tu_pread(path, 0, &magic, sizeof magic);
	tu_pwrite(path, 0, &zero, sizeof zero);
	assert_int_equal(mstat_read(in, getpid(), &s), ROOST_ECORRUPT);
	/* Another pid's name holding this process's object. */
	char moved[4096];
	snprintf(moved, sizeof moved, "%s/metrics.1", tu_dir(state));
	tu_pwrite(path, 0, &magic, sizeof magic);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(mstat_read(in, 1, &s), ROOST_ECORRUPT);
	mstat_close(m, in);
	unlink(moved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_counts_read_back, tu_setup_shmdir, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_listed_and_removed, tu_setup_shmdir, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_not_an_object_is_refused, tu_setup_shmdir,
					    tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
