/* Delete records as the writer reads them from the ring or its log: any
 * bytes may be there. A record delrec_parse() accepts is walked the way
 * the writer applies it, so ASan sees every byte it would touch, and
 * every id in it follows the id rules. */
#include "batch.h"
#include "delrec.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *rec = fuzz_copy(data, size);
	struct delrec_view v;
	if (delrec_parse(rec, size, &v) == 0) {
		FUZZ_CHECK(delrec_is(rec, size));
		FUZZ_CHECK(delrec_size(v.hdr->count, v.hdr->key_bytes) == size);
		uint64_t sum = 0;
		for (uint32_t i = 0; i < v.hdr->count; i++) {
			const struct delrec_id *id = &v.ids[i];
			if (id->key_len == 0) {
				FUZZ_CHECK(id->number != 0);
				continue;
			}
			FUZZ_CHECK(batch_key_valid(v.keys + id->key_off, id->key_len));
			for (uint32_t j = 0; j < id->key_len; j++)
				sum += (unsigned char)v.keys[id->key_off + j];
		}
		volatile uint64_t sink = sum;
		(void)sink;
	}
	free(rec);
	return 0;
}
