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
 *
 * A test that must show something goes on while the writer is in the
 * middle of a step (ingestion while a compaction builds) holds it there:
 *   ROOST_TEST_HOLD_AT=<point>:<path>
 * makes the thread that reaches the point log "hold point <point>
 * reached" and wait while the file path exists; the test removes it to
 * let the thread go on.
 */
#ifndef ROOST_KILLPOINT_H
#define ROOST_KILLPOINT_H

#define KILLPOINT_ENV "ROOST_TEST_KILL_AT"
#define HOLDPOINT_ENV "ROOST_TEST_HOLD_AT"

enum killpoint_id {
	KILLPOINT_LOG_BEFORE_SYNC,	   /* a group appended to the log, not fsynced */
	KILLPOINT_LOG_AFTER_SYNC,	   /* fsynced; not yet acknowledged nor applied */
	KILLPOINT_SEAL_FROZEN,		   /* a tail frozen, a new one published; nothing written */
	KILLPOINT_SEAL_WRITTEN,		   /* segment files written off the ingest thread */
	KILLPOINT_SEAL_BEFORE_MANIFEST,	   /* segment files written, no manifest names them */
	KILLPOINT_SEAL_AFTER_MANIFEST,	   /* manifest renamed; log and frozen tail not gone */
	KILLPOINT_REPLAY,		   /* a logged batch applied again while recovering */
	KILLPOINT_COMPACT_BUILT,	   /* merged segment written off the ingest thread */
	KILLPOINT_COMPACT_BEFORE_MANIFEST, /* merged segment being installed, not yet named */
	KILLPOINT_COMPACT_AFTER_MANIFEST,  /* manifest renamed, merged segments not deleted */
	KILLPOINT_COLL_BEFORE_APPLY,	   /* a create, drop or alter logged, not yet applied */
	KILLPOINT_COLL_BEFORE_MANIFEST,	   /* a create, drop or alter applied, no manifest has it */
	KILLPOINT_REBUILD_BUILT,	   /* a segment's new index written off the ingest thread */
	KILLPOINT_REBUILD_BEFORE_MANIFEST, /* the new index being installed, not yet named */
	KILLPOINT_REBUILD_AFTER_MANIFEST,  /* manifest renamed, the old index not deleted */
	KILLPOINT_FORK_SEALED,		   /* a fork's source sealed; nothing of the fork made */
	KILLPOINT_FORK_LINKED, /* a fork's files linked and written, no manifest names them */
	KILLPOINT_FORK_AFTER_MANIFEST, /* manifest renamed; the fork not yet open nor listed */
	KILLPOINT_COUNT
};

/* Arms the point kill names ("<point>[:<nth>]", nth from 1) and the hold
 * point hold names ("<point>:<path>"); NULL or "" arms none. ROOST_EINVAL,
 * logged with the known names: an unknown point, a bad count or path.
 * Call it before any thread that reaches points starts. */
int killpoint_init(const char *kill, const char *hold);

/* Counts an arrival at p (from any thread); the armed point's nth arrival
 * kills the process, and an arrival at the hold point waits while its file
 * exists. */
void killpoint_reach(enum killpoint_id p);

#endif
