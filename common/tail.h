/* The tail: the newest documents, not yet sealed into a segment, kept in a
 * shared-memory object that the writer appends to and readers search in
 * place (exactly, without copying).
 *
 * Making documents visible costs one release store of `count`, whatever
 * the size of the index: this is what keeps freshness flat as data grows.
 * When the tail fills (or ages), the writer seals it into a segment and
 * starts a new tail object under a new serial; readers move over when they
 * see ctl's tail serial change, and the kernel frees the old object once
 * the last reader unmaps it.
 *
 * Layout (TAIL_VERSION 1): struct tail_header (TAIL_HEADER_SIZE bytes),
 * then column arrays at the offsets the header gives, each 64-byte aligned:
 *   uint64 ids[cap], int64 agents[cap], int64 times[cap],
 *   uint32 text_off[cap], uint32 text_len[cap],
 *   struct segment_kind kinds[cap], char text[text_cap],
 *   float vectors[cap * dim]
 * Readers map it read-only and check every offset against the object size.
 */
#ifndef ROOST_TAIL_H
#define ROOST_TAIL_H

#include "batch.h"
#include "segment.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define TAIL_VERSION	 1u
#define TAIL_HEADER_SIZE 4096u

struct tail_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t serial;       /* names the object; see ctl tail_serial */
	uint64_t manifest_gen; /* the manifest whose segments precede it */
	uint64_t start_lsn;    /* equals that manifest's tail_start */
	uint32_t dim;
	uint32_t metric;
	uint64_t capacity;	/* documents */
	uint64_t text_capacity; /* bytes */
	uint64_t total_size;
	uint64_t off_ids, off_agents, off_times, off_text_off, off_text_len, off_kinds, off_text,
	    off_vectors;
	/* Published by tail_publish (release), read by tail_view (acquire):
	 * end_lsn is stored after count, and loaded before it, so a reader's
	 * count always covers every batch below the end_lsn it saw. */
	_Atomic uint64_t count;
	_Atomic uint64_t end_lsn;
	_Atomic uint32_t sealed; /* a newer tail replaced this one */
};

typedef struct tail tail;

struct tail_config {
	uint64_t serial, manifest_gen, start_lsn;
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

const struct tail_header *tail_header(const tail *t);

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

/* Writer: marks the tail replaced. */
void tail_seal(tail *t);

/* A consistent view of the published documents; the arrays point into the
 * shared object (block is NULL). */
void tail_view(const tail *t, struct segment_docs *out);

#endif
