/* Which version of each document is current, and which versions upserts
 * and deletes ended: one collection's, as the writer holds it.
 *
 * A document's own id (its key) maps to its current version (the number
 * its row got); an upsert ends the version it replaces, a delete the one
 * it names. Every ended version is a tombstone (store/tomb.h), kept here
 * until compaction drops its row, written to the collection's tombstone
 * file at each seal, and rebuilt at start from that file, the segments'
 * keys and the log. Only the writer's ingest thread touches it. */
#ifndef ROOST_DOCMAP_H
#define ROOST_DOCMAP_H

#include "manifest.h"
#include "tomb.h"

#include <stdint.h>

typedef struct docmap docmap;

/* The collection of manifest entry mc as m's segments and its tombstone
 * file (mc->tomb_gen) in dir left it. ROOST_ECORRUPT (logged) when one of
 * them fails its checks. */
int docmap_load(docmap **out, const char *dir, const struct manifest *m,
		const struct manifest_coll *mc);
void docmap_free(docmap *d);

/* A copy of d: what a fork made as of now holds, read from memory instead
 * of every shared segment again. */
int docmap_copy(const docmap *d, docmap **out);

/* Makes version the current one of key; *ended receives the version it
 * replaced (0: none). */
int docmap_upsert(docmap *d, const char *key, uint32_t len, uint64_t version, uint64_t *ended);

/* key has no current version any more; *ended receives the one it had
 * (0: none). */
void docmap_forget(docmap *d, const char *key, uint32_t len, uint64_t *ended);

/* Ends version at end_lsn: 1 when it was live (a new tombstone), 0 when
 * it had ended before. */
int docmap_end(docmap *d, uint64_t version, uint64_t end_lsn, int *ended_now);

/* 1 when version has ended. */
int docmap_is_ended(const docmap *d, uint64_t version);

/* Every tombstone, ascending version, in a malloc'ed array (NULL when n
 * is 0), for the tombstone file. */
int docmap_tombs(const docmap *d, struct tomb **out, uint64_t *n);

/* How many tombstones there are. */
uint64_t docmap_ended(const docmap *d);

/* Compaction dropped the rows of versions in [lo, hi) that ended below
 * below: their tombstones go (the tombstone file no longer names them),
 * and so do the keys whose version is one of them, as a restart would
 * find them. Versions ended since stay ended. */
void docmap_drop_range(docmap *d, uint64_t lo, uint64_t hi, uint64_t below);

#endif
