#include "clidel.h"

#include "cliutil.h"
#include "err.h"
#include "opt.h"
#include "roost.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char clidel_usage[] =
    "usage: roost delete --name NAME [--collection C] [--ack queued|durable|visible]\n"
    "                    [--timeout-ms MS] [--file F|-] [ID...]\n"
    "Deletes the documents with these ids from collection C (default: default):\n"
    "their own ids, or \"#<number>\" for the ones roost numbered. The ids are the\n"
    "arguments, then the lines of F (stdin: -), one per line. An id the\n"
    "collection does not hold is no error. Each request of up to 1024 ids is\n"
    "acknowledged as --ack says (default durable); MS bounds each (default\n"
    "60000). Prints the count and the last delete's LSN on stderr: a search\n"
    "with --min-lsn at it no longer finds them.\n";

struct clidel_opts {
	const char *name, *collection, *file;
	enum roost_ack ack;
	int timeout_ms;
};

/* The ids to delete, in order. */
struct clidel_ids {
	char **ids;
	size_t n, cap;
};

static int clidel__parse(int argc, char **argv, struct clidel_opts *o)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},       {"file", required_argument, 0, 'f'},
	    {"ack", required_argument, 0, 'a'},	       {"timeout-ms", required_argument, 0, 't'},
	    {"collection", required_argument, 0, 'C'}, {0, 0, 0, 0},
	};
	long long v = 0;
	int opt, idx = 0, bad = 0;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (opt == 'n')
			o->name = optarg;
		else if (opt == 'f')
			o->file = optarg;
		else if (opt == 'C')
			o->collection = optarg;
		else if (opt == 'a')
			bad = cliutil_ack(optarg, &o->ack);
		else if (opt == 't' && (bad = opt_number(optarg, 1, 3600 * 1000, &v)) == 0)
			o->timeout_ms = (int)v;
		else if (opt != 't')
			return CLI_USAGE;
		if (bad)
			return cliutil_usage("delete", "bad value '%s' for --%s", optarg,
					     opts[idx].name);
	}
	return o->name ? CLI_OK : cliutil_usage("delete", "--name is required");
}

static int clidel__push(struct clidel_ids *ids, const char *id, size_t len)
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

static void clidel__free(struct clidel_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->ids[i]);
	free(ids->ids);
}

/* One id per line; an empty line is skipped. */
static int clidel__read(const char *file, struct clidel_ids *ids)
{
	FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (!in) {
		fprintf(stderr, "roost delete: cannot open %s: %s\n", file, strerror(errno));
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
			rc = clidel__push(ids, line, (size_t)len);
	}
	free(line);
	if (in != stdin)
		fclose(in);
	return rc ? CLI_FAIL : CLI_OK;
}

static int clidel__send(roost *r, const struct clidel_opts *o, const struct clidel_ids *ids)
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

int clidel_main(int argc, char **argv)
{
	struct clidel_opts o = {.ack = ROOST_ACK_DURABLE, .timeout_ms = 60000};
	int rc = clidel__parse(argc, argv, &o);
	if (rc)
		return rc;
	struct clidel_ids ids = {0};
	for (int i = optind; rc == 0 && i < argc; i++)
		rc = clidel__push(&ids, argv[i], strlen(argv[i])) ? CLI_FAIL : CLI_OK;
	if (rc == 0 && o.file)
		rc = clidel__read(o.file, &ids);
	if (rc == 0 && ids.n == 0)
		rc = cliutil_usage("delete", "no ids given: name them, or --file");
	roost *r = NULL;
	if (rc == 0)
		rc = cliutil_connect("delete", o.name, o.collection, o.timeout_ms, &r) ? CLI_FAIL
										       : CLI_OK;
	if (rc == 0)
		rc = clidel__send(r, &o, &ids);
	roost_close(r);
	clidel__free(&ids);
	return rc;
}
