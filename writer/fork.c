#include "fork.h"

#include "err.h"
#include "segment.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A link left by a fork a kill interrupted is replaced: same content. */
static int fork__link(const char *from, const char *to)
{
	if (link(from, to) == 0)
		return 0;
	if (errno == EEXIST && unlink(to) == 0 && link(from, to) == 0)
		return 0;
	return roost_from_errno(errno);
}

static int fork__link_segment(const struct fork_plan *p, const struct manifest_segment *s)
{
	struct manifest_segment mine = *s;
	char from[PATH_MAX], to[PATH_MAX];
	mine.coll = p->id;
	int rc = manifest_index_path(p->dir, s, from, sizeof from);
	if (rc == 0)
		rc = manifest_index_path(p->dir, &mine, to, sizeof to);
	if (rc == 0)
		rc = fork__link(from, to);
	if (rc == 0)
		rc = manifest_segment_path(p->dir, s->coll, s->start_lsn, s->end_lsn, "docs", from,
					   sizeof from);
	if (rc == 0)
		rc = manifest_segment_path(p->dir, p->id, s->start_lsn, s->end_lsn, "docs", to,
					   sizeof to);
	return rc ? rc : fork__link(from, to);
}

static int fork__link_trained(const struct fork_plan *p)
{
	char from[PATH_MAX], to[PATH_MAX];
	uint64_t gen = p->source->trained_gen;
	int rc = manifest_trained_path(p->dir, p->source->id, gen, from, sizeof from);
	if (rc == 0)
		rc = manifest_trained_path(p->dir, p->id, gen, to, sizeof to);
	return rc ? rc : fork__link(from, to);
}

/* Tombstones ending, at the fork's LSN, the rows of s at or past as_of. */
static int fork__end_rows_past(const struct fork_plan *p, const struct manifest_segment *s,
			       struct tomb *out, uint64_t *n)
{
	char path[PATH_MAX];
	struct segment_docs d;
	int rc = manifest_segment_path(p->dir, s->coll, s->start_lsn, s->end_lsn, "docs", path,
				       sizeof path);
	if (rc == 0)
		rc = segment_load(path, SEGMENT_NO_VECTORS, &d);
	if (rc)
		return rc;
	if (d.count != s->count) { /* the room made for its rows */
		segment_free(&d);
		return ROOST_ECORRUPT;
	}
	for (uint64_t r = 0; r < d.count; r++)
		if (d.ids[r] >= p->as_of)
			out[(*n)++] = (struct tomb){.version = d.ids[r], .end_lsn = p->lsn};
	segment_free(&d);
	return 0;
}

/* The fork's tombstones: the source's that ended below as_of (their rows
 * have versions below it too), then the rows it leaves out of a
 * straddling segment; ascending version either way. */
static int fork__tombs(const struct fork_plan *p, const struct fork_made *f, struct tomb **out,
		       uint64_t *n)
{
	uint64_t cap = p->ntombs;
	for (uint32_t i = 0; i < f->nsegs; i++)
		cap += f->segs[i].end_lsn > p->as_of ? f->segs[i].count : 0;
	struct tomb *t = malloc((cap ? cap : 1) * sizeof *t);
	if (!t)
		return ROOST_ENOMEM;
	*n = 0;
	for (uint64_t i = 0; i < p->ntombs; i++)
		if (p->tombs[i].end_lsn < p->as_of)
			t[(*n)++] = p->tombs[i];
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < f->nsegs; i++)
		if (f->segs[i].end_lsn > p->as_of)
			rc = fork__end_rows_past(p, &f->segs[i], t, n);
	if (rc)
		free(t);
	*out = rc ? NULL : t;
	return rc;
}

static int fork__store_tombs(const struct fork_plan *p, struct fork_made *f)
{
	struct tomb *t = NULL;
	uint64_t n = 0;
	char path[PATH_MAX];
	int rc = fork__tombs(p, f, &t, &n);
	if (rc == 0 && n &&
	    (rc = manifest_tomb_path(p->dir, p->id, p->gen, path, sizeof path)) == 0)
		rc = tomb_store(path, t, n, p->mode);
	free(t);
	if (rc == 0)
		f->coll.tomb_gen = n ? p->gen : 0;
	return rc;
}

/* The source's segments that start below as_of, as the fork's. */
static int fork__segments(const struct fork_plan *p, struct fork_made *f)
{
	uint32_t first, n;
	manifest_segments_of(p->m, p->source->id, &first, &n);
	f->segs = malloc((n ? n : 1) * sizeof *f->segs);
	if (!f->segs)
		return ROOST_ENOMEM;
	int rc = 0;
	for (uint32_t i = first; rc == 0 && i < first + n; i++) {
		const struct manifest_segment *s = &p->m->segments[i];
		if (s->start_lsn >= p->as_of)
			break;
		rc = fork__link_segment(p, s);
		f->segs[f->nsegs] = *s;
		f->segs[f->nsegs++].coll = p->id;
	}
	return rc;
}

int fork_make(const struct fork_plan *p, struct fork_made *out)
{
	memset(out, 0, sizeof *out);
	out->coll = (struct manifest_coll){.id = p->id,
					   .settings = p->source->settings,
					   .created_lsn = p->lsn,
					   .trained_gen = p->source->trained_gen,
					   .index_gen = p->source->index_gen};
	int rc = fork__segments(p, out);
	if (rc == 0 && p->source->trained_gen)
		rc = fork__link_trained(p);
	if (rc == 0)
		rc = fork__store_tombs(p, out);
	if (rc)
		fork_made_free(out);
	return rc;
}

void fork_made_free(struct fork_made *f)
{
	free(f->segs);
	f->segs = NULL;
	f->nsegs = 0;
}
