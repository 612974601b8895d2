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

/* The first run of small segments long enough to merge: [*first, *first+*n). */
static int compact__find(const struct compact_config *cfg, const struct manifest *m,
			 uint32_t *first, uint32_t *n)
{
	uint32_t from, count;
	manifest_segments_of(m, cfg->coll, &from, &count);
	for (uint32_t i = from; i < from + count; i++) {
		uint64_t docs = 0;
		uint32_t j = i;
		while (j < from + count && m->segments[j].count < cfg->small_docs &&
		       docs + m->segments[j].count <= cfg->max_docs)
			docs += m->segments[j++].count;
		if (j - i >= COMPACT_MIN_RUN) {
			*first = i;
			*n = j - i;
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

/* A part's refs, moved to where its text now starts; none (a version 1
 * segment) stay none. */
static void compact__rebase_refs(struct segment_ref *to, const struct segment_docs *p,
				 uint32_t base)
{
	for (uint64_t r = 0; r < p->count; r++) {
		struct segment_ref x = p->refs ? p->refs[r] : (struct segment_ref){0};
		x.key_off += x.key_len ? base : 0;
		x.meta_off += x.meta_len ? base : 0;
		to[r] = x;
	}
}

/* Concatenates the parts' columns into one block owned by out. */
static int compact__concat(const struct segment_docs *parts, uint32_t n, struct segment_docs *out)
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
	for (uint32_t i = 0; i < n; i++) {
		const struct segment_docs *p = &parts[i];
		uint64_t at = out->count;
		memcpy(out->ids + at, p->ids, p->count * 8);
		memcpy(out->agents + at, p->agents, p->count * 8);
		memcpy(out->times + at, p->times, p->count * 8);
		memcpy(out->vectors + at * dim, p->vectors, p->count * dim * sizeof(float));
		memcpy(out->text_len + at, p->text_len, p->count * 4);
		memcpy(out->kinds + at, p->kinds, p->count * sizeof(struct segment_kind));
		memcpy(out->text + out->text_bytes, p->text, p->text_bytes);
		compact__rebase_refs(out->refs + at, p, (uint32_t)out->text_bytes);
		for (uint64_t r = 0; r < p->count; r++)
			out->text_off[at + r] = p->text_off[r] + (uint32_t)out->text_bytes;
		out->count += p->count;
		out->text_bytes += p->text_bytes;
	}
	return 0;
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

static int compact__install(const struct compact_config *cfg, struct manifest *m, uint32_t first,
			    uint32_t n, const struct segment_docs *d)
{
	struct manifest_segment *gone = malloc(n * sizeof *gone);
	if (!gone)
		return ROOST_ENOMEM;
	memcpy(gone, &m->segments[first], n * sizeof *gone);
	m->segments[first] = (struct manifest_segment){
	    .coll = cfg->coll, .start_lsn = d->start_lsn, .end_lsn = d->end_lsn, .count = d->count};
	memmove(&m->segments[first + 1], &m->segments[first + n],
		(m->nsegments - first - n) * sizeof *m->segments);
	m->nsegments -= n - 1;
	m->gen++;
	killpoint_reach(KILLPOINT_COMPACT_BEFORE_MANIFEST);
	int rc = manifest_store(cfg->data_dir, m);
	if (rc == 0) {
		killpoint_reach(KILLPOINT_COMPACT_AFTER_MANIFEST);
		compact__unlink(cfg, gone, n);
	}
	free(gone);
	return rc;
}

int compact_run(const struct compact_config *cfg, struct manifest *m, uint32_t *merged)
{
	uint32_t first, n;
	*merged = 0;
	const struct manifest_coll *c = manifest_coll_find(m, cfg->coll);
	if (!c || !compact__find(cfg, m, &first, &n))
		return 0;
	struct segment_docs *parts, all;
	int rc = compact__load(cfg, &m->segments[first], n, &parts);
	if (rc)
		return rc;
	rc = compact__concat(parts, n, &all);
	compact__free_parts(parts, n);
	if (rc == 0)
		rc = compact__index(cfg, c, &all);
	if (rc == 0)
		rc = compact__install(cfg, m, first, n, &all);
	if (rc == 0) {
		*merged = n;
		log_info("collection '%s': compacted %u segments into %016llx (%llu documents)",
			 c->name, n, (unsigned long long)all.start_lsn,
			 (unsigned long long)all.count);
	}
	segment_free(&all);
	return rc;
}
