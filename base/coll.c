#include "coll.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

static int coll__name_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '_' || c == '.' || c == '-');
}

/* A name is echoed in messages only when it cannot garble them. */
static int coll__printable(const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return 0;
	return n > 0;
}

int coll_name_check(const char *name, char *why, size_t len)
{
	const char *problem = NULL;
	size_t n = name ? strnlen(name, COLL_NAME_MAX + 1) : 0;
	if (n == 0)
		problem = "is empty";
	else if (n > COLL_NAME_MAX)
		problem = "is longer than 63 bytes";
	for (size_t i = 0; !problem && i < n; i++)
		if (!coll__name_char(name[i], i == 0))
			problem = i == 0 ? "must start with a letter or a digit"
					 : "may hold only letters, digits, '_', '.' and '-'";
	if (!problem)
		return 0;
	if (why && len && coll__printable(name, n))
		snprintf(why, len, "collection name '%.*s'%s %s", n > 63 ? 60 : (int)n, name,
			 n > 63 ? "..." : "", problem);
	else if (why && len)
		snprintf(why, len, "a collection name %s", problem);
	return ROOST_EINVAL;
}

const char *coll_name_or_default(const char *name)
{
	return name && *name ? name : COLL_DEFAULT;
}

int coll_settings_equal(const struct coll_settings *a, const struct coll_settings *b)
{
	return a->dim == b->dim && a->metric == b->metric && strcmp(a->index, b->index) == 0 &&
	       a->train_docs == b->train_docs && a->seal_docs == b->seal_docs &&
	       a->seal_interval_ms == b->seal_interval_ms &&
	       strcmp(a->indexed_keys, b->indexed_keys) == 0;
}

size_t coll_keys_next(const char *keys, size_t *at, size_t *start)
{
	size_t i = *at ? *at + 1 : 0; /* past the comma that ended the last key */
	*start = i;
	while (keys[i] && keys[i] != ',')
		i++;
	*at = i;
	return i - *start;
}

/* Whether key[0..n) is one of the keys that start before upto. */
static int coll__key_listed(const char *keys, size_t upto, const char *key, size_t n)
{
	size_t at = 0, start, len;
	while (at < upto) {
		len = coll_keys_next(keys, &at, &start);
		if (start < upto && len == n && memcmp(keys + start, key, n) == 0)
			return 1;
	}
	return 0;
}

static int coll__key_ok(const char *key, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!coll__name_char(key[i], i == 0))
			return 0;
	return n > 0 && n <= COLL_NAME_MAX;
}

static const char *coll__keys_problem(const char *keys)
{
	static const char shape[] = "must each be 1 to 63 letters, digits, '_', '.' or '-', "
				    "starting with a letter or digit, separated by single commas";
	size_t total = keys ? strnlen(keys, COLL_KEYS_MAX + 1) : 0;
	if (total > COLL_KEYS_MAX)
		return "are longer than 127 bytes in all";
	if (total && keys[total - 1] == ',')
		return shape;
	size_t at = 0, start, n, count = 0;
	while (total && at < total) {
		n = coll_keys_next(keys, &at, &start);
		if (++count > COLL_KEYS_COUNT)
			return "are more than 8";
		if (!coll__key_ok(keys + start, n))
			return shape;
		if (coll__key_listed(keys, start, keys + start, n))
			return "name a key twice";
	}
	return NULL;
}

int coll_keys_check(const char *keys, char *why, size_t len)
{
	const char *problem = coll__keys_problem(keys);
	if (!problem)
		return 0;
	if (why && len)
		snprintf(why, len, "indexed keys %s", problem);
	return ROOST_EINVAL;
}

/* ---- index types ---- */

/* The cursor of a factory string being parsed, and what it asks of the
 * training so far. */
struct coll__parse {
	const char *p;
	uint64_t min_train;
	const char *problem;
};

static int coll__lit(struct coll__parse *x, const char *lit)
{
	size_t n = strlen(lit);
	if (strncmp(x->p, lit, n) != 0)
		return 0;
	x->p += n;
	return 1;
}

/* A decimal number in [lo, hi], or problem says which bound. */
static int coll__num(struct coll__parse *x, uint64_t lo, uint64_t hi, const char *problem,
		     uint64_t *out)
{
	uint64_t v = 0;
	const char *start = x->p;
	for (; *x->p >= '0' && *x->p <= '9'; x->p++)
		v = v > hi ? v : v * 10 + (uint64_t)(*x->p - '0');
	if (x->p == start || v < lo || v > hi) {
		x->problem = problem;
		return 0;
	}
	*out = v;
	return 1;
}

static void coll__train(struct coll__parse *x, uint64_t points)
{
	if (points > x->min_train)
		x->min_train = points;
}

/* PQ<m>[x<bits>]: 2^bits centroids per sub-quantizer to train. */
static int coll__pq(struct coll__parse *x)
{
	uint64_t m, bits = 8;
	if (!coll__lit(x, "PQ"))
		return 0;
	if (!coll__num(x, 1, COLL_MAX_DIM, "PQ sub-quantizers are 1 to 4096", &m))
		return 0;
	if (coll__lit(x, "x") && !coll__num(x, 1, 16, "PQ code sizes are 1 to 16 bits", &bits))
		return 0;
	coll__train(x, 1ull << bits);
	return 1;
}

static int coll__sq(struct coll__parse *x)
{
	return coll__lit(x, "SQfp16") || coll__lit(x, "SQ4") || coll__lit(x, "SQ6") ||
	       coll__lit(x, "SQ8");
}

static int coll__hnsw(struct coll__parse *x)
{
	uint64_t m;
	return coll__num(x, 2, 256, "HNSW neighbours are 2 to 256", &m);
}

/* The types whose build, training, adds, files and searches roost runs
 * and tests; FAISS's factory takes many more, some of which crash it
 * (HNSW1, an NSG quantizer, a 0 anywhere) or fail only at the first seal
 * (an NSG takes one add; PCA64 at dimension 8), stalling the writer. */
static int coll__index(struct coll__parse *x)
{
	if (coll__lit(x, "Flat") || coll__sq(x))
		return 1;
	if (coll__lit(x, "HNSW"))
		return coll__hnsw(x) && (!coll__lit(x, "_") || coll__sq(x) || coll__pq(x));
	if (coll__lit(x, "IVF")) {
		uint64_t lists;
		if (!coll__num(x, 1, 1u << 20, "IVF lists are 1 to 1048576", &lists))
			return 0;
		coll__train(x, lists);
		if (coll__lit(x, "_HNSW") && !coll__hnsw(x))
			return 0;
		return coll__lit(x, ",") && (coll__lit(x, "Flat") || coll__sq(x) || coll__pq(x));
	}
	return coll__pq(x);
}

int coll_index_check(const char *index, uint64_t train_docs, char *why, size_t len)
{
	struct coll__parse x = {.p = index};
	int ok = coll__index(&x) && *x.p == '\0';
	if (ok && train_docs && train_docs < x.min_train) {
		if (why && len)
			snprintf(why, len,
				 "it trains on at least %llu vectors, more than train_docs %llu",
				 (unsigned long long)x.min_train, (unsigned long long)train_docs);
		return ROOST_EINVAL;
	}
	if (!ok && why && len)
		snprintf(why, len, "%s",
			 x.problem ? x.problem
				   : "roost takes these FAISS types: Flat, HNSW<M>[_SQ8|_PQ<m>], "
				     "IVF<n>[_HNSW<M>],<Flat|SQ8|PQ<m>[x<b>]>, "
				     "PQ<m>[x<b>] or SQ8 (SQ4, SQ6, SQfp16)");
	return ok ? 0 : ROOST_EINVAL;
}
