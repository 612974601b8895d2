/* The batch record: how an add request travels through the ring and the log.
 *
 * A broker validates an AddRequest and writes it once, straight into ring
 * space, in this layout; the writer reads it in place and appends the same
 * bytes to its log. Every reader of these bytes calls batch_parse(), which
 * trusts nothing: the bytes come from another process or from disk.
 *
 * Layout (BATCH_VERSION 3), all little-endian, 8-byte aligned sections:
 *
 *   struct batch_header                       48 bytes
 *   float    vectors[count * dim]             padded to 8 bytes
 *   struct batch_doc docs[count]              48 bytes each
 *   struct batch_ref refs[count]              16 bytes each
 *   char     bytes[text_bytes]                texts, ids and metadata
 *
 * Each document's text, id and metadata are spans of the bytes section:
 * the text is UTF-8; the id is the client's own key (empty: roost assigns
 * one), 1..BATCH_MAX_KEY bytes of UTF-8 without U+0000 that do not begin
 * with '#'; the metadata is empty or one JSON object (proto/meta.h).
 *
 * Version 2 has no refs section (no ids, no metadata). Version 1, written
 * before collections, is version 2 with `collection` zero, and belongs to
 * the default collection (id 1). Logs written then replay unchanged.
 */
#ifndef ROOST_BATCH_H
#define ROOST_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_MAGIC   0x54414252u /* "RBAT" */
#define BATCH_VERSION 3u

/* Hard limits; servers may configure lower ones. */
#define BATCH_MAX_DIM  4096u
#define BATCH_MAX_DOCS 4096u
#define BATCH_MAX_TEXT 65536u /* bytes per document */
#define BATCH_KIND_MAX 23u    /* bytes of the kind tag */
#define BATCH_MAX_KEY  128u   /* bytes of a client's document id */
#define BATCH_MAX_META 16384u /* bytes of a document's metadata */
/* What one document may hold in the bytes section. */
#define BATCH_MAX_DOC_BYTES (BATCH_MAX_TEXT + BATCH_MAX_KEY + BATCH_MAX_META)

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

/* Where a document's id and metadata lie in the bytes section; a length
 * of zero: none. */
struct batch_ref {
	uint32_t key_off, key_len;
	uint32_t meta_off, meta_len;
};

/* A parsed batch: pointers into the record, valid while it is. */
struct batch_view {
	const struct batch_header *hdr;
	const float *vectors; /* count * dim */
	const struct batch_doc *docs;
	const struct batch_ref *refs; /* NULL before version 3 */
	const char *text;	      /* the bytes section */
};

/* Document i's id (*len 0: none) and metadata (*len 0: none). */
const char *batch_key(const struct batch_view *b, uint32_t i, uint32_t *len);
const char *batch_meta(const struct batch_view *b, uint32_t i, uint32_t *len);

/* 1 when s[0..len) may be a client's document id (see the layout). */
int batch_key_valid(const char *s, size_t len);

/* A 64-bit hash of a document id (FNV-1a), for the tables that find
 * documents by id. */
uint64_t batch_key_hash(const char *s, size_t len);

/* The id of the collection a parsed batch is for. */
uint32_t batch_collection(const struct batch_view *b);

/* Bytes of a version 3 batch with these totals; 0 when over the hard
 * limits (dim, count, or text_bytes above count * BATCH_MAX_DOC_BYTES). */
size_t batch_size(uint32_t dim, uint32_t count, uint32_t text_bytes);

/* Checks a whole record: sizes, offsets, limits, finite vectors, UTF-8
 * text and kind (text may hold U+0000, kind may not), ids and metadata
 * as the layout says. expected_dim 0
 * accepts any. ROOST_ECORRUPT on failure. data must be 8-byte aligned, as
 * the view's pointers are typed: NULL or unaligned data, or a NULL out, is
 * a caller bug and gives ROOST_EINVAL. */
int batch_parse(const void *data, size_t len, uint32_t expected_dim, struct batch_view *out);

/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF, no truncated sequence), else 0. */
int batch_utf8_valid(const char *s, size_t len);

#endif
