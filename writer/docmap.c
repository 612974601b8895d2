#include "docmap.h"

#include "batch.h"
#include "err.h"
#include "inst.h"
#include "log.h"
#include "segment.h"

#include <stdlib.h>
#include <string.h>

/* Open addressing, linear probing, at most half full. A forgotten key
 * leaves a marker (key NULL, version 1) so that probes go on past it. */
struct docmap__slot {
	char *key;
	uint32_t len;
	uint64_t version; /* 0: empty */
};

struct docmap {
	struct docmap__slot *keys;
	uint64_t nkeys_cap, nkeys_used; /* used counts markers too */
	uint64_t *ended;		/* set of ended versions (0: empty) */
	uint64_t ended_cap;
	struct tomb *tombs; /* in the order they were ended; room for ended_cap / 2 */
	uint64_t ntombs;
};

static uint64_t docmap__mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return x ^ (x >> 33);
}

/* The slot of key, or the empty one where it would go. */
static struct docmap__slot *docmap__find(const docmap *d, const char *key, uint32_t len)
{
	uint64_t mask = d->nkeys_cap - 1, i = batch_key_hash(key, len) & mask;
	struct docmap__slot *marker = NULL;
	for (;; i = (i + 1) & mask) {
		struct docmap__slot *s = &d->keys[i];
		if (s->version == 0)
			return marker ? marker : s;
		if (!s->key && !marker)
			marker = s;
		if (s->key && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

static int docmap__grow_keys(docmap *d)
{
	if ((d->nkeys_used + 1) * 2 <= d->nkeys_cap)
		return 0;
	uint64_t cap = d->nkeys_cap ? d->nkeys_cap * 2 : 1024;
	struct docmap__slot *old = d->keys;
	uint64_t old_cap = d->nkeys_cap;
	if (!(d->keys = calloc(cap, sizeof *d->keys))) {
		d->keys = old;
		return ROOST_ENOMEM;
	}
	d->nkeys_cap = cap;
	d->nkeys_used = 0;
	for (uint64_t i = 0; i < old_cap; i++)
		if (old[i].key) {
			*docmap__find(d, old[i].key, old[i].len) = old[i];
			d->nkeys_used++;
		}
	free(old);
	return 0;
}

int docmap_upsert(docmap *d, const char *key, uint32_t len, uint64_t version, uint64_t *ended)
{
	*ended = 0;
	int rc = docmap__grow_keys(d);
	if (rc)
		return rc;
	struct docmap__slot *s = docmap__find(d, key, len);
	if (s->key) {
		*ended = s->version;
		s->version = version;
		return 0;
	}
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return ROOST_ENOMEM;
	memcpy(copy, key, len);
	d->nkeys_used += s->version == 0; /* a reused marker was counted */
	*s = (struct docmap__slot){.key = copy, .len = len, .version = version};
	return 0;
}

void docmap_forget(docmap *d, const char *key, uint32_t len, uint64_t *ended)
{
	*ended = 0;
	if (!d->nkeys_cap)
		return;
	struct docmap__slot *s = docmap__find(d, key, len);
	if (!s->key)
		return;
	*ended = s->version;
	free(s->key);
	*s = (struct docmap__slot){.key = NULL, .version = 1};
}

static uint64_t *docmap__ended_slot(const docmap *d, uint64_t version)
{
	uint64_t mask = d->ended_cap - 1, i = docmap__mix(version) & mask;
	while (d->ended[i] && d->ended[i] != version)
		i = (i + 1) & mask;
	return &d->ended[i];
}

static int docmap__grow_ended(docmap *d)
{
	if ((d->ntombs + 1) * 2 <= d->ended_cap)
		return 0;
	uint64_t cap = d->ended_cap ? d->ended_cap * 2 : 1024;
	uint64_t *set = calloc(cap, sizeof *set);
	struct tomb *tombs = realloc(d->tombs, cap / 2 * sizeof *tombs);
	if (tombs)
		d->tombs = tombs;
	if (!set || !tombs) {
		free(set);
		return ROOST_ENOMEM;
	}
	free(d->ended);
	d->ended = set;
	d->ended_cap = cap;
	for (uint64_t i = 0; i < d->ntombs; i++)
		*docmap__ended_slot(d, d->tombs[i].version) = d->tombs[i].version;
	return 0;
}

int docmap_end(docmap *d, uint64_t version, uint64_t end_lsn, int *ended_now)
{
	*ended_now = 0;
	int rc = docmap__grow_ended(d);
	if (rc)
		return rc;
	uint64_t *slot = docmap__ended_slot(d, version);
	if (*slot)
		return 0;
	*slot = version;
	d->tombs[d->ntombs++] = (struct tomb){.version = version, .end_lsn = end_lsn};
	*ended_now = 1;
	return 0;
}

int docmap_is_ended(const docmap *d, uint64_t version)
{
	return *docmap__ended_slot(d, version) != 0;
}

uint64_t docmap_ended(const docmap *d)
{
	return d->ntombs;
}

static int docmap__by_version(const void *a, const void *b)
{
	uint64_t x = ((const struct tomb *)a)->version, y = ((const struct tomb *)b)->version;
	return x < y ? -1 : x > y;
}

int docmap_tombs(const docmap *d, struct tomb **out, uint64_t *n)
{
	*out = NULL;
	*n = d->ntombs;
	if (!d->ntombs)
		return 0;
	if (!(*out = malloc(d->ntombs * sizeof **out)))
		return ROOST_ENOMEM;
	memcpy(*out, d->tombs, d->ntombs * sizeof **out);
	qsort(*out, d->ntombs, sizeof **out, docmap__by_version);
	return 0;
}

/* Whether tombstone t goes in a drop of [lo, hi) below below. */
static int docmap__dropped(const struct tomb *t, uint64_t lo, uint64_t hi, uint64_t below)
{
	return t->version >= lo && t->version < hi && t->end_lsn < below;
}

/* Forgets the keys whose version was one of the dropped rows: in the
 * range, ended before the drop and no longer now. */
static void docmap__drop_keys(docmap *d, const uint8_t *was_ended, uint64_t lo, uint64_t hi)
{
	for (uint64_t i = 0; i < d->nkeys_cap; i++) {
		struct docmap__slot *s = &d->keys[i];
		if (was_ended[i] && s->key && s->version >= lo && s->version < hi &&
		    !docmap_is_ended(d, s->version)) {
			free(s->key);
			*s = (struct docmap__slot){.key = NULL, .version = 1};
		}
	}
}

void docmap_drop_range(docmap *d, uint64_t lo, uint64_t hi, uint64_t below)
{
	uint64_t kept = 0;
	for (uint64_t i = 0; i < d->ntombs; i++)
		if (!docmap__dropped(&d->tombs[i], lo, hi, below))
			d->tombs[kept++] = d->tombs[i];
	if (kept == d->ntombs)
		return; /* no tombstone there: no ended key either */
	/* Without memory for it the keys stay known: an upsert of one later
	 * ends a row that is gone, which costs a tombstone and nothing else. */
	uint8_t *was_ended = calloc(d->nkeys_cap ? d->nkeys_cap : 1, 1);
	for (uint64_t i = 0; was_ended && i < d->nkeys_cap; i++)
		was_ended[i] = d->keys[i].key && docmap_is_ended(d, d->keys[i].version);
	d->ntombs = kept;
	/* Linear probing cannot remove in place: the set is made again. */
	memset(d->ended, 0, d->ended_cap * sizeof *d->ended);
	for (uint64_t i = 0; i < d->ntombs; i++)
		*docmap__ended_slot(d, d->tombs[i].version) = d->tombs[i].version;
	if (was_ended)
		docmap__drop_keys(d, was_ended, lo, hi);
	free(was_ended);
}

int docmap_copy(const docmap *d, docmap **out)
{
	docmap *c = calloc(1, sizeof *c);
	if (!c)
		return ROOST_ENOMEM;
	*c = *d;
	c->keys = calloc(d->nkeys_cap ? d->nkeys_cap : 1, sizeof *c->keys);
	c->ended = malloc((d->ended_cap ? d->ended_cap : 1) * sizeof *c->ended);
	c->tombs = malloc((d->ended_cap ? d->ended_cap / 2 : 1) * sizeof *c->tombs);
	int rc = c->keys && c->ended && c->tombs ? 0 : ROOST_ENOMEM;
	for (uint64_t i = 0; rc == 0 && i < d->nkeys_cap; i++) {
		c->keys[i] = d->keys[i];
		c->keys[i].key = NULL;
		if (d->keys[i].key &&
		    !(c->keys[i].key = malloc(d->keys[i].len ? d->keys[i].len : 1)))
			rc = ROOST_ENOMEM;
		else if (d->keys[i].key)
			memcpy(c->keys[i].key, d->keys[i].key, d->keys[i].len);
	}
	if (rc == 0) {
		memcpy(c->ended, d->ended, d->ended_cap * sizeof *c->ended);
		memcpy(c->tombs, d->tombs, d->ntombs * sizeof *c->tombs);
	} else if (!c->keys) {
		c->nkeys_cap = 0;
	}
	if (rc) {
		docmap_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void docmap_free(docmap *d)
{
	if (!d)
		return;
	for (uint64_t i = 0; i < d->nkeys_cap; i++)
		free(d->keys[i].key);
	free(d->keys);
	free(d->ended);
	free(d->tombs);
	free(d);
}

static int docmap__load_tombs(docmap *d, const char *dir, const struct manifest_coll *mc)
{
	if (!mc->tomb_gen)
		return 0;
	char path[INST_PATH_MAX];
	struct tomb *t;
	uint64_t n;
	int rc = manifest_tomb_path(dir, mc->id, mc->tomb_gen, path, sizeof path);
	if (rc == 0)
		rc = tomb_load(path, &t, &n);
	if (rc) {
		log_error("collection '%s': cannot read its tombstones %s: %s", mc->name, path,
			  roost_strerror(rc));
		return rc;
	}
	int ended;
	for (uint64_t i = 0; rc == 0 && i < n; i++)
		rc = docmap_end(d, t[i].version, t[i].end_lsn, &ended);
	free(t);
	return rc;
}

/* The current version of each key a segment holds: its rows in LSN order,
 * those not ended. */
static int docmap__load_keys(docmap *d, const char *dir, const struct manifest_coll *mc,
			     const struct manifest_segment *s)
{
	char path[INST_PATH_MAX];
	struct segment_docs docs;
	int rc =
	    manifest_segment_path(dir, mc->id, s->start_lsn, s->end_lsn, "docs", path, sizeof path);
	if (rc == 0)
		rc = segment_load(path, SEGMENT_NO_VECTORS, &docs);
	if (rc) {
		log_error("collection '%s': cannot read %s: %s", mc->name, path,
			  roost_strerror(rc));
		return rc;
	}
	for (uint64_t r = 0; rc == 0 && docs.refs && r < docs.count; r++) {
		const struct segment_ref *ref = &docs.refs[r];
		uint64_t old;
		if (ref->key_len && !docmap_is_ended(d, docs.ids[r]))
			rc = docmap_upsert(d, docs.text + ref->key_off, ref->key_len, docs.ids[r],
					   &old);
	}
	segment_free(&docs);
	return rc;
}

int docmap_load(docmap **out, const char *dir, const struct manifest *m,
		const struct manifest_coll *mc)
{
	docmap *d = calloc(1, sizeof *d);
	if (!d)
		return ROOST_ENOMEM;
	int rc = docmap__grow_ended(d);
	if (rc == 0)
		rc = docmap__load_tombs(d, dir, mc);
	uint32_t first, n;
	manifest_segments_of(m, mc->id, &first, &n);
	for (uint32_t i = first; rc == 0 && i < first + n; i++)
		rc = docmap__load_keys(d, dir, mc, &m->segments[i]);
	if (rc) {
		docmap_free(d);
		return rc;
	}
	*out = d;
	return 0;
}
