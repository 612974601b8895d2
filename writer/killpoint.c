#include "killpoint.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const killpoint__names[KILLPOINT_COUNT] = {
    [KILLPOINT_LOG_BEFORE_SYNC] = "log-before-sync",
    [KILLPOINT_LOG_AFTER_SYNC] = "log-after-sync",
    [KILLPOINT_SEAL_BEFORE_MANIFEST] = "seal-before-manifest",
    [KILLPOINT_SEAL_AFTER_MANIFEST] = "seal-after-manifest",
    [KILLPOINT_REPLAY] = "replay",
    [KILLPOINT_COMPACT_BEFORE_MANIFEST] = "compact-before-manifest",
    [KILLPOINT_COMPACT_AFTER_MANIFEST] = "compact-after-manifest",
    [KILLPOINT_COLL_BEFORE_APPLY] = "coll-before-apply",
    [KILLPOINT_COLL_BEFORE_MANIFEST] = "coll-before-manifest",
};

/* Set once at start, before the ingest thread exists; only that thread
 * reaches points afterwards. */
static int killpoint__armed = -1;
static uint64_t killpoint__nth, killpoint__seen;

static int killpoint__refuse(const char *spec, const char *why)
{
	char names[256] = "";
	for (int i = 0; i < KILLPOINT_COUNT; i++) {
		strcat(names, i ? ", " : "");
		strcat(names, killpoint__names[i]);
	}
	log_error("%s='%s': %s; it takes <point>[:<nth>], nth from 1, point one of: %s",
		  KILLPOINT_ENV, spec, why, names);
	return ROOST_EINVAL;
}

int killpoint_init(const char *spec)
{
	killpoint__armed = -1;
	killpoint__seen = 0;
	if (!spec || !spec[0])
		return 0;
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	int found = -1;
	for (int i = 0; i < KILLPOINT_COUNT; i++)
		if (strlen(killpoint__names[i]) == len &&
		    strncmp(spec, killpoint__names[i], len) == 0)
			found = i;
	if (found < 0)
		return killpoint__refuse(spec, "unknown kill point");
	uint64_t nth = 1;
	if (colon) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(colon + 1, &end, 10);
		if (end == colon + 1 || *end || errno || colon[1] == '-' || v == 0)
			return killpoint__refuse(spec, "bad count");
		nth = v;
	}
	killpoint__armed = found;
	killpoint__nth = nth;
	log_warn("test kill point armed: %s, arrival %llu", killpoint__names[found],
		 (unsigned long long)nth);
	return 0;
}

void killpoint_reach(enum killpoint_id p)
{
	if ((int)p != killpoint__armed || ++killpoint__seen < killpoint__nth)
		return;
	/* One write(2) before the signal: the line is in the log when the
	 * process is gone. */
	log_warn("kill point %s reached", killpoint__names[p]);
	raise(SIGKILL);
}
