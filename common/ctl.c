#include "ctl.h"

#include "err.h"
#include "futex.h"
#include "shm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct ctl_client) == 128, "client slot layout is 128 bytes");

struct ctl {
	struct shm_map map;
	struct ctl_shm *hdr;
	struct ctl_client *clients;
	uint32_t nclients; /* checked at open; the block's own field can be changed by others */
};

static size_t ctl__size(uint32_t clients)
{
	return sizeof(struct ctl_shm) + (size_t)clients * sizeof(struct ctl_client);
}

static int ctl__wrap(ctl **out, struct shm_map *m)
{
	ctl *c = calloc(1, sizeof *c);
	if (!c) {
		shm_detach(m);
		return ROOST_ENOMEM;
	}
	c->map = *m;
	c->hdr = m->addr;
	c->clients = (struct ctl_client *)((char *)m->addr + sizeof(struct ctl_shm));
	c->nclients = c->hdr->clients;
	*out = c;
	return 0;
}

static int ctl__layout_ok(const struct shm_map *m)
{
	const struct ctl_shm *h = m->addr;
	if (m->size < sizeof *h)
		return 0;
	uint32_t clients = h->clients;
	return h->magic == CTL_MAGIC && h->version == CTL_VERSION &&
	       h->header_size == sizeof(struct ctl_shm) && clients >= CTL_CLIENTS_MIN &&
	       clients <= CTL_CLIENTS_MAX && m->size == ctl__size(clients) &&
	       h->total_size == m->size;
}

static int ctl__init_mutex(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	int rc = pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
	return rc ? ROOST_EIO : 0;
}

static int ctl__create(struct shm_map *m, const char *name, const struct ctl_config *cfg)
{
	uint32_t clients = cfg->clients ? cfg->clients : CTL_CLIENTS_DEFAULT;
	if (clients < CTL_CLIENTS_MIN || clients > CTL_CLIENTS_MAX)
		return ROOST_EINVAL;
	int rc = shm_create(m, name, ctl__size(clients), ctl__size(clients), cfg->mode);
	if (rc)
		return rc;
	struct ctl_shm *h = m->addr;
	h->magic = CTL_MAGIC;
	h->version = CTL_VERSION;
	h->header_size = sizeof *h;
	h->total_size = m->size;
	h->dim = cfg->dim;
	h->metric = cfg->metric;
	h->clients = clients;
	strncpy(h->index, cfg->index, sizeof h->index - 1);
	h->ring_capacity = cfg->ring_capacity;
	struct ctl_client *cl = (struct ctl_client *)((char *)m->addr + sizeof *h);
	for (uint32_t i = 0; i < clients && rc == 0; i++)
		rc = ctl__init_mutex(&cl[i].lock);
	return rc;
}

int ctl_open_writer(ctl **out, const char *path, const struct ctl_config *cfg, int *created)
{
	struct shm_map m;
	*created = 0;
	int rc = shm_attach(&m, path, 0);
	if (rc == 0 && !ctl__layout_ok(&m)) {
		/* Left by another layout version: nothing in it can be trusted,
		 * and the log rebuilds what matters. */
		shm_detach(&m);
		shm_remove(path);
		rc = ROOST_ENOENT;
	}
	if (rc == ROOST_ENOENT) {
		rc = ctl__create(&m, path, cfg);
		*created = rc == 0;
	}
	if (rc)
		return rc;
	rc = shm_lock_byte(m.fd, CTL_WRITER_LOCK);
	if (rc == 0 && ((struct ctl_shm *)m.addr)->dim != cfg->dim)
		rc = ROOST_EDIM;
	if (rc) {
		if (*created)
			shm_remove(path);
		shm_detach(&m);
		return rc;
	}
	struct ctl_shm *h = m.addr;
	/* Pairs with the acquire load in ctl_open: the fields above are set. */
	atomic_store_explicit(&h->writer_pid, (int32_t)getpid(), memory_order_relaxed);
	atomic_store_explicit(&h->ready, 1, memory_order_release);
	return ctl__wrap(out, &m);
}

int ctl_open(ctl **out, const char *path, int read_only)
{
	struct shm_map m;
	int rc = shm_attach(&m, path, read_only);
	if (rc)
		return rc;
	struct ctl_shm *h = m.addr;
	/* Pairs with the release store in ctl_open_writer. */
	if (m.size < sizeof *h || !atomic_load_explicit(&h->ready, memory_order_acquire)) {
		shm_detach(&m);
		return ROOST_ENOENT;
	}
	if (!ctl__layout_ok(&m)) {
		shm_detach(&m);
		return ROOST_EVERSION;
	}
	return ctl__wrap(out, &m);
}

void ctl_close(ctl *c)
{
	if (!c)
		return;
	shm_detach(&c->map);
	free(c);
}

int ctl_unlink(const char *path)
{
	return shm_remove(path);
}

int ctl_lock_writer(ctl *c)
{
	return shm_lock_byte(c->map.fd, CTL_WRITER_LOCK);
}

struct ctl_shm *ctl_shm(ctl *c)
{
	return c->hdr;
}

int ctl_writer_alive(ctl *c)
{
	return shm_byte_locked(c->map.fd, CTL_WRITER_LOCK);
}

void ctl_advance(ctl *c, enum ctl_mark mark, uint64_t end)
{
	_Atomic uint64_t *m = &c->hdr->mark[mark];
	uint64_t cur = atomic_load_explicit(m, memory_order_relaxed);
	while (cur < end &&
	       /* Release pairs with the acquire load in ctl_mark/ctl_wait. */
	       !atomic_compare_exchange_weak_explicit(m, &cur, end, memory_order_release,
						      memory_order_relaxed))
		;
}

void ctl_wake(ctl *c)
{
	/* seq_cst bump after the marks' stores, against ctl_wait's load of the
	 * sequence before it checks the mark: a waiter that read the old
	 * sequence either sees the new mark or sleeps on a stale value and
	 * is woken here. */
	atomic_fetch_add(&c->hdr->lsn_seq, 1);
	futex_wake_all(&c->hdr->lsn_seq);
}

uint64_t ctl_mark(ctl *c, enum ctl_mark mark)
{
	/* Pairs with the release CAS in ctl_advance. */
	return atomic_load_explicit(&c->hdr->mark[mark], memory_order_acquire);
}

int ctl_wait(ctl *c, enum ctl_mark mark, uint64_t lsn, int timeout_ms)
{
	int64_t deadline = futex_now_ms() + timeout_ms;
	for (;;) {
		uint32_t seq = atomic_load(&c->hdr->lsn_seq);
		if (ctl_mark(c, mark) > lsn)
			return 0;
		int64_t left = deadline - futex_now_ms();
		if (left <= 0)
			return ROOST_ETIMEDOUT;
		futex_wait(&c->hdr->lsn_seq, seq, (int)left);
	}
}

void ctl_set_writer_mode(ctl *c, const char *mode)
{
	struct ctl_shm *h = c->hdr;
	/* Seqlock: odd while writing; pairs with the loads in ctl_writer_mode. */
	atomic_fetch_add_explicit(&h->writer_mode_seq, 1, memory_order_acq_rel);
	atomic_thread_fence(memory_order_release);
	strncpy(h->writer_mode, mode, sizeof h->writer_mode - 1);
	atomic_fetch_add_explicit(&h->writer_mode_seq, 1, memory_order_release);
}

void ctl_writer_mode(ctl *c, char *buf, size_t len)
{
	struct ctl_shm *h = c->hdr;
	for (int tries = 0; tries < 100; tries++) {
		uint32_t s1 = atomic_load_explicit(&h->writer_mode_seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		char tmp[sizeof h->writer_mode];
		memcpy(tmp, h->writer_mode, sizeof tmp);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->writer_mode_seq, memory_order_relaxed) == s1) {
			tmp[sizeof tmp - 1] = '\0';
			snprintf(buf, len, "%s", tmp);
			return;
		}
	}
	snprintf(buf, len, "unknown");
}

static uint64_t ctl__hash(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static int ctl__lock(struct ctl_client *cl, int *owner_died)
{
	int rc = pthread_mutex_lock(&cl->lock);
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(&cl->lock);
		*owner_died = 1;
		return 0;
	}
	return rc ? ROOST_EIO : 0;
}

/* Takes over an idle slot for client_id: its old key can no longer be
 * retried (its TTL passed), so forgetting it is safe. */
static int ctl__take(struct ctl_client *cl, uint64_t old_id, uint64_t client_id, int *owner_died)
{
	int rc = ctl__lock(cl, owner_died);
	if (rc)
		return rc;
	int64_t age =
	    futex_now_ms() - atomic_load_explicit(&cl->last_used_ms, memory_order_relaxed);
	/* The CAS orders the takeover against other brokers probing the slot. */
	if ((old_id != 0 && age < CTL_CLIENT_TTL_MS) ||
	    !atomic_compare_exchange_strong(&cl->client_id, &old_id, client_id)) {
		pthread_mutex_unlock(&cl->lock);
		return ROOST_EBUSY;
	}
	cl->seq = cl->lsn = cl->prev_seq = cl->prev_lsn = 0;
	cl->count = cl->prev_count = 0;
	cl->state = CTL_KEY_NONE;
	atomic_store_explicit(&cl->applied_seq, 0, memory_order_relaxed);
	atomic_store_explicit(&cl->dropped_lsn, 0, memory_order_relaxed); /* under the slot lock */
	*owner_died = 0;
	return 0;
}

static struct ctl_client *ctl__find(ctl *c, uint64_t client_id)
{
	uint64_t h = ctl__hash(client_id);
	for (uint32_t i = 0; i < CTL_PROBE; i++) {
		struct ctl_client *cl = &c->clients[(h + i) % c->nclients];
		/* Pairs with the CAS in ctl__take. */
		if (atomic_load_explicit(&cl->client_id, memory_order_acquire) == client_id)
			return cl;
	}
	return NULL;
}

int ctl_client_lock(ctl *c, uint64_t client_id, struct ctl_client **out, int *owner_died)
{
	*owner_died = 0;
	if (client_id == 0)
		return ROOST_EINVAL;
	for (int attempt = 0; attempt < 4; attempt++) {
		struct ctl_client *cl = ctl__find(c, client_id);
		if (cl) {
			int rc = ctl__lock(cl, owner_died);
			if (rc)
				return rc;
			if (atomic_load(&cl->client_id) == client_id) {
				atomic_store(&cl->last_used_ms, futex_now_ms());
				*out = cl;
				return 0;
			}
			pthread_mutex_unlock(&cl->lock); /* evicted meanwhile */
			continue;
		}
		uint64_t h = ctl__hash(client_id);
		for (uint32_t i = 0; i < CTL_PROBE; i++) {
			struct ctl_client *cand = &c->clients[(h + i) % c->nclients];
			uint64_t id = atomic_load(&cand->client_id);
			if (ctl__take(cand, id, client_id, owner_died) == 0) {
				atomic_store(&cand->last_used_ms, futex_now_ms());
				*out = cand;
				return 0;
			}
		}
	}
	return ROOST_EBUSY;
}

void ctl_client_unlock(struct ctl_client *cl)
{
	pthread_mutex_unlock(&cl->lock);
}

void ctl_client_applied(ctl *c, uint64_t client_id, uint64_t seq)
{
	struct ctl_client *cl = ctl__find(c, client_id);
	/* Release pairs with the broker's acquire load when it repairs a
	 * PENDING key after reading the ring head. */
	if (cl && atomic_load_explicit(&cl->applied_seq, memory_order_relaxed) < seq)
		atomic_store_explicit(&cl->applied_seq, seq, memory_order_release);
}

void ctl_client_dropped(ctl *c, uint64_t client_id, uint64_t lsn)
{
	struct ctl_client *cl = ctl__find(c, client_id);
	/* Release pairs with the acquire load in ctl_client_was_dropped, which
	 * a broker makes after its acquire of the durable mark. */
	if (cl)
		atomic_store_explicit(&cl->dropped_lsn, lsn, memory_order_release);
}

int ctl_client_was_dropped(ctl *c, uint64_t client_id, uint64_t lsn)
{
	struct ctl_client *cl = ctl__find(c, client_id);
	/* Acquire pairs with the release store in ctl_client_dropped. */
	return cl && atomic_load_explicit(&cl->dropped_lsn, memory_order_acquire) == lsn;
}

void ctl_client_seed(ctl *c, uint64_t client_id, uint64_t seq, uint64_t lsn, uint32_t count)
{
	struct ctl_client *cl;
	int died;
	if (ctl_client_lock(c, client_id, &cl, &died) != 0)
		return; /* table full: that client just loses retry memory */
	if (seq >= cl->seq) {
		cl->seq = seq;
		cl->lsn = lsn;
		cl->count = count;
		cl->state = CTL_KEY_DONE;
		atomic_store_explicit(&cl->applied_seq, seq, memory_order_release);
	}
	ctl_client_unlock(cl);
}
