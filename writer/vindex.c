#include "vindex.h"

#include "durable.h"
#include "err.h"
#include "flatidx.h"
#include "log.h"

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Device memory of an IVF list beyond its vectors: codes and ids are two
 * allocations rounded up to 256 bytes, plus the list's pointers. */
#define VINDEX_GPU_LIST_BYTES 768u

struct vindex {
	FaissIndex *index;
	/* On the GPU: the CPU index it came from, emptied. A failed add can
	 * leave a GPU index half-changed; this is where it is rebuilt. */
	FaissIndex *spare;
	int on_gpu;
	struct gpumem_model model; /* from the CPU index: a GPU one hides its type */
	uint64_t nlist;		   /* IVF lists; 0 for other types */
	int rows_only;		   /* a CPU Flat index kept as its row count */
	uint64_t rows;		   /* with rows_only: the rows added */
};

/* FAISS's text without its C++ prefix: "Error in <function> at
 * <source path>:<line>: " says nothing to a user, and the path is that of
 * a long-gone build directory. */
static const char *vindex__faiss_words(void)
{
	const char *msg = faiss_get_last_error();
	if (!msg || !*msg)
		return "(no message)";
	const char *at = strncmp(msg, "Error in ", 9) == 0 ? strstr(msg, " at ") : NULL;
	const char *colon = at ? strchr(at + 4, ':') : NULL;
	if (!colon || colon[1] < '0' || colon[1] > '9')
		return msg;
	colon += strspn(colon + 1, "0123456789") + 1;
	return colon[0] == ':' && colon[1] == ' ' ? colon + 2 : msg;
}

static int vindex__fail(const char *what)
{
	log_error("FAISS %s failed: %s", what, vindex__faiss_words());
	return ROOST_EFAISS;
}

/* The GPU footprint of FAISS 1.7.3's GPU indexes, as an upper bound (the
 * budget must hold): GpuIndexFlat keeps one array of vectors and one of L2
 * norms, both reallocated to the exact new size by every add. GpuIndexIVF*
 * keep the coarse centroids (with norms) and per list codes and 64-bit ids
 * in arrays that grow to the next power of two (up to twice the vectors),
 * the codes in blocks of 32 vectors (interleaved layout), and upload the
 * batch being added. Other types count code plus id, reallocated whole. */
static void vindex__model(vindex *v, const FaissIndex *index, struct gpumem_model *m)
{
	uint64_t d = (uint64_t)faiss_Index_d(index);
	size_t code = 0;
	FaissIndexIVF *ivf = faiss_IndexIVF_cast((FaissIndex *)index);
	if (faiss_IndexFlat_cast((FaissIndex *)index)) {
		*m = (struct gpumem_model){.vector_bytes = d * 4 + 4, .regrows = 1};
	} else if (ivf) {
		uint64_t nlist = faiss_IndexIVF_nlist(ivf);
		v->nlist = nlist;
		if (faiss_Index_sa_code_size(index, &code) != 0)
			code = d * 4;
		*m = (struct gpumem_model){
		    .index_bytes = nlist * (d * 4 + 4 + VINDEX_GPU_LIST_BYTES + 62 * code),
		    .vector_bytes = 2 * (code + 8),
		    .transient_bytes = d * 4 + 64,
		};
	} else {
		if (faiss_Index_sa_code_size(index, &code) != 0)
			code = d * 4;
		*m = (struct gpumem_model){
		    .vector_bytes = code + 8, .transient_bytes = d * 4, .regrows = 1};
	}
}

static int vindex__wrap(vindex **out, FaissIndex *index)
{
	vindex *v = calloc(1, sizeof *v);
	if (!v) {
		faiss_Index_free(index);
		return ROOST_ENOMEM;
	}
	v->index = index;
	vindex__model(v, index, &v->model);
	*out = v;
	return 0;
}

static int vindex__factory(FaissIndex **out, const char *factory, uint32_t dim, uint32_t metric,
			   char *why, size_t len)
{
	FaissMetricType m = metric ? METRIC_INNER_PRODUCT : METRIC_L2;
	*out = NULL;
	int rc = 0;
	if (faiss_index_factory(out, (int)dim, factory, m) != 0) {
		snprintf(why, len, "FAISS says \"%s\"", vindex__faiss_words());
		rc = ROOST_EINVAL;
	}
	return rc;
}

int vindex_new(vindex **out, const char *factory, uint32_t dim, uint32_t metric)
{
	FaissIndex *index;
	char why[256];
	if (vindex__factory(&index, factory, dim, metric, why, sizeof why) != 0) {
		log_error("index '%s' cannot be built: %s", factory, why);
		return ROOST_EINVAL;
	}
	return vindex__wrap(out, index);
}

int vindex_load(vindex **out, const char *path)
{
	FaissIndex *index = NULL;
	if (faiss_read_index_fname(path, 0, &index) != 0)
		return vindex__fail("read_index");
	return vindex__wrap(out, index);
}

void vindex_free(vindex *v)
{
	if (!v)
		return;
	faiss_Index_free(v->index);
	faiss_Index_free(v->spare);
	free(v);
}

int vindex_is_trained(const vindex *v)
{
	return faiss_Index_is_trained(v->index);
}

int vindex_train(vindex *v, uint64_t n, const float *x)
{
	if (faiss_Index_train(v->index, (idx_t)n, x) != 0)
		return vindex__fail("train");
	if (!v->on_gpu)
		return 0;
	/* A rebuild after a failed add must start from the trained index. */
	FaissIndex *trained;
	int rc = gpu_index_to_cpu(v->index, &trained);
	if (rc)
		return rc;
	faiss_Index_free(v->spare);
	v->spare = trained;
	return 0;
}

int vindex_add(vindex *v, uint64_t n, const float *x)
{
	if (n == 0)
		return 0;
	if (v->rows_only) {
		v->rows += n;
		return 0;
	}
	if (faiss_Index_add(v->index, (idx_t)n, x) != 0)
		return vindex__fail("add");
	return 0;
}

#define VINDEX__BLOCK 4096u

int vindex_add_blocks(vindex *v, uint64_t n, const float *x, const atomic_int *cancel)
{
	if (!vindex_is_trained(v))
		return ROOST_EINVAL;
	uint32_t dim = (uint32_t)faiss_Index_d(v->index);
	for (uint64_t at = 0; at < n; at += VINDEX__BLOCK) {
		/* Pairs with the stopping thread's store; a late look costs a block. */
		if (atomic_load_explicit(cancel, memory_order_relaxed))
			return ROOST_ECLOSED;
		uint64_t k = n - at < VINDEX__BLOCK ? n - at : VINDEX__BLOCK;
		int rc = vindex_add(v, k, x + at * dim);
		if (rc)
			return rc;
	}
	return 0;
}

int vindex_build_file(const char *factory, uint32_t dim, uint32_t metric, const char *trained,
		      uint64_t n, const float *x, const atomic_int *cancel, const char *path,
		      mode_t mode)
{
	vindex *v;
	int rc = trained ? vindex_load(&v, trained) : vindex_new(&v, factory, dim, metric);
	if (rc)
		return rc;
	rc = vindex_add_blocks(v, n, x, cancel);
	if (rc == 0)
		rc = vindex_store(v, path, mode);
	vindex_free(v);
	return rc;
}

uint64_t vindex_count(const vindex *v)
{
	return v->rows_only ? v->rows : (uint64_t)faiss_Index_ntotal(v->index);
}

void vindex_keep_rows_only(vindex *v)
{
	if (!v->on_gpu && faiss_Index_ntotal(v->index) == 0 && faiss_IndexFlat_cast(v->index))
		v->rows_only = 1;
}

int vindex_to_gpu(vindex *v, gpu *g)
{
	FaissIndex *moved;
	if (v->on_gpu)
		return 0;
	if (v->rows_only)
		return ROOST_EINVAL; /* it has no vectors to move */
	int rc = gpu_index_to_gpu(g, v->index, &moved);
	if (rc)
		return rc;
	faiss_Index_reset(v->index);
	v->spare = v->index;
	v->index = moved;
	v->on_gpu = 1;
	return 0;
}

int vindex_to_cpu(vindex *v)
{
	FaissIndex *moved;
	if (!v->on_gpu)
		return 0;
	int rc = gpu_index_to_cpu(v->index, &moved);
	if (rc)
		return rc;
	/* Frees the device memory. */
	faiss_Index_free(v->index);
	faiss_Index_free(v->spare);
	v->spare = NULL;
	v->index = moved;
	v->on_gpu = 0;
	return 0;
}

int vindex_rebuild_on_cpu(vindex *v, uint64_t n, const float *x)
{
	if (!v->on_gpu)
		return 0;
	faiss_Index_free(v->index);
	v->index = v->spare;
	v->spare = NULL;
	v->on_gpu = 0;
	return vindex_add(v, n, x);
}

/* Pseudo-random vectors in [-1, 1): the warm-up needs no real data. */
static void vindex__noise(float *x, uint64_t n)
{
	uint64_t s = 0x9E3779B97F4A7C15ull;
	for (uint64_t i = 0; i < n; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = (float)(s >> 40) / (float)(1u << 23) - 1.0f;
	}
}

int vindex_warm_up(vindex *v)
{
	uint64_t d = (uint64_t)faiss_Index_d(v->index);
	/* Two points per list, so that k-means iterates rather than copies. */
	uint64_t n = v->nlist ? 2 * v->nlist : 256;
	float *x = malloc(n * d * sizeof *x);
	if (!x)
		return ROOST_ENOMEM;
	vindex__noise(x, n * d);
	int rc = vindex_is_trained(v) ? 0 : vindex_train(v, n, x);
	if (rc == 0)
		rc = vindex_add(v, n, x);
	FaissIndex *copy = NULL;
	if (rc == 0 && v->on_gpu)
		rc = gpu_index_to_cpu(v->index, &copy);
	faiss_Index_free(copy);
	free(x);
	return rc;
}

int vindex_on_gpu(const vindex *v)
{
	return v->on_gpu;
}

void vindex_gpu_model(const vindex *v, struct gpumem_model *out)
{
	*out = v->model;
}

int vindex_store(const vindex *v, const char *path, mode_t mode)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return ROOST_ETOOBIG;
	/* Readers are CPU-only: a GPU index is written from a CPU copy. */
	FaissIndex *cpu = v->index;
	if (v->on_gpu && gpu_index_to_cpu(v->index, &cpu) != 0)
		return ROOST_EFAISS;
	if (faiss_IndexFlat_cast(cpu)) {
		/* Its vectors are the segment's documents file's. */
		int rc = flatidx_store(path, (uint32_t)faiss_Index_d(cpu), vindex_count(v),
				       faiss_Index_metric_type(cpu) == METRIC_INNER_PRODUCT, mode);
		if (cpu != v->index)
			faiss_Index_free(cpu);
		return rc;
	}
	errno = 0;
	int written = faiss_write_index_fname(cpu, tmp) == 0;
	/* FAISS reports a failed fopen or fwrite as an exception; the errno
	 * it left tells a full or read-only disk (which the writer waits out,
	 * saying which) from the rest. */
	int write_errno = errno;
	if (cpu != v->index)
		faiss_Index_free(cpu);
	if (!written) {
		unlink(tmp);
		int rc = vindex__fail("write_index");
		int env = roost_from_errno(write_errno);
		return env == ROOST_ENOSPC || env == ROOST_EPERM ? env : rc;
	}
	/* FAISS created it with the umask's mode. */
	int rc = chmod(tmp, mode) == 0 ? 0 : roost_from_errno(errno);
	if (rc == 0)
		rc = durable_sync_file(tmp);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = roost_from_errno(errno);
	if (rc)
		unlink(tmp);
	return rc;
}

int vindex_check_factory(const char *factory, uint32_t dim, uint32_t metric, int *needs_training,
			 char *why, size_t len)
{
	FaissIndex *index;
	if (vindex__factory(&index, factory, dim, metric, why, len) != 0)
		return ROOST_EINVAL;
	*needs_training = !faiss_Index_is_trained(index);
	faiss_Index_free(index);
	return 0;
}
