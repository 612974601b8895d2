/* Unit tests for base/opt.c: numbers are whole, in range and nothing
 * else; a command line is read into its table or refused with a reason,
 * never half-read. */
#include "err.h"
#include "opt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static void test_numbers(void **state)
{
	(void)state;
	long long v = 7;
	assert_int_equal(opt_number("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(opt_number("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(opt_number("-3", -5, 5, &v), 0);
	assert_int_equal(v, -3);
	v = 7;
	const char *bad[] = {
	    "", "11", "-1", "+5", " 5", "5 ", "5x", "0x10", "1e3", "--1", "99999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(opt_number(bad[i], 0, 10, &v), ROOST_EINVAL);
	assert_int_equal(opt_number(NULL, 0, 10, &v), ROOST_EINVAL);
	assert_int_equal(v, 7); /* untouched by every refusal */
}

struct cfg {
	const char *name;
	int workers;
	uint32_t docs;
	uint64_t frame;
	int remote;
	int metric;
};

static int parse_metric(const char *s, void *dst)
{
	if (strcmp(s, "l2") && strcmp(s, "ip"))
		return ROOST_EINVAL;
	*(int *)dst = strcmp(s, "ip") == 0;
	return 0;
}

static int parse(struct cfg *c, int argc, char **argv)
{
	const struct opt opts[] = {
	    OPT_STRING("name", &c->name),
	    OPT_NUMBER("workers", OPT_INT, &c->workers, 1, 64),
	    OPT_NUMBER("docs", OPT_U32, &c->docs, 1, 4096),
	    OPT_NUMBER("frame", OPT_U64, &c->frame, 4096, 1ll << 40),
	    OPT_SWITCH("remote", &c->remote),
	    OPT_PARSED("metric", &c->metric, parse_metric, "l2 or ip"),
	};
	return opt_parse("test", argc, argv, opts, sizeof opts / sizeof opts[0]);
}

static void test_parse_fills_the_table(void **state)
{
	(void)state;
	char *argv[] = {"prog",	   "--name",	    "i1",	"--workers", "8",  "--docs", "100",
			"--frame", "1099511627776", "--remote", "--metric",  "ip", NULL};
	struct cfg c = {0};
	assert_int_equal(parse(&c, 12, argv), 0);
	assert_string_equal(c.name, "i1");
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.docs, 100);
	assert_int_equal(c.frame, 1ull << 40);
	assert_int_equal(c.remote, 1);
	assert_int_equal(c.metric, 1);
}

static void test_parse_refuses(void **state)
{
	(void)state;
	char *zero[] = {"prog", "--workers", "0", NULL};
	char *garbage[] = {"prog", "--workers", "8x", NULL};
	char *unknown[] = {"prog", "--wrokers", "8", NULL};
	char *missing[] = {"prog", "--workers", NULL};
	char *stray[] = {"prog", "--remote", "extra", NULL};
	char *parsed[] = {"prog", "--metric", "cosine", NULL};
	char *help[] = {"prog", "--workers", "3", "--help", NULL};
	struct cfg c = {0};
	assert_int_equal(parse(&c, 3, zero), ROOST_EINVAL);
	assert_int_equal(parse(&c, 3, garbage), ROOST_EINVAL);
	assert_int_equal(parse(&c, 3, unknown), ROOST_EINVAL);
	assert_int_equal(parse(&c, 2, missing), ROOST_EINVAL);
	assert_int_equal(parse(&c, 3, stray), ROOST_EINVAL);
	assert_int_equal(parse(&c, 3, parsed), ROOST_EINVAL);
	assert_int_equal(c.workers, 0); /* no refused value was stored */
	assert_int_equal(parse(&c, 4, help), OPT_HELP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_parse_fills_the_table),
	    cmocka_unit_test(test_parse_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
