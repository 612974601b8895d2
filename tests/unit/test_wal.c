/* Write-ahead log and CRC-32C: round trips, torn tails, corruption, rotation
 * and a failing sync. Each test works in its own temporary directory. */
#include "crc32c.h"
#include "err.h"
#include "wal.h"
#include "tutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The on-disk header as wal.h documents it, kept apart from wal.c so the
 * tests check the documented layout rather than the implementation's. */
struct hdr {
	uint32_t magic;
	uint32_t len;
	uint64_t lsn;
	uint64_t next;
	uint32_t crc;
	uint32_t pad;
};

/* Record i of the standard sequence: LSNs [10i, 10i + 10), a length that
 * varies through 0 and every padding remainder, bytes from `pattern`. */
static uint8_t pattern[4096];

static uint64_t lsn_of(uint64_t i)
{
	return i * 10;
}

static uint32_t len_of(uint64_t i)
{
	return (uint32_t)(i * 37 % 301);
}

static const uint8_t *data_of(uint64_t i)
{
	return pattern + i * 13 % 1000;
}

static uint64_t span_of(uint32_t len)
{
	return WAL_HEADER_SIZE + ((len + 7ull) & ~7ull);
}

/* File offset of record i in a file whose first record is `first`. */
static uint64_t off_of(uint64_t first, uint64_t i)
{
	uint64_t off = 0;
	for (uint64_t k = first; k < i; k++)
		off += span_of(len_of(k));
	return off;
}

/* ---- helpers ---- */

static void log_path(char *out, const char *dir, uint64_t start)
{
	int n = snprintf(out, PATH_MAX, "%s/wal-%016" PRIx64 ".log", dir, start);
	assert_true(n > 0 && n < PATH_MAX);
}

static void append_file(const char *path, const void *buf, size_t n)
{
	tu_pwrite(path, tu_file_size(path), buf, n);
}

static void flip_byte(const char *path, uint64_t off)
{
	uint8_t b;
	tu_pread(path, off, &b, 1);
	b ^= 0x5a;
	tu_pwrite(path, off, &b, 1);
}

static int count_files(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Appends records [first, end), syncing after every `group` of them. */
static void append_recs(wal *w, uint64_t first, uint64_t end, uint64_t group)
{
	for (uint64_t i = first; i < end; i++) {
		assert_int_equal(wal_append(w, lsn_of(i), lsn_of(i + 1), data_of(i), len_of(i)), 0);
		if ((i - first + 1) % group == 0 || i + 1 == end)
			assert_int_equal(wal_sync(w), 0);
	}
}

static void write_log(const char *dir, uint64_t start, uint64_t first, uint64_t end)
{
	wal *w;
	assert_int_equal(wal_open(&w, dir, start), 0);
	append_recs(w, first, end, 3);
	wal_close(w);
}

struct got {
	uint64_t lsn, next;
	uint32_t len;
	uint8_t *data;
};

struct seen {
	struct got *v;
	size_t n, cap;
};

static int collect(void *arg, uint64_t lsn, uint64_t next, const void *payload, uint32_t len)
{
	struct seen *s = arg;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		assert_non_null(s->v);
	}
	struct got *g = &s->v[s->n++];
	assert_int_equal((uintptr_t)payload % 8, 0);
	g->lsn = lsn;
	g->next = next;
	g->len = len;
	g->data = malloc(len ? len : 1);
	assert_non_null(g->data);
	memcpy(g->data, payload, len);
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t k = 0; k < s->n; k++)
		free(s->v[k].data);
	free(s->v);
	*s = (struct seen){0};
}

/* Replays from `from` and checks it delivers exactly records [first, end)
 * of the standard sequence and reports want_end. */
static void expect_recs(const char *dir, uint64_t from, uint64_t first, uint64_t end,
			uint64_t want_end)
{
	struct seen s = {0};
	uint64_t e = 0;
	assert_int_equal(wal_replay(dir, from, collect, &s, &e), 0);
	assert_int_equal(s.n, end - first);
	for (size_t k = 0; k < s.n; k++) {
		uint64_t i = first + k;
		assert_int_equal(s.v[k].lsn, lsn_of(i));
		assert_int_equal(s.v[k].next, lsn_of(i + 1));
		assert_int_equal(s.v[k].len, len_of(i));
		assert_memory_equal(s.v[k].data, data_of(i), len_of(i));
	}
	assert_int_equal(e, want_end);
	seen_free(&s);
}

static int replay_rc(const char *dir)
{
	struct seen s = {0};
	uint64_t e = 0;
	int rc = wal_replay(dir, 0, collect, &s, &e);
	seen_free(&s);
	return rc;
}

/* Rewrites the LSNs of the record at off with a valid checksum, as a buggy
 * writer would. */
static void rewrite_lsns(const char *path, uint64_t off, uint64_t lsn, uint64_t next)
{
	struct hdr h;
	tu_pread(path, off, &h, sizeof h);
	uint8_t *payload = malloc(h.len ? h.len : 1);
	assert_non_null(payload);
	tu_pread(path, off + sizeof h, payload, h.len);
	h.lsn = lsn;
	h.next = next;
	h.crc = 0;
	h.crc = crc32c_update(crc32c_update(0, &h, sizeof h), payload, h.len);
	tu_pwrite(path, off, &h, sizeof h);
	free(payload);
}

/* ---- crc32c ---- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

static void test_crc32c_check_values(void **state)
{
	(void)state;
	uint8_t buf[32];
	assert_int_equal(crc32c_update(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_update(0, NULL, 0), 0);
	/* RFC 3720, appendix B.4 */
	memset(buf, 0, sizeof buf);
	assert_int_equal(crc32c_update(0, buf, sizeof buf), 0x8A9136AAu);
	memset(buf, 0xff, sizeof buf);
	assert_int_equal(crc32c_update(0, buf, sizeof buf), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(crc32c_update(0, buf, sizeof buf), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c_update(0, buf, sizeof buf), 0x113FDB5Cu);
}

static void test_crc32c_matches_bitwise(void **state)
{
	(void)state;
	for (size_t at = 0; at < 9; at++)
		for (size_t n = 0; n < 80; n++)
			assert_int_equal(crc32c_update(0, pattern + at, n),
					 crc_bitwise(pattern + at, n));
	assert_int_equal(crc32c_update(0, pattern, sizeof pattern),
			 crc_bitwise(pattern, sizeof pattern));
}

static void test_crc32c_incremental(void **state)
{
	(void)state;
	const size_t n = sizeof pattern;
	uint32_t whole = crc32c_update(0, pattern, n);
	const size_t cuts[] = {0, 1, 3, 7, 8, 9, 100, 1001, 4095, 4096};
	for (size_t a = 0; a < sizeof cuts / sizeof *cuts; a++)
		for (size_t b = a; b < sizeof cuts / sizeof *cuts; b++) {
			uint32_t c = crc32c_update(0, pattern, cuts[a]);
			c = crc32c_update(c, pattern + cuts[a], cuts[b] - cuts[a]);
			c = crc32c_update(c, pattern + cuts[b], n - cuts[b]);
			assert_int_equal(c, whole);
		}
}

/* ---- wal ---- */

static void test_round_trip(void **state)
{
	const char *dir = tu_dir(state);
	expect_recs(dir, 0, 0, 0, 0);
	wal *w;
	assert_int_equal(wal_open(&w, dir, 0), 0);
	append_recs(w, 0, 20, 3);
	/* One group larger than IOV_MAX iovecs: the write goes in chunks. */
	append_recs(w, 20, 1020, 1000);
	char path[PATH_MAX];
	log_path(path, dir, 0);
	assert_int_equal(wal_size(w), off_of(0, 1020));
	assert_int_equal(tu_file_size(path), off_of(0, 1020));
	wal_close(w);

	expect_recs(dir, 0, 0, 1020, lsn_of(1020));
	expect_recs(dir, 55, 6, 1020, lsn_of(1020));
	expect_recs(dir, 60, 6, 1020, lsn_of(1020));
	expect_recs(dir, 20000, 0, 0, 20000);
	assert_int_equal(tu_file_size(path), off_of(0, 1020));
}

static int collect_big(void *arg, uint64_t lsn, uint64_t next, const void *payload, uint32_t len)
{
	const uint8_t *big = arg;
	(void)next;
	if (lsn == 10) {
		assert_int_equal(len, 3u << 20);
		assert_memory_equal(payload, big, len);
	}
	return 0;
}

static void test_large_record(void **state)
{
	const char *dir = tu_dir(state);
	const uint32_t big_len = 3u << 20;
	uint8_t *big = malloc(big_len);
	assert_non_null(big);
	for (uint32_t i = 0; i < big_len; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 24);
	wal *w;
	assert_int_equal(wal_open(&w, dir, 0), 0);
	assert_int_equal(wal_append(w, 0, 10, pattern, 5), 0);
	assert_int_equal(wal_append(w, 10, 20, big, big_len), 0);
	assert_int_equal(wal_append(w, 20, 30, pattern, 3), 0);
	assert_int_equal(wal_sync(w), 0);
	wal_close(w);
	uint64_t end = 0;
	assert_int_equal(wal_replay(dir, 0, collect_big, big, &end), 0);
	assert_int_equal(end, 30);
	free(big);
}

static void test_reopen_continues(void **state)
{
	const char *dir = tu_dir(state);
	write_log(dir, 0, 0, 4);
	write_log(dir, 999, 4, 9);
	assert_int_equal(count_files(dir), 1);
	char path[PATH_MAX];
	log_path(path, dir, 0);
	assert_int_equal(tu_file_size(path), off_of(0, 9));
	expect_recs(dir, 0, 0, 9, lsn_of(9));
}

static void test_torn_tail(void **state)
{
	const uint64_t last = off_of(0, 4);
	const uint32_t len = len_of(4);
	assert_true(len % 8 != 0);
	const uint64_t cuts[] = {1, 8, 31, 32, 33, 32 + len - 1, 32 + len, span_of(len) - 1};
	for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
		char dir[PATH_MAX], name[32], path[PATH_MAX];
		snprintf(name, sizeof name, "cut%zu", k);
		tu_path(dir, tu_dir(state), name);
		write_log(dir, 0, 0, 5);
		log_path(path, dir, 0);
		assert_int_equal(truncate(path, (off_t)(last + cuts[k])), 0);

		expect_recs(dir, 0, 0, 4, lsn_of(4));
		assert_int_equal(tu_file_size(path), last);
		write_log(dir, 0, 4, 6);
		expect_recs(dir, 0, 0, 6, lsn_of(6));
	}
}

static void test_garbage_tail(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	write_log(dir, 0, 0, 5);
	log_path(path, dir, 0);
	uint8_t junk[1000];
	unsigned seed = 7;
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)rand_r(&seed);
	append_file(path, junk, sizeof junk);
	expect_recs(dir, 0, 0, 5, lsn_of(5));
	assert_int_equal(tu_file_size(path), off_of(0, 5));

	/* A plausible header whose checksum fails is a torn tail too. */
	struct hdr h = {.magic = WAL_MAGIC, .len = 16, .lsn = lsn_of(5), .next = lsn_of(6)};
	append_file(path, &h, sizeof h);
	append_file(path, junk, 16);
	expect_recs(dir, 0, 0, 5, lsn_of(5));
	assert_int_equal(tu_file_size(path), off_of(0, 5));
	write_log(dir, 0, 5, 7);
	expect_recs(dir, 0, 0, 7, lsn_of(7));
}

static void test_valid_record_after_garbage(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	write_log(dir, 0, 0, 5);
	log_path(path, dir, 0);
	const uint64_t size = tu_file_size(path);
	uint8_t junk[64];
	memset(junk, 0xab, sizeof junk);
	tu_pwrite(path, off_of(0, 3), junk, sizeof junk);
	/* Record 4 still checks out behind the damage: data would be lost. */
	assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
	assert_int_equal(tu_file_size(path), size);
}

static void test_middle_checksum(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	write_log(dir, 0, 0, 5);
	log_path(path, dir, 0);
	const uint64_t size = tu_file_size(path);
	flip_byte(path, off_of(0, 2) + WAL_HEADER_SIZE + 1);
	assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
	assert_int_equal(tu_file_size(path), size);
	flip_byte(path, off_of(0, 2) + WAL_HEADER_SIZE + 1);
	flip_byte(path, off_of(0, 2) + 8);
	assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
	flip_byte(path, off_of(0, 2) + 8);
	/* Padding is outside the checksum and carries nothing. */
	assert_true(len_of(2) % 8 != 0);
	flip_byte(path, off_of(0, 2) + WAL_HEADER_SIZE + len_of(2));
	expect_recs(dir, 0, 0, 5, lsn_of(5));
}

/* wal-0 holds records 0..4 and wal-<50> records 5..9. */
static void make_two_files(const char *dir)
{
	char path[PATH_MAX];
	write_log(dir, 0, 0, 5);
	log_path(path, dir, lsn_of(5));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	write_log(dir, 0, 5, 10);
}

static void test_older_file_corrupt(void **state)
{
	const char *dir = tu_dir(state);
	char old[PATH_MAX];
	make_two_files(dir);
	expect_recs(dir, 0, 0, 10, lsn_of(10));
	expect_recs(dir, 45, 5, 10, lsn_of(10));

	log_path(old, dir, 0);
	const uint64_t cut = off_of(0, 4) + 40;
	assert_int_equal(truncate(old, (off_t)cut), 0);
	assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
	assert_int_equal(tu_file_size(old), cut);
}

static void test_oversized_len(void **state)
{
	const uint32_t lens[] = {UINT32_MAX, WAL_MAX_PAYLOAD + 1, WAL_MAX_PAYLOAD};
	for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
		char dir[PATH_MAX], name[32], path[PATH_MAX];
		snprintf(name, sizeof name, "len%zu", k);
		tu_path(dir, tu_dir(state), name);
		write_log(dir, 0, 0, 3);
		log_path(path, dir, 0);
		/* In the last record: a torn tail. */
		tu_pwrite(path, off_of(0, 2) + 4, &lens[k], sizeof lens[k]);
		expect_recs(dir, 0, 0, 2, lsn_of(2));
		assert_int_equal(tu_file_size(path), off_of(0, 2));
		/* In a middle record, with a valid one after it: corruption. */
		write_log(dir, 0, 2, 4);
		tu_pwrite(path, off_of(0, 2) + 4, &lens[k], sizeof lens[k]);
		assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
	}
}

static void test_out_of_order(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	write_log(dir, 0, 0, 5);
	log_path(path, dir, 0);
	const uint64_t off = off_of(0, 2);
	rewrite_lsns(path, off, lsn_of(2), lsn_of(3));
	expect_recs(dir, 0, 0, 5, lsn_of(5));
	rewrite_lsns(path, off, lsn_of(1) + 5, lsn_of(3));
	assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
	rewrite_lsns(path, off, lsn_of(2), lsn_of(2));
	assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
	/* Out of order in the last record is not a torn tail either. */
	rewrite_lsns(path, off, lsn_of(2), lsn_of(3));
	rewrite_lsns(path, off_of(0, 4), lsn_of(3), lsn_of(5));
	assert_int_equal(replay_rc(dir), ROOST_ECORRUPT);
}

static void test_rotate(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	make_two_files(dir);
	wal *w;
	assert_int_equal(wal_open(&w, dir, 0), 0);
	assert_int_equal(wal_size(w), off_of(0, 10));
	append_recs(w, 10, 12, 2);
	assert_int_equal(wal_rotate(w, lsn_of(12), lsn_of(12)), 0);
	assert_int_equal(count_files(dir), 1);
	assert_int_equal(wal_size(w), 0);
	/* Nothing new to start: the same file is kept. */
	assert_int_equal(wal_rotate(w, lsn_of(12), lsn_of(12)), 0);
	append_recs(w, 12, 16, 3);
	log_path(path, dir, lsn_of(12));
	assert_int_equal(wal_size(w), tu_file_size(path));
	wal_close(w);
	assert_int_equal(count_files(dir), 1);
	expect_recs(dir, 0, 12, 16, lsn_of(16));
}

/* A file goes only once every record in it lies before keep_from: the
 * records of a collection that has not sealed them yet stay. */
static void test_rotate_keeps_what_is_needed(void **state)
{
	const char *dir = tu_dir(state);
	wal *w;
	assert_int_equal(wal_open(&w, dir, 0), 0);
	append_recs(w, 0, 3, 3);
	assert_int_equal(wal_rotate(w, lsn_of(3), lsn_of(1)), 0); /* file 0 holds 0..2 */
	append_recs(w, 3, 6, 3);
	assert_int_equal(wal_rotate(w, lsn_of(6), lsn_of(3)), 0); /* file 0 goes, 3 stays */
	assert_int_equal(count_files(dir), 2);
	append_recs(w, 6, 8, 2);
	assert_int_equal(wal_size(w), off_of(3, 8));
	wal_close(w);
	expect_recs(dir, lsn_of(3), 3, 8, lsn_of(8));
	assert_int_equal(wal_open(&w, dir, lsn_of(8)), 0);
	assert_int_equal(wal_rotate(w, lsn_of(8), lsn_of(8)), 0);
	assert_int_equal(count_files(dir), 1);
	wal_close(w);
}

/* The files before the one being written, with their ranges and sizes:
 * what retention's horizon and status read. */
static void test_older_files_list_ranges(void **state)
{
	const char *dir = tu_dir(state);
	wal *w;
	struct wal_file *f;
	size_t n;
	assert_int_equal(wal_open(&w, dir, 0), 0);
	assert_int_equal(wal_older_files(w, &f, &n), 0);
	assert_int_equal(n, 0);
	free(f);
	append_recs(w, 0, 3, 3);
	assert_int_equal(wal_rotate(w, lsn_of(3), 0), 0);
	append_recs(w, 3, 5, 2);
	assert_int_equal(wal_rotate(w, lsn_of(5), 0), 0);
	append_recs(w, 5, 6, 1);
	assert_int_equal(wal_current_start(w), lsn_of(5));
	assert_int_equal(wal_older_files(w, &f, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(f[0].start, lsn_of(0));
	assert_int_equal(f[0].end, lsn_of(3));
	assert_int_equal(f[0].size, off_of(0, 3));
	assert_int_equal(f[1].start, lsn_of(3));
	assert_int_equal(f[1].end, lsn_of(5));
	assert_int_equal(f[1].size, off_of(3, 5));
	assert_true(f[0].mtime_ms > 0 && f[1].mtime_ms >= f[0].mtime_ms);
	free(f);
	wal_close(w);
}

static void test_rotate_rejects(void **state)
{
	const char *dir = tu_dir(state);
	wal *w;
	assert_int_equal(wal_open(&w, dir, 0), 0);
	append_recs(w, 0, 3, 3);
	assert_int_equal(wal_rotate(w, lsn_of(2), lsn_of(2)), ROOST_EINVAL);
	assert_int_equal(wal_append(w, lsn_of(3), lsn_of(4), data_of(3), len_of(3)), 0);
	assert_int_equal(wal_rotate(w, lsn_of(4), lsn_of(4)), ROOST_EINVAL);
	assert_int_equal(wal_sync(w), 0);
	assert_int_equal(wal_rotate(w, lsn_of(4), lsn_of(5)), ROOST_EINVAL); /* keeps the future */
	assert_int_equal(wal_rotate(w, lsn_of(4), lsn_of(4)), 0);
	wal_close(w);
	assert_int_equal(count_files(dir), 1);
	expect_recs(dir, 0, 0, 0, 0);
}

/* A log holding records 0..2, synced; path receives its file's name.
 * Returns the file's size. */
static uint64_t open_with_three(const char *dir, char *path, wal **w)
{
	assert_int_equal(wal_open(w, dir, 0), 0);
	append_recs(*w, 0, 3, 3);
	log_path(path, dir, 0);
	return tu_file_size(path);
}

static void test_sync_failure(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	wal *w;
	const uint64_t synced = open_with_three(dir, path, &w);

	/* A file size limit makes the group's writes stop short, then fail
	 * with EFBIG: the same path as a full disk. */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_sa;
	struct rlimit old_rl, rl;
	assert_int_equal(sigaction(SIGXFSZ, &ign, &old_sa), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
	rl = old_rl;
	rl.rlim_cur = synced + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (uint64_t i = 3; i < 8; i++)
		assert_int_equal(wal_append(w, lsn_of(i), lsn_of(i + 1), data_of(i), len_of(i)), 0);
	int rc = wal_sync(w);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
	assert_int_equal(sigaction(SIGXFSZ, &old_sa, NULL), 0);

	assert_int_equal(rc, ROOST_EIO);
	assert_int_equal(tu_file_size(path), synced);
	assert_int_equal(wal_size(w), synced);
	expect_recs(dir, 0, 0, 3, lsn_of(3));
	/* The dropped group can be written again. */
	append_recs(w, 3, 8, 5);
	wal_close(w);
	expect_recs(dir, 0, 0, 8, lsn_of(8));
}

/* The immutable attribute makes a file read-only even for root; 0 where
 * the file system or the caller cannot set it. */
static int set_immutable(const char *path, int on)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int flags = 0;
	int ok = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
	if (ok) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A log file that turns read-only: the group fails, and so does cutting
 * it back; nothing is written (rotate included) until the file is
 * writable again, then the group goes in after the last synced record. */
static void test_unwritable_file_recovers(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX];
	wal *w;
	const uint64_t synced = open_with_three(dir, path, &w);
	if (!set_immutable(path, 1)) {
		wal_close(w);
		print_message("skipped: no immutable attribute here (needs root, "
			      "CAP_LINUX_IMMUTABLE, and ext4, xfs or the like)\n");
		skip();
	}
	for (uint64_t i = 3; i < 8; i++)
		assert_int_equal(wal_append(w, lsn_of(i), lsn_of(i + 1), data_of(i), len_of(i)), 0);
	int synced_rc = wal_sync(w);
	int rotate_rc = wal_rotate(w, lsn_of(3), lsn_of(3));
	assert_true(set_immutable(path, 0));

	assert_int_equal(synced_rc, ROOST_EPERM);
	assert_int_equal(rotate_rc, ROOST_EPERM);
	assert_int_equal(tu_file_size(path), synced);
	append_recs(w, 3, 8, 5);
	wal_close(w);
	expect_recs(dir, 0, 0, 8, lsn_of(8));
}

static int ignore(void *arg, uint64_t lsn, uint64_t next, const void *payload, uint32_t len)
{
	(void)arg;
	(void)lsn;
	(void)next;
	(void)payload;
	(void)len;
	return 0;
}

static void test_append_rejects(void **state)
{
	const char *dir = tu_dir(state);
	wal *w;
	assert_int_equal(wal_open(&w, dir, 0), 0);
	assert_int_equal(wal_append(w, 0, 10, pattern, WAL_MAX_PAYLOAD + 1), ROOST_ETOOBIG);
	assert_int_equal(wal_append(w, 10, 10, pattern, 1), ROOST_EINVAL);
	assert_int_equal(wal_append(w, 10, 20, NULL, 1), ROOST_EINVAL);
	assert_int_equal(wal_append(w, 10, 20, NULL, 0), 0);
	assert_int_equal(wal_append(w, 15, 30, pattern, 1), ROOST_EINVAL);
	assert_int_equal(wal_append(w, 20, 30, pattern, 1), 0);
	assert_int_equal(wal_sync(w), 0);
	assert_int_equal(wal_append(w, 25, 40, pattern, 1), ROOST_EINVAL);
	assert_int_equal(wal_sync(w), 0);
	wal_close(w);
	uint64_t end;
	assert_int_equal(wal_replay(dir, 0, ignore, NULL, &end), 0);
	assert_int_equal(end, 30);
}

static void test_replay_creates_dir(void **state)
{
	char dir[PATH_MAX];
	tu_path(dir, tu_dir(state), "a/b/c");
	uint64_t end = 0;
	assert_int_equal(wal_replay(dir, 0xab, ignore, NULL, &end), 0);
	assert_int_equal(end, 0xab);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	wal *w;
	assert_int_equal(wal_open(&w, dir, 0xab), 0);
	wal_close(w);
	char path[PATH_MAX];
	log_path(path, dir, 0xab);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static int stop_after_two(void *arg, uint64_t lsn, uint64_t next, const void *payload, uint32_t len)
{
	int *calls = arg;
	(void)lsn;
	(void)next;
	(void)payload;
	(void)len;
	return ++*calls == 2 ? 42 : 0;
}

static void test_replay_stops(void **state)
{
	const char *dir = tu_dir(state);
	write_log(dir, 0, 0, 5);
	int calls = 0;
	uint64_t end = 0;
	assert_int_equal(wal_replay(dir, 0, stop_after_two, &calls, &end), 42);
	assert_int_equal(calls, 2);
}

/* A scan reads what a replay would, leaves a torn tail as it is (in a
 * file it may not write), still refuses damage with valid records behind
 * it, and makes no directory. */
static void test_scan_changes_nothing(void **state)
{
	const char *dir = tu_dir(state);
	char path[PATH_MAX], missing[PATH_MAX];
	write_log(dir, 0, 0, 5);
	log_path(path, dir, 0);
	const uint64_t whole = tu_file_size(path);
	assert_int_equal(truncate(path, (off_t)(whole - 3)), 0);
	assert_int_equal(chmod(path, 0400), 0);
	struct seen s = {0};
	uint64_t e = 0;
	assert_int_equal(wal_scan(dir, lsn_of(1), collect, &s, &e), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.v[0].lsn, lsn_of(1));
	assert_int_equal(s.v[2].next, lsn_of(4));
	assert_memory_equal(s.v[2].data, data_of(3), len_of(3));
	assert_int_equal(e, lsn_of(4));
	assert_int_equal(tu_file_size(path), whole - 3);
	seen_free(&s);

	assert_int_equal(chmod(path, 0600), 0);
	uint8_t junk[64];
	memset(junk, 0xab, sizeof junk);
	tu_pwrite(path, off_of(0, 2), junk, sizeof junk);
	assert_int_equal(wal_scan(dir, 0, collect, &s, &e), ROOST_ECORRUPT);
	seen_free(&s);

	tu_path(missing, dir, "none");
	assert_int_equal(wal_scan(missing, 0, collect, &s, &e), ROOST_ENOENT);
	struct stat st;
	assert_int_equal(stat(missing, &st), -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_tmpdir, tu_teardown)

int main(void)
{
	unsigned seed = 12345;
	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (uint8_t)rand_r(&seed);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_check_values),
	    cmocka_unit_test(test_crc32c_matches_bitwise),
	    cmocka_unit_test(test_crc32c_incremental),
	    T(test_round_trip),
	    T(test_large_record),
	    T(test_reopen_continues),
	    T(test_torn_tail),
	    T(test_garbage_tail),
	    T(test_valid_record_after_garbage),
	    T(test_middle_checksum),
	    T(test_older_file_corrupt),
	    T(test_oversized_len),
	    T(test_out_of_order),
	    T(test_rotate),
	    T(test_rotate_keeps_what_is_needed),
	    T(test_older_files_list_ranges),
	    T(test_rotate_rejects),
	    T(test_sync_failure),
	    T(test_unwritable_file_recovers),
	    T(test_append_rejects),
	    T(test_replay_creates_dir),
	    T(test_replay_stops),
	    T(test_scan_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
