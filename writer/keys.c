#include "keys.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

struct keys {
	struct manifest_key *slots; /* open addressing; client_id 0 is empty */
	uint64_t cap, used;
};

static uint64_t keys__hash(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return x;
}

int keys_new(keys **out)
{
	keys *k = calloc(1, sizeof *k);
	if (!k)
		return ROOST_ENOMEM;
	k->cap = 1024;
	k->slots = calloc(k->cap, sizeof *k->slots);
	if (!k->slots) {
		free(k);
		return ROOST_ENOMEM;
	}
	*out = k;
	return 0;
}

void keys_free(keys *k)
{
	if (!k)
		return;
	free(k->slots);
	free(k);
}

static struct manifest_key *keys__slot(struct manifest_key *slots, uint64_t cap, uint64_t id)
{
	for (uint64_t i = keys__hash(id) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (slots[i].client_id == id || slots[i].client_id == 0)
			return &slots[i];
}

static int keys__grow(keys *k)
{
	uint64_t cap = k->cap * 2;
	struct manifest_key *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return ROOST_ENOMEM;
	for (uint64_t i = 0; i < k->cap; i++)
		if (k->slots[i].client_id)
			*keys__slot(slots, cap, k->slots[i].client_id) = k->slots[i];
	free(k->slots);
	k->slots = slots;
	k->cap = cap;
	return 0;
}

int keys_repeats(const keys *k, uint64_t client_id, uint64_t seq, uint64_t lsn)
{
	const struct manifest_key *s = keys__slot(k->slots, k->cap, client_id);
	return s->client_id == client_id && seq <= s->seq && s->lsn < lsn;
}

int keys_put(keys *k, uint64_t client_id, uint64_t seq, uint64_t lsn, uint32_t count)
{
	if ((k->used + 1) * 2 > k->cap) {
		int rc = keys__grow(k);
		if (rc)
			return rc;
	}
	struct manifest_key *s = keys__slot(k->slots, k->cap, client_id);
	if (s->client_id == 0)
		k->used++;
	else if (seq <= s->seq)
		return 0;
	*s = (struct manifest_key){.client_id = client_id, .seq = seq, .lsn = lsn, .count = count};
	return 0;
}

static int keys__newer(const void *a, const void *b)
{
	const struct manifest_key *x = a, *y = b;
	return x->lsn < y->lsn ? 1 : x->lsn > y->lsn ? -1 : 0;
}

int keys_export(const keys *k, struct manifest_key **out, uint32_t *n)
{
	struct manifest_key *all = malloc((k->used ? k->used : 1) * sizeof *all);
	if (!all)
		return ROOST_ENOMEM;
	uint64_t m = 0;
	for (uint64_t i = 0; i < k->cap; i++)
		if (k->slots[i].client_id)
			all[m++] = k->slots[i];
	qsort(all, m, sizeof *all, keys__newer);
	*out = all;
	*n = (uint32_t)(m < KEYS_KEEP ? m : KEYS_KEEP);
	return 0;
}

void keys_each(const keys *k, keys_fn fn, void *arg)
{
	for (uint64_t i = 0; i < k->cap; i++)
		if (k->slots[i].client_id)
			fn(arg, &k->slots[i]);
}
