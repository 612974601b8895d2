#include "batch.h"

#include "coll.h"
#include "err.h"
#include "meta.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* The record is read in place by other processes and replayed from disk on
 * restart, so its layout must not depend on the compiler's whim. */
_Static_assert(sizeof(struct batch_header) == 48, "batch_header layout");
_Static_assert(sizeof(struct batch_doc) == 48, "batch_doc layout");
_Static_assert(offsetof(struct batch_header, text_bytes) == 32, "batch_header layout");
_Static_assert(offsetof(struct batch_doc, kind_len) == 24, "batch_doc layout");
_Static_assert(sizeof(struct batch_ref) == 16, "batch_ref layout");
_Static_assert(sizeof(float) == 4, "vectors are IEEE-754 binary32");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the batch layout is little-endian and is written in host order"
#endif

#define BATCH__ALIGN 8u

static uint64_t batch__align8(uint64_t n)
{
	return (n + BATCH__ALIGN - 1) & ~(uint64_t)(BATCH__ALIGN - 1);
}

/* Offset of the docs section; dim and count must already be in range, which
 * keeps the product far below 2^64. */
static uint64_t batch__docs_offset(uint32_t dim, uint32_t count)
{
	return sizeof(struct batch_header) + batch__align8((uint64_t)count * dim * sizeof(float));
}

/* Bytes of a batch of the given version; 0 when over the hard limits. */
static size_t batch__size(uint16_t version, uint32_t dim, uint32_t count, uint32_t text_bytes)
{
	if (dim == 0 || dim > BATCH_MAX_DIM || count == 0 || count > BATCH_MAX_DOCS)
		return 0;
	/* Each document holds at most BATCH_MAX_DOC_BYTES (its text alone
	 * before version 3), so a larger section can only come from a
	 * corrupt or hostile header. */
	uint64_t per_doc = version >= 3 ? BATCH_MAX_DOC_BYTES : BATCH_MAX_TEXT;
	if (text_bytes > (uint64_t)count * per_doc)
		return 0;
	uint64_t doc = sizeof(struct batch_doc) + (version >= 3 ? sizeof(struct batch_ref) : 0);
	uint64_t total = batch__docs_offset(dim, count) + (uint64_t)count * doc + text_bytes;
	if (total > SIZE_MAX)
		return 0;
	return (size_t)total;
}

size_t batch_size(uint32_t dim, uint32_t count, uint32_t text_bytes)
{
	return batch__size(BATCH_VERSION, dim, count, text_bytes);
}

/* Length of the valid UTF-8 sequence starting at s, or 0. The ranges of the
 * second byte are what exclude overlongs (E0, F0), surrogates (ED) and code
 * points above U+10FFFF (F4); see RFC 3629, section 4. */
static size_t batch__utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

int batch_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n = batch__utf8_seq(p + i, len - i);

		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

static int batch__header_ok(const struct batch_header *h, size_t len, uint32_t expected_dim)
{
	if (h->magic != BATCH_MAGIC || h->flags != 0 || h->reserved2 != 0)
		return 0;
	if (h->version == 1 ? h->collection != 0
			    : h->version > BATCH_VERSION || h->version < 2 || h->collection == 0)
		return 0;
	if (expected_dim != 0 && h->dim != expected_dim)
		return 0;
	/* batch__size() range-checks dim, count and text_bytes. */
	return batch__size(h->version, h->dim, h->count, h->text_bytes) == len;
}

/* memcpy instead of a float load: correct for any alignment and effective
 * type of the bytes, and it compiles to the same single load. */
static int batch__vectors_finite(const unsigned char *p, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		float v;

		memcpy(&v, p + i * sizeof(v), sizeof(v));
		if (!isfinite(v))
			return 0;
	}
	return 1;
}

/* A span [off, off + len) of the bytes section; subtracting instead of
 * adding cannot wrap. */
static int batch__span_ok(uint32_t off, uint32_t len, uint32_t text_bytes)
{
	return off <= text_bytes && len <= text_bytes - off;
}

static int batch__doc_ok(const struct batch_doc *d, const char *text, uint32_t text_bytes)
{
	/* Subtracting instead of adding off + len cannot wrap. */
	if (!batch__span_ok(d->text_off, d->text_len, text_bytes) || d->text_len > BATCH_MAX_TEXT)
		return 0;
	/* Kinds are compared as C strings by filters, so a NUL would make two
	 * different tags look equal. Texts are opaque and may hold U+0000. */
	if (d->kind_len > BATCH_KIND_MAX || memchr(d->kind, '\0', d->kind_len) != NULL)
		return 0;
	return batch_utf8_valid(d->kind, d->kind_len) &&
	       batch_utf8_valid(text + d->text_off, d->text_len);
}

int batch_key_valid(const char *s, size_t len)
{
	/* '#' starts the string form of an assigned id, so a key never
	 * reads as one; U+0000 would make two keys equal as C strings. */
	return len > 0 && len <= BATCH_MAX_KEY && s[0] != '#' && memchr(s, '\0', len) == NULL &&
	       batch_utf8_valid(s, len);
}

static int batch__ref_ok(const struct batch_ref *r, const char *text, uint32_t text_bytes)
{
	if (!batch__span_ok(r->key_off, r->key_len, text_bytes) ||
	    !batch__span_ok(r->meta_off, r->meta_len, text_bytes))
		return 0;
	if (r->key_len && !batch_key_valid(text + r->key_off, r->key_len))
		return 0;
	return r->meta_len == 0 || meta_check(text + r->meta_off, r->meta_len, NULL, 0) == 0;
}

uint64_t batch_key_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

const char *batch_key(const struct batch_view *b, uint32_t i, uint32_t *len)
{
	*len = b->refs ? b->refs[i].key_len : 0;
	return *len ? b->text + b->refs[i].key_off : "";
}

const char *batch_meta(const struct batch_view *b, uint32_t i, uint32_t *len)
{
	*len = b->refs ? b->refs[i].meta_len : 0;
	return *len ? b->text + b->refs[i].meta_off : "";
}

uint32_t batch_collection(const struct batch_view *b)
{
	return b->hdr->version == 1 ? COLL_DEFAULT_ID : b->hdr->collection;
}

int batch_parse(const void *data, size_t len, uint32_t expected_dim, struct batch_view *out)
{
	const unsigned char *p = data;
	struct batch_header h;
	uint64_t docs_off, refs_off;
	const char *text;
	uint32_t i;

	/* The view hands out typed pointers into the record; an unaligned
	 * record is a caller bug, not corrupt data. */
	if (p == NULL || out == NULL || (uintptr_t)p % BATCH__ALIGN != 0)
		return ROOST_EINVAL;
	if (len < sizeof(h))
		return ROOST_ECORRUPT;
	memcpy(&h, p, sizeof(h));
	if (!batch__header_ok(&h, len, expected_dim))
		return ROOST_ECORRUPT;
	if (!batch__vectors_finite(p + sizeof(h), (uint64_t)h.count * h.dim))
		return ROOST_ECORRUPT;
	docs_off = batch__docs_offset(h.dim, h.count);
	refs_off = docs_off + (uint64_t)h.count * sizeof(struct batch_doc);
	text = (const char *)p + refs_off +
	       (h.version >= 3 ? (uint64_t)h.count * sizeof(struct batch_ref) : 0);
	for (i = 0; i < h.count; i++) {
		struct batch_doc d;
		struct batch_ref r;

		memcpy(&d, p + docs_off + (uint64_t)i * sizeof(d), sizeof(d));
		if (!batch__doc_ok(&d, text, h.text_bytes))
			return ROOST_ECORRUPT;
		if (h.version < 3)
			continue;
		memcpy(&r, p + refs_off + (uint64_t)i * sizeof(r), sizeof(r));
		if (!batch__ref_ok(&r, text, h.text_bytes))
			return ROOST_ECORRUPT;
	}
	out->hdr = (const struct batch_header *)p;
	out->vectors = (const float *)(p + sizeof(h));
	out->docs = (const struct batch_doc *)(p + docs_off);
	out->refs = h.version >= 3 ? (const struct batch_ref *)(p + refs_off) : NULL;
	out->text = text;
	return 0;
}
