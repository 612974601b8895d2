/* The writer's FAISS index for the segment being filled: built from a
 * factory string, trained when the type needs it, grown by one add call
 * per group, and written out when the segment is sealed. It lives on the
 * CPU or, with --gpu, on the GPU; what is written is always a CPU index.
 * Only the writer's single ingest thread touches it. */
#ifndef ROOST_VINDEX_H
#define ROOST_VINDEX_H

#include "gpu.h"
#include "gpumem.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct vindex vindex;

/* A new, empty index; ROOST_EINVAL (with the FAISS message in the log) for
 * a factory string FAISS does not accept. */
int vindex_new(vindex **out, const char *factory, uint32_t dim, uint32_t metric);

/* An empty copy of a trained index stored at path. */
int vindex_load(vindex **out, const char *path);

void vindex_free(vindex *v);

int vindex_is_trained(const vindex *v);

/* Trains on n vectors (row-major, dim each). */
int vindex_train(vindex *v, uint64_t n, const float *x);

/* Adds n vectors; their labels continue from vindex_count(). */
int vindex_add(vindex *v, uint64_t n, const float *x);

uint64_t vindex_count(const vindex *v);

/* A new Flat index on the CPU keeps only its row count from now on: its
 * file is its header alone (flatidx.h) and readers scan the segment's
 * documents, so its vectors would be a copy nobody reads, grown by
 * reallocation on the ingest thread. It cannot go to the GPU after. No
 * effect on other types, or on an index on the GPU or holding rows. */
void vindex_keep_rows_only(vindex *v);
/* Builds an index of the n vectors x and writes it to path (mode), off the
 * ingest thread: an empty copy of the trained index at trained (NULL: a
 * new one of factory, which must need no training), grown in blocks
 * (vindex_add_blocks, cancel as there). A Flat index is written as its
 * header alone (vindex_store), but built all the same: merges that skipped
 * FAISS wrote at the disk's full speed, and adds waited longer for the
 * log's fsyncs behind them (figure 12 measured worse). */
int vindex_build_file(const char *factory, uint32_t dim, uint32_t metric, const char *trained,
		      uint64_t n, const float *x, const atomic_int *cancel, const char *path,
		      mode_t mode);
/* Adds n vectors in blocks, off the ingest thread: ROOST_ECLOSED once
 * *cancel became non-zero (checked between blocks, so that a stopping
 * writer waits for one block, not for a whole HNSW build); ROOST_EINVAL
 * when the index is not trained. */
int vindex_add_blocks(vindex *v, uint64_t n, const float *x, const atomic_int *cancel);

/* Moves the index to the GPU or back. On failure the index stays where it
 * was, unchanged. */
int vindex_to_gpu(vindex *v, gpu *g);
int vindex_to_cpu(vindex *v);

int vindex_on_gpu(const vindex *v);

/* Trains (when needed), adds and copies back a few pseudo-random vectors.
 * On the GPU this loads the kernels FAISS will use (CUDA loads them lazily,
 * and FAISS aborts when a launch fails) and allocates cuBLAS's workspace
 * before any memory pressure. Leaves v changed: for a throw-away index. */
int vindex_warm_up(vindex *v);

/* After a failed add on the GPU, whose index may then be half-changed:
 * drops it and adds the segment's first n vectors (x) to an empty CPU copy
 * of the index as it was before it went to the GPU. */
int vindex_rebuild_on_cpu(vindex *v, uint64_t n, const float *x);

/* How many device bytes the index needs as it grows (see gpumem.h). */
void vindex_gpu_model(const vindex *v, struct gpumem_model *out);

/* Writes the index durably with mode: temp file, fsync, rename; a GPU
 * index is written from a CPU copy. */
int vindex_store(const vindex *v, const char *path, mode_t mode);

/* Checks a factory string by building the index in memory, without
 * keeping it; ROOST_EINVAL with FAISS's own words in why (FAISS says
 * "...", no source paths) when it cannot be built. Logs nothing. Some
 * strings FAISS builds crash it later (coll_index_check keeps clients to
 * the types that do not). */
int vindex_check_factory(const char *factory, uint32_t dim, uint32_t metric, int *needs_training,
			 char *why, size_t len);

#endif
