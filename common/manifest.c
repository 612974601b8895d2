#include "manifest.h"

#include "crc32c.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAGIC 0x5453464e414d5252ull /* "RRMANFST" */
#define MANIFEST_MAX_FILE                                                                          \
	(sizeof(struct manifest_header) + MANIFEST_MAX_SEGS * sizeof(struct manifest_segment) +    \
	 MANIFEST_MAX_KEYS * sizeof(struct manifest_key) + 4)

struct manifest_header {
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
};

_Static_assert(sizeof(struct manifest_header) == 120, "manifest header is 120 bytes");
_Static_assert(sizeof(struct manifest_segment) == 24, "segment entry is 24 bytes");
_Static_assert(sizeof(struct manifest_key) == 32, "key entry is 32 bytes");

static int manifest__check_header(const struct manifest_header *h, size_t len)
{
	if (h->magic != MANIFEST_MAGIC)
		return ROOST_ECORRUPT;
	if (h->version != MANIFEST_VERSION || h->header_size != sizeof *h)
		return ROOST_EVERSION;
	if (h->dim == 0 || h->dim > 4096 || h->metric > 1 || h->nsegments > MANIFEST_MAX_SEGS ||
	    h->nkeys > MANIFEST_MAX_KEYS || memchr(h->index, '\0', sizeof h->index) == NULL)
		return ROOST_ECORRUPT;
	size_t want = sizeof *h + (size_t)h->nsegments * sizeof(struct manifest_segment) +
		      (size_t)h->nkeys * sizeof(struct manifest_key) + 4;
	return want == len ? 0 : ROOST_ECORRUPT;
}

static int manifest__check_segments(const struct manifest *m)
{
	uint64_t prev_end = 0;
	for (uint32_t i = 0; i < m->nsegments; i++) {
		const struct manifest_segment *s = &m->segments[i];
		if (s->start_lsn >= s->end_lsn || s->start_lsn < prev_end ||
		    s->end_lsn > m->tail_start)
			return ROOST_ECORRUPT;
		prev_end = s->end_lsn;
	}
	return 0;
}

int manifest_decode(const void *buf, size_t len, struct manifest *out)
{
	memset(out, 0, sizeof *out);
	struct manifest_header h;
	if (len < sizeof h + 4)
		return ROOST_ECORRUPT;
	memcpy(&h, buf, sizeof h);
	int rc = manifest__check_header(&h, len);
	if (rc)
		return rc;
	uint32_t crc;
	memcpy(&crc, (const char *)buf + len - 4, 4);
	if (crc32c_update(0, buf, len - 4) != crc)
		return ROOST_ECORRUPT;
	size_t segs = (size_t)h.nsegments * sizeof(struct manifest_segment);
	size_t keys = (size_t)h.nkeys * sizeof(struct manifest_key);
	out->segments = malloc(segs ? segs : 1);
	out->keys = malloc(keys ? keys : 1);
	if (!out->segments || !out->keys) {
		manifest_free(out);
		return ROOST_ENOMEM;
	}
	memcpy(out->segments, (const char *)buf + sizeof h, segs);
	memcpy(out->keys, (const char *)buf + sizeof h + segs, keys);
	out->gen = h.gen;
	out->dim = h.dim;
	out->metric = h.metric;
	memcpy(out->index, h.index, sizeof out->index);
	out->tail_start = h.tail_start;
	out->trained_gen = h.trained_gen;
	out->nsegments = h.nsegments;
	out->nkeys = h.nkeys;
	rc = manifest__check_segments(out);
	if (rc)
		manifest_free(out);
	return rc;
}

static int manifest__read_file(const char *path, void **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	struct stat st;
	int rc = fstat(fd, &st) == 0 ? 0 : roost_from_errno(errno);
	if (rc == 0 && (st.st_size < 0 || (uint64_t)st.st_size > MANIFEST_MAX_FILE))
		rc = ROOST_ECORRUPT;
	char *b = rc == 0 ? malloc((size_t)st.st_size + 1) : NULL;
	if (rc == 0 && !b)
		rc = ROOST_ENOMEM;
	size_t got = 0;
	while (rc == 0 && got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n <= 0)
			rc = n < 0 ? roost_from_errno(errno) : ROOST_ECORRUPT;
		else
			got += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = got;
	return 0;
}

int manifest_load(const char *dir, struct manifest *out)
{
	char path[4200];
	memset(out, 0, sizeof *out);
	if (snprintf(path, sizeof path, "%s/MANIFEST", dir) >= (int)sizeof path)
		return ROOST_ETOOBIG;
	void *buf = NULL;
	size_t len = 0;
	int rc = manifest__read_file(path, &buf, &len);
	if (rc)
		return rc;
	rc = manifest_decode(buf, len, out);
	free(buf);
	return rc;
}

static int manifest__write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return roost_from_errno(errno);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int manifest__encode(const struct manifest *m, char **buf, size_t *len)
{
	struct manifest_header h = {
	    .magic = MANIFEST_MAGIC,
	    .version = MANIFEST_VERSION,
	    .header_size = sizeof h,
	    .gen = m->gen,
	    .dim = m->dim,
	    .metric = m->metric,
	    .tail_start = m->tail_start,
	    .trained_gen = m->trained_gen,
	    .nsegments = m->nsegments,
	    .nkeys = m->nkeys,
	};
	memcpy(h.index, m->index, sizeof h.index - 1);
	size_t segs = (size_t)m->nsegments * sizeof(struct manifest_segment);
	size_t keys = (size_t)m->nkeys * sizeof(struct manifest_key);
	*len = sizeof h + segs + keys + 4;
	char *b = malloc(*len);
	if (!b)
		return ROOST_ENOMEM;
	memcpy(b, &h, sizeof h);
	if (segs)
		memcpy(b + sizeof h, m->segments, segs);
	if (keys)
		memcpy(b + sizeof h + segs, m->keys, keys);
	uint32_t crc = crc32c_update(0, b, *len - 4);
	memcpy(b + *len - 4, &crc, 4);
	*buf = b;
	return 0;
}

/* Writes path.tmp, fsyncs it, renames it over path and fsyncs dir. */
static int manifest__replace(const char *dir, const char *path, const void *buf, size_t len)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return ROOST_ETOOBIG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = manifest__write_all(fd, buf, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = roost_from_errno(errno);
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = roost_from_errno(errno);
	if (rc) {
		unlink(tmp);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return roost_from_errno(errno);
	rc = fsync(dfd) == 0 ? 0 : roost_from_errno(errno);
	close(dfd);
	return rc;
}

int manifest_store(const char *dir, const struct manifest *m)
{
	if (m->nsegments > MANIFEST_MAX_SEGS || m->nkeys > MANIFEST_MAX_KEYS)
		return ROOST_ETOOBIG;
	char path[4200];
	if (snprintf(path, sizeof path, "%s/MANIFEST", dir) >= (int)sizeof path - 8)
		return ROOST_ETOOBIG;
	char *buf;
	size_t len;
	int rc = manifest__encode(m, &buf, &len);
	if (rc)
		return rc;
	rc = manifest__replace(dir, path, buf, len);
	free(buf);
	return rc;
}

void manifest_free(struct manifest *m)
{
	free(m->segments);
	free(m->keys);
	m->segments = NULL;
	m->keys = NULL;
	m->nsegments = m->nkeys = 0;
}

int manifest_segment_path(const char *dir, uint64_t start_lsn, const char *ext, char *buf,
			  size_t len)
{
	int n = snprintf(buf, len, "%s/seg-%016llx.%s", dir, (unsigned long long)start_lsn, ext);
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

int manifest_trained_path(const char *dir, uint64_t gen, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/trained-%016llx.index", dir, (unsigned long long)gen);
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}
