#include "log.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG__LINE 2048

static char log__role[32] = "roost";
static enum log_level log__max = LOG_INFO;
static int log__json;	 /* ROOST_LOG_FORMAT=json */
static int log__journal; /* stderr is the journal's stream */

/* JOURNAL_STREAM names the stream systemd connected to the journal as
 * "device:inode"; when stderr is that stream, a "<N>" prefix gives each
 * line its syslog priority. A redirected stderr is not the journal. */
static int log__stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *role)
{
	snprintf(log__role, sizeof log__role, "%s", role);
	const char *env = getenv("ROOST_LOG");
	if (env && strcmp(env, "debug") == 0)
		log__max = LOG_DEBUG;
	else if (env && strcmp(env, "warn") == 0)
		log__max = LOG_WARN;
	const char *format = getenv(LOG_FORMAT_ENV);
	log__json = format && strcmp(format, "json") == 0;
	log__journal = log__stderr_is_journal();
}

int log_format_check(const char *format)
{
	return strcmp(format, "text") == 0 || strcmp(format, "json") == 0 ? 0 : ROOST_EINVAL;
}

/* ISO 8601 in UTC to the millisecond: lines from several hosts and days
 * sort and compare. */
static void log__time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), 0 if
 * there is none: messages quote names and paths that clients chose. */
static size_t log__utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] <= 0xf4 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0; /* overlong, a surrogate, or past U+10FFFF */
	return len;
}

/* Appends msg to out as the inside of a JSON string; bytes that are not
 * UTF-8 become U+FFFD. Stops short rather than cut an escape. */
static size_t log__json_string(char *out, size_t cap, const char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t at = 0, n = strlen(msg);
	for (size_t i = 0; i < n;) {
		char esc[8];
		const char *piece = esc;
		size_t len = 1;
		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\', esc[1] = (char)s[i], esc[2] = '\0';
		} else if (s[i] < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", s[i]);
		} else if (s[i] < 0x80) {
			esc[0] = (char)s[i], esc[1] = '\0';
		} else if ((len = log__utf8_len(s + i, n - i)) != 0) {
			memcpy(esc, s + i, len);
			esc[len] = '\0';
		} else {
			piece = "\\ufffd";
			len = 1;
		}
		size_t plen = strlen(piece);
		if (at + plen >= cap)
			break;
		memcpy(out + at, piece, plen);
		at += plen;
		i += len;
	}
	out[at] = '\0';
	return at;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	static const char *const json_names[] = {"error", "warn", "info", "debug"};
	static const int priorities[] = {3, 4, 6, 7}; /* syslog: err, warning, info, debug */
	if (level > log__max)
		return;
	char msg[LOG__LINE / 2], when[64], line[LOG__LINE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log__time(when, sizeof when);
	int n = log__journal ? snprintf(line, sizeof line, "<%d>", priorities[level]) : 0;
	if (log__json) {
		n += snprintf(line + n, sizeof line - (size_t)n,
			      "{\"time\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"level\":\"%s\","
			      "\"message\":\"",
			      when, log__role, (int)getpid(), json_names[level]);
		n += (int)log__json_string(line + n, sizeof line - (size_t)n - 3, msg);
		n += snprintf(line + n, sizeof line - (size_t)n, "\"}");
	} else {
		n += snprintf(line + n, sizeof line - (size_t)n, "%s %s[%d] %s: %s", when,
			      log__role, (int)getpid(), names[level], msg);
		if (n > (int)sizeof line - 2)
			n = (int)sizeof line - 2;
	}
	/* One write per line keeps lines from different processes whole. */
	line[n++] = '\n';
	ssize_t rc = write(STDERR_FILENO, line, (size_t)n);
	(void)rc;
}
