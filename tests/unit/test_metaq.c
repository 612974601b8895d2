/* Unit tests for proto/metaq.c: which metadata values meet which
 * conditions (types, numbers, escapes, ranges, several conditions), that
 * broken metadata is never read past its end, and what a refused
 * condition says. */
#include "err.h"
#include "metaq.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Matches meta against conds, from a copy of exactly its bytes, so that
 * AddressSanitizer sees any read past them. */
static int match_n(const char *meta, size_t len, const struct metaq_condition *conds, size_t n)
{
	struct metaq *q;
	char msg[256] = "";
	int rc = metaq_compile(conds, n, "where", &q, msg, sizeof msg);
	if (rc != 0)
		fail_msg("compile: %d %s", rc, msg);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, meta, len);
	int got = metaq_match(q, copy, len);
	free(copy);
	metaq_free(q);
	assert_true(got == 0 || got == 1);
	return got;
}

static int match(const char *meta, const struct metaq_condition *c)
{
	return match_n(meta, strlen(meta), c, 1);
}

/* meta's key equals value (JSON text). */
static int eq(const char *meta, const char *key, const char *value)
{
	const char *vals[] = {value};
	return match(meta, &(struct metaq_condition){.key = key, .any_of = vals, .n_any_of = 1});
}

static int at_least(const char *meta, const char *key, double min, int exclusive)
{
	return match(meta, &(struct metaq_condition){
			       .key = key, .has_min = 1, .min = min, .min_exclusive = exclusive});
}

static int at_most(const char *meta, const char *key, double max, int exclusive)
{
	return match(meta, &(struct metaq_condition){
			       .key = key, .has_max = 1, .max = max, .max_exclusive = exclusive});
}

static const char *const typed =
    "{\"s\":\"5\",\"n\":5,\"t\":true,\"f\":false,\"z\":null,\"o\":{\"a\":5},\"l\":[5],"
    "\"e\":\"\"}";

static void test_types_are_kept(void **state)
{
	(void)state;
	assert_true(eq(typed, "s", "\"5\""));
	assert_false(eq(typed, "s", "5"));
	assert_true(eq(typed, "n", "5"));
	assert_false(eq(typed, "n", "\"5\""));
	assert_true(eq(typed, "t", "true"));
	assert_false(eq(typed, "t", "1"));
	assert_false(eq(typed, "t", "\"true\""));
	assert_true(eq(typed, "f", "false"));
	assert_false(eq(typed, "f", "null"));
	assert_false(eq(typed, "f", "0"));
	assert_true(eq(typed, "z", "null"));
	assert_false(eq(typed, "z", "false"));
	assert_false(eq(typed, "z", "\"null\""));
	assert_true(eq(typed, "e", "\"\""));
	assert_false(eq(typed, "e", "null"));
	/* Objects and arrays match nothing, not even what they hold. */
	assert_false(eq(typed, "o", "5"));
	assert_false(eq(typed, "l", "5"));
	assert_false(at_least(typed, "o", 0, 0));
	assert_false(at_least(typed, "l", 0, 0));
	/* A range wants a number. */
	assert_false(at_least(typed, "s", 0, 0));
	assert_false(at_least(typed, "t", 0, 0));
	assert_false(at_most(typed, "z", 10, 0));
	assert_true(at_least(typed, "n", 0, 0));
	/* A missing key matches nothing. */
	assert_false(eq(typed, "x", "5"));
	assert_false(eq(typed, "x", "null"));
	assert_false(at_least(typed, "x", -1e300, 0));
	assert_false(eq("{}", "x", "null"));
	assert_false(eq("", "x", "null"));
}

static void test_numbers_compare_by_value(void **state)
{
	static const char *const fives[] = {"5",     "5.0",   "5e0",  "0.5e1",
					    "50e-1", "5.000", "5E+0", "500000000000000000000e-20"};
	(void)state;
	for (size_t i = 0; i < sizeof fives / sizeof fives[0]; i++)
		for (size_t j = 0; j < sizeof fives / sizeof fives[0]; j++) {
			char meta[128];
			snprintf(meta, sizeof meta, "{\"n\":%s}", fives[i]);
			if (!eq(meta, "n", fives[j]))
				fail_msg("%s != %s", fives[i], fives[j]);
		}
	assert_true(eq("{\"n\":-0}", "n", "0"));
	assert_true(eq("{\"n\":0.0}", "n", "-0.0e5"));
	assert_true(eq("{\"n\":-5}", "n", "-5.0"));
	assert_false(eq("{\"n\":-5}", "n", "5"));
	assert_false(eq("{\"n\":5}", "n", "6"));
	/* Integers are exact where doubles are not. */
	assert_false(eq("{\"n\":9007199254740993}", "n", "9007199254740992"));
	assert_true(eq("{\"n\":9007199254740993}", "n", "9007199254740993.0"));
	assert_true(eq("{\"n\":9007199254740993}", "n", "9.007199254740993e15"));
	assert_false(eq("{\"n\":-9223372036854775808}", "n", "-9223372036854775807"));
	assert_true(eq("{\"n\":-9223372036854775808}", "n", "-9223372036854775808"));
	assert_true(eq("{\"n\":18446744073709551615}", "n", "18446744073709551615"));
	assert_false(eq("{\"n\":18446744073709551615}", "n", "18446744073709551614"));
	/* An integer never equals a number that is not one, even one whose
	 * nearest double is that integer. */
	assert_false(eq("{\"n\":3}", "n", "3.0000000000000001"));
	assert_false(eq("{\"n\":3.0000000000000001}", "n", "3"));
	/* Other numbers compare as doubles. */
	assert_true(eq("{\"n\":0.1}", "n", "0.10"));
	assert_true(eq("{\"n\":0.1}", "n", "1e-1"));
	assert_false(eq("{\"n\":0.1}", "n", "0.2"));
	assert_true(eq("{\"n\":2.5}", "n", "25e-1"));
	assert_true(eq("{\"n\":1e30}", "n", "1000000000000000000000000000000"));
	assert_true(eq("{\"n\":18446744073709551616}", "n", "1.8446744073709552e19"));
}

static void test_ranges(void **state)
{
	const char *m = "{\"n\":5,\"f\":2.5,\"neg\":-3,\"big\":9007199254740993,\"huge\":1e30}";
	(void)state;
	assert_true(at_least(m, "n", 5, 0));
	assert_false(at_least(m, "n", 5, 1));
	assert_true(at_most(m, "n", 5, 0));
	assert_false(at_most(m, "n", 5, 1));
	assert_true(at_least(m, "n", 4.5, 1));
	assert_false(at_most(m, "n", 4.999, 0));
	assert_true(at_most(m, "n", 5.001, 1));
	assert_true(at_least(m, "f", 2.5, 0));
	assert_false(at_least(m, "f", 2.5, 1));
	assert_true(at_most(m, "f", 2.5, 0));
	assert_false(at_most(m, "f", 2.5, 1));
	assert_true(at_least(m, "neg", -3.5, 0));
	assert_false(at_most(m, "neg", -3.5, 0));
	assert_true(at_most(m, "neg", -3, 0));
	assert_false(at_most(m, "neg", -3, 1));
	assert_true(at_most(m, "neg", -2.5, 1));
	/* Exact for integers beyond 2^53: the bound 2^53 is below the value. */
	assert_false(at_most(m, "big", 9007199254740992.0, 0));
	assert_true(at_least(m, "big", 9007199254740992.0, 1));
	assert_true(at_most(m, "big", 9007199254740994.0, 1));
	assert_true(at_least(m, "huge", 1e29, 0));
	assert_false(at_most(m, "huge", 1e29, 0));
	assert_true(at_most("{\"n\":18446744073709551615}", "n", 1.8446744073709552e19, 1));
	assert_true(at_least("{\"n\":-18446744073709551615}", "n", -1.8446744073709552e19, 1));
	/* Both bounds; one that holds no number matches nothing. */
	struct metaq_condition c = {
	    .key = "n", .has_min = 1, .min = 1, .has_max = 1, .max = 5, .max_exclusive = 1};
	assert_false(match(m, &c));
	c.max_exclusive = 0;
	assert_true(match(m, &c));
	c.min = 6;
	assert_false(match(m, &c));
	/* any_of and a range: both hold. */
	const char *vals[] = {"1", "5", "9"};
	c = (struct metaq_condition){
	    .key = "n", .any_of = vals, .n_any_of = 3, .has_max = 1, .max = 6};
	assert_true(match(m, &c));
	assert_false(match("{\"n\":9}", &c));
	assert_false(match("{\"n\":4}", &c));
}

static void test_strings_unescaped(void **state)
{
	(void)state;
	assert_true(eq("{\"s\":\"caf\\u00e9\"}", "s", "\"caf\xc3\xa9\""));
	assert_true(eq("{\"s\":\"caf\xc3\xa9\"}", "s", "\"caf\\u00E9\""));
	assert_true(eq("{\"s\":\"\\ud83d\\ude00\"}", "s", "\"\xf0\x9f\x98\x80\""));
	assert_true(eq("{\"s\":\"\xf0\x9f\x98\x80\"}", "s", "\"\\uD83D\\uDE00\""));
	assert_true(eq("{\"s\":\"a\\\"b\\\\c\\/d\\n\\t\\b\\f\\r\"}", "s",
		       "\"a\\u0022b\\u005cc/d\\u000a\\u0009\\u0008\\u000c\\u000d\""));
	assert_false(eq("{\"s\":\"cat\"}", "s", "\"cats\""));
	assert_false(eq("{\"s\":\"cats\"}", "s", "\"cat\""));
	assert_false(eq("{\"s\":\"Cats\"}", "s", "\"cats\""));
	/* No normalisation: e + combining acute is not U+00E9. */
	assert_false(eq("{\"s\":\"e\\u0301\"}", "s", "\"\\u00e9\""));
	/* Keys are unescaped too. */
	assert_true(eq("{\"t\\u006fpic\":\"cats\"}", "topic", "\"cats\""));
	assert_true(eq("{\"\\u00e9t\\u00e9\":1}", "\xc3\xa9t\xc3\xa9", "1"));
	assert_false(eq("{\"topics\":\"cats\"}", "topic", "\"cats\""));
	assert_false(eq("{\"topi\":\"cats\"}", "topic", "\"cats\""));
}

static void test_any_of_sets(void **state)
{
	enum { N = 1000 };
	static char bufs[N][16];
	const char *vals[N];
	(void)state;
	/* Strings and numbers mixed, given out of order. */
	for (int i = 0; i < N; i++) {
		int v = (i * 7919) % N;
		if (v % 2)
			snprintf(bufs[i], sizeof bufs[i], "\"u%d\"", v);
		else
			snprintf(bufs[i], sizeof bufs[i], "%d", v);
		vals[i] = bufs[i];
	}
	struct metaq_condition c = {.key = "k", .any_of = vals, .n_any_of = N};
	for (int v = 0; v < N + 2; v++) {
		char meta[64], as_other[64];
		if (v % 2) {
			snprintf(meta, sizeof meta, "{\"k\":\"u%d\"}", v);
			snprintf(as_other, sizeof as_other, "{\"k\":%d}", v);
		} else {
			snprintf(meta, sizeof meta, "{\"k\":%d.0}", v);
			snprintf(as_other, sizeof as_other, "{\"k\":\"u%d\"}", v);
		}
		if (match(meta, &c) != (v < N))
			fail_msg("%s", meta);
		assert_false(match(as_other, &c));
	}
	const char *mixed[] = {"true", "null", " \"x\" ", "2.5"};
	c = (struct metaq_condition){.key = "k", .any_of = mixed, .n_any_of = 4};
	assert_true(match("{\"k\":true}", &c));
	assert_false(match("{\"k\":false}", &c));
	assert_true(match("{\"k\":null}", &c));
	assert_true(match("{\"k\":\"x\"}", &c));
	assert_true(match("{\"k\":2.50}", &c));
	assert_false(match("{\"k\":2}", &c));
}

static void test_top_level_only(void **state)
{
	const char *m =
	    " {\n \"o\" : {\"topic\":\"cats\", \"s\":\"}{\\\"\"} , \"l\":[{\"topic\":1}],"
	    "\"topic\" :\t\"dogs\" } ";
	(void)state;
	assert_false(eq(m, "topic", "\"cats\""));
	assert_true(eq(m, "topic", "\"dogs\""));
	assert_false(eq(m, "s", "\"}{\\\"\""));
	assert_false(eq("{\"o\":{\"k\":1}}", "k", "1"));
	assert_false(eq("{\"o\":\"\\\"k\\\":1\"}", "k", "1"));
}

static void test_every_condition_must_hold(void **state)
{
	const char *m = "{\"user\":\"u3\",\"topic\":\"cats\",\"n\":4,\"orig\":null}";
	const char *users[] = {"\"u1\"", "\"u3\""}, *topics[] = {"\"cats\"", "\"dogs\""};
	const char *nulls[] = {"null"};
	struct metaq_condition c[] = {
	    {.key = "user", .any_of = users, .n_any_of = 2},
	    {.key = "topic", .any_of = topics, .n_any_of = 2},
	    {.key = "n", .has_min = 1, .min = 1},
	    {.key = "n", .has_max = 1, .max = 4},
	    {.key = "orig", .any_of = nulls, .n_any_of = 1},
	};
	(void)state;
	assert_true(match_n(m, strlen(m), c, 5));
	c[3].max_exclusive = 1;
	assert_false(match_n(m, strlen(m), c, 5));
	assert_true(match_n(m, strlen(m), c, 3));
	c[0].n_any_of = 1;
	assert_false(match_n(m, strlen(m), c, 3));
	const char *other = "{\"user\":\"u1\",\"n\":4}";
	assert_false(match_n(other, strlen(other), c, 3));
	/* No conditions: everything matches. */
	assert_true(match_n("", 0, c, 0));
}

/* Broken metadata never matches beyond what it holds, and is never read
 * past its end (match_n copies exactly its bytes). */
static void test_broken_metadata(void **state)
{
	static const char *const broken[] = {
	    "",
	    "[]",
	    "{",
	    "{\"k\"",
	    "{\"k\":",
	    "{\"k\":}",
	    "{\"k\" 1}",
	    "{k:1}",
	    "{\"k\":\"1",
	    "{\"k\":\"\\",
	    "{\"k\":\"\\u12",
	    "{\"k\":\"\\u12\"}",
	    "{\"k\":\"\\ud800\"}",
	    "{\"k\":\"\\udc00\"}",
	    "{\"k\":\"\\ud800\\u0041\"}",
	    "{\"k\":\"\\u0000\"}",
	    "{\"k\":\"\\x\"}",
	    "{\"k\":[1,{\"a\":\"]\"}",
	    "{\"k\":01}",
	    "{\"k\":1.}",
	    "{\"k\":.5}",
	    "{\"k\":-}",
	    "{\"k\":1e}",
	    "{\"k\":+1}",
	    "{\"k\":tru}",
	    "{\"k\":nul}",
	    "{\"a\":1 \"k\":1}",
	    "{\"a\":[1,2,\"k\":1}",
	};
	const char *vals[] = {"1", "\"1\"", "\"\\u1234\"", "true", "null", "\"\\ud800\\udc00\""};
	struct metaq_condition c = {.key = "k", .any_of = vals, .n_any_of = 6};
	struct metaq_condition r = {.key = "k", .has_min = 1, .min = -1e300};
	(void)state;
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		size_t len = strlen(broken[i]);
		if (match_n(broken[i], len, &c, 1) || match_n(broken[i], len, &r, 1))
			fail_msg("%s matched", broken[i]);
	}
	/* Every cut of a valid object: the key's value is whole or missing. */
	const char *whole = "{\"a\":[\"x\",{\"k\":2}],\"b\":\"\\ud83d\\ude00\",\"k\":1, \"z\":{}}";
	size_t value_end = strstr(whole, "\"k\":1") + 5 - whole;
	for (size_t len = 0; len <= strlen(whole); len++)
		assert_int_equal(match_n(whole, len, &c, 1), len >= value_end);
	/* Random bytes, and valid text with random bytes changed. */
	uint64_t seed = 99;
	for (int round = 0; round < 20000; round++) {
		char buf[64];
		size_t len = strlen(whole) < sizeof buf ? strlen(whole) : sizeof buf;
		memcpy(buf, whole, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			buf[seed % len] =
			    round % 2 ? (char)(seed >> 8) : "{}[]\",:\\ku1"[(seed >> 8) % 11];
		}
		(void)match_n(buf, len, &c, 1);
		(void)match_n(buf, len, &r, 1);
	}
}

static void refused(const struct metaq_condition *c, size_t n, int code, const char *want)
{
	char msg[256] = "";
	struct metaq *q = (struct metaq *)1;
	int rc = metaq_compile(c, n, "filter.where", &q, msg, sizeof msg);
	if (rc != code || strstr(msg, want) == NULL)
		fail_msg("gave %d \"%s\"; wanted %d with \"%s\"", rc, msg, code, want);
	if (code == 0)
		metaq_free(q);
	else
		assert_null(q);
	/* A check only says the same. */
	assert_int_equal(metaq_compile(c, n, "filter.where", NULL, NULL, 0), code);
}

static void refused_value(const char *v, int code, const char *want)
{
	const char *vals[] = {"1", v};
	refused(&(struct metaq_condition){.key = "k", .any_of = vals, .n_any_of = 2}, 1, code,
		want);
}

static void test_refusals(void **state)
{
	static char long_key[METAQ_MAX_KEY + 2], long_value[METAQ_MAX_VALUE + 2];
	static const char *many[METAQ_MAX_ANY_OF + 1];
	struct metaq_condition conds[METAQ_MAX_CONDITIONS + 1];
	(void)state;
	for (size_t i = 0; i <= METAQ_MAX_CONDITIONS; i++)
		conds[i] = (struct metaq_condition){.key = "k", .has_min = 1};
	assert_int_equal(metaq_compile(conds, METAQ_MAX_CONDITIONS, "w", NULL, NULL, 0), 0);
	refused(conds, METAQ_MAX_CONDITIONS + 1, ROOST_ETOOBIG,
		"filter.where has 17 conditions; the limit is 16");
	refused(&(struct metaq_condition){.key = "", .has_min = 1}, 1, ROOST_EINVAL,
		"filter.where[0].key is empty");
	refused(&(struct metaq_condition){.has_min = 1}, 1, ROOST_EINVAL,
		"filter.where[0].key is empty");
	memset(long_key, 'k', METAQ_MAX_KEY);
	assert_int_equal(metaq_compile(&(struct metaq_condition){.key = long_key, .has_min = 1}, 1,
				       "w", NULL, NULL, 0),
			 0);
	long_key[METAQ_MAX_KEY] = 'k';
	refused(&(struct metaq_condition){.key = long_key, .has_min = 1}, 1, ROOST_ETOOBIG,
		"filter.where[0].key is 257 bytes; a key is at most 256 bytes");
	refused(&(struct metaq_condition){.key = "a\xc0\x80", .has_min = 1}, 1, ROOST_EUTF8,
		"filter.where[0].key is not valid UTF-8");
	refused(&(struct metaq_condition){.key = "k", .has_min = 1, .min = NAN}, 1, ROOST_EVALUE,
		"filter.where[0].min is not finite");
	refused(&(struct metaq_condition){.key = "k", .has_max = 1, .max = INFINITY}, 1,
		ROOST_EVALUE, "filter.where[0].max is not finite");
	/* A bound that is off may hold anything. */
	assert_int_equal(
	    metaq_compile(&(struct metaq_condition){.key = "k", .has_min = 1, .max = NAN}, 1, "w",
			  NULL, NULL, 0),
	    0);
	conds[1] = (struct metaq_condition){.key = "k"};
	refused(conds, 2, ROOST_EINVAL, "filter.where[1] tests nothing: give any_of, min or max");
	for (size_t i = 0; i <= METAQ_MAX_ANY_OF; i++)
		many[i] = "1";
	assert_int_equal(
	    metaq_compile(
		&(struct metaq_condition){.key = "k", .any_of = many, .n_any_of = METAQ_MAX_ANY_OF},
		1, "w", NULL, NULL, 0),
	    0);
	refused(
	    &(struct metaq_condition){.key = "k", .any_of = many, .n_any_of = METAQ_MAX_ANY_OF + 1},
	    1, ROOST_ETOOBIG, "filter.where[0].any_of has 1025 values; the limit is 1024");
	memset(long_value, ' ', METAQ_MAX_VALUE);
	long_value[0] = '1';
	refused_value(long_value, 0, "");
	long_value[METAQ_MAX_VALUE] = ' ';
	refused_value(long_value, ROOST_ETOOBIG,
		      "filter.where[0].any_of[1] is 1025 bytes; a value is at most 1024 bytes");
	refused_value("{\"a\":1}", ROOST_EINVAL,
		      "filter.where[0].any_of[1]: expected a JSON scalar (a string, a number, "
		      "true, false or null), found an object");
	refused_value("[1]", ROOST_EINVAL,
		      "filter.where[0].any_of[1]: expected a JSON scalar (a string, a number, "
		      "true, false or null), found an array");
	refused_value("cats", ROOST_EINVAL, "is not a JSON scalar (strings are written in quotes");
	refused_value("\"cats", ROOST_EINVAL, "is not a JSON scalar");
	refused_value("", ROOST_EINVAL, "filter.where[0].any_of[1]: is empty");
	refused_value("  ", ROOST_EINVAL, "is empty");
	refused_value("\"a\" \"b\"", ROOST_EINVAL, "holds more than one JSON value");
	refused_value("1 2", ROOST_EINVAL, "holds more than one JSON value");
	refused_value("NaN", ROOST_EINVAL, "is not a JSON scalar");
	refused_value("01", ROOST_EINVAL, "is not a JSON scalar");
	refused_value("\"\xff\"", ROOST_EUTF8, "not valid UTF-8");
	refused_value("\"\\ud800\"", ROOST_EUTF8, "surrogate");
	refused_value("\"\\u0000\"", ROOST_EINVAL, "U+0000");
	refused_value("1234567890123456789012345678901234567890123456789012345678901234567890",
		      ROOST_ETOOBIG, "number longer than 64 characters");
	refused_value(" null\n", 0, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_types_are_kept),
	    cmocka_unit_test(test_numbers_compare_by_value),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_strings_unescaped),
	    cmocka_unit_test(test_any_of_sets),
	    cmocka_unit_test(test_top_level_only),
	    cmocka_unit_test(test_every_condition_must_hold),
	    cmocka_unit_test(test_broken_metadata),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
