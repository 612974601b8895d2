/* The manifest as a starting writer or a reader loads it: versions 3 to 5
 * with its collections and their segments, and versions 1 and 2, written before
 * collections, read as the one collection "default". An accepted manifest
 * is stored (always as the newest version) and loaded back, and must come
 * back the same: what the writer writes after a seal is what it will read
 * on restart. */
#include "crc32c.h"
#include "err.h"
#include "fuzz.h"
#include "manifest.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_manifest__same_coll(const struct manifest_coll *a, const struct manifest_coll *b)
{
	FUZZ_CHECK(a->id == b->id && strcmp(a->name, b->name) == 0);
	FUZZ_CHECK(coll_settings_equal(&a->settings, &b->settings));
	FUZZ_CHECK(a->created_lsn == b->created_lsn && a->tail_start == b->tail_start);
	FUZZ_CHECK(a->trained_gen == b->trained_gen && a->tail_gen == b->tail_gen &&
		   a->tomb_gen == b->tomb_gen);
}

static void fuzz_manifest__same(const struct manifest *a, const struct manifest *b)
{
	FUZZ_CHECK(a->gen == b->gen && strcmp(a->name, b->name) == 0);
	FUZZ_CHECK(a->next_coll == b->next_coll && a->catalog_lsn == b->catalog_lsn);
	FUZZ_CHECK(a->tail_start == b->tail_start);
	FUZZ_CHECK(a->ncolls == b->ncolls && a->nsegments == b->nsegments && a->nkeys == b->nkeys);
	for (uint32_t i = 0; i < a->ncolls; i++)
		fuzz_manifest__same_coll(&a->colls[i], &b->colls[i]);
	FUZZ_CHECK(memcmp(a->segments, b->segments, a->nsegments * sizeof *a->segments) == 0);
	FUZZ_CHECK(memcmp(a->keys, b->keys, a->nkeys * sizeof *a->keys) == 0);
}

/* What the writer and readers rely on without checking again. */
static void fuzz_manifest__sound(const struct manifest *m)
{
	FUZZ_CHECK(m->version >= 1 && m->version <= MANIFEST_VERSION);
	/* Versions before collections hold exactly one: "default". */
	FUZZ_CHECK(m->version >= 3 || (m->ncolls == 1 && m->colls[0].id == COLL_DEFAULT_ID &&
				       strcmp(m->colls[0].name, COLL_DEFAULT) == 0));
	for (uint32_t i = 0; i < m->ncolls; i++) {
		const struct manifest_coll *c = &m->colls[i];
		FUZZ_CHECK(coll_name_check(c->name, NULL, 0) == 0);
		FUZZ_CHECK(manifest_coll_find(m, c->id) == c &&
			   manifest_coll_named(m, c->name) == c);
		uint32_t first, n;
		manifest_segments_of(m, c->id, &first, &n);
		for (uint32_t j = first; j < first + n; j++)
			FUZZ_CHECK(m->segments[j].coll == c->id &&
				   m->segments[j].end_lsn <= c->tail_start);
	}
}

static void fuzz_manifest__one(const uint8_t *data, size_t size)
{
	struct manifest m, back;
	int rc = manifest_decode(data, size, &m);
	FUZZ_CHECK(rc == 0 || rc == ROOST_ECORRUPT || rc == ROOST_EVERSION);
	if (rc)
		return;
	fuzz_manifest__sound(&m);
	FUZZ_CHECK(manifest_store(fuzz_dir(), &m, 0600) == 0);
	FUZZ_CHECK(manifest_load(fuzz_dir(), &back) == 0);
	FUZZ_CHECK(back.version == MANIFEST_VERSION);
	fuzz_manifest__same(&m, &back);
	manifest_free(&back);
	manifest_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_manifest__one(data, size);
	/* Again with the checksum made right: almost every mutation breaks
	 * it, and the checks of the collections and segments behind it would
	 * see only the seeds. */
	if (size < sizeof(uint32_t))
		return 0;
	uint8_t *fixed = fuzz_copy(data, size);
	uint32_t crc = crc32c_update(0, fixed, size - sizeof crc);
	memcpy(fixed + size - sizeof crc, &crc, sizeof crc);
	fuzz_manifest__one(fixed, size);
	free(fixed);
	return 0;
}
