#include "clibackup.h"

#include "clicopy.h"
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

/* Whether the backup that made staging folder dir (of pid) is gone: nobody
 * holds its LOCK, or, before it made one, its pid is gone. */
static int clibackup__stale(const char *dir, long pid)
{
	char lock[PATH_MAX];
	int fd = clicopy_path(lock, dir, CLIBACKUP_LOCK) == 0
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
		if (pid > 0 && clicopy_path(path, data, e->d_name) == 0 &&
		    clibackup__stale(path, pid))
			clicopy_remove_tree(path);
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
	if (clicopy_path(lock, b->staging, CLIBACKUP_LOCK) != 0)
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
	if (clicopy_path(to, b->staging, clibackup__base(path)) != 0)
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
		rc = clicopy_path(src, from, e->d_name) || clicopy_path(dst, to, e->d_name)
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
	if (clicopy_path(from, b->data, "wal") || clicopy_path(to, b->staging, "wal"))
		return ROOST_ETOOBIG;
	return clibackup__each_log_file(b, from, to, clibackup__link_log_file);
}

/* Removes the staged files of a manifest that was replaced meanwhile. */
static int clibackup__unlink_named(void *arg, const char *path)
{
	struct clibackup *b = arg;
	char staged[PATH_MAX];
	if (clicopy_path(staged, b->staging, clibackup__base(path)) == 0)
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

static int clibackup__copy(struct clibackup *b, const char *src, const char *dst)
{
	return clicopy_file(src, dst, &b->bytes);
}

static int clibackup__copy_named(void *arg, const char *path)
{
	struct clibackup *b = arg;
	char staged[PATH_MAX], dst[PATH_MAX];
	if (clicopy_path(staged, b->staging, clibackup__base(path)) ||
	    clicopy_path(dst, b->partial, clibackup__base(path)))
		return ROOST_ETOOBIG;
	b->files++;
	return clibackup__copy(b, staged, dst);
}

/* ---- the log ---- */

struct clibackup__log {
	struct clicopy_log out;
	uint64_t end;
};

static int clibackup__keep_record(void *arg, uint64_t lsn, uint64_t next, const void *payload,
				  uint32_t len)
{
	struct clibackup__log *l = arg;
	if (next > l->end)
		return 0; /* at or after E: logged once the backup had begun */
	return clicopy_log_append(&l->out, lsn, next, payload, len);
}

/* The copy's log: the staged files copied as they are (a record being
 * appended may be cut short in them; replaying the copy cuts it off, never
 * the instance's own file), then replayed from the manifest's start into
 * a new log that ends at E. */
static int clibackup__copy_log(struct clibackup *b)
{
	char staged[PATH_MAX], raw[PATH_MAX], log[PATH_MAX];
	if (clicopy_path(staged, b->staging, "wal") || clicopy_path(raw, b->partial, "wal.raw") ||
	    clicopy_path(log, b->partial, "wal"))
		return ROOST_ETOOBIG;
	int rc = clibackup__each_log_file(b, staged, raw, clibackup__copy);
	struct clibackup__log l = {.end = b->end};
	uint64_t replayed;
	if (rc == 0)
		rc = clicopy_log_open(&l.out, log, b->man.tail_start);
	if (rc == 0)
		rc = wal_replay(raw, b->man.tail_start, clibackup__keep_record, &l, &replayed);
	int synced = clicopy_log_close(&l.out);
	rc = rc ? rc : synced;
	clicopy_remove_tree(raw);
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
		rc = clicopy_install(b->partial, b->to);
	if (rc == 0)
		b->made_partial = 0; /* it is DIR now */
	return rc;
}

/* Undoes a try of clibackup__link_all: the staged log and the files of
 * its manifest go, and the manifest. */
static void clibackup__unstage(struct clibackup *b)
{
	char wal[PATH_MAX];
	manifest_each_file(b->data, &b->man, clibackup__unlink_named, b);
	manifest_free(&b->man);
	if (clicopy_path(wal, b->staging, "wal") == 0)
		clicopy_remove_tree(wal);
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
	rc = clicopy_path(b.staging, b.data, pid);
	if (rc == 0)
		rc = clibackup__run(&b);
	clicopy_remove_tree(b.staging);
	manifest_free(&b.man);
	if (rc) {
		if (b.made_partial)
			clicopy_remove_tree(b.partial);
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
