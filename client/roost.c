/* libroost. Its internal names use lr_ (libroost): protobuf-c's generated
 * code owns the roost__ namespace. */
#include "roost.h"

#include "coll.h"
#include "inst.h"
#include "sp.h"
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* The longest one attempt waits before the request is sent again (with
 * the same key, perhaps to another broker): a broker that stopped
 * answering costs at most this much of a call's timeout. */
#define ROOST_ATTEMPT_MS 5000
/* Readers' sockets a handle dials at most, and how often it looks for
 * new ones (only when it is about to search). */
#define LR_MAX_READERS 64
#define LR_SCAN_MS     1000
/* How long a scan that found new readers waits for the first to connect
 * (ipc connects in well under a millisecond; a stopped reader never
 * does, and then the brokers' path is taken). */
#define LR_CONNECT_MS 50

struct roost {
	nng_socket sock; /* REQ, connected to every broker of the target */
	nng_ctx ctx;
	nng_aio *aio;
	/* A local instance's readers, dialed directly for searches, gets and
	 * scrolls: one hop instead of two. */
	int direct;
	nng_socket rsock; /* REQ, connected to every reader found */
	nng_ctx rctx;
	atomic_int readers; /* rsock's peers: sp_count_peers */
	struct inst in;
	int64_t scanned_ms;
	pid_t dialed[LR_MAX_READERS];
	int ndialed;
	uint64_t client_id;
	uint64_t seq;
	int timeout_ms;
	uint32_t nprobe, ef_search;   /* roost_set_search_tuning() */
	uint64_t as_of;		      /* roost_set_as_of() */
	char coll[COLL_NAME_MAX + 1]; /* roost_use(); "": the default */
	char err[256];
};

static int lr_fail(roost *r, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	return rc;
}

static int64_t lr_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int lr_connect_urls(roost *r, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return ROOST_ENOMEM;
	int n = 0, rc = 0;
	for (char *url = strtok_r(copy, ",", &save); url; url = strtok_r(NULL, ",", &save)) {
		char err[256];
		if (sp_dial(r->sock, url, err, sizeof err) != 0) {
			rc = lr_fail(r, ROOST_EINVAL, "%s", err);
			break;
		}
		n++;
	}
	free(copy);
	return rc ? rc : n ? 0 : lr_fail(r, ROOST_EINVAL, "no address given");
}

static int lr_dialed(const roost *r, pid_t pid)
{
	for (int i = 0; i < r->ndialed; i++)
		if (r->dialed[i] == pid)
			return 1;
	return 0;
}

static int lr_readers(roost *r)
{
	/* Relaxed: pairs with the relaxed adds of sp_count_peers; a send
	 * that finds the reader gone is sent to another or times out. */
	return atomic_load_explicit(&r->readers, memory_order_relaxed);
}

/* Waits a little for a new dialer to connect, so that a short-lived
 * client (one CLI search) takes the direct path too. */
static void lr_await_reader(roost *r)
{
	for (int ms = 0; ms < LR_CONNECT_MS && lr_readers(r) == 0; ms++)
		usleep(1000);
}

/* Dials the readers' sockets not dialed yet, in the background: a stale
 * file of a killed reader is retried there, and a reader that stopped
 * keeps its dialer, which connects again if its pid comes back. */
static void lr_scan_readers(roost *r)
{
	int before = r->ndialed;
	r->scanned_ms = lr_now_ms();
	DIR *d = opendir(r->in.run_dir);
	if (!d)
		return;
	const size_t plen = strlen(INST_SEARCH_SOCKET_PREFIX);
	struct dirent *e;
	while ((e = readdir(d)) && r->ndialed < LR_MAX_READERS) {
		char *end;
		if (strncmp(e->d_name, INST_SEARCH_SOCKET_PREFIX, plen) != 0)
			continue;
		long pid = strtol(e->d_name + plen, &end, 10);
		char url[INST_PATH_MAX];
		if (pid <= 0 || strcmp(end, INST_SEARCH_SOCKET_SUFFIX) != 0 ||
		    lr_dialed(r, (pid_t)pid) ||
		    inst_search_url(&r->in, (pid_t)pid, url, sizeof url) != 0)
			continue;
		if (sp_dial(r->rsock, url, NULL, 0) == 0)
			r->dialed[r->ndialed++] = (pid_t)pid;
	}
	closedir(d);
	if (r->ndialed > before)
		lr_await_reader(r);
}

/* The direct path to a local instance's readers, unless
 * ROOST_SEARCH_PATH=broker asks for the brokers' path only. Resends are
 * nng's here: a search is safe to repeat, and a reader that drops a
 * request (killed) has it sent again at once to another. */
static int lr_open_direct(roost *r, const struct inst *in)
{
	const char *path = getenv("ROOST_SEARCH_PATH");
	if (path && strcmp(path, "broker") == 0)
		return 0;
	int rc = sp_open_client(&r->rsock, WIRE_MAX_FRAME, ROOST_ATTEMPT_MS);
	if (rc)
		return rc;
	if (nng_ctx_open(&r->rctx, r->rsock) != 0 ||
	    nng_socket_set_ms(r->rsock, NNG_OPT_RECONNMAXT, LR_SCAN_MS) != 0 ||
	    sp_count_peers(r->rsock, &r->readers) != 0) {
		nng_close(r->rsock);
		return ROOST_ENOMEM;
	}
	r->in = *in;
	r->direct = 1;
	lr_scan_readers(r);
	return 0;
}

/* The readers' context when one is connected, looking for new ones at
 * most once a second. */
static int lr_reader_ready(roost *r)
{
	if (!r->direct)
		return 0;
	if (lr_now_ms() - r->scanned_ms >= LR_SCAN_MS)
		lr_scan_readers(r);
	return lr_readers(r) > 0;
}

/* An instance name: every broker socket in its runtime directory, and
 * its readers' own sockets. */
static int lr_connect_name(roost *r, const char *name)
{
	struct inst in;
	if (inst_init(&in, name, NULL) != 0)
		return lr_fail(r, ROOST_EINVAL, "'%s' is neither a URL nor an instance name", name);
	DIR *d = opendir(in.run_dir);
	if (!d)
		return lr_fail(r, ROOST_ENOENT, "no instance '%s' (no directory %s)", name,
			       in.run_dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char url[INST_PATH_MAX];
		if (strncmp(e->d_name, "broker-", 7) != 0 || !strstr(e->d_name, ".ipc") ||
		    inst_ipc_url(&in, e->d_name, url, sizeof url) != 0)
			continue;
		if (sp_dial(r->sock, url, NULL, 0) == 0)
			n++;
	}
	closedir(d);
	int rc = lr_open_direct(r, &in);
	if (rc)
		return lr_fail(r, rc, "cannot open a socket to the readers: %s",
			       roost_strerror(rc));
	if (n == 0 && r->ndialed == 0)
		return lr_fail(r, ROOST_ENOENT, "no instance '%s' (no broker sockets in %s)", name,
			       in.run_dir);
	return 0;
}

/* Resends are this library's job, with the same idempotency key, after a
 * backoff and within the call's timeout: nng's own are off, so a dropped
 * connection fails the attempt at once instead. */
static int lr_open(roost *r)
{
	int rc = sp_open_client(&r->sock, WIRE_MAX_FRAME, 0);
	if (rc)
		return rc;
	if (nng_ctx_open(&r->ctx, r->sock) != 0 || nng_aio_alloc(&r->aio, NULL, NULL) != 0) {
		nng_close(r->sock);
		return ROOST_ENOMEM;
	}
	return 0;
}

int roost_connect(roost **out, const char *target)
{
	roost *r = calloc(1, sizeof *r);
	if (!r)
		return ROOST_ENOMEM;
	r->timeout_ms = 30000;
	while (r->client_id == 0)
		if (getrandom(&r->client_id, sizeof r->client_id, 0) != sizeof r->client_id)
			r->client_id = (uint64_t)getpid() << 32 ^ (uint64_t)lr_now_ms();
	int rc = lr_open(r);
	if (rc) {
		free(r);
		return rc;
	}
	rc = strstr(target, "://") ? lr_connect_urls(r, target) : lr_connect_name(r, target);
	if (rc) {
		roost_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void roost_close(roost *r)
{
	if (!r)
		return;
	nng_close(r->sock);
	if (r->direct)
		nng_close(r->rsock);
	nng_aio_free(r->aio);
	free(r);
}

void roost_set_timeout(roost *r, int timeout_ms)
{
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
}

void roost_set_search_tuning(roost *r, uint32_t nprobe, uint32_t ef_search)
{
	r->nprobe = nprobe;
	r->ef_search = ef_search;
}

void roost_set_as_of(roost *r, uint64_t lsn)
{
	r->as_of = lsn;
}

int roost_use(roost *r, const char *collection)
{
	char why[128];
	if (collection && *collection && coll_name_check(collection, why, sizeof why) != 0)
		return lr_fail(r, ROOST_EINVAL, "%s", why);
	snprintf(r->coll, sizeof r->coll, "%s", collection ? collection : "");
	return 0;
}

const char *roost_last_error(const roost *r)
{
	return r->err;
}

uint64_t roost_client_id(const roost *r)
{
	return r->client_id;
}

int roost_set_client_id(roost *r, uint64_t client_id, uint64_t next_seq)
{
	if (client_id == 0 || next_seq == 0)
		return lr_fail(r, ROOST_EINVAL, "client id and sequence number must be non-zero");
	r->client_id = client_id;
	r->seq = next_seq - 1; /* roost_add uses ++seq */
	return 0;
}

/* One request, one reply, within wait_ms, straight to a reader or
 * through a broker. */
static int lr_call(roost *r, int to_reader, const Roost__Request *req, int wait_ms,
		   Roost__Reply **out)
{
	const char *peer = to_reader ? "reader" : "broker";
	size_t len = roost__request__get_packed_size(req);
	if (len > ROOST_MAX_FRAME)
		return lr_fail(r, ROOST_ETOOBIG, "request of %zu bytes is over the %u-byte limit",
			       len, ROOST_MAX_FRAME);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return ROOST_ENOMEM;
	roost__request__pack(req, buf);
	nng_msg *msg;
	int rc = sp_call(to_reader ? r->rctx : r->ctx, r->aio, buf, len, wait_ms, &msg);
	free(buf);
	if (rc == ROOST_ETIMEDOUT && to_reader)
		return lr_fail(r, rc,
			       "no reader answered within %d ms (%d connected; stopped or "
			       "overloaded?)",
			       wait_ms, lr_readers(r));
	if (rc == ROOST_ETIMEDOUT)
		return lr_fail(r, rc, "no reply within %d ms (no %s answered)", wait_ms, peer);
	if (rc == ROOST_ECONN)
		return lr_fail(r, rc, "the connection to the %s dropped", peer);
	if (rc)
		return lr_fail(r, rc, "request failed: %s", roost_strerror(rc));
	*out = roost__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (!*out)
		return lr_fail(r, ROOST_EPROTO, "malformed reply");
	return 0;
}

static int lr_retryable(int rc)
{
	return rc == ROOST_EBUSY || rc == ROOST_ETIMEDOUT || rc == ROOST_EWRITER ||
	       rc == ROOST_ECONN || rc == ROOST_ENOTVISIBLE || rc == ROOST_ECLOSED;
}

/* Sleeps 10 ms doubling to 500 ms, with jitter so agents spread out, or
 * at least what the server said a retry needs. */
static void lr_backoff(int attempt, uint32_t after_ms)
{
	int ms = 10 << (attempt < 6 ? attempt : 6);
	if (ms > 500)
		ms = 500;
	ms = ms / 2 + (int)((uint32_t)rand() % (uint32_t)(ms / 2 + 1));
	usleep((useconds_t)(after_ms > (uint32_t)ms ? after_ms : (uint32_t)ms) * 1000);
}

static int lr_check_docs(roost *r, uint32_t dim, const struct roost_doc *docs, size_t n)
{
	if (n == 0 || dim == 0 || !docs)
		return lr_fail(r, ROOST_EINVAL, "empty batch or zero dimension");
	if (n > ROOST_MAX_DOCS)
		return lr_fail(r, ROOST_ETOOBIG, "%zu documents is over the %u limit", n,
			       ROOST_MAX_DOCS);
	for (size_t i = 0; i < n; i++)
		if (!docs[i].vector)
			return lr_fail(r, ROOST_EINVAL, "document %zu has no vector", i);
	return 0;
}

static int lr_is_read(const Roost__Request *req)
{
	return req->op_case == ROOST__REQUEST__OP_SEARCH ||
	       req->op_case == ROOST__REQUEST__OP_GET_DOCS ||
	       req->op_case == ROOST__REQUEST__OP_SCROLL;
}

/* The handle's time ran out: a read whose LSN never became visible says
 * so (the server's last words name the LSN and that attempt's wait); any
 * other failure is a timeout. */
static int lr_gave_up(roost *r, int last)
{
	char said[sizeof r->err];
	if (last != ROOST_ENOTVISIBLE)
		return ROOST_ETIMEDOUT;
	snprintf(said, sizeof said, "%s", r->err);
	return lr_fail(r, last, "%s (waited %d ms in all)", said, r->timeout_ms);
}

/* Sends req until it succeeds, fails for good, or the deadline passes.
 * *server_wait is where the request's own timeout field lives. A read
 * goes first to a reader directly, when one is connected, within half of
 * the attempt's time; if that fails in a way worth retrying, at once
 * through the brokers. */
static int lr_call_retry(roost *r, Roost__Request *req, uint32_t *server_wait, Roost__Reply **out)
{
	int64_t deadline = lr_now_ms() + r->timeout_ms;
	int direct = lr_is_read(req) && lr_reader_ready(r);
	int last = ROOST_ETIMEDOUT;
	for (int attempt = 0;; attempt++) {
		int64_t left = deadline - lr_now_ms();
		if (left <= 0)
			return lr_gave_up(r, last);
		int wait = left > ROOST_ATTEMPT_MS ? ROOST_ATTEMPT_MS : (int)left;
		/* A reader that does not answer directly leaves the brokers,
		 * which may know another, half of the time. */
		if (direct && wait > 1)
			wait /= 2;
		/* The server answers within this attempt, even when it must give
		 * up waiting for the writer or a reader. */
		if (server_wait)
			*server_wait = (uint32_t)wire_inner_wait((uint32_t)wait, wait);
		Roost__Reply *rep = NULL;
		int rc = lr_call(r, direct, req, wait, &rep);
		uint32_t after_ms = rc == 0 ? rep->retry_after_ms : 0;
		if (rc == 0 && rep->status != 0) {
			rc = lr_fail(r, rep->status, "%s",
				     rep->message && *rep->message ? rep->message
								   : roost_strerror(rep->status));
			roost__reply__free_unpacked(rep, NULL);
			rep = NULL;
		}
		if (rc == 0) {
			*out = rep;
			return 0;
		}
		/* A retry the server says would be refused again before the
		 * deadline is not made: the error says when it would pass. */
		if (!lr_retryable(rc) || lr_now_ms() + after_ms >= deadline)
			return rc;
		last = rc;
		if (direct)
			direct = 0;
		else
			lr_backoff(attempt, after_ms);
	}
}

/* One request of the kind req holds: sent with lr_call_retry, its reply
 * checked to be of the kind `want`. */
static int lr_exchange(roost *r, Roost__Request *req, uint32_t *server_wait,
		       Roost__Reply__BodyCase want, Roost__Reply **out)
{
	r->err[0] = '\0';
	req->version = WIRE_VERSION;
	*out = NULL;
	int rc = lr_call_retry(r, req, server_wait, out);
	if (rc == 0 && (*out)->body_case != want) {
		roost__reply__free_unpacked(*out, NULL);
		*out = NULL;
		rc = lr_fail(r, ROOST_EPROTO, "reply does not match the request");
	}
	return rc;
}

int roost_add(roost *r, uint32_t dim, const struct roost_doc *docs, size_t n, enum roost_ack ack,
	      uint64_t *ids, uint64_t *lsn)
{
	r->err[0] = '\0';
	int rc = lr_check_docs(r, dim, docs, n);
	if (rc)
		return rc;
	Roost__Document *pd = calloc(n, sizeof *pd);
	Roost__Document **pp = calloc(n, sizeof *pp);
	if (!pd || !pp) {
		free(pd);
		free(pp);
		return ROOST_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		roost__document__init(&pd[i]);
		pd[i].n_vector = dim;
		pd[i].vector = (float *)docs[i].vector;
		pd[i].agent = docs[i].agent;
		pd[i].time = docs[i].time;
		pd[i].kind = (char *)(docs[i].kind ? docs[i].kind : "");
		pd[i].text = (char *)(docs[i].text ? docs[i].text : "");
		pd[i].id = (char *)(docs[i].id ? docs[i].id : "");
		pd[i].metadata = (char *)(docs[i].metadata ? docs[i].metadata : "");
		pp[i] = &pd[i];
	}
	Roost__AddRequest add = ROOST__ADD_REQUEST__INIT;
	add.dim = dim;
	add.n_docs = n;
	add.docs = pp;
	add.client_id = r->client_id;
	add.seq = ++r->seq; /* one key for every retry of this call */
	add.ack = (Roost__AckMode)ack;
	add.collection = r->coll;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_ADD;
	req.add = &add;
	Roost__Reply *rep;
	rc = lr_exchange(r, &req, &add.timeout_ms, ROOST__REPLY__BODY_ADD, &rep);
	if (rc == 0 && rep->add->n_ids != n)
		rc = lr_fail(r, ROOST_EPROTO, "reply does not match the request");
	if (rc == 0) {
		if (ids)
			memcpy(ids, rep->add->ids, n * sizeof *ids);
		if (lsn)
			*lsn = rep->add->lsn;
	}
	if (rep)
		roost__reply__free_unpacked(rep, NULL);
	free(pd);
	free(pp);
	return rc;
}

/* The status reply for the handle's collection. */
static int lr_status_reply(roost *r, Roost__Reply **rep)
{
	Roost__StatusRequest st = ROOST__STATUS_REQUEST__INIT;
	st.collection = r->coll;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_STATUS;
	req.status = &st;
	return lr_exchange(r, &req, NULL, ROOST__REPLY__BODY_STATUS_REPLY, rep);
}

int roost_status(roost *r, struct roost_status *out)
{
	Roost__Reply *rep;
	int rc = lr_status_reply(r, &rep);
	if (rc)
		return rc;
	const Roost__StatusReply *s = rep->status_reply;
	memset(out, 0, sizeof *out);
	out->dim = s->dim;
	out->metric = (uint32_t)s->metric;
	snprintf(out->index, sizeof out->index, "%s", s->index ? s->index : "");
	out->writer_pid = s->writer_pid;
	snprintf(out->writer_mode, sizeof out->writer_mode, "%s",
		 s->writer_mode ? s->writer_mode : "");
	out->ring_head = s->ring_head;
	out->ring_reserve = s->ring_reserve;
	out->ring_capacity = s->ring_capacity;
	out->durable_lsn = s->durable_lsn;
	out->applied_lsn = s->applied_lsn;
	out->published_lsn = s->published_lsn;
	out->documents = s->documents;
	snprintf(out->collection, sizeof out->collection, "%s", s->collection ? s->collection : "");
	out->collections = (uint32_t)s->n_collections;
	out->agent_rate = s->agent_rate;
	out->agent_refused = s->agent_refused;
	roost__reply__free_unpacked(rep, NULL);
	return 0;
}

static const Roost__CollectionInfo *lr_info_named(const Roost__StatusReply *s, const char *name)
{
	for (size_t i = 0; name && i < s->n_collections; i++)
		if (s->collections[i]->name && strcmp(s->collections[i]->name, name) == 0)
			return s->collections[i];
	return NULL;
}

int roost_history(roost *r, struct roost_history *out)
{
	Roost__Reply *rep;
	int rc = lr_status_reply(r, &rep);
	if (rc)
		return rc;
	const Roost__StatusReply *s = rep->status_reply;
	const Roost__CollectionInfo *c = lr_info_named(s, s->collection);
	memset(out, 0, sizeof *out);
	snprintf(out->retain, sizeof out->retain, "%s", s->retain ? s->retain : "");
	out->horizon_lsn = s->history_horizon_lsn;
	out->log_bytes = s->history_log_bytes;
	if (c) {
		out->start_lsn = c->history_start_lsn;
		out->bytes = c->history_bytes;
	}
	roost__reply__free_unpacked(rep, NULL);
	return c ? 0 : lr_fail(r, ROOST_ENOCOLL, "the instance has no such collection");
}

static void lr_collection(const Roost__CollectionInfo *c, struct roost_collection *out)
{
	const Roost__CollectionSettings *s = c->settings;
	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", c->name ? c->name : "");
	out->id = c->id;
	if (s) {
		out->dim = s->dim;
		out->metric = (uint32_t)s->metric;
		snprintf(out->index, sizeof out->index, "%s", s->index ? s->index : "");
		out->train_docs = s->train_docs;
		out->seal_docs = s->seal_docs;
		out->seal_interval_ms = s->seal_interval_ms;
		/* A list that is not one a server could hold is left out. */
		wire_keys_join(s, out->indexed_keys, NULL, 0);
	}
	out->documents = c->documents;
	out->segments = c->segments;
	out->created_lsn = c->created_lsn;
	out->rebuilding = c->rebuilding;
}

/* A create, a drop or an alter sent; out (may be NULL) and *existed
 * (likewise) receive the collection its reply describes. */
static int lr_collection_call(roost *r, Roost__Request *req, uint32_t *server_wait,
			      struct roost_collection *out, int *existed)
{
	Roost__Reply *rep;
	int rc = lr_exchange(r, req, server_wait, ROOST__REPLY__BODY_COLLECTION, &rep);
	if (rc == 0 && !rep->collection->collection)
		rc = lr_fail(r, ROOST_EPROTO, "reply does not match the request");
	if (rc == 0 && out)
		lr_collection(rep->collection->collection, out);
	if (rc == 0 && existed)
		*existed = rep->collection->existed;
	if (rep)
		roost__reply__free_unpacked(rep, NULL);
	return rc;
}

int roost_collection_create(roost *r, const char *name, const struct roost_collection_settings *s,
			    struct roost_collection *out, int *existed)
{
	r->err[0] = '\0';
	char why[192]; /* the longest of coll_keys_check's answers */
	if (coll_name_check(name, why, sizeof why) != 0)
		return lr_fail(r, ROOST_EINVAL, "%s", why);
	if (!s || s->dim == 0)
		return lr_fail(r, ROOST_EINVAL, "a collection needs a dimension");
	char keys[COLL_KEYS_MAX + 1], *key_list[COLL_KEYS_COUNT];
	if (coll_keys_check(s->indexed_keys ? s->indexed_keys : "", why, sizeof why) != 0)
		return lr_fail(r, ROOST_EINVAL, "%s", why);
	snprintf(keys, sizeof keys, "%s", s->indexed_keys ? s->indexed_keys : "");
	Roost__CollectionSettings cs = ROOST__COLLECTION_SETTINGS__INIT;
	cs.n_indexed_keys = wire_keys_split(keys, key_list);
	cs.indexed_keys = key_list;
	cs.dim = s->dim;
	cs.metric = (Roost__Metric)s->metric;
	cs.index = (char *)(s->index ? s->index : "");
	cs.train_docs = s->train_docs;
	cs.seal_docs = s->seal_docs;
	cs.seal_interval_ms = s->seal_interval_ms;
	Roost__CreateCollectionRequest c = ROOST__CREATE_COLLECTION_REQUEST__INIT;
	c.name = (char *)name;
	c.settings = &cs;
	c.client_id = r->client_id;
	c.seq = ++r->seq; /* one key for every retry of this call */
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_CREATE_COLLECTION;
	req.create_collection = &c;
	return lr_collection_call(r, &req, &c.timeout_ms, out, existed);
}

/* A collection's name, checked before anything is sent. */
static int lr_collection_name(roost *r, const char *name)
{
	char why[128];
	r->err[0] = '\0';
	return coll_name_check(name, why, sizeof why) ? lr_fail(r, ROOST_EINVAL, "%s", why) : 0;
}

int roost_collection_drop(roost *r, const char *name)
{
	int rc = lr_collection_name(r, name);
	if (rc)
		return rc;
	Roost__DropCollectionRequest d = ROOST__DROP_COLLECTION_REQUEST__INIT;
	d.name = (char *)name;
	d.client_id = r->client_id;
	d.seq = ++r->seq;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_DROP_COLLECTION;
	req.drop_collection = &d;
	return lr_collection_call(r, &req, &d.timeout_ms, NULL, NULL);
}

int roost_collection_alter(roost *r, const char *name, const char *index, uint64_t train_docs,
			   struct roost_collection *out)
{
	int rc = lr_collection_name(r, name);
	if (rc)
		return rc;
	Roost__AlterCollectionRequest a = ROOST__ALTER_COLLECTION_REQUEST__INIT;
	a.name = (char *)name;
	a.index = (char *)(index ? index : "");
	a.train_docs = train_docs;
	a.client_id = r->client_id;
	a.seq = ++r->seq; /* one key for every retry of this call */
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_ALTER_COLLECTION;
	req.alter_collection = &a;
	return lr_collection_call(r, &req, &a.timeout_ms, out, NULL);
}

int roost_collection_fork(roost *r, const char *source, const char *name, uint64_t as_of_lsn,
			  struct roost_collection *out)
{
	int rc = lr_collection_name(r, name);
	if (rc == 0)
		rc = lr_collection_name(r, source);
	if (rc)
		return rc;
	Roost__ForkCollectionRequest f = ROOST__FORK_COLLECTION_REQUEST__INIT;
	f.name = (char *)name;
	f.source = (char *)source;
	f.as_of_lsn = as_of_lsn;
	f.client_id = r->client_id;
	f.seq = ++r->seq; /* one key for every retry of this call */
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_FORK_COLLECTION;
	req.fork_collection = &f;
	return lr_collection_call(r, &req, &f.timeout_ms, out, NULL);
}

int roost_collection_list(roost *r, struct roost_collection **out, size_t *n)
{
	Roost__ListCollectionsRequest l = ROOST__LIST_COLLECTIONS_REQUEST__INIT;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_LIST_COLLECTIONS;
	req.list_collections = &l;
	Roost__Reply *rep;
	int rc = lr_exchange(r, &req, NULL, ROOST__REPLY__BODY_COLLECTIONS, &rep);
	if (rc)
		return rc;
	size_t count = rep->collections->n_collections;
	*out = calloc(count ? count : 1, sizeof **out);
	if (!*out) {
		roost__reply__free_unpacked(rep, NULL);
		return ROOST_ENOMEM;
	}
	for (size_t i = 0; i < count; i++)
		lr_collection(rep->collections->collections[i], &(*out)[i]);
	*n = count;
	roost__reply__free_unpacked(rep, NULL);
	return 0;
}

void roost_collections_free(struct roost_collection *list)
{
	free(list);
}

struct roost_results {
	Roost__Reply *reply;
	struct roost_hit *hits; /* all queries' hits, in order */
	size_t *first;		/* index of query q's first hit; nq + 1 entries */
	uint32_t nq;
};

static void lr_hit(struct roost_hit *out, const Roost__Hit *h)
{
	*out = (struct roost_hit){
	    .id = h->id,
	    .score = h->score,
	    .agent = h->agent,
	    .time = h->time,
	    .kind = h->kind,
	    .text = h->text,
	    .key = h->key,
	    .metadata = h->metadata,
	    .vector = h->n_vector ? h->vector : NULL,
	    .dim = h->n_vector,
	};
}

/* Results of nq queries, total hits in all, that rep's strings back. */
static roost_results *lr_results_new(Roost__Reply *rep, uint32_t nq, size_t total)
{
	roost_results *res = calloc(1, sizeof *res);
	if (res) {
		res->first = calloc(nq + 1, sizeof *res->first);
		res->hits = calloc(total ? total : 1, sizeof *res->hits);
	}
	if (!res || !res->first || !res->hits) {
		roost_results_free(res);
		return NULL;
	}
	res->nq = nq;
	res->first[nq] = total;
	res->reply = rep;
	return res;
}

/* A reader that predates as_of_lsn ignores it and answers now, while a
 * read as of an LSN is answered as of exactly that LSN. */
static int lr_read_at(roost *r, uint64_t lsn)
{
	if (!r->as_of || lsn == r->as_of)
		return 0;
	return lr_fail(r, ROOST_EUNSUPPORTED,
		       "asked as of LSN %llu, the reader answered as of %llu: it does not read as "
		       "of an LSN (upgrade roost-reader)",
		       (unsigned long long)r->as_of, (unsigned long long)lsn);
}

static int lr_results(roost *r, Roost__Reply *rep, uint32_t nq, roost_results **out)
{
	if (rep->body_case != ROOST__REPLY__BODY_SEARCH || rep->search->n_results != nq)
		return lr_fail(r, ROOST_EPROTO, "reply does not match the request");
	int rc = lr_read_at(r, rep->search->lsn);
	if (rc)
		return rc;
	size_t total = 0;
	for (uint32_t q = 0; q < nq; q++)
		total += rep->search->results[q]->n_hits;
	roost_results *res = lr_results_new(rep, nq, total);
	if (!res)
		return ROOST_ENOMEM;
	size_t at = 0;
	for (uint32_t q = 0; q < nq; q++) {
		res->first[q] = at;
		const Roost__QueryResult *qr = rep->search->results[q];
		for (size_t j = 0; j < qr->n_hits; j++, at++)
			lr_hit(&res->hits[at], qr->hits[j]);
	}
	*out = res;
	return 0;
}

/* 1 to ROOST_MAX_DOCS ids, none empty; the server checks the rest. */
static int lr_check_ids(roost *r, const char *what, const char *const *ids, size_t n)
{
	if (!ids || n == 0 || n > ROOST_MAX_DOCS)
		return lr_fail(r, ROOST_EINVAL, "a %s names 1 to %u ids, not %zu", what,
			       ROOST_MAX_DOCS, n);
	for (size_t i = 0; i < n; i++)
		if (!ids[i] || !ids[i][0])
			return lr_fail(r, ROOST_EINVAL, "ids[%zu] is empty", i);
	return 0;
}

int roost_get(roost *r, const char *const *ids, size_t n, int with_vectors, uint64_t min_lsn,
	      roost_results **out)
{
	r->err[0] = '\0';
	*out = NULL;
	int rc = lr_check_ids(r, "get", ids, n);
	if (rc)
		return rc;
	Roost__GetRequest g = ROOST__GET_REQUEST__INIT;
	g.collection = r->coll;
	g.n_ids = n;
	g.ids = (char **)ids;
	g.with_vectors = with_vectors != 0;
	g.min_lsn = min_lsn;
	g.as_of_lsn = r->as_of;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_GET_DOCS;
	req.get_docs = &g;
	Roost__Reply *rep;
	rc = lr_exchange(r, &req, &g.timeout_ms, ROOST__REPLY__BODY_GOT, &rep);
	if (rc == 0 && (rc = lr_read_at(r, rep->got->lsn)) != 0)
		roost__reply__free_unpacked(rep, NULL);
	if (rc)
		return rc;
	roost_results *res = lr_results_new(rep, 1, rep->got->n_docs);
	if (!res) {
		roost__reply__free_unpacked(rep, NULL);
		return ROOST_ENOMEM;
	}
	for (size_t i = 0; i < rep->got->n_docs; i++)
		lr_hit(&res->hits[i], rep->got->docs[i]);
	*out = res;
	return 0;
}

/* The filter's conditions as protobuf messages; they point into the
 * caller's strings, which protobuf-c only reads while packing, and which
 * must therefore all be there (a NULL one would crash it). */
static int lr_conditions(roost *r, const struct roost_filter *filter, Roost__Condition *conds,
			 Roost__Condition **where)
{
	for (size_t i = 0; i < filter->nwhere; i++) {
		const struct roost_condition *c = &filter->where[i];
		int holes = c->n_any_of && !c->any_of;
		for (size_t j = 0; !holes && j < c->n_any_of; j++)
			holes = c->any_of[j] == NULL;
		if (holes)
			return lr_fail(r, ROOST_EINVAL,
				       "filter.where[%zu].any_of: NULL where %zu values are due", i,
				       c->n_any_of);
		roost__condition__init(&conds[i]);
		conds[i].key = (char *)(c->key ? c->key : "");
		conds[i].n_any_of = c->n_any_of;
		conds[i].any_of = (char **)c->any_of;
		conds[i].has_min = c->has_min != 0;
		conds[i].min = c->min;
		conds[i].min_exclusive = c->min_exclusive != 0;
		conds[i].has_max = c->has_max != 0;
		conds[i].max = c->max;
		conds[i].max_exclusive = c->max_exclusive != 0;
		where[i] = &conds[i];
	}
	return 0;
}

/* The protobuf form of filter (NULL: none) into f; its conditions are
 * allocated in *conds and *where, which the caller frees after packing. */
static int lr_filter(roost *r, const struct roost_filter *filter, Roost__Filter *f,
		     Roost__Condition **conds, Roost__Condition ***where)
{
	*conds = NULL;
	*where = NULL;
	if (!filter)
		return 0;
	if (filter->nwhere) {
		/* The server's limit, said as it says it, before the caller's
		 * array is read past what it can hold. */
		if (filter->nwhere > METAQ_MAX_CONDITIONS)
			return lr_fail(r, ROOST_ETOOBIG,
				       "filter.where has %zu conditions; the limit is %u",
				       filter->nwhere, METAQ_MAX_CONDITIONS);
		if (!filter->where)
			return lr_fail(r, ROOST_EINVAL, "filter.where: NULL where %zu are due",
				       filter->nwhere);
		*conds = calloc(filter->nwhere, sizeof **conds);
		*where = calloc(filter->nwhere, sizeof **where);
		int rc = *conds && *where ? lr_conditions(r, filter, *conds, *where)
					  : lr_fail(r, ROOST_ENOMEM, "out of memory");
		if (rc)
			return rc;
	}
	f->n_agents = filter->nagents;
	f->agents = (int64_t *)filter->agents;
	f->has_time_range = filter->has_time != 0;
	f->time_min = filter->time_min;
	f->time_max = filter->time_max;
	f->kind = (char *)(filter->kind ? filter->kind : "");
	f->n_where = filter->nwhere;
	f->where = *where;
	return 0;
}

/* Sends a delete (its ids or filter set) under the handle's next key. */
static int lr_delete(roost *r, Roost__DeleteRequest *d, enum roost_ack ack, uint64_t *lsn)
{
	Roost__DeleteRequest del = *d;
	del.collection = r->coll;
	del.client_id = r->client_id;
	del.seq = ++r->seq; /* one key for every retry of this call */
	del.ack = (Roost__AckMode)ack;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_DELETE_DOCS;
	req.delete_docs = &del;
	Roost__Reply *rep;
	int rc = lr_exchange(r, &req, &del.timeout_ms, ROOST__REPLY__BODY_DELETED, &rep);
	if (rc == 0 && lsn)
		*lsn = rep->deleted->lsn;
	if (rep)
		roost__reply__free_unpacked(rep, NULL);
	return rc;
}

int roost_delete(roost *r, const char *const *ids, size_t n, enum roost_ack ack, uint64_t *lsn)
{
	r->err[0] = '\0';
	int rc = lr_check_ids(r, "delete", ids, n);
	if (rc)
		return rc;
	Roost__DeleteRequest del = ROOST__DELETE_REQUEST__INIT;
	del.n_ids = n;
	del.ids = (char **)ids;
	return lr_delete(r, &del, ack, lsn);
}

int roost_delete_where(roost *r, const struct roost_filter *filter, enum roost_ack ack,
		       uint64_t *lsn)
{
	r->err[0] = '\0';
	if (!filter)
		return lr_fail(r, ROOST_EINVAL, "a delete by filter needs a filter");
	Roost__DeleteRequest del = ROOST__DELETE_REQUEST__INIT;
	Roost__Filter f = ROOST__FILTER__INIT;
	Roost__Condition *conds, **where;
	int rc = lr_filter(r, filter, &f, &conds, &where);
	del.filter = &f;
	if (rc == 0)
		rc = lr_delete(r, &del, ack, lsn);
	free(conds);
	free(where);
	return rc;
}

int roost_search(roost *r, uint32_t dim, const float *queries, uint32_t nq, uint32_t k,
		 const struct roost_filter *filter, uint64_t min_lsn, roost_results **out)
{
	r->err[0] = '\0';
	if (!queries || nq == 0 || dim == 0 || k == 0)
		return lr_fail(r, ROOST_EINVAL, "need at least one query, dim > 0 and k > 0");
	Roost__SearchRequest s = ROOST__SEARCH_REQUEST__INIT;
	Roost__Filter f = ROOST__FILTER__INIT;
	Roost__Condition *conds, **where;
	int rc = lr_filter(r, filter, &f, &conds, &where);
	s.dim = dim;
	s.n_queries = (size_t)nq * dim;
	s.queries = (float *)queries;
	s.k = k;
	s.min_lsn = min_lsn;
	s.as_of_lsn = r->as_of;
	s.nprobe = r->nprobe;
	s.ef_search = r->ef_search;
	s.collection = r->coll;
	s.filter = filter ? &f : NULL;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.version = WIRE_VERSION;
	req.op_case = ROOST__REQUEST__OP_SEARCH;
	req.search = &s;
	Roost__Reply *rep = NULL;
	if (rc == 0)
		rc = lr_call_retry(r, &req, &s.timeout_ms, &rep);
	free(conds);
	free(where);
	if (rc == 0) {
		rc = lr_results(r, rep, nq, out);
		if (rc)
			roost__reply__free_unpacked(rep, NULL);
	}
	return rc;
}

int roost_scroll(roost *r, const struct roost_filter *filter, uint32_t limit, const char *cursor,
		 int with_vectors, uint64_t min_lsn, roost_results **out)
{
	r->err[0] = '\0';
	*out = NULL;
	Roost__ScrollRequest sc = ROOST__SCROLL_REQUEST__INIT;
	Roost__Filter f = ROOST__FILTER__INIT;
	Roost__Condition *conds, **where;
	int rc = lr_filter(r, filter, &f, &conds, &where);
	sc.collection = r->coll;
	sc.filter = filter ? &f : NULL;
	sc.limit = limit;
	sc.cursor = (char *)(cursor ? cursor : "");
	sc.with_vectors = with_vectors != 0;
	sc.min_lsn = min_lsn;
	sc.as_of_lsn = r->as_of;
	Roost__Request req = ROOST__REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_SCROLL;
	req.scroll = &sc;
	Roost__Reply *rep = NULL;
	if (rc == 0)
		rc = lr_exchange(r, &req, &sc.timeout_ms, ROOST__REPLY__BODY_SCROLLED, &rep);
	free(conds);
	free(where);
	/* A later page reads its cursor's LSN, whatever the handle says. */
	if (rc == 0 && !sc.cursor[0] && (rc = lr_read_at(r, rep->scrolled->lsn)) != 0)
		roost__reply__free_unpacked(rep, NULL);
	if (rc)
		return rc;
	roost_results *res = lr_results_new(rep, 1, rep->scrolled->n_docs);
	if (!res) {
		roost__reply__free_unpacked(rep, NULL);
		return ROOST_ENOMEM;
	}
	for (size_t i = 0; i < rep->scrolled->n_docs; i++)
		lr_hit(&res->hits[i], rep->scrolled->docs[i]);
	*out = res;
	return 0;
}

const char *roost_results_cursor(const roost_results *res)
{
	return res->reply->body_case == ROOST__REPLY__BODY_SCROLLED
		   ? res->reply->scrolled->next_cursor
		   : "";
}

size_t roost_results_hits(const roost_results *res, uint32_t q, const struct roost_hit **hits)
{
	if (q >= res->nq) {
		*hits = NULL;
		return 0;
	}
	*hits = res->hits + res->first[q];
	return res->first[q + 1] - res->first[q];
}

uint64_t roost_results_lsn(const roost_results *res)
{
	if (res->reply->body_case == ROOST__REPLY__BODY_GOT)
		return res->reply->got->lsn;
	if (res->reply->body_case == ROOST__REPLY__BODY_SCROLLED)
		return res->reply->scrolled->lsn;
	return res->reply->search->lsn;
}

void roost_results_free(roost_results *res)
{
	if (!res)
		return;
	if (res->reply)
		roost__reply__free_unpacked(res->reply, NULL);
	free(res->hits);
	free(res->first);
	free(res);
}
