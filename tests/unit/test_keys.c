/* The writer's idempotency keys: what counts as a repeat, live and in a
 * replay that meets records the saved keys already hold. */
#include "err.h"
#include "keys.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>

static int setup(void **state)
{
	keys *k;
	if (keys_new(&k) != 0)
		return -1;
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	keys_free(*state);
	return 0;
}

/* Live: a retry of a logged key is a repeat; the next seq is not. */
static void test_retry_is_a_repeat(void **state)
{
	keys *k = *state;
	assert_int_equal(keys_put(k, 7, 1, 100, 3), 0);
	assert_int_equal(keys_repeats(k, 7, 1, 200), 1);
	assert_int_equal(keys_repeats(k, 7, 2, 200), 0);
	assert_int_equal(keys_repeats(k, 8, 1, 200), 0);
	/* An older seq of the client, logged after its newest: a repeat. */
	assert_int_equal(keys_put(k, 7, 5, 300, 1), 0);
	assert_int_equal(keys_repeats(k, 7, 4, 400), 1);
}

/* Replay: keys saved while another collection's tail was unsealed hold
 * the very records replay meets again; those are applied, not skipped. */
static void test_replayed_record_is_no_repeat(void **state)
{
	keys *k = *state;
	assert_int_equal(keys_put(k, 7, 6, 500, 2), 0);	 /* as the manifest saved it */
	assert_int_equal(keys_repeats(k, 7, 6, 500), 0); /* the record itself */
	assert_int_equal(keys_repeats(k, 7, 5, 400), 0); /* the client's one before it */
	/* A retry of it logged after it is still refused. */
	assert_int_equal(keys_repeats(k, 7, 6, 600), 1);
	/* Replaying the earlier one does not move the key back. */
	assert_int_equal(keys_put(k, 7, 5, 400, 1), 0);
	struct manifest_key *all;
	uint32_t n;
	assert_int_equal(keys_export(k, &all, &n), 0);
	assert_int_equal(n, 1);
	assert_true(all[0].seq == 6 && all[0].lsn == 500 && all[0].count == 2);
	free(all);
}

/* Many clients: the table grows and forgets none. */
static void test_many_clients(void **state)
{
	keys *k = *state;
	for (uint64_t c = 1; c <= 5000; c++)
		assert_int_equal(keys_put(k, c, c, 16 * c, 1), 0);
	for (uint64_t c = 1; c <= 5000; c++) {
		assert_int_equal(keys_repeats(k, c, c, 16 * c + 16), 1);
		assert_int_equal(keys_repeats(k, c, c + 1, 16 * c + 16), 0);
	}
	struct manifest_key *all;
	uint32_t n;
	assert_int_equal(keys_export(k, &all, &n), 0);
	assert_int_equal(n, 5000);
	assert_true(all[0].lsn == 16 * 5000 && all[n - 1].lsn == 16); /* newest first */
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_retry_is_a_repeat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replayed_record_is_no_repeat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
