/* The delete record: how a delete by ids travels through the ring and the
 * log, ordered with the batches around it by its LSN.
 *
 * A broker writes it from a checked request; the writer applies it (and
 * again when it replays the log): each id's current version ends at the
 * record's LSN. Every reader of these bytes calls delrec_parse(), which
 * trusts nothing.
 *
 * Layout (DELREC_VERSION 1), little-endian, 8-byte aligned:
 *
 *   struct delrec_header            40 bytes
 *   struct delrec_id ids[count]     16 bytes each
 *   char  keys[key_bytes]           the ids that are keys, one after another
 *
 * or, with flags DELREC_BY_FILTER, a delete by filter:
 *
 *   struct delrec_header            40 bytes, count 0
 *   char  filter[key_bytes]         a roost.Filter, protobuf-encoded
 *
 * An id is a document's own id (a key: 1..BATCH_MAX_KEY bytes of UTF-8 as
 * batch_key_valid() says) or, with key_len 0, the number roost gave a
 * document (its string form "#<number>").
 */
#ifndef ROOST_DELREC_H
#define ROOST_DELREC_H

#include <stddef.h>
#include <stdint.h>

#define DELREC_MAGIC	  0x4c454452u /* "RDEL" */
#define DELREC_VERSION	  1u
#define DELREC_MAX_IDS	  4096u
#define DELREC_MAX_FILTER (1u << 20) /* bytes of an encoded filter */
#define DELREC_BY_FILTER  1u

struct delrec_header {
	uint32_t magic;
	uint16_t version;
	uint16_t flags; /* 0, or DELREC_BY_FILTER */
	uint32_t collection;
	uint32_t count;
	uint64_t client_id; /* idempotency key, with seq */
	uint64_t seq;
	uint32_t key_bytes;
	uint32_t reserved; /* zero */
};

struct delrec_id {
	uint64_t number; /* key_len 0: the document's number; else zero */
	uint32_t key_off, key_len;
};

/* A parsed record: pointers into it, valid while it is. */
struct delrec_view {
	const struct delrec_header *hdr;
	const struct delrec_id *ids;
	const char *keys;
	const void *filter; /* a delete by filter: hdr->key_bytes of it; else NULL */
};

/* 1 when the record at data starts as a delete record does (its magic),
 * and, for delrec_is_by_filter, as a delete by filter (its flags). */
int delrec_is(const void *data, size_t len);
int delrec_is_by_filter(const void *data, size_t len);

/* Bytes of a record of count ids whose keys take key_bytes; 0 over the
 * limits. A delete by filter is count 0, key_bytes the filter's. */
size_t delrec_size(uint32_t count, uint32_t key_bytes);

/* Checks a whole record: sizes, limits, every id (a valid key, or a
 * number above zero); a filter's bytes are the caller's to decode.
 * ROOST_ECORRUPT on failure; ROOST_EINVAL for NULL or unaligned data (a
 * caller bug). */
int delrec_parse(const void *data, size_t len, struct delrec_view *out);

/* Parses an id's string form: "#<number>" (decimal, no sign or leading
 * zero, 1 .. UINT64_MAX) sets *number; anything else must be a valid key
 * (*number 0). ROOST_EINVAL when it is neither. */
int delrec_parse_id(const char *s, size_t len, uint64_t *number);

#endif
