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

#define MANIFEST__MAGIC	  0x545346494e414d52ull /* "RMANIFST" */
#define MANIFEST__MAX_DIM 4096u
#define MANIFEST__CRC	  sizeof(uint32_t)
#define MANIFEST__MAX_FILE                                                                         \
	(sizeof(struct manifest_header) + MANIFEST_MAX_SEGS * sizeof(struct manifest_segment) +    \
	 MANIFEST_MAX_KEYS * sizeof(struct manifest_key) + MANIFEST__CRC)

struct manifest_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t gen;
	uint32_t dim;
	uint32_t metric;
	char index[64];
	uint64_t tail_start; /* at offset 96: tests/system/conftest.py reads it */
	uint64_t trained_gen;
	uint32_t nsegments;
	uint32_t nkeys;
	char name[MANIFEST_NAME_LEN]; /* version 2 on */
};

/* Version 1 ended its header before the name. */
#define MANIFEST__V1_HEADER offsetof(struct manifest_header, name)

_Static_assert(MANIFEST__V1_HEADER == 120, "a version 1 header is 120 bytes");
_Static_assert(sizeof(struct manifest_header) == 160, "manifest header is 160 bytes");
_Static_assert(sizeof(struct manifest_segment) == 24, "segment entry is 24 bytes");
_Static_assert(sizeof(struct manifest_key) == 32, "key entry is 32 bytes");

/* Only meaningful once the counts are within their limits, which keeps the
 * products far from overflowing even a 32-bit size_t. */
static size_t manifest__file_size(size_t header, uint32_t nsegments, uint32_t nkeys)
{
	return header + (size_t)nsegments * sizeof(struct manifest_segment) +
	       (size_t)nkeys * sizeof(struct manifest_key) + MANIFEST__CRC;
}

static size_t manifest__header_size(uint32_t version)
{
	return version == 1 ? MANIFEST__V1_HEADER : sizeof(struct manifest_header);
}

static bool manifest__header_ok(const struct manifest_header *h)
{
	return h->header_size == manifest__header_size(h->version) && h->dim >= 1 &&
	       h->dim <= MANIFEST__MAX_DIM && h->metric <= 1 && h->nsegments <= MANIFEST_MAX_SEGS &&
	       h->nkeys <= MANIFEST_MAX_KEYS && memchr(h->index, '\0', sizeof h->index) != NULL &&
	       memchr(h->name, '\0', sizeof h->name) != NULL;
}

/* Readers map LSN ranges to segments by binary search and the writer
 * replays the log from tail_start, so the ranges must be sorted, disjoint
 * and entirely below tail_start. */
static bool manifest__segments_ok(const struct manifest_segment *s, uint32_t n, uint64_t tail_start)
{
	uint64_t prev_end = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (s[i].start_lsn >= s[i].end_lsn || s[i].start_lsn < prev_end ||
		    s[i].end_lsn > tail_start)
			return false;
		prev_end = s[i].end_lsn;
	}
	return true;
}

/* Magic and version come first so that a file of another version reports
 * EVERSION even though its length or checksum would not match ours. */
static int manifest__check_prefix(const void *buf, size_t len)
{
	uint64_t magic;
	uint32_t version;
	if (len < sizeof magic + sizeof version)
		return ROOST_ECORRUPT;
	memcpy(&magic, buf, sizeof magic);
	memcpy(&version, (const char *)buf + sizeof magic, sizeof version);
	if (magic != MANIFEST__MAGIC)
		return ROOST_ECORRUPT;
	return version == 1 || version == MANIFEST_VERSION ? 0 : ROOST_EVERSION;
}

/* A version 1 header reads as one with an empty name. */
static int manifest__check_bytes(const void *buf, size_t len, struct manifest_header *h)
{
	int rc = manifest__check_prefix(buf, len);
	if (rc)
		return rc;
	memset(h, 0, sizeof *h);
	memcpy(&h->version, (const char *)buf + sizeof h->magic, sizeof h->version);
	size_t header = manifest__header_size(h->version);
	if (len < header + MANIFEST__CRC)
		return ROOST_ECORRUPT;
	memcpy(h, buf, header);
	if (!manifest__header_ok(h) || len != manifest__file_size(header, h->nsegments, h->nkeys))
		return ROOST_ECORRUPT;
	uint32_t crc;
	memcpy(&crc, (const char *)buf + len - MANIFEST__CRC, sizeof crc);
	return crc32c_update(0, buf, len - MANIFEST__CRC) == crc ? 0 : ROOST_ECORRUPT;
}

/* Even an empty array gets a real allocation: callers may hand it to
 * memcpy or memcmp, which must not see NULL. */
static int manifest__copy_array(const void *src, size_t bytes, void **dst)
{
	*dst = malloc(bytes ? bytes : 1);
	if (!*dst)
		return ROOST_ENOMEM;
	memcpy(*dst, src, bytes);
	return 0;
}

static void manifest__from_header(const struct manifest_header *h, struct manifest *m)
{
	m->gen = h->gen;
	m->dim = h->dim;
	m->metric = h->metric;
	memcpy(m->index, h->index, sizeof m->index);
	memcpy(m->name, h->name, sizeof m->name);
	m->tail_start = h->tail_start;
	m->trained_gen = h->trained_gen;
	m->nsegments = h->nsegments;
	m->nkeys = h->nkeys;
}

int manifest_decode(const void *buf, size_t len, struct manifest *out)
{
	memset(out, 0, sizeof *out);
	struct manifest_header h;
	int rc = manifest__check_bytes(buf, len, &h);
	if (rc)
		return rc;
	const char *p = (const char *)buf + h.header_size;
	size_t segs = (size_t)h.nsegments * sizeof(struct manifest_segment);
	size_t keys = (size_t)h.nkeys * sizeof(struct manifest_key);
	/* Copied before checking: buf need not be aligned for the structs. */
	void *s = NULL, *k = NULL;
	rc = manifest__copy_array(p, segs, &s);
	out->segments = s;
	if (rc == 0)
		rc = manifest__copy_array(p + segs, keys, &k);
	out->keys = k;
	if (rc == 0 && !manifest__segments_ok(out->segments, h.nsegments, h.tail_start))
		rc = ROOST_ECORRUPT;
	if (rc) {
		manifest_free(out);
		return rc;
	}
	manifest__from_header(&h, out);
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

/* Bytes after the index and name strings' NULs are zeroed so that equal
 * manifests give equal files. */
static void manifest__to_header(const struct manifest *m, struct manifest_header *h)
{
	*h = (struct manifest_header){
	    .magic = MANIFEST__MAGIC,
	    .version = MANIFEST_VERSION,
	    .header_size = sizeof *h,
	    .gen = m->gen,
	    .dim = m->dim,
	    .metric = m->metric,
	    .tail_start = m->tail_start,
	    .trained_gen = m->trained_gen,
	    .nsegments = m->nsegments,
	    .nkeys = m->nkeys,
	};
	memcpy(h->index, m->index, strnlen(m->index, sizeof m->index));
	memcpy(h->name, m->name, strnlen(m->name, sizeof m->name));
}

/* Refuses what manifest_decode would reject: a manifest that cannot be
 * read back must never replace one that can. */
static int manifest__check_store(const struct manifest *m, const struct manifest_header *h)
{
	if (m->nsegments > MANIFEST_MAX_SEGS || m->nkeys > MANIFEST_MAX_KEYS)
		return ROOST_ETOOBIG;
	if (!manifest__header_ok(h) ||
	    !manifest__segments_ok(m->segments, m->nsegments, m->tail_start))
		return ROOST_EINVAL;
	return 0;
}

static int manifest__encode(const struct manifest *m, const struct manifest_header *h, char **buf,
			    size_t *len)
{
	size_t segs = (size_t)m->nsegments * sizeof(struct manifest_segment);
	size_t keys = (size_t)m->nkeys * sizeof(struct manifest_key);
	*len = manifest__file_size(sizeof *h, m->nsegments, m->nkeys);
	char *b = malloc(*len);
	if (!b)
		return ROOST_ENOMEM;
	memcpy(b, h, sizeof *h);
	if (segs)
		memcpy(b + sizeof *h, m->segments, segs);
	if (keys)
		memcpy(b + sizeof *h + segs, m->keys, keys);
	uint32_t crc = crc32c_update(0, b, *len - MANIFEST__CRC);
	memcpy(b + *len - MANIFEST__CRC, &crc, sizeof crc);
	*buf = b;
	return 0;
}

static int manifest__replace(const char *dir, const char *buf, size_t len)
{
	char path[PATH_MAX];
	int rc = manifest__path(dir, "MANIFEST", path);
	struct iovec iov = {(void *)buf, len};
	return rc ? rc : durable_replace(path, &iov, 1, 0600);
}

int manifest_store(const char *dir, const struct manifest *m)
{
	struct manifest_header h;
	manifest__to_header(m, &h);
	int rc = manifest__check_store(m, &h);
	char *buf = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = manifest__encode(m, &h, &buf, &len);
	if (rc == 0)
		rc = manifest__replace(dir, buf, len);
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
	free(m->segments);
	free(m->keys);
	m->segments = NULL;
	m->keys = NULL;
	m->nsegments = m->nkeys = 0;
}

static int manifest__format_done(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

int manifest_segment_path(const char *dir, uint64_t start_lsn, uint64_t end_lsn, const char *ext,
			  char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/seg-%016llx-%016llx.%s", dir, (unsigned long long)start_lsn,
			 (unsigned long long)end_lsn, ext);
	return manifest__format_done(n, len);
}

int manifest_trained_path(const char *dir, uint64_t gen, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/trained-%016llx.index", dir, (unsigned long long)gen);
	return manifest__format_done(n, len);
}
