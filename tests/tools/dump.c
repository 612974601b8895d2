/* roost-dump: prints every document an instance has published, from its
 * sealed segments and its shared-memory tail, one line each:
 *   DOC <id> <agent> <time> <kind> <vector hash> <text>
 * each collection's after a line `COLL <name> <id>`, then
 * `END <documents> <published LSN>`. With --manifest it prints the
 * manifest instead (see dump_manifest). Used by system tests to check that
 * every acknowledged document is present exactly once with its fields. */
#include "catalog.h"
#include "ctl.h"
#include "err.h"
#include "inst.h"
#include "manifest.h"
#include "segment.h"
#include "tail.h"

#include <limits.h>
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

static int dump_open_tail(const struct inst *in, uint64_t serial, tail **out)
{
	char name[INST_PATH_MAX];
	inst_tail_path(in, serial, name, sizeof name);
	return tail_open(out, name) ? ROOST_EBUSY : 0;
}

static void dump_tail(FILE *out, const tail *t, uint64_t *total)
{
	struct segment_docs v;
	tail_view(t, &v);
	dump_docs(out, &v);
	*total += v.count;
}

/* One consistent pass over a collection: the manifest, and the tails that
 * follow its segments (a frozen one being sealed, the current one). */
static int dump_coll(const struct inst *in, catalog *cat, uint32_t id, FILE *out, uint64_t *total)
{
	struct catalog_entry e;
	if (catalog_get(cat, id, &e) != 0)
		return 0; /* dropped meanwhile */
	tail *t = NULL, *frozen = NULL;
	int rc = dump_open_tail(in, e.tail_serial, &t);
	if (rc == 0 && e.frozen_serial)
		rc = dump_open_tail(in, e.frozen_serial, &frozen);
	struct manifest m = {0};
	if (rc == 0)
		rc = manifest_load(in->data_dir, &m);
	const struct manifest_coll *mc = rc == 0 ? manifest_coll_find(&m, id) : NULL;
	int with_frozen = 0;
	if (rc == 0) /* sealed in between: try again */
		rc = tail_follows(t, frozen, mc ? mc->tail_gen : 0, &with_frozen);
	uint32_t first = 0, n = 0;
	if (rc == 0)
		manifest_segments_of(&m, id, &first, &n);
	fprintf(out, "COLL %s %u\n", e.name, id);
	for (uint32_t i = first; rc == 0 && i < first + n; i++) {
		char path[INST_PATH_MAX];
		struct segment_docs d;
		const struct manifest_segment *sg = &m.segments[i];
		manifest_segment_path(in->data_dir, id, sg->start_lsn, sg->end_lsn, "docs", path,
				      sizeof path);
		rc = segment_load(path, SEGMENT_WITH_VECTORS, &d);
		if (rc == ROOST_ENOENT && manifest_moved_on(in->data_dir, m.gen))
			rc = ROOST_EBUSY; /* compacted in between: try again */
		if (rc == 0) {
			dump_docs(out, &d);
			*total += d.count;
			segment_free(&d);
		}
	}
	if (rc == 0 && with_frozen)
		dump_tail(out, frozen, total);
	if (rc == 0)
		dump_tail(out, t, total);
	manifest_free(&m);
	tail_close(frozen);
	tail_close(t);
	return rc;
}

/* Every collection, as of the published mark read first. */
static int dump_once(const struct inst *in, ctl *c, catalog *cat, FILE *out, uint64_t *total,
		     uint64_t *end)
{
	struct catalog_entry *all = calloc(CATALOG_SLOTS, sizeof *all);
	size_t n = 0;
	if (!all)
		return ROOST_ENOMEM;
	*end = ctl_mark(c, CTL_PUBLISHED);
	catalog_list(cat, all, CATALOG_SLOTS, &n);
	int rc = 0;
	*total = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = dump_coll(in, cat, all[i].id, out, total);
	free(all);
	return rc;
}

/* The manifest, one line per field group, for tests:
 *   MANIFEST version V gen G tail_start T catalog_lsn C next_coll N name [NAME]
 *   COLLECTION id name dim metric index tail_start tail_gen trained_gen created_lsn tomb_gen
 *              indexed_keys ("-": none) index_gen reclaimed_lsn
 *   SEGMENT coll start_lsn end_lsn count index_gen
 *   FILE name        (each file in the directory the manifest refers to)
 *   KEYS n */
static void dump_file_line(int rc, const char *path)
{
	if (rc == 0)
		printf("FILE %s\n", strrchr(path, '/') + 1);
}

static int dump_manifest(const struct inst *in)
{
	char path[PATH_MAX];
	struct manifest m;
	int rc = manifest_load(in->data_dir, &m);
	if (rc)
		return rc;
	printf(
	    "MANIFEST version %u gen %llu tail_start %llu catalog_lsn %llu next_coll %u name %s\n",
	    m.version, (unsigned long long)m.gen, (unsigned long long)m.tail_start,
	    (unsigned long long)m.catalog_lsn, m.next_coll, m.name);
	for (uint32_t i = 0; i < m.ncolls; i++) {
		const struct manifest_coll *c = &m.colls[i];
		printf("COLLECTION %u %s %u %u %s %llu %llu %llu %llu %llu %s %llu %llu\n", c->id,
		       c->name, c->settings.dim, c->settings.metric, c->settings.index,
		       (unsigned long long)c->tail_start, (unsigned long long)c->tail_gen,
		       (unsigned long long)c->trained_gen, (unsigned long long)c->created_lsn,
		       (unsigned long long)c->tomb_gen,
		       c->settings.indexed_keys[0] ? c->settings.indexed_keys : "-",
		       (unsigned long long)c->index_gen, (unsigned long long)c->reclaimed_lsn);
		if (c->tomb_gen)
			dump_file_line(
			    manifest_tomb_path(in->data_dir, c->id, c->tomb_gen, path, sizeof path),
			    path);
		if (c->trained_gen)
			dump_file_line(manifest_trained_path(in->data_dir, c->id, c->trained_gen,
							     path, sizeof path),
				       path);
	}
	for (uint32_t i = 0; i < m.nsegments; i++) {
		const struct manifest_segment *sg = &m.segments[i];
		printf("SEGMENT %u %llu %llu %llu %u\n", sg->coll,
		       (unsigned long long)sg->start_lsn, (unsigned long long)sg->end_lsn,
		       (unsigned long long)sg->count, sg->index_gen);
		dump_file_line(manifest_index_path(in->data_dir, sg, path, sizeof path), path);
		dump_file_line(manifest_segment_path(in->data_dir, sg->coll, sg->start_lsn,
						     sg->end_lsn, "docs", path, sizeof path),
			       path);
	}
	printf("KEYS %u\n", m.nkeys);
	manifest_free(&m);
	return 0;
}

int main(int argc, char **argv)
{
	int manifest = argc > 1 && strcmp(argv[1], "--manifest") == 0;
	argv += manifest;
	argc -= manifest;
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: roost-dump [--manifest] NAME [DATA_DIR]\n");
		return 2;
	}
	struct inst in;
	if (inst_init(&in, argv[1], argc == 3 ? argv[2] : NULL) != 0) {
		fprintf(stderr, "roost-dump: bad instance name '%s'\n", argv[1]);
		return 2;
	}
	if (manifest) {
		int rc = dump_manifest(&in);
		if (rc)
			fprintf(stderr, "roost-dump: %s/MANIFEST: %s\n", in.data_dir,
				roost_strerror(rc));
		return rc ? 1 : 0;
	}
	ctl *c;
	catalog *cat;
	char why[INST_WHY_MAX];
	if (inst_shm_find(&in, why, sizeof why) != 0 ||
	    ctl_open(&c, in.ctl_path, CTL_READ_ONLY) != 0) {
		fprintf(stderr, "roost-dump: no instance '%s'\n", argv[1]);
		return 1;
	}
	if (catalog_open(&cat, in.catalog_path) != 0) {
		fprintf(stderr, "roost-dump: instance '%s' has no catalog\n", argv[1]);
		ctl_close(c);
		return 1;
	}
	int rc = ROOST_EBUSY;
	for (int tries = 0; rc == ROOST_EBUSY && tries < 100; tries++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		uint64_t total = 0, end = 0;
		rc = dump_once(&in, c, cat, mem, &total, &end);
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
	catalog_close(cat);
	ctl_close(c);
	if (rc)
		fprintf(stderr, "roost-dump: %s\n", roost_strerror(rc));
	return rc ? 1 : 0;
}
