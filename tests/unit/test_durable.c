/* Unit tests for store/durable.c: whole writes across many buffers,
 * atomic replacement (the old file or the new one, never a temporary
 * left), and mkdir -p. Each test works in its own temporary directory. */
#include "durable.h"
#include "err.h"
#include "tutil.h"

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
	tu_path(path, tu_dir(state), "out");
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(durable_write_all(fd, iov, 40), 0);
	close(fd);
	size_t n;
	uint8_t *got = tu_read_file(path, &n);
	assert_int_equal(n, total);
	size_t at = 0;
	for (int i = 0; i < 40; i++)
		for (size_t j = 0; j < (size_t)(i % 3 == 0 ? 0 : 1 + i * 2); j++)
			assert_int_equal(got[at++], 'a' + i % 26);
	free(got);
}

static void test_replace_is_whole_and_leaves_no_temporary(void **state)
{
	char path[PATH_MAX];
	tu_path(path, tu_dir(state), "MANIFEST");
	struct iovec one = {"first version", 13};
	assert_int_equal(durable_replace(path, &one, 1, 0600), 0);
	struct iovec two[2] = {{"second ", 7}, {"version", 7}};
	assert_int_equal(durable_replace(path, two, 2, 0640), 0);
	size_t n;
	uint8_t *got = tu_read_file(path, &n);
	assert_int_equal(n, 14);
	assert_memory_equal(got, "second version", 14);
	free(got);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(entries(tu_dir(state)), 1);
}

/* A replace that cannot write its temporary (a directory stands in its
 * place) fails with the reason and leaves the old file as it was. */
static void test_failed_replace_keeps_the_old_file(void **state)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	tu_path(path, tu_dir(state), "MANIFEST");
	struct iovec old = {"old", 3};
	assert_int_equal(durable_replace(path, &old, 1, 0600), 0);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	assert_int_equal(mkdir(tmp, 0700), 0);
	struct iovec new = {"new!", 4};
	assert_int_equal(durable_replace(path, &new, 1, 0600), roost_from_errno(EISDIR));
	size_t n;
	uint8_t *got = tu_read_file(path, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(got, "old", 3);
	free(got);
	struct stat st;
	assert_int_equal(stat(tmp, &st), 0);
	assert_true(S_ISDIR(st.st_mode)); /* not ours to remove */
}

/* The file has the mode asked for whatever the umask: group access is a
 * setting of the instance, and a replaced file takes the new mode. */
static void test_replace_sets_the_mode_whatever_the_umask(void **state)
{
	char path[PATH_MAX];
	tu_path(path, tu_dir(state), "f");
	struct iovec one = {(void *)"x", 1};
	mode_t old = umask(077);
	int first = durable_replace(path, &one, 1, 0640);
	struct stat st1, st2;
	stat(path, &st1);
	int second = durable_replace(path, &one, 1, 0600);
	stat(path, &st2);
	umask(old);
	assert_int_equal(first, 0);
	assert_int_equal(st1.st_mode & 0777, 0640);
	assert_int_equal(second, 0);
	assert_int_equal(st2.st_mode & 0777, 0600);
}

static void test_mkdirs(void **state)
{
	char path[PATH_MAX];
	tu_path(path, tu_dir(state), "a/b/c");
	assert_int_equal(durable_mkdirs(path, 0700), 0);
	assert_int_equal(durable_mkdirs(path, 0700), 0); /* already there */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(durable_sync_dir(path), 0);
	assert_int_equal(durable_mkdirs("", 0700), ROOST_EINVAL);
	/* A file in the way is an error, not a directory made around it. */
	tu_path(path, tu_dir(state), "file");
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	tu_path(path, tu_dir(state), "file/under");
	assert_int_equal(durable_mkdirs(path, 0700), roost_from_errno(ENOTDIR));
	assert_int_equal(durable_sync_file(path), roost_from_errno(ENOTDIR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_all_many_buffers, tu_setup_tmpdir,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_replace_is_whole_and_leaves_no_temporary,
					    tu_setup_tmpdir, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_failed_replace_keeps_the_old_file, tu_setup_tmpdir,
					    tu_teardown),
	    cmocka_unit_test_setup_teardown(test_replace_sets_the_mode_whatever_the_umask,
					    tu_setup_tmpdir, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_mkdirs, tu_setup_tmpdir, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
