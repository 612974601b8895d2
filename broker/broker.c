#include "broker.h"

#include "coll.h"
#include "collrec.h"
#include "err.h"
#include "futex.h"
#include "jsonsrv.h"
#include "log.h"

#include "sp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BROKER_MSG 512
/* A reader that takes longer than this gets the search sent again to
 * another (readers answer the same search alike). */
#define BROKER_READER_RESEND_MS 2000

/* A record to write into the ring under a client's idempotency key: a
 * batch of documents, a delete, or a collection's create, drop or alter. */
struct broker_add;

struct broker_record {
	uint64_t client_id, seq;
	uint32_t count; /* documents or ids; 0 for a collection record */
	size_t size;
	const Roost__AddRequest *add;	 /* a batch: the request, and its collection */
	const Roost__DeleteRequest *del; /* a delete, likewise */
	uint32_t coll;
	struct collrec op; /* else the collection record */
	/* New keys only, under the key's lock: 0 to write the record. */
	int (*precheck)(struct broker *b, const struct broker_record *r, struct broker_add *res,
			char *msg);
};

/* What a record resolved to, before waiting for its ack. */
struct broker_add {
	uint64_t lsn;
	uint32_t count;
	int duplicate;
	uint32_t retry_ms; /* refused as busy: when a retry may pass; 0: back off */
};

static int broker__reply_retry(int status, const char *msg, uint32_t retry_ms, void **out,
			       size_t *len)
{
	return wire_encode_retry(status, msg && *msg ? msg : roost_strerror(status), retry_ms, out,
				 len);
}

static int broker__reply_error(int status, const char *msg, void **out, size_t *len)
{
	return broker__reply_retry(status, msg, 0, out, len);
}

/* Where the batch at lsn is, for a key whose broker died writing it. */
static enum ctl_fate broker__fate(void *arg, uint64_t lsn)
{
	struct broker *b = arg;
	int st = ring_state_at(b->ring, lsn);
	if (st == RING_COMMITTED)
		return CTL_FATE_IN_RING;
	return st == 0 && lsn < ring_released(b->ring) ? CTL_FATE_CONSUMED : CTL_FATE_LOST;
}

static void broker__write(const struct broker_record *r, void *dst)
{
	if (r->add)
		wire_batch_write(r->add, r->coll, dst);
	else if (r->del)
		wire_delete_write(r->del, r->coll, dst);
	else
		collrec_write(&r->op, dst);
}

/* Claims ring space and copies the record in, under the client's lock. */
static int broker__enqueue(struct broker *b, ctl_client *cl, const struct broker_record *r,
			   struct broker_add *res, char *msg)
{
	struct ring_claim c;
	int rc = ring_claim(b->ring, (uint32_t)r->size, b->cfg.busy_timeout_ms, &c);
	if (rc == ROOST_EBUSY) {
		snprintf(msg, BROKER_MSG, "ring full for %d ms (the writer is behind); retry later",
			 b->cfg.busy_timeout_ms);
		return rc;
	}
	if (rc == ROOST_ENOSPC) {
		snprintf(msg, BROKER_MSG,
			 "shared memory is full: the ring cannot take the batch; retry later");
		return rc;
	}
	if (rc)
		return rc;
	struct ctl_key key = {.seq = r->seq, .lsn = c.pos, .count = r->count};
	ctl_key_begin(cl, &key);
	broker__write(r, c.data);
	ring_commit(b->ring, &c);
	ctl_key_commit(cl);
	*res = (struct broker_add){.lsn = key.lsn, .count = key.count, .duplicate = 0};
	return 0;
}

static int broker__admit(struct broker *b, const struct broker_record *r, struct broker_add *res,
			 char *msg)
{
	ctl_client *cl;
	struct ctl_key key;
	int forgot;
	*res = (struct broker_add){0};
	int rc = ctl_key_lock(b->ctl, r->client_id, broker__fate, b, &cl, &key, &forgot);
	if (rc == ROOST_EBUSY) {
		snprintf(msg, BROKER_MSG, "too many active clients; retry later");
		return rc;
	}
	if (rc)
		return rc;
	if (forgot)
		log_warn("the batch a dead broker was writing for client %llx was never committed; "
			 "its key is free again",
			 (unsigned long long)r->client_id);
	if (key.seq && r->seq == key.seq) {
		if (key.count != r->count) {
			snprintf(msg, BROKER_MSG,
				 "key (%llx, %llu) was used for a request of %u documents, not %u",
				 (unsigned long long)r->client_id, (unsigned long long)r->seq,
				 key.count, r->count);
			rc = ROOST_EKEY;
		} else {
			*res =
			    (struct broker_add){.lsn = key.lsn, .count = key.count, .duplicate = 1};
		}
	} else if (r->seq < key.seq) {
		snprintf(msg, BROKER_MSG, "sequence %llu is older than this client's newest (%llu)",
			 (unsigned long long)r->seq, (unsigned long long)key.seq);
		rc = ROOST_ESEQ;
	} else if (!r->precheck || (rc = r->precheck(b, r, res, msg)) == 0) {
		rc = broker__enqueue(b, cl, r, res, msg);
	}
	ctl_key_unlock(cl);
	return rc;
}

/* Waits until the writer has the record at lsn durable (or, with
 * visible, applied and published), timeout_ms at most. */
static int broker__wait(struct broker *b, uint64_t lsn, enum ctl_mark mark, uint32_t timeout_ms,
			char *msg)
{
	int timeout = wire_timeout_ms(timeout_ms, b->cfg.ack_timeout_ms, b->cfg.max_timeout_ms);
	if (ctl_wait(b->ctl, mark, lsn, timeout) == 0)
		return 0;
	if (!ctl_writer_alive(b->ctl)) {
		snprintf(msg, BROKER_MSG,
			 "writer unavailable: record %llu is queued and will be applied when it "
			 "returns",
			 (unsigned long long)lsn);
		return ROOST_EWRITER;
	}
	char mode[64];
	ctl_writer_mode(b->ctl, mode, sizeof mode);
	snprintf(msg, BROKER_MSG, "record %llu not %s within %d ms (writer: %s)",
		 (unsigned long long)lsn, mark == CTL_DURABLE ? "durable" : "visible", timeout,
		 mode);
	return ROOST_ETIMEDOUT;
}

/* The writer's verdict on the record at lsn, once the mark waited for has
 * passed it: 0, or the code it refused the record with. */
static int broker__refusal(struct broker *b, const struct broker_record *r, uint64_t lsn)
{
	return ctl_client_refusal(b->ctl, r->client_id, lsn);
}

/* Writes a record into the ring (or finds it there: a retry) and waits
 * for the ack asked for. A failure to write is returned, and nothing was
 * written; else *waited says how the wait went (the record is in the ring
 * either way) and *refused whether the writer refused it (0: applied, or
 * not waited for). */
static int broker__commit(struct broker *b, const struct broker_record *r, Roost__AckMode ack,
			  uint32_t timeout_ms, struct broker_add *res, int *waited, int *refused,
			  char *msg)
{
	*waited = *refused = 0;
	int rc = broker__admit(b, r, res, msg);
	if (rc || ack == ROOST__ACK_MODE__ACK_QUEUED)
		return rc;
	enum ctl_mark mark = ack == ROOST__ACK_MODE__ACK_VISIBLE ? CTL_PUBLISHED : CTL_DURABLE;
	*waited = broker__wait(b, res->lsn, mark, timeout_ms, msg);
	*refused = *waited == 0 ? broker__refusal(b, r, res->lsn) : 0;
	return 0;
}

/* ---- collections ---- */

/* A create, a drop or an alter is acknowledged once applied and published:
 * then every broker and reader sees the catalog as it left it. 0 with the
 * writer's verdict in *refused, or why the record could not be written or
 * waited for (msg says). */
static int broker__coll_commit(struct broker *b, const struct broker_record *r, uint32_t timeout_ms,
			       struct broker_add *res, int *refused, char *msg)
{
	int waited;
	int rc = broker__commit(b, r, ROOST__ACK_MODE__ACK_VISIBLE, timeout_ms, res, &waited,
				refused, msg);
	return rc ? rc : waited;
}

/* The live collection a request names, or ROOST_EINVAL / ROOST_ENOCOLL
 * with the words to say so. */
static int broker__collection(struct broker *b, const char *given, struct catalog_entry *e,
			      char *msg)
{
	const char *name = coll_name_or_default(given);
	int rc = wire_check_collection(name, msg, BROKER_MSG);
	if (rc == 0 && (rc = catalog_find(b->cat, name, e)) != 0)
		snprintf(msg, BROKER_MSG,
			 "no collection '%s' in instance '%s': create it with `roost collections "
			 "--name %s create %s --dim D`",
			 name, b->name, b->name, name);
	return rc;
}

/* A collection's info as a reply carries it, with the storage its
 * fields point to (but the name: the entry's). */
struct broker__info {
	Roost__CollectionInfo info;
	Roost__CollectionSettings settings;
	char keys[COLL_KEYS_MAX + 1];
	char *key_list[COLL_KEYS_COUNT];
};

static void broker__info(const struct catalog_entry *e, struct broker__info *bi)
{
	Roost__CollectionSettings *s = &bi->settings;
	roost__collection_settings__init(s);
	s->dim = e->settings.dim;
	s->metric =
	    e->settings.metric ? ROOST__METRIC__METRIC_INNER_PRODUCT : ROOST__METRIC__METRIC_L2;
	s->index = (char *)e->settings.index;
	s->train_docs = e->settings.train_docs;
	s->seal_docs = e->settings.seal_docs;
	s->seal_interval_ms = e->settings.seal_interval_ms;
	memcpy(bi->keys, e->settings.indexed_keys, sizeof bi->keys);
	s->n_indexed_keys = wire_keys_split(bi->keys, bi->key_list);
	s->indexed_keys = bi->key_list;
	Roost__CollectionInfo *info = &bi->info;
	roost__collection_info__init(info);
	info->name = (char *)e->name;
	info->id = e->id;
	info->settings = s;
	info->documents = e->documents;
	info->segments = e->segments;
	info->created_lsn = e->created_lsn;
	info->rebuilding = e->rebuilding;
	info->history_start_lsn = e->history_start;
	info->history_bytes = e->history_bytes;
}

static int broker__collection_reply(const struct catalog_entry *e, uint64_t lsn, int existed,
				    void **out, size_t *len)
{
	struct broker__info bi;
	broker__info(e, &bi);
	Roost__CollectionReply cr = ROOST__COLLECTION_REPLY__INIT;
	cr.lsn = lsn;
	cr.collection = &bi.info;
	cr.existed = existed;
	Roost__Reply reply = ROOST__REPLY__INIT;
	reply.body_case = ROOST__REPLY__BODY_COLLECTION;
	reply.collection = &cr;
	return wire_encode_reply(&reply, out, len);
}

/* 1 when the settings a create gives (0 and "": the writer's default;
 * no indexed keys are none, not a default) are those of a live one. */
static int broker__same_settings(const struct coll_settings *given, const struct coll_settings *s)
{
	return given->dim == s->dim && given->metric == s->metric &&
	       (!given->index[0] || strcmp(given->index, s->index) == 0) &&
	       (!given->seal_docs || given->seal_docs == s->seal_docs) &&
	       (!given->train_docs || given->train_docs == s->train_docs) &&
	       (!given->seal_interval_ms || given->seal_interval_ms == s->seal_interval_ms) &&
	       strcmp(given->indexed_keys, s->indexed_keys) == 0;
}

/* A create whose name is taken: done already when the settings are the
 * same, refused when not. */
static int broker__exists(struct broker *b, const struct collrec *op, void **out, size_t *len)
{
	struct catalog_entry e;
	char msg[BROKER_MSG];
	if (catalog_find(b->cat, op->name, &e) != 0)
		return broker__reply_error(ROOST_EBUSY,
					   "the collection was dropped while it was created; retry",
					   out, len);
	if (broker__same_settings(&op->settings, &e.settings))
		return broker__collection_reply(&e, e.created_lsn, 1, out, len);
	snprintf(msg, sizeof msg,
		 "collection '%s' exists with other settings (dim %u, metric %s, index %s, "
		 "indexed keys %s); drop it first, or create another name",
		 e.name, e.settings.dim, e.settings.metric ? "ip" : "l2", e.settings.index,
		 e.settings.indexed_keys[0] ? e.settings.indexed_keys : "none");
	return broker__reply_error(ROOST_EEXIST, msg, out, len);
}

static int broker__precheck_create(struct broker *b, const struct broker_record *r,
				   struct broker_add *res, char *msg)
{
	struct catalog_entry e;
	(void)res;
	(void)msg;
	return catalog_find(b->cat, r->op.name, &e) == 0 ? ROOST_EEXIST : 0;
}

/* A drop or an alter of a name that is not live changes nothing: it is
 * refused before it takes a place in the log. */
static int broker__precheck_live(struct broker *b, const struct broker_record *r,
				 struct broker_add *res, char *msg)
{
	(void)res;
	struct catalog_entry e;
	int rc = catalog_find(b->cat, r->op.name, &e);
	if (rc)
		snprintf(msg, BROKER_MSG, "no collection '%s' in instance '%s' to %s", r->op.name,
			 b->name, r->op.op == COLLREC_DROP ? "drop" : "alter");
	return rc;
}

/* Why the writer refused a create, a drop or an alter, in its words when
 * it left a note. */
static int broker__refused(struct broker *b, int code, uint64_t lsn, const char *what,
			   const char *name, void **out, size_t *len)
{
	char note[CATALOG_NOTE_MAX], msg[BROKER_MSG];
	if (catalog_note_find(b->cat, lsn, note, sizeof note) == 0)
		snprintf(msg, sizeof msg, "%s '%s' refused: %s", what, name, note);
	else if (code == ROOST_ENOCOLL)
		snprintf(msg, sizeof msg, "no collection '%s' (dropped already?)", name);
	else
		snprintf(msg, sizeof msg, "%s '%s' refused: %s", what, name, roost_strerror(code));
	return broker__reply_error(code, msg, out, len);
}

static int broker__create(struct broker *b, const Roost__CreateCollectionRequest *c, void **out,
			  size_t *len)
{
	char msg[BROKER_MSG] = "";
	int rc = wire_check_create(c, msg, sizeof msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	struct broker_record r = {.client_id = c->client_id,
				  .seq = c->seq,
				  .size = COLLREC_SIZE,
				  .precheck = broker__precheck_create};
	wire_create_record(c, &r.op);
	struct broker_add res;
	int refused;
	/* Acknowledged once the catalog lists it: then every broker takes adds. */
	rc = broker__coll_commit(b, &r, c->timeout_ms, &res, &refused, msg);
	if (rc == ROOST_EEXIST || refused == ROOST_EEXIST)
		return broker__exists(b, &r.op, out, len);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	if (refused)
		return broker__refused(b, refused, res.lsn, "create of collection", c->name, out,
				       len);
	struct catalog_entry e;
	if (catalog_find(b->cat, c->name, &e) != 0)
		return broker__reply_error(
		    ROOST_ENOCOLL, "the collection was dropped right after its create", out, len);
	return broker__collection_reply(&e, res.lsn, 0, out, len);
}

static int broker__drop(struct broker *b, const Roost__DropCollectionRequest *d, void **out,
			size_t *len)
{
	char msg[BROKER_MSG] = "";
	int rc = wire_check_drop(d, msg, sizeof msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	struct catalog_entry e = {0};
	catalog_find(b->cat, d->name, &e);
	struct broker_record r = {
	    .client_id = d->client_id,
	    .seq = d->seq,
	    .size = COLLREC_SIZE,
	    .op = {.op = COLLREC_DROP, .client_id = d->client_id, .seq = d->seq, .id = e.id},
	    .precheck = broker__precheck_live};
	snprintf(r.op.name, sizeof r.op.name, "%s", d->name);
	struct broker_add res;
	int refused;
	/* Acknowledged once applied: no broker takes adds for it any more. */
	rc = broker__coll_commit(b, &r, d->timeout_ms, &res, &refused, msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	if (refused)
		return broker__refused(b, refused, res.lsn, "drop of collection", d->name, out,
				       len);
	if (!e.id)
		snprintf(e.name, sizeof e.name, "%s", d->name); /* a retry: gone already */
	return broker__collection_reply(&e, res.lsn, 0, out, len);
}

/* An alter names the collection by the id found here: one dropped and
 * created again under its name before the writer applies the alter is
 * another, and the writer refuses the alter (ROOST_ENOCOLL). */
static int broker__alter(struct broker *b, const Roost__AlterCollectionRequest *a, void **out,
			 size_t *len)
{
	char msg[BROKER_MSG] = "";
	int rc = wire_check_alter(a, msg, sizeof msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	struct catalog_entry e = {0};
	catalog_find(b->cat, a->name, &e);
	struct broker_record r = {.client_id = a->client_id,
				  .seq = a->seq,
				  .size = COLLREC_SIZE,
				  .precheck = broker__precheck_live};
	wire_alter_record(a, e.id, &r.op);
	struct broker_add res;
	int refused;
	/* Acknowledged once published: every seal from then on builds the
	 * new index, and the catalog describes the collection as altered. */
	rc = broker__coll_commit(b, &r, a->timeout_ms, &res, &refused, msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	if (refused)
		return broker__refused(b, refused, res.lsn, "alter of collection", a->name, out,
				       len);
	if (catalog_find(b->cat, a->name, &e) != 0)
		return broker__reply_error(
		    ROOST_ENOCOLL, "the collection was dropped right after its alter", out, len);
	return broker__collection_reply(&e, res.lsn, 0, out, len);
}

/* A fork into a name taken, or of a source that is not live, changes
 * nothing: refused before it takes a place in the log. */
static int broker__precheck_fork(struct broker *b, const struct broker_record *r,
				 struct broker_add *res, char *msg)
{
	(void)res;
	struct catalog_entry e;
	if (catalog_find(b->cat, r->op.name, &e) == 0) {
		snprintf(msg, BROKER_MSG,
			 "collection '%s' exists: fork into a new name, or drop it first",
			 r->op.name);
		return ROOST_EEXIST;
	}
	if (catalog_get(b->cat, r->op.id, &e) != 0) {
		snprintf(msg, BROKER_MSG, "the collection to fork was dropped");
		return ROOST_ENOCOLL;
	}
	return 0;
}

/* A fork names its source by the id found here, as an alter does. */
static int broker__fork(struct broker *b, const Roost__ForkCollectionRequest *f, void **out,
			size_t *len)
{
	char msg[BROKER_MSG] = "";
	struct catalog_entry e = {0};
	int rc = wire_check_fork(f, msg, sizeof msg);
	if (rc == 0)
		rc = broker__collection(b, f->source, &e, msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	struct broker_record r = {.client_id = f->client_id,
				  .seq = f->seq,
				  .size = COLLREC_SIZE,
				  .precheck = broker__precheck_fork};
	wire_fork_record(f, e.id, &r.op);
	struct broker_add res;
	int refused;
	/* Acknowledged once the catalog lists it: then it answers searches. */
	rc = broker__coll_commit(b, &r, f->timeout_ms, &res, &refused, msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	if (refused)
		return broker__refused(b, refused, res.lsn, "fork into collection", f->name, out,
				       len);
	if (catalog_find(b->cat, f->name, &e) != 0)
		return broker__reply_error(
		    ROOST_ENOCOLL, "the fork was dropped right after it was made", out, len);
	return broker__collection_reply(&e, res.lsn, 0, out, len);
}

/* Every live collection, by id, as infos pointing into entries. */
static int broker__infos(struct broker *b, struct catalog_entry **entries,
			 struct broker__info **infos, Roost__CollectionInfo ***ptrs, size_t *n)
{
	*entries = calloc(CATALOG_SLOTS, sizeof **entries);
	*infos = calloc(CATALOG_SLOTS, sizeof **infos);
	*ptrs = calloc(CATALOG_SLOTS, sizeof **ptrs);
	if (!*entries || !*infos || !*ptrs)
		return ROOST_ENOMEM;
	catalog_list(b->cat, *entries, CATALOG_SLOTS, n);
	for (size_t i = 0; i < *n; i++) {
		broker__info(&(*entries)[i], &(*infos)[i]);
		(*ptrs)[i] = &(*infos)[i].info;
	}
	return 0;
}

static void broker__infos_free(struct catalog_entry *entries, struct broker__info *infos,
			       Roost__CollectionInfo **ptrs)
{
	free(entries);
	free(infos);
	free(ptrs);
}

static int broker__list(struct broker *b, void **out, size_t *len)
{
	struct catalog_entry *entries;
	struct broker__info *infos;
	Roost__CollectionInfo **ptrs;
	size_t n = 0;
	int rc = broker__infos(b, &entries, &infos, &ptrs, &n);
	if (rc == 0) {
		Roost__ListCollectionsReply lr = ROOST__LIST_COLLECTIONS_REPLY__INIT;
		lr.n_collections = n;
		lr.collections = ptrs;
		Roost__Reply reply = ROOST__REPLY__INIT;
		reply.body_case = ROOST__REPLY__BODY_COLLECTIONS;
		reply.collections = &lr;
		rc = wire_encode_reply(&reply, out, len);
	}
	broker__infos_free(entries, infos, ptrs);
	return rc;
}

/* ---- adds and status ---- */

static int broker__add_reply(int status, const char *msg, const struct broker_add *res, void **out,
			     size_t *len)
{
	uint64_t *ids = malloc((res->count ? res->count : 1) * sizeof *ids);
	if (!ids)
		return ROOST_ENOMEM;
	for (uint32_t i = 0; i < res->count; i++)
		ids[i] = res->lsn + i;
	Roost__AddReply add = ROOST__ADD_REPLY__INIT;
	add.lsn = res->lsn;
	add.n_ids = res->count;
	add.ids = ids;
	add.duplicate = res->duplicate;
	Roost__Reply reply = ROOST__REPLY__INIT;
	reply.status = status;
	reply.message = (char *)(status ? msg : "");
	reply.body_case = ROOST__REPLY__BODY_ADD;
	reply.add = &add;
	int rc = wire_encode_reply(&reply, out, len);
	free(ids);
	return rc;
}

/* An add the writer did not apply. */
static int broker__add_refused(const Roost__AddRequest *add, const struct catalog_entry *e,
			       int code, uint64_t lsn, void **out, size_t *len)
{
	char msg[BROKER_MSG];
	if (code == ROOST_ENOCOLL)
		snprintf(msg, sizeof msg,
			 "collection '%s' was dropped before batch %llu was applied; nothing was "
			 "added",
			 e->name, (unsigned long long)lsn);
	else
		/* This broker had forgotten the client (its slot was reused) and
		 * took the batch as new; the writer knew better. */
		snprintf(msg, sizeof msg,
			 "batch (%llx, %llu) repeats one this instance stored before; nothing was "
			 "added, and the original ids are not known here",
			 (unsigned long long)add->client_id, (unsigned long long)add->seq);
	return broker__reply_error(code == ROOST_ENOCOLL ? code : ROOST_ESEQ, msg, out, len);
}

/* The batch's documents charged to their agents (fair.h). */
static int broker__precheck_fair(struct broker *b, const struct broker_record *r,
				 struct broker_add *res, char *msg)
{
	size_t n = r->add->n_docs;
	int64_t *agents = malloc(n * sizeof *agents);
	struct fair_charge *charges = malloc(n * sizeof *charges);
	int rc = agents && charges ? 0 : ROOST_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++)
		agents[i] = r->add->docs[i]->agent;
	struct fair_refusal why;
	if (rc == 0)
		rc = fair_admit(b->fair, charges, fair_charges(agents, n, charges), futex_now_ms(),
				&why);
	if (rc == ROOST_EBUSY) {
		snprintf(msg, BROKER_MSG,
			 "agent %lld is over its rate of %u documents/s through this broker; "
			 "retry in %u ms",
			 (long long)why.agent, fair_rate(b->fair), why.retry_ms);
		res->retry_ms = why.retry_ms;
	}
	free(agents);
	free(charges);
	return rc;
}

static enum mstat_ack broker__ack_of(Roost__AckMode ack)
{
	return ack == ROOST__ACK_MODE__ACK_QUEUED    ? MSTAT_ACK_QUEUED
	       : ack == ROOST__ACK_MODE__ACK_VISIBLE ? MSTAT_ACK_VISIBLE
						     : MSTAT_ACK_DURABLE;
}

/* What a written add's reply status says of it. */
static enum mstat_outcome broker__outcome(int status, const struct broker_add *res)
{
	switch (status) {
	case 0:
		return res->duplicate ? MSTAT_DUPLICATE : MSTAT_OK;
	case ROOST_EBUSY:
	case ROOST_ENOSPC: /* shared memory full: try again later */
		return MSTAT_BUSY;
	case ROOST_ETIMEDOUT:
		return MSTAT_TIMEOUT;
	case ROOST_EWRITER:
		return MSTAT_UNAVAILABLE;
	default:
		return MSTAT_INVALID;
	}
}

/* Counts the add and passes its reply on; bytes: its batch's when this
 * request wrote it into the ring (0 for a retry of a key already there). */
static int broker__counted(struct broker *b, const Roost__AddRequest *add,
			   enum mstat_outcome outcome, uint64_t bytes, uint64_t t0, int rc)
{
	/* In the ring for the first time: applied, now or once the writer is back. */
	int written = bytes && (outcome == MSTAT_OK || outcome == MSTAT_TIMEOUT ||
				outcome == MSTAT_UNAVAILABLE);
	mstat_add(b->metrics, broker__ack_of(add->ack), outcome,
		  written ? (uint32_t)add->n_docs : 0, written ? bytes : 0, mstat_now_ns() - t0);
	return rc;
}

static int broker__add(struct broker *b, const Roost__AddRequest *add, void **out, size_t *len)
{
	uint64_t t0 = mstat_now_ns();
	char msg[BROKER_MSG] = "";
	struct catalog_entry e = {0};
	int rc = broker__collection(b, add->collection, &e, msg);
	struct wire_limits lim = b->cfg.limits;
	lim.dim = e.settings.dim;
	if (rc == 0)
		rc = wire_check_add(add, &lim, msg, sizeof msg);
	if (rc)
		return broker__counted(b, add, MSTAT_INVALID, 0, t0,
				       broker__reply_error(rc, msg, out, len));
	struct broker_record r = {.client_id = add->client_id,
				  .seq = add->seq,
				  .count = (uint32_t)add->n_docs,
				  .size = wire_batch_size(add),
				  .add = add,
				  .coll = e.id,
				  .precheck = fair_rate(b->fair) ? broker__precheck_fair : NULL};
	struct broker_add res;
	int waited, refused;
	rc = broker__commit(b, &r, add->ack, add->timeout_ms, &res, &waited, &refused, msg);
	if (rc)
		return broker__counted(b, add, broker__outcome(rc, &res), 0, t0,
				       broker__reply_retry(rc, msg, res.retry_ms, out, len));
	if (refused)
		return broker__counted(b, add, MSTAT_REFUSED, r.size, t0,
				       broker__add_refused(add, &e, refused, res.lsn, out, len));
	/* On a failed wait the ids still go back: a retry with the same key
	 * returns them again once the batch is through. */
	return broker__counted(b, add, broker__outcome(waited, &res), res.duplicate ? 0 : r.size,
			       t0, broker__add_reply(waited, msg, &res, out, len));
}

static int broker__delete_reply(int status, const char *msg, const struct broker_add *res,
				void **out, size_t *len)
{
	Roost__DeleteReply del = ROOST__DELETE_REPLY__INIT;
	del.lsn = res->lsn;
	del.duplicate = res->duplicate;
	Roost__Reply reply = ROOST__REPLY__INIT;
	reply.status = status;
	reply.message = (char *)(status ? msg : "");
	reply.body_case = ROOST__REPLY__BODY_DELETED;
	reply.deleted = &del;
	return wire_encode_reply(&reply, out, len);
}

static int broker__delete(struct broker *b, const Roost__DeleteRequest *d, void **out, size_t *len)
{
	char msg[BROKER_MSG] = "";
	struct catalog_entry e = {0};
	int rc = wire_check_delete(d, msg, sizeof msg);
	if (rc == 0)
		rc = broker__collection(b, d->collection, &e, msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	struct broker_record r = {.client_id = d->client_id,
				  .seq = d->seq,
				  .count = (uint32_t)d->n_ids,
				  .size = wire_delete_size(d),
				  .del = d,
				  .coll = e.id};
	struct broker_add res;
	int waited, refused;
	rc = broker__commit(b, &r, d->ack, d->timeout_ms, &res, &waited, &refused, msg);
	if (rc)
		return broker__reply_error(rc, msg, out, len);
	if (refused == ROOST_ENOCOLL) {
		snprintf(msg, sizeof msg,
			 "collection '%s' was dropped before delete %llu was applied", e.name,
			 (unsigned long long)res.lsn);
		return broker__reply_error(refused, msg, out, len);
	}
	if (refused == ROOST_EKEY)
		return broker__reply_error(
		    ROOST_ESEQ, "this delete repeats one the instance applied before", out, len);
	if (refused)
		return broker__refused(b, refused, res.lsn, "delete in collection", e.name, out,
				       len);
	return broker__delete_reply(waited, msg, &res, out, len);
}

static int broker__status(struct broker *b, const Roost__StatusRequest *s, void **out, size_t *len)
{
	char msg[BROKER_MSG] = "", mode[64];
	struct catalog_entry e = {0};
	int rc = broker__collection(b, s->collection, &e, msg);
	if (rc && s->collection && s->collection[0])
		return broker__reply_error(rc, msg, out, len);
	struct catalog_entry *entries;
	struct broker__info *infos;
	Roost__CollectionInfo **ptrs;
	size_t n = 0;
	rc = broker__infos(b, &entries, &infos, &ptrs, &n);
	ctl_writer_mode(b->ctl, mode, sizeof mode);
	Roost__StatusReply st = ROOST__STATUS_REPLY__INIT;
	st.collection = e.name;
	st.dim = e.settings.dim;
	st.metric =
	    e.settings.metric ? ROOST__METRIC__METRIC_INNER_PRODUCT : ROOST__METRIC__METRIC_L2;
	st.index = e.settings.index;
	st.writer_pid = ctl_writer_pid(b->ctl);
	st.ring_head = ring_head(b->ring);
	st.ring_reserve = ring_reserve(b->ring);
	st.ring_capacity = ring_capacity(b->ring);
	st.durable_lsn = ctl_mark(b->ctl, CTL_DURABLE);
	st.applied_lsn = ctl_mark(b->ctl, CTL_APPLIED);
	st.published_lsn = ctl_mark(b->ctl, CTL_PUBLISHED);
	st.documents = ctl_documents(b->ctl);
	st.agent_rate = fair_rate(b->fair);
	st.agent_refused = fair_refused(b->fair);
	st.writer_mode = st.writer_pid ? mode : "down";
	struct catalog_history h = {.retain = ""};
	if (catalog_history(b->cat, &h) == 0 && h.retain[0]) {
		st.retain = h.retain;
		st.history_horizon_lsn = h.horizon == UINT64_MAX ? 0 : h.horizon ? h.horizon : 1;
		st.history_log_bytes = h.log_bytes;
	}
	st.n_collections = n;
	st.collections = ptrs;
	Roost__Reply reply = ROOST__REPLY__INIT;
	reply.body_case = ROOST__REPLY__BODY_STATUS_REPLY;
	reply.status_reply = &st;
	if (rc == 0)
		rc = wire_encode_reply(&reply, out, len);
	broker__infos_free(entries, infos, ptrs);
	return rc;
}

/* A search without its own timeout: the readers' default wait for
 * min_lsn, plus time for the search itself and the reply. */
#define BROKER_SEARCH_SLACK_MS 3000
/* How long a search waits for a reader to connect when none is: a
 * restarting reader is back well within it. */
#define BROKER_READER_GRACE_MS 1000

static void broker__reader_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	(void)pipe;
	struct broker_readers *r = arg;
	pthread_mutex_lock(&r->lock);
	/* nng reports REM_POST exactly for the pipes it reported ADD_PRE for. */
	r->count += ev == NNG_PIPE_EV_ADD_PRE ? 1 : -1;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

int broker_readers_open(struct broker *b, const char *url, mode_t mode, const char *tcp)
{
	struct broker_readers *r = &b->readers;
	char err[BROKER_MSG];
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->changed, &ca);
	pthread_condattr_destroy(&ca);
	/* A reader that dies mid-search: nng sends the request again at once
	 * to another; one that stops answering: again after the interval. */
	int rc = sp_open_client(&r->sock, WIRE_MAX_FRAME, BROKER_READER_RESEND_MS);
	if (rc)
		return rc;
	if (nng_pipe_notify(r->sock, NNG_PIPE_EV_ADD_PRE, broker__reader_event, r) != 0 ||
	    nng_pipe_notify(r->sock, NNG_PIPE_EV_REM_POST, broker__reader_event, r) != 0)
		return ROOST_ECONN;
	rc = sp_ipc_listen(&r->where, r->sock, url, mode, err, sizeof err);
	if (rc == 0 && tcp)
		rc = sp_listen(r->sock, tcp, mode, err, sizeof err);
	if (rc)
		log_error("search socket for readers: %s", err);
	return rc;
}

void broker_keep_listening(struct sp_ipc *where)
{
	char err[BROKER_MSG];
	int rc = sp_ipc_keep(where, err, sizeof err);
	if (rc == 1)
		log_warn("%s was removed; listening there again", where->url);
	else if (rc)
		log_error("%s was removed and cannot be listened on again: %s", where->url, err);
}

void broker_readers_keep(struct broker *b)
{
	broker_keep_listening(&b->readers.where);
}

void broker_readers_stop(struct broker *b)
{
	struct broker_readers *r = &b->readers;
	pthread_mutex_lock(&r->lock);
	r->stopping = 1;
	for (int i = 0; i < r->ncallers; i++)
		nng_aio_cancel(r->callers[i]);
	pthread_mutex_unlock(&r->lock);
}

void broker_readers_close(struct broker *b)
{
	nng_close(b->readers.sock);
}

/* Waits up to wait_ms for a connected reader; returns how many are. */
static int broker__readers_wait(struct broker_readers *r, int wait_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	while (r->count == 0 && pthread_cond_timedwait(&r->changed, &r->lock, &until) == 0)
		;
	int n = r->count;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* Each worker forwards its searches on its own REQ context: a context
 * carries one request at a time, and many share the socket. */
struct broker__caller {
	nng_ctx ctx;
	nng_aio *aio;
	int open;
};

static _Thread_local struct broker__caller broker__caller;
static _Thread_local struct broker_readers *broker__caller_of;

/* The calling worker's caller, opened and registered on first use; NULL
 * once the broker is stopping. */
static struct broker__caller *broker__caller_get(struct broker *b)
{
	struct broker_readers *r = &b->readers;
	struct broker__caller *c = &broker__caller;
	pthread_mutex_lock(&r->lock);
	if (!c->open && !r->stopping && r->ncallers < BROKER_MAX_WORKERS &&
	    nng_aio_alloc(&c->aio, NULL, NULL) == 0) {
		if (nng_ctx_open(&c->ctx, r->sock) == 0) {
			c->open = 1;
			r->callers[r->ncallers++] = c->aio;
			broker__caller_of = r;
		} else {
			nng_aio_free(c->aio);
		}
	}
	int usable = c->open && !r->stopping;
	pthread_mutex_unlock(&r->lock);
	return usable ? c : NULL;
}

void broker_thread_close(void)
{
	struct broker__caller *c = &broker__caller;
	struct broker_readers *r = broker__caller_of;
	if (!c->open)
		return;
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->ncallers; i++)
		if (r->callers[i] == c->aio)
			r->callers[i] = r->callers[--r->ncallers];
	pthread_mutex_unlock(&r->lock);
	nng_ctx_close(c->ctx);
	nng_aio_free(c->aio);
	c->open = 0;
}

static int broker__no_reader(struct broker *b, int rc, int wait, void **out, size_t *out_len)
{
	char text[BROKER_MSG];
	int n = broker__readers_wait(&b->readers, 0);
	if (n == 0)
		snprintf(text, sizeof text,
			 "no reader serving instance '%s': start one with `roost readers --name %s "
			 "add` (or roost-reader --name %s)",
			 b->name, b->name, b->name);
	else
		snprintf(text, sizeof text,
			 "no reader answered within %d ms (%d connected; stopped or overloaded?)",
			 wait, n);
	return broker__reply_error(n == 0 ? ROOST_ENOREADER : rc, text, out, out_len);
}

/* Searches and gets are answered by readers; the broker passes the frame
 * on and the reply back unchanged. */
static int broker__forward(struct broker *b, uint32_t timeout_ms, const void *frame, size_t len,
			   void **out, size_t *out_len)
{
	/* The reader waits wire_inner_wait() of the same timeout, so its
	 * answer, even "not visible", comes back before this one gives up. */
	int wait = timeout_ms ? wire_timeout_ms(timeout_ms, 0, b->cfg.max_timeout_ms)
			      : b->cfg.search_wait_ms + BROKER_SEARCH_SLACK_MS;
	int grace = wait < BROKER_READER_GRACE_MS ? wait : BROKER_READER_GRACE_MS;
	if (broker__readers_wait(&b->readers, grace) == 0)
		return broker__no_reader(b, ROOST_ENOREADER, wait, out, out_len);
	struct broker__caller *c = broker__caller_get(b);
	nng_msg *m;
	int rc = c ? sp_call(c->ctx, c->aio, frame, len, wait, &m) : ROOST_ECLOSED;
	if (rc == ROOST_ETIMEDOUT || rc == ROOST_ECONN)
		return broker__no_reader(b, ROOST_ETIMEDOUT, wait, out, out_len);
	if (rc == ROOST_ECLOSED)
		return broker__reply_error(rc, "the broker is stopping; send the request again",
					   out, out_len);
	if (rc)
		return broker__reply_error(rc, "cannot forward the request to a reader", out,
					   out_len);
	*out_len = nng_msg_len(m);
	*out = malloc(*out_len ? *out_len : 1);
	if (*out)
		memcpy(*out, nng_msg_body(m), *out_len);
	nng_msg_free(m);
	return *out ? 0 : ROOST_ENOMEM;
}

/* A binary frame; JSON ones arrive here re-encoded by jsonsrv_serve(). */
static int broker__handle_binary(void *ctx, const void *frame, size_t len, void **reply,
				 size_t *reply_len)
{
	struct broker *b = ctx;
	char msg[BROKER_MSG] = "";
	Roost__Request *req;
	int rc = wire_decode_request(frame, len, b->cfg.limits.max_frame, &req, msg, sizeof msg);
	if (rc)
		return broker__reply_error(rc, msg, reply, reply_len);
	switch (req->op_case) {
	case ROOST__REQUEST__OP_ADD:
		rc = broker__add(b, req->add, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_SEARCH:
		rc = broker__forward(b, req->search->timeout_ms, frame, len, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_GET_DOCS:
		rc = broker__forward(b, req->get_docs->timeout_ms, frame, len, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_SCROLL:
		rc = broker__forward(b, req->scroll->timeout_ms, frame, len, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_STATUS:
		rc = broker__status(b, req->status, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_CREATE_COLLECTION:
		rc = broker__create(b, req->create_collection, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_DROP_COLLECTION:
		rc = broker__drop(b, req->drop_collection, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_ALTER_COLLECTION:
		rc = broker__alter(b, req->alter_collection, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_FORK_COLLECTION:
		rc = broker__fork(b, req->fork_collection, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_LIST_COLLECTIONS:
		rc = broker__list(b, reply, reply_len);
		break;
	case ROOST__REQUEST__OP_DELETE_DOCS:
		rc = broker__delete(b, req->delete_docs, reply, reply_len);
		break;
	default:
		rc = broker__reply_error(ROOST_EUNSUPPORTED, "operation not served by brokers",
					 reply, reply_len);
	}
	wire_request_free(req);
	return rc;
}

int broker_handle(struct broker *b, const void *frame, size_t len, void **reply, size_t *reply_len)
{
	return jsonsrv_serve(frame, len, b->cfg.limits.max_frame, broker__handle_binary, b, reply,
			     reply_len);
}
