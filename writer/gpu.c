#include "gpu.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef ROOST_GPU

#include <cuda_runtime_api.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/gpu/GpuAutoTune_c.h>
#include <faiss/c_api/gpu/GpuResources_c.h>
#include <faiss/c_api/gpu/StandardGpuResources_c.h>

/* A CUDA context with cuBLAS and FAISS's kernels loaded lazily holds a few
 * hundred MiB; nothing can measure it before it exists, so the budget counts
 * this much for it (bench/gpu-check.sh compares it with nvidia-smi). */
#define GPU_CONTEXT_BYTES (512ull << 20)

/* FAISS aborts (FAISS_ASSERT) when cuBLAS or a stream cannot be created, so
 * the resources are created only when this much is free beyond the scratch. */
#define GPU_INIT_SLACK (128ull << 20)

struct gpu {
	int device;
	FaissStandardGpuResources *res;
	uint64_t fixed_bytes;
};

static int gpu__faiss_fail(const char *what, char *why, size_t why_len)
{
	const char *msg = faiss_get_last_error();
	snprintf(why, why_len, "FAISS %s failed: %s", what, msg ? msg : "(no message)");
	return ROOST_EFAISS;
}

/* A failed copy is expected under memory pressure: the caller falls back. */
static int gpu__log_fail(const char *what)
{
	char why[512];
	gpu__faiss_fail(what, why, sizeof why);
	log_warn("%s", why);
	return ROOST_EFAISS;
}

/* Creates the resources and makes FAISS set up the device now (streams,
 * cuBLAS handle, scratch), so that a shortage shows here as an error
 * rather than later inside an add. */
static int gpu__resources(gpu *g, uint64_t temp_bytes, char *why, size_t why_len)
{
	if (faiss_StandardGpuResources_new(&g->res) != 0)
		return gpu__faiss_fail("StandardGpuResources", why, why_len);
	if (faiss_StandardGpuResources_setTempMemory(g->res, (size_t)temp_bytes) != 0)
		return gpu__faiss_fail("setTempMemory", why, why_len);
	FaissGpuResources *r;
	FaissGpuResourcesProvider *p = (FaissGpuResourcesProvider *)g->res;
	if (faiss_GpuResourcesProvider_getResources(p, &r) != 0 ||
	    faiss_GpuResources_initializeForDevice(r, g->device) != 0)
		return gpu__faiss_fail("initializeForDevice", why, why_len);
	return 0;
}

int gpu_open(gpu **out, int device, uint64_t temp_bytes, char *why, size_t why_len)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess || n == 0) {
		snprintf(why, why_len, "no usable GPU: %s",
			 e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device");
		return ROOST_ENOENT;
	}
	if (device < 0 || device >= n) {
		snprintf(why, why_len, "no GPU device %d (%d found)", device, n);
		return ROOST_EINVAL;
	}
	size_t free0, free1, total;
	e = cudaSetDevice(device);
	if (e == cudaSuccess)
		e = cudaMemGetInfo(&free0, &total);
	if (e != cudaSuccess) {
		snprintf(why, why_len, "GPU %d unusable: %s", device, cudaGetErrorString(e));
		return ROOST_ENOENT;
	}
	if (free0 < temp_bytes + GPU_INIT_SLACK) {
		snprintf(why, why_len,
			 "GPU %d has %llu MiB free, too little for a %llu MiB scratch", device,
			 (unsigned long long)(free0 >> 20), (unsigned long long)(temp_bytes >> 20));
		return ROOST_ENOMEM;
	}
	gpu *g = calloc(1, sizeof *g);
	if (!g)
		return ROOST_ENOMEM;
	g->device = device;
	int rc = gpu__resources(g, temp_bytes, why, why_len);
	if (rc == 0 && cudaMemGetInfo(&free1, &total) != cudaSuccess) {
		snprintf(why, why_len, "GPU %d stopped answering", device);
		rc = ROOST_EIO;
	}
	if (rc) {
		gpu_close(g);
		return rc;
	}
	/* Other processes may allocate meanwhile: the drop is an estimate. */
	g->fixed_bytes = GPU_CONTEXT_BYTES + (free0 > free1 ? free0 - free1 : 0);
	*out = g;
	return 0;
}

void gpu_close(gpu *g)
{
	if (!g)
		return;
	faiss_StandardGpuResources_free(g->res);
	free(g);
}

int gpu_meminfo(void *ctx, struct gpumem_info *out)
{
	(void)ctx; /* the ingest thread's current device is the writer's GPU */
	size_t free_bytes, total;
	cudaError_t e = cudaMemGetInfo(&free_bytes, &total);
	if (e != cudaSuccess) {
		log_error("cudaMemGetInfo failed: %s", cudaGetErrorString(e));
		return ROOST_EIO;
	}
	out->free_bytes = free_bytes;
	out->total_bytes = total;
	return 0;
}

uint64_t gpu_fixed_bytes(const gpu *g)
{
	return g->fixed_bytes;
}

int gpu_index_to_gpu(gpu *g, const FaissIndex *cpu, FaissIndex **out)
{
	FaissGpuIndex *gi = NULL;
	if (faiss_index_cpu_to_gpu((FaissGpuResourcesProvider *)g->res, g->device, cpu, &gi) != 0)
		return gpu__log_fail("index_cpu_to_gpu");
	*out = (FaissIndex *)gi;
	return 0;
}

int gpu_index_to_cpu(const FaissIndex *on_gpu, FaissIndex **out)
{
	if (faiss_index_gpu_to_cpu(on_gpu, out) != 0)
		return gpu__log_fail("index_gpu_to_cpu");
	return 0;
}

#else /* built without GPU support */

int gpu_open(gpu **out, int device, uint64_t temp_bytes, char *why, size_t why_len)
{
	(void)out, (void)device, (void)temp_bytes;
	snprintf(why, why_len, "built without GPU support (rebuild with make GPU=1)");
	return ROOST_EUNSUPPORTED;
}

void gpu_close(gpu *g)
{
	(void)g;
}

int gpu_meminfo(void *ctx, struct gpumem_info *out)
{
	(void)ctx, (void)out;
	return ROOST_EUNSUPPORTED;
}

uint64_t gpu_fixed_bytes(const gpu *g)
{
	(void)g;
	return 0;
}

int gpu_index_to_gpu(gpu *g, const FaissIndex *cpu, FaissIndex **out)
{
	(void)g, (void)cpu, (void)out;
	return ROOST_EUNSUPPORTED;
}

int gpu_index_to_cpu(const FaissIndex *on_gpu, FaissIndex **out)
{
	(void)on_gpu, (void)out;
	return ROOST_EUNSUPPORTED;
}

#endif
