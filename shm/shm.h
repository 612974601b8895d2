/* Shared-memory objects: files on a memory file system (tmpfs), in the
 * instance's private directory (base/inst.h), mapped by every process of
 * the instance; and the OFD byte locks used for liveness.
 *
 * Objects are opened by path, never through a symbolic link, and what was
 * opened is checked before it is used: a regular file, owned by this user,
 * with no permission beyond SHM_MODE_MAX. Being private, the directory lets
 * no one else create, replace or remove a name in it.
 *
 * An object is sparse: its size is set at creation, and its memory is
 * taken as it is reserved (shm_reserve), so that an instance holds memory
 * in proportion to what it stores. Writing into a part not reserved would
 * raise SIGBUS when the file system is full: a writer reserves first, and a
 * failed reservation is ROOST_ENOSPC.
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
#include <stdint.h>
#include <sys/types.h>

/* The widest mode an object may have: group access (inst.h) at most. */
#define SHM_MODE_MAX 0660

struct shm_map {
	int fd;
	void *addr;
	size_t size;
};

/* Opens path with flags O_RDONLY, O_RDWR or O_RDWR | O_CREAT | O_EXCL (then
 * with exactly mode, whatever the umask), close-on-exec and not through a
 * symbolic link, and checks it as above. ROOST_ENOENT when missing,
 * ROOST_EEXIST when it exists and O_EXCL was asked, ROOST_EPERM when it is
 * a link, not a regular file, another user's or open beyond SHM_MODE_MAX. */
int shm_open_file(const char *path, int flags, mode_t mode, int *fd);

/* Creates a new object of size bytes (ROOST_EEXIST if present), mapped
 * read-write and zero-filled, with its first `reserve` bytes reserved
 * (ROOST_ENOSPC when the file system cannot hold them). */
int shm_create(struct shm_map *out, const char *path, size_t size, size_t reserve, mode_t mode);

/* Reserves len bytes at off of an object opened read-write; ROOST_ENOSPC
 * when the file system is full. Reserving a part twice costs nothing. */
int shm_reserve(int fd, uint64_t off, uint64_t len);

enum shm_access { SHM_READ_WRITE, SHM_READ_ONLY };

/* Maps an existing object whole; SHM_READ_ONLY maps it PROT_READ from an
 * O_RDONLY descriptor. ROOST_ENOENT when missing or empty. */
int shm_attach(struct shm_map *out, const char *path, enum shm_access access);

void shm_detach(struct shm_map *m);

/* Removes the name; 0 also when it was already gone. */
int shm_remove(const char *path);

/* Takes a write lock on byte off without waiting; ROOST_ELOCKED when
 * another open file description holds it. */
int shm_lock_byte(int fd, off_t off);

/* 1 when some other open file description holds a lock on byte off. */
int shm_byte_locked(int fd, off_t off);

#endif
