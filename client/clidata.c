#include "clidata.h"

#include "cliutil.h"
#include "cliwhere.h"
#include "err.h"
#include "json.h"
#include "meta.h"
#include "opt.h"
#include "roost.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIDATA_MAX_AGENTS   4096 /* the readers' filter limit */
#define CLIDATA_PROGRESS_MS  1000
#define CLIDATA_DEFAULT_WAIT 60000

#define CLIDATA_EXIT_SIGNAL 130	 /* after SIGINT or SIGTERM, as a shell reports it */
#define CLIDATA_SLICE_MS    1000 /* one attempt at a batch: how late a signal is seen */
#define CLIDATA_GRACE_MS    5000 /* after a signal, for the batch in flight */

const char clidata_add_usage[] =
    "usage: roost add --name NAME [--collection C] [--file F|-]\n"
    "                 [--ack queued|durable|visible] [--batch N] [--client-id ID]\n"
    "                 [--timeout-ms MS]\n"
    "Adds documents to collection C (default: default) from JSON lines (F, or\n"
    "stdin: -), one per line:\n"
    "  {\"vector\":[0.1,...],\"agent\":7,\"time\":1700000000,\"kind\":\"tweet\",\"text\":\"...\"}\n"
    "(only vector is required), in batches of N (1 to 1024, default 256), each\n"
    "acknowledged as --ack says (default durable). Prints each assigned id on\n"
    "stdout in input order, and a summary on stderr. MS bounds each batch,\n"
    "retries included (default 60000). Ctrl-C (SIGINT) or SIGTERM stops after\n"
    "the batch in flight (at most 5 s more; a second one gives it up), says\n"
    "what is stored and exits 130. --client-id ID (a non-zero 64-bit number)\n"
    "is the load's idempotency identity: run again on the same input with the\n"
    "same --batch and ID, it stores each line once, skipping what an earlier\n"
    "run stored. Without it a random ID is used, and printed when interrupted.\n";

const char clidata_search_usage[] =
    "usage: roost search --name NAME [--collection C] --vector V [-k K]\n"
    "                    [--agent A]... [--time-min T] [--time-max T] [--kind K]\n"
    "                    [--where COND]... [--min-lsn L] [--as-of A]\n"
    "                    [--nprobe N] [--ef-search N] [--json] [--timeout-ms MS]\n"
    "Searches collection C (default: default) for the K (1 to 1024, default 10)\n"
    "documents nearest to V, given as \"0.1,0.2,...\" or as a JSON array\n"
    "'[0.1, 0.2, ...]'. Filters: any of the\n"
    "--agent values, time within [T, T] (inclusive), kind, and up to 16\n"
    "conditions on top-level metadata keys, all of which must hold:\n"
    "--where KEY=JSON (the value equals a JSON scalar: topic='\"cats\"', n=5,\n"
    "flag=true, orig=null; or any in a JSON array: topic='[\"cats\",\"dogs\"]';\n"
    "types count, 5 is not \"5\"), --where 'KEY>=NUM' (also >, <=, <: a numeric\n"
    "range; quote it for the shell). --min-lsn L answers\n"
    "only from data that includes LSN L (read your writes); --as-of A searches\n"
    "the documents as they were at LSN A (an LSN an earlier read printed).\n"
    "--nprobe (IVF) and --ef-search (HNSW) trade recall for speed, 1 to 65536.\n"
    "Prints a table, or JSON with --json.\n";

struct clidata_add_opts {
	const char *name, *collection, *file;
	enum roost_ack ack;
	int batch;
	int timeout_ms;
	uint64_t client_id; /* 0: the handle's own, random */
};

/* The documents of one request and where they came from. */
struct clidata_batch {
	struct json_document *docs;
	struct roost_doc *rdocs;
	uint64_t *ids;
	size_t n;
	long first_line, last_line;
};

struct clidata_progress {
	int64_t start_ms, shown_ms;
	uint64_t client_id;
	uint64_t docs, batches, lsn;
	long done_line; /* every line up to it is stored */
	/* Stored by an earlier run with this client id (ESEQ). */
	uint64_t earlier;
	long earlier_first, earlier_last;
	/* In flight when a signal came, and given up: stored or not. */
	long abandoned_first, abandoned_last;
};

/* SIGINT and SIGTERM: the first stops the load after the batch in flight
 * (bounded by CLIDATA_GRACE_MS), a second one gives that batch up after
 * the attempt in progress. */
static volatile sig_atomic_t clidata__signals;

static void clidata__on_signal(int sig)
{
	(void)sig;
	if (clidata__signals < 2)
		clidata__signals++;
}

static sigset_t clidata__stop_signals;

/* The signals are blocked everywhere but in the main thread while it
 * reads its input: no call into the client library (or its transport's
 * threads, which inherit the mask) is interrupted half-way, and a signal
 * that comes during one is taken when it returns. Call it before
 * connecting. No SA_RESTART: a read of stdin that waits for input ends at
 * once. */
static void clidata__catch_signals(void)
{
	struct sigaction sa = {.sa_handler = clidata__on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&clidata__stop_signals);
	sigaddset(&clidata__stop_signals, SIGINT);
	sigaddset(&clidata__stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &clidata__stop_signals, NULL);
}

/* Takes a signal that came while they were blocked. */
static void clidata__take_signals(void)
{
	pthread_sigmask(SIG_UNBLOCK, &clidata__stop_signals, NULL);
	pthread_sigmask(SIG_BLOCK, &clidata__stop_signals, NULL);
}

/* getline with the signals let through: -1 once one came. */
static ssize_t clidata__getline(char **line, size_t *cap, FILE *in)
{
	pthread_sigmask(SIG_UNBLOCK, &clidata__stop_signals, NULL);
	ssize_t n = clidata__signals ? -1 : getline(line, cap, in);
	pthread_sigmask(SIG_BLOCK, &clidata__stop_signals, NULL);
	return clidata__signals ? -1 : n;
}

static const char *clidata__ack_name(enum roost_ack ack)
{
	return ack == ROOST_ACK_QUEUED	  ? "queued"
	       : ack == ROOST_ACK_VISIBLE ? "visible"
					  : "durable";
}

/* A client id: a non-zero 64-bit number, decimal or 0x hexadecimal. */
static int clidata__client_id(const char *s, uint64_t *out)
{
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *digits = s + (hex ? 2 : 0);
	char *end;
	errno = 0;
	unsigned long long v = strtoull(digits, &end, hex ? 16 : 10);
	if (errno || end == digits || *end || !strchr("0123456789abcdefABCDEF", digits[0]) ||
	    v == 0)
		return ROOST_EINVAL;
	*out = v;
	return 0;
}

static int clidata__add_parse(int argc, char **argv, struct clidata_add_opts *o)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},       {"file", required_argument, 0, 'f'},
	    {"ack", required_argument, 0, 'a'},	       {"batch", required_argument, 0, 'b'},
	    {"timeout-ms", required_argument, 0, 't'}, {"client-id", required_argument, 0, 'c'},
	    {"collection", required_argument, 0, 'C'}, {0, 0, 0, 0},
	};
	long long v = 0;
	int opt, idx = 0, bad = 0;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		switch (opt) {
		case 'n':
			o->name = optarg;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'C':
			o->collection = optarg;
			break;
		case 'a':
			bad = cliutil_ack(optarg, &o->ack);
			break;
		case 'b':
			bad = opt_number(optarg, 1, ROOST_MAX_DOCS, &v);
			o->batch = (int)v;
			break;
		case 't':
			bad = opt_number(optarg, 1, 3600 * 1000, &v);
			o->timeout_ms = (int)v;
			break;
		case 'c':
			bad = clidata__client_id(optarg, &o->client_id);
			break;
		default:
			return CLI_USAGE;
		}
		if (bad)
			return cliutil_usage("add", "bad value '%s' for --%s", optarg,
					     opts[idx].name);
	}
	if (optind < argc)
		return cliutil_usage("add", "unexpected argument '%s'", argv[optind]);
	return o->name ? CLI_OK : cliutil_usage("add", "--name is required");
}

static void clidata__batch_clear(struct clidata_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		json_document_free(&b->docs[i]);
	b->n = 0;
}

static int clidata__retryable(int rc)
{
	return rc == ROOST_EBUSY || rc == ROOST_ETIMEDOUT || rc == ROOST_EWRITER ||
	       rc == ROOST_ECONN;
}

/* Sends a batch until it is through, refused, or its time is up: in
 * attempts of at most a slice, all with the batch's key, so that a signal
 * is seen between them. The key's sequence number is the batch's last
 * line, so that a rerun of the same input (same --batch) sends every batch
 * with the key it had. ROOST_ECLOSED: given up after a signal. */
static int clidata__attempts(roost *r, uint32_t dim, struct clidata_batch *b,
			     const struct clidata_add_opts *o, uint64_t client_id, uint64_t *lsn)
{
	int64_t deadline = cliutil_now_ms() + o->timeout_ms, grace = 0;
	int rc = ROOST_ETIMEDOUT;
	for (;;) {
		clidata__take_signals();
		int64_t now = cliutil_now_ms();
		if (clidata__signals && !grace)
			grace = now + CLIDATA_GRACE_MS;
		int64_t end = grace && grace < deadline ? grace : deadline;
		if (clidata__signals > 1 || now >= end)
			return grace ? ROOST_ECLOSED : rc;
		roost_set_client_id(r, client_id, (uint64_t)b->last_line);
		roost_set_timeout(
		    r, (int)(end - now < CLIDATA_SLICE_MS ? end - now : CLIDATA_SLICE_MS));
		rc = roost_add(r, dim, b->rdocs, b->n, o->ack, b->ids, lsn);
		if (!clidata__retryable(rc))
			return rc;
	}
}

static void clidata__progress(struct clidata_progress *p)
{
	int64_t now = cliutil_now_ms();
	if (now - p->shown_ms < CLIDATA_PROGRESS_MS)
		return;
	fprintf(stderr, "roost add: %llu documents, %.0f/s\n", (unsigned long long)p->docs,
		(double)p->docs * 1000.0 / (double)(now - p->start_ms + 1));
	p->shown_ms = now;
}

/* A document's id in string form: its own, or "#<number>" for one roost
 * assigned, so that the two can never be mistaken for each other. */
static void clidata__print_id(const char *key, uint64_t id, const char *end)
{
	if (key && *key)
		printf("%s%s", key, end);
	else
		printf("#%llu%s", (unsigned long long)id, end);
}

static int clidata__send(roost *r, uint32_t dim, struct clidata_batch *b,
			 const struct clidata_add_opts *o, struct clidata_progress *p)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct json_document *d = &b->docs[i];
		b->rdocs[i] = (struct roost_doc){.vector = d->vector,
						 .agent = d->agent,
						 .time = d->time,
						 .kind = d->kind,
						 .text = d->text,
						 .id = d->id,
						 .metadata = d->metadata};
	}
	uint64_t lsn;
	int rc = clidata__attempts(r, dim, b, o, p->client_id, &lsn);
	if (rc == ROOST_ECLOSED) {
		p->abandoned_first = b->first_line;
		p->abandoned_last = b->last_line;
		clidata__batch_clear(b);
		return CLIDATA_EXIT_SIGNAL;
	}
	if (rc == ROOST_ESEQ) {
		/* Older than the newest batch stored under this key. */
		if (!p->earlier)
			p->earlier_first = b->first_line;
		p->earlier += b->n;
		p->earlier_last = b->last_line;
	} else if (rc) {
		return cliutil_fail("add", o->name, rc, roost_last_error(r), "%s lines %ld-%ld",
				    o->file, b->first_line, b->last_line);
	} else {
		for (size_t i = 0; i < b->n; i++)
			clidata__print_id(b->docs[i].id, b->ids[i], "\n");
		/* Printed ids survive a crash of this process right after. */
		fflush(stdout);
		p->docs += b->n;
		p->batches++;
		p->lsn = lsn;
	}
	p->done_line = b->last_line;
	clidata__batch_clear(b);
	clidata__progress(p);
	return CLI_OK;
}

/* One input line into the batch: blank lines are skipped. */
static int clidata__line(const struct clidata_add_opts *o, char *line, long lineno, uint32_t dim,
			 struct clidata_batch *b)
{
	size_t len = strlen(line);
	while (len > 0 && strchr(" \t\r\n", line[len - 1]))
		line[--len] = '\0';
	if (strspn(line, " \t") == len)
		return CLI_OK;
	char msg[256];
	struct json_document *d = &b->docs[b->n];
	int rc = json_parse_document(line, len, d, msg, sizeof msg);
	if (rc) {
		/* The line is at fault, not a frame: say so in the file's terms. */
		fprintf(stderr, "roost add: %s:%ld: %s: %s\n", o->file, lineno,
			rc == ROOST_EPROTO ? "not valid JSON" : "not a valid document", msg);
		return CLI_FAIL;
	}
	size_t got = d->dim;
	if (got != dim) {
		json_document_free(d);
		return cliutil_fail("add", o->name, ROOST_EDIM, NULL,
				    "%s:%ld: the vector has %zu values but instance '%s' has "
				    "dimension %u",
				    o->file, lineno, got, o->name, dim);
	}
	if (b->n++ == 0)
		b->first_line = lineno;
	b->last_line = lineno;
	return CLI_OK;
}

static int clidata__add_stream(roost *r, uint32_t dim, FILE *in, const struct clidata_add_opts *o,
			       struct clidata_batch *b, struct clidata_progress *p)
{
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	int rc = CLI_OK;
	while (rc == CLI_OK && clidata__getline(&line, &cap, in) >= 0) {
		rc = clidata__line(o, line, ++lineno, dim, b);
		if (rc == CLI_OK && b->n == (size_t)o->batch)
			rc = clidata__send(r, dim, b, o, p);
	}
	if (rc == CLI_OK && clidata__signals)
		rc = CLIDATA_EXIT_SIGNAL; /* what was read but not sent is not in flight */
	if (rc == CLI_OK && ferror(in)) {
		fprintf(stderr, "roost add: cannot read %s after line %ld: %s\n", o->file, lineno,
			strerror(errno));
		rc = CLI_FAIL;
	}
	free(line);
	if (rc == CLI_OK && b->n > 0)
		rc = clidata__send(r, dim, b, o, p);
	clidata__batch_clear(b);
	return rc;
}

/* What to say after an interruption: what is stored, what may be, and how
 * to add the rest exactly once. */
static void clidata__interrupted(const struct clidata_add_opts *o, const struct clidata_progress *p)
{
	fprintf(stderr, "roost add: interrupted: added %llu documents in %llu batches (ack %s%s); ",
		(unsigned long long)p->docs, (unsigned long long)p->batches,
		clidata__ack_name(o->ack), p->docs ? "; ids above" : "");
	const char *input = strcmp(o->file, "-") == 0 ? "stdin" : o->file;
	if (p->done_line > 0)
		fprintf(stderr, "every line of %s up to %ld is stored\n", input, p->done_line);
	else
		fprintf(stderr, "no line of %s is stored yet\n", input);
	if (p->abandoned_last)
		fprintf(stderr,
			"roost add: the batch of lines %ld-%ld was given up in flight: it may or "
			"may not be stored\n",
			p->abandoned_first, p->abandoned_last);
	fprintf(stderr,
		"roost add: to add the rest exactly once, run it again on the same input with "
		"--batch %d --client-id %llu\n",
		o->batch, (unsigned long long)p->client_id);
}

static void clidata__summary(const struct clidata_add_opts *o, const struct clidata_progress *p)
{
	if (p->docs == 0 && p->earlier == 0)
		fprintf(stderr, "roost add: no documents in %s; nothing added\n", o->file);
	else if (p->docs > 0)
		fprintf(stderr,
			"roost add: added %llu documents in %llu batches (ack %s); last lsn %llu\n",
			(unsigned long long)p->docs, (unsigned long long)p->batches,
			clidata__ack_name(o->ack), (unsigned long long)p->lsn);
	if (p->earlier > 0)
		fprintf(
		    stderr,
		    "roost add: %llu documents (lines %ld-%ld) were stored before, by an earlier "
		    "run with client id %llu; their ids are not printed again\n",
		    (unsigned long long)p->earlier, p->earlier_first, p->earlier_last,
		    (unsigned long long)p->client_id);
}

static int clidata__add_run(roost *r, uint32_t dim, FILE *in, const struct clidata_add_opts *o)
{
	struct clidata_batch b = {.docs = calloc((size_t)o->batch, sizeof *b.docs),
				  .rdocs = calloc((size_t)o->batch, sizeof *b.rdocs),
				  .ids = calloc((size_t)o->batch, sizeof *b.ids)};
	struct clidata_progress p = {
	    .start_ms = cliutil_now_ms(),
	    .client_id = o->client_id ? o->client_id : roost_client_id(r),
	};
	p.shown_ms = p.start_ms;
	int rc = b.docs && b.rdocs && b.ids
		     ? clidata__add_stream(r, dim, in, o, &b, &p)
		     : cliutil_fail("add", o->name, ROOST_ENOMEM, NULL, "batch of %d", o->batch);
	free(b.docs);
	free(b.rdocs);
	free(b.ids);
	fflush(stdout);
	if (rc == CLIDATA_EXIT_SIGNAL) {
		clidata__interrupted(o, &p);
	} else if (rc != CLI_OK) {
		if (p.docs > 0)
			fprintf(
			    stderr,
			    "roost add: the %llu documents before that were added (ids above)\n",
			    (unsigned long long)p.docs);
		if (p.done_line > 0)
			fprintf(stderr,
				"roost add: once that is fixed, --client-id %llu with the same "
				"--batch adds the rest exactly once\n",
				(unsigned long long)p.client_id);
	} else {
		clidata__summary(o, &p);
	}
	return rc;
}

/* The collection's dimension, which every line's vector must have; an
 * instance without the collection is told apart from one that is down. */
static int clidata__status(roost *r, const struct clidata_add_opts *o, struct roost_status *st)
{
	int rc = roost_status(r, st);
	const char *coll = o->collection ? o->collection : "default";
	if (rc == 0 && st->dim == 0)
		rc = ROOST_ENOCOLL;
	if (rc == ROOST_ENOCOLL)
		return cliutil_fail("add", o->name, rc, NULL,
				    "instance '%s' has no collection '%s'", o->name, coll);
	if (rc)
		return cliutil_fail("add", o->name, rc, roost_last_error(r), "status of '%s'",
				    o->name);
	return 0;
}

int clidata_add(int argc, char **argv)
{
	struct clidata_add_opts o = {.file = "-",
				     .ack = ROOST_ACK_DURABLE,
				     .batch = 256,
				     .timeout_ms = CLIDATA_DEFAULT_WAIT};
	int rc = clidata__add_parse(argc, argv, &o);
	if (rc)
		return rc;
	clidata__catch_signals();
	FILE *in = strcmp(o.file, "-") == 0 ? stdin : fopen(o.file, "r");
	if (!in) {
		fprintf(stderr, "roost add: cannot open %s: %s\n", o.file, strerror(errno));
		return CLI_FAIL;
	}
	roost *r = NULL;
	struct roost_status st;
	rc = cliutil_connect("add", o.name, o.collection, o.timeout_ms, &r) ? CLI_FAIL : CLI_OK;
	if (rc == CLI_OK && (rc = clidata__status(r, &o, &st)) != 0)
		rc = CLI_FAIL;
	if (rc == CLI_OK)
		rc = clidata__add_run(r, st.dim, in, &o);
	roost_close(r);
	if (in != stdin)
		fclose(in);
	return rc;
}

struct clidata_search_opts {
	const char *name, *collection, *vector, *kind;
	uint32_t k;
	int64_t agents[CLIDATA_MAX_AGENTS];
	size_t nagents;
	int has_time;
	int64_t time_min, time_max;
	uint64_t min_lsn, as_of;
	uint32_t nprobe, ef_search;
	int json;
	int timeout_ms;
	struct cliwhere where;
};

/* A long option with an integer value, checked against its range. */
static int clidata__search_int(struct clidata_search_opts *o, int opt, const char *arg)
{
	long long v;
	int tuning = opt == 'P' || opt == 'E';
	long long lo = opt == 'k' || tuning ? 1 : INT64_MIN;
	long long hi = opt == 'k' ? 1024 : tuning ? 65536 : INT64_MAX;
	if (opt_number(arg, lo, hi, &v) || (opt == 'a' && o->nagents == CLIDATA_MAX_AGENTS) ||
	    ((opt == 'L' || opt == 't') && v < 0) || (opt == 'O' && v < 1))
		return ROOST_EINVAL;
	if (opt == 'k')
		o->k = (uint32_t)v;
	else if (opt == 'P')
		o->nprobe = (uint32_t)v;
	else if (opt == 'E')
		o->ef_search = (uint32_t)v;
	else if (opt == 'a')
		o->agents[o->nagents++] = v;
	else if (opt == 'T')
		o->time_min = v;
	else if (opt == 'U')
		o->time_max = v;
	else if (opt == 'L')
		o->min_lsn = (uint64_t)v;
	else if (opt == 'O')
		o->as_of = (uint64_t)v;
	else
		o->timeout_ms = (int)(v > 3600 * 1000 ? 3600 * 1000 : v);
	o->has_time |= opt == 'T' || opt == 'U';
	return 0;
}

static int clidata__search_parse(int argc, char **argv, struct clidata_search_opts *o)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},       {"vector", required_argument, 0, 'v'},
	    {"k", required_argument, 0, 'k'},	       {"agent", required_argument, 0, 'a'},
	    {"time-min", required_argument, 0, 'T'},   {"time-max", required_argument, 0, 'U'},
	    {"kind", required_argument, 0, 'K'},       {"min-lsn", required_argument, 0, 'L'},
	    {"as-of", required_argument, 0, 'O'},      {"nprobe", required_argument, 0, 'P'},
	    {"ef-search", required_argument, 0, 'E'},  {"json", no_argument, 0, 'j'},
	    {"timeout-ms", required_argument, 0, 't'}, {"collection", required_argument, 0, 'C'},
	    {"where", required_argument, 0, 'W'},      {0, 0, 0, 0},
	};
	int opt, idx = 0;
	while ((opt = getopt_long(argc, argv, "k:", opts, &idx)) != -1) {
		char msg[512];
		if (opt == 'W' && cliwhere_add(&o->where, optarg, msg, sizeof msg) != 0)
			return cliutil_usage("search", "%s", msg);
		if (opt == 'W')
			continue;
		if (opt == 'n')
			o->name = optarg;
		else if (opt == 'v')
			o->vector = optarg;
		else if (opt == 'K')
			o->kind = optarg;
		else if (opt == 'C')
			o->collection = optarg;
		else if (opt == 'j')
			o->json = 1;
		else if (opt == '?')
			return CLI_USAGE;
		else if (clidata__search_int(o, opt, optarg) != 0)
			return cliutil_usage("search", "bad value '%s' for %s", optarg,
					     opt == 'k' ? "-k" : opts[idx].name);
	}
	if (optind < argc)
		return cliutil_usage("search", "unexpected argument '%s'", argv[optind]);
	if (!o->name || !o->vector)
		return cliutil_usage("search", "--name and --vector are required");
	return CLI_OK;
}

/* "0.1,0.2,..." into a malloc'ed vector; NULL on anything else. */
static float *clidata__csv_vector(const char *s, size_t *dim)
{
	size_t cap = 1;
	for (const char *c = s; *c; c++)
		cap += *c == ',';
	float *v = malloc(cap * sizeof *v);
	size_t n = 0;
	for (const char *c = s; v && n < cap; n++) {
		char *end;
		v[n] = strtof(c, &end);
		while (*end == ' ' || *end == '\t')
			end++;
		if (end == c || !isfinite(v[n]) || (*end != ',' && *end != '\0'))
			break;
		c = end + (*end == ',');
		if (*end == '\0') {
			*dim = n + 1;
			return v;
		}
	}
	free(v);
	return NULL;
}

/* The query vector: a JSON array goes through the JSON-lines document
 * parser, so it is held to the same rules as `roost add` input. */
static float *clidata__vector(const char *s, size_t *dim)
{
	if (s[strspn(s, " \t")] != '[')
		return clidata__csv_vector(s, dim);
	size_t len = strlen(s) + 16;
	char *doc = malloc(len);
	struct json_document d;
	char msg[256];
	int rc = doc ? 0 : ROOST_ENOMEM;
	if (rc == 0) {
		snprintf(doc, len, "{\"vector\":%s}", s);
		rc = json_parse_document(doc, strlen(doc), &d, msg, sizeof msg);
	}
	free(doc);
	if (rc) {
		if (rc != ROOST_ENOMEM)
			fprintf(stderr, "roost search: --vector: %s\n", msg);
		return NULL;
	}
	float *v = d.vector;
	*dim = d.dim;
	d.vector = NULL;
	json_document_free(&d);
	return v;
}

static void clidata__print_json(const roost_results *res)
{
	const struct roost_hit *h;
	size_t n = roost_results_hits(res, 0, &h);
	printf("{\"lsn\":%llu,\"hits\":[", (unsigned long long)roost_results_lsn(res));
	for (size_t i = 0; i < n; i++) {
		printf("%s{\"id\":%llu,\"score\":", i ? "," : "", (unsigned long long)h[i].id);
		if (isfinite(h[i].score))
			printf("%.9g", h[i].score);
		else
			printf("null");
		printf(",\"agent\":%lld,\"time\":%lld,\"kind\":", (long long)h[i].agent,
		       (long long)h[i].time);
		cliutil_json_str(stdout, h[i].kind ? h[i].kind : "");
		printf(",\"text\":");
		cliutil_json_str(stdout, h[i].text ? h[i].text : "");
		if (h[i].key && *h[i].key) {
			printf(",\"key\":");
			cliutil_json_str(stdout, h[i].key);
		}
		size_t mlen = h[i].metadata ? strlen(h[i].metadata) : 0;
		if (mlen && meta_check(h[i].metadata, mlen, NULL, 0) == 0)
			printf(",\"metadata\":%s", h[i].metadata);
		printf("}");
	}
	printf("]}\n");
}

static void clidata__print_table(const roost_results *res)
{
	const struct roost_hit *h;
	size_t n = roost_results_hits(res, 0, &h);
	printf("%-5s %-20s %-12s %-10s %-12s %-10s %s\n", "RANK", "ID", "SCORE", "AGENT", "TIME",
	       "KIND", "TEXT");
	for (size_t i = 0; i < n; i++) {
		printf("%-5zu ", i + 1);
		int w = h[i].key && *h[i].key ? printf("%s", h[i].key)
					      : printf("#%llu", (unsigned long long)h[i].id);
		printf("%*s %-12.6g %-10lld %-12lld %-10s %s\n", w < 20 ? 20 - w : 0, "",
		       h[i].score, (long long)h[i].agent, (long long)h[i].time,
		       h[i].kind ? h[i].kind : "", h[i].text ? h[i].text : "");
	}
	printf("%zu hit(s), answered from data up to lsn %llu\n", n,
	       (unsigned long long)roost_results_lsn(res));
}

int clidata_search(int argc, char **argv)
{
	static struct clidata_search_opts o;
	o = (struct clidata_search_opts){.k = 10,
					 .time_min = INT64_MIN,
					 .time_max = INT64_MAX,
					 .timeout_ms = CLIDATA_DEFAULT_WAIT};
	int rc = clidata__search_parse(argc, argv, &o);
	size_t dim = 0;
	float *vec = rc ? NULL : clidata__vector(o.vector, &dim);
	if (!rc && !vec)
		rc = cliutil_usage("search", "--vector wants \"0.1,0.2,...\" or a JSON array of "
					     "finite numbers");
	if (rc) {
		cliwhere_free(&o.where);
		return rc;
	}
	roost *r = NULL;
	roost_results *res = NULL;
	struct roost_filter f = {.agents = o.nagents ? o.agents : NULL,
				 .nagents = o.nagents,
				 .has_time = o.has_time,
				 .time_min = o.time_min,
				 .time_max = o.time_max,
				 .kind = o.kind,
				 .where = o.where.conds,
				 .nwhere = o.where.n};
	rc = cliutil_connect("search", o.name, o.collection, o.timeout_ms, &r) ? CLI_FAIL : CLI_OK;
	if (rc == CLI_OK) {
		roost_set_search_tuning(r, o.nprobe, o.ef_search);
		roost_set_as_of(r, o.as_of);
	}
	if (rc == CLI_OK &&
	    (rc = roost_search(r, (uint32_t)dim, vec, 1, o.k, &f, o.min_lsn, &res)) != 0)
		rc = cliutil_fail("search", o.name, rc, roost_last_error(r),
				  "search of a %zu-value vector", dim);
	if (rc == CLI_OK && o.json)
		clidata__print_json(res);
	else if (rc == CLI_OK)
		clidata__print_table(res);
	roost_results_free(res);
	roost_close(r);
	free(vec);
	cliwhere_free(&o.where);
	return rc;
}
