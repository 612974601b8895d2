/* The manifest: the one file that says what the durable state of an
 * instance is. It lists the collections, each with its settings and its
 * sealed segments, where the log must be replayed from, each collection's
 * trained empty index (IVF and other trained types), and the idempotency
 * keys as of the last write.
 *
 * It is replaced atomically (write MANIFEST.tmp, fsync, rename over
 * MANIFEST, fsync the directory), so a reader or a recovering writer sees
 * either the old or the new one, never a mix. Readers on other hosts read
 * it from shared storage.
 *
 * File layout (MANIFEST_VERSION 6), little-endian:
 *   header                     96 bytes (see manifest.c)
 *   collection entries         344 bytes each, ascending id
 *   struct manifest_segment    segments[nsegments], ascending (coll, start_lsn)
 *   struct manifest_key        keys[nkeys]
 *   uint32 crc32c of everything before it
 * Version 5 is version 6 with 336-byte collection entries (no index
 * generation: nothing was altered, every segment's index_gen is 0).
 * Version 4 is version 5 with 200-byte collection entries (no indexed
 * keys, no reclaimed LSN: its collections have none).
 * Version 3 is version 4 with 192-byte collection entries (no tomb_gen).
 * Versions 1 and 2, written before collections, are still read: their
 * settings and segments become collection 1, "default".
 */
#ifndef ROOST_MANIFEST_H
#define ROOST_MANIFEST_H

#include "coll.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MANIFEST_VERSION    6u
#define MANIFEST_NAME_LEN   40u /* instance name, NUL-terminated */
#define MANIFEST_MAX_COLLS  4096u
#define MANIFEST_MAX_SEGS   65536u
#define MANIFEST_MAX_KEYS   (1u << 20)
#define MANIFEST_MAX_COLLID 0x7fffffffu

/* A live collection. Settings seal_docs, train_docs and seal_interval_ms
 * of 0 follow the writer's command line, as they did before collections. */
struct manifest_coll {
	uint32_t id;
	char name[COLL_NAME_MAX + 1];
	struct coll_settings settings;
	uint64_t created_lsn; /* its create record; 0 for data older than collections */
	uint64_t tail_start;  /* its batches below this are in its segments */
	uint64_t trained_gen; /* 0: none; else its trained index file exists */
	/* The generation whose segments of it precede its current tail: set
	 * when a seal (or the create) starts a new tail, not by compaction. */
	uint64_t tail_gen;
	/* 0: no document of it was ever deleted or replaced in its segments;
	 * else its tombstone file (store/tomb.h) of that generation. */
	uint64_t tomb_gen;
	/* Rows whose versions ended below this are gone (0: none): compaction
	 * dropped them, or a replay rebuilt the collection as of this LSN and
	 * left them out (it may then lie past tail_start). Reads as of an
	 * older LSN would miss them, so they are refused. */
	uint64_t reclaimed_lsn;
	/* Alters applied to it (at most UINT32_MAX): segments whose index_gen
	 * is below it have an index of older settings, rebuilt in the
	 * background; trained_gen is always this generation's training. */
	uint64_t index_gen;
};

struct manifest_segment {
	uint32_t coll;	    /* the collection's id */
	uint32_t index_gen; /* its index file's settings: see manifest_index_path */
	uint64_t start_lsn; /* first LSN in the segment; names its files */
	uint64_t end_lsn;   /* every batch of the segment is below this */
	uint64_t count;	    /* documents */
};

struct manifest_key {
	uint64_t client_id;
	uint64_t seq;
	uint64_t lsn;
	uint32_t count;
	uint32_t pad;
};

struct manifest {
	uint64_t gen; /* grows by one per manifest written */
	/* The instance the directory belongs to; "" when written before
	 * names were recorded (version 1). */
	char name[MANIFEST_NAME_LEN];
	uint32_t version;     /* as read: 1 to MANIFEST_VERSION (stores write the newest) */
	uint32_t next_coll;   /* the id the next create gets; ids are never reused */
	uint64_t catalog_lsn; /* every create and drop below it is reflected here */
	/* Replay the log from here: at or below catalog_lsn and every
	 * collection's tail_start. */
	uint64_t tail_start;
	uint32_t ncolls;
	uint32_t nsegments;
	uint32_t nkeys;
	struct manifest_coll *colls;	   /* malloc'ed, ascending id */
	struct manifest_segment *segments; /* malloc'ed, ascending (coll, start_lsn) */
	struct manifest_key *keys;	   /* malloc'ed */
};

/* Reads dir/MANIFEST. ROOST_ENOENT when there is none yet (a new
 * instance), ROOST_ECORRUPT when it fails its checks, ROOST_EVERSION for
 * a version this code does not know. */
int manifest_load(const char *dir, struct manifest *out);

/* Writes dir/MANIFEST atomically and durably, with mode. Refuses, leaving the old
 * file in place, what manifest_load would reject: ROOST_ETOOBIG for counts
 * over the limits, ROOST_EINVAL for anything else. */
int manifest_store(const char *dir, const struct manifest *m, mode_t mode);

void manifest_free(struct manifest *m);

/* 1 when dir/MANIFEST is now of another generation than gen. A file that a
 * manifest of generation gen names vanishes only once a newer manifest no
 * longer names it (a compaction, a writer's sweep), so a reader that finds
 * one missing asks this to tell "replaced meanwhile: read again" from a
 * file that is really lost. */
int manifest_moved_on(const char *dir, uint64_t gen);

/* Decodes a manifest from bytes (what manifest_load does after reading the
 * file); exposed for the fuzzer. */
int manifest_decode(const void *buf, size_t len, struct manifest *out);

/* The collection with this id, or with this name; NULL when there is none. */
struct manifest_coll *manifest_coll_find(const struct manifest *m, uint32_t id);
struct manifest_coll *manifest_coll_named(const struct manifest *m, const char *name);

/* The first LSN a collection created at created_lsn can be read as of:
 * past its create, and not below reclaimed_lsn, under which compaction
 * dropped rows that were visible. */
uint64_t manifest_history_start(uint64_t created_lsn, uint64_t reclaimed_lsn);

/* The segments of collection id: segments[*first .. *first + *n). */
void manifest_segments_of(const struct manifest *m, uint32_t id, uint32_t *first, uint32_t *n);

/* Changes to a manifest in memory, keeping its order: a collection
 * (ROOST_EEXIST when its id is listed), a collection and its segments
 * gone, a segment added. ROOST_ETOOBIG over the limits. */
int manifest_add_coll(struct manifest *m, const struct manifest_coll *c);
void manifest_remove_coll(struct manifest *m, uint32_t id);
int manifest_add_segment(struct manifest *m, const struct manifest_segment *s);

/* A deep copy, to change and store while m stays as it was. */
int manifest_copy(const struct manifest *m, struct manifest *out);

/* File names inside the data directory, into buf. A segment's files are
 * named by its collection and LSN range, so a merged segment never reuses
 * the name of a segment an older manifest still lists. Collection 1 keeps
 * the names files had before collections (no collection in them), so
 * that older data directories open unchanged. */
int manifest_segment_path(const char *dir, uint32_t coll, uint64_t start_lsn, uint64_t end_lsn,
			  const char *ext, char *buf, size_t len);
/* A segment's index file: named by its range and, once its collection
 * was altered, by the index generation it was built with, so that a
 * rebuilt index never replaces a file an older manifest names. */
int manifest_index_path(const char *dir, const struct manifest_segment *s, char *buf, size_t len);
int manifest_trained_path(const char *dir, uint32_t coll, uint64_t gen, char *buf, size_t len);
int manifest_tomb_path(const char *dir, uint32_t coll, uint64_t gen, char *buf, size_t len);

/* Calls fn with the path of every file m names in dir: each segment's
 * index and documents, each collection's trained index and tombstones.
 * Stops at fn's first non-zero return, which it returns. */
int manifest_each_file(const char *dir, const struct manifest *m,
		       int (*fn)(void *arg, const char *path), void *arg);

#endif
