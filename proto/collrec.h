/* The collection record: how a create or a drop travels through the ring
 * and the log, ordered with the batches around it by its LSN.
 *
 * An alter changes a live collection's index type or training size; the
 * writer then rebuilds its segments' indexes in the background. A fork
 * makes a new collection (name) of what another (id) held as of an LSN.
 *
 * A broker writes it from a checked request; the writer applies it, and
 * applies it again when it replays the log. Every reader of these bytes
 * calls collrec_parse(), which trusts nothing.
 *
 * Layout (COLLREC_VERSION 2), little-endian, 320 bytes:
 *
 *   uint32 magic "RCOL"      uint16 version    uint16 op (enum collrec_op)
 *   uint64 client_id, seq    idempotency key, as a batch's
 *   char   name[64]          NUL-padded, a valid collection name
 *   uint32 dim, metric       create: the settings ("" index and 0 counts:
 *   char   index[64]                 the writer's defaults); drop: zero;
 *   uint64 train_docs, seal_docs     alter: index and train_docs only
 *   uint32 seal_interval_ms          ("" and 0 keep what the collection has)
 *   uint32 id                drop, alter, fork: the id the broker found
 *                            (a fork's: its source's); create: 0
 *   uint64 as_of_lsn         fork: the LSN it is made as of (0: its own
 *                            LSN); zero for the others
 *   char   indexed_keys[128] create: NUL-padded, a list coll_keys_check
 *                            accepts ("": none); drop: zero
 * Version 1 is the first 192 bytes alone: logs written before indexed keys
 * still replay, their creates with none.
 */
#ifndef ROOST_COLLREC_H
#define ROOST_COLLREC_H

#include "coll.h"

#include <stddef.h>
#include <stdint.h>

#define COLLREC_MAGIC	0x4c4f4352u /* "RCOL" */
#define COLLREC_VERSION 2u
#define COLLREC_SIZE	320u
#define COLLREC_V1_SIZE 192u

enum collrec_op {
	COLLREC_CREATE = 1,
	COLLREC_DROP = 2,
	COLLREC_ALTER = 3,
	COLLREC_FORK = 4,
};

/* A record, decoded. */
struct collrec {
	enum collrec_op op;
	uint64_t client_id, seq;
	char name[COLL_NAME_MAX + 1];
	struct coll_settings settings; /* create; alter: index, train_docs */
	uint32_t id;		       /* drop, alter; fork: the source's */
	uint64_t as_of_lsn;	       /* fork */
};

/* 1 when the record at data starts as a collection record does (its
 * magic): the writer tells the kinds of record apart by this. */
int collrec_is(const void *data, size_t len);

/* Decodes and checks a record of either version (its size must be that
 * version's): op, name, settings within their limits (a create's dimension
 * 1 .. COLL_MAX_DIM, metric 0 or 1, an index string of printable ASCII,
 * indexed keys coll_keys_check accepts). ROOST_ECORRUPT on failure. */
int collrec_parse(const void *data, size_t len, struct collrec *out);

/* Writes rec into dst, which holds COLLREC_SIZE bytes, as the newest
 * version. */
void collrec_write(const struct collrec *rec, void *dst);

#endif
