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

static int sweep__is_segment_file(const char *dir, const struct manifest_segment *s,
				  const char *path)
{
	char want[PATH_MAX];
	return (manifest_index_path(dir, s, want, sizeof want) == 0 && strcmp(path, want) == 0) ||
	       (manifest_segment_path(dir, s->coll, s->start_lsn, s->end_lsn, "docs", want,
				      sizeof want) == 0 &&
		strcmp(path, want) == 0);
}

static int sweep__is_trained_file(const char *dir, const struct manifest_coll *c, const char *path)
{
	char want[PATH_MAX];
	return c->trained_gen != 0 &&
	       manifest_trained_path(dir, c->id, c->trained_gen, want, sizeof want) == 0 &&
	       strcmp(path, want) == 0;
}

static int sweep__is_tomb_file(const char *dir, const struct manifest_coll *c, const char *path)
{
	char want[PATH_MAX];
	return c->tomb_gen != 0 &&
	       manifest_tomb_path(dir, c->id, c->tomb_gen, want, sizeof want) == 0 &&
	       strcmp(path, want) == 0;
}

/* 1 when path is a file of m: a segment's index or documents, or a
 * collection's trained index or tombstones. */
static int sweep__named(const char *dir, const struct manifest *m, const char *path)
{
	for (uint32_t i = 0; i < m->nsegments; i++)
		if (sweep__is_segment_file(dir, &m->segments[i], path))
			return 1;
	for (uint32_t i = 0; i < m->ncolls; i++)
		if (sweep__is_trained_file(dir, &m->colls[i], path) ||
		    sweep__is_tomb_file(dir, &m->colls[i], path))
			return 1;
	return 0;
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
