/* libroost: the C client library.
 *
 * A handle talks to one instance through its brokers. It is not for
 * concurrent use: give each thread its own handle (they are cheap), as
 * with an SP REQ socket. An instance holds named collections; a handle's
 * adds, searches and status go to the one roost_use() names ("default"
 * until then). Every function returns 0 or a negative
 * ROOST_E* code (err.h); roost_last_error() holds the server's message for
 * the last failure on that handle.
 *
 * Adds are idempotent: each handle has a random client id and numbers its
 * requests; a retry (after BUSY, a timeout, or a broker that died) resends
 * the same key, so the server returns the original ids instead of adding
 * the batch twice. roost_set_client_id() gives a load a stable identity
 * instead, so that a rerun after a crash stores nothing twice.
 */
#ifndef ROOST_H
#define ROOST_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

/* The release this header and libroost belong to; `roost --version`
 * prints it. */
#define ROOST_VERSION "0.1.0"

typedef struct roost roost;

enum roost_ack {
	ROOST_ACK_DEFAULT = 0, /* durable */
	ROOST_ACK_QUEUED = 1,  /* committed in the shared-memory ring */
	ROOST_ACK_DURABLE = 2, /* in the writer's fsynced log */
	ROOST_ACK_VISIBLE = 3, /* searchable */
};

struct roost_doc {
	const float *vector; /* dim values */
	int64_t agent;
	int64_t time;
	const char *kind; /* NULL or UTF-8, at most 23 bytes */
	const char *text; /* NULL or UTF-8 */
	/* NULL or "": roost assigns the id. Else the document's own id,
	 * 1 .. 128 bytes of UTF-8 not beginning with '#', unique in the
	 * collection. */
	const char *id;
	const char *metadata; /* NULL, "" or one JSON object, at most 16384 bytes */
};

/* The instance, and the handle's collection: its name, dim, metric and
 * index (zeros and "" when it does not exist). */
struct roost_status {
	uint32_t dim;
	uint32_t metric; /* 0 L2, 1 inner product */
	char index[64];
	int32_t writer_pid; /* 0: no writer */
	char writer_mode[64];
	uint64_t ring_head, ring_reserve, ring_capacity;
	uint64_t durable_lsn, applied_lsn, published_lsn;
	uint64_t documents; /* in every collection */
	char collection[64];
	uint32_t collections;	/* how many the instance has */
	uint32_t agent_rate;	/* the answering broker's per-agent limit, documents/s; 0: none */
	uint64_t agent_refused; /* adds it refused for an agent over that rate */
};

/* Largest add request a client sends; brokers refuse larger frames. */
#define ROOST_MAX_FRAME (16u << 20)
#define ROOST_MAX_DOCS	1024u

/* Connects to an instance by name (its brokers' ipc:// sockets in the
 * runtime directory; searches, gets and scrolls then go straight to its
 * readers' own sockets there, unless ROOST_SEARCH_PATH=broker) or to a
 * comma-separated list of SP URLs (ipc://, tcp://), all through brokers. */
int roost_connect(roost **out, const char *target);
void roost_close(roost *r);

/* How long one call may take in all, retries included (default 30 s). */
void roost_set_timeout(roost *r, int timeout_ms);

/* The collection this handle's adds, searches and status name from now
 * on; NULL or "" means "default". ROOST_EINVAL for a name that cannot be
 * one (1 to 63 bytes of [A-Za-z0-9_.-], starting with a letter or digit),
 * and the handle keeps its collection. Whether it exists is the server's
 * answer to the next request (ROOST_ENOCOLL when it does not). */
int roost_use(roost *r, const char *collection);

/* A collection's settings. In roost_collection_create, 0 and NULL take the
 * writer's defaults (its --index, --train-docs, --seal-docs and
 * --seal-interval-ms), but for indexed_keys, where NULL and "" mean none;
 * dim is required. indexed_keys came last to both structs below, and
 * rebuilding after it to struct roost_collection, after 0.1.0 was first
 * built: a program compiled against a header without them must be
 * rebuilt (the structs' sizes, and so roost_collection_list's array
 * stride, changed). */
struct roost_collection_settings {
	uint32_t dim;
	uint32_t metric;	   /* 0 L2, 1 inner product */
	const char *index;	   /* FAISS factory string, e.g. "HNSW32" */
	uint64_t train_docs;	   /* trained types: vectors to train on */
	uint64_t seal_docs;	   /* documents per sealed segment, 4096 .. 2^24 */
	uint32_t seal_interval_ms; /* seal a tail this old */
	/* Top-level metadata keys readers index per sealed segment, so that
	 * filtered searches on them need not scan every row: comma-separated,
	 * e.g. "user,topic"; at most 8 distinct keys, each 1 to 63 bytes of
	 * [A-Za-z0-9_.-] starting with a letter or digit. */
	const char *indexed_keys;
};

/* A collection as the instance has it, its settings resolved. */
struct roost_collection {
	char name[64];
	uint32_t id; /* never reused, also after a drop */
	uint32_t dim, metric;
	char index[64];
	uint64_t train_docs, seal_docs;
	uint32_t seal_interval_ms;
	uint64_t documents;
	uint32_t segments;
	uint64_t created_lsn;
	char indexed_keys[128]; /* comma-separated; "" none */
	/* Sealed segments whose index was built before the last alter: the
	 * writer rebuilds them in the background, and they answer searches
	 * with their old index until then. */
	uint32_t rebuilding;
};

/* Creates a collection; acknowledged once every broker accepts adds for
 * it. A name that exists with the same settings is not an error: *existed
 * (may be NULL) tells. ROOST_EEXIST when it exists with other settings,
 * ROOST_EINVAL for a bad name or settings (an index FAISS cannot build:
 * the message has FAISS's words; indexed keys that break their rules). out may be NULL. Idempotent
 * like adds: a retry after a lost reply creates nothing twice. */
int roost_collection_create(roost *r, const char *name, const struct roost_collection_settings *s,
			    struct roost_collection *out, int *existed);

/* Drops a collection: its documents and files go, adds still queued for
 * it are refused (their waiting clients are told), and its name is free
 * for a new collection. ROOST_ENOCOLL when there is none by that name. */
int roost_collection_drop(roost *r, const char *name);

/* Alters a collection's FAISS index (a factory string; NULL or "" keeps
 * the current one) and its training size (train_docs; 0 keeps it); the
 * same index as the current one retrains it on the collection's data as it
 * is now (IVF, PQ, SQ; Flat and HNSW have nothing to retrain).
 * Acknowledged once applied: every seal from then on builds the new
 * index, while segments sealed before it are rebuilt in the background,
 * searchable throughout: out->rebuilding, and later
 * roost_collection_list, counts those left. ROOST_ENOCOLL when there
 * is no collection by that name, ROOST_EINVAL for a bad name or an index
 * FAISS cannot build at the collection's dimension and metric (the
 * message has FAISS's words), ROOST_ETOOBIG for an index over 63 bytes;
 * nothing changes then. out may be NULL. Idempotent like adds: a retry
 * after a lost reply alters nothing twice. */
int roost_collection_alter(roost *r, const char *name, const char *index, uint64_t train_docs,
			   struct roost_collection *out);

/* Makes collection name of what source held as of as_of_lsn (0: now),
 * with source's settings, sharing its sealed segments: a fork of a large
 * collection costs a link per file, not a copy. The two then change
 * independently; the source is never changed by the fork. as_of_lsn is
 * a reply's lsn, within the source's history (ROOST_EHISTORY names
 * where it starts; `roost up --retain` keeps more). ROOST_EEXIST when
 * name is taken, ROOST_ENOCOLL when source does not exist, ROOST_EINVAL
 * while source waits for the rows its index trains on. out may be NULL.
 * Idempotent like adds. */
int roost_collection_fork(roost *r, const char *source, const char *name, uint64_t as_of_lsn,
			  struct roost_collection *out);

/* Every collection, ascending id, in an array to give to
 * roost_collections_free. */
int roost_collection_list(roost *r, struct roost_collection **out, size_t *n);
void roost_collections_free(struct roost_collection *list);

/* Adds n documents. ids (n entries) and lsn receive what the server
 * assigned (a retry of a batch already accepted gets the original ones);
 * a document with its own id keeps it, and ids[i] numbers its version.
 * Retries on BUSY, timeouts and lost brokers with backoff until the
 * timeout. */
int roost_add(roost *r, uint32_t dim, const struct roost_doc *docs, size_t n, enum roost_ack ack,
	      uint64_t *ids, uint64_t *lsn);

/* Deletes n documents (1 .. ROOST_MAX_DOCS) by id: their own ids, or
 * "#<number>" for those roost numbered. Once acknowledged visible, or for
 * a search with min_lsn at or past *lsn (may be NULL), no search finds
 * them. An id the collection does not hold is no error. Retried and
 * idempotent like adds. */
int roost_delete(roost *r, const char *const *ids, size_t n, enum roost_ack ack, uint64_t *lsn);

/* A condition on a top-level key of the documents' metadata (see
 * docs/protocol.md, "Metadata conditions"): its value must equal one of
 * any_of, JSON scalars written as JSON text ("\"cats\"", "5", "true",
 * "null"; JSON types count: 5 is not "\"5\""), and lie in the range the
 * set bounds give. A document without the key does not match. At most
 * 1024 values of at most 1024 bytes; the key is 1 to 256 bytes. */
struct roost_condition {
	const char *key;
	const char *const *any_of; /* n_any_of values; none: no equality test */
	size_t n_any_of;
	int has_min; /* 1: the value is a number >= min (> min when exclusive) */
	double min;
	int min_exclusive;
	int has_max; /* 1: the value is a number <= max (< max when exclusive) */
	double max;
	int max_exclusive;
};

/* Search filters; every set field must match. */
struct roost_filter {
	const int64_t *agents; /* NULL: any agent */
	size_t nagents;
	int has_time; /* 1: time_min <= time <= time_max */
	int64_t time_min, time_max;
	const char *kind;		     /* NULL or "": any kind */
	const struct roost_condition *where; /* nwhere conditions (at most 16), all must hold */
	size_t nwhere;
};

/* Deletes every document filter admits (it must set some part) that was
 * added below the delete's LSN (*lsn): those added after it stay. As
 * roost_delete otherwise; ROOST_ETOOBIG when it matches more documents
 * than one delete may end (4 per document a sealed segment holds). */
int roost_delete_where(roost *r, const struct roost_filter *filter, enum roost_ack ack,
		       uint64_t *lsn);

/* One hit; its strings point into the result set. A document added
 * without an id of its own is known as "#<id>". */
struct roost_hit {
	uint64_t id; /* the number roost gave this version of the document */
	float score; /* L2: squared distance (lower is nearer); ip: similarity */
	int64_t agent;
	int64_t time;
	const char *kind;
	const char *text;
	const char *key;      /* the document's own id; "": none */
	const char *metadata; /* its JSON object as added; "": none */
	const float *vector;  /* dim values, from roost_get with vectors; else NULL */
	size_t dim;
};

typedef struct roost_results roost_results;

/* Searches nq query vectors (nq * dim floats) for their k nearest
 * documents (k <= 1024). min_lsn > 0 asks for data that includes that LSN
 * (read-your-writes: pass the lsn an add returned); the reader waits up
 * to the handle's timeout for it, then fails with ROOST_ENOTVISIBLE.
 * Retries on another reader when one dies; ROOST_ENOREADER when no reader
 * serves the instance. Free *out with roost_results_free(). */
int roost_search(roost *r, uint32_t dim, const float *queries, uint32_t nq, uint32_t k,
		 const struct roost_filter *filter, uint64_t min_lsn, roost_results **out);

/* Gets n documents (1 .. ROOST_MAX_DOCS) by id (their own, or
 * "#<number>"), with their vectors when with_vectors, from data that
 * includes min_lsn (0: any). *out holds one list (query 0) of the
 * documents found, in request order, score 0; ids not there are left
 * out. Free it with roost_results_free(). */
int roost_get(roost *r, const char *const *ids, size_t n, int with_vectors, uint64_t min_lsn,
	      roost_results **out);

/* A page of up to limit (1 .. 1024; 0: 100) documents that filter (NULL:
 * any) admits, in ascending number (the order they were added in), with
 * their vectors when with_vectors. cursor NULL or "": the first page, as
 * of data that includes min_lsn; else the last page's
 * roost_results_cursor(), and the page reads the state the first one
 * read (roost_results_lsn), whatever changed since. *out holds one list
 * (query 0); free it with roost_results_free(). */
int roost_scroll(roost *r, const struct roost_filter *filter, uint32_t limit, const char *cursor,
		 int with_vectors, uint64_t min_lsn, roost_results **out);

/* A scroll page's cursor for the next page; "" after the last one (and
 * for other results). Valid while res is. */
const char *roost_results_cursor(const roost_results *res);

/* Trades recall for speed in this handle's later searches: IVF indexes
 * visit nprobe inverted lists, HNSW indexes keep ef_search candidates
 * (each 1 .. 65536; 0, the default: the reader's, nlist/64 lists but at
 * least 8, and 64 candidates). Other index types, and the exactly scanned
 * recent documents, are not affected. */
void roost_set_search_tuning(roost *r, uint32_t nprobe, uint32_t ef_search);

/* This handle's later searches, gets and scrolls (their first page; later
 * pages read what the first did) read as of LSN lsn: the documents visible
 * when every record below it was applied, and none at or after it. An
 * answer's roost_results_lsn() names such a state, to read again later.
 * 0, the default: now. A call waits, as with min_lsn, for data that
 * reaches lsn; one before the collection's kept history (its create, or
 * documents compaction dropped) fails with ROOST_EHISTORY, naming where
 * it starts. For Flat the answer is the one of that moment; for
 * approximate indexes the documents are exactly those, ranked by today's
 * indexes. */
void roost_set_as_of(roost *r, uint64_t lsn);

/* Hits of query q (best first) and their count. */
size_t roost_results_hits(const roost_results *res, uint32_t q, const struct roost_hit **hits);

/* The LSN the answer was computed from: it includes every batch below it. */
uint64_t roost_results_lsn(const roost_results *res);

void roost_results_free(roost_results *res);

int roost_status(roost *r, struct roost_status *out);

/* The history the instance keeps (`roost up --retain`) and what the
 * handle's collection (roost_use) can be read as of. */
struct roost_history {
	char retain[48];      /* "none", "all", "lsn:N", or a window ("30m", "7d") */
	uint64_t horizon_lsn; /* with retention, what was visible from it on is kept; 0: none */
	uint64_t log_bytes;   /* log files kept for history alone */
	uint64_t start_lsn;   /* the collection's oldest readable LSN (roost_set_as_of) */
	uint64_t bytes;	      /* disk its versions ended by deletes and upserts take */
};

/* ROOST_ENOCOLL when the collection does not exist (the instance's
 * fields are filled in even then). */
int roost_history(roost *r, struct roost_history *out);

/* The message of the last failure on this handle ("" if none). */
const char *roost_last_error(const roost *r);

/* The handle's idempotency client id (for logs and tests). */
uint64_t roost_client_id(const roost *r);

/* Sets the idempotency key of this handle's next add to (client_id,
 * next_seq); later adds continue with next_seq + 1, ... Both must be
 * non-zero (ROOST_EINVAL). A load that numbers its batches the same way
 * every time (for instance by input line) and reruns with the same
 * client_id after a crash gets, for each batch the server still
 * remembers: the original ids for the newest one, ROOST_ESEQ (stored
 * before) for older ones, a new batch for the rest. The server remembers
 * each client's newest key only, and forgets a client idle for 10
 * minutes when its slot is needed; a client id must not be used by two
 * loads at once. */
int roost_set_client_id(roost *r, uint64_t client_id, uint64_t next_seq);

#endif
