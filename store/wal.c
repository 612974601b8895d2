#include "wal.h"

#include "crc32c.h"
#include "durable.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Headers are written and read as plain structs in host byte order, so a
 * log is portable only between little-endian hosts (x86-64 here). */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the write-ahead log format assumes a little-endian host"
#endif

struct wal_record_header {
	uint32_t magic;
	uint32_t len;
	uint64_t lsn;
	uint64_t next;
	uint32_t crc;
	uint32_t pad;
};
_Static_assert(sizeof(struct wal_record_header) == WAL_HEADER_SIZE, "header layout of wal.h");

#define WAL__NAME_SIZE	25	   /* "wal-" + 16 hex digits + ".log" + NUL */
#define WAL__READ_CHUNK (1u << 20) /* replay reads at least this much at a time */

static const uint8_t wal__zeros[8];

struct wal__file {
	uint64_t start;
	uint64_t size;
	int64_t mtime_ms;
};

/* A queued record: its header, and the caller's payload, which is not
 * copied (the writer's batches can be megabytes). */
struct wal__rec {
	struct wal_record_header h;
	const void *payload;
};

struct wal {
	int dirfd;
	int fd;		      /* the newest file, O_APPEND */
	uint64_t start;	      /* its start LSN */
	uint64_t synced;      /* its size after the last successful sync */
	uint64_t older_bytes; /* files before it, not yet deleted */
	/* A record may not start below these, or replay would refuse the log.
	 * Only this session's records are known; the log's older tail is not. */
	uint64_t next_synced;
	uint64_t next_queued;
	/* Set while what a failed group left after `synced` is not cut off
	 * (the truncate failed too, as on a read-only file system): nothing
	 * is written until it is, or the garbage would end up mid-log. */
	bool uncut;
	struct wal__rec *recs;
	size_t nrecs, cap;
	uint64_t queued_bytes;
	struct iovec *iov; /* IOV_MAX entries, reused by every sync */
};

/* Replay reads through a window that starts at a record boundary, so a
 * record's payload is 8-byte aligned in memory like it is in the file. */
struct wal__reader {
	int fd;
	uint64_t size;
	uint64_t base; /* file offset of buf[0] */
	size_t fill;
	size_t cap;
	uint8_t *buf;
};

struct wal__replay {
	struct wal__reader r;
	uint64_t from;
	uint64_t end; /* next of the last valid record: the floor for the next one */
	wal_replay_fn fn;
	void *arg;
	bool read_only; /* a scan: a torn tail ends it and is left as it is */
};

static uint64_t wal__span(uint32_t len)
{
	return WAL_HEADER_SIZE + (((uint64_t)len + 7) & ~(uint64_t)7);
}

static uint32_t wal__crc(const struct wal_record_header *h, const void *payload)
{
	struct wal_record_header copy = *h;
	copy.crc = 0;
	return crc32c_update(crc32c_update(0, &copy, sizeof copy), payload, h->len);
}

static void wal__name(char name[WAL__NAME_SIZE], uint64_t start)
{
	snprintf(name, WAL__NAME_SIZE, "wal-%016" PRIx64 ".log", start);
}

/* Exactly the names wal__name() makes, so stray files are left alone. */
static bool wal__parse_name(const char *name, uint64_t *start)
{
	if (strlen(name) != WAL__NAME_SIZE - 1 || memcmp(name, "wal-", 4) != 0 ||
	    memcmp(name + 20, ".log", 4) != 0)
		return false;
	uint64_t v = 0;
	for (int i = 4; i < 20; i++) {
		char c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*start = v;
	return true;
}

static int wal__open_dir(const char *dir, int *fd_out)
{
	/* A fresh instance's state directory may not exist yet. */
	int rc = durable_mkdirs(dir, 0700);
	if (rc)
		return rc;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	*fd_out = fd;
	return 0;
}

static int wal__cmp_file(const void *a, const void *b)
{
	uint64_t x = ((const struct wal__file *)a)->start;
	uint64_t y = ((const struct wal__file *)b)->start;
	return (x > y) - (x < y);
}

static int wal__push_file(struct wal__file **files, size_t *n, size_t *cap, struct wal__file f)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct wal__file *nf = realloc(*files, ncap * sizeof *nf);
		if (!nf)
			return ROOST_ENOMEM;
		*files = nf;
		*cap = ncap;
	}
	(*files)[(*n)++] = f;
	return 0;
}

static int wal__scan_dir(int dirfd, DIR *d, struct wal__file **files, size_t *n)
{
	size_t cap = 0;
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e)
			return errno ? roost_from_errno(errno) : 0;
		struct wal__file f;
		struct stat st;
		if (!wal__parse_name(e->d_name, &f.start))
			continue;
		if (fstatat(dirfd, e->d_name, &st, 0) != 0)
			return roost_from_errno(errno);
		f.size = (uint64_t)st.st_size;
		f.mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		int rc = wal__push_file(files, n, &cap, f);
		if (rc)
			return rc;
	}
}

/* The log's files, oldest first. */
static int wal__list(int dirfd, struct wal__file **out, size_t *n_out)
{
	/* A fresh open file description: a dup() would share, and move, the
	 * directory offset of dirfd between calls. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	DIR *d = fdopendir(fd);
	if (!d) {
		int rc = roost_from_errno(errno);
		close(fd);
		return rc;
	}
	struct wal__file *files = NULL;
	size_t n = 0;
	int rc = wal__scan_dir(dirfd, d, &files, &n);
	closedir(d);
	if (rc) {
		free(files);
		return rc;
	}
	if (n > 1)
		qsort(files, n, sizeof *files, wal__cmp_file);
	*out = files;
	*n_out = n;
	return 0;
}

/* ---- replay ---- */

static int wal__refill(struct wal__reader *r, uint64_t off, size_t n)
{
	size_t want = n > WAL__READ_CHUNK ? n : WAL__READ_CHUNK;
	if (want > r->cap) {
		free(r->buf);
		r->cap = 0;
		r->buf = malloc(want);
		if (!r->buf)
			return ROOST_ENOMEM;
		r->cap = want;
	}
	uint64_t left = r->size - off;
	size_t len = left < r->cap ? (size_t)left : r->cap;
	r->base = off;
	r->fill = 0;
	while (r->fill < len) {
		ssize_t got = pread(r->fd, r->buf + r->fill, len - r->fill, (off_t)(off + r->fill));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return roost_from_errno(errno);
		if (got == 0)
			return ROOST_EIO; /* the file shrank under us */
		r->fill += (size_t)got;
	}
	return 0;
}

/* The caller has checked that [off, off + n) lies inside the file. */
static int wal__read(struct wal__reader *r, uint64_t off, size_t n, const uint8_t **out)
{
	if (off < r->base || off + n > r->base + r->fill) {
		int rc = wal__refill(r, off, n);
		if (rc)
			return rc;
	}
	*out = r->buf + (off - r->base);
	return 0;
}

/* *ok tells whether a whole, checksummed record starts at off. Lengths are
 * checked against the limit and the file before anything is read by them. */
static int wal__check(struct wal__reader *r, uint64_t off, struct wal_record_header *h,
		      const uint8_t **payload, bool *ok)
{
	const uint8_t *p;
	*ok = false;
	if (r->size - off < WAL_HEADER_SIZE)
		return 0;
	int rc = wal__read(r, off, WAL_HEADER_SIZE, &p);
	if (rc)
		return rc;
	memcpy(h, p, sizeof *h);
	if (h->magic != WAL_MAGIC || h->pad != 0 || h->len > WAL_MAX_PAYLOAD)
		return 0;
	uint64_t span = wal__span(h->len);
	if (span > r->size - off)
		return 0;
	rc = wal__read(r, off, (size_t)span, &p);
	if (rc)
		return rc;
	/* The padding is not checked: the checksum covers all the record's
	 * data, and a stray byte there loses nothing. */
	p += WAL_HEADER_SIZE;
	if (wal__crc(h, p) != h->crc)
		return 0;
	*payload = p;
	*ok = true;
	return 0;
}

/* A failing record at off in the newest file. If any valid record follows,
 * acknowledged data lies behind it: corruption. Otherwise it is what a crash
 * in the middle of a group leaves, and it is cut off (a scan leaves it). */
static int wal__cut_tail(struct wal__reader *r, uint64_t off, bool read_only)
{
	for (uint64_t at = off + 8; at + WAL_HEADER_SIZE <= r->size; at += 8) {
		struct wal_record_header h;
		const uint8_t *payload;
		bool ok;
		int rc = wal__check(r, at, &h, &payload, &ok);
		if (rc)
			return rc;
		if (ok)
			return ROOST_ECORRUPT;
	}
	if (read_only)
		return 0;
	if (ftruncate(r->fd, (off_t)off) != 0 || fsync(r->fd) != 0)
		return roost_from_errno(errno);
	return 0;
}

static int wal__replay_fd(struct wal__replay *s, int fd, bool newest)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return roost_from_errno(errno);
	s->r.fd = fd;
	s->r.size = (uint64_t)st.st_size;
	s->r.base = 0;
	s->r.fill = 0;
	for (uint64_t off = 0; off < s->r.size;) {
		struct wal_record_header h;
		const uint8_t *payload;
		bool ok;
		int rc = wal__check(&s->r, off, &h, &payload, &ok);
		if (rc)
			return rc;
		if (!ok)
			return newest ? wal__cut_tail(&s->r, off, s->read_only) : ROOST_ECORRUPT;
		if (h.lsn >= h.next || h.lsn < s->end)
			return ROOST_ECORRUPT;
		if (h.lsn >= s->from) {
			rc = s->fn(s->arg, h.lsn, h.next, payload, h.len);
			if (rc)
				return rc;
		}
		s->end = h.next;
		off += wal__span(h.len);
	}
	return 0;
}

static int wal__replay_file(struct wal__replay *s, int dirfd, uint64_t start, bool newest)
{
	char name[WAL__NAME_SIZE];
	wal__name(name, start);
	/* Only the newest file may have a torn tail to cut off. */
	int writable = newest && !s->read_only;
	int fd = openat(dirfd, name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = wal__replay_fd(s, fd, newest);
	close(fd);
	return rc;
}

static int wal__replay_dir(int dirfd, struct wal__replay *s, uint64_t *end_out)
{
	struct wal__file *files = NULL;
	size_t n = 0;
	int rc = wal__list(dirfd, &files, &n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = wal__replay_file(s, dirfd, files[i].start, i + 1 == n);
	free(s->r.buf);
	free(files);
	close(dirfd);
	if (rc == 0)
		*end_out = s->end > s->from ? s->end : s->from;
	return rc;
}

int wal_replay(const char *dir, uint64_t from_lsn, wal_replay_fn fn, void *arg, uint64_t *end_out)
{
	int dirfd;
	int rc = wal__open_dir(dir, &dirfd);
	struct wal__replay s = {.from = from_lsn, .fn = fn, .arg = arg};
	return rc ? rc : wal__replay_dir(dirfd, &s, end_out);
}

int wal_scan(const char *dir, uint64_t from_lsn, wal_replay_fn fn, void *arg, uint64_t *end_out)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return roost_from_errno(errno);
	struct wal__replay s = {.from = from_lsn, .fn = fn, .arg = arg, .read_only = true};
	return wal__replay_dir(dirfd, &s, end_out);
}

/* ---- append ---- */

/* The directory is fsynced so the new file survives a crash before its
 * first record is synced into it. */
static int wal__create_file(int dirfd, uint64_t start, int *fd_out)
{
	char name[WAL__NAME_SIZE];
	wal__name(name, start);
	int fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return roost_from_errno(errno);
	if (fsync(dirfd) != 0) {
		int rc = roost_from_errno(errno);
		close(fd);
		unlinkat(dirfd, name, 0);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

static int wal__continue_file(wal *w, const struct wal__file *newest)
{
	char name[WAL__NAME_SIZE];
	struct stat st;
	wal__name(name, newest->start);
	w->start = newest->start;
	w->fd = openat(w->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (w->fd < 0 || fstat(w->fd, &st) != 0)
		return roost_from_errno(errno);
	w->synced = (uint64_t)st.st_size;
	return 0;
}

static int wal__open_newest(wal *w, uint64_t start_lsn)
{
	struct wal__file *files;
	size_t n;
	int rc = wal__list(w->dirfd, &files, &n);
	if (rc)
		return rc;
	if (n == 0) {
		w->start = start_lsn;
		rc = wal__create_file(w->dirfd, start_lsn, &w->fd);
	} else {
		for (size_t i = 0; i + 1 < n; i++)
			w->older_bytes += files[i].size;
		rc = wal__continue_file(w, &files[n - 1]);
	}
	free(files);
	return rc;
}

int wal_open(wal **out, const char *dir, uint64_t start_lsn)
{
	*out = NULL;
	wal *w = calloc(1, sizeof *w);
	if (!w)
		return ROOST_ENOMEM;
	w->dirfd = -1;
	w->fd = -1;
	int rc = wal__open_dir(dir, &w->dirfd);
	if (rc == 0)
		rc = wal__open_newest(w, start_lsn);
	if (rc == 0 && !(w->iov = malloc(IOV_MAX * sizeof *w->iov)))
		rc = ROOST_ENOMEM;
	if (rc) {
		wal_close(w);
		return rc;
	}
	*out = w;
	return 0;
}

void wal_close(wal *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->recs);
	free(w->iov);
	free(w);
}

static int wal__grow(wal *w)
{
	size_t ncap = w->cap ? w->cap * 2 : 64;
	struct wal__rec *nr = realloc(w->recs, ncap * sizeof *nr);
	if (!nr)
		return ROOST_ENOMEM;
	w->recs = nr;
	w->cap = ncap;
	return 0;
}

int wal_append(wal *w, uint64_t lsn, uint64_t next, const void *payload, uint32_t len)
{
	if (len > WAL_MAX_PAYLOAD)
		return ROOST_ETOOBIG;
	if ((len && !payload) || lsn >= next || lsn < w->next_queued)
		return ROOST_EINVAL;
	if (w->nrecs == w->cap) {
		int rc = wal__grow(w);
		if (rc)
			return rc;
	}
	struct wal__rec *r = &w->recs[w->nrecs++];
	r->h = (struct wal_record_header){.magic = WAL_MAGIC, .len = len, .lsn = lsn, .next = next};
	r->h.crc = wal__crc(&r->h, payload);
	r->payload = payload;
	w->queued_bytes += wal__span(len);
	w->next_queued = next;
	return 0;
}

static int wal__add_iov(struct iovec *iov, int n, const struct wal__rec *r)
{
	size_t pad = (size_t)(wal__span(r->h.len) - WAL_HEADER_SIZE - r->h.len);
	iov[n++] = (struct iovec){.iov_base = (void *)&r->h, .iov_len = WAL_HEADER_SIZE};
	if (r->h.len)
		iov[n++] = (struct iovec){.iov_base = (void *)r->payload, .iov_len = r->h.len};
	if (pad)
		iov[n++] = (struct iovec){.iov_base = (void *)wal__zeros, .iov_len = pad};
	return n;
}

static int wal__write_queue(wal *w)
{
	int n = 0;
	for (size_t i = 0; i < w->nrecs; i++) {
		if (n > IOV_MAX - 3) {
			int rc = durable_write_all(w->fd, w->iov, n);
			if (rc)
				return rc;
			n = 0;
		}
		n = wal__add_iov(w->iov, n, &w->recs[i]);
	}
	return durable_write_all(w->fd, w->iov, n);
}

/* Writes are O_APPEND: once the file is cut back to `synced` they land
 * right after the last synced record again. */
static int wal__cut_back(wal *w)
{
	if (!w->uncut)
		return 0;
	if (ftruncate(w->fd, (off_t)w->synced) != 0)
		return roost_from_errno(errno);
	w->uncut = false;
	return 0;
}

int wal_sync(wal *w)
{
	if (w->nrecs == 0)
		return 0;
	int rc = wal__cut_back(w);
	if (rc == 0)
		rc = wal__write_queue(w);
	if (rc == 0 && fdatasync(w->fd) != 0)
		rc = roost_from_errno(errno);
	if (rc == 0) {
		w->synced += w->queued_bytes;
		w->next_synced = w->next_queued;
	} else {
		w->uncut = true;
		wal__cut_back(w); /* else the next sync or rotate tries again */
		w->next_queued = w->next_synced;
	}
	w->nrecs = 0;
	w->queued_bytes = 0;
	return rc;
}

/* Best effort past the first failure: a file left behind holds only
 * checkpointed records, which replay skips, and the next rotate retries. */
/* Deletes the older files whose records all lie before keep_from: a file
 * ends where the next one starts. */
static int wal__drop_older(wal *w, uint64_t keep_from)
{
	struct wal__file *files;
	size_t n;
	int rc = wal__list(w->dirfd, &files, &n);
	if (rc)
		return rc;
	uint64_t kept = 0;
	bool removed = false;
	for (size_t i = 0; i < n && files[i].start < w->start; i++) {
		uint64_t end = i + 1 < n ? files[i + 1].start : w->start;
		if (end > keep_from) {
			kept += files[i].size;
			continue;
		}
		char name[WAL__NAME_SIZE];
		wal__name(name, files[i].start);
		if (unlinkat(w->dirfd, name, 0) == 0 || errno == ENOENT) {
			removed = true;
			continue;
		}
		if (rc == 0)
			rc = roost_from_errno(errno);
		kept += files[i].size;
	}
	free(files);
	w->older_bytes = kept;
	if (removed && fsync(w->dirfd) != 0 && rc == 0)
		rc = roost_from_errno(errno);
	return rc;
}

int wal_rotate(wal *w, uint64_t start_lsn, uint64_t keep_from)
{
	/* File names must keep sorting in LSN order, and a new file starts
	 * after every record written. */
	if (w->nrecs || start_lsn < w->next_synced || start_lsn < w->start || keep_from > start_lsn)
		return ROOST_EINVAL;
	int rc = wal__cut_back(w); /* an older file must end at a record */
	if (rc)
		return rc;
	if (start_lsn > w->start) {
		int fd;
		rc = wal__create_file(w->dirfd, start_lsn, &fd);
		if (rc)
			return rc;
		close(w->fd);
		w->fd = fd;
		w->start = start_lsn;
		w->older_bytes += w->synced;
		w->synced = 0;
	}
	return wal__drop_older(w, keep_from);
}

int wal_older_files(wal *w, struct wal_file **out, size_t *n_out)
{
	struct wal__file *files;
	size_t n, kept = 0;
	*out = NULL;
	*n_out = 0;
	int rc = wal__list(w->dirfd, &files, &n);
	if (rc)
		return rc;
	struct wal_file *older = malloc((n ? n : 1) * sizeof *older);
	if (!older) {
		free(files);
		return ROOST_ENOMEM;
	}
	for (size_t i = 0; i < n && files[i].start < w->start; i++)
		older[kept++] = (struct wal_file){.start = files[i].start,
						  .end = i + 1 < n ? files[i + 1].start : w->start,
						  .size = files[i].size,
						  .mtime_ms = files[i].mtime_ms};
	free(files);
	*out = older;
	*n_out = kept;
	return 0;
}

uint64_t wal_size(const wal *w)
{
	return w->older_bytes + w->synced;
}

uint64_t wal_current_start(const wal *w)
{
	return w->start;
}
