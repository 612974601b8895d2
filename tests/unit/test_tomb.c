/* Tombstone files: round trips, every checked inconsistency, truncation
 * and corruption, and lookups. */
#include "err.h"
#include "tomb.h"
#include "tutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static const char *path_of(void **state)
{
	return tu_file(state, "tombs-00000002-0000000000000007");
}

static void test_round_trip_and_find(void **state)
{
	const char *path = path_of(state);
	struct tomb t[] = {{16, 300}, {17, 300}, {4000, 5000}, {4001, 9000}};
	assert_int_equal(tomb_store(path, t, 4, 0600), 0);
	struct tomb *got;
	uint64_t n;
	assert_int_equal(tomb_load(path, &got, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(got, t, sizeof t);
	assert_ptr_equal(tomb_find(got, n, 4000), &got[2]);
	assert_null(tomb_find(got, n, 18));
	assert_null(tomb_find(got, n, 15));
	assert_null(tomb_find(got, n, 5000));
	free(got);
	/* None is a valid file too. */
	assert_int_equal(tomb_store(path, NULL, 0, 0600), 0);
	assert_int_equal(tomb_load(path, &got, &n), 0);
	assert_int_equal(n, 0);
	assert_null(got);
	assert_null(tomb_find(got, 0, 16));
}

static void test_store_refuses_bad_entries(void **state)
{
	const char *path = path_of(state);
	struct tomb unsorted[] = {{20, 300}, {16, 300}};
	struct tomb repeated[] = {{16, 300}, {16, 400}};
	struct tomb ends_early[] = {{16, 16}};
	assert_int_equal(tomb_store(path, unsorted, 2, 0600), ROOST_EINVAL);
	assert_int_equal(tomb_store(path, repeated, 2, 0600), ROOST_EINVAL);
	assert_int_equal(tomb_store(path, ends_early, 1, 0600), ROOST_EINVAL);
	struct tomb *got;
	uint64_t n;
	assert_int_equal(tomb_load(path, &got, &n), ROOST_ENOENT);
}

/* Every single-byte change and every truncation is refused, and never
 * read past the buffer (AddressSanitizer watches). */
static void test_corruption(void **state)
{
	const char *path = path_of(state);
	struct tomb t[] = {{16, 300}, {17, 300}, {4000, 5000}};
	assert_int_equal(tomb_store(path, t, 3, 0600), 0);
	size_t len;
	uint8_t *good = tu_read_file(path, &len);
	assert_int_equal(len, 32 + 3 * 16);
	for (size_t i = 0; i < len; i++) {
		uint8_t *b = malloc(len);
		assert_non_null(b);
		memcpy(b, good, len);
		b[i] ^= 0x40;
		struct tomb *got;
		uint64_t n;
		int rc = tomb_decode(b, len, &got, &n);
		if (rc == 0)
			fail_msg("a change at byte %zu was accepted", i);
		assert_true(rc == ROOST_ECORRUPT || rc == ROOST_EVERSION);
		assert_null(got);
		free(b);
	}
	for (size_t l = 0; l < len; l++) {
		uint8_t *b = malloc(l ? l : 1);
		assert_non_null(b);
		memcpy(b, good, l);
		struct tomb *got;
		uint64_t n;
		assert_int_equal(tomb_decode(b, l, &got, &n), ROOST_ECORRUPT);
		free(b);
	}
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip_and_find, tu_setup_tmpdir, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_store_refuses_bad_entries, tu_setup_tmpdir,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_corruption, tu_setup_tmpdir, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
