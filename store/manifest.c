#include "manifest.h"

#include "crc32c.h"
#include "durable.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST__MAGIC 0x545346494e414d52ull /* "RMANIFST" */
#define MANIFEST__CRC	sizeof(uint32_t)
#define MANIFEST__MAX_FILE                                                                         \
	(sizeof(struct manifest__header) + MANIFEST_MAX_COLLS * sizeof(struct manifest__coll) +    \
	 MANIFEST_MAX_SEGS * sizeof(struct manifest_segment) +                                     \
	 MANIFEST_MAX_KEYS * sizeof(struct manifest_key) + MANIFEST__CRC)

/* Versions 3 to 6. */
struct manifest__header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t gen;
	uint64_t tail_start;
	uint64_t catalog_lsn;
	uint32_t next_coll;
	uint32_t ncolls;
	uint32_t nsegments;
	uint32_t nkeys;
	char name[MANIFEST_NAME_LEN];
};

struct manifest__coll {
	uint32_t id;
	uint32_t dim;
	uint32_t metric;
	uint32_t seal_interval_ms;
	char name[COLL_NAME_MAX + 1];
	char index[COLL_INDEX_MAX + 1];
	uint64_t train_docs;
	uint64_t seal_docs;
	uint64_t created_lsn;
	uint64_t tail_start;
	uint64_t trained_gen;
	uint64_t tail_gen;
	uint64_t tomb_gen;		      /* version 4 on */
	char indexed_keys[COLL_KEYS_MAX + 1]; /* version 5 on */
	uint64_t reclaimed_lsn;		      /* version 5 on */
	uint64_t index_gen;		      /* version 6 on */
};

/* A version 3 entry ends before tomb_gen, a version 4 one before the
 * indexed keys, a version 5 one before index_gen. */
#define MANIFEST__V3_COLL offsetof(struct manifest__coll, tomb_gen)
#define MANIFEST__V4_COLL offsetof(struct manifest__coll, indexed_keys)
#define MANIFEST__V5_COLL offsetof(struct manifest__coll, index_gen)

/* Versions 1 and 2: one collection, its settings in the header. Version 1
 * ended its header before the name. */
struct manifest__v2_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t gen;
	uint32_t dim;
	uint32_t metric;
	char index[64];
	uint64_t tail_start;
	uint64_t trained_gen;
	uint32_t nsegments;
	uint32_t nkeys;
	char name[MANIFEST_NAME_LEN];
};

/* A version 2 segment entry: no collection. */
struct manifest__v2_segment {
	uint64_t start_lsn, end_lsn, count;
};

#define MANIFEST__V1_HEADER offsetof(struct manifest__v2_header, name)

_Static_assert(sizeof(struct manifest__header) == 96, "manifest header is 96 bytes");
_Static_assert(sizeof(struct manifest__coll) == 344, "collection entry is 344 bytes");
_Static_assert(MANIFEST__V5_COLL == 336, "a version 5 collection entry is 336 bytes");
_Static_assert(MANIFEST__V4_COLL == 200, "a version 4 collection entry is 200 bytes");
_Static_assert(MANIFEST__V3_COLL == 192, "a version 3 collection entry is 192 bytes");
_Static_assert(offsetof(struct manifest__coll, train_docs) == 144, "collection entry layout");
_Static_assert(sizeof(struct manifest_segment) == 32, "segment entry is 32 bytes");
_Static_assert(sizeof(struct manifest_key) == 32, "key entry is 32 bytes");
_Static_assert(MANIFEST__V1_HEADER == 120, "a version 1 header is 120 bytes");
_Static_assert(sizeof(struct manifest__v2_header) == 160, "a version 2 header is 160 bytes");
_Static_assert(sizeof(struct manifest__v2_segment) == 24, "a version 2 segment entry is 24 bytes");

static bool manifest__terminated(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

static bool manifest__index_ok(const char *index)
{
	if (!index[0])
		return false;
	for (const char *c = index; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			return false;
	return true;
}

static bool manifest__settings_ok(const struct coll_settings *s)
{
	return s->dim >= 1 && s->dim <= COLL_MAX_DIM && s->metric <= 1 &&
	       manifest__terminated(s->index, sizeof s->index) && manifest__index_ok(s->index) &&
	       manifest__terminated(s->indexed_keys, sizeof s->indexed_keys) &&
	       coll_keys_check(s->indexed_keys, NULL, 0) == 0;
}

/* Ascending unique ids below next_coll, unique valid names, and every
 * collection's covered LSN at or above the replay point. */
static bool manifest__colls_ok(const struct manifest *m)
{
	for (uint32_t i = 0; i < m->ncolls; i++) {
		const struct manifest_coll *c = &m->colls[i];
		if (c->id == 0 || c->id >= m->next_coll || (i > 0 && c->id <= c[-1].id) ||
		    !manifest__terminated(c->name, sizeof c->name) ||
		    coll_name_check(c->name, NULL, 0) != 0 ||
		    !manifest__settings_ok(&c->settings) || c->tail_start < m->tail_start ||
		    c->trained_gen > m->gen || c->tail_gen > m->gen || c->tomb_gen > m->gen ||
		    c->index_gen > UINT32_MAX)
			return false;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(m->colls[j].name, c->name) == 0)
				return false;
	}
	return true;
}

/* Readers map LSN ranges to segments by binary search and the writer
 * replays each collection's log from its tail_start, so each collection's
 * ranges must be sorted, disjoint and entirely below its tail_start. */
static bool manifest__segments_ok(const struct manifest *m)
{
	const struct manifest_segment *s = m->segments;
	for (uint32_t i = 0; i < m->nsegments; i++) {
		const struct manifest_coll *c = manifest_coll_find(m, s[i].coll);
		bool same = i > 0 && s[i - 1].coll == s[i].coll;
		if (!c || s[i].index_gen > c->index_gen || (i > 0 && s[i].coll < s[i - 1].coll) ||
		    s[i].start_lsn >= s[i].end_lsn || (same && s[i].start_lsn < s[i - 1].end_lsn) ||
		    s[i].end_lsn > c->tail_start)
			return false;
	}
	return true;
}

static bool manifest__ok(const struct manifest *m)
{
	return m->next_coll >= 1 && m->next_coll <= MANIFEST_MAX_COLLID + 1 &&
	       m->tail_start <= m->catalog_lsn && manifest__terminated(m->name, sizeof m->name) &&
	       manifest__colls_ok(m) && manifest__segments_ok(m);
}

/* Only meaningful once the counts are within their limits, which keeps the
 * products far from overflowing even a 32-bit size_t. */
static size_t manifest__file_size(size_t header, size_t coll_size, uint32_t ncolls, size_t seg_size,
				  uint32_t nsegments, uint32_t nkeys)
{
	return header + (size_t)ncolls * coll_size + (size_t)nsegments * seg_size +
	       (size_t)nkeys * sizeof(struct manifest_key) + MANIFEST__CRC;
}

/* Magic and version come first so that a file of another version reports
 * EVERSION even though its length or checksum would not match ours. */
static int manifest__check_prefix(const void *buf, size_t len, uint32_t *version)
{
	uint64_t magic;
	if (len < sizeof magic + sizeof *version)
		return ROOST_ECORRUPT;
	memcpy(&magic, buf, sizeof magic);
	memcpy(version, (const char *)buf + sizeof magic, sizeof *version);
	if (magic != MANIFEST__MAGIC)
		return ROOST_ECORRUPT;
	return *version >= 1 && *version <= MANIFEST_VERSION ? 0 : ROOST_EVERSION;
}

static int manifest__check_crc(const void *buf, size_t len)
{
	uint32_t crc;
	memcpy(&crc, (const char *)buf + len - MANIFEST__CRC, sizeof crc);
	return crc32c_update(0, buf, len - MANIFEST__CRC) == crc ? 0 : ROOST_ECORRUPT;
}

/* Even an empty array gets a real allocation: callers may hand it to
 * memcpy or memcmp, which must not see NULL. */
static void *manifest__alloc(size_t n, size_t size)
{
	size_t bytes = n * size;
	return malloc(bytes ? bytes : 1);
}

static int manifest__copy_keys(const char *p, uint32_t nkeys, struct manifest *out)
{
	/* Copied: buf need not be aligned for the structs. */
	out->keys = manifest__alloc(nkeys, sizeof *out->keys);
	if (!out->keys)
		return ROOST_ENOMEM;
	memcpy(out->keys, p, (size_t)nkeys * sizeof *out->keys);
	out->nkeys = nkeys;
	return 0;
}

/* Versions 1 and 2: their one collection becomes "default". */
static int manifest__decode_v2(const void *buf, size_t len, uint32_t version, struct manifest *out)
{
	struct manifest__v2_header h;
	size_t header = version == 1 ? MANIFEST__V1_HEADER : sizeof h;
	memset(&h, 0, sizeof h);
	if (len < header + MANIFEST__CRC)
		return ROOST_ECORRUPT;
	memcpy(&h, buf, header);
	if (h.header_size != header || h.nsegments > MANIFEST_MAX_SEGS ||
	    h.nkeys > MANIFEST_MAX_KEYS || !manifest__terminated(h.index, sizeof h.index) ||
	    !manifest__terminated(h.name, sizeof h.name) ||
	    len != manifest__file_size(header, 0, 0, sizeof(struct manifest__v2_segment),
				       h.nsegments, h.nkeys))
		return ROOST_ECORRUPT;
	int rc = manifest__check_crc(buf, len);
	if (rc)
		return rc;
	out->gen = h.gen;
	memcpy(out->name, h.name, sizeof out->name);
	out->next_coll = COLL_DEFAULT_ID + 1;
	out->catalog_lsn = out->tail_start = h.tail_start;
	out->colls = manifest__alloc(1, sizeof *out->colls);
	out->segments = manifest__alloc(h.nsegments, sizeof *out->segments);
	if (!out->colls || !out->segments)
		return ROOST_ENOMEM;
	struct manifest_coll *c = &out->colls[0];
	*c = (struct manifest_coll){.id = COLL_DEFAULT_ID,
				    .settings = {.dim = h.dim, .metric = h.metric},
				    .tail_start = h.tail_start,
				    .trained_gen = h.trained_gen,
				    .tail_gen = h.gen};
	snprintf(c->name, sizeof c->name, "%s", COLL_DEFAULT);
	memcpy(c->settings.index, h.index, sizeof c->settings.index);
	out->ncolls = 1;
	const char *p = (const char *)buf + header;
	for (uint32_t i = 0; i < h.nsegments; i++, p += sizeof(struct manifest__v2_segment)) {
		struct manifest__v2_segment v;
		memcpy(&v, p, sizeof v);
		out->segments[i] = (struct manifest_segment){.coll = COLL_DEFAULT_ID,
							     .start_lsn = v.start_lsn,
							     .end_lsn = v.end_lsn,
							     .count = v.count};
	}
	out->nsegments = h.nsegments;
	return manifest__copy_keys(p, h.nkeys, out);
}

static void manifest__coll_from(const struct manifest__coll *e, struct manifest_coll *c)
{
	*c = (struct manifest_coll){
	    .id = e->id,
	    .settings = {.dim = e->dim,
			 .metric = e->metric,
			 .train_docs = e->train_docs,
			 .seal_docs = e->seal_docs,
			 .seal_interval_ms = e->seal_interval_ms},
	    .created_lsn = e->created_lsn,
	    .tail_start = e->tail_start,
	    .trained_gen = e->trained_gen,
	    .tail_gen = e->tail_gen,
	    .tomb_gen = e->tomb_gen,
	    .reclaimed_lsn = e->reclaimed_lsn,
	    .index_gen = e->index_gen,
	};
	memcpy(c->name, e->name, sizeof c->name);
	memcpy(c->settings.index, e->index, sizeof c->settings.index);
	memcpy(c->settings.indexed_keys, e->indexed_keys, sizeof c->settings.indexed_keys);
}

/* Versions 3 to 6 differ in the size of a collection entry: version 3 has
 * no tombstone generation (none then), version 4 no indexed keys, version
 * 5 no index generation (no collection was altered then: each segment
 * entry's index_gen, its padding before, is 0). */
static int manifest__decode_v3(const void *buf, size_t len, uint32_t version, struct manifest *out)
{
	size_t esize = version >= 6   ? sizeof(struct manifest__coll)
		       : version == 5 ? MANIFEST__V5_COLL
		       : version == 4 ? MANIFEST__V4_COLL
				      : MANIFEST__V3_COLL;
	struct manifest__header h;
	if (len < sizeof h + MANIFEST__CRC)
		return ROOST_ECORRUPT;
	memcpy(&h, buf, sizeof h);
	if (h.header_size != sizeof h || h.ncolls > MANIFEST_MAX_COLLS ||
	    h.nsegments > MANIFEST_MAX_SEGS || h.nkeys > MANIFEST_MAX_KEYS ||
	    len != manifest__file_size(sizeof h, esize, h.ncolls, sizeof(struct manifest_segment),
				       h.nsegments, h.nkeys))
		return ROOST_ECORRUPT;
	int rc = manifest__check_crc(buf, len);
	if (rc)
		return rc;
	out->gen = h.gen;
	memcpy(out->name, h.name, sizeof out->name);
	out->next_coll = h.next_coll;
	out->catalog_lsn = h.catalog_lsn;
	out->tail_start = h.tail_start;
	out->colls = manifest__alloc(h.ncolls, sizeof *out->colls);
	out->segments = manifest__alloc(h.nsegments, sizeof *out->segments);
	if (!out->colls || !out->segments)
		return ROOST_ENOMEM;
	const char *p = (const char *)buf + sizeof h;
	for (uint32_t i = 0; i < h.ncolls; i++, p += esize) {
		struct manifest__coll e = {0};
		memcpy(&e, p, esize);
		if (!manifest__terminated(e.index, sizeof e.index) ||
		    !manifest__terminated(e.indexed_keys, sizeof e.indexed_keys))
			return ROOST_ECORRUPT;
		manifest__coll_from(&e, &out->colls[i]);
	}
	out->ncolls = h.ncolls;
	memcpy(out->segments, p, (size_t)h.nsegments * sizeof *out->segments);
	out->nsegments = h.nsegments;
	return manifest__copy_keys(p + (size_t)h.nsegments * sizeof *out->segments, h.nkeys, out);
}

int manifest_decode(const void *buf, size_t len, struct manifest *out)
{
	memset(out, 0, sizeof *out);
	uint32_t version;
	int rc = manifest__check_prefix(buf, len, &version);
	if (rc == 0)
		rc = version < 3 ? manifest__decode_v2(buf, len, version, out)
				 : manifest__decode_v3(buf, len, version, out);
	if (rc == 0 && !manifest__ok(out))
		rc = ROOST_ECORRUPT;
	if (rc) {
		manifest_free(out);
		memset(out, 0, sizeof *out);
		return rc;
	}
	out->version = version;
	return 0;
}

/* Where id is, or would go, in the ascending colls. */
static uint32_t manifest__coll_pos(const struct manifest *m, uint32_t id)
{
	uint32_t lo = 0, hi = m->ncolls;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (m->colls[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct manifest_coll *manifest_coll_find(const struct manifest *m, uint32_t id)
{
	uint32_t i = manifest__coll_pos(m, id);
	return i < m->ncolls && m->colls[i].id == id ? &m->colls[i] : NULL;
}

struct manifest_coll *manifest_coll_named(const struct manifest *m, const char *name)
{
	for (uint32_t i = 0; i < m->ncolls; i++)
		if (strcmp(m->colls[i].name, name) == 0)
			return &m->colls[i];
	return NULL;
}

void manifest_segments_of(const struct manifest *m, uint32_t id, uint32_t *first, uint32_t *n)
{
	uint32_t i = 0;
	while (i < m->nsegments && m->segments[i].coll < id)
		i++;
	*first = i;
	while (i < m->nsegments && m->segments[i].coll == id)
		i++;
	*n = i - *first;
}

int manifest_add_coll(struct manifest *m, const struct manifest_coll *c)
{
	if (manifest_coll_find(m, c->id))
		return ROOST_EEXIST;
	if (m->ncolls >= MANIFEST_MAX_COLLS)
		return ROOST_ETOOBIG;
	struct manifest_coll *colls = realloc(m->colls, (m->ncolls + 1) * sizeof *colls);
	if (!colls)
		return ROOST_ENOMEM;
	m->colls = colls;
	uint32_t at = manifest__coll_pos(m, c->id);
	memmove(&colls[at + 1], &colls[at], (m->ncolls - at) * sizeof *colls);
	colls[at] = *c;
	m->ncolls++;
	return 0;
}

void manifest_remove_coll(struct manifest *m, uint32_t id)
{
	struct manifest_coll *c = manifest_coll_find(m, id);
	if (!c)
		return;
	uint32_t at = (uint32_t)(c - m->colls), first, n;
	memmove(c, c + 1, (m->ncolls - at - 1) * sizeof *c);
	m->ncolls--;
	manifest_segments_of(m, id, &first, &n);
	/* None of its own: nothing moves, and segments may still be NULL. */
	if (n == 0)
		return;
	memmove(&m->segments[first], &m->segments[first + n],
		(m->nsegments - first - n) * sizeof *m->segments);
	m->nsegments -= n;
}

int manifest_add_segment(struct manifest *m, const struct manifest_segment *s)
{
	if (m->nsegments >= MANIFEST_MAX_SEGS)
		return ROOST_ETOOBIG;
	struct manifest_segment *segs = realloc(m->segments, (m->nsegments + 1) * sizeof *segs);
	if (!segs)
		return ROOST_ENOMEM;
	m->segments = segs;
	uint32_t at = 0;
	while (at < m->nsegments &&
	       (segs[at].coll < s->coll ||
		(segs[at].coll == s->coll && segs[at].start_lsn < s->start_lsn)))
		at++;
	memmove(&segs[at + 1], &segs[at], (m->nsegments - at) * sizeof *segs);
	segs[at] = *s;
	m->nsegments++;
	return 0;
}

/* A copy of n elements at src, which may be NULL when n is 0 (a manifest
 * built in memory has no arrays until something is added). */
static void *manifest__dup(const void *src, size_t n, size_t size)
{
	void *p = manifest__alloc(n, size);
	if (p && n)
		memcpy(p, src, n * size);
	return p;
}

int manifest_copy(const struct manifest *src, struct manifest *dst)
{
	*dst = *src;
	dst->colls = manifest__dup(src->colls, src->ncolls, sizeof *dst->colls);
	dst->segments = manifest__dup(src->segments, src->nsegments, sizeof *dst->segments);
	dst->keys = manifest__dup(src->keys, src->nkeys, sizeof *dst->keys);
	if (!dst->colls || !dst->segments || !dst->keys) {
		manifest_free(dst);
		return ROOST_ENOMEM;
	}
	return 0;
}

static int manifest__path(const char *dir, const char *name, char *buf)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return n < 0 || n >= PATH_MAX ? ROOST_ETOOBIG : 0;
}

static int manifest__read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return roost_from_errno(errno);
		if (n == 0)
			return ROOST_ECORRUPT; /* shrank under us: not a sealed manifest */
		got += (size_t)n;
	}
	return 0;
}

/* The size bound keeps a damaged or foreign file from driving a huge
 * allocation; anything larger cannot be a valid manifest anyway. */
static int manifest__read_file(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	struct stat st;
	int rc = fstat(fd, &st) == 0 ? 0 : roost_from_errno(errno);
	if (rc == 0 && (st.st_size < 0 || (uint64_t)st.st_size > MANIFEST__MAX_FILE))
		rc = ROOST_ECORRUPT;
	*len = rc == 0 ? (size_t)st.st_size : 0;
	*buf = rc == 0 ? malloc(*len ? *len : 1) : NULL;
	if (rc == 0 && !*buf)
		rc = ROOST_ENOMEM;
	if (rc == 0)
		rc = manifest__read_all(fd, *buf, *len);
	close(fd);
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

int manifest_load(const char *dir, struct manifest *out)
{
	memset(out, 0, sizeof *out);
	char path[PATH_MAX];
	int rc = manifest__path(dir, "MANIFEST", path);
	char *buf = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = manifest__read_file(path, &buf, &len);
	if (rc == 0)
		rc = manifest_decode(buf, len, out);
	free(buf);
	return rc;
}

/* Strings are copied up to their NUL and the rest zeroed, so that equal
 * manifests give equal files. */
static void manifest__to_header(const struct manifest *m, struct manifest__header *h)
{
	*h = (struct manifest__header){
	    .magic = MANIFEST__MAGIC,
	    .version = MANIFEST_VERSION,
	    .header_size = sizeof *h,
	    .gen = m->gen,
	    .tail_start = m->tail_start,
	    .catalog_lsn = m->catalog_lsn,
	    .next_coll = m->next_coll,
	    .ncolls = m->ncolls,
	    .nsegments = m->nsegments,
	    .nkeys = m->nkeys,
	};
	memcpy(h->name, m->name, strnlen(m->name, sizeof m->name - 1));
}

static void manifest__coll_to(const struct manifest_coll *c, struct manifest__coll *e)
{
	*e = (struct manifest__coll){
	    .id = c->id,
	    .dim = c->settings.dim,
	    .metric = c->settings.metric,
	    .seal_interval_ms = c->settings.seal_interval_ms,
	    .train_docs = c->settings.train_docs,
	    .seal_docs = c->settings.seal_docs,
	    .created_lsn = c->created_lsn,
	    .tail_start = c->tail_start,
	    .trained_gen = c->trained_gen,
	    .tail_gen = c->tail_gen,
	    .tomb_gen = c->tomb_gen,
	    .reclaimed_lsn = c->reclaimed_lsn,
	    .index_gen = c->index_gen,
	};
	memcpy(e->name, c->name, strnlen(c->name, sizeof c->name - 1));
	memcpy(e->index, c->settings.index, strnlen(c->settings.index, sizeof e->index - 1));
	memcpy(e->indexed_keys, c->settings.indexed_keys,
	       strnlen(c->settings.indexed_keys, sizeof e->indexed_keys - 1));
}

/* Refuses what manifest_decode would reject: a manifest that cannot be
 * read back must never replace one that can. */
static int manifest__check_store(const struct manifest *m)
{
	if (m->ncolls > MANIFEST_MAX_COLLS || m->nsegments > MANIFEST_MAX_SEGS ||
	    m->nkeys > MANIFEST_MAX_KEYS)
		return ROOST_ETOOBIG;
	return manifest__ok(m) ? 0 : ROOST_EINVAL;
}

static int manifest__encode(const struct manifest *m, char **buf, size_t *len)
{
	struct manifest__header h;
	manifest__to_header(m, &h);
	size_t segs = (size_t)m->nsegments * sizeof(struct manifest_segment);
	size_t keys = (size_t)m->nkeys * sizeof(struct manifest_key);
	*len = manifest__file_size(sizeof h, sizeof(struct manifest__coll), m->ncolls,
				   sizeof(struct manifest_segment), m->nsegments, m->nkeys);
	char *b = malloc(*len), *p = b;
	if (!b)
		return ROOST_ENOMEM;
	memcpy(p, &h, sizeof h);
	p += sizeof h;
	for (uint32_t i = 0; i < m->ncolls; i++, p += sizeof(struct manifest__coll)) {
		struct manifest__coll e;
		manifest__coll_to(&m->colls[i], &e);
		memcpy(p, &e, sizeof e);
	}
	if (segs)
		memcpy(p, m->segments, segs);
	if (keys)
		memcpy(p + segs, m->keys, keys);
	uint32_t crc = crc32c_update(0, b, *len - MANIFEST__CRC);
	memcpy(b + *len - MANIFEST__CRC, &crc, sizeof crc);
	*buf = b;
	return 0;
}

static int manifest__replace(const char *dir, const char *buf, size_t len, mode_t mode)
{
	char path[PATH_MAX];
	int rc = manifest__path(dir, "MANIFEST", path);
	struct iovec iov = {(void *)buf, len};
	return rc ? rc : durable_replace(path, &iov, 1, mode);
}

int manifest_store(const char *dir, const struct manifest *m, mode_t mode)
{
	int rc = manifest__check_store(m);
	char *buf = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = manifest__encode(m, &buf, &len);
	if (rc == 0)
		rc = manifest__replace(dir, buf, len, mode);
	free(buf);
	return rc;
}

int manifest_moved_on(const char *dir, uint64_t gen)
{
	struct manifest now;
	int moved = manifest_load(dir, &now) == 0 && now.gen != gen;
	manifest_free(&now);
	return moved;
}

void manifest_free(struct manifest *m)
{
	free(m->colls);
	free(m->segments);
	free(m->keys);
	m->colls = NULL;
	m->segments = NULL;
	m->keys = NULL;
	m->ncolls = m->nsegments = m->nkeys = 0;
}

static int manifest__format_done(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

/* Collection 1's files have no collection in their names (see the header). */
static int manifest__coll_part(uint32_t coll, char *buf, size_t len)
{
	return manifest__format_done(coll == COLL_DEFAULT_ID ? snprintf(buf, len, "%s", "")
							     : snprintf(buf, len, "c%08x-", coll),
				     len);
}

int manifest_segment_path(const char *dir, uint32_t coll, uint64_t start_lsn, uint64_t end_lsn,
			  const char *ext, char *buf, size_t len)
{
	char part[16];
	manifest__coll_part(coll, part, sizeof part);
	int n = snprintf(buf, len, "%s/seg-%s%016llx-%016llx.%s", dir, part,
			 (unsigned long long)start_lsn, (unsigned long long)end_lsn, ext);
	return manifest__format_done(n, len);
}

int manifest_index_path(const char *dir, const struct manifest_segment *s, char *buf, size_t len)
{
	char ext[24] = "index";
	if (s->index_gen)
		snprintf(ext, sizeof ext, "%08x.index", s->index_gen);
	return manifest_segment_path(dir, s->coll, s->start_lsn, s->end_lsn, ext, buf, len);
}

int manifest_trained_path(const char *dir, uint32_t coll, uint64_t gen, char *buf, size_t len)
{
	char part[16];
	manifest__coll_part(coll, part, sizeof part);
	int n =
	    snprintf(buf, len, "%s/trained-%s%016llx.index", dir, part, (unsigned long long)gen);
	return manifest__format_done(n, len);
}

int manifest_tomb_path(const char *dir, uint32_t coll, uint64_t gen, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/tombs-%08x-%016llx", dir, coll, (unsigned long long)gen);
	return manifest__format_done(n, len);
}

int manifest_each_file(const char *dir, const struct manifest *m,
		       int (*fn)(void *arg, const char *path), void *arg)
{
	char path[PATH_MAX];
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < m->nsegments; i++) {
		const struct manifest_segment *s = &m->segments[i];
		rc = manifest_index_path(dir, s, path, sizeof path);
		if (rc == 0)
			rc = fn(arg, path);
		if (rc == 0)
			rc = manifest_segment_path(dir, s->coll, s->start_lsn, s->end_lsn, "docs",
						   path, sizeof path);
		if (rc == 0)
			rc = fn(arg, path);
	}
	for (uint32_t i = 0; rc == 0 && i < m->ncolls; i++) {
		const struct manifest_coll *c = &m->colls[i];
		if (c->trained_gen && (rc = manifest_trained_path(dir, c->id, c->trained_gen, path,
								  sizeof path)) == 0)
			rc = fn(arg, path);
		if (rc == 0 && c->tomb_gen &&
		    (rc = manifest_tomb_path(dir, c->id, c->tomb_gen, path, sizeof path)) == 0)
			rc = fn(arg, path);
	}
	return rc;
}

uint64_t manifest_history_start(uint64_t created_lsn, uint64_t reclaimed_lsn)
{
	return created_lsn + 1 > reclaimed_lsn ? created_lsn + 1 : reclaimed_lsn;
}
