/* Helpers shared by the libFuzzer targets in fuzz/ and their seed maker.
 *
 * Targets that decode files or shared memory need somewhere to put the
 * fuzzer's bytes: a private directory on tmpfs (/dev/shm), so that the
 * fsyncs of the code under test cost nothing, removed at exit. */
#ifndef ROOST_FUZZ_H
#define ROOST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Stops the fuzzer with a crash report: a property of the decoder under
 * test does not hold. Used instead of assert(), which NDEBUG would remove. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond);                                      \
	} while (0)

__attribute__((noreturn)) void fuzz_fail(const char *file, int line, const char *what);

/* The process's scratch directory (created on first use). */
const char *fuzz_dir(void);

/* dir/name into buf (PATH_MAX bytes). */
void fuzz_path(char *buf, const char *dir, const char *name);

/* Replaces the file at path with len bytes of data. */
int fuzz_write_file(const char *path, const void *data, size_t len);

/* Reads a whole file into a malloc'ed buffer. */
int fuzz_read_file(const char *path, void **data, size_t *len);

/* Removes every file in dir (not subdirectories). */
void fuzz_clear_dir(const char *dir);

/* A malloc'ed copy of data (data NULL: uninitialised len bytes): malloc's
 * alignment is what the decoders require of their callers, and ASan then
 * sees the exact end of the bytes. Never NULL (aborts when out of memory). */
void *fuzz_copy(const void *data, size_t len);

#endif
