/* Compaction: merges runs of sealed segments into one, dropping the rows
 * that deletes and upserts ended.
 *
 * Every segment costs a reader one more FAISS search, and deleted and
 * replaced rows cost memory, disk and search time until they go. After
 * each seal of a collection (and after each merge) the writer looks for
 * the first run of its consecutive segments to merge:
 *   - size tiers: COMPACT_MIN_RUN or more neighbours of one tier (below a
 *     quarter of the seal size; below a seal; below 4 seals; below 16...;
 *     counted in live rows), up to COMPACT_MAX_RUN of them and at most
 *     max_docs rows, so that a collection of N rows keeps O(log N)
 *     segments and each row is merged O(log N) times;
 *   - idle: when the writer has sealed nothing for a while, neighbours of
 *     any sizes, as many as fit in max_docs rows, so that a collection at
 *     rest ends with as few segments as the cap allows (each search then
 *     visits fewer indexes), at the cost of rewriting them once more;
 *   - waste: one segment whose ended rows are a quarter of it or more, with
 *     its neighbours of fewer live rows (with its neighbour at least, so
 *     that the merged segment gets a name of its own).
 *
 * A merge runs in three steps, so that its costly part runs off the
 * ingest thread, which keeps appending, sealing and deleting meanwhile:
 *   compact_plan     (ingest thread) picks the run and copies what the
 *                    build needs: the run, settings, tombstones;
 *   compact_build    (any thread) rebuilds one index from the live rows'
 *                    stored vectors and writes the merged segment's files,
 *                    named by the merged range, which no manifest names
 *                    yet (a crash leaves them to the start-up sweep);
 *   compact_install  (ingest thread) checks that the run is still the
 *                    collection's, writes the tombstone file without the
 *                    tombstones of the dropped rows, stores the manifest
 *                    and only then deletes the merged segments' files and
 *                    the old tombstone file.
 * What changed between plan and install is kept: a seal appends segments
 * after the run and writes newer tombstones to the file (install keeps
 * every tombstone ended at or above the plan's `below`, whose rows the
 * merged segment still holds); a drop makes install refuse, and
 * compact_abandon removes the files. A reader still loading the old
 * manifest notices the replaced files (counts no longer match) and
 * retries.
 *
 * Only rows that the tombstone file ends go: their delete or upsert is
 * sealed, so no replay brings them back. A read as of an LSN below the
 * manifest's reclaimed_lsn for the collection would miss them and is
 * refused. */
#ifndef ROOST_COMPACT_H
#define ROOST_COMPACT_H

#include "inst.h"
#include "manifest.h"
#include "tomb.h"

#include <stdatomic.h>
#include <stdint.h>

#define COMPACT_MIN_RUN 4u
#define COMPACT_MAX_RUN 16u

struct compact_policy {
	uint64_t seal_docs; /* the collection's seal size: the tiers' unit */
	uint64_t max_docs;  /* a merged segment holds at most this many */
	int idle;	    /* nothing sealed for a while: merge neighbours too */
};

/* What one compaction did. Every tombstone of a version in [lo, hi), the
 * merged range, that ended below the plan's `below` is gone from the
 * tombstone file: its row was dropped, or it never had one (a delete
 * naming a number no row has). */
struct compact_done {
	uint32_t merged;   /* segments merged; 0: nothing to do */
	uint64_t lo, hi;   /* the merged range */
	uint64_t below;	   /* tombstones ended below it were applied */
	uint64_t ndropped; /* rows dropped */
};

typedef struct compact_job compact_job;

/* The first run of collection coll in m to merge, or *out NULL when there
 * is none. tombs[0..ntombs) (ascending version) are the collection's
 * tombstones that ended below below: their rows are dropped. */
int compact_plan(compact_job **out, const struct inst *in, const struct manifest *m, uint32_t coll,
		 const struct compact_policy *p, const struct tomb *tombs, uint64_t ntombs,
		 uint64_t below);

/* Writes the merged segment's files; ROOST_ECLOSED when *cancel became
 * non-zero on the way (checked between steps and between blocks of rows
 * added to the index). Touches nothing but the job and its files. */
int compact_build(compact_job *j, const atomic_int *cancel);

/* Installs a built job into m, a copy of the current manifest with the
 * generation it is to be stored as, and stores it; now[0..nnow) are the collection's tombstones of
 * the current tombstone file. ROOST_ENOENT when the run is no longer m's (the collection was
 * dropped): nothing changed, abandon the job. */
int compact_install(compact_job *j, struct manifest *m, const struct tomb *now, uint64_t nnow,
		    struct compact_done *out);

/* Removes what a build wrote that no manifest names. */
void compact_abandon(compact_job *j);

uint32_t compact_coll(const compact_job *j);
void compact_free(compact_job *j);

#endif
