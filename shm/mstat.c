#include "mstat.h"

#include "err.h"
#include "shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MSTAT__MAGIC   0x5441545354534f52ull /* "ROSTSTAT" little-endian */
#define MSTAT__VERSION 1u
#define MSTAT__PREFIX  "metrics."
#define MSTAT__LOCK    0 /* byte its process holds an OFD lock on while it lives */

const uint64_t MSTAT_BOUNDS_US[MSTAT_BUCKETS] = {
    100,   250,	   500,	   1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

struct mstat__hist {
	_Atomic uint64_t count[MSTAT_BUCKETS + 1];
	_Atomic uint64_t sum_us;
};

/* The object; see the layout comment in mstat.h. */
struct mstat_shm {
	uint64_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct mstat_shm) */
	int32_t pid;
	uint32_t role; /* enum mstat_role */
	char name[32];
	_Atomic uint64_t adds[MSTAT_ACKS][MSTAT_OUTCOMES];
	_Atomic uint64_t add_docs, add_bytes;
	struct mstat__hist add_latency[MSTAT_ACKS];
	_Atomic uint64_t searches, search_errors;
	struct mstat__hist search_latency;
	_Atomic uint64_t groups, log_bytes;
	_Atomic uint64_t seals, seal_us;
	_Atomic uint64_t compactions, compaction_us;
};

_Static_assert(sizeof(struct mstat_shm) <= 4096, "a metrics object is one page");

struct mstat {
	struct shm_map map;
	struct mstat_shm *shm;
};

static void mstat__path(const struct inst *in, pid_t pid, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" MSTAT__PREFIX "%d%s", in->shm_dir, (int)pid, suffix);
}

/* Removes path when it is a dead process's object: nobody holds its lock,
 * and the name still names the inode looked at (a new process of the same
 * pid may have renamed its own object over it meanwhile). */
static void mstat__reap_one(const char *path)
{
	int fd;
	struct stat seen, now;
	if (shm_open_file(path, O_RDONLY, 0, &fd) != 0)
		return;
	int dead = !shm_byte_locked(fd, MSTAT__LOCK) && fstat(fd, &seen) == 0 &&
		   lstat(path, &now) == 0 && seen.st_ino == now.st_ino && seen.st_dev == now.st_dev;
	close(fd);
	if (dead)
		shm_remove(path);
}

/* pid from "metrics.<pid>" (tmp 0) or "metrics.<pid>.tmp" (tmp 1), or 0. */
static pid_t mstat__pid_of(const char *name, int tmp)
{
	size_t n = strlen(MSTAT__PREFIX);
	if (strncmp(name, MSTAT__PREFIX, n) != 0 || name[n] < '1' || name[n] > '9')
		return 0;
	char *end;
	long pid = strtol(name + n, &end, 10);
	int ok = tmp ? strcmp(end, ".tmp") == 0 : *end == '\0';
	return ok && pid > 0 && pid <= 0x7fffffff ? (pid_t)pid : 0;
}

/* Removes the objects of processes that died without removing theirs
 * (kill -9, with no supervisor to do it), and what one killed while
 * making its object left. */
static void mstat__reap(const struct inst *in)
{
	DIR *d = opendir(in->shm_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[INST_PATH_MAX];
		pid_t tmp = mstat__pid_of(e->d_name, 1);
		if (!mstat__pid_of(e->d_name, 0) && !(tmp && kill(tmp, 0) != 0 && errno == ESRCH))
			continue;
		snprintf(path, sizeof path, "%s/%s", in->shm_dir, e->d_name);
		mstat__reap_one(path);
	}
	closedir(d);
}

int mstat_create(mstat **out, const struct inst *in, enum mstat_role role, const char *name)
{
	char path[INST_PATH_MAX], tmp[INST_PATH_MAX];
	mstat__path(in, getpid(), "", path, sizeof path);
	mstat__path(in, getpid(), ".tmp", tmp, sizeof tmp);
	mstat *m = calloc(1, sizeof *m);
	if (!m)
		return ROOST_ENOMEM;
	shm_remove(tmp);
	int rc = shm_create(&m->map, tmp, sizeof *m->shm, sizeof *m->shm, in->file_mode);
	if (rc) {
		free(m);
		return rc;
	}
	m->shm = m->map.addr;
	/* Held until the process exits, however it exits: an object without
	 * it is a dead process's, which anyone may remove. */
	if ((rc = shm_lock_byte(m->map.fd, MSTAT__LOCK)) != 0) {
		shm_detach(&m->map);
		shm_remove(tmp);
		free(m);
		return rc;
	}
	m->shm->magic = MSTAT__MAGIC;
	m->shm->version = MSTAT__VERSION;
	m->shm->size = sizeof *m->shm;
	m->shm->pid = (int32_t)getpid();
	m->shm->role = role;
	snprintf(m->shm->name, sizeof m->shm->name, "%s", name);
	/* The rename publishes the filled header: a reader that finds the
	 * name maps what the rename put there. */
	if (rename(tmp, path) != 0) {
		rc = roost_from_errno(errno);
		shm_detach(&m->map);
		shm_remove(tmp);
		free(m);
		return rc;
	}
	*out = m;
	mstat__reap(in);
	return 0;
}

void mstat_close(mstat *m, const struct inst *in)
{
	if (!m)
		return;
	shm_detach(&m->map);
	mstat_remove(in, getpid());
	free(m);
}

static void mstat__inc(_Atomic uint64_t *c, uint64_t by)
{
	/* Relaxed: see the layout comment in mstat.h. */
	atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

static void mstat__observe(struct mstat__hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned b = 0;
	while (b < MSTAT_BUCKETS && us > MSTAT_BOUNDS_US[b])
		b++;
	mstat__inc(&h->count[b], 1);
	mstat__inc(&h->sum_us, us);
}

void mstat_add(mstat *m, enum mstat_ack ack, enum mstat_outcome outcome, uint32_t docs,
	       uint64_t bytes, uint64_t ns)
{
	if (!m || ack >= MSTAT_ACKS || outcome >= MSTAT_OUTCOMES)
		return;
	mstat__inc(&m->shm->adds[ack][outcome], 1);
	mstat__inc(&m->shm->add_docs, docs);
	mstat__inc(&m->shm->add_bytes, bytes);
	mstat__observe(&m->shm->add_latency[ack], ns);
}

void mstat_search(mstat *m, int failed, uint64_t ns)
{
	if (!m)
		return;
	mstat__inc(failed ? &m->shm->search_errors : &m->shm->searches, 1);
	mstat__observe(&m->shm->search_latency, ns);
}

void mstat_group(mstat *m, uint64_t log_bytes)
{
	if (!m)
		return;
	mstat__inc(&m->shm->groups, 1);
	mstat__inc(&m->shm->log_bytes, log_bytes);
}

void mstat_seal(mstat *m, uint64_t ns)
{
	if (!m)
		return;
	mstat__inc(&m->shm->seals, 1);
	mstat__inc(&m->shm->seal_us, ns / 1000);
}

void mstat_compaction(mstat *m, uint64_t ns)
{
	if (!m)
		return;
	mstat__inc(&m->shm->compactions, 1);
	mstat__inc(&m->shm->compaction_us, ns / 1000);
}

static uint64_t mstat__load(const _Atomic uint64_t *c)
{
	/* Relaxed: see the layout comment in mstat.h. */
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void mstat__copy_hist(struct mstat_hist *out, const struct mstat__hist *h)
{
	for (unsigned b = 0; b <= MSTAT_BUCKETS; b++)
		out->count[b] = mstat__load(&h->count[b]);
	out->sum_us = mstat__load(&h->sum_us);
}

static void mstat__copy(struct mstat_snapshot *out, const struct mstat_shm *s)
{
	memset(out, 0, sizeof *out);
	out->pid = s->pid;
	out->role = (enum mstat_role)s->role;
	memcpy(out->name, s->name, sizeof out->name);
	out->name[sizeof out->name - 1] = '\0';
	for (unsigned a = 0; a < MSTAT_ACKS; a++) {
		for (unsigned o = 0; o < MSTAT_OUTCOMES; o++)
			out->adds[a][o] = mstat__load(&s->adds[a][o]);
		mstat__copy_hist(&out->add_latency[a], &s->add_latency[a]);
	}
	out->add_docs = mstat__load(&s->add_docs);
	out->add_bytes = mstat__load(&s->add_bytes);
	out->searches = mstat__load(&s->searches);
	out->search_errors = mstat__load(&s->search_errors);
	mstat__copy_hist(&out->search_latency, &s->search_latency);
	out->groups = mstat__load(&s->groups);
	out->log_bytes = mstat__load(&s->log_bytes);
	out->seals = mstat__load(&s->seals);
	out->seal_us = mstat__load(&s->seal_us);
	out->compactions = mstat__load(&s->compactions);
	out->compaction_us = mstat__load(&s->compaction_us);
}

/* The header a process wrote before it published the object. */
static int mstat__valid(const struct shm_map *m, pid_t pid)
{
	const struct mstat_shm *s = m->addr;
	if (m->size < sizeof *s || s->magic != MSTAT__MAGIC)
		return ROOST_ECORRUPT;
	if (s->version != MSTAT__VERSION || s->size != sizeof *s)
		return ROOST_EVERSION;
	if (s->pid != (int32_t)pid || s->role < MSTAT_WRITER || s->role > MSTAT_READER)
		return ROOST_ECORRUPT;
	return 0;
}

int mstat_read(const struct inst *in, pid_t pid, struct mstat_snapshot *out)
{
	char path[INST_PATH_MAX];
	mstat__path(in, pid, "", path, sizeof path);
	struct shm_map m;
	int rc = shm_attach(&m, path, SHM_READ_ONLY);
	if (rc)
		return rc;
	rc = shm_byte_locked(m.fd, MSTAT__LOCK) ? mstat__valid(&m, pid) : ROOST_ENOENT;
	if (rc == 0)
		mstat__copy(out, m.addr);
	shm_detach(&m);
	return rc;
}

int mstat_list(const struct inst *in, pid_t *pids, size_t max, size_t *n)
{
	*n = 0;
	if (!in->shm_dir[0])
		return ROOST_ENOENT;
	DIR *d = opendir(in->shm_dir);
	if (!d)
		return roost_from_errno(errno);
	struct dirent *e;
	while ((e = readdir(d)) && *n < max) {
		pid_t pid = mstat__pid_of(e->d_name, 0);
		if (pid)
			pids[(*n)++] = pid;
	}
	closedir(d);
	return 0;
}

int mstat_remove(const struct inst *in, pid_t pid)
{
	char path[INST_PATH_MAX];
	if (!in->shm_dir[0])
		return ROOST_ENOENT;
	mstat__path(in, pid, "", path, sizeof path);
	return shm_remove(path);
}

uint64_t mstat_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
