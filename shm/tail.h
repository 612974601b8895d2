/* The tail: the newest documents, not yet sealed into a segment, kept in a
 * shared-memory object that the writer appends to and readers search in
 * place (exactly, without copying).
 *
 * Making documents visible costs one release store of `count`, whatever
 * the size of the index: this is what keeps freshness flat as data grows.
 * Each collection has its own tail. When it fills (or ages), the writer
 * freezes it (tail_seal) and starts a new tail object under a new serial;
 * readers search both while a worker thread writes the frozen one's
 * segment, then move on when the catalog names the new one alone, and
 * the kernel frees the old object once the last reader unmaps it.
 *
 * The layout is private to tail.c, which documents it. Readers map the
 * object read-only and check every offset against its size.
 */
#ifndef ROOST_TAIL_H
#define ROOST_TAIL_H

#include "batch.h"
#include "segment.h"
#include "tomb.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tail tail;

struct tail_config {
	uint64_t serial;
	uint32_t coll;
	uint64_t tail_gen; /* the manifest generation whose segments precede it */
	uint64_t start_lsn;
	uint32_t dim, metric;
	uint64_t capacity, text_capacity;
	mode_t mode;
};

/* Writer: creates the object (replacing a stale one of the same name), at
 * the size of a full tail but with only its header's memory reserved. */
int tail_create(tail **out, const char *path, const struct tail_config *cfg);

/* Readers: maps an existing tail read-only and checks its layout. */
int tail_open(tail **out, const char *path);

void tail_close(tail *t);
int tail_unlink(const char *path);

uint32_t tail_collection(const tail *t);

/* The generation of the manifest whose segments of the collection precede
 * this tail: a view is consistent when the manifest it reads records the
 * same for the collection (store/manifest.h). TAIL_GEN_UNKNOWN while the
 * tail before it is frozen: the manifest that will name that one's
 * segment is not stored yet. */
#define TAIL_GEN_UNKNOWN UINT64_MAX
uint64_t tail_gen(const tail *t);

/* Writer: the frozen tail before this one is sealed into a segment that
 * the manifest of generation gen names, called before that manifest is
 * stored: readers then take either the manifest before it with the frozen
 * tail, or that one without it (tail_follows). */
void tail_set_gen(tail *t, uint64_t gen);

/* The first LSN the tail may hold: where the one before it ended. */
uint64_t tail_start(const tail *t);

/* Whether the current tail cur, after the frozen one (NULL: none), follows
 * the segments of a manifest that records generation gen for their
 * collection: 0, or ROOST_EBUSY when a freeze or a seal came in between
 * (or the catalog was read halfway through one): read the catalog and the
 * manifest again. *with_frozen: the frozen tail's rows are not in those
 * segments yet (else the manifest names its segment already, and the
 * current tail follows that). */
int tail_follows(const tail *cur, const tail *frozen, uint64_t gen, int *with_frozen);

/* Writer: the tail is no longer the collection's current one, and holds
 * what is below end_lsn; called before anything past it is published. */
void tail_seal(tail *t, uint64_t end_lsn);

/* A restarted writer: seals at end_lsn the tail a dead writer left (at
 * path), unless that writer sealed it, so that readers still on it know
 * how far it holds. */
int tail_seal_left(const char *path, uint64_t end_lsn);

/* 0 while the tail is current; else the end given to tail_seal. */
uint64_t tail_sealed_end(const tail *t);

/* The object's mapping and its size, for checks that a pointer lies in it. */
const void *tail_mapping(const tail *t, size_t *size);

/* Writer: 1 when docs more documents with text_bytes of text still fit. */
int tail_fits(const tail *t, uint64_t docs, uint64_t text_bytes);

/* Writer: reserves the memory of docs more documents with text_bytes of
 * text (and of some more, ahead). ROOST_ENOSPC when the memory file system
 * is full; ROOST_ETOOBIG when they do not fit (see tail_fits). */
int tail_reserve(tail *t, uint64_t docs, uint64_t text_bytes);

/* Writer: writes a parsed batch's documents after the published ones,
 * ids lsn + i; they stay invisible until tail_publish. The caller reserved
 * their memory with tail_reserve. */
void tail_append(tail *t, const struct batch_view *b, uint64_t lsn);

/* Writer: first unpublished row, and the vectors from row `from` on, for the
 * writer's own index (one add call per group). */
uint64_t tail_pending(const tail *t);
const float *tail_vectors(const tail *t, uint64_t from);

/* Writer: text bytes appended so far (a sealed segment stores only these). */
uint64_t tail_text_used(const tail *t);

/* Writer: makes every appended document visible, with every batch below
 * end_lsn. */
void tail_publish(tail *t, uint64_t end_lsn);

/* A consistent view of the published documents; the arrays point into the
 * shared object (block is NULL). */
void tail_view(const tail *t, struct segment_docs *out);

/* Writer: room for n more tombstones (at most capacity in all), and its
 * memory reserved (ROOST_ENOSPC: the memory file system is full); then
 * one appended, ending version at end_lsn, invisible until tail_publish. */
int tail_tomb_fits(const tail *t, uint64_t n);
int tail_tomb_reserve(tail *t, uint64_t n);
void tail_tomb_append(tail *t, uint64_t version, uint64_t end_lsn);

/* Writer: tombstones appended, published or not. */
uint64_t tail_tomb_pending(const tail *t);

/* The published tombstones, oldest first; called after tail_view, they
 * cover every record below the end_lsn it gave (and maybe more: a reader
 * keeps those below its end_lsn). */
void tail_tombs(const tail *t, const struct tomb **out, uint64_t *n);

#endif
