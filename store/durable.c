#include "durable.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int durable_write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return roost_from_errno(errno);
		if (w == 0 && iov->iov_len > 0)
			return ROOST_EIO; /* no progress, and no error to tell why */
		/* A short write (a full disk, a file size limit) resumes at the
		 * first byte not written; the next call reports the error. */
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

static int durable__sync_fd(int fd)
{
	return fsync(fd) == 0 ? 0 : roost_from_errno(errno);
}

static int durable__write_file(const char *path, struct iovec *iov, int n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return roost_from_errno(errno);
	/* The mode is the instance's access setting, whatever the umask took
	 * from it at open; set before the rename publishes the file. */
	int rc = fchmod(fd, mode) == 0 ? 0 : roost_from_errno(errno);
	if (rc == 0)
		rc = durable_write_all(fd, iov, n);
	if (rc == 0)
		rc = durable__sync_fd(fd);
	if (close(fd) != 0 && rc == 0)
		rc = roost_from_errno(errno);
	return rc;
}

int durable_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = durable__sync_fd(fd);
	close(fd);
	return rc;
}

int durable_sync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = durable__sync_fd(fd);
	close(fd);
	return rc;
}

int durable_replace(const char *path, struct iovec *iov, int n, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp ||
	    snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
		return ROOST_ETOOBIG;
	int rc = durable__write_file(tmp, iov, n, mode);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = roost_from_errno(errno);
	if (rc) {
		unlink(tmp);
		return rc;
	}
	/* Without this the rename itself may not survive a crash, and a
	 * recovering writer would find the previous file. */
	return durable_sync_dir(dirname(dir));
}

int durable_mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (!path[0])
		return ROOST_EINVAL;
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return ROOST_ETOOBIG;
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return roost_from_errno(errno);
		if (c == '\0')
			return 0;
		*p = c;
	}
}
