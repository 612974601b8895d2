/* roost-gpu-hog: plays the LLM server that shares the writer's GPU (the
 * failure roost was built for: vLLM holding about 90% of the memory). It
 * takes device memory with cudaMalloc and holds it.
 *
 *   hold   takes --percent of the device's total memory (default 90), or
 *          more when --leave-mib is given: all but that much of what is
 *          free; holds it --hold-s seconds, then frees it and exits
 *
 * One JSON line when the memory is taken and one when it is freed. Built
 * only with GPU=1. */
#include "bargs.h"
#include "bdata.h"
#include "bstat.h"
#include "err.h"

#include <cuda_runtime_api.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define HOG_CHUNK      (64ull << 20)
#define HOG_MAX_CHUNKS 65536

static void hog__json(const char *kind, uint64_t taken, size_t free_bytes, size_t total)
{
	struct bstat_json j;
	bstat_json_begin(&j, stdout, kind);
	bstat_json_num(&j, "taken_mib", (double)(taken >> 20));
	bstat_json_num(&j, "free_mib", (double)(free_bytes >> 20));
	bstat_json_num(&j, "total_mib", (double)(total >> 20));
	bstat_json_end(&j);
	fflush(stdout);
}

static int hog_hold(const struct bargs *a, const struct bdata *g)
{
	(void)g;
	size_t free_bytes, total;
	cudaError_t e = cudaSetDevice((int)bargs_int(a, "device", 0));
	if (e == cudaSuccess)
		e = cudaMemGetInfo(&free_bytes, &total);
	if (e != cudaSuccess) {
		fprintf(stderr, "roost-gpu-hog: %s\n", cudaGetErrorString(e));
		return ROOST_ENOENT;
	}
	uint64_t want = total / 100 * (uint64_t)bargs_int(a, "percent", 90);
	uint64_t leave = (uint64_t)bargs_int(a, "leave-mib", -1);
	if (leave != (uint64_t)-1 && free_bytes > (leave << 20) &&
	    free_bytes - (leave << 20) > want)
		want = free_bytes - (leave << 20);
	void **chunks = calloc(HOG_MAX_CHUNKS, sizeof *chunks);
	if (!chunks)
		return ROOST_ENOMEM;
	/* In chunks, so that a shortfall still takes what there is. */
	uint64_t taken = 0;
	size_t n = 0;
	while (taken < want && n < HOG_MAX_CHUNKS) {
		size_t sz = want - taken < HOG_CHUNK ? want - taken : HOG_CHUNK;
		if (cudaMalloc(&chunks[n], sz) != cudaSuccess)
			break;
		n++;
		taken += sz;
	}
	cudaGetLastError(); /* a failed cudaMalloc leaves its error behind */
	cudaMemGetInfo(&free_bytes, &total);
	hog__json("hog-taken", taken, free_bytes, total);
	struct timespec ts = {.tv_sec = (time_t)bargs_int(a, "hold-s", 10)};
	nanosleep(&ts, NULL);
	for (size_t i = 0; i < n; i++)
		cudaFree(chunks[i]);
	free(chunks);
	cudaMemGetInfo(&free_bytes, &total);
	hog__json("hog-freed", taken, free_bytes, total);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct bargs_command cmds[] = {
	    {"hold", "device percent leave-mib hold-s", hog_hold},
	};
	return bargs_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
