/* One collection as the writer holds it: its shared-memory tail, the FAISS
 * index of the segment being filled, and the seal that turns the tail into
 * a segment. The durable part (settings, segments, where its log starts)
 * is the collection's entry in the manifest, which the ingest thread keeps
 * and stores; a wcoll is what is rebuilt from it at every start. Only the
 * writer's single ingest thread touches it.
 *
 * A seal goes in three steps, split at the manifest rename:
 *   wcoll_freeze (ingest thread) starts a new tail and index at once and
 *     keeps the full tail, frozen, for readers to search exactly;
 *   wcoll_seal_write (a worker thread) writes the frozen tail's segment
 *     and tombstone file, which no manifest names yet;
 *   the ingest thread stores a manifest that names them, and wcoll_sealed
 *     lets the frozen tail go.
 * A crash at any point loses nothing: no log file goes before the manifest
 * that names the segment, and a restart replays the frozen tail's records. */
#ifndef ROOST_WCOLL_H
#define ROOST_WCOLL_H

#include "batch.h"
#include "catalog.h"
#include "coll.h"
#include "compact.h"
#include "ctl.h"
#include "delrec.h"
#include "docfilter.h"
#include "docmap.h"
#include "inst.h"
#include "manifest.h"
#include "place.h"
#include "worker.h"

#include <stdint.h>

/* The writer's command line, for settings a collection leaves at 0. */
struct wcoll_defaults {
	uint64_t seal_docs;
	uint64_t train_docs;
	uint32_t seal_interval_ms;
};

struct wcoll_env {
	const struct inst *inst;
	ctl *ctl;
	catalog *cat;
	place *place; /* NULL: CPU only */
	struct wcoll_defaults dflt;
	/* Recovering: a tail the catalog already names (the last writer's,
	 * with what it published) stays named until wcoll_show_tail. */
	int recovering;
};

typedef struct wcoll wcoll;
typedef struct wcoll_seal wcoll_seal;

/* The settings a collection works with: its own, and the defaults where
 * it has none. */
void wcoll_resolve(const struct wcoll_defaults *d, const struct coll_settings *own,
		   struct coll_settings *out);

/* Opens the collection of manifest entry mc, whose segments hold
 * `documents`: a new tail after them, the open segment's index (empty, or
 * the trained copy), and its entry in the catalog. It takes docs, its
 * documents' versions (freed also on failure). */
int wcoll_open(wcoll **out, const struct wcoll_env *env, const struct manifest_coll *mc,
	       uint64_t documents, uint32_t segments, docmap *docs);

/* Closes it; its tail stays for the readers (a restart makes new ones). */
void wcoll_close(wcoll *c);

/* The collection is dropped: its tail object goes (readers that map it
 * keep it until they move on), then it is closed. */
void wcoll_discard(wcoll *c);

uint32_t wcoll_id(const wcoll *c);
const struct coll_settings *wcoll_settings(const wcoll *c);

/* Names the collection's tail in the catalog, once recovery filled it:
 * until then readers kept the last writer's (see wcoll_env), which is
 * sealed at published, the end of what that writer published. */
void wcoll_show_tail(wcoll *c, uint64_t published);

/* Rows in the tail, published or not. */
uint64_t wcoll_rows(const wcoll *c);

/* Rows in no segment yet: the tail's and a frozen tail's. */
uint64_t wcoll_unsealed(const wcoll *c);

/* 1 when the tail holds rows or tombstones: something a seal moves. */
int wcoll_sealable(const wcoll *c);

/* 1 when docs more documents with text_bytes of text, and tombs more
 * tombstones (each upsert or deleted id may make one), fit in the tail. */
int wcoll_fits(const wcoll *c, uint64_t docs, uint64_t text_bytes, uint64_t tombs);

/* Reserves the tail memory of docs more documents and tombs more
 * tombstones (ROOST_ENOSPC when the memory file system is full). */
int wcoll_reserve(wcoll *c, uint64_t docs, uint64_t text_bytes, uint64_t tombs);

/* Appends a parsed batch at lsn (reserved before); each of its documents
 * with an id of its own ends that id's current version. Invisible until
 * wcoll_publish. */
int wcoll_append(wcoll *c, const struct batch_view *b, uint64_t lsn);

/* Applies a parsed delete at lsn (reserved before): the current version
 * of each id it names ends. Invisible until wcoll_publish. */
int wcoll_delete(wcoll *c, const struct delrec_view *d, uint64_t lsn);

/* A delete by filter, in two steps: the live versions f admits among
 * every row the collection holds (its segments, which m lists, read from
 * their files, and its tail, published or not; *out malloc'ed); then,
 * once the tail has room for their tombstones (wcoll_reserve), each of
 * them ended at lsn. */
int wcoll_select(wcoll *c, const struct manifest *m, const struct docfilter *f, uint64_t **out,
		 uint64_t *n);
int wcoll_end_all(wcoll *c, const uint64_t *versions, uint64_t n, uint64_t lsn);

/* Makes what was appended visible with every batch below end. */
void wcoll_publish(wcoll *c, uint64_t end);

/* Adds the appended but unindexed rows to the index with one add call.
 * ROOST_EBUSY (only with PLACE_MAY_REFUSE, policy refuse): the GPU has no
 * room; the rows wait, searchable in the tail, and wcoll_waiting says so. */
int wcoll_index_pending(wcoll *c, enum place_refusal refusal);
int wcoll_waiting(const wcoll *c);

/* Rows appended but not yet in the index. */
uint64_t wcoll_unindexed(const wcoll *c);

/* 1 when the tail is older than the collection's seal interval and may be
 * sealed (an untrained index needs its training documents first). */
int wcoll_aged(const wcoll *c);

/* Seal, first step: freezes the tail, which holds every row below end
 * (all published), as *out, to be written; a new tail (its generation
 * unknown until wcoll_sealed) and index follow it at once. Trains the
 * index first when it must, writing the trained copy as generation gen;
 * the tombstone file is of generation gen too. ROOST_EBUSY while the last
 * frozen tail is not sealed yet. On failure nothing changed (the memory
 * file system full, a failed training). */
int wcoll_freeze(wcoll *c, uint64_t end, uint64_t gen, wcoll_seal **out);

/* An alter applied: the collection's own settings are now own (resolved
 * against the defaults), of index generation index_gen, untrained. New
 * tails use them; a tail indexed with the old ones is sealed next
 * (wcoll_aged), and its segment rebuilt like the others. Fails only when
 * the new index cannot be opened (rows then wait in the tail). */
int wcoll_alter(wcoll *c, const struct coll_settings *own, uint32_t index_gen);
/* A background training of index generation index_gen stored its trained
 * index as trained_gen: an untrained tail gets its index from it. A
 * training the collection has already, or of older settings, is ignored. */
void wcoll_trained(wcoll *c, uint32_t index_gen, uint64_t trained_gen);
/* A rebuild of the collection failed (a training FAISS refused, a full
 * disk): none is planned again until its next seal or alter, and the
 * merger goes on with the other collections meanwhile. */
void wcoll_hold_rebuilds(wcoll *c);
int wcoll_rebuilds_held(const wcoll *c);
/* Rows not yet in a segment whose index is of settings an alter replaced:
 * the current tail's (sealed next, wcoll_aged) and a frozen tail's, as a
 * count of the segments they will make (0 to 2). */
uint32_t wcoll_stale_tails(const wcoll *c);
/* 1 when the index type of the collection's settings needs training. */
int wcoll_needs_training(const wcoll *c);
/* 1 while a frozen tail waits for its seal. */
int wcoll_frozen(const wcoll *c);

/* Seal, second step, off the ingest thread: writes the segment's files
 * and the tombstone file. */
int wcoll_seal_write(wcoll_seal *s);

/* The segment it writes (count 0: none), and the generations of the new
 * tombstone and trained files (0: none) for the manifest. */
const struct manifest_segment *wcoll_seal_segment(const wcoll_seal *s);
void wcoll_seal_gens(const wcoll_seal *s, uint64_t *tomb_gen, uint64_t *trained_gen);

/* The seal as a worker's job (its run left to the caller), and back. */
struct worker_job *wcoll_seal_job(wcoll_seal *s);
wcoll_seal *wcoll_seal_of(struct worker_job *j);

/* Seal, last steps: the manifest of generation gen, about to be stored,
 * names what the frozen tail's seal wrote, so the current tail follows it
 * (called before each try to store it); once it is stored, the frozen
 * tail goes. wcoll_sealed frees the seal. */
void wcoll_seal_follows(wcoll *c, uint64_t gen);
void wcoll_sealed(wcoll *c);

/* Frees a seal that is not installed (its collection dropped, the writer
 * stopping); the files it wrote wait for the data directory's sweep. */
void wcoll_seal_free(wcoll_seal *s);

/* 1 when serial names one of its tails. */
int wcoll_owns_tail(const wcoll *c, uint64_t serial);

/* A copy of its map of keys and ended versions (writer/docmap.h). */
int wcoll_copy_docs(const wcoll *c, docmap **out);

/* Versions of it that deletes and upserts ended, still in its files. */
uint64_t wcoll_ended(const wcoll *c);

/* The tombstones its tombstone file holds (ended below below, its
 * manifest tail_start), ascending version, malloc'ed (NULL when none). */
int wcoll_sealed_tombs(const wcoll *c, uint64_t below, struct tomb **out, uint64_t *n);

/* A stored manifest records a compaction (done): segments of it now,
 * ended rows of the merged range gone with their tombstones, and its
 * tombstone file now of generation tomb_gen (0: none). The old file goes. */
void wcoll_compacted(wcoll *c, uint32_t segments, const struct compact_done *done,
		     uint64_t tomb_gen);

#endif
