/* Unit tests for proto/collrec.c: the 320-byte record of a create, a
 * drop or an alter, written by brokers and read by the writer from the ring and from
 * its log. Round trips, the documented layout, and refusals: the record
 * has no checksum of its own (the log's records carry one), so a changed
 * byte is either refused or decodes to a record that writes back to the
 * very same bytes; no byte is ignored. */
#include "collrec.h"
#include "batch.h"
#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* Offsets as collrec.h documents them. */
#define OFF_VERSION  4
#define OFF_OP	     6
#define OFF_CLIENT   8
#define OFF_SEQ	     16
#define OFF_NAME     24
#define OFF_DIM	     88
#define OFF_METRIC   92
#define OFF_INDEX    96
#define OFF_TRAIN    160
#define OFF_SEAL     168
#define OFF_INTERVAL 176
#define OFF_ID	     180
#define OFF_AS_OF    184
#define OFF_KEYS     192

static struct collrec create_rec(void)
{
	struct collrec r = {.op = COLLREC_CREATE,
			    .client_id = 0x1122334455667788ull,
			    .seq = 9,
			    .name = "posts.v2",
			    .settings = {.dim = 384,
					 .metric = 1,
					 .index = "IVF64,PQ16",
					 .train_docs = 5000,
					 .seal_docs = 8192,
					 .seal_interval_ms = 1500,
					 .indexed_keys = "user,topic"}};
	return r;
}

static struct collrec drop_rec(void)
{
	struct collrec r = {
	    .op = COLLREC_DROP, .client_id = 77, .seq = 3, .name = "old-stuff", .id = 41};
	return r;
}

static struct collrec alter_rec(void)
{
	struct collrec r = {.op = COLLREC_ALTER,
			    .client_id = 78,
			    .seq = 4,
			    .name = "posts.v2",
			    .id = 7,
			    .settings = {.index = "IVF256,Flat", .train_docs = 20000}};
	return r;
}

static struct collrec fork_rec(void)
{
	struct collrec r = {.op = COLLREC_FORK,
			    .client_id = 79,
			    .seq = 5,
			    .name = "future-b",
			    .id = 7,
			    .as_of_lsn = 9000};
	return r;
}

static void assert_same(const struct collrec *a, const struct collrec *b)
{
	assert_int_equal(a->op, b->op);
	assert_int_equal(a->client_id, b->client_id);
	assert_int_equal(a->seq, b->seq);
	assert_string_equal(a->name, b->name);
	assert_true(coll_settings_equal(&a->settings, &b->settings));
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->as_of_lsn, b->as_of_lsn);
}

static uint32_t u32_at(const uint8_t *buf, size_t off)
{
	uint32_t v;
	memcpy(&v, buf + off, sizeof v);
	return v;
}

static uint64_t u64_at(const uint8_t *buf, size_t off)
{
	uint64_t v;
	memcpy(&v, buf + off, sizeof v);
	return v;
}

static void put_u32(uint8_t *buf, size_t off, uint32_t v)
{
	memcpy(buf + off, &v, sizeof v);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct collrec recs[3] = {create_rec(), drop_rec(), alter_rec()}, got;
	for (int i = 0; i < 3; i++) {
		uint8_t buf[COLLREC_SIZE + 1];
		/* Written at an odd address, as the log may hand it over. */
		collrec_write(&recs[i], buf + 1);
		assert_true(collrec_is(buf + 1, COLLREC_SIZE));
		memset(&got, 0x5a, sizeof got);
		assert_int_equal(collrec_parse(buf + 1, COLLREC_SIZE, &got), 0);
		assert_same(&recs[i], &got);
	}
	/* A create's defaults: no index, no counts. */
	struct collrec d = create_rec();
	d.settings = (struct coll_settings){.dim = 1};
	uint8_t buf[COLLREC_SIZE];
	collrec_write(&d, buf);
	assert_int_equal(collrec_parse(buf, sizeof buf, &got), 0);
	assert_same(&d, &got);
	assert_string_equal(got.settings.index, "");
	assert_string_equal(got.settings.indexed_keys, "");
}

/* Logs written before indexed keys hold 192-byte version 1 records: they
 * still replay, as creates without indexed keys. */
static void test_version_1(void **state)
{
	(void)state;
	struct collrec c = create_rec(), got;
	uint8_t buf[COLLREC_SIZE];
	collrec_write(&c, buf);
	buf[OFF_VERSION] = 1;
	memset(&got, 0x5a, sizeof got);
	assert_int_equal(collrec_parse(buf, COLLREC_V1_SIZE, &got), 0);
	assert_string_equal(got.settings.indexed_keys, "");
	assert_string_equal(got.settings.index, "IVF64,PQ16");
	strcpy(c.settings.indexed_keys, "");
	assert_same(&c, &got);
	/* Each version at its own size only. */
	assert_int_equal(collrec_parse(buf, COLLREC_SIZE, &got), ROOST_ECORRUPT);
	buf[OFF_VERSION] = 2;
	assert_int_equal(collrec_parse(buf, COLLREC_V1_SIZE, &got), ROOST_ECORRUPT);
	struct collrec d = drop_rec();
	collrec_write(&d, buf);
	buf[OFF_VERSION] = 1;
	assert_int_equal(collrec_parse(buf, COLLREC_V1_SIZE, &got), 0);
	assert_same(&d, &got);
}

static void assert_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], 0);
}

static void test_layout(void **state)
{
	(void)state;
	struct collrec c = create_rec();
	/* Garbage after the strings' NULs, and a drop's id on a create,
	 * must not reach the record. */
	memset(c.name + strlen(c.name) + 1, 0x77, sizeof c.name - strlen(c.name) - 1);
	memset(c.settings.index + strlen(c.settings.index) + 1, 0x77,
	       sizeof c.settings.index - strlen(c.settings.index) - 1);
	c.id = 5;
	uint8_t buf[COLLREC_SIZE];
	memset(buf, 0xee, sizeof buf);
	collrec_write(&c, buf);
	assert_memory_equal(buf, "RCOL", 4);
	assert_int_equal(u32_at(buf, 0), COLLREC_MAGIC);
	assert_int_equal(buf[OFF_VERSION] | buf[OFF_VERSION + 1] << 8, COLLREC_VERSION);
	assert_int_equal(buf[OFF_OP] | buf[OFF_OP + 1] << 8, COLLREC_CREATE);
	assert_int_equal(u64_at(buf, OFF_CLIENT), c.client_id);
	assert_int_equal(u64_at(buf, OFF_SEQ), 9);
	assert_string_equal((const char *)buf + OFF_NAME, "posts.v2");
	assert_zero(buf + OFF_NAME + 8, 64 - 8);
	assert_int_equal(u32_at(buf, OFF_DIM), 384);
	assert_int_equal(u32_at(buf, OFF_METRIC), 1);
	assert_string_equal((const char *)buf + OFF_INDEX, "IVF64,PQ16");
	assert_zero(buf + OFF_INDEX + 10, 64 - 10);
	assert_int_equal(u64_at(buf, OFF_TRAIN), 5000);
	assert_int_equal(u64_at(buf, OFF_SEAL), 8192);
	assert_int_equal(u32_at(buf, OFF_INTERVAL), 1500);
	assert_int_equal(u32_at(buf, OFF_ID), 0);
	assert_zero(buf + OFF_AS_OF, 8);
	assert_string_equal((const char *)buf + OFF_KEYS, "user,topic");
	assert_zero(buf + OFF_KEYS + 10, 128 - 10);

	/* A drop: its id, and no settings even if the struct holds some. */
	struct collrec d = drop_rec();
	d.settings = create_rec().settings;
	memset(buf, 0xee, sizeof buf);
	collrec_write(&d, buf);
	assert_int_equal(buf[OFF_OP], COLLREC_DROP);
	assert_zero(buf + OFF_DIM, OFF_ID - OFF_DIM);
	assert_int_equal(u32_at(buf, OFF_ID), 41);
	assert_zero(buf + OFF_AS_OF, 8 + 128);
}

/* The writer tells records apart by their first four bytes. */
static void test_is(void **state)
{
	(void)state;
	uint8_t buf[COLLREC_SIZE];
	struct collrec c = create_rec();
	collrec_write(&c, buf);
	assert_true(collrec_is(buf, 4));
	assert_false(collrec_is(buf, 3));
	assert_false(collrec_is(buf, 0));
	uint32_t batch = BATCH_MAGIC;
	assert_false(collrec_is(&batch, sizeof batch));
	buf[3] ^= 1;
	assert_false(collrec_is(buf, sizeof buf));
}

static void test_sizes(void **state)
{
	(void)state;
	uint8_t buf[COLLREC_SIZE + 8] = {0};
	struct collrec c = create_rec(), got;
	collrec_write(&c, buf);
	for (size_t n = 0; n < COLLREC_SIZE; n++)
		assert_int_equal(collrec_parse(buf, n, &got), ROOST_ECORRUPT);
	assert_int_equal(collrec_parse(buf, COLLREC_SIZE + 1, &got), ROOST_ECORRUPT);
	assert_int_equal(collrec_parse(buf, COLLREC_SIZE + 8, &got), ROOST_ECORRUPT);
	assert_int_equal(collrec_parse(NULL, COLLREC_SIZE, &got), ROOST_ECORRUPT);
	assert_int_equal(collrec_parse(buf, COLLREC_SIZE, NULL), ROOST_ECORRUPT);
}

/* Bytes no valid record can change: any change there is refused. The
 * op is not one of them: a drop whose op became an alter's is an alter
 * that keeps every setting. */
static int always_refused(size_t off)
{
	return (off < OFF_CLIENT && off != OFF_OP) || (off >= OFF_AS_OF && off < OFF_KEYS);
}

/* Every bit, and every whole byte, of a create and of a drop changed:
 * refused, or a record that writes back to exactly the changed bytes. */
static void test_every_byte_changed(void **state)
{
	(void)state;
	struct collrec recs[3] = {create_rec(), drop_rec(), alter_rec()};
	size_t refused = 0, accepted = 0;
	for (int r = 0; r < 3; r++) {
		uint8_t good[COLLREC_SIZE];
		collrec_write(&recs[r], good);
		for (size_t i = 0; i < COLLREC_SIZE; i++) {
			for (int mask = 1; mask <= 0x100; mask <<= 1) {
				uint8_t buf[COLLREC_SIZE], again[COLLREC_SIZE];
				struct collrec got;
				memcpy(buf, good, sizeof buf);
				buf[i] ^= (uint8_t)(mask == 0x100 ? 0xff : mask);
				int rc = collrec_parse(buf, sizeof buf, &got);
				if (rc != 0 || always_refused(i)) {
					assert_int_equal(rc, ROOST_ECORRUPT);
					refused++;
					continue;
				}
				collrec_write(&got, again);
				assert_memory_equal(again, buf, sizeof buf);
				accepted++;
			}
		}
	}
	/* Both outcomes are reached: keys, counts and some name bytes may
	 * take any value, the structure none. */
	assert_true(refused > 1000 && accepted > 500);
}

#define EDIT(fn, body)                                                                             \
	static void fn(uint8_t *b)                                                                 \
	{                                                                                          \
		body;                                                                              \
	}

EDIT(edit_version, b[OFF_VERSION] = 3)
EDIT(edit_version_one, b[OFF_VERSION] = 1)
EDIT(edit_op_zero, b[OFF_OP] = 0)
EDIT(edit_op_four, b[OFF_OP] = 4)
EDIT(edit_op_five, b[OFF_OP] = 5)
EDIT(edit_as_of, b[OFF_AS_OF + 7] = 1)
EDIT(edit_name_empty, memset(b + OFF_NAME, 0, 64))
EDIT(edit_name_unterminated, memset(b + OFF_NAME, 'n', 64))
EDIT(edit_name_full, memset(b + OFF_NAME, 'n', 63))
EDIT(edit_name_after_nul, b[OFF_NAME + 40] = 'x')
EDIT(edit_name_bad_first, b[OFF_NAME] = '_')
EDIT(edit_name_space, b[OFF_NAME + 2] = ' ')
EDIT(edit_name_utf8, memcpy(b + OFF_NAME + 1, "\xc3\xa9", 2))
EDIT(edit_dim_zero, put_u32(b, OFF_DIM, 0))
EDIT(edit_dim_max, put_u32(b, OFF_DIM, COLL_MAX_DIM))
EDIT(edit_dim_over, put_u32(b, OFF_DIM, COLL_MAX_DIM + 1))
EDIT(edit_metric_two, put_u32(b, OFF_METRIC, 2))
EDIT(edit_index_unterminated, memset(b + OFF_INDEX, 'A', 64))
EDIT(edit_index_full, memset(b + OFF_INDEX, 'A', 63))
EDIT(edit_index_after_nul, b[OFF_INDEX + 50] = 'x')
EDIT(edit_index_control, b[OFF_INDEX + 2] = '\t')
EDIT(edit_index_high, b[OFF_INDEX + 2] = (uint8_t)0x80)
EDIT(edit_create_with_id, put_u32(b, OFF_ID, 1))
EDIT(edit_keys_twice, memcpy(b + OFF_KEYS, "user,user", 10))
EDIT(edit_keys_space, b[OFF_KEYS + 2] = ' ')
EDIT(edit_keys_empty_key, memcpy(b + OFF_KEYS, "user,,opic", 10))
EDIT(edit_keys_trailing_comma, b[OFF_KEYS + 10] = ',')
EDIT(edit_keys_unterminated, memset(b + OFF_KEYS, 'k', 128))
EDIT(edit_keys_after_nul, b[OFF_KEYS + 100] = 'x')
EDIT(edit_keys_other, memcpy(b + OFF_KEYS, "a.b,c-d.ef", 10))

static void test_create_fields(void **state)
{
	(void)state;
	static const struct {
		void (*edit)(uint8_t *);
		int rc;
	} cases[] = {
	    {edit_version, ROOST_ECORRUPT},
	    {edit_version_one, ROOST_ECORRUPT},
	    {edit_op_zero, ROOST_ECORRUPT},
	    {edit_op_four, ROOST_ECORRUPT}, /* a fork has no settings */
	    {edit_op_five, ROOST_ECORRUPT},
	    {edit_as_of, ROOST_ECORRUPT},
	    {edit_name_empty, ROOST_ECORRUPT},
	    {edit_name_unterminated, ROOST_ECORRUPT},
	    {edit_name_full, 0},
	    {edit_name_after_nul, ROOST_ECORRUPT},
	    {edit_name_bad_first, ROOST_ECORRUPT},
	    {edit_name_space, ROOST_ECORRUPT},
	    {edit_name_utf8, ROOST_ECORRUPT},
	    {edit_dim_zero, ROOST_ECORRUPT},
	    {edit_dim_max, 0},
	    {edit_dim_over, ROOST_ECORRUPT},
	    {edit_metric_two, ROOST_ECORRUPT},
	    {edit_index_unterminated, ROOST_ECORRUPT},
	    {edit_index_full, 0},
	    {edit_index_after_nul, ROOST_ECORRUPT},
	    {edit_index_control, ROOST_ECORRUPT},
	    {edit_index_high, ROOST_ECORRUPT},
	    {edit_create_with_id, ROOST_ECORRUPT},
	    {edit_keys_twice, ROOST_ECORRUPT},
	    {edit_keys_space, ROOST_ECORRUPT},
	    {edit_keys_empty_key, ROOST_ECORRUPT},
	    {edit_keys_trailing_comma, ROOST_ECORRUPT},
	    {edit_keys_unterminated, ROOST_ECORRUPT},
	    {edit_keys_after_nul, ROOST_ECORRUPT},
	    {edit_keys_other, 0},
	};
	struct collrec c = create_rec(), got;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t buf[COLLREC_SIZE];
		collrec_write(&c, buf);
		cases[i].edit(buf);
		if (collrec_parse(buf, sizeof buf, &got) != cases[i].rc)
			fail_msg("case %zu: expected %d", i, cases[i].rc);
	}
}

/* A drop carries no settings: any one of them set is refused. */
static void test_drop_fields(void **state)
{
	(void)state;
	static const size_t fields[] = {OFF_DIM,  OFF_METRIC,	    OFF_INDEX, OFF_TRAIN + 7,
					OFF_SEAL, OFF_INTERVAL + 3, OFF_KEYS};
	struct collrec d = drop_rec(), got;
	uint8_t buf[COLLREC_SIZE];
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		collrec_write(&d, buf);
		buf[fields[i]] = 'A';
		assert_int_equal(collrec_parse(buf, sizeof buf, &got), ROOST_ECORRUPT);
	}
	/* The id is the broker's to give. */
	collrec_write(&d, buf);
	put_u32(buf, OFF_ID, UINT32_MAX);
	assert_int_equal(collrec_parse(buf, sizeof buf, &got), 0);
	assert_int_equal(got.id, UINT32_MAX);
}

/* An alter carries an index and a training size, and nothing else a
 * create has. */
static void test_alter_fields(void **state)
{
	(void)state;
	static const size_t fields[] = {OFF_DIM, OFF_METRIC, OFF_SEAL, OFF_INTERVAL + 3, OFF_KEYS};
	struct collrec a = alter_rec(), got;
	uint8_t buf[COLLREC_SIZE];
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		collrec_write(&a, buf);
		buf[fields[i]] = 'A';
		assert_int_equal(collrec_parse(buf, sizeof buf, &got), ROOST_ECORRUPT);
	}
	collrec_write(&a, buf);
	assert_string_equal((const char *)buf + OFF_INDEX, "IVF256,Flat");
	assert_int_equal(u64_at(buf, OFF_TRAIN), 20000);
	assert_int_equal(u32_at(buf, OFF_ID), 7);
	buf[OFF_INDEX] = 0x01;
	assert_int_equal(collrec_parse(buf, sizeof buf, &got), ROOST_ECORRUPT);
	/* "" and 0: keep the collection's index and training size. */
	a.settings = (struct coll_settings){0};
	collrec_write(&a, buf);
	assert_int_equal(collrec_parse(buf, sizeof buf, &got), 0);
	assert_same(&a, &got);
}

/* A fork names its source by id and carries the LSN it is made as of;
 * no settings, and no as_of_lsn in the other kinds. */
static void test_fork_fields(void **state)
{
	(void)state;
	static const size_t fields[] = {OFF_DIM,  OFF_METRIC,	    OFF_INDEX, OFF_TRAIN,
					OFF_SEAL, OFF_INTERVAL + 3, OFF_KEYS};
	struct collrec f = fork_rec(), got;
	uint8_t buf[COLLREC_SIZE];
	collrec_write(&f, buf);
	assert_int_equal(u64_at(buf, OFF_AS_OF), 9000);
	assert_int_equal(u32_at(buf, OFF_ID), 7);
	assert_int_equal(collrec_parse(buf, sizeof buf, &got), 0);
	assert_same(&f, &got);
	assert_int_equal(got.as_of_lsn, 9000);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		collrec_write(&f, buf);
		buf[fields[i]] = 'A';
		assert_int_equal(collrec_parse(buf, sizeof buf, &got), ROOST_ECORRUPT);
	}
	f.id = 0; /* a fork of nothing */
	collrec_write(&f, buf);
	assert_int_equal(collrec_parse(buf, sizeof buf, &got), ROOST_ECORRUPT);
	struct collrec a = alter_rec();
	collrec_write(&a, buf);
	buf[OFF_AS_OF] = 1;
	assert_int_equal(collrec_parse(buf, sizeof buf, &got), ROOST_ECORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	  cmocka_unit_test(test_version_1),
	    cmocka_unit_test(test_layout),	  cmocka_unit_test(test_is),
	    cmocka_unit_test(test_sizes),	  cmocka_unit_test(test_every_byte_changed),
	    cmocka_unit_test(test_create_fields), cmocka_unit_test(test_drop_fields),
	    cmocka_unit_test(test_alter_fields),  cmocka_unit_test(test_fork_fields),
	};
	return cmocka_run_group_tests_name("collrec", tests, NULL, NULL);
}
