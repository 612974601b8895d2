/* roost-agent: one simulated agent for system tests and the demo. It adds
 * deterministic documents through libroost and prints, for each
 * acknowledged request, its batch's LSN and then one line per document:
 *   LSN <lsn> <documents>
 *   ACK <id> <agent> <time> <kind> <vector hash> <text>
 * and one line per request that failed for good:
 *   ERR <code> <message>
 * Vectors derive from (agent, request, index), so tests can recompute and
 * compare them bit for bit. */
#include "roost.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

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
		default:
			return -1;
		}
	}
	return o->target && o->dim && o->batch_min >= 1 && o->batch_max >= o->batch_min &&
		       o->batch_max <= (int)ROOST_MAX_DOCS
		   ? 0
		   : -1;
}

static int agent_request(roost *r, const struct agent_opts *o, int req, int n, float *vecs,
			 char (*texts)[64])
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
					     .text = texts[i]};
	}
	int rc = roost_add(r, o->dim, docs, (size_t)n, o->ack, ids, &lsn);
	if (rc) {
		printf("ERR %d %s\n", rc, roost_last_error(r));
		return rc;
	}
	printf("LSN %llu %d\n", (unsigned long long)lsn, n);
	for (int i = 0; i < n; i++)
		printf("ACK %llu %lld %lld tweet %016llx %s\n", (unsigned long long)ids[i],
		       (long long)docs[i].agent, (long long)docs[i].time,
		       (unsigned long long)agent_hash(docs[i].vector, o->dim), texts[i]);
	fflush(stdout);
	return 0;
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
			"       [--seed S] [--timeout-ms MS] [--collection C]\n");
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
	srand(o.seed);
	float *vecs = malloc(sizeof(float) * o.dim * ROOST_MAX_DOCS);
	char(*texts)[64] = malloc(64 * ROOST_MAX_DOCS);
	int failed = 0;
	for (int req = 0; req < o.requests && vecs && texts; req++) {
		int n = o.batch_min + rand() % (o.batch_max - o.batch_min + 1);
		failed += agent_request(r, &o, req, n, vecs, texts) != 0;
	}
	free(vecs);
	free(texts);
	roost_close(r);
	return failed ? 3 : 0;
}
