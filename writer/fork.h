/* Forking a collection: a new collection that holds what another one held
 * as of an LSN, and then lives on its own.
 *
 * The writer seals the source's tail first, so everything below the fork
 * record's LSN is in sealed segments. The fork shares those files: each
 * segment that starts below the LSN read as of, and the source's trained
 * index, gets a hard link under the fork's names, so sweeps, merges and
 * drops stay per collection and no file is ever written twice. Its own
 * tombstone file holds the source's tombstones that ended below that LSN,
 * and one ending, at the fork record's LSN, each row of a straddling
 * segment at or past it. Nothing of the source is written.
 *
 * A kill before the manifest naming the fork is stored leaves only
 * unnamed links (the start-up sweep removes them) and the fork record in
 * the log, which replay applies again: the fork is complete or absent. */
#ifndef ROOST_FORK_H
#define ROOST_FORK_H

#include "manifest.h"
#include "tomb.h"

#include <stdint.h>
#include <sys/types.h>

struct fork_plan {
	const char *dir; /* the data directory */
	mode_t mode;	 /* of the tombstone file */
	const struct manifest *m;
	const struct manifest_coll *source;
	/* The source's tombstones, ascending version, all of them. */
	const struct tomb *tombs;
	uint64_t ntombs;
	uint32_t id;	/* the fork's */
	uint64_t as_of; /* it holds what the source held as of this LSN */
	uint64_t lsn;	/* the fork record's: rows left out end there */
	uint64_t gen;	/* names its tombstone file */
};

struct fork_made {
	struct manifest_coll coll;     /* its entry, but for name and tail_start */
	struct manifest_segment *segs; /* its segments, ascending, malloc'ed */
	uint32_t nsegs;
};

/* Links the files and writes the tombstone file. On failure the links
 * made so far stay, unnamed, for the sweep. */
int fork_make(const struct fork_plan *p, struct fork_made *out);
void fork_made_free(struct fork_made *f);

#endif
