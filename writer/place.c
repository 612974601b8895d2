#include "place.h"

#include "err.h"
#include "gpu.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Free device memory a growth must leave to the other processes on the
 * GPU, and to what FAISS allocates beside the projection (cuBLAS
 * workspaces, IVF list reallocations). */
#define PLACE_HEADROOM (256ull << 20)

struct place {
	gpu *gpu; /* NULL: no usable GPU, on the CPU for good */
	gpumem *mem;
	char mode[64]; /* the mode last shown */
	/* The indexes on the GPU (one open segment per collection at most):
	 * the budget covers them together. */
	vindex **resident;
	size_t nresident, cap;
};

/* Device bytes v holds now, by its model. */
static uint64_t place__held(const vindex *v)
{
	struct gpumem_model m;
	vindex_gpu_model(v, &m);
	return m.index_bytes + vindex_count(v) * m.vector_bytes;
}

/* What the indexes on the GPU other than v hold: told to gpumem before
 * each decision about v. */
static void place__others(place *p, const vindex *v)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < p->nresident; i++)
		if (p->resident[i] != v)
			bytes += place__held(p->resident[i]);
	gpumem_set_others(p->mem, bytes);
}

void place_forget(place *p, vindex *v)
{
	for (size_t i = 0; p && i < p->nresident; i++)
		if (p->resident[i] == v) {
			p->resident[i] = p->resident[--p->nresident];
			return;
		}
}

/* Keeps the resident list true after v may have moved. When it cannot
 * grow, v is moved to the CPU rather than left on the GPU uncounted. */
static void place__track(place *p, vindex *v)
{
	place_forget(p, v);
	if (!vindex_on_gpu(v))
		return;
	if (p->nresident == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		vindex **a = realloc(p->resident, cap * sizeof *a);
		if (!a) {
			vindex_to_cpu(v);
			return;
		}
		p->resident = a;
		p->cap = cap;
	}
	p->resident[p->nresident++] = v;
}

/* Shows a change of mode in the log, with the figures behind it. */
static void place__note(place *p)
{
	const char *mode = gpumem_mode(p->mem);
	if (strcmp(mode, p->mode) == 0)
		return;
	if (strcmp(mode, "gpu") == 0)
		log_info("writer mode: gpu (%s)", gpumem_detail(p->mem));
	else
		log_warn("writer mode: %s: %s", mode, gpumem_detail(p->mem));
	snprintf(p->mode, sizeof p->mode, "%s", mode);
}

static int place__fail_open(place *p, int rc)
{
	gpu_close(p->gpu);
	free(p);
	return rc;
}

int place_open(place **out, const struct place_config *c)
{
	place *p = calloc(1, sizeof *p);
	if (!p)
		return ROOST_ENOMEM;
	char why[256];
	int rc = gpu_open(&p->gpu, c->device, c->temp_bytes, why, sizeof why);
	if (rc == ROOST_EUNSUPPORTED || rc == ROOST_EINVAL) {
		log_error("--gpu: %s", why);
		return place__fail_open(p, rc);
	}
	if (rc && c->policy == GPUMEM_POLICY_REFUSE) {
		log_error("--gpu: %s; not starting (--gpu-on-pressure refuse)", why);
		return place__fail_open(p, rc);
	}
	if (rc) {
		log_warn("--gpu: %s; the writer runs on the CPU", why);
		snprintf(p->mode, sizeof p->mode, "cpu (fallback: no usable GPU)");
		*out = p;
		return 0;
	}
	struct gpumem_config mc = {
	    .budget_bytes = c->budget_bytes,
	    .budget_percent = c->budget_percent,
	    .fixed_bytes = gpu_fixed_bytes(p->gpu),
	    .headroom_bytes = PLACE_HEADROOM,
	    .segment_vectors = c->segment_vectors,
	    .policy = c->policy,
	};
	struct gpumem_source src = {.query = gpu_meminfo, .ctx = p->gpu};
	rc = gpumem_new(&p->mem, &mc, &src);
	if (rc) {
		log_error("--gpu-memory-budget: a size in bytes, or 1%% to 100%%");
		return place__fail_open(p, rc);
	}
	snprintf(p->mode, sizeof p->mode, "%s", gpumem_mode(p->mem));
	log_info("--gpu: device %d, %llu MiB scratch, %llu MiB held besides the index, "
		 "on pressure: %s",
		 c->device, (unsigned long long)(c->temp_bytes >> 20),
		 (unsigned long long)(mc.fixed_bytes >> 20),
		 c->policy == GPUMEM_POLICY_CPU ? "cpu" : "refuse");
	*out = p;
	return 0;
}

int place_check_index(place *p, const char *factory, uint32_t dim, uint32_t metric)
{
	if (!p || !p->gpu)
		return 0;
	vindex *v;
	int rc = vindex_new(&v, factory, dim, metric);
	if (rc)
		return rc;
	if (vindex_to_gpu(v, p->gpu) != 0) {
		log_error("--gpu: FAISS cannot put a %s index on the GPU", factory);
		rc = ROOST_EUNSUPPORTED;
	} else if (vindex_warm_up(v) != 0) {
		log_error("--gpu: a %s index on the GPU failed its warm-up", factory);
		rc = ROOST_EFAISS;
	}
	vindex_free(v);
	return rc;
}

void place_close(place *p)
{
	if (!p)
		return;
	gpumem_free(p->mem);
	gpu_close(p->gpu);
	free(p->resident);
	free(p);
}

void place_segment(place *p, vindex *v)
{
	if (v && (!p || !p->gpu))
		vindex_keep_rows_only(v);
	if (!p || !p->gpu || !v)
		return;
	struct gpumem_model m;
	vindex_gpu_model(v, &m);
	int on_gpu;
	place__others(p, v);
	gpumem_place_segment(p->mem, &m, vindex_count(v), &on_gpu);
	if (on_gpu && vindex_to_gpu(v, p->gpu) != 0) {
		enum gpumem_place where;
		gpumem_add_failed(p->mem, &where);
	}
	place__track(p, v);
	place__note(p);
}

/* Off the GPU: a copy when the GPU index is sound, else a rebuild from the
 * segment's vectors. */
static int place__to_cpu(vindex *v, const float *base)
{
	uint64_t n = vindex_count(v);
	if (!vindex_on_gpu(v) || vindex_to_cpu(v) == 0)
		return 0;
	return vindex_rebuild_on_cpu(v, n, base);
}

/* Puts v where the growth by n may happen. ROOST_EBUSY: refused. */
static int place__prepare(place *p, vindex *v, uint64_t n, enum place_refusal refusal,
			  const float *base)
{
	struct gpumem_model m;
	vindex_gpu_model(v, &m);
	enum gpumem_place where;
	place__others(p, v);
	gpumem_place_add(p->mem, &m, vindex_count(v), n, vindex_on_gpu(v), &where);
	if (where == GPUMEM_ON_GPU && vindex_to_gpu(v, p->gpu) != 0)
		gpumem_add_failed(p->mem, &where);
	place__note(p);
	if (where == GPUMEM_REFUSED && refusal == PLACE_MAY_REFUSE) {
		place__track(p, v);
		return ROOST_EBUSY;
	}
	int rc = where == GPUMEM_ON_GPU ? 0 : place__to_cpu(v, base);
	place__track(p, v);
	return rc;
}

/* FAISS threw inside a GPU operation on v, which held `had` vectors: the
 * GPU index is dropped and rebuilt on the CPU. ROOST_EBUSY: refused. */
static int place__failed(place *p, vindex *v, uint64_t had, const float *base,
			 enum place_refusal refusal)
{
	enum gpumem_place where;
	gpumem_add_failed(p->mem, &where);
	place__note(p);
	int rc = vindex_rebuild_on_cpu(v, had, base);
	place__track(p, v);
	if (rc == 0 && where == GPUMEM_REFUSED && refusal == PLACE_MAY_REFUSE)
		rc = ROOST_EBUSY;
	return rc;
}

int place_train(place *p, vindex *v, uint64_t n, const float *x)
{
	if (!p || !p->gpu)
		return vindex_train(v, n, x);
	int rc = place__prepare(p, v, n, 0, x);
	if (rc == 0)
		rc = vindex_train(v, n, x);
	if (rc == 0 || !vindex_on_gpu(v))
		return rc;
	rc = place__failed(p, v, 0, x, PLACE_MUST_ADD);
	return rc ? rc : vindex_train(v, n, x);
}

int place_add(place *p, vindex *v, const float *base, const float *x, uint64_t n,
	      enum place_refusal refusal)
{
	if (!p || !p->gpu || n == 0)
		return vindex_add(v, n, x);
	uint64_t had = vindex_count(v);
	int rc = place__prepare(p, v, n, refusal, base);
	if (rc == 0)
		rc = vindex_add(v, n, x);
	if (rc == 0 || rc == ROOST_EBUSY || !vindex_on_gpu(v))
		return rc;
	rc = place__failed(p, v, had, base, refusal);
	return rc ? rc : vindex_add(v, n, x);
}

const char *place_mode(const place *p)
{
	return p ? p->mode : "cpu";
}
