#include "fair.h"

#include "err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define FAIR__PROBE 16 /* slots looked at for an agent, from its hash on */

struct fair__slot {
	int64_t agent;
	double tokens; /* may be negative: a batch bigger than the burst */
	int64_t last_ms;
	uint64_t stamp; /* the admit that last used it; 0: empty */
};

struct fair {
	struct fair_config cfg;
	pthread_mutex_t lock; /* the slots and stamp */
	uint64_t stamp;
	_Atomic uint64_t refused;
	struct fair__slot *slots; /* FAIR_AGENTS; NULL without a rate */
};

int fair_new(fair **out, const struct fair_config *cfg)
{
	if (!cfg->rate && cfg->burst)
		return ROOST_EINVAL;
	fair *f = calloc(1, sizeof *f);
	if (!f)
		return ROOST_ENOMEM;
	f->cfg = *cfg;
	if (cfg->rate && !cfg->burst)
		f->cfg.burst = cfg->rate;
	if (cfg->rate && !(f->slots = calloc(FAIR_AGENTS, sizeof *f->slots))) {
		free(f);
		return ROOST_ENOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;
}

void fair_free(fair *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	free(f->slots);
	free(f);
}

static uint32_t fair__hash(int64_t agent)
{
	uint64_t x = (uint64_t)agent * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(x >> 40);
}

static void fair__refill(const fair *f, struct fair__slot *s, int64_t now_ms)
{
	if (now_ms > s->last_ms) {
		s->tokens += (double)(now_ms - s->last_ms) * f->cfg.rate / 1000.0;
		s->last_ms = now_ms;
	}
	if (s->tokens > f->cfg.burst)
		s->tokens = f->cfg.burst;
}

/* The agent's slot, refilled to now_ms; a new agent takes an empty slot,
 * else one whose bucket is full again, else the fullest, among those no
 * other charge of this admit holds. NULL when every probed slot is. */
static struct fair__slot *fair__slot(fair *f, int64_t agent, int64_t now_ms)
{
	struct fair__slot *take = NULL;
	uint32_t h = fair__hash(agent);
	for (uint32_t i = 0; i < FAIR__PROBE; i++) {
		struct fair__slot *s = &f->slots[(h + i) & (FAIR_AGENTS - 1)];
		if (s->stamp && s->agent == agent) {
			fair__refill(f, s, now_ms);
			s->stamp = f->stamp;
			return s;
		}
		if (s->stamp == f->stamp)
			continue;
		if (s->stamp)
			fair__refill(f, s, now_ms);
		if (!take || !s->stamp || (take->stamp && s->tokens > take->tokens))
			take = s;
	}
	if (take)
		*take = (struct fair__slot){
		    .agent = agent, .tokens = f->cfg.burst, .last_ms = now_ms, .stamp = f->stamp};
	return take;
}

/* Milliseconds until s holds need documents. */
static uint32_t fair__wait_ms(const fair *f, const struct fair__slot *s, double need)
{
	double ms = (need - s->tokens) * 1000.0 / f->cfg.rate;
	if (ms >= UINT32_MAX)
		return UINT32_MAX;
	uint32_t whole = (uint32_t)ms;
	return whole < ms || whole == 0 ? whole + 1 : whole; /* rounded up, at least 1 */
}

int fair_admit(fair *f, const struct fair_charge *c, size_t n, int64_t now_ms,
	       struct fair_refusal *why)
{
	if (!f->cfg.rate)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&f->lock);
	f->stamp++;
	*why = (struct fair_refusal){0};
	for (size_t i = 0; i < n; i++) {
		double need = c[i].docs < f->cfg.burst ? c[i].docs : f->cfg.burst;
		struct fair__slot *s = fair__slot(f, c[i].agent, now_ms);
		/* No slot: every probed one holds another agent of this batch,
		 * more than the table tells apart here. It pays nothing. */
		if (!s || s->tokens >= need)
			continue;
		uint32_t wait = fair__wait_ms(f, s, need);
		if (wait > why->retry_ms)
			*why = (struct fair_refusal){.agent = c[i].agent, .retry_ms = wait};
		rc = ROOST_EBUSY;
	}
	/* The same admit finds the same slots again. */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct fair__slot *s = fair__slot(f, c[i].agent, now_ms);
		if (s)
			s->tokens -= c[i].docs;
	}
	pthread_mutex_unlock(&f->lock);
	if (rc)
		/* Relaxed: a count for status, ordered with nothing. */
		atomic_fetch_add_explicit(&f->refused, 1, memory_order_relaxed);
	return rc;
}

static int fair__cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

size_t fair_charges(int64_t *agents, size_t n, struct fair_charge *out)
{
	qsort(agents, n, sizeof *agents, fair__cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && out[k - 1].agent == agents[i])
			out[k - 1].docs++;
		else
			out[k++] = (struct fair_charge){.agent = agents[i], .docs = 1};
	}
	return k;
}

uint32_t fair_rate(const fair *f)
{
	return f->cfg.rate;
}

uint64_t fair_refused(const fair *f)
{
	/* Relaxed: pairs with the relaxed increment; a count for status. */
	return atomic_load_explicit(&f->refused, memory_order_relaxed);
}
