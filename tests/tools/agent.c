/* roost-agent: one simulated agent for system tests and the demo. It adds
 * deterministic documents through libroost and prints, for each
 * acknowledged request, its batch's LSN and then one line per document:
 *   LSN <lsn> <documents>
 *   ACK <id> <agent> <time> <kind> <vector hash> <text>
 * and one line per request that failed for good:
 *   ERR <code> <message>
 * Vectors derive from (agent, request, index), so tests can recompute and
 * compare them bit for bit; the text of request R's document I is
 * "agent <agent> post R.I".
 *
 * With --keyed, documents have ids of their own, "a<agent>-<n>" for the
 * agent's nth new key, and each request either adds new keys, upserts
 * earlier ones (--upserts percent of requests: new content for existing
 * keys) or deletes earlier ones (--deletes percent). Before sending a
 * request it prints what it sends, so that a request whose outcome is
 * never known is known to have been tried:
 *   TRY <request> add|upsert|delete <n> <key> ...
 * an acknowledged add or upsert prints its LSN line and one line per
 * document, in the request's order:
 *   PUT <id> <key> <agent> <time> <kind> <vector hash> <text>
 * and an acknowledged delete one line:
 *   DEL <lsn> <n> <key> ...
 * A keyed run stops after the request in flight at SIGTERM, so that every
 * request it tried has a known outcome. */
#include "roost.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct agent_opts {
	const char *target;
	const char *collection; /* NULL: default */
	uint32_t dim;
	int64_t agent;
	int requests;
	int batch_min, batch_max;
	enum roost_ack ack;
	unsigned seed;
	int timeout_ms;
	int keyed;
	int upsert_pct, delete_pct;
	int pause_ms;
};

/* A keyed run's keys: the nth is "a<agent>-<n>"; every key below next
 * has been tried. */
struct agent_keys {
	long next;
	long pick[ROOST_MAX_DOCS];
	char names[ROOST_MAX_DOCS][32];
	const char *ptrs[ROOST_MAX_DOCS];
};

static volatile sig_atomic_t agent_stopping;

static void agent_on_term(int sig)
{
	(void)sig;
	agent_stopping = 1;
}

static uint64_t agent_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void agent_vector(int64_t agent, int req, int i, uint32_t dim, float *v)
{
	uint64_t s = agent_mix((uint64_t)agent * 1000003u + (uint64_t)req * 7919u + (uint64_t)i);
	for (uint32_t j = 0; j < dim; j++) {
		s = agent_mix(s + j);
		v[j] = (float)((double)(s >> 11) / (double)(1ull << 53)) * 2.0f - 1.0f;
	}
}

/* FNV-1a over the vector's bytes: the dump tool prints the same hash. */
static uint64_t agent_hash(const float *v, uint32_t dim)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p = (const unsigned char *)v;
	for (size_t i = 0; i < dim * sizeof(float); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int agent_parse(int argc, char **argv, struct agent_opts *o)
{
	static const struct option opts[] = {
	    {"target", required_argument, 0, 'T'},
	    {"dim", required_argument, 0, 'd'},
	    {"agent", required_argument, 0, 'a'},
	    {"requests", required_argument, 0, 'r'},
	    {"batch-min", required_argument, 0, 'm'},
	    {"batch-max", required_argument, 0, 'M'},
	    {"ack", required_argument, 0, 'k'},
	    {"seed", required_argument, 0, 's'},
	    {"timeout-ms", required_argument, 0, 't'},
	    {"collection", required_argument, 0, 'C'},
	    {"keyed", no_argument, 0, 'K'},
	    {"upserts", required_argument, 0, 'U'},
	    {"deletes", required_argument, 0, 'D'},
	    {"pause-ms", required_argument, 0, 'p'},
	    {0, 0, 0, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'T':
			o->target = optarg;
			break;
		case 'C':
			o->collection = optarg;
			break;
		case 'd':
			o->dim = (uint32_t)atoi(optarg);
			break;
		case 'a':
			o->agent = atoll(optarg);
			break;
		case 'r':
			o->requests = atoi(optarg);
			break;
		case 'm':
			o->batch_min = atoi(optarg);
			break;
		case 'M':
			o->batch_max = atoi(optarg);
			break;
		case 'k':
			o->ack = strcmp(optarg, "queued") == 0	  ? ROOST_ACK_QUEUED
				 : strcmp(optarg, "visible") == 0 ? ROOST_ACK_VISIBLE
								  : ROOST_ACK_DURABLE;
			break;
		case 's':
			o->seed = (unsigned)atoi(optarg);
			break;
		case 't':
			o->timeout_ms = atoi(optarg);
			break;
		case 'K':
			o->keyed = 1;
			break;
		case 'U':
			o->upsert_pct = atoi(optarg);
			break;
		case 'D':
			o->delete_pct = atoi(optarg);
			break;
		case 'p':
			o->pause_ms = atoi(optarg);
			break;
		default:
			return -1;
		}
	}
	return o->target && o->dim && o->batch_min >= 1 && o->batch_max >= o->batch_min &&
		       o->batch_max <= (int)ROOST_MAX_DOCS && o->upsert_pct >= 0 &&
		       o->delete_pct >= 0 && o->upsert_pct + o->delete_pct <= 100 &&
		       o->pause_ms >= 0
		   ? 0
		   : -1;
}

/* keys NULL: documents roost numbers; else ids of their own. */
static int agent_request(roost *r, const struct agent_opts *o, int req, int n, float *vecs,
			 char (*texts)[64], const struct agent_keys *keys)
{
	struct roost_doc docs[ROOST_MAX_DOCS] = {0};
	uint64_t ids[ROOST_MAX_DOCS], lsn;
	for (int i = 0; i < n; i++) {
		agent_vector(o->agent, req, i, o->dim, vecs + (size_t)i * o->dim);
		snprintf(texts[i], 64, "agent %lld post %d.%d", (long long)o->agent, req, i);
		docs[i] = (struct roost_doc){.vector = vecs + (size_t)i * o->dim,
					     .agent = o->agent,
					     .time = (int64_t)req * 1000 + i,
					     .kind = "tweet",
					     .text = texts[i],
					     .id = keys ? keys->names[i] : NULL};
	}
	int rc = roost_add(r, o->dim, docs, (size_t)n, o->ack, ids, &lsn);
	if (rc) {
		printf("ERR %d %s\n", rc, roost_last_error(r));
		return rc;
	}
	printf("LSN %llu %d\n", (unsigned long long)lsn, n);
	for (int i = 0; i < n; i++) {
		if (keys)
			printf("PUT %llu %s ", (unsigned long long)ids[i], keys->names[i]);
		else
			printf("ACK %llu ", (unsigned long long)ids[i]);
		printf("%lld %lld tweet %016llx %s\n", (long long)docs[i].agent,
		       (long long)docs[i].time,
		       (unsigned long long)agent_hash(docs[i].vector, o->dim), texts[i]);
	}
	fflush(stdout);
	return 0;
}

/* Picks n distinct keys of the ones tried so far (n <= k->next). */
static void agent_pick(struct agent_keys *k, int n)
{
	for (int i = 0; i < n; i++) {
		long j;
		int again;
		do {
			j = rand() % k->next;
			again = 0;
			for (int p = 0; p < i && !again; p++)
				again = k->pick[p] == j;
		} while (again);
		k->pick[i] = j;
	}
}

/* One keyed request of n documents or ids: new keys, an upsert or a
 * delete of earlier ones, as the dice say. */
static int agent_keyed(roost *r, const struct agent_opts *o, int req, int n, float *vecs,
		       char (*texts)[64], struct agent_keys *k)
{
	int dice = rand() % 100;
	const char *what = "add";
	if (k->next >= n && dice < o->upsert_pct + o->delete_pct) {
		what = dice < o->upsert_pct ? "upsert" : "delete";
		agent_pick(k, n);
	} else {
		for (int i = 0; i < n; i++)
			k->pick[i] = k->next++;
	}
	printf("TRY %d %s %d", req, what, n);
	for (int i = 0; i < n; i++) {
		snprintf(k->names[i], sizeof k->names[i], "a%lld-%ld", (long long)o->agent,
			 k->pick[i]);
		k->ptrs[i] = k->names[i];
		printf(" %s", k->names[i]);
	}
	printf("\n");
	fflush(stdout);
	if (what[0] != 'd')
		return agent_request(r, o, req, n, vecs, texts, k);
	uint64_t lsn;
	int rc = roost_delete(r, k->ptrs, (size_t)n, o->ack, &lsn);
	if (rc) {
		printf("ERR %d %s\n", rc, roost_last_error(r));
	} else {
		printf("DEL %llu %d", (unsigned long long)lsn, n);
		for (int i = 0; i < n; i++)
			printf(" %s", k->names[i]);
		printf("\n");
	}
	fflush(stdout);
	return rc;
}

static void agent_pause(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (ms > 0 && nanosleep(&ts, &ts) != 0 && !agent_stopping)
		;
}

int main(int argc, char **argv)
{
	struct agent_opts o = {.requests = 10,
			       .batch_min = 1,
			       .batch_max = 50,
			       .ack = ROOST_ACK_DURABLE,
			       .seed = 1,
			       .timeout_ms = 30000};
	if (agent_parse(argc, argv, &o) != 0) {
		fprintf(stderr,
			"usage: roost-agent --target T --dim D [--agent A] [--requests R]\n"
			"       [--batch-min N] [--batch-max N] [--ack queued|durable|visible]\n"
			"       [--seed S] [--timeout-ms MS] [--collection C] [--pause-ms MS]\n"
			"       [--keyed [--upserts PCT] [--deletes PCT]]\n");
		return 2;
	}
	roost *r;
	int rc = roost_connect(&r, o.target);
	if (rc) {
		fprintf(stderr, "roost-agent: %s\n", roost_strerror(rc));
		return 1;
	}
	roost_set_timeout(r, o.timeout_ms);
	if (roost_use(r, o.collection) != 0) {
		fprintf(stderr, "roost-agent: bad collection name\n");
		roost_close(r);
		return 2;
	}
	if (o.keyed) {
		struct sigaction sa = {.sa_handler = agent_on_term, .sa_flags = SA_RESTART};
		sigaction(SIGTERM, &sa, NULL);
	}
	srand(o.seed);
	float *vecs = malloc(sizeof(float) * o.dim * ROOST_MAX_DOCS);
	char(*texts)[64] = malloc(64 * ROOST_MAX_DOCS);
	struct agent_keys *keys = o.keyed ? calloc(1, sizeof *keys) : NULL;
	int failed = 0;
	for (int req = 0;
	     req < o.requests && vecs && texts && (keys || !o.keyed) && !agent_stopping; req++) {
		int n = o.batch_min + rand() % (o.batch_max - o.batch_min + 1);
		if (keys)
			failed += agent_keyed(r, &o, req, n, vecs, texts, keys) != 0;
		else
			failed += agent_request(r, &o, req, n, vecs, texts, NULL) != 0;
		if (o.pause_ms && req + 1 < o.requests)
			agent_pause(o.pause_ms);
	}
	free(keys);
	free(vecs);
	free(texts);
	roost_close(r);
	return failed ? 3 : 0;
}
