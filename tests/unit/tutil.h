/* tutil: fixtures and file helpers the unit tests share.
 *
 * Each fixture gives a test a fresh directory of its own and removes it,
 * with all it holds, after the test: a test that fails half way leaves
 * nothing for the next one or for the runner's leftover check. Helpers
 * fail the running test (cmocka) instead of returning errors. */
#ifndef ROOST_TUTIL_H
#define ROOST_TUTIL_H

#include <stddef.h>
#include <stdint.h>

/* cmocka setup functions; pair either with tu_teardown. */
int tu_setup_tmpdir(void **state); /* under $TMPDIR, else /tmp */
int tu_setup_shmdir(void **state); /* under /dev/shm, named with the pid */
int tu_teardown(void **state);

const char *tu_dir(void **state);
/* dir/name, in a buffer the fixture owns until the next call. */
const char *tu_file(void **state, const char *name);

/* Makes a directory like mkdtemp(parent/prefix-XXXXXX) into out. */
int tu_mkdtemp(char *out, size_t size, const char *parent, const char *prefix);
/* Removes path and all below it, even directories a test made read-only. */
int tu_remove_tree(const char *path);

void tu_path(char *out, const char *dir, const char *name); /* PATH_MAX */
uint64_t tu_file_size(const char *path);
uint8_t *tu_read_file(const char *path, size_t *len); /* caller frees */
void tu_write_file(const char *path, const void *buf, size_t len);
void tu_pread(const char *path, uint64_t off, void *buf, size_t len);
void tu_pwrite(const char *path, uint64_t off, const void *buf, size_t len);

/* Every bit, and every whole byte, of the stored file at path must be
 * refused with ROOST_ECORRUPT or ROOST_EVERSION: both as bytes handed to
 * decode and through the file as load(arg) reads it. load also checks that
 * a refused load gave nothing back. Bytes are patched in place, since
 * rewriting whole files makes ext4 flush each one. */
struct tu_corruption {
	const char *path;
	int (*decode)(const void *buf, size_t len);
	int (*load)(const void *arg);
	const void *arg;
};
void tu_flip_every_byte(const struct tu_corruption *c);

#endif
