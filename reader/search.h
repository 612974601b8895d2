/* k-nearest-neighbour search over a view: every segment, then the tail
 * exactly, results merged.
 *
 * In a segment the rows the filter admits are marked first. At most 2048
 * of them, or fewer than 1/128 of the segment's rows: they are scanned
 * exactly, which costs no more than an index search would (a scan of about
 * 2000 rows costs one HNSW32 search), and FAISS 1.7.3's HNSW, which
 * filters only the results it collects, would come back short below that
 * share. Otherwise the index is searched with the filter as an IDSelector,
 * and a query it answers with fewer than min(k, matching rows) hits is
 * scanned exactly instead. A search therefore returns k hits whenever k
 * documents match. docs/architecture.md has the measurements. */
#ifndef ROOST_SEARCH_H
#define ROOST_SEARCH_H

#include "docfilter.h"
#include "view.h"

#include <stddef.h>
#include <stdint.h>

#define SEARCH_MAX_K 1024u

/* 1 when row of d passes every part of f. */
int search_match(const struct segment_docs *d, uint64_t row, const struct docfilter *f);

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

/* The rows of a segment (or of the tail) a request may see: those no
 * upsert or delete below its end ended. NULL bits: all of them. bits is
 * the view's own (shared by every search of it) until the tail's
 * tombstones end more rows: then a copy the request owns. */
struct search_live {
	const uint8_t *bits;
	uint64_t count;
	struct view_live own;
};

/* What one request sees of a view: the tail's rows of records below the
 * tail's published end (its hits point into tail), and which rows of
 * each segment (live[i]) and of the tail (live[v->nsegs]) are live at
 * that end: exactly the state at one LSN. Taken as of an earlier LSN,
 * the same at that one: rows at or past it are hidden and only the
 * upserts and deletes below it end rows. */
struct search_snapshot {
	struct segment_docs tail; /* empty for a remote view */
	uint64_t end;
	struct search_live *live;
	uint32_t nlive;
};

/* at: the LSN to read as of (its end); 0, or at or past the data's end:
 * now. Its end is then the smaller of the two. */
int search_snapshot_take(const struct view *v, uint64_t at, struct search_snapshot *out);
void search_snapshot_free(struct search_snapshot *s);

/* 1 when row of segment seg (v->nsegs: the tail) is live in s. */
int search_snapshot_live(const struct search_snapshot *s, uint32_t seg, uint64_t row);

/* Searches nq queries (nq * dim floats) for their k best hits each.
 * hits holds nq * k entries; counts[q] receives how many query q got
 * (fewer than k when fewer documents match). tail receives the snapshot of
 * the tail searched, which tail hits point into: keep it with the hits.
 * The view's segments must hold their vectors (view.c maps them).
 * *filter_rows receives how many rows the filter read (0 without one).
 * at: as search_snapshot_take's. Single-threaded. */
int search_run(const struct view *v, const float *queries, uint32_t nq, uint32_t k,
	       const struct docfilter *f, const struct search_tuning *t, uint64_t at,
	       struct search_hit *hits, uint32_t *counts, struct segment_docs *tail,
	       uint64_t *filter_rows);

#endif
