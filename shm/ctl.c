#include "ctl.h"

#include "err.h"
#include "futex.h"
#include "shm.h"
#include "seqlock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Layout (CTL__VERSION 3): struct ctl__header, then `clients` slots of
 * struct ctl_client (128 bytes each; CTL_CLIENTS_DEFAULT unless the writer
 * that made the block was told otherwise; fixed while the block exists).
 * The writer holds an OFD lock on byte CTL__WRITER_LOCK of the object for
 * its lifetime: that is how "writer alive" is known and how a second
 * writer is refused.
 *
 * Memory ordering of the shared fields, each with its partner:
 * - ready: release store by the creator once the header is filled in
 *   (ctl_open_writer); acquire load by ctl_open. clients is plain: written
 *   before `ready`, never after.
 * - ring_capacity: the writer sets it before it releases anything a broker
 *   waits for; relaxed both ways (status only).
 * - mark[]: release CAS in ctl_advance; acquire load in ctl_mark and
 *   ctl_wait. lsn_seq: seq_cst bump in ctl_wake after the marks, against
 *   ctl_wait's seq_cst load before it checks the mark (futex handshake).
 * - writer_pid, documents: relaxed; figures for status, ordering nothing.
 * - writer_mode: a seqlock on writer_mode_seq (shm/seqlock.h documents
 *   its ordering); written by ctl_set_writer_mode, read by ctl_writer_mode.
 * - tail_serial: only the writer (one at a time, under its lock) takes
 *   serials; relaxed.
 * - client slots: client_id is claimed by CAS (ctl__take) and found by
 *   acquire loads (ctl__find); last_used_ms is relaxed (eviction age).
 *   seq, lsn, count, state and prev_* are plain, read and written only
 *   under the slot's robust mutex. applied_seq: release store by the writer
 *   (ctl_client_applied) before it releases the record from the ring;
 *   acquire load by a broker settling a PENDING key after it saw the record
 *   gone from the ring. refusal: a seqlock on refused_seq (shm/seqlock.h),
 *   written by the writer in ctl_client_refused before it raises the
 *   durable mark; read by a broker after its acquire of that mark
 *   (ctl_client_refusal). */
#define CTL__MAGIC	 0x4c5443545354524full /* "ORTSTCTL" little-endian */
#define CTL__VERSION	 3u
#define CTL__PROBE	 64u /* slots searched for a client id */
#define CTL__MODE_WORDS	 8u  /* writer_mode: 64 bytes */
#define CTL__WRITER_LOCK 0

/* What a client slot's refusal seqlock guards, as plain data. */
struct ctl__refusal {
	uint64_t lsn;
	int64_t code;
};
#define CTL__REFUSAL_WORDS (sizeof(struct ctl__refusal) / 8)

/* Where an idempotency key stands. */
enum ctl__key_state {
	CTL__KEY_NONE = 0,
	CTL__KEY_PENDING = 1, /* a broker is writing its batch into the ring */
	CTL__KEY_DONE = 2,    /* the batch is committed in the ring (or later) */
};

struct ctl_client {
	pthread_mutex_t lock;	      /* 40 bytes on x86-64 glibc */
	_Atomic uint64_t client_id;   /* 0: free */
	_Atomic int64_t last_used_ms; /* CLOCK_MONOTONIC; eviction age */
	_Atomic uint64_t applied_seq; /* newest seq the writer logged */
	uint64_t seq;		      /* newest key accepted */
	uint64_t lsn;		      /* its batch */
	uint32_t count;
	uint32_t state;	   /* enum ctl__key_state */
	uint64_t prev_seq; /* restored when a PENDING batch died */
	uint64_t prev_lsn;
	uint32_t prev_count;
	_Atomic uint32_t refused_seq;
	/* The last record of this client the writer did not apply, and why:
	 * its key was already in the log (a slot forgotten and reused, the
	 * batch sent again), its collection is gone, ... As words under
	 * refused_seq: struct ctl__refusal. A slot taken over keeps it: LSNs
	 * are never reused, so it matches no record of the new client. */
	_Atomic uint64_t refusal[CTL__REFUSAL_WORDS];
};

struct ctl__header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size; /* sizeof(struct ctl__header) */
	uint64_t total_size;
	_Atomic uint32_t ready;
	uint32_t clients;
	_Atomic uint64_t ring_capacity;
	_Atomic int32_t writer_pid; /* liveness is the lock; this names it */
	_Atomic uint32_t lsn_seq;   /* futex word */
	_Atomic uint64_t mark[CTL_MARKS];
	_Atomic uint64_t documents;
	/* "cpu", "gpu", "cpu (fallback: ...)": a string in words (seqlock.h) */
	_Atomic uint64_t writer_mode[CTL__MODE_WORDS];
	_Atomic uint32_t writer_mode_seq;
	uint32_t pad;
	_Atomic uint64_t tail_serial;
};

_Static_assert(sizeof(struct ctl_client) == 128, "client slot layout is 128 bytes");

struct ctl {
	struct shm_map map;
	struct ctl__header *hdr;
	struct ctl_client *clients;
	uint32_t nclients; /* checked at open; the block's own field can be changed by others */
};

static size_t ctl__size(uint32_t clients)
{
	return sizeof(struct ctl__header) + (size_t)clients * sizeof(struct ctl_client);
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
	c->clients = (struct ctl_client *)((char *)m->addr + sizeof(struct ctl__header));
	c->nclients = c->hdr->clients;
	*out = c;
	return 0;
}

static int ctl__layout_ok(const struct shm_map *m)
{
	const struct ctl__header *h = m->addr;
	if (m->size < sizeof *h)
		return 0;
	uint32_t clients = h->clients;
	return h->magic == CTL__MAGIC && h->version == CTL__VERSION &&
	       h->header_size == sizeof(struct ctl__header) && clients >= CTL_CLIENTS_MIN &&
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
	struct ctl__header *h = m->addr;
	h->magic = CTL__MAGIC;
	h->version = CTL__VERSION;
	h->header_size = sizeof *h;
	h->total_size = m->size;
	h->clients = clients;
	atomic_store_explicit(&h->ring_capacity, cfg->ring_capacity, memory_order_relaxed);
	struct ctl_client *cl = (struct ctl_client *)((char *)m->addr + sizeof *h);
	for (uint32_t i = 0; i < clients && rc == 0; i++)
		rc = ctl__init_mutex(&cl[i].lock);
	return rc;
}

int ctl_open_writer(ctl **out, const char *path, const struct ctl_config *cfg, int *created)
{
	struct shm_map m;
	*created = 0;
	int rc = shm_attach(&m, path, SHM_READ_WRITE);
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
	rc = shm_lock_byte(m.fd, CTL__WRITER_LOCK);
	if (rc) {
		if (*created)
			shm_remove(path);
		shm_detach(&m);
		return rc;
	}
	struct ctl__header *h = m.addr;
	/* Pairs with the acquire load in ctl_open: the fields above are set. */
	atomic_store_explicit(&h->writer_pid, (int32_t)getpid(), memory_order_relaxed);
	atomic_store_explicit(&h->ready, 1, memory_order_release);
	return ctl__wrap(out, &m);
}

int ctl_open(ctl **out, const char *path, enum ctl_access access)
{
	struct shm_map m;
	int rc = shm_attach(&m, path, access == CTL_READ_ONLY ? SHM_READ_ONLY : SHM_READ_WRITE);
	if (rc)
		return rc;
	struct ctl__header *h = m.addr;
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
	return shm_lock_byte(c->map.fd, CTL__WRITER_LOCK);
}

void ctl_settings(ctl *c, struct ctl_settings *out)
{
	const struct ctl__header *h = c->hdr;
	*out = (struct ctl_settings){.clients = h->clients};
	/* Relaxed: a figure for status. */
	out->ring_capacity = atomic_load_explicit(&h->ring_capacity, memory_order_relaxed);
}

void ctl_set_ring_capacity(ctl *c, uint64_t capacity)
{
	/* Relaxed: a figure for status. */
	atomic_store_explicit(&c->hdr->ring_capacity, capacity, memory_order_relaxed);
}

pid_t ctl_writer_pid(ctl *c)
{
	/* Relaxed: the pid only names the writer; the lock says it lives. */
	return ctl_writer_alive(c)
		   ? (pid_t)atomic_load_explicit(&c->hdr->writer_pid, memory_order_relaxed)
		   : 0;
}

void ctl_count_documents(ctl *c, uint64_t added)
{
	/* Relaxed: a figure for status. */
	atomic_fetch_add_explicit(&c->hdr->documents, added, memory_order_relaxed);
}

void ctl_set_documents(ctl *c, uint64_t documents)
{
	atomic_store_explicit(&c->hdr->documents, documents, memory_order_relaxed);
}

uint64_t ctl_documents(ctl *c)
{
	return atomic_load_explicit(&c->hdr->documents, memory_order_relaxed);
}

uint64_t ctl_new_tail_serial(ctl *c)
{
	/* Relaxed: only the writer takes serials; see the layout comment. */
	return atomic_fetch_add_explicit(&c->hdr->tail_serial, 1, memory_order_relaxed) + 1;
}

int ctl_writer_alive(ctl *c)
{
	return shm_byte_locked(c->map.fd, CTL__WRITER_LOCK);
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
	char words[8 * CTL__MODE_WORDS] = "";
	strncpy(words, mode, sizeof words - 1);
	seqlock_write_begin(&c->hdr->writer_mode_seq);
	seqlock_store(c->hdr->writer_mode, words, CTL__MODE_WORDS);
	seqlock_write_end(&c->hdr->writer_mode_seq);
}

void ctl_writer_mode(ctl *c, char *buf, size_t len)
{
	char words[8 * CTL__MODE_WORDS];
	if (seqlock_read(&c->hdr->writer_mode_seq, c->hdr->writer_mode, words, CTL__MODE_WORDS)) {
		snprintf(buf, len, "unknown");
		return;
	}
	words[sizeof words - 1] = '\0';
	snprintf(buf, len, "%s", words);
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
	cl->state = CTL__KEY_NONE;
	atomic_store_explicit(&cl->applied_seq, 0, memory_order_relaxed);
	*owner_died = 0;
	return 0;
}

static struct ctl_client *ctl__find(ctl *c, uint64_t client_id)
{
	uint64_t h = ctl__hash(client_id);
	for (uint32_t i = 0; i < CTL__PROBE; i++) {
		struct ctl_client *cl = &c->clients[(h + i) % c->nclients];
		/* Pairs with the CAS in ctl__take. */
		if (atomic_load_explicit(&cl->client_id, memory_order_acquire) == client_id)
			return cl;
	}
	return NULL;
}

/* Finds or takes client_id's slot and locks it; *owner_died when the last
 * holder died inside its critical section. */
static int ctl__slot_lock(ctl *c, uint64_t client_id, struct ctl_client **out, int *owner_died)
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
		for (uint32_t i = 0; i < CTL__PROBE; i++) {
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

/* A PENDING key whose broker died: kept when its batch reached the ring
 * (and, once consumed, was applied), else the previous key comes back.
 * Returns 1 when the key was forgotten. */
static int ctl__settle(struct ctl_client *cl, ctl_fate_fn fate, void *arg)
{
	if (cl->state != CTL__KEY_PENDING)
		return 0;
	enum ctl_fate f = fate(arg, cl->lsn);
	/* Acquire pairs with the writer's release in ctl_client_applied,
	 * which happens before it releases the record from the ring. */
	int committed = f == CTL_FATE_IN_RING ||
			(f == CTL_FATE_CONSUMED &&
			 atomic_load_explicit(&cl->applied_seq, memory_order_acquire) >= cl->seq);
	if (committed) {
		cl->state = CTL__KEY_DONE;
		return 0;
	}
	cl->seq = cl->prev_seq;
	cl->lsn = cl->prev_lsn;
	cl->count = cl->prev_count;
	cl->state = cl->seq ? CTL__KEY_DONE : CTL__KEY_NONE;
	return 1;
}

int ctl_key_lock(ctl *c, uint64_t client_id, ctl_fate_fn fate, void *arg, ctl_client **out,
		 struct ctl_key *key, int *forgot)
{
	struct ctl_client *cl;
	int died;
	*forgot = 0;
	int rc = ctl__slot_lock(c, client_id, &cl, &died);
	if (rc)
		return rc;
	if (died)
		*forgot = ctl__settle(cl, fate, arg);
	*key = cl->state == CTL__KEY_DONE
		   ? (struct ctl_key){.seq = cl->seq, .lsn = cl->lsn, .count = cl->count}
		   : (struct ctl_key){0};
	*out = cl;
	return 0;
}

void ctl_key_begin(ctl_client *cl, const struct ctl_key *key)
{
	cl->prev_seq = cl->seq;
	cl->prev_lsn = cl->lsn;
	cl->prev_count = cl->count;
	cl->seq = key->seq;
	cl->lsn = key->lsn;
	cl->count = key->count;
	cl->state = CTL__KEY_PENDING;
}

void ctl_key_commit(ctl_client *cl)
{
	cl->state = CTL__KEY_DONE;
}

void ctl_key_unlock(ctl_client *cl)
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

void ctl_client_refused(ctl *c, uint64_t client_id, uint64_t lsn, int code)
{
	struct ctl_client *cl = ctl__find(c, client_id);
	if (!cl)
		return;
	/* ctl_client_refusal reads it after its acquire of the durable mark,
	 * which the writer raises after this. */
	struct ctl__refusal r = {.lsn = lsn, .code = code};
	seqlock_write_begin(&cl->refused_seq);
	seqlock_store(cl->refusal, &r, CTL__REFUSAL_WORDS);
	seqlock_write_end(&cl->refused_seq);
}

int ctl_client_refusal(ctl *c, uint64_t client_id, uint64_t lsn)
{
	struct ctl_client *cl = ctl__find(c, client_id);
	struct ctl__refusal r;
	if (!cl || seqlock_read(&cl->refused_seq, cl->refusal, &r, CTL__REFUSAL_WORDS) != 0)
		return 0;
	return r.lsn == lsn ? (int)r.code : 0;
}

void ctl_client_seed(ctl *c, uint64_t client_id, const struct ctl_key *key)
{
	struct ctl_client *cl;
	int died;
	if (ctl__slot_lock(c, client_id, &cl, &died) != 0)
		return; /* table full: that client just loses retry memory */
	if (key->seq >= cl->seq) {
		cl->seq = key->seq;
		cl->lsn = key->lsn;
		cl->count = key->count;
		cl->state = CTL__KEY_DONE;
		/* Release: as in ctl_client_applied. */
		atomic_store_explicit(&cl->applied_seq, key->seq, memory_order_release);
	}
	pthread_mutex_unlock(&cl->lock);
}
