/* POSIX shared-memory objects and the OFD byte locks used for liveness.
 *
 * An OFD lock (F_OFD_SETLK) belongs to an open file description, so it is
 * held for as long as the process keeps the descriptor and is dropped by
 * the kernel when the process dies, kill -9 included. Probing another
 * process's lock with F_OFD_GETLK tells whether it is still alive without
 * trusting a pid that may have been reused.
 */
#ifndef ROOST_SHM_H
#define ROOST_SHM_H

#include <stddef.h>
#include <sys/types.h>

struct shm_map {
	int fd;
	void *addr;
	size_t size;
};

/* Creates a new object of size bytes (ROOST_EEXIST if present), mapped
 * read-write and zero-filled, its memory reserved (ROOST_ENOSPC when
 * /dev/shm cannot hold it). */
int shm_create(struct shm_map *out, const char *name, size_t size, mode_t mode);

/* Maps an existing object whole; read_only maps it PROT_READ from an
 * O_RDONLY descriptor. ROOST_ENOENT when missing. */
int shm_attach(struct shm_map *out, const char *name, int read_only);

void shm_detach(struct shm_map *m);

/* Removes the name; 0 also when it was already gone. */
int shm_remove(const char *name);

/* Takes a write lock on byte off without waiting; ROOST_ELOCKED when
 * another open file description holds it. */
int shm_lock_byte(int fd, off_t off);

/* 1 when some other open file description holds a lock on byte off. */
int shm_byte_locked(int fd, off_t off);

#endif
