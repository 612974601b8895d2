#include "tail.h"

#include "err.h"
#include "shm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Layout (TAIL__VERSION 4): struct tail__header (TAIL__HEADER_SIZE bytes),
 * then column arrays at the offsets the header gives, each 64-byte aligned:
 *   uint64 ids[cap], int64 agents[cap], int64 times[cap],
 *   uint32 text_off[cap], uint32 text_len[cap],
 *   struct segment_kind kinds[cap], struct segment_ref refs[cap],
 *   char text[text_cap] (texts, keys and metadata), float vectors[cap * dim],
 *   struct tomb tombs[16 * cap]: the versions upserts and deletes ended since
 *   the tail began, in the order they were ended (store/tomb.h)
 * Readers map it read-only and check every offset against the object size.
 */
#define TAIL__VERSION	  4u
#define TAIL__HEADER_SIZE 4096u

struct tail__header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t serial; /* names the object; the catalog names the current one */
	uint64_t coll;	 /* the collection's id */
	/* The manifest generation whose segments precede it; TAIL_GEN_UNKNOWN
	 * while the tail before it is frozen and being sealed. Release store
	 * in tail_set_gen before the catalog names the tail alone (the
	 * catalog's seqlock then orders it for readers); acquire load in
	 * tail_gen. */
	_Atomic uint64_t tail_gen;
	uint64_t start_lsn; /* the first LSN it may hold */
	uint32_t dim;
	uint32_t metric;
	uint64_t capacity;	/* documents */
	uint64_t text_capacity; /* bytes */
	uint64_t total_size;
	uint64_t off_ids, off_agents, off_times, off_text_off, off_text_len, off_kinds, off_refs,
	    off_text, off_vectors, off_tombs;
	/* Published by tail_publish (release), read by tail_view (acquire):
	 * end_lsn is stored after count, and loaded before it, so a reader's
	 * count always covers every batch below the end_lsn it saw. */
	_Atomic uint64_t count;
	_Atomic uint64_t end_lsn;
	/* 0 while the tail is the collection's current one; then the end of
	 * what it holds. Release store in tail_seal before the writer
	 * publishes anything past it; acquire load in tail_sealed_end. */
	_Atomic uint64_t sealed_end;
	/* Published by tail_publish before count (release), read by
	 * tail_tombs after tail_view's loads (acquire): a reader's tombstones
	 * cover every record below the end_lsn it saw. */
	_Atomic uint64_t tomb_count;
};

#define TAIL__MAGIC 0x4c415454534f4f52ull /* "ROOSTTAL" */
/* Memory is reserved ahead of the rows in steps of this many rows, and of
 * this many text bytes. */
#define TAIL__RESERVE_ROWS 1024u
/* Tombstones a tail holds, per row it holds: a delete by filter may end
 * that many of the collection's documents at once. Memory is reserved
 * only as they come. */
#define TAIL__TOMBS_PER_ROW 16u
#define TAIL__RESERVE_TEXT  (256u * 1024u)

_Static_assert(sizeof(struct tail__header) <= TAIL__HEADER_SIZE, "tail header fits");
_Static_assert(sizeof(struct segment_kind) == 24, "kind slot is 24 bytes");

struct tail {
	struct shm_map map;
	struct tail__header *hdr;
	uint64_t pending;	/* writer: rows appended, not yet published */
	uint64_t text_used;	/* writer: text bytes appended */
	uint64_t rows_reserved; /* writer: rows whose memory is reserved */
	uint64_t text_reserved; /* writer: text bytes likewise */
	uint64_t tombs;		/* writer: tombstones appended */
	uint64_t tombs_reserved;
};

static uint64_t tail__align(uint64_t x)
{
	return (x + 63) & ~(uint64_t)63;
}

/* Lays the columns out after the header; returns the total size. */
static uint64_t tail__layout(struct tail__header *h)
{
	uint64_t cap = h->capacity, off = TAIL__HEADER_SIZE;
	h->off_ids = off;
	off = tail__align(off + cap * 8);
	h->off_agents = off;
	off = tail__align(off + cap * 8);
	h->off_times = off;
	off = tail__align(off + cap * 8);
	h->off_text_off = off;
	off = tail__align(off + cap * 4);
	h->off_text_len = off;
	off = tail__align(off + cap * 4);
	h->off_kinds = off;
	off = tail__align(off + cap * sizeof(struct segment_kind));
	h->off_refs = off;
	off = tail__align(off + cap * sizeof(struct segment_ref));
	h->off_text = off;
	off = tail__align(off + h->text_capacity);
	h->off_vectors = off;
	off = tail__align(off + cap * h->dim * sizeof(float));
	h->off_tombs = off;
	return tail__align(off + cap * TAIL__TOMBS_PER_ROW * sizeof(struct tomb));
}

int tail_create(tail **out, const char *path, const struct tail_config *cfg)
{
	if (cfg->dim == 0 || cfg->dim > BATCH_MAX_DIM || cfg->capacity == 0 ||
	    cfg->capacity > (1u << 24) || cfg->text_capacity > (1ull << 34))
		return ROOST_EINVAL;
	tail *t = calloc(1, sizeof *t);
	if (!t)
		return ROOST_ENOMEM;
	struct tail__header h = {
	    .magic = TAIL__MAGIC,
	    .version = TAIL__VERSION,
	    .header_size = TAIL__HEADER_SIZE,
	    .serial = cfg->serial,
	    .coll = cfg->coll,
	    .start_lsn = cfg->start_lsn,
	    .dim = cfg->dim,
	    .metric = cfg->metric,
	    .capacity = cfg->capacity,
	    .text_capacity = cfg->text_capacity,
	};
	h.total_size = tail__layout(&h);
	shm_remove(path); /* a stale object of a dead writer's run */
	/* Only the header is reserved now: rows are, as they come. */
	int rc = shm_create(&t->map, path, h.total_size, TAIL__HEADER_SIZE, cfg->mode);
	if (rc) {
		free(t);
		return rc;
	}
	t->hdr = t->map.addr;
	memcpy(t->hdr, &h, sizeof h);
	atomic_store_explicit(&t->hdr->end_lsn, cfg->start_lsn, memory_order_relaxed);
	atomic_store_explicit(&t->hdr->tail_gen, cfg->tail_gen, memory_order_relaxed);
	*out = t;
	return 0;
}

/* Every column must lie inside the object: the header comes from another
 * process and is not trusted. */
static int tail__check(const struct tail__header *h, size_t size)
{
	struct tail__header copy = *h;
	if (size < TAIL__HEADER_SIZE || h->magic != TAIL__MAGIC)
		return ROOST_ECORRUPT;
	if (h->version != TAIL__VERSION || h->header_size != TAIL__HEADER_SIZE)
		return ROOST_EVERSION;
	if (h->dim == 0 || h->dim > BATCH_MAX_DIM || h->capacity == 0 || h->capacity > (1u << 24) ||
	    h->text_capacity > (1ull << 34))
		return ROOST_ECORRUPT;
	uint64_t total = tail__layout(&copy);
	/* Every column offset, not some: readers index each one. */
	if (total != h->total_size || total > size || copy.off_ids != h->off_ids ||
	    copy.off_agents != h->off_agents || copy.off_times != h->off_times ||
	    copy.off_text_off != h->off_text_off || copy.off_text_len != h->off_text_len ||
	    copy.off_kinds != h->off_kinds || copy.off_refs != h->off_refs ||
	    copy.off_text != h->off_text || copy.off_tombs != h->off_tombs ||
	    copy.off_vectors != h->off_vectors)
		return ROOST_ECORRUPT;
	return 0;
}

int tail_open(tail **out, const char *path)
{
	tail *t = calloc(1, sizeof *t);
	if (!t)
		return ROOST_ENOMEM;
	int rc = shm_attach(&t->map, path, SHM_READ_ONLY);
	if (rc == 0)
		rc = tail__check(t->map.addr, t->map.size);
	if (rc) {
		shm_detach(&t->map);
		free(t);
		return rc;
	}
	t->hdr = t->map.addr;
	*out = t;
	return 0;
}

void tail_close(tail *t)
{
	if (!t)
		return;
	shm_detach(&t->map);
	free(t);
}

int tail_unlink(const char *path)
{
	return shm_remove(path);
}

uint32_t tail_collection(const tail *t)
{
	return (uint32_t)t->hdr->coll;
}

uint64_t tail_gen(const tail *t)
{
	/* Acquire: pairs with the release store in tail_set_gen. */
	return atomic_load_explicit(&t->hdr->tail_gen, memory_order_acquire);
}

void tail_set_gen(tail *t, uint64_t gen)
{
	/* Release: pairs with the acquire load in tail_gen. */
	atomic_store_explicit(&t->hdr->tail_gen, gen, memory_order_release);
}

uint64_t tail_start(const tail *t)
{
	return t->hdr->start_lsn;
}

int tail_follows(const tail *cur, const tail *frozen, uint64_t gen, int *with_frozen)
{
	*with_frozen = 0;
	if (frozen && tail_gen(frozen) == gen) {
		uint64_t end = tail_sealed_end(frozen);
		*with_frozen =
		    frozen->hdr->coll == cur->hdr->coll && end != 0 && end == cur->hdr->start_lsn;
		return *with_frozen ? 0 : ROOST_EBUSY;
	}
	/* Without the frozen tail, whose segment the manifest names already
	 * when the current tail follows it. */
	return tail_gen(cur) == gen ? 0 : ROOST_EBUSY;
}

void tail_seal(tail *t, uint64_t end_lsn)
{
	/* Release: pairs with the acquire load in tail_sealed_end. */
	atomic_store_explicit(&t->hdr->sealed_end, end_lsn, memory_order_release);
}

int tail_seal_left(const char *path, uint64_t end_lsn)
{
	struct shm_map map;
	int rc = shm_attach(&map, path, SHM_READ_WRITE);
	if (rc)
		return rc;
	rc = tail__check(map.addr, map.size);
	if (rc == 0) {
		struct tail__header *h = map.addr;
		uint64_t none = 0;
		/* Release, as in tail_seal. */
		atomic_compare_exchange_strong_explicit(&h->sealed_end, &none, end_lsn,
							memory_order_release, memory_order_relaxed);
	}
	shm_detach(&map);
	return rc;
}

uint64_t tail_sealed_end(const tail *t)
{
	/* Acquire: pairs with the release store in tail_seal. */
	return atomic_load_explicit(&t->hdr->sealed_end, memory_order_acquire);
}

const void *tail_mapping(const tail *t, size_t *size)
{
	*size = t->map.size;
	return t->map.addr;
}

#define TAIL_COL(t, type, off) ((type)((char *)(t)->map.addr + (t)->hdr->off))

static uint64_t tail__step(uint64_t have, uint64_t need, uint64_t step, uint64_t cap)
{
	uint64_t to = have + step > need ? have + step : need;
	return to < cap ? to : cap;
}

int tail_reserve(tail *t, uint64_t docs, uint64_t text_bytes)
{
	const struct tail__header *h = t->hdr;
	uint64_t rows = t->pending + docs, text = t->text_used + text_bytes;
	if (rows > h->capacity || text > h->text_capacity)
		return ROOST_ETOOBIG;
	int rc = 0;
	if (rows > t->rows_reserved) {
		uint64_t from = t->rows_reserved;
		uint64_t to = tail__step(from, rows, TAIL__RESERVE_ROWS, h->capacity);
		const struct {
			uint64_t off, size;
		} cols[] = {
		    {h->off_ids, 8},
		    {h->off_agents, 8},
		    {h->off_times, 8},
		    {h->off_text_off, 4},
		    {h->off_text_len, 4},
		    {h->off_kinds, sizeof(struct segment_kind)},
		    {h->off_refs, sizeof(struct segment_ref)},
		    {h->off_vectors, (uint64_t)h->dim * sizeof(float)},
		};
		for (size_t i = 0; rc == 0 && i < sizeof cols / sizeof cols[0]; i++)
			rc = shm_reserve(t->map.fd, cols[i].off + from * cols[i].size,
					 (to - from) * cols[i].size);
		if (rc)
			return rc;
		t->rows_reserved = to;
	}
	if (text > t->text_reserved) {
		uint64_t to =
		    tail__step(t->text_reserved, text, TAIL__RESERVE_TEXT, h->text_capacity);
		rc = shm_reserve(t->map.fd, h->off_text + t->text_reserved, to - t->text_reserved);
		if (rc)
			return rc;
		t->text_reserved = to;
	}
	return 0;
}

int tail_fits(const tail *t, uint64_t docs, uint64_t text_bytes)
{
	return t->pending + docs <= t->hdr->capacity &&
	       t->text_used + text_bytes <= t->hdr->text_capacity;
}

/* Appends n bytes to the text section; returns where they start. */
static uint32_t tail__put_bytes(tail *t, char *text, const char *src, uint32_t n)
{
	uint32_t at = (uint32_t)t->text_used;
	memcpy(text + at, src, n);
	t->text_used += n;
	return at;
}

void tail_append(tail *t, const struct batch_view *b, uint64_t lsn)
{
	uint64_t row = t->pending, n = b->hdr->count, dim = t->hdr->dim;
	uint64_t *ids = TAIL_COL(t, uint64_t *, off_ids);
	int64_t *agents = TAIL_COL(t, int64_t *, off_agents);
	int64_t *times = TAIL_COL(t, int64_t *, off_times);
	uint32_t *toff = TAIL_COL(t, uint32_t *, off_text_off);
	uint32_t *tlen = TAIL_COL(t, uint32_t *, off_text_len);
	struct segment_kind *kinds = TAIL_COL(t, struct segment_kind *, off_kinds);
	struct segment_ref *refs = TAIL_COL(t, struct segment_ref *, off_refs);
	char *text = TAIL_COL(t, char *, off_text);
	float *vec = TAIL_COL(t, float *, off_vectors);
	for (uint64_t i = 0; i < n; i++, row++) {
		const struct batch_doc *d = &b->docs[i];
		uint32_t klen, mlen;
		const char *key = batch_key(b, (uint32_t)i, &klen);
		const char *meta = batch_meta(b, (uint32_t)i, &mlen);
		ids[row] = lsn + i;
		agents[row] = d->agent;
		times[row] = d->time;
		tlen[row] = d->text_len;
		toff[row] = tail__put_bytes(t, text, b->text + d->text_off, d->text_len);
		refs[row].key_len = klen;
		refs[row].key_off = tail__put_bytes(t, text, key, klen);
		refs[row].meta_len = mlen;
		refs[row].meta_off = tail__put_bytes(t, text, meta, mlen);
		kinds[row].len = d->kind_len;
		memcpy(kinds[row].name, d->kind, sizeof kinds[row].name);
	}
	memcpy(vec + t->pending * dim, b->vectors, n * dim * sizeof(float));
	t->pending = row;
}

static uint64_t tail__tomb_capacity(const tail *t)
{
	return t->hdr->capacity * TAIL__TOMBS_PER_ROW;
}

int tail_tomb_reserve(tail *t, uint64_t n)
{
	uint64_t want = t->tombs + n;
	if (want > tail__tomb_capacity(t))
		return ROOST_ETOOBIG;
	if (want <= t->tombs_reserved)
		return 0;
	uint64_t to =
	    tail__step(t->tombs_reserved, want, TAIL__RESERVE_ROWS, tail__tomb_capacity(t));
	int rc = shm_reserve(t->map.fd, t->hdr->off_tombs + t->tombs_reserved * sizeof(struct tomb),
			     (to - t->tombs_reserved) * sizeof(struct tomb));
	if (rc == 0)
		t->tombs_reserved = to;
	return rc;
}

int tail_tomb_fits(const tail *t, uint64_t n)
{
	return t->tombs + n <= tail__tomb_capacity(t);
}

void tail_tomb_append(tail *t, uint64_t version, uint64_t end_lsn)
{
	TAIL_COL(t, struct tomb *, off_tombs)
	[t->tombs++] = (struct tomb){.version = version, .end_lsn = end_lsn};
}

uint64_t tail_tomb_pending(const tail *t)
{
	return t->tombs;
}

void tail_tombs(const tail *t, const struct tomb **out, uint64_t *n)
{
	/* Acquire: pairs with the release store in tail_publish. */
	uint64_t count = atomic_load_explicit(&t->hdr->tomb_count, memory_order_acquire);
	*n = count <= tail__tomb_capacity(t) ? count : tail__tomb_capacity(t);
	*out = TAIL_COL(t, const struct tomb *, off_tombs);
}

uint64_t tail_pending(const tail *t)
{
	return t->pending;
}

const float *tail_vectors(const tail *t, uint64_t from)
{
	return TAIL_COL(t, const float *, off_vectors) + from * t->hdr->dim;
}

uint64_t tail_text_used(const tail *t)
{
	return t->text_used;
}

void tail_publish(tail *t, uint64_t end_lsn)
{
	/* Release, before count: pairs with the acquire load in tail_tombs. */
	atomic_store_explicit(&t->hdr->tomb_count, t->tombs, memory_order_release);
	/* Release: the rows written by tail_append are visible to a reader
	 * whose acquire load in tail_view sees this count. */
	atomic_store_explicit(&t->hdr->count, t->pending, memory_order_release);
	/* After count; pairs with the acquire load of end_lsn in tail_view. */
	atomic_store_explicit(&t->hdr->end_lsn, end_lsn, memory_order_release);
}

void tail_view(const tail *t, struct segment_docs *out)
{
	const struct tail__header *h = t->hdr;
	memset(out, 0, sizeof *out);
	/* end_lsn first (pairs with its release in tail_publish), then count:
	 * the count read covers every batch below that end_lsn. */
	out->end_lsn = atomic_load_explicit(&h->end_lsn, memory_order_acquire);
	uint64_t count = atomic_load_explicit(&h->count, memory_order_acquire);
	out->count = count <= h->capacity ? count : h->capacity;
	out->dim = h->dim;
	out->start_lsn = h->start_lsn;
	out->ids = TAIL_COL(t, uint64_t *, off_ids);
	out->agents = TAIL_COL(t, int64_t *, off_agents);
	out->times = TAIL_COL(t, int64_t *, off_times);
	out->text_off = TAIL_COL(t, uint32_t *, off_text_off);
	out->text_len = TAIL_COL(t, uint32_t *, off_text_len);
	out->kinds = TAIL_COL(t, struct segment_kind *, off_kinds);
	out->refs = TAIL_COL(t, struct segment_ref *, off_refs);
	out->text = TAIL_COL(t, char *, off_text);
	out->text_bytes = h->text_capacity;
	out->vectors = TAIL_COL(t, float *, off_vectors);
}
