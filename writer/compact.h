/* Compaction: merges runs of sealed segments into one, dropping the rows
 * that deletes and upserts ended.
 *
 * Time-based seals (which bound what remote readers miss) leave small
 * segments behind, and every segment costs a reader one more FAISS search;
 * deleted and replaced rows cost memory, disk and search time until they
 * go. After each seal of a collection the writer merges the first run of
 * its consecutive segments that is either COMPACT_MIN_RUN or more segments
 * each holding fewer live rows than a quarter of its seal size, or holds
 * one segment whose ended rows are a quarter of it or more (with its
 * neighbour, so that the merged segment gets a name of its own). It
 * rebuilds one index from the live rows' stored vectors, writes it under
 * the merged range's name, writes the tombstone file again without the
 * dropped rows, installs a new manifest and only then deletes the merged
 * segments' other files and the old tombstone file. A reader still loading
 * the old manifest notices the replaced files (counts no longer match) and
 * retries.
 *
 * Only rows that the tombstone file ends go: their delete or upsert is
 * sealed, so no replay brings them back. A read as of an LSN below the
 * manifest's reclaimed_lsn for the collection would miss them and is
 * refused. */
#ifndef ROOST_COMPACT_H
#define ROOST_COMPACT_H

#include "manifest.h"
#include "tomb.h"

#include <stdint.h>

#define COMPACT_MIN_RUN 4u

struct compact_config {
	const char *data_dir;
	uint32_t coll;	     /* the collection whose segments are merged */
	uint64_t small_docs; /* segments below this many live documents are small */
	uint64_t max_docs;   /* a merged segment holds at most this many */
	/* The collection's tombstone file, as the manifest names it: ascending
	 * version. Their rows are dropped from what is merged. */
	const struct tomb *tombs;
	uint64_t ntombs;
};

/* What one compaction did. Every tombstone of a version in [lo, hi), the
 * merged range, is gone from the tombstone file: its row was dropped, or
 * it never had one (a delete naming a number no row has). */
struct compact_done {
	uint32_t merged;   /* segments merged; 0: nothing to do */
	uint64_t lo, hi;   /* the merged range */
	uint64_t ndropped; /* rows dropped */
};

/* Merges one run of the collection's if there is one. m is updated and
 * stored: its segments, the collection's tomb_gen (a new tombstone file
 * without the merged range's tombstones, or none) and reclaimed_lsn. */
int compact_run(const struct compact_config *cfg, struct manifest *m, struct compact_done *out);

#endif
