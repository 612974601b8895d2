#include "clireplay.h"

#include "batch.h"
#include "clicopy.h"
#include "cliutil.h"
#include "collrec.h"
#include "delrec.h"
#include "durable.h"
#include "err.h"
#include "manifest.h"
#include "opt.h"
#include "segment.h"
#include "tomb.h"
#include "wal.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIREPLAY_BATCH_BYTES (8u << 20) /* a batch made from segments, at most */
#define CLIREPLAY_STOP	      1		 /* the scan reached the LSN asked for */
#define CLIREPLAY_SPLIT	      2		 /* the LSN asked for splits a batch */
#define CLIREPLAY_LSN_ALIGN   16u	 /* a ring position, as every reply's LSN is */

struct clireplay {
	const char *from, *name, *to;
	uint64_t as_of; /* 0: the source log's end */
	char partial[PATH_MAX];
	struct manifest src;
	const struct manifest_coll *coll;
	uint64_t start; /* S: the rows below it come from the segments */
	struct tomb *tombs;
	uint64_t ntombs;
	struct clicopy_log log;
	/* The newest record is held back: its next becomes the copy's end. */
	void *held;
	uint32_t held_len;
	uint64_t held_lsn, held_next;
	uint64_t first;	      /* the copy's first record; 0: none yet */
	uint64_t client, seq; /* the key of the batches made from segments */
	uint64_t end;	      /* where the copy's log ends */
	uint64_t scanned;     /* the source log's end */
	uint64_t rows, records;
	int made_partial;
	int said; /* a failure was explained on stderr already */
};

/* ---- the copy's log ---- */

/* Appends the held record with next, then holds payload (lsn, next_lsn). */
static int clireplay__emit(struct clireplay *r, uint64_t lsn, uint64_t next, const void *payload,
			   uint32_t len)
{
	int rc = 0;
	if (r->held)
		rc = clicopy_log_append(&r->log, r->held_lsn, r->held_next, r->held, r->held_len);
	free(r->held);
	r->held = rc == 0 ? malloc(len ? len : 1) : NULL;
	if (rc == 0 && !r->held)
		rc = ROOST_ENOMEM;
	if (rc)
		return rc;
	memcpy(r->held, payload, len);
	r->held_len = len;
	r->held_lsn = lsn;
	r->held_next = next;
	r->first = r->first ? r->first : lsn;
	return 0;
}

/* The last record ends at the copy's end: past the LSN asked for (or the
 * source log's end) and every record kept, at a ring position, where a
 * writer goes on. */
static int clireplay__finish_log(struct clireplay *r)
{
	uint64_t end = r->as_of ? r->as_of : r->scanned;
	if (r->held && r->held_next > end)
		end = r->held_next;
	r->end = (end + CLIREPLAY_LSN_ALIGN - 1) & ~(uint64_t)(CLIREPLAY_LSN_ALIGN - 1);
	int rc = 0;
	if (r->held)
		rc = clicopy_log_append(&r->log, r->held_lsn, r->end, r->held, r->held_len);
	int closed = clicopy_log_close(&r->log);
	free(r->held);
	r->held = NULL;
	return rc ? rc : closed;
}

/* ---- rows from the segments ---- */

/* A run of rows of one segment with consecutive numbers: one batch, whose
 * LSN is the first number, so each row gets its number back. */
struct clireplay__run {
	const struct segment_docs *d;
	uint64_t first, n;
};

/* s[0..len) with a NUL after it, from the run's string space. */
static char *clireplay__str(char **space, const char *s, size_t len)
{
	char *out = *space;
	memcpy(out, s, len);
	out[len] = '\0';
	*space += len + 1;
	return out;
}

static void clireplay__doc(const struct segment_docs *d, uint64_t row, char **space,
			   Roost__Document *doc)
{
	roost__document__init(doc);
	doc->n_vector = d->dim;
	doc->vector = d->vectors + row * d->dim;
	doc->agent = d->agents[row];
	doc->time = d->times[row];
	doc->kind = clireplay__str(space, d->kinds[row].name, d->kinds[row].len);
	doc->text = clireplay__str(space, d->text + d->text_off[row], d->text_len[row]);
	const struct segment_ref *ref = d->refs ? &d->refs[row] : NULL;
	doc->id = clireplay__str(space, ref ? d->text + ref->key_off : "", ref ? ref->key_len : 0);
	doc->metadata =
	    clireplay__str(space, ref ? d->text + ref->meta_off : "", ref ? ref->meta_len : 0);
}

static uint64_t clireplay__row_bytes(const struct segment_docs *d, uint64_t row)
{
	const struct segment_ref *ref = d->refs ? &d->refs[row] : NULL;
	return d->kinds[row].len + d->text_len[row] + (ref ? ref->key_len + ref->meta_len : 0) + 4;
}

static int clireplay__emit_run(struct clireplay *r, const struct clireplay__run *run)
{
	const struct segment_docs *d = run->d;
	uint64_t bytes = 0;
	for (uint64_t i = 0; i < run->n; i++)
		bytes += clireplay__row_bytes(d, run->first + i);
	Roost__Document *docs = calloc(run->n, sizeof *docs);
	Roost__Document **ptrs = calloc(run->n, sizeof *ptrs);
	char *space = malloc(bytes), *at = space;
	int rc = docs && ptrs && space ? 0 : ROOST_ENOMEM;
	for (uint64_t i = 0; rc == 0 && i < run->n; i++) {
		clireplay__doc(d, run->first + i, &at, &docs[i]);
		ptrs[i] = &docs[i];
	}
	Roost__AddRequest add = ROOST__ADD_REQUEST__INIT;
	add.dim = d->dim;
	add.n_docs = run->n;
	add.docs = ptrs;
	add.client_id = r->client;
	add.seq = ++r->seq;
	size_t size = rc == 0 ? wire_batch_size(&add) : 0;
	uint64_t *batch = size ? malloc(size) : NULL; /* 8-byte aligned, as records are */
	if (rc == 0 && !batch)
		rc = size ? ROOST_ENOMEM : ROOST_ECORRUPT;
	if (rc == 0) {
		wire_batch_write(&add, r->coll->id, batch);
		uint64_t lsn = d->ids[run->first];
		rc = clireplay__emit(r, lsn, lsn + run->n, batch, (uint32_t)size);
	}
	r->rows += rc == 0 ? run->n : 0;
	free(batch);
	free(space);
	free(ptrs);
	free(docs);
	return rc;
}

/* Whether a row is visible as of S: added below it, and not ended below
 * it (section 2 of docs/storage.md). */
static int clireplay__visible(const struct clireplay *r, uint64_t version)
{
	if (version >= r->start)
		return 0;
	const struct tomb *t = tomb_find(r->tombs, r->ntombs, version);
	return !t || t->end_lsn >= r->start;
}

/* Whether row may join the run: the next number, and room left. */
static int clireplay__extends(const struct clireplay__run *run, uint64_t row, uint64_t *bytes)
{
	const struct segment_docs *d = run->d;
	uint64_t more = clireplay__row_bytes(d, row) + (uint64_t)d->dim * sizeof(float) + 64;
	if (run->n == 0 || (d->ids[row] == d->ids[run->first] + run->n && run->n < BATCH_MAX_DOCS &&
			    *bytes + more <= CLIREPLAY_BATCH_BYTES)) {
		*bytes += more;
		return 1;
	}
	return 0;
}

static int clireplay__segment_rows(struct clireplay *r, const struct segment_docs *d)
{
	struct clireplay__run run = {.d = d};
	uint64_t bytes = 0;
	int rc = 0;
	for (uint64_t row = 0; rc == 0 && row < d->count; row++) {
		if (!clireplay__visible(r, d->ids[row]))
			continue;
		if (!clireplay__extends(&run, row, &bytes)) {
			rc = clireplay__emit_run(r, &run);
			run.n = 0;
			bytes = 0;
			clireplay__extends(&run, row, &bytes);
		}
		run.first = run.n ? run.first : row;
		run.n++;
	}
	return rc == 0 && run.n ? clireplay__emit_run(r, &run) : rc;
}

static int clireplay__segments(struct clireplay *r)
{
	char path[PATH_MAX];
	int rc = 0;
	if (r->coll->tomb_gen && (rc = manifest_tomb_path(r->from, r->coll->id, r->coll->tomb_gen,
							  path, sizeof path)) == 0)
		rc = tomb_load(path, &r->tombs, &r->ntombs);
	uint32_t first, n;
	manifest_segments_of(&r->src, r->coll->id, &first, &n);
	for (uint32_t i = first; rc == 0 && i < first + n; i++) {
		const struct manifest_segment *s = &r->src.segments[i];
		struct segment_docs d;
		if (s->start_lsn >= r->start)
			break;
		rc = manifest_segment_path(r->from, s->coll, s->start_lsn, s->end_lsn, "docs", path,
					   sizeof path);
		if (rc == 0)
			rc = segment_load(path, SEGMENT_WITH_VECTORS, &d);
		if (rc == 0) {
			rc = clireplay__segment_rows(r, &d);
			segment_free(&d);
		}
	}
	return rc;
}

/* ---- records from the log ---- */

static int clireplay__ours(const struct clireplay *r, const void *payload, uint32_t len)
{
	struct delrec_view del;
	struct batch_view b;
	if (collrec_is(payload, len))
		return 0; /* the manifest holds the collection's newest settings */
	if (delrec_is(payload, len))
		return delrec_parse(payload, len, &del) == 0 && del.hdr->collection == r->coll->id;
	/* One its writer refused as malformed is left out, as it was there. */
	return batch_parse(payload, len, 0, &b) == 0 && batch_collection(&b) == r->coll->id;
}

/* As of an LSN inside a batch, only its documents numbered below it were
 * added: no record the log holds. A delete is whole at its LSN. */
static int clireplay__splits(const struct clireplay *r, uint64_t lsn, const void *payload,
			     uint32_t len)
{
	struct batch_view b;
	return !delrec_is(payload, len) && batch_parse(payload, len, 0, &b) == 0 &&
	       r->as_of < lsn + b.hdr->count;
}

static int clireplay__keep_record(void *arg, uint64_t lsn, uint64_t next, const void *payload,
				  uint32_t len)
{
	struct clireplay *r = arg;
	if (r->as_of && lsn >= r->as_of)
		return CLIREPLAY_STOP;
	r->scanned = next;
	if (lsn < r->start || !clireplay__ours(r, payload, len))
		return 0;
	if (r->as_of && next > r->as_of && clireplay__splits(r, lsn, payload, len)) {
		fprintf(stderr,
			"roost replay: LSN %llu splits the batch at LSN %llu (up to %llu): "
			"replay as of %llu or %llu\n",
			(unsigned long long)r->as_of, (unsigned long long)lsn,
			(unsigned long long)next, (unsigned long long)lsn,
			(unsigned long long)next);
		return CLIREPLAY_SPLIT;
	}
	r->records++;
	return clireplay__emit(r, lsn, next, payload, len);
}

/* The source log's records of the collection from S on, below the LSN
 * asked for. Read only: a torn tail stays in the source's file. */
static int clireplay__log_records(struct clireplay *r)
{
	char wal[PATH_MAX];
	uint64_t end = 0;
	int rc = clicopy_path(wal, r->from, "wal");
	r->scanned = r->src.tail_start;
	if (rc == 0)
		rc = wal_scan(wal, r->src.tail_start, clireplay__keep_record, r, &end);
	if (rc == CLIREPLAY_STOP)
		return 0;
	r->said = rc == CLIREPLAY_SPLIT;
	if (rc == CLIREPLAY_SPLIT)
		return ROOST_EINVAL;
	if (rc == 0 && end > r->scanned)
		r->scanned = end;
	if (rc == 0 && r->as_of > r->scanned) {
		fprintf(stderr, "roost replay: LSN %llu is past the end of %s's log (%llu)\n",
			(unsigned long long)r->as_of, r->from, (unsigned long long)r->scanned);
		r->said = 1;
		return ROOST_EINVAL;
	}
	return rc;
}

/* ---- the copy ---- */

static int clireplay__copy_trained(struct clireplay *r)
{
	char from[PATH_MAX], to[PATH_MAX];
	uint64_t gen = r->coll->trained_gen;
	int rc = manifest_trained_path(r->from, r->coll->id, gen, from, sizeof from);
	if (rc == 0)
		rc = manifest_trained_path(r->partial, r->coll->id, gen, to, sizeof to);
	uint64_t bytes = 0;
	return rc ? rc : clicopy_file(from, to, &bytes);
}

/* The collection alone, its history from S, its tail from the copy's first
 * record: a writer replays all of it. */
static int clireplay__store_manifest(struct clireplay *r)
{
	uint64_t from = r->first ? r->first : r->end;
	struct manifest_coll c = *r->coll;
	c.tail_start = from;
	c.tail_gen = r->src.gen;
	c.tomb_gen = 0;
	c.reclaimed_lsn = r->start > c.reclaimed_lsn ? r->start : c.reclaimed_lsn;
	/* Its generation, so the trained index keeps its name. */
	struct manifest m = {.gen = r->src.gen,
			     .version = MANIFEST_VERSION,
			     .next_coll = r->src.next_coll,
			     .catalog_lsn = from,
			     .tail_start = from,
			     .nkeys = r->src.nkeys,
			     .keys = r->src.keys}; /* as clireplay__keys left them */
	memcpy(m.name, r->src.name, sizeof m.name);
	int rc = manifest_add_coll(&m, &c);
	if (rc == 0)
		rc = manifest_store(r->partial, &m, 0600);
	free(m.colls);
	return rc;
}

/* The source's idempotency keys of requests below S, so that a retry of
 * one is still known (the log's records from S on bring theirs again);
 * and a client id of the copy's own, drawn as libroost draws them, for the
 * batches made from segments. */
static int clireplay__keys(struct clireplay *r)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < r->src.nkeys; i++)
		if (r->src.keys[i].lsn < r->start)
			r->src.keys[kept++] = r->src.keys[i];
	r->src.nkeys = kept;
	for (int taken = 1; taken;) {
		if (getrandom(&r->client, sizeof r->client, 0) != sizeof r->client)
			return roost_from_errno(errno);
		taken = r->client == 0;
		for (uint32_t i = 0; i < kept && !taken; i++)
			taken = r->src.keys[i].client_id == r->client;
	}
	return 0;
}

static int clireplay__build(struct clireplay *r)
{
	char wal[PATH_MAX];
	int rc = clireplay__keys(r);
	if (rc == 0 && mkdir(r->partial, 0700) != 0)
		rc = roost_from_errno(errno);
	r->made_partial = rc == 0;
	if (rc == 0)
		rc = clicopy_path(wal, r->partial, "wal");
	if (rc == 0)
		rc = clicopy_log_open(&r->log, wal, r->coll->created_lsn);
	if (rc == 0)
		rc = clireplay__segments(r);
	if (rc == 0 && r->start == r->coll->tail_start)
		rc = clireplay__log_records(r);
	int finished = clireplay__finish_log(r);
	rc = rc ? rc : finished;
	if (rc == 0 && r->coll->trained_gen)
		rc = clireplay__copy_trained(r);
	if (rc == 0)
		rc = clireplay__store_manifest(r);
	if (rc == 0)
		rc = clicopy_install(r->partial, r->to);
	if (rc == 0)
		r->made_partial = 0; /* it is NEW now */
	return rc;
}

/* ---- the source ---- */

/* "roost replay: <what>: <error>"; no instance is involved to hint at. */
__attribute__((format(printf, 2, 3))) static int clireplay__fail(int rc, const char *what, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;
	va_start(ap, what);
	vsnprintf(msg, sizeof msg, what, ap);
	va_end(ap);
	fprintf(stderr, "roost replay: %s: %s\n", msg, roost_strerror(rc));
	return CLI_FAIL;
}

/* A shared lock on the source's LOCK, which its writer holds exclusively
 * while it runs, kept until the copy is made (a writer starting meanwhile
 * is refused). A directory without one never had a writer: a backup. */
static int clireplay__lock_source(const struct clireplay *r, int *fd)
{
	char lock[PATH_MAX];
	int rc = clicopy_path(lock, r->from, "LOCK");
	*fd = rc == 0 ? open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	if (rc || (*fd < 0 && errno == ENOENT))
		return rc;
	if (*fd < 0)
		return clireplay__fail(roost_from_errno(errno), "opening %s", lock);
	if (flock(*fd, LOCK_SH | LOCK_NB) == 0)
		return 0;
	fprintf(stderr,
		"roost replay: %s is in use by a running writer; stop its instance (`roost down`) "
		"or replay from a backup of it (`roost backup --name NAME --to DIR`)\n",
		r->from);
	return CLI_FAIL;
}

static int clireplay__find(struct clireplay *r)
{
	int rc = manifest_load(r->from, &r->src);
	if (rc == ROOST_ENOENT) {
		fprintf(stderr, "roost replay: %s holds no roost data (no MANIFEST)\n", r->from);
		return CLI_FAIL;
	}
	if (rc)
		return clireplay__fail(rc, "reading %s/MANIFEST", r->from);
	r->coll = manifest_coll_named(&r->src, r->name);
	if (!r->coll) {
		fprintf(stderr, "roost replay: %s has no collection '%s'; it holds:", r->from,
			r->name);
		for (uint32_t i = 0; i < r->src.ncolls; i++)
			fprintf(stderr, " %s", r->src.colls[i].name);
		fprintf(stderr, "%s\n", r->src.ncolls ? "" : " none");
		return CLI_FAIL;
	}
	uint64_t history = manifest_history_start(r->coll->created_lsn, r->coll->reclaimed_lsn);
	if (r->as_of && r->as_of < history) {
		fprintf(stderr,
			"roost replay: %s: %s: the history of '%s' there starts at LSN %llu (an "
			"instance keeps more with `roost up --retain`)\n",
			r->from, roost_strerror(ROOST_EHISTORY), r->name,
			(unsigned long long)history);
		return CLI_FAIL;
	}
	r->start = r->as_of && r->as_of < r->coll->tail_start ? r->as_of : r->coll->tail_start;
	return CLI_OK;
}

static int clireplay__parse(int argc, char **argv, struct clireplay *r)
{
	static const struct option opts[] = {{"from", required_argument, 0, 'f'},
					     {"collection", required_argument, 0, 'c'},
					     {"as-of", required_argument, 0, 'a'},
					     {"to", required_argument, 0, 't'},
					     {0, 0, 0, 0}};
	int opt;
	long long v;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'f')
			r->from = optarg;
		else if (opt == 'c')
			r->name = optarg;
		else if (opt == 't')
			r->to = optarg;
		else if (opt == 'a' && opt_number(optarg, 1, INT64_MAX - 16, &v) == 0)
			r->as_of = (uint64_t)v;
		else if (opt == 'a')
			return cliutil_usage("replay", "--as-of: '%s' is not an LSN", optarg);
		else
			return CLI_USAGE;
	}
	if (optind < argc)
		return cliutil_usage("replay", "unexpected argument '%s'", argv[optind]);
	if (!r->from || !*r->from || !r->to || !*r->to)
		return cliutil_usage("replay", "--from DIR and --to NEW are required");
	if (!r->name)
		r->name = "default";
	if (snprintf(r->partial, sizeof r->partial, "%s.partial", r->to) >= (int)sizeof r->partial)
		return cliutil_usage("replay", "--to: the path is too long");
	return CLI_OK;
}

static int clireplay__new_target(const struct clireplay *r)
{
	struct stat st;
	if (lstat(r->to, &st) == 0)
		fprintf(stderr, "roost replay: %s exists; replay into a new folder\n", r->to);
	else if (lstat(r->partial, &st) == 0)
		fprintf(stderr,
			"roost replay: %s is what an interrupted replay left: remove it, or "
			"replay into another folder\n",
			r->partial);
	else
		return CLI_OK;
	return CLI_FAIL;
}

int clireplay_main(int argc, char **argv)
{
	static struct clireplay r;
	int lock = -1;
	int rc = clireplay__parse(argc, argv, &r);
	if (rc == CLI_OK)
		rc = clireplay__new_target(&r);
	if (rc == CLI_OK)
		rc = clireplay__lock_source(&r, &lock);
	if (rc == CLI_OK)
		rc = clireplay__find(&r);
	if (rc == CLI_OK && (rc = clireplay__build(&r)) != 0) {
		if (r.made_partial)
			clicopy_remove_tree(r.partial);
		rc = r.said ? CLI_FAIL
			    : clireplay__fail(rc, "replaying '%s' of %s into %s", r.name, r.from,
					      r.to);
	} else if (rc == CLI_OK) {
		uint64_t at = r.as_of ? r.as_of : r.end;
		printf("%llu\n", (unsigned long long)at);
		fprintf(stderr,
			"roost replay: collection '%s' of %s as of lsn %llu rebuilt into %s (%llu "
			"documents from segments, %llu records from the log; new records there "
			"from lsn %llu); `roost up --name NAME --data-dir %s --adopt` serves it\n",
			r.name, r.from, (unsigned long long)at, r.to, (unsigned long long)r.rows,
			(unsigned long long)r.records, (unsigned long long)r.end, r.to);
	}
	if (lock >= 0)
		close(lock);
	free(r.tombs);
	manifest_free(&r.src);
	return rc;
}
