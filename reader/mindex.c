#include "mindex.h"

#include "coll.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

/* A distinct value: its JSON text in the segment, and its rows, ascending,
 * at rows[first .. first + n) of its key. */
struct mindex__value {
	const char *text;
	uint32_t len;
	uint64_t first, n;
};

struct mindex__key {
	char name[COLL_NAME_MAX + 1];
	size_t len;
	struct mindex__value *vals;
	uint64_t nvals;
	uint64_t *rows;
};

struct mindex {
	uint32_t nkeys;
	struct mindex__key k[COLL_KEYS_COUNT];
};

struct mindex__entry {
	const char *text;
	uint32_t len;
	uint64_t row;
};

static int mindex__by_value(const void *pa, const void *pb)
{
	const struct mindex__entry *a = pa, *b = pb;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	int c = memcmp(a->text, b->text, a->len);
	if (c)
		return c;
	return a->row < b->row ? -1 : a->row > b->row;
}

/* The rows of d that hold key k, sorted by value then row; *n of them. */
static struct mindex__entry *mindex__entries(const struct mindex__key *k,
					     const struct segment_docs *d, uint64_t *n)
{
	struct mindex__entry *e = malloc(sizeof *e * (d->count ? d->count : 1));
	*n = 0;
	for (uint64_t r = 0; e && r < d->count; r++) {
		struct segment_row x;
		const char *v;
		size_t len;
		segment_row(d, r, &x);
		if (metaq_value_of(x.meta, x.meta_len, k->name, k->len, &v, &len))
			e[(*n)++] =
			    (struct mindex__entry){.text = v, .len = (uint32_t)len, .row = r};
	}
	if (e)
		qsort(e, *n, sizeof *e, mindex__by_value);
	return e;
}

/* Groups sorted entries into the key's values and rows. */
static int mindex__group(struct mindex__key *k, const struct mindex__entry *e, uint64_t n)
{
	k->vals = malloc(sizeof *k->vals * (n ? n : 1)); /* shrunk to the distinct ones below */
	k->rows = malloc(sizeof *k->rows * (n ? n : 1));
	if (!k->vals || !k->rows)
		return ROOST_ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		struct mindex__value *last = k->nvals ? &k->vals[k->nvals - 1] : NULL;
		if (!last || last->len != e[i].len || memcmp(last->text, e[i].text, e[i].len) != 0)
			k->vals[k->nvals++] =
			    (struct mindex__value){.text = e[i].text, .len = e[i].len, .first = i};
		k->vals[k->nvals - 1].n++;
		k->rows[i] = e[i].row;
	}
	struct mindex__value *fit = realloc(k->vals, sizeof *k->vals * (k->nvals ? k->nvals : 1));
	if (fit)
		k->vals = fit;
	return 0;
}

static int mindex__key_build(struct mindex__key *k, const struct segment_docs *d)
{
	uint64_t n;
	struct mindex__entry *e = mindex__entries(k, d, &n);
	int rc = e ? mindex__group(k, e, n) : ROOST_ENOMEM;
	free(e);
	return rc;
}

int mindex_build(struct mindex **out, const struct segment_docs *d, const char *keys)
{
	*out = NULL;
	size_t total = strlen(keys), at = 0, start, len;
	if (total == 0)
		return 0;
	struct mindex *x = calloc(1, sizeof *x);
	int rc = x ? 0 : ROOST_ENOMEM;
	while (rc == 0 && at < total && x->nkeys < COLL_KEYS_COUNT) {
		len = coll_keys_next(keys, &at, &start);
		struct mindex__key *k = &x->k[x->nkeys++];
		k->len = len < COLL_NAME_MAX ? len : COLL_NAME_MAX;
		memcpy(k->name, keys + start, k->len);
		rc = mindex__key_build(k, d);
	}
	if (rc) {
		mindex_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

/* The indexed key condition i of q tests; NULL when it is not indexed. */
static const struct mindex__key *mindex__key_of(const struct mindex *x, const struct metaq *q,
						size_t i)
{
	size_t len;
	const char *key = metaq_key(q, i, &len);
	for (uint32_t j = 0; x && j < x->nkeys; j++)
		if (x->k[j].len == len && memcmp(x->k[j].name, key, len) == 0)
			return &x->k[j];
	return NULL;
}

int mindex_covers(const struct mindex *x, const struct metaq *q)
{
	for (size_t i = 0; i < metaq_count(q); i++)
		if (mindex__key_of(x, q, i))
			return 1;
	return 0;
}

/* How many rows hold a value of k that meets condition i of q. */
static uint64_t mindex__rows_meeting(const struct mindex__key *k, const struct metaq *q, size_t i)
{
	uint64_t n = 0;
	for (uint64_t v = 0; v < k->nvals; v++)
		if (metaq_value_meets(q, i, k->vals[v].text, k->vals[v].len))
			n += k->vals[v].n;
	return n;
}

uint64_t mindex_select(const struct mindex *x, const struct metaq *q, uint64_t rows, uint8_t *bits)
{
	/* The narrowest indexed condition is enough: every candidate is
	 * tested against the whole filter afterwards. */
	const struct mindex__key *best = NULL;
	size_t best_cond = 0;
	uint64_t fewest = UINT64_MAX;
	for (size_t i = 0; i < metaq_count(q); i++) {
		const struct mindex__key *k = mindex__key_of(x, q, i);
		uint64_t m = k ? mindex__rows_meeting(k, q, i) : UINT64_MAX;
		if (m < fewest) {
			fewest = m;
			best = k;
			best_cond = i;
		}
	}
	uint64_t n = 0;
	for (uint64_t v = 0; best && v < best->nvals; v++) {
		const struct mindex__value *val = &best->vals[v];
		if (!metaq_value_meets(q, best_cond, val->text, val->len))
			continue;
		for (uint64_t r = val->first; r < val->first + val->n; r++)
			if (best->rows[r] < rows) {
				bits[best->rows[r] / 8] |= (uint8_t)(1u << (best->rows[r] % 8));
				n++;
			}
	}
	return n;
}

uint64_t mindex_values(const struct mindex *x, uint32_t i)
{
	return x && i < x->nkeys ? x->k[i].nvals : 0;
}

void mindex_free(struct mindex *x)
{
	for (uint32_t i = 0; x && i < x->nkeys; i++) {
		free(x->k[i].vals);
		free(x->k[i].rows);
	}
	free(x);
}
