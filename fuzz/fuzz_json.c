/* The JSON form of requests (proto/json.h, read by jsonlex.h and written
 * by jsonenc.h), which brokers and readers accept from clients, and the
 * JSON-lines documents of `roost add`.
 *
 * A request the JSON decoder accepts must be one the binary path accepts
 * too (servers re-encode it and run the same handling), and encoding it
 * back to JSON must give a text that decodes to the very same request.
 * Served (jsonsrv.h), every text gets a JSON reply in valid UTF-8, even
 * when its message quotes the client's own field names, cut to fit. */
#include "batch.h"
#include "err.h"
#include "fuzz.h"
#include "json.h"
#include "jsonenc.h"
#include "jsonsrv.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *fuzz_json__pack(const Roost__Request *req, size_t *len)
{
	*len = roost__request__get_packed_size(req);
	uint8_t *buf = fuzz_copy(NULL, *len);
	FUZZ_CHECK(roost__request__pack(req, buf) == *len);
	return buf;
}

static void fuzz_json__binary_agrees(const uint8_t *bin, size_t len)
{
	char msg[256];
	Roost__Request *req;
	int rc = wire_decode_request(bin, len, 0, &req, msg, sizeof msg);
	/* Only the decoding budget may refuse what JSON accepted. */
	FUZZ_CHECK(rc == 0 || rc == ROOST_ETOOBIG || rc == ROOST_ENOMEM);
	wire_request_free(req);
}

static void fuzz_json__round_trip(const Roost__Request *req, const uint8_t *bin, size_t len)
{
	char *text, msg[256];
	size_t tlen, len2;
	Roost__Request *again;
	FUZZ_CHECK(jsonenc_request(req, &text, &tlen) == 0);
	FUZZ_CHECK(json_decode_request(text, tlen, 0, &again, msg, sizeof msg) == 0);
	uint8_t *bin2 = fuzz_json__pack(again, &len2);
	FUZZ_CHECK(len2 == len && memcmp(bin, bin2, len) == 0);
	free(bin2);
	json_request_free(again);
	free(text);
}

static void fuzz_json__request(const char *s, size_t size)
{
	char msg[256] = "";
	Roost__Request *req;
	if (json_decode_request(s, size, 0, &req, msg, sizeof msg) != 0) {
		FUZZ_CHECK(msg[0] != '\0');
		return;
	}
	size_t len;
	uint8_t *bin = fuzz_json__pack(req, &len);
	FUZZ_CHECK(len <= WIRE_MAX_FRAME);
	fuzz_json__binary_agrees(bin, len);
	fuzz_json__round_trip(req, bin, len);
	free(bin);
	json_request_free(req);
}

static void fuzz_json__document(const char *s, size_t size)
{
	char msg[256] = "";
	struct json_document d;
	if (json_parse_document(s, size, &d, msg, sizeof msg) != 0) {
		FUZZ_CHECK(msg[0] != '\0');
		return;
	}
	FUZZ_CHECK(d.dim >= 1 && d.dim <= BATCH_MAX_DIM);
	for (size_t i = 0; i < d.dim; i++)
		FUZZ_CHECK(d.vector[i] - d.vector[i] == 0); /* finite */
	FUZZ_CHECK(batch_utf8_valid(d.kind, strlen(d.kind)));
	FUZZ_CHECK(batch_utf8_valid(d.text, strlen(d.text)));
	json_document_free(&d);
}

/* Answers every request the way a server that refuses it would. */
static int fuzz_json__handler(void *ctx, const void *frame, size_t len, void **reply,
			      size_t *reply_len)
{
	(void)ctx;
	(void)frame;
	(void)len;
	return wire_encode_error(ROOST_EDIM, "request dim differs", reply, reply_len);
}

static void fuzz_json__serve(const char *s, size_t size)
{
	if (!json_is_request(s, size))
		return;
	void *reply;
	size_t n;
	FUZZ_CHECK(jsonsrv_serve(s, size, 0, fuzz_json__handler, NULL, &reply, &n) == 0);
	FUZZ_CHECK(n > 0 && ((const char *)reply)[0] == '{' && json_is_request(reply, n));
	FUZZ_CHECK(batch_utf8_valid(reply, n));
	free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: no NUL after it for the decoder to
	 * lean on, and ASan flags any read past the end. */
	char *s = fuzz_copy(data, size);
	fuzz_json__request(s, size);
	fuzz_json__document(s, size);
	fuzz_json__serve(s, size);
	free(s);
	return 0;
}
