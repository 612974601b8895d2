/* Instance directories (base/inst.c): what is refused before anything is
 * made, the private runtime root used when another user holds the shared
 * one, and a shared-memory link whose target someone else took. Each test
 * works in its own temporary directory, with TMPDIR, HOME and
 * XDG_RUNTIME_DIR pointed into it. Another user's directories are made by
 * chown, so those tests need root. */
#include "err.h"
#include "inst.h"
#include "tutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTHER_UID 65534 /* nobody */

struct fx {
	char base[256];
	char name[INST_NAME_MAX + 1];
	char *saved[3];
};

static const char *const fx_vars[] = {"TMPDIR", "HOME", "XDG_RUNTIME_DIR"};

static void path_in(const struct fx *f, const char *rel, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s", f->base, rel);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	const char *tmp = getenv("TMPDIR");
	if (tu_mkdtemp(f->base, sizeof f->base, tmp && *tmp ? tmp : "/tmp", "roost-inst"))
		return -1;
	/* The pid in the name lets the test runner find a /dev/shm leftover. */
	snprintf(f->name, sizeof f->name, "u%d", (int)getpid());
	for (int i = 0; i < 3; i++) {
		const char *v = getenv(fx_vars[i]);
		f->saved[i] = v ? strdup(v) : NULL;
	}
	char p[PATH_MAX];
	path_in(f, "tmp", p);
	mkdir(p, 0777);
	chmod(p, 01777); /* as /tmp */
	setenv("TMPDIR", p, 1);
	path_in(f, "home", p);
	mkdir(p, 0700);
	setenv("HOME", p, 1);
	unsetenv("XDG_RUNTIME_DIR");
	chmod(f->base, 0755);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_remove_tree(f->base);
	for (int i = 0; i < 3; i++) {
		if (f->saved[i])
			setenv(fx_vars[i], f->saved[i], 1);
		else
			unsetenv(fx_vars[i]);
		free(f->saved[i]);
	}
	free(f);
	return 0;
}

static void need_root(void)
{
	if (geteuid() != 0) {
		/* another user's directory is made with chown */
		print_message("skipped: needs root, to chown a directory to another user\n");
		skip();
	}
}

/* Leaves nothing in /dev/shm. */
static void remove_shm(struct inst *in)
{
	char why[INST_WHY_MAX];
	if (inst_shm_find(in, why, sizeof why) == 0)
		assert_int_equal(inst_shm_remove(in), 0);
}

static void test_symlink_root_refused_before_anything_is_made(void **state)
{
	struct fx *f = *state;
	char run[PATH_MAX], elsewhere[PATH_MAX], link[PATH_MAX + 8], why[INST_WHY_MAX];
	path_in(f, "run", run);
	path_in(f, "elsewhere", elsewhere);
	assert_int_equal(mkdir(run, 0700), 0);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	snprintf(link, sizeof link, "%s/roost", run);
	assert_int_equal(symlink(elsewhere, link), 0);
	setenv("XDG_RUNTIME_DIR", run, 1);
	struct inst in;
	assert_int_equal(inst_init(&in, f->name, NULL), 0);
	assert_int_equal(inst_make_run_dir(&in, why, sizeof why), ROOST_EPERM);
	assert_non_null(strstr(why, "is a symbolic link"));
	assert_non_null(strstr(why, link));
	assert_int_equal(rmdir(elsewhere), 0); /* still empty */
}

static void test_open_xdg_runtime_dir_refused(void **state)
{
	struct fx *f = *state;
	char run[PATH_MAX], why[INST_WHY_MAX];
	path_in(f, "run", run);
	assert_int_equal(mkdir(run, 0700), 0);
	assert_int_equal(chmod(run, 0777), 0);
	setenv("XDG_RUNTIME_DIR", run, 1);
	struct inst in;
	assert_int_equal(inst_init(&in, f->name, NULL), 0);
	assert_int_equal(inst_make_run_dir(&in, why, sizeof why), ROOST_EPERM);
	assert_non_null(strstr(why, "has mode 0777"));
}

/* $TMPDIR/roost-<uid> taken by another user: a private root, recorded in
 * ~/.cache/roost, which every later process finds; nothing goes into
 * theirs. */
static void test_taken_tmp_root_gives_a_private_one(void **state)
{
	need_root();
	struct fx *f = *state;
	char taken[PATH_MAX], why[INST_WHY_MAX];
	snprintf(taken, sizeof taken, "%s/tmp/roost-%u", f->base, (unsigned)geteuid());
	assert_int_equal(mkdir(taken, 0777), 0);
	assert_int_equal(chown(taken, OTHER_UID, OTHER_UID), 0);
	struct inst in, later;
	assert_int_equal(inst_init(&in, f->name, NULL), 0);
	assert_null(strstr(in.run_dir, taken)); /* not even to look for sockets */
	assert_int_equal(inst_make_run_dir(&in, why, sizeof why), 0);
	char prefix[PATH_MAX + 8];
	snprintf(prefix, sizeof prefix, "%s-", taken);
	assert_memory_equal(in.run_dir, prefix, strlen(prefix));
	assert_int_equal(inst_init(&later, f->name, NULL), 0);
	assert_string_equal(later.run_dir, in.run_dir);
	struct stat st;
	assert_int_equal(rmdir(taken), 0); /* still empty */
	assert_int_equal(lstat(in.run_dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

/* After a reboot the link's target is gone, and another user who read its
 * name in /dev/shm made it first: it is not used, and not touched. */
static void test_shm_link_to_a_taken_directory_is_replaced(void **state)
{
	need_root();
	struct fx *f = *state;
	char run[PATH_MAX], why[INST_WHY_MAX], old[PATH_MAX];
	path_in(f, "run", run);
	setenv("XDG_RUNTIME_DIR", run, 1);
	struct inst in;
	int made = 0;
	assert_int_equal(inst_init(&in, f->name, NULL), 0);
	assert_int_equal(inst_make_run_dir(&in, why, sizeof why), 0);
	assert_int_equal(inst_shm_find(&in, why, sizeof why), ROOST_ENOENT);
	assert_int_equal(inst_shm_make(&in, &made, why, sizeof why), 0);
	assert_true(made);
	snprintf(old, sizeof old, "%s", in.shm_dir);
	assert_memory_equal(old, "/dev/shm/roost.", 15);
	assert_int_equal(rmdir(old), 0);
	assert_int_equal(mkdir(old, 0777), 0);
	assert_int_equal(chown(old, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(inst_shm_find(&in, why, sizeof why), ROOST_EPERM);
	assert_non_null(strstr(why, "is owned by uid 65534"));
	assert_int_equal(inst_shm_make(&in, &made, why, sizeof why), 0);
	assert_true(made);
	assert_string_not_equal(in.shm_dir, old);
	remove_shm(&in);
	assert_int_equal(rmdir(old), 0); /* still there, still empty */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_symlink_root_refused_before_anything_is_made,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_xdg_runtime_dir_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_taken_tmp_root_gives_a_private_one, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_shm_link_to_a_taken_directory_is_replaced, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
