#include "inst.h"

#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int inst__default_run(char *buf, size_t len, const char *name)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		return inst__fmt(buf, len, "%s/roost/%s", xdg, name);
	char base[64];
	snprintf(base, sizeof base, "/tmp/roost-%u", (unsigned)getuid());
	return inst__fmt(buf, len, "%s/%s", base, name);
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
	snprintf(in->ctl_shm, sizeof in->ctl_shm, "/roost.%u.%s.ctl", (unsigned)getuid(), name);
	snprintf(in->ring_shm, sizeof in->ring_shm, "/roost.%u.%s.ring", (unsigned)getuid(), name);
	int rc = inst__default_run(in->run_dir, sizeof in->run_dir, name);
	if (rc == 0 && data_dir)
		rc = inst__fmt(in->data_dir, sizeof in->data_dir, "%s%s", data_dir, "");
	else if (rc == 0)
		rc = inst__default_data(in->data_dir, sizeof in->data_dir, name);
	return rc;
}

/* mkdir -p with mode for every created component. */
static int inst__mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return ROOST_ETOOBIG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return roost_from_errno(errno);
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return roost_from_errno(errno);
	return 0;
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

int inst_make_run_dir(const struct inst *in)
{
	int rc = inst__mkdirs(in->run_dir, in->dir_mode);
	if (rc)
		return rc;
	/* The parent of the per-name directory may be the shared /tmp one. */
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", in->run_dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		rc = inst__check_private(parent, in->dir_mode);
		if (rc)
			return rc;
	}
	return inst__check_private(in->run_dir, in->dir_mode);
}

int inst_make_data_dir(const struct inst *in)
{
	int rc = inst__mkdirs(in->data_dir, in->dir_mode);
	return rc ? rc : inst__check_private(in->data_dir, in->dir_mode);
}

int inst_ipc_url(const struct inst *in, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/%s", in->run_dir, file);
	if (n < 0 || n > INST_IPC_PATH_MAX)
		return ROOST_ETOOBIG;
	return inst__fmt(buf, len, "ipc://%s%s", path, "");
}

void inst_tail_shm(const struct inst *in, uint64_t serial, char *buf, size_t len)
{
	snprintf(buf, len, "/roost.%u.%s.tail.%llu", (unsigned)getuid(), in->name,
		 (unsigned long long)serial);
}
