/* Tombstone files as readers and the writer load them: any bytes. What
 * tomb_decode() accepts is sorted by version, each entry ending after its
 * birth, and finds every entry it holds. */
#include "err.h"
#include "fuzz.h"
#include "tomb.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tomb *t;
	uint64_t n;
	int rc = tomb_decode(data, size, &t, &n);
	FUZZ_CHECK(rc == 0 || rc == ROOST_ECORRUPT || rc == ROOST_EVERSION || rc == ROOST_ENOMEM);
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		FUZZ_CHECK(t[i].end_lsn > t[i].version);
		FUZZ_CHECK(i == 0 || t[i].version > t[i - 1].version);
		FUZZ_CHECK(tomb_find(t, n, t[i].version) == &t[i]);
	}
	free(t);
	return 0;
}
