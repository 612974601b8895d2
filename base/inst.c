#include "inst.h"

#include "err.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define INST__SHM_LINK "shm"
#define INST__SHM_BASE "/dev/shm"
/* Mode bits that would let another user change what is in a directory. */
#define INST__OTHERS_WRITE 022

static int inst__valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > INST_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int inst__fmt(char *buf, size_t len, const char *fmt, const char *a, const char *b)
{
	int n = snprintf(buf, len, fmt, a, b);
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

static int inst__default_data(char *buf, size_t len, const char *name)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	if (xdg && *xdg)
		return inst__fmt(buf, len, "%s/roost/%s", xdg, name);
	const char *home = getenv("HOME");
	if (!home || !*home)
		home = "/tmp";
	return inst__fmt(buf, len, "%s/.local/share/roost/%s", home, name);
}

/* Says why errno stopped an operation on path, in why; returns its code. */
static int inst__errno(const char *what, const char *path, const char *doing, char *why, size_t len)
{
	int err = errno;
	snprintf(why, len, "%s %s: cannot %s: %s", what, path, doing, strerror(err));
	return roost_from_errno(err);
}

/* Whether a directory may be trusted: a real directory (not a symbolic
 * link), ours, and with none of the `forbidden` mode bits; why names the
 * problem. */
static int inst__judge(const char *what, const char *path, const struct stat *st, mode_t forbidden,
		       char *why, size_t len)
{
	if (S_ISLNK(st->st_mode)) {
		char to[PATH_MAX];
		ssize_t n = readlink(path, to, sizeof to - 1);
		to[n > 0 ? n : 0] = '\0';
		snprintf(why, len, "%s %s is a symbolic link (to %s), not a directory", what, path,
			 to);
	} else if (!S_ISDIR(st->st_mode)) {
		snprintf(why, len, "%s %s is not a directory", what, path);
	} else if (st->st_uid != geteuid()) {
		snprintf(why, len, "%s %s is owned by uid %u, not by this user (uid %u)", what,
			 path, (unsigned)st->st_uid, (unsigned)geteuid());
	} else if (st->st_mode & forbidden) {
		snprintf(why, len, "%s %s has mode %04o: other users could change what is in it",
			 what, path, (unsigned)(st->st_mode & 07777));
	} else {
		return 0;
	}
	return ROOST_EPERM;
}

/* lstat and judge; ROOST_ENOENT (no why) when path does not exist. */
static int inst__check(const char *what, const char *path, mode_t forbidden, char *why, size_t len)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? ROOST_ENOENT
				       : inst__errno(what, path, "examine it", why, len);
	return inst__judge(what, path, &st, forbidden, why, len);
}

/* A directory of ours, judged already, gets exactly mode. The descriptor
 * makes sure the change lands on what was judged. */
static int inst__set_mode(const char *what, const char *path, mode_t mode, char *why, size_t len)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return inst__errno(what, path, "open it", why, len);
	struct stat st;
	int rc = fstat(fd, &st) != 0 ? inst__errno(what, path, "examine it", why, len)
				     : inst__judge(what, path, &st, 0, why, len);
	if (rc == 0 && (st.st_mode & 07777) != mode && fchmod(fd, mode) != 0)
		rc = inst__errno(what, path, "set its mode", why, len);
	close(fd);
	return rc;
}

/* Makes path (mode) unless it exists, then checks it and gives it mode.
 * Only a private parent is given to it, or a sticky one in which a name of
 * ours cannot be replaced by another user. */
static int inst__dir(const char *what, const char *path, mode_t mode, char *why, size_t len)
{
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return inst__errno(what, path, "create it", why, len);
	int rc = inst__check(what, path, 0, why, len);
	if (rc == ROOST_ENOENT)
		return inst__errno(what, path, "find it", why, len);
	return rc ? rc : inst__set_mode(what, path, mode, why, len);
}

/* mkdir -p for the directory XDG_RUNTIME_DIR names. Each existing
 * ancestor must belong to us or to root and be writable by no one else
 * unless sticky (as /tmp is), so that nothing is created where another
 * user could swap it; then the directory itself must be ours and private. */
static int inst__xdg_dir(const char *xdg, int create, char *why, size_t len)
{
	const char *what = "XDG_RUNTIME_DIR";
	char tmp[PATH_MAX];
	if (xdg[0] != '/' || snprintf(tmp, sizeof tmp, "%s", xdg) >= (int)sizeof tmp) {
		snprintf(why, len, "%s %s is not an absolute path", what, xdg);
		return ROOST_EINVAL;
	}
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		struct stat st;
		if (create && c != '\0' && stat(tmp, &st) != 0 && errno == ENOENT)
			mkdir(tmp, 0700);
		if (c != '\0' && stat(tmp, &st) == 0 &&
		    ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		     ((st.st_mode & INST__OTHERS_WRITE) && !(st.st_mode & S_ISVTX)))) {
			snprintf(why, len,
				 "%s %s: its parent %s can be changed by another user (owner uid "
				 "%u, mode %04o)",
				 what, xdg, tmp, (unsigned)st.st_uid,
				 (unsigned)(st.st_mode & 07777));
			return ROOST_EPERM;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (create && mkdir(xdg, 0700) != 0 && errno != EEXIST)
		return inst__errno(what, xdg, "create it", why, len);
	return inst__check(what, xdg, INST__OTHERS_WRITE, why, len);
}

static const char *inst__tmp_base(void)
{
	const char *tmp = getenv("TMPDIR");
	return tmp && tmp[0] == '/' ? tmp : "/tmp";
}

/* ~/.cache/roost, checked (and made when create): where the path of a
 * private runtime root is recorded, a place only we can write. */
static int inst__cache_dir(char *buf, size_t buflen, int create, char *why, size_t len)
{
	const char *home = getenv("HOME");
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home) {
		snprintf(why, len, "no home directory to record a private runtime root in");
		return ROOST_ENOENT;
	}
	struct stat st;
	if (stat(home, &st) != 0)
		return inst__errno("home directory", home, "examine it", why, len);
	int rc = inst__judge("home directory", home, &st, INST__OTHERS_WRITE, why, len);
	char cache[PATH_MAX];
	if (rc == 0)
		rc = inst__fmt(cache, sizeof cache, "%s/%s", home, ".cache");
	if (rc == 0 && create && mkdir(cache, 0700) != 0 && errno != EEXIST)
		rc = inst__errno("cache directory", cache, "create it", why, len);
	if (rc == 0)
		rc = inst__check("cache directory", cache, INST__OTHERS_WRITE, why, len);
	if (rc == 0)
		rc = inst__fmt(buf, buflen, "%s/%s", cache, "roost");
	if (rc == 0)
		rc = create ? inst__dir("cache directory", buf, 0700, why, len)
			    : inst__check("cache directory", buf, INST__OTHERS_WRITE, why, len);
	return rc;
}

/* The private runtime root that the link in ~/.cache/roost records, made
 * (and recorded) when create. */
static int inst__private_root(const struct inst *in, const char *taken, char *buf, size_t buflen,
			      int create, char *why, size_t len)
{
	char cache[PATH_MAX], link[INST_PATH_MAX], host[256] = "localhost";
	int rc = inst__cache_dir(cache, sizeof cache, create, why, len);
	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	if (rc == 0 &&
	    snprintf(link, sizeof link, "%s/runtime-%s", cache, host) >= (int)sizeof link)
		rc = ROOST_ETOOBIG;
	if (rc)
		return rc;
	char tmp[sizeof link + 32];
	snprintf(tmp, sizeof tmp, "%s.%d", link, (int)getpid());
	for (int attempt = 0;; attempt++) {
		ssize_t n = readlink(link, buf, buflen - 1);
		int recorded = n >= 0 || errno != ENOENT;
		if (n > 0 && (size_t)n < buflen - 1) {
			buf[n] = '\0';
			char ignored[INST_WHY_MAX];
			/* A root another user took over after a reboot is left alone. */
			if (buf[0] == '/' && inst__check("runtime root", buf, INST__OTHERS_WRITE,
							 ignored, sizeof ignored) == 0)
				return create ? inst__set_mode("runtime root", buf, in->dir_mode,
							       why, len)
					      : 0;
		}
		if (!create)
			return ROOST_ENOENT;
		if (snprintf(buf, buflen, "%s/roost-%u-XXXXXX", inst__tmp_base(),
			     (unsigned)geteuid()) >= (int)buflen)
			return ROOST_ETOOBIG;
		if (!mkdtemp(buf))
			return inst__errno("runtime root", buf, "create it", why, len);
		/* A new record is made only where none is (a process starting at
		 * the same time may have made one); a bad one is replaced. */
		unlink(tmp);
		int ok = recorded ? symlink(buf, tmp) == 0 && rename(tmp, link) == 0
				  : symlink(buf, link) == 0;
		if (ok)
			break;
		rc = errno == EEXIST && attempt == 0
			 ? 0
			 : inst__errno("runtime root link", link, "record it", why, len);
		unlink(tmp);
		rmdir(buf);
		if (rc)
			return rc;
	}
	log_warn("%s: using %s instead, recorded in %s", why[0] ? why : taken, buf, link);
	return inst__set_mode("runtime root", buf, in->dir_mode, why, len);
}

/* The runtime root. Without create nothing is made or changed, and a root
 * that is missing gives the path it will have. */
static int inst__root(const struct inst *in, char *buf, size_t buflen, int create, char *why,
		      size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg) {
		int rc = inst__fmt(buf, buflen, "%s/%s", xdg, "roost");
		if (rc || !create)
			return rc;
		rc = inst__xdg_dir(xdg, create, why, len);
		return rc ? rc : inst__dir("runtime root", buf, in->dir_mode, why, len);
	}
	char taken[PATH_MAX];
	if (snprintf(buf, buflen, "%s/roost-%u", inst__tmp_base(), (unsigned)geteuid()) >=
	    (int)buflen)
		return ROOST_ETOOBIG;
	if (create && mkdir(buf, in->dir_mode) != 0 && errno != EEXIST)
		return inst__errno("runtime root", buf, "create it", why, len);
	why[0] = '\0';
	int rc = inst__check("runtime root", buf, INST__OTHERS_WRITE, why, len);
	if (rc == ROOST_ENOENT && !create)
		return 0;
	if (rc == 0)
		return create ? inst__set_mode("runtime root", buf, in->dir_mode, why, len) : 0;
	/* Someone else holds the name in a shared directory: no reason to
	 * stop, and nothing of theirs to use. */
	snprintf(taken, sizeof taken, "%s", buf);
	return inst__private_root(in, taken, buf, buflen, create, why, len);
}

int inst_init(struct inst *in, const char *name, const char *data_dir)
{
	memset(in, 0, sizeof *in);
	if (!name || !inst__valid_name(name))
		return ROOST_EINVAL;
	strcpy(in->name, name);
	const char *group = getenv("ROOST_GROUP_ACCESS");
	int shared = group && strcmp(group, "1") == 0;
	in->dir_mode = shared ? 0750 : 0700;
	in->file_mode = shared ? 0660 : 0600;
	in->data_mode = shared ? 0640 : 0600;
	char root[PATH_MAX], why[INST_WHY_MAX];
	int rc = inst__root(in, root, sizeof root, 0, why, sizeof why);
	if (rc) /* nothing to trust: a path where no one else can put anything */
		snprintf(root, sizeof root, "/nonexistent/roost-runtime-unusable");
	rc = inst__fmt(in->run_dir, sizeof in->run_dir, "%s/%s", root, name);
	if (rc == 0 && data_dir)
		rc = inst__fmt(in->data_dir, sizeof in->data_dir, "%s%s", data_dir, "");
	else if (rc == 0)
		rc = inst__default_data(in->data_dir, sizeof in->data_dir, name);
	return rc;
}

int inst_make_run_dir(struct inst *in, char *why, size_t len)
{
	char root[PATH_MAX];
	why[0] = '\0';
	int rc = inst__root(in, root, sizeof root, 1, why, len);
	if (rc == 0)
		rc = inst__fmt(in->run_dir, sizeof in->run_dir, "%s/%s", root, in->name);
	if (rc == ROOST_ETOOBIG && !why[0])
		snprintf(why, len, "runtime directory path too long");
	if (rc == 0)
		rc = inst__dir("runtime directory", in->run_dir, in->dir_mode, why, len);
	return rc;
}

/* A private directory: a real directory, ours, with exactly mode. */
static int inst__check_private(const char *path, mode_t mode)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return roost_from_errno(errno);
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return ROOST_EPERM;
	if ((st.st_mode & 0777) != mode && chmod(path, mode) != 0)
		return ROOST_EPERM;
	return 0;
}

int inst_check_data_dir(const struct inst *in)
{
	return inst__check_private(in->data_dir, in->dir_mode);
}

int inst_ipc_url(const struct inst *in, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/%s", in->run_dir, file);
	if (n < 0 || n > INST_IPC_PATH_MAX)
		return ROOST_ETOOBIG;
	return inst__fmt(buf, len, "ipc://%s%s", path, "");
}

int inst_search_url(const struct inst *in, pid_t pid, char *buf, size_t len)
{
	char file[64];
	snprintf(file, sizeof file, INST_SEARCH_SOCKET_PREFIX "%d" INST_SEARCH_SOCKET_SUFFIX,
		 (int)pid);
	return inst_ipc_url(in, file, buf, len);
}

void inst_search_unlink(const struct inst *in, pid_t pid)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path,
			 "%s/" INST_SEARCH_SOCKET_PREFIX "%d" INST_SEARCH_SOCKET_SUFFIX,
			 in->run_dir, (int)pid);
	if (n > 0 && (size_t)n < sizeof path)
		unlink(path);
}

/* ---- shared memory ---- */

/* The shared-memory directory at path: judged as every trusted directory,
 * and on a memory file system. ROOST_ENOENT when it does not exist. */
static int inst__shm_check(const struct inst *in, const char *path, int set_mode, char *why,
			   size_t len)
{
	const char *what = "shared-memory directory";
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return ROOST_ENOENT;
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
		int rc = inst__check(what, path, INST__OTHERS_WRITE, why, len);
		return rc ? rc : ROOST_EPERM;
	}
	if (fd < 0)
		return inst__errno(what, path, "open it", why, len);
	struct stat st;
	struct statfs fs;
	int rc = fstat(fd, &st) != 0 || fstatfs(fd, &fs) != 0
		     ? inst__errno(what, path, "examine it", why, len)
		     : inst__judge(what, path, &st, INST__OTHERS_WRITE, why, len);
	if (rc == 0 && fs.f_type != TMPFS_MAGIC && fs.f_type != RAMFS_MAGIC) {
		snprintf(why, len, "%s %s is not on a memory file system", what, path);
		rc = ROOST_EPERM;
	}
	if (rc == 0 && set_mode && (st.st_mode & 07777) != in->dir_mode &&
	    fchmod(fd, in->dir_mode) != 0)
		rc = inst__errno(what, path, "set its mode", why, len);
	close(fd);
	return rc;
}

static int inst__shm_link(const struct inst *in, char *buf, size_t len)
{
	return inst__fmt(buf, len, "%s/%s", in->run_dir, INST__SHM_LINK);
}

static int inst__shm_use(struct inst *in, const char *dir)
{
	snprintf(in->shm_dir, sizeof in->shm_dir, "%s", dir);
	snprintf(in->ctl_path, sizeof in->ctl_path, "%s/ctl", dir);
	snprintf(in->ring_path, sizeof in->ring_path, "%s/ring", dir);
	snprintf(in->catalog_path, sizeof in->catalog_path, "%s/catalog", dir);
	return 0;
}

/* *is_link tells a link (which may be replaced) from a directory. */
static int inst__shm_resolve(struct inst *in, int set_mode, int *is_link, char *why, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	struct stat st;
	*is_link = 0;
	in->shm_dir[0] = '\0';
	int rc = inst__shm_link(in, link, sizeof link);
	if (rc)
		return rc;
	/* The runtime dir holds the link: it must be as private as made. */
	rc = inst__check("runtime directory", in->run_dir, INST__OTHERS_WRITE, why, len);
	if (rc)
		return rc;
	if (lstat(link, &st) != 0)
		return errno == ENOENT
			   ? ROOST_ENOENT
			   : inst__errno("shared-memory link", link, "examine it", why, len);
	if (!S_ISLNK(st.st_mode)) {
		rc = inst__shm_check(in, link, set_mode, why, len);
		return rc ? rc : inst__shm_use(in, link);
	}
	*is_link = 1;
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n <= 0 || (size_t)n >= sizeof target - 1 || target[0] != '/') {
		snprintf(why, len, "shared-memory link %s does not name an absolute path", link);
		return ROOST_EPERM;
	}
	target[n] = '\0';
	rc = inst__shm_check(in, target, set_mode, why, len);
	return rc ? rc : inst__shm_use(in, target);
}

int inst_shm_find(struct inst *in, char *why, size_t len)
{
	int is_link;
	why[0] = '\0';
	return inst__shm_resolve(in, 0, &is_link, why, len);
}

/* A new directory: in the runtime dir on tmpfs, else an unguessable one in
 * /dev/shm recorded by a link in the runtime dir. */
static int inst__shm_new(struct inst *in, char *why, size_t len)
{
	char link[PATH_MAX], dir[PATH_MAX];
	struct statfs fs;
	int rc = inst__shm_link(in, link, sizeof link);
	if (rc)
		return rc;
	if (statfs(in->run_dir, &fs) != 0)
		return inst__errno("runtime directory", in->run_dir, "examine it", why, len);
	if (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC) {
		if (mkdir(link, in->dir_mode) != 0 && errno != EEXIST)
			return inst__errno("shared-memory directory", link, "create it", why, len);
		return 0;
	}
	snprintf(dir, sizeof dir, INST__SHM_BASE "/roost.%u.%s.XXXXXX", (unsigned)geteuid(),
		 in->name);
	if (!mkdtemp(dir))
		return inst__errno("shared-memory directory", dir, "create it", why, len);
	/* A concurrent writer of the same name that linked first wins. */
	if (symlink(dir, link) != 0) {
		rc = errno == EEXIST
			 ? 0
			 : inst__errno("shared-memory link", link, "create it", why, len);
		rmdir(dir);
	}
	return rc;
}

int inst_shm_make(struct inst *in, int *made, char *why, size_t len)
{
	int is_link;
	char link[PATH_MAX];
	*made = 0;
	why[0] = '\0';
	int rc = inst__shm_resolve(in, 1, &is_link, why, len);
	if (rc == 0 || (rc != ROOST_ENOENT && !is_link))
		return rc;
	/* Missing, or a link to nothing (the directory went with a reboot) or
	 * to what is not ours: a new directory, and nothing of the old target
	 * is touched. */
	if (is_link && inst__shm_link(in, link, sizeof link) == 0)
		unlink(link);
	rc = inst__shm_new(in, why, len);
	if (rc == 0)
		rc = inst__shm_resolve(in, 1, &is_link, why, len);
	*made = rc == 0;
	return rc;
}

int inst_shm_remove(struct inst *in)
{
	char link[PATH_MAX], path[PATH_MAX * 2];
	if (!in->shm_dir[0])
		return ROOST_ENOENT;
	DIR *d = opendir(in->shm_dir);
	if (!d)
		return roost_from_errno(errno);
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", in->shm_dir, e->d_name);
		if (unlink(path) != 0 && errno != ENOENT)
			rc = roost_from_errno(errno);
	}
	closedir(d);
	if (rc == 0 && rmdir(in->shm_dir) != 0 && errno != ENOENT)
		rc = roost_from_errno(errno);
	struct stat st;
	if (rc == 0 && inst__shm_link(in, link, sizeof link) == 0 && lstat(link, &st) == 0 &&
	    S_ISLNK(st.st_mode) && unlink(link) != 0)
		rc = roost_from_errno(errno);
	if (rc == 0)
		in->shm_dir[0] = in->ctl_path[0] = in->ring_path[0] = in->catalog_path[0] = '\0';
	return rc;
}

void inst_tail_path(const struct inst *in, uint64_t serial, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tail.%llu", in->shm_dir, (unsigned long long)serial);
}

void inst_shm_sweep_tails(const struct inst *in, int (*keep)(void *arg, uint64_t serial), void *arg)
{
	DIR *d = opendir(in->shm_dir);
	if (!d)
		return;
	struct dirent *e;
	char path[PATH_MAX * 2];
	while ((e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "tail.", 5) != 0)
			continue;
		unsigned long long serial = strtoull(e->d_name + 5, &end, 10);
		if (*end == '\0' && end != e->d_name + 5 && keep(arg, serial))
			continue;
		snprintf(path, sizeof path, "%s/%s", in->shm_dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}
