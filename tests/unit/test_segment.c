/* Segment documents files: round trips of every column, the documented
 * layout, zero-document segments, every single-byte corruption and
 * truncation, and crafted files (valid checksum, invalid content) that
 * must be rejected. Each test works in its own temporary directory. */
#include "crc32c.h"
#include "err.h"
#include "segment.h"
#include "tutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The header as segment.h describes it, kept apart from segment.c so the
 * tests check the documented layout. */
struct hdr {
	char magic[8];
	uint32_t version;
	uint32_t dim;
	uint64_t count;
	uint64_t start_lsn;
	uint64_t end_lsn;
	uint64_t text_bytes;
	uint32_t crc;
	uint32_t reserved;
	uint64_t reserved2;
};

#define HDR_SIZE 64u
#define DIM	 3u
#define MAXDOCS	 8u

_Static_assert(sizeof(struct hdr) == HDR_SIZE, "documented header is 64 bytes");

/* ---- fixture ---- */

static const char *path_of(void **state)
{
	return tu_file(state, "seg-00000000000003e8.docs");
}

/* ---- sample documents ---- */

/* Columns in separate arrays, as segment_docs allows. */
struct sample {
	uint64_t ids[MAXDOCS];
	int64_t agents[MAXDOCS];
	int64_t times[MAXDOCS];
	uint32_t text_off[MAXDOCS];
	uint32_t text_len[MAXDOCS];
	struct segment_kind kinds[MAXDOCS];
	struct segment_ref refs[MAXDOCS];
	char text[512];
	float vectors[MAXDOCS * DIM];
	struct segment_docs d;
};

static const char *const texts[MAXDOCS] = {
    "alpha", "", "gamma ray", "d", "epsilon epsilon", "zeta", "eta!", "theta theta theta",
};

static const char *const kind_names[MAXDOCS] = {
    "note", "", "abcdefghijklmnopqrstuvw", "k", "memory", "x", "", "fact",
};

/* Appends str to the sample's text; returns where it starts. */
static uint32_t put_text(struct sample *s, uint32_t *off, const char *str, uint32_t *len)
{
	uint32_t at = *off;
	*len = (uint32_t)strlen(str);
	memcpy(s->text + at, str, *len);
	*off += *len;
	return at;
}

/* count documents from LSN 1000: ids with gaps (batches of one), negative
 * agents, text packed in order, every kind length from 0 to 23, and every
 * odd row with a key and metadata after the texts. */
static void make_sample(struct sample *s, uint64_t count)
{
	assert_true(count <= MAXDOCS);
	memset(s, 0, sizeof *s);
	uint32_t off = 0;
	for (uint64_t i = 0; i < count; i++) {
		s->ids[i] = 1000 + 2 * i;
		s->agents[i] = 3 - 7 * (int64_t)i;
		s->times[i] = 1700000000000 + (int64_t)i * 1001;
		s->text_off[i] = put_text(s, &off, texts[i], &s->text_len[i]);
		s->kinds[i].len = (uint8_t)strlen(kind_names[i]);
		memcpy(s->kinds[i].name, kind_names[i], s->kinds[i].len);
		for (uint32_t j = 0; j < DIM; j++)
			s->vectors[i * DIM + j] = (float)i * 0.5f - (float)j * 1.25f;
	}
	for (uint64_t i = 1; i < count; i += 2) {
		char key[16], meta[32];
		snprintf(key, sizeof key, "key-%llu", (unsigned long long)i);
		snprintf(meta, sizeof meta, "{\"i\":%llu}", (unsigned long long)i);
		s->refs[i].key_off = put_text(s, &off, key, &s->refs[i].key_len);
		s->refs[i].meta_off = put_text(s, &off, meta, &s->refs[i].meta_len);
	}
	s->d = (struct segment_docs){
	    .dim = DIM,
	    .count = count,
	    .start_lsn = 1000,
	    .end_lsn = 1000 + 2 * count + 5,
	    .ids = s->ids,
	    .agents = s->agents,
	    .times = s->times,
	    .text_off = s->text_off,
	    .text_len = s->text_len,
	    .kinds = s->kinds,
	    .refs = s->refs,
	    .text = s->text,
	    .text_bytes = off,
	    .vectors = s->vectors,
	};
}

static void assert_same(const struct segment_docs *a, const struct segment_docs *b)
{
	assert_int_equal(a->dim, b->dim);
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->start_lsn, b->start_lsn);
	assert_int_equal(a->end_lsn, b->end_lsn);
	assert_int_equal(a->text_bytes, b->text_bytes);
	if (a->count == 0)
		return;
	size_t n = (size_t)a->count;
	assert_memory_equal(a->ids, b->ids, n * 8);
	assert_memory_equal(a->agents, b->agents, n * 8);
	assert_memory_equal(a->times, b->times, n * 8);
	assert_memory_equal(a->text_off, b->text_off, n * 4);
	assert_memory_equal(a->text_len, b->text_len, n * 4);
	assert_memory_equal(a->kinds, b->kinds, n * 24);
	for (size_t i = 0; i < n; i++) {
		struct segment_ref none = {0};
		assert_memory_equal(a->refs ? &a->refs[i] : &none, b->refs ? &b->refs[i] : &none,
				    sizeof none);
	}
	assert_memory_equal(a->vectors, b->vectors, n * a->dim * sizeof(float));
	if (a->text_bytes)
		assert_memory_equal(a->text, b->text, (size_t)a->text_bytes);
}

static void assert_zeroed(const struct segment_docs *d)
{
	static const struct segment_docs zero;
	assert_memory_equal(d, &zero, sizeof zero);
}

/* ---- the documented layout, written without segment.c ---- */

static uint64_t pad8(uint64_t x)
{
	return (x + 7) & ~7ull;
}

/* Bytes per row before the text: ids, agents, times (8 each), text
 * offsets and lengths (4 each), kinds (24), and from version 2 refs (16). */
static size_t row_bytes(uint32_t version)
{
	return version >= 2 ? 72 : 56;
}

static size_t file_size_v(uint32_t version, uint64_t count, uint32_t dim, uint64_t text_bytes)
{
	return HDR_SIZE + row_bytes(version) * count + pad8(text_bytes) + 4 * count * dim;
}

static size_t file_size(uint64_t count, uint32_t dim, uint64_t text_bytes)
{
	return file_size_v(SEGMENT_VERSION, count, dim, text_bytes);
}

static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc = crc32c_update(0, buf, offsetof(struct hdr, crc));
	crc = crc32c_update(crc, buf + HDR_SIZE, len - HDR_SIZE);
	memcpy(buf + offsetof(struct hdr, crc), &crc, 4);
}

static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

/* Encodes d as it is, valid or not, with a correct checksum, in the
 * layout of version (1 has no refs). */
static uint8_t *encode_v(uint32_t version, const struct segment_docs *d, size_t *len)
{
	size_t n = (size_t)d->count;
	*len = file_size_v(version, d->count, d->dim, d->text_bytes);
	uint8_t *buf = calloc(1, *len);
	assert_non_null(buf);
	struct hdr h = {.version = version,
			.dim = d->dim,
			.count = d->count,
			.start_lsn = d->start_lsn,
			.end_lsn = d->end_lsn,
			.text_bytes = d->text_bytes};
	memcpy(h.magic, "RSEGDOCS", 8);
	uint8_t *p = put(buf, &h, sizeof h);
	p = put(p, d->ids, n * 8);
	p = put(p, d->agents, n * 8);
	p = put(p, d->times, n * 8);
	p = put(p, d->text_off, n * 4);
	p = put(p, d->text_len, n * 4);
	p = put(p, d->kinds, n * 24);
	if (version >= 2 && d->refs)
		p = put(p, d->refs, n * 16);
	else if (version >= 2)
		p += n * 16; /* calloc'ed: no row has a key or metadata */
	put(p, d->text, (size_t)d->text_bytes);
	p += pad8(d->text_bytes);
	put(p, d->vectors, n * d->dim * sizeof(float));
	fix_crc(buf, *len);
	return buf;
}

static uint8_t *encode(const struct segment_docs *d, size_t *len)
{
	return encode_v(SEGMENT_VERSION, d, len);
}

static int decode_rc(const void *buf, size_t len)
{
	struct segment_docs d;
	int rc = segment_decode(buf, len, &d);
	if (rc)
		assert_zeroed(&d);
	segment_free(&d);
	return rc;
}

static int decode_docs(const struct segment_docs *d)
{
	size_t len;
	uint8_t *buf = encode(d, &len);
	int rc = decode_rc(buf, len);
	free(buf);
	return rc;
}

/* Encodes the standard sample, applies edit to its header, fixes the
 * checksum and decodes it. */
static int decode_header_edit(void (*edit)(struct hdr *))
{
	struct sample s;
	make_sample(&s, 4);
	size_t len;
	uint8_t *buf = encode(&s.d, &len);
	struct hdr h;
	memcpy(&h, buf, sizeof h);
	edit(&h);
	memcpy(buf, &h, sizeof h);
	fix_crc(buf, len);
	int rc = decode_rc(buf, len);
	free(buf);
	return rc;
}

static int exists_tmp(const char *path)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	return access(tmp, F_OK) == 0;
}

/* Loads path three ways: without its vectors, and mapped, it must give
 * the same result and the same columns as the full load, which it
 * returns. */
static int load(const char *path, struct segment_docs *got)
{
	struct segment_docs cols, mapped;
	struct segment_map m;
	int rc = segment_load(path, SEGMENT_NO_VECTORS, &cols);
	int mrc = segment_map(path, &mapped, &m);
	int full = segment_load(path, SEGMENT_WITH_VECTORS, got);
	assert_int_equal(rc, full);
	assert_int_equal(mrc, full);
	if (rc == 0) {
		assert_null(cols.vectors);
		assert_true(got->count == 0 || got->vectors);
		cols.vectors = got->vectors; /* everything else must match */
		assert_same(got, &cols);
		cols.vectors = NULL;
		assert_same(got, &mapped);
		assert_null(mapped.block);
	} else {
		assert_zeroed(&cols);
		assert_zeroed(&mapped);
		assert_null(m.base);
	}
	segment_free(&cols);
	segment_unmap(&m, &mapped);
	assert_null(m.base);
	assert_zeroed(&mapped);
	return full;
}

/* ---- round trips and layout ---- */

static void test_round_trip(void **state)
{
	const char *path = path_of(state);
	struct sample s;
	struct segment_docs got;
	make_sample(&s, MAXDOCS);
	assert_int_equal(segment_store(path, &s.d, 0600), 0);
	assert_false(exists_tmp(path));
	assert_int_equal(load(path, &got), 0);
	assert_non_null(got.block);
	assert_same(&s.d, &got);
	for (uint64_t i = 0; i < got.count; i++) {
		assert_memory_equal(got.text + got.text_off[i], texts[i], got.text_len[i]);
		assert_int_equal(got.kinds[i].len, strlen(kind_names[i]));
	}
	segment_free(&got);
	assert_zeroed(&got);
}

static void test_layout(void **state)
{
	const char *path = path_of(state);
	struct sample s;
	make_sample(&s, 5);
	memset(s.text + s.d.text_bytes, 'J', sizeof s.text - s.d.text_bytes);
	assert_int_equal(segment_store(path, &s.d, 0600), 0);
	size_t len, want_len;
	uint8_t *file = tu_read_file(path, &len);
	uint8_t *want = encode(&s.d, &want_len);
	assert_int_equal(len, file_size(5, DIM, s.d.text_bytes));
	assert_int_equal(len, want_len);
	assert_memory_equal(file, want, len);
	assert_memory_equal(file, "RSEGDOCS", 8);
	/* The text's padding is zero although the memory after the text
	 * held something else. */
	for (uint64_t i = s.d.text_bytes; i < pad8(s.d.text_bytes); i++)
		assert_int_equal(file[HDR_SIZE + row_bytes(SEGMENT_VERSION) * 5 + i], 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(want);
	free(file);
}

/* Every padding remainder of the text section. */
static void test_text_padding(void **state)
{
	const char *path = path_of(state);
	for (uint32_t n = 0; n <= 9; n++) {
		struct sample s;
		struct segment_docs got;
		make_sample(&s, 1);
		memset(s.text, 'q', sizeof s.text);
		s.text_len[0] = n;
		s.d.text_bytes = n;
		assert_int_equal(segment_store(path, &s.d, 0600), 0);
		assert_int_equal(load(path, &got), 0);
		assert_same(&s.d, &got);
		segment_free(&got);
	}
}

/* Zero documents is valid: no caller then needs a special case. */
static void test_zero_docs(void **state)
{
	const char *path = path_of(state);
	struct segment_docs d = {.dim = 16, .start_lsn = 50, .end_lsn = 50}, got;
	assert_int_equal(segment_store(path, &d, 0600), 0);
	size_t len;
	free(tu_read_file(path, &len));
	assert_int_equal(len, HDR_SIZE);
	assert_int_equal(load(path, &got), 0);
	assert_same(&d, &got);
	segment_free(&got);
}

static void test_overwrite(void **state)
{
	const char *path = path_of(state);
	struct sample a, b;
	struct segment_docs got;
	make_sample(&a, 6);
	make_sample(&b, 2);
	assert_int_equal(segment_store(path, &a.d, 0600), 0);
	assert_int_equal(segment_store(path, &b.d, 0600), 0);
	assert_int_equal(load(path, &got), 0);
	assert_same(&b.d, &got);
	segment_free(&got);
}

/* A crash before the rename leaves path.tmp behind. */
static void test_stale_tmp(void **state)
{
	const char *path = path_of(state);
	struct sample a, b;
	struct segment_docs got;
	make_sample(&a, 3);
	make_sample(&b, 4);
	assert_int_equal(segment_store(path, &a.d, 0600), 0);
	char tmp[PATH_MAX + 8], junk[1000];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	memset(junk, 0xcc, sizeof junk);
	tu_write_file(tmp, junk, sizeof junk);
	assert_int_equal(load(path, &got), 0);
	assert_same(&a.d, &got);
	segment_free(&got);
	assert_int_equal(segment_store(path, &b.d, 0600), 0);
	assert_false(exists_tmp(path));
	assert_int_equal(load(path, &got), 0);
	assert_same(&b.d, &got);
	segment_free(&got);
}

static void test_missing(void **state)
{
	struct segment_docs got;
	memset(&got, 0x5a, sizeof got);
	assert_int_equal(load(path_of(state), &got), ROOST_ENOENT);
	assert_zeroed(&got);
}

/* The fuzzer hands over buffers at any address. */
static void test_decode_unaligned(void **state)
{
	(void)state;
	struct sample s;
	struct segment_docs got;
	make_sample(&s, 5);
	size_t len;
	uint8_t *buf = encode(&s.d, &len);
	uint8_t *odd = malloc(len + 1);
	assert_non_null(odd);
	memcpy(odd + 1, buf, len);
	assert_int_equal(segment_decode(odd + 1, len, &got), 0);
	assert_same(&s.d, &got);
	segment_free(&got);
	free(odd);
	free(buf);
}

/* ---- storing ---- */

/* A file the write cannot finish (the size limit stops it midway, which
 * works even as root) leaves the previous one and no temporary. */
static void test_failed_write_keeps_old(void **state)
{
	const char *path = path_of(state);
	struct sample a, b;
	struct segment_docs got;
	make_sample(&a, 2);
	make_sample(&b, MAXDOCS);
	assert_int_equal(segment_store(path, &a.d, 0600), 0);

	struct rlimit saved, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	lim = saved;
	lim.rlim_cur = 200;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = segment_store(path, &b.d, 0600);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, prev);

	assert_int_equal(rc, ROOST_EIO);
	assert_false(exists_tmp(path));
	assert_int_equal(load(path, &got), 0);
	assert_same(&a.d, &got);
	segment_free(&got);
}

static void test_store_refuses_invalid(void **state)
{
	const char *path = path_of(state);
	struct sample s;
	make_sample(&s, 4);
	s.d.dim = 0;
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	s.d.dim = 4097;
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	s.d.dim = DIM;
	s.d.count = (1ull << 32) + 1;
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	s.d.count = 4;
	s.vectors[5] = NAN;
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	s.vectors[5] = 0;
	s.ids[2] = s.ids[1];
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	s.ids[2] = s.ids[1] + 1;
	s.text_off[3] = (uint32_t)s.d.text_bytes + 1;
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	s.text_off[3] = 0;
	s.kinds[1].len = 24;
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	s.kinds[1].len = 0;
	s.d.start_lsn = s.d.end_lsn + 1;
	assert_int_equal(segment_store(path, &s.d, 0600), ROOST_EINVAL);
	assert_int_equal(access(path, F_OK), -1);
	assert_false(exists_tmp(path));
	s.d.start_lsn = 1000;
	assert_int_equal(segment_store(path, &s.d, 0600), 0);
}

/* ---- corruption ---- */

static int load_refused(const void *path)
{
	struct segment_docs got;
	int rc = load(path, &got);
	assert_zeroed(&got);
	return rc;
}

static void test_flip_every_byte(void **state)
{
	const char *path = path_of(state);
	struct sample s;
	make_sample(&s, 3);
	assert_int_equal(segment_store(path, &s.d, 0600), 0);
	tu_flip_every_byte(&(struct tu_corruption){
	    .path = path, .decode = decode_rc, .load = load_refused, .arg = path});
}

static void test_truncations(void **state)
{
	const char *path = path_of(state);
	struct sample s;
	struct segment_docs got;
	make_sample(&s, 3);
	assert_int_equal(segment_store(path, &s.d, 0600), 0);
	size_t len;
	uint8_t *good = tu_read_file(path, &len);
	for (size_t n = len; n-- > 0;) {
		assert_int_equal(decode_rc(good, n), ROOST_ECORRUPT);
		assert_int_equal(truncate(path, (off_t)n), 0);
		assert_int_equal(load(path, &got), ROOST_ECORRUPT);
	}
	uint8_t *longer = calloc(1, len + 8);
	assert_non_null(longer);
	memcpy(longer, good, len);
	assert_int_equal(decode_rc(longer, len + 8), ROOST_ECORRUPT);
	tu_write_file(path, longer, len + 8);
	assert_int_equal(load(path, &got), ROOST_ECORRUPT);
	free(longer);
	free(good);
}

static void edit_count_max(struct hdr *h)
{
	h->count = 1ull << 32; /* with dim 4096: a 70 TB file */
	h->dim = 4096;
}

static void edit_count_over(struct hdr *h)
{
	h->count = (1ull << 32) + 1;
}

static void edit_count_wrap(struct hdr *h)
{
	h->count = UINT64_MAX / 8 + 1; /* count * 8 wraps to 0 */
}

static void edit_text_huge(struct hdr *h)
{
	h->text_bytes = UINT64_MAX - 3; /* padding wraps */
}

/* A damaged count or size is refused from the header alone: the load
 * fails with ECORRUPT, not ENOMEM from trying to allocate what it says. */
static void test_huge_counts(void **state)
{
	const char *path = path_of(state);
	void (*edits[])(struct hdr *) = {edit_count_max, edit_count_over, edit_count_wrap,
					 edit_text_huge};
	struct sample s;
	make_sample(&s, 4);
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		size_t len;
		uint8_t *buf = encode(&s.d, &len);
		struct hdr h;
		memcpy(&h, buf, sizeof h);
		edits[i](&h);
		memcpy(buf, &h, sizeof h);
		fix_crc(buf, len);
		assert_int_equal(decode_rc(buf, len), ROOST_ECORRUPT);
		tu_write_file(path, buf, len);
		struct segment_docs got;
		assert_int_equal(load(path, &got), ROOST_ECORRUPT);
		assert_zeroed(&got);
		free(buf);
	}
}

/* Header-only files whose size arithmetic agrees with their length, so
 * only the limits stand between them and a decode that reads rows (or
 * text) that are not there. */
static void test_header_only_files(void **state)
{
	const char *path = path_of(state);
	static const struct {
		uint64_t count, text_bytes, start, end;
		uint32_t dim;
		int ok;
	} cases[] = {
	    {0, 0, 7, 7, 4096, 1},
	    {0, 0, 7, 7, 4097, 0},
	    {0, 0, 7, 7, 0, 0},
	    {0, 0, 10, 5, 1, 0},		  /* start after end */
	    {0, UINT64_MAX - 6, 7, 7, 1, 0},	  /* padded size wraps to 0 */
	    {1ull << 61, 0, 0, UINT64_MAX, 4, 0}, /* every column wraps to 0 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t buf[HDR_SIZE];
		struct hdr h = {.version = SEGMENT_VERSION,
				.dim = cases[i].dim,
				.count = cases[i].count,
				.start_lsn = cases[i].start,
				.end_lsn = cases[i].end,
				.text_bytes = cases[i].text_bytes};
		memcpy(h.magic, "RSEGDOCS", 8);
		memcpy(buf, &h, sizeof h);
		fix_crc(buf, sizeof buf);
		int want = cases[i].ok ? 0 : ROOST_ECORRUPT;
		assert_int_equal(decode_rc(buf, sizeof buf), want);
		tu_write_file(path, buf, sizeof buf);
		struct segment_docs got;
		assert_int_equal(load(path, &got), want);
		segment_free(&got);
	}
}

static void edit_version(struct hdr *h)
{
	h->version = SEGMENT_VERSION + 1;
}

static void edit_magic(struct hdr *h)
{
	h->magic[7] = 'Z';
}

static void edit_dim_zero(struct hdr *h)
{
	h->dim = 0;
}

static void edit_dim_big(struct hdr *h)
{
	h->dim = 4097;
}

static void edit_reserved(struct hdr *h)
{
	h->reserved = 1;
}

static void edit_reserved2(struct hdr *h)
{
	h->reserved2 = 1ull << 63;
}

static void edit_start_after_end(struct hdr *h)
{
	h->start_lsn = h->end_lsn + 1;
}

static void edit_start_above_first_id(struct hdr *h)
{
	h->start_lsn = 1001;
}

static void edit_end_at_last_id(struct hdr *h)
{
	h->end_lsn = 1006; /* ids 1000, 1002, 1004, 1006 */
}

static void edit_end_after_last_id(struct hdr *h)
{
	h->end_lsn = 1007;
}

static void edit_text_bytes_within_padding(struct hdr *h)
{
	h->text_bytes--; /* same padded size; the last document's text now overruns */
}

static void test_header_fields(void **state)
{
	(void)state;
	assert_int_equal(decode_header_edit(edit_version), ROOST_EVERSION);
	assert_int_equal(decode_header_edit(edit_magic), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_dim_zero), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_dim_big), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_reserved), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_reserved2), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_start_after_end), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_start_above_first_id), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_end_at_last_id), ROOST_ECORRUPT);
	assert_int_equal(decode_header_edit(edit_end_after_last_id), 0);
	assert_int_equal(decode_header_edit(edit_text_bytes_within_padding), ROOST_ECORRUPT);
}

/* Another version keeps its own layout, so it must be told apart before
 * sizes and checksum are judged. */
static void test_other_version_any_size(void **state)
{
	const char *path = path_of(state);
	struct hdr h = {.version = SEGMENT_VERSION + 1, .dim = 0, .count = 12345};
	memcpy(h.magic, "RSEGDOCS", 8);
	assert_int_equal(decode_rc(&h, sizeof h), ROOST_EVERSION);
	tu_write_file(path, &h, sizeof h);
	struct segment_docs got;
	assert_int_equal(load(path, &got), ROOST_EVERSION);
}

static void test_text_out_of_range(void **state)
{
	(void)state;
	struct sample s;
	make_sample(&s, 4);
	uint32_t tb = (uint32_t)s.d.text_bytes;
	static const struct {
		uint32_t off, len;
		int ok;
	} cases[] = {
	    {0, 0, 1},
	    {UINT32_MAX, 0, 0},
	    {UINT32_MAX, 2, 0}, /* off + len wraps to 1 */
	    {1, UINT32_MAX, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s.text_off[2] = cases[i].off;
		s.text_len[2] = cases[i].len;
		assert_int_equal(decode_docs(&s.d), cases[i].ok ? 0 : ROOST_ECORRUPT);
	}
	const struct {
		uint32_t off, len;
		int ok;
	} edges[] = {
	    {tb, 0, 1},	    /* empty text at the very end */
	    {tb - 1, 1, 1}, /* the last byte */
	    {tb - 1, 2, 0}, /* one past the end */
	    {tb + 1, 0, 0}, /* starts past the end */
	};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		s.text_off[2] = edges[i].off;
		s.text_len[2] = edges[i].len;
		assert_int_equal(decode_docs(&s.d), edges[i].ok ? 0 : ROOST_ECORRUPT);
	}
}

static void test_bad_vectors(void **state)
{
	(void)state;
	const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
	const float fine[] = {-0.0f, 1e-45f, 3.4028235e38f, -3.4028235e38f};
	for (size_t i = 0; i < 4; i++) {
		struct sample s;
		make_sample(&s, 4);
		s.vectors[4 * DIM - 1] = bad[i];
		assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT);
		s.vectors[0] = fine[i];
		s.vectors[4 * DIM - 1] = fine[i];
		assert_int_equal(decode_docs(&s.d), 0);
	}
}

static void test_bad_ids(void **state)
{
	(void)state;
	struct sample s;
	make_sample(&s, 4); /* ids 1000, 1002, 1004, 1006; LSNs [1000, 1013) */
	s.ids[2] = 1002;
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT); /* duplicate */
	s.ids[2] = 1001;
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT); /* descending */
	s.ids[2] = 1003;
	assert_int_equal(decode_docs(&s.d), 0);
	s.ids[0] = 999;
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT); /* below start_lsn */
	s.ids[0] = 1000;
	s.ids[3] = 1013;
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT); /* at end_lsn */
	s.ids[3] = 1012;
	assert_int_equal(decode_docs(&s.d), 0);
}

/* Segments sealed before ids and metadata existed are read as rows
 * without either. */
static void test_version1_without_refs(void **state)
{
	(void)state;
	struct sample s;
	make_sample(&s, 5);
	s.d.refs = NULL;
	size_t len;
	uint8_t *buf = encode_v(1, &s.d, &len);
	struct segment_docs got;
	assert_int_equal(segment_decode(buf, len, &got), 0);
	assert_null(got.refs);
	assert_same(&s.d, &got);
	segment_free(&got);
	free(buf);
}

static void test_bad_refs(void **state)
{
	(void)state;
	struct sample s;
	make_sample(&s, 4);
	uint32_t tb = (uint32_t)s.d.text_bytes;
	assert_int_equal(decode_docs(&s.d), 0);
	s.refs[1].key_off = tb; /* runs past the text */
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT);
	s.refs[1].key_off = UINT32_MAX;
	s.refs[1].key_len = 2; /* wraps when added naively */
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT);
	s.refs[1].key_off = 0;
	s.refs[1].key_len = 0;
	s.refs[3].meta_off = tb - 1;
	s.refs[3].meta_len = 2;
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT);
	s.refs[3].meta_len = 1;
	assert_int_equal(decode_docs(&s.d), 0);
}

static void test_bad_kinds(void **state)
{
	(void)state;
	struct sample s;
	make_sample(&s, 4);
	s.kinds[3].len = 23;
	assert_int_equal(decode_docs(&s.d), 0);
	s.kinds[3].len = 24;
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT);
	s.kinds[3].len = 255;
	assert_int_equal(decode_docs(&s.d), ROOST_ECORRUPT);
}

/* A segment of n documents with zeroed columns, ids 0.., and vector
 * values 0, 1, 2, ... in row order. */
static void big_alloc(struct segment_docs *d, uint64_t n, uint32_t dim)
{
	*d = (struct segment_docs){.dim = dim, .count = n, .start_lsn = 0, .end_lsn = n};
	d->ids = calloc(n, 8);
	d->agents = calloc(n, 8);
	d->times = calloc(n, 8);
	d->text_off = calloc(n, 4);
	d->text_len = calloc(n, 4);
	d->kinds = calloc(n, sizeof *d->kinds);
	d->vectors = calloc((size_t)n * dim, sizeof(float));
	d->text = "";
	assert_true(d->ids && d->agents && d->times && d->text_off && d->text_len && d->kinds &&
		    d->vectors);
	for (uint64_t i = 0; i < n; i++)
		d->ids[i] = i;
	for (size_t i = 0; i < (size_t)n * dim; i++)
		d->vectors[i] = (float)i;
}

static void big_free(struct segment_docs *d)
{
	free(d->ids);
	free(d->agents);
	free(d->times);
	free(d->text_off);
	free(d->text_len);
	free(d->kinds);
	free(d->vectors);
}

/* Vectors left on disk are still read and checked, in chunks: a segment
 * whose vectors span several of them, damaged in the last one. */
static void test_vectors_checked_when_not_kept(void **state)
{
	const char *path = path_of(state);
	struct segment_docs d;
	big_alloc(&d, 3000, 128); /* 1.5 MB of vectors */
	assert_int_equal(segment_store(path, &d, 0600), 0);
	struct segment_docs got;
	assert_int_equal(load(path, &got), 0);
	segment_free(&got);

	size_t len;
	uint8_t *buf = tu_read_file(path, &len);
	float nan = NAN;
	memcpy(buf + len - sizeof nan, &nan, sizeof nan);
	fix_crc(buf, len);
	tu_write_file(path, buf, len);
	assert_int_equal(load(path, &got), ROOST_ECORRUPT);
	buf[len - 1] ^= 0x40; /* now also the checksum */
	tu_write_file(path, buf, len);
	assert_int_equal(load(path, &got), ROOST_ECORRUPT);
	free(buf);
	big_free(&d);
}

/* ---- mapped files ---- */

/* Every column points into the mapping, none into the heap: readers
 * share the file through the page cache. */
static void assert_inside(const struct segment_map *m, const void *p, size_t len)
{
	const char *base = m->base, *q = p;
	assert_true(q >= base && q + len <= base + m->len);
}

static void test_map_points_into_the_file(void **state)
{
	const char *path = path_of(state);
	struct segment_docs d, mapped;
	struct segment_map m;
	big_alloc(&d, 3000, 7);
	assert_int_equal(segment_store(path, &d, 0600), 0);
	assert_int_equal(segment_map(path, &mapped, &m), 0);
	size_t n = (size_t)d.count;
	assert_int_equal(m.len, file_size(d.count, d.dim, d.text_bytes));
	assert_inside(&m, mapped.ids, n * 8);
	assert_inside(&m, mapped.kinds, n * 24);
	assert_inside(&m, mapped.refs, n * 16);
	assert_inside(&m, mapped.text, (size_t)d.text_bytes);
	assert_inside(&m, mapped.vectors, n * d.dim * sizeof(float));
	/* A compaction removes the file; the mapping keeps what was checked. */
	assert_int_equal(unlink(path), 0);
	assert_same(&d, &mapped);
	segment_unmap(&m, &mapped);
	assert_int_equal(segment_map(path, &mapped, &m), ROOST_ENOENT);
	assert_null(m.base);
	segment_unmap(&m, &mapped);
	big_free(&d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_tmpdir, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),
	    T(test_layout),
	    T(test_text_padding),
	    T(test_zero_docs),
	    T(test_overwrite),
	    T(test_stale_tmp),
	    T(test_missing),
	    T(test_decode_unaligned),
	    T(test_failed_write_keeps_old),
	    T(test_store_refuses_invalid),
	    T(test_flip_every_byte),
	    T(test_truncations),
	    T(test_huge_counts),
	    T(test_header_fields),
	    T(test_header_only_files),
	    T(test_other_version_any_size),
	    T(test_text_out_of_range),
	    T(test_bad_vectors),
	    T(test_bad_ids),
	    T(test_version1_without_refs),
	    T(test_bad_refs),
	    T(test_bad_kinds),
	    T(test_vectors_checked_when_not_kept),
	    T(test_map_points_into_the_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
