/* Writes requests and replies in the JSON form that json.h describes:
 * replies for servers answering JSON requests (jsonsrv.h), requests for
 * tools and tests. 64-bit integers are exact decimals; float32 values are
 * written in the fewest digits that read back as the same float32, and a
 * value that is not finite as null (JSON has no word for it). Numbers
 * use '.', whatever the locale. */
#ifndef ROOST_JSONENC_H
#define ROOST_JSONENC_H

#include "roost.pb-c.h"

#include <stddef.h>

/* Encodes a request in the form json_decode_request() reads, every field
 * written (a filter always with has_time_range and both bounds, its
 * where conditions each with every field but where itself only when it
 * has some; a filter or a create's settings only when the request has
 * one), so decoding gives the same request back; a vector value or a
 * bound that is not finite becomes null, which the decoder refuses as
 * servers refuse it. *out is malloc'ed
 * and NUL-terminated; *outlen excludes the NUL. Fails with ROOST_EINVAL
 * (search queries not a whole number of dim-sized vectors, an unknown
 * ack mode or metric, an any_of value that is not one JSON scalar), ROOST_EUTF8 (a string that is
 * not UTF-8) or ROOST_ENOMEM. */
int jsonenc_request(const Roost__Request *req, char **out, size_t *outlen);

/* Encodes a reply: {"version":1,"status":0,"message":"", then the body
 * as "add", "search", "status_reply", "collection" or "collections"}; a
 * score that is not finite is null, a metric the schema does not name
 * its number. An error without a message gets roost_strerror()'s text. *out is
 * malloc'ed and NUL-terminated. Fails with ROOST_EUTF8 (a string that is
 * not UTF-8) or ROOST_ENOMEM. */
int jsonenc_reply(const Roost__Reply *reply, char **out, size_t *outlen);

#endif
