/* Collection records as the writer reads them from the ring or replays
 * them from its log: any bytes may be there. collrec_parse() must accept
 * only what collrec_write() could have written, so an accepted record is
 * written again to exactly the same bytes: no byte of it is ignored, and
 * the writer applies what the broker meant or nothing. A version 1 record
 * is written again as the same bytes in the newest version, with no
 * indexed keys. */
#include "collrec.h"
#include "err.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

/* What the writer relies on without checking again. */
static void fuzz_collrec__sound(const struct collrec *r)
{
	FUZZ_CHECK(r->op == COLLREC_CREATE || r->op == COLLREC_DROP || r->op == COLLREC_ALTER ||
		   r->op == COLLREC_FORK);
	FUZZ_CHECK(coll_name_check(r->name, NULL, 0) == 0);
	FUZZ_CHECK(r->op == COLLREC_FORK || r->as_of_lsn == 0);
	if (r->op == COLLREC_FORK) {
		FUZZ_CHECK(r->id != 0 && r->settings.dim == 0 && r->settings.index[0] == 0);
		return;
	}
	if (r->op == COLLREC_DROP)
		return;
	FUZZ_CHECK(memchr(r->settings.index, '\0', sizeof r->settings.index) != NULL);
	if (r->op == COLLREC_ALTER) {
		FUZZ_CHECK(r->settings.dim == 0 && r->settings.seal_docs == 0);
		return;
	}
	FUZZ_CHECK(r->id == 0);
	FUZZ_CHECK(r->settings.dim >= 1 && r->settings.dim <= COLL_MAX_DIM);
	FUZZ_CHECK(r->settings.metric <= 1);
	FUZZ_CHECK(coll_keys_check(r->settings.indexed_keys, NULL, 0) == 0);
}

/* again (the newest version) says what rec (of size bytes) said. */
static int fuzz_collrec__same(const uint8_t *again, const uint8_t *rec, size_t size)
{
	if (size == COLLREC_SIZE)
		return memcmp(again, rec, COLLREC_SIZE) == 0;
	uint8_t *old = fuzz_copy(again, COLLREC_SIZE);
	old[4] = 1; /* the version, little-endian */
	int same = memcmp(old, rec, COLLREC_V1_SIZE) == 0;
	for (size_t i = COLLREC_V1_SIZE; i < COLLREC_SIZE; i++)
		same &= old[i] == 0;
	free(old);
	return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *rec = fuzz_copy(data, size);
	struct collrec r;
	int rc = collrec_parse(rec, size, &r);
	FUZZ_CHECK(rc == 0 || rc == ROOST_ECORRUPT);
	if (rc == 0) {
		FUZZ_CHECK((size == COLLREC_SIZE || size == COLLREC_V1_SIZE) &&
			   collrec_is(rec, size));
		fuzz_collrec__sound(&r);
		uint8_t *again = fuzz_copy(NULL, COLLREC_SIZE);
		collrec_write(&r, again);
		FUZZ_CHECK(fuzz_collrec__same(again, rec, size));
		free(again);
	}
	free(rec);
	return 0;
}
