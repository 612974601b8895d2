/* roost-bench-load: load generators against a running instance, through
 * libroost like any client. Each thread has its own handle. One JSON line
 * per command on standard output.
 *
 *   ingest    C clients add batches of B for a while, acknowledged as asked;
 *             --op add/upsert/delete: adds of new ids, upserts of existing
 *             ids, deletes by id instead of adds of documents without ids
 *   fill      one client adds rows [first, first + count) in order (so
 *             segment labels are row numbers); --sentinel 1 then adds a far
 *             away document, which seals a full tail; --keys 1 gives each
 *             its own id, --users U metadata {"user": "u<row % U>"}
 *   delete    one client deletes by id the keyed rows r of [first, first +
 *             count) with keep-lo <= r % mod < keep-hi
 *   search    C clients search k nearest, recall against a ground truth
 *             file; optionally while one more client adds at a fixed rate;
 *             --user N filters on metadata user "u<N>"; --as-of L reads as of
 *             LSN L
 *   fresh     add one document (durable), then search for it with min_lsn:
 *             the time from the acknowledgement to the answer
 *   seal      time of an add that seals the tail, and of the first search
 *             after it (the reader's swap), next to the same without a seal
 *   original  the failure's workload: writers add 1..10, searchers search
 *
 * Every document's `time` is its row number and hits give it back, so
 * recall needs no id map. A keyed document's id is "k<key>": row r of a
 * fill is k<r>, and --op's ids come from the same space. Probe documents carry agent
 * LOAD_PROBE_AGENT and are found with an agent filter, so that a probe's search scores only probe
 * documents: it measures visibility more than search cost.
 */
#include "bargs.h"
#include "bdata.h"
#include "bstat.h"
#include "roost.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOAD_POOL	 4096u /* pregenerated rows that ingest cycles through */
#define LOAD_TEXT	 32u
#define LOAD_PROBE_AGENT 424242
#define LOAD_FLOOD_AGENT 1000000 /* fair: every flooding client's */
#define LOAD_MAX_K	 100u

enum load_role { LOAD_ADD, LOAD_SEARCH, LOAD_PACED, LOAD_PROBE };

/* What the ingest clients send: adds of documents roost numbers, adds of
 * new ids (first, first + 1, ...), upserts of ids taken at random from
 * [0, keys), deletes of ids first, first + 1, ... */
enum load_op { LOAD_PLAIN, LOAD_NEW, LOAD_UPSERT, LOAD_DELETE };

struct load_cfg {
	const char *target;
	const char *collection; /* NULL: default */
	const struct bdata *g;
	uint32_t batch_min, batch_max; /* documents per add */
	enum roost_ack ack;
	uint32_t k;
	uint64_t duration_ns;
	uint64_t end_ns;   /* set when the threads start */
	_Atomic int stop;  /* the probe is done: paced adds stop too */
	const float *pool; /* LOAD_POOL rows, from row pool_first */
	uint64_t pool_first;
	const float *queries;
	uint32_t nq;
	int searchers;	      /* search threads (they split the queries) */
	int64_t *found;	      /* nq * k rows answered, -1 where none */
	double paced_rate;    /* LOAD_PACED: documents per second, each */
	uint64_t paced_first; /* LOAD_PACED: its first row */
	uint32_t paced_batch; /* LOAD_PACED: documents per add */
	enum roost_ack paced_ack;
	int paced_threads;	 /* LOAD_PACED: spread over one period */
	int64_t add_agent;	 /* LOAD_ADD: every add's agent; 0: the thread's id */
	_Atomic uint64_t budget; /* ingest: documents left to add */
	enum load_op op;
	_Atomic uint64_t next_key;	   /* LOAD_NEW, LOAD_DELETE: the next id's key */
	uint64_t keys;			   /* LOAD_UPSERT: ids k0 .. k<keys - 1> exist */
	uint32_t users;			   /* keyed documents' metadata: user u<key % users> */
	const struct roost_filter *filter; /* searches */
	uint32_t nprobe, ef_search;	   /* searches: 0, the reader's defaults */
	uint64_t as_of;			   /* searches: the LSN read as of; 0: now */
	FILE *acked;			   /* original: every acknowledged id */
	/* LOAD_PROBE: probes of one document each, from row probe_first */
	int probes;
	uint64_t probe_first;
	int probe_gap_ms;
	struct bstat visible, rtt;
};

struct load_thread {
	struct load_cfg *cfg;
	enum load_role role;
	int id;
	roost *r;
	unsigned seed;
	uint64_t requests, docs, errors;
	struct bstat lat;
};

static int load__ack(const char *s, enum roost_ack *out)
{
	static const char *const names[] = {"default", "queued", "durable", "visible"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum roost_ack)i;
			return 0;
		}
	fprintf(stderr, "unknown ack mode %s\n", s);
	return ROOST_EINVAL;
}

/* A document's strings: its text, and when keyed its id and metadata. */
struct load_strs {
	char text[LOAD_TEXT], id[LOAD_TEXT], meta[LOAD_TEXT];
};

static void load__key(char *buf, uint64_t key)
{
	snprintf(buf, LOAD_TEXT, "k%llu", (unsigned long long)key);
}

/* Documents for vectors x (rows first..), agent and kind fixed; keys NULL:
 * roost numbers them, else their ids k<keys[i]>, with a user when users. */
static void load__docs(struct roost_doc *docs, struct load_strs *str, const float *x, uint32_t n,
		       uint32_t dim, uint64_t first, int64_t agent, const uint64_t *keys,
		       uint32_t users)
{
	for (uint32_t i = 0; i < n; i++) {
		snprintf(str[i].text, LOAD_TEXT, "row %llu", (unsigned long long)(first + i));
		docs[i] = (struct roost_doc){.vector = x + (size_t)i * dim,
					     .agent = agent,
					     .time = (int64_t)(first + i),
					     .kind = "tweet",
					     .text = str[i].text};
		if (!keys)
			continue;
		load__key(str[i].id, keys[i]);
		docs[i].id = str[i].id;
		if (users) {
			snprintf(str[i].meta, LOAD_TEXT, "{\"user\":\"u%llu\"}",
				 (unsigned long long)(keys[i] % users));
			docs[i].metadata = str[i].meta;
		}
	}
}

/* One timed add; failures are counted, and printed once per thread. */
static int load__add(struct load_thread *t, const float *x, uint32_t n, uint64_t first,
		     int64_t agent, const uint64_t *keys, enum roost_ack ack, uint64_t *lsn)
{
	struct roost_doc docs[ROOST_MAX_DOCS];
	struct load_strs *text = malloc((size_t)n * sizeof *text);
	uint64_t *ids = malloc(sizeof *ids * n), t0 = 0, l = 0;
	int rc = text && ids ? 0 : ROOST_ENOMEM;
	if (rc == 0) {
		load__docs(docs, text, x, n, t->cfg->g->dim, first, agent, keys, t->cfg->users);
		t0 = bstat_now_ns();
		rc = roost_add(t->r, t->cfg->g->dim, docs, n, ack, ids, &l);
	}
	if (rc == 0) {
		bstat_add(&t->lat, bstat_now_ns() - t0);
		t->requests++;
		t->docs += n;
		for (uint32_t i = 0; t->cfg->acked && i < n; i++)
			fprintf(t->cfg->acked, "%llu\n", (unsigned long long)ids[i]);
	} else if (t->errors++ == 0) {
		fprintf(stderr, "add failed: %s: %s\n", roost_strerror(rc), roost_last_error(t->r));
	}
	if (lsn)
		*lsn = l;
	free(text);
	free(ids);
	return rc;
}

/* One timed delete of the ids k<keys[0..n)>, counted like an add. */
static int load__delete(struct load_thread *t, const uint64_t *keys, uint32_t n, enum roost_ack ack)
{
	char(*id)[LOAD_TEXT] = malloc((size_t)n * LOAD_TEXT);
	const char **ids = malloc(sizeof *ids * n);
	int rc = id && ids ? 0 : ROOST_ENOMEM;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		load__key(id[i], keys[i]);
		ids[i] = id[i];
	}
	uint64_t t0 = bstat_now_ns();
	if (rc == 0)
		rc = roost_delete(t->r, ids, n, ack, NULL);
	if (rc == 0) {
		bstat_add(&t->lat, bstat_now_ns() - t0);
		t->requests++;
		t->docs += n;
	} else if (t->errors++ == 0) {
		fprintf(stderr, "delete failed: %s: %s\n", roost_strerror(rc),
			roost_last_error(t->r));
	}
	free(id);
	free(ids);
	return rc;
}

/* Takes up to want documents from the shared budget. */
static uint32_t load__take(struct load_cfg *c, uint32_t want)
{
	uint64_t left = atomic_load(&c->budget);
	while (left &&
	       !atomic_compare_exchange_weak(&c->budget, &left, left - (left < want ? left : want)))
		;
	return (uint32_t)(left < want ? left : want);
}

/* The keys of a batch of n for c->op: the next unused ones (new ids,
 * deletes: each id once), or consecutive ones from a random existing key
 * (upserts: distinct within the batch). NULL: no ids. */
static const uint64_t *load__batch_keys(struct load_thread *t, uint32_t n, uint64_t *keys)
{
	struct load_cfg *c = t->cfg;
	if (c->op == LOAD_PLAIN)
		return NULL;
	uint64_t start = c->op == LOAD_UPSERT ? (uint64_t)rand_r(&t->seed) % c->keys
					      : atomic_fetch_add(&c->next_key, n);
	for (uint32_t i = 0; i < n; i++)
		keys[i] = c->op == LOAD_UPSERT ? (start + i) % c->keys : start + i;
	return keys;
}

static void load__add_loop(struct load_thread *t)
{
	struct load_cfg *c = t->cfg;
	uint64_t keys[ROOST_MAX_DOCS];
	while (bstat_now_ns() < c->end_ns) {
		uint32_t n =
		    c->batch_min + (uint32_t)rand_r(&t->seed) % (c->batch_max - c->batch_min + 1);
		n = load__take(c, n);
		if (n == 0)
			break;
		const uint64_t *k = load__batch_keys(t, n, keys);
		uint32_t at = (uint32_t)rand_r(&t->seed) % (LOAD_POOL - n + 1);
		if (c->op == LOAD_DELETE)
			load__delete(t, k, n, c->ack);
		else
			load__add(t, c->pool + (size_t)at * c->g->dim, n, c->pool_first + at,
				  c->add_agent ? c->add_agent : t->id, k, c->ack, NULL);
	}
}

/* Thread t answers queries t, t + searchers, ...: each query has one
 * owner, so recording its first answer needs no lock. */
static void load__search_loop(struct load_thread *t)
{
	struct load_cfg *c = t->cfg;
	uint32_t dim = c->g->dim;
	for (uint64_t i = (uint64_t)t->id; bstat_now_ns() < c->end_ns;
	     i += (uint64_t)c->searchers) {
		uint32_t q = (uint32_t)(i % c->nq);
		roost_results *res = NULL;
		uint64_t t0 = bstat_now_ns();
		int rc = roost_search(t->r, dim, c->queries + (size_t)q * dim, 1, c->k, c->filter,
				      0, &res);
		if (rc) {
			if (t->errors++ == 0)
				fprintf(stderr, "search failed: %s: %s\n", roost_strerror(rc),
					roost_last_error(t->r));
			continue;
		}
		bstat_add(&t->lat, bstat_now_ns() - t0);
		t->requests++;
		const struct roost_hit *hits;
		size_t n = roost_results_hits(res, 0, &hits);
		if (c->found && i < c->nq)
			for (size_t j = 0; j < n && j < c->k; j++)
				c->found[(size_t)q * c->k + j] = hits[j].time;
		roost_results_free(res);
	}
}

/* Adds paced_batch documents at a time, paced to paced_rate per second;
 * the paced threads start spread over one period, so that they do not
 * all add at once. */
static void load__paced_loop(struct load_thread *t)
{
	struct load_cfg *c = t->cfg;
	uint32_t n = c->paced_batch;
	float *x = malloc(sizeof(float) * c->g->dim * n);
	double period_ns = n / c->paced_rate * 1e9;
	uint64_t start = bstat_now_ns() +
			 (uint64_t)(period_ns * (t->id % c->paced_threads) / c->paced_threads),
		 row = c->paced_first;
	for (uint64_t i = 0; x && bstat_now_ns() < c->end_ns && !atomic_load(&c->stop);
	     i++, row += n) {
		uint64_t due = start + (uint64_t)((double)i * period_ns);
		uint64_t now = bstat_now_ns();
		if (due > now) {
			struct timespec ts = {(time_t)((due - now) / 1000000000u),
					      (long)((due - now) % 1000000000u)};
			nanosleep(&ts, NULL);
		}
		bdata_rows(c->g, row, n, x);
		load__add(t, x, n, row, t->id, NULL, c->paced_ack, NULL);
	}
	free(x);
}

/* Searches for the probe document of row `row` (its own vector, agent
 * filter) with min_lsn; 0 when it is the top hit. *ns: the round trip. */
static int load__find(struct load_thread *t, const float *x, uint64_t row, uint64_t min_lsn,
		      uint64_t *ns)
{
	int64_t agent = LOAD_PROBE_AGENT;
	struct roost_filter f = {.agents = &agent, .nagents = 1};
	roost_results *res = NULL;
	uint64_t t0 = bstat_now_ns();
	int rc = roost_search(t->r, t->cfg->g->dim, x, 1, 1, &f, min_lsn, &res);
	*ns = bstat_now_ns() - t0;
	const struct roost_hit *hit;
	if (rc == 0 && (roost_results_hits(res, 0, &hit) != 1 || hit->time != (int64_t)row))
		rc = ROOST_ENOTVISIBLE;
	if (rc && t->errors++ == 0)
		fprintf(stderr, "probe search for row %llu failed: %s\n", (unsigned long long)row,
			roost_strerror(rc));
	roost_results_free(res);
	return rc;
}

/* Add one document (durable), then search for it with its LSN: the time
 * from the acknowledgement to the answer; then the same search again,
 * which needs no wait: its round trip. */
static void load__probe_loop(struct load_thread *t)
{
	struct load_cfg *c = t->cfg;
	float *x = malloc(sizeof(float) * c->g->dim);
	for (int i = 0; x && i < c->probes; i++) {
		uint64_t row = c->probe_first + (uint64_t)i, lsn, vis, rtt;
		bdata_rows(c->g, row, 1, x);
		if (load__add(t, x, 1, row, LOAD_PROBE_AGENT, NULL, ROOST_ACK_DURABLE, &lsn) == 0 &&
		    load__find(t, x, row, lsn, &vis) == 0 && load__find(t, x, row, 0, &rtt) == 0) {
			bstat_add(&c->visible, vis);
			bstat_add(&c->rtt, rtt);
		}
		usleep((useconds_t)c->probe_gap_ms * 1000);
	}
	atomic_store(&c->stop, 1);
	free(x);
}

static void *load__thread(void *arg)
{
	struct load_thread *t = arg;
	if (t->role == LOAD_ADD)
		load__add_loop(t);
	else if (t->role == LOAD_SEARCH)
		load__search_loop(t);
	else if (t->role == LOAD_PACED)
		load__paced_loop(t);
	else
		load__probe_loop(t);
	return NULL;
}

/* Threads of the given roles, each with its own connected handle. */
static int load__threads(struct load_cfg *c, const enum load_role *roles, int n,
			 struct load_thread **out)
{
	struct load_thread *t = calloc((size_t)n, sizeof *t);
	int rc = t ? 0 : ROOST_ENOMEM;
	for (int i = 0; rc == 0 && i < n; i++) {
		t[i] =
		    (struct load_thread){.cfg = c, .role = roles[i], .id = i, .seed = 7u * i + 1};
		rc = roost_connect(&t[i].r, c->target);
		if (rc)
			fprintf(stderr, "cannot connect to %s: %s\n", c->target,
				roost_strerror(rc));
		else if ((rc = roost_use(t[i].r, c->collection)) != 0)
			fprintf(stderr, "bad collection name %s\n", c->collection);
		else
			roost_set_timeout(t[i].r, 60000);
		if (rc == 0) {
			roost_set_search_tuning(t[i].r, c->nprobe, c->ef_search);
			roost_set_as_of(t[i].r, c->as_of);
		}
	}
	if (rc && t) {
		for (int i = 0; i < n; i++)
			roost_close(t[i].r);
		free(t);
		t = NULL;
	}
	*out = t;
	return rc;
}

/* Runs the threads; the clock starts once every client is connected. */
static uint64_t load__go(struct load_cfg *c, struct load_thread *t, int n)
{
	c->end_ns = bstat_now_ns() + c->duration_ns;
	return bstat_run(n, load__thread, t, sizeof *t);
}

/* Sums the threads of one role: requests, documents, errors, latencies. */
static void load__sum(struct load_thread *t, int n, enum load_role role, struct load_thread *sum)
{
	*sum = (struct load_thread){.role = role};
	for (int i = 0; i < n; i++) {
		if (t[i].role != role)
			continue;
		sum->requests += t[i].requests;
		sum->docs += t[i].docs;
		sum->errors += t[i].errors;
		bstat_merge(&sum->lat, &t[i].lat);
	}
}

static void load__free_threads(struct load_thread *t, int n)
{
	for (int i = 0; t && i < n; i++) {
		roost_close(t[i].r);
		bstat_free(&t[i].lat);
	}
	free(t);
}

/* Pregenerated rows, so that clients spend their time in roost. */
static int load__pool(struct load_cfg *c, float **pool)
{
	*pool = malloc(sizeof(float) * c->g->dim * LOAD_POOL);
	if (!*pool)
		return ROOST_ENOMEM;
	bdata_rows(c->g, c->pool_first, LOAD_POOL, *pool);
	c->pool = *pool;
	return 0;
}

static int load__op(const char *s, enum load_op *out)
{
	static const char *const names[] = {"plain", "add", "upsert", "delete"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum load_op)i;
			return 0;
		}
	fprintf(stderr, "unknown op %s\n", s);
	return ROOST_EINVAL;
}

/* The common part of a command's configuration. */
static int load__cfg(const struct bargs *a, const struct bdata *g, struct load_cfg *c)
{
	*c = (struct load_cfg){.target = bargs_str(a, "target", NULL),
			       .collection = bargs_str(a, "collection", NULL),
			       .g = g,
			       .batch_min = (uint32_t)bargs_int(a, "batch", 10),
			       .k = (uint32_t)bargs_int(a, "k", 10),
			       .nq = (uint32_t)bargs_int(a, "queries", 1000),
			       .pool_first = (uint64_t)bargs_int(a, "first", 0),
			       .duration_ns = (uint64_t)(bargs_num(a, "duration", 1.0) * 1e9),
			       .keys = (uint64_t)bargs_int(a, "keys", 0),
			       .users = (uint32_t)bargs_int(a, "users", 0)};
	c->batch_max = c->batch_min;
	atomic_init(&c->budget, (uint64_t)bargs_int(a, "max-docs", 1ll << 40));
	atomic_init(&c->next_key, c->pool_first);
	if (!c->target || c->batch_min == 0 || c->batch_min > ROOST_MAX_DOCS || c->k == 0 ||
	    c->k > LOAD_MAX_K || c->nq == 0 || load__op(bargs_str(a, "op", "plain"), &c->op) != 0 ||
	    (c->op == LOAD_UPSERT && c->keys == 0))
		return ROOST_EINVAL;
	return load__ack(bargs_str(a, "ack", "durable"), &c->ack);
}

static void load__json_adds(struct bstat_json *j, struct load_thread *s, double secs)
{
	bstat_json_num(j, "vectors_per_s", (double)s->docs / secs);
	bstat_json_num(j, "requests_per_s", (double)s->requests / secs);
	bstat_json_num(j, "errors", (double)s->errors);
	bstat_json_lat(j, "latency", &s->lat);
}

static int load_ingest(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c;
	int clients = (int)bargs_int(a, "clients", 1);
	float *pool = NULL;
	int rc = load__cfg(a, g, &c);
	if (rc == 0 && (clients < 1 || clients > 1024))
		rc = ROOST_EINVAL;
	if (rc == 0)
		rc = load__pool(&c, &pool);
	enum load_role *roles = rc ? NULL : calloc((size_t)clients, sizeof *roles);
	struct load_thread *t = NULL;
	if (rc == 0)
		rc = roles ? load__threads(&c, roles, clients, &t) : ROOST_ENOMEM;
	if (rc == 0) {
		uint64_t ns = load__go(&c, t, clients);
		struct load_thread s;
		load__sum(t, clients, LOAD_ADD, &s);
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "ingest");
		bstat_json_str(&j, "op", bargs_str(a, "op", "plain"));
		bstat_json_num(&j, "clients", clients);
		bstat_json_num(&j, "batch", c.batch_min);
		bstat_json_num(&j, "vectors", (double)s.docs);
		load__json_adds(&j, &s, (double)ns / 1e9);
		bstat_json_end(&j);
		bstat_free(&s.lat);
		rc = ns ? 0 : ROOST_ENOMEM;
	}
	load__free_threads(t, clients);
	free(roles);
	free(pool);
	return rc;
}

/* One client with its handle, for the sequential commands. */
static int load__one(const struct bargs *a, const struct bdata *g, struct load_cfg *c,
		     struct load_thread **t)
{
	static const enum load_role add = LOAD_ADD;
	int rc = load__cfg(a, g, c);
	return rc ? rc : load__threads(c, &add, 1, t);
}

static int load_fill(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c;
	struct load_thread *t = NULL;
	uint64_t count = (uint64_t)bargs_int(a, "count", 0), lsn = 0;
	int rc = load__one(a, g, &c, &t);
	int keyed = bargs_int(a, "keys", 0) != 0;
	float *x = rc ? NULL : malloc(sizeof(float) * g->dim * c.batch_min);
	uint64_t *keys = rc ? NULL : malloc(sizeof *keys * c.batch_min);
	if (rc == 0 && (!x || !keys))
		rc = ROOST_ENOMEM;
	uint64_t t0 = bstat_now_ns();
	for (uint64_t at = 0; rc == 0 && at < count; at += c.batch_min) {
		uint32_t n = (uint32_t)(count - at < c.batch_min ? count - at : c.batch_min);
		bdata_rows(g, c.pool_first + at, n, x);
		for (uint32_t i = 0; i < n; i++)
			keys[i] = c.pool_first + at + i;
		/* The last batch waits until everything before it is searchable. */
		rc = load__add(t, x, n, c.pool_first + at, 0, keyed ? keys : NULL,
			       at + n == count ? ROOST_ACK_VISIBLE : c.ack, &lsn);
	}
	double secs = (double)(bstat_now_ns() - t0) / 1e9;
	if (rc == 0 && bargs_int(a, "sentinel", 0)) {
		/* Far from every row, so never a neighbour; time -1. */
		for (uint32_t i = 0; i < g->dim; i++)
			x[i] = 1000.0f;
		rc = load__add(t, x, 1, UINT64_MAX, 0, NULL, ROOST_ACK_VISIBLE, NULL);
	}
	if (rc == 0) {
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "fill");
		bstat_json_num(&j, "rows", (double)count);
		bstat_json_num(&j, "seconds", secs);
		bstat_json_num(&j, "lsn", (double)lsn);
		load__json_adds(&j, t, secs);
		bstat_json_end(&j);
	}
	free(x);
	free(keys);
	load__free_threads(t, 1);
	return rc;
}

static int load_delete(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c = {0};
	struct load_thread *t = NULL;
	uint64_t count = (uint64_t)bargs_int(a, "count", 0), keys[ROOST_MAX_DOCS];
	uint64_t mod = (uint64_t)bargs_int(a, "mod", 1), lo = (uint64_t)bargs_int(a, "keep-lo", 0),
		 hi = (uint64_t)bargs_int(a, "keep-hi", 1);
	int rc = mod && lo < hi && hi <= mod ? load__one(a, g, &c, &t) : ROOST_EINVAL;
	uint32_t n = 0;
	uint64_t t0 = bstat_now_ns();
	for (uint64_t r = c.pool_first; rc == 0 && r < c.pool_first + count; r++) {
		if (r % mod >= lo && r % mod < hi)
			keys[n++] = r;
		/* The last batch waits until no search finds any of them. */
		int last = r + 1 == c.pool_first + count;
		if (n && (n == c.batch_min || last))
			rc = load__delete(t, keys, n, last ? ROOST_ACK_VISIBLE : c.ack);
		n = n == c.batch_min || last ? 0 : n;
	}
	double secs = (double)(bstat_now_ns() - t0) / 1e9;
	if (rc == 0) {
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "delete");
		bstat_json_num(&j, "deleted", (double)t->docs);
		bstat_json_num(&j, "seconds", secs);
		bstat_json_end(&j);
	}
	load__free_threads(t, 1);
	return rc;
}

/* Roles: `first` threads of role r0, then `more` of role r1. */
static enum load_role *load__roles(int first, enum load_role r0, int more, enum load_role r1)
{
	enum load_role *roles = calloc((size_t)(first + more), sizeof *roles);
	for (int i = 0; roles && i < first + more; i++)
		roles[i] = i < first ? r0 : r1;
	return roles;
}

/* Paced adds beside another load: --write-rate documents/s in batches of
 * --write-batch from row --write-first. 1 when there are any. */
static int load__paced(const struct bargs *a, struct load_cfg *c)
{
	c->paced_rate = bargs_num(a, "write-rate", 0.0);
	c->paced_first = (uint64_t)bargs_int(a, "write-first", 0);
	c->paced_batch = (uint32_t)bargs_int(a, "write-batch", 10);
	c->paced_ack = ROOST_ACK_DURABLE;
	c->paced_threads = 1;
	return c->paced_rate > 0 && c->paced_batch >= 1 && c->paced_batch <= ROOST_MAX_DOCS;
}

static void load__json_paced(struct bstat_json *j, struct load_thread *t, int n, double secs)
{
	struct load_thread w;
	load__sum(t, n, LOAD_PACED, &w);
	bstat_json_num(j, "write_vectors_per_s", (double)w.docs / secs);
	bstat_json_num(j, "write_errors", (double)w.errors);
	bstat_free(&w.lat);
}

/* Modest agents beside a flooding one: --clients threads, each its own
 * agent, add --batch documents --rate times a second; --flooders threads,
 * all of one agent, add --flood-batch documents as fast as they can, and
 * give an add up after a second (a broker that limits the agent refuses
 * most of them: libroost retries until then). The latencies are the modest
 * agents'; rates are over --duration, which the modest agents keep to. */
static int load_fair(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c;
	int clients = (int)bargs_int(a, "clients", 31), flooders = (int)bargs_int(a, "flooders", 1);
	float *pool = NULL;
	int rc = load__cfg(a, g, &c);
	c.paced_batch = c.batch_min;
	c.paced_rate = bargs_num(a, "rate", 20.0) * c.paced_batch;
	c.paced_ack = c.ack;
	c.paced_threads = clients;
	c.paced_first = c.pool_first + LOAD_POOL;
	c.batch_min = c.batch_max = (uint32_t)bargs_int(a, "flood-batch", 100);
	c.add_agent = LOAD_FLOOD_AGENT;
	if (rc == 0 && (clients < 1 || flooders < 0 || clients + flooders > 1024 ||
			c.paced_rate <= 0 || c.batch_min > ROOST_MAX_DOCS))
		rc = ROOST_EINVAL;
	if (rc == 0)
		rc = load__pool(&c, &pool);
	enum load_role *roles = rc ? NULL : load__roles(clients, LOAD_PACED, flooders, LOAD_ADD);
	struct load_thread *t = NULL;
	if (rc == 0)
		rc = roles ? load__threads(&c, roles, clients + flooders, &t) : ROOST_ENOMEM;
	for (int i = clients; rc == 0 && i < clients + flooders; i++)
		roost_set_timeout(t[i].r, 1000);
	if (rc == 0) {
		uint64_t ns = load__go(&c, t, clients + flooders);
		double secs = (double)c.duration_ns / 1e9;
		struct load_thread modest, flood;
		load__sum(t, clients + flooders, LOAD_PACED, &modest);
		load__sum(t, clients + flooders, LOAD_ADD, &flood);
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "fair");
		bstat_json_num(&j, "clients", clients);
		bstat_json_num(&j, "flooders", flooders);
		load__json_adds(&j, &modest, secs);
		bstat_json_num(&j, "flood_vectors_per_s", (double)flood.docs / secs);
		bstat_json_num(&j, "flood_errors", (double)flood.errors);
		bstat_json_end(&j);
		bstat_free(&modest.lat);
		bstat_free(&flood.lat);
		rc = ns ? 0 : ROOST_ENOMEM;
	}
	load__free_threads(t, clients + flooders);
	free(roles);
	free(pool);
	return rc;
}

static double load__recall(const struct load_cfg *c, const char *gt)
{
	uint32_t gt_nq, gt_k;
	int64_t *truth;
	if (!gt || bdata_gt_read(gt, &gt_nq, &gt_k, &truth) != 0)
		return -1.0;
	double sum = 0.0;
	uint32_t n = 0;
	for (uint32_t q = 0; q < c->nq && q < gt_nq; q++)
		if (c->found[(size_t)q * c->k] >= 0) {
			sum += bdata_recall(truth, gt_k, q, c->found + (size_t)q * c->k, c->k);
			n++;
		}
	free(truth);
	return n ? sum / n : -1.0;
}

static int load_search(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c;
	int clients = (int)bargs_int(a, "clients", 1);
	int rc = load__cfg(a, g, &c);
	if (rc == 0 && (clients < 1 || clients > 1024))
		rc = ROOST_EINVAL;
	int paced = rc ? 0 : load__paced(a, &c), n = clients + paced;
	c.searchers = clients;
	c.nprobe = (uint32_t)bargs_int(a, "nprobe", 0);
	c.ef_search = (uint32_t)bargs_int(a, "ef-search", 0);
	c.as_of = (uint64_t)bargs_int(a, "as-of", 0);
	/* --user N: metadata user "u<N>", which fill --users gives 1 row in U. */
	char value[LOAD_TEXT];
	const char *any_of[1] = {value};
	struct roost_condition cond = {.key = "user", .any_of = any_of, .n_any_of = 1};
	struct roost_filter filter = {.where = &cond, .nwhere = 1};
	long long user = bargs_int(a, "user", -1);
	snprintf(value, sizeof value, "\"u%lld\"", user);
	c.filter = user >= 0 ? &filter : NULL;
	float *q = rc ? NULL : malloc(sizeof(float) * g->dim * c.nq);
	c.found = rc ? NULL : malloc(sizeof *c.found * c.nq * c.k);
	enum load_role *roles = load__roles(clients, LOAD_SEARCH, paced, LOAD_PACED);
	struct load_thread *t = NULL;
	if (rc == 0)
		rc = q && c.found && roles ? 0 : ROOST_ENOMEM;
	if (rc == 0) {
		bdata_queries(g, 0, c.nq, q);
		c.queries = q;
		for (size_t i = 0; i < (size_t)c.nq * c.k; i++)
			c.found[i] = -1;
		rc = load__threads(&c, roles, n, &t);
	}
	if (rc == 0) {
		uint64_t ns = load__go(&c, t, n);
		double secs = (double)ns / 1e9;
		struct load_thread s;
		load__sum(t, n, LOAD_SEARCH, &s);
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "search");
		bstat_json_num(&j, "clients", clients);
		bstat_json_num(&j, "qps", (double)s.requests / secs);
		bstat_json_num(&j, "errors", (double)s.errors);
		bstat_json_lat(&j, "latency", &s.lat);
		bstat_json_num(&j, "recall", load__recall(&c, bargs_str(a, "gt", NULL)));
		load__json_paced(&j, t, n, secs);
		bstat_json_end(&j);
		bstat_free(&s.lat);
		rc = ns ? 0 : ROOST_ENOMEM;
	}
	load__free_threads(t, n);
	free(roles);
	free(c.found);
	free(q);
	return rc;
}

static int load_fresh(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c;
	int rc = load__cfg(a, g, &c);
	int paced = rc ? 0 : load__paced(a, &c), n = 1 + paced;
	c.probes = (int)bargs_int(a, "probes", 100);
	c.probe_first = (uint64_t)bargs_int(a, "probe-first", 0);
	c.probe_gap_ms = (int)bargs_int(a, "gap-ms", 10);
	c.duration_ns = UINT64_MAX / 2; /* the probes decide when it ends */
	enum load_role *roles = load__roles(1, LOAD_PROBE, paced, LOAD_PACED);
	struct load_thread *t = NULL;
	if (rc == 0)
		rc = roles ? load__threads(&c, roles, n, &t) : ROOST_ENOMEM;
	if (rc == 0) {
		uint64_t ns = load__go(&c, t, n);
		struct bstat net = {0};
		for (size_t i = 0; i < c.visible.n; i++)
			bstat_add(&net, c.visible.ns[i] > c.rtt.ns[i]
					    ? c.visible.ns[i] - c.rtt.ns[i]
					    : 0);
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "fresh");
		bstat_json_num(&j, "probes", (double)c.visible.n);
		bstat_json_num(&j, "added", (double)t[0].docs);
		bstat_json_num(&j, "errors", (double)t[0].errors);
		bstat_json_lat(&j, "add", &t[0].lat);
		bstat_json_lat(&j, "visible", &c.visible);
		bstat_json_lat(&j, "rtt", &c.rtt);
		bstat_json_lat(&j, "net", &net);
		load__json_paced(&j, t, n, (double)ns / 1e9);
		bstat_json_end(&j);
		bstat_free(&net);
		rc = ns ? 0 : ROOST_ENOMEM;
	}
	load__free_threads(t, n);
	bstat_free(&c.visible);
	bstat_free(&c.rtt);
	free(roles);
	return rc;
}

/* Adds row `row` alone (visible) and searches for it: both round trips. */
static int load__add_find(struct load_thread *t, float *x, uint64_t row, uint64_t *add_ns,
			  uint64_t *find_ns)
{
	uint64_t lsn;
	bdata_rows(t->cfg->g, row, 1, x);
	uint64_t t0 = bstat_now_ns();
	int rc = load__add(t, x, 1, row, LOAD_PROBE_AGENT, NULL, ROOST_ACK_VISIBLE, &lsn);
	*add_ns = bstat_now_ns() - t0;
	return rc ? rc : load__find(t, x, row, lsn, find_ns);
}

static int load_seal(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c;
	struct load_thread *t = NULL;
	uint64_t row = (uint64_t)bargs_int(a, "row", 0), add[2], find[2];
	int rc = load__one(a, g, &c, &t);
	float *x = rc ? NULL : malloc(sizeof(float) * g->dim);
	if (rc == 0)
		rc = x ? load__add_find(t, x, row, &add[0], &find[0]) : ROOST_ENOMEM;
	if (rc == 0)
		rc = load__add_find(t, x, row + 1, &add[1], &find[1]);
	if (rc == 0) {
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "seal");
		bstat_json_num(&j, "seal_add_ms", (double)add[0] / 1e6);
		bstat_json_num(&j, "plain_add_ms", (double)add[1] / 1e6);
		bstat_json_num(&j, "first_search_ms", (double)find[0] / 1e6);
		bstat_json_num(&j, "plain_search_ms", (double)find[1] / 1e6);
		bstat_json_end(&j);
	}
	free(x);
	load__free_threads(t, 1);
	return rc;
}

static int load_original(const struct bargs *a, const struct bdata *g)
{
	struct load_cfg c;
	int writers = (int)bargs_int(a, "writers", 12),
	    searchers = (int)bargs_int(a, "searchers", 4);
	const char *acked = bargs_str(a, "acked", NULL);
	float *pool = NULL, *q = NULL;
	int rc = load__cfg(a, g, &c);
	if (rc == 0 && (writers < 1 || searchers < 1 || !acked))
		rc = ROOST_EINVAL;
	c.batch_min = 1;
	c.batch_max = (uint32_t)bargs_int(a, "batch-max", 10);
	c.searchers = searchers;
	if (rc == 0 && (c.batch_max < 1 || c.batch_max > ROOST_MAX_DOCS))
		rc = ROOST_EINVAL;
	if (rc == 0)
		rc = load__pool(&c, &pool);
	if (rc == 0 && !(c.acked = fopen(acked, "w")))
		rc = ROOST_EIO;
	enum load_role *roles = load__roles(writers, LOAD_ADD, searchers, LOAD_SEARCH);
	struct load_thread *t = NULL;
	if (rc == 0)
		rc = roles && (q = malloc(sizeof(float) * g->dim * c.nq)) ? 0 : ROOST_ENOMEM;
	if (rc == 0) {
		bdata_queries(g, 0, c.nq, q);
		c.queries = q;
		rc = load__threads(&c, roles, writers + searchers, &t);
	}
	if (rc == 0) {
		uint64_t ns = load__go(&c, t, writers + searchers);
		double secs = (double)ns / 1e9;
		struct load_thread w, s;
		load__sum(t, writers + searchers, LOAD_ADD, &w);
		load__sum(t, writers + searchers, LOAD_SEARCH, &s);
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "original");
		bstat_json_num(&j, "docs", (double)w.docs);
		load__json_adds(&j, &w, secs);
		bstat_json_num(&j, "searches_per_s", (double)s.requests / secs);
		bstat_json_num(&j, "search_errors", (double)s.errors);
		bstat_json_lat(&j, "search_latency", &s.lat);
		bstat_json_end(&j);
		bstat_free(&w.lat);
		bstat_free(&s.lat);
		rc = ns ? 0 : ROOST_ENOMEM;
	}
	if (c.acked && fclose(c.acked) != 0 && rc == 0)
		rc = ROOST_EIO;
	load__free_threads(t, writers + searchers);
	free(roles);
	free(pool);
	free(q);
	return rc;
}

static const struct bargs_command load_commands[] = {
    {"ingest", "target collection clients batch ack duration max-docs first op keys users",
     load_ingest},
    {"fill", "target first count batch ack sentinel keys users", load_fill},
    {"delete", "target first count batch ack mod keep-lo keep-hi", load_delete},
    {"search",
     "target clients k queries duration gt write-rate write-batch write-first user nprobe "
     "ef-search as-of",
     load_search},
    {"fresh", "target probes probe-first gap-ms write-rate write-batch write-first", load_fresh},
    {"seal", "target row", load_seal},
    {"fair", "target clients rate batch flooders flood-batch ack duration first", load_fair},
    {"original", "target writers searchers duration k queries batch-max acked first",
     load_original},
};

int main(int argc, char **argv)
{
	return bargs_main(argc, argv, load_commands,
			  sizeof load_commands / sizeof load_commands[0]);
}
