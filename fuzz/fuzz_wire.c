/* Wire requests as a broker receives them: decode, check an add against
 * the collection, and write its batch record; check a create, a drop or an
 * alter and write its collection record; check the collection any request
 * names. A request that passes wire_check_add() must give a record that
 * batch_parse() accepts and that carries exactly the request's documents
 * and collection, and a checked create, drop or alter a record that
 * collrec_parse() accepts with the request's name, key and settings: the
 * writer trusts nothing in the ring, but it also must never refuse what a
 * broker acknowledged. */
#include "batch.h"
#include "collrec.h"
#include "fuzz.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t fuzz_wire__len(const char *s)
{
	return s ? strlen(s) : 0;
}

static void fuzz_wire__same_doc(const Roost__Document *d, const struct batch_view *v, size_t i)
{
	const struct batch_doc *b = &v->docs[i];
	size_t tl = fuzz_wire__len(d->text), kl = fuzz_wire__len(d->kind);
	FUZZ_CHECK(b->agent == d->agent && b->time == d->time);
	FUZZ_CHECK(b->text_len == tl &&
		   memcmp(v->text + b->text_off, d->text ? d->text : "", tl) == 0);
	FUZZ_CHECK(b->kind_len == kl && memcmp(b->kind, d->kind ? d->kind : "", kl) == 0);
	FUZZ_CHECK(memcmp(v->vectors + i * v->hdr->dim, d->vector, d->n_vector * sizeof(float)) ==
		   0);
	uint32_t len;
	const char *key = batch_key(v, (uint32_t)i, &len);
	FUZZ_CHECK(len == fuzz_wire__len(d->id) && memcmp(key, d->id ? d->id : "", len) == 0);
	const char *meta = batch_meta(v, (uint32_t)i, &len);
	FUZZ_CHECK(len == fuzz_wire__len(d->metadata) &&
		   memcmp(meta, d->metadata ? d->metadata : "", len) == 0);
}

/* A refusal explains itself in one printable ASCII line: a client's name
 * is echoed only when it cannot garble the message or the log. */
static void fuzz_wire__refusal(const char *msg, size_t size)
{
	size_t n = strnlen(msg, size);
	FUZZ_CHECK(n > 0 && n < size);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(msg[i] >= 0x20 && msg[i] <= 0x7e);
}

/* The collection an add, a search or a status names: accepted names are
 * ones a create could have made. */
static void fuzz_wire__collection(const char *name)
{
	char msg[256];
	if (wire_check_collection(name, msg, sizeof msg) != 0) {
		fuzz_wire__refusal(msg, sizeof msg);
		return;
	}
	FUZZ_CHECK(coll_name_check(coll_name_or_default(name), NULL, 0) == 0);
}

/* Writes rec as a broker does into the ring and parses it as the writer
 * does. */
static void fuzz_wire__collrec(const struct collrec *rec, struct collrec *back)
{
	uint8_t *buf = fuzz_copy(NULL, COLLREC_SIZE);
	collrec_write(rec, buf);
	FUZZ_CHECK(collrec_is(buf, COLLREC_SIZE));
	FUZZ_CHECK(collrec_parse(buf, COLLREC_SIZE, back) == 0);
	FUZZ_CHECK(back->op == rec->op && back->client_id == rec->client_id &&
		   back->seq == rec->seq && strcmp(back->name, rec->name) == 0);
	free(buf);
}

/* The record's indexed keys are the request's, each whole and in order. */
static void fuzz_wire__keys(const Roost__CollectionSettings *s, const char *list)
{
	char copy[COLL_KEYS_MAX + 1], *keys[COLL_KEYS_COUNT];
	FUZZ_CHECK(coll_keys_check(list, NULL, 0) == 0);
	snprintf(copy, sizeof copy, "%s", list);
	size_t n = wire_keys_split(copy, keys);
	FUZZ_CHECK(n == s->n_indexed_keys);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(strcmp(keys[i], s->indexed_keys[i]) == 0);
}

static void fuzz_wire__create(const Roost__CreateCollectionRequest *c)
{
	char msg[256];
	if (wire_check_create(c, msg, sizeof msg) != 0) {
		fuzz_wire__refusal(msg, sizeof msg);
		return;
	}
	const Roost__CollectionSettings *s = c->settings;
	struct collrec rec, back;
	wire_create_record(c, &rec);
	FUZZ_CHECK(rec.op == COLLREC_CREATE && strcmp(rec.name, c->name) == 0);
	FUZZ_CHECK(rec.client_id == c->client_id && rec.seq == c->seq);
	FUZZ_CHECK(rec.settings.dim == s->dim && rec.settings.metric == (uint32_t)s->metric &&
		   strcmp(rec.settings.index, s->index ? s->index : "") == 0 &&
		   rec.settings.train_docs == s->train_docs &&
		   rec.settings.seal_docs == s->seal_docs &&
		   rec.settings.seal_interval_ms == s->seal_interval_ms);
	fuzz_wire__keys(s, rec.settings.indexed_keys);
	fuzz_wire__collrec(&rec, &back);
	FUZZ_CHECK(coll_settings_equal(&back.settings, &rec.settings) && back.id == 0);
}

/* A broker's drop record names the id it found in the catalog. */
static void fuzz_wire__drop(const Roost__DropCollectionRequest *d)
{
	char msg[256];
	if (wire_check_drop(d, msg, sizeof msg) != 0) {
		fuzz_wire__refusal(msg, sizeof msg);
		return;
	}
	struct collrec rec = {.op = COLLREC_DROP,
			      .client_id = d->client_id,
			      .seq = d->seq,
			      .id = (uint32_t)d->seq | 1u};
	struct collrec back;
	snprintf(rec.name, sizeof rec.name, "%s", d->name);
	fuzz_wire__collrec(&rec, &back);
	FUZZ_CHECK(back.id == rec.id);
}

/* A broker's alter record names the id it found, and carries the index
 * and training size as given. */
static void fuzz_wire__alter(const Roost__AlterCollectionRequest *a)
{
	char msg[256];
	if (wire_check_alter(a, msg, sizeof msg) != 0) {
		fuzz_wire__refusal(msg, sizeof msg);
		return;
	}
	struct collrec rec, back;
	wire_alter_record(a, (uint32_t)a->seq | 1u, &rec);
	FUZZ_CHECK(rec.op == COLLREC_ALTER && strcmp(rec.name, a->name) == 0);
	FUZZ_CHECK(strcmp(rec.settings.index, a->index ? a->index : "") == 0 &&
		   rec.settings.train_docs == a->train_docs);
	fuzz_wire__collrec(&rec, &back);
	FUZZ_CHECK(coll_settings_equal(&back.settings, &rec.settings) && back.id == rec.id);
}

static void fuzz_wire__add(const Roost__AddRequest *add)
{
	char msg[256];
	fuzz_wire__collection(add->collection);
	/* The collection's dimension is the request's when it could be one,
	 * so the checks beyond the dimension are reached. */
	struct wire_limits lim = {.dim =
				      add->dim >= 1 && add->dim <= BATCH_MAX_DIM ? add->dim : 16};
	if (wire_check_add(add, &lim, msg, sizeof msg) != 0) {
		FUZZ_CHECK(memchr(msg, '\0', sizeof msg) && msg[0] != '\0');
		return;
	}
	size_t size = wire_batch_size(add);
	FUZZ_CHECK(size > 0);
	void *rec = malloc(size);
	FUZZ_CHECK(rec != NULL);
	uint32_t coll = (uint32_t)add->seq | 1u;
	wire_batch_write(add, coll, rec);
	struct batch_view v;
	FUZZ_CHECK(batch_parse(rec, size, lim.dim, &v) == 0);
	FUZZ_CHECK(batch_collection(&v) == coll);
	FUZZ_CHECK(v.hdr->count == add->n_docs && v.hdr->client_id == add->client_id &&
		   v.hdr->seq == add->seq);
	for (size_t i = 0; i < add->n_docs; i++)
		fuzz_wire__same_doc(add->docs[i], &v, i);
	free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[256] = "";
	Roost__Request *req;
	if (wire_decode_request(data, size, 0, &req, msg, sizeof msg) != 0) {
		/* Every refusal explains itself to the client. */
		FUZZ_CHECK(msg[0] != '\0');
		return 0;
	}
	switch (req->op_case) {
	case ROOST__REQUEST__OP_ADD:
		fuzz_wire__add(req->add);
		break;
	case ROOST__REQUEST__OP_SEARCH:
		fuzz_wire__collection(req->search->collection);
		break;
	case ROOST__REQUEST__OP_STATUS:
		fuzz_wire__collection(req->status->collection);
		break;
	case ROOST__REQUEST__OP_CREATE_COLLECTION:
		fuzz_wire__create(req->create_collection);
		break;
	case ROOST__REQUEST__OP_DROP_COLLECTION:
		fuzz_wire__drop(req->drop_collection);
		break;
	case ROOST__REQUEST__OP_ALTER_COLLECTION:
		fuzz_wire__alter(req->alter_collection);
		break;
	default:
		break;
	}
	wire_request_free(req);
	return 0;
}
