/* Metadata conditions (proto/metaq.h): a condition from a search request
 * and a row's metadata, both any bytes. The input is a flags byte (bit 0
 * has_min, 1 min_exclusive, 2 has_max, 3 max_exclusive), min and max as
 * two native doubles, then lines: the key, its any_of values up to an
 * empty line, and the metadata after it.
 *
 * What metaq_compile refuses has a one-line UTF-8 message. What it takes
 * is matched against the metadata from a copy of exactly its bytes, so
 * that a read past them shows; the answer is 0 or 1, the same for the
 * condition given twice, and 0 whenever valid metadata lacks the key at
 * its top level (read here by the strict JSON reader). */
#include "batch.h"
#include "err.h"
#include "fuzz.h"
#include "jsonlex.h"
#include "meta.h"
#include "metaq.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_METAQ_VALUES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_metaq_key {
	const char *key;
	int found;
};

static int fuzz_metaq_member(struct jsonlex *lx, const char *key, size_t keylen, void *ctx)
{
	struct fuzz_metaq_key *k = ctx;
	k->found |= keylen == strlen(k->key) && memcmp(key, k->key, keylen) == 0;
	return jsonlex_any(lx, META_MAX_DEPTH - 1);
}

/* The next line of text[*at..len) as a NUL-terminated copy in a malloc'ed
 * block (lines hold no NUL: one ends the input's text). */
static char *fuzz_metaq_line(const char *text, size_t len, size_t *at)
{
	const char *nl = memchr(text + *at, '\n', len - *at);
	size_t end = nl ? (size_t)(nl - text) : len;
	char *line = strndup(text + *at, end - *at);
	FUZZ_CHECK(line != NULL);
	*at = nl ? end + 1 : len;
	return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 17)
		return 0;
	struct metaq_condition c = {.has_min = data[0] & 1,
				    .min_exclusive = data[0] >> 1 & 1,
				    .has_max = data[0] >> 2 & 1,
				    .max_exclusive = data[0] >> 3 & 1};
	memcpy(&c.min, data + 1, sizeof c.min);
	memcpy(&c.max, data + 9, sizeof c.max);
	const char *text = (const char *)data + 17;
	size_t len = strnlen(text, size - 17), at = 0;
	char *key = fuzz_metaq_line(text, len, &at);
	char *vals[FUZZ_METAQ_VALUES];
	size_t n = 0;
	while (at < len && n < FUZZ_METAQ_VALUES && text[at] != '\n')
		vals[n++] = fuzz_metaq_line(text, len, &at);
	at += at < len;
	c.key = key;
	c.any_of = (const char *const *)vals;
	c.n_any_of = n;

	struct metaq *q, *q2;
	char msg[256];
	int rc = metaq_compile(&c, 1, "where", &q, msg, sizeof msg);
	if (rc != 0) {
		FUZZ_CHECK(rc == ROOST_EINVAL || rc == ROOST_ETOOBIG || rc == ROOST_EUTF8 ||
			   rc == ROOST_EVALUE || rc == ROOST_ENOMEM);
		size_t m = strnlen(msg, sizeof msg);
		FUZZ_CHECK(m > 0 && m < sizeof msg && batch_utf8_valid(msg, m) &&
			   memchr(msg, '\n', m) == NULL);
	} else {
		const struct metaq_condition twice[] = {c, c};
		FUZZ_CHECK(metaq_compile(twice, 2, "where", &q2, NULL, 0) == 0);
		char *meta = fuzz_copy(text + at, len - at);
		int got = metaq_match(q, meta, len - at);
		FUZZ_CHECK(got == 0 || got == 1);
		FUZZ_CHECK(metaq_match(q2, meta, len - at) == got);
		if (got && meta_check(meta, len - at, NULL, 0) == 0) {
			struct fuzz_metaq_key k = {.key = key};
			struct jsonlex lx;
			jsonlex_begin(&lx, meta, len - at, NULL, 0);
			FUZZ_CHECK(jsonlex_members(&lx, fuzz_metaq_member, &k) == 0 && k.found);
		}
		free(meta);
		metaq_free(q);
		metaq_free(q2);
	}
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	free(key);
	return 0;
}
