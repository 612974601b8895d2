#include "flatidx.h"

#include "durable.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* FAISS's metric numbers (faiss::MetricType). */
#define FLATIDX__METRIC_IP 0
#define FLATIDX__METRIC_L2 1

/* The header's fields in file order, packed by hand: FAISS writes them
 * one by one, with no padding. */
static void flatidx__encode(const struct flatidx *h, uint8_t *buf)
{
	const int64_t dummy = 1 << 20;
	const uint8_t trained = 1;
	uint8_t *p = buf;
	memcpy(p, h->fourcc, 4), p += 4;
	memcpy(p, &h->d, 4), p += 4;
	memcpy(p, &h->ntotal, 8), p += 8;
	memcpy(p, &dummy, 8), p += 8;
	memcpy(p, &dummy, 8), p += 8;
	memcpy(p, &trained, 1), p += 1;
	memcpy(p, &h->metric, 4);
}

int flatidx_store(const char *path, uint32_t dim, uint64_t rows, uint32_t metric, mode_t mode)
{
	struct flatidx h = {.d = (int32_t)dim,
			    .ntotal = (int64_t)rows,
			    .metric = metric ? FLATIDX__METRIC_IP : FLATIDX__METRIC_L2};
	memcpy(h.fourcc, metric ? "IxFI" : "IxF2", 4);
	uint8_t buf[FLATIDX_SIZE];
	flatidx__encode(&h, buf);
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
	return durable_replace(path, &iov, 1, mode);
}

int flatidx_read(const char *path, struct flatidx *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ROOST_ENOENT : ROOST_EIO;
	uint8_t buf[FLATIDX_SIZE];
	ssize_t n;
	do
		n = pread(fd, buf, sizeof buf, 0);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return ROOST_EIO;
	if (n != (ssize_t)sizeof buf)
		return ROOST_ECORRUPT;
	memcpy(out->fourcc, buf, 4);
	memcpy(&out->d, buf + 4, 4);
	memcpy(&out->ntotal, buf + 8, 8);
	memcpy(&out->metric, buf + 33, 4);
	return 0;
}

int flatidx_is_flat(const struct flatidx *h)
{
	return memcmp(h->fourcc, "IxF2", 4) == 0 || memcmp(h->fourcc, "IxFI", 4) == 0;
}
