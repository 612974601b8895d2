/* The GPU memory budget and fallback decisions, driven by a fake device:
 * fits, over budget, memory short, unknown, allocation failure mid-add,
 * refusal, and the way back to the GPU. No CUDA needed. */
#include "err.h"
#include "gpumem.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

/* A device whose free memory the test sets; fail makes the query fail. */
struct fake_dev {
	uint64_t free_bytes;
	uint64_t total_bytes;
	int fail;
	int queries;
};

static int fake_query(void *ctx, struct gpumem_info *out)
{
	struct fake_dev *d = ctx;
	d->queries++;
	if (d->fail)
		return ROOST_EIO;
	out->free_bytes = d->free_bytes;
	out->total_bytes = d->total_bytes;
	return 0;
}

/* 1 KiB per vector, no other cost: easy arithmetic. */
static const struct gpumem_model kib_vectors = {.vector_bytes = 1024};

/* 1 KiB per vector in one array reallocated by each add, like GpuIndexFlat. */
static const struct gpumem_model regrowing = {.vector_bytes = 1024, .regrows = 1};

static struct gpumem_config config(enum gpumem_policy policy)
{
	return (struct gpumem_config){
	    .budget_bytes = 2 * GIB,
	    .fixed_bytes = 512 * MIB,
	    .headroom_bytes = 256 * MIB,
	    .segment_vectors = 1024 * 1024, /* a full segment: 1 GiB */
	    .policy = policy,
	};
}

static gpumem *open_mem(const struct gpumem_config *c, struct fake_dev *d)
{
	struct gpumem_source src = {.query = fake_query, .ctx = d};
	gpumem *g = NULL;
	assert_int_equal(gpumem_new(&g, c, &src), 0);
	assert_string_equal(gpumem_mode(g), "gpu");
	return g;
}

static void test_rejects_bad_budgets(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 80 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_source src = {.query = fake_query, .ctx = &d};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = NULL;
	c.budget_bytes = 0;
	c.budget_percent = 0;
	assert_int_equal(gpumem_new(&g, &c, &src), ROOST_EINVAL);
	c.budget_percent = 101;
	assert_int_equal(gpumem_new(&g, &c, &src), ROOST_EINVAL);
	c.budget_percent = 100;
	assert_int_equal(gpumem_new(&g, &c, &src), 0);
	gpumem_free(g);
}

static void test_fits_stays_on_gpu(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	/* 512 MiB fixed + 1 GiB of vectors is inside 2 GiB. */
	gpumem_place_add(g, &kib_vectors, 0, 1024 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_place_add(g, &kib_vectors, 1024 * 1024, 256 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	assert_string_equal(gpumem_mode(g), "gpu");
	assert_non_null(strstr(gpumem_detail(g), "budget 2048 MiB"));
	gpumem_free(g);
}

/* Several collections each have an open index; the budget covers them
 * together. A growth that fits alone is over budget beside the others,
 * and the next segment of a collection comes back to the GPU only when a
 * full segment fits beside what the others still hold. */
static void test_budget_covers_every_collection(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	c.segment_vectors = 512 * 1024; /* 512 MiB */
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	/* Alone, 512 MiB fixed + 1 GiB fits in 2 GiB. */
	gpumem_place_add(g, &kib_vectors, 0, 1024 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	/* Beside another collection's 768 MiB on the GPU it does not. */
	gpumem_set_others(g, 768 * MIB);
	gpumem_place_add(g, &kib_vectors, 0, 1024 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	assert_string_equal(gpumem_mode(g), "cpu (fallback: GPU budget 2048 MiB exceeded)");
	assert_non_null(strstr(gpumem_detail(g), "768 MiB in its other indexes"));
	/* A new segment (512 MiB in full) beside others holding 1 GiB is over
	 * the budget; once they hold 256 MiB it fits. */
	int on_gpu;
	gpumem_set_others(g, GIB);
	gpumem_place_segment(g, &kib_vectors, 0, &on_gpu);
	assert_int_equal(on_gpu, 0);
	gpumem_set_others(g, 256 * MIB);
	gpumem_place_segment(g, &kib_vectors, 0, &on_gpu);
	assert_int_equal(on_gpu, 1);
	assert_string_equal(gpumem_mode(g), "gpu");
	/* The others count against free memory only through the budget: what
	 * they hold is already taken from the device's free bytes. */
	d.free_bytes = 700 * MIB;
	gpumem_place_add(g, &kib_vectors, 0, 256 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_free(g);
}

static void test_budget_keeps_a_reserve(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	/* 2 GiB budget keeps 64 MiB in reserve: 512 MiB fixed + 1472 MiB of
	 * vectors is the most that fits, 1 KiB more is over. */
	gpumem_place_add(g, &kib_vectors, 0, 1472 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_place_add(g, &kib_vectors, 1472 * 1024, 1, 1, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	gpumem_free(g);
}

static void test_over_budget_falls_back_to_cpu(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	/* 512 MiB + 1.5 GiB held, 1 MiB more is over 2 GiB. */
	gpumem_place_add(g, &kib_vectors, 1536 * 1024, 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	assert_string_equal(gpumem_mode(g), "cpu (fallback: GPU budget 2048 MiB exceeded)");
	/* Stays on the CPU for the rest of the segment, even for a small add,
	 * without asking the device. */
	int asked = d.queries;
	gpumem_place_add(g, &kib_vectors, 0, 1, 0, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	assert_int_equal(d.queries, asked);
	gpumem_free(g);
}

static void test_budget_in_percent_refused(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 70 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_REFUSE);
	c.budget_bytes = 0;
	c.budget_percent = 10; /* 8 GiB */
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	gpumem_place_add(g, &kib_vectors, 0, 7 * 1024 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_place_add(g, &kib_vectors, 7 * 1024 * 1024, 1024 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_REFUSED);
	assert_string_equal(gpumem_mode(g), "refusing: GPU memory budget 10% exceeded");
	gpumem_free(g);
}

static void test_short_of_free_memory(void **state)
{
	(void)state;
	/* Another process holds all but 1 GiB: within budget, but 1 GiB more
	 * would not leave the headroom. */
	struct fake_dev d = {.free_bytes = 1 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	c.budget_bytes = 4 * GIB; /* well clear of the budget and its reserve */
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	gpumem_place_add(g, &kib_vectors, 0, 512 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_place_add(g, &kib_vectors, 512 * 1024, 1024 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	assert_string_equal(gpumem_mode(g), "cpu (fallback: GPU memory short, 1024 MiB free)");
	gpumem_free(g);
}

static void test_headroom_is_kept(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 1 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_REFUSE);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	/* 768 MiB + 256 MiB headroom is exactly what is free. */
	gpumem_place_add(g, &kib_vectors, 0, 768 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_place_add(g, &kib_vectors, 0, 768 * 1024 + 1, 1, &where);
	assert_int_equal(where, GPUMEM_REFUSED);
	assert_string_equal(gpumem_mode(g), "refusing: GPU memory short, 1024 MiB free");
	gpumem_free(g);
}

static void test_regrowth_counts_old_and_new(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	/* 800 MiB held: a plain index may add 512 MiB more (2 GiB total), an
	 * index that copies itself on growth needs 800 MiB on top. */
	gpumem_place_add(g, &kib_vectors, 800 * 1024, 512 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_place_add(g, &regrowing, 800 * 1024, 512 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	gpumem_free(g);
}

static void test_moving_counts_what_is_on_the_cpu(void **state)
{
	(void)state;
	/* 1.2 GiB free: 1 GiB already on the GPU plus 128 MiB fits, the same
	 * index still on the CPU needs all of it moved. */
	struct fake_dev d = {.free_bytes = 1229 * MIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_REFUSE);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	gpumem_place_add(g, &kib_vectors, 1024 * 1024, 128 * 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_place_add(g, &kib_vectors, 1024 * 1024, 128 * 1024, 0, &where);
	assert_int_equal(where, GPUMEM_REFUSED);
	gpumem_free(g);
}

static void test_allocation_failure_mid_add_cpu(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	gpumem_place_add(g, &kib_vectors, 0, 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	/* Another process took the memory between the check and the add. */
	gpumem_add_failed(g, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	assert_string_equal(gpumem_mode(g), "cpu (fallback: GPU allocation failed)");
	assert_non_null(strstr(gpumem_detail(g), "another process"));
	gpumem_place_add(g, &kib_vectors, 1024, 1024, 0, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	gpumem_free(g);
}

static void test_allocation_failure_refused_then_resumed(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_REFUSE);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	gpumem_add_failed(g, &where);
	assert_int_equal(where, GPUMEM_REFUSED);
	assert_string_equal(gpumem_mode(g), "refusing: GPU allocation failed");
	/* Refusal is asked again each time: short memory keeps refusing... */
	d.free_bytes = 100 * MIB;
	gpumem_place_add(g, &kib_vectors, 1024, 1024, 0, &where);
	assert_int_equal(where, GPUMEM_REFUSED);
	assert_string_equal(gpumem_mode(g), "refusing: GPU memory short, 100 MiB free");
	/* ...and the writer resumes on the GPU as soon as it is back. */
	d.free_bytes = 40 * GIB;
	gpumem_place_add(g, &kib_vectors, 1024, 1024, 0, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	assert_string_equal(gpumem_mode(g), "gpu");
	gpumem_free(g);
}

static void test_recovery_at_next_segment(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	gpumem_add_failed(g, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	/* Room for an empty index but not a full segment (1 GiB + headroom):
	 * the next segment stays on the CPU rather than bounce back. */
	d.free_bytes = 600 * MIB;
	int on_gpu = -1;
	gpumem_place_segment(g, &kib_vectors, 0, &on_gpu);
	assert_int_equal(on_gpu, 0);
	assert_string_equal(gpumem_mode(g), "cpu (fallback: GPU memory short, 600 MiB free)");
	d.free_bytes = 2 * GIB;
	gpumem_place_segment(g, &kib_vectors, 0, &on_gpu);
	assert_int_equal(on_gpu, 1);
	assert_string_equal(gpumem_mode(g), "gpu");
	gpumem_place_add(g, &kib_vectors, 0, 1024, 1, &where);
	assert_int_equal(where, GPUMEM_ON_GPU);
	gpumem_free(g);
}

static void test_segment_refused_starts_on_cpu(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 100 * MIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_REFUSE);
	gpumem *g = open_mem(&c, &d);
	int on_gpu = -1;
	/* A replayed segment of 512 MiB cannot move while 100 MiB are free. */
	gpumem_place_segment(g, &kib_vectors, 512 * 1024, &on_gpu);
	assert_int_equal(on_gpu, 0);
	assert_string_equal(gpumem_mode(g), "refusing: GPU memory short, 100 MiB free");
	d.free_bytes = 40 * GIB;
	gpumem_place_segment(g, &kib_vectors, 512 * 1024, &on_gpu);
	assert_int_equal(on_gpu, 1);
	gpumem_free(g);
}

static void test_unknown_memory_is_pressure(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 40 * GIB, .total_bytes = 80 * GIB, .fail = 1};
	struct gpumem_config c = config(GPUMEM_POLICY_CPU);
	gpumem *g = open_mem(&c, &d);
	enum gpumem_place where;
	gpumem_place_add(g, &kib_vectors, 0, 1, 1, &where);
	assert_int_equal(where, GPUMEM_ON_CPU);
	assert_string_equal(gpumem_mode(g), "cpu (fallback: GPU memory unknown)");
	gpumem_free(g);
}

static void test_absurd_sizes_do_not_wrap(void **state)
{
	(void)state;
	struct fake_dev d = {.free_bytes = 80 * GIB, .total_bytes = 80 * GIB};
	struct gpumem_config c = config(GPUMEM_POLICY_REFUSE);
	gpumem *g = open_mem(&c, &d);
	const struct gpumem_model huge = {.vector_bytes = UINT64_MAX / 2, .regrows = 1};
	enum gpumem_place where;
	gpumem_place_add(g, &huge, 3, 5, 1, &where);
	assert_int_equal(where, GPUMEM_REFUSED);
	gpumem_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rejects_bad_budgets),
	    cmocka_unit_test(test_fits_stays_on_gpu),
	    cmocka_unit_test(test_over_budget_falls_back_to_cpu),
	    cmocka_unit_test(test_budget_in_percent_refused),
	    cmocka_unit_test(test_budget_keeps_a_reserve),
	    cmocka_unit_test(test_budget_covers_every_collection),
	    cmocka_unit_test(test_short_of_free_memory),
	    cmocka_unit_test(test_headroom_is_kept),
	    cmocka_unit_test(test_regrowth_counts_old_and_new),
	    cmocka_unit_test(test_moving_counts_what_is_on_the_cpu),
	    cmocka_unit_test(test_allocation_failure_mid_add_cpu),
	    cmocka_unit_test(test_allocation_failure_refused_then_resumed),
	    cmocka_unit_test(test_recovery_at_next_segment),
	    cmocka_unit_test(test_segment_refused_starts_on_cpu),
	    cmocka_unit_test(test_unknown_memory_is_pressure),
	    cmocka_unit_test(test_absurd_sizes_do_not_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
