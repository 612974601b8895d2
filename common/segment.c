#include "segment.h"

#include "crc32c.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SEGMENT_MAGIC	  0x53434f4447455352ull /* "RSEGDOCS" */
#define SEGMENT_MAX_COUNT (1ull << 32)
#define SEGMENT_MAX_DIM	  4096u
#define SEGMENT_MAX_TEXT  (1ull << 40)

struct segment_header {
	uint64_t magic;
	uint32_t version;
	uint32_t dim;
	uint64_t count;
	uint64_t start_lsn;
	uint64_t end_lsn;
	uint64_t text_bytes;
	uint32_t crc; /* CRC-32C of every byte after the header */
	uint32_t reserved;
	uint64_t reserved2;
};

_Static_assert(sizeof(struct segment_header) == 64, "segment header is 64 bytes");

static uint64_t segment__pad8(uint64_t x)
{
	return (x + 7) & ~(uint64_t)7;
}

/* Section sizes, in file order; 0 total when the counts are impossible. */
struct segment_sizes {
	uint64_t col8, col4, kinds, text, vectors, total;
};

static struct segment_sizes segment__sizes(uint64_t count, uint32_t dim, uint64_t text_bytes)
{
	struct segment_sizes z = {0};
	if (count > SEGMENT_MAX_COUNT || dim == 0 || dim > SEGMENT_MAX_DIM ||
	    text_bytes > SEGMENT_MAX_TEXT)
		return z;
	z.col8 = count * 8;
	z.col4 = count * 4;
	z.kinds = count * sizeof(struct segment_kind);
	z.text = segment__pad8(text_bytes);
	z.vectors = count * dim * sizeof(float);
	z.total =
	    sizeof(struct segment_header) + 3 * z.col8 + 2 * z.col4 + z.kinds + z.text + z.vectors;
	return z;
}

static int segment__write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return roost_from_errno(errno);
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int segment__fsync_dir(const char *path)
{
	char copy[4200];
	snprintf(copy, sizeof copy, "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = fsync(fd) == 0 ? 0 : roost_from_errno(errno);
	close(fd);
	return rc;
}

int segment_store(const char *path, const struct segment_docs *d)
{
	struct segment_sizes z = segment__sizes(d->count, d->dim, d->text_bytes);
	if (z.total == 0)
		return ROOST_EINVAL;
	static const char zeros[8];
	struct iovec iov[] = {
	    {NULL, sizeof(struct segment_header)},
	    {d->ids, z.col8},
	    {d->agents, z.col8},
	    {d->times, z.col8},
	    {d->text_off, z.col4},
	    {d->text_len, z.col4},
	    {d->kinds, z.kinds},
	    {d->text, d->text_bytes},
	    {(void *)zeros, z.text - d->text_bytes},
	    {d->vectors, z.vectors},
	};
	struct segment_header h = {
	    .magic = SEGMENT_MAGIC,
	    .version = SEGMENT_VERSION,
	    .dim = d->dim,
	    .count = d->count,
	    .start_lsn = d->start_lsn,
	    .end_lsn = d->end_lsn,
	    .text_bytes = d->text_bytes,
	};
	for (size_t i = 1; i < sizeof iov / sizeof iov[0]; i++)
		h.crc = crc32c_update(h.crc, iov[i].iov_base, iov[i].iov_len);
	iov[0].iov_base = &h;
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return ROOST_ETOOBIG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = segment__write_all(fd, iov, (int)(sizeof iov / sizeof iov[0]));
	if (rc == 0 && fsync(fd) != 0)
		rc = roost_from_errno(errno);
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = roost_from_errno(errno);
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return segment__fsync_dir(path);
}

static int segment__check_rows(const struct segment_docs *d)
{
	for (uint64_t i = 0; i < d->count; i++) {
		if (d->ids[i] < d->start_lsn || d->ids[i] >= d->end_lsn ||
		    (i > 0 && d->ids[i] <= d->ids[i - 1]))
			return ROOST_ECORRUPT;
		if (d->text_off[i] > d->text_bytes ||
		    d->text_len[i] > d->text_bytes - d->text_off[i])
			return ROOST_ECORRUPT;
		if (d->kinds[i].len > sizeof d->kinds[i].name)
			return ROOST_ECORRUPT;
	}
	for (uint64_t i = 0; i < d->count * d->dim; i++)
		if (!isfinite(d->vectors[i]))
			return ROOST_ECORRUPT;
	return 0;
}

/* Points the columns into buf, which must outlive d (and is not freed). */
static int segment__view(const void *buf, size_t len, struct segment_docs *d)
{
	memset(d, 0, sizeof *d);
	struct segment_header h;
	if (len < sizeof h || ((uintptr_t)buf & 7) != 0)
		return ROOST_ECORRUPT;
	memcpy(&h, buf, sizeof h);
	if (h.magic != SEGMENT_MAGIC)
		return ROOST_ECORRUPT;
	if (h.version != SEGMENT_VERSION)
		return ROOST_EVERSION;
	struct segment_sizes z = segment__sizes(h.count, h.dim, h.text_bytes);
	if (z.total == 0 || z.total != len || h.reserved || h.reserved2 || h.start_lsn > h.end_lsn)
		return ROOST_ECORRUPT;
	const char *p = (const char *)buf + sizeof h;
	if (crc32c_update(0, p, len - sizeof h) != h.crc)
		return ROOST_ECORRUPT;
	d->dim = h.dim;
	d->count = h.count;
	d->start_lsn = h.start_lsn;
	d->end_lsn = h.end_lsn;
	d->text_bytes = h.text_bytes;
	d->ids = (uint64_t *)p;
	d->agents = (int64_t *)(p += z.col8);
	d->times = (int64_t *)(p += z.col8);
	d->text_off = (uint32_t *)(p += z.col8);
	d->text_len = (uint32_t *)(p += z.col4);
	d->kinds = (struct segment_kind *)(p += z.col4);
	d->text = (char *)(p += z.kinds);
	d->vectors = (float *)(p + z.text);
	return segment__check_rows(d);
}

int segment_decode(const void *buf, size_t len, struct segment_docs *out)
{
	void *copy = malloc(len ? len : 1);
	if (!copy)
		return ROOST_ENOMEM;
	memcpy(copy, buf, len);
	int rc = segment__view(copy, len, out);
	if (rc) {
		free(copy);
		memset(out, 0, sizeof *out);
		return rc;
	}
	out->block = copy;
	return 0;
}

int segment_load(const char *path, struct segment_docs *out)
{
	memset(out, 0, sizeof *out);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	struct stat st;
	struct segment_header h;
	int rc = fstat(fd, &st) == 0 ? 0 : roost_from_errno(errno);
	if (rc == 0 && pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		rc = ROOST_ECORRUPT;
	/* The file must be exactly what its header says before anything of
	 * that size is allocated. */
	if (rc == 0 && segment__sizes(h.count, h.dim, h.text_bytes).total != (uint64_t)st.st_size)
		rc = ROOST_ECORRUPT;
	void *buf = rc == 0 ? malloc((size_t)st.st_size) : NULL;
	if (rc == 0 && !buf)
		rc = ROOST_ENOMEM;
	for (size_t got = 0; rc == 0 && got < (size_t)st.st_size;) {
		ssize_t n = pread(fd, (char *)buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0)
			rc = n < 0 ? roost_from_errno(errno) : ROOST_ECORRUPT;
		else
			got += (size_t)n;
	}
	close(fd);
	if (rc == 0)
		rc = segment__view(buf, (size_t)st.st_size, out);
	if (rc) {
		free(buf);
		memset(out, 0, sizeof *out);
		return rc;
	}
	out->block = buf;
	return 0;
}

void segment_free(struct segment_docs *d)
{
	free(d->block);
	memset(d, 0, sizeof *d);
}
