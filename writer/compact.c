#include "compact.h"

#include "err.h"
#include "killpoint.h"
#include "inst.h"
#include "log.h"
#include "segment.h"
#include "vindex.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How many of s's rows the tombstone file ends. */
static uint64_t compact__dead(const struct compact_config *cfg, const struct manifest_segment *s)
{
	uint64_t first = tomb_lower(cfg->tombs, cfg->ntombs, s->start_lsn), last = first;
	while (last < cfg->ntombs && cfg->tombs[last].version < s->end_lsn)
		last++;
	uint64_t dead = last - first;
	return dead < s->count ? dead : s->count;
}

static uint64_t compact__live(const struct compact_config *cfg, const struct manifest_segment *s)
{
	return s->count - compact__dead(cfg, s);
}

/* A quarter or more of s ended: worth rewriting whatever its size. */
static int compact__wasteful(const struct compact_config *cfg, const struct manifest_segment *s)
{
	uint64_t dead = compact__dead(cfg, s);
	return dead && dead * 4 >= s->count;
}

/* Grows a run of one wasteful segment [*i, *j) by a neighbour: 1 when
 * the two fit in twice a merged segment's size, as two full ones do. */
static int compact__pair(const struct compact_config *cfg, const struct manifest *m, uint32_t from,
			 uint32_t count, uint32_t *i, uint32_t *j)
{
	/* Rows, not live rows: tombstones of rows already gone must not let a
	 * merged segment grow past this. */
	uint64_t rows = m->segments[*i].count, room = 2 * cfg->max_docs;
	if (*j < from + count && rows + m->segments[*j].count <= room) {
		(*j)++;
		return 1;
	}
	if (*i > from && rows + m->segments[*i - 1].count <= room) {
		(*i)--;
		return 1;
	}
	return 0;
}

/* The first run to merge: [*first, *first+*n). */
static int compact__find(const struct compact_config *cfg, const struct manifest *m,
			 uint32_t *first, uint32_t *n)
{
	uint32_t from, count;
	manifest_segments_of(m, cfg->coll, &from, &count);
	for (uint32_t i = from; i < from + count; i++) {
		uint64_t live = 0;
		uint32_t j = i;
		int wasteful = 0;
		while (j < from + count) {
			const struct manifest_segment *s = &m->segments[j];
			int waste = compact__wasteful(cfg, s);
			uint64_t l = compact__live(cfg, s);
			if ((l >= cfg->small_docs && !waste) || live + l > cfg->max_docs)
				break;
			live += l;
			wasteful |= waste;
			j++;
		}
		uint32_t at = i;
		if (j - i >= COMPACT_MIN_RUN || (wasteful && j - i >= 2) ||
		    (wasteful && j - i == 1 && compact__pair(cfg, m, from, count, &at, &j))) {
			*first = at;
			*n = j - at;
			return 1;
		}
	}
	return 0;
}

static void compact__free_parts(struct segment_docs *parts, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		segment_free(&parts[i]);
	free(parts);
}

static int compact__load(const struct compact_config *cfg, const struct manifest_segment *segs,
			 uint32_t n, struct segment_docs **out)
{
	struct segment_docs *parts = calloc(n, sizeof *parts);
	if (!parts)
		return ROOST_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		char path[INST_PATH_MAX];
		manifest_segment_path(cfg->data_dir, cfg->coll, segs[i].start_lsn, segs[i].end_lsn,
				      "docs", path, sizeof path);
		int rc = segment_load(path, SEGMENT_WITH_VECTORS, &parts[i]);
		if (rc == 0 && parts[i].count != segs[i].count)
			rc = ROOST_ECORRUPT;
		if (rc) {
			compact__free_parts(parts, n);
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
	struct segment_ref x = p->refs ? p->refs[r] : (struct segment_ref){0};
	int rc = compact__text(out, cap, p, p->text_off[r], p->text_len[r], &out->text_off[at]);
	if (rc == 0 && x.key_len)
		rc = compact__text(out, cap, p, x.key_off, x.key_len, &x.key_off);
	if (rc == 0 && x.meta_len)
		rc = compact__text(out, cap, p, x.meta_off, x.meta_len, &x.meta_off);
	out->refs[at] = x;
	return rc;
}

/* Whether the tombstone file ends version. */
static int compact__ended(const struct compact_config *cfg, uint64_t version)
{
	return tomb_find(cfg->tombs, cfg->ntombs, version) != NULL;
}

/* The parts' live rows, in order, in one block owned by out; the rows
 * left out are counted in done->ndropped. */
static int compact__concat(const struct compact_config *cfg, const struct segment_docs *parts,
			   uint32_t n, struct segment_docs *out, struct compact_done *done)
{
	uint64_t count = 0, text = 0;
	uint32_t dim = parts[0].dim;
	for (uint32_t i = 0; i < n; i++) {
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
	out->start_lsn = parts[0].start_lsn;
	out->end_lsn = parts[n - 1].end_lsn;
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < n; i++)
		for (uint64_t r = 0; rc == 0 && r < parts[i].count; r++) {
			if (compact__ended(cfg, parts[i].ids[r]))
				done->ndropped++;
			else
				rc = compact__row(out, text, &parts[i], r);
		}
	return rc;
}

static int compact__index(const struct compact_config *cfg, const struct manifest_coll *c,
			  const struct segment_docs *d)
{
	vindex *v;
	int rc;
	char path[INST_PATH_MAX];
	if (c->trained_gen) {
		manifest_trained_path(cfg->data_dir, c->id, c->trained_gen, path, sizeof path);
		rc = vindex_load(&v, path);
	} else {
		rc = vindex_new(&v, c->settings.index, c->settings.dim, c->settings.metric);
	}
	if (rc)
		return rc;
	rc = vindex_is_trained(v) ? vindex_add(v, d->count, d->vectors) : ROOST_EINVAL;
	manifest_segment_path(cfg->data_dir, c->id, d->start_lsn, d->end_lsn, "index", path,
			      sizeof path);
	if (rc == 0)
		rc = vindex_store(v, path);
	vindex_free(v);
	if (rc == 0) {
		manifest_segment_path(cfg->data_dir, c->id, d->start_lsn, d->end_lsn, "docs", path,
				      sizeof path);
		rc = segment_store(path, d);
	}
	return rc;
}

/* The merged segments' files, once the manifest no longer lists them. */
static void compact__unlink(const struct compact_config *cfg, const struct manifest_segment *segs,
			    uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		char path[INST_PATH_MAX];
		manifest_segment_path(cfg->data_dir, cfg->coll, segs[i].start_lsn, segs[i].end_lsn,
				      "index", path, sizeof path);
		unlink(path);
		manifest_segment_path(cfg->data_dir, cfg->coll, segs[i].start_lsn, segs[i].end_lsn,
				      "docs", path, sizeof path);
		unlink(path);
	}
}

/* The tombstone file again, without the merged range's tombstones (m->gen
 * names it; none when no tombstone is left), and the LSN below which a
 * read as of an LSN would miss a dropped row. */
static int compact__rewrite_tombs(const struct compact_config *cfg, struct manifest *m,
				  struct manifest_coll *c, const struct compact_done *done)
{
	struct tomb *kept = malloc((cfg->ntombs ? cfg->ntombs : 1) * sizeof *kept);
	if (!kept)
		return ROOST_ENOMEM;
	uint64_t n = 0, reclaimed = c->reclaimed_lsn;
	for (uint64_t i = 0; i < cfg->ntombs; i++) {
		const struct tomb *t = &cfg->tombs[i];
		if (t->version < done->lo || t->version >= done->hi)
			kept[n++] = *t;
		else if (t->end_lsn + 1 > reclaimed)
			reclaimed = t->end_lsn + 1;
	}
	char path[INST_PATH_MAX];
	int rc = n ? manifest_tomb_path(cfg->data_dir, c->id, m->gen, path, sizeof path) : 0;
	if (rc == 0 && n)
		rc = tomb_store(path, kept, n);
	free(kept);
	if (rc == 0) {
		c->tomb_gen = n ? m->gen : 0;
		c->reclaimed_lsn = reclaimed;
	}
	return rc;
}

/* Replaces segments [first, first+n) by d (none when d holds no row). */
static void compact__replace(struct manifest *m, uint32_t first, uint32_t n,
			     const struct segment_docs *d)
{
	uint32_t keep = d->count ? 1 : 0;
	if (keep)
		m->segments[first] = (struct manifest_segment){.coll = m->segments[first].coll,
							       .start_lsn = d->start_lsn,
							       .end_lsn = d->end_lsn,
							       .count = d->count};
	memmove(&m->segments[first + keep], &m->segments[first + n],
		(m->nsegments - first - n) * sizeof *m->segments);
	m->nsegments -= n - keep;
}

static int compact__install(const struct compact_config *cfg, struct manifest *m, uint32_t first,
			    uint32_t n, const struct segment_docs *d,
			    const struct compact_done *done)
{
	struct manifest_segment *gone = malloc(n * sizeof *gone);
	if (!gone)
		return ROOST_ENOMEM;
	memcpy(gone, &m->segments[first], n * sizeof *gone);
	m->gen++;
	struct manifest_coll *c = manifest_coll_find(m, cfg->coll);
	/* A merge of segments no tombstone names leaves the file as it is. */
	uint64_t in_range = tomb_lower(cfg->tombs, cfg->ntombs, done->lo);
	int touched = in_range < cfg->ntombs && cfg->tombs[in_range].version < done->hi;
	int rc = touched ? compact__rewrite_tombs(cfg, m, c, done) : 0;
	if (rc == 0) {
		compact__replace(m, first, n, d);
		killpoint_reach(KILLPOINT_COMPACT_BEFORE_MANIFEST);
		rc = manifest_store(cfg->data_dir, m);
	}
	if (rc == 0) {
		killpoint_reach(KILLPOINT_COMPACT_AFTER_MANIFEST);
		compact__unlink(cfg, gone, n);
	}
	free(gone);
	return rc;
}

int compact_run(const struct compact_config *cfg, struct manifest *m, struct compact_done *out)
{
	uint32_t first, n;
	*out = (struct compact_done){0};
	const struct manifest_coll *c = manifest_coll_find(m, cfg->coll);
	if (!c || !compact__find(cfg, m, &first, &n))
		return 0;
	struct segment_docs *parts, all = {0};
	int rc = compact__load(cfg, &m->segments[first], n, &parts);
	if (rc)
		return rc;
	out->lo = m->segments[first].start_lsn;
	out->hi = m->segments[first + n - 1].end_lsn;
	rc = compact__concat(cfg, parts, n, &all, out);
	compact__free_parts(parts, n);
	if (rc == 0 && all.count)
		rc = compact__index(cfg, c, &all);
	if (rc == 0)
		rc = compact__install(cfg, m, first, n, &all, out);
	if (rc == 0) {
		out->merged = n;
		log_info("collection '%s': compacted %u segments into %016llx (%llu documents, "
			 "%llu ended ones dropped)",
			 c->name, n, (unsigned long long)all.start_lsn,
			 (unsigned long long)all.count, (unsigned long long)out->ndropped);
	} else {
		*out = (struct compact_done){0};
	}
	segment_free(&all);
	return rc;
}
