#include "made.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int made_missing(const char *path)
{
	struct stat st;
	return lstat(path, &st) != 0 && errno == ENOENT;
}

void made_init(struct made *m, struct inst *in)
{
	memset(m, 0, sizeof *m);
	m->inst = in;
	snprintf(m->data_dir, sizeof m->data_dir, "%s", in->data_dir);
	for (size_t n = strlen(m->data_dir); n > 1 && m->data_dir[n - 1] == '/'; n--)
		m->data_dir[n - 1] = '\0';
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s", m->data_dir);
	while (path[0] && made_missing(path)) {
		m->dirs++;
		char *slash = strrchr(path, '/');
		if (!slash || slash == path)
			break;
		*slash = '\0';
	}
}

static void made__unlink(const char *dir, const char *name)
{
	char path[INST_PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
}

/* The log directory this start created holds only its own files. */
static void made__remove_wal(const char *data_dir)
{
	char dir[INST_PATH_MAX];
	snprintf(dir, sizeof dir, "%s/wal", data_dir);
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strncmp(e->d_name, "wal-", 4) == 0)
				made__unlink(dir, e->d_name);
		closedir(d);
	}
	rmdir(dir);
}

void made_undo(const struct made *m)
{
	if (m->wal)
		made__remove_wal(m->data_dir);
	if (m->manifest)
		made__unlink(m->data_dir, "MANIFEST");
	if (m->shm)
		inst_shm_remove(m->inst);
	if (m->lock)
		made__unlink(m->data_dir, "LOCK");
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s", m->data_dir);
	for (int i = 0; i < m->dirs; i++) {
		/* Not empty: something else was put there meanwhile; keep it. */
		if (rmdir(path) != 0)
			break;
		char *slash = strrchr(path, '/');
		if (!slash || slash == path)
			break;
		*slash = '\0';
	}
}
