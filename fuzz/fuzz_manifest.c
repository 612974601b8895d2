/* The manifest as a starting writer or a reader loads it. An accepted
 * manifest is stored and loaded back, and must come back the same: what
 * the writer writes after a seal is what it will read on restart. */
#include "err.h"
#include "fuzz.h"
#include "manifest.h"

#include <string.h>

static void fuzz_manifest__same(const struct manifest *a, const struct manifest *b)
{
	FUZZ_CHECK(a->gen == b->gen && a->dim == b->dim && a->metric == b->metric);
	FUZZ_CHECK(strcmp(a->index, b->index) == 0 && strcmp(a->name, b->name) == 0);
	FUZZ_CHECK(a->tail_start == b->tail_start && a->trained_gen == b->trained_gen);
	FUZZ_CHECK(a->nsegments == b->nsegments && a->nkeys == b->nkeys);
	FUZZ_CHECK(memcmp(a->segments, b->segments, a->nsegments * sizeof *a->segments) == 0);
	FUZZ_CHECK(memcmp(a->keys, b->keys, a->nkeys * sizeof *a->keys) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m, back;
	int rc = manifest_decode(data, size, &m);
	FUZZ_CHECK(rc == 0 || rc == ROOST_ECORRUPT || rc == ROOST_EVERSION);
	if (rc)
		return 0;
	FUZZ_CHECK(manifest_store(fuzz_dir(), &m) == 0);
	FUZZ_CHECK(manifest_load(fuzz_dir(), &back) == 0);
	fuzz_manifest__same(&m, &back);
	manifest_free(&back);
	manifest_free(&m);
	return 0;
}
