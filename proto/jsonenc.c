#include "jsonenc.h"

#include "batch.h"
#include "clocale.h"
#include "err.h"
#include "json.h"
#include "jsonlex.h"
#include "meta.h"
#include "wire.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The output buffer.                                                  */

struct jsonenc__buf {
	char *s;
	size_t len, cap;
	int err; /* sticky: the first failure; later writes do nothing */
};

static void jsonenc__put(struct jsonenc__buf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > ncap)
			ncap *= 2;
		char *a = realloc(b->s, ncap);
		if (a == NULL) {
			b->err = ROOST_ENOMEM;
			return;
		}
		b->s = a;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void jsonenc__puts(struct jsonenc__buf *b, const char *s)
{
	jsonenc__put(b, s, strlen(s));
}

static void jsonenc__fail(struct jsonenc__buf *b, int code)
{
	if (!b->err)
		b->err = code;
}

/* For short items only: numbers, keys, punctuation. */
__attribute__((format(printf, 2, 3))) static void jsonenc__putf(struct jsonenc__buf *b,
								const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	/* A cut item would be broken JSON: refuse it instead. */
	if (n < 0 || (size_t)n >= sizeof tmp)
		jsonenc__fail(b, ROOST_EINVAL);
	else
		jsonenc__put(b, tmp, (size_t)n);
}

/* A quoted string; runs of plain bytes are copied whole. */
static void jsonenc__put_str(struct jsonenc__buf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (!batch_utf8_valid(s != NULL ? s : "", n)) {
		jsonenc__fail(b, ROOST_EUTF8);
		return;
	}
	jsonenc__put(b, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jsonenc__put(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\')
			jsonenc__putf(b, "\\%c", c);
		else if (c == '\n')
			jsonenc__puts(b, "\\n");
		else if (c == '\t')
			jsonenc__puts(b, "\\t");
		else
			jsonenc__putf(b, "\\u%04x", c);
	}
	jsonenc__put(b, s + run, n - run);
	jsonenc__put(b, "\"", 1);
}

/* The shortest decimal that reads back as the same float32 (9 significant
 * digits always do) or, for a double, the same double (17 always do);
 * null when the value is not finite. The caller has entered the C
 * locale. */
static void jsonenc__put_real(struct jsonenc__buf *b, double v, int float32)
{
	if (!isfinite(v)) {
		jsonenc__puts(b, "null");
		return;
	}
	int prec, last = float32 ? 9 : 17;
	for (prec = float32 ? 6 : 15; prec < last; prec++) {
		char tmp[32];
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (float32 ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
			break;
	}
	jsonenc__putf(b, "%.*g", prec, v);
}

static void jsonenc__put_float(struct jsonenc__buf *b, float f)
{
	jsonenc__put_real(b, f, 1);
}

/* The helpers below write pre, the literal text before the value (a
 * separator and the quoted key), then the value. */
static void jsonenc__put_u64(struct jsonenc__buf *b, const char *pre, uint64_t v)
{
	jsonenc__putf(b, "%s%llu", pre, (unsigned long long)v);
}

static void jsonenc__put_i64(struct jsonenc__buf *b, const char *pre, int64_t v)
{
	jsonenc__putf(b, "%s%lld", pre, (long long)v);
}

static void jsonenc__put_key_str(struct jsonenc__buf *b, const char *pre, const char *v)
{
	jsonenc__puts(b, pre);
	jsonenc__put_str(b, v);
}

static void jsonenc__put_floats(struct jsonenc__buf *b, const float *v, size_t n)
{
	jsonenc__put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			jsonenc__put(b, ",", 1);
		jsonenc__put_float(b, v[i]);
	}
	jsonenc__put(b, "]", 1);
}

/* Writes msg with put, in the C locale that numbers need, and hands the
 * text over; on a sticky error it frees what was written. */
static int jsonenc__write(void (*put)(struct jsonenc__buf *b, const void *msg), const void *msg,
			  char **out, size_t *outlen)
{
	if (msg == NULL || out == NULL || outlen == NULL)
		return ROOST_EINVAL;
	locale_t old;
	int rc = clocale_enter(&old);
	if (rc)
		return rc;
	struct jsonenc__buf b = {0};
	put(&b, msg);
	clocale_leave(old);
	if (b.err) {
		free(b.s);
		return b.err;
	}
	*out = b.s;
	*outlen = b.len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Replies.                                                            */

/* A document's own id and metadata, where it has them. Metadata goes in
 * as the object it is; text that is not metadata (which no server
 * stores) would break the whole reply, so it is left out instead. */
static void jsonenc__put_doc_refs(struct jsonenc__buf *b, const char *pre, const char *id,
				  const char *meta)
{
	if (id && *id)
		jsonenc__put_key_str(b, pre, id);
	size_t n = meta ? strlen(meta) : 0;
	if (n && meta_check(meta, n, NULL, 0) == 0) {
		jsonenc__puts(b, ",\"metadata\":");
		jsonenc__put(b, meta, n);
	}
}

static void jsonenc__put_hit(struct jsonenc__buf *b, const Roost__Hit *h)
{
	jsonenc__put_u64(b, "{\"id\":", h->id);
	jsonenc__puts(b, ",\"score\":");
	jsonenc__put_float(b, h->score);
	jsonenc__put_i64(b, ",\"agent\":", h->agent);
	jsonenc__put_i64(b, ",\"time\":", h->time);
	jsonenc__put_key_str(b, ",\"kind\":", h->kind);
	jsonenc__put_key_str(b, ",\"text\":", h->text);
	jsonenc__put_doc_refs(b, ",\"key\":", h->key, h->metadata);
	if (h->n_vector) {
		jsonenc__puts(b, ",\"vector\":");
		jsonenc__put_floats(b, h->vector, h->n_vector);
	}
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_search_reply(struct jsonenc__buf *b, const Roost__SearchReply *s)
{
	jsonenc__put_u64(b, ",\"search\":{\"lsn\":", s->lsn);
	jsonenc__puts(b, ",\"results\":[");
	for (size_t q = 0; q < s->n_results; q++) {
		const Roost__QueryResult *r = s->results[q];

		jsonenc__puts(b, q ? ",{\"hits\":[" : "{\"hits\":[");
		for (size_t i = 0; r != NULL && i < r->n_hits; i++) {
			if (i)
				jsonenc__put(b, ",", 1);
			jsonenc__put_hit(b, r->hits[i]);
		}
		jsonenc__puts(b, "]}");
	}
	jsonenc__puts(b, "]}");
}

static void jsonenc__put_hits(struct jsonenc__buf *b, Roost__Hit *const *hits, size_t n)
{
	jsonenc__puts(b, ",\"docs\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			jsonenc__put(b, ",", 1);
		jsonenc__put_hit(b, hits[i]);
	}
	jsonenc__puts(b, "]");
}

static void jsonenc__put_got(struct jsonenc__buf *b, const Roost__GetReply *g)
{
	jsonenc__put_u64(b, ",\"got\":{\"lsn\":", g->lsn);
	jsonenc__put_hits(b, g->docs, g->n_docs);
	jsonenc__puts(b, "}");
}

static void jsonenc__put_scrolled(struct jsonenc__buf *b, const Roost__ScrollReply *s)
{
	jsonenc__put_u64(b, ",\"scrolled\":{\"lsn\":", s->lsn);
	jsonenc__put_hits(b, s->docs, s->n_docs);
	jsonenc__put_key_str(b, ",\"next_cursor\":", s->next_cursor);
	jsonenc__puts(b, "}");
}

static void jsonenc__put_add_reply(struct jsonenc__buf *b, const Roost__AddReply *a)
{
	jsonenc__put_u64(b, ",\"add\":{\"lsn\":", a->lsn);
	jsonenc__puts(b, ",\"ids\":[");
	for (size_t i = 0; i < a->n_ids; i++)
		jsonenc__putf(b, i ? ",%llu" : "%llu", (unsigned long long)a->ids[i]);
	jsonenc__putf(b, "],\"duplicate\":%s}", a->duplicate ? "true" : "false");
}

/* A metric by its name; one this schema does not know (a newer
 * server's) by its number, so that the reply still says what it is. */
static void jsonenc__put_metric(struct jsonenc__buf *b, const char *pre, Roost__Metric m)
{
	const char *name = json_metric_name(m);

	if (name != NULL)
		jsonenc__putf(b, "%s\"%s\"", pre, name);
	else
		jsonenc__putf(b, "%s%d", pre, (int)m);
}

/* pre, then an array of n strings. */
static void jsonenc__put_strs(struct jsonenc__buf *b, const char *pre, char *const *strs, size_t n)
{
	jsonenc__puts(b, pre);
	jsonenc__put(b, "[", 1);
	for (size_t i = 0; i < n; i++)
		jsonenc__put_key_str(b, i ? "," : "", strs[i]);
	jsonenc__put(b, "]", 1);
}

/* Requests (a create) and replies (a collection's info) alike. */
static void jsonenc__put_settings(struct jsonenc__buf *b, const Roost__CollectionSettings *s)
{
	jsonenc__put_u64(b, ",\"settings\":{\"dim\":", s->dim);
	jsonenc__put_metric(b, ",\"metric\":", s->metric);
	jsonenc__put_key_str(b, ",\"index\":", s->index);
	jsonenc__put_u64(b, ",\"train_docs\":", s->train_docs);
	jsonenc__put_u64(b, ",\"seal_docs\":", s->seal_docs);
	jsonenc__put_u64(b, ",\"seal_interval_ms\":", s->seal_interval_ms);
	jsonenc__put_strs(b, ",\"indexed_keys\":", s->indexed_keys, s->n_indexed_keys);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_info(struct jsonenc__buf *b, const Roost__CollectionInfo *c)
{
	jsonenc__put_key_str(b, "{\"name\":", c->name);
	jsonenc__put_u64(b, ",\"id\":", c->id);
	if (c->settings != NULL)
		jsonenc__put_settings(b, c->settings);
	jsonenc__put_u64(b, ",\"documents\":", c->documents);
	jsonenc__put_u64(b, ",\"segments\":", c->segments);
	jsonenc__put_u64(b, ",\"created_lsn\":", c->created_lsn);
	jsonenc__put_u64(b, ",\"rebuilding\":", c->rebuilding);
	jsonenc__put_u64(b, ",\"history_start_lsn\":", c->history_start_lsn);
	jsonenc__put_u64(b, ",\"history_bytes\":", c->history_bytes);
	jsonenc__put(b, "}", 1);
}

/* pre, then an array of n infos. */
static void jsonenc__put_infos(struct jsonenc__buf *b, const char *pre,
			       Roost__CollectionInfo *const *infos, size_t n)
{
	static const Roost__CollectionInfo none = ROOST__COLLECTION_INFO__INIT;

	jsonenc__puts(b, pre);
	jsonenc__put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			jsonenc__put(b, ",", 1);
		jsonenc__put_info(b, infos[i] != NULL ? infos[i] : &none);
	}
	jsonenc__put(b, "]", 1);
}

static void jsonenc__put_collection_reply(struct jsonenc__buf *b, const Roost__CollectionReply *c)
{
	jsonenc__put_u64(b, ",\"collection\":{\"lsn\":", c->lsn);
	if (c->collection != NULL) {
		jsonenc__puts(b, ",\"collection\":");
		jsonenc__put_info(b, c->collection);
	}
	jsonenc__putf(b, ",\"existed\":%s}", c->existed ? "true" : "false");
}

static void jsonenc__put_collections_reply(struct jsonenc__buf *b,
					   const Roost__ListCollectionsReply *l)
{
	jsonenc__put_infos(b, ",\"collections\":{\"collections\":", l->collections,
			   l->n_collections);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_status_reply(struct jsonenc__buf *b, const Roost__StatusReply *s)
{
	jsonenc__put_u64(b, ",\"status_reply\":{\"dim\":", s->dim);
	jsonenc__put_metric(b, ",\"metric\":", s->metric);
	jsonenc__put_key_str(b, ",\"index\":", s->index);
	jsonenc__put_i64(b, ",\"writer_pid\":", s->writer_pid);
	jsonenc__put_u64(b, ",\"ring_head\":", s->ring_head);
	jsonenc__put_u64(b, ",\"ring_reserve\":", s->ring_reserve);
	jsonenc__put_u64(b, ",\"ring_capacity\":", s->ring_capacity);
	jsonenc__put_u64(b, ",\"durable_lsn\":", s->durable_lsn);
	jsonenc__put_u64(b, ",\"applied_lsn\":", s->applied_lsn);
	jsonenc__put_u64(b, ",\"published_lsn\":", s->published_lsn);
	jsonenc__put_u64(b, ",\"documents\":", s->documents);
	jsonenc__put_key_str(b, ",\"writer_mode\":", s->writer_mode);
	jsonenc__put_key_str(b, ",\"collection\":", s->collection);
	jsonenc__put_infos(b, ",\"collections\":", s->collections, s->n_collections);
	jsonenc__put_u64(b, ",\"agent_rate\":", s->agent_rate);
	jsonenc__put_u64(b, ",\"agent_refused\":", s->agent_refused);
	jsonenc__put_key_str(b, ",\"retain\":", s->retain);
	jsonenc__put_u64(b, ",\"history_horizon_lsn\":", s->history_horizon_lsn);
	jsonenc__put_u64(b, ",\"history_log_bytes\":", s->history_log_bytes);
	jsonenc__put(b, "}", 1);
}

/* The body, when the reply has one. */
static void jsonenc__put_body(struct jsonenc__buf *b, const Roost__Reply *r)
{
	switch (r->body_case) {
	case ROOST__REPLY__BODY_ADD:
		if (r->add != NULL)
			jsonenc__put_add_reply(b, r->add);
		break;
	case ROOST__REPLY__BODY_SEARCH:
		if (r->search != NULL)
			jsonenc__put_search_reply(b, r->search);
		break;
	case ROOST__REPLY__BODY_STATUS_REPLY:
		if (r->status_reply != NULL)
			jsonenc__put_status_reply(b, r->status_reply);
		break;
	case ROOST__REPLY__BODY_COLLECTION:
		if (r->collection != NULL)
			jsonenc__put_collection_reply(b, r->collection);
		break;
	case ROOST__REPLY__BODY_COLLECTIONS:
		if (r->collections != NULL)
			jsonenc__put_collections_reply(b, r->collections);
		break;
	case ROOST__REPLY__BODY_GOT:
		if (r->got != NULL)
			jsonenc__put_got(b, r->got);
		break;
	case ROOST__REPLY__BODY_SCROLLED:
		if (r->scrolled != NULL)
			jsonenc__put_scrolled(b, r->scrolled);
		break;
	case ROOST__REPLY__BODY_DELETED:
		if (r->deleted != NULL)
			jsonenc__putf(b, ",\"deleted\":{\"lsn\":%llu,\"duplicate\":%s}",
				      (unsigned long long)r->deleted->lsn,
				      r->deleted->duplicate ? "true" : "false");
		break;
	default:
		break;
	}
}

static void jsonenc__put_reply(struct jsonenc__buf *b, const void *msg)
{
	const Roost__Reply *reply = msg;
	const char *message = reply->message != NULL ? reply->message : "";

	/* A client must never get a failure without a word of explanation. */
	if (reply->status != 0 && message[0] == '\0')
		message = roost_strerror(reply->status);
	jsonenc__putf(b, "{\"version\":%u,\"status\":%d,", WIRE_VERSION, (int)reply->status);
	jsonenc__put_key_str(b, "\"message\":", message);
	if (reply->retry_after_ms)
		jsonenc__put_u64(b, ",\"retry_after_ms\":", reply->retry_after_ms);
	jsonenc__put_body(b, reply);
	jsonenc__put(b, "}", 1);
}

int jsonenc_reply(const Roost__Reply *reply, char **out, size_t *outlen)
{
	return jsonenc__write(jsonenc__put_reply, reply, out, outlen);
}

/* ------------------------------------------------------------------ */
/* Requests.                                                           */

static void jsonenc__put_doc(struct jsonenc__buf *b, const Roost__Document *d)
{
	jsonenc__puts(b, "{\"vector\":");
	jsonenc__put_floats(b, d->vector, d->n_vector);
	jsonenc__put_i64(b, ",\"agent\":", d->agent);
	jsonenc__put_i64(b, ",\"time\":", d->time);
	jsonenc__put_key_str(b, ",\"kind\":", d->kind);
	jsonenc__put_key_str(b, ",\"text\":", d->text);
	jsonenc__put_doc_refs(b, ",\"id\":", d->id, d->metadata);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_add(struct jsonenc__buf *b, const Roost__AddRequest *a)
{
	const char *ack = json_ack_name(a->ack);

	if (ack == NULL) {
		jsonenc__fail(b, ROOST_EINVAL);
		return;
	}
	jsonenc__put_u64(b, ",\"add\":{\"dim\":", a->dim);
	jsonenc__puts(b, ",\"docs\":[");
	for (size_t i = 0; i < a->n_docs; i++) {
		if (i)
			jsonenc__put(b, ",", 1);
		jsonenc__put_doc(b, a->docs[i]);
	}
	jsonenc__put_u64(b, "],\"client_id\":", a->client_id);
	jsonenc__put_u64(b, ",\"seq\":", a->seq);
	jsonenc__putf(b, ",\"ack\":\"%s\"", ack);
	jsonenc__put_u64(b, ",\"timeout_ms\":", a->timeout_ms);
	jsonenc__put_key_str(b, ",\"collection\":", a->collection);
	jsonenc__put(b, "}", 1);
}

/* An any_of value: JSON text, written as it is once it proves to be one
 * JSON scalar (anything else would break the text around it). */
static void jsonenc__put_scalar(struct jsonenc__buf *b, const char *v)
{
	struct jsonlex lx;
	jsonlex_begin(&lx, v ? v : "", v ? strlen(v) : 0, NULL, 0);
	size_t start;
	if (jsonlex_peek(&lx) < 0 || jsonlex_scalar(&lx, &start) != 0 || jsonlex_peek(&lx) >= 0) {
		jsonenc__fail(b, ROOST_EINVAL);
		return;
	}
	jsonenc__puts(b, v);
}

static void jsonenc__put_bool(struct jsonenc__buf *b, const char *pre, int v)
{
	jsonenc__puts(b, pre);
	jsonenc__puts(b, v ? "true" : "false");
}

static void jsonenc__put_condition(struct jsonenc__buf *b, const char *pre,
				   const Roost__Condition *c)
{
	jsonenc__put_key_str(b, pre, c->key);
	jsonenc__puts(b, ",\"any_of\":[");
	for (size_t i = 0; i < c->n_any_of; i++) {
		if (i)
			jsonenc__put(b, ",", 1);
		jsonenc__put_scalar(b, c->any_of[i]);
	}
	jsonenc__put_bool(b, "],\"has_min\":", c->has_min);
	jsonenc__puts(b, ",\"min\":");
	jsonenc__put_real(b, c->min, 0);
	jsonenc__put_bool(b, ",\"min_exclusive\":", c->min_exclusive);
	jsonenc__put_bool(b, ",\"has_max\":", c->has_max);
	jsonenc__puts(b, ",\"max\":");
	jsonenc__put_real(b, c->max, 0);
	jsonenc__put_bool(b, ",\"max_exclusive\":", c->max_exclusive);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_filter(struct jsonenc__buf *b, const Roost__Filter *f)
{
	jsonenc__puts(b, ",\"filter\":{\"agents\":[");
	for (size_t i = 0; i < f->n_agents; i++)
		jsonenc__putf(b, i ? ",%lld" : "%lld", (long long)f->agents[i]);
	jsonenc__put_bool(b, "],\"has_time_range\":", f->has_time_range);
	jsonenc__put_i64(b, ",\"time_min\":", f->time_min);
	jsonenc__put_i64(b, ",\"time_max\":", f->time_max);
	jsonenc__put_key_str(b, ",\"kind\":", f->kind);
	/* Left out when empty, so that servers that predate it take the rest. */
	for (size_t i = 0; i < f->n_where; i++)
		jsonenc__put_condition(b, i ? ",{\"key\":" : ",\"where\":[{\"key\":", f->where[i]);
	jsonenc__puts(b, f->n_where ? "]}" : "}");
}

static void jsonenc__put_search(struct jsonenc__buf *b, const Roost__SearchRequest *s)
{
	/* Queries travel flat; JSON gives them back their rows. */
	if (s->n_queries > 0 && (s->dim == 0 || s->n_queries % s->dim != 0)) {
		jsonenc__fail(b, ROOST_EINVAL);
		return;
	}
	jsonenc__put_u64(b, ",\"search\":{\"dim\":", s->dim);
	jsonenc__puts(b, ",\"queries\":[");
	for (size_t q = 0; q < s->n_queries / (s->dim ? s->dim : 1); q++) {
		if (q)
			jsonenc__put(b, ",", 1);
		jsonenc__put_floats(b, s->queries + q * s->dim, s->dim);
	}
	jsonenc__put_u64(b, "],\"k\":", s->k);
	if (s->filter != NULL)
		jsonenc__put_filter(b, s->filter);
	jsonenc__put_u64(b, ",\"min_lsn\":", s->min_lsn);
	jsonenc__put_u64(b, ",\"timeout_ms\":", s->timeout_ms);
	jsonenc__put_u64(b, ",\"nprobe\":", s->nprobe);
	jsonenc__put_u64(b, ",\"ef_search\":", s->ef_search);
	jsonenc__put_key_str(b, ",\"collection\":", s->collection);
	jsonenc__put_u64(b, ",\"as_of_lsn\":", s->as_of_lsn);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_status(struct jsonenc__buf *b, const Roost__StatusRequest *s)
{
	jsonenc__put_key_str(b, ",\"status\":{\"collection\":", s != NULL ? s->collection : "");
	jsonenc__put(b, "}", 1);
}

/* A create's, a drop's or an alter's idempotency key and timeout, and its
 * end. */
static void jsonenc__put_key_tail(struct jsonenc__buf *b, uint64_t client_id, uint64_t seq,
				  uint32_t timeout_ms)
{
	jsonenc__put_u64(b, ",\"client_id\":", client_id);
	jsonenc__put_u64(b, ",\"seq\":", seq);
	jsonenc__put_u64(b, ",\"timeout_ms\":", timeout_ms);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_delete(struct jsonenc__buf *b, const Roost__DeleteRequest *d)
{
	const char *ack = json_ack_name(d->ack);

	if (ack == NULL) {
		jsonenc__fail(b, ROOST_EINVAL);
		return;
	}
	jsonenc__put_key_str(b, ",\"delete_docs\":{\"collection\":", d->collection);
	jsonenc__put_strs(b, ",\"ids\":", d->ids, d->n_ids);
	jsonenc__putf(b, ",\"ack\":\"%s\"", ack);
	if (d->filter != NULL)
		jsonenc__put_filter(b, d->filter);
	jsonenc__put_key_tail(b, d->client_id, d->seq, d->timeout_ms);
}

static void jsonenc__put_get(struct jsonenc__buf *b, const Roost__GetRequest *g)
{
	jsonenc__put_key_str(b, ",\"get_docs\":{\"collection\":", g->collection);
	jsonenc__put_strs(b, ",\"ids\":", g->ids, g->n_ids);
	jsonenc__putf(b, ",\"with_vectors\":%s", g->with_vectors ? "true" : "false");
	jsonenc__put_u64(b, ",\"min_lsn\":", g->min_lsn);
	jsonenc__put_u64(b, ",\"timeout_ms\":", g->timeout_ms);
	jsonenc__put_u64(b, ",\"as_of_lsn\":", g->as_of_lsn);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_scroll(struct jsonenc__buf *b, const Roost__ScrollRequest *s)
{
	jsonenc__put_key_str(b, ",\"scroll\":{\"collection\":", s->collection);
	if (s->filter != NULL)
		jsonenc__put_filter(b, s->filter);
	jsonenc__put_u64(b, ",\"limit\":", s->limit);
	jsonenc__put_key_str(b, ",\"cursor\":", s->cursor);
	jsonenc__putf(b, ",\"with_vectors\":%s", s->with_vectors ? "true" : "false");
	jsonenc__put_u64(b, ",\"min_lsn\":", s->min_lsn);
	jsonenc__put_u64(b, ",\"timeout_ms\":", s->timeout_ms);
	jsonenc__put_u64(b, ",\"as_of_lsn\":", s->as_of_lsn);
	jsonenc__put(b, "}", 1);
}

static void jsonenc__put_create(struct jsonenc__buf *b, const Roost__CreateCollectionRequest *c)
{
	/* A metric JSON has no name for would not decode again. */
	if (c->settings != NULL && json_metric_name(c->settings->metric) == NULL) {
		jsonenc__fail(b, ROOST_EINVAL);
		return;
	}
	jsonenc__put_key_str(b, ",\"create_collection\":{\"name\":", c->name);
	if (c->settings != NULL)
		jsonenc__put_settings(b, c->settings);
	jsonenc__put_key_tail(b, c->client_id, c->seq, c->timeout_ms);
}

static void jsonenc__put_drop(struct jsonenc__buf *b, const Roost__DropCollectionRequest *d)
{
	jsonenc__put_key_str(b, ",\"drop_collection\":{\"name\":", d->name);
	jsonenc__put_key_tail(b, d->client_id, d->seq, d->timeout_ms);
}

static void jsonenc__put_alter(struct jsonenc__buf *b, const Roost__AlterCollectionRequest *a)
{
	jsonenc__put_key_str(b, ",\"alter_collection\":{\"name\":", a->name);
	jsonenc__put_key_str(b, ",\"index\":", a->index);
	jsonenc__put_u64(b, ",\"train_docs\":", a->train_docs);
	jsonenc__put_key_tail(b, a->client_id, a->seq, a->timeout_ms);
}

static void jsonenc__put_fork(struct jsonenc__buf *b, const Roost__ForkCollectionRequest *f)
{
	jsonenc__put_key_str(b, ",\"fork_collection\":{\"name\":", f->name);
	jsonenc__put_key_str(b, ",\"source\":", f->source);
	jsonenc__put_u64(b, ",\"as_of_lsn\":", f->as_of_lsn);
	jsonenc__put_key_tail(b, f->client_id, f->seq, f->timeout_ms);
}

/* The operation. An add, search, create, drop or alter without its
 * message is left out; status and list_collections need nothing of
 * theirs. */
static void jsonenc__put_op(struct jsonenc__buf *b, const Roost__Request *req)
{
	switch (req->op_case) {
	case ROOST__REQUEST__OP_ADD:
		if (req->add != NULL)
			jsonenc__put_add(b, req->add);
		break;
	case ROOST__REQUEST__OP_SEARCH:
		if (req->search != NULL)
			jsonenc__put_search(b, req->search);
		break;
	case ROOST__REQUEST__OP_STATUS:
		jsonenc__put_status(b, req->status);
		break;
	case ROOST__REQUEST__OP_CREATE_COLLECTION:
		if (req->create_collection != NULL)
			jsonenc__put_create(b, req->create_collection);
		break;
	case ROOST__REQUEST__OP_DROP_COLLECTION:
		if (req->drop_collection != NULL)
			jsonenc__put_drop(b, req->drop_collection);
		break;
	case ROOST__REQUEST__OP_ALTER_COLLECTION:
		if (req->alter_collection != NULL)
			jsonenc__put_alter(b, req->alter_collection);
		break;
	case ROOST__REQUEST__OP_FORK_COLLECTION:
		if (req->fork_collection != NULL)
			jsonenc__put_fork(b, req->fork_collection);
		break;
	case ROOST__REQUEST__OP_LIST_COLLECTIONS:
		jsonenc__puts(b, ",\"list_collections\":{}");
		break;
	case ROOST__REQUEST__OP_DELETE_DOCS:
		if (req->delete_docs != NULL)
			jsonenc__put_delete(b, req->delete_docs);
		break;
	case ROOST__REQUEST__OP_GET_DOCS:
		if (req->get_docs != NULL)
			jsonenc__put_get(b, req->get_docs);
		break;
	case ROOST__REQUEST__OP_SCROLL:
		if (req->scroll != NULL)
			jsonenc__put_scroll(b, req->scroll);
		break;
	default:
		break;
	}
}

static void jsonenc__put_request(struct jsonenc__buf *b, const void *msg)
{
	const Roost__Request *req = msg;

	jsonenc__putf(b, "{\"version\":%u", req->version);
	jsonenc__put_op(b, req);
	jsonenc__put(b, "}", 1);
}

int jsonenc_request(const Roost__Request *req, char **out, size_t *outlen)
{
	return jsonenc__write(jsonenc__put_request, req, out, outlen);
}
