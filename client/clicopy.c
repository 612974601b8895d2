#include "clicopy.h"

#include "durable.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define CLICOPY_CHUNK	   (1u << 20)
#define CLICOPY_SYNC_BYTES (64u << 20) /* payloads held between two syncs */

int clicopy_path(char *buf, const char *dir, const char *name)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return n < 0 || n >= PATH_MAX ? ROOST_ETOOBIG : 0;
}

void clicopy_remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char path[PATH_MAX];
		if (clicopy_path(path, dir, e->d_name) == 0 && unlink(path) != 0 && errno == EISDIR)
			clicopy_remove_tree(path);
	}
	closedir(d);
	rmdir(dir);
}

int clicopy_file(const char *src, const char *dst, uint64_t *bytes)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return roost_from_errno(errno);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	char *buf = malloc(CLICOPY_CHUNK);
	int rc = out < 0 ? roost_from_errno(errno) : buf ? 0 : ROOST_ENOMEM;
	ssize_t n = 0;
	while (rc == 0 && (n = read(in, buf, CLICOPY_CHUNK)) > 0) {
		struct iovec iov = {buf, (size_t)n};
		rc = durable_write_all(out, &iov, 1);
		*bytes += (uint64_t)n;
	}
	if (rc == 0 && n < 0)
		rc = roost_from_errno(errno);
	if (rc == 0 && fsync(out) != 0)
		rc = roost_from_errno(errno);
	free(buf);
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

int clicopy_install(const char *partial, const char *to)
{
	int rc = durable_sync_dir(partial);
	if (rc == 0 && rename(partial, to) != 0)
		rc = roost_from_errno(errno);
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", to);
	return rc ? rc : durable_sync_dir(dirname(parent));
}

/* Syncs what is queued and frees the copies it was queued from. */
static int clicopy__log_sync(struct clicopy_log *l)
{
	int rc = l->nheld ? wal_sync(l->out) : 0;
	for (size_t i = 0; i < l->nheld; i++)
		free(l->held[i]);
	l->nheld = l->bytes = 0;
	return rc;
}

int clicopy_log_open(struct clicopy_log *l, const char *dir, uint64_t start)
{
	memset(l, 0, sizeof *l);
	if (mkdir(dir, 0700) != 0)
		return roost_from_errno(errno);
	return wal_open(&l->out, dir, start);
}

int clicopy_log_append(struct clicopy_log *l, uint64_t lsn, uint64_t next, const void *payload,
		       uint32_t len)
{
	if (l->nheld == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		void **held = realloc(l->held, cap * sizeof *held);
		if (!held)
			return ROOST_ENOMEM;
		l->held = held;
		l->cap = cap;
	}
	/* The log queues the payload until the sync. */
	void *copy = malloc(len ? len : 1);
	if (!copy)
		return ROOST_ENOMEM;
	memcpy(copy, payload, len);
	l->held[l->nheld++] = copy;
	l->bytes += len;
	int rc = wal_append(l->out, lsn, next, copy, len);
	return rc == 0 && l->bytes >= CLICOPY_SYNC_BYTES ? clicopy__log_sync(l) : rc;
}

int clicopy_log_close(struct clicopy_log *l)
{
	int rc = l->out ? clicopy__log_sync(l) : 0;
	free(l->held);
	wal_close(l->out);
	memset(l, 0, sizeof *l);
	return rc;
}
