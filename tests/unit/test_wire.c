/* Unit tests for proto/wire.c: request decoding and its rejections, add
 * validation, the batch record it writes, reply encoding, and the checks
 * of collection names, creates, drops and alters with the records a
 * create and an alter become. */
#include "wire.h"

#include "batch.h"
#include "err.h"
#include "meta.h"
#include "metaq.h"
#include "ref_utf8.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAX_DOCS 9
#define FX_MAX_DIM  8
#define MSG_LEN	    256

/* An add request built in place, as a client would before packing it. */
struct fx {
	Roost__Request req;
	Roost__AddRequest add;
	Roost__Document docs[FX_MAX_DOCS];
	Roost__Document *ptrs[FX_MAX_DOCS];
	float vec[FX_MAX_DOCS][FX_MAX_DIM];
	char kind[FX_MAX_DOCS][64];
	char text[FX_MAX_DOCS][128];
	char id[FX_MAX_DOCS][160];
	char meta[FX_MAX_DOCS][64];
};

static const struct wire_limits lim = {
    .dim = 4, .max_docs = 8, .max_text = 64, .max_frame = 1 << 20};

static const char *const fx_texts[] = {
    "hello", "", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", "a\tb\nc", "last one",
};

static void fx_init(struct fx *f, size_t n, uint32_t dim)
{
	size_t i, j;

	memset(f, 0, sizeof(*f));
	roost__request__init(&f->req);
	roost__add_request__init(&f->add);
	f->req.version = WIRE_VERSION;
	f->req.op_case = ROOST__REQUEST__OP_ADD;
	f->req.add = &f->add;
	f->add.dim = dim;
	f->add.n_docs = n;
	f->add.docs = f->ptrs;
	f->add.client_id = 42;
	f->add.seq = 7;
	f->add.ack = ROOST__ACK_MODE__ACK_VISIBLE;
	for (i = 0; i < n; i++) {
		Roost__Document *d = &f->docs[i];

		roost__document__init(d);
		for (j = 0; j < dim; j++)
			f->vec[i][j] = (float)(i * 10 + j) + 0.5f;
		d->n_vector = dim;
		d->vector = f->vec[i];
		d->agent = 100 + (int64_t)i;
		d->time = (int64_t)i - 5;
		strcpy(f->kind[i], i % 2 == 0 ? "tweet" : "");
		strcpy(f->text[i], fx_texts[i % 5]);
		d->kind = f->kind[i];
		d->text = f->text[i];
		/* Every other document has its own id and metadata. */
		if (i % 2 == 1) {
			snprintf(f->id[i], sizeof f->id[i], "doc-%zu", i);
			snprintf(f->meta[i], sizeof f->meta[i], "{\"i\": %zu, \"tags\": [\"a\"]}",
				 i);
		}
		d->id = f->id[i];
		d->metadata = f->meta[i];
		f->ptrs[i] = d;
	}
}

static uint8_t *pack_request(const Roost__Request *req, size_t *len)
{
	uint8_t *buf;

	*len = roost__request__get_packed_size(req);
	buf = malloc(*len > 0 ? *len : 1);
	assert_non_null(buf);
	assert_int_equal(roost__request__pack(req, buf), *len);
	return buf;
}

static void assert_msg_has(const char *msg, const char *want)
{
	if (strstr(msg, want) == NULL)
		fail_msg("message \"%s\" does not contain \"%s\"", msg, want);
}

static void check_gives(const struct fx *f, int code, const char *want)
{
	char msg[MSG_LEN] = "";

	assert_int_equal(wire_check_add(&f->add, &lim, msg, sizeof(msg)), code);
	if (want != NULL)
		assert_msg_has(msg, want);
}

/* Writes the batch into a buffer full of junk and parses it back. */
static unsigned char *write_batch(const Roost__AddRequest *add, int junk, size_t *len,
				  struct batch_view *v)
{
	unsigned char *buf;

	*len = wire_batch_size(add);
	assert_true(*len > 0);
	buf = malloc(*len);
	assert_non_null(buf);
	memset(buf, junk, *len);
	wire_batch_write(add, 9, buf);
	assert_int_equal(batch_parse(buf, *len, add->dim, v), 0);
	assert_int_equal(batch_collection(v), 9);
	return buf;
}

static void assert_batch_matches(const Roost__AddRequest *add, const struct batch_view *v)
{
	size_t i, k;

	assert_int_equal(v->hdr->dim, add->dim);
	assert_int_equal(v->hdr->count, add->n_docs);
	assert_int_equal(v->hdr->client_id, add->client_id);
	assert_int_equal(v->hdr->seq, add->seq);
	for (i = 0; i < add->n_docs; i++) {
		const Roost__Document *src = add->docs[i];
		const struct batch_doc *d = &v->docs[i];

		assert_memory_equal(v->vectors + i * add->dim, src->vector,
				    add->dim * sizeof(float));
		assert_int_equal(d->agent, src->agent);
		assert_int_equal(d->time, src->time);
		assert_int_equal(d->kind_len, strlen(src->kind));
		assert_memory_equal(d->kind, src->kind, d->kind_len);
		for (k = d->kind_len; k < BATCH_KIND_MAX; k++)
			assert_int_equal(d->kind[k], 0);
		assert_int_equal(d->text_len, strlen(src->text));
		assert_memory_equal(v->text + d->text_off, src->text, d->text_len);
		uint32_t len;
		const char *key = batch_key(v, (uint32_t)i, &len);
		assert_int_equal(len, strlen(src->id));
		assert_memory_equal(key, src->id, len);
		const char *meta = batch_meta(v, (uint32_t)i, &len);
		assert_int_equal(len, strlen(src->metadata));
		assert_memory_equal(meta, src->metadata, len);
	}
}

static void test_decode_add(void **state)
{
	char msg[MSG_LEN] = "";
	Roost__Request *req;
	struct fx f;
	uint8_t *buf;
	size_t len, i;

	(void)state;
	fx_init(&f, 5, 4);
	buf = pack_request(&f.req, &len);
	assert_int_equal(wire_decode_request(buf, len, 0, &req, msg, sizeof(msg)), 0);
	assert_int_equal(req->version, WIRE_VERSION);
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_ADD);
	assert_int_equal(req->add->dim, 4);
	assert_int_equal(req->add->client_id, 42);
	assert_int_equal(req->add->seq, 7);
	assert_int_equal(req->add->ack, ROOST__ACK_MODE__ACK_VISIBLE);
	assert_int_equal(req->add->n_docs, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(req->add->docs[i]->n_vector, 4);
		assert_memory_equal(req->add->docs[i]->vector, f.vec[i], 4 * sizeof(float));
		assert_int_equal(req->add->docs[i]->agent, 100 + (int64_t)i);
		assert_int_equal(req->add->docs[i]->time, (int64_t)i - 5);
		assert_string_equal(req->add->docs[i]->kind, f.kind[i]);
		assert_string_equal(req->add->docs[i]->text, f.text[i]);
	}
	wire_request_free(req);
	free(buf);
}

/* A search for one 4-value query q. */
static void search_fx(Roost__Request *r, Roost__SearchRequest *search, float *q, uint32_t k)
{
	r->version = WIRE_VERSION;
	r->op_case = ROOST__REQUEST__OP_SEARCH;
	r->search = search;
	search->dim = 4;
	search->n_queries = 4;
	search->queries = q;
	search->k = k;
}

static void test_decode_search_and_status(void **state)
{
	Roost__SearchRequest search = ROOST__SEARCH_REQUEST__INIT;
	Roost__StatusRequest status = ROOST__STATUS_REQUEST__INIT;
	Roost__Request r = ROOST__REQUEST__INIT;
	float q[4] = {1, 2, 3, 4};
	Roost__Request *req;
	uint8_t *buf;
	size_t len;

	(void)state;
	search_fx(&r, &search, q, 10);
	buf = pack_request(&r, &len);
	assert_int_equal(wire_decode_request(buf, len, 0, &req, NULL, 0), 0);
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_SEARCH);
	assert_int_equal(req->search->k, 10);
	assert_int_equal(req->search->n_queries, 4);
	wire_request_free(req);
	free(buf);

	r.op_case = ROOST__REQUEST__OP_STATUS;
	r.status = &status;
	buf = pack_request(&r, &len);
	assert_int_equal(wire_decode_request(buf, len, 0, &req, NULL, 0), 0);
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_STATUS);
	wire_request_free(req);
	free(buf);
}

/* Padding (odd float count) and different junk underneath must give the
 * same bytes: nothing stale may leak into the ring or the log. */
static void test_batch_round_trip(void **state)
{
	struct batch_view v1, v2;
	unsigned char *b1, *b2;
	size_t l1, l2;
	struct fx f;

	(void)state;
	fx_init(&f, 5, 4);
	check_gives(&f, 0, NULL);
	b1 = write_batch(&f.add, 0x00, &l1, &v1);
	assert_batch_matches(&f.add, &v1);
	free(b1);

	fx_init(&f, 3, 3);
	strcpy(f.kind[1], "12345678901234567890123");
	assert_int_equal(wire_check_add(&f.add, &(struct wire_limits){3, 8, 64, 0}, NULL, 0), 0);
	b1 = write_batch(&f.add, 0xAA, &l1, &v1);
	b2 = write_batch(&f.add, 0x55, &l2, &v2);
	assert_int_equal(l1, l2);
	/* Texts, then doc 1's id and metadata. */
	assert_int_equal(
	    l1, batch_size(3, 3, (uint32_t)(5 + 0 + 15 + strlen(f.id[1]) + strlen(f.meta[1]))));
	assert_memory_equal(b1, b2, l1);
	assert_batch_matches(&f.add, &v1);
	free(b1);
	free(b2);
}

/* The whole path a broker runs: frame -> request -> check -> batch. */
static void test_frame_to_batch(void **state)
{
	struct batch_view v;
	unsigned char *rec;
	Roost__Request *req;
	size_t len, rlen;
	struct fx f;
	uint8_t *buf;

	(void)state;
	fx_init(&f, 8, 4);
	buf = pack_request(&f.req, &len);
	assert_int_equal(wire_decode_request(buf, len, lim.max_frame, &req, NULL, 0), 0);
	assert_int_equal(wire_check_add(req->add, &lim, NULL, 0), 0);
	rec = write_batch(req->add, 0xFF, &rlen, &v);
	assert_batch_matches(&f.add, &v);
	free(rec);
	wire_request_free(req);
	free(buf);
}

/* ---- what decoding must give, worked out without protobuf-c -------------
 *
 * The tests of damaged frames below compare wire_decode_request, and
 * wire_check_add on what it accepts, with this model of both. The model
 * walks the protobuf wire format over the schema of common/roost.proto by
 * itself, with the rules protobuf-c 1.4 applies when it unpacks (each is
 * shown on its own in test_decode_rules):
 *  - a key is a varint of at most 5 bytes; a one-byte key of field 0 is
 *    refused, a longer key of field 0 is an unknown field;
 *  - wire types 3, 4, 6 and 7 are refused; unknown fields are skipped;
 *  - a varint has at most 10 bytes; a length prefix at most 5, a value up
 *    to INT_MAX, and no more than what is left;
 *  - a known field of another wire type than its own is refused, but a
 *    bool takes any; a repeated number also takes a length-delimited
 *    (packed) run: floats a multiple of 4 bytes, varints each complete;
 *  - of a number or string the last occurrence counts; every occurrence
 *    of a message is decoded, and of the oneof op the last one stands.
 * Then wire.c's own rules (wire.h): an empty frame has no operation,
 * version must be 1, one operation must be set, no string
 * may hold a NUL byte, and no two different members of op may be set.
 * wire_check_add's order of checks is its documented contract. */

#define REF_DOCS 9 /* one more than lim.max_docs: enough to judge any add */

struct ref_doc {
	size_t nvec;
	int nonfinite;
	const uint8_t *kind, *text, *key, *meta;
	size_t kind_len, text_len, key_len, meta_len;
};

struct ref_add {
	uint32_t dim, ack;
	uint64_t client_id, seq;
	size_t ndocs;
	struct ref_doc docs[REF_DOCS];
};

struct ref_request {
	uint32_t version;
	unsigned op;  /* field number of the op that stands; 0: none */
	unsigned ops; /* a bit per op field number seen */
	int nul;      /* some string holds a NUL byte */
	struct ref_add add;
};

struct ref_field {
	uint32_t num;
	unsigned wire;
	uint64_t v;	     /* a varint's value */
	const uint8_t *data; /* fixed-size and length-delimited values */
	size_t len;
};

/* A varint of at most max bytes at *p; 0, or -1 when it does not end. */
static int ref_varint(const uint8_t **p, const uint8_t *end, unsigned max, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < max && *p < end; i++) {
		uint8_t b = *(*p)++;

		x |= (uint64_t)(b & 0x7F) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* The next field at *p: 1, 0 at the end, -1 when it is malformed. */
static int ref_next(const uint8_t **p, const uint8_t *end, struct ref_field *f)
{
	uint64_t key, n;

	if (*p == end)
		return 0;
	if ((**p & 0xF8) == 0 || ref_varint(p, end, 5, &key) != 0)
		return -1;
	f->num = (uint32_t)(key >> 3);
	f->wire = (unsigned)(key & 7);
	switch (f->wire) {
	case 0:
		return ref_varint(p, end, 10, &f->v) == 0 ? 1 : -1;
	case 1:
	case 5:
		n = f->wire == 1 ? 8 : 4;
		break;
	case 2:
		if (ref_varint(p, end, 5, &n) != 0 || n > INT_MAX)
			return -1;
		break;
	default:
		return -1;
	}
	if (n > (uint64_t)(end - *p))
		return -1;
	f->data = *p;
	f->len = (size_t)n;
	*p += n;
	return 1;
}

static int ref_float_finite(const uint8_t *p)
{
	uint32_t bits;

	memcpy(&bits, p, 4);
	return ((bits >> 23) & 0xFF) != 0xFF;
}

/* A repeated float: one 32-bit value, or a packed run of them. */
static int ref_floats(const struct ref_field *f, size_t *n, int *nonfinite)
{
	if (f->wire != 5 && (f->wire != 2 || f->len % 4 != 0))
		return -1;
	for (size_t i = 0; i < f->len; i += 4)
		*nonfinite |= !ref_float_finite(f->data + i);
	*n += f->len / 4;
	return 0;
}

/* A repeated varint: one, or a packed run of complete ones. */
static int ref_varints(const struct ref_field *f)
{
	const uint8_t *p = f->data, *end = f->data + f->len;
	uint64_t v;

	if (f->wire == 0)
		return 0;
	if (f->wire != 2)
		return -1;
	while (p < end)
		if (ref_varint(&p, end, 10, &v) != 0)
			return -1;
	return 0;
}

static int ref_string(const struct ref_field *f, struct ref_request *r, const uint8_t **s,
		      size_t *len)
{
	if (f->wire != 2)
		return -1;
	r->nul |= memchr(f->data, 0, f->len) != NULL;
	*s = f->data;
	*len = f->len;
	return 0;
}

/* The fields of a message: rc < 0 when one is malformed. */
#define REF_FIELDS(p, end, f, rc) while (((rc) = ref_next(&(p), (end), &(f))) > 0)

static int ref_document(const uint8_t *p, const uint8_t *end, struct ref_request *r,
			struct ref_doc *d)
{
	struct ref_field f;
	int rc;

	memset(d, 0, sizeof(*d));
	REF_FIELDS(p, end, f, rc)
	{
		switch (f.num) {
		case 1: /* vector */
			rc = ref_floats(&f, &d->nvec, &d->nonfinite);
			break;
		case 2: /* agent */
		case 3: /* time */
			rc = f.wire == 0 ? 0 : -1;
			break;
		case 4:
			rc = ref_string(&f, r, &d->kind, &d->kind_len);
			break;
		case 5:
			rc = ref_string(&f, r, &d->text, &d->text_len);
			break;
		case 6:
			rc = ref_string(&f, r, &d->key, &d->key_len);
			break;
		case 7:
			rc = ref_string(&f, r, &d->meta, &d->meta_len);
			break;
		default:
			rc = 0;
		}
		if (rc < 0)
			return -1;
	}
	return rc;
}

static int ref_add(const uint8_t *p, const uint8_t *end, struct ref_request *r, struct ref_add *a)
{
	struct ref_doc doc;
	struct ref_field f;
	int rc;

	memset(a, 0, sizeof(*a));
	REF_FIELDS(p, end, f, rc)
	{
		if (f.num == 2) { /* docs */
			if (f.wire != 2 || ref_document(f.data, f.data + f.len, r, &doc) != 0)
				return -1;
			if (a->ndocs < REF_DOCS)
				a->docs[a->ndocs] = doc;
			a->ndocs++;
			continue;
		}
		if (f.num == 7) { /* collection */
			const uint8_t *s;
			size_t len;
			if (ref_string(&f, r, &s, &len) != 0)
				return -1;
			continue;
		}
		if (f.num >= 1 && f.num <= 6 && f.wire != 0)
			return -1;
		if (f.num == 1)
			a->dim = (uint32_t)f.v;
		else if (f.num == 3)
			a->client_id = f.v;
		else if (f.num == 4)
			a->seq = f.v;
		else if (f.num == 5)
			a->ack = (uint32_t)f.v; /* an enum: its low 32 bits */
	}
	return rc;
}

/* Condition: key 1 and any_of 2 are strings, min 4 and max 7 doubles
 * (64-bit values only), the rest bools. */
static int ref_condition(const uint8_t *p, const uint8_t *end, struct ref_request *r)
{
	struct ref_field f;
	const uint8_t *s;
	size_t len;
	int rc;

	REF_FIELDS(p, end, f, rc)
	{
		if (f.num == 1 || f.num == 2)
			rc = ref_string(&f, r, &s, &len);
		else if (f.num == 4 || f.num == 7)
			rc = f.wire == 1 ? 0 : -1;
		else
			rc = 0; /* bools take any wire type; unknown fields are skipped */
		if (rc < 0)
			return -1;
	}
	return rc;
}

static int ref_filter(const uint8_t *p, const uint8_t *end, struct ref_request *r)
{
	struct ref_field f;
	const uint8_t *s;
	size_t len;
	int rc;

	REF_FIELDS(p, end, f, rc)
	{
		if (f.num == 1)
			rc = ref_varints(&f); /* agents */
		else if (f.num == 2)
			rc = 0; /* has_time_range: a bool takes any wire type */
		else if (f.num == 3 || f.num == 4)
			rc = f.wire == 0 ? 0 : -1;
		else if (f.num == 5)
			rc = ref_string(&f, r, &s, &len);
		else if (f.num == 6) /* where */
			rc = f.wire == 2 ? ref_condition(f.data, f.data + f.len, r) : -1;
		else
			rc = 0;
		if (rc < 0)
			return -1;
	}
	return rc;
}

static int ref_search(const uint8_t *p, const uint8_t *end, struct ref_request *r)
{
	struct ref_field f;
	size_t n = 0;
	int nonfinite = 0, rc;

	REF_FIELDS(p, end, f, rc)
	{
		const uint8_t *s;
		size_t len;
		if (f.num == 2)
			rc = ref_floats(&f, &n, &nonfinite); /* queries */
		else if (f.num == 4)
			rc = f.wire == 2 ? ref_filter(f.data, f.data + f.len, r) : -1;
		else if (f.num == 9)
			rc = ref_string(&f, r, &s, &len);	    /* collection */
		else if ((f.num >= 1 && f.num <= 8) || f.num == 10) /* 10: as_of_lsn */
			rc = f.wire == 0 ? 0 : -1;
		else
			rc = 0;
		if (rc < 0)
			return -1;
	}
	return rc;
}

static int ref_delete(const uint8_t *p, const uint8_t *end, struct ref_request *r)
{
	struct ref_field f;
	const uint8_t *s;
	size_t len;
	int rc;

	REF_FIELDS(p, end, f, rc)
	{
		if (f.num == 7)
			rc = f.wire == 2 ? ref_filter(f.data, f.data + f.len, r) : -1;
		else if (f.num == 1 || f.num == 2)
			rc = ref_string(&f, r, &s, &len);
		else if (f.num >= 3 && f.num <= 6)
			rc = f.wire == 0 ? 0 : -1;
		else
			rc = 0;
		if (rc < 0)
			return -1;
	}
	return rc;
}

static int ref_scroll(const uint8_t *p, const uint8_t *end, struct ref_request *r)
{
	struct ref_field f;
	const uint8_t *s;
	size_t len;
	int rc;

	REF_FIELDS(p, end, f, rc)
	{
		if (f.num == 2)
			rc = f.wire == 2 ? ref_filter(f.data, f.data + f.len, r) : -1;
		else if (f.num == 1 || f.num == 4)
			rc = ref_string(&f, r, &s, &len);
		else if (f.num == 3 || (f.num >= 5 && f.num <= 8))
			rc = f.wire == 0 || f.num == 5 ? 0 : -1;
		else
			rc = 0;
		if (rc < 0)
			return -1;
	}
	return rc;
}

/* A message of scalar fields: strings at the numbers in strs (a bit each),
 * varints at the numbers in ints, a nested message of those kinds at msg
 * (0: none), the rest unknown. */
struct ref_shape {
	unsigned strs, ints, msg;
	const struct ref_shape *nested;
};

static int ref_shaped(const uint8_t *p, const uint8_t *end, struct ref_request *r,
		      const struct ref_shape *shape)
{
	struct ref_field f;
	const uint8_t *s;
	size_t len;
	int rc;

	REF_FIELDS(p, end, f, rc)
	{
		if (f.num < 32 && (shape->strs >> f.num & 1))
			rc = ref_string(&f, r, &s, &len);
		else if (f.num < 32 && (shape->ints >> f.num & 1))
			rc = f.wire == 0 ? 0 : -1;
		else if (shape->msg && f.num == shape->msg)
			rc =
			    f.wire == 2 ? ref_shaped(f.data, f.data + f.len, r, shape->nested) : -1;
		else
			rc = 0;
		if (rc < 0)
			return -1;
	}
	return rc;
}

#define B(n) (1u << (n))

/* CollectionSettings: dim 1, metric 2, index 3, train_docs 4, seal_docs 5,
 * seal_interval_ms 6, indexed_keys 7 (repeated: each a string). */
static int ref_op(unsigned num, const uint8_t *p, const uint8_t *end, struct ref_request *r)
{
	const struct ref_shape settings = {.strs = B(3) | B(7),
					   .ints = B(1) | B(2) | B(4) | B(5) | B(6)};
	const struct ref_shape status = {.strs = B(1)};
	const struct ref_shape create = {
	    .strs = B(1), .ints = B(3) | B(4) | B(5), .msg = 2, .nested = &settings};
	const struct ref_shape drop = {.strs = B(1), .ints = B(2) | B(3) | B(4)};
	const struct ref_shape list = {0};
	const struct ref_shape get = {.strs = B(1) | B(2), .ints = B(3) | B(4) | B(5) | B(6)};
	const struct ref_shape alter = {.strs = B(1) | B(2), .ints = B(3) | B(4) | B(5) | B(6)};
	const struct ref_shape fork = {.strs = B(1) | B(2), .ints = B(3) | B(4) | B(5) | B(6)};
	const struct ref_shape *shapes[] = {[4] = &status, [5] = &create, [6] = &drop, [7] = &list,
					    [9] = &get,	   [11] = &alter, [12] = &fork};
	if (num == 10) /* scroll: its filter is a search's */
		return ref_scroll(p, end, r);
	if (num == 8) /* delete_docs: ids, or a search's filter */
		return ref_delete(p, end, r);
	return ref_shaped(p, end, r, shapes[num]);
}

static int ref_request(const uint8_t *p, const uint8_t *end, struct ref_request *r)
{
	struct ref_add add;
	struct ref_field f;
	int rc;

	memset(r, 0, sizeof(*r));
	REF_FIELDS(p, end, f, rc)
	{
		if (f.num == 1) {
			if (f.wire != 0)
				return -1;
			r->version = (uint32_t)f.v;
			continue;
		}
		if (f.num < 2 || f.num > 12)
			continue;
		if (f.wire != 2)
			return -1;
		if (f.num == 2)
			rc = ref_add(f.data, f.data + f.len, r, &add);
		else if (f.num == 3)
			rc = ref_search(f.data, f.data + f.len, r);
		else
			rc = ref_op(f.num, f.data, f.data + f.len, r);
		if (rc < 0)
			return -1;
		if (f.num == 2)
			r->add = add;
		r->op = f.num;
		r->ops |= 1u << f.num;
	}
	return rc;
}

/* What wire_decode_request must return for these bytes. */
static int ref_decode(const uint8_t *buf, size_t len, struct ref_request *r)
{
	if (len == 0)
		return ROOST_EUNSUPPORTED;
	if (ref_request(buf, buf + len, r) != 0)
		return ROOST_EPROTO;
	if (r->version != WIRE_VERSION)
		return ROOST_EVERSION;
	if (r->op == 0)
		return ROOST_EUNSUPPORTED;
	if (r->nul || (r->ops & (r->ops - 1)) != 0)
		return ROOST_EINVAL;
	return 0;
}

static int ref_check_string(const uint8_t *s, size_t len, size_t limit)
{
	if (len > limit)
		return ROOST_ETOOBIG;
	return ref_utf8_valid((const char *)s, len) ? 0 : ROOST_EUTF8;
}

/* What wire_check_add must return for a decoded add, against lim. */
/* No two documents of a request share an id. */
static int ref_unique_keys(const struct ref_add *a)
{
	for (size_t i = 0; i < a->ndocs; i++)
		for (size_t j = 0; j < i; j++)
			if (a->docs[i].key_len && a->docs[i].key_len == a->docs[j].key_len &&
			    memcmp(a->docs[i].key, a->docs[j].key, a->docs[i].key_len) == 0)
				return ROOST_EINVAL;
	return 0;
}

static int ref_check_add(const struct ref_add *a)
{
	int rc = 0;

	if (a->client_id == 0 || a->seq == 0)
		return ROOST_EINVAL;
	if (a->ack > ROOST__ACK_MODE__ACK_VISIBLE)
		return ROOST_EUNSUPPORTED;
	if (a->dim != lim.dim)
		return ROOST_EDIM;
	if (a->ndocs == 0)
		return ROOST_EINVAL;
	if (a->ndocs > lim.max_docs)
		return ROOST_ETOOBIG;
	for (size_t i = 0; rc == 0 && i < a->ndocs; i++) {
		const struct ref_doc *d = &a->docs[i];

		if (d->nvec != lim.dim)
			return ROOST_EDIM;
		if (d->nonfinite)
			return ROOST_EVALUE;
		rc = ref_check_string(d->kind, d->kind_len, BATCH_KIND_MAX);
		if (rc == 0)
			rc = ref_check_string(d->text, d->text_len, lim.max_text);
		if (rc == 0 && d->key_len)
			rc = ref_check_string(d->key, d->key_len, BATCH_MAX_KEY);
		if (rc == 0 && d->key_len && d->key[0] == '#')
			rc = ROOST_EINVAL;
		/* JSON itself is meta_check's, tested in test_meta. */
		if (rc == 0 && d->meta_len)
			rc = meta_check((const char *)d->meta, d->meta_len, NULL, 0);
	}
	return rc ? rc : ref_unique_keys(a);
}

/* Outcomes seen, by what they were: [0] decoded, [1..] refused by code. */
struct outcomes {
	int decoded, checked_ok, by_code[32], check_by_code[32];
};

static void tally(int *by_code, int rc)
{
	if (-rc >= 0 && -rc < 32)
		by_code[-rc]++;
}

/* Decodes a frame and holds the answer to the model's; for an add that
 * decodes, checks it the same way, and a checked add must make a valid
 * batch record. */
static void decode_matches_model(const uint8_t *frame, size_t len, struct outcomes *o,
				 const char *what, int round)
{
	char msg[MSG_LEN] = "";
	Roost__Request *req = (Roost__Request *)1;
	struct ref_request model;
	int want = ref_decode(frame, len, &model);
	int rc = wire_decode_request(frame, len, 0, &req, msg, sizeof(msg));

	if (rc != want)
		fail_msg("%s %d (%zu bytes): decoded to %d, the model says %d (%s)", what, round,
			 len, rc, want, msg);
	tally(o->by_code, rc);
	if (rc != 0) {
		assert_null(req);
		assert_true(msg[0] != '\0');
		return;
	}
	o->decoded++;
	assert_int_equal(req->version, WIRE_VERSION);
	assert_int_equal(req->op_case, model.op);
	if (req->op_case == ROOST__REQUEST__OP_ADD) {
		int check = wire_check_add(req->add, &lim, msg, sizeof(msg));
		int want_check = ref_check_add(&model.add);

		assert_int_equal(req->add->dim, model.add.dim);
		assert_int_equal(req->add->client_id, model.add.client_id);
		assert_int_equal(req->add->seq, model.add.seq);
		assert_int_equal(req->add->n_docs, model.add.ndocs);
		if (check != want_check)
			fail_msg("%s %d: the add checks to %d, the model says %d (%s)", what, round,
				 check, want_check, msg);
		tally(o->check_by_code, check);
		if (check == 0) {
			struct batch_view v;
			size_t rlen;
			unsigned char *rec = write_batch(req->add, 0, &rlen, &v);

			assert_batch_matches(req->add, &v);
			free(rec);
			o->checked_ok++;
		}
	}
	wire_request_free(req);
}

/* Request{version 1} and Request{add}, in the order given. */
static uint8_t *frame_in_order(const uint8_t *packed, size_t len, int add_first)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	/* pack_request writes version (2 bytes: 08 01) before add. */
	assert_true(packed[0] == 0x08 && packed[1] == 0x01 && packed[2] == 0x12);
	if (add_first) {
		memcpy(p, packed + 2, len - 2);
		memcpy(p + len - 2, packed, 2);
	} else {
		memcpy(p, packed, len);
	}
	return p;
}

/* Every prefix of a valid frame, in both orders of its two fields. A
 * prefix is a whole message only where a field ends: with nothing it is
 * the empty frame, with the version only it has no operation, with the add
 * only its version is 0; anywhere else it is cut inside a field. */
static void test_truncated_frames(void **state)
{
	struct outcomes o = {0};
	uint8_t *packed;
	struct fx f;
	size_t len;

	(void)state;
	fx_init(&f, 5, 4);
	packed = pack_request(&f.req, &len);
	for (int add_first = 0; add_first <= 1; add_first++) {
		uint8_t *frame = frame_in_order(packed, len, add_first);
		size_t field_end = add_first ? len - 2 : 2;

		for (size_t l = 0; l <= len; l++) {
			/* Exactly l bytes, so an over-read shows under AddressSanitizer. */
			uint8_t *p = malloc(l > 0 ? l : 1);
			int want = ROOST_EPROTO;
			struct ref_request model;

			assert_non_null(p);
			memcpy(p, frame, l);
			if (l == 0)
				want = ROOST_EUNSUPPORTED;
			else if (l == len)
				want = 0;
			else if (l == field_end)
				want = add_first ? ROOST_EVERSION : ROOST_EUNSUPPORTED;
			assert_int_equal(ref_decode(p, l, &model), want);
			decode_matches_model(p, l, &o, "prefix", (int)l);
			free(p);
		}
		free(frame);
	}
	assert_int_equal(o.by_code[-ROOST_EPROTO], 2 * (int)len - 4);
	free(packed);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_garbage_frames(void **state)
{
	static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 16, 31, 64, 100, 255, 1000, 4096};
	struct outcomes o = {0};
	uint64_t seed = 12345;
	int round = 0;

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int k = 0; k < 200; k++, round++) {
			uint8_t *p = malloc(sizes[s]);

			assert_non_null(p);
			for (size_t i = 0; i < sizes[s]; i++)
				p[i] = (uint8_t)xorshift(&seed);
			decode_matches_model(p, sizes[s], &o, "garbage frame", round);
			free(p);
		}
	}
}

/* The indexed keys of the creates below. */
static const char *const create_keys[] = {"user", "topic"};

/* A create request, and one frame with the collection fields of every
 * other operation set, mutated the same way: the collection operations'
 * fields decode as the model says. */
static void test_mutated_collection_frames(void **state)
{
	struct outcomes o = {0};
	uint64_t seed = 4242;
	Roost__CollectionSettings cs = ROOST__COLLECTION_SETTINGS__INIT;
	Roost__CreateCollectionRequest cc = ROOST__CREATE_COLLECTION_REQUEST__INIT;
	Roost__DropCollectionRequest dc = ROOST__DROP_COLLECTION_REQUEST__INIT;
	Roost__AlterCollectionRequest ac = ROOST__ALTER_COLLECTION_REQUEST__INIT;
	Roost__StatusRequest st = ROOST__STATUS_REQUEST__INIT;
	Roost__Request r = ROOST__REQUEST__INIT;
	size_t lens[4];
	uint8_t *frames[4];

	(void)state;
	cs.dim = 384;
	cs.metric = ROOST__METRIC__METRIC_INNER_PRODUCT;
	cs.index = "HNSW32";
	cs.seal_docs = 8192;
	cs.train_docs = 100;
	cs.seal_interval_ms = 2000;
	cs.n_indexed_keys = 2;
	cs.indexed_keys = (char **)create_keys;
	cc.name = "posts";
	cc.settings = &cs;
	cc.client_id = 0x1234567890ull;
	cc.seq = 3;
	dc.name = "articles";
	dc.client_id = 99;
	dc.seq = 4;
	ac.name = "posts";
	ac.index = "IVF64,Flat";
	ac.train_docs = 5000;
	ac.client_id = 99;
	ac.seq = 5;
	ac.timeout_ms = 2000;
	st.collection = "posts";
	r.version = WIRE_VERSION;
	r.op_case = ROOST__REQUEST__OP_CREATE_COLLECTION;
	r.create_collection = &cc;
	frames[0] = pack_request(&r, &lens[0]);
	r.op_case = ROOST__REQUEST__OP_DROP_COLLECTION;
	r.drop_collection = &dc;
	frames[1] = pack_request(&r, &lens[1]);
	r.op_case = ROOST__REQUEST__OP_STATUS;
	r.status = &st;
	frames[2] = pack_request(&r, &lens[2]);
	r.op_case = ROOST__REQUEST__OP_ALTER_COLLECTION;
	r.alter_collection = &ac;
	frames[3] = pack_request(&r, &lens[3]);
	for (int round = 0; round < 8000; round++) {
		size_t len = lens[round % 4];
		uint8_t *p = malloc(len);
		assert_non_null(p);
		memcpy(p, frames[round % 4], len);
		for (int k = 0; k < 1 + (int)(xorshift(&seed) % 3); k++)
			p[xorshift(&seed) % len] = (uint8_t)xorshift(&seed);
		decode_matches_model(p, len, &o, "mutated collection frame", round);
		free(p);
	}
	assert_true(o.decoded > 1000);
	for (int i = 0; i < 4; i++)
		free(frames[i]);
}

/* Valid frames with random bytes changed reach deeper than pure garbage:
 * every outcome below is common, so each is compared many times. */
static void test_mutated_frames(void **state)
{
	struct outcomes o = {0};
	uint64_t seed = 777;
	struct fx f;
	uint8_t *buf;
	size_t len;
	int round;

	(void)state;
	fx_init(&f, 5, 4);
	buf = pack_request(&f.req, &len);
	for (round = 0; round < 5000; round++) {
		uint8_t *p = malloc(len);
		int k;

		assert_non_null(p);
		memcpy(p, buf, len);
		for (k = 0; k < 1 + (int)(xorshift(&seed) % 3); k++)
			p[xorshift(&seed) % len] = (uint8_t)xorshift(&seed);
		decode_matches_model(p, len, &o, "mutated frame", round);
		free(p);
	}
	/* Each outcome is common enough to have been compared many times. */
	assert_true(o.decoded > 1000 && o.checked_ok > 1000);
	assert_true(o.by_code[-ROOST_EPROTO] > 1000 && o.check_by_code[-ROOST_EUTF8] > 100);
	assert_true(o.by_code[-ROOST_EINVAL] > 0 && o.by_code[-ROOST_EVERSION] > 0 &&
		    o.check_by_code[-ROOST_EDIM] > 0 && o.check_by_code[-ROOST_EVALUE] > 0);
	free(buf);
}

/* Searches with filters whose metadata conditions set every field,
 * mutated: Filter.where and Condition decode as the model says. */
static void test_mutated_search_frames(void **state)
{
	Roost__SearchRequest search = ROOST__SEARCH_REQUEST__INIT;
	Roost__Filter filter = ROOST__FILTER__INIT;
	Roost__Condition c0 = ROOST__CONDITION__INIT, c1 = ROOST__CONDITION__INIT;
	Roost__Condition *where[] = {&c0, &c1};
	Roost__Request r = ROOST__REQUEST__INIT;
	char *topics[] = {"\"cats\"", "\"dogs\"", "5"};
	int64_t agents[] = {3, 7};
	float q[4] = {1, 2, 3, 4};
	struct outcomes o = {0};
	uint64_t seed = 99;
	size_t len;

	(void)state;
	search_fx(&r, &search, q, 5);
	search.filter = &filter;
	filter.n_agents = 2;
	filter.agents = agents;
	filter.kind = "tweet";
	filter.n_where = 2;
	filter.where = where;
	c0.key = "topic";
	c0.n_any_of = 3;
	c0.any_of = topics;
	c1.key = "score";
	c1.has_min = c1.has_max = c1.max_exclusive = 1;
	c1.min = -0.5;
	c1.max = 1e300;
	uint8_t *frame = pack_request(&r, &len);
	for (int round = 0; round < 5000; round++) {
		uint8_t *p = malloc(len);
		assert_non_null(p);
		memcpy(p, frame, len);
		for (int k = 0; k < 1 + (int)(xorshift(&seed) % 3); k++)
			p[xorshift(&seed) % len] = (uint8_t)xorshift(&seed);
		decode_matches_model(p, len, &o, "mutated search frame", round);
		free(p);
	}
	assert_true(o.decoded > 1000 && o.by_code[-ROOST_EPROTO] > 500);
	free(frame);
}

struct rule_case {
	const char *rule;
	uint8_t frame[24];
	size_t len;
	int want;
};

#define RULE(rule, want, ...)                                                                      \
	{                                                                                          \
		rule, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), want                        \
	}

/* The rules of the model one by one, each against the decoder: a case
 * that decodes carries a status request (22 00) after version 1 (08 01). */
static void test_decode_rules(void **state)
{
	static const struct rule_case cases[] = {
	    RULE("a status request", 0, 0x08, 0x01, 0x22, 0x00),
	    RULE("one-byte key of field 0", ROOST_EPROTO, 0x00, 0x08, 0x01, 0x22, 0x00),
	    RULE("two-byte key of field 0: an unknown field", 0, 0x80, 0x00, 0x00, 0x08, 0x01, 0x22,
		 0x00),
	    RULE("key of 5 bytes", 0, 0xF8, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x08, 0x01, 0x22, 0x00),
	    RULE("key of 6 bytes", ROOST_EPROTO, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x08,
		 0x01, 0x22, 0x00),
	    RULE("wire type 3", ROOST_EPROTO, 0x08, 0x01, 0x22, 0x00, 0x4B),
	    RULE("wire type 7", ROOST_EPROTO, 0x08, 0x01, 0x22, 0x00, 0x4F),
	    RULE("unknown 64-bit field", 0, 0x08, 0x01, 0x22, 0x00, 0x79, 1, 2, 3, 4, 5, 6, 7, 8),
	    RULE("unknown 64-bit field cut short", ROOST_EPROTO, 0x08, 0x01, 0x22, 0x00, 0x79, 1, 2,
		 3, 4, 5, 6, 7),
	    RULE("varint of 10 bytes", 0, 0x08, 0x01, 0x22, 0x00, 0x78, 0xFF, 0xFF, 0xFF, 0xFF,
		 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01),
	    RULE("varint of 11 bytes", ROOST_EPROTO, 0x08, 0x01, 0x22, 0x00, 0x78, 0xFF, 0xFF, 0xFF,
		 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x01),
	    RULE("length prefix of 5 bytes", 0, 0x08, 0x01, 0x22, 0x00, 0x7A, 0x80, 0x80, 0x80,
		 0x80, 0x00),
	    RULE("length prefix of 6 bytes", ROOST_EPROTO, 0x08, 0x01, 0x22, 0x00, 0x7A, 0x80, 0x80,
		 0x80, 0x80, 0x80, 0x00),
	    RULE("length past the end", ROOST_EPROTO, 0x08, 0x01, 0x22, 0x01),
	    RULE("a uint32 keeps the low 32 bits of its varint", 0, 0x08, 0x81, 0x80, 0x80, 0x80,
		 0x10, 0x22, 0x00),
	    RULE("version length-delimited", ROOST_EPROTO, 0x0A, 0x01, 0x01, 0x22, 0x00),
	    RULE("status as a varint", ROOST_EPROTO, 0x08, 0x01, 0x20, 0x00),
	    RULE("no version", ROOST_EVERSION, 0x22, 0x00),
	    RULE("no operation", ROOST_EUNSUPPORTED, 0x08, 0x01, 0x78, 0x00),
	    RULE("a bool takes a 64-bit value", 0, 0x08, 0x01, 0x1A, 0x0B, 0x22, 0x09, 0x11, 1, 2,
		 3, 4, 5, 6, 7, 8),
	    RULE("an int64 does not", ROOST_EPROTO, 0x08, 0x01, 0x1A, 0x0B, 0x22, 0x09, 0x19, 1, 2,
		 3, 4, 5, 6, 7, 8),
	    RULE("packed agents", 0, 0x08, 0x01, 0x1A, 0x06, 0x22, 0x04, 0x0A, 0x02, 0x07, 0x08),
	    RULE("packed agents, one cut", ROOST_EPROTO, 0x08, 0x01, 0x1A, 0x05, 0x22, 0x03, 0x0A,
		 0x01, 0x87),
	    RULE("one float", 0, 0x08, 0x01, 0x12, 0x07, 0x12, 0x05, 0x0D, 0, 0, 0x80, 0x3F),
	    RULE("packed floats, 4 bytes", 0, 0x08, 0x01, 0x12, 0x08, 0x12, 0x06, 0x0A, 0x04, 0, 0,
		 0x80, 0x3F),
	    RULE("packed floats, 5 bytes", ROOST_EPROTO, 0x08, 0x01, 0x12, 0x09, 0x12, 0x07, 0x0A,
		 0x05, 0, 0, 0x80, 0x3F, 0),
	    RULE("a float as a varint", ROOST_EPROTO, 0x08, 0x01, 0x12, 0x04, 0x12, 0x02, 0x08,
		 0x01),
	    RULE("a condition's min as a 64-bit value", 0, 0x08, 0x01, 0x1A, 0x10, 0x22, 0x0E, 0x32,
		 0x0C, 0x0A, 0x01, 'k', 0x21, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F),
	    RULE("a condition's min as a varint", ROOST_EPROTO, 0x08, 0x01, 0x1A, 0x09, 0x22, 0x07,
		 0x32, 0x05, 0x0A, 0x01, 'k', 0x20, 0x01),
	    RULE("NUL in a condition's any_of", ROOST_EINVAL, 0x08, 0x01, 0x1A, 0x08, 0x22, 0x06,
		 0x32, 0x04, 0x12, 0x02, '1', 0x00),
	    RULE("NUL in filter.kind", ROOST_EINVAL, 0x08, 0x01, 0x1A, 0x06, 0x22, 0x04, 0x2A, 0x02,
		 'a', 0x00),
	    RULE("NUL in the text of an add a later one replaces", ROOST_EINVAL, 0x08, 0x01, 0x12,
		 0x06, 0x12, 0x04, 0x2A, 0x02, 'a', 0x00, 0x12, 0x00),
	    RULE("two operations", ROOST_EINVAL, 0x08, 0x01, 0x22, 0x00, 0x1A, 0x00),
	    RULE("two operations, version 2", ROOST_EVERSION, 0x08, 0x02, 0x22, 0x00, 0x1A, 0x00),
	};
	struct ref_request model;
	char msg[MSG_LEN];
	Roost__Request *req;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rule_case *c = &cases[i];
		int rc;

		msg[0] = '\0';
		rc = wire_decode_request(c->frame, c->len, 0, &req, msg, sizeof(msg));

		if (rc != c->want)
			fail_msg("%s: decoded to %d, expected %d (%s)", c->rule, rc, c->want, msg);
		if (ref_decode(c->frame, c->len, &model) != c->want)
			fail_msg("%s: the model says %d, expected %d", c->rule,
				 ref_decode(c->frame, c->len, &model), c->want);
		wire_request_free(req);
	}
}

/* Of two adds the last one stands whole: protobuf-c does not merge
 * members of a oneof (client_id 5 of the first is gone). */
static void test_decode_last_add_stands(void **state)
{
	static const uint8_t two[] = {0x08, 0x01, 0x12, 0x02, 0x18, 0x05, 0x12, 0x02, 0x08, 0x04};
	struct ref_request model;
	Roost__Request *req;

	(void)state;
	assert_int_equal(wire_decode_request(two, sizeof(two), 0, &req, NULL, 0), 0);
	assert_int_equal(ref_decode(two, sizeof(two), &model), 0);
	assert_int_equal(req->add->dim, 4);
	assert_int_equal(req->add->client_id, 0);
	assert_int_equal(model.add.dim, 4);
	assert_int_equal(model.add.client_id, 0);
	wire_request_free(req);
}

static void test_wrong_version(void **state)
{
	static const uint32_t versions[] = {0, 2, UINT32_MAX};
	char msg[MSG_LEN];
	Roost__Request *req;
	struct fx f;
	uint8_t *buf;
	size_t len, i;

	(void)state;
	for (i = 0; i < 3; i++) {
		fx_init(&f, 1, 4);
		f.req.version = versions[i];
		buf = pack_request(&f.req, &len);
		assert_int_equal(wire_decode_request(buf, len, 0, &req, msg, sizeof(msg)),
				 ROOST_EVERSION);
		assert_null(req);
		assert_msg_has(msg, "version 1");
		free(buf);
	}
	assert_msg_has(msg, "4294967295");
}

static void test_no_operation(void **state)
{
	/* version 1, then field 15 (length-delimited, empty): an op from the
	 * future, kept by protobuf-c as an unknown field. */
	static const uint8_t future[] = {0x08, 0x01, 0x7A, 0x00};
	Roost__Request r = ROOST__REQUEST__INIT;
	char msg[MSG_LEN];
	Roost__Request *req;
	uint8_t *buf;
	size_t len;

	(void)state;
	r.version = WIRE_VERSION;
	buf = pack_request(&r, &len);
	assert_int_equal(wire_decode_request(buf, len, 0, &req, msg, sizeof(msg)),
			 ROOST_EUNSUPPORTED);
	assert_msg_has(msg, "unknown operation");
	free(buf);
	assert_int_equal(wire_decode_request(future, sizeof(future), 0, &req, msg, sizeof(msg)),
			 ROOST_EUNSUPPORTED);
	assert_null(req);
}

static void test_empty_and_oversized(void **state)
{
	size_t big = WIRE_MAX_FRAME + 1;
	uint8_t *p = calloc(1, big);
	char msg[MSG_LEN];
	Roost__Request *req;

	(void)state;
	assert_non_null(p);
	assert_int_equal(wire_decode_request(p, 0, 0, &req, msg, sizeof(msg)), ROOST_EUNSUPPORTED);
	assert_msg_has(msg, "empty frame");
	assert_int_equal(wire_decode_request(p, 65, 64, &req, msg, sizeof(msg)), ROOST_ETOOBIG);
	assert_msg_has(msg, "65 bytes");
	assert_msg_has(msg, "limit is 64");
	/* 0, or a limit above WIRE_MAX_FRAME, means WIRE_MAX_FRAME. */
	assert_int_equal(wire_decode_request(p, big, 0, &req, msg, sizeof(msg)), ROOST_ETOOBIG);
	assert_int_equal(wire_decode_request(p, big, SIZE_MAX, &req, msg, sizeof(msg)),
			 ROOST_ETOOBIG);
	assert_null(req);
	free(p);
}

/* Request{version 1, add{docs: n copies of doc}} encoded by hand. */
static uint8_t *frame_of_docs(const uint8_t *doc, size_t doc_len, size_t n, size_t *len)
{
	size_t body = n * doc_len, at = 0, i;
	uint8_t *p = malloc(body + 16);

	assert_non_null(p);
	p[at++] = 0x08;
	p[at++] = 0x01;
	p[at++] = 0x12;
	for (i = body; i >= 0x80; i >>= 7)
		p[at++] = (uint8_t)(i | 0x80);
	p[at++] = (uint8_t)i;
	for (i = 0; i < n; i++, at += doc_len)
		memcpy(p + at, doc, doc_len);
	*len = at;
	return p;
}

static void test_decode_memory_budget(void **state)
{
	static const uint8_t empty_doc[] = {0x12, 0x00};
	/* docs {vector [1.0], kind "tweet"}: the smallest useful document. */
	static const uint8_t tiny_doc[] = {0x12, 0x0D, 0x0A, 0x04, 0x00, 0x00, 0x80, 0x3F,
					   0x22, 0x05, 't',  'w',  'e',	 'e',  't'};
	char msg[MSG_LEN];
	Roost__Request *req;
	uint8_t *p;
	size_t len;

	(void)state;
	/* 1 MiB of empty documents would unpack to ~60 MiB. */
	p = frame_of_docs(empty_doc, sizeof(empty_doc), 512 * 1024, &len);
	assert_int_equal(wire_decode_request(p, len, 0, &req, msg, sizeof(msg)), ROOST_ETOOBIG);
	assert_msg_has(msg, "memory");
	free(p);
	/* The largest legitimate request of tiny documents still decodes. */
	p = frame_of_docs(tiny_doc, sizeof(tiny_doc), BATCH_MAX_DOCS, &len);
	assert_int_equal(wire_decode_request(p, len, 0, &req, msg, sizeof(msg)), 0);
	assert_int_equal(req->add->n_docs, BATCH_MAX_DOCS);
	assert_string_equal(req->add->docs[BATCH_MAX_DOCS - 1]->kind, "tweet");
	assert_true(req->add->docs[0]->vector[0] == 1.0f);
	wire_request_free(req);
	free(p);
}

/* A frame near WIRE_MAX_FRAME of plain vectors is within the budget. */
static void test_decode_large_frame(void **state)
{
	Roost__Request r = ROOST__REQUEST__INIT;
	Roost__SearchRequest s = ROOST__SEARCH_REQUEST__INIT;
	Roost__Request *req;
	uint8_t *buf;
	size_t len;

	(void)state;
	s.dim = 1024;
	s.n_queries = (WIRE_MAX_FRAME - 64) / sizeof(float);
	s.queries = calloc(s.n_queries, sizeof(float));
	assert_non_null(s.queries);
	s.k = 1;
	r.version = WIRE_VERSION;
	r.op_case = ROOST__REQUEST__OP_SEARCH;
	r.search = &s;
	buf = pack_request(&r, &len);
	assert_true(len <= WIRE_MAX_FRAME);
	assert_int_equal(wire_decode_request(buf, len, 0, &req, NULL, 0), 0);
	assert_int_equal(req->search->n_queries, s.n_queries);
	wire_request_free(req);
	free(buf);
	free(s.queries);
}

static void test_check_dimension(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 3, 4);
	f.add.dim = 3;
	check_gives(&f, ROOST_EDIM, "request dim 3 but collection dimension is 4");
	fx_init(&f, 3, 4);
	f.docs[2].n_vector = 3;
	check_gives(&f, ROOST_EDIM, "docs[2]: vector has 3 values, collection dimension is 4");
	f.docs[2].n_vector = 0;
	check_gives(&f, ROOST_EDIM, "docs[2]: vector has 0 values");
}

static void test_check_values(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 3, 4);
	f.vec[2][1] = NAN;
	check_gives(&f, ROOST_EVALUE, "docs[2].vector[1] is NaN");
	f.vec[2][1] = INFINITY;
	check_gives(&f, ROOST_EVALUE, "docs[2].vector[1] is +infinity");
	f.vec[2][1] = -INFINITY;
	check_gives(&f, ROOST_EVALUE, "docs[2].vector[1] is -infinity");
	f.vec[2][1] = 3.4028235e38f;
	check_gives(&f, 0, NULL);
	/* The first bad document is the one named. */
	f.vec[1][3] = NAN;
	f.vec[2][0] = NAN;
	check_gives(&f, ROOST_EVALUE, "docs[1].vector[3]");
}

static void test_check_counts(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 9, 4);
	check_gives(&f, ROOST_ETOOBIG, "9 documents; the limit is 8");
	f.add.n_docs = 8;
	check_gives(&f, 0, NULL);
	f.add.n_docs = 0;
	check_gives(&f, ROOST_EINVAL, "no documents");
	assert_int_equal(wire_batch_size(&f.add), 0);
}

static void test_check_text(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 3, 4);
	memset(f.text[2], 'x', 64);
	f.text[2][64] = '\0';
	check_gives(&f, 0, NULL);
	f.text[2][64] = 'x';
	f.text[2][65] = '\0';
	check_gives(&f, ROOST_ETOOBIG, "docs[2].text is 65 bytes; the limit is 64");
	strcpy(f.text[2], "ok \xC3\x28");
	check_gives(&f, ROOST_EUTF8, "docs[2].text is not valid UTF-8");
	strcpy(f.text[2], "\xED\xA0\x80");
	check_gives(&f, ROOST_EUTF8, "docs[2].text");
}

static void test_check_ids_and_metadata(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 5, 4);
	check_gives(&f, 0, NULL);
	strcpy(f.id[2], "#7");
	check_gives(&f, ROOST_EINVAL, "docs[2].id begins with '#'");
	memset(f.id[2], 'x', BATCH_MAX_KEY + 1);
	f.id[2][BATCH_MAX_KEY + 1] = '\0';
	check_gives(&f, ROOST_ETOOBIG, "docs[2].id is 129 bytes; the limit is 128");
	f.id[2][BATCH_MAX_KEY] = '\0';
	check_gives(&f, 0, NULL);
	strcpy(f.id[2], "doc-3");
	check_gives(&f, ROOST_EINVAL, "id \"doc-3\" appears twice in one request");
	strcpy(f.id[2], "\xC3");
	check_gives(&f, ROOST_EUTF8, "docs[2].id is not valid UTF-8");
	strcpy(f.id[2], "");
	strcpy(f.meta[4], "[1, 2]");
	check_gives(&f, ROOST_EINVAL, "docs[4].metadata: expected an object");
	strcpy(f.meta[4], "{\"a\": 1, \"a\": 2}");
	check_gives(&f, ROOST_EINVAL, "docs[4].metadata.a: key appears twice");
	strcpy(f.meta[4], "{\"a\": tru}");
	check_gives(&f, ROOST_EINVAL, "docs[4].metadata");
	strcpy(f.meta[4], "{\"a\": {\"b\": [null, true, -1.5e3, \"\\u00e9\"]}}");
	check_gives(&f, 0, NULL);
}

static void test_check_kind(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 3, 4);
	strcpy(f.kind[2], "12345678901234567890123");
	check_gives(&f, 0, NULL);
	strcpy(f.kind[2], "123456789012345678901234");
	check_gives(&f, ROOST_ETOOBIG, "docs[2].kind is 24 bytes; the limit is 23");
	strcpy(f.kind[2], "tw\xC0\x80t");
	check_gives(&f, ROOST_EUTF8, "docs[2].kind is not valid UTF-8");
}

static void test_check_key_and_ack(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, 3, 4);
	f.add.client_id = 0;
	check_gives(&f, ROOST_EINVAL, "missing idempotency key");
	fx_init(&f, 3, 4);
	f.add.seq = 0;
	check_gives(&f, ROOST_EINVAL, "missing idempotency key");
	fx_init(&f, 3, 4);
	f.add.ack = (Roost__AckMode)4;
	check_gives(&f, ROOST_EUNSUPPORTED, "ack mode 4 is not supported");
	f.add.ack = (Roost__AckMode)-1;
	check_gives(&f, ROOST_EUNSUPPORTED, "ack mode -1");
	f.add.ack = ROOST__ACK_MODE__ACK_DEFAULT;
	check_gives(&f, 0, NULL);
}

/* An unknown enum number must survive the wire to be rejected. */
static void test_check_ack_from_wire(void **state)
{
	char msg[MSG_LEN] = "";
	Roost__Request *req;
	struct fx f;
	uint8_t *buf;
	size_t len;

	(void)state;
	fx_init(&f, 1, 4);
	f.add.ack = (Roost__AckMode)9;
	buf = pack_request(&f.req, &len);
	assert_int_equal(wire_decode_request(buf, len, 0, &req, NULL, 0), 0);
	assert_int_equal(wire_check_add(req->add, &lim, msg, sizeof(msg)), ROOST_EUNSUPPORTED);
	assert_msg_has(msg, "ack mode 9");
	wire_request_free(req);
	free(buf);
}

static void test_check_edge_cases(void **state)
{
	struct wire_limits hard = {.dim = 4};
	char small[8];
	struct fx f;

	(void)state;
	fx_init(&f, 3, 4);
	f.ptrs[2] = NULL;
	check_gives(&f, ROOST_EINVAL, "docs[2] is missing");
	fx_init(&f, 3, 4);
	assert_int_equal(wire_check_add(NULL, &lim, NULL, 0), ROOST_EINVAL);
	assert_int_equal(wire_check_add(&f.add, &(struct wire_limits){0}, NULL, 0), ROOST_EINVAL);
	/* Zero limits mean the hard limits of batch.h. */
	memset(f.text[0], 'x', 100);
	f.text[0][100] = '\0';
	assert_int_equal(wire_check_add(&f.add, &hard, NULL, 0), 0);
	/* A short message buffer is cut, not overrun. */
	f.add.seq = 0;
	assert_int_equal(wire_check_add(&f.add, &lim, small, sizeof(small)), ROOST_EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_encode_reply(void **state)
{
	uint64_t ids[3] = {10, 11, UINT64_MAX};
	Roost__AddReply add = ROOST__ADD_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	Roost__Reply *back;
	size_t len;
	void *buf;

	(void)state;
	add.lsn = 123456789;
	add.n_ids = 3;
	add.ids = ids;
	add.duplicate = 1;
	r.body_case = ROOST__REPLY__BODY_ADD;
	r.add = &add;
	assert_int_equal(wire_encode_reply(&r, &buf, &len), 0);
	back = roost__reply__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->version, WIRE_VERSION);
	assert_int_equal(back->status, 0);
	assert_int_equal(back->body_case, ROOST__REPLY__BODY_ADD);
	assert_int_equal(back->add->lsn, 123456789);
	assert_int_equal(back->add->n_ids, 3);
	assert_memory_equal(back->add->ids, ids, sizeof(ids));
	assert_true(back->add->duplicate);
	roost__reply__free_unpacked(back, NULL);
	free(buf);
	assert_int_equal(r.version, 0); /* the caller's reply is not modified */
	assert_int_equal(wire_encode_reply(NULL, &buf, &len), ROOST_EINVAL);
}

static void test_encode_error(void **state)
{
	Roost__Reply *back;
	size_t len;
	void *buf;

	(void)state;
	assert_int_equal(
	    wire_encode_error(ROOST_EDIM, "docs[3]: vector has 383 values", &buf, &len), 0);
	back = roost__reply__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->version, WIRE_VERSION);
	assert_int_equal(back->status, ROOST_EDIM);
	assert_string_equal(back->message, "docs[3]: vector has 383 values");
	assert_int_equal(back->body_case, ROOST__REPLY__BODY__NOT_SET);
	roost__reply__free_unpacked(back, NULL);
	free(buf);

	/* No message: the code's own text, never an empty explanation. */
	assert_int_equal(wire_encode_error(ROOST_EBUSY, NULL, &buf, &len), 0);
	back = roost__reply__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_string_equal(back->message, roost_strerror(ROOST_EBUSY));
	roost__reply__free_unpacked(back, NULL);
	free(buf);
}

/* Replaces the first occurrence of the byte `from` after the bytes `after`
 * in a packed frame: how a NUL gets into a string that strlen would cut. */
static void poke(uint8_t *buf, size_t len, const char *after, uint8_t from, uint8_t to)
{
	size_t n = strlen(after);

	for (size_t i = 0; i + n < len; i++)
		if (memcmp(buf + i, after, n) == 0 && buf[i + n] == from) {
			buf[i + n] = to;
			return;
		}
	fail_msg("no '%s%c' in the frame", after, from);
}

static void assert_refused(const uint8_t *buf, size_t len, int code, const char *want)
{
	char msg[MSG_LEN] = "";
	Roost__Request *req = (Roost__Request *)1;

	assert_int_equal(wire_decode_request(buf, len, 0, &req, msg, sizeof(msg)), code);
	assert_null(req);
	assert_msg_has(msg, want);
}

static void test_nul_in_strings(void **state)
{
	Roost__SearchRequest search = ROOST__SEARCH_REQUEST__INIT;
	Roost__Filter filter = ROOST__FILTER__INIT;
	Roost__Request r = ROOST__REQUEST__INIT;
	float q[4] = {1, 2, 3, 4};
	struct fx f;
	uint8_t *buf;
	size_t len;

	(void)state;
	fx_init(&f, 3, 4);
	strcpy(f.text[1], "before|after");
	buf = pack_request(&f.req, &len);
	poke(buf, len, "before", '|', 0);
	assert_refused(buf, len, ROOST_EINVAL,
		       "add.docs[1].text holds a NUL byte (at byte 6 of 12); roost strings "
		       "cannot hold U+0000");
	free(buf);

	fx_init(&f, 3, 4);
	strcpy(f.kind[2], "tw|t");
	buf = pack_request(&f.req, &len);
	poke(buf, len, "tw", '|', 0);
	assert_refused(buf, len, ROOST_EINVAL, "add.docs[2].kind holds a NUL byte (at byte 2");
	free(buf);

	search_fx(&r, &search, q, 1);
	search.filter = &filter;
	filter.kind = "news|";
	buf = pack_request(&r, &len);
	poke(buf, len, "news", '|', 0);
	assert_refused(buf, len, ROOST_EINVAL, "search.filter.kind holds a NUL byte (at byte 4");
	free(buf);

	Roost__Condition c0 = ROOST__CONDITION__INIT, c1 = ROOST__CONDITION__INIT;
	Roost__Condition *where[] = {&c0, &c1};
	char *vals[] = {"\"a\"", "\"b|\""};
	filter.kind = "";
	filter.n_where = 2;
	filter.where = where;
	c0.key = "k";
	c0.has_min = 1;
	c1.key = "topic";
	c1.n_any_of = 2;
	c1.any_of = vals;
	buf = pack_request(&r, &len);
	poke(buf, len, "\"b", '|', 0);
	assert_refused(buf, len, ROOST_EINVAL,
		       "search.filter.where[1].any_of[1] holds a NUL byte (at byte 2");
	free(buf);
}

static void test_two_operations(void **state)
{
	static const uint8_t status[] = {0x22, 0x00};		  /* field 4 (status), empty */
	static const uint8_t search[] = {0x1a, 0x02, 0x18, 0x01}; /* field 3, k = 1 */
	struct fx f;
	uint8_t *buf, *two;
	size_t len;

	(void)state;
	fx_init(&f, 1, 4);
	buf = pack_request(&f.req, &len);
	two = malloc(len + sizeof(search));
	assert_non_null(two);
	memcpy(two, buf, len);
	memcpy(two + len, status, sizeof(status));
	assert_refused(two, len + sizeof(status), ROOST_EINVAL,
		       "the request sets both add and status; a request sets exactly one");
	/* The other order, and search after add. */
	memcpy(two, status, sizeof(status));
	memcpy(two + sizeof(status), buf, len);
	assert_refused(two, len + sizeof(status), ROOST_EINVAL, "sets both status and add");
	memcpy(two, buf, len);
	memcpy(two + len, search, sizeof(search));
	assert_refused(two, len + sizeof(search), ROOST_EINVAL, "sets both add and search");
	free(two);
	free(buf);
}

/* An alter is one operation like the others: with a drop (field 6) of
 * the same name it is two. */
static void test_alter_is_an_operation(void **state)
{
	static const uint8_t alter_drop[] = {0x08, 0x01, /* version 1 */
					     0x5a, 0x05, 0x0a, 0x01, 'p', 0x12, 0x00, /* alter */
					     0x32, 0x03, 0x0a, 0x01, 'p'};	      /* drop */
	char msg[MSG_LEN] = "";
	Roost__Request *req;

	(void)state;
	assert_int_equal(wire_decode_request(alter_drop, 9, 0, &req, msg, sizeof(msg)), 0);
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_ALTER_COLLECTION);
	assert_string_equal(req->alter_collection->name, "p");
	assert_string_equal(req->alter_collection->index, "");
	wire_request_free(req);
	assert_refused(alter_drop, sizeof(alter_drop), ROOST_EINVAL,
		       "the request sets both alter_collection and drop_collection");
}

static void test_check_filter(void **state)
{
	Roost__Filter filter = ROOST__FILTER__INIT;
	char msg[MSG_LEN] = "";

	(void)state;
	assert_int_equal(wire_check_filter(NULL, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(wire_check_filter(&filter, NULL, msg, sizeof(msg)), 0);
	filter.kind = "12345678901234567890123";
	assert_int_equal(wire_check_filter(&filter, NULL, msg, sizeof(msg)), 0);
	filter.kind = "123456789012345678901234";
	assert_int_equal(wire_check_filter(&filter, NULL, msg, sizeof(msg)), ROOST_ETOOBIG);
	assert_msg_has(msg, "filter.kind is 24 bytes; a kind is at most 23 bytes");
	filter.kind = "tw\xC0\x80t";
	assert_int_equal(wire_check_filter(&filter, NULL, msg, sizeof(msg)), ROOST_EUTF8);
	assert_msg_has(msg, "filter.kind is not valid UTF-8");
}

/* Conditions are checked within proto/metaq.h's limits (test_metaq has
 * each rule) and handed back compiled. */
static void test_check_filter_where(void **state)
{
	Roost__Filter filter = ROOST__FILTER__INIT;
	Roost__Condition conds[METAQ_MAX_CONDITIONS + 1];
	Roost__Condition *where[METAQ_MAX_CONDITIONS + 1];
	char *vals[] = {"\"cats\"", "5"};
	char msg[MSG_LEN] = "";
	struct metaq *q = (struct metaq *)1;

	(void)state;
	for (size_t i = 0; i <= METAQ_MAX_CONDITIONS; i++) {
		roost__condition__init(&conds[i]);
		conds[i].key = "topic";
		conds[i].n_any_of = 2;
		conds[i].any_of = vals;
		where[i] = &conds[i];
	}
	assert_int_equal(wire_check_filter(&filter, &q, msg, sizeof(msg)), 0);
	assert_null(q);
	filter.where = where;
	filter.n_where = 2;
	conds[1].key = "n";
	conds[1].n_any_of = 0;
	conds[1].has_min = 1;
	conds[1].min = 2;
	assert_int_equal(wire_check_filter(&filter, &q, msg, sizeof(msg)), 0);
	assert_non_null(q);
	const char *yes = "{\"topic\":\"cats\",\"n\":2}", *no = "{\"topic\":\"cats\",\"n\":1}";
	assert_true(metaq_match(q, yes, strlen(yes)));
	assert_false(metaq_match(q, no, strlen(no)));
	metaq_free(q);
	filter.n_where = METAQ_MAX_CONDITIONS + 1;
	assert_int_equal(wire_check_filter(&filter, &q, msg, sizeof(msg)), ROOST_ETOOBIG);
	assert_msg_has(msg, "filter.where has 17 conditions; the limit is 16");
	assert_null(q);
	filter.n_where = 2;
	conds[1].has_min = 0;
	assert_int_equal(wire_check_filter(&filter, &q, msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "filter.where[1] tests nothing");
	conds[1].has_min = 1;
	conds[1].min = NAN;
	assert_int_equal(wire_check_filter(&filter, NULL, msg, sizeof(msg)), ROOST_EVALUE);
	assert_msg_has(msg, "filter.where[1].min is not finite");
	vals[1] = "cats";
	assert_int_equal(wire_check_filter(&filter, NULL, msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "filter.where[0].any_of[1]: is not a JSON scalar");
	/* The kind is checked first, and nothing is compiled. */
	filter.kind = "123456789012345678901234";
	assert_int_equal(wire_check_filter(&filter, &q, msg, sizeof(msg)), ROOST_ETOOBIG);
	assert_null(q);
}

static void test_timeout_ms(void **state)
{
	(void)state;
	assert_int_equal(wire_timeout_ms(0, 5000, 60000), 5000);
	assert_int_equal(wire_timeout_ms(0, 5000, 1000), 1000);
	assert_int_equal(wire_timeout_ms(1, 5000, 60000), 1);
	assert_int_equal(wire_timeout_ms(60000, 5000, 60000), 60000);
	assert_int_equal(wire_timeout_ms(60001, 5000, 60000), 60000);
	assert_int_equal(wire_timeout_ms(INT32_MAX, 5000, 60000), 60000);
	assert_int_equal(wire_timeout_ms(2147483648u, 5000, 60000), 60000);
	assert_int_equal(wire_timeout_ms(UINT32_MAX, 5000, 60000), 60000);
}

/* ---- collections ---- */

static void test_check_collection(void **state)
{
	char msg[MSG_LEN] = "";

	(void)state;
	/* Empty and absent mean "default". */
	assert_int_equal(wire_check_collection(NULL, msg, sizeof(msg)), 0);
	assert_int_equal(wire_check_collection("", msg, sizeof(msg)), 0);
	assert_int_equal(wire_check_collection("posts.v2", msg, sizeof(msg)), 0);
	assert_int_equal(wire_check_collection("-x", msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "collection name '-x' must start with a letter or a digit");
	assert_int_equal(wire_check_collection("a\nb", msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "a collection name may hold only");
}

/* A create with every setting given, each within its limits. */
struct create_fx {
	Roost__CreateCollectionRequest c;
	Roost__CollectionSettings s;
};

static void create_init(struct create_fx *f)
{
	roost__create_collection_request__init(&f->c);
	roost__collection_settings__init(&f->s);
	f->s.dim = 384;
	f->s.metric = ROOST__METRIC__METRIC_INNER_PRODUCT;
	f->s.index = "IVF64,PQ16";
	f->s.train_docs = 4096;
	f->s.seal_docs = 8192;
	f->s.seal_interval_ms = 2000;
	f->s.n_indexed_keys = 2;
	f->s.indexed_keys = (char **)create_keys;
	f->c.name = "posts";
	f->c.settings = &f->s;
	f->c.client_id = 42;
	f->c.seq = 3;
}

static void create_gives(const struct create_fx *f, int code, const char *want)
{
	char msg[MSG_LEN] = "";

	assert_int_equal(wire_check_create(&f->c, msg, sizeof(msg)), code);
	if (want != NULL)
		assert_msg_has(msg, want);
}

static void test_check_create_name_and_key(void **state)
{
	struct create_fx f;
	char long_name[COLL_NAME_MAX + 2];

	(void)state;
	create_init(&f);
	create_gives(&f, 0, NULL);
	f.c.name = "";
	create_gives(&f, ROOST_EINVAL, "a collection name is empty");
	f.c.name = "no spaces";
	create_gives(&f, ROOST_EINVAL, "collection name 'no spaces' may hold only");
	f.c.name = ".x";
	create_gives(&f, ROOST_EINVAL, "must start with a letter or a digit");
	f.c.name = "caf\xc3\xa9";
	create_gives(&f, ROOST_EINVAL, "a collection name may hold only");
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	f.c.name = long_name;
	create_gives(&f, ROOST_EINVAL, "is longer than 63 bytes");
	long_name[COLL_NAME_MAX] = '\0';
	create_gives(&f, 0, NULL);
	/* The name is checked first, then the key, then the settings. */
	f.c.name = "-x";
	f.c.client_id = 0;
	f.s.dim = 0;
	create_gives(&f, ROOST_EINVAL, "must start with a letter or a digit");
	f.c.name = "posts";
	create_gives(&f, ROOST_EINVAL, "missing idempotency key");
	f.c.client_id = 42;
	create_gives(&f, ROOST_EDIM, "settings.dim");
	f.s.dim = 384;
	f.c.seq = 0;
	create_gives(&f, ROOST_EINVAL, "(got client_id 42, seq 0)");
}

static void test_check_create_dim_metric_index(void **state)
{
	struct create_fx f;
	char index[COLL_INDEX_MAX + 2];

	(void)state;
	create_init(&f);
	/* Settings are required: the dimension has no default. */
	f.c.settings = NULL;
	create_gives(&f, ROOST_EDIM, "settings.dim must be 1 to 4096, not 0");
	f.c.settings = &f.s;
	f.s.dim = 0;
	create_gives(&f, ROOST_EDIM, "settings.dim must be 1 to 4096, not 0");
	f.s.dim = COLL_MAX_DIM + 1;
	create_gives(&f, ROOST_EDIM, "settings.dim must be 1 to 4096, not 4097");
	f.s.dim = UINT32_MAX;
	create_gives(&f, ROOST_EDIM, "not 4294967295");
	f.s.dim = 1;
	create_gives(&f, 0, NULL);
	f.s.dim = COLL_MAX_DIM;
	create_gives(&f, 0, NULL);
	f.s.metric = ROOST__METRIC__METRIC_L2;
	create_gives(&f, 0, NULL);
	f.s.metric = (Roost__Metric)2;
	create_gives(&f, ROOST_EINVAL, "settings.metric 2 is not known");
	f.s.metric = (Roost__Metric)-1;
	create_gives(&f, ROOST_EINVAL, "settings.metric -1 is not known");
	f.s.metric = ROOST__METRIC__METRIC_L2;
	/* The index: printable ASCII, at most COLL_INDEX_MAX bytes; "" or
	 * none takes the writer's. */
	f.s.index = NULL;
	create_gives(&f, 0, NULL);
	f.s.index = "";
	create_gives(&f, 0, NULL);
	memset(index, 'F', sizeof(index) - 1);
	index[sizeof(index) - 1] = '\0';
	f.s.index = index;
	create_gives(&f, ROOST_ETOOBIG, "settings.index is 64 bytes; the limit is 63");
	index[COLL_INDEX_MAX] = '\0';
	create_gives(&f, 0, NULL);
	f.s.index = "HNSW32\n";
	create_gives(&f, ROOST_EINVAL, "settings.index must be printable ASCII");
	f.s.index = "HNSW\xc3\xa9";
	create_gives(&f, ROOST_EINVAL, "settings.index must be printable ASCII");
	f.s.index = "IVF\x7f";
	create_gives(&f, ROOST_EINVAL, "settings.index must be printable ASCII");
}

static void test_check_create_seal_bounds(void **state)
{
	struct create_fx f;

	(void)state;
	create_init(&f);
	f.s.train_docs = 0;
	f.s.seal_docs = 0;
	create_gives(&f, 0, NULL);
	f.s.seal_docs = WIRE_MIN_SEAL_DOCS - 1;
	create_gives(&f, ROOST_EINVAL,
		     "settings.seal_docs must be 0 (the writer's) or 4096 to "
		     "16777216, not 4095");
	f.s.seal_docs = WIRE_MIN_SEAL_DOCS;
	create_gives(&f, 0, NULL);
	f.s.seal_docs = WIRE_MAX_SEAL_DOCS;
	create_gives(&f, 0, NULL);
	f.s.seal_docs = WIRE_MAX_SEAL_DOCS + 1ull;
	create_gives(&f, ROOST_EINVAL, "not 16777217");
	f.s.seal_docs = UINT64_MAX;
	create_gives(&f, ROOST_EINVAL, "not 18446744073709551615");
	/* The first tail gathers the training vectors, so they may
	 * outnumber a segment's rows. */
	f.s.seal_docs = 8192;
	f.s.train_docs = 65536;
	create_gives(&f, 0, NULL);
	f.s.seal_docs = 0;
	f.s.train_docs = WIRE_MAX_SEAL_DOCS;
	create_gives(&f, 0, NULL);
	f.s.train_docs = WIRE_MAX_SEAL_DOCS + 1ull;
	create_gives(&f, ROOST_EINVAL,
		     "settings.train_docs must be 0 (the writer's) or at most 16777216, not "
		     "16777217");
	f.s.train_docs = 0;
	f.s.seal_interval_ms = WIRE_MAX_SEAL_INTERVAL_MS;
	create_gives(&f, 0, NULL);
	f.s.seal_interval_ms = WIRE_MAX_SEAL_INTERVAL_MS + 1;
	create_gives(&f, ROOST_EINVAL, "settings.seal_interval_ms must be at most 86400000");
	f.s.seal_interval_ms = UINT32_MAX;
	create_gives(&f, ROOST_EINVAL, "seal_interval_ms");
}

/* Indexed keys: given one per entry, joined, and held to the list's rules. */
static void test_check_create_indexed_keys(void **state)
{
	struct create_fx f;
	const char *keys[COLL_KEYS_MAX + 1];
	char long_key[COLL_NAME_MAX + 2];

	(void)state;
	create_init(&f);
	f.s.indexed_keys = (char **)keys;
	static const struct {
		size_t n;
		const char *keys[10];
		int code;
		const char *want;
	} cases[] = {
	    {0, {NULL}, 0, NULL},
	    {1, {"user"}, 0, NULL},
	    {8, {"a", "b", "c", "d", "e", "f", "g", "h"}, 0, NULL},
	    {9, {"a", "b", "c", "d", "e", "f", "g", "h", "i"}, ROOST_EINVAL, "are more than 8"},
	    {2, {"a", "a"}, ROOST_EINVAL, "indexed keys name a key twice"},
	    {1, {"bad key"}, ROOST_EINVAL, "indexed keys must each be 1 to 63 letters"},
	    {1, {"_x"}, ROOST_EINVAL, "starting with a letter or digit"},
	    {2, {"user", ""}, ROOST_EINVAL, "settings.indexed_keys[1] is empty"},
	    {1, {""}, ROOST_EINVAL, "settings.indexed_keys[0] is empty"},
	    {1, {NULL}, ROOST_EINVAL, "settings.indexed_keys[0] is empty"},
	    {1, {"a,b"}, ROOST_EINVAL, "settings.indexed_keys[0] is not one key"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(keys, cases[i].keys, sizeof(cases[i].keys));
		f.s.n_indexed_keys = cases[i].n;
		create_gives(&f, cases[i].code, cases[i].want);
	}
	/* A key of 63 bytes is fine, of 64 not; the whole list at most 127. */
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	keys[0] = long_key;
	f.s.n_indexed_keys = 1;
	create_gives(&f, ROOST_EINVAL, "indexed keys must each be");
	long_key[COLL_NAME_MAX] = '\0';
	create_gives(&f, 0, NULL);
	keys[1] = long_key;
	keys[2] = "x";
	f.s.n_indexed_keys = 3;
	create_gives(&f, ROOST_EINVAL, "longer than 127 bytes");
	/* Far more entries than fit: cut short, refused the same way. */
	for (size_t i = 0; i < COLL_KEYS_MAX + 1; i++)
		keys[i] = "k";
	f.s.n_indexed_keys = COLL_KEYS_MAX + 1;
	create_gives(&f, ROOST_EINVAL, "longer than 127 bytes");
}

static void test_check_drop(void **state)
{
	Roost__DropCollectionRequest d = ROOST__DROP_COLLECTION_REQUEST__INIT;
	char msg[MSG_LEN] = "";

	(void)state;
	d.name = "posts";
	d.client_id = 1;
	d.seq = 1;
	assert_int_equal(wire_check_drop(&d, msg, sizeof(msg)), 0);
	d.name = "";
	assert_int_equal(wire_check_drop(&d, msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "a collection name is empty");
	d.name = "a/b";
	assert_int_equal(wire_check_drop(&d, msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "collection name 'a/b' may hold only");
	d.name = "posts";
	d.seq = 0;
	assert_int_equal(wire_check_drop(&d, msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "missing idempotency key");
	d.seq = 1;
	d.client_id = 0;
	assert_int_equal(wire_check_drop(&d, msg, sizeof(msg)), ROOST_EINVAL);
	assert_msg_has(msg, "(got client_id 0, seq 1)");
}

/* What a record of a checked request holds before its settings. */
static void assert_record_head(const struct collrec *rec, enum collrec_op op, uint64_t client_id,
			       uint64_t seq, uint32_t id, const char *name)
{
	assert_int_equal(rec->op, op);
	assert_int_equal(rec->client_id, client_id);
	assert_int_equal(rec->seq, seq);
	assert_int_equal(rec->id, id);
	assert_string_equal(rec->name, name);
}

/* The record as a broker writes it and the writer reads it back: the
 * same record. */
static void assert_record_round_trip(const struct collrec *rec)
{
	uint8_t buf[COLLREC_SIZE];
	struct collrec back;

	collrec_write(rec, buf);
	assert_int_equal(collrec_parse(buf, sizeof(buf), &back), 0);
	assert_record_head(&back, rec->op, rec->client_id, rec->seq, rec->id, rec->name);
	assert_true(coll_settings_equal(&back.settings, &rec->settings));
}

/* An alter checks what a create checks of the same fields; "" and 0
 * keep the collection's. */
static void alter_gives(const Roost__AlterCollectionRequest *a, int code, const char *want)
{
	char msg[MSG_LEN] = "";

	assert_int_equal(wire_check_alter(a, msg, sizeof(msg)), code);
	if (want != NULL)
		assert_msg_has(msg, want);
}

static Roost__AlterCollectionRequest alter_request(const char *name, const char *index,
						   uint64_t train_docs, uint64_t client_id,
						   uint64_t seq)
{
	Roost__AlterCollectionRequest a = ROOST__ALTER_COLLECTION_REQUEST__INIT;

	a.name = (char *)name;
	a.index = (char *)index;
	a.train_docs = train_docs;
	a.client_id = client_id;
	a.seq = seq;
	return a;
}

static void test_check_alter(void **state)
{
	Roost__AlterCollectionRequest a = alter_request("posts", "HNSW32", 20000, 1, 1);
	char index[COLL_INDEX_MAX + 2];

	(void)state;
	alter_gives(&a, 0, NULL);
	a.index = "";
	a.train_docs = 0;
	alter_gives(&a, 0, NULL);
	a.index = NULL;
	alter_gives(&a, 0, NULL);
	a.name = "";
	alter_gives(&a, ROOST_EINVAL, "a collection name is empty");
	a.name = "_x";
	alter_gives(&a, ROOST_EINVAL, "must start with a letter or a digit");
	a.name = "posts";
	a.seq = 0;
	alter_gives(&a, ROOST_EINVAL, "missing idempotency key");
	a.seq = 1;
	a.client_id = 0;
	alter_gives(&a, ROOST_EINVAL, "(got client_id 0, seq 1)");
	a.client_id = 1;
	a.index = "HNSW\t32";
	alter_gives(&a, ROOST_EINVAL, "index must be printable ASCII (a FAISS factory string");
	a.index = "IVF\x7f";
	alter_gives(&a, ROOST_EINVAL, "index must be printable ASCII");
	a.index = "caf\xc3\xa9";
	alter_gives(&a, ROOST_EINVAL, "index must be printable ASCII");
	memset(index, 'I', sizeof(index) - 1);
	index[sizeof(index) - 1] = '\0';
	a.index = index;
	alter_gives(&a, ROOST_ETOOBIG, "index is 64 bytes; the limit is 63");
	index[COLL_INDEX_MAX] = '\0';
	alter_gives(&a, 0, NULL);
	a.train_docs = WIRE_MAX_SEAL_DOCS;
	alter_gives(&a, 0, NULL);
	a.train_docs = WIRE_MAX_SEAL_DOCS + 1ull;
	alter_gives(&a, ROOST_EINVAL,
		    "train_docs must be 0 (keep the collection's) or at most 16777216, not "
		    "16777217");
	a.train_docs = UINT64_MAX;
	alter_gives(&a, ROOST_EINVAL, "not 18446744073709551615");
}

/* A checked alter becomes a record of its name, key, index and training
 * size for the id the broker found, which the writer's checks pass, and
 * nothing else a create would carry. */
static void test_alter_record(void **state)
{
	Roost__AlterCollectionRequest a = alter_request("posts.v2", "IVF256,Flat", 20000, 78, 4);
	struct collrec rec;
	char index[COLL_INDEX_MAX + 1];

	(void)state;
	memset(&rec, 0x5a, sizeof(rec));
	wire_alter_record(&a, 7, &rec);
	assert_record_head(&rec, COLLREC_ALTER, 78, 4, 7, "posts.v2");
	assert_string_equal(rec.settings.index, "IVF256,Flat");
	assert_int_equal(rec.settings.train_docs, 20000);
	assert_int_equal(rec.settings.dim, 0);
	assert_int_equal(rec.settings.metric, 0);
	assert_int_equal(rec.settings.seal_docs, 0);
	assert_int_equal(rec.settings.seal_interval_ms, 0);
	assert_string_equal(rec.settings.indexed_keys, "");
	assert_record_round_trip(&rec);
	/* Nothing given: keep both; and the longest index. */
	a.index = NULL;
	a.train_docs = 0;
	wire_alter_record(&a, 7, &rec);
	assert_string_equal(rec.settings.index, "");
	assert_int_equal(rec.settings.train_docs, 0);
	assert_record_round_trip(&rec);
	memset(index, 'I', COLL_INDEX_MAX);
	index[COLL_INDEX_MAX] = '\0';
	a.index = index;
	assert_int_equal(wire_check_alter(&a, NULL, 0), 0);
	wire_alter_record(&a, 7, &rec);
	assert_record_round_trip(&rec);
}

/* A checked create becomes the record the writer applies: every field
 * carried, and the record passes the writer's own checks. */
static void test_create_record(void **state)
{
	struct create_fx f;
	struct collrec rec;
	char index[COLL_INDEX_MAX + 1];

	(void)state;
	create_init(&f);
	memset(&rec, 0x5a, sizeof(rec));
	wire_create_record(&f.c, &rec);
	assert_record_head(&rec, COLLREC_CREATE, 42, 3, 0, "posts");
	assert_int_equal(rec.settings.dim, 384);
	assert_int_equal(rec.settings.metric, 1);
	assert_string_equal(rec.settings.index, "IVF64,PQ16");
	assert_int_equal(rec.settings.train_docs, 4096);
	assert_int_equal(rec.settings.seal_docs, 8192);
	assert_int_equal(rec.settings.seal_interval_ms, 2000);
	assert_string_equal(rec.settings.indexed_keys, "user,topic");
	assert_record_round_trip(&rec);
	/* No index nor indexed keys given, and the longest index. */
	f.s.index = NULL;
	f.s.n_indexed_keys = 0;
	wire_create_record(&f.c, &rec);
	assert_string_equal(rec.settings.index, "");
	assert_string_equal(rec.settings.indexed_keys, "");
	memset(index, 'I', COLL_INDEX_MAX);
	index[COLL_INDEX_MAX] = '\0';
	f.s.index = index;
	assert_int_equal(wire_check_create(&f.c, NULL, 0), 0);
	wire_create_record(&f.c, &rec);
	assert_string_equal(rec.settings.index, index);
	assert_record_round_trip(&rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_add),
	    cmocka_unit_test(test_decode_search_and_status),
	    cmocka_unit_test(test_batch_round_trip),
	    cmocka_unit_test(test_frame_to_batch),
	    cmocka_unit_test(test_truncated_frames),
	    cmocka_unit_test(test_garbage_frames),
	    cmocka_unit_test(test_mutated_frames),
	    cmocka_unit_test(test_mutated_collection_frames),
	    cmocka_unit_test(test_decode_rules),
	    cmocka_unit_test(test_decode_last_add_stands),
	    cmocka_unit_test(test_wrong_version),
	    cmocka_unit_test(test_no_operation),
	    cmocka_unit_test(test_empty_and_oversized),
	    cmocka_unit_test(test_decode_memory_budget),
	    cmocka_unit_test(test_decode_large_frame),
	    cmocka_unit_test(test_check_dimension),
	    cmocka_unit_test(test_check_values),
	    cmocka_unit_test(test_check_counts),
	    cmocka_unit_test(test_check_text),
	    cmocka_unit_test(test_check_kind),
	    cmocka_unit_test(test_check_ids_and_metadata),
	    cmocka_unit_test(test_check_key_and_ack),
	    cmocka_unit_test(test_check_ack_from_wire),
	    cmocka_unit_test(test_check_edge_cases),
	    cmocka_unit_test(test_encode_reply),
	    cmocka_unit_test(test_encode_error),
	    cmocka_unit_test(test_nul_in_strings),
	    cmocka_unit_test(test_two_operations),
	    cmocka_unit_test(test_alter_is_an_operation),
	    cmocka_unit_test(test_check_filter),
	    cmocka_unit_test(test_check_filter_where),
	    cmocka_unit_test(test_mutated_search_frames),
	    cmocka_unit_test(test_timeout_ms),
	    cmocka_unit_test(test_check_collection),
	    cmocka_unit_test(test_check_create_name_and_key),
	    cmocka_unit_test(test_check_create_dim_metric_index),
	    cmocka_unit_test(test_check_create_seal_bounds),
	    cmocka_unit_test(test_check_create_indexed_keys),
	    cmocka_unit_test(test_check_drop),
	    cmocka_unit_test(test_check_alter),
	    cmocka_unit_test(test_alter_record),
	    cmocka_unit_test(test_create_record),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
