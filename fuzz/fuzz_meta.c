/* Document metadata as brokers receive it (proto/meta.h): any bytes. What
 * meta_check accepts is spliced into JSON replies as it is, so it must be
 * one JSON object that the strict JSON reader takes too; and whatever it
 * refuses, its message is one line of valid UTF-8. */
#include "batch.h"
#include "err.h"
#include "fuzz.h"
#include "jsonlex.h"
#include "meta.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy(data, size);
	char msg[256];
	int rc = meta_check(text, size, msg, sizeof msg);
	if (rc == 0) {
		FUZZ_CHECK(size <= BATCH_MAX_META && batch_utf8_valid(text, size));
		/* The same bytes read as one value of any depth: an object. */
		struct jsonlex lx;
		jsonlex_begin(&lx, text, size, NULL, 0);
		FUZZ_CHECK(jsonlex_peek(&lx) == '{');
		FUZZ_CHECK(jsonlex_any(&lx, META_MAX_DEPTH) == 0 && jsonlex_peek(&lx) < 0);
	} else {
		FUZZ_CHECK(rc == ROOST_EPROTO || rc == ROOST_EINVAL || rc == ROOST_EUTF8 ||
			   rc == ROOST_ETOOBIG || rc == ROOST_ENOMEM);
		size_t n = strnlen(msg, sizeof msg);
		FUZZ_CHECK(n > 0 && n < sizeof msg && batch_utf8_valid(msg, n) &&
			   memchr(msg, '\n', n) == NULL);
	}
	free(text);
	return 0;
}
