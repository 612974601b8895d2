/* Logging to stderr, one line per event, with time, role and pid, so that
 * the interleaved output of a supervised group stays readable. */
#ifndef ROOST_LOG_H
#define ROOST_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The line format every process of an instance writes: "text" (the
 * default: `time role[pid] LEVEL: message`) or "json" (one object per
 * line: time, role, pid, level, message). */
#define LOG_FORMAT_ENV "ROOST_LOG_FORMAT"

/* Sets the role shown in every line ("writer", "broker-0", ...), the most
 * verbose level printed (default LOG_INFO; ROOST_LOG=debug raises it) and
 * the format (LOG_FORMAT_ENV). When stderr is the systemd journal's stream
 * (JOURNAL_STREAM), each line starts with its syslog priority ("<3>"), which
 * the journal keeps as the entry's level. */
void log_init(const char *role);

/* 0 for a format log_init knows, else ROOST_EINVAL. */
int log_format_check(const char *format);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
