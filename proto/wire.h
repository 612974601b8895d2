/* The wire protocol: decoding requests, validating add batches against the
 * collection, and encoding replies. proto/roost.proto is the schema.
 *
 * Nothing a client sends is trusted: every length is checked against the
 * frame and the configured limits before anything is allocated or copied.
 */
#ifndef ROOST_WIRE_H
#define ROOST_WIRE_H

#include "collrec.h"
#include "metaq.h"
#include "roost.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 1u
/* Largest request or reply frame on any hop; a broker may be configured
 * to accept smaller requests. Requests over it get ROOST_ETOOBIG, and a
 * reply over it is replaced by a ROOST_ETOOBIG error (wire_cap_reply). */
#define WIRE_MAX_FRAME (16u << 20)

/* A collection's seal size, and its seal interval, when a create gives
 * them: a tail holds a full batch at least, and at most what a tail can. */
#define WIRE_MIN_SEAL_DOCS	  4096u
#define WIRE_MAX_SEAL_DOCS	  (1u << 24)
#define WIRE_MAX_SEAL_INTERVAL_MS 86400000u

/* A limit of 0, or one above its hard limit (BATCH_MAX_DOCS,
 * BATCH_MAX_TEXT, WIRE_MAX_FRAME), means the hard limit. */
struct wire_limits {
	uint32_t dim;	   /* the collection's dimension */
	uint32_t max_docs; /* documents per add request */
	uint32_t max_text; /* bytes of text per document */
	size_t max_frame;  /* bytes per request frame */
};

/* Decodes a request frame. Fails with ROOST_EPROTO (garbage, truncation),
 * ROOST_EVERSION (other protocol version), ROOST_EUNSUPPORTED (no known
 * operation, or an empty frame), ROOST_EINVAL (two operations, or a string
 * field holding a NUL byte, which protobuf-c would silently cut), ROOST_ETOOBIG (frame over
 * max_frame, or one that would unpack to more than about 4x its size plus 2 MiB) or ROOST_ENOMEM,
 * with a message for the client in msg (NULL or msglen 0: none). max_frame
 * 0 means WIRE_MAX_FRAME. Free *out with wire_request_free(). */
int wire_decode_request(const void *buf, size_t len, size_t max_frame, Roost__Request **out,
			char *msg, size_t msglen);
void wire_request_free(Roost__Request *req);

/* Checks an add request against the limits: dimension, count, finite
 * values, text and kind sizes and UTF-8, idempotency key present, known
 * ack mode. On failure msg names the first bad document and field as in
 * the schema, e.g. "docs[3].vector[17] is NaN" (0-based, request order). */
int wire_check_add(const Roost__AddRequest *add, const struct wire_limits *lim, char *msg,
		   size_t msglen);

/* Checks a delete: its collection's name, idempotency key and ack mode,
 * and 1 to DELREC_MAX_IDS ids, each a valid id or "#<number>". */
int wire_check_delete(const Roost__DeleteRequest *d, char *msg, size_t msglen);

/* Most ids one get names. */
#define WIRE_MAX_GET_IDS 1024u

/* Checks a get: its collection's name and 1 to WIRE_MAX_GET_IDS ids, each
 * a valid id or "#<number>". */
int wire_check_get(const Roost__GetRequest *g, char *msg, size_t msglen);

/* Size of the delete record (proto/delrec.h) for a checked request, and
 * the record itself, for collection id `collection`, into dst. */
size_t wire_delete_size(const Roost__DeleteRequest *d);
void wire_delete_write(const Roost__DeleteRequest *d, uint32_t collection, void *dst);

/* Checks the collection name a request gives ("" means "default"). */
int wire_check_collection(const char *name, char *msg, size_t msglen);

/* Checks a create: its name, its idempotency key, and its settings
 * within their limits (the dimension is required). A drop: its name and
 * key. msg says what is wrong in the schema's words. */
int wire_check_create(const Roost__CreateCollectionRequest *c, char *msg, size_t msglen);
int wire_check_drop(const Roost__DropCollectionRequest *d, char *msg, size_t msglen);

/* The indexed keys of settings s, joined by commas into out (which holds
 * COLL_KEYS_MAX + 1 bytes) and checked: ROOST_EINVAL, msg saying what is
 * wrong, unless they make a list coll_keys_check accepts. */
int wire_keys_join(const Roost__CollectionSettings *s, char *out, char *msg, size_t msglen);

/* Splits a checked list at its commas, in place, into keys (room for
 * COLL_KEYS_COUNT); returns how many there are. */
size_t wire_keys_split(char *list, char **keys);

/* The create record (proto/collrec.h) of a checked create request. */
void wire_create_record(const Roost__CreateCollectionRequest *c, struct collrec *out);

/* Checks an alter: its name, its idempotency key, its index as a
 * create's settings.index is checked (printable ASCII, ROOST_EINVAL; at
 * most COLL_INDEX_MAX bytes, ROOST_ETOOBIG) and its train_docs within a
 * create's limit. "" and 0 are valid: they keep the collection's. */
int wire_check_alter(const Roost__AlterCollectionRequest *a, char *msg, size_t msglen);

/* The alter record of a checked alter request, for the collection whose
 * id the broker found under its name: the writer refuses it when that
 * name holds another id by then (dropped and created again). */
void wire_alter_record(const Roost__AlterCollectionRequest *a, uint32_t id, struct collrec *out);

/* Checks a fork: its name and its source's, its idempotency key. */
int wire_check_fork(const Roost__ForkCollectionRequest *f, char *msg, size_t msglen);

/* The fork record of a checked fork request, whose source the broker found
 * live under id: the writer refuses it when that name holds another id by
 * then. */
void wire_fork_record(const Roost__ForkCollectionRequest *f, uint32_t source_id,
		      struct collrec *out);

/* Checks a search filter (NULL: no filter, fine): its kind as an add's
 * kind is checked (at most BATCH_KIND_MAX bytes of UTF-8), and its where
 * conditions within proto/metaq.h's limits. where (NULL: a check only)
 * receives the conditions compiled for metaq_match, NULL when there are
 * none; the caller frees them with metaq_free. */
int wire_check_filter(const Roost__Filter *filter, struct metaq **where, char *msg, size_t msglen);

/* How long a server waits for a request whose timeout_ms field is given:
 * 0 means dflt, and anything over max (up to UINT32_MAX) is max. */
int wire_timeout_ms(uint32_t given, int dflt, int max);

/* Size of the batch record for a checked add request; 0 when the request
 * is over batch.h's hard limits. */
size_t wire_batch_size(const Roost__AddRequest *add);

/* Writes the batch record (proto/batch.h) for a checked request, for
 * collection id `collection`, into dst, which holds wire_batch_size()
 * bytes. */
void wire_batch_write(const Roost__AddRequest *add, uint32_t collection, void *dst);

/* How long a server may wait on others (a reader for visibility, a broker
 * for a reader) when its requester gives it timeout_ms, capped at cap_ms:
 * what is left is the reply's way back. Safe for any client-given value. */
int wire_inner_wait(uint32_t timeout_ms, int cap_ms);

/* Encodes a reply; status 0 with body, or an error code with message.
 * The version is set to WIRE_VERSION, and an error without a message gets
 * roost_strerror()'s text. *out is malloc'ed. */
int wire_encode_reply(const Roost__Reply *reply, void **out, size_t *outlen);

/* Convenience: an error reply frame with status and message. */
int wire_encode_error(int status, const char *message, void **out, size_t *outlen);

/* An error reply that also says how long a retry should wait (a busy
 * refusal that knows; 0: the client backs off as it would). */
int wire_encode_retry(int status, const char *message, uint32_t retry_after_ms, void **out,
		      size_t *outlen);

#endif
