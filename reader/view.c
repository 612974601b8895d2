#include "view.h"

#include "err.h"
#include "inst.h"
#include "log.h"
#include "manifest.h"

#include <faiss/c_api/index_io_c.h>

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
	segment_free(&s->docs);
	free(s);
}

static int view__segment_load(const struct inst *in, const struct manifest_segment *ms,
			      uint32_t dim, struct view_segment **out)
{
	struct view_segment *s = calloc(1, sizeof *s);
	if (!s)
		return ROOST_ENOMEM;
	char path[INST_PATH_MAX];
	manifest_segment_path(in->data_dir, ms->start_lsn, ms->end_lsn, "docs", path, sizeof path);
	int rc = segment_load(path, SEGMENT_NO_VECTORS, &s->docs);
	if (rc == 0 && (s->docs.dim != dim || s->docs.count != ms->count ||
			s->docs.start_lsn != ms->start_lsn || s->docs.end_lsn != ms->end_lsn))
		rc = ROOST_ECORRUPT;
	manifest_segment_path(in->data_dir, ms->start_lsn, ms->end_lsn, "index", path, sizeof path);
	if (rc == 0 && faiss_read_index_fname(path, 0, &s->index) != 0)
		rc = ROOST_ECORRUPT;
	if (rc == 0 && (faiss_Index_d(s->index) != (int)dim ||
			(uint64_t)faiss_Index_ntotal(s->index) != s->docs.count))
		rc = ROOST_ECORRUPT;
	if (rc) {
		log_error("segment %016llx: %s", (unsigned long long)ms->start_lsn,
			  roost_strerror(rc));
		faiss_Index_free(s->index);
		segment_free(&s->docs);
		free(s);
		return rc;
	}
	s->refs = 1;
	s->start_lsn = ms->start_lsn;
	s->end_lsn = ms->end_lsn;
	*out = s;
	return 0;
}

static struct view_segment *view__find(const struct view *prev, const struct manifest_segment *ms)
{
	for (uint32_t i = 0; prev && i < prev->nsegs; i++) {
		struct view_segment *s = prev->segs[i];
		if (s->start_lsn == ms->start_lsn && s->end_lsn == ms->end_lsn) {
			atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
			return s;
		}
	}
	return NULL;
}

static void view__free(struct view *v)
{
	for (uint32_t i = 0; i < v->nsegs; i++)
		view__segment_put(v->segs[i]);
	free(v->segs);
	tail_close(v->tail);
	free(v);
}

static int view__segments(struct view *v, const struct inst *in, const struct manifest *m,
			  const struct view *prev)
{
	v->segs = calloc(m->nsegments ? m->nsegments : 1, sizeof *v->segs);
	if (!v->segs)
		return ROOST_ENOMEM;
	for (uint32_t i = 0; i < m->nsegments; i++) {
		struct view_segment *s = view__find(prev, &m->segments[i]);
		if (!s) {
			int rc = view__segment_load(in, &m->segments[i], m->dim, &s);
			if (rc)
				return rc;
		}
		v->segs[v->nsegs++] = s;
	}
	return 0;
}

/* The tail named by the control block, and the manifest it follows. */
static int view__open_tail(struct view *v, const struct inst *in, ctl *c, struct manifest *m)
{
	uint64_t serial = ctl_tail_serial(c);
	char name[INST_PATH_MAX];
	inst_tail_path(in, serial, name, sizeof name);
	int rc = tail_open(&v->tail, name);
	if (rc)
		return rc == ROOST_ENOENT ? ROOST_EBUSY : rc;
	v->tail_serial = serial;
	rc = manifest_load(in->data_dir, m);
	if (rc == 0 && m->gen != tail_manifest_gen(v->tail))
		rc = ROOST_EBUSY; /* a seal in between */
	return rc;
}

/* The manifest is replaced by rename, so a new one is a new inode. */
static uint64_t view__manifest_ino(const struct inst *in)
{
	char path[INST_PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/MANIFEST", in->data_dir);
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int view__try(struct view **out, const struct inst *in, ctl *c, const struct view *prev)
{
	struct view *v = calloc(1, sizeof *v);
	struct manifest m = {0};
	if (!v)
		return ROOST_ENOMEM;
	v->refs = 1;
	v->manifest_ino = c ? 0 : view__manifest_ino(in);
	int rc = c ? view__open_tail(v, in, c, &m) : manifest_load(in->data_dir, &m);
	if (rc == 0) {
		v->manifest_gen = m.gen;
		v->dim = m.dim;
		v->metric = m.metric;
		v->sealed_end = m.tail_start;
		rc = view__segments(v, in, &m, prev);
		if (rc == ROOST_ENOENT && manifest_moved_on(in->data_dir, m.gen))
			rc = ROOST_EBUSY; /* compacted in between: build again */
	}
	manifest_free(&m);
	if (rc) {
		view__free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int view_build(struct view **out, const struct inst *in, ctl *c, const struct view *prev)
{
	int rc = ROOST_EBUSY;
	for (int tries = 0; rc == ROOST_EBUSY && tries < 50; tries++)
		rc = view__try(out, in, c, prev);
	return rc;
}

int view_stale(const struct view *v, const struct inst *in, ctl *c)
{
	if (c)
		return ctl_tail_serial(c) != v->tail_serial;
	return view__manifest_ino(in) != v->manifest_ino;
}

uint64_t view_end_lsn(const struct view *v)
{
	if (!v->tail)
		return v->sealed_end;
	struct segment_docs t;
	tail_view(v->tail, &t);
	return t.end_lsn > v->sealed_end ? t.end_lsn : v->sealed_end;
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
