/* Unit tests for proto/wire.c: request decoding and its rejections, add
 * validation, the batch record it writes, and reply encoding. */
#include "wire.h"

#include "batch.h"
#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
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
	wire_batch_write(add, buf);
	assert_int_equal(batch_parse(buf, *len, add->dim, v), 0);
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
	assert_int_equal(l1, batch_size(3, 3, (uint32_t)(5 + 0 + 15)));
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

static int decode_error_ok(int rc)
{
	return rc == ROOST_EPROTO || rc == ROOST_EVERSION || rc == ROOST_EUNSUPPORTED ||
	       rc == ROOST_ETOOBIG || rc == ROOST_EINVAL;
}

/* Whatever a damaged frame decodes to, checking it must be safe, and a
 * request that passes the check must make a valid batch. */
static int decode_and_use(const uint8_t *frame, size_t len)
{
	char msg[MSG_LEN] = "";
	Roost__Request *req = NULL;
	int rc = wire_decode_request(frame, len, 0, &req, msg, sizeof(msg));

	if (rc != 0) {
		if (!decode_error_ok(rc))
			fail_msg("decode of %zu bytes gave %d", len, rc);
		assert_null(req);
		assert_true(msg[0] != '\0');
		return rc;
	}
	if (req->op_case == ROOST__REQUEST__OP_ADD &&
	    wire_check_add(req->add, &lim, msg, sizeof(msg)) == 0) {
		struct batch_view v;
		size_t rlen;
		unsigned char *rec = write_batch(req->add, 0, &rlen, &v);

		assert_batch_matches(req->add, &v);
		free(rec);
	}
	wire_request_free(req);
	return 0;
}

static void test_truncated_frames(void **state)
{
	int eproto = 0;
	struct fx f;
	uint8_t *buf;
	size_t len, l;

	(void)state;
	fx_init(&f, 5, 4);
	buf = pack_request(&f.req, &len);
	for (l = 0; l < len; l++) {
		/* Exactly l bytes, so an over-read shows under AddressSanitizer. */
		uint8_t *p = malloc(l > 0 ? l : 1);

		assert_non_null(p);
		memcpy(p, buf, l);
		eproto += decode_and_use(p, l) == ROOST_EPROTO;
		free(p);
	}
	assert_int_equal(decode_and_use(buf, len), 0);
	assert_true(eproto > (int)len / 2);
	free(buf);
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
	uint64_t seed = 12345;
	int eproto = 0, runs = 0;
	size_t s;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int round;

		for (round = 0; round < 200; round++) {
			uint8_t *p = malloc(sizes[s]);
			size_t i;

			assert_non_null(p);
			for (i = 0; i < sizes[s]; i++)
				p[i] = (uint8_t)xorshift(&seed);
			eproto += decode_and_use(p, sizes[s]) == ROOST_EPROTO;
			runs++;
			free(p);
		}
	}
	assert_true(eproto > runs / 2);
}

/* Valid frames with random bytes flipped reach deeper than pure garbage. */
static void test_mutated_frames(void **state)
{
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
		decode_and_use(p, len);
		free(p);
	}
	free(buf);
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
	/* version 1, then field 9 (length-delimited, empty): an op from the
	 * future, kept by protobuf-c as an unknown field. */
	static const uint8_t future[] = {0x08, 0x01, 0x4A, 0x00};
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

static void test_check_filter(void **state)
{
	Roost__Filter filter = ROOST__FILTER__INIT;
	char msg[MSG_LEN] = "";

	(void)state;
	assert_int_equal(wire_check_filter(NULL, msg, sizeof(msg)), 0);
	assert_int_equal(wire_check_filter(&filter, msg, sizeof(msg)), 0);
	filter.kind = "12345678901234567890123";
	assert_int_equal(wire_check_filter(&filter, msg, sizeof(msg)), 0);
	filter.kind = "123456789012345678901234";
	assert_int_equal(wire_check_filter(&filter, msg, sizeof(msg)), ROOST_ETOOBIG);
	assert_msg_has(msg, "filter.kind is 24 bytes; a kind is at most 23 bytes");
	filter.kind = "tw\xC0\x80t";
	assert_int_equal(wire_check_filter(&filter, msg, sizeof(msg)), ROOST_EUTF8);
	assert_msg_has(msg, "filter.kind is not valid UTF-8");
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
	    cmocka_unit_test(test_check_key_and_ack),
	    cmocka_unit_test(test_check_ack_from_wire),
	    cmocka_unit_test(test_check_edge_cases),
	    cmocka_unit_test(test_encode_reply),
	    cmocka_unit_test(test_encode_error),
	    cmocka_unit_test(test_nul_in_strings),
	    cmocka_unit_test(test_two_operations),
	    cmocka_unit_test(test_check_filter),
	    cmocka_unit_test(test_timeout_ms),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
