/* The tail as a reader maps it: a shared-memory object whose header the
 * writer wrote, and which readers must not trust. The input becomes the
 * object's bytes. When tail_open() accepts it, every published row is read
 * the way a reader builds a hit, and each read must lie inside the object
 * (ASan does not see the bounds of a shared mapping, so this target checks
 * them itself). */
#include "fuzz.h"
#include "tail.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

struct fuzz_tail__obj {
	const char *base;
	size_t size;
};

static void fuzz_tail__inside(const struct fuzz_tail__obj *o, const void *p, uint64_t len)
{
	const char *c = p;
	FUZZ_CHECK(c >= o->base && (uint64_t)(c - o->base) <= o->size &&
		   len <= o->size - (uint64_t)(c - o->base));
}

/* The reads of reader/rsearch.c for one hit, with its guards. */
static void fuzz_tail__row(const struct fuzz_tail__obj *o, const struct segment_docs *d,
			   uint64_t row)
{
	fuzz_tail__inside(o, &d->ids[row], sizeof d->ids[row]);
	fuzz_tail__inside(o, &d->agents[row], sizeof d->agents[row]);
	fuzz_tail__inside(o, &d->times[row], sizeof d->times[row]);
	fuzz_tail__inside(o, &d->kinds[row], sizeof d->kinds[row]);
	fuzz_tail__inside(o, &d->text_off[row], sizeof d->text_off[row]);
	fuzz_tail__inside(o, &d->text_len[row], sizeof d->text_len[row]);
	uint32_t off = d->text_off[row], len = d->text_len[row];
	/* A reader drops a text that would end past the column. */
	if ((uint64_t)off + len <= d->text_bytes)
		fuzz_tail__inside(o, d->text + off, len);
	fuzz_tail__inside(o, d->vectors + row * d->dim, d->dim * sizeof(float));
}

static int fuzz_tail__make(const char *name, const uint8_t *data, size_t size)
{
	unlink(name);
	int fd = open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	int ok = ftruncate(fd, (off_t)size) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size;
	close(fd);
	return ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[PATH_MAX];
	fuzz_path(name, fuzz_dir(), "tail");
	if (size == 0 || fuzz_tail__make(name, data, size) != 0)
		return 0;
	tail *t;
	if (tail_open(&t, name) == 0) {
		size_t mapped;
		const char *base = tail_mapping(t, &mapped);
		struct fuzz_tail__obj o = {base, mapped};
		struct segment_docs d;
		tail_view(t, &d);
		for (uint64_t row = 0; row < d.count; row++)
			fuzz_tail__row(&o, &d, row);
		tail_close(t);
	}
	unlink(name);
	return 0;
}
