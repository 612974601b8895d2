#include "mindex.h"

#include "coll.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

/* A distinct value: its JSON text (in the rows' own memory, which
 * outlives the index) and its rows, ascending. */
struct mindex__value {
	const char *text;
	uint32_t len;
	uint64_t hash;
	uint64_t *rows;
	uint64_t n, cap;
};

/* One key's values, found by their text through open addressing (slot:
 * value index + 1; 0 empty), at most half full. */
struct mindex__key {
	char name[COLL_NAME_MAX + 1];
	size_t len;
	struct mindex__value *vals;
	uint64_t nvals, vals_cap;
	uint64_t *slots;
	uint64_t slots_cap;
};

struct mindex {
	uint32_t nkeys;
	uint64_t indexed; /* rows below this are in the index */
	struct mindex__key k[COLL_KEYS_COUNT];
};

static uint64_t mindex__hash(const char *s, uint32_t len)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (uint32_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static uint64_t *mindex__slot(const struct mindex__key *k, const char *text, uint32_t len,
			      uint64_t hash)
{
	uint64_t mask = k->slots_cap - 1;
	for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
		uint64_t *s = &k->slots[i];
		const struct mindex__value *v = *s ? &k->vals[*s - 1] : NULL;
		if (!v || (v->hash == hash && v->len == len && memcmp(v->text, text, len) == 0))
			return s;
	}
}

static int mindex__grow_slots(struct mindex__key *k)
{
	if ((k->nvals + 1) * 2 <= k->slots_cap)
		return 0;
	uint64_t cap = k->slots_cap ? k->slots_cap * 2 : 64;
	uint64_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return ROOST_ENOMEM;
	free(k->slots);
	k->slots = slots;
	k->slots_cap = cap;
	for (uint64_t i = 0; i < k->nvals; i++)
		*mindex__slot(k, k->vals[i].text, k->vals[i].len, k->vals[i].hash) = i + 1;
	return 0;
}

static int mindex__push(uint64_t **a, uint64_t *n, uint64_t *cap, uint64_t v)
{
	if (*n == *cap) {
		uint64_t c = *cap ? *cap * 2 : 4;
		uint64_t *b = realloc(*a, c * sizeof *b);
		if (!b)
			return ROOST_ENOMEM;
		*a = b;
		*cap = c;
	}
	(*a)[(*n)++] = v;
	return 0;
}

/* Adds row to the value text[0..len) of k. */
static int mindex__add(struct mindex__key *k, const char *text, uint32_t len, uint64_t row)
{
	uint64_t hash = mindex__hash(text, len);
	int rc = mindex__grow_slots(k);
	if (rc)
		return rc;
	uint64_t *slot = mindex__slot(k, text, len, hash);
	if (!*slot) {
		if (k->nvals == k->vals_cap) {
			uint64_t c = k->vals_cap ? k->vals_cap * 2 : 16;
			struct mindex__value *v = realloc(k->vals, c * sizeof *v);
			if (!v)
				return ROOST_ENOMEM;
			k->vals = v;
			k->vals_cap = c;
		}
		k->vals[k->nvals++] =
		    (struct mindex__value){.text = text, .len = len, .hash = hash};
		*slot = k->nvals;
	}
	struct mindex__value *v = &k->vals[*slot - 1];
	return mindex__push(&v->rows, &v->n, &v->cap, row);
}

int mindex_new(struct mindex **out, const char *keys)
{
	*out = NULL;
	size_t total = strlen(keys), at = 0, start, len;
	if (total == 0)
		return 0;
	struct mindex *x = calloc(1, sizeof *x);
	if (!x)
		return ROOST_ENOMEM;
	while (at < total && x->nkeys < COLL_KEYS_COUNT) {
		len = coll_keys_next(keys, &at, &start);
		struct mindex__key *k = &x->k[x->nkeys++];
		k->len = len < COLL_NAME_MAX ? len : COLL_NAME_MAX;
		memcpy(k->name, keys + start, k->len);
	}
	*out = x;
	return 0;
}

/* Adds row r of d under each key it holds. */
static int mindex__row(struct mindex *x, const struct segment_docs *d, uint64_t r)
{
	struct segment_row row;
	segment_row(d, r, &row);
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < x->nkeys; i++) {
		const char *v;
		size_t len;
		if (metaq_value_of(row.meta, row.meta_len, x->k[i].name, x->k[i].len, &v, &len))
			rc = mindex__add(&x->k[i], v, (uint32_t)len, r);
	}
	return rc;
}

int mindex_extend(struct mindex *x, const struct segment_docs *d)
{
	int rc = 0;
	while (x && rc == 0 && x->indexed < d->count)
		if ((rc = mindex__row(x, d, x->indexed)) == 0)
			x->indexed++;
	return rc;
}

uint64_t mindex_rows(const struct mindex *x)
{
	return x ? x->indexed : 0;
}

int mindex_build(struct mindex **out, const struct segment_docs *d, const char *keys)
{
	int rc = mindex_new(out, keys);
	if (rc == 0 && (rc = mindex_extend(*out, d)) != 0) {
		mindex_free(*out);
		*out = NULL;
	}
	return rc;
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
		for (uint64_t r = 0; r < val->n && val->rows[r] < rows; r++) {
			bits[val->rows[r] / 8] |= (uint8_t)(1u << (val->rows[r] % 8));
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
		for (uint64_t v = 0; v < x->k[i].nvals; v++)
			free(x->k[i].vals[v].rows);
		free(x->k[i].vals);
		free(x->k[i].slots);
	}
	free(x);
}
