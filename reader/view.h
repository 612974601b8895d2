/* A reader's view of the published data: the sealed segments of one
 * manifest generation plus the tail that follows it.
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

#include "ctl.h"
#include "inst.h"
#include "segment.h"
#include "tail.h"

#include <faiss/c_api/Index_c.h>

#include <stdatomic.h>
#include <stdint.h>

struct view_segment {
	_Atomic int refs;
	uint64_t start_lsn, end_lsn;
	FaissIndex *index;
	struct segment_docs docs;
};

struct view {
	_Atomic int refs;
	uint64_t manifest_gen;
	uint64_t tail_serial; /* 0 for a remote view */
	uint32_t dim, metric;
	uint64_t sealed_end;   /* every batch below it is in the segments */
	uint64_t manifest_ino; /* remote views: the MANIFEST file they read */
	uint32_t nsegs;
	struct view_segment **segs;
	tail *tail; /* NULL for a remote view */
};

/* Builds the current view. c NULL builds a remote view from the data
 * directory alone. prev (may be NULL) lends the segments it already has. */
int view_build(struct view **out, const struct inst *in, ctl *c, const struct view *prev);

/* 1 when the published state moved past v (a seal happened). */
int view_stale(const struct view *v, const struct inst *in, ctl *c);

/* The LSN below which v holds every batch. */
uint64_t view_end_lsn(const struct view *v);

void view_get(struct view *v);
void view_put(struct view *v);

#endif
