/* Where the open segment's index may grow: on the GPU while the writer stays
 * inside its GPU memory budget and the device has the memory free, otherwise
 * on the CPU (policy "cpu") or nowhere until memory returns (policy
 * "refuse"). Pure decision logic: the device's memory figures come from a
 * gpumem_source, so tests drive every branch with a fake one and no CUDA. */
#ifndef ROOST_GPUMEM_H
#define ROOST_GPUMEM_H

#include <stddef.h>
#include <stdint.h>

/* What to do when the GPU cannot take a growth. */
enum gpumem_policy {
	GPUMEM_POLICY_CPU,    /* move the index to the CPU and go on there */
	GPUMEM_POLICY_REFUSE, /* stop growing until the memory is there */
};

struct gpumem_config {
	uint64_t budget_bytes;	  /* the writer's whole GPU footprint; 0: percent */
	uint32_t budget_percent;  /* of the device's total memory, 1 to 100 */
	uint64_t fixed_bytes;	  /* always held: CUDA context, scratch, streams */
	uint64_t headroom_bytes;  /* free memory a growth must leave to others */
	uint64_t segment_vectors; /* a full segment, for the way back to the GPU */
	enum gpumem_policy policy;
};

struct gpumem_info {
	uint64_t free_bytes;
	uint64_t total_bytes;
};

/* The device's memory now (cudaMemGetInfo); a negative ROOST_E* code when
 * it cannot tell. */
struct gpumem_source {
	int (*query)(void *ctx, struct gpumem_info *out);
	void *ctx;
};

/* Device bytes of an index type, as a function of its vector count. */
struct gpumem_model {
	uint64_t index_bytes;	  /* independent of the count (IVF centroids) */
	uint64_t vector_bytes;	  /* stored per vector */
	uint64_t transient_bytes; /* per vector being added, during the add */
	int regrows;		  /* one array reallocated by each add: old + new */
};

/* Where the next add runs. */
enum gpumem_place {
	GPUMEM_ON_GPU,
	GPUMEM_ON_CPU,
	GPUMEM_REFUSED, /* policy refuse: do not add now, ask again later */
};

typedef struct gpumem gpumem;

/* ROOST_EINVAL for a budget of 0 bytes or a percentage outside 1 to 100. */
int gpumem_new(gpumem **out, const struct gpumem_config *cfg, const struct gpumem_source *src);
void gpumem_free(gpumem *g);

/* Device memory held by the writer's other indexes (each collection has an
 * open segment's index, and several may be on the GPU): every later
 * decision counts it against the budget beside the index it is about, so
 * the budget covers all collections together. 0 until set. */
void gpumem_set_others(gpumem *g, uint64_t bytes);

/* Before adding n_add vectors to an index of n_now, resident on the GPU when
 * on_gpu. After a fallback to the CPU the answer stays GPUMEM_ON_CPU until
 * gpumem_place_segment finds room again. */
void gpumem_place_add(gpumem *g, const struct gpumem_model *m, uint64_t n_now, uint64_t n_add,
		      int on_gpu, enum gpumem_place *out);

/* An add (or a move to the GPU) that was allowed failed all the same:
 * another process took the memory. GPUMEM_ON_CPU or GPUMEM_REFUSED. */
void gpumem_add_failed(gpumem *g, enum gpumem_place *out);

/* A new segment of n_now vectors: *on_gpu tells whether it starts on the
 * GPU. From a fallback it returns only when a full segment fits, so the
 * writer does not bounce between the two. */
void gpumem_place_segment(gpumem *g, const struct gpumem_model *m, uint64_t n_now, int *on_gpu);

/* The writer mode for status ("gpu", "cpu (fallback: GPU budget 80%
 * exceeded)", "refusing: GPU memory budget ..."); at most 63 bytes. */
const char *gpumem_mode(const gpumem *g);

/* The figures behind the last decision, for the log. */
const char *gpumem_detail(const gpumem *g);

#endif
