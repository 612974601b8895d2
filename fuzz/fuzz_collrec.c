/* Collection records as the writer reads them from the ring or replays
 * them from its log: any bytes may be there. collrec_parse() must accept
 * only what collrec_write() could have written, so an accepted record is
 * written again to exactly the same bytes: no byte of it is ignored, and
 * the writer applies what the broker meant or nothing. */
#include "collrec.h"
#include "err.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

/* What the writer relies on without checking again. */
static void fuzz_collrec__sound(const struct collrec *r)
{
	FUZZ_CHECK(r->op == COLLREC_CREATE || r->op == COLLREC_DROP);
	FUZZ_CHECK(coll_name_check(r->name, NULL, 0) == 0);
	if (r->op == COLLREC_DROP)
		return;
	FUZZ_CHECK(r->id == 0);
	FUZZ_CHECK(r->settings.dim >= 1 && r->settings.dim <= COLL_MAX_DIM);
	FUZZ_CHECK(r->settings.metric <= 1);
	FUZZ_CHECK(memchr(r->settings.index, '\0', sizeof r->settings.index) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *rec = fuzz_copy(data, size);
	struct collrec r;
	int rc = collrec_parse(rec, size, &r);
	FUZZ_CHECK(rc == 0 || rc == ROOST_ECORRUPT);
	if (rc == 0) {
		FUZZ_CHECK(size == COLLREC_SIZE && collrec_is(rec, size));
		fuzz_collrec__sound(&r);
		uint8_t *again = fuzz_copy(NULL, COLLREC_SIZE);
		collrec_write(&r, again);
		FUZZ_CHECK(memcmp(again, rec, COLLREC_SIZE) == 0);
		free(again);
	}
	free(rec);
	return 0;
}
