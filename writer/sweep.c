#include "sweep.h"

#include "err.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int sweep__has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);
	return n > s && strcmp(name + n - s, suffix) == 0;
}

static int sweep__is(void *arg, const char *path)
{
	const char *const *want = arg;
	return strcmp(path, *want) == 0;
}

/* 1 when path is a file of m: a segment's index or documents, or a
 * collection's trained index or tombstones. */
static int sweep__named(const char *dir, const struct manifest *m, const char *path)
{
	return manifest_each_file(dir, m, sweep__is, &path) == 1;
}

static int sweep__stray(const char *dir, const struct manifest *m, const char *name,
			const char *path)
{
	if (sweep__has_suffix(name, ".tmp"))
		return 1;
	if (strncmp(name, "seg-", 4) != 0 && strncmp(name, "trained-", 8) != 0 &&
	    strncmp(name, "tombs-", 6) != 0)
		return 0;
	return !sweep__named(dir, m, path);
}

int sweep_data_dir(const char *dir, const struct manifest *m)
{
	DIR *d = opendir(dir);
	if (!d)
		return roost_from_errno(errno);
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
		    !sweep__stray(dir, m, e->d_name, path))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_info("removed %s: named by no manifest (a dropped collection's, or "
				 "left by a writer that died)",
				 path);
		else
			log_warn("cannot remove %s, which no manifest names: %s", path,
				 strerror(errno));
	}
	closedir(d);
	return 0;
}
