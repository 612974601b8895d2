#include "clicoll.h"

#include "cliutil.h"
#include "coll.h"
#include "err.h"
#include "opt.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CLICOLL_DEFAULT_WAIT 30000

const char clicoll_usage[] =
    "usage: roost collections --name NAME [list] [--json]\n"
    "       roost collections --name NAME create COLL --dim D [--metric l2|ip]\n"
    "                         [--index FACTORY] [--train-docs N] [--seal-docs N]\n"
    "                         [--seal-interval-ms MS] [--indexed-keys K1,K2] [--json]\n"
    "       roost collections --name NAME describe COLL [--json]\n"
    "       roost collections --name NAME alter COLL [--index FACTORY] [--train-docs N]\n"
    "                         [--json]\n"
    "       roost collections --name NAME drop COLL\n"
    "       roost collections --name NAME fork COLL NEW [--as-of LSN] [--json]\n"
    "Lists, creates, describes, alters, drops or forks collections. Each collection has\n"
    "its own dimension, metric, FAISS index and seal policy; settings not given\n"
    "take the writer's defaults. Creating a collection that exists with the same\n"
    "settings is not an error (it says so); with other settings it is. A name is\n"
    "1 to 63 of A-Z a-z 0-9 _ . -, starting with a letter or digit; dropping a\n"
    "collection deletes its documents, and its name can then be used again.\n"
    "--indexed-keys names up to 8 top-level metadata keys (each following the\n"
    "rules of names, comma-separated) whose values readers index per sealed\n"
    "segment, so that filtered searches on them do not scan every row; other keys\n"
    "still filter. None by default. alter changes a live collection's index and\n"
    "training size (those not given stay; the same index, or neither option,\n"
    "retrains an IVF, PQ or SQ index on the data as it is now; Flat and HNSW have\n"
    "nothing to retrain): new seals use them at once, and the\n"
    "segments sealed before are rebuilt in the background, searchable throughout\n"
    "(REBUILDING counts those left). fork makes NEW of what COLL held as of LSN\n"
    "(an answer's lsn; default: now), with COLL's settings, sharing its sealed\n"
    "segments (a link per file, no copy); the two then change independently.\n"
    "--timeout-ms MS bounds the call (default 30000).\n";

enum clicoll_verb {
	CLICOLL_LIST,
	CLICOLL_CREATE,
	CLICOLL_DESCRIBE,
	CLICOLL_DROP,
	CLICOLL_ALTER,
	CLICOLL_FORK
};

struct clicoll_opts {
	const char *name, *coll, *index;
	const char *fork; /* fork: the new collection's name */
	uint64_t as_of;	  /* fork: 0, now */
	enum clicoll_verb verb;
	struct roost_collection_settings s;
	int json;
	int timeout_ms;
	int settings_given; /* any of the create options */
	int fixed_given;    /* any of those an alter cannot change */
};

static const char *const clicoll__verbs[] = {"list", "create", "describe", "drop", "alter", "fork"};

/* A number option of create, into its field. */
static int clicoll__setting(struct clicoll_opts *o, int opt, const char *arg)
{
	long long v;
	long long hi = opt == 'd' || opt == 'S' ? UINT32_MAX : INT64_MAX;
	if (opt == 'm') {
		if (strcmp(arg, "l2") != 0 && strcmp(arg, "ip") != 0)
			return ROOST_EINVAL;
		o->s.metric = strcmp(arg, "ip") == 0;
		return 0;
	}
	if (opt_number(arg, 1, hi, &v))
		return ROOST_EINVAL;
	if (opt == 'd')
		o->s.dim = (uint32_t)v;
	else if (opt == 'T')
		o->s.train_docs = (uint64_t)v;
	else if (opt == 's')
		o->s.seal_docs = (uint64_t)v;
	else
		o->s.seal_interval_ms = (uint32_t)v;
	return 0;
}

/* The verb and the collection it names, from the non-option arguments. */
static int clicoll__positional(struct clicoll_opts *o, const char *arg, int nth)
{
	if (nth == 1) {
		o->coll = arg;
		return 0;
	}
	if (nth == 2 && o->verb == CLICOLL_FORK) {
		o->fork = arg;
		return 0;
	}
	for (size_t i = 0; nth == 0 && i < sizeof clicoll__verbs / sizeof clicoll__verbs[0]; i++)
		if (strcmp(arg, clicoll__verbs[i]) == 0) {
			o->verb = (enum clicoll_verb)i;
			return 0;
		}
	return nth == 0
		   ? cliutil_usage(
			 "collections",
			 "unknown action '%s': list, create, describe, alter, drop or fork", arg)
		   : cliutil_usage("collections", "unexpected argument '%s'", arg);
}

static int clicoll__check(const struct clicoll_opts *o)
{
	if (!o->name)
		return cliutil_usage("collections", "--name is required");
	if (o->verb != CLICOLL_LIST && !o->coll)
		return cliutil_usage("collections", "%s needs the collection's name",
				     clicoll__verbs[o->verb]);
	if (o->verb == CLICOLL_LIST && o->coll)
		return cliutil_usage("collections", "unexpected argument '%s'", o->coll);
	if (o->verb == CLICOLL_CREATE && !o->s.dim)
		return cliutil_usage("collections", "create needs --dim");
	if (o->verb == CLICOLL_ALTER && o->fixed_given)
		return cliutil_usage("collections", "alter changes only --index and --train-docs");
	if (o->verb != CLICOLL_CREATE && o->verb != CLICOLL_ALTER && o->settings_given)
		return cliutil_usage("collections", "settings are given only to create and alter");
	if (o->verb == CLICOLL_DROP && o->json)
		return cliutil_usage("collections", "drop prints no JSON");
	if (o->verb == CLICOLL_FORK && !o->fork)
		return cliutil_usage("collections", "fork needs the new collection's name");
	if (o->verb != CLICOLL_FORK && o->as_of)
		return cliutil_usage("collections", "--as-of is given only to fork");
	return CLI_OK;
}

static int clicoll__parse(int argc, char **argv, struct clicoll_opts *o)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},
	    {"dim", required_argument, 0, 'd'},
	    {"metric", required_argument, 0, 'm'},
	    {"index", required_argument, 0, 'i'},
	    {"train-docs", required_argument, 0, 'T'},
	    {"seal-docs", required_argument, 0, 's'},
	    {"seal-interval-ms", required_argument, 0, 'S'},
	    {"indexed-keys", required_argument, 0, 'k'},
	    {"json", no_argument, 0, 'j'},
	    {"timeout-ms", required_argument, 0, 't'},
	    {"as-of", required_argument, 0, 'O'},
	    {0, 0, 0, 0},
	};
	long long v;
	int opt, idx = 0, nth = 0, rc;
	/* "-": arguments that are not options come back in order, as 1. */
	while ((opt = getopt_long(argc, argv, "-", opts, &idx)) != -1) {
		if (opt == 1 && (rc = clicoll__positional(o, optarg, nth++)) != 0)
			return rc;
		if (opt == 'n')
			o->name = optarg;
		else if (opt == 'i')
			o->index = optarg;
		else if (opt == 'k')
			o->s.indexed_keys = optarg;
		else if (opt == 'j')
			o->json = 1;
		else if (opt == 't' && opt_number(optarg, 1, 3600 * 1000, &v) == 0)
			o->timeout_ms = (int)v;
		else if (opt == 'O' && opt_number(optarg, 1, INT64_MAX, &v) == 0)
			o->as_of = (uint64_t)v;
		else if (opt == 't' || opt == 'O' ||
			 (strchr("dmTsS", opt) && clicoll__setting(o, opt, optarg)))
			return cliutil_usage("collections", "bad value '%s' for --%s", optarg,
					     opts[idx].name);
		else if (opt == '?')
			return CLI_USAGE;
		o->settings_given |= strchr("dmiTsSk", opt) != NULL;
		o->fixed_given |= strchr("dmsSk", opt) != NULL;
	}
	return clicoll__check(o);
}

static const char *clicoll__metric(uint32_t metric)
{
	return metric ? "ip" : "l2";
}

/* libroost reports only lists that passed coll_keys_check: their keys
 * need no JSON escapes. */
static void clicoll__json_keys(FILE *f, const char *keys)
{
	size_t at = 0, start, total = strlen(keys);
	fprintf(f, ",\"indexed_keys\":[");
	while (at < total) {
		size_t n = coll_keys_next(keys, &at, &start);
		fprintf(f, "%s\"%.*s\"", start ? "," : "", (int)n, keys + start);
	}
	fprintf(f, "]");
}

const char *clicoll_keys_text(const struct roost_collection *c)
{
	return c->indexed_keys[0] ? c->indexed_keys : "-";
}

void clicoll_json(FILE *f, const struct roost_collection *c, double ingest_rate, double search_rate,
		  const struct roost_history *h)
{
	fprintf(f, "{\"name\":");
	cliutil_json_str(f, c->name);
	fprintf(f, ",\"id\":%u,\"dim\":%u,\"metric\":\"%s\",\"index\":", c->id, c->dim,
		clicoll__metric(c->metric));
	cliutil_json_str(f, c->index);
	fprintf(f,
		",\"train_docs\":%llu,\"seal_docs\":%llu,\"seal_interval_ms\":%u,"
		"\"documents\":%llu,\"segments\":%u,\"rebuilding\":%u,\"created_lsn\":%llu",
		(unsigned long long)c->train_docs, (unsigned long long)c->seal_docs,
		c->seal_interval_ms, (unsigned long long)c->documents, c->segments, c->rebuilding,
		(unsigned long long)c->created_lsn);
	clicoll__json_keys(f, c->indexed_keys);
	if (ingest_rate >= 0)
		fprintf(f, ",\"ingest_docs_per_s\":%.1f", ingest_rate);
	if (search_rate >= 0)
		fprintf(f, ",\"searches_per_s\":%.1f", search_rate);
	if (h)
		fprintf(f, ",\"history_start_lsn\":%llu,\"history_bytes\":%llu",
			(unsigned long long)h->start_lsn, (unsigned long long)h->bytes);
	fprintf(f, "}");
}

/* A collection as the answer to a command: one line of JSON. */
static void clicoll__json_line(const struct roost_collection *c)
{
	clicoll_json(stdout, c, -1, -1, NULL);
	printf("\n");
}

static void clicoll__describe_text(const struct roost_collection *c)
{
	printf("collection %s (id %u)\n", c->name, c->id);
	printf("  dim %u, metric %s, index %s\n", c->dim, clicoll__metric(c->metric), c->index);
	printf("  indexed keys %s\n", c->indexed_keys[0] ? c->indexed_keys : "none");
	printf("  seals every %llu documents or %u ms; trains on %llu\n",
	       (unsigned long long)c->seal_docs, c->seal_interval_ms,
	       (unsigned long long)c->train_docs);
	printf("  %llu documents, %u sealed segments; created at lsn %llu\n",
	       (unsigned long long)c->documents, c->segments, (unsigned long long)c->created_lsn);
	printf("  %u sealed segments to rebuild with index %s (searchable meanwhile)\n",
	       c->rebuilding, c->index);
}

static void clicoll__table(const struct roost_collection *all, size_t n)
{
	printf("%-24s %-6s %-6s %-6s %-16s %-12s %-9s %-11s %s\n", "NAME", "ID", "DIM", "METRIC",
	       "INDEX", "DOCUMENTS", "SEGMENTS", "REBUILDING", "INDEXED-KEYS");
	for (size_t i = 0; i < n; i++)
		printf("%-24s %-6u %-6u %-6s %-16s %-12llu %-9u %-11u %s\n", all[i].name, all[i].id,
		       all[i].dim, clicoll__metric(all[i].metric), all[i].index,
		       (unsigned long long)all[i].documents, all[i].segments, all[i].rebuilding,
		       clicoll_keys_text(&all[i]));
	printf("%zu collection(s)\n", n);
}

/* Every collection of the instance, or a message and CLI_FAIL. */
static int clicoll__fetch(roost *r, const struct clicoll_opts *o, struct roost_collection **all,
			  size_t *n)
{
	int rc = roost_collection_list(r, all, n);
	return rc ? cliutil_fail("collections", o->name, rc, roost_last_error(r),
				 "list of the collections of '%s'", o->name)
		  : CLI_OK;
}

static int clicoll__list(roost *r, const struct clicoll_opts *o)
{
	struct roost_collection *all;
	size_t n;
	if (clicoll__fetch(r, o, &all, &n) != CLI_OK)
		return CLI_FAIL;
	if (o->json) {
		printf("{\"collections\":[");
		for (size_t i = 0; i < n; i++) {
			printf("%s", i ? "," : "");
			clicoll_json(stdout, &all[i], -1, -1, NULL);
		}
		printf("]}\n");
	} else {
		clicoll__table(all, n);
	}
	roost_collections_free(all);
	return CLI_OK;
}

static int clicoll__describe(roost *r, const struct clicoll_opts *o)
{
	struct roost_collection *all;
	size_t n;
	if (clicoll__fetch(r, o, &all, &n) != CLI_OK)
		return CLI_FAIL;
	const struct roost_collection *c = NULL;
	for (size_t i = 0; i < n && !c; i++)
		if (strcmp(all[i].name, o->coll) == 0)
			c = &all[i];
	if (c && o->json) {
		clicoll__json_line(c);
	} else if (c) {
		clicoll__describe_text(c);
	}
	roost_collections_free(all);
	return c ? CLI_OK
		 : cliutil_fail("collections", o->name, ROOST_ENOCOLL, NULL,
				"instance '%s' has no collection '%s'", o->name, o->coll);
}

static int clicoll__create(roost *r, struct clicoll_opts *o)
{
	struct roost_collection c;
	int existed = 0;
	o->s.index = o->index;
	int rc = roost_collection_create(r, o->coll, &o->s, &c, &existed);
	if (rc)
		return cliutil_fail("collections", o->name, rc, roost_last_error(r),
				    "create collection '%s'", o->coll);
	if (o->json) {
		clicoll__json_line(&c);
	} else {
		printf("%s %s (id %u): dim %u, metric %s, index %s%s%s\n",
		       existed ? "collection already exists, with these settings:"
			       : "created collection",
		       c.name, c.id, c.dim, clicoll__metric(c.metric), c.index,
		       c.indexed_keys[0] ? ", indexed keys " : "", c.indexed_keys);
	}
	return CLI_OK;
}

static int clicoll__alter(roost *r, const struct clicoll_opts *o)
{
	struct roost_collection c;
	int rc = roost_collection_alter(r, o->coll, o->index, o->s.train_docs, &c);
	if (rc)
		return cliutil_fail("collections", o->name, rc, roost_last_error(r),
				    "alter collection '%s'", o->coll);
	if (o->json) {
		clicoll__json_line(&c);
	} else {
		printf("altered collection %s (id %u): index %s, trains on %llu; %u sealed "
		       "segments to rebuild in the background\n",
		       c.name, c.id, c.index, (unsigned long long)c.train_docs, c.rebuilding);
	}
	return CLI_OK;
}

static int clicoll__fork(roost *r, const struct clicoll_opts *o)
{
	struct roost_collection c;
	int rc = roost_collection_fork(r, o->coll, o->fork, o->as_of, &c);
	if (rc)
		return cliutil_fail("collections", o->name, rc, roost_last_error(r),
				    "fork collection '%s' into '%s'", o->coll, o->fork);
	if (o->json)
		clicoll__json_line(&c);
	else
		printf("forked collection %s (id %u) from %s as of lsn %llu: %u shared segments of "
		       "%llu rows\n",
		       c.name, c.id, o->coll,
		       (unsigned long long)(o->as_of ? o->as_of : c.created_lsn), c.segments,
		       (unsigned long long)c.documents);
	return CLI_OK;
}

static int clicoll__drop(roost *r, const struct clicoll_opts *o)
{
	int rc = roost_collection_drop(r, o->coll);
	if (rc)
		return cliutil_fail("collections", o->name, rc, roost_last_error(r),
				    "drop collection '%s'", o->coll);
	printf("dropped collection %s\n", o->coll);
	return CLI_OK;
}

int clicoll_main(int argc, char **argv)
{
	struct clicoll_opts o = {.verb = CLICOLL_LIST, .timeout_ms = CLICOLL_DEFAULT_WAIT};
	int rc = clicoll__parse(argc, argv, &o);
	if (rc)
		return rc;
	roost *r = NULL;
	if (cliutil_connect("collections", o.name, NULL, o.timeout_ms, &r))
		return CLI_FAIL;
	switch (o.verb) {
	case CLICOLL_CREATE:
		rc = clicoll__create(r, &o);
		break;
	case CLICOLL_DESCRIBE:
		rc = clicoll__describe(r, &o);
		break;
	case CLICOLL_DROP:
		rc = clicoll__drop(r, &o);
		break;
	case CLICOLL_ALTER:
		rc = clicoll__alter(r, &o);
		break;
	case CLICOLL_FORK:
		rc = clicoll__fork(r, &o);
		break;
	default:
		rc = clicoll__list(r, &o);
		break;
	}
	roost_close(r);
	return rc;
}
