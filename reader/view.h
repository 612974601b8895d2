/* A reader's view of one collection's published data: its sealed segments
 * as one manifest generation lists them, plus the tail that follows them.
 *
 * Views are immutable and reference-counted, RCU style: a search holds the
 * view it started with while a newer one is built and swapped in, and the
 * last holder frees the old one. Segments unchanged between generations are
 * shared, not reloaded. The tail is a read-only mapping of the writer's
 * shared memory; the kernel keeps an unlinked tail alive until the last
 * view that maps it goes.
 *
 * A remote view (no control block: another host, or no access to the
 * writer's shared memory) has segments only, and sees new data when the
 * writer seals. */
#ifndef ROOST_VIEW_H
#define ROOST_VIEW_H

#include "catalog.h"
#include "coll.h"
#include "ctl.h"
#include "inst.h"
#include "mindex.h"
#include "segment.h"
#include "tail.h"

#include <faiss/c_api/Index_c.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* Where views come from: the instance, and for a local reader the writer's
 * control block and catalog (both NULL for a remote one). */
struct view_source {
	const struct inst *in;
	ctl *ctl;
	catalog *cat;
};

/* A row of a segment whose document has its own id, by the id's hash. */
struct view_key {
	uint64_t hash; /* batch_key_hash */
	uint64_t row;
};

/* Which rows of a segment are live: a bit each, and how many are set. */
struct view_live {
	uint8_t *bits;
	uint64_t count;
};

/* A tail's mindex and the lock that serialises growing and reading it:
 * searches of one view run in several threads. */
struct view_tail_index {
	pthread_mutex_t lock;
	struct mindex *x;
};

/* A sealed segment as a reader holds it: docs points into map, a
 * read-only mapping of the segment's documents file that the page cache
 * holds once for every reader, and index searches it (segindex.h: over
 * the same mapped vectors where FAISS allows). A frozen tail, which the
 * writer is sealing, is held as a segment too: docs points into the tail
 * and there is no index (its rows are scanned exactly). */
struct view_segment {
	_Atomic int refs;
	uint64_t start_lsn, end_lsn;
	uint32_t index_gen;    /* its index file's (manifest_index_path) */
	tail *frozen;	       /* NULL: a sealed segment */
	struct view_key *keys; /* ascending (hash, row): gets find ids here */
	uint64_t nkeys;
	FaissIndex *index;
	struct mindex *mindex; /* NULL: the collection indexes no metadata key */
	struct segment_docs docs;
	struct segment_map map;
};

struct view {
	_Atomic int refs;
	uint32_t coll;
	char name[COLL_NAME_MAX + 1];
	uint64_t manifest_gen;
	uint64_t tail_serial;	/* 0 for a remote view */
	uint64_t frozen_serial; /* the frozen tail among segs; 0: none */
	uint32_t dim, metric;
	char indexed_keys[COLL_KEYS_MAX + 1]; /* the segments' mindex keys */
	uint64_t sealed_end; /* every batch of the collection below it is in segs */
	/* Every tombstone ending below it is in the tombstone file (the
	 * manifest's tail_start: a frozen tail's seal has not written its own
	 * yet). */
	uint64_t filed_end;
	uint64_t reclaimed_lsn; /* reads as of an LSN below it may miss dropped rows */
	uint64_t created_lsn;	/* its create record's; 0 for data older than collections */
	uint64_t manifest_ino;	/* the MANIFEST file read (or a newer one) */
	uint32_t nsegs;
	struct view_segment **segs;
	/* Per segment, the rows no upsert or delete below sealed_end ended
	 * (the manifest's tombstone file), built once for every search of the
	 * view: bits NULL where all are live. */
	struct view_live *live;
	/* That file's tombstones, ascending version, for reads as of an LSN. */
	struct tomb *tombs;
	uint64_t ntombs;
	tail *tail; /* NULL for a remote view */
	/* The tail's metadata index, grown by the searches that use it; NULL
	 * without indexed keys or a tail. */
	struct view_tail_index *tail_index;
	ctl *ctl; /* borrowed from the source; NULL for a remote view */
	/* Nonzero once the writer feeding the tail is gone and the view is
	 * held while the next one catches up (view_hold). */
	_Atomic uint64_t held_end;
};

/* Builds the current view of collection coll. prev (may be NULL) lends
 * the segments it already has. ROOST_ENOCOLL when the collection is gone,
 * ROOST_EBUSY while the writer has not published a consistent one. */
int view_build(struct view **out, const struct view_source *src, uint32_t coll,
	       const struct view *prev);

/* Where the row of version (a document's number) is among v's segments:
 * 1 and *seg, *row when one holds it. */
int view_locate(const struct view *v, uint64_t version, uint32_t *seg, uint64_t *row);

/* The rows of s whose id hashes to hash: (*first)[0..return value). The
 * ids themselves are compared by the caller. */
uint64_t view_key_rows(const struct view_segment *s, uint64_t hash, const struct view_key **first);

/* Clears row of l (of rows in all), making its bitmap (all live) first
 * when it has none. */
int view_live_clear(struct view_live *l, uint64_t rows, uint64_t row);

/* The row of version among rows ids[0..n) (ascending), or n. */
uint64_t view_row_of(const uint64_t *ids, uint64_t n, uint64_t version);

/* How many of ids[0..n) (ascending) are below lsn. */
uint64_t view_rows_below(const uint64_t *ids, uint64_t n, uint64_t lsn);

/* 1 when the published state of v's collection moved past v (a seal, a
 * merge, a drop). */
int view_stale(const struct view *v, const struct view_source *src);

/* The LSN below which v holds every batch of its collection. */
uint64_t view_end_lsn(const struct view *v);

/* How far v's own data reaches: its segments, and its tail as far as the
 * writer published into it. A restarted writer's new tail starts empty
 * and reaches past an old one's only once its replay is done. */
uint64_t view_data_end(const struct view *v);

/* v's tail will get nothing more (its writer died) but v still serves
 * until a newer view catches up: its end LSN stays at most end, so that
 * what the next writer publishes is not taken to be in v. The first call
 * sets it; 1 then, else 0. */
int view_hold(struct view *v, uint64_t end);

/* 1 once view_hold capped v. */
int view_held(const struct view *v);

void view_get(struct view *v);
void view_put(struct view *v);

#endif
