#include "tutil.h"

#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tu_fixture {
	char dir[PATH_MAX];
	char file[PATH_MAX];
};

int tu_mkdtemp(char *out, size_t size, const char *parent, const char *prefix)
{
	int n = snprintf(out, size, "%s/%s-XXXXXX", parent, prefix);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

static int setup_in(void **state, const char *parent, const char *prefix)
{
	struct tu_fixture *f = calloc(1, sizeof *f);
	if (!f || tu_mkdtemp(f->dir, sizeof f->dir, parent, prefix)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int tu_setup_tmpdir(void **state)
{
	const char *tmp = getenv("TMPDIR");
	return setup_in(state, tmp && *tmp ? tmp : "/tmp", "roost-unit");
}

int tu_setup_shmdir(void **state)
{
	/* The test runner looks for leftovers named with its children's pids. */
	char prefix[64];
	snprintf(prefix, sizeof prefix, "roost.test-unit.%d", (int)getpid());
	return setup_in(state, "/dev/shm", prefix);
}

int tu_teardown(void **state)
{
	struct tu_fixture *f = *state;
	int rc = tu_remove_tree(f->dir);
	free(f);
	return rc;
}

const char *tu_dir(void **state)
{
	return ((struct tu_fixture *)*state)->dir;
}

const char *tu_file(void **state, const char *name)
{
	struct tu_fixture *f = *state;
	tu_path(f->file, f->dir, name);
	return f->file;
}

static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D && !(st->st_mode & S_IWUSR))
		chmod(path, 0700);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int tu_remove_tree(const char *path)
{
	/* Directories first, so that their entries can go. */
	chmod(path, 0700);
	nftw(path, open_up, 16, FTW_PHYS);
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

uint64_t tu_file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	size_t n = (size_t)tu_file_size(path);
	uint8_t *buf = malloc(n + 1); /* + 1: an empty file still gets a buffer */
	assert_non_null(buf);
	tu_pread(path, 0, buf, n);
	*len = n;
	return buf;
}

void tu_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

void tu_pread(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

void tu_pwrite(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void assert_refused(int rc)
{
	assert_true(rc == ROOST_ECORRUPT || rc == ROOST_EVERSION);
}

void tu_flip_every_byte(const struct tu_corruption *c)
{
	size_t len;
	uint8_t *good = tu_read_file(c->path, &len);
	uint8_t *buf = malloc(len + 1);
	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		for (int mask = 1; mask <= 0x100; mask <<= 1) {
			memcpy(buf, good, len);
			buf[i] ^= (uint8_t)(mask == 0x100 ? 0xff : mask);
			assert_refused(c->decode(buf, len));
		}
		tu_pwrite(c->path, i, &buf[i], 1);
		assert_refused(c->load(c->arg));
		tu_pwrite(c->path, i, &good[i], 1);
	}
	free(buf);
	free(good);
}
