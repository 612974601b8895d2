/* Unit tests for store/durable.c: whole writes across many buffers,
 * atomic replacement (the old file or the new one, never a temporary
 * left), and mkdir -p. Each test works in its own temporary directory. */
#include "durable.h"
#include "err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup(void **state)
{
	char *dir = malloc(PATH_MAX);
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, PATH_MAX, "%s/roost-durable-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				char sub[PATH_MAX + 256];
				snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
				remove_tree(sub);
			}
		closedir(d);
		chmod(path, 0700);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int teardown(void **state)
{
	remove_tree(*state);
	free(*state);
	return 0;
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Many buffers, some of them empty: every byte arrives once, in order. */
static void test_write_all_many_buffers(void **state)
{
	(void)state;
	char parts[40][100];
	struct iovec iov[40];
	size_t total = 0;
	for (int i = 0; i < 40; i++) {
		size_t len = (size_t)(i % 3 == 0 ? 0 : 1 + i * 2);
		memset(parts[i], 'a' + i % 26, len);
		iov[i] = (struct iovec){parts[i], len};
		total += len;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/out", (char *)*state);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(durable_write_all(fd, iov, 40), 0);
	close(fd);
	char got[4096];
	assert_int_equal(slurp(path, got, sizeof got), total);
	size_t at = 0;
	for (int i = 0; i < 40; i++)
		for (size_t j = 0; j < (size_t)(i % 3 == 0 ? 0 : 1 + i * 2); j++)
			assert_int_equal(got[at++], 'a' + i % 26);
}

static void test_replace_is_whole_and_leaves_no_temporary(void **state)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/MANIFEST", (char *)*state);
	struct iovec one = {"first version", 13};
	assert_int_equal(durable_replace(path, &one, 1, 0600), 0);
	struct iovec two[2] = {{"second ", 7}, {"version", 7}};
	assert_int_equal(durable_replace(path, two, 2, 0640), 0);
	char got[64];
	size_t n = slurp(path, got, sizeof got);
	assert_int_equal(n, 14);
	assert_memory_equal(got, "second version", 14);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(entries(*state), 1);
}

/* A replace that cannot write its temporary (a directory stands in its
 * place) fails with the reason and leaves the old file as it was. */
static void test_failed_replace_keeps_the_old_file(void **state)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/MANIFEST", (char *)*state);
	struct iovec old = {"old", 3};
	assert_int_equal(durable_replace(path, &old, 1, 0600), 0);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_equal(mkdir(tmp, 0700), 0);
	struct iovec new = {"new!", 4};
	assert_int_equal(durable_replace(path, &new, 1, 0600), roost_from_errno(EISDIR));
	char got[16];
	assert_int_equal(slurp(path, got, sizeof got), 3);
	assert_memory_equal(got, "old", 3);
	struct stat st;
	assert_int_equal(stat(tmp, &st), 0);
	assert_true(S_ISDIR(st.st_mode)); /* not ours to remove */
}

static void test_mkdirs(void **state)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/a/b/c", (char *)*state);
	assert_int_equal(durable_mkdirs(path, 0700), 0);
	assert_int_equal(durable_mkdirs(path, 0700), 0); /* already there */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(durable_sync_dir(path), 0);
	assert_int_equal(durable_mkdirs("", 0700), ROOST_EINVAL);
	/* A file in the way is an error, not a directory made around it. */
	snprintf(path, sizeof path, "%s/file", (char *)*state);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	snprintf(path, sizeof path, "%s/file/under", (char *)*state);
	assert_int_equal(durable_mkdirs(path, 0700), roost_from_errno(ENOTDIR));
	assert_int_equal(durable_sync_file(path), roost_from_errno(ENOTDIR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_all_many_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_is_whole_and_leaves_no_temporary, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_replace_keeps_the_old_file, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
