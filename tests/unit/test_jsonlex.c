/* Unit tests for proto/jsonlex.c on its own, through a small schema of
 * the test's making: field paths and byte offsets in messages, unknown
 * and duplicate fields, exact 64-bit integers, float32 rounded once,
 * strings, caps; and numbers that keep '.' in a thread whose locale has a
 * decimal comma, for the lexer and the encoder (proto/jsonenc.c). */
#include "err.h"
#include "jsonenc.h"
#include "jsonlex.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <locale.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG_LEN	  512
#define MAX_ITEMS 3

/* The schema: {"n": int64, "u": uint64, "f": float, "on": bool,
 * "name": string, "items": [{"x": uint32}, ...], "v": [float, ...]}. */
struct item {
	uint32_t x;
};

struct doc {
	int64_t n;
	uint64_t u;
	float f;
	int on;
	char *name;
	struct item items[MAX_ITEMS];
	size_t n_items;
	float *v;
	size_t n_v, cap_v;
};

static const char *const item_names[] = {"x", NULL};

static int item_field(struct jsonlex *lx, int f, void *obj)
{
	(void)f;
	return jsonlex_u32(lx, &((struct item *)obj)->x);
}

static const struct jsonlex_object item_object = {"an item", item_names, item_field, ROOST_EINVAL};

static int item_entry(struct jsonlex *lx, void *ctx)
{
	struct doc *d = ctx;

	return jsonlex_object(lx, &item_object, &d->items[d->n_items++]);
}

static const char *const doc_names[] = {"n", "u", "f", "on", "name", "items", "v", NULL};

static int doc_field(struct jsonlex *lx, int f, void *obj)
{
	struct doc *d = obj;
	size_t len;

	switch (f) {
	case 0:
		return jsonlex_i64(lx, &d->n);
	case 1:
		return jsonlex_u64(lx, UINT64_MAX, &d->u);
	case 2:
		return jsonlex_float(lx, &d->f);
	case 3:
		return jsonlex_bool(lx, &d->on);
	case 4:
		return jsonlex_string(lx, &d->name, &len);
	case 5:
		return jsonlex_array(lx, MAX_ITEMS, item_entry, d);
	default:
		return jsonlex_floats(lx, 4, &d->v, &d->n_v, &d->cap_v);
	}
}

static const struct jsonlex_object doc_object = {"the test document", doc_names, doc_field,
						 ROOST_EUNSUPPORTED};

static void doc_free(struct doc *d)
{
	free(d->name);
	free(d->v);
}

static int parse(const char *s, struct doc *d, char *msg)
{
	struct jsonlex lx;

	memset(d, 0, sizeof *d);
	jsonlex_begin(&lx, s, strlen(s), msg, MSG_LEN);
	return jsonlex_text(&lx, &doc_object, d);
}

static struct doc parse_ok(const char *s)
{
	char msg[MSG_LEN];
	struct doc d;
	int rc = parse(s, &d, msg);

	if (rc != 0)
		fail_msg("%s: %d %s", s, rc, msg);
	return d;
}

/* Parsing s fails with code and exactly the message want. */
static void parse_bad(const char *s, int code, const char *want)
{
	char msg[MSG_LEN];
	struct doc d;
	int rc = parse(s, &d, msg);

	doc_free(&d);
	if (rc != code || strcmp(msg, want) != 0)
		fail_msg("%s: got %d \"%s\", want %d \"%s\"", s, rc, msg, code, want);
}

static void test_values(void **state)
{
	(void)state;
	struct doc d = parse_ok(" {\"n\":-9223372036854775808,\"u\":18446744073709551615,"
				"\"f\":0.1,\"on\":true,\"name\":\"a\\u00e9\\ud83d\\ude00\","
				"\"items\":[{\"x\":4294967295},{}],\"v\":[1,-2.5e1]}\n");
	assert_true(d.n == INT64_MIN);
	assert_true(d.u == UINT64_MAX);
	assert_true(d.f == 0.1f);
	assert_true(d.on);
	assert_string_equal(d.name, "a\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(d.n_items, 2);
	assert_true(d.items[0].x == UINT32_MAX);
	assert_int_equal(d.items[1].x, 0);
	assert_int_equal(d.n_v, 2);
	assert_true(d.v[0] == 1.0f && d.v[1] == -25.0f);
	doc_free(&d);
}

/* Messages name the path of the value and the byte where reading stopped. */
static void test_paths_and_offsets(void **state)
{
	(void)state;
	parse_bad("{\"items\":[{\"x\":1},{\"y\":2}]}", ROOST_EINVAL,
		  "items[1].y: unknown field (an item takes x) (at byte 22 of the JSON text)");
	parse_bad("{\"n\":1,\"nn\":2}", ROOST_EUNSUPPORTED,
		  "nn: unknown field (the test document takes n, u, f, on, name, items, v) "
		  "(at byte 11 of the JSON text)");
	parse_bad("{\"items\":[{\"x\":1,\"x\":2}]}", ROOST_EINVAL,
		  "items[0].x: duplicate field (at byte 20 of the JSON text)");
	parse_bad("{\"v\":[1,2,\"3\"]}", ROOST_EINVAL,
		  "v[2]: expected a number, found a string (at byte 10 of the JSON text)");
	parse_bad("{\"items\":[{},{},{},{}]}", ROOST_ETOOBIG,
		  "items: more than 3 entries (at byte 19 of the JSON text)");
	parse_bad("{\"n\":1} x", ROOST_EPROTO,
		  "unexpected bytes after the top-level object (at byte 8 of the JSON text)");
	parse_bad("{\"name\":\"a\\qb\"}", ROOST_EPROTO,
		  "name: unknown escape in a string (at byte 10 of the JSON text)");
}

/* 64-bit integers are exact at both ends, and one past either is refused,
 * never saturated. */
static void test_integers_exact(void **state)
{
	(void)state;
	struct doc d = parse_ok("{\"n\":9223372036854775807,\"u\":0}");
	assert_true(d.n == INT64_MAX);
	doc_free(&d);
	d = parse_ok("{\"n\":-0,\"u\":9007199254740993}");
	assert_true(d.n == 0);
	assert_true(d.u == 9007199254740993u); /* 2^53 + 1: no double holds it */
	doc_free(&d);
	parse_bad("{\"n\":9223372036854775808}", ROOST_EINVAL,
		  "n: 9223372036854775808 is out of the int64 range (at byte 5 of the JSON text)");
	parse_bad("{\"n\":-9223372036854775809}", ROOST_EINVAL,
		  "n: -9223372036854775809 is out of the int64 range (at byte 5 of the JSON "
		  "text)");
	parse_bad("{\"u\":18446744073709551616}", ROOST_EINVAL,
		  "u: 18446744073709551616 is out of range (at byte 5 of the JSON text)");
	parse_bad("{\"u\":-1}", ROOST_EINVAL,
		  "u: -1 is out of range (0 to 18446744073709551615) (at byte 5 of the JSON text)");
	parse_bad("{\"items\":[{\"x\":4294967296}]}", ROOST_EINVAL,
		  "items[0].x: 4294967296 is out of range (0 to 4294967295) (at byte 15 of the "
		  "JSON text)");
	parse_bad("{\"n\":1.0}", ROOST_EINVAL,
		  "n: expected an integer, found 1.0 (at byte 5 of the JSON text)");
}

/* The decimal rounds straight to float32: through a double it would land
 * on the midpoint 1 + 2^-24 first and then round to even, to 1. */
static void test_float_rounded_once(void **state)
{
	(void)state;
	struct doc d = parse_ok("{\"f\":1.0000000596046447753906251}");
	assert_true(d.f == 1.0f + 0x1p-23f);
	doc_free(&d);
	parse_bad("{\"f\":3.5e38}", ROOST_EVALUE,
		  "f: 3.5e38 is beyond float32 range; every value must be finite (at byte 5 of "
		  "the JSON text)");
}

/* ------------------------------------------------------------------ */
/* A thread whose locale writes numbers with a decimal comma.          */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Compiles de_DE into dir/comma with localedef; 0 when that worked. */
static int make_comma_locale(const char *dir)
{
	char out[PATH_MAX];
	if (snprintf(out, sizeof out, "%s/comma", dir) >= (int)sizeof out)
		return -1;
	char *argv[] = {"localedef", "-i", "de_DE", "-f", "UTF-8", out, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	extern char **environ;
	pid_t pid;
	int rc = posix_spawnp(&pid, "localedef", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	int status = 0;
	if (rc == 0 && waitpid(pid, &status, 0) != pid)
		rc = -1;
	return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void test_comma_locale(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX - 16];
	snprintf(dir, sizeof dir, "%s/roost-jsonlex-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	setenv("LOCPATH", dir, 1);
	locale_t comma =
	    make_comma_locale(dir) == 0 ? newlocale(LC_ALL_MASK, "comma", (locale_t)0) : 0;
	unsetenv("LOCPATH");
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	if (comma == (locale_t)0)
		skip(); /* no localedef or no de_DE source on this machine */
	locale_t old = uselocale(comma);
	/* The premise: this thread's strtof and printf use ','. */
	char check[16];
	snprintf(check, sizeof check, "%.1f", 0.5);
	int premise = strcmp(check, "0,5") == 0 && strtof("0.5", NULL) == 0.0f;

	char msg[MSG_LEN];
	struct doc d;
	int rc = parse("{\"f\":0.25,\"v\":[1.5]}", &d, msg);
	Roost__Hit hit = ROOST__HIT__INIT;
	Roost__Hit *hits[] = {&hit};
	Roost__QueryResult q = ROOST__QUERY_RESULT__INIT;
	Roost__QueryResult *qs[] = {&q};
	Roost__SearchReply sr = ROOST__SEARCH_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	hit.score = 0.75f;
	q.n_hits = 1;
	q.hits = hits;
	sr.n_results = 1;
	sr.results = qs;
	r.body_case = ROOST__REPLY__BODY_SEARCH;
	r.search = &sr;
	char *text = NULL;
	int erc = jsonenc_reply(&r, &text, &(size_t){0});
	/* The caller's locale is what it was. */
	int kept = uselocale((locale_t)0) == comma;
	uselocale(old);
	freelocale(comma);

	assert_true(premise);
	assert_int_equal(rc, 0);
	assert_true(d.f == 0.25f && d.n_v == 1 && d.v[0] == 1.5f);
	doc_free(&d);
	assert_int_equal(erc, 0);
	assert_non_null(strstr(text, "\"score\":0.75,"));
	free(text);
	assert_true(kept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values),	   cmocka_unit_test(test_paths_and_offsets),
	    cmocka_unit_test(test_integers_exact), cmocka_unit_test(test_float_rounded_once),
	    cmocka_unit_test(test_comma_locale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
