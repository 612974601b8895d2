/* Manifest: round trips, the documented file layout, every single-byte
 * corruption and truncation, field checks, and atomic replacement when a
 * write fails. Each test works in its own temporary directory. */
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

/* The header as manifest.h describes it, kept apart from
 * manifest.c so the tests check the documented layout. */
struct hdr {
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

#define HDR_SIZE    160u
#define V1_HDR_SIZE 120u /* version 1: no name */

_Static_assert(sizeof(struct hdr) == HDR_SIZE, "documented header is 160 bytes");
_Static_assert(offsetof(struct hdr, name) == V1_HDR_SIZE, "the name follows version 1's header");
_Static_assert(offsetof(struct hdr, tail_start) == 96, "tests/system reads tail_start at 96");

/* ---- helpers ---- */

static int exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	tu_path(path, dir, name);
	return access(path, F_OK) == 0;
}

/* A valid manifest: segments [100i, 100i + 50), tail_start after the last
 * one, keys with distinct values in every field. Free with manifest_free. */
static void make_manifest(struct manifest *m, uint64_t gen, uint32_t nsegs, uint32_t nkeys)
{
	memset(m, 0, sizeof *m);
	m->gen = gen;
	m->dim = 384;
	m->metric = 1;
	snprintf(m->index, sizeof m->index, "IVF%u,PQ16", (unsigned)gen);
	snprintf(m->name, sizeof m->name, "inst-%u", (unsigned)gen);
	m->tail_start = 100ull * nsegs + 7;
	m->trained_gen = gen > 1 ? gen - 1 : 0;
	m->nsegments = nsegs;
	m->nkeys = nkeys;
	m->segments = nsegs ? calloc(nsegs, sizeof *m->segments) : NULL;
	m->keys = nkeys ? calloc(nkeys, sizeof *m->keys) : NULL;
	assert_true(!nsegs || m->segments);
	assert_true(!nkeys || m->keys);
	for (uint32_t i = 0; i < nsegs; i++)
		m->segments[i] = (struct manifest_segment){100ull * i, 100ull * i + 50, 10 + i};
	for (uint32_t i = 0; i < nkeys; i++)
		m->keys[i] = (struct manifest_key){
		    .client_id = 0x1000 + i, .seq = 7 * i, .lsn = 3 * i, .count = i + 1};
}

static void assert_same(const struct manifest *a, const struct manifest *b)
{
	assert_int_equal(a->gen, b->gen);
	assert_int_equal(a->dim, b->dim);
	assert_int_equal(a->metric, b->metric);
	assert_string_equal(a->index, b->index);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->tail_start, b->tail_start);
	assert_int_equal(a->trained_gen, b->trained_gen);
	assert_int_equal(a->nsegments, b->nsegments);
	assert_int_equal(a->nkeys, b->nkeys);
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
	assert_int_equal(manifest_store(dir, m), 0);
	return tu_read_file(path, len);
}

static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc = crc32c_update(0, buf, len - 4);
	memcpy(buf + len - 4, &crc, 4);
}

/* The documented layout, written without manifest.c, for files that
 * manifest_store refuses to write. */
static uint8_t *encode(const struct manifest *m, size_t *len)
{
	struct hdr h = {.version = MANIFEST_VERSION,
			.header_size = HDR_SIZE,
			.gen = m->gen,
			.dim = m->dim,
			.metric = m->metric,
			.tail_start = m->tail_start,
			.trained_gen = m->trained_gen,
			.nsegments = m->nsegments,
			.nkeys = m->nkeys};
	memcpy(h.magic, "RMANIFST", 8);
	memcpy(h.index, m->index, sizeof h.index);
	memcpy(h.name, m->name, sizeof h.name);
	size_t segs = (size_t)m->nsegments * 24, keys = (size_t)m->nkeys * 32;
	*len = HDR_SIZE + segs + keys + 4;
	uint8_t *buf = malloc(*len);
	assert_non_null(buf);
	memcpy(buf, &h, sizeof h);
	if (segs)
		memcpy(buf + HDR_SIZE, m->segments, segs);
	if (keys)
		memcpy(buf + HDR_SIZE + segs, m->keys, keys);
	fix_crc(buf, *len);
	return buf;
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

/* Applies edit to a copy of a valid file's header, fixes the checksum and
 * decodes it. */
static int decode_edited(const uint8_t *good, size_t len, void (*edit)(struct hdr *))
{
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, good, len);
	struct hdr h;
	memcpy(&h, buf, sizeof h);
	edit(&h);
	memcpy(buf, &h, sizeof h);
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
	assert_int_equal(manifest_store(dir, &m), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&m, &got);
	manifest_free(&got);
	assert_null(got.segments);
	assert_null(got.keys);
	assert_int_equal(got.nsegments + got.nkeys, 0);
	/* A second store replaces the first. */
	struct manifest next;
	make_manifest(&next, 6, 4, 1);
	assert_int_equal(manifest_store(dir, &next), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&next, &got);
	assert_false(exists(dir, "MANIFEST.tmp"));
	manifest_free(&got);
	manifest_free(&next);
	manifest_free(&m);
}

static void test_empty(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got;
	make_manifest(&m, 1, 0, 0);
	m.tail_start = 0;
	m.trained_gen = 0;
	assert_int_equal(manifest_store(dir, &m), 0);
	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&m, &got);
	assert_non_null(got.segments);
	assert_non_null(got.keys);
	manifest_free(&got);
}

static void test_missing(void **state)
{
	struct manifest got;
	memset(&got, 0x5a, sizeof got);
	assert_int_equal(manifest_load(tu_dir(state), &got), ROOST_ENOENT);
	assert_zeroed(&got);
}

static void test_layout(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m;
	make_manifest(&m, 9, 2, 3);
	/* Garbage after the strings' NULs must not reach the file. */
	memset(m.index + strlen(m.index) + 1, 0x77, sizeof m.index - strlen(m.index) - 1);
	memset(m.name + strlen(m.name) + 1, 0x77, sizeof m.name - strlen(m.name) - 1);
	size_t len;
	uint8_t *buf = stored_bytes(dir, &m, &len);
	assert_int_equal(len, HDR_SIZE + 2 * 24 + 3 * 32 + 4);
	struct hdr h;
	memcpy(&h, buf, sizeof h);
	assert_memory_equal(h.magic, "RMANIFST", 8);
	assert_int_equal(h.version, MANIFEST_VERSION);
	assert_int_equal(h.header_size, HDR_SIZE);
	assert_int_equal(h.gen, 9);
	assert_int_equal(h.dim, 384);
	assert_int_equal(h.metric, 1);
	assert_string_equal(h.index, "IVF9,PQ16");
	for (size_t i = strlen(h.index); i < sizeof h.index; i++)
		assert_int_equal(h.index[i], 0);
	assert_string_equal(h.name, "inst-9");
	for (size_t i = strlen(h.name); i < sizeof h.name; i++)
		assert_int_equal(h.name[i], 0);
	assert_int_equal(h.tail_start, m.tail_start);
	assert_int_equal(h.trained_gen, 8);
	assert_int_equal(h.nsegments, 2);
	assert_int_equal(h.nkeys, 3);
	assert_memory_equal(buf + HDR_SIZE, m.segments, 2 * 24);
	assert_memory_equal(buf + HDR_SIZE + 2 * 24, m.keys, 3 * 32);
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
	assert_int_equal(manifest_store(dir, &m), 0);
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
	assert_int_equal(manifest_store(dir, &m), 0);
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

static void edit_segs_over(struct hdr *h)
{
	h->nsegments = MANIFEST_MAX_SEGS + 1;
}

static void edit_keys_over(struct hdr *h)
{
	h->nkeys = MANIFEST_MAX_KEYS + 1;
}

static void edit_segs_huge(struct hdr *h)
{
	h->nsegments = UINT32_MAX;
}

static void edit_keys_huge(struct hdr *h)
{
	h->nkeys = UINT32_MAX;
}

static void edit_segs_one_more(struct hdr *h)
{
	h->nsegments++;
}

static void test_oversize_counts(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m, got;
	make_manifest(&m, 4, 2, 2);
	size_t len;
	uint8_t *good = stored_bytes(dir, &m, &len);
	assert_int_equal(decode_edited(good, len, edit_segs_over), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_keys_over), ROOST_ECORRUPT);
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

static void edit_version(struct hdr *h)
{
	h->version = MANIFEST_VERSION + 1;
}

static void edit_magic(struct hdr *h)
{
	h->magic[0] = 'X';
}

static void edit_header_size(struct hdr *h)
{
	h->header_size = HDR_SIZE + 8;
}

static void edit_dim_zero(struct hdr *h)
{
	h->dim = 0;
}

static void edit_dim_big(struct hdr *h)
{
	h->dim = 4097;
}

static void edit_dim_max(struct hdr *h)
{
	h->dim = 4096;
}

static void edit_metric(struct hdr *h)
{
	h->metric = 2;
}

static void edit_index_unterminated(struct hdr *h)
{
	memset(h->index, 'A', sizeof h->index);
}

static void edit_index_full(struct hdr *h)
{
	memset(h->index, 'A', sizeof h->index - 1);
	h->index[sizeof h->index - 1] = '\0';
}

static void edit_name_unterminated(struct hdr *h)
{
	memset(h->name, 'n', sizeof h->name);
}

static void edit_tail_below_segment(struct hdr *h)
{
	h->tail_start = 149; /* the second segment ends at 150 */
}

static void edit_tail_at_segment_end(struct hdr *h)
{
	h->tail_start = 150;
}

static void test_header_fields(void **state)
{
	struct manifest m;
	make_manifest(&m, 4, 2, 2);
	size_t len;
	uint8_t *good = stored_bytes(tu_dir(state), &m, &len);
	assert_int_equal(decode_edited(good, len, edit_version), ROOST_EVERSION);
	assert_int_equal(decode_edited(good, len, edit_magic), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_header_size), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_dim_zero), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_dim_big), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_dim_max), 0);
	assert_int_equal(decode_edited(good, len, edit_metric), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_index_unterminated), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_index_full), 0);
	assert_int_equal(decode_edited(good, len, edit_name_unterminated), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_tail_below_segment), ROOST_ECORRUPT);
	assert_int_equal(decode_edited(good, len, edit_tail_at_segment_end), 0);
	free(good);
	manifest_free(&m);
}

/* A directory written before names were recorded: version 1, whose
 * header ends before the name, still reads, with an empty name. */
static void test_version1_reads_without_name(void **state)
{
	(void)state;
	struct manifest m, got;
	make_manifest(&m, 4, 2, 3);
	size_t len;
	uint8_t *v2 = encode(&m, &len);
	size_t v1len = len - (HDR_SIZE - V1_HDR_SIZE);
	uint8_t *v1 = malloc(v1len);
	assert_non_null(v1);
	memcpy(v1, v2, V1_HDR_SIZE);
	memcpy(v1 + V1_HDR_SIZE, v2 + HDR_SIZE, len - HDR_SIZE);
	struct hdr h;
	memcpy(&h, v1, V1_HDR_SIZE);
	h.version = 1;
	h.header_size = V1_HDR_SIZE;
	memcpy(v1, &h, V1_HDR_SIZE);
	fix_crc(v1, v1len);
	assert_int_equal(manifest_decode(v1, v1len, &got), 0);
	m.name[0] = '\0';
	assert_same(&m, &got);
	manifest_free(&got);
	/* A version 1 header claiming version 2's size is damaged. */
	h.header_size = HDR_SIZE;
	memcpy(v1, &h, V1_HDR_SIZE);
	fix_crc(v1, v1len);
	assert_int_equal(decode_rc(v1, v1len), ROOST_ECORRUPT);
	free(v1);
	free(v2);
	manifest_free(&m);
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
	assert_int_equal(decode_rc(buf, sizeof buf - 1), ROOST_ECORRUPT);
}

/* ---- segment order ---- */

static int decode_segments(const uint8_t *good, size_t len, struct manifest_segment a,
			   struct manifest_segment b)
{
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, good, len);
	memcpy(buf + HDR_SIZE, &a, sizeof a);
	memcpy(buf + HDR_SIZE + sizeof a, &b, sizeof b);
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
	int rc = manifest_store(dir, &m);
	manifest_free(&m);
	return rc;
}

static void test_segment_order(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest m;
	make_manifest(&m, 4, 2, 0); /* tail_start 207 */
	size_t len;
	uint8_t *good = stored_bytes(dir, &m, &len);
	static const struct {
		struct manifest_segment a, b;
		int ok;
	} cases[] = {
	    {{0, 50, 1}, {50, 207, 1}, 1},  /* touching, up to tail_start */
	    {{0, 50, 1}, {49, 60, 1}, 0},   /* overlapping */
	    {{100, 150, 1}, {0, 50, 1}, 0}, /* unsorted */
	    {{0, 50, 1}, {0, 50, 1}, 0},    /* duplicate */
	    {{10, 10, 0}, {50, 60, 1}, 0},  /* empty range */
	    {{20, 10, 1}, {50, 60, 1}, 0},  /* reversed range */
	    {{0, 50, 1}, {100, 208, 1}, 0}, /* past tail_start */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int want = cases[i].ok ? 0 : ROOST_ECORRUPT;
		assert_int_equal(decode_segments(good, len, cases[i].a, cases[i].b), want);
		want = cases[i].ok ? 0 : ROOST_EINVAL;
		assert_int_equal(store_segments(dir, cases[i].a, cases[i].b), want);
	}
	free(good);
	manifest_free(&m);
}

/* ---- storing ---- */

static void test_store_refuses_invalid(void **state)
{
	const char *dir = tu_dir(state);
	struct manifest good, m, got;
	make_manifest(&good, 3, 1, 1);
	assert_int_equal(manifest_store(dir, &good), 0);

	make_manifest(&m, 4, 1, 1);
	m.dim = 0;
	assert_int_equal(manifest_store(dir, &m), ROOST_EINVAL);
	m.dim = 4097;
	assert_int_equal(manifest_store(dir, &m), ROOST_EINVAL);
	m.dim = 8;
	m.metric = 2;
	assert_int_equal(manifest_store(dir, &m), ROOST_EINVAL);
	m.metric = 0;
	memset(m.index, 'x', sizeof m.index);
	assert_int_equal(manifest_store(dir, &m), ROOST_EINVAL);
	m.index[0] = '\0';
	m.nkeys = MANIFEST_MAX_KEYS + 1;
	assert_int_equal(manifest_store(dir, &m), ROOST_ETOOBIG);
	m.nkeys = 1;
	m.nsegments = MANIFEST_MAX_SEGS + 1;
	assert_int_equal(manifest_store(dir, &m), ROOST_ETOOBIG);
	m.nsegments = 1;

	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&good, &got);
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
	assert_int_equal(manifest_store(dir, &old), 0);
	make_manifest(&big, 4, 100, 1000);

	struct rlimit saved, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	lim = saved;
	lim.rlim_cur = 300;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = manifest_store(dir, &big);
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
	assert_int_equal(manifest_store(dir, &old), 0);
	assert_int_equal(chmod(dir, 0500), 0);
	assert_int_equal(manifest_store(dir, &next), ROOST_EPERM);
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
	assert_int_equal(manifest_store(dir, &old), 0);
	char junk[5000];
	memset(junk, 0xee, sizeof junk);
	char tmp[PATH_MAX];
	tu_path(tmp, dir, "MANIFEST.tmp");
	tu_write_file(tmp, junk, sizeof junk);

	assert_int_equal(manifest_load(dir, &got), 0);
	assert_same(&old, &got);
	manifest_free(&got);

	assert_int_equal(manifest_store(dir, &next), 0);
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
	assert_int_equal(manifest_store(dir, &m), 0);
	assert_false(manifest_moved_on(dir, 3));
	assert_true(manifest_moved_on(dir, 2));
	m.gen = 4;
	assert_int_equal(manifest_store(dir, &m), 0);
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
	assert_int_equal(manifest_store(path, &m), ROOST_ENOENT);
	manifest_free(&m);
}

/* ---- paths ---- */

static void test_paths(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(manifest_segment_path("/d", 0x1234, 0x1240, "docs", buf, sizeof buf), 0);
	assert_string_equal(buf, "/d/seg-0000000000001234-0000000000001240.docs");
	assert_int_equal(manifest_segment_path("/d", 1, UINT64_MAX, "index", buf, sizeof buf), 0);
	assert_string_equal(buf, "/d/seg-0000000000000001-ffffffffffffffff.index");
	assert_int_equal(manifest_trained_path("/d", 7, buf, sizeof buf), 0);
	assert_string_equal(buf, "/d/trained-0000000000000007.index");

	size_t need = strlen("/d/seg-0000000000001234-0000000000001240.docs") + 1;
	assert_int_equal(manifest_segment_path("/d", 0x1234, 0x1240, "docs", buf, need), 0);
	assert_int_equal(manifest_segment_path("/d", 0x1234, 0x1240, "docs", buf, need - 1),
			 ROOST_ETOOBIG);
	need = strlen("/d/trained-0000000000000007.index") + 1;
	assert_int_equal(manifest_trained_path("/d", 7, buf, need), 0);
	assert_int_equal(manifest_trained_path("/d", 7, buf, need - 1), ROOST_ETOOBIG);
	assert_int_equal(manifest_trained_path("/d", 7, buf, 0), ROOST_ETOOBIG);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_tmpdir, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),
	    T(test_empty),
	    T(test_missing),
	    T(test_layout),
	    T(test_decode_unaligned),
	    T(test_max_segments_round_trip),
	    T(test_flip_every_byte),
	    T(test_truncations),
	    T(test_oversize_counts),
	    cmocka_unit_test(test_counts_over_limit),
	    T(test_header_fields),
	    cmocka_unit_test(test_other_version_any_length),
	    cmocka_unit_test(test_version1_reads_without_name),
	    T(test_segment_order),
	    T(test_store_refuses_invalid),
	    T(test_failed_write_keeps_old),
	    T(test_readonly_dir),
	    T(test_stale_tmp),
	    T(test_moved_on),
	    T(test_store_missing_dir),
	    cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
