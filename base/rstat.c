#include "rstat.h"

#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int rstat__path(const struct inst *in, pid_t pid, const char *suffix, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/reader-%d.stat%s", in->run_dir, (int)pid, suffix);
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

int rstat_write(const struct inst *in, struct rstat *st)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int rc = rstat__path(in, st->pid, ".tmp", tmp, sizeof tmp);
	if (rc == 0)
		rc = rstat__path(in, st->pid, "", path, sizeof path);
	if (rc)
		return rc;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	st->stamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return roost_from_errno(errno);
	fprintf(f,
		"pid %d generation %llu segments %u lsn %llu searches %llu waiting %u "
		"stamp_ms %lld filter_rows %llu\n",
		(int)st->pid, (unsigned long long)st->generation, st->segments,
		(unsigned long long)st->lsn, (unsigned long long)st->searches, st->waiting,
		(long long)st->stamp_ms, (unsigned long long)st->filter_rows);
	for (size_t i = 0; i < st->ncolls; i++)
		fprintf(f, "coll %u %llu\n", st->colls[i].id,
			(unsigned long long)st->colls[i].searches);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		rc = roost_from_errno(errno);
		unlink(tmp);
	}
	return rc;
}

int rstat_remove(const struct inst *in, pid_t pid)
{
	char path[PATH_MAX];
	int rc = rstat__path(in, pid, "", path, sizeof path);
	if (rc == 0 && unlink(path) != 0 && errno != ENOENT)
		rc = roost_from_errno(errno);
	return rc;
}

/* The `coll` lines after the first. */
static int rstat__read_colls(FILE *f, struct rstat *out)
{
	size_t cap = 0;
	unsigned id;
	unsigned long long n;
	while (out->ncolls < RSTAT_MAX_COLLS && fscanf(f, " coll %u %llu", &id, &n) == 2) {
		if (out->ncolls == cap) {
			cap = cap ? cap * 2 : 16;
			struct rstat_coll *a = realloc(out->colls, cap * sizeof *a);
			if (!a)
				return ROOST_ENOMEM;
			out->colls = a;
		}
		out->colls[out->ncolls++] = (struct rstat_coll){id, n};
	}
	return 0;
}

int rstat_read(const struct inst *in, pid_t pid, struct rstat *out)
{
	char path[PATH_MAX];
	int rc = rstat__path(in, pid, "", path, sizeof path);
	if (rc)
		return rc;
	FILE *f = fopen(path, "r");
	if (!f)
		return roost_from_errno(errno);
	int p;
	unsigned long long gen, lsn, searches, filter_rows;
	long long stamp;
	unsigned segs, waiting;
	int n = fscanf(f,
		       "pid %d generation %llu segments %u lsn %llu searches %llu waiting %u "
		       "stamp_ms %lld filter_rows %llu",
		       &p, &gen, &segs, &lsn, &searches, &waiting, &stamp, &filter_rows);
	*out = (struct rstat){pid, gen, segs, lsn, searches, waiting, stamp, filter_rows, NULL, 0};
	rc = n != 8 || p != (int)pid ? ROOST_ECORRUPT : rstat__read_colls(f, out);
	fclose(f);
	if (rc)
		rstat_clear(out);
	return rc;
}

void rstat_clear(struct rstat *st)
{
	free(st->colls);
	st->colls = NULL;
	st->ncolls = 0;
}

int rstat_list(const struct inst *in, pid_t *pids, size_t max, size_t *n)
{
	*n = 0;
	DIR *d = opendir(in->run_dir);
	if (!d)
		return roost_from_errno(errno);
	struct dirent *e;
	while ((e = readdir(d)) && *n < max) {
		int pid, end = 0;
		if (sscanf(e->d_name, "reader-%d.stat%n", &pid, &end) == 1 &&
		    e->d_name[end] == '\0' && pid > 0 && kill(pid, 0) == 0)
			pids[(*n)++] = pid;
	}
	closedir(d);
	return 0;
}
