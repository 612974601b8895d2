#include "killpoint.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const killpoint__names[KILLPOINT_COUNT] = {
    [KILLPOINT_LOG_BEFORE_SYNC] = "log-before-sync",
    [KILLPOINT_LOG_AFTER_SYNC] = "log-after-sync",
    [KILLPOINT_SEAL_FROZEN] = "seal-frozen",
    [KILLPOINT_SEAL_WRITTEN] = "seal-written",
    [KILLPOINT_SEAL_BEFORE_MANIFEST] = "seal-before-manifest",
    [KILLPOINT_SEAL_AFTER_MANIFEST] = "seal-after-manifest",
    [KILLPOINT_REPLAY] = "replay",
    [KILLPOINT_COMPACT_BUILT] = "compact-built",
    [KILLPOINT_COMPACT_BEFORE_MANIFEST] = "compact-before-manifest",
    [KILLPOINT_COMPACT_AFTER_MANIFEST] = "compact-after-manifest",
    [KILLPOINT_COLL_BEFORE_APPLY] = "coll-before-apply",
    [KILLPOINT_COLL_BEFORE_MANIFEST] = "coll-before-manifest",
    [KILLPOINT_FORK_SEALED] = "fork-sealed",
    [KILLPOINT_FORK_LINKED] = "fork-linked",
    [KILLPOINT_FORK_AFTER_MANIFEST] = "fork-after-manifest",
    [KILLPOINT_REBUILD_BUILT] = "rebuild-built",
    [KILLPOINT_REBUILD_BEFORE_MANIFEST] = "rebuild-before-manifest",
    [KILLPOINT_REBUILD_AFTER_MANIFEST] = "rebuild-after-manifest",
};

/* Set once at start, before any thread that reaches points exists. */
static int killpoint__armed = -1, killpoint__held = -1;
static uint64_t killpoint__nth;
static char killpoint__hold_path[PATH_MAX];
/* Counted by every thread that reaches the armed point; only the count
 * matters, so relaxed. */
static atomic_uint_fast64_t killpoint__seen;

static int killpoint__refuse(const char *env, const char *spec, const char *why)
{
	char names[512] = "";
	for (int i = 0; i < KILLPOINT_COUNT; i++) {
		strcat(names, i ? ", " : "");
		strcat(names, killpoint__names[i]);
	}
	log_error("%s='%s': %s; it takes <point>%s, point one of: %s", env, spec, why,
		  strcmp(env, KILLPOINT_ENV) == 0 ? "[:<nth>], nth from 1" : ":<path>", names);
	return ROOST_EINVAL;
}

/* The point named by spec's first len bytes, or -1. */
static int killpoint__find(const char *spec, size_t len)
{
	for (int i = 0; i < KILLPOINT_COUNT; i++)
		if (strlen(killpoint__names[i]) == len &&
		    strncmp(spec, killpoint__names[i], len) == 0)
			return i;
	return -1;
}

static int killpoint__arm_kill(const char *spec)
{
	const char *colon = strchr(spec, ':');
	int found = killpoint__find(spec, colon ? (size_t)(colon - spec) : strlen(spec));
	if (found < 0)
		return killpoint__refuse(KILLPOINT_ENV, spec, "unknown kill point");
	uint64_t nth = 1;
	if (colon) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(colon + 1, &end, 10);
		if (end == colon + 1 || *end || errno || colon[1] == '-' || v == 0)
			return killpoint__refuse(KILLPOINT_ENV, spec, "bad count");
		nth = v;
	}
	killpoint__armed = found;
	killpoint__nth = nth;
	log_warn("test kill point armed: %s, arrival %llu", killpoint__names[found],
		 (unsigned long long)nth);
	return 0;
}

static int killpoint__arm_hold(const char *spec)
{
	const char *colon = strchr(spec, ':');
	int found = killpoint__find(spec, colon ? (size_t)(colon - spec) : strlen(spec));
	if (found < 0)
		return killpoint__refuse(HOLDPOINT_ENV, spec, "unknown hold point");
	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof killpoint__hold_path)
		return killpoint__refuse(HOLDPOINT_ENV, spec, "bad path");
	killpoint__held = found;
	snprintf(killpoint__hold_path, sizeof killpoint__hold_path, "%s", colon + 1);
	log_warn("test hold point armed: %s, while %s exists", killpoint__names[found],
		 killpoint__hold_path);
	return 0;
}

int killpoint_init(const char *kill, const char *hold)
{
	killpoint__armed = killpoint__held = -1;
	atomic_store_explicit(&killpoint__seen, 0, memory_order_relaxed);
	int rc = kill && kill[0] ? killpoint__arm_kill(kill) : 0;
	return rc == 0 && hold && hold[0] ? killpoint__arm_hold(hold) : rc;
}

/* Waits while the hold file exists: a test's signal, so polling it is
 * the whole protocol. */
static void killpoint__hold(enum killpoint_id p)
{
	if (access(killpoint__hold_path, F_OK) != 0)
		return;
	log_warn("hold point %s reached", killpoint__names[p]);
	while (access(killpoint__hold_path, F_OK) == 0)
		usleep(10 * 1000);
	log_warn("hold point %s released", killpoint__names[p]);
}

void killpoint_reach(enum killpoint_id p)
{
	if ((int)p == killpoint__held)
		killpoint__hold(p);
	if ((int)p != killpoint__armed ||
	    atomic_fetch_add_explicit(&killpoint__seen, 1, memory_order_relaxed) + 1 <
		killpoint__nth)
		return;
	/* One write(2) before the signal: the line is in the log when the
	 * process is gone. */
	log_warn("kill point %s reached", killpoint__names[p]);
	raise(SIGKILL);
}
