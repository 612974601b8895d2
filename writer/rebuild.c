#include "rebuild.h"

#include "err.h"
#include "futex.h"
#include "inst.h"
#include "killpoint.h"
#include "log.h"
#include "segment.h"
#include "vindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rebuild_job {
	char data_dir[INST_PATH_MAX];
	mode_t data_mode; /* of the files it writes */
	char name[COLL_NAME_MAX + 1];
	struct coll_settings set; /* resolved, as planned */
	uint32_t coll;
	uint32_t gen;		       /* the index generation built for */
	uint64_t trained_gen;	       /* the collection's trained index; 0: none */
	uint64_t train_gen;	       /* trains first, writing this; 0: does not */
	struct manifest_segment seg;   /* as planned, its older index_gen */
	struct manifest_segment *segs; /* every segment of the collection: the sample */
	uint32_t nsegs;
	int64_t planned_ms;
	int built, trained;
};

static struct manifest_segment rebuild__new_seg(const rebuild_job *j)
{
	struct manifest_segment s = j->seg;
	s.index_gen = j->gen;
	return s;
}

static void rebuild__docs_path(const rebuild_job *j, const struct manifest_segment *s, char *path)
{
	manifest_segment_path(j->data_dir, j->coll, s->start_lsn, s->end_lsn, "docs", path,
			      INST_PATH_MAX);
}

static int rebuild__map(const rebuild_job *j, const struct manifest_segment *s,
			struct segment_docs *d, struct segment_map *map)
{
	char path[INST_PATH_MAX];
	rebuild__docs_path(j, s, path);
	int rc = segment_map(path, d, map);
	if (rc == 0 && (d->count != s->count || d->dim != j->set.dim)) {
		segment_unmap(map, d);
		rc = ROOST_ECORRUPT;
	}
	return rc;
}

/* A training sample holds at most this many bytes of vectors. */
#define REBUILD__SAMPLE_BYTES (1ull << 30)

/* Up to train_docs vectors, evenly spaced over every segment's rows, so
 * that the training sees the whole history, not only its start. */
static int rebuild__sample(const rebuild_job *j, float **out, uint64_t *n)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < j->nsegs; i++)
		total += j->segs[i].count;
	size_t row = (size_t)j->set.dim * sizeof(float);
	uint64_t want = j->set.train_docs < total ? j->set.train_docs : total;
	if (want > REBUILD__SAMPLE_BYTES / row)
		want = REBUILD__SAMPLE_BYTES / row;
	float *x = malloc(want ? want * row : 1);
	if (!x)
		return ROOST_ENOMEM;
	uint64_t got = 0, seen = 0;
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < j->nsegs && got < want; i++) {
		struct segment_docs d;
		struct segment_map map = {0};
		rc = rebuild__map(j, &j->segs[i], &d, &map);
		/* Row k of the whole is taken when it is the next of want
		 * evenly spaced ones: k == got * total / want (a product of up
		 * to 2^64 or so: done in 128 bits). */
		for (uint64_t r = 0; rc == 0 && r < d.count && got < want; r++, seen++)
			if (seen == (uint64_t)((unsigned __int128)got * total / want))
				memcpy(x + got++ * j->set.dim, d.vectors + r * d.dim, row);
		segment_unmap(&map, &d);
	}
	if (rc) {
		free(x);
		return rc;
	}
	*out = x;
	*n = got;
	return 0;
}

static int rebuild__train(rebuild_job *j, const atomic_int *cancel)
{
	float *x;
	uint64_t n;
	int rc = rebuild__sample(j, &x, &n);
	if (rc)
		return rc;
	/* Pairs with the stopping thread's store: a training is not cut short,
	 * but a stopping writer need not wait for one to begin. */
	if (atomic_load_explicit(cancel, memory_order_relaxed)) {
		free(x);
		return ROOST_ECLOSED;
	}
	vindex *v;
	rc = vindex_new(&v, j->set.index, j->set.dim, j->set.metric);
	if (rc == 0) {
		log_info("collection '%s': training %s on %llu vectors sampled from %u segments",
			 j->name, j->set.index, (unsigned long long)n, j->nsegs);
		rc = vindex_train(v, n, x);
		char path[INST_PATH_MAX];
		manifest_trained_path(j->data_dir, j->coll, j->train_gen, path, sizeof path);
		j->trained = 1; /* abandoning removes what is there */
		if (rc == 0)
			rc = vindex_store(v, path, j->data_mode);
		vindex_free(v);
	}
	free(x);
	if (rc == 0)
		j->trained_gen = j->train_gen;
	return rc;
}

int rebuild_build(rebuild_job *j, const atomic_int *cancel)
{
	int rc = j->train_gen ? rebuild__train(j, cancel) : 0;
	char trained[INST_PATH_MAX], path[INST_PATH_MAX];
	if (j->trained_gen)
		manifest_trained_path(j->data_dir, j->coll, j->trained_gen, trained,
				      sizeof trained);
	struct manifest_segment s = rebuild__new_seg(j);
	manifest_index_path(j->data_dir, &s, path, sizeof path);
	struct segment_docs d;
	struct segment_map map = {0};
	if (rc == 0 && (rc = rebuild__map(j, &j->seg, &d, &map)) == 0) {
		j->built = 1; /* abandoning removes what is there */
		rc = vindex_build_file(j->set.index, j->set.dim, j->set.metric,
				       j->trained_gen ? trained : NULL, d.count, d.vectors, cancel,
				       path, j->data_mode);
		segment_unmap(&map, &d);
	}
	if (rc == 0)
		killpoint_reach(KILLPOINT_REBUILD_BUILT);
	return rc;
}

/* The planned segment's entry in m, unchanged since the plan. */
static struct manifest_segment *rebuild__find(const rebuild_job *j, struct manifest *m)
{
	uint32_t from, n;
	manifest_segments_of(m, j->coll, &from, &n);
	for (uint32_t i = from; i < from + n; i++)
		if (memcmp(&m->segments[i], &j->seg, sizeof j->seg) == 0)
			return &m->segments[i];
	return NULL;
}

static void rebuild__unlink_trained(const rebuild_job *j)
{
	char path[INST_PATH_MAX];
	if (j->trained &&
	    manifest_trained_path(j->data_dir, j->coll, j->train_gen, path, sizeof path) == 0)
		unlink(path);
}

int rebuild_install(rebuild_job *j, struct manifest *m)
{
	struct manifest_coll *c = manifest_coll_find(m, j->coll);
	struct manifest_segment *s = c && c->index_gen == j->gen ? rebuild__find(j, m) : NULL;
	if (!s)
		return ROOST_ENOENT;
	*s = rebuild__new_seg(j);
	/* A seal may have trained the same settings meanwhile: the
	 * collection keeps that one, which its tail uses. */
	int adopt = j->train_gen && !c->trained_gen;
	if (adopt)
		c->trained_gen = j->train_gen;
	killpoint_reach(KILLPOINT_REBUILD_BEFORE_MANIFEST);
	int rc = manifest_store(j->data_dir, m, j->data_mode);
	if (rc)
		return rc;
	killpoint_reach(KILLPOINT_REBUILD_AFTER_MANIFEST);
	char path[INST_PATH_MAX];
	manifest_index_path(j->data_dir, &j->seg, path, sizeof path);
	unlink(path);
	if (!adopt)
		rebuild__unlink_trained(j);
	j->train_gen = adopt ? j->train_gen : 0;
	log_info("collection '%s': rebuilt the index of segment %016llx (%llu documents) as %s "
		 "in %lld ms",
		 j->name, (unsigned long long)j->seg.start_lsn, (unsigned long long)j->seg.count,
		 j->set.index, (long long)(futex_now_ms() - j->planned_ms));
	return 0;
}

void rebuild_abandon(rebuild_job *j)
{
	struct manifest_segment s = rebuild__new_seg(j);
	char path[INST_PATH_MAX];
	if (j->built && manifest_index_path(j->data_dir, &s, path, sizeof path) == 0)
		unlink(path);
	rebuild__unlink_trained(j);
}

static const struct manifest_segment *rebuild__first_stale(const struct manifest *m,
							   const struct manifest_coll *c)
{
	uint32_t from, n;
	manifest_segments_of(m, c->id, &from, &n);
	for (uint32_t i = from; i < from + n; i++)
		if (m->segments[i].index_gen < c->index_gen)
			return &m->segments[i];
	return NULL;
}

int rebuild_needed(const struct manifest *m, uint32_t coll)
{
	const struct manifest_coll *c = manifest_coll_find(m, coll);
	return c && rebuild__first_stale(m, c) != NULL;
}

int rebuild_plan(rebuild_job **out, const struct inst *in, const struct manifest *m, uint32_t coll,
		 const struct coll_settings *set, uint64_t train_gen)
{
	*out = NULL;
	const struct manifest_coll *c = manifest_coll_find(m, coll);
	const struct manifest_segment *stale = c ? rebuild__first_stale(m, c) : NULL;
	if (!stale)
		return 0;
	rebuild_job *j = calloc(1, sizeof *j);
	uint32_t from, n;
	manifest_segments_of(m, coll, &from, &n);
	if (j)
		j->segs = malloc(n * sizeof *j->segs);
	if (!j || !j->segs) {
		rebuild_free(j);
		return ROOST_ENOMEM;
	}
	memcpy(j->segs, &m->segments[from], n * sizeof *j->segs);
	j->nsegs = n;
	snprintf(j->data_dir, sizeof j->data_dir, "%s", in->data_dir);
	j->data_mode = in->data_mode;
	memcpy(j->name, c->name, sizeof j->name);
	j->set = *set;
	j->coll = coll;
	j->gen = (uint32_t)c->index_gen;
	j->trained_gen = c->trained_gen;
	j->train_gen = train_gen;
	j->seg = *stale;
	j->planned_ms = futex_now_ms();
	*out = j;
	return 0;
}

uint32_t rebuild_coll(const rebuild_job *j)
{
	return j->coll;
}

uint32_t rebuild_index_gen(const rebuild_job *j)
{
	return j->gen;
}

uint64_t rebuild_trained_gen(const rebuild_job *j)
{
	return j->train_gen;
}

void rebuild_free(rebuild_job *j)
{
	if (!j)
		return;
	free(j->segs);
	free(j);
}
