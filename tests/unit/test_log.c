/* The log line (base/log.c): an ISO 8601 UTC time to the millisecond, the
 * role and pid, the level, the message; one write per line. As JSON, one
 * object per line whatever the message holds; on the journal's stream, the
 * syslog priority first. */
#include "log.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct capture {
	int fds[2];
	int saved;
};

/* Points stderr at a pipe, and JOURNAL_STREAM at it when journal is set,
 * before log_init looks at both. */
static void capture_begin(struct capture *c, int journal)
{
	c->saved = dup(STDERR_FILENO);
	assert_int_equal(pipe(c->fds), 0);
	dup2(c->fds[1], STDERR_FILENO);
	struct stat st;
	assert_int_equal(fstat(c->fds[1], &st), 0);
	char stream[64];
	snprintf(stream, sizeof stream, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + (journal ? 0 : 1));
	setenv("JOURNAL_STREAM", stream, 1);
}

/* What was written meanwhile. */
static void capture_end(struct capture *c, char *buf, size_t len)
{
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	close(c->fds[1]);
	ssize_t n = read(c->fds[0], buf, len - 1);
	close(c->fds[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	unsetenv("JOURNAL_STREAM");
}

/* What log_info writes to stderr, read back through a pipe. */
static void logged(char *buf, size_t len)
{
	struct capture c;
	capture_begin(&c, 0);
	log_info("sealed %d rows", 42);
	capture_end(&c, buf, len);
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
	/* The log reads CLOCK_REALTIME; time() may read a coarser clock that
	 * lags it by a tick, so the bound after is read as the log reads it. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	assert_true(at >= before && at <= now.tv_sec);
	assert_true(ms >= 0 && ms < 1000);
	assert_string_equal(role, "writer");
	assert_int_equal(pid, (int)getpid());
	assert_string_equal(level, "INFO");
	assert_string_equal(rest, "sealed 42 rows");
	assert_int_equal(line[strlen(line) - 1], '\n');
}

/* Quotes, backslashes, control characters and bytes that are not UTF-8
 * are escaped; UTF-8 stays as it is. */
static void test_json_line_escapes_the_message(void **state)
{
	(void)state;
	setenv("ROOST_LOG_FORMAT", "json", 1);
	struct capture c;
	capture_begin(&c, 0);
	log_init("broker-0");
	log_warn("collection \"caf\xc3\xa9\" at C:\\x\n\xff\xc0\xaf end");
	char line[512], when[32];
	capture_end(&c, line, sizeof line);
	unsetenv("ROOST_LOG_FORMAT");
	log_init("writer");
	int pid, used = 0;
	assert_int_equal(sscanf(line,
				"{\"time\":\"%24[0-9T:.Z-]\",\"role\":\"broker-0\",\"pid\":%d,"
				"\"level\":\"warn\",\"message\":%n",
				when, &pid, &used),
			 2);
	assert_true(used > 0);
	assert_int_equal(strlen(when), 24);
	assert_int_equal(pid, (int)getpid());
	assert_string_equal(line + used, "\"collection \\\"caf\xc3\xa9\\\" at C:\\\\x\\u000a"
					 "\\ufffd\\ufffd\\ufffd end\"}\n");
}

/* On the journal's own stream each line starts with its syslog priority;
 * on any other stream it does not. */
static void test_journal_gets_the_level(void **state)
{
	(void)state;
	char line[256];
	struct capture c;
	capture_begin(&c, 1);
	log_init("writer");
	log_error("disk full");
	capture_end(&c, line, sizeof line);
	assert_memory_equal(line, "<3>", 3);
	assert_non_null(strstr(line, " writer["));
	assert_non_null(strstr(line, "] ERROR: disk full\n"));
	capture_begin(&c, 1);
	log_init("writer");
	log_info("serving");
	capture_end(&c, line, sizeof line);
	assert_memory_equal(line, "<6>", 3);
	capture_begin(&c, 0);
	log_init("writer");
	log_error("disk full");
	capture_end(&c, line, sizeof line);
	assert_true(line[0] >= '0' && line[0] <= '9'); /* the date, no priority */
	log_init("writer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_has_an_iso_date),
	    cmocka_unit_test(test_json_line_escapes_the_message),
	    cmocka_unit_test(test_journal_gets_the_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
