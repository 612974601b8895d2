#include "collrec.h"

#include "err.h"

#include <string.h>

/* Read in place from the ring and replayed from disk: the layout must not
 * depend on the compiler. */
struct collrec__wire {
	uint32_t magic;
	uint16_t version;
	uint16_t op;
	uint64_t client_id;
	uint64_t seq;
	char name[64];
	uint32_t dim;
	uint32_t metric;
	char index[64];
	uint64_t train_docs;
	uint64_t seal_docs;
	uint32_t seal_interval_ms;
	uint32_t id;
	uint64_t as_of_lsn;	/* fork; zero for the others */
	char indexed_keys[128]; /* version 2 on */
};

_Static_assert(sizeof(struct collrec__wire) == COLLREC_SIZE, "collrec layout is 320 bytes");
_Static_assert(offsetof(struct collrec__wire, indexed_keys) == COLLREC_V1_SIZE,
	       "a version 1 record ends before the indexed keys");
_Static_assert(offsetof(struct collrec__wire, dim) == 88, "collrec layout");
_Static_assert(offsetof(struct collrec__wire, train_docs) == 160, "collrec layout");
_Static_assert(COLL_NAME_MAX + 1 == 64 && COLL_INDEX_MAX + 1 == 64 && COLL_KEYS_MAX + 1 == 128,
	       "collrec string fields");

int collrec_is(const void *data, size_t len)
{
	uint32_t magic;
	if (len < sizeof magic)
		return 0;
	memcpy(&magic, data, sizeof magic);
	return magic == COLLREC_MAGIC;
}

/* A fixed field holds a NUL-terminated string padded with NULs. */
static int collrec__padded(const char *field, size_t size)
{
	size_t n = strnlen(field, size);
	if (n == size)
		return 0;
	for (size_t i = n; i < size; i++)
		if (field[i])
			return 0;
	return 1;
}

static int collrec__printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

static int collrec__settings_ok(const struct collrec__wire *w)
{
	if (w->op != COLLREC_FORK && w->as_of_lsn != 0)
		return 0;
	if (w->op == COLLREC_FORK)
		return w->id != 0 && w->dim == 0 && w->metric == 0 && w->index[0] == 0 &&
		       w->train_docs == 0 && w->seal_docs == 0 && w->seal_interval_ms == 0 &&
		       w->indexed_keys[0] == 0;
	if (w->op == COLLREC_DROP)
		return w->dim == 0 && w->metric == 0 && w->index[0] == 0 && w->train_docs == 0 &&
		       w->seal_docs == 0 && w->seal_interval_ms == 0 && w->indexed_keys[0] == 0;
	if (w->op == COLLREC_ALTER)
		return w->dim == 0 && w->metric == 0 && collrec__printable(w->index) &&
		       w->seal_docs == 0 && w->seal_interval_ms == 0 && w->indexed_keys[0] == 0;
	return w->id == 0 && w->dim >= 1 && w->dim <= COLL_MAX_DIM && w->metric <= 1 &&
	       collrec__printable(w->index) && coll_keys_check(w->indexed_keys, NULL, 0) == 0;
}

/* Each version has its own size; a version 1 record reads as one without
 * indexed keys. */
static int collrec__read(const void *data, size_t len, struct collrec__wire *w)
{
	memset(w, 0, sizeof *w);
	if (len != COLLREC_V1_SIZE && len != COLLREC_SIZE)
		return ROOST_ECORRUPT;
	memcpy(w, data, len);
	return w->version == (len == COLLREC_SIZE ? COLLREC_VERSION : 1u) ? 0 : ROOST_ECORRUPT;
}

int collrec_parse(const void *data, size_t len, struct collrec *out)
{
	struct collrec__wire w;
	if (!data || !out || collrec__read(data, len, &w) != 0)
		return ROOST_ECORRUPT;
	if (w.magic != COLLREC_MAGIC || w.op < COLLREC_CREATE || w.op > COLLREC_FORK ||
	    !collrec__padded(w.name, sizeof w.name) || !collrec__padded(w.index, sizeof w.index) ||
	    !collrec__padded(w.indexed_keys, sizeof w.indexed_keys) ||
	    coll_name_check(w.name, NULL, 0) != 0 || !collrec__settings_ok(&w))
		return ROOST_ECORRUPT;
	memset(out, 0, sizeof *out);
	out->op = (enum collrec_op)w.op;
	out->client_id = w.client_id;
	out->seq = w.seq;
	memcpy(out->name, w.name, sizeof out->name);
	out->settings.dim = w.dim;
	out->settings.metric = w.metric;
	memcpy(out->settings.index, w.index, sizeof out->settings.index);
	out->settings.train_docs = w.train_docs;
	out->settings.seal_docs = w.seal_docs;
	out->settings.seal_interval_ms = w.seal_interval_ms;
	memcpy(out->settings.indexed_keys, w.indexed_keys, sizeof out->settings.indexed_keys);
	out->id = w.id;
	out->as_of_lsn = w.as_of_lsn;
	return 0;
}

void collrec_write(const struct collrec *rec, void *dst)
{
	struct collrec__wire w;
	memset(&w, 0, sizeof w);
	w.magic = COLLREC_MAGIC;
	w.version = COLLREC_VERSION;
	w.op = (uint16_t)rec->op;
	w.client_id = rec->client_id;
	w.seq = rec->seq;
	memcpy(w.name, rec->name, strnlen(rec->name, sizeof w.name - 1));
	if (rec->op == COLLREC_CREATE) {
		w.dim = rec->settings.dim;
		w.metric = rec->settings.metric;
		memcpy(w.index, rec->settings.index,
		       strnlen(rec->settings.index, sizeof w.index - 1));
		w.train_docs = rec->settings.train_docs;
		w.seal_docs = rec->settings.seal_docs;
		w.seal_interval_ms = rec->settings.seal_interval_ms;
		memcpy(w.indexed_keys, rec->settings.indexed_keys,
		       strnlen(rec->settings.indexed_keys, sizeof w.indexed_keys - 1));
	} else {
		w.id = rec->id;
	}
	if (rec->op == COLLREC_FORK)
		w.as_of_lsn = rec->as_of_lsn;
	if (rec->op == COLLREC_ALTER) {
		memcpy(w.index, rec->settings.index,
		       strnlen(rec->settings.index, sizeof w.index - 1));
		w.train_docs = rec->settings.train_docs;
	}
	memcpy(dst, &w, sizeof w);
}
