/* Manifest: round trips, the documented file layout, versions before
 * collections, every single-byte corruption and truncation, field checks,
 * changes in memory, and atomic replacement when a write fails. Each test
 * works in its own temporary directory. */
#include "crc32c.h"
#include "err.h"
#include "manifest.h"
#include "tutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The layout as manifest.h and manifest.c describe it, kept apart from
 * manifest.c so the tests check the documented layout. */
struct hdr {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t gen;
	uint64_t tail_start;
	uint64_t catalog_lsn;
	uint32_t next_coll;
	uint32_t ncolls;
	uint32_t nsegments;
	uint32_t nkeys;
	char name[40];
};

struct ent {
	uint32_t id, dim, metric, seal_interval_ms;
	char name[64];
	char index[64];
	uint64_t train_docs, seal_docs, created_lsn, tail_start, trained_gen, tail_gen;
	uint64_t tomb_gen;	/* version 4 on */
	char indexed_keys[128]; /* version 5 on */
	uint64_t reclaimed_lsn; /* version 5 on */
	uint64_t index_gen;	/* version 6 on */
};

/* Versions 1 and 2: one collection, in the header. */
struct v2hdr {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t gen;
	uint32_t dim;
	uint32_t metric;
	char index[64];
	uint64_t tail_start;
	uint64_t trained_gen;
	uint32_t nsegments;
	uint32_t nkeys;
	char name[40]; /* version 2 on */
};

struct v2seg {
	uint64_t start_lsn, end_lsn, count;
};

#define HDR_SIZE    96u
#define ENT_SIZE    344u
#define V5_ENT_SIZE 336u /* version 5: no index generation */
#define V4_ENT_SIZE 200u /* version 4: no indexed keys */
#define V3_ENT_SIZE 192u /* version 3: no tomb_gen */
#define SEG_SIZE    32u
#define KEY_SIZE    32u
#define V2_HDR_SIZE 160u
#define V1_HDR_SIZE 120u /* version 1: no name */

_Static_assert(sizeof(struct hdr) == HDR_SIZE, "documented header is 96 bytes");
_Static_assert(sizeof(struct ent) == ENT_SIZE, "documented collection entry is 344 bytes");
_Static_assert(offsetof(struct ent, index_gen) == V5_ENT_SIZE,
	       "version 5 ends before the index generation");
_Static_assert(offsetof(struct ent, indexed_keys) == V4_ENT_SIZE,
	       "version 4 ends before the indexed keys");
_Static_assert(offsetof(struct ent, tomb_gen) == V3_ENT_SIZE, "version 3 ends before tomb_gen");
_Static_assert(sizeof(struct manifest_segment) == SEG_SIZE, "segment entries are 32 bytes");
_Static_assert(sizeof(struct v2hdr) == V2_HDR_SIZE, "version 2's header is 160 bytes");
_Static_assert(offsetof(struct v2hdr, name) == V1_HDR_SIZE, "the name follows version 1's header");

/* ---- helpers ---- */

static int exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	tu_path(path, dir, name);
	return access(path, F_OK) == 0;
}

/* A valid manifest of two collections (ids 3 and 8, of next_coll 11): the
 * first half of nsegs segments belongs to the first, the rest to the
 * second, each collection's at [100j, 100j + 50); keys with distinct
 * values in every field. Free with manifest_free. */
static void make_manifest(struct manifest *m, uint64_t gen, uint32_t nsegs, uint32_t nkeys)
{
	static const uint32_t ids[2] = {3, 8};
	uint32_t per[2] = {nsegs / 2, nsegs - nsegs / 2};
	memset(m, 0, sizeof *m);
	m->gen = gen;
	m->version = MANIFEST_VERSION;
	snprintf(m->name, sizeof m->name, "inst-%u", (unsigned)gen);
	m->next_coll = 11;
	m->ncolls = 2;
	m->nsegments = nsegs;
	m->nkeys = nkeys;
	m->colls = calloc(2, sizeof *m->colls);
	m->segments = nsegs ? calloc(nsegs, sizeof *m->segments) : NULL;
	m->keys = nkeys ? calloc(nkeys, sizeof *m->keys) : NULL;
	assert_true(m->colls && (!nsegs || m->segments) && (!nkeys || m->keys));
	uint32_t at = 0;
	for (int c = 0; c < 2; c++) {
		struct manifest_coll *mc = &m->colls[c];
		mc->id = ids[c];
		snprintf(mc->name, sizeof mc->name, "coll-%u", ids[c]);
		mc->settings = (struct coll_settings){.dim = 384 + c,
						      .metric = (uint32_t)c,
						      .train_docs = 1000 + c,
						      .seal_docs = 8192 + c,
						      .seal_interval_ms = 500u + c};
		snprintf(mc->settings.index, sizeof mc->settings.index, "IVF%u,PQ16",
			 (unsigned)gen);
		snprintf(mc->settings.indexed_keys, sizeof mc->settings.indexed_keys,
			 c ? "user,topic" : "");
		mc->created_lsn = 2 + c;
		mc->tail_start = 100ull * per[c] + 7 + c;
		mc->trained_gen = gen > 1 ? gen - 1 : 0;
		mc->tail_gen = gen;
		mc->tomb_gen = c ? gen : 0;
		mc->reclaimed_lsn = c ? mc->tail_start - 1 : 0;
		mc->index_gen = 2u * c; /* the second one was altered twice */
		for (uint32_t j = 0; j < per[c]; j++)
			m->segments[at++] = (struct manifest_segment){.coll = ids[c],
								      .index_gen = c * (j % 3),
								      .start_lsn = 100ull * j,
								      .end_lsn = 100ull * j + 50,
								      .count = 10 + j};
	}
	m->tail_start = m->colls[0].tail_start;
	m->catalog_lsn = 100ull * nsegs + 50;
	for (uint32_t i = 0; i < nkeys; i++)
		m->keys[i] = (struct manifest_key){
		    .client_id = 0x1000 + i, .seq = 7 * i, .lsn = 3 * i, .count = i + 1};
}

static void assert_same_coll(const struct manifest_coll *a, const struct manifest_coll *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->settings.dim, b->settings.dim);
	assert_int_equal(a->settings.metric, b->settings.metric);
	assert_string_equal(a->settings.index, b->settings.index);
	assert_int_equal(a->settings.train_docs, b->settings.train_docs);
	assert_int_equal(a->settings.seal_docs, b->settings.seal_docs);
	assert_int_equal(a->settings.seal_interval_ms, b->settings.seal_interval_ms);
	assert_string_equal(a->settings.indexed_keys, b->settings.indexed_keys);
	assert_int_equal(a->created_lsn, b->created_lsn);
	assert_int_equal(a->tail_start, b->tail_start);
	assert_int_equal(a->trained_gen, b->trained_gen);
	assert_int_equal(a->tail_gen, b->tail_gen);
	assert_int_equal(a->index_gen, b->index_gen);
}

static void assert_same(const struct manifest *a, const struct manifest *b)
{
	assert_int_equal(a->gen, b->gen);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->next_coll, b->next_coll);
	assert_int_equal(a->catalog_lsn, b->catalog_lsn);
	assert_int_equal(a->tail_start, b->tail_start);
	assert_int_equal(a->ncolls, b->ncolls);
	assert_int_equal(a->nsegments, b->nsegments);
	assert_int_equal(a->nkeys, b->nkeys);
	for (uint32_t i = 0; i < a->ncolls; i++)
		assert_same_coll(&a->colls[i], &b->colls[i]);
	if (a->nsegments)
		assert_memory_equal(a->segments, b->segments, a->nsegments * sizeof *a->segments);
	if (a->nkeys)
		assert_memory_equal(a->keys, b->keys, a->nkeys * sizeof *a->keys);
}

static void assert_zeroed(const struct manifest *m)
{
	static const struct manifest zero;
	assert_memory_equal(m, &zero, sizeof zero);
}

/* Stores m and returns the file's bytes. */
static uint8_t *stored_bytes(const char *dir, const struct manifest *m, size_t *len)
{
	char path[PATH_MAX];
	tu_path(path, dir, "MANIFEST");
	assert_int_equal(manifest_store(dir, m, 0600), 0);
	return tu_read_file(path, len);
}

static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc = crc32c_update(0, buf, len - 4);
	memcpy(buf + len - 4, &crc, 4);
}

static void to_ent(const struct manifest_coll *c, struct ent *e)
{
	*e = (struct ent){.id = c->id,
			  .dim = c->settings.dim,
			  .metric = c->settings.metric,
			  .seal_interval_ms = c->settings.seal_interval_ms,
			  .train_docs = c->settings.train_docs,
			  .seal_docs = c->settings.seal_docs,
			  .created_lsn = c->created_lsn,
			  .tail_start = c->tail_start,
			  .trained_gen = c->trained_gen,
			  .tail_gen = c->tail_gen,
			  .tomb_gen = c->tomb_gen,
			  .reclaimed_lsn = c->reclaimed_lsn,
			  .index_gen = c->index_gen};
	memcpy(e->name, c->name, sizeof e->name);
	memcpy(e->index, c->settings.index, sizeof e->index);
	memcpy(e->indexed_keys, c->settings.indexed_keys, sizeof e->indexed_keys);
}

/* The documented layout of version (3 to 6), written without
 * manifest.c, for files that manifest_store refuses to write. */
static uint8_t *encode_v(const struct manifest *m, uint32_t version, size_t *len)
{
	size_t esize = version >= 6   ? ENT_SIZE
		       : version == 5 ? V5_ENT_SIZE
		       : version == 4 ? V4_ENT_SIZE
				      : V3_ENT_SIZE;
	struct hdr h = {.version = version,
			.header_size = HDR_SIZE,
			.gen = m->gen,
			.tail_start = m->tail_start,
			.catalog_lsn = m->catalog_lsn,
			.next_coll = m->next_coll,
			.ncolls = m->ncolls,
			.nsegments = m->nsegments,
			.nkeys = m->nkeys};
	memcpy(h.magic, "RMANIFST", 8);
	memcpy(h.name, m->name, sizeof h.name);
	size_t colls = (size_t)m->ncolls * esize, segs = (size_t)m->nsegments * SEG_SIZE;
	size_t keys = (size_t)m->nkeys * KEY_SIZE;
	*len = HDR_SIZE + colls + segs + keys + 4;
	uint8_t *buf = calloc(1, *len);
	assert_non_null(buf);
	memcpy(buf, &h, sizeof h);
	for (uint32_t i = 0; i < m->ncolls; i++) {
		struct ent e;
		to_ent(&m->colls[i], &e);
		memcpy(buf + HDR_SIZE + i * esize, &e, esize);
	}
	if (segs)
		memcpy(buf + HDR_SIZE + colls, m->segments, segs);
	if (keys)
		memcpy(buf + HDR_SIZE + colls + segs, m->keys, keys);
	fix_crc(buf, *len);
	return buf;
}

static uint8_t *encode(const struct manifest *m, size_t *len)
{
	return encode_v(m, MANIFEST_VERSION, len);
}

static int decode_rc(const void *buf, size_t len)
{
	struct manifest m;
	int rc = manifest_decode(buf, len, &m);
	if (rc)
		assert_zeroed(&m);
	manifest_free(&m);
	return rc;
}

/* Applies edit to a copy of a valid file's header and first collection
 * entry, fixes the checksum and decodes it. */
static int decode_edited(const uint8_t *good, size_t len, void (*edit)(struct hdr *, struct ent *))
{
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, good, len);
	struct hdr h;
	struct ent e;
	memcpy(&h, buf, sizeof h);
	memcpy(&e, buf + HDR_SIZE, sizeof e);
	edit(&h, &e);
	memcpy(buf, &h, sizeof h);
	memcpy(buf + HDR_SIZE, &e, sizeof e);
	fix_crc(buf, len);
	int rc = decode_rc(buf, len);
	free(buf);
	return rc;
}

/* ---- round trips and layout ---- */

static void test_round_trip(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got;
	make_manifest(&m, 5, 3, 4);
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&m, &got);
	assert_int_equal(got.version, MANIFEST_VERSION);
	manifest_free(&got);
	assert_null(got.colls);
	assert_null(got.segments);
	assert_null(got.keys);
	assert_int_equal(got.ncolls + got.nsegments + got.nkeys, 0);
	/* A second store replaces the first. */
	struct manifest next;
	make_manifest(&next, 6, 4, 1);
	assert_int_equal(manifest_store(dir, &next, 0600), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&next, &got);
	assert_false(exists(dir, "MANIFEST.tmp"));
	manifest_free(&got);
	manifest_free(&next);
	manifest_free(&m);
}

/* A new instance without collections. */
static void test_empty(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m = {.gen = 1, .next_coll = 1, .tail_start = 16, .catalog_lsn = 16}, got;
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&m, &got);
	assert_non_null(got.colls);
	assert_non_null(got.segments);
	assert_non_null(got.keys);
	manifest_free(&got);
}

/* A manifest built in memory has no arrays until something is added: it
 * is copied and changed all the same (the writer copies a new instance's
 * to seal it, and drops a collection that has no segments yet). */
static void test_empty_arrays(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m = {.gen = 1, .next_coll = 3, .tail_start = 16, .catalog_lsn = 16}, copy;
	assert_int_equal(manifest_copy(&m, &copy), 0);
	assert_same(&m, &copy);
	assert_non_null(copy.colls);
	assert_non_null(copy.segments);
	assert_non_null(copy.keys);
	manifest_free(&copy);
	struct manifest_coll c = {
	    .id = 1, .name = "default", .settings = {.dim = 4, .index = "Flat"}, .tail_start = 16};
	assert_int_equal(manifest_add_coll(&m, &c), 0);
	assert_null(m.segments);
	manifest_remove_coll(&m, 1);
	assert_int_equal(m.ncolls, 0);
	assert_int_equal(manifest_add_coll(&m, &c), 0);
	struct manifest_segment s = {.coll = 1, .start_lsn = 0, .end_lsn = 8, .count = 1};
	assert_int_equal(manifest_add_segment(&m, &s), 0);
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	manifest_free(&m);
}

static void test_missing(void **state)
{
	struct manifest got;
	memset(&got, 0x5a, sizeof got);
	assert_int_equal(manifest_load(tu_dir(state), &got), ROOST_ENOENT);
	assert_zeroed(&got);
}

static void assert_zero_after_nul(const char *field, size_t size)
{
	for (size_t i = strlen(field); i < size; i++)
		assert_int_equal(field[i], 0);
}

static void test_layout(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m;
	make_manifest(&m, 9, 2, 3);
	/* Garbage after the strings' NULs must not reach the file. */
	struct manifest_coll *c = &m.colls[0];
	memset(c->settings.index + strlen(c->settings.index) + 1, 0x77,
	       sizeof c->settings.index - strlen(c->settings.index) - 1);
	memset(c->settings.indexed_keys + 1, 0x77, sizeof c->settings.indexed_keys - 1);
	memset(c->name + strlen(c->name) + 1, 0x77, sizeof c->name - strlen(c->name) - 1);
	memset(m.name + strlen(m.name) + 1, 0x77, sizeof m.name - strlen(m.name) - 1);
	size_t len;
	uint8_t *buf = stored_bytes(dir, &m, &len);
	assert_int_equal(len, HDR_SIZE + 2 * ENT_SIZE + 2 * SEG_SIZE + 3 * KEY_SIZE + 4);
	struct hdr h;
	memcpy(&h, buf, sizeof h);
	assert_memory_equal(h.magic, "RMANIFST", 8);
	assert_int_equal(h.version, 6);
	assert_int_equal(h.header_size, HDR_SIZE);
	assert_int_equal(h.gen, 9);
	assert_int_equal(h.tail_start, m.tail_start);
	assert_int_equal(h.catalog_lsn, m.catalog_lsn);
	assert_int_equal(h.next_coll, 11);
	assert_int_equal(h.ncolls, 2);
	assert_int_equal(h.nsegments, 2);
	assert_int_equal(h.nkeys, 3);
	assert_string_equal(h.name, "inst-9");
	assert_zero_after_nul(h.name, sizeof h.name);
	for (uint32_t i = 0; i < 2; i++) {
		struct ent e, want;
		memcpy(&e, buf + HDR_SIZE + i * ENT_SIZE, sizeof e);
		to_ent(&m.colls[i], &want);
		assert_int_equal(e.id, want.id);
		assert_string_equal(e.name, want.name);
		assert_zero_after_nul(e.name, sizeof e.name);
		assert_string_equal(e.index, "IVF9,PQ16");
		assert_zero_after_nul(e.index, sizeof e.index);
		assert_string_equal(e.indexed_keys, i ? "user,topic" : "");
		assert_zero_after_nul(e.indexed_keys, sizeof e.indexed_keys);
		memset(e.name, 0, sizeof e.name);
		memset(e.index, 0, sizeof e.index);
		memset(e.indexed_keys, 0, sizeof e.indexed_keys);
		memset(want.name, 0, sizeof want.name);
		memset(want.index, 0, sizeof want.index);
		memset(want.indexed_keys, 0, sizeof want.indexed_keys);
		assert_memory_equal(&e, &want, sizeof e);
	}
	assert_memory_equal(buf + HDR_SIZE + 2 * ENT_SIZE, m.segments, 2 * SEG_SIZE);
	assert_memory_equal(buf + HDR_SIZE + 2 * ENT_SIZE + 2 * SEG_SIZE, m.keys, 3 * KEY_SIZE);
	uint32_t crc;
	memcpy(&crc, buf + len - 4, 4);
	assert_int_equal(crc, crc32c_update(0, buf, len - 4));
	char path[PATH_MAX];
	struct stat st;
	tu_path(path, dir, "MANIFEST");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(buf);
	manifest_free(&m);
}

/* The fuzzer hands over buffers at any address. */
static void test_decode_unaligned(void **state)
{
	struct manifest m, got;
	make_manifest(&m, 3, 2, 2);
	size_t len;
	uint8_t *buf = stored_bytes(tu_dir(state), &m, &len);
	uint8_t *odd = malloc(len + 1);
	assert_non_null(odd);
	memcpy(odd + 1, buf, len);
	assert_int_equal(manifest_decode(odd + 1, len, &got), 0);
	assert_same(&m, &got);
	manifest_free(&got);
	free(odd);
	free(buf);
	manifest_free(&m);
}

/* The largest segment list is stored and read back; the largest key list
 * is checked in memory by test_counts_over_limit (32 MiB to fsync here). */
static void test_max_segments_round_trip(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got;
	make_manifest(&m, 2, MANIFEST_MAX_SEGS, 3);
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&m, &got);
	manifest_free(&got);
	manifest_free(&m);
}

/* ---- corruption ---- */

static int load_refused(const void *dir)
{
	struct manifest got;
	int rc = manifest_load(dir, &got);
	assert_zeroed(&got);
	return rc;
}

static void test_flip_every_byte(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	struct manifest m;
	make_manifest(&m, 4, 2, 2);
	tu_path(path, dir, "MANIFEST");
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	tu_flip_every_byte(&(struct tu_corruption){
	    .path = path, .decode = decode_rc, .load = load_refused, .arg = dir});
	manifest_free(&m);
}

static void test_truncations(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got;
	make_manifest(&m, 4, 2, 2);
	size_t len;
	uint8_t *good = stored_bytes(dir, &m, &len);
	char path[PATH_MAX];
	tu_path(path, dir, "MANIFEST");
	for (size_t n = len; n-- > 0;) {
		assert_int_equal(decode_rc(good, n), ROOST_ECORRUPT);
		assert_int_equal(truncate(path, (off_t)n), 0);
		assert_int_equal(manifest_load(dir, &got), ROOST_ECORRUPT);
	}
	uint8_t *longer = calloc(1, len + 1);
	assert_non_null(longer);
	memcpy(longer, good, len);
	assert_int_equal(decode_rc(longer, len + 1), ROOST_ECORRUPT);
	free(longer);
	free(good);
	manifest_free(&m);
}

#define EDIT(name, body)                                                                           \
	static void name(struct hdr *h, struct ent *e)                                             \
	{                                                                                          \
		(void)h;                                                                           \
		(void)e;                                                                           \
		body;                                                                              \
	}

EDIT(edit_colls_over, h->ncolls = MANIFEST_MAX_COLLS + 1)
EDIT(edit_segs_over, h->nsegments = MANIFEST_MAX_SEGS + 1)
EDIT(edit_keys_over, h->nkeys = MANIFEST_MAX_KEYS + 1)
EDIT(edit_segs_huge, h->nsegments = UINT32_MAX)
EDIT(edit_keys_huge, h->nkeys = UINT32_MAX)
EDIT(edit_colls_huge, h->ncolls = UINT32_MAX)
EDIT(edit_segs_one_more, h->nsegments++)

static void test_oversize_counts(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got;
	make_manifest(&m, 4, 2, 2);
	size_t len;
	uint8_t *good = stored_bytes(dir, &m, &len);
	assert_int_equal(decode_edited(good, len, edit_colls_over), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_segs_over), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_keys_over), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_colls_huge), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_segs_huge), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_keys_huge), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_segs_one_more), ROOST_ECORRUPT);
	/* A file too large to be any manifest is refused before anything is
	 * allocated for it (1 TiB, sparse, so this costs nothing). */
	char path[PATH_MAX];
	tu_path(path, dir, "MANIFEST");
	assert_int_equal(truncate(path, 1ll << 40), 0);
	assert_int_equal(manifest_load(dir, &got), ROOST_ECORRUPT);
	free(good);
	manifest_free(&m);
}

/* One over a limit, with a length and checksum that agree with it. */
static void test_counts_over_limit(void **state)
{
	(void)state;
	struct manifest m;
	size_t len;
	make_manifest(&m, 2, MANIFEST_MAX_SEGS + 1, 0);
	uint8_t *buf = encode(&m, &len);
	assert_int_equal(decode_rc(buf, len), ROOST_ECORRUPT);
	free(buf);
	manifest_free(&m);
	make_manifest(&m, 2, 0, MANIFEST_MAX_KEYS + 1);
	buf = encode(&m, &len);
	assert_int_equal(decode_rc(buf, len), ROOST_ECORRUPT);
	free(buf);
	manifest_free(&m);
	make_manifest(&m, 2, MANIFEST_MAX_SEGS, MANIFEST_MAX_KEYS);
	buf = encode(&m, &len);
	assert_int_equal(decode_rc(buf, len), 0);
	free(buf);
	manifest_free(&m);
}

/* As many collections as there may be: ids 1.., one segment each. */
static void make_many(struct manifest *m, uint32_t n)
{
	make_manifest(m, 2, 0, 0);
	free(m->colls);
	m->colls = calloc(n, sizeof *m->colls);
	assert_non_null(m->colls);
	for (uint32_t i = 0; i < n; i++) {
		m->colls[i] =
		    (struct manifest_coll){.id = i + 1, .settings = {.dim = 4}, .tail_start = 60};
		snprintf(m->colls[i].name, sizeof m->colls[i].name, "c%u", i);
		snprintf(m->colls[i].settings.index, sizeof m->colls[i].settings.index, "Flat");
	}
	m->ncolls = n;
	m->next_coll = n + 1;
	m->tail_start = m->catalog_lsn = 60;
}

static void test_most_collections(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got;
	make_many(&m, MANIFEST_MAX_COLLS);
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&m, &got);
	manifest_free(&got);
	manifest_free(&m);
	make_many(&m, MANIFEST_MAX_COLLS + 1);
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_ETOOBIG);
	size_t len;
	uint8_t *buf = encode(&m, &len);
	assert_int_equal(decode_rc(buf, len), ROOST_ECORRUPT);
	free(buf);
	manifest_free(&m);
}

EDIT(edit_version, h->version = MANIFEST_VERSION + 1)
EDIT(edit_magic, h->magic[0] = 'X')
EDIT(edit_header_size, h->header_size = HDR_SIZE + 8)
EDIT(edit_name_unterminated, memset(h->name, 'n', sizeof h->name))
EDIT(edit_next_coll_zero, h->next_coll = 0)
EDIT(edit_next_coll_taken, h->next_coll = 8) /* the second collection has id 8 */
EDIT(edit_next_coll_huge, h->next_coll = UINT32_MAX)
EDIT(edit_tail_after_catalog, h->tail_start = h->catalog_lsn + 1)
EDIT(edit_tail_after_coll, h->tail_start = e->tail_start + 1)
EDIT(edit_tail_at_coll, h->tail_start = e->tail_start)
EDIT(edit_id_zero, e->id = 0)
EDIT(edit_id_after_next, e->id = 9) /* above the second's 8: unsorted */
EDIT(edit_id_same, e->id = 8)
EDIT(edit_dim_zero, e->dim = 0)
EDIT(edit_dim_big, e->dim = 4097)
EDIT(edit_dim_max, e->dim = 4096)
EDIT(edit_metric, e->metric = 2)
EDIT(edit_index_unterminated, memset(e->index, 'A', sizeof e->index))
EDIT(edit_index_full, memset(e->index, 'A', sizeof e->index - 1))
EDIT(edit_index_empty, memset(e->index, 0, sizeof e->index))
EDIT(edit_index_control, e->index[1] = '\n')
EDIT(edit_keys_unterminated, memset(e->indexed_keys, 'k', sizeof e->indexed_keys))
EDIT(edit_keys_twice, snprintf(e->indexed_keys, sizeof e->indexed_keys, "user,user"))
EDIT(edit_keys_bad, snprintf(e->indexed_keys, sizeof e->indexed_keys, "bad key"))
EDIT(edit_keys_comma, snprintf(e->indexed_keys, sizeof e->indexed_keys, "user,"))
EDIT(edit_keys_ok, snprintf(e->indexed_keys, sizeof e->indexed_keys, "a,b.c,d-e"))
EDIT(edit_cname_unterminated, memset(e->name, 'c', sizeof e->name))
EDIT(edit_cname_full, memset(e->name, 'c', sizeof e->name - 1))
EDIT(edit_cname_empty, memset(e->name, 0, sizeof e->name))
EDIT(edit_cname_bad, e->name[0] = '-')
EDIT(edit_cname_same, snprintf(e->name, sizeof e->name, "coll-8"))
EDIT(edit_trained_future, e->trained_gen = h->gen + 1)
EDIT(edit_tail_gen_future, e->tail_gen = h->gen + 1)
EDIT(edit_tomb_gen_future, e->tomb_gen = h->gen + 1)
EDIT(edit_coll_tail_below_segment, e->tail_start = 49; h->tail_start = 49) /* it ends at 50 */
EDIT(edit_coll_tail_at_segment_end, e->tail_start = 50; h->tail_start = 50)

static void test_header_fields(void **state)
{
	struct manifest m;
	make_manifest(&m, 4, 2, 2);
	size_t len;
	uint8_t *good = stored_bytes(tu_dir(state), &m, &len);
	static const struct {
		void (*edit)(struct hdr *, struct ent *);
		int rc;
	} cases[] = {
	    {edit_version, ROOST_EVERSION},
	    {edit_tomb_gen_future, ROOST_ECORRUPT},
	    {edit_magic, ROOST_ECORRUPT},
	    {edit_header_size, ROOST_ECORRUPT},
	    {edit_name_unterminated, ROOST_ECORRUPT},
	    {edit_next_coll_zero, ROOST_ECORRUPT},
	    {edit_next_coll_taken, ROOST_ECORRUPT},
	    {edit_next_coll_huge, ROOST_ECORRUPT},
	    {edit_tail_after_catalog, ROOST_ECORRUPT},
	    {edit_tail_after_coll, ROOST_ECORRUPT},
	    {edit_tail_at_coll, 0},
	    {edit_id_zero, ROOST_ECORRUPT},
	    {edit_id_after_next, ROOST_ECORRUPT},
	    {edit_id_same, ROOST_ECORRUPT},
	    {edit_dim_zero, ROOST_ECORRUPT},
	    {edit_dim_big, ROOST_ECORRUPT},
	    {edit_dim_max, 0},
	    {edit_metric, ROOST_ECORRUPT},
	    {edit_index_unterminated, ROOST_ECORRUPT},
	    {edit_index_full, 0},
	    {edit_index_empty, ROOST_ECORRUPT},
	    {edit_index_control, ROOST_ECORRUPT},
	    {edit_keys_unterminated, ROOST_ECORRUPT},
	    {edit_keys_twice, ROOST_ECORRUPT},
	    {edit_keys_bad, ROOST_ECORRUPT},
	    {edit_keys_comma, ROOST_ECORRUPT},
	    {edit_keys_ok, 0},
	    {edit_cname_unterminated, ROOST_ECORRUPT},
	    {edit_cname_full, 0},
	    {edit_cname_empty, ROOST_ECORRUPT},
	    {edit_cname_bad, ROOST_ECORRUPT},
	    {edit_cname_same, ROOST_ECORRUPT},
	    {edit_trained_future, ROOST_ECORRUPT},
	    {edit_tail_gen_future, ROOST_ECORRUPT},
	    {edit_coll_tail_below_segment, ROOST_ECORRUPT},
	    {edit_coll_tail_at_segment_end, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(decode_edited(good, len, cases[i].edit), cases[i].rc);
	free(good);
	manifest_free(&m);
}

/* Version 2 (or 1, without the name) as the code before collections wrote
 * it: one collection's settings in the header, segments without one. */
static uint8_t *encode_v2(const struct manifest *m, uint32_t version, size_t *len)
{
	const struct manifest_coll *c = &m->colls[0];
	size_t header = version == 1 ? V1_HDR_SIZE : V2_HDR_SIZE;
	struct v2hdr h = {.version = version,
			  .header_size = (uint32_t)header,
			  .gen = m->gen,
			  .dim = c->settings.dim,
			  .metric = c->settings.metric,
			  .tail_start = c->tail_start,
			  .trained_gen = c->trained_gen,
			  .nsegments = m->nsegments,
			  .nkeys = m->nkeys};
	memcpy(h.magic, "RMANIFST", 8);
	memcpy(h.index, c->settings.index, sizeof h.index);
	memcpy(h.name, m->name, sizeof h.name);
	*len = header + m->nsegments * sizeof(struct v2seg) + m->nkeys * KEY_SIZE + 4;
	uint8_t *buf = calloc(1, *len), *p = buf + header;
	assert_non_null(buf);
	memcpy(buf, &h, header);
	for (uint32_t i = 0; i < m->nsegments; i++, p += sizeof(struct v2seg)) {
		struct v2seg sg = {m->segments[i].start_lsn, m->segments[i].end_lsn,
				   m->segments[i].count};
		memcpy(p, &sg, sizeof sg);
	}
	memcpy(p, m->keys, m->nkeys * KEY_SIZE);
	fix_crc(buf, *len);
	return buf;
}

/* What a version 2 file of m's first collection and segments reads as. */
static void as_read_from_v2(struct manifest *m, uint32_t version)
{
	struct manifest_coll *c = &m->colls[0];
	c->id = 1;
	snprintf(c->name, sizeof c->name, "default");
	c->settings.train_docs = c->settings.seal_docs = 0;
	c->settings.seal_interval_ms = 0;
	c->created_lsn = 0;
	c->tail_gen = m->gen;
	m->ncolls = 1;
	m->next_coll = 2;
	m->catalog_lsn = m->tail_start = c->tail_start;
	for (uint32_t i = 0; i < m->nsegments; i++)
		m->segments[i].coll = 1;
	if (version == 1)
		m->name[0] = '\0';
}

static void test_older_versions_read_as_default(void **state)
{
	(void)state;
	for (uint32_t version = 1; version <= 2; version++) {
		struct manifest m, got;
		make_manifest(&m, 4, 2, 3);
		m.nsegments = 1; /* the first collection's */
		size_t len;
		uint8_t *buf = encode_v2(&m, version, &len);
		assert_int_equal(manifest_decode(buf, len, &got), 0);
		assert_int_equal(got.version, version);
		as_read_from_v2(&m, version);
		assert_same(&m, &got);
		manifest_free(&got);
		/* A header claiming the other version's size is damaged. */
		struct v2hdr h;
		memcpy(&h, buf, V1_HDR_SIZE);
		h.header_size = version == 1 ? V2_HDR_SIZE : V1_HDR_SIZE;
		memcpy(buf, &h, V1_HDR_SIZE);
		fix_crc(buf, len);
		assert_int_equal(decode_rc(buf, len), ROOST_ECORRUPT);
		free(buf);
		manifest_free(&m);
	}
}

/* Another version keeps its own layout, so it must be told apart before
 * length and checksum are judged. */
static void test_other_version_any_length(void **state)
{
	(void)state;
	uint8_t buf[12];
	memcpy(buf, "RMANIFST", 8);
	uint32_t v = MANIFEST_VERSION + 1;
	memcpy(buf + 8, &v, 4);
	assert_int_equal(decode_rc(buf, sizeof buf), ROOST_EVERSION);
	v = 0;
	memcpy(buf + 8, &v, 4);
	assert_int_equal(decode_rc(buf, sizeof buf), ROOST_EVERSION);
	assert_int_equal(decode_rc(buf, sizeof buf - 1), ROOST_ECORRUPT);
}

/* ---- segment order ---- */

static int decode_segments(const uint8_t *good, size_t len, struct manifest_segment a,
			   struct manifest_segment b)
{
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, good, len);
	memcpy(buf + HDR_SIZE + 2 * ENT_SIZE, &a, sizeof a);
	memcpy(buf + HDR_SIZE + 2 * ENT_SIZE + sizeof a, &b, sizeof b);
	fix_crc(buf, len);
	int rc = decode_rc(buf, len);
	free(buf);
	return rc;
}

static int store_segments(const char *dir, struct manifest_segment a, struct manifest_segment b)
{
	struct manifest m;
	make_manifest(&m, 4, 2, 0);
	m.segments[0] = a;
	m.segments[1] = b;
	int rc = manifest_store(dir, &m, 0600);
	manifest_free(&m);
	return rc;
}

#define SEG(c, s, e)                                                                               \
	{                                                                                          \
		.coll = (c), .start_lsn = (s), .end_lsn = (e), .count = 1                          \
	}

/* make_manifest's m of 4 segments and 2 keys, written as an older version
 * with its own entry size (and, as then, no index generations), decoded
 * into got. */
static void decode_older(struct manifest *m, uint32_t version, size_t esize, struct manifest *got)
{
	make_manifest(m, 6, 4, 2);
	for (uint32_t i = 0; i < m->ncolls; i++)
		m->colls[i].index_gen = 0;
	for (uint32_t i = 0; i < m->nsegments; i++)
		m->segments[i].index_gen = 0;
	size_t len;
	uint8_t *buf = encode_v(m, version, &len);
	assert_int_equal(len, HDR_SIZE + 2 * esize + 4 * SEG_SIZE + 2 * KEY_SIZE + 4);
	assert_int_equal(manifest_decode(buf, len, got), 0);
	assert_int_equal(got->version, version);
	free(buf);
}

/* Version 3, written before tombstones, reads as a manifest with none. */
static void test_version3_has_no_tombstones(void **state)
{
	(void)state;
	struct manifest m, got;
	decode_older(&m, 3, V3_ENT_SIZE, &got);
	assert_int_equal(got.ncolls, 2);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(got.colls[i].tomb_gen, 0);
		assert_int_equal(got.colls[i].tail_gen, m.colls[i].tail_gen);
		assert_string_equal(got.colls[i].name, m.colls[i].name);
	}
	assert_memory_equal(got.segments, m.segments, 4 * sizeof *m.segments);
	manifest_free(&got);
	manifest_free(&m);
}

/* Version 4, written before indexed keys, reads as collections with none;
 * stored again, it becomes the newest version with the rest unchanged. */
static void test_version4_has_no_indexed_keys(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got, again;
	decode_older(&m, 4, V4_ENT_SIZE, &got);
	assert_string_equal(got.colls[1].settings.indexed_keys, "");
	assert_int_equal(got.colls[1].tomb_gen, m.colls[1].tomb_gen);
	m.colls[1].settings.indexed_keys[0] = '\0';
	assert_same(&m, &got);
	assert_int_equal(manifest_store(dir, &got, 0600), 0);
	assert_int_equal(manifest_load(dir, &again), 0);
	assert_int_equal(again.version, MANIFEST_VERSION);
	assert_same(&got, &again);
	manifest_free(&again);
	manifest_free(&got);
	manifest_free(&m);
}

/* Version 5, written before alters, reads with every index generation 0;
 * a segment entry whose padding was not zero is refused. */
static void test_version5_has_no_index_generations(void **state)
{
	(void)state;
	struct manifest m, got;
	decode_older(&m, 5, V5_ENT_SIZE, &got);
	assert_same(&m, &got);
	manifest_free(&got);
	m.segments[1].index_gen = 1;
	size_t len;
	uint8_t *buf = encode_v(&m, 5, &len);
	assert_int_equal(decode_rc(buf, len), ROOST_ECORRUPT);
	free(buf);
	manifest_free(&m);
}

/* A segment's index file is named by its index generation once its
 * collection was altered; the first keeps the name it always had. */
static void test_index_path(void **state)
{
	(void)state;
	char buf[PATH_MAX];
	struct manifest_segment s = {.coll = 2, .start_lsn = 16, .end_lsn = 0x40};
	assert_int_equal(manifest_index_path("/d", &s, buf, sizeof buf), 0);
	assert_string_equal(buf, "/d/seg-c00000002-0000000000000010-0000000000000040.index");
	s.index_gen = 3;
	assert_int_equal(manifest_index_path("/d", &s, buf, sizeof buf), 0);
	assert_string_equal(buf,
			    "/d/seg-c00000002-0000000000000010-0000000000000040.00000003.index");
}

static void test_segment_order(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m;
	make_manifest(&m, 4, 2, 0); /* collection 3 to 107, collection 8 to 108 */
	size_t len;
	uint8_t *good = stored_bytes(dir, &m, &len);
	static const struct {
		struct manifest_segment a, b;
		int ok;
	} cases[] = {
	    {SEG(3, 0, 50), SEG(3, 50, 107), 1},  /* touching, up to its tail_start */
	    {SEG(3, 0, 50), SEG(3, 49, 60), 0},	  /* overlapping */
	    {SEG(3, 60, 70), SEG(3, 0, 50), 0},	  /* unsorted */
	    {SEG(3, 0, 50), SEG(3, 0, 50), 0},	  /* duplicate */
	    {SEG(3, 10, 10), SEG(3, 50, 60), 0},  /* empty range */
	    {SEG(3, 20, 10), SEG(3, 50, 60), 0},  /* reversed range */
	    {SEG(3, 0, 50), SEG(3, 100, 108), 0}, /* past its tail_start */
	    {SEG(3, 0, 50), SEG(8, 0, 108), 1},	  /* collections' ranges overlap */
	    {SEG(8, 0, 50), SEG(3, 60, 70), 0},	  /* collections unsorted */
	    {SEG(3, 0, 50), SEG(5, 60, 70), 0},	  /* no such collection */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int want = cases[i].ok ? 0 : ROOST_ECORRUPT;
		assert_int_equal(decode_segments(good, len, cases[i].a, cases[i].b), want);
		want = cases[i].ok ? 0 : ROOST_EINVAL;
		assert_int_equal(store_segments(dir, cases[i].a, cases[i].b), want);
	}
	/* An index built with settings its collection never had. */
	struct manifest_segment ahead = SEG(3, 0, 50);
	ahead.index_gen = 1;
	assert_int_equal(decode_segments(good, len, ahead, cases[0].b), ROOST_ECORRUPT);
	free(good);
	manifest_free(&m);
}

/* ---- storing ---- */

static void test_store_refuses_invalid(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest good, m, got;
	make_manifest(&good, 3, 1, 1);
	assert_int_equal(manifest_store(dir, &good, 0600), 0);

	make_manifest(&m, 4, 1, 1);
	struct coll_settings *s = &m.colls[1].settings;
	s->dim = 0;
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	s->dim = 4097;
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	s->dim = 8;
	s->metric = 2;
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	s->metric = 0;
	memset(s->index, 'x', sizeof s->index);
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	s->index[0] = '\0';
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	snprintf(s->index, sizeof s->index, "Flat");
	snprintf(s->indexed_keys, sizeof s->indexed_keys, "a,a");
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	snprintf(s->indexed_keys, sizeof s->indexed_keys, "a b");
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	snprintf(s->indexed_keys, sizeof s->indexed_keys, "a,b");
	snprintf(m.colls[1].name, sizeof m.colls[1].name, "no spaces");
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	snprintf(m.colls[1].name, sizeof m.colls[1].name, "%s", m.colls[0].name);
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	snprintf(m.colls[1].name, sizeof m.colls[1].name, "ok");
	m.next_coll = m.colls[1].id;
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	m.next_coll = 11;
	m.tail_start = m.colls[0].tail_start + 1;
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_EINVAL);
	m.tail_start = m.colls[0].tail_start;
	m.nkeys = MANIFEST_MAX_KEYS + 1;
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_ETOOBIG);
	m.nkeys = 1;
	m.nsegments = MANIFEST_MAX_SEGS + 1;
	assert_int_equal(manifest_store(dir, &m, 0600), ROOST_ETOOBIG);
	m.nsegments = 1;
	assert_int_equal(manifest_store(dir, &m, 0600),
			 0); /* valid again: the checks were the edits */

	assert_int_equal(manifest_load(dir, &got), 0);
	assert_int_equal(got.gen, 4);
	assert_false(exists(dir, "MANIFEST.tmp"));
	manifest_free(&got);
	manifest_free(&m);
	manifest_free(&good);
}

/* A write that fails midway (the file size limit stops it after a few
 * hundred bytes, which works even as root) leaves the old manifest. */
static void test_failed_write_keeps_old(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest old, big, got;
	make_manifest(&old, 3, 2, 2);
	assert_int_equal(manifest_store(dir, &old, 0600), 0);
	make_manifest(&big, 4, 100, 1000);

	struct rlimit saved, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	lim = saved;
	lim.rlim_cur = 300;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = manifest_store(dir, &big, 0600);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, prev);

	assert_int_equal(rc, ROOST_EIO);
	assert_false(exists(dir, "MANIFEST.tmp"));
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&old, &got);
	manifest_free(&got);
	manifest_free(&big);
	manifest_free(&old);
}

/* Root ignores directory permissions, so this one only runs unprivileged;
 * test_failed_write_keeps_old covers the failure path as root. */
static void test_readonly_dir(void **state)
{
	if (geteuid() == 0) {
		print_message("skipped: root ignores directory permissions; run as another user\n");
		skip();
	}
	const char *dir = tu_dir(state);
	struct manifest old, next, got;
	make_manifest(&old, 3, 1, 1);
	make_manifest(&next, 4, 2, 2);
	assert_int_equal(manifest_store(dir, &old, 0600), 0);
	assert_int_equal(chmod(dir, 0500), 0);
	assert_int_equal(manifest_store(dir, &next, 0600), ROOST_EPERM);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&old, &got);
	assert_int_equal(chmod(dir, 0700), 0);
	manifest_free(&got);
	manifest_free(&next);
	manifest_free(&old);
}

/* A crash between writing MANIFEST.tmp and the rename leaves it behind. */
static void test_stale_tmp(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest old, next, got;
	make_manifest(&old, 3, 1, 1);
	make_manifest(&next, 4, 2, 2);
	assert_int_equal(manifest_store(dir, &old, 0600), 0);
	char junk[5000];
	memset(junk, 0xee, sizeof junk);
	char tmp[PATH_MAX];
	tu_path(tmp, dir, "MANIFEST.tmp");
	tu_write_file(tmp, junk, sizeof junk);

	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&old, &got);
	manifest_free(&got);

	assert_int_equal(manifest_store(dir, &next, 0600), 0);
	assert_false(exists(dir, "MANIFEST.tmp"));
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&next, &got);
	manifest_free(&got);
	manifest_free(&next);
	manifest_free(&old);
}

static void test_moved_on(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m;
	make_manifest(&m, 3, 1, 1);
	assert_false(manifest_moved_on(dir, 3)); /* none yet: nothing to move on to */
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	assert_false(manifest_moved_on(dir, 3));
	assert_true(manifest_moved_on(dir, 2));
	m.gen = 4;
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	assert_true(manifest_moved_on(dir, 3));
	assert_false(manifest_moved_on(dir, 4));
	manifest_free(&m);
}

static void test_store_missing_dir(void **state)
{
	char path[PATH_MAX];
	tu_path(path, tu_dir(state), "absent");
	struct manifest m;
	make_manifest(&m, 1, 0, 0);
	assert_int_equal(manifest_store(path, &m, 0600), ROOST_ENOENT);
	manifest_free(&m);
}

/* ---- paths ---- */

static void test_paths(void **state)
{
	(void)state;
	char buf[80];
	/* Collection 1 keeps the names of data written before collections. */
	assert_int_equal(manifest_segment_path("/d", 1, 0x1234, 0x1240, "docs", buf, sizeof buf),
			 0);
	assert_string_equal(buf, "/d/seg-0000000000001234-0000000000001240.docs");
	assert_int_equal(manifest_trained_path("/d", 1, 7, buf, sizeof buf), 0);
	assert_string_equal(buf, "/d/trained-0000000000000007.index");
	assert_int_equal(manifest_segment_path("/d", 0x2a, 1, UINT64_MAX, "index", buf, sizeof buf),
			 0);
	assert_string_equal(buf, "/d/seg-c0000002a-0000000000000001-ffffffffffffffff.index");
	assert_int_equal(manifest_trained_path("/d", 0x7fffffff, 7, buf, sizeof buf), 0);
	assert_string_equal(buf, "/d/trained-c7fffffff-0000000000000007.index");

	size_t need = strlen("/d/seg-c00000002-0000000000001234-0000000000001240.docs") + 1;
	assert_int_equal(manifest_segment_path("/d", 2, 0x1234, 0x1240, "docs", buf, need), 0);
	assert_int_equal(manifest_segment_path("/d", 2, 0x1234, 0x1240, "docs", buf, need - 1),
			 ROOST_ETOOBIG);
	need = strlen("/d/trained-0000000000000007.index") + 1;
	assert_int_equal(manifest_trained_path("/d", 1, 7, buf, need), 0);
	assert_int_equal(manifest_trained_path("/d", 1, 7, buf, need - 1), ROOST_ETOOBIG);
	assert_int_equal(manifest_trained_path("/d", 1, 7, buf, 0), ROOST_ETOOBIG);
}

/* ---- changes in memory ---- */

static void test_changes_keep_order(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, copy;
	make_manifest(&m, 4, 4, 1); /* collections 3 and 8, two segments each */
	struct manifest_coll c = m.colls[0];
	c.id = 5;
	snprintf(c.name, sizeof c.name, "middle");
	assert_int_equal(manifest_add_coll(&m, &c), 0);
	assert_int_equal(manifest_add_coll(&m, &c), ROOST_EEXIST);
	assert_int_equal(m.ncolls, 3);
	assert_int_equal(m.colls[1].id, 5);
	assert_ptr_equal(manifest_coll_find(&m, 5), &m.colls[1]);
	assert_ptr_equal(manifest_coll_named(&m, "middle"), &m.colls[1]);
	assert_null(manifest_coll_find(&m, 4));
	assert_null(manifest_coll_named(&m, "none"));
	struct manifest_segment sg = {.coll = 5, .start_lsn = 1, .end_lsn = 2, .count = 1};
	assert_int_equal(manifest_add_segment(&m, &sg), 0);
	sg.start_lsn = 0;
	sg.end_lsn = 1;
	assert_int_equal(manifest_add_segment(&m, &sg), 0);
	uint32_t first, n;
	manifest_segments_of(&m, 5, &first, &n);
	assert_int_equal(first, 2);
	assert_int_equal(n, 2);
	assert_int_equal(m.segments[2].start_lsn, 0);
	assert_int_equal(m.segments[3].start_lsn, 1);
	manifest_segments_of(&m, 4, &first, &n);
	assert_int_equal(n, 0);
	/* A copy is independent of what it was made from. */
	assert_int_equal(manifest_copy(&m, &copy), 0);
	manifest_remove_coll(&m, 3);
	assert_int_equal(m.ncolls, 2);
	assert_int_equal(m.nsegments, 4);
	assert_int_equal(m.segments[0].coll, 5);
	assert_int_equal(copy.ncolls, 3);
	assert_int_equal(copy.nsegments, 6);
	assert_int_equal(copy.segments[0].coll, 3);
	m.tail_start = m.colls[0].tail_start;
	assert_int_equal(manifest_store(dir, &m, 0600), 0);
	assert_int_equal(manifest_store(dir, &copy, 0600), 0);
	manifest_free(&copy);
	manifest_free(&m);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_tmpdir, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),
	    T(test_empty),
	    T(test_empty_arrays),
	    T(test_missing),
	    T(test_layout),
	    T(test_decode_unaligned),
	    T(test_max_segments_round_trip),
	    T(test_most_collections),
	    T(test_flip_every_byte),
	    T(test_truncations),
	    T(test_oversize_counts),
	    cmocka_unit_test(test_counts_over_limit),
	    T(test_header_fields),
	    cmocka_unit_test(test_other_version_any_length),
	    cmocka_unit_test(test_older_versions_read_as_default),
	    T(test_version3_has_no_tombstones),
	    T(test_version4_has_no_indexed_keys),
	    T(test_version5_has_no_index_generations),
	    T(test_index_path),
	    T(test_segment_order),
	    T(test_store_refuses_invalid),
	    T(test_failed_write_keeps_old),
	    T(test_readonly_dir),
	    T(test_stale_tmp),
	    T(test_moved_on),
	    T(test_store_missing_dir),
	    cmocka_unit_test(test_paths),
	    T(test_changes_keep_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
