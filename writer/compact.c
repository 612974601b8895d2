#include "compact.h"

#include "err.h"
#include "futex.h"
#include "killpoint.h"
#include "inst.h"
#include "log.h"
#include "segment.h"
#include "vindex.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct compact_job {
	char data_dir[INST_PATH_MAX];
	mode_t data_mode;	      /* of the files it writes */
	struct manifest_coll coll;    /* as planned: settings, trained index */
	struct manifest_segment *run; /* the segments merged, in order */
	uint32_t n;
	struct tomb *tombs; /* the plan's tombstones of [lo, hi) */
	uint64_t ntombs;
	uint64_t lo, hi, below;
	uint64_t count;	    /* rows of the merged segment, once built */
	uint64_t ndropped;  /* rows left out */
	int64_t planned_ms; /* futex_now_ms at the plan: the merge's duration */
	int built;
};

/* How many of s's rows tombs[0..n) end. */
static uint64_t compact__dead(const struct tomb *tombs, uint64_t n,
			      const struct manifest_segment *s)
{
	uint64_t first = tomb_lower(tombs, n, s->start_lsn), last = first;
	while (last < n && tombs[last].version < s->end_lsn)
		last++;
	uint64_t dead = last - first;
	return dead < s->count ? dead : s->count;
}

struct compact__view {
	const struct compact_policy *p;
	const struct manifest_segment *segs; /* the collection's */
	uint32_t n;
	const struct tomb *tombs;
	uint64_t ntombs;
};

static uint64_t compact__live(const struct compact__view *v, uint32_t i)
{
	return v->segs[i].count - compact__dead(v->tombs, v->ntombs, &v->segs[i]);
}

/* A quarter or more of segment i ended: worth rewriting whatever its size. */
static int compact__wasteful(const struct compact__view *v, uint32_t i)
{
	uint64_t dead = compact__dead(v->tombs, v->ntombs, &v->segs[i]);
	return dead && dead * 4 >= v->segs[i].count;
}

/* 0 below a quarter of a seal, 1 below a seal, 2 below 4 seals, ... */
static int compact__tier(const struct compact__view *v, uint64_t live)
{
	uint64_t bound = v->p->seal_docs / 4 ? v->p->seal_docs / 4 : 1;
	int tier = 0;
	while (live >= bound && tier < 40) {
		bound *= 4;
		tier++;
	}
	return tier;
}

/* The run [i, *end) of segments of tier t at most: its first ones while
 * they number COMPACT_MAX_RUN and hold max_docs live rows at most. 1 when
 * COMPACT_MIN_RUN of those are of tier t - 1 or t: merged, they make a
 * segment of tier t or more, so each row climbs a tier every few merges
 * (a collection of N rows keeps O(log N) segments), and smaller segments
 * between them (aged seals) go along instead of splitting the run. */
static int compact__tier_run(const struct compact__view *v, int t, uint32_t i, uint32_t *end)
{
	uint64_t total = 0;
	uint32_t heavy = 0, j = i;
	while (j < v->n && j - i < COMPACT_MAX_RUN) {
		uint64_t live = compact__live(v, j);
		int tier = compact__tier(v, live);
		if (tier > t || total + live > v->p->max_docs)
			break;
		heavy += tier >= t - 1;
		total += live;
		j++;
	}
	*end = j;
	return heavy >= COMPACT_MIN_RUN;
}

/* A wasteful segment i with a neighbour: the pair [*lo, *hi), when the
 * two rows fit in twice a merged segment's size. Rows, not live rows:
 * tombstones of rows already gone must not let a segment grow past it. */
static int compact__pair(const struct compact__view *v, uint32_t i, uint32_t *lo, uint32_t *hi)
{
	uint64_t rows = v->segs[i].count, room = 2 * v->p->max_docs;
	if (i + 1 < v->n && rows + v->segs[i + 1].count <= room) {
		*lo = i;
		*hi = i + 2;
		return 1;
	}
	if (i > 0 && rows + v->segs[i - 1].count <= room) {
		*lo = i - 1;
		*hi = i + 1;
		return 1;
	}
	return 0;
}

/* At rest: the first two or more neighbours whose live rows fit in one
 * merged segment. */
static int compact__idle_run(const struct compact__view *v, uint32_t *lo, uint32_t *hi)
{
	for (uint32_t i = 0; i + 1 < v->n; i++) {
		uint64_t total = 0;
		uint32_t j = i;
		while (j < v->n && j - i < COMPACT_MAX_RUN &&
		       total + compact__live(v, j) <= v->p->max_docs)
			total += compact__live(v, j++);
		if (j - i >= 2) {
			*lo = i;
			*hi = j;
			return 1;
		}
	}
	return 0;
}

/* The first run to merge, as positions in v->segs: [*lo, *hi). Lower
 * tiers first: their merges are the cheap ones. */
static int compact__find(const struct compact__view *v, uint32_t *lo, uint32_t *hi)
{
	int top = 0;
	for (uint32_t i = 0; i < v->n; i++) {
		int tier = compact__tier(v, compact__live(v, i));
		top = tier > top ? tier : top;
	}
	for (int t = 0; t <= top; t++)
		for (uint32_t i = 0; i < v->n; i++)
			if (compact__tier_run(v, t, i, hi)) {
				*lo = i;
				return 1;
			}
	for (uint32_t i = 0; i < v->n; i++)
		if (compact__wasteful(v, i) && compact__pair(v, i, lo, hi))
			return 1;
	return v->p->idle && compact__idle_run(v, lo, hi);
}

static void compact__free_parts(struct segment_docs *parts, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		segment_free(&parts[i]);
	free(parts);
}

static void compact__docs_path(const compact_job *j, const struct manifest_segment *s, char *path)
{
	manifest_segment_path(j->data_dir, j->coll.id, s->start_lsn, s->end_lsn, "docs", path,
			      INST_PATH_MAX);
}

/* The merged segment, built with the settings of the plan. */
static struct manifest_segment compact__merged(const compact_job *j)
{
	return (struct manifest_segment){.coll = j->coll.id,
					 .index_gen = (uint32_t)j->coll.index_gen,
					 .start_lsn = j->lo,
					 .end_lsn = j->hi,
					 .count = j->count};
}

static int compact__load(const compact_job *j, struct segment_docs **out)
{
	struct segment_docs *parts = calloc(j->n, sizeof *parts);
	if (!parts)
		return ROOST_ENOMEM;
	for (uint32_t i = 0; i < j->n; i++) {
		char path[INST_PATH_MAX];
		compact__docs_path(j, &j->run[i], path);
		int rc = segment_load(path, SEGMENT_WITH_VECTORS, &parts[i]);
		if (rc == 0 && parts[i].count != j->run[i].count)
			rc = ROOST_ECORRUPT;
		if (rc) {
			compact__free_parts(parts, j->n);
			return rc;
		}
	}
	*out = parts;
	return 0;
}

/* Copies len bytes of p's text at off to the end of out's, which holds
 * cap bytes; *at receives where they now start. ROOST_ECORRUPT when they
 * do not fit: a segment whose spans overlap is not one the writer wrote. */
static int compact__text(struct segment_docs *out, uint64_t cap, const struct segment_docs *p,
			 uint32_t off, uint32_t len, uint32_t *at)
{
	if (len > cap - out->text_bytes)
		return ROOST_ECORRUPT;
	*at = (uint32_t)out->text_bytes;
	memcpy(out->text + *at, p->text + off, len);
	out->text_bytes += len;
	return 0;
}

/* Appends row r of p to out (text capacity cap), its text, id and
 * metadata with it. */
static int compact__row(struct segment_docs *out, uint64_t cap, const struct segment_docs *p,
			uint64_t r)
{
	uint64_t at = out->count++;
	uint32_t dim = out->dim;
	out->ids[at] = p->ids[r];
	out->agents[at] = p->agents[r];
	out->times[at] = p->times[r];
	memcpy(out->vectors + at * dim, p->vectors + r * dim, dim * sizeof(float));
	out->kinds[at] = p->kinds[r];
	out->text_len[at] = p->text_len[r];
	/* An empty key or metadata keeps no offset of the part's: the merged
	 * text is shorter when rows are dropped, and a stale offset past its
	 * end makes segment_store refuse the whole merge. */
	const struct segment_ref src = p->refs ? p->refs[r] : (struct segment_ref){0};
	struct segment_ref x = {.key_len = src.key_len, .meta_len = src.meta_len};
	int rc = compact__text(out, cap, p, p->text_off[r], p->text_len[r], &out->text_off[at]);
	if (rc == 0 && x.key_len)
		rc = compact__text(out, cap, p, src.key_off, x.key_len, &x.key_off);
	if (rc == 0 && x.meta_len)
		rc = compact__text(out, cap, p, src.meta_off, x.meta_len, &x.meta_off);
	out->refs[at] = x;
	return rc;
}

/* The parts' live rows, in order, in one block owned by out; the rows
 * left out are counted in j->ndropped. */
static int compact__concat(compact_job *j, const struct segment_docs *parts,
			   struct segment_docs *out)
{
	uint64_t count = 0, text = 0;
	uint32_t dim = parts[0].dim;
	for (uint32_t i = 0; i < j->n; i++) {
		count += parts[i].count;
		text += parts[i].text_bytes;
	}
	size_t per_row = 3 * 8 + 2 * 4 + sizeof(struct segment_kind) + sizeof(struct segment_ref) +
			 (size_t)dim * sizeof(float);
	char *block = malloc(count * per_row + text + 8);
	if (!block)
		return ROOST_ENOMEM;
	memset(out, 0, sizeof *out);
	out->block = block;
	out->ids = (uint64_t *)block;
	out->agents = (int64_t *)(out->ids + count);
	out->times = out->agents + count;
	out->vectors = (float *)(out->times + count);
	out->text_off = (uint32_t *)(out->vectors + count * dim);
	out->text_len = out->text_off + count;
	out->kinds = (struct segment_kind *)(out->text_len + count);
	out->refs = (struct segment_ref *)(out->kinds + count);
	out->text = (char *)(out->refs + count);
	out->dim = dim;
	out->start_lsn = j->lo;
	out->end_lsn = j->hi;
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < j->n; i++)
		for (uint64_t r = 0; rc == 0 && r < parts[i].count; r++) {
			if (tomb_find(j->tombs, j->ntombs, parts[i].ids[r]))
				j->ndropped++;
			else
				rc = compact__row(out, text, &parts[i], r);
		}
	return rc;
}

static int compact__store(compact_job *j, const struct segment_docs *d, const atomic_int *cancel)
{
	char trained[INST_PATH_MAX], path[INST_PATH_MAX];
	const struct manifest_coll *c = &j->coll;
	if (c->trained_gen)
		manifest_trained_path(j->data_dir, c->id, c->trained_gen, trained, sizeof trained);
	struct manifest_segment merged = compact__merged(j);
	manifest_index_path(j->data_dir, &merged, path, sizeof path);
	/* From the first file on, abandoning the job removes what is there. */
	j->built = 1;
	int rc = vindex_build_file(c->settings.index, c->settings.dim, c->settings.metric,
				   c->trained_gen ? trained : NULL, d->count, d->vectors, cancel,
				   path, j->data_mode);
	compact__docs_path(j, &merged, path);
	return rc ? rc : segment_store(path, d, j->data_mode);
}

int compact_build(compact_job *j, const atomic_int *cancel)
{
	struct segment_docs *parts, all = {0};
	int rc = compact__load(j, &parts);
	if (rc)
		return rc;
	rc = compact__concat(j, parts, &all);
	compact__free_parts(parts, j->n);
	j->count = all.count;
	if (rc == 0 && all.count)
		rc = compact__store(j, &all, cancel);
	segment_free(&all);
	if (rc == 0)
		killpoint_reach(KILLPOINT_COMPACT_BUILT);
	return rc;
}

static void compact__unlink(const compact_job *j, const struct manifest_segment *s)
{
	char path[INST_PATH_MAX];
	manifest_index_path(j->data_dir, s, path, sizeof path);
	unlink(path);
	compact__docs_path(j, s, path);
	unlink(path);
}

void compact_abandon(compact_job *j)
{
	struct manifest_segment merged = compact__merged(j);
	if (j->built)
		compact__unlink(j, &merged);
}

/* The plan's tombstone of t's version, if any: its row was dropped. */
static int compact__applied(const compact_job *j, const struct tomb *t)
{
	return t->version >= j->lo && t->version < j->hi && t->end_lsn < j->below;
}

/* The tombstone file again without the tombstones the merge applied (m->gen
 * names it; none when no tombstone is left), and the LSN below which a
 * read as of an LSN would miss a dropped row. */
static int compact__rewrite_tombs(const compact_job *j, struct manifest *m, struct manifest_coll *c,
				  const struct tomb *now, uint64_t nnow)
{
	struct tomb *kept = malloc((nnow ? nnow : 1) * sizeof *kept);
	if (!kept)
		return ROOST_ENOMEM;
	uint64_t n = 0, reclaimed = c->reclaimed_lsn;
	for (uint64_t i = 0; i < nnow; i++) {
		if (!compact__applied(j, &now[i]))
			kept[n++] = now[i];
		else if (now[i].end_lsn + 1 > reclaimed)
			reclaimed = now[i].end_lsn + 1;
	}
	char path[INST_PATH_MAX];
	int rc = n ? manifest_tomb_path(j->data_dir, c->id, m->gen, path, sizeof path) : 0;
	if (rc == 0 && n)
		rc = tomb_store(path, kept, n, j->data_mode);
	free(kept);
	if (rc == 0) {
		c->tomb_gen = n ? m->gen : 0;
		c->reclaimed_lsn = reclaimed;
	}
	return rc;
}

/* Where the run is in m's segments, when it is still there as planned. */
static int compact__find_run(const compact_job *j, const struct manifest *m, uint32_t *first)
{
	uint32_t from, n;
	manifest_segments_of(m, j->coll.id, &from, &n);
	for (uint32_t i = from; i + j->n <= from + n; i++)
		if (memcmp(&m->segments[i], j->run, j->n * sizeof *j->run) == 0) {
			*first = i;
			return 1;
		}
	return 0;
}

/* Replaces segments [first, first+j->n) by the merged one (none when it
 * holds no row). */
static void compact__replace(const compact_job *j, struct manifest *m, uint32_t first)
{
	uint32_t keep = j->count ? 1 : 0;
	if (keep)
		m->segments[first] = compact__merged(j);
	memmove(&m->segments[first + keep], &m->segments[first + j->n],
		(m->nsegments - first - j->n) * sizeof *m->segments);
	m->nsegments -= j->n - keep;
}

int compact_install(compact_job *j, struct manifest *m, const struct tomb *now, uint64_t nnow,
		    struct compact_done *out)
{
	*out = (struct compact_done){0};
	uint32_t first;
	struct manifest_coll *c = manifest_coll_find(m, j->coll.id);
	if (!c || !compact__find_run(j, m, &first))
		return ROOST_ENOENT;
	/* A merge of segments no tombstone names leaves the file as it is. */
	int touched = 0;
	for (uint64_t i = tomb_lower(now, nnow, j->lo); i < nnow && now[i].version < j->hi; i++)
		touched |= compact__applied(j, &now[i]);
	int rc = touched ? compact__rewrite_tombs(j, m, c, now, nnow) : 0;
	if (rc)
		return rc;
	compact__replace(j, m, first);
	killpoint_reach(KILLPOINT_COMPACT_BEFORE_MANIFEST);
	rc = manifest_store(j->data_dir, m, j->data_mode);
	if (rc)
		return rc;
	killpoint_reach(KILLPOINT_COMPACT_AFTER_MANIFEST);
	for (uint32_t i = 0; i < j->n; i++)
		compact__unlink(j, &j->run[i]);
	*out = (struct compact_done){
	    .merged = j->n, .lo = j->lo, .hi = j->hi, .below = j->below, .ndropped = j->ndropped};
	log_info("collection '%s': compacted %u segments into %016llx (%llu documents, "
		 "%llu ended ones dropped) in %lld ms",
		 c->name, j->n, (unsigned long long)j->lo, (unsigned long long)j->count,
		 (unsigned long long)j->ndropped, (long long)(futex_now_ms() - j->planned_ms));
	return 0;
}

/* The plan's tombstones of the run's range, copied. */
static int compact__copy_tombs(compact_job *j, const struct tomb *tombs, uint64_t ntombs)
{
	uint64_t first = tomb_lower(tombs, ntombs, j->lo), last = first;
	while (last < ntombs && tombs[last].version < j->hi)
		last++;
	j->ntombs = last - first;
	j->tombs = malloc((j->ntombs ? j->ntombs : 1) * sizeof *j->tombs);
	if (!j->tombs)
		return ROOST_ENOMEM;
	if (j->ntombs) /* tombs is NULL when there are none */
		memcpy(j->tombs, tombs + first, j->ntombs * sizeof *j->tombs);
	return 0;
}

int compact_plan(compact_job **out, const struct inst *in, const struct manifest *m, uint32_t coll,
		 const struct compact_policy *p, const struct tomb *tombs, uint64_t ntombs,
		 uint64_t below)
{
	*out = NULL;
	const struct manifest_coll *c = manifest_coll_find(m, coll);
	uint32_t from, n, lo, hi;
	if (!c)
		return 0;
	manifest_segments_of(m, coll, &from, &n);
	struct compact__view v = {
	    .p = p, .segs = &m->segments[from], .n = n, .tombs = tombs, .ntombs = ntombs};
	if (!compact__find(&v, &lo, &hi))
		return 0;
	compact_job *j = calloc(1, sizeof *j);
	if (!j)
		return ROOST_ENOMEM;
	snprintf(j->data_dir, sizeof j->data_dir, "%s", in->data_dir);
	j->data_mode = in->data_mode;
	j->coll = *c;
	j->n = hi - lo;
	j->lo = v.segs[lo].start_lsn;
	j->hi = v.segs[hi - 1].end_lsn;
	j->below = below;
	j->run = malloc(j->n * sizeof *j->run);
	int rc = j->run ? compact__copy_tombs(j, tombs, ntombs) : ROOST_ENOMEM;
	if (rc) {
		compact_free(j);
		return rc;
	}
	memcpy(j->run, &v.segs[lo], j->n * sizeof *j->run);
	j->planned_ms = futex_now_ms();
	uint64_t rows = 0;
	for (uint32_t i = 0; i < j->n; i++)
		rows += j->run[i].count;
	log_info("collection '%s': merging %u segments (%llu documents) in the background", c->name,
		 j->n, (unsigned long long)rows);
	*out = j;
	return 0;
}

uint32_t compact_coll(const compact_job *j)
{
	return j->coll.id;
}

void compact_free(compact_job *j)
{
	if (!j)
		return;
	free(j->run);
	free(j->tombs);
	free(j);
}
