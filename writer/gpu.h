/* The writer's GPU: one CUDA device, its one StandardGpuResources with an
 * explicit scratch size, and the copies of FAISS indexes to and from it.
 * Only the writer's ingest thread uses it. In a build without ROOST_GPU
 * every entry point reports ROOST_EUNSUPPORTED, so callers need no #ifdef. */
#ifndef ROOST_GPU_H
#define ROOST_GPU_H

#include "gpumem.h"

#include <faiss/c_api/Index_c.h>

#include <stddef.h>
#include <stdint.h>

typedef struct gpu gpu;

/* Finds the device with the CUDA runtime (never through FAISS, whose device
 * count aborts the process without a driver), creates the resources and
 * reserves the scratch. ROOST_EUNSUPPORTED: built without GPU support;
 * ROOST_ENOENT: no usable device; ROOST_EINVAL: no device of that number;
 * ROOST_ENOMEM: too little free memory for the scratch. *why says what CUDA
 * or FAISS reported. */
int gpu_open(gpu **out, int device, uint64_t temp_bytes, char *why, size_t why_len);
void gpu_close(gpu *g);

/* A gpumem_source query (ctx is the gpu): cudaMemGetInfo. */
int gpu_meminfo(void *ctx, struct gpumem_info *out);

/* Device memory the writer holds whatever its index: the CUDA context (an
 * estimate: it exists before anything can measure it) plus what creating
 * the resources took (scratch, streams, cuBLAS). */
uint64_t gpu_fixed_bytes(const gpu *g);

/* A GPU copy of a CPU index, or a CPU copy of a GPU index. The source is
 * left as it was; on failure (ROOST_EFAISS, FAISS's message logged) nothing
 * is returned. */
int gpu_index_to_gpu(gpu *g, const FaissIndex *cpu, FaissIndex **out);
int gpu_index_to_cpu(const FaissIndex *on_gpu, FaissIndex **out);

#endif
