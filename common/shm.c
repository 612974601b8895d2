#include "shm.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int shm_create(struct shm_map *out, const char *name, size_t size, mode_t mode)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return roost_from_errno(errno);
	/* shm_open applies the umask; the mode asked for is the mode meant.
	 * The pages are reserved now: a full /dev/shm is ROOST_ENOSPC here,
	 * not a SIGBUS on first touch in this or another process. */
	int err = fchmod(fd, mode) != 0 || ftruncate(fd, (off_t)size) != 0 ? errno : 0;
	if (err == 0)
		err = posix_fallocate(fd, 0, (off_t)size);
	if (err) {
		int rc = roost_from_errno(err);
		close(fd);
		shm_unlink(name);
		return rc == ROOST_EIO ? ROOST_ENOSPC : rc;
	}
	void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		int rc = roost_from_errno(errno);
		close(fd);
		shm_unlink(name);
		return rc;
	}
	out->fd = fd;
	out->addr = addr;
	out->size = size;
	return 0;
}

int shm_attach(struct shm_map *out, const char *name, int read_only)
{
	int fd = shm_open(name, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
	if (fd < 0)
		return roost_from_errno(errno);
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return ROOST_ENOENT;
	}
	int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
	void *addr = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		int rc = roost_from_errno(errno);
		close(fd);
		return rc;
	}
	out->fd = fd;
	out->addr = addr;
	out->size = (size_t)st.st_size;
	return 0;
}

void shm_detach(struct shm_map *m)
{
	if (m->addr && m->addr != MAP_FAILED)
		munmap(m->addr, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->addr = NULL;
	m->fd = -1;
}

int shm_remove(const char *name)
{
	if (shm_unlink(name) != 0 && errno != ENOENT)
		return roost_from_errno(errno);
	return 0;
}

static struct flock shm__byte(short type, off_t off)
{
	struct flock fl = {0};
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = off;
	fl.l_len = 1;
	return fl;
}

int shm_lock_byte(int fd, off_t off)
{
	struct flock fl = shm__byte(F_WRLCK, off);
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EAGAIN || errno == EACCES ? ROOST_ELOCKED : roost_from_errno(errno);
}

int shm_byte_locked(int fd, off_t off)
{
	/* A read lock probe also works on a descriptor opened read-only. */
	struct flock fl = shm__byte(F_RDLCK, off);
	if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
		return 0;
	return fl.l_type != F_UNLCK;
}
