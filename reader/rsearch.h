/* A reader's request handling: validate a search, pick the current view
 * (waiting for min_lsn when asked), search, encode hits with their fields. */
#ifndef ROOST_RSEARCH_H
#define ROOST_RSEARCH_H

#include "ctl.h"
#include "inst.h"
#include "view.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#define RSEARCH_MAX_QUERIES 1024u
#define RSEARCH_MAX_AGENTS  4096u

struct rsearch {
	const struct inst *in;
	ctl *ctl;		    /* NULL: remote reader, segments only */
	int wait_ms;		    /* default wait for min_lsn */
	int max_wait_ms;	    /* cap on a request's own timeout */
	pthread_mutex_t lock;	    /* guards view */
	pthread_mutex_t build_lock; /* one builder at a time */
	struct view *view;
	_Atomic uint32_t waiting; /* searches waiting for their min_lsn */
};

void rsearch_init(struct rsearch *rs);

/* Loads the first view; ROOST_EBUSY or ROOST_ENOENT while the writer has
 * not published one yet (for example while it restarts). */
int rsearch_load(struct rsearch *rs);
void rsearch_close(struct rsearch *rs);

/* Swaps in a new view when the writer published a new generation. */
void rsearch_refresh(struct rsearch *rs);

/* Handles one request frame; the reply frame is malloc'ed. */
int rsearch_handle(struct rsearch *rs, const void *frame, size_t len, void **reply,
		   size_t *reply_len);

#endif
