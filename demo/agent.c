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
 * Tweets carry their own ids ("a<agent>p<post>t<i>") and the metadata the
 * simulation formats into its prompts: post index, user name and index,
 * topic, action (tweet or reply) and the original post of a reply. Every
 * third post replies to one of the agent's earlier tweets, which it first
 * gets by id. With --leave the agent leaves once it has posted: it deletes
 * every tweet of its own. Articles (--batch) get ids roost assigns.
 *
 * Output, one line per event, for scripts/demo.py:
 *   POST <lsn> <documents> <add latency us> <CLOCK_MONOTONIC us at the ack>
 *   ACK <id> <agent> <time> <kind> <text>
 *   SEARCH <latency us> <1 if the post was among the hits, else 0>
 *   REPLY <id replied to> <1 if the get found it, else 0>
 *   LEFT <tweets deleted> <lsn of the last delete>
 *   ERR <code> <message>
 */
#include "roost.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEMO_TWEETS	10 /* a post without --batch: 1 to this many tweets */
#define DEMO_MAX_BATCH	64
#define DEMO_TEXT	160
#define DEMO_ID		48
#define DEMO_META	256
#define DEMO_REPLY_EACH 3 /* every third post replies */
#define DEMO_FEED_K	10
#define DEMO_EPOCH	1700000000 /* simulation time of post 0 */

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
	int leave; /* delete every tweet of its own once it has posted */
};

/* What an agent has posted: its tweets' ids, to reply to and to delete. */
struct demo_state {
	char (*ids)[DEMO_ID];
	size_t n, cap;
	uint64_t lsn; /* of its last write */
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

/* A tweet's metadata, as the simulation keeps it; orig "" for none. */
static void demo_meta(const struct demo_opts *o, int post, const char *text, const char *orig,
		      char *meta)
{
	size_t topic = strcspn(text, " ");
	snprintf(meta, DEMO_META,
		 "{\"post\":%d,\"user\":\"agent%lld\",\"user_index\":%lld,\"topic\":\"%.*s\","
		 "\"action\":\"%s\",\"orig\":%s%s%s}",
		 post, (long long)o->agent, (long long)o->agent, (int)topic, text,
		 *orig ? "reply" : "tweet", *orig ? "\"" : "null", orig, *orig ? "\"" : "");
}

static int demo_remember(struct demo_state *st, const char *id)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		void *grown = realloc(st->ids, cap * sizeof *st->ids);
		if (!grown)
			return ROOST_ENOMEM;
		st->ids = grown;
		st->cap = cap;
	}
	size_t len = strnlen(id, DEMO_ID - 1);
	memcpy(st->ids[st->n], id, len);
	st->ids[st->n++][len] = '\0';
	return 0;
}

/* A reply is built from the post it answers: found by its id. */
static int demo_reply_to(roost *r, struct demo_state *st, uint64_t *rng, char *orig)
{
	*orig = '\0';
	if (st->n == 0)
		return 0;
	const char *id = st->ids[demo_next(rng) % st->n];
	roost_results *res = NULL;
	int rc = roost_get(r, &id, 1, 0, st->lsn, &res);
	if (rc) {
		printf("ERR %d get: %s\n", rc, roost_last_error(r));
		return rc;
	}
	const struct roost_hit *h;
	int found = roost_results_hits(res, 0, &h) == 1 && strcmp(h[0].key, id) == 0;
	printf("REPLY %s %d\n", id, found);
	if (found)
		snprintf(orig, DEMO_ID, "%s", id);
	roost_results_free(res);
	return 0;
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

static int demo_post(roost *r, const struct demo_opts *o, struct demo_state *st, uint64_t *rng,
		     int post, float *vecs)
{
	char texts[DEMO_MAX_BATCH][DEMO_TEXT], keys[DEMO_MAX_BATCH][DEMO_ID];
	char metas[DEMO_MAX_BATCH][DEMO_META], orig[DEMO_ID] = "";
	struct roost_doc docs[DEMO_MAX_BATCH];
	uint64_t ids[DEMO_MAX_BATCH], lsn;
	int tweets = !o->batch;
	int n = tweets ? 1 + (int)(demo_next(rng) % DEMO_TWEETS) : o->batch;
	if (tweets && post % DEMO_REPLY_EACH == DEMO_REPLY_EACH - 1 &&
	    demo_reply_to(r, st, rng, orig) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		demo_tweet(o, rng, post, i, texts[i]);
		demo_embed(texts[i], o->dim, vecs + (size_t)i * o->dim);
		snprintf(keys[i], DEMO_ID, "a%lldp%dt%d", (long long)o->agent, post, i);
		demo_meta(o, post, texts[i], i == 0 ? orig : "", metas[i]);
		docs[i] = (struct roost_doc){.vector = vecs + (size_t)i * o->dim,
					     .agent = o->agent,
					     .time = DEMO_EPOCH + (int64_t)post * 60 + i,
					     .kind = o->kind,
					     .text = texts[i],
					     .id = tweets ? keys[i] : NULL,
					     .metadata = tweets ? metas[i] : NULL};
	}
	int64_t t0 = demo_now_us();
	int rc = roost_add(r, o->dim, docs, (size_t)n, ROOST_ACK_DURABLE, ids, &lsn);
	int64_t t1 = demo_now_us();
	if (rc) {
		printf("ERR %d add: %s\n", rc, roost_last_error(r));
		return rc;
	}
	st->lsn = lsn;
	printf("POST %llu %d %lld %lld\n", (unsigned long long)lsn, n, (long long)(t1 - t0),
	       (long long)t1);
	for (int i = 0; i < n && rc == 0; i++) {
		if (!tweets)
			snprintf(keys[i], DEMO_ID, "#%llu", (unsigned long long)ids[i]);
		printf("ACK %s %lld %lld %s %s\n", keys[i], (long long)o->agent,
		       (long long)docs[i].time, o->kind, texts[i]);
		rc = tweets ? demo_remember(st, keys[i]) : 0;
	}
	if (rc == 0)
		rc = demo_read_feed(r, o, vecs, ids[0], lsn);
	fflush(stdout);
	return rc;
}

/* The agent leaves the simulation: its tweets go, acknowledged visible. */
static int demo_leave(roost *r, struct demo_state *st)
{
	uint64_t lsn = st->lsn;
	for (size_t at = 0; at < st->n; at += ROOST_MAX_DOCS) {
		size_t n = st->n - at < ROOST_MAX_DOCS ? st->n - at : ROOST_MAX_DOCS;
		const char *ids[ROOST_MAX_DOCS];
		for (size_t i = 0; i < n; i++)
			ids[i] = st->ids[at + i];
		int rc = roost_delete(r, ids, n, ROOST_ACK_VISIBLE, &lsn);
		if (rc) {
			printf("ERR %d delete: %s\n", rc, roost_last_error(r));
			return rc;
		}
	}
	printf("LEFT %zu %llu\n", st->n, (unsigned long long)lsn);
	fflush(stdout);
	return 0;
}

static int demo_parse(int argc, char **argv, struct demo_opts *o)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},
	    {"dim", required_argument, 0, 'd'},
	    {"agent", required_argument, 0, 'a'},
	    {"posts", required_argument, 0, 'p'},
	    {"seed", required_argument, 0, 's'},
	    {"timeout-ms", required_argument, 0, 't'},
	    {"collection", required_argument, 0, 'c'},
	    {"kind", required_argument, 0, 'k'},
	    {"batch", required_argument, 0, 'b'},
	    {"leave", no_argument, 0, 'l'},
	    {0, 0, 0, 0},
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
		else if (opt == 'l')
			o->leave = 1;
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
				"       [--collection C] [--kind K] [--batch 1..64] [--leave]\n");
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
	struct demo_state st = {0};
	int failed = !vecs;
	for (int post = 0; post < o.posts && vecs; post++)
		failed += demo_post(r, &o, &st, &rng, post, vecs) != 0;
	if (o.leave && !failed)
		failed += demo_leave(r, &st) != 0;
	free(st.ids);
	free(vecs);
	roost_close(r);
	return failed ? 3 : 0;
}
