/* Unit tests for the JSON form of requests and replies (proto/json.c,
 * jsonenc.c, jsonsrv.c): every class of malformed input, the limits,
 * jsonsrv_serve() and the JSON-lines document parser. */
#include "json.h"
#include "jsonenc.h"
#include "jsonlex.h"
#include "jsonsrv.h"

#include "batch.h"
#include "err.h"
#include "wire.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_LEN 512

static Roost__Request *decode_ok(const char *s)
{
	char msg[MSG_LEN] = "";
	Roost__Request *req = NULL;
	int rc = json_decode_request(s, strlen(s), 0, &req, msg, sizeof msg);

	if (rc != 0)
		fail_msg("decoding %s failed with %d: %s", s, rc, msg);
	assert_non_null(req);
	return req;
}

/* Decoding s fails with code and a message that mentions want. */
static void decode_bad_len(const char *s, size_t len, size_t max_frame, int code, const char *want)
{
	char msg[MSG_LEN] = "";
	Roost__Request *req = (Roost__Request *)&req;
	int rc = json_decode_request(s, len, max_frame, &req, msg, sizeof msg);

	if (rc != code || strstr(msg, want) == NULL || strstr(msg, "at byte") == NULL)
		fail_msg("%.200s: got %d \"%s\", want %d with \"%s\"", s, rc, msg, code, want);
	assert_null(req);
}

static void decode_bad(const char *s, int code, const char *want)
{
	decode_bad_len(s, strlen(s), 0, code, want);
}

static uint8_t *pack(const Roost__Request *req, size_t *len)
{
	uint8_t *buf;

	*len = roost__request__get_packed_size(req);
	buf = malloc(*len > 0 ? *len : 1);
	assert_non_null(buf);
	assert_int_equal(roost__request__pack(req, buf), *len);
	return buf;
}

static char *encode_request(const Roost__Request *req)
{
	char *s = NULL;
	size_t n = 0;

	assert_int_equal(jsonenc_request(req, &s, &n), 0);
	assert_int_equal(strlen(s), n);
	return s;
}

static char *encode_reply(const Roost__Reply *r)
{
	char *s = NULL;
	size_t n = 0;

	assert_int_equal(jsonenc_reply(r, &s, &n), 0);
	assert_int_equal(strlen(s), n);
	return s;
}

/* A text of n copies of unit between head and tail. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), i;
	char *s = malloc(hl + ul * n + tl + 1);

	assert_non_null(s);
	memcpy(s, head, hl);
	for (i = 0; i < n; i++)
		memcpy(s + hl + i * ul, unit, ul);
	memcpy(s + hl + n * ul, tail, tl + 1);
	return s;
}

/* ------------------------------------------------------------------ */

static void test_decode_add(void **state)
{
	(void)state;
	Roost__Request *req = decode_ok(
	    " {\"version\":1,\"add\":{\"dim\":3,\"docs\":[{\"vector\":[0.1,-2,3e2],"
	    "\"agent\":-9223372036854775808,\"time\":9223372036854775807,\"kind\":\"tweet\","
	    "\"text\":\"a\\\"b\\\\c\\/\\n\\t\\u00e9\\ud83d\\ude00 \xe2\x82\xac\"},"
	    "{\"vector\":[1,2,3]}],\"client_id\":18446744073709551615,\"seq\":7,"
	    "\"ack\":\"visible\",\"timeout_ms\":4294967295}}\r\n");
	const Roost__AddRequest *a = req->add;

	assert_int_equal(req->version, 1);
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_ADD);
	assert_int_equal(a->dim, 3);
	assert_int_equal(a->n_docs, 2);
	assert_int_equal(a->docs[0]->n_vector, 3);
	/* Rounded once, straight to float32. */
	assert_true(a->docs[0]->vector[0] == 0.1f);
	assert_true(a->docs[0]->vector[1] == -2.0f);
	assert_true(a->docs[0]->vector[2] == 300.0f);
	assert_true(a->docs[0]->agent == INT64_MIN);
	assert_true(a->docs[0]->time == INT64_MAX);
	assert_string_equal(a->docs[0]->kind, "tweet");
	assert_string_equal(a->docs[0]->text, "a\"b\\c/\n\t\xc3\xa9\xf0\x9f\x98\x80 \xe2\x82\xac");
	assert_string_equal(a->docs[1]->kind, "");
	assert_int_equal(a->docs[1]->agent, 0);
	assert_true(a->client_id == UINT64_MAX);
	assert_int_equal(a->seq, 7);
	assert_int_equal(a->ack, ROOST__ACK_MODE__ACK_VISIBLE);
	assert_true(a->timeout_ms == UINT32_MAX);
	json_request_free(req);
}

static void test_decode_search_and_status(void **state)
{
	(void)state;
	Roost__Request *req = decode_ok(
	    "{\"search\":{\"queries\":[[1,2],[3,4],[5,6]],\"dim\":2,\"k\":10,"
	    "\"filter\":{\"agents\":[1,-2],\"time_min\":5,\"kind\":\"news\"},\"min_lsn\":99,"
	    "\"nprobe\":8,\"ef_search\":65536},\"version\":1}");
	const Roost__SearchRequest *s = req->search;

	assert_int_equal(req->op_case, ROOST__REQUEST__OP_SEARCH);
	assert_int_equal(s->n_queries, 6);
	assert_true(s->queries[5] == 6.0f);
	assert_int_equal(s->k, 10);
	assert_int_equal(s->min_lsn, 99);
	assert_int_equal(s->nprobe, 8);
	assert_int_equal(s->ef_search, 65536);
	assert_int_equal(s->filter->n_agents, 2);
	assert_true(s->filter->agents[1] == -2);
	/* One bound turns the range on, open on the other side. */
	assert_true(s->filter->has_time_range);
	assert_true(s->filter->time_min == 5);
	assert_true(s->filter->time_max == INT64_MAX);
	assert_string_equal(s->filter->kind, "news");
	json_request_free(req);

	req = decode_ok("{\"version\":1,\"search\":{\"dim\":1,\"queries\":[[1]],\"k\":1,"
			"\"filter\":{\"has_time_range\":false,\"time_max\":3}}}");
	assert_false(req->search->filter->has_time_range);
	json_request_free(req);

	req = decode_ok("\t{ \"version\" : 1 , \"status\" : { } }\n");
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_STATUS);
	assert_non_null(req->status);
	json_request_free(req);
}

/* Add, search and status name their collection. */
static void test_decode_collection_fields(void **state)
{
	(void)state;
	Roost__Request *req =
	    decode_ok("{\"version\":1,\"add\":{\"collection\":\"posts\",\"dim\":1,"
		      "\"docs\":[{\"vector\":[1]}],\"client_id\":1,\"seq\":1}}");
	assert_string_equal(req->add->collection, "posts");
	json_request_free(req);

	req = decode_ok("{\"version\":1,\"search\":{\"dim\":1,\"queries\":[[1]],\"k\":1,"
			"\"collection\":\"a.b-c_9\"}}");
	assert_string_equal(req->search->collection, "a.b-c_9");
	json_request_free(req);

	req = decode_ok("{\"version\":1,\"status\":{\"collection\":\"posts\"}}");
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_STATUS);
	assert_string_equal(req->status->collection, "posts");
	json_request_free(req);

	/* Left out, it is "": the server's "default". */
	req = decode_ok("{\"version\":1,\"status\":{}}");
	assert_string_equal(req->status->collection, "");
	json_request_free(req);
}

static void test_decode_create_collection(void **state)
{
	(void)state;
	Roost__Request *req = decode_ok(
	    "{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"settings\":{\"dim\":4096,"
	    "\"metric\":\"ip\",\"index\":\"IVF64,Flat\",\"train_docs\":18446744073709551615,"
	    "\"seal_docs\":65536,\"seal_interval_ms\":4294967295,\"indexed_keys\":[\"user\","
	    "\"topic\"]},\"client_id\":18446744073709551615,\"seq\":2,\"timeout_ms\":7}}");
	const Roost__CreateCollectionRequest *c = req->create_collection;

	assert_int_equal(req->op_case, ROOST__REQUEST__OP_CREATE_COLLECTION);
	assert_string_equal(c->name, "posts");
	assert_int_equal(c->settings->dim, 4096);
	assert_int_equal(c->settings->metric, ROOST__METRIC__METRIC_INNER_PRODUCT);
	assert_string_equal(c->settings->index, "IVF64,Flat");
	assert_true(c->settings->train_docs == UINT64_MAX);
	assert_int_equal(c->settings->seal_docs, 65536);
	assert_true(c->settings->seal_interval_ms == UINT32_MAX);
	assert_int_equal(c->settings->n_indexed_keys, 2);
	assert_string_equal(c->settings->indexed_keys[0], "user");
	assert_string_equal(c->settings->indexed_keys[1], "topic");
	assert_true(c->client_id == UINT64_MAX);
	assert_int_equal(c->seq, 2);
	assert_int_equal(c->timeout_ms, 7);
	json_request_free(req);

	req = decode_ok("{\"version\":1,\"create_collection\":{\"settings\":{\"metric\":\"l2\"}}}");
	assert_int_equal(req->create_collection->settings->metric, ROOST__METRIC__METRIC_L2);
	assert_int_equal(req->create_collection->settings->dim, 0);
	assert_string_equal(req->create_collection->settings->index, "");
	assert_int_equal(req->create_collection->settings->n_indexed_keys, 0);
	json_request_free(req);

	/* Left out, the settings are absent, not all defaults. */
	req = decode_ok("{\"version\":1,\"create_collection\":{\"name\":\"x\"}}");
	assert_null(req->create_collection->settings);
	json_request_free(req);
}

static void test_decode_drop_alter_and_list(void **state)
{
	(void)state;
	Roost__Request *req =
	    decode_ok("{\"version\":1,\"drop_collection\":{\"timeout_ms\":5,\"seq\":9,"
		      "\"client_id\":3,\"name\":\"posts\"}}");
	const Roost__DropCollectionRequest *d = req->drop_collection;

	assert_int_equal(req->op_case, ROOST__REQUEST__OP_DROP_COLLECTION);
	assert_string_equal(d->name, "posts");
	assert_int_equal(d->client_id, 3);
	assert_int_equal(d->seq, 9);
	assert_int_equal(d->timeout_ms, 5);
	json_request_free(req);

	req =
	    decode_ok("{\"version\":1,\"alter_collection\":{\"train_docs\":20000,\"seq\":4,"
		      "\"index\":\"HNSW32\",\"timeout_ms\":6,\"client_id\":3,\"name\":\"posts\"}}");
	const Roost__AlterCollectionRequest *a = req->alter_collection;
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_ALTER_COLLECTION);
	assert_string_equal(a->name, "posts");
	assert_string_equal(a->index, "HNSW32");
	assert_int_equal(a->train_docs, 20000);
	assert_int_equal(a->client_id, 3);
	assert_int_equal(a->seq, 4);
	assert_int_equal(a->timeout_ms, 6);
	json_request_free(req);

	/* Left out, the index keeps the collection's: "". */
	req = decode_ok("{\"version\":1,\"alter_collection\":{\"name\":\"posts\"}}");
	assert_string_equal(req->alter_collection->index, "");
	assert_int_equal(req->alter_collection->train_docs, 0);
	json_request_free(req);

	req = decode_ok(" {\"list_collections\" : { } , \"version\":1}");
	assert_int_equal(req->op_case, ROOST__REQUEST__OP_LIST_COLLECTIONS);
	assert_non_null(req->list_collections);
	json_request_free(req);
}

/* What JSON cannot check, a name and a key, the server's checks refuse,
 * as for binary requests (here, the very checks brokers run). */
static void test_collection_ops_checked_by_server(void **state)
{
	static const struct {
		const char *text;
		int code;
		const char *want;
	} cases[] = {
	    {"{\"version\":1,\"create_collection\":{\"settings\":{\"dim\":3},\"client_id\":1,"
	     "\"seq\":1}}",
	     ROOST_EINVAL, "a collection name is empty"},
	    {"{\"version\":1,\"create_collection\":{\"name\":\"_x\",\"settings\":{\"dim\":3},"
	     "\"client_id\":1,\"seq\":1}}",
	     ROOST_EINVAL, "must start with a letter or a digit"},
	    {"{\"version\":1,\"create_collection\":{\"name\":\"x\",\"settings\":{\"dim\":3}}}",
	     ROOST_EINVAL, "missing idempotency key"},
	    {"{\"version\":1,\"create_collection\":{\"name\":\"x\",\"client_id\":1,\"seq\":1}}",
	     ROOST_EDIM, "settings.dim must be 1 to 4096, not 0"},
	    {"{\"version\":1,\"create_collection\":{\"name\":\"x\",\"settings\":{\"dim\":3,"
	     "\"seal_docs\":1},\"client_id\":1,\"seq\":1}}",
	     ROOST_EINVAL, "settings.seal_docs"},
	    {"{\"version\":1,\"drop_collection\":{\"client_id\":1,\"seq\":1}}", ROOST_EINVAL,
	     "a collection name is empty"},
	    {"{\"version\":1,\"drop_collection\":{\"name\":\"x\",\"seq\":1}}", ROOST_EINVAL,
	     "missing idempotency key"},
	    {"{\"version\":1,\"alter_collection\":{\"index\":\"HNSW32\",\"client_id\":1,"
	     "\"seq\":1}}",
	     ROOST_EINVAL, "a collection name is empty"},
	    {"{\"version\":1,\"alter_collection\":{\"name\":\"x\",\"client_id\":1}}", ROOST_EINVAL,
	     "missing idempotency key"},
	    {"{\"version\":1,\"alter_collection\":{\"name\":\"x\",\"index\":\"HNSW\\t32\","
	     "\"client_id\":1,\"seq\":1}}",
	     ROOST_EINVAL, "index must be printable ASCII"},
	    {"{\"version\":1,\"alter_collection\":{\"name\":\"x\",\"train_docs\":16777217,"
	     "\"client_id\":1,\"seq\":1}}",
	     ROOST_EINVAL, "train_docs must be 0 (keep the collection's) or at most 16777216"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		Roost__Request *req = decode_ok(cases[i].text);
		char msg[MSG_LEN] = "";
		int rc = req->op_case == ROOST__REQUEST__OP_CREATE_COLLECTION
			     ? wire_check_create(req->create_collection, msg, sizeof msg)
			 : req->op_case == ROOST__REQUEST__OP_DROP_COLLECTION
			     ? wire_check_drop(req->drop_collection, msg, sizeof msg)
			     : wire_check_alter(req->alter_collection, msg, sizeof msg);

		if (rc != cases[i].code || strstr(msg, cases[i].want) == NULL)
			fail_msg("%s: got %d \"%s\", want %d with \"%s\"", cases[i].text, rc, msg,
				 cases[i].code, cases[i].want);
		json_request_free(req);
	}
	/* A well-formed one passes. */
	Roost__Request *req = decode_ok("{\"version\":1,\"create_collection\":{\"name\":\"x\","
					"\"settings\":{\"dim\":3},\"client_id\":1,\"seq\":1}}");
	assert_int_equal(wire_check_create(req->create_collection, NULL, 0), 0);
	json_request_free(req);
}

/* A decoded request re-encodes to JSON that decodes to the same bytes. */
static void assert_round_trip(const Roost__Request *req)
{
	size_t len, len2;
	uint8_t *bin = pack(req, &len), *bin2;
	char *text = encode_request(req);
	Roost__Request *again = decode_ok(text);
	Roost__Request *wire = NULL;

	bin2 = pack(again, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(bin, bin2, len);
	/* And the binary path takes what the JSON path took. */
	assert_int_equal(wire_decode_request(bin2, len2, 0, &wire, NULL, 0), 0);
	wire_request_free(wire);
	json_request_free(again);
	free(text);
	free(bin);
	free(bin2);
}

static void test_round_trip(void **state)
{
	static const char *const texts[] = {
	    "{\"version\":1,\"add\":{\"dim\":2,\"docs\":[{\"vector\":[0.1,1e-45],\"agent\":7,"
	    "\"time\":-1,\"kind\":\"k\",\"text\":\"\\u0001\\u001f\\\"\\\\ \xf4\x8f\xbf\xbf\"},"
	    "{\"vector\":[-0,3.4028235e38]}],\"client_id\":1,\"seq\":18446744073709551615,"
	    "\"ack\":\"queued\",\"timeout_ms\":5}}",
	    "{\"version\":1,\"search\":{\"dim\":3,\"queries\":[[1,2,3],[-1.5,0,2e-7]],\"k\":1024,"
	    "\"filter\":{\"agents\":[-9223372036854775808,9223372036854775807],\"time_min\":-3,"
	    "\"time_max\":4,\"kind\":\"tweet\"},\"min_lsn\":18446744073709551615,"
	    "\"timeout_ms\":1,\"nprobe\":4294967295,\"ef_search\":1,\"as_of_lsn\":17}}",
	    "{\"version\":1,\"search\":{\"dim\":0,\"queries\":[],\"k\":0}}",
	    "{\"version\":1,\"search\":{\"dim\":1,\"queries\":[[1]],\"k\":1,\"filter\":{"
	    "\"where\":[{\"key\":\"topic\",\"any_of\":[\"cats\",\"d\\u00e9\\n\", 5, -0.5e3, "
	    "18446744073709551617,true,false,null]},{\"key\":\"n\",\"min\":0.1,\"max\":"
	    "1.7976931348623157e308,\"max_exclusive\":true},{\"key\":\"\\u00e9\",\"has_min\":"
	    "false,\"min\":-3,\"min_exclusive\":true,\"any_of\":[1e-300]},{\"key\":\"z\","
	    "\"max\":-0}]}}}",
	    "{\"version\":1,\"search\":{\"dim\":1,\"queries\":[[1]],\"k\":1,\"filter\":{"
	    "\"where\":[{}]}}}",
	    "{\"version\":1,\"status\":{}}",
	    "{\"version\":1,\"add\":{}}",
	    "{\"version\":1,\"add\":{\"dim\":1,\"docs\":[{\"vector\":[1]}],\"client_id\":1,"
	    "\"seq\":1,\"collection\":\"posts\"}}",
	    "{\"version\":1,\"add\":{\"dim\":1,\"docs\":[{\"vector\":[1],\"id\":\"p\u00e9-1\","
	    "\"metadata\":{ \"user\" : \"bob\", \"n\":[1,2.5e3,{\"x\":null}]}}],\"client_id\":1,"
	    "\"seq\":1}}",
	    "{\"version\":1,\"search\":{\"dim\":1,\"queries\":[[1]],\"k\":1,"
	    "\"collection\":\"p\\u00e9\"}}",
	    "{\"version\":1,\"status\":{\"collection\":\"posts\"}}",
	    "{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"settings\":{\"dim\":8,"
	    "\"metric\":\"ip\",\"index\":\"HNSW32\",\"train_docs\":18446744073709551615,"
	    "\"seal_docs\":4096,\"seal_interval_ms\":4294967295},\"client_id\":1,\"seq\":2,"
	    "\"timeout_ms\":3}}",
	    "{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"settings\":{\"dim\":8,"
	    "\"indexed_keys\":[\"user\",\"p\\u00e9\",\"\"]},\"client_id\":1,\"seq\":2}}",
	    "{\"version\":1,\"create_collection\":{\"name\":\"x\",\"settings\":{}}}",
	    "{\"version\":1,\"create_collection\":{\"name\":\"x\"}}",
	    "{\"version\":1,\"create_collection\":{}}",
	    "{\"version\":1,\"drop_collection\":{\"name\":\"posts\",\"client_id\":"
	    "18446744073709551615,\"seq\":3,\"timeout_ms\":4294967295}}",
	    "{\"version\":1,\"drop_collection\":{}}",
	    "{\"version\":1,\"alter_collection\":{\"name\":\"posts\",\"index\":\"IVF64,Flat\","
	    "\"train_docs\":18446744073709551615,\"client_id\":1,\"seq\":5,"
	    "\"timeout_ms\":4294967295}}",
	    "{\"version\":1,\"alter_collection\":{}}",
	    "{\"version\":1,\"list_collections\":{}}",
	    "{\"version\":1,\"delete_docs\":{\"collection\":\"posts\",\"ids\":[\"post-1\",\"#16\","
	    "\"p\\u00e9\"],\"ack\":\"visible\",\"client_id\":7,\"seq\":18446744073709551615,"
	    "\"timeout_ms\":9}}",
	    "{\"version\":1,\"delete_docs\":{}}",
	    "{\"version\":1,\"delete_docs\":{\"collection\":\"posts\",\"ids\":[],\"ack\":"
	    "\"durable\","
	    "\"filter\":{\"agents\":[3],\"kind\":\"tweet\"},\"client_id\":1,\"seq\":2}}",
	    "{\"version\":1,\"get_docs\":{\"collection\":\"posts\",\"ids\":[\"post-1\",\"#16\"],"
	    "\"with_vectors\":true,\"min_lsn\":18446744073709551615,\"timeout_ms\":3,"
	    "\"as_of_lsn\":18446744073709551615}}",
	    "{\"version\":1,\"get_docs\":{}}",
	    "{\"version\":1,\"scroll\":{\"collection\":\"posts\",\"filter\":{\"agents\":[7],"
	    "\"kind\":\"tweet\"},\"limit\":50,\"cursor\":\"300-17\",\"with_vectors\":true,"
	    "\"min_lsn\":9,\"timeout_ms\":2,\"as_of_lsn\":4096}}",
	    "{\"version\":1,\"scroll\":{}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof texts / sizeof *texts; i++) {
		Roost__Request *req = decode_ok(texts[i]);

		assert_round_trip(req);
		json_request_free(req);
	}
}

static void test_encode_request_exact(void **state)
{
	Roost__Request *req = decode_ok("{\"version\":1,\"search\":{\"dim\":2,\"queries\":[[0.1,"
					"-2]],\"k\":3,\"filter\":{\"agents\":[5]}}}");
	char *text = encode_request(req);

	(void)state;
	assert_string_equal(text, "{\"version\":1,\"search\":{\"dim\":2,\"queries\":[[0.1,-2]],"
				  "\"k\":3,\"filter\":{\"agents\":[5],\"has_time_range\":false,"
				  "\"time_min\":0,\"time_max\":0,\"kind\":\"\"},\"min_lsn\":0,"
				  "\"timeout_ms\":0,\"nprobe\":0,\"ef_search\":0,"
				  "\"collection\":\"\",\"as_of_lsn\":0}}");
	free(text);
	/* Not a whole number of vectors: nothing sensible to write. */
	req->search->dim = 3;
	assert_int_equal(jsonenc_request(req, &text, &(size_t){0}), ROOST_EINVAL);
	json_request_free(req);
}

static void test_encode_collection_requests(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"{\"version\":1,\"create_collection\":{\"seq\":2,\"name\":\"posts\",\"client_id\":1,"
	     "\"settings\":{\"dim\":3,\"metric\":\"ip\"}}}",
	     "{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"settings\":{\"dim\":3,"
	     "\"metric\":\"ip\",\"index\":\"\",\"train_docs\":0,\"seal_docs\":0,"
	     "\"seal_interval_ms\":0,\"indexed_keys\":[]},\"client_id\":1,\"seq\":2,"
	     "\"timeout_ms\":0}}"},
	    {"{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"settings\":{\"dim\":3,"
	     "\"indexed_keys\":[\"user\",\"topic\"]}}}",
	     "{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"settings\":{\"dim\":3,"
	     "\"metric\":\"l2\",\"index\":\"\",\"train_docs\":0,\"seal_docs\":0,"
	     "\"seal_interval_ms\":0,\"indexed_keys\":[\"user\",\"topic\"]},\"client_id\":0,"
	     "\"seq\":0,\"timeout_ms\":0}}"},
	    {"{\"version\":1,\"create_collection\":{\"name\":\"posts\"}}",
	     "{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"client_id\":0,"
	     "\"seq\":0,\"timeout_ms\":0}}"},
	    {"{\"version\":1,\"drop_collection\":{\"name\":\"posts\",\"seq\":3}}",
	     "{\"version\":1,\"drop_collection\":{\"name\":\"posts\",\"client_id\":0,\"seq\":3,"
	     "\"timeout_ms\":0}}"},
	    {"{\"version\":1,\"alter_collection\":{\"name\":\"posts\",\"seq\":4}}",
	     "{\"version\":1,\"alter_collection\":{\"name\":\"posts\",\"index\":\"\","
	     "\"train_docs\":0,\"client_id\":0,\"seq\":4,\"timeout_ms\":0}}"},
	    {"{\"version\":1,\"list_collections\":{}}", "{\"version\":1,\"list_collections\":{}}"},
	    {"{\"version\":1,\"status\":{}}", "{\"version\":1,\"status\":{\"collection\":\"\"}}"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		Roost__Request *req = decode_ok(cases[i].in);
		char *text = encode_request(req);

		assert_string_equal(text, cases[i].out);
		free(text);
		json_request_free(req);
	}
	/* A metric JSON has no name for would not decode again. */
	Roost__Request *req = decode_ok("{\"version\":1,\"create_collection\":{\"settings\":{}}}");
	char *text = NULL;
	req->create_collection->settings->metric = (Roost__Metric)2;
	assert_int_equal(jsonenc_request(req, &text, &(size_t){0}), ROOST_EINVAL);
	assert_null(text);
	json_request_free(req);
}

/* ------------------------------------------------------------------ */
/* Malformed input, class by class.                                    */

static void test_reject_syntax(void **state)
{
	static const char nul_after[] = "{\"version\":1,\"status\":{}}\0";

	(void)state;
	decode_bad("", ROOST_EPROTO, "end of input");
	decode_bad("  \n", ROOST_EPROTO, "end of input");
	decode_bad("{", ROOST_EPROTO, "end of input");
	decode_bad("{\"version\":1,\"status\":{}", ROOST_EPROTO, "end of input");
	decode_bad("{\"version\":1,\"status\":{}}x", ROOST_EPROTO, "after the top-level");
	decode_bad("{\"version\":1,\"status\":{}} {}", ROOST_EPROTO, "after the top-level");
	decode_bad("{\"version\":1,,\"status\":{}}", ROOST_EPROTO, "field name");
	decode_bad("{\"version\":1 \"status\":{}}", ROOST_EPROTO, "',' or '}'");
	decode_bad("{\"version\":1,\"status\":{},}", ROOST_EPROTO, "field name");
	decode_bad("{'version':1}", ROOST_EPROTO, "field name");
	decode_bad("{\"version\" 1}", ROOST_EPROTO, "':'");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[1,2,]]}}", ROOST_EPROTO,
		   "expected a number");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[1 2]]}}", ROOST_EPROTO, "',' or ']'");
	decode_bad("{\"version\":tru,\"status\":{}}", ROOST_EINVAL, "found a boolean");
	decode_bad("{1:2}", ROOST_EPROTO, "expected a field name, found a number");
	decode_bad("\x08\x01\x22", ROOST_EPROTO, "byte 0x08");
	/* A NUL is not whitespace and ends nothing. */
	decode_bad_len(nul_after, sizeof nul_after - 1, 0, ROOST_EPROTO, "after the top");
}

static void test_reject_schema(void **state)
{
	(void)state;
	decode_bad("[]", ROOST_EINVAL, "expected an object, found an array");
	decode_bad("{\"version\":1,\"delete\":{}}", ROOST_EUNSUPPORTED, "delete: unknown field");
	decode_bad("{\"version\":1}", ROOST_EUNSUPPORTED,
		   "no operation: a request sets one of add, search, status, create_collection, "
		   "drop_collection, alter_collection, list_collections, delete_docs, get_docs, "
		   "scroll or fork_collection");
	decode_bad("{\"version\":2,\"status\":{}}", ROOST_EVERSION, "version 2");
	decode_bad("{\"status\":{}}", ROOST_EVERSION, "version 0");
	decode_bad("{\"version\":1,\"status\":{},\"search\":{}}", ROOST_EINVAL, "exactly one");
	decode_bad("{\"version\":1,\"version\":1,\"status\":{}}", ROOST_EINVAL, "duplicate");
	decode_bad("{\"version\":1,\"add\":{\"dims\":3}}", ROOST_EINVAL,
		   "add.dims: unknown field (add takes dim, docs");
	decode_bad("{\"version\":1,\"status\":{\"x\":1}}", ROOST_EINVAL,
		   "status.x: unknown field (status takes collection)");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"vector\":[1],\"score\":3}]}}",
		   ROOST_EINVAL, "add.docs[0].score: unknown field");
	decode_bad("{\"version\":\"1\",\"status\":{}}", ROOST_EINVAL,
		   "expected a number, found a string");
	decode_bad("{\"version\":null,\"status\":{}}", ROOST_EINVAL, "found null");
	decode_bad("{\"version\":1,\"status\":[]}", ROOST_EINVAL, "found an array");
	decode_bad("{\"version\":1,\"add\":{\"docs\":{}}}", ROOST_EINVAL, "expected an array");
	decode_bad("{\"version\":1,\"add\":{\"ack\":2}}", ROOST_EINVAL, "expected a string");
	decode_bad("{\"version\":1,\"add\":{\"ack\":\"fast\"}}", ROOST_EUNSUPPORTED, "ack mode");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[1,2]}}", ROOST_EINVAL,
		   "search.queries[0]: expected an array");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"has_time_range\":1}}}", ROOST_EINVAL,
		   "true or false");
}

/* A filter's where: any_of values kept as their JSON text, a bound alone
 * turning its side on. */
static void test_decode_where(void **state)
{
	Roost__Request *req =
	    decode_ok("{\"version\":1,\"search\":{\"filter\":{\"where\":["
		      "{\"key\":\"topic\",\"any_of\":[ \"c\\u0061ts\" , 5.0,1e2,true,null ]},"
		      "{\"key\":\"n\",\"min\":1,\"max\":5,\"max_exclusive\":true},"
		      "{\"key\":\"m\",\"has_min\":false,\"min\":2,\"max\":3,\"has_max\":false,"
		      "\"any_of\":[0]}]}}}");
	const Roost__Filter *f = req->search->filter;

	(void)state;
	assert_int_equal(f->n_where, 3);
	assert_string_equal(f->where[0]->key, "topic");
	assert_int_equal(f->where[0]->n_any_of, 5);
	assert_string_equal(f->where[0]->any_of[0], "\"c\\u0061ts\"");
	assert_string_equal(f->where[0]->any_of[1], "5.0");
	assert_string_equal(f->where[0]->any_of[2], "1e2");
	assert_string_equal(f->where[0]->any_of[3], "true");
	assert_string_equal(f->where[0]->any_of[4], "null");
	assert_false(f->where[0]->has_min || f->where[0]->has_max);
	assert_true(f->where[1]->has_min && f->where[1]->min == 1);
	assert_false(f->where[1]->min_exclusive);
	assert_true(f->where[1]->has_max && f->where[1]->max == 5 && f->where[1]->max_exclusive);
	assert_false(f->where[2]->has_min || f->where[2]->has_max);
	assert_true(f->where[2]->min == 2 && f->where[2]->max == 3);
	/* The server reads the values by their JSON type. */
	struct metaq *q;
	assert_int_equal(wire_check_filter(f, &q, NULL, 0), 0);
	const char *meta = "{\"topic\":\"cats\",\"n\":4.5,\"m\":0}";
	assert_true(metaq_match(q, meta, strlen(meta)));
	metaq_free(q);
	json_request_free(req);
	/* Encoded exactly: every field, values as they were. */
	req = decode_ok("{\"version\":1,\"search\":{\"dim\":1,\"queries\":[[1]],\"k\":1,"
			"\"filter\":{\"where\":[{\"key\":\"n\",\"any_of\":[1.50,\"x\"],"
			"\"max\":0.1}]}}}");
	char *text = encode_request(req);
	assert_string_equal(text, "{\"version\":1,\"search\":{\"dim\":1,\"queries\":[[1]],"
				  "\"k\":1,\"filter\":{\"agents\":[],\"has_time_range\":false,"
				  "\"time_min\":0,\"time_max\":0,\"kind\":\"\",\"where\":[{"
				  "\"key\":\"n\",\"any_of\":[1.50,\"x\"],\"has_min\":false,"
				  "\"min\":0,\"min_exclusive\":false,\"has_max\":true,"
				  "\"max\":0.1,\"max_exclusive\":false}]},\"min_lsn\":0,"
				  "\"timeout_ms\":0,\"nprobe\":0,\"ef_search\":0,"
				  "\"collection\":\"\",\"as_of_lsn\":0}}");
	free(text);
	/* What the binary form may hold and JSON cannot say is refused. */
	char *bad[] = {"cats"};
	req->search->filter->where[0]->n_any_of = 1;
	char **keep = req->search->filter->where[0]->any_of;
	req->search->filter->where[0]->any_of = bad;
	assert_int_equal(jsonenc_request(req, &text, &(size_t){0}), ROOST_EINVAL);
	req->search->filter->where[0]->any_of = keep;
	req->search->filter->where[0]->n_any_of = 2;
	json_request_free(req);
}

static void test_reject_where(void **state)
{
	(void)state;
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":{}}}}", ROOST_EINVAL,
		   "search.filter.where: expected an array");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"k\":1}]}}}", ROOST_EINVAL,
		   "search.filter.where[0].k: unknown field (a condition takes key, any_of, "
		   "has_min, min");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"key\":\"a\","
		   "\"any_of\":[{\"x\":1}]}]}}}",
		   ROOST_EINVAL, "search.filter.where[0].any_of[0]: expected a JSON scalar");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"key\":\"a\","
		   "\"any_of\":[[1]]}]}}}",
		   ROOST_EINVAL, "found an array");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"key\":\"a\","
		   "\"any_of\":\"x\"}]}}}",
		   ROOST_EINVAL, "expected an array");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"key\":\"a\","
		   "\"min\":\"1\"}]}}}",
		   ROOST_EINVAL, "search.filter.where[0].min: expected a number");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"key\":\"a\","
		   "\"max\":1e400}]}}}",
		   ROOST_EVALUE, "1e400 is beyond double range");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"key\":\"a\","
		   "\"any_of\":[\"\\ud800\"]}]}}}",
		   ROOST_EUTF8, "surrogate");
	decode_bad("{\"version\":1,\"search\":{\"filter\":{\"where\":[{\"key\":1}]}}}",
		   ROOST_EINVAL, "expected a string");
	char *s = repeat("{\"version\":1,\"search\":{\"filter\":{\"where\":[{}", ",{}",
			 JSON_MAX_WHERE, "]}}}");
	decode_bad(s, ROOST_ETOOBIG, "search.filter.where: more than 1024");
	free(s);
}

static void test_reject_collections(void **state)
{
	(void)state;
	/* Unknown fields, at every level. */
	decode_bad("{\"version\":1,\"create_collection\":{\"nam\":\"x\"}}", ROOST_EINVAL,
		   "create_collection.nam: unknown field (create_collection takes name, settings, "
		   "client_id, seq, timeout_ms)");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"nlist\":4}}}",
		   ROOST_EINVAL,
		   "create_collection.settings.nlist: unknown field (settings takes dim, metric, "
		   "index, train_docs, seal_docs, seal_interval_ms, indexed_keys)");
	decode_bad("{\"version\":1,\"create_collection\":{\"dim\":3}}", ROOST_EINVAL,
		   "create_collection.dim: unknown field");
	decode_bad("{\"version\":1,\"drop_collection\":{\"name\":\"x\",\"settings\":{}}}",
		   ROOST_EINVAL,
		   "drop_collection.settings: unknown field (drop_collection takes name, "
		   "client_id, seq, timeout_ms)");
	decode_bad("{\"version\":1,\"alter_collection\":{\"name\":\"x\",\"settings\":{}}}",
		   ROOST_EINVAL,
		   "alter_collection.settings: unknown field (alter_collection takes name, index, "
		   "train_docs, client_id, seq, timeout_ms)");
	decode_bad("{\"version\":1,\"alter_collection\":{\"dim\":3}}", ROOST_EINVAL,
		   "alter_collection.dim: unknown field");
	decode_bad("{\"version\":1,\"list_collections\":{\"name\":\"x\"}}", ROOST_EINVAL,
		   "list_collections.name: unknown field (list_collections takes no fields)");
	decode_bad("{\"version\":1,\"search\":{\"collections\":\"x\"}}", ROOST_EINVAL,
		   "search.collections: unknown field");
	decode_bad("{\"version\":1,\"status\":{\"name\":\"x\"}}", ROOST_EINVAL,
		   "status.name: unknown field (status takes collection)");
	/* Duplicates. */
	decode_bad("{\"version\":1,\"create_collection\":{\"name\":\"x\",\"name\":\"y\"}}",
		   ROOST_EINVAL, "create_collection.name: duplicate field");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"dim\":1,\"dim\":2}}}",
		   ROOST_EINVAL, "create_collection.settings.dim: duplicate field");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{},\"settings\":{}}}",
		   ROOST_EINVAL, "create_collection.settings: duplicate field");
	decode_bad("{\"version\":1,\"add\":{\"collection\":\"a\",\"collection\":\"a\"}}",
		   ROOST_EINVAL, "add.collection: duplicate field");
	decode_bad("{\"version\":1,\"status\":{\"collection\":\"a\",\"collection\":\"b\"}}",
		   ROOST_EINVAL, "status.collection: duplicate field");
	/* Wrong types and null. */
	decode_bad("{\"version\":1,\"create_collection\":{\"name\":7}}", ROOST_EINVAL,
		   "create_collection.name: expected a string, found a number");
	decode_bad("{\"version\":1,\"create_collection\":{\"name\":null}}", ROOST_EINVAL,
		   "create_collection.name: expected a string, found null");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":null}}", ROOST_EINVAL,
		   "found null");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":[3]}}", ROOST_EINVAL,
		   "create_collection.settings: expected an object, found an array");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"dim\":\"3\"}}}",
		   ROOST_EINVAL, "settings.dim: expected a number, found a string");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"dim\":3.5}}}",
		   ROOST_EINVAL, "settings.dim: expected an integer");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"dim\":-3}}}",
		   ROOST_EINVAL, "settings.dim: -3 is out of range");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"seal_docs\":"
		   "18446744073709551616}}}",
		   ROOST_EINVAL, "settings.seal_docs: 18446744073709551616 is out of range");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"seal_interval_ms\":"
		   "4294967296}}}",
		   ROOST_EINVAL, "settings.seal_interval_ms: 4294967296 is out of range");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"index\":true}}}",
		   ROOST_EINVAL, "settings.index: expected a string, found a boolean");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"indexed_keys\":"
		   "\"user,topic\"}}}",
		   ROOST_EINVAL, "settings.indexed_keys: expected an array, found a string");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"indexed_keys\":"
		   "[\"user\",7]}}}",
		   ROOST_EINVAL, "settings.indexed_keys[1]: expected a string, found a number");
	decode_bad("{\"version\":1,\"create_collection\":{\"client_id\":\"1\"}}", ROOST_EINVAL,
		   "create_collection.client_id: expected a number");
	decode_bad("{\"version\":1,\"drop_collection\":{\"seq\":-1}}", ROOST_EINVAL,
		   "drop_collection.seq: -1 is out of range");
	decode_bad("{\"version\":1,\"drop_collection\":{\"name\":[\"x\"]}}", ROOST_EINVAL,
		   "drop_collection.name: expected a string, found an array");
	decode_bad("{\"version\":1,\"drop_collection\":\"x\"}", ROOST_EINVAL,
		   "drop_collection: expected an object, found a string");
	decode_bad("{\"version\":1,\"alter_collection\":{\"index\":null}}", ROOST_EINVAL,
		   "alter_collection.index: expected a string, found null");
	decode_bad("{\"version\":1,\"alter_collection\":{\"train_docs\":-1}}", ROOST_EINVAL,
		   "alter_collection.train_docs: -1 is out of range");
	decode_bad("{\"version\":1,\"alter_collection\":{\"train_docs\":1.5}}", ROOST_EINVAL,
		   "alter_collection.train_docs: expected an integer");
	decode_bad("{\"version\":1,\"alter_collection\":{\"index\":\"HNSW\\u0000\"}}", ROOST_EINVAL,
		   "U+0000");
	decode_bad("{\"version\":1,\"alter_collection\":{\"index\":\"\xff\"}}", ROOST_EUTF8,
		   "alter_collection.index: string is not valid UTF-8");
	decode_bad("{\"version\":1,\"list_collections\":null}", ROOST_EINVAL, "found null");
	decode_bad("{\"version\":1,\"list_collections\":[]}", ROOST_EINVAL, "found an array");
	decode_bad("{\"version\":1,\"add\":{\"collection\":5}}", ROOST_EINVAL,
		   "add.collection: expected a string, found a number");
	decode_bad("{\"version\":1,\"search\":{\"collection\":null}}", ROOST_EINVAL,
		   "search.collection: expected a string, found null");
	decode_bad("{\"version\":1,\"status\":{\"collection\":{}}}", ROOST_EINVAL,
		   "status.collection: expected a string, found an object");
	decode_bad("{\"version\":1,\"status\":{\"collection\":\"a\\u0000\"}}", ROOST_EINVAL,
		   "U+0000");
	decode_bad("{\"version\":1,\"drop_collection\":{\"name\":\"\xff\"}}", ROOST_EUTF8,
		   "drop_collection.name: string is not valid UTF-8");
	/* Metrics are names, as ack modes are; an unknown one is refused as
	 * the binary path refuses an unknown number. */
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"metric\":1}}}",
		   ROOST_EINVAL, "settings.metric: expected a string, found a number");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"metric\":"
		   "\"cosine\"}}}",
		   ROOST_EINVAL, "settings.metric: unknown metric; use l2 or ip");
	decode_bad("{\"version\":1,\"create_collection\":{\"settings\":{\"metric\":\"L2\"}}}",
		   ROOST_EINVAL, "unknown metric");
	/* One operation per request. */
	decode_bad("{\"version\":1,\"list_collections\":{},\"create_collection\":{}}", ROOST_EINVAL,
		   "create_collection: a request sets exactly one operation: add, search, status, "
		   "create_collection, drop_collection, alter_collection, list_collections, "
		   "delete_docs, get_docs, scroll or fork_collection");
	decode_bad("{\"version\":1,\"alter_collection\":{},\"drop_collection\":{}}", ROOST_EINVAL,
		   "drop_collection: a request sets exactly one operation");
	decode_bad("{\"version\":1,\"drop_collection\":{},\"drop_collection\":{}}", ROOST_EINVAL,
		   "drop_collection: duplicate field");
	decode_bad(
	    "{\"version\":1,\"create\":{}}", ROOST_EUNSUPPORTED,
	    "create: unknown field (a request takes version, add, search, status, "
	    "create_collection, drop_collection, alter_collection, list_collections, delete_docs, "
	    "get_docs, scroll, fork_collection)");
}

static void test_reject_numbers(void **state)
{
	(void)state;
	decode_bad("{\"version\":1.0,\"status\":{}}", ROOST_EINVAL, "expected an integer");
	decode_bad("{\"version\":1e0,\"status\":{}}", ROOST_EINVAL, "expected an integer");
	decode_bad("{\"version\":4294967296,\"status\":{}}", ROOST_EINVAL, "out of range");
	decode_bad("{\"version\":-1,\"status\":{}}", ROOST_EINVAL, "out of range");
	decode_bad("{\"version\":1,\"add\":{\"client_id\":18446744073709551616}}", ROOST_EINVAL,
		   "add.client_id: 18446744073709551616 is out of range");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"agent\":9223372036854775808}]}}",
		   ROOST_EINVAL, "int64");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"time\":-9223372036854775809}]}}",
		   ROOST_EINVAL, "int64");
	decode_bad("{\"version\":01,\"status\":{}}", ROOST_EPROTO, "leading 0");
	decode_bad("{\"version\":-,\"status\":{}}", ROOST_EPROTO, "no digits");
	decode_bad("{\"version\":+1,\"status\":{}}", ROOST_EPROTO, "found '+'");
	decode_bad("{\"version\":0x10,\"status\":{}}", ROOST_EPROTO, "',' or '}'");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[1.]]}}", ROOST_EPROTO, "after '.'");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[.5]]}}", ROOST_EPROTO, "found '.'");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[1e]]}}", ROOST_EPROTO, "exponent");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[NaN]]}}", ROOST_EPROTO, "found 'N'");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[Infinity]]}}", ROOST_EPROTO,
		   "found 'I'");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[1,-1e39]]}}", ROOST_EVALUE,
		   "search.queries[0][1]: -1e39 is beyond float32 range");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"vector\":[3.5e38]}]}}", ROOST_EVALUE,
		   "add.docs[0].vector[0]");
}

static void test_reject_strings(void **state)
{
	static const char nul_in[] = "{\"version\":1,\"add\":{\"docs\":[{\"text\":\"a\0b\"}]}}";

	(void)state;
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\xff\"}]}}", ROOST_EUTF8,
		   "add.docs[0].text: string is not valid UTF-8");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\xc0\xaf\"}]}}", ROOST_EUTF8,
		   "UTF-8");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\xed\xa0\x80\"}]}}", ROOST_EUTF8,
		   "UTF-8");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\xe2\x82\"}]}}", ROOST_EUTF8,
		   "UTF-8");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\\ud800x\"}]}}", ROOST_EUTF8,
		   "without its low half");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\\udc00\"}]}}", ROOST_EUTF8,
		   "lone low surrogate");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\\ud800\\u0041\"}]}}",
		   ROOST_EUTF8, "low half");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"kind\":\"a\\u0000\"}]}}", ROOST_EINVAL,
		   "U+0000");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"a\nb\"}]}}", ROOST_EPROTO,
		   "control character 0x0a");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\\x41\"}]}}", ROOST_EPROTO,
		   "unknown escape");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\\u12g4\"}]}}", ROOST_EPROTO,
		   "four hex digits");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"\\u12\"}]}}", ROOST_EPROTO,
		   "four hex digits");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"abc", ROOST_EPROTO,
		   "unterminated string");
	decode_bad("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"abc\\\"}]}}", ROOST_EPROTO,
		   "unterminated string");
	decode_bad("{\"ver\xffsion\":1}", ROOST_EUTF8, "UTF-8");
	decode_bad_len(nul_in, sizeof nul_in - 1, 0, ROOST_EPROTO, "control character 0x00");
}

static void test_reject_query_shape(void **state)
{
	(void)state;
	decode_bad("{\"version\":1,\"search\":{\"dim\":2,\"queries\":[[1,2],[3]],\"k\":1}}",
		   ROOST_EDIM, "search.queries[1]: query has 1 values but dim is 2");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[1,2],[3,4]],\"dim\":3}}", ROOST_EDIM,
		   "search.queries[0]: query has 2 values but dim is 3");
	decode_bad("{\"version\":1,\"search\":{\"queries\":[[1,2]]}}", ROOST_EDIM, "dim is 0");
}

/* ------------------------------------------------------------------ */
/* Limits.                                                             */

static void test_limits(void **state)
{
	char *s;

	(void)state;
	s = repeat("{\"version\":1,\"add\":{\"docs\":[{}", ",{}", BATCH_MAX_DOCS, "]}}");
	decode_bad(s, ROOST_ETOOBIG, "add.docs: more than 4096 entries");
	free(s);
	s = repeat("{\"version\":1,\"add\":{\"docs\":[{\"vector\":[0", ",0", BATCH_MAX_DIM,
		   "]}]}}");
	decode_bad(s, ROOST_ETOOBIG, "add.docs[0].vector: more than 4096 entries");
	free(s);
	s = repeat("{\"version\":1,\"search\":{\"filter\":{\"agents\":[0", ",0", JSON_MAX_AGENTS,
		   "]}}}");
	decode_bad(s, ROOST_ETOOBIG, "search.filter.agents: more than 65536");
	free(s);
	s = repeat("{\"version\":1,\"search\":{\"queries\":[[", "0", JSONLEX_MAX_NUMBER + 1,
		   "]]}}");
	decode_bad(s, ROOST_EPROTO, "leading 0");
	free(s);
	s = repeat("{\"version\":1,\"search\":{\"queries\":[[0.", "1", JSONLEX_MAX_NUMBER, "]]}}");
	decode_bad(s, ROOST_ETOOBIG, "longer than 64");
	free(s);
	/* The text itself, and its binary form, must fit the frame. */
	s = repeat("{\"version\":1,\"add\":{\"docs\":[{\"text\":\"", "x", 2000, "\"}]}}");
	decode_bad_len(s, strlen(s), 1000, ROOST_ETOOBIG, "JSON text is");
	free(s);
	/* "0," is 2 bytes of JSON but 4 of float32. */
	s = repeat("{\"version\":1,\"search\":{\"dim\":8,\"queries\":[[0,0,0,0,0,0,0,0]",
		   ",[0,0,0,0,0,0,0,0]", 100, "]}}");
	assert_true(strlen(s) < 2500);
	decode_bad_len(s, strlen(s), 2500, ROOST_ETOOBIG, "in binary form");
	free(s);
}

/* Nesting is fixed by the schema: deep input fails at its first extra
 * level instead of recursing. */
static void test_depth(void **state)
{
	char *s;

	(void)state;
	s = repeat("{\"version\":1,\"search\":{\"queries\":[", "[", 100000, "");
	decode_bad(s, ROOST_EINVAL, "search.queries[0][0]: expected a number, found an array");
	free(s);
	s = repeat("", "{\"version\":", 100000, "");
	decode_bad(s, ROOST_EINVAL, "version: expected a number, found an object");
	free(s);
}

/* ------------------------------------------------------------------ */
/* Replies.                                                            */

static void test_encode_add_reply(void **state)
{
	uint64_t ids[] = {UINT64_MAX - 1, UINT64_MAX};
	Roost__AddReply add = ROOST__ADD_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	char *s;

	(void)state;
	add.lsn = UINT64_MAX - 1;
	add.n_ids = 2;
	add.ids = ids;
	add.duplicate = 1;
	r.body_case = ROOST__REPLY__BODY_ADD;
	r.add = &add;
	s = encode_reply(&r);
	assert_string_equal(s, "{\"version\":1,\"status\":0,\"message\":\"\",\"add\":{\"lsn\":"
			       "18446744073709551614,\"ids\":[18446744073709551614,"
			       "18446744073709551615],\"duplicate\":true}}");
	free(s);
	/* An error without a message still explains itself. */
	r.status = ROOST_EBUSY;
	r.body_case = ROOST__REPLY__BODY__NOT_SET;
	s = encode_reply(&r);
	assert_non_null(strstr(s, "\"status\":-7,\"message\":\""));
	assert_non_null(strstr(s, roost_strerror(ROOST_EBUSY)));
	assert_null(strstr(s, "retry_after_ms"));
	free(s);
	/* A refusal that knows when it lifts says so. */
	r.message = "agent 5 is over its rate";
	r.retry_after_ms = 250;
	s = encode_reply(&r);
	assert_string_equal(s, "{\"version\":1,\"status\":-7,\"message\":\"agent 5 is over its "
			       "rate\",\"retry_after_ms\":250}");
	free(s);
}

static void test_encode_search_reply(void **state)
{
	Roost__Hit h[3];
	Roost__Hit *hp[3] = {&h[0], &h[1], &h[2]};
	Roost__QueryResult q[2] = {ROOST__QUERY_RESULT__INIT, ROOST__QUERY_RESULT__INIT};
	Roost__QueryResult *qp[2] = {&q[0], &q[1]};
	Roost__SearchReply sr = ROOST__SEARCH_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	char *s;
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		roost__hit__init(&h[i]);
	h[0].id = 5;
	h[0].score = 0.1f;
	h[0].agent = -1;
	h[0].time = INT64_MIN;
	h[0].kind = "tweet";
	h[0].text = "q\"b\\s\n\x01\t\r\xc3\xa9";
	h[0].key = "post-1";
	h[0].metadata = "{\"a\": [1, {\"b\":true}]}";
	h[1].score = NAN;
	h[2].metadata = "{broken"; /* never stored; left out rather than spliced in */
	h[2].score = 3.4028235e38f;
	q[0].n_hits = 2;
	q[0].hits = hp;
	q[1].n_hits = 1;
	q[1].hits = hp + 2;
	sr.lsn = 7;
	sr.n_results = 2;
	sr.results = qp;
	r.body_case = ROOST__REPLY__BODY_SEARCH;
	r.search = &sr;
	s = encode_reply(&r);
	assert_string_equal(
	    s, "{\"version\":1,\"status\":0,\"message\":\"\",\"search\":{\"lsn\":7,\"results\":["
	       "{\"hits\":[{\"id\":5,\"score\":0.1,\"agent\":-1,\"time\":-9223372036854775808,"
	       "\"kind\":\"tweet\",\"text\":\"q\\\"b\\\\s\\n\\u0001\\t\\u000d\xc3\xa9\","
	       "\"key\":\"post-1\",\"metadata\":{\"a\": [1, {\"b\":true}]}},"
	       "{\"id\":0,\"score\":null,\"agent\":0,\"time\":0,\"kind\":\"\",\"text\":\"\"}]},"
	       "{\"hits\":[{\"id\":0,\"score\":3.4028235e+38,\"agent\":0,\"time\":0,\"kind\":"
	       "\"\",\"text\":\"\"}]}]}}");
	free(s);
	/* Text that is not UTF-8 never becomes broken JSON. */
	h[1].text = "\xff";
	assert_int_equal(jsonenc_reply(&r, &s, &(size_t){0}), ROOST_EUTF8);
}

static void test_encode_status_reply(void **state)
{
	Roost__StatusReply st = ROOST__STATUS_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	char *s;

	(void)state;
	st.dim = 3;
	st.metric = ROOST__METRIC__METRIC_INNER_PRODUCT;
	st.index = "HNSW32";
	st.writer_pid = 42;
	st.ring_capacity = 1 << 20;
	st.documents = 9;
	st.writer_mode = "cpu";
	r.body_case = ROOST__REPLY__BODY_STATUS_REPLY;
	r.status_reply = &st;
	s = encode_reply(&r);
	assert_string_equal(
	    s, "{\"version\":1,\"status\":0,\"message\":\"\",\"status_reply\":{"
	       "\"dim\":3,\"metric\":\"ip\",\"index\":\"HNSW32\",\"writer_pid\":42,"
	       "\"ring_head\":0,\"ring_reserve\":0,\"ring_capacity\":1048576,"
	       "\"durable_lsn\":0,\"applied_lsn\":0,\"published_lsn\":0,"
	       "\"documents\":9,\"writer_mode\":\"cpu\",\"collection\":\"\","
	       "\"collections\":[],\"agent_rate\":0,\"agent_refused\":0,\"retain\":\"\","
	       "\"history_horizon_lsn\":0,\"history_log_bytes\":0}}");
	free(s);
}

/* Two collections' infos, as brokers describe them. */
struct infos {
	Roost__CollectionSettings s[2];
	Roost__CollectionInfo c[2];
	Roost__CollectionInfo *p[2];
};

static const char *const info_keys[] = {"user", "topic"};

static void infos_init(struct infos *in)
{
	for (int i = 0; i < 2; i++) {
		roost__collection_settings__init(&in->s[i]);
		roost__collection_info__init(&in->c[i]);
		in->c[i].settings = &in->s[i];
		in->p[i] = &in->c[i];
	}
	in->c[0].name = "default";
	in->c[0].id = 1;
	in->s[0].dim = 3;
	in->s[0].index = "Flat";
	in->s[0].train_docs = 0;
	in->s[0].seal_docs = 65536;
	in->s[0].seal_interval_ms = 10000;
	in->s[0].n_indexed_keys = 2;
	in->s[0].indexed_keys = (char **)info_keys;
	in->c[0].documents = 2;
	in->c[0].segments = 1;
	in->c[1].name = "p\xc3\xa9";
	in->c[1].id = UINT32_MAX;
	in->s[1].dim = 8;
	in->s[1].metric = ROOST__METRIC__METRIC_INNER_PRODUCT;
	in->s[1].index = "HNSW32";
	in->s[1].train_docs = UINT64_MAX;
	in->s[1].seal_docs = 4096;
	in->c[1].documents = UINT64_MAX;
	in->c[1].created_lsn = 224;
	in->c[1].rebuilding = UINT32_MAX;
	in->c[1].history_start_lsn = 225;
	in->c[1].history_bytes = UINT64_MAX;
}

#define INFO_0                                                                                     \
	"{\"name\":\"default\",\"id\":1,\"settings\":{\"dim\":3,\"metric\":\"l2\",\"index\":"      \
	"\"Flat\",\"train_docs\":0,\"seal_docs\":65536,\"seal_interval_ms\":10000,"                \
	"\"indexed_keys\":[\"user\",\"topic\"]},\"documents\":2,\"segments\":1,\"created_lsn\":0," \
	"\"rebuilding\":0,\"history_start_lsn\":0,\"history_bytes\":0}"
#define INFO_1                                                                                     \
	"{\"name\":\"p\xc3\xa9\",\"id\":4294967295,\"settings\":{\"dim\":8,\"metric\":\"ip\","     \
	"\"index\":\"HNSW32\",\"train_docs\":18446744073709551615,\"seal_docs\":4096,"             \
	"\"seal_interval_ms\":0,\"indexed_keys\":[]},\"documents\":18446744073709551615,"          \
	"\"segments\":0,"                                                                          \
	"\"created_lsn\":224,\"rebuilding\":4294967295,\"history_start_lsn\":225,"                 \
	"\"history_bytes\":18446744073709551615}"

static void test_encode_status_reply_collections(void **state)
{
	Roost__StatusReply st = ROOST__STATUS_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	struct infos in;
	char *s;

	(void)state;
	infos_init(&in);
	st.collection = "default";
	st.dim = 3;
	st.index = "Flat";
	st.writer_mode = "down";
	st.n_collections = 2;
	st.collections = in.p;
	st.retain = "lsn:300";
	st.history_horizon_lsn = 300;
	st.history_log_bytes = 4096;
	r.body_case = ROOST__REPLY__BODY_STATUS_REPLY;
	r.status_reply = &st;
	s = encode_reply(&r);
	assert_string_equal(
	    s, "{\"version\":1,\"status\":0,\"message\":\"\",\"status_reply\":{"
	       "\"dim\":3,\"metric\":\"l2\",\"index\":\"Flat\",\"writer_pid\":0,"
	       "\"ring_head\":0,\"ring_reserve\":0,\"ring_capacity\":0,"
	       "\"durable_lsn\":0,\"applied_lsn\":0,\"published_lsn\":0,"
	       "\"documents\":0,\"writer_mode\":\"down\",\"collection\":\"default\","
	       "\"collections\":[" INFO_0 "," INFO_1 "],\"agent_rate\":0,\"agent_refused\":0,"
	       "\"retain\":\"lsn:300\",\"history_horizon_lsn\":300,\"history_log_bytes\":4096}}");
	free(s);
	/* A metric this schema has no name for (a newer server's) keeps its
	 * number; text that is not UTF-8 never becomes broken JSON. */
	st.metric = (Roost__Metric)7;
	s = encode_reply(&r);
	assert_non_null(strstr(s, "\"metric\":7,"));
	free(s);
	in.c[1].name = "\xff";
	assert_int_equal(jsonenc_reply(&r, &s, &(size_t){0}), ROOST_EUTF8);
}

static void test_encode_collection_replies(void **state)
{
	Roost__CollectionReply cr = ROOST__COLLECTION_REPLY__INIT;
	Roost__ListCollectionsReply lr = ROOST__LIST_COLLECTIONS_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	struct infos in;
	char *s;

	(void)state;
	infos_init(&in);
	cr.lsn = 240;
	cr.collection = &in.c[1];
	cr.existed = 1;
	r.body_case = ROOST__REPLY__BODY_COLLECTION;
	r.collection = &cr;
	s = encode_reply(&r);
	assert_string_equal(s, "{\"version\":1,\"status\":0,\"message\":\"\",\"collection\":{"
			       "\"lsn\":240,\"collection\":" INFO_1 ",\"existed\":true}}");
	free(s);

	lr.n_collections = 2;
	lr.collections = in.p;
	r.body_case = ROOST__REPLY__BODY_COLLECTIONS;
	r.collections = &lr;
	s = encode_reply(&r);
	assert_string_equal(s, "{\"version\":1,\"status\":0,\"message\":\"\",\"collections\":{"
			       "\"collections\":[" INFO_0 "," INFO_1 "]}}");
	free(s);
	lr.n_collections = 0;
	s = encode_reply(&r);
	assert_string_equal(s, "{\"version\":1,\"status\":0,\"message\":\"\",\"collections\":{"
			       "\"collections\":[]}}");
	free(s);

	/* An info without settings leaves them out. */
	Roost__CollectionInfo bare = ROOST__COLLECTION_INFO__INIT;
	bare.name = "gone";
	cr.collection = &bare;
	cr.existed = 0;
	r.body_case = ROOST__REPLY__BODY_COLLECTION;
	r.collection = &cr; /* the body is a union */
	s = encode_reply(&r);
	assert_string_equal(s, "{\"version\":1,\"status\":0,\"message\":\"\",\"collection\":{"
			       "\"lsn\":240,\"collection\":{\"name\":\"gone\",\"id\":0,"
			       "\"documents\":0,\"segments\":0,\"created_lsn\":0,\"rebuilding\":0,"
			       "\"history_start_lsn\":0,\"history_bytes\":0},"
			       "\"existed\":false}}");
	free(s);
}

/* ------------------------------------------------------------------ */
/* Serving.                                                            */

struct fake {
	int calls;
	const void *frame;
	size_t len;
	Roost__Request *seen;
	int rc;			  /* what the handler returns */
	int garbage;		  /* reply bytes that do not decode */
	const Roost__Reply *body; /* the reply to give; NULL: an EDIM error */
};

static int fake_handler(void *ctx, const void *frame, size_t len, void **reply, size_t *reply_len)
{
	struct fake *f = ctx;
	char msg[MSG_LEN];
	Roost__Reply r = ROOST__REPLY__INIT;

	f->calls++;
	f->frame = frame;
	f->len = len;
	if (f->rc)
		return f->rc;
	if (f->garbage) {
		*reply = strdup("\xff\xff\xff");
		*reply_len = 3;
		return 0;
	}
	/* The handler sees a frame the binary decoder takes. */
	assert_int_equal(wire_decode_request(frame, len, 0, &f->seen, msg, sizeof msg), 0);
	if (f->body != NULL)
		return wire_encode_reply(f->body, reply, reply_len);
	r.status = ROOST_EDIM;
	r.message = "request dim 2 but collection dimension is 3";
	return wire_encode_reply(&r, reply, reply_len);
}

static void serve(struct fake *f, const char *s, size_t len, char **out)
{
	void *reply = NULL;
	size_t n = 0;

	assert_int_equal(jsonsrv_serve(s, len, 0, fake_handler, f, &reply, &n), 0);
	*out = malloc(n + 1);
	assert_non_null(*out);
	memcpy(*out, reply, n);
	(*out)[n] = '\0';
	free(reply);
}

static void test_serve_json(void **state)
{
	const char *req = "\n {\"version\":1,\"search\":{\"dim\":2,\"queries\":[[1,2]],\"k\":3}}";
	struct fake f = {0};
	char *out;

	(void)state;
	serve(&f, req, strlen(req), &out);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.seen->op_case, ROOST__REQUEST__OP_SEARCH);
	assert_int_equal(f.seen->search->k, 3);
	assert_string_equal(out, "{\"version\":1,\"status\":-10,\"message\":\"request dim 2 but "
				 "collection dimension is 3\"}");
	wire_request_free(f.seen);
	free(out);

	/* Malformed JSON never reaches the handler. */
	f = (struct fake){0};
	req = "{\"version\":1,\"add\":{\"dim\":}}";
	serve(&f, req, strlen(req), &out);
	assert_int_equal(f.calls, 0);
	assert_non_null(strstr(out, "{\"version\":1,\"status\":-14,\"message\":\"add.dim: "));
	free(out);

	/* A reply that does not decode becomes a JSON error. */
	f = (struct fake){.garbage = 1};
	req = "{\"version\":1,\"status\":{}}";
	serve(&f, req, strlen(req), &out);
	assert_non_null(strstr(out, "\"status\":-14,"));
	free(out);

	/* The handler's own failure passes through. */
	f = (struct fake){.rc = ROOST_ENOMEM};
	assert_int_equal(
	    jsonsrv_serve(req, strlen(req), 0, fake_handler, &f, &(void *){NULL}, &(size_t){0}),
	    ROOST_ENOMEM);
}

/* The collection operations reach the handler in binary, and its replies
 * come back as JSON. */
static void test_serve_collection_ops(void **state)
{
	const char *req = "{\"version\":1,\"create_collection\":{\"name\":\"posts\","
			  "\"settings\":{\"dim\":3,\"metric\":\"ip\"},\"client_id\":5,\"seq\":1}}";
	Roost__CollectionReply cr = ROOST__COLLECTION_REPLY__INIT;
	Roost__Reply r = ROOST__REPLY__INIT;
	struct infos in;
	char *out;

	(void)state;
	infos_init(&in);
	cr.lsn = 240;
	cr.collection = &in.c[1];
	r.body_case = ROOST__REPLY__BODY_COLLECTION;
	r.collection = &cr;
	struct fake f = {.body = &r};
	serve(&f, req, strlen(req), &out);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.seen->op_case, ROOST__REQUEST__OP_CREATE_COLLECTION);
	assert_string_equal(f.seen->create_collection->name, "posts");
	assert_int_equal(f.seen->create_collection->settings->metric,
			 ROOST__METRIC__METRIC_INNER_PRODUCT);
	assert_int_equal(f.seen->create_collection->client_id, 5);
	assert_string_equal(out, "{\"version\":1,\"status\":0,\"message\":\"\",\"collection\":{"
				 "\"lsn\":240,\"collection\":" INFO_1 ",\"existed\":false}}");
	wire_request_free(f.seen);
	free(out);

	Roost__ListCollectionsReply lr = ROOST__LIST_COLLECTIONS_REPLY__INIT;
	lr.n_collections = 1;
	lr.collections = in.p;
	r.body_case = ROOST__REPLY__BODY_COLLECTIONS;
	r.collections = &lr;
	f = (struct fake){.body = &r};
	req = "{\"version\":1,\"list_collections\":{}}";
	serve(&f, req, strlen(req), &out);
	assert_int_equal(f.seen->op_case, ROOST__REQUEST__OP_LIST_COLLECTIONS);
	assert_string_equal(out, "{\"version\":1,\"status\":0,\"message\":\"\",\"collections\":{"
				 "\"collections\":[" INFO_0 "]}}");
	wire_request_free(f.seen);
	free(out);

	f = (struct fake){0};
	req = "{\"version\":1,\"drop_collection\":{\"name\":\"posts\",\"client_id\":5,\"seq\":2}}";
	serve(&f, req, strlen(req), &out);
	assert_int_equal(f.seen->op_case, ROOST__REQUEST__OP_DROP_COLLECTION);
	assert_string_equal(f.seen->drop_collection->name, "posts");
	assert_int_equal(f.seen->drop_collection->seq, 2);
	wire_request_free(f.seen);
	free(out);

	f = (struct fake){.body = &r};
	r.body_case = ROOST__REPLY__BODY_COLLECTION;
	r.collection = &cr; /* the body is a union */
	req = "{\"version\":1,\"alter_collection\":{\"name\":\"posts\",\"index\":\"HNSW32\","
	      "\"client_id\":5,\"seq\":3}}";
	serve(&f, req, strlen(req), &out);
	assert_int_equal(f.seen->op_case, ROOST__REQUEST__OP_ALTER_COLLECTION);
	assert_string_equal(f.seen->alter_collection->name, "posts");
	assert_string_equal(f.seen->alter_collection->index, "HNSW32");
	assert_int_equal(f.seen->alter_collection->seq, 3);
	assert_string_equal(out, "{\"version\":1,\"status\":0,\"message\":\"\",\"collection\":{"
				 "\"lsn\":240,\"collection\":" INFO_1 ",\"existed\":false}}");
	wire_request_free(f.seen);
	free(out);
}

/* A long non-ASCII field name, cut to fit the message, still gives a
 * valid UTF-8 message and a JSON reply. */
static void test_message_utf8_after_truncation(void **state)
{
	char *s = repeat("{\"version\":1,\"add\":{\"", "\xe2\x82\xac", 400, "\":1}}");
	struct fake f = {0};
	char msg[100], *out;
	Roost__Request *req;
	size_t at;

	(void)state;
	for (at = 60; at < 64; at++) {
		assert_int_equal(json_decode_request(s, strlen(s), 0, &req, msg, at), ROOST_EINVAL);
		assert_true(batch_utf8_valid(msg, strlen(msg)));
		assert_true(strlen(msg) >= at - 4);
	}
	serve(&f, s, strlen(s), &out);
	assert_non_null(strstr(out, "\"status\":-1,"));
	assert_true(batch_utf8_valid(out, strlen(out)));
	free(out);
	free(s);
}

static void test_serve_binary(void **state)
{
	Roost__Request req = ROOST__REQUEST__INIT;
	Roost__StatusRequest st = ROOST__STATUS_REQUEST__INIT;
	struct fake f = {0};
	void *reply = NULL;
	size_t len, n = 0;
	uint8_t *bin;

	(void)state;
	req.version = 1;
	req.op_case = ROOST__REQUEST__OP_STATUS;
	req.status = &st;
	bin = pack(&req, &len);
	assert_int_equal(jsonsrv_serve(bin, len, 0, fake_handler, &f, &reply, &n), 0);
	/* Binary frames go through untouched, and get a binary reply. */
	assert_ptr_equal(f.frame, bin);
	assert_int_equal(f.len, len);
	assert_false(json_is_request(reply, n));
	wire_request_free(f.seen);
	free(reply);
	free(bin);
}

/* No binary Request starts like JSON, so the sniffing is unambiguous. */
static void test_sniffing(void **state)
{
	static const char starts[] = " \t\n\r{";
	static const struct {
		const char *b;
		size_t n;
	} tails[] = {{"", 0},	      {"\x00", 1}, {"\x01", 1},
		     {"\x08\x01", 2}, {"{}", 2},   {"\x7f\xff", 2}};
	char frame[8];
	size_t i, j;

	(void)state;
	assert_true(json_is_request(" \r\n\t{", 5));
	assert_false(json_is_request(" \r\n\t", 4));
	assert_false(json_is_request("x{", 2));
	assert_false(json_is_request(NULL, 0));
	for (i = 0; i < sizeof starts - 1; i++) {
		for (j = 0; j < sizeof tails / sizeof *tails; j++) {
			Roost__Request *req = NULL;

			frame[0] = starts[i];
			memcpy(frame + 1, tails[j].b, tails[j].n);
			assert_int_not_equal(
			    wire_decode_request(frame, 1 + tails[j].n, 0, &req, NULL, 0), 0);
		}
	}
}

/* ------------------------------------------------------------------ */
/* JSON-lines documents.                                               */

static void test_document(void **state)
{
	const char *line = "{\"vector\":[0.5,-1,2e3],\"agent\":7,\"time\":1700000000,"
			   "\"kind\":\"tweet\",\"text\":\"hello \\u2603\"}\n";
	struct json_document d;
	char msg[MSG_LEN];

	(void)state;
	assert_int_equal(json_parse_document(line, strlen(line), &d, msg, sizeof msg), 0);
	assert_int_equal(d.dim, 3);
	assert_true(d.vector[0] == 0.5f && d.vector[1] == -1.0f && d.vector[2] == 2000.0f);
	assert_int_equal(d.agent, 7);
	assert_int_equal(d.time, 1700000000);
	assert_string_equal(d.kind, "tweet");
	assert_string_equal(d.text, "hello \xe2\x98\x83");
	json_document_free(&d);
	assert_null(d.vector);

	/* Defaults are real (freeable) strings. */
	assert_int_equal(json_parse_document("{\"vector\":[1]}", 14, &d, msg, sizeof msg), 0);
	assert_string_equal(d.kind, "");
	assert_string_equal(d.text, "");
	assert_string_equal(d.id, "");
	assert_string_equal(d.metadata, "");
	json_document_free(&d);

	/* Metadata is the object's own bytes, spacing and all. */
	const char *keyed = "{\"vector\":[1],\"id\":\"post-9\",\"metadata\": {\"topic\" : \"cats\","
			    "\"n\":[1, 2.50]} }";
	assert_int_equal(json_parse_document(keyed, strlen(keyed), &d, msg, sizeof msg), 0);
	assert_string_equal(d.id, "post-9");
	assert_string_equal(d.metadata, "{\"topic\" : \"cats\",\"n\":[1, 2.50]}");
	json_document_free(&d);
}

static void document_bad(const char *s, int code, const char *want)
{
	struct json_document d;
	char msg[MSG_LEN] = "";
	int rc = json_parse_document(s, strlen(s), &d, msg, sizeof msg);

	if (rc != code || strstr(msg, want) == NULL)
		fail_msg("%s: got %d \"%s\", want %d with \"%s\"", s, rc, msg, code, want);
	assert_null(d.vector);
	assert_null(d.kind);
	assert_null(d.text);
}

static void test_document_rejects(void **state)
{
	(void)state;
	document_bad("{\"agent\":1}", ROOST_EDIM, "non-empty \"vector\"");
	document_bad("{\"vector\":[]}", ROOST_EDIM, "non-empty");
	document_bad("{\"vector\":[1],\"score\":1}", ROOST_EINVAL,
		     "score: unknown field (a document takes vector, agent, time, kind, text, id, "
		     "metadata)");
	document_bad("{\"vector\":[1],\"id\":3}", ROOST_EINVAL, "id: expected a string");
	document_bad("{\"vector\":[1],\"metadata\":[1]}", ROOST_EINVAL,
		     "metadata: expected an object");
	document_bad("{\"vector\":[1],\"metadata\":{\"a\":}}", ROOST_EPROTO, "metadata.a");
	document_bad("{\"vector\":[1]} {\"vector\":[1]}", ROOST_EPROTO, "after the top-level");
	document_bad("{\"vector\":[1],\"text\":\"\xff\"}", ROOST_EUTF8, "text");
	document_bad("{\"vector\":[1e40]}", ROOST_EVALUE, "vector[0]");
	document_bad("{\"vector\":[1],\"agent\":1.5}", ROOST_EINVAL, "agent: expected an integer");
	document_bad("", ROOST_EPROTO, "end of input");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_add),
	    cmocka_unit_test(test_decode_search_and_status),
	    cmocka_unit_test(test_decode_collection_fields),
	    cmocka_unit_test(test_decode_create_collection),
	    cmocka_unit_test(test_decode_drop_alter_and_list),
	    cmocka_unit_test(test_collection_ops_checked_by_server),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_decode_where),
	    cmocka_unit_test(test_reject_where),
	    cmocka_unit_test(test_encode_request_exact),
	    cmocka_unit_test(test_encode_collection_requests),
	    cmocka_unit_test(test_reject_syntax),
	    cmocka_unit_test(test_reject_schema),
	    cmocka_unit_test(test_reject_collections),
	    cmocka_unit_test(test_reject_numbers),
	    cmocka_unit_test(test_reject_strings),
	    cmocka_unit_test(test_reject_query_shape),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_encode_add_reply),
	    cmocka_unit_test(test_encode_search_reply),
	    cmocka_unit_test(test_encode_status_reply),
	    cmocka_unit_test(test_encode_status_reply_collections),
	    cmocka_unit_test(test_encode_collection_replies),
	    cmocka_unit_test(test_serve_json),
	    cmocka_unit_test(test_serve_collection_ops),
	    cmocka_unit_test(test_message_utf8_after_truncation),
	    cmocka_unit_test(test_serve_binary),
	    cmocka_unit_test(test_sniffing),
	    cmocka_unit_test(test_document),
	    cmocka_unit_test(test_document_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
