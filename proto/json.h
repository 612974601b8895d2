/* The JSON form of the wire protocol, for scripts, nanocat and languages
 * without protobuf, and the JSON-lines document format of `roost add`.
 * docs/protocol.md describes both; proto/roost.proto stays the schema.
 *
 * This module is that form's schema and decodes it; jsonlex.h reads the
 * text, jsonenc.h writes requests and replies, jsonsrv.h serves frames in
 * either form. A JSON request decodes into the same Roost__Request the
 * binary path uses, so servers run the very same handling. Field names are those of
 * the .proto; a request sets "version" and exactly one operation, such as
 * "add", "search", "status", "create_collection", "drop_collection",
 * "alter_collection" or "list_collections":
 *
 *   {"version":1,"add":{"dim":3,"docs":[{"vector":[1,0,0],"agent":7,
 *     "time":1700000000,"kind":"tweet","text":"hi","id":"post-1",
 *     "metadata":{"topic":"cats"}}],"client_id":1,"seq":1,
 *     "ack":"durable","timeout_ms":0,"collection":"posts"}}
 *   {"version":1,"search":{"dim":3,"queries":[[1,0,0]],"k":10,
 *     "filter":{"agents":[7],"time_min":0,"time_max":9,"kind":"tweet",
 *     "where":[{"key":"topic","any_of":["cats","dogs"]},{"key":"n","min":1}]},
 *     "min_lsn":0,"timeout_ms":0,"collection":"posts"}}
 *   {"version":1,"status":{"collection":"posts"}}
 *   {"version":1,"create_collection":{"name":"posts","settings":{"dim":3,
 *     "metric":"ip","index":"HNSW32","train_docs":0,"seal_docs":0,
 *     "seal_interval_ms":0,"indexed_keys":["user","topic"]},"client_id":1,
 *     "seq":2,"timeout_ms":0}}
 *   {"version":1,"drop_collection":{"name":"posts","client_id":1,"seq":3}}
 *   {"version":1,"alter_collection":{"name":"posts","index":"HNSW32",
 *     "train_docs":0,"client_id":1,"seq":4,"timeout_ms":0}}
 *   {"version":1,"list_collections":{}}
 *
 * Differences from the .proto, all for convenience in hand-written JSON:
 * search.queries is an array of vectors (each of dim values) rather than
 * one flat array; ack is a name ("default", "queued", "durable",
 * "visible"), and so is metric ("l2", "ip"), in requests and replies; a
 * document's and a hit's metadata is the JSON object itself (the .proto
 * carries its text), byte for byte as the client wrote it; a
 * filter's time range is on when time_min or time_max is given (a missing
 * bound is unbounded) unless "has_time_range" says otherwise, and so is a
 * condition's min or max unless "has_min" or "has_max" says otherwise; a
 * condition's any_of holds JSON scalars themselves, kept as their JSON
 * text (the .proto's strings of JSON).
 *
 * What JSON can say, the decoder checks; what a request must hold (an
 * add's, a create's or an alter's idempotency key, a collection's name, a
 * create's settings, an alter's index) the server checks, as it does for binary requests.
 *
 * Strict: nothing a client sends is trusted. Unknown or duplicate fields,
 * null, wrong types, integers with a fraction or exponent or out of their
 * field's range, numbers that are not finite as float32, invalid UTF-8,
 * U+0000 in strings, lone surrogates and trailing bytes are all refused
 * with a message naming the field path and byte offset. 64-bit integers
 * are exact (never rounded through a double). Nesting is fixed by the
 * schema (at most 6 levels, and META_MAX_DEPTH inside metadata), so no
 * input can recurse deeper. Arrays are
 * capped (documents, vector values, filter agents, below) and the whole
 * text by the frame limit, so decoding needs memory proportional to the
 * frame.
 */
#ifndef ROOST_JSON_H
#define ROOST_JSON_H

#include "roost.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* Most agent ids in one search filter. */
#define JSON_MAX_AGENTS 65536u
/* Most metadata conditions in one filter, and values in one condition's
 * any_of: caps on decoding only, looser than the server's limits
 * (proto/metaq.h), which answer with the same errors as for binary
 * requests. */
#define JSON_MAX_WHERE	1024u
#define JSON_MAX_ANY_OF 65536u

/* 1 when the frame's first byte that is not JSON whitespace is '{'. No
 * binary Request starts that way (' ', '\t', '\n', '\r' and '{' are not
 * valid first tags of a roost.Request), so servers tell the two forms
 * apart by this alone. */
int json_is_request(const void *frame, size_t len);

/* Decodes a JSON request of len bytes (no NUL needed). Fails, with a
 * message for the client in msg (NULL or msglen 0: none), with
 * ROOST_EPROTO (not JSON, or truncated), ROOST_EINVAL (unknown, duplicate
 * or mistyped field, integer out of range, two operations, an unknown
 * metric),
 * ROOST_EUNSUPPORTED (no operation, or an unknown one), ROOST_EVERSION
 * (version other than 1), ROOST_EVALUE (number not finite as float32),
 * ROOST_EUTF8, ROOST_EDIM (a query whose length differs from dim),
 * ROOST_ETOOBIG (text over max_frame, an array over its cap, or a request
 * whose binary encoding would exceed max_frame) or ROOST_ENOMEM. max_frame
 * 0 means WIRE_MAX_FRAME. Free *out with json_request_free(). */
int json_decode_request(const char *s, size_t len, size_t max_frame, Roost__Request **out,
			char *msg, size_t msglen);
void json_request_free(Roost__Request *req);

/* The JSON name of an ack mode ("default", "queued", ...) or a metric
 * ("l2", "ip"); NULL for a value the schema does not have. */
const char *json_ack_name(Roost__AckMode ack);
const char *json_metric_name(Roost__Metric metric);

/* One document of a JSON-lines input (`roost add`):
 *   {"vector":[0.1,0.2,0.3],"agent":7,"time":1700000000,"kind":"tweet",
 *    "text":"...","id":"post-1","metadata":{"topic":"cats"}}
 * vector is required and non-empty (at most BATCH_MAX_DIM values); the
 * others default to 0 and "" (no id: roost assigns one; no metadata:
 * none). Fields are the same as a request's
 * add.docs[i], with the same checks; kind and text lengths are left to
 * the server's limits. */
struct json_document {
	float *vector; /* malloc'ed, dim values, all finite */
	size_t dim;
	int64_t agent;
	int64_t time;
	char *kind;	/* malloc'ed, NUL-terminated UTF-8 */
	char *text;	/* malloc'ed, NUL-terminated UTF-8 */
	char *id;	/* malloc'ed; "": roost assigns one */
	char *metadata; /* malloc'ed JSON object text; "": none */
};

/* Parses one document object from s[0..len) (one line; surrounding
 * whitespace allowed, nothing else). Errors and codes as for
 * json_decode_request(). On success free with json_document_free(); on
 * failure *out holds nothing to free. */
int json_parse_document(const char *s, size_t len, struct json_document *out, char *msg,
			size_t msglen);
void json_document_free(struct json_document *doc);

#endif
