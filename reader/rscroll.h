/* Scrolls: the documents of a view that a filter admits, in ascending
 * number (the order they were added in), a page at a time, every page of
 * one scroll read as of one LSN: a row is there when it was added below
 * that LSN and no upsert or delete below it ended it. Tombstones keep the
 * LSN that ended each version, so later pages see the same state however
 * far the collection moved on meanwhile (compaction keeps every row). */
#ifndef ROOST_RSCROLL_H
#define ROOST_RSCROLL_H

#include "rget.h"
#include "search.h"
#include "view.h"

#include <stddef.h>
#include <stdint.h>

#define RSCROLL_MAX_LIMIT     1024u
#define RSCROLL_DEFAULT_LIMIT 100u
#define RSCROLL_CURSOR_MAX    48u

struct rscroll_page {
	struct rget_doc *docs; /* room for the limit's documents */
	size_t n;
	uint64_t last; /* the number of the page's last document */
	int more;      /* the page filled up: another may follow */
};

/* The page after number `after` (0: from the start) as of LSN at, of up
 * to limit documents f admits, from v as snap sees it (whose end must be
 * at least at). */
int rscroll_page(const struct view *v, const struct search_snapshot *snap, uint64_t at,
		 uint64_t after, const struct docfilter *f, uint32_t limit,
		 struct rscroll_page *page);

/* A cursor: where the next page starts, and the LSN the scroll reads. */
void rscroll_cursor(uint64_t at, uint64_t after, char *buf, size_t len);
int rscroll_cursor_parse(const char *s, uint64_t *at, uint64_t *after);

#endif
