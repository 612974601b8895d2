#include "rscroll.h"

#include "err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The versions the tail's tombstones ended below at, sorted. */
struct rscroll__ended {
	uint64_t *v;
	uint64_t n;
};

static int rscroll__by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int rscroll__tail_ended(const struct view *v, uint64_t at, struct rscroll__ended *out)
{
	const struct tomb *t = NULL;
	uint64_t n = 0;
	out->v = NULL;
	out->n = 0;
	if (v->tail)
		tail_tombs(v->tail, &t, &n);
	if (n && !(out->v = malloc(n * sizeof *out->v)))
		return ROOST_ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		if (t[i].end_lsn < at)
			out->v[out->n++] = t[i].version;
	if (out->n) /* qsort wants an array, even of nothing */
		qsort(out->v, out->n, sizeof *out->v, rscroll__by_value);
	return 0;
}

static int rscroll__in(const struct rscroll__ended *e, uint64_t version)
{
	return e->n && bsearch(&version, e->v, e->n, sizeof *e->v, rscroll__by_value) != NULL;
}

/* Live as of at: added below it, and ended by nothing below it. */
static int rscroll__live(const struct view *v, const struct rscroll__ended *tail_ended, uint64_t at,
			 uint64_t version)
{
	if (version >= at)
		return 0;
	const struct tomb *t = tomb_find(v->tombs, v->ntombs, version);
	return !(t && t->end_lsn < at) && !rscroll__in(tail_ended, version);
}

/* Adds d's rows after `after` to the page; 1 once it is full. */
static int rscroll__rows(const struct view *v, const struct rscroll__ended *ended, uint64_t at,
			 uint64_t after, const struct docfilter *f, uint32_t limit,
			 const struct segment_docs *d, struct rscroll_page *page)
{
	uint64_t lo = 0, hi = d->count;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (d->ids[mid] <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint64_t r = lo; r < d->count && d->ids[r] < at; r++) {
		if (!rscroll__live(v, ended, at, d->ids[r]) || !search_match(d, r, f))
			continue;
		if (page->n == limit) {
			page->more = 1;
			return 1;
		}
		page->docs[page->n++] = (struct rget_doc){.docs = d, .row = r};
		page->last = d->ids[r];
	}
	return 0;
}

int rscroll_page(const struct view *v, const struct search_snapshot *snap, uint64_t at,
		 uint64_t after, const struct docfilter *f, uint32_t limit,
		 struct rscroll_page *page)
{
	struct rscroll__ended ended;
	page->n = 0;
	page->more = 0;
	page->last = after;
	int rc = rscroll__tail_ended(v, at, &ended);
	if (rc)
		return rc;
	int full = 0;
	for (uint32_t i = 0; !full && i < v->nsegs; i++)
		if (v->segs[i]->end_lsn > after)
			full =
			    rscroll__rows(v, &ended, at, after, f, limit, &v->segs[i]->docs, page);
	if (!full)
		rscroll__rows(v, &ended, at, after, f, limit, &snap->tail, page);
	free(ended.v);
	return 0;
}

void rscroll_cursor(uint64_t at, uint64_t after, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 "-%" PRIu64, at, after);
}

int rscroll_cursor_parse(const char *s, uint64_t *at, uint64_t *after)
{
	char back[RSCROLL_CURSOR_MAX];
	unsigned long long a, b;
	int used = 0;
	if (strlen(s) >= sizeof back || sscanf(s, "%llu-%llu%n", &a, &b, &used) != 2 ||
	    s[used] != '\0' || a == 0)
		return ROOST_EINVAL;
	/* Only the form this reader writes: no signs, spaces or leading zeros. */
	rscroll_cursor(a, b, back, sizeof back);
	if (strcmp(back, s) != 0)
		return ROOST_EINVAL;
	*at = a;
	*after = b;
	return 0;
}
