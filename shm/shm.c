#include "shm.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int shm_open_file(const char *path, int flags, mode_t mode, int *fd)
{
	int f = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (f < 0)
		return errno == ELOOP ? ROOST_EPERM : roost_from_errno(errno);
	struct stat st;
	int rc = fstat(f, &st) != 0 ? roost_from_errno(errno) : 0;
	if (rc == 0 && (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
			(st.st_mode & 07777 & ~(mode_t)SHM_MODE_MAX) != 0))
		rc = ROOST_EPERM;
	/* open applies the umask; the mode asked for is the mode meant. */
	if (rc == 0 && (flags & O_CREAT) && fchmod(f, mode) != 0)
		rc = roost_from_errno(errno);
	if (rc) {
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

int shm_reserve(int fd, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	int err = posix_fallocate(fd, (off_t)off, (off_t)len);
	if (err == 0)
		return 0;
	int rc = roost_from_errno(err);
	return rc == ROOST_EIO ? ROOST_ENOSPC : rc;
}

int shm_create(struct shm_map *out, const char *path, size_t size, size_t reserve, mode_t mode)
{
	int fd;
	int rc = shm_open_file(path, O_RDWR | O_CREAT | O_EXCL, mode, &fd);
	if (rc)
		return rc;
	if (ftruncate(fd, (off_t)size) != 0)
		rc = roost_from_errno(errno);
	if (rc == 0)
		rc = shm_reserve(fd, 0, reserve < size ? reserve : size);
	void *addr = MAP_FAILED;
	if (rc == 0) {
		addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (addr == MAP_FAILED)
			rc = roost_from_errno(errno);
	}
	if (rc) {
		close(fd);
		unlink(path); /* ours: O_EXCL created it */
		return rc;
	}
	out->fd = fd;
	out->addr = addr;
	out->size = size;
	return 0;
}

int shm_attach(struct shm_map *out, const char *path, enum shm_access access)
{
	int fd;
	int read_only = access == SHM_READ_ONLY;
	int rc = shm_open_file(path, read_only ? O_RDONLY : O_RDWR, 0, &fd);
	if (rc)
		return rc;
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return ROOST_ENOENT;
	}
	int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
	void *addr = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		rc = roost_from_errno(errno);
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

int shm_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
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
