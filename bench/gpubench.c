/* roost-bench-gpu: the writer's index path on the GPU against the same path
 * on the CPU, same data, same process code. It drives the writer's own
 * modules (vindex, place, gpumem, gpu) directly instead of going through
 * brokers and the log, so that the figure is the index work the GPU takes
 * over, not the ingest pipeline around it. One JSON line per command.
 *
 *   ingest   rows [0, n) in segments of --seal rows, added --group rows
 *            at a time, each segment written as a CPU index file the way
 *            the writer seals it (trained types train once, on the first
 *            --train rows); then the query set is searched over every
 *            segment file, on the CPU like a reader, and the merged top k
 *            written as a ground-truth-format file (--results)
 *   compare  recall@k of one results file against another (the truth),
 *            and how many result lists are identical
 */
#include "bargs.h"
#include "bdata.h"
#include "bstat.h"
#include "err.h"
#include "flatidx.h"
#include "inst.h"
#include "log.h"
#include "place.h"
#include "vindex.h"

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_io_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What one ingest run does, from the command line. */
struct gbench_run {
	const char *factory;
	const char *dir;
	uint64_t n, seal, group, train;
	place *place; /* NULL: the CPU writer */
};

static int gbench__faiss(int rc, const char *what)
{
	if (rc == 0)
		return 0;
	const char *msg = faiss_get_last_error();
	fprintf(stderr, "roost-bench-gpu: %s: %s\n", what, msg ? msg : "failed");
	return ROOST_EFAISS;
}

static void gbench__seg_path(const struct gbench_run *r, uint64_t seg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/seg-%04llu.index", r->dir, (unsigned long long)seg);
}

/* The open segment's index as the writer makes it: trained once on the
 * first segment, from the stored trained copy after that. */
static int gbench__open_index(const struct gbench_run *r, const struct bdata *g, const float *rows,
			      uint64_t nrows, vindex **out, double *train_s)
{
	char trained[INST_PATH_MAX];
	snprintf(trained, sizeof trained, "%s/trained.index", r->dir);
	struct stat st;
	int rc;
	if (stat(trained, &st) == 0) {
		rc = vindex_load(out, trained);
		if (rc == 0)
			place_segment(r->place, *out);
		return rc;
	}
	rc = vindex_new(out, r->factory, g->dim, 0);
	if (rc || vindex_is_trained(*out)) {
		if (rc == 0)
			place_segment(r->place, *out);
		return rc;
	}
	uint64_t t0 = bstat_now_ns();
	rc = place_train(r->place, *out, r->train < nrows ? r->train : nrows, rows);
	if (rc == 0)
		rc = vindex_store(*out, trained, 0600);
	*train_s = (double)(bstat_now_ns() - t0) / 1e9;
	return rc;
}

/* One segment: index, grow in groups, seal to a file. */
static int gbench__segment(const struct gbench_run *r, const struct bdata *g, uint64_t seg,
			   const float *rows, uint64_t nrows, double *train_s)
{
	vindex *v = NULL;
	int rc = gbench__open_index(r, g, rows, nrows, &v, train_s);
	for (uint64_t at = 0; rc == 0 && at < nrows; at += r->group) {
		uint64_t m = nrows - at < r->group ? nrows - at : r->group;
		rc = place_add(r->place, v, rows, rows + at * g->dim, m, PLACE_MUST_ADD);
	}
	char path[INST_PATH_MAX];
	gbench__seg_path(r, seg, path, sizeof path);
	if (rc == 0)
		rc = vindex_store(v, path, 0600);
	vindex_free(v);
	return rc;
}

/* Segment s's index as a reader opens it: a Flat segment's file is FAISS's
 * header alone (store/flatidx.h), its vectors the segment's rows. */
static int gbench__open_segment(const struct gbench_run *r, const struct bdata *g, uint64_t s,
				FaissIndex **idx)
{
	char path[INST_PATH_MAX];
	gbench__seg_path(r, s, path, sizeof path);
	struct flatidx h;
	int rc = flatidx_read(path, &h);
	if (rc || !flatidx_is_flat(&h))
		return rc ? rc : gbench__faiss(faiss_read_index_fname(path, 0, idx), "read_index");
	uint64_t first = s * r->seal, m = (uint64_t)h.ntotal;
	float *rows = malloc(sizeof(float) * g->dim * (m ? m : 1));
	FaissIndexFlat *flat = NULL;
	rc = rows ? gbench__faiss(faiss_IndexFlat_new_with(&flat, g->dim, METRIC_L2), "IndexFlat")
		  : ROOST_ENOMEM;
	if (rc == 0) {
		bdata_rows(g, first, m, rows);
		rc = gbench__faiss(faiss_Index_add(flat, (idx_t)m, rows), "add");
	}
	free(rows);
	if (rc)
		faiss_Index_free(flat);
	else
		*idx = flat;
	return rc;
}

/* Searches every segment file like a reader (on the CPU) and keeps the k
 * nearest over all of them, as global row numbers. */
static int gbench__search(const struct gbench_run *r, const struct bdata *g, uint64_t nseg,
			  uint32_t nq, uint32_t k, int nprobe, int64_t *best)
{
	float *q = malloc(sizeof(float) * g->dim * nq);
	float *dist = malloc(sizeof(float) * nq * k), *best_d = malloc(sizeof(float) * nq * k);
	idx_t *lab = malloc(sizeof(idx_t) * nq * k);
	int rc = q && dist && best_d && lab ? 0 : ROOST_ENOMEM;
	if (rc == 0)
		bdata_queries(g, 0, nq, q);
	for (size_t i = 0; rc == 0 && i < (size_t)nq * k; i++) {
		best[i] = -1;
		best_d[i] = 3.4e38f;
	}
	for (uint64_t s = 0; rc == 0 && s < nseg; s++) {
		FaissIndex *idx = NULL;
		rc = gbench__open_segment(r, g, s, &idx);
		FaissIndexIVF *ivf = rc ? NULL : faiss_IndexIVF_cast(idx);
		if (ivf)
			faiss_IndexIVF_set_nprobe(ivf, (size_t)nprobe);
		if (rc == 0)
			rc = gbench__faiss(faiss_Index_search(idx, nq, q, k, dist, lab), "search");
		for (uint32_t i = 0; rc == 0 && i < nq; i++) {
			/* Insertion into query i's sorted top k. */
			for (uint32_t j = 0; j < k && lab[i * k + j] >= 0; j++) {
				float d = dist[i * k + j];
				int64_t row = (int64_t)(s * r->seal) + lab[i * k + j];
				uint32_t at = k;
				while (at > 0 && best_d[i * k + at - 1] > d)
					at--;
				if (at == k)
					continue;
				memmove(&best_d[i * k + at + 1], &best_d[i * k + at],
					sizeof(float) * (k - at - 1));
				memmove(&best[i * k + at + 1], &best[i * k + at],
					sizeof(int64_t) * (k - at - 1));
				best_d[i * k + at] = d;
				best[i * k + at] = row;
			}
		}
		faiss_Index_free(idx);
	}
	free(q);
	free(dist);
	free(best_d);
	free(lab);
	return rc;
}

static int gbench__open_place(const struct bargs *a, uint64_t seal, place **out)
{
	*out = NULL;
	if (!bargs_int(a, "gpu", 0))
		return 0;
	struct place_config pc = {
	    .device = (int)bargs_int(a, "device", 0),
	    .temp_bytes = (uint64_t)bargs_int(a, "temp-mb", 256) << 20,
	    .budget_percent = (uint32_t)bargs_int(a, "budget", 100),
	    .segment_vectors = seal,
	    .policy = GPUMEM_POLICY_CPU,
	};
	return place_open(out, &pc);
}

static int gbench_ingest(const struct bargs *a, const struct bdata *g)
{
	struct gbench_run r = {
	    .factory = bargs_str(a, "index", "Flat"),
	    .dir = bargs_str(a, "dir", NULL),
	    .n = (uint64_t)bargs_int(a, "n", 100000),
	    .seal = (uint64_t)bargs_int(a, "seal", 65536),
	    .group = (uint64_t)bargs_int(a, "group", 4096),
	    .train = (uint64_t)bargs_int(a, "train", 65536),
	};
	uint32_t nq = (uint32_t)bargs_int(a, "nq", 1000), k = (uint32_t)bargs_int(a, "k", 10);
	const char *results = bargs_str(a, "results", NULL);
	if (!r.dir || !results || !r.n || !r.seal || !r.group || !r.train || !nq || !k)
		return ROOST_EINVAL;
	if (mkdir(r.dir, 0700) != 0) {
		fprintf(stderr, "roost-bench-gpu: --dir %s must be a new directory\n", r.dir);
		return ROOST_EEXIST;
	}
	int rc = gbench__open_place(a, r.seal, &r.place);
	if (rc == 0)
		rc = place_check_index(r.place, r.factory, g->dim, 0);
	float *rows = rc ? NULL : malloc(sizeof(float) * g->dim * r.seal);
	if (rc == 0 && !rows)
		rc = ROOST_ENOMEM;
	uint64_t nseg = (r.n + r.seal - 1) / r.seal, busy_ns = 0;
	double train_s = 0;
	for (uint64_t s = 0; rc == 0 && s < nseg; s++) {
		uint64_t first = s * r.seal, m = r.n - first < r.seal ? r.n - first : r.seal;
		bdata_rows(g, first, m, rows); /* the tail holds them: not timed */
		uint64_t t0 = bstat_now_ns();
		rc = gbench__segment(&r, g, s, rows, m, &train_s);
		busy_ns += bstat_now_ns() - t0;
	}
	int64_t *best = rc ? NULL : malloc(sizeof(int64_t) * nq * k);
	if (rc == 0 && !best)
		rc = ROOST_ENOMEM;
	uint64_t t0 = bstat_now_ns();
	if (rc == 0)
		rc = gbench__search(&r, g, nseg, nq, k, (int)bargs_int(a, "nprobe", 16), best);
	double search_s = (double)(bstat_now_ns() - t0) / 1e9;
	if (rc == 0)
		rc = bdata_gt_write(results, nq, k, best);
	if (rc == 0) {
		double secs = (double)busy_ns / 1e9;
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "gpu-ingest");
		bstat_json_str(&j, "index", r.factory);
		bstat_json_str(&j, "writer", r.place ? "gpu" : "cpu");
		bstat_json_str(&j, "mode", place_mode(r.place));
		bstat_json_num(&j, "vectors", (double)r.n);
		bstat_json_num(&j, "segments", (double)nseg);
		bstat_json_num(&j, "group", (double)r.group);
		bstat_json_num(&j, "seconds", secs);
		bstat_json_num(&j, "train_seconds", train_s);
		bstat_json_num(&j, "vectors_per_s", secs > 0 ? (double)r.n / secs : 0);
		bstat_json_num(&j, "search_seconds", search_s);
		bstat_json_str(&j, "results", results);
		bstat_json_end(&j);
	}
	free(best);
	free(rows);
	place_close(r.place);
	return rc;
}

static int gbench_compare(const struct bargs *a, const struct bdata *g)
{
	(void)g;
	const char *truth_path = bargs_str(a, "truth", NULL), *got_path = bargs_str(a, "got", NULL);
	if (!truth_path || !got_path)
		return ROOST_EINVAL;
	uint32_t tq, tk, gq, gk;
	int64_t *truth = NULL, *got = NULL;
	int rc = bdata_gt_read(truth_path, &tq, &tk, &truth);
	if (rc == 0)
		rc = bdata_gt_read(got_path, &gq, &gk, &got);
	if (rc == 0 && (tq != gq || tk != gk))
		rc = ROOST_EINVAL;
	if (rc == 0) {
		double recall = 0;
		uint32_t same = 0;
		for (uint32_t q = 0; q < tq; q++) {
			recall += bdata_recall(truth, tk, q, got + (size_t)q * gk, gk);
			same += memcmp(truth + (size_t)q * tk, got + (size_t)q * gk,
				       sizeof(int64_t) * tk) == 0;
		}
		struct bstat_json j;
		bstat_json_begin(&j, stdout, "gpu-compare");
		bstat_json_str(&j, "truth", truth_path);
		bstat_json_str(&j, "got", got_path);
		bstat_json_num(&j, "queries", tq);
		bstat_json_num(&j, "k", tk);
		bstat_json_num(&j, "recall", recall / tq);
		bstat_json_num(&j, "identical_lists", same);
		bstat_json_end(&j);
	}
	free(truth);
	free(got);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct bargs_command cmds[] = {
	    {"ingest", "index dir n seal group train gpu device temp-mb budget nq k nprobe results",
	     gbench_ingest},
	    {"compare", "truth got", gbench_compare},
	};
	log_init("bench-gpu");
	return bargs_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
