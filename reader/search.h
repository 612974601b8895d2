/* k-nearest-neighbour search over a view: every segment through FAISS,
 * the tail exactly, results merged. Filters are applied inside each search
 * (an IDSelector for segments, a row test for the tail), so a selective
 * filter still yields k hits when k documents match. */
#ifndef ROOST_SEARCH_H
#define ROOST_SEARCH_H

#include "view.h"

#include <stddef.h>
#include <stdint.h>

#define SEARCH_MAX_K 1024u

struct search_filter {
	const int64_t *agents; /* NULL: any agent */
	size_t nagents;
	int has_time;
	int64_t time_min, time_max; /* inclusive */
	const char *kind;	    /* NULL or "": any kind */
};

/* Speed against recall, per request; 0: the index's own setting. Only
 * the segments' FAISS indexes use them (the tail is scanned exactly). */
struct search_tuning {
	uint32_t nprobe;    /* IVF: inverted lists visited */
	uint32_t ef_search; /* HNSW: candidates kept while walking the graph */
};

#define SEARCH_MAX_NPROBE    65536u
#define SEARCH_MAX_EF_SEARCH 65536u

/* A hit points at its document's row; valid while the view is held. */
struct search_hit {
	float score;
	uint64_t row;
	const struct segment_docs *docs;
};

/* Searches nq queries (nq * dim floats) for their k best hits each.
 * hits holds nq * k entries; counts[q] receives how many query q got
 * (fewer than k when fewer documents match). tail receives the snapshot of
 * the tail searched, which tail hits point into: keep it with the hits.
 * Single-threaded. */
int search_run(const struct view *v, const float *queries, uint32_t nq, uint32_t k,
	       const struct search_filter *f, const struct search_tuning *t,
	       struct search_hit *hits, uint32_t *counts, struct segment_docs *tail);

#endif
