/* roost-dump: prints every document an instance has published, from its
 * sealed segments and its shared-memory tail, one line each:
 *   DOC <id> <agent> <time> <kind> <vector hash> <text>
 * then `END <documents> <published LSN>`. Used by system tests to check that
 * every acknowledged document is present exactly once with its fields. */
#include "ctl.h"
#include "err.h"
#include "inst.h"
#include "manifest.h"
#include "segment.h"
#include "tail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t dump_hash(const float *v, uint32_t dim)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p = (const unsigned char *)v;
	for (size_t i = 0; i < dim * sizeof(float); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void dump_docs(FILE *out, const struct segment_docs *d)
{
	for (uint64_t i = 0; i < d->count; i++) {
		uint32_t off = d->text_off[i], len = d->text_len[i];
		if ((uint64_t)off + len > d->text_bytes)
			len = 0;
		fprintf(out, "DOC %llu %lld %lld %.*s %016llx %.*s\n",
			(unsigned long long)d->ids[i], (long long)d->agents[i],
			(long long)d->times[i], d->kinds[i].len, d->kinds[i].name,
			(unsigned long long)dump_hash(d->vectors + i * d->dim, d->dim), (int)len,
			d->text + off);
	}
}

/* One consistent pass: the manifest and the tail that follows it. */
static int dump_once(const struct inst *in, ctl *c, FILE *out, uint64_t *total, uint64_t *end)
{
	uint64_t serial = ctl_tail_serial(c);
	char name[INST_PATH_MAX];
	inst_tail_path(in, serial, name, sizeof name);
	tail *t;
	int rc = tail_open(&t, name);
	if (rc)
		return ROOST_EBUSY;
	struct manifest m = {0};
	rc = manifest_load(in->data_dir, &m);
	if (rc == 0 && m.gen != tail_manifest_gen(t))
		rc = ROOST_EBUSY; /* sealed in between: try again */
	*total = 0;
	for (uint32_t i = 0; rc == 0 && i < m.nsegments; i++) {
		char path[INST_PATH_MAX];
		struct segment_docs d;
		manifest_segment_path(in->data_dir, m.segments[i].start_lsn, m.segments[i].end_lsn,
				      "docs", path, sizeof path);
		rc = segment_load(path, SEGMENT_WITH_VECTORS, &d);
		if (rc == ROOST_ENOENT && manifest_moved_on(in->data_dir, m.gen))
			rc = ROOST_EBUSY; /* compacted in between: try again */
		if (rc == 0) {
			dump_docs(out, &d);
			*total += d.count;
			segment_free(&d);
		}
	}
	if (rc == 0) {
		struct segment_docs v;
		tail_view(t, &v);
		dump_docs(out, &v);
		*total += v.count;
		*end = v.end_lsn;
	}
	manifest_free(&m);
	tail_close(t);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: roost-dump NAME [DATA_DIR]\n");
		return 2;
	}
	struct inst in;
	ctl *c;
	char why[INST_WHY_MAX];
	if (inst_init(&in, argv[1], argc == 3 ? argv[2] : NULL) != 0 ||
	    inst_shm_find(&in, why, sizeof why) != 0 ||
	    ctl_open(&c, in.ctl_path, CTL_READ_ONLY) != 0) {
		fprintf(stderr, "roost-dump: no instance '%s'\n", argv[1]);
		return 1;
	}
	int rc = ROOST_EBUSY;
	for (int tries = 0; rc == ROOST_EBUSY && tries < 100; tries++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		uint64_t total = 0, end = 0;
		rc = dump_once(&in, c, mem, &total, &end);
		fclose(mem);
		if (rc == 0) {
			fwrite(buf, 1, len, stdout);
			printf("END %llu %llu\n", (unsigned long long)total,
			       (unsigned long long)end);
		}
		free(buf);
		if (rc == ROOST_EBUSY)
			usleep(20 * 1000);
	}
	ctl_close(c);
	if (rc)
		fprintf(stderr, "roost-dump: %s\n", roost_strerror(rc));
	return rc ? 1 : 0;
}
