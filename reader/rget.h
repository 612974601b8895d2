/* Gets: a document found by its id in what one request sees of a view
 * (search_snapshot): the sealed segments through their id index, the tail
 * by a scan of its rows. */
#ifndef ROOST_RGET_H
#define ROOST_RGET_H

#include "search.h"
#include "view.h"

#include <stddef.h>
#include <stdint.h>

/* A document a get found: its row, valid while the view and the snapshot
 * are held. */
struct rget_doc {
	const struct segment_docs *docs;
	uint64_t row;
};

/* The live version of id[0..len): a document's own id, or "#<number>"
 * for the version of that number. 1 and *out when there is one, else 0
 * (deleted, replaced, never added, or not a valid id). */
int rget_find(const struct view *v, const struct search_snapshot *snap, const char *id, size_t len,
	      struct rget_doc *out);

#endif
