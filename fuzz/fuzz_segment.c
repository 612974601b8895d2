/* A sealed segment's documents file as a reader or a restarting writer
 * loads it. An accepted segment is walked the way readers build hits, and
 * stored and loaded back unchanged. */
#include "err.h"
#include "fuzz.h"
#include "segment.h"

#include <limits.h>
#include <string.h>

static void fuzz_segment__walk(const struct segment_docs *d)
{
	uint64_t sum = 0;
	for (uint64_t i = 0; i < d->count; i++) {
		FUZZ_CHECK((uint64_t)d->text_off[i] + d->text_len[i] <= d->text_bytes);
		FUZZ_CHECK(d->kinds[i].len <= sizeof d->kinds[i].name);
		for (uint32_t j = 0; j < d->text_len[i]; j++)
			sum += (unsigned char)d->text[d->text_off[i] + j];
		sum += d->ids[i] + (uint64_t)d->agents[i] + (uint64_t)d->times[i];
	}
	for (uint64_t j = 0; j < d->count * d->dim; j++)
		sum += d->vectors[j] > 0;
	volatile uint64_t sink = sum;
	(void)sink;
}

#define FUZZ_SEGMENT_SAME_COL(a, b, col, n) memcmp((a)->col, (b)->col, (n) * sizeof *(a)->col) == 0

static void fuzz_segment__same(const struct segment_docs *a, const struct segment_docs *b)
{
	uint64_t n = a->count;
	FUZZ_CHECK(a->dim == b->dim && n == b->count && a->text_bytes == b->text_bytes);
	FUZZ_CHECK(a->start_lsn == b->start_lsn && a->end_lsn == b->end_lsn);
	FUZZ_CHECK(
	    FUZZ_SEGMENT_SAME_COL(a, b, ids, n) && FUZZ_SEGMENT_SAME_COL(a, b, agents, n) &&
	    FUZZ_SEGMENT_SAME_COL(a, b, times, n) && FUZZ_SEGMENT_SAME_COL(a, b, text_off, n) &&
	    FUZZ_SEGMENT_SAME_COL(a, b, text_len, n) && FUZZ_SEGMENT_SAME_COL(a, b, kinds, n) &&
	    FUZZ_SEGMENT_SAME_COL(a, b, text, a->text_bytes) &&
	    FUZZ_SEGMENT_SAME_COL(a, b, vectors, n * a->dim));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct segment_docs d, back;
	int rc = segment_decode(data, size, &d);
	FUZZ_CHECK(rc == 0 || rc == ROOST_ECORRUPT || rc == ROOST_EVERSION);
	if (rc)
		return 0;
	fuzz_segment__walk(&d);
	char path[PATH_MAX];
	fuzz_path(path, fuzz_dir(), "seg.docs");
	FUZZ_CHECK(segment_store(path, &d, 0600) == 0);
	FUZZ_CHECK(segment_load(path, SEGMENT_WITH_VECTORS, &back) == 0);
	fuzz_segment__same(&d, &back);
	segment_free(&back);
	segment_free(&d);
	return 0;
}
