#include "ingest.h"

#include "batch.h"
#include "compact.h"
#include "ctl.h"
#include "durable.h"
#include "err.h"
#include "futex.h"
#include "inst.h"
#include "keys.h"
#include "log.h"
#include "made.h"
#include "manifest.h"
#include "place.h"
#include "ring.h"
#include "segment.h"
#include "sweep.h"
#include "tail.h"
#include "vindex.h"
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define INGEST_DEFAULT_INDEX "Flat"
#define INGEST_TEXT_PER_DOC  2048u
#define INGEST_FIRST_LSN     16u

struct ingest {
	struct ingest_config cfg;
	int lock_fd;	  /* flock on <data>/LOCK: one writer per data dir */
	struct made made; /* removed again when the start fails */
	int ctl_new;	  /* this start created the control block */
	char wal_dir[INST_PATH_MAX];
	ctl *ctl;
	ring *ring;
	wal *wal;
	keys *keys;
	struct manifest man;
	tail *tail;
	uint64_t tail_serial;
	vindex *index;		/* the open segment's index; NULL until trained */
	uint64_t indexed;	/* tail rows already added to index */
	uint64_t end;		/* every batch below it is applied */
	int64_t tail_born_ms;	/* when the tail got its first document; 0: empty */
	int64_t replay_said_ms; /* last replay progress line */
	int needs_training;
	place *place; /* --gpu; NULL: CPU only */
	int refused;  /* rows wait for room on the GPU (policy refuse) */
	/* A seal's manifest is durable but the log, the tail or the index is
	 * not switched yet (that part failed): finish it before anything. */
	int seal_committed;
};

/* One record of a group, with its parsed batch (NULL view: skipped). */
struct ingest_rec {
	struct ring_record rec;
	struct batch_view view;
	int apply;
};

/* 1 while fd is the file at path: a failed start removes the LOCK it
 * created, and a writer that opened it just before must not then hold a
 * lock on a file nobody else can find. */
static int ingest__same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static int ingest__lock_data_dir(ingest *w)
{
	char path[INST_PATH_MAX];
	snprintf(path, sizeof path, "%s/LOCK", w->cfg.inst->data_dir);
	for (int tries = 0; tries < 100; tries++) {
		int missing = made_missing(path);
		w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, w->cfg.inst->file_mode);
		if (w->lock_fd < 0)
			return roost_from_errno(errno);
		if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			log_error("data directory %s is in use by another writer",
				  w->cfg.inst->data_dir);
			return ROOST_ELOCKED;
		}
		if (ingest__same_file(w->lock_fd, path)) {
			w->made.lock = missing;
			return 0;
		}
		close(w->lock_fd);
		w->lock_fd = -1;
	}
	return ROOST_ELOCKED;
}

/* The first manifest of a new instance: the collection settings and the
 * instance's name. Nothing is written. */
static int ingest__first_manifest(const struct ingest_config *c, struct manifest *m)
{
	if (c->dim == 0) {
		log_error("new instance '%s': --dim is required", c->inst->name);
		return ROOST_EINVAL;
	}
	memset(m, 0, sizeof *m);
	m->gen = 1;
	/* LSN 0 means "no requirement" in a search's min_lsn, so the first
	 * batch gets a non-zero LSN (a ring position, 16-byte aligned). */
	m->tail_start = INGEST_FIRST_LSN;
	m->dim = c->dim;
	m->metric = c->metric < 0 ? 0 : (uint32_t)c->metric;
	snprintf(m->index, sizeof m->index, "%s", c->index ? c->index : INGEST_DEFAULT_INDEX);
	snprintf(m->name, sizeof m->name, "%s", c->inst->name);
	return 0;
}

/* A directory records the instance it belongs to; taking over another's
 * (a restored backup, a log replayed into a new instance) must be asked
 * for, since the other instance would then find its data gone. */
static int ingest__check_name(const struct ingest_config *c, const struct manifest *m)
{
	if (!m->name[0] || strcmp(m->name, c->inst->name) == 0 || c->adopt)
		return 0;
	log_error("data directory %s belongs to instance '%s', not '%s': start '%s' with it, or "
		  "take it over as '%s' with --adopt (`roost up --adopt`)",
		  c->inst->data_dir, m->name, c->inst->name, m->name, c->inst->name);
	return ROOST_EINVAL;
}

/* The command line against the instance's settings, and the index type
 * against FAISS, by building one in memory. */
static int ingest__check_settings(const struct ingest_config *c, const struct manifest *m,
				  int *needs_training)
{
	if (c->dim && c->dim != m->dim) {
		log_error("--dim %u differs from the instance's dimension %u", c->dim, m->dim);
		return ROOST_EDIM;
	}
	if (c->metric >= 0 && (uint32_t)c->metric != m->metric) {
		log_error("--metric differs from the instance's metric (%s)",
			  m->metric ? "ip" : "l2");
		return ROOST_EINVAL;
	}
	if (c->index && strcmp(c->index, m->index) != 0) {
		log_error("--index %s differs from the instance's index %s", c->index, m->index);
		return ROOST_EINVAL;
	}
	int rc = ingest__check_name(c, m);
	char why[512];
	if (rc == 0 && (rc = vindex_check_factory(m->index, m->dim, m->metric, needs_training, why,
						  sizeof why)) != 0)
		log_error(
		    "index '%s' cannot be built at dimension %u, metric %s: FAISS says \"%s\"; "
		    "--index takes a FAISS factory string such as Flat, HNSW32 or "
		    "IVF1024,Flat",
		    m->index, m->dim, m->metric ? "ip" : "l2", why);
	return rc;
}

/* The data directory, if it is there, must be a directory of ours. */
static int ingest__check_data_dir(const struct inst *in)
{
	struct stat st;
	if (lstat(in->data_dir, &st) != 0) {
		int err = errno;
		if (err == ENOENT)
			return 0;
		log_error("data directory %s: %s", in->data_dir, strerror(err));
		return roost_from_errno(err);
	}
	if (S_ISDIR(st.st_mode) && st.st_uid == getuid())
		return 0;
	log_error("data directory %s is not a directory of this user's (%s, owner uid %u)",
		  in->data_dir, S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
		  (unsigned)st.st_uid);
	return ROOST_EPERM;
}

int ingest_check(const struct ingest_config *c)
{
	struct manifest m;
	memset(&m, 0, sizeof m);
	int rc = ingest__check_data_dir(c->inst);
	if (rc == 0)
		rc = manifest_load(c->inst->data_dir, &m);
	if (rc == ROOST_ENOENT) {
		rc = ingest__first_manifest(c, &m);
	} else if (rc) {
		log_error("cannot read %s/MANIFEST: %s", c->inst->data_dir, roost_strerror(rc));
		return rc;
	}
	int needs_training;
	if (rc == 0)
		rc = ingest__check_settings(c, &m, &needs_training);
	manifest_free(&m);
	return rc;
}

/* A live writer of this instance, found before anything is created. */
static int ingest__writer_running(struct inst *in)
{
	char why[INST_WHY_MAX];
	ctl *c;
	if (inst_shm_find(in, why, sizeof why) != 0 ||
	    ctl_open(&c, in->ctl_path, CTL_READ_ONLY) != 0)
		return 0;
	pid_t pid = ctl_writer_pid(c);
	ctl_close(c);
	if (pid)
		log_error("another writer (pid %d) is running for instance '%s'", (int)pid,
			  in->name);
	return pid != 0;
}

static int ingest__new_manifest(ingest *w)
{
	int rc = ingest__first_manifest(&w->cfg, &w->man);
	if (rc == 0)
		rc = manifest_store(w->cfg.inst->data_dir, &w->man);
	if (rc)
		return rc;
	w->made.manifest = 1;
	log_info("new instance '%s': dim %u, metric %s, index %s", w->cfg.inst->name, w->man.dim,
		 w->man.metric ? "ip" : "l2", w->man.index);
	return 0;
}

/* Records this instance's name in a directory that has another (adopted)
 * or none (written before names were recorded). */
static int ingest__claim_name(ingest *w)
{
	struct manifest *m = &w->man;
	const struct inst *in = w->cfg.inst;
	if (strcmp(m->name, in->name) == 0)
		return 0;
	char old[sizeof m->name];
	memcpy(old, m->name, sizeof old);
	snprintf(m->name, sizeof m->name, "%s", in->name);
	m->gen++;
	int rc = manifest_store(in->data_dir, m);
	if (rc) {
		memcpy(m->name, old, sizeof old);
		m->gen--;
		log_error("cannot record instance '%s' in %s/MANIFEST: %s", in->name, in->data_dir,
			  roost_strerror(rc));
	} else if (old[0]) {
		log_info("adopted data directory %s of instance '%s' as '%s'", in->data_dir, old,
			 in->name);
	}
	return rc;
}

static int ingest__load_manifest(ingest *w)
{
	int rc = manifest_load(w->cfg.inst->data_dir, &w->man);
	if (rc == ROOST_ENOENT)
		rc = ingest__new_manifest(w);
	else if (rc)
		log_error("cannot read %s/MANIFEST: %s", w->cfg.inst->data_dir, roost_strerror(rc));
	if (rc)
		return rc;
	rc = ingest__check_settings(&w->cfg, &w->man, &w->needs_training);
	if (rc == 0)
		rc = ingest__claim_name(w);
	for (uint32_t i = 0; rc == 0 && i < w->man.nkeys; i++) {
		const struct manifest_key *k = &w->man.keys[i];
		rc = keys_put(w->keys, k->client_id, k->seq, k->lsn, k->count);
	}
	w->end = w->man.tail_start;
	return rc;
}

/* The open segment's index: empty, from the trained copy when there is one;
 * on the GPU when it has room. */
static int ingest__open_index(ingest *w)
{
	vindex_free(w->index);
	w->index = NULL;
	w->indexed = 0;
	int rc = 0;
	if (!w->needs_training) {
		rc = vindex_new(&w->index, w->man.index, w->man.dim, w->man.metric);
	} else if (w->man.trained_gen != 0) {
		char path[INST_PATH_MAX];
		manifest_trained_path(w->cfg.inst->data_dir, w->man.trained_gen, path, sizeof path);
		rc = vindex_load(&w->index, path);
	} /* else vectors wait in the tail until there are enough to train */
	if (rc == 0) {
		place_segment(w->place, w->index);
		ctl_set_writer_mode(w->ctl, place_mode(w->place));
	}
	return rc;
}

static int ingest__new_tail(ingest *w)
{
	char name[INST_PATH_MAX];
	struct tail_config tc = {
	    .serial = ctl_tail_serial(w->ctl) + 1,
	    .manifest_gen = w->man.gen,
	    .start_lsn = w->man.tail_start,
	    .dim = w->man.dim,
	    .metric = w->man.metric,
	    .capacity = w->cfg.seal_docs,
	    .text_capacity = w->cfg.seal_docs * INGEST_TEXT_PER_DOC,
	    .mode = w->cfg.inst->file_mode,
	};
	inst_tail_path(w->cfg.inst, tc.serial, name, sizeof name);
	tail *t;
	int rc = tail_create(&t, name, &tc);
	if (rc) {
		log_error("cannot create tail %s: %s", name, roost_strerror(rc));
		return rc;
	}
	tail_close(w->tail);
	w->tail = t;
	w->tail_serial = tc.serial;
	ctl_publish_tail(w->ctl, tc.serial);
	/* The old tail, and any a writer killed in between left: readers
	 * still mapping one keep it until they move on. */
	inst_shm_sweep_tails(w->cfg.inst, tc.serial);
	return 0;
}

static int ingest__train(ingest *w)
{
	struct segment_docs v;
	tail_view(w->tail, &v);
	if (v.count < w->cfg.train_docs)
		return ROOST_EBUSY;
	vindex *idx;
	int rc = vindex_new(&idx, w->man.index, w->man.dim, w->man.metric);
	if (rc)
		return rc;
	log_info("training %s on %llu vectors", w->man.index, (unsigned long long)v.count);
	rc = place_train(w->place, idx, v.count, v.vectors);
	char path[INST_PATH_MAX];
	manifest_trained_path(w->cfg.inst->data_dir, w->man.gen, path, sizeof path);
	if (rc == 0)
		rc = vindex_store(idx, path);
	if (rc) {
		vindex_free(idx);
		return rc;
	}
	w->man.trained_gen = w->man.gen;
	w->index = idx;
	w->indexed = 0;
	return 0;
}

/* Adds the published-but-unindexed tail rows with one add call.
 * ROOST_EBUSY (only with PLACE_MAY_REFUSE, policy refuse): the GPU has no
 * room; the rows stay pending. */
static int ingest__index_pending(ingest *w, enum place_refusal refusal)
{
	if (!w->index)
		return 0;
	uint64_t rows = tail_pending(w->tail);
	int rc = place_add(w->place, w->index, tail_vectors(w->tail, 0),
			   tail_vectors(w->tail, w->indexed), rows - w->indexed, refusal);
	if (rc == 0)
		w->indexed = rows;
	return rc;
}

static int ingest__store_segment(ingest *w, const struct segment_docs *v)
{
	char path[INST_PATH_MAX];
	manifest_segment_path(w->cfg.inst->data_dir, v->start_lsn, v->end_lsn, "index", path,
			      sizeof path);
	int rc = vindex_store(w->index, path);
	if (rc)
		return rc;
	manifest_segment_path(w->cfg.inst->data_dir, v->start_lsn, v->end_lsn, "docs", path,
			      sizeof path);
	return segment_store(path, v);
}

/* Commits the segment to a new manifest; on failure w->man is as before,
 * so that the seal can be tried again. */
static int ingest__next_manifest(ingest *w, const struct segment_docs *v)
{
	struct manifest *m = &w->man;
	struct manifest_segment *segs = realloc(m->segments, (m->nsegments + 1) * sizeof *segs);
	if (!segs)
		return ROOST_ENOMEM;
	m->segments = segs;
	free(m->keys);
	m->keys = NULL;
	int rc = keys_export(w->keys, &m->keys, &m->nkeys);
	if (rc)
		return rc;
	uint64_t tail_start = m->tail_start;
	segs[m->nsegments++] = (struct manifest_segment){
	    .start_lsn = v->start_lsn, .end_lsn = w->end, .count = v->count};
	m->tail_start = w->end;
	m->gen++;
	rc = manifest_store(w->cfg.inst->data_dir, m);
	if (rc) {
		m->nsegments--;
		m->tail_start = tail_start;
		m->gen--;
	}
	return rc;
}

/* With group access (inst.h) the published files are opened to the group,
 * for remote readers that read the data directory as another user. */
static void ingest__share_files(ingest *w)
{
	const char *dir = w->cfg.inst->data_dir;
	mode_t mode = w->cfg.inst->data_mode;
	if (mode == 0600)
		return;
	char path[INST_PATH_MAX];
	snprintf(path, sizeof path, "%s/MANIFEST", dir);
	chmod(path, mode);
	for (uint32_t i = 0; i < w->man.nsegments; i++) {
		const struct manifest_segment *s = &w->man.segments[i];
		manifest_segment_path(dir, s->start_lsn, s->end_lsn, "index", path, sizeof path);
		chmod(path, mode);
		manifest_segment_path(dir, s->start_lsn, s->end_lsn, "docs", path, sizeof path);
		chmod(path, mode);
	}
}

/* Merges small segments; a failure only costs search speed, so it is
 * logged and the durable manifest reloaded. */
static void ingest__compact(ingest *w)
{
	struct compact_config cc = {
	    .data_dir = w->cfg.inst->data_dir,
	    .small_docs = w->cfg.seal_docs / 4,
	    .max_docs = w->cfg.seal_docs,
	};
	uint32_t merged;
	int rc = compact_run(&cc, &w->man, &merged);
	if (rc == 0)
		return;
	log_warn("compaction failed: %s", roost_strerror(rc));
	manifest_free(&w->man);
	if (manifest_load(w->cfg.inst->data_dir, &w->man) != 0)
		log_error("cannot reload the manifest after a failed compaction");
}

/* Writes the tail's segment and commits it to the manifest. Nothing
 * before the manifest's rename is visible, so a failure here is retried
 * from the start. */
static int ingest__seal_commit(ingest *w, struct segment_docs *v)
{
	int rc = w->index ? 0 : ingest__train(w);
	if (rc == 0)
		rc = ingest__index_pending(w, PLACE_MUST_ADD);
	v->end_lsn = w->end;
	v->text_bytes = tail_text_used(w->tail);
	if (rc == 0)
		rc = ingest__store_segment(w, v);
	if (rc == 0)
		rc = ingest__next_manifest(w, v);
	return rc;
}

/* After the commit: each step can be repeated, so a failure here is
 * retried from the first one. */
static int ingest__seal_finish(ingest *w, const struct segment_docs *v)
{
	int rc = w->wal ? wal_rotate(w->wal, w->man.tail_start) : 0;
	if (rc)
		return rc;
	ingest__compact(w);
	ingest__share_files(w);
	if (v->start_lsn != w->man.tail_start && (rc = ingest__new_tail(w)) != 0)
		return rc;
	return ingest__open_index(w);
}

/* Turns the tail into a segment: index and documents to disk, a new
 * manifest, a shorter log and a fresh tail. Everything appended is
 * published first, so w->end is the segment's end. On failure nothing
 * more may be appended until a retry succeeds (ingest_run stalls). */
static int ingest__seal(ingest *w)
{
	struct segment_docs v;
	tail_view(w->tail, &v);
	if (v.count == 0 && !w->seal_committed)
		return 0;
	int rc = w->seal_committed ? 0 : ingest__seal_commit(w, &v);
	if (rc == 0) {
		w->seal_committed = 1;
		rc = ingest__seal_finish(w, &v);
	}
	if (rc) {
		log_error("sealing the tail failed: %s", roost_strerror(rc));
		return rc;
	}
	w->seal_committed = 0;
	w->tail_born_ms = 0;
	log_info("sealed segment %016llx: %llu documents (manifest gen %llu)",
		 (unsigned long long)v.start_lsn, (unsigned long long)v.count,
		 (unsigned long long)w->man.gen);
	return 0;
}

static void ingest__publish(ingest *w, uint64_t end)
{
	w->end = end;
	tail_publish(w->tail, end);
	ctl_advance(w->ctl, CTL_APPLIED, end);
	ctl_advance(w->ctl, CTL_PUBLISHED, end);
	ctl_wake(w->ctl);
}

/* Applies one logged batch to the tail. When it is full (only while
 * replaying: ingest__collect sizes live groups to fit) it seals first. */
static int ingest__apply(ingest *w, uint64_t lsn, const struct batch_view *b)
{
	const struct batch_header *h = b->hdr;
	if (!tail_fits(w->tail, h->count, h->text_bytes)) {
		int rc = ingest__index_pending(w, PLACE_MUST_ADD);
		if (rc)
			return rc;
		ingest__publish(w, lsn);
		rc = ingest__seal(w);
		if (rc)
			return rc;
	}
	int rc = tail_reserve(w->tail, h->count, h->text_bytes);
	if (rc) {
		log_error("cannot reserve shared memory for the tail: %s", roost_strerror(rc));
		return rc;
	}
	tail_append(w->tail, b, lsn);
	if (w->tail_born_ms == 0)
		w->tail_born_ms = futex_now_ms();
	ctl_client_applied(w->ctl, h->client_id, h->seq);
	ctl_count_documents(w->ctl, h->count);
	return keys_put(w->keys, h->client_id, h->seq, lsn, h->count);
}

/* Parses a batch from the ring or the log; 0 when it should be applied. */
static int ingest__admit(ingest *w, uint64_t lsn, const void *data, uint32_t len,
			 struct batch_view *view)
{
	int rc = batch_parse(data, len, w->man.dim, view);
	if (rc) {
		log_error("batch at LSN %llu fails its checks; skipped", (unsigned long long)lsn);
		return rc;
	}
	if (keys_seen(w->keys, view->hdr->client_id, view->hdr->seq)) {
		log_warn("batch at LSN %llu repeats key (%llx, %llu); skipped",
			 (unsigned long long)lsn, (unsigned long long)view->hdr->client_id,
			 (unsigned long long)view->hdr->seq);
		/* Its broker must not hand out ids that will never exist. */
		ctl_client_dropped(w->ctl, view->hdr->client_id, lsn);
		return ROOST_EKEY;
	}
	return 0;
}

/* A long log takes a while to replay: say how far it got, every second. */
static void ingest__replay_progress(ingest *w)
{
	int64_t now = futex_now_ms();
	if (w->replay_said_ms == 0)
		w->replay_said_ms = now;
	if (now - w->replay_said_ms < 1000)
		return;
	w->replay_said_ms = now;
	log_info("replaying the log: at LSN %llu, %llu documents in the tail",
		 (unsigned long long)w->end, (unsigned long long)tail_pending(w->tail));
}

static int ingest__replay_one(void *arg, uint64_t lsn, uint64_t next, const void *payload,
			      uint32_t len)
{
	ingest *w = arg;
	struct batch_view view;
	if (ingest__admit(w, lsn, payload, len, &view) == 0) {
		int rc = ingest__apply(w, lsn, &view);
		if (rc)
			return rc;
		if (tail_pending(w->tail) - w->indexed >= 16384 &&
		    (rc = ingest__index_pending(w, PLACE_MUST_ADD)))
			return rc;
	}
	w->end = next;
	ingest__replay_progress(w);
	return 0;
}

/* The control block outlives writers, and replay applies batches again:
 * after recovery the document count is recounted, not accumulated. */
static void ingest__count(ingest *w)
{
	uint64_t docs = tail_pending(w->tail);
	for (uint32_t i = 0; i < w->man.nsegments; i++)
		docs += w->man.segments[i].count;
	ctl_set_documents(w->ctl, docs);
}

static void ingest__seed_key(void *arg, const struct manifest_key *k)
{
	struct ctl_key key = {.seq = k->seq, .lsn = k->lsn, .count = k->count};
	ctl_client_seed(arg, k->client_id, &key);
}

static int ingest__replay(ingest *w)
{
	uint64_t end;
	int rc = wal_replay(w->wal_dir, w->man.tail_start, ingest__replay_one, w, &end);
	if (rc) {
		log_error("log replay from %s failed: %s", w->wal_dir, roost_strerror(rc));
		return rc;
	}
	if (end > w->end)
		w->end = end;
	rc = ingest__index_pending(w, PLACE_MUST_ADD);
	if (rc)
		return rc;
	/* A new control block was seeded with the manifest's keys; brokers
	 * need those of the log too, or the retry of a batch logged before the
	 * block was lost (a reboot) would be taken for a new one. */
	if (w->ctl_new)
		keys_each(w->keys, ingest__seed_key, w->ctl);
	ctl_advance(w->ctl, CTL_DURABLE, w->end);
	ingest__publish(w, w->end);
	ingest__count(w);
	log_info("recovered to LSN %llu: %llu segments, %llu documents in the tail",
		 (unsigned long long)w->end, (unsigned long long)w->man.nsegments,
		 (unsigned long long)tail_pending(w->tail));
	return 0;
}

/* The runtime dir and the shared-memory directory, made and checked. */
static int ingest__open_shm(ingest *w, int *made)
{
	char why[INST_WHY_MAX];
	int rc = inst_make_run_dir(w->cfg.inst, why, sizeof why);
	if (rc == 0)
		rc = inst_shm_make(w->cfg.inst, made, why, sizeof why);
	if (rc)
		log_error("%s", why[0] ? why : roost_strerror(rc));
	return rc;
}

static int ingest__open_ctl(ingest *w)
{
	struct ctl_config cc = {
	    .dim = w->man.dim,
	    .metric = w->man.metric,
	    .index = w->man.index,
	    .ring_capacity = w->cfg.ring_capacity,
	    .clients = w->cfg.clients,
	    .mode = w->cfg.inst->file_mode,
	};
	int created;
	int rc = ingest__open_shm(w, &w->made.shm);
	if (rc)
		return rc;
	rc = ctl_open_writer(&w->ctl, w->cfg.inst->ctl_path, &cc, &created);
	if (rc == ROOST_ELOCKED)
		log_error("another writer is running for instance '%s'", w->cfg.inst->name);
	else if (rc)
		log_error("cannot open %s: %s", w->cfg.inst->ctl_path, roost_strerror(rc));
	if (rc == 0 && created)
		keys_each(w->keys, ingest__seed_key, w->ctl);
	/* Like the ring's size, the table's is fixed while the block exists. */
	struct ctl_settings cs;
	if (rc == 0)
		ctl_settings(w->ctl, &cs);
	if (rc == 0 && w->cfg.clients && cs.clients != w->cfg.clients)
		log_warn("the control block has %u client slots; --clients %u applies to a new one",
			 cs.clients, w->cfg.clients);
	w->ctl_new = rc == 0 && created;
	return rc;
}

/* Opens the ring, or creates it continuing the LSN sequence of the log. */
static int ingest__open_ring(ingest *w)
{
	const char *name = w->cfg.inst->ring_path;
	int rc = ring_open(&w->ring, name, 0, RING_CONSUMER);
	if (rc == ROOST_ENOENT) {
		struct ring_config rcfg = {
		    .capacity = w->cfg.ring_capacity,
		    .start_pos = w->end,
		    .mode = w->cfg.inst->file_mode,
		    .dead_timeout_ms = w->cfg.dead_timeout_ms,
		};
		rc = ring_create(&w->ring, name, &rcfg);
	}
	if (rc) {
		log_error("cannot open the ring %s: %s", name, roost_strerror(rc));
		return rc;
	}
	uint64_t head = ring_head(w->ring), reserve = ring_reserve(w->ring);
	if (w->end > reserve) {
		log_error("the ring %s ends at %llu, before the log (%llu): it belongs to other "
			  "data; stop the brokers and remove it",
			  name, (unsigned long long)reserve, (unsigned long long)w->end);
		return ROOST_EVERSION;
	}
	if (head > w->end) {
		log_warn("the ring starts at %llu, after the log's end %llu",
			 (unsigned long long)head, (unsigned long long)w->end);
		w->end = head;
	}
	ctl_set_ring_capacity(w->ctl, ring_capacity(w->ring));
	return 0;
}

static int ingest__open_place(ingest *w)
{
	const struct ingest_config *c = &w->cfg;
	struct place_config pc = {
	    .device = c->gpu_device,
	    .temp_bytes = c->gpu_temp_bytes,
	    .budget_bytes = c->gpu_budget_bytes,
	    .budget_percent = c->gpu_budget_percent,
	    .segment_vectors = c->seal_docs,
	    .policy = c->gpu_on_pressure,
	};
	return place_open(&w->place, &pc);
}

static int ingest__make_data_dir(const struct inst *in)
{
	int rc = durable_mkdirs(in->data_dir, in->dir_mode);
	if (rc == 0)
		rc = inst_check_data_dir(in);
	if (rc)
		log_error("cannot create data directory %s: %s", in->data_dir, roost_strerror(rc));
	return rc;
}

int ingest_open(ingest **out, const struct ingest_config *cfg)
{
	ingest *w = calloc(1, sizeof *w);
	if (!w)
		return ROOST_ENOMEM;
	w->cfg = *cfg;
	w->lock_fd = -1;
	snprintf(w->wal_dir, sizeof w->wal_dir, "%s/wal", cfg->inst->data_dir);
	made_init(&w->made, cfg->inst);
	/* What can be refused is refused before anything is created; then
	 * the GPU: a writer that cannot have it stops before it changes
	 * anything. */
	int rc = ingest_check(cfg);
	if (rc == 0 && ingest__writer_running(cfg->inst))
		rc = ROOST_ELOCKED;
	if (rc == 0 && cfg->gpu)
		rc = ingest__open_place(w);
	if (rc == 0)
		rc = ingest__make_data_dir(cfg->inst);
	if (rc == 0)
		rc = ingest__lock_data_dir(w);
	if (rc == 0)
		rc = keys_new(&w->keys);
	if (rc == 0)
		rc = ingest__load_manifest(w);
	if (rc == 0)
		ingest__share_files(w);
	if (rc == 0)
		rc = sweep_data_dir(cfg->inst->data_dir, &w->man);
	if (rc == 0)
		rc = place_check_index(w->place, w->man.index, w->man.dim, w->man.metric);
	if (rc == 0)
		rc = ingest__open_ctl(w);
	if (rc == 0)
		rc = ingest__new_tail(w);
	if (rc == 0)
		rc = ingest__open_index(w);
	if (rc == 0)
		rc = ingest__replay(w);
	if (rc == 0)
		rc = ingest__open_ring(w);
	if (rc == 0) {
		w->made.wal = made_missing(w->wal_dir);
		rc = wal_open(&w->wal, w->wal_dir, w->end);
	}
	if (rc) {
		made_undo(&w->made);
		ingest_close(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* Collects committed records from pos: waits for the first, takes what is
 * already there after it, and stops before a batch the tail cannot hold,
 * so a group is never split by a seal. Returns the count; *full is set
 * when not even the first batch fits. */
static uint32_t ingest__collect(ingest *w, uint64_t pos, struct ingest_rec *recs, int *full)
{
	uint32_t n = 0;
	uint64_t docs = 0, text = 0;
	*full = 0;
	while (n < w->cfg.group_max) {
		struct ingest_rec *r = &recs[n];
		if (ring_read(w->ring, pos, n == 0 ? 200 : 0, &r->rec) != 0)
			break;
		r->apply = ingest__admit(w, r->rec.pos, r->rec.data, r->rec.len, &r->view) == 0;
		if (r->apply) {
			const struct batch_header *h = r->view.hdr;
			if (!tail_fits(w->tail, docs + h->count, text + h->text_bytes)) {
				*full = n == 0;
				break;
			}
			docs += h->count;
			text += h->text_bytes;
		}
		pos = r->rec.next;
		n++;
	}
	return n;
}

static int ingest__log_group(ingest *w, struct ingest_rec *recs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!recs[i].apply)
			continue;
		const struct ring_record *r = &recs[i].rec;
		int rc = wal_append(w->wal, r->pos, r->next, r->data, r->len);
		if (rc)
			return rc;
	}
	return wal_sync(w->wal);
}

/* Reserves the tail memory a group needs before any of it is logged: a
 * full memory file system then stalls the writer as a full disk does,
 * with the group still in the ring. */
static int ingest__reserve_group(ingest *w, const struct ingest_rec *recs, uint32_t n)
{
	uint64_t docs = 0, text = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!recs[i].apply)
			continue;
		docs += recs[i].view.hdr->count;
		text += recs[i].view.hdr->text_bytes;
	}
	return tail_reserve(w->tail, docs, text);
}

/* ROOST_EBUSY: applied, but refused a place in the index for now. */
static int ingest__apply_group(ingest *w, struct ingest_rec *recs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!recs[i].apply)
			continue;
		int rc = ingest__apply(w, recs[i].rec.pos, &recs[i].view);
		if (rc)
			return rc;
	}
	return ingest__index_pending(w, PLACE_MAY_REFUSE);
}

/* A tail older than the seal interval is sealed even if not full, which
 * bounds how far behind remote readers (segments only) can be. An
 * untrained index cannot seal fewer than --train-docs documents: such a
 * tail waits for more, however old, instead of failing its seal. */
static int ingest__aged(const ingest *w)
{
	return w->cfg.seal_interval_ms > 0 && w->tail_born_ms != 0 &&
	       futex_now_ms() - w->tail_born_ms >= w->cfg.seal_interval_ms &&
	       (w->index || tail_pending(w->tail) >= w->cfg.train_docs);
}

/* Waits up to ms, or less when asked to stop. */
static void ingest__pause(volatile sig_atomic_t *stop, int ms)
{
	for (int i = 0; i < ms / 50 && !*stop; i++)
		usleep(50 * 1000);
}

/* Says why nothing is acknowledged (brokers put the mode in their BUSY
 * answers), as "stalled: <step> disk full|not writable|failed" ("tail
 * shared memory full" for the tail), and waits before the failed step is
 * tried again. */
static void ingest__stall(ingest *w, const char *step, int rc, volatile sig_atomic_t *stop)
{
	char mode[64];
	int memory = strcmp(step, "tail") == 0;
	snprintf(mode, sizeof mode, "stalled: %s %s", step,
		 rc == ROOST_ENOSPC  ? (memory ? "shared memory full" : "disk full")
		 : rc == ROOST_EPERM ? "not writable"
				     : "failed");
	ctl_set_writer_mode(w->ctl, mode);
	ingest__pause(stop, 1000);
}

/* Policy refuse: rows the GPU had no room for are retried before anything
 * more is taken from the ring, so brokers wait and then answer with the
 * writer mode. An aged tail is still sealed, which takes its index off the
 * GPU. ROOST_EBUSY while refusing. */
static int ingest__retry_refused(ingest *w, volatile sig_atomic_t *stop)
{
	if (!w->refused)
		return 0;
	int rc = ingest__index_pending(w, PLACE_MAY_REFUSE);
	ctl_set_writer_mode(w->ctl, place_mode(w->place));
	if (rc != ROOST_EBUSY || ingest__aged(w)) {
		w->refused = 0;
		return rc != ROOST_EBUSY ? rc : ingest__seal(w);
	}
	ingest__pause(stop, 1000);
	return ROOST_EBUSY;
}

int ingest_run(ingest *w, volatile sig_atomic_t *stop)
{
	struct ingest_rec *recs = calloc(w->cfg.group_max, sizeof *recs);
	if (!recs)
		return ROOST_ENOMEM;
	ctl_set_writer_mode(w->ctl, place_mode(w->place));
	int rc = 0;
	while (!*stop) {
		rc = ingest__retry_refused(w, stop);
		if (rc == ROOST_EBUSY) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		int full;
		uint32_t n = ingest__collect(w, w->end, recs, &full);
		if ((full || ingest__aged(w) || w->seal_committed) && (rc = ingest__seal(w)) != 0) {
			/* The group stays in the ring, the tail as it was. */
			ingest__stall(w, "seal", rc, stop);
			rc = 0;
			continue;
		}
		if (n == 0)
			continue;
		if ((rc = ingest__reserve_group(w, recs, n)) != 0) {
			log_error("cannot reserve shared memory for the tail: %s; retrying",
				  roost_strerror(rc));
			ingest__stall(w, "tail", rc, stop);
			rc = 0;
			continue;
		}
		uint64_t end = recs[n - 1].rec.next;
		rc = ingest__log_group(w, recs, n);
		if (rc) {
			/* Nothing of the group counts: it stays in the ring and is
			 * retried, so no acknowledged write is lost. */
			log_error("log write failed: %s; retrying", roost_strerror(rc));
			ingest__stall(w, "log", rc, stop);
			rc = 0;
			continue;
		}
		ctl_advance(w->ctl, CTL_DURABLE, end);
		ctl_wake(w->ctl);
		rc = ingest__apply_group(w, recs, n);
		ctl_set_writer_mode(w->ctl, place_mode(w->place));
		if (rc == ROOST_EBUSY) {
			w->refused = 1; /* in the tail, searchable; indexed once there is room */
			rc = 0;
		}
		if (rc)
			break;
		ingest__publish(w, end);
		ring_release(w->ring, end);
	}
	free(recs);
	return rc;
}

void ingest_close(ingest *w)
{
	if (!w)
		return;
	wal_close(w->wal);
	ring_close(w->ring);
	vindex_free(w->index);
	place_close(w->place); /* after the index, which may hold GPU memory */
	tail_close(w->tail);
	ctl_close(w->ctl);
	keys_free(w->keys);
	manifest_free(&w->man);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	free(w);
}
