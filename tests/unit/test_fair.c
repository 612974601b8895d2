/* The brokers' per-agent buckets (broker/fair.c), on a clock the tests
 * move by hand: a flooding agent is held to its rate while others are
 * admitted, batches are all or nothing, and the table forgets idle agents
 * first. */
#include "err.h"
#include "fair.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>

static fair *make(uint32_t rate, uint32_t burst)
{
	fair *f = NULL;
	struct fair_config cfg = {.rate = rate, .burst = burst};
	assert_int_equal(fair_new(&f, &cfg), 0);
	return f;
}

static int admit1(fair *f, int64_t agent, uint32_t docs, int64_t now, struct fair_refusal *why)
{
	struct fair_charge c = {.agent = agent, .docs = docs};
	return fair_admit(f, &c, 1, now, why);
}

/* A flood is held to the burst and then the rate; another agent is not
 * held back by it. */
static void test_flood_held_others_admitted(void **state)
{
	(void)state;
	fair *f = make(100, 50);
	struct fair_refusal why;
	int admitted = 0;
	for (int i = 0; i < 100; i++)
		admitted += admit1(f, 7, 1, 1000, &why) == 0;
	assert_int_equal(admitted, 50);
	assert_int_equal(admit1(f, 7, 1, 1000, &why), ROOST_EBUSY);
	assert_int_equal(why.agent, 7);
	assert_int_equal(why.retry_ms, 10); /* a document at 100/s */
	assert_int_equal(admit1(f, 8, 50, 1000, &why), 0);
	/* 100 ms later the flood has 10 documents again, no more. */
	admitted = 0;
	for (int i = 0; i < 20; i++)
		admitted += admit1(f, 7, 1, 1100, &why) == 0;
	assert_int_equal(admitted, 10);
	assert_int_equal(fair_refused(f), 51 + 10);
	fair_free(f);
}

/* A batch naming several agents is admitted only if all of them may pay,
 * and a refused one charges none of them. */
static void test_batch_all_or_nothing(void **state)
{
	(void)state;
	fair *f = make(10, 10);
	struct fair_refusal why;
	assert_int_equal(admit1(f, 2, 10, 0, &why), 0);
	struct fair_charge both[] = {{.agent = 1, .docs = 5}, {.agent = 2, .docs = 1}};
	assert_int_equal(fair_admit(f, both, 2, 0, &why), ROOST_EBUSY);
	assert_int_equal(why.agent, 2);
	assert_int_equal(admit1(f, 1, 10, 0, &why), 0); /* agent 1 paid nothing */
	assert_int_equal(fair_admit(f, both, 2, 1000, &why), 0);
	fair_free(f);
}

/* A batch bigger than the burst goes through once the bucket is full, and
 * the agent owes the rest. */
static void test_batch_over_burst_owes(void **state)
{
	(void)state;
	fair *f = make(100, 100);
	struct fair_refusal why;
	assert_int_equal(admit1(f, 3, 300, 0, &why), 0);
	assert_int_equal(admit1(f, 3, 1, 1000, &why), ROOST_EBUSY); /* -200 + 100 */
	assert_int_equal(why.retry_ms, 1010);
	assert_int_equal(admit1(f, 3, 1, 3010, &why), 0);
	fair_free(f);
}

/* Without a rate nothing is held; a burst alone is refused. */
static void test_no_rate(void **state)
{
	(void)state;
	fair *f = make(0, 0);
	struct fair_refusal why;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(admit1(f, 1, 1024, 0, &why), 0);
	assert_int_equal(fair_rate(f), 0);
	fair_free(f);
	struct fair_config cfg = {.burst = 5};
	assert_int_equal(fair_new(&f, &cfg), ROOST_EINVAL);
}

/* Many more agents than the table holds: the fullest buckets give way,
 * so a flooder keeps its debt while passers-by come and go. */
static void test_table_forgets_idle_agents(void **state)
{
	(void)state;
	fair *f = make(10, 10);
	struct fair_refusal why;
	assert_int_equal(admit1(f, -1, 10, 0, &why), 0);
	for (int64_t a = 0; a < 4 * FAIR_AGENTS; a++)
		assert_int_equal(admit1(f, a, 1, 0, &why), 0);
	assert_int_equal(admit1(f, -1, 1, 0, &why), ROOST_EBUSY);
	fair_free(f);
}

/* Documents fold into one charge per agent. */
static void test_charges(void **state)
{
	(void)state;
	int64_t agents[] = {5, -2, 5, 9, 5, -2};
	struct fair_charge c[6];
	assert_int_equal(fair_charges(agents, 6, c), 3);
	assert_int_equal(c[0].agent, -2);
	assert_int_equal(c[0].docs, 2);
	assert_int_equal(c[1].agent, 5);
	assert_int_equal(c[1].docs, 3);
	assert_int_equal(c[2].agent, 9);
	assert_int_equal(c[2].docs, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flood_held_others_admitted),
	    cmocka_unit_test(test_batch_all_or_nothing),
	    cmocka_unit_test(test_batch_over_burst_owes),
	    cmocka_unit_test(test_no_rate),
	    cmocka_unit_test(test_table_forgets_idle_agents),
	    cmocka_unit_test(test_charges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
