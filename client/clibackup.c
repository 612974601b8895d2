#include "clibackup.h"

#include "cliutil.h"
#include "ctl.h"
#include "durable.h"
#include "err.h"
#include "inst.h"
#include "manifest.h"
#include "shm.h"
#include "supctl.h"
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define CLIBACKUP_STAGING	 ".backup-" /* <data dir>/.backup-<pid> */
#define CLIBACKUP_LOCK		 "LOCK"	    /* in it, locked while its backup lives */
#define CLIBACKUP_MANIFEST_TRIES 50	    /* manifests replaced under a backup */
#define CLIBACKUP_COPY_CHUNK	 (1u << 20)
/* For tests only: a file whose existence holds the backup once its files
 * are linked, before it copies any, after it says so on stderr. */
#define CLIBACKUP_HOLD_ENV "ROOST_TEST_BACKUP_HOLD"

struct clibackup {
	struct inst in;
	const char *to;
	char data[PATH_MAX];	/* the instance's data directory */
	char staging[PATH_MAX]; /* <data>/.backup-<pid> */
	char partial[PATH_MAX]; /* <to>.partial */
	uint64_t durable;	/* the log's durable end when the backup began */
	uint64_t end;		/* E: the copy holds the records below it */
	struct manifest man;
	uint64_t files, bytes;
	int made_partial; /* this backup made partial: its to remove on failure */
};

/* ---- files ---- */

/* dir/name into buf (PATH_MAX); ROOST_ETOOBIG when it does not fit. */
static int clibackup__path(char *buf, const char *dir, const char *name)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return n < 0 || n >= PATH_MAX ? ROOST_ETOOBIG : 0;
}

/* Removes a folder of plain files (one level of subfolders). */
static void clibackup__remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char path[PATH_MAX];
		if (clibackup__path(path, dir, e->d_name) == 0 && unlink(path) != 0 &&
		    errno == EISDIR)
			clibackup__remove_tree(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Whether the backup that made staging folder dir (of pid) is gone: nobody
 * holds its LOCK, or, before it made one, its pid is gone. */
static int clibackup__stale(const char *dir, long pid)
{
	char lock[PATH_MAX];
	int fd = clibackup__path(lock, dir, CLIBACKUP_LOCK) == 0
		     ? open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
		     : -1;
	if (fd < 0)
		return errno == ENOENT && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
	int held = shm_byte_locked(fd, 0);
	close(fd);
	return !held;
}

/* Staging folders of backups that were killed. */
static void clibackup__remove_stale_staging(const char *data)
{
	DIR *d = opendir(data);
	if (!d)
		return;
	struct dirent *e;
	size_t n = strlen(CLIBACKUP_STAGING);
	while ((e = readdir(d))) {
		long pid = strncmp(e->d_name, CLIBACKUP_STAGING, n) == 0 ? atol(e->d_name + n) : 0;
		char path[PATH_MAX];
		if (pid > 0 && clibackup__path(path, data, e->d_name) == 0 &&
		    clibackup__stale(path, pid))
			clibackup__remove_tree(path);
	}
	closedir(d);
}

/* Makes this backup's staging folder, holding its LOCK (an OFD lock the
 * kernel drops when the process dies, however it dies) in *fd. */
static int clibackup__make_staging(struct clibackup *b, int *fd)
{
	char lock[PATH_MAX];
	if (mkdir(b->staging, 0700) != 0)
		return roost_from_errno(errno);
	if (clibackup__path(lock, b->staging, CLIBACKUP_LOCK) != 0)
		return ROOST_ETOOBIG;
	*fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	return *fd < 0 ? roost_from_errno(errno) : shm_lock_byte(*fd, 0);
}

static const char *clibackup__base(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Hard-links a file the manifest names into the staging folder. */
static int clibackup__link_named(void *arg, const char *path)
{
	struct clibackup *b = arg;
	char to[PATH_MAX];
	if (clibackup__path(to, b->staging, clibackup__base(path)) != 0)
		return ROOST_ETOOBIG;
	if (link(path, to) == 0 || errno == EEXIST)
		return 0;
	return roost_from_errno(errno);
}

/* Makes the folder to and applies op to each log file of from, with its
 * path in to. */
static int clibackup__each_log_file(struct clibackup *b, const char *from, const char *to,
				    int (*op)(struct clibackup *b, const char *src,
					      const char *dst))
{
	if (mkdir(to, 0700) != 0 && errno != EEXIST)
		return roost_from_errno(errno);
	DIR *d = opendir(from);
	if (!d)
		return roost_from_errno(errno);
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, "wal-", 4) != 0)
			continue;
		char src[PATH_MAX], dst[PATH_MAX];
		rc = clibackup__path(src, from, e->d_name) || clibackup__path(dst, to, e->d_name)
			 ? ROOST_ETOOBIG
			 : op(b, src, dst);
	}
	closedir(d);
	return rc;
}

static int clibackup__link_log_file(struct clibackup *b, const char *src, const char *dst)
{
	(void)b;
	/* Gone: rotated away, so before the manifest's start; there: linked
	 * on the first pass. */
	if (link(src, dst) == 0 || errno == ENOENT || errno == EEXIST)
		return 0;
	return roost_from_errno(errno);
}

/* Every log file: linked before the manifest is read, the records below
 * the durable end are in them, and a rotation that deletes one later only
 * drops a name; linked again after, the records below the manifest's
 * catalog_lsn too. */
static int clibackup__link_log(struct clibackup *b)
{
	char from[PATH_MAX], to[PATH_MAX];
	if (clibackup__path(from, b->data, "wal") || clibackup__path(to, b->staging, "wal"))
		return ROOST_ETOOBIG;
	return clibackup__each_log_file(b, from, to, clibackup__link_log_file);
}

/* Removes the staged files of a manifest that was replaced meanwhile. */
static int clibackup__unlink_named(void *arg, const char *path)
{
	struct clibackup *b = arg;
	char staged[PATH_MAX];
	if (clibackup__path(staged, b->staging, clibackup__base(path)) == 0)
		unlink(staged);
	return 0;
}

/* A manifest whose every file is linked. */
static int clibackup__link_manifest(struct clibackup *b)
{
	for (int i = 0; i < CLIBACKUP_MANIFEST_TRIES; i++) {
		int rc = manifest_load(b->data, &b->man);
		if (rc)
			return rc;
		rc = manifest_each_file(b->data, &b->man, clibackup__link_named, b);
		if (rc != ROOST_ENOENT)
			return rc;
		/* A file went before its link: a newer manifest replaced it. */
		manifest_each_file(b->data, &b->man, clibackup__unlink_named, b);
		manifest_free(&b->man);
	}
	return ROOST_EBUSY;
}

/* Copies src to dst (a new file, mode 0600) and syncs it. */
static int clibackup__copy(struct clibackup *b, const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return roost_from_errno(errno);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	char *buf = malloc(CLIBACKUP_COPY_CHUNK);
	int rc = out < 0 ? roost_from_errno(errno) : buf ? 0 : ROOST_ENOMEM;
	ssize_t n = 0;
	while (rc == 0 && (n = read(in, buf, CLIBACKUP_COPY_CHUNK)) > 0) {
		struct iovec iov = {buf, (size_t)n};
		rc = durable_write_all(out, &iov, 1);
		b->bytes += (uint64_t)n;
	}
	if (rc == 0 && n < 0)
		rc = roost_from_errno(errno);
	if (rc == 0 && fsync(out) != 0)
		rc = roost_from_errno(errno);
	free(buf);
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

static int clibackup__copy_named(void *arg, const char *path)
{
	struct clibackup *b = arg;
	char staged[PATH_MAX], dst[PATH_MAX];
	if (clibackup__path(staged, b->staging, clibackup__base(path)) ||
	    clibackup__path(dst, b->partial, clibackup__base(path)))
		return ROOST_ETOOBIG;
	b->files++;
	return clibackup__copy(b, staged, dst);
}

/* ---- the log ---- */

#define CLIBACKUP_SYNC_BYTES (64u << 20) /* payloads held between two syncs */

struct clibackup__log {
	wal *out;
	uint64_t end;
	void **held; /* copies of the payloads queued since the last sync */
	size_t nheld, cap, bytes;
};

/* Syncs what is queued and frees the copies it was queued from. */
static int clibackup__log_sync(struct clibackup__log *l)
{
	int rc = l->nheld ? wal_sync(l->out) : 0;
	for (size_t i = 0; i < l->nheld; i++)
		free(l->held[i]);
	l->nheld = l->bytes = 0;
	return rc;
}

static int clibackup__keep_record(void *arg, uint64_t lsn, uint64_t next, const void *payload,
				  uint32_t len)
{
	struct clibackup__log *l = arg;
	if (next > l->end)
		return 0; /* at or after E: logged once the backup had begun */
	if (l->nheld == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		void **held = realloc(l->held, cap * sizeof *held);
		if (!held)
			return ROOST_ENOMEM;
		l->held = held;
		l->cap = cap;
	}
	/* The replay's payload lasts for this call only; the log queues it
	 * until the sync. */
	void *copy = malloc(len ? len : 1);
	if (!copy)
		return ROOST_ENOMEM;
	memcpy(copy, payload, len);
	l->held[l->nheld++] = copy;
	l->bytes += len;
	int rc = wal_append(l->out, lsn, next, copy, len);
	return rc == 0 && l->bytes >= CLIBACKUP_SYNC_BYTES ? clibackup__log_sync(l) : rc;
}

/* The copy's log: the staged files copied as they are (a record being
 * appended may be cut short in them; replaying the copy cuts it off, never
 * the instance's own file), then replayed from the manifest's start into
 * a new log that ends at E. */
static int clibackup__copy_log(struct clibackup *b)
{
	char staged[PATH_MAX], raw[PATH_MAX], log[PATH_MAX];
	if (clibackup__path(staged, b->staging, "wal") ||
	    clibackup__path(raw, b->partial, "wal.raw") || clibackup__path(log, b->partial, "wal"))
		return ROOST_ETOOBIG;
	int rc = clibackup__each_log_file(b, staged, raw, clibackup__copy);
	struct clibackup__log l = {.end = b->end};
	uint64_t replayed;
	if (rc == 0 && mkdir(log, 0700) != 0)
		rc = roost_from_errno(errno);
	if (rc == 0)
		rc = wal_open(&l.out, log, b->man.tail_start);
	if (rc == 0)
		rc = wal_replay(raw, b->man.tail_start, clibackup__keep_record, &l, &replayed);
	int synced = l.out ? clibackup__log_sync(&l) : 0;
	rc = rc ? rc : synced;
	free(l.held);
	wal_close(l.out);
	clibackup__remove_tree(raw);
	return rc;
}

/* ---- the steps ---- */

/* The data directory the supervisor runs the instance with. */
static int clibackup__data_dir(struct clibackup *b)
{
	char reply[PATH_MAX + 16];
	int rc = supctl_request(&b->in, "data", reply, sizeof reply);
	if (rc == ROOST_ENOENT)
		return cliutil_fail(
		    "backup", b->in.name, rc, NULL,
		    "no supervisor runs instance '%s' (a stopped instance is backed "
		    "up by copying its data directory)",
		    b->in.name);
	if (rc || strncmp(reply, "ok /", 4) != 0)
		return cliutil_fail("backup", b->in.name, rc ? rc : ROOST_EPROTO, NULL,
				    "asking the supervisor of '%s' for its data directory",
				    b->in.name);
	reply[strcspn(reply, "\n")] = '\0';
	if (snprintf(b->data, sizeof b->data, "%s", reply + 3) >= (int)sizeof b->data)
		return cliutil_fail("backup", b->in.name, ROOST_ETOOBIG, NULL,
				    "its data directory");
	return CLI_OK;
}

/* The log's durable end, from the control block. */
static int clibackup__durable(struct clibackup *b)
{
	char why[INST_WHY_MAX];
	ctl *c;
	int rc = inst_shm_find(&b->in, why, sizeof why);
	if (rc == 0)
		rc = ctl_open(&c, b->in.ctl_path, CTL_READ_ONLY);
	if (rc)
		return cliutil_fail("backup", b->in.name, rc, why[0] ? why : NULL,
				    "the control block of '%s' (is its writer up?)", b->in.name);
	b->durable = ctl_mark(c, CTL_DURABLE);
	ctl_close(c);
	return CLI_OK;
}

static void clibackup__hold(void)
{
	const char *path = getenv(CLIBACKUP_HOLD_ENV);
	if (!path || !*path || access(path, F_OK) != 0)
		return;
	fprintf(stderr, "roost backup: holding while %s exists\n", path);
	while (access(path, F_OK) == 0)
		poll(NULL, 0, 10);
}

/* One try at a consistent set of links: the log, a manifest and its
 * files, the log again. E is the durable end or the manifest's
 * catalog_lsn, whichever is further: a manifest stored after the durable
 * end was read already holds segments, collections and keys up to its
 * catalog_lsn. ROOST_EBUSY when a newer manifest was stored before the
 * second pass, whose seal may have rotated away a log file made after the
 * first: the caller starts over. */
static int clibackup__link_all(struct clibackup *b)
{
	int rc = clibackup__link_log(b);
	if (rc == 0)
		rc = clibackup__link_manifest(b);
	if (rc)
		return rc;
	b->end = b->durable > b->man.catalog_lsn ? b->durable : b->man.catalog_lsn;
	rc = clibackup__link_log(b);
	if (rc == 0 && manifest_moved_on(b->data, b->man.gen))
		rc = ROOST_EBUSY;
	return rc;
}

/* Copies what is staged into partial and renames it to DIR. */
static int clibackup__copy_all(struct clibackup *b)
{
	clibackup__hold();
	int rc = mkdir(b->partial, 0700) == 0 ? 0 : roost_from_errno(errno);
	b->made_partial = rc == 0;
	if (rc == 0)
		rc = manifest_each_file(b->data, &b->man, clibackup__copy_named, b);
	if (rc == 0)
		rc = clibackup__copy_log(b);
	if (rc == 0)
		rc = manifest_store(b->partial, &b->man, 0600);
	if (rc == 0)
		rc = durable_sync_dir(b->partial);
	if (rc == 0 && rename(b->partial, b->to) != 0)
		rc = roost_from_errno(errno);
	if (rc == 0)
		b->made_partial = 0; /* it is DIR now */
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", b->to);
	return rc ? rc : durable_sync_dir(dirname(parent));
}

/* Undoes a try of clibackup__link_all: the staged log and the files of
 * its manifest go, and the manifest. */
static void clibackup__unstage(struct clibackup *b)
{
	char wal[PATH_MAX];
	manifest_each_file(b->data, &b->man, clibackup__unlink_named, b);
	manifest_free(&b->man);
	if (clibackup__path(wal, b->staging, "wal") == 0)
		clibackup__remove_tree(wal);
}

/* Stages, copies and names the copy; staging and partial are set. */
static int clibackup__run(struct clibackup *b)
{
	int lock = -1;
	int rc = clibackup__make_staging(b, &lock);
	for (int tries = 1; rc == 0; tries++) {
		rc = clibackup__link_all(b);
		if (rc != ROOST_EBUSY || tries == CLIBACKUP_MANIFEST_TRIES)
			break;
		clibackup__unstage(b);
		rc = 0;
	}
	if (rc == 0)
		rc = clibackup__copy_all(b);
	if (lock >= 0)
		close(lock);
	return rc;
}

static int clibackup__parse(int argc, char **argv, const char **name, const char **to)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'}, {"to", required_argument, 0, 't'}, {0, 0, 0, 0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'n')
			*name = optarg;
		else if (opt == 't')
			*to = optarg;
		else
			return CLI_USAGE;
	}
	if (optind < argc)
		return cliutil_usage("backup", "unexpected argument '%s'", argv[optind]);
	if (!*to || !**to)
		return cliutil_usage("backup",
				     "--to DIR is required: a folder that does not exist");
	return CLI_OK;
}

int clibackup_main(int argc, char **argv)
{
	static struct clibackup b;
	const char *name = NULL;
	int rc = clibackup__parse(argc, argv, &name, &b.to);
	if (rc == CLI_OK)
		rc = cliutil_inst("backup", name, NULL, &b.in);
	if (rc)
		return rc;
	struct stat st;
	if (snprintf(b.partial, sizeof b.partial, "%s.partial", b.to) >= (int)sizeof b.partial)
		return cliutil_usage("backup", "--to: the path is too long");
	if (lstat(b.to, &st) == 0 || lstat(b.partial, &st) == 0) {
		fprintf(
		    stderr,
		    "roost backup: %s exists; back up into a new folder (a %s.partial is what an "
		    "interrupted backup left: remove it)\n",
		    lstat(b.to, &st) == 0 ? b.to : b.partial, b.to);
		return CLI_FAIL;
	}
	if ((rc = clibackup__data_dir(&b)) != CLI_OK || (rc = clibackup__durable(&b)) != CLI_OK)
		return rc;
	clibackup__remove_stale_staging(b.data);
	char pid[32];
	snprintf(pid, sizeof pid, CLIBACKUP_STAGING "%d", (int)getpid());
	rc = clibackup__path(b.staging, b.data, pid);
	if (rc == 0)
		rc = clibackup__run(&b);
	clibackup__remove_tree(b.staging);
	manifest_free(&b.man);
	if (rc) {
		if (b.made_partial)
			clibackup__remove_tree(b.partial);
		return cliutil_fail("backup", b.in.name, rc, NULL, "backing up %s into %s", b.data,
				    b.to);
	}
	printf("%llu\n", (unsigned long long)b.end);
	fprintf(
	    stderr,
	    "roost backup: instance '%s' up to lsn %llu copied into %s (%llu files and the log, "
	    "%llu bytes); `roost up --name NAME --data-dir %s --adopt` serves it\n",
	    b.in.name, (unsigned long long)b.end, b.to, (unsigned long long)b.files,
	    (unsigned long long)b.bytes, b.to);
	return CLI_OK;
}
