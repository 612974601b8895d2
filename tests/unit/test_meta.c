/* Unit tests for proto/meta.c: which metadata objects are taken, and what
 * the refusals say. */
#include "batch.h"
#include "err.h"
#include "meta.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(const char *s, char *msg, size_t msglen)
{
	return meta_check(s, strlen(s), msg, msglen);
}

static void test_accepts_objects(void **state)
{
	const char *good[] = {
	    "{}",
	    " { \"a\" : 1 } ",
	    "{\"post\":12,\"user\":\"bob\",\"topic\":\"cats\",\"action\":\"retweet\",\"orig\":"
	    "null}",
	    "{\"n\":-0.5e-3,\"b\":true,\"f\":false,\"l\":[1,[2,[3]],{\"x\":{}}]}",
	    "{\"\\u00e9t\\u00e9\":\"\\ud83d\\ude00\",\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
	    /* Keys repeat freely below the top level. */
	    "{\"a\":{\"k\":1,\"k\":2}}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char msg[256] = "";
		if (check(good[i], msg, sizeof msg) != 0)
			fail_msg("refused %s: %s", good[i], msg);
	}
}

static void expect(const char *s, int code, const char *want)
{
	char msg[256] = "";
	int rc = check(s, msg, sizeof msg);
	if (rc != code || strstr(msg, want) == NULL)
		fail_msg("%s gave %d \"%s\"; wanted %d with \"%s\"", s, rc, msg, code, want);
}

static void test_refusals_say_where(void **state)
{
	(void)state;
	expect("", ROOST_EPROTO, "metadata: unexpected end of input");
	expect("[]", ROOST_EINVAL, "metadata: expected an object, found an array");
	expect("\"x\"", ROOST_EINVAL, "expected an object, found a string");
	expect("{\"a\":1,\"a\":2}", ROOST_EINVAL, "metadata.a: key appears twice");
	expect("{\"a\":[1,}", ROOST_EPROTO, "metadata.a[1]");
	expect("{\"a\":01}", ROOST_EPROTO, "leading 0");
	expect("{\"a\":\"\\u0000\"}", ROOST_EINVAL, "metadata.a");
	expect("{\"a\":\"\xff\"}", ROOST_EUTF8, "metadata.a");
	expect("{\"a\":1}}", ROOST_EPROTO, "unexpected bytes after the object");
	expect("{\"a\":nul}", ROOST_EINVAL, "metadata.a");
	expect("{a:1}", ROOST_EPROTO, "expected a field name");
}

/* Nesting is bounded, so a hostile text cannot run the checker's stack
 * down; the limit itself is fine. */
static void test_depth(void **state)
{
	(void)state;
	char deep[4 * META_MAX_DEPTH + 16];
	size_t n = 0;
	for (unsigned d = 0; d < META_MAX_DEPTH; d++)
		n += (size_t)sprintf(deep + n, d == 0 ? "{\"a\":" : "[");
	n += (size_t)sprintf(deep + n, "1");
	for (unsigned d = 1; d < META_MAX_DEPTH; d++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	assert_int_equal(check(deep, NULL, 0), 0);
	char deeper[sizeof deep + 4];
	snprintf(deeper, sizeof deeper, "{\"b\":%s}", deep);
	expect(deeper, ROOST_EINVAL, "nested too deep");
}

static void test_size_limit(void **state)
{
	(void)state;
	char *big = malloc(BATCH_MAX_META + 2);
	assert_non_null(big);
	memset(big, ' ', BATCH_MAX_META + 1);
	memcpy(big, "{\"a\":\"", 6);
	memcpy(big + BATCH_MAX_META - 2, "\"}", 2);
	for (size_t i = 6; i < BATCH_MAX_META - 2; i++)
		big[i] = 'x';
	assert_int_equal(meta_check(big, BATCH_MAX_META, NULL, 0), 0);
	char msg[128];
	assert_int_equal(meta_check(big, BATCH_MAX_META + 1, msg, sizeof msg), ROOST_ETOOBIG);
	assert_string_equal(msg, "metadata is 16385 bytes; the limit is 16384 bytes");
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_objects),
	    cmocka_unit_test(test_refusals_say_where),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
