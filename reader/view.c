#include "view.h"

#include "batch.h"
#include "err.h"
#include "inst.h"
#include "log.h"
#include "manifest.h"
#include "segindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void view__segment_put(struct view_segment *s)
{
	/* acq_rel: the last dropper sees every use by the others. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	faiss_Index_free(s->index);
	mindex_free(s->mindex);
	free(s->keys);
	if (s->frozen)
		tail_close(s->frozen);
	else
		segment_unmap(&s->map, &s->docs);
	free(s);
}

static int view__by_hash(const void *a, const void *b)
{
	const struct view_key *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

/* The segment's ids by hash: a get looks one up without a scan. */
static int view__index_keys(struct view_segment *s)
{
	const struct segment_docs *d = &s->docs;
	uint64_t n = 0;
	for (uint64_t r = 0; d->refs && r < d->count; r++)
		n += d->refs[r].key_len != 0;
	if (n == 0)
		return 0;
	if (!(s->keys = malloc(n * sizeof *s->keys)))
		return ROOST_ENOMEM;
	for (uint64_t r = 0; r < d->count; r++)
		if (d->refs[r].key_len)
			s->keys[s->nkeys++] =
			    (struct view_key){.hash = batch_key_hash(d->text + d->refs[r].key_off,
								     d->refs[r].key_len),
					      .row = r};
	qsort(s->keys, s->nkeys, sizeof *s->keys, view__by_hash);
	return 0;
}

uint64_t view_key_rows(const struct view_segment *s, uint64_t hash, const struct view_key **first)
{
	uint64_t lo = 0, hi = s->nkeys;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (s->keys[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t end = lo;
	while (end < s->nkeys && s->keys[end].hash == hash)
		end++;
	*first = s->keys + lo;
	return end - lo;
}

static int view__segment_load(const struct inst *in, const struct manifest_segment *ms,
			      const struct view *v, struct view_segment **out)
{
	struct view_segment *s = calloc(1, sizeof *s);
	if (!s)
		return ROOST_ENOMEM;
	s->refs = 1;
	char path[INST_PATH_MAX];
	manifest_segment_path(in->data_dir, ms->coll, ms->start_lsn, ms->end_lsn, "docs", path,
			      sizeof path);
	int rc = segment_map(path, &s->docs, &s->map);
	uint32_t dim = v->dim;
	if (rc == 0 && (s->docs.dim != dim || s->docs.count != ms->count ||
			s->docs.start_lsn != ms->start_lsn || s->docs.end_lsn != ms->end_lsn))
		rc = ROOST_ECORRUPT;
	if (rc == 0)
		rc = view__index_keys(s);
	if (rc == 0)
		rc = mindex_build(&s->mindex, &s->docs, v->indexed_keys);
	manifest_index_path(in->data_dir, ms, path, sizeof path);
	if (rc == 0)
		rc = segindex_open(&s->index, path, s->docs.vectors, s->docs.count, dim);
	if (rc) {
		log_error("segment %016llx: %s", (unsigned long long)ms->start_lsn,
			  roost_strerror(rc));
		view__segment_put(s);
		return rc;
	}
	s->start_lsn = ms->start_lsn;
	s->end_lsn = ms->end_lsn;
	s->index_gen = ms->index_gen;
	*out = s;
	return 0;
}

/* prev's segment of the same range, kind and index (a frozen tail's rows
 * are not its sealed segment's: that one has an index; a rebuilt index
 * replaces the segment's older one). */
static struct view_segment *view__find(const struct view *prev, const struct manifest_segment *ms,
				       int frozen)
{
	for (uint32_t i = 0; prev && i < prev->nsegs; i++) {
		struct view_segment *s = prev->segs[i];
		if (s->start_lsn == ms->start_lsn && s->end_lsn == ms->end_lsn &&
		    !s->frozen == !frozen && (frozen || s->index_gen == ms->index_gen)) {
			atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
			return s;
		}
	}
	return NULL;
}

static void view__free(struct view *v)
{
	for (uint32_t i = 0; i < v->nsegs; i++) {
		view__segment_put(v->segs[i]);
		free(v->live ? v->live[i].bits : NULL);
	}
	free(v->live);
	free(v->tombs);
	free(v->segs);
	if (v->tail_index) {
		mindex_free(v->tail_index->x);
		pthread_mutex_destroy(&v->tail_index->lock);
		free(v->tail_index);
	}
	tail_close(v->tail);
	free(v);
}

static int view__segments(struct view *v, const struct inst *in, const struct manifest *m,
			  const struct view *prev)
{
	uint32_t first, n;
	manifest_segments_of(m, v->coll, &first, &n);
	/* One more for a frozen tail. */
	v->segs = calloc(n + 1, sizeof *v->segs);
	v->live = calloc(n + 1, sizeof *v->live);
	if (!v->segs || !v->live)
		return ROOST_ENOMEM;
	for (uint32_t i = first; i < first + n; i++) {
		struct view_segment *s = view__find(prev, &m->segments[i], 0);
		if (!s) {
			int rc = view__segment_load(in, &m->segments[i], v, &s);
			if (rc)
				return rc;
		}
		v->segs[v->nsegs++] = s;
	}
	return 0;
}

/* The frozen tail's rows as the view's last segment; f is the view's
 * until then. */
static int view__frozen(struct view *v, tail *f, const struct view *prev)
{
	struct segment_docs d;
	tail_view(f, &d);
	uint64_t end = tail_sealed_end(f);
	v->sealed_end = end;
	if (d.count == 0) {
		tail_close(f);
		return 0;
	}
	struct manifest_segment range = {.start_lsn = d.start_lsn, .end_lsn = end};
	struct view_segment *s = view__find(prev, &range, 1);
	if (s) {
		tail_close(f);
		v->segs[v->nsegs++] = s;
		return 0;
	}
	if (!(s = calloc(1, sizeof *s))) {
		tail_close(f);
		return ROOST_ENOMEM;
	}
	s->refs = 1;
	s->frozen = f;
	s->docs = d;
	s->start_lsn = d.start_lsn;
	s->end_lsn = end;
	int rc = view__index_keys(s);
	if (rc == 0)
		rc = mindex_build(&s->mindex, &s->docs, v->indexed_keys);
	if (rc) {
		view__segment_put(s);
		return rc;
	}
	v->segs[v->nsegs++] = s;
	return 0;
}

uint64_t view_rows_below(const uint64_t *ids, uint64_t n, uint64_t lsn)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (ids[mid] < lsn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t view_row_of(const uint64_t *ids, uint64_t n, uint64_t version)
{
	uint64_t at = view_rows_below(ids, n, version);
	return at < n && ids[at] == version ? at : n;
}

int view_locate(const struct view *v, uint64_t version, uint32_t *seg, uint64_t *row)
{
	uint32_t lo = 0, hi = v->nsegs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->segs[mid]->end_lsn <= version)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == v->nsegs || v->segs[lo]->start_lsn > version)
		return 0;
	const struct segment_docs *d = &v->segs[lo]->docs;
	*seg = lo;
	*row = view_row_of(d->ids, d->count, version);
	return *row < d->count;
}

int view_live_clear(struct view_live *l, uint64_t rows, uint64_t row)
{
	if (!l->bits) {
		size_t bytes = (rows + 7) / 8;
		if (!(l->bits = malloc(bytes ? bytes : 1)))
			return ROOST_ENOMEM;
		memset(l->bits, 0xff, bytes);
		if (rows % 8)
			l->bits[bytes - 1] = (uint8_t)((1u << (rows % 8)) - 1);
		l->count = rows;
	}
	if (l->bits[row / 8] >> (row % 8) & 1) {
		l->bits[row / 8] &= (uint8_t) ~(1u << (row % 8));
		l->count--;
	}
	return 0;
}

/* Marks the rows the collection's tombstone file names, as of m. */
static int view__tombs(struct view *v, const struct inst *in, const struct manifest *m)
{
	const struct manifest_coll *mc = manifest_coll_find(m, v->coll);
	if (!mc || !mc->tomb_gen)
		return 0;
	char path[INST_PATH_MAX];
	struct tomb *t;
	uint64_t n;
	int rc = manifest_tomb_path(in->data_dir, v->coll, mc->tomb_gen, path, sizeof path);
	if (rc == 0)
		rc = tomb_load(path, &t, &n);
	if (rc)
		return rc;
	v->tombs = t;
	v->ntombs = n;
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		uint32_t seg;
		uint64_t row;
		if (!view_locate(v, t[i].version, &seg, &row))
			continue; /* a row compaction dropped */
		rc = view_live_clear(&v->live[seg], v->segs[seg]->docs.count, row);
	}
	return rc;
}

/* An empty index of the tail's rows, when the collection indexes keys. */
static int view__tail_index(struct view *v)
{
	if (!v->tail || !v->indexed_keys[0])
		return 0;
	struct view_tail_index *t = calloc(1, sizeof *t);
	int rc = t ? mindex_new(&t->x, v->indexed_keys) : ROOST_ENOMEM;
	if (rc) {
		free(t);
		return rc;
	}
	pthread_mutex_init(&t->lock, NULL);
	v->tail_index = t;
	return 0;
}

static int view__open_named(const struct view_source *src, uint64_t serial, uint32_t coll,
			    tail **out)
{
	char name[INST_PATH_MAX];
	inst_tail_path(src->in, serial, name, sizeof name);
	int rc = tail_open(out, name);
	if (rc)
		return rc == ROOST_ENOENT ? ROOST_EBUSY : rc;
	return tail_collection(*out) == coll ? 0 : ROOST_EBUSY;
}

/* The collection's tails as the catalog names them (the current one, and
 * a frozen one before it, *frozen, NULL when none), and the manifest
 * whose segments they follow: one that records the tail generation they
 * follow (a collection the manifest does not list yet has had no seal:
 * 0). */
static int view__open_tail(struct view *v, const struct view_source *src, struct manifest *m,
			   tail **frozen)
{
	struct catalog_entry e;
	int rc = catalog_get(src->cat, v->coll, &e);
	if (rc)
		return rc;
	v->dim = e.settings.dim;
	v->metric = e.settings.metric;
	memcpy(v->indexed_keys, e.settings.indexed_keys, sizeof v->indexed_keys);
	memcpy(v->name, e.name, sizeof v->name);
	v->ctl = src->ctl;
	/* The catalog's: the manifest lists a new collection only from its
	 * first store, and a name created again is another collection. */
	v->created_lsn = e.created_lsn;
	v->tail_serial = e.tail_serial;
	v->frozen_serial = e.frozen_serial;
	rc = view__open_named(src, e.tail_serial, v->coll, &v->tail);
	if (rc == 0 && e.frozen_serial)
		rc = view__open_named(src, e.frozen_serial, v->coll, frozen);
	if (rc == 0)
		rc = manifest_load(src->in->data_dir, m);
	const struct manifest_coll *mc = rc == 0 ? manifest_coll_find(m, v->coll) : NULL;
	int with_frozen = 0;
	if (rc == 0)
		rc = tail_follows(v->tail, *frozen, mc ? mc->tail_gen : 0, &with_frozen);
	if (rc == 0 && !with_frozen) {
		tail_close(*frozen);
		*frozen = NULL;
	}
	return rc;
}

/* A remote view: the collection as the manifest lists it. */
static int view__from_manifest(struct view *v, const struct view_source *src, struct manifest *m)
{
	int rc = manifest_load(src->in->data_dir, m);
	if (rc)
		return rc;
	const struct manifest_coll *mc = manifest_coll_find(m, v->coll);
	if (!mc)
		return ROOST_ENOCOLL;
	v->dim = mc->settings.dim;
	v->metric = mc->settings.metric;
	memcpy(v->indexed_keys, mc->settings.indexed_keys, sizeof v->indexed_keys);
	memcpy(v->name, mc->name, sizeof v->name);
	return 0;
}

/* The manifest is replaced by rename, so a new one is a new inode. */
static uint64_t view__manifest_ino(const struct inst *in)
{
	char path[INST_PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/MANIFEST", in->data_dir);
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int view__try(struct view **out, const struct view_source *src, uint32_t coll,
		     const struct view *prev)
{
	struct view *v = calloc(1, sizeof *v);
	struct manifest m = {0};
	if (!v)
		return ROOST_ENOMEM;
	v->refs = 1;
	v->coll = coll;
	/* Taken before the manifest is read: one replaced in between only
	 * costs another build. */
	v->manifest_ino = view__manifest_ino(src->in);
	tail *frozen = NULL;
	int rc = src->cat ? view__open_tail(v, src, &m, &frozen) : view__from_manifest(v, src, &m);
	if (rc == 0) {
		const struct manifest_coll *mc = manifest_coll_find(&m, coll);
		v->manifest_gen = m.gen;
		v->sealed_end = v->filed_end = mc ? mc->tail_start : 0;
		v->reclaimed_lsn = mc ? mc->reclaimed_lsn : 0;
		if (!src->cat) /* a remote view: the manifest's */
			v->created_lsn = mc ? mc->created_lsn : 0;
		rc = view__segments(v, src->in, &m, prev);
		if (rc == 0 && frozen) {
			rc = view__frozen(v, frozen, prev);
			frozen = NULL;
		}
		if (rc == 0)
			rc = view__tombs(v, src->in, &m);
		if (rc == 0)
			rc = view__tail_index(v);
		if (rc == ROOST_ENOENT && manifest_moved_on(src->in->data_dir, m.gen))
			rc = ROOST_EBUSY; /* compacted in between: build again */
	}
	manifest_free(&m);
	tail_close(frozen);
	if (rc) {
		view__free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int view_build(struct view **out, const struct view_source *src, uint32_t coll,
	       const struct view *prev)
{
	int rc = ROOST_EBUSY;
	for (int tries = 0; rc == ROOST_EBUSY && tries < 50; tries++)
		rc = view__try(out, src, coll, prev);
	return rc;
}

int view_stale(const struct view *v, const struct view_source *src)
{
	/* A merge replaces the manifest and no tail. */
	if (view__manifest_ino(src->in) != v->manifest_ino)
		return 1;
	if (!src->cat)
		return 0;
	struct catalog_entry e;
	return catalog_get(src->cat, v->coll, &e) != 0 || e.tail_serial != v->tail_serial ||
	       e.frozen_serial != v->frozen_serial;
}

/* Local: everything published is in the segments or the tail, up to
 * where the tail was sealed if it was. The published mark is loaded
 * before the tail's count is (search_run snapshots the tail after this),
 * so the count covers every batch below the mark. */
uint64_t view_end_lsn(const struct view *v)
{
	if (!v->tail)
		return v->sealed_end;
	uint64_t end = ctl_mark(v->ctl, CTL_PUBLISHED);
	uint64_t sealed = tail_sealed_end(v->tail);
	/* Relaxed: a cap that only ever goes from 0 to one value. */
	uint64_t held = atomic_load_explicit(&v->held_end, memory_order_relaxed);
	if (held && held < end)
		end = held;
	return sealed && sealed < end ? sealed : end;
}

uint64_t view_data_end(const struct view *v)
{
	if (!v->tail)
		return v->sealed_end;
	struct segment_docs t;
	tail_view(v->tail, &t);
	return t.count && t.end_lsn > v->sealed_end ? t.end_lsn : v->sealed_end;
}

int view_hold(struct view *v, uint64_t end)
{
	uint64_t none = 0;
	return atomic_compare_exchange_strong_explicit(&v->held_end, &none, end ? end : 1,
						       memory_order_relaxed, memory_order_relaxed);
}

int view_held(const struct view *v)
{
	/* Relaxed: as in view_end_lsn. */
	return atomic_load_explicit(&v->held_end, memory_order_relaxed) != 0;
}

void view_get(struct view *v)
{
	atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void view_put(struct view *v)
{
	/* acq_rel: the last holder frees after every other use. */
	if (v && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
		view__free(v);
}
