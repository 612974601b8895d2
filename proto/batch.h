/* The batch record: how an add request travels through the ring and the log.
 *
 * A broker validates an AddRequest and writes it once, straight into ring
 * space, in this layout; the writer reads it in place and appends the same
 * bytes to its log. Every reader of these bytes calls batch_parse(), which
 * trusts nothing: the bytes come from another process or from disk.
 *
 * Layout (BATCH_VERSION 2), all little-endian, 8-byte aligned sections:
 *
 *   struct batch_header                       48 bytes
 *   float    vectors[count * dim]             padded to 8 bytes
 *   struct batch_doc docs[count]              48 bytes each
 *   char     text[text_bytes]                 UTF-8, not NUL-terminated
 *
 * Version 1, written before collections, is version 2 with `collection`
 * zero, and belongs to the default collection (id 1): logs written then
 * replay unchanged.
 */
#ifndef ROOST_BATCH_H
#define ROOST_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_MAGIC   0x54414252u /* "RBAT" */
#define BATCH_VERSION 2u

/* Hard limits; servers may configure lower ones. */
#define BATCH_MAX_DIM  4096u
#define BATCH_MAX_DOCS 4096u
#define BATCH_MAX_TEXT 65536u /* bytes per document */
#define BATCH_KIND_MAX 23u    /* bytes of the kind tag */

struct batch_header {
	uint32_t magic;
	uint16_t version;
	uint16_t flags; /* zero */
	uint32_t dim;
	uint32_t count;
	uint64_t client_id; /* idempotency key, with seq */
	uint64_t seq;
	uint32_t text_bytes;
	uint32_t collection; /* its id (base/coll.h); version 1: zero */
	uint64_t reserved2;  /* zero */
};

struct batch_doc {
	int64_t agent;
	int64_t time;
	uint32_t text_off; /* into the text section */
	uint32_t text_len;
	uint8_t kind_len;
	char kind[BATCH_KIND_MAX];
};

/* A parsed batch: pointers into the record, valid while it is. */
struct batch_view {
	const struct batch_header *hdr;
	const float *vectors; /* count * dim */
	const struct batch_doc *docs;
	const char *text;
};

/* The id of the collection a parsed batch is for. */
uint32_t batch_collection(const struct batch_view *b);

/* Bytes of a batch with these totals; 0 when over the hard limits (dim,
 * count, or text_bytes above count * BATCH_MAX_TEXT). */
size_t batch_size(uint32_t dim, uint32_t count, uint32_t text_bytes);

/* Checks a whole record: sizes, offsets, limits, finite vectors, UTF-8
 * text and kind (text may hold U+0000, kind may not). expected_dim 0
 * accepts any. ROOST_ECORRUPT on failure. data must be 8-byte aligned, as
 * the view's pointers are typed: NULL or unaligned data, or a NULL out, is
 * a caller bug and gives ROOST_EINVAL. */
int batch_parse(const void *data, size_t len, uint32_t expected_dim, struct batch_view *out);

/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF, no truncated sequence), else 0. */
int batch_utf8_valid(const char *s, size_t len);

#endif
