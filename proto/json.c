#include "json.h"

#include "batch.h"
#include "delrec.h"
#include "err.h"
#include "jsonlex.h"
#include "meta.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* A new message of desc's type with its defaults, freed like an unpacked
 * one. */
static int json__message(struct jsonlex *lx, const ProtobufCMessageDescriptor *desc, void **out)
{
	*out = malloc(desc->sizeof_message);
	if (*out == NULL)
		return jsonlex_nomem(lx);
	protobuf_c_message_init(desc, *out);
	return 0;
}

/* Replaces a string field's default with the decoded string. */
static int json__string_field(struct jsonlex *lx, char **field)
{
	size_t n;

	return jsonlex_string(lx, field, &n);
}

/* ------------------------------------------------------------------ */
/* Documents and add.                                                  */

enum {
	JSON__DOC_VECTOR,
	JSON__DOC_AGENT,
	JSON__DOC_TIME,
	JSON__DOC_KIND,
	JSON__DOC_TEXT,
	JSON__DOC_ID,
	JSON__DOC_METADATA
};
static const char *const json__doc_names[] = {"vector", "agent", "time",     "kind",
					      "text",	"id",	 "metadata", NULL};

/* Metadata is kept as the client wrote it: the object's own bytes, checked
 * here as JSON and by the server as metadata (proto/meta.h). */
static int json__raw_object(struct jsonlex *lx, char **field)
{
	if (jsonlex_peek(lx) != '{')
		return jsonlex_fail(lx, ROOST_EINVAL, "expected an object");
	size_t start = lx->pos;
	int rc = jsonlex_any(lx, META_MAX_DEPTH);
	if (rc)
		return rc;
	char *raw = strndup(lx->s + start, lx->pos - start);
	if (raw == NULL)
		return jsonlex_nomem(lx);
	*field = raw;
	return 0;
}

static int json__doc_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__Document *d = obj;

	switch (f) {
	case JSON__DOC_VECTOR:
		return jsonlex_floats(lx, BATCH_MAX_DIM, &d->vector, &d->n_vector, &(size_t){0});
	case JSON__DOC_AGENT:
		return jsonlex_i64(lx, &d->agent);
	case JSON__DOC_TIME:
		return jsonlex_i64(lx, &d->time);
	case JSON__DOC_KIND:
		return json__string_field(lx, &d->kind);
	case JSON__DOC_TEXT:
		return json__string_field(lx, &d->text);
	case JSON__DOC_ID:
		return json__string_field(lx, &d->id);
	default:
		return json__raw_object(lx, &d->metadata);
	}
}

static const struct jsonlex_object json__doc_object = {"a document", json__doc_names,
						       json__doc_field, ROOST_EINVAL};

/* The docs array of an add request. */
struct json__docs {
	Roost__AddRequest *add;
	size_t cap;
};

static int json__doc_item(struct jsonlex *lx, void *ctx)
{
	struct json__docs *ds = ctx;
	Roost__AddRequest *add = ds->add;
	void *grown;
	int rc = jsonlex_grow(lx, add->docs, &ds->cap, add->n_docs, sizeof *add->docs, &grown);

	if (rc)
		return rc;
	add->docs = grown;
	void *d;
	rc = json__message(lx, &roost__document__descriptor, &d);
	if (rc)
		return rc;
	/* Counted at once, so a failure below still frees it with the rest. */
	add->docs[add->n_docs++] = d;
	return jsonlex_object(lx, &json__doc_object, d);
}

/* An enum given by name: the index of the string read in names (NULL
 * ends them); an unknown name fails with code, saying which are known. */
static int json__enum(struct jsonlex *lx, const char *const *names, const char *what, int code,
		      int *out)
{
	char *name;
	size_t n;
	int rc = jsonlex_string(lx, &name, &n);

	if (rc)
		return rc;
	int i = 0;
	while (names[i] != NULL && strcmp(names[i], name) != 0)
		i++;
	free(name);
	if (names[i] == NULL)
		return jsonlex_fail(lx, code, "unknown %s", what);
	*out = i;
	return 0;
}

/* The name of value in names (NULL-terminated); NULL when it has none. */
static const char *json__enum_name(const char *const *names, int value)
{
	for (int i = 0; names[i] != NULL; i++)
		if (i == value)
			return names[i];
	return NULL;
}

/* Indexed by Roost__AckMode. */
static const char *const json__ack_names[] = {"default", "queued", "durable", "visible", NULL};

const char *json_ack_name(Roost__AckMode ack)
{
	return json__enum_name(json__ack_names, (int)ack);
}

static int json__ack(struct jsonlex *lx, Roost__AckMode *out)
{
	int i;
	/* As the binary path answers an unknown mode. */
	int rc =
	    json__enum(lx, json__ack_names, "ack mode; use default, queued, durable or visible",
		       ROOST_EUNSUPPORTED, &i);

	if (rc == 0)
		*out = (Roost__AckMode)i;
	return rc;
}

enum {
	JSON__ADD_DIM,
	JSON__ADD_DOCS,
	JSON__ADD_CLIENT,
	JSON__ADD_SEQ,
	JSON__ADD_ACK,
	JSON__ADD_TO,
	JSON__ADD_COLL
};
static const char *const json__add_names[] = {"dim", "docs",	   "client_id",	 "seq",
					      "ack", "timeout_ms", "collection", NULL};

static int json__add_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__AddRequest *add = obj;

	switch (f) {
	case JSON__ADD_DIM:
		return jsonlex_u32(lx, &add->dim);
	case JSON__ADD_DOCS:
		return jsonlex_array(lx, BATCH_MAX_DOCS, json__doc_item,
				     &(struct json__docs){add, 0});
	case JSON__ADD_CLIENT:
		return jsonlex_u64(lx, UINT64_MAX, &add->client_id);
	case JSON__ADD_SEQ:
		return jsonlex_u64(lx, UINT64_MAX, &add->seq);
	case JSON__ADD_ACK:
		return json__ack(lx, &add->ack);
	case JSON__ADD_TO:
		return jsonlex_u32(lx, &add->timeout_ms);
	default:
		return json__string_field(lx, &add->collection);
	}
}

static const struct jsonlex_object json__add_object = {"add", json__add_names, json__add_field,
						       ROOST_EINVAL};

/* ------------------------------------------------------------------ */
/* Search.                                                             */

/* A metadata condition, with which of its bound fields it named. */
struct json__cond {
	Roost__Condition *c;
	size_t cap; /* of c->any_of */
	int min, max, has_min, has_max;
};

/* An any_of value is kept as its JSON text, as the .proto carries it:
 * the server reads it by its JSON type. */
static int json__any_of_item(struct jsonlex *lx, void *ctx)
{
	struct json__cond *jc = ctx;
	void *grown;
	int rc = jsonlex_grow(lx, jc->c->any_of, &jc->cap, jc->c->n_any_of, sizeof *jc->c->any_of,
			      &grown);
	if (rc)
		return rc;
	jc->c->any_of = grown;
	size_t start;
	rc = jsonlex_scalar(lx, &start);
	if (rc)
		return rc;
	char *raw = strndup(lx->s + start, lx->pos - start);
	if (raw == NULL)
		return jsonlex_nomem(lx);
	jc->c->any_of[jc->c->n_any_of++] = raw;
	return 0;
}

enum {
	JSON__C_KEY,
	JSON__C_ANY_OF,
	JSON__C_HAS_MIN,
	JSON__C_MIN,
	JSON__C_MIN_EXCL,
	JSON__C_HAS_MAX,
	JSON__C_MAX,
	JSON__C_MAX_EXCL
};
static const char *const json__cond_names[] = {
    "key", "any_of", "has_min", "min", "min_exclusive", "has_max", "max", "max_exclusive", NULL};

static int json__cond_field(struct jsonlex *lx, int f, void *obj)
{
	struct json__cond *jc = obj;
	Roost__Condition *c = jc->c;

	switch (f) {
	case JSON__C_KEY:
		return json__string_field(lx, &c->key);
	case JSON__C_ANY_OF:
		return jsonlex_array(lx, JSON_MAX_ANY_OF, json__any_of_item, jc);
	case JSON__C_HAS_MIN:
		jc->has_min = 1;
		return jsonlex_bool(lx, &c->has_min);
	case JSON__C_MIN:
		jc->min = 1;
		return jsonlex_double(lx, &c->min);
	case JSON__C_MIN_EXCL:
		return jsonlex_bool(lx, &c->min_exclusive);
	case JSON__C_HAS_MAX:
		jc->has_max = 1;
		return jsonlex_bool(lx, &c->has_max);
	case JSON__C_MAX:
		jc->max = 1;
		return jsonlex_double(lx, &c->max);
	default:
		return jsonlex_bool(lx, &c->max_exclusive);
	}
}

static const struct jsonlex_object json__cond_object = {"a condition", json__cond_names,
							json__cond_field, ROOST_EINVAL};

/* The where array of a filter. */
struct json__where {
	Roost__Filter *f;
	size_t cap;
};

static int json__cond_item(struct jsonlex *lx, void *ctx)
{
	struct json__where *jw = ctx;
	Roost__Filter *f = jw->f;
	void *grown;
	int rc = jsonlex_grow(lx, f->where, &jw->cap, f->n_where, sizeof *f->where, &grown);

	if (rc)
		return rc;
	f->where = grown;
	void *m;
	rc = json__message(lx, &roost__condition__descriptor, &m);
	if (rc)
		return rc;
	/* Counted at once, so a failure below still frees it with the rest. */
	f->where[f->n_where++] = m;
	struct json__cond jc = {.c = m};
	rc = jsonlex_object(lx, &json__cond_object, &jc);
	/* A bound alone turns it on, as time_min and time_max do. */
	if (rc == 0 && !jc.has_min)
		jc.c->has_min = jc.min;
	if (rc == 0 && !jc.has_max)
		jc.c->has_max = jc.max;
	return rc;
}

/* A filter, with which time bounds it named. */
struct json__filter {
	Roost__Filter *f;
	int has_min, has_max, has_range;
};

enum { JSON__F_AGENTS, JSON__F_RANGE, JSON__F_MIN, JSON__F_MAX, JSON__F_KIND, JSON__F_WHERE };
static const char *const json__filter_names[] = {"agents", "has_time_range", "time_min", "time_max",
						 "kind",   "where",	     NULL};

static int json__filter_field(struct jsonlex *lx, int f, void *obj)
{
	struct json__filter *jf = obj;

	switch (f) {
	case JSON__F_AGENTS:
		return jsonlex_ints(lx, JSON_MAX_AGENTS, &jf->f->agents, &jf->f->n_agents,
				    &(size_t){0});
	case JSON__F_RANGE:
		jf->has_range = 1;
		return jsonlex_bool(lx, &jf->f->has_time_range);
	case JSON__F_MIN:
		jf->has_min = 1;
		return jsonlex_i64(lx, &jf->f->time_min);
	case JSON__F_MAX:
		jf->has_max = 1;
		return jsonlex_i64(lx, &jf->f->time_max);
	case JSON__F_KIND:
		return json__string_field(lx, &jf->f->kind);
	default:
		return jsonlex_array(lx, JSON_MAX_WHERE, json__cond_item,
				     &(struct json__where){jf->f, 0});
	}
}

static const struct jsonlex_object json__filter_object = {"filter", json__filter_names,
							  json__filter_field, ROOST_EINVAL};

static int json__filter(struct jsonlex *lx, Roost__Filter **field)
{
	void *m;
	int rc = json__message(lx, &roost__filter__descriptor, &m);

	if (rc)
		return rc;
	*field = m;
	struct json__filter jf = {.f = m};
	rc = jsonlex_object(lx, &json__filter_object, &jf);
	if (rc)
		return rc;
	/* A bound alone means a range open on the other side. */
	if (!jf.has_range)
		jf.f->has_time_range = jf.has_min || jf.has_max;
	if (jf.f->has_time_range && !jf.has_min)
		jf.f->time_min = INT64_MIN;
	if (jf.f->has_time_range && !jf.has_max)
		jf.f->time_max = INT64_MAX;
	return 0;
}

/* A search under construction: queries arrive as rows, appended to one
 * flat array, whose length is checked against dim once the whole object
 * (and so dim) is known. */
struct json__search {
	Roost__SearchRequest *s;
	size_t cap;
	size_t rows;
	size_t first_len;
	size_t bad_row; /* first row whose length differs from row 0's */
	size_t bad_len;
};

static int json__query_row(struct jsonlex *lx, void *ctx)
{
	struct json__search *js = ctx;
	size_t before = js->s->n_queries;
	int rc = jsonlex_floats(lx, BATCH_MAX_DIM, &js->s->queries, &js->s->n_queries, &js->cap);

	if (rc)
		return rc;
	size_t len = js->s->n_queries - before;
	if (js->rows == 0)
		js->first_len = len;
	else if (len != js->first_len && js->bad_row == SIZE_MAX) {
		js->bad_row = js->rows;
		js->bad_len = len;
	}
	js->rows++;
	return 0;
}

enum {
	JSON__S_DIM,
	JSON__S_QUERIES,
	JSON__S_K,
	JSON__S_FILTER,
	JSON__S_MIN_LSN,
	JSON__S_TO,
	JSON__S_NPROBE,
	JSON__S_EF_SEARCH,
	JSON__S_COLL,
	JSON__S_AS_OF
};
static const char *const json__search_names[] = {"dim",	       "queries",    "k",      "filter",
						 "min_lsn",    "timeout_ms", "nprobe", "ef_search",
						 "collection", "as_of_lsn",  NULL};

static int json__search_field(struct jsonlex *lx, int f, void *obj)
{
	struct json__search *js = obj;

	switch (f) {
	case JSON__S_DIM:
		return jsonlex_u32(lx, &js->s->dim);
	case JSON__S_QUERIES:
		return jsonlex_array(lx, SIZE_MAX, json__query_row, js);
	case JSON__S_K:
		return jsonlex_u32(lx, &js->s->k);
	case JSON__S_FILTER:
		return json__filter(lx, &js->s->filter);
	case JSON__S_MIN_LSN:
		return jsonlex_u64(lx, UINT64_MAX, &js->s->min_lsn);
	case JSON__S_TO:
		return jsonlex_u32(lx, &js->s->timeout_ms);
	case JSON__S_NPROBE:
		return jsonlex_u32(lx, &js->s->nprobe);
	case JSON__S_EF_SEARCH:
		return jsonlex_u32(lx, &js->s->ef_search);
	case JSON__S_AS_OF:
		return jsonlex_u64(lx, UINT64_MAX, &js->s->as_of_lsn);
	default:
		return json__string_field(lx, &js->s->collection);
	}
}

static const struct jsonlex_object json__search_object = {"search", json__search_names,
							  json__search_field, ROOST_EINVAL};

static int json__search(struct jsonlex *lx, Roost__SearchRequest *s)
{
	struct json__search js = {s, 0, 0, 0, SIZE_MAX, 0};
	int rc = jsonlex_object(lx, &json__search_object, &js);

	if (rc || js.rows == 0 || (js.first_len == s->dim && js.bad_row == SIZE_MAX))
		return rc;
	if (js.first_len != s->dim) {
		js.bad_row = 0;
		js.bad_len = js.first_len;
	}
	size_t mark = jsonlex_push(lx, ".queries[%zu]", js.bad_row);
	rc = jsonlex_fail(lx, ROOST_EDIM, "query has %zu values but dim is %u", js.bad_len, s->dim);
	jsonlex_pop(lx, mark);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Status and collections.                                             */

static const char *const json__status_names[] = {"collection", NULL};

static int json__status_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__StatusRequest *st = obj;

	(void)f; /* its only field */
	return json__string_field(lx, &st->collection);
}

static const struct jsonlex_object json__status_object = {"status", json__status_names,
							  json__status_field, ROOST_EINVAL};

/* Indexed by Roost__Metric. */
static const char *const json__metric_names[] = {"l2", "ip", NULL};

const char *json_metric_name(Roost__Metric metric)
{
	return json__enum_name(json__metric_names, (int)metric);
}

static int json__metric(struct jsonlex *lx, Roost__Metric *out)
{
	int i;
	/* As the binary path answers an unknown metric. */
	int rc = json__enum(lx, json__metric_names, "metric; use l2 or ip", ROOST_EINVAL, &i);

	if (rc == 0)
		*out = (Roost__Metric)i;
	return rc;
}

/* A delete's or a get's ids, or a create's indexed keys: strings, each
 * kept as its own, in the request's array and its count. */
struct json__ids {
	char ***ids;
	size_t *n;
	size_t cap;
};

static int json__id_item(struct jsonlex *lx, void *ctx)
{
	struct json__ids *a = ctx;
	void *grown;
	int rc = jsonlex_grow(lx, *a->ids, &a->cap, *a->n, sizeof **a->ids, &grown);
	if (rc)
		return rc;
	*a->ids = grown;
	size_t len;
	rc = jsonlex_string(lx, &(*a->ids)[*a->n], &len);
	if (rc == 0)
		(*a->n)++;
	return rc;
}

enum {
	JSON__CS_DIM,
	JSON__CS_METRIC,
	JSON__CS_INDEX,
	JSON__CS_TRAIN,
	JSON__CS_SEAL,
	JSON__CS_INTERVAL,
	JSON__CS_KEYS
};
static const char *const json__settings_names[] = {
    "dim", "metric", "index", "train_docs", "seal_docs", "seal_interval_ms", "indexed_keys", NULL};

static int json__settings_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__CollectionSettings *cs = obj;

	switch (f) {
	case JSON__CS_DIM:
		return jsonlex_u32(lx, &cs->dim);
	case JSON__CS_METRIC:
		return json__metric(lx, &cs->metric);
	case JSON__CS_INDEX:
		return json__string_field(lx, &cs->index);
	case JSON__CS_TRAIN:
		return jsonlex_u64(lx, UINT64_MAX, &cs->train_docs);
	case JSON__CS_SEAL:
		return jsonlex_u64(lx, UINT64_MAX, &cs->seal_docs);
	case JSON__CS_INTERVAL:
		return jsonlex_u32(lx, &cs->seal_interval_ms);
	default:
		/* No more keys than the joined list has bytes can fit it; the
		 * server says what else is wrong with them. */
		return jsonlex_array(
		    lx, COLL_KEYS_MAX, json__id_item,
		    &(struct json__ids){&cs->indexed_keys, &cs->n_indexed_keys, 0});
	}
}

static const struct jsonlex_object json__settings_object = {"settings", json__settings_names,
							    json__settings_field, ROOST_EINVAL};

static int json__settings(struct jsonlex *lx, Roost__CreateCollectionRequest *c)
{
	void *m;
	int rc = json__message(lx, &roost__collection_settings__descriptor, &m);

	if (rc)
		return rc;
	/* Stored first, so a failure frees it with the rest. */
	c->settings = m;
	return jsonlex_object(lx, &json__settings_object, m);
}

/* Whether a name is given and valid, and whether the idempotency key is,
 * the server decides, as it does for an add's key. */
enum { JSON__C_NAME, JSON__C_SETTINGS, JSON__C_CLIENT, JSON__C_SEQ, JSON__C_TO };
static const char *const json__create_names[] = {"name", "settings",   "client_id",
						 "seq",	 "timeout_ms", NULL};

static int json__create_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__CreateCollectionRequest *c = obj;

	switch (f) {
	case JSON__C_NAME:
		return json__string_field(lx, &c->name);
	case JSON__C_SETTINGS:
		return json__settings(lx, c);
	case JSON__C_CLIENT:
		return jsonlex_u64(lx, UINT64_MAX, &c->client_id);
	case JSON__C_SEQ:
		return jsonlex_u64(lx, UINT64_MAX, &c->seq);
	default:
		return jsonlex_u32(lx, &c->timeout_ms);
	}
}

static const struct jsonlex_object json__create_object = {"create_collection", json__create_names,
							  json__create_field, ROOST_EINVAL};

enum { JSON__D_NAME, JSON__D_CLIENT, JSON__D_SEQ, JSON__D_TO };
static const char *const json__drop_names[] = {"name", "client_id", "seq", "timeout_ms", NULL};

static int json__drop_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__DropCollectionRequest *d = obj;

	switch (f) {
	case JSON__D_NAME:
		return json__string_field(lx, &d->name);
	case JSON__D_CLIENT:
		return jsonlex_u64(lx, UINT64_MAX, &d->client_id);
	case JSON__D_SEQ:
		return jsonlex_u64(lx, UINT64_MAX, &d->seq);
	default:
		return jsonlex_u32(lx, &d->timeout_ms);
	}
}

static const struct jsonlex_object json__drop_object = {"drop_collection", json__drop_names,
							json__drop_field, ROOST_EINVAL};

/* Whether the index is one FAISS builds, only the writer can say. */
enum { JSON__A_NAME, JSON__A_INDEX, JSON__A_TRAIN, JSON__A_CLIENT, JSON__A_SEQ, JSON__A_TO };
static const char *const json__alter_names[] = {"name", "index",      "train_docs", "client_id",
						"seq",	"timeout_ms", NULL};

static int json__alter_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__AlterCollectionRequest *a = obj;

	switch (f) {
	case JSON__A_NAME:
		return json__string_field(lx, &a->name);
	case JSON__A_INDEX:
		return json__string_field(lx, &a->index);
	case JSON__A_TRAIN:
		return jsonlex_u64(lx, UINT64_MAX, &a->train_docs);
	case JSON__A_CLIENT:
		return jsonlex_u64(lx, UINT64_MAX, &a->client_id);
	case JSON__A_SEQ:
		return jsonlex_u64(lx, UINT64_MAX, &a->seq);
	default:
		return jsonlex_u32(lx, &a->timeout_ms);
	}
}

static const struct jsonlex_object json__alter_object = {"alter_collection", json__alter_names,
							 json__alter_field, ROOST_EINVAL};

enum { JSON__F_NAME, JSON__F_SOURCE, JSON__F_AS_OF, JSON__F_CLIENT, JSON__F_SEQ, JSON__F_TO };
static const char *const json__fork_names[] = {"name", "source",     "as_of_lsn", "client_id",
					       "seq",  "timeout_ms", NULL};

static int json__fork_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__ForkCollectionRequest *k = obj;

	switch (f) {
	case JSON__F_NAME:
		return json__string_field(lx, &k->name);
	case JSON__F_SOURCE:
		return json__string_field(lx, &k->source);
	case JSON__F_AS_OF:
		return jsonlex_u64(lx, UINT64_MAX, &k->as_of_lsn);
	case JSON__F_CLIENT:
		return jsonlex_u64(lx, UINT64_MAX, &k->client_id);
	case JSON__F_SEQ:
		return jsonlex_u64(lx, UINT64_MAX, &k->seq);
	default:
		return jsonlex_u32(lx, &k->timeout_ms);
	}
}

static const struct jsonlex_object json__fork_object = {"fork_collection", json__fork_names,
							json__fork_field, ROOST_EINVAL};

enum {
	JSON__DEL_COLL,
	JSON__DEL_IDS,
	JSON__DEL_CLIENT,
	JSON__DEL_SEQ,
	JSON__DEL_ACK,
	JSON__DEL_TO,
	JSON__DEL_FILTER
};
static const char *const json__delete_names[] = {"collection", "ids",	     "client_id", "seq",
						 "ack",	       "timeout_ms", "filter",	  NULL};

static int json__delete_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__DeleteRequest *d = obj;

	switch (f) {
	case JSON__DEL_COLL:
		return json__string_field(lx, &d->collection);
	case JSON__DEL_IDS:
		return jsonlex_array(lx, DELREC_MAX_IDS, json__id_item,
				     &(struct json__ids){&d->ids, &d->n_ids, 0});
	case JSON__DEL_CLIENT:
		return jsonlex_u64(lx, UINT64_MAX, &d->client_id);
	case JSON__DEL_SEQ:
		return jsonlex_u64(lx, UINT64_MAX, &d->seq);
	case JSON__DEL_ACK:
		return json__ack(lx, &d->ack);
	case JSON__DEL_FILTER:
		return json__filter(lx, &d->filter);
	default:
		return jsonlex_u32(lx, &d->timeout_ms);
	}
}

static const struct jsonlex_object json__delete_object = {"delete_docs", json__delete_names,
							  json__delete_field, ROOST_EINVAL};

enum {
	JSON__GET_COLL,
	JSON__GET_IDS,
	JSON__GET_VECTORS,
	JSON__GET_MIN_LSN,
	JSON__GET_TO,
	JSON__GET_AS_OF
};
static const char *const json__get_names[] = {
    "collection", "ids", "with_vectors", "min_lsn", "timeout_ms", "as_of_lsn", NULL};

static int json__get_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__GetRequest *g = obj;
	int b;
	switch (f) {
	case JSON__GET_COLL:
		return json__string_field(lx, &g->collection);
	case JSON__GET_IDS:
		return jsonlex_array(lx, WIRE_MAX_GET_IDS, json__id_item,
				     &(struct json__ids){&g->ids, &g->n_ids, 0});
	case JSON__GET_VECTORS: {
		int rc = jsonlex_bool(lx, &b);
		g->with_vectors = b;
		return rc;
	}
	case JSON__GET_MIN_LSN:
		return jsonlex_u64(lx, UINT64_MAX, &g->min_lsn);
	case JSON__GET_AS_OF:
		return jsonlex_u64(lx, UINT64_MAX, &g->as_of_lsn);
	default:
		return jsonlex_u32(lx, &g->timeout_ms);
	}
}

static const struct jsonlex_object json__get_object = {"get_docs", json__get_names, json__get_field,
						       ROOST_EINVAL};

enum {
	JSON__SC_COLL,
	JSON__SC_FILTER,
	JSON__SC_LIMIT,
	JSON__SC_CURSOR,
	JSON__SC_VECTORS,
	JSON__SC_MIN_LSN,
	JSON__SC_TO,
	JSON__SC_AS_OF
};
static const char *const json__scroll_names[] = {"collection", "filter",       "limit",
						 "cursor",     "with_vectors", "min_lsn",
						 "timeout_ms", "as_of_lsn",    NULL};

static int json__scroll_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__ScrollRequest *sc = obj;
	int b, rc;
	switch (f) {
	case JSON__SC_COLL:
		return json__string_field(lx, &sc->collection);
	case JSON__SC_FILTER:
		return json__filter(lx, &sc->filter);
	case JSON__SC_LIMIT:
		return jsonlex_u32(lx, &sc->limit);
	case JSON__SC_CURSOR:
		return json__string_field(lx, &sc->cursor);
	case JSON__SC_VECTORS:
		rc = jsonlex_bool(lx, &b);
		sc->with_vectors = b;
		return rc;
	case JSON__SC_MIN_LSN:
		return jsonlex_u64(lx, UINT64_MAX, &sc->min_lsn);
	case JSON__SC_AS_OF:
		return jsonlex_u64(lx, UINT64_MAX, &sc->as_of_lsn);
	default:
		return jsonlex_u32(lx, &sc->timeout_ms);
	}
}

static const struct jsonlex_object json__scroll_object = {"scroll", json__scroll_names,
							  json__scroll_field, ROOST_EINVAL};

/* No field name matches, so no field handler is ever called. */
static const char *const json__no_names[] = {NULL};
static const struct jsonlex_object json__list_object = {"list_collections", json__no_names, NULL,
							ROOST_EINVAL};

/* ------------------------------------------------------------------ */
/* The request.                                                        */

#define JSON__OPS                                                                                  \
	"add, search, status, create_collection, drop_collection, alter_collection, "              \
	"list_collections, delete_docs, get_docs, scroll or fork_collection"

/* After "version", the operations, each named as its field of the oneof. */
enum {
	JSON__R_VERSION,
	JSON__R_ADD,
	JSON__R_SEARCH,
	JSON__R_STATUS,
	JSON__R_CREATE,
	JSON__R_DROP,
	JSON__R_ALTER,
	JSON__R_LIST,
	JSON__R_DELETE,
	JSON__R_GET,
	JSON__R_SCROLL,
	JSON__R_FORK
};
static const char *const json__request_names[] = {"version",
						  "add",
						  "search",
						  "status",
						  "create_collection",
						  "drop_collection",
						  "alter_collection",
						  "list_collections",
						  "delete_docs",
						  "get_docs",
						  "scroll",
						  "fork_collection",
						  NULL};

/* How each operation's object is read; search has a reader of its own. */
static const struct jsonlex_object *const json__op_objects[] = {
    [JSON__R_ADD] = &json__add_object,	     [JSON__R_STATUS] = &json__status_object,
    [JSON__R_CREATE] = &json__create_object, [JSON__R_DROP] = &json__drop_object,
    [JSON__R_LIST] = &json__list_object,     [JSON__R_DELETE] = &json__delete_object,
    [JSON__R_GET] = &json__get_object,	     [JSON__R_SCROLL] = &json__scroll_object,
    [JSON__R_ALTER] = &json__alter_object,   [JSON__R_FORK] = &json__fork_object};

static int json__request_field(struct jsonlex *lx, int f, void *obj)
{
	Roost__Request *req = obj;

	if (f == JSON__R_VERSION)
		return jsonlex_u32(lx, &req->version);
	if (req->op_case != ROOST__REQUEST__OP__NOT_SET)
		return jsonlex_fail(lx, ROOST_EINVAL,
				    "a request sets exactly one operation: " JSON__OPS);
	/* The schema's own field gives the message type, the oneof case
	 * (its number) and the member that points at the message. */
	const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
	    &roost__request__descriptor, json__request_names[f]);
	void *m;
	int rc = json__message(lx, fd->descriptor, &m);
	if (rc)
		return rc;
	/* The case is set with the pointer, so a failure frees what was built. */
	memcpy((char *)req + fd->offset, &m, sizeof m);
	req->op_case = (Roost__Request__OpCase)fd->id;
	if (f == JSON__R_SEARCH)
		return json__search(lx, m);
	return jsonlex_object(lx, json__op_objects[f], m);
}

static const struct jsonlex_object json__request_object = {"a request", json__request_names,
							   json__request_field, ROOST_EUNSUPPORTED};

/* What JSON cannot say wrong but the protocol refuses. */
static int json__check_request(struct jsonlex *lx, const Roost__Request *req, size_t max_frame)
{
	if (req->version != WIRE_VERSION)
		return jsonlex_fail(lx, ROOST_EVERSION,
				    "protocol version %u is not supported; this server speaks "
				    "version %u only (set \"version\":%u)",
				    req->version, WIRE_VERSION, WIRE_VERSION);
	if (req->op_case == ROOST__REQUEST__OP__NOT_SET)
		return jsonlex_fail(lx, ROOST_EUNSUPPORTED,
				    "no operation: a request sets one of " JSON__OPS);
	size_t bin = roost__request__get_packed_size(req);
	if (bin > max_frame)
		return jsonlex_fail(lx, ROOST_ETOOBIG,
				    "request is %zu bytes in binary form; the frame limit is %zu "
				    "bytes, send fewer documents or values",
				    bin, max_frame);
	return 0;
}

int json_decode_request(const char *s, size_t len, size_t max_frame, Roost__Request **out,
			char *msg, size_t msglen)
{
	struct jsonlex lx;

	jsonlex_begin(&lx, s, len, msg, msglen);
	if (out == NULL || (s == NULL && len > 0))
		return jsonlex_fail(&lx, ROOST_EINVAL, "internal error: no JSON text");
	*out = NULL;
	if (max_frame == 0 || max_frame > WIRE_MAX_FRAME)
		max_frame = WIRE_MAX_FRAME;
	if (len > max_frame)
		return jsonlex_fail(&lx, ROOST_ETOOBIG, "JSON text is %zu bytes; the limit is %zu",
				    len, max_frame);
	void *req;
	int rc = json__message(&lx, &roost__request__descriptor, &req);
	if (rc)
		return rc;
	rc = jsonlex_text(&lx, &json__request_object, req);
	if (rc == 0)
		rc = json__check_request(&lx, req, max_frame);
	if (rc) {
		json_request_free(req);
		return rc;
	}
	*out = req;
	return 0;
}

void json_request_free(Roost__Request *req)
{
	/* Built from malloc'ed parts laid out as unpack() lays them out. */
	if (req != NULL)
		roost__request__free_unpacked(req, NULL);
}

int json_is_request(const void *frame, size_t len)
{
	struct jsonlex lx;

	jsonlex_begin(&lx, frame, len, NULL, 0);
	return frame != NULL && jsonlex_peek(&lx) == '{';
}

/* ------------------------------------------------------------------ */
/* JSON-lines documents.                                               */

/* Takes a string field for the caller: a malloc'ed copy of the default. */
static char *json__take(char **field)
{
	char *s = *field;

	*field = (char *)protobuf_c_empty_string;
	return s != protobuf_c_empty_string ? s : strdup("");
}

static int json__take_document(struct jsonlex *lx, Roost__Document *d, struct json_document *out)
{
	if (d->n_vector == 0)
		return jsonlex_fail(lx, ROOST_EDIM, "a document needs a non-empty \"vector\"");
	out->kind = json__take(&d->kind);
	out->text = json__take(&d->text);
	out->id = json__take(&d->id);
	out->metadata = json__take(&d->metadata);
	if (out->kind == NULL || out->text == NULL || out->id == NULL || out->metadata == NULL) {
		json_document_free(out);
		return jsonlex_fail(lx, ROOST_ENOMEM, "out of memory");
	}
	out->vector = d->vector;
	out->dim = d->n_vector;
	d->vector = NULL;
	d->n_vector = 0;
	out->agent = d->agent;
	out->time = d->time;
	return 0;
}

int json_parse_document(const char *s, size_t len, struct json_document *out, char *msg,
			size_t msglen)
{
	struct jsonlex lx;

	jsonlex_begin(&lx, s, len, msg, msglen);
	if (out == NULL || (s == NULL && len > 0))
		return jsonlex_fail(&lx, ROOST_EINVAL, "internal error: no JSON text");
	memset(out, 0, sizeof *out);
	void *d;
	int rc = json__message(&lx, &roost__document__descriptor, &d);
	if (rc)
		return rc;
	rc = jsonlex_text(&lx, &json__doc_object, d);
	if (rc == 0)
		rc = json__take_document(&lx, d, out);
	roost__document__free_unpacked(d, NULL);
	return rc;
}

void json_document_free(struct json_document *doc)
{
	if (doc == NULL)
		return;
	free(doc->vector);
	free(doc->kind);
	free(doc->text);
	free(doc->id);
	free(doc->metadata);
	memset(doc, 0, sizeof *doc);
}
