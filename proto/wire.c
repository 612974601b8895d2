#include "wire.h"

#include "batch.h"
#include "coll.h"
#include "collrec.h"
#include "delrec.h"
#include "docfilter.h"
#include "err.h"
#include "meta.h"
#include "metaq.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* protobuf-c allocates in proportion to the frame, but not 1:1: an empty
 * Document is 2 bytes on the wire and ~160 bytes once unpacked (its struct,
 * its slot in the docs array, a scan-table entry, malloc overhead), so a
 * 16 MiB frame of them would take ~1.3 GiB. Decoding is therefore capped at
 * FACTOR times the frame plus SLACK. SLACK covers the worst legitimate case,
 * BATCH_MAX_DOCS documents of dimension 1 (~0.8 MiB); FACTOR covers packed
 * varints, which expand up to 8x but only in absurdly long agent filters. */
#define WIRE__DECODE_FACTOR 4u
#define WIRE__DECODE_SLACK  (2u << 20)
/* What malloc spends on a block beyond its size, so the cap tracks RSS. */
#define WIRE__ALLOC_OVERHEAD 16u
/* The most a server keeps back from a requester's timeout for its reply. */
#define WIRE__REPLY_MARGIN_MS 250

struct wire__budget {
	size_t left;
	int exceeded;
	int oom;
};

__attribute__((format(printf, 4, 5))) static int wire__fail(char *msg, size_t msglen, int code,
							    const char *fmt, ...)
{
	va_list ap;

	if (msg != NULL && msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A configured limit of 0, or one above the hard limit, means the hard
 * limit: a checked request must always fit a batch record. */
static size_t wire__cap(size_t v, size_t hard)
{
	return v == 0 || v > hard ? hard : v;
}

static size_t wire__strlen(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

static void *wire__budget_alloc(void *data, size_t size)
{
	struct wire__budget *b = data;
	void *p;

	/* Frees are not refunded (during unpack they are mostly protobuf-c's
	 * scan tables): the total ever allocated bounds the peak. */
	if (size > b->left || b->left - size < WIRE__ALLOC_OVERHEAD) {
		b->exceeded = 1;
		return NULL;
	}
	p = malloc(size);
	if (p == NULL) {
		b->oom = 1;
		return NULL;
	}
	b->left -= size + WIRE__ALLOC_OVERHEAD;
	return p;
}

static void wire__budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

static int wire__unpack_error(const struct wire__budget *b, size_t len, size_t budget, char *msg,
			      size_t msglen)
{
	if (b->oom)
		return wire__fail(msg, msglen, ROOST_ENOMEM,
				  "server out of memory while decoding the request; retry later");
	if (b->exceeded)
		return wire__fail(
		    msg, msglen, ROOST_ETOOBIG,
		    "request too complex: decoding its %zu-byte frame needs more than "
		    "%zu bytes of memory; send fewer documents or values per request",
		    len, budget);
	return wire__fail(msg, msglen, ROOST_EPROTO,
			  "malformed or truncated frame: %zu bytes that do not decode as a "
			  "roost.Request (see proto/roost.proto)",
			  len);
}

static int wire__check_request(const Roost__Request *req, char *msg, size_t msglen)
{
	if (req->version != WIRE_VERSION)
		return wire__fail(
		    msg, msglen, ROOST_EVERSION,
		    "protocol version %u is not supported; this server speaks version "
		    "%u only (set Request.version = %u)",
		    req->version, WIRE_VERSION, WIRE_VERSION);
	switch (req->op_case) {
	case ROOST__REQUEST__OP_ADD:
	case ROOST__REQUEST__OP_SEARCH:
	case ROOST__REQUEST__OP_STATUS:
	case ROOST__REQUEST__OP_CREATE_COLLECTION:
	case ROOST__REQUEST__OP_DROP_COLLECTION:
	case ROOST__REQUEST__OP_LIST_COLLECTIONS:
	case ROOST__REQUEST__OP_DELETE_DOCS:
	case ROOST__REQUEST__OP_GET_DOCS:
	case ROOST__REQUEST__OP_SCROLL:
	case ROOST__REQUEST__OP_ALTER_COLLECTION:
	case ROOST__REQUEST__OP_FORK_COLLECTION:
		break;
	default:
		return wire__fail(
		    msg, msglen, ROOST_EUNSUPPORTED,
		    "unknown operation: the request sets none of add, search, "
		    "status, create_collection, drop_collection, alter_collection, "
		    "list_collections, delete_docs, get_docs, scroll or fork_collection "
		    "(is the client newer than the server?)");
	}
	return 0;
}

/* protobuf-c keeps what it decodes as C strings, so a string holding a NUL
 * byte would arrive cut, and of two members of a oneof only the last
 * survives: the frame itself is walked to refuse both. */
#define WIRE__SCAN_DEPTH 8u
#define WIRE__SCAN_PATH	 128u
#define WIRE__SCAN_ONEOF 8u

struct wire__scan {
	char path[WIRE__SCAN_PATH];
	size_t plen;
	char *msg;
	size_t msglen;
};

static int wire__varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Appends ".name" (or "name" at the start) and "[i]" for a repeated field;
 * returns the old length for wire__scan_pop. */
static size_t wire__scan_push(struct wire__scan *s, const ProtobufCFieldDescriptor *f, size_t i)
{
	size_t old = s->plen;
	int n =
	    f->label == PROTOBUF_C_LABEL_REPEATED
		? snprintf(s->path + old, sizeof s->path - old, "%s%s[%zu]", old ? "." : "",
			   f->name, i)
		: snprintf(s->path + old, sizeof s->path - old, "%s%s", old ? "." : "", f->name);
	if (n > 0)
		s->plen = old + (size_t)n < sizeof s->path ? old + (size_t)n : sizeof s->path - 1;
	return old;
}

static void wire__scan_pop(struct wire__scan *s, size_t old)
{
	s->plen = old;
	s->path[old] = '\0';
}

/* The member of each oneof seen so far, by the oneof's case offset. */
struct wire__oneofs {
	unsigned offset[WIRE__SCAN_ONEOF];
	const char *name[WIRE__SCAN_ONEOF];
	size_t n;
};

static int wire__scan_oneof(struct wire__scan *s, struct wire__oneofs *o,
			    const ProtobufCFieldDescriptor *f)
{
	size_t i;

	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return 0;
	for (i = 0; i < o->n && o->offset[i] != f->quantifier_offset; i++)
		;
	if (i == o->n) {
		if (o->n < WIRE__SCAN_ONEOF) {
			o->offset[o->n] = f->quantifier_offset;
			o->name[o->n++] = f->name;
		}
		return 0;
	}
	if (strcmp(o->name[i], f->name) == 0)
		return 0;
	if (s->plen == 0)
		return wire__fail(s->msg, s->msglen, ROOST_EINVAL,
				  "the request sets both %s and %s; a request sets exactly one "
				  "operation",
				  o->name[i], f->name);
	return wire__fail(s->msg, s->msglen, ROOST_EINVAL,
			  "%s sets both %s and %s, of which only one may be set", s->path,
			  o->name[i], f->name);
}

static int wire__scan_message(struct wire__scan *s, const uint8_t *p, const uint8_t *end,
			      const ProtobufCMessageDescriptor *desc, unsigned depth);

/* A length-delimited field: a string is checked for NUL bytes, a message
 * walked in turn; anything else (bytes, packed numbers) is skipped. */
static int wire__scan_field(struct wire__scan *s, const ProtobufCFieldDescriptor *f, size_t i,
			    const uint8_t *p, size_t n, unsigned depth)
{
	const uint8_t *nul;
	size_t old;
	int rc = 0;

	if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
		return 0;
	old = wire__scan_push(s, f, i);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		rc = wire__scan_message(s, p, p + n, f->descriptor, depth + 1);
	else if ((nul = memchr(p, 0, n)) != NULL)
		rc = wire__fail(s->msg, s->msglen, ROOST_EINVAL,
				"%s holds a NUL byte (at byte %zu of %zu); roost strings cannot "
				"hold U+0000",
				s->path, (size_t)(nul - p), n);
	wire__scan_pop(s, old);
	return rc;
}

/* How many times each field number was seen, for "docs[i]". */
#define WIRE__SCAN_FIELDS 16u

static int wire__scan_message(struct wire__scan *s, const uint8_t *p, const uint8_t *end,
			      const ProtobufCMessageDescriptor *desc, unsigned depth)
{
	struct wire__oneofs oneofs = {.n = 0};
	size_t seen[WIRE__SCAN_FIELDS] = {0};
	uint64_t key, v;
	int rc = 0;

	/* Deeper than the schema goes: protobuf-c has checked the framing. */
	if (depth > WIRE__SCAN_DEPTH)
		return 0;
	while (rc == 0 && p < end) {
		if (wire__varint(&p, end, &key) != 0)
			return 0;
		const ProtobufCFieldDescriptor *f =
		    key >> 3 <= UINT32_MAX
			? protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3))
			: NULL;
		switch (key & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (wire__varint(&p, end, &v) != 0)
				return 0;
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			v = (key & 7) == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
			if ((size_t)(end - p) < v)
				return 0;
			p += v;
			break;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
			if (wire__varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
				return 0;
			if (f) {
				size_t i = f->id < WIRE__SCAN_FIELDS ? seen[f->id]++ : 0;

				rc = wire__scan_field(s, f, i, p, (size_t)v, depth);
			}
			p += v;
			break;
		default: /* groups: protobuf-c refuses them before this */
			return 0;
		}
		if (rc == 0 && f)
			rc = wire__scan_oneof(s, &oneofs, f);
	}
	return rc;
}

int wire_decode_request(const void *buf, size_t len, size_t max_frame, Roost__Request **out,
			char *msg, size_t msglen)
{
	struct wire__budget budget = {0};
	ProtobufCAllocator alloc = {wire__budget_alloc, wire__budget_free, &budget};
	Roost__Request *req;
	size_t limit;
	int rc;

	if (out == NULL || (buf == NULL && len > 0))
		return wire__fail(msg, msglen, ROOST_EINVAL, "internal error: no frame buffer");
	*out = NULL;
	max_frame = wire__cap(max_frame, WIRE_MAX_FRAME);
	if (len > max_frame)
		return wire__fail(msg, msglen, ROOST_ETOOBIG,
				  "frame is %zu bytes; the limit is %zu bytes", len, max_frame);
	/* An empty frame is a valid all-default Request; "no version" would be
	 * a misleading answer to what is a request for nothing. */
	if (len == 0)
		return wire__fail(msg, msglen, ROOST_EUNSUPPORTED,
				  "empty frame: no operation (a roost.Request needs version = %u "
				  "and one operation, such as add, search or status)",
				  WIRE_VERSION);
	/* len <= WIRE_MAX_FRAME, so this cannot overflow. */
	limit = len * WIRE__DECODE_FACTOR + WIRE__DECODE_SLACK;
	budget.left = limit;
	req = roost__request__unpack(&alloc, len, buf);
	if (req == NULL)
		return wire__unpack_error(&budget, len, limit, msg, msglen);
	rc = wire__check_request(req, msg, msglen);
	if (rc == 0) {
		struct wire__scan scan = {.msg = msg, .msglen = msglen};

		rc = wire__scan_message(&scan, buf, (const uint8_t *)buf + len,
					&roost__request__descriptor, 0);
	}
	if (rc != 0) {
		wire_request_free(req);
		return rc;
	}
	*out = req;
	return 0;
}

void wire_request_free(Roost__Request *req)
{
	/* wire__budget_alloc() uses malloc, so the default allocator frees. */
	if (req != NULL)
		roost__request__free_unpacked(req, NULL);
}

/* protobuf-c treats a NULL string as empty; memcpy must not see it. */
static unsigned char *wire__put_string(unsigned char *p, const char *s)
{
	size_t len = wire__strlen(s);

	if (len > 0)
		memcpy(p, s, len);
	return p + len;
}

static int wire__check_key_and_mode(uint64_t client_id, uint64_t seq, Roost__AckMode ack, char *msg,
				    size_t msglen)
{
	if (client_id == 0 || seq == 0)
		return wire__fail(
		    msg, msglen, ROOST_EINVAL,
		    "missing idempotency key: client_id and seq must both be non-zero "
		    "(got client_id %llu, seq %llu)",
		    (unsigned long long)client_id, (unsigned long long)seq);
	/* Unknown enum numbers survive unpacking as plain ints. */
	if ((unsigned)ack > (unsigned)ROOST__ACK_MODE__ACK_VISIBLE)
		return wire__fail(msg, msglen, ROOST_EUNSUPPORTED,
				  "ack mode %d is not supported; use 0 (default: durable), "
				  "1 (queued), 2 (durable) or 3 (visible)",
				  (int)ack);
	return 0;
}

static int wire__check_shape(const Roost__AddRequest *add, uint32_t dim, size_t max_docs, char *msg,
			     size_t msglen)
{
	if (add->dim != dim)
		return wire__fail(msg, msglen, ROOST_EDIM,
				  "request dim %u but collection dimension is %u", add->dim, dim);
	if (add->n_docs == 0)
		return wire__fail(msg, msglen, ROOST_EINVAL,
				  "add request has no documents; send 1 to %zu", max_docs);
	if (add->n_docs > max_docs)
		return wire__fail(msg, msglen, ROOST_ETOOBIG,
				  "add request has %zu documents; the limit is %zu per request, "
				  "split it",
				  add->n_docs, max_docs);
	return 0;
}

static const char *wire__nonfinite_name(float v)
{
	if (isnan(v))
		return "NaN";
	return v > 0 ? "+infinity" : "-infinity";
}

static int wire__check_vector(const Roost__Document *d, size_t i, uint32_t dim, char *msg,
			      size_t msglen)
{
	size_t j;

	if (d->n_vector != dim)
		return wire__fail(msg, msglen, ROOST_EDIM,
				  "docs[%zu]: vector has %zu values, collection dimension is %u", i,
				  d->n_vector, dim);
	for (j = 0; j < d->n_vector; j++) {
		if (!isfinite(d->vector[j]))
			return wire__fail(msg, msglen, ROOST_EVALUE,
					  "docs[%zu].vector[%zu] is %s; every value must be finite",
					  i, j, wire__nonfinite_name(d->vector[j]));
	}
	return 0;
}

static int wire__check_string(const char *s, size_t i, const char *field, size_t limit, char *msg,
			      size_t msglen)
{
	size_t len = wire__strlen(s);

	if (len > limit)
		return wire__fail(msg, msglen, ROOST_ETOOBIG,
				  "docs[%zu].%s is %zu bytes; the limit is %zu bytes", i, field,
				  len, limit);
	if (!batch_utf8_valid(s, len))
		return wire__fail(msg, msglen, ROOST_EUTF8, "docs[%zu].%s is not valid UTF-8", i,
				  field);
	return 0;
}

static int wire__check_id(const char *id, size_t i, char *msg, size_t msglen)
{
	size_t len = wire__strlen(id);
	int rc = len ? wire__check_string(id, i, "id", BATCH_MAX_KEY, msg, msglen) : 0;

	if (rc == 0 && len && id[0] == '#')
		return wire__fail(msg, msglen, ROOST_EINVAL,
				  "docs[%zu].id begins with '#', which marks the ids roost "
				  "assigns; choose another",
				  i);
	return rc;
}

static int wire__check_meta(const char *meta, size_t i, char *msg, size_t msglen)
{
	size_t len = wire__strlen(meta);
	char why[256];
	int rc = len ? meta_check(meta, len, why, sizeof why) : 0;

	if (rc)
		return wire__fail(msg, msglen, rc, "docs[%zu].%s", i, why);
	return 0;
}

static int wire__check_doc(const Roost__Document *d, size_t i, uint32_t dim, size_t max_text,
			   char *msg, size_t msglen)
{
	int rc;

	if (d == NULL)
		return wire__fail(msg, msglen, ROOST_EINVAL, "docs[%zu] is missing", i);
	rc = wire__check_vector(d, i, dim, msg, msglen);
	if (rc == 0)
		rc = wire__check_string(d->kind, i, "kind", BATCH_KIND_MAX, msg, msglen);
	if (rc == 0)
		rc = wire__check_string(d->text, i, "text", max_text, msg, msglen);
	if (rc == 0)
		rc = wire__check_id(d->id, i, msg, msglen);
	if (rc == 0)
		rc = wire__check_meta(d->metadata, i, msg, msglen);
	return rc;
}

static int wire__by_id(const void *a, const void *b)
{
	const Roost__Document *x = *(Roost__Document *const *)a, *y = *(Roost__Document *const *)b;
	return strcmp(x->id, y->id);
}

/* One request may not name an id twice: which version would win is not
 * for the server to guess. Sorting a copy keeps a large batch cheap. */
static int wire__check_unique_ids(const Roost__AddRequest *add, char *msg, size_t msglen)
{
	size_t n = 0;
	Roost__Document **keyed = malloc(add->n_docs * sizeof *keyed);

	if (keyed == NULL)
		return wire__fail(msg, msglen, ROOST_ENOMEM, "out of memory");
	for (size_t i = 0; i < add->n_docs; i++)
		if (wire__strlen(add->docs[i]->id))
			keyed[n++] = add->docs[i];
	qsort(keyed, n, sizeof *keyed, wire__by_id);
	int rc = 0;
	for (size_t i = 1; rc == 0 && i < n; i++)
		if (strcmp(keyed[i - 1]->id, keyed[i]->id) == 0)
			rc = wire__fail(msg, msglen, ROOST_EINVAL,
					"id \"%.128s\" appears twice in one request", keyed[i]->id);
	free(keyed);
	return rc;
}

int wire_check_add(const Roost__AddRequest *add, const struct wire_limits *lim, char *msg,
		   size_t msglen)
{
	size_t max_docs, max_text, i;
	int rc;

	if (add == NULL || lim == NULL)
		return wire__fail(msg, msglen, ROOST_EINVAL, "internal error: no add request");
	if (lim->dim == 0 || lim->dim > BATCH_MAX_DIM)
		return wire__fail(msg, msglen, ROOST_EINVAL,
				  "server misconfigured: collection dimension %u is outside 1..%u",
				  lim->dim, BATCH_MAX_DIM);
	max_docs = wire__cap(lim->max_docs, BATCH_MAX_DOCS);
	max_text = wire__cap(lim->max_text, BATCH_MAX_TEXT);
	rc = wire__check_key_and_mode(add->client_id, add->seq, add->ack, msg, msglen);
	if (rc == 0)
		rc = wire__check_shape(add, lim->dim, max_docs, msg, msglen);
	for (i = 0; rc == 0 && i < add->n_docs; i++)
		rc = wire__check_doc(add->docs[i], i, lim->dim, max_text, msg, msglen);
	if (rc == 0)
		rc = wire__check_unique_ids(add, msg, msglen);
	return rc;
}

/* 1 to max ids, each an id or "#<number>". */
static int wire__check_ids(char *const *ids, size_t n, size_t max, const char *what, char *msg,
			   size_t msglen)
{
	if (n == 0 || n > max)
		return wire__fail(msg, msglen, n ? ROOST_ETOOBIG : ROOST_EINVAL,
				  "a %s names 1 to %zu ids, not %zu", what, max, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t number;
		if (delrec_parse_id(ids[i], wire__strlen(ids[i]), &number) != 0)
			return wire__fail(msg, msglen, ROOST_EINVAL,
					  "ids[%zu] is neither an id (1 to %u bytes of UTF-8 not "
					  "beginning with '#') nor \"#<number>\"",
					  i, BATCH_MAX_KEY);
	}
	return 0;
}

/* A delete by filter must leave some documents out: dropping the
 * collection is the way to delete them all. */
static int wire__check_delete_filter(const Roost__Filter *f, char *msg, size_t msglen)
{
	struct metaq *where = NULL;
	struct docfilter df;
	int rc = wire_check_filter(f, &where, msg, msglen);
	if (rc == 0)
		docfilter_from(f, where, &df);
	if (rc == 0 && !docfilter_active(&df))
		rc = wire__fail(msg, msglen, ROOST_EINVAL,
				"a delete by filter needs a filter that sets some part; to delete "
				"every document, drop the collection");
	if (rc == 0 && roost__filter__get_packed_size(f) > DELREC_MAX_FILTER)
		rc = wire__fail(msg, msglen, ROOST_ETOOBIG, "filter is over %u bytes encoded",
				DELREC_MAX_FILTER);
	metaq_free(where);
	return rc;
}

int wire_check_delete(const Roost__DeleteRequest *d, char *msg, size_t msglen)
{
	int rc = wire_check_collection(d->collection, msg, msglen);
	if (rc == 0)
		rc = wire__check_key_and_mode(d->client_id, d->seq, d->ack, msg, msglen);
	if (rc == 0 && d->filter && d->n_ids)
		return wire__fail(msg, msglen, ROOST_EINVAL,
				  "a delete names ids or gives a filter, not both");
	if (rc == 0 && d->filter)
		return wire__check_delete_filter(d->filter, msg, msglen);
	return rc ? rc : wire__check_ids(d->ids, d->n_ids, DELREC_MAX_IDS, "delete", msg, msglen);
}

int wire_check_get(const Roost__GetRequest *g, char *msg, size_t msglen)
{
	int rc = wire_check_collection(g->collection, msg, msglen);
	return rc ? rc : wire__check_ids(g->ids, g->n_ids, WIRE_MAX_GET_IDS, "get", msg, msglen);
}

/* Bytes of the keys among a checked delete's ids. */
static uint32_t wire__delete_key_bytes(const Roost__DeleteRequest *d)
{
	uint32_t total = 0;
	for (size_t i = 0; i < d->n_ids; i++)
		if (d->ids[i][0] != '#')
			total += (uint32_t)wire__strlen(d->ids[i]);
	return total;
}

size_t wire_delete_size(const Roost__DeleteRequest *d)
{
	if (d->filter)
		return delrec_size(0, (uint32_t)roost__filter__get_packed_size(d->filter));
	if (d->n_ids == 0 || d->n_ids > DELREC_MAX_IDS)
		return 0;
	return delrec_size((uint32_t)d->n_ids, wire__delete_key_bytes(d));
}

/* Like a batch, written front to back with every byte set. */
void wire_delete_write(const Roost__DeleteRequest *d, uint32_t collection, void *dst)
{
	unsigned char *p = dst;
	struct delrec_header h = {
	    .magic = DELREC_MAGIC,
	    .version = DELREC_VERSION,
	    .flags = d->filter ? DELREC_BY_FILTER : 0,
	    .collection = collection,
	    .count = d->filter ? 0 : (uint32_t)d->n_ids,
	    .client_id = d->client_id,
	    .seq = d->seq,
	    .key_bytes = d->filter ? (uint32_t)roost__filter__get_packed_size(d->filter)
				   : wire__delete_key_bytes(d)};
	memcpy(p, &h, sizeof h);
	p += sizeof h;
	if (d->filter) {
		roost__filter__pack(d->filter, p);
		return;
	}
	uint32_t off = 0;
	for (size_t i = 0; i < d->n_ids; i++) {
		struct delrec_id id = {0};
		if (delrec_parse_id(d->ids[i], strlen(d->ids[i]), &id.number) == 0 && !id.number) {
			id.key_off = off;
			id.key_len = (uint32_t)strlen(d->ids[i]);
			off += id.key_len;
		}
		memcpy(p, &id, sizeof id);
		p += sizeof id;
	}
	for (size_t i = 0; i < d->n_ids; i++)
		if (d->ids[i][0] != '#')
			p = wire__put_string(p, d->ids[i]);
}

int wire_check_collection(const char *name, char *msg, size_t msglen)
{
	return coll_name_check(coll_name_or_default(name), msg, msglen);
}

static int wire__check_key(uint64_t client_id, uint64_t seq, char *msg, size_t msglen)
{
	if (client_id && seq)
		return 0;
	return wire__fail(msg, msglen, ROOST_EINVAL,
			  "missing idempotency key: client_id and seq must both be non-zero "
			  "(got client_id %llu, seq %llu)",
			  (unsigned long long)client_id, (unsigned long long)seq);
}

/* A key given with a comma in it would read as two once joined. */
static int wire__key_whole(const char *key, size_t i, char *msg, size_t msglen)
{
	if (key && key[0] && !strchr(key, ','))
		return 0;
	return wire__fail(msg, msglen, ROOST_EINVAL,
			  "settings.indexed_keys[%zu] is %s: each key is 1 to 63 letters, digits, "
			  "'_', '.' or '-', starting with a letter or digit",
			  i, key && key[0] ? "not one key" : "empty");
}

int wire_keys_join(const Roost__CollectionSettings *s, char *out, char *msg, size_t msglen)
{
	/* One byte past the limit: a list cut there is known too long. */
	char list[COLL_KEYS_MAX + 2] = "";
	size_t at = 0;
	for (size_t i = 0; i < s->n_indexed_keys && at < sizeof list - 1; i++) {
		int rc = wire__key_whole(s->indexed_keys[i], i, msg, msglen);
		if (rc)
			return rc;
		at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? "," : "",
				       s->indexed_keys[i]);
	}
	int rc = coll_keys_check(list, msg, msglen);
	if (rc == 0)
		memcpy(out, list, COLL_KEYS_MAX + 1);
	return rc;
}

size_t wire_keys_split(char *list, char **keys)
{
	size_t at = 0, start, n = 0, total = strlen(list);
	while (at < total && n < COLL_KEYS_COUNT) {
		size_t len = coll_keys_next(list, &at, &start);
		list[start + len] = '\0';
		keys[n++] = list + start;
	}
	return n;
}

/* A FAISS factory string as a create or an alter gives it in field
 * `field` ("" or NULL: none given); which strings FAISS builds, only the
 * writer knows, at the collection's dimension and metric. */
static int wire__check_index(const char *index, const char *field, char *msg, size_t msglen)
{
	size_t n = wire__strlen(index);
	for (size_t i = 0; i < n; i++)
		if (index[i] < 0x20 || index[i] > 0x7e)
			return wire__fail(msg, msglen, ROOST_EINVAL,
					  "%s must be printable ASCII (a FAISS factory string "
					  "such as HNSW32)",
					  field);
	if (n > COLL_INDEX_MAX)
		return wire__fail(msg, msglen, ROOST_ETOOBIG, "%s is %zu bytes; the limit is %u",
				  field, n, COLL_INDEX_MAX);
	return 0;
}

/* A training size as a create or an alter gives it; 0 means what `zero`
 * says. A tail holds at most this many rows. */
static int wire__check_train(uint64_t train_docs, const char *field, const char *zero, char *msg,
			     size_t msglen)
{
	if (train_docs <= WIRE_MAX_SEAL_DOCS)
		return 0;
	return wire__fail(msg, msglen, ROOST_EINVAL, "%s must be 0 (%s) or at most %u, not %llu",
			  field, zero, WIRE_MAX_SEAL_DOCS, (unsigned long long)train_docs);
}

static int wire__check_settings(const Roost__CollectionSettings *s, char *msg, size_t msglen)
{
	char keys[COLL_KEYS_MAX + 1];
	if (!s || s->dim == 0 || s->dim > COLL_MAX_DIM)
		return wire__fail(msg, msglen, ROOST_EDIM, "settings.dim must be 1 to %u, not %u",
				  COLL_MAX_DIM, s ? s->dim : 0);
	if ((unsigned)s->metric > (unsigned)ROOST__METRIC__METRIC_INNER_PRODUCT)
		return wire__fail(
		    msg, msglen, ROOST_EINVAL,
		    "settings.metric %d is not known; use 0 (L2) or 1 (inner product)",
		    (int)s->metric);
	int rc = wire__check_index(s->index, "settings.index", msg, msglen);
	if (rc)
		return rc;
	if (s->seal_docs &&
	    (s->seal_docs < WIRE_MIN_SEAL_DOCS || s->seal_docs > WIRE_MAX_SEAL_DOCS))
		return wire__fail(
		    msg, msglen, ROOST_EINVAL,
		    "settings.seal_docs must be 0 (the writer's) or %u to %u, not %llu",
		    WIRE_MIN_SEAL_DOCS, WIRE_MAX_SEAL_DOCS, (unsigned long long)s->seal_docs);
	rc = wire__check_train(s->train_docs, "settings.train_docs", "the writer's", msg, msglen);
	if (rc)
		return rc;
	if (s->seal_interval_ms > WIRE_MAX_SEAL_INTERVAL_MS)
		return wire__fail(msg, msglen, ROOST_EINVAL,
				  "settings.seal_interval_ms must be at most %u (a day)",
				  WIRE_MAX_SEAL_INTERVAL_MS);
	return wire_keys_join(s, keys, msg, msglen);
}

int wire_check_create(const Roost__CreateCollectionRequest *c, char *msg, size_t msglen)
{
	int rc = coll_name_check(c->name, msg, msglen);
	if (rc == 0)
		rc = wire__check_key(c->client_id, c->seq, msg, msglen);
	if (rc == 0)
		rc = wire__check_settings(c->settings, msg, msglen);
	return rc;
}

int wire_check_drop(const Roost__DropCollectionRequest *d, char *msg, size_t msglen)
{
	int rc = coll_name_check(d->name, msg, msglen);
	return rc ? rc : wire__check_key(d->client_id, d->seq, msg, msglen);
}

int wire_check_alter(const Roost__AlterCollectionRequest *a, char *msg, size_t msglen)
{
	int rc = coll_name_check(a->name, msg, msglen);
	if (rc == 0)
		rc = wire__check_key(a->client_id, a->seq, msg, msglen);
	if (rc == 0)
		rc = wire__check_index(a->index, "index", msg, msglen);
	if (rc == 0)
		rc = wire__check_train(a->train_docs, "train_docs", "keep the collection's", msg,
				       msglen);
	return rc;
}

void wire_alter_record(const Roost__AlterCollectionRequest *a, uint32_t id, struct collrec *out)
{
	memset(out, 0, sizeof *out);
	out->op = COLLREC_ALTER;
	out->client_id = a->client_id;
	out->seq = a->seq;
	out->id = id;
	snprintf(out->name, sizeof out->name, "%s", a->name);
	snprintf(out->settings.index, sizeof out->settings.index, "%s", a->index ? a->index : "");
	out->settings.train_docs = a->train_docs;
}

int wire_check_fork(const Roost__ForkCollectionRequest *f, char *msg, size_t msglen)
{
	int rc = coll_name_check(f->name, msg, msglen);
	if (rc == 0)
		rc = wire_check_collection(f->source, msg, msglen);
	return rc ? rc : wire__check_key(f->client_id, f->seq, msg, msglen);
}

void wire_fork_record(const Roost__ForkCollectionRequest *f, uint32_t source_id,
		      struct collrec *out)
{
	memset(out, 0, sizeof *out);
	out->op = COLLREC_FORK;
	out->client_id = f->client_id;
	out->seq = f->seq;
	out->id = source_id;
	out->as_of_lsn = f->as_of_lsn;
	snprintf(out->name, sizeof out->name, "%s", f->name);
}

void wire_create_record(const Roost__CreateCollectionRequest *c, struct collrec *out)
{
	const Roost__CollectionSettings *s = c->settings;
	memset(out, 0, sizeof *out);
	out->op = COLLREC_CREATE;
	out->client_id = c->client_id;
	out->seq = c->seq;
	snprintf(out->name, sizeof out->name, "%s", c->name);
	out->settings.dim = s->dim;
	out->settings.metric = (uint32_t)s->metric;
	snprintf(out->settings.index, sizeof out->settings.index, "%s", s->index ? s->index : "");
	out->settings.train_docs = s->train_docs;
	out->settings.seal_docs = s->seal_docs;
	out->settings.seal_interval_ms = s->seal_interval_ms;
	wire_keys_join(s, out->settings.indexed_keys, NULL, 0);
}

int wire_check_filter(const Roost__Filter *filter, struct metaq **where, char *msg, size_t msglen)
{
	size_t len;

	if (where != NULL)
		*where = NULL;
	if (filter == NULL)
		return 0;
	len = wire__strlen(filter->kind);
	if (len > BATCH_KIND_MAX)
		return wire__fail(msg, msglen, ROOST_ETOOBIG,
				  "filter.kind is %zu bytes; a kind is at most %u bytes", len,
				  BATCH_KIND_MAX);
	if (!batch_utf8_valid(filter->kind, len))
		return wire__fail(msg, msglen, ROOST_EUTF8, "filter.kind is not valid UTF-8");
	if (filter->n_where == 0)
		return 0;
	/* Counted before anything is converted: the conditions sit on the stack. */
	if (filter->n_where > METAQ_MAX_CONDITIONS)
		return wire__fail(msg, msglen, ROOST_ETOOBIG,
				  "filter.where has %zu conditions; the limit is %u",
				  filter->n_where, METAQ_MAX_CONDITIONS);
	struct metaq_condition conds[METAQ_MAX_CONDITIONS];
	for (size_t i = 0; i < filter->n_where; i++) {
		const Roost__Condition *c = filter->where[i];
		conds[i] = (struct metaq_condition){.key = c->key,
						    .any_of = (const char *const *)c->any_of,
						    .n_any_of = c->n_any_of,
						    .has_min = c->has_min,
						    .min = c->min,
						    .min_exclusive = c->min_exclusive,
						    .has_max = c->has_max,
						    .max = c->max,
						    .max_exclusive = c->max_exclusive};
	}
	return metaq_compile(conds, filter->n_where, "filter.where", where, msg, msglen);
}

int wire_timeout_ms(uint32_t given, int dflt, int max)
{
	if (given == 0)
		return dflt < max ? dflt : max;
	return given > (uint32_t)max ? max : (int)given;
}

/* The bytes a document puts in the batch's bytes section. */
static uint64_t wire__doc_bytes(const Roost__Document *d)
{
	return wire__strlen(d->text) + wire__strlen(d->id) + wire__strlen(d->metadata);
}

/* Total bytes section, or UINT64_MAX for a request no batch can hold. */
static uint64_t wire__text_bytes(const Roost__AddRequest *add)
{
	uint64_t total = 0;
	size_t i;

	if (add->n_docs == 0 || add->n_docs > BATCH_MAX_DOCS)
		return UINT64_MAX;
	/* n_docs <= 4096 strings of at most a frame each: no overflow. */
	for (i = 0; i < add->n_docs; i++)
		total += wire__doc_bytes(add->docs[i]);
	return total;
}

size_t wire_batch_size(const Roost__AddRequest *add)
{
	uint64_t text;

	if (add == NULL)
		return 0;
	text = wire__text_bytes(add);
	if (text > UINT32_MAX)
		return 0;
	return batch_size(add->dim, (uint32_t)add->n_docs, (uint32_t)text);
}

/* The writers below build each piece in a local and memcpy it: dst is ring
 * space, written strictly front to back, and every byte (padding, the unused
 * tail of kind) is set so nothing stale reaches the log. */
static unsigned char *wire__write_header(const Roost__AddRequest *add, uint32_t collection,
					 unsigned char *p)
{
	struct batch_header h;

	memset(&h, 0, sizeof(h));
	h.magic = BATCH_MAGIC;
	h.version = BATCH_VERSION;
	h.collection = collection;
	h.dim = add->dim;
	h.count = (uint32_t)add->n_docs;
	h.client_id = add->client_id;
	h.seq = add->seq;
	h.text_bytes = (uint32_t)wire__text_bytes(add);
	memcpy(p, &h, sizeof(h));
	return p + sizeof(h);
}

static unsigned char *wire__write_vectors(const Roost__AddRequest *add, unsigned char *p)
{
	size_t row = (size_t)add->dim * sizeof(float);
	size_t i;

	for (i = 0; i < add->n_docs; i++) {
		memcpy(p, add->docs[i]->vector, row);
		p += row;
	}
	/* An odd number of floats leaves 4 bytes before the 8-aligned docs. */
	if ((add->n_docs * add->dim) % 2 != 0) {
		memset(p, 0, sizeof(float));
		p += sizeof(float);
	}
	return p;
}

/* Each document's text, id and metadata lie one after another in the
 * bytes section, in request order. */
static unsigned char *wire__write_docs(const Roost__AddRequest *add, unsigned char *p)
{
	uint32_t off = 0;
	size_t i;

	for (i = 0; i < add->n_docs; i++) {
		const Roost__Document *src = add->docs[i];
		struct batch_doc d;

		memset(&d, 0, sizeof(d));
		d.agent = src->agent;
		d.time = src->time;
		d.text_off = off;
		d.text_len = (uint32_t)wire__strlen(src->text);
		d.kind_len = (uint8_t)wire__strlen(src->kind);
		if (d.kind_len > 0)
			memcpy(d.kind, src->kind, d.kind_len);
		memcpy(p, &d, sizeof(d));
		p += sizeof(d);
		off += (uint32_t)wire__doc_bytes(src);
	}
	return p;
}

static unsigned char *wire__write_refs(const Roost__AddRequest *add, unsigned char *p)
{
	uint32_t off = 0;
	size_t i;

	for (i = 0; i < add->n_docs; i++) {
		const Roost__Document *src = add->docs[i];
		struct batch_ref r;

		r.key_len = (uint32_t)wire__strlen(src->id);
		r.key_off = off + (uint32_t)wire__strlen(src->text);
		r.meta_len = (uint32_t)wire__strlen(src->metadata);
		r.meta_off = r.key_off + r.key_len;
		memcpy(p, &r, sizeof(r));
		p += sizeof(r);
		off += (uint32_t)wire__doc_bytes(src);
	}
	return p;
}

static void wire__write_text(const Roost__AddRequest *add, unsigned char *p)
{
	size_t i;

	for (i = 0; i < add->n_docs; i++) {
		p = wire__put_string(p, add->docs[i]->text);
		p = wire__put_string(p, add->docs[i]->id);
		p = wire__put_string(p, add->docs[i]->metadata);
	}
}

void wire_batch_write(const Roost__AddRequest *add, uint32_t collection, void *dst)
{
	unsigned char *p = dst;

	p = wire__write_header(add, collection, p);
	p = wire__write_vectors(add, p);
	p = wire__write_docs(add, p);
	p = wire__write_refs(add, p);
	wire__write_text(add, p);
}

int wire_encode_reply(const Roost__Reply *reply, void **out, size_t *outlen)
{
	Roost__Reply r;
	uint8_t *buf;
	size_t n;

	if (reply == NULL || out == NULL || outlen == NULL)
		return ROOST_EINVAL;
	r = *reply;
	r.version = WIRE_VERSION;
	/* A client must never get a failure without a word of explanation. */
	if (r.status != 0 && (r.message == NULL || r.message[0] == '\0'))
		r.message = (char *)roost_strerror(r.status);
	n = roost__reply__get_packed_size(&r);
	buf = malloc(n > 0 ? n : 1);
	if (buf == NULL)
		return ROOST_ENOMEM;
	*outlen = roost__reply__pack(&r, buf);
	*out = buf;
	return 0;
}

int wire_encode_error(int status, const char *message, void **out, size_t *outlen)
{
	return wire_encode_retry(status, message, 0, out, outlen);
}

int wire_encode_retry(int status, const char *message, uint32_t retry_after_ms, void **out,
		      size_t *outlen)
{
	Roost__Reply r = ROOST__REPLY__INIT;

	r.status = status;
	if (message != NULL)
		r.message = (char *)message;
	r.retry_after_ms = retry_after_ms;
	return wire_encode_reply(&r, out, outlen);
}

int wire_inner_wait(uint32_t timeout_ms, int cap_ms)
{
	uint32_t margin =
	    timeout_ms / 4 < WIRE__REPLY_MARGIN_MS ? timeout_ms / 4 : WIRE__REPLY_MARGIN_MS;
	uint32_t wait = timeout_ms - margin;
	return wait > (uint32_t)cap_ms ? cap_ms : (int)wait;
}
