#include "ingest.h"

#include "batch.h"
#include "catalog.h"
#include "collrec.h"
#include "compact.h"
#include "ctl.h"
#include "delrec.h"
#include "docfilter.h"
#include "docmap.h"
#include "fork.h"
#include "durable.h"
#include "err.h"
#include "futex.h"
#include "inst.h"
#include "keys.h"
#include "killpoint.h"
#include "log.h"
#include "made.h"
#include "manifest.h"
#include "mstat.h"
#include "place.h"
#include "rebuild.h"
#include "ring.h"
#include "segment.h"
#include "sweep.h"
#include "vindex.h"
#include "wal.h"
#include "wcoll.h"
#include "wire.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INGEST_DEFAULT_INDEX "Flat"
#define INGEST_FIRST_LSN     16u
/* The largest tail: the tail's own limit. */
#define INGEST_MAX_SEAL_DOCS (1u << 24)
/* A merged segment holds at most this many rows, or this many seals'
 * worth if that is more: a merge of the largest ones costs that much
 * memory and rewriting. Below it, segments stay logarithmic in number. */
#define INGEST_MERGED_DOCS  (1u << 20)
#define INGEST_MERGED_SEALS 16u
/* The sealer and the merger run at this much lower a priority: on a
 * machine short of cores the ingest thread, which adds wait for, gets the
 * CPU first (the sealer's lag, should readers starve it, is logged). */
#define INGEST_WORKER_NICE 10
/* The start-up read of the log's times reached the manifest's catalog
 * LSN: replay shows the rest. */
#define INGEST_SAW_DONE 1
/* A wait for the last seal at least this long is logged. */
#define INGEST_SEAL_LAG_MS 20

struct ingest {
	struct ingest_config cfg;
	int lock_fd;	  /* flock on <data>/LOCK: one writer per data dir */
	struct made made; /* removed again when the start fails */
	int ctl_new;	  /* this start created the control block */
	char wal_dir[INST_PATH_MAX];
	ctl *ctl;
	catalog *cat;
	ring *ring;
	wal *wal;
	mstat *metrics; /* NULL: not counted */
	keys *keys;
	/* The state of the collections: stored up to man.gen, plus creates
	 * and drops applied since (their records are in the log). */
	struct manifest man;
	wcoll **colls; /* one per man.colls entry, in the same (id) order */
	/* Per collection, while collecting: documents, text bytes and (at
	 * most) tombstones of the group. */
	uint64_t *group_docs, *group_text, *group_tombs;
	uint64_t end;		/* every record below it is applied */
	int64_t replay_said_ms; /* last replay progress line */
	int replaying;
	int recovering; /* from opening the collections to the end of replay */
	place *place;	/* --gpu; NULL: CPU only */
	int sweep_due;	/* a dropped collection's files wait for a stored manifest */
	/* Off this thread: frozen tails' segments written, segments merged.
	 * Each finished job is installed here, between two groups. */
	worker *sealer, *merger;
	struct ingest_merge *merging; /* the merge or rebuild handed to merger */
	int64_t sealed_ms;	      /* the last seal's install (or the start) */
	int rest_planned;	      /* merges at rest planned since that seal */
	int merge_held;		      /* a merge failed: none planned until a seal */
	wcoll_seal *installing;	      /* written, its manifest not stored yet */
	/* A seal's files could not be written: nothing more is taken in
	 * until they are (the writer stalls, as on a failed log write). */
	int seal_failing;
	/* A fork's seals leave the log as it is: the fork record, synced
	 * past w->end, lies in the file a rotation would start. */
	int rotate_held;
	/* The highest manifest generation stored or promised to a file that a
	 * manifest will name (a frozen tail's tombstone and trained files). */
	uint64_t gen_top;
};

/* A compaction, or a rebuild of one segment's index, as the merger's job:
 * one of c and r. */
struct ingest_merge {
	struct worker_job job;
	compact_job *c;
	rebuild_job *r;
};

enum ingest_kind { INGEST_BATCH, INGEST_DELETE, INGEST_COLL };

/* One record of a group, parsed (apply 0: skipped). */
struct ingest_rec {
	struct ring_record rec;
	enum ingest_kind kind;
	struct batch_view view;
	struct delrec_view del;
	struct collrec coll;
	uint32_t at; /* a batch's or delete's collection: its position in colls */
	int apply;
};

/* ---- the data directory and the manifest ---- */

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

static const char *ingest__default_index(const struct ingest_config *c)
{
	return c->index ? c->index : INGEST_DEFAULT_INDEX;
}

/* The first manifest of a new instance: its name and, with --dim, the
 * collection "default". Nothing is written. */
static int ingest__first_manifest(const struct ingest_config *c, struct manifest *m)
{
	memset(m, 0, sizeof *m);
	m->gen = 1;
	m->version = MANIFEST_VERSION;
	/* LSN 0 means "no requirement" in a search's min_lsn, so the first
	 * record gets a non-zero LSN (a ring position, 16-byte aligned). */
	m->tail_start = m->catalog_lsn = INGEST_FIRST_LSN;
	m->next_coll = COLL_DEFAULT_ID;
	snprintf(m->name, sizeof m->name, "%s", c->inst->name);
	if (c->dim == 0)
		return 0;
	struct manifest_coll d = {
	    .id = COLL_DEFAULT_ID,
	    .settings = {.dim = c->dim, .metric = c->metric < 0 ? 0 : (uint32_t)c->metric},
	    .tail_start = INGEST_FIRST_LSN};
	snprintf(d.name, sizeof d.name, "%s", COLL_DEFAULT);
	snprintf(d.settings.index, sizeof d.settings.index, "%s", ingest__default_index(c));
	snprintf(d.settings.indexed_keys, sizeof d.settings.indexed_keys, "%s",
		 c->indexed_keys ? c->indexed_keys : "");
	m->next_coll = COLL_DEFAULT_ID + 1;
	return manifest_add_coll(m, &d);
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

/* --dim, --metric, --index and --indexed-keys describe the collection
 * "default": they
 * must match it, where it exists. */
static int ingest__check_default(const struct ingest_config *c, const struct manifest *m)
{
	const struct manifest_coll *d = manifest_coll_named(m, COLL_DEFAULT);
	if (!d) {
		if (c->dim || c->metric >= 0 || c->index || c->indexed_keys)
			log_warn("--dim, --metric, --index and --indexed-keys describe the "
				 "collection '%s', which "
				 "this instance does not have: they are ignored",
				 COLL_DEFAULT);
		return 0;
	}
	const struct coll_settings *s = &d->settings;
	if (c->dim && c->dim != s->dim) {
		log_error("--dim %u differs from the dimension %u of collection '%s'", c->dim,
			  s->dim, COLL_DEFAULT);
		return ROOST_EDIM;
	}
	if (c->metric >= 0 && (uint32_t)c->metric != s->metric) {
		log_error("--metric differs from the metric (%s) of collection '%s'",
			  s->metric ? "ip" : "l2", COLL_DEFAULT);
		return ROOST_EINVAL;
	}
	/* An alter changed it since: the manifest says what it is now. */
	if (c->index && strcmp(c->index, s->index) != 0 && d->index_gen) {
		log_info("collection '%s' was altered to index %s; --index %s is its index at its "
			 "creation and is not compared",
			 COLL_DEFAULT, s->index, c->index);
	} else if (c->index && strcmp(c->index, s->index) != 0) {
		log_error("--index %s differs from the index %s of collection '%s'", c->index,
			  s->index, COLL_DEFAULT);
		return ROOST_EINVAL;
	}
	if (c->indexed_keys && strcmp(c->indexed_keys, s->indexed_keys) != 0) {
		log_error("--indexed-keys '%s' differs from the indexed keys '%s' of collection "
			  "'%s'",
			  c->indexed_keys, s->indexed_keys, COLL_DEFAULT);
		return ROOST_EINVAL;
	}
	return 0;
}

/* Every collection's index type must still be one FAISS builds. */
static int ingest__check_indexes(const struct manifest *m)
{
	for (uint32_t i = 0; i < m->ncolls; i++) {
		const struct manifest_coll *mc = &m->colls[i];
		const struct coll_settings *s = &mc->settings;
		char why[512];
		int needs_training;
		if (vindex_check_factory(s->index, s->dim, s->metric, &needs_training, why,
					 sizeof why) != 0) {
			log_error("collection '%s': index '%s' cannot be built at dimension %u, "
				  "metric %s: %s; --index takes a FAISS factory "
				  "string such as Flat, HNSW32 or IVF1024,Flat",
				  mc->name, s->index, s->dim, s->metric ? "ip" : "l2", why);
			return ROOST_EINVAL;
		}
	}
	return 0;
}

static int ingest__check_settings(const struct ingest_config *c, const struct manifest *m)
{
	int rc = ingest__check_default(c, m);
	if (rc == 0)
		rc = ingest__check_name(c, m);
	if (rc == 0)
		rc = ingest__check_indexes(m);
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
	if (rc == 0)
		rc = ingest__check_settings(c, &m);
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
		rc = manifest_store(w->cfg.inst->data_dir, &w->man, w->cfg.inst->data_mode);
	if (rc)
		return rc;
	w->made.manifest = 1;
	if (w->man.ncolls)
		log_info("new instance '%s': collection '%s' with dim %u, metric %s, index %s",
			 w->cfg.inst->name, COLL_DEFAULT, w->cfg.dim,
			 w->cfg.metric > 0 ? "ip" : "l2", ingest__default_index(&w->cfg));
	else
		log_info("new instance '%s' without collections: create one with `roost "
			 "collections --name %s create NAME --dim D`",
			 w->cfg.inst->name, w->cfg.inst->name);
	return 0;
}

/* Stores the manifest once more when it records another instance's name
 * (adopted), none (written before names were), or an older version. */
static int ingest__update_manifest(ingest *w)
{
	struct manifest *m = &w->man;
	const struct inst *in = w->cfg.inst;
	if (strcmp(m->name, in->name) == 0 && m->version == MANIFEST_VERSION)
		return 0;
	struct manifest next;
	int rc = manifest_copy(m, &next);
	if (rc)
		return rc;
	snprintf(next.name, sizeof next.name, "%s", in->name);
	next.gen++;
	rc = manifest_store(in->data_dir, &next, in->data_mode);
	if (rc) {
		log_error("cannot rewrite %s/MANIFEST: %s", in->data_dir, roost_strerror(rc));
		manifest_free(&next);
		return rc;
	}
	if (m->name[0] && strcmp(m->name, in->name) != 0)
		log_info("adopted data directory %s of instance '%s' as '%s'", in->data_dir,
			 m->name, in->name);
	if (m->version < 3)
		log_info("data directory %s was written before collections (manifest version "
			 "%u): its documents are now collection '%s'; rewritten as version %u",
			 in->data_dir, m->version, COLL_DEFAULT, MANIFEST_VERSION);
	else if (m->version != MANIFEST_VERSION)
		log_info("data directory %s: manifest version %u rewritten as version %u",
			 in->data_dir, m->version, MANIFEST_VERSION);
	manifest_free(m);
	*m = next;
	m->version = MANIFEST_VERSION;
	return 0;
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
	rc = ingest__check_settings(&w->cfg, &w->man);
	if (rc == 0)
		rc = ingest__update_manifest(w);
	for (uint32_t i = 0; rc == 0 && i < w->man.nkeys; i++) {
		const struct manifest_key *k = &w->man.keys[i];
		rc = keys_put(w->keys, k->client_id, k->seq, k->lsn, k->count);
	}
	w->end = w->man.tail_start;
	return rc;
}

/* Files are written with the instance's data mode (inst.h); those an
 * earlier run wrote with another access setting are brought to it, so
 * that switching group access on opens the data to remote readers that
 * read it as another user, and switching it off closes it again. */
static void ingest__chmod_published(const ingest *w)
{
	const char *dir = w->cfg.inst->data_dir;
	mode_t mode = w->cfg.inst->data_mode;
	char path[INST_PATH_MAX];
	snprintf(path, sizeof path, "%s/MANIFEST", dir);
	chmod(path, mode);
	for (uint32_t i = 0; i < w->man.nsegments; i++) {
		const struct manifest_segment *s = &w->man.segments[i];
		manifest_index_path(dir, s, path, sizeof path);
		chmod(path, mode);
		manifest_segment_path(dir, s->coll, s->start_lsn, s->end_lsn, "docs", path,
				      sizeof path);
		chmod(path, mode);
	}
	for (uint32_t i = 0; i < w->man.ncolls; i++) {
		const struct manifest_coll *c = &w->man.colls[i];
		if (c->tomb_gen &&
		    manifest_tomb_path(dir, c->id, c->tomb_gen, path, sizeof path) == 0)
			chmod(path, mode);
	}
}

static uint32_t ingest__pos(const ingest *w, uint32_t id)
{
	const struct manifest_coll *mc = manifest_coll_find(&w->man, id);
	return mc ? (uint32_t)(mc - w->man.colls) : UINT32_MAX;
}

/* Where a replay must start: no collection's records may be missed. */
static void ingest__replay_point(struct manifest *m)
{
	m->tail_start = m->catalog_lsn;
	for (uint32_t i = 0; i < m->ncolls; i++)
		if (m->colls[i].tail_start < m->tail_start)
			m->tail_start = m->colls[i].tail_start;
}

/* The state as a manifest of the next generation: the log is covered
 * from the smallest LSN any collection still needs, and a collection with
 * an empty tail needs nothing below the applied end. */
static uint64_t ingest__new_gen(ingest *w)
{
	if (w->gen_top < w->man.gen)
		w->gen_top = w->man.gen;
	return ++w->gen_top;
}

static int ingest__next_manifest(ingest *w, struct manifest *next)
{
	int rc = manifest_copy(&w->man, next);
	if (rc)
		return rc;
	next->gen = ingest__new_gen(w);
	next->version = MANIFEST_VERSION;
	next->catalog_lsn = w->end;
	for (uint32_t i = 0; i < next->ncolls; i++) {
		struct manifest_coll *mc = &next->colls[i];
		if (wcoll_rows(w->colls[i]) == 0 && !wcoll_frozen(w->colls[i]) &&
		    mc->tail_start < w->end)
			mc->tail_start = w->end;
	}
	ingest__replay_point(next);
	free(next->keys);
	next->keys = NULL;
	rc = keys_export(w->keys, &next->keys, &next->nkeys);
	if (rc)
		manifest_free(next);
	return rc;
}

/* A dropped collection's files go once no stored manifest names them,
 * and no job is writing files that none names yet. */
static void ingest__sweep(ingest *w)
{
	int busy = w->merging || w->installing || (w->sealer && worker_queued(w->sealer));
	if (w->sweep_due && !busy && sweep_data_dir(w->cfg.inst->data_dir, &w->man) == 0)
		w->sweep_due = 0;
}

/* The LSN retention keeps history from (RETAIN_NO_HORIZON: none). A
 * window whose log files cannot be listed keeps everything this time. */
static int64_t ingest__wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* what file mtimes are in */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t ingest__horizon(ingest *w)
{
	if (w->cfg.retain.kind != RETAIN_WINDOW)
		return retain_horizon(&w->cfg.retain, NULL, 0, 0, 0);
	struct wal_file *older = NULL;
	size_t n = 0;
	if (!w->wal)
		return 0; /* replaying: nothing is deleted until the log is open */
	int rc = wal_older_files(w->wal, &older, &n);
	if (rc) {
		log_warn("cannot list the log files for the retention window: %s; keeping all",
			 roost_strerror(rc));
		return 0;
	}
	uint64_t h =
	    retain_horizon(&w->cfg.retain, older, n, wal_current_start(w->wal), ingest__wall_ms());
	free(older);
	return h;
}

static uint64_t ingest__min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Bytes per row of a collection's sealed segments (index and documents);
 * 0 when it has none, or none can be looked at. */
static uint64_t ingest__row_bytes(const ingest *w, uint32_t id)
{
	const char *dir = w->cfg.inst->data_dir;
	uint32_t first, n;
	uint64_t bytes = 0, rows = 0;
	char path[INST_PATH_MAX];
	struct stat st;
	manifest_segments_of(&w->man, id, &first, &n);
	for (uint32_t i = first; i < first + n; i++) {
		const struct manifest_segment *s = &w->man.segments[i];
		rows += s->count;
		if (manifest_index_path(dir, s, path, sizeof path) == 0 && stat(path, &st) == 0)
			bytes += (uint64_t)st.st_size;
		if (manifest_segment_path(dir, id, s->start_lsn, s->end_lsn, "docs", path,
					  sizeof path) == 0 &&
		    stat(path, &st) == 0)
			bytes += (uint64_t)st.st_size;
	}
	return rows ? bytes / rows : 0;
}

/* Log bytes in files that hold only records below the replay point and
 * some at or past the horizon: kept for history alone (older ones only
 * wait for the next rotation). */
static uint64_t ingest__log_history_bytes(ingest *w, uint64_t horizon)
{
	struct wal_file *older = NULL;
	size_t n = 0;
	uint64_t bytes = 0;
	if (!w->wal || wal_older_files(w->wal, &older, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (older[i].end <= w->man.tail_start && older[i].end > horizon)
			bytes += older[i].size;
	free(older);
	return bytes;
}

/* Tells the catalog, for status, how far back each collection can be read
 * and what its history takes on disk. */
static void ingest__show_history(ingest *w)
{
	struct catalog_history h = {.horizon = ingest__horizon(w)};
	h.log_bytes = ingest__log_history_bytes(w, h.horizon);
	retain_describe(&w->cfg.retain, h.retain, sizeof h.retain);
	catalog_set_history(w->cat, &h);
	for (uint32_t i = 0; i < w->man.ncolls; i++) {
		const struct manifest_coll *mc = &w->man.colls[i];
		uint64_t ended = wcoll_ended(w->colls[i]);
		catalog_set_history_of(w->cat, mc->id,
				       manifest_history_start(mc->created_lsn, mc->reclaimed_lsn),
				       ended ? ended * ingest__row_bytes(w, mc->id) : 0);
	}
}

/* Makes next, stored, the manifest. */
static int ingest__install(ingest *w, struct manifest *next)
{
	int rc = manifest_store(w->cfg.inst->data_dir, next, w->cfg.inst->data_mode);
	if (rc) {
		manifest_free(next);
		return rc;
	}
	manifest_free(&w->man);
	w->man = *next;
	ingest__sweep(w);
	return 0;
}

/* Stores the state as it is, after a create or a drop. Their records are
 * in the log, so a failure only costs a longer replay: it is logged. */
static void ingest__store(ingest *w)
{
	struct manifest next;
	int rc = ingest__next_manifest(w, &next);
	if (rc == 0)
		rc = ingest__install(w, &next);
	if (rc)
		log_warn("cannot store the manifest: %s; the log keeps the change",
			 roost_strerror(rc));
	else
		ingest__show_history(w);
}

/* ---- collections ---- */

static void ingest__env(const ingest *w, struct wcoll_env *env)
{
	*env = (struct wcoll_env){
	    .inst = w->cfg.inst,
	    .ctl = w->ctl,
	    .cat = w->cat,
	    .place = w->place,
	    .recovering = w->recovering,
	    .dflt = {.seal_docs = w->cfg.seal_docs,
		     .train_docs = w->cfg.train_docs,
		     .seal_interval_ms = (uint32_t)w->cfg.seal_interval_ms},
	};
}

static void ingest__counts_of(const ingest *w, uint32_t id, uint64_t *docs, uint32_t *segs)
{
	uint32_t first, n;
	manifest_segments_of(&w->man, id, &first, &n);
	*docs = 0;
	for (uint32_t i = first; i < first + n; i++)
		*docs += w->man.segments[i].count;
	*segs = n;
}

/* Tells the catalog how many of the collection's segments have an index
 * of settings an alter replaced, counting the tails that will make such
 * segments: 0 means switched, not "until the next seal". */
static void ingest__show_rebuilding(ingest *w, uint32_t at)
{
	const struct manifest_coll *mc = &w->man.colls[at];
	uint32_t first, n, stale = wcoll_stale_tails(w->colls[at]);
	manifest_segments_of(&w->man, mc->id, &first, &n);
	for (uint32_t i = first; i < first + n; i++)
		stale += w->man.segments[i].index_gen < mc->index_gen;
	catalog_set_rebuilding(w->cat, mc->id, stale);
}

/* Makes room for the collection at position at (as in man.colls). */
/* Makes room for a new collection at position at (as in man.colls), n
 * collections with it. */
static int ingest__grow(ingest *w, uint32_t at, uint32_t n)
{
	wcoll **colls = realloc(w->colls, n * sizeof *colls);
	uint64_t *docs = realloc(w->group_docs, n * sizeof *docs);
	if (colls)
		w->colls = colls;
	if (docs)
		w->group_docs = docs;
	uint64_t *text = docs ? realloc(w->group_text, n * sizeof *text) : NULL;
	if (text)
		w->group_text = text;
	uint64_t *tombs = text ? realloc(w->group_tombs, n * sizeof *tombs) : NULL;
	if (tombs)
		w->group_tombs = tombs;
	if (!colls || !docs || !text || !tombs)
		return ROOST_ENOMEM;
	memmove(&colls[at + 1], &colls[at], (n - 1 - at) * sizeof *colls);
	colls[at] = NULL;
	return 0;
}

/* Opens the collection at position at; its map of keys is like's when
 * given (a fork as of now: the same rows, the same ends), else read from
 * its files. */
static int ingest__open_coll_like(ingest *w, uint32_t at, const wcoll *like)
{
	struct wcoll_env env;
	ingest__env(w, &env);
	const struct manifest_coll *mc = &w->man.colls[at];
	uint64_t docs;
	uint32_t segs;
	ingest__counts_of(w, mc->id, &docs, &segs);
	int rc =
	    place_check_index(w->place, mc->settings.index, mc->settings.dim, mc->settings.metric);
	docmap *dm = NULL;
	if (rc == 0)
		rc = like ? wcoll_copy_docs(like, &dm)
			  : docmap_load(&dm, w->cfg.inst->data_dir, &w->man, mc);
	if (rc == 0)
		rc = wcoll_open(&w->colls[at], &env, mc, docs, segs, dm);
	if (rc == 0)
		ingest__show_rebuilding(w, at);
	return rc;
}

static int ingest__open_coll(ingest *w, uint32_t at)
{
	return ingest__open_coll_like(w, at, NULL);
}

static int ingest__open_colls(ingest *w)
{
	uint32_t n = w->man.ncolls;
	w->colls = calloc(n ? n : 1, sizeof *w->colls);
	w->group_docs = calloc(n ? n : 1, sizeof *w->group_docs);
	w->group_text = calloc(n ? n : 1, sizeof *w->group_text);
	w->group_tombs = calloc(n ? n : 1, sizeof *w->group_tombs);
	if (!w->colls || !w->group_docs || !w->group_text || !w->group_tombs)
		return ROOST_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		int rc = ingest__open_coll(w, i);
		if (rc)
			return rc;
	}
	return 0;
}

/* Applies a create: the collection is in the state, its tail and index
 * open, and the catalog lists it, so brokers accept adds for it. */
static int ingest__create(ingest *w, const struct collrec *r, uint64_t lsn)
{
	struct manifest_coll mc = {
	    .id = w->man.next_coll, .settings = r->settings, .created_lsn = lsn, .tail_start = lsn};
	memcpy(mc.name, r->name, sizeof mc.name);
	if (!mc.settings.index[0])
		snprintf(mc.settings.index, sizeof mc.settings.index, "%s",
			 ingest__default_index(&w->cfg));
	int rc = manifest_add_coll(&w->man, &mc);
	if (rc)
		return rc;
	w->man.next_coll++;
	uint32_t at = ingest__pos(w, mc.id);
	rc = ingest__grow(w, at, w->man.ncolls);
	if (rc == 0)
		rc = ingest__open_coll(w, at);
	if (rc) {
		log_error("collection '%s': cannot create it: %s", mc.name, roost_strerror(rc));
		if (w->colls)
			memmove(&w->colls[at], &w->colls[at + 1],
				(w->man.ncolls - at - 1) * sizeof *w->colls);
		manifest_remove_coll(&w->man, mc.id);
		return rc;
	}
	log_info("created collection '%s' (id %u): dim %u, metric %s, index %s, indexed keys %s",
		 mc.name, mc.id, mc.settings.dim, mc.settings.metric ? "ip" : "l2",
		 mc.settings.index,
		 mc.settings.indexed_keys[0] ? mc.settings.indexed_keys : "none");
	return 0;
}

/* Applies a drop: brokers no longer find it, its records still in the
 * ring are refused, and its files go with the next stored manifest. */
static void ingest__drop(ingest *w, const char *name)
{
	const struct manifest_coll *mc = manifest_coll_named(&w->man, name);
	if (!mc)
		return;
	uint32_t id = mc->id, at = (uint32_t)(mc - w->man.colls);
	catalog_remove(w->cat, id);
	wcoll_discard(w->colls[at]);
	memmove(&w->colls[at], &w->colls[at + 1], (w->man.ncolls - at - 1) * sizeof *w->colls);
	manifest_remove_coll(&w->man, id);
	w->sweep_due = 1;
	log_info("dropped collection '%s' (id %u)", name, id);
}

/* The settings an alter gives collection mc: "" and 0 keep its own. */
static void ingest__altered(const struct manifest_coll *mc, const struct collrec *r,
			    struct coll_settings *out)
{
	*out = mc->settings;
	if (r->settings.index[0])
		memcpy(out->index, r->settings.index, sizeof out->index);
	if (r->settings.train_docs)
		out->train_docs = r->settings.train_docs;
}

/* Applies an alter: new seals use the new settings, and the merger
 * rebuilds the older segments' indexes (ingest__plan_compaction). The
 * trained index of the old settings goes with the sweep. An alter that
 * keeps an index type needing no training (Flat, HNSW) rebuilds nothing:
 * its indexes would come out the same. */
static void ingest__alter(ingest *w, const struct collrec *r)
{
	struct manifest_coll *mc = manifest_coll_named(&w->man, r->name);
	if (!mc)
		return;
	uint32_t at = (uint32_t)(mc - w->man.colls);
	struct coll_settings s;
	ingest__altered(mc, r, &s);
	int rebuild =
	    strcmp(s.index, mc->settings.index) != 0 || wcoll_needs_training(w->colls[at]);
	mc->settings = s;
	if (rebuild) {
		mc->index_gen++;
		mc->trained_gen = 0;
	}
	/* A failure (logged) leaves rows waiting in the tail: not worth a
	 * stop, which would meet the alter again in replay. */
	wcoll_alter(w->colls[at], &mc->settings, (uint32_t)mc->index_gen);
	ingest__show_rebuilding(w, at);
	w->sweep_due = 1;
	w->merge_held = 0;
	log_info("altered collection '%s' (id %u): index %s, train_docs %llu%s", mc->name, mc->id,
		 wcoll_settings(w->colls[at])->index,
		 (unsigned long long)wcoll_settings(w->colls[at])->train_docs,
		 rebuild ? "; older segments' indexes are rebuilt in the background" : "");
}

/* The state has every catalog entry the writer applied; entries of
 * collections dropped while no writer ran go. */
static int ingest__reconcile_catalog(ingest *w)
{
	struct catalog_entry *all = calloc(CATALOG_SLOTS, sizeof *all);
	size_t n;
	if (!all)
		return ROOST_ENOMEM;
	catalog_list(w->cat, all, CATALOG_SLOTS, &n);
	for (size_t i = 0; i < n; i++)
		if (!manifest_coll_find(&w->man, all[i].id))
			catalog_remove(w->cat, all[i].id);
	free(all);
	return 0;
}

static int ingest__tail_is_current(void *arg, uint64_t serial)
{
	const ingest *w = arg;
	for (uint32_t i = 0; i < w->man.ncolls; i++)
		if (wcoll_owns_tail(w->colls[i], serial))
			return 1;
	return 0;
}

/* ---- seals ---- */

static int ingest__run_merge(struct worker_job *j, const atomic_int *cancel)
{
	struct ingest_merge *m = (struct ingest_merge *)j;
	return m->r ? rebuild_build(m->r, cancel) : compact_build(m->c, cancel);
}

/* Sealed nothing for --merge-idle-ms: segments merge beyond their tiers. */
static int ingest__at_rest(const ingest *w)
{
	return w->cfg.merge_idle_ms > 0 &&
	       futex_now_ms() - w->sealed_ms >= (int64_t)w->cfg.merge_idle_ms;
}

/* The collection's settings need a training that no stored manifest
 * names yet: merges and rebuilds build from the manifest's. */
static int ingest__untrained(const ingest *w, uint32_t at)
{
	return wcoll_needs_training(w->colls[at]) && !w->man.colls[at].trained_gen;
}

static void ingest__hand_over(ingest *w, compact_job *c, rebuild_job *r)
{
	struct ingest_merge *m = calloc(1, sizeof *m);
	if (!m) {
		log_warn("cannot plan a merge or a rebuild: %s", roost_strerror(ROOST_ENOMEM));
		compact_free(c);
		rebuild_free(r);
		return;
	}
	*m = (struct ingest_merge){.job.run = ingest__run_merge, .c = c, .r = r};
	w->merging = m;
	worker_submit(w->merger, &m->job);
}

/* The collection at position at's first segment whose index predates an
 * alter, to rebuild; trained first (from a sample of its segments) when
 * the new settings need a training it has not got, once its segments
 * hold train_docs rows: with fewer, its tail gathers them and trains, as
 * a new collection's does. */
static int ingest__plan_rebuild(ingest *w, uint32_t at, rebuild_job **out)
{
	const struct manifest_coll *mc = &w->man.colls[at];
	const struct coll_settings *s = wcoll_settings(w->colls[at]);
	uint64_t docs;
	uint32_t segs;
	*out = NULL;
	if (wcoll_rebuilds_held(w->colls[at]) || !rebuild_needed(&w->man, mc->id))
		return 0;
	int train = ingest__untrained(w, at);
	ingest__counts_of(w, mc->id, &docs, &segs);
	if (train && docs < s->train_docs)
		return 0;
	return rebuild_plan(out, w->cfg.inst, &w->man, mc->id, s, train ? ingest__new_gen(w) : 0);
}

/* The first merge of the collection at position at that its tiers (or
 * rest) call for, when its index can be built. Rows whose versions ended
 * below min(its covered LSN, horizon) are dropped. */
static int ingest__plan_merge(ingest *w, uint32_t at, uint64_t horizon, compact_job **out)
{
	const struct coll_settings *s = wcoll_settings(w->colls[at]);
	const struct manifest_coll *mc = &w->man.colls[at];
	uint64_t seals = s->seal_docs * INGEST_MERGED_SEALS;
	uint64_t most = seals > INGEST_MERGED_DOCS ? seals : INGEST_MERGED_DOCS;
	struct compact_policy p = {
	    .seal_docs = s->seal_docs, .max_docs = most, .idle = ingest__at_rest(w)};
	struct tomb *tombs = NULL;
	uint64_t n = 0;
	*out = NULL;
	if (ingest__untrained(w, at))
		return 0;
	/* Only these count for the plan too: a segment whose ended rows are
	 * all kept would otherwise be rewritten as it is, again and again. */
	uint64_t below = ingest__min(mc->tail_start, horizon);
	int rc = wcoll_sealed_tombs(w->colls[at], below, &tombs, &n);
	if (rc == 0)
		rc = compact_plan(out, w->cfg.inst, &w->man, mc->id, &p, tombs, n, below);
	free(tombs);
	return rc;
}

/* Hands the first rebuild or merge that one of the collections needs to
 * the merger, unless it has one: a collection's rebuilds come before its
 * merges, which would otherwise merge indexes of the old settings. A
 * failure only costs search speed and space until the next seal plans
 * again, so it is logged. */
static void ingest__plan_compaction(ingest *w)
{
	if (!w->merger || w->merging || w->merge_held)
		return;
	uint64_t horizon = ingest__horizon(w);
	for (uint32_t i = 0; i < w->man.ncolls; i++) {
		rebuild_job *r = NULL;
		compact_job *c = NULL;
		int rc = ingest__plan_rebuild(w, i, &r);
		if (rc == 0 && !r)
			rc = ingest__plan_merge(w, i, horizon, &c);
		if (rc) {
			log_warn("collection '%s': cannot plan a merge or a rebuild: %s",
				 w->man.colls[i].name, roost_strerror(rc));
			return;
		}
		if (r || c) {
			ingest__hand_over(w, c, r);
			return;
		}
	}
}

/* A merge's or a rebuild's manifest, stored, becomes the state; readers
 * look at it though no tail changed. */
static void ingest__adopt(ingest *w, struct manifest *next)
{
	manifest_free(&w->man);
	w->man = *next;
	catalog_touch(w->cat);
}

/* A built merge becomes the collection's, unless it was dropped meanwhile. */
static int ingest__install_merge(ingest *w, compact_job *j)
{
	uint32_t at = ingest__pos(w, compact_coll(j));
	if (at == UINT32_MAX)
		return ROOST_ENOENT;
	struct manifest next = {0};
	struct compact_done done;
	struct tomb *tombs = NULL;
	uint64_t n = 0;
	int rc = wcoll_sealed_tombs(w->colls[at], w->man.colls[at].tail_start, &tombs, &n);
	if (rc == 0)
		rc = manifest_copy(&w->man, &next);
	next.gen = ingest__new_gen(w);
	if (rc == 0)
		rc = compact_install(j, &next, tombs, n, &done);
	free(tombs);
	if (rc) {
		manifest_free(&next);
		return rc;
	}
	ingest__adopt(w, &next);
	uint64_t docs;
	uint32_t segs;
	ingest__counts_of(w, compact_coll(j), &docs, &segs);
	wcoll_compacted(w->colls[at], segs, &done, w->man.colls[at].tomb_gen);
	ingest__show_rebuilding(w, at);
	ctl_set_documents(w->ctl, ctl_documents(w->ctl) - done.ndropped);
	ingest__show_history(w);
	return 0;
}

/* Once at rest, plans the merges that rest allows (each install plans
 * the next while it lasts). */
static void ingest__rest(ingest *w)
{
	if (w->rest_planned || w->merging || !ingest__at_rest(w))
		return;
	w->rest_planned = 1;
	ingest__plan_compaction(w);
}

/* A built rebuild becomes the collection's, unless its segment or
 * settings changed meanwhile. */
static int ingest__install_rebuild(ingest *w, rebuild_job *j)
{
	uint32_t at = ingest__pos(w, rebuild_coll(j));
	if (at == UINT32_MAX)
		return ROOST_ENOENT;
	struct manifest next;
	int rc = manifest_copy(&w->man, &next);
	if (rc)
		return rc;
	next.gen = ingest__new_gen(w);
	rc = rebuild_install(j, &next);
	if (rc) {
		manifest_free(&next);
		return rc;
	}
	ingest__adopt(w, &next);
	if (rebuild_trained_gen(j))
		wcoll_trained(w->colls[at], rebuild_index_gen(j), rebuild_trained_gen(j));
	ingest__show_rebuilding(w, at);
	return 0;
}

static int ingest__install_job(ingest *w, const struct ingest_merge *m)
{
	return m->r ? ingest__install_rebuild(w, m->r) : ingest__install_merge(w, m->c);
}

static void ingest__abandon_job(const struct ingest_merge *m)
{
	if (m->r)
		rebuild_abandon(m->r);
	else
		compact_abandon(m->c);
}

/* Installs the merger's built merge or rebuild, if there is one, then
 * plans the next. */
static void ingest__finish_compaction(ingest *w)
{
	struct worker_job *done = w->merging ? worker_collect(w->merger) : NULL;
	if (!done)
		return;
	struct ingest_merge *m = w->merging;
	int rc = done->rc;
	uint32_t at;
	w->merging = NULL;
	if (rc == 0)
		rc = ingest__install_job(w, m);
	if (rc == 0)
		mstat_compaction(w->metrics, done->ran_ns);
	/* The same plan would fail the same way: the next seal plans again. */
	int held = rc != 0 && rc != ROOST_ENOENT;
	if (held && m->r && (at = ingest__pos(w, rebuild_coll(m->r))) != UINT32_MAX)
		wcoll_hold_rebuilds(w->colls[at]);
	else
		w->merge_held = held;
	const char *what = m->r ? "a rebuild" : "a merge";
	if (rc == ROOST_ENOENT)
		log_info("%s of a collection dropped, merged or altered meanwhile is abandoned",
			 what);
	else if (rc)
		log_warn("%s failed: %s; %s wait for the next seal", what, roost_strerror(rc),
			 m->r ? "the collection's rebuilds" : "merges");
	if (rc)
		ingest__abandon_job(m);
	compact_free(m->c);
	rebuild_free(m->r);
	free(m);
	ingest__sweep(w);
	ingest__plan_compaction(w);
}

/* The stored manifest that names a written seal's segment and files. */
static int ingest__seal_manifest(ingest *w, uint32_t at, const wcoll_seal *s)
{
	const struct manifest_segment *seg = wcoll_seal_segment(s);
	uint64_t tomb_gen, trained_gen;
	wcoll_seal_gens(s, &tomb_gen, &trained_gen);
	struct manifest next;
	int rc = ingest__next_manifest(w, &next);
	if (rc)
		return rc;
	struct manifest_coll *mc = &next.colls[at];
	mc->tail_start = seg->end_lsn;
	mc->tail_gen = next.gen;
	if (trained_gen && seg->index_gen == mc->index_gen) {
		/* Not one of settings altered since; one a rebuild trained
		 * meanwhile goes with the sweep. */
		w->sweep_due |= mc->trained_gen != 0;
		mc->trained_gen = trained_gen;
	}
	if (tomb_gen)
		mc->tomb_gen = tomb_gen;
	ingest__replay_point(&next);
	rc = seg->count ? manifest_add_segment(&next, seg) : 0;
	if (rc) {
		manifest_free(&next);
		return rc;
	}
	wcoll_seal_follows(w->colls[at], next.gen);
	killpoint_reach(KILLPOINT_SEAL_BEFORE_MANIFEST);
	return ingest__install(w, &next);
}

/* Makes a written seal the collection's: a new manifest, a shorter log
 * and the frozen tail gone. Until the manifest is stored nothing changed,
 * so a failure leaves it to be tried again; the rest cannot fail (a log
 * file that could not go goes at a later seal). */
static int ingest__install_seal(ingest *w, wcoll_seal *s)
{
	const struct manifest_segment *seg = wcoll_seal_segment(s);
	uint32_t at = ingest__pos(w, seg->coll);
	if (at == UINT32_MAX) {
		wcoll_seal_free(s); /* dropped meanwhile; its files go in the sweep */
		return 0;
	}
	int rc = ingest__seal_manifest(w, at, s);
	if (rc) {
		log_error("sealing collection '%s' failed: %s", w->man.colls[at].name,
			  roost_strerror(rc));
		return rc;
	}
	killpoint_reach(KILLPOINT_SEAL_AFTER_MANIFEST);
	rc = w->wal && !w->rotate_held
		 ? wal_rotate(w->wal, w->end, ingest__min(w->man.tail_start, ingest__horizon(w)))
		 : 0;
	if (rc)
		log_warn("cannot rotate the log: %s; old log files stay until the next seal",
			 roost_strerror(rc));
	log_info("collection '%s': sealed segment %016llx-%016llx, %llu documents (manifest gen "
		 "%llu)",
		 w->man.colls[at].name, (unsigned long long)seg->start_lsn,
		 (unsigned long long)seg->end_lsn, (unsigned long long)seg->count,
		 (unsigned long long)w->man.gen);
	wcoll_sealed(w->colls[at]); /* frees s, and seg with it */
	ingest__show_rebuilding(w, at);
	ingest__show_history(w);
	w->sealed_ms = futex_now_ms();
	w->rest_planned = 0;
	w->merge_held = 0;
	return 0;
}

/* Installs a seal collected before (its install failed) or the one the
 * sealer hands back; with wait, waits for it to be written. ROOST_EBUSY:
 * none is written yet. */
static int ingest__finish_seal(ingest *w, int wait)
{
	if (!w->installing) {
		struct worker_job *j = wait ? worker_wait(w->sealer) : worker_collect(w->sealer);
		if (!j)
			return ROOST_EBUSY;
		w->installing = wcoll_seal_of(j);
		w->seal_failing = j->rc != 0;
		if (j->rc == 0)
			mstat_seal(w->metrics, j->ran_ns);
		if (j->rc) {
			/* Written again from the start: nothing of it is named. */
			log_error("writing a sealed segment failed: %s", roost_strerror(j->rc));
			int rc = j->rc;
			worker_submit(w->sealer, j);
			w->installing = NULL;
			return rc;
		}
	}
	int rc = ingest__install_seal(w, w->installing);
	if (rc == 0) {
		w->installing = NULL;
		ingest__sweep(w);
		ingest__plan_compaction(w);
	}
	return rc;
}

/* Installs every seal written so far; with wait, or while a seal fails to
 * be written, every seal handed over. */
static int ingest__finish_seals(ingest *w, int wait)
{
	int rc = 0;
	while (rc == 0 && (w->installing || worker_queued(w->sealer)))
		rc = ingest__finish_seal(w, wait || w->seal_failing);
	return rc == ROOST_EBUSY ? 0 : rc;
}

static int ingest__run_seal(struct worker_job *j, const atomic_int *cancel)
{
	(void)cancel; /* a seal is short, and a stopping writer waits for it */
	int rc = wcoll_seal_write(wcoll_seal_of(j));
	if (rc == 0)
		killpoint_reach(KILLPOINT_SEAL_WRITTEN);
	return rc;
}

/* Freezes the collection's tail, which the sealer turns into a segment
 * while ingestion goes on: everything appended is published first, so
 * w->end is the frozen tail's end. The tail before it must be sealed
 * first (one frozen tail at a time): the writer waits for it. On failure
 * nothing more may be appended until a retry succeeds (ingest_run
 * stalls). */
static int ingest__seal(ingest *w, uint32_t at)
{
	wcoll *c = w->colls[at];
	if (!wcoll_sealable(c))
		return 0;
	int rc = 0;
	int64_t waited = futex_now_ms();
	while (rc == 0 && wcoll_frozen(c))
		rc = ingest__finish_seal(w, 1);
	waited = futex_now_ms() - waited;
	if (waited >= INGEST_SEAL_LAG_MS)
		log_warn(
		    "collection '%s': ingestion waited %lld ms for the last seal to be written "
		    "(the disk is slower than the adds)",
		    w->man.colls[at].name, (long long)waited);
	wcoll_seal *s = NULL;
	if (rc == 0)
		rc = wcoll_freeze(c, w->end, ingest__new_gen(w), &s);
	if (rc) {
		log_error("sealing collection '%s' failed: %s", w->man.colls[at].name,
			  roost_strerror(rc));
		return rc;
	}
	killpoint_reach(KILLPOINT_SEAL_FROZEN);
	struct worker_job *j = wcoll_seal_job(s);
	*j = (struct worker_job){.run = ingest__run_seal};
	worker_submit(w->sealer, j);
	return 0;
}

static void ingest__publish(ingest *w, uint64_t end)
{
	w->end = end;
	for (uint32_t i = 0; i < w->man.ncolls; i++)
		wcoll_publish(w->colls[i], end);
	ctl_advance(w->ctl, CTL_APPLIED, end);
	ctl_advance(w->ctl, CTL_PUBLISHED, end);
	ctl_wake(w->ctl);
}

/* Seals everything of the collection at position at below lsn, and waits
 * until every seal is installed. */
static int ingest__seal_now(ingest *w, uint32_t at, uint64_t lsn)
{
	int rc = wcoll_index_pending(w->colls[at], PLACE_MUST_ADD);
	if (rc == 0) {
		ingest__publish(w, lsn);
		rc = ingest__seal(w, at);
	}
	w->rotate_held = 1;
	if (rc == 0)
		rc = ingest__finish_seals(w, 1);
	w->rotate_held = 0;
	return rc;
}

/* The fork's entry and segments added to m, the next manifest. */
static int ingest__add_fork(struct manifest *m, const struct collrec *r, struct fork_made *f,
			    uint64_t next)
{
	memcpy(f->coll.name, r->name, sizeof f->coll.name);
	f->coll.tail_start = next;
	int rc = manifest_add_coll(m, &f->coll);
	for (uint32_t i = 0; rc == 0 && i < f->nsegs; i++)
		rc = manifest_add_segment(m, &f->segs[i]);
	m->next_coll = f->coll.id + 1;
	return rc;
}

/* The fork's files, and a stored manifest naming it, with room for it in
 * the writer's arrays made first: once the manifest is stored only its
 * opening can fail. */
static int ingest__make_fork(ingest *w, uint32_t at, const struct collrec *r, uint64_t lsn,
			     uint64_t next)
{
	struct manifest m;
	struct tomb *tombs = NULL;
	uint64_t ntombs = 0;
	struct fork_made f = {0};
	int rc = ingest__next_manifest(w, &m);
	if (rc)
		return rc;
	rc = wcoll_sealed_tombs(w->colls[at], UINT64_MAX, &tombs, &ntombs);
	struct fork_plan p = {.dir = w->cfg.inst->data_dir,
			      .mode = w->cfg.inst->data_mode,
			      .m = &w->man,
			      .source = &w->man.colls[at],
			      .tombs = tombs,
			      .ntombs = ntombs,
			      .id = w->man.next_coll,
			      .as_of = r->as_of_lsn ? r->as_of_lsn : lsn,
			      .lsn = lsn,
			      .gen = m.gen};
	if (rc == 0)
		rc = fork_make(&p, &f);
	free(tombs);
	if (rc == 0)
		rc = ingest__add_fork(&m, r, &f, next);
	if (rc == 0) /* its id is the highest: it comes last */
		rc = ingest__grow(w, w->man.ncolls, w->man.ncolls + 1);
	w->sweep_due = 1; /* on failure, links no manifest names */
	if (rc == 0) {
		killpoint_reach(KILLPOINT_FORK_LINKED);
		rc = ingest__install(w, &m);
	} else {
		manifest_free(&m);
	}
	if (rc == 0)
		log_info("forked collection '%s' (id %u) from '%s' as of LSN %llu: %u segments "
			 "shared",
			 r->name, f.coll.id, w->man.colls[at].name, (unsigned long long)p.as_of,
			 f.nsegs);
	fork_made_free(&f);
	return rc;
}

/* Opens a fork its stored manifest names, unless it is open already. A
 * fork as of its own LSN holds what its source does, sealed: the source's
 * map of keys is copied rather than read again from every segment. */
static int ingest__open_fork(ingest *w, const struct manifest_coll *mc, const struct collrec *r)
{
	uint32_t pos = ingest__pos(w, mc->id), src = ingest__pos(w, r->id);
	if (w->colls[pos])
		return 0;
	uint64_t docs;
	uint32_t segs;
	ingest__counts_of(w, mc->id, &docs, &segs);
	int now = !r->as_of_lsn || r->as_of_lsn == mc->created_lsn;
	int rc = ingest__open_coll_like(w, pos, now && src != UINT32_MAX ? w->colls[src] : NULL);
	if (rc == 0)
		ctl_set_documents(w->ctl, ctl_documents(w->ctl) + docs);
	return rc;
}

/* A record that changes nothing: its broker, waiting for it, is told why
 * (brokers pass a note's words on to the client). */
static int ingest__refuse(ingest *w, uint64_t client_id, uint64_t lsn, int code, const char *note)
{
	ctl_client_refused(w->ctl, client_id, lsn, code);
	if (note)
		catalog_note(w->cat, lsn, note);
	return code;
}

/* A fork whose files cannot be made (a link refused, a segment that
 * cannot be read) is refused with the reason, and the writer goes on:
 * no manifest names what it made, which the sweep removes. Room that may
 * come back (disk, memory) is waited for instead, as for a create. */
static int ingest__fork_refused(ingest *w, const struct collrec *r, uint64_t lsn, int rc,
				int *refused)
{
	char note[256]; /* the catalog keeps CATALOG_NOTE_MAX of it */
	if (rc == ROOST_ENOSPC || rc == ROOST_ENOMEM)
		return rc;
	snprintf(note, sizeof note, "the fork's files could not be made (%s); nothing was made",
		 roost_strerror(rc));
	log_error("fork '%s' at LSN %llu refused: %s", r->name, (unsigned long long)lsn, note);
	ingest__refuse(w, r->client_id, lsn, rc, note);
	*refused = 1;
	return 0;
}

/* Applies a fork (writer/fork.h): the source sealed up to the fork's LSN
 * first, so every row it held below it is in a segment; then the fork's
 * files, a manifest naming them, and the fork opened and listed as a
 * create is. Its records from next on are its own. Applied again after
 * its opening failed (the tail's shared memory full), it finds itself
 * made and only opens. */
static int ingest__fork(ingest *w, const struct collrec *r, uint64_t lsn, uint64_t next,
			int *refused)
{
	const struct manifest_coll *made = manifest_coll_named(&w->man, r->name);
	if (!made || made->created_lsn != lsn) {
		uint32_t at = ingest__pos(w, r->id);
		int rc = at == UINT32_MAX ? ROOST_ENOCOLL : ingest__seal_now(w, at, lsn);
		if (rc)
			return rc;
		killpoint_reach(KILLPOINT_FORK_SEALED);
		w->end = next;
		if ((rc = ingest__make_fork(w, at, r, lsn, next)) != 0)
			return ingest__fork_refused(w, r, lsn, rc, refused);
		killpoint_reach(KILLPOINT_FORK_AFTER_MANIFEST);
		made = manifest_coll_named(&w->man, r->name);
	}
	return ingest__open_fork(w, made, r);
}

static int ingest__apply_coll(ingest *w, const struct collrec *r, uint64_t lsn, uint64_t next)
{
	int rc = 0, refused = 0;
	if (r->op == COLLREC_CREATE)
		rc = ingest__create(w, r, lsn);
	else if (r->op == COLLREC_DROP)
		ingest__drop(w, r->name);
	else if (r->op == COLLREC_FORK)
		rc = ingest__fork(w, r, lsn, next, &refused);
	else
		ingest__alter(w, r);
	if (rc || refused)
		return rc;
	ctl_client_applied(w->ctl, r->client_id, r->seq);
	return keys_put(w->keys, r->client_id, r->seq, lsn, 0);
}

/* ---- records ---- */

/* Makes room in a collection's tail for a record: when it is full (only
 * while replaying: ingest__collect sizes live groups to fit) it seals
 * first. */
static int ingest__room(ingest *w, uint32_t at, uint64_t lsn, uint64_t docs, uint64_t text,
			uint64_t tombs)
{
	wcoll *c = w->colls[at];
	if (!wcoll_fits(c, docs, text, tombs)) {
		int rc = wcoll_index_pending(c, PLACE_MUST_ADD);
		if (rc)
			return rc;
		ingest__publish(w, lsn);
		rc = ingest__seal(w, at);
		if (rc)
			return rc;
	}
	int rc = wcoll_reserve(c, docs, text, tombs);
	if (rc)
		log_error("cannot reserve shared memory for a tail: %s", roost_strerror(rc));
	return rc;
}

/* A simulation time's horizon is the first document that reaches it:
 * retention is shown every document applied. Status hears of it at once. */
static void ingest__saw_times(ingest *w, uint64_t lsn, const struct batch_view *b)
{
	if (w->cfg.retain.kind != RETAIN_FROM_TIME)
		return;
	uint64_t before = w->cfg.retain.reached;
	for (uint32_t i = 0; i < b->hdr->count; i++)
		retain_saw(&w->cfg.retain, lsn + i, b->docs[i].time);
	if (w->cfg.retain.reached != before && !w->recovering)
		ingest__show_history(w);
}

/* Applies one logged batch to its collection's tail. Each of its
 * documents may replace one, so it may make as many tombstones. */
static int ingest__apply_batch(ingest *w, uint32_t at, uint64_t lsn, const struct batch_view *b)
{
	const struct batch_header *h = b->hdr;
	int rc = ingest__room(w, at, lsn, h->count, h->text_bytes, h->count);
	if (rc == 0)
		rc = wcoll_append(w->colls[at], b, lsn);
	if (rc)
		return rc;
	ingest__saw_times(w, lsn, b);
	ctl_client_applied(w->ctl, h->client_id, h->seq);
	ctl_count_documents(w->ctl, h->count);
	return keys_put(w->keys, h->client_id, h->seq, lsn, h->count);
}

/* A delete by filter changes nothing when its filter cannot be read (a
 * broker checked it, so only a damaged record) or matches more than one
 * record may end: its client is told why. */
static int ingest__filter_refused(ingest *w, const struct delrec_header *h, uint64_t lsn, int code,
				  const char *why)
{
	log_warn("delete by filter at LSN %llu changes nothing: %s", (unsigned long long)lsn, why);
	ingest__refuse(w, h->client_id, lsn, code, why);
	return keys_put(w->keys, h->client_id, h->seq, lsn, 0);
}

/* Ends every live version the filter admits among the rows added below
 * lsn: all the collection holds, since records apply in LSN order. */
static int ingest__delete_where(ingest *w, uint32_t at, uint64_t lsn, const struct delrec_view *d)
{
	const struct delrec_header *h = d->hdr;
	char why[256];
	struct metaq *where = NULL;
	Roost__Filter *pf = roost__filter__unpack(NULL, h->key_bytes, d->filter);
	if (!pf || wire_check_filter(pf, &where, why, sizeof why) != 0) {
		if (pf)
			roost__filter__free_unpacked(pf, NULL);
		return ingest__filter_refused(w, h, lsn, ROOST_ECORRUPT, "its filter is damaged");
	}
	struct docfilter f;
	docfilter_from(pf, where, &f);
	uint64_t *versions = NULL, n = 0;
	int rc = wcoll_select(w->colls[at], &w->man, &f, &versions, &n);
	if (rc == 0)
		rc = ingest__room(w, at, lsn, 0, 0, n);
	if (rc == ROOST_ETOOBIG) {
		snprintf(
		    why, sizeof why,
		    "the filter matches %llu documents, more than one delete may end; narrow it",
		    (unsigned long long)n);
		rc = ingest__filter_refused(w, h, lsn, ROOST_ETOOBIG, why);
	} else if (rc == 0) {
		rc = wcoll_end_all(w->colls[at], versions, n, lsn);
		if (rc == 0)
			log_info("delete by filter at LSN %llu ended %llu documents",
				 (unsigned long long)lsn, (unsigned long long)n);
		ctl_client_applied(w->ctl, h->client_id, h->seq);
		if (rc == 0)
			rc = keys_put(w->keys, h->client_id, h->seq, lsn, 0);
	}
	free(versions);
	metaq_free(where);
	roost__filter__free_unpacked(pf, NULL);
	return rc;
}

static int ingest__apply_delete(ingest *w, uint32_t at, uint64_t lsn, const struct delrec_view *d)
{
	const struct delrec_header *h = d->hdr;
	if (d->filter)
		return ingest__delete_where(w, at, lsn, d);
	int rc = ingest__room(w, at, lsn, 0, 0, h->count);
	if (rc == 0)
		rc = wcoll_delete(w->colls[at], d, lsn);
	if (rc)
		return rc;
	ctl_client_applied(w->ctl, h->client_id, h->seq);
	return keys_put(w->keys, h->client_id, h->seq, lsn, h->count);
}

static int ingest__apply(ingest *w, const struct ingest_rec *r)
{
	if (r->kind == INGEST_BATCH)
		return ingest__apply_batch(w, r->at, r->rec.pos, &r->view);
	if (r->kind == INGEST_DELETE)
		return ingest__apply_delete(w, r->at, r->rec.pos, &r->del);
	if (!w->replaying)
		killpoint_reach(KILLPOINT_COLL_BEFORE_APPLY);
	int rc = ingest__apply_coll(w, &r->coll, r->rec.pos, r->rec.next);
	if (rc)
		return rc;
	/* Alone in its group: everything up to it is applied. */
	w->end = r->rec.next;
	if (!w->replaying)
		killpoint_reach(KILLPOINT_COLL_BEFORE_MANIFEST);
	ingest__store(w);
	if (!w->replaying)
		ingest__plan_compaction(w); /* an alter's rebuilds start at once */
	return 0;
}

/* A collection's own settings with the writer's defaults where it has none. */
static void ingest__resolve(const ingest *w, const struct coll_settings *own,
			    struct coll_settings *out)
{
	struct wcoll_defaults d = {w->cfg.seal_docs, w->cfg.train_docs,
				   (uint32_t)w->cfg.seal_interval_ms};
	wcoll_resolve(&d, own, out);
}

/* A create's or an alter's index (its settings resolved): one of the types
 * roost takes from clients, with enough training vectors, that FAISS
 * builds at its dimension and the GPU takes. */
static int ingest__check_index(ingest *w, uint64_t client_id, uint64_t lsn,
			       const struct coll_settings *s)
{
	char note[512], why[256]; /* the catalog keeps CATALOG_NOTE_MAX of note */
	int needs_training;
	if (coll_index_check(s->index, s->train_docs, why, sizeof why)) {
		snprintf(note, sizeof note, "index '%s' refused: %s", s->index, why);
		return ingest__refuse(w, client_id, lsn, ROOST_EINVAL, note);
	}
	if (vindex_check_factory(s->index, s->dim, s->metric, &needs_training, why, sizeof why)) {
		snprintf(note, sizeof note, "index '%s' cannot be built at dimension %u: %s",
			 s->index, s->dim, why);
		return ingest__refuse(w, client_id, lsn, ROOST_EINVAL, note);
	}
	if (place_check_index(w->place, s->index, s->dim, s->metric) != 0) {
		snprintf(note, sizeof note, "index '%s' cannot live on the GPU", s->index);
		return ingest__refuse(w, client_id, lsn, ROOST_EUNSUPPORTED, note);
	}
	return 0;
}

/* A new collection (a create's, a fork's) needs its name free and room. */
static int ingest__admit_new(ingest *w, uint64_t lsn, const struct collrec *r)
{
	char note[256]; /* the catalog keeps CATALOG_NOTE_MAX of it */
	if (manifest_coll_named(&w->man, r->name))
		return ingest__refuse(w, r->client_id, lsn, ROOST_EEXIST, NULL);
	if (w->man.ncolls >= CATALOG_SLOTS || w->man.next_coll > MANIFEST_MAX_COLLID) {
		snprintf(note, sizeof note,
			 "this instance has %u collections, the most it may have", w->man.ncolls);
		return ingest__refuse(w, r->client_id, lsn, ROOST_ETOOBIG, note);
	}
	return 0;
}

static int ingest__admit_create(ingest *w, uint64_t lsn, const struct collrec *r)
{
	char note[256]; /* the catalog keeps CATALOG_NOTE_MAX of it */
	struct coll_settings s;
	ingest__resolve(w, &r->settings, &s);
	if (!s.index[0])
		snprintf(s.index, sizeof s.index, "%s", ingest__default_index(&w->cfg));
	int rc = ingest__admit_new(w, lsn, r);
	if (rc)
		return rc;
	if (s.seal_docs < BATCH_MAX_DOCS || s.seal_docs > INGEST_MAX_SEAL_DOCS) {
		snprintf(note, sizeof note, "seal_docs must be %u to %u, not %llu", BATCH_MAX_DOCS,
			 INGEST_MAX_SEAL_DOCS, (unsigned long long)s.seal_docs);
		return ingest__refuse(w, r->client_id, lsn, ROOST_EINVAL, note);
	}
	return ingest__check_index(w, r->client_id, lsn, &s);
}

static int ingest__admit_alter(ingest *w, uint64_t lsn, const struct collrec *r)
{
	const struct manifest_coll *mc = manifest_coll_named(&w->man, r->name);
	if (!mc || (r->id && r->id != mc->id))
		return ingest__refuse(w, r->client_id, lsn, ROOST_ENOCOLL, NULL);
	if (mc->index_gen >= UINT32_MAX)
		return ingest__refuse(w, r->client_id, lsn, ROOST_ETOOBIG,
				      "the collection was altered as often as it may be");
	struct coll_settings own, s;
	ingest__altered(mc, r, &own);
	ingest__resolve(w, &own, &s);
	return ingest__check_index(w, r->client_id, lsn, &s);
}

static uint32_t ingest__segments_of(const ingest *w, uint32_t id)
{
	uint32_t first, n;
	manifest_segments_of(&w->man, id, &first, &n);
	return n;
}

/* A fork's source is live under the id the broker found, trained (its
 * rows must be sealable now), and has kept the history it is made as of,
 * which is not past the fork itself. */
static int ingest__admit_fork(ingest *w, uint64_t lsn, const struct collrec *r)
{
	char note[256]; /* the catalog keeps CATALOG_NOTE_MAX of it */
	const struct manifest_coll *src = manifest_coll_find(&w->man, r->id);
	if (!src)
		return ingest__refuse(w, r->client_id, lsn, ROOST_ENOCOLL, NULL);
	int rc = ingest__admit_new(w, lsn, r);
	if (rc)
		return rc;
	uint64_t at = r->as_of_lsn ? r->as_of_lsn : lsn;
	uint64_t start = manifest_history_start(src->created_lsn, src->reclaimed_lsn);
	if (at > lsn) {
		snprintf(note, sizeof note, "as_of_lsn %llu is past the fork's own LSN %llu",
			 (unsigned long long)at, (unsigned long long)lsn);
		return ingest__refuse(w, r->client_id, lsn, ROOST_EINVAL, note);
	}
	if (at < start) {
		snprintf(note, sizeof note,
			 "collection '%s' keeps history from LSN %llu: as_of_lsn %llu is before it",
			 src->name, (unsigned long long)start, (unsigned long long)at);
		return ingest__refuse(w, r->client_id, lsn, ROOST_EHISTORY, note);
	}
	if (w->man.nsegments + ingest__segments_of(w, src->id) + 1 > MANIFEST_MAX_SEGS) {
		snprintf(note, sizeof note,
			 "the instance has %u segments: sharing those of '%s' would pass the most "
			 "a manifest holds (%u)",
			 w->man.nsegments, src->name, MANIFEST_MAX_SEGS);
		return ingest__refuse(w, r->client_id, lsn, ROOST_ETOOBIG, note);
	}
	if (ingest__untrained(w, (uint32_t)(src - w->man.colls))) {
		snprintf(note, sizeof note,
			 "collection '%s' waits for the rows its index trains on: fork it once it "
			 "has sealed a segment",
			 src->name);
		return ingest__refuse(w, r->client_id, lsn, ROOST_EINVAL, note);
	}
	return 0;
}

static int ingest__admit_drop(ingest *w, uint64_t lsn, const struct collrec *r)
{
	const struct manifest_coll *mc = manifest_coll_named(&w->man, r->name);
	if (mc && (r->id == 0 || r->id == mc->id))
		return 0;
	return ingest__refuse(w, r->client_id, lsn, ROOST_ENOCOLL, NULL);
}

/* Records the log holds for what the manifest already reflects are
 * skipped quietly while replaying: ROOST_ENOENT. */
static int ingest__admit_coll(ingest *w, uint64_t lsn, const void *data, uint32_t len,
			      struct ingest_rec *r)
{
	r->kind = INGEST_COLL;
	if (collrec_parse(data, len, &r->coll) != 0) {
		log_error("collection record at LSN %llu fails its checks; skipped",
			  (unsigned long long)lsn);
		return ROOST_ECORRUPT;
	}
	if (w->replaying && lsn < w->man.catalog_lsn)
		return ROOST_ENOENT;
	if (keys_repeats(w->keys, r->coll.client_id, r->coll.seq, lsn))
		return ingest__refuse(w, r->coll.client_id, lsn, ROOST_EKEY, NULL);
	switch (r->coll.op) {
	case COLLREC_CREATE:
		return ingest__admit_create(w, lsn, &r->coll);
	case COLLREC_DROP:
		return ingest__admit_drop(w, lsn, &r->coll);
	case COLLREC_FORK:
		return ingest__admit_fork(w, lsn, &r->coll);
	default:
		return ingest__admit_alter(w, lsn, &r->coll);
	}
}

/* The position of a batch's or delete's collection, and whether the
 * record is to be applied: ROOST_ENOENT for one replay skips quietly. */
static int ingest__admit_for(ingest *w, uint64_t lsn, uint32_t id, uint64_t client_id, uint64_t seq,
			     const char *what, struct ingest_rec *r)
{
	r->at = ingest__pos(w, id);
	if (r->at == UINT32_MAX) {
		if (w->replaying && lsn < w->man.catalog_lsn)
			return ROOST_ENOENT; /* its collection was dropped later */
		log_warn("%s at LSN %llu is for collection %u, which no longer exists; skipped",
			 what, (unsigned long long)lsn, id);
		return ingest__refuse(w, client_id, lsn, ROOST_ENOCOLL, NULL);
	}
	if (w->replaying && lsn < w->man.colls[r->at].tail_start)
		return ROOST_ENOENT; /* in a segment (or its tombstones) already */
	if (keys_repeats(w->keys, client_id, seq, lsn)) {
		log_warn("%s at LSN %llu repeats key (%llx, %llu); skipped", what,
			 (unsigned long long)lsn, (unsigned long long)client_id,
			 (unsigned long long)seq);
		return ingest__refuse(w, client_id, lsn, ROOST_EKEY, NULL);
	}
	return 0;
}

static int ingest__admit_batch(ingest *w, uint64_t lsn, const void *data, uint32_t len,
			       struct ingest_rec *r)
{
	r->kind = INGEST_BATCH;
	int rc = batch_parse(data, len, 0, &r->view);
	if (rc) {
		log_error("batch at LSN %llu fails its checks; skipped", (unsigned long long)lsn);
		return rc;
	}
	const struct batch_header *h = r->view.hdr;
	uint32_t id = batch_collection(&r->view);
	if ((r->at = ingest__pos(w, id)) != UINT32_MAX &&
	    h->dim != w->man.colls[r->at].settings.dim) {
		log_error("batch at LSN %llu has dimension %u, collection %u has %u; skipped",
			  (unsigned long long)lsn, h->dim, id, w->man.colls[r->at].settings.dim);
		return ROOST_ECORRUPT;
	}
	/* A repeated key is refused: its broker must not hand out ids that
	 * will never exist. */
	return ingest__admit_for(w, lsn, id, h->client_id, h->seq, "batch", r);
}

static int ingest__admit_delete(ingest *w, uint64_t lsn, const void *data, uint32_t len,
				struct ingest_rec *r)
{
	r->kind = INGEST_DELETE;
	int rc = delrec_parse(data, len, &r->del);
	if (rc) {
		log_error("delete at LSN %llu fails its checks; skipped", (unsigned long long)lsn);
		return rc;
	}
	const struct delrec_header *h = r->del.hdr;
	return ingest__admit_for(w, lsn, h->collection, h->client_id, h->seq, "delete", r);
}

/* Parses a record from the ring or the log; 0 when it should be applied. */
static int ingest__admit(ingest *w, uint64_t lsn, const void *data, uint32_t len,
			 struct ingest_rec *r)
{
	if (collrec_is(data, len))
		return ingest__admit_coll(w, lsn, data, len, r);
	if (delrec_is(data, len))
		return ingest__admit_delete(w, lsn, data, len, r);
	return ingest__admit_batch(w, lsn, data, len, r);
}

/* ---- recovery ---- */

/* A long log takes a while to replay: say how far it got, every second. */
static void ingest__replay_progress(ingest *w)
{
	int64_t now = futex_now_ms();
	if (w->replay_said_ms == 0)
		w->replay_said_ms = now;
	if (now - w->replay_said_ms < 1000)
		return;
	w->replay_said_ms = now;
	log_info("replaying the log: at LSN %llu", (unsigned long long)w->end);
}

static int ingest__replay_one(void *arg, uint64_t lsn, uint64_t next, const void *payload,
			      uint32_t len)
{
	ingest *w = arg;
	struct ingest_rec r = {.rec = {.pos = lsn, .next = next}};
	if (ingest__admit(w, lsn, payload, len, &r) == 0) {
		int rc = ingest__apply(w, &r);
		if (rc)
			return rc;
		killpoint_reach(KILLPOINT_REPLAY);
		if (r.kind == INGEST_BATCH && wcoll_unindexed(w->colls[r.at]) >= 16384 &&
		    (rc = wcoll_index_pending(w->colls[r.at], PLACE_MUST_ADD)))
			return rc;
	}
	w->end = next;
	ingest__replay_progress(w);
	return 0;
}

static int ingest__saw_record(void *arg, uint64_t lsn, uint64_t next, const void *payload,
			      uint32_t len)
{
	ingest *w = arg;
	struct batch_view b;
	(void)next;
	/* From the catalog LSN on, replay applies every batch of a
	 * collection live at its LSN; below it, it skips those of collections
	 * dropped since. */
	if (lsn >= w->man.catalog_lsn)
		return INGEST_SAW_DONE;
	if (!collrec_is(payload, len) && !delrec_is(payload, len) &&
	    batch_parse(payload, len, 0, &b) == 0)
		ingest__saw_times(w, lsn, &b);
	return 0;
}

static int ingest__saw_sealed_times(ingest *w)
{
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < w->man.nsegments; i++) {
		const struct manifest_segment *s = &w->man.segments[i];
		char path[INST_PATH_MAX];
		struct segment_docs d = {0};
		struct segment_map map = {0};
		rc = manifest_segment_path(w->cfg.inst->data_dir, s->coll, s->start_lsn, s->end_lsn,
					   "docs", path, sizeof path);
		if (rc == 0)
			rc = segment_map(path, &d, &map);
		for (uint64_t r = 0; rc == 0 && r < d.count; r++)
			retain_saw(&w->cfg.retain, d.ids[r], d.times[r]);
		segment_unmap(&map, &d);
	}
	return rc;
}

/* ... and, at start, every document still on disk: the rows of the
 * segments (retention may have been set after its log was rotated) and
 * the records the log keeps below the catalog LSN, whose files from the
 * horizon on rotation kept (the first document to reach it may be of a
 * collection dropped since); replay shows the rest. */
static int ingest__saw_kept_times(ingest *w)
{
	uint64_t end;
	if (w->cfg.retain.kind != RETAIN_FROM_TIME)
		return 0;
	int rc = ingest__saw_sealed_times(w);
	if (rc == 0)
		rc = wal_scan(w->wal_dir, 0, ingest__saw_record, w, &end);
	/* No log yet: a new instance. */
	if (rc == INGEST_SAW_DONE || rc == ROOST_ENOENT)
		rc = 0;
	if (rc)
		log_error("cannot read the times of the documents kept for --retain: %s",
			  roost_strerror(rc));
	return rc;
}

/* The control block outlives writers, and replay applies batches again:
 * after recovery the document count is recounted, not accumulated. */
static void ingest__count(ingest *w)
{
	uint64_t docs = 0;
	for (uint32_t i = 0; i < w->man.nsegments; i++)
		docs += w->man.segments[i].count;
	for (uint32_t i = 0; i < w->man.ncolls; i++)
		docs += wcoll_unsealed(w->colls[i]);
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
	w->replaying = 1;
	int rc = wal_replay(w->wal_dir, w->man.tail_start, ingest__replay_one, w, &end);
	w->replaying = 0;
	if (rc) {
		log_error("log replay from %s failed: %s", w->wal_dir, roost_strerror(rc));
		return rc;
	}
	if (end > w->end)
		w->end = end;
	for (uint32_t i = 0; rc == 0 && i < w->man.ncolls; i++)
		rc = wcoll_index_pending(w->colls[i], PLACE_MUST_ADD);
	if (rc == 0)
		rc = ingest__reconcile_catalog(w);
	if (rc)
		return rc;
	/* Readers move to the new tails now, before they are published: one
	 * that finds its new view behind keeps the old one until it is not. */
	uint64_t published = ctl_mark(w->ctl, CTL_PUBLISHED);
	for (uint32_t i = 0; i < w->man.ncolls; i++)
		wcoll_show_tail(w->colls[i], published);
	inst_shm_sweep_tails(w->cfg.inst, ingest__tail_is_current, w);
	/* A new control block was seeded with the manifest's keys; brokers
	 * need those of the log too, or the retry of a batch logged before the
	 * block was lost (a reboot) would be taken for a new one. */
	if (w->ctl_new)
		keys_each(w->keys, ingest__seed_key, w->ctl);
	ctl_advance(w->ctl, CTL_DURABLE, w->end);
	ingest__publish(w, w->end);
	ingest__count(w);
	log_info("recovered to LSN %llu: %u collections, %u segments, %llu documents",
		 (unsigned long long)w->end, w->man.ncolls, w->man.nsegments,
		 (unsigned long long)ctl_documents(w->ctl));
	return 0;
}

/* ---- start ---- */

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
	if (rc == 0 && (rc = catalog_open_writer(&w->cat, w->cfg.inst->catalog_path,
						 w->cfg.inst->file_mode)) != 0)
		log_error("cannot open %s: %s", w->cfg.inst->catalog_path, roost_strerror(rc));
	if (rc == 0 && mstat_create(&w->metrics, w->cfg.inst, MSTAT_WRITER, "writer") != 0)
		log_warn("cannot make the writer's metrics object; it is not counted");
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
		ingest__chmod_published(w);
	if (rc == 0)
		rc = sweep_data_dir(cfg->inst->data_dir, &w->man);
	if (rc == 0)
		rc = ingest__open_ctl(w);
	if (rc == 0)
		rc = worker_start(&w->sealer, INGEST_WORKER_NICE);
	if (rc == 0)
		rc = worker_start(&w->merger, INGEST_WORKER_NICE);
	w->recovering = 1;
	if (rc == 0)
		rc = ingest__open_colls(w);
	if (rc == 0)
		rc = ingest__saw_kept_times(w);
	if (rc == 0)
		rc = ingest__replay(w);
	w->recovering = 0;
	if (rc == 0)
		rc = ingest__open_ring(w);
	if (rc == 0) {
		w->made.wal = made_missing(w->wal_dir);
		rc = wal_open(&w->wal, w->wal_dir, w->end);
	}
	if (rc == 0)
		ingest__show_history(w);
	if (rc) {
		made_undo(&w->made);
		ingest_close(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* ---- the ingest loop ---- */

/* Collects committed records from pos: waits for the first, takes what is
 * already there after it, and stops before a batch its collection's tail
 * cannot hold, so a group is never split by a seal. A create or a drop
 * makes a group of its own: what follows it is admitted against the
 * collections as it leaves them. Returns the count; *full is the position
 * of a collection whose tail cannot hold the first batch (else
 * UINT32_MAX). */
static int ingest__alone(const void *data, size_t len)
{
	return collrec_is(data, len) || delrec_is_by_filter(data, len);
}

/* Counts a batch or a delete into the group, when its collection's tail
 * has room for it and for what the group holds already. */
static int ingest__group_fits(ingest *w, const struct ingest_rec *r)
{
	uint64_t docs = w->group_docs[r->at], text = w->group_text[r->at];
	uint64_t tombs = w->group_tombs[r->at];
	if (r->kind == INGEST_BATCH) {
		docs += r->view.hdr->count;
		text += r->view.hdr->text_bytes;
		tombs += r->view.hdr->count;
	} else {
		tombs += r->del.hdr->count;
	}
	if (!wcoll_fits(w->colls[r->at], docs, text, tombs))
		return 0;
	w->group_docs[r->at] = docs;
	w->group_text[r->at] = text;
	w->group_tombs[r->at] = tombs;
	return 1;
}

static uint32_t ingest__collect(ingest *w, uint64_t pos, struct ingest_rec *recs, uint32_t *full)
{
	uint32_t n = 0;
	*full = UINT32_MAX;
	memset(w->group_docs, 0, w->man.ncolls * sizeof *w->group_docs);
	memset(w->group_text, 0, w->man.ncolls * sizeof *w->group_text);
	memset(w->group_tombs, 0, w->man.ncolls * sizeof *w->group_tombs);
	while (n < w->cfg.group_max) {
		struct ingest_rec *r = &recs[n];
		if (ring_read(w->ring, pos, n == 0 ? 200 : 0, &r->rec) != 0)
			break;
		/* A create, a drop or a delete by filter is alone in its group:
		 * what it changes is known only as it is applied. */
		if (n > 0 && ingest__alone(r->rec.data, r->rec.len))
			break;
		r->apply = ingest__admit(w, r->rec.pos, r->rec.data, r->rec.len, r) == 0;
		if (r->apply && !ingest__alone(r->rec.data, r->rec.len) &&
		    !ingest__group_fits(w, r)) {
			*full = n == 0 ? r->at : UINT32_MAX;
			break;
		}
		pos = r->rec.next;
		n++;
		if (ingest__alone(r->rec.data, r->rec.len))
			break;
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
	killpoint_reach(KILLPOINT_LOG_BEFORE_SYNC);
	int rc = wal_sync(w->wal);
	if (rc == 0)
		killpoint_reach(KILLPOINT_LOG_AFTER_SYNC);
	return rc;
}

/* Reserves the tail memory a group needs before any of it is logged: a
 * full memory file system then stalls the writer as a full disk does,
 * with the group still in the ring. */
static int ingest__reserve_group(ingest *w)
{
	for (uint32_t i = 0; i < w->man.ncolls; i++) {
		if (!w->group_docs[i] && !w->group_tombs[i])
			continue;
		int rc = wcoll_reserve(w->colls[i], w->group_docs[i], w->group_text[i],
				       w->group_tombs[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Applies what the group holds; its batches go into the indexes with one
 * add call per collection. ROOST_EBUSY: applied, but a collection was
 * refused a place in the index for now. */
static int ingest__apply_group(ingest *w, struct ingest_rec *recs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!recs[i].apply)
			continue;
		int rc = ingest__apply(w, &recs[i]);
		if (rc)
			return rc;
	}
	int busy = 0;
	for (uint32_t i = 0; i < w->man.ncolls; i++) {
		if (!w->group_docs[i])
			continue;
		int rc = wcoll_index_pending(w->colls[i], PLACE_MAY_REFUSE);
		if (rc == ROOST_EBUSY)
			busy = 1;
		else if (rc)
			return rc;
	}
	return busy ? ROOST_EBUSY : 0;
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
static int ingest__retry_waiting(ingest *w, volatile sig_atomic_t *stop)
{
	int busy = 0;
	for (uint32_t i = 0; i < w->man.ncolls; i++) {
		wcoll *c = w->colls[i];
		if (!wcoll_waiting(c))
			continue;
		int rc = wcoll_index_pending(c, PLACE_MAY_REFUSE);
		ctl_set_writer_mode(w->ctl, place_mode(w->place));
		if (rc == ROOST_EBUSY && wcoll_aged(c))
			rc = ingest__seal(w, i);
		if (rc == ROOST_EBUSY)
			busy = 1;
		else if (rc)
			return rc;
	}
	if (busy)
		ingest__pause(stop, 1000);
	return busy ? ROOST_EBUSY : 0;
}

/* Seals what must be: the collection the next batch does not fit in, a
 * seal that failed half way, and tails older than their interval. */
static int ingest__seal_due(ingest *w, uint32_t full)
{
	for (uint32_t i = 0; i < w->man.ncolls; i++) {
		/* An aged tail waits for the frozen one before it; a full one
		 * cannot. */
		if (i != full && (!wcoll_aged(w->colls[i]) || wcoll_frozen(w->colls[i])))
			continue;
		int rc = ingest__seal(w, i);
		if (rc)
			return rc;
	}
	return 0;
}

/* A logged create or delete by filter (alone in its group) that failed
 * for want of shared memory for its tail: ingest__create undid it, a
 * delete by filter ends nothing twice, and being logged it must be
 * applied, so the writer stalls and tries again, as on a full disk,
 * rather than exit and meet it again in replay. */
static int ingest__create_short(int rc, const struct ingest_rec *recs, uint32_t n)
{
	return (rc == ROOST_ENOSPC || rc == ROOST_ENOMEM) && n == 1 &&
	       ingest__alone(recs[0].rec.data, recs[0].rec.len);
}

int ingest_run(ingest *w, volatile sig_atomic_t *stop)
{
	struct ingest_rec *recs = calloc(w->cfg.group_max, sizeof *recs);
	if (!recs)
		return ROOST_ENOMEM;
	ctl_set_writer_mode(w->ctl, place_mode(w->place));
	w->sealed_ms = futex_now_ms();
	ingest__plan_compaction(w);
	int rc = 0;
	while (!*stop) {
		ingest__finish_compaction(w);
		ingest__rest(w);
		if ((rc = ingest__finish_seals(w, 0)) != 0) {
			ingest__stall(w, "seal", rc, stop);
			rc = 0;
			continue;
		}
		rc = ingest__retry_waiting(w, stop);
		if (rc == ROOST_EBUSY) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		uint32_t full;
		uint32_t n = ingest__collect(w, w->end, recs, &full);
		if ((rc = ingest__seal_due(w, full)) != 0) {
			/* The group stays in the ring, the tails as they were. */
			ingest__stall(w, "seal", rc, stop);
			rc = 0;
			continue;
		}
		if (n == 0 || full != UINT32_MAX)
			continue;
		if ((rc = ingest__reserve_group(w)) != 0) {
			log_error("cannot reserve shared memory for a tail: %s; retrying",
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
		mstat_group(w->metrics, end - recs[0].rec.pos);
		w->end = recs[0].rec.pos;
		rc = ingest__apply_group(w, recs, n);
		while (ingest__create_short(rc, recs, n) && !*stop) {
			ingest__stall(w, "tail", rc, stop);
			rc = ingest__apply_group(w, recs, n);
		}
		ctl_set_writer_mode(w->ctl, place_mode(w->place));
		if (rc == ROOST_EBUSY)
			rc = 0; /* in the tail, searchable; indexed once there is room */
		if (rc)
			break;
		ingest__publish(w, end);
		ring_release(w->ring, end);
	}
	/* What is frozen is sealed before the writer goes: a restart then
	 * replays less. */
	if (ingest__finish_seals(w, 1) != 0)
		log_warn("a frozen tail is left unsealed; the next start replays it");
	free(recs);
	return rc;
}

/* Jobs not installed are dropped: seals wait in the log (replayed at the
 * next start), merged files in the data directory's sweep. */
static void ingest__stop_workers(ingest *w)
{
	struct worker_job *j = worker_stop(w->sealer), *next;
	for (; j; j = next) {
		next = j->next;
		wcoll_seal_free(wcoll_seal_of(j));
	}
	wcoll_seal_free(w->installing);
	for (j = worker_stop(w->merger); j; j = next) {
		next = j->next;
		struct ingest_merge *m = (struct ingest_merge *)j;
		ingest__abandon_job(m);
		compact_free(m->c);
		rebuild_free(m->r);
		free(m);
	}
}

void ingest_close(ingest *w)
{
	if (!w)
		return;
	ingest__stop_workers(w);
	wal_close(w->wal);
	ring_close(w->ring);
	for (uint32_t i = 0; w->colls && i < w->man.ncolls; i++)
		wcoll_close(w->colls[i]);
	free(w->colls);
	free(w->group_docs);
	free(w->group_text);
	free(w->group_tombs);
	place_close(w->place); /* after the indexes, which may hold GPU memory */
	mstat_close(w->metrics, w->cfg.inst);
	catalog_close(w->cat);
	ctl_close(w->ctl);
	keys_free(w->keys);
	manifest_free(&w->man);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	free(w);
}
