/* A Flat segment's index file, FAISS's index header alone: the documented
 * bytes for each metric, durable replacement, and short or missing files.
 * The header is the one FAISS writes (reader/segindex.cpp reads whole
 * files written by FAISS the same way; tests/system check both). */
#include "err.h"
#include "flatidx.h"
#include "tutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What FAISS 1.7.3's write_index_header writes, field by field. */
static void expect_bytes(const uint8_t *b, const char *fourcc, int32_t d, int64_t n, int32_t metric)
{
	int32_t d2, m2;
	int64_t n2, dummy[2];
	assert_memory_equal(b, fourcc, 4);
	memcpy(&d2, b + 4, 4);
	memcpy(&n2, b + 8, 8);
	memcpy(dummy, b + 16, 16);
	memcpy(&m2, b + 33, 4);
	assert_int_equal(d2, d);
	assert_int_equal(n2, n);
	assert_int_equal(dummy[0], 1 << 20);
	assert_int_equal(dummy[1], 1 << 20);
	assert_int_equal(b[32], 1); /* is_trained */
	assert_int_equal(m2, metric);
}

static void test_round_trip_each_metric(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	tu_path(path, dir, "seg.index");
	static const struct {
		uint32_t metric;
		const char *fourcc;
		int32_t faiss_metric;
	} cases[] = {{0, "IxF2", 1}, {1, "IxFI", 0}};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(flatidx_store(path, 384, 123456789012ull, cases[i].metric, 0600),
				 0);
		size_t len;
		uint8_t *b = tu_read_file(path, &len);
		assert_int_equal(len, FLATIDX_SIZE);
		expect_bytes(b, cases[i].fourcc, 384, 123456789012ll, cases[i].faiss_metric);
		free(b);
		struct flatidx h;
		assert_int_equal(flatidx_read(path, &h), 0);
		assert_true(flatidx_is_flat(&h));
		assert_int_equal(h.d, 384);
		assert_int_equal(h.ntotal, 123456789012ll);
		assert_int_equal(h.metric, cases[i].faiss_metric);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0); /* replaced, nothing left over */
}

/* Any FAISS index starts so: an HNSW's header reads, and is not Flat. */
static void test_other_types_and_bad_files(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	tu_path(path, dir, "other.index");
	uint8_t b[FLATIDX_SIZE + 16] = {0};
	memcpy(b, "IHNf", 4);
	tu_write_file(path, b, sizeof b);
	struct flatidx h;
	assert_int_equal(flatidx_read(path, &h), 0);
	assert_false(flatidx_is_flat(&h));
	tu_write_file(path, b, FLATIDX_SIZE - 1);
	assert_int_equal(flatidx_read(path, &h), ROOST_ECORRUPT);
	tu_path(path, dir, "missing.index");
	assert_int_equal(flatidx_read(path, &h), ROOST_ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip_each_metric, tu_setup_tmpdir,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_other_types_and_bad_files, tu_setup_tmpdir,
					    tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
