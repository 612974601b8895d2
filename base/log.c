#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log__role[32] = "roost";
static enum log_level log__max = LOG_INFO;

void log_init(const char *role)
{
	snprintf(log__role, sizeof log__role, "%s", role);
	const char *env = getenv("ROOST_LOG");
	if (env && strcmp(env, "debug") == 0)
		log__max = LOG_DEBUG;
	else if (env && strcmp(env, "warn") == 0)
		log__max = LOG_WARN;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	if (level > log__max)
		return;
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* ISO 8601 in UTC: lines from several hosts and days sort and compare. */
	int n = snprintf(line, sizeof line,
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, log__role, (int)getpid(), names[level]);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* One write per line keeps lines from different processes whole. */
	size_t len = strlen(line);
	line[len++] = '\n';
	ssize_t rc = write(STDERR_FILENO, line, len);
	(void)rc;
}
