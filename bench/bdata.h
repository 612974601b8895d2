/* Benchmark data: a fixed, seeded, clustered Gaussian data set.
 *
 * Row i of the base set and query j of the query set are pure functions of
 * (seed, dim, clusters, sigma, i or j), so every process (clients, the
 * baselines, the Python script through a dumped file) regenerates exactly
 * the same vectors for any range without a shared file.
 *
 * A point is a cluster centre (each coordinate N(0, 1)) plus noise with
 * each coordinate N(0, sigma^2); its cluster is drawn uniformly. Queries
 * come from the same clusters but another random stream, so they are never
 * base rows.
 *
 * Ground truth files: "RBGT", uint32 nq, uint32 k, then nq * k int64 row
 * numbers, nearest first (the exact neighbours among rows [0, n)).
 */
#ifndef ROOST_BENCH_BDATA_H
#define ROOST_BENCH_BDATA_H

#include <stdint.h>

struct bdata {
	uint32_t dim;
	uint32_t clusters;
	uint64_t seed;
	float sigma;
	float *centers; /* clusters * dim */
};

/* The defaults every benchmark program uses unless told otherwise. */
#define BDATA_DIM      384u
#define BDATA_CLUSTERS 100u
#define BDATA_SEED     20240601u
#define BDATA_SIGMA    0.5f

int bdata_init(struct bdata *g, uint32_t dim, uint32_t clusters, uint64_t seed, float sigma);
void bdata_free(struct bdata *g);

/* Base rows [first, first + n) into out (n * dim floats). */
void bdata_rows(const struct bdata *g, uint64_t first, uint64_t n, float *out);

/* Query vectors [first, first + n) into out. */
void bdata_queries(const struct bdata *g, uint64_t first, uint64_t n, float *out);

/* Writes or reads a ground truth file; bdata_gt_read allocates *labels. */
int bdata_gt_write(const char *path, uint32_t nq, uint32_t k, const int64_t *labels);
int bdata_gt_read(const char *path, uint32_t *nq, uint32_t *k, int64_t **labels);

/* Fraction of the k true neighbours of query q found in got[0..k). */
double bdata_recall(const int64_t *truth, uint32_t gt_k, uint32_t q, const int64_t *got,
		    uint32_t k);

#endif
