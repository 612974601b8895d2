/* A sealed segment's documents file: seg-<start LSN, 16 hex>.docs next to
 * the segment's FAISS index file seg-<start LSN>.index.
 *
 * Row i of the documents file is label i of the FAISS index. The file also
 * keeps the raw vectors, so a segment can be rebuilt, compacted or moved to
 * another index type without the log.
 *
 * File layout (SEGMENT_VERSION 2), little-endian, sections 8-byte aligned:
 *   struct segment_header         64 bytes
 *   uint64  ids[count]
 *   int64   agents[count]
 *   int64   times[count]
 *   uint32  text_off[count], text_len[count]
 *   struct segment_kind kinds[count]   24 bytes each
 *   struct segment_ref refs[count]     16 bytes each
 *   char    text[text_bytes]           texts, keys, metadata; padded to 8
 *   float   vectors[count * dim]
 * Version 1 has no refs section, and is read with refs NULL.
 * The header's crc is the CRC-32C of the header's bytes before the crc
 * field followed by every byte after the header; its reserved fields are
 * zero. A segment of zero documents is valid (count 0, start_lsn <=
 * end_lsn) so that no caller needs a special case, although the writer
 * never seals an empty tail.
 */
#ifndef ROOST_SEGMENT_H
#define ROOST_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEGMENT_VERSION 2u

struct segment_kind {
	uint8_t len;
	char name[23];
};

/* Where a row's id (the client's key) and metadata lie in the text
 * section; a length of zero: none. */
struct segment_ref {
	uint32_t key_off, key_len;
	uint32_t meta_off, meta_len;
};

/* Column arrays of a segment, in memory. */
struct segment_docs {
	uint32_t dim;
	uint64_t count;
	uint64_t start_lsn, end_lsn;
	uint64_t *ids;
	int64_t *agents;
	int64_t *times;
	uint32_t *text_off;
	uint32_t *text_len;
	struct segment_kind *kinds;
	struct segment_ref *refs; /* NULL: no row has an id or metadata */
	char *text;
	uint64_t text_bytes;
	float *vectors; /* NULL when loaded with SEGMENT_NO_VECTORS */
	void *block;	/* one allocation behind every array above */
};

/* A row's fields that filters test, its spans checked against the text
 * (a tail is another process's memory): metadata outside it reads as
 * none. */
struct segment_row {
	int64_t agent, time;
	const char *kind;
	size_t kind_len;
	const char *meta; /* "" when none */
	size_t meta_len;
};

void segment_row(const struct segment_docs *d, uint64_t row, struct segment_row *out);

/* Writes path atomically (temp file, fsync, rename, fsync dir) with
 * mode. ROOST_EINVAL, writing nothing, when d would fail segment_load's
 * checks. */
int segment_store(const char *path, const struct segment_docs *d, mode_t mode);

enum segment_part {
	SEGMENT_WITH_VECTORS,
	/* Readers search a segment's FAISS index, never its vectors: leaving
	 * them on disk halves what each reader holds per segment. */
	SEGMENT_NO_VECTORS,
};

/* Reads and fully checks path (the vectors too, when they are not kept);
 * with SEGMENT_NO_VECTORS, out->vectors is NULL. ROOST_ECORRUPT on any
 * inconsistency, ROOST_EVERSION for another SEGMENT_VERSION. */
int segment_load(const char *path, enum segment_part part, struct segment_docs *out);

/* A segment's documents file mapped read-only. */
struct segment_map {
	void *base;
	size_t len;
};

/* Maps the documents file at path and checks it as segment_load does;
 * every column of out, the vectors too, points into the mapping, which
 * the page cache holds once for every process that maps the file: a
 * reader's own memory holds none of it, and pages of rows it never reads
 * are never brought in. out lives until segment_unmap, which accepts a
 * zeroed or failed map. */
int segment_map(const char *path, struct segment_docs *out, struct segment_map *map);
void segment_unmap(struct segment_map *m, struct segment_docs *d);

/* The same checks on bytes in memory; exposed for the fuzzer. */
int segment_decode(const void *buf, size_t len, struct segment_docs *out);

void segment_free(struct segment_docs *d);

#endif
