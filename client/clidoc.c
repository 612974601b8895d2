#include "clidoc.h"

#include "cliutil.h"
#include "cliwhere.h"
#include "err.h"
#include "meta.h"
#include "opt.h"
#include "roost.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char clidoc_delete_usage[] =
    "usage: roost delete --name NAME [--collection C] [--ack queued|durable|visible]\n"
    "                    [--timeout-ms MS] [--file F|-] [ID...]\n"
    "       roost delete --name NAME [--collection C] [--ack ...] [--timeout-ms MS]\n"
    "                    [--agent A]... [--where COND]...\n"
    "Deletes the documents with these ids from collection C (default: default):\n"
    "their own ids, or \"#<number>\" for the ones roost numbered. The ids are the\n"
    "arguments, then the lines of F (stdin: -), one per line. An id the\n"
    "collection does not hold is no error. Each request of up to 1024 ids is\n"
    "acknowledged as --ack says (default durable); MS bounds each (default\n"
    "60000). Prints the count and the last delete's LSN on stderr: a search\n"
    "with --min-lsn at it no longer finds them. With --agent (any of them) and\n"
    "--where (as for search; all of them) instead of ids, it deletes every\n"
    "document they admit that was added before the delete.\n";

const char clidoc_get_usage[] =
    "usage: roost get --name NAME [--collection C] [--vectors] [--min-lsn L]\n"
    "                 [--as-of A] [--timeout-ms MS] [--file F|-] [ID...]\n"
    "Prints, one JSON object per line in the order asked, the documents of\n"
    "collection C (default: default) with these ids (their own, or\n"
    "\"#<number>\"), from data that includes LSN L (read your writes): id,\n"
    "number, agent, time, kind, text, metadata, and with --vectors the vector.\n"
    "With --as-of A, as they were at LSN A (an LSN an earlier read printed).\n"
    "The ids are the arguments, then the lines of F (stdin: -). Ids not there\n"
    "are left out and counted on stderr.\n";

const char clidoc_scroll_usage[] =
    "usage: roost scroll --name NAME [--collection C] [--agent A]... [--where COND]...\n"
    "                    [--vectors] [--min-lsn L] [--as-of A] [--page N]\n"
    "                    [--timeout-ms MS]\n"
    "Prints, one JSON object per line as roost get does, every document of\n"
    "collection C (default: default) that the filter admits (--agent: any of\n"
    "them; --where, as for search: all of them; neither: every document), in\n"
    "ascending number (the order their versions were added in). All pages read\n"
    "one state of the collection, from data that includes LSN L: what changes\n"
    "while it runs is not seen; with --as-of A, the state at LSN A. It asks N\n"
    "documents a page (1 .. 1024, default 1000); MS bounds each request\n"
    "(default 60000). Prints the count and the LSN read on stderr.\n";

#define CLIDOC_MAX_AGENTS 4096 /* the readers' filter limit */

struct clidoc_opts {
	const char *cmd;     /* "delete", "get" or "scroll" */
	const char *allowed; /* the option letters cmd takes */
	const char *name, *collection, *file;
	enum roost_ack ack;
	int timeout_ms;
	int vectors;	  /* get, scroll */
	uint64_t min_lsn; /* get, scroll */
	uint64_t as_of;	  /* get, scroll */
	uint32_t page;	  /* scroll */
	/* delete by filter, scroll */
	int64_t agents[CLIDOC_MAX_AGENTS];
	size_t nagents;
	struct cliwhere where;
};

/* The ids to delete, in order. */
struct clidoc_ids {
	char **ids;
	size_t n, cap;
};

static int clidoc__parse(int argc, char **argv, struct clidoc_opts *o)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},       {"file", required_argument, 0, 'f'},
	    {"ack", required_argument, 0, 'a'},	       {"timeout-ms", required_argument, 0, 't'},
	    {"collection", required_argument, 0, 'C'}, {"vectors", no_argument, 0, 'V'},
	    {"min-lsn", required_argument, 0, 'L'},    {"as-of", required_argument, 0, 'O'},
	    {"agent", required_argument, 0, 'g'},      {"where", required_argument, 0, 'W'},
	    {"page", required_argument, 0, 'p'},       {0, 0, 0, 0},
	};
	long long v = 0;
	int opt, idx = 0, bad = 0;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		char msg[256];
		if (opt == '?')
			return CLI_USAGE;
		if (!strchr(o->allowed, opt))
			return cliutil_usage(o->cmd, "--%s is not an option of %s", opts[idx].name,
					     o->cmd);
		if (opt == 'n')
			o->name = optarg;
		else if (opt == 'f')
			o->file = optarg;
		else if (opt == 'C')
			o->collection = optarg;
		else if (opt == 'V')
			o->vectors = 1;
		else if (opt == 'a')
			bad = cliutil_ack(optarg, &o->ack);
		else if (opt == 'g' && o->nagents == CLIDOC_MAX_AGENTS)
			return cliutil_usage(o->cmd, "at most %u --agent", CLIDOC_MAX_AGENTS);
		else if (opt == 'g' && (bad = opt_number(optarg, INT64_MIN, INT64_MAX, &v)) == 0)
			o->agents[o->nagents++] = v;
		else if (opt == 'W' && cliwhere_add(&o->where, optarg, msg, sizeof msg) != 0)
			return cliutil_usage(o->cmd, "--where %s: %s", optarg, msg);
		else if (opt == 'L' && (bad = opt_number(optarg, 0, INT64_MAX, &v)) == 0)
			o->min_lsn = (uint64_t)v;
		else if (opt == 'O' && (bad = opt_number(optarg, 1, INT64_MAX, &v)) == 0)
			o->as_of = (uint64_t)v;
		else if (opt == 't' && (bad = opt_number(optarg, 1, 3600 * 1000, &v)) == 0)
			o->timeout_ms = (int)v;
		else if (opt == 'p' && (bad = opt_number(optarg, 1, ROOST_MAX_DOCS, &v)) == 0)
			o->page = (uint32_t)v;
		if (bad)
			return cliutil_usage(o->cmd, "bad value '%s' for --%s", optarg,
					     opts[idx].name);
	}
	return o->name ? CLI_OK : cliutil_usage(o->cmd, "--name is required");
}

static int clidoc__push(struct clidoc_ids *ids, const char *id, size_t len)
{
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 64;
		char **grown = realloc(ids->ids, cap * sizeof *grown);
		if (!grown)
			return ROOST_ENOMEM;
		ids->ids = grown;
		ids->cap = cap;
	}
	if (!(ids->ids[ids->n] = strndup(id, len)))
		return ROOST_ENOMEM;
	ids->n++;
	return 0;
}

static void clidoc__free(struct clidoc_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->ids[i]);
	free(ids->ids);
}

/* One id per line; an empty line is skipped. */
static int clidoc__read(const char *cmd, const char *file, struct clidoc_ids *ids)
{
	FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (!in) {
		fprintf(stderr, "roost %s: cannot open %s: %s\n", cmd, file, strerror(errno));
		return CLI_FAIL;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len > 0)
			rc = clidoc__push(ids, line, (size_t)len);
	}
	free(line);
	if (in != stdin)
		fclose(in);
	return rc ? CLI_FAIL : CLI_OK;
}

static int clidoc__send(roost *r, const struct clidoc_opts *o, const struct clidoc_ids *ids)
{
	uint64_t lsn = 0;
	for (size_t at = 0; at < ids->n; at += ROOST_MAX_DOCS) {
		size_t n = ids->n - at < ROOST_MAX_DOCS ? ids->n - at : ROOST_MAX_DOCS;
		int rc = roost_delete(r, (const char *const *)ids->ids + at, n, o->ack, &lsn);
		if (rc)
			return cliutil_fail("delete", o->name, rc, roost_last_error(r),
					    "delete of ids %zu to %zu", at + 1, at + n);
	}
	fprintf(stderr, "roost delete: deleted %zu ids; last lsn %llu\n", ids->n,
		(unsigned long long)lsn);
	return CLI_OK;
}

/* One document as a JSON line. */
static void clidoc__print(const struct roost_hit *h)
{
	printf("{\"id\":");
	if (h->key && *h->key)
		cliutil_json_str(stdout, h->key);
	else
		printf("\"#%llu\"", (unsigned long long)h->id);
	printf(",\"number\":%llu,\"agent\":%lld,\"time\":%lld,\"kind\":", (unsigned long long)h->id,
	       (long long)h->agent, (long long)h->time);
	cliutil_json_str(stdout, h->kind ? h->kind : "");
	printf(",\"text\":");
	cliutil_json_str(stdout, h->text ? h->text : "");
	size_t mlen = h->metadata ? strlen(h->metadata) : 0;
	if (mlen && meta_check(h->metadata, mlen, NULL, 0) == 0)
		printf(",\"metadata\":%s", h->metadata);
	if (h->vector) {
		printf(",\"vector\":[");
		for (size_t i = 0; i < h->dim; i++)
			printf(i ? ",%.9g" : "%.9g", h->vector[i]);
		printf("]");
	}
	printf("}\n");
}

static int clidoc__fetch(roost *r, const struct clidoc_opts *o, const struct clidoc_ids *ids)
{
	size_t found = 0;
	roost_set_as_of(r, o->as_of);
	for (size_t at = 0; at < ids->n; at += ROOST_MAX_DOCS) {
		size_t n = ids->n - at < ROOST_MAX_DOCS ? ids->n - at : ROOST_MAX_DOCS;
		roost_results *res;
		int rc = roost_get(r, (const char *const *)ids->ids + at, n, o->vectors, o->min_lsn,
				   &res);
		if (rc)
			return cliutil_fail("get", o->name, rc, roost_last_error(r),
					    "get of ids %zu to %zu", at + 1, at + n);
		const struct roost_hit *h;
		size_t got = roost_results_hits(res, 0, &h);
		for (size_t i = 0; i < got; i++)
			clidoc__print(&h[i]);
		found += got;
		roost_results_free(res);
	}
	if (found < ids->n)
		fprintf(stderr, "roost get: %zu of %zu ids not found\n", ids->n - found, ids->n);
	return CLI_OK;
}

static int clidoc__delete_where(roost *r, const struct clidoc_opts *o)
{
	struct roost_filter f = {.agents = o->nagents ? o->agents : NULL,
				 .nagents = o->nagents,
				 .where = o->where.conds,
				 .nwhere = o->where.n};
	uint64_t lsn;
	int rc = roost_delete_where(r, &f, o->ack, &lsn);
	if (rc)
		return cliutil_fail("delete", o->name, rc, roost_last_error(r), "delete by filter");
	fprintf(stderr, "roost delete: deleted what the filter admits; lsn %llu\n",
		(unsigned long long)lsn);
	return CLI_OK;
}

/* A delete by filter: no ids to read. */
static int clidoc__filtered(const struct clidoc_opts *o)
{
	roost *r = NULL;
	int rc =
	    cliutil_connect(o->cmd, o->name, o->collection, o->timeout_ms, &r) ? CLI_FAIL : CLI_OK;
	if (rc == CLI_OK)
		rc = clidoc__delete_where(r, o);
	roost_close(r);
	return rc;
}

/* The ids of the command line and of --file, and a connection. */
static int clidoc__run(int argc, char **argv, struct clidoc_opts *o,
		       int (*op)(roost *r, const struct clidoc_opts *o,
				 const struct clidoc_ids *ids))
{
	int rc = clidoc__parse(argc, argv, o);
	int filtered = o->nagents || o->where.n;
	if (rc == 0 && filtered && (optind < argc || o->file))
		rc = cliutil_usage(o->cmd, "give ids or a filter (--agent, --where), not both");
	else if (rc == 0 && filtered)
		rc = clidoc__filtered(o);
	cliwhere_free(&o->where);
	if (rc || filtered)
		return rc;
	struct clidoc_ids ids = {0};
	for (int i = optind; rc == 0 && i < argc; i++)
		rc = clidoc__push(&ids, argv[i], strlen(argv[i])) ? CLI_FAIL : CLI_OK;
	if (rc == 0 && o->file)
		rc = clidoc__read(o->cmd, o->file, &ids);
	if (rc == 0 && ids.n == 0)
		rc = cliutil_usage(o->cmd, "no ids given: name them, or --file");
	roost *r = NULL;
	if (rc == 0)
		rc = cliutil_connect(o->cmd, o->name, o->collection, o->timeout_ms, &r) ? CLI_FAIL
											: CLI_OK;
	if (rc == 0)
		rc = op(r, o, &ids);
	roost_close(r);
	clidoc__free(&ids);
	return rc;
}

int clidoc_delete(int argc, char **argv)
{
	struct clidoc_opts o = {
	    .cmd = "delete", .allowed = "nfatCgW", .ack = ROOST_ACK_DURABLE, .timeout_ms = 60000};
	return clidoc__run(argc, argv, &o, clidoc__send);
}

int clidoc_get(int argc, char **argv)
{
	struct clidoc_opts o = {.cmd = "get", .allowed = "nftCVLO", .timeout_ms = 60000};
	return clidoc__run(argc, argv, &o, clidoc__fetch);
}

/* Every page of the scroll, printed as it comes. */
static int clidoc__pages(roost *r, const struct clidoc_opts *o)
{
	struct roost_filter f = {.agents = o->nagents ? o->agents : NULL,
				 .nagents = o->nagents,
				 .where = o->where.conds,
				 .nwhere = o->where.n};
	int filtered = o->nagents || o->where.n;
	char *cursor = NULL;
	uint64_t lsn = 0, count = 0;
	int rc = 0;
	roost_set_as_of(r, o->as_of);
	do {
		roost_results *res;
		rc = roost_scroll(r, filtered ? &f : NULL, o->page, cursor, o->vectors, o->min_lsn,
				  &res);
		free(cursor);
		cursor = NULL;
		if (rc)
			return cliutil_fail("scroll", o->name, rc, roost_last_error(r),
					    "scroll page after %llu documents",
					    (unsigned long long)count);
		const struct roost_hit *h;
		size_t got = roost_results_hits(res, 0, &h);
		for (size_t i = 0; i < got; i++)
			clidoc__print(&h[i]);
		count += got;
		lsn = roost_results_lsn(res);
		const char *next = roost_results_cursor(res);
		if (*next && !(cursor = strdup(next)))
			rc = ROOST_ENOMEM;
		roost_results_free(res);
	} while (rc == 0 && cursor);
	if (rc)
		return cliutil_fail("scroll", o->name, rc, NULL, "keeping the cursor");
	fprintf(stderr, "roost scroll: %llu documents as of lsn %llu\n", (unsigned long long)count,
		(unsigned long long)lsn);
	return CLI_OK;
}

int clidoc_scroll(int argc, char **argv)
{
	struct clidoc_opts o = {
	    .cmd = "scroll", .allowed = "ntCVLOgWp", .timeout_ms = 60000, .page = 1000};
	int rc = clidoc__parse(argc, argv, &o);
	if (rc == 0 && optind < argc)
		rc = cliutil_usage(o.cmd, "takes no ids: filter with --agent and --where");
	roost *r = NULL;
	if (rc == 0)
		rc = cliutil_connect(o.cmd, o.name, o.collection, o.timeout_ms, &r) ? CLI_FAIL
										    : CLI_OK;
	if (rc == 0)
		rc = clidoc__pages(r, &o);
	roost_close(r);
	cliwhere_free(&o.where);
	return rc;
}
