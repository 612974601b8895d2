/* roost-bench-faiss: the in-process FAISS baselines, on the same data and
 * roost's own FAISS build, printing one JSON line per measurement.
 *
 *   gt       exact neighbours of the query set (the ground truth file),
 *            among the kept rows (--mod M --keep-lo A --keep-hi B: rows r
 *            with A <= r % M < B; default all)
 *   add      add throughput of a fresh index, in batches
 *   search   single-thread search of an index file (roost's own segment)
 *            or of an index of the kept rows built in process; --select 1
 *            searches every row with a bitmap IDSelector of the kept ones
 *   docs     adds with ids, upserts (remove_ids + add_with_ids) or deletes
 *            (remove_ids) by id in an IDMap,Flat index, in batches
 *   scale    what an in-process index costs at a size: memory, add-to-
 *            visible latency, snapshot write and load
 *   original the original workload under one global lock
 *   fsync    latency of an appended write and fdatasync on a directory's disk
 *   rows     raw float32 rows or queries for the Python baseline
 */
#include "bargs.h"
#include "bdata.h"
#include "bstat.h"
#include "err.h"
#include "flatidx.h"
#include "segment.h"
#include "search_params_c.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <fcntl.h>
#include <limits.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE_CHUNK 65536u /* rows generated and added at a time */

static int base__faiss(int rc, const char *what)
{
	if (rc == 0)
		return 0;
	const char *msg = faiss_get_last_error();
	fprintf(stderr, "roost-bench-faiss: %s: %s\n", what, msg ? msg : "failed");
	return ROOST_EFAISS;
}

static float *base__alloc_rows(const struct bdata *g, uint64_t n)
{
	float *x = malloc(sizeof(float) * g->dim * (n ? n : 1));
	if (!x)
		fprintf(stderr, "roost-bench-faiss: out of memory for %llu rows\n",
			(unsigned long long)n);
	return x;
}

/* A Flat L2 index of rows [first, first + n), generated chunk by chunk so
 * the process holds little besides the index. */
static int base__flat(const struct bdata *g, uint64_t first, uint64_t n, FaissIndex **out)
{
	float *x = base__alloc_rows(g, BASE_CHUNK);
	int rc = x ? base__faiss(faiss_index_factory(out, (int)g->dim, "Flat", METRIC_L2),
				 "index_factory")
		   : ROOST_ENOMEM;
	for (uint64_t at = 0; rc == 0 && at < n; at += BASE_CHUNK) {
		uint64_t m = n - at < BASE_CHUNK ? n - at : BASE_CHUNK;
		bdata_rows(g, first + at, m, x);
		rc = base__faiss(faiss_Index_add(*out, (idx_t)m, x), "add");
	}
	free(x);
	return rc;
}

/* Which rows of [0, n) a measurement keeps: those whose number modulo mod
 * lies in [lo, hi). Deleted rows, or rows a filter leaves out, follow the
 * same pattern on roost's side (bench/run.py). */
struct base_keep {
	uint64_t n, mod, lo, hi;
};

static int base__keep_args(const struct bargs *a, uint64_t n, struct base_keep *k)
{
	*k = (struct base_keep){.n = n,
				.mod = (uint64_t)bargs_int(a, "mod", 1),
				.lo = (uint64_t)bargs_int(a, "keep-lo", 0),
				.hi = (uint64_t)bargs_int(a, "keep-hi", 1)};
	return k->mod && k->lo < k->hi && k->hi <= k->mod ? 0 : ROOST_EINVAL;
}

static int base__kept(const struct base_keep *k, uint64_t row)
{
	return row % k->mod >= k->lo && row % k->mod < k->hi;
}

/* An index of the kept rows, labelled with their row numbers: of every
 * row, a plain index (FAISS 1.7.3's IDMap refuses search parameters, so a
 * selector needs this one); else IVF indexes take ids themselves, others
 * through an IDMap. Trained types learn from
 * rows [0, train) whether kept or not, as roost's writer trained on the
 * rows before any was deleted, so both sides hold the same lists. */
static int base__kept_index(const struct bdata *g, const char *factory, const struct base_keep *k,
			    uint64_t train, FaissIndex **out)
{
	char spec[128];
	int every = k->mod == 1, ivf = strncmp(factory, "IVF", 3) == 0;
	snprintf(spec, sizeof spec, "%s%s", every || ivf ? "" : "IDMap,", factory);
	uint64_t cap = train > BASE_CHUNK ? train : BASE_CHUNK;
	float *x = base__alloc_rows(g, cap), *y = base__alloc_rows(g, BASE_CHUNK);
	idx_t *ids = malloc(sizeof *ids * BASE_CHUNK);
	int rc = x && y && ids ? base__faiss(faiss_index_factory(out, (int)g->dim, spec, METRIC_L2),
					     "index_factory")
			       : ROOST_ENOMEM;
	if (rc == 0 && !faiss_Index_is_trained(*out)) {
		uint64_t t = train < k->n ? train : k->n;
		bdata_rows(g, 0, t, x);
		rc = base__faiss(faiss_Index_train(*out, (idx_t)t, x), "train");
	}
	for (uint64_t at = 0; rc == 0 && at < k->n; at += BASE_CHUNK) {
		uint64_t m = k->n - at < BASE_CHUNK ? k->n - at : BASE_CHUNK, kept = 0;
		bdata_rows(g, at, m, x);
		for (uint64_t i = 0; i < m; i++)
			if (base__kept(k, at + i)) {
				memcpy(y + kept * g->dim, x + i * g->dim, sizeof(float) * g->dim);
				ids[kept++] = (idx_t)(at + i);
			}
		rc = every ? base__faiss(faiss_Index_add(*out, (idx_t)kept, y), "add")
			   : base__faiss(faiss_Index_add_with_ids(*out, (idx_t)kept, y, ids),
					 "add_with_ids");
	}
	free(x);
	free(y);
	free(ids);
	return rc;
}

/* What a command wrote, so the caller has a line to read. */
static void base__json_file(const char *kind, const char *path, uint64_t items)
{
	struct bstat_json j;
	bstat_json_begin(&j, stdout, kind);
	bstat_json_str(&j, "file", path);
	bstat_json_num(&j, "items", (double)items);
	bstat_json_end(&j);
}

static int base_gt(const struct bargs *a, const struct bdata *g)
{
	uint64_t n = (uint64_t)bargs_int(a, "rows", 100000);
	uint32_t nq = (uint32_t)bargs_int(a, "queries", 1000), k = (uint32_t)bargs_int(a, "k", 10);
	const char *out = bargs_str(a, "out", NULL);
	if (!out || nq == 0 || k == 0)
		return ROOST_EINVAL;
	struct base_keep keep;
	if (base__keep_args(a, n, &keep) != 0)
		return ROOST_EINVAL;
	FaissIndex *idx = NULL;
	float *q = base__alloc_rows(g, nq), *dist = malloc(sizeof(float) * nq * k);
	int64_t *labels = malloc(sizeof(int64_t) * nq * k);
	int rc = q && dist && labels ? base__kept_index(g, "Flat", &keep, 0, &idx) : ROOST_ENOMEM;
	if (rc == 0) {
		bdata_queries(g, 0, nq, q);
		rc = base__faiss(faiss_Index_search(idx, nq, q, k, dist, labels), "search");
	}
	if (rc == 0)
		rc = bdata_gt_write(out, nq, k, labels);
	if (rc == 0)
		base__json_file("gt", out, (uint64_t)nq * k);
	faiss_Index_free(idx);
	free(q);
	free(dist);
	free(labels);
	return rc;
}

/* Trains a trained-type index on its first rows, as roost's writer does. */
static int base__train(FaissIndex *idx, const float *x, uint64_t n, uint64_t train)
{
	if (faiss_Index_is_trained(idx))
		return 0;
	return base__faiss(faiss_Index_train(idx, (idx_t)(train < n ? train : n), x), "train");
}

static int base_add(const struct bargs *a, const struct bdata *g)
{
	const char *factory = bargs_str(a, "index", "Flat");
	uint64_t n = (uint64_t)bargs_int(a, "rows", 10000);
	uint64_t batch = (uint64_t)bargs_int(a, "batch", 100);
	if (n == 0 || batch == 0)
		return ROOST_EINVAL;
	float *x = base__alloc_rows(g, n);
	FaissIndex *idx = NULL;
	int rc = x ? base__faiss(faiss_index_factory(&idx, (int)g->dim, factory, METRIC_L2),
				 "index_factory")
		   : ROOST_ENOMEM;
	uint64_t trained_ns = bstat_now_ns();
	if (rc == 0) {
		bdata_rows(g, 0, n, x);
		trained_ns = bstat_now_ns();
		rc = base__train(idx, x, n, (uint64_t)bargs_int(a, "train", 65536));
		trained_ns = bstat_now_ns() - trained_ns;
	}
	struct bstat lat = {0};
	uint64_t t0 = bstat_now_ns(), calls = 0;
	for (uint64_t at = 0; rc == 0 && at < n; at += batch, calls++) {
		uint64_t m = n - at < batch ? n - at : batch, t = bstat_now_ns();
		rc = base__faiss(faiss_Index_add(idx, (idx_t)m, x + at * g->dim), "add");
		if (rc == 0)
			rc = bstat_add(&lat, bstat_now_ns() - t);
	}
	double s = (double)(bstat_now_ns() - t0) / 1e9;
	if (rc == 0) {
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "faiss_add");
		bstat_json_str(&j, "index", factory);
		bstat_json_num(&j, "batch", (double)batch);
		bstat_json_num(&j, "vectors", (double)n);
		bstat_json_num(&j, "seconds", s);
		bstat_json_num(&j, "train_seconds", (double)trained_ns / 1e9);
		bstat_json_num(&j, "vectors_per_s", (double)n / s);
		bstat_json_num(&j, "requests_per_s", (double)calls / s);
		bstat_json_lat(&j, "latency", &lat);
		bstat_json_end(&j);
	}
	bstat_free(&lat);
	faiss_Index_free(idx);
	free(x);
	return rc;
}

/* One search measurement: queries answered in ns, their latencies, and
 * recall@k of the first nq against the ground truth (-1 without one). */
static void base__json_search(struct bstat *lat, uint64_t done, uint64_t ns, const FaissIndex *idx,
			      const int64_t *truth, uint32_t gt_nq, uint32_t gt_k,
			      const int64_t *labels, uint32_t nq, uint32_t k)
{
	double recall = 0.0;
	for (uint32_t i = 0; truth && i < nq && i < gt_nq; i++)
		recall += bdata_recall(truth, gt_k, i, labels + (size_t)i * k, k);
	struct bstat_json j;
	bstat_json_begin(&j, stdout, "faiss_search");
	bstat_json_num(&j, "queries", (double)done);
	bstat_json_num(&j, "rows", (double)faiss_Index_ntotal(idx));
	bstat_json_num(&j, "qps", (double)done / ((double)ns / 1e9));
	bstat_json_lat(&j, "latency", lat);
	bstat_json_num(&j, "recall", truth ? recall / (nq < gt_nq ? nq : gt_nq) : -1.0);
	bstat_json_end(&j);
}

/* A bitmap of the kept rows among the index's labels 0 .. n-1, and the
 * parameters that search through it; built once, before the clock. */
static int base__selector(const FaissIndex *idx, const struct base_keep *k, uint8_t **bits,
			  FaissIDSelectorBitmap **sel, FaissSearchParameters **params)
{
	uint64_t n = (uint64_t)faiss_Index_ntotal(idx);
	if (!(*bits = calloc((n + 7) / 8 + 1, 1)))
		return ROOST_ENOMEM;
	for (uint64_t r = 0; r < n; r++)
		if (base__kept(k, r))
			(*bits)[r / 8] |= (uint8_t)(1u << (r % 8));
	if (faiss_IDSelectorBitmap_new(sel, n, *bits) != 0 ||
	    faiss_SearchParameters_new_for(params, idx, (FaissIDSelector *)*sel, 0, 0) != 0)
		return base__faiss(-1, "search parameters");
	return 0;
}

/* roost's segment index file as an in-process service would hold it. A
 * Flat one is its header alone (store/flatidx.h): its vectors are in the
 * segment's documents file beside it (seg-...-<end>.docs), where readers
 * search them too. */
static int base__segment_index(const char *file, FaissIndex **idx)
{
	struct flatidx h;
	int rc = flatidx_read(file, &h);
	if (rc || !flatidx_is_flat(&h))
		return rc ? rc : base__faiss(faiss_read_index_fname(file, 0, idx), file);
	char docs[PATH_MAX];
	const char *name = strrchr(file, '/');
	const char *dot = strchr(name ? name : file, '.');
	if (!dot ||
	    snprintf(docs, sizeof docs, "%.*s.docs", (int)(dot - file), file) >= (int)sizeof docs)
		return ROOST_EINVAL;
	struct segment_docs d;
	if ((rc = segment_load(docs, SEGMENT_WITH_VECTORS, &d)) != 0)
		return rc;
	FaissIndexFlat *flat = NULL;
	rc = base__faiss(faiss_IndexFlat_new_with(&flat, d.dim, (FaissMetricType)h.metric),
			 "IndexFlat");
	if (rc == 0)
		rc = base__faiss(faiss_Index_add(flat, (idx_t)d.count, d.vectors), docs);
	segment_free(&d);
	if (rc)
		faiss_Index_free(flat);
	else
		*idx = flat;
	return rc;
}

/* The index to search: roost's segment file, or one of the kept rows
 * built here (--select: of every row, the selector keeping the rest). */
static int base__search_index(const struct bargs *a, const struct bdata *g, struct base_keep *k,
			      FaissIndex **idx)
{
	const char *file = bargs_str(a, "file", NULL);
	uint64_t n = (uint64_t)bargs_int(a, "rows", 0);
	int select = bargs_int(a, "select", 0) != 0;
	if (base__keep_args(a, n, k) != 0 || (!file && n == 0))
		return ROOST_EINVAL;
	if (file)
		return base__segment_index(file, idx);
	struct base_keep all = {.n = n, .mod = 1, .lo = 0, .hi = 1};
	return base__kept_index(g, bargs_str(a, "index", "Flat"), select ? &all : k,
				(uint64_t)bargs_int(a, "train", 65536), idx);
}

/* --nprobe (IVF) and --ef-search (HNSW), where given: run.py passes the
 * reader's defaults for a request that leaves them at 0, so that both
 * sides search alike. */
static int base__tune(const struct bargs *a, FaissIndex *idx)
{
	static const char *const names[][2] = {{"nprobe", "nprobe"}, {"ef-search", "efSearch"}};
	FaissParameterSpace *ps = NULL;
	int rc = base__faiss(faiss_ParameterSpace_new(&ps), "ParameterSpace");
	for (size_t i = 0; rc == 0 && i < sizeof names / sizeof names[0]; i++) {
		long long v = bargs_int(a, names[i][0], 0);
		if (v > 0)
			rc = base__faiss(faiss_ParameterSpace_set_index_parameter(
					     ps, idx, names[i][1], (double)v),
					 names[i][1]);
	}
	faiss_ParameterSpace_free(ps);
	return rc;
}

static int base_search(const struct bargs *a, const struct bdata *g)
{
	const char *gt = bargs_str(a, "gt", NULL);
	uint32_t nq = (uint32_t)bargs_int(a, "queries", 1000), k = (uint32_t)bargs_int(a, "k", 10);
	double duration = bargs_num(a, "duration", 1.0);
	if (nq == 0 || k == 0)
		return ROOST_EINVAL;
	/* The baseline is one search thread, as one request is in a reader. */
	omp_set_num_threads(1);
	FaissIndex *idx = NULL;
	struct base_keep keep;
	uint8_t *bits = NULL;
	FaissIDSelectorBitmap *sel = NULL;
	FaissSearchParameters *params = NULL;
	int64_t *truth = NULL, *labels = malloc(sizeof(int64_t) * nq * k);
	uint32_t gt_nq = 0, gt_k = 0;
	float *q = base__alloc_rows(g, nq), *dist = malloc(sizeof(float) * k);
	int rc = q && dist && labels ? base__search_index(a, g, &keep, &idx) : ROOST_ENOMEM;
	if (rc == 0)
		rc = base__tune(a, idx);
	if (rc == 0 && bargs_int(a, "select", 0))
		rc = base__selector(idx, &keep, &bits, &sel, &params);
	if (rc == 0 && gt)
		rc = bdata_gt_read(gt, &gt_nq, &gt_k, &truth);
	if (rc == 0)
		bdata_queries(g, 0, nq, q);
	/* --reps: the same measurement again on the index built once. */
	for (long long rep = bargs_int(a, "reps", 1); rc == 0 && rep > 0; rep--) {
		struct bstat lat = {0};
		uint64_t done = 0, t0 = bstat_now_ns(), now = t0;
		uint64_t end = t0 + (uint64_t)(duration * 1e9);
		for (; rc == 0 && (now < end || done < nq); done++) {
			uint32_t i = (uint32_t)(done % nq);
			const float *x = q + (size_t)i * g->dim;
			int64_t *l = labels + (size_t)i * k;
			rc = params
				 ? base__faiss(faiss_Index_search_with_params(idx, 1, x, k, params,
									      dist, l),
					       "search_with_params")
				 : base__faiss(faiss_Index_search(idx, 1, x, k, dist, l), "search");
			uint64_t t = bstat_now_ns();
			if (rc == 0)
				rc = bstat_add(&lat, t - now);
			now = t;
		}
		if (rc == 0)
			base__json_search(&lat, done, now - t0, idx, truth, gt_nq, gt_k, labels, nq,
					  k);
		bstat_free(&lat);
	}
	faiss_SearchParameters_free(params);
	faiss_IDSelector_free((FaissIDSelector *)sel);
	free(bits);
	faiss_Index_free(idx);
	free(truth);
	free(labels);
	free(q);
	free(dist);
	return rc;
}

/* Writes by id in process: an IDMap,Flat index of rows [0, rows) under
 * ids 0 .. rows-1, then batches until the duration or max-docs: adds of
 * new ids, upserts (remove_ids of the batch's ids, then add_with_ids of
 * the new vectors under them) or deletes (remove_ids). Upserts and deletes
 * take the same ids roost-bench-load's do: consecutive ids from a random
 * start, and ids 0, 1, ... in order. */
enum base_op { BASE_ADD, BASE_UPSERT, BASE_DELETE };

static int base__op(const char *s, enum base_op *op)
{
	static const char *const names[] = {"add", "upsert", "delete"};
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*op = (enum base_op)i;
			return 0;
		}
	fprintf(stderr, "roost-bench-faiss: unknown op %s\n", s);
	return ROOST_EINVAL;
}

/* One batch of n documents with ids from ids[0..n). */
static int base__write(FaissIndex *idx, enum base_op op, const float *x, const idx_t *ids,
		       uint64_t n)
{
	if (op != BASE_ADD) {
		FaissIDSelectorBatch *sel = NULL;
		size_t removed = 0;
		int rc = base__faiss(faiss_IDSelectorBatch_new(&sel, n, ids), "IDSelectorBatch");
		if (rc == 0)
			rc = base__faiss(
			    faiss_Index_remove_ids(idx, (FaissIDSelector *)sel, &removed),
			    "remove_ids");
		faiss_IDSelector_free((FaissIDSelector *)sel);
		if (rc || op == BASE_DELETE)
			return rc;
	}
	return base__faiss(faiss_Index_add_with_ids(idx, (idx_t)n, x, ids), "add_with_ids");
}

static int base_docs(const struct bargs *a, const struct bdata *g)
{
	enum base_op op;
	uint64_t rows = (uint64_t)bargs_int(a, "rows", 10000);
	uint64_t batch = (uint64_t)bargs_int(a, "batch", 100);
	uint64_t max = (uint64_t)bargs_int(a, "max-docs", 1ll << 40);
	double duration = bargs_num(a, "duration", 1.0);
	const uint32_t pool = 4096;
	if (base__op(bargs_str(a, "op", "add"), &op) != 0 || rows == 0 || batch == 0 ||
	    batch > pool || (op == BASE_DELETE && max > rows))
		return ROOST_EINVAL;
	float *x = base__alloc_rows(g, pool);
	idx_t *ids = malloc(sizeof *ids * (batch > pool ? batch : pool));
	FaissIndex *idx = NULL;
	int rc = x && ids
		     ? base__faiss(faiss_index_factory(&idx, (int)g->dim, "IDMap,Flat", METRIC_L2),
				   "index_factory")
		     : ROOST_ENOMEM;
	for (uint64_t at = 0; rc == 0 && at < rows; at += pool) {
		uint64_t m = rows - at < pool ? rows - at : pool;
		bdata_rows(g, at, m, x);
		for (uint64_t i = 0; i < m; i++)
			ids[i] = (idx_t)(at + i);
		rc = base__faiss(faiss_Index_add_with_ids(idx, (idx_t)m, x, ids), "add_with_ids");
	}
	if (rc == 0)
		bdata_rows(g, rows, pool, x);
	unsigned seed = 1;
	uint64_t docs = 0, calls = 0, t0 = bstat_now_ns(), now = t0;
	uint64_t end = t0 + (uint64_t)(duration * 1e9);
	for (; rc == 0 && now < end && docs < max; calls++) {
		uint64_t n = max - docs < batch ? max - docs : batch;
		uint64_t start = op == BASE_UPSERT ? (uint64_t)rand_r(&seed) % rows
				 : op == BASE_ADD  ? rows + docs
						   : docs;
		for (uint64_t i = 0; i < n; i++)
			ids[i] = (idx_t)(op == BASE_UPSERT ? (start + i) % rows : start + i);
		uint32_t at = (uint32_t)rand_r(&seed) % (uint32_t)(pool - n + 1);
		rc = base__write(idx, op, x + (size_t)at * g->dim, ids, n);
		docs += n;
		now = bstat_now_ns();
	}
	if (rc == 0) {
		double secs = (double)(now - t0) / 1e9;
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "faiss_docs");
		bstat_json_str(&j, "op", bargs_str(a, "op", "add"));
		bstat_json_num(&j, "batch", (double)batch);
		bstat_json_num(&j, "docs", (double)docs);
		bstat_json_num(&j, "ntotal", (double)faiss_Index_ntotal(idx));
		bstat_json_num(&j, "seconds", secs);
		bstat_json_num(&j, "docs_per_s", (double)docs / secs);
		bstat_json_num(&j, "requests_per_s", (double)calls / secs);
		bstat_json_end(&j);
	}
	faiss_Index_free(idx);
	free(ids);
	free(x);
	return rc;
}

/* Proportional set size of this process, in bytes. */
static double base__pss(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	double kb = 0.0;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "Pss:", 4) == 0)
			kb = strtod(line + 4, NULL);
	if (f)
		fclose(f);
	return kb * 1024.0;
}

/* Writes idx to path with an fsync, as a snapshot must be; then loads it
 * back (from the page cache, as a restart on the same host does). */
static int base__snapshot(FaissIndex *idx, const char *path, struct bstat_json *j, const char *key)
{
	char name[64];
	uint64_t t0 = bstat_now_ns();
	int rc = base__faiss(faiss_write_index_fname(idx, path), "write_index");
	int fd = rc ? -1 : open(path, O_RDONLY);
	if (rc == 0 && (fd < 0 || fsync(fd) != 0))
		rc = ROOST_EIO;
	uint64_t t1 = bstat_now_ns();
	struct stat st;
	if (rc == 0 && fstat(fd, &st) != 0)
		rc = ROOST_EIO;
	if (fd >= 0)
		close(fd);
	FaissIndex *back = NULL;
	if (rc == 0)
		rc = base__faiss(faiss_read_index_fname(path, 0, &back), "read_index");
	uint64_t t2 = bstat_now_ns();
	faiss_Index_free(back);
	unlink(path);
	if (rc == 0) {
		snprintf(name, sizeof name, "%s_write_ms", key);
		bstat_json_num(j, name, (double)(t1 - t0) / 1e6);
		snprintf(name, sizeof name, "%s_bytes", key);
		bstat_json_num(j, name, (double)st.st_size);
		snprintf(name, sizeof name, "%s_load_ms", key);
		bstat_json_num(j, name, (double)(t2 - t1) / 1e6);
	}
	return rc;
}

static int base_scale(const struct bargs *a, const struct bdata *g)
{
	uint64_t n = (uint64_t)bargs_int(a, "rows", 10000);
	uint64_t seg = (uint64_t)bargs_int(a, "seg-rows", 65536);
	int probes = (int)bargs_int(a, "probes", 100);
	const char *dir = bargs_str(a, "dir", "/tmp");
	char path[4096];
	snprintf(path, sizeof path, "%s/base-%d.index", dir, (int)getpid());
	FaissIndex *idx = NULL, *segment = NULL;
	float *x = base__alloc_rows(g, 1);
	int rc = x ? base__flat(g, 0, n, &idx) : ROOST_ENOMEM;
	struct bstat_json j;
	bstat_json_begin(&j, stdout, "faiss_scale");
	bstat_json_num(&j, "rows", (double)n);
	bstat_json_num(&j, "pss_bytes", base__pss());
	/* Add to visible, in process: the add call returning. */
	struct bstat fresh = {0};
	for (int i = 0; rc == 0 && i < probes; i++) {
		bdata_rows(g, n + (uint64_t)i, 1, x);
		uint64_t t0 = bstat_now_ns();
		rc = base__faiss(faiss_Index_add(idx, 1, x), "add");
		if (rc == 0)
			rc = bstat_add(&fresh, bstat_now_ns() - t0);
	}
	bstat_json_lat(&j, "visible", &fresh);
	if (rc == 0)
		rc = base__snapshot(idx, path, &j, "full");
	if (rc == 0)
		rc = base__flat(g, 0, seg, &segment);
	if (rc == 0)
		rc = base__snapshot(segment, path, &j, "segment");
	bstat_json_end(&j);
	bstat_free(&fresh);
	faiss_Index_free(idx);
	faiss_Index_free(segment);
	free(x);
	return rc;
}

/* The original workload in process: writers add batches of 1..batch_max,
 * searchers search, everything under one global lock. */
struct base_orig {
	pthread_mutex_t *lock;
	FaissIndex *idx;
	const float *pool; /* pool_rows pregenerated rows */
	uint32_t pool_rows, dim, k, batch_max;
	const float *queries;
	uint32_t nq;
	int writer;
	uint64_t end_ns;
	unsigned seed;
	uint64_t requests, docs;
	int rc;
};

static void *base__orig_thread(void *arg)
{
	struct base_orig *o = arg;
	float dist[64];
	idx_t labels[64];
	for (uint64_t i = 0; o->rc == 0 && bstat_now_ns() < o->end_ns; i++) {
		uint32_t n = o->writer ? 1 + (uint32_t)rand_r(&o->seed) % o->batch_max : 0;
		uint32_t at = (uint32_t)rand_r(&o->seed) % (o->pool_rows - o->batch_max);
		pthread_mutex_lock(o->lock);
		if (o->writer)
			o->rc = faiss_Index_add(o->idx, n, o->pool + (size_t)at * o->dim);
		else
			o->rc = faiss_Index_search(o->idx, 1, o->queries + (i % o->nq) * o->dim,
						   o->k, dist, labels);
		pthread_mutex_unlock(o->lock);
		o->requests++;
		o->docs += n;
	}
	return NULL;
}

static int base_original(const struct bargs *a, const struct bdata *g)
{
	int writers = (int)bargs_int(a, "writers", 12),
	    searchers = (int)bargs_int(a, "searchers", 4);
	double duration = bargs_num(a, "duration", 20.0);
	uint32_t pool = 4096, nq = 1000;
	uint32_t k = (uint32_t)bargs_int(a, "k", 4),
		 batch_max = (uint32_t)bargs_int(a, "batch-max", 10);
	if (writers < 1 || searchers < 0 || k == 0 || k > 64 || batch_max == 0 || batch_max >= pool)
		return ROOST_EINVAL;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct base_orig *o = calloc((size_t)(writers + searchers), sizeof *o);
	float *rows = base__alloc_rows(g, pool), *q = base__alloc_rows(g, nq);
	FaissIndex *idx = NULL;
	int rc = o && rows && q
		     ? base__faiss(faiss_index_factory(&idx, (int)g->dim, "Flat", METRIC_L2),
				   "index_factory")
		     : ROOST_ENOMEM;
	if (rc == 0) {
		bdata_rows(g, 0, pool, rows);
		bdata_queries(g, 0, nq, q);
		uint64_t end = bstat_now_ns() + (uint64_t)(duration * 1e9);
		for (int i = 0; i < writers + searchers; i++)
			o[i] = (struct base_orig){.lock = &lock,
						  .idx = idx,
						  .pool = rows,
						  .pool_rows = pool,
						  .dim = g->dim,
						  .k = k,
						  .batch_max = batch_max,
						  .queries = q,
						  .nq = nq,
						  .writer = i < writers,
						  .end_ns = end,
						  .seed = (unsigned)i + 1};
		uint64_t ns = bstat_run(writers + searchers, base__orig_thread, o, sizeof *o);
		rc = ns ? 0 : ROOST_ENOMEM;
		uint64_t adds = 0, docs = 0, searches = 0;
		for (int i = 0; i < writers + searchers; i++) {
			rc = rc ? rc : base__faiss(o[i].rc, "original workload");
			adds += o[i].writer ? o[i].requests : 0;
			searches += o[i].writer ? 0 : o[i].requests;
			docs += o[i].docs;
		}
		double s = (double)ns / 1e9;
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "faiss_original");
		bstat_json_num(&j, "adds_per_s", (double)adds / s);
		bstat_json_num(&j, "docs_per_s", (double)docs / s);
		bstat_json_num(&j, "searches_per_s", (double)searches / s);
		bstat_json_num(&j, "docs", (double)docs);
		bstat_json_num(&j, "lost", (double)docs - (double)faiss_Index_ntotal(idx));
		bstat_json_end(&j);
	}
	faiss_Index_free(idx);
	free(o);
	free(rows);
	free(q);
	return rc;
}

/* What the durable acknowledgement waits for at least: one appended
 * write and fdatasync on the disk that holds the data directory. */
static int base_fsync(const struct bargs *a, const struct bdata *g)
{
	(void)g;
	int count = (int)bargs_int(a, "count", 200);
	size_t size = (size_t)bargs_int(a, "size", 4096);
	char path[4096], *buf = calloc(1, size ? size : 1);
	snprintf(path, sizeof path, "%s/fsync-%d", bargs_str(a, "dir", "/tmp"), (int)getpid());
	int fd = buf ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
	int rc = fd < 0 ? ROOST_EIO : 0;
	struct bstat lat = {0};
	for (int i = 0; rc == 0 && i < count; i++) {
		uint64_t t0 = bstat_now_ns();
		if (write(fd, buf, size) != (ssize_t)size || fdatasync(fd) != 0)
			rc = ROOST_EIO;
		else
			rc = bstat_add(&lat, bstat_now_ns() - t0);
	}
	if (rc == 0) {
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "fsync");
		bstat_json_num(&j, "bytes", (double)size);
		bstat_json_lat(&j, "latency", &lat);
		bstat_json_end(&j);
	}
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	bstat_free(&lat);
	free(buf);
	return rc;
}

static int base_rows(const struct bargs *a, const struct bdata *g)
{
	uint64_t first = (uint64_t)bargs_int(a, "first", 0), n = (uint64_t)bargs_int(a, "count", 0);
	const char *out = bargs_str(a, "out", NULL);
	int queries = bargs_int(a, "queries", 0) != 0;
	float *x = base__alloc_rows(g, n);
	FILE *f = out && x ? fopen(out, "wb") : NULL;
	if (!f) {
		free(x);
		return ROOST_EINVAL;
	}
	if (queries)
		bdata_queries(g, first, n, x);
	else
		bdata_rows(g, first, n, x);
	int ok = fwrite(x, sizeof(float) * g->dim, n, f) == n;
	free(x);
	if (fclose(f) != 0 || !ok)
		return ROOST_EIO;
	base__json_file("rows", out, n);
	return 0;
}

static const struct bargs_command base_commands[] = {
    {"gt", "rows queries k out mod keep-lo keep-hi", base_gt},
    {"add", "index rows batch train", base_add},
    {"search",
     "file rows index train mod keep-lo keep-hi select queries k gt duration reps nprobe ef-search",
     base_search},
    {"docs", "op rows batch duration max-docs", base_docs},
    {"scale", "rows seg-rows probes dir", base_scale},
    {"original", "writers searchers duration k batch-max", base_original},
    {"fsync", "dir count size", base_fsync},
    {"rows", "first count out queries", base_rows},
};

int main(int argc, char **argv)
{
	return bargs_main(argc, argv, base_commands,
			  sizeof base_commands / sizeof base_commands[0]);
}
