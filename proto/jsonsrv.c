#include "jsonsrv.h"

#include "err.h"
#include "json.h"
#include "jsonenc.h"
#include "wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Room for an error message to a client. */
#define JSONSRV__MSG 512

static int jsonsrv__reply_out(const Roost__Reply *r, void **reply, size_t *reply_len)
{
	char *s;
	size_t n;
	int rc = jsonenc_reply(r, &s, &n);

	if (rc == 0) {
		*reply = s;
		*reply_len = n;
	}
	return rc;
}

static int jsonsrv__error_reply(int status, const char *message, void **reply, size_t *reply_len)
{
	Roost__Reply r = ROOST__REPLY__INIT;

	r.status = status;
	r.message = (char *)message;
	int rc = jsonsrv__reply_out(&r, reply, reply_len);
	/* A message that is not UTF-8 must not cost the client its reply. */
	if (rc == ROOST_EUTF8) {
		r.message = (char *)roost_strerror(status);
		rc = jsonsrv__reply_out(&r, reply, reply_len);
	}
	return rc;
}

/* fn's binary reply as JSON. A reply that does not decode or holds bad
 * UTF-8 came from another process (a reader, through the broker): the
 * client gets an error, never broken JSON. */
static int jsonsrv__transcode(const void *bin, size_t len, void **reply, size_t *reply_len)
{
	Roost__Reply *r = roost__reply__unpack(NULL, len, bin);

	if (r == NULL)
		return jsonsrv__error_reply(ROOST_EPROTO, "the server's reply did not decode",
					    reply, reply_len);
	int rc = jsonsrv__reply_out(r, reply, reply_len);
	roost__reply__free_unpacked(r, NULL);
	if (rc == ROOST_EUTF8)
		return jsonsrv__error_reply(rc, "the server's reply holds text that is not UTF-8",
					    reply, reply_len);
	return rc;
}

/* A reply over WIRE_MAX_FRAME would cost its requester the connection on
 * the next hop: the requester gets an error that says what to ask for. */
static int jsonsrv__cap_reply(int json, void **reply, size_t *reply_len)
{
	if (*reply_len <= WIRE_MAX_FRAME)
		return 0;
	char msg[JSONSRV__MSG];
	snprintf(msg, sizeof msg,
		 "the reply would be %zu bytes, over the %u-byte frame limit: ask for fewer "
		 "queries, a smaller k, or shorter texts",
		 *reply_len, WIRE_MAX_FRAME);
	free(*reply);
	*reply = NULL;
	return json ? jsonsrv__error_reply(ROOST_ETOOBIG, msg, reply, reply_len)
		    : wire_encode_error(ROOST_ETOOBIG, msg, reply, reply_len);
}

/* A decoded JSON request in binary form, for the handler. */
static int jsonsrv__pack(Roost__Request *req, uint8_t **bin, size_t *len)
{
	*len = roost__request__get_packed_size(req);
	*bin = malloc(*len > 0 ? *len : 1);
	if (*bin == NULL)
		return ROOST_ENOMEM;
	roost__request__pack(req, *bin);
	return 0;
}

static int jsonsrv__serve_json(const char *text, size_t len, size_t max_frame, jsonsrv_handler fn,
			       void *ctx, void **reply, size_t *reply_len)
{
	char msg[JSONSRV__MSG];
	Roost__Request *req;
	int rc = json_decode_request(text, len, max_frame, &req, msg, sizeof msg);

	if (rc)
		return jsonsrv__error_reply(rc, msg, reply, reply_len);
	uint8_t *bin;
	size_t n;
	rc = jsonsrv__pack(req, &bin, &n);
	json_request_free(req);
	if (rc)
		return rc;
	void *out;
	size_t outlen;
	rc = fn(ctx, bin, n, &out, &outlen);
	free(bin);
	if (rc)
		return rc;
	rc = jsonsrv__transcode(out, outlen, reply, reply_len);
	free(out);
	return rc ? rc : jsonsrv__cap_reply(1, reply, reply_len);
}

int jsonsrv_serve(const void *frame, size_t len, size_t max_frame, jsonsrv_handler fn, void *ctx,
		  void **reply, size_t *reply_len)
{
	if (json_is_request(frame, len))
		return jsonsrv__serve_json(frame, len, max_frame, fn, ctx, reply, reply_len);
	int rc = fn(ctx, frame, len, reply, reply_len);
	return rc ? rc : jsonsrv__cap_reply(0, reply, reply_len);
}
