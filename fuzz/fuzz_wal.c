/* The write-ahead log as the writer replays it on start. The input is two
 * log files (its first two bytes say where the first ends). Replay must
 * deliver records in strictly increasing LSN order, aligned, and whatever
 * it accepts must be a log the writer can continue: after a successful
 * replay (which cuts a torn tail off), appending a record and replaying
 * again must succeed and end with that record. */
#include "batch.h"
#include "collrec.h"
#include "err.h"
#include "fuzz.h"
#include "wal.h"

#include <limits.h>
#include <string.h>

struct fuzz_wal__seen {
	uint64_t end;  /* next of the last record delivered */
	uint64_t last; /* lsn of the last record delivered */
	uint64_t records;
};

static int fuzz_wal__record(void *arg, uint64_t lsn, uint64_t next, const void *payload,
			    uint32_t len)
{
	struct fuzz_wal__seen *s = arg;
	FUZZ_CHECK(((uintptr_t)payload & 7) == 0);
	FUZZ_CHECK(lsn < next && lsn >= s->end && len <= WAL_MAX_PAYLOAD);
	s->end = next;
	s->last = lsn;
	s->records++;
	/* What the writer does with each record: a collection record or a
	 * batch, told apart by the magic. */
	struct collrec r;
	struct batch_view v;
	if (collrec_is(payload, len))
		collrec_parse(payload, len, &r);
	else
		batch_parse(payload, len, 0, &v);
	return 0;
}

static void fuzz_wal__write(const char *name, const uint8_t *data, size_t len)
{
	char path[PATH_MAX];
	if (len == 0)
		return;
	fuzz_path(path, fuzz_dir(), name);
	FUZZ_CHECK(fuzz_write_file(path, data, len) == 0);
}

/* The writer's next steps after a replay that ended at end. */
static void fuzz_wal__continue(uint64_t end)
{
	static const char more[] = "appended after replay";
	wal *w;
	if (end > UINT64_MAX - 64)
		return;
	FUZZ_CHECK(wal_open(&w, fuzz_dir(), end) == 0);
	FUZZ_CHECK(wal_append(w, end, end + 16, more, sizeof more) == 0);
	FUZZ_CHECK(wal_sync(w) == 0);
	wal_close(w);
	struct fuzz_wal__seen s = {0};
	uint64_t end2;
	FUZZ_CHECK(wal_replay(fuzz_dir(), 0, fuzz_wal__record, &s, &end2) == 0);
	FUZZ_CHECK(s.last == end && end2 == end + 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t split = ((size_t)data[0] | (size_t)data[1] << 8) % (size - 1);
	fuzz_clear_dir(fuzz_dir());
	fuzz_wal__write("wal-0000000000000000.log", data + 2, split);
	fuzz_wal__write("wal-0000000000100000.log", data + 2 + split, size - 2 - split);
	struct fuzz_wal__seen s = {0};
	uint64_t end;
	int rc = wal_replay(fuzz_dir(), 0, fuzz_wal__record, &s, &end);
	FUZZ_CHECK(rc == 0 || rc == ROOST_ECORRUPT);
	if (rc == 0) {
		FUZZ_CHECK(end == s.end);
		fuzz_wal__continue(end);
	}
	return 0;
}
