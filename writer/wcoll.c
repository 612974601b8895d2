#include "wcoll.h"

#include "err.h"
#include "futex.h"
#include "log.h"
#include "segment.h"
#include "tail.h"
#include "vindex.h"
#include "wire.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Text room of a tail, per document it holds, and beyond that room for
 * any one request's bytes, so that a batch always fits an empty tail.
 * Memory is reserved only as text arrives. */
#define WCOLL_TEXT_PER_DOC 2048u
#define WCOLL_TEXT_SPARE   WIRE_MAX_FRAME

struct wcoll {
	struct wcoll_env env;
	uint32_t id;
	char name[COLL_NAME_MAX + 1];
	struct coll_settings set; /* resolved */
	uint64_t created_lsn;
	uint64_t trained_gen; /* 0: not trained yet (for these settings) */
	int needs_training;
	uint32_t index_gen; /* of the settings: alters applied */
	/* Of the open segment's index, which a seal writes: the settings its
	 * rows are indexed with. Below index_gen after an alter, until the
	 * tail is sealed (soon: wcoll_aged says so). */
	uint32_t built_gen;
	int rebuilds_held; /* wcoll_hold_rebuilds */
	tail *tail;
	uint64_t tail_serial;
	/* The tails the catalog names while recovering: the last writer's. */
	uint64_t listed_serial, listed_frozen;
	uint64_t tail_gen;  /* of the current tail */
	wcoll_seal *frozen; /* the tail before it, being sealed; NULL: none */
	vindex *index;	    /* the open segment's; NULL until trained */
	uint64_t indexed;   /* tail rows already added to it */
	uint64_t published;
	uint64_t published_tombs;
	int64_t tail_born_ms; /* when the tail got its first row; 0: empty */
	int waiting;	      /* rows wait for room on the GPU */
	uint64_t sealed_docs; /* documents in its segments */
	uint32_t segments;
	docmap *docs;
	uint64_t tomb_gen; /* of its tombstone file; 0: none */
};

/* A frozen tail on its way to a segment: what the worker writes, and what
 * the install needs. The worker reads the tail's rows (nothing appends
 * to them any more) and owns the index. */
struct wcoll_seal {
	struct worker_job job;
	const char *data_dir;
	mode_t data_mode; /* of the files it writes */
	tail *tail;	  /* the frozen tail, sealed at seg.end_lsn */
	uint64_t serial;
	uint64_t text_bytes;
	vindex *index; /* its rows', on the CPU; NULL without rows */
	struct manifest_segment seg;
	/* Every tombstone of the collection when it froze, for its file. */
	struct tomb *tombs;
	uint64_t ntombs;
	uint64_t tomb_gen, trained_gen; /* new files' generations; 0: none */
};

static uint64_t wcoll__frozen_serial(const wcoll *c)
{
	return c->frozen ? c->frozen->serial : 0;
}

static uint64_t wcoll__frozen_rows(const wcoll *c)
{
	return c->frozen ? c->frozen->seg.count : 0;
}

void wcoll_resolve(const struct wcoll_defaults *d, const struct coll_settings *own,
		   struct coll_settings *out)
{
	*out = *own;
	if (!out->seal_docs)
		out->seal_docs = d->seal_docs;
	if (!out->train_docs)
		out->train_docs = d->train_docs;
	if (!own->seal_docs && !own->seal_interval_ms)
		out->seal_interval_ms = d->seal_interval_ms;
}

static void wcoll__catalog_entry(const wcoll *c, struct catalog_entry *e)
{
	memset(e, 0, sizeof *e);
	e->id = c->id;
	memcpy(e->name, c->name, sizeof e->name);
	e->settings = c->set;
	e->created_lsn = c->created_lsn;
	e->tail_serial = c->listed_serial ? c->listed_serial : c->tail_serial;
	e->frozen_serial = c->listed_serial ? c->listed_frozen : wcoll__frozen_serial(c);
	e->documents = c->sealed_docs + wcoll__frozen_rows(c) + c->published;
	e->segments = c->segments;
}

/* The open segment's index: empty, from the trained copy when there is
 * one; on the GPU when it has room. */
static int wcoll__open_index(wcoll *c)
{
	place_forget(c->env.place, c->index);
	vindex_free(c->index);
	c->index = NULL;
	c->indexed = 0;
	int rc = 0;
	if (!c->needs_training) {
		rc = vindex_new(&c->index, c->set.index, c->set.dim, c->set.metric);
	} else if (c->trained_gen != 0) {
		char path[INST_PATH_MAX];
		manifest_trained_path(c->env.inst->data_dir, c->id, c->trained_gen, path,
				      sizeof path);
		rc = vindex_load(&c->index, path);
	} /* else vectors wait in the tail until there are enough to train */
	c->built_gen = c->index_gen;
	if (rc == 0) {
		place_segment(c->env.place, c->index);
		ctl_set_writer_mode(c->env.ctl, place_mode(c->env.place));
	} else {
		log_error("collection '%s': cannot open its index: %s", c->name,
			  roost_strerror(rc));
	}
	return rc;
}

/* Whether its settings' index needs training; fails (logged) when FAISS
 * cannot build it. */
static int wcoll__check_factory(wcoll *c)
{
	char why[512];
	int rc = vindex_check_factory(c->set.index, c->set.dim, c->set.metric, &c->needs_training,
				      why, sizeof why);
	if (rc)
		log_error("collection '%s': index '%s' cannot be built: %s", c->name, c->set.index,
			  why);
	return rc;
}

/* Names the collection's tails in the catalog, unless it still names the
 * last writer's (while recovering). */
static void wcoll__show(wcoll *c)
{
	if (!c->listed_serial)
		catalog_set_tail(c->env.cat, c->id, c->tail_serial, wcoll__frozen_serial(c));
}

static void wcoll__unlink_tail(wcoll *c, uint64_t serial)
{
	/* Readers still mapping it keep it until they move on. */
	char path[INST_PATH_MAX];
	inst_tail_path(c->env.inst, serial, path, sizeof path);
	tail_unlink(path);
}

/* Rows a new tail holds: a segment's, but until the index is trained the
 * tail gathers the training vectors, however many more that is. Tails
 * stay small once trained, so each query's exact scan stays short. */
static uint64_t wcoll__tail_capacity(const wcoll *c)
{
	if (c->needs_training && c->trained_gen == 0 && c->set.train_docs > c->set.seal_docs)
		return c->set.train_docs;
	return c->set.seal_docs;
}

static int wcoll__create_tail(wcoll *c, uint64_t start, uint64_t tail_gen, tail **t,
			      uint64_t *serial)
{
	char path[INST_PATH_MAX];
	uint64_t rows = wcoll__tail_capacity(c);
	struct tail_config tc = {
	    .serial = ctl_new_tail_serial(c->env.ctl),
	    .coll = c->id,
	    .tail_gen = tail_gen,
	    .start_lsn = start,
	    .dim = c->set.dim,
	    .metric = c->set.metric,
	    .capacity = rows,
	    .text_capacity = rows * WCOLL_TEXT_PER_DOC + WCOLL_TEXT_SPARE,
	    .mode = c->env.inst->file_mode,
	};
	inst_tail_path(c->env.inst, tc.serial, path, sizeof path);
	int rc = tail_create(t, path, &tc);
	if (rc)
		log_error("collection '%s': cannot create tail %s: %s", c->name, path,
			  roost_strerror(rc));
	*serial = tc.serial;
	return rc;
}

/* t, just made, becomes the tail appended to. */
static void wcoll__use_tail(wcoll *c, tail *t, uint64_t serial, uint64_t tail_gen)
{
	c->tail = t;
	c->tail_serial = serial;
	c->tail_gen = tail_gen;
	c->published = 0;
	c->published_tombs = tail_tomb_pending(t);
	c->tail_born_ms = 0;
}

int wcoll_open(wcoll **out, const struct wcoll_env *env, const struct manifest_coll *mc,
	       uint64_t documents, uint32_t segments, docmap *docs)
{
	wcoll *c = calloc(1, sizeof *c);
	if (!c) {
		docmap_free(docs);
		return ROOST_ENOMEM;
	}
	c->docs = docs;
	c->tomb_gen = mc->tomb_gen;
	c->env = *env;
	c->id = mc->id;
	memcpy(c->name, mc->name, sizeof c->name);
	wcoll_resolve(&env->dflt, &mc->settings, &c->set);
	c->created_lsn = mc->created_lsn;
	c->trained_gen = mc->trained_gen;
	c->index_gen = (uint32_t)mc->index_gen;
	c->sealed_docs = documents;
	c->segments = segments;
	struct catalog_entry listed;
	if (env->recovering && catalog_get(env->cat, c->id, &listed) == 0) {
		c->listed_serial = listed.tail_serial;
		c->listed_frozen = listed.frozen_serial;
	}
	int rc = wcoll__check_factory(c);
	tail *t;
	uint64_t serial;
	if (rc == 0 && (rc = wcoll__create_tail(c, mc->tail_start, mc->tail_gen, &t, &serial)) == 0)
		wcoll__use_tail(c, t, serial, mc->tail_gen);
	struct catalog_entry e;
	wcoll__catalog_entry(c, &e);
	e.history_start = manifest_history_start(mc->created_lsn, mc->reclaimed_lsn);
	if (rc == 0 && (rc = catalog_put(env->cat, &e)) != 0)
		log_error("collection '%s': the catalog is full (%u collections)", c->name,
			  CATALOG_SLOTS);
	if (rc == 0)
		rc = wcoll__open_index(c);
	if (rc) {
		wcoll_discard(c);
		return rc;
	}
	*out = c;
	return 0;
}

void wcoll_close(wcoll *c)
{
	if (!c)
		return;
	place_forget(c->env.place, c->index);
	vindex_free(c->index);
	tail_close(c->tail);
	docmap_free(c->docs);
	free(c);
}

void wcoll_discard(wcoll *c)
{
	if (!c)
		return;
	if (c->tail_serial)
		wcoll__unlink_tail(c, c->tail_serial);
	if (c->frozen)
		wcoll__unlink_tail(c, c->frozen->serial);
	wcoll_close(c);
}

uint32_t wcoll_id(const wcoll *c)
{
	return c->id;
}

const struct coll_settings *wcoll_settings(const wcoll *c)
{
	return &c->set;
}

int wcoll_owns_tail(const wcoll *c, uint64_t serial)
{
	return serial == c->tail_serial || serial == wcoll__frozen_serial(c);
}

void wcoll_show_tail(wcoll *c, uint64_t published)
{
	if (!c->listed_serial)
		return;
	/* Unsealed, a view of it would claim what this writer publishes (a
	 * frozen one was sealed when it froze). */
	char path[INST_PATH_MAX];
	inst_tail_path(c->env.inst, c->listed_serial, path, sizeof path);
	int rc = tail_seal_left(path, published);
	if (rc && rc != ROOST_ENOENT)
		log_warn("collection '%s': cannot seal the last writer's tail %s: %s", c->name,
			 path, roost_strerror(rc));
	c->listed_serial = c->listed_frozen = 0;
	wcoll__show(c);
}

int wcoll_alter(wcoll *c, const struct coll_settings *own, uint32_t index_gen)
{
	wcoll_resolve(&c->env.dflt, own, &c->set);
	c->index_gen = index_gen;
	c->trained_gen = 0;
	c->rebuilds_held = 0;
	int rc = wcoll__check_factory(c);
	struct catalog_entry e;
	wcoll__catalog_entry(c, &e);
	catalog_put(c->env.cat, &e); /* listed already: cannot run out of slots */
	/* Rows waiting for a training take the new settings', and so does an
	 * empty tail; an index of the old ones goes with the tail's seal
	 * (wcoll_aged). */
	if (rc == 0 && (!c->index || tail_pending(c->tail) == 0))
		rc = wcoll__open_index(c);
	return rc;
}

void wcoll_trained(wcoll *c, uint32_t index_gen, uint64_t trained_gen)
{
	if (index_gen != c->index_gen || c->trained_gen)
		return;
	c->trained_gen = trained_gen;
	if (!c->index)
		wcoll__open_index(c); /* failed: rows wait in the tail (logged) */
}

void wcoll_hold_rebuilds(wcoll *c)
{
	c->rebuilds_held = 1;
}

int wcoll_rebuilds_held(const wcoll *c)
{
	return c->rebuilds_held;
}

uint32_t wcoll_stale_tails(const wcoll *c)
{
	uint32_t n = c->frozen && c->frozen->seg.count && c->frozen->seg.index_gen != c->index_gen;
	return n + (c->index && c->built_gen != c->index_gen && tail_pending(c->tail) > 0);
}

int wcoll_needs_training(const wcoll *c)
{
	return c->needs_training;
}

int wcoll_frozen(const wcoll *c)
{
	return c->frozen != NULL;
}

uint64_t wcoll_rows(const wcoll *c)
{
	return tail_pending(c->tail);
}

uint64_t wcoll_unsealed(const wcoll *c)
{
	return wcoll__frozen_rows(c) + tail_pending(c->tail);
}

int wcoll_sealable(const wcoll *c)
{
	return tail_pending(c->tail) || tail_tomb_pending(c->tail);
}

int wcoll_fits(const wcoll *c, uint64_t docs, uint64_t text_bytes, uint64_t tombs)
{
	return tail_fits(c->tail, docs, text_bytes) && tail_tomb_fits(c->tail, tombs);
}

int wcoll_reserve(wcoll *c, uint64_t docs, uint64_t text_bytes, uint64_t tombs)
{
	int rc = tail_reserve(c->tail, docs, text_bytes);
	return rc ? rc : tail_tomb_reserve(c->tail, tombs);
}

/* Ends version at the record at lsn, once. A version of the record itself
 * (two documents of one batch with one id, which brokers refuse, but a
 * log may hold anything that parses) ends just after its birth: it is
 * never seen. */
static int wcoll__end(wcoll *c, uint64_t version, uint64_t lsn)
{
	uint64_t end = version < lsn ? lsn : version + 1;
	int now;
	int rc = docmap_end(c->docs, version, end, &now);
	if (rc == 0 && now) {
		tail_tomb_append(c->tail, version, end);
		/* Tombstones age a tail like rows: each search applies those
		 * of the tail, so a seal moves them to the file. */
		if (c->tail_born_ms == 0)
			c->tail_born_ms = futex_now_ms();
	}
	return rc;
}

int wcoll_append(wcoll *c, const struct batch_view *b, uint64_t lsn)
{
	tail_append(c->tail, b, lsn);
	if (c->tail_born_ms == 0)
		c->tail_born_ms = futex_now_ms();
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < b->hdr->count; i++) {
		uint32_t len;
		const char *key = batch_key(b, i, &len);
		uint64_t ended;
		if (len && (rc = docmap_upsert(c->docs, key, len, lsn + i, &ended)) == 0 && ended)
			rc = wcoll__end(c, ended, lsn);
	}
	return rc;
}

int wcoll_delete(wcoll *c, const struct delrec_view *d, uint64_t lsn)
{
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < d->hdr->count; i++) {
		const struct delrec_id *id = &d->ids[i];
		uint64_t version = id->number;
		if (id->key_len)
			docmap_forget(c->docs, d->keys + id->key_off, id->key_len, &version);
		if (version)
			rc = wcoll__end(c, version, lsn);
	}
	return rc;
}

void wcoll_publish(wcoll *c, uint64_t end)
{
	uint64_t rows = tail_pending(c->tail), tombs = tail_tomb_pending(c->tail);
	if (rows == c->published && tombs == c->published_tombs)
		return;
	tail_publish(c->tail, end);
	c->published = rows;
	c->published_tombs = tombs;
	catalog_set_counts(c->env.cat, c->id, c->sealed_docs + wcoll__frozen_rows(c) + rows,
			   c->segments);
}

int wcoll_index_pending(wcoll *c, enum place_refusal refusal)
{
	if (!c->index)
		return 0;
	uint64_t rows = tail_pending(c->tail);
	int rc = place_add(c->env.place, c->index, tail_vectors(c->tail, 0),
			   tail_vectors(c->tail, c->indexed), rows - c->indexed, refusal);
	if (rc == 0)
		c->indexed = rows;
	c->waiting = rc == ROOST_EBUSY;
	return rc;
}

int wcoll_waiting(const wcoll *c)
{
	return c->waiting;
}

uint64_t wcoll_unindexed(const wcoll *c)
{
	return c->index ? tail_pending(c->tail) - c->indexed : 0;
}

/* An untrained index seals on age only once it holds its training
 * documents: a tail waits for more, however old, rather than train on a
 * few (it is sealed with fewer only when the next batch does not fit).
 * A tail whose rows are indexed with settings an alter replaced is due at
 * once: the next tail starts with the new ones. */
int wcoll_aged(const wcoll *c)
{
	uint64_t rows = tail_pending(c->tail);
	if (c->index && c->built_gen != c->index_gen && rows)
		return 1;
	return c->set.seal_interval_ms > 0 && c->tail_born_ms != 0 &&
	       futex_now_ms() - c->tail_born_ms >= (int64_t)c->set.seal_interval_ms &&
	       (c->index || rows == 0 || rows >= c->set.train_docs);
}

/* Trains on every row of the tail being sealed: train_docs of them when
 * it seals on age (wcoll_aged waits for them), fewer when the next batch
 * does not fit first. Waiting for more would stall the writer for good:
 * the tail can take nothing more until it is sealed. */
static int wcoll__train(wcoll *c, uint64_t gen)
{
	struct segment_docs v;
	tail_view(c->tail, &v);
	vindex *idx;
	int rc = vindex_new(&idx, c->set.index, c->set.dim, c->set.metric);
	if (rc)
		return rc;
	log_info("collection '%s': training %s on %llu vectors", c->name, c->set.index,
		 (unsigned long long)v.count);
	rc = place_train(c->env.place, idx, v.count, v.vectors);
	char path[INST_PATH_MAX];
	manifest_trained_path(c->env.inst->data_dir, c->id, gen, path, sizeof path);
	if (rc == 0)
		rc = vindex_store(idx, path, c->env.inst->data_mode);
	if (rc) {
		place_forget(c->env.place, idx);
		vindex_free(idx);
		return rc;
	}
	c->trained_gen = gen;
	c->index = idx;
	c->indexed = 0;
	c->built_gen = c->index_gen;
	return 0;
}

/* A growing list of versions. */
struct wcoll__versions {
	uint64_t *v;
	uint64_t n, cap;
};

static int wcoll__push(struct wcoll__versions *l, uint64_t version)
{
	if (l->n == l->cap) {
		uint64_t cap = l->cap ? l->cap * 2 : 256;
		uint64_t *grown = realloc(l->v, cap * sizeof *grown);
		if (!grown)
			return ROOST_ENOMEM;
		l->v = grown;
		l->cap = cap;
	}
	l->v[l->n++] = version;
	return 0;
}

/* The rows of d f admits and no record ended yet. */
static int wcoll__select_rows(const wcoll *c, const struct segment_docs *d,
			      const struct docfilter *f, struct wcoll__versions *out)
{
	int rc = 0;
	for (uint64_t r = 0; rc == 0 && r < d->count; r++) {
		struct segment_row x;
		segment_row(d, r, &x);
		if (!docmap_is_ended(c->docs, d->ids[r]) &&
		    docfilter_match(f, x.agent, x.time, x.kind, x.kind_len, x.meta, x.meta_len))
			rc = wcoll__push(out, d->ids[r]);
	}
	return rc;
}

static int wcoll__select_tail(const wcoll *c, const tail *t, const struct docfilter *f,
			      struct wcoll__versions *out)
{
	struct segment_docs d;
	tail_view(t, &d);
	d.count = tail_pending(t); /* the writer's own rows, published or not */
	return wcoll__select_rows(c, &d, f, out);
}

int wcoll_select(wcoll *c, const struct manifest *m, const struct docfilter *f, uint64_t **out,
		 uint64_t *n)
{
	struct wcoll__versions l = {0};
	uint32_t first, count;
	int rc = 0;
	manifest_segments_of(m, c->id, &first, &count);
	for (uint32_t i = first; rc == 0 && i < first + count; i++) {
		const struct manifest_segment *s = &m->segments[i];
		char path[INST_PATH_MAX];
		struct segment_docs d;
		manifest_segment_path(c->env.inst->data_dir, c->id, s->start_lsn, s->end_lsn,
				      "docs", path, sizeof path);
		rc = segment_load(path, SEGMENT_NO_VECTORS, &d);
		if (rc == 0) {
			rc = wcoll__select_rows(c, &d, f, &l);
			segment_free(&d);
		}
	}
	if (rc == 0 && c->frozen)
		rc = wcoll__select_tail(c, c->frozen->tail, f, &l);
	if (rc == 0)
		rc = wcoll__select_tail(c, c->tail, f, &l);
	if (rc) {
		free(l.v);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

int wcoll_end_all(wcoll *c, const uint64_t *versions, uint64_t n, uint64_t lsn)
{
	int rc = 0;
	for (uint64_t i = 0; rc == 0 && i < n; i++)
		rc = wcoll__end(c, versions[i], lsn);
	return rc;
}

/* Copies the frozen tail's tombstones to the new one and publishes them
 * there: readers apply the current tail's to every row, the frozen tail's
 * included, until the tombstone file has them. Only those of its own
 * records (ending at or past its start): the ones it was given when it
 * began are in the file already, written by the seal of the tail before
 * it, which was installed before it could freeze (one frozen tail at a
 * time). Carrying those too would pass every tombstone on from tail to
 * tail until none had room. */
static int wcoll__carry_tombs(tail *from, tail *to, uint64_t end)
{
	const struct tomb *t;
	uint64_t n, own = 0, start = tail_start(from);
	tail_tombs(from, &t, &n);
	for (uint64_t i = 0; i < n; i++)
		own += t[i].end_lsn >= start;
	int rc = tail_tomb_fits(to, own) ? tail_tomb_reserve(to, own) : ROOST_ETOOBIG;
	for (uint64_t i = 0; rc == 0 && i < n; i++)
		if (t[i].end_lsn >= start)
			tail_tomb_append(to, t[i].version, t[i].end_lsn);
	if (rc == 0)
		tail_publish(to, end);
	return rc;
}

/* What the worker needs of the tail about to freeze, its index moved to
 * the CPU (the writer's GPU stays with the ingest thread). */
static int wcoll__prepare_seal(wcoll *c, uint64_t end, uint64_t gen, wcoll_seal *s)
{
	uint64_t rows = tail_pending(c->tail), had = c->trained_gen;
	/* A tail of tombstones only (deletes, no adds) makes no segment. */
	int rc = c->index || !rows ? 0 : wcoll__train(c, gen);
	if (rc == 0 && rows)
		rc = wcoll_index_pending(c, PLACE_MUST_ADD);
	if (rc == 0 && rows && vindex_on_gpu(c->index))
		rc = vindex_to_cpu(c->index);
	if (rc == 0 && docmap_ended(c->docs))
		rc = docmap_tombs(c->docs, &s->tombs, &s->ntombs);
	s->data_dir = c->env.inst->data_dir;
	s->data_mode = c->env.inst->data_mode;
	s->serial = c->tail_serial;
	s->text_bytes = tail_text_used(c->tail);
	s->seg = (struct manifest_segment){.coll = c->id,
					   .index_gen = c->built_gen,
					   .start_lsn = tail_start(c->tail),
					   .end_lsn = end,
					   .count = rows};
	s->tomb_gen = s->ntombs ? gen : 0;
	s->trained_gen = c->trained_gen != had ? c->trained_gen : 0;
	return rc;
}

int wcoll_freeze(wcoll *c, uint64_t end, uint64_t gen, wcoll_seal **out)
{
	*out = NULL;
	if (c->frozen)
		return ROOST_EBUSY;
	wcoll_seal *s = calloc(1, sizeof *s);
	tail *t = NULL;
	uint64_t serial = 0;
	int rc = s ? wcoll__prepare_seal(c, end, gen, s) : ROOST_ENOMEM;
	if (rc == 0)
		rc = wcoll__create_tail(c, end, TAIL_GEN_UNKNOWN, &t, &serial);
	if (rc == 0)
		rc = wcoll__carry_tombs(c->tail, t, end);
	if (rc) {
		log_error("collection '%s': cannot freeze its tail: %s", c->name,
			  roost_strerror(rc));
		if (t) {
			tail_close(t);
			wcoll__unlink_tail(c, serial);
		}
		wcoll_seal_free(s);
		return rc;
	}
	tail_seal(c->tail, end);
	s->tail = c->tail;
	c->frozen = s;
	wcoll__use_tail(c, t, serial, TAIL_GEN_UNKNOWN);
	wcoll__show(c);
	if (s->seg.count) {
		place_forget(c->env.place, c->index);
		s->index = c->index;
		c->index = NULL;
		wcoll__open_index(c); /* failed: rows wait in the tail (logged) */
	}
	*out = s;
	return 0;
}

struct worker_job *wcoll_seal_job(wcoll_seal *s)
{
	return &s->job;
}

wcoll_seal *wcoll_seal_of(struct worker_job *j)
{
	return (wcoll_seal *)((char *)j - offsetof(wcoll_seal, job));
}

const struct manifest_segment *wcoll_seal_segment(const wcoll_seal *s)
{
	return &s->seg;
}

void wcoll_seal_gens(const wcoll_seal *s, uint64_t *tomb_gen, uint64_t *trained_gen)
{
	*tomb_gen = s->tomb_gen;
	*trained_gen = s->trained_gen;
}

static void wcoll__docs_path(const wcoll_seal *s, char *path)
{
	manifest_segment_path(s->data_dir, s->seg.coll, s->seg.start_lsn, s->seg.end_lsn, "docs",
			      path, INST_PATH_MAX);
}

int wcoll_seal_write(wcoll_seal *s)
{
	char path[INST_PATH_MAX];
	int rc = 0;
	if (s->seg.count) {
		struct segment_docs v;
		tail_view(s->tail, &v);
		v.count = s->seg.count;
		v.end_lsn = s->seg.end_lsn;
		v.text_bytes = s->text_bytes;
		manifest_index_path(s->data_dir, &s->seg, path, sizeof path);
		rc = vindex_store(s->index, path, s->data_mode);
		wcoll__docs_path(s, path);
		if (rc == 0)
			rc = segment_store(path, &v, s->data_mode);
	}
	if (rc == 0 && s->ntombs)
		rc = manifest_tomb_path(s->data_dir, s->seg.coll, s->tomb_gen, path, sizeof path);
	if (rc == 0 && s->ntombs)
		rc = tomb_store(path, s->tombs, s->ntombs, s->data_mode);
	return rc;
}

void wcoll_seal_free(wcoll_seal *s)
{
	if (!s)
		return;
	vindex_free(s->index);
	tail_close(s->tail);
	free(s->tombs);
	free(s);
}

/* The tombstone file the last manifest named, once the new one names
 * another: a reader still building a view from it finds the manifest
 * moved on and reads again. */
static void wcoll__drop_old_tombs(wcoll *c, uint64_t tomb_gen)
{
	char path[INST_PATH_MAX];
	if (c->tomb_gen && c->tomb_gen != tomb_gen &&
	    manifest_tomb_path(c->env.inst->data_dir, c->id, c->tomb_gen, path, sizeof path) == 0)
		unlink(path);
	if (tomb_gen)
		c->tomb_gen = tomb_gen;
}

void wcoll_seal_follows(wcoll *c, uint64_t gen)
{
	tail_set_gen(c->tail, gen);
	c->tail_gen = gen;
}

void wcoll_sealed(wcoll *c)
{
	wcoll_seal *s = c->frozen;
	wcoll__drop_old_tombs(c, s->tomb_gen);
	c->frozen = NULL;
	c->rebuilds_held = 0;
	wcoll__show(c);
	wcoll__unlink_tail(c, s->serial);
	c->sealed_docs += s->seg.count;
	c->segments += s->seg.count != 0;
	catalog_set_counts(c->env.cat, c->id, c->sealed_docs + c->published, c->segments);
	wcoll_seal_free(s);
}

int wcoll_copy_docs(const wcoll *c, docmap **out)
{
	return docmap_copy(c->docs, out);
}

uint64_t wcoll_ended(const wcoll *c)
{
	return docmap_ended(c->docs);
}

int wcoll_sealed_tombs(const wcoll *c, uint64_t below, struct tomb **out, uint64_t *n)
{
	int rc = docmap_tombs(c->docs, out, n);
	uint64_t kept = 0;
	for (uint64_t i = 0; rc == 0 && i < *n; i++)
		if ((*out)[i].end_lsn < below)
			(*out)[kept++] = (*out)[i];
	*n = rc == 0 ? kept : 0;
	return rc;
}

void wcoll_compacted(wcoll *c, uint32_t segments, const struct compact_done *done,
		     uint64_t tomb_gen)
{
	docmap_drop_range(c->docs, done->lo, done->hi, done->below);
	c->sealed_docs -= done->ndropped < c->sealed_docs ? done->ndropped : c->sealed_docs;
	if (c->tomb_gen != tomb_gen) {
		wcoll__drop_old_tombs(c, tomb_gen);
		c->tomb_gen = tomb_gen;
	}
	c->segments = segments;
	catalog_set_counts(c->env.cat, c->id, c->sealed_docs + wcoll__frozen_rows(c) + c->published,
			   segments);
}
