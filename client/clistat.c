#include "clistat.h"

#include "clicoll.h"
#include "cliutil.h"
#include "err.h"
#include "opt.h"
#include "roost.h"
#include "rstat.h"
#include "supctl.h"

#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLISTAT_MAX_READERS 256

/* What one look at the instance saw. */
struct clistat_sample {
	int64_t t_ms;
	int server_rc; /* 0: st is valid */
	char server_err[256];
	struct roost_status st;
	struct roost_collection *colls; /* NULL when they could not be listed */
	struct roost_history *hist;	/* each collection's, as colls; NULL: not asked */
	struct roost_history history;	/* the instance's fields */
	size_t ncolls;
	size_t nreaders;
	struct rstat readers[CLISTAT_MAX_READERS];
};

struct clistat {
	struct inst in;
	const char *collection; /* NULL: default */
	int json;
	int interval_ms;
	int sup_rc; /* 0: ps is valid */
	struct supctl_ps ps;
	struct clistat_sample a, b; /* b is a only when interval_ms is 0 */
	double ingest_rate, search_rate;
};

static int clistat__parse(int argc, char **argv, struct clistat *s)
{
	static const struct option opts[] = {{"name", required_argument, 0, 'n'},
					     {"collection", required_argument, 0, 'C'},
					     {"json", no_argument, 0, 'j'},
					     {"interval-ms", required_argument, 0, 'i'},
					     {0, 0, 0, 0}};
	const char *name = NULL;
	long long v;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'n')
			name = optarg;
		else if (opt == 'C')
			s->collection = optarg;
		else if (opt == 'j')
			s->json = 1;
		else if (opt == 'i' && opt_number(optarg, 0, 60000, &v) == 0)
			s->interval_ms = (int)v;
		else
			return opt == 'i'
				   ? cliutil_usage("status", "bad --interval-ms '%s'", optarg)
				   : CLI_USAGE;
	}
	if (optind < argc)
		return cliutil_usage("status", "unexpected argument '%s'", argv[optind]);
	return cliutil_inst("status", name, NULL, &s->in);
}

static int clistat__by_pid(const void *a, const void *b)
{
	pid_t x = ((const struct rstat *)a)->pid, y = ((const struct rstat *)b)->pid;
	return (x > y) - (x < y);
}

/* Each collection's history, asked one by one (a status names one); a
 * collection dropped meanwhile shows none. */
static void clistat__history(const struct clistat *s, roost *r, struct clistat_sample *x)
{
	roost_history(r, &x->history); /* its instance fields, whatever the collection */
	x->hist = calloc(x->ncolls ? x->ncolls : 1, sizeof *x->hist);
	for (size_t i = 0; x->hist && i < x->ncolls; i++)
		if (roost_use(r, x->colls[i].name) != 0 || roost_history(r, &x->hist[i]) != 0)
			x->hist[i] = (struct roost_history){.retain = ""};
	roost_use(r, s->collection);
}

static void clistat__sample(struct clistat *s, roost *r, struct clistat_sample *x)
{
	x->server_rc = r ? roost_status(r, &x->st) : ROOST_ENOENT;
	if (x->server_rc)
		snprintf(x->server_err, sizeof x->server_err, "%s%s%s",
			 roost_strerror(x->server_rc), r && *roost_last_error(r) ? ": " : "",
			 r ? roost_last_error(r) : "");
	x->t_ms = cliutil_now_ms();
	if (x->server_rc == 0 && roost_collection_list(r, &x->colls, &x->ncolls) != 0)
		x->colls = NULL;
	if (x->colls)
		clistat__history(s, r, x);
	pid_t pids[CLISTAT_MAX_READERS];
	size_t n = 0;
	x->nreaders = 0;
	rstat_list(&s->in, pids, CLISTAT_MAX_READERS, &n);
	for (size_t i = 0; i < n; i++)
		if (rstat_read(&s->in, pids[i], &x->readers[x->nreaders]) == 0)
			x->nreaders++;
	qsort(x->readers, x->nreaders, sizeof x->readers[0], clistat__by_pid);
}

/* Searches a reader answered in collection id (0: in all). */
static uint64_t clistat__searches(const struct rstat *r, uint32_t id)
{
	if (id == 0)
		return r->searches;
	for (size_t i = 0; i < r->ncolls; i++)
		if (r->colls[i].id == id)
			return r->colls[i].searches;
	return 0;
}

/* Searches per second in collection id (0: in all): each reader's own
 * counter over its own stamps. */
static double clistat__search_rate(const struct clistat_sample *a, const struct clistat_sample *b,
				   uint32_t id)
{
	double rate = 0;
	for (size_t i = 0; i < b->nreaders; i++)
		for (size_t j = 0; j < a->nreaders; j++) {
			const struct rstat *y = &b->readers[i], *x = &a->readers[j];
			uint64_t then = clistat__searches(x, id), now = clistat__searches(y, id);
			if (x->pid == y->pid && y->stamp_ms > x->stamp_ms && now >= then)
				rate += (double)(now - then) * 1000.0 /
					(double)(y->stamp_ms - x->stamp_ms);
		}
	return rate;
}

/* Documents per second added to collection c between the samples (a
 * collection dropped and created again in between counts from 0). */
static double clistat__coll_rate(const struct clistat *s, const struct roost_collection *c)
{
	for (size_t j = 0; s->interval_ms > 0 && s->a.colls && j < s->a.ncolls; j++) {
		const struct roost_collection *x = &s->a.colls[j];
		if (x->id == c->id && s->b.t_ms > s->a.t_ms && c->documents >= x->documents)
			return (double)(c->documents - x->documents) * 1000.0 /
			       (double)(s->b.t_ms - s->a.t_ms);
	}
	return 0;
}

static void clistat__gather(struct clistat *s)
{
	s->sup_rc = supctl_ps(&s->in, &s->ps);
	/* A supervisor that holds its lock but no longer listens is stopping. */
	if (s->sup_rc == ROOST_ENOENT && supctl_running(&s->in, &s->ps.pid) == 0) {
		snprintf(s->ps.state, sizeof s->ps.state, "stopping");
		s->ps.n = 0;
		s->sup_rc = 0;
	}
	roost *r = NULL;
	if (roost_connect(&r, s->in.name) == 0) {
		roost_set_timeout(r, 2000);
		roost_use(r, s->collection);
	}
	clistat__sample(s, r, &s->a);
	if (s->interval_ms > 0) {
		poll(NULL, 0, s->interval_ms);
		clistat__sample(s, r, &s->b);
	} else {
		s->b = s->a;
		s->a.colls = NULL; /* b owns them, the histories and the readers' */
		s->a.hist = NULL;
		s->a.nreaders = 0;
	}
	roost_close(r);
	const struct clistat_sample *a = &s->a, *b = &s->b;
	if (a->server_rc == 0 && b->server_rc == 0 && b->t_ms > a->t_ms)
		s->ingest_rate = (double)(b->st.documents - a->st.documents) * 1000.0 /
				 (double)(b->t_ms - a->t_ms);
	s->search_rate = clistat__search_rate(a, b, 0);
}

static void clistat__proc_name(const struct supctl_proc *p, char *buf, size_t len)
{
	if (strcmp(p->role, "writer") == 0)
		snprintf(buf, len, "writer");
	else
		snprintf(buf, len, "%s-%d", p->role, p->id);
}

static void clistat__colls_text(const struct clistat *s)
{
	const struct clistat_sample *x = &s->b;
	if (!x->colls) {
		printf("collections: not listed\n");
		return;
	}
	printf("collections: %zu\n", x->ncolls);
	if (x->ncolls)
		printf("  %-24s %-6s %-6s %-6s %-16s %-12s %-9s %-11s %-9s %-9s %-13s %-13s %s\n",
		       "NAME", "ID", "DIM", "METRIC", "INDEX", "DOCUMENTS", "SEGMENTS",
		       "REBUILDING", "INGEST/S", "SEARCH/S", "HISTORY-FROM", "ENDED-BYTES",
		       "INDEXED-KEYS");
	for (size_t i = 0; i < x->ncolls; i++) {
		const struct roost_collection *c = &x->colls[i];
		const struct roost_history *h = x->hist ? &x->hist[i] : NULL;
		printf("  %-24s %-6u %-6u %-6s %-16s %-12llu %-9u %-11u %-9.1f %-9.1f %-13llu "
		       "%-13llu %s\n",
		       c->name, c->id, c->dim, c->metric ? "ip" : "l2", c->index,
		       (unsigned long long)c->documents, c->segments, c->rebuilding,
		       clistat__coll_rate(s, c),
		       s->interval_ms > 0 ? clistat__search_rate(&s->a, &s->b, c->id) : 0.0,
		       h ? (unsigned long long)h->start_lsn : 0ull,
		       h ? (unsigned long long)h->bytes : 0ull, clicoll_keys_text(c));
	}
}

static void clistat__history_text(const struct roost_history *h)
{
	if (!h->retain[0])
		return;
	if (h->horizon_lsn)
		printf("history: retain %s, kept from lsn %llu; log kept for it: %llu bytes\n",
		       h->retain, (unsigned long long)h->horizon_lsn,
		       (unsigned long long)h->log_bytes);
	else
		printf("history: retain %s (%s); log kept for it: %llu bytes\n", h->retain,
		       strcmp(h->retain, "none") == 0
			   ? "only what the collections need"
			   : "no document has reached that simulation time yet: nothing kept",
		       (unsigned long long)h->log_bytes);
}

static void clistat__text(const struct clistat *s)
{
	const struct clistat_sample *x = &s->b;
	const struct roost_status *st = &x->st;
	printf("instance %s\n", s->in.name);
	if (s->sup_rc == 0) {
		printf("supervisor: pid %d, %s\n", (int)s->ps.pid, s->ps.state);
		printf("  %-12s %-8s %-10s %-9s %s\n", "PROCESS", "PID", "STATE", "RESTARTS",
		       "LAST EXIT");
		for (size_t i = 0; i < s->ps.n; i++) {
			const struct supctl_proc *p = &s->ps.procs[i];
			char name[32];
			clistat__proc_name(p, name, sizeof name);
			printf("  %-12s %-8d %-10s %-9d %s\n", name, (int)p->pid, p->state,
			       p->restarts, p->last);
		}
	} else {
		printf("supervisor: none (%s)\n", roost_strerror(s->sup_rc));
	}
	if (x->server_rc) {
		printf("server: unreachable: %s\n", x->server_err);
	} else {
		clistat__colls_text(s);
		if (st->writer_pid)
			printf("writer: pid %d, %s\n", (int)st->writer_pid, st->writer_mode);
		else
			printf("writer: down (adds wait in the ring)\n");
		uint64_t used = st->ring_reserve - st->ring_head;
		printf("ring: %llu of %llu bytes in use (%.1f%%)\n", (unsigned long long)used,
		       (unsigned long long)st->ring_capacity,
		       st->ring_capacity ? 100.0 * (double)used / (double)st->ring_capacity : 0.0);
		printf("lsn: durable %llu, applied %llu, published %llu\n",
		       (unsigned long long)st->durable_lsn, (unsigned long long)st->applied_lsn,
		       (unsigned long long)st->published_lsn);
		printf("documents: %llu\n", (unsigned long long)st->documents);
		clistat__history_text(&x->history);
		if (st->agent_rate)
			printf("agents: at most %u documents/s each through this broker; %llu adds "
			       "refused\n",
			       st->agent_rate, (unsigned long long)st->agent_refused);
	}
	printf("readers: %zu\n", x->nreaders);
	if (x->nreaders)
		printf("  %-8s %-11s %-9s %-14s %-10s %s\n", "PID", "GENERATION", "SEGMENTS", "LSN",
		       "SEARCHES", "WAITING");
	for (size_t i = 0; i < x->nreaders; i++) {
		const struct rstat *rs = &x->readers[i];
		printf("  %-8d %-11llu %-9u %-14llu %-10llu %u\n", (int)rs->pid,
		       (unsigned long long)rs->generation, rs->segments,
		       (unsigned long long)rs->lsn, (unsigned long long)rs->searches, rs->waiting);
	}
	if (s->interval_ms > 0)
		printf("rates: ingest %.1f documents/s, search %.1f requests/s (over %.1f s)\n",
		       s->ingest_rate, s->search_rate, (double)s->interval_ms / 1000.0);
}

static void clistat__json_procs(const struct clistat *s)
{
	if (s->sup_rc) {
		printf("\"supervisor\":null,\"processes\":[],");
		return;
	}
	printf("\"supervisor\":{\"pid\":%d,\"state\":\"%s\"},\"processes\":[", (int)s->ps.pid,
	       s->ps.state);
	for (size_t i = 0; i < s->ps.n; i++) {
		const struct supctl_proc *p = &s->ps.procs[i];
		printf("%s{\"role\":\"%s\",\"id\":%d,\"pid\":%d,\"state\":\"%s\",\"restarts\":%d,"
		       "\"last_exit\":\"%s\"}",
		       i ? "," : "", p->role, p->id, (int)p->pid, p->state, p->restarts, p->last);
	}
	printf("],");
}

static void clistat__json_server(const struct clistat_sample *x)
{
	const struct roost_status *st = &x->st;
	if (x->server_rc) {
		printf("\"server\":null,\"server_error\":");
		cliutil_json_str(stdout, x->server_err);
		printf(",");
		return;
	}
	printf("\"server\":{\"collection\":");
	cliutil_json_str(stdout, st->collection);
	printf(",\"dim\":%u,\"metric\":\"%s\",\"index\":", st->dim, st->metric ? "ip" : "l2");
	cliutil_json_str(stdout, st->index);
	printf(",\"writer_pid\":%d,\"writer_mode\":", (int)st->writer_pid);
	cliutil_json_str(stdout, st->writer_mode);
	printf(",\"ring_head\":%llu,\"ring_reserve\":%llu,\"ring_depth\":%llu,"
	       "\"ring_capacity\":%llu,\"durable_lsn\":%llu,\"applied_lsn\":%llu,"
	       "\"published_lsn\":%llu,\"documents\":%llu,\"agent_rate\":%u,"
	       "\"agent_refused\":%llu,",
	       (unsigned long long)st->ring_head, (unsigned long long)st->ring_reserve,
	       (unsigned long long)(st->ring_reserve - st->ring_head),
	       (unsigned long long)st->ring_capacity, (unsigned long long)st->durable_lsn,
	       (unsigned long long)st->applied_lsn, (unsigned long long)st->published_lsn,
	       (unsigned long long)st->documents, st->agent_rate,
	       (unsigned long long)st->agent_refused);
	printf("\"retain\":");
	cliutil_json_str(stdout, x->history.retain);
	printf(",\"history_horizon_lsn\":%llu,\"history_log_bytes\":%llu},",
	       (unsigned long long)x->history.horizon_lsn,
	       (unsigned long long)x->history.log_bytes);
}

static void clistat__json_colls(const struct clistat *s)
{
	const struct clistat_sample *x = &s->b;
	if (!x->colls) {
		printf("\"collections\":null,");
		return;
	}
	printf("\"collections\":[");
	for (size_t i = 0; i < x->ncolls; i++) {
		printf("%s", i ? "," : "");
		int rates = s->interval_ms > 0;
		clicoll_json(stdout, &x->colls[i], rates ? clistat__coll_rate(s, &x->colls[i]) : -1,
			     rates ? clistat__search_rate(&s->a, &s->b, x->colls[i].id) : -1,
			     x->hist ? &x->hist[i] : NULL);
	}
	printf("],");
}

static void clistat__json(const struct clistat *s)
{
	const struct clistat_sample *x = &s->b;
	printf("{\"name\":");
	cliutil_json_str(stdout, s->in.name);
	printf(",");
	clistat__json_procs(s);
	clistat__json_server(x);
	clistat__json_colls(s);
	printf("\"readers\":[");
	for (size_t i = 0; i < x->nreaders; i++) {
		const struct rstat *rs = &x->readers[i];
		printf("%s{\"pid\":%d,\"generation\":%llu,\"segments\":%u,\"lsn\":%llu,"
		       "\"searches\":%llu,\"waiting\":%u}",
		       i ? "," : "", (int)rs->pid, (unsigned long long)rs->generation, rs->segments,
		       (unsigned long long)rs->lsn, (unsigned long long)rs->searches, rs->waiting);
	}
	printf("],\"rates\":");
	if (s->interval_ms > 0)
		printf("{\"interval_ms\":%d,\"ingest_docs_per_s\":%.1f,\"searches_per_s\":%.1f}",
		       s->interval_ms, s->ingest_rate, s->search_rate);
	else
		printf("null");
	printf("}\n");
}

static void clistat__free(struct clistat_sample *x)
{
	roost_collections_free(x->colls);
	free(x->hist);
	for (size_t i = 0; i < x->nreaders; i++)
		rstat_clear(&x->readers[i]);
}

int clistat_main(int argc, char **argv)
{
	static struct clistat s;
	s = (struct clistat){.interval_ms = 1000};
	int rc = clistat__parse(argc, argv, &s);
	if (rc)
		return rc;
	clistat__gather(&s);
	if (s.sup_rc && s.b.server_rc) {
		clistat__free(&s.a);
		clistat__free(&s.b);
		return cliutil_fail("status", s.in.name, ROOST_ENOENT, NULL,
				    "instance '%s' is not running (no supervisor and no broker in "
				    "%s)",
				    s.in.name, s.in.run_dir);
	}
	if (s.json)
		clistat__json(&s);
	else
		clistat__text(&s);
	clistat__free(&s.a);
	clistat__free(&s.b);
	return CLI_OK;
}
