/* Unit tests for proto/batch.c: record size arithmetic, parsing of valid
 * and corrupt records, and the UTF-8 validator. */
#include "batch.h"
#include "err.h"
#include "ref_utf8.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A record built by hand, independently of wire.c, so that the two
 * implementations of the layout check each other. */
struct rec {
	unsigned char *buf;
	size_t len;
	size_t vec_off, docs_off, refs_off, text_off;
	uint32_t dim, count;
};

/* key and meta NULL: none. */
struct doc_in {
	const char *kind;
	const char *text;
	size_t text_len;
	const char *key;
	const char *meta;
};

static size_t str_len(const char *s)
{
	return s ? strlen(s) : 0;
}

/* The bytes section holds each document's text, key and metadata in turn. */
static size_t doc_bytes(const struct doc_in *d)
{
	return d->text_len + str_len(d->key) + str_len(d->meta);
}

static void rec_put_doc(struct rec *r, uint16_t version, size_t i, const struct doc_in *in,
			size_t off)
{
	struct batch_doc d = {0};
	struct batch_ref ref = {0};

	d.agent = 1000 + (int64_t)i;
	d.time = -(int64_t)i;
	d.text_off = (uint32_t)off;
	d.text_len = (uint32_t)in->text_len;
	d.kind_len = (uint8_t)strlen(in->kind);
	memcpy(d.kind, in->kind, d.kind_len);
	memcpy(r->buf + r->docs_off + i * sizeof(d), &d, sizeof(d));
	memcpy(r->buf + r->text_off + off, in->text, in->text_len);
	ref.key_off = (uint32_t)(off + in->text_len);
	ref.key_len = (uint32_t)str_len(in->key);
	ref.meta_off = ref.key_off + ref.key_len;
	ref.meta_len = (uint32_t)str_len(in->meta);
	if (version >= 3)
		memcpy(r->buf + r->refs_off + i * sizeof(ref), &ref, sizeof(ref));
	if (ref.key_len)
		memcpy(r->buf + r->text_off + ref.key_off, in->key, ref.key_len);
	if (ref.meta_len)
		memcpy(r->buf + r->text_off + ref.meta_off, in->meta, ref.meta_len);
}

/* Version 2 records have no refs section, so no keys or metadata. */
static void rec_build_v(struct rec *r, uint16_t version, uint32_t dim, uint32_t count,
			const struct doc_in *in)
{
	struct batch_header h = {0};
	size_t text = 0, off = 0, i;

	for (i = 0; i < count; i++)
		text += version >= 3 ? doc_bytes(&in[i]) : in[i].text_len;
	r->dim = dim;
	r->count = count;
	r->vec_off = sizeof(h);
	r->docs_off = sizeof(h) + ((size_t)dim * count * 4 + 7) / 8 * 8;
	r->refs_off = r->docs_off + count * sizeof(struct batch_doc);
	r->text_off = r->refs_off + (version >= 3 ? count * sizeof(struct batch_ref) : 0);
	r->len = r->text_off + text;
	if (version >= 3)
		assert_int_equal(r->len, batch_size(dim, count, (uint32_t)text));
	r->buf = calloc(1, r->len);
	assert_non_null(r->buf);
	h.magic = BATCH_MAGIC;
	h.version = version;
	h.collection = 5;
	h.dim = dim;
	h.count = count;
	h.client_id = 42;
	h.seq = 7;
	h.text_bytes = (uint32_t)text;
	memcpy(r->buf, &h, sizeof(h));
	for (i = 0; i < (size_t)dim * count; i++) {
		float v = (float)i * 0.25f - 1.0f;

		memcpy(r->buf + r->vec_off + i * 4, &v, 4);
	}
	for (i = 0; i < count; i++) {
		rec_put_doc(r, version, i, &in[i], off);
		off += version >= 3 ? doc_bytes(&in[i]) : in[i].text_len;
	}
}

static void rec_build(struct rec *r, uint32_t dim, uint32_t count, const struct doc_in *in)
{
	rec_build_v(r, BATCH_VERSION, dim, count, in);
}

static const struct doc_in sample_docs[] = {
    {"tweet", "hello", 5, NULL, NULL},
    {"", "", 0, NULL, NULL},
    {"article", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15, NULL, NULL},
};

/* dim 3 x 3 docs: 9 floats, so the vectors need 4 bytes of padding. */
static void rec_sample(struct rec *r)
{
	rec_build(r, 3, 3, sample_docs);
}

static struct batch_header *rec_hdr(struct rec *r)
{
	return (struct batch_header *)r->buf;
}

static struct batch_doc *rec_doc(struct rec *r, size_t i)
{
	return (struct batch_doc *)(r->buf + r->docs_off) + i;
}

static float *rec_vec(struct rec *r)
{
	return (float *)(r->buf + r->vec_off);
}

static int rec_parse(struct rec *r)
{
	struct batch_view v;

	return batch_parse(r->buf, r->len, 0, &v);
}

static void test_size_arithmetic(void **state)
{
	(void)state;
	/* 3 floats pad to 16 bytes. */
	assert_int_equal(batch_size(3, 1, 0), 48 + 16 + 64);
	assert_int_equal(batch_size(2, 1, 0), 48 + 8 + 64);
	assert_int_equal(batch_size(384, 2, 10), 48 + 3072 + 128 + 10);
	assert_int_equal(batch_size(1, 1, BATCH_MAX_DOC_BYTES), 48 + 8 + 64 + BATCH_MAX_DOC_BYTES);
	assert_int_equal(
	    batch_size(BATCH_MAX_DIM, BATCH_MAX_DOCS, BATCH_MAX_DOCS * BATCH_MAX_DOC_BYTES),
	    48 + (size_t)BATCH_MAX_DIM * BATCH_MAX_DOCS * 4 + BATCH_MAX_DOCS * 64 +
		(size_t)BATCH_MAX_DOCS * BATCH_MAX_DOC_BYTES);
}

static void test_size_limits(void **state)
{
	(void)state;
	assert_int_equal(batch_size(0, 1, 0), 0);
	assert_int_equal(batch_size(BATCH_MAX_DIM + 1, 1, 0), 0);
	assert_int_equal(batch_size(1, 0, 0), 0);
	assert_int_equal(batch_size(1, BATCH_MAX_DOCS + 1, 0), 0);
	assert_int_equal(batch_size(1, 1, BATCH_MAX_DOC_BYTES + 1), 0);
	assert_int_equal(batch_size(1, 2, 2 * BATCH_MAX_DOC_BYTES + 1), 0);
	assert_int_equal(batch_size(UINT32_MAX, UINT32_MAX, UINT32_MAX), 0);
	assert_int_equal(batch_size(1, 1, UINT32_MAX), 0);
	assert_int_equal(batch_size(UINT32_MAX, 1, 0), 0);
	assert_int_equal(batch_size(1, UINT32_MAX, 0), 0);
}

static void test_parse_valid(void **state)
{
	struct batch_view v;
	struct rec r;
	size_t i;

	(void)state;
	rec_sample(&r);
	assert_int_equal(batch_parse(r.buf, r.len, 0, &v), 0);
	assert_int_equal(batch_parse(r.buf, r.len, 3, &v), 0);
	assert_ptr_equal(v.hdr, r.buf);
	assert_ptr_equal(v.vectors, r.buf + 48);
	assert_ptr_equal(v.docs, r.buf + 48 + 40);
	assert_ptr_equal(v.refs, r.buf + 48 + 40 + 3 * 48);
	assert_ptr_equal(v.text, r.buf + r.len - 20);
	assert_int_equal(v.hdr->count, 3);
	assert_int_equal(v.hdr->dim, 3);
	assert_int_equal(v.hdr->client_id, 42);
	assert_int_equal(v.hdr->seq, 7);
	for (i = 0; i < 9; i++)
		assert_true(v.vectors[i] == (float)i * 0.25f - 1.0f);
	for (i = 0; i < 3; i++) {
		assert_int_equal(v.docs[i].agent, 1000 + (int64_t)i);
		assert_int_equal(v.docs[i].time, -(int64_t)i);
		assert_int_equal(v.docs[i].kind_len, strlen(sample_docs[i].kind));
		assert_memory_equal(v.docs[i].kind, sample_docs[i].kind, v.docs[i].kind_len);
		assert_int_equal(v.docs[i].text_len, sample_docs[i].text_len);
		assert_memory_equal(v.text + v.docs[i].text_off, sample_docs[i].text,
				    sample_docs[i].text_len);
	}
	free(r.buf);
}

static void test_parse_max_kind_and_text(void **state)
{
	char *big = malloc(BATCH_MAX_TEXT);
	struct doc_in in[1];
	struct rec r;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', BATCH_MAX_TEXT);
	in[0] = (struct doc_in){"12345678901234567890123", big, BATCH_MAX_TEXT, NULL, NULL};
	rec_build(&r, 1, 1, in);
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
	free(big);
}

static void test_parse_bad_args(void **state)
{
	struct batch_view v;
	struct rec r;

	(void)state;
	rec_sample(&r);
	assert_int_equal(batch_parse(NULL, r.len, 0, &v), ROOST_EINVAL);
	assert_int_equal(batch_parse(r.buf, r.len, 0, NULL), ROOST_EINVAL);
	/* The view's typed pointers need an aligned record. */
	assert_int_equal(batch_parse(r.buf + 4, r.len - 4, 0, &v), ROOST_EINVAL);
	free(r.buf);
}

static void test_parse_bad_header(void **state)
{
	struct batch_view v;
	struct rec r;

	(void)state;
	rec_sample(&r);
	rec_hdr(&r)->magic ^= 1;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->magic ^= 1;
	rec_hdr(&r)->version = BATCH_VERSION + 1;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->version = BATCH_VERSION;
	rec_hdr(&r)->flags = 1;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->flags = 0;
	/* Versions 2 and up name their collection; version 1 had none. */
	rec_hdr(&r)->collection = 0;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->collection = 5;
	/* A version 1 record is a version 2 one, without refs. */
	struct rec old;
	rec_build_v(&old, 2, 3, 3, sample_docs);
	rec_hdr(&old)->version = 1;
	assert_int_equal(rec_parse(&old), ROOST_ECORRUPT);
	rec_hdr(&old)->collection = 0;
	assert_int_equal(batch_parse(old.buf, old.len, 0, &v), 0);
	assert_int_equal(batch_collection(&v), 1); /* the default collection */
	free(old.buf);
	assert_int_equal(batch_parse(r.buf, r.len, 0, &v), 0);
	assert_int_equal(batch_collection(&v), 5);
	rec_hdr(&r)->reserved2 = 1;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->reserved2 = 0;
	assert_int_equal(rec_parse(&r), 0);
	assert_int_equal(batch_parse(r.buf, r.len, 4, &v), ROOST_ECORRUPT);
	free(r.buf);
}

/* Header fields that change the record's size must match its length. */
static void test_parse_bad_totals(void **state)
{
	struct rec r;

	(void)state;
	rec_sample(&r);
	rec_hdr(&r)->dim = 0;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->dim = 4;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->dim = UINT32_MAX;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->dim = 3;
	rec_hdr(&r)->count = 0;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->count = UINT32_MAX;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->count = 3;
	rec_hdr(&r)->text_bytes = 21;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->text_bytes = UINT32_MAX;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_hdr(&r)->text_bytes = 20;
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
}

/* Every prefix sits in a buffer of exactly its size, so an over-read shows
 * under AddressSanitizer. */
static void test_parse_truncated(void **state)
{
	struct batch_view v;
	struct rec r;
	size_t l;

	(void)state;
	rec_sample(&r);
	for (l = 0; l < r.len; l++) {
		unsigned char *p = malloc(l > 0 ? l : 1);

		assert_non_null(p);
		memcpy(p, r.buf, l);
		assert_int_equal(batch_parse(p, l, 0, &v), ROOST_ECORRUPT);
		free(p);
	}
	free(r.buf);
}

static void test_parse_too_long(void **state)
{
	struct batch_view v;
	unsigned char *p;
	struct rec r;

	(void)state;
	rec_sample(&r);
	p = calloc(1, r.len + 8);
	assert_non_null(p);
	memcpy(p, r.buf, r.len);
	assert_int_equal(batch_parse(p, r.len, 0, &v), 0);
	assert_int_equal(batch_parse(p, r.len + 1, 0, &v), ROOST_ECORRUPT);
	assert_int_equal(batch_parse(p, r.len + 8, 0, &v), ROOST_ECORRUPT);
	free(p);
	free(r.buf);
}

static void test_parse_bad_text_range(void **state)
{
	struct rec r;

	(void)state;
	rec_sample(&r);
	rec_doc(&r, 2)->text_off = 6; /* 6 + 15 = 21 > 20 */
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_doc(&r, 2)->text_off = 21;
	rec_doc(&r, 2)->text_len = 0;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	/* off + len wraps to 0x10: fits only if the sum is computed naively. */
	rec_doc(&r, 2)->text_off = 0xFFFFFFF0u;
	rec_doc(&r, 2)->text_len = 0x20;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_doc(&r, 2)->text_off = 5;
	rec_doc(&r, 2)->text_len = UINT32_MAX; /* wraps to 4 */
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	/* Texts need not be disjoint: the end of the section is still fine. */
	rec_doc(&r, 2)->text_off = 20;
	rec_doc(&r, 2)->text_len = 0;
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
}

static void test_parse_text_over_limit(void **state)
{
	char *big = malloc(BATCH_MAX_TEXT + 1);
	struct doc_in in[2];
	struct rec r;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', BATCH_MAX_TEXT + 1);
	/* Two docs allow a text section above BATCH_MAX_TEXT, but one text
	 * may not be that long. */
	in[0] = (struct doc_in){"a", big, BATCH_MAX_TEXT + 1, NULL, NULL};
	in[1] = (struct doc_in){"b", "", 0, NULL, NULL};
	rec_build(&r, 1, 2, in);
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_doc(&r, 0)->text_len = BATCH_MAX_TEXT;
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
	free(big);
}

static void test_parse_nonfinite(void **state)
{
	const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
	struct rec r;
	size_t i;

	(void)state;
	rec_sample(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		float keep = rec_vec(&r)[8];

		rec_vec(&r)[8] = bad[i];
		assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
		rec_vec(&r)[8] = keep;
	}
	/* Extremes that are finite pass. */
	rec_vec(&r)[0] = 3.4028235e38f;
	rec_vec(&r)[1] = 1e-45f;
	rec_vec(&r)[2] = -0.0f;
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
}

static void test_parse_bad_utf8(void **state)
{
	struct rec r;

	(void)state;
	rec_sample(&r);
	r.buf[r.text_off + 1] = 0xFF; /* in "hello" */
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	r.buf[r.text_off + 1] = 'e';
	/* Cut the 4-byte emoji at the end of doc 2's text short. */
	rec_doc(&r, 2)->text_len = 14;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_doc(&r, 2)->text_len = 15;
	rec_doc(&r, 0)->kind[2] = (char)0xC0;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_doc(&r, 0)->kind[2] = 'e';
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
}

static void test_parse_kind(void **state)
{
	struct rec r;

	(void)state;
	rec_sample(&r);
	rec_doc(&r, 0)->kind_len = BATCH_KIND_MAX + 1;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_doc(&r, 0)->kind_len = 255;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	/* "tweet" then the zeroed tail: a NUL inside kind_len. */
	rec_doc(&r, 0)->kind_len = 6;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	rec_doc(&r, 0)->kind_len = 5;
	assert_int_equal(rec_parse(&r), 0);
	/* Text may hold U+0000. */
	r.buf[r.text_off] = '\0';
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
}

static const struct doc_in keyed_docs[] = {
    {"tweet", "hello", 5, "post-1", "{\"topic\":\"cats\",\"n\":[1,2.5,{\"x\":null}]}"},
    {"", "", 0, NULL, "{}"},
    {"reply", "hi", 2,
     "\xC3\xA9"
     "t"
     "\xC3\xA9",
     NULL},
};

static void test_parse_keys_and_meta(void **state)
{
	struct batch_view v;
	struct rec r;
	uint32_t len;

	(void)state;
	rec_build(&r, 3, 3, keyed_docs);
	assert_int_equal(batch_parse(r.buf, r.len, 0, &v), 0);
	for (uint32_t i = 0; i < 3; i++) {
		const char *key = batch_key(&v, i, &len);
		assert_int_equal(len, str_len(keyed_docs[i].key));
		assert_memory_equal(key, keyed_docs[i].key ? keyed_docs[i].key : "", len);
		const char *meta = batch_meta(&v, i, &len);
		assert_int_equal(len, str_len(keyed_docs[i].meta));
		assert_memory_equal(meta, keyed_docs[i].meta ? keyed_docs[i].meta : "", len);
	}
	free(r.buf);
	/* Version 2 carries neither. */
	rec_build_v(&r, 2, 3, 3, sample_docs);
	assert_int_equal(batch_parse(r.buf, r.len, 0, &v), 0);
	assert_null(v.refs);
	assert_string_equal(batch_key(&v, 0, &len), "");
	assert_int_equal(len, 0);
	batch_meta(&v, 2, &len);
	assert_int_equal(len, 0);
	free(r.buf);
}

/* Each of these ids, in a record by itself, must be refused. */
static void test_parse_bad_keys(void **state)
{
	char long_key[BATCH_MAX_KEY + 2];
	const char *bad[] = {"#12",
			     "a\xFF"
			     "b",
			     "\xED\xA0\x80", long_key};

	(void)state;
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct doc_in in = {"t", "x", 1, bad[i], NULL};
		struct rec r;
		rec_build(&r, 1, 1, &in);
		assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
		free(r.buf);
	}
	long_key[BATCH_MAX_KEY] = '\0'; /* exactly the limit */
	struct doc_in ok = {"t", "x", 1, long_key, NULL};
	struct rec r;
	rec_build(&r, 1, 1, &ok);
	assert_int_equal(rec_parse(&r), 0);
	/* A NUL inside the key would make two keys equal as C strings. */
	r.buf[r.text_off + 1 + 5] = '\0';
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	free(r.buf);
}

static void test_parse_bad_meta(void **state)
{
	const char *bad[] = {"[1]",
			     "\"s\"",
			     "{",
			     "{\"a\":1,\"a\":2}",
			     "{\"a\":1} x",
			     "{\"a\":01}",
			     "{\"a\":\"\\u0000\"}",
			     "{a:1}"};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct doc_in in = {"t", "x", 1, NULL, bad[i]};
		struct rec r;
		rec_build(&r, 1, 1, &in);
		if (rec_parse(&r) != ROOST_ECORRUPT)
			fail_msg("metadata %s was accepted", bad[i]);
		free(r.buf);
	}
}

static void test_parse_bad_ref_range(void **state)
{
	struct rec r;
	struct batch_ref *ref;

	(void)state;
	rec_build(&r, 3, 3, keyed_docs);
	ref = (struct batch_ref *)(r.buf + r.refs_off) + 2;
	uint32_t end = rec_hdr(&r)->text_bytes;
	ref->key_off = end; /* the key would run past the section */
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	ref->key_off = 0xFFFFFFF0u;
	ref->key_len = 0x20; /* wraps when added naively */
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	ref->key_off = 0;
	ref->key_len = 0;
	ref->meta_off = end;
	ref->meta_len = 1;
	assert_int_equal(rec_parse(&r), ROOST_ECORRUPT);
	ref->meta_len = 0;
	assert_int_equal(rec_parse(&r), 0);
	free(r.buf);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random corruption must be rejected or yield a view that is safe to walk;
 * AddressSanitizer checks the walk. */
/* Whether a parsed record's texts and kinds are valid by the test's own
 * validator (ref_utf8.h), kinds without NUL: what batch_parse promises
 * for every record it accepts. */
static int view_strings_valid(const struct batch_view *v)
{
	for (uint32_t i = 0; i < v->hdr->count; i++) {
		const struct batch_doc *d = &v->docs[i];

		uint32_t klen;
		const char *key = batch_key(v, i, &klen);

		if (!ref_utf8_valid(v->text + d->text_off, d->text_len) ||
		    !ref_utf8_valid(d->kind, d->kind_len) || memchr(d->kind, 0, d->kind_len) ||
		    !ref_utf8_valid(key, klen) || (klen && key[0] == '#'))
			return 0;
	}
	return 1;
}

/* Strings near the edges of UTF-8, where one flipped bit makes an
 * overlong form (C3 -> C1), a surrogate (ED 9F -> ED BF) or a code point
 * above U+10FFFF (F4 8F -> F4 9F). */
static const struct doc_in edge_docs[] = {
    {"caf\xC3\xA9", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15, NULL, NULL},
    {"\xF0\x9F\x90\xA6", "\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF\xC2\x80", 12, NULL, NULL},
    {"tweet", "plain", 5, NULL, NULL},
};

/* Flips 1 to 4 random bits of p[from, to). */
static void flip_bits(unsigned char *p, size_t from, size_t to, uint64_t *seed)
{
	int flips = 1 + (int)(xorshift(seed) % 4);

	for (int k = 0; k < flips; k++)
		p[from + xorshift(seed) % (to - from)] ^=
		    (unsigned char)(1u << (xorshift(seed) % 8));
}

static void test_parse_random_corruption(void **state)
{
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	int outcomes[2] = {0, 0};
	struct batch_view v;
	unsigned char *p;
	struct rec r;
	int round;

	(void)state;
	rec_build(&r, 3, 3, edge_docs);
	p = malloc(r.len);
	assert_non_null(p);
	/* Anywhere: refused as corrupt, or accepted with valid strings. */
	for (round = 0; round < 20000; round++) {
		memcpy(p, r.buf, r.len);
		flip_bits(p, 0, r.len, &seed);
		int rc = batch_parse(p, r.len, 0, &v);

		assert_true(rc == 0 || rc == ROOST_ECORRUPT);
		if (rc == 0 && !view_strings_valid(&v))
			fail_msg("round %d: accepted a record with invalid strings", round);
	}
	/* In the texts or in the kinds only, where nothing else can fail:
	 * accepted exactly when the strings are valid. */
	for (round = 0; round < 40000; round++) {
		size_t doc = xorshift(&seed) % 3, from, to;

		if (round % 2 == 0) {
			from = r.text_off;
			to = r.len;
		} else {
			from = r.docs_off + doc * sizeof(struct batch_doc) +
			       offsetof(struct batch_doc, kind);
			to = from + strlen(edge_docs[doc].kind);
		}
		memcpy(p, r.buf, r.len);
		flip_bits(p, from, to, &seed);
		int rc = batch_parse(p, r.len, 0, &v);
		/* The layout does not change, so the view can be built by hand. */
		v.hdr = (const struct batch_header *)p;
		v.docs = (const struct batch_doc *)(p + r.docs_off);
		v.refs = (const struct batch_ref *)(p + r.refs_off);
		v.text = (const char *)p + r.text_off;
		if (rc != (view_strings_valid(&v) ? 0 : ROOST_ECORRUPT))
			fail_msg("round %d: batch_parse gave %d for strings the test finds %s",
				 round, rc, view_strings_valid(&v) ? "valid" : "invalid");
		outcomes[rc == 0]++;
	}
	/* Both outcomes are common, or the loop proved nothing. */
	assert_true(outcomes[0] > 5000 && outcomes[1] > 5000);
	free(p);
	free(r.buf);
}

struct utf8_case {
	const char *s;
	size_t len;
	int valid;
};

#define U(lit, ok)                                                                                 \
	{                                                                                          \
		lit, sizeof(lit) - 1, ok                                                           \
	}

static void test_utf8(void **state)
{
	static const struct utf8_case cases[] = {
	    U("", 1),
	    U("plain ascii", 1),
	    U("\0", 1),
	    U("\x7F", 1),
	    U("\xC2\x80", 1),	      /* U+0080 */
	    U("\xDF\xBF", 1),	      /* U+07FF */
	    U("\xE0\xA0\x80", 1),     /* U+0800 */
	    U("\xE2\x82\xAC", 1),     /* euro sign */
	    U("\xED\x9F\xBF", 1),     /* U+D7FF */
	    U("\xEE\x80\x80", 1),     /* U+E000 */
	    U("\xEF\xBF\xBF", 1),     /* U+FFFF */
	    U("\xF0\x90\x80\x80", 1), /* U+10000 */
	    U("\xF0\x9F\x98\x80", 1), /* emoji */
	    U("\xF4\x8F\xBF\xBF", 1), /* U+10FFFF */
	    U("h\xC3\xA9llo w\xC3\xB6rld \xE6\x97\xA5\xE6\x9C\xAC", 1),
	    U("\x80", 0), /* lone continuation */
	    U("\xBF", 0),
	    U("\xC0\x80", 0),	      /* overlong NUL */
	    U("\xC1\xBF", 0),	      /* overlong U+007F */
	    U("\xE0\x80\x80", 0),     /* overlong 3-byte */
	    U("\xE0\x9F\xBF", 0),     /* overlong U+07FF */
	    U("\xF0\x80\x80\x80", 0), /* overlong 4-byte */
	    U("\xF0\x8F\xBF\xBF", 0), /* overlong U+FFFF */
	    U("\xED\xA0\x80", 0),     /* U+D800 */
	    U("\xED\xBF\xBF", 0),     /* U+DFFF */
	    U("\xF4\x90\x80\x80", 0), /* U+110000 */
	    U("\xF5\x80\x80\x80", 0),
	    U("\xF8\x88\x80\x80\x80", 0), /* old 5-byte form */
	    U("\xFE", 0),
	    U("\xFF", 0),
	    U("\xC3", 0),	  /* truncated 2-byte */
	    U("\xE2\x82", 0),	  /* truncated 3-byte */
	    U("\xF0\x9F\x98", 0), /* truncated 4-byte */
	    U("abc\xF0\x9F", 0),
	    U("\xC3\x28", 0), /* bad continuation */
	    U("\xE2\x28\xA1", 0),
	    U("\xE2\x82\x28", 0),
	    U("\xF0\x9F\x98\x28", 0),
	    U("ok\xC3\xA9\xC3", 0),
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (batch_utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
			fail_msg("utf8 case %zu: expected %d", i, cases[i].valid);
		if (ref_utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
			fail_msg("utf8 case %zu: the test's own validator says %d", i,
				 !cases[i].valid);
	}
	/* The length bounds the check: a valid prefix of an invalid string. */
	assert_true(batch_utf8_valid("ab\xFF", 2));
	assert_true(batch_utf8_valid(NULL, 0));
}

/* The two validators agree on every string of up to three bytes, and on
 * random strings of four to six bytes biased towards non-ASCII. */
static void test_utf8_against_reference(void **state)
{
	uint64_t seed = 0xD1B54A32D192ED03ull;
	unsigned char s[6];

	(void)state;
	for (size_t n = 1; n <= 3; n++)
		for (uint32_t x = 0; x < 1u << (8 * n); x++) {
			for (size_t k = 0; k < n; k++)
				s[k] = (unsigned char)(x >> (8 * (n - 1 - k)));
			if (batch_utf8_valid((const char *)s, n) !=
			    ref_utf8_valid((const char *)s, n))
				fail_msg("validators disagree on the %zu bytes %06x", n, x);
		}
	for (int round = 0; round < 1000000; round++) {
		size_t n = 4 + xorshift(&seed) % 3;

		for (size_t k = 0; k < n; k++)
			s[k] = (unsigned char)(0x80 | xorshift(&seed));
		if (xorshift(&seed) % 2)
			s[0] = (unsigned char)(0xF0 | (xorshift(&seed) % 8));
		if (batch_utf8_valid((const char *)s, n) != ref_utf8_valid((const char *)s, n))
			fail_msg("validators disagree on %02x %02x %02x %02x (%zu bytes)", s[0],
				 s[1], s[2], s[3], n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_arithmetic),
	    cmocka_unit_test(test_size_limits),
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_max_kind_and_text),
	    cmocka_unit_test(test_parse_bad_args),
	    cmocka_unit_test(test_parse_bad_header),
	    cmocka_unit_test(test_parse_bad_totals),
	    cmocka_unit_test(test_parse_truncated),
	    cmocka_unit_test(test_parse_too_long),
	    cmocka_unit_test(test_parse_bad_text_range),
	    cmocka_unit_test(test_parse_text_over_limit),
	    cmocka_unit_test(test_parse_nonfinite),
	    cmocka_unit_test(test_parse_bad_utf8),
	    cmocka_unit_test(test_parse_kind),
	    cmocka_unit_test(test_parse_keys_and_meta),
	    cmocka_unit_test(test_parse_bad_keys),
	    cmocka_unit_test(test_parse_bad_meta),
	    cmocka_unit_test(test_parse_bad_ref_range),
	    cmocka_unit_test(test_parse_random_corruption),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_utf8_against_reference),
	};

	return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
