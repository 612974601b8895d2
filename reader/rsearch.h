/* A reader's request handling: validate a search, pick the current view
 * of its collection (waiting for min_lsn when asked), search, encode hits
 * with their fields. A reader serves every collection of its instance: it
 * keeps a view of each, and follows creates, seals and drops. */
#ifndef ROOST_RSEARCH_H
#define ROOST_RSEARCH_H

#include "catalog.h"
#include "ctl.h"
#include "inst.h"
#include "rstat.h"
#include "view.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#define RSEARCH_MAX_QUERIES 1024u
#define RSEARCH_MAX_AGENTS  4096u

struct rsearch {
	struct view_source src;	    /* ctl and cat NULL: remote reader, segments only */
	int wait_ms;		    /* default wait for min_lsn */
	int max_wait_ms;	    /* cap on a request's own timeout */
	pthread_mutex_t lock;	    /* guards views and nviews */
	pthread_mutex_t build_lock; /* one builder at a time */
	struct view **views;	    /* one per collection, ascending id */
	size_t nviews;
	/* The catalog version (remote: MANIFEST inode) the views are of.
	 * Relaxed: a hint; rebuilds are serialized by build_lock. */
	_Atomic uint64_t seen;
	_Atomic uint32_t waiting;     /* searches waiting for their min_lsn */
	_Atomic uint64_t filter_rows; /* rows read by filters (rstat.h) */
	/* Searches answered per collection id, for `roost status`; under
	 * count_lock (a collection's first search adds its entry). */
	pthread_mutex_t count_lock;
	struct rstat_coll *counts;
	size_t ncounts, count_cap;
};

void rsearch_init(struct rsearch *rs);

/* Loads the first views; ROOST_EBUSY or ROOST_ENOENT while the writer has
 * not published the instance yet (for example while it restarts). */
int rsearch_load(struct rsearch *rs);
void rsearch_close(struct rsearch *rs);

/* Swaps in new views of the collections whose published state moved,
 * adds created ones and lets dropped ones go. */
void rsearch_refresh(struct rsearch *rs);

/* Figures for `roost status`: the newest manifest generation of the
 * views, their segments, and the largest end LSN. */
void rsearch_stat(struct rsearch *rs, uint64_t *generation, uint32_t *segments, uint64_t *lsn);

/* Copies the per-collection search counts into a malloc'ed array (out may
 * be NULL when n is 0); give it to free(). */
int rsearch_counts(struct rsearch *rs, struct rstat_coll **out, size_t *n);

/* Handles one request frame; the reply frame is malloc'ed. */
int rsearch_handle(struct rsearch *rs, const void *frame, size_t len, void **reply,
		   size_t *reply_len);

#endif
