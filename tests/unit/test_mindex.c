/* The metadata index against brute force: for every filter, the rows it
 * selects hold every row metaq_match accepts, and the rows that pass a
 * recheck are exactly those. */
#include "err.h"
#include "metaq.h"
#include "mindex.h"
#include "segment.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ROWS 3000u

struct rows {
	int64_t agents[ROWS], times[ROWS];
	struct segment_kind kinds[ROWS];
	struct segment_ref refs[ROWS];
	char text[ROWS * 96];
	struct segment_docs d;
};

static const char *const topics[] = {"\"cats\"", "\"dogs\"", "\"c\\u0061ts\"", "\"news\"", "5",
				     "true",	 "null",     "[\"cats\"]",     "{\"a\":1}"};

/* Row r's metadata: user, topic and score in varying forms, some keys
 * missing, some rows with none; "user" written as 5 or 5.0 alike. */
static void row_meta(uint32_t r, char *out, size_t len)
{
	uint32_t user = r % 50;
	const char *topic = topics[(r / 7) % (sizeof topics / sizeof *topics)];
	if (r % 97 == 0)
		out[0] = '\0';
	else if (r % 31 == 0)
		snprintf(out, len, "{\"topic\": %s}", topic);
	else if (r % 3 == 0)
		snprintf(out, len, "{\"score\": %u.5, \"user\": %u.0, \"topic\": %s}", r % 11, user,
			 topic);
	else
		snprintf(out, len, "{ \"user\" : %u , \"topic\":%s, \"score\": %u }", user, topic,
			 r % 11);
}

static void make_rows(struct rows *s)
{
	uint32_t off = 0;
	for (uint32_t r = 0; r < ROWS; r++) {
		char meta[96];
		row_meta(r, meta, sizeof meta);
		size_t n = strlen(meta);
		memcpy(s->text + off, meta, n);
		s->refs[r] = (struct segment_ref){.meta_off = off, .meta_len = (uint32_t)n};
		off += (uint32_t)n;
	}
	s->d = (struct segment_docs){.count = ROWS,
				     .agents = s->agents,
				     .times = s->times,
				     .kinds = s->kinds,
				     .refs = s->refs,
				     .text = s->text,
				     .text_bytes = off};
}

static struct metaq *compile(const struct metaq_condition *c, size_t n)
{
	struct metaq *q;
	assert_int_equal(metaq_compile(c, n, "where", &q, NULL, 0), 0);
	return q;
}

/* The index's rows for q, rechecked, against a scan of every row. */
static void check_against_scan(const struct mindex *x, const struct rows *s, const struct metaq *q)
{
	uint8_t bits[(ROWS + 7) / 8] = {0};
	assert_true(mindex_covers(x, q));
	uint64_t picked = mindex_select(x, q, ROWS, bits), set = 0, want = 0;
	for (uint32_t r = 0; r < ROWS; r++) {
		struct segment_row row;
		segment_row(&s->d, r, &row);
		int in = bits[r / 8] >> (r % 8) & 1;
		int match = metaq_match(q, row.meta, row.meta_len);
		set += (uint64_t)in;
		want += (uint64_t)match;
		if (match)
			assert_true(in);
	}
	assert_int_equal(picked, set);
	assert_true(want > 0);
}

static void test_selects_a_superset_of_the_matches(void **state)
{
	(void)state;
	static struct rows s;
	make_rows(&s);
	struct mindex *x;
	assert_int_equal(mindex_build(&x, &s.d, "user,topic,score"), 0);
	assert_int_equal(mindex_values(x, 0), 100); /* 0..49 and 0.0..49.0 */
	const char *five[] = {"5"}, *cats[] = {"\"cats\"", "\"news\""}, *lit[] = {"true", "null"};
	const char *users[] = {"1", "2.0", "49", "7"};
	const struct metaq_condition conds[][2] = {
	    {{.key = "user", .any_of = five, .n_any_of = 1}},
	    {{.key = "user", .any_of = users, .n_any_of = 4}},
	    {{.key = "topic", .any_of = cats, .n_any_of = 2}},
	    {{.key = "topic", .any_of = lit, .n_any_of = 2}},
	    {{.key = "score", .has_min = 1, .min = 3, .has_max = 1, .max = 5.5}},
	    {{.key = "score", .has_min = 1, .min = 9.5, .min_exclusive = 1}},
	    {{.key = "user", .has_max = 1, .max = 3},
	     {.key = "topic", .any_of = cats, .n_any_of = 2}},
	    {{.key = "unindexed", .has_min = 1, .min = 0},
	     {.key = "user", .any_of = five, .n_any_of = 1}},
	};
	for (size_t i = 0; i < sizeof conds / sizeof *conds; i++) {
		size_t n = conds[i][1].key ? 2 : 1;
		struct metaq *q = compile(conds[i], n);
		if (i < sizeof conds / sizeof *conds - 1)
			check_against_scan(x, &s, q);
		else
			assert_true(mindex_covers(x, q));
		metaq_free(q);
	}
	mindex_free(x);
}

static void test_unindexed_keys_and_no_keys(void **state)
{
	(void)state;
	static struct rows s;
	make_rows(&s);
	struct mindex *x;
	assert_int_equal(mindex_build(&x, &s.d, ""), 0);
	assert_null(x);
	assert_int_equal(mindex_build(&x, &s.d, "topic"), 0);
	const char *five[] = {"5"};
	struct metaq *q =
	    compile(&(struct metaq_condition){.key = "user", .any_of = five, .n_any_of = 1}, 1);
	assert_false(mindex_covers(x, q));
	assert_false(mindex_covers(NULL, q));
	metaq_free(q);
	/* cats, dogs, c\u0061ts, news, 5, true, null, [..], {..}: nine texts. */
	assert_int_equal(mindex_values(x, 0), 9);
	mindex_free(x);
}

/* An index grown a piece at a time, as a tail's is, selects what one built
 * at once does. */
static void test_grows_like_a_tail(void **state)
{
	(void)state;
	static struct rows s;
	make_rows(&s);
	struct mindex *whole, *grown;
	assert_int_equal(mindex_build(&whole, &s.d, "user,topic"), 0);
	assert_int_equal(mindex_new(&grown, "user,topic"), 0);
	struct segment_docs part = s.d;
	for (uint64_t n = 0; n <= ROWS; n += 777) {
		part.count = n;
		assert_int_equal(mindex_extend(grown, &part), 0);
		assert_int_equal(mindex_rows(grown), n);
	}
	part.count = ROWS;
	assert_int_equal(mindex_extend(grown, &part), 0);
	assert_int_equal(mindex_rows(grown), ROWS);
	const char *cats[] = {"\"cats\"", "\"news\""};
	struct metaq *q =
	    compile(&(struct metaq_condition){.key = "topic", .any_of = cats, .n_any_of = 2}, 1);
	uint8_t a[(ROWS + 7) / 8] = {0}, b[(ROWS + 7) / 8] = {0};
	/* A snapshot of fewer rows than indexed sees only those. */
	assert_int_equal(mindex_select(whole, q, ROWS, a), mindex_select(grown, q, ROWS, b));
	assert_memory_equal(a, b, sizeof a);
	memset(b, 0, sizeof b);
	uint64_t some = mindex_select(grown, q, 1000, b);
	for (uint32_t r = 1000; r < ROWS; r++)
		assert_false(b[r / 8] >> (r % 8) & 1);
	assert_true(some > 0 && some < mindex_select(grown, q, ROWS, a));
	metaq_free(q);
	mindex_free(whole);
	mindex_free(grown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selects_a_superset_of_the_matches),
	    cmocka_unit_test(test_unindexed_keys_and_no_keys),
	    cmocka_unit_test(test_grows_like_a_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
