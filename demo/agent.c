/* roost-demo-agent: one agent of the `make demo` social network.
 *
 * It posts `--posts` times a batch of 1 to 10 tweets (the add_tweets
 * pattern of the simulation roost was built for) through libroost, and
 * after each post reads its feed: a similarity search for its own newest
 * tweet with min_lsn set to the post's LSN, so the answer must include
 * the post (read-your-writes). With --batch N every post is N documents
 * instead (the simulation's articles, added in serial batches), of the
 * --kind given, to the --collection given.
 *
 * Tweets are made of words drawn from a small vocabulary plus a tag that
 * makes each one unique. Their vectors come from a toy embedder written
 * for the demo: feature hashing. Each word's FNV-1a hash picks a
 * dimension and a sign, and the sum is scaled to unit length. It is
 * deterministic and needs no model; real users bring real embeddings.
 *
 * Output, one line per event, for scripts/demo.py:
 *   POST <lsn> <documents> <add latency us> <CLOCK_MONOTONIC us at the ack>
 *   ACK <id> <agent> <time> <kind> <text>
 *   SEARCH <latency us> <1 if the post was among the hits, else 0>
 *   ERR <code> <message>
 */
#include "roost.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEMO_TWEETS    10 /* a post without --batch: 1 to this many tweets */
#define DEMO_MAX_BATCH 64
#define DEMO_TEXT      160
#define DEMO_FEED_K    10
#define DEMO_EPOCH     1700000000 /* simulation time of post 0 */

struct demo_opts {
	const char *name;
	const char *collection; /* NULL: default */
	const char *kind;
	int batch; /* 0: 1 to DEMO_TWEETS */
	uint32_t dim;
	int64_t agent;
	int posts;
	uint64_t seed;
	int timeout_ms;
};

static const char *const demo_words[] = {
    "coffee",  "rain",	 "election", "football", "music",   "garden", "startup", "vector",
    "index",   "gpu",	 "memory",   "agents",	 "weekend", "travel", "movie",	 "recipe",
    "science", "market", "climate",  "robots",	 "chess",   "poetry", "news",	 "city",
    "ocean",   "mount",	 "podcast",  "bitcoin",	 "library", "school", "health",	 "running",
    "pizza",   "sunset", "traffic",  "concert",	 "art",	    "photo",  "debate",	 "theory",
    "launch",  "bug",	 "release",  "deadline", "friends", "family", "dinner",	 "morning",
};
#define DEMO_NWORDS (sizeof demo_words / sizeof demo_words[0])

static uint64_t demo_next(uint64_t *s)
{
	/* splitmix64: a fixed sequence per seed, so runs are reproducible. */
	uint64_t x = (*s += 0x9e3779b97f4a7c15ull);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t demo_fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/* Feature hashing: every space-separated word adds +-1 to one dimension. */
static void demo_embed(const char *text, uint32_t dim, float *v)
{
	memset(v, 0, dim * sizeof *v);
	for (const char *w = text; *w;) {
		size_t n = strcspn(w, " ");
		if (n > 0) {
			uint64_t h = demo_fnv(w, n);
			v[h % dim] += (h >> 63) ? -1.0f : 1.0f;
		}
		w += n + (w[n] == ' ');
	}
	double norm = 0;
	for (uint32_t i = 0; i < dim; i++)
		norm += (double)v[i] * v[i];
	float scale = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
	for (uint32_t i = 0; i < dim; i++)
		v[i] *= scale;
}

static void demo_tweet(const struct demo_opts *o, uint64_t *rng, int post, int i, char *text)
{
	int words = 4 + (int)(demo_next(rng) % 6);
	int at = 0;
	for (int w = 0; w < words; w++)
		at += snprintf(text + at, DEMO_TEXT - (size_t)at, "%s ",
			       demo_words[demo_next(rng) % DEMO_NWORDS]);
	snprintf(text + at, DEMO_TEXT - (size_t)at, "#a%lldp%dt%d", (long long)o->agent, post, i);
}

static int64_t demo_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The feed read after a post: is the post's first tweet among the hits? */
static int demo_read_feed(roost *r, const struct demo_opts *o, const float *query, uint64_t id,
			  uint64_t lsn)
{
	roost_results *res = NULL;
	int64_t t0 = demo_now_us();
	int rc = roost_search(r, o->dim, query, 1, DEMO_FEED_K, NULL, lsn, &res);
	int64_t us = demo_now_us() - t0;
	if (rc) {
		printf("ERR %d search: %s\n", rc, roost_last_error(r));
		return rc;
	}
	const struct roost_hit *hits;
	size_t n = roost_results_hits(res, 0, &hits);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		found |= hits[i].id == id;
	printf("SEARCH %lld %d\n", (long long)us, found);
	roost_results_free(res);
	return 0;
}

static int demo_post(roost *r, const struct demo_opts *o, uint64_t *rng, int post, float *vecs)
{
	char texts[DEMO_MAX_BATCH][DEMO_TEXT];
	struct roost_doc docs[DEMO_MAX_BATCH];
	uint64_t ids[DEMO_MAX_BATCH], lsn;
	int n = o->batch ? o->batch : 1 + (int)(demo_next(rng) % DEMO_TWEETS);
	for (int i = 0; i < n; i++) {
		demo_tweet(o, rng, post, i, texts[i]);
		demo_embed(texts[i], o->dim, vecs + (size_t)i * o->dim);
		docs[i] = (struct roost_doc){.vector = vecs + (size_t)i * o->dim,
					     .agent = o->agent,
					     .time = DEMO_EPOCH + (int64_t)post * 60 + i,
					     .kind = o->kind,
					     .text = texts[i]};
	}
	int64_t t0 = demo_now_us();
	int rc = roost_add(r, o->dim, docs, (size_t)n, ROOST_ACK_DURABLE, ids, &lsn);
	int64_t t1 = demo_now_us();
	if (rc) {
		printf("ERR %d add: %s\n", rc, roost_last_error(r));
		return rc;
	}
	printf("POST %llu %d %lld %lld\n", (unsigned long long)lsn, n, (long long)(t1 - t0),
	       (long long)t1);
	for (int i = 0; i < n; i++)
		printf("ACK %llu %lld %lld %s %s\n", (unsigned long long)ids[i],
		       (long long)o->agent, (long long)docs[i].time, o->kind, texts[i]);
	rc = demo_read_feed(r, o, vecs, ids[0], lsn);
	fflush(stdout);
	return rc;
}

static int demo_parse(int argc, char **argv, struct demo_opts *o)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},       {"dim", required_argument, 0, 'd'},
	    {"agent", required_argument, 0, 'a'},      {"posts", required_argument, 0, 'p'},
	    {"seed", required_argument, 0, 's'},       {"timeout-ms", required_argument, 0, 't'},
	    {"collection", required_argument, 0, 'c'}, {"kind", required_argument, 0, 'k'},
	    {"batch", required_argument, 0, 'b'},      {0, 0, 0, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'n')
			o->name = optarg;
		else if (opt == 'd')
			o->dim = (uint32_t)strtoul(optarg, NULL, 10);
		else if (opt == 'a')
			o->agent = strtoll(optarg, NULL, 10);
		else if (opt == 'p')
			o->posts = atoi(optarg);
		else if (opt == 's')
			o->seed = strtoull(optarg, NULL, 10);
		else if (opt == 't')
			o->timeout_ms = atoi(optarg);
		else if (opt == 'c')
			o->collection = optarg;
		else if (opt == 'k')
			o->kind = optarg;
		else if (opt == 'b')
			o->batch = atoi(optarg);
		else
			return -1;
	}
	return o->name && o->dim > 0 && o->dim <= 65536 && o->posts >= 0 && o->batch >= 0 &&
		       o->batch <= DEMO_MAX_BATCH
		   ? 0
		   : -1;
}

int main(int argc, char **argv)
{
	struct demo_opts o = {.posts = 20, .seed = 1, .timeout_ms = 60000, .kind = "tweet"};
	if (demo_parse(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: roost-demo-agent --name NAME --dim D [--agent A] "
				"[--posts N] [--seed S] [--timeout-ms MS]\n"
				"       [--collection C] [--kind K] [--batch 1..64]\n");
		return 2;
	}
	roost *r;
	int rc = roost_connect(&r, o.name);
	if (rc) {
		printf("ERR %d connect: %s\n", rc, roost_strerror(rc));
		return 1;
	}
	roost_set_timeout(r, o.timeout_ms);
	if (roost_use(r, o.collection) != 0) {
		printf("ERR %d collection: bad name '%s'\n", ROOST_EINVAL, o.collection);
		roost_close(r);
		return 2;
	}
	uint64_t rng = o.seed * 1000003u + (uint64_t)o.agent;
	float *vecs = malloc(sizeof(float) * o.dim * DEMO_MAX_BATCH);
	int failed = !vecs;
	for (int post = 0; post < o.posts && vecs; post++)
		failed += demo_post(r, &o, &rng, post, vecs) != 0;
	free(vecs);
	roost_close(r);
	return failed ? 3 : 0;
}
