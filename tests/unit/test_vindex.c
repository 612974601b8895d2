/* The writer's segment index (writer/vindex.c) as a CPU writer keeps it:
 * a Flat index that keeps its row count alone stores the same header a
 * whole one does, and every other type or a filled index keeps its
 * vectors. Links FAISS. */
#include "err.h"
#include "flatidx.h"
#include "tutil.h"
#include "vindex.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#define DIM 8

static float *rows_of(uint64_t n)
{
	float *x = malloc(n * DIM * sizeof *x);
	assert_non_null(x);
	for (uint64_t i = 0; i < n * DIM; i++)
		x[i] = (float)(i % 97) / 97.0f;
	return x;
}

static void expect_header(const char *path, int64_t rows)
{
	struct flatidx h;
	assert_int_equal(flatidx_read(path, &h), 0);
	assert_true(flatidx_is_flat(&h));
	assert_int_equal(h.d, DIM);
	assert_int_equal(h.ntotal, rows);
}

/* Counted adds store the header of a Flat index of as many rows: what a
 * whole index of the same adds stores. */
static void test_flat_rows_only_stores_the_same_header(void **state)
{
	float *x = rows_of(300);
	char kept[PATH_MAX], whole[PATH_MAX];
	tu_path(kept, tu_dir(state), "kept.index");
	tu_path(whole, tu_dir(state), "whole.index");
	vindex *a, *b;
	assert_int_equal(vindex_new(&a, "Flat", DIM, 0), 0);
	assert_int_equal(vindex_new(&b, "Flat", DIM, 0), 0);
	vindex_keep_rows_only(a);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vindex_add(a, 100, x + (size_t)i * 100 * DIM), 0);
		assert_int_equal(vindex_add(b, 100, x + (size_t)i * 100 * DIM), 0);
		assert_int_equal(vindex_count(a), (uint64_t)(i + 1) * 100);
	}
	assert_int_equal(vindex_store(a, kept, 0600), 0);
	assert_int_equal(vindex_store(b, whole, 0600), 0);
	expect_header(kept, 300);
	expect_header(whole, 300);
	size_t la, lb;
	uint8_t *ba = tu_read_file(kept, &la), *bb = tu_read_file(whole, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
	vindex_free(a);
	vindex_free(b);
	free(x);
}

/* Vectors that are there stay: a filled Flat index, and any other type,
 * keep adding to FAISS. */
static void test_rows_only_leaves_other_indexes_whole(void **state)
{
	(void)state;
	float *x = rows_of(64);
	vindex *filled, *hnsw;
	assert_int_equal(vindex_new(&filled, "Flat", DIM, 0), 0);
	assert_int_equal(vindex_add(filled, 10, x), 0);
	vindex_keep_rows_only(filled);
	assert_int_equal(vindex_add(filled, 54, x + 10 * DIM), 0);
	assert_int_equal(vindex_count(filled), 64);
	assert_int_equal(vindex_new(&hnsw, "HNSW8", DIM, 0), 0);
	vindex_keep_rows_only(hnsw);
	assert_int_equal(vindex_add(hnsw, 64, x), 0);
	assert_int_equal(vindex_count(hnsw), 64);
	char path[PATH_MAX];
	tu_path(path, tu_dir(state), "hnsw.index");
	assert_int_equal(vindex_store(hnsw, path, 0600), 0);
	struct flatidx h;
	assert_int_equal(flatidx_read(path, &h), 0);
	assert_false(flatidx_is_flat(&h));
	assert_true(tu_file_size(path) > 64 * DIM * sizeof(float)); /* the vectors are in it */
	vindex_free(filled);
	vindex_free(hnsw);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_flat_rows_only_stores_the_same_header,
					    tu_setup_tmpdir, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_rows_only_leaves_other_indexes_whole,
					    tu_setup_tmpdir, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
