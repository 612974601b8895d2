#include "search.h"

#include "err.h"
#include "search_params_c.h"

#include <faiss/c_api/utils/distances_c.h>

#include <stdlib.h>
#include <string.h>

static int search__match(const struct segment_docs *d, uint64_t row, const struct search_filter *f)
{
	if (f->has_time && (d->times[row] < f->time_min || d->times[row] > f->time_max))
		return 0;
	if (f->kind && *f->kind) {
		size_t n = strlen(f->kind);
		if (n != d->kinds[row].len || memcmp(f->kind, d->kinds[row].name, n) != 0)
			return 0;
	}
	if (f->agents) {
		for (size_t i = 0; i < f->nagents; i++)
			if (f->agents[i] == d->agents[row])
				return 1;
		return 0;
	}
	return 1;
}

static int search__filtering(const struct search_filter *f)
{
	return f && (f->agents || f->has_time || (f->kind && *f->kind));
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

static int search__segment(const struct view_segment *s, const float *q, uint32_t nq, uint32_t k,
			   const struct search_filter *f, const struct search_tuning *t,
			   struct search_top *tops, float *dist, idx_t *labels)
{
	const struct segment_docs *d = &s->docs;
	if (d->count == 0)
		return 0;
	FaissIDSelectorBitmap *sel = NULL;
	FaissSearchParameters *params = NULL;
	uint8_t *bits = NULL;
	int rc = 0;
	int filtering = search__filtering(f);
	if (filtering) {
		bits = calloc((d->count + 7) / 8, 1);
		if (!bits)
			return ROOST_ENOMEM;
		uint64_t matches = 0;
		for (uint64_t r = 0; r < d->count; r++)
			if (search__match(d, r, f)) {
				bits[r / 8] |= (uint8_t)(1u << (r % 8));
				matches++;
			}
		if (matches == 0)
			goto out;
		if (faiss_IDSelectorBitmap_new(&sel, d->count, bits) != 0) {
			rc = ROOST_EFAISS;
			goto out;
		}
	}
	if ((filtering || t->nprobe || t->ef_search) &&
	    faiss_SearchParameters_new_for(&params, s->index, (FaissIDSelector *)sel, t->nprobe,
					   (int)t->ef_search) != 0) {
		rc = ROOST_EFAISS;
		goto out;
	}
	if (faiss_Index_search_with_params(s->index, nq, q, k, params, dist, labels) != 0) {
		rc = ROOST_EFAISS;
		goto out;
	}
	for (uint32_t qi = 0; qi < nq; qi++)
		for (uint32_t j = 0; j < k; j++) {
			idx_t l = labels[(size_t)qi * k + j];
			if (l >= 0 && (uint64_t)l < d->count)
				search__offer(&tops[qi], dist[(size_t)qi * k + j], (uint64_t)l, d);
		}
out:
	faiss_SearchParameters_free(params);
	faiss_IDSelector_free((FaissIDSelector *)sel);
	free(bits);
	return rc;
}

/* The tail is small and changing: an exact scan of its published rows,
 * in runs of matching rows so the SIMD distance kernels do the work. */
static void search__tail(const struct view *v, const float *q, uint32_t nq,
			 const struct search_filter *f, struct search_top *tops, float *dist,
			 const struct segment_docs *t)
{
	uint32_t dim = t->dim;
	const size_t chunk = 1024;
	for (uint64_t start = 0; start < t->count;) {
		uint64_t end = start;
		int filtering = search__filtering(f);
		if (filtering && !search__match(t, start, f)) {
			start++;
			continue;
		}
		while (end < t->count && end - start < chunk &&
		       (!filtering || search__match(t, end, f)))
			end++;
		for (uint32_t qi = 0; qi < nq; qi++) {
			const float *x = q + (size_t)qi * dim, *y = t->vectors + start * dim;
			if (v->metric)
				faiss_fvec_inner_products_ny(dist, x, y, dim, end - start);
			else
				faiss_fvec_L2sqr_ny(dist, x, y, dim, end - start);
			for (uint64_t r = start; r < end; r++)
				search__offer(&tops[qi], dist[r - start], r, t);
		}
		start = end;
	}
}

int search_run(const struct view *v, const float *queries, uint32_t nq, uint32_t k,
	       const struct search_filter *f, const struct search_tuning *t,
	       struct search_hit *hits, uint32_t *counts, struct segment_docs *tail)
{
	memset(tail, 0, sizeof *tail);
	if (nq == 0 || k == 0 || k > SEARCH_MAX_K)
		return ROOST_EINVAL;
	struct search_top *tops = calloc(nq, sizeof *tops);
	float *dist = malloc(sizeof(float) * (size_t)nq * (k > 1024 ? k : 1024));
	idx_t *labels = malloc(sizeof(idx_t) * (size_t)nq * k);
	int rc = tops && dist && labels ? 0 : ROOST_ENOMEM;
	for (uint32_t qi = 0; rc == 0 && qi < nq; qi++)
		tops[qi] = (struct search_top){
		    .hits = hits + (size_t)qi * k, .k = k, .higher_better = v->metric != 0};
	for (uint32_t i = 0; rc == 0 && i < v->nsegs; i++)
		rc = search__segment(v->segs[i], queries, nq, k, f, t, tops, dist, labels);
	if (rc == 0 && v->tail) {
		tail_view(v->tail, tail);
		search__tail(v, queries, nq, f, tops, dist, tail);
	}
	for (uint32_t qi = 0; rc == 0 && qi < nq; qi++)
		counts[qi] = tops[qi].n;
	free(tops);
	free(dist);
	free(labels);
	return rc;
}
