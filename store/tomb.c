#include "tomb.h"

#include "crc32c.h"
#include "durable.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOMB__MAGIC 0x4e5453424d4f5452ull /* "RTOMBSTN" */

struct tomb__header {
	uint64_t magic;
	uint32_t version;
	uint32_t reserved;
	uint64_t count;
	uint32_t crc; /* see tomb__crc */
	uint32_t reserved2;
};

_Static_assert(sizeof(struct tomb__header) == 32, "tombstone header is 32 bytes");
_Static_assert(sizeof(struct tomb) == 16, "tombstone entry is 16 bytes");

static uint32_t tomb__crc(const struct tomb__header *h, const struct tomb *t, uint64_t n)
{
	uint32_t crc = crc32c_update(0, h, offsetof(struct tomb__header, crc));
	return n ? crc32c_update(crc, t, n * sizeof *t) : crc;
}

static bool tomb__entries_ok(const struct tomb *t, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (t[i].end_lsn <= t[i].version || (i > 0 && t[i].version <= t[i - 1].version))
			return false;
	return true;
}

int tomb_store(const char *path, const struct tomb *t, uint64_t n, mode_t mode)
{
	if (n > TOMB_MAX_COUNT || !tomb__entries_ok(t, n))
		return ROOST_EINVAL;
	struct tomb__header h = {.magic = TOMB__MAGIC, .version = TOMB_VERSION, .count = n};
	h.crc = tomb__crc(&h, t, n);
	struct iovec iov[] = {{&h, sizeof h}, {(void *)t, n * sizeof *t}};
	return durable_replace(path, iov, n ? 2 : 1, mode);
}

int tomb_decode(const void *buf, size_t len, struct tomb **out, uint64_t *n)
{
	*out = NULL;
	*n = 0;
	struct tomb__header h;
	if (len < sizeof h)
		return ROOST_ECORRUPT;
	memcpy(&h, buf, sizeof h);
	if (h.magic != TOMB__MAGIC)
		return ROOST_ECORRUPT;
	if (h.version != TOMB_VERSION)
		return ROOST_EVERSION;
	/* The count is checked against the length before it sizes anything. */
	if (h.reserved || h.reserved2 || h.count > TOMB_MAX_COUNT ||
	    (len - sizeof h) / sizeof(struct tomb) != h.count ||
	    (len - sizeof h) % sizeof(struct tomb) != 0)
		return ROOST_ECORRUPT;
	struct tomb *t = NULL;
	if (h.count && !(t = malloc(h.count * sizeof *t)))
		return ROOST_ENOMEM;
	if (h.count)
		memcpy(t, (const char *)buf + sizeof h, h.count * sizeof *t);
	if (tomb__crc(&h, t, h.count) != h.crc || !tomb__entries_ok(t, h.count)) {
		free(t);
		return ROOST_ECORRUPT;
	}
	*out = t;
	*n = h.count;
	return 0;
}

static int tomb__read_file(int fd, void **buf, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return roost_from_errno(errno);
	if (st.st_size < 0 || (uint64_t)st.st_size > sizeof(struct tomb__header) +
							 TOMB_MAX_COUNT * sizeof(struct tomb))
		return ROOST_ECORRUPT;
	*len = (size_t)st.st_size;
	char *b = malloc(*len ? *len : 1);
	if (!b)
		return ROOST_ENOMEM;
	for (size_t got = 0; got < *len;) {
		ssize_t r = pread(fd, b + got, *len - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int rc = r < 0 ? roost_from_errno(errno) : ROOST_ECORRUPT;
			free(b);
			return rc;
		}
		got += (size_t)r;
	}
	*buf = b;
	return 0;
}

int tomb_load(const char *path, struct tomb **out, uint64_t *n)
{
	*out = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	void *buf = NULL;
	size_t len = 0;
	int rc = tomb__read_file(fd, &buf, &len);
	close(fd);
	if (rc)
		return rc;
	rc = tomb_decode(buf, len, out, n);
	free(buf);
	return rc;
}

uint64_t tomb_lower(const struct tomb *t, uint64_t n, uint64_t version)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (t[mid].version < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct tomb *tomb_find(const struct tomb *t, uint64_t n, uint64_t version)
{
	uint64_t at = tomb_lower(t, n, version);
	return at < n && t[at].version == version ? &t[at] : NULL;
}
