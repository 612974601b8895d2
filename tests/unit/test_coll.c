/* Unit tests for base/coll.c: what a collection name may be, the message
 * that says why one may not (and never echoes bytes that would garble a
 * terminal or a log), the default name, and settings equality. */
#include "coll.h"
#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define WHY_LEN 160

static void assert_has(const char *s, const char *want)
{
	if (!strstr(s, want))
		fail_msg("\"%s\" does not contain \"%s\"", s, want);
}

/* One line of printable ASCII. */
static void assert_printable(const char *s)
{
	for (const char *c = s; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			fail_msg("byte 0x%02x at %zu of \"%s\"", (unsigned char)*c, (size_t)(c - s),
				 s);
}

/* Refused, with why saying want. */
static void refused(const char *name, const char *want)
{
	char why[WHY_LEN];
	memset(why, 0x5a, sizeof why);
	assert_int_equal(coll_name_check(name, why, sizeof why), ROOST_EINVAL);
	assert_non_null(memchr(why, '\0', sizeof why));
	assert_printable(why);
	assert_has(why, want);
}

static void test_valid_names(void **state)
{
	(void)state;
	static const char *const ok[] = {"default",	     "a",  "Z",	  "0", "9lives", "a.b-c_d",
					 "posts_2024-01.v2", "A-", "x..", "1_"};
	char why[WHY_LEN] = "";
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(coll_name_check(ok[i], why, sizeof why), 0);
		/* No message for a good name: why is left alone. */
		assert_string_equal(why, "");
	}
	assert_int_equal(coll_name_check("posts", NULL, 0), 0);
}

static void test_lengths(void **state)
{
	(void)state;
	char name[COLL_NAME_MAX + 2];
	memset(name, 'n', COLL_NAME_MAX);
	name[COLL_NAME_MAX] = '\0';
	assert_int_equal(coll_name_check(name, NULL, 0), 0);
	name[COLL_NAME_MAX] = 'n';
	name[COLL_NAME_MAX + 1] = '\0';
	/* Echoed cut short, so a long name cannot crowd out the reason. */
	refused(name, "is longer than 63 bytes");
	refused(name, "'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn'...");
	refused("", "a collection name is empty");
	refused(NULL, "a collection name is empty");
}

/* Every byte value, first and later: letters and digits anywhere, '_',
 * '.' and '-' after the first, nothing else. */
static void test_every_byte(void **state)
{
	(void)state;
	for (int b = 1; b < 256; b++) {
		int alnum =
		    (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9');
		int punct = b == '_' || b == '.' || b == '-';
		char first[3] = {(char)b, 'x', '\0'};
		char later[3] = {'x', (char)b, '\0'};
		assert_int_equal(coll_name_check(first, NULL, 0), alnum ? 0 : ROOST_EINVAL);
		assert_int_equal(coll_name_check(later, NULL, 0),
				 alnum || punct ? 0 : ROOST_EINVAL);
		if (!alnum && !punct) {
			refused(later, "may hold only letters, digits, '_', '.' and '-'");
			refused(first, "must start with a letter or a digit");
		}
	}
}

static void test_messages(void **state)
{
	(void)state;
	refused("_x", "collection name '_x' must start with a letter or a digit");
	refused(".hidden", "must start with a letter or a digit");
	refused("-rf", "must start with a letter or a digit");
	refused("has space", "collection name 'has space' may hold only");
	refused("a/b", "collection name 'a/b' may hold only");
	refused("quote'd", "collection name 'quote'd' may hold only");
}

/* A name with a control byte or a non-ASCII one is not echoed at all. */
static void test_unsafe_names_not_echoed(void **state)
{
	(void)state;
	static const char *const bad[] = {"caf\xc3\xa9", "a\nb",	 "a\x1b[2Jb", "a\rb",
					  "a\x7f",	 "\xe2\x98\x95", "tab\there", "\xff"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char why[WHY_LEN];
		assert_int_equal(coll_name_check(bad[i], why, sizeof why), ROOST_EINVAL);
		assert_printable(why);
		/* The generic words, with nothing of the name. */
		assert_int_equal(strncmp(why, "a collection name ", 18), 0);
		assert_null(strstr(why, "collection name '"));
	}
	/* Too long and unsafe: the generic words too. */
	char name[80];
	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	name[10] = '\n';
	refused(name, "a collection name is longer than 63 bytes");
}

/* Short buffers are cut and still terminated; none at all is fine. */
static void test_short_buffers(void **state)
{
	(void)state;
	char why[8];
	memset(why, 0x5a, sizeof why);
	assert_int_equal(coll_name_check("-x", why, sizeof why), ROOST_EINVAL);
	assert_int_equal(strlen(why), sizeof why - 1);
	char one = 'q';
	assert_int_equal(coll_name_check("-x", &one, 1), ROOST_EINVAL);
	assert_int_equal(one, '\0');
	assert_int_equal(coll_name_check("-x", NULL, 100), ROOST_EINVAL);
	one = 'q';
	assert_int_equal(coll_name_check("-x", &one, 0), ROOST_EINVAL);
	assert_int_equal(one, 'q');
}

static void test_name_or_default(void **state)
{
	(void)state;
	assert_string_equal(coll_name_or_default(NULL), COLL_DEFAULT);
	assert_string_equal(coll_name_or_default(""), COLL_DEFAULT);
	const char *mine = "posts";
	assert_ptr_equal(coll_name_or_default(mine), mine);
	assert_int_equal(coll_name_check(coll_name_or_default(NULL), NULL, 0), 0);
}

static void base_settings(struct coll_settings *s)
{
	memset(s, 0, sizeof *s);
	s->dim = 384;
	s->metric = 1;
	snprintf(s->index, sizeof s->index, "IVF64,PQ16");
	s->train_docs = 4096;
	s->seal_docs = 8192;
	s->seal_interval_ms = 2000;
}

static void test_settings_equal(void **state)
{
	(void)state;
	struct coll_settings a, b;
	base_settings(&a);
	base_settings(&b);
	assert_true(coll_settings_equal(&a, &b));
	/* Bytes after the index's NUL are not part of it. */
	memset(b.index + strlen(b.index) + 1, 0x77, sizeof b.index - strlen(b.index) - 1);
	assert_true(coll_settings_equal(&a, &b));
	/* Any one field differing makes them differ. */
	for (int field = 0; field < 7; field++) {
		base_settings(&b);
		switch (field) {
		case 0:
			b.dim++;
			break;
		case 1:
			b.metric = 0;
			break;
		case 2:
			b.index[3] = '3';
			break;
		case 3:
			b.train_docs++;
			break;
		case 4:
			b.seal_docs--;
			break;
		case 5:
			strcpy(b.indexed_keys, "user");
			break;
		default:
			b.seal_interval_ms = 0;
			break;
		}
		assert_false(coll_settings_equal(&a, &b));
		assert_false(coll_settings_equal(&b, &a));
	}
	/* A prefix of an index is another index. */
	base_settings(&b);
	b.index[3] = '\0';
	assert_false(coll_settings_equal(&a, &b));
}

static void test_indexed_keys(void **state)
{
	(void)state;
	const char *good[] = {"", "user", "user,topic", "a.b,c-d,e_f", "k1,k2,k3,k4,k5,k6,k7,k8"};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		assert_int_equal(coll_keys_check(good[i], NULL, 0), 0);
	const char *bad[] = {",",   "user,",	 ",user", "a,,b",     "_a",
			     "a b", "user,user", "a,b,a", "\xc3\xa9", "k1,k2,k3,k4,k5,k6,k7,k8,k9"};
	char why[256];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		why[0] = '\0';
		assert_int_equal(coll_keys_check(bad[i], why, sizeof why), ROOST_EINVAL);
		assert_non_null(strstr(why, "indexed keys "));
	}
	assert_non_null(strstr((coll_keys_check("a,a", why, sizeof why), why), "twice"));
	assert_non_null(strstr((coll_keys_check("a,b,c,d,e,f,g,h,i", why, sizeof why), why), "8"));
	char long_key[70];
	memset(long_key, 'k', 64);
	long_key[64] = '\0';
	assert_int_equal(coll_keys_check(long_key, NULL, 0), ROOST_EINVAL);
	long_key[63] = '\0';
	assert_int_equal(coll_keys_check(long_key, NULL, 0), 0);
	char too_long[COLL_KEYS_MAX + 2];
	memset(too_long, 'a', sizeof too_long - 1);
	too_long[sizeof too_long - 1] = '\0';
	for (size_t i = 10; i < sizeof too_long - 1; i += 11)
		too_long[i] = ',';
	assert_non_null(strstr((coll_keys_check(too_long, why, sizeof why), why), "127 bytes"));
	/* Walking a list gives each key once, in order. */
	const char *list = "user,topic,x";
	size_t at = 0, start, n, seen = 0;
	const char *want[] = {"user", "topic", "x"};
	while (at < strlen(list)) {
		n = coll_keys_next(list, &at, &start);
		assert_int_equal(n, strlen(want[seen]));
		assert_memory_equal(list + start, want[seen], n);
		seen++;
	}
	assert_int_equal(seen, 3);
}

/* The FAISS types clients may ask for, and the ones that crashed or
 * stalled the writer: HNSW1 and NSG quantizers, zeros, PCA and the rest
 * of FAISS's grammar. */
static void test_index_types(void **state)
{
	(void)state;
	static const char *const ok[] = {
	    "Flat",
	    "HNSW32",
	    "HNSW2",
	    "HNSW256",
	    "HNSW32_SQ8",
	    "HNSW16_PQ8",
	    "IVF1024,Flat",
	    "IVF1,Flat",
	    "IVF1048576,Flat",
	    "IVF256,SQ8",
	    "IVF64,PQ16",
	    "IVF4,PQ2x4",
	    "IVF64,PQ16x16",
	    "IVF4_HNSW32,Flat",
	    "IVF16,SQfp16",
	    "PQ8",
	    "PQ8x4",
	    "SQ4",
	    "SQ6",
	    "SQfp16",
	};
	static const char *const refused[] = {
	    "",
	    "flat",
	    "Flat ",
	    "HNSW1",
	    "HNSW0",
	    "HNSW257",
	    "HNSW",
	    "HNSW32_",
	    "HNSW32_Flat",
	    "IVF0,Flat",
	    "IVF1048577,Flat",
	    "IVF4",
	    "IVF4,",
	    "IVF4,Nope",
	    "IVF4_NSG32,Flat",
	    "IVF4_HNSW1,Flat",
	    "IVF4(HNSW1),Flat",
	    "IVF4,PQ0",
	    "IVF4,PQ8x0",
	    "IVF4,PQ2x17",
	    "NSG32",
	    "NSG1",
	    "PCA64,Flat",
	    "OPQ16,Flat",
	    "IMI2x13,Flat",
	    "LSH",
	    "ZnLattice2x4_4",
	    "RCQ2x4",
	    "IDMap,Flat",
	    "IVF4,PQ2x4fs",
	    "PQ",
	    "PQ99999",
	    "SQ16",
	    "Bogus",
	    "IVF4,Flat,Flat",
	};
	char why[256];
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (coll_index_check(ok[i], 0, why, sizeof why) != 0)
			fail_msg("%s refused: %s", ok[i], why);
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		why[0] = '\0';
		if (coll_index_check(refused[i], 0, why, sizeof why) != ROOST_EINVAL || !why[0])
			fail_msg("'%s' taken", refused[i]);
	}
	coll_index_check("HNSW1", 0, why, sizeof why);
	assert_string_equal(why, "HNSW neighbours are 2 to 256");
	coll_index_check("Bogus", 0, why, sizeof why);
	assert_non_null(strstr(why, "FAISS types: Flat"));
}

/* Each k-means of the type needs as many vectors as it has centroids. */
static void test_index_training(void **state)
{
	(void)state;
	char why[256];
	assert_int_equal(coll_index_check("IVF4096,Flat", 4096, why, sizeof why), 0);
	assert_int_equal(coll_index_check("IVF4096,Flat", 4095, why, sizeof why), ROOST_EINVAL);
	assert_string_equal(why, "it trains on at least 4096 vectors, more than train_docs 4095");
	assert_int_equal(coll_index_check("IVF16,PQ8", 255, why, sizeof why), ROOST_EINVAL);
	assert_int_equal(coll_index_check("IVF16,PQ8", 256, why, sizeof why), 0);
	assert_int_equal(coll_index_check("PQ4x12", 4095, why, sizeof why), ROOST_EINVAL);
	assert_int_equal(coll_index_check("Flat", 1, why, sizeof why), 0);
	assert_int_equal(coll_index_check("HNSW32", 1, why, sizeof why), 0);
	assert_int_equal(coll_index_check("IVF4096,Flat", 0, NULL, 0), 0); /* not checked */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_names),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_every_byte),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_unsafe_names_not_echoed),
	    cmocka_unit_test(test_short_buffers),
	    cmocka_unit_test(test_name_or_default),
	    cmocka_unit_test(test_settings_equal),
	    cmocka_unit_test(test_indexed_keys),
	    cmocka_unit_test(test_index_types),
	    cmocka_unit_test(test_index_training),
	};
	return cmocka_run_group_tests_name("coll", tests, NULL, NULL);
}
