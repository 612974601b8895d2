/* Logging to stderr, one line per event, prefixed with time, role and pid,
 * so that the interleaved output of a supervised group stays readable. */
#ifndef ROOST_LOG_H
#define ROOST_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the role shown in every line ("writer", "broker-0", ...) and the
 * most verbose level printed (default LOG_INFO; ROOST_LOG=debug raises it). */
void log_init(const char *role);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
