/* A collection's tombstone file: every version of its sealed documents
 * that an upsert or a delete ended, with the LSN of the record that ended
 * it, as of one manifest generation (tombs-<coll>-<gen>, named by the
 * manifest's tomb_gen). Readers hide those rows; compaction drops them.
 *
 * A version is the number a document's row got (its batch's LSN plus its
 * index in the batch), unique in the instance, so a tombstone names its
 * row whichever segment holds it.
 *
 * File layout (TOMB_VERSION 1), little-endian:
 *   struct tomb__header            32 bytes (tomb.c)
 *   struct tomb entries[count]     16 bytes each, ascending version
 * The header's crc is the CRC-32C of the header before it and of every
 * entry. Each entry ends a version after its birth: end_lsn > version.
 */
#ifndef ROOST_TOMB_H
#define ROOST_TOMB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TOMB_VERSION   1u
#define TOMB_MAX_COUNT (1ull << 32)

struct tomb {
	uint64_t version; /* the row's number */
	uint64_t end_lsn; /* the upsert or delete that ended it */
};

/* Writes path atomically (store/durable.h) with mode. ROOST_EINVAL, writing nothing,
 * for entries tomb_load would refuse (unsorted, repeated, end_lsn not
 * above version). */
int tomb_store(const char *path, const struct tomb *t, uint64_t n, mode_t mode);

/* Reads and checks path into a malloc'ed array (NULL when n is 0).
 * ROOST_ECORRUPT on any inconsistency, ROOST_EVERSION for another
 * TOMB_VERSION. */
int tomb_load(const char *path, struct tomb **out, uint64_t *n);

/* The same checks on bytes in memory; exposed for the fuzzer. */
int tomb_decode(const void *buf, size_t len, struct tomb **out, uint64_t *n);

/* The first entry of t[0..n) (ascending) at or above version; n if none. */
uint64_t tomb_lower(const struct tomb *t, uint64_t n, uint64_t version);

/* The entry for version in t[0..n) (ascending), or NULL. */
const struct tomb *tomb_find(const struct tomb *t, uint64_t n, uint64_t version);

#endif
