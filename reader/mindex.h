/* A metadata index of a segment's or a tail's rows: for each of its
 * collection's indexed keys (base/coll.h), the distinct values the rows
 * hold and the rows holding each.
 *
 * A filter on an indexed key then tests each distinct value once
 * (metaq_value_meets) and takes the rows of those that meet it, instead of
 * reading every row's metadata. The rows it gives are candidates: the
 * search still tests each against the whole filter, so the index can
 * never change what matches, only how many rows are read.
 *
 * Values are told apart by their JSON text as stored: 5 and 5.0 are two
 * values here (both meet a condition that wants 5), which is why values
 * are tested rather than looked up. A reader builds a segment's index when
 * it loads the segment, in memory, and grows a tail's as rows are
 * published (rows are only ever appended to a tail). One index is not
 * safe to extend and read at once: its user serialises them.
 */
#ifndef ROOST_MINDEX_H
#define ROOST_MINDEX_H

#include "metaq.h"
#include "segment.h"

#include <stdint.h>

struct mindex;

/* An empty index of keys, a checked comma-separated list
 * (coll_keys_check); *out is NULL when keys is empty. 0 or ROOST_ENOMEM. */
int mindex_new(struct mindex **out, const char *keys);

/* Indexes the rows of d past those x holds (d's rows only ever grow, as a
 * tail's do, and its memory outlives x: values point into its text). On
 * ROOST_ENOMEM the rows indexed so far stay, and a later call goes on.
 * Nothing to do for x NULL. */
int mindex_extend(struct mindex *x, const struct segment_docs *d);

/* How many rows x holds (0 for NULL). */
uint64_t mindex_rows(const struct mindex *x);

/* mindex_new and mindex_extend over all of d; *out NULL on failure. */
int mindex_build(struct mindex **out, const struct segment_docs *d, const char *keys);

/* Whether x indexes a key some condition of q tests: then mindex_select
 * narrows the rows. */
int mindex_covers(const struct mindex *x, const struct metaq *q);

/* Sets in bits (rows bits, zeroed by the caller) the rows whose value of
 * an indexed key q tests meets q's condition on it (the key whose
 * condition leaves the fewest rows); returns how many. Every row that
 * meets q is among them. Only meaningful when mindex_covers(x, q). */
uint64_t mindex_select(const struct mindex *x, const struct metaq *q, uint64_t rows, uint8_t *bits);

/* Distinct values of the i-th indexed key (for tests and status). */
uint64_t mindex_values(const struct mindex *x, uint32_t i);

void mindex_free(struct mindex *x);

#endif
