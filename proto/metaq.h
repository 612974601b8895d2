/* Conditions on document metadata (proto/meta.h): the `where` part of a
 * search filter, compiled once per search and tested on each row's
 * metadata bytes.
 *
 * A condition names a top-level key. The key's value must equal one of
 * any_of (JSON scalars given as JSON text), and lie in the numeric range
 * the bounds give; the parts it sets must all hold, and so must every
 * condition. A row whose metadata lacks the key, or whose value is of
 * another JSON type, does not match; objects and arrays match nothing.
 *
 * Values compare by JSON type first: a number never equals the string
 * "5", true never equals 1. Then:
 *  - strings by their characters once unescaped ("\u00e9" equals "é";
 *    surrogate pairs are one character), byte for byte in UTF-8, with no
 *    Unicode normalisation;
 *  - numbers by value. A number that is an integer below 2^64 in
 *    magnitude, however written (5, 5.0, 0.5e1, -0), is compared exactly:
 *    9007199254740993 does not equal 9007199254740992, which a double
 *    cannot tell apart. Any other number (0.1, 1e30) is read with strtod in
 *    the C locale and compared as that double; an exact integer never
 *    equals one of those, which is not an integer of that size. Bounds
 *    are doubles, compared exactly with integers too.
 *  - true, false and null each equal only themselves.
 *
 * Metadata is read in place, without allocating: keys and values are
 * found by scanning the object's top level. The writer stores only
 * metadata meta_check() accepted, but nothing is assumed: bytes that are
 * not such an object never match and are never read past len.
 */
#ifndef ROOST_METAQ_H
#define ROOST_METAQ_H

#include <stddef.h>

#define METAQ_MAX_CONDITIONS 16u
#define METAQ_MAX_KEY	     256u  /* bytes of a key */
#define METAQ_MAX_ANY_OF     1024u /* values of one condition */
#define METAQ_MAX_VALUE	     1024u /* bytes of one value's JSON text */

/* A condition as a request gives it; strings NUL-terminated. */
struct metaq_condition {
	const char *key;
	const char *const *any_of; /* JSON scalars as text: "\"cats\"", "5", "null" */
	size_t n_any_of;
	int has_min;
	double min;
	int min_exclusive;
	int has_max;
	double max;
	int max_exclusive;
};

struct metaq;

/* Checks n conditions and compiles them for metaq_match (*out, or NULL
 * when out is NULL: a check only). Fails with ROOST_ETOOBIG (over a
 * limit above), ROOST_EINVAL (an empty key, a value that is not one JSON
 * scalar, a condition that sets neither any_of nor a bound), ROOST_EUTF8,
 * ROOST_EVALUE (a bound that is not finite) or ROOST_ENOMEM, described in
 * msg (NULL or msglen 0: nowhere) with the condition's path, which starts
 * with what ("filter.where": "filter.where[2].any_of[0] ..."). */
int metaq_compile(const struct metaq_condition *conds, size_t n, const char *what,
		  struct metaq **out, char *msg, size_t msglen);

/* 1 when the metadata meta[0..len) meets every condition; else 0. */
int metaq_match(const struct metaq *q, const char *meta, size_t len);

/* How many conditions q holds (0 when q is NULL). */
size_t metaq_count(const struct metaq *q);

/* The key condition i (below metaq_count) tests, unescaped, keylen bytes. */
const char *metaq_key(const struct metaq *q, size_t i, size_t *keylen);

/* Finds the value of top-level key key[0..keylen) in meta[0..len) as
 * metaq_match does (the key compared once unescaped, its first occurrence):
 * 1 and its JSON text in *value, *value_len; 0 when it is not there. */
int metaq_value_of(const char *meta, size_t len, const char *key, size_t keylen, const char **value,
		   size_t *value_len);

/* 1 when a value's JSON text (as metaq_value_of gives it) meets condition
 * i: metaq_match holds for a row exactly when every condition's key is
 * there with a value that meets it. Indexes test each distinct value once
 * with this instead of every row. */
int metaq_value_meets(const struct metaq *q, size_t i, const char *value, size_t len);

void metaq_free(struct metaq *q);

#endif
