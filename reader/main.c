/* roost-reader: serves searches from the published data, read-only.
 *
 * A reader connects to every broker's reader socket (readers-<id>.ipc in
 * the runtime directory, rescanned so new brokers are found, and any
 * --connect URLs) and answers the search requests the brokers forward.
 * It also listens on a socket of its own there (search-<pid>.ipc), where
 * local clients send searches, gets and scrolls with one hop instead of
 * two: the same frames, on the same socket and workers. Start and stop
 * readers at any time; nothing else needs to know.
 *
 * With --remote it uses neither the writer's shared memory nor the
 * runtime directory: only the data directory (for example on shared
 * storage) and --connect URLs. It then sees new documents when the writer
 * seals a segment. */
#include "catalog.h"
#include "ctl.h"
#include "daemon.h"
#include "err.h"
#include "inst.h"
#include "log.h"
#include "mstat.h"
#include "opt.h"
#include "rsearch.h"
#include "rstat.h"
#include "sp.h"
#include "view.h"
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READER_MAX_WORKERS 64
/* More searches in flight than cores: while one worker hands its reply to
 * nng's threads and waits for the next request, another keeps the core
 * busy (IVF at 16 clients on 2 cores: 2 workers 4.4-4.7k QPS, 8: 5.3-5.9k). */
#define READER_DEFAULT_WORKERS 8
#define READER_MAX_PEERS       64

struct reader_proc {
	struct rsearch rs;
	struct inst in;
	const char *name, *data_dir, *connect;
	int remote;
	int workers;
	nng_socket sock; /* raw REP, connected to every broker */
	int sock_open;
	struct sp_ipc direct; /* sock's own listener, for local clients */
	int direct_on;
	atomic_int stop; /* workers return once it is set */
	char peers[READER_MAX_PEERS][128];
	int npeers;
	_Atomic uint64_t searches; /* relaxed add per answer; read by reader_stat */
	mstat *metrics;		   /* a local reader's; NULL: not counted */
};

static void reader_usage(FILE *f)
{
	fprintf(f, "usage: roost-reader --name NAME [--data-dir DIR] [--workers N]\n"
		   "                    [--connect URL[,URL...]] [--remote]\n"
		   "                    [--wait-ms MS] [--max-wait-ms MS]\n");
}

/* 0, OPT_HELP, or ROOST_EINVAL after saying what is wrong. */
static int reader_parse(int argc, char **argv, struct reader_proc *p)
{
	const struct opt opts[] = {
	    OPT_STRING("name", &p->name),
	    OPT_STRING("data-dir", &p->data_dir),
	    OPT_NUMBER("workers", OPT_INT, &p->workers, 1, READER_MAX_WORKERS),
	    OPT_STRING("connect", &p->connect),
	    OPT_SWITCH("remote", &p->remote),
	    OPT_NUMBER("wait-ms", OPT_INT, &p->rs.wait_ms, 0, 3600000),
	    OPT_NUMBER("max-wait-ms", OPT_INT, &p->rs.max_wait_ms, 0, 3600000),
	};
	int rc = opt_parse("roost-reader", argc, argv, opts, sizeof opts / sizeof opts[0]);
	if (rc == 0 && !p->name) {
		fprintf(stderr, "roost-reader: --name is required\n");
		rc = ROOST_EINVAL;
	}
	if (rc == 0 && p->remote && !p->connect) {
		fprintf(stderr,
			"roost-reader: --remote needs --connect (the brokers' --reader-tcp)\n");
		rc = ROOST_EINVAL;
	}
	return rc;
}

static int reader_connect_url(struct reader_proc *p, const char *url)
{
	for (int i = 0; i < p->npeers; i++)
		if (strcmp(p->peers[i], url) == 0)
			return 0;
	if (p->npeers == READER_MAX_PEERS || strlen(url) >= sizeof p->peers[0])
		return ROOST_ETOOBIG;
	char err[256];
	int rc = sp_dial(p->sock, url, err, sizeof err);
	if (rc) {
		log_error("%s", err);
		return rc;
	}
	snprintf(p->peers[p->npeers++], sizeof p->peers[0], "%s", url);
	log_info("connected to %s", url);
	return 0;
}

/* The reader's own socket, which local clients find in the runtime
 * directory. Without it clients go through a broker: a failure is said
 * and costs only the shorter path. */
static void reader_listen(struct reader_proc *p)
{
	char url[INST_PATH_MAX], err[256];
	int rc = inst_search_url(&p->in, getpid(), url, sizeof url);
	if (rc == 0)
		rc = sp_ipc_listen(&p->direct, p->sock, url, p->in.file_mode, err, sizeof err);
	else
		snprintf(err, sizeof err, "its path in the runtime directory is too long");
	p->direct_on = rc == 0;
	if (rc)
		log_warn("no socket of its own (%s): local clients search through brokers", err);
	else
		log_info("local clients search on %s", url);
}

/* Listens again where its socket file was removed, as brokers do. */
static void reader_keep_listening(struct reader_proc *p)
{
	char err[256];
	int rc = p->direct_on ? sp_ipc_keep(&p->direct, err, sizeof err) : 0;
	if (rc == 1)
		log_warn("%s was removed; listening there again", p->direct.url);
	else if (rc)
		log_warn("%s was removed and cannot be listened on again: %s", p->direct.url, err);
}

/* Every broker's reader socket in the runtime directory. */
static void reader_scan(struct reader_proc *p)
{
	DIR *d = opendir(p->in.run_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char url[INST_PATH_MAX];
		if (strncmp(e->d_name, "readers-", 8) == 0 && strstr(e->d_name, ".ipc") &&
		    inst_ipc_url(&p->in, e->d_name, url, sizeof url) == 0)
			reader_connect_url(p, url);
	}
	closedir(d);
}

static int reader_connect_list(struct reader_proc *p)
{
	if (!p->connect)
		return 0;
	char *copy = strdup(p->connect), *save = NULL;
	int rc = copy ? 0 : ROOST_ENOMEM;
	for (char *u = copy ? strtok_r(copy, ",", &save) : NULL; u && rc == 0;
	     u = strtok_r(NULL, ",", &save))
		rc = reader_connect_url(p, u);
	free(copy);
	return rc;
}

static int reader_handle(void *arg, const void *frame, size_t len, void **reply, size_t *reply_len)
{
	struct reader_proc *p = arg;
	uint64_t t0 = mstat_now_ns();
	int rc = rsearch_handle(&p->rs, frame, len, reply, reply_len);
	mstat_search(p->metrics, rc != 0, mstat_now_ns() - t0);
	/* Relaxed: a counter for `roost status`; nothing is ordered by it. */
	if (rc == 0)
		atomic_fetch_add_explicit(&p->searches, 1, memory_order_relaxed);
	return rc;
}

static void *reader_worker(void *arg)
{
	struct reader_proc *p = arg;
	sp_serve(p->sock, reader_handle, p, &p->stop);
	return NULL;
}

/* The writer creates the control block and publishes the first tail: wait
 * for both (it may be starting or restarting), as long as it takes. */
static int reader_attach(struct reader_proc *p, const sigset_t *sigs)
{
	struct timespec tick = {0, 100 * 1000 * 1000};
	char why[INST_WHY_MAX] = "";
	rsearch_init(&p->rs);
	for (int said = 0;; said++) {
		struct view_source *src = &p->rs.src;
		int rc = p->remote || src->cat ? 0 : inst_shm_find(&p->in, why, sizeof why);
		if (rc == 0 && !p->remote && !src->ctl)
			rc = ctl_open(&src->ctl, p->in.ctl_path, CTL_READ_ONLY);
		if (rc == 0 && !p->remote && !src->cat)
			rc = catalog_open(&src->cat, p->in.catalog_path);
		if (rc == 0)
			rc = rsearch_load(&p->rs);
		if (rc == 0)
			return 0;
		if (rc != ROOST_ENOENT && rc != ROOST_EBUSY) {
			if (why[0])
				log_error("%s", why);
			return rc;
		}
		if (!said)
			log_info("waiting for the writer to publish instance '%s'", p->in.name);
		if (sigtimedwait(sigs, NULL, &tick) > 0)
			return ROOST_ECLOSED;
	}
}

/* Publishes what this reader serves for `roost status` (base/rstat.h). */
static void reader_stat(struct reader_proc *p)
{
	if (p->remote)
		return;
	/* Relaxed: pairs with the relaxed adds in reader_worker; a rate only. */
	struct rstat st = {.pid = getpid(),
			   .searches = atomic_load_explicit(&p->searches, memory_order_relaxed),
			   /* Relaxed: pairs with the relaxed adds in rsearch; a gauge only. */
			   .waiting = atomic_load_explicit(&p->rs.waiting, memory_order_relaxed),
			   /* Relaxed: pairs with the relaxed add in rsearch__search. */
			   .filter_rows =
			       atomic_load_explicit(&p->rs.filter_rows, memory_order_relaxed)};
	rsearch_stat(&p->rs, &st.generation, &st.segments, &st.lsn);
	rsearch_counts(&p->rs, &st.colls, &st.ncolls);
	rstat_write(&p->in, &st);
	free(st.colls);
}

static int reader_serve(struct reader_proc *p, sigset_t *sigs)
{
	pthread_t threads[READER_MAX_WORKERS];
	int started = daemon_start(threads, p->workers, reader_worker, p);
	if (started == 0)
		return ROOST_ENOMEM;
	log_info("serving with %d workers", started);
	reader_stat(p);
	struct timespec tick = {0, 500 * 1000 * 1000};
	int sig;
	while ((sig = sigtimedwait(sigs, NULL, &tick)) < 0) {
		if (!p->remote)
			reader_scan(p);
		reader_keep_listening(p);
		rsearch_refresh(&p->rs);
		reader_stat(p);
	}
	log_info("signal %d: stopping", sig);
	rstat_remove(&p->in, getpid());
	/* Relaxed: pairs with the relaxed loads in sp_serve; the joins
	 * order the rest. */
	atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
	daemon_join(threads, started);
	return 0;
}

/* Blocks of 1 MiB and more (an HNSW index's storage, read with its graph
 * and then dropped for the mapped vectors; the indexes of views dropped)
 * get mappings of their own, returned to the system when freed. malloc's
 * default raises that threshold as such blocks are freed, after which
 * they come from arenas that keep the pages: each reader's own memory,
 * for good. Below it stay the per-search blocks (an HNSW search's visited
 * table is a byte a row) that a mapping each would slow. */
static void reader__own_big_blocks(void)
{
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

int main(int argc, char **argv)
{
	reader__own_big_blocks();
	static struct reader_proc p = {.workers = READER_DEFAULT_WORKERS,
				       .rs = {.wait_ms = 1000, .max_wait_ms = 10000}};
	int rc = reader_parse(argc, argv, &p);
	if (rc) {
		reader_usage(rc == OPT_HELP ? stdout : stderr);
		return rc == OPT_HELP ? 0 : 2;
	}
	if (inst_init(&p.in, p.name, p.data_dir) != 0) {
		fprintf(stderr, "roost-reader: bad instance name '%s'\n", p.name);
		return 2;
	}
	log_init(p.remote ? "reader(remote)" : "reader");
	sigset_t sigs;
	daemon_signals(&sigs);
	p.rs.src.in = &p.in;

	rc = reader_attach(&p, &sigs);
	if (rc == 0) {
		/* Brokers pass on requests of up to WIRE_MAX_FRAME: take them all. */
		rc = sp_open_server(&p.sock, WIRE_MAX_FRAME);
		p.sock_open = rc == 0;
		if (rc == 0)
			rc = reader_connect_list(&p);
	}
	if (rc == 0 && !p.remote) {
		reader_listen(&p);
		reader_scan(&p);
		if (mstat_create(&p.metrics, &p.in, MSTAT_READER, "reader") != 0)
			log_warn("cannot make this reader's metrics object; it is not counted");
	}
	if (rc == 0)
		rc = reader_serve(&p, &sigs);
	if (rc)
		log_error("stopped: %s", roost_strerror(rc));
	if (p.sock_open)
		nng_close(p.sock);
	if (p.direct_on) /* named by this reader's pid: no one else's */
		sp_ipc_remove(&p.direct);
	sp_fini();
	mstat_close(p.metrics, &p.in);
	rsearch_close(&p.rs);
	catalog_close(p.rs.src.cat);
	ctl_close(p.rs.src.ctl);
	return rc ? 1 : 0;
}
