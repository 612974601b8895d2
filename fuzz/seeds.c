/* fuzz_seeds OUTDIR: writes a seed corpus for every fuzz target into
 * OUTDIR/<target>/, made by the real encoders (protobuf-c, wire_batch_write,
 * collrec_write, wal, manifest_store, segment_store, tail_create), so seeds
 * follow the formats as they change and the fuzzers start from valid
 * inputs. */
#include "batch.h"
#include "collrec.h"
#include "fuzz.h"
#include "manifest.h"
#include "segment.h"
#include "tail.h"
#include "tomb.h"
#include "wal.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEEDS_DIM  4
#define SEEDS_DOCS 3
#define SEEDS_COLL 7 /* the id of the seeds' batches' collection */

static const char *seeds__out;

static void seeds__put(const char *target, const char *name, const void *data, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX];
	fuzz_path(dir, seeds__out, target);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		fuzz_fail(__FILE__, __LINE__, dir);
	fuzz_path(path, dir, name);
	FUZZ_CHECK(fuzz_write_file(path, data, len) == 0);
}

static void seeds__put_file(const char *target, const char *name, const char *path)
{
	void *data;
	size_t len;
	FUZZ_CHECK(fuzz_read_file(path, &data, &len) == 0);
	seeds__put(target, name, data, len);
	free(data);
}

/* Storage for one add request of SEEDS_DOCS documents. */
struct seeds_add {
	Roost__AddRequest add;
	Roost__Document docs[SEEDS_DOCS];
	Roost__Document *ptrs[SEEDS_DOCS];
	float vec[SEEDS_DOCS][SEEDS_DIM];
};

static void seeds__add(struct seeds_add *s, uint64_t seq)
{
	static char *texts[SEEDS_DOCS] = {"hello", "", "caf\xc3\xa9 \xe2\x98\x95"};
	static char *kinds[SEEDS_DOCS] = {"tweet", "article", ""};
	static char *ids[SEEDS_DOCS] = {"post-1", "", "r\xc3\xa9ply"};
	static char *metas[SEEDS_DOCS] = {"{\"topic\":\"cats\",\"orig\":null}", "", "{}"};
	roost__add_request__init(&s->add);
	for (int i = 0; i < SEEDS_DOCS; i++) {
		roost__document__init(&s->docs[i]);
		for (int j = 0; j < SEEDS_DIM; j++)
			s->vec[i][j] = (float)(i - j) * 0.25f;
		s->docs[i].n_vector = SEEDS_DIM;
		s->docs[i].vector = s->vec[i];
		s->docs[i].agent = 7 + i;
		s->docs[i].time = 1700000000 + i;
		s->docs[i].kind = kinds[i];
		s->docs[i].text = texts[i];
		s->docs[i].id = ids[i];
		s->docs[i].metadata = metas[i];
		s->ptrs[i] = &s->docs[i];
	}
	s->add.dim = SEEDS_DIM;
	s->add.n_docs = SEEDS_DOCS;
	s->add.docs = s->ptrs;
	s->add.client_id = 42;
	s->add.seq = seq;
	s->add.ack = ROOST__ACK_MODE__ACK_VISIBLE;
}

static void seeds__request(const char *name, const Roost__Request *req)
{
	size_t len = roost__request__get_packed_size(req);
	uint8_t *buf = fuzz_copy(NULL, len);
	roost__request__pack(req, buf);
	seeds__put("wire", name, buf, len);
	free(buf);
}

/* Create (with every setting, and with the writer's defaults), drop,
 * alter and list. */
static void seeds__wire_collections(Roost__Request *req)
{
	Roost__CollectionSettings cs = ROOST__COLLECTION_SETTINGS__INIT;
	cs.dim = 384;
	cs.metric = ROOST__METRIC__METRIC_INNER_PRODUCT;
	cs.index = "IVF64,PQ16";
	cs.train_docs = 4096;
	cs.seal_docs = 8192;
	cs.seal_interval_ms = 2000;
	static const char *const keys[] = {"user", "topic"};
	cs.n_indexed_keys = 2;
	cs.indexed_keys = (char **)keys;
	Roost__CreateCollectionRequest create = ROOST__CREATE_COLLECTION_REQUEST__INIT;
	create.name = "posts";
	create.settings = &cs;
	create.client_id = 42;
	create.seq = 2;
	req->op_case = ROOST__REQUEST__OP_CREATE_COLLECTION;
	req->create_collection = &create;
	seeds__request("create", req);
	Roost__CollectionSettings dflt = ROOST__COLLECTION_SETTINGS__INIT;
	dflt.dim = SEEDS_DIM;
	create.name = "a.b-c_9";
	create.settings = &dflt;
	seeds__request("create-defaults", req);

	Roost__DropCollectionRequest drop = ROOST__DROP_COLLECTION_REQUEST__INIT;
	drop.name = "posts";
	drop.client_id = 42;
	drop.seq = 3;
	req->op_case = ROOST__REQUEST__OP_DROP_COLLECTION;
	req->drop_collection = &drop;
	seeds__request("drop", req);

	Roost__AlterCollectionRequest alter = ROOST__ALTER_COLLECTION_REQUEST__INIT;
	alter.name = "posts";
	alter.index = "HNSW32";
	alter.train_docs = 20000;
	alter.client_id = 42;
	alter.seq = 4;
	req->op_case = ROOST__REQUEST__OP_ALTER_COLLECTION;
	req->alter_collection = &alter;
	seeds__request("alter", req);

	Roost__ListCollectionsRequest list = ROOST__LIST_COLLECTIONS_REQUEST__INIT;
	req->op_case = ROOST__REQUEST__OP_LIST_COLLECTIONS;
	req->list_collections = &list;
	seeds__request("list", req);
}

static void seeds__wire(void)
{
	struct seeds_add s;
	seeds__add(&s, 1);
	Roost__Request req = ROOST__REQUEST__INIT;
	req.version = WIRE_VERSION;
	req.op_case = ROOST__REQUEST__OP_ADD;
	req.add = &s.add;
	seeds__request("add", &req);
	s.add.collection = "posts";
	seeds__request("add-posts", &req);

	float queries[2 * SEEDS_DIM] = {1, 0, 0, 0, 0, 1, 0, 0};
	int64_t agents[] = {7, 9};
	Roost__Filter filter = ROOST__FILTER__INIT;
	filter.n_agents = 2;
	filter.agents = agents;
	filter.has_time_range = 1;
	filter.time_max = 1700000001;
	filter.kind = "tweet";
	Roost__SearchRequest search = ROOST__SEARCH_REQUEST__INIT;
	search.dim = SEEDS_DIM;
	search.n_queries = 2 * SEEDS_DIM;
	search.queries = queries;
	search.k = 10;
	search.filter = &filter;
	search.min_lsn = 12345;
	req.op_case = ROOST__REQUEST__OP_SEARCH;
	req.search = &search;
	seeds__request("search", &req);
	search.collection = "posts";
	seeds__request("search-posts", &req);

	Roost__StatusRequest status = ROOST__STATUS_REQUEST__INIT;
	req.op_case = ROOST__REQUEST__OP_STATUS;
	req.status = &status;
	seeds__request("status", &req);
	status.collection = "default";
	seeds__request("status-default", &req);
	seeds__wire_collections(&req);
}

/* A batch record of seq into a malloc'ed buffer. */
static void *seeds__batch(uint64_t seq, size_t *len)
{
	struct seeds_add s;
	seeds__add(&s, seq);
	*len = wire_batch_size(&s.add);
	void *rec = fuzz_copy(NULL, *len);
	wire_batch_write(&s.add, SEEDS_COLL, rec);
	return rec;
}

static void seeds__batches(void)
{
	size_t len;
	void *rec = seeds__batch(1, &len);
	seeds__put("batch", "three-docs", rec, len);
	/* Version 1, written before collections: no collection id. */
	struct batch_header h;
	memcpy(&h, rec, sizeof h);
	h.version = 1;
	h.collection = 0;
	memcpy(rec, &h, sizeof h);
	seeds__put("batch", "version-1", rec, len);
	free(rec);
}

/* A create with every setting given and a drop. */
static void seeds__collrecs(uint8_t create[COLLREC_SIZE], uint8_t drop[COLLREC_SIZE])
{
	struct collrec c = {.op = COLLREC_CREATE,
			    .client_id = 42,
			    .seq = 2,
			    .name = "posts",
			    .settings = {.dim = 384,
					 .metric = 1,
					 .index = "IVF64,PQ16",
					 .train_docs = 4096,
					 .seal_docs = 8192,
					 .seal_interval_ms = 2000,
					 .indexed_keys = "user,topic"}};
	collrec_write(&c, create);
	struct collrec d = {
	    .op = COLLREC_DROP, .client_id = 42, .seq = 3, .name = "posts", .id = 9};
	collrec_write(&d, drop);
}

static void seeds__collrec(void)
{
	uint8_t create[COLLREC_SIZE], drop[COLLREC_SIZE];
	seeds__collrecs(create, drop);
	seeds__put("collrec", "create", create, sizeof create);
	seeds__put("collrec", "drop", drop, sizeof drop);
	uint8_t alter[COLLREC_SIZE];
	struct collrec a = {.op = COLLREC_ALTER,
			    .client_id = 42,
			    .seq = 4,
			    .name = "posts",
			    .id = 9,
			    .settings = {.index = "HNSW32", .train_docs = 20000}};
	collrec_write(&a, alter);
	seeds__put("collrec", "alter", alter, sizeof alter);
}

static void *seeds__read_wal(const char *name, size_t *len)
{
	char path[PATH_MAX];
	void *file;
	fuzz_path(path, fuzz_dir(), name);
	FUZZ_CHECK(fuzz_read_file(path, &file, len) == 0);
	return file;
}

/* Logs as fuzz_wal takes them: two bytes giving the first file's length,
 * then the files. One seed is a single file, the other two files with a
 * rotation between them. */
static void seeds__wal(void)
{
	size_t len, alen, blen;
	void *rec = seeds__batch(1, &len);
	wal *w;
	fuzz_clear_dir(fuzz_dir());
	FUZZ_CHECK(wal_open(&w, fuzz_dir(), 0) == 0);
	uint8_t create[COLLREC_SIZE], drop[COLLREC_SIZE];
	seeds__collrecs(create, drop);
	FUZZ_CHECK(wal_append(w, 0, 256, create, COLLREC_SIZE) == 0);
	FUZZ_CHECK(wal_append(w, 256, 512, rec, (uint32_t)len) == 0);
	FUZZ_CHECK(wal_append(w, 512, 1024, rec, (uint32_t)len) == 0);
	FUZZ_CHECK(wal_sync(w) == 0);
	uint8_t *a = seeds__read_wal("wal-0000000000000000.log", &alen);
	FUZZ_CHECK(wal_rotate(w, 1024, 1024) == 0);
	FUZZ_CHECK(wal_append(w, 1024, 1536, rec, (uint32_t)len) == 0);
	FUZZ_CHECK(wal_append(w, 1536, 1792, drop, COLLREC_SIZE) == 0);
	FUZZ_CHECK(wal_sync(w) == 0);
	wal_close(w);
	uint8_t *b = seeds__read_wal("wal-0000000000000400.log", &blen);
	uint8_t *seed = fuzz_copy(NULL, 2 + alen + blen);
	seed[0] = (uint8_t)alen;
	seed[1] = (uint8_t)(alen >> 8);
	memcpy(seed + 2, a, alen);
	memcpy(seed + 2 + alen, b, blen);
	seeds__put("wal", "two-files", seed, 2 + alen + blen);
	seed[0] = seed[1] = 0;
	seeds__put("wal", "one-file", seed, 2 + alen);
	free(seed);
	free(a);
	free(b);
	free(rec);
	fuzz_clear_dir(fuzz_dir());
}

static void seeds__manifest_stored(const char *name, const struct manifest *m)
{
	char path[PATH_MAX];
	FUZZ_CHECK(manifest_store(fuzz_dir(), m, 0600) == 0);
	fuzz_path(path, fuzz_dir(), "MANIFEST");
	seeds__put_file("manifest", name, path);
	fuzz_clear_dir(fuzz_dir());
}

/* Version 3: three collections, the first two with segments of their
 * own, the third with none; and an instance with no collection yet.
 * Versions 1 and 2, which nothing writes any more, are in fuzz/corpus. */
static void seeds__manifest(void)
{
	struct manifest_coll colls[3] = {
	    {.id = 1,
	     .name = "default",
	     .settings = {.dim = SEEDS_DIM, .index = "Flat"},
	     .tail_start = 9000,
	     .tail_gen = 3},
	    {.id = 4,
	     .name = "posts",
	     .settings = {.dim = 384,
			  .metric = 1,
			  .index = "IVF16,Flat",
			  .train_docs = 4096,
			  .seal_docs = 8192,
			  .seal_interval_ms = 2000,
			  .indexed_keys = "user,topic"},
	     .created_lsn = 512,
	     .tail_start = 7000,
	     .trained_gen = 2,
	     .tail_gen = 2},
	    {.id = 9,
	     .name = "a.b-c_9",
	     .settings = {.dim = 3, .index = "HNSW32"},
	     .created_lsn = 6000,
	     .tail_start = 6000,
	     .tail_gen = 3},
	};
	struct manifest_segment segs[3] = {
	    {.coll = 1, .start_lsn = 0, .end_lsn = 4096, .count = 10},
	    {.coll = 1, .start_lsn = 4096, .end_lsn = 9000, .count = 12},
	    {.coll = 4, .start_lsn = 1024, .end_lsn = 7000, .count = 5}};
	struct manifest_key keys[3] = {{42, 1, 0, 3, 0}, {43, 9, 4096, 1, 0}, {44, 2, 8000, 5, 0}};
	struct manifest m = {.gen = 3,
			     .name = "seeds",
			     .next_coll = 12,
			     .catalog_lsn = 9000,
			     .tail_start = 6000,
			     .ncolls = 3,
			     .nsegments = 3,
			     .nkeys = 3,
			     .colls = colls,
			     .segments = segs,
			     .keys = keys};
	seeds__manifest_stored("three-collections", &m);
	struct manifest empty = {.gen = 1, .next_coll = 1, .tail_start = 16, .catalog_lsn = 16};
	seeds__manifest_stored("no-collections", &empty);
}

/* A tail of capacity 8 holding one published batch, made by the writer's
 * own code; it also gives the segment seed (what a seal would store). */
static void seeds__tail_and_segment(void)
{
	char name[PATH_MAX], path[PATH_MAX];
	fuzz_path(name, fuzz_dir(), "seed.tail");
	struct tail_config cfg = {.serial = 1,
				  .coll = SEEDS_COLL,
				  .tail_gen = 1,
				  .start_lsn = 0,
				  .dim = SEEDS_DIM,
				  .capacity = 8,
				  .text_capacity = 256,
				  .mode = 0600};
	tail *t;
	FUZZ_CHECK(tail_create(&t, name, &cfg) == 0);
	size_t len;
	void *rec = seeds__batch(1, &len);
	struct batch_view v;
	FUZZ_CHECK(batch_parse(rec, len, SEEDS_DIM, &v) == 0);
	FUZZ_CHECK(tail_reserve(t, v.hdr->count, v.hdr->text_bytes) == 0);
	tail_append(t, &v, 0);
	tail_publish(t, 512);
	seeds__put_file("tail", "three-docs", name);

	struct segment_docs d;
	tail_view(t, &d);
	d.end_lsn = 512;
	d.text_bytes = tail_text_used(t);
	fuzz_path(path, fuzz_dir(), "seg.docs");
	FUZZ_CHECK(segment_store(path, &d, 0600) == 0);
	seeds__put_file("segment", "three-docs", path);
	tail_close(t);
	tail_unlink(name);
	free(rec);
	fuzz_clear_dir(fuzz_dir());
}

static void seeds__json(void)
{
	static const char *reqs[] = {
	    ("{\"version\":1,\"add\":{\"dim\":3,\"docs\":[{\"vector\":[1,0,0],\"agent\":7,"
	     "\"time\":1700000000,\"kind\":\"tweet\",\"text\":\"hi\"}],\"client_id\":1,"
	     "\"seq\":1,\"ack\":\"durable\",\"timeout_ms\":0}}"),
	    ("{\"version\":1,\"search\":{\"dim\":3,\"queries\":[[1,0,0]],\"k\":10,"
	     "\"filter\":{\"agents\":[7],\"time_min\":0,\"time_max\":9,\"kind\":\"tweet\"},"
	     "\"min_lsn\":0,\"timeout_ms\":0}}"),
	    "{\"version\":1,\"status\":{}}",
	    ("{\"vector\":[0.1,0.2,0.3],\"agent\":7,\"time\":1700000000,\"kind\":\"tweet\","
	     "\"text\":\"caf\\u00e9 \\ud83d\\ude00\"}"),
	    ("{\"vector\":[0.1],\"id\":\"post-1\",\"metadata\":{\"topic\":\"cats\","
	     "\"n\":[1,2.5,{\"x\":null}]}}"),
	    ("{\"version\":1,\"add\":{\"collection\":\"posts\",\"dim\":2,\"docs\":[{\"vector\":"
	     "[0.6,0.8]}],\"client_id\":1,\"seq\":2,\"ack\":\"visible\"}}"),
	    ("{\"version\":1,\"search\":{\"collection\":\"posts\",\"dim\":2,\"queries\":[[1,0]],"
	     "\"k\":10,\"nprobe\":4,\"ef_search\":32}}"),
	    "{\"version\":1,\"status\":{\"collection\":\"posts\"}}",
	    ("{\"version\":1,\"create_collection\":{\"name\":\"posts\",\"settings\":{\"dim\":2,"
	     "\"metric\":\"ip\",\"index\":\"HNSW32\",\"train_docs\":4096,\"seal_docs\":65536,"
	     "\"seal_interval_ms\":10000,\"indexed_keys\":[\"user\",\"topic\"]},\"client_id\":1,"
	     "\"seq\":1,\"timeout_ms\":0}}"),
	    ("{\"version\":1,\"drop_collection\":{\"name\":\"posts\",\"client_id\":1,\"seq\":3,"
	     "\"timeout_ms\":0}}"),
	    "{\"version\":1,\"list_collections\":{}}",
	};
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		char name[16];
		snprintf(name, sizeof name, "req-%zu", i);
		seeds__put("json", name, reqs[i], strlen(reqs[i]));
	}
}

static void seeds__meta(void)
{
	static const char *objs[] = {
	    "{}",
	    "{\"post\":12,\"user\":\"bob\",\"topic\":\"cats\",\"action\":\"retweet\","
	    "\"orig\":null,\"owner\":3}",
	    "{\"n\":-0.5e-3,\"b\":true,\"l\":[1,[2,[3]],{\"x\":{}}],\"s\":"
	    "\"\\u00e9\\ud83d\\ude00\"}",
	};
	for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
		char name[16];
		snprintf(name, sizeof name, "obj-%zu", i);
		seeds__put("meta", name, objs[i], strlen(objs[i]));
	}
}

static void seeds__delrec_and_tomb(void)
{
	char ids[][16] = {"post-1", "#77", "r\xc3\xa9ply"};
	char *ptrs[] = {ids[0], ids[1], ids[2]};
	Roost__DeleteRequest d = ROOST__DELETE_REQUEST__INIT;
	d.ids = ptrs;
	d.n_ids = 3;
	d.client_id = 42;
	d.seq = 3;
	size_t len = wire_delete_size(&d);
	void *rec = calloc(1, len);
	if (!rec)
		exit(1);
	wire_delete_write(&d, 2, rec);
	seeds__put("delrec", "three", rec, len);
	free(rec);
	const struct tomb t[] = {{16, 300}, {17, 300}, {4000, 5000}};
	char path[PATH_MAX];
	fuzz_path(path, fuzz_dir(), "tombs");
	if (tomb_store(path, t, 3, 0600) != 0)
		exit(1);
	seeds__put_file("tomb", "three", path);
}

/* Inputs of fuzz_metaq: flags, min and max, the key, its values, a blank
 * line and the metadata. */
static void seeds__metaq(void)
{
	static const struct {
		uint8_t flags;
		double min, max;
		const char *text;
	} ins[] = {
	    {0, 0, 0, "topic\n\"cats\"\n\"d\\u00f6gs\"\n\n{\"topic\":\"cats\",\"n\":1}"},
	    {0x5, 1, 5, "n\n\n{\"n\":2.5e0,\"topic\":{\"n\":1}}"},
	    {0xf, -1, 9007199254740992.0,
	     "big\n9007199254740993\ntrue\nnull\n\n{\"big\":9007199254740993}"},
	    {0, 0, 0, "t\xc3\xa9\n\"\\ud83d\\ude00\"\n5.0\n\n{\"t\\u00e9\":\"\xf0\x9f\x98\x80\"}"},
	};
	for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
		uint8_t buf[256];
		size_t n = strlen(ins[i].text);
		buf[0] = ins[i].flags;
		memcpy(buf + 1, &ins[i].min, 8);
		memcpy(buf + 9, &ins[i].max, 8);
		memcpy(buf + 17, ins[i].text, n);
		char name[16];
		snprintf(name, sizeof name, "cond-%zu", i);
		seeds__put("metaq", name, buf, 17 + n);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
		return 2;
	}
	seeds__out = argv[1];
	if (mkdir(seeds__out, 0700) != 0 && errno != EEXIST) {
		perror(seeds__out);
		return 1;
	}
	seeds__wire();
	seeds__batches();
	seeds__collrec();
	seeds__wal();
	seeds__manifest();
	seeds__tail_and_segment();
	seeds__json();
	seeds__meta();
	seeds__delrec_and_tomb();
	seeds__metaq();
	return 0;
}
