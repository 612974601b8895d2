#include "gpumem.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>

#define GPUMEM_MIB (1024ull * 1024ull)

enum gpumem_state { GPUMEM_GPU, GPUMEM_FALLBACK, GPUMEM_REFUSING };

/* Why the GPU could not take a growth. */
enum gpumem_reason {
	GPUMEM_FITS,
	GPUMEM_OVER_BUDGET,
	GPUMEM_SHORT,	/* within budget, but others hold the memory */
	GPUMEM_ALLOC,	/* FAISS failed to allocate although it looked fine */
	GPUMEM_UNKNOWN, /* the device could not report its memory */
};

struct gpumem {
	struct gpumem_config cfg;
	struct gpumem_source src;
	enum gpumem_state state;
	enum gpumem_reason reason;
	uint64_t others; /* bytes the writer's other GPU indexes hold */
	uint64_t last_free;
	char mode[64];
	char detail[320];
};

/* Saturating: an absurd projection must read as "does not fit", not wrap. */
static uint64_t gpumem__mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t gpumem__add(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static unsigned long long gpumem__mib(uint64_t bytes)
{
	return (unsigned long long)(bytes / GPUMEM_MIB);
}

/* The budget as the operator wrote it, for the mode text. */
static void gpumem__budget_text(const gpumem *g, char *buf, size_t len)
{
	if (g->cfg.budget_bytes)
		snprintf(buf, len, "%llu MiB", gpumem__mib(g->cfg.budget_bytes));
	else
		snprintf(buf, len, "%u%%", g->cfg.budget_percent);
}

static void gpumem__set_mode(gpumem *g)
{
	char what[48];
	char budget[24];
	gpumem__budget_text(g, budget, sizeof budget);
	switch (g->reason) {
	case GPUMEM_OVER_BUDGET:
		snprintf(what, sizeof what, "budget %s exceeded", budget);
		break;
	case GPUMEM_SHORT:
		snprintf(what, sizeof what, "memory short, %llu MiB free",
			 gpumem__mib(g->last_free));
		break;
	case GPUMEM_ALLOC:
		snprintf(what, sizeof what, "allocation failed");
		break;
	case GPUMEM_UNKNOWN:
		snprintf(what, sizeof what, "memory unknown");
		break;
	case GPUMEM_FITS:
		what[0] = 0;
		break;
	}
	if (g->state == GPUMEM_GPU)
		snprintf(g->mode, sizeof g->mode, "gpu");
	else if (g->state == GPUMEM_FALLBACK)
		snprintf(g->mode, sizeof g->mode, "cpu (fallback: GPU %s)", what);
	else if (g->reason == GPUMEM_OVER_BUDGET)
		snprintf(g->mode, sizeof g->mode, "refusing: GPU memory %s", what);
	else
		snprintf(g->mode, sizeof g->mode, "refusing: GPU %s", what);
}

/* What the model does not see: on an H100 the writer's real peak ran about
 * 10 MiB (1%) over the projection, from allocations FAISS and cuBLAS make
 * outside the scratch area. The budget keeps this much in reserve. */
static uint64_t gpumem__slack(uint64_t budget)
{
	uint64_t pct = budget / 32;
	return pct > (64ull << 20) ? pct : 64ull << 20;
}

/* Projects the writer's device memory at the peak of the growth from n_now
 * to n_now + n_add vectors and compares it with the budget and with what
 * the device has free. Memory the index already holds (on_gpu) is in use,
 * not needed again. */
static enum gpumem_reason gpumem__check(gpumem *g, const struct gpumem_model *m, uint64_t n_now,
					uint64_t n_add, int on_gpu)
{
	uint64_t held_now = gpumem__add(m->index_bytes, gpumem__mul(n_now, m->vector_bytes));
	uint64_t resident = on_gpu ? held_now : 0;
	uint64_t after = gpumem__add(held_now, gpumem__mul(n_add, m->vector_bytes));
	uint64_t transient = gpumem__mul(n_add, m->transient_bytes);
	if (on_gpu && m->regrows)
		transient = gpumem__add(transient, gpumem__mul(n_now, m->vector_bytes));
	uint64_t peak_index = gpumem__add(after, transient);
	uint64_t need = peak_index - resident;
	uint64_t peak = gpumem__add(gpumem__add(g->cfg.fixed_bytes, g->others), peak_index);

	struct gpumem_info info;
	if (g->src.query(g->src.ctx, &info) != 0) {
		snprintf(g->detail, sizeof g->detail,
			 "the GPU did not report its free memory; cannot check %llu more vectors",
			 (unsigned long long)n_add);
		return GPUMEM_UNKNOWN;
	}
	g->last_free = info.free_bytes;
	uint64_t budget = g->cfg.budget_bytes
			      ? g->cfg.budget_bytes
			      : gpumem__mul(info.total_bytes / 100, g->cfg.budget_percent);
	snprintf(g->detail, sizeof g->detail,
		 "%llu + %llu vectors: the writer would hold %llu MiB of GPU memory at the peak "
		 "(%llu MiB in its other indexes; budget %llu MiB) and needs %llu MiB more; %llu "
		 "of %llu MiB free, %llu MiB to be left to others",
		 (unsigned long long)n_now, (unsigned long long)n_add, gpumem__mib(peak),
		 gpumem__mib(g->others), gpumem__mib(budget), gpumem__mib(need),
		 gpumem__mib(info.free_bytes), gpumem__mib(info.total_bytes),
		 gpumem__mib(g->cfg.headroom_bytes));
	if (gpumem__add(peak, gpumem__slack(budget)) > budget)
		return GPUMEM_OVER_BUDGET;
	if (gpumem__add(need, g->cfg.headroom_bytes) > info.free_bytes)
		return GPUMEM_SHORT;
	return GPUMEM_FITS;
}

/* The GPU cannot take it: the policy says where the writer goes. */
static enum gpumem_place gpumem__pressure(gpumem *g, enum gpumem_reason why)
{
	g->reason = why;
	g->state = g->cfg.policy == GPUMEM_POLICY_CPU ? GPUMEM_FALLBACK : GPUMEM_REFUSING;
	gpumem__set_mode(g);
	return g->state == GPUMEM_FALLBACK ? GPUMEM_ON_CPU : GPUMEM_REFUSED;
}

static void gpumem__fits(gpumem *g)
{
	g->state = GPUMEM_GPU;
	g->reason = GPUMEM_FITS;
	gpumem__set_mode(g);
}

int gpumem_new(gpumem **out, const struct gpumem_config *cfg, const struct gpumem_source *src)
{
	if (!cfg->budget_bytes && (cfg->budget_percent < 1 || cfg->budget_percent > 100))
		return ROOST_EINVAL;
	gpumem *g = calloc(1, sizeof *g);
	if (!g)
		return ROOST_ENOMEM;
	g->cfg = *cfg;
	g->src = *src;
	gpumem__fits(g);
	*out = g;
	return 0;
}

void gpumem_free(gpumem *g)
{
	free(g);
}

void gpumem_set_others(gpumem *g, uint64_t bytes)
{
	g->others = bytes;
}

void gpumem_place_add(gpumem *g, const struct gpumem_model *m, uint64_t n_now, uint64_t n_add,
		      int on_gpu, enum gpumem_place *out)
{
	if (g->state == GPUMEM_FALLBACK) {
		*out = GPUMEM_ON_CPU;
		return;
	}
	enum gpumem_reason why = gpumem__check(g, m, n_now, n_add, on_gpu);
	if (why != GPUMEM_FITS) {
		*out = gpumem__pressure(g, why);
		return;
	}
	gpumem__fits(g);
	*out = GPUMEM_ON_GPU;
}

void gpumem_add_failed(gpumem *g, enum gpumem_place *out)
{
	snprintf(g->detail, sizeof g->detail,
		 "FAISS could not allocate GPU memory although the check passed: another "
		 "process took it");
	*out = gpumem__pressure(g, GPUMEM_ALLOC);
}

void gpumem_place_segment(gpumem *g, const struct gpumem_model *m, uint64_t n_now, int *on_gpu)
{
	uint64_t n_add = 0;
	if (g->state == GPUMEM_FALLBACK && g->cfg.segment_vectors > n_now)
		n_add = g->cfg.segment_vectors - n_now;
	enum gpumem_reason why = gpumem__check(g, m, n_now, n_add, 0);
	if (why == GPUMEM_FITS) {
		gpumem__fits(g);
		*on_gpu = 1;
		return;
	}
	gpumem__pressure(g, why);
	*on_gpu = 0;
}

const char *gpumem_mode(const gpumem *g)
{
	return g->mode;
}

const char *gpumem_detail(const gpumem *g)
{
	return g->detail;
}
