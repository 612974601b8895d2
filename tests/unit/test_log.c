/* The log line (base/log.c): an ISO 8601 UTC time to the millisecond, the
 * role and pid, the level, the message; one write per line. */
#include "log.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What log_info writes to stderr, read back through a pipe. */
static void logged(char *buf, size_t len)
{
	int fds[2], saved = dup(STDERR_FILENO);
	assert_int_equal(pipe(fds), 0);
	dup2(fds[1], STDERR_FILENO);
	log_info("sealed %d rows", 42);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	ssize_t n = read(fds[0], buf, len - 1);
	close(fds[0]);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void test_line_has_an_iso_date(void **state)
{
	(void)state;
	log_init("writer");
	time_t before = time(NULL);
	char line[256], role[32], level[16], rest[64];
	logged(line, sizeof line);
	struct tm tm = {0};
	int ms, pid;
	assert_int_equal(sscanf(line,
				"%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %31[a-z][%d] %15[A-Z]: %63[^\n]",
				&tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
				&tm.tm_sec, &ms, role, &pid, level, rest),
			 11);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t at = timegm(&tm);
	assert_true(at >= before && at <= time(NULL));
	assert_true(ms >= 0 && ms < 1000);
	assert_string_equal(role, "writer");
	assert_int_equal(pid, (int)getpid());
	assert_string_equal(level, "INFO");
	assert_string_equal(rest, "sealed 42 rows");
	assert_int_equal(line[strlen(line) - 1], '\n');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_has_an_iso_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
