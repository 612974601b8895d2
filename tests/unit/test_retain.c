/* The retention setting and its horizon: what each text means, and where
 * a window's horizon falls among log files written at made-up times. */
#include "err.h"
#include "retain.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

static void assert_parses(const char *text, enum retain_kind kind, uint64_t value)
{
	struct retain r;
	char back[RETAIN_TEXT_MAX];
	assert_int_equal(retain_parse(text, &r), 0);
	assert_int_equal(r.kind, kind);
	assert_int_equal(r.value, value);
	retain_describe(&r, back, sizeof back);
	assert_string_equal(back, text);
}

static void test_each_form_parses_and_reads_back(void **state)
{
	(void)state;
	assert_parses("none", RETAIN_NONE, 0);
	assert_parses("all", RETAIN_ALL, 0);
	assert_parses("lsn:12345", RETAIN_FROM_LSN, 12345);
	assert_parses("90s", RETAIN_WINDOW, 90000);
	assert_parses("30m", RETAIN_WINDOW, 1800000);
	assert_parses("2h", RETAIN_WINDOW, 7200000);
	assert_parses("7d", RETAIN_WINDOW, 7ull * 86400000);
	assert_parses("time:0", RETAIN_FROM_TIME, 0);
	assert_parses("time:-42", RETAIN_FROM_TIME, 0);
	assert_parses("time:9223372036854775807", RETAIN_FROM_TIME, 0);
	struct retain r;
	assert_int_equal(retain_parse("time:-42", &r), 0);
	assert_true(r.time == -42 && r.reached == 0);
}

static void test_a_window_is_shown_in_its_largest_whole_unit(void **state)
{
	(void)state;
	struct retain r;
	char text[RETAIN_TEXT_MAX];
	assert_int_equal(retain_parse("120m", &r), 0);
	retain_describe(&r, text, sizeof text);
	assert_string_equal(text, "2h");
}

static void test_bad_texts_are_refused(void **state)
{
	(void)state;
	const char *bad[] = {"",
			     "None",
			     "lsn:",
			     "lsn:0",
			     "lsn:-1",
			     "lsn:1x",
			     "0s",
			     "10",
			     "10w",
			     "s",
			     "-5m",
			     "1hh",
			     " 1h",
			     "99999999999d",
			     "lsn: 5",
			     "all ",
			     "18446744073709551616s",
			     "time:",
			     "time:x",
			     "time:+1",
			     "time: 1",
			     "time:1.5",
			     "time:-",
			     "time:9223372036854775808"};
	struct retain r;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(retain_parse(bad[i], &r), ROOST_EINVAL);
}

static void test_fixed_horizons(void **state)
{
	(void)state;
	struct retain none = {.kind = RETAIN_NONE}, all = {.kind = RETAIN_ALL},
		      from = {.kind = RETAIN_FROM_LSN, .value = 777};
	assert_true(retain_horizon(&none, NULL, 0, 5000, 0) == RETAIN_NO_HORIZON);
	assert_int_equal(retain_horizon(&all, NULL, 0, 5000, 0), 0);
	assert_int_equal(retain_horizon(&from, NULL, 0, 5000, 0), 777);
}

/* A simulation time has no horizon until a document reaches it; then
 * the smallest number that did, whatever order they are shown in (sealed
 * rows of one collection at start, another's log replayed after). */
static void test_a_simulation_time_keeps_from_the_first_document_reaching_it(void **state)
{
	(void)state;
	struct retain t, none = {.kind = RETAIN_NONE};
	assert_int_equal(retain_parse("time:1000", &t), 0);
	assert_true(retain_horizon(&t, NULL, 0, 5000, 0) == RETAIN_NO_HORIZON);
	retain_saw(&t, 100, 999);
	assert_true(retain_horizon(&t, NULL, 0, 5000, 0) == RETAIN_NO_HORIZON);
	retain_saw(&t, 500, 1000);
	assert_int_equal(retain_horizon(&t, NULL, 0, 5000, 0), 500);
	retain_saw(&t, 300, 4000);
	retain_saw(&t, 900, 1000);
	retain_saw(&t, 200, 10);
	assert_int_equal(retain_horizon(&t, NULL, 0, 5000, 0), 300);
	retain_saw(&none, 1, 5000);
	assert_true(retain_horizon(&none, NULL, 0, 5000, 0) == RETAIN_NO_HORIZON);
}

/* Files [100,200) written last at t=1000, [200,300) at 5000, [300,400) at
 * 9000; the current file starts at 400. */
static const struct wal_file files[] = {
    {.start = 100, .end = 200, .size = 1, .mtime_ms = 1000},
    {.start = 200, .end = 300, .size = 1, .mtime_ms = 5000},
    {.start = 300, .end = 400, .size = 1, .mtime_ms = 9000},
};

static void test_a_window_keeps_files_written_within_it(void **state)
{
	(void)state;
	struct retain w = {.kind = RETAIN_WINDOW, .value = 3000};
	/* Nothing is older than the window yet: all the log has is kept. */
	assert_int_equal(retain_horizon(&w, files, 3, 400, 3999), 100);
	/* The first file's last write fell out of the window at 4000. */
	assert_int_equal(retain_horizon(&w, files, 3, 400, 4000), 200);
	assert_int_equal(retain_horizon(&w, files, 3, 400, 8500), 300);
	assert_int_equal(retain_horizon(&w, files, 3, 400, 12000), 400);
	/* No older file: history is kept from the current file's start. */
	assert_int_equal(retain_horizon(&w, NULL, 0, 400, 12000), 400);
}

/* A file whose mtime moved later (touched after its last record) keeps
 * its records longer, never shorter. */
static void test_a_later_mtime_only_keeps_more(void **state)
{
	(void)state;
	struct retain w = {.kind = RETAIN_WINDOW, .value = 3000};
	struct wal_file touched[3];
	memcpy(touched, files, sizeof touched);
	touched[1].mtime_ms = 11000;
	assert_int_equal(retain_horizon(&w, touched, 3, 400, 12000), 400);
	assert_int_equal(retain_horizon(&w, touched, 3, 400, 13000), 400);
	assert_int_equal(retain_horizon(&w, touched, 3, 400, 11999), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_form_parses_and_reads_back),
	    cmocka_unit_test(test_a_window_is_shown_in_its_largest_whole_unit),
	    cmocka_unit_test(test_bad_texts_are_refused),
	    cmocka_unit_test(test_fixed_horizons),
	    cmocka_unit_test(test_a_simulation_time_keeps_from_the_first_document_reaching_it),
	    cmocka_unit_test(test_a_window_keeps_files_written_within_it),
	    cmocka_unit_test(test_a_later_mtime_only_keeps_more),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
