/* Collections: what names may be, and the settings each collection has.
 *
 * An instance holds named collections, each with its own dimension,
 * metric, FAISS index type and seal policy. The writer assigns each a
 * number (its id) when it applies the create, in LSN order, and never gives
 * a number out twice; requests name collections, records and files use
 * ids. These definitions are shared by the records that create and drop
 * collections (proto/), the manifest that lists them (store/), the catalog
 * that publishes them (shm/) and the writer, each of which keeps them in
 * its own documented layout.
 */
#ifndef ROOST_COLL_H
#define ROOST_COLL_H

#include <stddef.h>
#include <stdint.h>

#define COLL_NAME_MAX	63u /* bytes; a name buffer holds COLL_NAME_MAX + 1 */
#define COLL_INDEX_MAX	63u /* bytes of a FAISS factory string */
#define COLL_DEFAULT	"default"
#define COLL_DEFAULT_ID 1u /* `roost up --dim D`, and data written before collections */
#define COLL_MAX_DIM	4096u
#define COLL_KEYS_MAX	127u /* bytes of the indexed metadata keys, commas included */
#define COLL_KEYS_COUNT 8u   /* indexed metadata keys at most */

struct coll_settings {
	uint32_t dim;
	uint32_t metric; /* 0 L2, 1 inner product */
	char index[COLL_INDEX_MAX + 1];
	uint64_t train_docs;	   /* trained index types: vectors to train on */
	uint64_t seal_docs;	   /* documents per sealed segment (the tail's capacity) */
	uint32_t seal_interval_ms; /* seal a tail this old; 0: only when full */
	/* Top-level metadata keys that readers index (value -> rows per
	 * segment), comma-separated, each a valid collection name; "" none. */
	char indexed_keys[COLL_KEYS_MAX + 1];
};

/* 0 when name (NUL-terminated) is a valid collection name: 1 to
 * COLL_NAME_MAX bytes of [A-Za-z0-9_.-], the first a letter or digit.
 * Otherwise ROOST_EINVAL, and why (when not NULL) says what is wrong in
 * words for the user. */
int coll_name_check(const char *name, char *why, size_t len);

/* 0 when keys (NUL-terminated) is a valid indexed-keys list: "" or up to
 * COLL_KEYS_COUNT distinct keys separated by single commas, each following
 * the rules of collection names, COLL_KEYS_MAX bytes in all. Otherwise
 * ROOST_EINVAL, and why (when not NULL) says what is wrong. */
int coll_keys_check(const char *keys, char *why, size_t len);

/* Walks a checked list: while *at (0 at first) is below its length, each
 * call returns the next key's length, the key starting at keys + *start,
 * and moves *at past it. */
size_t coll_keys_next(const char *keys, size_t *at, size_t *start);

/* 0 when index (NUL-terminated) is a FAISS factory string of a type
 * roost takes from a client (a create or an alter): Flat; HNSW<M> (M 2 to
 * 256), alone or _SQ<k>/_PQ<m>; IVF<n>[_HNSW<M>] (n 1 to 1048576) with
 * Flat, SQ<k> or PQ<m>[x<bits>]; PQ<m>[x<bits>] (bits 1 to 16); SQ<k>
 * (SQ4, SQ6, SQ8, SQfp16). train_docs (0: not checked) must give every
 * k-means of the type enough vectors: the IVF lists, 2^bits per PQ.
 * Otherwise ROOST_EINVAL, and why (when not NULL) says what is wrong. Pure
 * syntax: whether FAISS builds it at a dimension is its own question. */
int coll_index_check(const char *index, uint64_t train_docs, char *why, size_t len);

/* The name a request means: "" and NULL mean COLL_DEFAULT. */
const char *coll_name_or_default(const char *name);

/* 1 when a and b are the same settings. */
int coll_settings_equal(const struct coll_settings *a, const struct coll_settings *b);

#endif
