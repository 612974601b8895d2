/* Delete records: the id rules, records written from requests and parsed
 * back, and every corruption refused. */
#include "batch.h"
#include "delrec.h"
#include "err.h"
#include "wire.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_id(const char *s, uint64_t *n)
{
	return delrec_parse_id(s, strlen(s), n);
}

static void test_ids(void **state)
{
	(void)state;
	uint64_t n;
	assert_int_equal(parse_id("#16", &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(parse_id("#18446744073709551615", &n), 0);
	assert_true(n == UINT64_MAX);
	assert_int_equal(parse_id("post-1", &n), 0);
	assert_int_equal(n, 0);
	const char *bad[] = {"",
			     "#",
			     "#0",
			     "#016",
			     "#-1",
			     "#1x",
			     "#18446744073709551616",
			     "#99999999999999999999",
			     "\xff",
			     "# 1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (parse_id(bad[i], &n) != ROOST_EINVAL)
			fail_msg("id \"%s\" was accepted", bad[i]);
	char long_key[BATCH_MAX_KEY + 2];
	memset(long_key, 'k', sizeof long_key);
	assert_int_equal(delrec_parse_id(long_key, BATCH_MAX_KEY, &n), 0);
	assert_int_equal(delrec_parse_id(long_key, BATCH_MAX_KEY + 1, &n), ROOST_EINVAL);
}

struct fx {
	Roost__DeleteRequest d;
	char *ids[4];
};

static void fx_init(struct fx *f)
{
	static char a[] = "post-1", b[] = "#77", c[] = "r\xc3\xa9ply", e[] = "#18";
	roost__delete_request__init(&f->d);
	f->ids[0] = a;
	f->ids[1] = b;
	f->ids[2] = c;
	f->ids[3] = e;
	f->d.ids = f->ids;
	f->d.n_ids = 4;
	f->d.client_id = 5;
	f->d.seq = 9;
	f->d.ack = ROOST__ACK_MODE__ACK_VISIBLE;
}

static void *write_record(const Roost__DeleteRequest *d, int junk, size_t *len)
{
	*len = wire_delete_size(d);
	assert_true(*len > 0);
	void *buf = malloc(*len);
	assert_non_null(buf);
	memset(buf, junk, *len);
	wire_delete_write(d, 3, buf);
	return buf;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	char msg[256];
	assert_int_equal(wire_check_delete(&f.d, msg, sizeof msg), 0);
	size_t len, len2;
	void *rec = write_record(&f.d, 0xAA, &len);
	void *again = write_record(&f.d, 0x55, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(rec, again, len); /* nothing stale written */
	assert_int_equal(len, 40 + 4 * 16 + strlen("post-1") + strlen("r\xc3\xa9ply"));
	struct delrec_view v;
	assert_true(delrec_is(rec, len));
	assert_int_equal(delrec_parse(rec, len, &v), 0);
	assert_int_equal(v.hdr->collection, 3);
	assert_int_equal(v.hdr->count, 4);
	assert_int_equal(v.hdr->client_id, 5);
	assert_int_equal(v.hdr->seq, 9);
	assert_int_equal(v.ids[0].key_len, 6);
	assert_memory_equal(v.keys + v.ids[0].key_off, "post-1", 6);
	assert_int_equal(v.ids[1].number, 77);
	assert_int_equal(v.ids[1].key_len, 0);
	assert_memory_equal(v.keys + v.ids[2].key_off, "r\xc3\xa9ply", 6);
	assert_int_equal(v.ids[3].number, 18);
	free(rec);
	free(again);
}

static void check_gives(struct fx *f, int code, const char *want)
{
	char msg[256] = "";
	assert_int_equal(wire_check_delete(&f->d, msg, sizeof msg), code);
	if (!strstr(msg, want))
		fail_msg("\"%s\" lacks \"%s\"", msg, want);
}

static void test_check(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	static char hash0[] = "#0", empty[] = "";
	f.ids[2] = hash0;
	check_gives(&f, ROOST_EINVAL, "ids[2] is neither an id");
	f.ids[2] = empty;
	check_gives(&f, ROOST_EINVAL, "ids[2]");
	fx_init(&f);
	f.d.n_ids = 0;
	check_gives(&f, ROOST_EINVAL, "1 to 4096 ids, not 0");
	fx_init(&f);
	f.d.seq = 0;
	check_gives(&f, ROOST_EINVAL, "idempotency key");
	fx_init(&f);
	f.d.ack = 7;
	check_gives(&f, ROOST_EUNSUPPORTED, "ack mode 7");
	fx_init(&f);
	static char bad_coll[] = "-x";
	f.d.collection = bad_coll;
	check_gives(&f, ROOST_EINVAL, "collection name");
}

/* Every single-byte change is refused or still a valid record, and no
 * truncation is accepted; AddressSanitizer watches the reads. */
static void test_corruption(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	size_t len;
	unsigned char *good = write_record(&f.d, 0, &len);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			unsigned char *b = malloc(len);
			assert_non_null(b);
			memcpy(b, good, len);
			b[i] ^= (unsigned char)(1u << bit);
			struct delrec_view v;
			int rc = delrec_parse(b, len, &v);
			assert_true(rc == 0 || rc == ROOST_ECORRUPT);
			for (uint32_t k = 0; rc == 0 && k < v.hdr->count; k++)
				assert_true(v.ids[k].key_len
						? batch_key_valid(v.keys + v.ids[k].key_off,
								  v.ids[k].key_len)
						: v.ids[k].number != 0);
			free(b);
		}
	for (size_t l = 0; l < len; l++) {
		unsigned char *b = malloc(l ? l : 8);
		assert_non_null(b);
		memcpy(b, good, l);
		struct delrec_view v;
		assert_int_equal(delrec_parse(b, l, &v), ROOST_ECORRUPT);
		free(b);
	}
	free(good);
}

/* A delete by filter carries the filter itself, encoded. */
static void test_filter_record(void **state)
{
	(void)state;
	int64_t agents[] = {3, -9};
	Roost__Filter f = ROOST__FILTER__INIT;
	f.n_agents = 2;
	f.agents = agents;
	Roost__DeleteRequest d = ROOST__DELETE_REQUEST__INIT;
	d.filter = &f;
	d.client_id = 5;
	d.seq = 2;
	char msg[256] = "";
	assert_int_equal(wire_check_delete(&d, msg, sizeof msg), 0);
	size_t len;
	unsigned char *rec = write_record(&d, 0x33, &len);
	assert_true(delrec_is_by_filter(rec, len));
	struct delrec_view v;
	assert_int_equal(delrec_parse(rec, len, &v), 0);
	assert_int_equal(v.hdr->count, 0);
	assert_non_null(v.filter);
	Roost__Filter *back = roost__filter__unpack(NULL, v.hdr->key_bytes, v.filter);
	assert_non_null(back);
	assert_int_equal(back->n_agents, 2);
	assert_memory_equal(back->agents, agents, sizeof agents);
	roost__filter__free_unpacked(back, NULL);
	/* The flag and a count of ids never go together. */
	struct delrec_header h;
	memcpy(&h, rec, sizeof h);
	h.count = 1;
	memcpy(rec, &h, sizeof h);
	assert_int_equal(delrec_parse(rec, len, &v), ROOST_ECORRUPT);
	free(rec);
	/* Ids and a filter, or a filter that sets nothing, are refused. */
	static char id[] = "x";
	char *ids[] = {id};
	d.ids = ids;
	d.n_ids = 1;
	assert_int_equal(wire_check_delete(&d, msg, sizeof msg), ROOST_EINVAL);
	assert_non_null(strstr(msg, "not both"));
	Roost__Filter none = ROOST__FILTER__INIT;
	d.ids = NULL;
	d.n_ids = 0;
	d.filter = &none;
	assert_int_equal(wire_check_delete(&d, msg, sizeof msg), ROOST_EINVAL);
	assert_non_null(strstr(msg, "drop the collection"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),		  cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_check),	  cmocka_unit_test(test_corruption),
	    cmocka_unit_test(test_filter_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
