/* Serving both forms of the protocol: brokers and readers answer binary
 * frames and JSON text (json.h) on the same sockets, with one handler
 * that only ever sees binary requests. */
#ifndef ROOST_JSONSRV_H
#define ROOST_JSONSRV_H

#include <stddef.h>

/* A binary request handler (broker_handle, rsearch_handle). */
typedef int (*jsonsrv_handler)(void *ctx, const void *frame, size_t len, void **reply,
			       size_t *reply_len);

/* Serves one frame in either form: a binary frame goes to fn as it is; a
 * JSON frame (json_is_request()) is decoded with max_frame as its limit,
 * re-encoded in binary and handed to fn, and fn's reply is returned as
 * JSON (a decoding error is a JSON error reply and never reaches fn). A
 * reply over WIRE_MAX_FRAME is replaced by a ROOST_ETOOBIG error in the
 * request's form. *reply is malloc'ed. Fails only as fn does, or with
 * ROOST_ENOMEM. */
int jsonsrv_serve(const void *frame, size_t len, size_t max_frame, jsonsrv_handler fn, void *ctx,
		  void **reply, size_t *reply_len);

#endif
