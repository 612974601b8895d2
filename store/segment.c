#include "segment.h"

#include "crc32c.h"
#include "durable.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SEGMENT__MAGIC	   0x53434f4447455352ull /* "RSEGDOCS" */
#define SEGMENT__MAX_COUNT (1ull << 32)
#define SEGMENT__MAX_DIM   4096u
#define SEGMENT__MAX_TEXT  (1ull << 40)

struct segment_header {
	uint64_t magic;
	uint32_t version;
	uint32_t dim;
	uint64_t count;
	uint64_t start_lsn;
	uint64_t end_lsn;
	uint64_t text_bytes;
	uint32_t crc; /* see segment__crc_head */
	uint32_t reserved;
	uint64_t reserved2;
};

_Static_assert(sizeof(struct segment_header) == 64, "segment header is 64 bytes");
_Static_assert(sizeof(struct segment_kind) == 24, "kind entry is 24 bytes");
_Static_assert(sizeof(struct segment_ref) == 16, "ref entry is 16 bytes");

/* The checksum starts with the header's fields before it, so that a
 * damaged start_lsn, end_lsn or text_bytes (which the size arithmetic may
 * not notice) fails it too; it then covers every byte after the header. */
static uint32_t segment__crc_head(const struct segment_header *h)
{
	return crc32c_update(0, h, offsetof(struct segment_header, crc));
}

/* Section sizes in file order (refs is 0 in version 1), and where the
 * vectors start: the one place that knows the layout. */
struct segment_sizes {
	uint64_t col8, col4, kinds, refs, text, vectors, vectors_off, total;
};

/* With count, dim and text_bytes under their limits the total stays below
 * 2^47, so none of this arithmetic can wrap. */
static bool segment__sizes(uint32_t version, uint64_t count, uint32_t dim, uint64_t text_bytes,
			   struct segment_sizes *z)
{
	if (count > SEGMENT__MAX_COUNT || dim == 0 || dim > SEGMENT__MAX_DIM ||
	    text_bytes > SEGMENT__MAX_TEXT)
		return false;
	z->col8 = count * sizeof(uint64_t);
	z->col4 = count * sizeof(uint32_t);
	z->kinds = count * sizeof(struct segment_kind);
	z->refs = version >= 2 ? count * sizeof(struct segment_ref) : 0;
	z->text = (text_bytes + 7) & ~(uint64_t)7;
	z->vectors = count * dim * sizeof(float);
	z->vectors_off = sizeof(struct segment_header) + 3 * z->col8 + 2 * z->col4 + z->kinds +
			 z->refs + z->text;
	z->total = z->vectors_off + z->vectors;
	return z->total <= SIZE_MAX;
}

/* Magic and version come first so that a file of another version reports
 * EVERSION even though nothing else in it would match. */
static int segment__check_header(const struct segment_header *h, struct segment_sizes *z)
{
	if (h->magic != SEGMENT__MAGIC)
		return ROOST_ECORRUPT;
	if (h->version != SEGMENT_VERSION && h->version != 1)
		return ROOST_EVERSION;
	if (!segment__sizes(h->version, h->count, h->dim, h->text_bytes, z) || h->reserved ||
	    h->reserved2 || h->start_lsn > h->end_lsn)
		return ROOST_ECORRUPT;
	return 0;
}

static bool segment__span_ok(const struct segment_docs *d, uint32_t off, uint32_t len)
{
	return off <= d->text_bytes && len <= d->text_bytes - off;
}

/* Ids are a batch's LSN plus the row's index in it, so they rise strictly
 * and stay inside [start_lsn, end_lsn). */
static bool segment__row_ok(const struct segment_docs *d, uint64_t i)
{
	if (d->ids[i] < d->start_lsn || d->ids[i] >= d->end_lsn ||
	    (i > 0 && d->ids[i] <= d->ids[i - 1]))
		return false;
	if (!segment__span_ok(d, d->text_off[i], d->text_len[i]))
		return false;
	if (d->refs && (!segment__span_ok(d, d->refs[i].key_off, d->refs[i].key_len) ||
			!segment__span_ok(d, d->refs[i].meta_off, d->refs[i].meta_len)))
		return false;
	return d->kinds[i].len <= sizeof d->kinds[i].name;
}

static bool segment__rows_ok(const struct segment_docs *d)
{
	for (uint64_t i = 0; i < d->count; i++)
		if (!segment__row_ok(d, i))
			return false;
	for (uint64_t i = 0; d->vectors && i < d->count * d->dim; i++)
		if (!isfinite(d->vectors[i]))
			return false;
	return true;
}

/* The columns are written straight from wherever they live (the writer
 * passes its shared-memory tail), so nothing is copied. A segment that
 * segment_load would reject is refused here rather than published. */
int segment_store(const char *path, const struct segment_docs *d, mode_t mode)
{
	struct segment_sizes z;
	if (!segment__sizes(SEGMENT_VERSION, d->count, d->dim, d->text_bytes, &z) ||
	    d->start_lsn > d->end_lsn || !segment__rows_ok(d))
		return ROOST_EINVAL;
	static const char zeros[8];
	/* Rows without ids or metadata (from a version 1 segment) get empty
	 * refs: the file always has the section. */
	struct segment_ref *none = NULL;
	if (!d->refs && d->count && !(none = calloc(d->count, sizeof *none)))
		return ROOST_ENOMEM;
	struct segment_header h = {
	    .magic = SEGMENT__MAGIC,
	    .version = SEGMENT_VERSION,
	    .dim = d->dim,
	    .count = d->count,
	    .start_lsn = d->start_lsn,
	    .end_lsn = d->end_lsn,
	    .text_bytes = d->text_bytes,
	};
	struct iovec iov[] = {
	    {&h, sizeof h},	      {d->ids, z.col8},
	    {d->agents, z.col8},      {d->times, z.col8},
	    {d->text_off, z.col4},    {d->text_len, z.col4},
	    {d->kinds, z.kinds},      {d->refs ? d->refs : none, z.refs},
	    {d->text, d->text_bytes}, {(void *)zeros, z.text - d->text_bytes},
	    {d->vectors, z.vectors},
	};
	int n = (int)(sizeof iov / sizeof iov[0]);
	uint32_t crc = segment__crc_head(&h);
	for (int i = 1; i < n; i++)
		crc = crc32c_update(crc, iov[i].iov_base, iov[i].iov_len);
	h.crc = crc;
	int rc = durable_replace(path, iov, n, mode);
	free(none);
	return rc;
}

/* Points the columns into buf, which is 8-byte aligned and holds the file
 * from its start: all of it, or all but the vectors (d->vectors NULL). */
static void segment__point(const char *buf, const struct segment_header *h,
			   const struct segment_sizes *z, bool with_vectors, struct segment_docs *d)
{
	const char *p = buf + sizeof *h;
	*d = (struct segment_docs){
	    .dim = h->dim,
	    .count = h->count,
	    .start_lsn = h->start_lsn,
	    .end_lsn = h->end_lsn,
	    .text_bytes = h->text_bytes,
	};
	d->ids = (uint64_t *)p;
	d->agents = (int64_t *)(p += z->col8);
	d->times = (int64_t *)(p += z->col8);
	d->text_off = (uint32_t *)(p += z->col8);
	d->text_len = (uint32_t *)(p += z->col4);
	d->kinds = (struct segment_kind *)(p += z->col4);
	d->refs = z->refs ? (struct segment_ref *)(p + z->kinds) : NULL;
	d->text = (char *)(p += z->kinds + z->refs);
	d->vectors = with_vectors ? (float *)(buf + z->vectors_off) : NULL;
}

/* Takes ownership of block (malloc'ed; what segment__point wants), whose
 * checksum crc has been computed over the whole file, freeing it on
 * failure. */
static int segment__adopt(void *block, const struct segment_header *h,
			  const struct segment_sizes *z, uint32_t crc, bool with_vectors,
			  struct segment_docs *out)
{
	int rc = crc == h->crc ? 0 : ROOST_ECORRUPT;
	if (rc == 0) {
		segment__point(block, h, z, with_vectors, out);
		rc = segment__rows_ok(out) ? 0 : ROOST_ECORRUPT;
	}
	if (rc) {
		free(block);
		memset(out, 0, sizeof *out);
		return rc;
	}
	out->block = block;
	return 0;
}

int segment_decode(const void *buf, size_t len, struct segment_docs *out)
{
	memset(out, 0, sizeof *out);
	struct segment_header h;
	struct segment_sizes z;
	if (len < sizeof h)
		return ROOST_ECORRUPT;
	memcpy(&h, buf, sizeof h);
	int rc = segment__check_header(&h, &z);
	if (rc)
		return rc;
	if (z.total != len)
		return ROOST_ECORRUPT;
	/* A copy, because buf may be unaligned and out must own its block. */
	void *copy = malloc(len);
	if (!copy)
		return ROOST_ENOMEM;
	memcpy(copy, buf, len);
	uint32_t crc =
	    crc32c_update(segment__crc_head(&h), (char *)copy + sizeof h, len - sizeof h);
	return segment__adopt(copy, &h, &z, crc, true, out);
}

static int segment__pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return roost_from_errno(errno);
		if (n == 0)
			return ROOST_ECORRUPT;
		got += (size_t)n;
	}
	return 0;
}

/* Checks the vectors at [off, off + len) of the file without keeping
 * them: they extend *crc and must be finite, as segment__rows_ok wants. */
static int segment__scan_vectors(int fd, off_t off, uint64_t len, uint32_t *crc)
{
	enum { CHUNK = 1 << 20 };
	float *buf = malloc(CHUNK);
	if (!buf)
		return ROOST_ENOMEM;
	int rc = 0;
	for (uint64_t done = 0; rc == 0 && done < len;) {
		size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
		rc = segment__pread_all(fd, buf, n, off + (off_t)done);
		if (rc)
			break;
		for (size_t i = 0; rc == 0 && i < n / sizeof(float); i++)
			if (!isfinite(buf[i]))
				rc = ROOST_ECORRUPT;
		*crc = crc32c_update(*crc, buf, n);
		done += n;
	}
	free(buf);
	return rc;
}

/* The file's header, checked, and its size matched against the layout
 * the header gives. */
static int segment__read_header(int fd, struct segment_header *h, struct segment_sizes *z)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return roost_from_errno(errno);
	int rc = segment__pread_all(fd, h, sizeof *h, 0);
	if (rc == 0)
		rc = segment__check_header(h, z);
	if (rc == 0 && (st.st_size < 0 || z->total != (uint64_t)st.st_size))
		rc = ROOST_ECORRUPT;
	return rc;
}

/* The header is checked, and the file's size matched against it, before
 * anything of that size is allocated: a damaged count must not drive a
 * huge allocation. */
static int segment__read(int fd, bool with_vectors, struct segment_docs *out)
{
	struct segment_header h;
	struct segment_sizes z;
	int rc = segment__read_header(fd, &h, &z);
	if (rc)
		return rc;
	size_t kept = (size_t)(with_vectors ? z.total : z.vectors_off);
	void *buf = malloc(kept);
	if (!buf)
		return ROOST_ENOMEM;
	rc = segment__pread_all(fd, buf, kept, 0);
	uint32_t crc = 0;
	if (rc == 0)
		crc = crc32c_update(segment__crc_head(&h), (char *)buf + sizeof h, kept - sizeof h);
	if (rc == 0 && !with_vectors)
		rc = segment__scan_vectors(fd, (off_t)kept, z.vectors, &crc);
	if (rc) {
		free(buf);
		return rc;
	}
	return segment__adopt(buf, &h, &z, crc, with_vectors, out);
}

int segment_load(const char *path, enum segment_part part, struct segment_docs *out)
{
	memset(out, 0, sizeof *out);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = segment__read(fd, part == SEGMENT_WITH_VECTORS, out);
	close(fd);
	return rc;
}

void segment_row(const struct segment_docs *d, uint64_t row, struct segment_row *out)
{
	struct segment_ref ref = d->refs ? d->refs[row] : (struct segment_ref){0};
	if ((uint64_t)ref.meta_off + ref.meta_len > d->text_bytes)
		ref.meta_len = 0;
	const struct segment_kind *k = &d->kinds[row];
	*out = (struct segment_row){
	    .agent = d->agents[row],
	    .time = d->times[row],
	    .kind = k->name,
	    .kind_len = k->len < sizeof k->name ? k->len : sizeof k->name,
	    .meta = ref.meta_len ? d->text + ref.meta_off : "",
	    .meta_len = ref.meta_len,
	};
}

void segment_free(struct segment_docs *d)
{
	free(d->block);
	memset(d, 0, sizeof *d);
}

/* Checks the mapped file as segment_load checks a read one, and points
 * the columns into it. */
static int segment__map_point(const char *base, const struct segment_header *h,
			      const struct segment_sizes *z, struct segment_docs *out)
{
	uint32_t crc =
	    crc32c_update(segment__crc_head(h), base + sizeof *h, (size_t)z->total - sizeof *h);
	if (crc != h->crc)
		return ROOST_ECORRUPT;
	segment__point(base, h, z, true, out);
	return segment__rows_ok(out) ? 0 : ROOST_ECORRUPT;
}

/* Segment files are replaced by rename and removed by unlink, never
 * written in place or truncated, so the mapped pages keep what was
 * checked for as long as the mapping lives, even after compaction
 * removes the file. */
int segment_map(const char *path, struct segment_docs *out, struct segment_map *map)
{
	memset(out, 0, sizeof *out);
	memset(map, 0, sizeof *map);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	struct segment_header h;
	struct segment_sizes z;
	int rc = segment__read_header(fd, &h, &z);
	void *base = MAP_FAILED;
	if (rc == 0) {
		base = mmap(NULL, (size_t)z.total, PROT_READ, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED)
			rc = roost_from_errno(errno);
	}
	close(fd);
	if (rc == 0)
		rc = segment__map_point(base, &h, &z, out);
	if (rc) {
		if (base != MAP_FAILED)
			munmap(base, (size_t)z.total);
		memset(out, 0, sizeof *out);
		return rc;
	}
	map->base = base;
	map->len = (size_t)z.total;
	return 0;
}

void segment_unmap(struct segment_map *m, struct segment_docs *d)
{
	if (m->base)
		munmap(m->base, m->len);
	memset(m, 0, sizeof *m);
	memset(d, 0, sizeof *d);
}
