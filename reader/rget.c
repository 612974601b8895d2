#include "rget.h"

#include "batch.h"
#include "delrec.h"

#include <string.h>

static int rget__is_key(const struct segment_docs *d, uint64_t row, const char *key, size_t len)
{
	const struct segment_ref *r = d->refs ? &d->refs[row] : NULL;
	return r && r->key_len == len && (uint64_t)r->key_off + len <= d->text_bytes &&
	       memcmp(d->text + r->key_off, key, len) == 0;
}

/* Keeps the newer of two live rows of one id: only one should be live,
 * and the newest is the one an upsert left. */
static void rget__keep(struct rget_doc *best, const struct segment_docs *d, uint64_t row)
{
	if (!best->docs || d->ids[row] > best->docs->ids[best->row])
		*best = (struct rget_doc){.docs = d, .row = row};
}

static int rget__by_key(const struct view *v, const struct search_snapshot *snap, const char *key,
			size_t len, struct rget_doc *out)
{
	struct rget_doc best = {0};
	uint64_t hash = batch_key_hash(key, len);
	for (uint32_t i = 0; i < v->nsegs; i++) {
		const struct view_segment *s = v->segs[i];
		const struct view_key *k;
		uint64_t n = view_key_rows(s, hash, &k);
		for (uint64_t j = 0; j < n; j++)
			if (rget__is_key(&s->docs, k[j].row, key, len) &&
			    search_snapshot_live(snap, i, k[j].row))
				rget__keep(&best, &s->docs, k[j].row);
	}
	const struct segment_docs *t = &snap->tail;
	for (uint64_t r = 0; r < t->count; r++)
		if (rget__is_key(t, r, key, len) && search_snapshot_live(snap, v->nsegs, r))
			rget__keep(&best, t, r);
	*out = best;
	return best.docs != NULL;
}

static int rget__by_number(const struct view *v, const struct search_snapshot *snap,
			   uint64_t version, struct rget_doc *out)
{
	uint32_t seg;
	uint64_t row;
	if (view_locate(v, version, &seg, &row)) {
		*out = (struct rget_doc){.docs = &v->segs[seg]->docs, .row = row};
		return search_snapshot_live(snap, seg, row);
	}
	const struct segment_docs *t = &snap->tail;
	row = view_row_of(t->ids, t->count, version);
	*out = (struct rget_doc){.docs = t, .row = row};
	return row < t->count && search_snapshot_live(snap, v->nsegs, row);
}

int rget_find(const struct view *v, const struct search_snapshot *snap, const char *id, size_t len,
	      struct rget_doc *out)
{
	uint64_t number;
	memset(out, 0, sizeof *out);
	if (delrec_parse_id(id, len, &number) != 0)
		return 0;
	return number ? rget__by_number(v, snap, number, out) : rget__by_key(v, snap, id, len, out);
}
