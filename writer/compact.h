/* Compaction: merges runs of small sealed segments into one.
 *
 * Time-based seals (which bound what remote readers miss) leave small
 * segments behind, and every segment costs a reader one more FAISS search.
 * After each seal of a collection the writer merges the first run of
 * COMPACT_MIN_RUN or more of its consecutive segments smaller than a
 * quarter of its seal size: it
 * rebuilds one index from their stored vectors, writes it under the first
 * segment's name, installs a new manifest and only then deletes the merged
 * segments' other files. A reader still loading the old manifest notices
 * the replaced files (counts no longer match) and retries. */
#ifndef ROOST_COMPACT_H
#define ROOST_COMPACT_H

#include "manifest.h"

#include <stdint.h>

#define COMPACT_MIN_RUN 4u

struct compact_config {
	const char *data_dir;
	uint32_t coll;	     /* the collection whose segments are merged */
	uint64_t small_docs; /* segments below this many documents are small */
	uint64_t max_docs;   /* a merged segment holds at most this many */
};

/* Merges one run of the collection's if there is one; *merged receives how
 * many segments went into it (0: nothing to do). m is updated and stored. */
int compact_run(const struct compact_config *cfg, struct manifest *m, uint32_t *merged);

#endif
