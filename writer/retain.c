#include "retain.h"

#include "err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETAIN__MAX_MS (10ull * 366 * 24 * 3600 * 1000)

static const struct {
	char unit;
	uint64_t ms;
} retain__units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};

/* A decimal count of at least 1, and where it ends. */
static int retain__count(const char *s, uint64_t *out, const char **end)
{
	char *e;
	if (*s < '0' || *s > '9')
		return ROOST_EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno || v == 0)
		return ROOST_EINVAL;
	*out = v;
	*end = e;
	return 0;
}

static int retain__window(const char *s, struct retain *out)
{
	uint64_t n;
	const char *unit;
	if (retain__count(s, &n, &unit) != 0 || !unit[0] || unit[1])
		return ROOST_EINVAL;
	for (size_t i = 0; i < sizeof retain__units / sizeof retain__units[0]; i++)
		if (unit[0] == retain__units[i].unit) {
			if (n > RETAIN__MAX_MS / retain__units[i].ms)
				return ROOST_EINVAL;
			*out = (struct retain){.kind = RETAIN_WINDOW,
					       .value = n * retain__units[i].ms};
			return 0;
		}
	return ROOST_EINVAL;
}

static int retain__time(const char *s, struct retain *out)
{
	char *end;
	if (!(*s == '-' ? s[1] >= '0' && s[1] <= '9' : *s >= '0' && *s <= '9'))
		return ROOST_EINVAL;
	errno = 0;
	long long t = strtoll(s, &end, 10);
	if (errno || *end)
		return ROOST_EINVAL;
	*out = (struct retain){.kind = RETAIN_FROM_TIME, .time = t};
	return 0;
}

int retain_parse(const char *text, struct retain *out)
{
	const char *end;
	if (!text || !out)
		return ROOST_EINVAL;
	if (strcmp(text, "none") == 0) {
		*out = (struct retain){.kind = RETAIN_NONE};
		return 0;
	}
	if (strcmp(text, "all") == 0) {
		*out = (struct retain){.kind = RETAIN_ALL};
		return 0;
	}
	if (strncmp(text, "time:", 5) == 0)
		return retain__time(text + 5, out);
	if (strncmp(text, "lsn:", 4) == 0) {
		uint64_t lsn;
		if (retain__count(text + 4, &lsn, &end) != 0 || *end)
			return ROOST_EINVAL;
		*out = (struct retain){.kind = RETAIN_FROM_LSN, .value = lsn};
		return 0;
	}
	return retain__window(text, out);
}

/* The largest unit the window is a whole number of. */
static void retain__describe_window(uint64_t ms, char *buf, size_t len)
{
	size_t i = sizeof retain__units / sizeof retain__units[0];
	while (--i > 0 && ms % retain__units[i].ms != 0)
		;
	snprintf(buf, len, "%" PRIu64 "%c", ms / retain__units[i].ms, retain__units[i].unit);
}

void retain_describe(const struct retain *r, char *buf, size_t len)
{
	switch (r->kind) {
	case RETAIN_ALL:
		snprintf(buf, len, "all");
		break;
	case RETAIN_FROM_LSN:
		snprintf(buf, len, "lsn:%" PRIu64, r->value);
		break;
	case RETAIN_WINDOW:
		retain__describe_window(r->value, buf, len);
		break;
	case RETAIN_FROM_TIME:
		snprintf(buf, len, "time:%" PRId64, r->time);
		break;
	default:
		snprintf(buf, len, "none");
	}
}

void retain_saw(struct retain *r, uint64_t number, int64_t time)
{
	if (r->kind == RETAIN_FROM_TIME && time >= r->time && (!r->reached || number < r->reached))
		r->reached = number;
}

/* The end of the newest file last written before the window began; the
 * oldest LSN the log still has when none was. */
static uint64_t retain__window_horizon(uint64_t window_ms, const struct wal_file *older, size_t n,
				       uint64_t current_start, int64_t now_ms)
{
	uint64_t horizon = n ? older[0].start : current_start;
	for (size_t i = 0; i < n; i++)
		if (older[i].mtime_ms <= now_ms - (int64_t)window_ms)
			horizon = older[i].end;
	return horizon;
}

uint64_t retain_horizon(const struct retain *r, const struct wal_file *older, size_t n,
			uint64_t current_start, int64_t now_ms)
{
	switch (r->kind) {
	case RETAIN_ALL:
		return 0;
	case RETAIN_FROM_LSN:
		return r->value;
	case RETAIN_WINDOW:
		return retain__window_horizon(r->value, older, n, current_start, now_ms);
	case RETAIN_FROM_TIME:
		return r->reached ? r->reached : RETAIN_NO_HORIZON;
	default:
		return RETAIN_NO_HORIZON;
	}
}
