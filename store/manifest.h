/* The manifest: the one file that says what the durable state of an
 * instance is. It names the sealed segments, where the log must be replayed
 * from, the trained empty index (IVF and other trained types), and the
 * idempotency keys as of the last seal.
 *
 * It is replaced atomically (write MANIFEST.tmp, fsync, rename over
 * MANIFEST, fsync the directory), so a reader or a recovering writer sees
 * either the old or the new one, never a mix. Readers on other hosts read
 * it from shared storage.
 *
 * File layout (MANIFEST_VERSION 2), little-endian:
 *   struct manifest_header     (fixed, see manifest.c; version 1, without
 *                              the instance name, is still read)
 *   struct manifest_segment    segments[nsegments]
 *   struct manifest_key        keys[nkeys]
 *   uint32 crc32c of everything before it
 */
#ifndef ROOST_MANIFEST_H
#define ROOST_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_VERSION  2u
#define MANIFEST_NAME_LEN 40u /* instance name, NUL-terminated */
#define MANIFEST_MAX_SEGS 65536u
#define MANIFEST_MAX_KEYS (1u << 20)

struct manifest_segment {
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
	uint32_t dim;
	uint32_t metric; /* 0 L2, 1 inner product */
	char index[64];	 /* FAISS factory string */
	/* The instance the directory belongs to; "" when written before
	 * names were recorded (version 1). */
	char name[MANIFEST_NAME_LEN];
	uint64_t tail_start;  /* replay the log from here; segments end at or below */
	uint64_t trained_gen; /* 0: none; else trained-<gen,16 hex>.index exists */
	uint32_t nsegments;
	uint32_t nkeys;
	struct manifest_segment *segments; /* malloc'ed, ascending start_lsn */
	struct manifest_key *keys;	   /* malloc'ed */
};

/* Reads dir/MANIFEST. ROOST_ENOENT when there is none yet (a new
 * instance), ROOST_ECORRUPT when it fails its checks, ROOST_EVERSION for
 * a version other than 1 and MANIFEST_VERSION. */
int manifest_load(const char *dir, struct manifest *out);

/* Writes dir/MANIFEST atomically and durably. Refuses, leaving the old
 * file in place, what manifest_load would reject: ROOST_ETOOBIG for counts
 * over the limits, ROOST_EINVAL for anything else. */
int manifest_store(const char *dir, const struct manifest *m);

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

/* File names inside the data directory, into buf. A segment's files are
 * named by its LSN range, so a merged segment never reuses the name of a
 * segment an older manifest still lists. */
int manifest_segment_path(const char *dir, uint64_t start_lsn, uint64_t end_lsn, const char *ext,
			  char *buf, size_t len);
int manifest_trained_path(const char *dir, uint64_t gen, char *buf, size_t len);

#endif
