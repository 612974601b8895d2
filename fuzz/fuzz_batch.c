/* Batch records as the writer reads them from the ring or its log: any
 * bytes may be there (a broker's memory bug, a corrupt disk). A record
 * that batch_parse() accepts is walked the way the writer copies it into
 * the tail, so ASan sees every byte the writer would touch. */
#include "batch.h"
#include "fuzz.h"
#include "meta.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fuzz_batch__walk(const struct batch_view *v)
{
	const struct batch_header *h = v->hdr;
	uint64_t sum = 0;
	for (uint32_t i = 0; i < h->count; i++) {
		const struct batch_doc *d = &v->docs[i];
		FUZZ_CHECK(d->kind_len <= BATCH_KIND_MAX && d->text_len <= BATCH_MAX_TEXT);
		FUZZ_CHECK(batch_utf8_valid(v->text + d->text_off, d->text_len));
		for (uint32_t j = 0; j < d->text_len; j++)
			sum += (unsigned char)v->text[d->text_off + j];
		for (uint32_t j = 0; j < d->kind_len; j++)
			sum += (unsigned char)d->kind[j];
		uint32_t klen, mlen;
		const char *key = batch_key(v, i, &klen);
		const char *meta = batch_meta(v, i, &mlen);
		FUZZ_CHECK(klen == 0 || batch_key_valid(key, klen));
		FUZZ_CHECK(mlen == 0 || meta_check(meta, mlen, NULL, 0) == 0);
		for (uint32_t j = 0; j < klen; j++)
			sum += (unsigned char)key[j];
		for (uint32_t j = 0; j < mlen; j++)
			sum += (unsigned char)meta[j];
	}
	for (uint64_t j = 0; j < (uint64_t)h->count * h->dim; j++)
		sum += v->vectors[j] > 0;
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *rec = fuzz_copy(data, size);
	struct batch_view v;
	if (batch_parse(rec, size, 0, &v) == 0) {
		/* The writer passes the collection's dimension: same answer. */
		struct batch_view again;
		FUZZ_CHECK(batch_parse(rec, size, v.hdr->dim, &again) == 0);
		/* Records of the current version have its size; older ones
		 * (replayed from old logs) have no refs section. */
		FUZZ_CHECK((v.hdr->version == BATCH_VERSION) ==
			   (batch_size(v.hdr->dim, v.hdr->count, v.hdr->text_bytes) == size));
		FUZZ_CHECK((v.refs != NULL) == (v.hdr->version == BATCH_VERSION));
		volatile uint64_t sink = fuzz_batch__walk(&v);
		(void)sink;
	}
	free(rec);
	return 0;
}
