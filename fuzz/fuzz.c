#include "fuzz.h"

#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz__dir[PATH_MAX];

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
	abort();
}

static void fuzz__cleanup(void)
{
	fuzz_clear_dir(fuzz__dir);
	rmdir(fuzz__dir);
}

const char *fuzz_dir(void)
{
	if (fuzz__dir[0])
		return fuzz__dir;
	snprintf(fuzz__dir, sizeof fuzz__dir, "/dev/shm/roost-fuzz-XXXXXX");
	if (!mkdtemp(fuzz__dir)) {
		snprintf(fuzz__dir, sizeof fuzz__dir, "/tmp/roost-fuzz-XXXXXX");
		if (!mkdtemp(fuzz__dir)) {
			perror("mkdtemp");
			abort();
		}
	}
	atexit(fuzz__cleanup);
	return fuzz__dir;
}

void fuzz_path(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
}

int fuzz_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return roost_from_errno(errno);
	const char *p = data;
	int rc = 0;
	while (rc == 0 && len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = n < 0 ? roost_from_errno(errno) : ROOST_EIO;
		else {
			p += n;
			len -= (size_t)n;
		}
	}
	close(fd);
	return rc;
}

int fuzz_read_file(const char *path, void **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return roost_from_errno(errno);
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	fclose(f);
	if (!buf)
		return ROOST_ENOMEM;
	*data = buf;
	*len = n;
	return 0;
}

void fuzz_clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

void *fuzz_copy(const void *data, size_t len)
{
	void *p = malloc(len ? len : 1);
	if (!p)
		abort();
	if (data && len)
		memcpy(p, data, len);
	return p;
}
