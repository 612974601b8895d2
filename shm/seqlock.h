#ifndef ROOST_SEQLOCK_H
#define ROOST_SEQLOCK_H

/* A seqlock over a few shared-memory words: one writer, any number of
 * readers in other processes, no reader ever blocks the writer.
 *
 * The guarded data is an array of _Atomic uint64_t: every access to it is
 * atomic (relaxed), so a reader racing the writer reads stale or mixed
 * words but never makes a data race; the sequence number tells it to
 * retry. The sequence is odd while the writer is inside. */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Write side: the caller stores the words between begin and end. */
void seqlock_write_begin(_Atomic uint32_t *seq);
void seqlock_store(_Atomic uint64_t *dst, const void *src, size_t words);
void seqlock_write_end(_Atomic uint32_t *seq);

/* Copies `words` words from src to dst as one consistent image: 0, or
 * ROOST_EBUSY when the writer kept changing them (or died inside), so a
 * reader never spins forever on a seqlock left odd. */
int seqlock_read(_Atomic uint32_t *seq, _Atomic uint64_t *src, void *dst, size_t words);

#endif
