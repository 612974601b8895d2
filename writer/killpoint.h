/* Kill points, for crash tests only.
 *
 * A crash test that sends SIGKILL from outside cannot tell where the
 * writer was when it died, so it cannot prove that the hardest moments
 * (between a log write and its fsync, between a segment and the manifest
 * that names it, in the middle of recovery) were ever hit. With
 *   ROOST_TEST_KILL_AT=<point>[:<nth>]
 * in its environment, the writer logs "kill point <point> reached" and
 * SIGKILLs itself the nth time (default 1) it gets to that point. Unset or
 * empty, every point costs one comparison. Never set it on a writer whose
 * data matters.
 */
#ifndef ROOST_KILLPOINT_H
#define ROOST_KILLPOINT_H

#define KILLPOINT_ENV "ROOST_TEST_KILL_AT"

enum killpoint_id {
	KILLPOINT_LOG_BEFORE_SYNC,	   /* a group appended to the log, not fsynced */
	KILLPOINT_LOG_AFTER_SYNC,	   /* fsynced; not yet acknowledged nor applied */
	KILLPOINT_SEAL_BEFORE_MANIFEST,	   /* segment files written, no manifest names them */
	KILLPOINT_SEAL_AFTER_MANIFEST,	   /* manifest renamed; log, tail and index not switched */
	KILLPOINT_REPLAY,		   /* a logged batch applied again while recovering */
	KILLPOINT_COMPACT_BEFORE_MANIFEST, /* merged segment written, not yet named */
	KILLPOINT_COMPACT_AFTER_MANIFEST,  /* manifest renamed, merged segments not deleted */
	KILLPOINT_COLL_BEFORE_APPLY,	   /* a create or drop logged, not yet applied */
	KILLPOINT_COLL_BEFORE_MANIFEST,	   /* a create or drop applied, no manifest has it */
	KILLPOINT_COUNT
};

/* Arms the point spec names ("<point>[:<nth>]", nth from 1); NULL or ""
 * arms none. ROOST_EINVAL, logged with the known names: an unknown point
 * or a bad count. */
int killpoint_init(const char *spec);

/* Counts an arrival at p; the armed point's nth arrival kills the process. */
void killpoint_reach(enum killpoint_id p);

#endif
