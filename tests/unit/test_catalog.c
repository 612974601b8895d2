/* Unit tests for the catalog (shm/catalog.c): the writer publishes
 * collections and readers, mapping the same object read-only, find them
 * by name and id and list them; slots freed by a drop are reused, ids
 * never; the version moves with every change; refusal notes; a full
 * catalog; a reader racing the writer never sees half of one collection
 * and half of another; and objects a reader must not trust. Each test
 * works on its own object in a private directory on /dev/shm. */
#include "catalog.h"
#include "err.h"
#include "tutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The header as catalog.c lays it out: what catalog_open checks. */
#define OFF_MAGIC	0
#define OFF_VERSION	8
#define OFF_HEADER_SIZE 12
#define OFF_TOTAL_SIZE	16
#define OFF_READY	24
#define OFF_SLOTS	28
#define CHECKED_END	32

static const char *path_of(void **state)
{
	return tu_file(state, "catalog");
}

static catalog *make_writer(void **state)
{
	catalog *c = NULL;
	assert_int_equal(catalog_open_writer(&c, path_of(state), 0600), 0);
	return c;
}

static catalog *make_reader(void **state)
{
	catalog *c = NULL;
	assert_int_equal(catalog_open(&c, path_of(state)), 0);
	return c;
}

/* A collection whose every field follows from its id. */
static struct catalog_entry entry(uint32_t id, const char *name)
{
	struct catalog_entry e = {.id = id,
				  .settings = {.dim = id % COLL_MAX_DIM + 1,
					       .metric = id & 1,
					       .train_docs = 1000ull * id,
					       .seal_docs = 4096ull + id,
					       .seal_interval_ms = 10u * id},
				  .created_lsn = 16ull * id,
				  .tail_serial = 100ull + id,
				  .documents = 7ull * id,
				  .segments = id / 2};
	snprintf(e.name, sizeof e.name, "%s", name);
	snprintf(e.settings.index, sizeof e.settings.index, "IVF%u,Flat", id);
	snprintf(e.settings.indexed_keys, sizeof e.settings.indexed_keys, "user,k%u", id);
	return e;
}

static void assert_same(const struct catalog_entry *a, const struct catalog_entry *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_true(coll_settings_equal(&a->settings, &b->settings));
	assert_int_equal(a->created_lsn, b->created_lsn);
	assert_int_equal(a->tail_serial, b->tail_serial);
	assert_int_equal(a->frozen_serial, b->frozen_serial);
	assert_int_equal(a->documents, b->documents);
	assert_int_equal(a->segments, b->segments);
	assert_int_equal(a->rebuilding, b->rebuilding);
	assert_int_equal(a->history_start, b->history_start);
	assert_int_equal(a->history_bytes, b->history_bytes);
}

static void assert_found(catalog *c, const struct catalog_entry *want)
{
	struct catalog_entry got;
	memset(&got, 0x5a, sizeof got);
	assert_int_equal(catalog_find(c, want->name, &got), 0);
	assert_same(want, &got);
	memset(&got, 0x5a, sizeof got);
	assert_int_equal(catalog_get(c, want->id, &got), 0);
	assert_same(want, &got);
}

static void assert_gone(catalog *c, uint32_t id, const char *name)
{
	struct catalog_entry got;
	assert_int_equal(catalog_find(c, name, &got), ROOST_ENOCOLL);
	assert_int_equal(catalog_get(c, id, &got), ROOST_ENOCOLL);
}

static void put(catalog *c, const struct catalog_entry *e)
{
	assert_int_equal(catalog_put(c, e), 0);
}

static void test_missing(void **state)
{
	catalog *c = (catalog *)1;
	assert_int_equal(catalog_open(&c, path_of(state)), ROOST_ENOENT);
	catalog_close(make_writer(state));
	c = make_reader(state);
	catalog_close(c);
	catalog_close(NULL);
}

static void test_readers_see_puts(void **state)
{
	catalog *w = make_writer(state);
	catalog *r = make_reader(state);
	struct catalog_entry a = entry(1, "default"), b = entry(4, "posts.v2");
	assert_gone(r, 1, "default");
	put(w, &a);
	put(w, &b);
	assert_found(r, &a);
	assert_found(r, &b);
	assert_found(w, &b);
	/* Names match whole: no prefix, no other case. */
	struct catalog_entry got;
	assert_int_equal(catalog_find(r, "posts", &got), ROOST_ENOCOLL);
	assert_int_equal(catalog_find(r, "posts.v2x", &got), ROOST_ENOCOLL);
	assert_int_equal(catalog_find(r, "Default", &got), ROOST_ENOCOLL);
	assert_int_equal(catalog_find(r, "", &got), ROOST_ENOCOLL);
	assert_int_equal(catalog_get(r, 2, &got), ROOST_ENOCOLL);
	assert_int_equal(catalog_get(r, 0, &got), ROOST_ENOCOLL);
	/* The longest name, index and indexed keys are kept whole. */
	struct catalog_entry l = entry(9, "");
	memset(l.name, 'n', COLL_NAME_MAX);
	l.name[COLL_NAME_MAX] = '\0';
	memset(l.settings.index, 'i', COLL_INDEX_MAX);
	l.settings.index[COLL_INDEX_MAX] = '\0';
	memset(l.settings.indexed_keys, 'k', COLL_KEYS_MAX);
	l.settings.indexed_keys[COLL_KEYS_MAX] = '\0';
	l.settings.indexed_keys[63] = ',';
	put(w, &l);
	assert_found(r, &l);
	assert_int_equal(strlen(l.settings.indexed_keys), COLL_KEYS_MAX);
	/* No indexed keys read back as none. */
	struct catalog_entry none = entry(10, "none");
	none.settings.indexed_keys[0] = '\0';
	put(w, &none);
	assert_found(r, &none);
	/* Id 0 means a free slot: never published. */
	struct catalog_entry zero = entry(0, "zero");
	assert_int_equal(catalog_put(w, &zero), ROOST_EINVAL);
	assert_int_equal(catalog_find(r, "zero", &got), ROOST_ENOCOLL);
	catalog_close(r);
	catalog_close(w);
}

/* A put of a listed id changes it in place; tail and counts change alone. */
static void test_updates(void **state)
{
	catalog *w = make_writer(state);
	catalog *r = make_reader(state);
	struct catalog_entry a = entry(3, "alpha");
	put(w, &a);
	struct catalog_entry renamed = entry(3, "alpha-2");
	renamed.settings.seal_docs = 99999;
	put(w, &renamed);
	assert_found(r, &renamed);
	struct catalog_entry got;
	assert_int_equal(catalog_find(r, "alpha", &got), ROOST_ENOCOLL);
	size_t n;
	struct catalog_entry all[4];
	assert_int_equal(catalog_list(r, all, 4, &n), 0);
	assert_int_equal(n, 1);

	catalog_set_tail(w, 3, 555, 554);
	catalog_set_counts(w, 3, 123456789012ull, 77);
	catalog_set_history_of(w, 3, 4242, 987654321ull);
	renamed.tail_serial = 555;
	renamed.frozen_serial = 554;
	renamed.documents = 123456789012ull;
	renamed.segments = 77;
	renamed.history_start = 4242;
	renamed.history_bytes = 987654321ull;
	assert_found(r, &renamed);
	/* Unknown ids change nothing. */
	catalog_set_tail(w, 8, 1, 0);
	catalog_set_counts(w, 8, 1, 1);
	catalog_set_history_of(w, 8, 1, 1);
	catalog_remove(w, 8);
	catalog_remove(w, 0);
	assert_found(r, &renamed);
	assert_int_equal(catalog_get(r, 8, &got), ROOST_ENOCOLL);
	catalog_close(r);
	catalog_close(w);
}

/* The instance's retention: none said before a writer does; then what it
 * said last, its text cut to fit. */
static void test_history(void **state)
{
	catalog *w = make_writer(state);
	catalog *r = make_reader(state);
	struct catalog_history h;
	assert_int_equal(catalog_history(r, &h), 0);
	assert_string_equal(h.retain, "");
	struct catalog_history said = {.retain = "lsn:12345", .horizon = 12345, .log_bytes = 77};
	catalog_set_history(w, &said);
	assert_int_equal(catalog_history(r, &h), 0);
	assert_memory_equal(&h, &said, sizeof h);
	memset(said.retain, 'x', sizeof said.retain);
	said.horizon = UINT64_MAX;
	catalog_set_history(w, &said);
	assert_int_equal(catalog_history(r, &h), 0);
	assert_int_equal(strlen(h.retain), CATALOG_RETAIN_MAX - 1);
	assert_true(h.horizon == UINT64_MAX);
	catalog_close(r);
	catalog_close(w);
}

static void assert_listed(catalog *c, const uint32_t *ids, size_t count)
{
	struct catalog_entry all[8];
	size_t n = 99;
	assert_int_equal(catalog_list(c, all, 8, &n), 0);
	assert_int_equal(n, count);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(all[i].id, ids[i]);
}

/* A drop frees its slot: a new collection takes it, under a new id, and
 * the old id and name stay gone; the list stays in id order whatever the
 * slots' order. */
static void test_remove_and_reuse(void **state)
{
	catalog *w = make_writer(state);
	catalog *r = make_reader(state);
	struct catalog_entry e5 = entry(5, "five"), e2 = entry(2, "two"), e7 = entry(7, "seven");
	put(w, &e5);
	put(w, &e2);
	put(w, &e7);
	assert_listed(r, (const uint32_t[]){2, 5, 7}, 3);
	catalog_remove(w, 5);
	assert_gone(r, 5, "five");
	assert_found(r, &e2);
	assert_found(r, &e7);
	assert_listed(r, (const uint32_t[]){2, 7}, 2);
	/* The first slot again, now with a higher id than the others. */
	struct catalog_entry e9 = entry(9, "five");
	put(w, &e9);
	assert_found(r, &e9);
	assert_int_equal(catalog_get(r, 5, &(struct catalog_entry){0}), ROOST_ENOCOLL);
	assert_listed(r, (const uint32_t[]){2, 7, 9}, 3);
	/* Removed twice: still just gone. */
	catalog_remove(w, 5);
	assert_listed(r, (const uint32_t[]){2, 7, 9}, 3);
	catalog_remove(w, 2);
	catalog_remove(w, 7);
	catalog_remove(w, 9);
	assert_listed(r, NULL, 0);
	catalog_close(r);
	catalog_close(w);
}

/* Every change but the counts moves the version, so readers rebuild. */
static void test_version(void **state)
{
	catalog *w = make_writer(state);
	catalog *r = make_reader(state);
	uint64_t v = catalog_version(r);
	struct catalog_entry a = entry(1, "a");
#define MOVED(call)                                                                                \
	do {                                                                                       \
		call;                                                                              \
		assert_true(catalog_version(r) > v);                                               \
		v = catalog_version(r);                                                            \
	} while (0)
#define STILL(call)                                                                                \
	do {                                                                                       \
		call;                                                                              \
		assert_int_equal(catalog_version(r), v);                                           \
	} while (0)
	MOVED(put(w, &a));
	MOVED(put(w, &a)); /* the same again: writers republish on restart */
	MOVED(catalog_set_tail(w, 1, 42, 41));
	STILL(catalog_set_counts(w, 1, 10, 1));
	STILL(catalog_note(w, 64, "refused"));
	STILL(catalog_set_tail(w, 2, 42, 41));
	STILL(catalog_remove(w, 2));
	MOVED(catalog_remove(w, 1));
#undef MOVED
#undef STILL
	assert_int_equal(catalog_version(w), v);
	catalog_close(r);
	catalog_close(w);
	/* It outlives the writer: a restarted one carries on from it. */
	w = make_writer(state);
	assert_int_equal(catalog_version(w), v);
	assert_int_equal(catalog_put(w, &a), 0);
	assert_true(catalog_version(w) > v);
	catalog_close(w);
}

/* The newest 16 notes are kept, each found by its LSN. */
static void test_notes(void **state)
{
	catalog *w = make_writer(state);
	catalog *r = make_reader(state);
	char buf[CATALOG_NOTE_MAX];
	assert_int_equal(catalog_note_find(r, 100, buf, sizeof buf), ROOST_ENOENT);
	for (uint64_t i = 1; i <= 20; i++) {
		char text[64];
		snprintf(text, sizeof text, "refused record %llu", (unsigned long long)i);
		catalog_note(w, i * 100, text);
	}
	for (uint64_t i = 1; i <= 4; i++)
		assert_int_equal(catalog_note_find(r, i * 100, buf, sizeof buf), ROOST_ENOENT);
	for (uint64_t i = 5; i <= 20; i++) {
		char want[64];
		snprintf(want, sizeof want, "refused record %llu", (unsigned long long)i);
		assert_int_equal(catalog_note_find(r, i * 100, buf, sizeof buf), 0);
		assert_string_equal(buf, want);
	}
	assert_int_equal(catalog_note_find(r, 150, buf, sizeof buf), ROOST_ENOENT);
	/* LSN 0 is no record's. */
	catalog_note(w, 0, "zero");
	assert_int_equal(catalog_note_find(r, 0, buf, sizeof buf), ROOST_ENOENT);
	/* A long note is cut to fit, and a small buffer cuts it further. */
	char longer[CATALOG_NOTE_MAX + 50];
	memset(longer, 'L', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	catalog_note(w, 7000, longer);
	assert_int_equal(catalog_note_find(r, 7000, buf, sizeof buf), 0);
	assert_int_equal(strlen(buf), CATALOG_NOTE_MAX - 1);
	char small[6];
	assert_int_equal(catalog_note_find(r, 7000, small, sizeof small), 0);
	assert_string_equal(small, "LLLLL");
	catalog_close(r);
	catalog_close(w);
}

/* CATALOG_SLOTS live collections fill it; a listed one may still change,
 * and a drop makes room for one more. */
static void test_full(void **state)
{
	catalog *w = make_writer(state);
	char name[32];
	for (uint32_t id = 1; id <= CATALOG_SLOTS; id++) {
		snprintf(name, sizeof name, "c%u", id);
		struct catalog_entry e = entry(id, name);
		put(w, &e);
	}
	struct catalog_entry extra = entry(CATALOG_SLOTS + 1, "extra");
	assert_int_equal(catalog_put(w, &extra), ROOST_ENOSPC);
	struct catalog_entry again = entry(10, "c10-renamed");
	put(w, &again);
	catalog *r = make_reader(state);
	struct catalog_entry *all = calloc(CATALOG_SLOTS, sizeof *all);
	assert_non_null(all);
	size_t n;
	assert_int_equal(catalog_list(r, all, CATALOG_SLOTS, &n), 0);
	assert_int_equal(n, CATALOG_SLOTS);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(all[i].id, i + 1);
	assert_found(r, &again);
	snprintf(name, sizeof name, "c%u", CATALOG_SLOTS);
	struct catalog_entry last = entry(CATALOG_SLOTS, name);
	assert_found(r, &last);
	catalog_remove(w, 500);
	put(w, &extra);
	assert_found(r, &extra);
	assert_gone(r, 500, "c500");
	assert_int_equal(catalog_put(w, &(struct catalog_entry){.id = 5000, .name = "more"}),
			 ROOST_ENOSPC);
	/* A short list is cut at max. */
	assert_int_equal(catalog_list(r, all, 3, &n), 0);
	assert_int_equal(n, 3);
	free(all);
	catalog_close(r);
	catalog_close(w);
}

/* ---- a reader racing the writer ---- */

struct race {
	catalog *r;
	struct catalog_entry a, b;
	atomic_int stop;
	atomic_long seen;
	long torn, missing;
};

/* Fields of the slot image, compared whole: the tail and the counts are
 * separate words, equal in a and b. */
static int same_image(const struct catalog_entry *x, const struct catalog_entry *y)
{
	return x->id == y->id && strcmp(x->name, y->name) == 0 &&
	       coll_settings_equal(&x->settings, &y->settings) && x->created_lsn == y->created_lsn;
}

static void *race_reader(void *arg)
{
	struct race *rc = arg;
	while (!atomic_load(&rc->stop)) {
		struct catalog_entry got;
		if (catalog_get(rc->r, rc->a.id, &got) != 0) {
			rc->missing++;
			continue;
		}
		atomic_fetch_add(&rc->seen, 1);
		if (!same_image(&got, &rc->a) && !same_image(&got, &rc->b))
			rc->torn++;
		if (catalog_find(rc->r, rc->a.name, &got) == 0 && !same_image(&got, &rc->a))
			rc->torn++;
	}
	return NULL;
}

/* Two versions of one collection differing in every word of the image,
 * put in turn as fast as the writer can: every read is one or the other. */
static void test_reader_never_sees_a_torn_slot(void **state)
{
	catalog *w = make_writer(state);
	struct race rc = {.r = make_reader(state), .a = entry(7, "alpha")};
	rc.b = rc.a;
	snprintf(rc.b.name, sizeof rc.b.name, "bravo-with-a-name-long-enough-to-span-many-words");
	rc.b.settings = (struct coll_settings){.dim = 4096,
					       .metric = 0,
					       .train_docs = ~0ull,
					       .seal_docs = ~0ull - 1,
					       .seal_interval_ms = 86400000};
	snprintf(rc.b.settings.index, sizeof rc.b.settings.index, "IVF65536_HNSW32,PQ64x4fsr");
	snprintf(rc.b.settings.indexed_keys, sizeof rc.b.settings.indexed_keys,
		 "author,topic,language,source.kind,tenant-id,region,year,status");
	rc.b.created_lsn = 0xdeadbeefcafeull;
	put(w, &rc.a);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, race_reader, &rc), 0);
	/* Until the reader has read often enough, however the two threads
	 * happen to be scheduled. */
	for (long i = 0; i < 4000000 && (i < 200000 || atomic_load(&rc.seen) < 200000); i++)
		put(w, i & 1 ? &rc.a : &rc.b);
	atomic_store(&rc.stop, 1);
	pthread_join(t, NULL);
	/* A read that gives up while the writer keeps the slot changing
	 * (seqlock_read's bounded retries) misses; it is never torn. */
	assert_int_equal(rc.torn, 0);
	assert_true(atomic_load(&rc.seen) > rc.missing);
	catalog_close(rc.r);
	catalog_close(w);
}

/* ---- objects a reader must not trust ---- */

/* Every bit, and every whole byte, of the checked header changed: the
 * object is refused (EVERSION; ENOENT when it reads as not ready), and a
 * writer starting on it makes a new one. */
static void test_corrupt_header(void **state)
{
	const char *path = path_of(state);
	catalog *w = make_writer(state);
	struct catalog_entry a = entry(1, "default");
	put(w, &a);
	catalog_close(w);
	uint8_t good[CHECKED_END];
	tu_pread(path, 0, good, sizeof good);
	for (size_t i = 0; i < CHECKED_END; i++) {
		for (int mask = 1; mask <= 0x100; mask <<= 1) {
			uint8_t b = good[i] ^ (uint8_t)(mask == 0x100 ? 0xff : mask);
			tu_pwrite(path, i, &b, 1);
			catalog *r = (catalog *)1;
			int rc = catalog_open(&r, path);
			if (i >= OFF_READY && i < OFF_SLOTS) {
				/* Any non-zero value is ready. */
				uint32_t ready;
				tu_pread(path, OFF_READY, &ready, sizeof ready);
				assert_int_equal(rc, ready ? 0 : ROOST_ENOENT);
				if (rc == 0)
					catalog_close(r);
			} else {
				assert_int_equal(rc, ROOST_EVERSION);
			}
			tu_pwrite(path, i, &good[i], 1);
		}
	}
	assert_int_equal(catalog_open(&w, path), 0);
	assert_found(w, &a);
	catalog_close(w);
	/* A writer replaces an object of another layout with an empty one. */
	uint32_t version = 99;
	tu_pwrite(path, OFF_VERSION, &version, sizeof version);
	w = make_writer(state);
	catalog *r = make_reader(state);
	assert_gone(r, 1, "default");
	put(w, &a);
	assert_found(r, &a);
	catalog_close(r);
	catalog_close(w);
}

/* Objects of the wrong size: refused, never read past their end. */
static void test_wrong_sizes(void **state)
{
	const char *path = path_of(state);
	catalog_close(make_writer(state));
	uint64_t size = tu_file_size(path);
	/* The header, then CATALOG_SLOTS slots of 256 bytes. */
	uint64_t header = size - CATALOG_SLOTS * 256ull;
	const uint64_t sizes[] = {size - 1, size - 256, size + 4096, OFF_SLOTS + 4, 1};
	size_t len;
	uint8_t *good = tu_read_file(path, &len);
	catalog *r = (catalog *)1;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		assert_int_equal(truncate(path, (off_t)sizes[i]), 0);
		int rc = catalog_open(&r, path);
		/* Shorter than its header: not made yet. */
		assert_int_equal(rc, sizes[i] < header ? ROOST_ENOENT : ROOST_EVERSION);
		tu_write_file(path, good, len);
	}
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(catalog_open(&r, path), ROOST_ENOENT);
	/* The header written but not yet marked ready. */
	tu_write_file(path, good, len);
	uint32_t zero = 0;
	tu_pwrite(path, OFF_READY, &zero, sizeof zero);
	assert_int_equal(catalog_open(&r, path), ROOST_ENOENT);
	free(good);
	/* The writer starts over on any of them. */
	catalog *w = make_writer(state);
	r = make_reader(state);
	catalog_close(r);
	catalog_close(w);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_shmdir, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_missing),	    T(test_readers_see_puts),
	    T(test_updates),	    T(test_remove_and_reuse),
	    T(test_version),	    T(test_notes),
	    T(test_full),	    T(test_reader_never_sees_a_torn_slot),
	    T(test_corrupt_header), T(test_wrong_sizes),
	    T(test_history),
	};
	return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
