#include "search.h"

#include "err.h"
#include "search_params_c.h"

#include <faiss/c_api/utils/distances_c.h>

#include <stdlib.h>
#include <string.h>

int search_match(const struct segment_docs *d, uint64_t row, const struct docfilter *f)
{
	struct segment_row x;
	segment_row(d, row, &x);
	return docfilter_match(f, x.agent, x.time, x.kind, x.kind_len, x.meta, x.meta_len);
}

/* Keeps the k best of a query's candidates: lower is better for L2,
 * higher for inner product. */
struct search_top {
	struct search_hit *hits;
	uint32_t n, k;
	int higher_better;
};

static int search__better(const struct search_top *t, float a, float b)
{
	return t->higher_better ? a > b : a < b;
}

static void search__offer(struct search_top *t, float score, uint64_t row,
			  const struct segment_docs *d)
{
	if (t->n == t->k && !search__better(t, score, t->hits[t->n - 1].score))
		return;
	uint32_t i = t->n < t->k ? t->n++ : t->k - 1;
	while (i > 0 && search__better(t, score, t->hits[i - 1].score)) {
		t->hits[i] = t->hits[i - 1];
		i--;
	}
	t->hits[i] = (struct search_hit){.score = score, .row = row, .docs = d};
}

/* Rows a scan visits: those whose bit is set when there is a bitmap, else
 * those the filter matches, else every row. */
struct search_rows {
	const struct segment_docs *d;
	const uint8_t *bits;
	const struct docfilter *f;
};

static int search__wanted(const struct search_rows *w, uint64_t r)
{
	if (w->bits)
		return w->bits[r / 8] >> (r % 8) & 1;
	return !w->f || search_match(w->d, r, w->f);
}

/* dist holds SEARCH__RUN floats per query at least. */
#define SEARCH__RUN 1024u

/* An exact scan of the wanted rows for the queries flagged in only (NULL:
 * all), in runs of consecutive rows so the SIMD distance kernels do the
 * work. A bitmap's empty bytes are skipped whole: a selective filter
 * leaves most of them empty. */
static void search__scan(const struct search_rows *w, int inner_product, const float *q,
			 uint32_t nq, const uint8_t *only, struct search_top *tops, float *dist)
{
	const struct segment_docs *d = w->d;
	uint32_t dim = d->dim;
	for (uint64_t start = 0; start < d->count;) {
		if (w->bits && start % 8 == 0 && w->bits[start / 8] == 0) {
			start += 8;
			continue;
		}
		if (!search__wanted(w, start)) {
			start++;
			continue;
		}
		uint64_t end = start + 1;
		while (end < d->count && end - start < SEARCH__RUN && search__wanted(w, end))
			end++;
		for (uint32_t qi = 0; qi < nq; qi++) {
			if (only && !only[qi])
				continue;
			const float *x = q + (size_t)qi * dim, *y = d->vectors + start * dim;
			if (inner_product)
				faiss_fvec_inner_products_ny(dist, x, y, dim, end - start);
			else
				faiss_fvec_L2sqr_ny(dist, x, y, dim, end - start);
			for (uint64_t r = start; r < end; r++)
				search__offer(&tops[qi], dist[r - start], r, d);
		}
		start = end;
	}
}

/* When a filter leaves few rows, scanning them beats searching the index.
 * The scan costs one distance per matching row over the mapped vectors;
 * an HNSW32 search at its default depth computes about a thousand or two
 * on rows spread through memory, and measured (d 32 and 128, 30k to 50k
 * rows, one thread) it costs what a scan of about 2000 scattered rows
 * does: up to SEARCH__EXACT_ROWS rows the scan is no dearer, and exact.
 * Below 1/SEARCH__EXACT_SHARE of the rows, FAISS 1.7.3's HNSW, which
 * applies the selector only to the results it collects, almost always
 * collects fewer than k (measured: 7 of 10 at 1%, 10 of 10 from 3%), and
 * the scan would follow the search anyway; an IVF search reads nprobe/nlist
 * of the rows, seldom fewer than such a scan. Without a filter the index
 * is searched as tuned, nprobe and ef_search keeping their meaning. */
#define SEARCH__EXACT_ROWS  2048u
#define SEARCH__EXACT_SHARE 128u

static int search__exact(const struct view_segment *s, int filtering, uint64_t matches)
{
	return filtering &&
	       (matches <= SEARCH__EXACT_ROWS || matches < s->docs.count / SEARCH__EXACT_SHARE);
}

/* FAISS marks a missing result -1; nothing outside the segment counts. */
static int search__label_ok(const struct segment_docs *d, idx_t l)
{
	return l >= 0 && (uint64_t)l < d->count;
}

/* Searches the rows of s that bits admits (NULL: all), matches of them,
 * exactly or through the index (search__exact: only a filter's choice of
 * rows, not the rows deletes took away, makes a scan the better way).
 * Queries the index answers
 * with fewer than min(k, matches) hits (the selector came too late, or
 * IVF lists held too few) are scanned exactly instead, so that a search
 * returns k hits whenever k rows match. */
static int search__rows(const struct view_segment *s, const uint8_t *bits, uint64_t matches,
			int filtering, int ip, const float *q, uint32_t nq, uint32_t k,
			const struct search_tuning *t, struct search_top *tops, float *dist,
			idx_t *labels)
{
	const struct segment_docs *d = &s->docs;
	const struct search_rows w = {.d = d, .bits = bits};
	/* A frozen tail has no index: it is scanned as the tail is. */
	if (!s->index || search__exact(s, filtering, matches)) {
		search__scan(&w, ip, q, nq, NULL, tops, dist);
		return 0;
	}
	FaissIDSelectorBitmap *sel = NULL;
	FaissSearchParameters *params = NULL;
	uint8_t *redo = calloc(nq, 1);
	int rc = redo ? 0 : ROOST_ENOMEM;
	if (rc == 0 && bits && faiss_IDSelectorBitmap_new(&sel, d->count, bits) != 0)
		rc = ROOST_EFAISS;
	if (rc == 0 && (bits || t->nprobe || t->ef_search) &&
	    faiss_SearchParameters_new_for(&params, s->index, (FaissIDSelector *)sel, t->nprobe,
					   (int)t->ef_search) != 0)
		rc = ROOST_EFAISS;
	if (rc == 0 &&
	    faiss_Index_search_with_params(s->index, nq, q, k, params, dist, labels) != 0)
		rc = ROOST_EFAISS;
	uint64_t want = matches < k ? matches : k;
	int any = 0;
	for (uint32_t qi = 0; rc == 0 && qi < nq; qi++) {
		const idx_t *l = labels + (size_t)qi * k;
		uint64_t got = 0;
		for (uint32_t j = 0; j < k; j++)
			got += search__label_ok(d, l[j]);
		if (got < want) {
			redo[qi] = 1;
			any = 1;
			continue;
		}
		for (uint32_t j = 0; j < k; j++)
			if (search__label_ok(d, l[j]))
				search__offer(&tops[qi], dist[(size_t)qi * k + j], (uint64_t)l[j],
					      d);
	}
	if (rc == 0 && any)
		search__scan(&w, ip, q, nq, redo, tops, dist);
	faiss_SearchParameters_free(params);
	faiss_IDSelector_free((FaissIDSelector *)sel);
	free(redo);
	return rc;
}

/* Ends row of l (rows in all) for this request only: the first time, on
 * a copy of the view's bitmap. */
static int search__kill(struct search_live *l, uint64_t rows, uint64_t row)
{
	if (l->bits && !l->own.bits) {
		size_t bytes = (rows + 7) / 8;
		if (!(l->own.bits = malloc(bytes ? bytes : 1)))
			return ROOST_ENOMEM;
		memcpy(l->own.bits, l->bits, bytes);
		l->own.count = l->count;
	}
	int rc = view_live_clear(&l->own, rows, row);
	l->bits = l->own.bits;
	l->count = l->own.count;
	return rc;
}

/* Each segment's rows as of at, in bitmaps the request owns: those below
 * at, less those the tombstone file ended below at. (The view's shared
 * bitmaps end every row the file names, whatever its end.) */
static int search__segments_at(const struct view *v, uint64_t at, struct search_live *seg)
{
	for (uint32_t i = 0; i < v->nsegs; i++) {
		const struct segment_docs *d = &v->segs[i]->docs;
		size_t bytes = (d->count + 7) / 8;
		uint8_t *bits = calloc(bytes ? bytes : 1, 1);
		if (!bits)
			return ROOST_ENOMEM;
		uint64_t n = view_rows_below(d->ids, d->count, at);
		memset(bits, 0xff, n / 8);
		if (n % 8)
			bits[n / 8] = (uint8_t)((1u << (n % 8)) - 1);
		seg[i] = (struct search_live){.bits = bits, .count = n, .own = {bits, n}};
	}
	int rc = 0;
	for (uint64_t j = 0; rc == 0 && j < v->ntombs; j++) {
		uint32_t at_seg;
		uint64_t row;
		if (v->tombs[j].end_lsn < at && view_locate(v, v->tombs[j].version, &at_seg, &row))
			rc = search__kill(&seg[at_seg], v->segs[at_seg]->docs.count, row);
	}
	return rc;
}

/* What a search sees as of end: the view's segments as its tombstone file
 * leaves them (as_of: as it left them at end), less the rows the tail's
 * tombstones below end ended, in the segments and in the tail (whose rows
 * t holds). seg has v->nsegs entries, *tail one. */
static int search__liveness(const struct view *v, const struct segment_docs *t, uint64_t end,
			    int as_of, struct search_live *seg, struct search_live *tail)
{
	int rc = 0;
	if (as_of)
		rc = search__segments_at(v, end, seg);
	for (uint32_t i = 0; !as_of && i < v->nsegs; i++)
		seg[i] = (struct search_live){.bits = v->live[i].bits, .count = v->live[i].count};
	const struct tomb *tombs = NULL;
	uint64_t n = 0;
	if (v->tail)
		tail_tombs(v->tail, &tombs, &n);
	/* Appended in record order, not end order: a document a batch names
	 * twice ends just past its first version, after the ends at the
	 * batch's LSN of the versions it replaced. Those below filed_end were
	 * carried over from a frozen tail whose seal has since written them to
	 * the tombstone file the view applied. */
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		uint32_t at;
		uint64_t row;
		if (tombs[i].end_lsn >= end || tombs[i].end_lsn < v->filed_end)
			continue;
		if (view_locate(v, tombs[i].version, &at, &row))
			rc = search__kill(&seg[at], v->segs[at]->docs.count, row);
		else if ((row = view_row_of(t->ids, t->count, tombs[i].version)) < t->count)
			rc = search__kill(tail, t->count, row);
	}
	return rc;
}

static int search__live_row(const struct search_live *live, uint64_t r)
{
	return !live->bits || (live->bits[r / 8] >> (r % 8) & 1);
}

/* Keeps, of the candidate rows set in matching (d->count bits), those
 * live and passing f; returns how many. */
static uint64_t search__recheck(const struct segment_docs *d, const struct search_live *live,
				const struct docfilter *f, uint8_t *matching)
{
	uint64_t matches = 0;
	for (uint64_t at = 0; at < (d->count + 7) / 8; at++)
		for (uint8_t b = matching[at]; b; b &= (uint8_t)(b - 1)) {
			uint64_t r = at * 8 + (uint64_t)__builtin_ctz(b);
			if (search__live_row(live, r) && search_match(d, r, f))
				matches++;
			else
				matching[at] &= (uint8_t) ~(1u << (r % 8));
		}
	return matches;
}

/* Sets in matching (zeroed) the live rows of s that pass f; returns how
 * many. A condition on an indexed key takes its candidates from the
 * segment's metadata index, so only they are read; without one, every
 * row is. *read grows by the rows read. */
static uint64_t search__matching(const struct view_segment *s, const struct search_live *live,
				 const struct docfilter *f, uint8_t *matching, uint64_t *read)
{
	const struct segment_docs *d = &s->docs;
	uint64_t matches = 0;
	if (f->where && mindex_covers(s->mindex, f->where)) {
		*read += mindex_select(s->mindex, f->where, d->count, matching);
		return search__recheck(d, live, f, matching);
	}
	*read += d->count;
	for (uint64_t r = 0; r < d->count; r++)
		if (search__live_row(live, r) && search_match(d, r, f)) {
			matching[r / 8] |= (uint8_t)(1u << (r % 8));
			matches++;
		}
	return matches;
}

/* The rows of s to search: those live (live->bits NULL: all) and, when
 * filtering, matching the filter. ip: the collection's metric is inner
 * product. */
static int search__segment(const struct view_segment *s, const struct search_live *live, int ip,
			   const float *q, uint32_t nq, uint32_t k, const struct docfilter *f,
			   const struct search_tuning *t, struct search_top *tops, float *dist,
			   idx_t *labels, uint64_t *read)
{
	const struct segment_docs *d = &s->docs;
	if (d->count == 0)
		return 0;
	const uint8_t *bits = live->bits;
	uint64_t matches = live->bits ? live->count : d->count;
	int filtering = docfilter_active(f);
	uint8_t *matching = NULL;
	if (filtering) {
		if (!(matching = calloc((d->count + 7) / 8, 1)))
			return ROOST_ENOMEM;
		matches = search__matching(s, live, f, matching, read);
		bits = matching;
	}
	int rc =
	    matches ? search__rows(s, bits, matches, filtering, ip, q, nq, k, t, tops, dist, labels)
		    : 0;
	free(matching);
	return rc;
}

/* The tail's rows of records below its end only: a row appended after
 * the end was read may be there already, and its tombstones may not. */
static void search__tail_view(const struct view *v, struct segment_docs *t)
{
	tail_view(v->tail, t);
	t->count = view_rows_below(t->ids, t->count, t->end_lsn);
}

int search_snapshot_take(const struct view *v, uint64_t at, struct search_snapshot *out)
{
	memset(out, 0, sizeof *out);
	out->end = v->sealed_end;
	if (v->tail) {
		search__tail_view(v, &out->tail);
		out->end = out->tail.end_lsn;
	}
	int as_of = at && at < out->end;
	if (as_of) {
		out->tail.count = view_rows_below(out->tail.ids, out->tail.count, at);
		out->end = at;
	}
	out->nlive = v->nsegs + 1;
	if (!(out->live = calloc(out->nlive, sizeof *out->live)))
		return ROOST_ENOMEM;
	int rc = search__liveness(v, &out->tail, out->end, as_of, out->live, &out->live[v->nsegs]);
	if (rc)
		search_snapshot_free(out);
	return rc;
}

void search_snapshot_free(struct search_snapshot *s)
{
	for (uint32_t i = 0; s->live && i < s->nlive; i++)
		free(s->live[i].own.bits);
	free(s->live);
	s->live = NULL;
	s->nlive = 0;
}

int search_snapshot_live(const struct search_snapshot *s, uint32_t seg, uint64_t row)
{
	const uint8_t *bits = s->live[seg].bits;
	return !bits || (bits[row / 8] >> (row % 8) & 1);
}

/* Sets in matching (zeroed, t->count bits) the live rows of the tail
 * that pass f, taking candidates from the tail's index (which covers a
 * condition of f), grown first to t's rows. 1 when it did; 0 when the
 * index could not grow (then every row is read). */
static int search__tail_indexed(const struct view *v, const struct segment_docs *t,
				const struct search_live *live, const struct docfilter *f,
				uint8_t *matching, uint64_t *read)
{
	struct view_tail_index *ti = v->tail_index;
	pthread_mutex_lock(&ti->lock);
	int used = mindex_extend(ti->x, t) == 0;
	if (used)
		*read += mindex_select(ti->x, f->where, t->count, matching);
	pthread_mutex_unlock(&ti->lock);
	if (used)
		search__recheck(t, live, f, matching);
	return used;
}

/* The tail is small and changing: always an exact scan, of the rows its
 * index gives where a condition is on an indexed key. */
static int search__tail(const struct view *v, const struct segment_docs *t,
			const struct search_live *live, const float *q, uint32_t nq,
			const struct docfilter *f, struct search_top *tops, float *dist,
			uint64_t *read)
{
	const struct docfilter *flt = docfilter_active(f) ? f : NULL;
	const uint8_t *bits = live->bits;
	uint8_t *matching = NULL;
	/* The keys an index covers never change: no lock to ask. */
	if (flt && flt->where && v->tail_index && mindex_covers(v->tail_index->x, flt->where)) {
		if (!(matching = calloc((t->count + 7) / 8 + 1, 1)))
			return ROOST_ENOMEM;
		if (search__tail_indexed(v, t, live, flt, matching, read)) {
			const struct search_rows w = {.d = t, .bits = matching, .f = NULL};
			search__scan(&w, v->metric != 0, q, nq, NULL, tops, dist);
			free(matching);
			return 0;
		}
		free(matching);
		matching = NULL;
	}
	*read += flt ? t->count : 0;
	if (bits && flt) {
		if (!(matching = calloc((t->count + 7) / 8, 1)))
			return ROOST_ENOMEM;
		for (uint64_t r = 0; r < t->count; r++)
			if ((live->bits[r / 8] >> (r % 8) & 1) && search_match(t, r, flt))
				matching[r / 8] |= (uint8_t)(1u << (r % 8));
		bits = matching;
	}
	const struct search_rows w = {.d = t, .bits = bits, .f = flt};
	search__scan(&w, v->metric != 0, q, nq, NULL, tops, dist);
	free(matching);
	return 0;
}

int search_run(const struct view *v, const float *queries, uint32_t nq, uint32_t k,
	       const struct docfilter *f, const struct search_tuning *t, uint64_t at,
	       struct search_hit *hits, uint32_t *counts, struct segment_docs *tail,
	       uint64_t *filter_rows)
{
	memset(tail, 0, sizeof *tail);
	*filter_rows = 0;
	if (nq == 0 || k == 0 || k > SEARCH_MAX_K)
		return ROOST_EINVAL;
	struct search_top *tops = calloc(nq, sizeof *tops);
	float *dist = malloc(sizeof(float) * (size_t)nq * (k > SEARCH__RUN ? k : SEARCH__RUN));
	idx_t *labels = malloc(sizeof(idx_t) * (size_t)nq * k);
	struct search_snapshot snap = {0};
	int rc = tops && dist && labels ? 0 : ROOST_ENOMEM;
	for (uint32_t qi = 0; rc == 0 && qi < nq; qi++)
		tops[qi] = (struct search_top){
		    .hits = hits + (size_t)qi * k, .k = k, .higher_better = v->metric != 0};
	if (rc == 0)
		rc = search_snapshot_take(v, at, &snap);
	/* Tail hits point at the caller's copy, which outlives this call. */
	*tail = snap.tail;
	for (uint32_t i = 0; rc == 0 && i < v->nsegs; i++)
		rc = search__segment(v->segs[i], &snap.live[i], v->metric != 0, queries, nq, k, f,
				     t, tops, dist, labels, filter_rows);
	if (rc == 0 && v->tail)
		rc = search__tail(v, tail, &snap.live[v->nsegs], queries, nq, f, tops, dist,
				  filter_rows);
	for (uint32_t qi = 0; rc == 0 && qi < nq; qi++)
		counts[qi] = tops[qi].n;
	search_snapshot_free(&snap);
	free(tops);
	free(dist);
	free(labels);
	return rc;
}
