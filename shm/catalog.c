#include "catalog.h"

#include "err.h"
#include "seqlock.h"
#include "shm.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Layout (CATALOG__VERSION 4): struct catalog__header, then CATALOG_SLOTS
 * slots of struct catalog__slot (384 bytes each; version 1's were 256,
 * without indexed keys; version 2's had no frozen tail; version 3 had no
 * history figures, in the slot or the header). A slot whose id
 * is 0 is
 * free; the writer is the only process that writes any of it.
 *
 * Memory ordering of the shared fields, each with its partner:
 * - ready: release store by the creator once the header is filled in
 *   (catalog_open_writer); acquire load by catalog_open.
 * - a slot's image (id, settings, name): words under the slot's seqlock
 *   (shm/seqlock.h has its ordering); only the writer writes it.
 * - hash[i]: FNV-1a of slot i's name (0: free), relaxed both ways; only a
 *   hint of where to look, confirmed under the slot's seqlock.
 * - frozen_serial, then tail_serial: release stores in catalog_set_tail
 *   (and catalog_put) once the tail objects are complete; acquire loads,
 *   tail_serial first, by a reader before it opens them. The pair is not
 *   read atomically: a reader checks that the tails it opened fit together
 *   and with the manifest (reader/view.c), and reads again when not.
 * - documents, segments, rebuilding, history_start, history_bytes:
 *   relaxed; figures for status, ordering nothing.
 * - the header's history image (retention, horizon, log bytes): a seqlock
 *   as slots are; only the writer writes it.
 * - version: release increment after every change to a slot; acquire load
 *   in catalog_version, so that a reader that sees a new value sees the
 *   change too.
 * - notes: each a seqlock as slots are; next_note relaxed (writer only). */
#define CATALOG__MAGIC	 0x474c544352545352ull /* "RSTRCTLG" little-endian */
#define CATALOG__VERSION 4u
#define CATALOG__NOTES	 16u

/* What a slot's seqlock protects, as plain data. */
struct catalog__image {
	uint32_t id;
	uint32_t dim;
	uint32_t metric;
	uint32_t seal_interval_ms;
	uint64_t train_docs;
	uint64_t seal_docs;
	uint64_t created_lsn;
	char name[COLL_NAME_MAX + 1];
	char index[COLL_INDEX_MAX + 1];
	char indexed_keys[COLL_KEYS_MAX + 1];
};

#define CATALOG__IMAGE_WORDS (sizeof(struct catalog__image) / 8)

struct catalog__slot {
	_Atomic uint32_t seq;
	uint32_t pad;
	_Atomic uint64_t image[CATALOG__IMAGE_WORDS];
	_Atomic uint64_t tail_serial;
	_Atomic uint64_t documents;
	_Atomic uint32_t segments;
	_Atomic uint32_t rebuilding; /* 0 in a catalog written before alters */
	_Atomic uint64_t frozen_serial;
	_Atomic uint64_t history_start; /* reads as of an LSN below it are refused */
	_Atomic uint64_t history_bytes; /* disk its ended versions take */
	uint8_t reserved[32];
};

/* What a note's seqlock protects, as plain data. */
struct catalog__note_image {
	uint64_t lsn;
	char text[CATALOG_NOTE_MAX];
};

#define CATALOG__NOTE_WORDS (sizeof(struct catalog__note_image) / 8)

struct catalog__note {
	_Atomic uint32_t seq;
	uint32_t pad;
	_Atomic uint64_t image[CATALOG__NOTE_WORDS];
};

#define CATALOG__HISTORY_WORDS (sizeof(struct catalog_history) / 8)

struct catalog__history {
	_Atomic uint32_t seq;
	uint32_t pad;
	_Atomic uint64_t image[CATALOG__HISTORY_WORDS];
};

struct catalog__header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t total_size;
	_Atomic uint32_t ready;
	uint32_t slots;
	_Atomic uint64_t version_counter;
	uint32_t next_note;
	uint32_t pad;
	struct catalog__note notes[CATALOG__NOTES];
	struct catalog__history history;
	_Atomic uint64_t hash[CATALOG_SLOTS];
};

_Static_assert(sizeof(struct catalog__image) % 8 == 0, "the image is copied in words");
_Static_assert(sizeof(struct catalog__slot) == 384, "a catalog slot is 384 bytes");
_Static_assert(CATALOG_NOTE_MAX % 8 == 0, "a note is copied in words");
_Static_assert(sizeof(struct catalog_history) % 8 == 0, "the history is copied in words");

struct catalog {
	struct shm_map map;
	struct catalog__header *hdr;
	struct catalog__slot *slots;
};

static size_t catalog__size(void)
{
	return sizeof(struct catalog__header) + CATALOG_SLOTS * sizeof(struct catalog__slot);
}

static int catalog__layout_ok(const struct shm_map *m)
{
	const struct catalog__header *h = m->addr;
	return m->size == catalog__size() && h->magic == CATALOG__MAGIC &&
	       h->version == CATALOG__VERSION && h->header_size == sizeof *h &&
	       h->slots == CATALOG_SLOTS && h->total_size == m->size;
}

static int catalog__wrap(catalog **out, struct shm_map *m)
{
	catalog *c = calloc(1, sizeof *c);
	if (!c) {
		shm_detach(m);
		return ROOST_ENOMEM;
	}
	c->map = *m;
	c->hdr = m->addr;
	c->slots = (struct catalog__slot *)((char *)m->addr + sizeof(struct catalog__header));
	*out = c;
	return 0;
}

static int catalog__create(struct shm_map *m, const char *path, mode_t mode)
{
	int rc = shm_create(m, path, catalog__size(), catalog__size(), mode);
	if (rc)
		return rc;
	struct catalog__header *h = m->addr;
	h->magic = CATALOG__MAGIC;
	h->version = CATALOG__VERSION;
	h->header_size = sizeof *h;
	h->total_size = m->size;
	h->slots = CATALOG_SLOTS;
	return 0;
}

int catalog_open_writer(catalog **out, const char *path, mode_t mode)
{
	struct shm_map m;
	int rc = shm_attach(&m, path, SHM_READ_WRITE);
	if (rc == 0 && !catalog__layout_ok(&m)) {
		/* Left by another layout version: the writer fills a new one. */
		shm_detach(&m);
		shm_remove(path);
		rc = ROOST_ENOENT;
	}
	if (rc == ROOST_ENOENT)
		rc = catalog__create(&m, path, mode);
	if (rc)
		return rc;
	/* Pairs with the acquire load in catalog_open: the header is set. */
	atomic_store_explicit(&((struct catalog__header *)m.addr)->ready, 1, memory_order_release);
	return catalog__wrap(out, &m);
}

int catalog_open(catalog **out, const char *path)
{
	struct shm_map m;
	int rc = shm_attach(&m, path, SHM_READ_ONLY);
	if (rc)
		return rc;
	const struct catalog__header *h = m.addr;
	/* Pairs with the release store in catalog_open_writer. */
	if (m.size < sizeof *h || !atomic_load_explicit(&h->ready, memory_order_acquire)) {
		shm_detach(&m);
		return ROOST_ENOENT;
	}
	if (!catalog__layout_ok(&m)) {
		shm_detach(&m);
		return ROOST_EVERSION;
	}
	return catalog__wrap(out, &m);
}

void catalog_close(catalog *c)
{
	if (!c)
		return;
	shm_detach(&c->map);
	free(c);
}

static uint64_t catalog__hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return h ? h : 1;
}

static void catalog__bump(catalog *c)
{
	/* Release: pairs with the acquire load in catalog_version. */
	atomic_fetch_add_explicit(&c->hdr->version_counter, 1, memory_order_release);
}

/* The writer's own view of a slot's id: it is the only one changing it. */
static uint32_t catalog__slot_id(catalog *c, uint32_t i)
{
	struct catalog__image img;
	if (seqlock_read(&c->slots[i].seq, c->slots[i].image, &img, CATALOG__IMAGE_WORDS) != 0)
		return 0;
	return img.id;
}

static int catalog__slot_of(catalog *c, uint32_t id, uint32_t *slot)
{
	for (uint32_t i = 0; i < CATALOG_SLOTS; i++)
		if (catalog__slot_id(c, i) == id) {
			*slot = i;
			return 1;
		}
	return 0;
}

static void catalog__to_image(const struct catalog_entry *e, struct catalog__image *img)
{
	memset(img, 0, sizeof *img);
	img->id = e->id;
	img->dim = e->settings.dim;
	img->metric = e->settings.metric;
	img->seal_interval_ms = e->settings.seal_interval_ms;
	img->train_docs = e->settings.train_docs;
	img->seal_docs = e->settings.seal_docs;
	img->created_lsn = e->created_lsn;
	memcpy(img->name, e->name, strnlen(e->name, sizeof img->name - 1));
	memcpy(img->index, e->settings.index, strnlen(e->settings.index, sizeof img->index - 1));
	memcpy(img->indexed_keys, e->settings.indexed_keys,
	       strnlen(e->settings.indexed_keys, sizeof img->indexed_keys - 1));
}

static void catalog__store_tails(struct catalog__slot *s, uint64_t serial, uint64_t frozen)
{
	/* Release: pairs with the acquire loads in catalog__read_entry. */
	atomic_store_explicit(&s->frozen_serial, frozen, memory_order_release);
	atomic_store_explicit(&s->tail_serial, serial, memory_order_release);
}

int catalog_put(catalog *c, const struct catalog_entry *e)
{
	uint32_t i;
	if (e->id == 0)
		return ROOST_EINVAL;
	if (!catalog__slot_of(c, e->id, &i) && !catalog__slot_of(c, 0, &i))
		return ROOST_ENOSPC;
	struct catalog__slot *s = &c->slots[i];
	struct catalog__image img;
	catalog__to_image(e, &img);
	catalog__store_tails(s, e->tail_serial, e->frozen_serial);
	seqlock_write_begin(&s->seq);
	seqlock_store(s->image, &img, CATALOG__IMAGE_WORDS);
	seqlock_write_end(&s->seq);
	atomic_store_explicit(&c->hdr->hash[i], catalog__hash(img.name), memory_order_relaxed);
	catalog_set_counts(c, e->id, e->documents, e->segments);
	catalog_set_rebuilding(c, e->id, e->rebuilding);
	if (e->history_start)
		catalog_set_history_of(c, e->id, e->history_start, e->history_bytes);
	catalog__bump(c);
	return 0;
}

void catalog_remove(catalog *c, uint32_t id)
{
	uint32_t i;
	if (id == 0 || !catalog__slot_of(c, id, &i))
		return;
	struct catalog__slot *s = &c->slots[i];
	struct catalog__image img;
	memset(&img, 0, sizeof img);
	atomic_store_explicit(&c->hdr->hash[i], 0, memory_order_relaxed);
	seqlock_write_begin(&s->seq);
	seqlock_store(s->image, &img, CATALOG__IMAGE_WORDS);
	seqlock_write_end(&s->seq);
	catalog__bump(c);
}

void catalog_set_tail(catalog *c, uint32_t id, uint64_t serial, uint64_t frozen)
{
	uint32_t i;
	if (!catalog__slot_of(c, id, &i))
		return;
	catalog__store_tails(&c->slots[i], serial, frozen);
	catalog__bump(c);
}

void catalog_set_counts(catalog *c, uint32_t id, uint64_t documents, uint32_t segments)
{
	uint32_t i;
	if (!catalog__slot_of(c, id, &i))
		return;
	/* Relaxed: figures for status only. */
	atomic_store_explicit(&c->slots[i].documents, documents, memory_order_relaxed);
	atomic_store_explicit(&c->slots[i].segments, segments, memory_order_relaxed);
}

void catalog_set_rebuilding(catalog *c, uint32_t id, uint32_t segments)
{
	uint32_t i;
	if (catalog__slot_of(c, id, &i)) /* relaxed: a figure for status only */
		atomic_store_explicit(&c->slots[i].rebuilding, segments, memory_order_relaxed);
}

void catalog_set_history_of(catalog *c, uint32_t id, uint64_t start, uint64_t bytes)
{
	uint32_t i;
	if (!catalog__slot_of(c, id, &i))
		return;
	/* Relaxed: figures for status only. */
	atomic_store_explicit(&c->slots[i].history_start, start, memory_order_relaxed);
	atomic_store_explicit(&c->slots[i].history_bytes, bytes, memory_order_relaxed);
}

void catalog_set_history(catalog *c, const struct catalog_history *h)
{
	struct catalog_history img = *h;
	img.retain[sizeof img.retain - 1] = '\0';
	seqlock_write_begin(&c->hdr->history.seq);
	seqlock_store(c->hdr->history.image, &img, CATALOG__HISTORY_WORDS);
	seqlock_write_end(&c->hdr->history.seq);
}

int catalog_history(catalog *c, struct catalog_history *out)
{
	int rc =
	    seqlock_read(&c->hdr->history.seq, c->hdr->history.image, out, CATALOG__HISTORY_WORDS);
	out->retain[sizeof out->retain - 1] = '\0';
	return rc;
}

void catalog_touch(catalog *c)
{
	catalog__bump(c);
}

/* Slot i as an entry; 0 when it is free (or kept changing). */
static int catalog__read_entry(catalog *c, uint32_t i, struct catalog_entry *out)
{
	struct catalog__slot *s = &c->slots[i];
	struct catalog__image img;
	if (seqlock_read(&s->seq, s->image, &img, CATALOG__IMAGE_WORDS) != 0 || img.id == 0)
		return 0;
	memset(out, 0, sizeof *out);
	out->id = img.id;
	memcpy(out->name, img.name, sizeof out->name);
	out->name[sizeof out->name - 1] = '\0';
	out->settings = (struct coll_settings){.dim = img.dim,
					       .metric = img.metric,
					       .train_docs = img.train_docs,
					       .seal_docs = img.seal_docs,
					       .seal_interval_ms = img.seal_interval_ms};
	memcpy(out->settings.index, img.index, sizeof out->settings.index);
	out->settings.index[sizeof out->settings.index - 1] = '\0';
	memcpy(out->settings.indexed_keys, img.indexed_keys, sizeof out->settings.indexed_keys);
	out->settings.indexed_keys[sizeof out->settings.indexed_keys - 1] = '\0';
	out->created_lsn = img.created_lsn;
	/* Acquire: pairs with the release stores in catalog__store_tails; the
	 * tails they name are complete. */
	out->tail_serial = atomic_load_explicit(&s->tail_serial, memory_order_acquire);
	out->frozen_serial = atomic_load_explicit(&s->frozen_serial, memory_order_acquire);
	/* Relaxed: figures for status only. */
	out->documents = atomic_load_explicit(&s->documents, memory_order_relaxed);
	out->segments = atomic_load_explicit(&s->segments, memory_order_relaxed);
	out->rebuilding = atomic_load_explicit(&s->rebuilding, memory_order_relaxed);
	out->history_start = atomic_load_explicit(&s->history_start, memory_order_relaxed);
	out->history_bytes = atomic_load_explicit(&s->history_bytes, memory_order_relaxed);
	return 1;
}

int catalog_find(catalog *c, const char *name, struct catalog_entry *out)
{
	uint64_t h = catalog__hash(name);
	for (uint32_t i = 0; i < CATALOG_SLOTS; i++) {
		/* Relaxed: a hint only; the slot's seqlock confirms it. */
		if (atomic_load_explicit(&c->hdr->hash[i], memory_order_relaxed) != h)
			continue;
		if (catalog__read_entry(c, i, out) && strcmp(out->name, name) == 0)
			return 0;
	}
	return ROOST_ENOCOLL;
}

int catalog_get(catalog *c, uint32_t id, struct catalog_entry *out)
{
	for (uint32_t i = 0; i < CATALOG_SLOTS; i++)
		if (atomic_load_explicit(&c->hdr->hash[i], memory_order_relaxed) != 0 &&
		    catalog__read_entry(c, i, out) && out->id == id)
			return 0;
	return ROOST_ENOCOLL;
}

static int catalog__by_id(const void *a, const void *b)
{
	uint32_t x = ((const struct catalog_entry *)a)->id,
		 y = ((const struct catalog_entry *)b)->id;
	return (x > y) - (x < y);
}

int catalog_list(catalog *c, struct catalog_entry *out, size_t max, size_t *n)
{
	*n = 0;
	for (uint32_t i = 0; i < CATALOG_SLOTS && *n < max; i++)
		if (atomic_load_explicit(&c->hdr->hash[i], memory_order_relaxed) != 0 &&
		    catalog__read_entry(c, i, &out[*n]))
			(*n)++;
	qsort(out, *n, sizeof *out, catalog__by_id);
	return 0;
}

uint64_t catalog_version(catalog *c)
{
	/* Acquire: pairs with the release increment in catalog__bump. */
	return atomic_load_explicit(&c->hdr->version_counter, memory_order_acquire);
}

void catalog_note(catalog *c, uint64_t lsn, const char *text)
{
	struct catalog__header *h = c->hdr;
	struct catalog__note *n = &h->notes[h->next_note++ % CATALOG__NOTES];
	struct catalog__note_image img;
	memset(&img, 0, sizeof img);
	img.lsn = lsn;
	memcpy(img.text, text, strnlen(text, sizeof img.text - 1));
	seqlock_write_begin(&n->seq);
	seqlock_store(n->image, &img, CATALOG__NOTE_WORDS);
	seqlock_write_end(&n->seq);
}

int catalog_note_find(catalog *c, uint64_t lsn, char *buf, size_t len)
{
	for (uint32_t i = 0; lsn && i < CATALOG__NOTES; i++) {
		struct catalog__note *n = &c->hdr->notes[i];
		struct catalog__note_image img;
		if (seqlock_read(&n->seq, n->image, &img, CATALOG__NOTE_WORDS) == 0 &&
		    img.lsn == lsn) {
			img.text[sizeof img.text - 1] = '\0';
			snprintf(buf, len, "%s", img.text);
			return 0;
		}
	}
	return ROOST_ENOENT;
}
